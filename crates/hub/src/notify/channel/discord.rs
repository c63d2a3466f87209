//! Discord: execute a webhook, `POST <webhook URL>` with `{"content": …}` (at most 2000
//! characters). A rate limit answers 429 with `Retry-After` and `retry_after` in the body.

use super::{SendError, send_http};
use crate::notify::config::ChannelConfig;
use crate::notify::message::{Message, truncate};
use hostwatch_proto::Secret;

const MAX_CONTENT: usize = 2000;

#[derive(Debug)]
pub struct Discord {
    http: reqwest::Client,
    url: Secret,
    username: Option<String>,
}

impl Discord {
    pub fn new(c: &ChannelConfig, http: reqwest::Client) -> Result<Discord, String> {
        Ok(Discord {
            http,
            url: c.url.clone().unwrap_or_default(),
            username: c.username.clone(),
        })
    }

    pub async fn send(&self, m: &Message) -> Result<(), SendError> {
        let mut content = format!("**{}**\n{}", m.title, m.text);
        if let Some(url) = &m.url {
            content.push_str(&format!("\n{url}"));
        }
        let mut body = serde_json::json!({
            "content": truncate(&content, MAX_CONTENT),
            // Host names must not ping anyone.
            "allowed_mentions": { "parse": [] },
        });
        if let Some(u) = &self.username {
            body["username"] = u.clone().into();
        }
        send_http(self.http.post(self.url.expose()).json(&body))
            .await
            .map(drop)
    }
}
