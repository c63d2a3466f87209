//! The opt-in diagnostic dump: every external command with its raw output, and every report as
//! it leaves the agent, appended to two plain-text files an operator can `tail -f`.
//!
//! When the dashboard shows something odd, the dump answers "did the source say that, or did we
//! misread it?". It is off unless `[debug] dump_dir` is set; off costs one branch per call and no
//! file I/O at all.
//!
//! `commands.log`, one entry per command the [runner](crate::runner) ran:
//!
//! ```text
//! ===== 2026-04-22T15:32:17.104Z =====
//! $ zpool status -j --json-flat-vdevs --json-int
//! exit=0 duration=124ms size=12847
//! <stdout, verbatim>
//! ```
//!
//! - The timestamp is when the command started (UTC, RFC 3339, milliseconds).
//! - The `$` line is the argv; an argument that a shell would split or expand is single-quoted,
//!   so the line can be pasted into a shell to run the same command by hand.
//! - The third line is `exit=<code>`, or `signal=<n>` when a signal ended the command, or
//!   `error=<description>` when it could not be started or timed out. `size` is the number of
//!   stdout bytes in the body that follows (the body is exactly that many bytes, then a newline
//!   if the output did not end in one). When the runner's output cap cut stdout, the line ends in
//!   `truncated=<bytes the command wrote>`. A timeout keeps whatever output arrived, so its line
//!   has a `size` and a body too; a command that never started has neither.
//! - If the command wrote to stderr, its stderr follows behind a line `--- stderr ---` (an
//!   extension of the original design: a failing command usually says why on stderr).
//!
//! `samples.log`, one entry per report:
//!
//! ```text
//! ===== 2026-04-22T15:32:17.220Z kind=fast+medium =====
//! { ...the report as pretty JSON... }
//! ```
//!
//! Entries are built in memory and written with one locked `write_all` per file, so entries
//! from concurrent commands never interleave. There is no rotation: the dump is for a bounded
//! debugging session (use logrotate with `copytruncate` if it must stay on).

use crate::config::DebugConfig;
use crate::runner::{Captured, Command, Exit, Output, RunError};
use hostwatch_proto::{Report, Tier};
use jiff::Timestamp;
use std::fmt::Write as _;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The name of the file commands are dumped to, inside `dump_dir`.
pub const COMMANDS_FILE: &str = "commands.log";
/// The name of the file reports are dumped to, inside `dump_dir`.
pub const SAMPLES_FILE: &str = "samples.log";

/// A handle on the diagnostic dump, cheap to clone and share between threads.
///
/// [`Dump::off`] (also the `Default`) holds nothing: every method returns at once.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    files: Option<Arc<DumpFiles>>,
}

#[derive(Debug)]
struct DumpFiles {
    dir: PathBuf,
    commands: LogFile,
    samples: LogFile,
}

/// One append-only file behind a lock, so one entry is written whole before the next starts.
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
    /// Whether the last write failed: a full disk warns once, not once per entry, and warns
    /// again only after writes had recovered in between.
    failing: AtomicBool,
}

impl Dump {
    /// A dump that records nothing.
    pub fn off() -> Dump {
        Dump { files: None }
    }

    /// The dump the configuration asks for: off when `dump_dir` is unset or empty (without
    /// touching the file system); on when the directory and both files could be opened.
    /// If they cannot, logs one warning and returns a dump that is off, so the agent runs on.
    pub fn from_config(config: &DebugConfig) -> Dump {
        let Some(dir) = config.dump_dir.as_deref() else {
            return Dump::off();
        };
        if dir.as_os_str().is_empty() {
            return Dump::off();
        }
        match Dump::open(dir) {
            Ok(dump) => {
                tracing::info!(dir = %dir.display(), "diagnostic dump on");
                dump
            }
            Err(error) => {
                tracing::warn!(
                    dir = %dir.display(),
                    %error,
                    "diagnostic dump directory unusable; dumping disabled"
                );
                Dump::off()
            }
        }
    }

    /// Creates `dir` (mode 0755, parents too, an existing one is fine) and opens
    /// `commands.log` and `samples.log` in it for appending (mode 0644 when created).
    pub fn open(dir: &Path) -> io::Result<Dump> {
        DirBuilder::new().recursive(true).mode(0o755).create(dir)?;
        let files = DumpFiles {
            dir: dir.to_path_buf(),
            commands: LogFile::open(dir.join(COMMANDS_FILE))?,
            samples: LogFile::open(dir.join(SAMPLES_FILE))?,
        };
        Ok(Dump {
            files: Some(Arc::new(files)),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.files.is_some()
    }

    /// The directory being dumped to, when on.
    pub fn dir(&self) -> Option<&Path> {
        self.files.as_deref().map(|files| files.dir.as_path())
    }

    /// Appends one command and its result to `commands.log`. Blocks on file I/O (the async
    /// [`Runner::run`](crate::runner::Runner::run) writes on a blocking thread instead).
    pub fn command(
        &self,
        command: &Command,
        started_at: Timestamp,
        result: &Result<Output, RunError>,
    ) {
        if let Some(entry) = self.command_entry(command, started_at, result) {
            self.append_command_entry(&entry);
        }
    }

    /// The `commands.log` entry for a command, or `None` when the dump is off (then nothing is
    /// formatted).
    pub(crate) fn command_entry(
        &self,
        command: &Command,
        started_at: Timestamp,
        result: &Result<Output, RunError>,
    ) -> Option<Vec<u8>> {
        self.files.as_ref()?;
        Some(format_command(command, started_at, result))
    }

    /// Appends an entry made by [`Dump::command_entry`].
    pub(crate) fn append_command_entry(&self, entry: &[u8]) {
        if let Some(files) = &self.files {
            files.commands.append(entry);
        }
    }

    /// Appends a report to `samples.log` as it leaves the agent. `kind` names what the report
    /// holds: the tiers that were due, joined by `+` (see [`tiers_kind`]).
    pub fn sample(&self, kind: &str, report: &Report) {
        if let Some(files) = &self.files {
            files
                .samples
                .append(&format_sample(kind, Timestamp::now(), report));
        }
    }
}

/// The `kind` of a sample: the tiers of the report joined by `+`, e.g. `fast+medium`.
pub fn tiers_kind(tiers: &[Tier]) -> String {
    let names: Vec<&str> = tiers.iter().map(|tier| tier.as_str()).collect();
    names.join("+")
}

impl LogFile {
    fn open(path: PathBuf) -> io::Result<LogFile> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(&path)
            .map_err(|error| {
                io::Error::new(error.kind(), format!("{}: {error}", path.display()))
            })?;
        Ok(LogFile {
            path,
            file: Mutex::new(file),
            failing: AtomicBool::new(false),
        })
    }

    /// Writes one whole entry. A failed write is a warning, never a panic: the dump must not
    /// take the agent down with it.
    fn append(&self, entry: &[u8]) {
        let result = {
            // A writer that panicked mid-entry cannot leave the file in a state worth refusing.
            let mut file = self
                .file
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            file.write_all(entry)
        };
        match result {
            Ok(()) => self.failing.store(false, Ordering::Relaxed),
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        file = %self.path.display(),
                        %error,
                        "cannot write the diagnostic dump; entries are lost until writes succeed"
                    );
                }
            }
        }
    }
}

/// `2026-04-22T15:32:17.104Z`
fn timestamp(at: Timestamp) -> String {
    format!("{at:.3}")
}

fn format_command(
    command: &Command,
    started_at: Timestamp,
    result: &Result<Output, RunError>,
) -> Vec<u8> {
    let mut head = String::with_capacity(128);
    // Writing to a String cannot fail.
    let _ = writeln!(head, "===== {} =====", timestamp(started_at));
    let _ = writeln!(head, "$ {command}");
    let body = match result {
        Ok(output) => {
            match output.exit {
                Exit::Code(code) => {
                    let _ = write!(head, "exit={code}");
                }
                Exit::Signaled(signal) => {
                    let _ = write!(head, "signal={signal}");
                }
            }
            let _ = write!(head, " duration={}ms", output.duration.as_millis());
            Some((&output.stdout, &output.stderr))
        }
        Err(error) => {
            let _ = write!(head, "error={error}");
            match error {
                RunError::TimedOut { partial, .. } => {
                    let _ = write!(head, " duration={}ms", partial.duration.as_millis());
                    Some((&partial.stdout, &partial.stderr))
                }
                RunError::NotFound { duration, .. }
                | RunError::PermissionDenied { duration, .. }
                | RunError::Spawn { duration, .. }
                | RunError::Wait { duration, .. } => {
                    let _ = write!(head, " duration={}ms", duration.as_millis());
                    None
                }
            }
        }
    };
    let Some((stdout, stderr)) = body else {
        head.push('\n');
        return head.into_bytes();
    };
    write_size(&mut head, stdout);
    head.push('\n');

    let mut entry = head.into_bytes();
    entry.reserve(stdout.bytes.len() + stderr.bytes.len() + 32);
    push_body(&mut entry, &stdout.bytes);
    if !stderr.bytes.is_empty() || stderr.total > 0 {
        entry.extend_from_slice(b"--- stderr ---");
        if stderr.truncated {
            entry.extend_from_slice(format!(" truncated={}", stderr.total).as_bytes());
        }
        entry.push(b'\n');
        push_body(&mut entry, &stderr.bytes);
    }
    entry
}

fn write_size(head: &mut String, stdout: &Captured) {
    let _ = write!(head, " size={}", stdout.bytes.len());
    if stdout.truncated {
        let _ = write!(head, " truncated={}", stdout.total);
    }
}

/// The bytes verbatim, then a newline if they did not end in one, so the next line (the next
/// entry's separator) starts at the beginning of a line.
fn push_body(entry: &mut Vec<u8>, bytes: &[u8]) {
    entry.extend_from_slice(bytes);
    if bytes.last().is_some_and(|&byte| byte != b'\n') {
        entry.push(b'\n');
    }
}

fn format_sample(kind: &str, at: Timestamp, report: &Report) -> Vec<u8> {
    let mut entry = format!("===== {} kind={kind} =====\n", timestamp(at)).into_bytes();
    if let Err(error) = serde_json::to_writer_pretty(&mut entry, report) {
        entry.extend_from_slice(format!("<report could not be serialized: {error}>").as_bytes());
    }
    entry.push(b'\n');
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{Command, Runner};
    use hostwatch_proto::{AgentInfo, SCHEMA_VERSION, Sections};
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// Counts `WARN` events, so a test can tell one warning from one per entry.
    struct WarningCounter(Arc<AtomicUsize>);

    impl tracing::Subscriber for WarningCounter {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    /// Runs `f` and returns how many warnings it logged on this thread.
    fn warnings_during(f: impl FnOnce()) -> usize {
        let count = Arc::new(AtomicUsize::new(0));
        tracing::subscriber::with_default(WarningCounter(count.clone()), f);
        count.load(Ordering::SeqCst)
    }

    fn config(dir: &Path) -> DebugConfig {
        DebugConfig {
            dump_dir: Some(dir.to_path_buf()),
        }
    }

    fn report() -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            host_id: "alpha".to_string(),
            agent: AgentInfo {
                version: "0.1.0".to_string(),
                instance_id: "i-1".to_string(),
                boot_id: None,
            },
            seq: 7,
            collected_at: 1_776_871_937_104,
            tiers: vec![Tier::Fast, Tier::Medium],
            sections: Sections::default(),
            spool: None,
            audit: Vec::new(),
            audit_dropped_total: 0,
        }
    }

    fn captured(bytes: &[u8]) -> Captured {
        Captured {
            bytes: bytes.to_vec(),
            truncated: false,
            total: bytes.len() as u64,
        }
    }

    fn output(exit: Exit, stdout: &[u8], stderr: &[u8]) -> Output {
        Output {
            exit,
            stdout: captured(stdout),
            stderr: captured(stderr),
            duration: Duration::from_millis(124),
        }
    }

    fn at() -> Timestamp {
        "2026-04-22T15:32:17.104Z".parse().unwrap()
    }

    fn zpool() -> Command {
        Command::new("zpool").args(["status", "-j", "--json-flat-vdevs", "--json-int"])
    }

    fn text(entry: Vec<u8>) -> String {
        String::from_utf8(entry).unwrap()
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(timestamp(at()), "2026-04-22T15:32:17.104Z");
        let whole: Timestamp = "2026-04-22T15:32:17Z".parse().unwrap();
        assert_eq!(timestamp(whole), "2026-04-22T15:32:17.000Z");
    }

    #[test]
    fn command_entry_has_the_exact_format() {
        let body = b"{\"pools\": {}}\n";
        let entry = format_command(&zpool(), at(), &Ok(output(Exit::Code(0), body, b"")));
        assert_eq!(
            text(entry),
            "===== 2026-04-22T15:32:17.104Z =====\n\
             $ zpool status -j --json-flat-vdevs --json-int\n\
             exit=0 duration=124ms size=14\n\
             {\"pools\": {}}\n"
        );
    }

    #[test]
    fn command_entry_with_signal_stderr_and_no_final_newline() {
        let entry = format_command(
            &Command::new("sh").args(["-c", "echo it's here; kill -9 $$"]),
            at(),
            &Ok(output(Exit::Signaled(9), b"partial", b"oops\n")),
        );
        assert_eq!(
            text(entry),
            "===== 2026-04-22T15:32:17.104Z =====\n\
             $ sh -c 'echo it'\\''s here; kill -9 $$'\n\
             signal=9 duration=124ms size=7\n\
             partial\n\
             --- stderr ---\n\
             oops\n"
        );
    }

    #[test]
    fn command_entry_marks_truncation() {
        let mut out = output(Exit::Code(0), b"abc", b"");
        out.stdout.truncated = true;
        out.stdout.total = 10_485_760;
        let entry = text(format_command(&Command::new("cat"), at(), &Ok(out)));
        assert_eq!(
            entry.lines().nth(2),
            Some("exit=0 duration=124ms size=3 truncated=10485760")
        );
    }

    #[test]
    fn command_entry_error_form() {
        let error = RunError::NotFound {
            program: "zpool".to_string(),
            duration: Duration::from_millis(2),
        };
        let entry = text(format_command(&zpool(), at(), &Err(error)));
        assert_eq!(
            entry,
            "===== 2026-04-22T15:32:17.104Z =====\n\
             $ zpool status -j --json-flat-vdevs --json-int\n\
             error=zpool: not found duration=2ms\n"
        );
    }

    #[test]
    fn sample_entry_is_a_header_then_pretty_json() {
        let entry = text(format_sample("fast+medium", at(), &report()));
        let (header, json) = entry.split_once('\n').unwrap();
        assert_eq!(
            header,
            "===== 2026-04-22T15:32:17.104Z kind=fast+medium ====="
        );
        assert!(json.ends_with("}\n"));
        assert!(json.contains("\n  \"host_id\": \"alpha\",\n"), "{json}");
        let back: Report = serde_json::from_str(json).unwrap();
        assert_eq!(back, report());
        assert_eq!(tiers_kind(&[Tier::Fast, Tier::Medium]), "fast+medium");
        assert_eq!(tiers_kind(&[Tier::Slow]), "slow");
    }

    #[test]
    fn off_when_unset_or_empty_and_touches_nothing() {
        for dump in [
            Dump::from_config(&DebugConfig::default()),
            Dump::from_config(&DebugConfig {
                dump_dir: Some(PathBuf::new()),
            }),
            Dump::off(),
            Dump::default(),
        ] {
            assert!(!dump.is_enabled());
            assert_eq!(dump.dir(), None);
            dump.sample("fast", &report());
            dump.command(
                &Command::new("true"),
                at(),
                &Ok(output(Exit::Code(0), b"", b"")),
            );
        }
        // Relative paths would land in the working directory; nothing may appear there either.
        assert!(!Path::new(COMMANDS_FILE).exists());
        assert!(!Path::new(SAMPLES_FILE).exists());
    }

    #[test]
    fn on_creates_the_directory_with_mode_0755_and_both_files() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/dump");
        let dump = Dump::from_config(&config(&dir));
        assert!(dump.is_enabled());
        assert_eq!(dump.dir(), Some(dir.as_path()));
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        // The process umask can only take bits away.
        assert_eq!(mode & !0o755, 0, "mode {mode:o}");
        assert!(dir.join(COMMANDS_FILE).is_file());
        assert!(dir.join(SAMPLES_FILE).is_file());
        // An existing directory is fine, and appending keeps what was there.
        dump.sample("fast", &report());
        let again = Dump::from_config(&config(&dir));
        again.sample("slow", &report());
        let samples = std::fs::read_to_string(dir.join(SAMPLES_FILE)).unwrap();
        let kinds: Vec<&str> = samples
            .lines()
            .filter(|line| line.starts_with("===== "))
            .map(|line| line.split("kind=").nth(1).unwrap())
            .collect();
        assert_eq!(kinds, ["fast =====", "slow ====="]);
    }

    #[test]
    fn samples_parse_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dump = Dump::open(tmp.path()).unwrap();
        let mut second = report();
        second.seq = 8;
        dump.sample("fast", &report());
        dump.sample("fast+slow", &second);
        let text = std::fs::read_to_string(tmp.path().join(SAMPLES_FILE)).unwrap();
        let entries: Vec<&str> = text.split("===== 20").skip(1).collect();
        assert_eq!(entries.len(), 2);
        let mut seqs = Vec::new();
        for (entry, kind) in entries.iter().zip(["fast", "fast+slow"]) {
            let (header, json) = entry.split_once('\n').unwrap();
            assert!(
                header.ends_with(&format!("Z kind={kind} =====")),
                "{header}"
            );
            let back: Report = serde_json::from_str(json).unwrap();
            seqs.push(back.seq);
        }
        assert_eq!(seqs, [7, 8]);
    }

    #[test]
    fn uncreatable_directory_warns_once_turns_off_and_the_runner_still_works() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, "not a directory").unwrap();
        let mut dump = Dump::off();
        let warnings = warnings_during(|| dump = Dump::from_config(&config(&file.join("dump"))));
        assert_eq!(warnings, 1);
        assert!(!dump.is_enabled());

        let runner = Runner::new(dump);
        let output = runner
            .run_blocking(&Command::new("echo").arg("still running"))
            .unwrap();
        assert_eq!(output.stdout.bytes, b"still running\n");
        assert_eq!(std::fs::read(&file).unwrap(), b"not a directory");
    }

    #[test]
    fn write_errors_warn_once_not_per_entry_and_never_panic() {
        let tmp = tempfile::tempdir().unwrap();
        // Every write to /dev/full fails with ENOSPC, like a full disk.
        std::os::unix::fs::symlink("/dev/full", tmp.path().join(COMMANDS_FILE)).unwrap();
        std::os::unix::fs::symlink("/dev/full", tmp.path().join(SAMPLES_FILE)).unwrap();
        let dump = Dump::open(tmp.path()).unwrap();
        let warnings = warnings_during(|| {
            for _ in 0..5 {
                dump.sample("fast", &report());
                dump.command(&zpool(), at(), &Ok(output(Exit::Code(0), b"x\n", b"")));
            }
        });
        // One per file, not one per entry.
        assert_eq!(warnings, 2);
    }

    /// Splits `commands.log` into entries: (argv line, status line, stdout body, stderr).
    /// The body is read by its `size`, so an interleaved write would break the parse.
    fn parse_commands(log: &[u8]) -> Vec<(String, String, Vec<u8>, Vec<u8>)> {
        let mut entries = Vec::new();
        let mut rest = log;
        let line = |rest: &mut &[u8]| -> String {
            let end = rest.iter().position(|&b| b == b'\n').expect("a whole line");
            let line = String::from_utf8(rest[..end].to_vec()).unwrap();
            *rest = &rest[end + 1..];
            line
        };
        while !rest.is_empty() {
            let separator = line(&mut rest);
            let stamp = separator
                .strip_prefix("===== ")
                .and_then(|s| s.strip_suffix(" ====="))
                .unwrap_or_else(|| panic!("not a separator: {separator:?}"));
            stamp.parse::<Timestamp>().unwrap();
            assert!(stamp.ends_with('Z') && stamp.len() == 24, "{stamp}");
            let argv = line(&mut rest).strip_prefix("$ ").unwrap().to_string();
            let status = line(&mut rest);
            let mut stdout = Vec::new();
            if let Some(size) = status.split(' ').find_map(|f| f.strip_prefix("size=")) {
                let size: usize = size.parse().unwrap();
                stdout = rest[..size].to_vec();
                rest = &rest[size..];
                if size > 0 && stdout.last() != Some(&b'\n') {
                    assert_eq!(rest[0], b'\n');
                    rest = &rest[1..];
                }
            }
            let mut stderr = Vec::new();
            if rest.starts_with(b"--- stderr ---\n") {
                rest = &rest[b"--- stderr ---\n".len()..];
                let end = find(rest, b"===== ").unwrap_or(rest.len());
                stderr = rest[..end].to_vec();
                rest = &rest[end..];
            }
            entries.push((argv, status, stdout, stderr));
        }
        entries
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    }

    #[test]
    fn runner_calls_are_dumped_and_parse_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dump = Dump::from_config(&config(tmp.path()));
        let runner = Runner::new(dump);
        let script = r#"printf "line one\nno newline at end"; echo warn >&2; exit 3"#;
        runner
            .run_blocking(&Command::new("sh").args(["-c", script]))
            .unwrap();
        runner
            .run_blocking(&Command::new("/nonexistent/zpool").arg("list"))
            .unwrap_err();
        runner
            .run_blocking(
                &Command::new("sleep")
                    .arg("5")
                    .timeout(Duration::from_millis(200)),
            )
            .unwrap_err();

        let log = std::fs::read(tmp.path().join(COMMANDS_FILE)).unwrap();
        let entries = parse_commands(&log);
        assert_eq!(entries.len(), 3);

        let (argv, status, stdout, stderr) = &entries[0];
        let expected = b"line one\nno newline at end";
        assert_eq!(argv, &format!("sh -c '{script}'"));
        assert!(status.starts_with("exit=3 duration="), "{status}");
        assert!(
            status.ends_with(&format!("ms size={}", expected.len())),
            "{status}"
        );
        assert_eq!(stdout, expected);
        assert_eq!(stderr, b"warn\n");

        let (argv, status, stdout, _) = &entries[1];
        assert_eq!(argv, "/nonexistent/zpool list");
        assert!(
            status.starts_with("error=/nonexistent/zpool: not found duration="),
            "{status}"
        );
        assert!(stdout.is_empty());

        let (argv, status, _, _) = &entries[2];
        assert_eq!(argv, "sleep 5");
        assert!(
            status.starts_with("error=sleep: timed out after 200ms duration="),
            "{status}"
        );
        assert!(status.ends_with(" size=0"), "{status}");
    }

    #[tokio::test]
    async fn async_runs_are_dumped_too() {
        let tmp = tempfile::tempdir().unwrap();
        let runner = Runner::new(Dump::open(tmp.path()).unwrap());
        runner
            .run(&Command::new("echo").arg("from async"))
            .await
            .unwrap();
        let log = std::fs::read(tmp.path().join(COMMANDS_FILE)).unwrap();
        let entries = parse_commands(&log);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, "echo 'from async'");
        assert_eq!(entries[0].2, b"from async\n");
    }

    #[test]
    fn sixteen_concurrent_writers_never_interleave() {
        const WRITERS: usize = 16;
        const ENTRIES: usize = 8;
        const BODY: usize = 256 * 1024;
        let tmp = tempfile::tempdir().unwrap();
        let dump = Dump::open(tmp.path()).unwrap();
        std::thread::scope(|scope| {
            for writer in 0..WRITERS {
                let dump = dump.clone();
                scope.spawn(move || {
                    // Each writer's bodies are one repeated letter; a torn write mixes letters.
                    let letter = b'a' + writer as u8;
                    let mut body = vec![letter; BODY];
                    body.push(b'\n');
                    let stderr = vec![letter.to_ascii_uppercase(); 100];
                    let command = Command::new("writer").arg(writer.to_string());
                    for _ in 0..ENTRIES {
                        let result = Ok(output(Exit::Code(0), &body, &stderr));
                        dump.command(&command, Timestamp::now(), &result);
                        dump.sample(&format!("writer{writer}"), &report());
                    }
                });
            }
        });

        let log = std::fs::read(tmp.path().join(COMMANDS_FILE)).unwrap();
        let entries = parse_commands(&log);
        assert_eq!(entries.len(), WRITERS * ENTRIES);
        let mut per_writer = [0usize; WRITERS];
        for (argv, status, stdout, stderr) in &entries {
            let writer: usize = argv.strip_prefix("writer ").unwrap().parse().unwrap();
            per_writer[writer] += 1;
            let letter = b'a' + writer as u8;
            assert!(status.ends_with(&format!("size={}", BODY + 1)), "{status}");
            assert_eq!(stdout.len(), BODY + 1);
            assert!(stdout[..BODY].iter().all(|&b| b == letter));
            let mut expected = vec![letter.to_ascii_uppercase(); 100];
            expected.push(b'\n');
            assert_eq!(stderr, &expected);
        }
        assert_eq!(per_writer, [ENTRIES; WRITERS]);

        let samples = std::fs::read_to_string(tmp.path().join(SAMPLES_FILE)).unwrap();
        let entries: Vec<&str> = samples.split("===== 20").skip(1).collect();
        assert_eq!(entries.len(), WRITERS * ENTRIES);
        for entry in entries {
            let (_, json) = entry.split_once('\n').unwrap();
            assert_eq!(serde_json::from_str::<Report>(json).unwrap(), report());
        }
    }
}
