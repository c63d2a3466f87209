//! A job run: one execution of a scheduled command (a cron line wrapped in `hostwatch run`),
//! so a job that silently stopped running — or keeps failing — becomes visible.

use serde::{Deserialize, Serialize};

/// One finished run of a job, as `hostwatch run --job NAME -- CMD…` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    pub schema_version: u32,
    pub host_id: String,
    /// The job's name, as given by `--job`; the history is kept per host and job.
    pub job: String,
    /// The job's cron schedule, when given (`--schedule "0 3 * * *"`), so the hub can tell
    /// when a run is overdue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Unique per run (a random UUID); the hub stores each run exactly once however often it
    /// is retried.
    pub run_id: String,
    /// The command's argv.
    pub command: Vec<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    pub duration_seconds: f64,
    pub outcome: JobOutcome,
    /// The last bytes of combined stdout and stderr (at most 10 KiB), lossily UTF-8.
    #[serde(default)]
    pub output_tail: String,
    /// Whether the output was longer than the tail kept.
    #[serde(default)]
    pub output_truncated: bool,
}

/// How a job run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    /// The command exited with this status; 0 is success.
    Exited(i32),
    /// The command was killed by this signal.
    Signaled(i32),
    /// The command could not be started (not found, not executable…).
    FailedToStart(String),
    /// The command ran past its timeout and was killed.
    TimedOut,
}

impl JobRun {
    /// Whether the run counts as a success: exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.outcome == JobOutcome::Exited(0)
    }
}
