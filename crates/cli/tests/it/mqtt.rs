//! The real binary with MQTT: the broker's last will says `offline` when the agent is
//! SIGKILLed; an MQTT-only agent without a broker exits non-zero with one clear line;
//! `hostwatch keys generate` prints a usable keypair.

use crate::common::{free_port, hostwatch};
use crate::mosquitto::{Mosquitto, Watcher};
use std::process::Stdio;

#[test]
fn the_last_will_says_offline_when_the_agent_is_killed() {
    let broker = Mosquitto::start();
    let state = tempfile::tempdir().unwrap();
    let watcher = Watcher::new(broker.port, &["hostwatch/#"]);
    let mut child = hostwatch()
        .args(["agent"])
        .env("HOSTWATCH_MQTT_URL", broker.url())
        .env("HOSTWATCH_AGENT_HOST_ID", "killed-host")
        .env("HOSTWATCH_AGENT_STATE_DIR", state.path())
        .env("HOSTWATCH_TIERS_FAST", "1")
        .env("HOSTWATCH_PROCESSES_ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(
        watcher.last_on("hostwatch/killed-host/availability").text(),
        "online"
    );
    let state_doc = watcher.last_on("hostwatch/killed-host/state").json();
    assert_eq!(state_doc["host"], "killed-host");
    assert!(state_doc["load1"].is_number(), "{state_doc}");
    watcher.clear();
    child.kill().unwrap(); // SIGKILL: no goodbye, only the broker's last will.
    child.wait().unwrap();
    let will = watcher.last_on("hostwatch/killed-host/availability");
    assert_eq!(will.text(), "offline");
    // Retained, so Home Assistant starting later sees the host as unavailable.
    let late = Watcher::new(broker.port, &["hostwatch/killed-host/availability"]);
    let m = late.last_on("hostwatch/killed-host/availability");
    assert!(m.retain && m.text() == "offline", "{m:?}");
}

#[test]
fn an_mqtt_only_agent_without_its_broker_exits_with_one_clear_message() {
    let port = free_port();
    let state = tempfile::tempdir().unwrap();
    let out = hostwatch()
        .args(["agent"])
        .env("HOSTWATCH_MQTT_URL", format!("mqtt://127.0.0.1:{port}"))
        .env("HOSTWATCH_MQTT_CONNECT_TIMEOUT_SECONDS", "1")
        .env("HOSTWATCH_AGENT_STATE_DIR", state.path())
        .env("HOSTWATCH_LOG_LEVEL", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "hostwatch: cannot reach the MQTT broker mqtt://127.0.0.1:{port} within 1 s"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn keys_generate_prints_a_keypair_the_agent_accepts() {
    let out = hostwatch().args(["keys", "generate"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split('"').nth(1))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_string()
    };
    let (private, public) = (value("private_key"), value("public_key"));
    assert_ne!(private, public);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!("[remote]\ntrusted_keys = [\"{public}\"]\n"),
    )
    .unwrap();
    let ok = hostwatch()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    std::fs::write(&config, "[remote]\ntrusted_keys = [\"bm90IGEga2V5\"]\n").unwrap();
    let bad = hostwatch()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("remote.trusted_keys[0]"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
