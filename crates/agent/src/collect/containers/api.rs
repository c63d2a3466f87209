//! The Docker Engine API calls the containers collector makes, and the fields it reads from
//! their answers (Docker and Podman's Docker-compatible API answer alike).

use super::http::{self, HttpError, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The newest API version this client speaks: 1.52 added health to the list call.
pub const MAX_API_VERSION: (u32, u32) = (1, 52);
/// `one-shot=true` for stats (no wait for a second sample) exists from this version on.
const ONE_SHOT_SINCE: (u32, u32) = (1, 41);
/// The list call reports health from this version on; older ones need inspect.
pub const LIST_HEALTH_SINCE: (u32, u32) = (1, 52);

/// Why an API call failed (the socket is kept for the section error, which names it).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{source}")]
    Transport { socket: PathBuf, source: HttpError },
    #[error("{method} {path} answered HTTP {status}: {message}")]
    Status {
        socket: PathBuf,
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{path}: unreadable JSON: {message}")]
    Json {
        socket: PathBuf,
        path: String,
        message: String,
    },
}

impl ApiError {
    /// The container is gone (removed between the list and this call).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Status { status: 404, .. })
    }
}

/// A client for one daemon's socket, with the API version agreed on.
#[derive(Debug)]
pub struct DockerApi {
    socket: PathBuf,
    timeout: Duration,
    version: Option<(u32, u32)>,
    engine: Option<String>,
    negotiated: bool,
}

impl DockerApi {
    pub fn new(socket: PathBuf, timeout: Duration) -> DockerApi {
        DockerApi {
            socket,
            timeout,
            version: None,
            engine: None,
            negotiated: false,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The agreed version as `1.47`, when the daemon told its own.
    pub fn version(&self) -> Option<String> {
        self.version.map(|(a, b)| format!("{a}.{b}"))
    }

    /// `Docker Engine 27.3.1`, `Podman Engine 5.2.0`, when the daemon said.
    pub fn engine(&self) -> Option<&str> {
        self.engine.as_deref()
    }

    /// Whether the agreed version is at least `v`. Unknown (very old daemon): no.
    pub fn at_least(&self, v: (u32, u32)) -> bool {
        self.version.is_some_and(|have| have >= v)
    }

    /// Agrees on a version the way the Docker CLI does: the daemon's (from `/_ping`'s
    /// `Api-Version` header, else `/version`) when older than ours, else ours. Done once, and
    /// again after the daemon could not be reached (it may come back upgraded).
    pub fn negotiate(&mut self) -> Result<(), ApiError> {
        if self.negotiated {
            return Ok(());
        }
        let ping = self.call("GET", "/_ping".to_string())?;
        let mut daemon = ping.header("api-version").and_then(parse_version);
        // `/version` names the engine; older daemons without the ping header carry the
        // version only there.
        let version: VersionInfo = self.get_json("/version".to_string())?;
        daemon = daemon.or_else(|| version.api_version.as_deref().and_then(parse_version));
        self.engine = version.engine_name();
        self.version = daemon.map(|d| d.min(MAX_API_VERSION));
        self.negotiated = true;
        Ok(())
    }

    /// Every container, running or not.
    pub fn list(&mut self) -> Result<Vec<ListEntry>, ApiError> {
        self.get_json(self.versioned("/containers/json?all=1"))
    }

    pub fn inspect(&mut self, id: &str) -> Result<Inspect, ApiError> {
        self.get_json(self.versioned(&format!("/containers/{id}/json")))
    }

    /// One stats sample; `one-shot` where the daemon knows it, so it does not wait a second
    /// for a second sample to fill `precpu_stats` (the agent keeps its own previous sample).
    pub fn stats(&mut self, id: &str) -> Result<Stats, ApiError> {
        let query = if self.at_least(ONE_SHOT_SINCE) {
            "stream=false&one-shot=true"
        } else {
            "stream=false"
        };
        self.get_json(self.versioned(&format!("/containers/{id}/stats?{query}")))
    }

    /// Restarts a container, giving it `stop_timeout` to stop before it is killed.
    pub fn restart(&mut self, id: &str, stop_timeout: Duration) -> Result<(), ApiError> {
        let path = self.versioned(&format!(
            "/containers/{id}/restart?t={}",
            stop_timeout.as_secs()
        ));
        // The call returns when the container is up again: allow for the stop wait.
        let timeout = self.timeout + stop_timeout;
        let r = http::request(&self.socket, "POST", &path, timeout).map_err(|e| {
            self.transport_failed(&e);
            self.transport(e)
        })?;
        self.check("POST", &path, r).map(|_| ())
    }

    fn versioned(&self, path: &str) -> String {
        match self.version {
            Some((a, b)) => format!("/v{a}.{b}{path}"),
            None => path.to_string(),
        }
    }

    fn get_json<T: DeserializeOwned>(&mut self, path: String) -> Result<T, ApiError> {
        let r = self.call("GET", path.clone())?;
        let mut de = serde_json::Deserializer::from_slice(&r.body);
        serde_path_to_error::deserialize(&mut de).map_err(|e| ApiError::Json {
            socket: self.socket.clone(),
            path,
            message: if e.path().to_string() == "." {
                e.inner().to_string()
            } else {
                format!("at `{}`: {}", e.path(), e.inner())
            },
        })
    }

    fn call(&mut self, method: &'static str, path: String) -> Result<Response, ApiError> {
        let r = http::request(&self.socket, method, &path, self.timeout).map_err(|e| {
            self.transport_failed(&e);
            self.transport(e)
        })?;
        self.check(method, &path, r)
    }

    fn transport_failed(&mut self, e: &HttpError) {
        if matches!(e, HttpError::Connect(_)) {
            self.negotiated = false;
        }
    }

    fn transport(&self, source: HttpError) -> ApiError {
        ApiError::Transport {
            socket: self.socket.clone(),
            source,
        }
    }

    /// The response when it is a success; the daemon's `{"message": …}` otherwise.
    fn check(&self, method: &'static str, path: &str, r: Response) -> Result<Response, ApiError> {
        if (200..300).contains(&r.status) {
            return Ok(r);
        }
        #[derive(Deserialize)]
        struct Message {
            message: String,
        }
        let message = serde_json::from_slice::<Message>(&r.body)
            .map(|m| m.message)
            .unwrap_or_else(|_| {
                let text = String::from_utf8_lossy(&r.body);
                let text = text.trim();
                if text.is_empty() {
                    r.reason.clone()
                } else {
                    text.chars().take(200).collect()
                }
            });
        Err(ApiError::Status {
            socket: self.socket.clone(),
            method,
            path: path.to_string(),
            status: r.status,
            message,
        })
    }
}

/// `1.47` → (1, 47).
pub fn parse_version(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct VersionInfo {
    version: Option<String>,
    api_version: Option<String>,
    components: Vec<Component>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Component {
    name: String,
    version: String,
}

impl VersionInfo {
    fn engine_name(&self) -> Option<String> {
        // Docker names its `Engine` component; Podman names `Podman Engine`.
        if let Some(c) = self
            .components
            .iter()
            .find(|c| c.name.contains("Engine") && !c.version.is_empty())
        {
            return Some(if c.name.contains("Docker") || c.name.contains("Podman") {
                format!("{} {}", c.name, c.version)
            } else {
                format!("Docker {} {}", c.name, c.version)
            });
        }
        self.version.as_ref().map(|v| format!("Docker Engine {v}"))
    }
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListEntry {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    /// Absent before API 1.23; Docker's own docs example capitalises it.
    pub state: Option<String>,
    pub status: String,
    /// From API 1.52.
    pub health: Option<ListHealth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListHealth {
    pub status: String,
    pub failing_streak: u32,
}

/// What the collector reads of `GET /containers/{id}/json`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Inspect {
    pub id: String,
    pub name: String,
    pub restart_count: u32,
    pub state: InspectState,
    pub host_config: HostConfig,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InspectState {
    pub status: String,
    pub running: bool,
    pub restarting: bool,
    pub exit_code: i64,
    pub started_at: Option<String>,
    pub health: Option<Health>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    /// Oldest first; the daemon keeps the last five.
    pub log: Option<Vec<HealthLog>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthLog {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub restart_policy: Option<RestartPolicy>,
    /// The memory limit set on the container; 0 = none.
    pub memory: i64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
}

/// What the collector reads of `GET /containers/{id}/stats`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// When the daemon took the sample (RFC 3339; the zero time when it did not).
    pub read: Option<String>,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    pub blkio_stats: BlkioStats,
    pub networks: Option<HashMap<String, NetStats>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    /// Host CPU time in ns across all CPUs.
    pub system_cpu_usage: Option<u64>,
    pub online_cpus: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    /// Container CPU time in ns.
    pub total_usage: u64,
    /// cgroup v1 only.
    pub percpu_usage: Option<Vec<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    pub usage: Option<u64>,
    pub limit: Option<u64>,
    /// cgroup v1 (`total_inactive_file`, `hierarchical_memory_limit`…) or v2 (`inactive_file`,
    /// `anon`, `file`…) keys, as the kernel names them.
    pub stats: Option<HashMap<String, serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    /// cgroup v1 ops are `Read`/`Write`/`Sync`/`Async`/`Total`; v2 ones `read`/`write`.
    pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NetStats {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!(parse_version("1.47"), Some((1, 47)));
        assert_eq!(parse_version(" 1.9 "), Some((1, 9)));
        assert!(parse_version("1.9") < parse_version("1.41"));
        assert_eq!(parse_version("banana"), None);
        assert_eq!(parse_version("1."), None);
    }

    #[test]
    fn engine_names_come_from_components_else_the_version() {
        let docker: VersionInfo = serde_json::from_str(
            r#"{"Components":[{"Name":"Engine","Version":"27.3.1"}],"Version":"27.3.1"}"#,
        )
        .unwrap();
        assert_eq!(docker.engine_name().unwrap(), "Docker Engine 27.3.1");
        let podman: VersionInfo =
            serde_json::from_str(r#"{"Components":[{"Name":"Podman Engine","Version":"5.2.0"}]}"#)
                .unwrap();
        assert_eq!(podman.engine_name().unwrap(), "Podman Engine 5.2.0");
        let old: VersionInfo = serde_json::from_str(r#"{"Version":"1.10.1"}"#).unwrap();
        assert_eq!(old.engine_name().unwrap(), "Docker Engine 1.10.1");
    }
}
