//! A real Mosquitto broker (Debian package `mosquitto`) on a free loopback port, with a config
//! in a temp dir, killed on drop; and a small subscriber that records what arrives.

// Shared with the cli tests, which use only part of it.
#![allow(dead_code)]

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Mosquitto {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

fn binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Mosquitto::start_with("allow_anonymous true\n", |_| {})
    }

    /// Only `user` / `password` may connect.
    pub fn start_with_password(user: &str, password: &str) -> Mosquitto {
        let (user, password) = (user.to_string(), password.to_string());
        Mosquitto::start_with("allow_anonymous false\n", move |dir| {
            let file = dir.join("passwd");
            let status = Command::new("mosquitto_passwd")
                .args(["-c", "-b"])
                .arg(&file)
                .args([&user, &password])
                .stdout(Stdio::null())
                .status()
                .expect("mosquitto_passwd (package mosquitto) is installed");
            assert!(status.success());
            std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join("mosquitto.conf"))
                .and_then(|mut f| {
                    use std::io::Write;
                    writeln!(f, "password_file {}", file.display())
                })
                .unwrap();
        })
    }

    /// A TLS listener with this certificate chain and key (PEM); clients connect with
    /// `mqtts://localhost:<port>`.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Mosquitto {
        let (cert_pem, key_pem) = (cert_pem.to_string(), key_pem.to_string());
        Mosquitto::start_with("allow_anonymous true\n", move |dir| {
            let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
            std::fs::write(&cert, cert_pem).unwrap();
            std::fs::write(&key, key_pem).unwrap();
            std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join("mosquitto.conf"))
                .and_then(|mut f| {
                    use std::io::Write;
                    writeln!(f, "certfile {}\nkeyfile {}", cert.display(), key.display())
                })
                .unwrap();
        })
    }

    pub fn tls_url(&self) -> String {
        format!("mqtts://localhost:{}", self.port)
    }

    /// Stops the broker (as a crash would: SIGKILL) and starts it again on the same port with
    /// the same configuration. Nothing retained survives (`persistence false`).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Mosquitto::spawn(&self._dir.path().join("mosquitto.conf"), self.port);
    }

    fn spawn(conf: &std::path::Path, port: u16) -> Child {
        let child = Command::new(binary())
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "mosquitto (Debian package `mosquitto`) is installed; scripts/test.sh installs it",
            );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    fn start_with(auth: &str, extra: impl FnOnce(&std::path::Path)) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\n{auth}persistence false\n"),
        )
        .unwrap();
        extra(dir.path());
        let child = Mosquitto::spawn(&conf, port);
        Mosquitto {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as the subscriber saw it.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Message {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {}", self.topic, self.text()))
    }
}

/// Subscribes to `filters` and records every message.
pub struct Watcher {
    pub client: Client,
    seen: Arc<Mutex<Vec<Message>>>,
}

impl Watcher {
    pub fn new(port: u16, filters: &[&str]) -> Watcher {
        Watcher::with_login(port, filters, None)
    }

    pub fn with_login(port: u16, filters: &[&str], login: Option<(&str, &str)>) -> Watcher {
        let mut options = MqttOptions::new(
            format!("watcher-{:08x}", fastrand::u32(..)),
            "127.0.0.1",
            port,
        );
        options.set_max_packet_size(1 << 20, 1 << 20);
        if let Some((u, p)) = login {
            options.set_credentials(u, p);
        }
        let (client, mut connection) = Client::new(options, 64);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (subscribed_tx, subscribed_rx) = std::sync::mpsc::channel();
        let sink = seen.clone();
        let wanted = filters.len();
        std::thread::spawn(move || {
            let mut acks = 0;
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        sink.lock().unwrap().push(Message {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        acks += 1;
                        if acks == wanted {
                            let _ = subscribed_tx.send(());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        for f in filters {
            client.subscribe(*f, QoS::AtLeastOnce).unwrap();
        }
        subscribed_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed");
        Watcher { client, seen }
    }

    pub fn messages(&self) -> Vec<Message> {
        self.seen.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// Waits (up to 20 s, so a slow machine passes; nothing is timed) until `check` finds what
    /// it wants in the messages so far.
    pub fn wait_for<T>(&self, what: &str, check: impl Fn(&[Message]) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = check(&self.messages()) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "waited in vain for {what}; saw: {:?}",
                self.messages()
                    .iter()
                    .map(|m| (m.topic.clone(), m.text()))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The newest message on `topic`, waiting for one.
    pub fn last_on(&self, topic: &str) -> Message {
        self.wait_for(topic, |m| {
            m.iter().rev().find(|m| m.topic == topic).cloned()
        })
    }

    pub fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .unwrap();
    }
}
