//! One simulated host: a real report (the golden wire fixture) made this host's own, then
//! mutated in place each tick — numbers only, no new structure — and serialized.
//!
//! What varies, per host and over time, and why it looks like a real fleet:
//! - three kinds of host: bare metal (thermal sensors, no steal), KVM guests (steal, no
//!   sensors) and LXC guests with cgroup limits (the golden report's shape); 1–16 cores (one
//!   `cores[]` entry each), 2–64 GiB of RAM;
//! - CPU busy %: a per-host base with a daytime hump, an AR(1) random walk, and rare spikes to
//!   60–100 % lasting 3–30 ticks (cron jobs, backups); modes split from it, cumulative seconds
//!   grow accordingly; the load averages follow it with the kernel's 1/5/15 min decay;
//! - memory: a slow random walk of the used share, page cache filling the rest, PSI rising when
//!   memory runs short; swap drifting;
//! - filesystems: each mount fills at its own rate (0–3 % a day) with the odd clean-up, or at
//!   the rate a `--fill-disk` scenario sets;
//! - disk and network rates: log-normal noise around per-host levels, network with the time of
//!   day; the `_total` counters advance by rate × elapsed time;
//! - process counts drift, the top process's CPU follows the machine's.
//!
//! Like a real agent, the first report of an instance has no rates (a rate needs two reads),
//! and the medium-tier sections (`system`, `filesystems`, and the template's ZFS pools, Proxmox,
//! systemd and Ollama) come only every `medium_every` ticks, the slow ones (ZFS datasets,
//! S.M.A.R.T.) every sixth of those, as the agent's default tiers have them.

use hostwatch_proto::sections::{
    CoreCpu, CpuModes, CpuSeconds, DiskRates, Filesystems, InterfaceRates, MemorySource, System,
};
use hostwatch_proto::{Report, Section, Sections, SpoolStats, Tier};

/// The golden report every simulated host starts from: every section, realistic values.
pub const TEMPLATE: &str = include_str!("../../../proto/tests/fixtures/report-v1-full.json");

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// The agent's default slow tier (1800 s) is six of its medium ticks (300 s).
const SLOW_PER_MEDIUM: u64 = 6;

/// A filesystem that fills at a set rate, for alert tests (`--fill-disk`).
#[derive(Debug, Clone, PartialEq)]
pub struct FillDisk {
    pub host: String,
    pub mount: String,
    /// Percentage points of `used_pct` per minute.
    pub pct_per_min: f64,
    /// Where `used_pct` starts; the template's value when absent.
    pub start_pct: Option<f64>,
}

impl std::str::FromStr for FillDisk {
    type Err = String;

    /// `HOST:MOUNT:PCT_PER_MIN[:START_PCT]`, e.g. `loadgen-3:/var:2.5:80`.
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || format!("`{s}`: expected HOST:MOUNT:PCT_PER_MIN[:START_PCT]");
        let mut parts = s.split(':');
        let (Some(host), Some(mount), Some(rate)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(usage());
        };
        let start = parts.next();
        if parts.next().is_some() || host.is_empty() || !mount.starts_with('/') {
            return Err(usage());
        }
        let pct_per_min: f64 = rate
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite())
            .ok_or_else(|| format!("`{s}`: PCT_PER_MIN `{rate}` is not a number"))?;
        let start_pct = start
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=100.0).contains(p))
                    .ok_or_else(|| format!("`{s}`: START_PCT `{v}` is not within 0–100"))
            })
            .transpose()?;
        Ok(FillDisk {
            host: host.to_string(),
            mount: mount.to_string(),
            pct_per_min,
            start_pct,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    BareMetal,
    Vm,
    Lxc,
}

/// Per-mount fill state.
#[derive(Debug, Clone)]
struct Fill {
    /// `size − free` can reach this: size minus the root reserve.
    usable: f64,
    used: f64,
    /// Percentage points per second.
    pct_per_sec: f64,
    /// A scenario's rate: no clean-ups, no noise.
    scripted: bool,
}

/// Per-device or per-interface rate level and counters kept exact as floats.
#[derive(Debug, Clone)]
struct Flow {
    /// Bytes per second around which the rate moves.
    level: f64,
    /// Bytes per operation or packet.
    unit: f64,
}

/// One simulated host and its agent instance.
#[derive(Debug)]
pub struct SimHost {
    report: Report,
    /// Medium-tier sections, lent to the report only on medium ticks.
    system: Option<System>,
    filesystems: Option<Filesystems>,
    /// The template's other sections of the medium and slow tiers, as the agent's collectors
    /// default them (ZFS pools, Proxmox, systemd, Ollama; ZFS datasets, S.M.A.R.T.): sent only
    /// on their ticks, as a real agent does.
    medium: Sections,
    slow: Sections,
    rng: fastrand::Rng,
    cores: u32,
    medium_every: u64,
    tick: u64,
    last_ms: Option<i64>,
    cpu_base: f64,
    cpu_walk: f64,
    spike_left: u32,
    spike_level: f64,
    steal_base: f64,
    mem_used: f64,
    fills: Vec<Option<Fill>>,
    disks: Vec<Flow>,
    nics: Vec<Flow>,
    procs_base: f64,
    /// Reused for counting series samples.
    points: Vec<hostwatch_hub::series::Point>,
}

/// Approximately standard normal (Irwin–Hall with four terms): cheap and good enough.
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let sum: f64 = (0..4).map(|_| rng.f64()).sum();
    (sum - 2.0) * 3f64.sqrt()
}

/// 0 at night, up to 1 in the afternoon (UTC).
fn daytime(ts_ms: i64) -> f64 {
    let day_fraction = ts_ms.rem_euclid(DAY_MS) as f64 / DAY_MS as f64;
    (std::f64::consts::TAU * (day_fraction - 0.25))
        .sin()
        .max(0.0)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn random_id(rng: &mut fastrand::Rng) -> String {
    let (a, b) = (rng.u64(..), rng.u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

impl SimHost {
    /// Host number `index` of a run seeded with `seed`; `template` is a decoded report with
    /// every section (see [`TEMPLATE`]). A scenario may fill one of its mounts.
    pub fn new(
        template: &Report,
        name: &str,
        index: u64,
        seed: u64,
        medium_every: u64,
        scenarios: &[FillDisk],
    ) -> Result<SimHost, String> {
        let mut rng = fastrand::Rng::with_seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
        let mut report = template.clone();
        let s = &mut report.sections;
        let take = |name: &str| format!("the template report has no `{name}` section");
        let mut system = match s.system.take() {
            Some(Section::Ok(sys)) => sys,
            _ => return Err(take("system")),
        };
        let mut filesystems = match s.filesystems.take() {
            Some(Section::Ok(fs)) => fs,
            _ => return Err(take("filesystems")),
        };
        // An agent reports a watchdog restart once, in the report after it; the template's
        // would otherwise repeat in every report of every host.
        if let Some(Section::Ok(c)) = &mut s.containers {
            c.watchdog_actions.clear();
        }
        let medium = Sections {
            zfs: s.zfs.take(),
            proxmox: s.proxmox.take(),
            systemd: s.systemd.take(),
            ollama: s.ollama.take(),
            ..Sections::default()
        };
        let slow = Sections {
            zfs_datasets: s.zfs_datasets.take(),
            smart: s.smart.take(),
            ..Sections::default()
        };
        let kind = match index % 3 {
            0 => Kind::Vm,
            1 => Kind::Lxc,
            _ => Kind::BareMetal,
        };
        let cores = [1u32, 2, 2, 4, 4, 4, 8, 8, 16][rng.usize(..9)];
        let mem_total = [2.0, 4.0, 8.0, 8.0, 16.0, 16.0, 32.0, 64.0][rng.usize(..8)] * GIB;

        report.host_id = name.to_string();
        report.agent.instance_id = random_id(&mut rng);
        report.agent.boot_id = Some(random_id(&mut rng));
        report.seq = 0;
        report.spool = Some(SpoolStats::default());

        system.hostname = name.to_string();
        system.uptime_seconds = rng.f64() * 90.0 * 86_400.0;
        match kind {
            Kind::BareMetal => {
                system.virtualization = None;
                system.container = None;
            }
            Kind::Vm => {
                system.virtualization = Some("kvm".into());
                system.container = None;
            }
            Kind::Lxc => {
                system.virtualization = Some("lxc".into());
                if let Some(c) = &mut system.container {
                    c.memory_max_bytes = Some(mem_total as u64);
                    c.cpu_limit_cores = Some(f64::from(cores));
                }
            }
        }

        let (Some(Section::Ok(cpu)), Some(Section::Ok(memory))) = (&mut s.cpu, &mut s.memory)
        else {
            return Err(take("cpu` or `memory"));
        };
        cpu.logical_cores = cores;
        let core = cpu
            .cores
            .first()
            .cloned()
            .ok_or_else(|| take("cpu.cores"))?;
        cpu.cores = (0..cores)
            .map(|i| CoreCpu {
                cpu: i,
                ..core.clone()
            })
            .collect();
        if kind == Kind::Lxc {
            if let Some(g) = &mut cpu.cgroup {
                g.limit_cores = Some(f64::from(cores));
            }
        } else {
            cpu.cgroup = None;
        }
        memory.source = if kind == Kind::Lxc {
            MemorySource::Cgroup
        } else {
            MemorySource::Host
        };
        memory.total_bytes = mem_total as u64;
        if kind == Kind::Vm {
            s.thermal = None;
        }

        // Mounts: the template's, each with its own fill rate; a failed mount stays failed.
        let mut fills = Vec::new();
        for m in &mut filesystems.mounts {
            if m.error.is_some() {
                fills.push(None);
                continue;
            }
            let reserve = m.free_bytes.saturating_sub(m.available_bytes) as f64;
            let usable = (m.size_bytes as f64 - reserve).max(1.0);
            let scenario = scenarios
                .iter()
                .find(|f| f.host == name && f.mount == m.mount);
            let start_pct = match scenario.and_then(|f| f.start_pct) {
                Some(p) => p,
                None if scenario.is_some() => m.used_pct,
                None => (m.used_pct + 25.0 * normal(&mut rng)).clamp(5.0, 90.0),
            };
            fills.push(Some(Fill {
                usable,
                used: usable * start_pct / 100.0,
                pct_per_sec: match scenario {
                    Some(f) => f.pct_per_min / 60.0,
                    None => rng.f64() * 3.0 / 86_400.0,
                },
                scripted: scenario.is_some(),
            }));
        }
        if let Some(f) = scenarios.iter().find(|f| {
            f.host == name
                && !filesystems
                    .mounts
                    .iter()
                    .any(|m| m.mount == f.mount && m.error.is_none())
        }) {
            return Err(format!(
                "--fill-disk: host {name} has no measurable mount `{}` (it has: {})",
                f.mount,
                filesystems
                    .mounts
                    .iter()
                    .filter(|m| m.error.is_none())
                    .map(|m| m.mount.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }

        let level = |rng: &mut fastrand::Rng, lo: f64, hi: f64| lo * (hi / lo).powf(rng.f64());
        let disks = match &s.disks {
            Some(Section::Ok(d)) => d
                .devices
                .iter()
                .map(|_| Flow {
                    level: level(&mut rng, 20e3, 20e6),
                    unit: level(&mut rng, 4096.0, 131_072.0),
                })
                .collect(),
            _ => Vec::new(),
        };
        let nics = match &s.network {
            Some(Section::Ok(n)) => n
                .interfaces
                .iter()
                .map(|_| Flow {
                    level: level(&mut rng, 2e3, 10e6),
                    unit: level(&mut rng, 200.0, 1400.0),
                })
                .collect(),
            _ => Vec::new(),
        };
        let cpu_base = level(&mut rng, 1.0, 40.0);
        Ok(SimHost {
            report,
            system: Some(system),
            filesystems: Some(filesystems),
            medium,
            slow,
            cores,
            medium_every: medium_every.max(1),
            tick: 0,
            last_ms: None,
            cpu_base,
            cpu_walk: 0.0,
            spike_left: 0,
            spike_level: 0.0,
            steal_base: if kind == Kind::BareMetal {
                0.0
            } else {
                rng.f64().powi(3) * 10.0
            },
            mem_used: 0.2 + 0.5 * rng.f64(),
            fills,
            disks,
            nics,
            procs_base: 80.0 + 500.0 * rng.f64(),
            points: Vec::new(),
            rng,
        })
    }

    /// The next report, collected at `now_ms`, as JSON into `json` (cleared first). Returns how
    /// many series samples the hub will derive from it.
    pub fn next_report(&mut self, now_ms: i64, json: &mut Vec<u8>) -> usize {
        let first = self.last_ms.is_none();
        let dt = self
            .last_ms
            .map(|l| ((now_ms - l) as f64 / 1000.0).max(0.001))
            .unwrap_or(0.0);
        self.last_ms = Some(now_ms);
        let medium = self.tick.is_multiple_of(self.medium_every);
        let slow = self
            .tick
            .is_multiple_of(self.medium_every * SLOW_PER_MEDIUM);
        self.tick += 1;

        self.advance(now_ms, dt, first);

        let r = &mut self.report;
        r.seq += 1;
        r.collected_at = now_ms;
        r.tiers.clear();
        r.tiers.push(Tier::Fast);
        if medium {
            r.tiers.push(Tier::Medium);
            r.sections.system = self.system.take().map(Section::Ok);
            r.sections.filesystems = self.filesystems.take().map(Section::Ok);
            r.sections.merge_from(&self.medium);
        }
        if slow {
            r.tiers.push(Tier::Slow);
            r.sections.merge_from(&self.slow);
        }
        json.clear();
        serde_json::to_writer(&mut *json, &*r).expect("a report always serializes");
        self.points.clear();
        hostwatch_hub::series::points(r, &mut self.points);
        if medium {
            if let Some(Section::Ok(sys)) = r.sections.system.take() {
                self.system = Some(sys);
            }
            if let Some(Section::Ok(fs)) = r.sections.filesystems.take() {
                self.filesystems = Some(fs);
            }
        }
        let s = &mut r.sections;
        (
            s.zfs,
            s.proxmox,
            s.systemd,
            s.ollama,
            s.zfs_datasets,
            s.smart,
        ) = (None, None, None, None, None, None);
        self.points.len()
    }

    /// Moves every number forward by `dt` seconds.
    fn advance(&mut self, now_ms: i64, dt: f64, first: bool) {
        let rng = &mut self.rng;
        let cores = f64::from(self.cores);
        let day = daytime(now_ms);

        // CPU: base + daytime + AR(1) walk, or a spike.
        self.cpu_walk = 0.9 * self.cpu_walk + 2.0 * normal(rng);
        if self.spike_left == 0 && rng.f64() < 1.0 / 300.0 {
            self.spike_left = rng.u32(3..=30);
            self.spike_level = 60.0 + 40.0 * rng.f64();
        }
        let busy = if self.spike_left > 0 {
            self.spike_left -= 1;
            self.spike_level + 3.0 * normal(rng)
        } else {
            self.cpu_base * (1.0 + day) + self.cpu_walk
        }
        .clamp(0.3, 99.5);
        let steal = (self.steal_base * (0.5 + rng.f64())).min(busy * 0.5);
        let iowait = (0.5 * rng.f64() + 0.02 * busy).min(100.0 - busy);
        let modes = |busy: f64, steal: f64, iowait: f64| {
            let softirq = 0.02 * busy;
            let irq = 0.005 * busy;
            let rest = busy - steal - softirq - irq;
            CpuModes {
                user_pct: round2(rest * 0.72),
                nice_pct: 0.0,
                system_pct: round2(rest * 0.28),
                idle_pct: round2(100.0 - busy - iowait),
                iowait_pct: round2(iowait),
                irq_pct: round2(irq),
                softirq_pct: round2(softirq),
                steal_pct: round2(steal),
                guest_pct: 0.0,
                guest_nice_pct: 0.0,
                busy_pct: round2(busy),
            }
        };
        let add = |s: &mut CpuSeconds, m: &CpuModes, seconds: f64| {
            s.user += m.user_pct / 100.0 * seconds;
            s.system += m.system_pct / 100.0 * seconds;
            s.idle += m.idle_pct / 100.0 * seconds;
            s.iowait += m.iowait_pct / 100.0 * seconds;
            s.irq += m.irq_pct / 100.0 * seconds;
            s.softirq += m.softirq_pct / 100.0 * seconds;
            s.steal += m.steal_pct / 100.0 * seconds;
        };
        let s = &mut self.report.sections;
        let whole = modes(busy, steal, iowait);
        if let Some(Section::Ok(cpu)) = &mut s.cpu {
            cpu.usage = (!first).then_some(whole);
            add(&mut cpu.seconds, &whole, dt * cores);
            for core in &mut cpu.cores {
                let b = (busy + 4.0 * normal(rng)).clamp(0.0, 100.0);
                let m = modes(b, steal.min(b * 0.5), iowait.min(100.0 - b));
                core.usage = (!first).then_some(m);
                add(&mut core.seconds, &m, dt);
            }
            cpu.context_switches_total += (dt * cores * (800.0 + 40.0 * busy)) as u64;
            cpu.interrupts_total += (dt * cores * (400.0 + 20.0 * busy)) as u64;
            cpu.forks_total += (dt * (2.0 + rng.f64() * 3.0)) as u64;
            if let Some(g) = &mut cpu.cgroup {
                g.usage_pct = (!first).then(|| round2(busy * 0.9));
                g.usage_seconds_total += busy / 100.0 * 0.9 * cores * dt;
            }
        }

        // Load follows runnable work with the kernel's 1, 5 and 15 min decay.
        if let Some(Section::Ok(load)) = &mut s.load {
            let target = (busy + iowait) / 100.0 * cores;
            let towards = |v: f64, window: f64| {
                let keep = (-dt / window).exp();
                round2(v * keep + target * (1.0 - keep))
            };
            load.load1 = towards(load.load1, 60.0);
            load.load5 = towards(load.load5, 300.0);
            load.load15 = towards(load.load15, 900.0);
            load.tasks_runnable = (target + rng.f64()).round() as u32 + 1;
        }

        // Memory: the used share walks slowly; the cache takes most of the rest.
        if let Some(Section::Ok(m)) = &mut s.memory {
            self.mem_used = (self.mem_used + 0.002 * normal(rng)).clamp(0.08, 0.97);
            let total = m.total_bytes as f64;
            let used = total * self.mem_used;
            let available = total - used;
            m.used_bytes = used as u64;
            m.available_bytes = available as u64;
            m.cached_bytes = (available * 0.7) as u64;
            m.buffers_bytes = (available * 0.02) as u64;
            m.free_bytes = m
                .available_bytes
                .saturating_sub(m.cached_bytes + m.buffers_bytes);
            m.used_pct = round2(self.mem_used * 100.0);
            let swap_total = m.swap_total_bytes as f64;
            let swap_used = (m.swap_used_bytes as f64
                + swap_total * 0.0005 * normal(rng)
                + if self.mem_used > 0.85 {
                    swap_total * 0.002
                } else {
                    0.0
                })
            .clamp(0.0, swap_total);
            m.swap_used_bytes = swap_used as u64;
            m.swap_free_bytes = m.swap_total_bytes - m.swap_used_bytes;
            m.swap_used_pct = if swap_total > 0.0 {
                round2(swap_used / swap_total * 100.0)
            } else {
                0.0
            };
            m.swap_cached_bytes = (swap_used * 0.1) as u64;
            if let Some(p) = &mut m.pressure {
                let short = ((self.mem_used - 0.85) * 200.0).max(0.0);
                let lines = [
                    (&mut p.cpu, (busy - 70.0).max(0.0) * 0.5),
                    (&mut p.memory, short),
                    (&mut p.io, iowait * 2.0),
                ];
                for (resource, level) in lines {
                    let Some(r) = resource else { continue };
                    let v = (level * (0.8 + 0.4 * rng.f64())).min(100.0);
                    r.some.avg10_pct = round2(v);
                    r.some.avg60_pct = round2(0.8 * r.some.avg60_pct + 0.2 * v);
                    r.some.avg300_pct = round2(0.95 * r.some.avg300_pct + 0.05 * v);
                    r.some.total_seconds += v / 100.0 * dt;
                    if let Some(full) = &mut r.full {
                        full.avg10_pct = round2(v * 0.6);
                        full.avg60_pct = round2(r.some.avg60_pct * 0.6);
                        full.avg300_pct = round2(r.some.avg300_pct * 0.6);
                        full.total_seconds += v * 0.6 / 100.0 * dt;
                    }
                }
            }
        }

        // Disks: log-normal rates around each device's level; counters advance.
        if let Some(Section::Ok(d)) = &mut s.disks {
            for (disk, flow) in d.devices.iter_mut().zip(&self.disks) {
                let read = flow.level * 0.3 * (0.6 * normal(rng)).exp();
                let write = flow.level * (0.6 * normal(rng)).exp();
                let (read_iops, write_iops) = (read / flow.unit, write / flow.unit);
                let wait = 0.0002 + 0.002 * rng.f64();
                disk.read_bytes_total += (read * dt) as u64;
                disk.written_bytes_total += (write * dt) as u64;
                disk.reads_completed_total += (read_iops * dt) as u64;
                disk.writes_completed_total += (write_iops * dt) as u64;
                let util = ((read_iops + write_iops) * wait * 100.0).min(100.0);
                disk.io_time_seconds_total += util / 100.0 * dt;
                disk.io_time_weighted_seconds_total += (read_iops + write_iops) * wait * dt;
                disk.read_time_seconds_total += read_iops * wait * dt;
                disk.write_time_seconds_total += write_iops * wait * dt;
                disk.rates = (!first).then(|| DiskRates {
                    read_bytes_per_sec: read.round(),
                    write_bytes_per_sec: write.round(),
                    read_iops: round2(read_iops),
                    write_iops: round2(write_iops),
                    util_pct: round2(util),
                    avg_wait_seconds: (wait * 1e6).round() / 1e6,
                });
            }
        }

        // Network: busier by day; a rare dropped packet.
        if let Some(Section::Ok(n)) = &mut s.network {
            for (nic, flow) in n.interfaces.iter_mut().zip(&self.nics) {
                let rx = flow.level * (0.5 + day) * (0.4 * normal(rng)).exp();
                let tx = rx * 0.3 * (0.3 * normal(rng)).exp();
                let (rx_pps, tx_pps) = (rx / flow.unit, tx / flow.unit);
                let drops = if rng.f64() < 0.05 { rng.f64() } else { 0.0 };
                nic.rx_bytes_total += (rx * dt) as u64;
                nic.tx_bytes_total += (tx * dt) as u64;
                nic.rx_packets_total += (rx_pps * dt) as u64;
                nic.tx_packets_total += (tx_pps * dt) as u64;
                nic.rx_drops_total += (drops * dt) as u64;
                nic.rates = (!first).then(|| InterfaceRates {
                    rx_bytes_per_sec: rx.round(),
                    tx_bytes_per_sec: tx.round(),
                    rx_packets_per_sec: round2(rx_pps),
                    tx_packets_per_sec: round2(tx_pps),
                    rx_errors_per_sec: 0.0,
                    tx_errors_per_sec: 0.0,
                    rx_drops_per_sec: round2(drops),
                    tx_drops_per_sec: 0.0,
                });
            }
        }

        // Temperatures follow the CPU, in the 0.125 °C steps sensors report.
        if let Some(Section::Ok(t)) = &mut s.thermal {
            let package = ((35.0 + 0.45 * busy + normal(rng)) * 8.0).round() / 8.0;
            for sensor in &mut t.sensors {
                sensor.celsius = if sensor.chip_name == "coretemp" {
                    package
                } else {
                    ((38.0 + 0.05 * busy + 0.5 * normal(rng)) * 8.0).round() / 8.0
                };
            }
            for zone in &mut t.zones {
                zone.celsius = package;
            }
            t.cpu_max_celsius = Some(package);
        }

        // Processes drift around a per-host level.
        if let Some(Section::Ok(p)) = &mut s.processes {
            let total = (self.procs_base + 10.0 * normal(rng)).max(20.0) as u32;
            let running = ((busy / 100.0 * cores) + rng.f64()).round() as u32 + 1;
            let disk_sleep = u32::from(rng.f64() < iowait / 10.0);
            let zombie = u32::from(rng.f64() < 0.02);
            let idle = p.states.idle;
            p.total = total;
            p.threads = u64::from(total) * 4;
            p.states.running = running.min(total);
            p.states.disk_sleep = disk_sleep;
            p.states.zombie = zombie;
            p.states.sleeping = total.saturating_sub(running + disk_sleep + zombie + idle);
            if first {
                p.top_cpu.clear();
            } else if p.top_cpu.is_empty() {
                p.top_cpu = p.top_memory.iter().take(1).cloned().collect();
            }
            let top = round2(busy * cores * 0.4);
            for proc in p.top_cpu.iter_mut().chain(p.top_memory.iter_mut().take(1)) {
                proc.cpu_pct = (!first).then_some(top);
            }
        }

        // Medium tier: uptime and filesystems advance every tick, reported on medium ticks.
        if let Some(sys) = &mut self.system {
            sys.uptime_seconds += dt;
        }
        let mounts = self
            .filesystems
            .iter_mut()
            .flat_map(|f| f.mounts.iter_mut());
        for (m, fill) in mounts.zip(&mut self.fills) {
            let Some(f) = fill else { continue };
            let mut pct_per_sec = f.pct_per_sec;
            if !f.scripted {
                // Mostly a steady trickle; now and then a clean-up frees 1–10 %.
                pct_per_sec *= 1.0 + 0.5 * normal(rng);
                if rng.f64() < dt / (7.0 * 86_400.0) {
                    f.used -= f.usable * (0.01 + 0.09 * rng.f64());
                }
            }
            f.used = (f.used + f.usable * pct_per_sec / 100.0 * dt).clamp(0.0, f.usable);
            let reserve = m.free_bytes.saturating_sub(m.available_bytes);
            m.used_bytes = f.used as u64;
            m.free_bytes = m.size_bytes.saturating_sub(m.used_bytes);
            m.available_bytes = m.free_bytes.saturating_sub(reserve);
            m.used_pct = round2(f.used / f.usable * 100.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Report {
        Report::from_json(TEMPLATE.as_bytes()).unwrap()
    }

    fn decode(json: &[u8]) -> Report {
        Report::from_json(json).expect("the hub's decoder accepts every simulated report")
    }

    fn mount_pct(r: &Report, mount: &str) -> f64 {
        let Some(Section::Ok(fs)) = &r.sections.filesystems else {
            panic!("no filesystems section")
        };
        fs.mounts
            .iter()
            .find(|m| m.mount == mount)
            .unwrap()
            .used_pct
    }

    #[test]
    fn fill_disk_parses_and_rejects_garbage() {
        let f: FillDisk = "loadgen-3:/var:2.5:80".parse().unwrap();
        assert_eq!(
            f,
            FillDisk {
                host: "loadgen-3".into(),
                mount: "/var".into(),
                pct_per_min: 2.5,
                start_pct: Some(80.0)
            }
        );
        let f: FillDisk = "h:/:10".parse().unwrap();
        assert_eq!(f.start_pct, None);
        for bad in [
            "h:/",
            "h:var:1",
            ":/:1",
            "h:/:fast",
            "h:/:1:120",
            "h:/:1:2:3",
        ] {
            assert!(bad.parse::<FillDisk>().is_err(), "{bad}");
        }
    }

    #[test]
    fn reports_are_valid_vary_and_follow_the_agent_rules() {
        let t = template();
        let mut host = SimHost::new(&t, "loadgen-1", 1, 7, 3, &[]).unwrap();
        let mut json = Vec::new();
        let start = 1_795_339_937_104;
        let mut reports = Vec::new();
        let mut samples = Vec::new();
        for i in 0..7 {
            samples.push(host.next_report(start + i * 10_000, &mut json));
            reports.push(decode(&json));
        }
        let first = &reports[0];
        assert_eq!(first.host_id, "loadgen-1");
        assert_eq!(first.seq, 1);
        assert_eq!(first.collected_at, start);
        let Some(Section::Ok(cpu)) = &first.sections.cpu else {
            panic!()
        };
        assert!(cpu.usage.is_none(), "no rates on an instance's first read");
        assert_eq!(cpu.cores.len() as u32, cpu.logical_cores);
        // Medium-tier sections every third tick: 0, 3, 6.
        for (i, r) in reports.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1);
            assert_eq!(r.sections.filesystems.is_some(), i % 3 == 0, "tick {i}");
            assert_eq!(r.sections.system.is_some(), i % 3 == 0, "tick {i}");
            assert_eq!(r.tiers.contains(&Tier::Medium), i % 3 == 0);
            assert_eq!(r.agent.instance_id, first.agent.instance_id);
        }
        // Rates from the second report on; the numbers move.
        let busy: Vec<f64> = reports[1..]
            .iter()
            .map(|r| match &r.sections.cpu {
                Some(Section::Ok(c)) => c.usage.unwrap().busy_pct,
                _ => panic!(),
            })
            .collect();
        assert!(busy.iter().all(|b| (0.0..=100.0).contains(b)));
        assert!(busy.windows(2).any(|w| w[0] != w[1]), "{busy:?}");
        // A full report (rates and medium tier) yields more series than the first one.
        assert!(
            samples[3] > samples[0] && samples[3] > samples[1],
            "{samples:?}"
        );
        let mut points = Vec::new();
        hostwatch_hub::series::points(&reports[3], &mut points);
        assert_eq!(points.len(), samples[3]);
        // Counters never go backwards.
        let ctxt = |r: &Report| match &r.sections.cpu {
            Some(Section::Ok(c)) => c.context_switches_total,
            _ => panic!(),
        };
        assert!(reports.windows(2).all(|w| ctxt(&w[1]) >= ctxt(&w[0])));
    }

    #[test]
    fn hosts_differ_but_a_seed_repeats() {
        let t = template();
        let mut json = Vec::new();
        let mut a = SimHost::new(&t, "a", 1, 1, 1, &[]).unwrap();
        let mut b = SimHost::new(&t, "b", 2, 1, 1, &[]).unwrap();
        let mut a_again = SimHost::new(&t, "a", 1, 1, 1, &[]).unwrap();
        a.next_report(0, &mut json);
        let ra = decode(&json);
        b.next_report(0, &mut json);
        let rb = decode(&json);
        a_again.next_report(0, &mut json);
        assert_eq!(decode(&json), ra);
        assert_ne!(ra.agent.instance_id, rb.agent.instance_id);
        assert_ne!(ra.sections.memory, rb.sections.memory);
    }

    #[test]
    fn a_scripted_disk_fills_at_its_rate_and_stops_at_full() {
        let t = template();
        let fill: FillDisk = "web-1:/:6:80".parse().unwrap();
        let mut host = SimHost::new(&t, "web-1", 4, 1, 1, std::slice::from_ref(&fill)).unwrap();
        let mut json = Vec::new();
        host.next_report(0, &mut json);
        assert_eq!(mount_pct(&decode(&json), "/"), 80.0);
        host.next_report(60_000, &mut json);
        let r = decode(&json);
        assert!(
            (mount_pct(&r, "/") - 86.0).abs() < 0.01,
            "{}",
            mount_pct(&r, "/")
        );
        let Some(Section::Ok(fs)) = &r.sections.filesystems else {
            panic!()
        };
        let root = fs.mounts.iter().find(|m| m.mount == "/").unwrap();
        assert_eq!(root.used_bytes + root.free_bytes, root.size_bytes);
        assert!(
            root.available_bytes < root.free_bytes,
            "ext4 keeps its reserve"
        );
        host.next_report(10 * 60_000, &mut json);
        assert_eq!(mount_pct(&decode(&json), "/"), 100.0);

        // Another host with the same template is not affected, and a wrong mount is refused.
        let mut other = SimHost::new(&t, "web-2", 5, 1, 1, std::slice::from_ref(&fill)).unwrap();
        other.next_report(0, &mut json);
        assert_ne!(mount_pct(&decode(&json), "/"), 80.0);
        let bad: FillDisk = "web-1:/nope:1".parse().unwrap();
        let e = SimHost::new(&t, "web-1", 4, 1, 1, &[bad]).unwrap_err();
        assert!(e.contains("/nope") && e.contains("/rpool/data"), "{e}");
    }
}
