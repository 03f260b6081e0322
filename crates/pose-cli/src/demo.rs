//! `pose demo`: a guided run through the parts of pose that work today.

use clap::Args;

/// Options of `pose demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {}

/// Runs the walk-through; returns an error that says which step failed and why.
pub fn run(_args: DemoArgs) -> anyhow::Result<()> {
    println!("pose {}: the workspace builds.", env!("CARGO_PKG_VERSION"));
    println!("The network demo (chain + operators + a contract) arrives with `pose devnet`.");
    Ok(())
}
