//! The overview's live feed. One task listens to `Hub::updates`, coalesces what changed over
//! at most one second, renders those hosts' rows once, and broadcasts them; each browser
//! holds a server-sent-events stream (`/events/fleet`) that forwards the batches.

use super::overview::{Row, RowFragment};
use crate::api::query::Figures;
use crate::hub::{Hub, now_ms};
use crate::store::{HostId, Store};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// At most one push per this long, carrying every row that changed meanwhile.
pub const COALESCE: Duration = Duration::from_secs(1);

/// Runs until dropped, following updates.
pub async fn run<S: Store>(hub: Arc<Hub<S>>) {
    let mut updates = hub.updates.subscribe();
    loop {
        let mut changed = HashSet::new();
        let mut all = false;
        match updates.recv().await {
            Ok(u) => {
                changed.insert(u.host);
            }
            Err(RecvError::Lagged(_)) => all = true,
            Err(RecvError::Closed) => break,
        }
        tokio::time::sleep(COALESCE).await;
        loop {
            match updates.try_recv() {
                Ok(u) => {
                    changed.insert(u.host);
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => all = true,
                Err(_) => break,
            }
        }
        // Rendering rows nobody will see would cost a row per report.
        if hub.web.rows.receiver_count() == 0 {
            continue;
        }
        if let Err(e) = publish(&hub, if all { None } else { Some(&changed) }).await {
            tracing::warn!(error = %e, "live overview update failed");
        }
    }
}

/// Broadcasts the changed hosts' rendered rows (every host's with `None`). Returns the message,
/// also when nobody listens.
pub async fn publish<S: Store>(
    hub: &Hub<S>,
    changed: Option<&HashSet<HostId>>,
) -> Result<Arc<str>, crate::store::StoreError> {
    let now = now_ms();
    let hosts = hub.store.hosts().await?;
    let mut rows = Vec::new();
    for host in hosts
        .iter()
        .filter(|h| changed.is_none_or(|c| c.contains(&h.id)))
    {
        let figures = match hub.store.latest(host.id).await? {
            Some(report) => Figures::of(&report),
            None => Figures::default(),
        };
        // A host new to the hub gets its first score now rather than at the next pass.
        if hub.scores.get(&host.name).is_none()
            && let Err(e) = crate::score::compute(hub, host, now).await
        {
            tracing::warn!(host = %host.name, error = %e, "scoring a new host failed");
        }
        let mut row = [Row::build(
            host,
            &figures,
            super::sparkline::cpu(&hub.recent, host.id, now),
            now,
        )];
        super::overview::enrich(hub, &mut row);
        let [row] = row;
        let fragment = RowFragment {
            row: &row,
            show_alerts: true,
            show_score: true,
        };
        let html = fragment.render().unwrap_or_default();
        rows.push(serde_json::json!({
            "name": row.name,
            "status": row.status(),
            "rank": row.rank,
            "html": html,
        }));
    }
    // The header's fleet score and alert counts travel with every batch.
    let summary = super::overview::FleetSummary::of(hub);
    let message: Arc<str> = serde_json::json!({ "at": now, "rows": rows, "summary": summary })
        .to_string()
        .into();
    let _ = hub.web.rows.send(message.clone());
    Ok(message)
}

/// `GET /events/fleet`: row updates as `rows` events for a logged-in dashboard (or a token).
pub async fn fleet<S: Store>(State(hub): State<Arc<Hub<S>>>, headers: HeaderMap) -> Response {
    if crate::api::auth::client(&hub, &headers, crate::store::Role::Viewer)
        .await
        .is_err()
    {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    let rows = tokio_stream_from(hub.web.rows.subscribe());
    let hello = futures_util::stream::once(async {
        Ok::<_, std::convert::Infallible>(Event::default().event("hello").data("live"))
    });
    Sse::new(hello.chain(rows))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The broadcast as a stream of SSE events; a slow client that missed batches is told to
/// reload instead of silently showing stale rows.
fn tokio_stream_from(
    rx: tokio::sync::broadcast::Receiver<Arc<str>>,
) -> impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(msg) => Event::default().event("rows").data(&*msg),
            Err(RecvError::Lagged(_)) => Event::default().event("reload").data("lagged"),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    })
}
