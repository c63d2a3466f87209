//! The built-in rules, on by default, and how each turns a host's samples into values.
//! Thresholds follow seed 004 and common operator practice; `docs/alerts.md` lists them.

use super::matcher::Selector;
use super::rule::{Cmp, Kind, Level, Rule, Scope, Unit};
use crate::notice::Severity;
use crate::series::Point;
use crate::store::{Host, HostStatus};
use std::collections::{BTreeMap, VecDeque};

/// The built-in rules' names, as `[alerts.builtin.NAME]` takes them.
pub const NAMES: &[&str] = &[
    "host_down",
    "cpu_steal",
    "fs_used",
    "fs_projected_full",
    "mem_available",
    "swap_cached",
    "load_per_core",
    "memory_pressure",
    "io_pressure",
    "temperature",
    "spool_dropping",
    // The integrations' (`integrations.rs`).
    "container_unhealthy",
    "container_restarting",
    "unit_inactive",
    "failed_units",
    "check_state",
    "zfs_pool_state",
    "zfs_errors",
    "zfs_scrub_age",
    "smart_failed",
    "smart_sectors",
    "nvme_wear",
    "pve_storage_used",
    "source_failing",
    "job_failed",
    "job_missed",
];

pub(super) fn levels(warning: Option<f64>, critical: Option<f64>) -> Vec<Level> {
    let mut out = Vec::new();
    if let Some(c) = critical {
        out.push(Level {
            severity: Severity::Critical,
            threshold: c,
            clear: c,
        });
    }
    if let Some(w) = warning {
        out.push(Level {
            severity: Severity::Warning,
            threshold: w,
            clear: w,
        });
    }
    out
}

/// A built-in rule with default scope and no routing labels (the integrations' rules too).
#[allow(clippy::too_many_arguments)]
pub(super) fn rule(
    name: &str,
    kind: Kind,
    cmp: Cmp,
    warning: Option<f64>,
    critical: Option<f64>,
    for_secs: i64,
    unit: Unit,
    summary: &str,
) -> Rule {
    Rule {
        name: name.into(),
        kind,
        cmp,
        levels: levels(warning, critical),
        for_ms: for_secs * 1000,
        labels: BTreeMap::new(),
        scope: Scope::default(),
        summary: summary.into(),
        unit,
        disabled: false,
        builtin: true,
    }
}

fn series(name: &str) -> Kind {
    Kind::Series(Selector {
        name: name.into(),
        matchers: Vec::new(),
    })
}

/// 200 MiB of SwapCached: seed 004's early-warning level.
pub const SWAP_CACHED_WARNING_BYTES: f64 = 200.0 * 1024.0 * 1024.0;

/// The built-in rules with their defaults.
pub fn rules() -> Vec<Rule> {
    use Cmp::{Gt, Lt};
    let mut all = vec![
        // The heartbeat already waits 3 intervals (at least 60 s) before calling a host down.
        rule(
            "host_down",
            Kind::HostDown,
            Gt,
            None,
            Some(0.0),
            0,
            Unit::Seconds,
            "{host} is down: no report for {value}",
        ),
        rule(
            "cpu_steal",
            series("cpu.steal_pct"),
            Gt,
            Some(5.0),
            Some(15.0),
            300,
            Unit::Pct,
            "CPU steal on {host} is {value} ({severity} above {threshold} for 5 min): the hypervisor is short of CPU",
        ),
        rule(
            "fs_used",
            series("fs.used_pct"),
            Gt,
            Some(85.0),
            Some(95.0),
            300,
            Unit::Pct,
            "{mount} on {host} is {value} full ({severity} above {threshold})",
        ),
        rule(
            "fs_projected_full",
            Kind::FsProjection { min_fit: 0.8 },
            Lt,
            Some(7.0),
            None,
            0,
            Unit::Days,
            "{mount} on {host} is projected full in {value} ({severity} below {threshold})",
        ),
        rule(
            "mem_available",
            Kind::MemAvailablePct,
            Lt,
            Some(10.0),
            Some(5.0),
            300,
            Unit::Pct,
            "{host} has {value} of its memory available ({severity} below {threshold})",
        ),
        rule(
            "swap_cached",
            Kind::SwapCached,
            Gt,
            Some(SWAP_CACHED_WARNING_BYTES),
            None,
            600,
            Unit::Bytes,
            "{host} is swapping: {value} of swapped-out memory was read back in (SwapCached, {severity} above {threshold})",
        ),
        rule(
            "load_per_core",
            Kind::LoadPerCore,
            Gt,
            Some(2.0),
            None,
            600,
            Unit::Plain,
            "load on {host} is {value} per core ({severity} above {threshold} for 10 min)",
        ),
        rule(
            "memory_pressure",
            series("psi.memory_some_avg60_pct"),
            Gt,
            Some(10.0),
            Some(30.0),
            300,
            Unit::Pct,
            "tasks on {host} waited on memory {value} of the last minute (PSI some, {severity} above {threshold})",
        ),
        rule(
            "io_pressure",
            series("psi.io_some_avg60_pct"),
            Gt,
            Some(30.0),
            Some(60.0),
            300,
            Unit::Pct,
            "tasks on {host} waited on I/O {value} of the last minute (PSI some, {severity} above {threshold})",
        ),
        rule(
            "temperature",
            Kind::Temperature,
            Gt,
            Some(80.0),
            Some(95.0),
            120,
            Unit::Celsius,
            "{sensor} ({chip}) on {host} is at {value} ({severity} above {threshold})",
        ),
        rule(
            "spool_dropping",
            Kind::SpoolDropping {
                window_ms: 15 * 60_000,
            },
            Gt,
            Some(0.0),
            None,
            0,
            Unit::Plain,
            "the agent on {host} dropped {value} reports from its full spool in the last 15 min: history is being lost",
        ),
    ];
    all.extend(super::integrations::rules());
    all
}

/// A host's latest merged state as series, at the report's collection time.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub at: i64,
    pub points: Vec<Point>,
}

impl Samples {
    /// The value of an unlabelled series.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.points
            .iter()
            .find(|p| p.key.name == name && p.key.labels.is_empty())
            .map(|p| p.value)
    }

    fn labelled<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Point> + 'a {
        self.points.iter().filter(move |p| p.key.name == name)
    }
}

/// A filesystem's projection from the trend fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsProjection {
    /// When the fit reaches 100 % used, unix ms; `None` when it is not filling.
    pub full_at: Option<i64>,
    /// The fit's r² (0–1): how well a line explains the week.
    pub fit: f64,
}

/// Everything a rule may look at for one host in one evaluation.
#[derive(Debug)]
pub struct HostInput<'a> {
    pub host: &'a Host,
    pub now: i64,
    /// The latest state's series, only when it is newer than the last evaluation.
    pub samples: Option<&'a Samples>,
    /// Reports the spool dropped within the window, from [`SpoolHistory`].
    pub spool_dropped: Option<f64>,
    /// Projections per mount.
    pub projections: &'a [(String, FsProjection)],
    /// The latest merged report, only when it is newer than the last evaluation (as
    /// `samples`), for the rules that read typed sections.
    pub report: Option<&'a hostwatch_proto::Report>,
    /// Restarts per container within the `container_restarting` window, with its state.
    pub restarts: &'a [(String, f64, String)],
    /// The host's jobs, when job rules are on.
    pub jobs: Option<&'a [super::jobs::JobFacts]>,
}

/// One value a rule judges: an alert instance's labels, its value, and for sensors that
/// give their own limits, the levels to use instead of the rule's.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub own_levels: Option<Vec<Level>>,
    /// More placeholders for the summary (a check's status line, a unit's state): what
    /// people read, not part of the alert's identity.
    pub info: BTreeMap<String, String>,
}

fn signal(labels: BTreeMap<String, String>, value: f64) -> Signal {
    Signal {
        labels,
        value,
        own_levels: None,
        info: BTreeMap::new(),
    }
}

fn key_labels(p: &Point) -> BTreeMap<String, String> {
    p.key
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The values `kind` judges for this host now, and the time they are from. `None`: nothing
/// new to judge (no report since the last evaluation).
pub fn signals(kind: &Kind, input: &HostInput<'_>) -> Option<(i64, Vec<Signal>)> {
    if let Some(judged) = super::integrations::signals(kind, input) {
        return judged;
    }
    if let Kind::HostDown = kind {
        let down = input.host.status == HostStatus::Down;
        let silent = input
            .host
            .last_seen
            .map(|l| (input.now - l) as f64 / 1000.0)
            .unwrap_or(0.0);
        let out = if down {
            vec![signal(BTreeMap::new(), silent)]
        } else {
            Vec::new()
        };
        return Some((input.now, out));
    }
    let s = input.samples?;
    let one = |v: Option<f64>| v.map(|v| signal(BTreeMap::new(), v)).into_iter().collect();
    let out: Vec<Signal> = match kind {
        Kind::HostDown
        | Kind::Report(_)
        | Kind::ContainerRestarts { .. }
        | Kind::JobFailed
        | Kind::JobMissed => Vec::new(),
        Kind::Series(sel) => s
            .points
            .iter()
            .filter(|p| sel.matches(p.key.name, &p.key.labels))
            .map(|p| signal(key_labels(p), p.value))
            .collect(),
        Kind::MemAvailablePct => one(s
            .get("mem.available_bytes")
            .zip(s.get("mem.total_bytes"))
            .filter(|(_, total)| *total > 0.0)
            .map(|(a, total)| a / total * 100.0)),
        // Swap in use with high SwapCached: SwapCached counts pages that were swapped out and
        // have been read back in (still holding their swap slot). Only while swap is in use
        // (`swap.used_bytes > 0`), the value is `swap.cached_bytes`: seed 004 flags above
        // 200 MiB as the early sign of swap pressure, even when swap use looks modest.
        Kind::SwapCached => one(s
            .get("swap.cached_bytes")
            .zip(s.get("swap.used_bytes"))
            .filter(|(_, used)| *used > 0.0)
            .map(|(cached, _)| cached)),
        Kind::LoadPerCore => one(s
            .get("load.load1")
            .zip(s.get("cpu.logical_cores"))
            .filter(|(_, cores)| *cores > 0.0)
            .map(|(l, cores)| l / cores)),
        Kind::Temperature => s
            .labelled("temp.sensor_celsius")
            .map(|p| {
                let limit = |name: &str| {
                    s.labelled(name)
                        .find(|q| q.key.labels == p.key.labels)
                        .map(|q| q.value)
                        .filter(|v| *v > 0.0)
                };
                let own = match (
                    limit("temp.sensor_max_celsius"),
                    limit("temp.sensor_crit_celsius"),
                ) {
                    (None, None) => None,
                    (high, crit) => Some(levels(high, crit)),
                };
                Signal {
                    labels: key_labels(p),
                    value: p.value,
                    own_levels: own,
                    info: BTreeMap::new(),
                }
            })
            .collect(),
        Kind::SpoolDropping { .. } => one(input.spool_dropped),
        Kind::FsProjection { min_fit } => input
            .projections
            .iter()
            .filter(|(_, p)| p.fit >= *min_fit)
            .filter_map(|(mount, p)| {
                let days = (p.full_at? - s.at) as f64 / 86_400_000.0;
                Some(signal(
                    [("mount".to_string(), mount.clone())].into(),
                    days.max(0.0),
                ))
            })
            .collect(),
    };
    Some((s.at, out))
}

/// A host's `agent.spool_dropped_total` over time, to count drops within a window. The
/// counter restarts with the agent; a drop in the counter starts a new history.
#[derive(Debug, Clone, Default)]
pub struct SpoolHistory {
    seen: VecDeque<(i64, f64)>,
}

impl SpoolHistory {
    /// Records the counter at `at`; returns how many reports were dropped since the oldest
    /// reading within `window_ms` (0 with a single reading).
    pub fn observe(&mut self, at: i64, total: f64, window_ms: i64) -> f64 {
        if self.seen.back().is_some_and(|&(_, last)| total < last) {
            self.seen.clear();
        }
        if self.seen.back().is_none_or(|&(t, _)| at > t) {
            self.seen.push_back((at, total));
        }
        // Keep one reading at or before the window's start, as the baseline.
        while self.seen.len() > 1 && self.seen[1].0 <= at - window_ms {
            self.seen.pop_front();
        }
        let base = self.seen.front().map(|&(_, v)| v).unwrap_or(total);
        (total - base).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::SeriesKey;

    fn point(name: &'static str, labels: &[(&'static str, &str)], value: f64) -> Point {
        Point {
            key: SeriesKey {
                name,
                labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            },
            value,
        }
    }

    fn host() -> Host {
        Host {
            id: 1,
            name: "web-1".into(),
            created_at: 0,
            interval_seconds: None,
            status: HostStatus::Up,
            status_since: 0,
            last_seen: Some(0),
            expected_interval: Some(10),
            tags: vec![],
        }
    }

    fn kind(name: &str) -> Kind {
        rules().into_iter().find(|r| r.name == name).unwrap().kind
    }

    #[test]
    fn derived_values_come_from_the_named_series() {
        let h = host();
        let s = Samples {
            at: 1000,
            points: vec![
                point("mem.available_bytes", &[], 1.0e9),
                point("mem.total_bytes", &[], 8.0e9),
                point("swap.cached_bytes", &[], 3.0e8),
                point("swap.used_bytes", &[], 1.0e9),
                point("load.load1", &[], 10.0),
                point("cpu.logical_cores", &[], 4.0),
                point(
                    "temp.sensor_celsius",
                    &[("chip", "k10"), ("sensor", "Tctl")],
                    70.0,
                ),
                point(
                    "temp.sensor_max_celsius",
                    &[("chip", "k10"), ("sensor", "Tctl")],
                    65.0,
                ),
                point(
                    "temp.sensor_celsius",
                    &[("chip", "nvme"), ("sensor", "C")],
                    50.0,
                ),
            ],
        };
        let input = HostInput {
            host: &h,
            now: 5000,
            samples: Some(&s),
            spool_dropped: Some(3.0),
            projections: &[
                (
                    "/var".into(),
                    FsProjection {
                        full_at: Some(1000 + 3 * 86_400_000),
                        fit: 0.95,
                    },
                ),
                (
                    "/noisy".into(),
                    FsProjection {
                        full_at: Some(1000 + 86_400_000),
                        fit: 0.3,
                    },
                ),
            ],
            report: None,
            restarts: &[],
            jobs: None,
        };
        let values = |k: &str| signals(&kind(k), &input).unwrap().1;
        assert_eq!(values("mem_available")[0].value, 12.5);
        assert_eq!(values("swap_cached")[0].value, 3.0e8);
        assert_eq!(values("load_per_core")[0].value, 2.5);
        assert_eq!(values("spool_dropping")[0].value, 3.0);
        let temps = values("temperature");
        assert_eq!(temps.len(), 2);
        assert_eq!(
            temps[0].own_levels.as_deref(),
            Some(&levels(Some(65.0), None)[..])
        );
        assert_eq!(temps[1].own_levels, None);
        let proj = values("fs_projected_full");
        assert_eq!(proj.len(), 1, "a poor fit does not count");
        assert_eq!(proj[0].labels["mount"], "/var");
        assert_eq!(proj[0].value, 3.0);
        // No swap in use: no swap signal, however large SwapCached.
        let mut s2 = s.clone();
        s2.points[3].value = 0.0;
        let input2 = HostInput {
            samples: Some(&s2),
            ..input
        };
        assert!(signals(&kind("swap_cached"), &input2).unwrap().1.is_empty());
        // Nothing new: no judgement for series rules, but host_down is judged on the clock.
        let idle = HostInput {
            samples: None,
            ..input
        };
        assert!(signals(&kind("fs_used"), &idle).is_none());
        assert_eq!(signals(&kind("host_down"), &idle), Some((5000, vec![])));
    }

    #[test]
    fn spool_drops_count_within_the_window_and_survive_agent_restarts() {
        let mut h = SpoolHistory::default();
        let w = 900_000;
        assert_eq!(h.observe(0, 10.0, w), 0.0);
        assert_eq!(h.observe(60_000, 10.0, w), 0.0);
        assert_eq!(h.observe(120_000, 14.0, w), 4.0);
        assert_eq!(h.observe(900_000, 14.0, w), 4.0);
        // 15 min after the drop, the window no longer holds it.
        assert_eq!(h.observe(1_020_000, 14.0, w), 0.0);
        // The agent restarted: its counter starts again.
        assert_eq!(h.observe(1_080_000, 2.0, w), 0.0);
        assert_eq!(h.observe(1_140_000, 5.0, w), 3.0);
        // An older reading changes nothing.
        assert_eq!(h.observe(1_000, 5.0, w), 3.0);
    }
}
