//! The TEE trait (attest, verify an attestation, seal/unseal with a monotonic counter,
//! randomness, monotonic time) and its backends: the software TEE whose attestations are
//! signed by a vendor key, and the confidential-VM backend ([`cvm`]).
//!
//! Protocol code (`pose-enclave`) sees only [`Tee`]: the enclave's signing and encryption keys
//! are used through it and never leave it, time and randomness come from it, and sealed state
//! goes through it. A hardware backend (SGX, TDX, SEV-SNP) implements the same trait, so it
//! changes no protocol code.
//!
//! - [`attestation`]: the [`Attestation`] a TEE issues and its verification, which yields an
//!   [`AttestationVerified`] proof value.
//! - [`software`]: the software backend ([`SoftwareTee`]), its platform (secret and monotonic
//!   counters, [`SoftwarePlatform`]) and the devnet [`Vendor`] that signs attestations.
//!
//! - [`verify`] (feature `hardware-attestation`, on by default): verifiers of hardware
//!   attestations (Intel SGX/TDX DCAP quotes, AMD SEV-SNP reports, AWS Nitro documents) against
//!   the vendor's root and a policy, yielding a [`verify::VerifiedEvidence`].
//! - [`cvm`] (same feature): the confidential-VM backend ([`cvm::CvmTee`]) for a node inside a
//!   TDX or SEV-SNP guest: evidence from the kernel's configfs-tsm, sealing only within one run.
//!
//! Architecture invariant: protocol code sees only the trait; no secret key crosses it.

pub mod attestation;
#[cfg(feature = "hardware-attestation")]
pub mod cvm;
pub mod software;
#[cfg(feature = "hardware-attestation")]
pub mod verify;

pub use attestation::{verify_vendor_attestation, Attestation, AttestationVerified};
pub use software::{
    measurement_of, Clock, ManualClock, Randomness, SoftwarePlatform, SoftwareTee, SystemClock,
    Vendor,
};

use pose_crypto::onchain::Domain;
use pose_crypto::{Channel, CryptoError};
use pose_types::{Address, EncPublicKey, Hash32, SignatureBytes};

/// Why a TEE operation failed, and what the caller does about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeeError {
    /// The attestation's signature is not by the vendor (forged or altered): reject the
    /// enclave.
    #[error("attestation is not signed by the vendor {expected}: {reason}")]
    AttestationSignature {
        /// The trusted vendor.
        expected: Address,
        /// What the signature check found.
        reason: CryptoError,
    },
    /// The attestation is for another chain: reject the enclave.
    #[error("attestation is for chain {got}, expected chain {expected}")]
    WrongChain {
        /// The chain this verifier trusts.
        expected: u64,
        /// The chain in the attestation.
        got: u64,
    },
    /// The attestation is for another manager deployment: reject the enclave.
    #[error("attestation is for manager {got}, expected manager {expected}")]
    WrongManager {
        /// The manager this verifier trusts.
        expected: Address,
        /// The manager in the attestation.
        got: Address,
    },
    /// The attested program is not one of the allowed measurements: reject the enclave.
    #[error("measurement {0} is not an allowed enclave program")]
    UnknownMeasurement(Hash32),
    /// A sealed blob did not decode: the host handed something that is not a sealed blob.
    #[error("sealed blob is malformed: {0}")]
    SealedMalformed(String),
    /// A sealed blob did not decrypt: sealed by another program or platform, or altered.
    #[error("sealed blob does not open here: sealed by another program or platform, or altered")]
    SealedForeign,
    /// A sealed blob is older than the latest one sealed in its slot: the host tried a
    /// rollback. Refuse it; the enclave must be brought up to date by its pool instead.
    #[error(
        "sealed blob of slot `{slot}` has counter {counter}, but the latest is {latest} (rollback)"
    )]
    SealedRolledBack {
        /// The blob's slot.
        slot: String,
        /// The blob's counter.
        counter: u64,
        /// The platform's latest counter for the slot.
        latest: u64,
    },
    /// A sealed blob was sealed by an earlier run of a TEE that keeps no sealed state across
    /// restarts (the confidential-VM backend): nothing of it is trusted.
    #[error("sealed blob is from an earlier run of this confidential-VM enclave, which restores nothing across a restart: start it as a fresh enclave (new keys, registered anew) and let its pool bring it up to date")]
    SealedFromEarlierRun,
    /// A sealing slot name is too long, or the platform has no more counters.
    #[error("sealing slot refused: {0}")]
    SlotRefused(String),
    /// The backend issues no vendor-signed attestation (a hardware backend: its evidence is
    /// the hardware's quote, which the manager contract does not admit yet).
    #[error("this TEE issues no vendor-signed attestation: {0}")]
    AttestationUnavailable(String),
    /// A key agreement or decryption with the enclave's keys failed: reject the input.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// A trusted execution environment as protocol code uses it.
///
/// Implementations keep the enclave's secp256k1 identity key and X25519 encryption key
/// inside; callers get only public keys, signatures and derived channels. Every method is
/// deterministic given the backend's randomness and clock sources, so a simulator that seeds
/// them replays a run exactly.
pub trait Tee {
    /// The measurement of the program this TEE runs.
    fn measurement(&self) -> Hash32;

    /// The enclave's Ethereum address (its on-chain identity).
    fn address(&self) -> Address;

    /// The enclave's X25519 public encryption key.
    fn enc_public_key(&self) -> EncPublicKey;

    /// An attestation binding measurement, address and encryption key to one chain and
    /// manager, as `registerEnclave` checks it.
    fn attest(&self, domain: &Domain) -> Result<Attestation, TeeError>;

    /// Verifies another enclave's attestation with this platform's trust anchor; succeeds only
    /// if the attestation is genuine and names `expected_chain_id`, `expected_manager` and one
    /// of `allowed_measurements`.
    fn verify_attestation(
        &self,
        att: &Attestation,
        expected_chain_id: u64,
        expected_manager: &Address,
        allowed_measurements: &[Hash32],
    ) -> Result<AttestationVerified, TeeError>;

    /// Signs a 32-byte digest with the enclave's identity key (`r || s || v`, low `s`).
    fn sign_digest(&self, digest: &Hash32) -> SignatureBytes;

    /// Opens a sealed box addressed to the enclave's encryption key.
    fn open_sealed_box(&self, ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, TeeError>;

    /// An attested channel with a peer enclave, keyed by the enclave's encryption key and the
    /// peer's (verified) encryption key.
    fn channel(&self, peer: &AttestationVerified, context: &[u8]) -> Result<Channel, TeeError>;

    /// Seals `data` in `slot`: only this program on this platform can unseal it, and only
    /// until the next `seal` of the same slot (the slot's monotonic counter advances).
    fn seal(&mut self, slot: &str, data: &[u8]) -> Result<Vec<u8>, TeeError>;

    /// Unseals a blob from [`Tee::seal`]; refuses blobs of other programs or platforms,
    /// altered blobs, and blobs older than the latest seal of their slot.
    fn unseal(&self, slot: &str, blob: &[u8]) -> Result<Vec<u8>, TeeError>;

    /// The monotonic counter of `slot`: how many times it was sealed (0 if never). The host
    /// cannot decrease it.
    fn counter_read(&self, slot: &str) -> u64;

    /// Fills `out` with random bytes.
    fn random_bytes(&mut self, out: &mut [u8]);

    /// Milliseconds on a clock that never goes backwards (relative, not wall-clock time).
    fn monotonic_now_ms(&mut self) -> u64;
}

/// Adapts a [`Tee`]'s randomness to the `rand_core` traits that `pose-crypto` takes.
pub struct TeeRng<'a, T: Tee + ?Sized>(pub &'a mut T);

impl<T: Tee + ?Sized> rand_core::RngCore for TeeRng<'_, T> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.random_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.random_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.random_bytes(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.random_bytes(dest);
        Ok(())
    }
}

/// The TEE's randomness is the platform's cryptographic generator (SPEC A2).
impl<T: Tee + ?Sized> rand_core::CryptoRng for TeeRng<'_, T> {}
