//! The spool: documents the hub could not take yet, on disk, bounded in size and age.
//!
//! A directory of one file per document, so that the agent daemon and any number of
//! `hostwatch run` processes share it without a lock: each file is written whole under a
//! temporary name and renamed into place (see [`write_atomically`]), a reader never sees a
//! partial document, and removing a file someone else already removed is not an error.
//!
//! ```text
//! spool/reports/<collected_at ms, 13 digits>-<seq, 20 digits>-<instance id>.json
//! spool/job-runs/<started_at ms, 13 digits>-<run id>.json
//! ```
//!
//! Names sort oldest first (by when the document was made, then by `seq`), which is the order
//! they are backfilled in. When the spool would grow past `max_bytes`, or a document is older
//! than `max_age_seconds`, the oldest documents are dropped and counted; the count travels in
//! the next report ([`SpoolStats`]) so the hub can tell the operator data was lost.

use crate::config::SpoolConfig;
use crate::state::{create_private_dir, write_atomically};
use hostwatch_proto::{JobRun, Report, SpoolStats};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A temporary file older than this was left by a writer that died mid-write.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// What a spooled document is, which decides where it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Goes to `POST /api/v1/reports`.
    Report,
    /// Goes to `POST /api/v1/job-runs`.
    JobRun,
}

impl Kind {
    fn dir_name(self) -> &'static str {
        match self {
            Kind::Report => "reports",
            Kind::JobRun => "job-runs",
        }
    }
}

/// One spooled document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub path: PathBuf,
    /// Unix milliseconds the document was made (from its name).
    pub made_at: i64,
    pub size: u64,
}

impl Entry {
    /// The file name, which orders entries oldest first.
    fn name(&self) -> &std::ffi::OsStr {
        self.path.file_name().unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct Counts {
    /// Bytes on disk, as of the last scan plus what this process wrote and removed since.
    bytes: u64,
    /// Reports on disk, likewise.
    reports: u64,
    /// Documents this process dropped because the spool was full or they were too old.
    dropped_total: u64,
}

/// The spool directory and its limits. Share it with an `Arc`; every method does blocking file
/// I/O, so async code calls it through `spawn_blocking`.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    max_age: Duration,
    counts: Mutex<Counts>,
}

impl Spool {
    /// Opens the spool in `dir` (creating it), and takes stock of what an earlier run left.
    pub fn open(dir: &Path, limits: &SpoolConfig) -> io::Result<Spool> {
        for kind in [Kind::Report, Kind::JobRun] {
            create_private_dir(&dir.join(kind.dir_name()))?;
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes: limits.max_bytes,
            max_age: Duration::from_secs(limits.max_age_seconds),
            counts: Mutex::new(Counts::default()),
        };
        spool.enforce(0)?;
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The numbers that ride along in each report.
    pub fn stats(&self) -> SpoolStats {
        let c = self.lock();
        SpoolStats {
            queued: c.reports,
            dropped_total: c.dropped_total,
        }
    }

    /// Spools a report, already serialized as `json`.
    pub fn push_report(&self, report: &Report, json: &[u8]) -> io::Result<()> {
        let name = format!(
            "{:013}-{:020}-{}.json",
            report.collected_at.max(0),
            report.seq,
            file_safe(&report.agent.instance_id)
        );
        self.push(Kind::Report, &name, json)
    }

    /// Spools a job run, already serialized as `json`.
    pub fn push_job_run(&self, run: &JobRun, json: &[u8]) -> io::Result<()> {
        let name = format!(
            "{:013}-{}.json",
            run.started_at.max(0),
            file_safe(&run.run_id)
        );
        self.push(Kind::JobRun, &name, json)
    }

    fn push(&self, kind: Kind, name: &str, json: &[u8]) -> io::Result<()> {
        let size = json.len() as u64;
        if size > self.max_bytes {
            self.lock().dropped_total += 1;
            tracing::warn!(
                bytes = size,
                max_bytes = self.max_bytes,
                "document larger than the whole spool; dropped"
            );
            return Ok(());
        }
        let over = self.lock().bytes + size > self.max_bytes;
        if over {
            self.enforce(size)?;
        }
        write_atomically(&self.dir.join(kind.dir_name()).join(name), json)?;
        let mut c = self.lock();
        c.bytes += size;
        if kind == Kind::Report {
            c.reports += 1;
        }
        Ok(())
    }

    /// The oldest documents of `kind`: at most `max_docs`, and no more than `max_bytes` in all
    /// (but at least one). Drops what is too old or over the size limit first.
    pub fn oldest(&self, kind: Kind, max_docs: usize, max_bytes: u64) -> io::Result<Vec<Entry>> {
        let entries = self.enforce(0)?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for entry in entries.into_iter().filter(|e| e.kind == kind) {
            if out.len() >= max_docs || (!out.is_empty() && bytes + entry.size > max_bytes) {
                break;
            }
            bytes += entry.size;
            out.push(entry);
        }
        Ok(out)
    }

    /// A spooled document's bytes; `None` when it is gone (another process delivered or dropped
    /// it) or empty.
    pub fn read(&self, entry: &Entry) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(&entry.path) {
            Ok(bytes) if bytes.is_empty() => {
                self.remove(std::slice::from_ref(entry));
                Ok(None)
            }
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes delivered (or refused) documents. One that is already gone is fine.
    pub fn remove(&self, entries: &[Entry]) {
        for entry in entries {
            match std::fs::remove_file(&entry.path) {
                Ok(()) => self.forget(entry),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %entry.path.display(), error = %e, "cannot remove a spooled document");
                }
            }
        }
    }

    fn forget(&self, entry: &Entry) {
        let mut c = self.lock();
        c.bytes = c.bytes.saturating_sub(entry.size);
        if entry.kind == Kind::Report {
            c.reports = c.reports.saturating_sub(1);
        }
    }

    /// Scans the spool, drops what is too old and then the oldest until `incoming` more bytes
    /// fit, and returns what remains, oldest first.
    pub fn enforce(&self, incoming: u64) -> io::Result<Vec<Entry>> {
        let now = SystemTime::now();
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let mut entries = Vec::new();
        for kind in [Kind::Report, Kind::JobRun] {
            self.scan(kind, now, &mut entries)?;
        }
        entries.sort_by(|a, b| (a.made_at, a.name()).cmp(&(b.made_at, b.name())));

        let max_age_ms = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
        let total: u64 = entries.iter().map(|e| e.size).sum();
        let mut remaining = total;
        let mut drop_count = 0;
        let mut too_old = 0;
        let keep_from = entries
            .iter()
            .position(|e| {
                let old = now_ms.saturating_sub(e.made_at) > max_age_ms;
                let over = remaining + incoming > self.max_bytes;
                if old || over {
                    remaining -= e.size;
                    drop_count += 1;
                    too_old += u64::from(old);
                    false
                } else {
                    true
                }
            })
            .unwrap_or(entries.len());
        let dropped: Vec<Entry> = entries.drain(..keep_from).collect();
        let mut removed = 0;
        for entry in &dropped {
            match std::fs::remove_file(&entry.path) {
                Ok(()) => removed += 1,
                // Someone else delivered or dropped it meanwhile: not ours to count.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if drop_count > 0 {
            tracing::warn!(
                dropped = removed,
                too_old,
                max_bytes = self.max_bytes,
                max_age_seconds = self.max_age.as_secs(),
                "spool over its limits: dropped the oldest documents"
            );
        }
        let mut c = self.lock();
        c.dropped_total += removed;
        c.bytes = entries.iter().map(|e| e.size).sum();
        c.reports = entries.iter().filter(|e| e.kind == Kind::Report).count() as u64;
        Ok(entries)
    }

    fn scan(&self, kind: Kind, now: SystemTime, into: &mut Vec<Entry>) -> io::Result<()> {
        let dir = self.dir.join(kind.dir_name());
        let listing = match std::fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for item in listing {
            let item = item?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = item.metadata() else {
                continue; // removed between the listing and now
            };
            if name.starts_with('.') {
                let stale = meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age > STALE_TEMP);
                if stale {
                    let _ = std::fs::remove_file(item.path());
                }
                continue;
            }
            let made_at = name
                .get(..13)
                .filter(|_| name.ends_with(".json"))
                .and_then(|digits| digits.parse::<i64>().ok());
            let Some(made_at) = made_at else {
                continue; // not ours
            };
            into.push(Entry {
                kind,
                path: item.path(),
                made_at,
                size: meta.len(),
            });
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An id as a file name part: only what cannot make a path.
fn file_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// The documents as one JSON array, `[a,b,…]`, without parsing them again.
pub fn json_array(documents: &[Vec<u8>]) -> Vec<u8> {
    let len = documents.iter().map(|d| d.len() + 1).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(len);
    out.push(b'[');
    for (i, doc) in documents.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(doc);
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostwatch_proto::{AgentInfo, SCHEMA_VERSION};

    fn report(seq: u64, collected_at: i64) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            host_id: "h".into(),
            agent: AgentInfo {
                version: "0".into(),
                instance_id: "inst".into(),
                boot_id: None,
            },
            seq,
            collected_at,
            tiers: vec![],
            sections: Default::default(),
            spool: None,
            audit: Vec::new(),
            audit_dropped_total: 0,
        }
    }

    fn limits(max_bytes: u64, max_age_seconds: u64) -> SpoolConfig {
        SpoolConfig {
            max_bytes,
            max_age_seconds,
        }
    }

    fn push(spool: &Spool, seq: u64, at: i64, size: usize) {
        let r = report(seq, at);
        let mut json = r.to_json();
        // Pad to an exact size with spaces, still valid JSON.
        json.resize(size.max(json.len()), b' ');
        spool.push_report(&r, &json).unwrap();
    }

    fn seqs(spool: &Spool) -> Vec<u64> {
        spool
            .oldest(Kind::Report, usize::MAX, u64::MAX)
            .unwrap()
            .iter()
            .map(|e| {
                Report::from_json(&spool.read(e).unwrap().unwrap())
                    .unwrap()
                    .seq
            })
            .collect()
    }

    #[test]
    fn full_spool_drops_the_oldest_and_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::now().as_millisecond();
        let spool = Spool::open(tmp.path(), &limits(10_000, 3600)).unwrap();
        for seq in 1..=10 {
            push(&spool, seq, now - 100 + seq as i64, 1000);
        }
        assert_eq!(
            spool.stats(),
            SpoolStats {
                queued: 10,
                dropped_total: 0
            }
        );
        push(&spool, 11, now - 50, 1000);
        push(&spool, 12, now - 40, 2500);
        // 11 + 12 need 3500 bytes: the four oldest (1-4) made room.
        assert_eq!(seqs(&spool), (5..=12).collect::<Vec<_>>());
        assert_eq!(
            spool.stats(),
            SpoolStats {
                queued: 8,
                dropped_total: 4
            }
        );
    }

    #[test]
    fn too_old_documents_are_dropped_and_counted() {
        let tmp = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::now().as_millisecond();
        let spool = Spool::open(tmp.path(), &limits(1 << 20, 60)).unwrap();
        push(&spool, 1, now - 120_000, 100);
        push(&spool, 2, now - 61_000, 100);
        push(&spool, 3, now - 30_000, 100);
        assert_eq!(seqs(&spool), vec![3]);
        assert_eq!(spool.stats().dropped_total, 2);
        assert_eq!(spool.stats().queued, 1);
    }

    #[test]
    fn batches_are_oldest_first_and_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::now().as_millisecond();
        let spool = Spool::open(tmp.path(), &limits(1 << 20, 3600)).unwrap();
        // Same millisecond: seq decides.
        for seq in [3, 1, 2, 10] {
            push(&spool, seq, now, 400);
        }
        let batch = spool.oldest(Kind::Report, 2, u64::MAX).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(seqs(&spool), vec![1, 2, 3, 10]);
        // A byte bound, but never an empty batch.
        assert_eq!(spool.oldest(Kind::Report, 100, 900).unwrap().len(), 2);
        assert_eq!(spool.oldest(Kind::Report, 100, 10).unwrap().len(), 1);
        assert!(spool.oldest(Kind::JobRun, 100, 10).unwrap().is_empty());

        spool.remove(&batch);
        spool.remove(&batch); // twice is fine
        assert_eq!(seqs(&spool), vec![3, 10]);
        assert_eq!(spool.stats().queued, 2);
    }

    #[test]
    fn reopening_takes_stock_and_ignores_strangers() {
        let tmp = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::now().as_millisecond();
        {
            let spool = Spool::open(tmp.path(), &limits(1 << 20, 3600)).unwrap();
            push(&spool, 7, now, 100);
            push(&spool, 8, now, 100);
        }
        std::fs::write(tmp.path().join("reports/README"), "not a document").unwrap();
        std::fs::write(tmp.path().join("reports/.x.123.tmp"), "half").unwrap();
        let spool = Spool::open(tmp.path(), &limits(1 << 20, 3600)).unwrap();
        assert_eq!(spool.stats().queued, 2);
        assert_eq!(seqs(&spool), vec![7, 8]);
        // A fresh temp file is left alone: its writer may be mid-write.
        assert!(tmp.path().join("reports/.x.123.tmp").exists());
    }

    #[test]
    fn json_array_joins_documents() {
        assert_eq!(json_array(&[]), b"[]");
        assert_eq!(json_array(&[b"{}".to_vec(), b"1".to_vec()]), b"[{},1]");
    }
}
