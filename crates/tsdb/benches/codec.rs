//! Codec, rollup and query benchmarks, plus a printed report of bytes per sample.
//!
//! `cargo bench -p hostwatch-tsdb --bench codec` — the size table comes first (sizes are
//! deterministic; `chunk.rs` tests assert the 2-byte target on them), then criterion's timings.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use hostwatch_tsdb::synthetic::{self, DAY_MS};
use hostwatch_tsdb::{
    Head, HeadConfig, MINUTE_MS, Points, Precision, RangeQuery, Resolution, decode_buckets,
    decode_points, encode_buckets, encode_points, rollup,
};

/// A UTC midnight.
const START_MS: i64 = 1_700_006_400_000;
/// 10 s samples in a day.
const DAY_SAMPLES: usize = 8640;

struct Case {
    name: &'static str,
    series: Points,
    precision: Precision,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "cpu_pct",
            series: synthetic::cpu_pct(START_MS, 10_000, DAY_SAMPLES, 11),
            precision: Precision::PERCENT,
        },
        Case {
            name: "rx_bytes_counter",
            series: synthetic::byte_counter(START_MS, 10_000, DAY_SAMPLES, 12),
            precision: Precision::Exact,
        },
        Case {
            name: "temperature_c",
            series: synthetic::temperature_c(START_MS, 10_000, DAY_SAMPLES, 13),
            precision: Precision::CELSIUS,
        },
        Case {
            name: "cpu_pct_with_gaps",
            series: synthetic::with_gaps(
                synthetic::cpu_pct(START_MS, 10_000, DAY_SAMPLES, 14),
                &[(600, 360), (4000, 3), (7000, 800)],
            ),
            precision: Precision::PERCENT,
        },
    ]
}

fn head_chunks(series: &Points, precision: Precision) -> Vec<Vec<u8>> {
    let mut head = Head::new(HeadConfig::new(precision));
    let mut chunks = Vec::new();
    for (&ts, &v) in series.timestamps.iter().zip(&series.values) {
        head.append(ts, v).expect("synthetic samples are in order");
        chunks.extend(head.cut().expect("encodes"));
    }
    chunks.extend(head.flush().expect("encodes"));
    chunks
}

/// Prints bytes per sample for a day at 10 s: as one chunk, and as the head's default 6-hour
/// chunks; and bytes per bucket for the day's 1-minute rollups.
fn report_sizes() {
    println!("bytes per sample, one day at 10 s (8640 samples, 0-4 ms jitter):");
    println!(
        "{:<20} {:>10} {:>10} {:>12} {:>14}",
        "series", "precision", "day chunk", "6 h chunks", "1-min rollup/bucket"
    );
    for case in cases() {
        let s = &case.series;
        let day = encode_points(&s.timestamps, &s.values, case.precision).expect("encodes");
        let six_hours: usize = head_chunks(s, case.precision).iter().map(Vec::len).sum();
        let buckets = rollup(&s.timestamps, &s.values, MINUTE_MS);
        let minutes = encode_buckets(&buckets, MINUTE_MS, case.precision).expect("encodes");
        println!(
            "{:<20} {:>10} {:>10.3} {:>12.3} {:>14.3}",
            case.name,
            format!("{:?}", case.precision),
            day.len() as f64 / s.len() as f64,
            six_hours as f64 / s.len() as f64,
            minutes.len() as f64 / buckets.len() as f64,
        );
    }
    println!();
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for case in cases().into_iter().take(2) {
        let s = &case.series;
        let bytes = encode_points(&s.timestamps, &s.values, case.precision).expect("encodes");
        group.throughput(Throughput::Elements(s.len() as u64));
        group.bench_function(BenchmarkId::new("encode_day", case.name), |b| {
            b.iter(|| {
                encode_points(
                    black_box(&s.timestamps),
                    black_box(&s.values),
                    case.precision,
                )
            })
        });
        group.bench_function(BenchmarkId::new("decode_day", case.name), |b| {
            b.iter(|| decode_points(black_box(&bytes)))
        });
    }
    group.finish();
}

fn rollups(c: &mut Criterion) {
    let cpu = synthetic::cpu_pct(START_MS, 10_000, DAY_SAMPLES, 11);
    let mut group = c.benchmark_group("rollup");
    group.throughput(Throughput::Elements(cpu.len() as u64));
    group.bench_function("minute_from_raw_day", |b| {
        b.iter(|| {
            rollup(
                black_box(&cpu.timestamps),
                black_box(&cpu.values),
                MINUTE_MS,
            )
        })
    });
    group.finish();
}

/// One host's CPU series over 7 days: seven day-long chunks of 1-minute rollups (what a
/// 7-day chart reads), queried in full and thinned to a 1000-point chart.
fn week_query(c: &mut Criterion) {
    let week = synthetic::cpu_pct(START_MS, 10_000, 7 * DAY_SAMPLES, 21);
    let chunks: Vec<Vec<u8>> = week
        .timestamps
        .chunk_by(|a, b| a / DAY_MS == b / DAY_MS)
        .scan(0, |at, day| {
            let values = &week.values[*at..*at + day.len()];
            *at += day.len();
            let buckets = rollup(day, values, MINUTE_MS);
            Some(encode_buckets(&buckets, MINUTE_MS, Precision::PERCENT).expect("encodes"))
        })
        .collect();
    let bytes: usize = chunks.iter().map(Vec::len).sum();
    println!(
        "7-day CPU series at 1 min: {} chunks, {bytes} bytes, {:.3} bytes/bucket",
        chunks.len(),
        bytes as f64 / (7.0 * 1440.0)
    );
    let (from, to) = (START_MS, START_MS + 7 * DAY_MS);
    let run = |max_points: usize| {
        let mut query = RangeQuery::new(from, to, Resolution::Minute, max_points).expect("range");
        for chunk in &chunks {
            query.add_chunk(black_box(chunk)).expect("decodes");
        }
        query.finish()
    };
    assert_eq!(run(usize::MAX).points.len(), 7 * 1440);
    let mut group = c.benchmark_group("query");
    group.throughput(Throughput::Elements(7 * 1440));
    group.bench_function("week_of_minutes_all_10080_points", |b| {
        b.iter(|| run(usize::MAX))
    });
    group.bench_function("week_of_minutes_as_1000_point_chart", |b| {
        b.iter(|| run(1000))
    });
    group.bench_function("decode_one_day_of_minute_buckets", |b| {
        b.iter(|| decode_buckets(black_box(&chunks[0])))
    });
    group.finish();
}

fn main() {
    report_sizes();
    let mut criterion = Criterion::default().configure_from_args();
    codec(&mut criterion);
    rollups(&mut criterion);
    week_query(&mut criterion);
    criterion.final_summary();
}
