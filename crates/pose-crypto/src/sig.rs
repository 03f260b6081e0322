//! secp256k1 keys and Ethereum-compatible recoverable signatures.
//!
//! A signature is 65 bytes `r || s || v` over a raw 32-byte digest (no EIP-191 prefix), with
//! `s` in the lower half of the curve order and `v` in {27, 28}, so Solidity's `ecrecover`
//! returns the signer's address and the manager's low-s check passes. [`recover`] refuses
//! exactly what the manager refuses.

use core::fmt;

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use pose_types::{Address, Hash32, SignatureBytes};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::hash::keccak256;
use crate::CryptoError;

/// A secp256k1 secret key. Zeroized on drop; `Debug` shows only its address.
#[derive(Clone)]
pub struct SigningKey(k256::ecdsa::SigningKey);

impl SigningKey {
    /// A fresh key from `rng`.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        Self(k256::ecdsa::SigningKey::random(rng))
    }

    /// The key with these 32 big-endian secret bytes; refuses zero and values not below the
    /// curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        k256::ecdsa::SigningKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| CryptoError::InvalidSecretKey)
    }

    /// The 32 secret bytes, for sealing inside the enclave only.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes().into())
    }

    /// The Ethereum address of this key.
    pub fn address(&self) -> Address {
        address_of(self.0.verifying_key())
    }

    /// Signs a 32-byte digest: `r || s || v`, low `s`, `v` in {27, 28}.
    pub fn sign_digest(&self, digest: &Hash32) -> SignatureBytes {
        let (sig, rid) = self
            .0
            .sign_prehash_recoverable(&digest.0)
            .expect("signing a 32-byte digest with a valid key cannot fail");
        // k256 already returns low-s; normalising again keeps the guarantee explicit. Negating
        // s flips the parity of the recovered point's y coordinate.
        let (sig, rid) = match sig.normalize_s() {
            Some(low) => (low, RecoveryId::new(!rid.is_y_odd(), rid.is_x_reduced())),
            None => (sig, rid),
        };
        assert!(!rid.is_x_reduced(), "x-reduced recovery ids have no v byte");
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + rid.to_byte();
        SignatureBytes(out)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

/// The Ethereum address of a public key: the last 20 bytes of keccak256 of its uncompressed
/// coordinates.
pub fn address_of(key: &VerifyingKey) -> Address {
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    let mut a = [0u8; 20];
    a.copy_from_slice(&hash.0[12..]);
    Address(a)
}

/// The address that signed `digest`, with the manager contract's rules: `v` in {27, 28},
/// low `s`, `r` and `s` non-zero and below the curve order.
pub fn recover(digest: &Hash32, sig: &SignatureBytes) -> Result<Address, CryptoError> {
    let v = sig.0[64];
    if v != 27 && v != 28 {
        return Err(CryptoError::BadRecoveryByte(v));
    }
    let signature =
        Signature::from_slice(&sig.0[..64]).map_err(|_| CryptoError::InvalidSignature)?;
    if signature.normalize_s().is_some() {
        return Err(CryptoError::HighS);
    }
    let rid = RecoveryId::from_byte(v - 27).ok_or(CryptoError::BadRecoveryByte(v))?;
    let key = VerifyingKey::recover_from_prehash(&digest.0, &signature, rid)
        .map_err(|_| CryptoError::InvalidSignature)?;
    Ok(address_of(&key))
}

/// Checks that `sig` over `digest` is by `expected`.
pub fn verify(
    digest: &Hash32,
    sig: &SignatureBytes,
    expected: &Address,
) -> Result<(), CryptoError> {
    let recovered = recover(digest, sig)?;
    if recovered == *expected {
        Ok(())
    } else {
        Err(CryptoError::WrongSigner {
            expected: *expected,
            recovered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn address_matches_a_known_ethereum_vector() {
        // Secret key 1: the generator point's address, as every Ethereum tool computes it.
        let mut one = [0u8; 32];
        one[31] = 1;
        let k = SigningKey::from_bytes(&one).unwrap();
        assert_eq!(
            k.address().0.to_vec(),
            hex::decode("7e5f4552091a69125d5dfcb7b8c2659029395bdf").unwrap()
        );
    }

    #[test]
    fn signature_matches_cast_wallet_sign_no_hash() {
        // `cast wallet sign --no-hash --private-key 0x11..11 0x22..22` (foundry 1.7.1).
        let k = key(0x11);
        let sig = k.sign_digest(&Hash32([0x22; 32]));
        assert_eq!(
            hex::encode(sig.0),
            include_str!("../tests/vectors/cast_sign_11_22.txt").trim()
        );
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let k = key(0x42);
        let shown = format!("{k:?}");
        assert!(!shown.contains(&hex::encode([0x42u8; 32])));
        assert!(!shown.contains("4242424242"));
        assert!(shown.contains(&format!("{:?}", k.address())));
    }

    #[test]
    fn high_s_and_bad_v_are_refused() {
        let k = key(7);
        let d = Hash32([3; 32]);
        let sig = k.sign_digest(&d);
        assert_eq!(recover(&d, &sig), Ok(k.address()));

        // The same signature with s replaced by n - s (and v flipped) is valid ECDSA but
        // malleable: refused.
        let s = Signature::from_slice(&sig.0[..64]).unwrap();
        let (r, s_low) = s.split_scalars();
        let high = Signature::from_scalars(r.to_bytes(), (-*s_low).to_bytes()).unwrap();
        let mut hs = [0u8; 65];
        hs[..64].copy_from_slice(&high.to_bytes());
        hs[64] = if sig.0[64] == 27 { 28 } else { 27 };
        assert_eq!(recover(&d, &SignatureBytes(hs)), Err(CryptoError::HighS));

        for v in [0u8, 1, 26, 29, 255] {
            let mut bad = sig;
            bad.0[64] = v;
            assert_eq!(recover(&d, &bad), Err(CryptoError::BadRecoveryByte(v)));
        }
        assert_eq!(
            recover(&d, &SignatureBytes([0; 65])),
            Err(CryptoError::BadRecoveryByte(0))
        );
        let mut zero = [0u8; 65];
        zero[64] = 27;
        assert_eq!(
            recover(&d, &SignatureBytes(zero)),
            Err(CryptoError::InvalidSignature)
        );
    }
}
