//! [`Platform`] over a real TEE ([`pose_tee::Tee`]) and `pose-crypto`: secp256k1 signatures
//! recoverable by `ecrecover`, X25519 sealed boxes, XChaCha20-Poly1305, and the TEE's sealing
//! with its monotonic counters. This is what a deployment (and `pose-node`) uses.

use pose_crypto::aead::{seal_to, AeadKey, EncSecretKey};
use pose_crypto::sig;
use pose_tee::{Tee, TeeError, TeeRng};
use pose_types::{Address, EncPublicKey, Hash32, SignatureBytes};
use rand_core::{CryptoRng, RngCore};

use crate::platform::{Platform, SealError};

/// The sealing slot of the enclave's protocol state.
pub const STATE_SLOT: &str = "pose-enclave.state";

/// The enclave's platform on a real TEE.
pub struct TeePlatform<T: Tee> {
    tee: T,
}

impl<T: Tee> TeePlatform<T> {
    /// Wraps a TEE.
    pub fn new(tee: T) -> Self {
        Self { tee }
    }
    /// The wrapped TEE.
    pub fn tee(&self) -> &T {
        &self.tee
    }
}

/// Hands out a nonce the TEE drew, so `AeadKey::encrypt` uses the nonce the protocol binds
/// into its associated data. Only ever asked for one 24-byte nonce.
struct GivenNonce([u8; 24]);

impl RngCore for GivenNonce {
    fn next_u32(&mut self) -> u32 {
        u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for (d, s) in dest.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

// The nonce comes from the TEE's generator (fresh per message).
impl CryptoRng for GivenNonce {}

fn ad_with_nonce(nonce: &[u8; 24], ad: &[u8]) -> Vec<u8> {
    let mut v = nonce.to_vec();
    v.extend_from_slice(ad);
    v
}

impl<T: Tee> Platform for TeePlatform<T> {
    fn address(&self) -> Address {
        self.tee.address()
    }
    fn enc_public_key(&self) -> [u8; 32] {
        self.tee.enc_public_key().0
    }
    fn now_ms(&mut self) -> u64 {
        self.tee.monotonic_now_ms()
    }
    fn random(&mut self, out: &mut [u8]) {
        self.tee.random_bytes(out);
    }
    fn sign(&mut self, digest: &Hash32) -> Vec<u8> {
        self.tee.sign_digest(digest).0.to_vec()
    }
    fn verify(&self, signer: &Address, digest: &Hash32, sig: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 65]>::try_from(sig) else {
            return false;
        };
        sig::verify(digest, &SignatureBytes(bytes), signer).is_ok()
    }
    fn box_keypair(&mut self) -> ([u8; 32], [u8; 32]) {
        let sk = EncSecretKey::random(&mut TeeRng(&mut self.tee));
        (*sk.to_bytes(), sk.public().0)
    }
    fn box_seal(&mut self, recipient_public: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
        // A low-order recipient key yields an empty box that never opens.
        seal_to(
            &EncPublicKey(*recipient_public),
            b"pose.box.v1",
            plaintext,
            &mut TeeRng(&mut self.tee),
        )
        .unwrap_or_default()
    }
    fn box_open(&self, secret: &[u8; 32], ciphertext: &[u8]) -> Option<Vec<u8>> {
        EncSecretKey::from_bytes(*secret)
            .open_sealed(b"pose.box.v1", ciphertext)
            .ok()
    }
    fn box_open_identity(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        self.tee.open_sealed_box(b"pose.box.v1", ciphertext).ok()
    }
    fn aead_seal(&self, key: &[u8; 32], nonce: &[u8; 24], ad: &[u8], pt: &[u8]) -> Vec<u8> {
        AeadKey::from_bytes(*key).encrypt(&ad_with_nonce(nonce, ad), pt, &mut GivenNonce(*nonce))
    }
    fn aead_open(&self, key: &[u8; 32], nonce: &[u8; 24], ad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
        if ct.get(..24) != Some(nonce.as_slice()) {
            return None;
        }
        AeadKey::from_bytes(*key)
            .decrypt(&ad_with_nonce(nonce, ad), ct)
            .ok()
    }
    fn seal(&mut self, data: &[u8]) -> Result<Vec<u8>, SealError> {
        self.tee
            .seal(STATE_SLOT, data)
            .map_err(|e| SealError::Refused(e.to_string()))
    }
    fn unseal(&mut self, blob: &[u8]) -> Result<Vec<u8>, SealError> {
        self.tee.unseal(STATE_SLOT, blob).map_err(|e| match e {
            TeeError::SealedRolledBack {
                counter, latest, ..
            } => SealError::RolledBack { counter, latest },
            _ => SealError::Foreign,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn an_enclave_on_a_software_tee_can_move_to_the_host_thread() {
        assert_send::<crate::Enclave<TeePlatform<pose_tee::SoftwareTee>>>();
    }
}
