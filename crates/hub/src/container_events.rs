//! The containers watchdog's restarts, recorded as host events so they show in the event log.
//!
//! A report can arrive twice (a retry after a lost reply, a spool backfill); the store keeps
//! it once but the events are written here, so an action already logged (same host, time,
//! kind and message) is skipped. The lookup reads only the events in the actions' own time
//! span: a report that carries an old action (an agent's spool backfilled days later) must not
//! read the host's whole event log.

use crate::store::{EventQuery, HostId, Store, StoreError};
use hostwatch_proto::sections::{WatchdogAction, WatchdogResult};
use hostwatch_proto::{Report, Section};

/// The watchdog actions a report carries.
pub fn actions(report: &Report) -> impl Iterator<Item = &WatchdogAction> {
    match &report.sections.containers {
        Some(Section::Ok(c)) => c.watchdog_actions.iter(),
        _ => [].iter(),
    }
}

/// The event kind and message of one action.
pub fn event(a: &WatchdogAction) -> (&'static str, String) {
    match a.result {
        WatchdogResult::Restarted => (
            "container_restarted",
            format!(
                "container {} ({}) restarted by the watchdog: {}",
                a.container, a.container_id, a.reason
            ),
        ),
        _ => (
            "container_restart_failed",
            format!(
                "the watchdog could not restart container {} ({}): {} ({})",
                a.container,
                a.container_id,
                a.error.as_deref().unwrap_or("no reason given"),
                a.reason
            ),
        ),
    }
}

/// Records each action as an event of `host`, once.
pub async fn record<S: Store>(
    store: &S,
    host: HostId,
    actions: Vec<WatchdogAction>,
) -> Result<(), StoreError> {
    let (Some(since), Some(until)) = (
        actions.iter().map(|a| a.at).min(),
        actions.iter().map(|a| a.at).max(),
    ) else {
        return Ok(());
    };
    let existing = store
        .events(EventQuery {
            host: Some(host),
            since: Some(since),
            until: Some(until),
            limit: 10_000,
        })
        .await?;
    for a in &actions {
        let (kind, message) = event(a);
        let logged = existing
            .iter()
            .any(|e| e.at == a.at && e.kind == kind && e.message == message);
        if !logged {
            store.record_event(Some(host), a.at, kind, message).await?;
        }
    }
    Ok(())
}
