//! The wire messages of the protocol (SPEC section 5) and the envelope that carries them.
//!
//! Every message travels as [`Message`]: a version byte ([`WIRE_VERSION`]), a kind byte
//! ([`MessageKind`]) and the message's fields in declaration order. Messages that only an
//! authenticated sender may send travel inside a [`SignedEnvelope`]; messages that carry their
//! own signature (a user's [`Request`], a [`Receipt`], an [`Acceptance`]) say what it covers.
//!
//! Ciphertexts and signatures are opaque bytes here: `pose-crypto` produces and opens them.

use crate::codec::{BoundedBytes, BoundedVec, Decode, DecodeError, Encode, Reader};
use crate::ids::{Address, Amount, ContractId, EncPublicKey, Epoch, Hash32, Seq, SignatureBytes};
use crate::limits::{
    CHALLENGES_PER_UPDATE_MAX, CODE_BYTES_MAX, DEPOSITS_PER_UPDATE_MAX, INPUT_CIPHERTEXT_BYTES_MAX,
    KEYS_CIPHERTEXT_BYTES_MAX, MESSAGE_BYTES_MAX, OUTPUT_CIPHERTEXT_BYTES_MAX, PAYLOAD_BYTES_MAX,
    REQUESTS_PER_UPDATE_MAX, STATE_CIPHERTEXT_BYTES_MAX, WIRE_VERSION,
};

/// A user's input encrypted to the contract's key (a sealed box).
pub type InputCiphertext = BoundedBytes<INPUT_CIPHERTEXT_BYTES_MAX>;
/// A call's output encrypted to the user's reply key.
pub type OutputCiphertext = BoundedBytes<OUTPUT_CIPHERTEXT_BYTES_MAX>;
/// Contract state (full or delta) encrypted under the contract's state key.
pub type StateCiphertext = BoundedBytes<STATE_CIPHERTEXT_BYTES_MAX>;
/// The contract keys sealed to one pool member's attested encryption key.
pub type KeysCiphertext = BoundedBytes<KEYS_CIPHERTEXT_BYTES_MAX>;
/// A contract's Wasm code.
pub type CodeBytes = BoundedBytes<CODE_BYTES_MAX>;
/// The payload of a signed envelope: one encoded [`Message`].
pub type PayloadBytes = BoundedBytes<PAYLOAD_BYTES_MAX>;

/// Defines a struct whose encoding is its fields in declaration order.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),*
        }

        impl Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                $( self.$field.encode_to(out); )*
            }
        }

        impl Decode for $name {
            const MIN_ENCODED_BYTES: usize = 0 $( + <$ty as Decode>::MIN_ENCODED_BYTES )*;
            fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(Self { $( $field: <$ty as Decode>::decode_from(r)? ),* })
            }
        }
    };
}

/// Domain-separated bytes that a signature covers: `tag || encoding of the fields`.
fn signing_bytes(tag: &[u8], fields: &[&dyn Encode]) -> Vec<u8> {
    let mut out = tag.to_vec();
    for f in fields {
        f.encode_to(&mut out);
    }
    out
}

wire_struct! {
    /// A user's state-changing call, sent to the executor.
    ///
    /// The user signs keccak256 of [`Request::signing_bytes`]; the same hash is the request's
    /// digest in state updates and receipts. `(user, nonce)` makes the request idempotent.
    pub struct Request {
        /// The contract called.
        pub cid: ContractId,
        /// The input, sealed to the contract's encryption key.
        pub encrypted_input: InputCiphertext,
        /// A fresh key the output is encrypted to.
        pub reply_key: EncPublicKey,
        /// The user's per-contract request counter.
        pub nonce: u64,
        /// The user's address; the signature must recover to it.
        pub user: Address,
        /// The user's signature over the request digest.
        pub signature: SignatureBytes,
    }
}

impl Request {
    /// Domain tag of [`Request::signing_bytes`].
    pub const SIGNING_TAG: &'static [u8] = b"pose.request.v1";

    /// The bytes whose keccak256 the user signs: every field but the signature.
    pub fn signing_bytes(&self) -> Vec<u8> {
        signing_bytes(
            Self::SIGNING_TAG,
            &[
                &self.cid,
                &self.encrypted_input,
                &self.reply_key,
                &self.nonce,
                &self.user,
            ],
        )
    }
}

wire_struct! {
    /// A user's read-only query, answered by the executor without a state update.
    pub struct Query {
        /// The contract queried.
        pub cid: ContractId,
        /// The query input, sealed to the contract's encryption key.
        pub encrypted_input: InputCiphertext,
        /// A fresh key the answer is encrypted to.
        pub reply_key: EncPublicKey,
        /// A user-chosen value that makes the query's digest unique.
        pub nonce: u64,
        /// The user's address; the signature must recover to it.
        pub user: Address,
        /// The user's signature over keccak256 of [`Query::signing_bytes`].
        pub signature: SignatureBytes,
    }
}

impl Query {
    /// Domain tag of [`Query::signing_bytes`].
    pub const SIGNING_TAG: &'static [u8] = b"pose.query.v1";

    /// The bytes whose keccak256 the user signs: every field but the signature.
    pub fn signing_bytes(&self) -> Vec<u8> {
        signing_bytes(
            Self::SIGNING_TAG,
            &[
                &self.cid,
                &self.encrypted_input,
                &self.reply_key,
                &self.nonce,
                &self.user,
            ],
        )
    }
}

wire_struct! {
    /// The executor's answer to a [`Query`], sent inside a [`SignedEnvelope`] by the executor.
    pub struct QueryReply {
        /// The contract queried.
        pub cid: ContractId,
        /// The executor epoch that answered.
        pub epoch: Epoch,
        /// The state the query ran on.
        pub seq: Seq,
        /// Hash of that state.
        pub state_hash: Hash32,
        /// keccak256 of the query's signing bytes.
        pub query_digest: Hash32,
        /// The answer, encrypted to the query's reply key.
        pub encrypted_output: OutputCiphertext,
    }
}

wire_struct! {
    /// A deposit the executor credited inside the contract.
    pub struct DepositCredit {
        /// Who deposited on-chain.
        pub depositor: Address,
        /// How much, in wei.
        pub amount: Amount,
        /// The contract's incremental txHash right after the deposit transaction: it names
        /// the deposit on-chain uniquely.
        pub tx_hash: Hash32,
    }
}

wire_struct! {
    /// Chain facts a state update relies on; a watchdog applies the update only if each
    /// matches its own host's view of the chain.
    pub struct ChainFacts {
        /// Block number of the last confirmed chain event used.
        pub block_number: u64,
        /// Timestamp of that block, in seconds since the Unix epoch.
        pub block_time_secs: u64,
        /// The contract's incremental txHash after the last chain event used.
        pub tx_hash: Hash32,
        /// Deposits credited by this update, in chain order.
        pub deposits: BoundedVec<DepositCredit, DEPOSITS_PER_UPDATE_MAX>,
        /// Ids of the on-chain challenges whose inputs this update processes.
        pub challenge_ids: BoundedVec<u64, CHALLENGES_PER_UPDATE_MAX>,
    }
}

/// The encrypted state an update carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatePayload {
    /// The whole new state. Tag 0.
    Full(StateCiphertext),
    /// A delta to apply to the previous state. Tag 1.
    Delta(StateCiphertext),
}

impl Encode for StatePayload {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            StatePayload::Full(c) => {
                out.push(0);
                c.encode_to(out);
            }
            StatePayload::Delta(c) => {
                out.push(1);
                c.encode_to(out);
            }
        }
    }
}

impl Decode for StatePayload {
    const MIN_ENCODED_BYTES: usize = 1 + StateCiphertext::MIN_ENCODED_BYTES;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(StatePayload::Full(Decode::decode_from(r)?)),
            1 => Ok(StatePayload::Delta(Decode::decode_from(r)?)),
            tag => Err(DecodeError::InvalidTag {
                what: "state payload",
                tag: tag.into(),
            }),
        }
    }
}

wire_struct! {
    /// The executor's new state, sent to every watchdog (inside a [`SignedEnvelope`]).
    pub struct StateUpdate {
        /// The contract.
        pub cid: ContractId,
        /// The executor's epoch; watchdogs refuse any other than the current one.
        pub epoch: Epoch,
        /// The new state's sequence number: the previous one plus one.
        pub seq: Seq,
        /// Hash of the state this update applies to.
        pub prev_state_hash: Hash32,
        /// Hash of the state after this update.
        pub new_state_hash: Hash32,
        /// The new state or the delta, encrypted under the state key with associated data
        /// binding cid, epoch and seq.
        pub state: StatePayload,
        /// Digests of the requests executed, in execution order.
        pub request_digests: BoundedVec<Hash32, REQUESTS_PER_UPDATE_MAX>,
        /// The chain facts the update relies on.
        pub chain: ChainFacts,
    }
}

wire_struct! {
    /// A watchdog's acknowledgement that it persisted a state (inside a [`SignedEnvelope`]).
    pub struct Ack {
        /// The contract.
        pub cid: ContractId,
        /// The epoch of the acknowledged update.
        pub epoch: Epoch,
        /// The acknowledged sequence number.
        pub seq: Seq,
        /// The acknowledged state's hash.
        pub state_hash: Hash32,
    }
}

wire_struct! {
    /// The executor's signed statement that a request was executed into a state that every
    /// watchdog acknowledged.
    pub struct Receipt {
        /// The contract.
        pub cid: ContractId,
        /// The executor epoch.
        pub epoch: Epoch,
        /// The state that includes the request.
        pub seq: Seq,
        /// keccak256 of the request's signing bytes.
        pub request_digest: Hash32,
        /// keccak256 of the encrypted output.
        pub output_digest: Hash32,
        /// Hash of the state at `seq`.
        pub state_hash: Hash32,
        /// The executor enclave's signature over keccak256 of [`Receipt::signing_bytes`].
        pub signature: SignatureBytes,
    }
}

impl Receipt {
    /// Domain tag of [`Receipt::signing_bytes`].
    pub const SIGNING_TAG: &'static [u8] = b"pose.receipt.v1";

    /// The bytes whose keccak256 the executor signs: every field but the signature.
    pub fn signing_bytes(&self) -> Vec<u8> {
        signing_bytes(
            Self::SIGNING_TAG,
            &[
                &self.cid,
                &self.epoch,
                &self.seq,
                &self.request_digest,
                &self.output_digest,
                &self.state_hash,
            ],
        )
    }
}

wire_struct! {
    /// The answer to a request: the receipt and the output encrypted to the reply key.
    pub struct Reply {
        /// The signed receipt.
        pub receipt: Receipt,
        /// The output; its keccak256 is `receipt.output_digest`.
        pub encrypted_output: OutputCiphertext,
    }
}

/// Why the executor refused a request (sent to the user in a [`Rejection`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RejectCode {
    /// The request did not decode or a field is out of range.
    Malformed = 1,
    /// The user's signature does not recover to `user`.
    BadSignature = 2,
    /// This enclave holds no contract with that id.
    UnknownContract = 3,
    /// This enclave is not the executor of the current epoch; ask the pool's executor.
    NotExecutor = 4,
    /// The nonce is older than the user's window and no receipt is kept for it.
    StaleNonce = 5,
    /// The input does not decrypt under the contract key.
    Undecryptable = 6,
    /// The contract trapped; no state changed.
    ContractTrapped = 7,
    /// The call ran out of fuel; no state changed.
    OutOfFuel = 8,
    /// Too many requests are pending; retry later.
    Busy = 9,
    /// The contract is terminated.
    Terminated = 10,
}

impl RejectCode {
    /// Every code, in tag order.
    pub const ALL: [RejectCode; 10] = [
        RejectCode::Malformed,
        RejectCode::BadSignature,
        RejectCode::UnknownContract,
        RejectCode::NotExecutor,
        RejectCode::StaleNonce,
        RejectCode::Undecryptable,
        RejectCode::ContractTrapped,
        RejectCode::OutOfFuel,
        RejectCode::Busy,
        RejectCode::Terminated,
    ];
}

impl Encode for RejectCode {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (*self as u16).encode_to(out);
    }
}

impl Decode for RejectCode {
    const MIN_ENCODED_BYTES: usize = 2;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = u16::decode_from(r)?;
        RejectCode::ALL
            .into_iter()
            .find(|c| *c as u16 == tag)
            .ok_or(DecodeError::InvalidTag {
                what: "reject code",
                tag: tag.into(),
            })
    }
}

wire_struct! {
    /// The executor's refusal of a request (inside a [`SignedEnvelope`]).
    pub struct Rejection {
        /// The contract.
        pub cid: ContractId,
        /// The requesting user.
        pub user: Address,
        /// The request's nonce.
        pub nonce: u64,
        /// keccak256 of the request's signing bytes.
        pub request_digest: Hash32,
        /// Why.
        pub code: RejectCode,
    }
}

wire_struct! {
    /// The creating executor's offer to one pool member: the code, the contract keys sealed
    /// to the member's attested encryption key, and the initial state (inside a
    /// [`SignedEnvelope`] from the executor).
    pub struct CreationOffer {
        /// The contract.
        pub cid: ContractId,
        /// The pool member this offer is for.
        pub member: Address,
        /// sha256 of the code, as registered on-chain.
        pub code_hash: Hash32,
        /// The contract's Wasm code.
        pub code: CodeBytes,
        /// The contract's public input key.
        pub contract_enc_key: EncPublicKey,
        /// The contract keys, sealed to the member's attested encryption key.
        pub sealed_keys: KeysCiphertext,
        /// Hash of the state after `init`.
        pub init_state_hash: Hash32,
        /// The state after `init`, encrypted under the state key (epoch 0, seq 0).
        pub encrypted_state: StateCiphertext,
        /// The contract's incremental txHash the creation relies on.
        pub tx_hash: Hash32,
    }
}

wire_struct! {
    /// A member's acceptance of a creation offer. The signature is the on-chain accept
    /// digest (docs/protocol.md section 2) that `completeCreation` checks.
    pub struct Acceptance {
        /// The contract.
        pub cid: ContractId,
        /// The accepting member.
        pub member: Address,
        /// sha256 of the accepted code.
        pub code_hash: Hash32,
        /// The contract's public input key.
        pub contract_enc_key: EncPublicKey,
        /// Hash of the accepted initial state.
        pub init_state_hash: Hash32,
        /// The member's view of the contract's txHash.
        pub tx_hash: Hash32,
        /// The member enclave's signature over the accept digest.
        pub signature: SignatureBytes,
    }
}

/// Why a state transfer is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferReason {
    /// The executor changed (a new epoch): members adopt the new executor's latest state.
    /// Tag 0.
    ExecutorChange,
    /// A new member joins the pool and needs code, keys and state. Tag 1.
    NewMember,
    /// A member that fell behind asked with a [`SyncRequest`]. Tag 2.
    CatchUp,
}

impl Encode for TransferReason {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(match self {
            TransferReason::ExecutorChange => 0,
            TransferReason::NewMember => 1,
            TransferReason::CatchUp => 2,
        });
    }
}

impl Decode for TransferReason {
    const MIN_ENCODED_BYTES: usize = 1;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(TransferReason::ExecutorChange),
            1 => Ok(TransferReason::NewMember),
            2 => Ok(TransferReason::CatchUp),
            tag => Err(DecodeError::InvalidTag {
                what: "transfer reason",
                tag: tag.into(),
            }),
        }
    }
}

wire_struct! {
    /// A full state sent by the executor to one member (inside a [`SignedEnvelope`]).
    pub struct StateTransfer {
        /// The contract.
        pub cid: ContractId,
        /// The member this transfer is for.
        pub recipient: Address,
        /// Why it is sent.
        pub reason: TransferReason,
        /// The sender's epoch.
        pub epoch: Epoch,
        /// The transferred state's sequence number.
        pub seq: Seq,
        /// The transferred state's hash.
        pub state_hash: Hash32,
        /// The contract's incremental txHash the state relies on.
        pub tx_hash: Hash32,
        /// sha256 of the code.
        pub code_hash: Hash32,
        /// The code, for a member that lacks it.
        pub code: Option<CodeBytes>,
        /// The contract keys sealed to the recipient, for a member that lacks them.
        pub sealed_keys: Option<KeysCiphertext>,
        /// The full state, encrypted under the state key.
        pub encrypted_state: StateCiphertext,
    }
}

wire_struct! {
    /// A member's request for the state it lacks (inside a [`SignedEnvelope`]).
    pub struct SyncRequest {
        /// The contract.
        pub cid: ContractId,
        /// The epoch the requester knows.
        pub epoch: Epoch,
        /// The latest sequence number the requester holds.
        pub have_seq: Seq,
        /// The hash of that state.
        pub have_state_hash: Hash32,
    }
}

wire_struct! {
    /// A message authenticated by its sender: `payload` is one encoded [`Message`] and
    /// `signature` is the sender's signature over keccak256 of
    /// [`SignedEnvelope::signing_bytes`].
    pub struct SignedEnvelope {
        /// The sender's address (an enclave, or a user).
        pub sender: Address,
        /// The encoded message.
        pub payload: PayloadBytes,
        /// The sender's signature.
        pub signature: SignatureBytes,
    }
}

impl SignedEnvelope {
    /// Domain tag of [`SignedEnvelope::signing_bytes`].
    pub const SIGNING_TAG: &'static [u8] = b"pose.envelope.v1";

    /// The bytes whose keccak256 the sender signs: sender and payload.
    pub fn signing_bytes(&self) -> Vec<u8> {
        signing_bytes(Self::SIGNING_TAG, &[&self.sender, &self.payload])
    }

    /// Decodes the payload. A payload that is itself a signed envelope is refused: an
    /// envelope never nests.
    pub fn message(&self) -> Result<Message, DecodeError> {
        let msg = Message::from_bytes(self.payload.as_slice())?;
        if matches!(msg, Message::Signed(_)) {
            return Err(DecodeError::InvalidTag {
                what: "nested signed envelope",
                tag: MessageKind::Signed as u64,
            });
        }
        Ok(msg)
    }
}

/// The kind byte of a [`Message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    /// [`Request`].
    Request = 1,
    /// [`Query`].
    Query = 2,
    /// [`QueryReply`].
    QueryReply = 3,
    /// [`StateUpdate`].
    StateUpdate = 4,
    /// [`Ack`].
    Ack = 5,
    /// [`Reply`].
    Reply = 6,
    /// [`Rejection`].
    Rejection = 7,
    /// [`CreationOffer`].
    CreationOffer = 8,
    /// [`Acceptance`].
    Acceptance = 9,
    /// [`StateTransfer`].
    StateTransfer = 10,
    /// [`SyncRequest`].
    SyncRequest = 11,
    /// [`SignedEnvelope`].
    Signed = 12,
}

/// Any wire message: encoded as `version || kind || fields`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Message {
    /// A user's call.
    Request(Request),
    /// A user's read-only query.
    Query(Query),
    /// The answer to a query.
    QueryReply(QueryReply),
    /// The executor's new state for a watchdog.
    StateUpdate(StateUpdate),
    /// A watchdog's acknowledgement.
    Ack(Ack),
    /// The answer to a request.
    Reply(Reply),
    /// The refusal of a request.
    Rejection(Rejection),
    /// A creation offer to a pool member.
    CreationOffer(CreationOffer),
    /// A member's acceptance of a creation.
    Acceptance(Acceptance),
    /// A full state for one member.
    StateTransfer(StateTransfer),
    /// A member asking for the state it lacks.
    SyncRequest(SyncRequest),
    /// A signed message.
    Signed(SignedEnvelope),
}

impl Message {
    /// This message's kind byte.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Request(_) => MessageKind::Request,
            Message::Query(_) => MessageKind::Query,
            Message::QueryReply(_) => MessageKind::QueryReply,
            Message::StateUpdate(_) => MessageKind::StateUpdate,
            Message::Ack(_) => MessageKind::Ack,
            Message::Reply(_) => MessageKind::Reply,
            Message::Rejection(_) => MessageKind::Rejection,
            Message::CreationOffer(_) => MessageKind::CreationOffer,
            Message::Acceptance(_) => MessageKind::Acceptance,
            Message::StateTransfer(_) => MessageKind::StateTransfer,
            Message::SyncRequest(_) => MessageKind::SyncRequest,
            Message::Signed(_) => MessageKind::Signed,
        }
    }

    /// The contract this message concerns, if it names one (a signed envelope names none
    /// until its payload is decoded).
    pub fn cid(&self) -> Option<ContractId> {
        Some(match self {
            Message::Request(m) => m.cid,
            Message::Query(m) => m.cid,
            Message::QueryReply(m) => m.cid,
            Message::StateUpdate(m) => m.cid,
            Message::Ack(m) => m.cid,
            Message::Reply(m) => m.receipt.cid,
            Message::Rejection(m) => m.cid,
            Message::CreationOffer(m) => m.cid,
            Message::Acceptance(m) => m.cid,
            Message::StateTransfer(m) => m.cid,
            Message::SyncRequest(m) => m.cid,
            Message::Signed(_) => return None,
        })
    }
}

impl Encode for Message {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(WIRE_VERSION);
        out.push(self.kind() as u8);
        match self {
            Message::Request(m) => m.encode_to(out),
            Message::Query(m) => m.encode_to(out),
            Message::QueryReply(m) => m.encode_to(out),
            Message::StateUpdate(m) => m.encode_to(out),
            Message::Ack(m) => m.encode_to(out),
            Message::Reply(m) => m.encode_to(out),
            Message::Rejection(m) => m.encode_to(out),
            Message::CreationOffer(m) => m.encode_to(out),
            Message::Acceptance(m) => m.encode_to(out),
            Message::StateTransfer(m) => m.encode_to(out),
            Message::SyncRequest(m) => m.encode_to(out),
            Message::Signed(m) => m.encode_to(out),
        }
    }
}

impl Decode for Message {
    const MIN_ENCODED_BYTES: usize = 2;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = u8::decode_from(r)?;
        if version != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                got: version,
                supported: WIRE_VERSION,
            });
        }
        let kind = u8::decode_from(r)?;
        Ok(match kind {
            1 => Message::Request(Decode::decode_from(r)?),
            2 => Message::Query(Decode::decode_from(r)?),
            3 => Message::QueryReply(Decode::decode_from(r)?),
            4 => Message::StateUpdate(Decode::decode_from(r)?),
            5 => Message::Ack(Decode::decode_from(r)?),
            6 => Message::Reply(Decode::decode_from(r)?),
            7 => Message::Rejection(Decode::decode_from(r)?),
            8 => Message::CreationOffer(Decode::decode_from(r)?),
            9 => Message::Acceptance(Decode::decode_from(r)?),
            10 => Message::StateTransfer(Decode::decode_from(r)?),
            11 => Message::SyncRequest(Decode::decode_from(r)?),
            12 => Message::Signed(Decode::decode_from(r)?),
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "message kind",
                    tag: tag.into(),
                })
            }
        })
    }

    fn from_bytes(input: &[u8]) -> Result<Self, DecodeError> {
        if input.len() > MESSAGE_BYTES_MAX {
            return Err(DecodeError::TooLong {
                what: "message",
                len: input.len() as u64,
                max: MESSAGE_BYTES_MAX,
            });
        }
        let mut r = Reader::new(input);
        let v = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

macro_rules! into_message {
    ($($t:ident),*) => {$(
        impl From<$t> for Message {
            fn from(m: $t) -> Self {
                Message::$t(m)
            }
        }
    )*};
}
into_message!(
    Request,
    Query,
    QueryReply,
    StateUpdate,
    Ack,
    Reply,
    Rejection,
    CreationOffer,
    Acceptance,
    StateTransfer,
    SyncRequest
);

impl From<SignedEnvelope> for Message {
    fn from(m: SignedEnvelope) -> Self {
        Message::Signed(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_starts_with_version_and_kind() {
        let m = Message::Ack(Ack {
            cid: ContractId(7),
            epoch: Epoch(1),
            seq: Seq(2),
            state_hash: Hash32([9; 32]),
        });
        let b = m.to_bytes();
        assert_eq!(b[0], WIRE_VERSION);
        assert_eq!(b[1], MessageKind::Ack as u8);
        assert_eq!(b.len(), 2 + 8 + 8 + 8 + 32);
        assert_eq!(Message::from_bytes(&b), Ok(m));
    }

    #[test]
    fn other_versions_and_unknown_kinds_are_refused() {
        assert_eq!(
            Message::from_bytes(&[2, 5]),
            Err(DecodeError::UnsupportedVersion {
                got: 2,
                supported: WIRE_VERSION
            })
        );
        assert!(matches!(
            Message::from_bytes(&[WIRE_VERSION, 0]),
            Err(DecodeError::InvalidTag {
                what: "message kind",
                ..
            })
        ));
        assert!(matches!(
            Message::from_bytes(&[WIRE_VERSION, 13]),
            Err(DecodeError::InvalidTag { .. })
        ));
    }

    #[test]
    fn signed_envelopes_do_not_nest() {
        let inner = SignedEnvelope {
            sender: Address([1; 20]),
            payload: PayloadBytes::new(vec![]).unwrap(),
            signature: SignatureBytes::default(),
        };
        let outer = SignedEnvelope {
            sender: Address([2; 20]),
            payload: PayloadBytes::new(Message::Signed(inner).to_bytes()).unwrap(),
            signature: SignatureBytes::default(),
        };
        assert!(outer.message().is_err());
    }

    #[test]
    fn signing_bytes_cover_every_field_but_the_signature() {
        let r = Request {
            cid: ContractId(1),
            encrypted_input: InputCiphertext::new(vec![1, 2, 3]).unwrap(),
            reply_key: EncPublicKey([4; 32]),
            nonce: 5,
            user: Address([6; 20]),
            signature: SignatureBytes([7; 65]),
        };
        let mut other = r.clone();
        other.signature = SignatureBytes([8; 65]);
        assert_eq!(r.signing_bytes(), other.signing_bytes());
        other.nonce = 6;
        assert_ne!(r.signing_bytes(), other.signing_bytes());
        assert!(r.signing_bytes().starts_with(Request::SIGNING_TAG));
    }
}
