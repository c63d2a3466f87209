use serde::{Deserialize, Serialize};

fn is_empty(v: &[String]) -> bool {
    v.is_empty()
}

/// Disk health from `smartctl --json` (smartmontools ≥ 7), one entry per device.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Smart {
    pub devices: Vec<SmartDevice>,
}

/// One disk. A disk that could not be read carries `error` and no data; the others are
/// still reported.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SmartDevice {
    /// The device as smartctl names it, e.g. `/dev/sda`, `/dev/nvme0`.
    pub name: String,
    /// smartctl's device type, e.g. `sat`, `nvme`, `scsi`, `sat+megaraid,0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `ATA`, `NVMe`, `SCSI`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `ok` (read), `standby` (asleep: left alone, no data, so monitoring never spins a disk
    /// up), or `error` (see `error`).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
    /// The drive's overall self-assessment: `true` PASSED, `false` FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_on_hours: Option<u64>,
    /// ATA attribute 5, Reallocated_Sector_Ct (raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reallocated_sectors: Option<u64>,
    /// ATA attribute 197, Current_Pending_Sector (raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_sectors: Option<u64>,
    /// NVMe: share of the rated endurance used, 0–100 (can exceed 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvme_percentage_used_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvme_media_errors: Option<u64>,
    /// NVMe critical warning bits; 0 is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvme_critical_warning: Option<u64>,
    /// smartctl's exit status: a bit mask (bits 0–1 fatal, 2–7 findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<u8>,
    /// The findings the exit status' bits 2–7 report, one line each.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub warnings: Vec<String>,
    /// Why this disk could not be read (timed out, could not be opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
