//! Remote commands in SQLite (migration V7).

use super::{SqliteStore, db, insert_event};
use crate::store::{CommandRecord, CommandState, HostId, NewCommand, ResultOutcome, StoreError};
use hostwatch_proto::{CommandResult, SignedCommand};
use rusqlite::{Connection, OptionalExtension, params};

const COLUMNS: &str = "c.request_id, h.name, c.command, c.params, c.requested_by, c.requested_at, \
     c.expires_at, c.state, c.sent_at, c.finished_at, c.result";

fn record(r: &rusqlite::Row<'_>, now: i64) -> rusqlite::Result<CommandRecord> {
    let params: String = r.get(3)?;
    let expires_at: i64 = r.get(6)?;
    let state: String = r.get(7)?;
    let result: Option<String> = r.get(10)?;
    let mut state = CommandState::parse(&state).unwrap_or(CommandState::Expired);
    if state == CommandState::Queued && expires_at <= now {
        state = CommandState::Expired;
    }
    Ok(CommandRecord {
        request_id: r.get(0)?,
        host: r.get(1)?,
        command: r.get(2)?,
        // A damaged row still shows, without its parameters or result.
        params: serde_json::from_str(&params).unwrap_or_default(),
        requested_by: r.get(4)?,
        requested_at: r.get(5)?,
        expires_at,
        state,
        sent_at: r.get(8)?,
        finished_at: r.get(9)?,
        result: result.and_then(|t| serde_json::from_str(&t).ok()),
    })
}

/// `restart ["nginx"]` for event messages.
fn describe(command: &str, params: &[String]) -> String {
    if params.is_empty() {
        format!("`{command}`")
    } else {
        format!(
            "`{command}` {}",
            serde_json::to_string(params).unwrap_or_default()
        )
    }
}

fn by_id(c: &Connection, request_id: &str, now: i64) -> Result<Option<CommandRecord>, StoreError> {
    c.query_row(
        &format!(
            "SELECT {COLUMNS} FROM commands c JOIN hosts h ON h.id = c.host_id WHERE c.request_id = ?1"
        ),
        [request_id],
        |r| record(r, now),
    )
    .optional()
    .map_err(db)
}

impl SqliteStore {
    pub(super) async fn queue_command_impl(&self, command: NewCommand) -> Result<(), StoreError> {
        self.write(move |c| {
            let s = &command.signed;
            let params = serde_json::to_string(&s.params)
                .map_err(|e| StoreError::Database(format!("encoding parameters: {e}")))?;
            c.execute(
                "INSERT INTO commands (request_id, host_id, command, params, requested_by,
                     requested_at, expires_at, signature, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued')",
                params![
                    s.request_id,
                    command.host,
                    s.command,
                    params,
                    command.requested_by,
                    command.requested_at,
                    s.expires_at,
                    s.signature
                ],
            )
            .map_err(|e| match db(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("request `{}`", s.request_id))
                }
                other => other,
            })?;
            insert_event(
                c,
                Some(command.host),
                command.requested_at,
                "command_requested",
                &format!(
                    "{} requested {} ({})",
                    command.requested_by,
                    describe(&s.command, &s.params),
                    s.request_id
                ),
            )
        })
        .await
    }

    pub(super) async fn hosts_with_queued_commands_impl(&self) -> Result<Vec<HostId>, StoreError> {
        self.read(|c| {
            let mut s = c
                .prepare_cached("SELECT DISTINCT host_id FROM commands WHERE state = 'queued'")
                .map_err(db)?;
            s.query_map([], |r| r.get(0))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
        .await
    }

    pub(super) async fn take_commands_impl(
        &self,
        host: HostId,
        now: i64,
    ) -> Result<Vec<SignedCommand>, StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE commands SET state = 'expired'
                 WHERE host_id = ?1 AND state = 'queued' AND expires_at <= ?2",
            )
            .and_then(|mut s| s.execute(params![host, now]))
            .map_err(db)?;
            let mut s = c
                .prepare_cached(
                    "SELECT request_id, command, params, expires_at, signature FROM commands
                     WHERE host_id = ?1 AND state = 'queued' ORDER BY requested_at, id",
                )
                .map_err(db)?;
            let taken = s
                .query_map([host], |r| {
                    let params: String = r.get(2)?;
                    Ok(SignedCommand {
                        request_id: r.get(0)?,
                        command: r.get(1)?,
                        params: serde_json::from_str(&params).unwrap_or_default(),
                        expires_at: r.get(3)?,
                        signature: r.get(4)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            c.prepare_cached(
                "UPDATE commands SET state = 'sent', sent_at = ?2
                 WHERE host_id = ?1 AND state = 'queued'",
            )
            .and_then(|mut s| s.execute(params![host, now]))
            .map_err(db)?;
            Ok(taken)
        })
        .await
    }

    pub(super) async fn finish_command_impl(
        &self,
        host: HostId,
        result: CommandResult,
        now: i64,
    ) -> Result<ResultOutcome, StoreError> {
        self.write(move |c| {
            let row: Option<(HostId, String, String)> = c
                .query_row(
                    "SELECT host_id, state, command FROM commands WHERE request_id = ?1",
                    [&result.request_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((owner, state, command)) = row else {
                return Ok(ResultOutcome::Unknown);
            };
            if owner != host {
                return Ok(ResultOutcome::OtherHost);
            }
            if state == CommandState::Done.as_str() {
                return Ok(ResultOutcome::Duplicate);
            }
            let json = serde_json::to_string(&result)
                .map_err(|e| StoreError::Database(format!("encoding a result: {e}")))?;
            c.execute(
                "UPDATE commands SET state = 'done', finished_at = ?2, result = ?3
                 WHERE request_id = ?1",
                params![result.request_id, now, json],
            )
            .map_err(db)?;
            let outcome = if result.ok {
                format!("exit 0{}", duration(&result))
            } else {
                let why = result.error.as_deref().unwrap_or("failed");
                match result.exit_code {
                    Some(code) => format!("exit {code}{}: {why}", duration(&result)),
                    None => format!("not run: {why}"),
                }
            };
            insert_event(
                c,
                Some(host),
                now,
                "command_finished",
                &format!("`{command}` ({}) {outcome}", result.request_id),
            )?;
            let stored = by_id(c, &result.request_id, now)?
                .ok_or_else(|| StoreError::Database("the command row vanished".into()))?;
            Ok(ResultOutcome::Stored(Box::new(stored)))
        })
        .await
    }

    pub(super) async fn commands_impl(
        &self,
        host: HostId,
        now: i64,
        limit: u32,
    ) -> Result<Vec<CommandRecord>, StoreError> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM commands c JOIN hosts h ON h.id = c.host_id
                     WHERE c.host_id = ?1 ORDER BY c.requested_at DESC, c.id DESC LIMIT ?2"
                ))
                .map_err(db)?;
            s.query_map(params![host, limit], |r| record(r, now))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
        .await
    }
}

fn duration(r: &CommandResult) -> String {
    r.duration_ms
        .map(|ms| format!(" in {ms} ms"))
        .unwrap_or_default()
}
