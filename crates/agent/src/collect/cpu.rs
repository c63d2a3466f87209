//! The `cpu` section: utilisation per mode for the whole machine and each logical core, from
//! the deltas between two reads of `/proc/stat`; cumulative seconds per mode; and, inside a
//! container with limits, the cgroup's own CPU limit and usage.
//!
//! `/proc/stat` is hand-parsed rather than read with `procfs_core::KernelStats`: that parser
//! drops the CPU numbers (so a core going offline would shift every later core onto the wrong
//! baseline), has no `intr` total, and allocates a `String` per line — the `intr` line alone
//! is kilobytes — on every tick. Format: <https://docs.kernel.org/filesystems/proc.html>
//! (1.8 "Miscellaneous kernel statistics in /proc/stat").

use super::cgroup::{CgroupTree, read_cpu_stat};
use super::system::detect_virtualization;
use super::{CollectError, Collector};
use crate::HostPaths;
use crate::paths::PseudoFile;
use hostwatch_proto::sections::{CgroupCpu, CoreCpu, Cpu, CpuModes, CpuSeconds};
use hostwatch_proto::{SectionData, Tier};
use std::path::Path;
use std::time::Instant;

/// Columns of a `cpu` line, in the kernel's order.
const MODES: usize = 10;
const USER: usize = 0;
const NICE: usize = 1;
const SYSTEM: usize = 2;
const IDLE: usize = 3;
const IOWAIT: usize = 4;
const IRQ: usize = 5;
const SOFTIRQ: usize = 6;
const STEAL: usize = 7;
const GUEST: usize = 8;
const GUEST_NICE: usize = 9;
/// `guest` and `guest_nice` are already counted in `user` and `nice`: the wall time a CPU
/// spent is the sum of the first eight columns only.
const TIME_MODES: usize = 8;

/// One `cpu` line in USER_HZ ticks. Columns an older kernel does not print read as 0
/// (2.6.0 has 7 columns: no steal, no guest).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Ticks([u64; MODES]);

/// One read of `/proc/stat`; kept between ticks to compute rates.
#[derive(Debug, Clone, Default)]
struct StatRead {
    total: Ticks,
    /// `(cpu number, ticks)`, ascending as the kernel lists them; offline CPUs are absent.
    cores: Vec<(u32, Ticks)>,
    ctxt: u64,
    intr: u64,
    processes: u64,
}

/// Parses `text` (the contents of `path`) into `out`, reusing its allocation.
fn parse_stat(path: &Path, text: &str, out: &mut StatRead) -> Result<(), CollectError> {
    out.cores.clear();
    out.ctxt = 0;
    out.intr = 0;
    out.processes = 0;
    let mut saw_total = false;
    for (n, line) in text.lines().enumerate() {
        let bad = |what: &str| CollectError::parse(path, format!("line {}: {what}", n + 1));
        let Some((key, rest)) = line.split_once(' ') else {
            continue;
        };
        match key {
            "cpu" => {
                if saw_total {
                    return Err(bad("a second `cpu` summary line"));
                }
                out.total = parse_ticks(rest).ok_or_else(|| bad("bad cpu line"))?;
                saw_total = true;
            }
            _ if key.starts_with("cpu") => {
                let cpu: u32 = key[3..].parse().map_err(|_| bad("bad cpu number"))?;
                let ticks = parse_ticks(rest).ok_or_else(|| bad("bad cpu line"))?;
                // The kernel lists CPUs in ascending order; anything else is not one read.
                if out.cores.last().is_some_and(|&(last, _)| last >= cpu) {
                    return Err(bad(&format!("cpu{cpu} out of order or repeated")));
                }
                out.cores.push((cpu, ticks));
            }
            "ctxt" => out.ctxt = first_number(rest).ok_or_else(|| bad("bad ctxt"))?,
            // The first column is the total; the per-IRQ columns after it are not needed.
            "intr" => out.intr = first_number(rest).ok_or_else(|| bad("bad intr"))?,
            "processes" => {
                out.processes = first_number(rest).ok_or_else(|| bad("bad processes"))?
            }
            _ => {}
        }
    }
    if !saw_total {
        return Err(CollectError::parse(path, "no `cpu` summary line"));
    }
    Ok(())
}

/// At least user, nice, system and idle; missing later columns are 0, extra ones ignored.
fn parse_ticks(rest: &str) -> Option<Ticks> {
    let mut ticks = Ticks::default();
    let mut count = 0;
    for (slot, field) in ticks.0.iter_mut().zip(rest.split_ascii_whitespace()) {
        *slot = field.parse().ok()?;
        count += 1;
    }
    (count >= 4).then_some(ticks)
}

fn first_number(rest: &str) -> Option<u64> {
    rest.split_ascii_whitespace().next()?.parse().ok()
}

/// Shares of each mode between two reads; `None` when any counter went backwards (a CPU
/// re-plugged, a kernel accounting quirk) or no tick passed.
fn usage(prev: &Ticks, cur: &Ticks) -> Option<CpuModes> {
    let mut delta = [0u64; MODES];
    for (d, (p, c)) in delta.iter_mut().zip(prev.0.iter().zip(&cur.0)) {
        *d = c.checked_sub(*p)?;
    }
    let total: u64 = delta[..TIME_MODES].iter().sum();
    if total == 0 {
        return None;
    }
    let pct = |ticks: u64| ticks as f64 * 100.0 / total as f64;
    Some(CpuModes {
        user_pct: pct(delta[USER]),
        nice_pct: pct(delta[NICE]),
        system_pct: pct(delta[SYSTEM]),
        idle_pct: pct(delta[IDLE]),
        iowait_pct: pct(delta[IOWAIT]),
        irq_pct: pct(delta[IRQ]),
        softirq_pct: pct(delta[SOFTIRQ]),
        steal_pct: pct(delta[STEAL]),
        guest_pct: pct(delta[GUEST]),
        guest_nice_pct: pct(delta[GUEST_NICE]),
        busy_pct: pct(total - delta[IDLE] - delta[IOWAIT]),
    })
}

fn seconds(ticks: &Ticks, user_hz: f64) -> CpuSeconds {
    let s = |i: usize| ticks.0[i] as f64 / user_hz;
    CpuSeconds {
        user: s(USER),
        nice: s(NICE),
        system: s(SYSTEM),
        idle: s(IDLE),
        iowait: s(IOWAIT),
        irq: s(IRQ),
        softirq: s(SOFTIRQ),
        steal: s(STEAL),
        guest: s(GUEST),
        guest_nice: s(GUEST_NICE),
    }
}

/// The CPU model from `/proc/cpuinfo`: `model name` on x86, `Processor` / `cpu model` /
/// `cpu` / `Model` on other architectures (arm64 often has none).
fn parse_model(cpuinfo: &str) -> Option<String> {
    for wanted in ["model name", "Processor", "cpu model", "cpu", "Model"] {
        let found = cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == wanted).then(|| value.trim())
        });
        if let Some(value) = found.filter(|v| !v.is_empty()) {
            return Some(value.to_string());
        }
    }
    None
}

/// The cgroup's `usage_usec` at the previous read.
#[derive(Debug)]
struct CgroupBaseline {
    at: Instant,
    path: String,
    usage_usec: u64,
}

/// Reports the `cpu` section.
#[derive(Debug)]
pub struct CpuCollector {
    stat: PseudoFile,
    /// Ticks per second of `/proc/stat` (USER_HZ, 100 on Linux), asked once.
    user_hz: f64,
    /// Read once: the model does not change while the agent runs.
    model: Option<String>,
    /// Set when the agent runs in a container on cgroup v2.
    cgroup: Option<CgroupTree>,
    buf: String,
    current: StatRead,
    previous: Option<StatRead>,
    cgroup_baseline: Option<CgroupBaseline>,
}

impl CpuCollector {
    pub fn new(paths: HostPaths) -> Self {
        Self::with_user_hz(paths, procfs::ticks_per_second())
    }

    /// With an explicit USER_HZ, for recorded trees.
    pub fn with_user_hz(paths: HostPaths, user_hz: u64) -> Self {
        let model = std::fs::read_to_string(paths.proc("cpuinfo"))
            .ok()
            .and_then(|text| parse_model(&text));
        let virtualization = detect_virtualization(&paths);
        let cgroup = CgroupTree::for_container(&paths, virtualization.as_ref());
        CpuCollector {
            stat: PseudoFile::whole(paths.proc("stat")),
            user_hz: user_hz.max(1) as f64,
            model,
            cgroup,
            buf: String::new(),
            current: StatRead::default(),
            previous: None,
            cgroup_baseline: None,
        }
    }

    /// One read at `now` (injectable so tests control the interval).
    pub fn collect_at(&mut self, now: Instant) -> Result<Cpu, CollectError> {
        self.stat.read_into(&mut self.buf)?;
        if let Err(e) = parse_stat(self.stat.path(), &self.buf, &mut self.current) {
            // A bad read is no baseline: the next good one starts afresh.
            self.previous = None;
            return Err(e);
        }
        let cur = &self.current;
        let prev = self.previous.as_ref();

        let cores = cur
            .cores
            .iter()
            .map(|(cpu, ticks)| CoreCpu {
                cpu: *cpu,
                // A core absent from the previous read (it was offline) has no baseline.
                usage: prev
                    .and_then(|p| {
                        p.cores
                            .binary_search_by_key(cpu, |c| c.0)
                            .ok()
                            .map(|i| &p.cores[i].1)
                    })
                    .and_then(|before| usage(before, ticks)),
                seconds: seconds(ticks, self.user_hz),
            })
            .collect();
        let logical_cores = cur.cores.len() as u32;

        let mut cpu = Cpu {
            model: self.model.clone(),
            logical_cores,
            usage: prev.and_then(|p| usage(&p.total, &cur.total)),
            seconds: seconds(&cur.total, self.user_hz),
            cores,
            context_switches_total: cur.ctxt,
            interrupts_total: cur.intr,
            forks_total: cur.processes,
            cgroup: None,
        };

        // Keep this read as the next baseline, recycling the old one's allocation.
        let recycled = self.previous.take().unwrap_or_default();
        self.previous = Some(std::mem::replace(&mut self.current, recycled));

        cpu.cgroup = self.read_cgroup(now, logical_cores)?;
        Ok(cpu)
    }

    fn read_cgroup(
        &mut self,
        now: Instant,
        logical_cores: u32,
    ) -> Result<Option<CgroupCpu>, CollectError> {
        let Some(tree) = &self.cgroup else {
            return Ok(None);
        };
        let Some(limited) = tree.limited(&mut self.buf)? else {
            self.cgroup_baseline = None;
            return Ok(None);
        };
        let stat = read_cpu_stat(limited.dir, &mut self.buf)?;
        let limit_cores = limited.cpu_max.and_then(|c| c.limit_cores());
        let capacity = limit_cores.unwrap_or(logical_cores as f64);

        let usage_pct = match &self.cgroup_baseline {
            Some(base) if base.path == limited.path => {
                let elapsed = now.saturating_duration_since(base.at).as_secs_f64();
                match stat.usage_usec.checked_sub(base.usage_usec) {
                    Some(used) if elapsed > 0.0 && capacity > 0.0 => {
                        Some(used as f64 / 1e6 / elapsed / capacity * 100.0)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match &mut self.cgroup_baseline {
            Some(base) if base.path == limited.path => {
                base.at = now;
                base.usage_usec = stat.usage_usec;
            }
            slot => {
                *slot = Some(CgroupBaseline {
                    at: now,
                    path: limited.path.to_string(),
                    usage_usec: stat.usage_usec,
                })
            }
        }
        Ok(Some(CgroupCpu {
            limit_cores,
            usage_pct,
            usage_seconds_total: stat.usage_usec as f64 / 1e6,
            throttled_seconds_total: stat.throttled_usec as f64 / 1e6,
            throttled_periods_total: stat.nr_throttled,
        }))
    }
}

impl Collector for CpuCollector {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        self.collect_at(Instant::now()).map(|c| Some(c.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::cgroup::testing::{copy_tree, put};
    use super::*;
    use std::time::Duration;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn fixture(rel: &str) -> std::path::PathBuf {
        Path::new(FIXTURES).join(rel)
    }

    fn stat_of(rel: &str) -> String {
        std::fs::read_to_string(fixture(rel).join("proc/stat")).unwrap()
    }

    /// A collector over a temporary copy of `first`, whose `proc/stat` the test then replaces.
    fn collector_over(first: &str) -> (tempfile::TempDir, CpuCollector) {
        let dir = copy_tree(&fixture(first));
        let collector = CpuCollector::with_user_hz(HostPaths::under(dir.path()), 100);
        (dir, collector)
    }

    fn next_read(
        dir: &tempfile::TempDir,
        collector: &mut CpuCollector,
        case: &str,
        at: Instant,
    ) -> Cpu {
        put(dir.path(), "proc/stat", &stat_of(case));
        collector.collect_at(at).unwrap()
    }

    #[test]
    fn steal_from_two_reads_is_exact() {
        let (dir, mut c) = collector_over("cpu/steal/t0");
        let t0 = Instant::now();
        let first = c.collect_at(t0).unwrap();
        assert_eq!(first.usage, None, "one read is no rate");
        assert!(first.cores.iter().all(|core| core.usage.is_none()));

        let second = next_read(&dir, &mut c, "cpu/steal/t1", t0 + Duration::from_secs(10));
        // Summary deltas (see PROVENANCE.md): 1000 ticks in all.
        let usage = second.usage.expect("a rate on the second read");
        assert_eq!(
            usage,
            CpuModes {
                user_pct: 50.0,
                nice_pct: 1.0,
                system_pct: 15.0,
                idle_pct: 20.0,
                iowait_pct: 3.0,
                irq_pct: 1.0,
                softirq_pct: 1.8,
                steal_pct: 8.2,
                guest_pct: 5.0,
                guest_nice_pct: 0.0,
                busy_pct: 77.0,
            }
        );
        // cpu0 stole 12 of 500 ticks, cpu1 70 of 500.
        assert_eq!(second.cores[0].usage.unwrap().steal_pct, 2.4);
        assert_eq!(second.cores[1].usage.unwrap().steal_pct, 14.0);
        assert_eq!(second.cores[1].usage.unwrap().guest_pct, 4.0);
        assert_eq!(second.cores[0].usage.unwrap().busy_pct, 75.0);
        assert_eq!(second.seconds.steal, 10.82);
        assert_eq!(second.context_switches_total, 5600);
        assert_eq!(second.interrupts_total, 1400);
        assert_eq!(second.forks_total, 310);
    }

    #[test]
    fn recorded_reads_of_this_machine_give_exact_percentages() {
        let (dir, mut c) = collector_over("cpu/dev-vm/t0");
        let t0 = Instant::now();
        let first = c.collect_at(t0).unwrap();
        assert_eq!(first.model.as_deref(), Some("Intel(R) Xeon(R) Processor"));
        assert_eq!(first.logical_cores, 2);
        assert_eq!(first.seconds.user, 169.33);
        assert_eq!(first.seconds.idle, 1342.11);
        assert_eq!(first.cores[1].seconds.softirq, 0.63);

        let second = next_read(&dir, &mut c, "cpu/dev-vm/t1", t0 + Duration::from_secs(2));
        // Summary deltas: system 1, idle 395, iowait 2 — 398 ticks over two 100 Hz CPUs in ~2 s.
        let usage = second.usage.unwrap();
        assert_eq!(usage.user_pct, 0.0);
        assert_eq!(usage.system_pct, 100.0 / 398.0);
        assert_eq!(usage.idle_pct, 39500.0 / 398.0);
        assert_eq!(usage.iowait_pct, 200.0 / 398.0);
        assert_eq!(usage.busy_pct, 100.0 / 398.0);
        assert!((usage.idle_pct - 99.246_231).abs() < 1e-6);
        // cpu0: idle 199 of 199; cpu1: system 1, idle 195, iowait 3 of 199.
        assert_eq!(second.cores[0].usage.unwrap().idle_pct, 100.0);
        let cpu1 = second.cores[1].usage.unwrap();
        assert_eq!(cpu1.idle_pct, 19500.0 / 199.0);
        assert_eq!(cpu1.iowait_pct, 300.0 / 199.0);
        assert_eq!(
            second.cgroup, None,
            "no cgroup v2 tree on this machine's layout"
        );
    }

    #[test]
    fn counters_going_backwards_give_no_rate_then_a_fresh_baseline() {
        let (dir, mut c) = collector_over("cpu/dev-vm/t1");
        let t0 = Instant::now();
        c.collect_at(t0).unwrap();
        let back = next_read(&dir, &mut c, "cpu/dev-vm/t0", t0 + Duration::from_secs(10));
        assert_eq!(back.usage, None);
        assert!(back.cores.iter().all(|core| core.usage.is_none()));
        // The backwards read is the new baseline: moving forward again gives rates.
        let again = next_read(&dir, &mut c, "cpu/dev-vm/t1", t0 + Duration::from_secs(20));
        assert_eq!(again.usage.unwrap().system_pct, 100.0 / 398.0);
    }

    #[test]
    fn a_core_offline_between_reads_has_no_rate_that_tick() {
        let (dir, mut c) = collector_over("cpu/hotplug/t0");
        let t0 = Instant::now();
        assert_eq!(c.collect_at(t0).unwrap().logical_cores, 4);

        let offline = next_read(&dir, &mut c, "cpu/hotplug/t1", t0 + Duration::from_secs(10));
        assert_eq!(offline.logical_cores, 3);
        let numbers: Vec<u32> = offline.cores.iter().map(|c| c.cpu).collect();
        assert_eq!(numbers, [0, 1, 3]);
        // cpu3 is compared with cpu3's own baseline (user 100, system 20, idle 80 of 200),
        // not with cpu2's, which sat at the same position.
        let cpu3 = offline.cores[2].usage.unwrap();
        assert_eq!(
            (cpu3.user_pct, cpu3.system_pct, cpu3.idle_pct),
            (50.0, 10.0, 40.0)
        );

        let back = next_read(&dir, &mut c, "cpu/hotplug/t2", t0 + Duration::from_secs(20));
        assert_eq!(back.logical_cores, 4);
        assert_eq!(back.cores[2].cpu, 2);
        assert_eq!(back.cores[2].usage, None, "cpu2 has no baseline yet");
        assert_eq!(back.cores[0].usage.unwrap().system_pct, 5.0);
        assert_eq!(back.cores[3].usage.unwrap().idle_pct, 40.0);
        // The summary line itself kept counting: system 45, user 350, idle 265 of 660.
        assert_eq!(back.usage.unwrap().user_pct, 35000.0 / 660.0);
    }

    #[test]
    fn node_exporter_stat_with_guest_time() {
        let mut c = CpuCollector::with_user_hz(HostPaths::under(fixture("cpu/node_exporter")), 100);
        let cpu = c.collect_at(Instant::now()).unwrap();
        assert_eq!(
            cpu.model.as_deref(),
            Some("Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz")
        );
        assert_eq!(cpu.logical_cores, 8);
        assert_eq!(
            cpu.seconds,
            CpuSeconds {
                user: 3018.54,
                nice: 6.12,
                system: 1119.22,
                idle: 89790.04,
                iowait: 35.52,
                irq: 0.02,
                softirq: 39.44,
                steal: 0.0,
                guest: 0.44,
                guest_nice: 0.36,
            }
        );
        assert_eq!(cpu.cores[7].cpu, 7);
        assert_eq!(cpu.cores[7].seconds.guest, 0.09);
        assert_eq!(cpu.context_switches_total, 38_014_093);
        assert_eq!(cpu.interrupts_total, 8_885_917);
        assert_eq!(cpu.forks_total, 26_442);
    }

    #[test]
    fn old_kernel_without_steal_and_guest_columns_reads_them_as_zero() {
        let mut c = CpuCollector::with_user_hz(HostPaths::under(fixture("cpu/old-kernel")), 100);
        let cpu = c.collect_at(Instant::now()).unwrap();
        assert_eq!(cpu.logical_cores, 1);
        assert_eq!(cpu.seconds.user, 2592.46);
        assert_eq!(cpu.seconds.irq, 7.72);
        assert_eq!(cpu.seconds.softirq, 0.0);
        assert_eq!(
            (cpu.seconds.steal, cpu.seconds.guest, cpu.seconds.guest_nice),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(cpu.interrupts_total, 354_133_732);
        assert_eq!(cpu.model, None, "no cpuinfo in this tree");
        // The same file again: no tick passed, so no rate rather than 0/0.
        assert_eq!(c.collect_at(Instant::now()).unwrap().usage, None);
    }

    #[test]
    fn garbage_is_an_error_naming_the_file_and_line() {
        let mut c = CpuCollector::with_user_hz(HostPaths::under(fixture("cpu/garbage")), 100);
        let err = c.collect_at(Instant::now()).unwrap_err().to_string();
        assert!(err.contains("proc/stat") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn two_dumps_in_one_file_are_refused() {
        let mut c = CpuCollector::with_user_hz(HostPaths::under(fixture("cpu/concatenated")), 100);
        let err = c.collect_at(Instant::now()).unwrap_err().to_string();
        assert!(
            err.contains("proc/stat: line 10: a second `cpu` summary line"),
            "{err}"
        );
    }

    #[test]
    fn missing_stat_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = CpuCollector::with_user_hz(HostPaths::under(dir.path()), 100);
        assert!(matches!(
            c.collect_at(Instant::now()),
            Err(CollectError::Io { .. })
        ));
    }

    #[test]
    fn lxc_guest_reports_its_cgroup_limit_and_usage() {
        let dir = copy_tree(&fixture("cgroup/lxc-guest"));
        let mut c = CpuCollector::with_user_hz(HostPaths::under(dir.path()), 100);
        let t0 = Instant::now();
        let first = c.collect_at(t0).unwrap();
        assert_eq!(
            first.cgroup,
            Some(CgroupCpu {
                limit_cores: Some(48.0),
                usage_pct: None,
                usage_seconds_total: 98_701.325_189,
                throttled_seconds_total: 19_175.137_007,
                throttled_periods_total: 6004,
            })
        );
        // 10 s later the guest used 120 CPU-seconds more: 12 cores of its 48 = 25 %.
        let stat = std::fs::read_to_string(dir.path().join("sys/fs/cgroup/cpu.stat")).unwrap();
        put(
            dir.path(),
            "sys/fs/cgroup/cpu.stat",
            &stat.replace("usage_usec 98701325189", "usage_usec 98821325189"),
        );
        let second = c.collect_at(t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(second.cgroup.unwrap().usage_pct, Some(25.0));

        // The cgroup was re-created (counter reset): no rate, fresh baseline.
        put(dir.path(), "sys/fs/cgroup/cpu.stat", "usage_usec 1000000\n");
        let reset = c.collect_at(t0 + Duration::from_secs(20)).unwrap();
        assert_eq!(reset.cgroup.unwrap().usage_pct, None);
    }

    #[test]
    fn no_cpu_limit_divides_by_the_core_count() {
        let dir = copy_tree(&fixture("cgroup/docker-cpu-unlimited"));
        let mut c = CpuCollector::with_user_hz(HostPaths::under(dir.path()), 100);
        let t0 = Instant::now();
        let first = c.collect_at(t0).unwrap().cgroup.unwrap();
        assert_eq!(first.limit_cores, None);
        assert_eq!(first.usage_seconds_total, 5.0);
        // 1.5 CPU-seconds in 1 s on this 2-CPU host: 75 %.
        put(
            dir.path(),
            "sys/fs/cgroup/cpu.stat",
            "usage_usec 6500000\nnr_throttled 0\nthrottled_usec 0\n",
        );
        let second = c
            .collect_at(t0 + Duration::from_secs(1))
            .unwrap()
            .cgroup
            .unwrap();
        assert_eq!(second.usage_pct, Some(75.0));
    }

    #[test]
    fn a_systemd_service_limit_on_a_plain_host_is_not_a_container() {
        let mut c = CpuCollector::with_user_hz(
            HostPaths::under(fixture("cgroup/systemd-service-host")),
            100,
        );
        let cpu = c.collect_at(Instant::now()).unwrap();
        assert_eq!(cpu.cgroup, None);
        assert_eq!(cpu.logical_cores, 8);
    }

    #[test]
    fn live_read_of_this_machine_is_plausible() {
        let mut c = CpuCollector::new(HostPaths::default());
        let t0 = Instant::now();
        let first = c.collect_at(t0).unwrap();
        assert!(first.logical_cores >= 1);
        assert_eq!(first.cores.len(), first.logical_cores as usize);
        assert!(first.seconds.idle > 0.0);
        assert!(first.context_switches_total > 0 && first.forks_total > 0);
        // Burn a little CPU so at least one tick passes.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let second = c.collect_at(Instant::now()).unwrap();
        if let Some(u) = second.usage {
            let sum = u.user_pct
                + u.nice_pct
                + u.system_pct
                + u.idle_pct
                + u.iowait_pct
                + u.irq_pct
                + u.softirq_pct
                + u.steal_pct;
            assert!((sum - 100.0).abs() < 1e-9, "modes add up to 100: {sum}");
            assert!((0.0..=100.0).contains(&u.busy_pct));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_a_damaged_stat(
            text in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/cpu/node_exporter/proc/stat"
            ))
        ) {
            let _ = parse_stat(Path::new("/proc/stat"), &text, &mut StatRead::default());
        }
    }
}
