//! A small cgroup v2 reader: where the agent's cgroup is, and the limits and usage that the
//! `cpu`, `memory` and `system` collectors report when the agent runs in a container.
//!
//! Hand-parsed: `procfs-core` only covers the v1 `/proc/self/cgroup` listing, not the v2
//! interface files. File formats follow <https://docs.kernel.org/admin-guide/cgroup-v2.html>
//! ("Interface Files" for the flat-keyed / single-value conventions, "Controllers" for
//! `cpu.max`, `cpu.stat`, `memory.max`, `memory.current`, `memory.stat`, `memory.swap.*`).

use super::CollectError;
use super::system::Virtualization;
use crate::HostPaths;
use crate::paths::{read_into, read_optional};
use std::path::{Path, PathBuf};

/// The agent's cgroup and its ancestors up to the root of the tree the agent can see.
///
/// With a cgroup namespace (LXC, Docker and Podman on cgroup v2, Kubernetes) that root is the
/// container itself; without one it is the host's root.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupTree {
    /// Outermost first: `/`, `/system.slice`, `/system.slice/hostwatch.service`.
    levels: Vec<Level>,
}

#[derive(Debug, Clone, PartialEq)]
struct Level {
    /// The cgroup path as `/proc/self/cgroup` names it.
    path: String,
    dir: PathBuf,
}

/// The cgroup that bounds the container, with the limits found on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limited<'a> {
    pub path: &'a str,
    pub dir: &'a Path,
    /// `memory.max`; `None` when it is `max` (or the memory controller is off there).
    pub memory_max: Option<u64>,
    /// `cpu.max`; `None` when the CPU controller is off there.
    pub cpu_max: Option<CpuMax>,
}

/// `cpu.max`: `$MAX $PERIOD`, where `$MAX` is `max` for no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuMax {
    pub quota_usec: Option<u64>,
    pub period_usec: u64,
}

impl CpuMax {
    /// The limit in cores (quota ÷ period); `None` without a quota.
    pub fn limit_cores(&self) -> Option<f64> {
        match self.quota_usec {
            Some(quota) if self.period_usec > 0 => Some(quota as f64 / self.period_usec as f64),
            _ => None,
        }
    }
}

/// The `cpu.stat` counters we report (all in microseconds or counts, since the cgroup's creation).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CpuStat {
    pub usage_usec: u64,
    /// Present only when the CPU controller is enabled for the cgroup; 0 otherwise.
    pub throttled_usec: u64,
    pub nr_throttled: u64,
}

/// The `memory.stat` entries we report, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MemoryStat {
    /// Page cache of the cgroup.
    pub file: u64,
    /// Page cache the kernel reclaims first: not part of the working set.
    pub inactive_file: u64,
    /// Swapped-out pages still cached in memory (Linux ≥ 6.6; 0 before).
    pub swapcached: u64,
}

impl CgroupTree {
    /// The tree, when the agent runs in a container (by `virtualization`) on cgroup v2.
    ///
    /// A plain host whose agent is a systemd service with `MemoryMax=` is not a container:
    /// its figures stay the host's, so this returns `None` there.
    pub fn for_container(
        paths: &HostPaths,
        virtualization: Option<&Virtualization>,
    ) -> Option<CgroupTree> {
        if virtualization.is_some_and(Virtualization::is_container) {
            CgroupTree::locate(paths)
        } else {
            None
        }
    }

    /// Reads the agent's cgroup from `/proc/self/cgroup` (the `0::` line) and finds it below
    /// `<sys>/fs/cgroup`. `None` when cgroup v2 is not mounted there (cgroup v1 or hybrid).
    pub fn locate(paths: &HostPaths) -> Option<CgroupTree> {
        let root = paths.sys("fs/cgroup");
        if !root.join("cgroup.controllers").exists() {
            return None;
        }
        let listing = std::fs::read_to_string(paths.proc("self/cgroup")).ok()?;
        let own = listing.lines().find_map(|line| line.strip_prefix("0::"))?;
        let own = own.trim();
        if !own.starts_with('/') {
            return None;
        }
        let mut levels = vec![Level {
            path: "/".to_string(),
            dir: root.clone(),
        }];
        let mut path = String::new();
        for part in own.split('/').filter(|p| !p.is_empty()) {
            path.push('/');
            path.push_str(part);
            levels.push(Level {
                path: path.clone(),
                dir: root.join(&path[1..]),
            });
        }
        Some(CgroupTree { levels })
    }

    /// The agent's own cgroup path.
    pub fn own_path(&self) -> &str {
        self.levels.last().map_or("/", |l| l.path.as_str())
    }

    /// The outermost cgroup that carries a memory or CPU limit, or `None` when no level has one.
    ///
    /// Outermost, because inside a container the container is the "host" being reported: an
    /// agent running as a systemd service in an LXC guest sits in
    /// `/system.slice/hostwatch.service`, while the guest's limit is on `/`. Read every call,
    /// because limits change at run time (Proxmox resizes a running guest).
    pub fn limited(&self, buf: &mut String) -> Result<Option<Limited<'_>>, CollectError> {
        for level in &self.levels {
            let memory_max = read_max(&level.dir.join("memory.max"), buf)?;
            let cpu_max = read_cpu_max(&level.dir.join("cpu.max"), buf)?;
            let cpu_limited = cpu_max.is_some_and(|c| c.quota_usec.is_some());
            if memory_max.is_some() || cpu_limited {
                return Ok(Some(Limited {
                    path: &level.path,
                    dir: &level.dir,
                    memory_max,
                    cpu_max,
                }));
            }
        }
        Ok(None)
    }
}

/// A single-value limit file (`memory.max`, `memory.swap.max`): a number, or `max` for none.
/// `None` for `max` and for a missing file (the controller is not enabled at that level).
pub fn read_max(path: &Path, buf: &mut String) -> Result<Option<u64>, CollectError> {
    if !read_optional(path, buf)? {
        return Ok(None);
    }
    match buf.trim() {
        "max" => Ok(None),
        text => text.parse().map(Some).map_err(|_| {
            CollectError::parse(path, format!("expected a number or `max`, found {text:?}"))
        }),
    }
}

/// A single-value counter file such as `memory.current`; it must exist.
pub fn read_value(path: &Path, buf: &mut String) -> Result<u64, CollectError> {
    read_into(path, buf)?;
    let text = buf.trim();
    text.parse()
        .map_err(|_| CollectError::parse(path, format!("expected a number, found {text:?}")))
}

/// `cpu.max`; `None` when the file is missing.
pub fn read_cpu_max(path: &Path, buf: &mut String) -> Result<Option<CpuMax>, CollectError> {
    if !read_optional(path, buf)? {
        return Ok(None);
    }
    let mut fields = buf.split_whitespace();
    let bad = || {
        CollectError::parse(
            path,
            format!("expected `$MAX $PERIOD`, found {:?}", buf.trim()),
        )
    };
    let quota = fields.next().ok_or_else(bad)?;
    let quota_usec = match quota {
        "max" => None,
        q => Some(q.parse().map_err(|_| bad())?),
    };
    // The period is optional on write but always shown on read; default as the kernel does.
    let period_usec = match fields.next() {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => 100_000,
    };
    Ok(Some(CpuMax {
        quota_usec,
        period_usec,
    }))
}

/// `cpu.stat` of the cgroup in `dir`.
pub fn read_cpu_stat(dir: &Path, buf: &mut String) -> Result<CpuStat, CollectError> {
    let path = dir.join("cpu.stat");
    read_into(&path, buf)?;
    let mut stat = CpuStat::default();
    let mut has_usage = false;
    for_each_flat_keyed(&path, buf, |key, value| match key {
        "usage_usec" => {
            stat.usage_usec = value;
            has_usage = true;
        }
        "throttled_usec" => stat.throttled_usec = value,
        "nr_throttled" => stat.nr_throttled = value,
        _ => {}
    })?;
    if !has_usage {
        return Err(CollectError::parse(&path, "no usage_usec line"));
    }
    Ok(stat)
}

/// `memory.stat` of the cgroup in `dir`.
pub fn read_memory_stat(dir: &Path, buf: &mut String) -> Result<MemoryStat, CollectError> {
    let path = dir.join("memory.stat");
    read_into(&path, buf)?;
    let mut stat = MemoryStat::default();
    for_each_flat_keyed(&path, buf, |key, value| match key {
        "file" => stat.file = value,
        "inactive_file" => stat.inactive_file = value,
        "swapcached" => stat.swapcached = value,
        _ => {}
    })?;
    Ok(stat)
}

/// Calls `f` for each `key value` line of a flat-keyed file; any other line is a parse error.
fn for_each_flat_keyed(
    path: &Path,
    text: &str,
    mut f: impl FnMut(&str, u64),
) -> Result<(), CollectError> {
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let parsed = match (fields.next(), fields.next(), fields.next()) {
            (Some(key), Some(value), None) => value.parse().ok().map(|v| (key, v)),
            _ => None,
        };
        let (key, value) = parsed.ok_or_else(|| {
            CollectError::parse(
                path,
                format!("line {}: expected `key value`, found {line:?}", n + 1),
            )
        })?;
        f(key, value);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Host trees in a temporary directory, for tests whose files change between reads.

    use std::path::Path;

    /// A copy of the fixture tree `src` in a fresh temporary directory.
    pub fn copy_tree(src: &Path) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(src, dir.path());
        dir
    }

    fn copy_dir(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).expect("mkdir");
        for entry in std::fs::read_dir(src).expect("read fixture dir") {
            let entry = entry.expect("dir entry");
            let to = dst.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                copy_dir(&entry.path(), &to);
            } else {
                std::fs::copy(entry.path(), &to).expect("copy fixture file");
            }
        }
    }

    /// Writes `text` to `rel` below `root`, creating directories.
    pub fn put(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

#[cfg(test)]
mod tests {
    use super::testing::put;
    use super::*;

    const LXC_GUEST: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cgroup/lxc-guest"
    );

    fn buf() -> String {
        String::new()
    }

    #[test]
    fn locates_the_agent_cgroup_and_its_ancestors() {
        let tree = CgroupTree::locate(&HostPaths::under(LXC_GUEST)).expect("cgroup v2 tree");
        let paths: Vec<&str> = tree.levels.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/", "/system.slice", "/system.slice/hostwatch.service"]
        );
        assert_eq!(tree.own_path(), "/system.slice/hostwatch.service");
        assert!(
            tree.levels[2]
                .dir
                .ends_with("sys/fs/cgroup/system.slice/hostwatch.service")
        );
    }

    #[test]
    fn the_outermost_limit_wins_over_the_agent_service() {
        let tree = CgroupTree::locate(&HostPaths::under(LXC_GUEST)).unwrap();
        let limited = tree.limited(&mut buf()).unwrap().expect("a limit");
        assert_eq!(limited.path, "/");
        assert_eq!(limited.memory_max, Some(103_079_215_104));
        let cpu = limited.cpu_max.unwrap();
        assert_eq!(cpu.quota_usec, Some(4_800_000));
        assert_eq!(cpu.period_usec, 100_000);
        assert_eq!(cpu.limit_cores(), Some(48.0));
    }

    #[test]
    fn reads_cpu_and_memory_stat() {
        let dir = Path::new(LXC_GUEST).join("sys/fs/cgroup");
        let cpu = read_cpu_stat(&dir, &mut buf()).unwrap();
        assert_eq!(
            cpu,
            CpuStat {
                usage_usec: 98_701_325_189,
                throttled_usec: 19_175_137_007,
                nr_throttled: 6004,
            }
        );
        let mem = read_memory_stat(&dir, &mut buf()).unwrap();
        assert_eq!(
            mem,
            MemoryStat {
                file: 8_532_865_024,
                inactive_file: 2_935_459_840,
                swapcached: 0,
            }
        );
    }

    #[test]
    fn no_cgroup_v2_mount_means_no_tree() {
        // This machine's layout: cgroup v1 controllers, v2 only under fs/cgroup/unified.
        let dev = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/system/dev-vm");
        assert_eq!(CgroupTree::locate(&HostPaths::under(dev)), None);
    }

    #[test]
    fn unlimited_tree_has_no_limited_level() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), "proc/self/cgroup", "0::/docker/abc\n");
        put(
            dir.path(),
            "sys/fs/cgroup/cgroup.controllers",
            "cpu memory\n",
        );
        put(dir.path(), "sys/fs/cgroup/docker/abc/memory.max", "max\n");
        put(
            dir.path(),
            "sys/fs/cgroup/docker/abc/cpu.max",
            "max 100000\n",
        );
        let tree = CgroupTree::locate(&HostPaths::under(dir.path())).unwrap();
        assert_eq!(tree.limited(&mut buf()).unwrap(), None);
    }

    #[test]
    fn only_containers_get_a_tree() {
        let paths = HostPaths::under(LXC_GUEST);
        let vm = Virtualization::vm("kvm");
        let docker = Virtualization::container("docker");
        assert_eq!(CgroupTree::for_container(&paths, None), None);
        assert_eq!(CgroupTree::for_container(&paths, Some(&vm)), None);
        assert!(CgroupTree::for_container(&paths, Some(&docker)).is_some());
    }

    #[test]
    fn garbage_limit_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), "memory.max", "lots\n");
        let err = read_max(&dir.path().join("memory.max"), &mut buf()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("memory.max") && msg.contains("lots"), "{msg}");

        put(dir.path(), "cpu.max", "100000 often\n");
        let err = read_cpu_max(&dir.path().join("cpu.max"), &mut buf()).unwrap_err();
        assert!(err.to_string().contains("cpu.max"), "{err}");

        put(dir.path(), "cpu.stat", "usage_usec twelve\n");
        let err = read_cpu_stat(dir.path(), &mut buf()).unwrap_err();
        assert!(err.to_string().contains("cpu.stat: line 1"), "{err}");
    }

    #[test]
    fn missing_limit_files_are_no_limit() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_max(&dir.path().join("memory.max"), &mut buf()).unwrap(),
            None
        );
        assert_eq!(
            read_cpu_max(&dir.path().join("cpu.max"), &mut buf()).unwrap(),
            None
        );
    }
}
