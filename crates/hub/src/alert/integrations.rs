//! Built-in rules for the integrations (issue 6): containers, systemd units, Nagios checks,
//! ZFS, S.M.A.R.T., Proxmox storage, failing sources and job runs. They judge the latest
//! report's typed sections where a series would lose what people need to read (a pool's
//! state name, a check's status line, a section's error), and series otherwise.

use super::builtin::{HostInput, Signal, rule};
use super::jobs::JobFacts;
use super::rule::{Cmp, Kind, Rule, Unit};
use hostwatch_proto::sections::CheckState;
use hostwatch_proto::{Report, Section};

/// What a report-judging rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportCheck {
    /// A running container's health check says `unhealthy`: the failing streak (at least 1).
    ContainerUnhealthy,
    /// A unit the configuration expects active is not: 1, else 0.
    UnitInactive,
    /// `systemd.failed_units`, with their names.
    FailedUnits,
    /// A Nagios check's state: 0 OK, 1 WARNING or UNKNOWN, 2 CRITICAL.
    CheckState,
    /// A pool's state: 0 ONLINE, 1 DEGRADED (or another state), 2 FAULTED/UNAVAIL/SUSPENDED.
    ZfsPoolState,
    /// Read/write/checksum errors over the pool's vdevs plus its data errors.
    ZfsErrors,
    /// Days since the pool's last scrub finished.
    ZfsScrubAge,
    /// smartctl's overall verdict: 1 failed, 0 passed.
    SmartFailed,
    /// Reallocated plus pending sectors.
    SmartSectors,
    /// A source failed: 1 while its section holds an error, 0 while it holds data.
    SectionError,
}

/// The window `container_restarting` counts restarts in.
pub const RESTART_WINDOW_MS: i64 = 15 * 60_000;

/// The integration rules with their defaults (`docs/alerts.md` has the table).
pub fn rules() -> Vec<Rule> {
    use Cmp::Gt;
    use ReportCheck as R;
    let report = Kind::Report;
    vec![
        rule(
            "container_unhealthy",
            report(R::ContainerUnhealthy),
            Gt,
            Some(0.0),
            None,
            60,
            Unit::Plain,
            "container {container} on {host} is unhealthy: its health check failed {value} times in a row{last_check}",
        ),
        rule(
            "container_restarting",
            Kind::ContainerRestarts {
                window_ms: RESTART_WINDOW_MS,
            },
            Gt,
            Some(2.0),
            None,
            0,
            Unit::Plain,
            "container {container} on {host} restarted {value} times in the last 15 min ({state})",
        ),
        rule(
            "unit_inactive",
            report(R::UnitInactive),
            Gt,
            None,
            Some(0.0),
            60,
            Unit::Plain,
            "{unit} on {host} is {active_state} ({sub_state}) but should be active",
        ),
        rule(
            "failed_units",
            report(R::FailedUnits),
            Gt,
            Some(0.0),
            None,
            0,
            Unit::Plain,
            "{host} has {value} failed systemd units: {names}",
        ),
        rule(
            "check_state",
            report(R::CheckState),
            Gt,
            Some(0.0),
            Some(1.0),
            0,
            Unit::Plain,
            "check {check} on {host} is {check_state}: {status}",
        ),
        rule(
            "zfs_pool_state",
            report(R::ZfsPoolState),
            Gt,
            Some(0.0),
            Some(1.0),
            0,
            Unit::Plain,
            "ZFS pool {pool} on {host} is {pool_state}{pool_status}",
        ),
        rule(
            "zfs_errors",
            report(R::ZfsErrors),
            Gt,
            Some(0.0),
            None,
            0,
            Unit::Plain,
            "ZFS pool {pool} on {host} has {value} errors ({breakdown})",
        ),
        rule(
            "zfs_scrub_age",
            report(R::ZfsScrubAge),
            Gt,
            Some(35.0),
            None,
            0,
            Unit::Days,
            "ZFS pool {pool} on {host} was last scrubbed {value} ago ({severity} above {threshold})",
        ),
        rule(
            "smart_failed",
            report(R::SmartFailed),
            Gt,
            None,
            Some(0.0),
            0,
            Unit::Plain,
            "{device}{model} on {host} failed its S.M.A.R.T. health assessment: replace it",
        ),
        rule(
            "smart_sectors",
            report(R::SmartSectors),
            Gt,
            Some(0.0),
            None,
            0,
            Unit::Plain,
            "{device}{model} on {host} has {value} bad sectors ({breakdown})",
        ),
        rule(
            "nvme_wear",
            series("smart.nvme_percentage_used_pct"),
            Gt,
            Some(90.0),
            None,
            0,
            Unit::Pct,
            "NVMe {device} on {host} has used {value} of its rated endurance ({severity} above {threshold})",
        ),
        rule(
            "pve_storage_used",
            series("pve.storage_used_pct"),
            Gt,
            Some(85.0),
            Some(95.0),
            300,
            Unit::Pct,
            "Proxmox storage {storage} on {host} is {value} full ({severity} above {threshold})",
        ),
        rule(
            "source_failing",
            report(R::SectionError),
            Gt,
            Some(0.0),
            None,
            300,
            Unit::Plain,
            "the {section} source on {host} has been failing for 5 min: {error}",
        ),
        rule(
            "job_failed",
            Kind::JobFailed,
            Gt,
            Some(0.0),
            None,
            0,
            Unit::Plain,
            "job {job} on {host} failed ({outcome}){last_line}",
        ),
        rule(
            "job_missed",
            Kind::JobMissed,
            Gt,
            Some(600.0),
            None,
            0,
            Unit::Duration,
            "job {job} on {host} did not run when due (schedule `{schedule}`, last run {last_run}): overdue by {value}",
        ),
    ]
}

fn series(name: &str) -> Kind {
    Kind::Series(super::matcher::Selector {
        name: name.into(),
        matchers: Vec::new(),
    })
}

/// A signal with its identity labels and the extra placeholders its summary reads.
fn sig<const N: usize, const M: usize>(
    labels: [(&str, &str); N],
    value: f64,
    info: [(&str, String); M],
) -> Signal {
    Signal {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
        own_levels: None,
        info: info.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

/// ` ("output")`, or nothing for an empty text.
fn aside(prefix: &str, text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        let cut: String = text.chars().take(200).collect();
        format!("{prefix}{cut}")
    }
}

/// The values a report-judging rule sees in `report`.
pub fn report_signals(check: ReportCheck, report: &Report) -> Vec<Signal> {
    let s = &report.sections;
    let mut out = Vec::new();
    match check {
        ReportCheck::ContainerUnhealthy => {
            let Some(Section::Ok(cs)) = &s.containers else {
                return out;
            };
            for c in &cs.containers {
                // A container that is stopped or has no health check is not unhealthy.
                let health = c.health.as_ref().filter(|_| c.state == "running");
                let (value, last) = match health {
                    Some(h) if h.status == "unhealthy" => (
                        f64::from(h.failing_streak.max(1)),
                        h.last_checks
                            .last()
                            .map(|r| aside(": ", r.output.lines().next().unwrap_or("")))
                            .unwrap_or_default(),
                    ),
                    _ => (0.0, String::new()),
                };
                out.push(sig(
                    [("container", &c.name)],
                    value,
                    [("last_check", last), ("image", c.image.clone())],
                ));
            }
        }
        ReportCheck::UnitInactive => {
            let Some(Section::Ok(d)) = &s.systemd else {
                return out;
            };
            for u in d.units.iter().filter(|u| u.expected_active) {
                out.push(sig(
                    [("unit", &u.name)],
                    if u.is_active() { 0.0 } else { 1.0 },
                    [
                        ("active_state", u.active_state.clone()),
                        ("sub_state", u.sub_state.clone()),
                    ],
                ));
            }
        }
        ReportCheck::FailedUnits => {
            if let Some(Section::Ok(d)) = &s.systemd {
                let names = if d.failed_unit_names.is_empty() {
                    "see systemctl --failed".to_string()
                } else {
                    d.failed_unit_names.join(", ")
                };
                out.push(sig([], f64::from(d.failed_units), [("names", names)]));
            }
        }
        ReportCheck::CheckState => {
            let Some(Section::Ok(c)) = &s.checks else {
                return out;
            };
            for check in &c.checks {
                let (value, name) = match check.state {
                    CheckState::Ok => (0.0, "OK"),
                    CheckState::Warning => (1.0, "WARNING"),
                    CheckState::Unknown => (1.0, "UNKNOWN"),
                    CheckState::Critical => (2.0, "CRITICAL"),
                };
                out.push(sig(
                    [("check", &check.name)],
                    value,
                    [
                        ("check_state", name.to_string()),
                        ("status", check.status.chars().take(300).collect()),
                    ],
                ));
            }
        }
        ReportCheck::ZfsPoolState | ReportCheck::ZfsErrors | ReportCheck::ZfsScrubAge => {
            let Some(Section::Ok(z)) = &s.zfs else {
                return out;
            };
            for p in &z.pools {
                let labels = [("pool", p.name.as_str())];
                match check {
                    ReportCheck::ZfsPoolState => {
                        let value = match p.state.as_str() {
                            "ONLINE" => 0.0,
                            "FAULTED" | "UNAVAIL" | "SUSPENDED" => 2.0,
                            _ => 1.0,
                        };
                        let status = p.status.as_deref().unwrap_or("");
                        out.push(sig(
                            labels,
                            value,
                            [
                                ("pool_state", p.state.clone()),
                                ("pool_status", aside(": ", status)),
                            ],
                        ));
                    }
                    ReportCheck::ZfsErrors => {
                        let (mut read, mut write, mut cksum) =
                            (p.read_errors, p.write_errors, p.checksum_errors);
                        let mut stack: Vec<&hostwatch_proto::sections::ZfsVdev> =
                            p.vdevs.iter().collect();
                        while let Some(v) = stack.pop() {
                            read += v.read_errors;
                            write += v.write_errors;
                            cksum += v.checksum_errors;
                            stack.extend(v.children.iter());
                        }
                        let total = read + write + cksum + p.data_errors;
                        out.push(sig(
                            labels,
                            total as f64,
                            [(
                                "breakdown",
                                format!(
                                    "read {read}, write {write}, checksum {cksum}, data {}",
                                    p.data_errors
                                ),
                            )],
                        ));
                    }
                    _ => {
                        let end = p
                            .scan
                            .as_ref()
                            .filter(|sc| sc.function == "scrub")
                            .and_then(|sc| sc.end_ms);
                        if let Some(end) = end {
                            let days = (report.collected_at - end).max(0) as f64 / 86_400_000.0;
                            out.push(sig(labels, days, []));
                        }
                    }
                }
            }
        }
        ReportCheck::SmartFailed | ReportCheck::SmartSectors => {
            let Some(Section::Ok(sm)) = &s.smart else {
                return out;
            };
            for d in sm.devices.iter().filter(|d| d.state == "ok") {
                let model = d
                    .model
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                let labels = [("device", d.name.as_str())];
                if check == ReportCheck::SmartFailed {
                    if let Some(passed) = d.passed {
                        out.push(sig(
                            labels,
                            if passed { 0.0 } else { 1.0 },
                            [("model", model)],
                        ));
                    }
                } else if d.reallocated_sectors.is_some() || d.pending_sectors.is_some() {
                    let (re, pe) = (
                        d.reallocated_sectors.unwrap_or(0),
                        d.pending_sectors.unwrap_or(0),
                    );
                    out.push(sig(
                        labels,
                        (re + pe) as f64,
                        [
                            ("model", model),
                            ("breakdown", format!("{re} reallocated, {pe} pending")),
                        ],
                    ));
                }
            }
        }
        ReportCheck::SectionError => {
            for name in s.present() {
                out.push(sig([("section", name)], 0.0, []));
            }
            for (name, e) in s.errors() {
                if let Some(o) = out.iter_mut().find(|o| o.labels["section"] == name) {
                    o.value = 1.0;
                    o.info
                        .insert("error".into(), e.message.chars().take(300).collect());
                }
            }
        }
    }
    out
}

/// Restarts per container within the window, from the engine's counter history.
pub fn restart_signals(restarts: &[(String, f64, String)]) -> Vec<Signal> {
    restarts
        .iter()
        .map(|(name, n, state)| sig([("container", name)], *n, [("state", state.clone())]))
        .collect()
}

/// `job_failed`: 1 when a job's latest run failed, 0 when it succeeded.
pub fn job_failed_signals(jobs: &[JobFacts]) -> Vec<Signal> {
    jobs.iter()
        .map(|j| {
            sig(
                [("job", &j.job)],
                if j.succeeded { 0.0 } else { 1.0 },
                [
                    ("outcome", j.outcome.clone()),
                    ("last_line", aside(": ", &j.last_line)),
                ],
            )
        })
        .collect()
}

/// `job_missed`: seconds past the due time plus the last run's duration (a job that takes
/// an hour reports an hour after it is due); negative until then. Only jobs with a schedule.
pub fn job_missed_signals(jobs: &[JobFacts], now: i64) -> Vec<Signal> {
    jobs.iter()
        .filter_map(|j| {
            let due = j.next_due?;
            let late = (now - due - j.last_duration_ms) as f64 / 1000.0;
            Some(sig(
                [("job", &j.job)],
                late,
                [
                    ("schedule", j.schedule.clone().unwrap_or_default()),
                    ("last_run", rfc3339(j.last_started_at)),
                ],
            ))
        })
        .collect()
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// The values the integration kinds judge, and the time they are from; `None` for the
/// engine's other kinds or when there is nothing new to judge.
pub fn signals(kind: &Kind, input: &HostInput<'_>) -> Option<Option<(i64, Vec<Signal>)>> {
    Some(match kind {
        Kind::Report(check) => input
            .report
            .map(|r| (r.collected_at, report_signals(*check, r))),
        Kind::ContainerRestarts { .. } => input
            .samples
            .map(|s| (s.at, restart_signals(input.restarts))),
        // Judged on the clock: a job that stopped running sends nothing to judge.
        Kind::JobFailed => input.jobs.map(|j| (input.now, job_failed_signals(j))),
        Kind::JobMissed => input
            .jobs
            .map(|j| (input.now, job_missed_signals(j, input.now))),
        _ => return None,
    })
}
