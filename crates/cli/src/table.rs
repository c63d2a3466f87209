//! `hostwatch snapshot`'s readable rendering of a report.

use hostwatch_proto::{Report, Section};
use std::fmt::Write;

/// Binary-prefixed size, e.g. `3.1 GiB`.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n;
    let mut i = 0;
    while v.abs() >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

fn rate(n: Option<f64>) -> String {
    n.map(|v| format!("{}/s", bytes(v)))
        .unwrap_or_else(|| "-".into())
}

fn opt(n: Option<f64>, digits: usize) -> String {
    n.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn duration(secs: f64) -> String {
    let s = secs as u64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {}s", s % 60)
    }
}

/// Renders the report as aligned text sections; failed sources are listed with their error.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.sections;
    let _ = writeln!(
        o,
        "host {}  (agent {}, report #{})",
        r.host_id, r.agent.version, r.seq
    );
    if let Some(Section::Ok(sys)) = &s.system {
        let os = sys
            .os
            .as_ref()
            .map(|o| o.pretty_name.as_str())
            .unwrap_or("unknown OS");
        let virt = sys.virtualization.as_deref().unwrap_or("bare metal");
        let _ = writeln!(
            o,
            "system   {os}, kernel {} ({}), {virt}, up {}",
            sys.kernel,
            sys.arch,
            duration(sys.uptime_seconds)
        );
        if let Some(c) = &sys.container {
            let _ = writeln!(
                o,
                "         container cgroup {}  memory limit {}  cpu limit {}",
                c.cgroup,
                c.memory_max_bytes
                    .map(|b| bytes(b as f64))
                    .unwrap_or_else(|| "none".into()),
                opt(c.cpu_limit_cores, 2)
            );
        }
    }
    if let Some(Section::Ok(c)) = &s.cpu {
        let model = c.model.as_deref().unwrap_or("");
        match &c.usage {
            Some(u) => {
                let _ = writeln!(
                    o,
                    "cpu      {:.1} % busy  user {:.1}  system {:.1}  iowait {:.1}  steal {:.1}  ({} cores {model})",
                    u.busy_pct,
                    u.user_pct,
                    u.system_pct,
                    u.iowait_pct,
                    u.steal_pct,
                    c.logical_cores
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "cpu      (no rate yet)  ({} cores {model})",
                    c.logical_cores
                );
            }
        }
    }
    if let Some(Section::Ok(l)) = &s.load {
        let _ = writeln!(
            o,
            "load     {:.2} {:.2} {:.2}  tasks {} runnable / {}",
            l.load1, l.load5, l.load15, l.tasks_runnable, l.tasks_total
        );
    }
    if let Some(Section::Ok(m)) = &s.memory {
        let _ = writeln!(
            o,
            "memory   {} / {} ({:.1} %)  available {}  swap {} / {}  swap cached {}",
            bytes(m.used_bytes as f64),
            bytes(m.total_bytes as f64),
            m.used_pct,
            bytes(m.available_bytes as f64),
            bytes(m.swap_used_bytes as f64),
            bytes(m.swap_total_bytes as f64),
            bytes(m.swap_cached_bytes as f64),
        );
        if let Some(p) = &m.pressure {
            let some = |r: &Option<hostwatch_proto::sections::PressureResource>| {
                opt(r.as_ref().map(|r| r.some.avg10_pct), 2)
            };
            let _ = writeln!(
                o,
                "pressure cpu {} %  memory {} %  io {} %  (some, avg10)",
                some(&p.cpu),
                some(&p.memory),
                some(&p.io)
            );
        }
    }
    if let Some(Section::Ok(f)) = &s.filesystems {
        let _ = writeln!(
            o,
            "\n{:<24} {:<8} {:>10} {:>10} {:>10} {:>6} {:>7}",
            "MOUNT", "TYPE", "SIZE", "USED", "AVAIL", "USE%", "INODE%"
        );
        for m in &f.mounts {
            if let Some(e) = &m.error {
                let _ = writeln!(o, "{:<24} {:<8} error: {e}", m.mount, m.fs_type);
                continue;
            }
            let _ = writeln!(
                o,
                "{:<24} {:<8} {:>10} {:>10} {:>10} {:>6.1} {:>7}",
                m.mount,
                m.fs_type,
                bytes(m.size_bytes as f64),
                bytes(m.used_bytes as f64),
                bytes(m.available_bytes as f64),
                m.used_pct,
                opt(m.inodes_used_pct, 1),
            );
        }
    }
    if let Some(Section::Ok(d)) = &s.disks {
        let _ = writeln!(
            o,
            "\n{:<12} {:>12} {:>12} {:>8} {:>8} {:>6} {:>9}",
            "DISK", "READ", "WRITE", "R IOPS", "W IOPS", "UTIL%", "AWAIT ms"
        );
        for disk in &d.devices {
            let r = disk.rates.as_ref();
            let _ = writeln!(
                o,
                "{:<12} {:>12} {:>12} {:>8} {:>8} {:>6} {:>9}",
                disk.name,
                rate(r.map(|r| r.read_bytes_per_sec)),
                rate(r.map(|r| r.write_bytes_per_sec)),
                opt(r.map(|r| r.read_iops), 1),
                opt(r.map(|r| r.write_iops), 1),
                opt(r.map(|r| r.util_pct), 1),
                opt(r.map(|r| r.avg_wait_seconds * 1000.0), 2),
            );
        }
    }
    if let Some(Section::Ok(n)) = &s.network {
        let _ = writeln!(
            o,
            "\n{:<16} {:>12} {:>12} {:>10} {:>10} {:>8}",
            "INTERFACE", "RX", "TX", "RX pkt/s", "TX pkt/s", "ERR+DROP"
        );
        for i in &n.interfaces {
            let r = i.rates.as_ref();
            let bad = i.rx_errors_total + i.tx_errors_total + i.rx_drops_total + i.tx_drops_total;
            let _ = writeln!(
                o,
                "{:<16} {:>12} {:>12} {:>10} {:>10} {:>8}",
                i.name,
                rate(r.map(|r| r.rx_bytes_per_sec)),
                rate(r.map(|r| r.tx_bytes_per_sec)),
                opt(r.map(|r| r.rx_packets_per_sec), 1),
                opt(r.map(|r| r.tx_packets_per_sec), 1),
                bad
            );
        }
    }
    if let Some(Section::Ok(t)) = &s.thermal {
        let _ = writeln!(
            o,
            "\ntemperatures (hottest CPU {} °C)",
            opt(t.cpu_max_celsius, 1)
        );
        for sensor in &t.sensors {
            let label = sensor.label.as_deref().unwrap_or(&sensor.sensor);
            let _ = writeln!(
                o,
                "  {:<28} {:<20} {:>6.1} °C",
                sensor.chip, label, sensor.celsius
            );
        }
        for z in &t.zones {
            let _ = writeln!(o, "  {:<28} {:<20} {:>6.1} °C", z.zone, z.kind, z.celsius);
        }
    }
    if let Some(Section::Ok(p)) = &s.processes {
        let st = &p.states;
        let _ = writeln!(
            o,
            "\nprocesses {} ({} threads): {} running, {} sleeping, {} disk sleep, {} zombie",
            p.total, p.threads, st.running, st.sleeping, st.disk_sleep, st.zombie
        );
        let _ = writeln!(
            o,
            "{:>8} {:<16} {:>7} {:>10} {:<10} COMMAND",
            "PID", "NAME", "CPU%", "RSS", "USER"
        );
        for t in p.top_cpu.iter().chain(&p.top_memory).fold(
            Vec::new(),
            |mut v: Vec<&hostwatch_proto::sections::ProcessInfo>, t| {
                if !v.iter().any(|x| x.pid == t.pid) {
                    v.push(t);
                }
                v
            },
        ) {
            let cmd: String = t.cmdline.chars().take(60).collect();
            let _ = writeln!(
                o,
                "{:>8} {:<16} {:>7} {:>10} {:<10} {cmd}",
                t.pid,
                t.name,
                opt(t.cpu_pct, 1),
                bytes(t.rss_bytes as f64),
                t.user
            );
        }
    }
    if let Some(Section::Ok(z)) = &s.zfs {
        let _ = writeln!(o, "\nzfs pools");
        for p in &z.pools {
            let scan = p
                .scan
                .as_ref()
                .map(|sc| format!("{} {}", sc.function, sc.state))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {:<16} {:<9} {:>10} {:>6}% used {:>5}% frag  errors r/w/c {}/{}/{}  {scan}",
                p.name,
                p.state,
                p.size_bytes
                    .map(|b| bytes(b as f64))
                    .unwrap_or_else(|| "-".into()),
                opt(p.capacity_pct, 0),
                opt(p.fragmentation_pct, 0),
                p.read_errors,
                p.write_errors,
                p.checksum_errors
            );
            for problem in &p.problems {
                let _ = writeln!(o, "    ! {problem}");
            }
        }
    }
    if let Some(Section::Ok(d)) = &s.zfs_datasets {
        let _ = writeln!(o, "\nzfs datasets");
        for ds in &d.datasets {
            let _ = writeln!(
                o,
                "  {:<32} used {:>10}  avail {:>10}  ratio {}",
                ds.name,
                bytes(ds.used_bytes as f64),
                bytes(ds.available_bytes as f64),
                opt(ds.compress_ratio, 2)
            );
        }
    }
    if let Some(Section::Ok(sm)) = &s.smart {
        let _ = writeln!(o, "\ndisk health (S.M.A.R.T.)");
        for d in &sm.devices {
            let verdict = match (d.state.as_str(), d.passed) {
                ("ok", Some(true)) => "PASSED",
                ("ok", Some(false)) => "FAILED",
                ("ok", None) => "unknown",
                (state, _) => state,
            };
            let _ = writeln!(
                o,
                "  {:<14} {:<28} {:<8} {:>5} °C {:>7} h  realloc {} pending {} nvme used {}%",
                d.name,
                d.model.as_deref().unwrap_or(""),
                verdict,
                opt(d.temperature_celsius, 0),
                d.power_on_hours
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "-".into()),
                d.reallocated_sectors
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                d.pending_sectors
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                opt(d.nvme_percentage_used_pct, 0)
            );
            for w in d.warnings.iter().chain(&d.error) {
                let _ = writeln!(o, "    ! {w}");
            }
        }
    }
    if let Some(Section::Ok(p)) = &s.proxmox {
        let _ = writeln!(o, "\nproxmox guests on {}", p.node);
        for g in &p.guests {
            let io = g
                .rates
                .map(|r| {
                    format!(
                        "net {}/{} disk {}/{}",
                        rate(Some(r.net_in_bytes_per_sec)),
                        rate(Some(r.net_out_bytes_per_sec)),
                        rate(Some(r.disk_read_bytes_per_sec)),
                        rate(Some(r.disk_write_bytes_per_sec))
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {:>6} {:<4} {:<20} {:<8} cpu {:>5.1}%  mem {:>10} / {:<10} {io}",
                g.vmid,
                g.kind,
                g.name,
                g.status,
                g.cpu_pct,
                bytes(g.memory_used_bytes as f64),
                bytes(g.memory_max_bytes as f64)
            );
        }
        for st in &p.storages {
            let _ = writeln!(
                o,
                "  storage {:<20} {:<10} {:>6}% of {}",
                st.storage,
                st.status,
                opt(st.used_pct, 1),
                bytes(st.size_bytes as f64)
            );
        }
    }
    if let Some(Section::Ok(c)) = &s.checks {
        checks(&mut o, c);
    }
    if let Some(Section::Ok(d)) = &s.systemd {
        let _ = writeln!(o, "\nsystemd  {} failed units", d.failed_units);
        for name in &d.failed_unit_names {
            let _ = writeln!(o, "  failed: {name}");
        }
        for u in &d.units {
            let _ = writeln!(
                o,
                "  {:<32} {:<10} {:<12} {:<10} restarts {:>3}  memory {}",
                u.name,
                u.load_state,
                u.active_state,
                u.sub_state,
                u.restarts
                    .map_or_else(|| "-".to_string(), |r| r.to_string()),
                u.memory_bytes
                    .map_or_else(|| "-".to_string(), |b| bytes(b as f64))
            );
        }
    }
    if let Some(Section::Ok(cs)) = &s.containers {
        let engine = cs.engine.as_deref().unwrap_or("container engine");
        let _ = writeln!(
            o,
            "\ncontainers ({engine} on {}): {} running, {} unhealthy",
            cs.socket, cs.running, cs.unhealthy
        );
        let _ = writeln!(
            o,
            "  {:<24} {:<10} {:<10} {:>7} {:>10} {:>10} {:>9} STATUS",
            "NAME", "STATE", "HEALTH", "CPU%", "MEM", "LIMIT", "RESTARTS"
        );
        for c in &cs.containers {
            let health = c.health.as_ref().map_or("-".to_string(), |h| {
                if h.failing_streak > 0 {
                    format!("{} ({})", h.status, h.failing_streak)
                } else {
                    h.status.clone()
                }
            });
            let limit = match (c.mem_limit_bytes, c.mem_unlimited) {
                (Some(l), _) => bytes(l as f64),
                (None, Some(true)) => "none".to_string(),
                _ => "-".to_string(),
            };
            let _ = writeln!(
                o,
                "  {:<24} {:<10} {:<10} {:>7} {:>10} {:>10} {:>9} {}",
                c.name,
                c.state,
                health,
                opt(c.cpu_pct, 1),
                c.mem_used_bytes.map_or("-".into(), |b| bytes(b as f64)),
                limit,
                c.restart_count.map_or("-".into(), |n| n.to_string()),
                c.status
            );
        }
        for a in &cs.watchdog_actions {
            let _ = writeln!(
                o,
                "  watchdog: {} {:?} ({}){}",
                a.container,
                a.result,
                a.reason,
                a.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }
    if let Some(Section::Ok(g)) = &s.gpu {
        gpu(&mut o, g);
    }
    if let Some(Section::Ok(ol)) = &s.ollama {
        ollama(&mut o, ol);
    }
    let errors = s.errors();
    if !errors.is_empty() {
        let _ = writeln!(o, "\nerrors");
        for (name, e) in errors {
            let _ = writeln!(o, "  {name}: {}", e.message);
        }
    }
    o
}

/// One line per check: name, state, status; then its performance data, indented.
fn checks(o: &mut String, c: &hostwatch_proto::sections::Checks) {
    let _ = writeln!(o, "\nchecks");
    for check in &c.checks {
        let status: String = check.status.chars().take(100).collect();
        let _ = writeln!(
            o,
            "  {:<20} {:<8} {status}  ({:.2} s)",
            check.name,
            check.state.to_string(),
            check.duration_seconds
        );
        for p in &check.perfdata {
            let _ = writeln!(
                o,
                "  {:<20} {:<8}   {} = {}{}",
                "",
                "",
                p.label,
                p.value,
                p.uom.as_deref().unwrap_or("")
            );
        }
    }
}

/// One line per GPU, then the processes using it, indented.
fn gpu(o: &mut String, g: &hostwatch_proto::sections::Gpu) {
    let _ = writeln!(o, "\ngpus");
    let _ = writeln!(
        o,
        "  {:<8} {:<28} {:>5} {:>21} {:>6} {:>17} {:>5}",
        "ID", "NAME", "BUSY%", "MEMORY", "TEMP", "POWER", "FAN%"
    );
    for d in &g.devices {
        if d.suspended {
            let _ = writeln!(o, "  {:<8} {:<28} suspended", d.id, d.name);
            continue;
        }
        let memory = match (d.memory_used_bytes, d.memory_total_bytes) {
            (Some(u), Some(t)) => format!("{} / {}", bytes(u as f64), bytes(t as f64)),
            (Some(u), None) => bytes(u as f64),
            _ => "-".into(),
        };
        let power = match (d.power_watts, d.power_limit_watts) {
            (Some(p), Some(l)) => format!("{p:.1} / {l:.0} W"),
            (Some(p), None) => format!("{p:.1} W"),
            _ => "-".into(),
        };
        let _ = writeln!(
            o,
            "  {:<8} {:<28} {:>5} {:>21} {:>3} °C {:>17} {:>5}",
            d.id,
            d.name,
            opt(d.utilization_pct, 0),
            memory,
            opt(d.temperature_celsius, 0),
            power,
            opt(d.fan_pct, 0)
        );
        for p in &d.processes {
            let _ = writeln!(
                o,
                "    pid {:<8} {:<20} {:<16} {}",
                p.pid,
                p.name.as_deref().unwrap_or("?"),
                p.kind,
                p.memory_bytes.map_or("-".into(), |b| bytes(b as f64))
            );
        }
    }
    for e in &g.errors {
        let _ = writeln!(o, "  ! {e}");
    }
}

/// Models on disk (those in memory marked with their RAM/VRAM split), then the warnings.
fn ollama(o: &mut String, ol: &hostwatch_proto::sections::Ollama) {
    let _ = writeln!(
        o,
        "\nollama at {}: {} models, {} loaded",
        ol.url,
        ol.models.len(),
        ol.loaded.len()
    );
    for m in &ol.models {
        let details = [&m.parameter_size, &m.quantization]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            o,
            "  {:<28} {:>10}  {:<16} {}",
            m.name,
            bytes(m.size_bytes as f64),
            details,
            if m.loaded { "loaded" } else { "" }
        );
    }
    for l in &ol.loaded {
        let _ = writeln!(
            o,
            "  in memory: {:<20} {:>10} ({} in VRAM)",
            l.name,
            bytes(l.size_bytes as f64),
            bytes(l.vram_bytes as f64)
        );
    }
    for w in &ol.warnings {
        let _ = writeln!(o, "  ! {w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_and_ollama_show_in_the_table() {
        let text = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proto/tests/fixtures/report-v1-full.json"
        ))
        .unwrap();
        let out = render(&Report::from_json(&text).unwrap());
        let section = &out[out.find("\ngpus").expect("a gpus table")..];
        let line = |id: &str| {
            section
                .lines()
                .find(|l| l.trim_start().starts_with(id))
                .unwrap_or_else(|| panic!("no {id} line in\n{section}"))
                .to_string()
        };
        let t4 = line("nvidia0");
        assert!(t4.contains("Tesla T4"), "{t4}");
        assert!(t4.contains("1.0 GiB / 15.0 GiB"), "{t4}");
        assert!(t4.contains("26.8 / 70 W"), "{t4}");
        assert!(line("card1").contains("suspended"));
        assert!(line("card0").contains("25"), "fan share");
        assert!(section.contains("pid 5762     python"), "{section}");
        assert!(section.contains("! NVML: GPU 1"), "{section}");
        let ollama = &out[out.find("\nollama at").expect("an ollama table")..];
        assert!(ollama.contains("3 models, 2 loaded"), "{ollama}");
        assert!(ollama.contains("in memory: gemma4"), "{ollama}");
        assert!(
            ollama.contains("! loading llama3:70b (39.9 GiB) would leave only 1.2 GiB"),
            "{ollama}"
        );
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3d 4h");
        assert_eq!(duration(125.0), "2m 5s");
    }
}
