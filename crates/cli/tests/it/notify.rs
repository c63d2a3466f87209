//! `hostwatch notify test CHANNEL`: a test message through a configured channel to a local
//! webhook receiver, and a clear answer either way.

use crate::common::hostwatch;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// Answers one HTTP request with `status`; sends back the request head and body it got.
fn one_shot_server(status: u16) -> (u16, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let answer =
            format!("HTTP/1.1 {status} X\r\nContent-Length: 7\r\nConnection: close\r\n\r\nanswer!");
        (&stream).write_all(answer.as_bytes()).unwrap();
        let _ = tx.send((head, String::from_utf8(body).unwrap()));
    });
    (port, rx)
}

fn config_file(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("hub.toml");
    std::fs::write(
        &path,
        format!(
            "[[notify.channels]]\nname = \"ops-hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/in/s3cret-path\"\nhmac_key = \"k3y\"\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn notify_test_says_delivered_and_the_receiver_got_a_signed_test_message() {
    let dir = tempfile::tempdir().unwrap();
    let (port, got) = one_shot_server(200);
    let out = hostwatch()
        .args(["notify", "test", "ops-hook", "--config"])
        .arg(config_file(dir.path(), port))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "delivered: a test message went out through `ops-hook` (webhook)"
    );
    let (head, body) = got.recv().unwrap();
    assert!(head.starts_with("POST /in/s3cret-path HTTP/1.1"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("x-hostwatch-signature: sha256="),
        "{head}"
    );
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["kind"], "test");
}

#[test]
fn notify_test_says_not_delivered_and_why_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _got) = one_shot_server(403);
    let out = hostwatch()
        .args(["notify", "test", "ops-hook", "--config"])
        .arg(config_file(dir.path(), port))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("NOT delivered through `ops-hook` (webhook): HTTP 403: answer!"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cret-path") && !stderr.contains("k3y"),
        "{stderr}"
    );

    let out = hostwatch()
        .args(["notify", "test", "pager", "--config"])
        .arg(config_file(dir.path(), port))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no notification channel is named `pager`"),
        "{stderr}"
    );
}
