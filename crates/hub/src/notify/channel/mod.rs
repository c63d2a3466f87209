//! The channels, each speaking its service's own wire format. A send is one attempt; the
//! dispatcher retries what [`SendError::retry`] says may succeed later.

mod discord;
mod email;
mod gotify;
mod mattermost;
mod ntfy;
mod slack;
mod telegram;
mod webhook;

pub use webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};

use super::config::{ChannelConfig, ChannelType};
use super::message::Message;
use std::time::Duration;

/// Why a send failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    pub retry: Retry,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retry {
    /// The request was wrong (4xx): the same request will fail again.
    Never,
    /// A server error, timeout or lost connection; or a rate limit that said how long to wait.
    Later(Option<Duration>),
}

impl SendError {
    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            retry: Retry::Never,
        }
    }

    pub fn transient(message: impl Into<String>, after: Option<Duration>) -> SendError {
        SendError {
            message: message.into(),
            retry: Retry::Later(after),
        }
    }
}

/// A configured channel, ready to send.
#[derive(Debug)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelType,
    pub digest: bool,
    inner: Inner,
    /// Every secret value of its configuration, to scrub from any error text.
    secrets: Vec<hostwatch_proto::Secret>,
}

#[derive(Debug)]
enum Inner {
    Telegram(telegram::Telegram),
    Webhook(webhook::Webhook),
    Slack(slack::Slack),
    Discord(discord::Discord),
    Mattermost(mattermost::Mattermost),
    Ntfy(ntfy::Ntfy),
    Gotify(gotify::Gotify),
    Email(email::Email),
}

impl Channel {
    /// Builds a channel from its validated configuration.
    pub fn build(
        config: &ChannelConfig,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Channel, String> {
        let http = http.clone();
        let inner = match config.kind {
            ChannelType::Telegram => Inner::Telegram(telegram::Telegram::new(config, http)?),
            ChannelType::Webhook => Inner::Webhook(webhook::Webhook::new(config, http)?),
            ChannelType::Slack => Inner::Slack(slack::Slack::new(config, http)?),
            ChannelType::Discord => Inner::Discord(discord::Discord::new(config, http)?),
            ChannelType::Mattermost => {
                Inner::Mattermost(mattermost::Mattermost::new(config, http)?)
            }
            ChannelType::Ntfy => Inner::Ntfy(ntfy::Ntfy::new(config, http)?),
            ChannelType::Gotify => Inner::Gotify(gotify::Gotify::new(config, http)?),
            ChannelType::Email => Inner::Email(email::Email::new(config, timeout)?),
        };
        let secrets = [
            &config.bot_token,
            &config.url,
            &config.hmac_key,
            &config.token,
            &config.smtp_password,
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
        Ok(Channel {
            name: config.name.clone(),
            kind: config.kind,
            digest: config.digest,
            inner,
            secrets,
        })
    }

    /// One attempt. The error's text is already scrubbed of this channel's secrets.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let result = match &self.inner {
            Inner::Telegram(c) => c.send(message).await,
            Inner::Webhook(c) => c.send(message).await,
            Inner::Slack(c) => c.send(message).await,
            Inner::Discord(c) => c.send(message).await,
            Inner::Mattermost(c) => c.send(message).await,
            Inner::Ntfy(c) => c.send(message).await,
            Inner::Gotify(c) => c.send(message).await,
            Inner::Email(c) => c.send(message).await,
        };
        result.map_err(|e| SendError {
            message: self.redact(&e.message),
            retry: e.retry,
        })
    }

    /// `text` with every secret of this channel replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            // Also the pieces of a URL-shaped secret: a path or token may be quoted alone.
            let value = s.expose();
            out = out.replace(value, "[redacted]");
            if let Some(rest) = value.split_once("://").map(|(_, r)| r)
                && let Some((_, path)) = rest.split_once('/')
                && path.len() >= 8
            {
                out = out.replace(path, "[redacted]");
            }
        }
        out
    }
}

/// The HTTP client every channel shares.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    // reqwest (built without a provider of its own) panics without a process-wide one; the
    // binary installs ring in `main`, and this covers every other caller. A no-op when set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("hostwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))
}

/// Sends a request and judges the answer: 2xx is done; 429 and 5xx, timeouts and connection
/// errors may succeed later (429 with its `Retry-After`); any other 4xx will not. Returns the
/// body of a success.
pub(crate) async fn send_http(request: reqwest::RequestBuilder) -> Result<String, SendError> {
    let response = request.send().await.map_err(|e| {
        // The URL may hold a token: never part of the message.
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        SendError::transient(text, None)
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(body);
    }
    let shown: String = body.chars().take(300).collect();
    let message = format!("HTTP {}: {}", status.as_u16(), shown.trim());
    if status.as_u16() == 429 {
        // Some services (Telegram, Discord) say it in the body.
        let in_body = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.pointer("/parameters/retry_after")
                    .or_else(|| v.get("retry_after"))
                    .and_then(|s| s.as_f64())
            });
        let after = retry_after.or_else(|| {
            in_body
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
        });
        Err(SendError::transient(message, after))
    } else if status.is_server_error() || status.as_u16() == 408 {
        Err(SendError::transient(message, None))
    } else {
        Err(SendError::permanent(message))
    }
}
