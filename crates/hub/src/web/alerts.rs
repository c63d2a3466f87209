//! The fleet's alerts page (`/alerts`): pending and firing alerts, silences; and the alert
//! rows the host page shows too. Admins get ack, silence and delete buttons, which POST to
//! the same `/api/v1` endpoints as API clients (alerts.js, with the session cookie).

use super::format;
use super::{Viewer, render, require};
use crate::alert::{AlertState, AlertView, Silence};
use crate::hub::{Hub, now_ms};
use crate::store::{Role, Store};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

/// An open alert as a table row.
#[derive(Debug, Clone)]
pub struct AlertRow {
    pub fingerprint: String,
    pub host: String,
    pub rule: String,
    /// `warning`, `critical`, `info`.
    pub severity: &'static str,
    /// `crit`, `warn` or `""`.
    pub class: &'static str,
    /// `pending` or `firing`.
    pub state: &'static str,
    pub since_ms: i64,
    pub since: String,
    pub value: String,
    pub threshold: String,
    pub summary: String,
    pub silenced: bool,
    pub flapping: bool,
    /// "alice at 2026-… : on it".
    pub acknowledged: Option<String>,
    /// Whether an ack is possible (firing and not yet acknowledged).
    pub can_ack: bool,
    /// The matchers a "silence" button creates: the alert's rule, host and labels, as the
    /// JSON the silences API takes.
    pub silence_matchers: String,
}

/// A number as people read it: `91`, `91.5`, `0.042`.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl AlertRow {
    pub fn of(a: &AlertView, now: i64) -> AlertRow {
        let mut matchers = vec![
            serde_json::json!({"label": "rule", "op": "=", "value": a.rule}),
            serde_json::json!({"label": "host", "op": "=", "value": a.host}),
        ];
        for (k, v) in &a.labels {
            if k != "rule" && k != "host" && k != "severity" {
                matchers.push(serde_json::json!({"label": k, "op": "=", "value": v}));
            }
        }
        AlertRow {
            fingerprint: a.fingerprint.clone(),
            host: a.host.clone(),
            rule: a.rule.clone(),
            severity: a.severity.as_str(),
            class: match a.severity {
                crate::notice::Severity::Critical => "crit",
                crate::notice::Severity::Warning => "warn",
                crate::notice::Severity::Info => "",
            },
            state: a.state.as_str(),
            since_ms: a.since,
            since: format::ago(Some(a.since), now),
            value: number(a.value),
            threshold: a.threshold.map_or(String::new(), number),
            summary: a.summary.clone(),
            silenced: a.silenced,
            flapping: a.flapping,
            acknowledged: a.acknowledged.as_ref().map(|k| {
                let mut s = format!("{} {}", k.author, format::ago(Some(k.at), now));
                if !k.comment.is_empty() {
                    s.push_str(": ");
                    s.push_str(&k.comment);
                }
                s
            }),
            can_ack: a.state == AlertState::Firing && a.acknowledged.is_none(),
            silence_matchers: serde_json::Value::Array(matchers).to_string(),
        }
    }
}

/// A silence as a table row.
#[derive(Debug, Clone)]
pub struct SilenceRow {
    pub id: i64,
    /// `host="web-1", rule=~"fs_.*"`.
    pub matchers: String,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub ends: String,
    pub active: bool,
    pub author: String,
    pub comment: String,
}

impl SilenceRow {
    pub fn of(s: &Silence, now: i64) -> SilenceRow {
        SilenceRow {
            id: s.id,
            matchers: s
                .matchers
                .iter()
                .map(|m| format!("{}{}\"{}\"", m.label, m.op.as_str(), m.value))
                .collect::<Vec<_>>()
                .join(", "),
            starts_ms: s.starts_at,
            ends_ms: s.ends_at,
            ends: if s.ends_at > now {
                format!("in {}", format::duration((s.ends_at - now) as f64 / 1000.0))
            } else {
                "ended".into()
            },
            active: s.active(now),
            author: s.author.clone(),
            comment: s.comment.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AlertsParams {
    pub host: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    pub viewer: Viewer,
    pub alerts: Vec<AlertRow>,
    pub silences: Vec<SilenceRow>,
    /// The host filter, when one is set.
    pub host: Option<String>,
    pub firing: usize,
    pub pending: usize,
}

pub async fn page<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    uri: Uri,
    Query(p): Query<AlertsParams>,
) -> Response {
    let session = match require(&hub, &headers, &uri, Role::Viewer).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = now_ms();
    let silences = match hub.alerts.silences(&hub.store, now).await {
        Ok(s) => s,
        Err(e) => return super::unavailable(&e),
    };
    let host = p.host.filter(|h| !h.trim().is_empty());
    let alerts: Vec<AlertRow> = hub
        .alerts
        .alerts(host.as_deref(), None)
        .iter()
        .map(|a| AlertRow::of(a, now))
        .collect();
    let firing = alerts.iter().filter(|a| a.state == "firing").count();
    render(&AlertsPage {
        viewer: (&session).into(),
        pending: alerts.len() - firing,
        firing,
        alerts,
        silences: silences.iter().map(|s| SilenceRow::of(s, now)).collect(),
        host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_drop_needless_decimals() {
        assert_eq!(number(91.0), "91");
        assert_eq!(number(91.5), "91.5");
        assert_eq!(number(0.042), "0.04");
        assert_eq!(number(1234.56), "1235");
        assert_eq!(number(f64::NAN), "—");
    }
}
