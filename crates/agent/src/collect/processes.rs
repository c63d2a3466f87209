//! Process counts by state and the heaviest processes, from `/proc/PID/*`.
//!
//! Follows proc_pid_stat(5), proc_pid_status(5), proc_pid_cmdline(5) and proc_pid_io(5)
//! (<https://docs.kernel.org/filesystems/proc.html>, "Process-Specific Subdirectories").
//!
//! This is the expensive collector, so one read does the least it can: `/proc/PID/stat` of every
//! process (state, CPU ticks, threads, start time, RSS), then `cmdline`, `status` and `io` only
//! for the few processes that make a top list, and of those `cmdline` and `status` (the owner)
//! only once per [`DESCRIPTION_TTL`] or when the process execs. Per-process state lives in a map keyed by pid and
//! checked against the start time, so a reused pid starts afresh instead of inheriting the old
//! process's counters; pids that vanished are dropped after each read.
//!
//! The files are hand-parsed rather than through `procfs`/`procfs-core`: their `Stat` parser
//! allocates a fresh buffer and an owned `comm` for every process on every read and converts all
//! ~50 fields where six are needed; their `Status` and `Io` parsers build a `HashMap` of every
//! line per call; and both `Stat` and `Io` slice in ways that panic on some malformed input.
//! Here the stat line is parsed in place from one reused buffer, with no allocation per process.

use super::{CollectError, Collector};
use crate::HostPaths;
use crate::config::ProcessesConfig;
use crate::paths::{Rendering, read_from_start};
use hostwatch_proto::sections::{ProcessInfo, Processes};
use hostwatch_proto::{SectionData, Tier};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How long a top process's command line and owner are reused before they are read again.
/// They change only when the process execs (its name in `stat` changes then, which forces a
/// re-read at once), rewrites its title (`postgres: checkpointer`) or changes user; reading
/// both for each of the top processes on every tick was half the collector's file reads.
const DESCRIPTION_TTL: Duration = Duration::from_secs(60);

/// Reads process counts and the top processes by CPU and by memory.
#[derive(Debug)]
pub struct ProcessesCollector {
    paths: HostPaths,
    /// Length of each top list.
    top: usize,
    /// Longest command line reported, in bytes.
    cmdline_max: usize,
    page_size: u64,
    ticks_per_second: f64,
    /// What the previous read saw of each live process.
    known: HashMap<u32, Tracked>,
    /// Counts reads; a process not stamped with the current one has gone.
    generation: u64,
    last_read: Option<Instant>,
    users: UserNames,
    /// Reused buffers: file contents, a path, the ranking.
    bytes: Vec<u8>,
    path: PathBuf,
    ranked: Vec<(u32, u64)>,
    /// Processes described in this read (a process on both lists is read once).
    described: Vec<ProcessInfo>,
}

/// One process as the previous reads left it.
#[derive(Debug)]
struct Tracked {
    /// Start time in clock ticks after boot: with the pid, the process's identity.
    start_ticks: u64,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
    /// Ticks used since the previous read; `None` on first sight.
    cpu_delta: Option<u64>,
    rss_pages: u64,
    comm: String,
    seen: u64,
    /// The last `/proc/PID/io` read, for rates.
    io: Option<IoSample>,
    /// The command line and owner, once the process made a top list.
    description: Option<Description>,
}

/// What `cmdline` and `status` said of a process, and when.
#[derive(Debug)]
struct Description {
    cmdline: String,
    user: String,
    read_at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct IoSample {
    read_bytes: u64,
    write_bytes: u64,
    at: Instant,
}

impl ProcessesCollector {
    pub fn new(paths: HostPaths, config: &ProcessesConfig) -> Self {
        Self::with_units(
            paths,
            config,
            procfs::page_size(),
            procfs::ticks_per_second(),
        )
    }

    /// With a given page size and USER_HZ, so that recorded trees give the same bytes and
    /// percentages on every machine.
    fn with_units(
        paths: HostPaths,
        config: &ProcessesConfig,
        page_size: u64,
        ticks_per_second: u64,
    ) -> Self {
        ProcessesCollector {
            paths,
            top: config.top,
            cmdline_max: config.cmdline_max,
            page_size,
            ticks_per_second: ticks_per_second.max(1) as f64,
            known: HashMap::new(),
            generation: 0,
            last_read: None,
            users: UserNames::default(),
            bytes: Vec::new(),
            path: PathBuf::new(),
            ranked: Vec::new(),
            described: Vec::new(),
        }
    }

    /// One read at `now`; rates cover the time since the previous successful read.
    pub fn collect_at(&mut self, now: Instant) -> Result<Processes, CollectError> {
        let result = self.read(now);
        match result {
            Ok(_) => self.last_read = Some(now),
            Err(_) => {
                // A read that stopped halfway leaves state from two different moments:
                // start again from a clean baseline.
                self.known.clear();
                self.last_read = None;
            }
        }
        result
    }

    fn read(&mut self, now: Instant) -> Result<Processes, CollectError> {
        self.generation += 1;
        let mut out = Processes::default();
        self.scan(&mut out)?;
        let generation = self.generation;
        self.known.retain(|_, t| t.seen == generation);

        let elapsed = self
            .last_read
            .map(|t| now.saturating_duration_since(t).as_secs_f64())
            .filter(|s| *s > 0.0);
        self.described.clear();
        if self.top == 0 {
            return Ok(out);
        }
        self.users.refresh(&self.paths.root("etc/passwd"));

        // Top by CPU: only processes seen in the previous read too, and that used any CPU.
        let mut ranked = std::mem::take(&mut self.ranked);
        ranked.clear();
        if elapsed.is_some() {
            ranked.extend(
                self.known
                    .iter()
                    .filter_map(|(&pid, t)| t.cpu_delta.filter(|&d| d > 0).map(|d| (pid, d))),
            );
        }
        out.top_cpu = self.describe_top(&mut ranked, now, elapsed)?;

        // Top by resident memory; kernel threads and zombies have none and are left out.
        ranked.clear();
        ranked.extend(
            self.known
                .iter()
                .filter(|(_, t)| t.rss_pages > 0)
                .map(|(&pid, t)| (pid, t.rss_pages)),
        );
        out.top_memory = self.describe_top(&mut ranked, now, elapsed)?;
        self.ranked = ranked;
        Ok(out)
    }

    /// Reads `/proc/PID/stat` of every process: counts, and the state kept between reads.
    fn scan(&mut self, out: &mut Processes) -> Result<(), CollectError> {
        let proc = &self.paths.proc;
        let entries = std::fs::read_dir(proc).map_err(|e| CollectError::io(proc, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::io(proc, e))?;
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            set_path(&mut self.path, proc, &name, "stat");
            match read_bytes(&self.path, &mut self.bytes) {
                Ok(()) if self.bytes.is_empty() => continue, // exited while being read
                Ok(()) => {}
                Err(e) if is_gone(&e) => continue,
                Err(e) => return Err(CollectError::io(&self.path, e)),
            }
            // comm is whatever bytes the process set (prctl); borrowed unless not UTF-8.
            let text = String::from_utf8_lossy(&self.bytes);
            let stat = parse_stat(&text).map_err(|m| CollectError::parse(&self.path, m))?;

            out.total += 1;
            out.threads += stat.threads;
            let states = &mut out.states;
            match stat.state {
                b'R' => states.running += 1,
                b'S' => states.sleeping += 1,
                b'D' => states.disk_sleep += 1,
                b'T' | b't' => states.stopped += 1,
                b'Z' => states.zombie += 1,
                b'I' => states.idle += 1,
                _ => states.other += 1,
            }

            let generation = self.generation;
            match self.known.entry(pid) {
                Entry::Vacant(slot) => {
                    slot.insert(Tracked {
                        start_ticks: stat.start_ticks,
                        cpu_ticks: stat.cpu_ticks,
                        cpu_delta: None,
                        rss_pages: stat.rss_pages,
                        comm: stat.comm.to_string(),
                        seen: generation,
                        io: None,
                        description: None,
                    });
                }
                Entry::Occupied(slot) => {
                    let tracked = slot.into_mut();
                    if tracked.start_ticks == stat.start_ticks {
                        // A process's counters never go backwards; if they do, no rate now.
                        tracked.cpu_delta = stat.cpu_ticks.checked_sub(tracked.cpu_ticks);
                    } else {
                        // The pid was reused by a new process: nothing carries over.
                        tracked.start_ticks = stat.start_ticks;
                        tracked.cpu_delta = None;
                        tracked.io = None;
                        tracked.description = None;
                    }
                    tracked.cpu_ticks = stat.cpu_ticks;
                    tracked.rss_pages = stat.rss_pages;
                    tracked.seen = generation;
                    if tracked.comm != stat.comm {
                        // An exec (or a rename): its command line is new too.
                        tracked.comm.clear();
                        tracked.comm.push_str(stat.comm);
                        tracked.description = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// Sorts `ranked` (pid, key) by key, highest first, and describes the first `top` processes
    /// that still exist.
    fn describe_top(
        &mut self,
        ranked: &mut [(u32, u64)],
        now: Instant,
        elapsed: Option<f64>,
    ) -> Result<Vec<ProcessInfo>, CollectError> {
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut top = Vec::with_capacity(self.top.min(ranked.len()));
        for &(pid, _) in ranked.iter() {
            if top.len() == self.top {
                break;
            }
            if let Some(info) = self.describe(pid, now, elapsed)? {
                top.push(info);
            }
        }
        Ok(top)
    }

    /// Reads what only the top processes need. `None` when the process exited meanwhile.
    fn describe(
        &mut self,
        pid: u32,
        now: Instant,
        elapsed: Option<f64>,
    ) -> Result<Option<ProcessInfo>, CollectError> {
        if let Some(info) = self.described.iter().find(|i| i.pid == pid) {
            return Ok(Some(info.clone()));
        }
        let proc = &self.paths.proc;
        let pid_text = pid.to_string();

        let recent = self
            .known
            .get(&pid)
            .and_then(|t| t.description.as_ref())
            .filter(|d| now.saturating_duration_since(d.read_at) < DESCRIPTION_TTL);
        let (cmdline, user, fresh) = match recent {
            Some(d) => (d.cmdline.clone(), d.user.clone(), false),
            None => {
                set_path(&mut self.path, proc, &pid_text, "cmdline");
                let cmdline = match read_cmdline(&self.path, &mut self.bytes, self.cmdline_max) {
                    Ok(cmdline) => cmdline,
                    Err(e) if is_gone(&e) => return Ok(None),
                    Err(e) => return Err(CollectError::io(&self.path, e)),
                };

                set_path(&mut self.path, proc, &pid_text, "status");
                let user = match read_bytes(&self.path, &mut self.bytes) {
                    Ok(()) if self.bytes.is_empty() => return Ok(None),
                    Ok(()) => {
                        let uid = parse_effective_uid(&String::from_utf8_lossy(&self.bytes))
                            .map_err(|m| CollectError::parse(&self.path, m))?;
                        self.users.name(uid)
                    }
                    Err(e) if is_gone(&e) => return Ok(None),
                    Err(e) => return Err(CollectError::io(&self.path, e)),
                };
                (cmdline, user, true)
            }
        };

        let Some(tracked) = self.known.get_mut(&pid) else {
            return Ok(None);
        };
        if fresh {
            tracked.description = Some(Description {
                cmdline: cmdline.clone(),
                user: user.clone(),
                read_at: now,
            });
        }

        // `io` is readable only for one's own processes without CAP_SYS_PTRACE: no rates then.
        set_path(&mut self.path, proc, &pid_text, "io");
        let mut read_bytes_per_sec = None;
        let mut write_bytes_per_sec = None;
        if read_bytes(&self.path, &mut self.bytes).is_ok() && !self.bytes.is_empty() {
            let (read_bytes, write_bytes) = parse_io(&String::from_utf8_lossy(&self.bytes))
                .map_err(|m| CollectError::parse(&self.path, m))?;
            if let Some(previous) = tracked.io {
                let seconds = now.saturating_duration_since(previous.at).as_secs_f64();
                if seconds > 0.0 {
                    let rate =
                        |new: u64, old: u64| new.checked_sub(old).map(|d| d as f64 / seconds);
                    read_bytes_per_sec = rate(read_bytes, previous.read_bytes);
                    write_bytes_per_sec = rate(write_bytes, previous.write_bytes);
                }
            }
            tracked.io = Some(IoSample {
                read_bytes,
                write_bytes,
                at: now,
            });
        }

        let info = ProcessInfo {
            pid,
            name: tracked.comm.clone(),
            cmdline,
            user,
            cpu_pct: tracked
                .cpu_delta
                .zip(elapsed)
                .map(|(ticks, seconds)| ticks as f64 / self.ticks_per_second / seconds * 100.0),
            rss_bytes: tracked.rss_pages.saturating_mul(self.page_size),
            read_bytes_per_sec,
            write_bytes_per_sec,
        };
        self.described.push(info.clone());
        Ok(Some(info))
    }
}

impl Collector for ProcessesCollector {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        self.collect_at(Instant::now())
            .map(|p| Some(SectionData::from(p)))
    }
}

/// `path` = `proc/PID/file`, reusing the buffer.
fn set_path(path: &mut PathBuf, proc: &Path, pid: impl AsRef<OsStr>, file: &str) {
    path.as_mut_os_string().clear();
    path.push(proc);
    path.push(pid.as_ref());
    path.push(file);
}

/// Errors meaning the process is no longer there (or hidden from us by `hidepid`): skip it.
fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    ) || e.raw_os_error() == Some(libc::ESRCH)
}

/// Reads a whole file into `buf`, reusing its allocation. Bytes, not text: a process's name
/// need not be UTF-8, and one such name must not fail the read.
///
/// A process's `stat`, `status` and `io` are rendered whole ([`Rendering::Whole`]): open, one
/// read and close, where `read_to_end` would make a fourth call to see the end, and
/// `fs::read` two more to ask /proc for a size it does not know.
fn read_bytes(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    read_from_start(&std::fs::File::open(path)?, buf, Rendering::Whole)
}

/// The fields of `/proc/PID/stat` this collector uses, borrowed from the file's text.
#[derive(Debug, PartialEq)]
struct StatLine<'a> {
    comm: &'a str,
    state: u8,
    /// utime + stime
    cpu_ticks: u64,
    threads: u64,
    start_ticks: u64,
    rss_pages: u64,
}

/// Parses one stat line. `comm` (field 2) may hold spaces, parentheses and newlines, so it is
/// everything between the first `(` and the *last* `)`; the numbered fields follow.
fn parse_stat(text: &str) -> Result<StatLine<'_>, String> {
    let open = text.find('(').ok_or("no '(' opening the command name")?;
    let close = text.rfind(')').ok_or("no ')' closing the command name")?;
    if close < open {
        return Err("')' before '('".into());
    }
    let comm = &text[open + 1..close];
    let mut state = None;
    let (mut utime, mut stime, mut threads, mut start, mut rss) = (None, None, None, None, None);
    // Field numbers as in proc_pid_stat(5): state is field 3.
    for (number, field) in (3..).zip(text[close + 1..].split_ascii_whitespace()) {
        let number_at = |name: &str| {
            field
                .parse::<i64>()
                .map_err(|_| format!("field {number} ({name}) is not a number: {field:?}"))
        };
        match number {
            3 => state = field.bytes().next(),
            14 => utime = Some(number_at("utime")?),
            15 => stime = Some(number_at("stime")?),
            20 => threads = Some(number_at("num_threads")?),
            22 => start = Some(number_at("starttime")?),
            24 => {
                rss = Some(number_at("rss")?);
                break;
            }
            _ => {}
        }
    }
    let (Some(state), Some(utime), Some(stime), Some(threads), Some(start), Some(rss)) =
        (state, utime, stime, threads, start, rss)
    else {
        return Err("fewer than 24 fields".into());
    };
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(StatLine {
        comm,
        state,
        cpu_ticks: unsigned(utime).saturating_add(unsigned(stime)),
        threads: unsigned(threads),
        start_ticks: unsigned(start),
        rss_pages: unsigned(rss),
    })
}

/// The effective uid from `/proc/PID/status` (`Uid:` real, effective, saved, fs), the owner
/// `ps` and `top` show.
fn parse_effective_uid(text: &str) -> Result<u32, String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .ok_or("no Uid: line")?;
    let field = line
        .split_ascii_whitespace()
        .nth(2)
        .ok_or_else(|| format!("no effective uid in {line:?}"))?;
    field
        .parse()
        .map_err(|_| format!("effective uid is not a number: {field:?}"))
}

/// `read_bytes` and `write_bytes` from `/proc/PID/io`: what reached the storage layer, unlike
/// `rchar`/`wchar`, which count page-cache hits and terminals too.
fn parse_io(text: &str) -> Result<(u64, u64), String> {
    let (mut read, mut write) = (None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "read_bytes" => &mut read,
            "write_bytes" => &mut write,
            _ => continue,
        };
        let value = value.trim();
        *slot = Some(
            value
                .parse::<u64>()
                .map_err(|_| format!("{key} is not a number: {value:?}"))?,
        );
    }
    match (read, write) {
        (Some(read), Some(write)) => Ok((read, write)),
        _ => Err("read_bytes or write_bytes missing".into()),
    }
}

/// Reads a command line: NUL-separated arguments joined with spaces, cut to `max` bytes on a
/// character boundary. Only `max` bytes and a few more are read, however long the line is.
fn read_cmdline(path: &Path, buf: &mut Vec<u8>, max: usize) -> io::Result<String> {
    buf.clear();
    std::fs::File::open(path)?
        .take(max as u64 + 4)
        .read_to_end(buf)?;
    for byte in buf.iter_mut() {
        if *byte == 0 {
            *byte = b' ';
        }
    }
    let mut line = String::from_utf8_lossy(buf).into_owned();
    let mut end = max.min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    line.truncate(line.trim_end().len());
    Ok(line)
}

/// uid → user name from the host's `/etc/passwd`, re-read only when the file changes.
#[derive(Debug, Default)]
struct UserNames {
    by_uid: HashMap<u32, String>,
    /// Modification time and length of the file the map was read from.
    stamp: Option<(SystemTime, u64)>,
}

impl UserNames {
    fn refresh(&mut self, passwd: &Path) {
        let stamp = std::fs::metadata(passwd)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp.is_some() && stamp == self.stamp {
            return;
        }
        self.by_uid.clear();
        self.stamp = stamp;
        // No passwd (a minimal container root): every user shows as a number.
        let Ok(text) = std::fs::read_to_string(passwd) else {
            return;
        };
        for line in text.lines() {
            let mut fields = line.split(':');
            let (Some(name), Some(_password), Some(uid)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if let Ok(uid) = uid.parse::<u32>()
                && !name.is_empty()
            {
                // The first entry for a uid wins, as with getpwuid(3).
                self.by_uid.entry(uid).or_insert_with(|| name.to_string());
            }
        }
    }

    fn name(&self, uid: u32) -> String {
        self.by_uid
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostwatch_proto::sections::ProcessStates;
    use std::fs;
    use std::time::Duration;

    const TWO_READS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/processes/two-reads"
    );

    fn config(top: usize) -> ProcessesConfig {
        ProcessesConfig {
            top,
            ..ProcessesConfig::default()
        }
    }

    fn collector(root: impl AsRef<Path>, config: &ProcessesConfig) -> ProcessesCollector {
        ProcessesCollector::with_units(HostPaths::under(root), config, 4096, 100)
    }

    /// Reads `t0`, then `t1` ten seconds later.
    fn two_reads(config: &ProcessesConfig) -> (Processes, Processes) {
        let mut c = collector(format!("{TWO_READS}/t0"), config);
        let start = Instant::now();
        let first = c.collect_at(start).expect("t0");
        c.paths = HostPaths::under(format!("{TWO_READS}/t1"));
        let second = c.collect_at(start + Duration::from_secs(10)).expect("t1");
        (first, second)
    }

    fn pids(list: &[ProcessInfo]) -> Vec<u32> {
        list.iter().map(|p| p.pid).collect()
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn stat_line(pid: u32, comm: &str, state: char, ticks: u64, start: u64, rss: u64) -> String {
        format!(
            "{pid} ({comm}) {state} 1 {pid} {pid} 0 -1 4194304 100 0 0 0 {ticks} 0 0 0 20 0 1 0 \
             {start} 10000000 {rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
        )
    }

    /// A process in a temporary tree with all files the collector reads.
    fn fake_process(root: &Path, pid: u32, comm: &str, ticks: u64, start: u64, rss: u64) {
        let dir = root.join(format!("proc/{pid}"));
        write(
            &dir.join("stat"),
            &stat_line(pid, comm, 'S', ticks, start, rss),
        );
        write(&dir.join("status"), "Name:\tx\nUid:\t0\t0\t0\t0\n");
        write(&dir.join("cmdline"), &format!("{comm}\0"));
    }

    #[test]
    fn command_line_and_owner_are_read_again_after_a_minute_or_an_exec() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fake_process(root, 100, "worker", 10, 50, 100);
        let mut c = collector(root, &config(5));
        let t0 = Instant::now();
        let at = |seconds| t0 + Duration::from_secs(seconds);
        let only = |p: Processes| {
            let top = &p.top_memory[0];
            (top.name.clone(), top.cmdline.clone(), top.user.clone())
        };
        let described = |name: &str, cmdline: &str, user: &str| {
            (name.to_string(), cmdline.to_string(), user.to_string())
        };
        assert_eq!(
            only(c.collect_at(at(0)).unwrap()),
            described("worker", "worker", "0")
        );

        // (No passwd in the tree: owners are uids.) It rewrites its title and drops privileges:
        // seen within a minute, not at once.
        let proc = root.join("proc/100");
        write(&proc.join("cmdline"), "worker: idle\0");
        write(
            &proc.join("status"),
            "Name:\tx\nUid:\t4242\t4242\t4242\t4242\n",
        );
        assert_eq!(
            only(c.collect_at(at(1)).unwrap()),
            described("worker", "worker", "0")
        );
        assert_eq!(
            only(c.collect_at(at(60)).unwrap()),
            described("worker", "worker: idle", "4242")
        );

        // It execs another program: its name in stat changes, and the rest is read at once.
        write(
            &proc.join("stat"),
            &stat_line(100, "backup", 'S', 20, 50, 100),
        );
        write(&proc.join("cmdline"), "backup\0--full\0");
        assert_eq!(
            only(c.collect_at(at(61)).unwrap()),
            described("backup", "backup --full", "4242")
        );

        // Its pid is reused by a process started later: nothing of the old one is kept.
        write(
            &proc.join("stat"),
            &stat_line(100, "backup", 'S', 0, 900, 100),
        );
        write(&proc.join("cmdline"), "backup\0--incremental\0");
        assert_eq!(
            only(c.collect_at(at(62)).unwrap()),
            described("backup", "backup --incremental", "4242")
        );
    }

    #[test]
    fn first_read_counts_and_lists_memory_but_no_cpu() {
        let (first, _) = two_reads(&config(10));
        assert_eq!(first.total, 10);
        assert_eq!(first.threads, 11);
        assert_eq!(
            first.states,
            ProcessStates {
                running: 1,
                sleeping: 6,
                disk_sleep: 0,
                stopped: 1,
                zombie: 1,
                idle: 1,
                other: 0,
            }
        );
        // No previous read: no CPU list, and no rate anywhere rather than a zero.
        assert!(first.top_cpu.is_empty());
        assert_eq!(
            pids(&first.top_memory),
            [1, 26231, 15700, 2001, 400, 700, 500]
        );
        for p in &first.top_memory {
            assert_eq!(p.cpu_pct, None, "pid {}", p.pid);
            assert_eq!(p.read_bytes_per_sec, None, "pid {}", p.pid);
            assert_eq!(p.write_bytes_per_sec, None, "pid {}", p.pid);
        }
    }

    #[test]
    fn second_read_has_exact_cpu_and_io_rates() {
        let (_, second) = two_reads(&config(10));
        assert_eq!(second.total, 10);
        assert_eq!(second.threads, 18);
        assert_eq!(
            second.states,
            ProcessStates {
                running: 2,
                sleeping: 4,
                disk_sleep: 1,
                stopped: 1,
                zombie: 1,
                idle: 1,
                other: 0,
            }
        );

        // 1500, 200 and 10 ticks in 10 s at 100 ticks/s. The reused pid 400 and the new pid 600
        // burnt more but have no previous read of themselves; processes at 0 are not listed.
        assert_eq!(pids(&second.top_cpu), [26231, 2001, 1]);
        assert_eq!(
            second.top_cpu[0],
            ProcessInfo {
                pid: 26231,
                name: "vim".into(),
                cmdline: "vim /etc/hosts".into(),
                user: "alice".into(),
                cpu_pct: Some(150.0),
                rss_bytes: 1981 * 4096,
                read_bytes_per_sec: Some(500_000.0),
                write_bytes_per_sec: Some(204_800.0),
            }
        );
        assert_eq!(
            second.top_cpu[1],
            ProcessInfo {
                pid: 2001,
                name: "my file with\nsp".into(),
                cmdline: "/tmp/my file with\nsp --flag".into(),
                user: "alice".into(),
                cpu_pct: Some(20.0),
                rss_bytes: 297 * 4096,
                read_bytes_per_sec: Some(409.6),
                // write_bytes went backwards: no rate rather than a negative one.
                write_bytes_per_sec: None,
            }
        );
        assert_eq!(
            second.top_cpu[2],
            ProcessInfo {
                pid: 1,
                name: "systemd".into(),
                cmdline: "/sbin/init splash".into(),
                user: "root".into(),
                cpu_pct: Some(1.0),
                rss_bytes: 3000 * 4096,
                read_bytes_per_sec: Some(0.0),
                write_bytes_per_sec: Some(40_960.0),
            }
        );

        assert_eq!(
            pids(&second.top_memory),
            [400, 1, 26231, 15700, 2001, 600, 700]
        );
        let by_pid = |pid| second.top_memory.iter().find(|p| p.pid == pid).unwrap();
        // Reused pid: a new process, with its own name, owner (unknown uid) and no rates.
        assert_eq!(
            by_pid(400),
            &ProcessInfo {
                pid: 400,
                name: "new-job".into(),
                cmdline: "new-job --import".into(),
                user: "4242".into(),
                cpu_pct: None,
                rss_bytes: 5000 * 4096,
                read_bytes_per_sec: None,
                write_bytes_per_sec: None,
            }
        );
        // The recorded sleep(1): measured idle is a real 0 %, not an absent value.
        let sleep = by_pid(15700);
        assert_eq!(sleep.name, "sleep");
        assert_eq!(sleep.cmdline, "sleep 1000");
        assert_eq!(sleep.cpu_pct, Some(0.0));
        assert_eq!(sleep.read_bytes_per_sec, Some(0.0));
        assert_eq!(sleep.rss_bytes, 424 * 4096);
        // Started between the reads: no CPU figure, and no io file readable.
        assert_eq!(by_pid(600).cpu_pct, None);
        assert_eq!(by_pid(600).read_bytes_per_sec, None);
        // Setuid: the effective uid is the owner shown.
        assert_eq!(by_pid(700).user, "root");
        // A process on both lists is the same description.
        assert_eq!(by_pid(26231), &second.top_cpu[0]);
        // The vanished pid 500 is gone from the state too.
        assert!(!second.top_memory.iter().any(|p| p.pid == 500));
    }

    #[test]
    fn io_rate_needs_a_previous_io_read_of_that_process() {
        // With a top of 1, vim is not on any list at t0, so its io was never read before t1.
        let (first, second) = two_reads(&config(1));
        assert_eq!(pids(&first.top_memory), [1]);
        assert_eq!(pids(&second.top_cpu), [26231]);
        assert_eq!(second.top_cpu[0].cpu_pct, Some(150.0));
        assert_eq!(second.top_cpu[0].read_bytes_per_sec, None);
        assert_eq!(pids(&second.top_memory), [400]);
    }

    #[test]
    fn pid_reuse_and_vanished_pids_drop_state() {
        let mut c = collector(format!("{TWO_READS}/t0"), &config(10));
        let start = Instant::now();
        c.collect_at(start).unwrap();
        assert_eq!(c.known[&400].start_ticks, 500);
        assert!(c.known.contains_key(&500));
        c.paths = HostPaths::under(format!("{TWO_READS}/t1"));
        c.collect_at(start + Duration::from_secs(10)).unwrap();
        assert_eq!(c.known[&400].start_ticks, 90000);
        assert_eq!(c.known[&400].comm, "new-job");
        assert!(!c.known.contains_key(&500));
        assert_eq!(c.known.len(), 10);
    }

    #[test]
    fn cpu_counter_going_backwards_gives_no_rate_then_a_fresh_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fake_process(root, 10, "worker", 1000, 50, 10);
        let mut c = collector(root, &config(10));
        let t = Instant::now();
        c.collect_at(t).unwrap();
        fake_process(root, 10, "worker", 400, 50, 10);
        let second = c.collect_at(t + Duration::from_secs(10)).unwrap();
        assert!(second.top_cpu.is_empty());
        assert_eq!(second.top_memory[0].cpu_pct, None);
        fake_process(root, 10, "worker", 450, 50, 10);
        let third = c.collect_at(t + Duration::from_secs(20)).unwrap();
        assert_eq!(third.top_cpu[0].cpu_pct, Some(5.0));
    }

    #[test]
    fn processes_exiting_mid_read_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fake_process(root, 10, "big", 0, 50, 900);
        fake_process(root, 11, "medium", 0, 50, 500);
        fake_process(root, 12, "small", 0, 50, 100);
        // Gone before its stat was read: the directory is listed, its files are not there.
        fs::create_dir_all(root.join("proc/13")).unwrap();
        // Gone while being read: the kernel returns an empty file.
        write(&root.join("proc/14/stat"), "");
        // Gone between the stat scan and the details: no cmdline any more.
        fs::remove_file(root.join("proc/10/cmdline")).unwrap();
        let out = collector(root, &config(2))
            .collect_at(Instant::now())
            .unwrap();
        assert_eq!(out.total, 3);
        // The next candidate takes the exited process's place.
        assert_eq!(pids(&out.top_memory), [11, 12]);
    }

    #[test]
    fn garbage_stat_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("proc/55/stat"),
            "55 (x) S 1 2 3 not-a-number\n",
        );
        let err = collector(dir.path(), &config(10))
            .collect_at(Instant::now())
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CollectError::Parse { .. }), "{message}");
        assert!(message.contains("proc/55/stat"), "{message}");
        assert!(message.contains("fewer than 24 fields"), "{message}");

        write(
            &dir.path().join("proc/55/stat"),
            &stat_line(55, "x", 'S', 1, 2, 3).replace(" 1 0 2 ", " 1 0 two "),
        );
        let message = collector(dir.path(), &config(10))
            .collect_at(Instant::now())
            .unwrap_err()
            .to_string();
        assert!(message.contains("field 22 (starttime)"), "{message}");
        assert!(message.contains("\"two\""), "{message}");
    }

    #[test]
    fn garbage_io_and_status_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fake_process(dir.path(), 9, "x", 0, 1, 10);
        write(
            &dir.path().join("proc/9/io"),
            "read_bytes: lots\nwrite_bytes: 0\n",
        );
        let message = collector(dir.path(), &config(10))
            .collect_at(Instant::now())
            .unwrap_err()
            .to_string();
        assert!(message.contains("proc/9/io"), "{message}");
        assert!(
            message.contains("read_bytes is not a number: \"lots\""),
            "{message}"
        );

        fs::remove_file(dir.path().join("proc/9/io")).unwrap();
        write(&dir.path().join("proc/9/status"), "Name:\tx\n");
        let message = collector(dir.path(), &config(10))
            .collect_at(Instant::now())
            .unwrap_err()
            .to_string();
        assert!(message.contains("proc/9/status"), "{message}");
        assert!(message.contains("no Uid: line"), "{message}");
    }

    #[test]
    fn missing_proc_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = collector(dir.path(), &config(10))
            .collect_at(Instant::now())
            .unwrap_err();
        assert!(matches!(err, CollectError::Io { .. }), "{err}");
        assert!(err.to_string().contains("proc"), "{err}");
    }

    #[test]
    fn stat_comm_with_parentheses_spaces_and_newlines() {
        let line = "77 (a) (b\n c)) R 1 77 77 0 -1 0 0 0 0 0 12 3 0 0 20 0 4 0 999 0 42 0\n";
        assert_eq!(
            parse_stat(line),
            Ok(StatLine {
                comm: "a) (b\n c)",
                state: b'R',
                cpu_ticks: 15,
                threads: 4,
                start_ticks: 999,
                rss_pages: 42,
            })
        );
        assert!(parse_stat("77 a) R").is_err());
        assert!(parse_stat("").is_err());
    }

    #[test]
    fn name_that_is_not_utf8_does_not_fail_the_read() {
        let dir = tempfile::tempdir().unwrap();
        fake_process(dir.path(), 8, "filler", 0, 1, 10);
        let mut stat = b"8 (bad\xff name) S".to_vec();
        stat.extend_from_slice(
            stat_line(8, "x", 'S', 0, 1, 10)
                .split_once(" S")
                .unwrap()
                .1
                .as_bytes(),
        );
        fs::write(dir.path().join("proc/8/stat"), stat).unwrap();
        fs::write(dir.path().join("proc/8/cmdline"), b"bad\xff\0arg\0").unwrap();
        let out = collector(dir.path(), &config(10))
            .collect_at(Instant::now())
            .unwrap();
        assert_eq!(out.top_memory[0].name, "bad\u{fffd} name");
        assert_eq!(out.top_memory[0].cmdline, "bad\u{fffd} arg");
        assert_eq!(out.top_memory[0].rss_bytes, 10 * 4096);
    }

    #[test]
    fn cmdline_is_joined_and_cut_on_a_char_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cmdline");
        let mut buf = Vec::new();
        fs::write(&path, "python3\0-m\0http.server\0").unwrap();
        assert_eq!(
            read_cmdline(&path, &mut buf, 256).unwrap(),
            "python3 -m http.server"
        );
        // "é" is two bytes: a cut at byte 6 would split it, so the cut falls before it.
        fs::write(&path, "café\0--x\0").unwrap();
        assert_eq!(read_cmdline(&path, &mut buf, 4).unwrap(), "caf");
        assert_eq!(read_cmdline(&path, &mut buf, 5).unwrap(), "café");
        // A trailing separator at the cut is not kept.
        assert_eq!(read_cmdline(&path, &mut buf, 6).unwrap(), "café");
        // Kernel threads have an empty cmdline.
        fs::write(&path, "").unwrap();
        assert_eq!(read_cmdline(&path, &mut buf, 256).unwrap(), "");
        // A long line is cut, and only about `max` bytes are read.
        fs::write(&path, "x".repeat(100_000)).unwrap();
        assert_eq!(read_cmdline(&path, &mut buf, 256).unwrap().len(), 256);
        assert!(buf.len() <= 260);
    }

    #[test]
    fn user_names_are_reread_only_when_passwd_changes() {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        fs::write(
            &passwd,
            "root:x:0:0::/root:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n",
        )
        .unwrap();
        let mut users = UserNames::default();
        users.refresh(&passwd);
        assert_eq!(users.name(1001), "bob");
        assert_eq!(users.name(0), "root");
        assert_eq!(users.name(1002), "1002");

        // Same mtime and length: the cached names stay (the file is not re-read).
        let mtime = fs::metadata(&passwd).unwrap().modified().unwrap();
        fs::write(
            &passwd,
            "root:x:0:0::/root:/bin/sh\nbeb:x:1001:1001::/home/bob:/bin/sh\n",
        )
        .unwrap();
        fs::File::options()
            .write(true)
            .open(&passwd)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        users.refresh(&passwd);
        assert_eq!(users.name(1001), "bob");

        // A new mtime: re-read.
        fs::File::options()
            .write(true)
            .open(&passwd)
            .unwrap()
            .set_modified(mtime + Duration::from_secs(60))
            .unwrap();
        users.refresh(&passwd);
        assert_eq!(users.name(1001), "beb");

        // Gone: numbers only.
        fs::remove_file(&passwd).unwrap();
        users.refresh(&passwd);
        assert_eq!(users.name(0), "0");
    }

    #[test]
    fn top_zero_counts_without_reading_details() {
        let mut c = collector(format!("{TWO_READS}/t1"), &config(0));
        let out = c.collect_at(Instant::now()).unwrap();
        assert_eq!(out.total, 10);
        assert!(out.top_cpu.is_empty() && out.top_memory.is_empty());
    }

    /// This test process appears with its pid, name, command line, owner and memory, and the
    /// CPU it burns between two reads shows up as a plausible percentage.
    #[test]
    fn live_read_of_this_machine() {
        let mut c = ProcessesCollector::new(HostPaths::default(), &config(usize::MAX));
        let first = c.collect_at(Instant::now()).unwrap();
        assert!(first.top_cpu.is_empty());
        let busy_until = Instant::now() + Duration::from_millis(300);
        let mut spin = 0u64;
        while Instant::now() < busy_until {
            spin = spin.wrapping_add(1);
        }
        assert!(spin > 0);
        let out = match c.collect().unwrap() {
            Some(SectionData::Processes(p)) => p,
            other => panic!("unexpected {other:?}"),
        };

        let me = std::process::id();
        assert!(out.total >= 1);
        assert!(out.threads >= u64::from(out.total));
        let s = out.states;
        let counted =
            s.running + s.sleeping + s.disk_sleep + s.stopped + s.zombie + s.idle + s.other;
        // (The state of a process is its main thread's: the harness's, which waits for us.)
        assert_eq!(counted, out.total);

        let mine = out
            .top_memory
            .iter()
            .find(|p| p.pid == me)
            .expect("this test process is listed by memory");
        assert!(mine.rss_bytes > 0);
        let comm = fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
        assert_eq!(mine.name, comm.trim_end_matches('\n'));
        let exe = std::env::args().next().unwrap();
        assert!(
            mine.cmdline.starts_with(&exe[..exe.len().min(256)]),
            "{}",
            mine.cmdline
        );
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let euid = parse_effective_uid(&status).unwrap();
        if euid == 0 {
            assert_eq!(mine.user, "root");
        }
        assert!(!mine.user.is_empty());

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let busy = out
            .top_cpu
            .iter()
            .find(|p| p.pid == me)
            .expect("the spinning test process is listed by CPU");
        let pct = busy.cpu_pct.unwrap();
        assert!(pct > 0.0 && pct <= cores * 100.0 + 10.0, "{pct} %");
        for p in &out.top_cpu {
            assert!(p.cpu_pct.is_some_and(|c| c > 0.0), "{p:?}");
        }
        // Own io is readable: a rate after the first read.
        assert!(mine.read_bytes_per_sec.is_some() && mine.write_bytes_per_sec.is_some());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_damaged_process_files(
            stat in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/processes/two-reads/t0/proc/26231/stat"
            )),
            status in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/processes/two-reads/t0/proc/26231/status"
            )),
            io in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/processes/two-reads/t0/proc/26231/io"
            )),
        ) {
            let _ = parse_stat(&stat);
            let _ = parse_effective_uid(&status);
            let _ = parse_io(&io);
        }
    }
}
