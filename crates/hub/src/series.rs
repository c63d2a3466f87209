//! The one mapping from report fields to time series. Everything the hub charts, alerts on or
//! compacts is named here, and `docs/series.md` lists the same table for people.
//!
//! A series is `source.metric` plus labels: `cpu.steal_pct`, `fs.used_pct{mount="/var"}`,
//! `net.rx_bps{iface="eth0"}`. Units follow the wire: bytes, seconds, counts, `_pct` 0–100;
//! `_bps` is bytes per second, `_iops` and `_pps` operations and packets per second. Rates are
//! the agent's (absent on its first read), so a series has no fake zeros.

use hostwatch_proto::{Report, Section};
use std::fmt;

/// A series' identity: its name and labels (label order as written here, which is stable).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
}

impl fmt::Display for SeriesKey {
    /// `name{label="value",…}`, the form the API accepts and returns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if !self.labels.is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(
                    f,
                    "{k}=\"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                )?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// One value of a series at the report's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub key: SeriesKey,
    pub value: f64,
}

fn plain(name: &'static str, value: f64) -> Point {
    Point {
        key: SeriesKey {
            name,
            labels: Vec::new(),
        },
        value,
    }
}

fn labelled(name: &'static str, labels: Vec<(&'static str, String)>, value: f64) -> Point {
    Point {
        key: SeriesKey { name, labels },
        value,
    }
}

/// Every series value a report carries, appended to `out`.
pub fn points(r: &Report, out: &mut Vec<Point>) {
    let s = &r.sections;
    if let Some(Section::Ok(c)) = &s.cpu {
        // For per-core judgements (the load_per_core alert).
        out.push(plain("cpu.logical_cores", f64::from(c.logical_cores)));
        if let Some(u) = &c.usage {
            for (name, v) in [
                ("cpu.busy_pct", u.busy_pct),
                ("cpu.user_pct", u.user_pct),
                ("cpu.nice_pct", u.nice_pct),
                ("cpu.system_pct", u.system_pct),
                ("cpu.iowait_pct", u.iowait_pct),
                ("cpu.irq_pct", u.irq_pct),
                ("cpu.softirq_pct", u.softirq_pct),
                ("cpu.steal_pct", u.steal_pct),
                ("cpu.guest_pct", u.guest_pct),
            ] {
                out.push(plain(name, v));
            }
        }
        if let Some(pct) = c.cgroup.as_ref().and_then(|g| g.usage_pct) {
            out.push(plain("cpu.cgroup_usage_pct", pct));
        }
    }
    if let Some(Section::Ok(l)) = &s.load {
        out.push(plain("load.load1", l.load1));
        out.push(plain("load.load5", l.load5));
        out.push(plain("load.load15", l.load15));
        out.push(plain("load.tasks_runnable", f64::from(l.tasks_runnable)));
    }
    if let Some(Section::Ok(m)) = &s.memory {
        for (name, v) in [
            ("mem.used_pct", m.used_pct),
            ("mem.used_bytes", m.used_bytes as f64),
            ("mem.available_bytes", m.available_bytes as f64),
            ("mem.cached_bytes", m.cached_bytes as f64),
            ("mem.total_bytes", m.total_bytes as f64),
            ("swap.used_pct", m.swap_used_pct),
            ("swap.used_bytes", m.swap_used_bytes as f64),
            ("swap.cached_bytes", m.swap_cached_bytes as f64),
        ] {
            out.push(plain(name, v));
        }
        if let Some(p) = &m.pressure {
            for (some, full, some60, res) in [
                (
                    "psi.cpu_some_pct",
                    "psi.cpu_full_pct",
                    "psi.cpu_some_avg60_pct",
                    &p.cpu,
                ),
                (
                    "psi.memory_some_pct",
                    "psi.memory_full_pct",
                    "psi.memory_some_avg60_pct",
                    &p.memory,
                ),
                (
                    "psi.io_some_pct",
                    "psi.io_full_pct",
                    "psi.io_some_avg60_pct",
                    &p.io,
                ),
            ] {
                if let Some(res) = res {
                    out.push(plain(some, res.some.avg10_pct));
                    // The steadier minute average, which the pressure alerts judge.
                    out.push(plain(some60, res.some.avg60_pct));
                    if let Some(f) = &res.full {
                        out.push(plain(full, f.avg10_pct));
                    }
                }
            }
        }
    }
    if let Some(Section::Ok(f)) = &s.filesystems {
        for m in f.mounts.iter().filter(|m| m.error.is_none()) {
            let l = || vec![("mount", m.mount.clone())];
            out.push(labelled("fs.used_pct", l(), m.used_pct));
            out.push(labelled("fs.used_bytes", l(), m.used_bytes as f64));
            out.push(labelled("fs.size_bytes", l(), m.size_bytes as f64));
            if let Some(i) = m.inodes_used_pct {
                out.push(labelled("fs.inodes_used_pct", l(), i));
            }
        }
    }
    if let Some(Section::Ok(d)) = &s.disks {
        for disk in &d.devices {
            let Some(r) = &disk.rates else { continue };
            let l = || vec![("device", disk.name.clone())];
            out.push(labelled("disk.read_bps", l(), r.read_bytes_per_sec));
            out.push(labelled("disk.write_bps", l(), r.write_bytes_per_sec));
            out.push(labelled("disk.read_iops", l(), r.read_iops));
            out.push(labelled("disk.write_iops", l(), r.write_iops));
            out.push(labelled("disk.util_pct", l(), r.util_pct));
            out.push(labelled("disk.await_seconds", l(), r.avg_wait_seconds));
        }
    }
    if let Some(Section::Ok(n)) = &s.network {
        for i in &n.interfaces {
            let Some(r) = &i.rates else { continue };
            let l = || vec![("iface", i.name.clone())];
            out.push(labelled("net.rx_bps", l(), r.rx_bytes_per_sec));
            out.push(labelled("net.tx_bps", l(), r.tx_bytes_per_sec));
            out.push(labelled("net.rx_pps", l(), r.rx_packets_per_sec));
            out.push(labelled("net.tx_pps", l(), r.tx_packets_per_sec));
            out.push(labelled(
                "net.errors_ps",
                l(),
                r.rx_errors_per_sec + r.tx_errors_per_sec,
            ));
            out.push(labelled(
                "net.drops_ps",
                l(),
                r.rx_drops_per_sec + r.tx_drops_per_sec,
            ));
        }
    }
    if let Some(Section::Ok(t)) = &s.thermal {
        if let Some(v) = t.cpu_max_celsius {
            out.push(plain("temp.cpu_celsius", v));
        }
        for sensor in &t.sensors {
            let label = sensor
                .label
                .clone()
                .unwrap_or_else(|| sensor.sensor.clone());
            let l = || vec![("chip", sensor.chip.clone()), ("sensor", label.clone())];
            out.push(labelled("temp.sensor_celsius", l(), sensor.celsius));
            // The sensor's own limits, which the temperature alert prefers to a fixed one.
            if let Some(v) = sensor.max_celsius {
                out.push(labelled("temp.sensor_max_celsius", l(), v));
            }
            if let Some(v) = sensor.crit_celsius {
                out.push(labelled("temp.sensor_crit_celsius", l(), v));
            }
        }
    }
    if let Some(Section::Ok(p)) = &s.processes {
        out.push(plain("procs.total", f64::from(p.total)));
        out.push(plain("procs.running", f64::from(p.states.running)));
        out.push(plain("procs.disk_sleep", f64::from(p.states.disk_sleep)));
        out.push(plain("procs.zombie", f64::from(p.states.zombie)));
    }
    if let Some(Section::Ok(sys)) = &s.system {
        out.push(plain("system.uptime_seconds", sys.uptime_seconds));
    }
    zfs_points(r, out);
    smart_points(r, out);
    proxmox_points(r, out);
    gpu_points(r, out);
    if let Some(Section::Ok(o)) = &s.ollama {
        out.push(plain("ollama.models_loaded", o.loaded.len() as f64));
        out.push(plain(
            "ollama.vram_used_bytes",
            o.loaded.iter().map(|m| m.vram_bytes).sum::<u64>() as f64,
        ));
    }
    if let Some(Section::Ok(c)) = &s.checks {
        check_points(c, out);
    }
    if let Some(Section::Ok(d)) = &s.systemd {
        out.push(plain("systemd.failed_units", f64::from(d.failed_units)));
        for unit in &d.units {
            let l = || vec![("unit", unit.name.clone())];
            out.push(labelled(
                "systemd.unit_active",
                l(),
                if unit.is_active() { 1.0 } else { 0.0 },
            ));
            if let Some(restarts) = unit.restarts {
                out.push(labelled("systemd.unit_restarts", l(), f64::from(restarts)));
            }
        }
    }
    if let Some(Section::Ok(cs)) = &s.containers {
        out.push(plain("containers.running", f64::from(cs.running)));
        out.push(plain("containers.unhealthy", f64::from(cs.unhealthy)));
        for c in &cs.containers {
            let label = || vec![("container", c.name.clone())];
            if let Some(n) = c.restart_count {
                out.push(labelled("container.restart_count", label(), f64::from(n)));
            }
            if c.state != "running" {
                continue;
            }
            // 1 healthy, 0 unhealthy; no series while starting or without a health check.
            match c.health.as_ref().map(|h| h.status.as_str()) {
                Some("healthy") => out.push(labelled("container.healthy", label(), 1.0)),
                Some("unhealthy") => out.push(labelled("container.healthy", label(), 0.0)),
                _ => {}
            }
            for (name, v) in [
                ("container.cpu_pct", c.cpu_pct),
                (
                    "container.mem_used_bytes",
                    c.mem_used_bytes.map(|b| b as f64),
                ),
                ("container.block_read_bps", c.block_read_bytes_per_sec),
                ("container.block_write_bps", c.block_write_bytes_per_sec),
                ("container.net_rx_bps", c.net_rx_bytes_per_sec),
                ("container.net_tx_bps", c.net_tx_bytes_per_sec),
            ] {
                if let Some(v) = v {
                    out.push(labelled(name, label(), v));
                }
            }
        }
    }
    if let Some(spool) = &r.spool {
        out.push(plain("agent.spool_queued", spool.queued as f64));
        out.push(plain(
            "agent.spool_dropped_total",
            spool.dropped_total as f64,
        ));
    }
}

/// `zfs.*`: per pool state, space, errors and scrub age; per dataset space.
fn zfs_points(r: &Report, out: &mut Vec<Point>) {
    let s = &r.sections;
    if let Some(Section::Ok(z)) = &s.zfs {
        for p in &z.pools {
            let l = || vec![("pool", p.name.clone())];
            out.push(labelled(
                "zfs.online",
                l(),
                if p.state == "ONLINE" { 1.0 } else { 0.0 },
            ));
            for (name, v) in [
                ("zfs.capacity_pct", p.capacity_pct),
                ("zfs.fragmentation_pct", p.fragmentation_pct),
                ("zfs.allocated_bytes", p.allocated_bytes.map(|b| b as f64)),
                ("zfs.size_bytes", p.size_bytes.map(|b| b as f64)),
            ] {
                if let Some(v) = v {
                    out.push(labelled(name, l(), v));
                }
            }
            fn sum(v: &hostwatch_proto::sections::ZfsVdev) -> u64 {
                v.read_errors
                    + v.write_errors
                    + v.checksum_errors
                    + v.children.iter().map(sum).sum::<u64>()
            }
            let errors = p.read_errors
                + p.write_errors
                + p.checksum_errors
                + p.vdevs.iter().map(sum).sum::<u64>();
            out.push(labelled("zfs.vdev_errors", l(), errors as f64));
            out.push(labelled("zfs.data_errors", l(), p.data_errors as f64));
            if let Some(scan) = &p.scan {
                if scan.function == "scrub"
                    && let Some(end) = scan.end_ms
                {
                    let age = (r.collected_at - end).max(0) as f64 / 1000.0;
                    out.push(labelled("zfs.scrub_age_seconds", l(), age));
                }
                if let Some(pct) = scan.progress_pct {
                    out.push(labelled("zfs.scan_progress_pct", l(), pct));
                }
            }
        }
    }
    if let Some(Section::Ok(d)) = &s.zfs_datasets {
        for ds in &d.datasets {
            let l = || vec![("dataset", ds.name.clone())];
            out.push(labelled(
                "zfs.dataset_used_bytes",
                l(),
                ds.used_bytes as f64,
            ));
            out.push(labelled(
                "zfs.dataset_available_bytes",
                l(),
                ds.available_bytes as f64,
            ));
            if let Some(ratio) = ds.compress_ratio {
                out.push(labelled("zfs.dataset_compress_ratio", l(), ratio));
            }
        }
    }
}

/// `smart.*` per device that was read (asleep or unreadable disks have no values).
fn smart_points(r: &Report, out: &mut Vec<Point>) {
    let Some(Section::Ok(sm)) = &r.sections.smart else {
        return;
    };
    for d in sm.devices.iter().filter(|d| d.state == "ok") {
        let l = || vec![("device", d.name.clone())];
        if let Some(passed) = d.passed {
            out.push(labelled(
                "smart.passed",
                l(),
                if passed { 1.0 } else { 0.0 },
            ));
        }
        for (name, v) in [
            ("smart.temperature_celsius", d.temperature_celsius),
            ("smart.power_on_hours", d.power_on_hours.map(|h| h as f64)),
            (
                "smart.reallocated_sectors",
                d.reallocated_sectors.map(|n| n as f64),
            ),
            ("smart.pending_sectors", d.pending_sectors.map(|n| n as f64)),
            ("smart.nvme_percentage_used_pct", d.nvme_percentage_used_pct),
            (
                "smart.nvme_media_errors",
                d.nvme_media_errors.map(|n| n as f64),
            ),
        ] {
            if let Some(v) = v {
                out.push(labelled(name, l(), v));
            }
        }
    }
}

/// `pve.*`: per guest (labelled by vmid and name) and per storage.
fn proxmox_points(r: &Report, out: &mut Vec<Point>) {
    let Some(Section::Ok(p)) = &r.sections.proxmox else {
        return;
    };
    for g in p.guests.iter().filter(|g| !g.template) {
        let l = || vec![("vmid", g.vmid.to_string()), ("name", g.name.clone())];
        out.push(labelled(
            "pve.guest_running",
            l(),
            if g.status == "running" { 1.0 } else { 0.0 },
        ));
        if g.status != "running" {
            continue;
        }
        out.push(labelled("pve.guest_cpu_pct", l(), g.cpu_pct));
        out.push(labelled(
            "pve.guest_mem_used_bytes",
            l(),
            g.memory_used_bytes as f64,
        ));
        if g.memory_max_bytes > 0 {
            out.push(labelled(
                "pve.guest_mem_used_pct",
                l(),
                g.memory_used_bytes as f64 / g.memory_max_bytes as f64 * 100.0,
            ));
        }
        if let Some(rt) = &g.rates {
            out.push(labelled(
                "pve.guest_net_in_bps",
                l(),
                rt.net_in_bytes_per_sec,
            ));
            out.push(labelled(
                "pve.guest_net_out_bps",
                l(),
                rt.net_out_bytes_per_sec,
            ));
            out.push(labelled(
                "pve.guest_disk_read_bps",
                l(),
                rt.disk_read_bytes_per_sec,
            ));
            out.push(labelled(
                "pve.guest_disk_write_bps",
                l(),
                rt.disk_write_bytes_per_sec,
            ));
        }
    }
    for st in &p.storages {
        let l = || vec![("storage", st.storage.clone())];
        out.push(labelled(
            "pve.storage_available",
            l(),
            if st.status == "available" { 1.0 } else { 0.0 },
        ));
        if let Some(pct) = st.used_pct {
            out.push(labelled("pve.storage_used_pct", l(), pct));
            out.push(labelled(
                "pve.storage_used_bytes",
                l(),
                st.used_bytes as f64,
            ));
        }
    }
}

/// `gpu.*` per GPU (labelled by its `id`: `card0`, `nvidia0`); a suspended card has none.
fn gpu_points(r: &Report, out: &mut Vec<Point>) {
    let Some(Section::Ok(g)) = &r.sections.gpu else {
        return;
    };
    for d in g.devices.iter().filter(|d| !d.suspended) {
        let l = || vec![("gpu", d.id.clone())];
        let mem_pct = match (d.memory_used_bytes, d.memory_total_bytes) {
            (Some(used), Some(total)) if total > 0 => Some(used as f64 / total as f64 * 100.0),
            _ => None,
        };
        for (name, v) in [
            ("gpu.util_pct", d.utilization_pct),
            ("gpu.mem_used_bytes", d.memory_used_bytes.map(|b| b as f64)),
            ("gpu.mem_used_pct", mem_pct),
            ("gpu.temp_celsius", d.temperature_celsius),
            ("gpu.power_watts", d.power_watts),
        ] {
            if let Some(v) = v {
                out.push(labelled(name, l(), v));
            }
        }
    }
}

/// `check.state{check}` (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and `check.perf{check,label}`
/// in base units (`ms` and `us` as seconds, `KB`… as bytes), so two plugins measuring the same
/// thing in different units chart on one axis.
fn check_points(c: &hostwatch_proto::sections::Checks, out: &mut Vec<Point>) {
    for check in &c.checks {
        out.push(labelled(
            "check.state",
            vec![("check", check.name.clone())],
            f64::from(check.state.code()),
        ));
        for p in &check.perfdata {
            out.push(labelled(
                "check.perf",
                vec![("check", check.name.clone()), ("label", p.label.clone())],
                p.base_value().0,
            ));
        }
    }
}

/// Parses `name` or `name{label="value",…}` as the API receives it.
pub fn parse_selector(s: &str) -> Option<(String, Vec<(String, String)>)> {
    let Some((name, rest)) = s.split_once('{') else {
        return valid_name(s).then(|| (s.to_string(), Vec::new()));
    };
    let body = rest.strip_suffix('}')?;
    let mut labels = Vec::new();
    for pair in body.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=')?;
        let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
        labels.push((k.trim().to_string(), v.to_string()));
    }
    valid_name(name).then(|| (name.to_string(), labels))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden() -> Report {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proto/tests/fixtures/report-v1-full.json"
        );
        Report::from_json(&std::fs::read(path).unwrap()).unwrap()
    }

    fn value(points: &[Point], key: &str) -> Option<f64> {
        points
            .iter()
            .find(|p| p.key.to_string() == key)
            .map(|p| p.value)
    }

    #[test]
    fn the_golden_report_maps_to_named_series() {
        let mut out = Vec::new();
        points(&golden(), &mut out);
        assert_eq!(value(&out, "cpu.steal_pct"), Some(8.2));
        assert_eq!(value(&out, "swap.cached_bytes"), Some(33_554_432.0));
        assert_eq!(value(&out, "fs.used_pct{mount=\"/\"}"), Some(63.2));
        assert_eq!(value(&out, "net.rx_bps{iface=\"eno1\"}"), Some(125_000.5));
        assert_eq!(
            value(&out, "disk.await_seconds{device=\"nvme0n1\"}"),
            Some(0.00042)
        );
        assert_eq!(value(&out, "psi.io_full_pct"), Some(1.2));
        assert_eq!(
            value(
                &out,
                "temp.sensor_celsius{chip=\"nvme_nvme0\",sensor=\"Composite\"}"
            ),
            Some(41.85)
        );
        assert_eq!(value(&out, "agent.spool_queued"), Some(12.0));
        assert_eq!(value(&out, "cpu.logical_cores"), Some(2.0));
        assert_eq!(value(&out, "psi.io_some_avg60_pct"), Some(0.9));
        let package = "{chip=\"platform_coretemp_0\",sensor=\"Package id 0\"}";
        assert_eq!(
            value(&out, &format!("temp.sensor_max_celsius{package}")),
            Some(84.0)
        );
        assert_eq!(
            value(&out, &format!("temp.sensor_crit_celsius{package}")),
            Some(100.0)
        );
        assert_eq!(value(&out, "zfs.online{pool=\"rpool\"}"), Some(0.0));
        assert_eq!(
            value(
                &out,
                "smart.nvme_percentage_used_pct{device=\"/dev/nvme0\"}"
            ),
            Some(3.0)
        );
        assert_eq!(
            value(&out, "pve.guest_net_out_bps{vmid=\"101\",name=\"web1\"}"),
            Some(250.5)
        );
        assert_eq!(
            value(&out, "pve.storage_available{storage=\"nas-backup\"}"),
            Some(0.0)
        );
        assert!(
            !out.iter().any(|p| p.key.to_string().contains("9000")),
            "templates have no series"
        );
        assert_eq!(value(&out, "smart.passed{device=\"/dev/sdc\"}"), Some(1.0));
        assert!(
            !out.iter().any(|p| p.key.to_string().contains("/dev/sdb")),
            "a disk in standby has no values"
        );
        assert_eq!(value(&out, "zfs.capacity_pct{pool=\"rpool\"}"), Some(35.0));
        assert_eq!(value(&out, "zfs.vdev_errors{pool=\"rpool\"}"), Some(0.0));
        assert!(value(&out, "zfs.scrub_age_seconds{pool=\"rpool\"}").is_some());
        assert_eq!(
            value(&out, "zfs.dataset_compress_ratio{dataset=\"rpool/data\"}"),
            Some(1.39)
        );
        assert_eq!(value(&out, "systemd.failed_units"), Some(1.0));
        assert_eq!(
            value(&out, "systemd.unit_active{unit=\"cloudflared.service\"}"),
            Some(0.0),
            "auto-restarting is not active"
        );
        assert_eq!(
            value(&out, "systemd.unit_active{unit=\"nginx.service\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&out, "systemd.unit_restarts{unit=\"cloudflared.service\"}"),
            Some(4.0)
        );
        assert_eq!(value(&out, "check.state{check=\"root_disk\"}"), Some(1.0));
        assert_eq!(value(&out, "check.state{check=\"backup_age\"}"), Some(3.0));
        assert_eq!(
            value(&out, "check.perf{check=\"root_disk\",label=\"/\"}"),
            Some(2643.0 * 1024.0 * 1024.0),
            "MB are charted as bytes"
        );
        assert_eq!(
            value(&out, "check.perf{check=\"root_disk\",label=\"load 1\"}"),
            Some(0.5)
        );
        assert_eq!(value(&out, "gpu.util_pct{gpu=\"card0\"}"), Some(4.0));
        assert_eq!(
            value(&out, "gpu.mem_used_bytes{gpu=\"nvidia0\"}"),
            Some(1_082_130_432.0)
        );
        assert_eq!(value(&out, "gpu.temp_celsius{gpu=\"nvidia0\"}"), Some(40.0));
        assert_eq!(value(&out, "gpu.power_watts{gpu=\"nvidia0\"}"), Some(26.78));
        assert_eq!(
            value(&out, "gpu.mem_used_pct{gpu=\"card0\"}").map(|p| (p * 100.0).round() / 100.0),
            Some(17.38)
        );
        assert!(
            !out.iter().any(|p| p.key.to_string().contains("card1")),
            "a suspended GPU has no values"
        );
        assert_eq!(value(&out, "ollama.models_loaded"), Some(2.0));
        assert_eq!(
            value(&out, "ollama.vram_used_bytes"),
            Some((5_137_025_024u64 + 5_333_539_264) as f64)
        );
        assert_eq!(value(&out, "containers.unhealthy"), Some(1.0));
        assert_eq!(
            value(&out, "container.cpu_pct{container=\"web\"}"),
            Some(12.5)
        );
        assert_eq!(
            value(&out, "container.healthy{container=\"web\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&out, "container.healthy{container=\"api\"}"),
            Some(0.0)
        );
        assert_eq!(
            value(&out, "container.mem_used_bytes{container=\"api\"}"),
            Some(647_168.0)
        );
        assert_eq!(
            value(&out, "container.block_write_bps{container=\"web\"}"),
            Some(4096.0)
        );
        assert_eq!(value(&out, "container.cpu_pct{container=\"api\"}"), None);
        assert_eq!(
            value(&out, "container.healthy{container=\"watchtower-stopped\"}"),
            None,
            "a stopped container has no health series"
        );
        assert_eq!(
            value(
                &out,
                "container.restart_count{container=\"watchtower-stopped\"}"
            ),
            Some(0.0)
        );
        // No rates, no series: sda has none in the fixture, and the NFS mount failed.
        assert!(!out.iter().any(|p| p.key.to_string().contains("sda")));
        assert!(
            !out.iter()
                .any(|p| p.key.to_string().contains("/mnt/backup"))
        );
        // Every key is unique within one report.
        let mut keys: Vec<String> = out.iter().map(|p| p.key.to_string()).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }

    #[test]
    fn selectors_parse_and_reject_garbage() {
        assert_eq!(
            parse_selector("cpu.steal_pct"),
            Some(("cpu.steal_pct".into(), vec![]))
        );
        assert_eq!(
            parse_selector("fs.used_pct{mount=\"/var\"}"),
            Some(("fs.used_pct".into(), vec![("mount".into(), "/var".into())]))
        );
        for bad in [
            "",
            "cpu steal",
            "fs.used_pct{mount=/var}",
            "fs.used_pct{mount=\"/\"",
            "a;b",
        ] {
            assert_eq!(parse_selector(bad), None, "{bad}");
        }
    }
}
