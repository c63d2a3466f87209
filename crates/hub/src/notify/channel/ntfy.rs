//! ntfy: `POST {server}/{topic}` with the message as the body and the headers `Title`,
//! `Priority` (1–5), `Tags` (emoji short codes) and `Click`; `Authorization: Bearer <token>`
//! for a protected topic.

use super::{SendError, send_http};
use crate::notice::Severity;
use crate::notify::config::ChannelConfig;
use crate::notify::message::{Message, MessageKind};
use base64::Engine as _;
use hostwatch_proto::Secret;

#[derive(Debug)]
pub struct Ntfy {
    http: reqwest::Client,
    url: String,
    token: Option<Secret>,
}

impl Ntfy {
    pub fn new(c: &ChannelConfig, http: reqwest::Client) -> Result<Ntfy, String> {
        let server = c.server.clone().unwrap_or_else(|| "https://ntfy.sh".into());
        Ok(Ntfy {
            http,
            url: format!(
                "{}/{}",
                server.trim_end_matches('/'),
                c.topic.clone().unwrap_or_default()
            ),
            token: c.token.clone(),
        })
    }

    pub async fn send(&self, m: &Message) -> Result<(), SendError> {
        let (priority, tags) = match (m.kind, m.severity) {
            (MessageKind::Alerts, Some(Severity::Critical)) => ("5", "rotating_light"),
            (MessageKind::Alerts, Some(Severity::Warning)) => ("4", "warning"),
            (MessageKind::Alerts, Some(Severity::Info)) => ("3", "information_source"),
            (MessageKind::Alerts, None) => ("3", "white_check_mark"),
            (MessageKind::Digest, _) => ("3", "bar_chart"),
            (MessageKind::Test, _) => ("3", "test_tube"),
        };
        let mut request = self
            .http
            .post(&self.url)
            .header("Title", header_text(&m.title))
            .header("Priority", priority)
            .header("Tags", tags)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(m.text.clone());
        if let Some(url) = &m.url {
            request = request.header("Click", url.as_str());
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        send_http(request).await.map(drop)
    }
}

/// A header value: ASCII as it is, anything else as an RFC 2047 encoded word (ntfy decodes it).
fn header_text(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        text.to_string()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }
}
