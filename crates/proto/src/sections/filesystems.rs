use serde::{Deserialize, Serialize};

/// Real mounted filesystems (pseudo filesystems and bind duplicates left out).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Filesystems {
    pub mounts: Vec<Filesystem>,
}

/// One mounted filesystem, as `df` would show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filesystem {
    /// Mount point, e.g. `/var`.
    pub mount: String,
    /// Source device, e.g. `/dev/sda1` or `rpool/data`.
    pub device: String,
    pub fs_type: String,
    pub size_bytes: u64,
    /// `size - free`.
    pub used_bytes: u64,
    /// Free blocks, including those reserved for root.
    pub free_bytes: u64,
    /// Free blocks an unprivileged user may use.
    pub available_bytes: u64,
    /// `used / (used + available) × 100`, as `df` computes it.
    pub used_pct: f64,
    pub inodes_total: u64,
    pub inodes_free: u64,
    /// Absent on filesystems without a fixed inode count (btrfs, ZFS report 0 or dynamic figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes_used_pct: Option<f64>,
    pub read_only: bool,
    /// Set when this mount could not be measured (a hung NFS server, a permission error);
    /// the other mounts are still reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
