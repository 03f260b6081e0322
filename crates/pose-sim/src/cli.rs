//! The simulator's command line, shared by the `pose-sim` binary and `pose sim`.
//!
//! Exit codes: 0 ok, 1 correctness failure, 2 liveness failure, 3 nondeterminism, 64 usage.

use clap::Args;

use crate::{parse_bug, run_seed, Failure, Outcome, RunOptions};

/// Options of a simulator run.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Run this many seeds (starting at --start); stops at the first failure.
    #[arg(long, conflicts_with = "seed")]
    pub seeds: Option<u64>,
    /// First seed of a --seeds run.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Replay exactly one seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// With --seed: print one line per event (the failing seed's story).
    #[arg(long, requires = "seed")]
    pub trace: bool,
    /// With --seed: run the seed twice and compare the hashes of all events.
    #[arg(long, requires = "seed")]
    pub check_determinism: bool,
    /// Force this many permanently silent pool members (else drawn from the seed).
    #[arg(long)]
    pub silent: Option<usize>,
    /// Force this pool size (else drawn from the seed).
    #[arg(long)]
    pub pool: Option<usize>,
    /// Force this many pool members whose hosts corrupt every off-chain message from healing
    /// on (they still relay chain transactions); else drawn from the seed.
    #[arg(long)]
    pub tampering: Option<usize>,
    /// Inject a protocol bug (needs a build with `--features bug-injection`): reply-before-acks,
    /// accept-old-epoch, skip-nonce-check, double-credit-deposit, leak-plaintext,
    /// accept-stale-seal.
    #[arg(long)]
    pub bug: Option<String>,
}

fn report_failure(o: &Outcome, replay: &str) -> i32 {
    let (code, what) = match &o.failure {
        Some(Failure::Correctness(m)) => (1, format!("correctness: {m}")),
        Some(Failure::Liveness(m)) => (2, format!("liveness: {m}")),
        None => return 0,
    };
    eprintln!("FAILED seed {}: {what}", o.seed);
    eprintln!("replay: {replay} --seed {} --trace", o.seed);
    code
}

/// Runs the simulator as `args` say; returns the process exit code. `replay` is the command
/// prefix printed for replaying a failed seed (e.g. `pose sim`).
pub fn run(args: &SimArgs, replay: &str) -> i32 {
    let mut opts = RunOptions {
        trace: args.trace,
        silent_members: args.silent,
        pool_size: args.pool,
        tampering_members: args.tampering,
        ..RunOptions::default()
    };
    if let Some(name) = &args.bug {
        let Some(bug) = parse_bug(name) else {
            eprintln!("unknown bug `{name}`; see --help for the names");
            return 64;
        };
        if !cfg!(feature = "bug-injection") {
            eprintln!("--bug needs a build with `--features bug-injection` (pose-sim)");
            return 64;
        }
        opts.bug = Some(bug);
    }
    if let Some(s) = args.seed {
        println!("seed {s}");
        let o = run_seed(s, &opts);
        if args.check_determinism {
            let again = run_seed(
                s,
                &RunOptions {
                    trace: false,
                    ..opts
                },
            );
            if again.events_hash != o.events_hash {
                eprintln!(
                    "NONDETERMINISTIC seed {s}: event hash {:016x} then {:016x}",
                    o.events_hash, again.events_hash
                );
                return 3;
            }
            println!("deterministic: event hash {:016x} twice", o.events_hash);
        }
        println!(
            "seed {s}: {} contracts, largest pool {} silent {} epochs {} answered {} worst answer after healing {:.1} s (bound {:.1} s), simulated {:.1} s",
            o.contracts,
            o.pool_size,
            o.silent,
            o.epochs,
            o.answered,
            o.worst_answer_ms as f64 / 1000.0,
            o.bound_ms as f64 / 1000.0,
            o.sim_ms as f64 / 1000.0
        );
        return report_failure(&o, replay);
    }
    let Some(n) = args.seeds else {
        eprintln!("say --seeds N to run N seeds, or --seed N to replay one (see --help)");
        return 64;
    };
    let start = args.start;
    println!("seeds {start}..{}", start + n);
    let mut worst = 0u64;
    let mut worst_seed = start;
    let mut answered = 0usize;
    for (done, s) in (start..start + n).enumerate() {
        let o = run_seed(s, &opts);
        let code = report_failure(&o, replay);
        if code != 0 {
            return code;
        }
        answered += o.answered;
        if o.worst_answer_ms > worst {
            worst = o.worst_answer_ms;
            worst_seed = s;
        }
        if (done + 1) % 1000 == 0 && (done as u64 + 1) < n {
            println!("  {} of {n} seeds ok", done + 1);
        }
    }
    println!(
        "ok: {n} seeds, {answered} honest requests answered; worst answer time after healing {:.1} simulated s (seed {worst_seed})",
        worst as f64 / 1000.0
    );
    0
}
