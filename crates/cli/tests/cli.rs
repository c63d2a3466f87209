//! The real `hostwatch` binary, driven as an operator would.

use hostwatch_proto::Report;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hostwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hostwatch"));
    // Start from built-in defaults whatever the developer's environment holds.
    c.env_remove("HOSTWATCH_CONFIG")
        .current_dir(env!("CARGO_TARGET_TMPDIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HOSTWATCH_") {
            c.env_remove(k);
        }
    }
    c
}

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
fn agent_without_a_sink_refuses_to_start() {
    let out = hostwatch().arg("agent").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sink enabled"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
