//! The agent's main loop: tick, collect what is due, hand the report to every sink.

use crate::Agent;
use crate::config::AgentConfig;
use crate::dump::{self, Dump};
use crate::schedule::Schedule;
use crate::sink::hub::{DeliveryOptions, HubClient, HubError, HubSink};
use crate::sink::prometheus::{self, MetricsState};
use crate::sink::stdout;
use crate::spool::Spool;
use crate::state::{AgentState, StateDirCandidates, StateError, resolve_state_dir};
use hostwatch_proto::Report;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Command-line choices that are not part of the config file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Print each report as one JSON line on stdout.
    pub stdout: bool,
    /// How the hub sink paces itself (tests shorten the delays).
    pub delivery: DeliveryOptions,
    /// Where the default state directory is looked for (tests pass their own).
    pub state_dirs: Option<StateDirCandidates>,
}

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "no sink enabled: pass --stdout, set [hub] url (HOSTWATCH_HUB_URL) or set [prometheus] \
         listen (HOSTWATCH_PROMETHEUS_LISTEN)"
    )]
    NoSink,
    #[error(transparent)]
    State(#[from] StateError),
    #[error("spool {}: {source}", dir.display())]
    Spool {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Hub(#[from] HubError),
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
    if !options.stdout && config.prometheus.listen.is_none() && !config.hub.is_enabled() {
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
    let (hub, mut state) = if config.hub.is_enabled() {
        let (hub, state) = start_hub(&config, &options, &mut agent)?;
        (Some(hub), Some(state))
    } else {
        (None, None)
    };
    tracing::info!(
        host_id = agent.host_id(),
        instance_id = %agent.info().instance_id,
        collectors = ?agent.schedule(),
        "agent started"
    );
    let mut schedule = Schedule::new(&config.tiers);
    let mut ticker = tokio::time::interval(schedule.fast_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut interval_changes = hub.as_ref().map(HubSink::interval_changes);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                tracing::info!("agent stopping");
                if let Some(hub) = hub {
                    hub.shutdown().await;
                }
                return Ok(());
            }
            interval = next_interval(&mut interval_changes) => {
                if interval != schedule.fast_interval() {
                    tracing::info!(seconds = interval.as_secs(), "fast interval changed by the hub");
                    schedule.set_fast_interval(interval);
                    ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
                    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                }
                continue;
            }
            _ = ticker.tick() => {}
        }
        let tiers = schedule.due(Instant::now());
        // Collection reads files and may block briefly; keep it off the async workers. The
        // seq reservation (a file write once per block) rides along.
        let (returned_agent, returned_state, mut report) = tokio::task::spawn_blocking(move || {
            let report = agent.collect(&tiers);
            if let Some(state) = &mut state
                && let Err(e) = state.ensure_reserved(report.seq)
            {
                tracing::error!(error = %e, "cannot persist the seq reservation; after a restart the hub may take new reports for duplicates");
            }
            (agent, state, report)
        })
        .await
        .expect("collection never panics: collectors are isolated");
        agent = returned_agent;
        state = returned_state;
        if let Some(hub) = &hub {
            report.spool = Some(hub.spool_stats());
        }
        deliver(report, &options, &metrics, &dump, hub.as_ref())?;
    }
}

/// Opens the state directory (identity, seq, spool) and starts the hub sender.
fn start_hub(
    config: &AgentConfig,
    options: &RunOptions,
    agent: &mut Agent,
) -> Result<(HubSink, AgentState), RunError> {
    let client = HubClient::new(&config.hub)?;
    let candidates = options
        .state_dirs
        .clone()
        .unwrap_or_else(StateDirCandidates::from_process);
    let (dir, why) = resolve_state_dir(config.agent.state_dir.as_deref(), &candidates);
    tracing::info!(state_dir = %dir.display(), reason = why, "state directory");
    let state = AgentState::open(&dir)?;
    agent.resume(state.instance_id().to_string(), state.resume_after());
    let spool_dir = dir.join("spool");
    let spool = Spool::open(&spool_dir, &config.spool).map_err(|source| RunError::Spool {
        dir: spool_dir.clone(),
        source,
    })?;
    let stats = spool.stats();
    tracing::info!(
        hub = client.base_url(),
        resume_after_seq = state.resume_after(),
        spooled = stats.queued,
        "delivering to the hub"
    );
    let hub = HubSink::start(client, Arc::new(spool), options.delivery.clone());
    Ok((hub, state))
}

/// The next fast interval the hub asks for; never completes without a hub.
async fn next_interval(changes: &mut Option<watch::Receiver<Option<Duration>>>) -> Duration {
    if let Some(rx) = changes {
        while rx.changed().await.is_ok() {
            if let Some(interval) = *rx.borrow_and_update() {
                return interval;
            }
        }
    }
    std::future::pending().await
}

/// Hands one report to every sink; the dump sees it exactly as it leaves the agent.
fn deliver(
    report: Report,
    options: &RunOptions,
    metrics: &MetricsState,
    dump: &Dump,
    hub: Option<&HubSink>,
) -> Result<(), RunError> {
    if dump.is_enabled() {
        dump.sample(&dump::tiers_kind(&report.tiers), &report);
    }
    metrics.record(&report);
    if options.stdout {
        stdout::write_line(&mut std::io::stdout().lock(), &report).map_err(RunError::Stdout)?;
    }
    if let Some(hub) = hub {
        hub.offer(report);
    }
    Ok(())
}
