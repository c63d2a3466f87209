//! The overview's CPU sparklines: the last hour per host at one point a minute, kept in memory
//! as reports arrive (filled from the stored minute series when the hub starts), drawn by the
//! server as a small inline SVG — no request per host from the browser.

use crate::store::HostId;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::sync::Mutex;

/// Minutes a sparkline covers.
pub const MINUTES: usize = 60;
const MINUTE_MS: i64 = 60_000;
pub const WIDTH: f64 = 120.0;
pub const HEIGHT: f64 = 24.0;

#[derive(Debug, Default)]
struct Ring {
    /// `(minute start ms, sum, count)`, oldest first.
    minutes: VecDeque<(i64, f64, u32)>,
    /// The newest sample time recorded, so a report seen twice counts once.
    newest: i64,
}

/// Per-host rings of per-minute CPU averages.
#[derive(Debug, Default)]
pub struct Sparks {
    rings: Mutex<HashMap<HostId, Ring>>,
}

impl Sparks {
    /// Adds a sample taken at `at_ms`; samples older than what the host has are ignored.
    pub fn record(&self, host: HostId, at_ms: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let ring = rings.entry(host).or_default();
        if at_ms <= ring.newest {
            return;
        }
        ring.newest = at_ms;
        let minute = at_ms - at_ms.rem_euclid(MINUTE_MS);
        match ring.minutes.back_mut() {
            Some((m, sum, n)) if *m == minute => {
                *sum += value;
                *n += 1;
            }
            _ => ring.minutes.push_back((minute, value, 1)),
        }
        while ring.minutes.len() > MINUTES + 1 {
            ring.minutes.pop_front();
        }
    }

    /// Adds a whole minute's average (from the stored series), keeping what is newer.
    pub fn backfill(&self, host: HostId, minutes: &[(i64, f64)]) {
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let ring = rings.entry(host).or_default();
        let first_live = ring.minutes.front().map_or(i64::MAX, |m| m.0);
        let mut older: VecDeque<(i64, f64, u32)> = minutes
            .iter()
            .filter(|(m, v)| *m < first_live && v.is_finite())
            .map(|&(m, v)| (m - m.rem_euclid(MINUTE_MS), v, 1))
            .collect();
        older.extend(ring.minutes.drain(..));
        ring.minutes = older;
        while ring.minutes.len() > MINUTES + 1 {
            ring.minutes.pop_front();
        }
    }

    pub fn forget(&self, host: HostId) {
        self.rings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&host);
    }

    /// The host's last hour up to `now_ms`, as minute averages.
    pub fn points(&self, host: HostId, now_ms: i64) -> Vec<(i64, f64)> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let since = now_ms - MINUTES as i64 * MINUTE_MS;
        rings
            .get(&host)
            .map(|r| {
                r.minutes
                    .iter()
                    .filter(|(m, _, _)| *m >= since)
                    .map(|&(m, sum, n)| (m, sum / f64::from(n.max(1))))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The sparkline as inline SVG (0–100 % scale), or an empty string with no data.
    pub fn svg(&self, host: HostId, now_ms: i64) -> String {
        svg(&self.points(host, now_ms), now_ms)
    }
}

/// Draws minute points of a 0–100 % figure over the hour before `now_ms`; a gap of more
/// than two minutes breaks the line, so a silent host shows as one.
pub fn svg(points: &[(i64, f64)], now_ms: i64) -> String {
    if points.is_empty() {
        return String::new();
    }
    let start = now_ms - MINUTES as i64 * MINUTE_MS;
    let x = |t: i64| {
        ((t - start) as f64 / (MINUTES as i64 * MINUTE_MS) as f64 * WIDTH).clamp(0.0, WIDTH)
    };
    let y = |v: f64| HEIGHT - (v.clamp(0.0, 100.0) / 100.0 * (HEIGHT - 2.0)) - 1.0;
    let mut path = String::new();
    let mut prev: Option<i64> = None;
    for &(t, v) in points {
        let cmd = match prev {
            Some(p) if t - p <= 2 * MINUTE_MS => 'L',
            _ => 'M',
        };
        let _ = write!(path, "{cmd}{:.1} {:.1}", x(t), y(v));
        prev = Some(t);
    }
    let (last_t, last) = points.last().copied().unwrap_or((now_ms, 0.0));
    // The newest minute as a dot, so a host with one minute of history shows something.
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"CPU over the last hour, now {last:.0} %\"><path d=\"{path}\"/><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.8\"/></svg>",
        x(last_t),
        y(last)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_average_per_minute_and_duplicates_count_once() {
        let s = Sparks::default();
        let t0 = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS;
        s.record(1, t0 + 1_000, 10.0);
        s.record(1, t0 + 11_000, 30.0);
        s.record(1, t0 + 11_000, 99.0); // the same report again
        s.record(1, t0 + 61_000, 50.0);
        assert_eq!(
            s.points(1, t0 + 120_000),
            vec![(t0, 20.0), (t0 + 60_000, 50.0)]
        );
        assert!(s.points(2, t0).is_empty());
        // An hour later the old minutes are out of the window.
        assert!(s.points(1, t0 + 2 * 3_600_000).is_empty());
    }

    #[test]
    fn backfill_goes_before_live_minutes() {
        let s = Sparks::default();
        let t0 = 1_700_000_040_000;
        s.record(7, t0 + 120_000, 80.0);
        s.backfill(7, &[(t0, 5.0), (t0 + 60_000, 6.0), (t0 + 120_000, 1.0)]);
        let p = s.points(7, t0 + 180_000);
        assert_eq!(
            p.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![5.0, 6.0, 80.0]
        );
    }

    #[test]
    fn the_svg_scales_and_breaks_at_gaps() {
        let now = 10 * 3_600_000;
        let start = now - 3_600_000;
        let out = svg(
            &[
                (start, 0.0),
                (start + 60_000, 100.0),
                (start + 600_000, 50.0),
            ],
            now,
        );
        assert!(out.starts_with("<svg class=\"spark\""), "{out}");
        assert!(out.contains("d=\"M0.0 23.0L2.0 1.0M20.0 12.0\""), "{out}");
        assert!(out.contains("now 50 %"));
        assert_eq!(svg(&[], now), "");
    }
}
