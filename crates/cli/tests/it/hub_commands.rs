//! Remote commands through the hub, with the real binaries: an admin queues a command at the
//! hub, which signs it; the real agent receives it on its next envelope, checks it against its
//! whitelist and the hub's public key, runs it (or refuses it, audited) and posts the result.

use crate::common::{free_port, hostwatch, hostwatch_on, wait_listening};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `hostwatch keys generate` → (private, public).
fn keypair() -> (String, String) {
    let out = hostwatch().args(["keys", "generate"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split('"').nth(1))
            .unwrap()
            .to_string()
    };
    (value("private_key"), value("public_key"))
}

fn printed_token(out: std::process::Output) -> String {
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

fn start_hub_signing(data: &Path, port: u16, config: &Path, private: &str) -> Child {
    std::fs::write(
        config,
        format!("[commands]\nsigning_key = \"{private}\"\n[interval]\nmin_seconds = 1\ndefault_seconds = 1\n"),
    )
    .unwrap();
    let child = hostwatch_on(data)
        .arg("hub")
        .env("HOSTWATCH_CONFIG", config)
        .env("HOSTWATCH_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    child
}

fn http(port: u16, method: &str, path: &str, token: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Queues a command; its request id.
fn queue(port: u16, admin: &str, command: &str, params: &[&str]) -> String {
    let body = serde_json::json!({ "command": command, "params": params }).to_string();
    let (status, answer) = http(port, "POST", "/api/v1/hosts/web-1/commands", admin, &body);
    assert_eq!(status, 202, "{answer}");
    answer["request_id"].as_str().unwrap().to_string()
}

/// The request once it is done, or a failure after 60 s.
fn wait_done(port: u16, admin: &str, request_id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, list) = http(port, "GET", "/api/v1/hosts/web-1/commands", admin, "");
        assert_eq!(status, 200, "{list}");
        let row = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["request_id"] == request_id)
            .cloned()
            .expect("the request is listed");
        if row["state"] == "done" {
            return row;
        }
        assert!(Instant::now() < deadline, "never finished: {row}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn stop(mut child: Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

#[test]
fn an_admin_runs_a_whitelisted_command_through_the_hub_and_every_refusal_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let (private, public) = keypair();
    let host_token = printed_token(
        hostwatch_on(&data)
            .args(["hosts", "add", "web-1"])
            .output()
            .unwrap(),
    );
    let admin = printed_token(
        hostwatch_on(&data)
            .args(["tokens", "add", "ops", "--role", "admin"])
            .output()
            .unwrap(),
    );
    let port = free_port();
    let hub_config = dir.path().join("hub.toml");
    let mut hub = start_hub_signing(&data, port, &hub_config, &private);

    let ok_marker = work.join("marker-ok");
    let evil_marker = work.join("marker-evil");
    let forged_marker = work.join("marker-two");
    let agent_config = dir.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            r#"[agent]
host_id = "web-1"
state_dir = "{state}"

[hub]
url = "http://127.0.0.1:{port}"
token = "{host_token}"

[tiers]
fast = 1

[processes]
enabled = false

[remote]
trusted_keys = ["{public}"]

[[commands]]
name = "mark"
description = "Leave a marker file"
argv = ["touch"]
params = [{{ choices = ["{ok}", "{two}"] }}]
timeout_seconds = 10
"#,
            state = dir.path().join("agent").display(),
            ok = ok_marker.display(),
            two = forged_marker.display(),
        ),
    )
    .unwrap();
    let agent = hostwatch()
        .arg("agent")
        .env("HOSTWATCH_CONFIG", &agent_config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // The whitelisted command runs; its result arrives at the hub.
    let id = queue(port, &admin, "mark", &[ok_marker.to_str().unwrap()]);
    let done = wait_done(port, &admin, &id);
    assert_eq!(done["result"]["ok"], true, "{done}");
    assert_eq!(done["result"]["exit_code"], 0, "{done}");
    assert!(done["result"]["duration_ms"].is_u64(), "{done}");
    assert_eq!(done["requested_by"], "ops");
    assert!(ok_marker.exists(), "the command ran on the agent");

    // An unknown command and a bad parameter: refused, the refusal visible at the hub.
    let unknown = queue(port, &admin, "reboot", &[]);
    let bad = queue(port, &admin, "mark", &[evil_marker.to_str().unwrap()]);
    let unknown = wait_done(port, &admin, &unknown);
    assert_eq!(unknown["result"]["ok"], false);
    assert!(
        unknown["result"]["error"]
            .as_str()
            .unwrap()
            .contains("unknown command `reboot`"),
        "{unknown}"
    );
    assert!(unknown["result"]["exit_code"].is_null(), "nothing ran");
    let bad = wait_done(port, &admin, &bad);
    assert!(
        bad["result"]["error"]
            .as_str()
            .unwrap()
            .contains("parameter 1 of `mark` must be one of"),
        "{bad}"
    );
    assert!(!evil_marker.exists(), "a bad parameter runs nothing");

    // A hub (or a database row) signing with a key the agent does not trust runs nothing.
    stop(hub);
    let (stranger, _) = keypair();
    hub = start_hub_signing(&data, port, &hub_config, &stranger);
    let forged = queue(port, &admin, "mark", &[forged_marker.to_str().unwrap()]);
    let forged = wait_done(port, &admin, &forged);
    assert!(
        forged["result"]["error"]
            .as_str()
            .unwrap()
            .contains("bad signature"),
        "{forged}"
    );
    assert!(
        !forged_marker.exists(),
        "an untrusted signature runs nothing"
    );

    // The hub's event log has a request and a result event for each.
    let (_, events) = http(
        port,
        "GET",
        "/api/v1/events?host=web-1&limit=200",
        &admin,
        "",
    );
    let count = |kind: &str| {
        events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .count()
    };
    assert_eq!(count("command_requested"), 4, "{events}");
    assert_eq!(count("command_finished"), 4, "{events}");

    stop(agent);
    stop(hub);
    // The agent's audit log has every request, with its origin and outcome.
    let audit = std::fs::read_to_string(dir.path().join("agent/audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The two refusals queued together run concurrently, so their order is not fixed.
    let mut outcomes: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["origin"].as_str().unwrap().to_string(),
                l["command"].as_str().unwrap().to_string(),
                l["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    outcomes.sort();
    let expect = |c: &str, r: &str| ("hub".to_string(), c.to_string(), r.to_string());
    assert_eq!(
        outcomes,
        vec![
            expect("mark", "ok"),
            expect("mark", "rejected"),
            expect("mark", "rejected"),
            expect("reboot", "rejected"),
        ]
    );
    assert!(
        lines
            .iter()
            .all(|l| l["request_id"].as_str().unwrap().starts_with("hub-")),
        "{audit}"
    );
}
