//! Just enough cron to know when a job should have run: the five standard fields (minute,
//! hour, day of month, month, day of week) with `*`, lists, ranges, steps and month/day
//! names, and the `@daily`-style macros. Times are the host's wall clock; the caller passes
//! its UTC offset (see `jobs::infer_offset`), so this module knows nothing of time zones.

use jiff::civil::{Date, DateTime};

/// A parsed schedule. `@reboot` has no times and is not a `Schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Both day fields are restricted: cron then fires when either matches.
    either_day: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// How far ahead [`Schedule::next_after`] looks: a `0 0 29 2 1` (Feb 29 or a Monday) is
/// frequent, but `0 0 30 2 *` never fires.
const HORIZON_DAYS: i32 = 366 * 5;

impl Schedule {
    /// Parses a crontab time spec; the error says which field was wrong.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => {
                return Err(format!("`{s}` has no times the hub can check"));
            }
            s => s,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "`{spec}` has {} fields; a schedule has five (minute hour day month weekday)",
                fields.len()
            ));
        }
        let minutes = field(fields[0], 0, 59, &[], "minute")?;
        let hours = field(fields[1], 0, 23, &[], "hour")?;
        let days = field(fields[2], 1, 31, &[], "day of month")?;
        let months = field(fields[3], 1, 12, &MONTHS, "month")?;
        let mut weekdays = field(fields[4], 0, 7, &WEEKDAYS, "day of week")?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(Schedule {
            minutes,
            hours,
            days,
            months,
            weekdays,
            either_day: !fields[2].starts_with('*') && !fields[4].starts_with('*'),
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        if self.either_day {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// Whether the schedule fires at this wall-clock minute.
    pub fn matches(&self, t: DateTime) -> bool {
        self.day_matches(t.date())
            && self.hours & (1 << t.hour()) != 0
            && self.minutes & (1 << t.minute()) != 0
    }

    /// The first firing strictly after `t` (wall clock), within five years.
    pub fn next_after(&self, t: DateTime) -> Option<DateTime> {
        let start = t
            .date()
            .to_datetime(jiff::civil::time(t.hour(), t.minute(), 0, 0))
            .checked_add(jiff::SignedDuration::from_secs(60))
            .ok()?;
        let mut day = start.date();
        for _ in 0..HORIZON_DAYS {
            if self.day_matches(day) {
                let first = day == start.date();
                for h in 0..24i8 {
                    if self.hours & (1 << h) == 0 || (first && h < start.hour()) {
                        continue;
                    }
                    for m in 0..60i8 {
                        if self.minutes & (1 << m) == 0
                            || (first && h == start.hour() && m < start.minute())
                        {
                            continue;
                        }
                        return Some(day.to_datetime(jiff::civil::time(h, m, 0, 0)));
                    }
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }
}

/// One field as a bit set of the values it allows.
fn field(text: &str, min: u32, max: u32, names: &[&str], what: &str) -> Result<u64, String> {
    let bad = |why: String| format!("{what} field `{text}`: {why}");
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + if min == 1 { 1 } else { 0 });
        }
        let v: u32 = s
            .parse()
            .map_err(|_| bad(format!("`{s}` is not a number")))?;
        if v < min || v > max {
            return Err(bad(format!("{v} is outside {min}–{max}")));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| bad(format!("step `{s}` is not a positive number")))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(bad(format!("range {a}-{b} runs backwards")));
            }
            (a, b)
        } else {
            let a = value(range)?;
            // `5/15` means from 5 to the end in steps of 15.
            (a, if part.contains('/') { max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn at(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> DateTime {
        date(y, mo, d).at(h, mi, 0, 0)
    }

    #[test]
    fn next_firings_follow_cron() {
        let s = Schedule::parse("0 3 * * *").unwrap();
        assert_eq!(
            s.next_after(at(2026, 3, 1, 3, 0)),
            Some(at(2026, 3, 2, 3, 0)),
            "strictly after"
        );
        assert_eq!(
            s.next_after(at(2026, 3, 1, 2, 59)),
            Some(at(2026, 3, 1, 3, 0))
        );
        let s = Schedule::parse("*/15 9-17 * * mon-fri").unwrap();
        // Friday 17:50 → Monday 09:00.
        assert_eq!(
            s.next_after(at(2026, 3, 6, 17, 50)),
            Some(at(2026, 3, 9, 9, 0))
        );
        assert_eq!(
            s.next_after(at(2026, 3, 9, 9, 1)),
            Some(at(2026, 3, 9, 9, 15))
        );
        // Day of month or day of week when both are given: the 1st, or any Sunday.
        let s = Schedule::parse("30 4 1 * 7").unwrap();
        assert_eq!(
            s.next_after(at(2026, 3, 2, 0, 0)),
            Some(at(2026, 3, 8, 4, 30))
        );
        assert_eq!(
            Schedule::parse("@monthly")
                .unwrap()
                .next_after(at(2026, 12, 15, 0, 0)),
            Some(at(2027, 1, 1, 0, 0))
        );
        assert_eq!(
            Schedule::parse("0 0 29 feb *")
                .unwrap()
                .next_after(at(2026, 3, 1, 0, 0)),
            Some(at(2028, 2, 29, 0, 0))
        );
        assert_eq!(
            Schedule::parse("0 0 30 2 *")
                .unwrap()
                .next_after(at(2026, 1, 1, 0, 0)),
            None
        );
        assert!(
            Schedule::parse("5/20 * * * *")
                .unwrap()
                .matches(at(2026, 1, 1, 0, 45))
        );
    }

    #[test]
    fn bad_schedules_name_the_field() {
        for (spec, says) in [
            ("0 3 * *", "has 4 fields"),
            ("61 * * * *", "minute field `61`: 61 is outside 0–59"),
            ("* 5-2 * * *", "hour field `5-2`: range 5-2 runs backwards"),
            ("* * * foo *", "month field `foo`"),
            ("*/0 * * * *", "step `0`"),
            ("@reboot", "no times"),
        ] {
            let e = Schedule::parse(spec).unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }
}
