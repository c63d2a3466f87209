//! The audit log: one JSON line per remote request (run or refused), in the agent's state
//! directory, rotated to `<file>.1` past its size bound.

use serde::Serialize;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord<'a> {
    /// RFC 3339 UTC.
    pub time: String,
    pub origin: &'a str,
    pub request_id: &'a str,
    pub command: &'a str,
    pub params: &'a [String],
    /// `ok` (ran, exit 0), `failed` (ran, non-zero or did not finish), `rejected` (not run).
    pub result: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// Appends records; one writer at a time.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    max_bytes: u64,
    lock: Mutex<()>,
}

impl Audit {
    pub fn new(path: PathBuf, max_bytes: u64) -> Audit {
        Audit {
            path,
            max_bytes,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record; a failure is logged, never fatal (the request is answered anyway).
    pub fn record(&self, record: &AuditRecord<'_>) {
        let mut line = serde_json::to_vec(record).unwrap_or_default();
        line.push(b'\n');
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = self.append(&line) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the command audit log");
        }
    }

    fn append(&self, line: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            crate::state::create_private_dir(dir)?;
        }
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            std::fs::rename(&self.path, rotated)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        file.write_all(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_past_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(dir.path().join("a/audit.jsonl"), 300);
        let params = vec!["x".to_string()];
        for i in 0..10 {
            let id = format!("r{i}");
            audit.record(&AuditRecord {
                time: "2025-01-01T00:00:00Z".into(),
                origin: "mqtt",
                request_id: &id,
                command: "c",
                params: &params,
                result: "rejected",
                error: Some("nope"),
                exit_code: None,
                duration_ms: None,
            });
        }
        let now = std::fs::read_to_string(dir.path().join("a/audit.jsonl")).unwrap();
        let old = std::fs::read_to_string(dir.path().join("a/audit.jsonl.1")).unwrap();
        assert!(now.len() <= 300 && old.len() <= 300);
        assert!(
            now.ends_with("\n") && now.contains("\"request_id\":\"r9\""),
            "{now}"
        );
        for line in now.lines().chain(old.lines()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["result"], "rejected");
        }
    }
}
