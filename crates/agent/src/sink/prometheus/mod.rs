//! The `/metrics` endpoint: the latest state of every source in the Prometheus text format.
//!
//! Where the data is what node_exporter exposes, the names and labels are node_exporter's
//! (`node_cpu_seconds_total{cpu,mode}`, `node_memory_MemTotal_bytes`, `node_filesystem_*`…), so
//! dashboards built for it work unchanged; everything else is `hostwatch_*`. The text is
//! rendered from the latest report of each source at scrape time — a scrape never triggers
//! collection, so scraping often costs the host nothing extra.
//!
//! The integration sections each have a file of their own beside this one, borrowing the
//! established exporter's names where there is one (smartctl_exporter, prometheus-pve-exporter,
//! node_exporter's zfs collector, cAdvisor); docs/metrics.md lists every family.

mod containers;
mod gpu;
mod ollama;
mod proxmox;
mod rows;
mod smart;
mod zfs;

use super::exposition::{Exposition, Kind};
use hostwatch_proto::sections::{CpuSeconds, PressureResource};
use hostwatch_proto::{Report, Section, Sections};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// The Content-Type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The latest state, shared between the collection loop and the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct MetricsState {
    inner: Arc<RwLock<Latest>>,
}

#[derive(Debug)]
struct Latest {
    report: Option<Report>,
    /// Failed collections per source since start.
    errors: BTreeMap<&'static str, u64>,
    /// Container restarts by the health watchdog since start, per result. Each action is in
    /// exactly one report, so only a count kept here lets Prometheus see them.
    watchdog: BTreeMap<&'static str, u64>,
}

impl Default for Latest {
    /// Every source's error count from zero, so each has its series from the first scrape.
    fn default() -> Self {
        Latest {
            report: None,
            errors: Sections::NAMES.iter().map(|&name| (name, 0)).collect(),
            watchdog: BTreeMap::new(),
        }
    }
}

impl MetricsState {
    /// Folds a new report into the latest state.
    pub fn record(&self, report: Report) {
        let mut latest = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for (name, _) in report.sections.errors() {
            *latest.errors.entry(name).or_insert(0) += 1;
        }
        if let Some(c) = ok(&report.sections.containers) {
            containers::count_watchdog(&mut latest.watchdog, c);
        }
        match &mut latest.report {
            Some(r) => r.absorb_owned(report),
            None => latest.report = Some(report),
        }
    }

    /// The exposition text of the latest state; empty-but-valid before the first report.
    pub fn render(&self) -> String {
        let latest = self.inner.read().unwrap_or_else(|e| e.into_inner());
        render(latest.report.as_ref(), &latest.errors, &latest.watchdog)
    }
}

/// Serves `/metrics` on `listen` until the task is dropped.
pub async fn serve(listen: SocketAddr, state: MetricsState) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "serving Prometheus metrics on /metrics");
    axum::serve(listener, router(state)).await
}

/// The HTTP routes, apart from the socket so tests can drive them directly.
pub fn router(state: MetricsState) -> axum::Router {
    use axum::http::header;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let state = state.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], state.render()) }
        }),
    )
}

fn ok<T>(s: &Option<Section<T>>) -> Option<&T> {
    s.as_ref().and_then(Section::ok)
}

/// Renders the exposition of one (merged) report, with the counts kept since start: failed
/// collections per source, and watchdog restarts per result.
pub fn render(
    report: Option<&Report>,
    errors: &BTreeMap<&'static str, u64>,
    watchdog: &BTreeMap<&'static str, u64>,
) -> String {
    let mut e = Exposition::with_capacity(16 * 1024);
    e.family(
        "hostwatch_collector_errors_total",
        Kind::Counter,
        "Collections of a source that failed since the agent started.",
    );
    for (name, n) in errors {
        e.sample(
            "hostwatch_collector_errors_total",
            &[("collector", name)],
            *n as f64,
        );
    }
    containers::watchdog(&mut e, watchdog);
    let Some(r) = report else {
        return e.finish();
    };
    e.family(
        "hostwatch_agent_info",
        Kind::Gauge,
        "The agent's version and identity; always 1.",
    )
    .sample(
        "hostwatch_agent_info",
        &[
            ("version", &r.agent.version),
            ("host_id", &r.host_id),
            ("instance_id", &r.agent.instance_id),
        ],
        1.0,
    );
    e.single(
        "hostwatch_report_seq",
        Kind::Gauge,
        "Sequence number of the latest report.",
        r.seq as f64,
    );
    e.single(
        "hostwatch_last_collect_timestamp_seconds",
        Kind::Gauge,
        "When the latest report was collected, unix seconds.",
        r.collected_at as f64 / 1000.0,
    );
    let s = &r.sections;
    if let Some(c) = ok(&s.cpu) {
        cpu(&mut e, c);
    }
    if let Some(l) = ok(&s.load) {
        e.single("node_load1", Kind::Gauge, "1m load average.", l.load1);
        e.single("node_load5", Kind::Gauge, "5m load average.", l.load5);
        e.single("node_load15", Kind::Gauge, "15m load average.", l.load15);
        e.single(
            "node_procs_running",
            Kind::Gauge,
            "Number of processes in runnable state.",
            l.tasks_runnable as f64,
        );
        e.single(
            "hostwatch_tasks",
            Kind::Gauge,
            "Tasks (processes and threads) that exist.",
            l.tasks_total as f64,
        );
    }
    if let Some(m) = ok(&s.memory) {
        memory(&mut e, m);
    }
    if let Some(f) = ok(&s.filesystems) {
        filesystems(&mut e, f);
    }
    if let Some(d) = ok(&s.disks) {
        disks(&mut e, d);
    }
    if let Some(n) = ok(&s.network) {
        network(&mut e, n);
    }
    if let Some(t) = ok(&s.thermal) {
        thermal(&mut e, t);
    }
    if let Some(p) = ok(&s.processes) {
        processes(&mut e, p);
    }
    if let Some(sys) = ok(&s.system) {
        system(&mut e, sys);
    }
    if let Some(c) = ok(&s.checks) {
        checks(&mut e, c);
    }
    if let Some(d) = ok(&s.systemd) {
        systemd(&mut e, d);
    }
    // A section holding an error writes nothing of its own: stale values would look current,
    // and hostwatch_collector_errors_total already counts the failure.
    if let Some(c) = ok(&s.containers) {
        containers::render(&mut e, c);
    }
    if let Some(z) = ok(&s.zfs) {
        zfs::pools(&mut e, z);
    }
    if let Some(d) = ok(&s.zfs_datasets) {
        zfs::datasets(&mut e, d);
    }
    if let Some(d) = ok(&s.smart) {
        smart::render(&mut e, d);
    }
    if let Some(p) = ok(&s.proxmox) {
        proxmox::render(&mut e, p);
    }
    if let Some(g) = ok(&s.gpu) {
        gpu::render(&mut e, g);
    }
    if let Some(o) = ok(&s.ollama) {
        ollama::render(&mut e, o);
    }
    e.finish()
}

fn cpu(e: &mut Exposition, c: &hostwatch_proto::sections::Cpu) {
    const MODES: [&str; 8] = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    fn mode(s: &CpuSeconds, m: &str) -> f64 {
        match m {
            "idle" => s.idle,
            "iowait" => s.iowait,
            "irq" => s.irq,
            "nice" => s.nice,
            "softirq" => s.softirq,
            "steal" => s.steal,
            "system" => s.system,
            _ => s.user,
        }
    }
    e.family(
        "node_cpu_seconds_total",
        Kind::Counter,
        "Seconds the CPUs spent in each mode.",
    );
    for core in &c.cores {
        let cpu = core.cpu.to_string();
        for m in MODES {
            e.sample(
                "node_cpu_seconds_total",
                &[("cpu", &cpu), ("mode", m)],
                mode(&core.seconds, m),
            );
        }
    }
    e.family(
        "node_cpu_guest_seconds_total",
        Kind::Counter,
        "Seconds the CPUs spent in guests (VMs) for each mode.",
    );
    for core in &c.cores {
        let cpu = core.cpu.to_string();
        e.sample(
            "node_cpu_guest_seconds_total",
            &[("cpu", &cpu), ("mode", "nice")],
            core.seconds.guest_nice,
        );
        e.sample(
            "node_cpu_guest_seconds_total",
            &[("cpu", &cpu), ("mode", "user")],
            core.seconds.guest,
        );
    }
    e.single(
        "node_context_switches_total",
        Kind::Counter,
        "Total number of context switches.",
        c.context_switches_total as f64,
    );
    e.single(
        "node_intr_total",
        Kind::Counter,
        "Total number of interrupts serviced.",
        c.interrupts_total as f64,
    );
    e.single(
        "node_forks_total",
        Kind::Counter,
        "Total number of forks.",
        c.forks_total as f64,
    );
    e.single(
        "hostwatch_cpu_logical_cores",
        Kind::Gauge,
        "Logical CPUs online.",
        c.logical_cores as f64,
    );
    if let Some(u) = &c.usage {
        e.single(
            "hostwatch_cpu_busy_pct",
            Kind::Gauge,
            "CPU busy (not idle or iowait) over the agent's last interval, percent.",
            u.busy_pct,
        );
        e.single(
            "hostwatch_cpu_steal_pct",
            Kind::Gauge,
            "CPU time stolen by the hypervisor over the agent's last interval, percent.",
            u.steal_pct,
        );
    }
    if let Some(cg) = &c.cgroup {
        if let Some(limit) = cg.limit_cores {
            e.single(
                "hostwatch_cgroup_cpu_limit_cores",
                Kind::Gauge,
                "CPU limit of the agent's container (cpu.max), in cores.",
                limit,
            );
        }
        e.single(
            "hostwatch_cgroup_cpu_usage_seconds_total",
            Kind::Counter,
            "CPU time used by the agent's container.",
            cg.usage_seconds_total,
        );
        e.single(
            "hostwatch_cgroup_cpu_throttled_seconds_total",
            Kind::Counter,
            "Time the agent's container was throttled by its CPU limit.",
            cg.throttled_seconds_total,
        );
    }
}

fn memory(e: &mut Exposition, m: &hostwatch_proto::sections::Memory) {
    use hostwatch_proto::sections::MemorySource;
    // node_exporter's names describe /proc/meminfo; inside a limited container the figures
    // come from the cgroup, so those names would lie and only hostwatch_* is written.
    if m.source == MemorySource::Host {
        for (name, help, v) in [
            (
                "node_memory_MemTotal_bytes",
                "Memory information field MemTotal_bytes.",
                m.total_bytes,
            ),
            (
                "node_memory_MemAvailable_bytes",
                "Memory information field MemAvailable_bytes.",
                m.available_bytes,
            ),
            (
                "node_memory_MemFree_bytes",
                "Memory information field MemFree_bytes.",
                m.free_bytes,
            ),
            (
                "node_memory_Buffers_bytes",
                "Memory information field Buffers_bytes.",
                m.buffers_bytes,
            ),
            (
                "node_memory_Cached_bytes",
                "Memory information field Cached_bytes.",
                m.cached_bytes,
            ),
            (
                "node_memory_SwapTotal_bytes",
                "Memory information field SwapTotal_bytes.",
                m.swap_total_bytes,
            ),
            (
                "node_memory_SwapFree_bytes",
                "Memory information field SwapFree_bytes.",
                m.swap_free_bytes,
            ),
            (
                "node_memory_SwapCached_bytes",
                "Memory information field SwapCached_bytes.",
                m.swap_cached_bytes,
            ),
        ] {
            e.single(name, Kind::Gauge, help, v as f64);
        }
    }
    let source = match m.source {
        MemorySource::Host => "host",
        MemorySource::Cgroup => "cgroup",
    };
    for (name, help, v) in [
        (
            "hostwatch_memory_total_bytes",
            "Memory the host may use (its cgroup limit inside a container).",
            m.total_bytes as f64,
        ),
        (
            "hostwatch_memory_available_bytes",
            "Memory available for new work without swapping.",
            m.available_bytes as f64,
        ),
        (
            "hostwatch_memory_used_bytes",
            "Memory in use: total minus available.",
            m.used_bytes as f64,
        ),
        (
            "hostwatch_memory_used_pct",
            "Memory in use, percent of total.",
            m.used_pct,
        ),
        (
            "hostwatch_swap_used_bytes",
            "Swap in use.",
            m.swap_used_bytes as f64,
        ),
        (
            "hostwatch_swap_cached_bytes",
            "Swapped-out pages read back and still in swap (SwapCached).",
            m.swap_cached_bytes as f64,
        ),
    ] {
        e.family(name, Kind::Gauge, help)
            .sample(name, &[("source", source)], v);
    }
    if let Some(p) = &m.pressure {
        pressure(e, "cpu", p.cpu.as_ref());
        pressure(e, "memory", p.memory.as_ref());
        pressure(e, "io", p.io.as_ref());
    }
}

fn pressure(e: &mut Exposition, resource: &str, r: Option<&PressureResource>) {
    let Some(r) = r else { return };
    let waiting = format!("node_pressure_{resource}_waiting_seconds_total");
    e.single(
        &waiting,
        Kind::Counter,
        &format!("Total time in seconds that processes have waited for {resource}."),
        r.some.total_seconds,
    );
    if let Some(full) = &r.full {
        let stalled = format!("node_pressure_{resource}_stalled_seconds_total");
        e.single(
            &stalled,
            Kind::Counter,
            &format!("Total time in seconds no process could make progress due to {resource}."),
            full.total_seconds,
        );
    }
}

fn filesystems(e: &mut Exposition, f: &hostwatch_proto::sections::Filesystems) {
    type Get = fn(&hostwatch_proto::sections::Filesystem) -> f64;
    let families: [(&str, &str, Get); 6] = [
        (
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            |m| m.size_bytes as f64,
        ),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            |m| m.free_bytes as f64,
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            |m| m.available_bytes as f64,
        ),
        (
            "node_filesystem_files",
            "Filesystem total file nodes.",
            |m| m.inodes_total as f64,
        ),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            |m| m.inodes_free as f64,
        ),
        (
            "node_filesystem_readonly",
            "Filesystem read-only status.",
            |m| f64::from(u8::from(m.read_only)),
        ),
    ];
    for (name, help, get) in families {
        e.family(name, Kind::Gauge, help);
        for m in f.mounts.iter().filter(|m| m.error.is_none()) {
            e.sample(name, &fs_labels(m), get(m));
        }
    }
    e.family(
        "node_filesystem_device_error",
        Kind::Gauge,
        "Whether an error occurred while getting statistics for the given device.",
    );
    for m in &f.mounts {
        e.sample(
            "node_filesystem_device_error",
            &fs_labels(m),
            f64::from(u8::from(m.error.is_some())),
        );
    }
}

fn fs_labels(m: &hostwatch_proto::sections::Filesystem) -> [(&'static str, &str); 3] {
    [
        ("device", &m.device),
        ("fstype", &m.fs_type),
        ("mountpoint", &m.mount),
    ]
}

fn disks(e: &mut Exposition, d: &hostwatch_proto::sections::Disks) {
    type Get = fn(&hostwatch_proto::sections::Disk) -> f64;
    let families: [(&str, Kind, &str, Get); 11] = [
        (
            "node_disk_reads_completed_total",
            Kind::Counter,
            "The total number of reads completed successfully.",
            |d| d.reads_completed_total as f64,
        ),
        (
            "node_disk_reads_merged_total",
            Kind::Counter,
            "The total number of reads merged.",
            |d| d.reads_merged_total as f64,
        ),
        (
            "node_disk_read_bytes_total",
            Kind::Counter,
            "The total number of bytes read successfully.",
            |d| d.read_bytes_total as f64,
        ),
        (
            "node_disk_read_time_seconds_total",
            Kind::Counter,
            "The total number of seconds spent by all reads.",
            |d| d.read_time_seconds_total,
        ),
        (
            "node_disk_writes_completed_total",
            Kind::Counter,
            "The total number of writes completed successfully.",
            |d| d.writes_completed_total as f64,
        ),
        (
            "node_disk_writes_merged_total",
            Kind::Counter,
            "The number of writes merged.",
            |d| d.writes_merged_total as f64,
        ),
        (
            "node_disk_written_bytes_total",
            Kind::Counter,
            "The total number of bytes written successfully.",
            |d| d.written_bytes_total as f64,
        ),
        (
            "node_disk_write_time_seconds_total",
            Kind::Counter,
            "This is the total number of seconds spent by all writes.",
            |d| d.write_time_seconds_total,
        ),
        (
            "node_disk_io_now",
            Kind::Gauge,
            "The number of I/Os currently in progress.",
            |d| d.io_in_progress as f64,
        ),
        (
            "node_disk_io_time_seconds_total",
            Kind::Counter,
            "Total seconds spent doing I/Os.",
            |d| d.io_time_seconds_total,
        ),
        (
            "node_disk_io_time_weighted_seconds_total",
            Kind::Counter,
            "The weighted # of seconds spent doing I/Os.",
            |d| d.io_time_weighted_seconds_total,
        ),
    ];
    for (name, kind, help, get) in families {
        e.family(name, kind, help);
        for disk in &d.devices {
            e.sample(name, &[("device", &disk.name)], get(disk));
        }
    }
    if d.devices
        .iter()
        .any(|x| x.discards_completed_total.is_some())
    {
        e.family(
            "node_disk_discards_completed_total",
            Kind::Counter,
            "The total number of discards completed successfully.",
        );
        for disk in &d.devices {
            if let Some(v) = disk.discards_completed_total {
                e.sample(
                    "node_disk_discards_completed_total",
                    &[("device", &disk.name)],
                    v as f64,
                );
            }
        }
        e.family(
            "node_disk_discarded_sectors_total",
            Kind::Counter,
            "The total number of sectors discarded successfully.",
        );
        for disk in &d.devices {
            if let Some(v) = disk.discarded_bytes_total {
                // diskstats sectors are always 512 bytes.
                e.sample(
                    "node_disk_discarded_sectors_total",
                    &[("device", &disk.name)],
                    (v / 512) as f64,
                );
            }
        }
    }
}

fn network(e: &mut Exposition, n: &hostwatch_proto::sections::Network) {
    type Get = fn(&hostwatch_proto::sections::Interface) -> u64;
    let families: [(&str, &str, Get); 8] = [
        (
            "node_network_receive_bytes_total",
            "Network device statistic receive_bytes.",
            |i| i.rx_bytes_total,
        ),
        (
            "node_network_transmit_bytes_total",
            "Network device statistic transmit_bytes.",
            |i| i.tx_bytes_total,
        ),
        (
            "node_network_receive_packets_total",
            "Network device statistic receive_packets.",
            |i| i.rx_packets_total,
        ),
        (
            "node_network_transmit_packets_total",
            "Network device statistic transmit_packets.",
            |i| i.tx_packets_total,
        ),
        (
            "node_network_receive_errs_total",
            "Network device statistic receive_errs.",
            |i| i.rx_errors_total,
        ),
        (
            "node_network_transmit_errs_total",
            "Network device statistic transmit_errs.",
            |i| i.tx_errors_total,
        ),
        (
            "node_network_receive_drop_total",
            "Network device statistic receive_drop.",
            |i| i.rx_drops_total,
        ),
        (
            "node_network_transmit_drop_total",
            "Network device statistic transmit_drop.",
            |i| i.tx_drops_total,
        ),
    ];
    for (name, help, get) in families {
        e.family(name, Kind::Counter, help);
        for i in &n.interfaces {
            e.sample(name, &[("device", &i.name)], get(i) as f64);
        }
    }
}

fn thermal(e: &mut Exposition, t: &hostwatch_proto::sections::Thermal) {
    e.family(
        "node_hwmon_temp_celsius",
        Kind::Gauge,
        "Hardware monitor for temperature (input)",
    );
    for s in &t.sensors {
        e.sample(
            "node_hwmon_temp_celsius",
            &[("chip", &s.chip), ("sensor", &s.sensor)],
            s.celsius,
        );
    }
    e.family(
        "node_hwmon_temp_max_celsius",
        Kind::Gauge,
        "Hardware monitor for temperature (max)",
    );
    for s in &t.sensors {
        if let Some(v) = s.max_celsius {
            e.sample(
                "node_hwmon_temp_max_celsius",
                &[("chip", &s.chip), ("sensor", &s.sensor)],
                v,
            );
        }
    }
    e.family(
        "node_hwmon_temp_crit_celsius",
        Kind::Gauge,
        "Hardware monitor for temperature (crit)",
    );
    for s in &t.sensors {
        if let Some(v) = s.crit_celsius {
            e.sample(
                "node_hwmon_temp_crit_celsius",
                &[("chip", &s.chip), ("sensor", &s.sensor)],
                v,
            );
        }
    }
    e.family(
        "node_hwmon_sensor_label",
        Kind::Gauge,
        "Label for given chip and sensor",
    );
    for s in &t.sensors {
        if let Some(label) = &s.label {
            e.sample(
                "node_hwmon_sensor_label",
                &[("chip", &s.chip), ("label", label), ("sensor", &s.sensor)],
                1.0,
            );
        }
    }
    e.family(
        "node_hwmon_chip_names",
        Kind::Gauge,
        "Annotation metric for human-readable chip names",
    );
    let mut seen = std::collections::BTreeMap::new();
    for s in &t.sensors {
        seen.entry(s.chip.as_str()).or_insert(s.chip_name.as_str());
    }
    for (chip, name) in seen {
        e.sample(
            "node_hwmon_chip_names",
            &[("chip", chip), ("chip_name", name)],
            1.0,
        );
    }
    e.family(
        "node_thermal_zone_temp",
        Kind::Gauge,
        "Zone temperature in Celsius",
    );
    for z in &t.zones {
        let zone = z.zone.trim_start_matches("thermal_zone");
        e.sample(
            "node_thermal_zone_temp",
            &[("type", &z.kind), ("zone", zone)],
            z.celsius,
        );
    }
    if let Some(v) = t.cpu_max_celsius {
        e.single(
            "hostwatch_cpu_temp_celsius",
            Kind::Gauge,
            "The hottest CPU temperature sensor.",
            v,
        );
    }
}

fn processes(e: &mut Exposition, p: &hostwatch_proto::sections::Processes) {
    let st = &p.states;
    e.family(
        "hostwatch_processes_state",
        Kind::Gauge,
        "Processes per scheduler state.",
    );
    for (state, n) in [
        ("running", st.running),
        ("sleeping", st.sleeping),
        ("disk_sleep", st.disk_sleep),
        ("stopped", st.stopped),
        ("zombie", st.zombie),
        ("idle", st.idle),
        ("other", st.other),
    ] {
        e.sample("hostwatch_processes_state", &[("state", state)], n as f64);
    }
    e.single(
        "hostwatch_processes",
        Kind::Gauge,
        "Processes that exist.",
        p.total as f64,
    );
    e.single(
        "hostwatch_threads",
        Kind::Gauge,
        "Threads that exist.",
        p.threads as f64,
    );
    e.family(
        "hostwatch_top_process_cpu_pct",
        Kind::Gauge,
        "CPU of the top processes by CPU, percent of one core.",
    );
    for t in &p.top_cpu {
        if let Some(v) = t.cpu_pct {
            let pid = t.pid.to_string();
            e.sample(
                "hostwatch_top_process_cpu_pct",
                &[("pid", &pid), ("name", &t.name)],
                v,
            );
        }
    }
    e.family(
        "hostwatch_top_process_resident_bytes",
        Kind::Gauge,
        "Resident memory of the top processes by memory.",
    );
    for t in &p.top_memory {
        let pid = t.pid.to_string();
        e.sample(
            "hostwatch_top_process_resident_bytes",
            &[("pid", &pid), ("name", &t.name)],
            t.rss_bytes as f64,
        );
    }
}

fn system(e: &mut Exposition, s: &hostwatch_proto::sections::System) {
    e.single(
        "node_boot_time_seconds",
        Kind::Gauge,
        "Node boot time, in unixtime.",
        s.boot_time as f64 / 1000.0,
    );
    e.family(
        "node_uname_info",
        Kind::Gauge,
        "Labeled system information as provided by the uname system call.",
    )
    .sample(
        "node_uname_info",
        &[
            ("machine", &s.arch),
            ("nodename", &s.hostname),
            ("release", &s.kernel),
            ("sysname", "Linux"),
            ("version", &s.kernel_version),
        ],
        1.0,
    );
    if let Some(os) = &s.os {
        e.family("node_os_info", Kind::Gauge, "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.")
            .sample(
                "node_os_info",
                &[
                    ("id", &os.id),
                    ("pretty_name", &os.pretty_name),
                    ("version_id", os.version_id.as_deref().unwrap_or("")),
                ],
                1.0,
            );
    }
    e.single(
        "hostwatch_uptime_seconds",
        Kind::Gauge,
        "Seconds since boot.",
        s.uptime_seconds,
    );
    e.family(
        "hostwatch_virtualization_info",
        Kind::Gauge,
        "What the host runs on (none = bare metal); always 1.",
    )
    .sample(
        "hostwatch_virtualization_info",
        &[("kind", s.virtualization.as_deref().unwrap_or("none"))],
        1.0,
    );
}

/// Checks: the state as Nagios numbers it, and the performance data in base units with the unit
/// as a label (a plugin's data is not known ahead, so it cannot have a metric name of its own).
fn checks(e: &mut Exposition, c: &hostwatch_proto::sections::Checks) {
    use hostwatch_proto::sections::BaseUnit;
    e.family(
        "hostwatch_check_state",
        Kind::Gauge,
        "Latest state of a Nagios-compatible check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    );
    for check in &c.checks {
        e.sample(
            "hostwatch_check_state",
            &[("check", &check.name)],
            f64::from(check.state.code()),
        );
    }
    e.family(
        "hostwatch_check_duration_seconds",
        Kind::Gauge,
        "How long the check's latest run took.",
    );
    for check in &c.checks {
        e.sample(
            "hostwatch_check_duration_seconds",
            &[("check", &check.name)],
            check.duration_seconds,
        );
    }
    e.family(
        "hostwatch_check_perfdata",
        Kind::Gauge,
        "A check's performance data in base units (seconds, bytes); unit says which.",
    );
    for check in &c.checks {
        for p in &check.perfdata {
            let (value, unit) = p.base_value();
            let unit = match unit {
                BaseUnit::None => "",
                BaseUnit::Seconds => "seconds",
                BaseUnit::Percent => "percent",
                BaseUnit::Bytes => "bytes",
                BaseUnit::Counter => "counter",
            };
            e.sample(
                "hostwatch_check_perfdata",
                &[("check", &check.name), ("label", &p.label), ("unit", unit)],
                value,
            );
        }
    }
}

/// systemd: node_exporter's `node_systemd_unit_state` (one sample per state, 1 for the unit's
/// current one) and restart counter for the configured units, and the failed count.
fn systemd(e: &mut Exposition, d: &hostwatch_proto::sections::Systemd) {
    const STATES: [&str; 5] = ["activating", "active", "deactivating", "failed", "inactive"];
    e.single(
        "hostwatch_systemd_failed_units",
        Kind::Gauge,
        "Units of the whole system in the failed state.",
        f64::from(d.failed_units),
    );
    e.family("node_systemd_unit_state", Kind::Gauge, "Systemd unit");
    for unit in &d.units {
        let kind = unit.name.rsplit_once('.').map_or("", |(_, t)| t);
        for state in STATES {
            e.sample(
                "node_systemd_unit_state",
                &[("name", &unit.name), ("state", state), ("type", kind)],
                if unit.active_state == state { 1.0 } else { 0.0 },
            );
        }
    }
    e.family(
        "node_systemd_service_restart_total",
        Kind::Counter,
        "Service unit count of Restart triggers",
    );
    for unit in &d.units {
        if let Some(restarts) = unit.restarts {
            e.sample(
                "node_systemd_service_restart_total",
                &[("name", &unit.name)],
                f64::from(restarts),
            );
        }
    }
}
