//! The hostwatch wire contract.
//!
//! One [`Report`] per collection tick travels from agent to hub (and to stdout, MQTT and
//! Prometheus renderers inside the agent); the hub answers with an [`Envelope`]. This crate is
//! serde types only — no I/O — so both sides and every test share one definition.
//!
//! Compatibility rules (see `docs/wire.md`): fields are added, never renamed or re-typed;
//! unknown fields are ignored on read; a newer *major* [`SCHEMA_VERSION`] is refused.

mod audit;
pub mod command;
mod envelope;
mod job;
mod report;
mod secret;
mod section;
pub mod sections;

pub use audit::{AuditEntry, AuditOutcome};
pub use command::{CommandInfo, CommandResult, ParamInfo, SignedCommand};
pub use envelope::Envelope;
pub use job::{JobOutcome, JobRun};
pub use report::{AgentInfo, DecodeError, Report, SCHEMA_VERSION, SpoolStats, Tier};
pub use secret::Secret;
pub use section::{ErrorKind, Section, SectionError};
pub use sections::{SectionData, Sections};
