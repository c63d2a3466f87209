//! The `smart` section: disk health from `smartctl --json` (smartmontools ≥ 7).
//!
//! Devices come from `smartctl --scan-open --json`, or the configured list. Each is read with
//! `smartctl --json -a -n standby [-d TYPE] DEV`, its own timeout, so one hung disk costs
//! only its own entry. `-n standby` makes smartctl leave a sleeping disk alone: it is
//! reported as `standby` with no data, because monitoring must never spin disks up.
//!
//! smartctl's exit status is a bit mask (smartctl(8), "RETURN VALUES"): bit 0 — the command
//! line did not parse; bit 1 — the device could not be opened, or it was asleep; both mean
//! there is no data. Bits 2–7 are findings about a disk that *was* read (a failing SMART
//! status, attributes at threshold, errors in the logs) and travel as `warnings`.

use super::tools::{ToolPath, garbage, run, run_ok};
use super::{CollectError, Collector};
use crate::runner::{Command, Runner};
use hostwatch_proto::sections::{Smart, SmartDevice};
use hostwatch_proto::{SectionData, Tier};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// `[smart]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmartConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// `smartctl`: a name looked up in `PATH`, or an absolute path.
    pub command: String,
    /// Devices to read, e.g. `["/dev/sda", "/dev/nvme0"]`; empty = what `--scan-open` finds.
    pub devices: Vec<String>,
    /// The longest one device's read may take.
    pub timeout_seconds: u64,
}

impl Default for SmartConfig {
    fn default() -> Self {
        SmartConfig {
            enabled: true,
            tier: None,
            command: "smartctl".into(),
            devices: Vec::new(),
            timeout_seconds: 30,
        }
    }
}

impl SmartConfig {
    pub fn settings(&self) -> crate::config::CollectorSettings {
        crate::config::CollectorSettings {
            enabled: self.enabled,
            tier: self.tier,
        }
    }
}

/// What the exit status' informational bits mean (smartctl(8)).
const FINDINGS: [(u8, &str); 6] = [
    (
        2,
        "some SMART or other ATA command to the disk failed, or a checksum error",
    ),
    (3, "SMART status check returned \"DISK FAILING\""),
    (4, "some prefail attributes are at or below their threshold"),
    (
        5,
        "some attributes have been at or below their threshold in the past",
    ),
    (6, "the device error log contains records of errors"),
    (7, "the self-test log contains records of errors"),
];

/// Reports the `smart` section.
#[derive(Debug)]
pub struct SmartCollector {
    command: String,
    devices: Vec<String>,
    tools: ToolPath,
    runner: Runner,
    timeout: Duration,
}

impl SmartCollector {
    pub fn new(config: &SmartConfig, runner: Runner, tools: ToolPath) -> SmartCollector {
        SmartCollector {
            command: config.command.clone(),
            devices: config.devices.clone(),
            tools,
            runner,
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
        }
    }

    fn read(&mut self) -> Result<Option<Smart>, CollectError> {
        let Some(smartctl) = self.tools.locate(&self.command) else {
            return Ok(None);
        };
        // (name, type) of each device.
        let targets: Vec<(String, Option<String>)> = if self.devices.is_empty() {
            let cmd = Command::new(&smartctl).args(["--scan-open", "--json"]);
            let output = run_ok(&self.runner, cmd.clone(), self.timeout)?;
            let scan: Value = serde_json::from_slice(&output.stdout.bytes)
                .map_err(|e| garbage(&cmd, format!("not JSON: {e}")))?;
            parse_scan(&scan).map_err(|m| garbage(&cmd, m))?
        } else {
            self.devices.iter().map(|d| (d.clone(), None)).collect()
        };
        if targets.is_empty() {
            return Ok(None);
        }
        let devices = targets
            .into_iter()
            .map(|(name, kind)| self.device(&smartctl, name, kind))
            .collect();
        Ok(Some(Smart { devices }))
    }

    fn device(
        &self,
        smartctl: &std::path::Path,
        name: String,
        kind: Option<String>,
    ) -> SmartDevice {
        let mut cmd = Command::new(smartctl).args(["--json", "-a", "-n", "standby"]);
        if let Some(kind) = &kind {
            cmd = cmd.args(["-d", kind]);
        }
        cmd = cmd.arg(&name);
        let failed = |error: String| SmartDevice {
            name: name.clone(),
            kind: kind.clone(),
            state: "error".into(),
            error: Some(error),
            ..Default::default()
        };
        let output = match run(&self.runner, &cmd, self.timeout) {
            Ok(output) => output,
            Err(e) => return failed(e.to_string()),
        };
        let json: Value = match serde_json::from_slice(&output.stdout.bytes) {
            Ok(json) => json,
            Err(e) => {
                return failed(format!("`{cmd}`: {}, output is not JSON: {e}", output.exit));
            }
        };
        let mut device = parse_device(&json, name.clone(), kind.clone());
        let status = json
            .pointer("/smartctl/exit_status")
            .and_then(Value::as_u64)
            .or_else(|| output.exit.code().map(|c| c as u64))
            .unwrap_or(0) as u8;
        device.exit_status = Some(status);
        let messages: Vec<&str> = json
            .pointer("/smartctl/messages")
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(|m| m["string"].as_str()).collect())
            .unwrap_or_default();
        if status & 0b11 != 0 {
            let asleep = messages.iter().any(|m| {
                let m = m.to_ascii_lowercase();
                (m.contains("standby") || m.contains("sleep")) && m.contains("mode")
            });
            if asleep {
                return SmartDevice {
                    name,
                    kind,
                    protocol: device.protocol,
                    state: "standby".into(),
                    exit_status: Some(status),
                    ..Default::default()
                };
            }
            let why = messages
                .first()
                .map(|m| m.to_string())
                .unwrap_or_else(|| "the device could not be opened".into());
            let mut out = failed(format!("`{cmd}`: exit status {status}: {why}"));
            out.exit_status = Some(status);
            return out;
        }
        device.warnings = FINDINGS
            .iter()
            .filter(|(bit, _)| status & (1 << bit) != 0)
            .map(|(_, text)| text.to_string())
            .collect();
        device
    }
}

impl Collector for SmartCollector {
    fn name(&self) -> &'static str {
        "smart"
    }

    fn default_tier(&self) -> Tier {
        Tier::Slow
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.read()?.map(Into::into))
    }
}

fn parse_scan(scan: &Value) -> Result<Vec<(String, Option<String>)>, String> {
    let devices = scan
        .get("devices")
        .and_then(Value::as_array)
        .ok_or("no \"devices\" list")?;
    devices
        .iter()
        .map(|d| {
            let name = d["name"]
                .as_str()
                .ok_or(format!("a device without \"name\": {d}"))?;
            Ok((name.to_string(), d["type"].as_str().map(str::to_string)))
        })
        .collect()
}

/// The fields hostwatch reports from one `smartctl --json -a` document.
fn parse_device(json: &Value, name: String, kind: Option<String>) -> SmartDevice {
    let raw_attribute = |id: u64| -> Option<u64> {
        json.pointer("/ata_smart_attributes/table")?
            .as_array()?
            .iter()
            .find(|a| a["id"].as_u64() == Some(id))?
            .pointer("/raw/value")?
            .as_u64()
    };
    let nvme = json.get("nvme_smart_health_information_log");
    SmartDevice {
        name,
        kind: kind.or_else(|| {
            json.pointer("/device/type")
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        protocol: json
            .pointer("/device/protocol")
            .and_then(Value::as_str)
            .map(str::to_string),
        state: "ok".into(),
        model: json
            .get("model_name")
            .or_else(|| json.get("scsi_model_name"))
            .and_then(Value::as_str)
            .map(str::to_string),
        capacity_bytes: json.pointer("/user_capacity/bytes").and_then(Value::as_u64),
        passed: json
            .pointer("/smart_status/passed")
            .and_then(Value::as_bool),
        temperature_celsius: json.pointer("/temperature/current").and_then(Value::as_f64),
        power_on_hours: json.pointer("/power_on_time/hours").and_then(Value::as_u64),
        reallocated_sectors: raw_attribute(5),
        pending_sectors: raw_attribute(197),
        nvme_percentage_used_pct: nvme.and_then(|n| n["percentage_used"].as_f64()),
        nvme_media_errors: nvme.and_then(|n| n["media_errors"].as_u64()),
        nvme_critical_warning: nvme.and_then(|n| n["critical_warning"].as_u64()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tools::testing::{FakeTools, fixture};
    use super::*;

    /// A fake smartctl: `--scan-open` prints the scan fixture; a device read prints the
    /// fixture mapped to the device (its last argument) and exits with its recorded status.
    fn fake_smartctl(tools: &FakeTools, scan: &str, devices: &[(&str, &str, i32)]) {
        let copy = |name: &str, rel: &str| {
            let to = tools.dir.path().join(name);
            std::fs::copy(fixture(rel), &to).unwrap();
            to.display().to_string()
        };
        let scan = copy("scan.json", scan);
        let mut cases = String::new();
        for (i, (dev, rel, code)) in devices.iter().enumerate() {
            let file = copy(&format!("dev{i}.json"), rel);
            cases.push_str(&format!("  '{dev}') cat '{file}'; exit {code} ;;\n"));
        }
        tools.script(
            "smartctl",
            &format!(
                "if [ \"$1\" = --scan-open ]; then cat '{scan}'; exit 0; fi\n\
                 for last; do :; done\n\
                 case \"$last\" in\n{cases}  *) echo \"no such device $last\" >&2; exit 2 ;;\nesac"
            ),
        );
    }

    fn collect(tools: &FakeTools, config: &SmartConfig) -> Vec<SmartDevice> {
        match SmartCollector::new(config, Runner::default(), tools.path())
            .collect()
            .unwrap()
        {
            Some(SectionData::Smart(s)) => s.devices,
            other => panic!("expected a smart section, got {other:?}"),
        }
    }

    #[test]
    fn no_smartctl_means_no_section() {
        let tools = FakeTools::new();
        let mut c = SmartCollector::new(&SmartConfig::default(), Runner::default(), tools.path());
        assert!(c.collect().unwrap().is_none());
    }

    #[test]
    fn scanned_healthy_nvme_and_sata_with_an_error_log() {
        let tools = FakeTools::new();
        fake_smartctl(
            &tools,
            "smart/scan_smartctl--scan-j_7.5.json",
            &[
                ("/dev/sda", "smart/sata_smartctl-aj_7.5_exit64.json", 64),
                ("/dev/nvme0", "smart/nvme_smartctl-7.5.json", 0),
            ],
        );
        let d = collect(&tools, &SmartConfig::default());
        assert_eq!(d.len(), 2);
        let sda = &d[0];
        assert_eq!(sda.name, "/dev/sda");
        assert_eq!(sda.kind.as_deref(), Some("sat"));
        assert_eq!(sda.protocol.as_deref(), Some("ATA"));
        assert_eq!(sda.state, "ok");
        assert_eq!(sda.passed, Some(true));
        assert_eq!(sda.temperature_celsius, Some(31.0));
        assert_eq!(sda.power_on_hours, Some(7344));
        assert_eq!(sda.reallocated_sectors, Some(0));
        assert_eq!(sda.pending_sectors, Some(0));
        assert_eq!(sda.exit_status, Some(64));
        assert_eq!(
            sda.warnings,
            vec!["the device error log contains records of errors".to_string()]
        );
        let nvme = &d[1];
        assert_eq!(nvme.model.as_deref(), Some("PELADN 512GB"));
        assert_eq!(nvme.capacity_bytes, Some(512_110_190_592));
        assert_eq!(nvme.temperature_celsius, Some(61.0));
        assert_eq!(nvme.nvme_percentage_used_pct, Some(0.0));
        assert_eq!(nvme.nvme_media_errors, Some(0));
        assert_eq!(nvme.reallocated_sectors, None, "no ATA attributes on NVMe");
        assert!(nvme.warnings.is_empty());
        let calls = tools.calls("smartctl");
        assert_eq!(calls[0], "--scan-open --json");
        assert_eq!(calls[1], "--json -a -n standby -d sat /dev/sda");
        assert_eq!(calls[2], "--json -a -n standby -d nvme /dev/nvme0");
    }

    #[test]
    fn failing_disks_report_their_verdict_counts_and_bits() {
        let tools = FakeTools::new();
        fake_smartctl(
            &tools,
            "smart/scan_smartctl--scan-j_7.5.json",
            &[
                (
                    "/dev/sdc",
                    "smart/sata-hdd_failing_hitachi_exit216.json",
                    216,
                ),
                (
                    "/dev/nvme0",
                    "smart/nvme_failing_critical-warning_exit8.json",
                    8,
                ),
                ("/dev/sdb", "smart/sata-hdd_hgst-ultrastar_healthy.json", 0),
            ],
        );
        let config = SmartConfig {
            devices: vec!["/dev/sdc".into(), "/dev/nvme0".into(), "/dev/sdb".into()],
            ..SmartConfig::default()
        };
        let d = collect(&tools, &config);
        let hdd = &d[0];
        assert_eq!(hdd.passed, Some(false));
        assert_eq!(hdd.reallocated_sectors, Some(1975));
        assert_eq!(hdd.pending_sectors, Some(8));
        assert_eq!(hdd.kind.as_deref(), Some("usbjmicron"), "from the document");
        assert_eq!(
            hdd.warnings.len(),
            4,
            "216 = bits 3, 4, 6, 7: {:?}",
            hdd.warnings
        );
        assert!(hdd.warnings[0].contains("DISK FAILING"));
        let nvme = &d[1];
        assert_eq!(nvme.passed, Some(false));
        assert_eq!(nvme.nvme_critical_warning, Some(16));
        assert_eq!(nvme.warnings.len(), 1);
        let healthy = &d[2];
        assert_eq!(healthy.passed, Some(true));
        assert_eq!(healthy.power_on_hours, Some(42454));
        assert!(
            !tools.calls("smartctl").iter().any(|c| c.contains("--scan")),
            "configured devices need no scan"
        );
    }

    #[test]
    fn sleeping_disk_is_standby_and_an_unopenable_one_an_entry_error() {
        let tools = FakeTools::new();
        let standby = tools.dir.path().join("standby.json");
        // What smartctl 7 prints for a disk `-n standby` skipped (exit status 2).
        std::fs::write(
            &standby,
            r#"{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":2,
            "messages":[{"string":"Device is in STANDBY mode, exit(2)","severity":"information"}]},
            "device":{"name":"/dev/sdd","info_name":"/dev/sdd [SAT]","type":"sat","protocol":"ATA"}}"#,
        )
        .unwrap();
        let failed = tools.dir.path().join("failed.json");
        std::fs::copy(fixture("smart/open-failed_exit2_windows.json"), &failed).unwrap();
        tools.script(
            "smartctl",
            &format!(
                "for last; do :; done\ncase \"$last\" in\n\
                 /dev/sdd) cat '{}'; exit 2 ;;\n\
                 /dev/sde) cat '{}'; exit 2 ;;\n\
                 /dev/sdf) echo 'Segmentation fault'; exit 139 ;;\n\
                 /dev/sdg) sleep 5 ;;\nesac",
                standby.display(),
                failed.display()
            ),
        );
        let config = SmartConfig {
            devices: vec![
                "/dev/sdd".into(),
                "/dev/sde".into(),
                "/dev/sdf".into(),
                "/dev/sdg".into(),
            ],
            timeout_seconds: 1,
            ..SmartConfig::default()
        };
        let d = collect(&tools, &config);
        assert_eq!(d[0].state, "standby");
        assert_eq!(d[0].passed, None, "asleep: no data");
        assert_eq!(d[0].temperature_celsius, None);
        assert_eq!(d[1].state, "error");
        assert!(
            d[1].error.as_deref().unwrap().contains("Open failed"),
            "{:?}",
            d[1].error
        );
        assert_eq!(d[2].state, "error");
        assert!(d[2].error.as_deref().unwrap().contains("not JSON"));
        assert_eq!(d[3].state, "error");
        assert!(
            d[3].error.as_deref().unwrap().contains("timed out"),
            "{:?}",
            d[3].error
        );
    }

    #[test]
    fn scan_failure_or_garbage_is_a_section_error_naming_the_command() {
        let tools = FakeTools::new();
        tools.script("smartctl", "echo 'not json'");
        let err = SmartCollector::new(&SmartConfig::default(), Runner::default(), tools.path())
            .collect()
            .unwrap_err();
        assert!(
            err.to_string().contains("smartctl --scan-open --json"),
            "{err}"
        );
        assert!(err.to_string().contains("not JSON"), "{err}");
        let tools = FakeTools::new();
        tools.script("smartctl", "echo 'permission denied' >&2; exit 1");
        let err = SmartCollector::new(&SmartConfig::default(), Runner::default(), tools.path())
            .collect()
            .unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{err}");
    }
}
