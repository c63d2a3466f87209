//! `hostwatch loadgen` against the real `hostwatch hub` over loopback: it enrols its hosts
//! through the admin API, sends at the rate asked without errors, the hub lists every host as
//! up, and a `--fill-disk` scenario drives one host's filesystem at the rate it names.

use crate::common::{free_port, hostwatch_on as hostwatch};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

/// Kills the hub however the test ends.
struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_hub(data: &Path, port: u16) -> Hub {
    Hub(crate::common::start_hub(data, port))
}

fn admin_token(data: &Path) -> String {
    let out = hostwatch(data)
        .args(["tokens", "add", "bench", "--role", "admin"])
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

/// GETs an API path; the JSON body of a 200.
fn get(port: u16, token: &str, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap()
}

#[test]
fn loadgen_drives_the_real_hub_at_the_asked_rate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let token = admin_token(data);
    let port = free_port();
    let _hub = start_hub(data, port);

    let out = hostwatch(data)
        .args([
            "loadgen",
            "--hosts",
            "20",
            "--interval",
            "1",
            "--duration",
            "5",
            "--medium-interval",
            "2",
            "--fill-disk",
            "loadgen-0:/:300:50",
            "--json",
        ])
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .env("HOSTWATCH_ADMIN_TOKEN", &token)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(&token), "the admin token is never printed");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));

    // 20 hosts × 1/s over 5 s: every host sends exactly 5 reports, each from its own phase.
    let rate = summary["reports_per_sec"].as_f64().unwrap();
    assert!((16.0..=24.0).contains(&rate), "{summary}");
    assert_eq!(summary["reports"], 100, "{summary}");
    assert_eq!(summary["transport_errors"], 0, "{summary}");
    assert_eq!(summary["non_200"], serde_json::json!({}), "{summary}");
    assert_eq!(summary["late_ticks"], 0, "{summary}");
    // The first report of each host has no rates; the rest yield ~50–160 samples each
    // (the template is the golden report, with every section the wire knows).
    let samples = summary["samples"].as_u64().unwrap();
    assert!((4_000..=16_000).contains(&samples), "{summary}");
    let p50 = summary["latency_ms"]["p50"].as_f64().unwrap();
    let max = summary["latency_ms"]["max"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= max, "{summary}");
    assert!(summary["generator"]["cpu_seconds"].as_f64().unwrap() > 0.0);

    let hosts = get(port, &token, "/api/v1/hosts");
    let hosts = hosts.as_array().unwrap();
    assert_eq!(hosts.len(), 20, "{hosts:?}");
    for h in hosts {
        assert!(h["name"].as_str().unwrap().starts_with("loadgen-"), "{h}");
        assert_eq!(h["status"], "up", "{h}");
        assert!(h["figures"]["cpu_busy_pct"].as_f64().is_some(), "{h}");
    }

    // loadgen-0's `/` started at 50 % and rose 5 points a second; its filesystems were sent
    // every 2 s, so the last one (4 s after its first report) says 70 %.
    let detail = get(port, &token, "/api/v1/hosts/loadgen-0");
    let mounts = detail["latest"]["sections"]["filesystems"]["mounts"]
        .as_array()
        .unwrap();
    let root = mounts.iter().find(|m| m["mount"] == "/").unwrap();
    let pct = root["used_pct"].as_f64().unwrap();
    assert!((68.0..=72.0).contains(&pct), "{root}");

    // A second run against the same hub re-enrols the hosts by rotating their tokens.
    let again = hostwatch(data)
        .args([
            "loadgen",
            "--hosts",
            "3",
            "--interval",
            "1",
            "--duration",
            "1",
        ])
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .env("HOSTWATCH_ADMIN_TOKEN", &token)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(text.contains("reports stored:    3 (3.0/s)"), "{text}");
    assert!(text.contains("non-200 answers:   none"), "{text}");
}

#[test]
fn loadgen_refuses_bad_arguments_before_sending_anything() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = hostwatch(dir.path())
            .arg("loadgen")
            .args(args)
            .args(["--admin-token", "x", "--url", "http://127.0.0.1:9"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run(&["--hosts", "0"]).contains("--hosts"));
    assert!(run(&["--interval", "0"]).contains("--interval"));
    assert!(run(&["--prefix", "bad name "]).contains("--prefix"));
    assert!(run(&["--fill-disk", "other-host:/:1"]).contains("not one of the simulated hosts"));
    // Nothing listens on port 9: enrolment fails with a clear error.
    assert!(run(&["--hosts", "1"]).contains("POST http://127.0.0.1:9/api/v1/hosts"));
}
