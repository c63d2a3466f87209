//! The dashboard: server-rendered pages (askama), live updates over server-sent events, and
//! embedded assets. The pages' scripts use the same `/api/v1` JSON as API clients, with the
//! session cookie instead of a bearer token.

pub mod alerts;
pub mod assets;
pub mod commands;
pub mod csrf;
pub mod format;
pub mod host;
pub mod live;
pub mod login;
pub mod notifications;
pub mod overview;
pub mod panels;
pub mod password;
pub mod session;
pub mod sparkline;
pub mod users;

use crate::hub::Hub;
use crate::rate::RateLimiter;
use crate::store::{Role, Session, Store};
use askama::Template;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// Login attempts allowed per minute and user name.
pub const LOGINS_PER_MINUTE: u32 = 5;

/// Login attempts allowed per minute and client address (several people may share one).
pub const LOGINS_PER_MINUTE_PER_ADDRESS: u32 = 20;

/// The dashboard's share of the hub's state.
#[derive(Debug)]
pub struct WebState {
    pub logins_by_ip: RateLimiter,
    pub logins_by_user: RateLimiter,
    /// Rendered row updates for the overview's live feed (one message per coalesced batch).
    pub rows: tokio::sync::broadcast::Sender<Arc<str>>,
}

impl WebState {
    pub fn new() -> WebState {
        WebState {
            logins_by_ip: RateLimiter::per_minute(LOGINS_PER_MINUTE_PER_ADDRESS),
            logins_by_user: RateLimiter::per_minute(LOGINS_PER_MINUTE),
            rows: tokio::sync::broadcast::channel(64).0,
        }
    }
}

impl Default for WebState {
    fn default() -> Self {
        WebState::new()
    }
}

/// The dashboard's routes (merged into the API router, which adds the state and CSRF guard).
pub fn router<S: Store>(_hub: Arc<Hub<S>>) -> axum::Router<Arc<Hub<S>>> {
    axum::Router::new()
        .route("/", get(overview::page::<S>))
        .route("/hosts/{name}", get(host::page::<S>))
        .route("/alerts", get(alerts::page::<S>))
        .route("/admin/notifications", get(notifications::page::<S>))
        .route(
            "/hosts/{name}/commands",
            get(commands::page::<S>).post(commands::submit::<S>),
        )
        .route("/events/fleet", get(live::fleet::<S>))
        .route("/login", get(login::form::<S>).post(login::submit::<S>))
        .route("/logout", post(login::logout::<S>))
        .route(
            "/admin/enrol",
            get(host::enrol_form::<S>).post(host::enrol_submit::<S>),
        )
        .route("/assets/{file}", get(assets::serve))
        // Pages of 1,000 rows are ~1 MB of repetitive HTML; gzip makes them ~10× smaller.
        // (The layer leaves the event stream alone: it never compresses text/event-stream.)
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Who is looking at a page: for the header and for hiding admin-only controls.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub name: String,
    pub is_admin: bool,
}

impl From<&Session> for Viewer {
    fn from(s: &Session) -> Self {
        Viewer {
            name: s.user.name.clone(),
            is_admin: s.user.role == Role::Admin,
        }
    }
}

/// The session of a page request; without one, a redirect to the login form that comes back.
pub async fn require<S: Store>(
    hub: &Hub<S>,
    headers: &HeaderMap,
    uri: &Uri,
    role: Role,
) -> Result<Session, Response> {
    let session = session::current(hub, headers)
        .await
        .map_err(|e| unavailable(&e))?;
    match session {
        Some(s) if role == Role::Admin && s.user.role != Role::Admin => Err((
            StatusCode::FORBIDDEN,
            Html("<!doctype html><title>Forbidden</title><p>This page is for admins. <a href=\"/\">Back to the fleet</a>"),
        )
            .into_response()),
        Some(s) => Ok(s),
        None => {
            let next = uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let target = format!("/login?next={}", format::url_encode(next));
            Err(Redirect::to(&target).into_response())
        }
    }
}

/// A store failure as a page.
pub fn unavailable(e: &crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "store error while rendering a page");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is unavailable; retry in a moment",
    )
        .into_response()
}

/// A rendered template as an HTML response, never cached (pages show live state).
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => ([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the page failed",
            )
                .into_response()
        }
    }
}
