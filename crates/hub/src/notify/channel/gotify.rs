//! Gotify: `POST {server}/message` with the application token in `X-Gotify-Key` and
//! `{"title", "message", "priority", "extras"}` as JSON.

use super::{SendError, send_http};
use crate::notice::Severity;
use crate::notify::config::ChannelConfig;
use crate::notify::message::Message;
use hostwatch_proto::Secret;

#[derive(Debug)]
pub struct Gotify {
    http: reqwest::Client,
    url: String,
    token: Secret,
}

impl Gotify {
    pub fn new(c: &ChannelConfig, http: reqwest::Client) -> Result<Gotify, String> {
        Ok(Gotify {
            http,
            url: format!(
                "{}/message",
                c.server.clone().unwrap_or_default().trim_end_matches('/')
            ),
            token: c.token.clone().unwrap_or_default(),
        })
    }

    pub async fn send(&self, m: &Message) -> Result<(), SendError> {
        // Gotify's clients treat 8 and above as high priority.
        let priority = match m.severity {
            Some(Severity::Critical) => 8,
            Some(Severity::Warning) => 5,
            _ => 2,
        };
        let mut extras = serde_json::json!({
            "client::display": { "contentType": "text/plain" },
        });
        if let Some(url) = &m.url {
            extras["client::notification"] = serde_json::json!({ "click": { "url": url } });
        }
        let body = serde_json::json!({
            "title": m.title,
            "message": m.text,
            "priority": priority,
            "extras": extras,
        });
        let request = self
            .http
            .post(&self.url)
            .header("X-Gotify-Key", self.token.expose())
            .json(&body);
        send_http(request).await.map(drop)
    }
}
