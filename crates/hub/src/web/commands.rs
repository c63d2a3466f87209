//! The host's Commands page (admins only): its recent remote-command requests with their
//! results, and a form for each command the agent advertises (or a free-form one when it
//! advertises none). Submitting queues the command exactly as `POST /api/v1/hosts/{name}/commands`
//! does; cookie-authenticated posts pass the CSRF guard (`csrf.rs`) first.

use super::{Viewer, format, render, require, unavailable};
use crate::api::commands::{CommandRequest, queue_for};
use crate::hub::{Hub, now_ms};
use crate::store::{CommandRecord, CommandState, Role, Store};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use hostwatch_proto::{CommandInfo, Section};
use serde::Deserialize;
use std::sync::Arc;

/// How many requests the page lists.
const RECENT: u32 = 30;
/// How many of the agent's audit entries the page lists.
const AUDIT_RECENT: u32 = 50;

/// One line of the agent's audit log as the page shows it.
#[derive(Debug)]
pub struct AuditRow {
    pub at_ms: i64,
    pub at: String,
    pub origin: String,
    pub request_id: String,
    pub command: String,
    pub params: String,
    /// `ok`, `failed` or `refused`.
    pub outcome: &'static str,
    pub reason: String,
}

fn audit_row(e: hostwatch_proto::AuditEntry) -> AuditRow {
    AuditRow {
        at_ms: e.at,
        at: format::time(e.at),
        params: e.params.join(" "),
        outcome: match (e.outcome, e.ok) {
            (hostwatch_proto::AuditOutcome::Refused, _) => "refused",
            (_, true) => "ok",
            (_, false) => "failed",
        },
        reason: e.reason.unwrap_or_default(),
        origin: e.origin,
        request_id: e.request_id,
        command: e.command,
    }
}

#[derive(Debug)]
pub struct Offer {
    pub name: String,
    pub description: String,
    pub params: Vec<ParamField>,
}

#[derive(Debug)]
pub struct ParamField {
    pub label: String,
    /// A select of these when not empty, else a text input.
    pub choices: Vec<String>,
    /// The regex the agent will check (shown as the input's pattern hint).
    pub pattern: String,
}

#[derive(Debug)]
pub struct RequestRow {
    pub request_id: String,
    pub at_ms: i64,
    pub at: String,
    pub command: String,
    pub params: String,
    pub by: String,
    pub state: &'static str,
    /// `ok`, `failed` or empty while not done.
    pub outcome: &'static str,
    pub exit: String,
    pub duration: String,
    pub output: String,
    pub error: String,
}

#[derive(Debug, Template)]
#[template(path = "commands.html")]
pub struct CommandsPage {
    pub viewer: Viewer,
    pub host: String,
    pub has_key: bool,
    pub offers: Vec<Offer>,
    pub requests: Vec<RequestRow>,
    /// What the agent audited (every origin), newest first.
    pub audit: Vec<AuditRow>,
    pub queued: Option<String>,
    pub error: Option<String>,
}

fn offers(catalogue: &[CommandInfo]) -> Vec<Offer> {
    catalogue
        .iter()
        .map(|c| Offer {
            name: c.name.clone(),
            description: c.description.clone(),
            params: c
                .params
                .iter()
                .enumerate()
                .map(|(i, p)| ParamField {
                    label: format!("Parameter {}", i + 1),
                    choices: p.choices.clone().unwrap_or_default(),
                    pattern: p.regex.clone().unwrap_or_default(),
                })
                .collect(),
        })
        .collect()
}

fn row(r: CommandRecord) -> RequestRow {
    let result = r.result.as_ref();
    RequestRow {
        at_ms: r.requested_at,
        at: format::time(r.requested_at),
        params: r.params.join(" "),
        by: r.requested_by,
        state: r.state.as_str(),
        outcome: match (r.state, result) {
            (CommandState::Done, Some(res)) if res.ok => "ok",
            (CommandState::Done, _) | (CommandState::Expired, _) => "failed",
            _ => "",
        },
        exit: match result {
            Some(res) => match (res.exit_code, res.signal) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(s)) => format!("signal {s}"),
                (None, None) => "not run".into(),
            },
            None => String::new(),
        },
        duration: result
            .and_then(|res| res.duration_ms)
            .map(|ms| format::duration(ms as f64 / 1000.0))
            .unwrap_or_default(),
        output: result
            .map(|res| {
                let mut out = res.output.clone().unwrap_or_default();
                if let Some(err) = res.stderr.as_deref().filter(|e| !e.is_empty()) {
                    out.push_str(err);
                }
                out
            })
            .unwrap_or_default(),
        error: result.and_then(|res| res.error.clone()).unwrap_or_default(),
        request_id: r.request_id,
        command: r.command,
    }
}

async fn build<S: Store>(
    hub: &Hub<S>,
    viewer: Viewer,
    name: &str,
) -> Result<Option<CommandsPage>, crate::store::StoreError> {
    let Some(host) = hub.store.host(name).await? else {
        return Ok(None);
    };
    let requests = hub.store.commands(host.id, now_ms(), RECENT).await?;
    let audit = hub.store.audit(host.id, AUDIT_RECENT).await?;
    let catalogue = match hub.store.latest(host.id).await? {
        Some(report) => match report.sections.system {
            Some(Section::Ok(system)) => system.commands,
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    Ok(Some(CommandsPage {
        viewer,
        host: host.name,
        has_key: hub.config.commands.signing_key.is_some(),
        offers: offers(&catalogue),
        requests: requests.into_iter().map(row).collect(),
        audit: audit.into_iter().map(audit_row).collect(),
        queued: None,
        error: None,
    }))
}

fn no_host(name: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("no host `{name}`")).into_response()
}

#[derive(Debug, Deserialize)]
pub struct PageParams {
    pub queued: Option<String>,
}

/// `GET /hosts/{name}/commands`
pub async fn page<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Query(p): Query<PageParams>,
) -> Response {
    let session = match require(&hub, &headers, &uri, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match build(&hub, (&session).into(), &name).await {
        Ok(Some(mut page)) => {
            page.queued = p.queued;
            render(&page)
        }
        Ok(None) => no_host(&name),
        Err(e) => unavailable(&e),
    }
}

/// The form's fields in order: `command`, then `param` per advertised parameter, or
/// `params_text` (one parameter per line) from the free-form form.
fn request_of(fields: &[(String, String)]) -> CommandRequest {
    let mut command = String::new();
    let mut params = Vec::new();
    for (k, v) in fields {
        match k.as_str() {
            "command" => command = v.trim().to_string(),
            "param" => params.push(v.clone()),
            "params_text" => params.extend(
                v.lines()
                    .map(|l| l.trim_end_matches('\r').to_string())
                    .filter(|l| !l.is_empty()),
            ),
            _ => {}
        }
    }
    CommandRequest { command, params }
}

/// `POST /hosts/{name}/commands`: queues, then back to the page (post/redirect/get).
pub async fn submit<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let session = match require(&hub, &headers, &uri, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match queue_for(&hub, &name, &session.user.name, request_of(&fields)).await {
        Ok(record) => Redirect::to(&format!(
            "/hosts/{}/commands?queued={}",
            format::url_encode(&name),
            format::url_encode(&record.request_id)
        ))
        .into_response(),
        Err(refused) => match build(&hub, (&session).into(), &name).await {
            Ok(Some(mut page)) => {
                page.error = Some(refused.message);
                let mut r = render(&page);
                *r.status_mut() = refused.status;
                r
            }
            Ok(None) => no_host(&name),
            Err(e) => unavailable(&e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_become_a_request_in_order() {
        let f = |k: &str, v: &str| (k.to_string(), v.to_string());
        let r = request_of(&[
            f("command", " restart "),
            f("param", "nginx"),
            f("param", ""),
        ]);
        assert_eq!(r.command, "restart");
        assert_eq!(r.params, ["nginx", ""]);
        let r = request_of(&[f("command", "x"), f("params_text", "a\r\nb c\n\n")]);
        assert_eq!(r.params, ["a", "b c"]);
    }
}
