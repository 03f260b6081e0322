//! `pose-sim`: runs seeds of the deterministic simulator.
//!
//! ```text
//! pose-sim --seeds N [--start S]      run N seeds, exit non-zero on the first failure
//! pose-sim --seed N [--trace]         replay one seed (with a trace of every event)
//! pose-sim --seed N --check-determinism   run a seed twice and compare the event hashes
//! ```
//! Exit codes: 0 ok, 1 correctness failure, 2 liveness failure, 3 nondeterminism, 64 usage.

use anyhow::{bail, Context, Result};
use pose_sim::{run_seed, Failure, Outcome, RunOptions};

fn usage() -> ! {
    eprintln!(
        "usage: pose-sim [--seeds N [--start S]] [--seed N [--trace] [--check-determinism]] [--silent K] [--pool N] [--bug NAME]"
    );
    std::process::exit(64);
}

fn report_failure(o: &Outcome) -> i32 {
    let (code, what) = match &o.failure {
        Some(Failure::Correctness(m)) => (1, format!("correctness: {m}")),
        Some(Failure::Liveness(m)) => (2, format!("liveness: {m}")),
        None => return 0,
    };
    eprintln!("FAILED seed {}: {what}", o.seed);
    eprintln!(
        "replay: cargo run -p pose-sim --release -- --seed {} --trace",
        o.seed
    );
    code
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seeds: Option<u64> = None;
    let mut seed: Option<u64> = None;
    let mut start: u64 = 0;
    let mut opts = RunOptions::default();
    let mut determinism = false;
    let mut i = 0;
    let num = |i: usize| -> Result<u64> {
        args.get(i)
            .context("missing number")?
            .parse()
            .context("not a number")
    };
    while i < args.len() {
        match args[i].as_str() {
            "--seeds" => {
                seeds = Some(num(i + 1)?);
                i += 1;
            }
            "--seed" => {
                seed = Some(num(i + 1)?);
                i += 1;
            }
            "--start" => {
                start = num(i + 1)?;
                i += 1;
            }
            "--silent" => {
                opts.silent_members = Some(num(i + 1)? as usize);
                i += 1;
            }
            "--pool" => {
                opts.pool_size = Some(num(i + 1)? as usize);
                i += 1;
            }
            "--bug" => {
                let name = args.get(i + 1).context("missing bug name")?;
                opts.bug = Some(pose_sim::parse_bug(name).context("unknown bug name")?);
                if !cfg!(feature = "bug-injection") {
                    bail!("--bug needs a build with --features bug-injection");
                }
                i += 1;
            }
            "--trace" => opts.trace = true,
            "--check-determinism" => determinism = true,
            "-h" | "--help" => usage(),
            other => bail!("unknown argument {other}"),
        }
        i += 1;
    }
    if let Some(s) = seed {
        println!("seed {s}");
        let o = run_seed(s, &opts);
        if determinism {
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
                std::process::exit(3);
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
        std::process::exit(report_failure(&o));
    }
    let n = seeds.unwrap_or_else(|| usage());
    println!("seeds {start}..{} ", start + n);
    let mut worst = 0u64;
    let mut worst_seed = start;
    let mut answered = 0usize;
    for s in start..start + n {
        let o = run_seed(s, &opts);
        let code = report_failure(&o);
        if code != 0 {
            std::process::exit(code);
        }
        answered += o.answered;
        if o.worst_answer_ms > worst {
            worst = o.worst_answer_ms;
            worst_seed = s;
        }
    }
    println!(
        "ok: {n} seeds, {answered} honest requests answered; worst answer time after healing {:.1} simulated s (seed {worst_seed})",
        worst as f64 / 1000.0
    );
    Ok(())
}
