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
    /// The latest health score of every host, recomputed in the background.
    pub scores: crate::score::ScoreCache,
    /// Where alerts and the weekly digest go.
    pub notifier: crate::notice::NotifierHandle,
}

impl<S: Store> Hub<S> {
    pub fn new(config: HubConfig, store: S) -> Arc<Hub<S>> {
        Self::with_notifier(config, store, Arc::new(crate::notice::LogNotifier))
    }

    /// A hub whose alerts and digests go to `notifier`.
    pub fn with_notifier(
        config: HubConfig,
        store: S,
        notifier: Arc<dyn crate::notice::Notifier>,
    ) -> Arc<Hub<S>> {
        let rate = RateLimiter::per_minute(config.ingest.requests_per_minute);
        Arc::new(Hub {
            config,
            store,
            rate,
            scores: crate::score::ScoreCache::default(),
            notifier: crate::notice::NotifierHandle(notifier),
        })
    }
}

/// Now, unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
