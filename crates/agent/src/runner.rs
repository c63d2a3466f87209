//! The one runner for every external command the agent starts (`zpool`, `pvesh`, `smartctl`,
//! Nagios plugins, remote commands).
//!
//! What it guarantees, because a monitoring agent must outlive whatever it runs:
//!
//! - **argv, never a shell.** The program and its arguments go to `execve` as they are; a user who
//!   wants a shell says so: `["/bin/sh", "-c", "…"]`.
//! - **Nothing outlives its run.** The command gets its own process group. When the time is up,
//!   when the command exits, or when the caller drops the future, the whole group gets `SIGKILL`,
//!   so a plugin's background children (`sh -c 'sleep 100 & …'`) die with it instead of piling
//!   up tick after tick, and a leftover child holding the output pipe cannot hang the read.
//! - **Bounded memory.** stdout and stderr are read concurrently, each kept up to a cap (the first
//!   N bytes) and drained past it, so the command never blocks on a full pipe and a runaway
//!   command cannot balloon the agent.
//! - **Everything is reported**: exit code or the signal that ended it, both outputs (and
//!   whether they were cut), the wall-clock duration, and typed errors for "not found", "not
//!   executable", "could not start" and "timed out" (with the output that did arrive).
//! - Every run, success or error, goes to the [diagnostic dump](crate::dump) when it is on.
//!
//! Async callers use [`Runner::run`]; collectors, which are synchronous and run on a blocking
//! thread, use [`Runner::run_blocking`].

use crate::collect::CollectError;
use crate::dump::Dump;
use jiff::Timestamp;
use rustix::process::{Pid, Signal, kill_process_group};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// How long a command may run unless its [`Command::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many bytes of stdout, and separately of stderr, are kept unless
/// [`Command::output_limit`] says otherwise.
pub const DEFAULT_OUTPUT_LIMIT: usize = 1024 * 1024;

/// How long to wait, once the command is over (exited, or killed), for its pipes to close and
/// for a killed process to be reaped. Only a process that escaped the group (`setsid`) or one
/// stuck in uninterruptible sleep makes this wait at all.
const GRACE: Duration = Duration::from_secs(1);
/// Read size: the default Linux pipe capacity, so one read usually empties the pipe.
const CHUNK: usize = 64 * 1024;

/// A command to run: a program, its arguments, and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    current_dir: Option<PathBuf>,
    timeout: Duration,
    output_limit: usize,
}

impl Command {
    /// `program` is a path, or a name looked up in `PATH`.
    pub fn new(program: impl Into<OsString>) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            timeout: DEFAULT_TIMEOUT,
            output_limit: DEFAULT_OUTPUT_LIMIT,
        }
    }

    /// A command from an argv as written in the configuration; `None` if it is empty.
    pub fn from_argv<I, S>(argv: I) -> Option<Command>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut argv = argv.into_iter();
        let program = argv.next()?;
        Some(Command::new(program).args(argv))
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Command {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets a variable in the command's environment, on top of the agent's own.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Command {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the command in `dir` instead of the agent's working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Command {
        self.current_dir = Some(dir.into());
        self
    }

    /// The longest the command may run before its process group is killed.
    pub fn timeout(mut self, timeout: Duration) -> Command {
        self.timeout = timeout;
        self
    }

    /// How many bytes of stdout, and separately of stderr, to keep; the rest is read and dropped.
    pub fn output_limit(mut self, bytes: usize) -> Command {
        self.output_limit = bytes;
        self
    }

    pub fn program(&self) -> &OsStr {
        &self.program
    }

    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    pub fn get_output_limit(&self) -> usize {
        self.output_limit
    }

    fn program_name(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }
}

/// The argv as a shell line: arguments a shell would split or expand are single-quoted, so the
/// line can be pasted into a shell to run the command by hand.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, &self.program)?;
        for arg in &self.args {
            f.write_str(" ")?;
            write_quoted(f, arg)?;
        }
        Ok(())
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, word: &OsStr) -> fmt::Result {
    let word = word.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        f.write_str(&word)
    } else {
        write!(f, "'{}'", word.replace('\'', r"'\''"))
    }
}

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it (`SIGKILL` from the OOM killer, a plugin killing itself, …).
    Signaled(i32),
}

impl Exit {
    /// Exited with code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    /// The exit code; `None` when a signal ended the command.
    pub fn code(self) -> Option<i32> {
        match self {
            Exit::Code(code) => Some(code),
            Exit::Signaled(_) => None,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signaled(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// Which of a command's outputs a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Sees each chunk of a command's output as it is read ([`Runner::run_tapped`]).
pub type Observer<'a> = &'a (dyn Fn(Stream, &[u8]) + Sync);

/// What a command wrote to one of its outputs, up to the output limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes written, at most the output limit.
    pub bytes: Vec<u8>,
    /// The command wrote more than the limit; the rest was read and dropped.
    pub truncated: bool,
    /// How many bytes the command wrote in all.
    pub total: u64,
}

impl Captured {
    /// The kept bytes as text, invalid UTF-8 replaced.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }

    fn keep(&mut self, chunk: &[u8], limit: usize) {
        self.total += chunk.len() as u64;
        let room = limit.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
}

/// A command that ran to its end (whatever its exit status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub exit: Exit,
    pub stdout: Captured,
    pub stderr: Captured,
    /// Wall-clock time from start to the end of the run.
    pub duration: Duration,
}

/// What a command that timed out had written by then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    pub stdout: Captured,
    pub stderr: Captured,
    /// Wall-clock time from start until the killed command was cleaned up.
    pub duration: Duration,
}

/// Why a command did not run to its end. Each names the program.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No such program: a path that does not exist, or a name not found in `PATH`.
    #[error("{program}: not found")]
    NotFound { program: String, duration: Duration },
    /// The program exists but may not be executed (no execute bit, a directory, `noexec`).
    #[error("{program}: permission denied (is it executable?)")]
    PermissionDenied { program: String, duration: Duration },
    /// Any other reason the program could not be started.
    #[error("{program}: cannot start: {source}")]
    Spawn {
        program: String,
        source: io::Error,
        duration: Duration,
    },
    /// Waiting for the program failed; it has been killed.
    #[error("{program}: waiting for it failed: {source}")]
    Wait {
        program: String,
        source: io::Error,
        duration: Duration,
    },
    /// The program ran past its timeout; its process group was killed.
    #[error("{program}: timed out after {}ms", timeout.as_millis())]
    TimedOut {
        program: String,
        timeout: Duration,
        /// The output that arrived before the kill.
        partial: Box<Partial>,
    },
}

/// A failed run is a failed section: a timeout is reported as one, anything else as a command
/// error, both with the message naming the program.
impl From<RunError> for CollectError {
    fn from(error: RunError) -> CollectError {
        match error {
            RunError::TimedOut { .. } => CollectError::Timeout(error.to_string()),
            _ => CollectError::Command(error.to_string()),
        }
    }
}

/// Runs commands and hands every run to the diagnostic dump. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Runner {
    dump: Dump,
}

impl Runner {
    pub fn new(dump: Dump) -> Runner {
        Runner { dump }
    }

    /// Runs the command to its end or its timeout.
    ///
    /// Dropping the returned future kills the command's process group; such a cancelled run
    /// is not dumped. Needs a Tokio runtime with I/O and time enabled.
    pub async fn run(&self, command: &Command) -> Result<Output, RunError> {
        self.run_observed(command, None).await
    }

    /// [`Runner::run`], also handing every chunk of output to `observe` as it is read, in the
    /// order it arrives — for `hostwatch run`, which passes a job's output through and keeps
    /// its tail. What `observe` gets does not depend on the output limit.
    pub async fn run_tapped(
        &self,
        command: &Command,
        observe: Observer<'_>,
    ) -> Result<Output, RunError> {
        self.run_observed(command, Some(observe)).await
    }

    async fn run_observed(
        &self,
        command: &Command,
        observe: Option<Observer<'_>>,
    ) -> Result<Output, RunError> {
        let started_at = Timestamp::now();
        let result = execute(command, observe).await;
        if let Some(entry) = self.dump.command_entry(command, started_at, &result) {
            // File I/O blocks; keep it off the async workers.
            let dump = self.dump.clone();
            let written = tokio::task::spawn_blocking(move || dump.append_command_entry(&entry));
            // Only fails if the runtime is shutting down; the entry is lost then, nothing else.
            let _ = written.await;
        }
        result
    }

    /// [`Runner::run`] for synchronous code, such as a collector's `collect()`, which runs on a
    /// blocking thread.
    ///
    /// Inside a Tokio runtime's context (e.g. in `spawn_blocking`) it drives the run on that
    /// runtime; elsewhere it builds a small current-thread runtime for the call. It must not be
    /// called from async code (Tokio panics on blocking a runtime worker). On a current-thread
    /// runtime it works from `spawn_blocking` only while that runtime's `block_on` is running.
    pub fn run_blocking(&self, command: &Command) -> Result<Output, RunError> {
        let started_at = Timestamp::now();
        let result = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(execute(command, None)),
            Err(_) => match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(execute(command, None)),
                Err(source) => Err(RunError::Spawn {
                    program: command.program_name(),
                    source,
                    duration: Duration::ZERO,
                }),
            },
        };
        self.dump.command(command, started_at, &result);
        result
    }
}

/// Sends `SIGKILL` to a command's process group when told to, or when dropped, so a cancelled
/// run cleans up too. It kills at most once.
///
/// After the leader has been reaped, its pid, which is the group id, could in principle be
/// handed to a new process. The kernel keeps a pid in use while any member of its group lives,
/// so the only case is an empty group whose number was recycled within microseconds, by a
/// process that made itself a group leader: not a practical risk with pids allocated cyclically.
struct GroupKiller {
    group: Option<Pid>,
}

impl GroupKiller {
    fn new(leader: Option<u32>) -> GroupKiller {
        // pid 0 or 1 would address our own group or every process: never signal those.
        let group = leader
            .and_then(|pid| i32::try_from(pid).ok())
            .filter(|&pid| pid > 1)
            .and_then(Pid::from_raw);
        GroupKiller { group }
    }

    fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            // ESRCH: everyone in the group is gone already, which is the goal.
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn execute(command: &Command, observe: Option<Observer<'_>>) -> Result<Output, RunError> {
    let started = Instant::now();
    let mut process = tokio::process::Command::new(&command.program);
    process
        .args(&command.args)
        .envs(command.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // The leader itself, should we give up waiting for it; the group killer does the rest.
        .kill_on_drop(true);
    if let Some(dir) = &command.current_dir {
        process.current_dir(dir);
    }
    let mut child = process
        .spawn()
        .map_err(|error| spawn_error(command, error, started.elapsed()))?;
    // Declared after `child`, so it is dropped (and kills) first on cancellation.
    let mut group = GroupKiller::new(child.id());

    let limit = command.output_limit;
    let mut stdout = Captured::default();
    let mut stderr = Captured::default();
    let stdout_pipe = child.stdout.take();
    let stderr_pipe = child.stderr.take();
    let mut deadline = started + command.timeout;
    let mut status = None;
    let mut timed_out = false;
    {
        let pumps = async {
            tokio::join!(
                pump(
                    stdout_pipe,
                    &mut stdout,
                    limit,
                    observe.map(|f| (f, Stream::Stdout))
                ),
                pump(
                    stderr_pipe,
                    &mut stderr,
                    limit,
                    observe.map(|f| (f, Stream::Stderr))
                )
            )
        };
        tokio::pin!(pumps);
        let mut drained = false;
        // Both pipes at end of file and the leader exited: done. Both are needed: a command
        // can close its output and go on running, and its children can hold the pipes after
        // it exited (until the group is killed).
        while !(drained && status.is_some()) {
            tokio::select! {
                exited = child.wait(), if status.is_none() => {
                    status = Some(exited);
                    group.kill();
                    // Only a process that left the group can hold the pipes now; don't wait
                    // the whole timeout for it.
                    deadline = deadline.min(Instant::now() + GRACE);
                }
                _ = &mut pumps, if !drained => drained = true,
                _ = tokio::time::sleep_until(deadline) => {
                    timed_out = status.is_none();
                    break;
                }
            }
        }
        if timed_out {
            group.kill();
            // Reap the killed leader and collect what is still in the pipes; bounded, for a
            // process stuck in the kernel ignores even SIGKILL until it leaves.
            let reap = tokio::time::timeout(GRACE, child.wait());
            let drain = async {
                if !drained {
                    let _ = tokio::time::timeout(GRACE, &mut pumps).await;
                }
            };
            let _ = tokio::join!(reap, drain);
        }
    }
    drop(group);
    let duration = started.elapsed();

    if timed_out {
        return Err(RunError::TimedOut {
            program: command.program_name(),
            timeout: command.timeout,
            partial: Box::new(Partial {
                stdout,
                stderr,
                duration,
            }),
        });
    }
    match status {
        Some(Ok(status)) => {
            let exit = match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signaled(signal),
                // Neither exited nor signalled cannot be returned by wait(); keep it visible.
                (None, None) => Exit::Code(-1),
            };
            Ok(Output {
                exit,
                stdout,
                stderr,
                duration,
            })
        }
        Some(Err(source)) => Err(RunError::Wait {
            program: command.program_name(),
            source,
            duration,
        }),
        // The loop ends with a status unless it timed out, handled above.
        None => Err(RunError::Wait {
            program: command.program_name(),
            source: io::Error::other("the command's exit status was lost"),
            duration,
        }),
    }
}

/// Reads a pipe to its end, keeping up to `limit` bytes. Cancel-safe: what was read stays in
/// `into` when the future is dropped.
async fn pump<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    into: &mut Captured,
    limit: usize,
    observe: Option<(Observer<'_>, Stream)>,
) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut chunk = vec![0; CHUNK];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) => return,
            Ok(read) => {
                if let Some((observe, stream)) = observe {
                    observe(stream, &chunk[..read]);
                }
                into.keep(&chunk[..read], limit)
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            // A broken pipe ends the output; what arrived is kept.
            Err(_) => return,
        }
    }
}

fn spawn_error(command: &Command, error: io::Error, duration: Duration) -> RunError {
    let program = command.program_name();
    match error.kind() {
        io::ErrorKind::NotFound => {
            // exec reports ENOENT for more than a missing program; don't blame the program
            // when it is something else that is missing.
            if let Some(dir) = command.current_dir.as_deref().filter(|dir| !dir.is_dir()) {
                let message = format!("working directory {} does not exist", dir.display());
                return RunError::Spawn {
                    program,
                    source: io::Error::new(io::ErrorKind::NotFound, message),
                    duration,
                };
            }
            if Path::new(&command.program).components().count() > 1
                && Path::new(&command.program).is_file()
            {
                return RunError::Spawn {
                    program,
                    source: io::Error::new(
                        io::ErrorKind::NotFound,
                        "its interpreter (the #! line) was not found",
                    ),
                    duration,
                };
            }
            RunError::NotFound { program, duration }
        }
        io::ErrorKind::PermissionDenied => RunError::PermissionDenied { program, duration },
        _ => RunError::Spawn {
            program,
            source: error,
            duration,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sh(script: &str) -> Command {
        Command::new("/bin/sh").args(["-c", script])
    }

    fn run(command: &Command) -> Result<Output, RunError> {
        Runner::default().run_blocking(command)
    }

    /// Runs a script the test just wrote. Another test thread forking while the file was open
    /// for writing can hold it open a moment longer (`ETXTBSY`); that is the test's race, not
    /// the runner's, so retry it.
    fn run_fresh_script(command: &Command) -> Result<Output, RunError> {
        for _ in 0..50 {
            match run(command) {
                Err(RunError::Spawn { source, .. })
                    if source.kind() == io::ErrorKind::ExecutableFileBusy =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                result => return result,
            }
        }
        run(command)
    }

    /// Whether a process is gone: no longer in /proc, or a zombie waiting for its reaper
    /// (in a container, pid 1 may never reap it).
    fn is_dead(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => {
                let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
                state.is_some_and(|rest| rest.starts_with('Z') || rest.starts_with('X'))
            }
        }
    }

    /// A SIGKILLed process may take a moment to be torn down; poll rather than assume.
    fn wait_dead(pid: u32) -> bool {
        for _ in 0..200 {
            if is_dead(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn pids_in(file: &Path) -> Vec<u32> {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }

    #[test]
    fn exit_codes_are_reported() {
        for code in [0, 1, 2, 3, 7] {
            let output = run(&sh(&format!("exit {code}"))).unwrap();
            assert_eq!(output.exit, Exit::Code(code));
            assert_eq!(output.exit.code(), Some(code));
            assert_eq!(output.exit.success(), code == 0);
        }
        assert_eq!(run(&Command::new("true")).unwrap().exit, Exit::Code(0));
        assert_eq!(run(&Command::new("false")).unwrap().exit, Exit::Code(1));
    }

    #[test]
    fn stdout_only_stderr_only_and_both() {
        let output = run(&sh("echo out")).unwrap();
        assert_eq!(output.stdout.bytes, b"out\n");
        assert!(output.stderr.bytes.is_empty());

        let output = run(&sh("echo err >&2; exit 2")).unwrap();
        assert!(output.stdout.bytes.is_empty());
        assert_eq!(output.stderr.bytes, b"err\n");
        assert_eq!(output.exit, Exit::Code(2));

        let output = run(&sh("echo one; echo two >&2; echo three; echo four >&2")).unwrap();
        assert_eq!(output.stdout.text(), "one\nthree\n");
        assert_eq!(output.stderr.text(), "two\nfour\n");
        assert_eq!(output.stdout.total, 10);
        assert!(!output.stdout.truncated && !output.stderr.truncated);
    }

    #[test]
    fn argv_goes_to_the_program_unexpanded() {
        let output =
            run(&Command::from_argv(["echo", "$HOME", "a b", "*", "'q'"]).unwrap()).unwrap();
        assert_eq!(output.stdout.text(), "$HOME a b * 'q'\n");
        assert_eq!(Command::from_argv(Vec::<String>::new()), None);
    }

    #[test]
    fn env_additions_and_working_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let command = sh("echo \"$HOSTWATCH_TEST_VAR\"; pwd")
            .env("HOSTWATCH_TEST_VAR", "from the runner")
            .current_dir(tmp.path());
        let output = run(&command).unwrap();
        let expected = format!(
            "from the runner\n{}\n",
            tmp.path().canonicalize().unwrap().display()
        );
        assert_eq!(output.stdout.text(), expected);
        // The agent's own environment is inherited.
        let output = run(&sh("echo \"$PATH\"")).unwrap();
        assert_eq!(
            output.stdout.text().trim_end(),
            std::env::var("PATH").unwrap()
        );
    }

    #[test]
    fn a_signal_is_reported_as_signaled() {
        let output = run(&sh("echo before; kill -KILL $$")).unwrap();
        assert_eq!(output.exit, Exit::Signaled(9));
        assert_eq!(output.exit.code(), None);
        assert_eq!(output.stdout.bytes, b"before\n");
        assert_eq!(run(&sh("kill -TERM $$")).unwrap().exit, Exit::Signaled(15));
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let tmp = tempfile::tempdir().unwrap();
        let pids = tmp.path().join("pids");
        let script = format!(
            "echo $$ > {0}; sleep 100 & echo $! >> {0}; echo started; echo working >&2; wait",
            pids.display()
        );
        let error = run(&sh(&script).timeout(Duration::from_millis(500))).unwrap_err();
        let RunError::TimedOut {
            program,
            timeout,
            partial,
        } = &error
        else {
            panic!("expected a timeout, got {error:?}");
        };
        assert_eq!(program, "/bin/sh");
        assert_eq!(*timeout, Duration::from_millis(500));
        assert!(partial.duration >= Duration::from_millis(500));
        assert_eq!(partial.stdout.bytes, b"started\n");
        assert_eq!(partial.stderr.bytes, b"working\n");
        assert_eq!(error.to_string(), "/bin/sh: timed out after 500ms");
        assert!(matches!(
            CollectError::from(error),
            CollectError::Timeout(_)
        ));

        let pids = pids_in(&pids);
        assert_eq!(pids.len(), 2, "the script wrote its pid and its child's");
        for pid in pids {
            assert!(wait_dead(pid), "process {pid} survived the timeout");
        }
    }

    #[test]
    fn leftover_children_are_killed_when_the_command_exits() {
        // The background sleep keeps stdout open; without the group kill, reading stdout to its
        // end would wait for the sleep, and the run would end as a timeout.
        let output = run(&sh("sleep 100 & echo $!").timeout(Duration::from_secs(60))).unwrap();
        assert_eq!(output.exit, Exit::Code(0));
        let pid: u32 = output.stdout.text().trim().parse().unwrap();
        assert!(wait_dead(pid), "leftover child {pid} survived");
    }

    #[tokio::test]
    async fn dropping_the_future_kills_the_group() {
        let tmp = tempfile::tempdir().unwrap();
        let pids_file = tmp.path().join("pids");
        let script = format!(
            "echo $$ > {0}; sleep 100 & echo $! >> {0}; wait",
            pids_file.display()
        );
        let runner = Runner::default();
        let command = sh(&script);
        {
            let run = runner.run(&command);
            tokio::pin!(run);
            let mut started = false;
            for _ in 0..500 {
                tokio::select! {
                    result = &mut run => panic!("ended early: {result:?}"),
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
                if pids_in(&pids_file).len() == 2 {
                    started = true;
                    break;
                }
            }
            assert!(started, "the script did not start");
        }
        let pids = pids_in(&pids_file);
        for pid in pids {
            assert!(wait_dead(pid), "process {pid} survived the dropped future");
        }
    }

    #[test]
    fn output_is_capped_and_drained_without_deadlock() {
        const TEN_MIB: u64 = 10 * 1024 * 1024;
        let limit = 4096;
        // 10 MiB on each pipe at once: a runner that read one pipe after the other, or stopped
        // reading at the cap, would leave the command blocked on a full pipe until the timeout.
        let script = format!("head -c {TEN_MIB} /dev/zero >&2 & head -c {TEN_MIB} /dev/zero; wait");
        let output = run(&sh(&script)
            .output_limit(limit)
            .timeout(Duration::from_secs(120)))
        .unwrap();
        assert_eq!(output.exit, Exit::Code(0));
        for captured in [&output.stdout, &output.stderr] {
            assert!(captured.truncated);
            assert_eq!(captured.bytes.len(), limit);
            assert!(captured.bytes.iter().all(|&b| b == 0));
            assert_eq!(captured.total, TEN_MIB);
        }

        // Exactly at the limit is not truncated; one byte more is.
        let exact = run(&Command::new("head")
            .args(["-c", "4096", "/dev/zero"])
            .output_limit(limit))
        .unwrap();
        assert_eq!(exact.stdout.bytes.len(), limit);
        assert!(!exact.stdout.truncated);
        let over = run(&Command::new("head")
            .args(["-c", "4097", "/dev/zero"])
            .output_limit(limit))
        .unwrap();
        assert_eq!(over.stdout.bytes.len(), limit);
        assert!(over.stdout.truncated);
        assert_eq!(over.stdout.total, 4097);
    }

    #[test]
    fn large_output_under_the_default_limit_arrives_whole() {
        let output = run(&Command::new("head").args(["-c", "300000", "/dev/urandom"])).unwrap();
        assert_eq!(output.stdout.bytes.len(), 300_000);
        assert!(!output.stdout.truncated);
        let copy = run(&Command::new("cat").arg("/proc/self/status")).unwrap();
        assert!(copy.stdout.text().starts_with("Name:\tcat\n"));
    }

    #[test]
    fn missing_binary_is_not_found_naming_it() {
        for program in ["/nonexistent/zpool", "hostwatch-no-such-program"] {
            let error = run(&Command::new(program).arg("status")).unwrap_err();
            assert!(
                matches!(&error, RunError::NotFound { program: p, .. } if p == program),
                "{error:?}"
            );
            assert_eq!(error.to_string(), format!("{program}: not found"));
            assert!(matches!(
                CollectError::from(error),
                CollectError::Command(_)
            ));
        }
    }

    #[test]
    fn non_executable_file_is_permission_denied() {
        let tmp = tempfile::tempdir().unwrap();
        let script = tmp.path().join("check_plain");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = run(&Command::new(&script)).unwrap_err();
        assert!(
            matches!(error, RunError::PermissionDenied { .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: permission denied", script.display()))
        );

        // A directory is not a program either.
        let error = run(&Command::new(tmp.path())).unwrap_err();
        assert!(
            matches!(error, RunError::PermissionDenied { .. }),
            "{error:?}"
        );

        // With the execute bit it runs.
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            run_fresh_script(&Command::new(&script))
                .unwrap()
                .stdout
                .bytes,
            b"hi\n"
        );
    }

    #[test]
    fn enoent_that_is_not_the_program_says_what_is_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let script = tmp.path().join("check_interp");
        std::fs::write(&script, "#!/nonexistent/interpreter\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = run_fresh_script(&Command::new(&script)).unwrap_err();
        assert!(matches!(error, RunError::Spawn { .. }), "{error:?}");
        assert!(error.to_string().contains("interpreter"), "{error}");

        let error = run(&Command::new("true").current_dir(tmp.path().join("gone"))).unwrap_err();
        assert!(matches!(error, RunError::Spawn { .. }), "{error:?}");
        assert!(error.to_string().contains("working directory"), "{error}");
    }

    #[tokio::test]
    async fn async_run_and_blocking_run_inside_a_runtime() {
        let output = Runner::default()
            .run(&sh("echo async; exit 3"))
            .await
            .unwrap();
        assert_eq!(
            (output.exit, output.stdout.text().as_ref()),
            (Exit::Code(3), "async\n")
        );

        // A collector runs on a blocking thread of the agent's runtime.
        let output =
            tokio::task::spawn_blocking(|| Runner::default().run_blocking(&sh("echo sync")))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(output.stdout.bytes, b"sync\n");
    }

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let command = Command::new("zpool").args(["status", "-j", "--json-int"]);
        assert_eq!(command.to_string(), "zpool status -j --json-int");
        let command = Command::from_argv(["/bin/sh", "-c", "echo it's $HOME", ""]).unwrap();
        assert_eq!(command.to_string(), r"/bin/sh -c 'echo it'\''s $HOME' ''");
    }
}
