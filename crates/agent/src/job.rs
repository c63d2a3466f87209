//! `hostwatch run --job NAME -- CMD ARGS…`: runs a scheduled command as its cron line would,
//! and records the run with the hub, so a job that stopped running — or keeps failing — shows.
//!
//! The command goes through the agent's one [runner](crate::runner) (argv, no shell, its own
//! process group, a timeout when asked). Its stdout and stderr pass straight through to ours,
//! so cron still mails what it printed, and `hostwatch run` exits with the command's own
//! status. The last 10 KiB of the combined output travel in the [`JobRun`]. The run is posted
//! to the hub once; when the hub is away it goes to the spool the agent daemon backfills from.

use crate::config::AgentConfig;
use crate::dump::Dump;
use crate::runner::{Command, Exit, RunError, Runner, Stream};
use crate::sink::hub::{Endpoint, HubClient};
use crate::spool::Spool;
use crate::state::{StateDirCandidates, resolve_state_dir};
use hostwatch_proto::{JobOutcome, JobRun, SCHEMA_VERSION};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// How much of the combined output a job run keeps.
pub const OUTPUT_TAIL: usize = 10 * 1024;
/// A job without `--timeout` runs as long as it takes; the runner needs a bound.
const NO_TIMEOUT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// What `hostwatch run` was asked to do.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub job: String,
    pub schedule: Option<String>,
    pub timeout: Option<Duration>,
    /// The command and its arguments; not empty.
    pub argv: Vec<OsString>,
    /// Pass the command's output through to ours (off in tests).
    pub passthrough: bool,
}

/// What became of the run record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The hub stored it.
    Delivered,
    /// The hub was away; it waits in the spool for the agent daemon.
    Spooled,
    /// The hub refused it (the reason was logged), or it could not be spooled.
    Lost(String),
    /// No `[hub] url` is configured.
    NoHub,
}

/// A finished `hostwatch run`.
#[derive(Debug, Clone)]
pub struct JobResult {
    pub run: JobRun,
    pub recorded: Recorded,
    /// What `hostwatch run` exits with: the command's status, or what a shell would use.
    pub exit_code: u8,
}

/// Why `hostwatch run` could not even start.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("--job: must be 1-128 characters of letters, digits, '-', '_', '.', ':' or '@'")]
    BadName,
    #[error("no command given: hostwatch run --job NAME -- CMD [ARGS…]")]
    NoCommand,
}

/// Checks a job name: it becomes part of the hub's history keys and URLs.
pub fn validate_name(name: &str) -> Result<(), JobError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c));
    if ok { Ok(()) } else { Err(JobError::BadName) }
}

/// Runs the job, then records it (hub, else spool). Never fails because of the hub: the
/// command's exit status matters more than the record.
pub async fn run_job(config: &AgentConfig, options: JobOptions) -> Result<JobResult, JobError> {
    validate_name(&options.job)?;
    let command = Command::from_argv(options.argv.iter().cloned())
        .ok_or(JobError::NoCommand)?
        .timeout(options.timeout.unwrap_or(NO_TIMEOUT))
        // Our own tail keeps what matters; the runner need not hold a copy.
        .output_limit(0);
    let tail = Mutex::new(Tail::new(OUTPUT_TAIL));
    let passthrough = options.passthrough;
    let observe = |stream: Stream, chunk: &[u8]| {
        if passthrough {
            // A closed stdout (cron without a mailer) must not stop the job.
            let _ = match stream {
                Stream::Stdout => std::io::stdout().lock().write_all(chunk),
                Stream::Stderr => std::io::stderr().lock().write_all(chunk),
            };
        }
        tail.lock().unwrap_or_else(|e| e.into_inner()).push(chunk);
    };
    let started_at = jiff::Timestamp::now().as_millisecond();
    let runner = Runner::new(Dump::from_config(&config.debug));
    let result = runner.run_tapped(&command, &observe).await;
    if passthrough {
        let _ = std::io::stdout().flush();
    }
    let (outcome, duration, exit_code) = outcome_of(&result);
    let tail = tail.into_inner().unwrap_or_else(|e| e.into_inner());
    let run = JobRun {
        schema_version: SCHEMA_VERSION,
        host_id: crate::agent::host_id_of(config),
        job: options.job,
        schedule: options.schedule,
        run_id: crate::state::new_uuid(),
        command: options
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        started_at,
        duration_seconds: duration.as_secs_f64(),
        outcome,
        output_truncated: tail.truncated(),
        output_tail: tail.text(),
    };
    let recorded = record(config, &run).await;
    Ok(JobResult {
        run,
        recorded,
        exit_code,
    })
}

/// The run's outcome, its duration and the exit status `hostwatch run` passes on: the
/// command's own; 128+N for a signal, 124 for a timeout (as `timeout(1)`), 126/127 for a
/// command that cannot run / was not found (as a shell).
fn outcome_of(result: &Result<crate::runner::Output, RunError>) -> (JobOutcome, Duration, u8) {
    match result {
        Ok(output) => match output.exit {
            Exit::Code(code) => (
                JobOutcome::Exited(code),
                output.duration,
                u8::try_from(code).unwrap_or(1),
            ),
            Exit::Signaled(signal) => (
                JobOutcome::Signaled(signal),
                output.duration,
                u8::try_from(128 + signal).unwrap_or(255),
            ),
        },
        Err(RunError::TimedOut { partial, .. }) => (JobOutcome::TimedOut, partial.duration, 124),
        Err(e @ RunError::NotFound { duration, .. }) => {
            (JobOutcome::FailedToStart(e.to_string()), *duration, 127)
        }
        Err(e @ RunError::PermissionDenied { duration, .. }) => {
            (JobOutcome::FailedToStart(e.to_string()), *duration, 126)
        }
        Err(e @ RunError::Spawn { duration, .. }) => {
            (JobOutcome::FailedToStart(e.to_string()), *duration, 126)
        }
        Err(e @ RunError::Wait { duration, .. }) => {
            (JobOutcome::FailedToStart(e.to_string()), *duration, 1)
        }
    }
}

/// Posts the run once; spools it when the hub is away.
async fn record(config: &AgentConfig, run: &JobRun) -> Recorded {
    if !config.hub.is_enabled() {
        tracing::debug!("no [hub] url configured; the job run is not recorded");
        return Recorded::NoHub;
    }
    let json = serde_json::to_vec(run).expect("a job run always serializes");
    let error = match HubClient::new(&config.hub) {
        Ok(client) => match client.send(Endpoint::JobRuns, &json).await {
            Ok(_) => return Recorded::Delivered,
            Err(e) if e.keeps_documents() => e.to_string(),
            Err(e) => {
                tracing::error!(job = %run.job, error = %e, "the hub refused the job run; not recorded");
                return Recorded::Lost(e.to_string());
            }
        },
        Err(e) => e.to_string(),
    };
    let (state_dir, _) = resolve_state_dir(
        config.agent.state_dir.as_deref(),
        &StateDirCandidates::from_process(),
    );
    let spool_dir = state_dir.join("spool");
    let spooled = Spool::open(&spool_dir, &config.spool).and_then(|s| s.push_job_run(run, &json));
    match spooled {
        Ok(()) => {
            tracing::warn!(job = %run.job, %error, spool = %spool_dir.display(), "cannot reach the hub; the job run is spooled for the agent to deliver");
            Recorded::Spooled
        }
        Err(e) => {
            tracing::error!(job = %run.job, %error, spool = %spool_dir.display(), spool_error = %e, "cannot reach the hub nor spool the job run; it is lost");
            Recorded::Lost(format!("{error}; spooling: {e}"))
        }
    }
}

/// The last `cap` bytes of a stream, and whether more came before them.
#[derive(Debug)]
struct Tail {
    cap: usize,
    bytes: VecDeque<u8>,
    total: u64,
}

impl Tail {
    fn new(cap: usize) -> Tail {
        Tail {
            cap,
            bytes: VecDeque::with_capacity(cap),
            total: 0,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let chunk = &chunk[chunk.len().saturating_sub(self.cap)..];
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.cap);
        self.bytes.drain(..overflow);
        self.bytes.extend(chunk);
    }

    fn truncated(&self) -> bool {
        self.total > self.bytes.len() as u64
    }

    /// The tail as text. A cut can land inside a UTF-8 character; its leftover continuation
    /// bytes are skipped rather than shown as a replacement character.
    fn text(&self) -> String {
        let (a, b) = self.bytes.as_slices();
        let mut all = Vec::with_capacity(a.len() + b.len());
        all.extend_from_slice(a);
        all.extend_from_slice(b);
        let start = if self.truncated() {
            all.iter()
                .take(3)
                .take_while(|&&byte| byte & 0b1100_0000 == 0b1000_0000)
                .count()
        } else {
            0
        };
        String::from_utf8_lossy(&all[start..]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(argv: &[&str]) -> JobOptions {
        JobOptions {
            job: "backup".into(),
            schedule: Some("0 3 * * *".into()),
            timeout: None,
            argv: argv.iter().map(OsString::from).collect(),
            passthrough: false,
        }
    }

    #[test]
    fn tail_keeps_the_last_bytes() {
        let mut t = Tail::new(8);
        t.push(b"abc");
        assert_eq!((t.text().as_str(), t.truncated()), ("abc", false));
        t.push(b"defghij");
        assert_eq!((t.text().as_str(), t.truncated()), ("cdefghij", true));
        t.push(&[b'z'; 20]);
        assert_eq!(t.text(), "zzzzzzzz");
        assert_eq!(t.total, 30);

        // A cut inside "é" (0xC3 0xA9) drops the orphaned half.
        let mut t = Tail::new(4);
        t.push("xé123".as_bytes());
        assert_eq!(t.text(), "123");
    }

    #[tokio::test]
    async fn records_exit_status_output_and_duration() {
        let config = AgentConfig::default();
        let result = run_job(
            &config,
            options(&["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]),
        )
        .await
        .unwrap();
        assert_eq!(result.exit_code, 3);
        assert_eq!(result.recorded, Recorded::NoHub);
        let run = &result.run;
        assert_eq!(run.outcome, JobOutcome::Exited(3));
        assert!(!run.succeeded());
        assert!(run.output_tail.contains("out\n"), "{:?}", run.output_tail);
        assert!(run.output_tail.contains("err\n"), "{:?}", run.output_tail);
        assert!(!run.output_truncated);
        assert_eq!(run.job, "backup");
        assert_eq!(run.schedule.as_deref(), Some("0 3 * * *"));
        assert_eq!(
            run.command,
            vec!["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]
        );
        assert_eq!(run.run_id.len(), 36);
        assert!(run.duration_seconds > 0.0 && run.duration_seconds < 30.0);
    }

    #[tokio::test]
    async fn long_output_keeps_its_last_10_kib() {
        let result = run_job(
            &AgentConfig::default(),
            options(&["/bin/sh", "-c", "seq 1 20000"]),
        )
        .await
        .unwrap();
        let run = &result.run;
        assert_eq!(result.exit_code, 0);
        assert!(run.output_truncated);
        assert_eq!(run.output_tail.len(), OUTPUT_TAIL);
        assert!(run.output_tail.ends_with("19999\n20000\n"));
    }

    #[tokio::test]
    async fn signals_timeouts_and_missing_commands_map_like_a_shell() {
        let config = AgentConfig::default();
        let r = run_job(&config, options(&["/bin/sh", "-c", "kill -TERM $$"]))
            .await
            .unwrap();
        assert_eq!(
            (r.run.outcome.clone(), r.exit_code),
            (JobOutcome::Signaled(15), 143)
        );

        let mut o = options(&["sleep", "30"]);
        o.timeout = Some(Duration::from_millis(200));
        let r = run_job(&config, o).await.unwrap();
        assert_eq!(
            (r.run.outcome.clone(), r.exit_code),
            (JobOutcome::TimedOut, 124)
        );

        let r = run_job(&config, options(&["/nonexistent/backup.sh"]))
            .await
            .unwrap();
        assert_eq!(r.exit_code, 127);
        assert!(
            matches!(&r.run.outcome, JobOutcome::FailedToStart(m) if m.contains("/nonexistent/backup.sh: not found")),
            "{:?}",
            r.run.outcome
        );
    }

    #[test]
    fn job_names_are_checked() {
        assert!(validate_name("db-backup.daily@host:1").is_ok());
        for bad in ["", "a b", "x/y", &"n".repeat(129)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
