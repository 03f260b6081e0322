//! The user SDK: verifies a pool's attestations against the chain, encrypts inputs to a
//! contract, calls, queries, deposits, withdraws and challenges.
//!
//! [`transport`] speaks the operator node's HTTP API; the node also uses it to reach its peers,
//! so the API has one client implementation.

pub mod contract;
pub mod interface;
pub mod risk;
pub mod transport;
pub mod typed;

/// The off-chain messages (requests, receipts, deployments).
pub(crate) use pose_types::wire;

pub use contract::{Answer, ClientError, ClientOptions, PoseClient, Progress};
