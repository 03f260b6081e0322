//! Every maximum the wire format enforces, in one place, with units in the names.
//!
//! A decoder refuses any length prefix above the maximum of its field before it reads or
//! allocates anything, so the memory a decode uses is bounded by the input length and by these
//! numbers. Relations between the limits are checked at compile time. `pose-enclave` adds the
//! bounds of its own state (queue, batch, pool, chain log) in its `limits` module.

/// Largest encoded [`crate::wire::Message`] a decoder accepts (and a node relays), in bytes.
/// Also the maximum of the messages' variable-length fields that have no smaller one of
/// their own (reply outputs, state ciphertexts, sealed secrets, contract code).
pub const MESSAGE_BYTES_MAX: usize = 4 << 20;

/// Largest user input (plaintext, before it is sealed to the contract key), in bytes.
pub const INPUT_BYTES_MAX: usize = 16 * 1024;

/// What sealing adds to an input at most, in bytes: the 32-byte reply key, the sealed box's
/// ephemeral key, nonce and tag, with room to spare.
pub const SEALED_INPUT_OVERHEAD_BYTES_MAX: usize = 256;

/// Largest sealed request body ([`crate::wire::Request::body`]), in bytes.
pub const REQUEST_BODY_BYTES_MAX: usize = INPUT_BYTES_MAX + SEALED_INPUT_OVERHEAD_BYTES_MAX;

/// Largest signature field of a message, in bytes (a recoverable secp256k1 signature takes
/// 65; the field is opaque here and checked by whoever verifies it).
pub const SIGNATURE_FIELD_BYTES_MAX: usize = 128;

// Every length prefix is a u32.
const _: () = assert!(MESSAGE_BYTES_MAX <= u32::MAX as usize);
// A request with the largest body and signature fits in a message.
const _: () = assert!(REQUEST_BODY_BYTES_MAX + SIGNATURE_FIELD_BYTES_MAX + 64 <= MESSAGE_BYTES_MAX);
