use serde::{Deserialize, Serialize};

/// A Proxmox VE node's guests and storages, from `pvesh get /cluster/resources`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Proxmox {
    /// The PVE node these are for (guests and storages of other cluster nodes are left to
    /// their own agents).
    pub node: String,
    pub guests: Vec<PveGuest>,
    pub storages: Vec<PveStorage>,
}

/// A QEMU VM or LXC container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PveGuest {
    pub vmid: u64,
    pub name: String,
    /// `qemu` or `lxc`.
    pub kind: String,
    /// `running`, `stopped`, `paused`…
    pub status: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub template: bool,
    /// CPU use as a share of the guest's own cores, 0–100.
    pub cpu_pct: f64,
    pub cpus: f64,
    pub memory_used_bytes: u64,
    pub memory_max_bytes: u64,
    /// Disk use (LXC; QEMU reports 0 without the guest agent) and size.
    pub disk_used_bytes: u64,
    pub disk_max_bytes: u64,
    pub uptime_seconds: u64,
    /// Counters since the guest started.
    pub net_in_bytes_total: u64,
    pub net_out_bytes_total: u64,
    pub disk_read_bytes_total: u64,
    pub disk_written_bytes_total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Absent on the first read and after the guest restarted (counters went back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rates: Option<PveGuestRates>,
}

/// Per-second rates over the last interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PveGuestRates {
    pub net_in_bytes_per_sec: f64,
    pub net_out_bytes_per_sec: f64,
    pub disk_read_bytes_per_sec: f64,
    pub disk_write_bytes_per_sec: f64,
}

/// One storage as this node sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PveStorage {
    pub storage: String,
    /// e.g. `zfspool`, `dir`, `lvmthin`, `nfs`, `pbs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// `available`, `unknown` (an unreachable NFS share)…
    pub status: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    pub used_bytes: u64,
    pub size_bytes: u64,
    /// `used / size × 100`; absent when the size is unknown (0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_pct: Option<f64>,
    /// What it holds, e.g. `images,rootdir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}
