use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The latest result of every configured Nagios-compatible check, in configuration order.
/// A check that has not finished its first run yet is absent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Checks {
    pub checks: Vec<CheckResult>,
}

/// One check's latest run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's configured name, unique on the host.
    pub name: String,
    pub state: CheckState,
    /// The plugin's exit code; absent when it did not exit (timed out, killed by a signal, could
    /// not start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The first line of the plugin's output (without its performance data), or what the agent
    /// says went wrong ("timed out after 10 s").
    pub status: String,
    /// The lines after the first (without performance data), if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub long_output: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perfdata: Vec<PerfData>,
    /// Performance-data items that could not be parsed, each with the reason; they are skipped,
    /// the check is not failed for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perfdata_errors: Vec<String>,
    pub duration_seconds: f64,
    /// When the run started, unix ms.
    pub last_run: i64,
    /// Runs in a row, this one included, whose state was not OK; 0 when it is OK.
    #[serde(default)]
    pub consecutive_failures: u32,
}

/// A check's state, as Nagios defines it by the plugin's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Ok,
    Warning,
    Critical,
    /// Also what an older reader maps states it does not know to.
    #[serde(other)]
    Unknown,
}

impl CheckState {
    /// Exit 0/1/2/3 → OK/WARNING/CRITICAL/UNKNOWN; any other code is UNKNOWN.
    pub fn from_exit_code(code: i32) -> CheckState {
        match code {
            0 => CheckState::Ok,
            1 => CheckState::Warning,
            2 => CheckState::Critical,
            _ => CheckState::Unknown,
        }
    }

    /// The Nagios number of the state, 0–3.
    pub fn code(self) -> u8 {
        match self {
            CheckState::Ok => 0,
            CheckState::Warning => 1,
            CheckState::Critical => 2,
            CheckState::Unknown => 3,
        }
    }
}

impl fmt::Display for CheckState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckState::Ok => "OK",
            CheckState::Warning => "WARNING",
            CheckState::Critical => "CRITICAL",
            CheckState::Unknown => "UNKNOWN",
        })
    }
}

/// One performance-data item: `'label'=value[UOM];[warn];[crit];[min];[max]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfData {
    pub label: String,
    /// As the plugin wrote it, in its unit of measure.
    pub value: f64,
    /// The unit as written: `s`, `ms`, `us`, `%`, `B`, `KB`, `MB`, `GB`, `TB`, `c`; absent for a
    /// plain number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<Range>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<Range>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// What a perfdata value measures, once converted to base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseUnit {
    /// A plain number (no unit, or a unit this build does not know).
    None,
    Seconds,
    Percent,
    Bytes,
    /// A continuous counter (`c`).
    Counter,
}

impl PerfData {
    /// `value` in base units (seconds, bytes), and what that unit is. `KB`, `MB`… are taken as
    /// powers of 1024, as the Nagios plugins compute them.
    pub fn base_value(&self) -> (f64, BaseUnit) {
        // Sub-second units divide, so 5 us is exactly 5e-6 rather than 5 × 1e-6.
        match self.uom.as_deref() {
            Some("ms") => return (self.value / 1e3, BaseUnit::Seconds),
            Some("us") => return (self.value / 1e6, BaseUnit::Seconds),
            _ => {}
        }
        let (factor, unit) = match self.uom.as_deref().unwrap_or("") {
            "s" => (1.0, BaseUnit::Seconds),
            "%" => (1.0, BaseUnit::Percent),
            "B" => (1.0, BaseUnit::Bytes),
            "KB" | "KiB" => (1024.0, BaseUnit::Bytes),
            "MB" | "MiB" => (1024.0 * 1024.0, BaseUnit::Bytes),
            "GB" | "GiB" => (1024.0 * 1024.0 * 1024.0, BaseUnit::Bytes),
            "TB" | "TiB" => (1024.0 * 1024.0 * 1024.0 * 1024.0, BaseUnit::Bytes),
            "c" => (1.0, BaseUnit::Counter),
            _ => (1.0, BaseUnit::None),
        };
        (self.value * factor, unit)
    }
}

/// A threshold range as the Nagios plugin guidelines write it: `10` (alert outside 0…10),
/// `10:` (below 10), `~:10` (above 10), `10:20` (outside 10…20), `@10:20` (inside 10…20,
/// inclusive). On the wire it travels as that text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower bound; `None` is negative infinity (`~`).
    pub start: Option<f64>,
    /// Upper bound; `None` is infinity.
    pub end: Option<f64>,
    /// `@`: alert when the value is inside the range instead of outside.
    pub inside: bool,
}

impl Range {
    /// Whether `value` is one to alert on.
    pub fn alerts(&self, value: f64) -> bool {
        let above_start = self.start.is_none_or(|s| value >= s);
        let below_end = self.end.is_none_or(|e| value <= e);
        let within = above_start && below_end;
        if self.inside { within } else { !within }
    }
}

/// Why a range expression could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    pub text: String,
    pub reason: &'static str,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid range `{}`: {}", self.text, self.reason)
    }
}

impl std::error::Error for RangeError {}

fn number(s: &str) -> Option<f64> {
    // Only what the guidelines allow: digits, sign, point (and an exponent, which some plugins
    // print); never `inf`/`nan`, which Rust's parser would take.
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        && s.chars().any(|c| c.is_ascii_digit());
    plain.then(|| s.parse::<f64>().ok()).flatten()
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Range, RangeError> {
        let fail = |reason| RangeError {
            text: text.to_string(),
            reason,
        };
        let (inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if body.is_empty() {
            return Err(fail("empty"));
        }
        let (start, end) = match body.split_once(':') {
            None => (
                Some(0.0),
                Some(number(body).ok_or_else(|| fail("not a number"))?),
            ),
            Some((start, end)) => {
                let start = match start {
                    "~" => None,
                    "" => Some(0.0),
                    s => Some(number(s).ok_or_else(|| fail("start is not a number"))?),
                };
                let end = match end {
                    "" => None,
                    e => Some(number(e).ok_or_else(|| fail("end is not a number"))?),
                };
                (start, end)
            }
        };
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(fail("start is greater than end"));
        }
        Ok(Range { start, end, inside })
    }
}

impl fmt::Display for Range {
    /// The canonical text: parses back to the same range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inside {
            f.write_str("@")?;
        }
        match (self.start, self.end) {
            (Some(s), Some(e)) if s == 0.0 && !self.inside => write!(f, "{e}"),
            (Some(s), Some(e)) => write!(f, "{s}:{e}"),
            (Some(s), None) => write!(f, "{s}:"),
            (None, Some(e)) => write!(f, "~:{e}"),
            (None, None) => f.write_str("~:"),
        }
    }
}

impl Serialize for Range {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Range {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Range, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn range_forms_alert_as_the_guidelines_say() {
        // (range, values that alert, values that do not)
        let cases: &[(&str, &[f64], &[f64])] = &[
            ("10", &[-1.0, 10.1, 11.0], &[0.0, 5.0, 10.0]),
            ("10:", &[-1.0, 9.99], &[10.0, 1e9]),
            ("~:10", &[10.5, 11.0], &[-1e9, 10.0]),
            ("10:20", &[9.0, 21.0], &[10.0, 15.0, 20.0]),
            ("@10:20", &[10.0, 15.0, 20.0], &[9.0, 21.0]),
            ("@~:0", &[-5.0, 0.0], &[0.1]),
            (":5", &[-0.5, 6.0], &[0.0, 5.0]),
        ];
        for (text, alerting, fine) in cases {
            let range = r(text);
            for v in *alerting {
                assert!(range.alerts(*v), "{text} must alert on {v}");
            }
            for v in *fine {
                assert!(!range.alerts(*v), "{text} must not alert on {v}");
            }
        }
        assert_eq!(
            r("@~:10"),
            Range {
                start: None,
                end: Some(10.0),
                inside: true
            }
        );
    }

    #[test]
    fn ranges_round_trip_through_their_text() {
        for text in [
            "10", "10:", "~:10", "10:20", "@10:20", "@0:6", "-5:-1", "~:", "0.5",
        ] {
            let range = r(text);
            assert_eq!(r(&range.to_string()), range, "{text}");
            let json = serde_json::to_string(&range).unwrap();
            assert_eq!(serde_json::from_str::<Range>(&json).unwrap(), range);
        }
        assert_eq!(r("0:10").to_string(), "10");
    }

    #[test]
    fn bad_ranges_say_why() {
        for (text, reason) in [
            ("", "empty"),
            ("@", "empty"),
            ("abc", "not a number"),
            ("20:10", "greater"),
            ("1:x", "end"),
            ("inf", "not a number"),
            ("~", "not a number"),
        ] {
            let err = text.parse::<Range>().unwrap_err();
            assert!(err.to_string().contains(reason), "{text}: {err}");
            assert!(err.to_string().contains(&format!("`{text}`")), "{err}");
        }
    }

    #[test]
    fn states_from_exit_codes() {
        let states: Vec<_> = [0, 1, 2, 3, 4, -1, 255]
            .map(CheckState::from_exit_code)
            .into();
        use CheckState::*;
        assert_eq!(
            states,
            [Ok, Warning, Critical, Unknown, Unknown, Unknown, Unknown]
        );
        assert_eq!(Critical.code(), 2);
        assert_eq!(serde_json::to_string(&Warning).unwrap(), "\"warning\"");
        assert_eq!(
            serde_json::from_str::<CheckState>("\"pending\"").unwrap(),
            Unknown
        );
    }

    #[test]
    fn base_units() {
        let p = |value, uom: &str| PerfData {
            label: "x".into(),
            value,
            uom: (!uom.is_empty()).then(|| uom.to_string()),
            warn: None,
            crit: None,
            min: None,
            max: None,
        };
        assert_eq!(p(250.0, "ms").base_value(), (0.25, BaseUnit::Seconds));
        assert_eq!(p(5.0, "us").base_value().0, 5e-6);
        assert_eq!(p(2.0, "KB").base_value(), (2048.0, BaseUnit::Bytes));
        assert_eq!(p(3.0, "MB").base_value().0, 3.0 * 1048576.0);
        assert_eq!(p(1.0, "TB").base_value().0, 1099511627776.0);
        assert_eq!(p(7.0, "c").base_value(), (7.0, BaseUnit::Counter));
        assert_eq!(p(7.0, "%").base_value(), (7.0, BaseUnit::Percent));
        assert_eq!(p(7.0, "").base_value(), (7.0, BaseUnit::None));
    }
}
