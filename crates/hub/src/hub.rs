//! The hub's shared state: configuration, store, per-host rate limits, alerting, the clock.

use crate::alert::{AlertEngine, Projection};
use crate::config::HubConfig;
use crate::notice::{LogNotifier, Notifier, NotifierHandle};
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
    pub notifier: NotifierHandle,
    /// The alert engine, with the notifier it hands notices to.
    pub alerts: AlertEngine,
}

impl<S: Store> Hub<S> {
    /// A hub whose alerts and digests only go to the log.
    pub fn new(config: HubConfig, store: S) -> Arc<Hub<S>> {
        Self::with_notifier(config, store, Arc::new(LogNotifier))
    }

    /// A hub whose alerts and digests go to `notifier`; filesystem projections come from the
    /// trend fit over the store's history.
    pub fn with_notifier(config: HubConfig, store: S, notifier: Arc<dyn Notifier>) -> Arc<Hub<S>> {
        let projection = Arc::new(crate::trend::StoreProjection::new(
            store.clone(),
            config.trend.clone(),
        ));
        Self::with_alerting(config, store, notifier, projection)
    }

    /// [`Hub::with_notifier`] with the projections of `projection` (tests fake them).
    pub fn with_alerting(
        config: HubConfig,
        store: S,
        notifier: Arc<dyn Notifier>,
        projection: Arc<dyn Projection>,
    ) -> Arc<Hub<S>> {
        let rate = RateLimiter::per_minute(config.ingest.requests_per_minute);
        let alerts = AlertEngine::from_config(
            &config.alerts,
            notifier.clone(),
            projection,
            config.server.public_url.clone(),
        );
        Arc::new(Hub {
            config,
            store,
            rate,
            scores: crate::score::ScoreCache::default(),
            notifier: NotifierHandle(notifier),
            alerts,
        })
    }
}

/// Now, unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
