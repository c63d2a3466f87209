//! The `proxmox` section: this PVE node's guests (QEMU and LXC) and storages, from one
//! `pvesh get /cluster/resources --output-format json`.
//!
//! `/cluster/resources` lists the whole cluster; each node's agent reports its own node's
//! guests and storages (the node name defaults to the short hostname, as PVE names nodes), so
//! a cluster's guests are reported once each. Network and disk I/O rates come from the
//! guests' counters between two reads. Medium tier by default: `pvesh` is a Perl program
//! that costs about a second of CPU per call, too much for every 10 s.
//!
//! With `[proxmox] api_url`, `token_id` and `token_secret` (a read-only API token, e.g. with
//! the `PVEAuditor` role) the same list comes from `GET {api_url}/api2/json/cluster/resources`
//! instead: for an agent that does not run as root on the node, or runs beside it. The token
//! secret is a [`Secret`]: it travels only in the `Authorization` header, marked sensitive, and
//! no error or log line names it.

use super::tools::{ToolPath, garbage, run_ok};
use super::{CollectError, Collector};
use crate::HostPaths;
use crate::paths::read_trimmed;
use crate::runner::{Command, Runner};
use hostwatch_proto::sections::{Proxmox, PveGuest, PveGuestRates, PveStorage};
use hostwatch_proto::{Secret, SectionData, Tier};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `[proxmox]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxmoxConfig {
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// `pvesh`: a name looked up in `PATH`, or an absolute path.
    pub command: String,
    /// This node's name in the cluster; default: the short hostname.
    pub node: Option<String>,
    pub timeout_seconds: u64,
    /// The PVE API to read instead of running `pvesh`, e.g. `https://pve1:8006`.
    pub api_url: Option<String>,
    /// The API token's id, `user@realm!tokenname`.
    pub token_id: Option<String>,
    pub token_secret: Option<Secret>,
    /// CA certificates (PEM) to trust for the API instead of the system's: PVE's own CA,
    /// `/etc/pve/pve-root-ca.pem`.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (PVE's self-signed default). Off unless asked for.
    pub insecure_skip_verify: bool,
}

impl Default for ProxmoxConfig {
    fn default() -> Self {
        ProxmoxConfig {
            enabled: true,
            tier: None,
            command: "pvesh".into(),
            node: None,
            timeout_seconds: 30,
            api_url: None,
            token_id: None,
            token_secret: None,
            ca_file: None,
            insecure_skip_verify: false,
        }
    }
}

impl ProxmoxConfig {
    pub fn settings(&self) -> crate::config::CollectorSettings {
        crate::config::CollectorSettings {
            enabled: self.enabled,
            tier: self.tier,
        }
    }

    /// The first problem with the API settings, naming its key.
    pub fn validate(&self) -> Result<(), String> {
        let Some(url) = &self.api_url else {
            return Ok(());
        };
        let authority = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .map(|rest| rest.split('/').next().unwrap_or_default());
        // Never echo a URL that holds credentials.
        if authority.is_some_and(|a| a.contains('@')) {
            return Err(
                "key `proxmox.api_url`: must not hold credentials; use token_id and token_secret"
                    .into(),
            );
        }
        if authority.is_none_or(str::is_empty) {
            return Err(format!(
                "key `proxmox.api_url`: {url:?}: expected https://HOST:8006"
            ));
        }
        if !self.token_id.as_deref().is_some_and(|t| t.contains('!')) {
            return Err(
                "key `proxmox.token_id`: the API needs a token id like `hostwatch@pve!monitor`"
                    .into(),
            );
        }
        if self.token_secret.as_ref().is_none_or(Secret::is_empty) {
            return Err("key `proxmox.token_secret`: the API needs the token's secret".into());
        }
        if let Some(ca) = &self.ca_file {
            crate::sink::hub::read_ca_file(ca)
                .map_err(|e| format!("key `proxmox.ca_file`: {e}"))?;
        }
        Ok(())
    }
}

/// The PVE API, read with an API token.
#[derive(Debug)]
struct ApiSource {
    /// `{api_url}/api2/json/cluster/resources`.
    url: String,
    /// `PVEAPIToken=<id>=<secret>`.
    authorization: Secret,
    ca_file: Option<PathBuf>,
    insecure: bool,
    timeout: Duration,
    /// Built on first use (it needs the process' TLS provider, installed in `main`).
    client: Option<reqwest::Client>,
}

impl ApiSource {
    fn new(config: &ProxmoxConfig, api_url: &str) -> ApiSource {
        ApiSource {
            url: format!(
                "{}/api2/json/cluster/resources",
                api_url.trim_end_matches('/')
            ),
            authorization: Secret::new(format!(
                "PVEAPIToken={}={}",
                config.token_id.as_deref().unwrap_or_default(),
                config
                    .token_secret
                    .as_ref()
                    .map(Secret::expose)
                    .unwrap_or_default()
            )),
            ca_file: config.ca_file.clone(),
            insecure: config.insecure_skip_verify,
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
            client: None,
        }
    }

    fn error(&self, what: impl std::fmt::Display) -> CollectError {
        CollectError::Command(format!("Proxmox API {}: {what}", self.url))
    }

    fn client(&mut self) -> Result<reqwest::Client, CollectError> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(self.error("no TLS crypto provider installed"));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("hostwatch/", env!("CARGO_PKG_VERSION")))
            .timeout(self.timeout)
            // The token must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            // Each read may run on a different runtime (see `block_on`): no pooled connections.
            .pool_max_idle_per_host(0)
            .tls_danger_accept_invalid_certs(self.insecure);
        if let Some(ca) = &self.ca_file {
            let certs = crate::sink::hub::read_ca_file(ca)
                .map_err(|e| self.error(format!("ca_file {e}")))?;
            builder = builder.tls_certs_only(certs);
        }
        let client = builder.build().map_err(|e| self.error(error_chain(&e)))?;
        self.client = Some(client.clone());
        Ok(client)
    }

    fn fetch(&mut self) -> Result<Value, CollectError> {
        let client = self.client()?;
        let mut auth = reqwest::header::HeaderValue::from_str(self.authorization.expose())
            .map_err(|_| self.error("the token id or secret holds characters a header cannot"))?;
        auth.set_sensitive(true);
        let request = client
            .get(&self.url)
            .header(reqwest::header::AUTHORIZATION, auth);
        let result = block_on(async move {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        })
        .map_err(|e| self.error(e))?;
        let (status, body) = result.map_err(|e| {
            if e.is_timeout() {
                CollectError::Timeout(format!(
                    "Proxmox API {}: no answer within {:?}",
                    self.url, self.timeout
                ))
            } else {
                self.error(error_chain(&e))
            }
        })?;
        if !status.is_success() {
            return Err(self.error(format!("HTTP {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| {
            CollectError::parse(std::path::Path::new(&self.url), format!("not JSON: {e}"))
        })
    }
}

/// Runs `future` to its end from the synchronous collection thread, the way the runner's
/// `run_blocking` does: on the agent's runtime when this thread is in its context, else on a
/// small runtime of its own.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(future)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|runtime| runtime.block_on(future))
            .map_err(|e| format!("starting a runtime: {e}")),
    }
}

/// An error with its causes, `a: b: c` (reqwest's own text stops at the first).
fn error_chain(error: &dyn std::error::Error) -> String {
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

/// A guest's counters at one read.
#[derive(Debug, Clone, Copy)]
struct Counters {
    at: Instant,
    values: [u64; 4],
}

/// Reports the `proxmox` section.
#[derive(Debug)]
pub struct ProxmoxCollector {
    command: String,
    node: Option<String>,
    paths: HostPaths,
    tools: ToolPath,
    runner: Runner,
    timeout: Duration,
    previous: HashMap<u64, Counters>,
    /// Set when `[proxmox] api_url` is: read the API instead of running `pvesh`.
    api: Option<ApiSource>,
}

impl ProxmoxCollector {
    pub fn new(
        config: &ProxmoxConfig,
        paths: HostPaths,
        runner: Runner,
        tools: ToolPath,
    ) -> ProxmoxCollector {
        ProxmoxCollector {
            command: config.command.clone(),
            node: config.node.clone(),
            paths,
            tools,
            runner,
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
            previous: HashMap::new(),
            api: config
                .api_url
                .as_deref()
                .map(|url| ApiSource::new(config, url)),
        }
    }

    fn node(&self) -> String {
        self.node.clone().unwrap_or_else(|| {
            read_trimmed(&self.paths.proc("sys/kernel/hostname"))
                .map(|h| h.split('.').next().unwrap_or_default().to_string())
                .unwrap_or_default()
        })
    }

    fn read(&mut self, now: Instant) -> Result<Option<Proxmox>, CollectError> {
        if let Some(api) = &mut self.api {
            let value = api.fetch()?;
            let node = self.node();
            let api = self.api.as_ref().map(|a| a.url.clone()).unwrap_or_default();
            let mut section = parse_resources(&value, &node)
                .map_err(|m| CollectError::parse(std::path::Path::new(&api), m))?;
            self.rates(&mut section.guests, now);
            return Ok(Some(section));
        }
        let Some(pvesh) = self.tools.locate(&self.command) else {
            return Ok(None);
        };
        let cmd =
            Command::new(&pvesh).args(["get", "/cluster/resources", "--output-format", "json"]);
        let output = run_ok(&self.runner, cmd.clone(), self.timeout)?;
        let value: Value = serde_json::from_slice(&output.stdout.bytes)
            .map_err(|e| garbage(&cmd, format!("not JSON: {e}")))?;
        let node = self.node();
        let mut section = parse_resources(&value, &node).map_err(|m| garbage(&cmd, m))?;
        self.rates(&mut section.guests, now);
        Ok(Some(section))
    }

    fn rates(&mut self, guests: &mut [PveGuest], now: Instant) {
        let mut seen = HashMap::with_capacity(guests.len());
        for g in guests.iter_mut() {
            let values = [
                g.net_in_bytes_total,
                g.net_out_bytes_total,
                g.disk_read_bytes_total,
                g.disk_written_bytes_total,
            ];
            if let Some(prev) = self.previous.get(&g.vmid) {
                let secs = now.duration_since(prev.at).as_secs_f64();
                let back = values.iter().zip(prev.values).any(|(v, p)| *v < p);
                if secs > 0.0 && !back && g.status == "running" {
                    let rate = |i: usize| (values[i] - prev.values[i]) as f64 / secs;
                    g.rates = Some(PveGuestRates {
                        net_in_bytes_per_sec: rate(0),
                        net_out_bytes_per_sec: rate(1),
                        disk_read_bytes_per_sec: rate(2),
                        disk_write_bytes_per_sec: rate(3),
                    });
                }
            }
            seen.insert(g.vmid, Counters { at: now, values });
        }
        self.previous = seen;
    }
}

impl Collector for ProxmoxCollector {
    fn name(&self) -> &'static str {
        "proxmox"
    }

    fn default_tier(&self) -> Tier {
        Tier::Medium
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.read(Instant::now())?.map(Into::into))
    }
}

/// The resources of `node`. A node name that is not among them is an error telling the user
/// to set it, rather than a silent empty section or every node's guests reported twice.
fn parse_resources(value: &Value, node: &str) -> Result<Proxmox, String> {
    let list = value
        .as_array()
        .or_else(|| value.get("data").and_then(Value::as_array))
        .ok_or("expected a JSON array of resources")?;
    if !list.iter().any(|r| r["node"].as_str() == Some(node)) {
        return Err(format!(
            "node {node:?} is not in the cluster's resources; set `[proxmox] node`"
        ));
    }
    let mine = |r: &&Value| r["node"].as_str() == Some(node);
    let u = |r: &Value, k: &str| r[k].as_u64().unwrap_or(0);
    let mut guests = Vec::new();
    let mut storages = Vec::new();
    for r in list.iter().filter(mine) {
        match r["type"].as_str() {
            Some(kind @ ("qemu" | "lxc")) => {
                let vmid = r["vmid"]
                    .as_u64()
                    .or_else(|| r["vmid"].as_str().and_then(|s| s.parse().ok()))
                    .ok_or(format!("a {kind} guest without a vmid: {r}"))?;
                guests.push(PveGuest {
                    vmid,
                    name: r["name"].as_str().unwrap_or_default().to_string(),
                    kind: kind.to_string(),
                    status: r["status"].as_str().unwrap_or("unknown").to_string(),
                    template: u(r, "template") == 1,
                    cpu_pct: (r["cpu"].as_f64().unwrap_or(0.0) * 10_000.0).round() / 100.0,
                    cpus: r["maxcpu"].as_f64().unwrap_or(0.0),
                    memory_used_bytes: u(r, "mem"),
                    memory_max_bytes: u(r, "maxmem"),
                    disk_used_bytes: u(r, "disk"),
                    disk_max_bytes: u(r, "maxdisk"),
                    uptime_seconds: u(r, "uptime"),
                    net_in_bytes_total: u(r, "netin"),
                    net_out_bytes_total: u(r, "netout"),
                    disk_read_bytes_total: u(r, "diskread"),
                    disk_written_bytes_total: u(r, "diskwrite"),
                    tags: r["tags"]
                        .as_str()
                        .map(|t| {
                            t.split([';', ',', ' '])
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                    rates: None,
                });
            }
            Some("storage") => {
                let (used, size) = (u(r, "disk"), u(r, "maxdisk"));
                storages.push(PveStorage {
                    storage: r["storage"].as_str().unwrap_or_default().to_string(),
                    plugin: r["plugintype"].as_str().map(str::to_string),
                    status: r["status"].as_str().unwrap_or("unknown").to_string(),
                    shared: u(r, "shared") == 1,
                    used_bytes: used,
                    size_bytes: size,
                    used_pct: (size > 0)
                        .then(|| (used as f64 / size as f64 * 10_000.0).round() / 100.0),
                    content: r["content"].as_str().map(str::to_string),
                });
            }
            _ => {}
        }
    }
    guests.sort_by_key(|g| g.vmid);
    storages.sort_by(|a, b| a.storage.cmp(&b.storage));
    Ok(Proxmox {
        node: node.to_string(),
        guests,
        storages,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tools::testing::{FakeTools, fixture};
    use super::*;

    fn config(node: &str) -> ProxmoxConfig {
        ProxmoxConfig {
            node: Some(node.into()),
            ..ProxmoxConfig::default()
        }
    }

    fn read(c: &mut ProxmoxCollector, at: Instant) -> Proxmox {
        c.read(at).unwrap().expect("a proxmox section")
    }

    #[test]
    fn no_pvesh_means_no_section() {
        let tools = FakeTools::new();
        let mut c = ProxmoxCollector::new(
            &ProxmoxConfig::default(),
            HostPaths::default(),
            Runner::default(),
            tools.path(),
        );
        assert!(c.collect().unwrap().is_none());
    }

    #[test]
    fn guests_and_storages_of_this_node_with_rates_on_the_second_read() {
        let tools = FakeTools::new();
        let out = tools.dir.path().join("resources.json");
        std::fs::copy(fixture("proxmox/cluster-resources_pve7.json"), &out).unwrap();
        tools.script("pvesh", &format!("cat '{}'", out.display()));
        let mut c = ProxmoxCollector::new(
            &config("node2"),
            HostPaths::default(),
            Runner::default(),
            tools.path(),
        );
        let t0 = Instant::now();
        let first = read(&mut c, t0);
        assert_eq!(first.node, "node2");
        let vm = first.guests.iter().find(|g| g.vmid == 100).unwrap();
        assert_eq!(vm.name, "server1");
        assert_eq!(vm.kind, "qemu");
        assert_eq!(vm.status, "running");
        assert_eq!(vm.cpu_pct, 2.49);
        assert_eq!(vm.memory_used_bytes, 842_551_296);
        assert_eq!(vm.memory_max_bytes, 1_073_741_824);
        assert_eq!(vm.uptime_seconds, 874_350);
        assert_eq!(vm.net_in_bytes_total, 2_456_116_121);
        assert!(vm.rates.is_none(), "first read: no rates");
        assert!(
            first.guests.iter().all(|g| g.vmid != 101),
            "vm 101 lives on node1"
        );
        let zfs = first
            .storages
            .iter()
            .find(|s| s.storage == "local-zfs")
            .unwrap();
        assert_eq!(zfs.plugin.as_deref(), Some("zfspool"));
        assert_eq!(zfs.used_bytes, 25_294_921_728);
        assert_eq!(zfs.used_pct, Some(2.63));
        assert_eq!(
            tools.calls("pvesh")[0],
            "get /cluster/resources --output-format json"
        );

        // Second read, 10 s later, with vm 100's counters advanced.
        let text = std::fs::read_to_string(&out)
            .unwrap()
            .replace("2456116121", "2456126121")
            .replace("6059209728", "6059309728");
        std::fs::write(&out, text).unwrap();
        let second = read(&mut c, t0 + Duration::from_secs(10));
        let rates = second
            .guests
            .iter()
            .find(|g| g.vmid == 100)
            .unwrap()
            .rates
            .unwrap();
        assert_eq!(rates.net_in_bytes_per_sec, 1000.0);
        assert_eq!(rates.disk_write_bytes_per_sec, 10_000.0);
        assert_eq!(rates.net_out_bytes_per_sec, 0.0);
    }

    #[test]
    fn bare_array_lxc_tags_and_a_restart_without_rates() {
        let json = r#"[{"type":"lxc","vmid":"108","name":"pihole","node":"pve","status":"running",
            "cpu":0.5,"maxcpu":2,"mem":100,"maxmem":200,"disk":5,"maxdisk":10,"uptime":60,
            "netin":50,"netout":10,"diskread":0,"diskwrite":0,"tags":"dns;infra"}]"#;
        let v: Value = serde_json::from_str(json).unwrap();
        let err = parse_resources(&v, "other-name").unwrap_err();
        assert!(err.contains("set `[proxmox] node`"), "{err}");
        let p = parse_resources(&v, "pve").unwrap();
        assert_eq!(p.guests.len(), 1);
        let g = &p.guests[0];
        assert_eq!((g.vmid, g.kind.as_str(), g.cpu_pct), (108, "lxc", 50.0));
        assert_eq!(g.tags, vec!["dns".to_string(), "infra".to_string()]);

        let mut c = ProxmoxCollector::new(
            &config("pve"),
            HostPaths::default(),
            Runner::default(),
            FakeTools::new().path(),
        );
        let t0 = Instant::now();
        let mut guests = p.guests.clone();
        c.rates(&mut guests, t0);
        let mut restarted = p.guests.clone();
        restarted[0].net_in_bytes_total = 1;
        c.rates(&mut restarted, t0 + Duration::from_secs(5));
        assert!(restarted[0].rates.is_none(), "counters went back: no rate");
    }

    #[test]
    fn failures_and_garbage_name_the_command() {
        let tools = FakeTools::new();
        tools.script(
            "pvesh",
            "echo 'ipcc_send_rec[1] failed: Connection refused' >&2; exit 2",
        );
        let mut c = ProxmoxCollector::new(
            &config("pve"),
            HostPaths::default(),
            Runner::default(),
            tools.path(),
        );
        let err = c.collect().unwrap_err().to_string();
        assert!(err.contains("pvesh get /cluster/resources"), "{err}");
        assert!(err.contains("Connection refused"), "{err}");

        let tools = FakeTools::new();
        tools.script("pvesh", "echo '{\"unexpected\": true}'");
        let mut c = ProxmoxCollector::new(
            &config("pve"),
            HostPaths::default(),
            Runner::default(),
            tools.path(),
        );
        let err = c.collect().unwrap_err().to_string();
        assert!(err.contains("expected a JSON array"), "{err}");
    }
}
