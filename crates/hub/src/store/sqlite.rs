//! The embedded store: one SQLite file in the data directory.
//!
//! Writes go through one writer thread that commits in groups: it takes every job waiting in
//! its queue, runs each in its own savepoint (one job's failure never touches another's data),
//! commits once, and only then answers every job. With `synchronous = FULL` in WAL mode, a
//! commit has reached the disk, so an acknowledged report survives a crash or power loss, and
//! the fsync is paid once per group rather than once per report. Reads use a small pool of
//! separate connections, which WAL lets run alongside the writer.

mod deliveries;

use super::{
    AlertSave, AlertSnapshot, ApiClient, DAY_MS, Delivery, DeliveryQuery, Event, EventQuery, Host,
    HostId, HostStatus, IncomingReport, IngestOutcome, NewChunk, PendingKey, Removed, Retention,
    Role, Session, Store, StoreError, StoredAlert, StoredChunk, User, compress,
};
use crate::token::TokenHash;
use hostwatch_proto::{JobRun, Report};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

mod users;

mod latest;
pub use latest::WRITE_EVERY as LATEST_WRITE_EVERY;

mod audit;
mod commands;

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// The file name inside the data directory.
pub const DB_FILE: &str = "hostwatch.db";

/// How many queued writes one commit takes at most.
const MAX_GROUP: usize = 512;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;

/// The SQLite store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    jobs: mpsc::UnboundedSender<Job>,
    readers: Mutex<Vec<Connection>>,
    /// Latest merged state per host, so ingest merges sections without re-reading the row;
    /// merged on the writer thread, written to the database at most once a minute (`latest`).
    latest: latest::LatestCache,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteStore({})", self.inner.path.display())
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, ref msg)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(msg.clone().unwrap_or_else(|| "row".into()))
        }
        e => StoreError::Database(e.to_string()),
    }
}

/// Reader connections kept open between reads. Under load every in-flight request reads
/// (its token, at least); a connection opened and closed per read costs more than the read.
const READERS_KEPT: usize = 32;

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 10000;",
    )
    .map_err(db)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and runs pending migrations.
    /// A database written by a newer hostwatch is refused.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Database(format!("creating {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DB_FILE);
        let mut conn = open_connection(&path)?;
        migrate(&mut conn, &path)?;
        let caught_up = latest::catch_up(&conn)?;
        if caught_up > 0 {
            tracing::info!(
                hosts = caught_up,
                "latest state rebuilt from the report log (the hub had stopped without flushing)"
            );
        }
        // Checkpoints are never inside a commit of the writer, which every ingest of the
        // group waits for: see `checkpointer`.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")
            .map_err(db)?;
        let checkpoints = open_connection(&path)?;
        let restart = Arc::new(AtomicBool::new(false));
        let (jobs, queue) = mpsc::unbounded_channel();
        let restart_wanted = restart.clone();
        std::thread::Builder::new()
            .name("hostwatch-db-writer".into())
            .spawn(move || writer(conn, queue, &restart_wanted))
            .map_err(|e| StoreError::Database(format!("starting the writer thread: {e}")))?;
        let inner = Arc::new(Inner {
            path,
            jobs,
            readers: Mutex::new(Vec::new()),
            latest: Mutex::new(HashMap::new()),
        });
        let open = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("hostwatch-db-checkpoint".into())
            .spawn(move || checkpointer(checkpoints, &open, &restart))
            .map_err(|e| StoreError::Database(format!("starting the checkpoint thread: {e}")))?;
        Ok(SqliteStore { inner })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in the writer's next group commit; returns once that commit is durable.
    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.write_or_undo(f, || {}).await
    }

    /// As [`write`](Self::write); `undo` runs on the writer thread when `f` failed or its
    /// commit did, before any later write runs (it forgets in-memory state `f` changed).
    async fn write_or_undo<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        undo: impl FnOnce() + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = savepoint(conn, f);
            Box::new(move |commit: Result<(), String>| {
                if result.is_err() || commit.is_err() {
                    undo();
                }
                let _ = tx.send(match commit {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Database(format!("commit failed: {e}"))),
                });
            })
        });
        self.inner.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a pooled read connection, off the async workers.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            let conn = match conn {
                Some(c) => c,
                None => open_connection(&inner.path)?,
            };
            let result = f(&conn);
            let mut pool = inner.readers.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < READERS_KEPT {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Database(format!("reader task failed: {e}")))?
    }
}

/// Runs `f` inside a savepoint: its writes are undone if it fails, and only its own.
fn savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.execute_batch("SAVEPOINT job").map_err(db)?;
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end).map_err(db)?;
    result
}

/// The writer thread: group commits until every sender is gone.
fn writer(conn: Connection, mut queue: mpsc::UnboundedReceiver<Job>, restart: &AtomicBool) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = queue.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // Another process (a CLI command on the same file) may hold the write lock for a
        // moment beyond busy_timeout; try again briefly before failing the group.
        let begun = (0..3).find_map(|attempt| match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => Some(Ok(())),
            Err(e) if attempt == 2 => Some(Err(e.to_string())),
            Err(_) => {
                std::thread::sleep(std::time::Duration::from_millis(200));
                None
            }
        });
        if let Some(Err(e)) = begun {
            tracing::error!(error = %e, "cannot begin a write transaction");
            // Run nothing; answer every job of the group with the error.
            for job in group.drain(..) {
                let _ = conn.execute_batch("BEGIN");
                let done = job(&conn);
                let _ = conn.execute_batch("ROLLBACK");
                done(Err(e.clone()));
            }
            continue;
        }
        let completions: Vec<Completion> = group.drain(..).map(|job| job(&conn)).collect();
        let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for done in completions {
            done(commit.clone());
        }
        // The WAL starts over only when a write begins with every frame copied back, which
        // the checkpoint thread alone never sees (this thread keeps appending). So when the
        // WAL is long, this thread copies the last few frames itself, after the answers and
        // between its transactions; the next transaction then starts the WAL over.
        if restart.swap(false, Ordering::Relaxed)
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "checkpoint failed; retrying later");
        }
    }
}

/// How often the checkpoint thread copies the WAL back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// WAL frames (4 KiB pages) past which the writer is asked to let the WAL start over: 32 MiB,
/// two or three seconds of writes at 1,000 reports/s.
const RESTART_FRAMES: i64 = 8_192;

/// Copies the WAL's committed pages back into the database file, continuously, until the
/// store is dropped: the copy and its fsync run beside the writer instead of inside one of its
/// commits (SQLite's automatic checkpoint), which every report of that group waited for.
/// Passive: it never blocks the writer or a reader; what a reader still needs is copied next
/// time. Asks the writer (`restart`) to finish the job when the WAL is long.
fn checkpointer(conn: Connection, store: &std::sync::Weak<Inner>, restart: &AtomicBool) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if store.strong_count() == 0 {
            return;
        }
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(frames) if frames >= RESTART_FRAMES => restart.store(true, Ordering::Relaxed),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checkpoint failed; retrying"),
        }
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let runner = embedded::migrations::runner();
    let known = runner
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0);
    // The history table exists once any migration ran; a fresh file has none.
    let applied: Option<i64> = conn
        .query_row(
            "SELECT MAX(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => {
                Ok(None)
            }
            e => Err(e),
        })
        .map_err(|e| StoreError::Database(format!("reading the migration history: {e}")))?;
    if let Some(found) = applied
        && found > known
    {
        return Err(StoreError::NewerSchema {
            path: path.display().to_string(),
            found,
            known,
        });
    }
    runner
        .set_abort_missing(true)
        .run(conn)
        .map_err(|e| StoreError::Database(format!("migrating {}: {e}", path.display())))?;
    Ok(())
}

const HOST_COLUMNS: &str = "id, name, created_at, interval_seconds, status, status_since, last_seen, expected_interval, tags";

fn host_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Host> {
    let status: String = row.get(4)?;
    Ok(Host {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: row.get(2)?,
        interval_seconds: row.get(3)?,
        status: HostStatus::parse(&status).unwrap_or(HostStatus::New),
        status_since: row.get(5)?,
        last_seen: row.get(6)?,
        expected_interval: row.get(7)?,
        tags: tags_from_json(&row.get::<_, String>(8)?),
    })
}

/// Tags as stored; a damaged value reads as no tags rather than hiding the host.
fn tags_from_json(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn stored_chunk(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredChunk> {
    Ok(StoredChunk {
        id: r.get(0)?,
        series_id: r.get(1)?,
        key: r.get(2)?,
        name: r.get(3)?,
        first_ms: r.get(4)?,
        last_ms: r.get(5)?,
        data: r.get(6)?,
    })
}

fn hash_from(id: String, blob: Vec<u8>) -> Result<TokenHash, StoreError> {
    let hash: [u8; 32] = blob
        .try_into()
        .map_err(|_| StoreError::Corrupt("a token hash is not 32 bytes".into()))?;
    Ok(TokenHash { id, hash })
}

/// Decodes a stored, zstd-compressed JSON document.
fn decode<T: serde::de::DeserializeOwned>(blob: &[u8]) -> Result<T, StoreError> {
    let json = zstd::stream::decode_all(blob)
        .map_err(|e| StoreError::Corrupt(format!("decompressing a stored document: {e}")))?;
    serde_json::from_slice(&json)
        .map_err(|e| StoreError::Corrupt(format!("decoding a stored document: {e}")))
}

fn insert_event(
    conn: &Connection,
    host: Option<HostId>,
    at: i64,
    kind: &str,
    message: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO events (host_id, at, kind, message) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut s| s.execute(params![host, at, kind, message]))
        .map_err(db)?;
    Ok(())
}

/// Rows one write of an alert save changes at most: a few milliseconds of the writer.
const ALERT_ROWS_PER_WRITE: usize = 512;

/// Cuts `save` into saves of at most `max_rows` changed rows each, keeping the order (upserts,
/// then removals, acks, silences, events), which matters only for an instance saved and then
/// forgotten in the same pass: written in that order, it ends up removed as before. Each row's
/// change stands on its own, so the slices may commit apart: a crash between them keeps the
/// slices before it (a failed save kept none), and the next pass judges from there.
fn alert_slices(save: AlertSave, max_rows: usize) -> Vec<AlertSave> {
    struct Slicer {
        done: Vec<AlertSave>,
        open: AlertSave,
        rows: usize,
        max: usize,
    }
    impl Slicer {
        /// The save the next row goes into.
        fn next(&mut self) -> &mut AlertSave {
            if self.rows == self.max {
                self.done.push(std::mem::take(&mut self.open));
                self.rows = 0;
            }
            self.rows += 1;
            &mut self.open
        }
    }
    let mut s = Slicer {
        done: Vec::new(),
        open: AlertSave::default(),
        rows: 0,
        max: max_rows.max(1),
    };
    for row in save.upserts {
        s.next().upserts.push(row);
    }
    for row in save.removed {
        s.next().removed.push(row);
    }
    for row in save.removed_acks {
        s.next().removed_acks.push(row);
    }
    for row in save.expired_silences {
        s.next().expired_silences.push(row);
    }
    for row in save.events {
        s.next().events.push(row);
    }
    if !s.open.is_empty() {
        s.done.push(s.open);
    }
    s.done
}

fn save_alert_slice(c: &Connection, save: &AlertSave) -> Result<(), StoreError> {
    let mut up = c
        .prepare_cached(
            "INSERT INTO alert_instances (fingerprint, host_id, rule, state, body)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (fingerprint) DO UPDATE SET host_id = excluded.host_id,
               rule = excluded.rule, state = excluded.state, body = excluded.body",
        )
        .map_err(db)?;
    for a in &save.upserts {
        // A host removed meanwhile: its alerts go with it.
        let exists = match a.host_id {
            None => true,
            Some(h) => c
                .prepare_cached("SELECT 1 FROM hosts WHERE id = ?1")
                .and_then(|mut s| s.exists([h]))
                .map_err(db)?,
        };
        if exists {
            up.execute(params![a.fingerprint, a.host_id, a.rule, a.state, a.body])
                .map_err(db)?;
        }
    }
    for fp in &save.removed {
        c.prepare_cached("DELETE FROM alert_instances WHERE fingerprint = ?1")
            .and_then(|mut s| s.execute([fp]))
            .map_err(db)?;
    }
    for fp in save.removed.iter().chain(&save.removed_acks) {
        c.prepare_cached("DELETE FROM alert_acks WHERE fingerprint = ?1")
            .and_then(|mut s| s.execute([fp]))
            .map_err(db)?;
    }
    for id in &save.expired_silences {
        c.prepare_cached("DELETE FROM alert_silences WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(db)?;
    }
    for e in &save.events {
        let host = match e.host {
            Some(h) => c
                .prepare_cached("SELECT 1 FROM hosts WHERE id = ?1")
                .and_then(|mut s| s.exists([h]))
                .map_err(db)?
                .then_some(h),
            None => None,
        };
        if e.host.is_none() || host.is_some() {
            insert_event(c, host, e.at, &e.kind, &e.message)?;
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    async fn alert_state(&self) -> Result<AlertSnapshot, StoreError> {
        self.read(|c| {
            let instances = c
                .prepare_cached(
                    "SELECT fingerprint, host_id, rule, state, body FROM alert_instances",
                )
                .map_err(db)?
                .query_map([], |r| {
                    Ok(StoredAlert {
                        fingerprint: r.get(0)?,
                        host_id: r.get(1)?,
                        rule: r.get(2)?,
                        state: r.get(3)?,
                        body: r.get(4)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let rows = c
                .prepare_cached(
                    "SELECT id, matchers, starts_at, ends_at, author, comment, created_at
                     FROM alert_silences ORDER BY id",
                )
                .map_err(db)?
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let mut silences = Vec::new();
            for (id, matchers, starts_at, ends_at, author, comment, created_at) in rows {
                let matchers = serde_json::from_str(&matchers)
                    .map_err(|e| StoreError::Corrupt(format!("silence {id}'s matchers: {e}")))?;
                silences.push(crate::alert::Silence {
                    id,
                    matchers,
                    starts_at,
                    ends_at,
                    author,
                    comment,
                    created_at,
                });
            }
            let acks = c
                .prepare_cached("SELECT fingerprint, author, at, comment FROM alert_acks")
                .map_err(db)?
                .query_map([], |r| {
                    Ok(crate::alert::Ack {
                        fingerprint: r.get(0)?,
                        author: r.get(1)?,
                        at: r.get(2)?,
                        comment: r.get(3)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            Ok(AlertSnapshot {
                instances,
                silences,
                acks,
            })
        })
        .await
    }

    async fn save_alerts(&self, save: AlertSave) -> Result<(), StoreError> {
        // Slice by slice, each in the next group commit with the reports waiting: one large
        // save (30,000 instances after 10,000 hosts' first reports) held the writer, and every
        // report queued behind it, for most of a second.
        for slice in alert_slices(save, ALERT_ROWS_PER_WRITE) {
            self.write(move |c| save_alert_slice(c, &slice)).await?;
        }
        Ok(())
    }

    async fn create_silence(
        &self,
        s: crate::alert::NewSilence,
    ) -> Result<crate::alert::Silence, StoreError> {
        let matchers = serde_json::to_string(&s.matchers).expect("matchers serialise");
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO alert_silences (matchers, starts_at, ends_at, author, comment, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut st| {
                st.execute(params![matchers, s.starts_at, s.ends_at, s.author, s.comment, s.created_at])
            })
            .map_err(db)?;
            Ok(crate::alert::Silence {
                id: c.last_insert_rowid(),
                matchers: s.matchers,
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                author: s.author,
                comment: s.comment,
                created_at: s.created_at,
            })
        })
        .await
    }

    async fn delete_silence(&self, id: i64) -> Result<bool, StoreError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM alert_silences WHERE id = ?1")
                .and_then(|mut s| s.execute([id]))
                .map(|n| n > 0)
                .map_err(db)
        })
        .await
    }

    async fn set_ack(&self, ack: crate::alert::Ack) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO alert_acks (fingerprint, author, at, comment) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (fingerprint) DO UPDATE SET author = excluded.author,
                   at = excluded.at, comment = excluded.comment",
            )
            .and_then(|mut s| s.execute(params![ack.fingerprint, ack.author, ack.at, ack.comment]))
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn create_host(
        &self,
        name: &str,
        token: &TokenHash,
        now: i64,
    ) -> Result<Host, StoreError> {
        let (name, token) = (name.to_string(), token.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO hosts (name, token_id, token_hash, created_at, status, status_since)
                 VALUES (?1, ?2, ?3, ?4, 'new', ?4)",
                params![name, token.id, &token.hash[..], now],
            )
            .map_err(|e| match db(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("host `{name}`")),
                other => other,
            })?;
            let id = c.last_insert_rowid();
            insert_event(
                c,
                Some(id),
                now,
                "host_enrolled",
                &format!("host {name} enrolled"),
            )?;
            c.query_row(
                &format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = ?1"),
                [id],
                host_row,
            )
            .map_err(db)
        })
        .await
    }

    async fn hosts(&self) -> Result<Vec<Host>, StoreError> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY name"))
                .map_err(db)?;
            s.query_map([], host_row)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
        .await
    }

    async fn host(&self, name: &str) -> Result<Option<Host>, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {HOST_COLUMNS} FROM hosts WHERE name = ?1"),
                [name],
                host_row,
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn remove_host(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        let removed: Option<HostId> = self
            .write(move |c| {
                let id: Option<HostId> = c
                    .query_row("SELECT id FROM hosts WHERE name = ?1", [&name], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(db)?;
                if let Some(id) = id {
                    c.execute("DELETE FROM hosts WHERE id = ?1", [id])
                        .map_err(db)?;
                }
                Ok(id)
            })
            .await?;
        if let Some(id) = removed {
            latest::lock(&self.inner.latest).remove(&id);
        }
        Ok(removed.is_some())
    }

    async fn set_host_token(
        &self,
        name: &str,
        token: &TokenHash,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (name, token) = (name.to_string(), token.clone());
        self.write(move |c| {
            let id: Option<HostId> = c
                .query_row("SELECT id FROM hosts WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db)?;
            let Some(id) = id else { return Ok(false) };
            c.execute(
                "UPDATE hosts SET token_id = ?1, token_hash = ?2 WHERE id = ?3",
                params![token.id, &token.hash[..], id],
            )
            .map_err(db)?;
            insert_event(
                c,
                Some(id),
                now,
                "token_rotated",
                &format!("token of {name} rotated"),
            )?;
            Ok(true)
        })
        .await
    }

    async fn set_host_tags(&self, name: &str, tags: &[String]) -> Result<bool, StoreError> {
        let name = name.to_string();
        let json = serde_json::to_string(tags)
            .map_err(|e| StoreError::Database(format!("encoding tags: {e}")))?;
        self.write(move |c| {
            let changed = c
                .execute(
                    "UPDATE hosts SET tags = ?1 WHERE name = ?2",
                    params![json, name],
                )
                .map_err(db)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn host_by_token_id(
        &self,
        token_id: &str,
    ) -> Result<Option<(Host, TokenHash)>, StoreError> {
        let token_id = token_id.to_string();
        self.read(move |c| {
            // Every request of every agent asks this: prepared once per connection, not parsed
            // each time (5 % of the request side at 1,000 reports/s).
            let row = c
                .prepare_cached(&format!(
                    "SELECT {HOST_COLUMNS}, token_hash FROM hosts WHERE token_id = ?1"
                ))
                .and_then(|mut s| {
                    s.query_row([&token_id], |r| Ok((host_row(r)?, r.get::<_, Vec<u8>>(9)?)))
                        .optional()
                })
                .map_err(db)?;
            row.map(|(host, blob)| Ok((host, hash_from(token_id, blob)?)))
                .transpose()
        })
        .await
    }

    async fn ingest_reports(
        &self,
        host: HostId,
        reports: Vec<IncomingReport>,
        received_at: i64,
        told_interval: u32,
    ) -> Result<IngestOutcome, StoreError> {
        let cache = self.inner.clone();
        let forget = self.inner.clone();
        self.write_or_undo(
            move |c| {
                // Before this job's reports are stored: the state rebuilt from the log must
                // not contain them yet.
                latest::load_into(c, &cache.latest, host)?;
                let mut outcome = IngestOutcome::default();
                let mut accepted = Vec::with_capacity(reports.len());
                let mut insert = c
                    .prepare_cached(
                        "INSERT INTO reports (host_id, instance_id, seq, collected_at, received_at, body)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT DO NOTHING",
                    )
                    .map_err(db)?;
                let mut pending = c
                    .prepare_cached(
                        "INSERT INTO pending (host_id, instance_id, seq, collected_at) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .map_err(db)?;
                for incoming in reports {
                    let r = &incoming.report;
                    let n = insert
                        .execute(params![
                            host,
                            r.agent.instance_id,
                            r.seq as i64,
                            r.collected_at,
                            received_at,
                            incoming.body
                        ])
                        .map_err(db)?;
                    if n == 0 {
                        outcome.duplicates += 1;
                        continue;
                    }
                    pending
                        .execute(params![host, r.agent.instance_id, r.seq as i64, r.collected_at])
                        .map_err(db)?;
                    outcome.accepted += 1;
                    accepted.push(incoming.report);
                }
                latest::absorb(c, &cache.latest, host, accepted)?;
                c.prepare_cached("UPDATE hosts SET last_seen = ?1, expected_interval = ?2 WHERE id = ?3")
                    .and_then(|mut s| s.execute(params![received_at, told_interval, host]))
                    .map_err(db)?;
                Ok(outcome)
            },
            // Not stored after all: rebuild the state from what did commit when next needed.
            move || {
                latest::lock(&forget.latest).remove(&host);
            },
        )
        .await
    }

    async fn ingest_job_runs(
        &self,
        host: HostId,
        runs: Vec<JobRun>,
    ) -> Result<IngestOutcome, StoreError> {
        self.write(move |c| {
            let mut outcome = IngestOutcome::default();
            let mut insert = c
                .prepare_cached(
                    "INSERT INTO job_runs (host_id, run_id, job, started_at, duration_seconds, succeeded, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                )
                .map_err(db)?;
            for run in runs {
                let body = compress(&serde_json::to_vec(&run).expect("a job run serializes"));
                let n = insert
                    .execute(params![
                        host,
                        run.run_id,
                        run.job,
                        run.started_at,
                        run.duration_seconds,
                        run.succeeded(),
                        body
                    ])
                    .map_err(db)?;
                if n == 0 {
                    outcome.duplicates += 1;
                } else {
                    outcome.accepted += 1;
                }
            }
            Ok(outcome)
        })
        .await
    }

    async fn latest(&self, host: HostId) -> Result<Option<Report>, StoreError> {
        Ok(self.current_latest(host).await?.map(Arc::unwrap_or_clone))
    }

    async fn latest_shared(&self, host: HostId) -> Result<Option<Arc<Report>>, StoreError> {
        self.current_latest(host).await
    }

    async fn reports_between(
        &self,
        host: HostId,
        from: i64,
        to: i64,
    ) -> Result<Vec<Report>, StoreError> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT body FROM reports WHERE host_id = ?1 AND collected_at BETWEEN ?2 AND ?3
                     ORDER BY collected_at",
                )
                .map_err(db)?;
            let blobs = s
                .query_map(params![host, from, to], |r| r.get::<_, Vec<u8>>(0))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            blobs.iter().map(|b| decode(b)).collect()
        })
        .await
    }

    async fn set_status(
        &self,
        host: HostId,
        status: HostStatus,
        at: i64,
        message: String,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                "UPDATE hosts SET status = ?1, status_since = ?2 WHERE id = ?3",
                params![status.as_str(), at, host],
            )
            .map_err(db)?;
            insert_event(c, Some(host), at, "host_status", &message)
        })
        .await
    }

    async fn record_event(
        &self,
        host: Option<HostId>,
        at: i64,
        kind: &str,
        message: String,
    ) -> Result<(), StoreError> {
        let kind = kind.to_string();
        self.write(move |c| insert_event(c, host, at, &kind, &message))
            .await
    }

    async fn events(&self, q: EventQuery) -> Result<Vec<Event>, StoreError> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT e.id, h.name, e.at, e.kind, e.message FROM events e
                     LEFT JOIN hosts h ON h.id = e.host_id
                     WHERE (?1 IS NULL OR e.host_id = ?1) AND (?2 IS NULL OR e.at >= ?2)
                       AND (?4 IS NULL OR e.at <= ?4)
                     ORDER BY e.at DESC, e.id DESC LIMIT ?3",
                )
                .map_err(db)?;
            s.query_map(params![q.host, q.since, q.limit, q.until], |r| {
                Ok(Event {
                    id: r.get(0)?,
                    host: r.get(1)?,
                    at: r.get(2)?,
                    kind: r.get(3)?,
                    message: r.get(4)?,
                })
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)
        })
        .await
    }

    async fn job_runs(
        &self,
        host: HostId,
        job: Option<String>,
        limit: u32,
    ) -> Result<Vec<JobRun>, StoreError> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT body FROM job_runs WHERE host_id = ?1 AND (?2 IS NULL OR job = ?2)
                     ORDER BY started_at DESC LIMIT ?3",
                )
                .map_err(db)?;
            let blobs = s
                .query_map(params![host, job, limit], |r| r.get::<_, Vec<u8>>(0))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            blobs.iter().map(|b| decode(b)).collect()
        })
        .await
    }

    async fn compactable(&self, before: i64, limit: u32) -> Result<Vec<(HostId, i64)>, StoreError> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT host_id, (collected_at / 3600000) * 3600000 AS hour FROM pending
                     WHERE collected_at < ?1 GROUP BY host_id, hour ORDER BY hour, host_id LIMIT ?2",
                )
                .map_err(db)?;
            s.query_map(params![before, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
        .await
    }

    async fn pending_reports(
        &self,
        host: HostId,
        from: i64,
        to: i64,
    ) -> Result<Vec<(PendingKey, Report)>, StoreError> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT p.instance_id, p.seq, r.body FROM pending p
                     JOIN reports r USING (host_id, instance_id, seq)
                     WHERE p.host_id = ?1 AND p.collected_at >= ?2 AND p.collected_at < ?3
                     ORDER BY p.collected_at",
                )
                .map_err(db)?;
            let rows = s
                .query_map(params![host, from, to], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            rows.into_iter()
                .map(|(instance_id, seq, body)| {
                    Ok((
                        PendingKey {
                            host,
                            instance_id,
                            seq: seq as u64,
                        },
                        decode(&body)?,
                    ))
                })
                .collect()
        })
        .await
    }

    async fn pending_samples(
        &self,
        host: HostId,
        from: i64,
        to: i64,
        step_ms: i64,
    ) -> Result<Vec<Report>, StoreError> {
        let step = step_ms.max(1);
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT p.collected_at, r.body FROM pending p
                     JOIN reports r USING (host_id, instance_id, seq)
                     WHERE p.host_id = ?1 AND p.collected_at >= ?2 AND p.collected_at < ?3
                     ORDER BY p.collected_at",
                )
                .map_err(db)?;
            let mut rows = s.query(params![host, from, to]).map_err(db)?;
            let mut out = Vec::new();
            let mut last_bucket = None;
            while let Some(row) = rows.next().map_err(db)? {
                let at: i64 = row.get(0).map_err(db)?;
                let bucket = at.div_euclid(step);
                if last_bucket == Some(bucket) {
                    continue;
                }
                last_bucket = Some(bucket);
                out.push(decode(&row.get::<_, Vec<u8>>(1).map_err(db)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn store_chunks(
        &self,
        host: HostId,
        chunks: Vec<NewChunk>,
        compacted: Vec<PendingKey>,
        replace: Vec<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            let mut series = c
                .prepare_cached(
                    "INSERT INTO series (host_id, key, name) VALUES (?1, ?2, ?3)
                     ON CONFLICT (host_id, key) DO UPDATE SET name = excluded.name RETURNING id",
                )
                .map_err(db)?;
            let mut insert = c
                .prepare_cached(
                    "INSERT INTO chunks (series_id, resolution, first_ms, last_ms, created_at, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db)?;
            for chunk in chunks {
                let id: i64 = series
                    .query_row(params![host, chunk.key, chunk.name], |r| r.get(0))
                    .map_err(db)?;
                insert
                    .execute(params![
                        id,
                        chunk.resolution,
                        chunk.first_ms,
                        chunk.last_ms,
                        now,
                        chunk.data
                    ])
                    .map_err(db)?;
            }
            let mut done = c
                .prepare_cached(
                    "DELETE FROM pending WHERE host_id = ?1 AND instance_id = ?2 AND seq = ?3",
                )
                .map_err(db)?;
            for key in compacted {
                done.execute(params![key.host, key.instance_id, key.seq as i64])
                    .map_err(db)?;
            }
            let mut delete = c
                .prepare_cached("DELETE FROM chunks WHERE id = ?1")
                .map_err(db)?;
            for id in replace {
                delete.execute([id]).map_err(db)?;
            }
            Ok(())
        })
        .await
    }

    async fn chunks(
        &self,
        host: HostId,
        name: String,
        resolution: u32,
        from: i64,
        to: i64,
    ) -> Result<Vec<StoredChunk>, StoreError> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT k.id, s.id, s.key, s.name, k.first_ms, k.last_ms, k.data
                     FROM series s JOIN chunks k ON k.series_id = s.id
                     WHERE s.host_id = ?1 AND s.name = ?2 AND k.resolution = ?3
                       AND k.last_ms >= ?4 AND k.first_ms < ?5
                     ORDER BY s.key, k.first_ms",
                )
                .map_err(db)?;
            s.query_map(params![host, name, resolution, from, to], stored_chunk)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
        .await
    }

    async fn fragmented_days(
        &self,
        resolution: u32,
        before: i64,
        limit: u32,
    ) -> Result<Vec<(HostId, StoredChunk)>, StoreError> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "WITH days AS (
                         SELECT series_id, first_ms / ?3 AS day FROM chunks
                         WHERE resolution = ?1 AND last_ms < ?2 AND first_ms / ?3 = last_ms / ?3
                         GROUP BY series_id, day HAVING COUNT(*) > 1 LIMIT ?4)
                     SELECT s.host_id, k.id, s.id, s.key, s.name, k.first_ms, k.last_ms, k.data
                     FROM days d JOIN chunks k ON k.series_id = d.series_id AND k.first_ms / ?3 = d.day
                     JOIN series s ON s.id = k.series_id
                     WHERE k.resolution = ?1 AND k.last_ms < ?2 AND k.first_ms / ?3 = k.last_ms / ?3
                     ORDER BY k.series_id, k.first_ms",
                )
                .map_err(db)?;
            s.query_map(params![resolution, before, DAY_MS, limit], |r| {
                Ok((
                    r.get(0)?,
                    StoredChunk {
                        id: r.get(1)?,
                        series_id: r.get(2)?,
                        key: r.get(3)?,
                        name: r.get(4)?,
                        first_ms: r.get(5)?,
                        last_ms: r.get(6)?,
                        data: r.get(7)?,
                    },
                ))
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)
        })
        .await
    }

    async fn apply_retention(&self, now: i64, retention: Retention) -> Result<Removed, StoreError> {
        self.write(move |c| {
            let mut removed = Removed::default();
            for (resolution, keep) in [
                (0, retention.raw_ms),
                (60, retention.minute_ms),
                (3600, retention.hour_ms),
            ] {
                removed.chunks += c
                    .execute(
                        "DELETE FROM chunks WHERE resolution = ?1 AND last_ms < ?2",
                        params![resolution, now - keep],
                    )
                    .map_err(db)? as u64;
            }
            // The report log: old and already compacted (never a report still pending).
            removed.reports = c
                .execute(
                    "DELETE FROM reports WHERE received_at < ?1 AND NOT EXISTS (
                         SELECT 1 FROM pending p WHERE p.host_id = reports.host_id
                           AND p.instance_id = reports.instance_id AND p.seq = reports.seq)",
                    [now - retention.reports_ms],
                )
                .map_err(db)? as u64;
            // Expired sessions: refused already, removed here so the table stays small.
            c.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])
                .map_err(db)?;
            Ok(removed)
        })
        .await
    }

    async fn create_api_token(
        &self,
        client: &ApiClient,
        token: &TokenHash,
        now: i64,
    ) -> Result<(), StoreError> {
        let (client, token) = (client.clone(), token.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO api_tokens (name, token_id, token_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![client.name, token.id, &token.hash[..], client.role.as_str(), now],
            )
            .map_err(|e| match db(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("API token `{}`", client.name)),
                other => other,
            })?;
            Ok(())
        })
        .await
    }

    async fn api_client_by_token_id(
        &self,
        token_id: &str,
    ) -> Result<Option<(ApiClient, TokenHash)>, StoreError> {
        let token_id = token_id.to_string();
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT name, role, token_hash FROM api_tokens WHERE token_id = ?1",
                    [&token_id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(db)?;
            let Some((name, role, blob)) = row else {
                return Ok(None);
            };
            let role = Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown role `{role}`")))?;
            Ok(Some((ApiClient { name, role }, hash_from(token_id, blob)?)))
        })
        .await
    }

    async fn claim_digest(&self, week: String, at: i64) -> Result<bool, StoreError> {
        self.write(move |c| {
            let n = c
                .execute(
                    "INSERT INTO digests (week, sent_at) VALUES (?1, ?2) ON CONFLICT (week) DO NOTHING",
                    params![week, at],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
        .await
    }

    async fn last_digest(&self) -> Result<Option<(String, i64)>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT week, sent_at FROM digests ORDER BY sent_at DESC, week DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn record_delivery(
        &self,
        delivery: Delivery,
        keep_since: i64,
        keep_max: u32,
    ) -> Result<(), StoreError> {
        self.write(move |c| deliveries::record(c, &delivery, keep_since, keep_max))
            .await
    }

    async fn deliveries(&self, query: DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        self.read(move |c| deliveries::list(c, &query)).await
    }

    async fn create_user(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        self.create_user_impl(user, password_hash).await
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.users_impl().await
    }

    async fn user_with_hash(&self, name: &str) -> Result<Option<(User, String)>, StoreError> {
        self.user_with_hash_impl(name).await
    }

    async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        self.remove_user_impl(name).await
    }

    async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        self.set_user_password_impl(name, password_hash).await
    }

    async fn create_session(
        &self,
        token_hash: [u8; 32],
        user: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.create_session_impl(token_hash, user, now, expires_at)
            .await
    }

    async fn session(&self, token_hash: [u8; 32], now: i64) -> Result<Option<Session>, StoreError> {
        self.session_impl(token_hash, now).await
    }

    async fn touch_session(&self, token_hash: [u8; 32], now: i64) -> Result<(), StoreError> {
        self.touch_session_impl(token_hash, now).await
    }

    async fn delete_session(&self, token_hash: [u8; 32], now: i64) -> Result<(), StoreError> {
        self.delete_session_impl(token_hash, now).await
    }

    async fn latest_all(&self) -> Result<Vec<(HostId, Report)>, StoreError> {
        self.latest_all_impl().await
    }

    async fn flush_latest(&self, all: bool) -> Result<usize, StoreError> {
        self.flush_latest_impl(all).await
    }

    async fn queue_command(&self, command: super::NewCommand) -> Result<(), StoreError> {
        self.queue_command_impl(command).await
    }

    async fn hosts_with_queued_commands(&self) -> Result<Vec<HostId>, StoreError> {
        self.hosts_with_queued_commands_impl().await
    }

    async fn take_commands(
        &self,
        host: HostId,
        now: i64,
    ) -> Result<Vec<hostwatch_proto::SignedCommand>, StoreError> {
        self.take_commands_impl(host, now).await
    }

    async fn finish_command(
        &self,
        host: HostId,
        result: hostwatch_proto::CommandResult,
        now: i64,
    ) -> Result<super::ResultOutcome, StoreError> {
        self.finish_command_impl(host, result, now).await
    }

    async fn commands(
        &self,
        host: HostId,
        now: i64,
        limit: u32,
    ) -> Result<Vec<super::CommandRecord>, StoreError> {
        self.commands_impl(host, now, limit).await
    }

    async fn record_audit(
        &self,
        host: HostId,
        host_name: String,
        forwarded: Vec<crate::audit::Forwarded>,
        keep_since: i64,
        keep_max: u32,
    ) -> Result<usize, StoreError> {
        self.record_audit_impl(host, host_name, forwarded, keep_since, keep_max)
            .await
    }

    async fn audit(
        &self,
        host: HostId,
        limit: u32,
    ) -> Result<Vec<hostwatch_proto::AuditEntry>, StoreError> {
        self.audit_impl(host, limit).await
    }
}

impl SqliteStore {
    /// The cached latest state, rebuilt from the database on first use.
    async fn current_latest(&self, host: HostId) -> Result<Option<Arc<Report>>, StoreError> {
        if let Some(c) = latest::lock(&self.inner.latest).get(&host) {
            return Ok(Some(c.report.clone()));
        }
        let inner = self.inner.clone();
        self.read(move |c| latest::load_into(c, &inner.latest, host))
            .await?;
        Ok(latest::lock(&self.inner.latest)
            .get(&host)
            .map(|c| c.report.clone()))
    }

    /// Writes the `latest` row of every host whose state changed since (`all`), or of those
    /// whose row is a minute old (the hosts that stopped reporting meanwhile).
    async fn flush_latest_impl(&self, all: bool) -> Result<usize, StoreError> {
        let cache = self.inner.clone();
        let forget = self.inner.clone();
        let touched = Arc::new(Mutex::new(Vec::new()));
        let touched_by_job = touched.clone();
        self.write_or_undo(
            move |c| {
                let mut hosts = Vec::new();
                let result = latest::flush(c, &cache.latest, all, &mut hosts);
                let n = hosts.len();
                *touched_by_job.lock().unwrap_or_else(|e| e.into_inner()) = hosts;
                result.map(|()| n)
            },
            move || {
                let hosts = std::mem::take(&mut *touched.lock().unwrap_or_else(|e| e.into_inner()));
                let mut cache = latest::lock(&forget.latest);
                for host in hosts {
                    cache.remove(&host);
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewEvent;

    fn upsert(n: usize) -> StoredAlert {
        StoredAlert {
            fingerprint: format!("fp{n}"),
            host_id: None,
            rule: "r".into(),
            state: "pending".into(),
            body: "{}".into(),
        }
    }

    #[test]
    fn an_alert_save_is_cut_into_bounded_slices_keeping_every_row_in_order() {
        let save = AlertSave {
            upserts: (0..5).map(upsert).collect(),
            removed: vec!["fp0".into(), "gone".into()],
            removed_acks: vec!["acked".into()],
            expired_silences: vec![7],
            events: vec![NewEvent {
                host: None,
                at: 1,
                kind: "alert_firing".into(),
                message: "m".into(),
            }],
        };
        let slices = alert_slices(save.clone(), 3);
        let rows: Vec<usize> = slices
            .iter()
            .map(|s| {
                s.upserts.len()
                    + s.removed.len()
                    + s.removed_acks.len()
                    + s.expired_silences.len()
                    + s.events.len()
            })
            .collect();
        assert_eq!(rows, vec![3, 3, 3, 1]);
        // Upserts first, then the removal of the instance also upserted (fp0): applied in
        // this order, fp0 ends up removed, as in one transaction.
        assert_eq!(slices[0].upserts, save.upserts[..3]);
        assert_eq!(slices[1].upserts, save.upserts[3..]);
        assert_eq!(slices[1].removed, vec!["fp0".to_string()]);
        assert_eq!(slices[2].removed, vec!["gone".to_string()]);
        assert_eq!(slices[2].removed_acks, vec!["acked".to_string()]);
        assert_eq!(slices[2].expired_silences, vec![7]);
        assert_eq!(slices[3].events, save.events);
        // Nothing to save: nothing to write; a bound of 0 still makes progress.
        assert!(alert_slices(AlertSave::default(), 3).is_empty());
        assert_eq!(alert_slices(save, 0).len(), 10);
    }
}
