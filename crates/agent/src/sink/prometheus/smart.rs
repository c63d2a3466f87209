//! S.M.A.R.T. with smartctl_exporter's names and its `device` label (the path without `/dev/`),
//! so its dashboards and alerts (`smartctl_device_smart_status != 1`,
//! `smartctl_device_media_errors > 0`…) work unchanged. smartctl_exporter declares some of these
//! as counters although their names lack `_total`; they are written as gauges here, which
//! PromQL does not distinguish, so the exposition stays lint-clean. Figures it has no name of
//! its own for (it puts ATA attributes in one family with flag labels we do not keep) are
//! `hostwatch_smart_*`.

use super::rows::{Rows, flag, info};
use crate::sink::exposition::{Exposition, Kind};
use hostwatch_proto::sections::{Smart, SmartDevice};

/// The agent's per-disk outcomes: read, left asleep, or failed.
const STATES: [&str; 3] = ["ok", "standby", "error"];

pub(super) fn render(e: &mut Exposition, s: &Smart) {
    let rows = Rows::new(&s.devices, |d| vec![("device", device_label(d))]);
    info(
        e,
        "hostwatch_smart_device_info",
        "A disk's path, smartctl device type, protocol and model; always 1.",
        &s.devices,
        |d| {
            vec![
                ("device", device_label(d)),
                ("path", d.name.clone()),
                ("interface", d.kind.clone().unwrap_or_default()),
                ("protocol", d.protocol.clone().unwrap_or_default()),
                ("model_name", d.model.clone().unwrap_or_default()),
            ]
        },
    );
    rows.state_set(
        e,
        "hostwatch_smart_device_state",
        "Whether the disk was read (ok), left asleep (standby) or could not be read (error).",
        &STATES,
        |d| Some(d.state.as_str()),
    );
    rows.family(
        e,
        "smartctl_device_smart_status",
        Kind::Gauge,
        "The drive's overall self-assessment: 1 PASSED, 0 FAILED.",
        |d| d.passed.map(flag),
    );
    rows.family_by(
        e,
        "smartctl_device_temperature",
        Kind::Gauge,
        "Drive temperature; temperature_type says which reading.",
        "temperature_type",
        |d| {
            d.temperature_celsius
                .map(|t| ("current", t))
                .into_iter()
                .collect()
        },
    );
    type Get = fn(&SmartDevice) -> Option<f64>;
    let families: [(&str, &str, Get); 6] = [
        (
            "smartctl_device_power_on_seconds",
            "Time the drive has been powered on.",
            |d| d.power_on_hours.map(|h| h as f64 * 3600.0),
        ),
        (
            "smartctl_device_capacity_bytes",
            "The drive's user capacity.",
            |d| d.capacity_bytes.map(|v| v as f64),
        ),
        (
            "smartctl_device_percentage_used",
            "NVMe: share of the rated endurance used, percent (can exceed 100).",
            |d| d.nvme_percentage_used_pct,
        ),
        (
            "smartctl_device_media_errors",
            "NVMe: unrecovered data integrity errors the controller detected.",
            |d| d.nvme_media_errors.map(|v| v as f64),
        ),
        (
            "smartctl_device_critical_warning",
            "NVMe: critical warning bits of the controller; 0 is healthy.",
            |d| d.nvme_critical_warning.map(|v| v as f64),
        ),
        (
            "smartctl_device_smartctl_exit_status",
            "smartctl's exit status for the drive, a bit mask (bits 0-1 fatal, 2-7 findings).",
            |d| d.exit_status.map(f64::from),
        ),
    ];
    for (name, help, get) in families {
        rows.family(e, name, Kind::Gauge, help, get);
    }
    rows.family(
        e,
        "hostwatch_smart_reallocated_sectors",
        Kind::Gauge,
        "ATA attribute 5 Reallocated_Sector_Ct, raw value.",
        |d| d.reallocated_sectors.map(|v| v as f64),
    );
    rows.family(
        e,
        "hostwatch_smart_pending_sectors",
        Kind::Gauge,
        "ATA attribute 197 Current_Pending_Sector, raw value.",
        |d| d.pending_sectors.map(|v| v as f64),
    );
}

/// smartctl_exporter's `device` label (its `buildDeviceLabel`): the path without `/dev/`,
/// `/dev/disk/by-id/` or `/dev/disk/by-path/`, `/` turned into `_`, and a RAID device type's
/// index appended (`/dev/bus/0` as `megaraid,0` is `bus_0_megaraid_0`).
fn device_label(d: &SmartDevice) -> String {
    let path = d.name.as_str();
    let short = ["/dev/disk/by-id/", "/dev/disk/by-path/", "/dev/"]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix))
        .unwrap_or(path);
    let mut label = short.replace('/', "_");
    if let Some(kind) = d.kind.as_deref().filter(|k| k.contains(',')) {
        label.push('_');
        label.push_str(&kind.replace(',', "_"));
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &str, kind: Option<&str>) -> String {
        device_label(&SmartDevice {
            name: name.into(),
            kind: kind.map(str::to_string),
            ..SmartDevice::default()
        })
    }

    #[test]
    fn device_label_is_smartctl_exporters() {
        assert_eq!(label("/dev/sda", Some("sat")), "sda");
        assert_eq!(label("/dev/nvme0", Some("nvme")), "nvme0");
        assert_eq!(label("/dev/bus/0", Some("megaraid,0")), "bus_0_megaraid_0");
        assert_eq!(
            label("/dev/disk/by-id/ata-HGST_X", None),
            "ata-HGST_X",
            "by-id paths keep only the id"
        );
        assert_eq!(label("sdz", None), "sdz", "a bare name stays as it is");
    }
}
