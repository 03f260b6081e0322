//! Deterministic simulation of POSE pools with adversarial operators and a model chain; checks
//! the protocol invariants after every step; one seed replays a run.
//!
//! - [`ideal`]: an ideal model of the TEE and its cryptography behind `pose-enclave`'s
//!   `Platform` trait.
//! - [`bank`]: a trivial contract engine (counter and bank) so the simulator needs no Wasm.
//! - [`model`]: a Rust model of the manager contract's rules.
//! - [`world`]: enclaves behind adversarial hosts, users, the network, faults and invariants.

#![forbid(unsafe_code)]

pub mod bank;
pub mod ideal;
pub mod model;
pub mod rng;
pub mod world;

pub use world::{run_seed, Failure, Outcome, RunOptions};
