//! `hostwatch hub`, `hostwatch hosts …` and `hostwatch tokens …`: running and administering a hub.

use anyhow::{Context, bail};
use clap::Subcommand;
use hostwatch_config::Sources;
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::hub::now_ms;
use hostwatch_hub::store::{ApiClient, Role, SqliteStore, Store};
use hostwatch_hub::{Hub, enrol};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// Enrol a host: prints its token once, and the agent config to paste.
    Add {
        name: String,
        /// A tag for filters, alert scopes and routing (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Replace a host's tags (none given: remove them all).
    Tag { name: String, tags: Vec<String> },
    /// List enrolled hosts with their status.
    List,
    /// Remove a host and all its data.
    Remove { name: String },
    /// Issue a new token for a host; the old one stops working at once.
    RotateToken { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token for a person or script; printed once.
    Add {
        name: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Viewer)]
        role: RoleArg,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Admin,
    Viewer,
}

pub fn load_config(path: Option<PathBuf>) -> anyhow::Result<HubConfig> {
    let (config, origin) = HubConfig::load(&Sources::from_process(path))?;
    tracing::debug!(%origin, "hub configuration loaded");
    Ok(config)
}

pub fn open_store(config: &HubConfig) -> anyhow::Result<SqliteStore> {
    let dir = config.data_dir();
    SqliteStore::open(&dir)
        .with_context(|| format!("opening the hub database in {}", dir.display()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs the hub until SIGTERM or Ctrl-C.
pub fn run_hub(
    config: HubConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let runtime = runtime()?;
    let result = runtime.block_on(async move {
        let listen = config.server.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(%listen, db = %store.path().display(), "hub listening");
        let hub = Hub::new(config, store);
        hostwatch_hub::serve::serve(hub, listener, shutdown).await?;
        tracing::info!("hub stopped");
        Ok(())
    });
    // Reads still running on blocking threads are not waited for: a stop takes seconds.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

pub fn hosts(config: HubConfig, command: HostsCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let url = config.server.public_url();
    runtime()?.block_on(async move {
        match command {
            HostsCommand::Add { name, tags } => {
                let e = enrol::add_host(&store, &name, &tags, &url, now_ms()).await?;
                out!(
                    "host {} enrolled. Its token (shown only now):\n\n  {}\n",
                    e.host.name,
                    e.token.expose()
                );
                out!(
                    "Agent configuration for /etc/hostwatch/agent.toml on that host:\n\n{}",
                    e.agent_config.expose()
                );
            }
            HostsCommand::List => {
                let hosts = store.hosts().await?;
                out!(
                    "{:<32} {:<6} {:<25} {:>9}  TAGS",
                    "NAME",
                    "STATUS",
                    "LAST SEEN (UTC)",
                    "INTERVAL"
                );
                for h in hosts {
                    let seen = h
                        .last_seen
                        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_else(|| "never".into());
                    let interval = h
                        .expected_interval
                        .map(|s| format!("{s} s"))
                        .unwrap_or_else(|| "-".into());
                    out!(
                        "{:<32} {:<6} {:<25} {:>9}  {}",
                        h.name,
                        h.status.as_str(),
                        seen,
                        interval,
                        h.tags.join(",")
                    );
                }
            }
            HostsCommand::Tag { name, tags } => {
                let Some(tags) = enrol::set_tags(&store, &name, &tags).await? else {
                    bail!("no host `{name}`");
                };
                out!("host {name} tags: {}", tags.join(" "));
            }
            HostsCommand::Remove { name } => {
                if !store.remove_host(&name).await? {
                    bail!("no host `{name}`");
                }
                out!("host {name} removed with all its data");
            }
            HostsCommand::RotateToken { name } => {
                let Some(e) = enrol::rotate_token(&store, &name, &url, now_ms()).await? else {
                    bail!("no host `{name}`");
                };
                out!(
                    "new token for {} (shown only now; the old one no longer works):\n\n  {}\n",
                    name,
                    e.token.expose()
                );
                out!("Agent configuration:\n\n{}", e.agent_config.expose());
            }
        }
        Ok(())
    })
}

pub fn tokens(config: HubConfig, command: TokensCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    runtime()?.block_on(async move {
        match command {
            TokensCommand::Add { name, role } => {
                let role = match role {
                    RoleArg::Admin => Role::Admin,
                    RoleArg::Viewer => Role::Viewer,
                };
                let client = ApiClient {
                    name: name.clone(),
                    role,
                };
                let token = enrol::add_api_client(&store, &client, now_ms()).await?;
                out!(
                    "API token `{name}` ({}), shown only now:\n\n  {}\n",
                    role.as_str(),
                    token.expose()
                );
                out!(
                    "Use it as: curl -H 'Authorization: Bearer <token>' {}/api/v1/hosts",
                    config.server.public_url()
                );
            }
        }
        Ok(())
    })
}
