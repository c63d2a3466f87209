use serde::{Deserialize, Serialize};

/// Memory, swap and pressure.
///
/// Inside a memory-limited cgroup (LXC, a container) the figures describe the cgroup — its
/// limit as total and its own usage — because the host's `/proc/meminfo` is not this host's RAM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Where the RAM figures come from.
    pub source: MemorySource,
    pub total_bytes: u64,
    /// Memory available for new work without swapping (`MemAvailable`).
    pub available_bytes: u64,
    /// `total - available`: what is really taken.
    pub used_bytes: u64,
    /// Completely unused memory (`MemFree`); usually small, and that is fine.
    pub free_bytes: u64,
    #[serde(default)]
    pub buffers_bytes: u64,
    /// Page cache (`Cached`), excluding `SwapCached`.
    #[serde(default)]
    pub cached_bytes: u64,
    /// `used / total × 100`.
    pub used_pct: f64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    pub swap_free_bytes: u64,
    /// Pages that were swapped out and read back but are still in swap (`SwapCached`): a high
    /// value with swap in use means the host is actively paging — swap *pressure*, not just use.
    pub swap_cached_bytes: u64,
    /// `swap_used / swap_total × 100`; 0 without swap.
    pub swap_used_pct: f64,
    /// Pressure stall information, when the kernel has it (`/proc/pressure`, Linux ≥ 4.20 with PSI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<Pressure>,
}

/// Where memory figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemorySource {
    /// `/proc/meminfo`: the whole machine.
    Host,
    /// The agent's cgroup (`memory.max`, `memory.current`, `memory.stat`).
    Cgroup,
}

/// PSI per resource. See <https://docs.kernel.org/accounting/psi.html>.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<PressureResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<PressureResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io: Option<PressureResource>,
}

/// `some`: at least one task stalled; `full`: all non-idle tasks stalled at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PressureResource {
    pub some: PressureLine,
    /// Absent for CPU on kernels before 5.13.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<PressureLine>,
}

/// One PSI line: share of wall time stalled over 10, 60 and 300 s windows, and the total.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PressureLine {
    pub avg10_pct: f64,
    pub avg60_pct: f64,
    pub avg300_pct: f64,
    /// Total stall time since boot, in seconds.
    pub total_seconds: f64,
}
