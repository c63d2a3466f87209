//! `hostwatch up`: a hub on an embedded data directory plus an agent for this machine, in one
//! process — the whole system on one machine with one command.

use crate::hub_cmd;
use anyhow::Context;
use hostwatch_agent::config::AgentConfig;
use hostwatch_agent::config_file::Sources;
use hostwatch_agent::run::{RunOptions, run as run_agent};
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::enrol::{self, valid_name};
use hostwatch_hub::hub::now_ms;
use hostwatch_hub::store::{ApiClient, Role, SqliteStore, Store, StoreError};
use hostwatch_hub::{Hub, token};
use hostwatch_proto::Secret;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The file in the data directory holding the local agent's token (mode 0600).
const LOCAL_TOKEN_FILE: &str = "local-agent.token";

pub fn up(
    hub_config: HubConfig,
    agent_config: AgentConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let data_dir = hub_config.data_dir();
    let store = hub_cmd::open_store(&hub_config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listen = hub_config.server.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let url = format!("http://{}", listener.local_addr()?);

        let name = local_host_name(&agent_config);
        let token = local_token(&store, &data_dir, &name, &url).await?;
        let admin = first_admin_token(&store).await?;
        let admin_password = hostwatch_hub::web::users::first_admin(&store, now_ms()).await?;

        let mut agent = agent_config;
        agent.agent.host_id = Some(name.clone());
        agent.hub.url = Some(url.clone());
        agent.hub.token = token;
        if agent.agent.state_dir.is_none() {
            agent.agent.state_dir = Some(data_dir.join("agent"));
        }
        agent
            .validate()
            .map_err(|e| anyhow::anyhow!("agent configuration: {e}"))?;

        out!("hostwatch is up");
        out!("  dashboard: {url}/");
        out!("  API:   {url}/api/v1/hosts");
        out!("  this machine reports as `{name}`");
        out!("  data:  {}", data_dir.display());
        if let Some(admin) = admin {
            out!("  admin API token (shown only now): {}", admin.expose());
        }
        if let Some(password) = admin_password {
            out!(
                "  dashboard user `admin`, password (shown only now): {}",
                password.expose()
            );
        }

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let hub = Hub::new(hub_config, store);
        let hub_task = tokio::spawn(hostwatch_hub::serve::serve(
            hub,
            listener,
            stopped(stop_rx.clone()),
        ));
        let agent_result = run_agent(agent, RunOptions::default(), stopped(stop_rx)).await;
        hub_task.await.context("the hub task failed")??;
        agent_result?;
        Ok(())
    })
}

/// The name this machine reports under: the configured host id, else the hostname made valid.
fn local_host_name(config: &AgentConfig) -> String {
    let raw = hostwatch_agent::agent::host_id_of(config);
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if valid_name(&cleaned) {
        cleaned
    } else {
        "localhost".to_string()
    }
}

/// The local agent's token: the saved one while it still verifies, else a newly issued one
/// (enrolling the host on first start, rotating its token when the file was lost).
async fn local_token(
    store: &SqliteStore,
    data_dir: &Path,
    name: &str,
    url: &str,
) -> anyhow::Result<Secret> {
    let file = data_dir.join(LOCAL_TOKEN_FILE);
    if let Ok(saved) = std::fs::read_to_string(&file) {
        let saved = saved.trim();
        if let Some((id, secret)) = token::parse(saved)
            && let Some((host, stored)) = store.host_by_token_id(id).await?
            && host.name == name
            && token::verify(&stored, secret)
        {
            return Ok(Secret::new(saved));
        }
    }
    let enrolment = match enrol::add_host(store, name, &[], url, now_ms()).await {
        Ok(e) => e,
        Err(enrol::EnrolError::Store(StoreError::Conflict(_))) => {
            enrol::rotate_token(store, name, url, now_ms())
                .await?
                .context("the local host vanished while its token was rotated")?
        }
        Err(e) => return Err(e.into()),
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&file)
        .with_context(|| format!("saving the local agent's token in {}", file.display()))?;
    std::io::Write::write_all(&mut f, enrolment.token.expose().as_bytes())?;
    Ok(enrolment.token)
}

/// On the very first start, an `admin` API token to print once; `None` afterwards.
async fn first_admin_token(store: &SqliteStore) -> anyhow::Result<Option<Secret>> {
    let client = ApiClient {
        name: "admin".into(),
        role: Role::Admin,
    };
    match enrol::add_api_client(store, &client, now_ms()).await {
        Ok(token) => Ok(Some(token)),
        Err(enrol::EnrolError::Store(StoreError::Conflict(_))) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Loads both configurations `up` needs: the hub's (from `path` or the hub search order) and
/// the agent's (from the agent search order, for its collectors).
pub fn load(path: Option<std::path::PathBuf>) -> anyhow::Result<(HubConfig, AgentConfig)> {
    let hub = hub_cmd::load_config(path)?;
    let (agent, _) = AgentConfig::load(&Sources::from_process(None))?;
    Ok((hub, agent))
}
