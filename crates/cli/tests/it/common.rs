//! What every test of the binary needs: a clean command, a free port, a running hub.

use std::process::Command;
#[cfg(feature = "hub")]
use std::{
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

/// `hostwatch` with built-in defaults, whatever the developer's environment holds.
pub fn hostwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hostwatch"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HOSTWATCH_") {
            c.env_remove(k);
        }
    }
    c.current_dir(env!("CARGO_TARGET_TMPDIR"));
    c
}

/// `hostwatch` working on the hub data directory `data`.
#[cfg(feature = "hub")]
pub fn hostwatch_on(data: &Path) -> Command {
    let mut c = hostwatch();
    c.env("HOSTWATCH_SERVER_DATA_DIR", data);
    c
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on the loopback `port`.
#[cfg(feature = "hub")]
pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing started listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `hostwatch hub` on `data` and the loopback `port`, listening when this returns. Agents are
/// told to report every second (the hub's interval wins over theirs), so tests run quickly.
#[cfg(feature = "hub")]
pub fn start_hub(data: &Path, port: u16) -> Child {
    let child = hostwatch_on(data)
        .arg("hub")
        .env("HOSTWATCH_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOSTWATCH_INTERVAL_MIN_SECONDS", "1")
        .env("HOSTWATCH_INTERVAL_DEFAULT_SECONDS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    child
}
