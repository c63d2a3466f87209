//! Compaction and the series API: the same answers before and after reports become chunks,
//! every report compacted exactly once, late reports folded in, retention bounded.

use crate::harness::{TestHub, report};
use hostwatch_hub::compact;
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::store::Store;
use hostwatch_proto::{Report, Section};

const HOUR: i64 = 3_600_000;

/// `n` reports 10 s apart starting at `start`, with a CPU steal that walks and one spike.
fn reports(host: &str, start: i64, n: u64) -> Vec<Report> {
    (1..=n)
        .map(|seq| {
            let mut r = report(host, "i", seq);
            r.collected_at = start + (seq as i64 - 1) * 10_000;
            if let Some(Section::Ok(cpu)) = &mut r.sections.cpu {
                let u = cpu.usage.as_mut().unwrap();
                u.steal_pct = if seq == 100 {
                    97.5
                } else {
                    (seq % 20) as f64 * 0.5
                };
            }
            r
        })
        .collect()
}

async fn send(hub: &TestHub, token: &str, batch: &[Report]) {
    for part in batch.chunks(500) {
        let r = hub
            .post_json("/api/v1/reports", token, &serde_json::to_vec(part).unwrap())
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

async fn steal(hub: &TestHub, from: i64, to: i64) -> serde_json::Value {
    let path = format!(
        "/api/v1/hosts/web-1/series?name=cpu.steal_pct&from={from}&to={to}&max_points=100000"
    );
    let r = hub.get(&path, &hub.viewer).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_every_value_and_each_report_once() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let now = hostwatch_hub::hub::now_ms();
    let start = (now / HOUR - 4) * HOUR; // four whole hours ago
    let batch = reports("web-1", start, 3 * 360); // three hours at 10 s
    send(&hub, &token, &batch).await;

    let (from, to) = (start, start + 3 * HOUR);
    let before = steal(&hub, from, to).await;
    assert_eq!(before["resolution"], "raw");
    assert_eq!(
        before["series"][0]["points"].as_array().unwrap().len(),
        1080
    );

    let stats = compact::compact(&hub.hub.store, now).await.unwrap();
    assert_eq!(stats.reports, 1080, "every pending report compacted");
    assert_eq!(
        compact::compact(&hub.hub.store, now).await.unwrap().reports,
        0,
        "and only once"
    );
    let host = hub.hub.store.host("web-1").await.unwrap().unwrap();
    assert!(
        hub.hub
            .store
            .pending_reports(host.id, i64::MIN, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );

    let after = steal(&hub, from, to).await;
    assert_eq!(after, before, "chunks answer exactly what the reports did");
    let spike = after["series"][0]["points"][99].clone();
    assert_eq!(spike[1], 97.5);

    // Thinned for a chart, the spike survives as a max.
    let thin = hub
        .get(
            &format!(
                "/api/v1/hosts/web-1/series?name=cpu.steal_pct&from={from}&to={to}&max_points=50"
            ),
            &hub.viewer,
        )
        .await
        .json();
    let points = thin["series"][0]["points"].as_array().unwrap();
    assert!(points.len() <= 50);
    assert!(points.iter().any(|p| p[3] == 97.5), "max keeps the spike");
    let f = |p: &serde_json::Value, i: usize| p[i].as_f64().unwrap();
    assert!(
        points
            .iter()
            .all(|p| f(p, 1) <= f(p, 2) && f(p, 2) <= f(p, 3)),
        "min <= avg <= max"
    );

    // Label selectors pick one label set.
    let fs = hub
        .get(
            &format!(
                "/api/v1/hosts/web-1/series?name=fs.used_pct{{mount=%22/%22}}&from={from}&to={to}"
            ),
            &hub.viewer,
        )
        .await
        .json();
    assert_eq!(fs["series"].as_array().unwrap().len(), 1, "{fs}");
    assert_eq!(fs["series"][0]["labels"]["mount"], "/");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_reports_add_a_chunk_that_the_daily_merge_folds_in() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let now = hostwatch_hub::hub::now_ms();
    let day = (now / 86_400_000 - 2) * 86_400_000; // the day before yesterday, closed
    let mut all = reports("web-1", day, 720); // two hours
    let late = all.split_off(600);
    send(&hub, &token, &all).await;
    compact::compact(&hub.hub.store, now).await.unwrap();
    // The agent was cut off for those 20 minutes and backfills them now.
    send(&hub, &token, &late).await;
    assert_eq!(
        compact::compact(&hub.hub.store, now).await.unwrap().reports,
        120
    );

    let host = hub.hub.store.host("web-1").await.unwrap().unwrap();
    let minute = |store: &hostwatch_hub::store::SqliteStore| {
        let store = store.clone();
        async move {
            store
                .chunks(host.id, "cpu.steal_pct".into(), 60, day, day + 86_400_000)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        minute(&hub.hub.store).await.len(),
        3,
        "two hours plus the late part"
    );
    let merged = compact::merge_days(&hub.hub.store, now).await.unwrap();
    assert!(merged > 0);
    assert_eq!(
        minute(&hub.hub.store).await.len(),
        1,
        "one chunk per day after the merge"
    );

    // A two-day range reads 1-minute rollups: 120 buckets, each holding 6 samples.
    let j = steal(&hub, day, day + 2 * 86_400_000).await;
    assert_eq!(j["resolution"], "minute");
    let points = j["series"][0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 120);
    assert!(points.iter().any(|p| p[3] == 97.5));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_chunks_and_compacted_reports_only() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let now = hostwatch_hub::hub::now_ms();
    let start = (now / HOUR - 3) * HOUR;
    send(&hub, &token, &reports("web-1", start, 360)).await;
    compact::compact(&hub.hub.store, now).await.unwrap();
    let host = hub.hub.store.host("web-1").await.unwrap().unwrap();
    // Pretend a month has passed; keep 1 day of raw and of reports.
    let mut config = HubConfig::default().retention;
    config.raw_days = 1;
    config.reports_hours = 24;
    let later = now + 30 * 86_400_000;
    let removed = hub
        .hub
        .store
        .apply_retention(later, config.as_store())
        .await
        .unwrap();
    assert!(removed.chunks > 0 && removed.reports == 360, "{removed:?}");
    assert!(
        hub.hub
            .store
            .chunks(host.id, "cpu.steal_pct".into(), 0, 0, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        hub.hub
            .store
            .chunks(host.id, "cpu.steal_pct".into(), 60, 0, i64::MAX)
            .await
            .unwrap()
            .len(),
        1,
        "1-minute rollups are kept 90 days"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_series_queries_are_refused_clearly() {
    let hub = TestHub::start(HubConfig::default()).await;
    hub.enrol("web-1").await;
    let r = hub
        .get("/api/v1/hosts/web-1/series?name=cpu%20steal", &hub.viewer)
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("invalid series selector")
    );
    let r = hub
        .get(
            "/api/v1/hosts/web-1/series?name=cpu.steal_pct&from=10&to=5",
            &hub.viewer,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        hub.get("/api/v1/hosts/nope/series?name=cpu.steal_pct", &hub.viewer)
            .await
            .status,
        404
    );
    hub.stop().await;
}
