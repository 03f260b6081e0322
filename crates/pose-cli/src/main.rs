//! The `pose` command line: the one entry point for users and operators.
//!
//! Each sub-command is a thin layer over a library crate; it parses arguments, prints progress
//! and turns errors into messages that say what to do.

use clap::{Parser, Subcommand};

/// `println!` for the command's output: when the reader of standard output went away (`pose
/// query ... | head -c1`), the command has nothing left to say and exits quietly with status
/// 0 instead of panicking (Rust ignores SIGPIPE, so a write to a closed pipe fails with
/// `BrokenPipe`, on which `println!` panics). Other write errors end the command with a
/// message.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(::std::format_args!($($arg)*))
    };
}

/// Writes one line to standard output; see [`out!`].
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let r = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match r {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: writing to standard output failed: {e}");
            std::process::exit(1);
        }
    }
}

mod bench;
mod contract;
mod demo;
mod devnet;
mod network;
mod node;
mod scaffold;
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
    /// A pose network on any EVM chain: deploy the manager, list nodes in the network file.
    Network(network::NetworkCommand),
    /// Show the status of nodes (of a running devnet, or given by URL).
    Status(status::StatusArgs),
    /// Run the deterministic simulator: pools with adversarial operators, every invariant
    /// checked after every step; a failing seed prints the command that replays it.
    Sim(pose_sim::cli::SimArgs),
    #[command(flatten)]
    Contract(contract::ContractCommand),
    /// Create a contract crate from a template (typed methods, a test in pose-runtime).
    New(scaffold::NewArgs),
    /// Build a contract crate for wasm32, reproducibly; writes <crate>/<name>.wasm.
    Build(scaffold::BuildArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let r = run(cli);
    if let Err(e) = &r {
        if e.downcast_ref::<contract::Reported>().is_some() {
            std::process::exit(1);
        }
    }
    r
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Node(args) => node::run(args),
        Command::Devnet(args) => devnet::run(args),
        Command::Network(cmd) => network::run(cmd),
        Command::Status(args) => status::run(args),
        Command::Sim(args) => std::process::exit(pose_sim::cli::run(&args, "pose sim")),
        Command::Contract(cmd) => contract::run(cmd),
        Command::New(args) => scaffold::new(args),
        Command::Build(args) => scaffold::build(args),
    }
}
