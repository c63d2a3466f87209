//! `hostwatch digest --preview`: the weekly digest of the week ending now, printed instead of
//! sent, from the hub's configuration and data directory.

use crate::hub_cmd::{load_config, open_store};
use anyhow::{Context, bail};
use hostwatch_hub::Hub;
use hostwatch_hub::hub::now_ms;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config file (default: the hub's usual search).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Print the digest of the week ending now instead of sending it.
    #[arg(long)]
    preview: bool,
    /// Print the HTML version (the email's) instead of the text.
    #[arg(long, requires = "preview")]
    html: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !args.preview {
        bail!(
            "the hub sends the digest on its schedule ([digest] in its configuration); \
             use `hostwatch digest --preview` to print this week's now"
        );
    }
    let config = load_config(args.config)?;
    let store = open_store(&config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let digest = runtime.block_on(async move {
        let hub = Hub::new(config, store);
        hostwatch_hub::digest::gather(&hub, now_ms()).await
    })?;
    if args.html {
        out!("{}", digest.html().trim_end());
    } else {
        out!("{}", digest.text().trim_end());
    }
    Ok(())
}
