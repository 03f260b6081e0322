//! The manager contract's ABI (through alloy's `sol!` macro) and the chain adapter: deploy,
//! submit, confirmations, event following, chain time. The only crate that speaks JSON-RPC.
//!
//! - [`bindings`]: typed bindings generated from the committed artifact
//!   `contracts/out/PoseManager.json` (ABI and bytecode, built by `scripts/build-contracts`).
//! - [`ManagerClient`]: one account talking to one deployed manager on any EVM chain, given an
//!   `http://` RPC URL and a private key. Every submission waits for the configured number of
//!   confirmations; a revert is returned as the manager's decoded custom error.
//! - [`EventFollower`]: reads the manager's events from a block on, only once they have the
//!   configured confirmations, and can store where it stopped so a restarted host resumes there.
//! - [`gas`]: the gas scenario (one contract's life per pool size, every receipt's gas), shared
//!   by `pose bench gas` and the `gas-report` example.
//! - [`anvil`]: spawns a local anvil node (from `$ANVIL` or `node_modules/.bin/anvil`) on a free
//!   127.0.0.1 port; the node is killed when its handle is dropped.
//!
//! Digests that enclaves sign are computed in `pose-crypto::onchain` (bound to
//! [`ManagerClient::domain`]); this crate only carries signatures to the chain
//! ([`sig_bytes`]). To replay a contract's incremental transaction hash, an enclave's host
//! passes on the `TxHashExtended` events; their `data` decodes with
//! `PoseManager::PoseManagerCalls::abi_decode`.

pub mod anvil;
pub mod bindings;
mod client;
mod convert;
mod error;
mod events;
pub mod gas;

pub use bindings::PoseManager;
pub use client::{find_event, parse_private_key, ChainConfig, DeployPlan, ManagerClient};
pub use convert::{from_address, from_b256, sig_bytes, to_address, to_b256};
pub use error::ChainError;
pub use events::{EventFollower, ManagerEvent, LOG_RANGE_BLOCKS_MAX};

/// Re-export of the alloy version this crate is built with, so users name the same types.
pub use alloy;
