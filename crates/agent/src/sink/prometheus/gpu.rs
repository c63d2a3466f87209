//! GPUs, AMD and NVIDIA alike under one set of `hostwatch_gpu_*` names labelled `gpu` (the
//! DRM card or `nvidia<index>`, as in the hub's series). No exporter covers both vendors, and
//! the vendor ones (DCGM, nvidia_gpu_exporter) name NVML's figures in their own ways, so none
//! is borrowed. A reading the driver does not offer is absent, not 0.

use super::rows::{Rows, flag, info};
use crate::sink::exposition::{Exposition, Kind};
use hostwatch_proto::sections::{Gpu, GpuDevice};

pub(super) fn render(e: &mut Exposition, g: &Gpu) {
    e.single(
        "hostwatch_gpu_source_errors",
        Kind::Gauge,
        "GPU sources (NVML, amdgpu) that failed while another still answered.",
        g.errors.len() as f64,
    );
    info(
        e,
        "hostwatch_gpu_info",
        "A GPU's vendor, the vendor's index, product name and PCI address; always 1.",
        &g.devices,
        |d| {
            vec![
                ("gpu", d.id.clone()),
                ("vendor", d.vendor.clone()),
                ("index", d.index.to_string()),
                ("name", d.name.clone()),
                ("pci_bus", d.pci_bus.clone().unwrap_or_default()),
            ]
        },
    );
    let rows = Rows::new(&g.devices, |d| vec![("gpu", d.id.clone())]);
    rows.family(
        e,
        "hostwatch_gpu_suspended",
        Kind::Gauge,
        "1 when the card is runtime-suspended and left asleep (it then has no readings).",
        |d| Some(flag(d.suspended)),
    );
    type Get = fn(&GpuDevice) -> Option<f64>;
    let families: [(&str, &str, Get); 10] = [
        (
            "hostwatch_gpu_utilization_pct",
            "How busy the GPU's engines were, percent.",
            |d| d.utilization_pct,
        ),
        (
            "hostwatch_gpu_memory_used_bytes",
            "Video memory in use.",
            |d| d.memory_used_bytes.map(|v| v as f64),
        ),
        (
            "hostwatch_gpu_memory_total_bytes",
            "Video memory installed.",
            |d| d.memory_total_bytes.map(|v| v as f64),
        ),
        (
            "hostwatch_gpu_gtt_used_bytes",
            "AMD: system memory mapped for the GPU (GTT) in use.",
            |d| d.gtt_used_bytes.map(|v| v as f64),
        ),
        (
            "hostwatch_gpu_gtt_total_bytes",
            "AMD: the most system memory the GPU may map (GTT).",
            |d| d.gtt_total_bytes.map(|v| v as f64),
        ),
        (
            "hostwatch_gpu_temperature_celsius",
            "The GPU's own temperature (AMD: the edge sensor).",
            |d| d.temperature_celsius,
        ),
        ("hostwatch_gpu_power_watts", "Board power draw.", |d| {
            d.power_watts
        }),
        (
            "hostwatch_gpu_power_limit_watts",
            "The power limit the driver enforces.",
            |d| d.power_limit_watts,
        ),
        (
            "hostwatch_gpu_fan_pct",
            "Fan speed, percent of its maximum.",
            |d| d.fan_pct,
        ),
        (
            "hostwatch_gpu_fan_rpm",
            "Fan speed in revolutions per minute.",
            |d| d.fan_rpm.map(|v| v as f64),
        ),
    ];
    for (name, help, get) in families {
        rows.family(e, name, Kind::Gauge, help, get);
    }
    let processes = Rows::from_rows(g.devices.iter().flat_map(|d| {
        d.processes.iter().map(move |p| {
            (
                p,
                vec![
                    ("gpu", d.id.clone()),
                    ("pid", p.pid.to_string()),
                    ("name", p.name.clone().unwrap_or_default()),
                    ("kind", p.kind.clone()),
                ],
            )
        })
    }));
    processes.family(
        e,
        "hostwatch_gpu_process_memory_bytes",
        Kind::Gauge,
        "Video memory a process holds, where the driver tells (NVML).",
        |p| p.memory_bytes.map(|v| v as f64),
    );
}
