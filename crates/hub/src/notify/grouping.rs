//! Grouping: alerts that arrive together leave together. Twenty hosts going down at once is
//! one message per channel listing twenty hosts, not twenty messages.
//!
//! The timing follows Alertmanager's, which operators know: a new group waits `group_wait`
//! for company before its first message; later changes (a new alert, a resolve) go out at
//! most every `group_interval`; alerts still firing are sent again every `repeat_interval`
//! until they resolve or are acknowledged. Pure state with the time passed in, so the tests
//! drive it with any clock.

use super::quiet::QuietHours;
use crate::notice::{AlertNotice, NoticeState, Severity};
use std::collections::{BTreeMap, HashMap};

/// How one group is timed, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub group_by: Vec<String>,
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
    pub send_resolved: bool,
}

/// One message's worth of alerts, for one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub channel: String,
    /// The values the group is keyed on, e.g. `rule=host_down, severity=critical`.
    pub group: BTreeMap<String, String>,
    /// Every alert of the group that is firing and announced (new ones and earlier ones).
    pub firing: Vec<AlertNotice>,
    /// Alerts resolved since the group's last message.
    pub resolved: Vec<AlertNotice>,
    /// A reminder of alerts still firing, not news.
    pub repeat: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct GroupKey {
    channel: String,
    route: Option<usize>,
    values: Vec<(String, String)>,
}

#[derive(Debug)]
struct Entry {
    notice: AlertNotice,
    /// What people were last told about it.
    sent: Option<NoticeState>,
    /// Cleared by an acknowledgement or silence.
    repeating: bool,
}

#[derive(Debug)]
struct Group {
    timing: Timing,
    entries: BTreeMap<String, Entry>,
    /// Has a message gone out yet?
    last_sent: Option<i64>,
    /// When unsent changes go out.
    next_flush: Option<i64>,
    /// When alerts still firing are sent again.
    next_repeat: Option<i64>,
    created: i64,
}

impl Group {
    fn schedule_flush(&mut self, now: i64) {
        if self.next_flush.is_some() {
            return;
        }
        self.next_flush = Some(match self.last_sent {
            None => self.created + self.timing.group_wait_ms,
            Some(last) => (last + self.timing.group_interval_ms).max(now),
        });
    }

    fn firing_announced(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values().filter(|e| {
            e.notice.state == NoticeState::Firing && e.sent == Some(NoticeState::Firing)
        })
    }
}

/// Every group of every channel.
#[derive(Debug, Default)]
pub struct Grouper {
    groups: BTreeMap<GroupKey, Group>,
    quiet: HashMap<String, QuietHours>,
}

/// What goes through during quiet hours.
fn loud(notice: &AlertNotice) -> bool {
    notice.severity == Severity::Critical
}

impl Grouper {
    /// `quiet` holds each channel's quiet hours, if it has any.
    pub fn new(quiet: HashMap<String, QuietHours>) -> Grouper {
        Grouper {
            groups: BTreeMap::new(),
            quiet,
        }
    }

    fn quiet_end(&self, channel: &str, now: i64) -> Option<i64> {
        self.quiet.get(channel).and_then(|q| q.ends_after(now))
    }

    /// Takes an alert's transition for each of its destinations `(channel, route, timing)`.
    pub fn add(
        &mut self,
        notice: &AlertNotice,
        destinations: &[(String, Option<usize>, Timing)],
        now: i64,
    ) {
        for (channel, route, timing) in destinations {
            let values = timing
                .group_by
                .iter()
                .map(|k| (k.clone(), group_value(notice, k)))
                .collect();
            let key = GroupKey {
                channel: channel.clone(),
                route: *route,
                values,
            };
            // The same alert in another group of this channel and route (its severity
            // changed): the new group speaks for it now.
            for (k, g) in self.groups.iter_mut() {
                if k != &key && k.channel == key.channel && k.route == key.route {
                    g.entries.remove(&notice.fingerprint);
                }
            }
            let group = self.groups.entry(key).or_insert_with(|| Group {
                timing: timing.clone(),
                entries: BTreeMap::new(),
                last_sent: None,
                next_flush: None,
                next_repeat: None,
                created: now,
            });
            let entry = group.entries.get(&notice.fingerprint);
            match (notice.state, entry) {
                // Resolved before anyone heard of it: nothing to say.
                (NoticeState::Resolved, None) => continue,
                (NoticeState::Resolved, Some(e)) if e.sent.is_none() => {
                    group.entries.remove(&notice.fingerprint);
                    continue;
                }
                _ => {}
            }
            let changed = entry.is_none_or(|e| e.sent != Some(notice.state));
            let repeating = notice.state == NoticeState::Firing
                && entry.is_none_or(|e| e.repeating || e.notice.state == NoticeState::Resolved);
            group.entries.insert(
                notice.fingerprint.clone(),
                Entry {
                    notice: notice.clone(),
                    sent: entry.and_then(|e| e.sent),
                    repeating,
                },
            );
            if changed {
                group.schedule_flush(now);
            }
        }
        self.groups.retain(|_, g| !g.entries.is_empty());
    }

    /// An alert was acknowledged or silenced: it is not sent again while it fires.
    pub fn stop_repeating(&mut self, fingerprint: &str) {
        for g in self.groups.values_mut() {
            if let Some(e) = g.entries.get_mut(fingerprint) {
                e.repeating = false;
            }
        }
    }

    /// The messages due at `now`; marks what they carry as sent.
    pub fn due(&mut self, now: i64) -> Vec<Batch> {
        let mut out = Vec::new();
        let keys: Vec<GroupKey> = self.groups.keys().cloned().collect();
        for key in keys {
            let quiet_end = self.quiet_end(&key.channel, now);
            let group = self.groups.get_mut(&key).expect("listed above");
            if group.next_flush.is_some_and(|t| t <= now) {
                group.next_flush = None;
                flush(&key, group, quiet_end, now, &mut out);
            } else if group.next_flush.is_none() && group.next_repeat.is_some_and(|t| t <= now) {
                repeat(&key, group, quiet_end, now, &mut out);
            }
        }
        self.groups.retain(|_, g| !g.entries.is_empty());
        out
    }

    /// When `due` next has something to do, unix ms.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups
            .values()
            .filter_map(|g| match g.next_flush {
                Some(t) => Some(t),
                None if g.firing_announced().any(|e| e.repeating) => g.next_repeat,
                None => None,
            })
            .min()
    }
}

fn group_value(notice: &AlertNotice, key: &str) -> String {
    match key {
        "rule" => notice.rule.clone(),
        "severity" => notice.severity.as_str().to_string(),
        "host" => notice.host.clone().unwrap_or_default(),
        label => notice.labels.get(label).cloned().unwrap_or_default(),
    }
}

fn batch(
    key: &GroupKey,
    firing: Vec<AlertNotice>,
    resolved: Vec<AlertNotice>,
    repeat: bool,
) -> Batch {
    Batch {
        channel: key.channel.clone(),
        group: key.values.iter().cloned().collect(),
        firing,
        resolved,
        repeat,
    }
}

fn flush(
    key: &GroupKey,
    group: &mut Group,
    quiet_end: Option<i64>,
    now: i64,
    out: &mut Vec<Batch>,
) {
    let quiet = quiet_end.is_some();
    let mut held_back = false;
    let mut news = false;
    let mut resolved = Vec::new();
    for entry in group.entries.values_mut() {
        if entry.sent == Some(entry.notice.state) {
            continue;
        }
        if quiet && !loud(&entry.notice) {
            held_back = true;
            continue;
        }
        match entry.notice.state {
            NoticeState::Firing => news = true,
            NoticeState::Resolved => {
                if group.timing.send_resolved {
                    news = true;
                    resolved.push(entry.notice.clone());
                }
            }
        }
        entry.sent = Some(entry.notice.state);
    }
    group.entries.retain(|_, e| {
        !(e.notice.state == NoticeState::Resolved && e.sent == Some(NoticeState::Resolved))
    });
    if news {
        let firing = group.firing_announced().map(|e| e.notice.clone()).collect();
        out.push(batch(key, firing, resolved, false));
        group.last_sent = Some(now);
        group.next_repeat = Some(now + group.timing.repeat_interval_ms);
    }
    if held_back {
        group.next_flush = quiet_end;
    }
}

fn repeat(
    key: &GroupKey,
    group: &mut Group,
    quiet_end: Option<i64>,
    now: i64,
    out: &mut Vec<Batch>,
) {
    let firing: Vec<AlertNotice> = group
        .firing_announced()
        .filter(|e| e.repeating && (quiet_end.is_none() || loud(&e.notice)))
        .map(|e| e.notice.clone())
        .collect();
    let quiet_suppressed = quiet_end.is_some()
        && group
            .firing_announced()
            .any(|e| e.repeating && !loud(&e.notice));
    let nothing = firing.is_empty();
    if !nothing {
        out.push(batch(key, firing, Vec::new(), true));
        group.last_sent = Some(now);
    }
    group.next_repeat = match (nothing, quiet_suppressed) {
        // Nothing loud to repeat in quiet hours: try again when they end.
        (true, true) => quiet_end,
        _ => Some(now + group.timing.repeat_interval_ms),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    fn timing() -> Timing {
        Timing {
            group_by: vec!["rule".into(), "severity".into()],
            group_wait_ms: 30 * S,
            group_interval_ms: 300 * S,
            repeat_interval_ms: 4 * 3600 * S,
            send_resolved: true,
        }
    }

    fn notice(rule: &str, host: &str, severity: Severity, state: NoticeState) -> AlertNotice {
        AlertNotice {
            fingerprint: format!("{rule}/{host}"),
            rule: rule.into(),
            state,
            severity,
            host: Some(host.into()),
            host_tags: vec![],
            labels: Default::default(),
            summary: format!("{rule} on {host}"),
            value: None,
            started_at: 0,
            resolved_at: None,
            url: None,
        }
    }

    fn to(channel: &str) -> Vec<(String, Option<usize>, Timing)> {
        vec![(channel.to_string(), None, timing())]
    }

    fn hosts(alerts: &[AlertNotice]) -> Vec<String> {
        alerts.iter().map(|n| n.host.clone().unwrap()).collect()
    }

    #[test]
    fn twenty_hosts_down_within_group_wait_is_one_message() {
        let mut g = Grouper::default();
        for i in 0..20 {
            g.add(
                &notice(
                    "host_down",
                    &format!("web-{i:02}"),
                    Severity::Critical,
                    NoticeState::Firing,
                ),
                &to("tg"),
                i * 100,
            );
        }
        assert_eq!(g.next_deadline(), Some(30 * S));
        assert!(g.due(29 * S).is_empty(), "still waiting for company");
        let out = g.due(30 * S);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].firing.len(), 20);
        assert_eq!(out[0].group["rule"], "host_down");
        assert_eq!(out[0].group["severity"], "critical");
        assert!(g.due(31 * S).is_empty(), "nothing new");
    }

    #[test]
    fn different_rules_are_different_groups_and_channels_are_separate() {
        let mut g = Grouper::default();
        let both = vec![
            ("a".to_string(), None, timing()),
            ("b".to_string(), None, timing()),
        ];
        g.add(
            &notice("host_down", "h1", Severity::Critical, NoticeState::Firing),
            &both,
            0,
        );
        g.add(
            &notice("disk_full", "h1", Severity::Warning, NoticeState::Firing),
            &both,
            0,
        );
        let out = g.due(30 * S);
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn later_changes_wait_for_group_interval_and_resolves_are_sent() {
        let mut g = Grouper::default();
        g.add(
            &notice("host_down", "h1", Severity::Critical, NoticeState::Firing),
            &to("tg"),
            0,
        );
        assert_eq!(g.due(30 * S).len(), 1);
        g.add(
            &notice("host_down", "h2", Severity::Critical, NoticeState::Firing),
            &to("tg"),
            40 * S,
        );
        assert!(
            g.due(100 * S).is_empty(),
            "group_interval after the last message"
        );
        let out = g.due(330 * S);
        assert_eq!(hosts(&out[0].firing), ["h1", "h2"]);
        g.add(
            &notice("host_down", "h1", Severity::Critical, NoticeState::Resolved),
            &to("tg"),
            400 * S,
        );
        let out = g.due(630 * S);
        assert_eq!(out.len(), 1);
        assert_eq!(hosts(&out[0].resolved), ["h1"]);
        assert_eq!(hosts(&out[0].firing), ["h2"]);
        assert!(!out[0].repeat);
    }

    #[test]
    fn no_resolve_when_send_resolved_is_off_or_it_was_never_announced() {
        let mut t = timing();
        t.send_resolved = false;
        let quietly = vec![("tg".to_string(), None, t)];
        let mut g = Grouper::default();
        g.add(
            &notice("r", "h1", Severity::Warning, NoticeState::Firing),
            &quietly,
            0,
        );
        assert_eq!(g.due(30 * S).len(), 1);
        g.add(
            &notice("r", "h1", Severity::Warning, NoticeState::Resolved),
            &quietly,
            40 * S,
        );
        assert!(g.due(400 * S).is_empty());
        assert_eq!(g.next_deadline(), None, "the group is gone");

        let mut g = Grouper::default();
        g.add(
            &notice("r", "h1", Severity::Warning, NoticeState::Firing),
            &to("tg"),
            0,
        );
        g.add(
            &notice("r", "h1", Severity::Warning, NoticeState::Resolved),
            &to("tg"),
            10 * S,
        );
        assert!(g.due(30 * S).is_empty(), "a blip nobody heard of");
    }

    #[test]
    fn still_firing_repeats_until_resolved_or_acknowledged() {
        let mut g = Grouper::default();
        g.add(
            &notice("r", "h1", Severity::Warning, NoticeState::Firing),
            &to("tg"),
            0,
        );
        g.add(
            &notice("r", "h2", Severity::Warning, NoticeState::Firing),
            &to("tg"),
            0,
        );
        assert_eq!(g.due(30 * S).len(), 1);
        let four_h = 4 * 3600 * S;
        assert_eq!(g.next_deadline(), Some(30 * S + four_h));
        assert!(g.due(30 * S + four_h - 1).is_empty());
        let out = g.due(30 * S + four_h);
        assert_eq!(out.len(), 1);
        assert!(out[0].repeat);
        assert_eq!(hosts(&out[0].firing), ["h1", "h2"]);
        g.stop_repeating("r/h1");
        let out = g.due(30 * S + 2 * four_h);
        assert_eq!(hosts(&out[0].firing), ["h2"], "h1 was acknowledged");
        g.stop_repeating("r/h2");
        assert_eq!(g.next_deadline(), None);
        assert!(g.due(30 * S + 3 * four_h).is_empty());
        // Its resolve is still sent.
        g.add(
            &notice("r", "h2", Severity::Warning, NoticeState::Resolved),
            &to("tg"),
            30 * S + 3 * four_h,
        );
        let out = g.due(30 * S + 3 * four_h + 300 * S);
        assert_eq!(hosts(&out[0].resolved), ["h2"]);
    }

    #[test]
    fn a_severity_change_moves_the_alert_to_its_new_group() {
        let mut g = Grouper::default();
        g.add(
            &notice("disk", "h1", Severity::Warning, NoticeState::Firing),
            &to("tg"),
            0,
        );
        assert_eq!(g.due(30 * S).len(), 1);
        g.add(
            &notice("disk", "h1", Severity::Critical, NoticeState::Firing),
            &to("tg"),
            60 * S,
        );
        let out = g.due(90 * S);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].group["severity"], "critical");
        assert!(
            g.due(30 * S + 4 * 3600 * S).is_empty(),
            "the warning group is gone"
        );
        let later = g.due(90 * S + 4 * 3600 * S);
        assert_eq!(later.len(), 1, "only the critical group repeats: {later:?}");
    }

    #[test]
    fn quiet_hours_let_only_critical_through_and_send_the_rest_at_their_end() {
        let q = QuietHours::parse("22:00-07:00", Some("UTC")).unwrap();
        let mut g = Grouper::new(HashMap::from([("tg".to_string(), q)]));
        let night: i64 = "2026-01-10T23:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        let morning: i64 = "2026-01-11T07:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        g.add(
            &notice("host_down", "h1", Severity::Critical, NoticeState::Firing),
            &to("tg"),
            night,
        );
        g.add(
            &notice("disk", "h2", Severity::Warning, NoticeState::Firing),
            &to("tg"),
            night,
        );
        g.add(
            &notice("swap", "h3", Severity::Warning, NoticeState::Firing),
            &to("tg"),
            night,
        );
        let out = g.due(night + 30 * S);
        assert_eq!(out.len(), 1, "only the critical group: {out:?}");
        assert_eq!(out[0].group["severity"], "critical");
        // The swap alert clears during the night: nobody needs to hear of it.
        g.add(
            &notice("swap", "h3", Severity::Warning, NoticeState::Resolved),
            &to("tg"),
            night + 3600 * S,
        );
        // The critical alert still repeats in the night; the warnings wait.
        assert_eq!(g.next_deadline(), Some(night + 30 * S + 4 * 3600 * S));
        let out = g.due(morning - 1);
        assert_eq!(out.len(), 1);
        assert!(out[0].repeat);
        assert_eq!(out[0].group["severity"], "critical");
        let out = g.due(morning);
        assert_eq!(out.len(), 1);
        assert_eq!(hosts(&out[0].firing), ["h2"]);
        // Elsewhere quiet hours do not apply.
        let mut other = Grouper::new(HashMap::new());
        other.add(
            &notice("disk", "h2", Severity::Warning, NoticeState::Firing),
            &to("tg"),
            night,
        );
        assert_eq!(other.due(night + 30 * S).len(), 1);
    }
}
