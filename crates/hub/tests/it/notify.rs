//! Notifications end to end: the hub's dispatcher and test API against local servers that
//! speak each service's wire format and record every request.

use crate::harness::TestHub;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use hmac::{Hmac, KeyInit, Mac};
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::notice::{AlertNotice, NoticeState, Notifier, Severity};
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An answer: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, String);

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Answers to give in order; when empty, `default`.
    script: Arc<Mutex<VecDeque<Answer>>>,
    default: Arc<Mutex<Option<Answer>>>,
}

/// A local HTTP server that records requests and answers as scripted.
pub struct Recorder {
    pub addr: SocketAddr,
    shared: Shared,
}

impl Recorder {
    /// Answers 200 with `ok_body` unless scripted otherwise.
    pub async fn start(ok_body: &str) -> Recorder {
        let shared = Shared::default();
        *shared.default.lock().unwrap() = Some((200, vec![], ok_body.to_string()));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Recorder { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next answers, in order.
    pub fn script(&self, answers: Vec<Answer>) {
        self.shared.script.lock().unwrap().extend(answers);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived (a deadline only so a broken build fails
    /// instead of hanging; nothing is asserted about speed).
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {n} requests, got {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn record(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    s.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let answer = s
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or_else(|| s.default.lock().unwrap().clone())
        .unwrap();
    let mut response = axum::response::Response::new(axum::body::Body::from(answer.2));
    *response.status_mut() = StatusCode::from_u16(answer.0).unwrap();
    for (k, v) in answer.1 {
        response.headers_mut().insert(k, v.parse().unwrap());
    }
    response
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A hub config from the `[notify]` part of a TOML file; fast timing for tests.
pub fn config(notify_toml: &str) -> HubConfig {
    let text = format!("[notify]\n{notify_toml}");
    let mut table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let notify = table["notify"].as_table_mut().unwrap();
    for (key, value) in [
        ("group_wait", "150ms"),
        ("group_interval", "150ms"),
        ("retry_backoff", "20ms"),
        ("retry_backoff_max", "2s"),
        ("timeout", "5s"),
    ] {
        notify.entry(key).or_insert(value.into());
    }
    let config: HubConfig = toml::Value::Table(table).try_into().unwrap();
    config.validate().unwrap();
    config
}

pub fn notice(rule: &str, host: &str, severity: Severity, state: NoticeState) -> AlertNotice {
    AlertNotice {
        fingerprint: format!("{rule}/{host}"),
        rule: rule.into(),
        state,
        severity,
        host: Some(host.into()),
        host_tags: vec![],
        labels: Default::default(),
        summary: format!("{host}: {rule} ({})", severity.as_str()),
        value: Some(1.0),
        started_at: 1_795_000_000_000,
        resolved_at: (state == NoticeState::Resolved).then_some(1_795_000_600_000),
        url: None,
    }
}

fn firing(rule: &str, host: &str, severity: Severity) -> AlertNotice {
    notice(rule, host, severity, NoticeState::Firing)
}

/// An independent check of the webhook signature: HMAC-SHA256 over "<timestamp>.<body>".
fn verify_signature(key: &[u8], r: &Recorded) -> bool {
    let Some(ts) = r.header("x-hostwatch-timestamp") else {
        return false;
    };
    let Some(hex) = r
        .header("x-hostwatch-signature")
        .and_then(|s| s.strip_prefix("sha256="))
    else {
        return false;
    };
    let Ok(sig) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    mac.verify_slice(&sig).is_ok()
}

/// The delivery log (admin API) once it holds at least `n` entries.
async fn wait_log(hub: &TestHub, query: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = hub
            .get(
                &format!("/api/v1/notifications/deliveries{query}"),
                &hub.admin,
            )
            .await;
        assert_eq!(log.status, 200, "{}", log.text());
        let entries = log.json()["deliveries"].as_array().unwrap().clone();
        if entries.len() >= n {
            return entries;
        }
        assert!(Instant::now() < deadline, "{entries:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_hosts_down_is_one_message_per_channel_listing_all_twenty() {
    install_crypto();
    let telegram = Recorder::start(r#"{"ok":true,"result":{"message_id":1}}"#).await;
    let hook = Recorder::start("").await;
    let slack = Recorder::start("ok").await;
    let hub = TestHub::start(config(&format!(
        r#"group_wait = "400ms"
[[notify.channels]]
name = "phone"
type = "telegram"
bot_token = "123456:ABC-DEF1234ghIkl"
chat_id = "-1001234567890"
api_base = "{}"
[[notify.channels]]
name = "hook"
type = "webhook"
url = "{}"
hmac_key = "whsec-test-key"
[[notify.channels]]
name = "team"
type = "slack"
url = "{}"
"#,
        telegram.url(""),
        hook.url("/hooks/hostwatch"),
        slack.url("/services/T000/B000/XXXX")
    )))
    .await;
    for i in 0..20 {
        hub.hub.notify.alert(firing(
            "host_down",
            &format!("web-{i:02}"),
            Severity::Critical,
        ));
    }
    // A later, different alert: its message comes after the group's in every channel, so
    // seeing it proves nothing else was sent for the twenty.
    tokio::time::sleep(Duration::from_millis(600)).await;
    hub.hub
        .notify
        .alert(firing("disk_full", "db-1", Severity::Warning));

    let tg = telegram.wait_for(2).await;
    assert_eq!(tg[0].method, "POST");
    assert_eq!(tg[0].path, "/bot123456:ABC-DEF1234ghIkl/sendMessage");
    assert_eq!(tg[0].header("content-type"), Some("application/json"));
    let body = tg[0].json();
    assert_eq!(body["chat_id"], -1001234567890i64);
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("[FIRING:20] host_down critical"), "{text}");
    for i in 0..20 {
        assert!(text.contains(&format!("web-{i:02}: host_down")), "{text}");
    }
    assert!(tg[1].json()["text"].as_str().unwrap().contains("disk_full"));

    let hooks = hook.wait_for(2).await;
    let doc = hooks[0].json();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["kind"], "alerts");
    assert_eq!(doc["severity"], "critical");
    assert_eq!(doc["group"]["rule"], "host_down");
    let alerts = doc["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 20);
    assert_eq!(alerts[0]["fingerprint"], "host_down/web-00");
    assert_eq!(alerts[0]["state"], "firing");
    assert_eq!(alerts[19]["host"], "web-19");
    assert!(verify_signature(b"whsec-test-key", &hooks[0]), "signature");
    assert!(!verify_signature(b"another-key", &hooks[0]));
    // A tampered body or a replayed signature with another timestamp fails.
    let mut tampered = hooks[0].clone();
    tampered.body.push(b' ');
    assert!(!verify_signature(b"whsec-test-key", &tampered));
    let mut replayed = hooks[0].clone();
    replayed
        .headers
        .insert("x-hostwatch-timestamp", "1".parse().unwrap());
    assert!(!verify_signature(b"whsec-test-key", &replayed));
    let ts: i64 = hooks[0]
        .header("x-hostwatch-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!((ts - jiff::Timestamp::now().as_second()).abs() < 3600);
    assert_eq!(hooks[1].json()["alerts"][0]["rule"], "disk_full");

    let sl = slack.wait_for(2).await;
    assert_eq!(sl[0].path, "/services/T000/B000/XXXX");
    let text = sl[0].json()["text"].as_str().unwrap().to_string();
    assert!(
        text.starts_with("*[FIRING:20] host_down critical*\n"),
        "{text}"
    );
    assert_eq!(text.matches("host_down (critical)").count(), 20);

    // Each message is one entry in the delivery log (written once the request is answered).
    let entries = wait_log(&hub, "?channel=hook", 2).await;
    assert_eq!(entries.len(), 2);
    let first = entries.last().unwrap();
    assert_eq!(first["status"], "delivered");
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["kind"], "alerts");
    assert_eq!(first["alerts"].as_array().unwrap().len(), 20);
    assert!(first["error"].is_null());
    // Viewers do not see it.
    let viewer = hub
        .get("/api/v1/notifications/deliveries", &hub.viewer)
        .await;
    assert_eq!(viewer.status, 403);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_server_errors_not_client_errors_and_honours_retry_after() {
    install_crypto();
    let flaky = Recorder::start("").await;
    flaky.script(vec![(500, vec![], "boom".into())]);
    let refusing = Recorder::start("").await;
    refusing.script(vec![(400, vec![], r#"{"error":"bad payload"}"#.into())]);
    let limited = Recorder::start("").await;
    limited.script(vec![(
        429,
        vec![("retry-after", "1".into())],
        r#"{"message":"You are being rate limited.","retry_after":1.0,"global":false}"#.into(),
    )]);
    let hub = TestHub::start(config(&format!(
        r#"
[[notify.channels]]
name = "flaky"
type = "webhook"
url = "{}"
[[notify.channels]]
name = "refusing"
type = "mattermost"
url = "{}"
[[notify.channels]]
name = "limited"
type = "discord"
url = "{}"
"#,
        flaky.url("/f"),
        refusing.url("/hooks/abc"),
        limited.url("/api/webhooks/1/tok"),
    )))
    .await;
    hub.hub
        .notify
        .alert(firing("cpu_steal", "vm-1", Severity::Warning));

    let f = flaky.wait_for(2).await;
    assert_eq!(
        f[0].json()["alerts"],
        f[1].json()["alerts"],
        "the same message, again"
    );
    let l = limited.wait_for(2).await;
    assert!(
        l[1].at.duration_since(l[0].at) >= Duration::from_millis(950),
        "waited as Retry-After said"
    );
    refusing.wait_for(1).await;

    // The log has each outcome once the workers are done.
    let deadline = Instant::now() + Duration::from_secs(60);
    let entries = loop {
        let log = hub
            .get("/api/v1/notifications/deliveries", &hub.admin)
            .await;
        let entries = log.json()["deliveries"].as_array().unwrap().clone();
        if entries.len() >= 3 {
            break entries;
        }
        assert!(Instant::now() < deadline, "{entries:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let of = |name: &str| {
        entries
            .iter()
            .find(|e| e["channel"] == name)
            .unwrap_or_else(|| panic!("{name} in {entries:?}"))
            .clone()
    };
    assert_eq!(of("flaky")["status"], "delivered");
    assert_eq!(of("flaky")["attempts"], 2);
    assert_eq!(of("limited")["status"], "delivered");
    assert_eq!(of("limited")["attempts"], 2);
    let refused = of("refusing");
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["attempts"], 1);
    assert_eq!(
        refused["error"], r#"HTTP 400: {"error":"bad payload"}"#,
        "no retry on 400"
    );
    assert_eq!(refusing.requests().len(), 1);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn still_firing_alerts_repeat_then_resolve() {
    install_crypto();
    let hook = Recorder::start("").await;
    let hub = TestHub::start(config(&format!(
        r#"repeat_interval = "300ms"
[[notify.channels]]
name = "hook"
type = "webhook"
url = "{}"
"#,
        hook.url("/h")
    )))
    .await;
    hub.hub
        .notify
        .alert(firing("disk_full", "db-1", Severity::Warning));
    let got = hook.wait_for(2).await;
    assert_eq!(got[0].json()["repeat"], false);
    assert_eq!(got[1].json()["repeat"], true, "a reminder");
    assert!(
        got[1].json()["title"]
            .as_str()
            .unwrap()
            .starts_with("[STILL FIRING:1]")
    );

    hub.hub.notify.alert(notice(
        "disk_full",
        "db-1",
        Severity::Warning,
        NoticeState::Resolved,
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let resolved = loop {
        let found = hook
            .requests()
            .into_iter()
            .map(|r| r.json())
            .find(|d| d["title"].as_str().unwrap().starts_with("[RESOLVED"));
        if let Some(d) = found {
            break d;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(resolved["title"], "[RESOLVED:1] disk_full warning");
    assert_eq!(resolved["alerts"][0]["state"], "resolved");
    assert!(resolved["severity"].is_null(), "nothing fires");
    hub.stop().await;
}

/// `HH:MM` in UTC, `minutes` from now.
fn utc_clock(minutes: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(minutes);
    t.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%H:%M")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_let_only_critical_through_and_routing_picks_channels() {
    install_crypto();
    let night = Recorder::start("").await;
    let db = Recorder::start("").await;
    let rest = Recorder::start("").await;
    let hub = TestHub::start(config(&format!(
        r#"default_channels = ["rest"]
[[notify.channels]]
name = "night"
type = "webhook"
url = "{}"
quiet_hours = "{}-{}"
time_zone = "UTC"
[[notify.channels]]
name = "db"
type = "webhook"
url = "{}"
[[notify.channels]]
name = "rest"
type = "webhook"
url = "{}"
[[notify.routes]]
channels = ["night"]
host_tags = ["prod"]
continue = true
[[notify.routes]]
channels = ["db"]
matchers = ['team="db"', 'mount=~"/var.*"']
"#,
        night.url("/n"),
        utc_clock(-60),
        utc_clock(120),
        db.url("/d"),
        rest.url("/r"),
    )))
    .await;
    let mut warn = firing("disk_full", "web-1", Severity::Warning);
    warn.host_tags = vec!["prod".into()];
    let mut crit = firing("host_down", "web-2", Severity::Critical);
    crit.host_tags = vec!["prod".into(), "web".into()];
    let mut db_alert = firing("disk_full", "db-1", Severity::Warning);
    db_alert.labels.insert("team".into(), "db".into());
    db_alert
        .labels
        .insert("mount".into(), "/var/lib/postgresql".into());
    let mut not_db = db_alert.clone();
    not_db.fingerprint = "disk_full/db-1/boot".into();
    not_db.labels.insert("mount".into(), "/boot".into());
    not_db.rule = "boot_full".into();
    for n in [warn, crit, db_alert, not_db] {
        hub.hub.notify.alert(n);
    }
    // In quiet hours the warning waits; the critical alert goes through.
    let n = night.wait_for(1).await;
    let doc = n[0].json();
    assert_eq!(doc["group"]["rule"], "host_down");
    assert_eq!(doc["alerts"].as_array().unwrap().len(), 1);
    // db-1's /var alert went to the db channel only; its /boot alert to the default.
    let d = db.wait_for(1).await;
    assert_eq!(
        d[0].json()["alerts"][0]["labels"]["mount"],
        "/var/lib/postgresql"
    );
    let r = rest.wait_for(1).await;
    assert_eq!(r[0].json()["alerts"][0]["rule"], "boot_full");
    // A sentinel, critical: it arrives next at `night`, so the warning was held back.
    let mut sentinel = firing("temperature", "web-3", Severity::Critical);
    sentinel.host_tags = vec!["prod".into()];
    hub.hub.notify.alert(sentinel);
    let n = night.wait_for(2).await;
    assert_eq!(n[1].json()["group"]["rule"], "temperature");
    assert_eq!(db.requests().len(), 1);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_button_speaks_each_services_format() {
    install_crypto();
    let server = Recorder::start(r#"{"ok":true,"result":{}}"#).await;
    let hub = TestHub::start(config(&format!(
        r#"
[[notify.channels]]
name = "tg"
type = "telegram"
bot_token = "987:tok"
chat_id = "@ops_channel"
api_base = "{base}/"
[[notify.channels]]
name = "discord"
type = "discord"
url = "{base}/api/webhooks/42/dtok"
username = "hostwatch"
[[notify.channels]]
name = "mm"
type = "mattermost"
url = "{base}/hooks/mmkey"
username = "hostwatch"
[[notify.channels]]
name = "push"
type = "ntfy"
server = "{base}"
topic = "fleet-alerts"
token = "tk_ntfytoken"
[[notify.channels]]
name = "gotify"
type = "gotify"
server = "{base}/gotify"
token = "AgotifyAppTok"
[[notify.channels]]
name = "hook"
type = "webhook"
url = "{base}/plain"
"#,
        base = server.url("")
    )))
    .await;
    let test = |name: &'static str| {
        let hub = &hub;
        async move {
            let r = hub
                .post_json(&format!("/api/v1/notify/test/{name}"), &hub.admin, b"")
                .await;
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            assert_eq!(r.json()["delivered"], true);
            r.json()
        }
    };
    let answer = test("tg").await;
    assert_eq!(answer["type"], "telegram");
    assert_eq!(answer["attempts"], 1);
    let r = &server.wait_for(1).await[0];
    assert_eq!(r.path, "/bot987:tok/sendMessage");
    assert_eq!(r.json()["chat_id"], "@ops_channel");
    assert!(r.json()["text"].as_str().unwrap().contains("`tg`"));

    test("discord").await;
    let r = &server.wait_for(2).await[1];
    assert_eq!(r.path, "/api/webhooks/42/dtok");
    let d = r.json();
    assert!(
        d["content"]
            .as_str()
            .unwrap()
            .starts_with("**hostwatch test message**")
    );
    assert_eq!(d["username"], "hostwatch");
    assert_eq!(d["allowed_mentions"]["parse"], serde_json::json!([]));

    test("mm").await;
    let r = &server.wait_for(3).await[2];
    assert_eq!(r.path, "/hooks/mmkey");
    assert!(
        r.json()["text"]
            .as_str()
            .unwrap()
            .starts_with("#### hostwatch test message")
    );

    test("push").await;
    let r = &server.wait_for(4).await[3];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/fleet-alerts")
    );
    assert_eq!(r.header("title"), Some("hostwatch test message"));
    assert_eq!(r.header("priority"), Some("3"));
    assert_eq!(r.header("tags"), Some("test_tube"));
    assert_eq!(r.header("authorization"), Some("Bearer tk_ntfytoken"));
    assert!(r.text().contains("`push`"));

    test("gotify").await;
    let r = &server.wait_for(5).await[4];
    assert_eq!(r.path, "/gotify/message");
    assert_eq!(r.header("x-gotify-key"), Some("AgotifyAppTok"));
    let g = r.json();
    assert_eq!(g["title"], "hostwatch test message");
    assert_eq!(g["priority"], 2);
    assert_eq!(g["extras"]["client::display"]["contentType"], "text/plain");

    let answer = test("hook").await;
    assert_eq!(answer["type"], "webhook");
    let r = &server.wait_for(6).await[5];
    assert_eq!(r.json()["kind"], "test");
    assert!(
        r.header("x-hostwatch-signature").is_none(),
        "no key, no signature"
    );

    // Unknown channels are named; only admins may send.
    let r = hub
        .post_json("/api/v1/notify/test/nope", &hub.admin, b"")
        .await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("`nope`"));
    let r = hub
        .post_json("/api/v1/notify/test/tg", &hub.viewer, b"")
        .await;
    assert_eq!(r.status, 403);
    // Every test send is in the log.
    let log = hub
        .get("/api/v1/notifications/deliveries", &hub.admin)
        .await;
    let entries = log.json()["deliveries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 6);
    assert!(
        entries
            .iter()
            .all(|e| e["kind"] == "test" && e["status"] == "delivered")
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_and_gotify_carry_the_alerts_urgency() {
    install_crypto();
    let server = Recorder::start("{}").await;
    let hub = TestHub::start(config(&format!(
        r#"
[[notify.channels]]
name = "push"
type = "ntfy"
server = "{base}"
topic = "alerts"
[[notify.channels]]
name = "gotify"
type = "gotify"
server = "{base}"
token = "AppTok"
"#,
        base = server.url("")
    )))
    .await;
    hub.hub
        .notify
        .alert(firing("host_down", "web-1", Severity::Critical));
    let got = server.wait_for(2).await;
    let ntfy = got.iter().find(|r| r.path == "/alerts").unwrap();
    assert_eq!(ntfy.header("priority"), Some("5"));
    assert_eq!(ntfy.header("tags"), Some("rotating_light"));
    assert_eq!(ntfy.header("title"), Some("[FIRING:1] host_down critical"));
    assert!(ntfy.header("authorization").is_none());
    assert_eq!(ntfy.text(), "Firing (1):\n- web-1: host_down (critical)");
    let gotify = got.iter().find(|r| r.path == "/message").unwrap();
    assert_eq!(gotify.json()["priority"], 8);
    assert_eq!(
        gotify.json()["message"],
        "Firing (1):\n- web-1: host_down (critical)"
    );
    hub.stop().await;
}

/// The test binary's one log capture (crate::logcapture), as the notify tests use it.
pub struct Captured;

impl Captured {
    /// Every log line of this test binary from now on, at every level.
    pub fn global() -> Captured {
        crate::logcapture::install();
        Captured
    }

    pub fn text(&self) -> String {
        crate::logcapture::text()
    }
}

#[tokio::test]
async fn secrets_never_show_in_logs_errors_the_api_or_the_delivery_log() {
    install_crypto();
    const BOT: &str = "777000:AAH-bot-token-secret";
    const HOOK_TOKEN: &str = "T0001/B0002/hook-url-secret";
    const HMAC: &str = "hmac-key-secret";
    const NTFY: &str = "tk_ntfy_secret";
    let logs = Captured::global();
    // Services that refuse, one of them quoting the request path back (as some do).
    let telegram = Recorder::start("").await;
    telegram.script(vec![(
        401,
        vec![],
        r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.into(),
    )]);
    let echo = Recorder::start("").await;
    echo.script(vec![(
        404,
        vec![],
        format!("no such hook: /services/{HOOK_TOKEN}"),
    )]);
    // A closed port: a connection error, retried, that reqwest describes with the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let config = config(&format!(
        r#"retry_attempts = 2
[[notify.channels]]
name = "tg"
type = "telegram"
bot_token = "{BOT}"
chat_id = "1"
api_base = "{}"
[[notify.channels]]
name = "slack"
type = "slack"
url = "{}/services/{HOOK_TOKEN}"
[[notify.channels]]
name = "hook"
type = "webhook"
url = "http://{closed_addr}/in/{HOOK_TOKEN}"
hmac_key = "{HMAC}"
[[notify.channels]]
name = "push"
type = "ntfy"
server = "http://{closed_addr}"
topic = "t"
token = "{NTFY}"
"#,
        telegram.url(""),
        echo.url(""),
    ));
    let shown_config = format!("{config:?}");
    let hub = TestHub::start(config).await;
    let mut api_text = String::new();
    for name in ["tg", "slack", "hook", "push"] {
        let r = hub
            .post_json(&format!("/api/v1/notify/test/{name}"), &hub.admin, b"")
            .await;
        assert_eq!(r.status, 502, "{name} fails: {}", r.text());
        assert_eq!(r.json()["delivered"], false);
        api_text.push_str(&r.text());
    }
    assert!(api_text.contains("HTTP 401"), "{api_text}");
    assert!(api_text.contains("no such hook: /[redacted]"), "{api_text}");
    // The dispatcher's own path, with retries, logs too.
    hub.hub
        .notify
        .alert(firing("host_down", "web-1", Severity::Critical));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = hub
            .get("/api/v1/notifications/deliveries", &hub.admin)
            .await;
        if log.json()["deliveries"].as_array().unwrap().len() >= 8 {
            api_text.push_str(&log.text());
            break;
        }
        assert!(Instant::now() < deadline, "{}", log.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logged = logs.text();
    assert!(logged.contains("notification not delivered"), "{logged}");
    assert!(logged.contains("retrying"), "{logged}");
    for (what, text) in [
        ("logs", &logged),
        ("API", &api_text),
        ("config Debug", &shown_config),
    ] {
        for secret in [
            BOT,
            "AAH-bot-token-secret",
            HOOK_TOKEN,
            "hook-url-secret",
            HMAC,
            NTFY,
        ] {
            assert!(!text.contains(secret), "{secret} shown in {what}:\n{text}");
        }
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_goes_only_to_channels_that_take_it() {
    install_crypto();
    let yes = Recorder::start("").await;
    let no = Recorder::start("").await;
    let hub = TestHub::start(config(&format!(
        r#"
[[notify.channels]]
name = "weekly"
type = "webhook"
url = "{}"
[[notify.channels]]
name = "alerts-only"
type = "webhook"
url = "{}"
digest = false
"#,
        yes.url("/y"),
        no.url("/n")
    )))
    .await;
    hub.hub.notify.digest(hostwatch_hub::notice::DigestMessage {
        subject: "Weekly digest".into(),
        text: "all fine".into(),
        html: "<p>all fine</p>".into(),
    });
    // An alert after it reaches both: so `alerts-only` had its chance at the digest.
    hub.hub
        .notify
        .alert(firing("host_down", "web-1", Severity::Critical));
    let got = yes.wait_for(2).await;
    let digest = got[0].json();
    assert_eq!(digest["kind"], "digest");
    assert_eq!(digest["title"], "Weekly digest");
    assert_eq!(digest["text"], "all fine");
    assert_eq!(digest["html"], "<p>all fine</p>");
    assert_eq!(got[1].json()["kind"], "alerts");
    let other = no.wait_for(1).await;
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].json()["kind"], "alerts");
    hub.stop().await;
}
