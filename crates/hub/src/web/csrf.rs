//! CSRF protection for cookie sessions: a state-changing request that a browser could send
//! with the session cookie must come from the dashboard's own origin. Clients that send an
//! `Authorization` header (API tokens, agents) are exempt: a browser never adds one by itself.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether a request came from a page of the same origin, by `Sec-Fetch-Site` (every current
/// browser sends it) or else by `Origin` against `Host`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin";
    }
    let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    origin.split_once("://").is_some_and(|(scheme, authority)| {
        matches!(scheme, "http" | "https") && authority.eq_ignore_ascii_case(host)
    })
}

/// Refuses cross-site writes that ride on the session cookie (and cross-site logins).
pub async fn guard(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let headers = request.headers();
    let bearer = headers.contains_key(header::AUTHORIZATION);
    let ambient =
        super::session::cookie_token(headers).is_some() || request.uri().path() == "/login";
    if !safe && !bearer && ambient && !same_origin(headers) {
        return (
            StatusCode::FORBIDDEN,
            "cross-site request refused: send it from the dashboard's own pages",
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_by_fetch_metadata_or_origin() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        // Fetch metadata wins over a matching Origin.
        assert!(!same_origin(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://hub:8300"),
            ("host", "hub:8300"),
        ])));
        assert!(same_origin(&headers(&[
            ("origin", "http://hub:8300"),
            ("host", "hub:8300")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "hub:8300")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "null"),
            ("host", "hub")
        ])));
        assert!(!same_origin(&headers(&[("host", "hub:8300")])));
    }
}
