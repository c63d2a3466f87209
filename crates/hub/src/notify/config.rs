//! `[notify]`: channels, routes and the timing of grouped, repeated and retried messages.
//!
//! Channels are one flat table each (`[[notify.channels]]` with a `type`), so unknown keys
//! are still errors and a key that belongs to another type is named precisely.

use crate::notice::Severity;
use hostwatch_proto::Secret;
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;
use std::time::Duration;

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    pub channels: Vec<ChannelConfig>,
    /// Evaluated in order; the first that matches decides, unless it says `continue = true`.
    pub routes: Vec<RouteConfig>,
    /// Where alerts no route matched go; unset means every channel.
    pub default_channels: Option<Vec<String>>,
    /// How alerts are put together into one message: `rule`, `severity`, `host`, or a label name.
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first message.
    #[serde(deserialize_with = "duration")]
    pub group_wait: Duration,
    /// How long after a group's last message a change to it (a new alert, a resolve) is sent.
    #[serde(deserialize_with = "duration")]
    pub group_interval: Duration,
    /// How often alerts still firing (not acknowledged or silenced) are sent again.
    #[serde(deserialize_with = "duration")]
    pub repeat_interval: Duration,
    /// Whether resolves are sent (a channel may say otherwise).
    pub send_resolved: bool,
    /// Attempts per message, the first included.
    pub retry_attempts: u32,
    /// The first retry's delay; doubled each time, with jitter, up to `retry_backoff_max`.
    #[serde(deserialize_with = "duration")]
    pub retry_backoff: Duration,
    #[serde(deserialize_with = "duration")]
    pub retry_backoff_max: Duration,
    /// One request's time limit.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// How long the delivery log keeps entries (it also keeps at most 10,000).
    pub delivery_log_days: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            channels: Vec::new(),
            routes: Vec::new(),
            default_channels: None,
            group_by: vec!["rule".into(), "severity".into()],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            send_resolved: true,
            retry_attempts: 5,
            retry_backoff: Duration::from_secs(2),
            retry_backoff_max: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            delivery_log_days: 30,
        }
    }
}

/// The kinds of channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    Telegram,
    Webhook,
    Slack,
    Discord,
    Mattermost,
    Ntfy,
    Gotify,
    Email,
}

impl ChannelType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Telegram => "telegram",
            ChannelType::Webhook => "webhook",
            ChannelType::Slack => "slack",
            ChannelType::Discord => "discord",
            ChannelType::Mattermost => "mattermost",
            ChannelType::Ntfy => "ntfy",
            ChannelType::Gotify => "gotify",
            ChannelType::Email => "email",
        }
    }
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server cannot.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all: only for a relay on the same machine.
    None,
}

/// `[[notify.channels]]`: one destination. Which keys apply depends on `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// How routes and `hostwatch notify test` name it.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// `"22:00-07:00"`: only critical alerts are sent then; the rest wait for the end.
    pub quiet_hours: Option<String>,
    /// The time zone of `quiet_hours`, e.g. `Europe/Berlin`; default the hub's own.
    pub time_zone: Option<String>,
    /// Whether the weekly digest goes here.
    #[serde(default = "yes")]
    pub digest: bool,
    /// Overrides `notify.send_resolved` for this channel.
    pub send_resolved: Option<bool>,

    // telegram
    pub bot_token: Option<Secret>,
    pub chat_id: Option<String>,
    /// The Bot API's base URL (for a local Bot API server, or tests).
    pub api_base: Option<String>,

    // webhook, slack, discord, mattermost: the URL carries the token, so it is a secret.
    pub url: Option<Secret>,
    /// webhook: the key of the `X-Hostwatch-Signature` HMAC.
    pub hmac_key: Option<Secret>,
    /// discord, mattermost: the name the messages appear under.
    pub username: Option<String>,

    // ntfy, gotify
    /// The server's base URL (ntfy default `https://ntfy.sh`).
    pub server: Option<String>,
    pub topic: Option<String>,
    /// ntfy access token or Gotify application token.
    pub token: Option<Secret>,

    // email
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub tls: Option<SmtpTls>,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    /// A PEM file of CA certificates to trust besides the system's (a private mail server).
    pub ca_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

impl ChannelConfig {
    /// A channel of `kind` named `name` with nothing else set.
    pub fn new(name: &str, kind: ChannelType) -> ChannelConfig {
        ChannelConfig {
            name: name.into(),
            kind,
            quiet_hours: None,
            time_zone: None,
            digest: true,
            send_resolved: None,
            bot_token: None,
            chat_id: None,
            api_base: None,
            url: None,
            hmac_key: None,
            username: None,
            server: None,
            topic: None,
            token: None,
            smtp_host: None,
            smtp_port: None,
            tls: None,
            smtp_username: None,
            smtp_password: None,
            from: None,
            to: Vec::new(),
            ca_file: None,
        }
    }

    /// The keys that are set, by name, for checking them against the type.
    fn set_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut add = |set: bool, key: &'static str| {
            if set {
                keys.push(key)
            }
        };
        add(self.bot_token.is_some(), "bot_token");
        add(self.chat_id.is_some(), "chat_id");
        add(self.api_base.is_some(), "api_base");
        add(self.url.is_some(), "url");
        add(self.hmac_key.is_some(), "hmac_key");
        add(self.username.is_some(), "username");
        add(self.server.is_some(), "server");
        add(self.topic.is_some(), "topic");
        add(self.token.is_some(), "token");
        add(self.smtp_host.is_some(), "smtp_host");
        add(self.smtp_port.is_some(), "smtp_port");
        add(self.tls.is_some(), "tls");
        add(self.smtp_username.is_some(), "smtp_username");
        add(self.smtp_password.is_some(), "smtp_password");
        add(self.from.is_some(), "from");
        add(!self.to.is_empty(), "to");
        add(self.ca_file.is_some(), "ca_file");
        keys
    }

    /// Which type-specific keys `kind` takes, and which of them it needs.
    fn keys_of(kind: ChannelType) -> (&'static [&'static str], &'static [&'static str]) {
        match kind {
            ChannelType::Telegram => (
                &["bot_token", "chat_id", "api_base"],
                &["bot_token", "chat_id"],
            ),
            ChannelType::Webhook => (&["url", "hmac_key"], &["url"]),
            ChannelType::Slack => (&["url"], &["url"]),
            ChannelType::Discord | ChannelType::Mattermost => (&["url", "username"], &["url"]),
            ChannelType::Ntfy => (&["server", "topic", "token"], &["topic"]),
            ChannelType::Gotify => (&["server", "token"], &["server", "token"]),
            ChannelType::Email => (
                &[
                    "smtp_host",
                    "smtp_port",
                    "tls",
                    "smtp_username",
                    "smtp_password",
                    "from",
                    "to",
                    "ca_file",
                ],
                &["smtp_host", "from", "to"],
            ),
        }
    }

    fn validate(&self, at: &str) -> Result<(), String> {
        let (allowed, required) = Self::keys_of(self.kind);
        let kind = self.kind.as_str();
        let set = self.set_keys();
        if let Some(extra) = set.iter().find(|k| !allowed.contains(k)) {
            return Err(format!(
                "key `{at}.{extra}`: not a setting of a `{kind}` channel (it takes {})",
                allowed.join(", ")
            ));
        }
        if let Some(missing) = required.iter().find(|k| !set.contains(k)) {
            return Err(format!("key `{at}.{missing}`: a `{kind}` channel needs it"));
        }
        for (key, value) in [
            ("url", self.url.as_ref().map(Secret::expose)),
            ("api_base", self.api_base.as_deref()),
            ("server", self.server.as_deref()),
        ] {
            if let Some(v) = value
                && !(v.starts_with("http://") || v.starts_with("https://"))
            {
                // The value may hold a token: never echo it.
                return Err(format!(
                    "key `{at}.{key}`: must be an http:// or https:// URL"
                ));
            }
        }
        if self.smtp_password.is_some() && self.smtp_username.is_none() {
            return Err(format!(
                "key `{at}.smtp_username`: needed with `smtp_password`"
            ));
        }
        if let Some(q) = &self.quiet_hours {
            crate::notify::quiet::QuietHours::parse(q, self.time_zone.as_deref())
                .map_err(|e| format!("key `{at}.quiet_hours`: {e}"))?;
        } else if self.time_zone.is_some() {
            return Err(format!(
                "key `{at}.time_zone`: only used with `quiet_hours`"
            ));
        }
        Ok(())
    }
}

/// `[[notify.routes]]`: which alerts go to which channels.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    /// Channel names.
    pub channels: Vec<String>,
    /// Only alerts at least this severe.
    pub min_severity: Option<Severity>,
    /// Label matchers, all of which must hold: `team="db"`, `env!="dev"`, `mount=~"/var.*"`,
    /// `mount!~"/boot.*"` (regular expressions match the whole value).
    pub matchers: Vec<String>,
    /// Only alerts about a host carrying at least one of these tags.
    pub host_tags: Vec<String>,
    /// Go on to the next routes after this one matched.
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    /// Overrides of the `[notify]` timing for the alerts this route takes.
    pub group_by: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub group_wait: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub group_interval: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub repeat_interval: Option<Duration>,
}

impl NotifyConfig {
    /// Checks what types alone cannot; the first problem, naming its key.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.channels.iter().enumerate() {
            let at = format!("notify.channels[{i}]");
            if c.name.trim().is_empty() || c.name.contains('/') {
                return Err(format!("key `{at}.name`: must be non-empty, without `/`"));
            }
            if !names.insert(c.name.as_str()) {
                return Err(format!("key `{at}.name`: `{}` is used twice", c.name));
            }
            c.validate(&at)?;
        }
        let known = |list: &[String], at: &str| -> Result<(), String> {
            match list.iter().find(|n| !names.contains(n.as_str())) {
                Some(n) => Err(format!("key `{at}`: no channel is named `{n}`")),
                None => Ok(()),
            }
        };
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("notify.routes[{i}]");
            if r.channels.is_empty() {
                return Err(format!("key `{at}.channels`: name at least one channel"));
            }
            known(&r.channels, &format!("{at}.channels"))?;
            for m in &r.matchers {
                crate::notify::routing::Matcher::parse(m)
                    .map_err(|e| format!("key `{at}.matchers`: {e}"))?;
            }
        }
        if let Some(d) = &self.default_channels {
            known(d, "notify.default_channels")?;
        }
        if self.retry_attempts == 0 {
            return Err("key `notify.retry_attempts`: at least 1".into());
        }
        if self.group_interval.is_zero() || self.repeat_interval.is_zero() {
            return Err(
                "keys `notify.group_interval` and `notify.repeat_interval`: must be positive"
                    .into(),
            );
        }
        if self.timeout.is_zero() {
            return Err("key `notify.timeout`: must be positive".into());
        }
        Ok(())
    }

    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// A duration as seconds (`30`) or text (`"30s"`, `"4h"`, `"1h 30m"`, `"500ms"`).
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Parses `"30s"`, `"4h"`, `"1h 30m"`, `"500ms"` or ISO 8601 (`"PT30S"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (like \"30s\", \"5m\", \"4h\")"))?;
    Duration::try_from(parsed).map_err(|_| format!("`{text}` is negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NotifyConfig, String> {
        #[derive(Deserialize)]
        struct Top {
            notify: NotifyConfig,
        }
        let top: Top = toml::from_str(text).map_err(|e| e.to_string())?;
        top.notify.validate()?;
        Ok(top.notify)
    }

    #[test]
    fn durations_read_as_seconds_or_text() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(14_400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        let c = parse("[notify]\ngroup_wait = 5\nrepeat_interval = \"2h\"").unwrap();
        assert_eq!(c.group_wait, Duration::from_secs(5));
        assert_eq!(c.repeat_interval, Duration::from_secs(7200));
        assert_eq!(c.group_interval, Duration::from_secs(300));
    }

    #[test]
    fn a_channel_takes_only_its_own_keys_and_needs_its_required_ones() {
        let ok = parse(
            r#"[[notify.channels]]
name = "phone"
type = "telegram"
bot_token = "123:abc"
chat_id = "42"
quiet_hours = "22:00-07:00"
time_zone = "Europe/Berlin""#,
        )
        .unwrap();
        assert_eq!(ok.channels[0].kind, ChannelType::Telegram);
        assert!(ok.channels[0].digest);

        let wrong = parse(
            "[[notify.channels]]\nname = \"s\"\ntype = \"slack\"\nurl = \"https://h/x\"\nchat_id = \"1\"",
        )
        .unwrap_err();
        assert!(wrong.contains("notify.channels[0].chat_id"), "{wrong}");
        assert!(wrong.contains("slack"), "{wrong}");

        let missing =
            parse("[[notify.channels]]\nname = \"t\"\ntype = \"telegram\"\nchat_id = \"1\"")
                .unwrap_err();
        assert!(
            missing.contains("notify.channels[0].bot_token"),
            "{missing}"
        );

        let unknown =
            parse("[[notify.channels]]\nname = \"t\"\ntype = \"carrier_pigeon\"").unwrap_err();
        assert!(unknown.contains("carrier_pigeon"), "{unknown}");
    }

    #[test]
    fn a_bad_url_is_named_without_echoing_the_secret() {
        let e = parse(
            "[[notify.channels]]\nname = \"s\"\ntype = \"slack\"\nurl = \"hooks/T000/B000/sekrit-token\"",
        )
        .unwrap_err();
        assert!(e.contains("notify.channels[0].url"), "{e}");
        assert!(!e.contains("sekrit-token"), "{e}");
    }

    #[test]
    fn routes_name_existing_channels_and_valid_matchers() {
        let base =
            "[[notify.channels]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1/h\"\n";
        assert!(
            parse(&format!(
                "{base}[[notify.routes]]\nchannels = [\"a\"]\nmatchers = ['team=\"db\"']"
            ))
            .is_ok()
        );
        let e = parse(&format!("{base}[[notify.routes]]\nchannels = [\"b\"]")).unwrap_err();
        assert!(
            e.contains("notify.routes[0].channels") && e.contains("`b`"),
            "{e}"
        );
        let e = parse(&format!(
            "{base}[[notify.routes]]\nchannels = [\"a\"]\nmatchers = ['team']"
        ))
        .unwrap_err();
        assert!(e.contains("notify.routes[0].matchers"), "{e}");
        let e = parse(&format!(
            "{base}[[notify.channels]]\nname = \"a\"\ntype = \"slack\"\nurl = \"http://x\""
        ))
        .unwrap_err();
        assert!(e.contains("used twice"), "{e}");
        let e = parse(&format!("{base}quiet_hours = \"25:00-07:00\"")).unwrap_err();
        assert!(e.contains("quiet_hours"), "{e}");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = parse(
            r#"[[notify.channels]]
name = "mail"
type = "email"
smtp_host = "127.0.0.1"
smtp_username = "me"
smtp_password = "pa55-w0rd-xyz"
from = "hub@example.org"
to = ["ops@example.org"]
[[notify.channels]]
name = "hook"
type = "webhook"
url = "https://hooks.example.org/T1/B2/tok3n-in-url"
hmac_key = "hm4c-key-abc""#,
        )
        .unwrap();
        let shown = format!("{c:?} {c:#?}");
        for secret in ["pa55-w0rd-xyz", "tok3n-in-url", "hm4c-key-abc"] {
            assert!(!shown.contains(secret), "{secret} shown");
        }
    }
}
