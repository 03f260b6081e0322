//! The messages users, executors and watchdogs exchange off-chain, with their canonical
//! encoding (the [`crate::codec`] rules; docs/encoding.md gives the byte layout).
//!
//! A [`Message`] is `version || kind || fields`. Messages that carry a signature sign a
//! domain-separated sha256 digest of their fields ([`Request::digest`], [`Reply::digest`],
//! [`Update::digest`], [`Ack::digest`]), with a domain string per kind (`pose.request.v1`,
//! `pose.receipt.v1`, `pose.update.v1`, `pose.ack.v1`), so a signature for one kind never
//! verifies as another. Signatures and ciphertexts are opaque bytes here: `pose-enclave` and
//! `pose-crypto` produce and check them. Private data travels only inside AEAD ciphertexts
//! (state, outputs) or sealed boxes (inputs, contract secrets).
//!
//! Byte fields are plain `Vec<u8>`s: the encoder writes them as they are and the decoder
//! checks each against its maximum ([`crate::limits`]), so a value with an oversized field
//! encodes to bytes that do not decode (an honest sender never builds one).

use sha2::{Digest, Sha256};

use crate::codec::{encode_bytes, Decode, DecodeError, Encode, Reader};
use crate::ids::{Address, ContractId, Epoch, Hash32, Seq};
use crate::limits::{
    INPUT_BYTES_MAX, MESSAGE_BYTES_MAX, REQUEST_BODY_BYTES_MAX, SIGNATURE_FIELD_BYTES_MAX,
};

/// The wire version this crate writes and the only one it reads.
pub const WIRE_VERSION: u8 = 1;

/// Bytes of an update's AEAD nonce (XChaCha20-Poly1305).
pub const UPDATE_NONCE_BYTES: usize = 24;

/// sha256 of `parts`, concatenated.
pub fn sha256(parts: &[&[u8]]) -> Hash32 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash32(h.finalize().into())
}

fn decode_signature(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    Ok(r.bytes("signature", SIGNATURE_FIELD_BYTES_MAX)?.to_vec())
}

/// What a request asks for. Encoded as one tag byte: 0 call, 1 query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A state-changing call (replicated, acked, then answered).
    Call,
    /// A read-only query (answered at once from the last fully acked state).
    Query,
}

impl Encode for RequestKind {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(match self {
            RequestKind::Call => 0,
            RequestKind::Query => 1,
        });
    }
}

impl Decode for RequestKind {
    const MIN_ENCODED_BYTES: usize = 1;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(RequestKind::Call),
            1 => Ok(RequestKind::Query),
            tag => Err(DecodeError::InvalidTag {
                what: "request kind",
                tag: tag.into(),
            }),
        }
    }
}

/// A user's request, signed by the user. `body` is a sealed box to the contract key holding
/// the encoded [`SealedInput`] (the request's `cid`, `user`, `nonce` and `kind`, the reply key
/// and the input).
///
/// Encoding: `cid || user || nonce (u64) || kind || body (u32 length, at most
/// REQUEST_BODY_BYTES_MAX) || sig (u32 length, at most SIGNATURE_FIELD_BYTES_MAX)`. This is
/// also the standalone encoding an on-chain challenge carries ([`Request::encode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The contract.
    pub cid: ContractId,
    /// The user (signer).
    pub user: Address,
    /// Per-user nonce; `(user, nonce)` makes the request idempotent.
    pub nonce: u64,
    /// Call or query.
    pub kind: RequestKind,
    /// The sealed input.
    pub body: Vec<u8>,
    /// The user's signature over [`Request::digest`].
    pub sig: Vec<u8>,
}

impl Request {
    /// Every field but the signature, as encoded.
    fn encode_signed_fields(&self, out: &mut Vec<u8>) {
        self.cid.encode_to(out);
        self.user.encode_to(out);
        self.nonce.encode_to(out);
        self.kind.encode_to(out);
        encode_bytes(&self.body, out);
    }

    /// The digest the user signs: `sha256("pose.request.v1" || every field but the
    /// signature)`. Also the request's identity in receipts.
    pub fn digest(&self) -> Hash32 {
        let mut out = Vec::new();
        self.encode_signed_fields(&mut out);
        sha256(&[b"pose.request.v1", &out])
    }

    /// Standalone encoding (as carried in an on-chain challenge): [`Encode::to_bytes`].
    pub fn encode(&self) -> Vec<u8> {
        self.to_bytes()
    }

    /// Decodes [`Request::encode`] output: [`Decode::from_bytes`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_bytes(bytes)
    }
}

impl Encode for Request {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.encode_signed_fields(out);
        encode_bytes(&self.sig, out);
    }
}

impl Decode for Request {
    const MIN_ENCODED_BYTES: usize = 8 + 20 + 8 + 1 + 4 + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cid: ContractId::decode_from(r)?,
            user: Address::decode_from(r)?,
            nonce: u64::decode_from(r)?,
            kind: RequestKind::decode_from(r)?,
            body: r.bytes("request body", REQUEST_BODY_BYTES_MAX)?.to_vec(),
            sig: decode_signature(r)?,
        })
    }
}

/// Bytes of a reply key (the user's XChaCha20-Poly1305 key for the request's output).
pub const REPLY_KEY_BYTES: usize = 32;

/// The plaintext a request's sealed body holds: the request's own identity (`cid`, `user`,
/// `nonce`, `kind`), the user's reply key and the input. Binding the identity inside the
/// sealed box ties a body to the one request it was sealed for: a body copied into another
/// request (another user's, or another nonce) opens, but its bound fields differ from the
/// request's, and the enclave refuses it. (The request's signature covers the body, so the
/// body cannot be changed either.)
///
/// Encoding: `cid || user || nonce (u64) || kind || reply_key (32) || input (u32 length, at
/// most INPUT_BYTES_MAX)`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedInput {
    /// The contract the request is for.
    pub cid: ContractId,
    /// The user who signs the request.
    pub user: Address,
    /// The request's nonce.
    pub nonce: u64,
    /// The request's kind.
    pub kind: RequestKind,
    /// The key the executor encrypts the output under.
    pub reply_key: [u8; REPLY_KEY_BYTES],
    /// The contract input.
    pub input: Vec<u8>,
}

impl std::fmt::Debug for SealedInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The reply key and the input are secret: never printed.
        f.debug_struct("SealedInput")
            .field("cid", &self.cid)
            .field("user", &self.user)
            .field("nonce", &self.nonce)
            .field("kind", &self.kind)
            .field("input_len", &self.input.len())
            .finish_non_exhaustive()
    }
}

impl SealedInput {
    /// True if the bound fields are the request's own.
    pub fn binds(&self, req: &Request) -> bool {
        self.cid == req.cid
            && self.user == req.user
            && self.nonce == req.nonce
            && self.kind == req.kind
    }
}

impl Encode for SealedInput {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.cid.encode_to(out);
        self.user.encode_to(out);
        self.nonce.encode_to(out);
        self.kind.encode_to(out);
        self.reply_key.encode_to(out);
        encode_bytes(&self.input, out);
    }
}

impl Decode for SealedInput {
    const MIN_ENCODED_BYTES: usize = 8 + 20 + 8 + 1 + REPLY_KEY_BYTES + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cid: ContractId::decode_from(r)?,
            user: Address::decode_from(r)?,
            nonce: u64::decode_from(r)?,
            kind: RequestKind::decode_from(r)?,
            reply_key: r.take_array()?,
            input: r.bytes("request input", INPUT_BYTES_MAX)?.to_vec(),
        })
    }
}

/// The executor's answer: the output encrypted to the user's reply key and a signed receipt.
///
/// Encoding: the fields in declaration order; `output` has a `u32` length (at most
/// MESSAGE_BYTES_MAX), `sig` one of at most SIGNATURE_FIELD_BYTES_MAX.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The contract.
    pub cid: ContractId,
    /// The user.
    pub user: Address,
    /// The request's nonce.
    pub nonce: u64,
    /// The request's digest.
    pub request_digest: Hash32,
    /// Epoch of the executor that signed.
    pub epoch: Epoch,
    /// Sequence number of the state update that applied the request (0 for queries).
    pub applied_seq: Seq,
    /// A fully acknowledged state at or after `applied_seq`.
    pub seq: Seq,
    /// Hash of the state at `seq`.
    pub state_hash: Hash32,
    /// Number of the contract's chain transactions the executor had seen when it signed.
    pub chain_pos: u64,
    /// The contract's `txHash` after those `chain_pos` transactions: every pool decision
    /// behind this receipt (who had to acknowledge `seq`) was made on exactly these chain
    /// facts. A client accepts the receipt only if the manager produced this value, so a
    /// receipt built on a chain transaction the executor's host invented is refused.
    pub chain_tx_hash: Hash32,
    /// `nonce24 || AEAD(reply_key, output)`.
    pub output: Vec<u8>,
    /// The signing executor.
    pub executor: Address,
    /// Signature over [`Reply::digest`].
    pub sig: Vec<u8>,
}

impl Reply {
    /// The receipt digest the executor signs: `sha256("pose.receipt.v2" || cid || user ||
    /// nonce || request_digest || epoch || applied_seq || seq || state_hash || chain_pos ||
    /// chain_tx_hash || sha256(output) || executor)`.
    pub fn digest(&self) -> Hash32 {
        let mut out = Vec::new();
        self.cid.encode_to(&mut out);
        self.user.encode_to(&mut out);
        self.nonce.encode_to(&mut out);
        self.request_digest.encode_to(&mut out);
        self.epoch.encode_to(&mut out);
        self.applied_seq.encode_to(&mut out);
        self.seq.encode_to(&mut out);
        self.state_hash.encode_to(&mut out);
        self.chain_pos.encode_to(&mut out);
        self.chain_tx_hash.encode_to(&mut out);
        sha256(&[&self.output]).encode_to(&mut out);
        self.executor.encode_to(&mut out);
        sha256(&[b"pose.receipt.v2", &out])
    }
}

impl Encode for Reply {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.cid.encode_to(out);
        self.user.encode_to(out);
        self.nonce.encode_to(out);
        self.request_digest.encode_to(out);
        self.epoch.encode_to(out);
        self.applied_seq.encode_to(out);
        self.seq.encode_to(out);
        self.state_hash.encode_to(out);
        self.chain_pos.encode_to(out);
        self.chain_tx_hash.encode_to(out);
        encode_bytes(&self.output, out);
        self.executor.encode_to(out);
        encode_bytes(&self.sig, out);
    }
}

impl Decode for Reply {
    const MIN_ENCODED_BYTES: usize = 8 + 20 + 8 + 32 + 8 + 8 + 8 + 32 + 8 + 32 + 4 + 20 + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cid: ContractId::decode_from(r)?,
            user: Address::decode_from(r)?,
            nonce: u64::decode_from(r)?,
            request_digest: Hash32::decode_from(r)?,
            epoch: Epoch::decode_from(r)?,
            applied_seq: Seq::decode_from(r)?,
            seq: Seq::decode_from(r)?,
            state_hash: Hash32::decode_from(r)?,
            chain_pos: u64::decode_from(r)?,
            chain_tx_hash: Hash32::decode_from(r)?,
            output: r.bytes("reply output", MESSAGE_BYTES_MAX)?.to_vec(),
            executor: Address::decode_from(r)?,
            sig: decode_signature(r)?,
        })
    }
}

/// What an [`Update`] is for. Encoded as one tag byte: 0 next, 1 sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    /// The next state in the current epoch; `prev_hash` must match.
    Next,
    /// The executor's latest state with the contract secrets: at creation, at the start of an
    /// epoch, to a new member, and as retransmission; no `prev_hash` check.
    Sync,
}

impl Encode for UpdateKind {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(match self {
            UpdateKind::Next => 0,
            UpdateKind::Sync => 1,
        });
    }
}

impl Decode for UpdateKind {
    const MIN_ENCODED_BYTES: usize = 1;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(UpdateKind::Next),
            1 => Ok(UpdateKind::Sync),
            tag => Err(DecodeError::InvalidTag {
                what: "update kind",
                tag: tag.into(),
            }),
        }
    }
}

/// A state update, or a sync (state transfer with the contract secrets) to a member.
///
/// Encoding: `cid || epoch || seq || prev_hash || new_hash || chain_pos (u64) || tx_hash ||
/// kind || nonce (24) || state || secrets || sender || sig`; `state` and `secrets` have `u32`
/// lengths of at most MESSAGE_BYTES_MAX, `sig` one of at most SIGNATURE_FIELD_BYTES_MAX.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The contract.
    pub cid: ContractId,
    /// The sender's epoch.
    pub epoch: Epoch,
    /// Sequence number of the new state.
    pub seq: Seq,
    /// Hash of the state this one follows (all zero for syncs).
    pub prev_hash: Hash32,
    /// Hash of the new state.
    pub new_hash: Hash32,
    /// How many of the contract's chain transactions the state has consumed.
    pub chain_pos: u64,
    /// The contract's `txHash` after them.
    pub tx_hash: Hash32,
    /// [`UpdateKind`].
    pub kind: UpdateKind,
    /// AEAD nonce for `state`.
    pub nonce: [u8; UPDATE_NONCE_BYTES],
    /// The state, encrypted under the contract's state key (AD binds every header field).
    pub state: Vec<u8>,
    /// For syncs: contract secrets and code, sealed to the member's encryption key.
    pub secrets: Vec<u8>,
    /// The executor.
    pub sender: Address,
    /// The executor's signature over [`Update::digest`].
    pub sig: Vec<u8>,
}

impl Update {
    /// The header fields as AEAD associated data (everything but the ciphertexts and
    /// signature): `"pose.update.v1" || cid || epoch || seq || prev_hash || new_hash ||
    /// chain_pos || tx_hash || kind || nonce || sender`.
    pub fn header(&self) -> Vec<u8> {
        let mut out = b"pose.update.v1".to_vec();
        self.cid.encode_to(&mut out);
        self.epoch.encode_to(&mut out);
        self.seq.encode_to(&mut out);
        self.prev_hash.encode_to(&mut out);
        self.new_hash.encode_to(&mut out);
        self.chain_pos.encode_to(&mut out);
        self.tx_hash.encode_to(&mut out);
        self.kind.encode_to(&mut out);
        self.nonce.encode_to(&mut out);
        self.sender.encode_to(&mut out);
        out
    }

    /// The digest the executor signs: `sha256(header || sha256(state) || sha256(secrets))`.
    pub fn digest(&self) -> Hash32 {
        sha256(&[
            &self.header(),
            &sha256(&[&self.state]).0,
            &sha256(&[&self.secrets]).0,
        ])
    }
}

impl Encode for Update {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.cid.encode_to(out);
        self.epoch.encode_to(out);
        self.seq.encode_to(out);
        self.prev_hash.encode_to(out);
        self.new_hash.encode_to(out);
        self.chain_pos.encode_to(out);
        self.tx_hash.encode_to(out);
        self.kind.encode_to(out);
        self.nonce.encode_to(out);
        encode_bytes(&self.state, out);
        encode_bytes(&self.secrets, out);
        self.sender.encode_to(out);
        encode_bytes(&self.sig, out);
    }
}

impl Decode for Update {
    const MIN_ENCODED_BYTES: usize =
        8 + 8 + 8 + 32 + 32 + 8 + 32 + 1 + UPDATE_NONCE_BYTES + 4 + 4 + 20 + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cid: ContractId::decode_from(r)?,
            epoch: Epoch::decode_from(r)?,
            seq: Seq::decode_from(r)?,
            prev_hash: Hash32::decode_from(r)?,
            new_hash: Hash32::decode_from(r)?,
            chain_pos: u64::decode_from(r)?,
            tx_hash: Hash32::decode_from(r)?,
            kind: UpdateKind::decode_from(r)?,
            nonce: r.take_array()?,
            state: r.bytes("update state", MESSAGE_BYTES_MAX)?.to_vec(),
            secrets: r.bytes("update secrets", MESSAGE_BYTES_MAX)?.to_vec(),
            sender: Address::decode_from(r)?,
            sig: decode_signature(r)?,
        })
    }
}

/// A member's acknowledgement of a state (cumulative: acks every earlier seq of the epoch).
///
/// Encoding: `cid || epoch || seq || state_hash || member || update_nonce (24) || accept ||
/// sig`, where `accept` is `0`, or `1 || tx_hash || signature (u32 length)`, and both
/// signatures are at most SIGNATURE_FIELD_BYTES_MAX long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The contract.
    pub cid: ContractId,
    /// Epoch of the update acked.
    pub epoch: Epoch,
    /// Sequence number now held.
    pub seq: Seq,
    /// Hash of the state held.
    pub state_hash: Hash32,
    /// The acking member.
    pub member: Address,
    /// The nonce of the update this acknowledges: binds the ack to one update message, so an
    /// ack replayed to a restarted executor (which never sent that message) is refused.
    pub update_nonce: [u8; UPDATE_NONCE_BYTES],
    /// For creation joins: `(txHash, signature over the accept digest)`.
    pub accept: Option<(Hash32, Vec<u8>)>,
    /// Signature over [`Ack::digest`].
    pub sig: Vec<u8>,
}

impl Ack {
    /// The digest the member signs: `sha256("pose.ack.v1" || cid || epoch || seq ||
    /// state_hash || member || update_nonce)`.
    pub fn digest(&self) -> Hash32 {
        let mut out = Vec::new();
        self.cid.encode_to(&mut out);
        self.epoch.encode_to(&mut out);
        self.seq.encode_to(&mut out);
        self.state_hash.encode_to(&mut out);
        self.member.encode_to(&mut out);
        self.update_nonce.encode_to(&mut out);
        sha256(&[b"pose.ack.v1", &out])
    }
}

impl Encode for Ack {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.cid.encode_to(out);
        self.epoch.encode_to(out);
        self.seq.encode_to(out);
        self.state_hash.encode_to(out);
        self.member.encode_to(out);
        self.update_nonce.encode_to(out);
        match &self.accept {
            None => out.push(0),
            Some((tx_hash, sig)) => {
                out.push(1);
                tx_hash.encode_to(out);
                encode_bytes(sig, out);
            }
        }
        encode_bytes(&self.sig, out);
    }
}

impl Decode for Ack {
    const MIN_ENCODED_BYTES: usize = 8 + 8 + 8 + 32 + 20 + UPDATE_NONCE_BYTES + 1 + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cid: ContractId::decode_from(r)?,
            epoch: Epoch::decode_from(r)?,
            seq: Seq::decode_from(r)?,
            state_hash: Hash32::decode_from(r)?,
            member: Address::decode_from(r)?,
            update_nonce: r.take_array()?,
            accept: match u8::decode_from(r)? {
                0 => None,
                1 => Some((Hash32::decode_from(r)?, decode_signature(r)?)),
                tag => {
                    return Err(DecodeError::InvalidTag {
                        what: "option",
                        tag: tag.into(),
                    })
                }
            },
            sig: decode_signature(r)?,
        })
    }
}

/// The creator hands the contract code and the input of its `init` to the executor of epoch 0
/// after `createContract`. The chain binds the code (its hash); the creator's signature binds
/// the init input, so a host cannot initialise the contract with other values.
///
/// Encoding: `cid || code (u32 length, at most MESSAGE_BYTES_MAX) || init_input (u32 length,
/// at most INPUT_BYTES_MAX) || sig (u32 length, at most SIGNATURE_FIELD_BYTES_MAX)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deploy {
    /// The contract.
    pub cid: ContractId,
    /// The contract's code.
    pub code: Vec<u8>,
    /// The input of the contract's `init`.
    pub init_input: Vec<u8>,
    /// The creator's (the `createContract` sender's) signature over [`Deploy::digest`].
    pub sig: Vec<u8>,
}

impl Deploy {
    /// The digest the creator signs: `sha256("pose.deploy.v1" || cid || sha256(code) ||
    /// init_input (u32 length))`.
    pub fn digest(&self) -> Hash32 {
        let mut out = Vec::new();
        self.cid.encode_to(&mut out);
        out.extend_from_slice(&sha256(&[&self.code]).0);
        encode_bytes(&self.init_input, &mut out);
        sha256(&[b"pose.deploy.v1", &out])
    }
}

impl Encode for Deploy {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.cid.encode_to(out);
        encode_bytes(&self.code, out);
        encode_bytes(&self.init_input, out);
        encode_bytes(&self.sig, out);
    }
}

impl Decode for Deploy {
    const MIN_ENCODED_BYTES: usize = 8 + 4 + 4 + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cid: ContractId::decode_from(r)?,
            code: r.bytes("contract code", MESSAGE_BYTES_MAX)?.to_vec(),
            init_input: r.bytes("init input", INPUT_BYTES_MAX)?.to_vec(),
            sig: decode_signature(r)?,
        })
    }
}

/// Every off-chain message: `version (WIRE_VERSION) || kind || fields of that kind`, with
/// kinds 1 request, 2 reply, 3 update, 4 ack, 5 deploy. A whole message is at most
/// [`MESSAGE_BYTES_MAX`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// User -> executor.
    Request(Request),
    /// Executor -> user.
    Reply(Reply),
    /// Executor -> members.
    Update(Update),
    /// Member -> executor.
    Ack(Ack),
    /// User -> executor of epoch 0.
    Deploy(Deploy),
}

impl Message {
    /// The kind byte of this message.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Request(_) => 1,
            Message::Reply(_) => 2,
            Message::Update(_) => 3,
            Message::Ack(_) => 4,
            Message::Deploy(_) => 5,
        }
    }

    /// Canonical encoding: [`Encode::to_bytes`].
    pub fn encode(&self) -> Vec<u8> {
        self.to_bytes()
    }

    /// Decodes a message ([`Decode::from_bytes`]); never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_bytes(bytes)
    }
}

impl Encode for Message {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(WIRE_VERSION);
        out.push(self.kind());
        match self {
            Message::Request(m) => m.encode_to(out),
            Message::Reply(m) => m.encode_to(out),
            Message::Update(m) => m.encode_to(out),
            Message::Ack(m) => m.encode_to(out),
            Message::Deploy(m) => m.encode_to(out),
        }
    }
}

impl Decode for Message {
    const MIN_ENCODED_BYTES: usize = 2 + Deploy::MIN_ENCODED_BYTES;

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = u8::decode_from(r)?;
        if version != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                got: version,
                supported: WIRE_VERSION,
            });
        }
        Ok(match u8::decode_from(r)? {
            1 => Message::Request(Request::decode_from(r)?),
            2 => Message::Reply(Reply::decode_from(r)?),
            3 => Message::Update(Update::decode_from(r)?),
            4 => Message::Ack(Ack::decode_from(r)?),
            5 => Message::Deploy(Deploy::decode_from(r)?),
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "message kind",
                    tag: tag.into(),
                })
            }
        })
    }

    /// Refuses inputs over [`MESSAGE_BYTES_MAX`] before reading them, then decodes a complete
    /// message (no trailing bytes).
    fn from_bytes(input: &[u8]) -> Result<Self, DecodeError> {
        if input.len() > MESSAGE_BYTES_MAX {
            return Err(DecodeError::TooLong {
                what: "message",
                len: input.len() as u64,
                max: MESSAGE_BYTES_MAX,
            });
        }
        let mut r = Reader::new(input);
        let m = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack() -> Message {
        Message::Ack(Ack {
            cid: ContractId(1),
            epoch: Epoch(2),
            seq: Seq(3),
            state_hash: Hash32([4; 32]),
            member: Address([5; 20]),
            update_nonce: [9; 24],
            accept: Some((Hash32([6; 32]), vec![7; 65])),
            sig: vec![8; 65],
        })
    }

    fn hex(h: &Hash32) -> String {
        h.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Fixed vectors of version 1, computed independently from the layout in
    /// docs/encoding.md: a change here changes what every signature in the field means.
    #[test]
    fn digests_and_layout_match_the_version_1_vectors() {
        let request = Request {
            cid: ContractId(7),
            user: Address([0x11; 20]),
            nonce: 3,
            kind: RequestKind::Query,
            body: vec![1, 2, 3],
            sig: vec![9; 65],
        };
        assert_eq!(
            hex(&request.digest()),
            "1a74ea1e516fbd067f685352302e73177208ec654c5887c8a972b9dfa61dd614"
        );
        let mut expected = vec![1, 1, 0, 0, 0, 0, 0, 0, 0, 7];
        expected.extend([0x11; 20]);
        expected.extend([0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 65]);
        expected.extend([9; 65]);
        assert_eq!(Message::Request(request).encode(), expected);

        let reply = Reply {
            cid: ContractId(7),
            user: Address([0x11; 20]),
            nonce: 3,
            request_digest: Hash32([0x22; 32]),
            epoch: Epoch(2),
            applied_seq: Seq(4),
            seq: Seq(5),
            state_hash: Hash32([0x33; 32]),
            chain_pos: 9,
            chain_tx_hash: Hash32([0xab; 32]),
            output: vec![5, 6],
            executor: Address([0x44; 20]),
            sig: vec![],
        };
        assert_eq!(
            hex(&reply.digest()),
            "5632908b769d1ac2252a60c0c0378d7968eb0e540c957747f1aa1b13cbc33a19"
        );

        let update = Update {
            cid: ContractId(7),
            epoch: Epoch(2),
            seq: Seq(5),
            prev_hash: Hash32([0x55; 32]),
            new_hash: Hash32([0x66; 32]),
            chain_pos: 9,
            tx_hash: Hash32([0x77; 32]),
            kind: UpdateKind::Sync,
            nonce: [0x88; 24],
            state: vec![1, 2],
            secrets: vec![3],
            sender: Address([0x99; 20]),
            sig: vec![],
        };
        assert_eq!(
            hex(&update.digest()),
            "5cc1db27d78251af4cb0fd5205107f0fc35a139e4dfad4a286103b088437a64c"
        );

        let ack = Ack {
            cid: ContractId(7),
            epoch: Epoch(2),
            seq: Seq(5),
            state_hash: Hash32([0xaa; 32]),
            member: Address([0xbb; 20]),
            update_nonce: [0xcc; 24],
            accept: None,
            sig: vec![],
        };
        assert_eq!(
            hex(&ack.digest()),
            "bdd7f6e12dfc56e73d9bb535e1c4967e97b9bf2ead06ffffe2fcf42a33895f36"
        );
    }

    #[test]
    fn truncations_and_flips_never_panic() {
        let m = ack();
        let bytes = m.encode();
        assert_eq!(Message::decode(&bytes).unwrap(), m);
        for n in 0..bytes.len() {
            assert!(Message::decode(&bytes[..n]).is_err());
            let mut b = bytes.clone();
            b[n] ^= 0x41;
            let _ = Message::decode(&b);
        }
    }

    #[test]
    fn the_layout_is_version_kind_fields() {
        let m = Message::Deploy(Deploy {
            cid: ContractId(0x0102),
            code: vec![0xaa, 0xbb],
            init_input: vec![0xcc],
            sig: vec![0xdd],
        });
        assert_eq!(
            m.encode(),
            [
                1, 5, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0, 1, 0xcc, 0, 0, 0, 1,
                0xdd
            ]
        );
    }

    #[test]
    fn other_versions_and_kinds_are_refused() {
        let mut b = ack().encode();
        b[0] = 2;
        assert_eq!(
            Message::decode(&b),
            Err(DecodeError::UnsupportedVersion {
                got: 2,
                supported: WIRE_VERSION
            })
        );
        b[0] = WIRE_VERSION;
        b[1] = 6;
        assert!(matches!(
            Message::decode(&b),
            Err(DecodeError::InvalidTag {
                what: "message kind",
                ..
            })
        ));
    }

    #[test]
    fn oversized_fields_are_refused() {
        let r = Request {
            cid: ContractId(1),
            user: Address([1; 20]),
            nonce: 1,
            kind: RequestKind::Call,
            body: vec![0; REQUEST_BODY_BYTES_MAX + 1],
            sig: vec![],
        };
        assert!(matches!(
            Request::decode(&r.encode()),
            Err(DecodeError::TooLong {
                what: "request body",
                ..
            })
        ));
        assert!(matches!(
            Message::decode(&vec![0; MESSAGE_BYTES_MAX + 1]),
            Err(DecodeError::TooLong {
                what: "message",
                ..
            })
        ));
    }
}
