//! Encryption: X25519 key agreement, HKDF-SHA256 key derivation and ChaCha20-Poly1305 AEAD.
//!
//! - A **sealed box** ([`seal_to`] / [`EncSecretKey::open_sealed`]) encrypts to a public key
//!   with a fresh ephemeral key: `ephemeral_public (32) || ciphertext || tag (16)`. The AEAD key
//!   is HKDF(shared secret, info = label || ephemeral public || recipient public), so it is
//!   fresh for every box and the nonce is fixed. Used for user inputs (to the contract key),
//!   outputs (to the user's reply key) and contract keys (to a member's attested key).
//! - An [`AeadKey`] encrypts under a symmetric key with a random 24-byte nonce
//!   (XChaCha20-Poly1305): `nonce (24) || ciphertext || tag (16)`. Used for contract state.
//! - A [`Channel`] is an attested channel between two enclaves' X25519 keys: one key per
//!   direction, counter nonces, and a replay window on the receiving side.
//!
//! Associated data binds every ciphertext to its context: [`associated_data`] encodes a
//! purpose label with contract id, epoch and sequence number.

use core::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use hkdf::Hkdf;
use pose_types::{ContractId, EncPublicKey, Epoch, Seq};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::replay::ReplayWindow;
use crate::CryptoError;

/// Bytes an AEAD tag adds.
pub const TAG_BYTES: usize = 16;
/// Bytes a sealed box adds to its plaintext (ephemeral public key and tag).
pub const SEALED_BOX_OVERHEAD_BYTES: usize = 32 + TAG_BYTES;
/// Bytes [`AeadKey::encrypt`] adds to its plaintext (nonce and tag).
pub const AEAD_OVERHEAD_BYTES: usize = 24 + TAG_BYTES;
/// Bytes [`Channel::seal`] adds to its plaintext (counter and tag).
pub const CHANNEL_OVERHEAD_BYTES: usize = 8 + TAG_BYTES;

const SEALED_BOX_LABEL: &[u8] = b"pose.sealed-box.v1";
const CHANNEL_LABEL: &[u8] = b"pose.channel.v1";

/// What a ciphertext is for; part of its associated data so a ciphertext made for one purpose
/// never opens as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A user's input to a contract (`seq` = the request's nonce, `epoch` = 0).
    Input,
    /// A call's output to its user.
    Output,
    /// Contract state or a state delta in an update or transfer.
    State,
    /// The contract keys sealed to a pool member.
    ContractKeys,
    /// State sealed to disk by the enclave.
    Sealed,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Input => b"pose.ad.input.v1",
            Purpose::Output => b"pose.ad.output.v1",
            Purpose::State => b"pose.ad.state.v1",
            Purpose::ContractKeys => b"pose.ad.contract-keys.v1",
            Purpose::Sealed => b"pose.ad.sealed.v1",
        }
    }
}

/// Associated data binding a ciphertext to its purpose, contract, epoch and sequence number:
/// `label || cid (8, big-endian) || epoch (8) || seq (8)`.
pub fn associated_data(purpose: Purpose, cid: ContractId, epoch: Epoch, seq: Seq) -> Vec<u8> {
    let label = purpose.label();
    let mut ad = Vec::with_capacity(label.len() + 24);
    ad.extend_from_slice(label);
    ad.extend_from_slice(&cid.0.to_be_bytes());
    ad.extend_from_slice(&epoch.0.to_be_bytes());
    ad.extend_from_slice(&seq.0.to_be_bytes());
    ad
}

/// An X25519 secret key (an enclave's or a contract's encryption key, or a user's reply key).
/// Zeroized on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct EncSecretKey(StaticSecret);

impl EncSecretKey {
    /// A fresh key from `rng`.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self(StaticSecret::from(*bytes))
    }

    /// The key with these secret bytes (clamped by X25519).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(StaticSecret::from(bytes))
    }

    /// The secret bytes, for sealing or for sending inside an encrypted box only.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> EncPublicKey {
        EncPublicKey(PublicKey::from(&self.0).to_bytes())
    }

    fn agree(&self, peer: &EncPublicKey) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let shared = self.0.diffie_hellman(&PublicKey::from(peer.0));
        if !shared.was_contributory() {
            return Err(CryptoError::WeakPublicKey);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }

    /// Opens a sealed box made by [`seal_to`] for this key with the same associated data.
    pub fn open_sealed(&self, ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < SEALED_BOX_OVERHEAD_BYTES {
            return Err(CryptoError::CiphertextTooShort {
                len: sealed.len(),
                min: SEALED_BOX_OVERHEAD_BYTES,
            });
        }
        let (eph, ct) = sealed.split_at(32);
        let eph = EncPublicKey(eph.try_into().expect("split at 32"));
        let shared = self.agree(&eph)?;
        let key = sealed_box_key(&shared, &eph, &self.public());
        ChaCha20Poly1305::new((&*key).into())
            .decrypt(&[0u8; 12].into(), Payload { msg: ct, aad: ad })
            .map_err(|_| CryptoError::DecryptFailed)
    }
}

impl fmt::Debug for EncSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncSecretKey")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

fn sealed_box_key(
    shared: &[u8; 32],
    eph: &EncPublicKey,
    recipient: &EncPublicKey,
) -> Zeroizing<[u8; 32]> {
    let mut info = Vec::with_capacity(SEALED_BOX_LABEL.len() + 64);
    info.extend_from_slice(SEALED_BOX_LABEL);
    info.extend_from_slice(&eph.0);
    info.extend_from_slice(&recipient.0);
    hkdf32(shared, &info)
}

fn hkdf32(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// Encrypts `plaintext` to `recipient` with a fresh ephemeral key drawn from `rng`.
/// Fails only if `recipient` is a low-order point.
pub fn seal_to(
    recipient: &EncPublicKey,
    ad: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, CryptoError> {
    let eph = EncSecretKey::random(rng);
    let eph_pub = eph.public();
    let shared = eph.agree(recipient)?;
    let key = sealed_box_key(&shared, &eph_pub, recipient);
    let ct = ChaCha20Poly1305::new((&*key).into())
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: plaintext,
                aad: ad,
            },
        )
        .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(32 + ct.len());
    out.extend_from_slice(&eph_pub.0);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// A 32-byte symmetric key (a contract's state key, a sealing key). Zeroized on drop;
/// `Debug` prints nothing of it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AeadKey([u8; 32]);

impl AeadKey {
    /// A fresh key from `rng`.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Derives a key from secret input keying material and a context label (HKDF-SHA256).
    pub fn derive(ikm: &[u8], info: &[u8]) -> Self {
        Self(*hkdf32(ikm, info))
    }

    /// The key bytes, for sealing or for sending inside an encrypted box only.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0)
    }

    /// Encrypts with a random nonce from `rng`: `nonce (24) || ciphertext || tag`.
    pub fn encrypt(&self, ad: &[u8], plaintext: &[u8], rng: &mut impl CryptoRngCore) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let ct = XChaCha20Poly1305::new((&self.0).into())
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: ad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`AeadKey::encrypt`] made under this key with the same associated data.
    pub fn decrypt(&self, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if ciphertext.len() < AEAD_OVERHEAD_BYTES {
            return Err(CryptoError::CiphertextTooShort {
                len: ciphertext.len(),
                min: AEAD_OVERHEAD_BYTES,
            });
        }
        let (nonce, ct) = ciphertext.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().expect("split at 24");
        XChaCha20Poly1305::new((&self.0).into())
            .decrypt(&nonce.into(), Payload { msg: ct, aad: ad })
            .map_err(|_| CryptoError::DecryptFailed)
    }
}

impl AeadKey {
    /// Encrypts with a caller-chosen 24-byte nonce: `ciphertext || tag` (the nonce is not
    /// included). The caller must never use a nonce twice with one key; prefer
    /// [`AeadKey::encrypt`], which draws it.
    pub fn encrypt_with_nonce(&self, nonce: &[u8; 24], ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        XChaCha20Poly1305::new((&self.0).into())
            .encrypt(
                nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: ad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail")
    }

    /// Decrypts what [`AeadKey::encrypt_with_nonce`] made with the same key, nonce and
    /// associated data.
    pub fn decrypt_with_nonce(
        &self,
        nonce: &[u8; 24],
        ad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        XChaCha20Poly1305::new((&self.0).into())
            .decrypt(
                nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad: ad,
                },
            )
            .map_err(|_| CryptoError::DecryptFailed)
    }
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AeadKey(..)")
    }
}

/// One side of an attested channel between two enclaves, keyed by X25519 between their
/// attested encryption keys. Each direction has its own key; messages carry an 8-byte counter
/// used as the nonce, and the receiver refuses replayed and too old counters.
///
/// Both sides must use the same `context` (for instance the contract id and the two
/// addresses); a channel never reuses a counter, so establish a new channel (new context or
/// new keys) rather than restart one from a sealed copy.
pub struct Channel {
    send_key: ChaCha20Poly1305,
    recv_key: ChaCha20Poly1305,
    next_send: u64,
    window: ReplayWindow,
}

impl Channel {
    /// Derives both directions' keys from `mine` and `peer`. The side whose public key sorts
    /// first sends with the "low to high" key.
    pub fn establish(
        mine: &EncSecretKey,
        peer: &EncPublicKey,
        context: &[u8],
    ) -> Result<Self, CryptoError> {
        let shared = mine.agree(peer)?;
        let me = mine.public();
        let (lo, hi) = if me.0 <= peer.0 {
            (me, *peer)
        } else {
            (*peer, me)
        };
        let key = |dir: &[u8]| {
            let mut info = Vec::with_capacity(CHANNEL_LABEL.len() + 64 + dir.len() + context.len());
            info.extend_from_slice(CHANNEL_LABEL);
            info.extend_from_slice(&lo.0);
            info.extend_from_slice(&hi.0);
            info.extend_from_slice(dir);
            info.extend_from_slice(context);
            let k = hkdf32(shared.as_ref(), &info);
            ChaCha20Poly1305::new((&*k).into())
        };
        let lo_to_hi = key(b"lo->hi");
        let hi_to_lo = key(b"hi->lo");
        let (send_key, recv_key) = if me == lo {
            (lo_to_hi, hi_to_lo)
        } else {
            (hi_to_lo, lo_to_hi)
        };
        Ok(Self {
            send_key,
            recv_key,
            next_send: 0,
            window: ReplayWindow::new(),
        })
    }

    fn nonce(counter: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&counter.to_be_bytes());
        n
    }

    /// Encrypts the next message: `counter (8) || ciphertext || tag`.
    pub fn seal(&mut self, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let counter = self.next_send;
        self.next_send = counter
            .checked_add(1)
            .expect("a channel sends fewer than 2^64 messages");
        let ct = self
            .send_key
            .encrypt(
                &Self::nonce(counter).into(),
                Payload {
                    msg: plaintext,
                    aad: ad,
                },
            )
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(8 + ct.len());
        out.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts a message from the peer; refuses altered, replayed and too old messages.
    /// The replay window moves only when a message decrypts.
    pub fn open(&mut self, ad: &[u8], message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if message.len() < CHANNEL_OVERHEAD_BYTES {
            return Err(CryptoError::CiphertextTooShort {
                len: message.len(),
                min: CHANNEL_OVERHEAD_BYTES,
            });
        }
        let (counter, ct) = message.split_at(8);
        let counter = u64::from_be_bytes(counter.try_into().expect("split at 8"));
        self.window.check(counter)?;
        let pt = self
            .recv_key
            .decrypt(&Self::nonce(counter).into(), Payload { msg: ct, aad: ad })
            .map_err(|_| CryptoError::DecryptFailed)?;
        self.window.accept(counter)?;
        Ok(pt)
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("next_send", &self.next_send)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn low_order_public_keys_are_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let zero = EncPublicKey([0; 32]);
        assert_eq!(
            seal_to(&zero, b"", b"x", &mut rng),
            Err(CryptoError::WeakPublicKey)
        );
        let sk = EncSecretKey::random(&mut rng);
        let mut forged = vec![0u8; 32];
        forged.extend_from_slice(&[0u8; 20]);
        assert_eq!(
            sk.open_sealed(b"", &forged),
            Err(CryptoError::WeakPublicKey)
        );
    }

    #[test]
    fn associated_data_differs_by_every_field() {
        let base = associated_data(Purpose::State, ContractId(1), Epoch(2), Seq(3));
        assert_ne!(
            base,
            associated_data(Purpose::Sealed, ContractId(1), Epoch(2), Seq(3))
        );
        assert_ne!(
            base,
            associated_data(Purpose::State, ContractId(9), Epoch(2), Seq(3))
        );
        assert_ne!(
            base,
            associated_data(Purpose::State, ContractId(1), Epoch(9), Seq(3))
        );
        assert_ne!(
            base,
            associated_data(Purpose::State, ContractId(1), Epoch(2), Seq(9))
        );
    }

    #[test]
    fn channel_refuses_replays_and_wrong_direction() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let a = EncSecretKey::random(&mut rng);
        let b = EncSecretKey::random(&mut rng);
        let mut ab = Channel::establish(&a, &b.public(), b"ctx").unwrap();
        let mut ba = Channel::establish(&b, &a.public(), b"ctx").unwrap();
        let m0 = ab.seal(b"ad", b"hello");
        let m1 = ab.seal(b"ad", b"world");
        assert_eq!(ba.open(b"ad", &m1).unwrap(), b"world");
        assert_eq!(ba.open(b"ad", &m0).unwrap(), b"hello");
        assert!(matches!(ba.open(b"ad", &m0), Err(CryptoError::Replay(_))));
        // A message reflected back to its sender does not open: directions have their own keys.
        assert_eq!(ab.open(b"ad", &m1), Err(CryptoError::DecryptFailed));
        // A channel with another context does not open it either.
        let mut other = Channel::establish(&b, &a.public(), b"other").unwrap();
        assert_eq!(other.open(b"ad", &m1), Err(CryptoError::DecryptFailed));
        // Both directions work.
        let r = ba.seal(b"", b"back");
        assert_eq!(ab.open(b"", &r).unwrap(), b"back");
    }

    #[test]
    fn explicit_nonces_round_trip_and_bind_the_nonce() {
        let k = AeadKey::from_bytes([9; 32]);
        let ct = k.encrypt_with_nonce(&[1; 24], b"ad", b"state");
        assert_eq!(ct.len(), 5 + TAG_BYTES);
        assert_eq!(
            k.decrypt_with_nonce(&[1; 24], b"ad", &ct).unwrap(),
            b"state"
        );
        assert_eq!(
            k.decrypt_with_nonce(&[2; 24], b"ad", &ct),
            Err(CryptoError::DecryptFailed)
        );
        assert_eq!(
            k.decrypt_with_nonce(&[1; 24], b"other", &ct),
            Err(CryptoError::DecryptFailed)
        );
        // Same construction as `encrypt`: its output is the nonce followed by this.
        let mut framed = vec![1u8; 24];
        framed.extend_from_slice(&ct);
        assert_eq!(k.decrypt(b"ad", &framed).unwrap(), b"state");
    }

    #[test]
    fn debug_hides_secret_keys() {
        let k = AeadKey::from_bytes([0x5a; 32]);
        assert!(!format!("{k:?}").contains("5a"));
        let e = EncSecretKey::from_bytes([0x5a; 32]);
        assert!(!format!("{e:?}").contains("5a5a5a"));
    }
}
