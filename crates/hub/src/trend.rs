//! Trends: where a filling series (a filesystem's used %, memory, swap) is heading.
//!
//! A least-squares line through the series' rollup averages over a window (default 7 days),
//! its slope per day and its R², and the date it crosses each threshold (90 % and 100 % by
//! default) — only when the fit is good enough to believe: enough points, over a long enough
//! span, rising, and with R² above a floor. Otherwise "no projection", with the reason, so noise
//! does not cry wolf. `docs/insight.md` describes the method for operators.
//!
//! The alert engine's "filesystem projected full within 7 days" rule calls
//! [`project_filesystems`] and fires on a [`Reach`] of 100 % with `days <= 7`.

use crate::history;
use crate::store::{DAY_MS, HostId, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[trend]` in the hub's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrendConfig {
    /// How far back the line is fitted, in days.
    pub window_days: u32,
    /// The levels whose crossing date is projected, in percent.
    pub thresholds_pct: Vec<f64>,
    /// The fit must explain at least this share of the variance (0–1).
    pub min_r2: f64,
    /// The data must cover at least this many hours.
    pub min_span_hours: u32,
    /// At least this many points (rollup buckets) must be in the window.
    pub min_points: u32,
    /// Crossings further out than this many days are not projected.
    pub horizon_days: u32,
}

impl Default for TrendConfig {
    fn default() -> Self {
        TrendConfig {
            window_days: 7,
            thresholds_pct: vec![90.0, 100.0],
            min_r2: 0.6,
            min_span_hours: 24,
            min_points: 12,
            horizon_days: 365,
        }
    }
}

impl TrendConfig {
    /// The first problem, naming its key.
    pub fn validate(&self) -> Result<(), String> {
        if self.window_days == 0 || self.window_days > 730 {
            return Err(format!(
                "key `trend.window_days`: must be 1–730, got {}",
                self.window_days
            ));
        }
        if self.thresholds_pct.is_empty()
            || self
                .thresholds_pct
                .iter()
                .any(|t| !t.is_finite() || *t <= 0.0 || *t > 100.0)
        {
            return Err(format!(
                "key `trend.thresholds_pct`: one or more percentages in (0, 100], got {:?}",
                self.thresholds_pct
            ));
        }
        if !(0.0..=1.0).contains(&self.min_r2) {
            return Err(format!(
                "key `trend.min_r2`: must lie within [0, 1], got {}",
                self.min_r2
            ));
        }
        if self.min_points < 3 {
            return Err(format!(
                "key `trend.min_points`: at least 3, got {}",
                self.min_points
            ));
        }
        if u64::from(self.min_span_hours) > u64::from(self.window_days) * 24 {
            return Err(format!(
                "key `trend.min_span_hours`: {} h is longer than the window ({} days)",
                self.min_span_hours, self.window_days
            ));
        }
        if self.horizon_days == 0 {
            return Err("key `trend.horizon_days`: must be positive".into());
        }
        Ok(())
    }

    fn sorted_thresholds(&self) -> Vec<f64> {
        let mut t = self.thresholds_pct.clone();
        t.sort_by(f64::total_cmp);
        t.dedup();
        t
    }
}

/// A least-squares line `y = intercept + slope × x`, x in days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Per day.
    pub slope: f64,
    /// The value at x = 0.
    pub intercept: f64,
    /// Share of the variance the line explains, 0–1; 1 for a series with no variance at all.
    pub r2: f64,
}

/// Fits a line through `(x days, y)`; `None` with fewer than two distinct x.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in points {
        let (dx, dy) = (x - mean_x, y - mean_y);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    // Relative to the values' scale, a variance this small is rounding, not signal.
    let r2 = if syy <= 1e-18 * (1.0 + mean_y * mean_y) * n {
        1.0
    } else {
        (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0)
    };
    Some(Fit {
        slope,
        intercept,
        r2,
    })
}

/// When a series is projected to cross a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reach {
    pub threshold_pct: f64,
    /// Unix ms.
    pub at_ms: i64,
    /// From now.
    pub days: f64,
}

/// One series' trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    /// `fs.used_pct`, `mem.used_pct` or `swap.used_pct`.
    pub series: String,
    pub labels: BTreeMap<String, String>,
    /// The latest value, in percent.
    pub current: Option<f64>,
    pub slope_per_day: Option<f64>,
    pub r2: Option<f64>,
    /// Points in the window the fit used.
    pub points: usize,
    /// The first threshold above the current value that the series is projected to reach.
    pub reaches: Option<Reach>,
    /// Every threshold above the current value it is projected to reach, lowest first.
    pub reaches_all: Vec<Reach>,
    /// Why there is or is not a projection: the fit, or the quality gate it failed.
    pub reason: String,
}

impl Projection {
    /// What people call the series: the mount point, `memory` or `swap`.
    pub fn subject(&self) -> String {
        match self.series.as_str() {
            "fs.used_pct" => self
                .labels
                .get("mount")
                .cloned()
                .unwrap_or_else(|| "filesystem".into()),
            "mem.used_pct" => "memory".into(),
            "swap.used_pct" => "swap".into(),
            other => other.into(),
        }
    }

    /// "/var reaches 90 % in 12 days (on 2026-12-04)", or why there is no projection; dates in
    /// `tz`.
    pub fn sentence(&self, tz: &jiff::tz::TimeZone) -> String {
        let subject = self.subject();
        match &self.reaches {
            Some(r) => format!(
                "{subject} reaches {} % {} (on {})",
                fmt_pct(r.threshold_pct),
                in_days(r.days),
                date_in(r.at_ms, tz)
            ),
            None => format!("{subject}: no projection ({})", self.reason),
        }
    }
}

/// `90` for 90.0, `92.5` otherwise.
pub fn fmt_pct(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

fn in_days(days: f64) -> String {
    if days < 1.0 {
        "within a day".into()
    } else {
        let d = days.floor() as i64;
        format!("in {d} day{}", if d == 1 { "" } else { "s" })
    }
}

/// `2026-12-04`: the calendar day of `ms` in `tz`.
pub fn date_in(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).date().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The projection of one series from its points `(time ms, value)`, oldest first, with
/// `current` its latest value, at `now`.
pub fn project(
    series: &str,
    labels: BTreeMap<String, String>,
    samples: &[(i64, f64)],
    current: Option<f64>,
    now: i64,
    config: &TrendConfig,
) -> Projection {
    let current = current.or_else(|| samples.last().map(|s| s.1));
    let mut out = Projection {
        series: series.to_string(),
        labels,
        current,
        slope_per_day: None,
        r2: None,
        points: samples.len(),
        reaches: None,
        reaches_all: Vec::new(),
        reason: String::new(),
    };
    if samples.len() < config.min_points as usize {
        out.reason = format!(
            "only {} points in the window (need {})",
            samples.len(),
            config.min_points
        );
        return out;
    }
    let (first, last) = (samples[0].0, samples[samples.len() - 1].0);
    let span_hours = (last - first) as f64 / 3_600_000.0;
    if span_hours + 1e-9 < f64::from(config.min_span_hours) {
        out.reason = format!(
            "data spans {span_hours:.1} h (need {} h)",
            config.min_span_hours
        );
        return out;
    }
    // x in days from the newest point, for precision.
    let xy: Vec<(f64, f64)> = samples
        .iter()
        .map(|&(t, v)| ((t - last) as f64 / DAY_MS as f64, v))
        .collect();
    let Some(line) = fit(&xy) else {
        out.reason = "all points at one time".into();
        return out;
    };
    out.slope_per_day = Some(line.slope);
    out.r2 = Some(line.r2);
    let described = format!(
        "{:+.2} % per day, R² {:.2}, {} points over {:.1} days",
        line.slope,
        line.r2,
        samples.len(),
        span_hours / 24.0
    );
    // A slope this small moves less than a thousandth of a percent a day: flat.
    if line.slope <= 1e-3 {
        out.reason = if line.slope.abs() <= 1e-3 {
            format!("flat ({described})")
        } else {
            format!("not rising ({described})")
        };
        return out;
    }
    if line.r2 < config.min_r2 {
        out.reason = format!(
            "fit too loose: R² {:.2} (need {:.2}; {described})",
            line.r2, config.min_r2
        );
        return out;
    }
    let now_value = current.unwrap_or(line.intercept);
    let horizon = f64::from(config.horizon_days);
    for threshold in config.sorted_thresholds() {
        if now_value >= threshold {
            continue;
        }
        // Days after the newest point at which the line reaches the threshold.
        let x = (threshold - line.intercept) / line.slope;
        let at_ms = (last + (x * DAY_MS as f64).round() as i64).max(now);
        let days = (at_ms - now) as f64 / DAY_MS as f64;
        if days <= horizon {
            out.reaches_all.push(Reach {
                threshold_pct: threshold,
                at_ms,
                days,
            });
        }
    }
    out.reaches = out.reaches_all.first().copied();
    let top = config.sorted_thresholds().last().copied().unwrap_or(100.0);
    out.reason = if out.reaches.is_some() {
        format!("linear fit: {described}")
    } else if now_value >= top {
        format!("already at {} % ({described})", fmt_pct(now_value))
    } else {
        format!(
            "rising too slowly to reach {} % within {} days ({described})",
            fmt_pct(config.sorted_thresholds()[0].max(now_value.min(top))),
            config.horizon_days
        )
    };
    out
}

/// The series trends are computed for, in this order.
const TRENDED: [&str; 3] = ["fs.used_pct", "mem.used_pct", "swap.used_pct"];

/// Projections of every series of `name` on `host` over the configured window ending `now`.
async fn project_series<S: Store>(
    store: &S,
    host: HostId,
    name: &str,
    now: i64,
    config: &TrendConfig,
) -> Result<Vec<Projection>, StoreError> {
    let from = now - i64::from(config.window_days) * DAY_MS;
    let resolution = history::resolution_for(from, now);
    let step = resolution.bucket_ms().unwrap_or(0);
    // Fits over days (the default week) read hourly rollups, where the hour not compacted yet
    // is worth its latest report only; shorter windows read everything.
    let all = if resolution == hostwatch_tsdb::Resolution::Hour {
        history::read_hourly(store, host, name, from, now).await?
    } else {
        history::read(store, host, name, &[], from, now, resolution).await?
    };
    Ok(all
        .into_iter()
        .map(|h| {
            // A bucket's average belongs to its middle.
            let samples: Vec<(i64, f64)> = h
                .points
                .iter()
                .map(|p| (p.ts_ms + step / 2, p.avg))
                .collect();
            let current = h.points.last().map(|p| p.last);
            project(name, h.labels, &samples, current, now, config)
        })
        .collect())
}

/// Every filesystem's projection on `host` at `now`: what the alert engine's "projected full
/// within 7 days" rule reads (a [`Reach`] of 100 % with `days <= 7` in `reaches_all`).
pub async fn project_filesystems<S: Store>(
    store: &S,
    host: HostId,
    now: i64,
    config: &TrendConfig,
) -> Result<Vec<Projection>, StoreError> {
    project_series(store, host, "fs.used_pct", now, config).await
}

/// The alert engine's `fs_projected_full` rule asks this for one mount at a time; the engine
/// already spaces the asks out (`projection_every`), so each is a fresh fit over the store.
#[derive(Debug, Clone)]
pub struct StoreProjection<S> {
    store: S,
    config: TrendConfig,
}

impl<S: Store> StoreProjection<S> {
    pub fn new(store: S, config: TrendConfig) -> StoreProjection<S> {
        StoreProjection { store, config }
    }
}

impl<S: Store> crate::alert::Projection for StoreProjection<S> {
    fn filesystem<'a>(
        &'a self,
        host: &'a crate::store::Host,
        mount: &'a str,
        now: i64,
    ) -> crate::alert::BoxFuture<'a, Option<crate::alert::FsProjection>> {
        Box::pin(async move {
            let fits = match project_filesystems(&self.store, host.id, now, &self.config).await {
                Ok(fits) => fits,
                Err(e) => {
                    tracing::warn!(host = %host.name, error = %e, "filesystem projection failed");
                    return None;
                }
            };
            let fit = fits
                .into_iter()
                .find(|p| p.labels.get("mount").map(String::as_str) == Some(mount))?;
            Some(crate::alert::FsProjection {
                full_at: fit
                    .reaches_all
                    .iter()
                    .find(|r| r.threshold_pct >= 100.0)
                    .map(|r| r.at_ms),
                fit: fit.r2?,
            })
        })
    }
}

/// Filesystems, memory and swap of `host` at `now`.
pub async fn project_host<S: Store>(
    store: &S,
    host: HostId,
    now: i64,
    config: &TrendConfig,
) -> Result<Vec<Projection>, StoreError> {
    let mut out = Vec::new();
    for name in TRENDED {
        out.extend(project_series(store, host, name, now, config).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;
    const NOW: i64 = 1_780_000_000_000;

    fn fs(mount: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("mount".to_string(), mount.to_string())])
    }

    /// Hourly points over `hours` ending at `NOW`, from `f(hours before now)`.
    fn hourly(hours: i64, mut f: impl FnMut(i64) -> f64) -> Vec<(i64, f64)> {
        (0..hours)
            .rev()
            .map(|back| (NOW - back * HOUR, f(back)))
            .collect()
    }

    #[test]
    fn the_sentence_names_mount_days_and_date() {
        // 78 % now, +1 % a day: 90 % in exactly 12 days.
        let pts = hourly(168, |back| 78.0 - back as f64 / 24.0);
        let p = project(
            "fs.used_pct",
            fs("/var"),
            &pts,
            None,
            NOW,
            &TrendConfig::default(),
        );
        let r = p.reaches.unwrap();
        assert_eq!(r.threshold_pct, 90.0);
        assert!((r.days - 12.0).abs() < 1e-6, "{}", r.days);
        assert_eq!(r.at_ms, NOW + 12 * DAY_MS);
        let utc = jiff::tz::TimeZone::UTC;
        let date = date_in(NOW + 12 * DAY_MS, &utc);
        assert_eq!(
            p.sentence(&utc),
            format!("/var reaches 90 % in 12 days (on {date})")
        );
        assert_eq!(p.reaches_all.len(), 2);
        assert!((p.reaches_all[1].days - 22.0).abs() < 1e-6);
        assert!(p.reason.starts_with("linear fit: +1.00 % per day, R² 1.00"));
    }

    #[test]
    fn the_quality_gate_says_why() {
        let c = TrendConfig::default();
        let few = hourly(5, |b| 50.0 - b as f64);
        let p = project("fs.used_pct", fs("/"), &few, None, NOW, &c);
        assert_eq!(p.reaches, None);
        assert_eq!(p.reason, "only 5 points in the window (need 12)");

        let short: Vec<(i64, f64)> = (0..20).map(|i| (NOW - i * 60_000, 50.0)).rev().collect();
        let p = project("fs.used_pct", fs("/"), &short, None, NOW, &c);
        assert_eq!(p.reason, "data spans 0.3 h (need 24 h)");

        let falling = hourly(48, |b| 50.0 + b as f64 * 0.1);
        let p = project("fs.used_pct", fs("/"), &falling, None, NOW, &c);
        assert!(
            p.reason.starts_with("not rising (-2.40 % per day"),
            "{}",
            p.reason
        );

        let full = hourly(48, |b| 100.0 - b as f64 * 0.001);
        let p = project("fs.used_pct", fs("/"), &full, Some(100.0), NOW, &c);
        assert_eq!(p.reaches, None);
        assert!(p.reason.starts_with("already at 100 %"), "{}", p.reason);

        // Between the thresholds: only 100 % is ahead.
        let p = project(
            "fs.used_pct",
            fs("/"),
            &hourly(48, |b| 95.0 - b as f64 / 24.0),
            None,
            NOW,
            &c,
        );
        assert_eq!(p.reaches.unwrap().threshold_pct, 100.0);
        assert!((p.reaches.unwrap().days - 5.0).abs() < 1e-6);

        // Rising, but a century away.
        let slow = hourly(168, |b| 10.0 - b as f64 * 0.0001);
        let p = project("mem.used_pct", BTreeMap::new(), &slow, None, NOW, &c);
        assert_eq!(p.reaches, None);
        assert!(
            p.reason
                .starts_with("rising too slowly to reach 90 % within 365 days")
        );
        assert_eq!(
            p.sentence(&jiff::tz::TimeZone::UTC),
            format!("memory: no projection ({})", p.reason)
        );
    }

    #[test]
    fn validation_names_the_key() {
        assert_eq!(TrendConfig::default().validate(), Ok(()));
        let bad = TrendConfig {
            min_r2: 1.5,
            ..TrendConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("trend.min_r2"));
        let bad = TrendConfig {
            thresholds_pct: vec![90.0, 120.0],
            ..TrendConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("trend.thresholds_pct"));
        let bad = TrendConfig {
            window_days: 1,
            min_span_hours: 48,
            ..TrendConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("trend.min_span_hours"));
    }

    proptest! {
        /// A perfect line recovers its slope, and the crossing date to the millisecond.
        #[test]
        fn a_perfect_line_recovers_slope_and_date(
            start in 0.0f64..80.0,
            slope in 0.05f64..5.0,
            hours in 30i64..400,
        ) {
            let pts = hourly(hours, |back| start + slope * (hours - 1 - back) as f64 / 24.0);
            let current = pts.last().unwrap().1;
            let config = TrendConfig { horizon_days: 100_000, ..TrendConfig::default() };
            let p = project("fs.used_pct", fs("/data"), &pts, None, NOW, &config);
            prop_assert!((p.slope_per_day.unwrap() - slope).abs() < 1e-9 * slope.max(1.0));
            prop_assert!(p.r2.unwrap() > 0.999_999);
            if current < 90.0 {
                let r = p.reaches.unwrap();
                let expected = NOW + ((90.0 - current) / slope * DAY_MS as f64).round() as i64;
                prop_assert!((r.at_ms - expected).abs() <= 1, "{} vs {}", r.at_ms, expected);
                prop_assert_eq!(r.threshold_pct, 90.0);
            }
        }

        /// Values that do not depend on time (seeded noise around a level) give no projection.
        #[test]
        fn pure_noise_never_projects(seed in any::<u64>(), level in 5.0f64..85.0, amp in 0.1f64..10.0) {
            let mut rng = seed | 1;
            let pts = hourly(168, |_| {
                // xorshift64: uniform noise, independent of time.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                level + amp * ((rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
            });
            let p = project("fs.used_pct", fs("/"), &pts, None, NOW, &TrendConfig::default());
            prop_assert_eq!(p.reaches, None, "{}", p.reason);
        }

        /// A flat series never projects, whatever its level.
        #[test]
        fn a_flat_series_never_projects(level in 0.0f64..100.0, hours in 1i64..400) {
            let pts = hourly(hours, |_| level);
            let p = project("swap.used_pct", BTreeMap::new(), &pts, None, NOW, &TrendConfig::default());
            prop_assert_eq!(p.reaches, None);
            prop_assert!(p.reaches_all.is_empty());
        }
    }
}
