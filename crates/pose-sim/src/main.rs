//! `pose-sim`: runs seeds of the deterministic simulator (the same as `pose sim`).
//!
//! ```text
//! pose-sim --seeds N [--start S]          run N seeds, exit non-zero on the first failure
//! pose-sim --seed N [--trace]             replay one seed (with a trace of every event)
//! pose-sim --seed N --check-determinism   run a seed twice and compare the event hashes
//! ```
//! Exit codes: 0 ok, 1 correctness failure, 2 liveness failure, 3 nondeterminism, 64 usage.

use clap::Parser;
use pose_sim::cli::{run, SimArgs};

/// Deterministic simulation of POSE pools with adversarial operators.
#[derive(Parser, Debug)]
#[command(name = "pose-sim", version, about)]
struct Cli {
    #[command(flatten)]
    args: SimArgs,
}

fn main() {
    let cli = Cli::parse();
    // The replay line names the build that reproduces the run.
    let prefix = if cfg!(feature = "bug-injection") {
        "cargo run -p pose-sim --release --features bug-injection --"
    } else {
        "cargo run -p pose-sim --release --"
    };
    std::process::exit(run(&cli.args, prefix));
}
