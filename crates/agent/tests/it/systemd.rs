//! The systemd collector through the real runner, with a fake `systemctl` executable that
//! prints recorded output (no machine here runs systemd), and its parsers over recorded output.

use hostwatch_agent::HostPaths;
use hostwatch_agent::collect::systemd::{SystemdCollector, parse_list_units, parse_show};
use hostwatch_agent::collect::{CollectError, Collector};
use hostwatch_agent::config::SystemdConfig;
use hostwatch_agent::runner::Runner;
use hostwatch_proto::SectionData;
use hostwatch_proto::sections::Systemd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/systemd")
        .join(name)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A host tree with systemd booted (or not) and a boot time, plus a fake `systemctl` that logs
/// its arguments and answers from `body` (a shell `case` on the subcommand).
struct Host {
    dir: tempfile::TempDir,
}

const BTIME: i64 = 1_794_304_124;

impl Host {
    fn new(booted: bool, body: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        if booted {
            std::fs::create_dir_all(dir.path().join("run/systemd/system")).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::write(
            dir.path().join("proc/stat"),
            format!("cpu  1 2 3 4\nbtime {BTIME}\n"),
        )
        .unwrap();
        let fake = dir.path().join("systemctl");
        let script = format!(
            "#!/bin/sh\necho \"$@\" >> {}\ncase \"$1\" in\n{body}\nesac\n",
            dir.path().join("calls").display()
        );
        std::fs::write(&fake, script).unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        Host { dir }
    }

    fn collector(&self, units: &[&str]) -> SystemdCollector {
        let config = SystemdConfig {
            units: units.iter().map(|u| u.to_string()).collect(),
            systemctl: self.dir.path().join("systemctl"),
            ..SystemdConfig::default()
        };
        SystemdCollector::new(
            &config,
            &HostPaths::under(self.dir.path()),
            Runner::default(),
        )
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Collects, retrying while the freshly written fake is still open in a child another test
/// thread forked (`ETXTBSY`): that race is the test's, not the collector's.
fn collect(collector: &mut SystemdCollector) -> Result<Option<SectionData>, CollectError> {
    for _ in 0..50 {
        match collector.collect() {
            Err(e) if e.to_string().contains("Text file busy") => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other,
        }
    }
    collector.collect()
}

fn systemd(result: Result<Option<SectionData>, CollectError>) -> Systemd {
    match result {
        Ok(Some(SectionData::Systemd(s))) => s,
        other => panic!("expected a systemd section, got {other:?}"),
    }
}

fn answering_recorded_output() -> Host {
    Host::new(
        true,
        &format!(
            "list-units) cat {} ;;\nshow) cat {} ;;\n*) echo \"unknown command $1\" >&2; exit 1 ;;",
            fixture_path("list-units-pve-node.txt").display(),
            fixture_path("show-pve-node.txt").display()
        ),
    )
}

#[test]
fn active_failed_restarting_and_missing_units() {
    let host = answering_recorded_output();
    let mut collector =
        host.collector(&["cloudflared.service", "nginx*.service", "missing.service"]);
    let s = systemd(collect(&mut collector));

    assert_eq!(s.failed_units, 2);
    assert_eq!(
        s.failed_unit_names,
        ["pve-guests.service", "zfs-import@rpool.service"]
    );
    let names: Vec<_> = s.units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cloudflared.service",
            "missing.service",
            "nginx-exporter.service",
            "nginx.service"
        ]
    );
    let cloudflared = &s.units[0];
    assert_eq!(
        (
            cloudflared.active_state.as_str(),
            cloudflared.sub_state.as_str()
        ),
        ("activating", "auto-restart")
    );
    assert_eq!(cloudflared.restarts, Some(4));
    assert_eq!(cloudflared.memory_bytes, Some(23_592_960));
    assert_eq!(cloudflared.active_since, Some(BTIME * 1000 + 1_034_875));
    assert!(!cloudflared.is_active() && cloudflared.expected_active);

    let missing = &s.units[1];
    assert_eq!(missing.load_state, "not-found");
    assert_eq!((missing.memory_bytes, missing.active_since), (None, None));

    let nginx = &s.units[3];
    assert!(nginx.is_active());
    assert_eq!(nginx.restarts, Some(0));
    assert_eq!(nginx.memory_bytes, Some(9_437_184));
    assert_eq!(nginx.active_since, Some(BTIME * 1000 + 76_412));

    assert_eq!(
        host.calls(),
        [
            "list-units --all --plain --no-legend --no-pager --full",
            "show --property=Id,LoadState,ActiveState,SubState,NRestarts,ActiveEnterTimestampMonotonic,MemoryCurrent -- cloudflared.service missing.service nginx-exporter.service nginx.service",
        ]
    );
}

#[test]
fn without_configured_units_only_the_failed_count_and_one_call() {
    let host = answering_recorded_output();
    let s = systemd(collect(&mut host.collector(&[])));
    assert!(s.units.is_empty());
    assert_eq!(s.failed_units, 2);
    assert_eq!(host.calls().len(), 1, "no `show` without units");
}

#[test]
fn no_systemd_means_no_section_and_no_call() {
    let host = Host::new(false, "*) exit 0 ;;");
    let mut collector = host.collector(&["cloudflared.service"]);
    assert!(matches!(collect(&mut collector), Ok(None)));
    assert!(host.calls().is_empty());
}

#[test]
fn garbage_and_failures_are_section_errors_naming_the_command() {
    let host = Host::new(
        true,
        "list-units) echo 'Segmentation fault (core dumped)' ;;",
    );
    let error = collect(&mut host.collector(&[])).unwrap_err();
    let message = error.to_section_error().message;
    assert!(
        message.contains("list-units --all --plain --no-legend --no-pager --full")
            && message.contains("line 1"),
        "{message}"
    );
    assert_eq!(
        error.to_section_error().kind,
        hostwatch_proto::ErrorKind::Parse
    );

    let host = Host::new(
        true,
        &format!(
            "*) cat {} >&2; exit 1 ;;",
            fixture_path("stderr-not-booted.txt").display()
        ),
    );
    let message = collect(&mut host.collector(&[]))
        .unwrap_err()
        .to_section_error()
        .message;
    assert!(message.contains("systemctl list-units"), "{message}");
    assert!(
        message.ends_with(
            "exit code 1: System has not been booted with systemd as init system (PID 1). Can't operate."
        ),
        "{message}"
    );

    let host = Host::new(
        true,
        &format!(
            "list-units) cat {} ;;\nshow) echo 'Id=nginx.service' ;;",
            fixture_path("list-units-pve-node.txt").display()
        ),
    );
    let message = collect(&mut host.collector(&["nginx.service"]))
        .unwrap_err()
        .to_section_error()
        .message;
    assert!(
        message.contains("show --property=") && message.contains("nginx.service: no LoadState"),
        "{message}"
    );

    let gone = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(gone.path().join("run/systemd/system")).unwrap();
    let config = SystemdConfig {
        systemctl: gone.path().join("no-systemctl"),
        ..SystemdConfig::default()
    };
    let mut collector =
        SystemdCollector::new(&config, &HostPaths::under(gone.path()), Runner::default());
    let message = collector.collect().unwrap_err().to_string();
    assert!(message.ends_with("no-systemctl: not found"), "{message}");
}

#[test]
fn recorded_list_units_of_other_systems() {
    let ubuntu = parse_list_units(&fixture("systemctl-list-units-all_ubuntu18.04.txt")).unwrap();
    assert_eq!(ubuntu.len(), 334, "the footer says 334 loaded units listed");
    assert!(ubuntu.iter().all(|u| u.active_state != "failed"));
    assert_eq!(ubuntu[0].name, "proc-sys-fs-binfmt_misc.automount");
    assert_eq!(ubuntu[0].sub_state, "waiting");

    let centos = parse_list_units(&fixture("systemctl-list-units_centos7.7.txt")).unwrap();
    assert_eq!(centos.len(), 220);
    let cloud_init = centos
        .iter()
        .find(|u| u.name == "cloud-init.service")
        .expect("the ● marker is not part of the name");
    assert_eq!(
        (
            cloud_init.load_state.as_str(),
            cloud_init.active_state.as_str()
        ),
        ("not-found", "inactive")
    );
}

#[test]
fn recorded_show_of_several_units() {
    let names: Vec<String> = [
        "network.target",
        "swap.target",
        "paths.target",
        "sockets.target",
    ]
    .map(String::from)
    .into();
    let units = parse_show(
        &fixture("systemctl-show_targets_multi-unit.txt"),
        &names,
        Some(1_000_000),
        false,
    )
    .unwrap();
    assert_eq!(units.len(), 4);
    assert!(
        units
            .iter()
            .all(|u| u.is_active() && u.sub_state == "active")
    );
    assert_eq!(units[0].active_since, Some(1_000_000 + 15_332));
    assert_eq!(units[3].active_since, Some(1_000_000 + 7_786));
    assert_eq!(units[0].restarts, None, "targets have no NRestarts");
    assert!(!units[0].expected_active);
}
