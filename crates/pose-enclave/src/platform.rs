//! What the enclave needs from the machine it runs on: identity, randomness, sealing with a
//! monotonic counter, and the cryptographic operations it performs.
//!
//! This is the enclave's port to the TEE. Protocol code sees nothing else: time comes only from
//! [`Platform::now_ms`] (the TEE's clock, never the host's) and randomness only from
//! [`Platform::random`]. A backend over `pose-tee` and `pose-crypto` implements it
//! for real deployments; the simulator implements it with an ideal (deterministic, seeded)
//! model of the same primitives.

use pose_types::{Address, Hash32};

/// A 65-byte recoverable signature `r || s || v` (see docs/protocol.md section 2).
pub type Signature = Vec<u8>;

/// The TEE and cryptography as the enclave sees them.
pub trait Platform {
    /// This enclave's identity address (its secp256k1 key's Ethereum address).
    fn address(&self) -> Address;
    /// This enclave's public encryption key (attested channels and state transfer).
    fn enc_public_key(&self) -> [u8; 32];
    /// Fills `out` with randomness from the TEE.
    fn random(&mut self, out: &mut [u8]);
    /// Milliseconds on the TEE's own monotonic clock: relative (any origin, e.g. the enclave's
    /// start) and never set by the host. The enclave uses it only for its soft timers
    /// (retransmissions, ack timeouts, resubmissions), never across a restart.
    fn now_ms(&mut self) -> u64;
    /// Signs a 32-byte digest with the identity key.
    fn sign(&mut self, digest: &Hash32) -> Signature;
    /// True if `sig` is `signer`'s signature over `digest`.
    fn verify(&self, signer: &Address, digest: &Hash32, sig: &[u8]) -> bool;
    /// A fresh key pair for a sealed-box recipient (a contract's input key): `(secret, public)`.
    fn box_keypair(&mut self) -> ([u8; 32], [u8; 32]);
    /// Encrypts `plaintext` to the holder of the secret for `recipient_public`.
    fn box_seal(&mut self, recipient_public: &[u8; 32], plaintext: &[u8]) -> Vec<u8>;
    /// Opens a sealed box with a secret from [`Platform::box_keypair`].
    fn box_open(&self, secret: &[u8; 32], ciphertext: &[u8]) -> Option<Vec<u8>>;
    /// Opens a sealed box addressed to this enclave's own encryption key.
    fn box_open_identity(&self, ciphertext: &[u8]) -> Option<Vec<u8>>;
    /// Authenticated encryption under a 32-byte key; `nonce` must never repeat for one key.
    fn aead_seal(&self, key: &[u8; 32], nonce: &[u8; 24], ad: &[u8], plaintext: &[u8]) -> Vec<u8>;
    /// Opens [`Platform::aead_seal`] output; `None` if the key, nonce, `ad` or bytes differ.
    fn aead_open(&self, key: &[u8; 32], nonce: &[u8; 24], ad: &[u8], ct: &[u8]) -> Option<Vec<u8>>;
    /// Seals `data` to this enclave (only the same enclave program on the same TEE opens it).
    /// Each seal advances the TEE's monotonic counter, so earlier blobs stop opening.
    fn seal(&mut self, data: &[u8]) -> Result<Vec<u8>, SealError>;
    /// Opens the latest blob from [`Platform::seal`]; refuses older blobs (a rollback) and
    /// blobs of other programs or platforms, or altered ones.
    fn unseal(&mut self, blob: &[u8]) -> Result<Vec<u8>, SealError>;
    /// Opens a stale blob anyway. Only the `bug-injection` build calls it, to show that the
    /// simulator notices a rollback; real backends keep the default (refuse).
    fn unseal_stale_for_bug_injection(&mut self, _blob: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// Why sealing or unsealing failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The blob is older than the latest seal: the host tried a rollback.
    #[error("sealed blob is stale (counter {counter}, latest {latest})")]
    RolledBack {
        /// The blob's counter.
        counter: u64,
        /// The TEE's latest counter.
        latest: u64,
    },
    /// The blob was sealed elsewhere or altered.
    #[error("sealed blob does not open here")]
    Foreign,
    /// The TEE refused to seal (size or counter limits).
    #[error("sealing refused: {0}")]
    Refused(String),
}
