//! Every host's latest merged state: kept in memory, written to the `latest` table at most once
//! a minute per host, and rebuilt exactly from that row plus the report log.
//!
//! Why: re-encoding and compressing the whole merged document (up to 20 KB with every
//! integration) on every report was a third of the writer thread's time at 1,000 reports/s.
//! The row is only the restart copy of the in-memory state; the report log (kept for hours)
//! holds everything acknowledged since it was written.
//!
//! What makes the rebuild exact: ingest merges a report into the state when it is not older
//! than the state (`merge`). When a report is older (a backfill, skipped) or exactly as old (a
//! tie), the row is written in the same transaction. So every report stored after the row was
//! written (or, before the first write, every report) is newer than the row and than every
//! report stored before it, and merging them in `collected_at` order repeats what ingest did,
//! report by report.

use super::{db, decode};
use crate::store::{HostId, StoreError, compress};
use hostwatch_proto::Report;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a host's row is rewritten at most while its reports keep coming.
pub const WRITE_EVERY: Duration = Duration::from_secs(60);

/// Each host's next write comes `WRITE_EVERY` plus up to this much later, its own share: hosts
/// that started together (a hub start, a fleet's first reports) would otherwise all write in
/// the same few seconds of every minute (1,000 rows a second at 10,000 hosts, then none).
const SPREAD: Duration = Duration::from_secs(30);

/// When a row written `now` is due again.
fn next_due(host: HostId, now: Instant) -> Instant {
    // A fixed odd multiplier scatters consecutive ids; the time mixes in so a host's share
    // changes from write to write.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let mixed = (host as u64 ^ nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    now + WRITE_EVERY + SPREAD.mul_f64(mixed as f64 / f64::from(u32::MAX))
}

/// One host's latest state in memory. Shared: a reader (the alert pass reads every host's
/// every 15 s) takes a reference, not a copy; ingest copies only a state someone still holds.
pub(super) struct CachedLatest {
    pub(super) report: Arc<Report>,
    /// When the row is to be rewritten if reports were merged meanwhile.
    due: Instant,
    /// Reports were merged since the row was written: only the report log has them.
    dirty: bool,
}

impl CachedLatest {
    fn loaded(host: HostId, report: Report, dirty: bool) -> CachedLatest {
        CachedLatest {
            report: Arc::new(report),
            due: next_due(host, Instant::now()),
            dirty,
        }
    }
}

pub(super) type LatestCache = Mutex<HashMap<HostId, CachedLatest>>;

/// Locks the cache; a panic elsewhere never makes it unusable.
pub(super) fn lock(
    cache: &LatestCache,
) -> std::sync::MutexGuard<'_, HashMap<HostId, CachedLatest>> {
    cache.lock().unwrap_or_else(|e| e.into_inner())
}

/// Folds `report` into `state` as ingest does. True when the row must be written now (the
/// report was older than the state or exactly as old), so the replay rule holds.
fn merge(state: &mut Option<Report>, mut report: Report) -> bool {
    match state {
        Some(l) if l.collected_at > report.collected_at => true,
        Some(l) => {
            let tie = l.collected_at == report.collected_at;
            l.absorb_owned(report);
            tie
        }
        None => {
            // Audit entries are events of one report, never part of the state.
            report.audit.clear();
            *state = Some(report);
            false
        }
    }
}

/// The host's latest state rebuilt from the database: its row, then every report stored after
/// it, oldest first. `dirty` is whether any report was replayed. `None`: nothing stored yet.
fn load(conn: &Connection, host: HostId) -> Result<Option<(Report, bool)>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT collected_at, body FROM latest WHERE host_id = ?1")
        .and_then(|mut s| {
            s.query_row([host], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db)?;
    let (mut state, since) = match row {
        Some((at, body)) => (Some(decode::<Report>(&body)?), at),
        None => (None, i64::MIN),
    };
    let mut replayed = false;
    let mut s = conn
        .prepare_cached(
            "SELECT body FROM reports WHERE host_id = ?1 AND collected_at > ?2 ORDER BY collected_at",
        )
        .map_err(db)?;
    let mut rows = s.query(params![host, since]).map_err(db)?;
    while let Some(r) = rows.next().map_err(db)? {
        let body = r
            .get_ref(0)
            .map_err(db)?
            .as_blob()
            .map_err(|e| db(e.into()))?;
        merge(&mut state, decode::<Report>(body)?);
        replayed = true;
    }
    Ok(state.map(|r| (r, replayed)))
}

/// Reads the host's state from the database into the cache unless it is there already; the
/// cached state wins (the writer may have merged newer reports meanwhile).
pub(super) fn load_into(
    conn: &Connection,
    cache: &LatestCache,
    host: HostId,
) -> Result<(), StoreError> {
    if lock(cache).contains_key(&host) {
        return Ok(());
    }
    if let Some((report, dirty)) = load(conn, host)? {
        lock(cache)
            .entry(host)
            .or_insert_with(|| CachedLatest::loaded(host, report, dirty));
    }
    Ok(())
}

fn write_row(
    conn: &Connection,
    host: HostId,
    collected_at: i64,
    json: &[u8],
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO latest (host_id, collected_at, body) VALUES (?1, ?2, ?3)
         ON CONFLICT (host_id) DO UPDATE SET collected_at = excluded.collected_at, body = excluded.body",
    )
    .and_then(|mut s| s.execute(params![host, collected_at, compress(json)]))
    .map_err(db)?;
    Ok(())
}

/// How many quiet hosts one periodic flush writes at most.
const FLUSH_BATCH: usize = 500;

/// Merges the reports ingest just stored into the host's state, on the writer thread inside
/// the ingest's transaction, and writes the row when the rule above needs it or it is a
/// minute old. Call [`load_into`] on the same connection before storing the reports. On
/// failure the caller forgets the host's state (the next use rebuilds it from what committed).
pub(super) fn absorb(
    conn: &Connection,
    cache: &LatestCache,
    host: HostId,
    reports: Vec<Report>,
) -> Result<(), StoreError> {
    if reports.is_empty() {
        return Ok(());
    }
    let now = Instant::now();
    let mut guard = lock(cache);
    let cached = guard.remove(&host);
    let mut due = cached.as_ref().map(|c| c.due);
    let mut state = cached.map(|c| Arc::unwrap_or_clone(c.report));
    let mut write_now = false;
    for report in reports {
        write_now |= merge(&mut state, report);
    }
    let Some(report) = state else {
        return Ok(());
    };
    write_now |= due.is_some_and(|due| now >= due);
    let json = write_now.then(|| report.to_json());
    let collected_at = report.collected_at;
    if write_now || due.is_none() {
        due = Some(next_due(host, now));
    }
    guard.insert(
        host,
        CachedLatest {
            report: Arc::new(report),
            due: due.unwrap_or(now),
            dirty: !write_now,
        },
    );
    drop(guard);
    if let Some(json) = json {
        write_row(conn, host, collected_at, &json)?;
    }
    Ok(())
}

/// Writes the row of every host whose state changed since its row was written (`all`), or
/// only of those that stopped reporting a while after their write came due (a host that keeps
/// reporting writes its own at its next report). At most `FLUSH_BATCH` hosts unless `all`, so
/// the writer is never held long. Adds the hosts to `written`; on failure the caller forgets
/// them.
pub(super) fn flush(
    conn: &Connection,
    cache: &LatestCache,
    all: bool,
    written: &mut Vec<HostId>,
) -> Result<(), StoreError> {
    let now = Instant::now();
    let due: Vec<(HostId, i64, Vec<u8>)> = {
        let mut guard = lock(cache);
        guard
            .iter_mut()
            .filter(|(_, c)| c.dirty && (all || now >= c.due + WRITE_EVERY))
            .take(if all { usize::MAX } else { FLUSH_BATCH })
            .map(|(host, c)| {
                c.dirty = false;
                c.due = next_due(*host, now);
                (*host, c.report.collected_at, c.report.to_json())
            })
            .collect()
    };
    written.extend(due.iter().map(|(host, _, _)| *host));
    for (host, collected_at, json) in due {
        write_row(conn, host, collected_at, &json)?;
    }
    Ok(())
}

/// At open, before anything else runs: rewrites the row of every host with reports stored
/// after its row (a hub that stopped without flushing), so the database holds the whole state
/// again and the report log's retention can never remove what the rows lack.
pub(super) fn catch_up(conn: &Connection) -> Result<usize, StoreError> {
    let hosts: Vec<HostId> = conn
        .prepare(
            "SELECT h.id FROM hosts h LEFT JOIN latest l ON l.host_id = h.id WHERE EXISTS (
                 SELECT 1 FROM reports r WHERE r.host_id = h.id
                   AND r.collected_at > coalesce(l.collected_at, -9223372036854775808))",
        )
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<HostId>, _>>()
        })
        .map_err(db)?;
    if hosts.is_empty() {
        return Ok(0);
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
    let written = (|| {
        for &host in &hosts {
            if let Some((report, _)) = load(conn, host)? {
                write_row(conn, host, report.collected_at, &report.to_json())?;
            }
        }
        Ok(hosts.len())
    })();
    let end = if written.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    conn.execute_batch(end).map_err(db)?;
    written
}
