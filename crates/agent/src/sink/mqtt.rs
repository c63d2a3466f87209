//! The MQTT sink: the host's state for Home Assistant (and anything else on the broker).
//!
//! - `<prefix>/<host>/state`: the flat state JSON ([`state`]) every fast tick.
//! - `<prefix>/<host>/availability`: `online` (retained) once connected, `offline` as the
//!   retained last will, and on a clean stop.
//! - Home Assistant discovery ([`discovery`]) after every (re)connect, when Home Assistant
//!   announces `online` on `<discovery_prefix>/status`, and for entities that appear; an
//!   empty retained config for a mount or interface that disappeared.
//! - Remote commands on `<prefix>/<host>/commands`, answered on `<prefix>/<host>/responses`
//!   ([`crate::commands`]).
//!
//! The collection thread never waits for the broker: [`MqttSink::offer`] folds the report into
//! the latest state under a short lock, and the network task publishes the newest state when
//! it can, so a slow broker only ever sees the newest state (older ones are dropped).

pub mod config;
pub mod discovery;
pub mod state;
pub mod tls;

use crate::commands::{Commands, Origin};
use config::{Broker, MqttConfig};
use discovery::{DeviceInfo, Tracker};
use hostwatch_proto::Report;
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS, Transport};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Why the sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("{0}")]
    Config(String),
    #[error("MQTT broker {broker}: {reason}")]
    Tls { broker: Broker, reason: String },
}

/// The topics of one host.
#[derive(Debug, Clone)]
pub struct Topics {
    pub state: String,
    pub availability: String,
    pub commands: String,
    pub responses: String,
    /// `<discovery_prefix>/status`, where Home Assistant says `online` after it starts.
    pub ha_status: String,
}

impl Topics {
    pub fn new(config: &MqttConfig, host_key: &str) -> Topics {
        let base = format!("{}/{host_key}", config.topic_prefix);
        Topics {
            state: format!("{base}/state"),
            availability: format!("{base}/availability"),
            commands: format!("{base}/commands"),
            responses: format!("{base}/responses"),
            ha_status: format!("{}/status", config.discovery_prefix),
        }
    }
}

/// A running MQTT sink; [`MqttSink::shutdown`] says `offline` and disconnects.
#[derive(Debug)]
pub struct MqttSink {
    latest: watch::Sender<Option<Report>>,
    connected: watch::Receiver<bool>,
    last_error: Arc<Mutex<Option<String>>>,
    client: AsyncClient,
    topics: Topics,
    broker: Broker,
    qos: QoS,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What the network tasks share.
struct Shared {
    client: AsyncClient,
    topics: Topics,
    qos: QoS,
    device: Option<DeviceInfo>,
    disk_full_pct: f64,
    tracker: Mutex<Tracker>,
    latest: watch::Receiver<Option<Report>>,
    connected: watch::Sender<bool>,
    commands: Option<Arc<Commands>>,
}

fn qos_of(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// The longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The largest state or discovery message; the defaults (10 KiB) are too small for a host
/// with many mounts.
const MAX_PACKET: usize = 1024 * 1024;

impl MqttSink {
    /// Starts connecting in the background. `host_id` is the host's reported name; `fast` the
    /// fast tier's interval (for `expire_after`); `commands` the whitelist when remote
    /// commands are on. Needs a Tokio runtime.
    pub fn start(
        config: &MqttConfig,
        host_id: &str,
        fast: Duration,
        commands: Option<Arc<Commands>>,
    ) -> Result<MqttSink, MqttError> {
        config.validate().map_err(MqttError::Config)?;
        let broker = config
            .broker()
            .map_err(MqttError::Config)?
            .ok_or_else(|| MqttError::Config("key `mqtt.url`: not set".into()))?;
        let host_key = state::clean(host_id);
        let topics = Topics::new(config, &host_key);
        let qos = qos_of(config.qos);
        let client_id = config
            .client_id
            .clone()
            .unwrap_or_else(|| format!("hostwatch-{host_key}-{:08x}", fastrand::u32(..)));
        let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
        options
            .set_keep_alive(Duration::from_secs(config.keep_alive_seconds))
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_last_will(LastWill::new(&topics.availability, "offline", qos, true));
        if let Some(user) = &config.username {
            options.set_credentials(user.clone(), config.password.expose().to_string());
        }
        if broker.tls {
            let tls =
                tls::client_config(config.ca_file.as_deref()).map_err(|reason| MqttError::Tls {
                    broker: broker.clone(),
                    reason,
                })?;
            options.set_transport(Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls),
            ));
        }
        let (client, eventloop) = AsyncClient::new(options, 1024);
        let (latest_tx, latest_rx) = watch::channel(None);
        let (connected_tx, connected_rx) = watch::channel(false);
        let last_error = Arc::new(Mutex::new(None));
        let device = config.discovery.then(|| DeviceInfo {
            host_key: host_key.clone(),
            host_name: host_id.to_string(),
            discovery_prefix: config.discovery_prefix.clone(),
            state_topic: topics.state.clone(),
            availability_topic: topics.availability.clone(),
            expire_after: fast.as_secs().max(1) * 3,
            qos: config.qos,
        });
        let shared = Arc::new(Shared {
            client: client.clone(),
            topics: topics.clone(),
            qos,
            device,
            disk_full_pct: config.disk_full_pct,
            tracker: Mutex::new(Tracker::default()),
            latest: latest_rx.clone(),
            connected: connected_tx,
            commands: commands.filter(|_| config.commands),
        });
        let network = tokio::spawn(drive(
            eventloop,
            shared.clone(),
            broker.clone(),
            last_error.clone(),
        ));
        let publisher = tokio::spawn(publish_states(shared, latest_rx));
        Ok(MqttSink {
            latest: latest_tx,
            connected: connected_rx,
            last_error,
            client,
            topics,
            broker,
            qos,
            tasks: vec![network, publisher],
        })
    }

    /// Folds a report into the latest state; the network task publishes it. Never waits for
    /// the network.
    pub fn offer(&self, report: &Report) {
        self.latest.send_modify(|latest| match latest {
            Some(r) => r.absorb(report),
            None => *latest = Some(report.clone()),
        });
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Waits until the broker accepted the connection, at most `timeout`; `Err` carries the
    /// last connection error seen.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), String> {
        let mut rx = self.connected.clone();
        match tokio::time::timeout(timeout, rx.wait_for(|c| *c)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| "no answer".into())),
        }
    }

    /// Says `offline` (a clean disconnect does not fire the last will) and disconnects.
    pub async fn shutdown(&self) {
        if *self.connected.borrow() {
            let _ = self
                .client
                .publish(&self.topics.availability, self.qos, true, "offline")
                .await;
            let _ = self.client.disconnect().await;
            // Give the event loop a moment to flush both.
            let mut rx = self.connected.clone();
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|c| !*c)).await;
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Polls the connection: reconnects with backoff, and reacts to what arrives.
async fn drive(
    mut eventloop: EventLoop,
    shared: Arc<Shared>,
    broker: Broker,
    last_error: Arc<Mutex<Option<String>>>,
) {
    let mut backoff = Duration::from_millis(500);
    let mut failing = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if failing {
                    tracing::info!(%broker, "MQTT broker reachable again");
                } else {
                    tracing::info!(%broker, "connected to the MQTT broker");
                }
                failing = false;
                backoff = Duration::from_millis(500);
                on_connect(&shared);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => on_message(&shared, &p.topic, &p.payload),
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                shared.connected.send_replace(false);
            }
            Ok(_) => {}
            Err(e) => {
                shared.connected.send_replace(false);
                let reason = e.to_string();
                if !failing {
                    tracing::warn!(%broker, error = %reason, "MQTT broker unreachable; retrying with backoff");
                } else {
                    tracing::debug!(%broker, error = %reason, "MQTT reconnect failed");
                }
                *last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                failing = true;
                let jitter =
                    Duration::from_millis(fastrand::u64(0..=backoff.as_millis() as u64 / 4));
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// After every (re)connect: subscriptions (the session is clean), `online`, every discovery
/// config, the latest state.
fn on_connect(shared: &Shared) {
    let c = &shared.client;
    if let Some(device) = &shared.device {
        let _ = c.try_subscribe(
            format!("{}/status", device.discovery_prefix),
            QoS::AtLeastOnce,
        );
    }
    if shared.commands.is_some() {
        let _ = c.try_subscribe(&shared.topics.commands, QoS::AtLeastOnce);
    }
    try_publish(shared, &shared.topics.availability, true, "online".into());
    shared
        .tracker
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .reset();
    shared.connected.send_replace(true);
    let latest = shared.latest.borrow().clone();
    if let Some(report) = latest {
        publish_state(shared, &report);
    }
}

fn on_message(shared: &Arc<Shared>, topic: &str, payload: &[u8]) {
    if topic == shared.topics.ha_status && shared.device.is_some() {
        if payload.trim_ascii() == b"online" {
            tracing::info!("Home Assistant came online; publishing discovery again");
            shared
                .tracker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .reset();
            let latest = shared.latest.borrow().clone();
            if let Some(report) = latest {
                publish_state(shared, &report);
            }
        }
        return;
    }
    if topic == shared.topics.commands
        && let Some(commands) = shared.commands.clone()
    {
        let payload = payload.to_vec();
        let shared = shared.clone();
        tokio::spawn(async move {
            let response = commands.handle_json(&payload, Origin::Mqtt).await;
            let body = serde_json::to_vec(&response).unwrap_or_default();
            if let Err(e) = shared
                .client
                .publish(&shared.topics.responses, shared.qos, false, body)
                .await
            {
                tracing::warn!(error = %e, "cannot publish a command response");
            }
        });
    }
}

/// Publishes the newest state whenever it changes (and the broker is there).
async fn publish_states(shared: Arc<Shared>, mut latest: watch::Receiver<Option<Report>>) {
    while latest.changed().await.is_ok() {
        if !*shared.connected.borrow() {
            continue;
        }
        let report = latest.borrow_and_update().clone();
        if let Some(report) = report {
            publish_state(&shared, &report);
        }
    }
}

/// Discovery changes first (so Home Assistant knows the entities), then the state.
fn publish_state(shared: &Shared, report: &Report) {
    let built = state::build(report, shared.disk_full_pct);
    if let Some(device) = &shared.device {
        let model = report
            .sections
            .system
            .as_ref()
            .and_then(|s| s.ok())
            .and_then(|s| s.os.as_ref().map(|o| o.pretty_name.clone()))
            .unwrap_or_else(|| "Linux host".into());
        let configs = discovery::configs(device, &built, &model);
        let changes = shared
            .tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .diff(configs, &built.sections_ok);
        for (topic, payload) in changes {
            try_publish(shared, &topic, true, payload);
        }
    }
    let body = serde_json::Value::Object(built.state).to_string();
    try_publish(shared, &shared.topics.state, false, body);
}

/// Queues a message without waiting; when the queue is full (a slow broker) it is dropped.
fn try_publish(shared: &Shared, topic: &str, retain: bool, payload: String) {
    if let Err(e) = shared
        .client
        .try_publish(topic, shared.qos, retain, payload)
    {
        tracing::debug!(topic, error = %e, "MQTT message dropped");
    }
}
