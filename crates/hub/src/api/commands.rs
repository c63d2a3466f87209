//! Remote commands: `POST /api/v1/hosts/{name}/commands` (admins queue one),
//! `GET /api/v1/hosts/{name}/commands` (admins list them with their results) and
//! `POST /api/v1/command-results` (agents post what happened, with their host token).

use super::{ApiError, auth};
use crate::commands::{self, QueueError};
use crate::hub::{Hub, now_ms};
use crate::store::{CommandRecord, ResultOutcome, Role, Store};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use hostwatch_proto::CommandResult;
use serde::Deserialize;
use std::sync::Arc;

/// What an admin asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    pub command: String,
    #[serde(default)]
    pub params: Vec<String>,
}

/// The most of a result's stdout (and of its stderr) the hub keeps.
const OUTPUT_KEEP: usize = 256 * 1024;

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid {what} at `{}`: {}", e.path(), e.inner()),
        )
    })
}

async fn host_or_404<S: Store>(hub: &Hub<S>, name: &str) -> Result<crate::store::Host, ApiError> {
    hub.store
        .host(name)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no host `{name}`")))
}

/// Queues a command for a host on behalf of `admin`; the record as stored.
pub async fn queue_for<S: Store>(
    hub: &Hub<S>,
    host_name: &str,
    admin: &str,
    request: CommandRequest,
) -> Result<CommandRecord, ApiError> {
    let host = host_or_404(hub, host_name).await?;
    let now = now_ms();
    let signed = commands::queue(hub, &host, admin, &request.command, &request.params, now)
        .await
        .map_err(|e| match e {
            QueueError::NoKey => ApiError::new(StatusCode::CONFLICT, commands::NO_KEY),
            QueueError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
            QueueError::Store(e) => e.into(),
        })?;
    Ok(CommandRecord {
        request_id: signed.request_id,
        host: host.name,
        command: signed.command,
        params: signed.params,
        requested_by: admin.to_string(),
        requested_at: now,
        expires_at: signed.expires_at,
        state: crate::store::CommandState::Queued,
        sent_at: None,
        finished_at: None,
        result: None,
    })
}

/// `POST /api/v1/hosts/{name}/commands`: 202 with the queued request.
pub async fn create<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    let admin = auth::client(&hub, &headers, Role::Admin).await?;
    let request: CommandRequest = json_body(&body, "command request")?;
    let record = queue_for(&hub, &name, &admin.name, request).await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub limit: Option<u32>,
}

/// `GET /api/v1/hosts/{name}/commands`: newest first. Admins only: outputs can be sensitive.
pub async fn list<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(p): Query<ListParams>,
) -> Result<Json<Vec<CommandRecord>>, ApiError> {
    auth::client(&hub, &headers, Role::Admin).await?;
    let host = host_or_404(&hub, &name).await?;
    let limit = p.limit.unwrap_or(50).clamp(1, 1000);
    Ok(Json(hub.store.commands(host.id, now_ms(), limit).await?))
}

/// Cuts `text` to at most `max` bytes on a character boundary; whether it cut.
fn cap(text: &mut Option<String>, max: usize) -> bool {
    match text {
        Some(t) if t.len() > max => {
            let mut end = max;
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            t.truncate(end);
            true
        }
        _ => false,
    }
}

/// `POST /api/v1/command-results`: a host's result for one of its own requests, stored once.
pub async fn result<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let host = auth::host(&hub, &headers).await?;
    let mut result: CommandResult = json_body(&body, "command result")?;
    if result.request_id.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid command result: `request_id` is empty",
        ));
    }
    let cut_out = cap(&mut result.output, OUTPUT_KEEP);
    let cut_err = cap(&mut result.stderr, OUTPUT_KEEP);
    result.truncated |= cut_out || cut_err;
    let id = result.request_id.clone();
    match hub.store.finish_command(host.id, result, now_ms()).await? {
        ResultOutcome::Stored(_) => Ok(Json(serde_json::json!({ "stored": true }))),
        ResultOutcome::Duplicate => Ok(Json(serde_json::json!({ "stored": false }))),
        ResultOutcome::Unknown => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no command request `{id}`"),
        )),
        ResultOutcome::OtherHost => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("command request `{id}` is not for {}", host.name),
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cap_cuts_on_a_character_boundary() {
        let mut t = Some("aé".repeat(3));
        assert!(super::cap(&mut t, 4));
        assert_eq!(t.as_deref(), Some("aéa"));
        let mut short = Some("abc".to_string());
        assert!(!super::cap(&mut short, 4));
    }
}
