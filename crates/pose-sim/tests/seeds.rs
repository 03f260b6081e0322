//! The simulator over many seeds, determinism, and the liveness matrix (k of n pool members
//! silent for every k < n). Seeds: `POSE_SIM_SEEDS` (default 300) starting at
//! `POSE_SIM_START` (default 0).

use pose_sim::{run_seed, Adversary, Failure, RunOptions};

/// What CI runs: every part of the hostile operator except those that find protocol holes whose
/// fixes have not landed yet (docs/protocol.md 6.7): hosts forging their enclave's chain feed
/// (`--no-forge-chain`), and the removal of members whose hosts tamper with their off-chain
/// messages (`--lenient-removals`). The ignored tests below hold the seeds that fail with them.
fn ci() -> RunOptions {
    RunOptions {
        adversary: Adversary {
            forge_chain: false,
            ..Adversary::default()
        },
        lenient_removals: true,
        ..RunOptions::default()
    }
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

/// Open hole (issue 12), forged chain feeds: with only the forging hosts on, these seeds lose
/// answers on the current protocol. 15 and 19: the executor's host invents a `removeMember`
/// for every watchdog, so its enclave thinks it is alone, commits without acks and answers
/// users with receipts for states no other member holds. 7 and 33: the executor's host invents
/// a `respondMember` for every member naming the state its enclave just sent, with a copied or
/// garbage signature, and the enclave counts each as that member's ack. Enable when the fixes
/// land (the user checks a reply's chain position against the chain; the enclave checks a
/// `respondMember` signature itself) and drop `--no-forge-chain` from `ci()`.
#[test]
#[ignore = "open hole: forged chain feeds (issue 12); enable when the reply's chain position is checked"]
fn forged_chain_feeds_lose_no_answer() {
    let forging = RunOptions {
        adversary: Adversary {
            forge_chain: true,
            drop_submissions: false,
        },
        lenient_removals: true,
        ..RunOptions::default()
    };
    for seed in [7, 15, 19, 33] {
        let o = run_seed(seed, &forging);
        assert!(o.failure.is_none(), "seed {seed}: {:?}", o.failure);
    }
}

/// Open hole (issue 12), honest member removed: in seed 7 (no hostile host parts) a member
/// whose host tampers with its off-chain messages answers its member challenge on-chain, but
/// signs with the epoch before a `timeoutChallenge` included in the same block, so the model
/// manager refuses the answer (it checks the current epoch, where docs/protocol.md 6.6 says
/// any epoch) and the next executor removes the member. Enable when the answer is accepted (or
/// re-signed) and drop `lenient_removals` from `ci()`.
#[test]
#[ignore = "open hole: a member's on-chain answer signed over the previous epoch is refused (issue 12)"]
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
