//! Routing: which channels an alert goes to, by severity, labels and host tags.

use super::config::{NotifyConfig, RouteConfig};
use crate::notice::AlertNotice;
use regex::Regex;

/// One label matcher, in Prometheus/Alertmanager syntax: `name="v"`, `name!="v"`,
/// `name=~"re"`, `name!~"re"`. Regular expressions match the whole value. The names
/// `rule`, `host` and `severity` match the alert's own fields when no label has that name.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: Op,
}

#[derive(Debug, Clone)]
enum Op {
    Equal(String),
    NotEqual(String),
    Matches(Regex),
    NotMatches(Regex),
}

impl Matcher {
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let bad = || format!("`{text}` is not a matcher like team=\"db\" or mount=~\"/var.*\"");
        let pos = text.find(['=', '!']).ok_or_else(bad)?;
        let name = text[..pos].trim();
        let rest = &text[pos..];
        let (op, value) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v.trim())))
            .ok_or_else(bad)?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad());
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .to_string();
        let regex = |v: &str| {
            Regex::new(&format!("^(?:{v})$"))
                .map_err(|e| format!("`{text}`: bad regular expression: {e}"))
        };
        let op = match op {
            "=" => Op::Equal(value),
            "!=" => Op::NotEqual(value),
            "=~" => Op::Matches(regex(&value)?),
            _ => Op::NotMatches(regex(&value)?),
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
        })
    }

    pub fn matches(&self, notice: &AlertNotice) -> bool {
        let value = match notice.labels.get(&self.name) {
            Some(v) => v.as_str(),
            None => match self.name.as_str() {
                "rule" => notice.rule.as_str(),
                "severity" => notice.severity.as_str(),
                "host" => notice.host.as_deref().unwrap_or(""),
                _ => "",
            },
        };
        match &self.op {
            Op::Equal(v) => value == v,
            Op::NotEqual(v) => value != v,
            Op::Matches(r) => r.is_match(value),
            Op::NotMatches(r) => !r.is_match(value),
        }
    }
}

/// A route ready to match.
#[derive(Debug, Clone)]
struct Route {
    config: RouteConfig,
    matchers: Vec<Matcher>,
}

impl Route {
    fn matches(&self, notice: &AlertNotice) -> bool {
        self.config
            .min_severity
            .is_none_or(|min| notice.severity >= min)
            && (self.config.host_tags.is_empty()
                || self
                    .config
                    .host_tags
                    .iter()
                    .any(|t| notice.host_tags.contains(t)))
            && self.matchers.iter().all(|m| m.matches(notice))
    }
}

/// Where one alert goes: a channel, through a route (`None`: the default route).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    pub channel: String,
    pub route: Option<usize>,
}

/// The routing table.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
    default_channels: Vec<String>,
}

impl Router {
    /// Builds from a validated configuration.
    pub fn new(config: &NotifyConfig) -> Router {
        let routes = config
            .routes
            .iter()
            .map(|r| Route {
                matchers: r
                    .matchers
                    .iter()
                    .filter_map(|m| Matcher::parse(m).ok())
                    .collect(),
                config: r.clone(),
            })
            .collect();
        let default_channels = config
            .default_channels
            .clone()
            .unwrap_or_else(|| config.channels.iter().map(|c| c.name.clone()).collect());
        Router {
            routes,
            default_channels,
        }
    }

    /// The channels `notice` goes to: those of the first matching route (and the following
    /// ones while a matching route says `continue`), else the default route's.
    pub fn route(&self, notice: &AlertNotice) -> Vec<Destination> {
        let mut out: Vec<Destination> = Vec::new();
        for (i, route) in self.routes.iter().enumerate() {
            if !route.matches(notice) {
                continue;
            }
            for channel in &route.config.channels {
                if !out.iter().any(|d| &d.channel == channel) {
                    out.push(Destination {
                        channel: channel.clone(),
                        route: Some(i),
                    });
                }
            }
            if !route.config.continue_matching {
                return out;
            }
        }
        if out.is_empty() {
            out = self
                .default_channels
                .iter()
                .map(|c| Destination {
                    channel: c.clone(),
                    route: None,
                })
                .collect();
        }
        out
    }

    /// The route's own settings, for its timing overrides.
    pub fn route_config(&self, index: Option<usize>) -> Option<&RouteConfig> {
        index.and_then(|i| self.routes.get(i)).map(|r| &r.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::{NoticeState, Severity};

    pub fn notice(
        rule: &str,
        severity: Severity,
        host: &str,
        tags: &[&str],
        labels: &[(&str, &str)],
    ) -> AlertNotice {
        AlertNotice {
            fingerprint: format!("{rule}/{host}"),
            rule: rule.into(),
            state: NoticeState::Firing,
            severity,
            host: Some(host.into()),
            host_tags: tags.iter().map(|t| t.to_string()).collect(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            summary: format!("{rule} on {host}"),
            value: None,
            started_at: 0,
            resolved_at: None,
            url: None,
        }
    }

    fn router(toml_text: &str) -> Router {
        #[derive(serde::Deserialize)]
        struct Top {
            notify: NotifyConfig,
        }
        let top: Top = toml::from_str(toml_text).unwrap();
        top.notify.validate().unwrap();
        Router::new(&top.notify)
    }

    const CHANNELS: &str = r#"
[[notify.channels]]
name = "pager"
type = "webhook"
url = "http://127.0.0.1:1/p"
[[notify.channels]]
name = "chat"
type = "slack"
url = "http://127.0.0.1:1/c"
[[notify.channels]]
name = "db-team"
type = "slack"
url = "http://127.0.0.1:1/d"
"#;

    fn names(d: Vec<Destination>) -> Vec<String> {
        d.into_iter().map(|d| d.channel).collect()
    }

    #[test]
    fn matchers_parse_and_match() {
        let n = notice(
            "disk_full",
            Severity::Warning,
            "db-1",
            &[],
            &[("mount", "/var/lib"), ("team", "db")],
        );
        let m = |t: &str| Matcher::parse(t).unwrap().matches(&n);
        assert!(m(r#"team="db""#));
        assert!(!m(r#"team!="db""#));
        assert!(m(r#"mount=~"/var.*""#));
        assert!(!m(r#"mount=~"/va""#), "anchored");
        assert!(m(r#"mount!~"/boot.*""#));
        assert!(m("rule=disk_full"));
        assert!(m(r#"host=~"db-.*""#));
        assert!(m(r#"severity="warning""#));
        assert!(m(r#"absent="""#), "a missing label is empty");
        for bad in ["team", "=db", "te am=x", r#"x=~"(""#] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_by_severity_labels_and_tags_with_a_default() {
        let r = router(&format!(
            r#"[notify]
default_channels = ["chat"]
{CHANNELS}
[[notify.routes]]
channels = ["pager"]
min_severity = "critical"
continue = true
[[notify.routes]]
channels = ["db-team"]
matchers = ['team="db"']
[[notify.routes]]
channels = ["pager", "chat"]
host_tags = ["prod"]
"#
        ));
        let crit_db = notice("x", Severity::Critical, "h", &[], &[("team", "db")]);
        assert_eq!(names(r.route(&crit_db)), ["pager", "db-team"]);
        let warn_db = notice("x", Severity::Warning, "h", &[], &[("team", "db")]);
        assert_eq!(names(r.route(&warn_db)), ["db-team"]);
        let warn_prod = notice("x", Severity::Warning, "h", &["prod", "web"], &[]);
        assert_eq!(names(r.route(&warn_prod)), ["pager", "chat"]);
        let info = notice("x", Severity::Info, "h", &["dev"], &[]);
        let d = r.route(&info);
        assert_eq!(
            d,
            vec![Destination {
                channel: "chat".into(),
                route: None
            }]
        );
    }

    #[test]
    fn with_no_routes_every_channel_gets_everything() {
        let r = router(CHANNELS);
        let n = notice("x", Severity::Info, "h", &[], &[]);
        assert_eq!(names(r.route(&n)), ["pager", "chat", "db-team"]);
    }
}
