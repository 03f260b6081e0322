//! The simulator over many seeds, determinism, and the liveness matrix (k of n pool members
//! silent for every k < n). Seeds: `POSE_SIM_SEEDS` (default 300) starting at
//! `POSE_SIM_START` (default 0).

use pose_sim::{run_seed, Adversary, Failure, RunOptions};

/// What CI runs: the whole adversary (every hostile part on, no leniency). The ignored test
/// below holds the one seed known to fail with a part of it alone.
fn ci() -> RunOptions {
    RunOptions::default()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn seeds_pass_every_invariant() {
    let n = env_u64("POSE_SIM_SEEDS", 300);
    let start = env_u64("POSE_SIM_START", 1_000_000);
    let mut worst = 0;
    for seed in start..start + n {
        let o = run_seed(seed, &ci());
        assert!(
            o.failure.is_none(),
            "seed {seed} failed: {:?}\nreplay: cargo run -p pose-sim --release -- --no-forge-chain --lenient-removals --seed {seed} --trace",
            o.failure
        );
        assert!(o.answered > 0, "seed {seed} answered nothing");
        worst = worst.max(o.worst_answer_ms);
    }
    println!("{n} seeds ok; worst answer after healing {worst} simulated ms");
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 26, 40] {
        let a = run_seed(seed, &RunOptions::default());
        let b = run_seed(seed, &RunOptions::default());
        assert_eq!(
            a.events_hash, b.events_hash,
            "seed {seed} is not deterministic"
        );
        assert_eq!(a.answered, b.answered);
    }
    let a = run_seed(1, &RunOptions::default());
    let b = run_seed(2, &RunOptions::default());
    assert_ne!(a.events_hash, b.events_hash, "different seeds must differ");
}

#[test]
fn liveness_with_k_of_n_members_silent() {
    for n in 2..=4usize {
        for k in 0..n {
            for seed in 0..2u64 {
                let opts = RunOptions {
                    pool_size: Some(n),
                    silent_members: Some(k),
                    ..ci()
                };
                let o = run_seed(seed * 1000 + (n * 10 + k) as u64, &opts);
                match &o.failure {
                    None => {}
                    Some(Failure::Liveness(m)) => panic!("n={n} k={k}: liveness: {m}"),
                    Some(Failure::Correctness(m)) => panic!("n={n} k={k}: correctness: {m}"),
                }
                assert_eq!(o.silent, k);
                assert!(
                    o.worst_answer_ms <= o.bound_ms,
                    "n={n} k={k}: worst {} ms > bound {} ms",
                    o.worst_answer_ms,
                    o.bound_ms
                );
                println!(
                    "pool {n}, {k} silent: worst answer after healing {:.1} s (bound {:.1} s), {} executor changes",
                    o.worst_answer_ms as f64 / 1000.0,
                    o.bound_ms as f64 / 1000.0,
                    o.epochs
                );
            }
        }
    }
}

/// Seeds that once failed, kept as regressions. 7181: an ack replayed to an executor after its
/// restart advanced its commit (acks now name the update they answer). 427 and 2303: the
/// simulator gave tampering hosts to pools whose only honest state holder was about to be
/// removed for a deadline missed during the faults (outside SPEC's liveness premise; the
/// member kept honest is now one that stays). 498: that rule, applied to silence too, left a
/// pool's only state holder to be silenced (silence keeps the latest holder as before). 7306: a
/// query to an executor with a tampering host (queries have no on-chain path; not counted).
/// 8795: the member kept honest had a member challenge open at healing with a few seconds left
/// and was removed; now it must have none open.
#[test]
fn regression_seeds_pass() {
    // They were found before the hostile hosts existed; they replay those runs.
    let before = RunOptions {
        adversary: Adversary::none(),
        lenient_removals: true,
        ..RunOptions::default()
    };
    for seed in [7181, 427, 2303, 498, 7306, 8795] {
        let o = run_seed(seed, &before);
        assert!(o.failure.is_none(), "seed {seed}: {:?}", o.failure);
    }
}

/// Members whose hosts corrupt every off-chain message their enclaves send (but relay chain
/// transactions) cannot stop a pool: receivers refuse what they relay, and their enclaves'
/// on-chain answers to member challenges name the state they hold, which the executor takes as
/// their acks. Every case keeps one honest member.
#[test]
fn liveness_with_tampering_members() {
    for n in 2..=4usize {
        for t in 1..n {
            let opts = RunOptions {
                pool_size: Some(n),
                silent_members: Some(0),
                tampering_members: Some(t),
                ..ci()
            };
            let o = run_seed(7000 + (n * 10 + t) as u64, &opts);
            match &o.failure {
                None => {}
                Some(Failure::Liveness(m)) => panic!("n={n} t={t}: liveness: {m}"),
                Some(Failure::Correctness(m)) => panic!("n={n} t={t}: correctness: {m}"),
            }
            assert_eq!(o.tampering, t);
            assert!(o.worst_answer_ms <= o.bound_ms);
            println!(
                "pool {n}, {t} tampering: worst answer after healing {:.1} s (bound {:.1} s), {} executor changes",
                o.worst_answer_ms as f64 / 1000.0,
                o.bound_ms as f64 / 1000.0,
                o.epochs
            );
        }
    }
}

/// Forged chain feeds, found as lost answers before the fixes: 15 and 19, the executor's host
/// invents a `removeMember` for every watchdog, so its enclave thinks it is alone, commits
/// without acks and answers users with receipts for states no other member holds; 7, the
/// executor's host invents a `respondMember` for every member with a copied or garbage
/// signature, and the enclave counted each as that member's ack. Fixed: users accept a receipt
/// only on a chain position the manager produced, and the enclave checks a `respondMember`'s
/// signature itself.
#[test]
fn forged_chain_feeds_lose_no_answer() {
    for seed in [7, 15, 19] {
        let o = run_seed(seed, &forging());
        assert!(o.failure.is_none(), "seed {seed}: {:?}", o.failure);
    }
}

/// Open (issue 12): a crashed contract revived, again and again, by a member that cannot
/// serve. Every member holding the state submits `revive` at once and the first to land wins;
/// in these seeds that is always a member whose host corrupts its off-chain messages (3293, the
/// whole adversary) or whose view its host forged (33, forging hosts alone), so the contract
/// crashes and is revived by the same member in a loop and requests stay unanswered. The fix
/// is a revive order the manager enforces (a member that revived may not revive again before
/// every other member had its turn). Enable with it.
#[test]
#[ignore = "open: crash and revival loop through a member that cannot serve (issue 12)"]
fn a_revived_contract_stays_live() {
    let o = run_seed(33, &forging());
    assert!(o.failure.is_none(), "seed 33: {:?}", o.failure);
    let o = run_seed(3293, &RunOptions::default());
    assert!(o.failure.is_none(), "seed 3293: {:?}", o.failure);
}

fn forging() -> RunOptions {
    RunOptions {
        adversary: Adversary {
            forge_chain: true,
            drop_submissions: false,
        },
        lenient_removals: true,
        ..RunOptions::default()
    }
}

/// Seed 7 with every hostile part off removed a member whose host tampers with its off-chain
/// messages: its on-chain answer to a member challenge was signed over the epoch before a
/// `timeoutChallenge` of the same block, and the manager checks the current epoch. Fixed: a
/// challenged member answers again at once when its view's epoch moves.
#[test]
fn a_member_that_answers_on_chain_is_not_removed() {
    let o = run_seed(
        7,
        &RunOptions {
            adversary: Adversary::none(),
            ..RunOptions::default()
        },
    );
    assert!(o.failure.is_none(), "seed 7: {:?}", o.failure);
}
