//! NVIDIA GPUs through NVML (`libnvidia-ml.so.1`, which the driver installs), loaded at run
//! time with `nvml-wrapper`: the agent builds and runs without the driver, and a host without
//! it simply has no NVIDIA devices.
//!
//! NVML is initialised once and kept: each read is then one driver ioctl per query. When the
//! library is missing (no driver) the agent tries again only every [`RETRY_INIT`], so a driver
//! installed later is picked up without a restart and a host without one pays nothing.
//! [`NvmlApi`] is the seam: tests feed readings recorded by `nvidia-smi -q -x` (the same
//! NVML values, printed) through it, since no NVIDIA hardware runs here.

use super::{GpuSource, round2};
use crate::HostPaths;
use crate::collect::CollectError;
use crate::paths::read_trimmed;
use hostwatch_proto::sections::{GpuDevice, GpuProcess};
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long to wait before trying to load NVML again after it could not be.
pub const RETRY_INIT: Duration = Duration::from_secs(600);

/// What NVML reports for one device, in NVML's units. A query the device does not support
/// (no fan on a datacenter card) is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NvmlReading {
    pub index: u32,
    pub name: String,
    pub pci_bus_id: Option<String>,
    /// `nvmlDeviceGetUtilizationRates().gpu`, percent.
    pub utilization_gpu: Option<u32>,
    pub memory_used: Option<u64>,
    pub memory_total: Option<u64>,
    /// `NVML_TEMPERATURE_GPU`, °C.
    pub temperature: Option<u32>,
    pub power_usage_milliwatts: Option<u32>,
    pub power_limit_milliwatts: Option<u32>,
    /// Fan 0, percent of its maximum.
    pub fan_speed_pct: Option<u32>,
    pub processes: Vec<NvmlProcess>,
}

/// A process with a context on a device.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NvmlProcess {
    pub pid: u32,
    pub used_memory: Option<u64>,
    pub graphics: bool,
}

/// The NVML calls the collector needs. `Ok(None)`: NVML is not there (no driver).
pub trait NvmlApi: Send + std::fmt::Debug {
    fn read(&mut self) -> Result<Option<Vec<NvmlReading>>, String>;
}

/// The real NVML, loaded on first use.
#[derive(Debug)]
pub struct NvmlLibrary {
    library: Option<PathBuf>,
    nvml: Option<nvml_wrapper::Nvml>,
    /// When loading failed: the next time to try, and the error when it was not simply absent.
    retry_at: Option<Instant>,
    init_error: Option<String>,
    init_attempts: u32,
}

impl NvmlLibrary {
    pub fn new(library: Option<PathBuf>) -> NvmlLibrary {
        NvmlLibrary {
            library,
            nvml: None,
            retry_at: None,
            init_error: None,
            init_attempts: 0,
        }
    }

    fn init(&mut self) {
        self.init_attempts += 1;
        let mut builder = nvml_wrapper::Nvml::builder();
        if let Some(path) = &self.library {
            builder.lib_path(path.as_os_str());
        }
        match builder.init() {
            Ok(nvml) => {
                tracing::info!("NVML loaded: reading NVIDIA GPUs");
                self.nvml = Some(nvml);
                self.init_error = None;
                self.retry_at = None;
            }
            Err(e) => {
                self.retry_at = Some(Instant::now() + RETRY_INIT);
                if absent(&e) {
                    tracing::debug!("no NVML ({e}): no NVIDIA GPUs");
                    self.init_error = None;
                } else {
                    tracing::warn!("NVML could not be initialised: {e}");
                    self.init_error = Some(format!("NVML: initialising: {e}"));
                }
            }
        }
    }
}

/// Errors that mean "no NVIDIA driver here" rather than "something is wrong with it".
fn absent(e: &NvmlError) -> bool {
    matches!(
        e,
        NvmlError::LibloadingError(_) | NvmlError::DriverNotLoaded | NvmlError::LibraryNotFound
    )
}

/// A query's value, `None` when the device does not support it or it failed right now.
fn supported<T>(r: Result<T, NvmlError>) -> Option<T> {
    r.ok()
}

impl NvmlApi for NvmlLibrary {
    fn read(&mut self) -> Result<Option<Vec<NvmlReading>>, String> {
        if self.nvml.is_none() && self.retry_at.is_none_or(|at| Instant::now() >= at) {
            self.init();
        }
        let Some(nvml) = &self.nvml else {
            return match &self.init_error {
                Some(e) => Err(e.clone()),
                None => Ok(None),
            };
        };
        let count = nvml
            .device_count()
            .map_err(|e| format!("NVML: counting devices: {e}"))?;
        let mut out = Vec::with_capacity(count as usize);
        for index in 0..count {
            let d = nvml
                .device_by_index(index)
                .map_err(|e| format!("NVML: GPU {index}: {e}"))?;
            let memory = supported(d.memory_info());
            let mut processes = Vec::new();
            for (list, graphics) in [
                (d.running_compute_processes(), false),
                (d.running_graphics_processes(), true),
            ] {
                for p in list.unwrap_or_default() {
                    processes.push(NvmlProcess {
                        pid: p.pid,
                        used_memory: match p.used_gpu_memory {
                            UsedGpuMemory::Used(bytes) => Some(bytes),
                            UsedGpuMemory::Unavailable => None,
                        },
                        graphics,
                    });
                }
            }
            out.push(NvmlReading {
                index,
                name: d.name().unwrap_or_else(|_| "NVIDIA GPU".into()),
                pci_bus_id: supported(d.pci_info()).map(|p| p.bus_id),
                utilization_gpu: supported(d.utilization_rates()).map(|u| u.gpu),
                memory_used: memory.as_ref().map(|m| m.used),
                memory_total: memory.as_ref().map(|m| m.total),
                temperature: supported(d.temperature(TemperatureSensor::Gpu)),
                power_usage_milliwatts: supported(d.power_usage()),
                power_limit_milliwatts: supported(d.enforced_power_limit()),
                fan_speed_pct: supported(d.fan_speed(0)),
                processes,
            });
        }
        Ok(Some(out))
    }
}

/// NVIDIA devices as the `gpu` section reports them.
#[derive(Debug)]
pub struct NvidiaSource<N: NvmlApi> {
    nvml: N,
    paths: HostPaths,
}

impl<N: NvmlApi> NvidiaSource<N> {
    pub fn new(nvml: N, paths: HostPaths) -> Self {
        NvidiaSource { nvml, paths }
    }

    fn device(&self, r: NvmlReading) -> GpuDevice {
        let mut processes: Vec<GpuProcess> = Vec::with_capacity(r.processes.len());
        for p in &r.processes {
            let kind = if p.graphics { "graphics" } else { "compute" };
            // A process with both kinds of context is listed twice by NVML: one entry.
            if let Some(seen) = processes.iter_mut().find(|s| s.pid == p.pid) {
                if seen.kind != kind {
                    seen.kind = "compute+graphics".into();
                }
                seen.memory_bytes = seen.memory_bytes.max(p.used_memory);
                continue;
            }
            processes.push(GpuProcess {
                pid: p.pid,
                name: read_trimmed(&self.paths.proc(format!("{}/comm", p.pid))),
                memory_bytes: p.used_memory,
                kind: kind.into(),
            });
        }
        GpuDevice {
            id: format!("nvidia{}", r.index),
            index: r.index,
            vendor: "nvidia".into(),
            name: r.name,
            // NVML writes the domain with 8 digits (`00000000:0C:00.0`); sysfs and lspci
            // with 4, lower case.
            pci_bus: r.pci_bus_id.map(|id| {
                let id = id.to_ascii_lowercase();
                match id.split_once(':') {
                    Some((domain, rest)) if domain.len() > 4 => {
                        format!("{}:{rest}", &domain[domain.len() - 4..])
                    }
                    _ => id,
                }
            }),
            suspended: false,
            utilization_pct: r.utilization_gpu.map(f64::from),
            memory_used_bytes: r.memory_used,
            memory_total_bytes: r.memory_total,
            gtt_used_bytes: None,
            gtt_total_bytes: None,
            temperature_celsius: r.temperature.map(f64::from),
            power_watts: r
                .power_usage_milliwatts
                .map(|mw| round2(f64::from(mw) / 1000.0)),
            power_limit_watts: r
                .power_limit_milliwatts
                .map(|mw| round2(f64::from(mw) / 1000.0)),
            fan_pct: r.fan_speed_pct.map(f64::from),
            fan_rpm: None,
            processes,
        }
    }
}

impl<N: NvmlApi> GpuSource for NvidiaSource<N> {
    fn name(&self) -> &'static str {
        "NVML"
    }

    fn devices(&mut self) -> Result<Vec<GpuDevice>, CollectError> {
        let readings = self.nvml.read().map_err(CollectError::Command)?;
        Ok(readings
            .unwrap_or_default()
            .into_iter()
            .map(|r| self.device(r))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::tools::testing::fixture;

    /// The text of the first element at `path` (nested tags) in `xml`.
    fn tag<'a>(xml: &'a str, path: &[&str]) -> Option<&'a str> {
        let mut rest = xml;
        for name in path {
            let open = format!("<{name}>");
            rest = &rest[rest.find(&open)? + open.len()..];
        }
        let text = rest[..rest.find('<')?].trim();
        (text != "N/A").then_some(text)
    }

    /// `"1032 MiB"` → its number.
    fn number(text: Option<&str>) -> Option<f64> {
        text?.split_whitespace().next()?.parse().ok()
    }

    const MIB: u64 = 1024 * 1024;

    /// NVML's values for the one GPU of an `nvidia-smi -q -x` recording, in NVML's units.
    fn recorded(file: &str) -> NvmlReading {
        let xml = std::fs::read_to_string(fixture(&format!("gpu/nvidia-smi/{file}"))).unwrap();
        let gpu = &xml[xml.find("<gpu ").unwrap()..];
        let watts = |paths: &[&[&str]]| {
            paths
                .iter()
                .find_map(|p| number(tag(gpu, p)))
                .map(|w| (w * 1000.0).round() as u32)
        };
        let mut processes = Vec::new();
        for block in gpu.split("<process_info>").skip(1) {
            processes.push(NvmlProcess {
                pid: tag(block, &["pid"]).unwrap().parse().unwrap(),
                used_memory: number(tag(block, &["used_memory"])).map(|m| m as u64 * MIB),
                graphics: tag(block, &["type"]) == Some("G"),
            });
        }
        NvmlReading {
            index: 0,
            name: tag(gpu, &["product_name"]).unwrap().to_string(),
            pci_bus_id: tag(gpu, &["pci", "pci_bus_id"]).map(str::to_string),
            utilization_gpu: number(tag(gpu, &["utilization", "gpu_util"])).map(|v| v as u32),
            memory_used: number(tag(gpu, &["fb_memory_usage", "used"])).map(|m| m as u64 * MIB),
            memory_total: number(tag(gpu, &["fb_memory_usage", "total"])).map(|m| m as u64 * MIB),
            temperature: number(tag(gpu, &["temperature", "gpu_temp"])).map(|v| v as u32),
            power_usage_milliwatts: watts(&[
                &["gpu_power_readings", "average_power_draw"],
                &["power_readings", "power_draw"],
            ]),
            power_limit_milliwatts: watts(&[
                &["gpu_power_readings", "current_power_limit"],
                &["power_readings", "enforced_power_limit"],
            ]),
            fan_speed_pct: number(tag(gpu, &["fan_speed"])).map(|v| v as u32),
            processes,
        }
    }

    #[derive(Debug)]
    struct Recorded(Result<Option<Vec<NvmlReading>>, String>);

    impl NvmlApi for Recorded {
        fn read(&mut self) -> Result<Option<Vec<NvmlReading>>, String> {
            self.0.clone()
        }
    }

    #[test]
    fn a_tesla_t4_with_its_processes_named_from_proc() {
        let proc = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc.path().join("proc/5762")).unwrap();
        std::fs::write(proc.path().join("proc/5762/comm"), "python\n").unwrap();
        let mut t4 = recorded("telegraf_tesla-t4.xml");
        // The same process also holding a graphics context: one entry.
        t4.processes.push(NvmlProcess {
            pid: 5762,
            used_memory: Some(MIB),
            graphics: true,
        });
        let mut source =
            NvidiaSource::new(Recorded(Ok(Some(vec![t4]))), HostPaths::under(proc.path()));
        let devices = source.devices().unwrap();
        let d = &devices[0];
        assert_eq!((d.id.as_str(), d.vendor.as_str()), ("nvidia0", "nvidia"));
        assert_eq!(d.name, "Tesla T4");
        assert_eq!(d.pci_bus.as_deref(), Some("0000:00:1e.0"));
        assert_eq!(d.utilization_pct, Some(0.0));
        assert_eq!(d.memory_used_bytes, Some(1032 * MIB));
        assert_eq!(d.memory_total_bytes, Some(15360 * MIB));
        assert_eq!(d.temperature_celsius, Some(40.0));
        assert_eq!(d.power_watts, Some(26.78));
        assert_eq!(d.power_limit_watts, Some(70.0));
        assert_eq!(d.fan_pct, None, "a T4 has no fan");
        assert_eq!(d.processes.len(), 2);
        let xorg = &d.processes[0];
        assert_eq!((xorg.pid, xorg.kind.as_str()), (675, "graphics"));
        assert_eq!(xorg.memory_bytes, Some(22 * MIB));
        assert_eq!(xorg.name, None, "not in this /proc");
        let python = &d.processes[1];
        assert_eq!(python.name.as_deref(), Some("python"));
        assert_eq!(python.kind, "compute+graphics");
        assert_eq!(python.memory_bytes, Some(1005 * MIB));
    }

    #[test]
    fn an_rtx_3080_on_a_current_driver() {
        let reading = recorded("telegraf_rtx-3080_driver595_v13.xml");
        let mut source = NvidiaSource::new(Recorded(Ok(Some(vec![reading]))), HostPaths::default());
        let d = &source.devices().unwrap()[0];
        assert_eq!(d.name, "NVIDIA GeForce RTX 3080");
        assert_eq!(d.pci_bus.as_deref(), Some("0000:0c:00.0"));
        assert_eq!(d.utilization_pct, Some(65.0));
        assert_eq!(d.memory_used_bytes, Some(9184 * MIB));
        assert_eq!(d.memory_total_bytes, Some(10240 * MIB));
        assert_eq!(d.temperature_celsius, Some(27.0));
        assert_eq!(d.power_watts, Some(139.62));
        assert_eq!(d.power_limit_watts, Some(320.0));
        assert_eq!(d.fan_pct, Some(0.0), "a stopped fan is 0, not absent");
        assert!(d.processes.is_empty());
    }

    #[test]
    fn no_nvml_is_no_devices_and_an_nvml_error_names_nvml() {
        let mut none = NvidiaSource::new(Recorded(Ok(None)), HostPaths::default());
        assert!(none.devices().unwrap().is_empty());
        let mut lost = NvidiaSource::new(
            Recorded(Err("NVML: GPU 1: the GPU has fallen off the bus".into())),
            HostPaths::default(),
        );
        let err = lost.devices().unwrap_err().to_string();
        assert!(err.starts_with("NVML: GPU 1"), "{err}");
    }

    #[test]
    fn a_missing_library_is_absent_and_retried_only_later() {
        let dir = tempfile::tempdir().unwrap();
        for library in [dir.path().join("libnvidia-ml.so.1"), {
            let not_elf = dir.path().join("not-a-library.so");
            std::fs::write(&not_elf, "text").unwrap();
            not_elf
        }] {
            let mut nvml = NvmlLibrary::new(Some(library));
            assert_eq!(nvml.read(), Ok(None));
            assert_eq!(nvml.read(), Ok(None));
            assert_eq!(nvml.init_attempts, 1, "not retried before RETRY_INIT");
            nvml.retry_at = Some(Instant::now());
            assert_eq!(nvml.read(), Ok(None));
            assert_eq!(nvml.init_attempts, 2);
        }
    }
}
