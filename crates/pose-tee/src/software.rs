//! The software TEE: the enclave program runs as ordinary code, keys live in its memory, and a
//! devnet vendor key stands in for the hardware's attestation root.
//!
//! What it models, and the honest limits:
//! - **Identity.** The enclave generates its secp256k1 identity key and X25519 encryption key
//!   inside [`SoftwareTee::create`]; they leave it only sealed ([`SoftwareTee::seal_identity`]).
//!   Nothing stops the host process from reading its own memory: the software TEE protects
//!   against bugs and against honest-but-curious code paths, not against its operator.
//! - **Attestation.** `measurement = sha256("pose.measurement.v1" || program identity)`; the
//!   platform's [`Vendor`] signs the attestation digest of docs/protocol.md section 2, which the
//!   manager contract checks with `ecrecover`. Whoever holds the vendor key can attest
//!   anything: on a devnet that is the person who started it.
//! - **Sealing and rollback.** The sealing key is derived from the per-platform secret and the
//!   measurement, so only the same program on the same platform unseals. Each slot has a
//!   monotonic counter that lives with the platform secret ([`SoftwarePlatform`]); a blob opens
//!   only while its counter is the slot's latest, so the host cannot hand the enclave an older
//!   blob. In hardware the counter lives in the TEE (or a replay-protected memory); here it
//!   lives in the platform state, which the host could reset together with the platform
//!   secret, if it keeps a copy of both. The model holds only as long as the platform state
//!   is not under the host's control.
//! - **Randomness and time.** [`Randomness::Seeded`] makes every random draw a function of the
//!   seed and a [`ManualClock`] gives time under a simulator's control; [`Randomness::Os`] and
//!   [`SystemClock`] are for real operation.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use pose_crypto::aead::EncSecretKey;
use pose_crypto::hash::sha256_concat;
use pose_crypto::onchain::{attestation_digest, Domain};
use pose_crypto::{AeadKey, Channel, SigningKey};
use pose_types::{
    Address, BoundedBytes, Decode, DecodeError, EncPublicKey, Encode, Hash32, Reader,
    SignatureBytes,
};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zeroize::Zeroizing;

use crate::attestation::{verify_vendor_attestation, Attestation, AttestationVerified};
use crate::{Tee, TeeError};

/// Longest sealing slot name, in bytes.
pub const SLOT_NAME_BYTES_MAX: usize = 64;
/// Most sealing slots (monotonic counters) one platform keeps.
pub const SLOTS_PER_PLATFORM_MAX: usize = 1024;
/// Largest sealed ciphertext.
pub const SEALED_CIPHERTEXT_BYTES_MAX: usize = 32 * 1024 * 1024;
/// The slot that [`SoftwareTee::seal_identity`] uses.
pub const IDENTITY_SLOT: &str = "pose.identity";

const SEALED_BLOB_VERSION: u8 = 1;
const MEASUREMENT_TAG: &[u8] = b"pose.measurement.v1";

/// The measurement of a program: `sha256("pose.measurement.v1" || program identity)`.
pub fn measurement_of(program_identity: &[u8]) -> Hash32 {
    sha256_concat(&[MEASUREMENT_TAG, program_identity])
}

/// The devnet vendor: the key whose signature makes an attestation genuine. The manager
/// contract stores its address. `Debug` shows only the address.
#[derive(Clone)]
pub struct Vendor {
    key: SigningKey,
}

impl Vendor {
    /// A vendor with this key.
    pub fn new(key: SigningKey) -> Self {
        Self { key }
    }

    /// The vendor's address (what the manager contract trusts).
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Issues an attestation for an enclave.
    pub fn issue(
        &self,
        domain: &Domain,
        measurement: &Hash32,
        enclave: &Address,
        enc_pubkey: &EncPublicKey,
    ) -> Attestation {
        let digest = attestation_digest(domain, measurement, enclave, enc_pubkey);
        Attestation {
            measurement: *measurement,
            enclave: *enclave,
            enc_pubkey: *enc_pubkey,
            chain_id: domain.chain_id,
            manager: domain.manager,
            vendor_signature: self.key.sign_digest(&digest),
        }
    }
}

impl fmt::Debug for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vendor")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

struct PlatformState {
    secret: Zeroizing<[u8; 32]>,
    vendor: Vendor,
    /// Latest counter per (measurement, slot).
    counters: BTreeMap<(Hash32, String), u64>,
}

/// One machine's TEE platform: its secret, its vendor, and its monotonic counters. Clones
/// share the same state, so enclaves started one after another on the same platform (a
/// restart) see the same counters.
#[derive(Clone)]
pub struct SoftwarePlatform {
    inner: Arc<Mutex<PlatformState>>,
}

impl SoftwarePlatform {
    /// A platform with this secret and vendor and no counters.
    pub fn new(secret: [u8; 32], vendor: Vendor) -> Self {
        Self {
            inner: Arc::new(Mutex::new(PlatformState {
                secret: Zeroizing::new(secret),
                vendor,
                counters: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PlatformState> {
        // A panic while holding the lock cannot leave the map half-updated (each update is
        // one insert), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The address of the platform's vendor.
    pub fn vendor_address(&self) -> Address {
        self.lock().vendor.address()
    }

    /// The latest counter of `slot` for `measurement` (0 if never sealed).
    pub fn counter(&self, measurement: &Hash32, slot: &str) -> u64 {
        self.lock()
            .counters
            .get(&(*measurement, slot.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// The platform state (secret, vendor key, counters) for the platform's own storage. In
    /// hardware this never leaves the chip; see the module documentation for what storing it
    /// on the host means.
    pub fn export_state(&self) -> Zeroizing<Vec<u8>> {
        let st = self.lock();
        let mut out = Vec::new();
        st.secret.encode_to(&mut out);
        st.vendor.key.to_bytes().encode_to(&mut out);
        (st.counters.len() as u32).encode_to(&mut out);
        for ((m, slot), c) in &st.counters {
            m.encode_to(&mut out);
            BoundedBytes::<SLOT_NAME_BYTES_MAX>::new(slot.as_bytes().to_vec())
                .expect("slot names are checked when created")
                .encode_to(&mut out);
            c.encode_to(&mut out);
        }
        Zeroizing::new(out)
    }

    /// Restores a platform from [`SoftwarePlatform::export_state`].
    pub fn import_state(bytes: &[u8]) -> Result<Self, TeeError> {
        let bad = |e: DecodeError| TeeError::SealedMalformed(format!("platform state: {e}"));
        let mut r = Reader::new(bytes);
        let secret = Zeroizing::new(<[u8; 32]>::decode_from(&mut r).map_err(bad)?);
        let vendor_key = Zeroizing::new(<[u8; 32]>::decode_from(&mut r).map_err(bad)?);
        let vendor = Vendor::new(SigningKey::from_bytes(&vendor_key)?);
        let n = r
            .length_prefix("platform counters", SLOTS_PER_PLATFORM_MAX, 32 + 4 + 8)
            .map_err(bad)?;
        let mut counters = BTreeMap::new();
        for _ in 0..n {
            let m = Hash32::decode_from(&mut r).map_err(bad)?;
            let slot = BoundedBytes::<SLOT_NAME_BYTES_MAX>::decode_from(&mut r).map_err(bad)?;
            let slot = String::from_utf8(slot.into_vec()).map_err(|_| {
                TeeError::SealedMalformed("platform state: slot is not UTF-8".into())
            })?;
            let c = u64::decode_from(&mut r).map_err(bad)?;
            counters.insert((m, slot), c);
        }
        r.finish().map_err(bad)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(PlatformState {
                secret,
                vendor,
                counters,
            })),
        })
    }
}

impl fmt::Debug for SoftwarePlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("SoftwarePlatform")
            .field("vendor", &st.vendor)
            .field("slots", &st.counters.len())
            .finish_non_exhaustive()
    }
}

/// A source of milliseconds for [`Tee::monotonic_now_ms`].
pub trait Clock: Send {
    /// Milliseconds since an arbitrary origin.
    fn now_ms(&self) -> u64;
}

/// The machine's monotonic clock, in milliseconds since the clock was made.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock starting at 0 now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock a simulator sets by hand; clones share the same time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock at `ms`.
    pub fn new(ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(ms)))
    }
    /// Sets the time (it may go backwards: the TEE still never reports time going back).
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where a software TEE's randomness comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Randomness {
    /// The operating system's generator.
    Os,
    /// A ChaCha20 generator seeded with these bytes: every key, nonce and random value the
    /// TEE produces is a function of the seed (for the simulator).
    Seeded([u8; 32]),
}

impl fmt::Debug for Randomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Randomness::Os => f.write_str("Os"),
            Randomness::Seeded(_) => f.write_str("Seeded(..)"),
        }
    }
}

enum EnclaveRng {
    Os,
    Seeded(Box<ChaCha20Rng>),
}

impl EnclaveRng {
    fn new(r: Randomness) -> Self {
        match r {
            Randomness::Os => EnclaveRng::Os,
            Randomness::Seeded(seed) => EnclaveRng::Seeded(Box::new(ChaCha20Rng::from_seed(seed))),
        }
    }
}

impl RngCore for EnclaveRng {
    fn next_u32(&mut self) -> u32 {
        match self {
            EnclaveRng::Os => pose_crypto::OsRng.next_u32(),
            EnclaveRng::Seeded(r) => r.next_u32(),
        }
    }
    fn next_u64(&mut self) -> u64 {
        match self {
            EnclaveRng::Os => pose_crypto::OsRng.next_u64(),
            EnclaveRng::Seeded(r) => r.next_u64(),
        }
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        match self {
            EnclaveRng::Os => pose_crypto::OsRng.fill_bytes(dest),
            EnclaveRng::Seeded(r) => r.fill_bytes(dest),
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for EnclaveRng {}

/// A sealed blob: `version (1) || slot (u32 length + UTF-8) || counter (8) || ciphertext
/// (u32 length + bytes)`. The ciphertext's associated data binds measurement, slot and
/// counter.
struct SealedBlob {
    slot: BoundedBytes<SLOT_NAME_BYTES_MAX>,
    counter: u64,
    ciphertext: BoundedBytes<SEALED_CIPHERTEXT_BYTES_MAX>,
}

impl Encode for SealedBlob {
    fn encode_to(&self, out: &mut Vec<u8>) {
        SEALED_BLOB_VERSION.encode_to(out);
        self.slot.encode_to(out);
        self.counter.encode_to(out);
        self.ciphertext.encode_to(out);
    }
}

impl Decode for SealedBlob {
    const MIN_ENCODED_BYTES: usize = 1 + 4 + 8 + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = u8::decode_from(r)?;
        if version != SEALED_BLOB_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                got: version,
                supported: SEALED_BLOB_VERSION,
            });
        }
        Ok(Self {
            slot: Decode::decode_from(r)?,
            counter: Decode::decode_from(r)?,
            ciphertext: Decode::decode_from(r)?,
        })
    }
}

fn sealed_ad(measurement: &Hash32, slot: &str, counter: u64) -> Vec<u8> {
    let mut ad = b"pose.sealed.v1".to_vec();
    ad.extend_from_slice(&measurement.0);
    ad.extend_from_slice(&(slot.len() as u32).to_be_bytes());
    ad.extend_from_slice(slot.as_bytes());
    ad.extend_from_slice(&counter.to_be_bytes());
    ad
}

/// The software TEE backend. See the module documentation for what it protects.
pub struct SoftwareTee {
    platform: SoftwarePlatform,
    measurement: Hash32,
    identity: SigningKey,
    enc: EncSecretKey,
    rng: EnclaveRng,
    clock: Box<dyn Clock>,
    last_now_ms: u64,
}

impl SoftwareTee {
    /// Starts a fresh enclave running `program_identity` on `platform`; it generates its
    /// identity and encryption keys from `randomness`.
    pub fn create(
        platform: SoftwarePlatform,
        program_identity: &[u8],
        randomness: Randomness,
        clock: impl Clock + 'static,
    ) -> Self {
        let mut rng = EnclaveRng::new(randomness);
        let identity = SigningKey::random(&mut rng);
        let enc = EncSecretKey::random(&mut rng);
        Self {
            platform,
            measurement: measurement_of(program_identity),
            identity,
            enc,
            rng,
            clock: Box::new(clock),
            last_now_ms: 0,
        }
    }

    /// Restarts an enclave from the blob of its latest [`SoftwareTee::seal_identity`]: same
    /// program, same platform, same keys. Refuses a blob of another program or platform, or
    /// an older identity blob.
    pub fn resume(
        platform: SoftwarePlatform,
        program_identity: &[u8],
        sealed_identity: &[u8],
        randomness: Randomness,
        clock: impl Clock + 'static,
    ) -> Result<Self, TeeError> {
        let mut tee = Self::create(platform, program_identity, randomness, clock);
        let keys = Zeroizing::new(tee.unseal(IDENTITY_SLOT, sealed_identity)?);
        if keys.len() != 64 {
            return Err(TeeError::SealedMalformed(format!(
                "identity blob holds {} bytes, expected 64",
                keys.len()
            )));
        }
        let mut id = Zeroizing::new([0u8; 32]);
        id.copy_from_slice(&keys[..32]);
        let mut enc = Zeroizing::new([0u8; 32]);
        enc.copy_from_slice(&keys[32..]);
        tee.identity = SigningKey::from_bytes(&id)?;
        tee.enc = EncSecretKey::from_bytes(*enc);
        Ok(tee)
    }

    /// Seals the enclave's keys for [`SoftwareTee::resume`] (slot [`IDENTITY_SLOT`]).
    pub fn seal_identity(&mut self) -> Result<Vec<u8>, TeeError> {
        let mut keys = Zeroizing::new(Vec::with_capacity(64));
        keys.extend_from_slice(self.identity.to_bytes().as_ref());
        keys.extend_from_slice(self.enc.to_bytes().as_ref());
        self.seal(IDENTITY_SLOT, &keys)
    }

    /// The platform this enclave runs on.
    pub fn platform(&self) -> &SoftwarePlatform {
        &self.platform
    }

    fn sealing_key(&self) -> AeadKey {
        let st = self.platform.lock();
        let mut info = b"pose.seal-key.v1".to_vec();
        info.extend_from_slice(&self.measurement.0);
        AeadKey::derive(st.secret.as_ref(), &info)
    }

    fn check_slot(slot: &str) -> Result<(), TeeError> {
        if slot.len() > SLOT_NAME_BYTES_MAX {
            return Err(TeeError::SlotRefused(format!(
                "slot name of {} bytes exceeds {SLOT_NAME_BYTES_MAX}",
                slot.len()
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for SoftwareTee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareTee")
            .field("measurement", &self.measurement)
            .field("address", &self.identity.address())
            .field("enc_public_key", &self.enc.public())
            .finish_non_exhaustive()
    }
}

impl Tee for SoftwareTee {
    fn measurement(&self) -> Hash32 {
        self.measurement
    }

    fn address(&self) -> Address {
        self.identity.address()
    }

    fn enc_public_key(&self) -> EncPublicKey {
        self.enc.public()
    }

    fn attest(&self, domain: &Domain) -> Result<Attestation, TeeError> {
        let st = self.platform.lock();
        Ok(st.vendor.issue(
            domain,
            &self.measurement,
            &self.identity.address(),
            &self.enc.public(),
        ))
    }

    fn verify_attestation(
        &self,
        att: &Attestation,
        expected_chain_id: u64,
        expected_manager: &Address,
        allowed_measurements: &[Hash32],
    ) -> Result<AttestationVerified, TeeError> {
        verify_vendor_attestation(
            att,
            &self.platform.vendor_address(),
            expected_chain_id,
            expected_manager,
            allowed_measurements,
        )
    }

    fn sign_digest(&self, digest: &Hash32) -> SignatureBytes {
        self.identity.sign_digest(digest)
    }

    fn open_sealed_box(&self, ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, TeeError> {
        Ok(self.enc.open_sealed(ad, sealed)?)
    }

    fn channel(&self, peer: &AttestationVerified, context: &[u8]) -> Result<Channel, TeeError> {
        Ok(Channel::establish(&self.enc, &peer.enc_pubkey(), context)?)
    }

    fn seal(&mut self, slot: &str, data: &[u8]) -> Result<Vec<u8>, TeeError> {
        Self::check_slot(slot)?;
        if data.len() + pose_crypto::aead::AEAD_OVERHEAD_BYTES > SEALED_CIPHERTEXT_BYTES_MAX {
            return Err(TeeError::SlotRefused(format!(
                "{} bytes exceed the sealing maximum",
                data.len()
            )));
        }
        let key = self.sealing_key();
        let counter = {
            let mut st = self.platform.lock();
            let k = (self.measurement, slot.to_string());
            if !st.counters.contains_key(&k) && st.counters.len() >= SLOTS_PER_PLATFORM_MAX {
                return Err(TeeError::SlotRefused(format!(
                    "the platform has no counter left ({SLOTS_PER_PLATFORM_MAX} in use)"
                )));
            }
            let c = st.counters.entry(k).or_insert(0);
            *c = c.checked_add(1).ok_or_else(|| {
                TeeError::SlotRefused("the slot's counter is exhausted".to_string())
            })?;
            *c
        };
        let ct = key.encrypt(
            &sealed_ad(&self.measurement, slot, counter),
            data,
            &mut self.rng,
        );
        let blob = SealedBlob {
            slot: BoundedBytes::new(slot.as_bytes().to_vec()).expect("checked above"),
            counter,
            ciphertext: BoundedBytes::new(ct).expect("checked above"),
        };
        Ok(blob.to_bytes())
    }

    fn unseal(&self, slot: &str, blob: &[u8]) -> Result<Vec<u8>, TeeError> {
        Self::check_slot(slot)?;
        let b =
            SealedBlob::from_bytes(blob).map_err(|e| TeeError::SealedMalformed(e.to_string()))?;
        if b.slot.as_slice() != slot.as_bytes() {
            return Err(TeeError::SealedMalformed(format!(
                "blob is for slot `{}`, not `{slot}`",
                String::from_utf8_lossy(b.slot.as_slice())
            )));
        }
        let data = self
            .sealing_key()
            .decrypt(
                &sealed_ad(&self.measurement, slot, b.counter),
                b.ciphertext.as_slice(),
            )
            .map_err(|_| TeeError::SealedForeign)?;
        let latest = self.platform.counter(&self.measurement, slot);
        if b.counter != latest {
            // A genuine blob whose counter is not the latest: older means a rollback; newer
            // means the platform's counters were reset, which is a rollback of the platform.
            return Err(TeeError::SealedRolledBack {
                slot: slot.to_string(),
                counter: b.counter,
                latest,
            });
        }
        Ok(data)
    }

    fn counter_read(&self, slot: &str) -> u64 {
        self.platform.counter(&self.measurement, slot)
    }

    fn random_bytes(&mut self, out: &mut [u8]) {
        self.rng.fill_bytes(out);
    }

    fn monotonic_now_ms(&mut self) -> u64 {
        self.last_now_ms = self.last_now_ms.max(self.clock.now_ms());
        self.last_now_ms
    }
}
