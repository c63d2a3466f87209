//! The hub's shared state: configuration, store, per-host rate limits, the clock.

use crate::alert::{AlertEngine, LogNotifier, NoProjection, Projection};
use crate::config::HubConfig;
use crate::notice::Notifier;
use crate::rate::RateLimiter;
use crate::store::Store;
use std::sync::Arc;

/// Everything a request handler or background task needs. Shared as `Arc<Hub<S>>`.
#[derive(Debug)]
pub struct Hub<S> {
    pub config: HubConfig,
    pub store: S,
    pub rate: RateLimiter,
    /// The alert engine, with the notifier it hands notices to.
    pub alerts: AlertEngine,
}

impl<S: Store> Hub<S> {
    /// A hub whose alerts only go to the log.
    pub fn new(config: HubConfig, store: S) -> Arc<Hub<S>> {
        Self::with_alerting(config, store, Arc::new(LogNotifier), Arc::new(NoProjection))
    }

    /// A hub whose alerts go to `notifier`, with filesystem projections from `projection`.
    pub fn with_alerting(
        config: HubConfig,
        store: S,
        notifier: Arc<dyn Notifier>,
        projection: Arc<dyn Projection>,
    ) -> Arc<Hub<S>> {
        let rate = RateLimiter::per_minute(config.ingest.requests_per_minute);
        let alerts = AlertEngine::from_config(
            &config.alerts,
            notifier,
            projection,
            config.server.public_url.clone(),
        );
        Arc::new(Hub {
            config,
            store,
            rate,
            alerts,
        })
    }
}

/// Now, unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
