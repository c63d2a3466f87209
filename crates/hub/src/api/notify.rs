//! Notifications for admins: the delivery log, and "send test" for a channel.

use super::{ApiError, auth};
use crate::hub::{Hub, now_ms};
use crate::notify::{NotifyError, delivery, send_test};
use crate::store::{Delivery, DeliveryQuery, Role, Store};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct DeliveriesParams {
    pub channel: Option<String>,
    pub since: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct Deliveries {
    pub deliveries: Vec<Delivery>,
}

/// `GET /api/v1/notifications/deliveries` (admin): newest first.
pub async fn deliveries<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Query(p): Query<DeliveriesParams>,
) -> Result<Json<Deliveries>, ApiError> {
    auth::client(&hub, &headers, Role::Admin).await?;
    let query = DeliveryQuery {
        channel: p.channel,
        since: p.since,
        limit: p.limit.unwrap_or(100).clamp(1, 1000),
    };
    Ok(Json(Deliveries {
        deliveries: hub.store.deliveries(query).await?,
    }))
}

#[derive(Debug, Serialize)]
pub struct TestResult {
    pub channel: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub delivered: bool,
    pub attempts: u32,
    pub error: Option<String>,
}

/// `POST /api/v1/notify/test/{channel}` (admin): one test message, one attempt; 200 when
/// delivered, 502 with the reason when not. Recorded in the delivery log either way.
pub async fn test<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<TestResult>), ApiError> {
    auth::client(&hub, &headers, Role::Admin).await?;
    let config = &hub.config.notify;
    let (channel, message, outcome) = send_test(config, &name).await.map_err(|e| match e {
        NotifyError::UnknownChannel(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        NotifyError::Setup { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    })?;
    delivery::log(
        &hub.store,
        &channel,
        &message,
        &outcome,
        now_ms(),
        config.delivery_log_days,
    )
    .await;
    let status = if outcome.delivered {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    Ok((
        status,
        Json(TestResult {
            channel: name,
            kind: channel.kind.as_str(),
            delivered: outcome.delivered,
            attempts: outcome.attempts,
            error: outcome.error,
        }),
    ))
}
