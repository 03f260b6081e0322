//! The `pose` command line: the one entry point for users and operators.
//!
//! Each sub-command is a thin layer over a library crate; it parses arguments, prints progress
//! and turns errors into messages that say what to do.

use clap::{Parser, Subcommand};

mod bench;
mod contract;
mod demo;
mod devnet;
mod node;
mod status;

/// pose: confidential smart contracts executed off-chain by pools of TEEs (POSE, NDSS 2023).
#[derive(Parser, Debug)]
#[command(name = "pose", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run federated learning through a local network, kill its executor, watch it continue.
    Demo(demo::DemoArgs),
    /// Measure: gas per manager operation, plain Solidity beside pose, and more to come.
    Bench(bench::BenchArgs),
    /// Run an operator node (enclave host, API, chain follower) until SIGINT or SIGTERM.
    Node(node::NodeArgs),
    /// Start a local chain with the manager and N operator nodes; Ctrl-C stops everything.
    Devnet(devnet::DevnetArgs),
    /// Show the status of nodes (of a running devnet, or given by URL).
    Status(status::StatusArgs),
    /// Run the deterministic simulator: pools with adversarial operators, every invariant
    /// checked after every step; a failing seed prints the command that replays it.
    Sim(pose_sim::cli::SimArgs),
    #[command(flatten)]
    Contract(contract::ContractCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Node(args) => node::run(args),
        Command::Devnet(args) => devnet::run(args),
        Command::Status(args) => status::run(args),
        Command::Sim(args) => std::process::exit(pose_sim::cli::run(&args, "pose sim")),
        Command::Contract(cmd) => contract::run(cmd),
    }
}
