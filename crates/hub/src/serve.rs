//! Running the hub: the API on its socket and the background tasks.

use crate::Hub;
use crate::store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often host statuses are re-judged.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

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
    let app = crate::api::router(hub).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    heartbeat.abort();
    compactor.abort();
    scores.abort();
    digest.abort();
    alerts.abort();
    notifications.abort();
    live.abort();
    recent.abort();
    result
}
