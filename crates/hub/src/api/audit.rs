//! `GET /api/v1/hosts/{name}/audit`: the remote-command requests the host's agent audited
//! (any origin, run or refused), newest first. Admins only, like the commands themselves.

use super::{ApiError, auth};
use crate::hub::Hub;
use crate::store::{Role, Store};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use hostwatch_proto::AuditEntry;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub limit: Option<u32>,
}

pub async fn list<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(p): Query<ListParams>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    auth::client(&hub, &headers, Role::Admin).await?;
    let host = hub
        .store
        .host(&name)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no host `{name}`")))?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(hub.store.audit(host.id, limit).await?))
}
