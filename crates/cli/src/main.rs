//! `hostwatch`: the one binary. Parses the command line, turns it into checked configuration,
//! then hands over to the agent (and, later, hub) libraries.

/// Prints a line to stdout. A closed stdout (`hostwatch hosts list | head -1`) ends the
/// output quietly instead of panicking as `println!` does.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[cfg(feature = "hub")]
mod alerts_cmd;
#[cfg(feature = "hub")]
mod digest_cmd;
#[cfg(feature = "hub")]
mod hub_cmd;
#[cfg(feature = "hub")]
mod loadgen;
#[cfg(feature = "hub")]
mod notify_cmd;
mod table;
#[cfg(feature = "hub")]
mod up;
#[cfg(feature = "hub")]
mod users_cmd;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use hostwatch_agent::config::AgentConfig;
use hostwatch_agent::config_file::Sources;
use hostwatch_agent::job::{JobOptions, Recorded, run_job};
use hostwatch_agent::run::{RunOptions, run};
use hostwatch_proto::{JobOutcome, Tier};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "hostwatch",
    version,
    about = "Fleet host monitor: agent, hub and dashboard in one binary"
)]
struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "HOSTWATCH_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter, e.g. `info`, `debug`, `hostwatch_agent=debug`.
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "HOSTWATCH_LOG_LEVEL"
    )]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SelftestTarget {
    /// Collect once, send the report to the configured hub once, print both sides.
    Hub,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SnapshotFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: collect on the configured tiers and deliver to every enabled sink.
    Agent {
        /// Config file (default: search $HOSTWATCH_CONFIG, ./hostwatch.toml, ~/.config/hostwatch/agent.toml, /etc/hostwatch/agent.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print every report as one JSON line on stdout.
        #[arg(long)]
        stdout: bool,
        /// Check one part end to end and exit: 0 on success, non-zero with the reason.
        #[arg(long, value_enum)]
        selftest: Option<SelftestTarget>,
    },
    /// Run a scheduled command as its cron line would and record the run with the hub:
    /// `hostwatch run --job backup --schedule "0 3 * * *" -- /usr/local/bin/backup.sh`.
    /// Exits with the command's own status; its output passes through.
    Run {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The job's name; the hub keeps its history per host and job.
        #[arg(long)]
        job: String,
        /// The job's cron schedule, so the hub can tell when a run is overdue.
        #[arg(long)]
        schedule: Option<String>,
        /// Kill the command (and its children) after this many seconds; exit status 124.
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// The command and its arguments, after `--`. Run directly, not through a shell.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Collect once (two reads a second apart, so rates are real) and print the report.
    Snapshot {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// `table` for people, `json` for the wire document.
        #[arg(long, value_enum, default_value_t = SnapshotFormat::Table)]
        format: SnapshotFormat,
    },
    /// Keys that sign remote commands.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check the configuration and exit non-zero on any problem.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Which configuration: the agent's or the hub's.
        #[arg(long, value_enum, default_value_t = Role::Agent)]
        role: Role,
    },
    #[cfg(feature = "hub")]
    /// Run a hub with an embedded data directory and an agent for this machine, in one process.
    Up {
        /// Config file for both hub and agent settings (default: the usual search).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    #[cfg(feature = "hub")]
    /// Run the hub: receive reports, keep history, serve the API.
    Hub {
        /// Config file (default: search $HOSTWATCH_CONFIG, ./hostwatch.toml, ~/.config/hostwatch/hub.toml, /etc/hostwatch/hub.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    #[cfg(feature = "hub")]
    /// Enrol and manage the hosts that report to a hub (works on the hub's data directory).
    Hosts {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: hub_cmd::HostsCommand,
    },
    #[cfg(feature = "hub")]
    /// The weekly digest: `--preview` prints the week ending now (`--html` for the email's).
    Digest(digest_cmd::Args),
    #[cfg(feature = "hub")]
    /// Simulate a fleet of agents reporting to a hub, and measure its ingest: reports/s,
    /// samples/s, latency percentiles, errors.
    Loadgen(loadgen::Args),
    #[cfg(feature = "hub")]
    /// API tokens for people and scripts.
    Tokens {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: hub_cmd::TokensCommand,
    },
    #[cfg(feature = "hub")]
    /// People who log in to the dashboard: admins and viewers.
    Users {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: users_cmd::UsersCommand,
    },
    #[cfg(feature = "hub")]
    /// Open alerts, silences and acknowledgements, through the running hub's API:
    /// `hostwatch alerts list`, `alerts silence -m 'host=~"web-.*"' --for 2h`, `alerts ack FP`.
    Alerts(alerts_cmd::Args),
    #[cfg(feature = "hub")]
    /// Notification channels: `hostwatch notify test CHANNEL` sends a test message.
    Notify {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: notify_cmd::NotifyCommand,
    },
}

/// `hostwatch keys …`
#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print a new Ed25519 keypair for signing remote commands: the private key for the
    /// signer, the public key for the agents' `[remote] trusted_keys`.
    Generate,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Role {
    Agent,
    Hub,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log_level);
    // The one TLS crypto provider of the process (the architecture's choice: ring, no
    // OpenSSL, no aws-lc). Fails only if one is installed already, which is then fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Command::Run {
        config,
        job,
        schedule,
        timeout,
        command,
    } = cli.command
    {
        return job_command(config, job, schedule, timeout, command);
    }
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hostwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Agent {
            config,
            stdout,
            selftest,
        } => {
            let config = load_agent_config(config)?;
            let runtime = runtime()?;
            if let Some(SelftestTarget::Hub) = selftest {
                return runtime.block_on(selftest_hub(&config));
            }
            let options = RunOptions {
                stdout,
                page_out_after_start: true,
                ..RunOptions::default()
            };
            runtime.block_on(run(config, options, shutdown_signal()))?;
            Ok(())
        }
        Command::Run { .. } => unreachable!("handled in main: it has its own exit status"),
        Command::Keys {
            command: KeysCommand::Generate,
        } => {
            let (private, public) = hostwatch_agent::commands::signing::generate_keypair();
            println!(
                "private_key = \"{private}\"  # the hub's [commands] signing_key; keep secret: whoever holds it can run commands"
            );
            println!("public_key = \"{public}\"   # for the agents' [remote] trusted_keys");
            Ok(())
        }
        Command::Snapshot { config, format } => {
            let config = load_agent_config(config)?;
            let mut agent = hostwatch_agent::Agent::new(&config);
            agent.collect(&Tier::ALL);
            std::thread::sleep(Duration::from_secs(1));
            let report = agent.collect(&Tier::ALL);
            match format {
                SnapshotFormat::Json => {
                    out!("{}", serde_json::to_string_pretty(&report)?);
                }
                SnapshotFormat::Table => out!("{}", table::render(&report).trim_end()),
            }
            Ok(())
        }
        Command::CheckConfig { config, role } => {
            let sources = Sources::from_process(config);
            let (name, origin) = match role {
                Role::Agent => ("agent", AgentConfig::load(&sources)?.1),
                #[cfg(feature = "hub")]
                Role::Hub => ("hub", hostwatch_hub::config::HubConfig::load(&sources)?.1),
                #[cfg(not(feature = "hub"))]
                Role::Hub => {
                    anyhow::bail!("this build has no hub (built without the `hub` feature)")
                }
            };
            out!("{name} configuration OK ({origin})");
            Ok(())
        }
        #[cfg(feature = "hub")]
        Command::Up { config } => {
            let (hub, agent) = up::load(config)?;
            up::up(hub, agent, shutdown_signal())
        }
        #[cfg(feature = "hub")]
        Command::Hub { config } => {
            hub_cmd::run_hub(hub_cmd::load_config(config)?, shutdown_signal())
        }
        #[cfg(feature = "hub")]
        Command::Hosts { config, command } => {
            hub_cmd::hosts(hub_cmd::load_config(config)?, command)
        }
        #[cfg(feature = "hub")]
        Command::Alerts(args) => alerts_cmd::run(args),
        #[cfg(feature = "hub")]
        Command::Digest(args) => digest_cmd::run(args),
        #[cfg(feature = "hub")]
        Command::Loadgen(args) => loadgen::run(args),
        #[cfg(feature = "hub")]
        Command::Tokens { config, command } => {
            hub_cmd::tokens(hub_cmd::load_config(config)?, command)
        }
        #[cfg(feature = "hub")]
        Command::Notify { config, command } => {
            notify_cmd::run(hub_cmd::load_config(config)?, command)
        }
        #[cfg(feature = "hub")]
        Command::Users { config, command } => {
            users_cmd::users(hub_cmd::load_config(config)?, command)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `hostwatch agent --selftest hub`: what was sent, what came back.
async fn selftest_hub(config: &AgentConfig) -> anyhow::Result<()> {
    let (report, envelope) = hostwatch_agent::sink::hub::selftest(config).await?;
    out!("sent to {}:", config.hub.url.as_deref().unwrap_or_default());
    out!("{}", serde_json::to_string_pretty(&report)?);
    match envelope {
        Some(envelope) => {
            out!("the hub answered:");
            out!("{}", serde_json::to_string_pretty(&envelope)?);
        }
        None => println!("the hub stored the report (its envelope was unreadable)"),
    }
    out!("hub selftest OK");
    Ok(())
}

/// `hostwatch run`: exits with the command's status, whatever happened to the record.
fn job_command(
    config: Option<PathBuf>,
    job: String,
    schedule: Option<String>,
    timeout: Option<u64>,
    command: Vec<OsString>,
) -> ExitCode {
    let setup = || -> anyhow::Result<(AgentConfig, tokio::runtime::Runtime)> {
        Ok((load_agent_config(config)?, runtime()?))
    };
    let options = JobOptions {
        job,
        schedule,
        timeout: timeout.map(Duration::from_secs),
        argv: command,
        passthrough: true,
    };
    let (config, runtime) = match setup() {
        Ok(ok) => ok,
        Err(e) => {
            // The job must still run: a broken config must not silently stop a cron job.
            eprintln!("hostwatch: {e:#}; running the job without recording it");
            let config = AgentConfig::default();
            let runtime = match runtime() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("hostwatch: {e:#}");
                    return ExitCode::FAILURE;
                }
            };
            (config, runtime)
        }
    };
    match runtime.block_on(run_job(&config, options)) {
        Ok(result) => {
            // What a shell would have said, so cron mail tells why.
            match &result.run.outcome {
                JobOutcome::FailedToStart(why) => eprintln!("hostwatch: {why}"),
                JobOutcome::TimedOut => eprintln!(
                    "hostwatch: job `{}` timed out after {}s; killed",
                    result.run.job,
                    timeout.unwrap_or_default()
                ),
                _ => {}
            }
            if let Recorded::Lost(why) = &result.recorded {
                eprintln!(
                    "hostwatch: the run of job `{}` was not recorded: {why}",
                    result.run.job
                );
            }
            ExitCode::from(result.exit_code)
        }
        Err(e) => {
            eprintln!("hostwatch: {e}");
            ExitCode::from(2)
        }
    }
}

fn load_agent_config(path: Option<PathBuf>) -> anyhow::Result<AgentConfig> {
    let (config, origin) = AgentConfig::load(&Sources::from_process(path))?;
    tracing::debug!(%origin, "configuration loaded");
    Ok(config)
}

/// Logs to stderr; under systemd (`JOURNAL_STREAM` set) text logs go to the journal natively,
/// with their fields, unless JSON was asked for.
fn init_logging(format: LogFormat, level: &str) {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, fmt};
    // Migrations announce themselves at info on every start; keep that out of normal logs.
    let filter = EnvFilter::try_new(format!("{level},refinery_core=warn"))
        .unwrap_or_else(|_| EnvFilter::new("info,refinery_core=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .init(),
        LogFormat::Text => {
            let journald =
                std::env::var_os("JOURNAL_STREAM").and_then(|_| tracing_journald::layer().ok());
            match journald {
                Some(journald) => registry.with(journald).init(),
                None => registry
                    .with(fmt::layer().with_writer(std::io::stderr))
                    .init(),
            }
        }
    }
}

/// Completes on Ctrl-C or SIGTERM (what systemd sends on stop).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
