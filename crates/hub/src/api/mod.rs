//! The JSON API under `/api/v1`: ingest for agents (host tokens), queries and administration
//! for people and scripts (API tokens). The dashboard will use the same endpoints.

mod alerts;
mod audit;
pub(crate) mod auth;
pub(crate) mod commands;
mod ingest;
mod insight;
mod notify;
pub mod query;
mod zstd_body;

use crate::hub::Hub;
use crate::store::{Store, StoreError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use std::sync::Arc;

/// All routes. Kept apart from the socket so tests can drive it directly.
pub fn router<S: Store>(hub: Arc<Hub<S>>) -> axum::Router {
    let max_body = hub.config.ingest.max_body_bytes;
    let ingest = axum::Router::new()
        .route("/api/v1/reports", post(ingest::reports::<S>))
        .route("/api/v1/job-runs", post(ingest::job_runs::<S>))
        .route("/api/v1/command-results", post(commands::result::<S>))
        // The limit applies to the decompressed body, so a small zstd bomb cannot get past it.
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        // Outside the layer above: zstd is decoded here first, keeping the sender's frame.
        .layer(axum::middleware::from_fn_with_state(
            max_body,
            zstd_body::decode,
        ));
    axum::Router::new()
        .route(
            "/api/v1/hosts",
            get(query::hosts::<S>).post(query::add_host::<S>),
        )
        .route(
            "/api/v1/hosts/{name}",
            get(query::host::<S>).delete(query::remove_host::<S>),
        )
        .route(
            "/api/v1/hosts/{name}/rotate-token",
            post(query::rotate_token::<S>),
        )
        .route("/api/v1/hosts/{name}/tags", put(query::set_tags::<S>))
        .route("/api/v1/hosts/{name}/jobs", get(query::jobs::<S>))
        .route(
            "/api/v1/hosts/{name}/commands",
            get(commands::list::<S>).post(commands::create::<S>),
        )
        .route("/api/v1/hosts/{name}/audit", get(audit::list::<S>))
        .route("/api/v1/hosts/{name}/series", get(query::series::<S>))
        .route("/api/v1/events", get(query::events::<S>))
        .route("/api/v1/score", get(insight::fleet_score::<S>))
        .route("/api/v1/hosts/{name}/score", get(insight::host_score::<S>))
        .route("/api/v1/hosts/{name}/trends", get(insight::trends::<S>))
        .route("/api/v1/alerts", get(alerts::list::<S>))
        .route("/api/v1/hosts/{name}/alerts", get(alerts::of_host::<S>))
        .route("/api/v1/alerts/{fingerprint}/ack", post(alerts::ack::<S>))
        .route(
            "/api/v1/silences",
            get(alerts::silences::<S>).post(alerts::create_silence::<S>),
        )
        .route("/api/v1/silences/{id}", delete(alerts::delete_silence::<S>))
        .route(
            "/api/v1/notifications/deliveries",
            get(notify::deliveries::<S>),
        )
        .route("/api/v1/notify/test/{channel}", post(notify::test::<S>))
        .merge(ingest)
        .merge(crate::web::router(hub.clone()))
        // Cookie-authenticated writes must come from the dashboard's own pages.
        .layer(axum::middleware::from_fn(crate::web::csrf::guard))
        .with_state(hub)
}

/// An API error: a status and a message for the body `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                ApiError::new(StatusCode::CONFLICT, format!("{what} already exists"))
            }
            e => {
                tracing::error!(error = %e, "store error");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is unavailable; retry later",
                )
            }
        }
    }
}
