//! How figures read on the pages: one place, so every page says "42 %" and "3 min ago" alike.

/// Percent-encodes everything but unreserved characters (for `?next=` and series selectors).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `42 %`, one decimal below 10; `—` when unknown.
pub fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            if v < 10.0 {
                format!("{v:.1} %")
            } else {
                format!("{v:.0} %")
            }
        }
        _ => "—".into(),
    }
}

/// A plain number with two decimals, `—` when unknown.
pub fn num2(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.2}"),
        _ => "—".into(),
    }
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes(v: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = v as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A span of seconds in its two largest units: `12 s`, `5 min`, `3 h 20 min`, `41 d 2 h`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "—".into();
    }
    let s = seconds as u64;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{s} s")
    }
}

/// `just now`, `3 min ago`, `never`.
pub fn ago(then_ms: Option<i64>, now_ms: i64) -> String {
    match then_ms {
        None => "never".into(),
        Some(t) if now_ms - t < 5_000 => "just now".into(),
        Some(t) => format!("{} ago", duration((now_ms - t) as f64 / 1000.0)),
    }
}

/// A UTC time people read: `2026-11-22 07:58:48 UTC` (the pages' scripts switch it to local).
pub fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| "—".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_naturally() {
        assert_eq!(pct(Some(4.25)), "4.2 %");
        assert_eq!(pct(Some(42.4)), "42 %");
        assert_eq!(pct(None), "—");
        assert_eq!(pct(Some(f64::NAN)), "—");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(duration(12.0), "12 s");
        assert_eq!(duration(3.0 * 3600.0 + 20.0 * 60.0), "3 h 20 min");
        assert_eq!(duration(41.0 * 86400.0 + 7300.0), "41 d 2 h");
        assert_eq!(ago(None, 0), "never");
        assert_eq!(ago(Some(1_000), 3_000), "just now");
        assert_eq!(ago(Some(0), 180_000), "3 min ago");
        assert_eq!(url_encode("/hosts/a b?x=1"), "%2Fhosts%2Fa%20b%3Fx%3D1");
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
    }
}
