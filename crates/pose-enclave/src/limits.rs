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
/// Most chain transactions kept per contract by an enclave.
pub const CHAIN_LOG_MAX: usize = 1 << 20;
/// Largest list in any decoded message.
pub const LIST_ITEMS_MAX: usize = 4096;
/// Fuel per contract call.
pub const CALL_FUEL_MAX: u64 = 10_000_000;

const _: () = assert!(BATCH_REQUESTS_MAX <= QUEUE_REQUESTS_MAX);
const _: () = assert!(INPUT_BYTES_MAX * BATCH_REQUESTS_MAX < MESSAGE_BYTES_MAX);
const _: () = assert!(POOL_MEMBERS_MAX <= LIST_ITEMS_MAX);
