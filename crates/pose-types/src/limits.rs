//! Every maximum the wire format enforces, in one place.
//!
//! A decoder refuses any length prefix above the maximum of its field before it reads or
//! allocates anything, so the memory a decode uses is bounded by the input length and by these
//! numbers. Relations between the limits are checked at compile time.

/// The wire format version this crate writes and the only one it reads.
pub const WIRE_VERSION: u8 = 1;

/// Largest contract code (a Wasm module) carried in a creation offer or a state transfer.
pub const CODE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Largest encrypted user input (request or query ciphertext).
pub const INPUT_CIPHERTEXT_BYTES_MAX: usize = 1024 * 1024;

/// Largest encrypted output returned to a user.
pub const OUTPUT_CIPHERTEXT_BYTES_MAX: usize = 1024 * 1024;

/// Largest encrypted contract state (full state or delta) in an update or a transfer.
pub const STATE_CIPHERTEXT_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Largest sealed box carrying the contract keys to one pool member.
pub const KEYS_CIPHERTEXT_BYTES_MAX: usize = 1024;

/// Most request digests one state update may cover (a batch).
pub const REQUESTS_PER_UPDATE_MAX: usize = 1024;

/// Most deposits one state update may credit.
pub const DEPOSITS_PER_UPDATE_MAX: usize = 256;

/// Most on-chain challenges one state update may answer.
pub const CHALLENGES_PER_UPDATE_MAX: usize = 256;

/// Largest payload of a signed envelope (one encoded message).
pub const PAYLOAD_BYTES_MAX: usize = 24 * 1024 * 1024;

/// Largest encoded message of any kind, envelope included.
pub const MESSAGE_BYTES_MAX: usize = 25 * 1024 * 1024;

/// Bytes of a recoverable secp256k1 signature `r || s || v`.
pub const SIGNATURE_BYTES: usize = 65;

/// Upper bound of the fixed-size fields of a state update or state transfer besides its
/// variable parts (ids, hashes, counters, tags, prefixes), generous on purpose.
const FIXED_FIELDS_BYTES_MAX: usize = 1024;

// Every length prefix is a u32.
const _: () = assert!(MESSAGE_BYTES_MAX <= u32::MAX as usize);
// The largest message fits in a signed envelope's payload.
const _: () = assert!(
    STATE_CIPHERTEXT_BYTES_MAX
        + CODE_BYTES_MAX
        + KEYS_CIPHERTEXT_BYTES_MAX
        + REQUESTS_PER_UPDATE_MAX * 32
        + DEPOSITS_PER_UPDATE_MAX * (20 + 16 + 32)
        + CHALLENGES_PER_UPDATE_MAX * 8
        + FIXED_FIELDS_BYTES_MAX
        <= PAYLOAD_BYTES_MAX
);
// A signed envelope (version, kind, sender, prefix, payload, signature) fits in a message.
const _: () = assert!(PAYLOAD_BYTES_MAX + 2 + 20 + 4 + SIGNATURE_BYTES <= MESSAGE_BYTES_MAX);
// An input never exceeds what a state update may carry.
const _: () = assert!(INPUT_CIPHERTEXT_BYTES_MAX <= STATE_CIPHERTEXT_BYTES_MAX);
