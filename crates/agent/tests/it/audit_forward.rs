//! Audit entries forwarded to the hub: a request refused over MQTT (real Mosquitto broker)
//! rides on the next report the hub sink sends, once — a report that had to be spooled and
//! retried carries the same entries, and the report after it carries none.

use crate::fakehub::{FakeHub, TOKEN};
use crate::mosquitto::{Message, Mosquitto, Watcher};
use hostwatch_agent::commands::Commands;
use hostwatch_agent::commands::config::{CommandSpec, RemoteCommandsConfig};
use hostwatch_agent::config::HubConfig;
use hostwatch_agent::runner::Runner;
use hostwatch_agent::sink::hub::{DeliveryOptions, HubClient, HubSink};
use hostwatch_agent::sink::mqtt::MqttSink;
use hostwatch_agent::sink::mqtt::config::MqttConfig;
use hostwatch_agent::spool::Spool;
use hostwatch_proto::{AgentInfo, Report, SCHEMA_VERSION, Secret, Tier};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

const HOST: &str = "web01.example.com";
const COMMANDS: &str = "hostwatch/web01_example_com/commands";
const RESPONSES: &str = "hostwatch/web01_example_com/responses";

fn report(seq: u64) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        host_id: HOST.into(),
        agent: AgentInfo {
            version: "0.0.0".into(),
            instance_id: "11111111-2222-3333-4444-555555555555".into(),
            boot_id: None,
        },
        seq,
        collected_at: jiff::Timestamp::now().as_millisecond(),
        tiers: vec![Tier::Fast],
        sections: Default::default(),
        spool: None,
        audit: Vec::new(),
        audit_dropped_total: 0,
    }
}

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
async fn a_request_refused_over_mqtt_reaches_the_hub_once_with_the_next_report() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let broker = Mosquitto::start();
    let hub = FakeHub::start().await;
    let work = tempfile::tempdir().unwrap();
    let commands = Arc::new(
        Commands::new(
            HOST,
            &[CommandSpec {
                name: "greet".into(),
                description: "Says hello".into(),
                argv: vec!["echo".into(), "hello".into()],
                params: vec![],
                timeout_seconds: 10,
                output_max_bytes: 64,
            }],
            &RemoteCommandsConfig::default(),
            Runner::default(),
            work.path().join("audit.jsonl"),
        )
        .unwrap(),
    );
    let mqtt = MqttSink::start(
        &MqttConfig {
            url: Some(broker.url()),
            ..MqttConfig::default()
        },
        HOST,
        Duration::from_secs(10),
        Some(commands.clone()),
    )
    .unwrap();
    mqtt.wait_connected(Duration::from_secs(20)).await.unwrap();
    let client = HubClient::new(&HubConfig {
        url: Some(hub.url()),
        token: Secret::new(TOKEN),
        ca_file: None,
        timeout_seconds: 5,
    })
    .unwrap();
    let spool = Arc::new(Spool::open(&work.path().join("spool"), &Default::default()).unwrap());
    let sink = HubSink::start_with_commands(
        client,
        spool,
        DeliveryOptions {
            queue: 8,
            batch_docs: 5,
            batch_bytes: 1 << 20,
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            rescan: Duration::from_millis(100),
        },
        Some(commands.clone()),
    );

    let watcher = Watcher::new(broker.port, &[RESPONSES]);
    let r = ask(
        &watcher,
        r#"{"command":"reboot","params":["now"],"request_id":"x1"}"#,
        "x1",
    );
    assert_eq!(r["ok"], false);
    let r = ask(&watcher, r#"{"command":"greet","request_id":"g1"}"#, "g1");
    assert_eq!(r["ok"], true, "{r}");

    // The first attempt fails (the hub is briefly unwell): the report is spooled and retried.
    hub.lock().script.push_back(503);
    let mut first = report(1);
    sink.attach_audit(&mut first);
    assert_eq!(first.audit.len(), 2, "{:?}", first.audit);
    sink.offer(first);
    hub.wait_for(Duration::from_secs(20), "report 1 stored", |s| {
        s.stored.len() == 1
    })
    .await;
    let mut second = report(2);
    sink.attach_audit(&mut second);
    assert!(second.audit.is_empty(), "taken by report 1");
    sink.offer(second);
    hub.wait_for(Duration::from_secs(20), "report 2 stored", |s| {
        s.stored.len() == 2
    })
    .await;

    {
        let state = hub.lock();
        let statuses: Vec<u16> = state.requests.iter().map(|r| r.status).collect();
        assert_eq!(statuses[0], 503, "{statuses:?}");
        let stored_one = state
            .stored
            .iter()
            .find(|d| d["seq"] == 1)
            .expect("report 1");
        let audit = stored_one["audit"].as_array().expect("an audit list");
        assert_eq!(audit.len(), 2, "{audit:?}");
        assert_eq!(audit[0]["origin"], "mqtt");
        assert_eq!(audit[0]["request_id"], "x1");
        assert_eq!(audit[0]["command"], "reboot");
        assert_eq!(audit[0]["params"], serde_json::json!(["now"]));
        assert_eq!(audit[0]["outcome"], "refused");
        assert!(
            audit[0]["reason"]
                .as_str()
                .unwrap()
                .contains("unknown command `reboot`")
        );
        assert_eq!(audit[1]["request_id"], "g1");
        assert_eq!(audit[1]["outcome"], "ran");
        assert_eq!(audit[1]["exit_code"], 0);
        let stored_two = state.stored.iter().find(|d| d["seq"] == 2).unwrap();
        assert!(stored_two.get("audit").is_none(), "{stored_two}");
        // Every attempt of report 1 carried the same entries; none went out twice as new entries.
        let carrying_x1: Vec<u64> = state
            .requests
            .iter()
            .flat_map(|r| r.documents.iter())
            .filter(|d| d.to_string().contains("\"x1\""))
            .map(|d| d["seq"].as_u64().unwrap())
            .collect();
        assert!(carrying_x1.iter().all(|&s| s == 1), "{carrying_x1:?}");
    }
    sink.shutdown().await;
    mqtt.shutdown().await;
}
