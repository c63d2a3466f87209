//! The dispatcher: the [`Notifier`] the alert engine and the digest hand notices to. Its
//! methods only enqueue; a background task ([`run`]) routes, groups, repeats, and hands each
//! message to its channel's own worker, which retries and writes the delivery log — so a slow
//! or failing channel never holds up another.

use super::channel::{Channel, http_client};
use super::config::{NotifyConfig, RouteConfig};
use super::delivery::{self, Outcome, RetryPolicy};
use super::grouping::{Grouper, Timing};
use super::message::Message;
use super::quiet::QuietHours;
use super::routing::Router;
use crate::Hub;
use crate::hub::now_ms;
use crate::notice::{AlertNotice, DigestMessage, Notifier};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug)]
enum Command {
    Alert(AlertNotice),
    StopRepeating(String),
    Digest(DigestMessage),
}

/// The sending side, held by the hub. Cheap to share.
pub struct Dispatcher {
    tx: mpsc::UnboundedSender<Command>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dispatcher")
    }
}

impl Default for Dispatcher {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Dispatcher {
            tx,
            inbox: Mutex::new(Some(rx)),
        }
    }
}

impl Dispatcher {
    pub fn new() -> Arc<Dispatcher> {
        Arc::new(Dispatcher::default())
    }

    fn take_inbox(&self) -> Option<mpsc::UnboundedReceiver<Command>> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn enqueue(&self, command: Command) {
        // Fails only when the dispatcher task is gone (the hub is stopping).
        let _ = self.tx.send(command);
    }
}

impl Notifier for Dispatcher {
    fn alert(&self, notice: AlertNotice) {
        self.enqueue(Command::Alert(notice));
    }

    fn stop_repeating(&self, fingerprint: &str) {
        self.enqueue(Command::StopRepeating(fingerprint.to_string()));
    }

    fn digest(&self, message: DigestMessage) {
        self.enqueue(Command::Digest(message));
    }
}

/// Why a channel could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no notification channel is named `{0}` (see [[notify.channels]] in the hub's config)")]
    UnknownChannel(String),
    #[error("channel `{channel}`: {problem}")]
    Setup { channel: String, problem: String },
}

fn policy(config: &NotifyConfig) -> RetryPolicy {
    RetryPolicy {
        attempts: config.retry_attempts,
        backoff: config.retry_backoff,
        backoff_max: config.retry_backoff_max,
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn timing(
    config: &NotifyConfig,
    route: Option<&RouteConfig>,
    send_resolved: Option<bool>,
) -> Timing {
    Timing {
        group_by: route
            .and_then(|r| r.group_by.clone())
            .unwrap_or_else(|| config.group_by.clone()),
        group_wait_ms: ms(route
            .and_then(|r| r.group_wait)
            .unwrap_or(config.group_wait)),
        group_interval_ms: ms(route
            .and_then(|r| r.group_interval)
            .unwrap_or(config.group_interval)),
        repeat_interval_ms: ms(route
            .and_then(|r| r.repeat_interval)
            .unwrap_or(config.repeat_interval)),
        send_resolved: send_resolved.unwrap_or(config.send_resolved),
    }
}

/// The dispatcher's background task; runs until the hub drops it.
pub async fn run<S: Store>(hub: Arc<Hub<S>>) {
    let Some(mut inbox) = hub.notify.take_inbox() else {
        tracing::error!("the notification dispatcher is already running");
        return;
    };
    let config = &hub.config.notify;
    let http = match http_client(config.timeout) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::error!(error = %e, "notifications over HTTP are unavailable");
            None
        }
    };
    // One worker per channel; a channel that cannot be built is logged and left out.
    let mut workers: HashMap<String, (Arc<Channel>, mpsc::UnboundedSender<Message>)> =
        HashMap::new();
    let mut quiet = HashMap::new();
    for c in &config.channels {
        let built = http
            .as_ref()
            .ok_or_else(|| "no HTTP client".to_string())
            .and_then(|http| Channel::build(c, http, config.timeout));
        let channel = match built {
            Ok(ch) => Arc::new(ch),
            Err(problem) => {
                tracing::error!(channel = %c.name, %problem, "notification channel disabled");
                continue;
            }
        };
        if let Some(q) = &c.quiet_hours
            && let Ok(q) = QuietHours::parse(q, c.time_zone.as_deref())
        {
            quiet.insert(c.name.clone(), q);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(worker(hub.clone(), channel.clone(), rx));
        workers.insert(c.name.clone(), (channel, tx));
    }
    let router = Router::new(config);
    let mut grouper = Grouper::new(quiet);
    loop {
        let command = match grouper.next_deadline() {
            Some(at) => {
                let wait = Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0));
                match tokio::time::timeout(wait, inbox.recv()).await {
                    Ok(c) => c.map(Some),
                    Err(_) => Some(None),
                }
            }
            None => inbox.recv().await.map(Some),
        };
        match command {
            None => break,
            Some(None) => {}
            Some(Some(Command::Alert(notice))) => {
                let destinations: Vec<_> = router
                    .route(&notice)
                    .into_iter()
                    .filter(|d| workers.contains_key(&d.channel))
                    .map(|d| {
                        let send_resolved =
                            config.channel(&d.channel).and_then(|c| c.send_resolved);
                        let t = timing(config, router.route_config(d.route), send_resolved);
                        (d.channel, d.route, t)
                    })
                    .collect();
                grouper.add(&notice, &destinations, now_ms());
            }
            Some(Some(Command::StopRepeating(fp))) => grouper.stop_repeating(&fp),
            Some(Some(Command::Digest(digest))) => {
                let message = Message::digest(&digest);
                for (channel, tx) in workers.values() {
                    if channel.digest {
                        let _ = tx.send(message.clone());
                    }
                }
            }
        }
        for batch in grouper.due(now_ms()) {
            if let Some((_, tx)) = workers.get(&batch.channel) {
                let _ = tx.send(Message::from_batch(&batch));
            }
        }
    }
}

async fn worker<S: Store>(
    hub: Arc<Hub<S>>,
    channel: Arc<Channel>,
    mut rx: mpsc::UnboundedReceiver<Message>,
) {
    let config = &hub.config.notify;
    let policy = policy(config);
    while let Some(message) = rx.recv().await {
        let outcome = delivery::deliver(&channel, &message, &policy).await;
        if outcome.delivered {
            tracing::info!(channel = %channel.name, title = %channel.redact(&message.title), attempts = outcome.attempts, "notification delivered");
        }
        delivery::log(
            &hub.store,
            &channel,
            &message,
            &outcome,
            now_ms(),
            config.delivery_log_days,
        )
        .await;
    }
}

/// Sends a test message through the channel named `name`, once, and says how it went; the
/// channel is built from the configuration, so this works without a running hub.
pub async fn send_test(
    config: &NotifyConfig,
    name: &str,
) -> Result<(Channel, Message, Outcome), NotifyError> {
    let c = config
        .channel(name)
        .ok_or_else(|| NotifyError::UnknownChannel(name.to_string()))?;
    let setup = |problem: String| NotifyError::Setup {
        channel: name.to_string(),
        problem,
    };
    let http = http_client(config.timeout).map_err(setup)?;
    let channel = Channel::build(c, &http, config.timeout).map_err(setup)?;
    let message = Message::test(name);
    let once = RetryPolicy {
        attempts: 1,
        ..policy(config)
    };
    let outcome = delivery::deliver(&channel, &message, &once).await;
    Ok((channel, message, outcome))
}
