//! The job rules' inputs: each job's latest run, and, for jobs recorded with
//! `hostwatch run --schedule CRON`, when the next run was due. Cron schedules are in the
//! host's local time, which the hub is not told; the offset is inferred from the runs
//! themselves (a cron job starts within moments of its firing time).

use super::cron::Schedule;
use crate::score::describe_outcome;
use hostwatch_proto::JobRun;
use jiff::civil::DateTime;
use std::collections::BTreeMap;

/// Runs fetched per host to find each job's latest (newest first).
pub const RUNS_FETCHED: u32 = 200;

/// A run counts as on time when it started within this long after a firing.
const START_SLACK_MS: i64 = 5 * 60_000;

/// One job of a host, as the job rules judge it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFacts {
    pub job: String,
    pub last_started_at: i64,
    pub last_duration_ms: i64,
    pub succeeded: bool,
    /// "exit 1", "timed out", …
    pub outcome: String,
    /// The last line of the run's output, for the summary.
    pub last_line: String,
    pub schedule: Option<String>,
    /// When the next run should have started, unix ms: from the schedule, after the latest
    /// run. `None` without a readable schedule.
    pub next_due: Option<i64>,
}

/// Each job's facts from a host's recent runs (any order).
pub fn facts(runs: &[JobRun]) -> Vec<JobFacts> {
    let mut by_job: BTreeMap<&str, Vec<&JobRun>> = BTreeMap::new();
    for r in runs {
        by_job.entry(&r.job).or_default().push(r);
    }
    by_job
        .into_values()
        .map(|mut runs| {
            runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
            let last = runs[0];
            let next_due = last.schedule.as_deref().and_then(|spec| {
                let schedule = Schedule::parse(spec).ok()?;
                let starts: Vec<i64> = runs
                    .iter()
                    .filter(|r| r.schedule.as_deref() == Some(spec))
                    .take(5)
                    .map(|r| r.started_at)
                    .collect();
                let offset = infer_offset(&schedule, &starts);
                let local = civil(last.started_at, offset)?;
                let next = schedule.next_after(local)?;
                Some(unix_ms(next)? - offset)
            });
            let last_line = last
                .output_tail
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .chars()
                .take(200)
                .collect();
            JobFacts {
                job: last.job.clone(),
                last_started_at: last.started_at,
                last_duration_ms: (last.duration_seconds.max(0.0) * 1000.0) as i64,
                succeeded: last.succeeded(),
                outcome: describe_outcome(&last.outcome),
                last_line,
                schedule: last.schedule.clone(),
                next_due,
            }
        })
        .collect()
}

/// Unix ms + offset (ms) as a wall-clock time.
fn civil(unix_ms: i64, offset_ms: i64) -> Option<DateTime> {
    let ts = jiff::Timestamp::from_millisecond(unix_ms.checked_add(offset_ms)?).ok()?;
    Some(ts.to_zoned(jiff::tz::TimeZone::UTC).datetime())
}

/// A wall-clock time read as UTC, in unix ms.
fn unix_ms(t: DateTime) -> Option<i64> {
    Some(
        t.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

/// The host's UTC offset (ms) that best explains `starts` as firings of `schedule`: the
/// quarter-hour offset between −12 h and +14 h under which most runs started within 5 min
/// after a firing; ties go to the offset nearest UTC. Runs started by hand match nothing
/// and do not count.
pub fn infer_offset(schedule: &Schedule, starts: &[i64]) -> i64 {
    const QUARTER: i64 = 15 * 60_000;
    let on_time = |start: i64, offset: i64| {
        (0..=START_SLACK_MS / 60_000)
            .any(|back| civil(start - back * 60_000, offset).is_some_and(|t| schedule.matches(t)))
    };
    let mut best = (0usize, 0i64);
    for q in -48..=56i64 {
        let offset = q * QUARTER;
        let hits = starts.iter().filter(|&&s| on_time(s, offset)).count();
        let better = hits > best.0 || (hits == best.0 && hits > 0 && offset.abs() < best.1.abs());
        if better {
            best = (hits, offset);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostwatch_proto::JobOutcome;

    pub fn run(job: &str, schedule: Option<&str>, started_at: i64, ok: bool) -> JobRun {
        JobRun {
            schema_version: 1,
            host_id: "web-1".into(),
            job: job.into(),
            schedule: schedule.map(String::from),
            run_id: format!("{job}-{started_at}"),
            command: vec!["/bin/true".into()],
            started_at,
            duration_seconds: 30.0,
            outcome: if ok {
                JobOutcome::Exited(0)
            } else {
                JobOutcome::Exited(2)
            },
            output_tail: "starting\nrsync: connection refused\n\n".into(),
            output_truncated: false,
        }
    }

    fn ms(t: &str) -> i64 {
        t.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn the_next_run_is_due_in_the_hosts_own_time() {
        // A daily 03:00 job on a host at UTC+2 starts at 01:00 UTC (a few seconds late).
        let runs = vec![
            run(
                "backup",
                Some("0 3 * * *"),
                ms("2026-03-01T01:00:04Z"),
                true,
            ),
            run(
                "backup",
                Some("0 3 * * *"),
                ms("2026-03-02T01:00:02Z"),
                false,
            ),
            run("rotate", None, ms("2026-03-02T05:00:00Z"), true),
        ];
        let f = facts(&runs);
        assert_eq!(f.len(), 2);
        let backup = &f[0];
        assert_eq!(backup.job, "backup");
        assert!(!backup.succeeded);
        assert_eq!(backup.outcome, "exit 2");
        assert_eq!(backup.last_line, "rsync: connection refused");
        assert_eq!(backup.next_due, Some(ms("2026-03-03T01:00:00Z")));
        assert_eq!(f[1].next_due, None, "no schedule, no due time");
        // A host in UTC.
        let utc = facts(&[run(
            "b",
            Some("0 3 * * *"),
            ms("2026-03-01T03:00:01Z"),
            true,
        )]);
        assert_eq!(utc[0].next_due, Some(ms("2026-03-02T03:00:00Z")));
        // Every 5 minutes: any offset explains it, UTC is taken, the answer is the same.
        let often = facts(&[run(
            "p",
            Some("*/5 * * * *"),
            ms("2026-03-01T03:10:00Z"),
            true,
        )]);
        assert_eq!(often[0].next_due, Some(ms("2026-03-01T03:15:00Z")));
        // An unreadable schedule gives no due time rather than a wrong one.
        let bad = facts(&[run(
            "x",
            Some("every day"),
            ms("2026-03-01T03:00:00Z"),
            true,
        )]);
        assert_eq!(bad[0].next_due, None);
    }

    #[test]
    fn the_offset_comes_from_runs_that_started_on_time() {
        let s = Schedule::parse("30 2 * * *").unwrap();
        // India, UTC+5:30: 02:30 local is 21:00 UTC the day before.
        let starts = [ms("2026-03-01T21:00:10Z"), ms("2026-03-02T21:01:00Z")];
        assert_eq!(infer_offset(&s, &starts), 5 * 3_600_000 + 30 * 60_000);
        // A run started by hand in between is outvoted by the runs cron started.
        let mixed = [starts[0], ms("2026-03-02T13:47:00Z"), starts[1]];
        assert_eq!(infer_offset(&s, &mixed), 5 * 3_600_000 + 30 * 60_000);
        // Nothing at all: UTC.
        assert_eq!(infer_offset(&s, &[]), 0);
    }
}
