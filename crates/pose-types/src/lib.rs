//! Identifiers, amounts, the wire messages of the POSE protocol and their canonical, versioned
//! binary encoding. Decoding never panics on any input.
//!
//! This crate depends on no other pose crate; everything else names its values with these types.
//!
//! - [`ids`]: contract ids, epochs, sequence numbers, amounts, addresses, hashes, key and
//!   signature bytes.
//! - [`codec`]: the [`Encode`] / [`Decode`] traits and the canonical encoding rules.
//! - [`limits`]: every maximum the decoder enforces.
//! - [`messages`]: the wire messages and their envelope ([`Message`]).

pub mod codec;
pub mod ids;
pub mod limits;
pub mod messages;

pub use codec::{BoundedBytes, BoundedVec, Decode, DecodeError, Encode, Reader, TooLong};
pub use ids::{Address, Amount, ContractId, EncPublicKey, Epoch, Hash32, Seq, SignatureBytes};
pub use messages::{
    Acceptance, Ack, ChainFacts, CodeBytes, CreationOffer, DepositCredit, InputCiphertext,
    KeysCiphertext, Message, MessageKind, OutputCiphertext, PayloadBytes, Query, QueryReply,
    Receipt, RejectCode, Rejection, Reply, Request, SignedEnvelope, StateCiphertext, StatePayload,
    StateTransfer, StateUpdate, SyncRequest, TransferReason,
};
