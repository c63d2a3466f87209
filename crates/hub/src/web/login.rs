//! The login form, login and logout. A wrong password and an unknown user get the same answer
//! after the same argon2 work; attempts are limited per client address and per user name.

use super::{LOGINS_PER_MINUTE, password, render, session};
use crate::hub::{Hub, now_ms};
use crate::store::Store;
use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// Only a path on this site: never `//evil.example` or `https://…` (no open redirect).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

pub async fn form<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Query(p): Query<NextParam>,
) -> Response {
    let next = safe_next(p.next.as_deref());
    if let Ok(Some(_)) = session::current(&hub, &headers).await {
        return Redirect::to(next).into_response();
    }
    render(&LoginPage {
        next,
        username: "",
        error: None,
    })
}

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, [redacted])", self.username)
    }
}

/// A rate-limit key for a string (a name or an address).
fn key(s: &str) -> i64 {
    let d = Sha256::digest(s.as_bytes());
    i64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

pub async fn submit<S: Store>(State(hub): State<Arc<Hub<S>>>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let headers = request.headers().clone();
    let Form(creds) = match Form::<Credentials>::from_request(request, &()).await {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, e.body_text()).into_response(),
    };
    let next = safe_next(creds.next.as_deref()).to_string();
    let username = creds.username.trim().to_string();

    let now = Instant::now();
    let by_ip = hub.web.logins_by_ip.check(key(&peer), now);
    let by_user = hub
        .web
        .logins_by_user
        .check(key(&username.to_lowercase()), now);
    if let Err(wait) = by_ip.and(by_user) {
        let secs = wait.as_secs().max(1);
        tracing::warn!(user = %username, peer = %peer, "dashboard login rate-limited");
        let message = format!(
            "Too many login attempts (at most {LOGINS_PER_MINUTE} a minute). Try again in {secs} s."
        );
        let mut r = render(&LoginPage {
            next: &next,
            username: &username,
            error: Some(&message),
        });
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }

    let user = match hub.store.user_with_hash(&username).await {
        Ok(u) => u,
        Err(e) => return super::unavailable(&e),
    };
    let stored = user.as_ref().map(|(_, hash)| hash.clone());
    let password = creds.password;
    let ok = tokio::task::spawn_blocking(move || {
        password::verify_or_dummy(&password, stored.as_deref())
    })
    .await
    .unwrap_or(false);
    let Some((user, _)) = user.filter(|_| ok) else {
        tracing::info!(user = %username, peer = %peer, "dashboard login refused");
        let mut r = render(&LoginPage {
            next: &next,
            username: &username,
            error: Some("Wrong user name or password."),
        });
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    };

    let (token, hash) = session::issue();
    let created = now_ms();
    if let Err(e) = hub
        .store
        .create_session(hash, &user.name, created, created + session::LIFETIME_MS)
        .await
    {
        return super::unavailable(&e);
    }
    tracing::info!(user = %user.name, peer = %peer, "dashboard login");
    let mut r = Redirect::to(&next).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(&token, session::is_https(&hub, &headers)),
    );
    r
}

pub async fn logout<S: Store>(State(hub): State<Arc<Hub<S>>>, headers: HeaderMap) -> Response {
    if let Some(token) = session::cookie_token(&headers)
        && let Err(e) = hub
            .store
            .delete_session(session::digest(token), now_ms())
            .await
    {
        return super::unavailable(&e);
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(session::is_https(&hub, &headers)),
    );
    r
}

use axum::extract::FromRequest;

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/hosts/a?range=6h")), "/hosts/a?range=6h");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
