//! The hub's shared state: configuration, store, per-host rate limits, the clock.

use crate::config::HubConfig;
use crate::rate::RateLimiter;
use crate::store::Store;
use std::sync::Arc;

/// Everything a request handler or background task needs. Shared as `Arc<Hub<S>>`.
#[derive(Debug)]
pub struct Hub<S> {
    pub config: HubConfig,
    pub store: S,
    pub rate: RateLimiter,
    /// A host's latest state or status changed: published once ingest is durable and on
    /// heartbeat status changes. The dashboard's live view listens; anyone may subscribe.
    pub updates: tokio::sync::broadcast::Sender<HostUpdate>,
    /// The dashboard's state: login limits, sparklines, the live row feed.
    pub web: crate::web::WebState,
}

/// Something about a host changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostUpdate {
    pub host: crate::store::HostId,
}

impl<S: Store> Hub<S> {
    pub fn new(config: HubConfig, store: S) -> Arc<Hub<S>> {
        let rate = RateLimiter::per_minute(config.ingest.requests_per_minute);
        let (updates, _) = tokio::sync::broadcast::channel(4096);
        Arc::new(Hub {
            config,
            store,
            rate,
            updates,
            web: crate::web::WebState::new(),
        })
    }
}

/// Now, unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
