//! The `memory` section: RAM, swap and pressure stall information.
//!
//! On a host or VM the figures come from `/proc/meminfo`
//! (<https://docs.kernel.org/filesystems/proc.html>, "meminfo"). Inside a container with a
//! memory limit they come from the container's cgroup, because `/proc/meminfo` there is the
//! node's RAM: total = `memory.max`, used = `memory.current − inactive_file` (the working set,
//! as `docker stats` and cAdvisor count it).
//!
//! `/proc/meminfo` is hand-parsed: `procfs_core::Meminfo` builds a `HashMap<String, u64>` of
//! all ~55 lines each tick to hand back eight of them, and its errors do not say which line
//! was wrong. PSI is hand-parsed too: `procfs_core`'s reader reads the averages as `f32` and
//! fails on a file without a `full` line (CPU before Linux 5.13).

use super::cgroup::{CgroupTree, Limited, read_max, read_memory_stat, read_value};
use super::system::detect_virtualization;
use super::{CollectError, Collector};
use crate::HostPaths;
use crate::paths::{PseudoFile, read_into};
use hostwatch_proto::sections::{Memory, MemorySource, Pressure, PressureLine, PressureResource};
use hostwatch_proto::{SectionData, Tier};
use std::path::{Path, PathBuf};

/// The `/proc/meminfo` lines we use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Meminfo {
    total: u64,
    free: u64,
    /// `MemAvailable` appeared in Linux 3.14.
    available: Option<u64>,
    buffers: u64,
    cached: u64,
    swap_cached: u64,
    swap_total: u64,
    swap_free: u64,
}

/// Every key `parse_meminfo` takes, one bit each.
const ALL_MEMINFO_KEYS: u8 = 0xff;

/// Parses the keys the section needs. The kernel prints them all within the first twenty lines
/// of about fifty, so parsing stops once each was seen: the rest of the file was half the
/// agent's instructions per tick. Every line read must have its colon, and a needed key's line
/// must be `Key: value [kB]`; the values of other keys are not looked at.
fn parse_meminfo(path: &Path, text: &str) -> Result<Meminfo, CollectError> {
    let mut info = Meminfo::default();
    let mut seen = 0u8;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || {
            CollectError::parse(
                path,
                format!("line {}: expected `Key: value [kB]`, found {line:?}", n + 1),
            )
        };
        let (key, rest) = line.split_once(':').ok_or_else(bad)?;
        let (bit, field) = match key {
            "MemTotal" => (0, &mut info.total),
            "MemFree" => (1, &mut info.free),
            "MemAvailable" => (2, info.available.insert(0)),
            "Buffers" => (3, &mut info.buffers),
            "Cached" => (4, &mut info.cached),
            "SwapCached" => (5, &mut info.swap_cached),
            "SwapTotal" => (6, &mut info.swap_total),
            "SwapFree" => (7, &mut info.swap_free),
            _ => continue,
        };
        let mut fields = rest.split_ascii_whitespace();
        let value: u64 = fields.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        *field = match fields.next() {
            Some("kB") => value.saturating_mul(1024),
            None => value,
            Some(_) => return Err(bad()),
        };
        seen |= 1 << bit;
        if seen == ALL_MEMINFO_KEYS {
            break;
        }
    }
    if seen & 0b11 != 0b11 {
        return Err(CollectError::parse(path, "no MemTotal or MemFree line"));
    }
    Ok(info)
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn host_memory(info: &Meminfo) -> Memory {
    // Before MemAvailable, `free` counted free + buffers + cache as available.
    let available = info
        .available
        .unwrap_or(info.free + info.buffers + info.cached)
        .min(info.total);
    let used = info.total - available;
    let swap_used = info.swap_total.saturating_sub(info.swap_free);
    Memory {
        source: MemorySource::Host,
        total_bytes: info.total,
        available_bytes: available,
        used_bytes: used,
        free_bytes: info.free,
        buffers_bytes: info.buffers,
        cached_bytes: info.cached,
        used_pct: pct(used, info.total),
        swap_total_bytes: info.swap_total,
        swap_used_bytes: swap_used,
        swap_free_bytes: info.swap_free,
        swap_cached_bytes: info.swap_cached,
        swap_used_pct: pct(swap_used, info.swap_total),
        pressure: None,
    }
}

/// Parses one PSI file (<https://docs.kernel.org/accounting/psi.html>): a `some` line and,
/// except for CPU before Linux 5.13, a `full` line.
fn parse_pressure(path: &Path, text: &str) -> Result<PressureResource, CollectError> {
    let (mut some, mut full) = (None, None);
    for (n, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        let slot = match fields.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            None => continue,
            Some(_) => {
                return Err(CollectError::parse(
                    path,
                    format!("line {}: expected `some` or `full`, found {line:?}", n + 1),
                ));
            }
        };
        let mut record = [None::<f64>; 4];
        for field in fields {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            let index = match key {
                "avg10" => 0,
                "avg60" => 1,
                "avg300" => 2,
                "total" => 3,
                _ => continue,
            };
            record[index] = value.parse().ok();
        }
        let [Some(avg10), Some(avg60), Some(avg300), Some(total_usec)] = record else {
            return Err(CollectError::parse(
                path,
                format!(
                    "line {}: expected avg10= avg60= avg300= total=, found {line:?}",
                    n + 1
                ),
            ));
        };
        *slot = Some(PressureLine {
            avg10_pct: avg10,
            avg60_pct: avg60,
            avg300_pct: avg300,
            total_seconds: total_usec / 1e6,
        });
    }
    let some = some.ok_or_else(|| CollectError::parse(path, "no `some` line"))?;
    Ok(PressureResource { some, full })
}

/// Reads one PSI file; `None` when the kernel has no PSI (file missing) or has it switched off
/// (`psi=0`: the files exist but reading them fails with EOPNOTSUPP).
fn read_pressure(
    file: &mut PseudoFile,
    buf: &mut String,
) -> Result<Option<PressureResource>, CollectError> {
    match file.read_optional(buf) {
        Ok(false) => Ok(None),
        Ok(true) => parse_pressure(file.path(), buf).map(Some),
        Err(CollectError::Io { source, .. }) if source.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reports the `memory` section.
#[derive(Debug)]
pub struct MemoryCollector {
    paths: HostPaths,
    /// Set when the agent runs in a container on cgroup v2.
    cgroup: Option<CgroupTree>,
    buf: String,
    meminfo: PseudoFile,
    /// `/proc/pressure/{cpu,memory,io}`. In cgroup mode the cgroup's own
    /// `<resource>.pressure` files are read instead: the node's pressure is not the container's.
    host_pressure: [PseudoFile; 3],
    /// The same for the limiting cgroup's directory, while it stays the same.
    cgroup_pressure: Option<(PathBuf, [PseudoFile; 3])>,
}

impl MemoryCollector {
    pub fn new(paths: HostPaths) -> Self {
        let virtualization = detect_virtualization(&paths);
        let cgroup = CgroupTree::for_container(&paths, virtualization.as_ref());
        let host_pressure =
            ["cpu", "memory", "io"].map(|r| PseudoFile::whole(paths.proc("pressure").join(r)));
        let meminfo = PseudoFile::whole(paths.proc("meminfo"));
        MemoryCollector {
            paths,
            cgroup,
            buf: String::new(),
            meminfo,
            host_pressure,
            cgroup_pressure: None,
        }
    }

    fn read(&mut self) -> Result<Memory, CollectError> {
        let limited = match &self.cgroup {
            Some(tree) => tree
                .limited(&mut self.buf)?
                .filter(|l| l.memory_max.is_some()),
            None => None,
        };
        match limited {
            Some(limited) => {
                let mut memory = cgroup_memory(&self.paths, &limited, &mut self.buf)?;
                let files = match &mut self.cgroup_pressure {
                    Some((dir, files)) if dir == limited.dir => files,
                    slot => {
                        let files = ["cpu", "memory", "io"]
                            .map(|r| PseudoFile::whole(limited.dir.join(format!("{r}.pressure"))));
                        &mut slot.insert((limited.dir.to_path_buf(), files)).1
                    }
                };
                memory.pressure = read_pressures(files, &mut self.buf)?;
                Ok(memory)
            }
            None => {
                self.meminfo.read_into(&mut self.buf)?;
                let mut memory = host_memory(&parse_meminfo(self.meminfo.path(), &self.buf)?);
                memory.pressure = read_pressures(&mut self.host_pressure, &mut self.buf)?;
                Ok(memory)
            }
        }
    }
}

fn read_pressures(
    [cpu, memory, io]: &mut [PseudoFile; 3],
    buf: &mut String,
) -> Result<Option<Pressure>, CollectError> {
    let cpu = read_pressure(cpu, buf)?;
    let memory = read_pressure(memory, buf)?;
    let io = read_pressure(io, buf)?;
    if cpu.is_none() && memory.is_none() && io.is_none() {
        return Ok(None);
    }
    Ok(Some(Pressure { cpu, memory, io }))
}

/// The container's memory from its cgroup; `limited.memory_max` is set.
fn cgroup_memory(
    paths: &HostPaths,
    limited: &Limited<'_>,
    buf: &mut String,
) -> Result<Memory, CollectError> {
    let total = limited.memory_max.unwrap_or_default();
    let current = read_value(&limited.dir.join("memory.current"), buf)?;
    let stat = read_memory_stat(limited.dir, buf)?;
    let used = current.saturating_sub(stat.inactive_file).min(total);

    // Swap: memory.swap.max bounds it; `max` means the host's swap is the bound. Without
    // the files (swap accounting off) the container's swap use is unknown: report none.
    let swap_max_path = limited.dir.join("memory.swap.max");
    let swap_current_path = limited.dir.join("memory.swap.current");
    let (swap_total, swap_used) = if swap_current_path.exists() {
        let used = read_value(&swap_current_path, buf)?;
        let total = match read_max(&swap_max_path, buf)? {
            Some(max) => max,
            None => {
                let path = paths.proc("meminfo");
                read_into(&path, buf)?;
                parse_meminfo(&path, buf)?.swap_total
            }
        };
        (total, used.min(total))
    } else {
        (0, 0)
    };

    Ok(Memory {
        source: MemorySource::Cgroup,
        total_bytes: total,
        available_bytes: total - used,
        used_bytes: used,
        free_bytes: total.saturating_sub(current),
        buffers_bytes: 0,
        cached_bytes: stat.file,
        used_pct: pct(used, total),
        swap_total_bytes: swap_total,
        swap_used_bytes: swap_used,
        swap_free_bytes: swap_total - swap_used,
        swap_cached_bytes: stat.swapcached,
        swap_used_pct: pct(swap_used, swap_total),
        pressure: None,
    })
}

impl Collector for MemoryCollector {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        self.read().map(|m| Some(m.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::cgroup::testing::copy_tree;
    use super::*;

    const KIB: u64 = 1024;

    fn read(case: &str) -> Result<Memory, CollectError> {
        let dir = format!("{}/tests/fixtures/{case}", env!("CARGO_MANIFEST_DIR"));
        MemoryCollector::new(HostPaths::under(dir)).read()
    }

    fn line(avg10: f64, avg60: f64, avg300: f64, total_seconds: f64) -> PressureLine {
        PressureLine {
            avg10_pct: avg10,
            avg60_pct: avg60,
            avg300_pct: avg300,
            total_seconds,
        }
    }

    #[test]
    fn recorded_meminfo_and_psi_of_this_machine() {
        let m = read("memory/dev-vm").unwrap();
        let (total, available) = (24_684_084 * KIB, 24_163_640 * KIB);
        assert_eq!(m.source, MemorySource::Host);
        assert_eq!(m.total_bytes, total);
        assert_eq!(m.available_bytes, available);
        assert_eq!(m.used_bytes, 520_444 * KIB);
        assert_eq!(m.free_bytes, 22_516_016 * KIB);
        assert_eq!(m.buffers_bytes, 3_872 * KIB);
        assert_eq!(m.cached_bytes, 1_809_544 * KIB);
        assert_eq!(m.used_pct, (520_444 * KIB) as f64 * 100.0 / total as f64);
        assert!((m.used_pct - 2.108_419).abs() < 1e-6, "{}", m.used_pct);
        assert_eq!(
            (m.swap_total_bytes, m.swap_used_bytes, m.swap_free_bytes),
            (0, 0, 0)
        );
        assert_eq!((m.swap_cached_bytes, m.swap_used_pct), (0, 0.0));
        assert_eq!(
            m.pressure,
            Some(Pressure {
                cpu: Some(PressureResource {
                    some: line(4.55, 2.87, 1.59, 14.920528),
                    full: Some(line(0.0, 0.0, 0.0, 0.0)),
                }),
                memory: Some(PressureResource {
                    some: line(0.0, 0.0, 0.0, 0.0),
                    full: Some(line(0.0, 0.0, 0.0, 0.0)),
                }),
                io: Some(PressureResource {
                    some: line(0.38, 0.31, 0.32, 4.972425),
                    full: Some(line(0.37, 0.27, 0.29, 4.537518)),
                }),
            })
        );
    }

    #[test]
    fn node_exporter_meminfo_with_swap_in_use_and_no_mem_available() {
        let m = read("memory/node_exporter").unwrap();
        // No MemAvailable line: free + buffers + cached = 225472 + 22040 + 930888 kB.
        assert_eq!(m.available_bytes, 1_178_400 * KIB);
        assert_eq!(m.used_bytes, (3_742_148 - 1_178_400) * KIB);
        assert_eq!(m.swap_total_bytes, 4_194_300 * KIB);
        assert_eq!(m.swap_free_bytes, 3_155_360 * KIB);
        assert_eq!(m.swap_used_bytes, 1_038_940 * KIB);
        assert_eq!(m.swap_cached_bytes, 192_504 * KIB);
        assert_eq!(m.swap_used_pct, 1_038_940.0 * 100.0 / 4_194_300.0);
        let p = m.pressure.unwrap();
        let io = p.io.unwrap();
        assert_eq!(io.some, line(0.18, 0.34, 0.10, 159.886802));
        assert_eq!(io.full, Some(line(0.18, 0.34, 0.10, 159.229614)));
        assert_eq!(p.cpu.unwrap().some.total_seconds, 14.036781);
    }

    #[test]
    fn kernel_without_psi_has_no_pressure() {
        let m = read("memory/no-psi").unwrap();
        assert_eq!(m.pressure, None);
        assert_eq!(m.total_bytes, 3_742_148 * KIB);
    }

    #[test]
    fn kernel_with_only_some_psi_files() {
        let p = read("memory/partial-psi").unwrap().pressure.unwrap();
        assert_eq!(
            p.cpu,
            Some(PressureResource {
                some: line(1.25, 0.50, 0.10, 2.5),
                full: None,
            })
        );
        assert_eq!((p.memory, p.io), (None, None));
    }

    #[test]
    fn garbage_names_the_file_and_line() {
        let err = read("memory/garbage").unwrap_err().to_string();
        assert!(
            err.contains("proc/meminfo: line 4") && err.contains("lots"),
            "{err}"
        );
    }

    #[test]
    fn meminfo_is_read_only_as_far_as_the_keys_it_needs() {
        let path = Path::new("/proc/meminfo");
        let needed = "MemTotal: 8 kB\nMemFree: 2 kB\nMemAvailable: 4 kB\nBuffers: 1 kB\n\
                      Cached: 3 kB\nSwapCached: 5 kB\nActive: lots\nSwapTotal: 16 kB\nSwapFree: 6 kB\n";
        // A key the section does not take is not looked at, before the last needed key or after.
        let info = parse_meminfo(path, &format!("{needed}Dirty: lots\nno colon\n")).unwrap();
        assert_eq!(
            (
                info.total,
                info.free,
                info.available,
                info.buffers,
                info.cached
            ),
            (8 * KIB, 2 * KIB, Some(4 * KIB), KIB, 3 * KIB)
        );
        assert_eq!(
            (info.swap_cached, info.swap_total, info.swap_free),
            (5 * KIB, 16 * KIB, 6 * KIB)
        );

        // Without MemAvailable (before Linux 3.14) the whole file is read, and checked.
        let old = needed.replace("MemAvailable: 4 kB\n", "");
        let info = parse_meminfo(path, &old).unwrap();
        assert_eq!((info.available, info.swap_free), (None, 6 * KIB));
        let err = parse_meminfo(path, &format!("{old}no colon\n")).unwrap_err();
        assert!(err.to_string().contains("line 9"), "{err}");
    }

    #[test]
    fn garbage_psi_names_the_file() {
        let dir = copy_tree(Path::new(&format!(
            "{}/tests/fixtures/memory/dev-vm",
            env!("CARGO_MANIFEST_DIR")
        )));
        super::super::cgroup::testing::put(dir.path(), "proc/pressure/io", "some avg10=x\n");
        let err = MemoryCollector::new(HostPaths::under(dir.path()))
            .read()
            .unwrap_err();
        assert!(
            err.to_string().contains("proc/pressure/io: line 1"),
            "{err}"
        );
    }

    #[test]
    fn lxc_guest_reports_its_cgroup_not_the_node() {
        let m = read("cgroup/lxc-guest").unwrap();
        assert_eq!(m.source, MemorySource::Cgroup);
        assert_eq!(m.total_bytes, 103_079_215_104);
        // memory.current 13071106048 − inactive_file 2935459840.
        assert_eq!(m.used_bytes, 10_135_646_208);
        assert_eq!(m.available_bytes, 103_079_215_104 - 10_135_646_208);
        assert_eq!(m.free_bytes, 103_079_215_104 - 13_071_106_048);
        assert_eq!(m.cached_bytes, 8_532_865_024);
        assert_eq!(m.buffers_bytes, 0);
        assert_eq!(m.used_pct, 10_135_646_208.0 * 100.0 / 103_079_215_104.0);
        // memory.swap.max is 0: no swap for this guest, whatever the node has.
        assert_eq!(
            (m.swap_total_bytes, m.swap_used_bytes, m.swap_used_pct),
            (0, 0, 0.0)
        );
        // The cgroup's own PSI, not /proc/pressure (absent in this tree anyway).
        let p = m.pressure.unwrap();
        assert_eq!(p.cpu.unwrap().some, line(0.0, 0.08, 0.06, 293.391454));
        assert_eq!(p.memory.unwrap().full, Some(line(0.0, 0.0, 0.0, 0.250662)));
        assert_eq!(p.io.unwrap().some.total_seconds, 185.1624);
    }

    #[test]
    fn container_with_unbounded_swap_uses_the_host_swap_as_its_bound() {
        let m = read("cgroup/docker-cpu-unlimited").unwrap();
        assert_eq!(m.source, MemorySource::Cgroup);
        assert_eq!(m.total_bytes, 2 << 30);
        assert_eq!(m.used_bytes, 768 << 20);
        assert_eq!(m.available_bytes, 1280 << 20);
        assert_eq!(m.free_bytes, 1 << 30);
        assert_eq!(m.cached_bytes, 384 << 20);
        assert_eq!(m.used_pct, 37.5);
        assert_eq!(m.swap_total_bytes, 4_194_300 * KIB);
        assert_eq!(m.swap_used_bytes, 100 << 20);
        assert_eq!(m.swap_free_bytes, 4_194_300 * KIB - (100 << 20));
        assert_eq!(m.pressure, None);
    }

    #[test]
    fn a_systemd_service_limit_on_a_plain_host_keeps_host_figures() {
        let m = read("cgroup/systemd-service-host").unwrap();
        assert_eq!(m.source, MemorySource::Host);
        assert_eq!(m.total_bytes, 3_742_148 * KIB);
    }

    #[test]
    fn container_limit_removed_at_run_time_falls_back_to_meminfo() {
        let dir = copy_tree(Path::new(&format!(
            "{}/tests/fixtures/cgroup/docker-cpu-unlimited",
            env!("CARGO_MANIFEST_DIR")
        )));
        let mut collector = MemoryCollector::new(HostPaths::under(dir.path()));
        assert_eq!(collector.read().unwrap().source, MemorySource::Cgroup);
        super::super::cgroup::testing::put(dir.path(), "sys/fs/cgroup/memory.max", "max\n");
        let m = collector.read().unwrap();
        assert_eq!(m.source, MemorySource::Host);
        assert_eq!(m.total_bytes, 3_742_148 * KIB);
    }

    #[test]
    fn missing_meminfo_is_an_io_error() {
        assert!(matches!(
            read("memory/no-such-case"),
            Err(CollectError::Io { .. })
        ));
    }

    #[test]
    fn live_read_of_this_machine_is_plausible() {
        let m = MemoryCollector::new(HostPaths::default()).read().unwrap();
        assert!(m.total_bytes > 64 << 20, "{}", m.total_bytes);
        assert!(m.available_bytes <= m.total_bytes && m.free_bytes <= m.total_bytes);
        assert_eq!(m.used_bytes, m.total_bytes - m.available_bytes);
        assert!((0.0..=100.0).contains(&m.used_pct));
        assert!(m.swap_used_bytes <= m.swap_total_bytes);
        if let Some(p) = m.pressure {
            let some = p.memory.or(p.cpu).or(p.io).unwrap().some;
            assert!((0.0..=100.0).contains(&some.avg10_pct));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_a_damaged_meminfo(
            text in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/memory/node_exporter/proc/meminfo"
            ))
        ) {
            let _ = parse_meminfo(Path::new("/proc/meminfo"), &text);
        }

        #[test]
        fn never_panics_on_damaged_pressure(
            text in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/memory/node_exporter/proc/pressure/memory"
            ))
        ) {
            let _ = parse_pressure(Path::new("/proc/pressure/memory"), &text);
        }
    }
}
