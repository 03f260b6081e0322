//! Each invariant bites: with one deliberate bug injected into every enclave, the simulator
//! finds a violation within [`SEEDS_MAX`] seeds. Needs `--features bug-injection`.
#![cfg(feature = "bug-injection")]

use pose_sim::{run_seed, Adversary, Failure, RunOptions, BUGS};

/// The stated number of seeds within which every injected bug is found.
const SEEDS_MAX: u64 = 60;

#[test]
fn every_injected_bug_is_found() {
    for (name, bug) in BUGS {
        let mut found = None;
        for seed in 0..SEEDS_MAX {
            let o = run_seed(
                seed,
                // Without the parts that find open holes, so a failure is the bug's.
                &RunOptions {
                    bug: Some(*bug),
                    adversary: Adversary::none(),
                    lenient_removals: true,
                    ..RunOptions::default()
                },
            );
            if let Some(Failure::Correctness(m)) = o.failure {
                found = Some((seed, m));
                break;
            }
        }
        let (seed, m) =
            found.unwrap_or_else(|| panic!("bug {name} not found in {SEEDS_MAX} seeds"));
        println!("{name}: found at seed {seed}: {m}");
    }
}
