//! Turning stats samples into the numbers `docker stats` shows: CPU %, memory without the page
//! cache, and I/O rates between two samples.

use super::api::{MemoryStats, Stats};

/// A limit this large is the kernel's "no limit" (cgroup v1 prints `9223372036854771712`).
const UNLIMITED_V1: u64 = 1 << 62;

/// The counters kept from one sample to compute the next one's rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When the daemon read it, unix ns (or the agent's clock when the daemon did not say).
    pub at_ns: i128,
    pub cpu_total_ns: u64,
    pub system_ns: Option<u64>,
    pub block_read: Option<u64>,
    pub block_write: Option<u64>,
    pub net_rx: Option<u64>,
    pub net_tx: Option<u64>,
}

/// The numbers of one sample, with rates where a previous sample allows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Derived {
    pub cpu_pct: Option<f64>,
    pub mem_used: Option<u64>,
    /// `Some(limit)` when limited, `None` when not; the outer option is "not known".
    pub mem_limit: Option<Option<u64>>,
    pub block_read: Option<u64>,
    pub block_write: Option<u64>,
    pub block_read_rate: Option<f64>,
    pub block_write_rate: Option<f64>,
    pub net_rx: Option<u64>,
    pub net_tx: Option<u64>,
    pub net_rx_rate: Option<f64>,
    pub net_tx_rate: Option<f64>,
}

/// Reduces one stats document. `now_ns` stands in for the sample time when the daemon gave
/// none; `host_mem_total` tells "limit = all of the host's memory" (no limit) apart.
pub fn derive(
    stats: &Stats,
    previous: Option<&Sample>,
    now_ns: i128,
    host_mem_total: Option<u64>,
) -> (Derived, Sample) {
    let at_ns = stats
        .read
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_nanosecond())
        .filter(|ns| *ns > 0)
        .unwrap_or(now_ns);
    let (block_read, block_write) = block_io(stats);
    let (net_rx, net_tx) = match &stats.networks {
        Some(nets) if !nets.is_empty() => (
            Some(nets.values().map(|n| n.rx_bytes).sum()),
            Some(nets.values().map(|n| n.tx_bytes).sum()),
        ),
        _ => (None, None),
    };
    let sample = Sample {
        at_ns,
        cpu_total_ns: stats.cpu_stats.cpu_usage.total_usage,
        system_ns: stats.cpu_stats.system_cpu_usage,
        block_read,
        block_write,
        net_rx,
        net_tx,
    };
    let mut d = Derived {
        cpu_pct: cpu_pct(stats, previous),
        mem_used: mem_used(&stats.memory_stats),
        mem_limit: mem_limit(&stats.memory_stats, host_mem_total),
        block_read,
        block_write,
        net_rx,
        net_tx,
        ..Derived::default()
    };
    if let Some(p) = previous {
        let seconds = (at_ns - p.at_ns) as f64 / 1e9;
        if seconds > 0.0 {
            let rate = |now: Option<u64>, before: Option<u64>| match (now, before) {
                // A counter that went down was reset (the container restarted): no rate.
                (Some(n), Some(b)) if n >= b => Some((n - b) as f64 / seconds),
                _ => None,
            };
            d.block_read_rate = rate(block_read, p.block_read);
            d.block_write_rate = rate(block_write, p.block_write);
            d.net_rx_rate = rate(net_rx, p.net_rx);
            d.net_tx_rate = rate(net_tx, p.net_tx);
        }
    }
    (d, sample)
}

/// CPU as a share of one core, the Docker CLI's formula: container CPU time over host CPU
/// time, times the CPUs. Between the agent's previous sample and this one when there is one;
/// else over the daemon's own `precpu_stats` when it filled them (daemons that ignore
/// `one-shot`); else none.
fn cpu_pct(stats: &Stats, previous: Option<&Sample>) -> Option<f64> {
    let cpu = &stats.cpu_stats;
    let (cpu_before, system_before) = match previous {
        Some(p) => (p.cpu_total_ns, p.system_ns?),
        None => {
            let pre = &stats.precpu_stats;
            (
                pre.cpu_usage.total_usage,
                pre.system_cpu_usage.filter(|s| *s > 0)?,
            )
        }
    };
    let system_now = cpu.system_cpu_usage?;
    let cpu_delta = cpu.cpu_usage.total_usage.checked_sub(cpu_before)?;
    let system_delta = system_now.checked_sub(system_before).filter(|d| *d > 0)?;
    let cpus = cpu
        .online_cpus
        .filter(|n| *n > 0)
        .or_else(|| {
            cpu.cpu_usage
                .percpu_usage
                .as_ref()
                .map(|v| v.len() as u32)
                .filter(|n| *n > 0)
        })
        .unwrap_or(1);
    Some(cpu_delta as f64 / system_delta as f64 * f64::from(cpus) * 100.0)
}

fn stat(m: &MemoryStats, key: &str) -> Option<u64> {
    m.stats.as_ref()?.get(key)?.as_u64()
}

/// Usage without the inactive page cache, as the Docker CLI counts it: cgroup v1 subtracts
/// `total_inactive_file`, cgroup v2 `inactive_file`.
fn mem_used(m: &MemoryStats) -> Option<u64> {
    let usage = m.usage?;
    if let Some(v) = stat(m, "total_inactive_file")
        && v < usage
    {
        return Some(usage - v);
    }
    if let Some(v) = stat(m, "inactive_file")
        && v < usage
    {
        return Some(usage - v);
    }
    Some(usage)
}

/// `Some(Some(limit))` when limited, `Some(None)` when the container may use all the host's
/// memory, `None` when the sample does not say.
fn mem_limit(m: &MemoryStats, host_mem_total: Option<u64>) -> Option<Option<u64>> {
    let limit = m.limit?;
    if limit == 0 {
        return Some(None);
    }
    // cgroup v1 reports the host's memory as `limit` and the kernel's huge number here.
    if stat(m, "hierarchical_memory_limit").is_some_and(|h| h >= UNLIMITED_V1) {
        return Some(None);
    }
    if limit >= UNLIMITED_V1 {
        return Some(None);
    }
    match host_mem_total {
        Some(total) if limit >= total => Some(None),
        Some(_) => Some(Some(limit)),
        // Without the host's total a v2 limit cannot be told from "all memory".
        None if stat(m, "hierarchical_memory_limit").is_some() => Some(Some(limit)),
        None => None,
    }
}

/// Bytes read and written, summed over devices.
fn block_io(stats: &Stats) -> (Option<u64>, Option<u64>) {
    let Some(entries) = &stats.blkio_stats.io_service_bytes_recursive else {
        return (None, None);
    };
    let sum = |op: &str| {
        entries
            .iter()
            .filter(|e| e.op.eq_ignore_ascii_case(op))
            .map(|e| e.value)
            .sum::<u64>()
    };
    (Some(sum("read")), Some(sum("write")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(json: &str) -> Stats {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn cgroup_v1_usage_drops_the_inactive_cache() {
        let s = stats(
            r#"{"memory_stats":{"usage":1000,"limit":500,"stats":{"total_inactive_file":300,"inactive_file":100,"hierarchical_memory_limit":500}}}"#,
        );
        let (d, _) = derive(&s, None, 0, Some(4000));
        assert_eq!(d.mem_used, Some(700));
        assert_eq!(d.mem_limit, Some(Some(500)));
    }

    #[test]
    fn cgroup_v2_usage_drops_inactive_file_and_host_sized_limit_is_no_limit() {
        let s =
            stats(r#"{"memory_stats":{"usage":1000,"limit":4000,"stats":{"inactive_file":250}}}"#);
        let (d, _) = derive(&s, None, 0, Some(4000));
        assert_eq!(d.mem_used, Some(750));
        assert_eq!(d.mem_limit, Some(None));
        let (d, _) = derive(&s, None, 0, None);
        assert_eq!(d.mem_limit, None, "unknown without the host's total");
    }

    #[test]
    fn inactive_larger_than_usage_is_ignored() {
        let s = stats(r#"{"memory_stats":{"usage":100,"stats":{"inactive_file":250}}}"#);
        assert_eq!(derive(&s, None, 0, None).0.mem_used, Some(100));
    }

    #[test]
    fn rates_need_a_previous_sample_and_survive_no_counter_reset() {
        let first = stats(
            r#"{"read":"2024-01-01T00:00:00Z","cpu_stats":{"cpu_usage":{"total_usage":1000000000},"system_cpu_usage":10000000000,"online_cpus":2},
                "blkio_stats":{"io_service_bytes_recursive":[{"op":"read","value":100},{"op":"write","value":0}]},
                "networks":{"eth0":{"rx_bytes":10,"tx_bytes":5}}}"#,
        );
        let (d, s1) = derive(&first, None, 0, None);
        assert_eq!(
            (d.cpu_pct, d.block_read_rate, d.net_rx_rate),
            (None, None, None)
        );
        let second = stats(
            r#"{"read":"2024-01-01T00:00:10Z","cpu_stats":{"cpu_usage":{"total_usage":2000000000},"system_cpu_usage":30000000000,"online_cpus":2},
                "blkio_stats":{"io_service_bytes_recursive":[{"op":"read","value":1100},{"op":"write","value":40960}]},
                "networks":{"eth0":{"rx_bytes":1010,"tx_bytes":5}}}"#,
        );
        let (d, s2) = derive(&second, Some(&s1), 0, None);
        // 1 s of CPU over 20 s of host time on 2 CPUs: 10 % of one core.
        assert_eq!(d.cpu_pct, Some(10.0));
        assert_eq!(d.block_read_rate, Some(100.0));
        assert_eq!(d.block_write_rate, Some(4096.0));
        assert_eq!((d.net_rx_rate, d.net_tx_rate), (Some(100.0), Some(0.0)));
        // Restarted container: counters start over, no rate rather than a negative one.
        let restarted = stats(
            r#"{"read":"2024-01-01T00:00:20Z","cpu_stats":{"cpu_usage":{"total_usage":5},"system_cpu_usage":40000000000,"online_cpus":2},
                "blkio_stats":{"io_service_bytes_recursive":[{"op":"read","value":0},{"op":"write","value":0}]},
                "networks":{"eth0":{"rx_bytes":0,"tx_bytes":0}}}"#,
        );
        let (d, _) = derive(&restarted, Some(&s2), 0, None);
        assert_eq!(
            (d.block_read_rate, d.net_rx_rate, d.cpu_pct),
            (None, None, None)
        );
        assert_eq!(d.block_read, Some(0));
    }
}
