//! Cryptography for pose: secp256k1 signatures recoverable by Solidity's ecrecover, Ethereum
//! addresses, X25519 + HKDF + AEAD channels and sealed boxes, keccak/sha256 hashing, the digests
//! the manager contract checks, and replay windows.
//!
//! - [`hash`]: keccak256 and sha256.
//! - [`sig`]: [`SigningKey`], [`recover`] and [`verify`]: 65-byte `r || s || v` signatures,
//!   low `s`, `v` in {27, 28}, over raw 32-byte digests (docs/protocol.md section 2).
//! - [`aead`]: X25519 encryption keys, sealed boxes, symmetric keys and attested channels,
//!   all ChaCha20-Poly1305 with associated data.
//! - [`onchain`]: every digest the manager contract checks, and the incremental txHash.
//! - [`replay`]: a sliding replay window over `u64` counters.
//!
//! Architecture invariant: no hand-written primitives (RustCrypto and dalek crates do the
//! mathematics); every digest the chain checks is computed in [`onchain`] and nowhere else.
//! Secret keys zeroize on drop and never appear in `Debug` output.

pub mod aead;
pub mod hash;
pub mod lthash;
pub mod onchain;
pub mod replay;
pub mod sig;

pub use aead::{AeadKey, Channel, EncSecretKey};
pub use hash::{keccak256, sha256};
pub use replay::{ReplayError, ReplayWindow};
pub use sig::{address_of, recover, verify, SigningKey};

/// Re-exported so callers name one generation of `rand_core` traits.
pub use rand_core::{CryptoRng, CryptoRngCore, OsRng, RngCore};

use pose_types::Address;

/// Why a cryptographic check failed. Every variant is the fault of whoever produced the input:
/// reject it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The signature's `v` byte is not 27 or 28.
    #[error("signature v byte is {0}; expected 27 or 28")]
    BadRecoveryByte(u8),
    /// The signature's `s` is in the upper half of the curve order (malleable form).
    #[error("signature s is high; the manager accepts only low-s signatures")]
    HighS,
    /// `r` or `s` is zero or not below the curve order, or no key recovers from it.
    #[error("signature is not a valid secp256k1 signature over this digest")]
    InvalidSignature,
    /// The signature is valid but by another key.
    #[error("signature is by {recovered}, expected {expected}")]
    WrongSigner {
        /// Who should have signed.
        expected: Address,
        /// Who did.
        recovered: Address,
    },
    /// 32 bytes that are not a valid secp256k1 secret key (zero or above the order).
    #[error("invalid secp256k1 secret key")]
    InvalidSecretKey,
    /// The peer's X25519 key is a low-order point: the shared secret would be predictable.
    #[error("X25519 public key is of low order")]
    WeakPublicKey,
    /// Authenticated decryption failed: wrong key, wrong associated data, or altered bytes.
    #[error("decryption failed: wrong key, wrong associated data or altered ciphertext")]
    DecryptFailed,
    /// The ciphertext is shorter than its fixed overhead.
    #[error("ciphertext of {len} bytes is shorter than the minimum {min}")]
    CiphertextTooShort {
        /// Length given.
        len: usize,
        /// Minimum length.
        min: usize,
    },
    /// A replayed or too old channel counter.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}
