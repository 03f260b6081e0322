//! The fuzz target's step on stable Rust: random and mutated inputs reach every handler of a
//! live enclave; nothing panics and no rejected input changes it.

use pose_sim::harness::Solo;
use pose_sim::rng::Rng;

#[test]
fn random_and_mutated_inputs_never_panic_or_change_state_when_rejected() {
    let mut solo = Solo::new(1);
    let (seq, _, _) = solo.fingerprint();
    assert!(
        seq.0 >= 1,
        "the harness executed its requests (seq {seq:?})"
    );
    let mut rng = Rng::new(2);
    for _ in 0..20_000 {
        let n = rng.range(1, 300) as usize;
        let mut data = vec![0u8; n];
        rng.fill(&mut data);
        // Mostly mutations of valid messages; they reach the deepest checks.
        if rng.chance(700) {
            data[0] = 2;
            for b in data.iter_mut().skip(2) {
                if !rng.chance(30) {
                    *b = 0;
                }
            }
        }
        solo.fuzz(&data);
    }
}

/// The hostile-host fuzz step on stable Rust: random sequences of invented chain transactions,
/// mutated messages, requests and time never panic, and rejected events change nothing.
#[test]
fn invented_chain_transactions_and_messages_never_panic() {
    let mut rng = Rng::new(3);
    for _ in 0..300 {
        let mut solo = Solo::new(1);
        let n = rng.range(1, 400) as usize;
        let mut data = vec![0u8; n];
        rng.fill(&mut data);
        solo.fuzz_hostile_host(&data);
    }
}
