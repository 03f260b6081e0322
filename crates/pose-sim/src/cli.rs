//! The simulator's command line, shared by the `pose-sim` binary and `pose sim`.
//!
//! Exit codes: 0 ok, 1 correctness failure, 2 liveness failure, 3 nondeterminism, 64 usage.

use clap::Args;

use crate::{parse_bug, run_seed, Adversary, Failure, Outcome, RunOptions, BUGS};

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
    /// Force this many contracts (else 1 or 2, drawn from the seed; 1 when --pool or
    /// --silent is given).
    #[arg(long)]
    pub contracts: Option<usize>,
    /// Hosts never lie to their enclave about the chain (no invented, dropped, duplicated,
    /// reordered or altered chain transactions).
    #[arg(long)]
    pub no_forge_chain: bool,
    /// Hosts never drop the submissions their enclave asks for (beyond the network's drop
    /// rate during the faults).
    #[arg(long)]
    pub no_drop_submissions: bool,
    /// A member whose host tampers with its off-chain messages (but relays its chain view and
    /// submissions) may be removed without failing the run.
    #[arg(long)]
    pub lenient_removals: bool,
}

impl SimArgs {
    /// The run options these arguments ask for (`Err` with a usage message).
    pub fn options(&self) -> Result<RunOptions, String> {
        let mut opts = RunOptions {
            trace: self.trace,
            silent_members: self.silent,
            pool_size: self.pool,
            tampering_members: self.tampering,
            contracts: self.contracts,
            adversary: Adversary {
                forge_chain: !self.no_forge_chain,
                drop_submissions: !self.no_drop_submissions,
            },
            lenient_removals: self.lenient_removals,
            ..RunOptions::default()
        };
        if let Some(name) = &self.bug {
            let Some(bug) = parse_bug(name) else {
                return Err(format!("unknown bug `{name}`; see --help for the names"));
            };
            if !cfg!(feature = "bug-injection") {
                return Err(
                    "--bug needs a build with `--features bug-injection` (pose-sim)".into(),
                );
            }
            opts.bug = Some(bug);
        }
        Ok(opts)
    }
}

/// The command that replays `seed` under `opts` exactly (with a trace): `prefix` (e.g.
/// `pose sim`), then every option the run forced, then `--seed N --trace`.
pub fn replay_command(prefix: &str, seed: u64, opts: &RunOptions) -> String {
    let mut c = prefix.to_string();
    let mut arg = |s: String| {
        c.push(' ');
        c.push_str(&s);
    };
    if let Some(n) = opts.pool_size {
        arg(format!("--pool {n}"));
    }
    if let Some(n) = opts.silent_members {
        arg(format!("--silent {n}"));
    }
    if let Some(n) = opts.tampering_members {
        arg(format!("--tampering {n}"));
    }
    if let Some(n) = opts.contracts {
        arg(format!("--contracts {n}"));
    }
    if let Some(b) = opts.bug {
        let name = BUGS.iter().find(|(_, x)| *x == b).map_or("?", |(n, _)| *n);
        arg(format!("--bug {name}"));
    }
    if !opts.adversary.forge_chain {
        arg("--no-forge-chain".into());
    }
    if !opts.adversary.drop_submissions {
        arg("--no-drop-submissions".into());
    }
    if opts.lenient_removals {
        arg("--lenient-removals".into());
    }
    arg(format!("--seed {seed} --trace"));
    c
}

fn report_failure(o: &Outcome, opts: &RunOptions, replay: &str) -> i32 {
    let (code, what) = match &o.failure {
        Some(Failure::Correctness(m)) => (1, format!("correctness: {m}")),
        Some(Failure::Liveness(m)) => (2, format!("liveness: {m}")),
        None => return 0,
    };
    eprintln!("FAILED seed {}: {what}", o.seed);
    eprintln!("replay: {}", replay_command(replay, o.seed, opts));
    code
}

/// Runs the simulator as `args` say; returns the process exit code. `replay` is the command
/// prefix printed for replaying a failed seed (e.g. `pose sim`).
pub fn run(args: &SimArgs, replay: &str) -> i32 {
    let opts = match args.options() {
        Ok(o) => o,
        Err(m) => {
            eprintln!("{m}");
            return 64;
        }
    };
    if let Some(s) = args.seed {
        println!("seed {s}");
        let o = run_seed(s, &opts);
        if args.check_determinism {
            let again = run_seed(
                s,
                &RunOptions {
                    trace: false,
                    ..opts.clone()
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
            "seed {s}: {} contracts, largest pool {} silent {} epochs {} answered {} worst answer after healing {:.1} s (bound {:.1} s), simulated {:.1} s, event hash {:016x}",
            o.contracts,
            o.pool_size,
            o.silent,
            o.epochs,
            o.answered,
            o.worst_answer_ms as f64 / 1000.0,
            o.bound_ms as f64 / 1000.0,
            o.sim_ms as f64 / 1000.0,
            o.events_hash
        );
        println!("replay: {}", replay_command(replay, s, &opts));
        return report_failure(&o, &opts, replay);
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
        let code = report_failure(&o, &opts, replay);
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
