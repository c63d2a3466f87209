//! The hub's configuration: typed, with a default for every setting that works on one machine.

use hostwatch_config::{ConfigError, Origin, Sources};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the hub can be told. Unknown keys are errors.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    pub server: ServerSettings,
    pub interval: IntervalConfig,
    pub ingest: IngestConfig,
    pub retention: RetentionConfig,
    /// `[alerts]`: evaluation, built-in rule tuning, overrides, user rules (docs/alerts.md).
    pub alerts: crate::alert::AlertsConfig,
    pub trend: crate::trend::TrendConfig,
    pub score: crate::score::ScoreConfig,
    pub digest: crate::digest::DigestConfig,
    /// `[notify]`: notification channels, routes and timing.
    pub notify: crate::notify::NotifyConfig,
    /// `[commands]`: the key that signs remote commands for agents.
    pub commands: crate::commands::CommandsConfig,
}

/// `[server]`: the hub's own listener and storage. (An agent's `[hub]` section says where its
/// hub is; the names differ so one environment can configure both in `hostwatch up`.)
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Where the API (and later the dashboard) listens.
    pub listen: SocketAddr,
    /// Where the database lives; default `/var/lib/hostwatch/hub` when writable, else
    /// `$XDG_DATA_HOME/hostwatch/hub` or `~/.local/share/hostwatch/hub`.
    pub data_dir: Option<PathBuf>,
    /// The URL agents reach the hub at, printed in enrolment snippets; default `http://<listen>`.
    pub public_url: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8300".parse().expect("a valid address"),
            data_dir: None,
            public_url: None,
        }
    }
}

impl ServerSettings {
    /// The URL agents should use.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

/// `[interval]`: the fast-tier interval agents are told to use, in seconds.
///
/// The bounds keep a misconfigured host from flooding the hub (`min`) or from looking dead
/// for an hour between reports (`max`); seed 001's [60, 3600] was for a slow report, while
/// hostwatch's fast tier carries live CPU and memory, so the floor is lower.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntervalConfig {
    pub default_seconds: u32,
    pub min_seconds: u32,
    pub max_seconds: u32,
}

impl Default for IntervalConfig {
    fn default() -> Self {
        IntervalConfig {
            default_seconds: 10,
            min_seconds: 5,
            max_seconds: 3600,
        }
    }
}

impl IntervalConfig {
    /// The interval for a host: its own setting or the default, within the bounds.
    pub fn for_host(&self, own: Option<u32>) -> u32 {
        own.unwrap_or(self.default_seconds)
            .clamp(self.min_seconds, self.max_seconds)
    }
}

/// `[ingest]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body accepted, after decompression (413 past it).
    pub max_body_bytes: usize,
    /// Most documents in one batch.
    pub max_batch: usize,
    /// Requests per minute one host may make before getting 429 (a backfilling agent sends
    /// batches, so this is far above one per interval).
    pub requests_per_minute: u32,
    /// Ingest requests handled at once; more are answered 503 with `Retry-After` at once.
    /// Past its capacity a hub that queued them would answer each after the agents' timeout,
    /// doing the work for nobody; refused, the agents spool and come back later.
    pub max_in_flight: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 16 * 1024 * 1024,
            max_batch: 1000,
            requests_per_minute: 600,
            max_in_flight: 256,
        }
    }
}

/// `[retention]`, in days per resolution: the store's growth is bounded by design.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    pub raw_days: u32,
    pub minute_days: u32,
    pub hour_days: u32,
    /// The compressed report log (reports as received), kept this long once compacted. The
    /// series live on in chunks; the log costs about 5 KB a report (400 GB a day at 10,000
    /// hosts every 10 s), so it is kept short.
    pub reports_hours: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            raw_days: 7,
            minute_days: 90,
            hour_days: 730,
            reports_hours: 6,
        }
    }
}

impl HubConfig {
    pub const SECTIONS: &'static [&'static str] = &[
        "server",
        "interval",
        "ingest",
        "retention",
        "alerts",
        "trend",
        "score",
        "digest",
        "notify",
        "commands",
    ];

    /// Finds, reads, overlays and validates the hub's configuration.
    pub fn load(sources: &Sources) -> Result<(HubConfig, Origin), ConfigError> {
        let (config, origin): (HubConfig, _) =
            hostwatch_config::load("hub", sources, Self::SECTIONS)?;
        config.validate().map_err(|problem| ConfigError {
            source_name: origin.to_string(),
            problem,
        })?;
        Ok((config, origin))
    }

    /// Checks what types alone cannot; the first problem, naming its key.
    pub fn validate(&self) -> Result<(), String> {
        let i = &self.interval;
        if i.min_seconds == 0 || i.min_seconds > i.max_seconds {
            return Err(format!(
                "key `interval`: need 0 < min_seconds <= max_seconds, got {} and {}",
                i.min_seconds, i.max_seconds
            ));
        }
        if !(i.min_seconds..=i.max_seconds).contains(&i.default_seconds) {
            return Err(format!(
                "key `interval.default_seconds`: must lie within [{}, {}], got {}",
                i.min_seconds, i.max_seconds, i.default_seconds
            ));
        }
        if self.ingest.max_body_bytes < 64 * 1024 {
            return Err("key `ingest.max_body_bytes`: at least 65536".into());
        }
        if self.ingest.max_batch == 0 || self.ingest.requests_per_minute == 0 {
            return Err(
                "keys `ingest.max_batch` and `ingest.requests_per_minute`: must be positive".into(),
            );
        }
        if self.ingest.max_in_flight == 0 {
            return Err("key `ingest.max_in_flight`: must be positive".into());
        }
        let r = &self.retention;
        if r.raw_days == 0 || r.raw_days > r.minute_days || r.minute_days > r.hour_days {
            return Err(format!(
                "key `retention`: need 0 < raw_days <= minute_days <= hour_days, got {} / {} / {}",
                r.raw_days, r.minute_days, r.hour_days
            ));
        }
        if r.reports_hours == 0 {
            return Err("key `retention.reports_hours`: must be positive".into());
        }
        crate::alert::RuleSet::compile(&self.alerts)?;
        self.trend.validate()?;
        self.score.validate()?;
        self.digest.validate()?;
        self.notify.validate()?;
        self.commands.validate()?;
        Ok(())
    }

    /// The data directory to use: the configured one, else the first usable default.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.server.data_dir {
            return dir.clone();
        }
        let system = PathBuf::from("/var/lib/hostwatch/hub");
        if writable_or_creatable(&system) {
            return system;
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("hostwatch/hub")
    }
}

/// Whether `dir` exists and is writable, or could be created.
fn writable_or_creatable(dir: &std::path::Path) -> bool {
    let probe = |d: &std::path::Path| {
        let test = d.join(".hostwatch-write-test");
        let ok = std::fs::write(&test, b"").is_ok();
        let _ = std::fs::remove_file(&test);
        ok
    };
    if dir.exists() {
        return probe(dir);
    }
    std::fs::create_dir_all(dir).is_ok() && probe(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_clamped_to_the_bounds() {
        let i = IntervalConfig::default();
        assert_eq!(i.for_host(None), 10);
        assert_eq!(i.for_host(Some(1)), 5);
        assert_eq!(i.for_host(Some(30)), 30);
        assert_eq!(i.for_host(Some(86_400)), 3600);
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = HubConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.interval.default_seconds = 4;
        assert!(
            c.validate()
                .unwrap_err()
                .contains("interval.default_seconds")
        );
        let mut c = HubConfig::default();
        c.retention.raw_days = 100;
        assert!(c.validate().unwrap_err().contains("retention"));
    }

    #[test]
    fn loads_from_env_overrides() {
        let sources = Sources {
            env: vec![
                ("HOSTWATCH_SERVER_LISTEN".into(), "127.0.0.1:9999".into()),
                ("HOSTWATCH_INTERVAL_MAX_SECONDS".into(), "600".into()),
            ],
            cwd: Some("/nonexistent-hostwatch-test".into()),
            etc_dir: Some("/nonexistent-hostwatch-test".into()),
            ..Sources::default()
        };
        let (c, origin) = HubConfig::load(&sources).unwrap();
        assert_eq!(origin, Origin::Defaults);
        assert_eq!(c.server.listen.port(), 9999);
        assert_eq!(c.interval.max_seconds, 600);
    }
}
