//! Where the host's `/proc`, `/sys` and `/` are: the real ones, a host's mounted into a
//! container (`/host/proc`), or a recorded tree in a test.

use crate::collect::CollectError;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
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
    File::open(path)
        .and_then(|f| f.take(u64::MAX).read_to_string(buf))
        .map(|_| ())
        .map_err(|source| CollectError::io(path, source))
}

/// A file the kernel generates afresh on every read (`/proc/stat`, `/sys/.../temp1_input`),
/// read on every tick: opened once, then read again from offset 0, as `top` does with
/// `/proc/stat`. That saves the path lookup, open and close of each read: a third of what
/// reading a small /proc file costs.
///
/// Kept open only where the filesystem regenerates the contents per read (procfs, sysfs,
/// cgroupfs); anything else — a recorded fixture — is opened on every read, so a test that
/// replaces the file is read afresh. A read that fails on the kept descriptor (the device
/// behind a sysfs file went away) is retried once on a freshly opened one, so the error
/// reported is the one a fresh open gives (usually `NotFound`).
#[derive(Debug)]
pub struct PseudoFile {
    path: PathBuf,
    file: Option<File>,
}

impl PseudoFile {
    pub fn new(path: PathBuf) -> Self {
        PseudoFile { path, file: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file into `buf`, reusing its allocation; the error names the file.
    pub fn read_into(&mut self, buf: &mut String) -> Result<(), CollectError> {
        if let Some(file) = &self.file {
            buf.clear();
            if read_from_start(file, buf).is_ok() {
                return Ok(());
            }
            self.file = None;
        }
        buf.clear();
        let file = File::open(&self.path).map_err(|e| CollectError::io(&self.path, e))?;
        read_from_start(&file, buf).map_err(|e| CollectError::io(&self.path, e))?;
        if regenerated_per_read(&file) {
            self.file = Some(file);
        }
        Ok(())
    }

    /// As [`read_into`](Self::read_into); `Ok(false)` when the file does not exist.
    pub fn read_optional(&mut self, buf: &mut String) -> Result<bool, CollectError> {
        not_found_is_false(self.read_into(buf))
    }

    /// The open descriptor, once a read has kept one (for `poll` on a mount table).
    pub fn kept(&self) -> Option<&File> {
        self.file.as_ref()
    }
}

/// Reads through `pread` from offset 0 to the end: one call for a small file, and no
/// `lseek` however often the same descriptor is read.
fn read_from_start(file: &File, buf: &mut String) -> io::Result<usize> {
    struct FromStart<'a> {
        file: &'a File,
        offset: u64,
    }
    impl Read for FromStart<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.file.read_at(out, self.offset)?;
            self.offset += n as u64;
            Ok(n)
        }
    }
    FromStart { file, offset: 0 }.read_to_string(buf)
}

/// Whether `file` lives on a filesystem that produces its contents at each read.
// The magic numbers' integer types differ between architectures.
#[allow(clippy::unnecessary_cast)]
fn regenerated_per_read(file: &File) -> bool {
    let Ok(stats) = rustix::fs::fstatfs(file) else {
        return false;
    };
    let magic = stats.f_type as i64;
    [
        libc::PROC_SUPER_MAGIC as i64,
        libc::SYSFS_MAGIC as i64,
        libc::CGROUP2_SUPER_MAGIC as i64,
    ]
    .contains(&magic)
}

fn not_found_is_false(read: Result<(), CollectError>) -> Result<bool, CollectError> {
    match read {
        Ok(()) => Ok(true),
        Err(CollectError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Reads a file that may legitimately be absent (a source this host does not have);
/// `Ok(false)` when it is, any other failure is an error naming the file.
pub fn read_optional(path: &Path, buf: &mut String) -> Result<bool, CollectError> {
    not_found_is_false(read_into(path, buf))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn uptime(file: &mut PseudoFile, buf: &mut String) -> f64 {
        file.read_into(buf).unwrap();
        buf.split_whitespace().next().unwrap().parse().unwrap()
    }

    #[test]
    fn a_proc_file_is_kept_open_and_each_read_is_fresh() {
        let mut file = PseudoFile::new("/proc/uptime".into());
        let mut buf = String::new();
        let first = uptime(&mut file, &mut buf);
        assert!(file.kept().is_some(), "a procfs file is kept open");
        std::thread::sleep(std::time::Duration::from_millis(30));
        let second = uptime(&mut file, &mut buf);
        // /proc/uptime counts in hundredths of a second: 30 ms later it has moved on.
        assert!(
            second > first,
            "{second} after {first}: the kept file was not re-read"
        );
        assert!(buf.ends_with('\n') && buf.lines().count() == 1, "{buf:?}");
    }

    #[test]
    fn a_sysfs_file_is_kept_open() {
        let mut file = PseudoFile::new("/sys/kernel/mm/transparent_hugepage/enabled".into());
        let mut absent = PseudoFile::new("/sys/kernel/no-such-file".into());
        let mut buf = String::new();
        if file.read_optional(&mut buf).unwrap() {
            assert!(file.kept().is_some());
            assert!(!buf.is_empty());
        }
        assert!(!absent.read_optional(&mut buf).unwrap());
        assert!(absent.kept().is_none());
    }

    #[test]
    fn a_regular_file_is_opened_on_every_read_so_a_replaced_one_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        std::fs::write(&path, "one\n").unwrap();
        let mut file = PseudoFile::new(path.clone());
        let mut buf = String::new();
        file.read_into(&mut buf).unwrap();
        assert_eq!(buf, "one\n");
        assert!(file.kept().is_none());
        // Replaced by a rename, as a test rewriting a fixture may do: a kept descriptor would
        // still read the old file.
        std::fs::write(dir.path().join("new"), "two\n").unwrap();
        std::fs::rename(dir.path().join("new"), &path).unwrap();
        file.read_into(&mut buf).unwrap();
        assert_eq!(buf, "two\n");
        std::fs::remove_file(&path).unwrap();
        let err = file.read_into(&mut buf).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert!(!file.read_optional(&mut buf).unwrap());
    }

    #[test]
    fn a_long_file_is_read_whole() {
        // Longer than one page, so the kernel answers in several reads at growing offsets.
        let mut file = PseudoFile::new("/proc/self/maps".into());
        let mut buf = String::new();
        for _ in 0..2 {
            file.read_into(&mut buf).unwrap();
            assert!(buf.len() > 4096, "{} bytes", buf.len());
            assert!(buf.ends_with('\n'));
            assert!(buf.contains("[stack]"), "the whole map, to its end");
        }
    }
}
