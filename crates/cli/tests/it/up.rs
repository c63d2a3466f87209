//! `hostwatch up` end to end: the real agent delivers this machine's reports to the real hub
//! over loopback, the API serves them, and a restart keeps identity, token and numbering.

use crate::common::{free_port, hostwatch_on};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Up {
    child: Child,
    lines: Vec<String>,
}

fn start(data: &Path, port: u16) -> Up {
    let mut child = hostwatch_on(data)
        .arg("up")
        .env("HOSTWATCH_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOSTWATCH_TIERS_FAST", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    // The banner ends with the data line, or the admin token on a first start.
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "up exited early: {lines:?}"
        );
        let done = line.contains("data:");
        lines.push(line.trim_end().to_string());
        if done {
            break;
        }
    }
    // Two more lines may follow on a first start (the admin token, the dashboard password);
    // read them if they come.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..2 {
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || tx.send(line.trim_end().to_string()).is_err()
            {
                break;
            }
        }
    });
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        lines.push(line);
    }
    Up { child, lines }
}

fn get(port: u16, path: &str, token: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Polls until `check` accepts the host's detail, or fails after 30 s.
fn wait_for(
    port: u16,
    name: &str,
    token: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, detail) = get(port, &format!("/api/v1/hosts/{name}"), token);
        if status == 200 && check(&detail) {
            return detail;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; last answer {status}: {detail}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stop(mut up: Up) {
    Command::new("kill")
        .args(["-TERM", &up.child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        up.child.wait().unwrap().success(),
        "SIGTERM stops hub and agent cleanly"
    );
}

#[test]
fn up_runs_hub_and_agent_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let up = start(dir.path(), port);
    let banner = up.lines.join("\n");
    assert!(banner.contains("hostwatch is up"), "{banner}");
    assert!(
        banner.contains(&format!("http://127.0.0.1:{port}/api/v1/hosts")),
        "{banner}"
    );
    let name = banner
        .split('`')
        .nth(1)
        .expect("the banner names this machine")
        .to_string();
    let admin = banner
        .lines()
        .find_map(|l| l.split("(shown only now): ").nth(1))
        .expect("a first start prints the admin token")
        .to_string();
    assert!(
        banner.contains("dashboard user `admin`, password (shown only now): "),
        "a first start prints the dashboard's admin password: {banner}"
    );

    // The second report carries rates, so the overview figures fill in.
    let detail = wait_for(port, &name, &admin, |d| {
        d["status"] == "up" && d["latest"]["sections"]["cpu"]["usage"].is_object()
    });
    let latest = &detail["latest"];
    for section in [
        "system",
        "cpu",
        "load",
        "memory",
        "filesystems",
        "disks",
        "network",
        "processes",
    ] {
        assert!(
            latest["sections"][section].is_object(),
            "{section} missing: {latest}"
        );
    }
    let instance = latest["agent"]["instance_id"].as_str().unwrap().to_string();
    let seq_before = latest["seq"].as_u64().unwrap();
    let (_, hosts) = get(port, "/api/v1/hosts", &admin);
    assert_eq!(hosts.as_array().unwrap().len(), 1);
    assert!(hosts[0]["figures"]["memory_used_pct"].as_f64().unwrap() > 0.0);
    let token_file = dir.path().join("local-agent.token");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the local token is private");
    stop(up);

    // Restart on the same data: no new admin token, same host, same instance, seq goes on.
    let up = start(dir.path(), port);
    assert!(
        !up.lines.join("\n").contains("(shown only now)"),
        "{:?}",
        up.lines
    );
    let detail = wait_for(port, &name, &admin, |d| {
        d["latest"]["seq"].as_u64().unwrap_or(0) > seq_before
    });
    assert_eq!(detail["latest"]["agent"]["instance_id"], instance.as_str());
    let (_, hosts) = get(port, "/api/v1/hosts", &admin);
    assert_eq!(
        hosts.as_array().unwrap().len(),
        1,
        "the restart re-used the enrolment"
    );
    stop(up);
}
