//! A hub on a free loopback port with its own data directory, and a minimal HTTP client.

use hostwatch_hub::config::HubConfig;
use hostwatch_hub::store::{ApiClient, Role, SqliteStore, Store};
use hostwatch_hub::{Hub, enrol};
use hostwatch_proto::Report;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct TestHub {
    pub addr: SocketAddr,
    pub hub: Arc<Hub<SqliteStore>>,
    pub dir: tempfile::TempDir,
    pub admin: String,
    pub viewer: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestHub {
    pub async fn start(config: HubConfig) -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(config, dir).await
    }

    pub async fn start_in(config: HubConfig, dir: tempfile::TempDir) -> TestHub {
        let store = SqliteStore::open(dir.path()).unwrap();
        Self::serve(Hub::new(config, store), dir).await
    }

    /// A hub whose alert notices go to `notifier`.
    pub async fn start_notifying(
        config: HubConfig,
        notifier: Arc<dyn hostwatch_hub::notice::Notifier>,
    ) -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let hub = Hub::with_alerting(
            config,
            store,
            notifier,
            Arc::new(hostwatch_hub::alert::NoProjection),
        );
        Self::serve(hub, dir).await
    }

    async fn serve(hub: Arc<Hub<SqliteStore>>, dir: tempfile::TempDir) -> TestHub {
        // Unique names, so a hub restarted on the same data directory can mint its own.
        static STARTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let admin = token_for(&hub, &format!("admin-{n}"), Role::Admin).await;
        let viewer = token_for(&hub, &format!("viewer-{n}"), Role::Viewer).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(hostwatch_hub::serve::serve(hub.clone(), listener, async {
            let _ = stopped.await;
        }));
        TestHub {
            addr,
            hub,
            dir,
            admin,
            viewer,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Enrols a host; returns its token.
    pub async fn enrol(&self, name: &str) -> String {
        let e = enrol::add_host(&self.hub.store, name, &[], "http://127.0.0.1", 0)
            .await
            .unwrap();
        e.token.expose().to_string()
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        self.dir
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.addr, method, path, headers, body).await
    }

    /// POSTs JSON with a bearer token.
    pub async fn post_json(&self, path: &str, token: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {token}");
        self.request(
            "POST",
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body,
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        let auth = format!("Bearer {token}");
        self.request("GET", path, &[("Authorization", &auth)], b"")
            .await
    }

    /// How many reports the store holds for `host`.
    pub async fn stored_reports(&self, host: &str) -> usize {
        let h = self.hub.store.host(host).await.unwrap().unwrap();
        self.hub
            .store
            .reports_between(h.id, i64::MIN, i64::MAX)
            .await
            .unwrap()
            .len()
    }
}

async fn token_for(hub: &Hub<SqliteStore>, name: &str, role: Role) -> String {
    let client = ApiClient {
        name: name.into(),
        role,
    };
    enrol::add_api_client(&hub.store, &client, 0)
        .await
        .unwrap()
        .expose()
        .to_string()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request with `Connection: close`; enough for tests, no client library needed.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413, 401) before reading the whole body and close; that is fine.
    let _ = s.write_all(body).await;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw).await;
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 4 + size..];
    }
    out
}

/// A realistic report for `host`: the golden full fixture, renamed, with its own identity.
pub fn report(host: &str, instance: &str, seq: u64) -> Report {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../proto/tests/fixtures/report-v1-full.json"
    );
    let mut r = Report::from_json(&std::fs::read(path).unwrap()).unwrap();
    r.host_id = host.to_string();
    r.agent.instance_id = instance.to_string();
    r.seq = seq;
    r.collected_at = 1_795_339_937_104 + seq as i64 * 10_000;
    r
}
