use serde::{Deserialize, Serialize};

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// ZFS pools, from `zpool list -Hp` and `zpool status` (JSON on OpenZFS ≥ 2.3, text before).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Zfs {
    pub pools: Vec<ZfsPool>,
}

/// One pool: its health, space, error counters per vdev, and its last or running scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZfsPool {
    pub name: String,
    /// `ONLINE`, `DEGRADED`, `FAULTED`, `OFFLINE`, `UNAVAIL`, `REMOVED`, `SUSPENDED`.
    pub state: String,
    /// Absent when the pool cannot report it (an `UNAVAIL` pool shows `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_pct: Option<f64>,
    /// Free-space fragmentation; absent on pools and versions that do not track it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragmentation_pct: Option<f64>,
    /// The pool row's own error counters; each vdev has its own (see `vdevs`).
    pub read_errors: u64,
    pub write_errors: u64,
    pub checksum_errors: u64,
    /// Data errors (`errors: N data errors`); 0 for "No known data errors".
    #[serde(default, skip_serializing_if = "is_zero")]
    pub data_errors: u64,
    /// The pool's `status:` explanation, when ZFS gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Top-level vdevs, each with its children: data vdevs, then logs, cache, spares…
    pub vdevs: Vec<ZfsVdev>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ZfsScan>,
    /// What is wrong, one line each, for people: state not ONLINE, vdev errors, data errors,
    /// errors found by the last scrub. Empty when the pool is healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// A vdev: a mirror, raidz, draid, or a disk inside one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZfsVdev {
    /// As `zpool status` prints it: `mirror-0`, `wwn-0x5000…`, `sda`.
    pub name: String,
    /// The vdev's role: `data`, `log`, `cache`, `spare`, `special`, `dedup`.
    pub class: String,
    /// `ONLINE`, `DEGRADED`, `UNAVAIL`, `AVAIL` (a spare)…
    pub state: String,
    pub read_errors: u64,
    pub write_errors: u64,
    pub checksum_errors: u64,
    /// ZFS's note beside the vdev, e.g. `cannot open`, `(resilvering)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ZfsVdev>,
}

/// The pool's last or current scrub or resilver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZfsScan {
    /// `scrub` or `resilver`.
    pub function: String,
    /// `scanning`, `finished`, `canceled`, or `none` (never scrubbed).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    /// When the last scan finished (or was canceled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// Errors the scan found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// How far a running scan is, 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_pct: Option<f64>,
}

/// Datasets from `zfs get -Hp used,available,compressratio`: the configured ones, or every
/// pool's top level.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ZfsDatasets {
    pub datasets: Vec<ZfsDataset>,
}

/// One filesystem or volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZfsDataset {
    /// e.g. `rpool/data`.
    pub name: String,
    pub used_bytes: u64,
    pub available_bytes: u64,
    /// `compressratio`, e.g. 1.39 for `1.39x`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compress_ratio: Option<f64>,
}
