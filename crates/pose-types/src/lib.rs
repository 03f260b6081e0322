//! Identifiers, amounts, the off-chain wire messages of the POSE protocol and their canonical,
//! versioned binary encoding. Decoding never panics on any input.
//!
//! This crate depends on no other pose crate; everything else names its values with these types.
//!
//! - [`ids`]: contract ids, epochs, sequence numbers, amounts, addresses, hashes, key and
//!   signature bytes.
//! - [`codec`]: the [`Encode`] / [`Decode`] traits and the canonical encoding rules.
//! - [`limits`]: every maximum the wire format enforces.
//! - [`wire`]: the messages users, executors and watchdogs exchange ([`wire::Message`]).

pub mod codec;
pub mod ids;
pub mod limits;
pub mod wire;

pub use codec::{BoundedBytes, BoundedVec, Decode, DecodeError, Encode, Reader, TooLong};
pub use ids::{Address, Amount, ContractId, EncPublicKey, Epoch, Hash32, Seq, SignatureBytes};
