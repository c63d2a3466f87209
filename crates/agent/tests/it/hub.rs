//! Delivery to the hub, against the fake hub of `fakehub.rs` over real loopback sockets: the
//! reaction to every status of `docs/wire.md`'s transport table, the spool and backfill, a
//! restarted agent, TLS with a private CA, and the token kept out of every log line and error.

use crate::fakehub::{FakeHub, HubState, TOKEN};
use crate::logcapture;
use hostwatch_agent::config::{AgentConfig, HubConfig};
use hostwatch_agent::job::{JobOptions, Recorded, run_job};
use hostwatch_agent::run::{RunOptions, run};
use hostwatch_agent::sink::hub::{
    DeliveryOptions, Endpoint, HubClient, HubSink, SendError, selftest,
};
use hostwatch_agent::spool::{Kind, Spool};
use hostwatch_agent::state::StateDirCandidates;
use hostwatch_proto::{AgentInfo, Report, SCHEMA_VERSION, Secret, Tier};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    logcapture::install();
}

fn hub_config(url: &str) -> HubConfig {
    HubConfig {
        url: Some(url.to_string()),
        token: Secret::new(TOKEN),
        ca_file: None,
        timeout_seconds: 5,
    }
}

fn client(hub: &FakeHub) -> HubClient {
    HubClient::new(&hub_config(&hub.url())).unwrap()
}

fn report(seq: u64) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        host_id: "test-host".into(),
        agent: AgentInfo {
            version: "0.0.0".into(),
            instance_id: "11111111-2222-3333-4444-555555555555".into(),
            boot_id: None,
        },
        seq,
        collected_at: jiff::Timestamp::now().as_millisecond(),
        tiers: vec![Tier::Fast],
        sections: Default::default(),
        spool: None,
        audit: Vec::new(),
        audit_dropped_total: 0,
    }
}

/// Short delays, so outages and retries take milliseconds.
fn fast_delivery() -> DeliveryOptions {
    DeliveryOptions {
        queue: 64,
        batch_docs: 5,
        batch_bytes: 1 << 20,
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        rescan: Duration::from_millis(100),
    }
}

fn spool_in(dir: &Path) -> Arc<Spool> {
    Arc::new(Spool::open(dir, &Default::default()).unwrap())
}

async fn wait_until(within: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn statuses(hub: &FakeHub) -> Vec<u16> {
    hub.lock().requests.iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn hub_down_then_back_delivers_every_seq_once_backlog_in_order() {
    init();
    let mut hub = FakeHub::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let spool = spool_in(tmp.path());
    let sink = HubSink::start(client(&hub), spool.clone(), fast_delivery());

    for seq in 1..=5 {
        sink.offer(report(seq));
    }
    hub.wait_for(Duration::from_secs(10), "the live reports", |s| {
        s.stored.len() == 5
    })
    .await;

    hub.stop().await;
    for seq in 6..=30 {
        sink.offer(report(seq));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_until(Duration::from_secs(10), "25 spooled reports", || {
        spool.stats().queued == 25
    })
    .await;

    hub.restart().await;
    for seq in 31..=35 {
        sink.offer(report(seq));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hub.wait_for(Duration::from_secs(20), "every report", |s| {
        s.stored.len() == 35
    })
    .await;

    let mut seqs = hub.stored_seqs();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=35).collect::<Vec<_>>());
    {
        let state = hub.lock();
        let sent_ok: usize = state
            .requests
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| r.documents.len())
            .sum();
        assert_eq!(sent_ok, 35, "no report was sent twice");
        // The backlog went in batches, oldest first.
        let backlog: Vec<u64> = state
            .requests
            .iter()
            .filter(|r| r.batch && r.status == 200)
            .flat_map(|r| r.documents.iter().map(|d| d["seq"].as_u64().unwrap()))
            .collect();
        assert!(
            state
                .requests
                .iter()
                .any(|r| r.batch && r.documents.len() > 1),
            "backfill sends arrays"
        );
        assert!(backlog.len() >= 20, "{backlog:?}");
        assert!(
            backlog.windows(2).all(|w| w[0] < w[1]),
            "backlog in seq order: {backlog:?}"
        );
    }
    // The last batch's files go once its 200 is back.
    wait_until(Duration::from_secs(5), "an empty spool", || {
        spool.stats().queued == 0
    })
    .await;
    sink.shutdown().await;
}

#[tokio::test]
async fn invalid_and_forbidden_are_dropped_without_retry() {
    init();
    let hub = FakeHub::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let spool = spool_in(tmp.path());
    let sink = HubSink::start(client(&hub), spool.clone(), fast_delivery());
    hub.lock().script.extend([400, 403]);
    sink.offer(report(1));
    sink.offer(report(2));
    hub.wait_for(Duration::from_secs(5), "two refusals", |s| {
        s.requests.len() == 2
    })
    .await;
    // Well past every backoff and rescan: nothing was retried, nothing spooled.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(statuses(&hub), vec![400, 403]);
    assert_eq!(spool.stats().queued, 0);
    assert!(hub.lock().stored.is_empty());

    sink.offer(report(3));
    hub.wait_for(Duration::from_secs(5), "a stored report", |s| {
        s.stored.len() == 1
    })
    .await;
    sink.shutdown().await;
}

#[tokio::test]
async fn unauthorized_and_server_errors_keep_spooling_and_retry() {
    init();
    let hub = FakeHub::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let spool = spool_in(tmp.path());
    let sink = HubSink::start(client(&hub), spool.clone(), fast_delivery());
    hub.lock().script.extend([401, 401, 500, 502, 503]);
    sink.offer(report(1));
    hub.wait_for(Duration::from_secs(10), "the retried report", |s| {
        s.stored.len() == 1
    })
    .await;
    assert_eq!(statuses(&hub), vec![401, 401, 500, 502, 503, 200]);
    // The first try was the live report, the retries came from the spool.
    {
        let state = hub.lock();
        assert!(!state.requests[0].batch);
        assert!(state.requests[1..].iter().all(|r| r.batch));
    }
    wait_until(Duration::from_secs(5), "an empty spool", || {
        spool.stats().queued == 0
    })
    .await;
    sink.shutdown().await;
}

#[tokio::test]
async fn rate_limited_waits_for_retry_after() {
    init();
    let hub = FakeHub::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let spool = spool_in(tmp.path());
    let sink = HubSink::start(client(&hub), spool.clone(), fast_delivery());
    {
        let mut state = hub.lock();
        state.script.push_back(429);
        state.retry_after = Some(1);
    }
    sink.offer(report(1));
    hub.wait_for(Duration::from_secs(10), "the report", |s| {
        s.stored.len() == 1
    })
    .await;
    {
        let state = hub.lock();
        assert_eq!(
            state.requests.iter().map(|r| r.status).collect::<Vec<_>>(),
            vec![429, 200]
        );
        let waited = state.requests[1].at - state.requests[0].at;
        // The backoff alone would have retried after at most 20 ms.
        assert!(waited >= Duration::from_millis(900), "{waited:?}");
    }
    sink.shutdown().await;
}

#[tokio::test]
async fn too_large_batches_split_and_a_too_large_report_is_dropped() {
    init();
    let hub = FakeHub::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let spool = spool_in(tmp.path());
    for seq in 1..=8 {
        let r = report(seq);
        spool.push_report(&r, &r.to_json()).unwrap();
    }
    let mut huge = report(9);
    huge.tiers = vec![Tier::Slow; 2000];
    spool.push_report(&huge, &huge.to_json()).unwrap();
    let one = report(1).to_json().len();
    // Three reports fit in a request body, four do not.
    hub.lock().max_body = Some(3 * one + 3);
    let options = DeliveryOptions {
        batch_docs: 8,
        ..fast_delivery()
    };
    let sink = HubSink::start(client(&hub), spool.clone(), options);
    wait_until(Duration::from_secs(10), "an empty spool", || {
        spool.stats().queued == 0
    })
    .await;
    assert_eq!(hub.stored_seqs(), (1..=8).collect::<Vec<_>>());
    {
        let state = hub.lock();
        let sizes: Vec<(u16, usize)> = state
            .requests
            .iter()
            .map(|r| (r.status, r.documents.len()))
            .collect();
        // 8 → 4+4 → 2+2+2+2, then the huge one alone, refused and dropped.
        assert_eq!(
            sizes,
            vec![
                (413, 8),
                (413, 4),
                (200, 2),
                (200, 2),
                (413, 4),
                (200, 2),
                (200, 2),
                (413, 1)
            ]
        );
    }
    sink.shutdown().await;
}

#[tokio::test]
async fn bodies_are_zstd_until_the_hub_answers_415() {
    init();
    let hub = FakeHub::start().await;
    let client = client(&hub);
    let sent = report(1);
    let envelope = client
        .send(Endpoint::Reports, &sent.to_json())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((envelope.accepted, envelope.duplicates), (1, 0));
    {
        let state = hub.lock();
        assert_eq!(state.requests[0].content_encoding.as_deref(), Some("zstd"));
        assert_eq!(
            state.requests[0].authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        // What the hub decoded is exactly the report.
        let decoded: Report = serde_json::from_value(state.stored[0].clone()).unwrap();
        assert_eq!(decoded, sent);
    }
    // The same report again: a duplicate, acknowledged.
    let envelope = client
        .send(Endpoint::Reports, &sent.to_json())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((envelope.accepted, envelope.duplicates), (0, 1));

    hub.lock().refuse_zstd = true;
    client
        .send(Endpoint::Reports, &report(2).to_json())
        .await
        .unwrap();
    client
        .send(Endpoint::Reports, &report(3).to_json())
        .await
        .unwrap();
    let state = hub.lock();
    let seen: Vec<(u16, Option<&str>)> = state
        .requests
        .iter()
        .map(|r| (r.status, r.content_encoding.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (200, Some("zstd")),
            (200, Some("zstd")),
            (415, Some("zstd")),
            (200, None),
            (200, None)
        ]
    );
}

#[tokio::test]
async fn the_envelopes_interval_is_handed_to_the_run_loop() {
    init();
    let hub = FakeHub::start().await;
    hub.lock().interval_seconds = 42;
    let tmp = tempfile::tempdir().unwrap();
    let sink = HubSink::start(client(&hub), spool_in(tmp.path()), fast_delivery());
    let mut changes = sink.interval_changes();
    sink.offer(report(1));
    tokio::time::timeout(Duration::from_secs(5), changes.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*changes.borrow(), Some(Duration::from_secs(42)));
    sink.shutdown().await;
}

#[tokio::test]
async fn job_runs_spooled_by_hostwatch_run_are_delivered_by_the_daemon() {
    init();
    let mut hub = FakeHub::start().await;
    hub.stop().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = AgentConfig::default();
    config.agent.state_dir = Some(tmp.path().to_path_buf());
    config.hub = hub_config(&hub.url());
    let options = JobOptions {
        job: "nightly".into(),
        schedule: None,
        timeout: None,
        argv: vec!["true".into()],
        passthrough: false,
    };
    let result = run_job(&config, options).await.unwrap();
    assert_eq!(result.recorded, Recorded::Spooled);

    hub.restart().await;
    let spool = spool_in(&tmp.path().join("spool"));
    let sink = HubSink::start(client(&hub), spool.clone(), fast_delivery());
    hub.wait_for(Duration::from_secs(10), "the job run", |s| {
        s.stored.len() == 1
    })
    .await;
    wait_until(Duration::from_secs(5), "an empty spool", || {
        spool.oldest(Kind::JobRun, 10, u64::MAX).unwrap().is_empty()
    })
    .await;
    {
        let state = hub.lock();
        assert_eq!(state.requests[0].path, "/api/v1/job-runs");
        assert_eq!(
            state.stored[0]["run_id"],
            Value::from(result.run.run_id.clone())
        );
        assert_eq!(state.stored[0]["outcome"], serde_json::json!({"exited": 0}));
    }
    sink.shutdown().await;

    // With the hub up, `hostwatch run` delivers directly.
    let options = JobOptions {
        job: "nightly".into(),
        schedule: Some("0 3 * * *".into()),
        timeout: None,
        argv: vec!["false".into()],
        passthrough: false,
    };
    let result = run_job(&config, options).await.unwrap();
    assert_eq!(
        (result.recorded, result.exit_code),
        (Recorded::Delivered, 1)
    );
    assert_eq!(hub.lock().stored.len(), 2);
}

/// A config for the real run loop: fast ticks, cheap collectors, state in `dir`.
fn run_config(url: &str, dir: &Path) -> AgentConfig {
    let mut config = AgentConfig::default();
    config.agent.state_dir = Some(dir.to_path_buf());
    config.agent.host_id = Some("test-host".into());
    config.tiers.fast = 1;
    config.processes.enabled = false;
    config.filesystems.enabled = false;
    config.hub = hub_config(url);
    config
}

fn run_options() -> RunOptions {
    RunOptions {
        stdout: false,
        delivery: fast_delivery(),
        state_dirs: Some(StateDirCandidates {
            system: "/nonexistent/hostwatch".into(),
            xdg_state_home: None,
            home: None,
        }),
        page_out_after_start: false,
    }
}

/// Runs the agent until `stop` says so.
async fn run_agent_until(config: AgentConfig, stop: impl AsyncFnOnce()) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(run(config, run_options(), async {
        let _ = rx.await;
    }));
    stop().await;
    tx.send(()).unwrap();
    agent.await.unwrap().unwrap();
}

fn spooled_seqs(dir: &Path) -> Vec<u64> {
    let spool = Spool::open(&dir.join("spool"), &Default::default()).unwrap();
    spool
        .oldest(Kind::Report, usize::MAX, u64::MAX)
        .unwrap()
        .iter()
        .map(|e| {
            Report::from_json(&spool.read(e).unwrap().unwrap())
                .unwrap()
                .seq
        })
        .collect()
}

#[tokio::test]
async fn a_restarted_agent_resumes_its_spool_and_never_reuses_a_seq() {
    init();
    let mut hub = FakeHub::start().await;
    hub.stop().await;
    let tmp = tempfile::tempdir().unwrap();
    let config = run_config(&hub.url(), tmp.path());

    // First life: the hub is away, reports pile up in the spool.
    run_agent_until(config.clone(), async || {
        wait_until(Duration::from_secs(20), "three spooled reports", || {
            spooled_seqs(tmp.path()).len() >= 3
        })
        .await;
    })
    .await;
    let spooled = spooled_seqs(tmp.path());
    assert_eq!(spooled, (1..=spooled.len() as u64).collect::<Vec<_>>());
    let instance_id = std::fs::read_to_string(tmp.path().join("instance_id")).unwrap();

    // Second life: the hub is back; the spool drains and numbering continues past the
    // first life's reservation.
    hub.restart().await;
    hub.lock().interval_seconds = 1;
    run_agent_until(config, async || {
        hub.wait_for(
            Duration::from_secs(20),
            "backlog and new reports",
            |s: &HubState| s.stored.len() >= spooled.len() + 2,
        )
        .await;
    })
    .await;
    {
        let state = hub.lock();
        let mut old = Vec::new();
        let mut new = Vec::new();
        for doc in &state.stored {
            assert_eq!(
                doc["agent"]["instance_id"].as_str().unwrap(),
                instance_id.trim()
            );
            let seq = doc["seq"].as_u64().unwrap();
            if seq <= 1000 {
                old.push(seq)
            } else {
                new.push(seq)
            }
            // The hub sink's reports carry the spool's numbers.
            assert!(doc["spool"]["queued"].is_u64(), "{doc}");
        }
        old.sort_unstable();
        assert_eq!(old, spooled, "every spooled report delivered once");
        assert!(new.len() >= 2);
        assert!(new.windows(2).all(|w| w[0] < w[1]));
        assert!(new[0] > 1000, "{new:?}");
    }
    // The agent stopped: whatever it had in flight is either delivered or back in the spool,
    // and the spooled backlog is gone.
    let left = spooled_seqs(tmp.path());
    assert!(left.iter().all(|&s| s > 1000), "{left:?}");
}

#[tokio::test]
async fn the_run_loop_adopts_the_hubs_interval() {
    init();
    let hub = FakeHub::start().await;
    hub.lock().interval_seconds = 3;
    let tmp = tempfile::tempdir().unwrap();
    let config = run_config(&hub.url(), tmp.path());
    run_agent_until(config, async || {
        tokio::time::sleep(Duration::from_millis(4500)).await;
    })
    .await;
    // At the configured 1 s there would be five reports by now; at the hub's 3 s, the first
    // (which brought the new interval), perhaps one already due, and one 3 s later.
    let n = hub.lock().stored.len();
    assert!((2..=3).contains(&n), "{n} reports");
}

/// A CA, and a certificate for 127.0.0.1 it signed.
pub fn test_pki() -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "hostwatch test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![server.der().clone()], key)
    .unwrap();
    (
        ca_cert.pem(),
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}

#[tokio::test]
async fn https_with_a_private_ca_needs_its_ca_file() {
    init();
    let (ca_pem, acceptor) = test_pki();
    let hub = FakeHub::start_with(Some(acceptor)).await;
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();

    let mut config = hub_config(&hub.url());
    assert!(
        config
            .url
            .as_deref()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    config.ca_file = Some(ca_file);
    let envelope = HubClient::new(&config)
        .unwrap()
        .send(Endpoint::Reports, &report(1).to_json())
        .await
        .unwrap();
    assert!(envelope.is_some());
    assert_eq!(hub.lock().stored.len(), 1);

    // Without it, the system's trust store does not know the CA.
    config.ca_file = None;
    let error = HubClient::new(&config)
        .unwrap()
        .send(Endpoint::Reports, &report(2).to_json())
        .await
        .unwrap_err();
    assert!(error.keeps_documents());
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );

    // Nor does another CA.
    let (other_ca, _) = test_pki();
    let other = tmp.path().join("other.pem");
    std::fs::write(&other, other_ca).unwrap();
    config.ca_file = Some(other);
    let error = HubClient::new(&config)
        .unwrap()
        .send(Endpoint::Reports, &report(3).to_json())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("invalid peer certificate"),
        "{error}"
    );
    assert_eq!(hub.lock().stored.len(), 1);
}

#[tokio::test]
async fn the_token_is_in_no_log_line_and_no_error() {
    init();
    const SECRET: &str = "hw-redaction-canary-5f0c2b9e";
    let mut errors: Vec<String> = Vec::new();
    let mut note = |e: &dyn std::fmt::Debug, d: String| {
        errors.push(format!("{e:?}"));
        errors.push(d);
    };
    let tmp = tempfile::tempdir().unwrap();
    let secret_config = |url: &str| HubConfig {
        token: Secret::new(SECRET),
        ..hub_config(url)
    };

    // 401: the hub does not know the token.
    let hub = FakeHub::start().await;
    let client = HubClient::new(&secret_config(&hub.url())).unwrap();
    note(&client, format!("{client:?}"));
    let error = client
        .send(Endpoint::Reports, &report(1).to_json())
        .await
        .unwrap_err();
    assert_eq!(error, SendError::Unauthorized);
    note(&error, error.to_string());
    // The token did travel: in the Authorization header, where it belongs.
    assert_eq!(
        hub.lock().requests[0].authorization.as_deref(),
        Some(format!("Bearer {SECRET}").as_str())
    );
    // The sender task logs the outage.
    let spool = spool_in(&tmp.path().join("a"));
    let sink = HubSink::start(client.clone(), spool.clone(), fast_delivery());
    sink.offer(report(2));
    wait_until(Duration::from_secs(5), "a spooled report", || {
        spool.stats().queued == 1
    })
    .await;
    sink.shutdown().await;

    // Connection refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let refused = HubClient::new(&secret_config(&format!("http://{closed}"))).unwrap();
    let error = refused
        .send(Endpoint::Reports, &report(3).to_json())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("onnection refused"), "{error}");
    note(&error, error.to_string());
    let spool = spool_in(&tmp.path().join("b"));
    let sink = HubSink::start(refused, spool.clone(), fast_delivery());
    sink.offer(report(4));
    wait_until(Duration::from_secs(5), "a spooled report", || {
        spool.stats().queued == 1
    })
    .await;
    sink.shutdown().await;

    // A TLS failure.
    let (_, acceptor) = test_pki();
    let tls_hub = FakeHub::start_with(Some(acceptor)).await;
    let error = HubClient::new(&secret_config(&tls_hub.url()))
        .unwrap()
        .send(Endpoint::Reports, &report(5).to_json())
        .await
        .unwrap_err();
    note(&error, error.to_string());

    // The selftest and the job runner, each failing.
    let mut config = AgentConfig {
        hub: secret_config(&hub.url()),
        ..AgentConfig::default()
    };
    config.processes.enabled = false;
    config.agent.state_dir = Some(tmp.path().join("state"));
    note(&config, format!("{config:?}"));
    let error = selftest(&config).await.unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
    note(&error, error.to_string());
    let job = run_job(
        &config,
        JobOptions {
            job: "j".into(),
            schedule: None,
            timeout: None,
            argv: vec!["true".into()],
            passthrough: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(job.recorded, Recorded::Spooled);

    // A bad URL in the config, with the token in the environment.
    let mut bad = secret_config("http://192.0.2.10:8080");
    note(&bad, bad.validate().unwrap_err());
    bad.url = Some("https://user:pw@hub.example.net".into());
    let error = HubClient::new(&bad).unwrap_err();
    note(&error, error.to_string());

    let logs = logcapture::text();
    assert!(
        logs.contains("cannot deliver to the hub"),
        "the capture works: {logs}"
    );
    assert!(logs.contains("401"), "{logs}");
    assert!(logs.contains("onnection refused"), "{logs}");
    assert!(!logs.contains(SECRET), "the token leaked into the logs");
    for text in &errors {
        assert!(!text.contains(SECRET), "the token leaked: {text}");
    }
    // The whole spool too holds no token.
    for entry in walk(tmp.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "{}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn a_full_spool_drops_the_oldest_and_the_count_rides_in_the_stats() {
    init();
    let mut hub = FakeHub::start().await;
    hub.stop().await;
    let tmp = tempfile::tempdir().unwrap();
    let limits = hostwatch_agent::config::SpoolConfig {
        max_bytes: 1024 * 1024,
        max_age_seconds: 3600,
    };
    let spool = Arc::new(Spool::open(tmp.path(), &limits).unwrap());
    let sink = HubSink::start(client(&hub), spool.clone(), fast_delivery());
    // About 150 KiB each: seven fit in 1 MiB.
    for seq in 1..=10 {
        let mut r = report(seq);
        r.tiers = vec![Tier::Medium; 16_000];
        sink.offer(r);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_until(Duration::from_secs(10), "every report handled", || {
        let s = spool.stats();
        s.queued + s.dropped_total == 10
    })
    .await;
    let stats = sink.spool_stats();
    assert_eq!((stats.queued, stats.dropped_total), (7, 3));

    // The hub comes back: the seven newest arrive, oldest first; the dropped three never do.
    hub.restart().await;
    hub.wait_for(Duration::from_secs(10), "the backlog", |s| {
        s.stored.len() == 7
    })
    .await;
    assert_eq!(hub.stored_seqs(), (4..=10).collect::<Vec<_>>());
    wait_until(Duration::from_secs(5), "an empty spool", || {
        spool.stats().queued == 0
    })
    .await;
    assert_eq!(sink.spool_stats().dropped_total, 3, "dropped since start");
    sink.shutdown().await;
}
