//! The report: one document per collection tick, which is also the host's heartbeat.

use crate::{AuditEntry, Sections};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The major schema version this build writes and the newest it can read.
///
/// Additive changes keep the number; only an incompatible change bumps it, and readers refuse
/// documents from a newer major version instead of misreading them.
pub const SCHEMA_VERSION: u32 = 1;

/// One collection tick of one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    /// The host's stable name as configured (defaults to the hostname).
    pub host_id: String,
    pub agent: AgentInfo,
    /// Increases by one per report of this agent instance; `(agent.instance_id, seq)` is unique.
    pub seq: u64,
    /// When collection of this tick started, unix milliseconds UTC.
    pub collected_at: i64,
    /// The tiers whose sources were due this tick.
    pub tiers: Vec<Tier>,
    #[serde(default)]
    pub sections: Sections,
    /// The agent's delivery backlog, when it keeps one (the hub sink's spool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool: Option<SpoolStats>,
    /// Remote-command requests the agent audited since its previous report (any origin, run
    /// or refused), oldest first; the hub stores them once with the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<AuditEntry>,
    /// Audit entries the agent could not forward since it started (its queue for the hub was
    /// full); they are still in the agent's own audit log.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub audit_dropped_total: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The state of the agent's on-disk spool of undelivered reports, so the hub can alert when an
/// agent is losing data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpoolStats {
    /// Reports waiting in the spool right now.
    pub queued: u64,
    /// Reports dropped since the agent started because the spool was full or too old.
    pub dropped_total: u64,
}

/// Who produced the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// hostwatch version of the agent, e.g. `0.1.0`.
    pub version: String,
    /// Random id of this agent installation; with `seq` it makes a report unique.
    pub instance_id: String,
    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`); changes on every reboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

/// Collection tiers: how often a source is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Default every 10 s: CPU, memory, load, disk and network I/O.
    Fast,
    /// Default every 300 s: filesystems, system facts.
    Medium,
    /// Default every 1800 s: slow or expensive sources.
    Slow,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Fast, Tier::Medium, Tier::Slow];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Fast => "fast",
            Tier::Medium => "medium",
            Tier::Slow => "slow",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a document could not be read as a report.
#[derive(Debug)]
pub enum DecodeError {
    /// The document is not JSON, or not shaped like a report; the message says where.
    Invalid(String),
    /// The document was written by a newer, incompatible schema.
    NewerSchema { found: u32, supported: u32 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Invalid(m) => write!(f, "invalid report: {m}"),
            DecodeError::NewerSchema { found, supported } => write!(
                f,
                "report schema_version {found} is newer than this build understands \
                 (up to {supported}); upgrade the reader"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

impl Report {
    /// Reads a report from JSON, refusing newer major schema versions with a clear error.
    pub fn from_json(bytes: &[u8]) -> Result<Report, DecodeError> {
        // A valid report is read in one pass, without tracking the path (the hub reads 1,000
        // a second); only a document that fails is read again, to say why and where.
        if let Ok(report) = serde_json::from_slice::<Report>(bytes) {
            if report.schema_version > SCHEMA_VERSION {
                return Err(DecodeError::NewerSchema {
                    found: report.schema_version,
                    supported: SCHEMA_VERSION,
                });
            }
            return Ok(report);
        }
        #[derive(Deserialize)]
        struct Probe {
            schema_version: Option<u32>,
        }
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Invalid(e.to_string()))?;
        match probe.schema_version {
            None => {
                return Err(DecodeError::Invalid(
                    "missing field `schema_version`".into(),
                ));
            }
            Some(found) if found > SCHEMA_VERSION => {
                return Err(DecodeError::NewerSchema {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let report: Report = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            DecodeError::Invalid(format!("at `{path}`: {}", e.into_inner()))
        })?;
        de.end().map_err(|e| DecodeError::Invalid(e.to_string()))?;
        Ok(report)
    }

    /// Folds `newer` into `self` as the latest state of every source: the newer report's
    /// identity, time and tiers, and each section it carries replacing the older one; sections
    /// it lacks (a slower tier not due) stay. Only the newer sections are copied.
    pub fn absorb(&mut self, newer: &Report) {
        self.absorb_header(newer);
        self.sections.merge_from(&newer.sections);
    }

    /// As [`absorb`](Self::absorb), moving the newer sections in rather than copying them.
    pub fn absorb_owned(&mut self, newer: Report) {
        self.absorb_header(&newer);
        self.sections.merge_owned(newer.sections);
    }

    /// Everything [`absorb`](Self::absorb) takes but the sections.
    fn absorb_header(&mut self, newer: &Report) {
        // Destructured, so a field added to `Report` cannot be forgotten here.
        let Report {
            schema_version,
            host_id,
            agent,
            seq,
            collected_at,
            tiers,
            sections: _,
            spool,
            audit: _,
            audit_dropped_total,
        } = newer;
        self.schema_version = *schema_version;
        self.host_id.clone_from(host_id);
        self.agent.clone_from(agent);
        self.seq = *seq;
        self.collected_at = *collected_at;
        self.tiers.clone_from(tiers);
        self.spool = *spool;
        // Audit entries are events of one report, not state: the latest state never keeps them.
        self.audit.clear();
        self.audit_dropped_total = *audit_dropped_total;
    }

    /// The report as compact JSON, the wire form.
    pub fn to_json(&self) -> Vec<u8> {
        // Sized for a whole host's report up front: growing from empty re-copies it a dozen
        // times, which showed in the hub's writer thread.
        let mut out = Vec::with_capacity(32 * 1024);
        serde_json::to_writer(&mut out, self).expect("a report always serializes");
        out
    }
}
