//! The rule model and its configuration: `[alerts]` in the hub's TOML, built-in rules tuned
//! under `[alerts.builtin.NAME]`, per-host/tag `[[alerts.overrides]]`, and the user's own
//! `[[alerts.rules]]`. Config is checked once into [`RuleSet`]; every error names the rule
//! and the key.

use super::builtin;
use super::matcher::{Glob, Selector};
use crate::notice::Severity;
use crate::store::Host;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// A duration in the config: `"15s"`, `"5m"`, `"1h30m"`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Secs(pub u64);

impl Secs {
    pub fn ms(self) -> i64 {
        (self.0 as i64).saturating_mul(1000)
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) if n >= 0 => Ok(Secs(n as u64)),
            Raw::Number(n) => Err(serde::de::Error::custom(format!(
                "a duration cannot be negative, got {n}"
            ))),
            Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `"90s"`, `"5m"`, `"1h30m"`, `"7d"`, `"2 hours"` into whole seconds.
pub fn parse_duration(t: &str) -> Result<Secs, String> {
    let d: jiff::SignedDuration = t
        .trim()
        .parse()
        .or_else(|_| {
            // jiff's friendly format has no days for durations; allow `7d` all the same.
            t.trim()
                .strip_suffix('d')
                .and_then(|n| n.trim().parse::<i64>().ok())
                .map(|n| jiff::SignedDuration::from_hours(n * 24))
                .ok_or(())
        })
        .map_err(|()| {
            format!("`{t}` is not a duration (like \"90s\", \"5m\", \"1h30m\", \"7d\")")
        })?;
    if d.is_negative() {
        return Err(format!("a duration cannot be negative, got `{t}`"));
    }
    Ok(Secs(d.as_secs() as u64))
}

/// A threshold in the config: a number, or `"off"` to drop that level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Value(f64),
    Off,
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) if n.is_finite() => Ok(Threshold::Value(n)),
            Raw::Text(t) if t == "off" => Ok(Threshold::Off),
            _ => Err(serde::de::Error::custom(
                "a threshold is a finite number or \"off\"",
            )),
        }
    }
}

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// How often every host's latest state is evaluated.
    pub evaluate_every: Secs,
    /// Flap damping: more than `flap_max_changes` notified transitions (firing, severity
    /// change, resolved) of one alert within `flap_window` hold its notifications until it
    /// has not changed for `flap_quiet`; then people hear its state once.
    pub flap_window: Secs,
    pub flap_max_changes: u32,
    pub flap_quiet: Secs,
    /// A series that a host stops reporting (a mount unmounted, a sensor gone) resolves its
    /// alerts after this long without it.
    pub stale_after: Secs,
    /// How often the filesystem projection is refitted per host (it is a 7-day regression).
    pub projection_every: Secs,
    /// Global tuning of built-in rules, by name: `[alerts.builtin.fs_used] warning = 90`.
    pub builtin: BTreeMap<String, Tuning>,
    /// Per-host or per-tag tuning of any rule, applied in order (later wins).
    pub overrides: Vec<Override>,
    /// The user's own rules.
    pub rules: Vec<UserRule>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            evaluate_every: Secs(15),
            flap_window: Secs(30 * 60),
            flap_max_changes: 4,
            flap_quiet: Secs(15 * 60),
            stale_after: Secs(10 * 60),
            projection_every: Secs(15 * 60),
            builtin: BTreeMap::new(),
            overrides: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// What may be tuned on a rule. Absent keys keep the rule's value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tuning {
    pub warning: Option<Threshold>,
    pub critical: Option<Threshold>,
    pub warning_clear: Option<f64>,
    pub critical_clear: Option<f64>,
    #[serde(rename = "for")]
    pub for_: Option<Secs>,
    pub disabled: Option<bool>,
}

/// `[[alerts.overrides]]`: tuning for the hosts (name globs) and/or tags it names, and
/// optionally only for alert instances whose labels equal `labels` (e.g. `mount = "/boot"`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Override {
    pub rule: String,
    pub hosts: Vec<String>,
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub warning: Option<Threshold>,
    pub critical: Option<Threshold>,
    pub warning_clear: Option<f64>,
    pub critical_clear: Option<f64>,
    #[serde(rename = "for")]
    pub for_: Option<Secs>,
    pub disabled: Option<bool>,
}

impl Override {
    fn tuning(&self) -> Tuning {
        Tuning {
            warning: self.warning,
            critical: self.critical,
            warning_clear: self.warning_clear,
            critical_clear: self.critical_clear,
            for_: self.for_,
            disabled: self.disabled,
        }
    }
}

/// `[[alerts.rules]]`: a threshold rule on one series selector.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserRule {
    pub name: String,
    /// `fs.used_pct{mount=~"/data.*"}`: the names of `docs/series.md`.
    pub series: String,
    /// `>`, `>=`, `<` or `<=`.
    pub op: String,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// Hysteresis: a firing level clears only once the value is back past this (default:
    /// the level's threshold).
    pub warning_clear: Option<f64>,
    pub critical_clear: Option<f64>,
    /// A single-level rule: `threshold` with `severity` (default warning) and `clear`.
    pub threshold: Option<f64>,
    pub severity: Option<Severity>,
    pub clear: Option<f64>,
    #[serde(rename = "for")]
    pub for_: Option<Secs>,
    /// Labels to route by, added to the notice's labels.
    pub labels: BTreeMap<String, String>,
    /// Host-name globs; empty: every host.
    pub hosts: Vec<String>,
    /// Host tags (any of); empty: every host.
    pub tags: Vec<String>,
    /// One line for people; `{host}`, `{value}`, `{threshold}`, `{severity}`, `{rule}` and
    /// the series' labels (`{mount}`) are filled in.
    pub summary: Option<String>,
    pub disabled: bool,
}

/// The comparison that breaches a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    pub fn parse(s: &str) -> Option<Cmp> {
        Some(match s.trim() {
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
        }
    }

    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Cmp::Gt => value > threshold,
            Cmp::Ge => value >= threshold,
            Cmp::Lt => value < threshold,
            Cmp::Le => value <= threshold,
        }
    }

    /// Whether `a` is at least as severe as `b` in this rule's direction.
    fn at_least_as_severe(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Gt | Cmp::Ge => a >= b,
            Cmp::Lt | Cmp::Le => a <= b,
        }
    }

    /// Words for summaries: "above", "below".
    pub fn word(self) -> &'static str {
        match self {
            Cmp::Gt | Cmp::Ge => "above",
            Cmp::Lt | Cmp::Le => "below",
        }
    }
}

/// One severity level of a rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub severity: Severity,
    /// Breaching this starts the level.
    pub threshold: f64,
    /// A firing level holds while the value still breaches this (hysteresis).
    pub clear: f64,
}

/// What a rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Every series the selector matches: one alert instance per label set.
    Series(Selector),
    /// The heartbeat's `down`; the value is the seconds since the last report.
    HostDown,
    /// `mem.available_bytes / mem.total_bytes × 100`.
    MemAvailablePct,
    /// `swap.cached_bytes` while `swap.used_bytes > 0` (see `builtin::swap_cached`).
    SwapCached,
    /// `load.load1 / cpu.logical_cores`.
    LoadPerCore,
    /// `temp.sensor_celsius` per sensor, against the sensor's own `max`/`crit` when it gives
    /// them, else the rule's thresholds.
    Temperature,
    /// Reports the agent dropped from its spool within the last `window`.
    SpoolDropping { window_ms: i64 },
    /// Days until a filesystem is projected full (through [`super::Projection`]), only when
    /// the fit's r² is at least `min_fit`.
    FsProjection { min_fit: f64 },
    /// A judgement over the latest report's typed sections (`integrations.rs`).
    Report(super::integrations::ReportCheck),
    /// Restarts of a container within `window`, from its `restart_count`.
    ContainerRestarts { window_ms: i64 },
    /// 1 when a job's latest run failed.
    JobFailed,
    /// Seconds a scheduled job is overdue (negative before it is due).
    JobMissed,
}

impl Kind {
    /// Whether an instance whose value stops coming resolves at once; otherwise after
    /// `stale_after` (a section failing for a while must not resolve what it held).
    pub fn clears_at_once(&self) -> bool {
        matches!(
            self,
            Kind::HostDown
                | Kind::MemAvailablePct
                | Kind::SwapCached
                | Kind::LoadPerCore
                | Kind::SpoolDropping { .. }
                | Kind::FsProjection { .. }
                | Kind::JobFailed
                | Kind::JobMissed
        )
    }
}

/// How a value reads in summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Plain,
    Pct,
    Bytes,
    Celsius,
    Seconds,
    Days,
    /// Seconds shown as `2h 5m`.
    Duration,
}

impl Unit {
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Plain => {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.2}")
                }
            }
            Unit::Pct => format!("{v:.1} %"),
            Unit::Celsius => format!("{v:.1} °C"),
            Unit::Seconds => format!("{v:.0} s"),
            Unit::Days => format!("{v:.1} days"),
            Unit::Duration => {
                let s = v.max(0.0).round() as u64;
                match (s / 86_400, s % 86_400 / 3600, s % 3600 / 60) {
                    (0, 0, 0) => format!("{s} s"),
                    (0, 0, m) => format!("{m} min"),
                    (0, h, m) => format!("{h}h {m}m"),
                    (d, h, _) => format!("{d}d {h}h"),
                }
            }
            Unit::Bytes => {
                let mib = v / (1024.0 * 1024.0);
                if mib >= 1024.0 {
                    format!("{:.1} GiB", mib / 1024.0)
                } else {
                    format!("{mib:.0} MiB")
                }
            }
        }
    }
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub kind: Kind,
    pub cmp: Cmp,
    /// Most severe first.
    pub levels: Vec<Level>,
    pub for_ms: i64,
    pub labels: BTreeMap<String, String>,
    pub scope: Scope,
    /// See [`UserRule::summary`].
    pub summary: String,
    pub unit: Unit,
    pub disabled: bool,
    pub builtin: bool,
}

/// Which hosts a rule or override applies to.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub hosts: Vec<Glob>,
    pub tags: Vec<String>,
}

impl Scope {
    fn new(hosts: &[String], tags: &[String]) -> Result<Scope, String> {
        let hosts = hosts
            .iter()
            .map(|h| Glob::new(h))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("`hosts`: {e}"))?;
        Ok(Scope {
            hosts,
            tags: tags.to_vec(),
        })
    }

    /// Both parts that are given must hold: a name glob matches and the host has a tag.
    pub fn contains(&self, host: &Host) -> bool {
        (self.hosts.is_empty() || self.hosts.iter().any(|g| g.matches(&host.name)))
            && (self.tags.is_empty() || self.tags.iter().any(|t| host.tags.contains(t)))
    }
}

/// A checked override.
#[derive(Debug, Clone)]
pub struct CheckedOverride {
    pub rule: String,
    pub scope: Scope,
    pub labels: BTreeMap<String, String>,
    pub tuning: Tuning,
}

/// The effective settings of one rule for one host and instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub levels: Vec<Level>,
    pub for_ms: i64,
    pub disabled: bool,
}

/// Every rule, checked: the built-ins (globally tuned) and the user's, plus the overrides.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub overrides: Vec<CheckedOverride>,
}

impl RuleSet {
    /// Checks the `[alerts]` config; the first problem, naming the rule and key.
    pub fn compile(config: &AlertsConfig) -> Result<RuleSet, String> {
        let mut rules = builtin::rules();
        for (name, tuning) in &config.builtin {
            let rule = rules.iter_mut().find(|r| &r.name == name).ok_or_else(|| {
                format!(
                    "key `alerts.builtin.{name}`: no built-in rule `{name}` (there are: {})",
                    builtin::NAMES.join(", ")
                )
            })?;
            let eff = apply(
                rule.cmp,
                Effective {
                    levels: rule.levels.clone(),
                    for_ms: rule.for_ms,
                    disabled: rule.disabled,
                },
                tuning,
            )
            .map_err(|e| format!("key `alerts.builtin.{name}.{e}"))?;
            rule.levels = eff.levels;
            rule.for_ms = eff.for_ms;
            rule.disabled = eff.disabled;
        }
        for (i, user) in config.rules.iter().enumerate() {
            let rule = compile_user(user)
                .map_err(|e| format!("key `alerts.rules[{i}]` (rule `{}`): {e}", user.name))?;
            if rules.iter().any(|r| r.name == rule.name) {
                return Err(format!(
                    "key `alerts.rules[{i}]` (rule `{}`): `name`: another rule already has this name",
                    user.name
                ));
            }
            rules.push(rule);
        }
        let mut overrides = Vec::new();
        for (i, o) in config.overrides.iter().enumerate() {
            let at = format!("key `alerts.overrides[{i}]` (rule `{}`)", o.rule);
            let Some(rule) = rules.iter().find(|r| r.name == o.rule) else {
                return Err(format!("{at}: `rule`: no rule named `{}`", o.rule));
            };
            let scope = Scope::new(&o.hosts, &o.tags).map_err(|e| format!("{at}: {e}"))?;
            // Check the tuning against the rule's own levels, as applied alone.
            apply(
                rule.cmp,
                Effective {
                    levels: rule.levels.clone(),
                    for_ms: rule.for_ms,
                    disabled: rule.disabled,
                },
                &o.tuning(),
            )
            .map_err(|e| format!("{at}: `{e}"))?;
            overrides.push(CheckedOverride {
                rule: o.rule.clone(),
                scope,
                labels: o.labels.clone(),
                tuning: o.tuning(),
            });
        }
        let s = config;
        if s.evaluate_every.0 == 0 {
            return Err("key `alerts.evaluate_every`: must be at least 1 s".into());
        }
        if s.flap_max_changes == 0 {
            return Err("key `alerts.flap_max_changes`: must be positive".into());
        }
        Ok(RuleSet { rules, overrides })
    }

    /// The settings of `rule` for `host` and an instance with `labels`, overrides applied.
    pub fn effective(
        &self,
        rule: &Rule,
        host: &Host,
        labels: &BTreeMap<String, String>,
    ) -> Effective {
        let mut eff = Effective {
            levels: rule.levels.clone(),
            for_ms: rule.for_ms,
            disabled: rule.disabled,
        };
        for o in self.overrides.iter().filter(|o| {
            o.rule == rule.name
                && o.scope.contains(host)
                && o.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        }) {
            // Checked in `compile`; a failure here cannot happen, but never panics.
            if let Ok(e) = apply(rule.cmp, eff.clone(), &o.tuning) {
                eff = e;
            }
        }
        eff
    }
}

/// Applies `tuning` to `eff`; an error starts with the key (`warning_clear`: …).
fn apply(cmp: Cmp, mut eff: Effective, tuning: &Tuning) -> Result<Effective, String> {
    for (sev, threshold, clear, key) in [
        (
            Severity::Warning,
            tuning.warning,
            tuning.warning_clear,
            "warning",
        ),
        (
            Severity::Critical,
            tuning.critical,
            tuning.critical_clear,
            "critical",
        ),
    ] {
        let pos = eff.levels.iter().position(|l| l.severity == sev);
        match (threshold, pos) {
            (Some(Threshold::Off), Some(p)) => {
                eff.levels.remove(p);
            }
            (Some(Threshold::Off), None) => {}
            (Some(Threshold::Value(t)), Some(p)) => {
                eff.levels[p].threshold = t;
                eff.levels[p].clear = t;
            }
            (Some(Threshold::Value(t)), None) => eff.levels.push(Level {
                severity: sev,
                threshold: t,
                clear: t,
            }),
            (None, _) => {}
        }
        if let Some(c) = clear {
            let Some(level) = eff.levels.iter_mut().find(|l| l.severity == sev) else {
                return Err(format!("{key}_clear`: there is no {key} level to clear"));
            };
            level.clear = c;
        }
    }
    if let Some(f) = tuning.for_ {
        eff.for_ms = f.ms();
    }
    if let Some(d) = tuning.disabled {
        eff.disabled = d;
    }
    check_levels(cmp, &mut eff.levels)?;
    Ok(eff)
}

/// Sorts levels most severe first and checks their order and hysteresis.
fn check_levels(cmp: Cmp, levels: &mut [Level]) -> Result<(), String> {
    levels.sort_by_key(|l| std::cmp::Reverse(l.severity));
    for l in levels.iter() {
        let key = l.severity.as_str();
        if !l.threshold.is_finite() || !l.clear.is_finite() {
            return Err(format!("{key}`: must be a finite number"));
        }
        // The clear threshold lies on the calm side of the threshold (or equals it).
        if !cmp.at_least_as_severe(l.threshold, l.clear) {
            return Err(format!(
                "{key}_clear`: {} must not lie {} {key} {} (it would clear before it fires)",
                l.clear,
                cmp.word(),
                l.threshold
            ));
        }
    }
    for pair in levels.windows(2) {
        let (higher, lower) = (pair[0], pair[1]);
        if !cmp.at_least_as_severe(higher.threshold, lower.threshold) {
            return Err(format!(
                "{}`: {} is less severe than {} {} (with `{}` it must be {} or equal)",
                higher.severity.as_str(),
                higher.threshold,
                lower.severity.as_str(),
                lower.threshold,
                cmp.as_str(),
                match cmp {
                    Cmp::Gt | Cmp::Ge => "higher",
                    Cmp::Lt | Cmp::Le => "lower",
                }
            ));
        }
    }
    Ok(())
}

fn compile_user(u: &UserRule) -> Result<Rule, String> {
    if u.name.is_empty()
        || !u
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(
            "`name`: needs letters, digits, `_`, `-` or `.` (it names the alert in notices)".into(),
        );
    }
    if u.series.is_empty() {
        return Err("`series`: missing (like `fs.used_pct{mount=\"/var\"}`)".into());
    }
    let selector = Selector::parse(&u.series).map_err(|e| format!("`series`: {e}"))?;
    let cmp = Cmp::parse(&u.op).ok_or_else(|| {
        format!(
            "`op`: must be one of >, >=, <, <= (got `{}`)",
            u.op.escape_debug()
        )
    })?;
    let mut levels = Vec::new();
    match (u.threshold, u.warning, u.critical) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(
                "`threshold`: give either `threshold` (with `severity`) or `warning`/`critical`, not both"
                    .into(),
            );
        }
        (Some(t), None, None) => levels.push(Level {
            severity: u.severity.unwrap_or(Severity::Warning),
            threshold: t,
            clear: u.clear.unwrap_or(t),
        }),
        (None, None, None) => {
            return Err("`warning`: a rule needs `warning`, `critical` or `threshold`".into());
        }
        (None, w, c) => {
            if u.severity.is_some() || u.clear.is_some() {
                return Err(
                    "`severity`: `severity` and `clear` go with `threshold`; with `warning`/`critical` use `warning_clear`/`critical_clear`"
                        .into(),
                );
            }
            if let Some(w) = w {
                levels.push(Level {
                    severity: Severity::Warning,
                    threshold: w,
                    clear: u.warning_clear.unwrap_or(w),
                });
            } else if u.warning_clear.is_some() {
                return Err("`warning_clear`: there is no `warning` level".into());
            }
            if let Some(c) = c {
                levels.push(Level {
                    severity: Severity::Critical,
                    threshold: c,
                    clear: u.critical_clear.unwrap_or(c),
                });
            } else if u.critical_clear.is_some() {
                return Err("`critical_clear`: there is no `critical` level".into());
            }
        }
    }
    check_levels(cmp, &mut levels).map_err(|e| format!("`{e}"))?;
    for k in u.labels.keys() {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`labels`: `{k}` is not a label name"));
        }
    }
    let scope = Scope::new(&u.hosts, &u.tags)?;
    let summary = u.summary.clone().unwrap_or_else(|| {
        format!(
            "{} on {{host}} is {{value}} ({{severity}} {} {{threshold}})",
            u.series,
            cmp.word()
        )
    });
    Ok(Rule {
        name: u.name.clone(),
        kind: Kind::Series(selector),
        cmp,
        levels,
        for_ms: u.for_.unwrap_or_default().ms(),
        labels: u.labels.clone(),
        scope,
        summary,
        unit: Unit::Plain,
        disabled: u.disabled,
        builtin: false,
    })
}

/// Fills `{host}`, `{value}`, `{threshold}`, `{severity}`, `{rule}` and labels into a summary.
pub fn render(
    template: &str,
    rule: &Rule,
    host: &str,
    labels: &BTreeMap<String, String>,
    value: f64,
    level: Option<&Level>,
) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = &after[..end];
        let filled = match key {
            "host" => Some(host.to_string()),
            "value" => Some(rule.unit.format(value)),
            "threshold" => level.map(|l| rule.unit.format(l.threshold)),
            "severity" => level.map(|l| l.severity.as_str().to_string()),
            "rule" => Some(rule.name.clone()),
            k => labels.get(k).cloned(),
        };
        match filled {
            Some(f) => out.push_str(&f),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AlertsConfig {
        toml::from_str::<toml::Table>(text)
            .unwrap()
            .get("alerts")
            .cloned()
            .unwrap()
            .try_into()
            .unwrap()
    }

    fn err(text: &str) -> String {
        RuleSet::compile(&parse(text)).unwrap_err()
    }

    #[test]
    fn a_user_rule_parses_with_every_key() {
        let c = parse(
            r#"
            [alerts]
            evaluate_every = "30s"
            [[alerts.rules]]
            name = "data_full"
            series = 'fs.used_pct{mount=~"/data.*"}'
            op = ">="
            warning = 80
            critical = 90
            warning_clear = 75
            for = "10m"
            labels = { team = "storage" }
            hosts = ["db-*"]
            tags = ["prod"]
            "#,
        );
        assert_eq!(c.evaluate_every, Secs(30));
        let set = RuleSet::compile(&c).unwrap();
        let r = set.rules.iter().find(|r| r.name == "data_full").unwrap();
        assert_eq!(r.cmp, Cmp::Ge);
        assert_eq!(r.for_ms, 600_000);
        assert_eq!(
            r.levels,
            vec![
                Level {
                    severity: Severity::Critical,
                    threshold: 90.0,
                    clear: 90.0
                },
                Level {
                    severity: Severity::Warning,
                    threshold: 80.0,
                    clear: 75.0
                },
            ]
        );
        assert_eq!(r.labels["team"], "storage");
        assert!(!r.builtin);
    }

    #[test]
    fn validation_errors_name_the_rule_and_key() {
        let base = "[alerts]\n[[alerts.rules]]\nname = \"nic\"\nseries = \"net.errors_ps\"\n";
        for (extra, says) in [
            ("op = \"=>\"\nwarning = 1", "rule `nic`): `op`"),
            ("op = \">\"", "rule `nic`): `warning`: a rule needs"),
            (
                "op = \">\"\nwarning = 10\ncritical = 5",
                "rule `nic`): `critical`: 5 is less severe than warning 10",
            ),
            (
                "op = \">\"\nwarning = 10\nwarning_clear = 12",
                "rule `nic`): `warning_clear`",
            ),
            (
                "op = \"<\"\nwarning = 10\nwarning_clear = 8",
                "rule `nic`): `warning_clear`",
            ),
            (
                "op = \">\"\nthreshold = 1\nwarning = 2",
                "rule `nic`): `threshold`",
            ),
            ("op = \">\"\nwarning = 1\nhosts = [\"\"]", "`hosts`"),
            (
                "op = \">\"\nwarning = 1\ncritical_clear = 1",
                "`critical_clear`: there is no",
            ),
        ] {
            let e = err(&format!("{base}{extra}\n"));
            assert!(e.contains("alerts.rules[0]"), "{e}");
            assert!(e.contains(says), "{extra}: {e}");
        }
        let e = err(
            "[alerts]\n[[alerts.rules]]\nname = \"x\"\nseries = \"a b\"\nop = \">\"\nwarning = 1\n",
        );
        assert!(e.contains("rule `x`): `series`"), "{e}");
        let e = err(
            "[alerts]\n[[alerts.rules]]\nname = \"fs_used\"\nseries = \"a\"\nop = \">\"\nwarning = 1\n",
        );
        assert!(e.contains("already has this name"), "{e}");
        let e = err("[alerts.builtin.cpu_stael]\nwarning = 3\n");
        assert!(
            e.contains("alerts.builtin.cpu_stael") && e.contains("cpu_steal"),
            "{e}"
        );
        let e = err("[alerts.builtin.cpu_steal]\nwarning = 30\n");
        assert!(e.contains("alerts.builtin.cpu_steal.critical`"), "{e}");
        let e = err("[[alerts.overrides]]\nrule = \"nope\"\nwarning = 3\n");
        assert!(
            e.contains("alerts.overrides[0]") && e.contains("no rule named"),
            "{e}"
        );
        // Type errors come from serde with their path.
        let e = toml::from_str::<toml::Table>("[alerts.builtin.fs_used]\nfor = \"soon\"\n")
            .unwrap()["alerts"]
            .clone()
            .try_into::<AlertsConfig>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a duration"), "{e}");
    }

    #[test]
    fn builtins_are_tuned_globally_and_per_host_or_tag() {
        let set = RuleSet::compile(&parse(
            r#"
            [alerts.builtin.fs_used]
            warning = 90
            critical = "off"
            for = "0s"
            [alerts.builtin.host_down]
            disabled = true
            [[alerts.overrides]]
            rule = "fs_used"
            tags = ["backup"]
            warning = 97
            [[alerts.overrides]]
            rule = "fs_used"
            hosts = ["web-*"]
            labels = { mount = "/boot" }
            disabled = true
            "#,
        ))
        .unwrap();
        let fs = set.rules.iter().find(|r| r.name == "fs_used").unwrap();
        assert_eq!(fs.levels.len(), 1);
        assert_eq!(fs.levels[0].threshold, 90.0);
        assert_eq!(fs.for_ms, 0);
        assert!(
            set.rules
                .iter()
                .find(|r| r.name == "host_down")
                .unwrap()
                .disabled
        );
        let host = |name: &str, tags: &[&str]| Host {
            id: 1,
            name: name.into(),
            created_at: 0,
            interval_seconds: None,
            status: crate::store::HostStatus::Up,
            status_since: 0,
            last_seen: None,
            expected_interval: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        let root: BTreeMap<String, String> = [("mount".into(), "/".into())].into();
        let boot: BTreeMap<String, String> = [("mount".into(), "/boot".into())].into();
        let backup = set.effective(fs, &host("nas", &["backup"]), &root);
        assert_eq!(backup.levels[0].threshold, 97.0);
        let plain = set.effective(fs, &host("nas", &[]), &root);
        assert_eq!(plain.levels[0].threshold, 90.0);
        assert!(set.effective(fs, &host("web-1", &[]), &boot).disabled);
        assert!(!set.effective(fs, &host("web-1", &[]), &root).disabled);
        assert!(!set.effective(fs, &host("db-1", &[]), &boot).disabled);
    }

    #[test]
    fn durations_and_summaries() {
        assert_eq!(parse_duration("90s"), Ok(Secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Secs(5400)));
        assert_eq!(parse_duration("7d"), Ok(Secs(604_800)));
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("soon").is_err());
        let set = RuleSet::compile(&AlertsConfig::default()).unwrap();
        let fs = set.rules.iter().find(|r| r.name == "fs_used").unwrap();
        let labels: BTreeMap<String, String> = [("mount".into(), "/var".into())].into();
        assert_eq!(
            render(
                &fs.summary,
                fs,
                "web-1",
                &labels,
                91.23,
                Some(&fs.levels[1])
            ),
            "/var on web-1 is 91.2 % full (warning above 85.0 %)"
        );
        assert_eq!(
            render("{nope} {host}", fs, "h", &labels, 1.0, None),
            "{nope} h"
        );
    }
}
