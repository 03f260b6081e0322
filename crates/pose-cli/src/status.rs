//! `pose status`: what each node reports (enclave, registration, chain position).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use pose_client::transport::Transport;

/// Options of `pose status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// A network file: a running devnet's `devnet.json` (printed by `pose devnet`), or one
    /// written by `pose network deploy` (its nodes listed with `pose network add-node`).
    #[arg(long, visible_alias = "network", conflicts_with = "url")]
    pub devnet: Option<PathBuf>,
    /// A node's base URL (repeatable).
    #[arg(long)]
    pub url: Vec<String>,
}

/// Prints each node's status; fails if a node does not answer.
pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let urls = match (&args.devnet, args.url.is_empty()) {
        (Some(path), _) => crate::devnet::read_info(path)?
            .nodes
            .into_iter()
            .map(|n| n.url)
            .collect(),
        (None, false) => args.url.clone(),
        (None, true) => bail!("name the nodes: --network <network file> or --url <node URL>"),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let transport = Transport::new(Duration::from_secs(5));
        let mut failed = 0;
        for url in &urls {
            match transport.status(url).await {
                Ok(status) => out!("{url}: {status}"),
                Err(e) => {
                    failed += 1;
                    out!("{url}: not answering ({e}); is the node running?");
                }
            }
        }
        if failed > 0 {
            bail!("{failed} of {} nodes did not answer", urls.len());
        }
        Ok(())
    })
}
