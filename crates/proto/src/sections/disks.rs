use serde::{Deserialize, Serialize};

/// Block device I/O from `/proc/diskstats`
/// (<https://docs.kernel.org/admin-guide/iostats.html>).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Disks {
    pub devices: Vec<Disk>,
}

/// One block device: counters since boot, and rates over the last interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    /// Kernel name, e.g. `sda`, `nvme0n1`, `dm-0`.
    pub name: String,
    pub reads_completed_total: u64,
    pub reads_merged_total: u64,
    pub read_bytes_total: u64,
    pub read_time_seconds_total: f64,
    pub writes_completed_total: u64,
    pub writes_merged_total: u64,
    pub written_bytes_total: u64,
    pub write_time_seconds_total: f64,
    pub io_in_progress: u64,
    /// Time the device had I/O in flight (`io_ticks`).
    pub io_time_seconds_total: f64,
    pub io_time_weighted_seconds_total: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discards_completed_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discarded_bytes_total: Option<u64>,
    /// Absent on the first read, and after a counter went backwards (device re-added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rates: Option<DiskRates>,
}

/// Per-second rates over the last interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiskRates {
    pub read_bytes_per_sec: f64,
    pub write_bytes_per_sec: f64,
    pub read_iops: f64,
    pub write_iops: f64,
    /// Share of the interval the device was busy (`io_ticks` delta), 0–100.
    pub util_pct: f64,
    /// Average time an I/O request completed in this interval took, queue included, in
    /// seconds (`await`); 0 when no I/O completed.
    pub avg_wait_seconds: f64,
}
