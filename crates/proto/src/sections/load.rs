use serde::{Deserialize, Serialize};

/// Load averages and task counts from `/proc/loadavg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Load {
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    /// Runnable tasks (running or ready to run) right now.
    pub tasks_runnable: u32,
    /// Tasks (processes and threads) that exist right now.
    pub tasks_total: u32,
}
