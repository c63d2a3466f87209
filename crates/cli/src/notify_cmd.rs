//! `hostwatch notify test CHANNEL`: sends a test message through a configured channel, from
//! this machine, and says plainly whether it was delivered.

use anyhow::{Context, bail};
use clap::Subcommand;
use hostwatch_hub::config::HubConfig;

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message through the channel named CHANNEL in the hub's `[[notify.channels]]`.
    Test {
        #[arg(value_name = "CHANNEL")]
        channel: String,
    },
}

pub fn run(config: HubConfig, command: NotifyCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match command {
        NotifyCommand::Test { channel } => runtime.block_on(test(&config, &channel)),
    }
}

async fn test(config: &HubConfig, name: &str) -> anyhow::Result<()> {
    let (channel, _, outcome) = hostwatch_hub::notify::send_test(&config.notify, name).await?;
    let kind = channel.kind.as_str();
    if outcome.delivered {
        out!("delivered: a test message went out through `{name}` ({kind})");
        Ok(())
    } else {
        bail!(
            "NOT delivered through `{name}` ({kind}): {}",
            outcome.error.as_deref().unwrap_or("unknown error")
        )
    }
}
