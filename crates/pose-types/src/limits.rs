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

/// Bytes the sealed plaintext ([`crate::wire::SealedInput`]) adds to an input: the bound
/// request fields (`cid` 8, `user` 20, `nonce` 8, `kind` 1), the 32-byte reply key and the
/// input's 4-byte length.
pub const SEALED_INPUT_HEADER_BYTES: usize = 8 + 20 + 8 + 1 + 32 + 4;

/// What sealing adds to an input at most, in bytes: the sealed plaintext's header
/// ([`SEALED_INPUT_HEADER_BYTES`]), the sealed box's ephemeral key, nonce and tag, with room
/// to spare.
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
// The sealed plaintext's header and a sealed box's ephemeral key (32), nonce (24) and tag (16)
// fit in the overhead a request body may add to the largest input.
const _: () = assert!(SEALED_INPUT_HEADER_BYTES + 32 + 24 + 16 <= SEALED_INPUT_OVERHEAD_BYTES_MAX);
