//! Range queries over chunks: pick the resolution, gather what overlaps, thin it for a chart.
//!
//! The resolution follows from the range asked and from what retention still holds:
//!
//! | resolution | ranges up to | kept for |
//! | --- | --- | --- |
//! | raw samples | 6 h | 7 days |
//! | 1-minute rollups | 7 days | 90 days |
//! | 1-hour rollups | anything longer | 2 years |
//!
//! [`pick_resolution`] takes the finest resolution whose range limit covers the query and whose
//! retention still reaches back to its start. A chart then asks for at most `max_points`
//! points; more than that are merged into wider aligned buckets (a "nice" step: 10 s, 1 min,
//! 5 min, …), keeping each bucket's min and max so that spikes stay visible.

use crate::chunk::{ChunkKind, DecodeError, decode_buckets, decode_points, read_header};
use crate::rollup::{Bucket, HOUR_MS, MINUTE_MS, add_bucket, rollup, rollup_buckets};

const SECOND_MS: i64 = 1_000;
const DAY_MS: i64 = 86_400_000;

/// How finely a series is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// The samples as reported.
    Raw,
    /// 1-minute rollups.
    Minute,
    /// 1-hour rollups.
    Hour,
}

impl Resolution {
    /// Finest first.
    pub const ALL: [Resolution; 3] = [Resolution::Raw, Resolution::Minute, Resolution::Hour];

    /// The rollup bucket width; `None` for raw samples.
    pub fn bucket_ms(self) -> Option<i64> {
        match self {
            Resolution::Raw => None,
            Resolution::Minute => Some(MINUTE_MS),
            Resolution::Hour => Some(HOUR_MS),
        }
    }

    /// How long data at this resolution is kept (raw 7 d, 1 min 90 d, 1 h 2 years).
    pub fn retention_ms(self) -> i64 {
        match self {
            Resolution::Raw => 7 * DAY_MS,
            Resolution::Minute => 90 * DAY_MS,
            Resolution::Hour => 2 * 365 * DAY_MS,
        }
    }

    /// The longest range this resolution answers (raw 6 h, 1 min 7 d); `None`: no limit.
    pub fn longest_range_ms(self) -> Option<i64> {
        match self {
            Resolution::Raw => Some(6 * HOUR_MS),
            Resolution::Minute => Some(7 * DAY_MS),
            Resolution::Hour => None,
        }
    }
}

/// The resolution to answer `[start_ms, end_ms)` with, at time `now_ms`: the finest one whose
/// range limit covers the range and whose retention still covers its start; 1-hour otherwise.
pub fn pick_resolution(start_ms: i64, end_ms: i64, now_ms: i64) -> Resolution {
    let range = end_ms.saturating_sub(start_ms);
    Resolution::ALL
        .into_iter()
        .find(|r| {
            r.longest_range_ms().is_none_or(|limit| range <= limit)
                && start_ms >= now_ms.saturating_sub(r.retention_ms())
        })
        .unwrap_or(Resolution::Hour)
}

/// Chart steps, smallest first; past these, doubling from 4 days.
const NICE_STEPS_MS: [i64; 19] = [
    SECOND_MS,
    2 * SECOND_MS,
    5 * SECOND_MS,
    10 * SECOND_MS,
    15 * SECOND_MS,
    30 * SECOND_MS,
    MINUTE_MS,
    2 * MINUTE_MS,
    5 * MINUTE_MS,
    10 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    2 * HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
    2 * DAY_MS,
];

/// Candidate output steps for a range of `range_ms` into `max_points`, smallest first, each a
/// multiple of `native_ms` (so output buckets are unions of whole input buckets).
fn candidate_steps(range_ms: i64, max_points: usize, native_ms: i64) -> impl Iterator<Item = i64> {
    let needed = range_ms / i64::try_from(max_points).unwrap_or(i64::MAX).max(1);
    let longer = std::iter::successors(Some(4 * DAY_MS), |step: &i64| step.checked_mul(2));
    NICE_STEPS_MS
        .into_iter()
        .chain(longer)
        .filter(move |&step| step >= needed && step % native_ms == 0)
}

/// One point of a query answer: a raw sample (count 1, min = avg = max) or a bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueryPoint {
    /// The sample's timestamp, or the bucket's start.
    pub ts_ms: i64,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    pub last: f64,
    pub count: u64,
}

impl From<&Bucket> for QueryPoint {
    fn from(b: &Bucket) -> QueryPoint {
        QueryPoint {
            ts_ms: b.start_ms,
            min: b.min,
            avg: b.avg(),
            max: b.max,
            last: b.last,
            count: b.count,
        }
    }
}

/// A query's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub resolution: Resolution,
    /// Width of each point's bucket; 0 when the points are raw samples.
    pub step_ms: i64,
    pub points: Vec<QueryPoint>,
}

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("empty range: end {end_ms} is not after start {start_ms}")]
    EmptyRange { start_ms: i64, end_ms: i64 },
    #[error("a {resolution:?} query was given a {kind:?} chunk with step {step_ms} ms")]
    WrongChunk {
        resolution: Resolution,
        kind: ChunkKind,
        step_ms: i64,
    },
    #[error("reading a chunk: {0}")]
    Decode(#[from] DecodeError),
}

/// A range query being assembled: create it, feed it the series' chunks at the chosen
/// resolution (chunks outside the range are skipped after reading their header) and the head's
/// samples, then [`finish`](RangeQuery::finish).
#[derive(Debug, Clone)]
pub struct RangeQuery {
    start_ms: i64,
    end_ms: i64,
    resolution: Resolution,
    max_points: usize,
    /// Raw samples in range (raw resolution).
    samples: Vec<(i64, f64)>,
    /// Buckets overlapping the range (rollup resolutions), sorted by start.
    buckets: Vec<Bucket>,
}

impl RangeQuery {
    /// A query for `[start_ms, end_ms)` at `resolution`, thinned to at most `max_points` points
    /// (at least 1).
    pub fn new(
        start_ms: i64,
        end_ms: i64,
        resolution: Resolution,
        max_points: usize,
    ) -> Result<RangeQuery, QueryError> {
        if end_ms <= start_ms {
            return Err(QueryError::EmptyRange { start_ms, end_ms });
        }
        Ok(RangeQuery {
            start_ms,
            end_ms,
            resolution,
            max_points: max_points.max(1),
            samples: Vec::new(),
            buckets: Vec::new(),
        })
    }

    /// Adds one chunk: a points chunk for raw queries, a rollup chunk of the resolution's width
    /// otherwise. Chunks that do not overlap the range are not decompressed.
    pub fn add_chunk(&mut self, bytes: &[u8]) -> Result<(), QueryError> {
        let header = read_header(bytes)?;
        let wrong = || QueryError::WrongChunk {
            resolution: self.resolution,
            kind: header.kind,
            step_ms: header.step_ms,
        };
        match (self.resolution.bucket_ms(), header.kind) {
            (None, ChunkKind::Points) => {
                if header.last_ms < self.start_ms || header.first_ms >= self.end_ms {
                    return Ok(());
                }
                let points = decode_points(bytes)?;
                self.add_samples(&points.timestamps, &points.values);
            }
            (Some(width), ChunkKind::Rollup) if header.step_ms == width => {
                if header.last_ms.saturating_add(width) <= self.start_ms
                    || header.first_ms >= self.end_ms
                {
                    return Ok(());
                }
                let (buckets, _) = decode_buckets(bytes)?;
                for bucket in buckets {
                    if self.bucket_overlaps(bucket.start_ms, width) {
                        add_bucket(&mut self.buckets, bucket);
                    }
                }
            }
            _ => return Err(wrong()),
        }
        Ok(())
    }

    /// Adds raw samples (the head's, not yet in a chunk). For rollup resolutions they are rolled
    /// up on the way in, so the newest minutes show before the compactor has run; do not add
    /// samples that a rollup chunk already covers, or they count twice.
    pub fn add_samples(&mut self, timestamps: &[i64], values: &[f64]) {
        match self.resolution.bucket_ms() {
            None => self.samples.extend(
                timestamps
                    .iter()
                    .zip(values)
                    .filter(|(ts, v)| (self.start_ms..self.end_ms).contains(*ts) && v.is_finite())
                    .map(|(&ts, &v)| (ts, v)),
            ),
            Some(width) => {
                for bucket in rollup(timestamps, values, width) {
                    if self.bucket_overlaps(bucket.start_ms, width) {
                        add_bucket(&mut self.buckets, bucket);
                    }
                }
            }
        }
    }

    fn bucket_overlaps(&self, start_ms: i64, width: i64) -> bool {
        start_ms < self.end_ms && start_ms.saturating_add(width) > self.start_ms
    }

    /// The answer: the points as stored if they fit `max_points`, else merged into the
    /// smallest nice step that fits.
    pub fn finish(self) -> QueryResult {
        let range = self.end_ms - self.start_ms;
        let answer = |step_ms: i64, buckets: &[Bucket]| QueryResult {
            resolution: self.resolution,
            step_ms,
            points: buckets.iter().map(QueryPoint::from).collect(),
        };
        let buckets = match self.resolution.bucket_ms() {
            None => {
                let (timestamps, values) = sorted_unique(self.samples);
                if timestamps.len() <= self.max_points {
                    let points = timestamps
                        .iter()
                        .zip(&values)
                        .map(|(&ts, &v)| QueryPoint::from(&Bucket::of_sample(ts, ts, v)))
                        .collect();
                    return QueryResult {
                        resolution: self.resolution,
                        step_ms: 0,
                        points,
                    };
                }
                for step in candidate_steps(range, self.max_points, 1) {
                    let buckets = rollup(&timestamps, &values, step);
                    if buckets.len() <= self.max_points {
                        return answer(step, &buckets);
                    }
                }
                rollup(&timestamps, &values, range)
            }
            Some(width) => {
                if self.buckets.len() <= self.max_points {
                    return answer(width, &self.buckets);
                }
                for step in candidate_steps(range, self.max_points, width) {
                    let buckets = rollup_buckets(&self.buckets, step);
                    if buckets.len() <= self.max_points {
                        return answer(step, &buckets);
                    }
                }
                self.buckets.clone()
            }
        };
        // Only reachable with max_points = 1 and a range that no aligned step holds in one
        // bucket (it straddles the epoch): one point for everything.
        let mut all = buckets.into_iter();
        let first = all.next().map(|first| {
            all.fold(first, |mut acc, b| {
                acc.merge(&b);
                acc
            })
        });
        answer(range, first.as_slice())
    }
}

/// Sorts samples by time, keeping the last one added for each timestamp (as the head does).
fn sorted_unique(mut samples: Vec<(i64, f64)>) -> (Vec<i64>, Vec<f64>) {
    samples.sort_by_key(|s| s.0); // stable: equal timestamps stay in the order added
    let mut timestamps: Vec<i64> = Vec::with_capacity(samples.len());
    let mut values: Vec<f64> = Vec::with_capacity(samples.len());
    for (ts, v) in samples {
        if timestamps.last() == Some(&ts) {
            *values.last_mut().expect("same length") = v;
        } else {
            timestamps.push(ts);
            values.push(v);
        }
    }
    (timestamps, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{encode_buckets, encode_points};
    use crate::precision::Precision;
    use crate::synthetic;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn resolution_follows_the_range() {
        let at = |range: i64| pick_resolution(NOW - range, NOW, NOW);
        assert_eq!(at(HOUR_MS), Resolution::Raw);
        assert_eq!(at(6 * HOUR_MS), Resolution::Raw);
        assert_eq!(at(6 * HOUR_MS + 1), Resolution::Minute);
        assert_eq!(at(7 * DAY_MS), Resolution::Minute);
        assert_eq!(at(7 * DAY_MS + 1), Resolution::Hour);
        assert_eq!(at(3 * 365 * DAY_MS), Resolution::Hour);
    }

    #[test]
    fn resolution_follows_retention() {
        // One hour, 30 days ago: raw is gone, 1-minute rollups are there.
        let start = NOW - 30 * DAY_MS;
        assert_eq!(
            pick_resolution(start, start + HOUR_MS, NOW),
            Resolution::Minute
        );
        // One hour, a year ago: only hourly rollups reach back that far.
        let start = NOW - 365 * DAY_MS;
        assert_eq!(
            pick_resolution(start, start + HOUR_MS, NOW),
            Resolution::Hour
        );
    }

    fn day_chunks(
        series: &crate::chunk::Points,
        precision: Precision,
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut raw = Vec::new();
        let mut minutes = Vec::new();
        let per_day = series.timestamps.chunk_by(|a, b| a / DAY_MS == b / DAY_MS);
        let mut at = 0;
        for day in per_day {
            let values = &series.values[at..at + day.len()];
            at += day.len();
            raw.push(encode_points(day, values, precision).unwrap());
            let buckets = rollup(day, values, MINUTE_MS);
            minutes.push(encode_buckets(&buckets, MINUTE_MS, precision).unwrap());
        }
        (raw, minutes)
    }

    #[test]
    fn a_week_of_cpu_at_one_minute_keeps_the_spikes() {
        let start = 1_700_006_400_000; // a UTC midnight
        let series = synthetic::cpu_pct(start, 10_000, 7 * 8640, 31);
        let (_, minutes) = day_chunks(&series, Precision::PERCENT);
        let (from, to) = (start, start + 7 * DAY_MS);
        assert_eq!(pick_resolution(from, to, to), Resolution::Minute);

        let mut query = RangeQuery::new(from, to, Resolution::Minute, 100_000).unwrap();
        for chunk in &minutes {
            query.add_chunk(chunk).unwrap();
        }
        let all = query.finish();
        assert_eq!((all.step_ms, all.points.len()), (MINUTE_MS, 7 * 1440));
        assert_eq!(all.points.iter().map(|p| p.count).sum::<u64>(), 7 * 8640);

        let mut query = RangeQuery::new(from, to, Resolution::Minute, 1000).unwrap();
        for chunk in &minutes {
            query.add_chunk(chunk).unwrap();
        }
        let chart = query.finish();
        assert_eq!(
            chart.step_ms,
            15 * MINUTE_MS,
            "7 d / 1000 points: the first nice step ≥ 10.08 min"
        );
        assert_eq!(chart.points.len(), 672);
        let peak = series.values.iter().copied().fold(f64::MIN, f64::max);
        let chart_peak = chart.points.iter().map(|p| p.max).fold(f64::MIN, f64::max);
        assert_eq!(chart_peak, Precision::PERCENT.quantise(peak));
        assert!(
            chart
                .points
                .iter()
                .all(|p| p.min <= p.avg && p.avg <= p.max)
        );
    }

    #[test]
    fn raw_query_over_six_hours_with_gaps_and_the_head() {
        let start = 1_700_006_400_000;
        let series =
            synthetic::with_gaps(synthetic::cpu_pct(start, 10_000, 8640, 5), &[(700, 100)]);
        let (raw, _) = day_chunks(&series, Precision::PERCENT);
        let from = start + HOUR_MS;
        let to = from + 6 * HOUR_MS;
        let mut query = RangeQuery::new(from, to, Resolution::Raw, 10_000).unwrap();
        for chunk in &raw {
            query.add_chunk(chunk).unwrap();
        }
        // The head has a sample newer than any chunk and one that repeats a chunk's timestamp.
        query.add_samples(&[from + 5, to - 1, to], &[99.0, 1.5, 7.0]);
        let result = query.finish();
        assert_eq!(result.step_ms, 0);
        let expected = series
            .timestamps
            .iter()
            .filter(|&&t| (from..to).contains(&t))
            .count();
        let from_head = usize::from(!series.timestamps.contains(&(from + 5))) + 1;
        assert_eq!(result.points.len(), expected + from_head);
        assert_eq!(result.points.last().unwrap().avg, 1.5);
        assert!(result.points.windows(2).all(|w| w[0].ts_ms < w[1].ts_ms));
        // The gap (samples 700..800, 1.9 h to 2.2 h) has no points.
        let gap = start + 7_010_000..start + 7_990_000;
        assert!(!result.points.iter().any(|p| gap.contains(&p.ts_ms)));
    }

    #[test]
    fn refuses_chunks_of_another_resolution() {
        let points = encode_points(&[1, 2], &[1.0, 2.0], Precision::Exact).unwrap();
        let minutes = encode_buckets(
            &rollup(&[1, 2], &[1.0, 2.0], MINUTE_MS),
            MINUTE_MS,
            Precision::Exact,
        )
        .unwrap();
        let mut raw = RangeQuery::new(0, 10, Resolution::Raw, 10).unwrap();
        assert!(matches!(
            raw.add_chunk(&minutes),
            Err(QueryError::WrongChunk { .. })
        ));
        let mut hour = RangeQuery::new(0, 10, Resolution::Hour, 10).unwrap();
        assert!(matches!(
            hour.add_chunk(&minutes),
            Err(QueryError::WrongChunk {
                step_ms: MINUTE_MS,
                ..
            })
        ));
        assert!(matches!(
            hour.add_chunk(&points),
            Err(QueryError::WrongChunk { .. })
        ));
        assert!(matches!(
            raw.add_chunk(b"garbage"),
            Err(QueryError::Decode(_))
        ));
        assert!(matches!(
            RangeQuery::new(5, 5, Resolution::Raw, 1),
            Err(QueryError::EmptyRange { .. })
        ));
    }

    proptest! {
        /// Thinning to max_points keeps the range's extremes, never exceeds max_points, and
        /// keeps every sample counted once.
        #[test]
        fn thinning_keeps_spikes_and_counts(
            deltas in prop::collection::vec((1i64..30_000, -1e3f64..1e3), 1..2000),
            max_points in 1usize..300,
            minute in any::<bool>(),
        ) {
            let mut ts = 1_700_000_000_000i64;
            let (timestamps, values): (Vec<i64>, Vec<f64>) = deltas.into_iter().map(|(d, v)| { ts += d; (ts, v) }).unzip();
            let (from, to) = (timestamps[0], ts + 1);
            let resolution = if minute { Resolution::Minute } else { Resolution::Raw };
            let mut query = RangeQuery::new(from, to, resolution, max_points).unwrap();
            query.add_samples(&timestamps, &values);
            let result = query.finish();
            prop_assert!(result.points.len() <= max_points);
            prop_assert_eq!(result.points.iter().map(|p| p.count).sum::<u64>(), timestamps.len() as u64);
            let max = values.iter().copied().fold(f64::MIN, f64::max);
            let min = values.iter().copied().fold(f64::MAX, f64::min);
            prop_assert_eq!(result.points.iter().map(|p| p.max).fold(f64::MIN, f64::max), max);
            prop_assert_eq!(result.points.iter().map(|p| p.min).fold(f64::MAX, f64::min), min);
            for p in &result.points {
                prop_assert!(p.min <= p.avg && p.avg <= p.max);
            }
            if result.step_ms > 0 {
                prop_assert!(result.points.iter().all(|p| p.ts_ms % result.step_ms == 0));
            }
        }
    }
}
