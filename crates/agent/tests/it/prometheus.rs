//! `/metrics`: judged by the real `promtool` (Debian package `prometheus`), and served over a
//! real socket with the right Content-Type.

use hostwatch_agent::sink::prometheus::{CONTENT_TYPE, MetricsState, router};
use hostwatch_proto::Report;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// The golden full report: every section, realistic values.
fn full_report() -> Report {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../proto/tests/fixtures/report-v1-full.json"
    );
    Report::from_json(&std::fs::read(path).unwrap()).unwrap()
}

/// The same report as a bare-metal host, so node_exporter's memory names are written too.
fn host_report() -> Report {
    let mut r = full_report();
    if let Some(hostwatch_proto::Section::Ok(m)) = &mut r.sections.memory {
        m.source = hostwatch_proto::sections::MemorySource::Host;
    }
    r
}

/// Runs `promtool check metrics` on `text`; returns (exit code, findings).
fn promtool(text: &str) -> (i32, Vec<String>) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool must be installed (Debian package `prometheus`); scripts/test.sh installs it",
        );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let findings = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    (out.status.code().unwrap_or(-1), findings)
}

#[test]
fn exposition_passes_promtool_with_only_node_exporters_own_camel_case() {
    let state = MetricsState::default();
    state.record(host_report());
    let text = state.render();
    let (code, findings) = promtool(&text);
    // node_exporter itself names /proc/meminfo fields in camelCase (node_memory_MemTotal_bytes);
    // existing Grafana dashboards query those names, so compatibility wins over this one lint.
    // Every other finding — a parse error or any other lint — fails the test.
    let unexpected: Vec<&String> = findings
        .iter()
        .filter(|f| {
            !(f.starts_with("node_memory_")
                && f.ends_with("metric names should be written in 'snake_case' not 'camelCase'"))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool findings: {unexpected:#?}\n{text}"
    );
    let mut flagged: Vec<&str> = findings
        .iter()
        .filter_map(|f| f.split_whitespace().next())
        .collect();
    flagged.sort();
    assert_eq!(
        flagged,
        [
            "node_memory_MemAvailable_bytes",
            "node_memory_MemFree_bytes",
            "node_memory_MemTotal_bytes",
            "node_memory_SwapCached_bytes",
            "node_memory_SwapFree_bytes",
            "node_memory_SwapTotal_bytes",
        ]
    );
    assert_eq!(code, 3, "promtool exits 3 for lint findings only");
}

#[test]
fn inside_a_container_the_exposition_is_lint_clean() {
    // Cgroup-sourced memory is not /proc/meminfo, so no node_memory_* names are written.
    let state = MetricsState::default();
    state.record(full_report());
    let text = state.render();
    assert!(!text.contains("node_memory_MemTotal_bytes"));
    assert!(text.contains("hostwatch_memory_total_bytes{source=\"cgroup\"} 4294967296"));
    let (code, findings) = promtool(&text);
    assert_eq!((code, findings), (0, vec![]), "{text}");
}

#[test]
fn node_exporter_names_carry_the_reports_values() {
    let state = MetricsState::default();
    state.record(host_report());
    let text = state.render();
    for line in [
        "node_cpu_seconds_total{cpu=\"0\",mode=\"steal\"} 1005",
        "node_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 10212.2",
        "node_load1 0.52",
        "node_memory_MemTotal_bytes 4294967296",
        "node_memory_SwapCached_bytes 33554432",
        "node_pressure_io_stalled_seconds_total 4321.5",
        "node_pressure_cpu_waiting_seconds_total 1234.567891",
        "node_filesystem_avail_bytes{device=\"/dev/mapper/pve-root\",fstype=\"ext4\",mountpoint=\"/\"} 35296600064",
        "node_filesystem_device_error{device=\"nas:/export/backup\",fstype=\"nfs4\",mountpoint=\"/mnt/backup\"} 1",
        "node_disk_written_bytes_total{device=\"nvme0n1\"} 1024000000000",
        "node_disk_discarded_sectors_total{device=\"nvme0n1\"} 100000000",
        "node_network_receive_bytes_total{device=\"eno1\"} 987654321012",
        "node_hwmon_temp_celsius{chip=\"platform_coretemp_0\",sensor=\"temp1\"} 55",
        "node_hwmon_sensor_label{chip=\"nvme_nvme0\",label=\"Composite\",sensor=\"temp1\"} 1",
        "node_thermal_zone_temp{type=\"x86_pkg_temp\",zone=\"0\"} 55",
        "node_boot_time_seconds 1794304124",
        "hostwatch_cpu_steal_pct 8.2",
        "hostwatch_processes_state{state=\"zombie\"} 1",
        "hostwatch_systemd_failed_units 1",
        "node_systemd_unit_state{name=\"cloudflared.service\",state=\"activating\",type=\"service\"} 1",
        "node_systemd_unit_state{name=\"cloudflared.service\",state=\"active\",type=\"service\"} 0",
        "node_systemd_unit_state{name=\"nginx.service\",state=\"active\",type=\"service\"} 1",
        "node_systemd_service_restart_total{name=\"cloudflared.service\"} 4",
        "hostwatch_check_state{check=\"root_disk\"} 1",
        "hostwatch_check_state{check=\"backup_age\"} 3",
        "hostwatch_check_perfdata{check=\"root_disk\",label=\"/\",unit=\"bytes\"} 2771386368",
        "hostwatch_check_perfdata{check=\"root_disk\",label=\"load 1\",unit=\"\"} 0.5",
        "hostwatch_check_duration_seconds{check=\"backup_age\"} 10.003",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    // A mount that could not be measured has no size figures, only the error flag.
    assert!(!text.contains("node_filesystem_size_bytes{device=\"nas:/export/backup\""));
}

#[test]
fn latest_state_merges_tiers_and_counts_errors() {
    let state = MetricsState::default();
    state.record(host_report());
    // A later fast-tier report without filesystems, and with memory failing.
    let mut next = host_report();
    next.seq += 1;
    next.sections.filesystems = None;
    next.sections
        .put_error(
            "memory",
            hostwatch_proto::SectionError {
                kind: hostwatch_proto::ErrorKind::Parse,
                message: "bad".into(),
            },
        )
        .unwrap();
    state.record(next);
    let text = state.render();
    assert!(text.contains("hostwatch_report_seq 4212"));
    assert!(
        text.contains("node_filesystem_size_bytes{"),
        "filesystems stay from the medium tick"
    );
    assert!(text.contains("hostwatch_collector_errors_total{collector=\"memory\"} 1"));
    assert!(text.contains("hostwatch_collector_errors_total{collector=\"cpu\"} 0"));
    assert!(
        !text.contains("node_memory_MemTotal_bytes"),
        "a failed source writes no stale values"
    );
}

#[test]
fn served_over_http_with_the_text_format_content_type() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = MetricsState::default();
    state.record(host_report());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, router(state)).await });
    let response = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    // Drive the server while the client thread talks to it.
    let response = rt.block_on(async {
        loop {
            if response.is_finished() {
                break response.join().unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains(&format!("content-type: {CONTENT_TYPE}")),
        "{response}"
    );
    assert!(response.contains("node_load1 0.52"));
}
