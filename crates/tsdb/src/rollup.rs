//! Downsampling into fixed-width buckets that keep min, max, sum, count and last.
//!
//! Keeping min and max (not just the average) is what lets a 5-second CPU spike survive into the
//! 1-hour view. Buckets are aligned to multiples of their width since the Unix epoch, so a 1-hour
//! bucket is exactly sixty 1-minute buckets, and the laws below hold:
//!
//! - merging the buckets of two parts of a series equals the buckets of the whole series
//!   (a bucket split across two chunks, or late data, merges to the same result);
//! - rolling up 1-minute buckets into 1-hour buckets equals rolling up the raw points into 1-hour
//!   buckets (min, max, count, last exactly; sum up to `f64` addition order);
//! - `min <= avg <= max` in every bucket.
//!
//! Non-finite values (NaN, ±inf) carry no measurement and are skipped; a bucket with none left is
//! not produced.

/// One minute, the finer rollup.
pub const MINUTE_MS: i64 = 60_000;
/// One hour, the coarser rollup.
pub const HOUR_MS: i64 = 3_600_000;

/// The summary of the samples whose timestamps fall in `[start_ms, start_ms + width)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub start_ms: i64,
    /// Number of samples summarised; at least 1.
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    /// The value of the latest sample (what a counter or a "current" view wants).
    pub last: f64,
    /// When the latest sample was taken; makes merging order-independent.
    pub last_ms: i64,
}

impl Bucket {
    /// A bucket holding one sample.
    pub fn of_sample(start_ms: i64, ts_ms: i64, value: f64) -> Bucket {
        Bucket {
            start_ms,
            count: 1,
            min: value,
            max: value,
            sum: value,
            last: value,
            last_ms: ts_ms,
        }
    }

    /// The mean. Clamped to `[min, max]`: summing `n` equal values in `f64` (or a sum rounded to
    /// the series' precision) can land a hair outside, and a chart must never show avg > max.
    /// (A bucket from corrupt storage with min > max or NaNs is passed through, not a panic.)
    pub fn avg(&self) -> f64 {
        let mean = self.sum / self.count as f64;
        if self.min <= self.max && !mean.is_nan() {
            mean.clamp(self.min, self.max)
        } else {
            mean
        }
    }

    /// Folds `other` (same bucket, other samples) into `self`. Commutative and associative except
    /// for the `f64` rounding of `sum`; equal `last_ms` is broken by the larger value so the
    /// result does not depend on order.
    pub fn merge(&mut self, other: &Bucket) {
        self.count = self.count.saturating_add(other.count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        if other.last_ms > self.last_ms
            || (other.last_ms == self.last_ms && other.last.total_cmp(&self.last).is_gt())
        {
            self.last = other.last;
            self.last_ms = other.last_ms;
        }
    }
}

/// Start of the `width_ms` bucket holding `ts_ms` (floor to a multiple of the width; saturates
/// at the ends of `i64` instead of overflowing on nonsense timestamps).
pub fn bucket_start(ts_ms: i64, width_ms: i64) -> i64 {
    ts_ms.div_euclid(width_ms).saturating_mul(width_ms)
}

/// Adds `bucket` to `buckets` (sorted by start), merging with an existing bucket of the same start.
/// Appending in time order is O(1); anything else falls back to a binary search.
pub fn add_bucket(buckets: &mut Vec<Bucket>, bucket: Bucket) {
    match buckets.last_mut() {
        Some(last) if last.start_ms == bucket.start_ms => last.merge(&bucket),
        Some(last) if last.start_ms > bucket.start_ms => {
            match buckets.binary_search_by_key(&bucket.start_ms, |b| b.start_ms) {
                Ok(i) => buckets[i].merge(&bucket),
                Err(i) => buckets.insert(i, bucket),
            }
        }
        _ => buckets.push(bucket),
    }
}

/// Rolls raw samples up into buckets of `width_ms`. Samples may come in any order; time order
/// is fastest.
///
/// # Panics
/// If `width_ms` is not positive (a programming error: widths are constants).
pub fn rollup(timestamps: &[i64], values: &[f64], width_ms: i64) -> Vec<Bucket> {
    assert!(width_ms > 0, "bucket width must be positive");
    let mut buckets = Vec::new();
    for (&ts, &value) in timestamps.iter().zip(values) {
        if value.is_finite() {
            add_bucket(
                &mut buckets,
                Bucket::of_sample(bucket_start(ts, width_ms), ts, value),
            );
        }
    }
    buckets
}

/// Rolls buckets up into coarser buckets of `width_ms`. For the laws above to hold the new width
/// must be a multiple of the old one (1 h from 1 min).
///
/// # Panics
/// If `width_ms` is not positive.
pub fn rollup_buckets(buckets: &[Bucket], width_ms: i64) -> Vec<Bucket> {
    assert!(width_ms > 0, "bucket width must be positive");
    let mut out = Vec::new();
    for bucket in buckets {
        let mut coarse = *bucket;
        coarse.start_ms = bucket_start(bucket.start_ms, width_ms);
        add_bucket(&mut out, coarse);
    }
    out
}

/// Merges two bucket lists of the same width (partial rollups of one series).
pub fn merge(a: &[Bucket], b: &[Bucket]) -> Vec<Bucket> {
    let mut out = a.to_vec();
    for bucket in b {
        add_bucket(&mut out, *bucket);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic;
    use proptest::prelude::*;

    #[test]
    fn a_short_spike_survives_into_the_hour() {
        let mut series = synthetic::cpu_pct(0, 10_000, 360, 21);
        series.values.iter_mut().for_each(|v| *v = v.min(30.0));
        series.values[200] = 97.5;
        let hour = rollup(&series.timestamps, &series.values, HOUR_MS);
        assert_eq!(hour.len(), 1);
        assert_eq!(hour[0].max, 97.5);
        assert_eq!(hour[0].count, 360);
        assert!(hour[0].avg() < 30.0);
        assert_eq!(hour[0].last, series.values[359]);
        assert_eq!(hour[0].last_ms, series.timestamps[359]);
    }

    #[test]
    fn buckets_align_to_the_epoch() {
        let buckets = rollup(
            &[59_999, 60_000, 119_999, -1],
            &[1.0, 2.0, 3.0, 4.0],
            MINUTE_MS,
        );
        let starts: Vec<i64> = buckets.iter().map(|b| b.start_ms).collect();
        assert_eq!(starts, [-60_000, 0, 60_000]);
        assert_eq!(buckets[2].count, 2);
        assert_eq!(buckets[2].sum, 5.0);
        assert_eq!(buckets[2].last, 3.0);
    }

    #[test]
    fn non_finite_values_are_skipped() {
        let buckets = rollup(
            &[1, 2, 3, 70_000],
            &[f64::NAN, 2.0, f64::INFINITY, f64::NAN],
            MINUTE_MS,
        );
        assert_eq!(buckets.len(), 1);
        assert_eq!((buckets[0].count, buckets[0].last), (1, 2.0));
    }

    #[test]
    fn avg_of_equal_values_stays_within_min_and_max() {
        let values = [0.1; 7];
        let b = rollup(&[1, 2, 3, 4, 5, 6, 7], &values, MINUTE_MS)[0];
        assert!(b.min <= b.avg() && b.avg() <= b.max);
        assert_eq!(b.avg(), 0.1);
    }

    #[test]
    fn avg_of_a_nonsense_bucket_does_not_panic() {
        let mut b = Bucket::of_sample(0, 0, 1.0);
        (b.min, b.max, b.count) = (5.0, 1.0, 0);
        assert!(b.avg().is_infinite());
        b.min = f64::NAN;
        b.count = 1;
        assert_eq!(b.avg(), 1.0);
    }

    #[test]
    fn a_counter_reset_keeps_the_last_value() {
        let series = synthetic::byte_counter(0, 10_000, 8640, 3);
        let hours = rollup(&series.timestamps, &series.values, HOUR_MS);
        assert_eq!(hours.len(), 24);
        let reset_hour = &hours[12];
        assert!(
            reset_hour.min < 1_000_000.0,
            "the reset shows as the hour's min"
        );
        assert_eq!(hours[23].last, *series.values.last().unwrap());
    }

    fn samples() -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
        prop::collection::vec((0i64..20_000, -1e6f64..1e6), 1..400).prop_map(|steps| {
            let mut ts = 1_700_000_000_000i64;
            steps
                .into_iter()
                .map(|(delta, v)| {
                    ts += delta;
                    (ts, v)
                })
                .unzip()
        })
    }

    /// Values on a 1/64 grid of moderate size: their `f64` sums are exact in any order.
    fn dyadic_samples() -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
        samples().prop_map(|(ts, vs)| {
            (
                ts,
                vs.into_iter().map(|v| (v * 64.0).round() / 64.0).collect(),
            )
        })
    }

    fn assert_same(a: &[Bucket], b: &[Bucket]) -> Result<(), TestCaseError> {
        prop_assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            prop_assert_eq!(x.start_ms, y.start_ms);
            prop_assert_eq!(x.count, y.count);
            prop_assert_eq!(x.min, y.min);
            prop_assert_eq!(x.max, y.max);
            prop_assert_eq!(x.last, y.last);
            prop_assert_eq!(x.last_ms, y.last_ms);
            let tolerance = 1e-9 * (x.sum.abs() + 1.0) * x.count as f64;
            prop_assert!(
                (x.sum - y.sum).abs() <= tolerance,
                "sum {} vs {}",
                x.sum,
                y.sum
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn min_le_avg_le_max((ts, vs) in samples(), width in 1i64..4_000_000) {
            for b in rollup(&ts, &vs, width) {
                prop_assert!(b.min <= b.avg() && b.avg() <= b.max, "{:?}", b);
                prop_assert!(b.count >= 1);
                prop_assert!(b.start_ms <= b.last_ms && b.last_ms < b.start_ms + width);
            }
        }

        #[test]
        fn merging_split_rollups_equals_the_whole((ts, vs) in samples(), split in any::<prop::sample::Index>(), width in prop_oneof![Just(MINUTE_MS), Just(HOUR_MS), 1i64..100_000]) {
            let at = split.index(ts.len() + 1);
            let whole = rollup(&ts, &vs, width);
            let left = rollup(&ts[..at], &vs[..at], width);
            let right = rollup(&ts[at..], &vs[at..], width);
            assert_same(&merge(&left, &right), &whole)?;
            // Either order.
            assert_same(&merge(&right, &left), &whole)?;
        }

        #[test]
        fn merging_is_exact_on_exactly_summable_values((ts, vs) in dyadic_samples(), split in any::<prop::sample::Index>()) {
            let at = split.index(ts.len() + 1);
            let whole = rollup(&ts, &vs, MINUTE_MS);
            let merged = merge(&rollup(&ts[..at], &vs[..at], MINUTE_MS), &rollup(&ts[at..], &vs[at..], MINUTE_MS));
            prop_assert_eq!(merged, whole);
        }

        #[test]
        fn hour_from_minutes_equals_hour_from_raw((ts, vs) in samples()) {
            let minutes = rollup(&ts, &vs, MINUTE_MS);
            assert_same(&rollup_buckets(&minutes, HOUR_MS), &rollup(&ts, &vs, HOUR_MS))?;
        }

        #[test]
        fn hour_from_minutes_is_exact_on_exactly_summable_values((ts, vs) in dyadic_samples()) {
            let minutes = rollup(&ts, &vs, MINUTE_MS);
            prop_assert_eq!(rollup_buckets(&minutes, HOUR_MS), rollup(&ts, &vs, HOUR_MS));
        }

        #[test]
        fn sample_order_does_not_matter((ts, vs) in dyadic_samples(), seed in any::<u64>()) {
            let mut pairs: Vec<(i64, f64)> = ts.iter().copied().zip(vs.iter().copied()).collect();
            // Deterministic shuffle.
            let mut s = seed | 1;
            for i in (1..pairs.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                pairs.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let (sts, svs): (Vec<i64>, Vec<f64>) = pairs.into_iter().unzip();
            prop_assert_eq!(rollup(&sts, &svs, MINUTE_MS), rollup(&ts, &vs, MINUTE_MS));
        }
    }
}
