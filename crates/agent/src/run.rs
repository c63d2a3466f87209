//! The agent's main loop: tick, collect what is due, hand the report to every sink.

use crate::Agent;
use crate::config::AgentConfig;
use crate::dump::{self, Dump};
use crate::schedule::Schedule;
use crate::sink::prometheus::{self, MetricsState};
use crate::sink::stdout;
use hostwatch_proto::Report;
use std::future::Future;
use std::time::Instant;

/// Command-line choices that are not part of the config file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Print each report as one JSON line on stdout.
    pub stdout: bool,
}

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "no sink enabled: pass --stdout or set [prometheus] listen (HOSTWATCH_PROMETHEUS_LISTEN)"
    )]
    NoSink,
    #[error("cannot serve Prometheus metrics on {listen}: {source}")]
    Listen {
        listen: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("writing to stdout: {0}")]
    Stdout(std::io::Error),
}

/// Runs until `shutdown` completes.
pub async fn run(
    config: AgentConfig,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    if !options.stdout && config.prometheus.listen.is_none() {
        return Err(RunError::NoSink);
    }
    let metrics = MetricsState::default();
    if let Some(listen) = config.prometheus.listen {
        // Bind now, so a taken port is a start-up error rather than a silent background failure.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| RunError::Listen { listen, source })?;
        tracing::info!(%listen, "serving Prometheus metrics on /metrics");
        let router = prometheus::router(metrics.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "Prometheus endpoint stopped");
            }
        });
    }

    let dump = Dump::from_config(&config.debug);
    let mut agent = Agent::new(&config);
    tracing::info!(
        host_id = agent.host_id(),
        instance_id = %agent.info().instance_id,
        collectors = ?agent.schedule(),
        "agent started"
    );
    let mut schedule = Schedule::new(&config.tiers);
    let mut ticker = tokio::time::interval(schedule.fast_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                tracing::info!("agent stopping");
                return Ok(());
            }
            _ = ticker.tick() => {}
        }
        let tiers = schedule.due(Instant::now());
        // Collection reads files and may block briefly; keep it off the async workers.
        let (returned, report) = tokio::task::spawn_blocking(move || {
            let report = agent.collect(&tiers);
            (agent, report)
        })
        .await
        .expect("collection never panics: collectors are isolated");
        agent = returned;
        deliver(&report, &options, &metrics, &dump)?;
    }
}

/// Hands one report to every sink; the dump sees it exactly as it leaves the agent.
fn deliver(
    report: &Report,
    options: &RunOptions,
    metrics: &MetricsState,
    dump: &Dump,
) -> Result<(), RunError> {
    if dump.is_enabled() {
        dump.sample(&dump::tiers_kind(&report.tiers), report);
    }
    metrics.record(report);
    if options.stdout {
        stdout::write_line(&mut std::io::stdout().lock(), report).map_err(RunError::Stdout)?;
    }
    Ok(())
}
