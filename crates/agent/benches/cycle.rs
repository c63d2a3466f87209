//! What one collection cycle costs, in-process (docs/performance.md has the figures and
//! `scripts/footprint.sh` the whole-process comparison with node_exporter).
//!
//! Groups:
//! - `fast_cycle/fixture`: every fast-tier collector over the recorded tree in
//!   `tests/fixtures/bench-host` (parsing and report assembly without the live kernel's cost);
//! - `fast_cycle/live`: the same over this machine's `/proc` and `/sys`;
//! - `collector/<name>`: each of those collectors alone, live, to see what dominates;
//! - `processes/live`: the processes collector alone, live — the expensive one, kept apart;
//! - `bare_read/fast_files`: only reading the files the fast cycle reads (and `statvfs` of the
//!   mounts it reports) into a reused buffer, no parsing — the floor the cycle is judged
//!   against; `bare_read/kept_open`: the agent's own way of reading them (kept open, `pread`,
//!   the mount table only polled), no parsing — the floor under the agent's reads;
//!   `bare_read/proc_pid_stat`: the same floor for the processes collector.
//!
//! The measured "fast cycle" is what the agent runs every fast tick with the processes
//! collector off, plus `filesystems` moved to the fast tier, because node_exporter — the
//! comparison — stats every filesystem on every scrape. A cycle is `Agent::collect` and
//! handing the report to the Prometheus sink, as `hostwatch agent` does on each tick. Every
//! collector registered in `collect::build` takes part, so the benchmark follows the registry.

#[path = "common/bare_read.rs"]
mod bare_read;

use bare_read::{BareProcStat, BareRead, KeptRead, fast_config};
use criterion::{Criterion, criterion_group, criterion_main};
use hostwatch_agent::collect::Scheduled;
use hostwatch_agent::collect::processes::ProcessesCollector;
use hostwatch_agent::config::AgentConfig;
use hostwatch_agent::sink::prometheus::MetricsState;
use hostwatch_agent::{Agent, HostPaths};
use hostwatch_proto::Tier;
use std::hint::black_box;
use std::time::Duration;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bench-host");

/// The collectors that run on a fast tick under `fast_config`.
fn fast_collectors(paths: &HostPaths) -> Vec<Scheduled> {
    bare_read::fast_collectors(&fast_config(), paths)
}

/// An agent that has already run once, so every collector holds its previous read (steady
/// state: rates computed, layouts discovered).
fn primed_agent(paths: &HostPaths) -> (Agent, MetricsState) {
    let mut agent = Agent::with_collectors("bench".into(), None, fast_collectors(paths));
    let metrics = MetricsState::default();
    metrics.record(agent.collect(&[Tier::Fast]));
    (agent, metrics)
}

/// One tick as `hostwatch agent` runs it: collect, then fold into the `/metrics` state.
fn cycle(agent: &mut Agent, metrics: &MetricsState) {
    let report = agent.collect(&[Tier::Fast]);
    metrics.record(black_box(report));
}

fn fast_cycle(c: &mut Criterion) {
    let fixture = HostPaths::under(FIXTURE);
    let live = HostPaths::default();
    let names: Vec<_> = fast_collectors(&live)
        .iter()
        .map(|s| s.collector.name())
        .collect();
    eprintln!("fast cycle collectors: {}", names.join(", "));

    let mut group = c.benchmark_group("fast_cycle");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (id, paths) in [("fixture", &fixture), ("live", &live)] {
        let (mut agent, metrics) = primed_agent(paths);
        let report = agent.collect(&[Tier::Fast]);
        assert!(
            report.sections.errors().is_empty(),
            "{id}: a collector failed: {:?}",
            report.sections.errors()
        );
        let present = report.sections.present();
        eprintln!("fast cycle over {id}: sections {}", present.join(", "));
        // The recorded tree has a disk, interfaces and a root filesystem: a cycle over it that
        // produced none of them would measure nothing.
        for section in ["disks", "network", "filesystems"] {
            assert!(present.contains(&section), "{id}: no {section} section");
        }
        group.bench_function(id, |b| b.iter(|| cycle(&mut agent, &metrics)));
    }
    group.finish();
}

fn per_collector(c: &mut Criterion) {
    let mut group = c.benchmark_group("collector");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for mut scheduled in fast_collectors(&HostPaths::default()) {
        let collector = &mut scheduled.collector;
        let name = collector.name();
        if let Err(e) = collector.collect() {
            panic!("{name}: {e}");
        }
        group.bench_function(name, |b| b.iter(|| collector.collect()));
    }
    group.finish();
}

fn processes(c: &mut Criterion) {
    let config = AgentConfig::default();
    let mut collector = ProcessesCollector::new(HostPaths::default(), &config.processes);
    let first = collector.collect_at(std::time::Instant::now()).unwrap();
    assert!(first.total > 0, "no process found in /proc");

    let mut group = c.benchmark_group("processes");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("live", |b| {
        b.iter(|| collector.collect_at(std::time::Instant::now()))
    });
    group.finish();
}

fn bare_read(c: &mut Criterion) {
    let live = HostPaths::default();
    let mut fast = BareRead::for_collectors(&fast_config(), &live, &fast_collectors(&live));
    fast.run().unwrap();
    eprintln!(
        "bare read: {} files, {} directory listings, {} statvfs",
        fast.files.len(),
        fast.dirs.len(),
        fast.mounts.len()
    );
    let mut kept = KeptRead::for_collectors(&fast_config(), &live, &fast_collectors(&live));
    assert!(kept.run().unwrap() > 0, "the kept read read nothing");
    let mut procs = BareProcStat::new(&live);
    assert!(procs.run() > 0, "no /proc/PID/stat read");

    let mut group = c.benchmark_group("bare_read");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("fast_files", |b| b.iter(|| fast.run()));
    group.bench_function("kept_open", |b| b.iter(|| kept.run()));
    group.bench_function("proc_pid_stat", |b| b.iter(|| procs.run()));
    group.finish();
}

criterion_group!(benches, fast_cycle, per_collector, processes, bare_read);
criterion_main!(benches);
