//! Label matchers (`=`, `!=`, `=~`, `!~`) shared by rule selectors and silences, series
//! selectors with them (`fs.used_pct{mount=~"/var.*"}`), and host-name globs for scopes.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    /// The whole value matches the regex (anchored at both ends, as in Prometheus).
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    pub fn parse(s: &str) -> Option<MatchOp> {
        Some(match s {
            "=" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            "=~" => MatchOp::Regex,
            "!~" => MatchOp::NotRegex,
            _ => return None,
        })
    }
}

/// One label matcher. A label that is absent matches as the empty string, so `mount!="/boot"`
/// matches a series without a `mount` label.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawMatcher", into = "RawMatcher")]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label && self.op == other.op && self.value == other.value
    }
}

/// The JSON form: `{"label": "host", "op": "=~", "value": "web-.*"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatcher {
    pub label: String,
    #[serde(default = "default_op")]
    pub op: String,
    pub value: String,
}

fn default_op() -> String {
    "=".into()
}

impl TryFrom<RawMatcher> for Matcher {
    type Error = String;
    fn try_from(raw: RawMatcher) -> Result<Self, String> {
        let op = MatchOp::parse(&raw.op).ok_or_else(|| {
            format!(
                "unknown operator `{}` (use =, !=, =~ or !~)",
                raw.op.escape_debug()
            )
        })?;
        Matcher::new(&raw.label, op, &raw.value)
    }
}

impl From<Matcher> for RawMatcher {
    fn from(m: Matcher) -> Self {
        RawMatcher {
            label: m.label,
            op: m.op.as_str().into(),
            value: m.value,
        }
    }
}

impl Matcher {
    /// The text form the CLI and route configs use: `host=~"web-.*"`, `rule=fs_used`
    /// (quotes optional), operators `=`, `!=`, `=~`, `!~`.
    pub fn parse_text(text: &str) -> Result<Matcher, String> {
        let bad = || format!("`{text}` is not a matcher like host=\"web-1\" or mount=~\"/var.*\"");
        let pos = text.find(['=', '!']).ok_or_else(bad)?;
        let label = text[..pos].trim();
        let (op, value) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| text[pos..].strip_prefix(op).map(|v| (*op, v.trim())))
            .ok_or_else(bad)?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let op = MatchOp::parse(op).ok_or_else(bad)?;
        Matcher::new(label, op, value).map_err(|e| format!("`{text}`: {e}"))
    }

    pub fn new(label: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        if !valid_label(label) {
            return Err(format!(
                "`{}` is not a label name (letters, digits, `_`)",
                label.escape_debug()
            ));
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("label `{label}`: bad regex: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            label: label.into(),
            op,
            value: value.into(),
            regex,
        })
    }

    /// Whether a label value (absent = `""`) satisfies this matcher.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(r)) => r.is_match(v),
            (MatchOp::NotRegex, Some(r)) => !r.is_match(v),
            // `new` always compiles a regex for the regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}\"{}\"",
            self.label,
            self.op.as_str(),
            self.value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
}

fn valid_label(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_series_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

/// A series selector: a name and label matchers, as in `docs/series.md` plus `!=`, `=~`, `!~`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses `name` or `name{label="v",label!="v",label=~"re",label!~"re"}`.
    pub fn parse(s: &str) -> Result<Selector, String> {
        let s = s.trim();
        let (name, body) = match s.split_once('{') {
            None => (s, None),
            Some((name, rest)) => (
                name.trim(),
                Some(
                    rest.strip_suffix('}')
                        .ok_or("the label matchers must end with `}`")?,
                ),
            ),
        };
        if !valid_series_name(name) {
            return Err(format!(
                "`{}` is not a series name (like `fs.used_pct`)",
                name.escape_debug()
            ));
        }
        let mut matchers = Vec::new();
        let mut rest = body.unwrap_or("").trim();
        while !rest.is_empty() {
            let label_end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .ok_or_else(|| format!("label `{rest}` has no operator"))?;
            let label = &rest[..label_end];
            let after = rest[label_end..].trim_start();
            let op = ["=~", "!~", "!=", "="]
                .into_iter()
                .find(|op| after.starts_with(op))
                .ok_or_else(|| format!("label `{label}`: expected =, !=, =~ or !~"))?;
            let after = after[op.len()..].trim_start();
            let quoted = after
                .strip_prefix('"')
                .ok_or_else(|| format!("label `{label}`: the value must be in double quotes"))?;
            let (value, tail) = unquote(quoted)
                .ok_or_else(|| format!("label `{label}`: the value's quote is not closed"))?;
            let op = MatchOp::parse(op).expect("one of the four operators");
            matchers.push(Matcher::new(label, op, &value)?);
            rest = tail.trim_start();
            rest = match rest.strip_prefix(',') {
                Some(r) => r.trim_start(),
                None if rest.is_empty() => rest,
                None => return Err(format!("expected `,` after label `{label}`")),
            };
        }
        Ok(Selector {
            name: name.into(),
            matchers,
        })
    }

    /// Whether a series (name + labels) is selected.
    pub fn matches(&self, name: &str, labels: &[(&'static str, String)]) -> bool {
        self.name == name
            && self.matchers.iter().all(|m| {
                m.matches(
                    labels
                        .iter()
                        .find(|(k, _)| *k == m.label)
                        .map(|(_, v)| v.as_str()),
                )
            })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.matchers.is_empty() {
            let parts: Vec<String> = self.matchers.iter().map(ToString::to_string).collect();
            write!(f, "{{{}}}", parts.join(","))?;
        }
        Ok(())
    }
}

/// The value up to the closing quote (with `\"` and `\\` escapes) and what follows it.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

/// A host-name glob: `*` any run of characters, `?` one character, the rest literal.
#[derive(Debug, Clone)]
pub struct Glob {
    pub pattern: String,
    regex: Regex,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("an empty host pattern matches nothing".into());
        }
        let mut re = String::from("^");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        let regex = Regex::new(&re).map_err(|e| format!("bad host pattern: {e}"))?;
        Ok(Glob {
            pattern: pattern.into(),
            regex,
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn selectors_take_all_four_operators() {
        let s = Selector::parse(
            r#"fs.used_pct{mount=~"/var.*", mount!="/var/tmp",device!~"loop\\d+"}"#,
        )
        .unwrap();
        assert_eq!(s.name, "fs.used_pct");
        assert_eq!(s.matchers.len(), 3);
        assert!(s.matches("fs.used_pct", &labels(&[("mount", "/var/lib")])));
        assert!(!s.matches("fs.used_pct", &labels(&[("mount", "/var/tmp")])));
        assert!(!s.matches("fs.used_pct", &labels(&[("mount", "/")])));
        assert!(!s.matches("fs.used_bytes", &labels(&[("mount", "/var")])));
        assert!(!s.matches(
            "fs.used_pct",
            &labels(&[("mount", "/var"), ("device", "loop3")])
        ));
        // Regexes are anchored: "/var.*" does not match "/srv/var".
        assert!(!s.matches("fs.used_pct", &labels(&[("mount", "/srv/var")])));
        assert_eq!(
            Selector::parse("cpu.steal_pct").unwrap().to_string(),
            "cpu.steal_pct"
        );
        assert_eq!(
            Selector::parse(r#"a.b{x="q\"uote"}"#).unwrap().matchers[0].value,
            "q\"uote"
        );
    }

    #[test]
    fn bad_selectors_say_what_is_wrong() {
        for (bad, says) in [
            ("cpu steal", "series name"),
            (r#"fs.used_pct{mount="/"#, "end with `}`"),
            ("fs.used_pct{mount=/var}", "double quotes"),
            (r#"fs.used_pct{mount~"/var"}"#, "expected ="),
            (r#"fs.used_pct{mount=~"("}"#, "bad regex"),
            (r#"fs.used_pct{mount="/" device="x"}"#, "expected `,`"),
            (r#"fs.used_pct{mount="/}"#, "not closed"),
        ] {
            let e = Selector::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn globs_match_whole_names() {
        let g = Glob::new("web-*").unwrap();
        assert!(g.matches("web-1"));
        assert!(!g.matches("db-web-1"));
        let g = Glob::new("db?.example.com").unwrap();
        assert!(g.matches("db1.example.com"));
        assert!(!g.matches("db1xexample.com"));
        assert!(Glob::new("").is_err());
    }

    #[test]
    fn matchers_round_trip_through_json_and_reject_bad_input() {
        let m: Matcher =
            serde_json::from_str(r#"{"label":"host","op":"=~","value":"web-.*"}"#).unwrap();
        assert!(m.matches(Some("web-3")));
        assert!(!m.matches(None));
        let back = serde_json::to_string(&m).unwrap();
        assert_eq!(back, r#"{"label":"host","op":"=~","value":"web-.*"}"#);
        let e = serde_json::from_str::<Matcher>(r#"{"label":"host","op":"~","value":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown operator"), "{e}");
        assert!(serde_json::from_str::<Matcher>(r#"{"label":"a b","value":"x"}"#).is_err());
    }

    #[test]
    fn matchers_parse_from_text() {
        let m = Matcher::parse_text(r#"host=~"web-.*""#).unwrap();
        assert_eq!(
            (m.label.as_str(), m.op, m.value.as_str()),
            ("host", MatchOp::Regex, "web-.*")
        );
        assert!(m.matches(Some("web-12")) && !m.matches(Some("db-1")));
        let m = Matcher::parse_text("rule=fs_used").unwrap();
        assert_eq!((m.op, m.value.as_str()), (MatchOp::Equal, "fs_used"));
        let m = Matcher::parse_text(r#"mount!="/boot""#).unwrap();
        assert_eq!(m.op, MatchOp::NotEqual);
        for (bad, says) in [
            ("host", "is not a matcher"),
            ("=x", "not a label name"),
            (r#"x=~"(""#, "bad regex"),
        ] {
            let e = Matcher::parse_text(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
