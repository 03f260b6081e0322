//! An ideal, deterministic model of the TEE and its cryptography for the simulator.
//!
//! Signatures are modelled as an ideal functionality: a registry knows every identity's secret,
//! a signature is a keyed hash, and verification asks the registry, so nobody can forge a
//! signature without the secret. Sealed boxes and AEAD use a keyed keystream and tag (sha256),
//! so plaintext never appears in ciphertext and any flipped byte fails authentication. The real
//! deployment uses `pose-crypto` and `pose-tee` behind the same [`Platform`] trait; this model
//! exists so that millions of simulated messages stay fast and every run is reproducible.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use pose_enclave::{Platform, SealError};
use pose_types::{Address, Hash32};
use sha2::{Digest, Sha256};

use crate::rng::Rng;

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

/// The ideal functionality: who holds which secret.
#[derive(Default, Debug)]
pub struct Registry {
    signers: BTreeMap<Address, [u8; 32]>,
    boxes: BTreeMap<[u8; 32], [u8; 32]>,
}

/// Shared handle to the registry.
pub type SharedRegistry = Rc<RefCell<Registry>>;

/// A signing identity (a user, the vendor, or an enclave's identity key).
#[derive(Clone, Debug)]
pub struct Identity {
    secret: [u8; 32],
    /// The identity's address.
    pub address: Address,
}

impl Identity {
    /// Creates an identity from `rng` and registers it.
    pub fn new(reg: &SharedRegistry, rng: &mut Rng) -> Self {
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        let mut a = [0u8; 20];
        a.copy_from_slice(&h(&[b"addr", &secret])[..20]);
        let address = Address(a);
        reg.borrow_mut().signers.insert(address, secret);
        Self { secret, address }
    }
    /// Signs a digest (65 bytes like an Ethereum signature).
    pub fn sign(&self, digest: &Hash32) -> Vec<u8> {
        let mut s = h(&[b"sig", &self.secret, &digest.0]).to_vec();
        s.extend_from_slice(&h(&[b"sig2", &self.secret, &digest.0])[..1]);
        s.extend_from_slice(&[0u8; 32]);
        s.truncate(65);
        s
    }
}

/// Verifies an ideal signature.
pub fn verify(reg: &Registry, signer: &Address, digest: &Hash32, sig: &[u8]) -> bool {
    match reg.signers.get(signer) {
        Some(secret) => {
            let id = Identity {
                secret: *secret,
                address: *signer,
            };
            id.sign(digest) == sig
        }
        None => false,
    }
}

/// A box key pair `(secret, public)`, registered so sealing to `public` works.
pub fn box_keypair(reg: &SharedRegistry, rng: &mut Rng) -> ([u8; 32], [u8; 32]) {
    let mut sk = [0u8; 32];
    rng.fill(&mut sk);
    let pk = h(&[b"pk", &sk]);
    reg.borrow_mut().boxes.insert(pk, sk);
    (sk, pk)
}

fn keystream_xor(key: &[u8; 32], nonce: &[u8], data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let ks = h(&[b"ks", key, nonce, &(i as u64).to_be_bytes()]);
        for (b, k) in chunk.iter_mut().zip(ks.iter()) {
            *b ^= k;
        }
    }
}

/// AEAD: `ct || tag16`.
pub fn aead_seal(key: &[u8; 32], nonce: &[u8], ad: &[u8], pt: &[u8]) -> Vec<u8> {
    let mut ct = pt.to_vec();
    keystream_xor(key, nonce, &mut ct);
    let tag = h(&[
        b"tag",
        key,
        nonce,
        &(ad.len() as u64).to_be_bytes(),
        ad,
        &ct,
    ]);
    ct.extend_from_slice(&tag[..16]);
    ct
}

/// Opens [`aead_seal`] output.
pub fn aead_open(key: &[u8; 32], nonce: &[u8], ad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    if ct.len() < 16 {
        return None;
    }
    let (body, tag) = ct.split_at(ct.len() - 16);
    let want = h(&[
        b"tag",
        key,
        nonce,
        &(ad.len() as u64).to_be_bytes(),
        ad,
        body,
    ]);
    if want[..16] != *tag {
        return None;
    }
    let mut pt = body.to_vec();
    keystream_xor(key, nonce, &mut pt);
    Some(pt)
}

/// Seals to a registered box public key: `nonce24 || aead(k(sk), nonce, pk, pt)`.
pub fn box_seal(reg: &Registry, rng: &mut Rng, pk: &[u8; 32], pt: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    rng.fill(&mut nonce);
    // Unknown recipients get a box nobody can open.
    let sk = reg.boxes.get(pk).copied().unwrap_or([0xff; 32]);
    let k = h(&[b"boxkey", &sk]);
    let mut out = nonce.to_vec();
    out.extend(aead_seal(&k, &nonce, pk, pt));
    out
}

/// Opens [`box_seal`] output with the secret key.
pub fn box_open(sk: &[u8; 32], ct: &[u8]) -> Option<Vec<u8>> {
    if ct.len() < 24 {
        return None;
    }
    let pk = h(&[b"pk", sk]);
    let k = h(&[b"boxkey", sk]);
    aead_open(&k, &ct[..24], &pk, &ct[24..])
}

/// The simulated TEE hardware of one machine: survives enclave restarts.
#[derive(Debug)]
pub struct Hardware {
    /// Identity key.
    pub identity: Identity,
    enc_secret: [u8; 32],
    /// Encryption public key.
    pub enc_public: [u8; 32],
    seal_key: [u8; 32],
    /// The monotonic counter.
    pub counter: u64,
    /// The TEE's own clock, ms: the world advances it with simulated time; a host cannot set
    /// it (the enclave reads it through [`Platform::now_ms`]).
    pub clock_ms: u64,
    rng: Rng,
    registry: SharedRegistry,
}

/// Shared handle to a machine's hardware.
pub type SharedHardware = Rc<RefCell<Hardware>>;

impl Hardware {
    /// A new machine.
    pub fn new(reg: &SharedRegistry, rng: &mut Rng) -> SharedHardware {
        let identity = Identity::new(reg, rng);
        let (enc_secret, enc_public) = box_keypair(reg, rng);
        let mut seal_key = [0u8; 32];
        rng.fill(&mut seal_key);
        Rc::new(RefCell::new(Hardware {
            identity,
            enc_secret,
            enc_public,
            seal_key,
            counter: 0,
            clock_ms: 0,
            rng: rng.fork(7),
            registry: reg.clone(),
        }))
    }
}

/// The [`Platform`] an enclave sees on simulated hardware.
pub struct SimPlatform(pub SharedHardware);

impl Platform for SimPlatform {
    fn address(&self) -> Address {
        self.0.borrow().identity.address
    }
    fn enc_public_key(&self) -> [u8; 32] {
        self.0.borrow().enc_public
    }
    fn random(&mut self, out: &mut [u8]) {
        self.0.borrow_mut().rng.fill(out);
    }
    fn now_ms(&mut self) -> u64 {
        self.0.borrow().clock_ms
    }
    fn sign(&mut self, digest: &Hash32) -> Vec<u8> {
        self.0.borrow().identity.sign(digest)
    }
    fn verify(&self, signer: &Address, digest: &Hash32, sig: &[u8]) -> bool {
        let hw = self.0.borrow();
        let reg = hw.registry.borrow();
        verify(&reg, signer, digest, sig)
    }
    fn box_keypair(&mut self) -> ([u8; 32], [u8; 32]) {
        let mut hw = self.0.borrow_mut();
        let reg = hw.registry.clone();
        box_keypair(&reg, &mut hw.rng)
    }
    fn box_seal(&mut self, recipient_public: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
        let mut hw = self.0.borrow_mut();
        let reg = hw.registry.clone();
        let reg = reg.borrow();
        box_seal(&reg, &mut hw.rng, recipient_public, plaintext)
    }
    fn box_open(&self, secret: &[u8; 32], ciphertext: &[u8]) -> Option<Vec<u8>> {
        box_open(secret, ciphertext)
    }
    fn box_open_identity(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        box_open(&self.0.borrow().enc_secret, ciphertext)
    }
    fn aead_seal(&self, key: &[u8; 32], nonce: &[u8; 24], ad: &[u8], pt: &[u8]) -> Vec<u8> {
        aead_seal(key, nonce, ad, pt)
    }
    fn aead_open(&self, key: &[u8; 32], nonce: &[u8; 24], ad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
        aead_open(key, nonce, ad, ct)
    }
    fn seal(&mut self, data: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut hw = self.0.borrow_mut();
        hw.counter += 1;
        let counter = hw.counter;
        let mut nonce = [0u8; 24];
        hw.rng.fill(&mut nonce);
        let mut out = counter.to_be_bytes().to_vec();
        out.extend_from_slice(&nonce);
        out.extend(aead_seal(
            &hw.seal_key,
            &nonce,
            &counter.to_be_bytes(),
            data,
        ));
        Ok(out)
    }
    fn unseal(&mut self, blob: &[u8]) -> Result<Vec<u8>, SealError> {
        let (counter, plain) = open_blob(&self.0.borrow(), blob).ok_or(SealError::Foreign)?;
        let latest = self.0.borrow().counter;
        if counter != latest {
            return Err(SealError::RolledBack { counter, latest });
        }
        Ok(plain)
    }
    fn unseal_stale_for_bug_injection(&mut self, blob: &[u8]) -> Option<Vec<u8>> {
        open_blob(&self.0.borrow(), blob).map(|(_, p)| p)
    }
}

fn open_blob(hw: &Hardware, blob: &[u8]) -> Option<(u64, Vec<u8>)> {
    if blob.len() < 32 {
        return None;
    }
    let counter = u64::from_be_bytes(blob[..8].try_into().ok()?);
    let plain = aead_open(
        &hw.seal_key,
        &blob[8..32],
        &counter.to_be_bytes(),
        &blob[32..],
    )?;
    Some((counter, plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aead_detects_every_flip() {
        let k = [1u8; 32];
        let ct = aead_seal(&k, b"n", b"ad", b"hello world");
        assert_eq!(aead_open(&k, b"n", b"ad", &ct).unwrap(), b"hello world");
        for i in 0..ct.len() {
            let mut c = ct.clone();
            c[i] ^= 1;
            assert!(aead_open(&k, b"n", b"ad", &c).is_none());
        }
        assert!(aead_open(&k, b"n", b"other", &ct).is_none());
    }

    #[test]
    fn signatures_need_the_secret() {
        let reg: SharedRegistry = Default::default();
        let mut rng = Rng::new(1);
        let a = Identity::new(&reg, &mut rng);
        let b = Identity::new(&reg, &mut rng);
        let d = Hash32([3; 32]);
        assert!(verify(&reg.borrow(), &a.address, &d, &a.sign(&d)));
        assert!(!verify(&reg.borrow(), &a.address, &d, &b.sign(&d)));
    }
}
