//! One message, rendered once from a batch of alerts, a digest or a test, in the forms the
//! channels need: a title, plain text, HTML for the digest's email, and the alerts themselves
//! for the webhook's JSON.

use super::grouping::Batch;
use crate::notice::{AlertNotice, DigestMessage, Severity};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Alerts,
    Digest,
    Test,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Alerts => "alerts",
            MessageKind::Digest => "digest",
            MessageKind::Test => "test",
        }
    }
}

/// What a channel sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub kind: MessageKind,
    pub title: String,
    /// The body for chat channels and the email's text part.
    pub text: String,
    /// The email's HTML part (the digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The most severe firing alert's severity; `None` when nothing fires (all resolved,
    /// a digest, a test).
    pub severity: Option<Severity>,
    /// A reminder of alerts still firing.
    pub repeat: bool,
    /// What the group is keyed on (`rule`, `severity`, …).
    pub group: BTreeMap<String, String>,
    /// Firing alerts, then resolved ones.
    pub alerts: Vec<AlertNotice>,
    /// Where to look: the dashboard link of the first alert that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Message {
    pub fn from_batch(batch: &Batch) -> Message {
        let (firing, resolved) = (&batch.firing, &batch.resolved);
        let what = if batch.group.is_empty() {
            "alerts".to_string()
        } else {
            batch
                .group
                .values()
                .filter(|v| !v.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut tags = Vec::new();
        if !firing.is_empty() {
            let label = if batch.repeat {
                "STILL FIRING"
            } else {
                "FIRING"
            };
            tags.push(format!("{label}:{}", firing.len()));
        }
        if !resolved.is_empty() {
            tags.push(format!("RESOLVED:{}", resolved.len()));
        }
        let title = format!("[{}] {what}", tags.join(", "));
        let mut text = String::new();
        if !firing.is_empty() {
            let _ = writeln!(text, "Firing ({}):", firing.len());
            for n in firing {
                let _ = writeln!(text, "- {}", line(n));
            }
        }
        if !resolved.is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            let _ = writeln!(text, "Resolved ({}):", resolved.len());
            for n in resolved {
                let _ = writeln!(text, "- {}", line(n));
            }
        }
        let alerts: Vec<AlertNotice> = firing.iter().chain(resolved).cloned().collect();
        Message {
            kind: MessageKind::Alerts,
            title,
            text: text.trim_end().to_string(),
            html: None,
            severity: firing.iter().map(|n| n.severity).max(),
            repeat: batch.repeat,
            group: batch.group.clone(),
            url: alerts.iter().find_map(|n| n.url.clone()),
            alerts,
        }
    }

    pub fn digest(d: &DigestMessage) -> Message {
        Message {
            kind: MessageKind::Digest,
            title: d.subject.clone(),
            text: d.text.clone(),
            html: Some(d.html.clone()),
            severity: None,
            repeat: false,
            group: BTreeMap::new(),
            alerts: Vec::new(),
            url: None,
        }
    }

    pub fn test(channel: &str) -> Message {
        Message {
            kind: MessageKind::Test,
            title: "hostwatch test message".into(),
            text: format!(
                "This is a test of the notification channel `{channel}`. If you read this, it works."
            ),
            html: None,
            severity: None,
            repeat: false,
            group: BTreeMap::new(),
            alerts: Vec::new(),
            url: None,
        }
    }

    /// Title and text in one, for channels with a single text field.
    pub fn title_and_text(&self) -> String {
        format!("{}\n\n{}", self.title, self.text)
    }

    /// All resolved: good news.
    pub fn is_resolved_only(&self) -> bool {
        self.kind == MessageKind::Alerts && self.severity.is_none()
    }
}

/// One alert as a line: its summary, led by its host unless the summary names it already.
fn line(n: &AlertNotice) -> String {
    match &n.host {
        Some(h) if !n.summary.contains(h.as_str()) => format!("{h}: {}", n.summary),
        _ => n.summary.clone(),
    }
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(2)).collect();
    out.push_str("\n…");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::NoticeState;

    fn n(host: &str, summary: &str, sev: Severity, state: NoticeState) -> AlertNotice {
        AlertNotice {
            fingerprint: host.into(),
            rule: "host_down".into(),
            state,
            severity: sev,
            host: Some(host.into()),
            host_tags: vec![],
            labels: Default::default(),
            summary: summary.into(),
            value: None,
            started_at: 0,
            resolved_at: None,
            url: None,
        }
    }

    #[test]
    fn a_batch_renders_title_and_lines_naming_every_host() {
        let batch = Batch {
            channel: "c".into(),
            group: BTreeMap::from([
                ("rule".into(), "host_down".into()),
                ("severity".into(), "critical".into()),
            ]),
            firing: vec![
                n(
                    "web-1",
                    "web-1 stopped reporting",
                    Severity::Critical,
                    NoticeState::Firing,
                ),
                n(
                    "web-2",
                    "no report for 5 min",
                    Severity::Critical,
                    NoticeState::Firing,
                ),
            ],
            resolved: vec![n(
                "web-3",
                "web-3 is back",
                Severity::Critical,
                NoticeState::Resolved,
            )],
            repeat: false,
        };
        let m = Message::from_batch(&batch);
        assert_eq!(m.title, "[FIRING:2, RESOLVED:1] host_down critical");
        assert_eq!(
            m.text,
            "Firing (2):\n- web-1 stopped reporting\n- web-2: no report for 5 min\n\nResolved (1):\n- web-3 is back"
        );
        assert_eq!(m.severity, Some(Severity::Critical));
        assert_eq!(m.alerts.len(), 3);
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        let t = truncate(&"x".repeat(5000), 4096);
        assert_eq!(t.chars().count(), 4096);
        assert!(t.ends_with('…'));
    }
}
