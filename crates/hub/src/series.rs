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
            for (some, full, res) in [
                ("psi.cpu_some_pct", "psi.cpu_full_pct", &p.cpu),
                ("psi.memory_some_pct", "psi.memory_full_pct", &p.memory),
                ("psi.io_some_pct", "psi.io_full_pct", &p.io),
            ] {
                if let Some(res) = res {
                    out.push(plain(some, res.some.avg10_pct));
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
            out.push(labelled(
                "temp.sensor_celsius",
                vec![("chip", sensor.chip.clone()), ("sensor", label)],
                sensor.celsius,
            ));
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
