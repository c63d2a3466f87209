//! Bearer-token authentication. Failures answer 401 with no detail: an attacker learns nothing
//! about which part was wrong, and no token is ever echoed or logged.

use super::ApiError;
use crate::hub::Hub;
use crate::store::{ApiClient, Host, Role, Store};
use crate::token;
use axum::http::{HeaderMap, StatusCode, header};

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn unauthorized() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized")
}

/// The host a request's token belongs to.
pub async fn host<S: Store>(hub: &Hub<S>, headers: &HeaderMap) -> Result<Host, ApiError> {
    let (id, secret) = bearer(headers)
        .and_then(token::parse)
        .ok_or_else(unauthorized)?;
    match hub.store.host_by_token_id(id).await? {
        Some((host, stored)) if token::verify(&stored, secret) => Ok(host),
        _ => Err(unauthorized()),
    }
}

/// The API client a request's token belongs to — or, without a bearer token, the dashboard
/// user of its session cookie — which must have at least `role`. (Cookie writes pass the
/// CSRF guard in `web::csrf` before they get here.)
pub async fn client<S: Store>(
    hub: &Hub<S>,
    headers: &HeaderMap,
    role: Role,
) -> Result<ApiClient, ApiError> {
    let client = if headers.contains_key(header::AUTHORIZATION) {
        let (id, secret) = bearer(headers)
            .and_then(token::parse)
            .ok_or_else(unauthorized)?;
        match hub.store.api_client_by_token_id(id).await? {
            Some((client, stored)) if token::verify(&stored, secret) => client,
            _ => return Err(unauthorized()),
        }
    } else {
        match crate::web::session::current(hub, headers).await? {
            Some(session) => ApiClient {
                name: session.user.name,
                role: session.user.role,
            },
            None => return Err(unauthorized()),
        }
    };
    if role == Role::Admin && client.role != Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this needs an admin token",
        ));
    }
    Ok(client)
}
