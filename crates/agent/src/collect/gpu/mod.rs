//! The `gpu` section: AMD cards from the amdgpu driver's sysfs files ([`amd`]) and NVIDIA
//! cards through NVML, loaded at run time ([`nvidia`]).
//!
//! Fast tier by default, for both: the AMD readings are a handful of small sysfs reads with
//! the layout discovered once, and NVML is initialised once and then answers each query with
//! one ioctl to the driver, in-process (no `nvidia-smi` spawn, whose cost is mostly its own
//! NVML start-up). A host with neither has no section.

pub mod amd;
pub mod nvidia;

use super::{CollectError, Collector};
use crate::HostPaths;
use hostwatch_proto::sections::{Gpu, GpuDevice};
use hostwatch_proto::{SectionData, Tier};
use serde::Deserialize;
use std::path::PathBuf;

/// `[gpu]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpuConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// Read AMD cards from sysfs.
    pub amd: bool,
    /// Read NVIDIA cards through NVML.
    pub nvidia: bool,
    /// Where `libnvidia-ml` is; default: the loader's search for `libnvidia-ml.so.1`.
    pub nvml_library: Option<PathBuf>,
}

impl Default for GpuConfig {
    fn default() -> Self {
        GpuConfig {
            enabled: true,
            tier: None,
            amd: true,
            nvidia: true,
            nvml_library: None,
        }
    }
}

impl GpuConfig {
    pub fn settings(&self) -> crate::config::CollectorSettings {
        crate::config::CollectorSettings {
            enabled: self.enabled,
            tier: self.tier,
        }
    }
}

/// One vendor's way of finding and reading GPUs. `Ok` with no devices means this vendor has
/// no GPU on the host (or its driver is absent), which is not an error.
pub trait GpuSource: Send + std::fmt::Debug {
    /// Names the source in errors, e.g. `amdgpu sysfs`, `NVML`.
    fn name(&self) -> &'static str;

    fn devices(&mut self) -> Result<Vec<GpuDevice>, CollectError>;
}

/// Reports the `gpu` section from every enabled source.
#[derive(Debug)]
pub struct GpuCollector {
    sources: Vec<Box<dyn GpuSource>>,
}

impl GpuCollector {
    pub fn new(config: &GpuConfig, paths: &HostPaths) -> GpuCollector {
        let mut sources: Vec<Box<dyn GpuSource>> = Vec::new();
        if config.amd {
            sources.push(Box::new(amd::AmdSysfs::new(paths.clone())));
        }
        if config.nvidia {
            sources.push(Box::new(nvidia::NvidiaSource::new(
                nvidia::NvmlLibrary::new(config.nvml_library.clone()),
                paths.clone(),
            )));
        }
        GpuCollector { sources }
    }

    /// A collector over the given sources (tests feed recorded ones).
    pub fn with_sources(sources: Vec<Box<dyn GpuSource>>) -> GpuCollector {
        GpuCollector { sources }
    }

    /// Every source's devices; a failing source costs only its own devices while another
    /// answered, and is the section's error when none did.
    pub fn read(&mut self) -> Result<Option<Gpu>, CollectError> {
        let mut gpu = Gpu::default();
        let mut failures = Vec::new();
        for source in &mut self.sources {
            match source.devices() {
                Ok(devices) => gpu.devices.extend(devices),
                Err(e) => failures.push((source.name(), e)),
            }
        }
        if gpu.devices.is_empty() {
            if let Some((name, first)) = failures.into_iter().next() {
                tracing::debug!(source = name, "gpu source failed: {first}");
                return Err(first);
            }
            return Ok(None);
        }
        gpu.errors = failures
            .into_iter()
            .map(|(name, e)| format!("{name}: {e}"))
            .collect();
        Ok(Some(gpu))
    }
}

impl Collector for GpuCollector {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.read()?.map(Into::into))
    }
}

/// Rounds to two decimals, the precision the readings have.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Canned(&'static str, Result<Vec<GpuDevice>, String>);

    impl GpuSource for Canned {
        fn name(&self) -> &'static str {
            self.0
        }
        fn devices(&mut self) -> Result<Vec<GpuDevice>, CollectError> {
            self.1.clone().map_err(CollectError::Command)
        }
    }

    fn device(id: &str) -> GpuDevice {
        GpuDevice {
            id: id.into(),
            ..GpuDevice::default()
        }
    }

    #[test]
    fn no_gpu_anywhere_means_no_section() {
        let mut c = GpuCollector::with_sources(vec![
            Box::new(Canned("amdgpu sysfs", Ok(vec![]))),
            Box::new(Canned("NVML", Ok(vec![]))),
        ]);
        assert!(c.collect().unwrap().is_none());
        assert!(GpuCollector::with_sources(vec![]).read().unwrap().is_none());
    }

    #[test]
    fn one_failing_source_keeps_the_others_devices() {
        let mut c = GpuCollector::with_sources(vec![
            Box::new(Canned("amdgpu sysfs", Ok(vec![device("card0")]))),
            Box::new(Canned("NVML", Err("GPU is lost".into()))),
        ]);
        let gpu = c.read().unwrap().unwrap();
        assert_eq!(gpu.devices.len(), 1);
        assert_eq!(gpu.errors, vec!["NVML: GPU is lost".to_string()]);
    }

    #[test]
    fn every_source_failing_is_the_section_error() {
        let mut c = GpuCollector::with_sources(vec![
            Box::new(Canned("amdgpu sysfs", Ok(vec![]))),
            Box::new(Canned("NVML", Err("GPU is lost".into()))),
        ]);
        assert_eq!(c.read().unwrap_err().to_string(), "GPU is lost");
    }
}
