//! Silences (matchers on an alert's rule, host and labels, for a while: the alert still
//! changes state but nobody is notified) and acknowledgements (someone is on it: stop
//! repeating; the resolve is still sent).

use super::matcher::Matcher;
use super::rule::parse_duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: i64,
    /// All must match: labels are the alert's series and routing labels plus `rule`, `host`
    /// and `severity`.
    pub matchers: Vec<Matcher>,
    /// Unix ms.
    pub starts_at: i64,
    pub ends_at: i64,
    pub author: String,
    pub comment: String,
    pub created_at: i64,
}

impl Silence {
    pub fn active(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.label).map(String::as_str)))
    }
}

/// A silence to create, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub author: String,
    pub comment: String,
    pub created_at: i64,
}

/// `POST /api/v1/silences`: matchers and either `duration` (`"2h"`) or `ends_at` (unix ms).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    pub matchers: Vec<Matcher>,
    #[serde(default)]
    pub starts_at: Option<i64>,
    #[serde(default)]
    pub ends_at: Option<i64>,
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub comment: String,
}

/// The longest a silence may last: a forgotten silence must not hide a host for ever.
pub const MAX_SILENCE_MS: i64 = 366 * 86_400_000;

impl SilenceRequest {
    /// Checks the request; the problem names the field.
    pub fn check(self, author: &str, now: i64) -> Result<NewSilence, String> {
        if self.matchers.is_empty() {
            return Err(
                "`matchers`: at least one (a silence of everything would hide every alert)".into(),
            );
        }
        let starts_at = self.starts_at.unwrap_or(now);
        let ends_at = match (self.duration, self.ends_at) {
            (Some(_), Some(_)) => return Err("give `duration` or `ends_at`, not both".into()),
            (None, None) => {
                return Err("`duration`: missing (like \"2h\"), or give `ends_at`".into());
            }
            (Some(d), None) => {
                let secs = parse_duration(&d).map_err(|e| format!("`duration`: {e}"))?;
                starts_at.saturating_add(secs.ms())
            }
            (None, Some(e)) => e,
        };
        if ends_at <= starts_at || ends_at <= now {
            return Err("`ends_at`: the silence must end after it starts and in the future".into());
        }
        if ends_at - starts_at > MAX_SILENCE_MS {
            return Err("`duration`: at most 366 days".into());
        }
        Ok(NewSilence {
            matchers: self.matchers,
            starts_at,
            ends_at,
            author: author.into(),
            comment: self.comment,
            created_at: now,
        })
    }
}

/// Someone acknowledged a firing alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub fingerprint: String,
    pub author: String,
    pub at: i64,
    pub comment: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Result<NewSilence, String> {
        serde_json::from_str::<SilenceRequest>(json)
            .map_err(|e| e.to_string())?
            .check("alice", 1_000)
    }

    #[test]
    fn silences_match_all_their_matchers_while_active() {
        let s = req(r#"{"matchers":[{"label":"host","op":"=~","value":"web-.*"},{"label":"rule","value":"fs_used"}],"duration":"1h","comment":"resizing"}"#)
            .unwrap();
        assert_eq!((s.starts_at, s.ends_at), (1_000, 1_000 + 3_600_000));
        let silence = Silence {
            id: 1,
            matchers: s.matchers,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            author: s.author,
            comment: s.comment,
            created_at: s.created_at,
        };
        let labels = |host: &str, rule: &str| -> BTreeMap<String, String> {
            [("host".into(), host.into()), ("rule".into(), rule.into())].into()
        };
        assert!(silence.matches(&labels("web-2", "fs_used")));
        assert!(!silence.matches(&labels("db-1", "fs_used")));
        assert!(!silence.matches(&labels("web-2", "cpu_steal")));
        assert!(silence.active(1_000) && silence.active(3_600_999));
        assert!(!silence.active(999) && !silence.active(3_601_000));
    }

    #[test]
    fn bad_silences_name_the_field() {
        for (json, says) in [
            (r#"{"matchers":[],"duration":"1h"}"#, "`matchers`"),
            (
                r#"{"matchers":[{"label":"host","value":"a"}]}"#,
                "`duration`: missing",
            ),
            (
                r#"{"matchers":[{"label":"host","value":"a"}],"duration":"soon"}"#,
                "`duration`",
            ),
            (
                r#"{"matchers":[{"label":"host","value":"a"}],"ends_at":500}"#,
                "`ends_at`",
            ),
            (
                r#"{"matchers":[{"label":"host","value":"a"}],"duration":"400d"}"#,
                "366 days",
            ),
            (
                r#"{"matchers":[{"label":"host","op":"=~","value":"("}],"duration":"1h"}"#,
                "bad regex",
            ),
            (
                r#"{"matchers":[{"label":"host","value":"a"}],"duration":"1h","x":1}"#,
                "unknown field",
            ),
        ] {
            let e = req(json).unwrap_err();
            assert!(e.contains(says), "{json}: {e}");
        }
    }
}
