//! Home Assistant MQTT discovery: one device per host, one config per entity on
//! `<discovery_prefix>/<component>/hostwatch_<host>/<key>/config` (retained).
//!
//! The payload follows Home Assistant's single-component discovery schema: `unique_id`,
//! `default_entity_id` (and `object_id` for Home Assistant before 2025.10), `state_topic`,
//! `value_template`, `device_class`, `state_class`, `unit_of_measurement`, `expire_after`,
//! `availability`, `device` and `origin`.

use super::state::{Component, Entity, StateBuilder};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What every config of one host shares.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// The cleaned host name used in ids and topics.
    pub host_key: String,
    /// The host's name as it reports it.
    pub host_name: String,
    pub discovery_prefix: String,
    pub state_topic: String,
    pub availability_topic: String,
    /// Seconds after which Home Assistant marks a value unavailable if no state arrived.
    pub expire_after: u64,
    pub qos: u8,
}

/// One retained discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub topic: String,
    pub payload: String,
    pub section: &'static str,
}

/// `hostwatch_<host>`: the node id, and the prefix of every unique id.
pub fn node_id(host_key: &str) -> String {
    format!("hostwatch_{host_key}")
}

/// The discovery configs for every entity of `built`.
pub fn configs(device: &DeviceInfo, built: &StateBuilder, model: &str) -> Vec<Config> {
    let node = node_id(&device.host_key);
    let device_json = json!({
        "identifiers": [node],
        "name": device.host_name,
        "manufacturer": "hostwatch",
        "model": model,
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    let origin = json!({
        "name": "hostwatch",
        "sw_version": env!("CARGO_PKG_VERSION"),
        "support_url": env!("CARGO_PKG_REPOSITORY"),
    });
    built
        .entities
        .iter()
        .map(|e| Config {
            topic: config_topic(device, e.component, &e.key),
            payload: payload(device, e, &node, &device_json, &origin).to_string(),
            section: e.section,
        })
        .collect()
}

pub fn config_topic(device: &DeviceInfo, component: Component, key: &str) -> String {
    format!(
        "{}/{}/{}/{key}/config",
        device.discovery_prefix,
        component.as_str(),
        node_id(&device.host_key)
    )
}

fn payload(device: &DeviceInfo, e: &Entity, node: &str, dev: &Value, origin: &Value) -> Value {
    let unique_id = format!("{node}_{}", e.key);
    let mut p = json!({
        "name": e.name,
        "unique_id": unique_id,
        "object_id": unique_id,
        "default_entity_id": format!("{}.{unique_id}", e.component.as_str()),
        "state_topic": device.state_topic,
        "value_template": e.value_template(),
        "expire_after": device.expire_after,
        "availability": [{
            "topic": device.availability_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
        }],
        "qos": device.qos,
        "device": dev,
        "origin": origin,
    });
    let map = p.as_object_mut().expect("built as an object");
    let k = &e.kind;
    for (key, value) in [
        ("device_class", k.device_class),
        ("state_class", k.state_class),
        ("unit_of_measurement", k.unit),
        ("icon", k.icon),
    ] {
        if let Some(v) = value {
            map.insert(key.into(), v.into());
        }
    }
    if k.diagnostic {
        map.insert("entity_category".into(), "diagnostic".into());
    }
    if e.component == Component::BinarySensor {
        map.insert("payload_on".into(), "ON".into());
        map.insert("payload_off".into(), "OFF".into());
    }
    p
}

/// What was published, so only changes go out and vanished entities are removed.
#[derive(Debug, Default)]
pub struct Tracker {
    published: BTreeMap<String, (String, &'static str)>,
}

impl Tracker {
    /// Forget everything: the next [`Tracker::diff`] re-publishes every config (after a
    /// reconnect, or when Home Assistant comes online).
    /// Entities it knows of stay known, so one that vanished meanwhile is still removed.
    pub fn reset(&mut self) {
        for (payload, _) in self.published.values_mut() {
            payload.clear();
        }
    }

    /// The messages to publish now: new or changed configs, and an empty retained payload for
    /// each entity that vanished from a section that arrived intact (a removed mount or
    /// interface). Records them as published.
    pub fn diff(&mut self, configs: Vec<Config>, sections_ok: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let current: std::collections::HashSet<&str> =
            configs.iter().map(|c| c.topic.as_str()).collect();
        let gone: Vec<String> = self
            .published
            .iter()
            .filter(|(topic, (_, section))| {
                !current.contains(topic.as_str()) && sections_ok.contains(section)
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        for topic in gone {
            self.published.remove(&topic);
            out.push((topic, String::new()));
        }
        for c in configs {
            let same = self
                .published
                .get(&c.topic)
                .is_some_and(|(payload, _)| *payload == c.payload);
            if !same {
                out.push((c.topic.clone(), c.payload.clone()));
                self.published.insert(c.topic, (c.payload, c.section));
            }
        }
        out
    }
}
