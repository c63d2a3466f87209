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
    /// Where alert notices and digests go (see `notify`); its task is started by `serve`.
    pub notify: Arc<crate::notify::Dispatcher>,
    /// A host's latest state or status changed: published once ingest is durable and on
    /// heartbeat status changes. The dashboard's live view listens; anyone may subscribe.
    pub updates: tokio::sync::broadcast::Sender<HostUpdate>,
    /// The dashboard's state: login limits, sparklines, the live row feed.
    pub web: crate::web::WebState,
    /// Which hosts may have remote commands waiting (saves a write per report).
    pub pending_commands: crate::commands::PendingCommands,
    /// Every host's last hour of CPU and memory, a point a minute, recorded at ingest.
    pub recent: crate::recent::Recent,
    /// One permit per ingest request in flight (`[ingest] max_in_flight`).
    pub ingest_slots: tokio::sync::Semaphore,
}

/// Something about a host changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostUpdate {
    pub host: crate::store::HostId,
}

impl<S: Store> Hub<S> {
    /// A hub whose alerts and digests go through the channels of its `[notify]` config, or
    /// only to the log when it has none.
    pub fn new(config: HubConfig, store: S) -> Arc<Hub<S>> {
        let dispatcher = crate::notify::Dispatcher::new();
        let notifier: Arc<dyn Notifier> = if config.notify.channels.is_empty() {
            Arc::new(LogNotifier)
        } else {
            dispatcher.clone()
        };
        Self::build(config, store, notifier, None, dispatcher)
    }

    /// A hub whose alerts and digests go to `notifier`; filesystem projections come from the
    /// trend fit over the store's history.
    pub fn with_notifier(config: HubConfig, store: S, notifier: Arc<dyn Notifier>) -> Arc<Hub<S>> {
        Self::build(
            config,
            store,
            notifier,
            None,
            crate::notify::Dispatcher::new(),
        )
    }

    /// [`Hub::with_notifier`] with the projections of `projection` (tests fake them).
    pub fn with_alerting(
        config: HubConfig,
        store: S,
        notifier: Arc<dyn Notifier>,
        projection: Arc<dyn Projection>,
    ) -> Arc<Hub<S>> {
        let dispatcher = crate::notify::Dispatcher::new();
        Self::build(config, store, notifier, Some(projection), dispatcher)
    }

    /// Without a `projection`, filesystem projections come from the trend fit over the store.
    fn build(
        config: HubConfig,
        store: S,
        notifier: Arc<dyn Notifier>,
        projection: Option<Arc<dyn Projection>>,
        dispatcher: Arc<crate::notify::Dispatcher>,
    ) -> Arc<Hub<S>> {
        let projection = projection.unwrap_or_else(|| {
            Arc::new(crate::trend::StoreProjection::new(
                store.clone(),
                config.trend.clone(),
            ))
        });
        let rate = RateLimiter::per_minute(config.ingest.requests_per_minute);
        let ingest_slots = tokio::sync::Semaphore::new(config.ingest.max_in_flight);
        let alerts = AlertEngine::from_config(
            &config.alerts,
            notifier.clone(),
            projection,
            config.server.public_url.clone(),
        );
        let (updates, _) = tokio::sync::broadcast::channel(4096);
        Arc::new(Hub {
            config,
            store,
            rate,
            scores: crate::score::ScoreCache::default(),
            notifier: NotifierHandle(notifier),
            alerts,
            notify: dispatcher,
            updates,
            web: crate::web::WebState::new(),
            pending_commands: crate::commands::PendingCommands::default(),
            recent: crate::recent::Recent::default(),
            ingest_slots,
        })
    }
}

/// Now, unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
