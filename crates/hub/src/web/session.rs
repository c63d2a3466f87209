//! Dashboard sessions: a random 256-bit token in an HttpOnly cookie, stored only as its SHA-256
//! (like host tokens: the token is random and long, so a plain hash is enough).

use crate::hub::{Hub, now_ms};
use crate::store::{Session, Store, StoreError};
use axum::http::{HeaderMap, HeaderValue, header};
use hostwatch_proto::Secret;

/// The cookie's name.
pub const COOKIE: &str = "hw_session";

/// How long a login lasts.
pub const LIFETIME_MS: i64 = 7 * 86_400_000;

/// How stale `last_seen` may get before a request refreshes it (one write a minute at most).
const TOUCH_AFTER_MS: i64 = 60_000;

/// A new session token and the hash to store.
pub fn issue() -> (Secret, [u8; 32]) {
    let token = crate::token::random_base64url::<32>();
    let hash = digest(&token);
    (Secret::new(token), hash)
}

pub use crate::token::digest;

/// The session token a request's cookies carry, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

/// The logged-in session of a request, if its cookie names a live one.
pub async fn current<S: Store>(
    hub: &Hub<S>,
    headers: &HeaderMap,
) -> Result<Option<Session>, StoreError> {
    let Some(token) = cookie_token(headers) else {
        return Ok(None);
    };
    let hash = digest(token);
    let now = now_ms();
    let session = hub.store.session(hash, now).await?;
    if let Some(s) = &session
        && now - s.last_seen > TOUCH_AFTER_MS
    {
        hub.store.touch_session(hash, now).await?;
    }
    Ok(session)
}

/// Whether the browser reached the hub over HTTPS: directly behind a TLS proxy that says so,
/// or by the configured public URL.
pub fn is_https<S>(hub: &Hub<S>, headers: &HeaderMap) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    forwarded
        || hub
            .config
            .server
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(token: &Secret, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        token.expose(),
        LIFETIME_MS / 1000
    );
    HeaderValue::from_str(&value).expect("a base64url token is a valid header value")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .expect("a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_garbage_is_ignored() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hw_session=abc ; b=2"),
        );
        assert_eq!(cookie_token(&h), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("hw_session="));
        assert_eq!(cookie_token(&h), None);
        h.insert(header::COOKIE, HeaderValue::from_static("xhw_session=abc"));
        assert_eq!(cookie_token(&h), None);
    }

    #[test]
    fn cookies_are_httponly_samesite_and_secure_only_over_https() {
        let (token, hash) = issue();
        assert_eq!(digest(token.expose()), hash);
        let plain = set_cookie(&token, false);
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax"));
        assert!(!plain.contains("Secure"));
        assert!(
            set_cookie(&token, true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
        assert!(clear_cookie(false).to_str().unwrap().contains("Max-Age=0"));
    }
}
