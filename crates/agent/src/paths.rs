//! Where the host's `/proc`, `/sys` and `/` are: the real ones, a host's mounted into a
//! container (`/host/proc`), or a recorded tree in a test.

use crate::collect::CollectError;
use std::fs::File;
use std::io;
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
/// Through [`read_text`]: `read_to_string` on a bare `File` first asks for the file's size (a
/// `statx` and an `lseek`), which /proc and /sys files do not know (they say 0 or 4096), so
/// that would be two wasted system calls on every read — a third of the calls per file.
pub fn read_into(path: &Path, buf: &mut String) -> Result<(), CollectError> {
    buf.clear();
    File::open(path)
        .and_then(|f| read_text(&f, buf, Rendering::Records))
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
    rendering: Rendering,
}

/// How the kernel hands a pseudo file out, which decides how the end of it is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// Rendered whole in one pass (`single_open`: `/proc/stat`, `loadavg`, `meminfo`, a PSI
    /// file, a process's `stat`, `status` or `io`, any sysfs attribute or cgroup file), then
    /// handed out as far as asked: a read that returns less than it asked for has reached the
    /// end, so the read that would return 0 to say so is never made. That is one system call
    /// less per file and tick: a third of the calls on the fast tick.
    Whole,
    /// A sequence of records (`net/dev`, `diskstats`, `mountinfo`) rendered a page of records
    /// at a time: a read can come back short before the end, so reading goes on until a read
    /// returns 0.
    Records,
}

impl PseudoFile {
    /// A file of records (see [`Rendering::Records`]).
    pub fn new(path: PathBuf) -> Self {
        PseudoFile {
            path,
            file: None,
            rendering: Rendering::Records,
        }
    }

    /// A file the kernel renders whole in one pass (see [`Rendering::Whole`]).
    pub fn whole(path: PathBuf) -> Self {
        PseudoFile {
            rendering: Rendering::Whole,
            ..PseudoFile::new(path)
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file into `buf`, reusing its allocation; the error names the file.
    pub fn read_into(&mut self, buf: &mut String) -> Result<(), CollectError> {
        if let Some(file) = &self.file {
            if read_text(file, buf, self.rendering).is_ok() {
                return Ok(());
            }
            self.file = None;
        }
        let file = File::open(&self.path).map_err(|e| CollectError::io(&self.path, e))?;
        read_text(&file, buf, self.rendering).map_err(|e| CollectError::io(&self.path, e))?;
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

/// Reads `file` from offset 0 to its end into `buf` (cleared first, allocation reused), as
/// text; a file that is not UTF-8 is an `InvalidData` error, as with `read_to_string`.
fn read_text(file: &File, buf: &mut String, rendering: Rendering) -> io::Result<()> {
    let mut bytes = std::mem::take(buf).into_bytes();
    bytes.clear();
    let read = read_from_start(file, &mut bytes, rendering);
    match String::from_utf8(bytes) {
        Ok(text) => {
            *buf = text;
            read
        }
        Err(e) => {
            let mut bytes = e.into_bytes();
            bytes.clear();
            *buf = String::from_utf8(bytes).unwrap_or_default();
            read.and(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the file is not valid UTF-8",
            )))
        }
    }
}

/// The least room offered to one read: enough for any fast-tier file in one call once the
/// buffer has grown to its file.
const MIN_READ: usize = 1024;

/// Appends `file`'s contents from offset 0 to its end to `buf`, through `pread` (no `lseek`
/// however often the same descriptor is read) into the vector's spare room (nothing zeroed
/// first). How the end is recognised is `rendering`'s.
pub fn read_from_start(file: &File, buf: &mut Vec<u8>, rendering: Rendering) -> io::Result<()> {
    let mut offset = 0u64;
    loop {
        if buf.capacity() - buf.len() < MIN_READ {
            buf.reserve(buf.capacity().max(MIN_READ));
        }
        let asked = buf.capacity() - buf.len();
        let n = match rustix::io::pread(file, rustix::buffer::spare_capacity(buf), offset) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        offset += n as u64;
        if n == 0 || (rendering == Rendering::Whole && n < asked) {
            return Ok(());
        }
    }
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
    fn a_file_rendered_whole_is_read_to_its_end_in_reads_shorter_or_longer_than_the_buffer() {
        // Longer than the first read's room (`MIN_READ`), so the buffer grows once; after
        // that, one read returns all of it.
        let mut file = PseudoFile::whole("/proc/self/status".into());
        let mut buf = String::new();
        for _ in 0..3 {
            file.read_into(&mut buf).unwrap();
            assert!(buf.len() > MIN_READ, "{} bytes", buf.len());
            assert!(buf.starts_with("Name:"), "{buf:?}");
            let last = buf.lines().last().unwrap();
            assert!(
                last.starts_with("nonvoluntary_ctxt_switches:") && buf.ends_with('\n'),
                "not read to its end: {last:?}"
            );
        }
        assert!(file.kept().is_some());
    }

    #[test]
    fn a_file_that_is_not_utf8_is_an_error_naming_it_and_the_buffer_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meminfo");
        std::fs::write(&path, b"MemTotal: \xff\xfe kB\n").unwrap();
        for mut file in [
            PseudoFile::whole(path.clone()),
            PseudoFile::new(path.clone()),
        ] {
            let mut buf = String::with_capacity(4096);
            let err = file.read_into(&mut buf).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains("UTF-8"), "{text}");
            assert!(buf.is_empty() && buf.capacity() >= 4096);
        }
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
