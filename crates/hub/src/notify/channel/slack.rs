//! Slack: an incoming webhook, `POST <webhook URL>` with `{"text": …}` (mrkdwn).

use super::{SendError, send_http};
use crate::notify::config::ChannelConfig;
use crate::notify::message::Message;
use hostwatch_proto::Secret;

#[derive(Debug)]
pub struct Slack {
    http: reqwest::Client,
    url: Secret,
}

impl Slack {
    pub fn new(c: &ChannelConfig, http: reqwest::Client) -> Result<Slack, String> {
        Ok(Slack {
            http,
            url: c.url.clone().unwrap_or_default(),
        })
    }

    pub async fn send(&self, m: &Message) -> Result<(), SendError> {
        let mut text = format!("*{}*\n{}", m.title, m.text);
        if let Some(url) = &m.url {
            text.push_str(&format!("\n<{url}|Open in hostwatch>"));
        }
        let body = serde_json::json!({ "text": text });
        send_http(self.http.post(self.url.expose()).json(&body))
            .await
            .map(drop)
    }
}
