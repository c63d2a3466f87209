//! Alerts, acknowledgements and silences: viewers read, admins change.

use super::{ApiError, auth};
use crate::alert::{Ack, AckError, AlertState, AlertView, Silence, SilenceRequest};
use crate::hub::{Hub, now_ms};
use crate::store::{Role, Store};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct AlertsParams {
    pub host: Option<String>,
    /// `pending` or `firing`; both when absent.
    pub state: Option<String>,
}

fn state_param(s: Option<&str>) -> Result<Option<AlertState>, ApiError> {
    match s {
        None => Ok(None),
        Some("pending") => Ok(Some(AlertState::Pending)),
        Some("firing") => Ok(Some(AlertState::Firing)),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`state`: `{other}` is neither `pending` nor `firing`"),
        )),
    }
}

/// `GET /api/v1/alerts?host=&state=`: open alerts, most severe first.
pub async fn list<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Query(p): Query<AlertsParams>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    let state = state_param(p.state.as_deref())?;
    Ok(Json(hub.alerts.alerts(p.host.as_deref(), state)))
}

/// `GET /api/v1/hosts/{name}/alerts`.
pub async fn of_host<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(p): Query<AlertsParams>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    if hub.store.host(&name).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no host `{name}`"),
        ));
    }
    let state = state_param(p.state.as_deref())?;
    Ok(Json(hub.alerts.alerts(Some(&name), state)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckRequest {
    #[serde(default)]
    comment: String,
}

/// `POST /api/v1/alerts/{fingerprint}/ack` with an optional `{"comment": "…"}`.
pub async fn ack<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(fingerprint): Path<String>,
    body: Bytes,
) -> Result<Json<Ack>, ApiError> {
    let client = auth::client(&hub, &headers, Role::Admin).await?;
    let req: AckRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AckRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad ack: {e}")))?
    };
    match hub
        .alerts
        .ack(
            &hub.store,
            &fingerprint,
            &client.name,
            req.comment,
            now_ms(),
        )
        .await
    {
        Ok(ack) => Ok(Json(ack)),
        Err(AckError::NotFiring(fp)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no firing alert has fingerprint `{fp}`"),
        )),
        Err(AckError::Store(e)) => Err(e.into()),
    }
}

/// `GET /api/v1/silences`: active and future silences.
pub async fn silences<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Silence>>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    Ok(Json(hub.alerts.silences(&hub.store, now_ms()).await?))
}

/// `POST /api/v1/silences`: `{"matchers":[{"label":"host","op":"=","value":"web-1"}],
/// "duration":"2h","comment":"…"}`; the author is the token's name.
pub async fn create_silence<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    let client = auth::client(&hub, &headers, Role::Admin).await?;
    let now = now_ms();
    let bad = |e: String| ApiError::new(StatusCode::BAD_REQUEST, format!("bad silence: {e}"));
    let req: SilenceRequest = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
    let new = req.check(&client.name, now).map_err(bad)?;
    let silence = hub.alerts.create_silence(&hub.store, new, now).await?;
    Ok((StatusCode::CREATED, Json(silence)))
}

/// `DELETE /api/v1/silences/{id}`.
pub async fn delete_silence<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    auth::client(&hub, &headers, Role::Admin).await?;
    if hub.alerts.delete_silence(&hub.store, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no silence {id}"),
        ))
    }
}
