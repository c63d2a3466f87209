//! Health scores and trends: `GET /api/v1/score`, `/api/v1/hosts/{name}/score` and
//! `/api/v1/hosts/{name}/trends` (viewers).

use super::{ApiError, auth};
use crate::hub::{Hub, now_ms};
use crate::score::{self, FleetScore, HostScore};
use crate::store::{Role, Store};
use crate::trend::{self, Projection};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use std::sync::Arc;

async fn host_or_404<S: Store>(hub: &Hub<S>, name: &str) -> Result<crate::store::Host, ApiError> {
    hub.store
        .host(name)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no host `{name}`")))
}

/// A host's score: the cached one while it is fresh, else computed now.
pub async fn host_score<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<HostScore>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    let host = host_or_404(&hub, &name).await?;
    let now = now_ms();
    let fresh_ms = i64::from(hub.config.score.recompute_seconds) * 1000;
    if let Some(s) = hub.scores.get(&name)
        && now - s.computed_at < fresh_ms
        && s.status == host.status
    {
        return Ok(Json(s));
    }
    Ok(Json(score::compute(&hub, &host, now).await?))
}

#[derive(Debug, Serialize)]
pub struct FleetReply {
    #[serde(flatten)]
    pub fleet: FleetScore,
    /// Every host's score, by name.
    pub scores: Vec<HostScore>,
}

/// The fleet's score and every host's, from the cache (filled on first use).
pub async fn fleet_score<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
) -> Result<Json<FleetReply>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    let mut scores = hub.scores.all();
    if scores.is_empty() {
        score::refresh(&hub, now_ms()).await?;
        scores = hub.scores.all();
    }
    Ok(Json(FleetReply {
        fleet: score::fleet(&scores, hub.config.score.fleet),
        scores,
    }))
}

#[derive(Debug, Serialize)]
pub struct TrendsReply {
    pub window_days: u32,
    pub projections: Vec<ProjectionReply>,
}

#[derive(Debug, Serialize)]
pub struct ProjectionReply {
    #[serde(flatten)]
    pub projection: Projection,
    /// "/var reaches 90 % in 12 days (on 2026-12-04)", dates in the digest's time zone.
    pub sentence: String,
}

pub async fn trends<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<TrendsReply>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    let host = host_or_404(&hub, &name).await?;
    let tz = hub.config.digest.display_zone();
    let projections = trend::project_host(&hub.store, host.id, now_ms(), &hub.config.trend)
        .await?
        .into_iter()
        .map(|p| ProjectionReply {
            sentence: p.sentence(&tz),
            projection: p,
        })
        .collect();
    Ok(Json(TrendsReply {
        window_days: hub.config.trend.window_days,
        projections,
    }))
}
