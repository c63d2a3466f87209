use serde::{Deserialize, Serialize};

/// Temperatures from hwmon (`/sys/class/hwmon`) and thermal zones (`/sys/class/thermal`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Thermal {
    pub sensors: Vec<TempSensor>,
    pub zones: Vec<ThermalZone>,
    /// The hottest CPU sensor (coretemp, k10temp, zenpower, cpu_thermal…), in °C: the one
    /// figure a dashboard shows for "CPU temperature".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_max_celsius: Option<f64>,
}

/// One hwmon temperature input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TempSensor {
    /// Stable chip id as node_exporter labels it, e.g. `platform_coretemp_0`, `nvme_nvme0`.
    pub chip: String,
    /// The driver's `name` file, e.g. `coretemp`, `nvme`, `k10temp`.
    pub chip_name: String,
    /// The input, e.g. `temp1`.
    pub sensor: String,
    /// The driver's label, e.g. `Package id 0`, `Composite`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub celsius: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit_celsius: Option<f64>,
}

/// One ACPI/platform thermal zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThermalZone {
    /// e.g. `thermal_zone0`.
    pub zone: String,
    /// The zone's `type`, e.g. `x86_pkg_temp`, `acpitz`.
    pub kind: String,
    pub celsius: f64,
}
