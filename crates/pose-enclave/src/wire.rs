//! The off-chain messages the enclave exchanges with users and other enclaves.
//!
//! They live in `pose-types` ([`pose_types::wire`]), so a user SDK can build requests and read
//! replies without depending on the enclave; this module re-exports them under their old path.

pub use pose_types::wire::*;
