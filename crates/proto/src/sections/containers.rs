use serde::{Deserialize, Serialize};

/// Docker or Podman containers, read through the Docker Engine API on a Unix socket.
///
/// Absent when no socket exists; a section error when a socket exists but the daemon cannot
/// be reached or answers with something unreadable.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Containers {
    /// The socket that answered, e.g. `/var/run/docker.sock`.
    pub socket: String,
    /// The engine and its version as the daemon names them, e.g. `Docker Engine 27.3.1`,
    /// `Podman Engine 5.2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The API version the agent and the daemon agreed on, e.g. `1.47`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Containers whose state is `running`.
    pub running: u32,
    /// Running containers whose health check says `unhealthy`.
    pub unhealthy: u32,
    /// Every container, running or not, in the daemon's order (newest first).
    pub containers: Vec<Container>,
    /// Restarts the health watchdog did (or tried) since the previous report; each appears in
    /// exactly one report, so the hub can record it as an event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watchdog_actions: Vec<WatchdogAction>,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Container {
    /// The first 12 hex digits of the id, as `docker ps` shows it.
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub image: String,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub state: String,
    /// The daemon's own summary, e.g. `Up 3 hours (healthy)`, `Exited (1) 6 days ago`.
    pub status: String,
    /// Absent when the container has no health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ContainerHealth>,
    /// Restarts by the daemon (its restart policy); absent when not known yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<u32>,
    /// `no`, `always`, `unless-stopped`, `on-failure`; absent when not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// When the container last started, unix ms; absent if it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// Seconds since `started_at`, for running containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<u64>,
    /// The main process's exit code, for containers that are not running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Share of one core over the last interval (200 = two cores busy); absent on first sight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f64>,
    /// Memory in use without the reclaimable page cache, as `docker stats` counts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_used_bytes: Option<u64>,
    /// The container's memory limit; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit_bytes: Option<u64>,
    /// `true` when the container may use all of the host's memory (no limit set); absent
    /// when not known (a container that is not running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_unlimited: Option<bool>,
    /// Block I/O since the container started (cgroup counters), and rates over the last interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_read_bytes_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_write_bytes_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_read_bytes_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_write_bytes_per_sec: Option<f64>,
    /// Network traffic over all the container's interfaces, and rates over the last interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_rx_bytes_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_tx_bytes_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_rx_bytes_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_tx_bytes_per_sec: Option<f64>,
    /// Why some of this container's details are missing (it vanished between two calls, the
    /// daemon refused its stats…); the rest of the section is unaffected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The container's health check state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContainerHealth {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failed checks (0 when the last one passed).
    pub failing_streak: u32,
    /// The most recent check results, oldest first: the newest one while healthy, up to three
    /// otherwise. Absent when only the list call was read this tick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_checks: Vec<HealthCheckResult>,
}

/// One run of a container's health check.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HealthCheckResult {
    /// Unix ms.
    pub started_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// 0 passed, 1 failed, anything else: the probe could not run.
    pub exit_code: i64,
    /// The probe's output, cut to a bounded length.
    pub output: String,
}

/// One restart the watchdog did or tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchdogAction {
    /// Unix ms.
    pub at: i64,
    pub container_id: String,
    pub container: String,
    /// Why, e.g. `health check failed 3 times in a row`.
    pub reason: String,
    pub result: WatchdogResult,
    /// The daemon's answer when the restart failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What came of a watchdog restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchdogResult {
    Restarted,
    Failed,
    /// Anything a newer agent reports that this build does not know.
    #[serde(other)]
    Other,
}
