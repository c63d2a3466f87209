//! `hostwatch loadgen`: simulates a fleet of agents against a hub to measure sustained ingest.
//!
//! Each simulated host is enrolled through the admin API, gets its own agent instance id, its
//! own [`HubClient`] (the agent's real client: its own connection, zstd bodies, the agent's
//! timeouts) and its own schedule: every `--interval` seconds from a random phase, so the load
//! is smooth rather than a thundering herd. Reports are built from per-host templates mutated
//! in place ([`host`]), so the generator stays cheap next to the hub it measures.
//!
//! Unlike a real agent, a simulated host keeps the interval it was given rather than adopting
//! the hub's (the point is to offer a chosen load), and a tick whose previous POST is still
//! running is skipped and counted as late rather than queued — the achieved rate then shows
//! the shortfall.

mod enrol;
mod host;
mod stats;

use anyhow::{Context, bail};
use host::{FillDisk, SimHost};
use hostwatch_agent::config::HubConfig as AgentHubConfig;
use hostwatch_agent::sink::hub::{Endpoint, HubClient, SendError};
use hostwatch_proto::{Envelope, Report, Secret};
use stats::{Outcome, Tally, ms};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many agents to simulate.
    #[arg(long, default_value_t = 100)]
    pub hosts: u32,
    /// Seconds between two reports of one host (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    pub interval: f64,
    /// Seconds to send for, after enrolment.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// The hub's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8300")]
    pub url: String,
    /// An admin API token (`hostwatch tokens add NAME --role admin`), to enrol the hosts.
    #[arg(long, env = "HOSTWATCH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// Simulated hosts are named PREFIX0, PREFIX1, …
    #[arg(long, default_value = "loadgen-")]
    pub prefix: String,
    /// Seeds every host's numbers: the same seed gives the same fleet.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds between medium-tier sections (system, filesystems), as the agent's default
    /// 300 s; rounded to whole intervals.
    #[arg(long, default_value_t = 300.0)]
    pub medium_interval: f64,
    /// Make one host's filesystem fill at a set rate, in percentage points of used_pct per
    /// minute, optionally from a start value: `loadgen-3:/:2.5:85`. Mounts of every host: `/`,
    /// `/rpool/data`. Repeatable. Pair with a short --medium-interval so it is reported often.
    #[arg(long = "fill-disk", value_name = "HOST:MOUNT:PCT_PER_MIN[:START_PCT]")]
    pub fill_disk: Vec<FillDisk>,
    /// Per-request timeout in seconds, connecting included (the agent's default).
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Print the final summary as one JSON object on stdout (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The checked plan of a run.
#[derive(Debug)]
struct Plan {
    args: Args,
    names: Vec<String>,
    interval: Duration,
    duration: Duration,
    medium_every: u64,
}

impl Plan {
    fn check(args: Args) -> anyhow::Result<Plan> {
        if !(1..=100_000).contains(&args.hosts) {
            bail!("--hosts: between 1 and 100000, got {}", args.hosts);
        }
        if !(0.05..=3600.0).contains(&args.interval) {
            bail!("--interval: between 0.05 and 3600 s, got {}", args.interval);
        }
        if !(0.1..=86_400.0).contains(&args.duration) {
            bail!("--duration: between 0.1 and 86400 s, got {}", args.duration);
        }
        if !(args.medium_interval > 0.0 && args.medium_interval <= 86_400.0) {
            bail!(
                "--medium-interval: between 0 and 86400 s, got {}",
                args.medium_interval
            );
        }
        if !(1..=600).contains(&args.timeout) {
            bail!("--timeout: between 1 and 600 s, got {}", args.timeout);
        }
        let names: Vec<String> = (0..args.hosts)
            .map(|i| format!("{}{i}", args.prefix))
            .collect();
        if let Some(bad) = names.iter().find(|n| !hostwatch_hub::enrol::valid_name(n)) {
            bail!("--prefix: `{bad}` is not a valid host name (letters, digits, '-', '_', '.')");
        }
        for f in &args.fill_disk {
            if !names.contains(&f.host) {
                bail!(
                    "--fill-disk: `{}` is not one of the simulated hosts ({}0 … {}{})",
                    f.host,
                    args.prefix,
                    args.prefix,
                    args.hosts - 1
                );
            }
        }
        let medium_every = (args.medium_interval / args.interval).round().max(1.0) as u64;
        Ok(Plan {
            interval: Duration::from_secs_f64(args.interval),
            duration: Duration::from_secs_f64(args.duration),
            medium_every,
            names,
            args,
        })
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let plan = Plan::check(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(drive(plan))
}

/// A progress line: on stdout, or stderr when stdout carries the JSON summary.
fn progress(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        out!("{line}");
    }
}

/// What a failed send means for the tally: the HTTP status the hub answered, or no answer.
fn outcome(result: Result<Option<Envelope>, SendError>) -> Outcome {
    let e = match result {
        Ok(_) => return Outcome::Stored,
        Err(e) => e,
    };
    match e {
        SendError::Invalid(_) => Outcome::Status(400),
        SendError::Unauthorized => Outcome::Status(401),
        SendError::Forbidden(_) => Outcome::Status(403),
        SendError::TooLarge => Outcome::Status(413),
        SendError::RateLimited { .. } => Outcome::Status(429),
        // The client folds 5xx and unexpected statuses into "unavailable", naming the status.
        SendError::Unavailable(message) => {
            let status = ["answered ", "unexpected answer "].iter().find_map(|p| {
                message
                    .strip_prefix(p)?
                    .split_whitespace()
                    .next()?
                    .parse::<u16>()
                    .ok()
            });
            match status {
                Some(s) => Outcome::Status(s),
                None => Outcome::Transport(message),
            }
        }
    }
}

/// CPU time this process has used so far (all threads).
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

async fn drive(plan: Plan) -> anyhow::Result<()> {
    let args = &plan.args;
    let json = args.json;
    let template = Report::from_json(host::TEMPLATE.as_bytes())
        .map_err(|e| anyhow::anyhow!("the built-in template report: {e}"))?;

    let began = std::time::Instant::now();
    let admin = enrol::Admin::new(&args.url, Secret::new(args.admin_token.clone()))?;
    let tokens = admin.enrol_all(&plan.names).await?;
    let enrol_seconds = began.elapsed().as_secs_f64();

    let began = std::time::Instant::now();
    let mut hosts = Vec::with_capacity(plan.names.len());
    for (i, (name, token)) in plan.names.iter().zip(tokens).enumerate() {
        let config = AgentHubConfig {
            url: Some(args.url.clone()),
            token,
            ca_file: None,
            timeout_seconds: args.timeout,
        };
        let client = HubClient::new(&config).with_context(|| format!("the client of {name}"))?;
        let sim = SimHost::new(
            &template,
            name,
            i as u64,
            args.seed,
            plan.medium_every,
            &args.fill_disk,
        )
        .map_err(anyhow::Error::msg)?;
        hosts.push((sim, client));
    }
    let setup_seconds = began.elapsed().as_secs_f64();
    progress(
        json,
        &format!(
            "enrolled {} hosts in {enrol_seconds:.1} s, built their clients in {setup_seconds:.1} s; \
             sending every {} s for {} s (target {:.1} reports/s)",
            plan.names.len(),
            args.interval,
            args.duration,
            f64::from(args.hosts) / args.interval
        ),
    );

    let window = Arc::new(Mutex::new(Tally::default()));
    let cpu_before = process_cpu();
    let start = Instant::now();
    let deadline = start + plan.duration;
    let mut phases = fastrand::Rng::with_seed(args.seed);
    let mut tasks = tokio::task::JoinSet::new();
    for (mut sim, client) in hosts {
        let window = window.clone();
        let interval = plan.interval;
        let mut next = start + interval.mul_f64(phases.f64());
        tasks.spawn(async move {
            let mut body = Vec::with_capacity(16 * 1024);
            while next < deadline {
                tokio::time::sleep_until(next).await;
                let built = std::time::Instant::now();
                let samples = sim.next_report(jiff::Timestamp::now().as_millisecond(), &mut body);
                let build = built.elapsed();
                let sent = Instant::now();
                let result = outcome(client.send(Endpoint::Reports, &body).await);
                let latency = sent.elapsed();
                next += interval;
                let now = Instant::now();
                let mut late = 0;
                while next < now {
                    next += interval;
                    late += 1;
                }
                let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
                w.record(result, latency, samples);
                w.build += build;
                w.json_bytes += body.len() as u64;
                w.late_ticks += late;
            }
            // Dropped after the summary: freeing thousands of clients (each with its own
            // connection pool and TLS roots) while others still send would slow the run's end.
            client
        });
    }

    // Progress every 10 s while the hosts run; then wait for the last POSTs.
    let mut total = Tally::default();
    let mut last = start;
    let mut ticker = tokio::time::interval_at(start + PROGRESS_EVERY, PROGRESS_EVERY);
    let grace = Duration::from_secs(args.timeout + 2);
    let mut clients = Vec::with_capacity(plan.names.len());
    let finished = loop {
        tokio::select! {
            done = tasks.join_next() => {
                match done {
                    None => break true,
                    Some(r) => clients.push(r.context("a simulated host failed")?),
                }
            }
            at = ticker.tick() => {
                if at >= deadline + grace {
                    tasks.abort_all();
                    break false;
                }
                let w = std::mem::take(&mut *window.lock().unwrap_or_else(|e| e.into_inner()));
                let now = Instant::now();
                progress(json, &w.line(now - start, (now - last).as_secs_f64()));
                last = now;
                total.merge(&w);
            }
        }
    };
    let elapsed = Instant::now() - start;
    let cpu = process_cpu().saturating_sub(cpu_before);
    total.merge(&std::mem::take(
        &mut *window.lock().unwrap_or_else(|e| e.into_inner()),
    ));
    if !finished {
        progress(
            json,
            "some POSTs had not finished when the grace period ended",
        );
    }
    summary(&plan, &total, cpu, elapsed, enrol_seconds);
    drop(clients);
    Ok(())
}

/// The end-of-run figures. Rates are over `--duration` (reports started after it are none;
/// the POSTs still running at its end are waited for and counted).
fn summary(plan: &Plan, t: &Tally, cpu: Duration, elapsed: Duration, enrol_seconds: f64) {
    let args = &plan.args;
    let seconds = plan.duration.as_secs_f64();
    let sent = t.latency.count().max(1) as f64;
    let cpu_us_per_report = cpu.as_secs_f64() * 1e6 / sent;
    let build_us_per_report = t.build.as_secs_f64() * 1e6 / sent;
    let json_bytes_per_report = t.json_bytes as f64 / sent;
    let cpu_pct = cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0;
    let l = &t.latency;
    let q = |x: f64| (l.quantile(x).as_secs_f64() * 1e5).round() / 100.0;
    if args.json {
        let statuses: serde_json::Map<String, serde_json::Value> = t
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), (*n).into()))
            .collect();
        let summary = serde_json::json!({
            "hosts": args.hosts,
            "interval_seconds": args.interval,
            "duration_seconds": seconds,
            "target_reports_per_sec": f64::from(args.hosts) / args.interval,
            "reports": t.stored,
            "reports_per_sec": t.stored as f64 / seconds,
            "samples": t.samples,
            "samples_per_sec": t.samples as f64 / seconds,
            "latency_ms": { "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1.0) },
            "non_200": statuses,
            "transport_errors": t.transport_errors,
            "transport_error_example": t.transport_example,
            "late_ticks": t.late_ticks,
            "json_bytes_per_report": json_bytes_per_report,
            "enrol_seconds": enrol_seconds,
            "generator": {
                "cpu_seconds": cpu.as_secs_f64(),
                "cpu_pct_of_one_core": cpu_pct,
                "cpu_us_per_report": cpu_us_per_report,
                "build_us_per_report": build_us_per_report,
            },
        });
        out!("{summary}");
        return;
    }
    out!(
        "loadgen summary: {} hosts every {} s for {} s (target {:.1} reports/s)",
        args.hosts,
        args.interval,
        args.duration,
        f64::from(args.hosts) / args.interval
    );
    out!(
        "  reports stored:    {} ({:.1}/s)",
        t.stored,
        t.stored as f64 / seconds
    );
    out!(
        "  samples:           {} ({:.0}/s)",
        t.samples,
        t.samples as f64 / seconds
    );
    out!(
        "  latency:           p50 {}, p90 {}, p99 {}, max {}",
        ms(l.quantile(0.5)),
        ms(l.quantile(0.9)),
        ms(l.quantile(0.99)),
        ms(l.max())
    );
    out!("  non-200 answers:   {}", t.statuses_text());
    match &t.transport_example {
        Some(e) => out!("  transport errors:  {} (first: {e})", t.transport_errors),
        None => out!("  transport errors:  0"),
    }
    out!("  late ticks:        {}", t.late_ticks);
    out!(
        "  report size:       {json_bytes_per_report:.0} bytes of JSON on average (zstd on the wire)"
    );
    out!(
        "  generator CPU:     {:.2} s ({cpu_pct:.1} % of one core): {cpu_us_per_report:.0} µs per report, \
         {build_us_per_report:.0} µs of it building the report",
        cpu.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_become_statuses_or_transport_errors() {
        let u = |m: &str| outcome(Err(SendError::Unavailable(m.into())));
        assert_eq!(u("answered 503 Service Unavailable"), Outcome::Status(503));
        assert_eq!(u("unexpected answer 404 Not Found"), Outcome::Status(404));
        assert_eq!(
            u("error sending request: connection refused"),
            Outcome::Transport("error sending request: connection refused".into())
        );
        assert_eq!(
            outcome(Err(SendError::RateLimited { retry_after: None })),
            Outcome::Status(429)
        );
        assert_eq!(outcome(Ok(None)), Outcome::Stored);
    }
}
