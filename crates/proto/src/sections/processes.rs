use serde::{Deserialize, Serialize};

/// Process counts and the heaviest processes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Processes {
    /// Processes (not threads) that exist right now.
    pub total: u32,
    /// Threads across all processes.
    pub threads: u64,
    pub states: ProcessStates,
    /// The top N by CPU over the last interval (empty on the first read).
    pub top_cpu: Vec<ProcessInfo>,
    /// The top N by resident memory.
    pub top_memory: Vec<ProcessInfo>,
}

/// Processes per scheduler state (`/proc/PID/stat` field 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProcessStates {
    /// `R`
    pub running: u32,
    /// `S`
    pub sleeping: u32,
    /// `D`: uninterruptible, usually waiting on I/O.
    pub disk_sleep: u32,
    /// `T` and `t`
    pub stopped: u32,
    /// `Z`: exited, not yet reaped by the parent.
    pub zombie: u32,
    /// `I`: idle kernel threads.
    pub idle: u32,
    /// Anything else (`X`, `P`, `W`…).
    pub other: u32,
}

/// One process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: u32,
    /// `comm`, the kernel's short name.
    pub name: String,
    /// Command line joined with spaces, cut to a bounded length; empty for kernel threads.
    pub cmdline: String,
    /// Owner's user name, or the numeric uid when it has no name.
    pub user: String,
    /// Share of one core over the last interval (200 = two cores busy); absent on first sight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f64>,
    pub rss_bytes: u64,
    /// Storage I/O rates from `/proc/PID/io`; absent where it is not readable or on first sight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_bytes_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_bytes_per_sec: Option<f64>,
}
