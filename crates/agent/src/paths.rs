//! Where the host's `/proc`, `/sys` and `/` are: the real ones, a host's mounted into a
//! container (`/host/proc`), or a recorded tree in a test.

use crate::collect::CollectError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The roots every collector reads through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// Normally `/proc`.
    pub proc: PathBuf,
    /// Normally `/sys`.
    pub sys: PathBuf,
    /// The host's `/`, for `/etc/os-release` and friends.
    pub root: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            proc: "/proc".into(),
            sys: "/sys".into(),
            root: "/".into(),
        }
    }
}

impl HostPaths {
    /// A recorded tree with `proc/`, `sys/` and the rest below one directory, as the fixtures are laid out.
    pub fn under(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        HostPaths {
            proc: dir.join("proc"),
            sys: dir.join("sys"),
            root: dir.to_path_buf(),
        }
    }

    pub fn proc(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.proc.join(rel)
    }

    pub fn sys(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.sys.join(rel)
    }

    /// `rel` below the host's `/`, e.g. `etc/os-release`.
    pub fn root(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }
}

/// Reads a whole file into `buf`, reusing its allocation; the error names the file.
///
/// Through `take`: `read_to_string` on a bare `File` first asks for the file's size (a
/// `statx` and an `lseek`), which /proc and /sys files do not know (they say 0 or 4096), so
/// that would be two wasted system calls on every read — a third of the calls per file.
pub fn read_into(path: &Path, buf: &mut String) -> Result<(), CollectError> {
    buf.clear();
    std::fs::File::open(path)
        .and_then(|f| f.take(u64::MAX).read_to_string(buf))
        .map(|_| ())
        .map_err(|source| CollectError::io(path, source))
}

/// Reads a file that may legitimately be absent (a source this host does not have);
/// `Ok(false)` when it is, any other failure is an error naming the file.
pub fn read_optional(path: &Path, buf: &mut String) -> Result<bool, CollectError> {
    match read_into(path, buf) {
        Ok(()) => Ok(true),
        Err(CollectError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Reads a small file and trims it; `None` when it does not exist or cannot be read
/// (optional sysfs attributes: absence is normal, not an error).
pub fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Reads a small file holding one number; `None` when missing or not a number.
pub fn read_number<T: std::str::FromStr>(path: &Path) -> Option<T> {
    read_trimmed(path)?.parse().ok()
}
