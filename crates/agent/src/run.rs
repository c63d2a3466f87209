//! The agent's main loop: tick, collect what is due, hand the report to every sink.

use crate::Agent;
use crate::commands::Commands;
use crate::config::AgentConfig;
use crate::dump::{self, Dump};
use crate::runner::Runner;
use crate::schedule::Schedule;
use crate::sink::hub::{DeliveryOptions, HubClient, HubError, HubSink};
use crate::sink::mqtt::{MqttError, MqttSink};
use crate::sink::prometheus::{self, MetricsState};
use crate::sink::stdout;
use crate::spool::Spool;
use crate::state::{AgentState, StateDirCandidates, StateError, resolve_state_dir};
use hostwatch_proto::Report;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
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
    /// Once every tier has run, hand the executable's pages back to the kernel
    /// ([`crate::page_out`]): set for a standalone agent, whose resident memory is mostly code.
    pub page_out_after_start: bool,
}

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "no sink enabled: pass --stdout, set [hub] url (HOSTWATCH_HUB_URL), [prometheus] \
         listen (HOSTWATCH_PROMETHEUS_LISTEN) or [mqtt] url (HOSTWATCH_MQTT_URL)"
    )]
    NoSink,
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    #[error(
        "cannot reach the MQTT broker {broker} within {seconds} s ({reason}); MQTT is the only \
         sink, so the agent stops (check [mqtt] url, the broker and the network)"
    )]
    MqttUnreachable {
        broker: String,
        seconds: u64,
        reason: String,
    },
    #[error("remote commands: {0}")]
    Commands(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("spool {}: {source}", dir.display())]
    Spool {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("starting the collection thread: {0}")]
    Thread(std::io::Error),
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
    if !options.stdout
        && config.prometheus.listen.is_none()
        && !config.hub.is_enabled()
        && !config.mqtt.is_enabled()
    {
        return Err(RunError::NoSink);
    }
    // The latest state for `/metrics`, kept only when something serves it.
    let mut metrics = None;
    if let Some(listen) = config.prometheus.listen {
        // Bind now, so a taken port is a start-up error rather than a silent background failure.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| RunError::Listen { listen, source })?;
        tracing::info!(%listen, "serving Prometheus metrics on /metrics");
        let state = MetricsState::default();
        let router = prometheus::router(state.clone());
        metrics = Some(state);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "Prometheus endpoint stopped");
            }
        });
    }

    let dump = Dump::from_config(&config.debug);
    let mut agent = Agent::with_runner(&config, &crate::runner::Runner::new(dump.clone()));
    // One whitelist (and one replay memory) for both ways a request can arrive.
    let commands = if config.hub.is_enabled() || (config.mqtt.is_enabled() && config.mqtt.commands)
    {
        Some(remote_commands(&config, &options, agent.host_id(), &dump)?)
    } else {
        None
    };
    let (hub, state) = if config.hub.is_enabled() {
        let (hub, state) = start_hub(&config, &options, &mut agent, commands.clone())?;
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
    let mqtt = if config.mqtt.is_enabled() {
        let only_sink =
            !options.stdout && config.prometheus.listen.is_none() && !config.hub.is_enabled();
        let commands = commands.filter(|_| config.mqtt.commands);
        Some(Arc::new(
            start_mqtt(&config, agent.host_id(), commands, only_sink).await?,
        ))
    } else {
        None
    };
    let schedule = Schedule::new(&config.tiers);
    let interval_changes = hub.as_ref().map(HubSink::interval_changes);
    let stop = Arc::new(Stop::default());
    // However this function ends (shutdown, an error, its future dropped), the thread stops.
    let _stop_on_return = StopOnDrop(stop.clone());
    let thread_stop = stop.clone();
    let (done_tx, mut done) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Handle::current();
    let collector = Collection {
        agent,
        state,
        schedule,
        interval_changes,
        options,
        metrics,
        dump,
        hub,
        mqtt: mqtt.clone(),
    };
    std::thread::Builder::new()
        .name("hostwatch-collect".into())
        .spawn(move || {
            // Delivery may hand work to the runtime (spooling on a blocking thread).
            let _runtime = runtime.enter();
            let _ = done_tx.send(collector.run(thread_stop));
        })
        .map_err(RunError::Thread)?;

    tokio::pin!(shutdown);
    let (result, hub) = tokio::select! {
        _ = &mut shutdown => {
            tracing::info!("agent stopping");
            stop.stop();
            done.await.unwrap_or((Ok(()), None))
        }
        ended = &mut done => ended.unwrap_or((Ok(()), None)),
    };
    if let Some(hub) = hub {
        hub.shutdown().await;
    }
    if let Some(mqtt) = mqtt {
        mqtt.shutdown().await;
    }
    result
}

/// The collection loop's state. It runs on a thread of its own that sleeps until each tick:
/// collecting is synchronous file reading, and keeping it off the async runtime means a quiet
/// agent wakes once per tick instead of several times (timer, blocking hand-off, return).
struct Collection {
    agent: Agent,
    state: Option<AgentState>,
    schedule: Schedule,
    interval_changes: Option<watch::Receiver<Option<Duration>>>,
    options: RunOptions,
    metrics: Option<MetricsState>,
    dump: Dump,
    hub: Option<HubSink>,
    mqtt: Option<Arc<MqttSink>>,
}

impl Collection {
    /// Ticks until `stop` says so; hands back the hub sink to shut down.
    fn run(mut self, stop: Arc<Stop>) -> (Result<(), RunError>, Option<HubSink>) {
        let mut next = Instant::now();
        let mut page_out = self.options.page_out_after_start;
        loop {
            if stop.wait_until(next) {
                return (Ok(()), self.hub);
            }
            if let Some(interval) = self.interval_change() {
                tracing::info!(
                    seconds = interval.as_secs(),
                    "fast interval changed by the hub"
                );
                self.schedule.set_fast_interval(interval);
                next = Instant::now() + interval;
                continue;
            }
            let now = Instant::now();
            let tiers = self.schedule.due(now);
            let mut report = self.agent.collect(&tiers);
            if let Some(state) = &mut self.state
                && let Err(e) = state.ensure_reserved(report.seq)
            {
                tracing::error!(error = %e, "cannot persist the seq reservation; after a restart the hub may take new reports for duplicates");
            }
            if let Some(hub) = &self.hub {
                report.spool = Some(hub.spool_stats());
                hub.attach_audit(&mut report);
            }
            if let Err(e) = deliver(
                report,
                &self.options,
                self.metrics.as_ref(),
                &self.dump,
                self.hub.as_ref(),
                self.mqtt.as_deref(),
            ) {
                return (Err(e), self.hub);
            }
            if std::mem::take(&mut page_out) {
                // The first tick ran every tier: start-up is over.
                match crate::page_out::executable() {
                    Ok(bytes) => tracing::debug!(bytes, "paged out the executable after start-up"),
                    Err(e) => tracing::debug!(error = %e, "cannot page out the executable"),
                }
            }
            // Like a ticker that delays missed ticks: never a burst to catch up.
            next += self.schedule.fast_interval();
            if next <= Instant::now() {
                next = Instant::now() + self.schedule.fast_interval();
            }
        }
    }

    /// A new fast interval from the hub, if it asked for one different from the current.
    fn interval_change(&mut self) -> Option<Duration> {
        let rx = self.interval_changes.as_mut()?;
        if !rx.has_changed().unwrap_or(false) {
            return None;
        }
        let asked = (*rx.borrow_and_update())?;
        (asked != self.schedule.fast_interval()).then_some(asked)
    }
}

/// Tells the collection thread to stop; the thread sleeps on it between ticks.
///
/// A condition variable rather than a channel: `mpsc::Receiver::recv_timeout` registers a
/// waiter and polls the channel around each sleep, which showed in a profile of an agent
/// ticking once a second. A wait here is one uncontended lock and one futex call.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl Stop {
    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
    }

    /// Sleeps until `deadline`, or less if told to stop; whether it was.
    fn wait_until(&self, deadline: Instant) -> bool {
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *stopped {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stopped = self
                .changed
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Stops the collection thread when dropped.
struct StopOnDrop(Arc<Stop>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Opens the state directory (identity, seq, spool) and starts the hub sender.
fn start_hub(
    config: &AgentConfig,
    options: &RunOptions,
    agent: &mut Agent,
    commands: Option<Arc<Commands>>,
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
    let hub =
        HubSink::start_with_commands(client, Arc::new(spool), options.delivery.clone(), commands);
    Ok((hub, state))
}

/// The remote-command whitelist, its audit log in the state directory.
fn remote_commands(
    config: &AgentConfig,
    options: &RunOptions,
    host_id: &str,
    dump: &Dump,
) -> Result<Arc<Commands>, RunError> {
    let candidates = options
        .state_dirs
        .clone()
        .unwrap_or_else(StateDirCandidates::from_process);
    let (dir, _) = resolve_state_dir(config.agent.state_dir.as_deref(), &candidates);
    let commands = Commands::new(
        host_id,
        &config.commands,
        &config.remote,
        Runner::new(dump.clone()),
        dir.join("audit.jsonl"),
    )
    .map_err(RunError::Commands)?;
    tracing::info!(
        commands = config.commands.len(),
        trusted_keys = config.remote.trusted_keys.len(),
        audit = %commands.audit_path().display(),
        "remote commands"
    );
    Ok(Arc::new(commands))
}

/// Starts the MQTT sink (answering `commands` when remote commands over MQTT are on). When
/// MQTT is the only sink, an unreachable broker is a start-up error; otherwise the sink keeps
/// retrying.
async fn start_mqtt(
    config: &AgentConfig,
    host_id: &str,
    commands: Option<Arc<Commands>>,
    only_sink: bool,
) -> Result<MqttSink, RunError> {
    let fast = Duration::from_secs(config.tiers.fast);
    let sink = MqttSink::start(&config.mqtt, host_id, fast, commands)?;
    tracing::info!(broker = %sink.broker(), state = %sink.topics().state, "publishing to MQTT");
    if only_sink {
        let seconds = config.mqtt.connect_timeout_seconds;
        if let Err(reason) = sink.wait_connected(Duration::from_secs(seconds)).await {
            sink.shutdown().await;
            return Err(RunError::MqttUnreachable {
                broker: sink.broker().to_string(),
                seconds,
                reason,
            });
        }
    }
    Ok(sink)
}

/// Hands one report to every sink; the dump sees it exactly as it leaves the agent.
fn deliver(
    report: Report,
    options: &RunOptions,
    metrics: Option<&MetricsState>,
    dump: &Dump,
    hub: Option<&HubSink>,
    mqtt: Option<&MqttSink>,
) -> Result<(), RunError> {
    if dump.is_enabled() {
        dump.sample(&dump::tiers_kind(&report.tiers), &report);
    }
    if options.stdout {
        stdout::write_line(&mut std::io::stdout().lock(), &report).map_err(RunError::Stdout)?;
    }
    if let Some(mqtt) = mqtt {
        mqtt.offer(&report);
    }
    // The last two take the report; it is copied only when both want it.
    match (metrics, hub) {
        (Some(metrics), Some(hub)) => {
            metrics.record(report.clone());
            hub.offer(report);
        }
        (Some(metrics), None) => metrics.record(report),
        (None, Some(hub)) => hub.offer(report),
        (None, None) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_at_its_deadline_when_nobody_stops() {
        let stop = Stop::default();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(!stop.wait_until(deadline));
        assert!(Instant::now() >= deadline, "not before the deadline");
        assert!(!stop.wait_until(Instant::now()), "a past deadline: no wait");
    }

    #[test]
    fn a_stop_ends_a_wait_and_every_later_one() {
        let stop = Arc::new(Stop::default());
        let waiter = {
            let stop = stop.clone();
            std::thread::spawn(move || stop.wait_until(Instant::now() + Duration::from_secs(3600)))
        };
        stop.stop();
        assert!(waiter.join().unwrap(), "woken by the stop, not the hour");
        assert!(stop.wait_until(Instant::now() + Duration::from_secs(3600)));
    }

    #[test]
    fn dropping_the_guard_stops() {
        let stop = Arc::new(Stop::default());
        drop(StopOnDrop(stop.clone()));
        assert!(stop.wait_until(Instant::now() + Duration::from_secs(3600)));
    }
}
