//! Telegram: the Bot API's `sendMessage`, `POST {base}/bot<token>/sendMessage` with
//! `{"chat_id", "text"}` as JSON. Plain text (no `parse_mode`), so nothing needs escaping.

use super::{SendError, send_http};
use crate::notify::config::ChannelConfig;
use crate::notify::message::{Message, truncate};
use hostwatch_proto::Secret;

/// The Bot API's limit on a message's text.
const MAX_TEXT: usize = 4096;

#[derive(Debug)]
pub struct Telegram {
    http: reqwest::Client,
    base: String,
    token: Secret,
    chat_id: serde_json::Value,
}

impl Telegram {
    pub fn new(c: &ChannelConfig, http: reqwest::Client) -> Result<Telegram, String> {
        let chat = c.chat_id.clone().unwrap_or_default();
        // A numeric id goes as a number, a `@channelusername` as a string.
        let chat_id = chat
            .parse::<i64>()
            .map(serde_json::Value::from)
            .unwrap_or(serde_json::Value::String(chat));
        Ok(Telegram {
            http,
            base: c
                .api_base
                .clone()
                .unwrap_or_else(|| "https://api.telegram.org".into())
                .trim_end_matches('/')
                .to_string(),
            token: c.bot_token.clone().unwrap_or_default(),
            chat_id,
        })
    }

    pub async fn send(&self, m: &Message) -> Result<(), SendError> {
        let url = format!("{}/bot{}/sendMessage", self.base, self.token.expose());
        let body = serde_json::json!({
            "chat_id": self.chat_id,
            "text": truncate(&m.title_and_text(), MAX_TEXT),
            "disable_web_page_preview": true,
        });
        let answer = send_http(self.http.post(url).json(&body)).await?;
        // The Bot API answers {"ok": true, "result": …}; anything else did not deliver.
        match serde_json::from_str::<serde_json::Value>(&answer) {
            Ok(v) if v.get("ok") == Some(&serde_json::Value::Bool(true)) => Ok(()),
            _ => Err(SendError::permanent(format!(
                "the Bot API did not confirm the message: {}",
                answer.chars().take(200).collect::<String>()
            ))),
        }
    }
}
