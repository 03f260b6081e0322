//! Identifiers, amounts, the wire messages of the POSE protocol and their canonical, versioned
//! binary encoding. Decoding never panics on any input.
//!
//! This crate depends on no other pose crate; everything else names its values with these types.

pub mod ids;

pub use ids::{Address, Amount, ContractId, Epoch, Hash32, Seq};
