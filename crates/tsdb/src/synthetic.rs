//! Deterministic synthetic series that look like what the agent reports, for tests, benchmarks
//! and load generation.
//!
//! Each generator is seeded, so sizes measured on them are reproducible. What they model:
//! - timestamps on a fixed interval, each 0–4 ms late (a timer wake-up plus the collection),
//! - CPU %: a quiet base with a daytime hump, AR(1) noise, rare bursts to 50–100 % (cron, backups),
//!   and the resolution the kernel really gives: whole jiffies (USER_HZ = 100) on 4 cores,
//! - a received-bytes counter of a lightly used server (2–8 KB/s with ±30 % noise per interval)
//!   that resets once (interface re-created), kept exact,
//! - a temperature sensor in 0.125 °C steps drifting with the time of day.

use crate::chunk::Points;

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// SplitMix64: tiny, fast, and the same numbers on every platform.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// Approximately standard normal (Irwin–Hall with four terms), pure arithmetic.
    fn normal(&mut self) -> f64 {
        let sum: f64 = (0..4).map(|_| self.unit()).sum();
        (sum - 2.0) * 3f64.sqrt()
    }
}

/// Sample times: `start_ms + i·interval_ms`, each 0–4 ms late.
fn jittered_timestamps(rng: &mut Rng, start_ms: i64, interval_ms: i64, n: usize) -> Vec<i64> {
    (0..n as i64)
        .map(|i| start_ms + i * interval_ms + rng.between(0, 4))
        .collect()
}

/// 0 at night, up to 1 in the afternoon (UTC), by the time of day of `ts_ms`.
fn daytime(ts_ms: i64) -> f64 {
    let day_fraction = ts_ms.rem_euclid(DAY_MS) as f64 / DAY_MS as f64;
    (std::f64::consts::TAU * (day_fraction - 0.25))
        .sin()
        .max(0.0)
}

/// Host CPU busy % sampled every `interval_ms`.
pub fn cpu_pct(start_ms: i64, interval_ms: i64, n: usize, seed: u64) -> Points {
    let mut rng = Rng(seed);
    let timestamps = jittered_timestamps(&mut rng, start_ms, interval_ms, n);
    // Jiffies in one interval on 4 cores: the kernel's resolution for a busy percentage.
    let jiffies = 4.0 * interval_ms as f64 / 1000.0 * 100.0;
    let mut noise = 0.0;
    let mut burst_left = 0;
    let mut burst_level = 0.0;
    let values = timestamps
        .iter()
        .map(|&ts| {
            noise = 0.8 * noise + 1.5 * rng.normal();
            if burst_left == 0 && rng.unit() < 1.0 / 700.0 {
                burst_left = rng.between(3, 30);
                burst_level = 50.0 + 50.0 * rng.unit();
            }
            let pct = if burst_left > 0 {
                burst_left -= 1;
                burst_level + 3.0 * rng.normal()
            } else {
                4.0 + 8.0 * daytime(ts) + noise
            };
            (pct.clamp(0.0, 100.0) / 100.0 * jiffies).round() / jiffies * 100.0
        })
        .collect();
    Points { timestamps, values }
}

/// A received-bytes counter (exact integers) that resets once, halfway.
pub fn byte_counter(start_ms: i64, interval_ms: i64, n: usize, seed: u64) -> Points {
    let mut rng = Rng(seed);
    let timestamps = jittered_timestamps(&mut rng, start_ms, interval_ms, n);
    let seconds = interval_ms as f64 / 1000.0;
    let mut total: f64 = 3_000_000_000.0;
    let values = timestamps
        .iter()
        .enumerate()
        .map(|(i, &ts)| {
            let rate = 2_000.0 + 6_000.0 * daytime(ts);
            let increment = (rate * seconds * (1.0 + 0.3 * rng.normal()))
                .max(0.0)
                .round();
            total = if i == n / 2 {
                increment
            } else {
                total + increment
            };
            total
        })
        .collect();
    Points { timestamps, values }
}

/// A temperature sensor in °C with 0.125 °C steps.
pub fn temperature_c(start_ms: i64, interval_ms: i64, n: usize, seed: u64) -> Points {
    let mut rng = Rng(seed);
    let timestamps = jittered_timestamps(&mut rng, start_ms, interval_ms, n);
    let mut drift = 0.0;
    let values = timestamps
        .iter()
        .map(|&ts| {
            drift = 0.99 * drift + 0.1 * rng.normal();
            let celsius = 41.0 + 9.0 * daytime(ts) + drift + 0.2 * rng.normal();
            (celsius * 8.0).round() / 8.0
        })
        .collect();
    Points { timestamps, values }
}

/// `series` with the samples at the given `(first index, count)` ranges removed: an agent that
/// was down, a hub that was away and never got the backfill.
pub fn with_gaps(series: Points, gaps: &[(usize, usize)]) -> Points {
    let missing = |i: usize| {
        gaps.iter()
            .any(|&(from, len)| (from..from + len).contains(&i))
    };
    let (timestamps, values) = series
        .timestamps
        .into_iter()
        .zip(series.values)
        .enumerate()
        .filter(|&(i, _)| !missing(i))
        .map(|(_, point)| point)
        .unzip();
    Points { timestamps, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_looks_like_cpu() {
        let day = cpu_pct(0, 10_000, 8640, 1);
        assert_eq!(day.len(), 8640);
        assert!(day.values.iter().all(|v| (0.0..=100.0).contains(v)));
        let mean = day.values.iter().sum::<f64>() / 8640.0;
        assert!((4.0..15.0).contains(&mean), "mean {mean}");
        assert!(day.values.iter().any(|&v| v > 50.0), "bursts happen");
        // Whole jiffies of 4 cores over 10 s: multiples of 0.025 %.
        assert!(
            day.values
                .iter()
                .all(|v| ((v * 40.0).round() - v * 40.0).abs() < 1e-9)
        );
        let late = day
            .timestamps
            .iter()
            .enumerate()
            .map(|(i, &t)| t - i as i64 * 10_000);
        assert!(late.into_iter().all(|ms| (0..=4).contains(&ms)));
    }

    #[test]
    fn counter_increases_except_for_one_reset() {
        let day = byte_counter(0, 10_000, 8640, 2);
        let drops = day.values.windows(2).filter(|w| w[1] < w[0]).count();
        assert_eq!(drops, 1);
        assert!(day.values.iter().all(|v| v.fract() == 0.0 && *v >= 0.0));
    }

    #[test]
    fn gaps_remove_the_ranges_asked() {
        let series = with_gaps(temperature_c(0, 10_000, 100, 3), &[(10, 5), (50, 20)]);
        assert_eq!(series.len(), 75);
        assert_eq!(series.timestamps[10] / 10_000, 15);
        assert!(series.values.iter().all(|v| (30.0..60.0).contains(v)));
    }

    #[test]
    fn same_seed_same_series() {
        assert_eq!(cpu_pct(0, 10_000, 50, 4), cpu_pct(0, 10_000, 50, 4));
        assert_ne!(cpu_pct(0, 10_000, 50, 4), cpu_pct(0, 10_000, 50, 5));
    }
}
