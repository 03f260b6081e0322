//! Every bound the enclave enforces, in one place, with units in the names. The bounds of the
//! wire format itself live in [`pose_types::limits`] and are re-exported here.

pub use pose_types::limits::{
    INPUT_BYTES_MAX, MESSAGE_BYTES_MAX, REQUEST_BODY_BYTES_MAX, SIGNATURE_FIELD_BYTES_MAX,
};

/// Largest variable-length byte field of the enclave's sealed state (storage keys and values,
/// recorded outputs, contract code, chain transactions), in bytes.
pub const STATE_FIELD_BYTES_MAX: usize = MESSAGE_BYTES_MAX;
/// Largest attestation of a pool member (a vendor signature), in bytes.
pub const ATTESTATION_BYTES_MAX: usize = SIGNATURE_FIELD_BYTES_MAX;
/// Most requests the executor queues before refusing new ones.
pub const QUEUE_REQUESTS_MAX: usize = 1024;
/// Most requests folded into one state update (batching).
pub const BATCH_REQUESTS_MAX: usize = 16;
/// Most state updates in flight (sent, not yet acknowledged by every watchdog).
pub const PIPELINE_UPDATES_MAX: usize = 4;
/// Largest pool.
pub const POOL_MEMBERS_MAX: usize = 64;
/// Most contracts one enclave serves.
pub const CONTRACTS_MAX: usize = 1024;
/// Most chain transactions kept per contract by an enclave (waiting to be folded into its
/// state; folded ones are pruned).
pub const CHAIN_LOG_MAX: usize = 1 << 20;
/// Chain transactions kept after every held state folded them, for members a little behind.
pub const CHAIN_LOG_KEPT_FOLDED: u64 = 64;
/// Largest list in any decoded message.
pub const LIST_ITEMS_MAX: usize = 4096;
/// Fuel per contract call.
pub const CALL_FUEL_MAX: u64 = 10_000_000;
/// Largest `encryptedOutput` the manager's `respond` accepts, in bytes: `MAX_OUTPUT_BYTES` of
/// `contracts/PoseManager.sol` (a test checks that the two agree). An executor answers a
/// challenged call by posting the call's encoded `Message::Reply` there.
pub const MANAGER_OUTPUT_BYTES_MAX: usize = 65_536;
/// What an encoded `Message::Reply` adds to a call's output at most, in bytes: the envelope
/// and the reply's fixed fields, the output's AEAD nonce and tag, the signature, and room for
/// fields a later version of the reply adds.
pub const REPLY_OVERHEAD_BYTES_MAX: usize = 1024;
/// Longest output of a call, in bytes, so that every call's reply can be posted on-chain: a
/// call whose output is longer fails (its output is the error, the state is unchanged).
/// Queries have no on-chain answer and are bounded by the engine's limit only.
pub const CALL_OUTPUT_BYTES_MAX: usize = MANAGER_OUTPUT_BYTES_MAX - REPLY_OVERHEAD_BYTES_MAX;

const _: () = assert!(BATCH_REQUESTS_MAX <= QUEUE_REQUESTS_MAX);
const _: () = assert!(INPUT_BYTES_MAX * BATCH_REQUESTS_MAX < MESSAGE_BYTES_MAX);
const _: () = assert!(POOL_MEMBERS_MAX <= LIST_ITEMS_MAX);
// A reply to a call of the longest output fits in the manager's `respond`: envelope (2), the
// reply's fixed fields, the output's nonce (24) and tag (16), and the longest signature.
const _: () = assert!(
    2 + <crate::wire::Reply as pose_types::Decode>::MIN_ENCODED_BYTES
        + 24
        + 16
        + SIGNATURE_FIELD_BYTES_MAX
        <= REPLY_OVERHEAD_BYTES_MAX
);
const _: () = assert!(CALL_OUTPUT_BYTES_MAX + REPLY_OVERHEAD_BYTES_MAX <= MANAGER_OUTPUT_BYTES_MAX);
