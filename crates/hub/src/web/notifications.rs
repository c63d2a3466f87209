//! The admins' notification settings (`/admin/notifications`): the configured channels by
//! name and type — never their secrets (tokens, webhook URLs, keys, passwords: none of those
//! fields is read here) — a "send test" button per channel (POST
//! `/api/v1/notify/test/{channel}` from alerts.js), and the delivery log.

use super::format;
use super::{Viewer, render, require};
use crate::hub::Hub;
use crate::notify::config::ChannelConfig;
use crate::store::{DeliveryQuery, DeliveryStatus, Role, Store};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use std::sync::Arc;

/// How many deliveries the page lists.
pub const DELIVERIES_SHOWN: u32 = 100;

/// A channel as admins see it: only what is not a secret.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub name: String,
    pub kind: &'static str,
    /// Plain settings worth knowing: quiet hours, whether the digest and resolves go here.
    pub settings: String,
}

impl ChannelRow {
    /// Reads only the name, type and scheduling keys of `c`; the secret-bearing keys
    /// (`bot_token`, `url`, `hmac_key`, `token`, `smtp_password`) and addresses that may embed
    /// one (`server`, `topic`, `api_base`, `chat_id`) are left alone on purpose.
    pub fn of(c: &ChannelConfig) -> ChannelRow {
        let mut settings = Vec::new();
        if let Some(q) = &c.quiet_hours {
            settings.push(format!(
                "quiet {q}{}",
                c.time_zone
                    .as_deref()
                    .map_or(String::new(), |z| format!(" ({z})"))
            ));
        }
        settings.push(if c.digest { "digest" } else { "no digest" }.to_string());
        if c.send_resolved == Some(false) {
            settings.push("no resolves".into());
        }
        ChannelRow {
            name: c.name.clone(),
            kind: c.kind.as_str(),
            settings: settings.join(", "),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub at_ms: i64,
    pub at: String,
    pub channel: String,
    pub kind: String,
    pub title: String,
    pub ok: bool,
    pub status: &'static str,
    pub attempts: u32,
    pub error: String,
}

#[derive(Debug, Template)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    pub viewer: Viewer,
    pub channels: Vec<ChannelRow>,
    pub deliveries: Vec<DeliveryRow>,
}

pub async fn page<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let session = match require(&hub, &headers, &uri, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = DeliveryQuery {
        channel: None,
        since: None,
        limit: DELIVERIES_SHOWN,
    };
    let deliveries = match hub.store.deliveries(query).await {
        Ok(d) => d,
        Err(e) => return super::unavailable(&e),
    };
    render(&NotificationsPage {
        viewer: (&session).into(),
        channels: hub
            .config
            .notify
            .channels
            .iter()
            .map(ChannelRow::of)
            .collect(),
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryRow {
                at_ms: d.at,
                at: format::time(d.at),
                ok: d.status == DeliveryStatus::Delivered,
                status: d.status.as_str(),
                channel: d.channel,
                kind: d.kind,
                title: d.title,
                attempts: d.attempts,
                error: d.error.unwrap_or_default(),
            })
            .collect(),
    })
}
