//! The alerts issue's end-to-end test, with the real binaries: `hostwatch loadgen` drives a
//! host's `/` over 85 % against a real `hostwatch hub`, whose alert engine fires `fs_used`
//! and whose notifier posts a signed message to a webhook receiver on loopback; a second run
//! brings the disk back under and the resolve arrives.

use crate::common::{free_port, hostwatch_on as hostwatch, wait_listening};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const HMAC_KEY: &str = "e2e-shared-secret";

/// Kills the hub however the test ends.
struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request the receiver got: its lower-cased headers and body.
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

/// An HTTP receiver on loopback that answers 200 to every request and hands each over.
fn recording_server() -> (u16, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let length = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = (&stream)
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            if tx
                .send(Received {
                    path,
                    headers,
                    body,
                })
                .is_err()
            {
                return;
            }
        }
    });
    (port, rx)
}

fn admin_token(data: &Path) -> String {
    token(data, "e2e", "admin")
}

fn token(data: &Path, name: &str, role: &str) -> String {
    let out = hostwatch(data)
        .args(["tokens", "add", name, "--role", role])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .find(|w| w.starts_with("hw_"))
        .expect("the token is printed")
        .to_string()
}

/// Runs loadgen's one host `loadgen-0` for `seconds`, its `/` as `fill` says.
/// `seed` also makes the agent instance id: a second run needs its own, or the hub would
/// take its reports for repeats of the first run's (same instance, same sequence numbers).
fn loadgen(data: &Path, port: u16, token: &str, seed: &str, fill: &str, seconds: &str) {
    let out = hostwatch(data)
        .args(["loadgen", "--hosts", "1", "--interval", "0.25"])
        .args([
            "--medium-interval",
            "0.25",
            "--duration",
            seconds,
            "--seed",
            seed,
        ])
        .args(["--fill-disk", fill, "--json"])
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .env("HOSTWATCH_ADMIN_TOKEN", token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["non_200"], serde_json::json!({}), "{summary}");
    assert_eq!(summary["transport_errors"], 0, "{summary}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The message's `fs_used` alert for loadgen-0's `/`, once a signed message has one in
/// `state`. Other messages (other rules, the other mount) are skipped.
fn wait_for(rx: &mpsc::Receiver<Received>, state: &str, hub_log: &Path) -> serde_json::Value {
    loop {
        let got = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!(
                    "no `{state}` fs_used notification arrived; the hub said:\n{}",
                    std::fs::read_to_string(hub_log).unwrap_or_default()
                )
            });
        assert_eq!(got.path, "/hooks/hostwatch");
        // The signature: hex HMAC-SHA256 over "<timestamp>.<body>", keyed with the secret.
        let ts = got.header("x-hostwatch-timestamp");
        let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_KEY.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&got.body);
        let want = format!("sha256={}", hex(&mac.finalize().into_bytes()));
        assert_eq!(got.header("x-hostwatch-signature"), want);
        let message: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
        let found = message["alerts"].as_array().and_then(|alerts| {
            alerts
                .iter()
                .find(|a| {
                    a["rule"] == "fs_used"
                        && a["host"] == "loadgen-0"
                        && a["labels"]["mount"] == "/"
                        && a["state"] == state
                })
                .cloned()
        });
        if let Some(a) = found {
            return a;
        }
    }
}

#[test]
fn a_filling_disk_fires_at_the_webhook_and_resolves_when_back_under() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let token = admin_token(data);
    let (hook_port, rx) = recording_server();
    let config = data.join("hub.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[alerts]
evaluate_every = "1s"

[alerts.builtin.fs_used]
for = "1s"

[notify]
group_wait = "0s"
group_interval = "1s"

[[notify.channels]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{hook_port}/hooks/hostwatch"
hmac_key = "{HMAC_KEY}"
"#
        ),
    )
    .unwrap();
    let port = free_port();
    let _hub = Hub(hostwatch(data)
        .arg("hub")
        .arg("--config")
        .arg(&config)
        .env("HOSTWATCH_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOSTWATCH_INTERVAL_MIN_SECONDS", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.join("hub.log")).unwrap())
        .spawn()
        .unwrap());
    wait_listening(port);

    // `/` from 84 % up one point a second for 4 s: over 85 % for more than the `for`.
    loadgen(data, port, &token, "1", "loadgen-0:/:60:84", "4");
    let firing = wait_for(&rx, "firing", &data.join("hub.log"));
    assert_eq!(firing["severity"], "warning");
    let summary = firing["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("/ on loadgen-0 is 8")
            && summary.ends_with("full (warning above 85.0 %)"),
        "{summary}"
    );
    let value = firing["value"].as_f64().unwrap();
    assert!((85.0..=89.0).contains(&value), "{firing}");

    // Cleaned up: `/` at 50 % and steady. The resolve names the same alert.
    loadgen(data, port, &token, "2", "loadgen-0:/:0:50", "2");
    let resolved = wait_for(&rx, "resolved", &data.join("hub.log"));
    assert_eq!(resolved["fingerprint"], firing["fingerprint"]);
    assert_eq!(
        resolved["summary"],
        "resolved: fs_used on loadgen-0 (mount=/) is back to 50.0 %"
    );
}

/// `hostwatch alerts ARGS…` against the hub on `port`: (success, stdout, stderr).
fn alerts(data: &Path, port: u16, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = hostwatch(data)
        .arg("alerts")
        .args(args)
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .env("HOSTWATCH_API_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_alerts_command_lists_silences_and_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let admin = admin_token(data);
    let viewer = token(data, "wallboard", "viewer");
    let config = data.join("hub.toml");
    std::fs::write(
        &config,
        "[alerts]\nevaluate_every = \"1s\"\n[alerts.builtin.fs_used]\nfor = \"0s\"\n",
    )
    .unwrap();
    let port = free_port();
    let _hub = Hub(hostwatch(data)
        .arg("hub")
        .arg("--config")
        .arg(&config)
        .env("HOSTWATCH_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOSTWATCH_INTERVAL_MIN_SECONDS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    wait_listening(port);
    loadgen(data, port, &admin, "1", "loadgen-0:/:0:90", "1");

    // The engine evaluates every second: wait for the alert to be listed.
    let mut listed = String::new();
    for _ in 0..100 {
        let (ok, stdout, stderr) = alerts(data, port, &viewer, &["list", "--state", "firing"]);
        assert!(ok, "{stderr}");
        if stdout.contains("fs_used") {
            listed = stdout;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let line = listed
        .lines()
        .find(|l| l.contains("fs_used"))
        .unwrap_or_else(|| panic!("fs_used never listed as firing"));
    assert!(listed.starts_with("SEVERITY"), "{listed}");
    assert!(line.starts_with("warning  firing  loadgen-0"), "{line}");
    assert!(
        line.ends_with("/ on loadgen-0 is 90.0 % full (warning above 85.0 %)"),
        "{line}"
    );
    let fingerprint = line.split_whitespace().nth(6).unwrap().to_string();
    assert_eq!(fingerprint.len(), 24, "{line}");

    // JSON for scripts; a host filter.
    let (ok, json, _) = alerts(
        data,
        port,
        &viewer,
        &["list", "--json", "--host", "loadgen-0"],
    );
    assert!(ok);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        doc.as_array()
            .unwrap()
            .iter()
            .any(|a| a["fingerprint"] == fingerprint.as_str())
    );
    let (ok, none, _) = alerts(data, port, &viewer, &["list", "--host", "nope"]);
    assert!(ok);
    assert_eq!(none.trim(), "no open alerts");

    // A viewer may look but not acknowledge; an admin may.
    let (ok, _, err) = alerts(data, port, &viewer, &["ack", &fingerprint]);
    assert!(!ok);
    assert!(err.contains("403") && err.contains("admin"), "{err}");
    let (ok, out, err) = alerts(
        data,
        port,
        &admin,
        &["ack", &fingerprint, "--comment", "on it"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        format!(
            "alert {fingerprint} acknowledged by e2e: it stops repeating; its resolve is still sent"
        )
    );
    let (_, listed, _) = alerts(data, port, &viewer, &["list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&fingerprint) && l.ends_with("[acked]")),
        "{listed}"
    );
    let (ok, _, err) = alerts(data, port, &admin, &["ack", "0123456789abcdef01234567"]);
    assert!(!ok);
    assert!(
        err.contains("404") && err.contains("no firing alert"),
        "{err}"
    );

    // Silence it for two hours, list the silence, see the alert marked, delete it.
    let (ok, out, err) = alerts(
        data,
        port,
        &admin,
        &[
            "silence",
            "-m",
            r#"host=~"loadgen-.*""#,
            "--matcher",
            "rule=fs_used",
            "--for",
            "2h",
            "--comment",
            "growing the volume",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("silence 1 until ")
            && out
                .trim_end()
                .ends_with(r#"host=~"loadgen-.*", rule="fs_used""#),
        "{out}"
    );
    let (ok, out, _) = alerts(data, port, &viewer, &["silences"]);
    assert!(ok);
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("1 ") && row.contains(" e2e ") && row.ends_with("— growing the volume"),
        "{out}"
    );
    let (_, listed, _) = alerts(data, port, &viewer, &["list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&fingerprint) && l.ends_with("[silenced, acked]")),
        "{listed}"
    );
    let (ok, out, _) = alerts(data, port, &admin, &["unsilence", "1"]);
    assert!(ok);
    assert_eq!(out.trim(), "silence 1 deleted");
    let (ok, out, _) = alerts(data, port, &viewer, &["silences"]);
    assert!(ok);
    assert_eq!(out.trim(), "no silences");

    // Bad input is refused before anything is sent, naming what was wrong.
    for (args, says) in [
        (
            vec!["silence", "-m", "host", "--for", "2h"],
            "--matcher `host` is not a matcher",
        ),
        (
            vec!["silence", "-m", "host=a", "--for", "soon"],
            "--for: `soon` is not a duration",
        ),
        (vec!["list", "--state", "resolved"], "--state: `resolved`"),
        (vec!["ack", "../hosts"], "is not a fingerprint"),
    ] {
        let (ok, _, err) = alerts(data, port, &admin, &args);
        assert!(!ok, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (ok, _, err) = alerts(data, port, "hw_wrong", &["list"]);
    assert!(!ok);
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains(&admin), "a token is never printed");
}
