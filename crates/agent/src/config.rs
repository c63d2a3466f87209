//! The agent's configuration: typed, with a default for every setting that works on one machine.
//!
//! Loading (search order, `HOSTWATCH_<SECTION>_<KEY>` overrides, errors that name the file and
//! key) lives in [`crate::config_file`]; [`AgentConfig::load`] applies it to the agent.

use hostwatch_proto::{Secret, Tier};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
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
    pub zfs: crate::collect::zfs::ZfsConfig,
    pub smart: crate::collect::smart::SmartConfig,
    pub proxmox: crate::collect::proxmox::ProxmoxConfig,
    pub containers: ContainersConfig,
    pub prometheus: PrometheusConfig,
    pub hub: HubConfig,
    pub spool: SpoolConfig,
    pub debug: DebugConfig,
    pub mqtt: crate::sink::mqtt::config::MqttConfig,
    /// The remote-command whitelist (`[[commands]]`).
    pub commands: Vec<crate::commands::config::CommandSpec>,
    pub remote: crate::commands::config::RemoteCommandsConfig,
    /// `[[checks]]`: Nagios-compatible check commands.
    pub checks: Vec<CheckConfig>,
    pub systemd: SystemdConfig,
    pub gpu: crate::collect::gpu::GpuConfig,
    pub ollama: crate::collect::ollama::OllamaConfig,
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
    /// Where the agent keeps its identity, its `seq` high-water mark and the spool. Default:
    /// `/var/lib/hostwatch` when the agent may write there, else `$XDG_STATE_HOME/hostwatch`
    /// or `~/.local/state/hostwatch` (see [`crate::state::resolve_state_dir`]).
    pub state_dir: Option<PathBuf>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            host_id: None,
            proc_root: "/proc".into(),
            sys_root: "/sys".into(),
            root_dir: "/".into(),
            state_dir: None,
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

/// `[containers]`: Docker and Podman through the Engine API on a Unix socket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainersConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// The API socket. Unset: `DOCKER_HOST` (`unix://` only), else the first that exists of
    /// `/var/run/docker.sock`, `/run/podman/podman.sock`, `$XDG_RUNTIME_DIR/podman/podman.sock`.
    pub socket: Option<PathBuf>,
    /// The longest one API call may take, in seconds.
    pub timeout_seconds: u64,
    pub watchdog: WatchdogConfig,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        ContainersConfig {
            enabled: true,
            tier: None,
            socket: None,
            timeout_seconds: 5,
            watchdog: WatchdogConfig::default(),
        }
    }
}

impl ContainersConfig {
    fn validate(&self) -> Result<(), String> {
        if !(1..=120).contains(&self.timeout_seconds) {
            return Err(format!(
                "key `containers.timeout_seconds`: must be between 1 and 120, got {}",
                self.timeout_seconds
            ));
        }
        let w = &self.watchdog;
        if w.failing_streak == 0 {
            return Err("key `containers.watchdog.failing_streak`: must be at least 1".into());
        }
        if w.max_restarts_per_hour == 0 {
            return Err(
                "key `containers.watchdog.max_restarts_per_hour`: must be at least 1 (disable the watchdog instead)"
                    .into(),
            );
        }
        if w.stop_timeout_seconds > 300 {
            return Err(format!(
                "key `containers.watchdog.stop_timeout_seconds`: at most 300, got {}",
                w.stop_timeout_seconds
            ));
        }
        Ok(())
    }
}

/// `[containers.watchdog]`: restart containers whose health check keeps failing. Off unless
/// enabled: restarting someone's service is a decision they make.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchdogConfig {
    pub enabled: bool,
    /// Consecutive failed health checks before a restart.
    pub failing_streak: u32,
    /// The least time between two restarts of one container, in seconds.
    pub cooldown_seconds: u64,
    /// The most restarts of one container in any hour.
    pub max_restarts_per_hour: u32,
    /// How long the daemon waits for the container to stop before killing it, in seconds.
    pub stop_timeout_seconds: u64,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            enabled: false,
            failing_streak: 3,
            cooldown_seconds: 600,
            max_restarts_per_hour: 3,
            stop_timeout_seconds: 10,
        }
    }
}

/// `[prometheus]`: the `/metrics` endpoint, off unless `listen` is set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusConfig {
    pub listen: Option<SocketAddr>,
}

/// `[hub]`: delivery to the hub, off unless `url` is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// The hub's base URL, e.g. `https://hub.example.net` (reports go to `<url>/api/v1/reports`).
    /// Plain `http://` only to a loopback address.
    pub url: Option<String>,
    /// This host's bearer token. Never logged; prints as `[redacted]`.
    pub token: Secret,
    /// A PEM bundle of the CA(s) that signed the hub's certificate (a private CA). When set,
    /// only these are trusted; when unset, the system's trust store is.
    pub ca_file: Option<PathBuf>,
    /// The longest one request may take, connecting included, in seconds.
    pub timeout_seconds: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            url: None,
            token: Secret::default(),
            ca_file: None,
            timeout_seconds: 10,
        }
    }
}

/// `[spool]`: the on-disk queue of what could not be delivered to the hub yet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// Total size of the spool; past it the oldest documents are dropped (and counted).
    pub max_bytes: u64,
    /// Documents older than this are dropped (and counted), in seconds.
    pub max_age_seconds: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_bytes: 100 * 1024 * 1024,
            max_age_seconds: 7 * 24 * 3600,
        }
    }
}

/// `[debug]`: the opt-in diagnostic dump.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebugConfig {
    /// When set, every external command goes to `commands.log` and every report to
    /// `samples.log` in this directory.
    pub dump_dir: Option<PathBuf>,
}

/// `[systemd]`: units to watch, and the system's failed units. Nothing happens on a host
/// without systemd.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SystemdConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// Unit names or shell-style patterns (`nginx*.service`); empty = only the failed count.
    pub units: Vec<String>,
    /// The listed units are expected to be active; one that is not is alerted on.
    pub expect_active: bool,
    /// The `systemctl` program: a name looked up in `PATH`, or a path.
    pub systemctl: PathBuf,
    /// The longest one `systemctl` call may take, in seconds.
    pub timeout_seconds: u64,
}

impl Default for SystemdConfig {
    fn default() -> Self {
        SystemdConfig {
            enabled: true,
            tier: None,
            units: Vec::new(),
            expect_active: true,
            systemctl: "systemctl".into(),
            timeout_seconds: 10,
        }
    }
}

/// One `[[checks]]` entry: a Nagios-compatible plugin run on its own interval.
///
/// `name` and `command` are optional here only so that an entry missing one is skipped with a
/// warning naming its index (see [`crate::collect::checks`]) instead of failing the whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Unique on the host: the series label and the name in the report.
    #[serde(default)]
    pub name: Option<String>,
    /// The program and its arguments. An argv array is run as written, never through a shell
    /// (write `["/bin/sh", "-c", "…"]` for one). A string is split into words the way a POSIX
    /// shell splits them (quotes and backslashes), with no variable, glob or pipe expansion.
    #[serde(default)]
    pub command: Option<CheckCommand>,
    /// Seconds between runs (from the start of one to the start of the next).
    #[serde(default = "default_check_interval", alias = "interval")]
    pub interval_seconds: u64,
    /// Seconds a run may take before its process group is killed and the check is UNKNOWN.
    #[serde(default = "default_check_timeout", alias = "timeout")]
    pub timeout_seconds: u64,
}

/// A check's command as written in the config file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum CheckCommand {
    Argv(Vec<String>),
    Line(String),
}

impl CheckCommand {
    /// The argv; `Err` says why a string could not be split.
    pub fn argv(&self) -> Result<Vec<String>, &'static str> {
        match self {
            CheckCommand::Argv(argv) => Ok(argv.clone()),
            CheckCommand::Line(line) => {
                shlex::split(line).ok_or("unbalanced quotes or a trailing backslash")
            }
        }
    }
}

fn default_check_interval() -> u64 {
    60
}

fn default_check_timeout() -> u64 {
    10
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
    ProcessesConfig,
    SystemdConfig,
    ContainersConfig
);

impl AgentConfig {
    /// The top-level tables, for `HOSTWATCH_<SECTION>_<KEY>` overrides.
    pub const SECTIONS: &'static [&'static str] = &[
        "agent",
        "tiers",
        "cpu",
        "load",
        "memory",
        "system",
        "thermal",
        "filesystems",
        "disks",
        "network",
        "processes",
        "zfs",
        "smart",
        "proxmox",
        "containers",
        "prometheus",
        "hub",
        "spool",
        "debug",
        "mqtt",
        "remote",
        "systemd",
        "gpu",
        "ollama",
    ];

    /// Finds, reads, overlays and validates the agent's configuration.
    pub fn load(
        sources: &crate::config_file::Sources,
    ) -> Result<(AgentConfig, crate::config_file::Origin), crate::config_file::ConfigError> {
        let (config, origin): (AgentConfig, _) =
            crate::config_file::load("agent", sources, Self::SECTIONS)?;
        config
            .validate()
            .map_err(|problem| crate::config_file::ConfigError {
                source_name: origin.to_string(),
                problem,
            })?;
        Ok((config, origin))
    }

    /// Checks what types alone cannot: the first problem found, naming its key.
    pub fn validate(&self) -> Result<(), String> {
        let t = &self.tiers;
        for (key, secs) in [
            ("tiers.fast", t.fast),
            ("tiers.medium", t.medium),
            ("tiers.slow", t.slow),
        ] {
            if !(1..=86_400).contains(&secs) {
                return Err(format!(
                    "key `{key}`: must be between 1 and 86400 seconds, got {secs}"
                ));
            }
        }
        if !(t.fast <= t.medium && t.medium <= t.slow) {
            return Err(format!(
                "key `tiers`: intervals must satisfy fast <= medium <= slow, got {} / {} / {}",
                t.fast, t.medium, t.slow
            ));
        }
        if let Some(id) = &self.agent.host_id {
            let ok = !id.is_empty()
                && id.len() <= 253
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(
                    "key `agent.host_id`: must be 1-253 characters of letters, digits, '-', '_' or '.'"
                        .to_string(),
                );
            }
        }
        if self.processes.top > 1000 {
            return Err(format!(
                "key `processes.top`: at most 1000, got {}",
                self.processes.top
            ));
        }
        validate_checks(&self.checks)?;
        if !(1..=600).contains(&self.systemd.timeout_seconds) {
            return Err(format!(
                "key `systemd.timeout_seconds`: must be between 1 and 600, got {}",
                self.systemd.timeout_seconds
            ));
        }
        self.containers.validate()?;
        self.ollama.validate()?;
        self.proxmox.validate()?;
        self.hub.validate()?;
        self.mqtt.validate()?;
        crate::commands::config::validate(&self.commands, &self.remote)?;
        if self.spool.max_bytes < 1024 * 1024 {
            return Err(format!(
                "key `spool.max_bytes`: at least 1048576 (1 MiB), got {}",
                self.spool.max_bytes
            ));
        }
        if self.spool.max_age_seconds < 60 {
            return Err(format!(
                "key `spool.max_age_seconds`: at least 60, got {}",
                self.spool.max_age_seconds
            ));
        }
        if let Some(dir) = &self.agent.state_dir
            && !dir.is_absolute()
        {
            return Err(format!(
                "key `agent.state_dir`: must be an absolute path, got `{}`",
                dir.display()
            ));
        }
        Ok(())
    }
}

/// Interval and timeout bounds, and unique names: two checks of one name would write the same
/// series, so a duplicate is an error rather than a warning (entries missing a name or command
/// are only warned about, at start-up).
fn validate_checks(checks: &[CheckConfig]) -> Result<(), String> {
    for (i, check) in checks.iter().enumerate() {
        if !(1..=86_400).contains(&check.interval_seconds) {
            return Err(format!(
                "key `checks[{i}].interval_seconds`: must be between 1 and 86400, got {}",
                check.interval_seconds
            ));
        }
        if !(1..=3_600).contains(&check.timeout_seconds) {
            return Err(format!(
                "key `checks[{i}].timeout_seconds`: must be between 1 and 3600, got {}",
                check.timeout_seconds
            ));
        }
        let Some(name) = check.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        if let Some(first) = checks[..i]
            .iter()
            .position(|c| c.name.as_deref() == Some(name))
        {
            return Err(format!(
                "key `checks[{i}].name`: `{name}` is already the name of checks[{first}]; \
                 check names must be unique"
            ));
        }
    }
    Ok(())
}

impl HubConfig {
    /// Whether reports go to a hub.
    pub fn is_enabled(&self) -> bool {
        self.url.is_some()
    }

    /// The checks that need no network: a usable URL, https unless the hub is on this machine,
    /// a token, a readable CA file. Messages never echo the URL's credentials or the token.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=600).contains(&self.timeout_seconds) {
            return Err(format!(
                "key `hub.timeout_seconds`: must be between 1 and 600, got {}",
                self.timeout_seconds
            ));
        }
        let Some(raw) = &self.url else {
            return Ok(());
        };
        let url = reqwest::Url::parse(raw).map_err(|e| {
            format!("key `hub.url`: not a URL ({e}); expected e.g. https://hub.example.net")
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "key `hub.url`: must not contain a user or password; put the host's token in `hub.token`"
                    .to_string(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("key `hub.url`: must not have a query or fragment".to_string());
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err("key `hub.url`: has no host".to_string());
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            "http" => {
                return Err(format!(
                    "key `hub.url`: plain http is allowed only to this machine (127.0.0.0/8, ::1, \
                     localhost), not to `{host}`: the token and reports would cross the network \
                     unencrypted; use https://"
                ));
            }
            other => {
                return Err(format!(
                    "key `hub.url`: scheme must be https (or http to a loopback address), got `{other}`"
                ));
            }
        }
        if self.token.is_empty() {
            return Err(
                "key `hub.token`: required when `hub.url` is set (the hub identifies this host by it)"
                    .to_string(),
            );
        }
        if self
            .token
            .expose()
            .chars()
            .any(|c| c.is_control() || c == ' ')
        {
            return Err(
                "key `hub.token`: must not contain spaces or control characters".to_string(),
            );
        }
        if let Some(ca_file) = &self.ca_file {
            crate::sink::hub::read_ca_file(ca_file)
                .map_err(|e| format!("key `hub.ca_file`: {e}"))?;
        }
        Ok(())
    }
}

/// Loopback only: `localhost`, 127.0.0.0/8, `::1` (and `::ffff:127.x`).
fn is_loopback_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    // IPv6 literals come bracketed: `[::1]`.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_file::{Origin, Sources};
    use std::path::Path;

    fn sources_in(dir: &Path) -> Sources {
        Sources {
            explicit: None,
            env: Vec::new(),
            home: Some(dir.join("home")),
            cwd: Some(dir.join("cwd")),
            etc_dir: Some(dir.join("etc")),
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn containers_and_watchdog_settings_load_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cwd/hostwatch.toml");
        write(
            &file,
            "[containers]\nsocket = \"/run/podman/podman.sock\"\n\n[containers.watchdog]\nenabled = true\nfailing_streak = 5\n",
        );
        let (config, _) = AgentConfig::load(&sources_in(dir.path())).unwrap();
        let c = &config.containers;
        assert_eq!(
            c.socket.as_deref(),
            Some(Path::new("/run/podman/podman.sock"))
        );
        assert!(c.watchdog.enabled);
        assert_eq!(c.watchdog.failing_streak, 5);
        assert_eq!(
            c.watchdog.cooldown_seconds, 600,
            "unset keys keep their default"
        );
        assert!(
            !AgentConfig::default().containers.watchdog.enabled,
            "opt-in"
        );

        write(&file, "[containers.watchdog]\nfailing_streak = 0\n");
        let err = AgentConfig::load(&sources_in(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("containers.watchdog.failing_streak"), "{err}");
        write(&file, "[containers.watchdog]\nrestart_everything = true\n");
        let err = AgentConfig::load(&sources_in(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("restart_everything"), "{err}");
    }

    #[test]
    fn defaults_without_any_file() {
        let dir = tempfile::tempdir().unwrap();
        let (config, origin) = AgentConfig::load(&sources_in(dir.path())).unwrap();
        assert_eq!(origin, Origin::Defaults);
        assert_eq!(config, AgentConfig::default());
        assert_eq!(config.tiers.fast, 10);
        assert_eq!(config.processes.top, 10);
        assert!(config.prometheus.listen.is_none());
    }

    #[test]
    fn search_order_prefers_cwd_then_home_then_etc() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources_in(dir.path());
        let etc = dir.path().join("etc/agent.toml");
        write(&etc, "[tiers]\nfast = 30\n");
        let (c, o) = AgentConfig::load(&s).unwrap();
        assert_eq!((c.tiers.fast, o), (30, Origin::File(etc)));

        let home = dir.path().join("home/.config/hostwatch/agent.toml");
        write(&home, "[tiers]\nfast = 20\n");
        let (c, o) = AgentConfig::load(&s).unwrap();
        assert_eq!((c.tiers.fast, o), (20, Origin::File(home)));

        let cwd = dir.path().join("cwd/hostwatch.toml");
        write(&cwd, "[tiers]\nfast = 15\n");
        let (c, o) = AgentConfig::load(&s).unwrap();
        assert_eq!((c.tiers.fast, o), (15, Origin::File(cwd)));

        // $HOSTWATCH_CONFIG beats all of those, --config beats it.
        let env_file = dir.path().join("env.toml");
        write(&env_file, "[tiers]\nfast = 5\n");
        let mut s2 = s.clone();
        s2.env
            .push(("HOSTWATCH_CONFIG".into(), env_file.display().to_string()));
        assert_eq!(AgentConfig::load(&s2).unwrap().0.tiers.fast, 5);
        let explicit = dir.path().join("explicit.toml");
        write(&explicit, "[tiers]\nfast = 7\n");
        s2.explicit = Some(explicit);
        assert_eq!(AgentConfig::load(&s2).unwrap().0.tiers.fast, 7);
    }

    #[test]
    fn checks_parse_with_defaults_aliases_and_both_command_forms() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources_in(dir.path());
        write(
            &dir.path().join("cwd/hostwatch.toml"),
            r#"
[[checks]]
name = "disk"
command = ["/usr/lib/nagios/plugins/check_disk", "-w", "20%"]

[[checks]]
name = "line"
command = "check_http -H 'my host'"
interval = 30
timeout = 5

[[checks]]
command = ["true"]
"#,
        );
        let (c, _) = AgentConfig::load(&s).unwrap();
        assert_eq!(c.checks.len(), 3);
        assert_eq!(
            (c.checks[0].interval_seconds, c.checks[0].timeout_seconds),
            (60, 10)
        );
        assert_eq!(
            (c.checks[1].interval_seconds, c.checks[1].timeout_seconds),
            (30, 5)
        );
        assert_eq!(
            c.checks[1].command.as_ref().unwrap().argv().unwrap(),
            ["check_http", "-H", "my host"]
        );
        assert_eq!(
            c.checks[2].name, None,
            "skipped at start-up, not refused here"
        );
    }

    #[test]
    fn checks_refuse_duplicates_bad_bounds_and_typos() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources_in(dir.path());
        let file = dir.path().join("cwd/hostwatch.toml");
        for (text, expect) in [
            (
                "[[checks]]\nname = \"a\"\ncommand = [\"true\"]\n[[checks]]\nname = \"b\"\ncommand = [\"true\"]\n[[checks]]\nname = \"a\"\ncommand = [\"false\"]\n",
                "key `checks[2].name`: `a` is already the name of checks[0]",
            ),
            (
                "[[checks]]\nname = \"a\"\ncommand = [\"true\"]\ninterval_seconds = 0\n",
                "key `checks[0].interval_seconds`: must be between 1 and 86400, got 0",
            ),
            (
                "[[checks]]\nname = \"a\"\ncommand = [\"true\"]\ntimeout_seconds = 7200\n",
                "key `checks[0].timeout_seconds`: must be between 1 and 3600",
            ),
            ("[[checks]]\nname = \"a\"\nintervall = 5\n", "intervall"),
        ] {
            write(&file, text);
            let e = AgentConfig::load(&s).unwrap_err();
            assert!(e.problem.contains(expect), "{e}");
        }
    }

    #[test]
    fn systemd_units_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources_in(dir.path());
        write(
            &dir.path().join("cwd/hostwatch.toml"),
            "[systemd]\nunits = [\"cloudflared.service\", \"nginx*.service\"]\n",
        );
        s.env = vec![("HOSTWATCH_SYSTEMD_EXPECT_ACTIVE".into(), "false".into())];
        let (c, _) = AgentConfig::load(&s).unwrap();
        assert_eq!(c.systemd.units, ["cloudflared.service", "nginx*.service"]);
        assert!(!c.systemd.expect_active);
        assert!(c.systemd.enabled);
        assert_eq!(c.systemd.systemctl, PathBuf::from("systemctl"));
        s.env = vec![("HOSTWATCH_SYSTEMD_TIMEOUT_SECONDS".into(), "0".into())];
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(e.problem.contains("systemd.timeout_seconds"), "{e}");
    }

    #[test]
    fn explicit_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources_in(dir.path());
        s.explicit = Some(dir.path().join("nope.toml"));
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(e.source_name.ends_with("nope.toml"), "{e}");
        assert!(e.problem.contains("cannot read"), "{e}");
    }

    #[test]
    fn env_overrides_single_keys_with_typed_values() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources_in(dir.path());
        write(
            &dir.path().join("cwd/hostwatch.toml"),
            "[network]\nexclude = [\"lo\"]\n[tiers]\nfast = 30\n",
        );
        s.env = vec![
            (
                "HOSTWATCH_PROMETHEUS_LISTEN".into(),
                "127.0.0.1:9101".into(),
            ),
            ("HOSTWATCH_TIERS_FAST".into(), "5".into()),
            (
                "HOSTWATCH_NETWORK_EXCLUDE".into(),
                r#"["lo", "tun*"]"#.into(),
            ),
            ("HOSTWATCH_DEBUG_DUMP_DIR".into(), "/tmp/hw dump".into()),
            ("HOSTWATCH_PROCESSES_ENABLED".into(), "false".into()),
            // Not a config section: left to the command line.
            ("HOSTWATCH_LOG_FORMAT".into(), "json".into()),
        ];
        let (c, _) = AgentConfig::load(&s).unwrap();
        assert_eq!(c.prometheus.listen, Some("127.0.0.1:9101".parse().unwrap()));
        assert_eq!(c.tiers.fast, 5);
        assert_eq!(
            c.network.exclude,
            vec!["lo".to_string(), "tun*".to_string()]
        );
        assert_eq!(c.debug.dump_dir.as_deref(), Some(Path::new("/tmp/hw dump")));
        assert!(!c.processes.enabled);
    }

    #[test]
    fn errors_name_file_key_and_problem() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources_in(dir.path());
        let file = dir.path().join("cwd/hostwatch.toml");

        write(&file, "[prometheus]\nlisten = \"not an address\"\n");
        let e = AgentConfig::load(&s).unwrap_err();
        assert_eq!(e.source_name, file.display().to_string());
        assert!(e.problem.contains("prometheus.listen"), "{e}");
        assert!(e.problem.contains("invalid socket address"), "{e}");

        write(&file, "[network]\nexclud = []\n");
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(e.problem.contains("unknown field `exclud`"), "{e}");

        write(&file, "[tiers]\nfast = \"ten\"\n");
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(e.problem.contains("tiers.fast"), "{e}");

        write(&file, "[tiers\nfast = 1\n");
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(
            e.problem.contains("line 1"),
            "syntax errors carry a position: {e}"
        );

        write(&file, "[tiers]\nfast = 600\nmedium = 300\n");
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(e.problem.contains("fast <= medium <= slow"), "{e}");

        write(&file, "[agent]\nhost_id = \"bad host\"\n");
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(e.problem.contains("agent.host_id"), "{e}");
    }

    #[test]
    fn env_errors_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources_in(dir.path());
        s.env = vec![("HOSTWATCH_TIERS_FASTEST".into(), "5".into())];
        let e = AgentConfig::load(&s).unwrap_err();
        assert_eq!(e.source_name, "HOSTWATCH_TIERS_FASTEST");
        assert!(e.problem.contains("unknown field `fastest`"), "{e}");

        s.env = vec![("HOSTWATCH_PROMETHEUS_LISTEN".into(), "nowhere".into())];
        let e = AgentConfig::load(&s).unwrap_err();
        assert_eq!(e.source_name, "HOSTWATCH_PROMETHEUS_LISTEN");
        assert!(e.problem.contains("prometheus.listen"), "{e}");
    }

    #[test]
    fn every_section_is_overridable() {
        // SECTIONS must name real tables: an override of an unknown key in each is refused,
        // which proves the variable reached that table.
        let dir = tempfile::tempdir().unwrap();
        for section in AgentConfig::SECTIONS {
            let mut s = sources_in(dir.path());
            s.env = vec![(
                format!("HOSTWATCH_{}_NO_SUCH_KEY", section.to_uppercase()),
                "1".into(),
            )];
            let e = AgentConfig::load(&s).unwrap_err();
            assert!(e.problem.contains("no_such_key"), "{section}: {e}");
        }
    }

    fn hub(url: &str) -> HubConfig {
        HubConfig {
            url: Some(url.to_string()),
            token: Secret::new("tok-123"),
            ..HubConfig::default()
        }
    }

    #[test]
    fn hub_http_only_to_loopback() {
        for ok in [
            "https://hub.example.net",
            "https://hub.example.net:8443/hostwatch/",
            "http://127.0.0.1:8080",
            "http://127.9.8.7",
            "http://localhost:3000",
            "http://LOCALHOST",
            "http://[::1]:8080/",
        ] {
            assert_eq!(hub(ok).validate(), Ok(()), "{ok}");
        }
        for bad in [
            "http://hub.example.net",
            "http://10.0.0.5:8080",
            "http://192.168.1.10",
            "http://[fe80::1]",
            "http://localhost.example.net",
            "http://128.0.0.1",
        ] {
            let e = hub(bad).validate().unwrap_err();
            assert!(e.starts_with("key `hub.url`: plain http"), "{bad}: {e}");
        }
        let e = hub("ftp://hub.example.net").validate().unwrap_err();
        assert!(e.contains("scheme must be https"), "{e}");
        let e = hub("hub.example.net").validate().unwrap_err();
        assert!(e.contains("not a URL"), "{e}");
    }

    #[test]
    fn hub_needs_a_token_and_no_credentials_in_the_url() {
        let mut h = hub("https://hub.example.net");
        h.token = Secret::default();
        assert!(h.validate().unwrap_err().contains("hub.token"));
        let e = hub("https://me:hunter2@hub.example.net")
            .validate()
            .unwrap_err();
        assert!(e.contains("must not contain a user or password"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let mut h = hub("https://hub.example.net");
        h.timeout_seconds = 0;
        assert!(h.validate().unwrap_err().contains("hub.timeout_seconds"));
        // Off by default: nothing to check.
        assert_eq!(HubConfig::default().validate(), Ok(()));
        assert!(!HubConfig::default().is_enabled());
    }

    #[test]
    fn hub_ca_file_must_be_a_pem_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = hub("https://hub.example.net");
        h.ca_file = Some(dir.path().join("missing.pem"));
        let e = h.validate().unwrap_err();
        assert!(e.starts_with("key `hub.ca_file`: cannot read"), "{e}");
        assert!(e.contains("missing.pem"), "{e}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        h.ca_file = Some(garbage);
        let e = h.validate().unwrap_err();
        assert!(e.contains("holds no PEM certificate"), "{e}");
    }

    #[test]
    fn hub_and_spool_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources_in(dir.path());
        write(
            &dir.path().join("cwd/hostwatch.toml"),
            "[hub]\nurl = \"https://hub.example.net\"\ntoken = \"from-file\"\n[spool]\nmax_bytes = 2097152\n",
        );
        let (c, _) = AgentConfig::load(&s).unwrap();
        assert_eq!(c.hub.token.expose(), "from-file");
        assert_eq!(c.hub.timeout_seconds, 10);
        assert_eq!(c.spool.max_bytes, 2 * 1024 * 1024);
        assert_eq!(c.spool.max_age_seconds, 7 * 24 * 3600);
        // An all-digit token arrives from the environment as a TOML integer.
        s.env = vec![
            ("HOSTWATCH_HUB_TOKEN".into(), "12345".into()),
            ("HOSTWATCH_AGENT_STATE_DIR".into(), "/srv/hw".into()),
        ];
        let (c, _) = AgentConfig::load(&s).unwrap();
        assert_eq!(c.hub.token.expose(), "12345");
        assert_eq!(c.agent.state_dir.as_deref(), Some(Path::new("/srv/hw")));
        // The token is never printed, not even in the config's Debug.
        s.env = vec![("HOSTWATCH_HUB_TOKEN".into(), "sekrit-token".into())];
        let (c, _) = AgentConfig::load(&s).unwrap();
        assert!(!format!("{c:?}").contains("sekrit"));

        s.env = vec![("HOSTWATCH_SPOOL_MAX_BYTES".into(), "1000".into())];
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(e.problem.contains("spool.max_bytes"), "{e}");
        s.env = vec![("HOSTWATCH_AGENT_STATE_DIR".into(), "relative/dir".into())];
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(e.problem.contains("agent.state_dir"), "{e}");
        s.env = vec![("HOSTWATCH_HUB_URL".into(), "http://203.0.113.7:8080".into())];
        let e = AgentConfig::load(&s).unwrap_err();
        assert!(e.problem.contains("plain http is allowed only"), "{e}");
    }
}
