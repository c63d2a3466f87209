//! Nagios-compatible checks against the real plugins of Debian's `monitoring-plugins` package
//! (scripts/test.sh installs it), scripts that misbehave, and recorded plugin outputs.

use crate::logcapture;
use hostwatch_agent::Agent;
use hostwatch_agent::collect::checks::{CheckSpec, parse_plugin_text, run_check};
use hostwatch_agent::config::{AgentConfig, CheckCommand, CheckConfig};
use hostwatch_agent::runner::{Command, Runner};
use hostwatch_proto::sections::{CheckResult, CheckState, PerfData};
use hostwatch_proto::{Section, Tier};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PLUGINS: &str = "/usr/lib/nagios/plugins";

fn plugin(name: &str) -> PathBuf {
    let path = Path::new(PLUGINS).join(name);
    assert!(
        path.is_file(),
        "{} missing: install Debian's `monitoring-plugins` (scripts/test.sh does)",
        path.display()
    );
    path
}

async fn check(argv: &[&str]) -> CheckResult {
    check_with_timeout(argv, Duration::from_secs(30)).await
}

async fn check_with_timeout(argv: &[&str], timeout: Duration) -> CheckResult {
    let command = Command::from_argv(argv.iter().copied())
        .unwrap()
        .timeout(timeout);
    let spec = CheckSpec::new("test", command, Duration::from_secs(60));
    run_check(&Runner::default(), &spec, 0).await
}

fn perf<'a>(result: &'a CheckResult, label: &str) -> &'a PerfData {
    result
        .perfdata
        .iter()
        .find(|p| p.label == label)
        .unwrap_or_else(|| panic!("no perfdata `{label}` in {result:#?}"))
}

#[tokio::test]
async fn check_dummy_maps_every_exit_code() {
    let dummy = plugin("check_dummy");
    let dummy = dummy.to_str().unwrap();
    for (code, state, text) in [
        ("0", CheckState::Ok, "OK: all good"),
        ("1", CheckState::Warning, "WARNING: all good"),
        ("2", CheckState::Critical, "CRITICAL: all good"),
        ("3", CheckState::Unknown, "UNKNOWN: all good"),
    ] {
        let result = check(&[dummy, code, "all good"]).await;
        assert_eq!(result.state, state, "{result:#?}");
        assert_eq!(result.exit_code, Some(code.parse().unwrap()));
        assert_eq!(result.status, text);
        assert!(result.long_output.is_empty() && result.perfdata.is_empty());
        assert_eq!(result.consecutive_failures, u32::from(code != "0"));
        assert!(result.last_run > 1_700_000_000_000);
    }
    // check_dummy refuses 4 itself, with UNKNOWN's exit code.
    let result = check(&[dummy, "4"]).await;
    assert_eq!(
        (result.state, result.exit_code),
        (CheckState::Unknown, Some(3))
    );
    assert_eq!(
        result.status,
        "UNKNOWN: Status 4 is not a supported error state"
    );
    // A plugin that really exits 4 (or anything else outside 0–3) is UNKNOWN too.
    for code in [4, 5, 127] {
        let result = check(&["/bin/sh", "-c", &format!("echo odd; exit {code}")]).await;
        assert_eq!(
            (result.state, result.exit_code),
            (CheckState::Unknown, Some(code))
        );
        assert_eq!(result.status, "odd");
    }
}

#[tokio::test]
async fn check_load_perfdata_and_its_thresholds() {
    let load = plugin("check_load");
    let result = check(&[
        load.to_str().unwrap(),
        "-w",
        "1000,1000,1000",
        "-c",
        "2000,2000,2000",
    ])
    .await;
    assert_eq!(result.state, CheckState::Ok, "{result:#?}");
    assert!(
        result.status.starts_with("LOAD OK - total load average: "),
        "{}",
        result.status
    );
    assert!(result.perfdata_errors.is_empty(), "{result:#?}");
    for label in ["load1", "load5", "load15"] {
        let p = perf(&result, label);
        assert!(p.value >= 0.0 && p.uom.is_none(), "{p:?}");
        assert_eq!(p.warn, Some("1000".parse().unwrap()));
        assert_eq!(p.crit, Some("2000".parse().unwrap()));
        assert_eq!((p.min, p.max), (Some(0.0), None));
        assert!(!p.warn.unwrap().alerts(p.value));
    }
}

#[tokio::test]
async fn check_disk_ok_and_critical_with_bytes() {
    let disk = plugin("check_disk");
    let disk = disk.to_str().unwrap();
    let ok = check(&[disk, "-w", "0%", "-c", "0%", "-p", "/"]).await;
    assert_eq!(ok.state, CheckState::Ok, "{ok:#?}");
    assert!(ok.status.starts_with("DISK OK"), "{}", ok.status);
    let root = perf(&ok, "/");
    assert_eq!(root.uom.as_deref(), Some("B"));
    let size = root.max.expect("check_disk reports the size as max");
    assert!(root.value > 0.0 && root.value <= size, "{root:?}");
    assert_eq!(root.base_value().0, root.value);

    let critical = check(&[disk, "-w", "100%", "-c", "100%", "-p", "/"]).await;
    assert_eq!(
        (critical.state, critical.exit_code),
        (CheckState::Critical, Some(2)),
        "{critical:#?}"
    );
    assert!(critical.status.starts_with("DISK CRITICAL"));
    assert_eq!(critical.consecutive_failures, 1);
}

#[tokio::test]
async fn check_procs_states_agree_with_the_parsed_ranges() {
    let procs = plugin("check_procs");
    let procs = procs.to_str().unwrap();
    // At least the test and check_procs itself run, so 0:1 is always exceeded.
    for (warn, crit, state) in [
        ("0:1000000", "0:1000000", CheckState::Ok),
        ("0:1", "0:1000000", CheckState::Warning),
        ("0:1", "0:1", CheckState::Critical),
    ] {
        let result = check(&[procs, "-w", warn, "-c", crit]).await;
        assert_eq!(result.state, state, "{result:#?}");
        assert!(result.status.starts_with("PROCS "), "{}", result.status);
        let p = perf(&result, "procs");
        assert!(p.value >= 2.0);
        let (w, c) = (p.warn.unwrap(), p.crit.unwrap());
        // Our reading of the ranges decides as the plugin did.
        let ours = if c.alerts(p.value) {
            CheckState::Critical
        } else if w.alerts(p.value) {
            CheckState::Warning
        } else {
            CheckState::Ok
        };
        assert_eq!(ours, state, "{p:?}");
    }
}

#[tokio::test]
async fn check_swap_reports_bytes() {
    let swap = plugin("check_swap");
    let swap = swap.to_str().unwrap();
    // OK with or without swap on the machine (unless it is 99% full): a missing swap is
    // declared fine.
    let result = check(&[swap, "-n", "ok", "-w", "1%", "-c", "1%"]).await;
    assert_eq!(result.state, CheckState::Ok, "{result:#?}");
    assert!(result.status.starts_with("SWAP OK"), "{}", result.status);
    let p = perf(&result, "swap");
    assert_eq!(p.uom.as_deref(), Some("B"));
    assert!(p.value >= 0.0);

    // A usage error: UNKNOWN, the complaint as status, the usage below it.
    let result = check(&[swap, "-w", "0%", "-c", "0%"]).await;
    assert_eq!(
        (result.state, result.exit_code),
        (CheckState::Unknown, Some(3))
    );
    assert_eq!(result.status, "check_swap: Could not parse arguments");
    assert!(result.long_output.starts_with("Usage:"), "{result:#?}");
}

/// Writes an executable script into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A script just written may still be open in a child forked by another test thread
/// (`ETXTBSY`); that race is the test's, so retry a few times.
async fn run_script(path: &Path, timeout: Duration) -> CheckResult {
    for _ in 0..50 {
        let result = check_with_timeout(&[path.to_str().unwrap()], timeout).await;
        if !result.status.contains("Text file busy") {
            return result;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check_with_timeout(&[path.to_str().unwrap()], timeout).await
}

#[tokio::test]
async fn misbehaving_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("child.pid");

    let slow = script(
        tmp.path(),
        "check_slow",
        &format!(
            "echo starting\nsleep 100 &\necho $! > {}\nwait",
            pid_file.display()
        ),
    );
    let result = run_script(&slow, Duration::from_secs(1)).await;
    assert_eq!(
        (result.state, result.exit_code),
        (CheckState::Unknown, None),
        "{result:#?}"
    );
    assert_eq!(result.status, "timed out after 1 s");
    assert_eq!(result.long_output, "starting");
    assert!(result.duration_seconds >= 1.0);
    // The runner killed the process group: the background sleep is gone too.
    let child: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut gone = false;
    for _ in 0..200 {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        if stat.is_empty() || matches!(state, Some(Some('Z' | 'X'))) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the plugin's child {child} survived the timeout");

    let suicidal = script(tmp.path(), "check_signal", "echo about to die\nkill -9 $$");
    let result = run_script(&suicidal, Duration::from_secs(30)).await;
    assert_eq!(
        (result.state, result.exit_code),
        (CheckState::Unknown, None)
    );
    assert_eq!(result.status, "killed by signal 9");
    assert_eq!(result.long_output, "about to die");

    let stderr_only = script(
        tmp.path(),
        "check_stderr",
        "echo 'cannot connect to database' >&2\necho 'retry later' >&2\nexit 2",
    );
    let result = run_script(&stderr_only, Duration::from_secs(30)).await;
    assert_eq!(result.state, CheckState::Critical);
    assert_eq!(result.status, "cannot connect to database");
    assert_eq!(result.long_output, "retry later");

    let both = script(
        tmp.path(),
        "check_both",
        "echo 'WARNING - queue long|queue=120;100;200;0'\necho 'deprecated option -x' >&2\nexit 1",
    );
    let result = run_script(&both, Duration::from_secs(30)).await;
    assert_eq!(result.state, CheckState::Warning);
    assert_eq!(result.status, "WARNING - queue long");
    assert_eq!(result.long_output, "deprecated option -x");
    assert_eq!(perf(&result, "queue").value, 120.0);

    let missing = check(&["/nonexistent/check_nothing"]).await;
    assert_eq!(missing.state, CheckState::Unknown);
    assert_eq!(missing.status, "/nonexistent/check_nothing: not found");
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/checks/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn recorded_outputs_parse() {
    let text = parse_plugin_text(&fixture("check_load_ok_quoted-labels_range-thresholds.txt"));
    assert_eq!(text.status, "OK: Load average: 0.00, 0.01, 0.05");
    assert_eq!(text.perfdata.len(), 3);
    let load1 = &text.perfdata[0];
    assert_eq!(load1.label, "load1");
    assert_eq!(load1.warn, Some("~:4".parse().unwrap()));
    assert_eq!(load1.crit, Some("@0:6".parse().unwrap()));
    assert!(
        load1.crit.unwrap().alerts(0.0),
        "@0:6 alerts inside, 0 included"
    );
    assert_eq!(text.perfdata[1].warn, Some("3".parse().unwrap()));
    assert_eq!(text.perfdata[2].crit, Some("0:4".parse().unwrap()));

    let text = parse_plugin_text(&fixture("check_ping_ok_no-perfdata.txt"));
    assert_eq!(text.status, "PING OK - Packet loss = 0%, RTA = 0.30 ms");
    assert!(text.perfdata.is_empty() && text.long_output.is_empty());

    let text = parse_plugin_text(&fixture("check_ping_ok_perfdata_with-long-output.txt"));
    assert_eq!(text.long_output, "This is a long output\nwith three lines");
    let rta = &text.perfdata[0];
    assert_eq!((rta.label.as_str(), rta.value), ("rta", 0.298));
    assert_eq!(rta.uom.as_deref(), Some("ms"));
    assert_eq!(rta.base_value().0, 0.000298);
    assert_eq!(text.perfdata[1].max, Some(100.0));

    let text = parse_plugin_text(&fixture("check_tcp_ok_empty-warn-crit.txt"));
    let time = &text.perfdata[0];
    assert_eq!((time.warn, time.crit), (None, None));
    assert_eq!((time.min, time.max), (Some(0.0), Some(10.0)));

    let text = parse_plugin_text(&fixture("check_tcp_ok_value-only.txt"));
    assert_eq!(text.perfdata[0].value, 0.008457);
    assert_eq!(text.perfdata[0].uom, None);

    let text = parse_plugin_text(&fixture("malformed-perfdata.txt"));
    assert_eq!(text.status, "PING OK - Packet loss = 0%, RTA = 0.30 ms");
    assert!(text.perfdata.is_empty());
    assert_eq!(text.perfdata_errors.len(), 4, "{:?}", text.perfdata_errors);
    assert!(text.perfdata_errors[3].contains("sff=;;;;"));

    let text = parse_plugin_text(&fixture(
        "nagios-core-doc_check_disk_ok_multiline-long-output-and-perfdata.txt",
    ));
    assert_eq!(text.status, "DISK OK - free space: / 3326 MB (56%);");
    assert_eq!(
        text.long_output,
        "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);"
    );
    let labels: Vec<_> = text.perfdata.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["/", "/boot", "/home", "/var/log"]);
    assert_eq!(text.perfdata[3].base_value().0, 818.0 * 1024.0 * 1024.0);
}

fn entry(name: Option<&str>, argv: &[&str]) -> CheckConfig {
    CheckConfig {
        name: name.map(str::to_string),
        command: Some(CheckCommand::Argv(
            argv.iter().map(|a| a.to_string()).collect(),
        )),
        interval_seconds: 60,
        timeout_seconds: 10,
    }
}

#[test]
fn start_up_lines_and_the_agents_checks_section() {
    logcapture::install();
    let _ = Agent::new(&AgentConfig::default());
    assert!(
        logcapture::text().contains("checks skipped: none configured"),
        "{}",
        logcapture::text()
    );

    let dummy = plugin("check_dummy");
    let config = AgentConfig {
        checks: vec![
            entry(
                Some("dummy_warn"),
                &[dummy.to_str().unwrap(), "1", "watch it"],
            ),
            entry(None, &["true"]),
            entry(Some("gone"), &["/nonexistent/check_gone_agent"]),
        ],
        ..AgentConfig::default()
    };
    // Outside a runtime (as `hostwatch snapshot` runs), a collection runs each check once.
    let mut agent = Agent::new(&config);
    let logs = logcapture::text();
    assert!(
        logs.contains("checks[1] skipped: it has no `name`"),
        "{logs}"
    );
    assert!(
        logs.contains("checks[2] (gone): /nonexistent/check_gone_agent does not exist"),
        "{logs}"
    );
    let report = agent.collect(&[Tier::Fast]);
    let Some(Section::Ok(checks)) = &report.sections.checks else {
        panic!("no checks section: {:?}", report.sections.checks)
    };
    let names: Vec<_> = checks.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["dummy_warn", "gone"]);
    assert_eq!(checks.checks[0].state, CheckState::Warning);
    assert_eq!(checks.checks[0].status, "WARNING: watch it");
    assert_eq!(checks.checks[1].state, CheckState::Unknown);
    assert_eq!(
        checks.checks[1].status,
        "/nonexistent/check_gone_agent: not found"
    );
}
