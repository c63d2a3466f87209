//! The agent's configuration: typed, with a default for every setting that works on one machine.
//!
//! Loading (search order, `HOSTWATCH_<SECTION>_<KEY>` overrides, errors that name the file and
//! key) lives in [`load`](crate::config::load).

use hostwatch_proto::Tier;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the agent can be told. Unknown keys are errors, so a typo never goes unnoticed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub agent: AgentSettings,
    pub tiers: TierIntervals,
    pub cpu: CollectorSettings,
    pub load: CollectorSettings,
    pub memory: CollectorSettings,
    pub system: CollectorSettings,
    pub thermal: CollectorSettings,
    pub filesystems: FilesystemsConfig,
    pub disks: DisksConfig,
    pub network: NetworkConfig,
    pub processes: ProcessesConfig,
    pub prometheus: PrometheusConfig,
    pub debug: DebugConfig,
}

/// `[agent]`: identity and where the host's trees are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSettings {
    /// The name this host reports under; defaults to the hostname.
    pub host_id: Option<String>,
    /// The host's `/proc` (set to `/host/proc` when the agent runs in a container).
    pub proc_root: PathBuf,
    pub sys_root: PathBuf,
    /// The host's `/`, for `/etc/os-release`.
    pub root_dir: PathBuf,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            host_id: None,
            proc_root: "/proc".into(),
            sys_root: "/sys".into(),
            root_dir: "/".into(),
        }
    }
}

/// `[tiers]`: how often each tier runs, in seconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierIntervals {
    pub fast: u64,
    pub medium: u64,
    pub slow: u64,
}

impl Default for TierIntervals {
    fn default() -> Self {
        TierIntervals {
            fast: 10,
            medium: 300,
            slow: 1800,
        }
    }
}

impl TierIntervals {
    pub fn seconds(&self, tier: Tier) -> u64 {
        match tier {
            Tier::Fast => self.fast,
            Tier::Medium => self.medium,
            Tier::Slow => self.slow,
        }
    }
}

/// The settings every collector has: on or off, and its tier (default: the collector's own).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorSettings {
    pub enabled: bool,
    pub tier: Option<Tier>,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        CollectorSettings {
            enabled: true,
            tier: None,
        }
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `[filesystems]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesystemsConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// Mount-point patterns to report; empty = all real mounts.
    pub include_mounts: Vec<String>,
    pub exclude_mounts: Vec<String>,
    /// File system type patterns to report; empty = all real types.
    pub include_fs_types: Vec<String>,
    pub exclude_fs_types: Vec<String>,
}

impl Default for FilesystemsConfig {
    fn default() -> Self {
        FilesystemsConfig {
            enabled: true,
            tier: None,
            include_mounts: Vec::new(),
            exclude_mounts: strings(&[
                "/proc/*",
                "/sys/*",
                "/dev/*",
                "/run/*",
                "/var/lib/docker/*",
                "/var/lib/containers/*",
                "/var/lib/kubelet/*",
                "/snap/*",
            ]),
            include_fs_types: Vec::new(),
            exclude_fs_types: strings(&[
                "autofs",
                "binfmt_misc",
                "bpf",
                "cgroup",
                "cgroup2",
                "configfs",
                "debugfs",
                "devpts",
                "devtmpfs",
                "efivarfs",
                "fusectl",
                "fuse.lxcfs",
                "hugetlbfs",
                "iso9660",
                "mqueue",
                "nsfs",
                "overlay",
                "proc",
                "procfs",
                "pstore",
                "ramfs",
                "rpc_pipefs",
                "securityfs",
                "selinuxfs",
                "squashfs",
                "erofs",
                "sysfs",
                "tracefs",
                "tmpfs",
            ]),
        }
    }
}

/// `[disks]`: block devices for I/O rates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisksConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// Device name patterns to report; empty = all whole disks.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Report partitions too (`sda1`, `nvme0n1p2`), not only whole devices.
    pub partitions: bool,
}

impl Default for DisksConfig {
    fn default() -> Self {
        DisksConfig {
            enabled: true,
            tier: None,
            include: Vec::new(),
            exclude: strings(&["loop*", "ram*", "zram*", "fd*", "sr*"]),
            partitions: false,
        }
    }
}

/// `[network]`: interfaces.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            enabled: true,
            tier: None,
            include: Vec::new(),
            exclude: strings(&["lo", "veth*", "docker*", "br-*"]),
        }
    }
}

/// `[processes]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessesConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// How many processes to list by CPU and by memory.
    pub top: usize,
    /// Longest command line reported, in bytes.
    pub cmdline_max: usize,
}

impl Default for ProcessesConfig {
    fn default() -> Self {
        ProcessesConfig {
            enabled: true,
            tier: None,
            top: 10,
            cmdline_max: 256,
        }
    }
}

/// `[prometheus]`: the `/metrics` endpoint, off unless `listen` is set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusConfig {
    pub listen: Option<SocketAddr>,
}

/// `[debug]`: the opt-in diagnostic dump.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebugConfig {
    /// When set, every external command goes to `commands.log` and every report to
    /// `samples.log` in this directory.
    pub dump_dir: Option<PathBuf>,
}

macro_rules! settings_of {
    ($($t:ty),*) => {$(
        impl $t {
            /// The on/off and tier part shared by every collector.
            pub fn settings(&self) -> CollectorSettings {
                CollectorSettings { enabled: self.enabled, tier: self.tier }
            }
        }
    )*};
}
settings_of!(
    FilesystemsConfig,
    DisksConfig,
    NetworkConfig,
    ProcessesConfig
);
