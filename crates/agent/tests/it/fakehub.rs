//! A small hub for the agent's delivery tests: the transport of `docs/wire.md` over a real
//! socket on 127.0.0.1, optionally TLS. It records every request, stores documents once by
//! `(instance_id, seq)` / `run_id`, answers 200 with an envelope — or whatever status a test
//! scripts — and can go down (listener closed, connections cut) and come back on the same port.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hostwatch_proto::Envelope;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

pub const TOKEN: &str = "hw-test-token-7c1f93";

/// One request as the hub saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub content_encoding: Option<String>,
    pub authorization: Option<String>,
    /// The status answered.
    pub status: u16,
    /// Whether the body was a JSON array (a backfill batch).
    pub batch: bool,
    /// The documents in the body, decoded.
    pub documents: Vec<Value>,
    pub at: Instant,
}

#[derive(Debug, Default)]
pub struct HubState {
    pub requests: Vec<Request>,
    /// Documents stored, in the order they were stored.
    pub stored: Vec<Value>,
    seen: HashSet<String>,
    /// Statuses to answer next, before falling back to 200.
    pub script: VecDeque<u16>,
    /// Answer every request with this status (a hub that is up but failing).
    pub always: Option<u16>,
    /// `Retry-After` seconds sent with a 429.
    pub retry_after: Option<u64>,
    /// Answer 413 to a body (decoded) larger than this.
    pub max_body: Option<usize>,
    /// Answer 415 to zstd bodies.
    pub refuse_zstd: bool,
    /// `interval_seconds` in the envelope.
    pub interval_seconds: u32,
}

type Shared = Arc<Mutex<HubState>>;

pub struct FakeHub {
    pub addr: SocketAddr,
    pub state: Shared,
    tls: Option<TlsAcceptor>,
    server: Option<JoinHandle<()>>,
}

impl FakeHub {
    /// A plain-http hub on a free loopback port.
    pub async fn start() -> FakeHub {
        Self::start_with(None).await
    }

    pub async fn start_with(tls: Option<TlsAcceptor>) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Shared = Arc::new(Mutex::new(HubState {
            interval_seconds: 10,
            ..HubState::default()
        }));
        let mut hub = FakeHub {
            addr,
            state,
            tls,
            server: None,
        };
        hub.serve(listener);
        hub
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap()
    }

    /// Goes down: the listener closes (connections are refused) and open connections are cut.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Comes back on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let router = Router::new()
            .route("/api/v1/reports", post(ingest))
            .route("/api/v1/job-runs", post(ingest))
            .with_state(self.state.clone());
        let tls = self.tls.clone();
        self.server = Some(tokio::spawn(async move {
            // Dropped with this task: every connection dies with the server.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = TowerToHyperService::new(router.clone());
                let tls = tls.clone();
                connections.spawn(async move {
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// Seqs of the stored reports, in the order stored.
    pub fn stored_seqs(&self) -> Vec<u64> {
        self.lock()
            .stored
            .iter()
            .filter_map(|d| d.get("seq").and_then(Value::as_u64))
            .collect()
    }

    /// Waits until `done` holds of the state, or panics after `within`.
    pub async fn wait_for(&self, within: Duration, what: &str, done: impl Fn(&HubState) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if done(&self.lock()) {
                return;
            }
            if Instant::now() > deadline {
                let state = self.lock();
                panic!(
                    "timed out waiting for {what}; requests: {:?}",
                    state
                        .requests
                        .iter()
                        .map(|r| (r.path.as_str(), r.status, r.documents.len()))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn ingest(
    State(state): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_encoding = text(header::CONTENT_ENCODING);
    let authorization = text(header::AUTHORIZATION);
    let mut state = state.lock().unwrap();
    let mut record = |status: u16, batch: bool, documents: Vec<Value>| {
        state.requests.push(Request {
            path: uri.path().to_string(),
            content_encoding: content_encoding.clone(),
            authorization: authorization.clone(),
            status,
            batch,
            documents,
            at: Instant::now(),
        });
    };

    let decoded = match content_encoding.as_deref() {
        None | Some("identity") => body.to_vec(),
        Some("zstd") => match zstd::decode_all(&body[..]) {
            Ok(d) => d,
            Err(_) => {
                record(400, false, vec![]);
                return (StatusCode::BAD_REQUEST, r#"{"error":"bad zstd body"}"#).into_response();
            }
        },
        Some(_) => {
            record(415, false, vec![]);
            return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
        }
    };
    let (batch, documents) = match serde_json::from_slice::<Value>(&decoded) {
        Ok(Value::Array(docs)) => (true, docs),
        Ok(doc) => (false, vec![doc]),
        Err(e) => {
            record(400, false, vec![]);
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({ "error": e.to_string() })),
            )
                .into_response();
        }
    };

    let status = if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        401
    } else if state.refuse_zstd && content_encoding.as_deref() == Some("zstd") {
        415
    } else if state.max_body.is_some_and(|max| decoded.len() > max) {
        413
    } else if let Some(s) = state.script.pop_front() {
        s
    } else {
        state.always.unwrap_or(200)
    };
    let mut accepted = 0;
    let mut duplicates = 0;
    if status == 200 {
        for doc in &documents {
            let key = match doc.get("run_id") {
                Some(id) => format!("run:{id}"),
                None => format!("{}:{}", doc["agent"]["instance_id"], doc["seq"]),
            };
            if state.seen.insert(key) {
                state.stored.push(doc.clone());
                accepted += 1;
            } else {
                duplicates += 1;
            }
        }
    }
    let retry_after = state.retry_after;
    let interval_seconds = state.interval_seconds;
    state.requests.push(Request {
        path: uri.path().to_string(),
        content_encoding,
        authorization,
        status,
        batch,
        documents,
        at: Instant::now(),
    });
    drop(state);
    let code = StatusCode::from_u16(status).unwrap();
    match status {
        200 => axum::Json(Envelope {
            interval_seconds,
            server_time: Some(0),
            accepted,
            duplicates,
            commands: Vec::new(),
        })
        .into_response(),
        400 | 403 => (
            code,
            axum::Json(serde_json::json!({ "error": "at `sections`: scripted refusal" })),
        )
            .into_response(),
        429 => match retry_after {
            Some(s) => (code, [(header::RETRY_AFTER, s.to_string())]).into_response(),
            None => code.into_response(),
        },
        _ => code.into_response(),
    }
}
