//! A stand-in for the agent's loop, for `scripts/footprint.sh`: one thread that wakes once per
//! fast tick of the configuration (`[tiers] fast`, as `hostwatch agent` does), and does one
//! thing per tick:
//!
//! - `idle`: nothing — what merely waking up once a second costs on this machine;
//! - `bare`: the bare read of the fast collectors' files (see `benches/common/bare_read.rs`)
//!   — the floor the agent's cycle is held to, measured under the same conditions (caches
//!   gone cold during the second asleep) instead of in a hot loop;
//! - `kept`: the agent's own reads of those files (kept open, `pread` from the start, the
//!   mount table only polled; see `KeptRead`) without parsing — the floor under the agent's
//!   way of reading, so the agent's cost above it is its user code;
//! - `cycle`: one agent cycle (`Agent::collect` of the fast tier and the Prometheus sink's
//!   `record`) on this thread — the agent's work without its runtime and thread hand-off.
//!
//! The configuration is loaded as `hostwatch agent` loads it (`HOSTWATCH_*` variables
//! included), so the probe reads what the agent under measurement reads. Ticks fall on whole
//! periods after start, so a window between two half-periods holds an exact number of them.
//! Runs until killed.

#[path = "../benches/common/bare_read.rs"]
#[allow(dead_code)] // the benchmark uses the rest
mod bare_read;

use bare_read::{BareRead, KeptRead, fast_collectors};
use hostwatch_agent::config::AgentConfig;
use hostwatch_agent::config_file::Sources;
use hostwatch_agent::sink::prometheus::MetricsState;
use hostwatch_agent::{Agent, HostPaths};
use hostwatch_proto::Tier;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let config = match AgentConfig::load(&Sources::from_process(None)) {
        Ok((config, _)) => config,
        Err(e) => {
            eprintln!("footprint_probe: {}: {}", e.source_name, e.problem);
            std::process::exit(2);
        }
    };
    let paths = HostPaths {
        proc: config.agent.proc_root.clone(),
        sys: config.agent.sys_root.clone(),
        root: config.agent.root_dir.clone(),
    };
    let mut tick: Box<dyn FnMut()> = match mode.as_str() {
        "idle" => Box::new(|| {}),
        "bare" => {
            let mut bare =
                BareRead::for_collectors(&config, &paths, &fast_collectors(&config, &paths));
            Box::new(move || {
                black_box(bare.run().ok());
            })
        }
        "kept" => {
            let mut kept =
                KeptRead::for_collectors(&config, &paths, &fast_collectors(&config, &paths));
            Box::new(move || {
                black_box(kept.run().ok());
            })
        }
        "cycle" => {
            let mut agent =
                Agent::with_collectors("probe".into(), None, fast_collectors(&config, &paths));
            let metrics = MetricsState::default();
            Box::new(move || metrics.record(black_box(agent.collect(&[Tier::Fast]))))
        }
        _ => {
            eprintln!("usage: footprint_probe idle|bare|kept|cycle");
            std::process::exit(2);
        }
    };
    let period = Duration::from_secs(config.tiers.fast);
    let start = Instant::now();
    for k in 0u32.. {
        let due = start + period * k;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        tick();
    }
}
