//! The operator daemon: hosts an enclave through the TEE trait, relays opaque bytes between the
//! network, the chain and the enclave, persists sealed blobs, fires timers.
//!
//! Architecture invariant: the node is untrusted. Everything it stores or forwards is either
//! public (chain data, attestations) or sealed/encrypted by the enclave; it never interprets
//! contract state and never decides a protocol step.

pub mod api;
pub mod chain_feed;
pub mod config;
pub mod daemon;
pub mod enclave_core;
pub mod explorer;
mod forge;
pub mod host;
pub mod mailbox;
pub mod metrics;
pub mod store;
