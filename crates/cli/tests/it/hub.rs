//! The real `hostwatch hub` binary: enrolment from the command line, and durability — every
//! report the hub acknowledged is in the store, even when the hub dies by SIGKILL mid-load.

use crate::common::{free_port, hostwatch_on as hostwatch, start_hub};
use hostwatch_hub::store::{SqliteStore, Store};
use hostwatch_proto::Report;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Enrols `name` through the CLI; returns its token.
fn enrol(data: &Path, name: &str) -> String {
    let out = hostwatch(data)
        .args(["hosts", "add", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace()
        .find(|w| w.starts_with("hw_"))
        .expect("the token is printed")
        .to_string()
}

/// POSTs a report; `Some(status)` when an HTTP answer came back, `None` when the connection died.
fn post(port: u16, token: &str, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let head = format!(
        "POST /api/v1/reports HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    raw.split_whitespace().nth(1)?.parse().ok()
}

fn report(host: &str, seq: u64) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../proto/tests/fixtures/report-v1-full.json"
    );
    let mut r = Report::from_json(&std::fs::read(path).unwrap()).unwrap();
    r.host_id = host.into();
    r.agent.instance_id = "load".into();
    r.seq = seq;
    r.collected_at += seq as i64 * 1000;
    r.to_json()
}

fn stored_seqs(data: &Path, host: &str) -> Vec<u64> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(data).unwrap();
        let h = store.host(host).await.unwrap().unwrap();
        let mut seqs: Vec<u64> = store
            .reports_between(h.id, i64::MIN, i64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        seqs.sort_unstable();
        seqs
    })
}

#[test]
fn hosts_commands_enrol_list_rotate_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let token = enrol(data, "web-1");
    assert!(token.starts_with("hw_") && token.len() == 63, "{token}");
    let list = hostwatch(data).args(["hosts", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("web-1") && text.contains("new") && text.contains("never"),
        "{text}"
    );
    assert!(
        !text.contains(&token),
        "the token is shown once, never listed"
    );

    let dup = hostwatch(data)
        .args(["hosts", "add", "web-1"])
        .output()
        .unwrap();
    assert_eq!(dup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    let rotated = hostwatch(data)
        .args(["hosts", "rotate-token", "web-1"])
        .output()
        .unwrap();
    assert!(rotated.status.success());
    assert!(!String::from_utf8_lossy(&rotated.stdout).contains(&token));

    let removed = hostwatch(data)
        .args(["hosts", "remove", "web-1"])
        .output()
        .unwrap();
    assert!(removed.status.success());
    let gone = hostwatch(data)
        .args(["hosts", "remove", "web-1"])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no host `web-1`"));
}

#[test]
fn every_acknowledged_report_survives_sigkill_during_load() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let hosts: Vec<(String, String)> = (0..4)
        .map(|i| {
            let name = format!("load-{i}");
            let token = enrol(&data, &name);
            (name, token)
        })
        .collect();
    let port = free_port();
    let mut hub = start_hub(&data, port);

    // Four clients post as fast as they can; each remembers what the hub acknowledged.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = hosts
        .iter()
        .cloned()
        .map(|(name, token)| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut seq = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seq += 1;
                    match post(port, &token, &report(&name, seq)) {
                        Some(200) => acked.push(seq),
                        Some(status) => panic!("unexpected status {status}"),
                        None => break,
                    }
                }
                (name, acked)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    hub.kill().unwrap(); // SIGKILL: no shutdown path runs.
    hub.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut total = 0;
    for client in clients {
        let (name, acked) = client.join().unwrap();
        total += acked.len();
        let stored = stored_seqs(&data, &name);
        for seq in &acked {
            assert!(
                stored.binary_search(seq).is_ok(),
                "{name}: acknowledged seq {seq} is missing"
            );
        }
    }
    assert!(total > 20, "the load ran: {total} reports acknowledged");
}

#[test]
fn a_stopped_and_restarted_hub_stores_every_seq_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let token = enrol(&data, "web-1");
    let port = free_port();
    let mut hub = start_hub(&data, port);
    // An agent's behaviour: retry every report until acknowledged, across the hub's absence.
    let deliver = move |seq: u64| loop {
        if post(port, &token, &report("web-1", seq)) == Some(200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for seq in 1..=10 {
        deliver(seq);
    }
    // Stop the hub; the "agent" keeps producing and retrying in the background.
    Command::new("kill")
        .args(["-TERM", &hub.id().to_string()])
        .status()
        .unwrap();
    assert!(hub.wait().unwrap().success(), "SIGTERM is a clean stop");
    let agent = std::thread::spawn(move || {
        for seq in 11..=20 {
            deliver(seq);
        }
        // A retry of something already delivered, as after a lost reply.
        deliver(15);
    });
    std::thread::sleep(Duration::from_millis(700));
    let mut hub = start_hub(&data, port);
    agent.join().unwrap();
    hub.kill().unwrap();
    hub.wait().unwrap();
    assert_eq!(stored_seqs(&data, "web-1"), (1..=20).collect::<Vec<_>>());
}

/// Stored seqs of `host` once they reach `want`, or what there is after 45 s.
fn wait_for_seqs(data: &Path, host: &str, want: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let seqs = stored_seqs(data, host);
        if want(&seqs) || Instant::now() > deadline {
            return seqs;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn the_real_agent_delivers_every_seq_exactly_once_across_a_hub_outage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let token = enrol(&data, "web-1");
    let port = free_port();
    let mut hub = start_hub(&data, port);
    let mut agent = hostwatch(&data)
        .arg("agent")
        .env("HOSTWATCH_AGENT_HOST_ID", "web-1")
        .env("HOSTWATCH_AGENT_STATE_DIR", dir.path().join("agent"))
        .env("HOSTWATCH_HUB_URL", format!("http://127.0.0.1:{port}"))
        .env("HOSTWATCH_HUB_TOKEN", &token)
        .env("HOSTWATCH_TIERS_FAST", "1")
        .env("HOSTWATCH_PROCESSES_ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let before = wait_for_seqs(&data, "web-1", |s| s.len() >= 3);
    assert!(before.len() >= 3, "the agent reports: {before:?}");

    // The hub goes away for a while; the agent spools.
    Command::new("kill")
        .args(["-TERM", &hub.id().to_string()])
        .status()
        .unwrap();
    hub.wait().unwrap();
    let down_at = stored_seqs(&data, "web-1").last().copied().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    hub = start_hub(&data, port);

    // Backfill arrives, and live reports keep coming after it.
    let seqs = wait_for_seqs(&data, "web-1", |s| {
        s.last().is_some_and(|&l| l >= down_at + 8)
    });
    Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .unwrap();
    assert!(agent.wait().unwrap().success());
    hub.kill().unwrap();
    hub.wait().unwrap();
    let last = *seqs.last().unwrap();
    assert!(last >= down_at + 8, "delivery resumed: {seqs:?}");
    assert_eq!(
        seqs,
        (1..=last).collect::<Vec<_>>(),
        "every seq exactly once, none lost in the outage"
    );
}
