//! The line a failing seed prints replays that exact run: every forced option is in it, and the
//! printed command gives the same event hash.

use std::process::Command;

use clap::Parser;
use pose_sim::cli::{replay_command, SimArgs};
use pose_sim::{run_seed, Adversary, RunOptions};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SimArgs,
}

fn cases() -> Vec<RunOptions> {
    vec![
        RunOptions::default(),
        RunOptions {
            pool_size: Some(3),
            silent_members: Some(1),
            tampering_members: Some(1),
            contracts: Some(2),
            ..RunOptions::default()
        },
        RunOptions {
            adversary: Adversary::none(),
            lenient_removals: true,
            ..RunOptions::default()
        },
        RunOptions {
            adversary: Adversary {
                forge_chain: false,
                ..Adversary::default()
            },
            contracts: Some(1),
            ..RunOptions::default()
        },
        RunOptions {
            adversary: Adversary {
                drop_submissions: false,
                ..Adversary::default()
            },
            pool_size: Some(2),
            ..RunOptions::default()
        },
    ]
}

#[test]
fn the_printed_command_parses_back_to_the_same_options_and_run() {
    for (k, opts) in cases().into_iter().enumerate() {
        let seed = 11 + k as u64;
        let line = replay_command("pose-sim", seed, &opts);
        let words: Vec<&str> = line.split_whitespace().collect();
        let cli = Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(cli.args.seed, Some(seed), "{line}");
        assert!(cli.args.trace, "{line}");
        let parsed = cli.args.options().expect("options");
        let want = RunOptions {
            trace: true,
            ..opts.clone()
        };
        assert_eq!(parsed, want, "{line}");
        let a = run_seed(seed, &opts);
        let b = run_seed(
            seed,
            &RunOptions {
                trace: false,
                ..parsed
            },
        );
        assert_eq!(a.events_hash, b.events_hash, "{line}");
    }
}

fn run_bin(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pose-sim"))
        .args(args)
        .output()
        .expect("the pose-sim binary runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn line_after<'a>(out: &'a str, tag: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.split_once(tag).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no `{tag}` in the output:\n{out}"))
}

#[test]
fn the_binary_prints_a_replay_line_that_gives_the_same_event_hash() {
    let first = run_bin(&[
        "--seed",
        "5",
        "--pool",
        "3",
        "--silent",
        "1",
        "--tampering",
        "1",
        "--contracts",
        "1",
        "--no-forge-chain",
        "--lenient-removals",
    ]);
    let hash = line_after(&first, "event hash ").trim().to_string();
    let replay = line_after(&first, "replay: ");
    let args: Vec<&str> = replay
        .strip_prefix("cargo run -p pose-sim --release --")
        .unwrap_or_else(|| panic!("unexpected prefix: {replay}"))
        .split_whitespace()
        .collect();
    for forced in [
        "--pool",
        "--silent",
        "--tampering",
        "--contracts",
        "--no-forge-chain",
        "--lenient-removals",
    ] {
        assert!(args.contains(&forced), "{forced} missing from {replay}");
    }
    let again = run_bin(&args);
    let summary = again
        .lines()
        .find(|l| l.starts_with("seed 5:"))
        .unwrap_or_else(|| panic!("no summary line in the replay's output"));
    assert!(
        summary.ends_with(&format!("event hash {hash}")),
        "replay gave `{summary}`, first run event hash {hash}"
    );
}
