//! Reading a host's history of one series over a range, as the trend, score and digest need it:
//! the stored chunks at a chosen resolution plus the reports not compacted yet (mapped on the
//! fly), per label set. The same sources the series API reads, without its HTTP shape.

use crate::series;
use crate::store::{HostId, Store, StoreError};
use hostwatch_tsdb::{QueryPoint, RangeQuery, Resolution};
use std::collections::BTreeMap;

/// One label set's points, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The series' canonical key, `fs.used_pct{mount="/var"}`.
    pub key: String,
    pub labels: BTreeMap<String, String>,
    /// Width of each point's bucket; 0 when the points are raw samples.
    pub step_ms: i64,
    pub points: Vec<QueryPoint>,
}

impl History {
    /// The average over every point, weighted by how many samples each bucket holds.
    pub fn mean(&self) -> Option<f64> {
        let (sum, n) = self.points.iter().fold((0.0, 0u64), |(s, n), p| {
            let c = p.count.max(1);
            (s + p.avg * c as f64, n + c)
        });
        (n > 0).then(|| sum / n as f64)
    }

    /// The highest value seen (bucket maxima).
    pub fn peak(&self) -> Option<f64> {
        self.points.iter().map(|p| p.max).reduce(f64::max)
    }

    /// The first and last point's averages.
    pub fn first_last(&self) -> Option<(f64, f64)> {
        Some((self.points.first()?.avg, self.points.last()?.avg))
    }
}

/// The resolution for reading `[from, to)`: raw samples are only worth it for short ranges;
/// anything longer than six hours reads the 1-minute rollups, and anything from two days on the
/// 1-hour rollups (a week is 168 points per series).
pub fn resolution_for(from: i64, to: i64) -> Resolution {
    let range = to - from;
    if range <= 6 * hostwatch_tsdb::HOUR_MS {
        Resolution::Raw
    } else if range < 2 * crate::store::DAY_MS {
        Resolution::Minute
    } else {
        Resolution::Hour
    }
}

/// Every label set of `name` on `host` in `[from, to)` at `resolution`, whose labels include
/// all of `matchers`. Unreadable chunks are skipped with a log line, never an error: one bad
/// chunk must not hide a host's whole history.
pub async fn read<S: Store>(
    store: &S,
    host: HostId,
    name: &str,
    matchers: &[(String, String)],
    from: i64,
    to: i64,
    resolution: Resolution,
) -> Result<Vec<History>, StoreError> {
    read_thinned(
        store,
        host,
        name,
        matchers,
        from,
        to,
        resolution,
        usize::MAX,
    )
    .await
}

/// [`read`], each label set thinned to at most `max_points` (keeping every bucket's min and
/// max), as the series API answers charts.
#[allow(clippy::too_many_arguments)]
pub async fn read_thinned<S: Store>(
    store: &S,
    host: HostId,
    name: &str,
    matchers: &[(String, String)],
    from: i64,
    to: i64,
    resolution: Resolution,
    max_points: usize,
) -> Result<Vec<History>, StoreError> {
    let range = Range {
        from,
        to,
        resolution,
        max_points,
    };
    read_with(store, host, name, matchers, range, Uncompacted::EveryReport).await
}

/// Every label set of `name` on `host` at the hourly resolution, for a fit over days: the
/// compacted hours, and of the hour not compacted yet only the host's latest report. That hour
/// holds hundreds of reports, each decoded whole to take one number, for at most two of the
/// line's points; the latest report is in memory.
pub async fn read_hourly<S: Store>(
    store: &S,
    host: HostId,
    name: &str,
    from: i64,
    to: i64,
) -> Result<Vec<History>, StoreError> {
    let range = Range {
        from,
        to,
        resolution: Resolution::Hour,
        max_points: usize::MAX,
    };
    read_with(store, host, name, &[], range, Uncompacted::LatestOnly).await
}

/// What a read covers.
#[derive(Debug, Clone, Copy)]
struct Range {
    from: i64,
    to: i64,
    resolution: Resolution,
    max_points: usize,
}

/// Which of the reports not compacted into chunks yet a read takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Uncompacted {
    EveryReport,
    /// The host's latest report, when it is from the hour still open (an older one may be
    /// compacted already, and would then count twice).
    LatestOnly,
}

async fn read_with<S: Store>(
    store: &S,
    host: HostId,
    name: &str,
    matchers: &[(String, String)],
    range: Range,
    uncompacted: Uncompacted,
) -> Result<Vec<History>, StoreError> {
    let Range {
        from,
        to,
        resolution,
        max_points,
    } = range;
    if to <= from {
        return Ok(Vec::new());
    }
    let seconds = resolution.bucket_ms().map_or(0, |w| (w / 1000) as u32);
    let matches = |key: &str| {
        series::parse_selector(key)
            .is_some_and(|(_, have)| matchers.iter().all(|want| have.contains(want)))
    };
    let new_query = || RangeQuery::new(from, to, resolution, max_points.max(1)).expect("to > from");
    let mut queries: BTreeMap<String, RangeQuery> = BTreeMap::new();
    for chunk in store
        .chunks(host, name.to_string(), seconds, from, to)
        .await?
    {
        if !matches(&chunk.key) {
            continue;
        }
        let q = queries.entry(chunk.key.clone()).or_insert_with(new_query);
        if let Err(e) = q.add_chunk(&chunk.data) {
            tracing::error!(series = %chunk.key, error = %e, "unreadable chunk skipped");
        }
    }
    let mut samples: BTreeMap<String, (Vec<i64>, Vec<f64>)> = BTreeMap::new();
    let mut points = Vec::new();
    let reports = match uncompacted {
        Uncompacted::EveryReport => store
            .pending_reports(host, from, to)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
        Uncompacted::LatestOnly => {
            let open_hour = to - to.rem_euclid(hostwatch_tsdb::HOUR_MS);
            let latest = store.latest(host).await?;
            latest
                .filter(|r| (open_hour.max(from)..to).contains(&r.collected_at))
                .into_iter()
                .collect::<Vec<_>>()
        }
    };
    for report in reports {
        points.clear();
        series::points(&report, &mut points);
        for point in points.iter().filter(|p| p.key.name == name) {
            let key = point.key.to_string();
            if matches(&key) {
                let (ts, vs) = samples.entry(key).or_default();
                ts.push(report.collected_at);
                vs.push(point.value);
            }
        }
    }
    for (key, (ts, vs)) in samples {
        queries
            .entry(key)
            .or_insert_with(new_query)
            .add_samples(&ts, &vs);
    }
    Ok(queries
        .into_iter()
        .map(|(key, q)| {
            let result = q.finish();
            History {
                labels: series::parse_selector(&key)
                    .map(|(_, l)| l.into_iter().collect())
                    .unwrap_or_default(),
                step_ms: result.step_ms,
                points: result.points,
                key,
            }
        })
        .collect())
}
