//! Finding and running the external tools that command-based collectors read (`zpool`,
//! `smartctl`, `pvesh`): a tool that is not installed means the source is absent, a tool that
//! fails is a section error naming the command.

use super::CollectError;
use crate::runner::{Command, Output, Runner};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where to look for tools named without a slash: the agent's `PATH` as it started, or the one
/// a test sets up (tests never change the process environment, which other tests share).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPath(Option<OsString>);

impl ToolPath {
    /// The agent's own `PATH`.
    pub fn from_env() -> ToolPath {
        ToolPath(std::env::var_os("PATH"))
    }

    /// An explicit search path, `:`-separated like `PATH`.
    pub fn new(path: impl Into<OsString>) -> ToolPath {
        ToolPath(Some(path.into()))
    }

    /// The executable `program` names: itself when it holds a `/`, else the first executable
    /// file of that name in the search path. `None` when there is none: the tool is not
    /// installed, so its source is absent on this host.
    pub fn locate(&self, program: &str) -> Option<PathBuf> {
        if program.is_empty() {
            return None;
        }
        if program.contains('/') {
            let path = PathBuf::from(program);
            return is_executable(&path).then_some(path);
        }
        let dirs = self.0.as_deref().unwrap_or(OsStr::new(""));
        std::env::split_paths(dirs)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs `command` through the agent's runner with `timeout`, and returns its output when it
/// exited 0. Anything else is an error naming the command line: the exit status and the first
/// line of what it wrote to stderr (else stdout).
pub fn run_ok(
    runner: &Runner,
    command: Command,
    timeout: Duration,
) -> Result<Output, CollectError> {
    let output = run(runner, &command, timeout)?;
    if output.exit.success() {
        Ok(output)
    } else {
        Err(failed(&command, &output))
    }
}

/// Runs `command` with `timeout` to its end, whatever its exit status; an error only when it
/// could not run or timed out, naming the command line.
pub fn run(runner: &Runner, command: &Command, timeout: Duration) -> Result<Output, CollectError> {
    runner
        .run_blocking(&command.clone().timeout(timeout))
        .map_err(|e| match e {
            crate::runner::RunError::TimedOut { .. } => {
                CollectError::Timeout(format!("`{command}`: timed out after {timeout:?}"))
            }
            other => CollectError::Command(format!("`{command}`: {other}")),
        })
}

/// The error for a command that ran and reported failure.
pub fn failed(command: &Command, output: &Output) -> CollectError {
    CollectError::Command(format!(
        "`{command}`: {}{}",
        output.exit,
        first_line(output)
            .map(|l| format!(": {l}"))
            .unwrap_or_default()
    ))
}

/// The first non-empty line of stderr, else of stdout, shortened for a message.
pub fn first_line(output: &Output) -> Option<String> {
    let pick = |text: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.chars().take(200).collect::<String>())
    };
    pick(&output.stderr.text()).or_else(|| pick(&output.stdout.text()))
}

/// The error for output that ran fine but could not be understood.
pub fn garbage(command: &Command, what: impl std::fmt::Display) -> CollectError {
    CollectError::Parse {
        path: PathBuf::from(format!("`{command}`")),
        message: what.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fake tools for tests: shell scripts in a temp dir that print recorded output, found
    //! through a [`ToolPath`] that names only that dir, and run by the real runner.

    use super::ToolPath;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    pub struct FakeTools {
        pub dir: tempfile::TempDir,
    }

    impl FakeTools {
        pub fn new() -> FakeTools {
            FakeTools {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        pub fn path(&self) -> ToolPath {
            ToolPath::new(self.dir.path())
        }

        /// Copies `fixture` into the dir and writes `name`, a script that prints it (to stdout)
        /// and exits with `code`, whatever its arguments; every argv is appended to
        /// `<name>.args` so tests can check what was asked.
        pub fn script(&self, name: &str, body: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            let text = format!(
                "#!/bin/sh\necho \"$*\" >> '{}/{name}.args'\n{body}\n",
                self.dir.path().display()
            );
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        }

        /// A tool that prints the fixture file and exits with `code`.
        pub fn printing(&self, name: &str, fixture: &Path, code: i32) -> PathBuf {
            let copy = self.dir.path().join(format!("{name}.out"));
            std::fs::copy(fixture, &copy).unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
            self.script(name, &format!("cat '{}'\nexit {code}", copy.display()))
        }

        /// The argument lines the tool `name` was called with, one per call.
        pub fn calls(&self, name: &str) -> Vec<String> {
            std::fs::read_to_string(self.dir.path().join(format!("{name}.args")))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    pub fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel)
    }

    /// `text` (a recorded file or command output) with one to five random edits: something
    /// inserted (digits, signs, separators, whitespace and newlines, or any characters), a
    /// stretch cut out, or a stretch overwritten. Input close to what a parser expects reaches
    /// far deeper into it than random text, so properties that it never panics use this.
    pub fn damaged(text: &'static str) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let edit = (
            any::<prop::sample::Index>(),
            0..3u8,
            prop_oneof!["[0-9 \t\n:=.,()/+-]{1,8}", "\\PC{1,4}"],
        );
        prop::collection::vec(edit, 1..6).prop_map(move |edits| {
            let mut s = text.to_string();
            for (at, kind, piece) in edits {
                let start = boundary_at_or_before(&s, at.index(s.len() + 1));
                let end = boundary_at_or_before(&s, (start + piece.len()).min(s.len()));
                match kind {
                    0 => s.insert_str(start, &piece),
                    1 => s.replace_range(start..end, ""),
                    _ => s.replace_range(start..end, &piece),
                }
            }
            s
        })
    }

    fn boundary_at_or_before(s: &str, mut i: usize) -> usize {
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::testing::FakeTools;
    use super::*;

    #[test]
    fn locate_finds_executables_only_in_the_given_path() {
        let tools = FakeTools::new();
        tools.script("zpool", "exit 0");
        std::fs::write(tools.dir.path().join("plain"), "not executable").unwrap();
        let path = tools.path();
        assert_eq!(path.locate("zpool"), Some(tools.dir.path().join("zpool")));
        assert_eq!(path.locate("plain"), None, "no execute bit");
        assert_eq!(path.locate("smartctl"), None);
        assert_eq!(ToolPath::new("").locate("sh"), None);
        let abs = tools.dir.path().join("zpool");
        assert_eq!(
            ToolPath::new("").locate(abs.to_str().unwrap()),
            Some(abs.clone())
        );
        assert_eq!(ToolPath::new("").locate("/nonexistent/zpool"), None);
    }

    #[test]
    fn run_ok_names_the_command_and_its_stderr_on_failure() {
        let tools = FakeTools::new();
        let tool = tools.script("zpool", "echo 'cannot open pool' >&2\nexit 1");
        let err = run_ok(
            &Runner::default(),
            Command::new(&tool).arg("list"),
            Duration::from_secs(10),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("zpool list"), "{msg}");
        assert!(msg.contains("exit code 1: cannot open pool"), "{msg}");
    }

    #[test]
    fn run_ok_times_out_with_the_command_named() {
        let tools = FakeTools::new();
        let tool = tools.script("slow", "sleep 5");
        let err = run_ok(
            &Runner::default(),
            Command::new(&tool),
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(matches!(err, CollectError::Timeout(_)));
        assert!(err.to_string().contains("slow"), "{err}");
    }
}
