//! Quiet hours: a daily window, in a time zone, during which a channel only takes critical
//! alerts. What is held back is sent when the window ends, if it still matters then.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A daily window such as `22:00-07:00` (it may wrap past midnight) in a time zone.
#[derive(Debug, Clone)]
pub struct QuietHours {
    start: Time,
    end: Time,
    tz: TimeZone,
}

impl QuietHours {
    /// `window` is `HH:MM-HH:MM`; `tz` an IANA name, or `None` for the hub's own zone.
    pub fn parse(window: &str, tz: Option<&str>) -> Result<QuietHours, String> {
        let (a, b) = window
            .split_once('-')
            .ok_or_else(|| format!("`{window}` is not a window like \"22:00-07:00\""))?;
        let time = |s: &str| -> Result<Time, String> {
            let (h, m) = s
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("`{s}` is not a time like \"07:00\""))?;
            let h: i8 = h.parse().map_err(|_| format!("`{s}`: bad hour"))?;
            let m: i8 = m.parse().map_err(|_| format!("`{s}`: bad minute"))?;
            Time::new(h, m, 0, 0).map_err(|_| format!("`{s}` is not a time of day"))
        };
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(format!("`{window}` is empty"));
        }
        let tz = match tz {
            Some(name) => TimeZone::get(name).map_err(|_| format!("unknown time zone `{name}`"))?,
            None => TimeZone::system(),
        };
        Ok(QuietHours { start, end, tz })
    }

    /// Whether `at_ms` (unix ms) falls inside the window.
    pub fn contains(&self, at_ms: i64) -> bool {
        let t = self.local(at_ms).time();
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When the window that contains `at_ms` ends, unix ms; `None` outside it.
    pub fn ends_after(&self, at_ms: i64) -> Option<i64> {
        if !self.contains(at_ms) {
            return None;
        }
        let now = self.local(at_ms);
        let today_end = now
            .date()
            .to_datetime(self.end)
            .to_zoned(self.tz.clone())
            .ok()?;
        let end = if today_end.timestamp() > now.timestamp() {
            today_end
        } else {
            now.date()
                .tomorrow()
                .ok()?
                .to_datetime(self.end)
                .to_zoned(self.tz.clone())
                .ok()?
        };
        Some(end.timestamp().as_millisecond())
    }

    fn local(&self, at_ms: i64) -> Zoned {
        Timestamp::from_millisecond(at_ms)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_window_past_midnight_in_a_time_zone() {
        let q = QuietHours::parse("22:00-07:00", Some("Europe/Berlin")).unwrap();
        // Berlin is UTC+1 in January.
        assert!(q.contains(ms("2026-01-10T21:30:00Z")), "22:30 local");
        assert!(q.contains(ms("2026-01-11T05:59:00Z")), "06:59 local");
        assert!(!q.contains(ms("2026-01-11T06:00:00Z")), "07:00 local");
        assert!(!q.contains(ms("2026-01-10T20:59:00Z")), "21:59 local");
        assert_eq!(
            q.ends_after(ms("2026-01-10T21:30:00Z")),
            Some(ms("2026-01-11T06:00:00Z"))
        );
        assert_eq!(
            q.ends_after(ms("2026-01-11T01:00:00Z")),
            Some(ms("2026-01-11T06:00:00Z"))
        );
        assert_eq!(q.ends_after(ms("2026-01-11T12:00:00Z")), None);
    }

    #[test]
    fn a_window_within_one_day() {
        let q = QuietHours::parse("12:00-13:30", Some("UTC")).unwrap();
        assert!(q.contains(ms("2026-03-01T12:00:00Z")));
        assert!(q.contains(ms("2026-03-01T13:29:00Z")));
        assert!(!q.contains(ms("2026-03-01T13:30:00Z")));
        assert_eq!(
            q.ends_after(ms("2026-03-01T12:10:00Z")),
            Some(ms("2026-03-01T13:30:00Z"))
        );
    }

    #[test]
    fn bad_windows_are_refused() {
        for bad in [
            "22:00",
            "24:00-07:00",
            "22:00-7",
            "07:00-07:00",
            "aa:00-07:00",
        ] {
            assert!(QuietHours::parse(bad, Some("UTC")).is_err(), "{bad}");
        }
        assert!(QuietHours::parse("22:00-07:00", Some("Mars/Olympus")).is_err());
    }
}
