//! Mattermost: an incoming webhook, `POST <webhook URL>` with `{"text": …}` (Markdown) and
//! optionally `username`.

use super::{SendError, send_http};
use crate::notify::config::ChannelConfig;
use crate::notify::message::Message;
use hostwatch_proto::Secret;

#[derive(Debug)]
pub struct Mattermost {
    http: reqwest::Client,
    url: Secret,
    username: Option<String>,
}

impl Mattermost {
    pub fn new(c: &ChannelConfig, http: reqwest::Client) -> Result<Mattermost, String> {
        Ok(Mattermost {
            http,
            url: c.url.clone().unwrap_or_default(),
            username: c.username.clone(),
        })
    }

    pub async fn send(&self, m: &Message) -> Result<(), SendError> {
        let mut text = format!("#### {}\n{}", m.title, m.text);
        if let Some(url) = &m.url {
            text.push_str(&format!("\n[Open in hostwatch]({url})"));
        }
        let mut body = serde_json::json!({ "text": text });
        if let Some(u) = &self.username {
            body["username"] = u.clone().into();
        }
        send_http(self.http.post(self.url.expose()).json(&body))
            .await
            .map(drop)
    }
}
