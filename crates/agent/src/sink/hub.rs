//! The hub sink: reports (and job runs) go to the hub over HTTPS; what cannot be delivered waits
//! in the [spool](crate::spool) and is backfilled oldest first when the hub answers again.
//!
//! - **Transport** ([`HubClient`]): `reqwest` over rustls, bearer token, zstd-compressed JSON
//!   bodies (identity after a `415`), connect and request timeouts. TLS trusts the system's
//!   store through `rustls-platform-verifier` (on Linux: the distribution's CA bundle, so a
//!   private CA installed with `update-ca-certificates` works and CA updates come with the OS,
//!   not with a hostwatch rebuild, which bundled webpki roots would need); `[hub] ca_file`
//!   replaces it with the operator's own CA bundle. The crypto provider is `ring`, installed by
//!   the binary's `main`.
//! - **Delivery** ([`HubSink`]): the run loop hands each report over a bounded channel and
//!   never waits on the network; a sender task posts it. Each answer is handled as
//!   `docs/wire.md` ("Transport") says: 200 adopts the envelope's interval, 400/403 drop, 401,
//!   429, 5xx and network errors spool and retry with exponential backoff and jitter, 413 splits
//!   a batch. Live reports go first; the backlog follows in batches between them.
//! - **Commands**: an envelope may carry commands an admin queued at the hub. Each runs on a
//!   task of its own through [`Commands`] (origin `hub`: signature, whitelist, audit), so
//!   delivery never waits for it, and its result is posted to `/api/v1/command-results`.
//! - **Secrets**: the token is a [`Secret`]; it is exposed only into the `Authorization` header,
//!   which is marked sensitive. No error of this module carries it.

use crate::commands::Commands;
use crate::config::{AgentConfig, HubConfig};
use crate::spool::{self, Entry, Kind, Spool};
use hostwatch_proto::{CommandResult, Envelope, Report, Secret, SignedCommand, SpoolStats};
use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// `zstd` level: level 3 compresses a report about 6× at a few hundred microseconds.
const ZSTD_LEVEL: i32 = 3;
/// The most of a refusal's body kept for the log.
const ERROR_BODY_MAX: usize = 1024;

/// Why the hub client could not be built. Names the key or file; never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("[hub] url is not set: there is no hub to send to")]
    NotConfigured,
    #[error("key `hub.url`: {0}")]
    Url(String),
    #[error("key `hub.ca_file`: {0}")]
    CaFile(String),
    #[error(
        "no TLS crypto provider installed (the binary installs ring at start-up; a library user must \
         call rustls::crypto::ring::default_provider().install_default())"
    )]
    NoCryptoProvider,
    #[error("building the HTTP client: {0}")]
    Client(String),
}

/// Reads a PEM bundle of CA certificates, with an error that names what was wrong.
pub fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        format!(
            "{}: not a PEM certificate bundle: {}",
            path.display(),
            chain(&e)
        )
    })?;
    if certs.is_empty() {
        return Err(format!(
            "{}: holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// Where a document goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Reports,
    JobRuns,
    /// Results of commands the hub sent (answered without an envelope).
    CommandResults,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Reports => "api/v1/reports",
            Endpoint::JobRuns => "api/v1/job-runs",
            Endpoint::CommandResults => "api/v1/command-results",
        }
    }

    fn of(kind: Kind) -> Endpoint {
        match kind {
            Kind::Report => Endpoint::Reports,
            Kind::JobRun => Endpoint::JobRuns,
        }
    }
}

/// How one request failed, sorted by what the agent does about it (`docs/wire.md`, Transport).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 400: the hub says the documents are invalid; retrying cannot help.
    #[error("the hub refused the documents as invalid (400): {0}")]
    Invalid(String),
    /// 401: the token is missing or unknown (it may be being rotated).
    #[error("the hub refused this host's token (401); check [hub] token")]
    Unauthorized,
    /// 403: a document's `host_id` is not the token's host.
    #[error("the hub refused the documents: their host_id is not this token's host (403): {0}")]
    Forbidden(String),
    /// 413: the body is larger than the hub accepts.
    #[error("the request is larger than the hub accepts (413)")]
    TooLarge,
    /// 429: slow down, for `Retry-After` seconds when the hub said.
    #[error("the hub asks this host to slow down (429){}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, a timeout, a refused connection, a TLS failure, an unexpected answer: the hub is
    /// away or unusable for now.
    #[error("the hub is unavailable: {0}")]
    Unavailable(String),
}

impl SendError {
    /// Whether the documents stay in the spool to be retried (else they are dropped).
    pub fn keeps_documents(&self) -> bool {
        matches!(
            self,
            SendError::Unauthorized | SendError::RateLimited { .. } | SendError::Unavailable(_)
        )
    }
}

/// The HTTP client for one hub. Cheap to clone.
#[derive(Clone)]
pub struct HubClient {
    http: reqwest::Client,
    base: Url,
    token: Secret,
    /// The request timeout, connecting included.
    timeout: Duration,
    /// Compress bodies with zstd until the hub answers 415 once.
    zstd: Arc<AtomicBool>,
}

impl std::fmt::Debug for HubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubClient")
            .field("base", &self.base.as_str())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl HubClient {
    /// A client for the configured hub. The configuration must have passed
    /// [`HubConfig::validate`].
    pub fn new(config: &HubConfig) -> Result<HubClient, HubError> {
        let raw = config.url.as_deref().ok_or(HubError::NotConfigured)?;
        config.validate().map_err(HubError::Url)?;
        let mut base = Url::parse(raw).map_err(|e| HubError::Url(e.to_string()))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(HubError::NoCryptoProvider);
        }
        let timeout = Duration::from_secs(config.timeout_seconds);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("hostwatch/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            // The token must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60));
        if base.scheme() == "https" {
            builder = builder.https_only(true);
        }
        if let Some(ca_file) = &config.ca_file {
            let certs = read_ca_file(ca_file).map_err(HubError::CaFile)?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(|e| HubError::Client(chain(&e)))?;
        Ok(HubClient {
            http,
            base,
            token: config.token.clone(),
            timeout,
            zstd: Arc::new(AtomicBool::new(true)),
        })
    }

    /// The hub's base URL (it never holds credentials: validation refuses them).
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Posts one document or a JSON array of them. `Ok(None)`: stored, but the envelope
    /// could not be read.
    pub async fn send(
        &self,
        endpoint: Endpoint,
        json: &[u8],
    ) -> Result<Option<Envelope>, SendError> {
        let url = self
            .base
            .join(endpoint.path())
            .map_err(|e| SendError::Unavailable(format!("bad hub URL: {e}")))?;
        let compress = self.zstd.load(Ordering::Relaxed);
        let envelope = endpoint != Endpoint::CommandResults;
        match self.post(&url, json, compress, envelope).await {
            Err(SendError::Unavailable(m)) if m == UNSUPPORTED_ENCODING && compress => {
                tracing::info!(hub = %self.base, "the hub does not take zstd bodies (415); sending them uncompressed");
                self.zstd.store(false, Ordering::Relaxed);
                self.post(&url, json, false, envelope).await
            }
            other => other,
        }
    }

    async fn post(
        &self,
        url: &Url,
        json: &[u8],
        compress: bool,
        envelope: bool,
    ) -> Result<Option<Envelope>, SendError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            .map_err(|_| SendError::Unauthorized)?;
        auth.set_sensitive(true);
        let mut request = self
            .http
            .post(url.clone())
            .header(header::AUTHORIZATION, auth)
            .header(header::CONTENT_TYPE, "application/json");
        request = if compress {
            let body = zstd::bulk::compress(json, ZSTD_LEVEL)
                .map_err(|e| SendError::Unavailable(format!("compressing the body: {e}")))?;
            request.header(header::CONTENT_ENCODING, "zstd").body(body)
        } else {
            request.body(json.to_vec())
        };
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Unavailable(chain(&e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status.is_success() {
            if !envelope {
                return Ok(None);
            }
            let body = response.bytes().await.unwrap_or_default();
            return match serde_json::from_slice::<Envelope>(&body) {
                Ok(envelope) => Ok(Some(envelope)),
                Err(e) => {
                    tracing::warn!(%status, error = %e, "the hub stored the documents but its envelope is unreadable");
                    Ok(None)
                }
            };
        }
        let detail = || async {
            let body = response.bytes().await.unwrap_or_default();
            error_detail(&body)
        };
        Err(match status {
            StatusCode::BAD_REQUEST => SendError::Invalid(detail().await),
            StatusCode::UNAUTHORIZED => SendError::Unauthorized,
            StatusCode::FORBIDDEN => SendError::Forbidden(detail().await),
            StatusCode::PAYLOAD_TOO_LARGE => SendError::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                SendError::Unavailable(UNSUPPORTED_ENCODING.to_string())
            }
            StatusCode::TOO_MANY_REQUESTS => SendError::RateLimited { retry_after },
            s if s.is_server_error() => SendError::Unavailable(format!("answered {s}")),
            s => SendError::Unavailable(format!("unexpected answer {s}")),
        })
    }
}

const UNSUPPORTED_ENCODING: &str = "answered 415 Unsupported Media Type";

/// The hub's `{"error": "…"}`, or the start of whatever it sent, on one line.
fn error_detail(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    let text = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => b.error,
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_MAX)]).into_owned(),
    };
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(ERROR_BODY_MAX).collect()
}

/// An error and its causes on one line (`reqwest` puts the useful part — "connection refused",
/// "invalid peer certificate: UnknownIssuer" — in the sources).
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Exponential backoff with jitter: each failure doubles the delay up to `max`; the delay
/// actually used is drawn between half and all of it, so a fleet that lost its hub at the same
/// moment does not come back in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            failures: 0,
        }
    }

    /// The delay before the next attempt, after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        let ceiling = self.initial.saturating_mul(1 << exp).min(self.max);
        ceiling.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// How the sender task paces itself. The defaults suit production; tests shorten them.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Reports the run loop may hand over before it spools instead.
    pub queue: usize,
    /// Documents per backfill request.
    pub batch_docs: usize,
    /// Bytes (uncompressed) per backfill request.
    pub batch_bytes: u64,
    /// First retry delay after a failure.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How often to look for documents other processes (`hostwatch run`) spooled, when the
    /// spool seemed empty.
    pub rescan: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            queue: 32,
            batch_docs: 100,
            batch_bytes: 1024 * 1024,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            rescan: Duration::from_secs(60),
        }
    }
}

/// The run loop's handle on the hub sender task.
#[derive(Debug)]
pub struct HubSink {
    queue: mpsc::Sender<Report>,
    spool: Arc<Spool>,
    interval: watch::Receiver<Option<Duration>>,
    closing: Arc<AtomicBool>,
    task: JoinHandle<()>,
    timeout: Duration,
    /// Whose audit entries ride on the reports.
    commands: Option<Arc<Commands>>,
}

impl HubSink {
    /// Starts the sender task. Must be called inside a Tokio runtime.
    pub fn start(client: HubClient, spool: Arc<Spool>, options: DeliveryOptions) -> HubSink {
        Self::start_with_commands(client, spool, options, None)
    }

    /// [`HubSink::start`], running the commands the hub sends through `commands` and posting
    /// their results back (without commands, they are refused and logged).
    pub fn start_with_commands(
        client: HubClient,
        spool: Arc<Spool>,
        options: DeliveryOptions,
        commands: Option<Arc<Commands>>,
    ) -> HubSink {
        let (queue, rx) = mpsc::channel(options.queue.max(1));
        let (interval_tx, interval) = watch::channel(None);
        let closing = Arc::new(AtomicBool::new(false));
        let timeout = client.timeout.saturating_add(Duration::from_secs(1));
        let sender = Sender {
            client,
            spool: spool.clone(),
            backoff: Backoff::new(options.backoff_initial, options.backoff_max),
            options,
            retry_at: None,
            backlog: true,
            last_scan: None,
            down_since: None,
            warned_at: None,
            interval: interval_tx,
            closing: closing.clone(),
            commands: commands.clone(),
        };
        let task = tokio::spawn(sender.run(rx));
        HubSink {
            queue,
            spool,
            interval,
            closing,
            task,
            timeout,
            commands,
        }
    }

    /// Moves the audit entries waiting for the hub into `report` (its `audit` and
    /// `audit_dropped_total`). They then travel, are spooled and retried with that report, so
    /// the hub stores each once with it.
    pub fn attach_audit(&self, report: &mut Report) {
        if let Some(commands) = &self.commands {
            let (entries, dropped_total) = commands.take_audit_for_hub();
            report.audit = entries;
            report.audit_dropped_total = dropped_total;
        }
    }

    /// The spool's numbers, for the next report's `spool` field.
    pub fn spool_stats(&self) -> SpoolStats {
        self.spool.stats()
    }

    /// Changes of the fast interval the hub asks for.
    pub fn interval_changes(&self) -> watch::Receiver<Option<Duration>> {
        self.interval.clone()
    }

    /// Hands a report to the sender task without waiting. When the task is behind (its queue
    /// is full) the report goes straight to the spool, on a blocking thread.
    pub fn offer(&self, report: Report) {
        match self.queue.try_send(report) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(report))
            | Err(mpsc::error::TrySendError::Closed(report)) => {
                tracing::debug!(seq = report.seq, "hub sender busy; spooling the report");
                let spool = self.spool.clone();
                tokio::task::spawn_blocking(move || {
                    spool_report(&spool, &report, &report.to_json())
                });
            }
        }
    }

    /// Stops the sender: reports still queued are spooled, not sent, and an in-flight request
    /// gets its timeout to finish.
    pub async fn shutdown(self) {
        self.closing.store(true, Ordering::Relaxed);
        drop(self.queue);
        let mut task = self.task;
        if tokio::time::timeout(self.timeout, &mut task).await.is_err() {
            task.abort();
        }
    }
}

fn spool_report(spool: &Spool, report: &Report, json: &[u8]) {
    if let Err(e) = spool.push_report(report, json) {
        tracing::error!(seq = report.seq, spool = %spool.dir().display(), error = %e, "cannot spool a report; it is lost");
    }
}

/// The sender task's state.
struct Sender {
    client: HubClient,
    spool: Arc<Spool>,
    options: DeliveryOptions,
    backoff: Backoff,
    /// While set and in the future, the hub is treated as away: live reports go to the spool.
    retry_at: Option<Instant>,
    /// The spool may hold something to backfill.
    backlog: bool,
    last_scan: Option<Instant>,
    down_since: Option<Instant>,
    /// When the outage was last logged at warn level.
    warned_at: Option<Instant>,
    interval: watch::Sender<Option<Duration>>,
    closing: Arc<AtomicBool>,
    /// Runs what the hub sends in its envelopes.
    commands: Option<Arc<Commands>>,
}

/// During a long outage, remind the log this often (the first failure is always logged).
const OUTAGE_REMINDER: Duration = Duration::from_secs(600);

impl Sender {
    async fn run(mut self, mut rx: mpsc::Receiver<Report>) {
        loop {
            let now = Instant::now();
            if !self.backlog
                && self.retry_at.is_none()
                && self
                    .last_scan
                    .is_none_or(|t| now >= t + self.options.rescan)
            {
                self.backlog = true;
            }
            let backfill_at = self.retry_at.unwrap_or(now).max(now);
            let rescan_at = self
                .last_scan
                .map_or(now, |t| t + self.options.rescan)
                .max(now);
            tokio::select! {
                biased;
                received = rx.recv() => match received {
                    Some(report) => self.live(report).await,
                    None => return,
                },
                _ = tokio::time::sleep_until(backfill_at), if self.backlog => {
                    if !self.closing.load(Ordering::Relaxed) {
                        self.backfill_round().await;
                    }
                }
                // Wake up to look for documents `hostwatch run` spooled.
                _ = tokio::time::sleep_until(rescan_at), if !self.backlog => {}
            }
        }
    }

    fn hub_away(&self) -> bool {
        self.closing.load(Ordering::Relaxed) || self.retry_at.is_some_and(|t| Instant::now() < t)
    }

    async fn live(&mut self, report: Report) {
        let json = report.to_json();
        if self.hub_away() {
            self.spool_blocking(report, json).await;
            return;
        }
        match self.client.send(Endpoint::Reports, &json).await {
            Ok(envelope) => {
                self.delivered(envelope.as_ref());
                tracing::debug!(seq = report.seq, "report delivered");
            }
            Err(error) if error.keeps_documents() => {
                self.failed(&error);
                self.spool_blocking(report, json).await;
            }
            Err(error) => {
                tracing::error!(seq = report.seq, %error, "the hub refused a report; dropped");
            }
        }
    }

    async fn spool_blocking(&mut self, report: Report, json: Vec<u8>) {
        let spool = self.spool.clone();
        let _ = tokio::task::spawn_blocking(move || spool_report(&spool, &report, &json)).await;
        self.backlog = true;
    }

    /// After a 200: adopt the interval, end an outage.
    fn delivered(&mut self, envelope: Option<&Envelope>) {
        if let Some(since) = self.down_since.take() {
            tracing::info!(
                down_seconds = since.elapsed().as_secs(),
                queued = self.spool.stats().queued,
                "the hub is reachable again; backfilling the spool"
            );
            self.backlog = true;
        }
        self.retry_at = None;
        self.backoff.reset();
        if let Some(envelope) = envelope {
            for command in &envelope.commands {
                self.start_command(command.clone());
            }
        }
        if let Some(seconds) = envelope.map(|e| e.interval_seconds).filter(|&s| s > 0) {
            let interval = Duration::from_secs(u64::from(seconds).min(86_400));
            self.interval.send_if_modified(|current| {
                if *current == Some(interval) {
                    false
                } else {
                    tracing::info!(
                        seconds = interval.as_secs(),
                        "the hub sets the fast interval"
                    );
                    *current = Some(interval);
                    true
                }
            });
        }
    }

    /// Runs a command from the hub on a task of its own (delivery never waits for it) and posts
    /// the result.
    fn start_command(&self, command: SignedCommand) {
        let Some(commands) = self.commands.clone() else {
            tracing::warn!(command = %command.command, request_id = %command.request_id, "the hub sent a command, but this agent runs none");
            return;
        };
        let client = self.client.clone();
        let backoff = Backoff::new(self.options.backoff_initial, self.options.backoff_max);
        tokio::spawn(async move {
            let response = commands.handle_signed(command).await;
            post_result(&client, &response.result, backoff).await;
        });
    }

    /// After a failure that keeps the documents: back off, log once per outage.
    fn failed(&mut self, error: &SendError) {
        let delay = match error {
            SendError::RateLimited {
                retry_after: Some(after),
            } => {
                self.backoff.next_delay();
                *after
            }
            _ => self.backoff.next_delay(),
        };
        let now = Instant::now();
        self.retry_at = Some(now + delay);
        let remind = self
            .warned_at
            .is_some_and(|t| now.duration_since(t) >= OUTAGE_REMINDER);
        if self.down_since.is_none() || remind {
            self.down_since.get_or_insert(now);
            self.warned_at = Some(now);
            tracing::warn!(
                hub = self.client.base_url(),
                %error,
                down_seconds = now.duration_since(self.down_since.unwrap_or(now)).as_secs(),
                queued = self.spool.stats().queued,
                retry_in_ms = delay.as_millis() as u64,
                "cannot deliver to the hub; spooling until it answers"
            );
        } else {
            tracing::debug!(%error, failures = self.backoff.failures(), retry_in_ms = delay.as_millis() as u64, "hub still unavailable");
        }
    }

    /// Sends one batch of the oldest spooled documents (job runs first: they are few and rare).
    async fn backfill_round(&mut self) {
        self.last_scan = Some(Instant::now());
        let spool = self.spool.clone();
        let (docs, bytes) = (self.options.batch_docs, self.options.batch_bytes);
        let batch = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<Entry>> {
            let runs = spool.oldest(Kind::JobRun, docs, bytes)?;
            if !runs.is_empty() {
                return Ok(runs);
            }
            spool.oldest(Kind::Report, docs, bytes)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(spool = %self.spool.dir().display(), error = %e, "cannot read the spool");
                self.backlog = false;
                return;
            }
        };
        if batch.is_empty() {
            self.backlog = false;
            return;
        }
        // Split on 413 (and on 400, to find the one bad document instead of dropping its
        // neighbours); halves go back on the stack second-half first, so order is kept.
        let mut stack = vec![batch];
        let mut progress = false;
        while let Some(batch) = stack.pop() {
            let kind = batch[0].kind;
            let spool = self.spool.clone();
            let read = batch.clone();
            let loaded = tokio::task::spawn_blocking(move || {
                let mut present = Vec::with_capacity(read.len());
                let mut bodies = Vec::with_capacity(read.len());
                for entry in read {
                    match spool.read(&entry) {
                        Ok(Some(body)) => {
                            present.push(entry);
                            bodies.push(body);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(file = %entry.path.display(), error = %e, "cannot read a spooled document; dropping it");
                            spool.remove(std::slice::from_ref(&entry));
                        }
                    }
                }
                (present, bodies)
            })
            .await;
            let Ok((present, bodies)) = loaded else {
                return;
            };
            if present.is_empty() {
                continue;
            }
            progress = true;
            let body = spool::json_array(&bodies);
            match self.client.send(Endpoint::of(kind), &body).await {
                Ok(envelope) => {
                    self.remove_blocking(present).await;
                    self.delivered(envelope.as_ref());
                }
                Err(SendError::TooLarge | SendError::Invalid(_)) if present.len() > 1 => {
                    let mut first = present;
                    let second = first.split_off(first.len() / 2);
                    stack.push(second);
                    stack.push(first);
                }
                Err(error) if error.keeps_documents() => {
                    self.failed(&error);
                    return;
                }
                Err(error) => {
                    tracing::error!(
                        documents = present.len(),
                        first = %present[0].path.display(),
                        %error,
                        "the hub refused spooled documents; dropped"
                    );
                    self.remove_blocking(present).await;
                }
            }
        }
        if !progress {
            // Nothing readable was there (another process took it): look again later.
            self.backlog = false;
        }
    }

    async fn remove_blocking(&self, entries: Vec<Entry>) {
        let spool = self.spool.clone();
        let _ = tokio::task::spawn_blocking(move || spool.remove(&entries)).await;
    }
}

/// How often a command result is offered to the hub before it is given up (it stays in the
/// audit log either way).
const RESULT_ATTEMPTS: u32 = 8;

/// Posts one command result, retrying while the hub is away.
async fn post_result(client: &HubClient, result: &CommandResult, mut backoff: Backoff) {
    let json = serde_json::to_vec(result).unwrap_or_default();
    for attempt in 1..=RESULT_ATTEMPTS {
        match client.send(Endpoint::CommandResults, &json).await {
            Ok(_) => {
                tracing::debug!(request_id = %result.request_id, "command result delivered");
                return;
            }
            Err(error) if error.keeps_documents() && attempt < RESULT_ATTEMPTS => {
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(error) => {
                tracing::error!(request_id = %result.request_id, %error, "cannot deliver a command result to the hub; it stays in the audit log");
                return;
            }
        }
    }
}

/// `hostwatch agent --selftest hub`: collects once, sends once, and returns what was sent and
/// what came back. Nothing is spooled and no state is touched.
pub async fn selftest(config: &AgentConfig) -> Result<(Report, Option<Envelope>), SelftestError> {
    let client = HubClient::new(&config.hub)?;
    let mut agent = crate::Agent::new(config);
    let report = tokio::task::spawn_blocking(move || agent.collect(&hostwatch_proto::Tier::ALL))
        .await
        .map_err(|e| SelftestError::Collect(e.to_string()))?;
    let envelope = client
        .send(Endpoint::Reports, &report.to_json())
        .await
        .map_err(|error| SelftestError::Send {
            hub: client.base_url().to_string(),
            error,
        })?;
    Ok((report, envelope))
}

/// Why the hub selftest failed.
#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    #[error(transparent)]
    Config(#[from] HubError),
    #[error("collecting the report failed: {0}")]
    Collect(String),
    #[error("sending to {hub} failed: {error}")]
    Send { hub: String, error: SendError },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let ceiling = Duration::from_secs((1u64 << i).min(30));
            assert!(*d <= ceiling && *d >= ceiling / 2, "{i}: {d:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }

    #[test]
    fn error_detail_reads_the_hubs_error_body() {
        assert_eq!(
            error_detail(br#"{"error": "at `seq`: invalid type"}"#),
            "at `seq`: invalid type"
        );
        assert_eq!(error_detail(b"plain\n text"), "plain text");
        assert_eq!(error_detail(&[b'x'; 5000]).len(), ERROR_BODY_MAX);
    }

    #[test]
    fn only_away_and_auth_failures_keep_documents() {
        assert!(SendError::Unavailable("x".into()).keeps_documents());
        assert!(SendError::Unauthorized.keeps_documents());
        assert!(SendError::RateLimited { retry_after: None }.keeps_documents());
        assert!(!SendError::Invalid("x".into()).keeps_documents());
        assert!(!SendError::Forbidden("x".into()).keeps_documents());
        assert!(!SendError::TooLarge.keeps_documents());
    }
}
