//! Collectors: one file per source. Each reads its source and returns a typed section, or a
//! typed error that becomes that section's error in the report — never a failed tick.

use crate::HostPaths;
use crate::config::{AgentConfig, CollectorSettings};
use crate::runner::Runner;
use hostwatch_proto::{ErrorKind, SectionData, SectionError, Tier};
use std::io;
use std::path::{Path, PathBuf};

pub mod baselines;
pub mod cgroup;
pub mod checks;
pub mod containers;
pub mod cpu;
pub mod disks;
pub mod every;
pub mod filesystems;
pub mod gpu;
pub mod http;
pub mod load;
pub mod memory;
pub mod network;
pub mod ollama;
pub mod processes;
pub mod proxmox;
pub mod smart;
pub mod system;
pub mod systemd;
pub mod thermal;
pub mod tools;
pub mod zfs;

/// One source of data.
///
/// Collectors that report rates keep the previous raw read inside themselves; their first
/// call reports no rate rather than a zero.
pub trait Collector: Send {
    /// The section's wire name, e.g. `cpu`.
    fn name(&self) -> &'static str;

    /// The tier this source runs on unless the config says otherwise.
    fn default_tier(&self) -> Tier;

    /// Reads the source. `Ok(None)` means the source does not exist on this host (no hwmon,
    /// no Docker socket): the section is left out, which is not an error.
    fn collect(&mut self) -> Result<Option<SectionData>, CollectError>;
}

/// Why a collector produced no data.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("parsing {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Command(String),
    #[error("{0}")]
    Timeout(String),
}

impl CollectError {
    pub fn io(path: &Path, source: io::Error) -> Self {
        CollectError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn parse(path: &Path, message: impl Into<String>) -> Self {
        CollectError::Parse {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// The error as it travels in the report.
    pub fn to_section_error(&self) -> SectionError {
        let kind = match self {
            CollectError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                ErrorKind::Permission
            }
            CollectError::Io { .. } => ErrorKind::Io,
            CollectError::Parse { .. } => ErrorKind::Parse,
            CollectError::Command(_) => ErrorKind::Command,
            CollectError::Timeout(_) => ErrorKind::Timeout,
        };
        SectionError {
            kind,
            message: self.to_string(),
        }
    }
}

/// A collector with the tier it runs on, as the configuration decided.
pub struct Scheduled {
    pub collector: Box<dyn Collector>,
    pub tier: Tier,
}

impl std::fmt::Debug for Scheduled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.collector.name(), self.tier)
    }
}

/// Every enabled collector, each on its configured tier. A disabled collector is never
/// constructed, so it costs nothing, not even its start-up reads. Collectors that start
/// commands run them through `runner`, the agent's one runner.
pub fn build(config: &AgentConfig, paths: &HostPaths, runner: &Runner) -> Vec<Scheduled> {
    let tools = tools::ToolPath::from_env();
    let mut out = Vec::new();
    let mut add = |settings: CollectorSettings, make: &dyn Fn() -> Box<dyn Collector>| {
        if settings.enabled {
            let collector = make();
            let tier = settings.tier.unwrap_or_else(|| collector.default_tier());
            out.push(Scheduled { collector, tier });
        }
    };
    // Registration: one entry per source, in the order of the report's sections.
    add(config.system.clone(), &|| {
        Box::new(
            system::SystemCollector::new(paths.clone())
                .with_commands(crate::commands::config::catalogue(&config.commands)),
        )
    });
    add(config.cpu.clone(), &|| {
        Box::new(cpu::CpuCollector::new(paths.clone()))
    });
    add(config.load.clone(), &|| {
        Box::new(load::LoadCollector::new(paths.clone()))
    });
    add(config.memory.clone(), &|| {
        Box::new(memory::MemoryCollector::new(paths.clone()))
    });
    add(config.filesystems.settings(), &|| {
        Box::new(filesystems::FilesystemsCollector::new(
            &config.filesystems,
            paths,
        ))
    });
    add(config.disks.settings(), &|| {
        Box::new(disks::DisksCollector::new(&config.disks, paths))
    });
    add(config.network.settings(), &|| {
        Box::new(network::NetworkCollector::new(&config.network, paths))
    });
    add(config.thermal.clone(), &|| {
        Box::new(thermal::ThermalCollector::new(paths.clone()))
    });
    add(config.processes.settings(), &|| {
        Box::new(processes::ProcessesCollector::new(
            paths.clone(),
            &config.processes,
        ))
    });
    add(config.zfs.settings(), &|| {
        Box::new(zfs::ZfsCollector::new(
            &config.zfs,
            runner.clone(),
            tools.clone(),
        ))
    });
    add(config.zfs.datasets_settings(), &|| {
        Box::new(zfs::ZfsDatasetsCollector::new(
            &config.zfs,
            runner.clone(),
            tools.clone(),
        ))
    });
    add(config.smart.settings(), &|| {
        Box::new(smart::SmartCollector::new(
            &config.smart,
            runner.clone(),
            tools.clone(),
        ))
    });
    add(config.proxmox.settings(), &|| {
        Box::new(proxmox::ProxmoxCollector::new(
            &config.proxmox,
            paths.clone(),
            runner.clone(),
            tools.clone(),
        ))
    });
    add(config.systemd.settings(), &|| {
        Box::new(systemd::SystemdCollector::new(
            &config.systemd,
            paths,
            runner.clone(),
        ))
    });
    add(config.containers.settings(), &|| {
        Box::new(containers::ContainersCollector::new(
            &config.containers,
            paths,
        ))
    });
    add(config.gpu.settings(), &|| {
        Box::new(gpu::GpuCollector::new(&config.gpu, paths))
    });
    add(config.ollama.settings(), &|| {
        Box::new(ollama::OllamaCollector::new(&config.ollama, paths))
    });
    // Checks have no on/off switch of their own: no `[[checks]]` entries, no collector.
    if let Some(checks) = checks::ChecksCollector::from_config(&config.checks, || runner.clone()) {
        out.push(Scheduled {
            tier: checks.default_tier(),
            collector: Box::new(checks),
        });
    }
    out
}
