//! The `ollama` section: a local Ollama server's models on disk (`GET /api/tags`), the ones
//! loaded (`GET /api/ps`), and for each model not loaded, whether loading it would leave less
//! than a floor of the host's available memory — the warning an operator wants before a 40 GB
//! model pushes the host into swap.
//!
//! The estimate is the model's size on disk against `MemAvailable`: what a CPU-only host needs.
//! On a host with a GPU, Ollama puts part of the model in video memory, so the warning errs on
//! the side of caution there. Medium tier by default: models change when someone pulls or
//! loads one, and the loaded list's expiry times are minutes apart.
//!
//! Nothing listening (connection refused) means no Ollama on this host: no section. A server
//! that answers late, with an HTTP error or with JSON we cannot read is a section error naming
//! the URL.

use super::http::{self, HttpError};
use super::{CollectError, Collector};
use crate::HostPaths;
use crate::paths::read_into;
use hostwatch_proto::sections::{Ollama, OllamaLoaded, OllamaModel};
use hostwatch_proto::{SectionData, Tier};
use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

const GIB: u64 = 1024 * 1024 * 1024;

/// `[ollama]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OllamaConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// The API's base URL: `http://host:port`, optionally with a path prefix.
    pub url: String,
    pub timeout_seconds: u64,
    /// Warn when loading a model would leave less than this much available memory.
    pub memory_floor_bytes: u64,
}

impl Default for OllamaConfig {
    fn default() -> Self {
        OllamaConfig {
            enabled: true,
            tier: None,
            url: "http://127.0.0.1:11434".into(),
            timeout_seconds: 5,
            memory_floor_bytes: 2 * GIB,
        }
    }
}

impl OllamaConfig {
    pub fn settings(&self) -> crate::config::CollectorSettings {
        crate::config::CollectorSettings {
            enabled: self.enabled,
            tier: self.tier,
        }
    }

    /// The first problem with the settings, naming its key.
    pub fn validate(&self) -> Result<(), String> {
        if self.enabled {
            Endpoint::parse(&self.url).map_err(|e| format!("key `ollama.url`: {e}"))?;
        }
        if !(1..=300).contains(&self.timeout_seconds) {
            return Err(format!(
                "key `ollama.timeout_seconds`: must be between 1 and 300, got {}",
                self.timeout_seconds
            ));
        }
        Ok(())
    }
}

/// Where the API is: the `Host` header, and the path prefix every request starts with.
#[derive(Debug, Clone, PartialEq)]
struct Endpoint {
    host: String,
    base_path: String,
}

impl Endpoint {
    /// `http://host[:port][/prefix]`; plain HTTP only (Ollama serves nothing else, and a TLS
    /// proxy in front of a local server is not what this collector is for).
    fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: expected http://HOST[:PORT]"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("{url:?}: expected http://HOST[:PORT]"));
        }
        let has_port = match authority.rfind(':') {
            Some(i) => !authority[i..].contains(']'),
            None => false,
        };
        let host = if has_port {
            let port = &authority[authority.rfind(':').unwrap_or(0) + 1..];
            port.parse::<u16>()
                .map_err(|_| format!("{url:?}: port {port:?} is not a number"))?;
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint {
            host,
            base_path: path.to_string(),
        })
    }

    fn resolve(&self) -> Result<SocketAddr, String> {
        self.host
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", self.host))
    }
}

/// `GET /api/tags`.
#[derive(Debug, Deserialize)]
struct Tags {
    #[serde(default)]
    models: Vec<TagModel>,
}

#[derive(Debug, Deserialize)]
struct TagModel {
    name: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    modified_at: Option<String>,
    #[serde(default)]
    details: Option<Details>,
}

#[derive(Debug, Default, Deserialize)]
struct Details {
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    parameter_size: Option<String>,
    #[serde(default)]
    quantization_level: Option<String>,
}

/// `GET /api/ps`.
#[derive(Debug, Deserialize)]
struct Ps {
    #[serde(default)]
    models: Vec<PsModel>,
}

#[derive(Debug, Deserialize)]
struct PsModel {
    name: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    size_vram: u64,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    context_length: Option<u64>,
}

/// Reports the `ollama` section.
#[derive(Debug)]
pub struct OllamaCollector {
    url: String,
    endpoint: Result<Endpoint, String>,
    timeout: Duration,
    floor: u64,
    meminfo: PathBuf,
    text: String,
}

impl OllamaCollector {
    pub fn new(config: &OllamaConfig, paths: &HostPaths) -> OllamaCollector {
        OllamaCollector {
            url: config.url.trim_end_matches('/').to_string(),
            endpoint: Endpoint::parse(&config.url),
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
            floor: config.memory_floor_bytes,
            meminfo: paths.proc("meminfo"),
            text: String::new(),
        }
    }

    /// An error naming the URL of the request that failed.
    fn error(&self, api: &str, what: impl std::fmt::Display) -> CollectError {
        CollectError::Command(format!("Ollama at {}{api}: {what}", self.url))
    }

    /// The body of `GET {url}{api}`; `Ok(None)` when nothing listens there.
    fn get(&self, endpoint: &Endpoint, api: &str) -> Result<Option<Vec<u8>>, CollectError> {
        let addr = endpoint.resolve().map_err(|e| self.error(api, e))?;
        let path = format!("{}{api}", endpoint.base_path);
        match http::request_tcp(addr, &endpoint.host, "GET", &path, self.timeout) {
            Ok(r) if r.status == 200 => Ok(Some(r.body)),
            Ok(r) => Err(self.error(api, format!("HTTP {} {}", r.status, r.reason))),
            Err(HttpError::Connect(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Ok(None)
            }
            Err(HttpError::Timeout(_)) => Err(CollectError::Timeout(format!(
                "Ollama at {}{api}: no answer within {:?}",
                self.url, self.timeout
            ))),
            Err(e) => Err(self.error(api, e)),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        api: &str,
        body: &[u8],
    ) -> Result<T, CollectError> {
        serde_json::from_slice(body).map_err(|e| {
            CollectError::parse(
                std::path::Path::new(&format!("{}{api}", self.url)),
                format!("not the JSON Ollama answers: {e}"),
            )
        })
    }

    pub fn read(&mut self) -> Result<Option<Ollama>, CollectError> {
        let endpoint = self.endpoint.clone().map_err(|e| self.error("", e))?;
        let Some(tags) = self.get(&endpoint, "/api/tags")? else {
            return Ok(None);
        };
        let tags: Tags = self.json("/api/tags", &tags)?;
        // Refused between the two calls: Ollama just stopped; report nothing loaded.
        let ps: Ps = match self.get(&endpoint, "/api/ps")? {
            Some(body) => self.json("/api/ps", &body)?,
            None => Ps { models: Vec::new() },
        };
        let loaded: Vec<OllamaLoaded> = ps
            .models
            .iter()
            .map(|m| OllamaLoaded {
                name: m.name.clone(),
                size_bytes: m.size,
                vram_bytes: m.size_vram,
                expires_ms: m.expires_at.as_deref().and_then(unix_ms),
                context_length: m.context_length,
            })
            .collect();
        let is_loaded = |t: &TagModel| {
            ps.models.iter().any(|p| {
                p.name == t.name || p.model.is_some() && p.model.as_deref() == t.model.as_deref()
            })
        };
        let mut models: Vec<OllamaModel> = tags
            .models
            .iter()
            .map(|t| {
                let details = t.details.as_ref();
                OllamaModel {
                    name: t.name.clone(),
                    size_bytes: t.size,
                    modified_ms: t.modified_at.as_deref().and_then(unix_ms),
                    family: details
                        .and_then(|d| d.family.clone())
                        .filter(|s| !s.is_empty()),
                    parameter_size: details
                        .and_then(|d| d.parameter_size.clone())
                        .filter(|s| !s.is_empty()),
                    quantization: details
                        .and_then(|d| d.quantization_level.clone())
                        .filter(|s| !s.is_empty()),
                    loaded: is_loaded(t),
                }
            })
            .collect();
        models.sort_by(|a, b| a.name.cmp(&b.name));
        let available = self.mem_available();
        let warnings = available
            .map(|avail| warnings(&models, avail, self.floor))
            .unwrap_or_default();
        Ok(Some(Ollama {
            url: self.url.clone(),
            models,
            loaded,
            memory_available_bytes: available,
            warnings,
        }))
    }

    /// `MemAvailable` from /proc/meminfo, in bytes.
    fn mem_available(&mut self) -> Option<u64> {
        if let Err(e) = read_into(&self.meminfo, &mut self.text) {
            tracing::debug!("ollama: no memory figure for the warnings: {e}");
            return None;
        }
        self.text.lines().find_map(|l| {
            let kb = l.strip_prefix("MemAvailable:")?.trim().strip_suffix("kB")?;
            kb.trim().parse::<u64>().ok().map(|kb| kb * 1024)
        })
    }
}

impl Collector for OllamaCollector {
    fn name(&self) -> &'static str {
        "ollama"
    }

    fn default_tier(&self) -> Tier {
        Tier::Medium
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.read()?.map(Into::into))
    }
}

/// For each model not loaded, a sentence when loading it would leave less than `floor` of
/// `available`, largest model first.
fn warnings(models: &[OllamaModel], available: u64, floor: u64) -> Vec<String> {
    let mut heavy: Vec<&OllamaModel> = models
        .iter()
        .filter(|m| !m.loaded && available.saturating_sub(m.size_bytes) < floor)
        .collect();
    heavy.sort_by(|a, b| b.size_bytes.cmp(&a.size_bytes).then(a.name.cmp(&b.name)));
    heavy
        .into_iter()
        .map(|m| {
            if m.size_bytes > available {
                format!(
                    "loading {} ({}) needs more than the {} of memory available",
                    m.name,
                    gib(m.size_bytes),
                    gib(available)
                )
            } else {
                format!(
                    "loading {} ({}) would leave only {} of memory available",
                    m.name,
                    gib(m.size_bytes),
                    gib(available - m.size_bytes)
                )
            }
        })
        .collect()
}

/// `39.9 GiB`, or MiB below one GiB.
fn gib(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// RFC 3339 with any offset → unix ms; Go's zero time and garbage → `None`.
fn unix_ms(text: &str) -> Option<i64> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    let ms = ts.as_millisecond();
    (ms > 0).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::tools::testing::fixture;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// A loopback HTTP server answering each request with the response `answer` picks for its
    /// request line; the request lines it saw come back on the channel.
    fn serve(
        answer: impl Fn(&str) -> Option<String> + Send + 'static,
    ) -> (String, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&buf).to_string();
                let line = request.lines().next().unwrap_or_default().to_string();
                let _ = tx.send(request);
                match answer(&line) {
                    Some(response) => {
                        let _ = stream.write_all(response.as_bytes());
                    }
                    // Say nothing and hold the connection until the client gives up.
                    None => std::thread::sleep(Duration::from_secs(3)),
                }
            }
        });
        (url, rx)
    }

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn recorded(name: &str) -> String {
        std::fs::read_to_string(fixture(&format!("ollama/{name}"))).unwrap()
    }

    /// A /proc with the given MemAvailable.
    fn meminfo(available_kb: u64) -> (tempfile::TempDir, HostPaths) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::write(
            dir.path().join("proc/meminfo"),
            format!(
                "MemTotal:       16337000 kB\nMemFree:         1000000 kB\n\
                 MemAvailable:   {available_kb} kB\nBuffers:          100000 kB\n"
            ),
        )
        .unwrap();
        let paths = HostPaths::under(dir.path());
        (dir, paths)
    }

    fn collector(url: &str, paths: &HostPaths) -> OllamaCollector {
        OllamaCollector::new(
            &OllamaConfig {
                url: url.into(),
                timeout_seconds: 1,
                ..OllamaConfig::default()
            },
            paths,
        )
    }

    #[test]
    fn models_on_disk_loaded_ones_and_the_memory_warning() {
        let (url, requests) = serve(|line| {
            if line.starts_with("GET /api/tags ") {
                Some(ok(&recorded("api-tags_doc-example.json")))
            } else if line.starts_with("GET /api/ps ") {
                Some(ok(&recorded("api-ps_doc-example.json")))
            } else {
                Some("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into())
            }
        });
        // 6 GiB available: deepseek-r1 (4.4 GiB) would leave 1.6 GiB, under the 2 GiB floor;
        // llama3.2 (1.9 GiB) would leave 4.1 GiB.
        let (_dir, paths) = meminfo(6 * 1024 * 1024);
        let o = collector(&url, &paths)
            .read()
            .unwrap()
            .expect("an ollama section");
        assert_eq!(o.url, url);
        assert_eq!(o.models.len(), 2);
        let deepseek = &o.models[0];
        assert_eq!(deepseek.name, "deepseek-r1:latest");
        assert_eq!(deepseek.size_bytes, 4_683_075_271);
        // 2025-05-10T08:06:48.639712648-07:00
        assert_eq!(deepseek.modified_ms, Some(1_746_889_608_639));
        assert_eq!(deepseek.family.as_deref(), Some("qwen2"));
        assert_eq!(deepseek.parameter_size.as_deref(), Some("7.6B"));
        assert_eq!(deepseek.quantization.as_deref(), Some("Q4_K_M"));
        assert!(!deepseek.loaded);
        assert_eq!(o.loaded.len(), 1);
        let mistral = &o.loaded[0];
        assert_eq!(mistral.name, "mistral:latest");
        assert_eq!(
            (mistral.size_bytes, mistral.vram_bytes),
            (5_137_025_024, 5_137_025_024)
        );
        // 2024-06-04T14:38:31.83753-07:00
        assert_eq!(mistral.expires_ms, Some(1_717_537_111_837));
        assert_eq!(o.memory_available_bytes, Some(6 * GIB));
        assert_eq!(
            o.warnings,
            vec![
                "loading deepseek-r1:latest (4.4 GiB) would leave only 1.6 GiB of memory available"
                    .to_string()
            ]
        );
        let first = requests.recv().unwrap();
        assert!(first.starts_with("GET /api/tags HTTP/1.1\r\n"), "{first}");
        assert!(first.contains(&format!("Host: {}", &url[7..])), "{first}");
        assert!(requests.recv().unwrap().starts_with("GET /api/ps "));
    }

    #[test]
    fn a_loaded_model_gets_no_warning_and_too_big_says_so() {
        let (url, _requests) = serve(|line| {
            Some(if line.starts_with("GET /api/tags ") {
                ok(&recorded("api-tags_openapi-example.json"))
            } else {
                ok(&recorded("api-ps_openapi-example_partial-offload.json"))
            })
        });
        let (_dir, paths) = meminfo(1024 * 1024);
        let o = collector(&url, &paths).read().unwrap().unwrap();
        assert!(o.models[0].loaded, "gemma4 is in /api/ps");
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
        assert_eq!(o.loaded[0].vram_bytes, 5_333_539_264);
        assert_eq!(o.loaded[0].context_length, Some(4096));

        let models = vec![OllamaModel {
            name: "llama3:70b".into(),
            size_bytes: 42_842_185_318,
            ..OllamaModel::default()
        }];
        assert_eq!(
            warnings(&models, 12 * GIB, 2 * GIB),
            vec!["loading llama3:70b (39.9 GiB) needs more than the 12.0 GiB of memory available"]
        );
        assert_eq!(
            warnings(&models, 41 * GIB, 2 * GIB),
            vec!["loading llama3:70b (39.9 GiB) would leave only 1.1 GiB of memory available"]
        );
        assert!(warnings(&models, 64 * GIB, 2 * GIB).is_empty());
    }

    #[test]
    fn nothing_listening_means_no_section() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (_dir, paths) = meminfo(1);
        let mut c = collector(&format!("http://127.0.0.1:{port}"), &paths);
        assert!(c.collect().unwrap().is_none());
    }

    #[test]
    fn http_errors_garbage_and_silence_name_the_url() {
        let (_dir, paths) = meminfo(1);
        let (url, _r) = serve(|_| {
            Some("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".into())
        });
        let err = collector(&url, &paths).read().unwrap_err().to_string();
        assert_eq!(
            err,
            format!("Ollama at {url}/api/tags: HTTP 500 Internal Server Error")
        );

        let (url, _r) = serve(|_| Some(ok("<html>a proxy login page</html>")));
        let err = collector(&url, &paths).read().unwrap_err();
        assert!(matches!(err, CollectError::Parse { .. }));
        let msg = err.to_string();
        assert!(msg.contains(&format!("{url}/api/tags")), "{msg}");
        assert!(msg.contains("not the JSON Ollama answers"), "{msg}");

        let (url, _r) = serve(|_| None);
        let err = collector(&url, &paths).read().unwrap_err();
        assert!(matches!(err, CollectError::Timeout(_)), "{err}");
        assert!(
            err.to_string().contains(&format!("{url}/api/tags")),
            "{err}"
        );
    }

    #[test]
    fn a_path_prefix_is_kept_and_bad_urls_are_config_errors() {
        let (url, requests) = serve(|_| Some(ok(r#"{"models":[]}"#)));
        let (_dir, paths) = meminfo(1);
        let o = collector(&format!("{url}/ollama/"), &paths)
            .read()
            .unwrap()
            .unwrap();
        assert!(o.models.is_empty() && o.warnings.is_empty());
        assert!(
            requests
                .recv()
                .unwrap()
                .starts_with("GET /ollama/api/tags ")
        );

        for (bad, why) in [
            ("https://127.0.0.1:11434", "expected http://"),
            ("127.0.0.1:11434", "expected http://"),
            ("http://", "expected http://"),
            ("http://127.0.0.1:port", "not a number"),
        ] {
            let config = OllamaConfig {
                url: bad.into(),
                ..OllamaConfig::default()
            };
            let err = config.validate().unwrap_err();
            assert!(err.starts_with("key `ollama.url`"), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!(
            Endpoint::parse("http://[::1]:11434").unwrap().host,
            "[::1]:11434"
        );
        assert_eq!(
            Endpoint::parse("http://localhost").unwrap().host,
            "localhost:80"
        );
        assert!(OllamaConfig::default().validate().is_ok());
    }
}
