//! The overview's CPU sparklines: the last hour per host at one point a minute (kept in memory
//! by [`crate::recent`]), drawn by the server as a small inline SVG — no request per host from
//! the browser.

use crate::recent::{Figure, MINUTES, Recent};
use crate::store::HostId;
use std::fmt::Write;

const MINUTE_MS: i64 = 60_000;
pub const WIDTH: f64 = 120.0;
pub const HEIGHT: f64 = 24.0;

/// A host's CPU over the last hour (from [`crate::recent`]) as inline SVG.
pub fn cpu(recent: &Recent, host: HostId, now_ms: i64) -> String {
    svg(&recent.points(host, Figure::CpuBusy, now_ms), now_ms)
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
