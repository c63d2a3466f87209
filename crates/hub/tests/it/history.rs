//! Reading a host's history back: every uncompacted report for charts, and only the latest
//! one of the open hour for the week-long trend fits (`history::read_hourly`).

use crate::harness::{TestHub, report};
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::store::{IncomingReport, Store};
use hostwatch_hub::{enrol, history};
use hostwatch_proto::Section;
use hostwatch_tsdb::{HOUR_MS, Resolution};

fn with_memory(seq: u64, at: i64, used_pct: f64) -> IncomingReport {
    let mut r = report("hist-1", "i", seq);
    r.collected_at = at;
    if let Some(Section::Ok(m)) = &mut r.sections.memory {
        m.used_pct = used_pct;
    }
    let body = hostwatch_hub::store::compress(&r.to_json());
    IncomingReport { report: r, body }
}

#[tokio::test]
async fn trend_reads_take_only_the_latest_report_of_the_open_hour() {
    let hub = TestHub::start(HubConfig::default()).await;
    let store = &hub.hub.store;
    let host = enrol::add_host(store, "hist-1", &[], "http://127.0.0.1", 0)
        .await
        .unwrap()
        .host;
    // Half past an hour, so every report below is in the hour it is meant for.
    let open_hour = hostwatch_hub::hub::now_ms() / HOUR_MS * HOUR_MS - HOUR_MS;
    let now = open_hour + HOUR_MS / 2;
    // One report in the last closed hour (not compacted yet), three in the open one.
    let reports = vec![
        with_memory(1, open_hour - 600_000, 10.0),
        with_memory(2, open_hour + 1_000, 20.0),
        with_memory(3, open_hour + 2_000, 30.0),
        with_memory(4, open_hour + 3_000, 70.0),
    ];
    store
        .ingest_reports(host.id, reports, now, 10)
        .await
        .unwrap();
    let (from, to) = (now - 7 * 24 * HOUR_MS, now + 1);

    let every = history::read(
        store,
        host.id,
        "mem.used_pct",
        &[],
        from,
        to,
        Resolution::Hour,
    )
    .await
    .unwrap();
    let counts: Vec<(f64, u64)> = every[0].points.iter().map(|p| (p.avg, p.count)).collect();
    assert_eq!(counts, [(10.0, 1), (40.0, 3)], "charts see every report");

    let hourly = history::read_hourly(store, host.id, "mem.used_pct", from, to)
        .await
        .unwrap();
    assert_eq!(hourly.len(), 1);
    let points: Vec<(i64, f64, u64)> = hourly[0]
        .points
        .iter()
        .map(|p| (p.ts_ms, p.avg, p.count))
        .collect();
    assert_eq!(
        points,
        [(open_hour, 70.0, 1)],
        "the trend read decodes no uncompacted report, it takes the latest state"
    );

    // A sample of the uncompacted window: the first report of each hour, oldest first.
    let firsts: Vec<u64> = store
        .pending_samples(host.id, from, to, HOUR_MS)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(firsts, [1, 2]);
    let all = store.pending_samples(host.id, from, to, 1).await.unwrap();
    assert_eq!(all.len(), 4, "a step finer than the reports takes each");
    hub.stop().await;
}
