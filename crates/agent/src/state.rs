//! What the agent keeps across restarts: where (the state directory), who it is (its instance
//! id) and how far it has counted (a `seq` high-water mark).
//!
//! The hub stores a report once by `(host, instance_id, seq)`, so a restarted agent must never
//! send a `seq` it used before under the same instance id. Writing the counter on every report
//! would cost a write and an fsync per tick; instead the agent *reserves* numbers in blocks of
//! [`SEQ_BLOCK`]: before it uses a number past the reservation it writes the new upper bound
//! (atomically, fsynced), and a restart continues after the last reservation. A crash can skip
//! up to a block of numbers, never repeat one.
//!
//! Layout of the state directory:
//!
//! ```text
//! instance_id      the agent's random id (a UUID), one line
//! seq_reserved     the highest seq this instance may have used, one line
//! agent.lock       held (flock) by the running agent daemon, so two never share one counter
//! spool/           undelivered documents, see crate::spool
//! ```

use rustix::fs::{Access, FlockOperation, flock};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How many seq numbers one write reserves.
pub const SEQ_BLOCK: u64 = 1000;
/// The system-wide state directory, used when the agent may write there.
pub const SYSTEM_STATE_DIR: &str = "/var/lib/hostwatch";

const INSTANCE_FILE: &str = "instance_id";
const SEQ_FILE: &str = "seq_reserved";
const LOCK_FILE: &str = "agent.lock";

/// Why the state directory could not be used. Each names the path.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state directory {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "state directory {}: another hostwatch agent is running with it (it holds {LOCK_FILE}); \
         stop it, or give this one its own [agent] state_dir",
        path.display()
    )]
    Locked { path: PathBuf },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The environment the default state directory is chosen from; a parameter so tests can pass
/// their own.
#[derive(Debug, Clone)]
pub struct StateDirCandidates {
    /// `/var/lib/hostwatch`.
    pub system: PathBuf,
    /// `$XDG_STATE_HOME`.
    pub xdg_state_home: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl StateDirCandidates {
    pub fn from_process() -> StateDirCandidates {
        let non_empty = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        StateDirCandidates {
            system: SYSTEM_STATE_DIR.into(),
            xdg_state_home: non_empty("XDG_STATE_HOME"),
            home: non_empty("HOME"),
        }
    }
}

/// The state directory to use and why it was chosen (for the start-up log line).
///
/// The configured one if set; else the system directory when this process may write there (it
/// exists and is writable, or its parent is, so it can be created — root, or a `hostwatch`
/// user owning it); else the user's `$XDG_STATE_HOME/hostwatch` or
/// `~/.local/state/hostwatch`. As a last resort, the system directory, whose error then names it.
pub fn resolve_state_dir(
    configured: Option<&Path>,
    candidates: &StateDirCandidates,
) -> (PathBuf, &'static str) {
    if let Some(dir) = configured {
        return (dir.to_path_buf(), "configured as agent.state_dir");
    }
    let system = &candidates.system;
    let writable = |p: &Path| rustix::fs::access(p, Access::WRITE_OK | Access::EXEC_OK).is_ok();
    let system_ok = if system.is_dir() {
        writable(system)
    } else {
        system.parent().is_some_and(writable)
    };
    if system_ok {
        return (system.clone(), "the system state directory, writable");
    }
    if let Some(xdg) = &candidates.xdg_state_home
        && xdg.is_absolute()
    {
        return (
            xdg.join("hostwatch"),
            "$XDG_STATE_HOME, as the system state directory is not writable",
        );
    }
    if let Some(home) = &candidates.home {
        return (
            home.join(".local/state/hostwatch"),
            "~/.local/state, as the system state directory is not writable",
        );
    }
    (
        system.clone(),
        "the system state directory (not writable, no home directory)",
    )
}

/// Creates `dir` (and its parents) readable by its owner only: the spool holds full reports.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Writes `bytes` to `path` so that a reader sees either the old file or the whole new one,
/// even across a crash: a temporary file in the same directory, fsynced, renamed over `path`,
/// then the directory fsynced so the rename itself is durable.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Dot-prefixed, so directory scans skip it; pid and a random part keep writers apart.
    let tmp = dir.join(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The agent daemon's persistent identity and seq reservation, holding the state directory's
/// lock while it lives.
#[derive(Debug)]
pub struct AgentState {
    dir: PathBuf,
    instance_id: String,
    /// The last seq a previous run may have used; this run starts after it.
    resume_after: u64,
    /// The highest seq this run may use without writing a new reservation.
    reserved: u64,
    _lock: File,
}

impl AgentState {
    /// Opens (creating when needed) the state in `dir`, takes its lock, and reserves the first
    /// block of seq numbers for this run.
    pub fn open(dir: &Path) -> Result<AgentState, StateError> {
        create_private_dir(dir).map_err(io_error(dir))?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(LOCK_FILE))
            .map_err(io_error(dir))?;
        match flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(StateError::Locked {
                    path: dir.to_path_buf(),
                });
            }
            Err(e) => return Err(io_error(dir)(e.into())),
        }

        let seq_path = dir.join(SEQ_FILE);
        let instance_path = dir.join(INSTANCE_FILE);
        let stored_seq = read_line(&seq_path).map_err(io_error(&seq_path))?;
        let stored_id = read_line(&instance_path).map_err(io_error(&instance_path))?;
        let valid_id = stored_id.filter(|id| is_valid_instance_id(id));
        let (instance_id, resume_after) = match (valid_id, stored_seq.map(|s| s.parse::<u64>())) {
            (Some(id), Some(Ok(seq))) => (id, seq),
            (Some(id), None) => (id, 0),
            // A damaged counter cannot be trusted not to go backwards: start a new instance,
            // whose numbering cannot collide with the old one's.
            (_, Some(Err(_))) | (None, _) => {
                let id = new_instance_id();
                tracing::info!(instance_id = %id, dir = %dir.display(), "new agent instance id");
                write_atomically(&instance_path, format!("{id}\n").as_bytes())
                    .map_err(io_error(&instance_path))?;
                (id, 0)
            }
        };
        let mut state = AgentState {
            dir: dir.to_path_buf(),
            instance_id,
            resume_after,
            reserved: resume_after,
            _lock: lock,
        };
        state.ensure_reserved(resume_after + 1)?;
        Ok(state)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The seq this run continues after: its first report is `resume_after() + 1`.
    pub fn resume_after(&self) -> u64 {
        self.resume_after
    }

    /// Makes sure `seq` is covered by a durable reservation before it is used; writes a new
    /// block when it is not. Cheap (no I/O) within a block.
    pub fn ensure_reserved(&mut self, seq: u64) -> Result<(), StateError> {
        if seq <= self.reserved {
            return Ok(());
        }
        let upto = seq.saturating_add(SEQ_BLOCK - 1);
        let path = self.dir.join(SEQ_FILE);
        write_atomically(&path, format!("{upto}\n").as_bytes()).map_err(io_error(&path))?;
        self.reserved = upto;
        Ok(())
    }
}

/// A file's first line, trimmed; `None` when the file does not exist.
fn read_line(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.lines().next().unwrap_or("").trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_valid_instance_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A random UUID from the kernel's generator; time, pid and a random number if that is missing.
pub fn new_uuid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            format!(
                "{:x}-{:x}-{:016x}",
                jiff::Timestamp::now().as_nanosecond(),
                std::process::id(),
                fastrand::u64(..)
            )
        })
}

fn new_instance_id() -> String {
    new_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_open_creates_an_identity_and_reserves_a_block() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let state = AgentState::open(&dir).unwrap();
        assert_eq!(state.resume_after(), 0);
        assert_eq!(state.instance_id().len(), 36, "{}", state.instance_id());
        assert_eq!(
            std::fs::read_to_string(dir.join(SEQ_FILE)).unwrap(),
            "1000\n"
        );
        let id = state.instance_id().to_string();
        drop(state);

        // A restart keeps the id and continues after the whole reserved block.
        let mut state = AgentState::open(&dir).unwrap();
        assert_eq!(state.instance_id(), id);
        assert_eq!(state.resume_after(), 1000);
        assert_eq!(
            std::fs::read_to_string(dir.join(SEQ_FILE)).unwrap(),
            "2000\n"
        );
        // Within the block nothing is written; past it the next block is.
        state.ensure_reserved(2000).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join(SEQ_FILE)).unwrap(),
            "2000\n"
        );
        state.ensure_reserved(2001).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join(SEQ_FILE)).unwrap(),
            "3000\n"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&dir).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_second_agent_on_the_same_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let _first = AgentState::open(tmp.path()).unwrap();
        let error = AgentState::open(tmp.path()).unwrap_err();
        assert!(matches!(error, StateError::Locked { .. }), "{error:?}");
        assert!(
            error.to_string().contains("another hostwatch agent"),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_counter_starts_a_new_instance() {
        let tmp = tempfile::tempdir().unwrap();
        let id = AgentState::open(tmp.path())
            .unwrap()
            .instance_id()
            .to_string();
        std::fs::write(tmp.path().join(SEQ_FILE), "12ab\n").unwrap();
        let state = AgentState::open(tmp.path()).unwrap();
        assert_ne!(state.instance_id(), id);
        assert_eq!(state.resume_after(), 0);

        // A damaged id too.
        std::fs::write(tmp.path().join(INSTANCE_FILE), "not/an id\n").unwrap();
        drop(state);
        let state = AgentState::open(tmp.path()).unwrap();
        assert!(is_valid_instance_id(state.instance_id()));
        assert_eq!(state.resume_after(), 0);
    }

    #[test]
    fn unwritable_state_dir_names_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let error = AgentState::open(&file.join("state")).unwrap_err();
        assert!(
            error.to_string().contains(&file.display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn state_dir_choice() {
        let tmp = tempfile::tempdir().unwrap();
        let configured = tmp.path().join("configured");
        let writable = StateDirCandidates {
            system: tmp.path().join("var/lib/hostwatch"),
            xdg_state_home: Some(tmp.path().join("xdg")),
            home: Some(tmp.path().join("home")),
        };
        assert_eq!(
            resolve_state_dir(Some(&configured), &writable).0,
            configured
        );
        // The system dir does not exist and neither does its parent: not creatable.
        assert_eq!(
            resolve_state_dir(None, &writable).0,
            tmp.path().join("xdg/hostwatch")
        );
        // Its parent exists and is writable: it can be created.
        std::fs::create_dir_all(tmp.path().join("var/lib")).unwrap();
        assert_eq!(
            resolve_state_dir(None, &writable).0,
            tmp.path().join("var/lib/hostwatch")
        );
        // Without XDG_STATE_HOME, ~/.local/state.
        let user = StateDirCandidates {
            system: tmp.path().join("missing/hostwatch"),
            xdg_state_home: None,
            home: Some(tmp.path().join("home")),
        };
        assert_eq!(
            resolve_state_dir(None, &user).0,
            tmp.path().join("home/.local/state/hostwatch")
        );
    }

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temp_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }
}
