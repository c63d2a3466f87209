//! The health score: 0–100 per host and for the fleet, from named dimensions with weights
//! (seed 004's score card by default), each with its points and the reason for them, e.g.
//! "steal 8.2 % avg over 1 h → 10/20".
//!
//! Scores are cached in [`ScoreCache`] and recomputed by a background task (every
//! `[score] recompute_seconds`), so an overview of every host costs a map lookup, not a series
//! scan per host per page load. Filesystem projections, which read a week of rollups, are
//! reused for an hour.

use crate::hub::Hub;
use crate::store::{DAY_MS, Host, HostStatus, Store, StoreError};
use crate::trend::{self, Projection, fmt_pct};
use hostwatch_proto::{JobRun, Report, Section};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

/// `[score]` in the hub's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreConfig {
    pub weights: Weights,
    /// How the fleet's score combines its hosts'.
    pub fleet: FleetMode,
    /// How often the cached scores are recomputed.
    pub recompute_seconds: u32,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            weights: Weights::default(),
            fleet: FleetMode::Average,
            recompute_seconds: 60,
        }
    }
}

/// Points per dimension; they must add up to 100. A weight of 0 leaves a dimension out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub cpu: f64,
    pub memory: f64,
    pub disk: f64,
    pub services: f64,
    pub maintenance: f64,
    pub headroom: f64,
}

impl Default for Weights {
    /// Seed 004's score card: 20 / 20 / 15 / 20 / 15 / 10.
    fn default() -> Self {
        Weights {
            cpu: 20.0,
            memory: 20.0,
            disk: 15.0,
            services: 20.0,
            maintenance: 15.0,
            headroom: 10.0,
        }
    }
}

impl Weights {
    fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("cpu", self.cpu),
            ("memory", self.memory),
            ("disk", self.disk),
            ("services", self.services),
            ("maintenance", self.maintenance),
            ("headroom", self.headroom),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetMode {
    /// Every host counts the same.
    Average,
    /// A host counts more the worse it is (weight `1 + (100 − score) / 25`: a host at 0
    /// counts five times a perfect one), so a few sick hosts show in a large fleet.
    Weighted,
}

impl ScoreConfig {
    /// The first problem, naming its key.
    pub fn validate(&self) -> Result<(), String> {
        let mut sum = 0.0;
        for (name, w) in self.weights.named() {
            if !w.is_finite() || w < 0.0 {
                return Err(format!(
                    "key `score.weights.{name}`: must be a number of points >= 0, got {w}"
                ));
            }
            sum += w;
        }
        if (sum - 100.0).abs() > 1e-6 {
            return Err(format!(
                "key `score.weights`: the weights must add up to 100, they add up to {}",
                fmt_pct(sum)
            ));
        }
        if self.recompute_seconds == 0 {
            return Err("key `score.recompute_seconds`: must be positive".into());
        }
        Ok(())
    }
}

/// One dimension's share of a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dimension {
    /// `cpu`, `memory`, `disk`, `services`, `maintenance`, `headroom`.
    pub name: &'static str,
    /// "CPU efficiency", for people.
    pub title: &'static str,
    pub points: f64,
    pub max: f64,
    /// What the points are for: "steal 8.2 % avg over 1 h → 10/20".
    pub reason: String,
    /// Whether the dimension had data (without it, it gets full points).
    pub has_data: bool,
}

/// A host's score with its breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostScore {
    pub host: String,
    /// 0–100.
    pub score: f64,
    pub status: HostStatus,
    /// Set when the total is not the sum of the dimensions (a host that is down scores 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub dimensions: Vec<Dimension>,
    /// When it was computed, unix ms.
    pub computed_at: i64,
    /// The filesystem projections the disk dimension used.
    pub projections: Vec<Projection>,
}

/// Services reported by the latest report's containers, systemd units and checks sections;
/// each `None` when the host does not report that section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceFacts {
    pub unhealthy_containers: Option<Vec<String>>,
    pub failed_units: Option<Vec<String>>,
    pub failing_checks: Option<Vec<String>>,
}

impl ServiceFacts {
    /// From the report's containers, systemd and checks sections: containers whose health
    /// is `unhealthy`, units in the `failed` state (the whole system's, not only the
    /// configured ones), and checks not OK. A section that failed counts as no data.
    pub fn of(report: &Report) -> ServiceFacts {
        let s = &report.sections;
        ServiceFacts {
            unhealthy_containers: s.containers.as_ref().and_then(|c| c.ok()).map(|c| {
                c.containers
                    .iter()
                    .filter(|c| c.health.as_ref().is_some_and(|h| h.status == "unhealthy"))
                    .map(|c| c.name.clone())
                    .collect()
            }),
            failed_units: s
                .systemd
                .as_ref()
                .and_then(|d| d.ok())
                .map(|d| d.failed_unit_names.clone()),
            failing_checks: s.checks.as_ref().and_then(|c| c.ok()).map(|c| {
                c.checks
                    .iter()
                    .filter(|c| c.state != hostwatch_proto::sections::CheckState::Ok)
                    .map(|c| c.name.clone())
                    .collect()
            }),
        }
    }
}

/// A job's latest run, for the maintenance dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestRun {
    pub job: String,
    pub started_at: i64,
    pub succeeded: bool,
    /// "exit 1", "killed by signal 9", "timed out", "could not start: …".
    pub outcome: String,
}

impl LatestRun {
    /// The newest run of each job among `runs` (any order), by job name.
    pub fn of(runs: &[JobRun]) -> Vec<LatestRun> {
        let mut by_job: BTreeMap<&str, &JobRun> = BTreeMap::new();
        for r in runs {
            let slot = by_job.entry(&r.job).or_insert(r);
            if r.started_at > slot.started_at {
                *slot = r;
            }
        }
        by_job
            .into_values()
            .map(|r| LatestRun {
                job: r.job.clone(),
                started_at: r.started_at,
                succeeded: r.succeeded(),
                outcome: describe_outcome(&r.outcome),
            })
            .collect()
    }
}

pub fn describe_outcome(o: &hostwatch_proto::JobOutcome) -> String {
    use hostwatch_proto::JobOutcome::*;
    match o {
        Exited(code) => format!("exit {code}"),
        Signaled(sig) => format!("killed by signal {sig}"),
        FailedToStart(why) => format!("could not start: {why}"),
        TimedOut => "timed out".into(),
    }
}

/// Everything a host's score is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// `cpu.steal_pct` averaged over the last hour.
    pub steal_avg_1h: Option<f64>,
    /// `cpu.busy_pct` averaged over the last hour.
    pub busy_avg_1h: Option<f64>,
    /// `mem.used_pct` averaged over the last hour.
    pub mem_used_avg_1h: Option<f64>,
    /// From the latest report.
    pub swap_used_bytes: Option<u64>,
    pub swap_cached_bytes: Option<u64>,
    /// The fullest filesystem of the latest report: mount and used %.
    pub fullest: Option<(String, f64)>,
    /// Filesystem projections.
    pub projections: Vec<Projection>,
    pub services: ServiceFacts,
    pub jobs: Vec<LatestRun>,
}

/// SwapCached above this with swap in use: the host is paging (seed 004's early warning).
pub const SWAP_PRESSURE_CACHED_BYTES: u64 = 200 * 1024 * 1024;

/// The level a value falls in: the first `(limit, fraction)` whose test passes, else `last`.
fn level(pass: impl Fn(f64) -> bool, steps: &[(f64, f64)], last: f64) -> f64 {
    steps
        .iter()
        .find(|(limit, _)| pass(*limit))
        .map_or(last, |s| s.1)
}

fn points_of(weight: f64, fraction: f64) -> f64 {
    (weight * fraction * 10.0).round() / 10.0
}

fn dimension(
    name: &'static str,
    title: &'static str,
    weight: f64,
    fraction: f64,
    what: String,
    has_data: bool,
) -> Dimension {
    let points = points_of(weight, fraction);
    Dimension {
        name,
        title,
        points,
        max: weight,
        reason: format!("{what} → {}/{}", fmt_pct(points), fmt_pct(weight)),
        has_data,
    }
}

fn no_data(what: &str) -> String {
    format!("{what} (no data, full points)")
}

/// CPU efficiency from steal: < 2 % full, < 5 % ¾, < 10 % ½, else ¼ (seed: 20/15/10/5).
pub fn cpu(weight: f64, steal: Option<f64>) -> Dimension {
    let title = "CPU efficiency";
    match steal {
        None => dimension(
            "cpu",
            title,
            weight,
            1.0,
            no_data("no CPU steal in the last hour"),
            false,
        ),
        Some(s) => {
            let f = level(|l| s < l, &[(2.0, 1.0), (5.0, 0.75), (10.0, 0.5)], 0.25);
            dimension(
                "cpu",
                title,
                weight,
                f,
                format!("steal {s:.1} % avg over 1 h"),
                true,
            )
        }
    }
}

/// Memory pressure from the available share (100 − used %, 1-hour average): above 20 % full,
/// above 10 % ¾, above 5 % ¼, else 0 (seed: 20/15/5/0); swap pressure (swap in use with
/// SwapCached above 200 MiB) caps it at ¾.
pub fn memory(
    weight: f64,
    used_avg: Option<f64>,
    swap_used: Option<u64>,
    swap_cached: Option<u64>,
) -> Dimension {
    let title = "Memory pressure";
    let Some(used) = used_avg else {
        return dimension(
            "memory",
            title,
            weight,
            1.0,
            no_data("no memory figures in the last hour"),
            false,
        );
    };
    let available = (100.0 - used).max(0.0);
    let mut f = level(
        |l| available > l,
        &[(20.0, 1.0), (10.0, 0.75), (5.0, 0.25)],
        0.0,
    );
    let mut what = format!("{available:.1} % available avg over 1 h");
    if let (Some(swapped), Some(cached)) = (swap_used, swap_cached)
        && swapped > 0
        && cached > SWAP_PRESSURE_CACHED_BYTES
    {
        f = f.min(0.75);
        what.push_str(&format!(
            "; swap pressure: {} swapped, {} SwapCached",
            bytes(swapped),
            bytes(cached)
        ));
    }
    dimension("memory", title, weight, f, what, true)
}

/// Disk health from the fullest filesystem: < 70 % full, < 85 % ⅔, < 95 % ⅓, else 0
/// (seed: 15/10/5/0, with the alert thresholds 85/95 instead of the seed's 40/55/70 for one
/// VM); a filesystem projected to reach its first threshold within 7 days caps it at ⅓,
/// within 30 days at ⅔.
pub fn disk(weight: f64, fullest: Option<&(String, f64)>, projections: &[Projection]) -> Dimension {
    let title = "Disk health";
    let Some((mount, used)) = fullest else {
        return dimension(
            "disk",
            title,
            weight,
            1.0,
            no_data("no filesystems reported"),
            false,
        );
    };
    let mut f = level(
        |l| *used < l,
        &[(70.0, 1.0), (85.0, 2.0 / 3.0), (95.0, 1.0 / 3.0)],
        0.0,
    );
    let mut what = format!("fullest {mount} {used:.1} % used");
    let soonest = projections
        .iter()
        .filter_map(|p| p.reaches.map(|r| (p, r)))
        .min_by(|a, b| a.1.days.total_cmp(&b.1.days));
    if let Some((p, r)) = soonest
        && r.days <= 30.0
    {
        f = f.min(if r.days <= 7.0 { 1.0 / 3.0 } else { 2.0 / 3.0 });
        what.push_str(&format!(
            "; {} reaches {} % in {:.0} days",
            p.subject(),
            fmt_pct(r.threshold_pct),
            r.days.floor()
        ));
    }
    dimension("disk", title, weight, f, what, true)
}

/// Service health from unhealthy containers + failed units + failing checks: none full,
/// 1–2 ¾, 3–5 0.4, 6+ 0.1 (seed: 20/15/8/2). Sections a host does not report count as none.
pub fn services(weight: f64, facts: &ServiceFacts) -> Dimension {
    let title = "Service health";
    let parts = [
        ("unhealthy container", &facts.unhealthy_containers),
        ("failed unit", &facts.failed_units),
        ("failing check", &facts.failing_checks),
    ];
    if parts.iter().all(|(_, v)| v.is_none()) {
        return dimension(
            "services",
            title,
            weight,
            1.0,
            no_data("no containers, units or checks reported"),
            false,
        );
    }
    let mut problems = 0;
    let mut said = Vec::new();
    let mut missing = Vec::new();
    for (label, v) in parts {
        match v {
            Some(names) => {
                problems += names.len();
                let n = names.len();
                let plural = if n == 1 { "" } else { "s" };
                if n > 0 && names.iter().all(|x| !x.starts_with('#')) {
                    said.push(format!("{n} {label}{plural} ({})", names.join(", ")));
                } else {
                    said.push(format!("{n} {label}{plural}"));
                }
            }
            None => missing.push(match label {
                "unhealthy container" => "containers",
                "failed unit" => "units",
                _ => "checks",
            }),
        }
    }
    let f = match problems {
        0 => 1.0,
        1..=2 => 0.75,
        3..=5 => 0.4,
        _ => 0.1,
    };
    let mut what = said.join(", ");
    if !missing.is_empty() {
        what.push_str(&format!("; {}: no data", missing.join(", ")));
    }
    dimension("services", title, weight, f, what, true)
}

/// Maintenance from job runs: any job whose latest run failed 0; otherwise the newest run
/// < 7 days ago full, < 30 days 8/15, else 0 (seed: 15/8/0). No jobs recorded: full points.
pub fn maintenance(weight: f64, jobs: &[LatestRun], now: i64) -> Dimension {
    let title = "Maintenance";
    if jobs.is_empty() {
        return dimension(
            "maintenance",
            title,
            weight,
            1.0,
            no_data("no job runs recorded"),
            false,
        );
    }
    let failed: Vec<&LatestRun> = jobs.iter().filter(|j| !j.succeeded).collect();
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|j| {
                format!(
                    "`{}` ({}, {} ago)",
                    j.job,
                    j.outcome,
                    ago(now - j.started_at)
                )
            })
            .collect();
        let what = format!(
            "latest run failed: {} of {} job{}: {}",
            failed.len(),
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" },
            list.join(", ")
        );
        return dimension("maintenance", title, weight, 0.0, what, true);
    }
    let newest = jobs.iter().map(|j| j.started_at).max().unwrap_or(now);
    let age = now - newest;
    let f = if age < 7 * DAY_MS {
        1.0
    } else if age < 30 * DAY_MS {
        8.0 / 15.0
    } else {
        0.0
    };
    let what = format!(
        "{} job{}, every latest run succeeded, newest {} ago",
        jobs.len(),
        if jobs.len() == 1 { "" } else { "s" },
        ago(age)
    );
    dimension("maintenance", title, weight, f, what, true)
}

/// Headroom from CPU busy (1-hour average): < 50 % full, < 70 % 0.7, < 85 % 0.4, else 0.1
/// (seed's "readiness" for more work: 10/7/4/1).
pub fn headroom(weight: f64, busy: Option<f64>) -> Dimension {
    let title = "Headroom";
    match busy {
        None => dimension(
            "headroom",
            title,
            weight,
            1.0,
            no_data("no CPU figures in the last hour"),
            false,
        ),
        Some(b) => {
            let f = level(|l| b < l, &[(50.0, 1.0), (70.0, 0.7), (85.0, 0.4)], 0.1);
            dimension(
                "headroom",
                title,
                weight,
                f,
                format!("CPU {b:.1} % busy avg over 1 h"),
                true,
            )
        }
    }
}

/// The score of one host from its inputs.
pub fn score(
    host: &str,
    status: HostStatus,
    inputs: Inputs,
    weights: &Weights,
    now: i64,
) -> HostScore {
    let dimensions = vec![
        cpu(weights.cpu, inputs.steal_avg_1h),
        memory(
            weights.memory,
            inputs.mem_used_avg_1h,
            inputs.swap_used_bytes,
            inputs.swap_cached_bytes,
        ),
        disk(weights.disk, inputs.fullest.as_ref(), &inputs.projections),
        services(weights.services, &inputs.services),
        maintenance(weights.maintenance, &inputs.jobs, now),
        headroom(weights.headroom, inputs.busy_avg_1h),
    ];
    let sum: f64 = dimensions.iter().map(|d| d.points).sum();
    let (score, note) = match status {
        HostStatus::Down => (0.0, Some("the host is down: score 0".to_string())),
        _ => ((sum * 10.0).round() / 10.0, None),
    };
    HostScore {
        host: host.to_string(),
        score,
        status,
        note,
        dimensions,
        computed_at: now,
        projections: inputs.projections,
    }
}

fn bytes(b: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let b = b as f64;
    if b >= 1024.0 * MIB {
        format!("{:.1} GiB", b / (1024.0 * MIB))
    } else {
        format!("{:.0} MiB", b / MIB)
    }
}

/// "5 min", "3 h", "2 days".
pub fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 2 * 86_400 {
        format!("{} h", s / 3600)
    } else {
        format!("{} days", s / 86_400)
    }
}

/// Gathers a host's inputs from the store; `projections` when already known (cached).
pub async fn inputs<S: Store>(
    hub: &Hub<S>,
    host: &Host,
    now: i64,
    projections: Option<Vec<Projection>>,
) -> Result<Inputs, StoreError> {
    use crate::recent::Figure;
    let store = &hub.store;
    // The last hour is in memory (`crate::recent`): reading it from the store would decode
    // every report of the hour, for every host on every pass.
    let mean = |figure| hub.recent.mean(host.id, figure, now);
    let (steal, busy, mem) = (
        mean(Figure::CpuSteal),
        mean(Figure::CpuBusy),
        mean(Figure::MemUsed),
    );
    let latest = store.latest_shared(host.id).await?;
    let mut inputs = Inputs {
        steal_avg_1h: steal,
        busy_avg_1h: busy,
        mem_used_avg_1h: mem,
        ..Inputs::default()
    };
    if let Some(r) = &latest {
        if let Some(Section::Ok(m)) = &r.sections.memory {
            inputs.swap_used_bytes = Some(m.swap_used_bytes);
            inputs.swap_cached_bytes = Some(m.swap_cached_bytes);
            // A host without history yet still has a current figure.
            inputs.mem_used_avg_1h = inputs.mem_used_avg_1h.or(Some(m.used_pct));
        }
        if let Some(Section::Ok(fs)) = &r.sections.filesystems {
            inputs.fullest = fs
                .mounts
                .iter()
                .filter(|m| m.error.is_none())
                .max_by(|a, b| a.used_pct.total_cmp(&b.used_pct))
                .map(|m| (m.mount.clone(), m.used_pct));
        }
        inputs.services = ServiceFacts::of(r);
    }
    inputs.projections = match projections {
        Some(p) => p,
        None => trend::project_filesystems(store, host.id, now, &hub.config.trend).await?,
    };
    inputs.jobs = LatestRun::of(&store.job_runs(host.id, None, 500).await?);
    Ok(inputs)
}

/// Projections are reused this long: a week's line does not move in minutes.
pub const PROJECTIONS_FRESH_MS: i64 = 3_600_000;

/// The latest score of every host, recomputed in the background.
#[derive(Debug, Default)]
pub struct ScoreCache {
    scores: RwLock<HashMap<String, HostScore>>,
    /// Per host: the projections and when they were computed.
    projections: RwLock<HashMap<String, (i64, Vec<Projection>)>>,
}

impl ScoreCache {
    /// Every cached score, by host name.
    pub fn all(&self) -> Vec<HostScore> {
        let mut v: Vec<HostScore> = self
            .scores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.host.cmp(&b.host));
        v
    }

    pub fn get(&self, host: &str) -> Option<HostScore> {
        self.scores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .cloned()
    }

    fn fresh_projections(&self, host: &str, now: i64) -> Option<Vec<Projection>> {
        self.projections
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .filter(|(at, _)| (now - at).abs() < PROJECTIONS_FRESH_MS)
            .map(|(_, p)| p.clone())
    }
}

/// Computes one host's score now (reusing fresh projections) and caches it.
pub async fn compute<S: Store>(
    hub: &Hub<S>,
    host: &Host,
    now: i64,
) -> Result<HostScore, StoreError> {
    let cached = hub.scores.fresh_projections(&host.name, now);
    let reused = cached.is_some();
    let inputs = inputs(hub, host, now, cached).await?;
    if !reused {
        hub.scores
            .projections
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.name.clone(), (now, inputs.projections.clone()));
    }
    let s = score(
        &host.name,
        host.status,
        inputs,
        &hub.config.score.weights,
        now,
    );
    hub.scores
        .scores
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(host.name.clone(), s.clone());
    Ok(s)
}

/// Recomputes every host's score; drops hosts that are gone. Returns how many were scored.
pub async fn refresh<S: Store>(hub: &Hub<S>, now: i64) -> Result<usize, StoreError> {
    let hosts = hub.store.hosts().await?;
    for (i, host) in hosts.iter().enumerate() {
        // Cached inputs answer without waiting: give the runtime's other tasks a turn.
        if i % crate::alert::YIELD_EVERY_HOSTS == crate::alert::YIELD_EVERY_HOSTS - 1 {
            tokio::task::yield_now().await;
        }
        if let Err(e) = compute(hub, host, now).await {
            tracing::error!(host = %host.name, error = %e, "scoring failed");
        }
    }
    let names: std::collections::HashSet<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    hub.scores
        .scores
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|k, _| names.contains(k.as_str()));
    hub.scores
        .projections
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|k, _| names.contains(k.as_str()));
    Ok(hosts.len())
}

/// Recomputes every `[score] recompute_seconds` until the task is dropped.
pub async fn run<S: Store>(hub: std::sync::Arc<Hub<S>>) {
    let every = std::time::Duration::from_secs(u64::from(hub.config.score.recompute_seconds));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = refresh(&hub, crate::hub::now_ms()).await {
            tracing::error!(error = %e, "score refresh failed");
        }
    }
}

/// A host among the worst, for the fleet view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worst {
    pub host: String,
    pub score: f64,
    /// The dimension that lost the most points, with its reason (or the note).
    pub why: String,
}

/// The fleet's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetScore {
    /// 0–100; `None` with no hosts scored.
    pub score: Option<f64>,
    pub mode: FleetMode,
    pub hosts: usize,
    /// Up to five, worst first.
    pub worst: Vec<Worst>,
}

/// Combines host scores into the fleet's.
pub fn fleet(scores: &[HostScore], mode: FleetMode) -> FleetScore {
    let weight = |s: f64| match mode {
        FleetMode::Average => 1.0,
        FleetMode::Weighted => 1.0 + (100.0 - s) / 25.0,
    };
    let (sum, total) = scores.iter().fold((0.0, 0.0), |(sum, total), h| {
        let w = weight(h.score);
        (sum + w * h.score, total + w)
    });
    let mut sorted: Vec<&HostScore> = scores.iter().collect();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score).then(a.host.cmp(&b.host)));
    FleetScore {
        score: (total > 0.0).then(|| (sum / total * 10.0).round() / 10.0),
        mode,
        hosts: scores.len(),
        worst: sorted
            .into_iter()
            .filter(|h| h.score < 100.0)
            .take(5)
            .map(|h| Worst {
                host: h.host.clone(),
                score: h.score,
                why: worst_reason(h),
            })
            .collect(),
    }
}

/// The note, else the reason of the dimension that lost the most points.
pub fn worst_reason(h: &HostScore) -> String {
    if let Some(n) = &h.note {
        return n.clone();
    }
    h.dimensions
        .iter()
        .max_by(|a, b| (a.max - a.points).total_cmp(&(b.max - b.points)))
        .map(|d| format!("{}: {}", d.title, d.reason))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_thresholds_follow_the_seed() {
        let w = 20.0;
        assert_eq!(cpu(w, Some(1.9)).points, 20.0);
        assert_eq!(cpu(w, Some(2.0)).points, 15.0);
        assert_eq!(cpu(w, Some(4.99)).points, 15.0);
        assert_eq!(cpu(w, Some(8.2)).points, 10.0);
        assert_eq!(cpu(w, Some(10.0)).points, 5.0);
        assert_eq!(cpu(w, Some(8.2)).reason, "steal 8.2 % avg over 1 h → 10/20");
        let none = cpu(w, None);
        assert_eq!(none.points, 20.0);
        assert!(!none.has_data);
        assert_eq!(
            none.reason,
            "no CPU steal in the last hour (no data, full points) → 20/20"
        );
    }

    #[test]
    fn memory_thresholds_and_swap_pressure() {
        let w = 20.0;
        assert_eq!(memory(w, Some(70.0), None, None).points, 20.0);
        assert_eq!(memory(w, Some(80.0), None, None).points, 15.0); // 20 % available: not > 20
        assert_eq!(memory(w, Some(89.0), None, None).points, 15.0);
        assert_eq!(memory(w, Some(92.0), None, None).points, 5.0);
        assert_eq!(memory(w, Some(96.0), None, None).points, 0.0);
        let paging = memory(w, Some(50.0), Some(1_500_000_000), Some(300 * 1024 * 1024));
        assert_eq!(paging.points, 15.0);
        assert_eq!(
            paging.reason,
            "50.0 % available avg over 1 h; swap pressure: 1.4 GiB swapped, 300 MiB SwapCached → 15/20"
        );
        // SwapCached without swap in use is not pressure.
        assert_eq!(memory(w, Some(50.0), Some(0), Some(300 << 20)).points, 20.0);
    }

    fn projection(mount: &str, days: f64) -> Projection {
        let mut p = trend::project(
            "fs.used_pct",
            BTreeMap::from([("mount".into(), mount.into())]),
            &[],
            Some(50.0),
            0,
            &trend::TrendConfig::default(),
        );
        p.reaches = Some(trend::Reach {
            threshold_pct: 90.0,
            at_ms: (days * DAY_MS as f64) as i64,
            days,
        });
        p
    }

    #[test]
    fn disk_thresholds_and_projection_caps() {
        let w = 15.0;
        let at = |pct: f64| ("/".to_string(), pct);
        assert_eq!(disk(w, Some(&at(63.2)), &[]).points, 15.0);
        assert_eq!(disk(w, Some(&at(70.0)), &[]).points, 10.0);
        assert_eq!(disk(w, Some(&at(90.0)), &[]).points, 5.0);
        assert_eq!(disk(w, Some(&at(95.0)), &[]).points, 0.0);
        assert_eq!(
            disk(w, Some(&at(63.2)), &[]).reason,
            "fullest / 63.2 % used → 15/15"
        );
        let soon = disk(w, Some(&at(50.0)), &[projection("/var", 4.5)]);
        assert_eq!(soon.points, 5.0);
        assert_eq!(
            soon.reason,
            "fullest / 50.0 % used; /var reaches 90 % in 4 days → 5/15"
        );
        assert_eq!(
            disk(w, Some(&at(50.0)), &[projection("/var", 20.0)]).points,
            10.0
        );
        assert_eq!(
            disk(w, Some(&at(50.0)), &[projection("/var", 40.0)]).points,
            15.0
        );
        assert!(disk(w, None, &[]).reason.contains("no data, full points"));
    }

    #[test]
    fn services_count_every_kind_and_say_what_is_missing() {
        let w = 20.0;
        let none = services(w, &ServiceFacts::default());
        assert_eq!(none.points, 20.0);
        assert_eq!(
            none.reason,
            "no containers, units or checks reported (no data, full points) → 20/20"
        );
        let facts = ServiceFacts {
            unhealthy_containers: Some(vec!["web".into(), "api".into()]),
            failed_units: None,
            failing_checks: Some(vec![]),
        };
        let d = services(w, &facts);
        assert_eq!(d.points, 15.0);
        assert_eq!(
            d.reason,
            "2 unhealthy containers (web, api), 0 failing checks; units: no data → 15/20"
        );
        let many = |n: usize| ServiceFacts {
            unhealthy_containers: Some((0..n).map(|i| format!("c{i}")).collect()),
            ..ServiceFacts::default()
        };
        assert_eq!(services(w, &many(0)).points, 20.0);
        assert_eq!(services(w, &many(3)).points, 8.0);
        assert_eq!(services(w, &many(5)).points, 8.0);
        assert_eq!(services(w, &many(6)).points, 2.0);
    }

    #[test]
    fn service_facts_come_from_the_sections() {
        let r: Report = serde_json::from_str(include_str!(
            "../../proto/tests/fixtures/report-v1-full.json"
        ))
        .unwrap();
        let facts = ServiceFacts::of(&r);
        assert_eq!(facts.unhealthy_containers, Some(vec!["api".to_string()]));
        assert_eq!(facts.failing_checks.as_ref().map(Vec::len), Some(2));
        assert!(facts.failed_units.is_some());
        let mut bare = r.clone();
        bare.sections.containers = None;
        bare.sections.systemd = None;
        bare.sections.checks = None;
        assert_eq!(
            ServiceFacts::of(&bare),
            ServiceFacts::default(),
            "no sections, no data"
        );
    }

    fn run(job: &str, at: i64, ok: bool) -> LatestRun {
        LatestRun {
            job: job.into(),
            started_at: at,
            succeeded: ok,
            outcome: if ok { "exit 0".into() } else { "exit 1".into() },
        }
    }

    #[test]
    fn maintenance_wants_recent_successful_runs() {
        let w = 15.0;
        let now = 100 * DAY_MS;
        let none = maintenance(w, &[], now);
        assert_eq!((none.points, none.has_data), (15.0, false));
        let fresh = maintenance(w, &[run("backup", now - 2 * 3_600_000, true)], now);
        assert_eq!(fresh.points, 15.0);
        assert_eq!(
            fresh.reason,
            "1 job, every latest run succeeded, newest 2 h ago → 15/15"
        );
        assert_eq!(
            maintenance(w, &[run("b", now - 10 * DAY_MS, true)], now).points,
            8.0
        );
        assert_eq!(
            maintenance(w, &[run("b", now - 31 * DAY_MS, true)], now).points,
            0.0
        );
        let failed = maintenance(
            w,
            &[
                run("backup", now - 5 * 3_600_000, false),
                run("clean", now, true),
            ],
            now,
        );
        assert_eq!(failed.points, 0.0);
        assert_eq!(
            failed.reason,
            "latest run failed: 1 of 2 jobs: `backup` (exit 1, 5 h ago) → 0/15"
        );
    }

    #[test]
    fn headroom_thresholds() {
        assert_eq!(headroom(10.0, Some(30.0)).points, 10.0);
        assert_eq!(headroom(10.0, Some(60.0)).points, 7.0);
        assert_eq!(headroom(10.0, Some(80.0)).points, 4.0);
        assert_eq!(headroom(10.0, Some(99.0)).points, 1.0);
        assert_eq!(
            headroom(10.0, Some(60.0)).reason,
            "CPU 60.0 % busy avg over 1 h → 7/10"
        );
    }

    #[test]
    fn the_total_is_the_sum_and_a_down_host_scores_zero() {
        let inputs = Inputs {
            steal_avg_1h: Some(8.2),
            busy_avg_1h: Some(20.0),
            mem_used_avg_1h: Some(40.0),
            fullest: Some(("/".into(), 37.0)),
            ..Inputs::default()
        };
        let s = score(
            "web-1",
            HostStatus::Up,
            inputs.clone(),
            &Weights::default(),
            0,
        );
        assert_eq!(s.score, 90.0);
        assert_eq!(s.dimensions.len(), 6);
        assert_eq!(
            worst_reason(&s),
            "CPU efficiency: steal 8.2 % avg over 1 h → 10/20"
        );
        let down = score(
            "web-1",
            HostStatus::Down,
            inputs.clone(),
            &Weights::default(),
            0,
        );
        assert_eq!(down.score, 0.0);
        assert_eq!(worst_reason(&down), "the host is down: score 0");
        // Other weights scale the points.
        let w = Weights {
            cpu: 50.0,
            memory: 10.0,
            disk: 10.0,
            services: 10.0,
            maintenance: 10.0,
            headroom: 10.0,
        };
        assert_eq!(score("x", HostStatus::Up, inputs, &w, 0).score, 75.0);
    }

    #[test]
    fn weights_are_validated() {
        assert_eq!(ScoreConfig::default().validate(), Ok(()));
        let mut c = ScoreConfig::default();
        c.weights.cpu = 30.0;
        assert_eq!(
            c.validate().unwrap_err(),
            "key `score.weights`: the weights must add up to 100, they add up to 110"
        );
        c.weights.cpu = -10.0;
        assert!(c.validate().unwrap_err().contains("score.weights.cpu"));
    }

    #[test]
    fn the_fleet_averages_or_weighs_the_worst() {
        let host = |name: &str, score: f64| HostScore {
            host: name.into(),
            score,
            status: HostStatus::Up,
            note: None,
            dimensions: vec![],
            computed_at: 0,
            projections: vec![],
        };
        let hosts = [host("a", 100.0), host("b", 100.0), host("c", 40.0)];
        let avg = fleet(&hosts, FleetMode::Average);
        assert_eq!(avg.score, Some(80.0));
        assert_eq!(avg.worst.len(), 1);
        assert_eq!(avg.worst[0].host, "c");
        // c weighs 1 + 60/25 = 3.4: (100 + 100 + 3.4 × 40) / 5.4 = 62.2
        assert_eq!(fleet(&hosts, FleetMode::Weighted).score, Some(62.2));
        assert_eq!(fleet(&[], FleetMode::Average).score, None);
    }
}
