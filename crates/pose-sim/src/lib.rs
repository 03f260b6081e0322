//! Deterministic simulation of POSE pools with adversarial operators and a model chain; checks
//! the protocol invariants after every step; one seed replays a run.
//!
//! - [`ideal`]: an ideal model of the TEE and its cryptography behind `pose-enclave`'s
//!   `Platform` trait.
//! - [`bank`]: a trivial contract engine (counter and bank) so the simulator needs no Wasm.
//! - [`model`]: a Rust model of the manager contract's rules.
//! - [`harness`]: one enclave serving a live contract, for fuzzing its entry point.
//! - [`world`]: enclaves behind adversarial hosts, users, the network, faults and invariants.

#![forbid(unsafe_code)]

pub mod bank;
pub mod cli;
pub mod harness;
pub mod ideal;
pub mod model;
pub mod pool;
pub mod rng;
pub mod world;

pub use world::{run_seed, Adversary, Failure, Outcome, RunOptions};

/// Every injectable bug with its command-line name.
pub const BUGS: &[(&str, pose_enclave::Bug)] = &[
    ("reply-before-acks", pose_enclave::Bug::ReplyBeforeAcks),
    ("accept-old-epoch", pose_enclave::Bug::AcceptOldEpoch),
    ("skip-nonce-check", pose_enclave::Bug::SkipNonceCheck),
    (
        "double-credit-deposit",
        pose_enclave::Bug::DoubleCreditDeposit,
    ),
    ("leak-plaintext", pose_enclave::Bug::LeakPlaintext),
    ("accept-stale-seal", pose_enclave::Bug::AcceptStaleSeal),
];

/// The bug named `name` (see [`BUGS`]).
pub fn parse_bug(name: &str) -> Option<pose_enclave::Bug> {
    BUGS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
