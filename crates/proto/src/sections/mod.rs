//! The data types of each source's section. One file per source.
//!
//! Units follow the project convention: bytes, seconds, counts; percentages are 0–100 floats
//! named `*_pct`; rates are per second; times are unix milliseconds UTC. Counters since boot
//! (`*_total`) travel next to the rates so readers that keep their own deltas (Prometheus,
//! the hub) never depend on the agent's interval.

mod checks;
mod containers;
mod cpu;
mod disks;
mod filesystems;
mod gpu;
mod load;
mod memory;
mod network;
mod ollama;
mod processes;
mod proxmox;
mod smart;
mod system;
mod systemd;
mod thermal;
mod zfs;

pub use checks::{BaseUnit, CheckResult, CheckState, Checks, PerfData, Range, RangeError};
pub use containers::{
    Container, ContainerHealth, Containers, HealthCheckResult, WatchdogAction, WatchdogResult,
};
pub use cpu::{CgroupCpu, CoreCpu, Cpu, CpuModes, CpuSeconds};
pub use disks::{Disk, DiskRates, Disks};
pub use filesystems::{Filesystem, Filesystems};
pub use gpu::{Gpu, GpuDevice, GpuProcess};
pub use load::Load;
pub use memory::{Memory, MemorySource, Pressure, PressureLine, PressureResource};
pub use network::{Interface, InterfaceRates, Network};
pub use ollama::{Ollama, OllamaLoaded, OllamaModel};
pub use processes::{ProcessInfo, ProcessStates, Processes};
pub use proxmox::{Proxmox, PveGuest, PveGuestRates, PveStorage};
pub use smart::{Smart, SmartDevice};
pub use system::{ContainerLimits, OsRelease, System};
pub use systemd::{Systemd, SystemdUnit};
pub use thermal::{TempSensor, Thermal, ThermalZone};
pub use zfs::{Zfs, ZfsDataset, ZfsDatasets, ZfsPool, ZfsScan, ZfsVdev};

use crate::{Section, SectionError};
use serde::{Deserialize, Serialize};

/// Declares every section once: the `Sections` struct (one optional field per source, as on the
/// wire), the `SectionData` enum a collector returns, and the plumbing between them.
macro_rules! sections {
    ($($variant:ident $field:ident: $ty:ty,)*) => {
        /// Every source's section in a report; a source that was not due, or does not exist on
        /// this host, is absent (`None`), which is different from a source that failed.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct Sections {
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<Section<$ty>>,
            )*
        }

        /// One source's data, as a collector hands it over.
        #[derive(Debug, Clone, PartialEq)]
        pub enum SectionData {
            $($variant($ty),)*
        }

        $(
            impl From<$ty> for SectionData {
                fn from(data: $ty) -> Self {
                    SectionData::$variant(data)
                }
            }
        )*

        impl SectionData {
            /// The section's name on the wire.
            pub fn name(&self) -> &'static str {
                match self {
                    $(SectionData::$variant(_) => stringify!($field),)*
                }
            }
        }

        impl Sections {
            /// The wire names of all sections this build knows.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field),)*];

            /// Stores a collector's data in its field.
            pub fn put(&mut self, data: SectionData) {
                match data {
                    $(SectionData::$variant(d) => self.$field = Some(Section::Ok(d)),)*
                }
            }

            /// Records that the source `name` failed this tick. Unknown names are a programming
            /// error and are reported back rather than silently dropped.
            pub fn put_error(&mut self, name: &str, error: SectionError) -> Result<(), SectionError> {
                match name {
                    $(stringify!($field) => self.$field = Some(Section::Failed(error)),)*
                    _ => return Err(error),
                }
                Ok(())
            }

            /// Overlays every section present in `newer` onto `self`: the latest known state
            /// of each source, for renderers that show all sources at once (Prometheus, MQTT).
            pub fn merge_from(&mut self, newer: &Sections) {
                $(
                    if let Some(s) = &newer.$field {
                        self.$field = Some(s.clone());
                    }
                )*
            }

            /// As `merge_from`, moving the newer sections in.
            pub fn merge_owned(&mut self, newer: Sections) {
                $(
                    if let Some(s) = newer.$field {
                        self.$field = Some(s);
                    }
                )*
            }

            /// The sections that hold an error, with it, in declaration order.
            pub fn errors(&self) -> Vec<(&'static str, &SectionError)> {
                let mut out = Vec::new();
                $(
                    if let Some(Section::Failed(e)) = &self.$field {
                        out.push((stringify!($field), e));
                    }
                )*
                out
            }

            /// Names of the sections present, in declaration order.
            pub fn present(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $(
                    if self.$field.is_some() {
                        names.push(stringify!($field));
                    }
                )*
                names
            }
        }
    };
}

sections! {
    System system: System,
    Cpu cpu: Cpu,
    Load load: Load,
    Memory memory: Memory,
    Filesystems filesystems: Filesystems,
    Disks disks: Disks,
    Network network: Network,
    Thermal thermal: Thermal,
    Processes processes: Processes,
    Zfs zfs: Zfs,
    ZfsDatasets zfs_datasets: ZfsDatasets,
    Smart smart: Smart,
    Proxmox proxmox: Proxmox,
    Checks checks: Checks,
    Systemd systemd: Systemd,
    Containers containers: Containers,
    Gpu gpu: Gpu,
    Ollama ollama: Ollama,
}
