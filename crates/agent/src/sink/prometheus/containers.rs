//! Docker / Podman containers. cAdvisor's names only where our figure is the same thing:
//! `container_memory_working_set_bytes` is usage minus the inactive page cache, which is what
//! `docker stats` and the agent count; `container_spec_memory_limit_bytes` and
//! `container_start_time_seconds` are the same facts. cAdvisor's block and network counters are
//! per device / per interface while ours are summed, so those are `hostwatch_container_*`, as is
//! CPU (a share over the last interval, not cAdvisor's seconds counter). Per-second rates are
//! left out: Prometheus computes them from the counters.

use super::rows::{Labels, Rows, flag, info, unix_seconds};
use crate::sink::exposition::{Exposition, Kind};
use hostwatch_proto::sections::{Container, Containers, WatchdogResult};
use std::collections::BTreeMap;

/// Docker's container states.
const STATES: [&str; 7] = [
    "created",
    "running",
    "paused",
    "restarting",
    "removing",
    "exited",
    "dead",
];

/// Docker's health check states.
const HEALTH: [&str; 3] = ["starting", "healthy", "unhealthy"];

pub(super) fn render(e: &mut Exposition, c: &Containers) {
    e.single(
        "hostwatch_containers_running",
        Kind::Gauge,
        "Containers whose state is running.",
        f64::from(c.running),
    );
    e.single(
        "hostwatch_containers_unhealthy",
        Kind::Gauge,
        "Running containers whose health check says unhealthy.",
        f64::from(c.unhealthy),
    );
    info(
        e,
        "hostwatch_container_info",
        "A container's id, image and restart policy; always 1.",
        &c.containers,
        |c| {
            vec![
                ("name", c.name.clone()),
                ("id", c.id.clone()),
                ("image", c.image.clone()),
                (
                    "restart_policy",
                    c.restart_policy.clone().unwrap_or_default(),
                ),
            ]
        },
    );
    let rows = Rows::new(&c.containers, |c| vec![("name", c.name.clone())]);
    // cAdvisor's families carry `image` too: its dashboards select `image!=""` to skip cgroups
    // that are not containers.
    let cadvisor = Rows::new(&c.containers, cadvisor_labels);
    rows.state_set(
        e,
        "hostwatch_container_state",
        "Container state: 1 for the current one, 0 for the others.",
        &STATES,
        |c| Some(c.state.as_str()),
    );
    rows.state_set(
        e,
        "hostwatch_container_health_state",
        "Health check state of containers that have one: 1 for the current one, 0 for the others.",
        &HEALTH,
        |c| c.health.as_ref().map(|h| h.status.as_str()),
    );
    rows.family(
        e,
        "hostwatch_container_health_failing_streak",
        Kind::Gauge,
        "Consecutive failed health checks (0 when the last one passed).",
        |c| c.health.as_ref().map(|h| f64::from(h.failing_streak)),
    );
    rows.family(
        e,
        "hostwatch_container_restarts_total",
        Kind::Counter,
        "Restarts of the container by the daemon's restart policy.",
        |c| c.restart_count.map(f64::from),
    );
    rows.family(
        e,
        "hostwatch_container_exit_code",
        Kind::Gauge,
        "The main process's exit code, for containers that are not running.",
        |c| c.exit_code.map(|v| v as f64),
    );
    rows.family(
        e,
        "hostwatch_container_memory_unlimited",
        Kind::Gauge,
        "1 when the container may use all of the host's memory (no limit set).",
        |c| c.mem_unlimited.map(flag),
    );
    cadvisor.family(
        e,
        "container_start_time_seconds",
        Kind::Gauge,
        "Start time of the running container since unix epoch in seconds.",
        |c| {
            c.started_at
                .filter(|_| c.state == "running")
                .map(unix_seconds)
        },
    );
    cadvisor.family(
        e,
        "container_memory_working_set_bytes",
        Kind::Gauge,
        "Current working set in bytes: usage without the inactive page cache.",
        |c| c.mem_used_bytes.map(|v| v as f64),
    );
    cadvisor.family(
        e,
        "container_spec_memory_limit_bytes",
        Kind::Gauge,
        "Memory limit for the container, for containers that have one.",
        |c| c.mem_limit_bytes.map(|v| v as f64),
    );
    rows.family(
        e,
        "hostwatch_container_cpu_pct",
        Kind::Gauge,
        "CPU over the agent's last interval, percent of one core (200 = two cores busy).",
        |c| c.cpu_pct,
    );
    type Get = fn(&Container) -> Option<u64>;
    let counters: [(&str, &str, Get); 4] = [
        (
            "hostwatch_container_block_read_bytes_total",
            "Bytes read from block devices since the container started, all devices.",
            |c| c.block_read_bytes_total,
        ),
        (
            "hostwatch_container_block_written_bytes_total",
            "Bytes written to block devices since the container started, all devices.",
            |c| c.block_write_bytes_total,
        ),
        (
            "hostwatch_container_network_receive_bytes_total",
            "Bytes received since the container started, all its interfaces.",
            |c| c.net_rx_bytes_total,
        ),
        (
            "hostwatch_container_network_transmit_bytes_total",
            "Bytes transmitted since the container started, all its interfaces.",
            |c| c.net_tx_bytes_total,
        ),
    ];
    for (name, help, get) in counters {
        rows.family(e, name, Kind::Counter, help, |c| get(c).map(|v| v as f64));
    }
}

fn cadvisor_labels(c: &Container) -> Labels {
    vec![("image", c.image.clone()), ("name", c.name.clone())]
}

/// Adds a report's watchdog actions to the counts since start. Both results start at 0 once a
/// container daemon has answered, so `increase()` sees the first restart.
pub(super) fn count_watchdog(counts: &mut BTreeMap<&'static str, u64>, c: &Containers) {
    for result in ["restarted", "failed"] {
        counts.entry(result).or_insert(0);
    }
    for action in &c.watchdog_actions {
        let result = match action.result {
            WatchdogResult::Restarted => "restarted",
            WatchdogResult::Failed => "failed",
            WatchdogResult::Other => "other",
        };
        *counts.entry(result).or_insert(0) += 1;
    }
}

/// The watchdog's restarts since start; nothing on a host without a container daemon.
pub(super) fn watchdog(e: &mut Exposition, counts: &BTreeMap<&'static str, u64>) {
    if counts.is_empty() {
        return;
    }
    let name = "hostwatch_container_watchdog_restarts_total";
    e.family(
        name,
        Kind::Counter,
        "Restarts of unhealthy containers the health watchdog did (restarted) or tried (failed) since the agent started.",
    );
    for (result, n) in counts {
        e.sample(name, &[("result", result)], *n as f64);
    }
}
