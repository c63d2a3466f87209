//! The generic webhook: `POST <url>` with the message as JSON (the alerts in full), signed
//! when an `hmac_key` is set:
//!
//! - `X-Hostwatch-Timestamp: <unix seconds>`
//! - `X-Hostwatch-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`
//!
//! The timestamp is part of what is signed, so a receiver that also refuses timestamps more
//! than a few minutes old cannot be fed a recorded request again (docs/notifications.md).

use super::{SendError, send_http};
use crate::notify::config::ChannelConfig;
use crate::notify::message::Message;
use hmac::{Hmac, KeyInit, Mac};
use hostwatch_proto::Secret;
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-Hostwatch-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Hostwatch-Timestamp";

/// The payload's version, for receivers.
const VERSION: u32 = 1;

#[derive(Debug)]
pub struct Webhook {
    http: reqwest::Client,
    url: Secret,
    key: Option<Secret>,
}

impl Webhook {
    pub fn new(c: &ChannelConfig, http: reqwest::Client) -> Result<Webhook, String> {
        Ok(Webhook {
            http,
            url: c.url.clone().unwrap_or_default(),
            key: c.hmac_key.clone().filter(|k| !k.is_empty()),
        })
    }

    pub async fn send(&self, m: &Message) -> Result<(), SendError> {
        let now = jiff::Timestamp::now();
        let mut doc = serde_json::to_value(m).map_err(|e| SendError::permanent(e.to_string()))?;
        doc["version"] = VERSION.into();
        doc["sent_at"] = now.as_millisecond().into();
        let body = serde_json::to_vec(&doc).map_err(|e| SendError::permanent(e.to_string()))?;
        let mut request = self
            .http
            .post(self.url.expose())
            .header("Content-Type", "application/json");
        if let Some(key) = &self.key {
            let ts = now.as_second().to_string();
            request = request.header(TIMESTAMP_HEADER, &ts).header(
                SIGNATURE_HEADER,
                signature(key.expose().as_bytes(), &ts, &body),
            );
        }
        send_http(request.body(body)).await.map(drop)
    }
}

/// `sha256=<hex>` of HMAC-SHA256 over `"<timestamp>.<body>"`.
pub fn signature(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256=");
    for b in digest.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Expected value from Python: hmac.new(b"Jefe", b'1700000000.{"a":1}', sha256).
        let s = super::signature(b"Jefe", "1700000000", br#"{"a":1}"#);
        assert_eq!(
            s,
            "sha256=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
    }
}
