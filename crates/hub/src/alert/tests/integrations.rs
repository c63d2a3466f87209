//! The integrations' built-in rules over the golden report with its sections edited:
//! containers, units, checks, ZFS, S.M.A.R.T., Proxmox storage, failing sources and jobs.

use super::*;
use hostwatch_proto::sections::CheckState;
use hostwatch_proto::{ErrorKind, JobOutcome, JobRun, SectionError};

const SEC: i64 = 1000;

impl Fixture {
    /// Stores the golden report, collected at `at`, after `edit`.
    async fn ingest(&mut self, at: i64, edit: impl FnOnce(&mut Report)) {
        self.seq += 1;
        let mut r = golden();
        r.host_id = "web-1".into();
        r.seq = self.seq;
        r.collected_at = at;
        edit(&mut r);
        let body = compress(&r.to_json());
        self.store
            .ingest_reports(
                self.host.id,
                vec![IncomingReport { report: r, body }],
                at,
                10,
            )
            .await
            .unwrap();
    }

    async fn job(&mut self, job: &str, schedule: Option<&str>, started_at: i64, ok: bool) {
        let run = JobRun {
            schema_version: 1,
            host_id: "web-1".into(),
            job: job.into(),
            schedule: schedule.map(String::from),
            run_id: format!("{job}-{started_at}"),
            command: vec!["/usr/local/bin/backup.sh".into()],
            started_at,
            duration_seconds: 120.0,
            outcome: if ok {
                JobOutcome::Exited(0)
            } else {
                JobOutcome::Exited(23)
            },
            output_tail: "sending incremental file list\nrsync error: some files vanished\n".into(),
            output_truncated: false,
        };
        self.store
            .ingest_job_runs(self.host.id, vec![run])
            .await
            .unwrap();
    }
}

/// `(state, severity, summary)` of the notices of `rule` so far; all notices are drained.
fn of(rec: &Recorder, rule: &str) -> Vec<(NoticeState, Severity, String)> {
    rec.notices
        .lock()
        .unwrap()
        .drain(..)
        .filter(|n| n.rule == rule)
        .map(|n| (n.state, n.severity, n.summary))
        .collect()
}

fn firing(sev: Severity, summary: &str) -> (NoticeState, Severity, String) {
    (NoticeState::Firing, sev, summary.into())
}

fn resolved(summary: &str) -> (NoticeState, Severity, String) {
    (NoticeState::Resolved, Severity::Warning, summary.into())
}

fn containers(r: &mut Report) -> &mut hostwatch_proto::sections::Containers {
    match &mut r.sections.containers {
        Some(Section::Ok(c)) => c,
        _ => panic!("the golden report has containers"),
    }
}

#[tokio::test]
async fn an_unhealthy_container_fires_after_a_minute_and_resolves_when_healthy() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    // The golden `api` container is unhealthy (3 failed checks); `web` is healthy.
    f.ingest(T0, |_| {}).await;
    e.evaluate(&f.store, T0).await.unwrap();
    assert_eq!(of(&rec, "container_unhealthy"), vec![]);
    f.ingest(T0 + MIN, |_| {}).await;
    e.evaluate(&f.store, T0 + MIN).await.unwrap();
    assert_eq!(
        of(&rec, "container_unhealthy"),
        vec![firing(
            Severity::Warning,
            "container api on web-1 is unhealthy: its health check failed 3 times in a row: stat: can't stat '/etc/passwd': No such file or directory"
        )]
    );
    let open = e.alerts(Some("web-1"), None);
    let api = open
        .iter()
        .find(|a| a.rule == "container_unhealthy")
        .unwrap();
    assert_eq!(api.labels["container"], "api");
    // Stopped on purpose is not unhealthy: it resolves at once.
    f.ingest(T0 + 2 * MIN, |r| {
        let c = containers(r);
        c.containers[1].state = "exited".into();
    })
    .await;
    e.evaluate(&f.store, T0 + 2 * MIN).await.unwrap();
    assert_eq!(
        of(&rec, "container_unhealthy"),
        vec![resolved(
            "resolved: container_unhealthy on web-1 (container=api)"
        )]
    );
}

#[tokio::test]
async fn a_container_restarting_repeatedly_fires_and_calms_down_after_the_window() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    // `web` restarts once a minute: 1 (the golden value), 2, 3, 4.
    for (m, count) in [(0, 1), (1, 2), (2, 3)] {
        f.ingest(T0 + m * MIN, |r| {
            containers(r).containers[0].restart_count = Some(count);
            containers(r).containers[0].state = "restarting".into();
        })
        .await;
        e.evaluate(&f.store, T0 + m * MIN).await.unwrap();
    }
    assert_eq!(
        of(&rec, "container_restarting"),
        vec![],
        "2 restarts are not 3"
    );
    f.ingest(T0 + 3 * MIN, |r| {
        containers(r).containers[0].restart_count = Some(4);
        containers(r).containers[0].state = "restarting".into();
    })
    .await;
    e.evaluate(&f.store, T0 + 3 * MIN).await.unwrap();
    assert_eq!(
        of(&rec, "container_restarting"),
        vec![firing(
            Severity::Warning,
            "container web on web-1 restarted 3 times in the last 15 min (restarting)"
        )]
    );
    // It stays up: once the restarts are older than 15 minutes, it resolves.
    for m in [10, 17, 19] {
        f.ingest(T0 + m * MIN, |r| {
            containers(r).containers[0].restart_count = Some(4);
        })
        .await;
        e.evaluate(&f.store, T0 + m * MIN).await.unwrap();
    }
    assert_eq!(
        of(&rec, "container_restarting"),
        vec![resolved(
            "resolved: container_restarting on web-1 (container=web) is back to 1"
        )]
    );
}

#[tokio::test]
async fn units_expected_active_are_critical_and_failed_units_a_warning() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    // cloudflared is auto-restarting (not active); one unit of the system failed.
    f.ingest(T0, |_| {}).await;
    e.evaluate(&f.store, T0).await.unwrap();
    assert_eq!(
        of(&rec, "failed_units"),
        vec![firing(
            Severity::Warning,
            "web-1 has 1 failed systemd units: pve-guests.service"
        )]
    );
    f.ingest(T0 + MIN, |_| {}).await;
    e.evaluate(&f.store, T0 + MIN).await.unwrap();
    let sent = rec.notices.lock().unwrap().clone();
    let unit: Vec<_> = sent.iter().filter(|n| n.rule == "unit_inactive").collect();
    assert_eq!(unit.len(), 1, "nginx is active");
    assert_eq!(unit[0].severity, Severity::Critical);
    assert_eq!(unit[0].labels["unit"], "cloudflared.service");
    assert_eq!(
        unit[0].summary,
        "cloudflared.service on web-1 is activating (auto-restart) but should be active"
    );
    rec.take();
    f.ingest(T0 + 2 * MIN, |r| {
        let Some(Section::Ok(d)) = &mut r.sections.systemd else {
            panic!()
        };
        d.units[0].active_state = "active".into();
        d.units[0].sub_state = "running".into();
        d.failed_units = 0;
        d.failed_unit_names.clear();
    })
    .await;
    e.evaluate(&f.store, T0 + 2 * MIN).await.unwrap();
    let mut got: Vec<(String, NoticeState)> = rec
        .notices
        .lock()
        .unwrap()
        .drain(..)
        .map(|n| (n.rule, n.state))
        .filter(|(r, _)| r == "unit_inactive" || r == "failed_units")
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("failed_units".into(), NoticeState::Resolved),
            ("unit_inactive".into(), NoticeState::Resolved),
        ]
    );
}

fn set_check(r: &mut Report, state: CheckState, status: &str) {
    let Some(Section::Ok(c)) = &mut r.sections.checks else {
        panic!()
    };
    c.checks.truncate(1);
    c.checks[0].state = state;
    c.checks[0].status = status.into();
}

#[tokio::test]
async fn check_states_map_to_severities_at_once() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    let steps = [
        (
            CheckState::Warning,
            "DISK WARNING - free space: / 3326 MB (16%);",
        ),
        (
            CheckState::Critical,
            "DISK CRITICAL - free space: / 900 MB (4%);",
        ),
        (CheckState::Unknown, "timed out after 10 s"),
        (CheckState::Ok, "DISK OK"),
    ];
    let mut got = Vec::new();
    for (i, (state, status)) in steps.into_iter().enumerate() {
        let at = T0 + i as i64 * MIN;
        f.ingest(at, |r| set_check(r, state, status)).await;
        e.evaluate(&f.store, at).await.unwrap();
        got.extend(of(&rec, "check_state"));
    }
    assert_eq!(
        got,
        vec![
            firing(
                Severity::Warning,
                "check root_disk on web-1 is WARNING: DISK WARNING - free space: / 3326 MB (16%);"
            ),
            firing(
                Severity::Critical,
                "check root_disk on web-1 is CRITICAL: DISK CRITICAL - free space: / 900 MB (4%);"
            ),
            firing(
                Severity::Warning,
                "check root_disk on web-1 is UNKNOWN: timed out after 10 s"
            ),
            resolved("resolved: check_state on web-1 (check=root_disk)"),
        ]
    );
}

#[tokio::test]
async fn check_state_is_tunable_like_every_rule() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    // Only criticals, and the backup check only after 10 minutes.
    let e = engine(
        r#"
[alerts.builtin.check_state]
warning = "off"
[[alerts.overrides]]
rule = "check_state"
labels = { check = "root_disk" }
for = "10m"
"#,
        &rec,
    );
    for m in 0..=10 {
        f.ingest(T0 + m * MIN, |r| {
            set_check(r, CheckState::Critical, "DISK CRITICAL");
            let Some(Section::Ok(c)) = &mut r.sections.checks else {
                panic!()
            };
            let mut other = c.checks[0].clone();
            other.name = "backup_age".into();
            other.state = CheckState::Unknown;
            c.checks.push(other);
        })
        .await;
        e.evaluate(&f.store, T0 + m * MIN).await.unwrap();
        let sent = of(&rec, "check_state");
        if m < 10 {
            assert_eq!(
                sent,
                vec![],
                "minute {m}: UNKNOWN is a warning, which is off"
            );
        } else {
            assert_eq!(
                sent,
                vec![firing(
                    Severity::Critical,
                    "check root_disk on web-1 is CRITICAL: DISK CRITICAL"
                )]
            );
        }
    }
}

fn pool(r: &mut Report) -> &mut hostwatch_proto::sections::ZfsPool {
    match &mut r.sections.zfs {
        Some(Section::Ok(z)) => &mut z.pools[0],
        _ => panic!(),
    }
}

#[tokio::test]
async fn zfs_pools_state_errors_and_scrub_age() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    // The golden rpool is DEGRADED, without errors, last scrubbed in January.
    f.ingest(T0, |_| {}).await;
    e.evaluate(&f.store, T0).await.unwrap();
    let sent = rec.notices.lock().unwrap().clone();
    let get = |rule: &str| {
        sent.iter()
            .filter(|n| n.rule == rule)
            .map(|n| (n.severity, n.summary.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        get("zfs_pool_state"),
        vec![(
            Severity::Warning,
            "ZFS pool rpool on web-1 is DEGRADED: One or more devices could not be used because the label is missing or invalid.".into()
        )]
    );
    assert_eq!(get("zfs_errors"), vec![]);
    assert_eq!(
        get("zfs_scrub_age"),
        vec![(
            Severity::Warning,
            "ZFS pool rpool on web-1 was last scrubbed 314.4 days ago (warning above 35.0 days)"
                .into()
        )]
    );
    rec.take();
    // The pool faults and a disk shows checksum errors: critical at once.
    f.ingest(T0 + 2 * MIN, |r| {
        let p = pool(r);
        p.state = "FAULTED".into();
        p.status = None;
        p.vdevs[0].children[0].checksum_errors = 7;
        p.data_errors = 2;
    })
    .await;
    e.evaluate(&f.store, T0 + 2 * MIN).await.unwrap();
    let sent = rec.notices.lock().unwrap().clone();
    let get = |rule: &str| {
        sent.iter()
            .filter(|n| n.rule == rule)
            .map(|n| (n.severity, n.summary.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        get("zfs_pool_state"),
        vec![(
            Severity::Critical,
            "ZFS pool rpool on web-1 is FAULTED".into()
        )]
    );
    rec.take();
    // Repaired, cleared and scrubbed: everything resolves.
    f.ingest(T0 + 3 * MIN, |r| {
        let p = pool(r);
        p.state = "ONLINE".into();
        p.scan.as_mut().unwrap().end_ms = Some(T0 + 2 * MIN);
    })
    .await;
    e.evaluate(&f.store, T0 + 3 * MIN).await.unwrap();
    let mut rules: Vec<(String, NoticeState)> = rec
        .notices
        .lock()
        .unwrap()
        .drain(..)
        .filter(|n| n.rule.starts_with("zfs_"))
        .map(|n| (n.rule, n.state))
        .collect();
    rules.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        rules,
        vec![
            ("zfs_errors".into(), NoticeState::Resolved),
            ("zfs_pool_state".into(), NoticeState::Resolved),
            ("zfs_scrub_age".into(), NoticeState::Resolved),
        ]
    );
}

#[tokio::test]
async fn zfs_errors_fire_as_a_warning_with_their_breakdown() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    f.ingest(T0, |r| {
        let p = pool(r);
        p.vdevs[0].children[1].read_errors = 3;
        p.checksum_errors = 1;
    })
    .await;
    e.evaluate(&f.store, T0).await.unwrap();
    assert_eq!(
        of(&rec, "zfs_errors"),
        vec![firing(
            Severity::Warning,
            "ZFS pool rpool on web-1 has 4 errors (read 3, write 0, checksum 1, data 0)"
        )]
    );
}

#[tokio::test]
async fn disks_failing_their_health_check_or_wearing_out() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    f.ingest(T0, |r| {
        let Some(Section::Ok(sm)) = &mut r.sections.smart else {
            panic!()
        };
        sm.devices[0].passed = Some(false);
        sm.devices[0].reallocated_sectors = Some(8);
        sm.devices[0].pending_sectors = Some(1);
        sm.devices[1].nvme_percentage_used_pct = Some(93.0);
        // A disk in standby is never judged, whatever it last said.
        sm.devices[2].passed = Some(false);
    })
    .await;
    e.evaluate(&f.store, T0).await.unwrap();
    let sent = rec.notices.lock().unwrap().clone();
    let get = |rule: &str| {
        sent.iter()
            .filter(|n| n.rule == rule)
            .map(|n| (n.severity, n.summary.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        get("smart_failed"),
        vec![(
            Severity::Critical,
            "/dev/sdc (HGST HUS726040ALE614) on web-1 failed its S.M.A.R.T. health assessment: replace it".into()
        )]
    );
    assert_eq!(
        get("smart_sectors"),
        vec![(
            Severity::Warning,
            "/dev/sdc (HGST HUS726040ALE614) on web-1 has 9 bad sectors (8 reallocated, 1 pending)"
                .into()
        )]
    );
    assert_eq!(
        get("nvme_wear"),
        vec![(
            Severity::Warning,
            "NVMe /dev/nvme0 on web-1 has used 93.0 % of its rated endurance (warning above 90.0 %)"
                .into()
        )]
    );
}

#[tokio::test]
async fn proxmox_storage_fills_past_85_then_95_percent() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    let fill = |pct: f64| {
        move |r: &mut Report| {
            let Some(Section::Ok(p)) = &mut r.sections.proxmox else {
                panic!()
            };
            p.storages[0].used_pct = Some(pct);
        }
    };
    let mut got = Vec::new();
    for m in 0..=5 {
        f.ingest(T0 + m * MIN, fill(90.0)).await;
        e.evaluate(&f.store, T0 + m * MIN).await.unwrap();
        got.extend(of(&rec, "pve_storage_used"));
    }
    for m in 6..=11 {
        f.ingest(T0 + m * MIN, fill(97.0)).await;
        e.evaluate(&f.store, T0 + m * MIN).await.unwrap();
        got.extend(of(&rec, "pve_storage_used"));
    }
    assert_eq!(
        got,
        vec![
            firing(
                Severity::Warning,
                "Proxmox storage local-zfs on web-1 is 90.0 % full (warning above 85.0 %)"
            ),
            firing(
                Severity::Critical,
                "Proxmox storage local-zfs on web-1 is 97.0 % full (critical above 95.0 %)"
            ),
        ]
    );
}

#[tokio::test]
async fn a_source_failing_for_five_minutes_is_a_warning() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    let fail = |r: &mut Report| {
        r.sections.containers = Some(Section::Failed(SectionError {
            kind: ErrorKind::Io,
            message: "daemon unreachable: connecting to /var/run/docker.sock: connection refused"
                .into(),
        }));
    };
    // A blip of two minutes says nothing.
    for m in 0..3 {
        f.ingest(T0 + m * MIN, fail).await;
        e.evaluate(&f.store, T0 + m * MIN).await.unwrap();
    }
    f.ingest(T0 + 3 * MIN, |_| {}).await;
    e.evaluate(&f.store, T0 + 3 * MIN).await.unwrap();
    assert_eq!(of(&rec, "source_failing"), vec![]);
    for m in 4..=9 {
        f.ingest(T0 + m * MIN, fail).await;
        e.evaluate(&f.store, T0 + m * MIN).await.unwrap();
    }
    assert_eq!(
        of(&rec, "source_failing"),
        vec![firing(
            Severity::Warning,
            "the containers source on web-1 has been failing for 5 min: daemon unreachable: connecting to /var/run/docker.sock: connection refused"
        )]
    );
    // While the daemon is away, its containers' alerts stay as they were (until
    // `stale_after`), rather than resolving and firing again when it is back.
    assert!(
        e.alerts(Some("web-1"), None)
            .iter()
            .any(|a| a.rule == "container_unhealthy" && a.state == AlertState::Pending)
    );
    f.ingest(T0 + 10 * MIN, |_| {}).await;
    e.evaluate(&f.store, T0 + 10 * MIN).await.unwrap();
    assert_eq!(
        of(&rec, "source_failing"),
        vec![resolved(
            "resolved: source_failing on web-1 (section=containers)"
        )]
    );
}

#[tokio::test]
async fn a_failed_job_warns_until_it_succeeds_again() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    f.job("backup", None, T0 - 10 * MIN, true).await;
    f.job("backup", None, T0 - 5 * MIN, false).await;
    e.evaluate(&f.store, T0).await.unwrap();
    assert_eq!(
        of(&rec, "job_failed"),
        vec![firing(
            Severity::Warning,
            "job backup on web-1 failed (exit 23): rsync error: some files vanished"
        )]
    );
    // Job runs are read again at most once a minute.
    f.job("backup", None, T0 + 10 * SEC, true).await;
    e.evaluate(&f.store, T0 + 30 * SEC).await.unwrap();
    assert_eq!(of(&rec, "job_failed"), vec![]);
    e.evaluate(&f.store, T0 + MIN).await.unwrap();
    assert_eq!(
        of(&rec, "job_failed"),
        vec![resolved("resolved: job_failed on web-1 (job=backup)")]
    );
}

#[tokio::test]
async fn a_scheduled_job_that_stops_running_is_overdue_after_its_grace() {
    let mut f = Fixture::new().await;
    let rec = Arc::new(Recorder::default());
    let e = engine("", &rec);
    let day = 86_400_000;
    // 03:00 every day on a host in UTC+2: the runs start at 01:00 UTC; each takes 2 min.
    let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    let sched = Some("0 3 * * *");
    f.job("backup", sched, t("2026-11-18T01:00:03Z"), true)
        .await;
    f.job("backup", sched, t("2026-11-19T01:00:02Z"), true)
        .await;
    // Due 2026-11-20 01:00 UTC, plus 2 min of running, plus 10 min of grace.
    let due = t("2026-11-20T01:00:00Z");
    for at in [due - day / 2, due, due + 12 * MIN] {
        e.evaluate(&f.store, at).await.unwrap();
        assert_eq!(of(&rec, "job_missed"), vec![], "at {at}");
    }
    e.evaluate(&f.store, due + 13 * MIN).await.unwrap();
    assert_eq!(
        of(&rec, "job_missed"),
        vec![firing(
            Severity::Warning,
            "job backup on web-1 did not run when due (schedule `0 3 * * *`, last run 2026-11-19 01:00 UTC): overdue by 11 min"
        )]
    );
    // It runs again (late, by hand): resolved; the next one is due the following night.
    f.job("backup", sched, due + 30 * MIN, true).await;
    e.evaluate(&f.store, due + 31 * MIN).await.unwrap();
    assert_eq!(
        of(&rec, "job_missed"),
        vec![resolved("resolved: job_missed on web-1 (job=backup)")]
    );
    e.evaluate(&f.store, due + day).await.unwrap();
    assert_eq!(of(&rec, "job_missed"), vec![]);
    // A job without a schedule is never overdue.
    f.job("adhoc", None, T0 - 100 * day, true).await;
    e.evaluate(&f.store, due + day + 2 * MIN).await.unwrap();
    assert!(!e.alerts(None, None).iter().any(|a| a.rule == "job_missed"),);
}
