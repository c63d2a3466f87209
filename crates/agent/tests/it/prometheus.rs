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

/// Whether `text` has exactly the sample line `line`.
fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn integration_sections_carry_the_reports_values() {
    let state = MetricsState::default();
    state.record(full_report());
    let text = state.render();
    for line in [
        // containers: cAdvisor's names where the figure is the same, hostwatch_* for the rest
        "hostwatch_containers_running 2",
        "hostwatch_containers_unhealthy 1",
        "hostwatch_container_info{name=\"web\",id=\"ba033ac44011\",image=\"nginx:1.27\",restart_policy=\"unless-stopped\"} 1",
        "hostwatch_container_state{name=\"web\",state=\"running\"} 1",
        "hostwatch_container_state{name=\"web\",state=\"exited\"} 0",
        "hostwatch_container_state{name=\"watchtower-stopped\",state=\"exited\"} 1",
        "hostwatch_container_health_state{name=\"api\",state=\"unhealthy\"} 1",
        "hostwatch_container_health_state{name=\"api\",state=\"healthy\"} 0",
        "hostwatch_container_health_failing_streak{name=\"api\"} 3",
        "hostwatch_container_restarts_total{name=\"web\"} 1",
        "hostwatch_container_exit_code{name=\"watchtower-stopped\"} 1",
        "hostwatch_container_memory_unlimited{name=\"api\"} 1",
        "container_start_time_seconds{image=\"nginx:1.27\",name=\"web\"} 1420559252.072",
        "container_memory_working_set_bytes{image=\"nginx:1.27\",name=\"web\"} 6537216",
        "container_memory_working_set_bytes{image=\"example/api:2\",name=\"api\"} 647168",
        "container_spec_memory_limit_bytes{image=\"nginx:1.27\",name=\"web\"} 67108864",
        "hostwatch_container_cpu_pct{name=\"web\"} 12.5",
        "hostwatch_container_block_read_bytes_total{name=\"web\"} 823296",
        "hostwatch_container_block_written_bytes_total{name=\"web\"} 122880",
        "hostwatch_container_network_receive_bytes_total{name=\"web\"} 9979",
        "hostwatch_container_network_transmit_bytes_total{name=\"web\"} 1338",
        "hostwatch_container_watchdog_restarts_total{result=\"restarted\"} 1",
        "hostwatch_container_watchdog_restarts_total{result=\"failed\"} 0",
        // zfs: node_exporter's pool state, hostwatch_* for space, errors, scrubs, datasets
        "node_zfs_zpool_state{zpool=\"rpool\",state=\"degraded\"} 1",
        "node_zfs_zpool_state{zpool=\"rpool\",state=\"online\"} 0",
        "node_zfs_zpool_state{zpool=\"rpool\",state=\"suspended\"} 0",
        "hostwatch_zfs_pool_size_bytes{zpool=\"rpool\"} 1992864825344",
        "hostwatch_zfs_pool_allocated_bytes{zpool=\"rpool\"} 697932185600",
        "hostwatch_zfs_pool_free_bytes{zpool=\"rpool\"} 1294932639744",
        "hostwatch_zfs_pool_capacity_pct{zpool=\"rpool\"} 35",
        "hostwatch_zfs_pool_fragmentation_pct{zpool=\"rpool\"} 12",
        "hostwatch_zfs_pool_errors{zpool=\"rpool\",type=\"checksum\"} 0",
        "hostwatch_zfs_pool_data_errors{zpool=\"rpool\"} 0",
        "hostwatch_zfs_pool_problems{zpool=\"rpool\"} 2",
        "hostwatch_zfs_vdev_state{zpool=\"rpool\",class=\"data\",vdev=\"mirror-0\",state=\"degraded\"} 1",
        "hostwatch_zfs_vdev_state{zpool=\"rpool\",class=\"data\",vdev=\"sdb\",state=\"unavail\"} 1",
        "hostwatch_zfs_vdev_state{zpool=\"rpool\",class=\"data\",vdev=\"sda\",state=\"unavail\"} 0",
        "hostwatch_zfs_vdev_errors{zpool=\"rpool\",class=\"data\",vdev=\"sdb\",type=\"read\"} 0",
        "hostwatch_zfs_scan_state{zpool=\"rpool\",function=\"scrub\",state=\"finished\"} 1",
        "hostwatch_zfs_scan_start_timestamp_seconds{zpool=\"rpool\",function=\"scrub\"} 1767830400",
        "hostwatch_zfs_scan_end_timestamp_seconds{zpool=\"rpool\",function=\"scrub\"} 1767834000",
        "hostwatch_zfs_scan_errors{zpool=\"rpool\",function=\"scrub\"} 0",
        "hostwatch_zfs_dataset_used_bytes{zpool=\"rpool\",dataset=\"rpool/data\"} 601295421440",
        "hostwatch_zfs_dataset_available_bytes{zpool=\"rpool\",dataset=\"rpool/data\"} 1230000000000",
        "hostwatch_zfs_dataset_compression_ratio{zpool=\"rpool\",dataset=\"rpool/data\"} 1.39",
        // smart: smartctl_exporter's names and `device` label
        "smartctl_device_smart_status{device=\"sdc\"} 1",
        "smartctl_device_smart_status{device=\"nvme0\"} 1",
        "smartctl_device_temperature{device=\"sdc\",temperature_type=\"current\"} 31",
        "smartctl_device_temperature{device=\"nvme0\",temperature_type=\"current\"} 40",
        "smartctl_device_power_on_seconds{device=\"sdc\"} 152834400",
        "smartctl_device_capacity_bytes{device=\"sdc\"} 4000787030016",
        "smartctl_device_percentage_used{device=\"nvme0\"} 3",
        "smartctl_device_media_errors{device=\"nvme0\"} 0",
        "smartctl_device_critical_warning{device=\"nvme0\"} 0",
        "smartctl_device_smartctl_exit_status{device=\"sdc\"} 64",
        "smartctl_device_smartctl_exit_status{device=\"sdb\"} 2",
        "hostwatch_smart_device_info{device=\"sdc\",path=\"/dev/sdc\",interface=\"sat\",protocol=\"ATA\",model_name=\"HGST HUS726040ALE614\"} 1",
        "hostwatch_smart_device_state{device=\"sdb\",state=\"standby\"} 1",
        "hostwatch_smart_device_state{device=\"sdb\",state=\"ok\"} 0",
        "hostwatch_smart_reallocated_sectors{device=\"sdc\"} 0",
        "hostwatch_smart_pending_sectors{device=\"sdc\"} 0",
        // proxmox: prometheus-pve-exporter's names, ids and units
        "pve_up{id=\"qemu/101\"} 1",
        "pve_up{id=\"qemu/9000\"} 0",
        "pve_up{id=\"storage/pve-node1/local-zfs\"} 1",
        "pve_up{id=\"storage/pve-node1/nas-backup\"} 0",
        "pve_cpu_usage_ratio{id=\"qemu/101\"} 0.352",
        "pve_cpu_usage_limit{id=\"qemu/101\"} 4",
        "pve_memory_usage_bytes{id=\"qemu/101\"} 2147483648",
        "pve_memory_size_bytes{id=\"qemu/101\"} 4294967296",
        "pve_disk_size_bytes{id=\"qemu/101\"} 34359738368",
        "pve_disk_size_bytes{id=\"storage/pve-node1/local-zfs\"} 962664386560",
        "pve_disk_usage_bytes{id=\"storage/pve-node1/local-zfs\"} 25294921728",
        "pve_uptime_seconds{id=\"qemu/101\"} 874350",
        "pve_network_receive_bytes_total{id=\"qemu/101\"} 2456116121",
        "pve_network_transmit_bytes_total{id=\"qemu/101\"} 545248946",
        "pve_disk_read_bytes_total{id=\"qemu/101\"} 4510777856",
        "pve_disk_written_bytes_total{id=\"qemu/101\"} 6059209728",
        "pve_storage_shared{id=\"storage/pve-node1/nas-backup\"} 1",
        "pve_guest_info{id=\"qemu/101\",node=\"pve-node1\",name=\"web1\",type=\"qemu\",template=\"0\",tags=\"prod;web\"} 1",
        "pve_guest_info{id=\"qemu/9000\",node=\"pve-node1\",name=\"debian-template\",type=\"qemu\",template=\"1\",tags=\"\"} 1",
        "pve_storage_info{id=\"storage/pve-node1/local-zfs\",node=\"pve-node1\",storage=\"local-zfs\",plugintype=\"zfspool\",content=\"images,rootdir\"} 1",
        // gpu
        "hostwatch_gpu_source_errors 1",
        "hostwatch_gpu_info{gpu=\"card0\",vendor=\"amd\",index=\"0\",name=\"Radeon RX Vega 56/64\",pci_bus=\"0000:09:00.0\"} 1",
        "hostwatch_gpu_info{gpu=\"nvidia0\",vendor=\"nvidia\",index=\"0\",name=\"Tesla T4\",pci_bus=\"0000:00:1e.0\"} 1",
        "hostwatch_gpu_suspended{gpu=\"card1\"} 1",
        "hostwatch_gpu_suspended{gpu=\"card0\"} 0",
        "hostwatch_gpu_utilization_pct{gpu=\"card0\"} 4",
        "hostwatch_gpu_memory_used_bytes{gpu=\"nvidia0\"} 1082130432",
        "hostwatch_gpu_memory_total_bytes{gpu=\"card1\"} 536870912",
        "hostwatch_gpu_gtt_used_bytes{gpu=\"card0\"} 144560128",
        "hostwatch_gpu_gtt_total_bytes{gpu=\"card0\"} 8573157376",
        "hostwatch_gpu_temperature_celsius{gpu=\"nvidia0\"} 40",
        "hostwatch_gpu_power_watts{gpu=\"nvidia0\"} 26.78",
        "hostwatch_gpu_power_limit_watts{gpu=\"card0\"} 220",
        "hostwatch_gpu_fan_pct{gpu=\"card0\"} 24.71",
        "hostwatch_gpu_fan_rpm{gpu=\"card0\"} 780",
        "hostwatch_gpu_process_memory_bytes{gpu=\"nvidia0\",pid=\"5762\",name=\"python\",kind=\"compute\"} 1053818880",
        "hostwatch_gpu_process_memory_bytes{gpu=\"nvidia0\",pid=\"675\",name=\"\",kind=\"graphics\"} 23068672",
        // ollama
        "hostwatch_ollama_memory_warnings 1",
        "hostwatch_ollama_model_info{model=\"llama3:70b\",family=\"llama\",parameter_size=\"70.6B\",quantization=\"Q4_0\"} 1",
        "hostwatch_ollama_model_size_bytes{model=\"qwen2.5-coder:1.5b\"} 986061892",
        "hostwatch_ollama_model_modified_timestamp_seconds{model=\"mistral:latest\"} 1714867064.706",
        "hostwatch_ollama_loaded_size_bytes{model=\"gemma4\"} 6591830464",
        "hostwatch_ollama_loaded_vram_bytes{model=\"gemma4\"} 5333539264",
        "hostwatch_ollama_loaded_expires_timestamp_seconds{model=\"mistral:latest\"} 1717537111.837",
        "hostwatch_ollama_loaded_context_tokens{model=\"gemma4\"} 4096",
    ] {
        assert!(has_line(&text, line), "missing `{line}` in:\n{text}");
    }
    // What the report does not know is absent, never a made-up 0.
    for absent in [
        "container_spec_memory_limit_bytes{image=\"example/api:2\"",
        "container_start_time_seconds{image=\"containrrr/watchtower:latest\"",
        "hostwatch_container_health_state{name=\"watchtower-stopped\"",
        "hostwatch_zfs_scan_progress_pct{",
        "smartctl_device_smart_status{device=\"sdb\"}",
        "smartctl_device_percentage_used{device=\"sdc\"}",
        "hostwatch_gpu_utilization_pct{gpu=\"card1\"}",
        "hostwatch_ollama_loaded_context_tokens{model=\"mistral:latest\"}",
        "pve_disk_size_bytes{id=\"storage/pve-node1/nas-backup\"}",
        "pve_disk_usage_bytes{id=\"storage/pve-node1/nas-backup\"}",
        "hostwatch_zfs_vdev_state{zpool=\"rpool\",class=\"data\",vdev=\"sda\",state=\"suspended\"}",
    ] {
        assert!(!text.contains(absent), "unexpected `{absent}` in:\n{text}");
    }
}

#[test]
fn a_failed_integration_section_writes_nothing_of_its_own() {
    // (section, the prefixes of every family it writes, a line of another section that stays)
    let cases: [(&str, &[&str], &str); 7] = [
        (
            "containers",
            &["container_", "hostwatch_container"],
            "hostwatch_gpu_source_errors 1",
        ),
        (
            "zfs",
            &[
                "node_zfs_",
                "hostwatch_zfs_pool",
                "hostwatch_zfs_vdev",
                "hostwatch_zfs_scan",
            ],
            "hostwatch_zfs_dataset_used_bytes{zpool=\"rpool\",dataset=\"rpool/data\"} 601295421440",
        ),
        (
            "zfs_datasets",
            &["hostwatch_zfs_dataset"],
            "hostwatch_zfs_pool_problems{zpool=\"rpool\"} 2",
        ),
        (
            "smart",
            &["smartctl_", "hostwatch_smart_"],
            "pve_up{id=\"qemu/101\"} 1",
        ),
        (
            "proxmox",
            &["pve_"],
            "smartctl_device_smart_status{device=\"sdc\"} 1",
        ),
        (
            "gpu",
            &["hostwatch_gpu_"],
            "hostwatch_ollama_memory_warnings 1",
        ),
        (
            "ollama",
            &["hostwatch_ollama_"],
            "hostwatch_containers_running 2",
        ),
    ];
    for (section, prefixes, kept) in cases {
        let mut report = full_report();
        report
            .sections
            .put_error(
                section,
                hostwatch_proto::SectionError {
                    kind: hostwatch_proto::ErrorKind::Parse,
                    message: "bad".into(),
                },
            )
            .unwrap();
        let state = MetricsState::default();
        state.record(report);
        let text = state.render();
        for line in text.lines() {
            let name = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
                .unwrap_or(line);
            assert!(
                !prefixes.iter().any(|p| name.starts_with(p)),
                "{section} failed but wrote `{line}`"
            );
        }
        assert!(
            has_line(
                &text,
                &format!("hostwatch_collector_errors_total{{collector=\"{section}\"}} 1")
            ),
            "{section}: the failure is counted\n{text}"
        );
        assert!(has_line(&text, kept), "{section}: the others stay\n{text}");
    }
}

#[test]
fn label_values_from_outside_are_escaped_and_promtool_reads_them() {
    let mut report = full_report();
    let Some(hostwatch_proto::Section::Ok(c)) = &mut report.sections.containers else {
        panic!("the golden report has containers");
    };
    c.containers[0].name = "we\"b\\x\ny".into();
    let Some(hostwatch_proto::Section::Ok(o)) = &mut report.sections.ollama else {
        panic!("the golden report has ollama");
    };
    o.loaded[1].name = "evil\"} 1\nfake_metric 2".into();
    let state = MetricsState::default();
    state.record(report);
    let text = state.render();
    assert!(
        has_line(
            &text,
            r#"container_memory_working_set_bytes{image="nginx:1.27",name="we\"b\\x\ny"} 6537216"#
        ),
        "{text}"
    );
    assert!(
        has_line(
            &text,
            r#"hostwatch_ollama_loaded_vram_bytes{model="evil\"} 1\nfake_metric 2"} 5333539264"#
        ),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("fake_metric")),
        "a label value cannot start a line of its own"
    );
    let (code, findings) = promtool(&text);
    assert_eq!((code, findings), (0, vec![]), "{text}");
}

#[test]
fn items_with_the_same_labels_write_one_series() {
    // A duplicate series makes Prometheus reject the sample; the first item wins.
    let mut report = full_report();
    let Some(hostwatch_proto::Section::Ok(z)) = &mut report.sections.zfs else {
        panic!("the golden report has zfs");
    };
    let twin = z.pools[0].vdevs[0].children[1].clone();
    z.pools[0].vdevs[0].children.push(twin);
    let state = MetricsState::default();
    state.record(report);
    let text = state.render();
    let sdb =
        "hostwatch_zfs_vdev_state{zpool=\"rpool\",class=\"data\",vdev=\"sdb\",state=\"unavail\"} 1";
    assert_eq!(text.lines().filter(|l| *l == sdb).count(), 1, "{text}");
    let (code, findings) = promtool(&text);
    assert_eq!((code, findings), (0, vec![]), "{text}");
}

#[test]
fn watchdog_restarts_are_counted_across_reports() {
    // Each watchdog action is in exactly one report; the count is what Prometheus can see.
    let state = MetricsState::default();
    state.record(full_report());
    let mut next = full_report();
    next.seq += 1;
    next.sections
        .put_error(
            "containers",
            hostwatch_proto::SectionError {
                kind: hostwatch_proto::ErrorKind::Io,
                message: "daemon went away".into(),
            },
        )
        .unwrap();
    state.record(next);
    let mut third = full_report();
    third.seq += 2;
    state.record(third);
    let text = state.render();
    assert!(
        has_line(
            &text,
            "hostwatch_container_watchdog_restarts_total{result=\"restarted\"} 2"
        ),
        "{text}"
    );
    assert!(has_line(
        &text,
        "hostwatch_container_watchdog_restarts_total{result=\"failed\"} 0"
    ));
    // Without a container daemon there is nothing to count.
    let mut bare = full_report();
    bare.sections.containers = None;
    let state = MetricsState::default();
    state.record(bare);
    assert!(!state.render().contains("hostwatch_container_watchdog"));
}

#[test]
fn a_state_outside_the_known_ones_gets_a_sample_of_its_own() {
    // A newer daemon or ZFS may report a state this build does not list; it is not lost.
    let mut report = full_report();
    let Some(hostwatch_proto::Section::Ok(z)) = &mut report.sections.zfs else {
        panic!("the golden report has zfs");
    };
    z.pools[0].state = "RECOVERING".into();
    let state = MetricsState::default();
    state.record(report);
    let text = state.render();
    assert!(
        has_line(
            &text,
            "node_zfs_zpool_state{zpool=\"rpool\",state=\"recovering\"} 1"
        ),
        "{text}"
    );
    assert!(has_line(
        &text,
        "node_zfs_zpool_state{zpool=\"rpool\",state=\"degraded\"} 0"
    ));
    let (code, findings) = promtool(&text);
    assert_eq!((code, findings), (0, vec![]), "{text}");
}
