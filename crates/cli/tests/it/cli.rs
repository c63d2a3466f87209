//! The real `hostwatch` binary, driven as an operator would.

use crate::common::{free_port, hostwatch};
use hostwatch_proto::Report;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn check_config_accepts_defaults_and_names_problems() {
    let out = hostwatch().arg("check-config").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (built-in defaults)"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(&file, "[tiers]\nfast = 0\n").unwrap();
    let out = hostwatch()
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("tiers.fast"), "{err}");

    let out = hostwatch()
        .arg("check-config")
        .env("HOSTWATCH_PROMETHEUS_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOSTWATCH_PROMETHEUS_LISTEN"));
}

#[test]
fn snapshot_json_is_a_wire_report_with_rates() {
    let out = hostwatch()
        .args(["snapshot", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = Report::from_json(&out.stdout).expect("snapshot prints a wire report");
    assert_eq!(report.seq, 2, "the second of two reads a second apart");
    assert_eq!(report.tiers.len(), 3);
}

#[test]
fn snapshot_table_is_readable() {
    let out = hostwatch().arg("snapshot").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("host "), "{text}");
}

#[test]
fn snapshot_runs_each_check_once_and_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let file = dir.path().join("agent.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[[checks]]
name = "dummy"
command = ["/usr/lib/nagios/plugins/check_dummy", "2", "on fire"]

[[checks]]
name = "counted"
command = ["/bin/sh", "-c", "echo run >> {}; echo 'OK - counted|runs=1;;;0'"]
"#,
            runs.display()
        ),
    )
    .unwrap();
    let out = hostwatch()
        .args(["snapshot", "--format", "json", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = Report::from_json(&out.stdout).unwrap();
    let section = report.sections.checks.unwrap();
    let checks = &section.ok().unwrap().checks;
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0].status, "CRITICAL: on fire");
    assert_eq!(checks[1].perfdata[0].label, "runs");
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap(),
        "run\n",
        "two collections, one run"
    );

    let out = hostwatch()
        .args(["snapshot", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\nchecks\n"), "{text}");
    assert!(
        text.contains("dummy                CRITICAL CRITICAL: on fire"),
        "{text}"
    );
    assert!(text.contains("runs = 1"), "{text}");
}

#[test]
fn snapshot_shows_systemd_units_from_systemctl_on_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A host root where systemd is booted, and a fake `systemctl` first in PATH that prints
    // recorded output.
    std::fs::create_dir_all(dir.path().join("root/run/systemd/system")).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../agent/tests/fixtures/systemd"
    );
    std::fs::write(
        bin.join("systemctl"),
        format!(
            "#!/bin/sh\ncase \"$1\" in\nlist-units) cat {fixtures}/list-units-pve-node.txt ;;\n\
             show) cat {fixtures}/show-pve-node.txt ;;\nesac\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("systemctl"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(
        &file,
        format!(
            "[agent]\nroot_dir = \"{}\"\n[systemd]\nunits = [\"cloudflared.service\", \"missing.service\", \"nginx*.service\"]\n",
            dir.path().join("root").display()
        ),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = hostwatch()
        .args(["snapshot", "--format", "json", "--config"])
        .arg(&file)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = Report::from_json(&out.stdout).unwrap();
    let section = report.sections.systemd.expect("a systemd section");
    let systemd = section.ok().expect("no error");
    assert_eq!(systemd.failed_units, 2);
    assert_eq!(systemd.units.len(), 4);
    assert_eq!(systemd.units[0].restarts, Some(4));

    let out = hostwatch()
        .args(["snapshot", "--config"])
        .arg(&file)
        .env("PATH", &path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("systemd  2 failed units"), "{text}");
    assert!(text.contains("failed: pve-guests.service"), "{text}");
    assert!(text.contains("cloudflared.service"), "{text}");
}

#[test]
fn agent_without_a_sink_refuses_to_start() {
    let out = hostwatch().arg("agent").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sink enabled"));
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn agent_streams_reports_serves_metrics_and_stops_on_sigterm() {
    let port = free_port();
    let mut child = hostwatch()
        .args(["--log-format", "json", "agent", "--stdout"])
        .env("HOSTWATCH_TIERS_FAST", "1")
        .env("HOSTWATCH_PROMETHEUS_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut reports = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reports.len() < 3 && Instant::now() < deadline {
        let line = lines.next().expect("agent keeps printing").unwrap();
        reports.push(Report::from_json(line.as_bytes()).expect("each line is a report"));
    }
    assert_eq!(
        reports.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        reports[0].tiers.len(),
        3,
        "the first report carries every tier"
    );
    assert_eq!(reports[1].tiers, vec![hostwatch_proto::Tier::Fast]);
    let ids: std::collections::HashSet<_> = reports
        .iter()
        .map(|r| r.agent.instance_id.clone())
        .collect();
    assert_eq!(ids.len(), 1, "one instance id per run");

    let metrics = http_get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("hostwatch_agent_info{"), "{metrics}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    for line in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("--log-format json writes JSON lines ({e}): {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
    assert!(stderr.contains("agent stopping"), "{stderr}");
}

#[test]
fn dump_dir_records_every_report_as_it_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    let mut child = hostwatch()
        .args(["agent", "--stdout"])
        .env("HOSTWATCH_TIERS_FAST", "1")
        .env("HOSTWATCH_DEBUG_DUMP_DIR", &dump)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let sent: Vec<Report> = (0..2)
        .map(|_| Report::from_json(lines.next().unwrap().unwrap().as_bytes()).unwrap())
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();

    let text = std::fs::read_to_string(dump.join("samples.log")).unwrap();
    let mut entries = text.split("===== ").filter(|e| !e.is_empty());
    for (i, report) in sent.iter().enumerate() {
        let entry = entries
            .next()
            .unwrap_or_else(|| panic!("entry {i} missing:\n{text}"));
        let (header, body) = entry.split_once(" =====\n").unwrap();
        let (ts, kind) = header.split_once(' ').unwrap();
        assert!(
            ts.ends_with('Z') && ts.len() == 24,
            "RFC 3339 with ms: {ts}"
        );
        let expect = if i == 0 {
            "kind=fast+medium+slow"
        } else {
            "kind=fast"
        };
        assert_eq!(kind, expect);
        let dumped = Report::from_json(body.trim_end().as_bytes()).unwrap();
        assert_eq!(&dumped, report, "the dump holds exactly what was sent");
    }
    assert!(
        std::fs::metadata(dump.join("commands.log")).unwrap().len() == 0,
        "the agent core starts no external command"
    );
}

/// A hub for the binary's tests: plain HTTP/1.1 on a loopback port, one request per
/// connection, answering the statuses queued (then 200 with an envelope), recording each request.
struct TinyHub {
    addr: std::net::SocketAddr,
    requests: std::sync::Arc<std::sync::Mutex<Vec<HubRequest>>>,
}

#[derive(Debug, Clone)]
struct HubRequest {
    path: String,
    headers: Vec<(String, String)>,
    /// The body, decoded from zstd when it came compressed.
    body: Vec<u8>,
}

impl HubRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

const HUB_TOKEN: &str = "cli-test-token-3b8d1e";

impl TinyHub {
    fn start(statuses: &[u16]) -> TinyHub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let mut statuses: std::collections::VecDeque<u16> = statuses.iter().copied().collect();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                recorded.lock().unwrap().push(request);
                let status = statuses.pop_front().unwrap_or(200);
                let body = if status == 200 {
                    r#"{"interval_seconds":1,"accepted":1,"duplicates":0}"#
                } else {
                    r#"{"error":"scripted"}"#
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TinyHub { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<HubRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<HubRequest> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let zstd = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "zstd");
    if zstd {
        body = zstd::decode_all(&body[..]).ok()?;
    }
    Some(HubRequest {
        path,
        headers,
        body,
    })
}

fn with_hub(command: &mut Command, url: &str) {
    command
        .env("HOSTWATCH_HUB_URL", url)
        .env("HOSTWATCH_HUB_TOKEN", HUB_TOKEN)
        .env("HOSTWATCH_PROCESSES_ENABLED", "false");
}

#[test]
fn selftest_hub_sends_once_and_prints_both_sides() {
    let hub = TinyHub::start(&[]);
    let mut command = hostwatch();
    with_hub(&mut command, &hub.url());
    let out = command
        .args(["agent", "--selftest", "hub"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"seq\": 1"), "{stdout}");
    assert!(stdout.contains("the hub answered:"), "{stdout}");
    assert!(stdout.contains("\"interval_seconds\": 1"), "{stdout}");
    assert!(stdout.trim_end().ends_with("hub selftest OK"), "{stdout}");
    let requests = hub.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/api/v1/reports");
    assert_eq!(requests[0].header("content-encoding"), Some("zstd"));
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {HUB_TOKEN}").as_str())
    );
    let sent = Report::from_json(&requests[0].body).unwrap();
    assert_eq!(sent.seq, 1);
    assert!(sent.sections.cpu.is_some());
}

#[test]
fn selftest_hub_fails_with_the_reason() {
    let hub = TinyHub::start(&[401]);
    let mut command = hostwatch();
    with_hub(&mut command, &hub.url());
    let out = command
        .args(["agent", "--selftest", "hub"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused this host's token (401)"),
        "{stderr}"
    );
    assert!(!stderr.contains(HUB_TOKEN), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(HUB_TOKEN));

    let out = hostwatch()
        .args(["agent", "--selftest", "hub"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[hub] url is not set"));

    // Nobody listening.
    let mut command = hostwatch();
    with_hub(&mut command, &format!("http://127.0.0.1:{}", free_port()));
    let out = command
        .args(["agent", "--selftest", "hub"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[test]
fn check_config_refuses_plain_http_to_a_remote_hub() {
    // 192.0.2.0/24 is reserved for documentation; nothing connects anywhere.
    let mut command = hostwatch();
    with_hub(&mut command, "http://192.0.2.10:8080");
    let out = command.arg("check-config").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HOSTWATCH_HUB_URL") || stderr.contains("hub.url"),
        "{stderr}"
    );
    assert!(stderr.contains("plain http is allowed only"), "{stderr}");

    let mut command = hostwatch();
    with_hub(&mut command, "http://127.0.0.1:8080");
    let out = command.arg("check-config").output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn run_passes_the_commands_status_and_output_through() {
    let out = hostwatch()
        .args([
            "run",
            "--job",
            "t",
            "--",
            "/bin/sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err\n"));

    let out = hostwatch()
        .args(["run", "--job", "t", "--", "/bin/sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 9));

    let out = hostwatch()
        .args(["run", "--job", "t", "--", "/nonexistent/job.sh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/job.sh: not found"));

    let out = hostwatch()
        .args(["run", "--job", "t", "--timeout", "1", "--", "sleep", "30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out"));

    // The command must come after `--`.
    let out = hostwatch().args(["run", "--job", "t"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_spools_when_the_hub_is_down_and_posts_when_it_is_up() {
    let state = tempfile::tempdir().unwrap();
    let mut command = hostwatch();
    with_hub(&mut command, &format!("http://127.0.0.1:{}", free_port()));
    let out = command
        .env("HOSTWATCH_AGENT_STATE_DIR", state.path())
        .args([
            "run",
            "--job",
            "backup",
            "--schedule",
            "0 3 * * *",
            "--",
            "/bin/sh",
            "-c",
            "echo done; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
    let spooled: Vec<_> = std::fs::read_dir(state.path().join("spool/job-runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    let run: hostwatch_proto::JobRun =
        serde_json::from_slice(&std::fs::read(&spooled[0]).unwrap()).unwrap();
    assert_eq!(run.job, "backup");
    assert_eq!(run.schedule.as_deref(), Some("0 3 * * *"));
    assert_eq!(run.outcome, hostwatch_proto::JobOutcome::Exited(3));
    assert_eq!(run.output_tail, "done\n");
    assert_eq!(run.command, vec!["/bin/sh", "-c", "echo done; exit 3"]);

    let hub = TinyHub::start(&[]);
    let mut command = hostwatch();
    with_hub(&mut command, &hub.url());
    let out = command
        .env("HOSTWATCH_AGENT_STATE_DIR", state.path())
        .args(["run", "--job", "backup", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let requests = hub.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/api/v1/job-runs");
    let posted: hostwatch_proto::JobRun = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(posted.job, "backup");
    assert!(posted.succeeded());
    assert_ne!(posted.run_id, run.run_id);
    // Delivered directly: nothing new in the spool.
    assert_eq!(
        std::fs::read_dir(state.path().join("spool/job-runs"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn agent_delivers_to_the_hub_alone_and_keeps_its_identity() {
    let hub = TinyHub::start(&[]);
    let state = tempfile::tempdir().unwrap();
    let mut command = hostwatch();
    with_hub(&mut command, &hub.url());
    let mut child = command
        .arg("agent")
        .env("HOSTWATCH_TIERS_FAST", "1")
        .env("HOSTWATCH_AGENT_STATE_DIR", state.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while hub.requests().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("state directory"), "{stderr}");
    assert!(!stderr.contains(HUB_TOKEN), "{stderr}");

    let requests = hub.requests();
    assert!(requests.len() >= 2, "{stderr}");
    let reports: Vec<Report> = requests
        .iter()
        .map(|r| Report::from_json(&r.body).unwrap())
        .collect();
    let instance_id = std::fs::read_to_string(state.path().join("instance_id")).unwrap();
    assert_eq!(reports[0].agent.instance_id, instance_id.trim());
    assert_eq!((reports[0].seq, reports[1].seq), (1, 2));
    assert_eq!(
        reports[0].spool,
        Some(hostwatch_proto::SpoolStats {
            queued: 0,
            dropped_total: 0
        })
    );
}
