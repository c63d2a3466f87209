//! Nagios-compatible checks: the user's `[[checks]]`, each a plugin run on its own interval.
//!
//! **Why the runs live outside the collection loop.** A plugin may take seconds (its timeout
//! defaults to 10 s), and the collection loop is one synchronous thread that must not stall the
//! fast tier for it. So each check is a task of its own on the agent's runtime, looping
//! run → store → sleep through [`Runner::run`], and the `checks` collector only publishes the
//! latest result of every check each fast tick — reading a mutex, nothing more. A slow or hung
//! plugin delays only itself; two runs of one check never overlap (the next waits for the
//! previous, which the timeout bounds). The tasks start on the first collection, when the
//! runtime is known, and are aborted with the collector (dropping a run kills its process
//! group).
//!
//! Without a runtime (`hostwatch snapshot`), each collection runs the checks that are due
//! right there, all at once on a small runtime of its own, so a snapshot shows every check
//! after one run each.
//!
//! Start-up validation, as an operator expects it: an entry without a name or command is
//! skipped with a warning naming its index; a program given by an absolute path that is
//! missing or not executable is warned about and still tried at every run (it may be mounted
//! or installed later); no checks at all is an info line, not a warning.

mod output;
mod perfdata;

pub use output::{Outcome, PluginText, interpret, parse_plugin_text};

use super::{CollectError, Collector};
use crate::config::CheckConfig;
use crate::runner::{Command, Runner};
use hostwatch_proto::sections::{CheckResult, Checks};
use hostwatch_proto::{SectionData, Tier};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many bytes of stdout, and separately of stderr, a check keeps; Nagios itself keeps
/// less per plugin (its default `MAX_PLUGIN_OUTPUT_LENGTH` is 8 KiB).
pub const OUTPUT_LIMIT: usize = 16 * 1024;

/// One check, validated and ready to run.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub name: String,
    pub command: Command,
    pub interval: Duration,
}

impl CheckSpec {
    pub fn new(name: impl Into<String>, command: Command, interval: Duration) -> CheckSpec {
        CheckSpec {
            name: name.into(),
            command: command.output_limit(OUTPUT_LIMIT),
            interval,
        }
    }
}

/// The usable entries of `[[checks]]`, and a warning for each problem found; see the module
/// documentation for what is skipped and what is only warned about.
pub fn prepare(entries: &[CheckConfig]) -> (Vec<CheckSpec>, Vec<String>) {
    let mut specs = Vec::new();
    let mut warnings = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(name) = entry.name.as_deref().filter(|n| !n.trim().is_empty()) else {
            warnings.push(format!("checks[{index}] skipped: it has no `name`"));
            continue;
        };
        let argv = match entry.command.as_ref().map(|c| c.argv()) {
            None => Err("it has no `command`"),
            Some(Err(why)) => Err(why),
            Some(Ok(argv)) if argv.is_empty() || argv[0].is_empty() => {
                Err("its `command` is empty")
            }
            Some(Ok(argv)) => Ok(argv),
        };
        let argv = match argv {
            Ok(argv) => argv,
            Err(why) => {
                warnings.push(format!("checks[{index}] ({name}) skipped: {why}"));
                continue;
            }
        };
        if let Some(problem) = program_problem(Path::new(&argv[0])) {
            warnings.push(format!(
                "checks[{index}] ({name}): {} {problem}; it will still be tried at each run",
                argv[0]
            ));
        }
        let command = Command::from_argv(argv)
            .expect("argv checked non-empty")
            .timeout(Duration::from_secs(entry.timeout_seconds));
        specs.push(CheckSpec::new(
            name,
            command,
            Duration::from_secs(entry.interval_seconds),
        ));
    }
    (specs, warnings)
}

/// What is wrong with an absolute program path, if anything. Names looked up in `PATH` are not
/// judged here: the runner says "not found" when it runs them.
fn program_problem(program: &Path) -> Option<&'static str> {
    if !program.is_absolute() {
        return None;
    }
    match std::fs::metadata(program) {
        Err(_) => Some("does not exist"),
        Ok(meta) if !meta.is_file() => Some("is not a file"),
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => Some("is not executable"),
        Ok(_) => None,
    }
}

/// Runs one check to its end and turns the run into a result.
pub async fn run_check(runner: &Runner, spec: &CheckSpec, previous_failures: u32) -> CheckResult {
    let started_at = jiff::Timestamp::now().as_millisecond();
    let outcome = interpret(runner.run(&spec.command).await);
    outcome.into_result(&spec.name, started_at, previous_failures)
}

/// The latest result of each check, by its position in the configuration.
type Latest = Arc<Mutex<Vec<Option<CheckResult>>>>;

fn store(latest: &Latest, index: usize, result: CheckResult) {
    let mut latest = latest.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(slot) = latest.get_mut(index) {
        *slot = Some(result);
    }
}

fn previous_failures(latest: &Latest, index: usize) -> u32 {
    let latest = latest.lock().unwrap_or_else(|e| e.into_inner());
    latest
        .get(index)
        .and_then(Option::as_ref)
        .map_or(0, |r| r.consecutive_failures)
}

/// Publishes the checks' latest results; see the module documentation.
#[derive(Debug)]
pub struct ChecksCollector {
    specs: Arc<[CheckSpec]>,
    runner: Runner,
    latest: Latest,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// Not started yet: the first collection decides.
    Idle,
    /// One task per check on the agent's runtime; aborted on drop.
    Tasks(Vec<tokio::task::AbortHandle>),
    /// No runtime: checks run inside `collect()` when due.
    Inline { next_due: Vec<Instant> },
}

impl Drop for ChecksCollector {
    fn drop(&mut self) {
        if let Mode::Tasks(tasks) = &self.mode {
            for task in tasks {
                task.abort();
            }
        }
    }
}

impl ChecksCollector {
    pub fn new(specs: Vec<CheckSpec>, runner: Runner) -> ChecksCollector {
        let latest = Arc::new(Mutex::new(vec![None; specs.len()]));
        ChecksCollector {
            specs: specs.into(),
            runner,
            latest,
            mode: Mode::Idle,
        }
    }

    /// From the configuration: logs the start-up warnings; `None` when no check is usable.
    /// The runner is made only when there is a check to run.
    pub fn from_config(
        entries: &[CheckConfig],
        runner: impl FnOnce() -> Runner,
    ) -> Option<ChecksCollector> {
        let (specs, warnings) = prepare(entries);
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        if specs.is_empty() {
            tracing::info!("checks skipped: none configured");
            return None;
        }
        tracing::info!(checks = specs.len(), "checks configured");
        Some(ChecksCollector::new(specs, runner()))
    }

    fn start(&mut self) {
        self.mode = match tokio::runtime::Handle::try_current() {
            Ok(handle) => Mode::Tasks(
                (0..self.specs.len())
                    .map(|index| {
                        let specs = Arc::clone(&self.specs);
                        let runner = self.runner.clone();
                        let latest = Arc::clone(&self.latest);
                        handle
                            .spawn(check_loop(specs, index, runner, latest))
                            .abort_handle()
                    })
                    .collect(),
            ),
            Err(_) => Mode::Inline {
                next_due: vec![Instant::now(); self.specs.len()],
            },
        };
    }

    /// Runs the due checks concurrently on a runtime of its own and waits for them.
    fn run_due_inline(&mut self) -> Result<(), CollectError> {
        let Mode::Inline { next_due } = &mut self.mode else {
            return Ok(());
        };
        let now = Instant::now();
        let due: Vec<usize> = (0..self.specs.len())
            .filter(|&i| next_due[i] <= now)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        for &i in &due {
            next_due[i] = now + self.specs[i].interval;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CollectError::Command(format!("cannot start the check runtime: {e}")))?;
        runtime.block_on(async {
            let mut runs = tokio::task::JoinSet::new();
            for index in due {
                let specs = Arc::clone(&self.specs);
                let runner = self.runner.clone();
                let latest = Arc::clone(&self.latest);
                runs.spawn(async move {
                    let previous = previous_failures(&latest, index);
                    let result = run_check(&runner, &specs[index], previous).await;
                    store(&latest, index, result);
                });
            }
            while runs.join_next().await.is_some() {}
        });
        Ok(())
    }

    /// The section as it stands: every check that has finished a run, in config order.
    pub fn snapshot(&self) -> Checks {
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        Checks {
            checks: latest.iter().flatten().cloned().collect(),
        }
    }
}

async fn check_loop(specs: Arc<[CheckSpec]>, index: usize, runner: Runner, latest: Latest) {
    let spec = &specs[index];
    let mut ticker = tokio::time::interval(spec.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let previous = previous_failures(&latest, index);
        let result = run_check(&runner, spec, previous).await;
        if result.state != hostwatch_proto::sections::CheckState::Ok
            && result.consecutive_failures == 1
        {
            tracing::info!(check = %spec.name, state = %result.state, status = %result.status, "check is not OK");
        }
        store(&latest, index, result);
    }
}

impl Collector for ChecksCollector {
    fn name(&self) -> &'static str {
        "checks"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        if matches!(self.mode, Mode::Idle) {
            self.start();
        }
        self.run_due_inline()?;
        Ok(Some(self.snapshot().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckCommand;
    use hostwatch_proto::sections::CheckState;

    fn entry(name: Option<&str>, command: Option<CheckCommand>) -> CheckConfig {
        CheckConfig {
            name: name.map(str::to_string),
            command,
            interval_seconds: 60,
            timeout_seconds: 10,
        }
    }

    fn argv(words: &[&str]) -> Option<CheckCommand> {
        Some(CheckCommand::Argv(
            words.iter().map(|w| w.to_string()).collect(),
        ))
    }

    #[test]
    fn entries_without_name_or_command_are_skipped_naming_their_index() {
        let tmp = tempfile::tempdir().unwrap();
        let not_executable = tmp.path().join("check_plain");
        std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
        let entries = [
            entry(Some("ok"), argv(&["true"])),
            entry(None, argv(&["true"])),
            entry(Some("no_command"), None),
            entry(Some("empty"), argv(&[])),
            entry(Some("  "), argv(&["true"])),
            entry(Some("gone"), argv(&["/nonexistent/check_gone", "-w", "1"])),
            entry(Some("plain"), argv(&[not_executable.to_str().unwrap()])),
            entry(
                Some("bad_quotes"),
                Some(CheckCommand::Line("check 'x".into())),
            ),
            entry(
                Some("line"),
                Some(CheckCommand::Line("check_disk -w '10 %' -p /".into())),
            ),
        ];
        let (specs, warnings) = prepare(&entries);
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ok", "gone", "plain", "line"]);
        assert_eq!(warnings.len(), 7, "{warnings:#?}");
        assert_eq!(warnings[0], "checks[1] skipped: it has no `name`");
        assert_eq!(
            warnings[1],
            "checks[2] (no_command) skipped: it has no `command`"
        );
        assert_eq!(
            warnings[2],
            "checks[3] (empty) skipped: its `command` is empty"
        );
        assert_eq!(warnings[3], "checks[4] skipped: it has no `name`");
        assert_eq!(
            warnings[4],
            "checks[5] (gone): /nonexistent/check_gone does not exist; it will still be tried at each run"
        );
        assert!(warnings[5].contains("is not executable"), "{}", warnings[5]);
        assert!(warnings[6].starts_with("checks[7] (bad_quotes) skipped: unbalanced quotes"));
        // The string form is split into words, never handed to a shell.
        let line = &specs[3].command;
        assert_eq!(line.program(), "check_disk");
        assert_eq!(line.get_args(), ["-w", "10 %", "-p", "/"]);
        assert_eq!(line.get_timeout(), Duration::from_secs(10));
        assert_eq!(line.get_output_limit(), OUTPUT_LIMIT);
        assert_eq!(specs[0].interval, Duration::from_secs(60));
    }

    #[test]
    fn no_runtime_runs_due_checks_once_per_interval() {
        let specs = vec![
            CheckSpec::new(
                "a",
                Command::from_argv(["/bin/sh", "-c", "echo 'A OK|x=1'"]).unwrap(),
                Duration::from_secs(3600),
            ),
            CheckSpec::new(
                "b",
                Command::from_argv(["/bin/sh", "-c", "echo B CRIT; exit 2"]).unwrap(),
                Duration::from_secs(3600),
            ),
        ];
        let mut collector = ChecksCollector::new(specs, Runner::default());
        let Some(SectionData::Checks(first)) = collector.collect().unwrap() else {
            panic!("no checks section")
        };
        assert_eq!(first.checks.len(), 2);
        assert_eq!(first.checks[0].state, CheckState::Ok);
        assert_eq!(first.checks[0].perfdata[0].label, "x");
        assert_eq!(first.checks[1].state, CheckState::Critical);
        assert_eq!(first.checks[1].consecutive_failures, 1);
        // Not due again within the hour: the same results, not new runs.
        let Some(SectionData::Checks(second)) = collector.collect().unwrap() else {
            panic!("no checks section")
        };
        assert_eq!(second, first);
    }

    #[tokio::test]
    async fn with_a_runtime_each_check_runs_in_its_own_task() {
        let tmp = tempfile::tempdir().unwrap();
        let count = tmp.path().join("count");
        let script = format!("echo run >> {}; echo OK", count.display());
        let specs = vec![
            CheckSpec::new(
                "counted",
                Command::from_argv(["/bin/sh", "-c", &script]).unwrap(),
                Duration::from_millis(50),
            ),
            CheckSpec::new(
                "hung",
                Command::from_argv(["sleep", "100"])
                    .unwrap()
                    .timeout(Duration::from_secs(60)),
                Duration::from_secs(60),
            ),
        ];
        let mut collector = ChecksCollector::new(specs, Runner::default());
        // The first collection returns at once: nothing has finished yet, and the hung check
        // does not hold it up.
        let Some(SectionData::Checks(first)) = collector.collect().unwrap() else {
            panic!("no checks section")
        };
        assert!(first.checks.is_empty(), "{first:?}");
        let mut runs = 0;
        for _ in 0..500 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            runs = std::fs::read_to_string(&count)
                .unwrap_or_default()
                .lines()
                .count();
            if runs >= 3 {
                break;
            }
        }
        assert!(runs >= 3, "the check ran {runs} times");
        let Some(SectionData::Checks(later)) = collector.collect().unwrap() else {
            panic!("no checks section")
        };
        assert_eq!(
            later.checks.len(),
            1,
            "only the finished check is published"
        );
        assert_eq!(later.checks[0].name, "counted");
        assert_eq!(later.checks[0].status, "OK");
        drop(collector);
    }
}
