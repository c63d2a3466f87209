//! Running the hub: the API on its socket and the background tasks.

use crate::Hub;
use crate::store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often host statuses are re-judged.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// How long a stopping hub waits for the requests in flight, and then for saving the latest
/// state; a hub must stop within seconds however loaded it is.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often closed hours are looked for and compacted.
pub const COMPACT_EVERY: Duration = Duration::from_secs(60);

/// Serves on an already-bound listener until `shutdown` completes.
pub async fn serve<S: Store>(
    hub: Arc<Hub<S>>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let heartbeat = tokio::spawn(crate::heartbeat::run(hub.clone(), HEARTBEAT_EVERY));
    let compactor = tokio::spawn(crate::compact::run(hub.clone(), COMPACT_EVERY));
    let scores = tokio::spawn(crate::score::run(hub.clone()));
    let digest = tokio::spawn(crate::digest::run(hub.clone(), hub.notifier.0.clone()));
    let alerts = tokio::spawn(crate::alert::run(hub.clone()));
    let notifications = tokio::spawn(crate::notify::run(hub.clone()));
    let live = tokio::spawn(crate::web::live::run(hub.clone()));
    let recent = tokio::spawn(crate::recent::backfill(hub.clone()));
    let latest = tokio::spawn(flush_latest(hub.clone()));
    let app = crate::api::router(hub.clone())
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Once `shutdown` fires, requests in flight get `STOP_GRACE` to finish; past it the hub
    // stops without them. That loses nothing acknowledged: a report is answered only after its
    // commit, and an agent resends what was not answered.
    let (fired, stopping) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("stopping: no new connections, finishing the requests in flight");
        let _ = fired.send(());
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    let grace_over = async {
        if stopping.await.is_ok() {
            tokio::time::sleep(STOP_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        result = server => result,
        () = grace_over => {
            tracing::warn!(
                seconds = STOP_GRACE.as_secs(),
                "requests still in flight; stopping without them (unanswered, so their agents resend them)"
            );
            Ok(())
        }
    };
    heartbeat.abort();
    compactor.abort();
    scores.abort();
    digest.abort();
    alerts.abort();
    notifications.abort();
    live.abort();
    recent.abort();
    latest.abort();
    // Every acknowledged report is in the report log already; this saves the next start
    // from replaying the last minute of it.
    // Bounded too: behind a long queue of writes it is skipped, and the next start rebuilds
    // the state from the report log instead.
    match tokio::time::timeout(STOP_GRACE, hub.store.flush_latest(true)).await {
        Ok(Ok(n)) => tracing::info!(hosts = n, "latest state saved"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "saving the latest state failed; the next start rebuilds it from the report log")
        }
        Err(_) => tracing::warn!(
            "saving the latest state took too long; the next start rebuilds it from the report log"
        ),
    }
    result
}

/// Writes the stored latest state of hosts that stopped reporting since it changed (hosts
/// that keep reporting have theirs written by ingest, at most once a minute).
async fn flush_latest<S: Store>(hub: Arc<Hub<S>>) {
    let mut every = tokio::time::interval(crate::store::LATEST_WRITE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = hub.store.flush_latest(false).await {
            tracing::warn!(error = %e, "saving the latest state failed");
        }
    }
}
