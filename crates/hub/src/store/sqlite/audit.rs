//! The agents' audit entries in SQLite (migration V9).

use super::{SqliteStore, db, insert_event};
use crate::audit::Forwarded;
use crate::store::{HostId, StoreError};
use hostwatch_proto::{AuditEntry, AuditOutcome};
use rusqlite::params;

impl SqliteStore {
    pub(super) async fn record_audit_impl(
        &self,
        host: HostId,
        host_name: String,
        forwarded: Vec<Forwarded>,
        keep_since: i64,
        keep_max: u32,
    ) -> Result<usize, StoreError> {
        self.write(move |c| {
            let mut stored = 0;
            let mut insert = c
                .prepare_cached(
                    "INSERT INTO audit (host_id, instance_id, seq, position, at, origin, request_id,
                         command, params, outcome, ok, exit_code, reason, duration_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                     ON CONFLICT DO NOTHING",
                )
                .map_err(db)?;
            for f in &forwarded {
                let e = &f.entry;
                if e.at < keep_since {
                    continue;
                }
                let params_json = serde_json::to_string(&e.params)
                    .map_err(|e| StoreError::Database(format!("encoding parameters: {e}")))?;
                let n = insert
                    .execute(params![
                        host,
                        f.instance_id,
                        f.seq as i64,
                        f.position,
                        e.at,
                        e.origin,
                        e.request_id,
                        e.command,
                        params_json,
                        e.outcome.as_str(),
                        e.ok,
                        e.exit_code,
                        e.reason,
                        e.duration_ms.map(|d| d as i64),
                    ])
                    .map_err(db)?;
                if n == 0 {
                    continue;
                }
                stored += 1;
                if e.outcome == AuditOutcome::Refused {
                    let message = crate::audit::refused_message(&host_name, e);
                    insert_event(c, Some(host), e.at, "command_refused", &message)?;
                }
            }
            c.prepare_cached(
                "DELETE FROM audit WHERE host_id = ?1 AND (at < ?2 OR id IN (
                     SELECT id FROM audit WHERE host_id = ?1
                     ORDER BY at DESC, id DESC LIMIT -1 OFFSET ?3))",
            )
            .and_then(|mut s| s.execute(params![host, keep_since, keep_max]))
            .map_err(db)?;
            Ok(stored)
        })
        .await
    }

    pub(super) async fn audit_impl(
        &self,
        host: HostId,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT at, origin, request_id, command, params, outcome, ok, exit_code,
                         reason, duration_ms
                     FROM audit WHERE host_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
                )
                .map_err(db)?;
            s.query_map(params![host, limit], |r| {
                let params: String = r.get(4)?;
                let outcome: String = r.get(5)?;
                let duration: Option<i64> = r.get(9)?;
                Ok(AuditEntry {
                    at: r.get(0)?,
                    origin: r.get(1)?,
                    request_id: r.get(2)?,
                    command: r.get(3)?,
                    // A damaged row still shows, without its parameters.
                    params: serde_json::from_str(&params).unwrap_or_default(),
                    outcome: if outcome == "ran" {
                        AuditOutcome::Ran
                    } else {
                        AuditOutcome::Refused
                    },
                    ok: r.get(6)?,
                    exit_code: r.get(7)?,
                    reason: r.get(8)?,
                    duration_ms: duration.map(|d| d.max(0) as u64),
                })
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)
        })
        .await
    }
}
