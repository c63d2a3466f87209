//! The weekly digest, the health score and trends over a store filled with a synthetic week:
//! reports every 15 minutes, compacted into chunks by the real compactor, seeded events and job
//! runs; the digest's figures asserted in its text, its HTML escaped, each week sent once.

use crate::harness::{TestHub, report};
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::digest::{self, Tick};
use hostwatch_hub::notice::{AlertNotice, DigestMessage, Notifier};
use hostwatch_hub::store::{DAY_MS, HostStatus, IncomingReport, Store};
use hostwatch_hub::{compact, enrol};
use hostwatch_proto::{JobOutcome, JobRun, Section};
use std::sync::Mutex;

const HOUR: i64 = 3_600_000;
const STEP: i64 = 900_000;
const GIB: u64 = 1024 * 1024 * 1024;

/// Collects digests instead of sending them.
#[derive(Default)]
struct Recorder(Mutex<Vec<DigestMessage>>);

impl Notifier for Recorder {
    fn alert(&self, _: AlertNotice) {}
    fn stop_repeating(&self, _: &str) {}
    fn digest(&self, message: DigestMessage) {
        self.0.lock().unwrap().push(message);
    }
}

/// A week of reports of `host` every 15 minutes ending at `to`: steal 8 % ± 0.5, `/` from 40 % (its whole first
/// hour) to 47 %, `/srv/<x>&y` filling 3 % a day from 60 %, memory 50 % used, swap 512 MiB with
/// one peak of `swap_peak`.
fn week(host: &str, to: i64, swap_peak: u64) -> Vec<IncomingReport> {
    let n = (7 * DAY_MS / STEP) as usize;
    let from = to - 7 * DAY_MS;
    (0..n)
        .map(|i| {
            let mut r = report(host, "synthetic", i as u64 + 1);
            r.collected_at = from + i as i64 * STEP;
            let s = &mut r.sections;
            if let Some(Section::Ok(c)) = &mut s.cpu {
                let u = c.usage.as_mut().unwrap();
                u.steal_pct = if i % 2 == 0 { 8.5 } else { 7.5 };
                u.busy_pct = 30.0;
            }
            if let Some(Section::Ok(m)) = &mut s.memory {
                m.used_pct = 50.0;
                m.swap_used_bytes = if i == n / 2 { swap_peak } else { GIB / 2 };
            }
            if let Some(Section::Ok(f)) = &mut s.filesystems {
                let per_hour = (HOUR / STEP) as f64;
                let ramp = ((i as f64 - per_hour + 1.0) / (n as f64 - per_hour)).clamp(0.0, 1.0);
                for m in &mut f.mounts {
                    match m.mount.as_str() {
                        "/" => m.used_pct = 40.0 + 7.0 * ramp,
                        "/rpool/data" => {
                            m.mount = "/srv/<x>&y".into();
                            m.used_pct = 60.0 + 21.0 * i as f64 / (n as f64 - 1.0);
                        }
                        _ => {}
                    }
                }
            }
            let body = zstd::bulk::compress(&r.to_json(), 3).unwrap();
            IncomingReport { report: r, body }
        })
        .collect()
}

fn run(host: &str, id: &str, at: i64, exit: i32) -> JobRun {
    JobRun {
        schema_version: 1,
        host_id: host.into(),
        job: if exit == 0 {
            "clean".into()
        } else {
            "backup".into()
        },
        schedule: None,
        run_id: id.into(),
        command: vec!["true".into()],
        started_at: at,
        duration_seconds: 1.0,
        outcome: JobOutcome::Exited(exit),
        output_tail: String::new(),
        output_truncated: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthetic_week_makes_the_digest_score_and_trends() {
    let mut config = HubConfig::default();
    config.digest.enabled = false; // ticked by hand below
    config.digest.time_zone = Some("UTC".into());
    let hub = TestHub::start(config).await;
    let store = &hub.hub.store;
    let now = hostwatch_hub::hub::now_ms();
    // The week ends at the start of the hour two hours ago, so every hour of it is compacted.
    let to = (now / HOUR - 2) * HOUR;
    let from = to - 7 * DAY_MS;

    let web1 = enrol::add_host(store, "web-1", &[], "http://127.0.0.1", 0)
        .await
        .unwrap()
        .host;
    let web2 = enrol::add_host(store, "web-2", &[], "http://127.0.0.1", 0)
        .await
        .unwrap()
        .host;
    // web-1 was last heard from now (the heartbeat keeps it up); web-2 two hours ago (the
    // heartbeat marks it down, with an event after the week).
    for (host, name, peak, seen) in [
        (&web1, "web-1", 3 * GIB / 2, now),
        (&web2, "web-2", GIB, to),
    ] {
        let mut reports = week(name, to, peak);
        if name == "web-2" {
            // Only its last two hours: compacting costs a transaction per host-hour.
            reports.drain(..reports.len() - 8);
        }
        for batch in reports.chunks(500) {
            store
                .ingest_reports(host.id, batch.to_vec(), seen, 300)
                .await
                .unwrap();
        }
    }
    compact::compact(store, now).await.unwrap();
    compact::merge_days(store, now).await.unwrap();

    // Three alerts fired on web-1 in the week, one before it (not counted).
    for at in [from + HOUR, from + DAY_MS, to - HOUR, from - HOUR] {
        store
            .record_event(Some(web1.id), at, "alert_firing", "disk".into())
            .await
            .unwrap();
    }
    store
        .record_event(Some(web1.id), to - HOUR, "alert_resolved", "disk".into())
        .await
        .unwrap();
    // web-2 went down once in the week (and is down now).
    store
        .set_status(
            web2.id,
            HostStatus::Down,
            to - DAY_MS,
            "web-2 is down: no report for 60 s (expected every 10 s)".into(),
        )
        .await
        .unwrap();
    // web-1's jobs: one failed backup and two clean-ups in the week, one old failure before.
    store
        .ingest_job_runs(
            web1.id,
            vec![
                run("web-1", "a", to - 2 * DAY_MS, 1),
                run("web-1", "b", to - DAY_MS, 0),
                run("web-1", "c", to - HOUR, 0),
                run("web-1", "d", from - DAY_MS, 2),
            ],
        )
        .await
        .unwrap();

    let d = digest::gather(&hub.hub, to).await.unwrap();
    let text = d.text();
    let section = |host: &str| {
        let start = text.find(&format!("\n{host} — ")).expect(host);
        let rest = &text[start + 1..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string() + "\n"
    };
    let web1_text = section("web-1");
    assert!(
        web1_text.contains("  CPU steal: 8.0 % avg\n"),
        "{web1_text}"
    );
    assert!(
        web1_text.contains(
            "  Disk: / 47.0 % (+7.0 pts this week), /srv/<x>&y 81.0 % (+21.0 pts this week)\n"
        ),
        "{web1_text}"
    );
    assert!(
        web1_text.contains("  Memory: 50.0 % used avg\n"),
        "{web1_text}"
    );
    assert!(web1_text.contains("  Swap peak: 1.5 GiB\n"), "{web1_text}");
    assert!(web1_text.contains("  Alerts fired: 3\n"), "{web1_text}");
    assert!(web1_text.contains("  Went down: 0×\n"), "{web1_text}");
    assert!(
        web1_text.contains("  Job runs failed: 1 of 3 (backup)\n"),
        "{web1_text}"
    );
    assert!(
        web1_text.contains("  Unhealthy containers: 1 (api)\n"),
        "{web1_text}"
    );
    let web2_text = section("web-2");
    assert!(
        web2_text.starts_with("web-2 — score 0/100, down"),
        "{web2_text}"
    );
    assert!(web2_text.contains("  Went down: 1×\n"), "{web2_text}");

    assert!(text.contains("  Hosts: 2\n"), "{text}");
    assert!(text.contains("  CPU steal: 8.0 % avg\n"), "{text}");
    assert!(text.contains("  Alerts fired: 3\n"), "{text}");
    assert!(
        text.contains("  Hosts that went down: web-2 (1×)\n"),
        "{text}"
    );
    assert!(text.contains("  Swap peak: 1.5 GiB (web-1)\n"), "{text}");
    assert!(text.contains("  Job runs failed: 1 of 3\n"), "{text}");
    // The three most urgent: the down host first, then the filling disks.
    assert!(
        text.contains("Top actions\n  1. web-2: down — bring it back or remove it\n  2. "),
        "{text}"
    );
    assert!(
        text.contains(": /srv/<x>&y reaches 90 % in 2 days (on ")
            || text.contains(": /srv/<x>&y reaches 90 % in 3 days (on "),
        "{text}"
    );
    assert_eq!(d.actions.len(), 3);

    // HTML: the mount name from the reports is escaped wherever it appears.
    let html = d.html();
    assert!(html.contains("/srv/&lt;x&gt;&amp;y 81.0 %"), "{html}");
    assert!(!html.contains("<x>"), "{html}");
    assert!(html.contains("<th align=\"left\">Alerts fired</th><td>3</td>"));

    // The same week through the API: web-1's score and trends.
    let score = hub.get("/api/v1/hosts/web-1/score", &hub.viewer).await;
    assert_eq!(score.status, 200, "{}", score.text());
    let score = score.json();
    let dims = score["dimensions"].as_array().unwrap();
    assert_eq!(dims.len(), 6);
    let maintenance = dims.iter().find(|d| d["name"] == "maintenance").unwrap();
    assert_eq!(maintenance["points"], 0.0);
    let disk = dims.iter().find(|d| d["name"] == "disk").unwrap();
    assert_eq!(disk["points"], 5.0, "{disk}");
    let trends = hub.get("/api/v1/hosts/web-1/trends", &hub.viewer).await;
    assert_eq!(trends.status, 200, "{}", trends.text());
    let trends = trends.json();
    let srv = trends["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["labels"]["mount"] == "/srv/<x>&y")
        .unwrap()
        .clone();
    let slope = srv["slope_per_day"].as_f64().unwrap();
    assert!((slope - 3.0).abs() < 0.05, "{srv}");
    assert!(srv["r2"].as_f64().unwrap() > 0.99);
    assert!(
        srv["sentence"]
            .as_str()
            .unwrap()
            .starts_with("/srv/<x>&y reaches 90 % in "),
        "{srv}"
    );
    // The alert engine's `fs_projected_full` rule sees the same fit through its seam.
    let web1 = hostwatch_hub::store::Store::host(&hub.hub.store, "web-1")
        .await
        .unwrap()
        .unwrap();
    let projection = hostwatch_hub::trend::StoreProjection::new(
        hub.hub.store.clone(),
        hub.hub.config.trend.clone(),
    );
    let fs = hostwatch_hub::alert::Projection::filesystem(&projection, &web1, "/srv/<x>&y", now)
        .await
        .expect("a filling mount has a projection");
    assert!(fs.fit > 0.99, "{fs:?}");
    let full_in_days = (fs.full_at.expect("it fills") - now) as f64 / 86_400_000.0;
    assert!(
        (5.0..=8.0).contains(&full_in_days),
        "19 % left at 3 %/day: {full_in_days}"
    );
    // `/` grows 1 point a day from 47 %: full in about 53 days, far outside the rule's 7.
    let slow = hostwatch_hub::alert::Projection::filesystem(&projection, &web1, "/", now)
        .await
        .and_then(|p| p.full_at)
        .expect("a slowly filling mount still projects");
    let slow_days = (slow - now) as f64 / 86_400_000.0;
    assert!((45.0..=60.0).contains(&slow_days), "{slow_days}");
    let fleet = hub.get("/api/v1/score", &hub.viewer).await.json();
    assert_eq!(fleet["hosts"], 2);
    assert_eq!(fleet["worst"][0]["host"], "web-2");
    assert_eq!(fleet["worst"][0]["why"], "the host is down: score 0");
    assert_eq!(hub.get("/api/v1/score", "wrong").await.status, 401);

    // Sent once per week. A new hub does not open with a digest two days late…
    let mut config = HubConfig::default();
    config.digest.time_zone = Some("UTC".into());
    let schedule = config.digest.schedule().unwrap();
    let recorder = Recorder::default();
    let ts = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    let tick = |hub: &TestHub, at: jiff::Timestamp| {
        let hub = hub.hub.clone();
        let (schedule, recorder) = (&schedule, &recorder);
        async move { digest::tick(&hub, schedule, recorder, at).await.unwrap() }
    };
    assert_eq!(tick(&hub, ts("2026-01-21T08:00:00Z")).await, Tick::Idle);
    // …but does send within a day of the send time, once.
    assert_eq!(
        tick(&hub, ts("2026-01-19T09:00:00Z")).await,
        Tick::Sent("2026-01-19".into())
    );
    assert_eq!(tick(&hub, ts("2026-01-19T09:10:00Z")).await, Tick::Idle);
    // Once one was sent, a missed week is caught up however late: today's.
    let at = jiff::Timestamp::from_millisecond(now).unwrap();
    let Tick::Sent(week) = tick(&hub, at).await else {
        panic!("the latest week is caught up");
    };
    assert_ne!(week, "2026-01-19");
    assert_eq!(recorder.0.lock().unwrap().len(), 2);
    let sent = recorder.0.lock().unwrap()[1].clone();
    assert!(
        sent.subject
            .starts_with("hostwatch weekly digest — week ending ")
    );
    assert!(sent.text.contains("Top actions"));
    assert!(sent.html.starts_with("<!DOCTYPE html>"));
    assert_eq!(tick(&hub, at).await, Tick::Idle);
    // A restart on the same data neither re-sends nor forgets.
    let dir = hub.stop().await;
    let reopened = TestHub::start_in(HubConfig::default(), dir).await;
    assert_eq!(
        reopened.hub.store.last_digest().await.unwrap().map(|l| l.0),
        Some(week)
    );
    assert_eq!(tick(&reopened, at).await, Tick::Idle);
    assert_eq!(recorder.0.lock().unwrap().len(), 2);
}
