//! The agents' remote-command audit entries, which ride on their reports (`Report::audit`):
//! stored once per report position, bounded per host, listed for admins on the Commands page
//! and `GET /api/v1/hosts/{name}/audit`; refusals also become `command_refused` host events.

use crate::store::{HostId, Store, StoreError};
use hostwatch_proto::{AuditEntry, Report};

/// Entries older than this are dropped (unix ms).
pub const KEEP_MS: i64 = 90 * 24 * 3_600_000;
/// At most this many entries per host are kept, the newest.
pub const KEEP_PER_HOST: u32 = 5_000;

/// One entry as it arrived, with where it sits: `(instance_id, seq, position)` is unique.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    pub instance_id: String,
    pub seq: u64,
    pub position: u32,
    pub entry: AuditEntry,
}

/// Takes the audit entries out of `report` (the stored latest state never holds them).
pub fn take_from(report: &mut Report) -> Vec<Forwarded> {
    std::mem::take(&mut report.audit)
        .into_iter()
        .enumerate()
        .map(|(i, entry)| Forwarded {
            instance_id: report.agent.instance_id.clone(),
            seq: report.seq,
            position: i as u32,
            entry,
        })
        .collect()
}

/// `restart ["nginx"]`, for event messages.
pub fn describe(command: &str, params: &[String]) -> String {
    if params.is_empty() {
        format!("`{command}`")
    } else {
        format!(
            "`{command}` {}",
            serde_json::to_string(params).unwrap_or_default()
        )
    }
}

/// The `command_refused` event message of a refused entry.
pub fn refused_message(host: &str, e: &AuditEntry) -> String {
    format!(
        "{} refused on {host} (request `{}` over {}): {}",
        describe(&e.command, &e.params),
        e.request_id,
        e.origin,
        e.reason.as_deref().unwrap_or("no reason given")
    )
}

/// Stores what `host` forwarded (once each, however often its report arrives) and applies
/// the retention.
pub async fn record<S: Store>(
    store: &S,
    host: HostId,
    host_name: &str,
    forwarded: Vec<Forwarded>,
    now: i64,
) -> Result<usize, StoreError> {
    if forwarded.is_empty() {
        return Ok(0);
    }
    store
        .record_audit(
            host,
            host_name.to_string(),
            forwarded,
            now - KEEP_MS,
            KEEP_PER_HOST,
        )
        .await
}
