//! The weekly digest: a week of the fleet in one message — CPU steal, disk usage and its change
//! per mount, memory, swap peak, alerts fired, hosts that went down, unhealthy containers,
//! failed job runs and the three most urgent actions — sent through [`Notifier::digest`] at a
//! configured weekday and time in a configured time zone (DST-correct through `jiff`), once
//! per week however often the hub restarts: each sent week is recorded in the store.

use crate::history;
use crate::hub::Hub;
use crate::notice::{DigestMessage, Notifier};
use crate::score::{self, HostScore, ServiceFacts};
use crate::store::{DAY_MS, EventQuery, Host, HostStatus, Store, StoreError};
use crate::trend::{date_in, fmt_pct};
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::Deserialize;
use std::fmt::Write as _;
use std::sync::Arc;

/// `[digest]` in the hub's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DigestConfig {
    pub enabled: bool,
    /// `monday` … `sunday` (or `mon` … `sun`).
    pub weekday: String,
    /// `HH:MM`, 24-hour, in `time_zone`.
    pub time: String,
    /// An IANA name (`Europe/Berlin`); default the system's zone, else UTC.
    pub time_zone: Option<String>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            enabled: true,
            weekday: "monday".into(),
            time: "08:00".into(),
            time_zone: None,
        }
    }
}

/// A checked `[digest]` schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub weekday: Weekday,
    pub time: Time,
    pub tz: TimeZone,
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.trim().to_ascii_lowercase();
    let all = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    all.into_iter()
        .find(|(name, _)| s == *name || (s.len() == 3 && name.starts_with(&s)))
        .map(|(_, d)| d)
}

fn parse_time(s: &str) -> Option<Time> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

impl DigestConfig {
    /// The schedule, or the first problem naming its key.
    pub fn schedule(&self) -> Result<Schedule, String> {
        let weekday = parse_weekday(&self.weekday).ok_or_else(|| {
            format!(
                "key `digest.weekday`: expected a day of the week like `monday`, got `{}`",
                self.weekday
            )
        })?;
        let time = parse_time(&self.time).ok_or_else(|| {
            format!(
                "key `digest.time`: expected HH:MM (24-hour), got `{}`",
                self.time
            )
        })?;
        let tz = match &self.time_zone {
            Some(name) => TimeZone::get(name)
                .map_err(|e| format!("key `digest.time_zone`: unknown time zone `{name}`: {e}"))?,
            None => TimeZone::system(),
        };
        Ok(Schedule { weekday, time, tz })
    }

    pub fn validate(&self) -> Result<(), String> {
        self.schedule().map(|_| ())
    }

    /// The zone dates are shown in; UTC when the configured one is unusable.
    pub fn display_zone(&self) -> TimeZone {
        self.schedule().map(|s| s.tz).unwrap_or(TimeZone::UTC)
    }
}

impl Schedule {
    /// The occurrence on `date`: its time in the zone, moved forward through a DST gap and
    /// the earlier of two in a fold.
    fn on(&self, date: jiff::civil::Date) -> Option<Zoned> {
        date.to_datetime(self.time).to_zoned(self.tz.clone()).ok()
    }

    /// The latest send time at or before `now`.
    pub fn latest_at_or_before(&self, now: Timestamp) -> Option<Zoned> {
        let today = now.to_zoned(self.tz.clone()).date();
        (0..=7)
            .filter_map(|back| today.checked_sub(jiff::Span::new().days(back)).ok())
            .filter(|d| d.weekday() == self.weekday)
            .filter_map(|d| self.on(d))
            .find(|z| z.timestamp() <= now)
    }

    /// The first send time strictly after `now`.
    pub fn next_after(&self, now: Timestamp) -> Option<Zoned> {
        let today = now.to_zoned(self.tz.clone()).date();
        (0..=8)
            .filter_map(|ahead| today.checked_add(jiff::Span::new().days(ahead)).ok())
            .filter(|d| d.weekday() == self.weekday)
            .filter_map(|d| self.on(d))
            .find(|z| z.timestamp() > now)
    }
}

/// One mount's week.
#[derive(Debug, Clone, PartialEq)]
pub struct MountWeek {
    pub mount: String,
    /// Used % at the end of the week.
    pub used_pct: f64,
    /// Percentage points gained over the week (negative: freed).
    pub change_pct: f64,
}

/// One host's week.
#[derive(Debug, Clone, PartialEq)]
pub struct HostWeek {
    pub host: String,
    pub status: HostStatus,
    pub steal_avg: Option<f64>,
    pub mem_used_avg: Option<f64>,
    pub swap_peak_bytes: Option<f64>,
    pub mounts: Vec<MountWeek>,
    pub alerts_fired: usize,
    pub times_down: usize,
    /// `None`: the host does not report containers.
    pub unhealthy_containers: Option<Vec<String>>,
    pub job_runs: usize,
    pub job_runs_failed: usize,
    /// The failed jobs' names, each once.
    pub failed_jobs: Vec<String>,
    pub score: Option<HostScore>,
}

/// Everything a digest says.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// The week is `[from, to)`, unix ms.
    pub from: i64,
    pub to: i64,
    pub tz: TimeZone,
    pub hosts: Vec<HostWeek>,
    pub fleet_score: Option<f64>,
    /// The three most urgent actions.
    pub actions: Vec<String>,
}

/// Gathers the week `[to − 7 days, to)` of every host.
pub async fn gather<S: Store>(hub: &Hub<S>, to: i64) -> Result<Digest, StoreError> {
    let from = to - 7 * DAY_MS;
    let store = &hub.store;
    let resolution = history::resolution_for(from, to);
    let hosts = store.hosts().await?;
    // Events of the week, fleet-wide, once.
    let events = store
        .events(EventQuery {
            host: None,
            since: Some(from),
            until: None,
            limit: 1_000_000,
        })
        .await?;
    let events: Vec<_> = events.into_iter().filter(|e| e.at < to).collect();
    let mut weeks = Vec::with_capacity(hosts.len());
    for host in &hosts {
        weeks.push(host_week(hub, host, &events, from, to, resolution).await?);
    }
    let scores: Vec<HostScore> = weeks.iter().filter_map(|w| w.score.clone()).collect();
    let fleet_score = score::fleet(&scores, hub.config.score.fleet).score;
    let tz = hub.config.digest.display_zone();
    let actions = actions(&weeks, &tz);
    Ok(Digest {
        from,
        to,
        tz,
        hosts: weeks,
        fleet_score,
        actions,
    })
}

async fn host_week<S: Store>(
    hub: &Hub<S>,
    host: &Host,
    events: &[crate::store::Event],
    from: i64,
    to: i64,
    resolution: hostwatch_tsdb::Resolution,
) -> Result<HostWeek, StoreError> {
    let store = &hub.store;
    let one = |name: &'static str| history::read(store, host.id, name, &[], from, to, resolution);
    let plain = |all: Vec<history::History>| all.into_iter().find(|h| h.labels.is_empty());
    let steal = plain(one("cpu.steal_pct").await?).and_then(|h| h.mean());
    let mem = plain(one("mem.used_pct").await?).and_then(|h| h.mean());
    let swap = plain(one("swap.used_bytes").await?).and_then(|h| h.peak());
    let mut mounts: Vec<MountWeek> = one("fs.used_pct")
        .await?
        .into_iter()
        .filter_map(|h| {
            let (first, _) = h.first_last()?;
            let last = h.points.last()?.last;
            Some(MountWeek {
                mount: h.labels.get("mount")?.clone(),
                used_pct: last,
                change_pct: last - first,
            })
        })
        .collect();
    mounts.sort_by(|a, b| a.mount.cmp(&b.mount));
    let mine = || {
        events
            .iter()
            .filter(|e| e.host.as_deref() == Some(&host.name))
    };
    let alerts_fired = mine().filter(|e| e.kind == "alert_firing").count();
    let down_prefix = format!("{} is down", host.name);
    let times_down = mine()
        .filter(|e| e.kind == "host_status" && e.message.starts_with(&down_prefix))
        .count();
    let unhealthy_containers = store
        .latest(host.id)
        .await?
        .and_then(|r| ServiceFacts::of(&r).unhealthy_containers);
    let runs: Vec<_> = store
        .job_runs(host.id, None, 100_000)
        .await?
        .into_iter()
        .filter(|r| (from..to).contains(&r.started_at))
        .collect();
    let mut failed_jobs: Vec<String> = runs
        .iter()
        .filter(|r| !r.succeeded())
        .map(|r| r.job.clone())
        .collect();
    let job_runs_failed = failed_jobs.len();
    failed_jobs.sort();
    failed_jobs.dedup();
    let score = match score::compute(hub, host, to).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(host = %host.name, error = %e, "scoring for the digest failed");
            None
        }
    };
    Ok(HostWeek {
        host: host.name.clone(),
        status: host.status,
        steal_avg: steal,
        mem_used_avg: mem,
        swap_peak_bytes: swap,
        mounts,
        alerts_fired,
        times_down,
        unhealthy_containers,
        job_runs: runs.len(),
        job_runs_failed,
        failed_jobs,
        score,
    })
}

/// The most urgent things to do, most urgent first, at most three.
pub fn actions(weeks: &[HostWeek], tz: &TimeZone) -> Vec<String> {
    let mut found: Vec<(f64, String)> = Vec::new();
    for w in weeks {
        let h = &w.host;
        if w.status == HostStatus::Down {
            found.push((1000.0, format!("{h}: down — bring it back or remove it")));
        }
        if let Some(s) = &w.score {
            for p in &s.projections {
                if let Some(r) = p.reaches
                    && r.days <= 30.0
                {
                    found.push((
                        500.0 - r.days,
                        format!(
                            "{h}: {} reaches {} % {} (on {}) — free space",
                            p.subject(),
                            fmt_pct(r.threshold_pct),
                            if r.days < 1.0 {
                                "within a day".to_string()
                            } else {
                                format!("in {} days", r.days.floor())
                            },
                            date_in(r.at_ms, tz)
                        ),
                    ));
                }
            }
        }
        for m in w.mounts.iter().filter(|m| m.used_pct >= 85.0) {
            found.push((
                300.0 + m.used_pct,
                format!("{h}: {} is {:.1} % full — free space", m.mount, m.used_pct),
            ));
        }
        if let Some(c) = w.unhealthy_containers.as_ref().filter(|c| !c.is_empty()) {
            found.push((
                200.0 + c.len() as f64,
                format!(
                    "{h}: restart {} unhealthy container{} ({})",
                    c.len(),
                    if c.len() == 1 { "" } else { "s" },
                    c.join(", ")
                ),
            ));
        }
        if !w.failed_jobs.is_empty() {
            found.push((
                150.0 + w.job_runs_failed as f64,
                format!(
                    "{h}: {} failed job run{} ({}) — check the output",
                    w.job_runs_failed,
                    if w.job_runs_failed == 1 { "" } else { "s" },
                    w.failed_jobs.join(", ")
                ),
            ));
        }
        if let Some(st) = w.steal_avg.filter(|s| *s >= 5.0) {
            found.push((
                100.0 + st,
                format!("{h}: CPU steal {st:.1} % avg — ask the provider or move the VM"),
            ));
        }
        if let Some(mem) = w.mem_used_avg.filter(|m| *m >= 90.0) {
            found.push((
                90.0 + mem / 10.0,
                format!("{h}: memory {mem:.1} % used avg — add memory or find the leak"),
            ));
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    found.into_iter().take(3).map(|(_, a)| a).collect()
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".into(), |v| format!("{v:.1} %"))
}

fn gib(v: Option<f64>) -> String {
    v.map_or_else(
        || "no data".into(),
        |b| {
            if b >= 1024.0 * 1024.0 * 1024.0 {
                format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
            } else {
                format!("{:.0} MiB", b / (1024.0 * 1024.0))
            }
        },
    )
}

fn signed(v: f64) -> String {
    format!("{}{v:.1}", if v >= 0.0 { "+" } else { "" })
}

/// The lines of one section: `(label, value)`.
type Rows = Vec<(String, String)>;

impl Digest {
    fn week_ending(&self) -> String {
        date_in(self.to - 1, &self.tz)
    }

    pub fn subject(&self) -> String {
        format!(
            "hostwatch weekly digest — week ending {}",
            self.week_ending()
        )
    }

    fn mean(&self, f: impl Fn(&HostWeek) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.hosts.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }

    fn fleet_rows(&self) -> Rows {
        let swap_peak = self
            .hosts
            .iter()
            .filter_map(|h| h.swap_peak_bytes.map(|b| (b, &h.host)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let down: Vec<String> = self
            .hosts
            .iter()
            .filter(|h| h.times_down > 0)
            .map(|h| format!("{} ({}×)", h.host, h.times_down))
            .collect();
        let unhealthy: usize = self
            .hosts
            .iter()
            .filter_map(|h| h.unhealthy_containers.as_ref().map(|c| c.len()))
            .sum();
        let reporting = self.hosts.iter().any(|h| h.unhealthy_containers.is_some());
        vec![
            ("Hosts".into(), self.hosts.len().to_string()),
            (
                "Health score".into(),
                self.fleet_score
                    .map_or("no data".into(), |s| format!("{}/100", fmt_pct(s))),
            ),
            (
                "CPU steal".into(),
                format!("{} avg", pct(self.mean(|h| h.steal_avg))),
            ),
            (
                "Memory".into(),
                format!("{} used avg", pct(self.mean(|h| h.mem_used_avg))),
            ),
            (
                "Swap peak".into(),
                swap_peak.map_or("no data".into(), |(b, h)| format!("{} ({h})", gib(Some(b)))),
            ),
            (
                "Alerts fired".into(),
                self.hosts
                    .iter()
                    .map(|h| h.alerts_fired)
                    .sum::<usize>()
                    .to_string(),
            ),
            (
                "Hosts that went down".into(),
                if down.is_empty() {
                    "none".into()
                } else {
                    down.join(", ")
                },
            ),
            (
                "Unhealthy containers".into(),
                if reporting {
                    unhealthy.to_string()
                } else {
                    "no containers reported".into()
                },
            ),
            (
                "Job runs failed".into(),
                format!(
                    "{} of {}",
                    self.hosts.iter().map(|h| h.job_runs_failed).sum::<usize>(),
                    self.hosts.iter().map(|h| h.job_runs).sum::<usize>()
                ),
            ),
        ]
    }

    fn host_rows(h: &HostWeek) -> Rows {
        let disk = if h.mounts.is_empty() {
            "no data".to_string()
        } else {
            h.mounts
                .iter()
                .map(|m| {
                    format!(
                        "{} {:.1} % ({} pts this week)",
                        m.mount,
                        m.used_pct,
                        signed(m.change_pct)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        vec![
            ("CPU steal".into(), format!("{} avg", pct(h.steal_avg))),
            ("Disk".into(), disk),
            ("Memory".into(), format!("{} used avg", pct(h.mem_used_avg))),
            ("Swap peak".into(), gib(h.swap_peak_bytes)),
            ("Alerts fired".into(), h.alerts_fired.to_string()),
            ("Went down".into(), format!("{}×", h.times_down)),
            (
                "Unhealthy containers".into(),
                match &h.unhealthy_containers {
                    None => "no containers reported".into(),
                    Some(c) if c.is_empty() => "0".into(),
                    Some(c) => format!("{} ({})", c.len(), c.join(", ")),
                },
            ),
            (
                "Job runs failed".into(),
                if h.failed_jobs.is_empty() {
                    format!("0 of {}", h.job_runs)
                } else {
                    format!(
                        "{} of {} ({})",
                        h.job_runs_failed,
                        h.job_runs,
                        h.failed_jobs.join(", ")
                    )
                },
            ),
        ]
    }

    fn host_title(h: &HostWeek) -> String {
        let score = h.score.as_ref().map_or("no score".into(), |s| {
            format!("score {}/100", fmt_pct(s.score))
        });
        let status = if h.status == HostStatus::Up {
            String::new()
        } else {
            format!(", {}", h.status.as_str())
        };
        format!("{} — {score}{status}", h.host)
    }

    /// Plain text, for chat channels and the email's text part.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.subject());
        let _ = writeln!(
            out,
            "{} to {} ({})",
            date_in(self.from, &self.tz),
            self.week_ending(),
            self.tz.iana_name().unwrap_or("UTC")
        );
        let _ = writeln!(out, "\nFleet");
        for (k, v) in self.fleet_rows() {
            let _ = writeln!(out, "  {k}: {v}");
        }
        let _ = writeln!(out, "\nTop actions");
        if self.actions.is_empty() {
            let _ = writeln!(out, "  nothing urgent");
        }
        for (i, a) in self.actions.iter().enumerate() {
            let _ = writeln!(out, "  {}. {a}", i + 1);
        }
        for h in &self.hosts {
            let _ = writeln!(out, "\n{}", Self::host_title(h));
            for (k, v) in Self::host_rows(h) {
                let _ = writeln!(out, "  {k}: {v}");
            }
        }
        out
    }

    /// HTML for the email's HTML part; everything that came from hosts is escaped.
    pub fn html(&self) -> String {
        let mut out = String::new();
        let table = |out: &mut String, rows: Rows| {
            out.push_str("<table>\n");
            for (k, v) in rows {
                let _ = writeln!(
                    out,
                    "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                    escape(&k),
                    escape(&v)
                );
            }
            out.push_str("</table>\n");
        };
        let _ = writeln!(
            out,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>",
            escape(&self.subject())
        );
        let _ = writeln!(out, "<h1>{}</h1>", escape(&self.subject()));
        let _ = writeln!(
            out,
            "<p>{} to {} ({})</p>",
            escape(&date_in(self.from, &self.tz)),
            escape(&self.week_ending()),
            escape(self.tz.iana_name().unwrap_or("UTC"))
        );
        out.push_str("<h2>Fleet</h2>\n");
        table(&mut out, self.fleet_rows());
        out.push_str("<h2>Top actions</h2>\n<ol>\n");
        if self.actions.is_empty() {
            out.push_str("<li>nothing urgent</li>\n");
        }
        for a in &self.actions {
            let _ = writeln!(out, "<li>{}</li>", escape(a));
        }
        out.push_str("</ol>\n");
        for h in &self.hosts {
            let _ = writeln!(out, "<h2>{}</h2>", escape(&Self::host_title(h)));
            table(&mut out, Self::host_rows(h));
        }
        out.push_str("</body></html>\n");
        out
    }

    pub fn message(&self) -> DigestMessage {
        DigestMessage {
            subject: self.subject(),
            text: self.text(),
            html: self.html(),
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A digest that was not sent this long after its time is only caught up when an earlier one
/// was sent before (so a new hub does not open with last week's digest).
pub const FIRST_CATCH_UP_MS: i64 = DAY_MS;

/// What [`tick`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Sent the digest of the week ending at this occurrence (its key, the local date).
    Sent(String),
    /// Nothing due.
    Idle,
}

/// Sends the latest due digest if it has not been sent: called at each scheduled time and on
/// start, so a restart neither re-sends (the sent week is recorded first) nor skips (a missed
/// time is caught up).
pub async fn tick<S: Store>(
    hub: &Hub<S>,
    schedule: &Schedule,
    notifier: &dyn Notifier,
    now: Timestamp,
) -> Result<Tick, StoreError> {
    let Some(due) = schedule.latest_at_or_before(now) else {
        return Ok(Tick::Idle);
    };
    let week = due.date().to_string();
    let last = hub.store.last_digest().await?;
    if last.as_ref().is_some_and(|(w, _)| *w == week) {
        return Ok(Tick::Idle);
    }
    let late = now.as_millisecond() - due.timestamp().as_millisecond();
    if last.is_none() && late > FIRST_CATCH_UP_MS {
        return Ok(Tick::Idle);
    }
    let digest = gather(hub, due.timestamp().as_millisecond()).await?;
    if !hub
        .store
        .claim_digest(week.clone(), now.as_millisecond())
        .await?
    {
        return Ok(Tick::Idle);
    }
    tracing::info!(week = %week, hosts = digest.hosts.len(), "sending the weekly digest");
    notifier.digest(digest.message());
    Ok(Tick::Sent(week))
}

/// Sends each week's digest on schedule until the task is dropped.
pub async fn run<S: Store>(hub: Arc<Hub<S>>, notifier: Arc<dyn Notifier>) {
    if !hub.config.digest.enabled {
        return;
    }
    let schedule = match hub.config.digest.schedule() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the weekly digest is off");
            return;
        }
    };
    loop {
        let now = Timestamp::now();
        if let Err(e) = tick(&hub, &schedule, notifier.as_ref(), now).await {
            tracing::error!(error = %e, "the weekly digest failed; retrying in a minute");
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            continue;
        }
        // Wake at the next send time, and at least every 10 minutes, so a changed clock or a
        // suspended machine is noticed.
        let wait = schedule
            .next_after(now)
            .map(|next| next.timestamp().as_millisecond() - now.as_millisecond())
            .unwrap_or(600_000)
            .clamp(1_000, 600_000);
        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Schedule {
        DigestConfig {
            time_zone: Some("Europe/Berlin".into()),
            ..DigestConfig::default()
        }
        .schedule()
        .unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn next_monday_eight_in_berlin_across_dst() {
        let s = berlin();
        // Winter: 08:00 CET is 07:00 UTC.
        let next = s.next_after(ts("2026-01-14T12:00:00Z")).unwrap();
        assert_eq!(next.timestamp(), ts("2026-01-19T07:00:00Z"));
        // The clocks go forward on Sunday 2026-03-29: the Monday after is 08:00 CEST = 06:00 UTC.
        let next = s.next_after(ts("2026-03-24T12:00:00Z")).unwrap();
        assert_eq!(next.to_string(), "2026-03-30T08:00:00+02:00[Europe/Berlin]");
        assert_eq!(next.timestamp(), ts("2026-03-30T06:00:00Z"));
        // And back on Sunday 2026-10-25.
        let next = s.next_after(ts("2026-10-20T00:00:00Z")).unwrap();
        assert_eq!(next.timestamp(), ts("2026-10-26T07:00:00Z"));
        // At the send time itself, the next one is a week on; the latest is now.
        let at = ts("2026-01-19T07:00:00Z");
        assert_eq!(
            s.next_after(at).unwrap().timestamp(),
            ts("2026-01-26T07:00:00Z")
        );
        assert_eq!(s.latest_at_or_before(at).unwrap().timestamp(), at);
        // The latest before a Monday 07:59 local is the week before.
        assert_eq!(
            s.latest_at_or_before(ts("2026-03-30T05:59:00Z"))
                .unwrap()
                .timestamp(),
            ts("2026-03-23T07:00:00Z")
        );
    }

    #[test]
    fn a_time_in_the_dst_gap_moves_forward() {
        let s = DigestConfig {
            weekday: "sun".into(),
            time: "02:30".into(),
            time_zone: Some("Europe/Berlin".into()),
            ..DigestConfig::default()
        }
        .schedule()
        .unwrap();
        // 02:30 does not exist on 2026-03-29 in Berlin: it is sent at 03:30 CEST.
        let next = s.next_after(ts("2026-03-28T00:00:00Z")).unwrap();
        assert_eq!(next.timestamp(), ts("2026-03-29T01:30:00Z"));
    }

    #[test]
    fn schedule_errors_name_the_key() {
        let bad = |c: DigestConfig| c.validate().unwrap_err();
        assert!(
            bad(DigestConfig {
                weekday: "someday".into(),
                ..DigestConfig::default()
            })
            .starts_with("key `digest.weekday`")
        );
        for t in ["8", "25:00", "08:60", "8:5", ""] {
            assert!(
                bad(DigestConfig {
                    time: t.into(),
                    ..DigestConfig::default()
                })
                .starts_with("key `digest.time`"),
                "{t}"
            );
        }
        assert!(
            bad(DigestConfig {
                time_zone: Some("Mars/Olympus".into()),
                ..DigestConfig::default()
            })
            .starts_with("key `digest.time_zone`: unknown time zone `Mars/Olympus`")
        );
        assert_eq!(parse_time("8:05"), Some(Time::constant(8, 5, 0, 0)));
        assert_eq!(parse_weekday("Fri"), Some(Weekday::Friday));
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    fn week(host: &str) -> HostWeek {
        HostWeek {
            host: host.into(),
            status: HostStatus::Up,
            steal_avg: Some(1.0),
            mem_used_avg: Some(40.0),
            swap_peak_bytes: None,
            mounts: vec![],
            alerts_fired: 0,
            times_down: 0,
            unhealthy_containers: None,
            job_runs: 0,
            job_runs_failed: 0,
            failed_jobs: vec![],
            score: None,
        }
    }

    #[test]
    fn actions_rank_down_hosts_then_filling_disks() {
        let mut a = week("a");
        a.steal_avg = Some(12.0);
        let mut b = week("b");
        b.status = HostStatus::Down;
        let mut c = week("c");
        c.mounts.push(MountWeek {
            mount: "/srv".into(),
            used_pct: 91.0,
            change_pct: 3.0,
        });
        c.unhealthy_containers = Some(vec!["web".into()]);
        let got = actions(&[a, b, c], &TimeZone::UTC);
        assert_eq!(
            got,
            vec![
                "b: down — bring it back or remove it".to_string(),
                "c: /srv is 91.0 % full — free space".to_string(),
                "c: restart 1 unhealthy container (web)".to_string(),
            ]
        );
    }
}
