//! The wire format, pinned by golden JSON fixtures.

use hostwatch_proto::sections::MemorySource;
use hostwatch_proto::{DecodeError, Envelope, ErrorKind, Report, Section, Tier};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

#[test]
fn full_report_round_trips_byte_for_byte() {
    let text = fixture("report-v1-full.json");
    let report = Report::from_json(text.as_bytes()).expect("decodes");
    assert_eq!(
        pretty(&report),
        text,
        "re-encoding must reproduce the golden file"
    );
    // And the compact wire form decodes to the same value.
    assert_eq!(Report::from_json(&report.to_json()).unwrap(), report);
}

#[test]
fn full_report_has_every_section_with_its_values() {
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    assert_eq!(report.host_id, "pve-node1");
    assert_eq!(report.seq, 4211);
    assert_eq!(report.tiers, vec![Tier::Fast, Tier::Medium]);
    let s = &report.sections;
    assert_eq!(
        s.present(),
        hostwatch_proto::Sections::NAMES.to_vec(),
        "the full fixture must carry every section this build knows"
    );
    let cpu = s.cpu.as_ref().unwrap().ok().unwrap();
    assert_eq!(cpu.usage.unwrap().steal_pct, 8.2);
    assert_eq!(cpu.cores.len(), 2);
    let mem = s.memory.as_ref().unwrap().ok().unwrap();
    assert_eq!(mem.source, MemorySource::Cgroup);
    assert_eq!(mem.swap_cached_bytes, 33_554_432);
    let fs = s.filesystems.as_ref().unwrap().ok().unwrap();
    assert!(fs.mounts[1].error.as_deref().unwrap().contains("timed out"));
    assert_eq!(fs.mounts[1].inodes_used_pct, None);
    let disks = s.disks.as_ref().unwrap().ok().unwrap();
    assert!(
        disks.devices[1].rates.is_none(),
        "first sight of a device has no rates"
    );
}

#[test]
fn checks_carry_state_text_and_typed_perfdata() {
    use hostwatch_proto::sections::{CheckState, Range};
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    let checks = &report
        .sections
        .checks
        .as_ref()
        .unwrap()
        .ok()
        .unwrap()
        .checks;
    assert_eq!(checks.len(), 2);
    let disk = &checks[0];
    assert_eq!((disk.state, disk.exit_code), (CheckState::Warning, Some(1)));
    assert!(disk.long_output.starts_with("/ 15272 MB"));
    assert_eq!(disk.perfdata[0].uom.as_deref(), Some("MB"));
    assert_eq!(disk.perfdata[0].max, Some(5968.0));
    assert_eq!(disk.perfdata[0].base_value().0, 2643.0 * 1024.0 * 1024.0);
    let crit: Range = "@0:6".parse().unwrap();
    assert_eq!(disk.perfdata[1].crit, Some(crit));
    assert!(disk.perfdata[1].crit.unwrap().alerts(0.5));
    assert_eq!(disk.perfdata_errors.len(), 1);
    assert_eq!(disk.consecutive_failures, 3);
    let timed_out = &checks[1];
    assert_eq!(timed_out.state, CheckState::Unknown);
    assert_eq!(timed_out.exit_code, None);
    assert!(timed_out.perfdata.is_empty() && timed_out.long_output.is_empty());
}

#[test]
fn systemd_units_and_failed_count() {
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    let systemd = report.sections.systemd.as_ref().unwrap().ok().unwrap();
    assert_eq!(systemd.failed_units, 1);
    assert_eq!(systemd.failed_unit_names, ["pve-guests.service"]);
    let cloudflared = &systemd.units[0];
    assert_eq!(cloudflared.sub_state, "auto-restart");
    assert_eq!(cloudflared.restarts, Some(4));
    assert!(!cloudflared.is_active() && cloudflared.expected_active);
    assert!(systemd.units[1].is_active());
    assert_eq!(systemd.units[1].memory_bytes, Some(9_437_184));
}

#[test]
fn failed_sections_carry_kind_and_message() {
    let text = fixture("report-v1-errors.json");
    let report = Report::from_json(text.as_bytes()).unwrap();
    assert_eq!(pretty(&report), text);
    let errors = report.sections.errors();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].0, "memory");
    assert_eq!(errors[0].1.kind, ErrorKind::Parse);
    assert!(errors[0].1.message.contains("/proc/meminfo"));
    assert_eq!(errors[1].1.kind, ErrorKind::Permission);
    assert!(matches!(report.sections.load, Some(Section::Ok(_))));
    assert!(
        report.sections.cpu.is_none(),
        "a source not due is absent, not failed"
    );
}

#[test]
fn unknown_fields_and_kinds_from_a_newer_minor_version_are_ignored() {
    let report = Report::from_json(fixture("report-v1-newer-minor.json").as_bytes())
        .expect("additive changes must not break older readers");
    let errors = report.sections.errors();
    assert_eq!(errors[0].1.kind, ErrorKind::Other);
    assert_eq!(report.sections.load.unwrap().ok().unwrap().tasks_total, 98);
}

#[test]
fn a_newer_major_version_is_refused_clearly() {
    let err = Report::from_json(fixture("report-v2.json").as_bytes()).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::NewerSchema {
            found: 2,
            supported: 1
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("schema_version 2") && msg.contains("upgrade"),
        "{msg}"
    );
}

#[test]
fn garbage_is_refused_with_a_position() {
    for (input, expect) in [
        (&b"not json"[..], "line 1"),
        (b"{\"host_id\": \"x\"}", "schema_version"),
        (b"{\"schema_version\": 1, \"host_id\": 5}", "at `host_id`"),
        (b"{\"schema_version\": 1", "EOF"),
    ] {
        let err = Report::from_json(input).unwrap_err().to_string();
        assert!(err.starts_with("invalid report"), "{err}");
        assert!(err.contains(expect), "{err} should mention {expect}");
    }
}

#[test]
fn a_section_with_the_wrong_shape_names_the_problem() {
    let mut v: serde_json::Value = serde_json::from_str(&fixture("report-v1-errors.json")).unwrap();
    v["sections"]["load"]["load1"] = serde_json::json!("high");
    let err = Report::from_json(v.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sections.load")
            && err.contains("invalid type: string \"high\", expected f64"),
        "{err}"
    );
}

#[test]
fn envelope_round_trips() {
    let text = fixture("envelope-v1.json");
    let env: Envelope = serde_json::from_str(&text).unwrap();
    assert_eq!(env.interval_seconds, 60);
    assert_eq!((env.accepted, env.duplicates), (1, 0));
    assert_eq!(pretty(&env), text);
    let minimal: Envelope =
        serde_json::from_str(r#"{"interval_seconds": 10, "commands": []}"#).unwrap();
    assert_eq!(minimal.server_time, None);
}

#[test]
fn job_run_round_trips_and_knows_failure() {
    use hostwatch_proto::{JobOutcome, JobRun};
    let text = fixture("jobrun-v1.json");
    let run: JobRun = serde_json::from_str(&text).unwrap();
    assert_eq!(pretty(&run), text);
    assert_eq!(run.outcome, JobOutcome::Exited(1));
    assert!(!run.succeeded());
    for (json, outcome) in [
        (r#"{"exited":0}"#, JobOutcome::Exited(0)),
        (r#"{"signaled":9}"#, JobOutcome::Signaled(9)),
        (r#""timed_out""#, JobOutcome::TimedOut),
        (
            r#"{"failed_to_start":"not found"}"#,
            JobOutcome::FailedToStart("not found".into()),
        ),
    ] {
        assert_eq!(serde_json::from_str::<JobOutcome>(json).unwrap(), outcome);
        assert_eq!(serde_json::to_string(&outcome).unwrap(), json);
    }
}

#[test]
fn spool_stats_travel_in_the_report() {
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    assert_eq!(report.spool.unwrap().queued, 12);
    let minimal = Report::from_json(fixture("report-v1-errors.json").as_bytes()).unwrap();
    assert_eq!(minimal.spool, None, "older agents send no spool stats");
}

#[test]
fn absorb_takes_the_newer_header_and_merges_only_the_sections_it_carries() {
    let full = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    let newer = Report::from_json(fixture("report-v1-errors.json").as_bytes()).unwrap();
    let mut latest = full.clone();
    latest.absorb(&newer);
    assert_eq!((latest.host_id.as_str(), latest.seq), ("web-3", 1));
    assert_eq!(latest.agent, newer.agent);
    assert_eq!(latest.tiers, newer.tiers);
    assert_eq!(latest.spool, None);
    // Sections the newer report carries replace the old ones (errors included)…
    assert_eq!(latest.sections.load, newer.sections.load);
    assert_eq!(latest.sections.memory, newer.sections.memory);
    // …the others stay as they were.
    assert_eq!(latest.sections.cpu, full.sections.cpu);
    assert_eq!(latest.sections.filesystems, full.sections.filesystems);
}

#[test]
fn zfs_sections_carry_the_vdev_tree_scan_and_problems() {
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    let zfs = report.sections.zfs.as_ref().unwrap().ok().unwrap();
    let pool = &zfs.pools[0];
    assert_eq!(pool.state, "DEGRADED");
    assert_eq!(pool.data_errors, 0, "absent on the wire means none");
    let disk = &pool.vdevs[0].children[1];
    assert_eq!(disk.note.as_deref(), Some("cannot open"));
    assert!(disk.children.is_empty());
    let scan = pool.scan.as_ref().unwrap();
    assert_eq!(scan.end_ms, Some(1_767_834_000_000));
    assert_eq!(scan.progress_pct, None);
    assert_eq!(pool.problems.len(), 2);
    let ds = report.sections.zfs_datasets.as_ref().unwrap().ok().unwrap();
    assert_eq!(ds.datasets[0].compress_ratio, Some(1.39));
}

#[test]
fn smart_section_carries_health_counts_and_standby() {
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    let smart = report.sections.smart.as_ref().unwrap().ok().unwrap();
    assert_eq!(smart.devices[0].reallocated_sectors, Some(0));
    assert_eq!(smart.devices[0].warnings.len(), 1);
    assert_eq!(smart.devices[1].nvme_percentage_used_pct, Some(3.0));
    let asleep = &smart.devices[2];
    assert_eq!(asleep.state, "standby");
    assert_eq!(asleep.passed, None);
    assert!(asleep.warnings.is_empty() && asleep.error.is_none());
}

#[test]
fn proxmox_section_carries_guests_rates_and_storages() {
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    let pve = report.sections.proxmox.as_ref().unwrap().ok().unwrap();
    assert_eq!(pve.guests[0].rates.unwrap().net_out_bytes_per_sec, 250.5);
    assert!(pve.guests[1].template && pve.guests[1].rates.is_none());
    assert!(!pve.guests[0].template, "absent means false");
    assert_eq!(pve.storages[1].used_pct, None);
    assert!(pve.storages[1].shared);
}

#[test]
fn containers_section_carries_health_limits_and_watchdog_actions() {
    use hostwatch_proto::sections::WatchdogResult;
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    let c = report.sections.containers.as_ref().unwrap().ok().unwrap();
    assert_eq!((c.running, c.unhealthy), (2, 1));
    let api = &c.containers[1];
    let health = api.health.as_ref().unwrap();
    assert_eq!(
        (health.status.as_str(), health.failing_streak),
        ("unhealthy", 3)
    );
    assert_eq!(health.last_checks[0].exit_code, 1);
    assert_eq!(api.mem_unlimited, Some(true));
    assert_eq!(api.mem_limit_bytes, None);
    assert_eq!(api.cpu_pct, None, "first sight has no CPU rate");
    let exited = &c.containers[2];
    assert_eq!(
        (exited.state.as_str(), exited.exit_code),
        ("exited", Some(1))
    );
    assert!(exited.health.is_none());
    assert_eq!(c.watchdog_actions[0].result, WatchdogResult::Restarted);
    // A result kind from a newer agent still decodes.
    let newer: hostwatch_proto::sections::WatchdogAction = serde_json::from_str(
        r#"{"at":1,"container_id":"x","container":"x","reason":"r","result":"skipped_cap"}"#,
    )
    .unwrap();
    assert_eq!(newer.result, WatchdogResult::Other);
}

#[test]
fn gpu_section_carries_both_vendors_processes_and_a_partial_error() {
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    let gpu = report.sections.gpu.as_ref().unwrap().ok().unwrap();
    let vega = &gpu.devices[0];
    assert_eq!((vega.id.as_str(), vega.vendor.as_str()), ("card0", "amd"));
    assert_eq!(vega.fan_pct, Some(24.71));
    assert!(vega.processes.is_empty());
    let asleep = &gpu.devices[1];
    assert!(asleep.suspended && asleep.utilization_pct.is_none());
    assert!(!vega.suspended, "absent means awake");
    let t4 = &gpu.devices[2];
    assert_eq!(t4.fan_pct, None);
    assert_eq!(t4.power_watts, Some(26.78));
    assert_eq!(t4.processes[0].name, None);
    assert_eq!(t4.processes[1].name.as_deref(), Some("python"));
    assert_eq!(t4.processes[1].memory_bytes, Some(1_053_818_880));
    assert_eq!(gpu.errors.len(), 1);
}

#[test]
fn ollama_section_carries_models_loaded_and_the_memory_warning() {
    let report = Report::from_json(fixture("report-v1-full.json").as_bytes()).unwrap();
    let o = report.sections.ollama.as_ref().unwrap().ok().unwrap();
    assert_eq!(o.models.len(), 3);
    assert!(
        o.models[1].loaded && !o.models[0].loaded,
        "absent means not loaded"
    );
    assert_eq!(o.models[2].family, None);
    assert_eq!(o.loaded[1].vram_bytes, 5_333_539_264);
    assert_eq!(o.loaded[1].context_length, Some(4096));
    assert_eq!(o.memory_available_bytes, Some(44_128_796_672));
    assert!(o.warnings[0].starts_with("loading llama3:70b (39.9 GiB)"));
}

#[test]
fn an_envelope_with_commands_round_trips_and_an_older_reader_ignores_them() {
    let text = fixture("envelope-v1-commands.json");
    let env: Envelope = serde_json::from_str(&text).unwrap();
    assert_eq!(pretty(&env), text);
    assert_eq!(env.commands.len(), 1);
    assert_eq!(env.commands[0].command, "restart");
    assert_eq!(env.commands[0].params, vec!["nginx".to_string()]);
    assert_eq!(env.commands[0].expires_at, 1_795_340_537_190);
    // Without commands the field is left out, so the plain envelope is unchanged.
    let plain: Envelope = serde_json::from_str(&fixture("envelope-v1.json")).unwrap();
    assert!(!serde_json::to_string(&plain).unwrap().contains("commands"));
}

#[test]
fn the_system_section_advertises_commands_optionally() {
    use hostwatch_proto::sections::System;
    let json = r#"{"hostname":"h","kernel":"k","arch":"x86_64","uptime_seconds":1.0,"boot_time":0,
        "commands":[{"name":"restart","description":"Restart a service","params":[{"choices":["nginx"]},{"regex":"[0-9]+"}]},{"name":"uptime"}]}"#;
    let s: System = serde_json::from_str(json).unwrap();
    assert_eq!(s.commands.len(), 2);
    assert_eq!(
        s.commands[0].params[0].choices.as_deref(),
        Some(&["nginx".to_string()][..])
    );
    assert_eq!(s.commands[0].params[1].regex.as_deref(), Some("[0-9]+"));
    assert!(s.commands[1].params.is_empty());
    let back = serde_json::to_value(&s).unwrap();
    assert_eq!(back["commands"][1], serde_json::json!({"name": "uptime"}));
    let none: System = serde_json::from_str(
        r#"{"hostname":"h","kernel":"k","arch":"x86_64","uptime_seconds":1.0,"boot_time":0}"#,
    )
    .unwrap();
    assert!(!serde_json::to_string(&none).unwrap().contains("commands"));
}

#[test]
fn audit_entries_round_trip_byte_for_byte() {
    use hostwatch_proto::AuditOutcome;
    let text = fixture("report-v1-audit.json");
    let report = Report::from_json(text.as_bytes()).expect("decodes");
    assert_eq!(
        pretty(&report),
        text,
        "re-encoding must reproduce the golden file"
    );
    assert_eq!(Report::from_json(&report.to_json()).unwrap(), report);
    assert_eq!(report.audit.len(), 3);
    assert_eq!(report.audit_dropped_total, 3);
    let ran = &report.audit[0];
    assert_eq!(
        (ran.outcome, ran.ok, ran.exit_code),
        (AuditOutcome::Ran, true, Some(0))
    );
    assert_eq!(ran.params, ["nginx"]);
    let refused = &report.audit[2];
    assert_eq!(refused.outcome, AuditOutcome::Refused);
    assert!(refused.params.is_empty());
    assert!(
        refused
            .reason
            .as_deref()
            .unwrap()
            .starts_with("bad signature")
    );
    // No entry ever carries a signature.
    assert!(!text.contains("signature\""));
}

#[test]
fn a_report_without_audit_entries_omits_the_fields() {
    let report = Report::from_json(fixture("report-v1-errors.json").as_bytes()).unwrap();
    assert!(report.audit.is_empty());
    let json = String::from_utf8(report.to_json()).unwrap();
    assert!(!json.contains("audit"), "{json}");
}

#[test]
fn the_latest_state_never_keeps_audit_entries() {
    let mut latest = Report::from_json(fixture("report-v1-errors.json").as_bytes()).unwrap();
    let newer = Report::from_json(fixture("report-v1-audit.json").as_bytes()).unwrap();
    latest.absorb(&newer);
    assert!(latest.audit.is_empty());
    assert_eq!(latest.audit_dropped_total, 3);
    assert_eq!(latest.seq, 2);
}
