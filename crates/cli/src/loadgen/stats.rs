//! What the load generator measures: answers by kind, samples sent, and the latency of every
//! POST in a log-linear histogram (bounded memory however long the run, about 3 % resolution).

use std::collections::BTreeMap;
use std::time::Duration;

/// Sub-buckets per power of two, as a shift: 2^5 = 32, so a bucket is at most 1/32 ≈ 3 % wide.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for any `u64` microsecond value.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Latencies in microseconds, grouped into log-linear buckets (exact below 64 µs).
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            max: 0,
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < 2 * SUB {
        return us as usize;
    }
    let msb = 63 - us.leading_zeros();
    let shift = msb - SUB_BITS;
    (u64::from(shift) * SUB + (us >> shift)) as usize
}

/// The middle of a bucket's range, the value reported for anything in it.
fn value_of(bucket: usize) -> u64 {
    let b = bucket as u64;
    if b < 2 * SUB {
        return b;
    }
    let shift = b / SUB - 1;
    let low = (b - shift * SUB) << shift;
    low + (1 << shift) / 2
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)] += 1;
        self.count += 1;
        self.max = self.max.max(us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The latency at quantile `q` (0–1); zero when nothing was recorded. Never above the
    /// largest value seen.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        if q >= 1.0 {
            return self.max();
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_micros(value_of(bucket).min(self.max));
            }
        }
        self.max()
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max)
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }
}

/// How one POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200: stored.
    Stored,
    /// Any other HTTP status.
    Status(u16),
    /// No HTTP answer: refused, reset, timed out.
    Transport(String),
}

/// Counts over some stretch of the run.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub latency: Histogram,
    /// Reports the hub stored (200).
    pub stored: u64,
    /// Series samples in the stored reports (`hostwatch_hub::series::points`).
    pub samples: u64,
    /// Answers other than 200, by status.
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    /// The first transport error's message, to say what went wrong.
    pub transport_example: Option<String>,
    /// Ticks a host could not send on time because its previous POST was still running.
    pub late_ticks: u64,
    /// Time spent building reports (mutating, serializing, counting samples).
    pub build: Duration,
    /// Uncompressed JSON bytes of the reports sent.
    pub json_bytes: u64,
}

impl Tally {
    pub fn record(&mut self, outcome: Outcome, latency: Duration, samples: usize) {
        self.latency.record(latency);
        match outcome {
            Outcome::Stored => {
                self.stored += 1;
                self.samples += samples as u64;
            }
            Outcome::Status(s) => *self.statuses.entry(s).or_default() += 1,
            Outcome::Transport(message) => {
                self.transport_errors += 1;
                self.transport_example.get_or_insert(message);
            }
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.latency.merge(&other.latency);
        self.stored += other.stored;
        self.samples += other.samples;
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        if self.transport_example.is_none() {
            self.transport_example = other.transport_example.clone();
        }
        self.late_ticks += other.late_ticks;
        self.build += other.build;
        self.json_bytes += other.json_bytes;
    }

    pub fn non_200(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// `none`, or `503: 4, 429: 1`.
    pub fn statuses_text(&self) -> String {
        if self.statuses.is_empty() {
            return "none".into();
        }
        self.statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One progress line for a window of `seconds`.
    pub fn line(&self, at: Duration, seconds: f64) -> String {
        let l = &self.latency;
        format!(
            "[{:>5.0} s] {:>8.1} reports/s {:>10.0} samples/s  p50 {} p90 {} p99 {} max {}  non-200 {}  transport errors {}  late {}",
            at.as_secs_f64(),
            self.stored as f64 / seconds,
            self.samples as f64 / seconds,
            ms(l.quantile(0.5)),
            ms(l.quantile(0.9)),
            ms(l.quantile(0.99)),
            ms(l.max()),
            self.non_200(),
            self.transport_errors,
            self.late_ticks,
        )
    }
}

/// A duration as milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_within_three_percent() {
        let mut last = 0;
        for us in 0..200_000u64 {
            let b = bucket_of(us);
            assert!(b == last || b == last + 1, "gap at {us}");
            last = b;
            let v = value_of(b);
            let err = (v as f64 - us as f64).abs() / (us.max(1) as f64);
            assert!(err <= 1.0 / 32.0, "{us} µs reads back as {v}");
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.99), Duration::ZERO);
        // 1 ms .. 100 ms, one each.
        for i in 1..=100u64 {
            h.record(Duration::from_millis(i));
        }
        let close = |d: Duration, want_ms: f64| {
            let got = d.as_secs_f64() * 1000.0;
            assert!((got - want_ms).abs() / want_ms < 0.04, "{got} vs {want_ms}");
        };
        close(h.quantile(0.5), 50.0);
        close(h.quantile(0.9), 90.0);
        close(h.quantile(0.99), 99.0);
        assert_eq!(h.max(), Duration::from_millis(100));
        assert_eq!(h.quantile(1.0), Duration::from_millis(100));
        assert_eq!(h.count(), 100);
    }

    #[test]
    fn tallies_count_outcomes_and_merge() {
        let mut a = Tally::default();
        a.record(Outcome::Stored, Duration::from_millis(2), 80);
        a.record(Outcome::Status(503), Duration::from_millis(3), 80);
        let mut b = Tally::default();
        b.record(Outcome::Status(503), Duration::from_millis(1), 80);
        b.record(Outcome::Status(429), Duration::from_millis(1), 80);
        b.record(
            Outcome::Transport("connection refused".into()),
            Duration::from_millis(1),
            80,
        );
        b.late_ticks = 2;
        a.merge(&b);
        assert_eq!(a.stored, 1);
        assert_eq!(a.samples, 80, "only stored reports count their samples");
        assert_eq!(a.non_200(), 3);
        assert_eq!(a.statuses_text(), "429: 1, 503: 2");
        assert_eq!(a.transport_errors, 1);
        assert_eq!(a.transport_example.as_deref(), Some("connection refused"));
        assert_eq!(a.late_ticks, 2);
        assert_eq!(a.latency.count(), 5);
        assert_eq!(a.latency.max(), Duration::from_millis(3));
    }
}
