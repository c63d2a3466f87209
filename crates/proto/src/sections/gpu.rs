use serde::{Deserialize, Serialize};

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

/// The host's GPUs: AMD from the amdgpu driver's sysfs files, NVIDIA through NVML.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Gpu {
    pub devices: Vec<GpuDevice>,
    /// One line per GPU source that failed while another still answered (e.g. NVML erred
    /// but the AMD card was read); when every source fails, the section is an error instead.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub errors: Vec<String>,
}

/// One GPU. Every reading is optional: a driver that does not offer it (no fan on a
/// passively cooled card, no power sensor) leaves it out rather than reporting a zero.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GpuDevice {
    /// Stable on the host and unique across vendors, the `gpu` label of its series: the DRM
    /// card (`card0`) for AMD, `nvidia<index>` for NVIDIA.
    pub id: String,
    /// The vendor's own index: NVML's (as `nvidia-smi` numbers GPUs), or the order of the
    /// AMD cards.
    pub index: u32,
    /// `amd` or `nvidia`.
    pub vendor: String,
    /// The product name, or the PCI id (`1002:687f`) when the driver does not say.
    pub name: String,
    /// PCI address, e.g. `0000:0c:00.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci_bus: Option<String>,
    /// A runtime-suspended card (a laptop's idle dGPU): left asleep, so it has no readings.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspended: bool,
    /// How busy the GPU's engines were, 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_pct: Option<f64>,
    /// Video memory in use and installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_used_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_total_bytes: Option<u64>,
    /// AMD: system memory mapped for the GPU (GTT), used and the most it may map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtt_used_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtt_total_bytes: Option<u64>,
    /// The GPU's own temperature (AMD: the `edge` sensor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_celsius: Option<f64>,
    /// Board power draw and the limit the driver enforces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_watts: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_limit_watts: Option<f64>,
    /// Fan speed as a share of its maximum, 0–100, and in revolutions per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_rpm: Option<u64>,
    /// Processes using the GPU, where the source tells (NVML does; amdgpu's sysfs does not).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub processes: Vec<GpuProcess>,
}

/// A process with a context on the GPU.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GpuProcess {
    pub pid: u32,
    /// The process' `comm`; absent when it is not visible from the agent (another PID
    /// namespace) or already gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Video memory it holds; absent when the driver does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// `compute` or `graphics`.
    pub kind: String,
}
