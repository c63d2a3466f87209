//! The hub's storage: one trait, with an embedded SQLite implementation (the default) and, at
//! scale, a PostgreSQL one satisfying the same contract and the same conformance tests.
//!
//! Every write method returns only once its data is durable: the API acknowledges a report
//! only after `ingest_reports` has returned.

mod sqlite;

pub use sqlite::{LATEST_WRITE_EVERY, SqliteStore};

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Compresses a document for storage (zstd, level 3). Each thread keeps one compression
/// context: creating a context per call was about 6 % of the hub's CPU at 1,000 reports/s.
pub fn compress(data: &[u8]) -> Vec<u8> {
    use std::cell::RefCell;
    thread_local! {
        static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some(c) => c,
            None => slot.insert(zstd::bulk::Compressor::new(3).expect("zstd level 3 exists")),
        };
        compressor
            .compress(data)
            .expect("compressing into memory cannot fail")
    })
}

use crate::token::TokenHash;
use hostwatch_proto::{JobRun, Report};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A host's row id.
pub type HostId = i64;

/// An enrolled host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Host {
    #[serde(skip)]
    pub id: HostId,
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Per-host override of the interval; `None` uses the hub's default.
    pub interval_seconds: Option<u32>,
    pub status: HostStatus,
    /// Unix ms.
    pub status_since: i64,
    /// When the hub last received a report from it, unix ms.
    pub last_seen: Option<i64>,
    /// The interval the host was last told to use; the heartbeat judges lateness against it.
    pub expected_interval: Option<u32>,
    /// Groups for filters, alert scopes and notification routing (see `enrol::valid_tag`).
    pub tags: Vec<String>,
}

/// The dead-man's switch: a host that stops reporting is a host that is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// Enrolled, never reported.
    New,
    Up,
    /// No report for 2 × its interval.
    Late,
    /// No report for 3 × its interval (and at least 60 s).
    Down,
}

impl HostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::New => "new",
            HostStatus::Up => "up",
            HostStatus::Late => "late",
            HostStatus::Down => "down",
        }
    }

    pub fn parse(s: &str) -> Option<HostStatus> {
        Some(match s {
            "new" => HostStatus::New,
            "up" => HostStatus::Up,
            "late" => HostStatus::Late,
            "down" => HostStatus::Down,
            _ => return None,
        })
    }
}

/// Something that happened, for the event log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: i64,
    /// The host's name, for host events.
    pub host: Option<String>,
    /// Unix ms.
    pub at: i64,
    /// e.g. `host_status`, `host_enrolled`, `token_rotated`.
    pub kind: String,
    pub message: String,
}

/// A report accepted by the API, ready to store: the decoded report and its compressed JSON.
#[derive(Debug, Clone)]
pub struct IncomingReport {
    pub report: Report,
    /// zstd-compressed JSON of `report`.
    pub body: Vec<u8>,
}

/// What an ingest stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    pub accepted: u32,
    /// Already stored before (a retry): acknowledged, not stored again.
    pub duplicates: u32,
}

/// A stored report not yet turned into chunks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PendingKey {
    pub host: HostId,
    pub instance_id: String,
    pub seq: u64,
}

/// A compressed chunk of one series, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    /// The series' canonical key, `name{label="value",…}`.
    pub key: String,
    pub name: String,
    /// Bucket width in seconds; 0 for raw samples.
    pub resolution: u32,
    pub first_ms: i64,
    pub last_ms: i64,
    pub data: Vec<u8>,
}

/// A stored chunk, with the series it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    pub id: i64,
    pub series_id: i64,
    pub key: String,
    pub name: String,
    pub first_ms: i64,
    pub last_ms: i64,
    pub data: Vec<u8>,
}

/// How long each kind of data is kept, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw_ms: i64,
    pub minute_ms: i64,
    pub hour_ms: i64,
    /// The compressed report log, once compacted.
    pub reports_ms: i64,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Removed {
    pub chunks: u64,
    pub reports: u64,
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read and change everything.
    Admin,
    /// Read only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// An API token's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiClient {
    pub name: String,
    pub role: Role,
}

/// A person who logs in to the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// Unix ms.
    pub created_at: i64,
}

/// A dashboard login session, found by the SHA-256 of its cookie's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    /// Unix ms.
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen: i64,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub host: Option<HostId>,
    /// Only events at or after this time, unix ms.
    pub since: Option<i64>,
    /// Only events at or before this time, unix ms.
    pub until: Option<i64>,
    pub limit: u32,
}

/// A persisted alert instance: the engine's JSON with the columns the store indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub fingerprint: String,
    /// Its host (the row goes with the host).
    pub host_id: Option<HostId>,
    pub rule: String,
    pub state: String,
    pub body: String,
}

/// An event to record with an alert save.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub host: Option<HostId>,
    pub at: i64,
    pub kind: String,
    pub message: String,
}

/// What the alert engine loads when the hub starts.
#[derive(Debug, Clone, Default)]
pub struct AlertSnapshot {
    pub instances: Vec<StoredAlert>,
    pub silences: Vec<crate::alert::Silence>,
    pub acks: Vec<crate::alert::Ack>,
}

/// One evaluation's changes to the alert state, written in order; SQLite writes a large one in
/// bounded slices (one transaction each) so reports are not held up behind it.
#[derive(Debug, Clone, Default)]
pub struct AlertSave {
    pub upserts: Vec<StoredAlert>,
    /// Fingerprints of instances to forget (their acks go too).
    pub removed: Vec<String>,
    /// Acks of alerts that stopped firing.
    pub removed_acks: Vec<String>,
    pub expired_silences: Vec<i64>,
    pub events: Vec<NewEvent>,
}

impl AlertSave {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty()
            && self.removed.is_empty()
            && self.removed_acks.is_empty()
            && self.expired_silences.is_empty()
            && self.events.is_empty()
    }
}

/// One message's delivery through one channel, for the admins' log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// Assigned by the store; ignored when recording.
    pub id: i64,
    /// When the outcome was known, unix ms.
    pub at: i64,
    pub channel: String,
    /// `alerts`, `digest` or `test`.
    pub kind: String,
    pub title: String,
    pub alerts: Vec<DeliveredAlert>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Why it failed (the last attempt's error), scrubbed of secrets.
    pub error: Option<String>,
}

/// An alert a delivered message carried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveredAlert {
    pub fingerprint: String,
    pub rule: String,
    pub host: Option<String>,
    pub state: crate::notice::NoticeState,
    pub severity: crate::notice::Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// Which deliveries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub channel: Option<String>,
    /// Only at or after this time, unix ms.
    pub since: Option<i64>,
    pub limit: u32,
}

/// A remote command as queued: signed, for one host.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCommand {
    pub host: HostId,
    /// The admin who asked.
    pub requested_by: String,
    /// Unix ms.
    pub requested_at: i64,
    /// What the agent receives (request id, command, params, expiry, signature).
    pub signed: hostwatch_proto::SignedCommand,
}

/// Where a remote command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// Waiting for the host's next report.
    Queued,
    /// Handed to the host in an envelope; no result yet.
    Sent,
    /// The host posted its result (which may be a refusal).
    Done,
    /// Not sent before its expiry.
    Expired,
}

impl CommandState {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandState::Queued => "queued",
            CommandState::Sent => "sent",
            CommandState::Done => "done",
            CommandState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<CommandState> {
        Some(match s {
            "queued" => CommandState::Queued,
            "sent" => CommandState::Sent,
            "done" => CommandState::Done,
            "expired" => CommandState::Expired,
            _ => return None,
        })
    }
}

/// A remote command with where it is and, once done, its result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandRecord {
    pub request_id: String,
    pub host: String,
    pub command: String,
    pub params: Vec<String>,
    pub requested_by: String,
    /// Unix ms.
    pub requested_at: i64,
    pub expires_at: i64,
    pub state: CommandState,
    pub sent_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub result: Option<hostwatch_proto::CommandResult>,
}

/// What posting a command result did.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultOutcome {
    /// Stored; the request as it is now.
    Stored(Box<CommandRecord>),
    /// The request already had its result; this one was not stored.
    Duplicate,
    /// No request has this id.
    Unknown,
    /// The request belongs to another host.
    OtherHost,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(String),
    #[error(
        "the database at {path} was written by a newer hostwatch (migration {found}; this build knows up to {known}); upgrade hostwatch"
    )]
    NewerSchema {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
}

/// The hub's storage contract.
/// Stores are cheap handles (a pool, a writer queue): clones share one database.
pub trait Store: Clone + Send + Sync + 'static {
    fn create_host(
        &self,
        name: &str,
        token: &TokenHash,
        now: i64,
    ) -> impl Future<Output = Result<Host, StoreError>> + Send;

    fn hosts(&self) -> impl Future<Output = Result<Vec<Host>, StoreError>> + Send;

    fn host(&self, name: &str) -> impl Future<Output = Result<Option<Host>, StoreError>> + Send;

    /// Removes a host with all its data; `false` when there was none.
    fn remove_host(&self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces a host's token; the old one stops working at once. `false` when no such host.
    fn set_host_token(
        &self,
        name: &str,
        token: &TokenHash,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces a host's tags. `false` when no such host.
    fn set_host_tags(
        &self,
        name: &str,
        tags: &[String],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The host a token id belongs to, with the stored hash to verify the secret against.
    fn host_by_token_id(
        &self,
        token_id: &str,
    ) -> impl Future<Output = Result<Option<(Host, TokenHash)>, StoreError>> + Send;

    /// Stores reports exactly once by `(host, instance_id, seq)`, updates the host's latest
    /// state and last-seen time; durable when it returns.
    fn ingest_reports(
        &self,
        host: HostId,
        reports: Vec<IncomingReport>,
        received_at: i64,
        told_interval: u32,
    ) -> impl Future<Output = Result<IngestOutcome, StoreError>> + Send;

    /// Stores job runs exactly once by `(host, run_id)`; durable when it returns.
    fn ingest_job_runs(
        &self,
        host: HostId,
        runs: Vec<JobRun>,
    ) -> impl Future<Output = Result<IngestOutcome, StoreError>> + Send;

    /// The latest state of every source of a host (sections merged across tiers).
    fn latest(
        &self,
        host: HostId,
    ) -> impl Future<Output = Result<Option<Report>, StoreError>> + Send;

    /// As [`latest`](Store::latest), shared rather than copied: for passes over every host.
    fn latest_shared(
        &self,
        host: HostId,
    ) -> impl Future<Output = Result<Option<std::sync::Arc<Report>>, StoreError>> + Send {
        async move { Ok(self.latest(host).await?.map(std::sync::Arc::new)) }
    }

    /// Reports collected in `[from, to]`, oldest first.
    fn reports_between(
        &self,
        host: HostId,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<Vec<Report>, StoreError>> + Send;

    /// Changes a host's heartbeat status and records the event.
    fn set_status(
        &self,
        host: HostId,
        status: HostStatus,
        at: i64,
        message: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn record_event(
        &self,
        host: Option<HostId>,
        at: i64,
        kind: &str,
        message: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Newest first.
    fn events(
        &self,
        query: EventQuery,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// A host's job runs, newest first, optionally of one job.
    fn job_runs(
        &self,
        host: HostId,
        job: Option<String>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<JobRun>, StoreError>> + Send;

    /// Hours of pending reports collected before `before`, as `(host, hour start ms)`,
    /// oldest first, at most `limit`.
    fn compactable(
        &self,
        before: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(HostId, i64)>, StoreError>> + Send;

    /// The pending reports of `host` collected in `[from, to)`, oldest first.
    fn pending_reports(
        &self,
        host: HostId,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<Vec<(PendingKey, Report)>, StoreError>> + Send;

    /// The first pending report of `host` in each `step_ms` of `[from, to)`, oldest first: a
    /// sample of the uncompacted window for who needs a point per bucket, without decoding
    /// every report (the hub's start-up refill of [`crate::recent`]).
    fn pending_samples(
        &self,
        host: HostId,
        from: i64,
        to: i64,
        step_ms: i64,
    ) -> impl Future<Output = Result<Vec<Report>, StoreError>> + Send;

    /// Stores `chunks` for `host` and marks `compacted` reports done, in one transaction;
    /// when `replace` is `Some(ids)`, those chunks are deleted in the same transaction.
    fn store_chunks(
        &self,
        host: HostId,
        chunks: Vec<NewChunk>,
        compacted: Vec<PendingKey>,
        replace: Vec<i64>,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The chunks of `host`'s series named `name` (every label set) at `resolution` seconds
    /// that overlap `[from, to)`.
    fn chunks(
        &self,
        host: HostId,
        name: String,
        resolution: u32,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<Vec<StoredChunk>, StoreError>> + Send;

    /// Chunks at `resolution` that lie wholly before `before` and share their UTC day with
    /// another chunk of the same series: candidates to merge into one.
    fn fragmented_days(
        &self,
        resolution: u32,
        before: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(HostId, StoredChunk)>, StoreError>> + Send;

    /// Deletes what is older than the retention allows, and expired login sessions.
    fn apply_retention(
        &self,
        now: i64,
        retention: Retention,
    ) -> impl Future<Output = Result<Removed, StoreError>> + Send;

    fn create_api_token(
        &self,
        client: &ApiClient,
        token: &TokenHash,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn api_client_by_token_id(
        &self,
        token_id: &str,
    ) -> impl Future<Output = Result<Option<(ApiClient, TokenHash)>, StoreError>> + Send;

    /// Records that the weekly digest of `week` (its send date, `2026-06-01`) is being sent;
    /// `false` when it already was, so each week is sent once, even by several hubs.
    fn claim_digest(
        &self,
        week: String,
        at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The last week a digest was sent for, and when (unix ms).
    fn last_digest(&self)
    -> impl Future<Output = Result<Option<(String, i64)>, StoreError>> + Send;

    /// The alert engine's persisted state: instances, silences (including expired ones not
    /// yet removed), acks.
    fn alert_state(&self) -> impl Future<Output = Result<AlertSnapshot, StoreError>> + Send;

    /// Writes an evaluation's alert changes and events in one transaction.
    fn save_alerts(&self, save: AlertSave) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a silence; returns it with its id.
    fn create_silence(
        &self,
        silence: crate::alert::NewSilence,
    ) -> impl Future<Output = Result<crate::alert::Silence, StoreError>> + Send;

    /// `false` when no such silence.
    fn delete_silence(&self, id: i64) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records (or replaces) the acknowledgement of an alert.
    fn set_ack(
        &self,
        ack: crate::alert::Ack,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records a notification's delivery; drops entries before `keep_since` (unix ms) and all
    /// but the newest `keep_max`.
    fn record_delivery(
        &self,
        delivery: Delivery,
        keep_since: i64,
        keep_max: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The delivery log, newest first.
    fn deliveries(
        &self,
        query: DeliveryQuery,
    ) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send;
    /// Adds a dashboard user; `Conflict` when the name is taken.
    fn create_user(
        &self,
        user: &User,
        password_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every dashboard user, by name.
    fn users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;

    /// A user with their argon2 hash (PHC string), to verify a password against.
    fn user_with_hash(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<(User, String)>, StoreError>> + Send;

    /// Removes a user and ends their sessions; `false` when there was none.
    fn remove_user(&self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces a user's password hash and ends their sessions; `false` when no such user.
    fn set_user_password(
        &self,
        name: &str,
        password_hash: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a new session under the SHA-256 of its token.
    fn create_session(
        &self,
        token_hash: [u8; 32],
        user: &str,
        now: i64,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The unexpired session with this token hash, if any.
    fn session(
        &self,
        token_hash: [u8; 32],
        now: i64,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Records that a session was used at `now`.
    fn touch_session(
        &self,
        token_hash: [u8; 32],
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends a session (logout); also drops every expired session.
    fn delete_session(
        &self,
        token_hash: [u8; 32],
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The latest state of every host that has reported, in one go (the fleet overview).
    fn latest_all(&self) -> impl Future<Output = Result<Vec<(HostId, Report)>, StoreError>> + Send;

    /// Writes the stored copy of the latest state of every host whose state changed since it
    /// was last written (`all`: on shutdown), or only of those whose copy is a minute old
    /// (periodically). Until then the report log holds it; returns how many hosts were written.
    fn flush_latest(&self, all: bool) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Stores a signed command as queued and records a `command_requested` event.
    fn queue_command(
        &self,
        command: NewCommand,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Hosts with queued commands (the hub's hint after a restart).
    fn hosts_with_queued_commands(
        &self,
    ) -> impl Future<Output = Result<Vec<HostId>, StoreError>> + Send;

    /// The host's queued, unexpired commands, marked sent at `now` (each is sent once);
    /// queued ones past their expiry become expired.
    fn take_commands(
        &self,
        host: HostId,
        now: i64,
    ) -> impl Future<Output = Result<Vec<hostwatch_proto::SignedCommand>, StoreError>> + Send;

    /// Stores the result of one of `host`'s commands, once per request id, and records a
    /// `command_finished` event.
    fn finish_command(
        &self,
        host: HostId,
        result: hostwatch_proto::CommandResult,
        now: i64,
    ) -> impl Future<Output = Result<ResultOutcome, StoreError>> + Send;

    /// A host's commands, newest first; queued ones past their expiry show as expired.
    fn commands(
        &self,
        host: HostId,
        now: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<CommandRecord>, StoreError>> + Send;

    /// Stores the audit entries `host`'s agent forwarded, once per (instance, seq, position),
    /// recording a `command_refused` event for each refusal stored; drops the host's entries
    /// before `keep_since` (unix ms) and all but its newest `keep_max`. How many were new.
    fn record_audit(
        &self,
        host: HostId,
        host_name: String,
        forwarded: Vec<crate::audit::Forwarded>,
        keep_since: i64,
        keep_max: u32,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// A host's audit entries, newest first.
    fn audit(
        &self,
        host: HostId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<hostwatch_proto::AuditEntry>, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reused_compressor_round_trips_every_document() {
        let docs = [
            br#"{"schema_version":1,"host_id":"a"}"#.to_vec(),
            vec![b'x'; 100_000],
            Vec::new(),
        ];
        for _ in 0..2 {
            for doc in &docs {
                let packed = super::compress(doc);
                assert_eq!(&zstd::stream::decode_all(&packed[..]).unwrap(), doc);
            }
        }
        assert!(
            super::compress(&docs[1]).len() < 1000,
            "it really compresses"
        );
    }
}
