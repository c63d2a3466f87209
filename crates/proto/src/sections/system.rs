use serde::{Deserialize, Serialize};

/// Facts about the host that change rarely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct System {
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsRelease>,
    /// Kernel release, e.g. `6.1.0-18-amd64`.
    pub kernel: String,
    /// Kernel version string (build date and flags).
    #[serde(default)]
    pub kernel_version: String,
    /// e.g. `x86_64`, `aarch64`.
    pub arch: String,
    pub uptime_seconds: f64,
    /// Unix milliseconds.
    pub boot_time: i64,
    /// What the host runs on: `kvm`, `qemu`, `vmware`, `microsoft`, `xen`, `lxc`, `docker`,
    /// `podman`, `wsl`…; absent on bare metal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualization: Option<String>,
    /// Set when the agent runs inside a container or an LXC guest with cgroup limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerLimits>,
    /// The remote commands this agent allows (`[[commands]]`), so the hub can offer them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<crate::CommandInfo>,
}

/// The parts of `/etc/os-release` worth showing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsRelease {
    /// e.g. `debian`.
    pub id: String,
    /// e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub pretty_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// The cgroup limits that bound this host when it is a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerLimits {
    /// The cgroup path, e.g. `/lxc/101` or `/system.slice/docker-abc.scope`.
    pub cgroup: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit_cores: Option<f64>,
}
