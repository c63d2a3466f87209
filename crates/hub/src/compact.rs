//! The compactor: turns stored reports into per-series compressed chunks — raw samples plus
//! 1-minute and 1-hour rollups that keep min, max, avg and last, so spikes survive
//! downsampling — merges each closed day's small chunks into one, and applies retention.
//!
//! A report waits in `pending` until the hour it was collected in has ended (plus a settling
//! delay); its chunks and the deletion of its `pending` row are one transaction, so every
//! report is compacted exactly once, whatever crashes. A late report (an agent backfilling
//! after an outage) lands in an already-compacted hour and simply adds a chunk there, which
//! the daily merge folds in.

use crate::hub::{Hub, now_ms};
use crate::series::{self, Point};
use crate::store::{
    DAY_MS, HostId, NewChunk, PendingKey, Retention, Store, StoreError, StoredChunk,
};
use hostwatch_proto::Report;
use hostwatch_tsdb::{
    Bucket, HOUR_MS, MINUTE_MS, Precision, decode_buckets, encode_buckets, encode_points, rollup,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// An hour is compacted this long after it ends, so reports still in flight make it.
pub const SETTLE_MS: i64 = 2 * 60_000;

/// How precisely a series is stored, from its unit: finer than the data's own resolution, and
/// no finer, because every useless digit costs bytes.
pub fn precision_of(name: &str) -> Precision {
    if name.ends_with("_pct") {
        Precision::PERCENT
    } else if name.ends_with("_celsius") {
        Precision::CELSIUS
    } else if name.ends_with("_bytes")
        || name.ends_with("_bps")
        || name.starts_with("procs.")
        || name.starts_with("agent.")
    {
        Precision::WHOLE
    } else if name.ends_with("_seconds") {
        // Latencies (await) need microseconds; uptimes do not mind.
        Precision::Decimals(6)
    } else {
        // Load averages, IOPS, packets per second, task counts.
        Precision::Decimals(2)
    }
}

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub reports: usize,
    pub chunks: usize,
    pub merged: usize,
}

/// One series' samples gathered from reports: its name and `(time, value)` pairs.
type Gathered = (&'static str, Vec<(i64, f64)>);

/// Raw, minute and hour chunks of every series in `reports`.
pub fn chunks_of(reports: &[Report]) -> Vec<NewChunk> {
    let mut by_key: BTreeMap<String, Gathered> = BTreeMap::new();
    let mut points: Vec<Point> = Vec::new();
    for r in reports {
        points.clear();
        series::points(r, &mut points);
        for p in points.drain(..) {
            by_key
                .entry(p.key.to_string())
                .or_insert_with(|| (p.key.name, Vec::new()))
                .1
                .push((r.collected_at, p.value));
        }
    }
    let mut out = Vec::with_capacity(by_key.len() * 3);
    for (key, (name, mut samples)) in by_key {
        // Reports of two agent instances can share a millisecond; keep the later one.
        samples.sort_by_key(|&(ts, _)| ts);
        samples.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = later.1;
            }
            same
        });
        samples.retain(|(_, v)| v.is_finite());
        if samples.is_empty() {
            continue;
        }
        let precision = precision_of(name);
        let (ts, vs): (Vec<i64>, Vec<f64>) = samples.into_iter().unzip();
        let (first, last) = (ts[0], ts[ts.len() - 1]);
        let Ok(raw) = encode_points(&ts, &vs, precision) else {
            tracing::error!(series = %key, "could not encode a raw chunk; skipped");
            continue;
        };
        out.push(NewChunk {
            key: key.clone(),
            name: name.to_string(),
            resolution: 0,
            first_ms: first,
            last_ms: last,
            data: raw,
        });
        for width in [MINUTE_MS, HOUR_MS] {
            let buckets = rollup(&ts, &vs, width);
            if let Ok(data) = encode_buckets(&buckets, width, precision) {
                out.push(NewChunk {
                    key: key.clone(),
                    name: name.to_string(),
                    resolution: (width / 1000) as u32,
                    first_ms: buckets[0].start_ms,
                    last_ms: buckets[buckets.len() - 1].start_ms,
                    data,
                });
            }
        }
    }
    out
}

/// Compacts every closed hour that has pending reports. Returns what it did.
pub async fn compact<S: Store>(store: &S, now: i64) -> Result<Stats, StoreError> {
    let before = ((now - SETTLE_MS) / HOUR_MS) * HOUR_MS;
    let mut stats = Stats::default();
    loop {
        let groups = store.compactable(before, 64).await?;
        if groups.is_empty() {
            return Ok(stats);
        }
        for (host, hour) in groups {
            let pending = store.pending_reports(host, hour, hour + HOUR_MS).await?;
            let (keys, reports): (Vec<PendingKey>, Vec<Report>) = pending.into_iter().unzip();
            let chunks = tokio::task::spawn_blocking(move || chunks_of(&reports))
                .await
                .map_err(|e| StoreError::Database(format!("compaction task failed: {e}")))?;
            stats.reports += keys.len();
            stats.chunks += chunks.len();
            store
                .store_chunks(host, chunks, keys, Vec::new(), now)
                .await?;
        }
    }
}

/// Merges the rollup chunks of each closed UTC day into one chunk per series and resolution
/// (better compression, fewer rows to read for long ranges).
pub async fn merge_days<S: Store>(store: &S, now: i64) -> Result<usize, StoreError> {
    let today = (now / DAY_MS) * DAY_MS;
    let mut merged = 0;
    for resolution in [60u32, 3600] {
        loop {
            let fragments = store.fragmented_days(resolution, today, 256).await?;
            if fragments.is_empty() {
                break;
            }
            // Group by (host, series, day); each group becomes one chunk.
            let mut groups: BTreeMap<(HostId, i64, i64), Vec<StoredChunk>> = BTreeMap::new();
            for (host, chunk) in fragments {
                groups
                    .entry((host, chunk.series_id, chunk.first_ms / DAY_MS))
                    .or_default()
                    .push(chunk);
            }
            for ((host, _, _), chunks) in groups {
                let width = i64::from(resolution) * 1000;
                let mut buckets: Vec<Bucket> = Vec::new();
                for c in &chunks {
                    let Ok((bs, _)) = decode_buckets(&c.data) else {
                        tracing::error!(chunk = c.id, "unreadable chunk left as it is");
                        continue;
                    };
                    for b in bs {
                        hostwatch_tsdb::rollup::add_bucket(&mut buckets, b);
                    }
                }
                let first = &chunks[0];
                let data = encode_buckets(&buckets, width, precision_of(&first.name))
                    .map_err(|e| StoreError::Corrupt(format!("re-encoding {}: {e}", first.key)))?;
                let new = NewChunk {
                    key: first.key.clone(),
                    name: first.name.clone(),
                    resolution,
                    first_ms: buckets.first().map_or(first.first_ms, |b| b.start_ms),
                    last_ms: buckets.last().map_or(first.last_ms, |b| b.start_ms),
                    data,
                };
                let ids = chunks.iter().map(|c| c.id).collect();
                store
                    .store_chunks(host, vec![new], Vec::new(), ids, now)
                    .await?;
                merged += 1;
            }
        }
    }
    Ok(merged)
}

/// Runs compaction every `every`, the daily merge and retention every hour, until dropped.
pub async fn run<S: Store>(hub: Arc<Hub<S>>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_upkeep = i64::MIN;
    loop {
        ticker.tick().await;
        let now = now_ms();
        match compact(&hub.store, now).await {
            Ok(s) if s.reports > 0 => {
                tracing::debug!(reports = s.reports, chunks = s.chunks, "compacted")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "compaction failed"),
        }
        if now.saturating_sub(last_upkeep) >= HOUR_MS {
            last_upkeep = now;
            if let Err(e) = merge_days(&hub.store, now).await {
                tracing::error!(error = %e, "merging daily chunks failed");
            }
            match hub
                .store
                .apply_retention(now, hub.config.retention.as_store())
                .await
            {
                Ok(r) if r.chunks + r.reports > 0 => {
                    tracing::info!(
                        chunks = r.chunks,
                        reports = r.reports,
                        "retention removed old data"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention failed"),
            }
        }
    }
}

impl crate::config::RetentionConfig {
    /// The retention as the store applies it.
    pub fn as_store(&self) -> Retention {
        Retention {
            raw_ms: i64::from(self.raw_days) * DAY_MS,
            minute_ms: i64::from(self.minute_days) * DAY_MS,
            hour_ms: i64::from(self.hour_days) * DAY_MS,
            reports_ms: i64::from(self.reports_hours) * HOUR_MS,
        }
    }
}
