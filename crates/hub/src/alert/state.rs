//! One alert instance's lifecycle: inactive → pending → firing → resolved (back to inactive),
//! with severity escalation and de-escalation, hysteresis, and flap damping. Pure: time is
//! what the caller passes (the report's collection time for series, the clock for host-down),
//! so a replayed or old report cannot move an alert.

use super::rule::{Cmp, Level};
use crate::notice::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where an alert instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Not breaching (never fired, or resolved). Kept only while flap damping needs its past.
    Inactive,
    /// Breaching, waiting for the rule's `for` duration.
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// A transition people are told about (pending is internal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Fired,
    Escalated,
    DeEscalated,
    Resolved,
}

/// Flap damping settings (see `AlertsConfig::flap_window`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damping {
    pub window_ms: i64,
    pub max_changes: u32,
    pub quiet_ms: i64,
}

/// One alert instance: a rule on a host for one label set. Persisted as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub fingerprint: String,
    pub rule: String,
    pub host: String,
    /// The series' labels (`mount`, `chip`, …): part of the identity.
    pub labels: BTreeMap<String, String>,
    pub state: AlertState,
    pub severity: Severity,
    /// Pending: since when it breaches; firing: when it started; inactive: when it resolved.
    pub since: i64,
    /// When the current firing started (kept through escalations).
    pub started_at: i64,
    /// A more severe level has been breached since then (it must last `for` too).
    pub escalate_since: Option<i64>,
    /// The last value judged, and the threshold of the level it was judged against.
    pub value: f64,
    pub threshold: Option<f64>,
    pub summary: String,
    /// When the instance's series was last seen, for staleness.
    pub last_sample: i64,
    /// What people were last told: firing at this severity, or `None` (nothing firing).
    pub notified: Option<Severity>,
    /// Times of recent notified transitions, for flap detection.
    pub changes: Vec<i64>,
    /// Notifications are held until the alert has been stable for `quiet`.
    pub flapping: bool,
    /// A silence matched at the last evaluation.
    pub silenced: bool,
    /// The latest reading's extra summary placeholders (a check's status line…).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub info: BTreeMap<String, String>,
}

/// The most severe level `value` holds: breaching its threshold, or, for the level the alert
/// is already firing at (or a lower one), still breaching its clear threshold.
pub fn target(
    cmp: Cmp,
    levels: &[Level],
    firing_at: Option<Severity>,
    value: f64,
) -> Option<&Level> {
    levels.iter().find(|l| {
        cmp.breaches(value, l.threshold)
            || (firing_at.is_some_and(|s| s >= l.severity) && cmp.breaches(value, l.clear))
    })
}

impl Instance {
    pub fn new(
        fingerprint: String,
        rule: &str,
        host: &str,
        labels: BTreeMap<String, String>,
    ) -> Self {
        Instance {
            fingerprint,
            rule: rule.into(),
            host: host.into(),
            labels,
            state: AlertState::Inactive,
            severity: Severity::Warning,
            since: 0,
            started_at: 0,
            escalate_since: None,
            value: 0.0,
            threshold: None,
            summary: String::new(),
            last_sample: 0,
            notified: None,
            changes: Vec::new(),
            flapping: false,
            silenced: false,
            info: BTreeMap::new(),
        }
    }

    /// Judges a reading at `t` (`None`: the value is gone, which clears). Returns the
    /// transition people should hear about, if any.
    pub fn observe(
        &mut self,
        cmp: Cmp,
        levels: &[Level],
        for_ms: i64,
        reading: Option<f64>,
        t: i64,
    ) -> Option<Transition> {
        let firing_at = (self.state == AlertState::Firing).then_some(self.severity);
        let level = reading
            .and_then(|v| target(cmp, levels, firing_at, v))
            .copied();
        if let Some(v) = reading {
            self.value = v;
        }
        if let Some(l) = &level {
            self.threshold = Some(l.threshold);
        }
        match (self.state, level) {
            (AlertState::Inactive, None) => None,
            (AlertState::Pending, None) => {
                self.state = AlertState::Inactive;
                self.since = t;
                None
            }
            (AlertState::Inactive, Some(l)) => {
                self.state = AlertState::Pending;
                self.severity = l.severity;
                self.since = t;
                self.promote(for_ms, t)
            }
            (AlertState::Pending, Some(l)) => {
                self.severity = l.severity;
                self.promote(for_ms, t)
            }
            (AlertState::Firing, None) => {
                self.state = AlertState::Inactive;
                self.since = t;
                self.escalate_since = None;
                Some(Transition::Resolved)
            }
            (AlertState::Firing, Some(l)) if l.severity < self.severity => {
                self.severity = l.severity;
                self.escalate_since = None;
                Some(Transition::DeEscalated)
            }
            (AlertState::Firing, Some(l)) if l.severity > self.severity => {
                let since = *self.escalate_since.get_or_insert(t);
                if t - since >= for_ms {
                    self.severity = l.severity;
                    self.escalate_since = None;
                    Some(Transition::Escalated)
                } else {
                    None
                }
            }
            (AlertState::Firing, Some(_)) => {
                self.escalate_since = None;
                None
            }
        }
    }

    fn promote(&mut self, for_ms: i64, t: i64) -> Option<Transition> {
        if t - self.since < for_ms {
            return None;
        }
        self.state = AlertState::Firing;
        self.since = t;
        self.started_at = t;
        self.escalate_since = None;
        Some(Transition::Fired)
    }

    /// Counts a notified transition at `t`; too many within the window start flapping.
    pub fn record_change(&mut self, t: i64, d: Damping) {
        self.changes.push(t);
        self.changes.retain(|&c| c > t - d.window_ms);
        if self.changes.len() > d.max_changes as usize {
            self.flapping = true;
        }
    }

    /// Ends flapping once nothing changed for `quiet`; forgets changes past the window.
    pub fn settle(&mut self, t: i64, d: Damping) {
        self.changes.retain(|&c| c > t - d.window_ms);
        if self.flapping && self.changes.last().is_none_or(|&c| t - c >= d.quiet_ms) {
            self.flapping = false;
        }
    }

    /// What people should hear now, if it differs from what they heard and nothing holds it:
    /// `Some(Some(severity))` firing, `Some(None)` resolved.
    pub fn due(&self) -> Option<Option<Severity>> {
        let want = (self.state == AlertState::Firing).then_some(self.severity);
        (want != self.notified && !self.flapping && !self.silenced).then_some(want)
    }

    /// Whether the instance can be forgotten: inactive, nobody left thinking it fires, and no
    /// recent changes that flap damping still needs.
    pub fn forgettable(&self) -> bool {
        self.state == AlertState::Inactive
            && self.notified.is_none()
            && !self.flapping
            && self.changes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn fs_levels() -> Vec<Level> {
        vec![
            Level {
                severity: Severity::Critical,
                threshold: 95.0,
                clear: 93.0,
            },
            Level {
                severity: Severity::Warning,
                threshold: 85.0,
                clear: 80.0,
            },
        ]
    }

    fn inst() -> Instance {
        Instance::new("fp".into(), "fs_used", "web-1", BTreeMap::new())
    }

    /// Feeds one value a minute from `start`; returns the transitions with their minute.
    fn run(i: &mut Instance, for_ms: i64, start: i64, values: &[f64]) -> Vec<(i64, Transition)> {
        values
            .iter()
            .enumerate()
            .filter_map(|(n, &v)| {
                let t = start + n as i64 * MIN;
                i.observe(Cmp::Gt, &fs_levels(), for_ms, Some(v), t)
                    .map(|tr| (n as i64, tr))
            })
            .collect()
    }

    #[test]
    fn fires_only_after_the_for_duration_and_resolves() {
        let mut i = inst();
        // 5 minutes: pending at minute 0, firing at minute 5, not before.
        let got = run(&mut i, 5 * MIN, 0, &[90.0, 90.0, 90.0, 90.0, 90.0]);
        assert_eq!(got, vec![]);
        assert_eq!(i.state, AlertState::Pending);
        assert_eq!(
            i.observe(Cmp::Gt, &fs_levels(), 5 * MIN, Some(90.0), 5 * MIN),
            Some(Transition::Fired)
        );
        assert_eq!(
            (i.state, i.severity, i.started_at),
            (AlertState::Firing, Severity::Warning, 5 * MIN)
        );
        assert_eq!(
            i.observe(Cmp::Gt, &fs_levels(), 5 * MIN, Some(70.0), 6 * MIN),
            Some(Transition::Resolved)
        );
        assert_eq!(i.state, AlertState::Inactive);
    }

    #[test]
    fn a_dip_before_for_elapses_starts_over() {
        let mut i = inst();
        let got = run(
            &mut i,
            3 * MIN,
            0,
            &[90.0, 90.0, 50.0, 90.0, 90.0, 90.0, 90.0],
        );
        // Pending again from minute 3, firing at minute 6.
        assert_eq!(got, vec![(6, Transition::Fired)]);
    }

    #[test]
    fn hysteresis_keeps_firing_between_clear_and_threshold() {
        let mut i = inst();
        let got = run(&mut i, 0, 0, &[86.0, 84.0, 81.0, 80.5, 80.0, 86.0]);
        // 84, 81, 80.5 lie between the clear (80) and the threshold (85): still firing.
        // 80 is not above 80: resolved. 86 fires again.
        assert_eq!(
            got,
            vec![
                (0, Transition::Fired),
                (4, Transition::Resolved),
                (5, Transition::Fired)
            ]
        );
        // Not yet firing, a value between clear and threshold does not start it.
        let mut j = inst();
        assert_eq!(run(&mut j, 0, 0, &[84.0, 82.0]), vec![]);
        assert_eq!(j.state, AlertState::Inactive);
    }

    #[test]
    fn severity_escalates_after_for_and_de_escalates_at_once() {
        let mut i = inst();
        let got = run(
            &mut i,
            2 * MIN,
            0,
            &[90.0, 90.0, 90.0, 96.0, 96.0, 96.0, 94.0, 92.0, 50.0],
        );
        assert_eq!(
            got,
            vec![
                (2, Transition::Fired),
                // Critical breached from minute 3; it must hold 2 minutes.
                (5, Transition::Escalated),
                // 94 holds critical (clear 93); 92 drops to warning.
                (7, Transition::DeEscalated),
                (8, Transition::Resolved),
            ]
        );
        // A straight jump to critical fires as critical.
        let mut j = inst();
        assert_eq!(run(&mut j, 0, 0, &[99.0]), vec![(0, Transition::Fired)]);
        assert_eq!(j.severity, Severity::Critical);
    }

    #[test]
    fn a_vanished_value_clears() {
        let mut i = inst();
        run(&mut i, 0, 0, &[90.0]);
        assert_eq!(
            i.observe(Cmp::Gt, &fs_levels(), 0, None, MIN),
            Some(Transition::Resolved)
        );
    }

    #[test]
    fn flapping_holds_notifications_until_quiet() {
        let d = Damping {
            window_ms: 30 * MIN,
            max_changes: 4,
            quiet_ms: 10 * MIN,
        };
        let mut i = inst();
        let mut sent = Vec::new();
        // Fire and resolve every minute, for 8 minutes.
        for n in 0..8 {
            let t = n * MIN;
            let v = if n % 2 == 0 { 90.0 } else { 70.0 };
            i.settle(t, d);
            if i.observe(Cmp::Gt, &fs_levels(), 0, Some(v), t).is_some() {
                i.record_change(t, d);
            }
            if let Some(want) = i.due() {
                sent.push((n, want));
                i.notified = want;
            }
        }
        // Four changes are told; the fifth makes it flap and nothing more is sent.
        assert_eq!(
            sent,
            vec![
                (0, Some(Severity::Warning)),
                (1, None),
                (2, Some(Severity::Warning)),
                (3, None)
            ]
        );
        assert!(i.flapping);
        assert_eq!(i.state, AlertState::Inactive, "it still changes state");
        // It settles firing; after 10 quiet minutes people hear it once.
        i.observe(Cmp::Gt, &fs_levels(), 0, Some(90.0), 8 * MIN);
        i.record_change(8 * MIN, d);
        i.settle(17 * MIN, d);
        assert!(i.flapping && i.due().is_none());
        i.settle(18 * MIN, d);
        assert!(!i.flapping);
        assert_eq!(i.due(), Some(Some(Severity::Warning)));
    }
}
