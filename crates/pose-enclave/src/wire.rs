//! The messages enclaves, users and hosts exchange off-chain, with their canonical encoding.
//!
//! Every message is `version || tag || body || signature`; the signature is over
//! `sha256(domain || version || tag || body)` with a domain string per message kind, so a
//! signature for one kind never verifies as another. Private data travels only inside AEAD
//! ciphertexts (state, outputs) or sealed boxes (inputs, contract secrets).

use pose_types::{Address, ContractId, Epoch, Hash32, Seq};
use sha2::{Digest, Sha256};

use crate::codec::{DecodeError, Reader, Writer};
use crate::limits::{INPUT_BYTES_MAX, MESSAGE_BYTES_MAX};

/// Wire version of every message.
pub const WIRE_VERSION: u8 = 1;

/// sha256 of `parts`, concatenated.
pub fn sha256(parts: &[&[u8]]) -> Hash32 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash32(h.finalize().into())
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A state-changing call (replicated, acked, then answered).
    Call,
    /// A read-only query (answered at once from the last fully acked state).
    Query,
}

/// A user's request, signed by the user. `body` is a sealed box to the contract key holding
/// `reply_key (32 bytes) || input`.
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
    fn body_writer(&self, w: &mut Writer) {
        w.cid(self.cid).addr(&self.user).u64(self.nonce);
        w.u8(match self.kind {
            RequestKind::Call => 0,
            RequestKind::Query => 1,
        });
        w.bytes(&self.body);
    }
    /// The digest the user signs; also the request's identity in receipts.
    pub fn digest(&self) -> Hash32 {
        let mut w = Writer::new();
        self.body_writer(&mut w);
        sha256(&[b"pose.request.v1", &w.finish()])
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cid: r.cid()?,
            user: r.addr()?,
            nonce: r.u64()?,
            kind: match r.u8()? {
                0 => RequestKind::Call,
                1 => RequestKind::Query,
                t => return Err(DecodeError::UnknownTag(t, "request kind")),
            },
            body: r.bytes_max(INPUT_BYTES_MAX + 256)?,
            sig: r.bytes_max(128)?,
        })
    }
    /// Standalone encoding (as carried in an on-chain challenge).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.body_writer(&mut w);
        w.bytes(&self.sig);
        w.finish()
    }
    /// Decodes [`Request::encode`] output.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::read(&mut r)?;
        r.end()?;
        Ok(v)
    }
}

/// The executor's answer: the output encrypted to the user's reply key and a signed receipt.
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
    /// `nonce24 || AEAD(reply_key, output)`.
    pub output: Vec<u8>,
    /// The signing executor.
    pub executor: Address,
    /// Signature over the receipt digest.
    pub sig: Vec<u8>,
}

/// A state update, or a sync (state transfer with the contract secrets) to a member.
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
    pub nonce: [u8; 24],
    /// The state, encrypted under the contract's state key (AD binds every header field).
    pub state: Vec<u8>,
    /// For syncs: contract secrets and code, sealed to the member's encryption key.
    pub secrets: Vec<u8>,
    /// The executor.
    pub sender: Address,
    /// The executor's signature.
    pub sig: Vec<u8>,
}

/// What an [`Update`] is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    /// The next state in the current epoch; `prev_hash` must match.
    Next,
    /// The executor's latest state with the contract secrets: at creation, at the start of an
    /// epoch, to a new member, and as retransmission; no `prev_hash` check.
    Sync,
}

impl Update {
    /// The header fields as AEAD associated data (everything but the ciphertexts and signature).
    pub fn header(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.fixed(b"pose.update.v1");
        w.cid(self.cid).epoch(self.epoch).seq(self.seq);
        w.hash(&self.prev_hash).hash(&self.new_hash);
        w.u64(self.chain_pos).hash(&self.tx_hash);
        w.u8(self.kind as u8).fixed(&self.nonce).addr(&self.sender);
        w.finish()
    }
    /// The digest the executor signs.
    pub fn digest(&self) -> Hash32 {
        sha256(&[
            &self.header(),
            &sha256(&[&self.state]).0,
            &sha256(&[&self.secrets]).0,
        ])
    }
}

/// A member's acknowledgement of a state (cumulative: acks every earlier seq of the epoch).
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
    pub update_nonce: [u8; 24],
    /// For creation joins: `(txHash, signature over the accept digest)`.
    pub accept: Option<(Hash32, Vec<u8>)>,
    /// Signature over the ack digest.
    pub sig: Vec<u8>,
}

impl Ack {
    /// The digest the member signs.
    pub fn digest(&self) -> Hash32 {
        let mut w = Writer::new();
        w.cid(self.cid).epoch(self.epoch).seq(self.seq);
        w.hash(&self.state_hash)
            .addr(&self.member)
            .fixed(&self.update_nonce);
        sha256(&[b"pose.ack.v1", &w.finish()])
    }
}

/// The creator hands the contract code and the input of its `init` to the executor of epoch 0
/// after `createContract`. The chain binds the code (its hash); the creator's signature binds
/// the init input, so a host cannot initialise the contract with other values.
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
    /// The digest the creator signs: the contract, the code's sha256 and the init input.
    pub fn digest(&self) -> Hash32 {
        let mut w = Writer::new();
        w.cid(self.cid)
            .hash(&sha256(&[&self.code]))
            .bytes(&self.init_input);
        sha256(&[b"pose.deploy.v1", &w.finish()])
    }
}

/// Every off-chain message.
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

impl Reply {
    /// The receipt digest the executor signs.
    pub fn digest(&self) -> Hash32 {
        let mut w = Writer::new();
        w.cid(self.cid).addr(&self.user).u64(self.nonce);
        w.hash(&self.request_digest).epoch(self.epoch);
        w.seq(self.applied_seq).seq(self.seq).hash(&self.state_hash);
        w.hash(&sha256(&[&self.output])).addr(&self.executor);
        sha256(&[b"pose.receipt.v1", &w.finish()])
    }
}

impl Message {
    /// Canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(WIRE_VERSION);
        match self {
            Message::Request(m) => {
                w.u8(1);
                m.body_writer(&mut w);
                w.bytes(&m.sig);
            }
            Message::Reply(m) => {
                w.u8(2).cid(m.cid).addr(&m.user).u64(m.nonce);
                w.hash(&m.request_digest).epoch(m.epoch);
                w.seq(m.applied_seq).seq(m.seq).hash(&m.state_hash);
                w.bytes(&m.output).addr(&m.executor).bytes(&m.sig);
            }
            Message::Update(m) => {
                w.u8(3).cid(m.cid).epoch(m.epoch).seq(m.seq);
                w.hash(&m.prev_hash).hash(&m.new_hash);
                w.u64(m.chain_pos).hash(&m.tx_hash);
                w.u8(m.kind as u8).fixed(&m.nonce);
                w.bytes(&m.state).bytes(&m.secrets);
                w.addr(&m.sender).bytes(&m.sig);
            }
            Message::Ack(m) => {
                w.u8(4).cid(m.cid).epoch(m.epoch).seq(m.seq);
                w.hash(&m.state_hash).addr(&m.member).fixed(&m.update_nonce);
                match &m.accept {
                    Some((h, s)) => w.u8(1).hash(h).bytes(s),
                    None => w.u8(0),
                };
                w.bytes(&m.sig);
            }
            Message::Deploy(m) => {
                w.u8(5).cid(m.cid).bytes(&m.code);
                w.bytes(&m.init_input).bytes(&m.sig);
            }
        }
        w.finish()
    }

    /// Decodes a message; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MESSAGE_BYTES_MAX {
            return Err(DecodeError::TooLong {
                len: bytes.len(),
                max: MESSAGE_BYTES_MAX,
            });
        }
        let mut r = Reader::new(bytes);
        let v = r.u8()?;
        if v != WIRE_VERSION {
            return Err(DecodeError::UnknownTag(v, "wire version"));
        }
        let m = match r.u8()? {
            1 => Message::Request(Request::read(&mut r)?),
            2 => Message::Reply(Reply {
                cid: r.cid()?,
                user: r.addr()?,
                nonce: r.u64()?,
                request_digest: r.hash()?,
                epoch: r.epoch()?,
                applied_seq: r.seq()?,
                seq: r.seq()?,
                state_hash: r.hash()?,
                output: r.bytes()?,
                executor: r.addr()?,
                sig: r.bytes_max(128)?,
            }),
            3 => Message::Update(Update {
                cid: r.cid()?,
                epoch: r.epoch()?,
                seq: r.seq()?,
                prev_hash: r.hash()?,
                new_hash: r.hash()?,
                chain_pos: r.u64()?,
                tx_hash: r.hash()?,
                kind: match r.u8()? {
                    0 => UpdateKind::Next,
                    1 => UpdateKind::Sync,
                    t => return Err(DecodeError::UnknownTag(t, "update kind")),
                },
                nonce: {
                    let mut n = [0u8; 24];
                    for b in n.iter_mut() {
                        *b = r.u8()?;
                    }
                    n
                },
                state: r.bytes()?,
                secrets: r.bytes()?,
                sender: r.addr()?,
                sig: r.bytes_max(128)?,
            }),
            4 => Message::Ack(Ack {
                cid: r.cid()?,
                epoch: r.epoch()?,
                seq: r.seq()?,
                state_hash: r.hash()?,
                member: r.addr()?,
                update_nonce: {
                    let mut n = [0u8; 24];
                    for b in n.iter_mut() {
                        *b = r.u8()?;
                    }
                    n
                },
                accept: match r.u8()? {
                    0 => None,
                    1 => Some((r.hash()?, r.bytes_max(128)?)),
                    t => return Err(DecodeError::UnknownTag(t, "option")),
                },
                sig: r.bytes_max(128)?,
            }),
            5 => Message::Deploy(Deploy {
                cid: r.cid()?,
                code: r.bytes()?,
                init_input: r.bytes_max(INPUT_BYTES_MAX)?,
                sig: r.bytes_max(128)?,
            }),
            t => return Err(DecodeError::UnknownTag(t, "message")),
        };
        r.end()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncations_and_flips_never_panic() {
        let m = Message::Ack(Ack {
            cid: ContractId(1),
            epoch: Epoch(2),
            seq: Seq(3),
            state_hash: Hash32([4; 32]),
            member: Address([5; 20]),
            update_nonce: [9; 24],
            accept: Some((Hash32([6; 32]), vec![7; 65])),
            sig: vec![8; 65],
        });
        let bytes = m.encode();
        assert_eq!(Message::decode(&bytes).unwrap(), m);
        for n in 0..bytes.len() {
            assert!(Message::decode(&bytes[..n]).is_err());
            let mut b = bytes.clone();
            b[n] ^= 0x41;
            let _ = Message::decode(&b);
        }
    }
}
