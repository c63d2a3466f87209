//! `[mqtt]`: publishing the host's state to an MQTT broker, with Home Assistant discovery.

use hostwatch_proto::Secret;
use serde::Deserialize;
use std::path::PathBuf;

/// `[mqtt]`: off unless `url` is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker: `mqtt://host:1883`, or `mqtts://host:8883` for TLS (rustls).
    pub url: Option<String>,
    pub username: Option<String>,
    /// Never logged; prints as `[redacted]`.
    pub password: Secret,
    /// A PEM bundle of the CA(s) that signed the broker's certificate; when unset, the
    /// system's trust store is used.
    pub ca_file: Option<PathBuf>,
    /// Default `hostwatch-<host>-<random suffix>`, so two agents never kick each other off.
    pub client_id: Option<String>,
    /// Topics are `<topic_prefix>/<host>/state|availability|commands|responses`.
    pub topic_prefix: String,
    /// 0, 1 or 2.
    pub qos: u8,
    pub keep_alive_seconds: u64,
    /// At start-up, when MQTT is the only sink, how long the broker may take to accept us
    /// before the agent gives up.
    pub connect_timeout_seconds: u64,
    /// Publish Home Assistant discovery configs.
    pub discovery: bool,
    pub discovery_prefix: String,
    /// Take remote commands on `<topic_prefix>/<host>/commands` (only the `[[commands]]`
    /// whitelist and the built-in `list` can run).
    pub commands: bool,
    /// A filesystem fuller than this raises the "disk full" problem sensor.
    pub disk_full_pct: f64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: None,
            username: None,
            password: Secret::default(),
            ca_file: None,
            client_id: None,
            topic_prefix: "hostwatch".into(),
            qos: 1,
            keep_alive_seconds: 30,
            connect_timeout_seconds: 10,
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            commands: true,
            disk_full_pct: 90.0,
        }
    }
}

/// Where the broker is, parsed from `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl MqttConfig {
    pub fn is_enabled(&self) -> bool {
        self.url.is_some()
    }

    /// The broker address; `None` when MQTT is off.
    pub fn broker(&self) -> Result<Option<Broker>, String> {
        let Some(raw) = &self.url else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(raw).map_err(|e| {
            format!("key `mqtt.url`: not a URL ({e}); expected e.g. mqtt://broker.lan:1883")
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("key `mqtt.url`: must not contain a user or password; use \
                        `mqtt.username` and `mqtt.password`"
                .into());
        }
        let tls = match url.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => {
                return Err(format!(
                    "key `mqtt.url`: scheme must be mqtt:// or mqtts://, got `{other}`"
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("key `mqtt.url`: has no host")?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
        Ok(Some(Broker { host, port, tls }))
    }

    /// The checks that need no network; messages never echo the password.
    pub fn validate(&self) -> Result<(), String> {
        self.broker()?;
        if self.qos > 2 {
            return Err(format!(
                "key `mqtt.qos`: must be 0, 1 or 2, got {}",
                self.qos
            ));
        }
        if !(5..=3600).contains(&self.keep_alive_seconds) {
            return Err(format!(
                "key `mqtt.keep_alive_seconds`: must be between 5 and 3600, got {}",
                self.keep_alive_seconds
            ));
        }
        if !(1..=600).contains(&self.connect_timeout_seconds) {
            return Err(format!(
                "key `mqtt.connect_timeout_seconds`: must be between 1 and 600, got {}",
                self.connect_timeout_seconds
            ));
        }
        for (key, topic) in [
            ("mqtt.topic_prefix", &self.topic_prefix),
            ("mqtt.discovery_prefix", &self.discovery_prefix),
        ] {
            if topic.is_empty()
                || topic.starts_with('/')
                || topic.ends_with('/')
                || topic.contains(['+', '#', '\0'])
            {
                return Err(format!(
                    "key `{key}`: must be a topic without wildcards and without a leading or \
                     trailing '/', got `{topic}`"
                ));
            }
        }
        if !self.password.is_empty() && self.username.is_none() {
            return Err("key `mqtt.password`: set `mqtt.username` too".into());
        }
        if !(0.0..=100.0).contains(&self.disk_full_pct) {
            return Err(format!(
                "key `mqtt.disk_full_pct`: must be between 0 and 100, got {}",
                self.disk_full_pct
            ));
        }
        if let Some(ca) = &self.ca_file {
            super::tls::read_roots(ca).map_err(|e| format!("key `mqtt.ca_file`: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> MqttConfig {
        MqttConfig {
            url: Some(url.into()),
            ..MqttConfig::default()
        }
    }

    #[test]
    fn broker_urls() {
        let b = with_url("mqtt://broker.lan").broker().unwrap().unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.tls),
            ("broker.lan", 1883, false)
        );
        let b = with_url("mqtts://broker.lan").broker().unwrap().unwrap();
        assert_eq!((b.port, b.tls), (8883, true));
        let b = with_url("mqtt://[::1]:1999").broker().unwrap().unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 1999));
        assert_eq!(b.to_string(), "mqtt://::1:1999");
        assert!(MqttConfig::default().broker().unwrap().is_none());
        let e = with_url("http://broker.lan").validate().unwrap_err();
        assert!(e.contains("mqtt:// or mqtts://"), "{e}");
        let e = with_url("mqtt://me:hunter2@broker.lan")
            .validate()
            .unwrap_err();
        assert!(e.contains("must not contain a user"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = with_url("broker.lan:1883").validate().unwrap_err();
        assert!(e.contains("mqtt.url"), "{e}");
    }

    #[test]
    fn settings_are_checked() {
        let mut c = with_url("mqtt://127.0.0.1:1883");
        assert_eq!(c.validate(), Ok(()));
        c.qos = 3;
        assert!(c.validate().unwrap_err().contains("mqtt.qos"));
        c.qos = 1;
        c.topic_prefix = "a/#".into();
        assert!(c.validate().unwrap_err().contains("mqtt.topic_prefix"));
        c.topic_prefix = "hostwatch".into();
        c.password = Secret::new("pw");
        assert!(c.validate().unwrap_err().contains("mqtt.username"));
        c.username = Some("me".into());
        assert_eq!(c.validate(), Ok(()));
        assert!(!format!("{c:?}").contains("\"pw\""));
    }
}
