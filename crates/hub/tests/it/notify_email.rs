//! Email notifications against a real SMTP server (Debian's python3-aiosmtpd, driven by
//! tests/fixtures/smtp/server.py): STARTTLS and implicit TLS with a private CA, AUTH, plain
//! text alerts, the multipart digest, and the password never in logs or answers.

use crate::harness::TestHub;
use crate::notify::{Captured, config, install_crypto, notice};
use hostwatch_hub::notice::{DigestMessage, NoticeState, Notifier, Severity};
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "hostwatch";
const PASSWORD: &str = "smtp-Pa55word-never-shown";

struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start(mode: &str, pki: Option<&Pki>) -> SmtpServer {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp/server.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .arg(mode)
            .env("SMTP_USER", USER)
            .env("SMTP_PASSWORD", PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(p) = pki {
            cmd.arg(&p.cert).arg(&p.key);
        }
        let mut child = cmd.spawn().expect(
            "python3 with aiosmtpd (apt-get install python3-aiosmtpd; scripts/test.sh does)",
        );
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY", "the SMTP server did not start");
        SmtpServer { child, port, dir }
    }

    /// Waits for `n` messages: (raw message, envelope facts).
    async fn wait_for(&self, n: usize) -> Vec<(String, Value)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut got = Vec::new();
            for i in 1..=n {
                let eml = self.dir.path().join(format!("{i}.eml"));
                let meta = self.dir.path().join(format!("{i}.json"));
                match (
                    std::fs::read_to_string(&eml),
                    std::fs::read_to_string(&meta),
                ) {
                    (Ok(e), Ok(m)) => got.push((e, serde_json::from_str(&m).unwrap())),
                    _ => break,
                }
            }
            if got.len() == n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {n} emails, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Closing stdin stops it; kill it if that does not.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a server certificate for 127.0.0.1 it signed, as PEM files.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "hostwatch test mail CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("server.pem", server.pem()),
        key: write("server.key", server_key.serialize_pem()),
        _dir: dir,
    }
}

fn email_channel(name: &str, port: u16, tls: &str, ca: Option<&Path>, password: &str) -> String {
    let ca = ca
        .map(|p| format!("ca_file = \"{}\"\n", p.display()))
        .unwrap_or_default();
    format!(
        r#"[[notify.channels]]
name = "{name}"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {port}
tls = "{tls}"
smtp_username = "{USER}"
smtp_password = "{password}"
from = "hostwatch <hub@example.org>"
to = ["ops@example.org", "Night Shift <night@example.org>"]
{ca}"#
    )
}

/// The value of a header in a raw message (first occurrence, unfolded).
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next()?;
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn body(raw: &str) -> String {
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_starttls_alerts_in_plain_text_and_the_digest_as_multipart() {
    install_crypto();
    let logs = Captured::global();
    let pki = pki();
    let smtp = SmtpServer::start("starttls", Some(&pki));
    let hub = TestHub::start(config(&format!(
        "{}\n{}\n{}",
        email_channel("mail", smtp.port, "starttls", Some(&pki.ca), PASSWORD),
        email_channel(
            "wrong-password",
            smtp.port,
            "starttls",
            Some(&pki.ca),
            "not-it"
        ),
        email_channel("untrusted", smtp.port, "starttls", None, PASSWORD),
    )))
    .await;
    let r = hub
        .post_json("/api/v1/notify/test/mail", &hub.admin, b"")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["type"], "email");
    let mail = smtp.wait_for(1).await;
    let (raw, meta) = &mail[0];
    assert_eq!(meta["tls"], true, "STARTTLS was used");
    assert_eq!(meta["auth_user"], USER);
    assert_eq!(meta["mail_from"], "hub@example.org");
    assert_eq!(
        meta["rcpt_tos"],
        serde_json::json!(["ops@example.org", "night@example.org"])
    );
    assert_eq!(
        header(raw, "Subject").as_deref(),
        Some("hostwatch test message")
    );
    assert_eq!(
        header(raw, "From").as_deref(),
        Some("hostwatch <hub@example.org>")
    );
    assert_eq!(
        header(raw, "To").as_deref(),
        Some("ops@example.org, \"Night Shift\" <night@example.org>")
    );
    assert_eq!(
        header(raw, "Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(body(raw).contains("`mail`"), "{raw}");

    // The wrong password is refused by the server (535): not retried, and not shown.
    let r = hub
        .post_json("/api/v1/notify/test/wrong-password", &hub.admin, b"")
        .await;
    assert_eq!(r.status, 502, "{}", r.text());
    let refused = r.text();
    assert!(refused.contains("535"), "{refused}");
    // A server whose certificate no trusted CA signed is not talked to.
    let r = hub
        .post_json("/api/v1/notify/test/untrusted", &hub.admin, b"")
        .await;
    assert_eq!(r.status, 502, "{}", r.text());
    let untrusted = r.text();
    assert!(
        untrusted.to_lowercase().contains("certificate"),
        "{untrusted}"
    );

    // An alert: plain text naming the host. (Routed to every channel; only `mail` delivers.)
    hub.hub.notify.alert(notice(
        "disk_full",
        "db-1",
        Severity::Critical,
        NoticeState::Firing,
    ));
    let mail = smtp.wait_for(2).await;
    let (raw, _) = &mail[1];
    assert_eq!(
        header(raw, "Subject").as_deref(),
        Some("[FIRING:1] disk_full critical")
    );
    assert_eq!(
        header(raw, "Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(body(raw).contains("- db-1: disk_full (critical)"), "{raw}");

    // The digest: multipart/alternative, text then HTML.
    hub.hub.notify.digest(DigestMessage {
        subject: "Weekly digest: 3 hosts".into(),
        text: "Fleet score 87/100\nweb-1: steal 8.2% avg".into(),
        html: "<h1>Fleet score 87/100</h1><p>web-1: steal 8.2% avg</p>".into(),
    });
    let mail = smtp.wait_for(3).await;
    let (raw, _) = &mail[2];
    assert_eq!(
        header(raw, "Subject").as_deref(),
        Some("Weekly digest: 3 hosts")
    );
    let content_type = header(raw, "Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/alternative;"),
        "{content_type}"
    );
    let boundary = content_type
        .split("boundary=\"")
        .nth(1)
        .and_then(|b| b.split('"').next())
        .unwrap();
    let whole = body(raw);
    let parts: Vec<&str> = whole
        .split(&format!("--{boundary}"))
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "--")
        .collect();
    assert_eq!(parts.len(), 2, "{raw}");
    assert_eq!(
        header(parts[0], "Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        body(parts[0]).contains("web-1: steal 8.2% avg"),
        "{}",
        parts[0]
    );
    assert_eq!(
        header(parts[1], "Content-Type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(
        body(parts[1]).contains("<h1>Fleet score 87/100</h1>"),
        "{}",
        parts[1]
    );

    // The password shows nowhere: logs, answers, the delivery log.
    let log = hub
        .get("/api/v1/notifications/deliveries", &hub.admin)
        .await;
    let logged = logs.text();
    for (what, text) in [
        ("logs", &logged),
        ("answers", &format!("{refused}{untrusted}")),
        ("delivery log", &log.text()),
        ("config", &format!("{:?}", hub.hub.config)),
    ] {
        assert!(!text.contains(PASSWORD), "password in {what}: {text}");
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_implicit_tls() {
    install_crypto();
    let pki = pki();
    let smtp = SmtpServer::start("tls", Some(&pki));
    let hub = TestHub::start(config(&email_channel(
        "mail",
        smtp.port,
        "tls",
        Some(&pki.ca),
        PASSWORD,
    )))
    .await;
    let r = hub
        .post_json("/api/v1/notify/test/mail", &hub.admin, b"")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail[0].1["tls"], true);
    assert_eq!(mail[0].1["auth_user"], USER);
    assert_eq!(
        header(&mail[0].0, "Subject").as_deref(),
        Some("hostwatch test message")
    );
    hub.stop().await;
}
