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
    /// Where alert notices and digests go (see `notify`); its task is started by `serve`.
    pub notify: Arc<crate::notify::Dispatcher>,
}

impl<S: Store> Hub<S> {
    pub fn new(config: HubConfig, store: S) -> Arc<Hub<S>> {
        let rate = RateLimiter::per_minute(config.ingest.requests_per_minute);
        Arc::new(Hub {
            config,
            store,
            rate,
            notify: crate::notify::Dispatcher::new(),
        })
    }
}

/// Now, unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
