//! A fake Docker daemon: a real Unix socket in a temp dir, a minimal HTTP/1.1 responder, and
//! recorded Docker API responses. It records every request so tests can assert what the agent
//! asked for (and that a restart was POSTed exactly once).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A fixture from `tests/fixtures/containers/`.
pub fn fixture(rel: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/containers/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture as JSON, to compose cases no single recording shows.
pub fn fixture_json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(rel)).unwrap()
}

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Sent with `Transfer-Encoding: chunked` in small chunks, as dockerd does for big bodies.
    pub chunked: bool,
}

impl Reply {
    pub fn json(body: impl Into<String>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
            chunked: true,
        }
    }

    pub fn status(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            ..Reply::json(body)
        }
    }

    /// `/_ping` as dockerd answers it; `api_version` in the header when given.
    pub fn ping(api_version: Option<&str>) -> Reply {
        let mut headers = vec![("Content-Type".into(), "text/plain; charset=utf-8".into())];
        if let Some(v) = api_version {
            headers.push(("Api-Version".into(), v.into()));
        }
        Reply {
            status: 200,
            headers,
            body: "OK".into(),
            chunked: false,
        }
    }
}

/// Canned replies by (method, unversioned path).
type Routes = Mutex<HashMap<(String, String), Vec<Reply>>>;

/// The daemon: routes by method and path with the `/vX.Y` prefix and the query removed. A
/// route with several replies answers them in turn, then repeats the last.
#[derive(Debug, Clone)]
pub struct FakeDocker {
    pub socket: PathBuf,
    routes: Arc<Routes>,
    requests: Arc<Mutex<Vec<String>>>,
    _dir: Arc<tempfile::TempDir>,
}

impl FakeDocker {
    pub fn start() -> FakeDocker {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let fake = FakeDocker {
            socket,
            routes: Arc::default(),
            requests: Arc::default(),
            _dir: Arc::new(dir),
        };
        let (routes, requests) = (fake.routes.clone(), fake.requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (routes, requests) = (routes.clone(), requests.clone());
                std::thread::spawn(move || serve(stream, &routes, &requests));
            }
        });
        fake
    }

    /// Answers `method path` (unversioned, no query) with `replies` in turn.
    pub fn route(&self, method: &str, path: &str, replies: Vec<Reply>) -> &Self {
        self.routes
            .lock()
            .unwrap()
            .insert((method.to_string(), path.to_string()), replies);
        self
    }

    /// Every request so far as `METHOD /path?query`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests whose line contains `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.contains(needle))
            .count()
    }

    pub fn clear_requests(&self) {
        self.requests.lock().unwrap().clear();
    }
}

fn unversioned(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    match rest.find('/') {
        Some(i) if rest[..i].chars().all(|c| c.is_ascii_digit() || c == '.') => &rest[i..],
        _ => path,
    }
}

fn serve(stream: std::os::unix::net::UnixStream, routes: &Routes, requests: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    requests.lock().unwrap().push(format!("{method} {target}"));
    let path = unversioned(target.split('?').next().unwrap_or("")).to_string();
    let reply = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(&(method.clone(), path.clone())) {
            Some(replies) if replies.len() > 1 => replies.remove(0),
            Some(replies) if !replies.is_empty() => replies[0].clone(),
            _ => Reply::status(404, format!(r#"{{"message":"page not found: {path}"}}"#)),
        }
    };
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {} X\r\nServer: Docker/27.3.1 (linux)\r\n",
        reply.status
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if reply.chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        let _ = out.write_all(head.as_bytes());
        for chunk in reply.body.as_bytes().chunks(1000) {
            let _ = out.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
            let _ = out.write_all(chunk);
            let _ = out.write_all(b"\r\n");
        }
        let _ = out.write_all(b"0\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(reply.body.as_bytes());
    }
}

/// A host tree with only `/proc/meminfo`, for the "limit = host memory" check.
pub fn host_with_memory(dir: &Path, mem_total_kib: u64) -> hostwatch_agent::HostPaths {
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    std::fs::write(
        dir.join("proc/meminfo"),
        format!("MemTotal:       {mem_total_kib} kB\nMemFree:         1000 kB\n"),
    )
    .unwrap();
    hostwatch_agent::HostPaths::under(dir)
}
