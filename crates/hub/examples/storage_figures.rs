//! Storage figures of the hub on one host's week: bytes per stored sample after compaction and
//! the time to answer a 7-day query through the API. Prints them; `docs/performance.md` quotes
//! the output.
//!
//! `cargo run --release -p hostwatch-hub --example storage_figures [DAYS]`
//!
//! The reports are the golden full report with its figures driven by tsdb's seeded synthetic
//! series (CPU with a daily hump and noise, a temperature, byte counters turned into rates,
//! slowly filling disks), one every 10 s, stored and compacted through the real SQLite store.

use hostwatch_hub::config::HubConfig;
use hostwatch_hub::store::{IncomingReport, SqliteStore, Store};
use hostwatch_hub::{Hub, compact, enrol};
use hostwatch_proto::{Report, Section};
use hostwatch_tsdb::synthetic;
use std::time::Instant;

const STEP_MS: i64 = 10_000;
const DAY_MS: i64 = 86_400_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let days: i64 = std::env::args()
        .nth(1)
        .and_then(|d| d.parse().ok())
        .unwrap_or(7);
    let n = (days * DAY_MS / STEP_MS) as usize;
    let now = hostwatch_hub::hub::now_ms();
    let start = (now / DAY_MS - days - 1) * DAY_MS;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let host = enrol::add_host(&store, "bench-1", &[], "http://127.0.0.1", 0)
        .await
        .unwrap()
        .host;

    let golden: Report = Report::from_json(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proto/tests/fixtures/report-v1-full.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let cpu = synthetic::cpu_pct(start, STEP_MS, n, 1);
    let steal = synthetic::cpu_pct(start, STEP_MS, n, 2);
    let temp = synthetic::temperature_c(start, STEP_MS, n, 3);
    let rx = synthetic::byte_counter(start, STEP_MS, n, 4);
    let tx = synthetic::byte_counter(start, STEP_MS, n, 5);

    let t = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        let mut r = golden.clone();
        r.host_id = host.name.clone();
        r.seq = i as u64 + 1;
        r.collected_at = cpu.timestamps[i];
        let s = &mut r.sections;
        if let Some(Section::Ok(c)) = &mut s.cpu {
            let u = c.usage.as_mut().unwrap();
            u.busy_pct = cpu.values[i];
            u.user_pct = cpu.values[i] * 0.7;
            u.system_pct = cpu.values[i] * 0.25;
            u.steal_pct = steal.values[i] / 10.0;
            u.idle_pct = 100.0 - cpu.values[i];
            for core in &mut c.cores {
                core.usage = Some(*u);
            }
        }
        if let Some(Section::Ok(m)) = &mut s.memory {
            m.used_pct = 40.0 + cpu.values[i] / 5.0;
            m.used_bytes = (m.total_bytes as f64 * m.used_pct / 100.0) as u64;
        }
        if let Some(Section::Ok(f)) = &mut s.filesystems {
            for (k, mount) in f.mounts.iter_mut().enumerate() {
                mount.used_pct = 40.0 + k as f64 * 5.0 + i as f64 * 0.0002;
            }
        }
        if let Some(Section::Ok(net)) = &mut s.network
            && i > 0
        {
            for iface in &mut net.interfaces {
                let rates = iface
                    .rates
                    .get_or_insert(hostwatch_proto::sections::InterfaceRates {
                        rx_bytes_per_sec: 0.0,
                        tx_bytes_per_sec: 0.0,
                        rx_packets_per_sec: 0.0,
                        tx_packets_per_sec: 0.0,
                        rx_errors_per_sec: 0.0,
                        tx_errors_per_sec: 0.0,
                        rx_drops_per_sec: 0.0,
                        tx_drops_per_sec: 0.0,
                    });
                rates.rx_bytes_per_sec = ((rx.values[i] - rx.values[i - 1]) / 10.0).max(0.0);
                rates.tx_bytes_per_sec = ((tx.values[i] - tx.values[i - 1]) / 10.0).max(0.0);
                rates.rx_packets_per_sec = (rates.rx_bytes_per_sec / 800.0).round();
                rates.tx_packets_per_sec = (rates.tx_bytes_per_sec / 600.0).round();
            }
        }
        if let Some(Section::Ok(th)) = &mut s.thermal {
            th.cpu_max_celsius = Some(temp.values[i]);
            for sensor in &mut th.sensors {
                sensor.celsius = temp.values[i];
            }
        }
        let body = zstd::bulk::compress(&r.to_json(), 3).unwrap();
        batch.push(IncomingReport { report: r, body });
        if batch.len() == 1000 || i + 1 == n {
            store
                .ingest_reports(host.id, std::mem::take(&mut batch), now, 10)
                .await
                .unwrap();
        }
    }
    let ingest = t.elapsed();

    let t = Instant::now();
    let stats = compact::compact(&store, now).await.unwrap();
    let merged = compact::merge_days(&store, now).await.unwrap();
    let compaction = t.elapsed();

    // Bytes and samples per resolution, straight from the database.
    let db = rusqlite::Connection::open(store.path()).unwrap();
    let mut q = db
        .prepare("SELECT resolution, COUNT(*), SUM(LENGTH(data)) FROM chunks GROUP BY resolution ORDER BY resolution")
        .unwrap();
    let rows: Vec<(i64, i64, i64)> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut points = Vec::new();
    hostwatch_hub::series::points(&golden, &mut points);
    let series = points.len();
    let samples = stats.reports as f64 * series as f64;

    println!(
        "{days} days of one host at 10 s: {} reports, {series} series per report",
        stats.reports
    );
    println!(
        "ingest through the store: {:.1} s; compaction: {:.1} s ({} chunks written, {merged} day merges)",
        ingest.as_secs_f64(),
        compaction.as_secs_f64(),
        stats.chunks
    );
    for (res, count, bytes) in &rows {
        let label = match res {
            0 => "raw",
            60 => "1 min",
            _ => "1 h",
        };
        if *res == 0 {
            println!(
                "{label:>6}: {count} chunks, {bytes} bytes, {:.2} bytes per sample",
                *bytes as f64 / samples
            );
        } else {
            let buckets = stats.reports as f64 * series as f64 * 10_000.0 / (*res as f64 * 1000.0);
            println!(
                "{label:>6}: {count} chunks, {bytes} bytes, {:.2} bytes per bucket",
                *bytes as f64 / buckets
            );
        }
    }

    // A 7-day query of one series through the API router, as the dashboard will ask it.
    let hub = Hub::new(HubConfig::default(), store.clone());
    let viewer = enrol::add_api_client(
        &store,
        &hostwatch_hub::store::ApiClient {
            name: "v".into(),
            role: hostwatch_hub::store::Role::Viewer,
        },
        0,
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hostwatch_hub::api::router(hub)).await });
    let (from, to) = (start + DAY_MS, start + (days + 1) * DAY_MS);
    let client = std::sync::Arc::new(viewer.expose().to_string());
    let mut times = Vec::new();
    let mut answer_points = 0;
    for _ in 0..20 {
        let path = format!(
            "/api/v1/hosts/bench-1/series?name=cpu.busy_pct&from={from}&to={to}&max_points=1000"
        );
        let t = Instant::now();
        let body = get(addr, &path, &client).await;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        answer_points = v["series"][0]["points"].as_array().map_or(0, |p| p.len());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "7-day query of cpu.busy_pct through the API (1,000-point chart, {answer_points} points): median {:.1} ms, max {:.1} ms over 20",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

async fn get(addr: std::net::SocketAddr, path: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Chunked bodies: strip the framing.
    if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body.as_str();
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        return out;
    }
    body
}
