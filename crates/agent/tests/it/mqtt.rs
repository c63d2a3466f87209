//! The MQTT sink and remote commands against a real Mosquitto broker: the state JSON, Home
//! Assistant discovery (every config complete, every template resolving against the state),
//! re-publication when Home Assistant comes online, removal of a vanished mount, command
//! round trips, every rejection path running nothing, the audit log, signatures, passwords,
//! and the start-up failure when the broker is the only sink and is away.

use crate::mosquitto::{Message, Mosquitto, Watcher};
use hostwatch_agent::commands::config::{CommandSpec, ParamRule, RemoteCommandsConfig};
use hostwatch_agent::commands::{Commands, signing};
use hostwatch_agent::config::AgentConfig;
use hostwatch_agent::run::{RunError, RunOptions, run};
use hostwatch_agent::runner::Runner;
use hostwatch_agent::sink::mqtt::MqttSink;
use hostwatch_agent::sink::mqtt::config::MqttConfig;
use hostwatch_agent::sink::mqtt::state::resolve_template;
use hostwatch_agent::state::StateDirCandidates;
use hostwatch_proto::{AgentInfo, Report, SCHEMA_VERSION, Secret, Tier};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn mqtt_config(broker: &Mosquitto) -> MqttConfig {
    MqttConfig {
        url: Some(broker.url()),
        ..MqttConfig::default()
    }
}

/// A report as the collectors would make it: two mounts, one interface with rates, a sensor.
fn report(mounts: &[(&str, f64)]) -> Report {
    let mounts: Vec<Value> = mounts
        .iter()
        .map(|(m, pct)| {
            json!({"mount": m, "device": "/dev/vda1", "fs_type": "ext4", "size_bytes": 1000,
                   "used_bytes": (*pct * 10.0) as u64, "free_bytes": 100, "available_bytes": 90,
                   "used_pct": pct, "inodes_total": 10, "inodes_free": 5, "read_only": false})
        })
        .collect();
    let zero = json!({"user": 0.0, "nice": 0.0, "system": 0.0, "idle": 0.0, "iowait": 0.0,
        "irq": 0.0, "softirq": 0.0, "steal": 0.0, "guest": 0.0, "guest_nice": 0.0});
    let sections = json!({
        "system": {"hostname": "web01.example.com", "os": {"id": "debian", "pretty_name": "Debian GNU/Linux 12 (bookworm)"},
                   "kernel": "6.1.0", "arch": "x86_64", "uptime_seconds": 3600.4, "boot_time": 1_700_000_000_000i64},
        "cpu": {"logical_cores": 2, "seconds": zero,
                "usage": {"user_pct": 10.0, "nice_pct": 0.0, "system_pct": 2.5, "idle_pct": 85.0, "iowait_pct": 1.0,
                          "irq_pct": 0.0, "softirq_pct": 0.0, "steal_pct": 1.5, "guest_pct": 0.0, "guest_nice_pct": 0.0, "busy_pct": 15.0}},
        "load": {"load1": 0.5, "load5": 0.25, "load15": 0.125, "tasks_runnable": 1, "tasks_total": 100},
        "memory": {"source": "host", "total_bytes": 1000, "available_bytes": 600, "used_bytes": 400, "free_bytes": 500,
                   "used_pct": 40.0, "swap_total_bytes": 100, "swap_used_bytes": 10, "swap_free_bytes": 90,
                   "swap_cached_bytes": 0, "swap_used_pct": 10.0},
        "filesystems": {"mounts": mounts},
        "network": {"interfaces": [{"name": "eth0", "rx_bytes_total": 1, "tx_bytes_total": 2, "rx_packets_total": 0,
            "tx_packets_total": 0, "rx_errors_total": 0, "tx_errors_total": 0, "rx_drops_total": 0, "tx_drops_total": 0,
            "rates": {"rx_bytes_per_sec": 1234.5, "tx_bytes_per_sec": 99.0, "rx_packets_per_sec": 0.0, "tx_packets_per_sec": 0.0,
                      "rx_errors_per_sec": 0.0, "tx_errors_per_sec": 0.0, "rx_drops_per_sec": 0.0, "tx_drops_per_sec": 0.0}}]},
        "thermal": {"sensors": [{"chip": "hwmon0", "chip_name": "coretemp", "sensor": "temp1", "label": "Package id 0", "celsius": 48.0}],
                    "zones": [], "cpu_max_celsius": 48.0},
        "containers": {"socket": "/var/run/docker.sock", "running": 3, "unhealthy": 1, "containers": [
            {"id": "a1", "name": "web", "image": "nginx", "state": "running", "status": "Up (healthy)",
             "health": {"status": "healthy", "failing_streak": 0}},
            {"id": "b2", "name": "db.main", "image": "postgres", "state": "running", "status": "Up (unhealthy)",
             "health": {"status": "unhealthy", "failing_streak": 4}},
            {"id": "c3", "name": "cron", "image": "busybox", "state": "running", "status": "Up"}]},
        "systemd": {"units": [
            {"name": "nginx.service", "load_state": "loaded", "active_state": "active", "sub_state": "running", "expected_active": true},
            {"name": "cloudflared.service", "load_state": "loaded", "active_state": "activating", "sub_state": "auto-restart", "expected_active": true},
            {"name": "apt-daily.service", "load_state": "loaded", "active_state": "inactive", "sub_state": "dead", "expected_active": false}],
            "failed_units": 2, "failed_unit_names": ["a.service", "b.service"]},
        "checks": {"checks": [
            {"name": "root_disk", "state": "warning", "exit_code": 1, "status": "DISK WARNING", "duration_seconds": 0.04, "last_run": 1_700_000_090_000i64, "consecutive_failures": 1},
            {"name": "http", "state": "ok", "exit_code": 0, "status": "HTTP OK", "duration_seconds": 0.01, "last_run": 1_700_000_090_000i64, "consecutive_failures": 0}]},
        "zfs": {"pools": [
            {"name": "rpool", "state": "DEGRADED", "read_errors": 0, "write_errors": 0, "checksum_errors": 0, "vdevs": []},
            {"name": "tank", "state": "ONLINE", "read_errors": 0, "write_errors": 0, "checksum_errors": 0, "vdevs": []}]},
        "smart": {"devices": [
            {"name": "/dev/sda", "state": "ok", "passed": true},
            {"name": "/dev/nvme0", "state": "ok", "passed": false},
            {"name": "/dev/sdb", "state": "standby"}]},
    });
    Report {
        schema_version: SCHEMA_VERSION,
        host_id: "web01.example.com".into(),
        agent: AgentInfo {
            version: "0.1.0".into(),
            instance_id: "i".into(),
            boot_id: None,
        },
        seq: 1,
        collected_at: 1_700_000_100_000,
        tiers: vec![Tier::Fast, Tier::Medium],
        sections: serde_json::from_value(sections).unwrap(),
        spool: None,
        audit: Vec::new(),
        audit_dropped_total: 0,
    }
}

const STATE: &str = "hostwatch/web01_example_com/state";
const AVAILABILITY: &str = "hostwatch/web01_example_com/availability";
const NODE: &str = "hostwatch_web01_example_com";

fn configs(messages: &[Message]) -> Vec<Message> {
    messages
        .iter()
        .filter(|m| m.topic.starts_with("homeassistant/") && m.topic.ends_with("/config"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_availability_and_discovery_that_matches_the_state() {
    init();
    let broker = Mosquitto::start();
    let watcher = Watcher::new(broker.port, &["hostwatch/#", "homeassistant/#"]);
    let sink = MqttSink::start(
        &mqtt_config(&broker),
        "web01.example.com",
        Duration::from_secs(10),
        None,
    )
    .unwrap();
    sink.wait_connected(Duration::from_secs(20)).await.unwrap();
    sink.offer(&report(&[("/", 40.0), ("/srv/data", 95.5)]));

    let state = watcher.last_on(STATE).json();
    assert_eq!(state["host"], "web01.example.com");
    assert_eq!(state["cpu_pct"], 15.0);
    assert_eq!(state["cpu_steal_pct"], 1.5);
    assert_eq!(state["load15"], 0.125);
    assert_eq!(state["memory_used_pct"], 40.0);
    assert_eq!(state["swap_used_bytes"], 10);
    assert_eq!(state["boot_time"], "2023-11-14T22:13:20Z");
    assert_eq!(state["filesystems"]["root"]["used_pct"], 40.0);
    assert_eq!(state["filesystems"]["srv_data"]["mount"], "/srv/data");
    assert_eq!(state["filesystems"]["srv_data"]["free_bytes"], 90);
    assert_eq!(state["interfaces"]["eth0"]["rx_bytes_per_sec"], 1234.5);
    assert_eq!(state["temperatures"]["coretemp_temp1"]["celsius"], 48.0);
    assert_eq!(state["problem_disk_full"], "ON", "/srv/data is over 90 %");
    assert_eq!(state["problem_section_errors"], "OFF");
    assert_eq!(state["containers_running"], 3);
    assert_eq!(state["containers_unhealthy"], 1);
    assert_eq!(state["containers"]["web"]["unhealthy"], "OFF");
    assert_eq!(state["containers"]["db_main"]["unhealthy"], "ON");
    assert_eq!(state["containers"]["db_main"]["name"], "db.main");
    assert!(
        state["containers"].get("cron").is_none(),
        "no health check, no health entity"
    );
    assert_eq!(state["failed_units"], 2);
    assert_eq!(state["units"]["nginx_service"]["inactive"], "OFF");
    assert_eq!(state["units"]["cloudflared_service"]["inactive"], "ON");
    assert!(state["units"].get("apt-daily_service").is_none());
    assert_eq!(state["checks"]["root_disk"]["state"], "WARNING");
    assert_eq!(state["checks"]["http"]["state"], "OK");
    assert_eq!(state["checks_not_ok"], 1);
    assert_eq!(state["zfs_pools"]["rpool"]["unhealthy"], "ON");
    assert_eq!(state["zfs_pools"]["tank"]["unhealthy"], "OFF");
    assert_eq!(state["disks_smart"]["sda"]["failing"], "OFF");
    assert_eq!(state["disks_smart"]["nvme0"]["failing"], "ON");
    assert_eq!(
        state["disks_smart"]["sdb"]["failing"], "OFF",
        "a sleeping disk has no verdict"
    );

    let online = watcher.last_on(AVAILABILITY);
    assert_eq!(online.text(), "online");

    // Every entity the state offers has a config; wait until the set is complete.
    let expected_keys = [
        "cpu_pct",
        "cpu_steal_pct",
        "cpu_iowait_pct",
        "memory_used_bytes",
        "memory_available_bytes",
        "swap_used_pct",
        "load1",
        "load5",
        "load15",
        "memory_used_pct",
        "swap_used_bytes",
        "uptime_seconds",
        "boot_time",
        "cpu_temp_celsius",
        "filesystems_root_used_pct",
        "filesystems_root_free_bytes",
        "filesystems_srv_data_used_pct",
        "filesystems_srv_data_free_bytes",
        "interfaces_eth0_rx_bytes_per_sec",
        "interfaces_eth0_tx_bytes_per_sec",
        "temperatures_coretemp_temp1_celsius",
        "problem_disk_full",
        "problem_section_errors",
        "containers_running",
        "containers_unhealthy",
        "containers_web_unhealthy",
        "containers_db_main_unhealthy",
        "failed_units",
        "units_nginx_service_inactive",
        "units_cloudflared_service_inactive",
        "checks_root_disk_state",
        "checks_http_state",
        "checks_not_ok",
        "zfs_pools_rpool_unhealthy",
        "zfs_pools_tank_unhealthy",
        "disks_smart_sda_failing",
        "disks_smart_nvme0_failing",
        "disks_smart_sdb_failing",
    ];
    let all = watcher.wait_for("every discovery config", |m| {
        let c = configs(m);
        expected_keys
            .iter()
            .all(|k| c.iter().any(|m| m.topic.ends_with(&format!("/{k}/config"))))
            .then_some(c)
    });
    assert_eq!(
        all.len(),
        expected_keys.len(),
        "one config per entity, no more"
    );
    // A subscriber arriving later (Home Assistant starting) gets every config, retained.
    let late = Watcher::new(broker.port, &["homeassistant/#"]);
    let retained = late.wait_for("retained configs", |m| {
        (configs(m).len() >= all.len()).then(|| configs(m))
    });
    assert!(retained.iter().all(|m| m.retain), "{retained:?}");
    for m in &all {
        let c = m.json();
        let component = m.topic.split('/').nth(1).unwrap();
        assert!(
            ["sensor", "binary_sensor"].contains(&component),
            "{}",
            m.topic
        );
        assert_eq!(m.topic.split('/').nth(2).unwrap(), NODE);
        for key in [
            "name",
            "unique_id",
            "default_entity_id",
            "object_id",
            "state_topic",
            "value_template",
            "expire_after",
            "availability",
            "device",
            "origin",
        ] {
            assert!(c.get(key).is_some(), "{} lacks {key}: {c}", m.topic);
        }
        let uid = c["unique_id"].as_str().unwrap();
        assert!(uid.starts_with(NODE), "{uid}");
        assert_eq!(c["default_entity_id"], format!("{component}.{uid}"));
        assert_eq!(c["state_topic"], STATE);
        assert_eq!(c["expire_after"], 30);
        assert_eq!(c["availability"][0]["topic"], AVAILABILITY);
        assert_eq!(c["device"]["identifiers"][0], NODE);
        assert_eq!(c["device"]["manufacturer"], "hostwatch");
        assert_eq!(c["device"]["model"], "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(c["device"]["name"], "web01.example.com");
        assert_eq!(c["origin"]["name"], "hostwatch");
        let template = c["value_template"].as_str().unwrap();
        let value = resolve_template(template, &state)
            .unwrap_or_else(|| panic!("{}: {template} does not resolve in {state}", m.topic));
        match component {
            "binary_sensor" => {
                assert_eq!(c["device_class"], "problem");
                assert!(value == "ON" || value == "OFF", "{value}");
                assert_eq!(
                    (c["payload_on"].as_str(), c["payload_off"].as_str()),
                    (Some("ON"), Some("OFF"))
                );
            }
            _ if c["device_class"] == "timestamp" => {
                assert!(
                    c.get("state_class").is_none(),
                    "timestamps have no state class"
                );
                assert!(
                    value.as_str().unwrap().parse::<jiff::Timestamp>().is_ok(),
                    "{value}"
                );
            }
            _ if m.topic.contains("/checks_") && m.topic.ends_with("_state/config") => {
                assert!(
                    ["OK", "WARNING", "CRITICAL", "UNKNOWN"].contains(&value.as_str().unwrap()),
                    "{}: {value}",
                    m.topic
                );
                assert!(c.get("state_class").is_none(), "a text state: {c}");
            }
            _ => assert!(value.is_number(), "{}: {value}", m.topic),
        }
    }
    let pool = all
        .iter()
        .find(|m| m.topic.ends_with("/zfs_pools_rpool_unhealthy/config"))
        .unwrap();
    assert!(
        pool.topic.starts_with("homeassistant/binary_sensor/"),
        "{}",
        pool.topic
    );
    assert_eq!(
        pool.json()["value_template"],
        "{{ value_json['zfs_pools']['rpool']['unhealthy'] }}"
    );
    let check = all
        .iter()
        .find(|m| m.topic.ends_with("/checks_root_disk_state/config"))
        .unwrap()
        .json();
    assert_eq!(check["name"], "Check root_disk");
    assert_eq!(
        resolve_template(check["value_template"].as_str().unwrap(), &state),
        Some(&json!("WARNING"))
    );
    let cpu = all
        .iter()
        .find(|m| m.topic.ends_with("/cpu_pct/config"))
        .unwrap()
        .json();
    assert_eq!(
        (
            cpu["unit_of_measurement"].as_str(),
            cpu["state_class"].as_str()
        ),
        (Some("%"), Some("measurement"))
    );
    let rx = all
        .iter()
        .find(|m| {
            m.topic
                .ends_with("/interfaces_eth0_rx_bytes_per_sec/config")
        })
        .unwrap()
        .json();
    assert_eq!(rx["device_class"], "data_rate");
    assert_eq!(
        rx["value_template"],
        "{{ value_json['interfaces']['eth0']['rx_bytes_per_sec'] }}"
    );

    // The same state again publishes no config again.
    watcher.clear();
    sink.offer(&report(&[("/", 41.0), ("/srv/data", 95.5)]));
    let state = watcher.last_on(STATE).json();
    assert_eq!(state["filesystems"]["root"]["used_pct"], 41.0);
    assert!(
        configs(&watcher.messages()).is_empty(),
        "unchanged configs were re-sent"
    );

    // /srv/data is unmounted: its two entities are removed with an empty retained config.
    watcher.clear();
    sink.offer(&report(&[("/", 41.0)]));
    let removed = watcher.wait_for("removal of /srv/data", |m| {
        let gone: Vec<Message> = configs(m)
            .into_iter()
            .filter(|c| c.topic.contains("srv_data"))
            .collect();
        (gone.len() == 2).then_some(gone)
    });
    for m in &removed {
        assert!(m.payload.is_empty(), "{m:?}");
    }
    // Empty retained payloads: the broker keeps nothing for them any more.
    let late = Watcher::new(broker.port, &["homeassistant/#"]);
    let retained = late.wait_for("retained configs", |m| {
        (configs(m).len() >= expected_keys.len() - 2).then(|| configs(m))
    });
    assert!(
        !retained.iter().any(|m| m.topic.contains("srv_data")),
        "{retained:?}"
    );
    assert_eq!(retained.len(), expected_keys.len() - 2);
    let state = watcher.last_on(STATE).json();
    assert!(state["filesystems"].get("srv_data").is_none());
    assert_eq!(state["problem_disk_full"], "OFF");
    assert!(
        !configs(&watcher.messages())
            .iter()
            .any(|m| m.topic.contains("filesystems_root")),
        "the remaining mount was not touched"
    );

    // Home Assistant restarts and says so: every config comes again.
    watcher.clear();
    watcher.publish("homeassistant/status", "online", false);
    let again = watcher.wait_for("discovery after HA online", |m| {
        let c = configs(m);
        (c.iter().filter(|m| !m.payload.is_empty()).count() >= expected_keys.len() - 2).then_some(c)
    });
    assert!(again.iter().any(|m| m.topic.ends_with("/cpu_pct/config")));
    assert!(
        !again.iter().any(|m| m.topic.contains("srv_data")),
        "removed stays removed"
    );

    // A clean stop says offline.
    sink.shutdown().await;
    assert_eq!(watcher.last_on(AVAILABILITY).text(), "offline");
}

/// A directory and a `mark` command that creates `marker-<param>` in it: what a rejected
/// request must never do.
fn marker_commands(dir: &Path) -> Vec<CommandSpec> {
    vec![
        CommandSpec {
            name: "mark".into(),
            description: "Creates a marker file".into(),
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "touch \"$1/marker-$2\"".into(),
                "sh".into(),
                dir.display().to_string(),
            ],
            params: vec![ParamRule {
                choices: None,
                regex: Some("[a-z]{1,8}".into()),
            }],
            timeout_seconds: 10,
            output_max_bytes: 1024,
        },
        CommandSpec {
            name: "greet".into(),
            description: "Says hello".into(),
            argv: vec!["echo".into(), "hello".into()],
            params: vec![ParamRule {
                choices: Some(vec!["world".into(), "there".into()]),
                regex: None,
            }],
            timeout_seconds: 10,
            output_max_bytes: 8,
        },
    ]
}

fn markers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("marker-"))
        .collect();
    names.sort();
    names
}

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const COMMANDS: &str = "hostwatch/web01_example_com/commands";
const RESPONSES: &str = "hostwatch/web01_example_com/responses";

/// Sends a request and waits for the response carrying `id`.
fn ask(watcher: &Watcher, request: &str, id: &str) -> Value {
    watcher.publish(COMMANDS, request, false);
    watcher.wait_for(&format!("response {id}"), |m| {
        m.iter()
            .filter(|m| m.topic == RESPONSES)
            .map(Message::json)
            .find(|r| r["request_id"] == id)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_round_trip_and_every_rejection_runs_nothing() {
    init();
    let broker = Mosquitto::start();
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("state/audit.jsonl");
    let commands = Commands::new(
        "web01.example.com",
        &marker_commands(work.path()),
        &RemoteCommandsConfig::default(),
        Runner::default(),
        audit.clone(),
    )
    .unwrap();
    let sink = MqttSink::start(
        &mqtt_config(&broker),
        "web01.example.com",
        Duration::from_secs(10),
        Some(Arc::new(commands)),
    )
    .unwrap();
    sink.wait_connected(Duration::from_secs(20)).await.unwrap();
    let watcher = Watcher::new(broker.port, &[RESPONSES]);

    let r = ask(&watcher, r#"{"command":"list","request_id":"l1"}"#, "l1");
    assert_eq!(r["ok"], true);
    assert_eq!(r["commands"][0]["name"], "mark");
    assert_eq!(r["commands"][0]["params"][0]["regex"], "[a-z]{1,8}");
    assert_eq!(
        r["commands"][1]["params"][0]["choices"],
        json!(["world", "there"])
    );

    // Every rejection: an error response, nothing run.
    let rejections = [
        (
            r#"{"command":"reboot","params":[],"request_id":"x1"}"#,
            "x1",
            "unknown command `reboot`",
        ),
        (
            r#"{"command":"mark","params":["../etc"],"request_id":"x2"}"#,
            "x2",
            "must be matching `[a-z]{1,8}`",
        ),
        (
            r#"{"command":"mark","params":["abcdefghij"],"request_id":"x3"}"#,
            "x3",
            "must be matching",
        ),
        (
            r#"{"command":"mark","params":["a","b"],"request_id":"x4"}"#,
            "x4",
            "takes 1 parameter(s), got 2",
        ),
        (
            r#"{"command":"mark","params":[],"request_id":"x5"}"#,
            "x5",
            "takes 1 parameter(s), got 0",
        ),
        (
            r#"{"command":"mark","params":["a;b"],"request_id":"x6"}"#,
            "x6",
            "must be matching",
        ),
        (
            r#"{"command":"greet","params":["everyone"],"request_id":"x7"}"#,
            "x7",
            "must be one of",
        ),
        (
            r#"{"command":"mark","params":["ok"],"request_id":"x8","shell":true}"#,
            "x8",
            "malformed request",
        ),
        (
            r#"{"command":"mark","params":"ok","request_id":"x9"}"#,
            "x9",
            "malformed request",
        ),
    ];
    for (request, id, why) in rejections {
        let r = ask(&watcher, request, id);
        assert_eq!(r["ok"], false, "{request}: {r}");
        let error = r["error"].as_str().unwrap();
        assert!(error.contains(why), "{request}: {error}");
        assert!(r.get("exit_code").is_none(), "{request} ran: {r}");
    }
    // Not even JSON: answered with an empty request id.
    watcher.publish(COMMANDS, "reboot now", false);
    let r = watcher.wait_for("answer to garbage", |m| {
        m.iter()
            .filter(|m| m.topic == RESPONSES)
            .map(Message::json)
            .find(|r| r["request_id"] == "")
    });
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed request"),
        "{r}"
    );
    assert!(markers(work.path()).is_empty(), "a rejected request ran");

    // The round trip: it runs, through the runner, and the output is capped.
    let r = ask(
        &watcher,
        r#"{"command":"mark","params":["yes"],"request_id":"ok1"}"#,
        "ok1",
    );
    assert_eq!(
        (r["ok"].as_bool(), r["exit_code"].as_i64()),
        (Some(true), Some(0)),
        "{r}"
    );
    assert!(r["duration_ms"].is_u64());
    assert_eq!(markers(work.path()), ["marker-yes"]);
    let r = ask(
        &watcher,
        r#"{"command":"greet","params":["world"],"request_id":"ok2"}"#,
        "ok2",
    );
    assert_eq!(r["output"], "hello wo", "capped at 8 bytes: {r}");
    assert_eq!(r["truncated"], true);

    let lines = audit_lines(&audit);
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["request_id"] == id)
            .unwrap_or_else(|| panic!("{id} not audited: {lines:?}"))
    };
    for (_, id, _) in rejections {
        let l = by_id(id);
        assert_eq!(
            (l["result"].as_str(), l["origin"].as_str()),
            (Some("rejected"), Some("mqtt")),
            "{l}"
        );
        assert!(l["error"].is_string() && l["time"].is_string());
    }
    assert_eq!(by_id("x2")["params"], json!(["../etc"]));
    assert_eq!(by_id("ok1")["result"], "ok");
    assert_eq!(by_id("ok1")["exit_code"], 0);
    assert_eq!(by_id("l1")["command"], "list");
    assert_eq!(lines.len(), 1 + rejections.len() + 1 + 2, "{lines:?}");
    sink.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_trusted_keys_only_signed_fresh_unseen_requests_run() {
    init();
    let broker = Mosquitto::start();
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("audit.jsonl");
    let (private, public) = signing::generate_keypair();
    let (stranger, _) = signing::generate_keypair();
    let remote = RemoteCommandsConfig {
        trusted_keys: vec![public],
        ..RemoteCommandsConfig::default()
    };
    let commands = Commands::new(
        "web01.example.com",
        &marker_commands(work.path()),
        &remote,
        Runner::default(),
        audit.clone(),
    )
    .unwrap();
    let sink = MqttSink::start(
        &mqtt_config(&broker),
        "web01.example.com",
        Duration::from_secs(10),
        Some(Arc::new(commands)),
    )
    .unwrap();
    sink.wait_connected(Duration::from_secs(20)).await.unwrap();
    let watcher = Watcher::new(broker.port, &[RESPONSES]);

    let later = jiff::Timestamp::now().as_millisecond() + 600_000;
    let signed = |key: &str, host: &str, id: &str, expires: i64, param: &str| {
        let params = vec![param.to_string()];
        let sig = signing::sign(
            key,
            &signing::signed_message(host, id, expires, "mark", &params),
        )
        .unwrap();
        json!({"command": "mark", "params": params, "request_id": id, "expires_at": expires, "signature": sig}).to_string()
    };
    let cases = [
        (
            json!({"command": "mark", "params": ["a"], "request_id": "u1"}).to_string(),
            "u1",
            "unsigned request",
        ),
        (
            signed(&stranger, "web01.example.com", "s1", later, "b"),
            "s1",
            "bad signature",
        ),
        (
            signed(&private, "other-host", "s2", later, "c"),
            "s2",
            "bad signature",
        ),
        // Signed for "d", sent with "e".
        (
            signed(&private, "web01.example.com", "s3", later, "d").replace("\"d\"", "\"e\""),
            "s3",
            "bad signature",
        ),
        (
            signed(&private, "web01.example.com", "s4", 1_000, "f"),
            "s4",
            "expired",
        ),
    ];
    for (request, id, why) in &cases {
        let r = ask(&watcher, request, id);
        assert_eq!(r["ok"], false);
        assert!(r["error"].as_str().unwrap().contains(why), "{id}: {r}");
    }
    assert!(markers(work.path()).is_empty(), "a refused request ran");
    let good = signed(&private, "web01.example.com", "g1", later, "good");
    let r = ask(&watcher, &good, "g1");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(markers(work.path()), ["marker-good"]);
    std::fs::remove_file(work.path().join("marker-good")).unwrap();
    // The same signed request again is a replay.
    watcher.clear();
    let r = ask(&watcher, &good, "g1");
    assert!(r["error"].as_str().unwrap().contains("replayed"), "{r}");
    assert!(markers(work.path()).is_empty());
    // `list` needs no signature.
    assert_eq!(
        ask(&watcher, r#"{"command":"list","request_id":"l"}"#, "l")["ok"],
        true
    );

    let lines = audit_lines(&audit);
    for (_, id, _) in &cases {
        assert!(
            lines
                .iter()
                .any(|l| l["request_id"] == *id && l["result"] == "rejected"),
            "{id}: {lines:?}"
        );
    }
    let g1: Vec<&str> = lines
        .iter()
        .filter(|l| l["request_id"] == "g1")
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    assert_eq!(g1, ["ok", "rejected"]);
    sink.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_protected_broker_needs_the_password() {
    init();
    let broker = Mosquitto::start_with_password("agent", "s3cret-pw");
    let mut config = mqtt_config(&broker);
    config.username = Some("agent".into());
    config.password = Secret::new("wrong");
    let sink = MqttSink::start(&config, "h", Duration::from_secs(10), None).unwrap();
    let error = sink
        .wait_connected(Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(
        error.to_lowercase().contains("not authorized")
            || error.contains("BadUserNamePassword")
            || error.contains("NotAuthorized"),
        "{error}"
    );
    sink.shutdown().await;

    config.password = Secret::new("s3cret-pw");
    assert!(!format!("{config:?}").contains("s3cret"));
    let watcher = Watcher::with_login(broker.port, &["hostwatch/#"], Some(("agent", "s3cret-pw")));
    let sink = MqttSink::start(&config, "h", Duration::from_secs(10), None).unwrap();
    sink.wait_connected(Duration::from_secs(20)).await.unwrap();
    assert_eq!(watcher.last_on("hostwatch/h/availability").text(), "online");
    sink.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_as_the_only_sink_with_no_broker_stops_the_agent_with_one_clear_error() {
    init();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = AgentConfig::default();
    config.agent.state_dir = Some(dir.path().to_path_buf());
    config.tiers.fast = 1;
    config.mqtt.url = Some(format!("mqtt://127.0.0.1:{port}"));
    config.mqtt.connect_timeout_seconds = 1;
    let options = RunOptions {
        state_dirs: Some(StateDirCandidates {
            system: "/nonexistent/hostwatch".into(),
            xdg_state_home: None,
            home: None,
        }),
        ..RunOptions::default()
    };
    let e = run(config, options, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::MqttUnreachable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&format!("mqtt://127.0.0.1:{port}")), "{text}");
    assert!(
        text.contains("within 1 s") && text.contains("only sink"),
        "{text}"
    );
}

/// A CA (PEM) and a server certificate for `localhost` it signed, with its key (PEM).
fn broker_pki() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "hostwatch test broker CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    (ca_cert.pem(), server.pem(), server_key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_with_a_private_ca_delivers_the_state_and_refuses_an_unknown_ca() {
    init();
    let (ca_pem, cert_pem, key_pem) = broker_pki();
    let broker = Mosquitto::start_tls(&cert_pem, &key_pem);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();

    // Another CA: the broker's certificate is not trusted, so it never connects.
    let (other_ca, _, _) = broker_pki();
    let other_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_file, &other_ca).unwrap();
    let untrusting = MqttSink::start(
        &MqttConfig {
            url: Some(broker.tls_url()),
            ca_file: Some(other_file),
            ..MqttConfig::default()
        },
        "web01.example.com",
        Duration::from_secs(10),
        None,
    )
    .unwrap();
    let error = untrusting
        .wait_connected(Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(
        error.to_lowercase().contains("certificate") || error.contains("UnknownIssuer"),
        "{error}"
    );
    untrusting.shutdown().await;

    let sink = MqttSink::start(
        &MqttConfig {
            url: Some(broker.tls_url()),
            ca_file: Some(ca_file),
            ..MqttConfig::default()
        },
        "web01.example.com",
        Duration::from_secs(10),
        None,
    )
    .unwrap();
    sink.wait_connected(Duration::from_secs(20)).await.unwrap();
    // Read back over the same TLS listener; the state is not retained, so keep ticking until
    // the subscriber (connecting meanwhile) gets one.
    let port = broker.port;
    let reader = tokio::task::spawn_blocking(move || tls_subscribe(port, &ca_pem, STATE));
    while !reader.is_finished() {
        sink.offer(&report(&[("/", 40.0)]));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let state = reader.await.unwrap();
    assert_eq!(state["host"], "web01.example.com");
    assert_eq!(state["filesystems"]["root"]["used_pct"], 40.0);
    sink.shutdown().await;
}

/// The retained or next message on `topic`, read over TLS with `ca_pem` trusted.
fn tls_subscribe(port: u16, ca_pem: &str, topic: &str) -> Value {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
    use rustls::pki_types::pem::PemObject;
    let mut options = MqttOptions::new("tls-watcher", "localhost", port);
    // Pings keep events coming, so the deadline below is checked even if nothing arrives.
    options.set_keep_alive(Duration::from_secs(5));
    options.set_max_packet_size(1 << 20, 1 << 20);
    let roots = {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        roots
    };
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    options.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(config))));
    let (client, mut connection) = Client::new(options, 16);
    client.subscribe(topic, QoS::AtLeastOnce).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for event in connection.iter() {
        assert!(std::time::Instant::now() < deadline, "no state over TLS");
        match event {
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == topic => {
                return serde_json::from_slice(&p.payload).unwrap();
            }
            Ok(_) => {}
            Err(e) => panic!("TLS subscriber: {e}"),
        }
    }
    panic!("the subscriber's connection ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_broker_restart_the_agent_reconnects_and_republishes_availability_and_discovery() {
    init();
    let mut broker = Mosquitto::start();
    let sink = MqttSink::start(
        &mqtt_config(&broker),
        "web01.example.com",
        Duration::from_secs(10),
        None,
    )
    .unwrap();
    sink.wait_connected(Duration::from_secs(20)).await.unwrap();
    sink.offer(&report(&[("/", 40.0)]));
    let before = Watcher::new(broker.port, &["hostwatch/#", "homeassistant/#"]);
    let first = before.wait_for("discovery", |m| {
        let c = configs(m);
        (c.len() >= 20).then_some(c.len())
    });

    // The broker dies and comes back empty (no persistence): nothing retained survives.
    broker.restart();
    let after = Watcher::new(broker.port, &["hostwatch/#", "homeassistant/#"]);
    // Whatever arrives retained now, the agent published after it reconnected.
    after.wait_for("availability online", |m| {
        m.iter()
            .any(|m| m.topic == AVAILABILITY && m.text() == "online")
            .then_some(())
    });
    let again = after.wait_for("every discovery config again", |m| {
        let c: Vec<Message> = configs(m)
            .into_iter()
            .filter(|m| !m.payload.is_empty())
            .collect();
        (c.len() >= first).then_some(c)
    });
    assert!(again.iter().any(|m| m.topic.ends_with("/cpu_pct/config")));
    // A subscriber that comes later still finds them retained on the new broker.
    let late = Watcher::new(
        broker.port,
        &["homeassistant/#", "hostwatch/+/availability"],
    );
    let retained = late.wait_for("retained after the restart", |m| {
        (configs(m).len() >= first && m.iter().any(|m| m.topic == AVAILABILITY)).then(|| m.to_vec())
    });
    assert!(retained.iter().all(|m| m.retain), "{retained:?}");
    assert_eq!(
        retained
            .iter()
            .find(|m| m.topic == AVAILABILITY)
            .unwrap()
            .text(),
        "online"
    );
    // The state flows again on the next tick.
    sink.offer(&report(&[("/", 42.0)]));
    after.wait_for("the next state", |m| {
        m.iter()
            .any(|m| m.topic == STATE && m.json()["filesystems"]["root"]["used_pct"] == 42.0)
            .then_some(())
    });
    sink.shutdown().await;
}
