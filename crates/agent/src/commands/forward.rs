//! The audit entries waiting for the hub: every audited request is also queued here, and the
//! next report sent to the hub carries them (`Report::audit`). Bounded in memory: past its
//! capacity the oldest entry goes and is counted; the agent's `audit.jsonl` keeps everything.

use hostwatch_proto::AuditEntry;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many entries wait for the hub at most.
pub const CAPACITY: usize = 200;

#[derive(Debug, Default)]
struct Queued {
    entries: VecDeque<AuditEntry>,
    dropped_total: u64,
}

/// Entries not yet handed to a report, oldest first.
#[derive(Debug)]
pub struct AuditQueue {
    capacity: usize,
    queued: Mutex<Queued>,
}

impl AuditQueue {
    pub fn new(capacity: usize) -> AuditQueue {
        AuditQueue {
            capacity: capacity.max(1),
            queued: Mutex::new(Queued::default()),
        }
    }

    pub fn push(&self, entry: AuditEntry) {
        let mut q = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        if q.entries.len() >= self.capacity {
            q.entries.pop_front();
            q.dropped_total += 1;
            if q.dropped_total == 1 || q.dropped_total.is_power_of_two() {
                tracing::warn!(
                    dropped_total = q.dropped_total,
                    "audit entries waiting for the hub past {}; the oldest are dropped (audit.jsonl keeps them)",
                    self.capacity
                );
            }
        }
        q.entries.push_back(entry);
    }

    /// Everything queued (which leaves the queue), and how many were dropped since start.
    pub fn take(&self) -> (Vec<AuditEntry>, u64) {
        let mut q = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        (q.entries.drain(..).collect(), q.dropped_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostwatch_proto::AuditOutcome;

    fn entry(i: usize) -> AuditEntry {
        AuditEntry {
            at: i as i64,
            origin: "mqtt".into(),
            request_id: format!("r{i}"),
            command: "c".into(),
            params: vec![],
            outcome: AuditOutcome::Refused,
            ok: false,
            exit_code: None,
            reason: Some("nope".into()),
            duration_ms: None,
        }
    }

    #[test]
    fn keeps_the_newest_and_counts_what_it_drops() {
        let q = AuditQueue::new(3);
        for i in 0..5 {
            q.push(entry(i));
        }
        let (entries, dropped) = q.take();
        let ids: Vec<_> = entries.iter().map(|e| e.request_id.as_str()).collect();
        assert_eq!(ids, ["r2", "r3", "r4"]);
        assert_eq!(dropped, 2);
        // Taken means gone; the drop count stays (it is a total since start).
        let (again, dropped) = q.take();
        assert!(again.is_empty());
        assert_eq!(dropped, 2);
        q.push(entry(9));
        assert_eq!(q.take().0[0].request_id, "r9");
    }
}
