//! `hostwatch users …`: the people who log in to the dashboard (works on the hub's data
//! directory, like `hosts`).

use crate::hub_cmd::{RoleArg, open_store};
use anyhow::{Context, bail};
use clap::Subcommand;
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::hub::now_ms;
use hostwatch_hub::store::{Role, Store};
use hostwatch_hub::web::{password, users};
use hostwatch_proto::Secret;
use std::io::{BufRead, Write};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user. The password is asked twice on a terminal, read from stdin with
    /// `--password-stdin`, or generated and printed once with `--generate`.
    Add {
        name: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Viewer)]
        role: RoleArg,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List users and their roles.
    List,
    /// Remove a user; their sessions end at once.
    Remove { name: String },
    /// Set a user's password; their sessions end at once.
    Passwd {
        name: String,
        #[command(flatten)]
        password: PasswordSource,
    },
}

#[derive(Debug, clap::Args)]
pub struct PasswordSource {
    /// Read the password from the first line of standard input.
    #[arg(long, conflicts_with = "generate")]
    password_stdin: bool,
    /// Generate a random password and print it once.
    #[arg(long)]
    generate: bool,
}

/// The new password, and whether to print it (only when generated).
fn read_password(source: &PasswordSource) -> anyhow::Result<(Secret, bool)> {
    if source.generate {
        return Ok((password::generate(), true));
    }
    let stdin = std::io::stdin();
    if source.password_stdin {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            bail!("no password on stdin");
        }
        return Ok((Secret::new(line), false));
    }
    if !rustix::termios::isatty(&stdin) {
        bail!("no password given: use --password-stdin, --generate, or run on a terminal");
    }
    let first = prompt("New password: ")?;
    let second = prompt("Repeat it: ")?;
    if first.expose() != second.expose() {
        bail!("the two passwords differ; nothing changed");
    }
    Ok((first, false))
}

/// Reads one line from the terminal without echoing it.
fn prompt(text: &str) -> anyhow::Result<Secret> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{text}");
    let _ = stderr.flush();
    let saved = tcgetattr(&stdin).context("reading the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning off the echo")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    let _ = writeln!(stderr);
    read.context("reading the password")?;
    Ok(Secret::new(line.trim_end_matches(['\n', '\r'])))
}

pub fn users(config: HubConfig, command: UsersCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match command {
            UsersCommand::Add {
                name,
                role,
                password,
            } => {
                let role = match role {
                    RoleArg::Admin => Role::Admin,
                    RoleArg::Viewer => Role::Viewer,
                };
                let (secret, show) = read_password(&password)?;
                let printed = show.then(|| secret.expose().to_string());
                let user = users::add(&store, &name, role, secret, now_ms()).await?;
                out!("user {} added ({})", user.name, user.role.as_str());
                if let Some(p) = printed {
                    out!("password (shown only now): {p}");
                }
            }
            UsersCommand::List => {
                out!("{:<32} {:<7} CREATED (UTC)", "NAME", "ROLE");
                for u in store.users().await? {
                    let created = jiff::Timestamp::from_millisecond(u.created_at)
                        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default();
                    out!("{:<32} {:<7} {created}", u.name, u.role.as_str());
                }
            }
            UsersCommand::Remove { name } => {
                if !store.remove_user(&name).await? {
                    bail!("no user `{name}`");
                }
                out!("user {name} removed");
            }
            UsersCommand::Passwd { name, password } => {
                let (secret, show) = read_password(&password)?;
                let printed = show.then(|| secret.expose().to_string());
                users::set_password(&store, &name, secret).await?;
                out!("password of {name} changed; their sessions ended");
                if let Some(p) = printed {
                    out!("password (shown only now): {p}");
                }
            }
        }
        Ok(())
    })
}
