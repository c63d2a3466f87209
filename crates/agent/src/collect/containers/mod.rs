//! Docker and Podman containers through the Docker Engine API on a Unix socket.
//!
//! Per tick: one list call, one stats call per running container, and an inspect only where
//! the list does not say enough — a container seen for the first time, one whose status text
//! changed (it restarted, its health flipped), one whose health is not `healthy` (its failing
//! streak and check log change every check; the watchdog needs them fresh), or a cached inspect
//! older than a minute (restart count, last check). With 40 containers that is 41 calls plus a
//! handful of inspects on a local socket, each answered from the daemon's memory and cgroup
//! files: cheap enough for the fast tier. `one-shot` stats avoid the daemon's one-second wait
//! for a second sample; the agent keeps its own previous sample for rates instead.
//!
//! No socket → no section. A socket the daemon does not answer on, an HTTP error or JSON we
//! cannot read → a section error naming the socket.

pub mod api;
pub use super::http;
pub mod stats;
pub mod watchdog;

use crate::HostPaths;
use crate::collect::{CollectError, Collector};
use crate::config::ContainersConfig;
use api::{ApiError, DockerApi, Inspect, ListEntry};
use hostwatch_proto::sections::{
    Container, ContainerHealth, Containers, HealthCheckResult, WatchdogAction, WatchdogResult,
};
use hostwatch_proto::{SectionData, Tier};
use http::HttpError;
use stats::Sample;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use watchdog::{Candidate, Decision, Watchdog};

/// A cached inspect older than this is read again.
const INSPECT_REFRESH_MS: i64 = 60_000;
/// Longest health check output kept per result.
const HEALTH_OUTPUT_MAX: usize = 512;

/// Where to look for the API socket when none is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSearch {
    /// `DOCKER_HOST` as the process got it.
    pub docker_host: Option<String>,
    /// Tried in order; the first that exists is used.
    pub candidates: Vec<PathBuf>,
}

impl SocketSearch {
    /// `DOCKER_HOST`, then Docker's socket, rootful Podman's, the user's rootless Podman's.
    pub fn from_process() -> SocketSearch {
        let mut candidates = vec![
            PathBuf::from("/var/run/docker.sock"),
            PathBuf::from("/run/podman/podman.sock"),
        ];
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
            candidates.push(PathBuf::from(dir).join("podman/podman.sock"));
        }
        SocketSearch {
            docker_host: std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()),
            candidates,
        }
    }
}

/// What the agent remembers of a container between ticks.
#[derive(Debug, Default)]
struct Known {
    inspect: Option<Inspect>,
    inspected_at_ms: i64,
    /// The list's status text when it was inspected.
    inspected_status: String,
    sample: Option<Sample>,
}

/// The containers collector.
pub struct ContainersCollector {
    configured_socket: Option<PathBuf>,
    search: SocketSearch,
    timeout: Duration,
    paths: HostPaths,
    api: Option<DockerApi>,
    known: HashMap<String, Known>,
    host_mem_total: Option<Option<u64>>,
    watchdog: Option<Watchdog>,
    warned_docker_host: bool,
    /// When the default sockets were last looked for and none existed (unix ms): they are
    /// looked for again only [`LOOK_AGAIN_MS`] later, not on every tick of a host without
    /// a container engine.
    absent_since_ms: Option<i64>,
    clock: Box<dyn Fn() -> i64 + Send>,
}

/// How long a host without a container engine goes before the sockets are looked for again.
const LOOK_AGAIN_MS: i64 = 60_000;

impl std::fmt::Debug for ContainersCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainersCollector")
            .field("socket", &self.api.as_ref().map(DockerApi::socket))
            .field("containers", &self.known.len())
            .finish()
    }
}

impl ContainersCollector {
    pub fn new(config: &ContainersConfig, paths: &HostPaths) -> Self {
        Self::with_search(config, paths, SocketSearch::from_process())
    }

    /// With an explicit socket search (tests, and hosts whose environment is not the agent's).
    pub fn with_search(config: &ContainersConfig, paths: &HostPaths, search: SocketSearch) -> Self {
        ContainersCollector {
            configured_socket: config.socket.clone(),
            search,
            timeout: Duration::from_secs(config.timeout_seconds),
            paths: paths.clone(),
            api: None,
            known: HashMap::new(),
            host_mem_total: None,
            watchdog: config
                .watchdog
                .enabled
                .then(|| Watchdog::new(config.watchdog.clone())),
            warned_docker_host: false,
            absent_since_ms: None,
            clock: Box::new(|| jiff::Timestamp::now().as_millisecond()),
        }
    }

    /// Reads "now" (unix ms) from `clock` instead of the system clock: uptimes and the
    /// watchdog's cooldown and hourly cap follow it.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The socket to use: configured, `DOCKER_HOST`, or the first default that exists.
    /// `Ok(None)`: no container engine on this host.
    fn socket(&mut self) -> Result<Option<PathBuf>, CollectError> {
        let explicit = |path: PathBuf, what: &str| {
            if path.exists() {
                Ok(Some(path))
            } else {
                Err(CollectError::io(
                    &path,
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{what} names this socket, and it does not exist"),
                    ),
                ))
            }
        };
        if let Some(path) = &self.configured_socket {
            return explicit(path.clone(), "[containers] socket");
        }
        if let Some(host) = &self.search.docker_host {
            if let Some(path) = host.strip_prefix("unix://") {
                return explicit(PathBuf::from(path), "DOCKER_HOST");
            }
            if !self.warned_docker_host {
                self.warned_docker_host = true;
                tracing::warn!(
                    docker_host = %host,
                    "DOCKER_HOST is not a unix:// socket, which the agent cannot use; set [containers] socket"
                );
            }
        }
        Ok(self.search.candidates.iter().find(|p| p.exists()).cloned())
    }

    /// The host's memory, to tell "limit = all of it" (no limit) from a real limit.
    fn host_mem_total(&mut self) -> Option<u64> {
        *self.host_mem_total.get_or_insert_with(|| {
            let text = std::fs::read_to_string(self.paths.proc("meminfo")).ok()?;
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
    }
}

impl Collector for ContainersCollector {
    fn name(&self) -> &'static str {
        "containers"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        let now_ms = (self.clock)();
        if self
            .absent_since_ms
            .is_some_and(|at| (0..LOOK_AGAIN_MS).contains(&(now_ms - at)))
        {
            return Ok(None);
        }
        let Some(socket) = self.socket()? else {
            self.api = None;
            self.known.clear();
            self.absent_since_ms = Some(now_ms);
            return Ok(None);
        };
        self.absent_since_ms = None;
        if self.api.as_ref().is_none_or(|a| a.socket() != socket) {
            self.api = Some(DockerApi::new(socket.clone(), self.timeout));
            self.known.clear();
        }
        let host_mem_total = self.host_mem_total();
        let mut api = self.api.take().expect("set above");
        let result = self.read(&mut api, now_ms, host_mem_total);
        self.api = Some(api);
        result
            .map(|c| Some(SectionData::Containers(c)))
            .map_err(|e| to_collect_error(&socket, e))
    }
}

impl ContainersCollector {
    fn read(
        &mut self,
        api: &mut DockerApi,
        now_ms: i64,
        host_mem_total: Option<u64>,
    ) -> Result<Containers, ApiError> {
        api.negotiate()?;
        let list = api.list()?;
        let list_has_health = api.at_least(api::LIST_HEALTH_SINCE);
        let mut out = Containers {
            socket: api.socket().display().to_string(),
            engine: api.engine().map(str::to_string),
            api_version: api.version(),
            ..Containers::default()
        };
        let mut candidates: Vec<(String, usize)> = Vec::new();
        for entry in &list {
            let container = self.container(api, entry, list_has_health, now_ms, host_mem_total)?;
            if container.state == "running" {
                out.running += 1;
                if container
                    .health
                    .as_ref()
                    .is_some_and(|h| h.status == "unhealthy")
                {
                    out.unhealthy += 1;
                }
            }
            candidates.push((entry.id.clone(), out.containers.len()));
            out.containers.push(container);
        }
        self.known
            .retain(|id, _| list.iter().any(|entry| &entry.id == id));
        if let Some(dog) = &mut self.watchdog {
            dog.retain(|id| list.iter().any(|entry| entry.id == id));
            for (full_id, index) in candidates {
                let c = &out.containers[index];
                let candidate = Candidate {
                    id: &full_id,
                    name: &c.name,
                    state: &c.state,
                    health: c.health.as_ref().map(|h| h.status.as_str()),
                    failing_streak: c.health.as_ref().map_or(0, |h| h.failing_streak),
                };
                if let Decision::Restart(reason) = dog.decide(&candidate, now_ms) {
                    dog.record(&full_id, now_ms);
                    let outcome = api.restart(&full_id, dog.stop_timeout());
                    let action = WatchdogAction {
                        at: now_ms,
                        container_id: c.id.clone(),
                        container: c.name.clone(),
                        reason,
                        result: if outcome.is_ok() {
                            WatchdogResult::Restarted
                        } else {
                            WatchdogResult::Failed
                        },
                        error: outcome.as_ref().err().map(ToString::to_string),
                    };
                    match &action.error {
                        None => tracing::info!(
                            container = %action.container,
                            id = %action.container_id,
                            reason = %action.reason,
                            "watchdog restarted the container"
                        ),
                        Some(error) => tracing::warn!(
                            container = %action.container,
                            id = %action.container_id,
                            reason = %action.reason,
                            %error,
                            "watchdog could not restart the container"
                        ),
                    }
                    out.watchdog_actions.push(action);
                }
            }
        }
        Ok(out)
    }

    /// One container from its list entry, an inspect when needed and its stats when running.
    /// Errors about this container alone land in its `error`; losing the daemon fails the tick.
    fn container(
        &mut self,
        api: &mut DockerApi,
        entry: &ListEntry,
        list_has_health: bool,
        now_ms: i64,
        host_mem_total: Option<u64>,
    ) -> Result<Container, ApiError> {
        let state = entry
            .state
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| state_from_status(&entry.status).to_string());
        let mut c = Container {
            id: entry.id.chars().take(12).collect(),
            name: entry
                .names
                .first()
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            image: entry.image.clone(),
            state,
            status: entry.status.clone(),
            ..Container::default()
        };
        let mut errors = Vec::new();
        let list_health = entry
            .health
            .as_ref()
            .filter(|h| list_has_health && !h.status.is_empty() && h.status != "none");
        let known = self.known.entry(entry.id.clone()).or_default();
        let health_settled = match list_health {
            Some(h) => h.status == "healthy",
            None => {
                !entry.status.contains("(unhealthy)")
                    && !entry.status.contains("(health: starting)")
            }
        };
        let stale = known.inspect.is_none()
            || known.inspected_status != entry.status
            || now_ms - known.inspected_at_ms >= INSPECT_REFRESH_MS
            || !health_settled;
        let mut fresh = false;
        if stale {
            match api.inspect(&entry.id) {
                Ok(inspect) => {
                    known.inspect = Some(inspect);
                    known.inspected_at_ms = now_ms;
                    known.inspected_status = entry.status.clone();
                    fresh = true;
                }
                Err(e) if matches!(e, ApiError::Transport { .. }) => return Err(e),
                Err(e) => errors.push(format!("inspect: {e}")),
            }
        }
        if let Some(inspect) = &known.inspect {
            c.restart_count = Some(inspect.restart_count);
            c.restart_policy = inspect
                .host_config
                .restart_policy
                .as_ref()
                .map(|p| p.name.clone())
                .filter(|n| !n.is_empty());
            c.started_at = inspect
                .state
                .started_at
                .as_deref()
                .and_then(parse_time_ms)
                .filter(|t| *t > 0);
            if c.state == "running" {
                c.uptime_seconds = c
                    .started_at
                    .map(|t| u64::try_from((now_ms - t) / 1000).unwrap_or(0));
            } else {
                c.exit_code = Some(inspect.state.exit_code);
            }
            let limit = inspect.host_config.memory;
            c.mem_unlimited = Some(limit <= 0);
            c.mem_limit_bytes = u64::try_from(limit).ok().filter(|l| *l > 0);
            if let Some(h) = inspect.state.health.as_ref().filter(|h| h.status != "none") {
                let log = h.log.as_deref().unwrap_or_default();
                let keep = if h.status == "healthy" { 1 } else { 3 };
                c.health = Some(ContainerHealth {
                    status: h.status.clone(),
                    failing_streak: h.failing_streak,
                    last_checks: log[log.len().saturating_sub(keep)..]
                        .iter()
                        .map(|l| HealthCheckResult {
                            started_at: parse_time_ms(&l.start).unwrap_or(0),
                            ended_at: parse_time_ms(&l.end),
                            exit_code: l.exit_code,
                            output: cut(&l.output, HEALTH_OUTPUT_MAX),
                        })
                        .collect(),
                });
            }
        }
        // The list's health is newer than a cached inspect's.
        if let Some(h) = list_health
            && !fresh
        {
            let health = c.health.get_or_insert_with(ContainerHealth::default);
            health.status = h.status.clone();
            health.failing_streak = h.failing_streak;
        }
        if c.state == "running" {
            match api.stats(&entry.id) {
                Ok(stats) => {
                    let (d, sample) = stats::derive(
                        &stats,
                        known.sample.as_ref(),
                        i128::from(now_ms) * 1_000_000,
                        host_mem_total,
                    );
                    known.sample = Some(sample);
                    c.cpu_pct = d.cpu_pct;
                    c.mem_used_bytes = d.mem_used;
                    if let Some(limit) = d.mem_limit {
                        c.mem_limit_bytes = limit;
                        c.mem_unlimited = Some(limit.is_none());
                    }
                    c.block_read_bytes_total = d.block_read;
                    c.block_write_bytes_total = d.block_write;
                    c.block_read_bytes_per_sec = d.block_read_rate;
                    c.block_write_bytes_per_sec = d.block_write_rate;
                    c.net_rx_bytes_total = d.net_rx;
                    c.net_tx_bytes_total = d.net_tx;
                    c.net_rx_bytes_per_sec = d.net_rx_rate;
                    c.net_tx_bytes_per_sec = d.net_tx_rate;
                }
                Err(e) if matches!(e, ApiError::Transport { .. }) => return Err(e),
                Err(e) => errors.push(format!("stats: {e}")),
            }
        } else {
            known.sample = None;
        }
        if !errors.is_empty() {
            c.error = Some(errors.join("; "));
        }
        Ok(c)
    }
}

/// The state from the status text, for daemons older than API 1.23 whose list has no `State`.
fn state_from_status(status: &str) -> &'static str {
    if status.starts_with("Up") {
        if status.contains("(Paused)") {
            "paused"
        } else {
            "running"
        }
    } else if status.starts_with("Restarting") {
        "restarting"
    } else if status.starts_with("Exited") || status.starts_with("Exit ") {
        "exited"
    } else if status.starts_with("Created") {
        "created"
    } else if status.starts_with("Removal") {
        "removing"
    } else if status.starts_with("Dead") {
        "dead"
    } else {
        "unknown"
    }
}

/// RFC 3339 → unix ms; the Go zero time (`0001-01-01T00:00:00Z`) is "never".
fn parse_time_ms(s: &str) -> Option<i64> {
    let t: jiff::Timestamp = s.parse().ok()?;
    let ms = t.as_millisecond();
    (ms > 0).then_some(ms)
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The section error: names the socket, and says what to do where that is clear.
fn to_collect_error(socket: &Path, e: ApiError) -> CollectError {
    match e {
        ApiError::Transport {
            source: HttpError::Connect(io),
            ..
        } => {
            let hint = match io.kind() {
                io::ErrorKind::PermissionDenied => {
                    " (the agent's user needs access to the socket, e.g. the docker group)"
                }
                io::ErrorKind::ConnectionRefused => " (is the daemon running?)",
                _ => "",
            };
            CollectError::io(
                socket,
                io::Error::new(
                    io.kind(),
                    format!("cannot connect to the container engine: {io}{hint}"),
                ),
            )
        }
        ApiError::Transport {
            source: HttpError::Timeout(secs),
            ..
        } => CollectError::Timeout(format!(
            "{}: the container engine did not answer within {secs} s",
            socket.display()
        )),
        ApiError::Json { path, message, .. } => {
            CollectError::parse(socket, format!("{path}: unreadable JSON: {message}"))
        }
        other => CollectError::io(socket, io::Error::other(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_daemons_state_comes_from_the_status_text() {
        for (status, state) in [
            ("Up Less than a second", "running"),
            ("Up 2 hours (Paused)", "paused"),
            ("Exited (1) 6 days ago", "exited"),
            ("Exit 0", "exited"),
            ("Restarting (0) 35 seconds ago", "restarting"),
            ("Created", "created"),
            ("weird", "unknown"),
        ] {
            assert_eq!(state_from_status(status), state, "{status}");
        }
    }

    #[test]
    fn times_and_cuts() {
        assert_eq!(
            parse_time_ms("2016-05-25T17:22:13.082015516Z"),
            Some(1_464_196_933_082)
        );
        assert_eq!(parse_time_ms("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_time_ms("soon"), None);
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("hello", 10), "hello");
    }
}
