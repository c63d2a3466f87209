use serde::{Deserialize, Serialize};

/// CPU utilisation by mode, whole machine and per logical core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    /// Model name from `/proc/cpuinfo`, when the architecture exposes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Logical CPUs online (the `cpuN` lines of `/proc/stat`).
    pub logical_cores: u32,
    /// Whole-machine utilisation over the interval since the previous read; absent on the
    /// first read of an agent, because a rate needs two samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CpuModes>,
    /// Whole-machine cumulative time per mode since boot.
    pub seconds: CpuSeconds,
    /// Per logical core, ordered by CPU number.
    #[serde(default)]
    pub cores: Vec<CoreCpu>,
    /// Context switches since boot (`ctxt`).
    #[serde(default)]
    pub context_switches_total: u64,
    /// Interrupts since boot (`intr`, first column).
    #[serde(default)]
    pub interrupts_total: u64,
    /// Processes and threads created since boot (`processes`).
    #[serde(default)]
    pub forks_total: u64,
    /// When the agent runs inside a cgroup with a CPU limit (LXC, a container): the limit
    /// and the cgroup's own usage, which are what matters there rather than the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupCpu>,
}

/// One logical core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreCpu {
    /// The kernel's CPU number (`cpu3` → 3).
    pub cpu: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CpuModes>,
    pub seconds: CpuSeconds,
}

/// Share of time per mode over an interval, 0–100 each; the modes add up to 100.
///
/// `guest` and `guest_nice` are already contained in `user` and `nice` (that is how the
/// kernel counts them); they are reported for visibility, not to be added again.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CpuModes {
    pub user_pct: f64,
    pub nice_pct: f64,
    pub system_pct: f64,
    pub idle_pct: f64,
    pub iowait_pct: f64,
    pub irq_pct: f64,
    pub softirq_pct: f64,
    /// Time a hypervisor ran something else while this guest wanted the CPU.
    pub steal_pct: f64,
    pub guest_pct: f64,
    pub guest_nice_pct: f64,
    /// Everything but idle and iowait: the figure people mean by "CPU usage".
    pub busy_pct: f64,
}

/// Cumulative time per mode since boot, in seconds (`/proc/stat` ticks ÷ USER_HZ).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CpuSeconds {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
    pub guest: f64,
    pub guest_nice: f64,
}

/// CPU figures of the cgroup the agent runs in (cgroup v2 `cpu.max` and `cpu.stat`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CgroupCpu {
    /// `cpu.max` quota ÷ period, in cores; absent when the cgroup has no limit (`max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_cores: Option<f64>,
    /// CPU used by the cgroup over the interval, as a share of its limit (or of all cores
    /// when it has none); absent on the first read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_pct: Option<f64>,
    /// `cpu.stat` usage_usec, in seconds.
    pub usage_seconds_total: f64,
    /// `cpu.stat` throttled_usec, in seconds.
    #[serde(default)]
    pub throttled_seconds_total: f64,
    /// `cpu.stat` nr_throttled.
    #[serde(default)]
    pub throttled_periods_total: u64,
}
