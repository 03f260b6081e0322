//! Determinism: the same contract, inputs and environment give the same outcomes and state
//! hashes on fresh engines; random inputs never break the runtime's guarantees.

mod common;

use common::*;
use pose_runtime::{CallOutcome, RuntimeError};
use pose_types::Hash32;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// One step of a script: who calls (`None` for init), and the input.
type Step = (u8, Vec<u8>);

/// Runs `init` then the steps on a fresh engine; returns every outcome and the state hash
/// after each step.
fn run_script(
    code: &[u8],
    init: &Step,
    steps: &[Step],
) -> Vec<(Result<CallOutcome, RuntimeError>, Hash32)> {
    let mut h = Harness::new(code);
    for who in 1..=5 {
        h.deposit(user(who), 1_000);
    }
    let mut log = vec![(h.init(user(init.0), &init.1), h.state.state_hash())];
    for (i, (who, input)) in steps.iter().enumerate() {
        h.block_time_secs = 1_000 + 100 * i as u64;
        let r = h.call(user(*who), input);
        log.push((r, h.state.state_hash()));
    }
    log
}

fn f32_update(seed: u32, m: usize) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend_from_slice(&(1.0f32 + seed as f32).to_le_bytes());
    for j in 0..m {
        let x = ((j as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / 1e9 - 2.0;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

fn scripts() -> Vec<(&'static str, &'static [u8], Step, Vec<Step>)> {
    let m = 5_000;
    let amount = |op: u8, x: u128| [&[op][..], &x.to_le_bytes()].concat();
    vec![
        (
            "federated-learning",
            FEDERATED_LEARNING,
            (1, (m as u32).to_le_bytes().to_vec()),
            vec![
                (2, f32_update(2, m)),
                (3, f32_update(3, m)),
                (4, f32_update(4, m)),
                (5, vec![2]),
                (1, vec![3]),
                (2, f32_update(9, m)),
                (5, vec![2]),
            ],
        ),
        (
            "sealed-bid-auction",
            AUCTION,
            (
                1,
                [
                    &user(1).0[..],
                    &10u128.to_le_bytes(),
                    &1_500u64.to_le_bytes(),
                ]
                .concat(),
            ),
            vec![
                (2, amount(1, 50)),
                (3, amount(1, 80)),
                (4, amount(1, 80)),
                (2, amount(1, 90)),
                (5, amount(1, 1)),
                (5, vec![2]),
                (3, amount(3, 1_000)),
            ],
        ),
        (
            "token-escrow",
            TOKEN,
            (1, vec![]),
            vec![
                (1, [&[1u8][..], &user(2).0, &100u128.to_le_bytes()].concat()),
                (
                    2,
                    [&[3u8][..], &user(3).0, &user(4).0, &500u128.to_le_bytes()].concat(),
                ),
                (4, [&[4u8][..], &0u64.to_le_bytes()].concat()),
                (3, amount(2, 400)),
            ],
        ),
        (
            "rock-paper-scissors",
            RPS,
            (1, [&7u128.to_le_bytes()[..], &50u64.to_le_bytes()].concat()),
            vec![
                (1, vec![1]),
                (2, vec![1]),
                (1, vec![2, 0]),
                (2, vec![2, 2]),
                (3, vec![1]),
                (4, vec![1]),
                (3, vec![2, 1]),
                (3, vec![3]),
                (4, amount(5, 993)),
            ],
        ),
    ]
}

#[test]
fn each_example_gives_identical_state_hashes_on_fresh_engines() {
    for (name, code, init, steps) in scripts() {
        let a = run_script(code, &init, &steps);
        let b = run_script(code, &init, &steps);
        assert_eq!(a, b, "{name}: two fresh engines disagree");
        let successes = a.iter().filter(|(r, _)| r.is_ok()).count();
        assert!(
            successes >= steps.len() / 2,
            "{name}: script mostly failed: {a:?}"
        );
        let distinct: std::collections::BTreeSet<_> = a.iter().map(|(_, h)| *h).collect();
        assert!(
            distinct.len() > 2,
            "{name}: the script did not change the state"
        );
    }
}

/// A random call: caller 1..=5 and an input that starts with a plausible operation byte.
fn any_step() -> impl Strategy<Value = Step> {
    (
        1u8..=5,
        0u8..7,
        proptest::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(who, op, mut rest)| {
            rest.insert(0, op);
            (who, rest)
        })
}

#[test]
fn random_inputs_keep_determinism_rollback_and_conservation() {
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let contracts: Vec<(&str, &[u8], Vec<u8>)> = vec![
        (
            "federated-learning",
            FEDERATED_LEARNING,
            4u32.to_le_bytes().to_vec(),
        ),
        (
            "sealed-bid-auction",
            AUCTION,
            [
                &user(1).0[..],
                &1u128.to_le_bytes(),
                &2_000u64.to_le_bytes(),
            ]
            .concat(),
        ),
        ("token-escrow", TOKEN, vec![]),
        (
            "rock-paper-scissors",
            RPS,
            [&3u128.to_le_bytes()[..], &10u64.to_le_bytes()].concat(),
        ),
    ];
    // One pair of engines per contract, reused across cases (compiling is the slow part).
    let pairs: std::cell::RefCell<Vec<(Harness, Harness)>> = std::cell::RefCell::new(
        contracts
            .iter()
            .map(|(_, code, _)| (Harness::new(code), Harness::new(code)))
            .collect(),
    );
    runner
        .run(&proptest::collection::vec(any_step(), 1..25), |steps| {
            let mut pairs = pairs.borrow_mut();
            for ((name, _, init), (a, b)) in contracts.iter().zip(pairs.iter_mut()) {
                for h in [&mut *a, &mut *b] {
                    h.state = Default::default();
                    h.payouts.clear();
                    h.block_time_secs = 1_000;
                    for who in 1..=5 {
                        h.deposit(user(who), 1_000);
                    }
                    h.init(user(1), init).expect("init");
                }
                for (i, (who, input)) in steps.iter().enumerate() {
                    a.block_time_secs = 1_000 + 200 * i as u64;
                    b.block_time_secs = a.block_time_secs;
                    // Harness::call asserts that a failed call left the state unchanged.
                    let ra = a.call(user(*who), input);
                    let rb = b.call(user(*who), input);
                    prop_assert_eq!(&ra, &rb, "{}: engines disagree on step {}", name, i);
                    prop_assert_eq!(a.state.state_hash(), b.state.state_hash());
                    prop_assert_eq!(
                        a.state.total_balance_wei() + a.paid_out(),
                        5_000,
                        "{}: coins not conserved",
                        name
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}
