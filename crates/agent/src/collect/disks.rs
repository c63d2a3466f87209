//! Block device I/O from `/proc/diskstats`, following
//! <https://docs.kernel.org/admin-guide/iostats.html>.
//!
//! Rates come from the delta between this read and the previous one. A device seen for the first
//! time, one whose counters went backwards (a 32-bit `io_ticks` wrap, a device re-created under the
//! same name) or whose major:minor changed gets no rates that tick, only a fresh baseline.
//!
//! `/proc/diskstats` lists every block device, `loop*` and `ram*` included, and the kernel
//! formats all of them on each read. When the reported devices are a small part of that list
//! (one disk among eight snap loop devices, a common sight), they are read from their own
//! `/sys/class/block/<name>/stat` instead — the same counters in the same order, about 9 µs
//! each against 2 µs per line of the whole table on a tick that finds the caches cold — and
//! the whole table is read again every [`LIST_EVERY`] to see devices come, and at once when
//! one of the files goes away.
//!
//! Hand-parsed rather than through `procfs_core::DiskStat`: that parser allocates the device name
//! for every line on every tick (most lines are `loop*`/`ram*` devices we skip), and its errors read
//! "Internal Unwrap Error: NoneError" instead of naming the field that was wrong.

use crate::HostPaths;
use crate::collect::baselines::{Baselines, Observed};
use crate::collect::every::Every;
use crate::collect::{CollectError, Collector};
use crate::config::DisksConfig;
use crate::filter::Filter;
use crate::paths::PseudoFile;
use hostwatch_proto::sections::{Disk, DiskRates, Disks};
use hostwatch_proto::{SectionData, Tier};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Time between two reads of the whole `/proc/diskstats` while the reported devices are read
/// from their own files: a hot-plugged disk is reported within it.
const LIST_EVERY: Duration = Duration::from_secs(60);

/// Own files are read when the whole table has at least this many lines per reported device:
/// cold, a device's `stat` file costs about what four lines of the table do.
const LINES_PER_OWN_FILE: usize = 4;

/// diskstats counts in 512-byte sectors whatever the device's real sector size.
const SECTOR_BYTES: u64 = 512;

/// The counter columns after major, minor and name, in file order. Lines have 11 (before 4.18),
/// 15 (with discards) or 17 (with flushes, 5.5+) of them.
const COLUMNS: [&str; 17] = [
    "reads completed",
    "reads merged",
    "sectors read",
    "time reading",
    "writes completed",
    "writes merged",
    "sectors written",
    "time writing",
    "I/Os in progress",
    "time doing I/O",
    "weighted time doing I/O",
    "discards completed",
    "discards merged",
    "sectors discarded",
    "time discarding",
    "flushes completed",
    "time flushing",
];
const REQUIRED_COLUMNS: usize = 11;

/// Reports per-device I/O counters and rates.
#[derive(Debug)]
pub struct DisksCollector {
    diskstats: PseudoFile,
    /// For `/sys/block`, to tell whole devices from partitions.
    paths: HostPaths,
    filter: Filter,
    partitions: bool,
    /// The file text, kept to reuse its allocation.
    buf: String,
    /// This tick's parsed lines (names as ranges into `buf`), kept to reuse the allocation.
    lines: Vec<Line>,
    /// The previous read per device (identified by major:minor), reported or not, so the skip
    /// decision and the sysfs lookup behind it happen once per device, not once per tick.
    baselines: Baselines<Counters, (u32, u32)>,
    /// The reported devices' own `stat` files, when reading them pays (see the module doc).
    own_files: Option<Vec<OwnFile>>,
    /// When the whole table was last read.
    listing: Every,
}

/// A reported device's own counters file.
#[derive(Debug)]
struct OwnFile {
    name: String,
    devno: (u32, u32),
    stat: PseudoFile,
}

#[derive(Debug)]
struct Line {
    name: Range<usize>,
    devno: (u32, u32),
    counters: Counters,
}

/// One line's counters; times in milliseconds as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counters {
    reads: u64,
    reads_merged: u64,
    sectors_read: u64,
    read_ms: u64,
    writes: u64,
    writes_merged: u64,
    sectors_written: u64,
    write_ms: u64,
    in_progress: u64,
    io_ms: u64,
    weighted_io_ms: u64,
    discards: Option<u64>,
    sectors_discarded: Option<u64>,
}

impl DisksCollector {
    pub fn new(config: &DisksConfig, paths: &HostPaths) -> Self {
        DisksCollector {
            diskstats: PseudoFile::new(paths.proc("diskstats")),
            paths: paths.clone(),
            filter: Filter::new(&config.include, &config.exclude),
            partitions: config.partitions,
            buf: String::new(),
            lines: Vec::new(),
            baselines: Baselines::default(),
            own_files: None,
            listing: Every::new(LIST_EVERY),
        }
    }

    /// One read at `now`; `collect` passes the current instant, tests a chosen one.
    pub fn collect_at(&mut self, now: Instant) -> Result<Option<Disks>, CollectError> {
        if !self.listing.is_due(now)
            && let Some(disks) = self.read_own_files(now)?
        {
            return Ok(Some(disks));
        }
        let disks = self.read_diskstats(now)?;
        self.listing.done(now);
        let kept = self.own_files.take().unwrap_or_default();
        self.own_files = disks.as_ref().and_then(|d| self.own_files_for(d, kept));
        Ok(disks)
    }

    /// What a tick between listings reads: the reported devices' own counters files, or
    /// `None` while every tick reads the whole table. For the footprint's floor probe, which
    /// reads what the agent reads.
    pub fn own_file_paths(&self) -> Option<Vec<&Path>> {
        let files = self.own_files.as_ref()?;
        Some(files.iter().map(|f| f.stat.path()).collect())
    }

    /// The reported devices from their own files; `None` when there are none to read, or
    /// when one of them could not be read (a device that went away): the whole table then
    /// says what is there now.
    fn read_own_files(&mut self, now: Instant) -> Result<Option<Disks>, CollectError> {
        let Some(files) = &mut self.own_files else {
            return Ok(None);
        };
        // Parse everything before touching the baselines, so a bad file leaves them intact.
        let mut read = Vec::with_capacity(files.len());
        for file in files.iter_mut() {
            if file.stat.read_into(&mut self.buf).is_err() {
                self.own_files = None;
                return Ok(None);
            }
            let counters = parse_counters(self.buf.split_ascii_whitespace(), 0)
                .map_err(|m| CollectError::parse(file.stat.path(), m))?;
            read.push(counters);
        }
        self.baselines.begin(now);
        let mut devices = Vec::with_capacity(files.len());
        for (file, counters) in files.iter().zip(read) {
            let Observed::Shown { baseline } =
                self.baselines
                    .observe(&file.name, file.devno, counters, || true)
            else {
                continue;
            };
            let rates = baseline.and_then(|(previous, e)| rates(&previous, &counters, e));
            devices.push(disk(&file.name, &counters, rates));
        }
        // No `finish`: this read saw only the reported devices, by design. Forgetting the
        // hidden ones (partitions, loop devices) would decide about each again at the next
        // listing — a look into `/sys/block` per device, every minute. A device that went away
        // is forgotten by the next whole-table read, as is one whose own file failed here.
        Ok(Some(Disks { devices }))
    }

    /// The own files of the devices just reported, if reading them instead of the whole table
    /// pays and every one of them is there. A device's file in `kept` (the last listing's) is
    /// taken over while it is the same device: no lookup, no reopening.
    fn own_files_for(&self, disks: &Disks, mut kept: Vec<OwnFile>) -> Option<Vec<OwnFile>> {
        if disks.devices.is_empty() || disks.devices.len() * LINES_PER_OWN_FILE > self.lines.len() {
            return None;
        }
        disks
            .devices
            .iter()
            .map(|disk| {
                let line = self
                    .lines
                    .iter()
                    .find(|l| self.buf[l.name.clone()] == disk.name)?;
                if let Some(i) = kept
                    .iter()
                    .position(|f| f.name == disk.name && f.devno == line.devno)
                {
                    return Some(kept.swap_remove(i));
                }
                let stat = self
                    .paths
                    .sys("class/block")
                    .join(disk.name.replace('/', "!"))
                    .join("stat");
                stat.is_file().then(|| OwnFile {
                    name: disk.name.clone(),
                    devno: line.devno,
                    stat: PseudoFile::whole(stat),
                })
            })
            .collect()
    }

    /// Every reported device from the whole table.
    fn read_diskstats(&mut self, now: Instant) -> Result<Option<Disks>, CollectError> {
        if !self.diskstats.read_optional(&mut self.buf)? {
            return Ok(None);
        }
        // Parse everything before touching the baselines, so a bad line leaves them intact.
        parse_diskstats(&self.buf, &mut self.lines)
            .map_err(|m| CollectError::parse(self.diskstats.path(), m))?;

        self.baselines.begin(now);
        let mut devices = Vec::new();
        for line in &self.lines {
            let name = &self.buf[line.name.clone()];
            let (paths, partitions, filter) = (&self.paths, self.partitions, &self.filter);
            let report = || (partitions || is_whole_device(paths, name)) && filter.allows(name);
            let Observed::Shown { baseline } =
                self.baselines
                    .observe(name, line.devno, line.counters, report)
            else {
                continue;
            };
            let rates = baseline.and_then(|(previous, e)| rates(&previous, &line.counters, e));
            devices.push(disk(name, &line.counters, rates));
        }
        self.baselines.finish();
        devices.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(Disks { devices }))
    }
}

/// A whole device has an entry in `/sys/block` (device-mapper `dm-*` and md arrays included);
/// partitions only appear below their disk. Without `/sys`, guess from the name.
fn is_whole_device(paths: &HostPaths, name: &str) -> bool {
    let block = paths.sys("block");
    if block.is_dir() {
        // sysfs spells the `/` of names like `cciss/c0d0` as `!`.
        let entry: PathBuf = block.join(name.replace('/', "!"));
        entry.exists()
    } else {
        !looks_like_partition(name)
    }
}

impl Collector for DisksCollector {
    fn name(&self) -> &'static str {
        "disks"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.collect_at(Instant::now())?.map(SectionData::from))
    }
}

/// Parses every line of `/proc/diskstats` into `out`; the error says which line and field.
fn parse_diskstats(text: &str, out: &mut Vec<Line>) -> Result<(), String> {
    out.clear();
    let base = text.as_ptr() as usize;
    for (index, line) in text.lines().enumerate() {
        let n = index + 1;
        let mut fields = line.split_ascii_whitespace();
        let Some(major) = fields.next() else {
            continue; // blank line
        };
        let (Some(minor), Some(name)) = (fields.next(), fields.next()) else {
            return Err(format!("line {n}: expected major, minor and a device name"));
        };
        let number = |what: &str, s: &str| -> Result<u32, String> {
            s.parse()
                .map_err(|_| format!("line {n}: {what} {s:?} is not a number"))
        };
        let devno = (number("major", major)?, number("minor", minor)?);
        let counters = parse_counters(fields, 3).map_err(|m| format!("line {n} ({name}): {m}"))?;
        let start = name.as_ptr() as usize - base;
        out.push(Line {
            name: start..start + name.len(),
            devno,
            counters,
        });
    }
    Ok(())
}

/// The counter columns of one device, as a diskstats line has them after its first `before`
/// fields (major, minor, name) and a `stat` file in sysfs has them alone.
fn parse_counters<'a>(
    fields: impl Iterator<Item = &'a str>,
    before: usize,
) -> Result<Counters, String> {
    let mut values = [None; COLUMNS.len()];
    let mut count = 0;
    for (slot, field) in values.iter_mut().zip(fields) {
        *slot = Some(
            field
                .parse::<u64>()
                .map_err(|_| format!("{} {field:?} is not a number", COLUMNS[count]))?,
        );
        count += 1;
    }
    if count < REQUIRED_COLUMNS {
        return Err(format!(
            "expected at least {} fields, found {}",
            REQUIRED_COLUMNS + before,
            count + before
        ));
    }
    let v = |i: usize| values[i].unwrap_or(0);
    Ok(Counters {
        reads: v(0),
        reads_merged: v(1),
        sectors_read: v(2),
        read_ms: v(3),
        writes: v(4),
        writes_merged: v(5),
        sectors_written: v(6),
        write_ms: v(7),
        in_progress: v(8),
        io_ms: v(9),
        weighted_io_ms: v(10),
        discards: values[11],
        sectors_discarded: values[13],
    })
}

/// Rates between two reads `elapsed` seconds apart; `None` when a counter went backwards.
fn rates(before: &Counters, now: &Counters, elapsed: f64) -> Option<DiskRates> {
    if elapsed <= 0.0 {
        return None;
    }
    let reads = now.reads.checked_sub(before.reads)?;
    let writes = now.writes.checked_sub(before.writes)?;
    let sectors_read = now.sectors_read.checked_sub(before.sectors_read)?;
    let sectors_written = now.sectors_written.checked_sub(before.sectors_written)?;
    let read_ms = now.read_ms.checked_sub(before.read_ms)?;
    let write_ms = now.write_ms.checked_sub(before.write_ms)?;
    let io_ms = now.io_ms.checked_sub(before.io_ms)?;
    let ios = reads + writes;
    Some(DiskRates {
        read_bytes_per_sec: (sectors_read * SECTOR_BYTES) as f64 / elapsed,
        write_bytes_per_sec: (sectors_written * SECTOR_BYTES) as f64 / elapsed,
        read_iops: reads as f64 / elapsed,
        write_iops: writes as f64 / elapsed,
        // io_ticks is sampled by the kernel at I/O boundaries, so over a short interval it can
        // run slightly ahead of our clock; busy cannot exceed all of the time.
        util_pct: (io_ms as f64 / 1000.0 / elapsed * 100.0).min(100.0),
        avg_wait_seconds: if ios == 0 {
            0.0
        } else {
            (read_ms + write_ms) as f64 / 1000.0 / ios as f64
        },
    })
}

fn disk(name: &str, c: &Counters, rates: Option<DiskRates>) -> Disk {
    let seconds = |ms: u64| ms as f64 / 1000.0;
    Disk {
        name: name.to_string(),
        reads_completed_total: c.reads,
        reads_merged_total: c.reads_merged,
        read_bytes_total: c.sectors_read.saturating_mul(SECTOR_BYTES),
        read_time_seconds_total: seconds(c.read_ms),
        writes_completed_total: c.writes,
        writes_merged_total: c.writes_merged,
        written_bytes_total: c.sectors_written.saturating_mul(SECTOR_BYTES),
        write_time_seconds_total: seconds(c.write_ms),
        io_in_progress: c.in_progress,
        io_time_seconds_total: seconds(c.io_ms),
        io_time_weighted_seconds_total: seconds(c.weighted_io_ms),
        discards_completed_total: c.discards,
        discarded_bytes_total: c.sectors_discarded.map(|s| s.saturating_mul(SECTOR_BYTES)),
        rates,
    }
}

/// The fallback when `/sys/block` cannot be read: `sda1`, `vdb2`, `xvda1`, `hdc3` (a digit after a
/// letters-only disk name) and `nvme0n1p2`, `mmcblk0p1`, `nbd0p1`, `loop0p1` (`p<N>` after a digit)
/// are partitions; `dm-0`, `md127`, `sr0`, `nvme0n1` are not.
fn looks_like_partition(name: &str) -> bool {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() == name.len() {
        return false;
    }
    if ["sd", "hd", "vd", "xvd"]
        .iter()
        .any(|p| stem.len() > p.len() && stem.starts_with(p))
    {
        return stem[2..].bytes().all(|b| b.is_ascii_lowercase());
    }
    stem.strip_suffix('p')
        .is_some_and(|s| s.ends_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/disks");

    fn fixture(case: &str) -> HostPaths {
        HostPaths::under(format!("{FIXTURES}/{case}"))
    }

    fn collector(paths: HostPaths, config: DisksConfig) -> DisksCollector {
        DisksCollector::new(&config, &paths)
    }

    fn names(d: &Disks) -> Vec<&str> {
        d.devices.iter().map(|d| d.name.as_str()).collect()
    }

    /// A tree holding only `proc/diskstats` (and `sys/block/<name>` for `whole`).
    fn temp_tree(diskstats: &str, whole: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::write(dir.path().join("proc/diskstats"), diskstats).unwrap();
        for name in whole {
            std::fs::create_dir_all(dir.path().join("sys/block").join(name)).unwrap();
        }
        dir
    }

    #[test]
    fn recorded_reads_give_exact_rates() {
        let t0 = Instant::now();
        let mut c = collector(fixture("dev-machine/t0"), DisksConfig::default());
        let first = c.collect_at(t0).unwrap().unwrap();
        // loop* and zram0 are whole devices but excluded by default.
        assert_eq!(names(&first), ["vda"]);
        let vda = &first.devices[0];
        assert_eq!(vda.rates, None, "first read has no rates");
        assert_eq!(vda.reads_completed_total, 35636);
        assert_eq!(vda.read_bytes_total, 4613498 * 512);
        assert_eq!(vda.written_bytes_total, 5240056 * 512);
        assert_eq!(vda.read_time_seconds_total, 24.911);
        assert_eq!(vda.io_time_seconds_total, 6.788);
        assert_eq!(vda.io_time_weighted_seconds_total, 40.010);
        assert_eq!(vda.discards_completed_total, Some(4933));
        assert_eq!(vda.discarded_bytes_total, Some(378552 * 512));

        c.diskstats = PseudoFile::new(fixture("dev-machine/t1").proc("diskstats"));
        let second = c.collect_at(t0 + Duration::from_secs(4)).unwrap().unwrap();
        let vda = &second.devices[0];
        let r = vda.rates.expect("second read has rates");
        // Deltas t0 → t1: reads 1710, sectors read 811968, read ms 3261, writes 47,
        // sectors written 131384, write ms 417, io ms 560; over 4 s.
        assert_eq!(r.read_iops, 1710.0 / 4.0);
        assert_eq!(r.write_iops, 47.0 / 4.0);
        assert_eq!(r.read_bytes_per_sec, 811968.0 * 512.0 / 4.0);
        assert_eq!(r.write_bytes_per_sec, 131384.0 * 512.0 / 4.0);
        assert_eq!(r.util_pct, 0.560 / 4.0 * 100.0);
        assert_eq!(r.avg_wait_seconds, (3261.0 + 417.0) / 1000.0 / 1757.0);
    }

    #[test]
    fn all_line_formats_and_name_fallback_without_sys() {
        let mut c = collector(fixture("node-exporter"), DisksConfig::default());
        let d = c.collect_at(Instant::now()).unwrap().unwrap();
        assert_eq!(
            names(&d),
            [
                "dm-0", "dm-1", "dm-2", "dm-3", "dm-4", "dm-5", "mmcblk0", "nvme0n1", "sda", "sdb",
                "sdc", "vda"
            ]
        );
        let by = |n: &str| d.devices.iter().find(|d| d.name == n).unwrap();
        // 14-field line: no discard columns.
        let sda = by("sda");
        assert_eq!(sda.reads_completed_total, 25354637);
        assert_eq!(sda.reads_merged_total, 34367663);
        assert_eq!(sda.read_bytes_total, 1003346126 * 512);
        assert_eq!(sda.write_time_seconds_total, 63877.960);
        assert_eq!(sda.io_time_weighted_seconds_total, 82621.804);
        assert_eq!(sda.discards_completed_total, None);
        // 18-field line: discards, no flushes.
        let sdb = by("sdb");
        assert_eq!(sdb.discards_completed_total, Some(68851));
        assert_eq!(sdb.discarded_bytes_total, Some(1925173784 * 512));
        // 20-field line.
        let sdc = by("sdc");
        assert_eq!(sdc.writes_completed_total, 11822);
        assert_eq!(sdc.discarded_bytes_total, Some(125173784 * 512));

        let mut with_parts = collector(
            fixture("node-exporter"),
            DisksConfig {
                partitions: true,
                ..DisksConfig::default()
            },
        );
        let d = with_parts.collect_at(Instant::now()).unwrap().unwrap();
        for part in ["sda1", "sda4", "nvme0n1p2", "mmcblk0p1", "sdc1", "vda2"] {
            assert!(names(&d).contains(&part), "{part} missing");
        }
        assert!(!names(&d).contains(&"fd0") && !names(&d).contains(&"sr0"));
    }

    #[test]
    fn partition_names() {
        for p in [
            "sda1",
            "sdab12",
            "vdb2",
            "xvda1",
            "hdc3",
            "nvme0n1p2",
            "mmcblk0p1",
            "nbd0p1",
        ] {
            assert!(looks_like_partition(p), "{p}");
        }
        for d in [
            "sda", "dm-0", "md127", "sr0", "nvme0n1", "mmcblk0", "loop3", "zram0", "vda",
        ] {
            assert!(!looks_like_partition(d), "{d}");
        }
    }

    /// Writes `sys/class/block/<name>/stat` (sysfs's own counters file of a device).
    fn write_own_file(tree: &Path, name: &str, counters: &str) {
        let dir = tree.join("sys/class/block").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stat"), format!("{counters}\n")).unwrap();
    }

    /// One disk among four loop devices, with its own file holding `own`.
    fn one_disk_among_loops(sda: &str, own: &str) -> tempfile::TempDir {
        let mut table = format!("8 0 sda {sda}\n");
        for n in 0..4 {
            table.push_str(&format!("7 {n} loop{n} 1 0 2 0 0 0 0 0 0 0 0\n"));
        }
        let tree = temp_tree(&table, &["sda", "loop0", "loop1", "loop2", "loop3"]);
        write_own_file(tree.path(), "sda", own);
        tree
    }

    #[test]
    fn few_reported_devices_are_read_from_their_own_files_between_listings() {
        // Two reads a second apart (200 sectors = 102,400 bytes and 4 reads of 8 ms each).
        let t0_counters = "100 0 800 40 50 0 400 20 0 60 60";
        let tree = one_disk_among_loops(t0_counters, t0_counters);
        let mut c = collector(HostPaths::under(tree.path()), DisksConfig::default());
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let first = c.collect_at(at(0)).unwrap().unwrap();
        assert_eq!(names(&first), ["sda"]);
        assert_eq!(
            c.own_file_paths(),
            Some(vec![tree.path().join("sys/class/block/sda/stat").as_path()]),
            "1 reported device, 5 lines"
        );

        // The table is left behind on purpose: the second read must come from the own file.
        write_own_file(
            tree.path(),
            "sda",
            "104 0 1000 72 50 0 400 20 1 560 600 7 0 64 3",
        );
        let second = c.collect_at(at(1000)).unwrap().unwrap();
        let sda = &second.devices[0];
        assert_eq!(sda.reads_completed_total, 104);
        assert_eq!(sda.read_bytes_total, 1000 * 512);
        assert_eq!(sda.io_in_progress, 1);
        assert_eq!(sda.discards_completed_total, Some(7), "15-column file");
        assert_eq!(sda.discarded_bytes_total, Some(64 * 512));
        let r = sda.rates.as_ref().expect("rates against the table's read");
        assert_eq!(r.read_bytes_per_sec, 102_400.0);
        assert_eq!(r.read_iops, 4.0);
        assert_eq!(r.util_pct, 50.0, "500 ms busy of 1000");
        assert_eq!(r.avg_wait_seconds, 0.008);

        // A second disk appears: reported once the table is read again, LIST_EVERY after it
        // was last, with no rates on its first sight.
        let both = "8 0 sda 104 0 1000 72 50 0 400 20 1 560 600\n8 16 sdb 5 0 10 1 0 0 0 0 0 1 1\n";
        std::fs::write(tree.path().join("proc/diskstats"), both).unwrap();
        std::fs::create_dir_all(tree.path().join("sys/block/sdb")).unwrap();
        assert_eq!(names(&c.collect_at(at(30_000)).unwrap().unwrap()), ["sda"]);
        let listed = c.collect_at(at(60_000)).unwrap().unwrap();
        assert_eq!(names(&listed), ["sda", "sdb"]);
        assert!(
            listed.devices[0].rates.is_some(),
            "sda's baseline carried over"
        );
        assert_eq!(listed.devices[1].rates, None);
        assert!(
            c.own_files.is_none(),
            "2 devices in 2 lines: the table pays"
        );
    }

    #[test]
    fn hidden_devices_are_decided_once_across_own_file_reads() {
        let counters = "100 0 800 40 50 0 400 20 0 60 60";
        let mut table = format!("8 0 sda {counters}\n");
        for n in 1..=4 {
            table.push_str(&format!("8 {n} sda{n} 1 0 2 0 0 0 0 0 0 0 0\n"));
        }
        let tree = temp_tree(&table, &["sda"]);
        write_own_file(tree.path(), "sda", counters);
        let mut c = collector(HostPaths::under(tree.path()), DisksConfig::default());
        let t0 = Instant::now();
        assert_eq!(names(&c.collect_at(t0).unwrap().unwrap()), ["sda"]);
        assert!(c.own_files.is_some(), "1 reported device, 5 lines");
        assert_eq!(
            names(&c.collect_at(t0 + LIST_EVERY / 2).unwrap().unwrap()),
            ["sda"]
        );

        // Were sda1 looked at again, this entry would make it a whole device, reported. It is
        // the same device (same major:minor), so the first decision stands and nothing is
        // looked up for it at the listing.
        std::fs::create_dir_all(tree.path().join("sys/block/sda1")).unwrap();
        let listed = c.collect_at(t0 + LIST_EVERY).unwrap().unwrap();
        assert_eq!(names(&listed), ["sda"]);
        assert!(listed.devices[0].rates.is_some());
    }

    #[test]
    fn a_listing_keeps_the_own_files_it_already_has_open() {
        let counters = "100 0 800 40 50 0 400 20 0 60 60";
        let tree = one_disk_among_loops(counters, counters);
        let mut c = collector(HostPaths::under(tree.path()), DisksConfig::default());
        let t0 = Instant::now();
        c.collect_at(t0).unwrap().unwrap();

        // Unlinked, the file is still readable through the descriptor kept open; looked up
        // again, it would be missing and the own-file reads would stop.
        std::fs::remove_file(tree.path().join("sys/class/block/sda/stat")).unwrap();
        assert_eq!(
            names(&c.collect_at(t0 + LIST_EVERY).unwrap().unwrap()),
            ["sda"]
        );
        assert!(c.own_files.is_some(), "the open file was taken over");
        let next = c.collect_at(t0 + LIST_EVERY * 3 / 2).unwrap().unwrap();
        assert_eq!(next.devices[0].reads_completed_total, 100);
    }

    #[test]
    fn a_vanished_own_file_means_the_table_is_read_at_once() {
        let counters = "100 0 800 40 50 0 400 20 0 60 60";
        let tree = one_disk_among_loops(counters, counters);
        let mut c = collector(HostPaths::under(tree.path()), DisksConfig::default());
        let t0 = Instant::now();
        c.collect_at(t0).unwrap().unwrap();
        assert!(c.own_files.is_some());

        // sda is gone: its file first, and the table says so on the same tick.
        std::fs::remove_dir_all(tree.path().join("sys/class/block/sda")).unwrap();
        let loops_only: String = (0..4)
            .map(|n| format!("7 {n} loop{n} 1 0 2 0 0 0 0 0 0 0 0\n"))
            .collect();
        std::fs::write(tree.path().join("proc/diskstats"), loops_only).unwrap();
        let after = c.collect_at(t0 + Duration::from_secs(1)).unwrap().unwrap();
        assert!(after.devices.is_empty(), "{:?}", names(&after));
        assert!(c.own_files.is_none());
    }

    #[test]
    fn garbage_in_an_own_file_names_it_and_keeps_the_baseline() {
        let counters = "100 0 800 40 50 0 400 20 0 60 60";
        let tree = one_disk_among_loops(counters, counters);
        let mut c = collector(HostPaths::under(tree.path()), DisksConfig::default());
        let t0 = Instant::now();
        c.collect_at(t0).unwrap().unwrap();
        write_own_file(tree.path(), "sda", "100 0 800 forty 50 0 400 20 0 60 60");
        let err = c.collect_at(t0 + Duration::from_secs(1)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sys/class/block/sda/stat"), "{text}");
        assert!(
            text.contains("time reading \"forty\" is not a number"),
            "{text}"
        );

        write_own_file(tree.path(), "sda", "101 0 808 41 50 0 400 20 0 61 61");
        let next = c.collect_at(t0 + Duration::from_secs(2)).unwrap().unwrap();
        let r = next.devices[0]
            .rates
            .as_ref()
            .expect("the t0 baseline is kept");
        assert_eq!(r.read_iops, 0.5, "1 read over the 2 s since t0");
    }

    #[test]
    fn sys_block_decides_over_the_name() {
        // `md0p1`-style names are ambiguous; with /sys present only its listing counts.
        let tree = temp_tree(
            "8 0 sda 1 0 8 1 1 0 8 1 0 1 2\n8 1 sda1 1 0 8 1 1 0 8 1 0 1 2\n259 0 md0p1 1 0 8 1 1 0 8 1 0 1 2\n",
            &["sda", "md0p1"],
        );
        let mut c = collector(HostPaths::under(tree.path()), DisksConfig::default());
        let d = c.collect_at(Instant::now()).unwrap().unwrap();
        assert_eq!(names(&d), ["md0p1", "sda"]);
    }

    #[test]
    fn backwards_counters_new_and_vanished_devices() {
        let line = |name: &str, minor: u32, reads: u64| {
            format!(
                "8 {minor} {name} {reads} 0 {} 10 5 0 40 10 0 20 20\n",
                reads * 8
            )
        };
        let tree = temp_tree(
            &(line("sda", 0, 100) + &line("sdb", 16, 100)),
            &["sda", "sdb", "sdc"],
        );
        let write =
            |text: String| std::fs::write(tree.path().join("proc/diskstats"), text).unwrap();
        let mut c = collector(HostPaths::under(tree.path()), DisksConfig::default());
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        c.collect_at(at(0)).unwrap();

        // sda went backwards (re-created), sdb moved on, sdc appeared.
        write(line("sda", 0, 50) + &line("sdb", 16, 300) + &line("sdc", 32, 7));
        let d = c.collect_at(at(10)).unwrap().unwrap();
        assert_eq!(names(&d), ["sda", "sdb", "sdc"]);
        assert_eq!(d.devices[0].rates, None);
        assert_eq!(d.devices[1].rates.unwrap().read_iops, 20.0);
        assert_eq!(
            d.devices[1].rates.unwrap().read_bytes_per_sec,
            200.0 * 8.0 * 512.0 / 10.0
        );
        assert_eq!(d.devices[2].rates, None);

        // sda has a fresh baseline now; sdb vanished; sdc re-created with another minor.
        write(line("sda", 0, 60) + &line("sdc", 48, 9));
        let d = c.collect_at(at(20)).unwrap().unwrap();
        assert_eq!(names(&d), ["sda", "sdc"]);
        assert_eq!(d.devices[0].rates.unwrap().read_iops, 1.0);
        assert_eq!(d.devices[1].rates, None);

        // sdb comes back: it is new again, no rate against its old baseline.
        write(line("sda", 0, 60) + &line("sdb", 16, 400));
        let d = c.collect_at(at(30)).unwrap().unwrap();
        assert_eq!(d.devices[1].name, "sdb");
        assert_eq!(d.devices[1].rates, None);
        // Nothing moved on sda: zero rates, and no I/O means zero wait rather than NaN.
        let r = d.devices[0].rates.unwrap();
        assert_eq!(
            (r.read_iops, r.util_pct, r.avg_wait_seconds),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn include_and_exclude() {
        let config = DisksConfig {
            include: vec!["dm-*".into(), "sd*".into()],
            exclude: vec!["dm-1".into()],
            ..DisksConfig::default()
        };
        let mut c = collector(fixture("node-exporter"), config);
        let d = c.collect_at(Instant::now()).unwrap().unwrap();
        assert_eq!(
            names(&d),
            ["dm-0", "dm-2", "dm-3", "dm-4", "dm-5", "sda", "sdb", "sdc"]
        );
    }

    #[test]
    fn garbage_is_an_error_naming_the_file_and_keeps_the_baseline() {
        let tree = temp_tree("8 0 sda 1 0 8 1 1 0 8 1 0 1 2\n", &["sda"]);
        let mut c = collector(HostPaths::under(tree.path()), DisksConfig::default());
        let t0 = Instant::now();
        c.collect_at(t0).unwrap();
        let path = tree.path().join("proc/diskstats");
        for (garbage, expect) in [
            (
                "8 0 sda 1 0 eight 1 1 0 8 1 0 1 2\n",
                "sectors read \"eight\" is not a number",
            ),
            (
                "8 0 sda 1 0 8 1 1\n",
                "expected at least 14 fields, found 8",
            ),
            (
                "8 x sda 1 0 8 1 1 0 8 1 0 1 2\n",
                "minor \"x\" is not a number",
            ),
            ("8 0\n", "expected major, minor and a device name"),
        ] {
            std::fs::write(&path, garbage).unwrap();
            let err = c.collect_at(t0 + Duration::from_secs(1)).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(expect), "{message}");
            assert_eq!(
                err.to_section_error().kind,
                hostwatch_proto::ErrorKind::Parse
            );
        }
        std::fs::write(&path, "8 0 sda 3 0 8 1 1 0 8 1 0 1 2\n").unwrap();
        let d = c.collect_at(t0 + Duration::from_secs(2)).unwrap().unwrap();
        assert_eq!(
            d.devices[0].rates.unwrap().read_iops,
            1.0,
            "baseline from t0 kept"
        );
    }

    #[test]
    fn missing_file_means_no_section() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = collector(HostPaths::under(dir.path()), DisksConfig::default());
        assert_eq!(c.collect_at(Instant::now()).unwrap(), None);
    }

    #[test]
    fn live_read_of_this_machine() {
        let paths = HostPaths::default();
        let mut c = collector(paths.clone(), DisksConfig::default());
        let t0 = Instant::now();
        let first = c
            .collect_at(t0)
            .unwrap()
            .expect("/proc/diskstats exists on Linux");
        // Independently: whole devices (entries of /sys/block) that diskstats lists and the
        // default filter allows.
        let listed = std::fs::read_to_string("/proc/diskstats").unwrap();
        let filter = Filter::new(&[], &DisksConfig::default().exclude);
        let mut expected: Vec<String> = listed
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .filter(|n| paths.sys("block").join(n.replace('/', "!")).exists())
            .filter(|n| filter.allows(n))
            .map(String::from)
            .collect();
        expected.sort();
        assert_eq!(names(&first), expected);

        std::thread::sleep(Duration::from_millis(50));
        // On a machine with loop devices this read comes from the disks' own files.
        let second = c.collect_at(Instant::now()).unwrap().unwrap();
        assert_eq!(names(&second), names(&first));
        for d in &second.devices {
            let r = d.rates.unwrap_or_else(|| panic!("{} has no rates", d.name));
            assert!((0.0..=100.0).contains(&r.util_pct), "{}: {r:?}", d.name);
            assert!(r.read_bytes_per_sec >= 0.0 && r.avg_wait_seconds >= 0.0);
            assert_eq!(d.read_bytes_total % 512, 0);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_damaged_diskstats(
            text in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/disks/node-exporter/proc/diskstats"
            ))
        ) {
            let _ = parse_diskstats(&text, &mut Vec::new());
            let _ = parse_counters(text.split_ascii_whitespace(), 0);
        }
    }
}
