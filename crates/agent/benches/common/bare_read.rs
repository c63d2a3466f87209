//! The "bare read": what the fast collectors read, read and nothing else — the floor a
//! collection cycle is judged against. Shared by `benches/cycle.rs` (in a hot loop) and
//! `examples/footprint_probe.rs` (once a second, as the agent runs).

use hostwatch_agent::HostPaths;
use hostwatch_agent::collect::{self, Scheduled};
use hostwatch_agent::config::AgentConfig;
use hostwatch_agent::paths::{Rendering, read_from_start};
use hostwatch_proto::Tier;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The default configuration with processes off, filesystems on the fast tier and the fast
/// integrations (containers, GPUs) off: the data node_exporter's cpu, meminfo, loadavg,
/// netdev, diskstats and filesystem collectors cover. `scripts/footprint.sh` gives
/// `hostwatch agent` the same through the environment.
pub fn fast_config() -> AgentConfig {
    let mut config = AgentConfig::default();
    config.processes.enabled = false;
    config.filesystems.tier = Some(Tier::Fast);
    config.containers.enabled = false;
    config.gpu.enabled = false;
    config
}

/// The collectors that run on a fast tick under `config`.
pub fn fast_collectors(config: &AgentConfig, paths: &HostPaths) -> Vec<Scheduled> {
    collect::build(config, paths, &Default::default())
        .into_iter()
        .filter(|s| s.tier == Tier::Fast)
        .collect()
}

/// Reading what the fast collectors read, without parsing: open, read into one reused
/// buffer, close; list the directories they list; `statvfs` the mounts they report.
pub struct BareRead {
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
    pub mounts: Vec<PathBuf>,
    buf: Vec<u8>,
}

impl BareRead {
    /// The per-tick reads of each collector, by name. A collector this list does not know is
    /// named on stderr: the floor would then miss its reads.
    pub fn for_collectors(
        config: &AgentConfig,
        paths: &HostPaths,
        collectors: &[Scheduled],
    ) -> BareRead {
        let mut bare = BareRead {
            files: Vec::new(),
            dirs: Vec::new(),
            mounts: Vec::new(),
            buf: Vec::new(),
        };
        for scheduled in collectors {
            match scheduled.collector.name() {
                "cpu" => bare.files.push(paths.proc("stat")),
                "load" => bare.files.push(paths.proc("loadavg")),
                "memory" => {
                    bare.files.push(paths.proc("meminfo"));
                    for resource in ["cpu", "memory", "io"] {
                        let file = paths.proc("pressure").join(resource);
                        if file.exists() {
                            bare.files.push(file);
                        }
                    }
                }
                "disks" => bare.files.push(paths.proc("diskstats")),
                "network" => bare.files.push(paths.proc("net/dev")),
                "filesystems" => {
                    bare.files.push(paths.proc("self/mountinfo"));
                    bare.mounts = reported_mounts(config, paths);
                }
                "thermal" => bare.add_thermal(paths),
                // NVML's queries are library calls, not files: only the AMD reads are listed.
                "gpu" => bare.add_amd_gpus(paths),
                other => eprintln!("bare read: no list of the files `{other}` reads"),
            }
        }
        bare
    }

    /// The thermal collector lists both class directories and reads each temperature input.
    fn add_thermal(&mut self, paths: &HostPaths) {
        self.files.extend(temperature_inputs(paths));
        self.dirs.push(paths.sys("class/hwmon"));
        self.dirs.push(paths.sys("class/thermal"));
    }

    /// The gpu collector lists the DRM class and reads each amdgpu card's changing values.
    fn add_amd_gpus(&mut self, paths: &HostPaths) {
        let drm = paths.sys("class/drm");
        for card in entries(&drm, "card") {
            let dev = card.join("device");
            let is_amd =
                std::fs::read_to_string(dev.join("vendor")).is_ok_and(|v| v.trim() == "0x1002");
            if !is_amd || !dev.join("gpu_busy_percent").exists() {
                continue;
            }
            for file in [
                "power/runtime_status",
                "gpu_busy_percent",
                "mem_info_vram_used",
                "mem_info_gtt_used",
            ] {
                if dev.join(file).exists() {
                    self.files.push(dev.join(file));
                }
            }
            for hwmon in entries(&dev.join("hwmon"), "hwmon").into_iter().take(1) {
                for file in ["temp1_input", "power1_average", "fan1_input", "pwm1"] {
                    if hwmon.join(file).exists() {
                        self.files.push(hwmon.join(file));
                    }
                }
            }
        }
        self.dirs.push(drm);
    }

    pub fn run(&mut self) -> std::io::Result<usize> {
        let mut total = 0;
        for file in &self.files {
            self.buf.clear();
            // `take` skips the size query (`statx`, `lseek`) `File::read_to_end` would make.
            total += std::fs::File::open(file)?
                .take(u64::MAX)
                .read_to_end(&mut self.buf)?;
        }
        for dir in &self.dirs {
            if let Ok(listing) = std::fs::read_dir(dir) {
                total += listing.count();
            }
        }
        for mount in &self.mounts {
            total += rustix::fs::statvfs(mount)?.f_blocks as usize & 1;
        }
        Ok(total)
    }
}

/// The least any reader of the fast collectors' data could do per tick: what the agent itself
/// reads, the way it reads it — its files opened once and read again from the start with
/// `pread` (`paths::read_from_start`), one disk's own counters when the agent reads those, the
/// mount table only polled for a change, each reported mount `statvfs`'d — and no parsing at all.
/// The bare read is the floor (open, read, close every file); this is the floor under
/// the agent's own way of reading, so what it spends above this is its user code.
pub struct KeptRead {
    files: Vec<(File, Rendering)>,
    mount_table: Option<File>,
    mounts: Vec<PathBuf>,
    buf: Vec<u8>,
}

impl KeptRead {
    pub fn for_collectors(
        config: &AgentConfig,
        paths: &HostPaths,
        collectors: &[Scheduled],
    ) -> KeptRead {
        let mut kept = KeptRead {
            files: Vec::new(),
            mount_table: None,
            mounts: Vec::new(),
            buf: Vec::new(),
        };
        let mut open = |path: PathBuf, rendering| {
            if let Ok(file) = File::open(&path) {
                kept.files.push((file, rendering));
            }
        };
        for scheduled in collectors {
            match scheduled.collector.name() {
                "cpu" => open(paths.proc("stat"), Rendering::Whole),
                "load" => open(paths.proc("loadavg"), Rendering::Whole),
                "memory" => {
                    open(paths.proc("meminfo"), Rendering::Whole);
                    for resource in ["cpu", "memory", "io"] {
                        open(paths.proc("pressure").join(resource), Rendering::Whole);
                    }
                }
                "disks" => match own_disk_files(config, paths) {
                    Some(files) => files
                        .into_iter()
                        .for_each(|file| open(file, Rendering::Whole)),
                    None => open(paths.proc("diskstats"), Rendering::Records),
                },
                "network" => open(paths.proc("net/dev"), Rendering::Records),
                "filesystems" => {
                    kept.mount_table = File::open(paths.proc("self/mountinfo")).ok();
                    kept.mounts = reported_mounts(config, paths);
                }
                // Sensor files are read per tick only where there are sensors; the listings
                // happen once a minute.
                "thermal" => {
                    for file in temperature_inputs(paths) {
                        open(file, Rendering::Whole);
                    }
                }
                other => eprintln!("kept read: no list of the files `{other}` reads"),
            }
        }
        kept
    }

    pub fn run(&mut self) -> std::io::Result<usize> {
        let mut total = 0;
        for (file, rendering) in &self.files {
            self.buf.clear();
            read_from_start(file, &mut self.buf, *rendering)?;
            total += self.buf.len();
        }
        if let Some(table) = &self.mount_table {
            let mut fds = [rustix::event::PollFd::new(
                table,
                rustix::event::PollFlags::PRI,
            )];
            total += rustix::event::poll(
                &mut fds,
                Some(&rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                }),
            )?;
        }
        for mount in &self.mounts {
            total += rustix::fs::statvfs(mount)?.f_blocks as usize & 1;
        }
        Ok(total)
    }
}

/// Every hwmon temperature input and thermal zone temperature: what the thermal collector reads
/// per tick.
fn temperature_inputs(paths: &HostPaths) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for chip in entries(&paths.sys("class/hwmon"), "hwmon") {
        for dir in [chip.clone(), chip.join("device")] {
            for file in entries(&dir, "temp") {
                if file.to_string_lossy().ends_with("_input") {
                    files.push(file);
                }
            }
        }
    }
    for zone in entries(&paths.sys("class/thermal"), "thermal_zone") {
        files.push(zone.join("temp"));
    }
    files
}

/// The reported disks' own `stat` files, when the disks collector reads those between its
/// listings rather than the whole `diskstats`.
fn own_disk_files(config: &AgentConfig, paths: &HostPaths) -> Option<Vec<PathBuf>> {
    let mut collector = collect::disks::DisksCollector::new(&config.disks, paths);
    collector.collect_at(Instant::now()).ok()?;
    let files = collector.own_file_paths()?;
    Some(files.into_iter().map(Path::to_path_buf).collect())
}

/// The mounts the filesystems collector reports on this host, as paths to `statvfs`.
fn reported_mounts(config: &AgentConfig, paths: &HostPaths) -> Vec<PathBuf> {
    let mut collector = collect::filesystems::FilesystemsCollector::new(&config.filesystems, paths);
    match collector.collect_filesystems() {
        Ok(Some(filesystems)) => filesystems
            .mounts
            .iter()
            .map(|m| paths.root(m.mount.trim_start_matches('/')))
            .collect(),
        _ => Vec::new(),
    }
}

/// Entries of `dir` whose names start with `prefix`.
fn entries(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = listing
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// The floor of the processes collector: list `/proc`, read every `/proc/PID/stat`.
pub struct BareProcStat {
    proc: PathBuf,
    buf: Vec<u8>,
    path: PathBuf,
}

impl BareProcStat {
    pub fn new(paths: &HostPaths) -> Self {
        BareProcStat {
            proc: paths.proc.clone(),
            buf: Vec::new(),
            path: PathBuf::new(),
        }
    }

    /// Returns how many stat files were read.
    pub fn run(&mut self) -> usize {
        let mut read = 0;
        let Ok(listing) = std::fs::read_dir(&self.proc) else {
            return 0;
        };
        for entry in listing.flatten() {
            let name = entry.file_name();
            if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
                continue;
            }
            self.path.clear();
            self.path.push(&self.proc);
            self.path.push(&name);
            self.path.push("stat");
            self.buf.clear();
            if let Ok(file) = std::fs::File::open(&self.path)
                && file.take(u64::MAX).read_to_end(&mut self.buf).is_ok()
            {
                read += 1;
            }
        }
        read
    }
}
