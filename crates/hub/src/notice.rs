//! What the alert engine and the digest hand to the notifiers: the one contract between
//! `alert/`, `digest` and `notify/`, so each can be built and tested without the others.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How urgent an alert is. Ordered: `Critical > Warning > Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// The transitions people are told about (pending is internal to the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    Firing,
    Resolved,
}

/// One alert's transition that people should hear about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertNotice {
    /// The alert instance's stable identity (rule + host + series labels): the same for its
    /// firing and its resolve, so a channel can thread or replace messages.
    pub fingerprint: String,
    /// The rule's name, e.g. `cpu_steal` or a user rule's name.
    pub rule: String,
    pub state: NoticeState,
    pub severity: Severity,
    /// The host it concerns; `None` for fleet-wide alerts.
    pub host: Option<String>,
    /// The host's tags at the time, for routing.
    pub host_tags: Vec<String>,
    /// The rule's routing labels merged with the series' labels (`mount`, `iface`, …).
    pub labels: BTreeMap<String, String>,
    /// One line for people: "/var on web-1 is 91.2 % full (warning above 85 %)".
    pub summary: String,
    /// The value that decided the last transition, in the series' unit.
    pub value: Option<f64>,
    /// When it started firing, unix ms.
    pub started_at: i64,
    /// When it resolved, unix ms.
    pub resolved_at: Option<i64>,
    /// The host page (or alert) on the dashboard, when the hub knows its public URL.
    pub url: Option<String>,
}

/// The weekly digest, rendered once for every kind of channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestMessage {
    pub subject: String,
    /// For chat channels and the email's text part.
    pub text: String,
    /// For the email's HTML part.
    pub html: String,
}

/// Where notices go. The notification dispatcher implements it; the alert engine and the
/// digest only see this trait. Every method only enqueues: it never waits on a network.
pub trait Notifier: Send + Sync + 'static {
    /// An alert fired or resolved. The dispatcher routes, groups, repeats while firing,
    /// and retries.
    fn alert(&self, notice: AlertNotice);

    /// An alert still firing was acknowledged or silenced: stop repeating it (its resolve is
    /// still sent).
    fn stop_repeating(&self, fingerprint: &str);

    /// The weekly digest, for every channel that takes it.
    fn digest(&self, message: DigestMessage);
}

/// The notifier a hub has until channels are configured: it logs what it would have sent, so
/// nothing is lost silently.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn alert(&self, notice: AlertNotice) {
        tracing::info!(rule = %notice.rule, state = ?notice.state, "{} (no notification channel)", notice.summary);
    }

    fn stop_repeating(&self, _fingerprint: &str) {}

    fn digest(&self, message: DigestMessage) {
        tracing::info!(subject = %message.subject, "weekly digest (no notification channel):\n{}", message.text);
    }
}

/// A shared notifier, as the hub holds it.
#[derive(Clone)]
pub struct NotifierHandle(pub std::sync::Arc<dyn Notifier>);

impl std::fmt::Debug for NotifierHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotifierHandle")
    }
}
