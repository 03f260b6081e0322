//! The example contracts (examples/contracts), run through the runtime from their committed
//! `.wasm` files.

mod common;

use common::*;
use pose_runtime::{Payout, RuntimeError};

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn submit(weight: f32, update: &[f32]) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend_from_slice(&weight.to_le_bytes());
    v.extend_from_slice(&f32s(update));
    v
}

// ---------------------------------------------------------------- federated learning

#[test]
fn fl_aggregates_the_weighted_average() {
    // More parameters than one chunk of the kernel, and not a multiple of it.
    let m = 10_007usize;
    let mut h = Harness::new(FEDERATED_LEARNING);
    let coordinator = user(1);
    h.init(coordinator, &(m as u32).to_le_bytes()).unwrap();
    let updates: Vec<(u8, f32, Vec<f32>)> = (0..3u8)
        .map(|p| {
            let u = (0..m)
                .map(|j| (j as f32) * 0.001 * f32::from(p + 1) - 1.0)
                .collect();
            (10 + p, f32::from(p) + 1.0, u)
        })
        .collect();
    for (who, w, u) in &updates {
        h.call(user(*who), &submit(*w, u)).unwrap();
    }
    assert_eq!(
        h.query(user(99), &[5]).unwrap(),
        [
            &(m as u32).to_le_bytes()[..],
            &3u32.to_le_bytes(),
            &0u64.to_le_bytes()
        ]
        .concat()
    );

    let out = h.call(user(50), &[2]).unwrap();
    assert_eq!(out.output, 1u64.to_le_bytes());
    assert_eq!(out.events.len(), 1);

    // The same arithmetic, in the same order, in plain Rust.
    let total: f32 = updates.iter().map(|(_, w, _)| *w).sum();
    let want: Vec<f32> = (0..m)
        .map(|j| {
            let mut acc = 0.0f32;
            for (_, w, u) in &updates {
                acc += *w * u[j];
            }
            acc * (1.0 / total)
        })
        .collect();
    let read = h.call(user(77), &[4]).unwrap().output;
    assert_eq!(&read[..8], &1u64.to_le_bytes());
    assert_eq!(read[8..], f32s(&want)[..]);
    assert_eq!(
        h.query(user(77), &[4]).unwrap(),
        read,
        "query and call disagree"
    );
}

#[test]
fn fl_rewards_participants_and_pays_out() {
    let mut h = Harness::new(FEDERATED_LEARNING);
    let coordinator = user(1);
    let (p, q) = (user(2), user(3));
    h.init(coordinator, &4u32.to_le_bytes()).unwrap();
    let amount = |op: u8, v: u128| [&[op][..], &v.to_le_bytes()].concat();
    // Nobody to reward before a submission; only the coordinator rewards.
    h.deposit(coordinator, 1_001);
    assert_aborted(h.call(coordinator, &amount(6, 10)), "nobody submitted");
    h.call(p, &submit(1.0, &[1.0; 4])).unwrap();
    h.call(q, &submit(1.0, &[2.0; 4])).unwrap();
    assert_aborted(h.call(p, &amount(6, 10)), "only the coordinator");
    let out = h.call(coordinator, &amount(6, 1_001)).unwrap();
    assert_eq!(out.output, 500u128.to_le_bytes());
    assert_eq!(
        (h.balance(p), h.balance(q), h.balance(coordinator)),
        (500, 500, 1)
    );
    // A participant withdraws part of its reward: a payout to its own address.
    let w = h.call(p, &amount(7, 200)).unwrap();
    assert_eq!(
        w.payouts,
        vec![Payout {
            to: p,
            amount_wei: 200
        }]
    );
    assert_eq!(h.balance(p), 300);
    assert_aborted(h.call(q, &amount(7, 501)), "holds less");
}

#[test]
fn fl_refuses_bad_submissions_and_keeps_rounds_apart() {
    let mut h = Harness::new(FEDERATED_LEARNING);
    let coordinator = user(1);
    h.init(coordinator, &4u32.to_le_bytes()).unwrap();
    assert_aborted(h.call(user(2), &[2]), "no updates");
    assert_aborted(h.call(user(2), &submit(0.0, &[1.0; 4])), "weight");
    assert_aborted(h.call(user(2), &submit(f32::NAN, &[1.0; 4])), "weight");
    assert_aborted(h.call(user(2), &submit(1.0, &[1.0; 3])), "too short");
    assert_aborted(h.call(user(2), &submit(1.0, &[1.0; 5])), "trailing");
    assert_aborted(
        h.call(user(2), &submit(1.0, &[1.0, f32::INFINITY, 0.0, 0.0])),
        "NaN or infinite",
    );
    assert_aborted(h.call(user(2), &[9]), "unknown operation");

    h.call(user(2), &submit(1.0, &[2.0; 4])).unwrap();
    // Resubmitting replaces the earlier update instead of adding a participant.
    h.call(user(2), &submit(1.0, &[4.0; 4])).unwrap();
    h.call(user(3), &submit(3.0, &[8.0; 4])).unwrap();
    h.call(user(9), &[2]).unwrap();
    let global = h.query(user(9), &[4]).unwrap();
    assert_eq!(global[8..], f32s(&[7.0; 4])[..]);

    assert_aborted(h.call(user(2), &[3]), "only the coordinator");
    h.call(coordinator, &[3]).unwrap();
    assert_aborted(h.call(user(9), &[2]), "no updates");
    // The global model of the last round stays readable.
    assert_eq!(h.query(user(9), &[4]).unwrap(), global);
    h.call(user(4), &submit(2.0, &[1.0; 4])).unwrap();
    assert_eq!(h.call(user(9), &[2]).unwrap().output, 2u64.to_le_bytes());
    assert_eq!(h.query(user(9), &[4]).unwrap()[8..], f32s(&[1.0; 4])[..]);
}

#[test]
fn fl_init_checks_the_model_size() {
    let mut h = Harness::new(FEDERATED_LEARNING);
    assert_aborted(h.init(user(1), &0u32.to_le_bytes()), "model size");
    assert_aborted(h.init(user(1), &[1, 2]), "too short");
    assert_aborted(h.call(user(1), &[2]), "not initialised");
}

// ---------------------------------------------------------------- sealed-bid auction

fn auction_init(seller: pose_types::Address, reserve: u128, end: u64) -> Vec<u8> {
    [&seller.0[..], &reserve.to_le_bytes(), &end.to_le_bytes()].concat()
}

fn bid(amount: u128) -> Vec<u8> {
    [&[1u8][..], &amount.to_le_bytes()].concat()
}

#[test]
fn auction_highest_sealed_bid_wins_and_others_are_refunded() {
    let mut h = Harness::new(AUCTION);
    let (seller, a, b, c) = (user(1), user(2), user(3), user(4));
    h.init(seller, &auction_init(seller, 10, 2_000)).unwrap();
    for who in [a, b, c] {
        h.deposit(who, 100);
    }
    h.call(a, &bid(40)).unwrap();
    h.call(b, &bid(60)).unwrap();
    assert_aborted(h.call(c, &bid(5)), "reserve");
    assert_aborted(h.call(c, &bid(101)), "holds less");
    // A raises its bid: the old one comes back, the new one is locked.
    h.call(a, &bid(70)).unwrap();
    assert_eq!(h.balance(a), 30);
    assert_eq!(h.balance(b), 40);
    // Sealed: the status reveals no amounts or leader before the close.
    let status = h.query(c, &[1]).unwrap();
    assert_eq!(
        status,
        [
            &[0u8][..],
            &2u32.to_le_bytes(),
            &[0; 20],
            &0u128.to_le_bytes()
        ]
        .concat()
    );
    assert_eq!(h.query(a, &[2]).unwrap(), 70u128.to_le_bytes());
    assert_eq!(h.query(c, &[2]).unwrap(), 0u128.to_le_bytes());

    assert_aborted(h.call(c, &[2]), "not ended");
    h.block_time_secs = 2_000;
    assert_aborted(h.call(c, &bid(20)), "bidding has ended");
    let out = h.call(c, &[2]).unwrap();
    assert_eq!(out.output, [&a.0[..], &70u128.to_le_bytes()].concat());
    assert_eq!(h.balance(seller), 70);
    assert_eq!(h.balance(a), 30);
    assert_eq!(h.balance(b), 100);
    assert_aborted(h.call(c, &[2]), "already closed");

    let w = h
        .call(b, &[&[3u8][..], &100u128.to_le_bytes()].concat())
        .unwrap();
    assert_eq!(
        w.payouts,
        vec![Payout {
            to: b,
            amount_wei: 100
        }]
    );
    assert_aborted(
        h.call(b, &[&[3u8][..], &1u128.to_le_bytes()].concat()),
        "holds less",
    );
    assert_eq!(
        h.state.total_balance_wei() + h.paid_out(),
        300,
        "coins not conserved"
    );
}

#[test]
fn auction_without_bids_closes_without_winner() {
    let mut h = Harness::new(AUCTION);
    h.init(user(1), &auction_init(user(1), 10, 2_000)).unwrap();
    h.block_time_secs = 3_000;
    let out = h.call(user(5), &[2]).unwrap();
    assert_eq!(out.output, [&[0u8; 20][..], &0u128.to_le_bytes()].concat());
    assert_aborted(h.init(user(1), &auction_init(user(1), 10, 2_000)), "future");
}

// ---------------------------------------------------------------- token / escrow

fn escrow_open(payee: pose_types::Address, arbiter: pose_types::Address, amount: u128) -> Vec<u8> {
    [&[3u8][..], &payee.0, &arbiter.0, &amount.to_le_bytes()].concat()
}

#[test]
fn token_transfers_escrows_and_withdrawals_conserve_coins() {
    let mut h = Harness::new(TOKEN);
    let (alice, bob, judge) = (user(1), user(2), user(3));
    h.init(alice, b"").unwrap();
    h.deposit(alice, 1_000);
    h.call(
        alice,
        &[&[1u8][..], &bob.0, &250u128.to_le_bytes()].concat(),
    )
    .unwrap();
    assert_eq!((h.balance(alice), h.balance(bob)), (750, 250));
    assert_aborted(
        h.call(
            bob,
            &[&[1u8][..], &alice.0, &251u128.to_le_bytes()].concat(),
        ),
        "holds less",
    );

    let id0 = h.call(alice, &escrow_open(bob, judge, 300)).unwrap().output;
    assert_eq!(id0, 0u64.to_le_bytes());
    let id1 = h.call(alice, &escrow_open(bob, judge, 100)).unwrap().output;
    assert_eq!(h.balance(alice), 350);
    // Only the payer or the arbiter releases; only the payee or the arbiter refunds.
    assert_aborted(
        h.call(bob, &[&[4u8][..], &id0[..]].concat()),
        "may not settle",
    );
    h.call(judge, &[&[4u8][..], &id0[..]].concat()).unwrap();
    assert_eq!(h.balance(bob), 550);
    assert_aborted(
        h.call(alice, &[&[4u8][..], &id0[..]].concat()),
        "already settled",
    );
    assert_aborted(
        h.call(alice, &[&[5u8][..], &id1[..]].concat()),
        "may not settle",
    );
    h.call(bob, &[&[5u8][..], &id1[..]].concat()).unwrap();
    assert_eq!(h.balance(alice), 450);
    assert_aborted(
        h.call(bob, &[&[4u8][..], &7u64.to_le_bytes()].concat()),
        "no escrow 7",
    );

    let q = h.query(judge, &[&[2u8][..], &id0[..]].concat()).unwrap();
    assert_eq!(
        q,
        [&alice.0[..], &bob.0, &judge.0, &300u128.to_le_bytes(), &[0]].concat()
    );
    assert_eq!(
        h.query(judge, &[&[1u8][..], &bob.0].concat()).unwrap(),
        550u128.to_le_bytes()
    );

    let w = h
        .call(bob, &[&[2u8][..], &500u128.to_le_bytes()].concat())
        .unwrap();
    assert_eq!(
        w.payouts,
        vec![Payout {
            to: bob,
            amount_wei: 500
        }]
    );
    assert_eq!(h.state.total_balance_wei() + h.paid_out(), 1_000);
}

// ---------------------------------------------------------------- rock-paper-scissors

fn rps_init(stake: u128, timeout: u64) -> Vec<u8> {
    [&stake.to_le_bytes()[..], &timeout.to_le_bytes()].concat()
}

#[test]
fn rps_hidden_moves_decide_the_stakes() {
    let mut h = Harness::new(RPS);
    let (a, b, c) = (user(1), user(2), user(3));
    h.init(a, &rps_init(10, 60)).unwrap();
    for who in [a, b, c] {
        h.deposit(who, 100);
    }
    assert_aborted(h.call(a, &[2, 0]), "two players");
    h.call(a, &[1]).unwrap();
    assert_aborted(h.call(a, &[1]), "already joined");
    h.call(b, &[1]).unwrap();
    assert_aborted(h.call(c, &[1]), "full");
    assert_aborted(h.call(c, &[2, 0]), "does not play");
    assert_aborted(h.call(a, &[2, 3]), "a move is");
    h.call(a, &[2, 0]).unwrap(); // rock
                                 // The opponent learns that A moved, never which move.
    assert_eq!(
        h.query(b, &[1]).unwrap(),
        [&0u64.to_le_bytes()[..], &[2, 1, 0, 255]].concat()
    );
    assert_aborted(h.call(a, &[2, 1]), "already moved");
    let out = h.call(b, &[2, 1]).unwrap(); // paper beats rock
    assert_eq!(out.output, [&0u64.to_le_bytes()[..], &[2]].concat());
    assert_eq!((h.balance(a), h.balance(b)), (90, 110));

    // Game 1: a draw returns the stakes.
    h.call(a, &[1]).unwrap();
    h.call(c, &[1]).unwrap();
    h.call(c, &[2, 2]).unwrap();
    let out = h.call(a, &[2, 2]).unwrap();
    assert_eq!(out.output, [&1u64.to_le_bytes()[..], &[0]].concat());
    assert_eq!((h.balance(a), h.balance(c)), (90, 100));

    // Game 2: B moves, C stalls; B claims after the timeout.
    h.call(b, &[1]).unwrap();
    h.call(c, &[1]).unwrap();
    h.call(b, &[2, 1]).unwrap();
    assert_aborted(h.call(b, &[3]), "still has time");
    h.block_time_secs += 60;
    let out = h.call(b, &[3]).unwrap();
    assert_eq!(out.output, [&2u64.to_le_bytes()[..], &[1]].concat());
    assert_eq!((h.balance(b), h.balance(c)), (120, 90));

    // A lone player may leave; withdrawals pay out.
    h.call(a, &[1]).unwrap();
    assert_eq!(h.balance(a), 80);
    h.call(a, &[4]).unwrap();
    assert_eq!(h.balance(a), 90);
    let w = h
        .call(b, &[&[5u8][..], &120u128.to_le_bytes()].concat())
        .unwrap();
    assert_eq!(
        w.payouts,
        vec![Payout {
            to: b,
            amount_wei: 120
        }]
    );
    assert_eq!(h.state.total_balance_wei() + h.paid_out(), 300);
}

#[test]
fn contracts_run_out_of_fuel_cleanly() {
    let mut h = Harness::new(FEDERATED_LEARNING);
    h.init(user(1), &1000u32.to_le_bytes()).unwrap();
    h.fuel_limit = 10_000;
    let err = h.call(user(2), &submit(1.0, &[0.5; 1000])).unwrap_err();
    assert_eq!(err, RuntimeError::OutOfFuel { fuel_limit: 10_000 });
}

// ---------------------------------------------------------------- interface section

#[test]
fn the_code_hash_covers_the_embedded_interface() {
    // The interface JSON sits in the custom section `pose.interface`, which the runtime does
    // not execute: a host that swapped a method name there must get another code hash, or a
    // user would read a lying interface for code the chain vouches for.
    let needle = br#""name":"transfer""#;
    let at = TOKEN
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the token contract embeds its interface");
    assert!(
        TOKEN.windows(14).any(|w| w == b"pose.interface"),
        "in the section pose.interface"
    );
    let mut forged = TOKEN.to_vec();
    forged[at + 9] = b'T';
    let mut engine = pose_runtime::WasmtimeEngine::new().unwrap();
    use pose_runtime::ContractEngine;
    let h1 = engine.load(TOKEN).unwrap();
    let h2 = engine.load(&forged).unwrap();
    assert_eq!(h1, pose_runtime::code_hash(TOKEN));
    assert_ne!(h1, h2, "the code hash ignores the interface section");
}
