//! The `pose` command line: the one entry point for users and operators.
//!
//! Each sub-command is a thin layer over a library crate; it parses arguments, prints progress
//! and turns errors into messages that say what to do.

use clap::{Parser, Subcommand};

mod bench;
mod demo;

/// pose: confidential smart contracts executed off-chain by pools of TEEs (POSE, NDSS 2023).
#[derive(Parser, Debug)]
#[command(name = "pose", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the most complete end-to-end walk-through that exists today and explain each step.
    Demo(demo::DemoArgs),
    /// Measure: gas per manager operation, plain Solidity beside pose, and more to come.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
