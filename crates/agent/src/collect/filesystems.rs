//! Mounted filesystems as `df` shows them: the mount table from `/proc/self/mountinfo`
//! (<https://man7.org/linux/man-pages/man5/proc_pid_mountinfo.5.html>; `/proc/self/mounts` when
//! mountinfo is missing), sizes from `statvfs(3)`.
//!
//! Which mounts are reported:
//! - of several mounts on one mount point only the last, the one that is visible;
//! - the configured include/exclude patterns on mount point and filesystem type (the defaults
//!   leave out pseudo filesystems such as proc, cgroup and tmpfs);
//! - the same filesystem mounted twice (bind mounts, btrfs subvolumes: one `major:minor`) once,
//!   preferring the mount of its root directory, then the shortest mount point;
//! - filesystems reporting zero blocks are pseudo filesystems and skipped, as `df` does.
//!
//! `statvfs` on a network filesystem whose server is gone can block for ever, so for those it
//! runs on a helper thread with a timeout; a probe that timed out is remembered, and that mount
//! is reported as hung without a new thread until the old call returns.
//!
//! The mount table is read again only when it changed: procfs flags an open mount table file
//! (`POLLPRI`) when a mount comes, goes or changes in the namespace, so a steady table costs one
//! `poll` per tick instead of the kernel formatting every mount — the most expensive /proc file
//! the agent reads.
//!
//! Hand-parsed rather than through `procfs_core::process::MountInfo`: that parser leaves the
//! octal escapes (`\040` for a space) in mount points and builds two option maps per line.

use crate::HostPaths;
use crate::collect::{CollectError, Collector};
use crate::config::FilesystemsConfig;
use crate::filter::Filter;
use crate::paths::PseudoFile;
use hostwatch_proto::sections::{Filesystem, Filesystems};
use hostwatch_proto::{SectionData, Tier};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

/// How long a `statvfs` on a network filesystem may take before the mount is reported as hung.
pub const NETWORK_STAT_TIMEOUT: Duration = Duration::from_secs(2);

/// Filesystem types whose `statvfs` waits on a remote server (or a user-space daemon, for FUSE).
const NETWORK_FS_TYPES: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "ceph",
    "glusterfs",
    "9p",
    "afs",
    "coda",
    "lustre",
    "gpfs",
    "beegfs",
    "orangefs",
    "davfs",
];

fn may_hang(fs_type: &str) -> bool {
    NETWORK_FS_TYPES.contains(&fs_type) || fs_type.starts_with("fuse")
}

/// What `statvfs` says about a filesystem, in its own units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsStats {
    /// The unit the block counts are in (`f_frsize`).
    pub block_size: u64,
    pub blocks: u64,
    pub blocks_free: u64,
    /// Free blocks an unprivileged user may use.
    pub blocks_available: u64,
    pub inodes: u64,
    pub inodes_free: u64,
}

/// The `statvfs` seam: the real syscall, or a fake in tests.
pub type StatFn = Arc<dyn Fn(&Path) -> io::Result<FsStats> + Send + Sync>;

/// `statvfs(2)` through rustix.
pub fn statvfs(path: &Path) -> io::Result<FsStats> {
    let s = rustix::fs::statvfs(path)?;
    Ok(FsStats {
        // The C library falls back to f_bsize the same way for kernels without f_frsize.
        block_size: if s.f_frsize == 0 {
            s.f_bsize
        } else {
            s.f_frsize
        },
        blocks: s.f_blocks,
        blocks_free: s.f_bfree,
        blocks_available: s.f_bavail,
        inodes: s.f_files,
        inodes_free: s.f_ffree,
    })
}

/// Reports size and use of every real mounted filesystem.
pub struct FilesystemsCollector {
    paths: HostPaths,
    /// `/proc/self/mountinfo`, else `/proc/self/mounts`, each with its line parser.
    tables: [(PseudoFile, LineParser); 2],
    /// The mounts selected from the table last read, and which of `tables` that was: reused
    /// while procfs says the table is unchanged.
    selected: Option<(usize, Vec<Mount<'static>>)>,
    mount_filter: Filter,
    fs_type_filter: Filter,
    stat: StatFn,
    timeout: Duration,
    /// The mount table text, kept to reuse its allocation.
    buf: String,
    /// `statvfs` calls that timed out and have not returned yet, by mount point.
    hung: HashMap<String, HungProbe>,
}

impl std::fmt::Debug for FilesystemsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesystemsCollector")
            .field("paths", &self.paths)
            .field("selected", &self.selected)
            .field("timeout", &self.timeout)
            .field("hung", &self.hung.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A helper thread still inside `statvfs`; its answer arrives on `result` when it returns.
#[derive(Debug)]
struct HungProbe {
    result: Receiver<io::Result<FsStats>>,
    since: Instant,
}

/// One mount table entry, as far as it is needed, with escapes decoded.
#[derive(Debug, Clone, PartialEq)]
struct Mount<'a> {
    mount_point: Cow<'a, str>,
    device: Cow<'a, str>,
    fs_type: Cow<'a, str>,
    /// The filesystem's `major:minor`; the same filesystem mounted twice shares it. From
    /// `/proc/self/mounts` only the device path is known, and only for `/dev/...` sources.
    identity: Option<Cow<'a, str>>,
    /// The directory of the filesystem this mount shows: `/` unless it is a bind mount of a
    /// subdirectory.
    root: Cow<'a, str>,
    read_only: bool,
}

impl Mount<'_> {
    /// The same entry, no longer borrowing the table text it was parsed from.
    fn into_owned(self) -> Mount<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Mount {
            mount_point: own(self.mount_point),
            device: own(self.device),
            fs_type: own(self.fs_type),
            identity: self.identity.map(own),
            root: own(self.root),
            read_only: self.read_only,
        }
    }
}

/// Parses one line of a mount table.
type LineParser = fn(&str) -> Result<Mount<'_>, String>;

/// Where a mount's size came from this tick.
enum Probe {
    Done(io::Result<FsStats>),
    Waiting(Receiver<io::Result<FsStats>>),
    StillHung(Instant),
}

impl FilesystemsCollector {
    pub fn new(config: &FilesystemsConfig, paths: &HostPaths) -> Self {
        Self::with_stat(config, paths, Arc::new(statvfs), NETWORK_STAT_TIMEOUT)
    }

    /// With another `statvfs` (tests) and network timeout.
    pub fn with_stat(
        config: &FilesystemsConfig,
        paths: &HostPaths,
        stat: StatFn,
        timeout: Duration,
    ) -> Self {
        FilesystemsCollector {
            paths: paths.clone(),
            tables: [
                (
                    PseudoFile::new(paths.proc("self/mountinfo")),
                    parse_mountinfo_line,
                ),
                (
                    PseudoFile::new(paths.proc("self/mounts")),
                    parse_mounts_line,
                ),
            ],
            selected: None,
            mount_filter: Filter::new(&config.include_mounts, &config.exclude_mounts),
            fs_type_filter: Filter::new(&config.include_fs_types, &config.exclude_fs_types),
            stat,
            timeout,
            buf: String::new(),
            hung: HashMap::new(),
        }
    }

    pub fn collect_filesystems(&mut self) -> Result<Option<Filesystems>, CollectError> {
        let current = match self.selected.take() {
            Some((table, mounts)) if unchanged_since_last_poll(&self.tables[table].0) => {
                Some((table, mounts))
            }
            _ => self.read_table()?,
        };
        let Some((table, mounts)) = current else {
            return Ok(None);
        };
        let measured = self.measure(&mounts);
        self.selected = Some((table, mounts));
        Ok(Some(Filesystems { mounts: measured }))
    }

    /// Reads the mount table and selects the mounts to report; with the table they came from,
    /// `None` when this host has neither table.
    fn read_table(&mut self) -> Result<Option<(usize, Vec<Mount<'static>>)>, CollectError> {
        for (table, (file, parse)) in self.tables.iter_mut().enumerate() {
            if !file.read_optional(&mut self.buf)? {
                continue;
            }
            let mounts =
                parse_table(&self.buf, *parse).map_err(|m| CollectError::parse(file.path(), m))?;
            let selected = select(&self.mount_filter, &self.fs_type_filter, mounts);
            return Ok(Some((
                table,
                selected.into_iter().map(Mount::into_owned).collect(),
            )));
        }
        Ok(None)
    }
}

/// The mounts to report, sorted by mount point.
fn select<'a>(
    mount_filter: &Filter,
    fs_type_filter: &Filter,
    mounts: Vec<Mount<'a>>,
) -> Vec<Mount<'a>> {
    // Only the last mount on a mount point is visible, so only its figures are to be had.
    let mut seen = HashSet::new();
    let mut visible: Vec<Mount<'a>> = mounts
        .into_iter()
        .rev()
        .filter(|m| seen.insert(m.mount_point.clone()))
        .filter(|m| mount_filter.allows(&m.mount_point) && fs_type_filter.allows(&m.fs_type))
        .collect();
    // One filesystem once: its root mount first, then the shortest mount point.
    visible.sort_by(|a, b| {
        (
            &a.identity,
            a.root != "/",
            a.mount_point.len(),
            &a.mount_point,
        )
            .cmp(&(
                &b.identity,
                b.root != "/",
                b.mount_point.len(),
                &b.mount_point,
            ))
    });
    visible.dedup_by(|later, first| later.identity.is_some() && later.identity == first.identity);
    visible.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    visible
}

impl FilesystemsCollector {
    /// `statvfs` of each mount, network filesystems on helper threads waited for together.
    fn measure(&mut self, mounts: &[Mount<'_>]) -> Vec<Filesystem> {
        // Forget probes that have returned since; their mounts get a fresh one below.
        self.hung
            .retain(|_, p| matches!(p.result.try_recv(), Err(TryRecvError::Empty)));

        let probes: Vec<Probe> = mounts
            .iter()
            .map(|m| {
                let path = self.paths.root(m.mount_point.trim_start_matches('/'));
                if !may_hang(&m.fs_type) {
                    return Probe::Done((self.stat)(&path));
                }
                if let Some(hung) = self.hung.get(m.mount_point.as_ref()) {
                    return Probe::StillHung(hung.since);
                }
                let (tx, rx) = mpsc::channel();
                let stat = Arc::clone(&self.stat);
                let spawned = std::thread::Builder::new()
                    .name("hostwatch-statvfs".into())
                    .spawn(move || {
                        // The receiver is gone if we stopped waiting and the mount vanished.
                        let _ = tx.send(stat(&path));
                    });
                match spawned {
                    Ok(_) => Probe::Waiting(rx),
                    Err(e) => Probe::Done(Err(e)),
                }
            })
            .collect();

        let deadline = Instant::now() + self.timeout;
        let mut out = Vec::with_capacity(mounts.len());
        for (mount, probe) in mounts.iter().zip(probes) {
            let stats = match probe {
                Probe::Done(result) => result.map_err(|e| format!("statvfs: {e}")),
                Probe::Waiting(rx) => {
                    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                        Ok(result) => result.map_err(|e| format!("statvfs: {e}")),
                        Err(RecvTimeoutError::Timeout) => {
                            let since = Instant::now();
                            self.hung.insert(
                                mount.mount_point.to_string(),
                                HungProbe { result: rx, since },
                            );
                            Err(format!(
                                "statvfs did not return within {:?} (server not responding?)",
                                self.timeout
                            ))
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            Err("statvfs helper thread ended without an answer".to_string())
                        }
                    }
                }
                Probe::StillHung(since) => Err(format!(
                    "statvfs has not returned for {} s; not retried until it does",
                    since.elapsed().as_secs()
                )),
            };
            match stats {
                Ok(s) if s.blocks == 0 => {} // a pseudo filesystem
                Ok(s) => out.push(filesystem(mount, &s, None)),
                Err(e) => out.push(filesystem(mount, &FsStats::default(), Some(e))),
            }
        }
        out
    }
}

impl Collector for FilesystemsCollector {
    fn name(&self) -> &'static str {
        "filesystems"
    }

    fn default_tier(&self) -> Tier {
        Tier::Medium
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.collect_filesystems()?.map(SectionData::from))
    }
}

/// Whether procfs says the mount table open in `table` has not changed since the last poll
/// (or since it was opened). `false` when it cannot tell: a file not kept open (not on procfs,
/// such as a recorded fixture) or a failed `poll`.
fn unchanged_since_last_poll(table: &PseudoFile) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let Some(file) = table.kept() else {
        return false;
    };
    let mut fds = [PollFd::new(file, PollFlags::PRI)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&now)) {
        Ok(_) => !fds[0]
            .revents()
            .intersects(PollFlags::PRI | PollFlags::ERR | PollFlags::NVAL),
        Err(_) => false,
    }
}

fn parse_table<'a>(
    text: &'a str,
    parse: fn(&'a str) -> Result<Mount<'a>, String>,
) -> Result<Vec<Mount<'a>>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse(line).map_err(|m| format!("line {}: {m}", i + 1)))
        .collect()
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`: id, parent,
/// major:minor, root, mount point, mount options, optional fields, `-`, type, source, superblock
/// options. Fields are separated by single spaces; spaces inside them are written `\040`.
fn parse_mountinfo_line(line: &str) -> Result<Mount<'_>, String> {
    let mut fields = line.split(' ');
    let mut next = || fields.next();
    let (Some(_id), Some(_parent), Some(devno), Some(root), Some(mount_point), Some(options)) =
        (next(), next(), next(), next(), next(), next())
    else {
        return Err("expected at least 10 space-separated fields".into());
    };
    if !devno.contains(':') {
        return Err(format!("expected major:minor, found {devno:?}"));
    }
    loop {
        match fields.next() {
            Some("-") => break,
            Some(_optional) => {}
            None => return Err("no \" - \" before the filesystem type".into()),
        }
    }
    let (Some(fs_type), Some(source), Some(super_options)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err("expected type, source and options after \" - \"".into());
    };
    Ok(Mount {
        mount_point: unescape(mount_point),
        device: unescape(source),
        fs_type: unescape(fs_type),
        identity: Some(Cow::Borrowed(devno)),
        root: unescape(root),
        read_only: has_option(options, "ro") || has_option(super_options, "ro"),
    })
}

/// `/dev/sda1 /boot ext4 rw,relatime 0 0`, the older table without device numbers.
fn parse_mounts_line(line: &str) -> Result<Mount<'_>, String> {
    let mut fields = line.split_ascii_whitespace();
    let (Some(source), Some(mount_point), Some(fs_type), Some(options)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("expected source, mount point, type and options".into());
    };
    let device = unescape(source);
    Ok(Mount {
        mount_point: unescape(mount_point),
        identity: device.starts_with("/dev/").then(|| device.clone()),
        device,
        fs_type: unescape(fs_type),
        root: Cow::Borrowed("/"),
        read_only: has_option(options, "ro"),
    })
}

fn has_option(options: &str, name: &str) -> bool {
    options.split(',').any(|o| o == name)
}

/// Decodes the kernel's `\ooo` octal escapes (space, tab, newline, backslash) in mount table
/// fields; borrows when there is nothing to decode.
fn unescape(field: &str) -> Cow<'_, str> {
    if !field.contains('\\') {
        return Cow::Borrowed(field);
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            d.iter()
                .try_fold(0u32, |acc, &b| {
                    (b'0'..=b'7')
                        .contains(&b)
                        .then(|| acc * 8 + u32::from(b - b'0'))
                })
                .and_then(|v| u8::try_from(v).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The `df` view of one mount; `error` when it could not be measured.
fn filesystem(mount: &Mount<'_>, s: &FsStats, error: Option<String>) -> Filesystem {
    let bytes = |blocks: u64| blocks.saturating_mul(s.block_size);
    let used_blocks = s.blocks.saturating_sub(s.blocks_free);
    let (used, available) = (bytes(used_blocks), bytes(s.blocks_available));
    Filesystem {
        mount: mount.mount_point.to_string(),
        device: mount.device.to_string(),
        fs_type: mount.fs_type.to_string(),
        size_bytes: bytes(s.blocks),
        used_bytes: used,
        free_bytes: bytes(s.blocks_free),
        available_bytes: available,
        // df's formula: the share of what non-root users could have, so a disk whose reserved
        // blocks are all that is left shows 100 %.
        used_pct: if used_blocks + s.blocks_available == 0 {
            0.0
        } else {
            used_blocks as f64 / (used_blocks + s.blocks_available) as f64 * 100.0
        },
        inodes_total: s.inodes,
        inodes_free: s.inodes_free,
        inodes_used_pct: (s.inodes > 0)
            .then(|| s.inodes.saturating_sub(s.inodes_free) as f64 / s.inodes as f64 * 100.0),
        read_only: mount.read_only,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/filesystems");

    fn fixture(case: &str) -> HostPaths {
        HostPaths::under(format!("{FIXTURES}/{case}"))
    }

    /// 1000 blocks of 4 KiB, 300 free, 250 of them available; 100 inodes, 40 free.
    const DISK: FsStats = FsStats {
        block_size: 4096,
        blocks: 1000,
        blocks_free: 300,
        blocks_available: 250,
        inodes: 100,
        inodes_free: 40,
    };

    /// A fake statvfs: `DISK` for every path except those below `root` named in `pseudo`
    /// (zero blocks, like proc or cgroup).
    fn fake_stat(root: PathBuf, pseudo: &'static [&'static str]) -> StatFn {
        Arc::new(move |path: &Path| {
            let rel = path.strip_prefix(&root).expect("stat below the host root");
            let mount = Path::new("/").join(rel);
            if pseudo.iter().any(|p| Path::new(p) == mount) {
                Ok(FsStats::default())
            } else {
                Ok(DISK)
            }
        })
    }

    fn collector(
        paths: HostPaths,
        config: FilesystemsConfig,
        stat: StatFn,
    ) -> FilesystemsCollector {
        FilesystemsCollector::with_stat(&config, &paths, stat, Duration::from_millis(100))
    }

    fn no_excludes() -> FilesystemsConfig {
        FilesystemsConfig {
            exclude_mounts: Vec::new(),
            exclude_fs_types: Vec::new(),
            ..FilesystemsConfig::default()
        }
    }

    fn mounts(f: &Filesystems) -> Vec<&str> {
        f.mounts.iter().map(|m| m.mount.as_str()).collect()
    }

    fn temp_tree(file: &str, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        std::fs::write(dir.path().join("proc/self").join(file), text).unwrap();
        dir
    }

    #[test]
    fn dev_machine_reports_the_root_disk_with_df_figures() {
        let paths = fixture("dev-machine");
        let stat = fake_stat(paths.root.clone(), &[]);
        let mut c = collector(paths, FilesystemsConfig::default(), stat);
        let f = c.collect_filesystems().unwrap().unwrap();
        assert_eq!(
            f.mounts,
            [Filesystem {
                mount: "/".into(),
                device: "/dev/vda".into(),
                fs_type: "ext4".into(),
                size_bytes: 4_096_000,
                used_bytes: 700 * 4096,
                free_bytes: 300 * 4096,
                available_bytes: 250 * 4096,
                used_pct: 700.0 / 950.0 * 100.0,
                inodes_total: 100,
                inodes_free: 40,
                inodes_used_pct: Some(60.0),
                read_only: false,
                error: None,
            }]
        );
    }

    #[test]
    fn without_excludes_only_visible_mounts_with_blocks_remain() {
        let paths = fixture("dev-machine");
        let pseudo: &[&str] = &["/proc", "/sys", "/dev/pts"];
        let stat = fake_stat(paths.root.clone(), pseudo);
        let mut c = collector(paths, no_excludes(), stat);
        let f = c.collect_filesystems().unwrap().unwrap();
        // /dev/pts and /dev/shm are each mounted twice on one mount point: reported once. The
        // cgroup mounts answer with blocks, so without the default excludes they are listed.
        assert_eq!(
            mounts(&f),
            [
                "/",
                "/dev",
                "/dev/shm",
                "/mnt/sandboxing/model_tools_env/v1/python",
                "/sys/fs/cgroup",
                "/sys/fs/cgroup/blkio",
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/cpuacct",
                "/sys/fs/cgroup/cpuset",
                "/sys/fs/cgroup/devices",
                "/sys/fs/cgroup/freezer",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/pids",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/unified",
            ]
        );
        let ro = &f.mounts[3];
        assert!(ro.read_only, "mounted with ro");
        assert_eq!(
            (ro.device.as_str(), ro.fs_type.as_str()),
            ("model_tools_unavailable", "tmpfs")
        );
        assert!(!f.mounts[0].read_only);
    }

    #[test]
    fn node_exporter_mountinfo_defaults() {
        let paths = fixture("node-exporter");
        let stat = fake_stat(paths.root.clone(), &[]);
        let mut c = collector(paths, FilesystemsConfig::default(), stat);
        let f = c.collect_filesystems().unwrap().unwrap();
        assert_eq!(mounts(&f), ["/", "/boot"]);
        assert_eq!(
            (f.mounts[0].device.as_str(), f.mounts[0].fs_type.as_str()),
            ("/dev/dm-2", "ext4")
        );
        assert_eq!(
            (f.mounts[1].device.as_str(), f.mounts[1].fs_type.as_str()),
            ("/dev/sda3", "ext2")
        );
    }

    #[test]
    fn octal_escapes_are_decoded_before_filtering() {
        let paths = fixture("node-exporter");
        let stat = fake_stat(paths.root.clone(), &[]);
        let config = FilesystemsConfig {
            include_mounts: vec!["*[vsanDatastore] *".into()],
            ..no_excludes()
        };
        let mut c = collector(paths, config, stat);
        let f = c.collect_filesystems().unwrap().unwrap();
        assert_eq!(
            mounts(&f),
            [
                "/var/lib/kubelet/plugins/kubernetes.io/vsphere-volume/mounts/[vsanDatastore] bafb9e5a-8856-7e6c-699c-801844e77a4a/kubernetes-dynamic-pvc-3eba5bba-48a3-11e8-89ab-005056b92113.vmdk"
            ]
        );
        assert_eq!(unescape(r"a\134b\011c\012d\040e"), "a\\b\tc\nd e");
        assert_eq!(unescape(r"trailing\04"), r"trailing\04");
        assert_eq!(unescape(r"not\999octal"), r"not\999octal");
        assert!(matches!(unescape("/plain"), Cow::Borrowed("/plain")));
    }

    #[test]
    fn same_device_twice_is_reported_once() {
        let paths = fixture("node-exporter");
        let stat = fake_stat(paths.root.clone(), &[]);
        let config = FilesystemsConfig {
            include_fs_types: vec!["ext*".into(), "xfs".into()],
            ..no_excludes()
        };
        let mut c = collector(paths, config, stat);
        let f = c.collect_filesystems().unwrap().unwrap();
        // The two kubelet mounts share 260:0 and differ only in a tab against a space: the tab
        // sorts first. The xfs bind mount of a subdirectory is that device's only mount here.
        assert_eq!(
            mounts(&f),
            [
                "/",
                "/boot",
                "/var/lib/containers/storage/overlay",
                "/var/lib/kubelet/plugins/kubernetes.io/vsphere-volume/mounts/[vsanDatastore]\tbafb9e5a-8856-7e6c-699c-801844e77a4a/kubernetes-dynamic-pvc-3eba5bba-48a3-11e8-89ab-005056b92113.vmdk",
            ]
        );
    }

    #[test]
    fn bind_mounts_prefer_the_root_then_the_shortest_path() {
        let tree = temp_tree(
            "mountinfo",
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
             2 1 8:2 / /srv/data rw - ext4 /dev/sda2 rw\n\
             3 1 8:2 /export /x rw - ext4 /dev/sda2 rw\n\
             4 1 8:2 / /srv/data/again rw - ext4 /dev/sda2 rw\n\
             5 1 8:3 / /home/user/backup rw shared:5 master:2 - ext4 /dev/sda3 rw\n\
             6 1 8:3 / /mnt ro - ext4 /dev/sda3 rw\n\
             7 1 0:40 / /mnt/ro-super rw - ext4 /dev/sdb ro\n",
        );
        let paths = HostPaths::under(tree.path());
        let mut c = collector(
            paths.clone(),
            no_excludes(),
            fake_stat(paths.root.clone(), &[]),
        );
        let f = c.collect_filesystems().unwrap().unwrap();
        assert_eq!(mounts(&f), ["/", "/mnt", "/mnt/ro-super", "/srv/data"]);
        assert!(f.mounts[1].read_only && f.mounts[2].read_only && !f.mounts[3].read_only);
    }

    #[test]
    fn exclude_wins_before_dedup() {
        // The shorter mount is excluded, so the other mount of the device is the one reported.
        let tree = temp_tree(
            "mountinfo",
            "1 0 8:2 / /data rw - ext4 /dev/sda2 rw\n2 1 8:2 / /var/lib/docker/volumes/v rw - ext4 /dev/sda2 rw\n",
        );
        let paths = HostPaths::under(tree.path());
        let config = FilesystemsConfig {
            exclude_mounts: vec!["/data".into()],
            ..FilesystemsConfig::default()
        };
        let mut c = collector(paths.clone(), config, fake_stat(paths.root.clone(), &[]));
        let f = c.collect_filesystems().unwrap().unwrap();
        assert_eq!(mounts(&f), ["/var/lib/docker/volumes/v"]);
    }

    #[test]
    fn old_mounts_table_when_mountinfo_is_missing() {
        let paths = fixture("node-exporter-mounts");
        let stat = fake_stat(paths.root.clone(), &[]);
        let mut c = collector(paths.clone(), FilesystemsConfig::default(), stat.clone());
        let f = c.collect_filesystems().unwrap().unwrap();
        // `rootfs` on / is hidden by the ext4 mounted over it.
        assert_eq!(mounts(&f), ["/", "/boot"]);
        assert_eq!(f.mounts[0].fs_type, "ext4");

        let config = FilesystemsConfig {
            include_mounts: vec!["/var/lib/kubelet/*".into()],
            ..no_excludes()
        };
        let mut c = collector(paths, config, stat);
        let f = c.collect_filesystems().unwrap().unwrap();
        // Both kubelet mounts are /dev/sda: once, the tab-escaped one.
        assert_eq!(f.mounts.len(), 1);
        assert!(
            f.mounts[0].mount.contains("[vsanDatastore]\tbafb"),
            "{}",
            f.mounts[0].mount
        );
    }

    #[test]
    fn stat_errors_are_per_mount() {
        let tree = temp_tree(
            "mountinfo",
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 8:2 / /secret rw - ext4 /dev/sda2 rw\n",
        );
        let paths = HostPaths::under(tree.path());
        let root = paths.root.clone();
        let stat: StatFn = Arc::new(move |p: &Path| {
            if p == root.join("secret") {
                Err(io::Error::from(io::ErrorKind::PermissionDenied))
            } else {
                Ok(DISK)
            }
        });
        let mut c = collector(paths, no_excludes(), stat);
        let f = c.collect_filesystems().unwrap().unwrap();
        assert_eq!(mounts(&f), ["/", "/secret"]);
        assert_eq!(f.mounts[0].error, None);
        let secret = &f.mounts[1];
        assert!(
            secret
                .error
                .as_deref()
                .unwrap()
                .starts_with("statvfs: permission denied")
        );
        assert_eq!(
            (secret.size_bytes, secret.used_pct, secret.inodes_used_pct),
            (0, 0.0, None)
        );
    }

    /// A gate the fake NFS statvfs waits at, as a dead server would keep it waiting.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        changed: Condvar,
    }

    #[test]
    fn hung_network_mount_is_reported_and_not_probed_again_until_it_returns() {
        let tree = temp_tree(
            "mountinfo",
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
             2 1 0:50 / /mnt/nfs rw - nfs4 server:/export rw\n\
             3 1 0:51 / /mnt/sshfs rw - fuse.sshfs me@host:/ rw\n",
        );
        let paths = HostPaths::under(tree.path());
        let nfs_path = paths.root.join("mnt/nfs");
        let gate = Arc::new(Gate::default());
        let (nfs_calls, nfs_returns, others) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let stat: StatFn = {
            let (gate, nfs_calls, nfs_returns, others) = (
                gate.clone(),
                nfs_calls.clone(),
                nfs_returns.clone(),
                others.clone(),
            );
            Arc::new(move |p: &Path| {
                if p == nfs_path {
                    nfs_calls.fetch_add(1, Ordering::SeqCst);
                    let mut open = gate.open.lock().unwrap();
                    while !*open {
                        open = gate.changed.wait(open).unwrap();
                    }
                    nfs_returns.fetch_add(1, Ordering::SeqCst);
                } else {
                    others.fetch_add(1, Ordering::SeqCst);
                }
                Ok(DISK)
            })
        };
        let mut c = collector(paths, FilesystemsConfig::default(), stat);

        let f = c.collect_filesystems().unwrap().unwrap();
        assert_eq!(mounts(&f), ["/", "/mnt/nfs", "/mnt/sshfs"]);
        let nfs = &f.mounts[1];
        assert_eq!(
            (nfs.device.as_str(), nfs.fs_type.as_str()),
            ("server:/export", "nfs4")
        );
        assert!(
            nfs.error
                .as_deref()
                .unwrap()
                .starts_with("statvfs did not return within 100ms")
        );
        assert_eq!(f.mounts[0].error, None);
        assert_eq!(
            f.mounts[2].error, None,
            "sshfs answered on its thread in time"
        );
        assert_eq!(f.mounts[2].size_bytes, 4_096_000);

        // Still hung: reported as such, and no second thread is sent after the first.
        for _ in 0..3 {
            let f = c.collect_filesystems().unwrap().unwrap();
            let error = f.mounts[1].error.as_deref().unwrap();
            assert!(
                error.starts_with("statvfs has not returned for "),
                "{error}"
            );
            assert!(error.ends_with("not retried until it does"), "{error}");
        }
        assert_eq!(nfs_calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            others.load(Ordering::SeqCst),
            8,
            "/ and sshfs probed every tick"
        );

        // The server comes back: the old call returns, the next tick probes afresh.
        *gate.open.lock().unwrap() = true;
        gate.changed.notify_all();
        let waited = Instant::now();
        while nfs_returns.load(Ordering::SeqCst) == 0 {
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "helper thread never returned"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let f = c.collect_filesystems().unwrap().unwrap();
        assert_eq!(f.mounts[1].error, None);
        assert_eq!(f.mounts[1].size_bytes, 4_096_000);
        assert_eq!(nfs_calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        for (text, expect) in [
            (
                "1 0 8:1 / /\n",
                "line 1: expected at least 10 space-separated fields",
            ),
            (
                "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n1 0 8:1 / /x rw ext4 /dev/sda1 rw\n",
                "line 2: no \" - \"",
            ),
            (
                "1 0 8:1 / / rw - ext4\n",
                "expected type, source and options",
            ),
            (
                "1 0 eight / / rw - ext4 /dev/sda1 rw\n",
                "expected major:minor, found \"eight\"",
            ),
        ] {
            let tree = temp_tree("mountinfo", text);
            let paths = HostPaths::under(tree.path());
            let mut c = collector(
                paths.clone(),
                no_excludes(),
                fake_stat(paths.root.clone(), &[]),
            );
            let err = c.collect_filesystems().unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(&paths.proc("self/mountinfo").display().to_string()),
                "{message}"
            );
            assert!(message.contains(expect), "{message}");
            assert_eq!(
                err.to_section_error().kind,
                hostwatch_proto::ErrorKind::Parse
            );
        }
        let tree = temp_tree("mounts", "rootfs /\n");
        let paths = HostPaths::under(tree.path());
        let mut c = collector(
            paths.clone(),
            no_excludes(),
            fake_stat(paths.root.clone(), &[]),
        );
        let message = c.collect_filesystems().unwrap_err().to_string();
        assert!(
            message.contains("self/mounts") && message.contains("line 1: expected source"),
            "{message}"
        );
    }

    #[test]
    fn missing_mount_tables_mean_no_section() {
        let dir = tempfile::tempdir().unwrap();
        let paths = HostPaths::under(dir.path());
        let mut c = collector(
            paths.clone(),
            FilesystemsConfig::default(),
            fake_stat(paths.root.clone(), &[]),
        );
        assert_eq!(c.collect_filesystems().unwrap(), None);
    }

    #[test]
    fn used_pct_edge_cases() {
        let m = parse_mountinfo_line("1 0 8:1 / / rw - ext4 /dev/sda1 rw").unwrap();
        // Only the root-reserved blocks are left: full for users, as df says.
        let full = FsStats {
            blocks_available: 0,
            ..DISK
        };
        assert_eq!(filesystem(&m, &full, None).used_pct, 100.0);
        // btrfs and ZFS report no fixed inode count.
        let no_inodes = FsStats {
            inodes: 0,
            inodes_free: 0,
            ..DISK
        };
        assert_eq!(filesystem(&m, &no_inodes, None).inodes_used_pct, None);
    }

    #[test]
    fn storage_and_network_collectors_are_registered_on_their_tiers() {
        let mut config = crate::config::AgentConfig::default();
        let names = |config: &crate::config::AgentConfig| {
            crate::collect::build(config, &HostPaths::default(), &Default::default())
                .iter()
                .map(|s| (s.collector.name(), s.tier))
                .filter(|(n, _)| ["filesystems", "disks", "network"].contains(n))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&config),
            [
                ("filesystems", Tier::Medium),
                ("disks", Tier::Fast),
                ("network", Tier::Fast)
            ]
        );
        config.disks.enabled = false;
        config.filesystems.tier = Some(Tier::Slow);
        assert_eq!(
            names(&config),
            [("filesystems", Tier::Slow), ("network", Tier::Fast)]
        );
    }

    #[test]
    fn live_read_of_this_machine() {
        let mut c = FilesystemsCollector::new(&FilesystemsConfig::default(), &HostPaths::default());
        let f = c
            .collect_filesystems()
            .unwrap()
            .expect("/proc/self/mountinfo exists on Linux");
        let root = f
            .mounts
            .iter()
            .find(|m| m.mount == "/")
            .expect("/ is reported");
        assert_eq!(root.error, None);
        assert!(root.size_bytes > 0);
        assert!(root.used_bytes <= root.size_bytes && root.available_bytes <= root.free_bytes);
        assert!((0.0..=100.0).contains(&root.used_pct));
        // The same figures as the syscall itself.
        let direct = statvfs(Path::new("/")).unwrap();
        assert_eq!(root.size_bytes, direct.blocks * direct.block_size);
        let mut sorted = mounts(&f);
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, mounts(&f), "sorted by mount point, each once");
    }

    /// A shell in a mount namespace of its own (`unshare`, as an unprivileged user can),
    /// waiting on stdin to mount a tmpfs on `target`.
    struct Namespace {
        child: std::process::Child,
        stdout: std::io::BufReader<std::process::ChildStdout>,
    }

    impl Namespace {
        fn start(target: &Path) -> Self {
            use std::process::{Command, Stdio};
            let script = format!(
                "echo ready && read go && mount -t tmpfs hostwatch-test '{}' && echo mounted \
                 && read stop",
                target.display()
            );
            let mut child = Command::new("unshare")
                .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("unshare (util-linux) starts a shell in a mount namespace");
            let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
            let mut namespace = Namespace { child, stdout };
            // Until the shell runs, its /proc entry shows the namespace it was started from.
            namespace.expect("ready");
            namespace
        }

        fn expect(&mut self, word: &str) {
            use std::io::BufRead;
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            assert_eq!(line.trim_end(), word, "the namespaced shell says {word}");
        }

        fn mount(&mut self) {
            use std::io::Write;
            let stdin = self.child.stdin.as_mut().unwrap();
            stdin.write_all(b"go\n").unwrap();
            self.expect("mounted");
        }
    }

    impl Drop for Namespace {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn an_unchanged_mount_table_is_not_read_again_and_a_new_mount_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("watched");
        std::fs::create_dir_all(&target).unwrap();
        let mut namespace = Namespace::start(&target);
        // The collector's `self` is the namespaced shell: its procfs mount table is watched.
        let proc = dir.path().join("proc");
        std::fs::create_dir_all(&proc).unwrap();
        std::os::unix::fs::symlink(format!("/proc/{}", namespace.child.id()), proc.join("self"))
            .unwrap();
        let paths = HostPaths {
            proc,
            ..HostPaths::default()
        };
        let stat: StatFn = Arc::new(|_: &Path| Ok(DISK));
        let mut c = collector(paths, no_excludes(), stat);
        let watched = target.to_str().unwrap();

        let before = c.collect_filesystems().unwrap().unwrap();
        assert!(!mounts(&before).contains(&watched));
        let table = &c.tables[0].0;
        assert!(table.kept().is_some(), "procfs mountinfo is kept open");
        // Nothing changed: the text read is still current, so the next tick does not read it.
        assert!(unchanged_since_last_poll(table));
        assert_eq!(c.collect_filesystems().unwrap().unwrap(), before);

        namespace.mount();
        let after = c.collect_filesystems().unwrap().unwrap();
        let new = after.mounts.iter().find(|m| m.mount == watched);
        assert_eq!(
            new.map(|m| (m.device.as_str(), m.fs_type.as_str())),
            Some(("hostwatch-test", "tmpfs")),
            "the mount made after the first read is reported: {:?}",
            mounts(&after)
        );
        assert!(unchanged_since_last_poll(&c.tables[0].0));
    }

    #[test]
    fn a_fixture_mount_table_is_read_on_every_tick() {
        let dir = temp_tree("mountinfo", "");
        let line = |n: u32, mount: &str| {
            format!("{n} 1 8:{n} / {mount} rw,relatime shared:1 - ext4 /dev/sd{n} rw\n")
        };
        std::fs::write(dir.path().join("proc/self/mountinfo"), line(1, "/")).unwrap();
        let paths = HostPaths::under(dir.path());
        let stat = fake_stat(paths.root.clone(), &[]);
        let mut c = collector(paths, no_excludes(), stat);
        assert_eq!(mounts(&c.collect_filesystems().unwrap().unwrap()), ["/"]);
        assert!(
            !unchanged_since_last_poll(&c.tables[0].0),
            "no procfs, no change notice"
        );
        std::fs::write(
            dir.path().join("proc/self/mountinfo"),
            line(1, "/") + &line(2, "/data"),
        )
        .unwrap();
        assert_eq!(
            mounts(&c.collect_filesystems().unwrap().unwrap()),
            ["/", "/data"]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_a_damaged_mount_table(
            text in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/filesystems/node-exporter/proc/self/mountinfo"
            ))
        ) {
            let _ = parse_table(&text, parse_mountinfo_line);
            let _ = parse_table(&text, parse_mounts_line);
        }
    }
}
