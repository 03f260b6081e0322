//! The confidential-VM backend: the enclave program runs inside an Intel TDX or AMD SEV-SNP
//! guest, and its hardware evidence comes from the guest kernel's configfs-tsm interface.
//!
//! What it does, and what it does not (docs/protocol.md section 4.2):
//! - **Keys.** [`CvmTee::create`] generates the secp256k1 identity key and the X25519
//!   encryption key inside the guest. They never leave it: there is no `seal_identity` and no
//!   `resume`.
//! - **Evidence.** [`CvmTee::quote`] puts the report data of [`crate::verify::binding`]
//!   (enclave address and encryption key bound to one chain and manager) into a configfs-tsm
//!   report and returns the hardware's quote (TDX) or attestation report (SEV-SNP), which
//!   [`crate::verify`] checks. The backend itself checks that the report it got carries the
//!   report data it wrote and that no other writer used the same report entry in between.
//! - **No vendor-signed attestation.** [`Tee::attest`] fails with
//!   [`TeeError::AttestationUnavailable`]: a confidential VM has no devnet vendor key, and the
//!   manager contract does not admit hardware evidence yet. Peers' (vendor-signed) attestations
//!   are checked by [`Tee::verify_attestation`] against the vendor address the manager trusts,
//!   given at creation.
//! - **Sealing and rollback.** TDX gives a guest no sealing key; SEV-SNP's derived key would
//!   survive a restart, but neither gives a monotonic counter the host cannot reset, and a blob
//!   on the host's disk can always be swapped for an older one. This backend therefore seals
//!   only for the life of one run: the sealing key and a run id are drawn at start and kept in
//!   memory, and the counters live in memory. A blob opens only in the run that sealed it and
//!   only while it is its slot's latest; a blob of an earlier run is refused with
//!   [`TeeError::SealedFromEarlierRun`]. A restarted confidential-VM enclave trusts none of its
//!   old state: it comes back with new keys, registers as a fresh enclave and is brought up to
//!   date by its pool. (Sealing to a derived or provisioned key would survive a restart but not
//!   a rollback.)
//! - **Randomness and time** as in the software TEE ([`Randomness`], [`Clock`]).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use pose_crypto::aead::EncSecretKey;
use pose_crypto::onchain::Domain;
use pose_crypto::{AeadKey, Channel, SigningKey};
use pose_types::{
    Address, BoundedBytes, Decode, DecodeError, EncPublicKey, Encode, Hash32, Reader,
    SignatureBytes,
};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::attestation::{verify_vendor_attestation, Attestation, AttestationVerified};
use crate::software::{
    measurement_of, Clock, Randomness, SEALED_CIPHERTEXT_BYTES_MAX, SLOTS_PER_PLATFORM_MAX,
    SLOT_NAME_BYTES_MAX,
};
use crate::verify::binding::expected_report_data;
use crate::{Tee, TeeError};

/// Where the Linux kernel offers configfs-tsm reports (configfs mounted at its usual place).
pub const TSM_REPORT_ROOT: &str = "/sys/kernel/config/tsm/report";
/// Bytes of report data a configfs-tsm report binds (`inblob`).
pub const REPORT_DATA_BYTES: usize = 64;
/// Largest `outblob` read: a TDX quote with its certification data is a few KiB, an SEV-SNP
/// report 1184 bytes.
pub const OUTBLOB_BYTES_MAX: usize = 64 * 1024;
/// How many times [`ConfigfsTsm::report`] asks again after another writer raced it.
pub const RACE_RETRIES: u32 = 3;
/// How many taken entry names [`ConfigfsTsm::open`] skips before it gives up.
const ENTRY_NAME_TRIES: u32 = 16;

/// An SEV-SNP attestation report's size, and where its `REPORT_DATA` lies.
const SNP_REPORT_BYTES: usize = 0x4a0;
const SNP_REPORT_DATA_AT: usize = 0x50;
/// A DCAP quote's header size; TDX's tee type; where `REPORT_DATA` lies in a TD report; a
/// TD report 1.0's size.
const QUOTE_HEADER_BYTES: usize = 48;
const TDX_TEE_TYPE: u32 = 0x81;
const TD_REPORT_DATA_AT: usize = 520;
const TD_REPORT10_BYTES: usize = 584;

/// The format of a configfs-tsm `outblob`, named by the entry's `provider` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// `tdx_guest`: an Intel TDX DCAP quote (version 4 or 5), checked by
    /// [`crate::verify::dcap::verify_dcap`].
    TdxGuest,
    /// `sev_guest`: an AMD SEV-SNP attestation report, checked by
    /// [`crate::verify::snp::verify_snp`].
    SevGuest,
}

impl Provider {
    /// The provider for a `provider` attribute's value; others are refused.
    pub fn from_name(name: &str) -> Result<Self, TsmError> {
        match name {
            "tdx_guest" => Ok(Provider::TdxGuest),
            "sev_guest" => Ok(Provider::SevGuest),
            other => Err(TsmError::UnsupportedProvider(other.to_string())),
        }
    }

    /// The provider's name as configfs-tsm gives it.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::TdxGuest => "tdx_guest",
            Provider::SevGuest => "sev_guest",
        }
    }

    /// The report data inside an `outblob` of this provider.
    pub fn report_data(&self, outblob: &[u8]) -> Result<[u8; REPORT_DATA_BYTES], TsmError> {
        let bad = |reason: String| TsmError::OutblobMalformed {
            provider: *self,
            reason,
        };
        let at = match self {
            Provider::SevGuest => {
                if outblob.len() != SNP_REPORT_BYTES {
                    return Err(bad(format!(
                        "{} bytes, an attestation report has {SNP_REPORT_BYTES}",
                        outblob.len()
                    )));
                }
                SNP_REPORT_DATA_AT
            }
            Provider::TdxGuest => {
                let u16_at = |i: usize| {
                    outblob
                        .get(i..i + 2)
                        .map(|b| u16::from_le_bytes([b[0], b[1]]))
                };
                let u32_at = |i: usize| {
                    outblob
                        .get(i..i + 4)
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                };
                let version = u16_at(0).ok_or_else(|| bad("shorter than a quote header".into()))?;
                let tee_type =
                    u32_at(4).ok_or_else(|| bad("shorter than a quote header".into()))?;
                if tee_type != TDX_TEE_TYPE {
                    return Err(bad(format!("tee type {tee_type:#x} is not TDX (0x81)")));
                }
                let (body_at, body_len) = match version {
                    4 => (QUOTE_HEADER_BYTES, TD_REPORT10_BYTES),
                    5 => {
                        let size = u32_at(QUOTE_HEADER_BYTES + 2)
                            .ok_or_else(|| bad("no body descriptor".into()))?;
                        (QUOTE_HEADER_BYTES + 6, size as usize)
                    }
                    v => return Err(bad(format!("quote version {v}, expected 4 or 5"))),
                };
                let fits = body_at
                    .checked_add(body_len)
                    .is_some_and(|end| end <= outblob.len());
                if body_len < TD_REPORT10_BYTES || !fits {
                    return Err(bad(format!(
                        "TD report of {body_len} bytes at {body_at} does not fit {} bytes",
                        outblob.len()
                    )));
                }
                body_at + TD_REPORT_DATA_AT
            }
        };
        let mut out = [0u8; REPORT_DATA_BYTES];
        out.copy_from_slice(&outblob[at..at + REPORT_DATA_BYTES]);
        Ok(out)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a configfs-tsm report could not be had, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsmError {
    /// A file operation on the report tree failed.
    #[error("configfs-tsm: {op} {path} failed ({kind}: {message}); check that the guest kernel offers configfs-tsm reports (TDX or SEV-SNP guest driver loaded, configfs mounted) and that this process may create directories under the report root")]
    Io {
        /// The operation (`mkdir`, `write`, `read`).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error's kind.
        kind: io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
    /// The `generation` attribute is not a decimal number.
    #[error("configfs-tsm: {path} holds {content:?}, not a generation number; the report root is not a configfs-tsm report directory")]
    BadGeneration {
        /// The `generation` file.
        path: PathBuf,
        /// What it held (cut to 32 bytes).
        content: String,
    },
    /// The entry was written to by someone else between our write and our read (or our write
    /// did not take): the `outblob` may hold their report data.
    #[error("configfs-tsm: generation went from {before} to {after}, expected {expected}: another writer used the report entry (or the write of the report data did not take); ask again")]
    GenerationChanged {
        /// Before our write.
        before: u64,
        /// The generation our single write should give.
        expected: u64,
        /// After reading the report.
        after: u64,
    },
    /// The entry's provider is neither `tdx_guest` nor `sev_guest`.
    #[error("configfs-tsm provider `{0}` is not supported (only tdx_guest and sev_guest): run the node in a TDX or SEV-SNP guest")]
    UnsupportedProvider(String),
    /// An attribute holds more than any report or value of it has.
    #[error("configfs-tsm: {path} holds more than {max} bytes, more than any report has; the report root is not a configfs-tsm report directory")]
    TooLarge {
        /// The attribute file.
        path: PathBuf,
        /// The most this backend reads from it.
        max: usize,
    },
    /// The `outblob` does not parse as the provider's format.
    #[error("configfs-tsm {provider} outblob is malformed: {reason}")]
    OutblobMalformed {
        /// The provider.
        provider: Provider,
        /// What did not parse.
        reason: String,
    },
    /// The report carries other report data than the one written: it is not our report.
    #[error("configfs-tsm {provider} report carries report data {found_hex}, not the one written; another writer raced us, or the kernel returned a stale report: ask again", found_hex = hex_of(found))]
    ReportDataMismatch {
        /// The provider.
        provider: Provider,
        /// The report data in the `outblob`.
        found: Vec<u8>,
    },
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TsmError + 'a {
    move |e| TsmError::Io {
        op,
        path: path.to_path_buf(),
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// A hardware quote or report from configfs-tsm, with the report data it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsmQuote {
    /// Which format `evidence` is in.
    pub provider: Provider,
    /// The entry's generation after the report was read.
    pub generation: u64,
    /// The report data the evidence carries (what was written).
    pub report_data: [u8; REPORT_DATA_BYTES],
    /// The `outblob`: a TDX quote or an SEV-SNP attestation report, as the kernel gave it.
    pub evidence: Vec<u8>,
    /// The `auxblob` when the kernel gives one (SEV-SNP: the certificate table the host
    /// supplies, with the VCEK), as the kernel gave it; `None` when absent or empty.
    pub aux: Option<Vec<u8>>,
}

/// The configfs-tsm report interface under a root directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigfsTsm {
    root: PathBuf,
}

static ENTRY_SEQ: AtomicU64 = AtomicU64::new(0);

impl ConfigfsTsm {
    /// The kernel's report root, [`TSM_REPORT_ROOT`].
    pub fn kernel() -> Self {
        Self::new(TSM_REPORT_ROOT)
    }

    /// The report interface under `root` (a test gives a directory standing in for configfs).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The report root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a fresh report entry (`mkdir`), one per request, so no other requester of this
    /// process shares it. The entry is removed (`rmdir`) when dropped.
    pub fn open(&self) -> Result<TsmEntry, TsmError> {
        let mut attempt = 0;
        loop {
            let n = ENTRY_SEQ.fetch_add(1, Ordering::Relaxed);
            let path = self.root.join(format!("pose-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TsmEntry { path }),
                // Left behind by an earlier process with the same id: take the next name.
                Err(e)
                    if e.kind() == io::ErrorKind::AlreadyExists && attempt < ENTRY_NAME_TRIES =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(io_err("mkdir", &path)(e)),
            }
        }
    }

    /// A report binding `report_data`: creates an entry, writes the report data, reads the
    /// report, checks that the entry's generation moved by exactly our write and that the
    /// report carries our report data, and removes the entry. A request another writer raced
    /// is asked again, up to [`RACE_RETRIES`] times.
    pub fn report(&self, report_data: &[u8; REPORT_DATA_BYTES]) -> Result<TsmQuote, TsmError> {
        retry_races(|| self.open()?.write_inblob(report_data)?.collect())
    }
}

/// Runs `attempt` again (up to [`RACE_RETRIES`] more times) while it fails because another
/// writer raced it; any other outcome is returned at once.
fn retry_races(
    mut attempt: impl FnMut() -> Result<TsmQuote, TsmError>,
) -> Result<TsmQuote, TsmError> {
    let mut retries = 0;
    loop {
        match attempt() {
            Err(TsmError::GenerationChanged { .. } | TsmError::ReportDataMismatch { .. })
                if retries < RACE_RETRIES =>
            {
                retries += 1;
            }
            other => return other,
        }
    }
}

/// One configfs-tsm report entry (a directory under the root); removed when dropped.
#[derive(Debug)]
pub struct TsmEntry {
    path: PathBuf,
}

impl TsmEntry {
    /// The entry's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry's `generation`: how many writes it has seen.
    pub fn generation(&self) -> Result<u64, TsmError> {
        let path = self.path.join("generation");
        let text = read_bounded(&path, 64)?;
        let text = String::from_utf8_lossy(&text);
        text.trim().parse().map_err(|_| TsmError::BadGeneration {
            content: text.chars().take(32).collect(),
            path,
        })
    }

    /// The entry's `provider` (the `outblob`'s format).
    pub fn provider(&self) -> Result<Provider, TsmError> {
        let text = read_bounded(&self.path.join("provider"), 64)?;
        Provider::from_name(String::from_utf8_lossy(&text).trim())
    }

    /// Reads the generation, then writes `report_data` to `inblob` in one write.
    pub fn write_inblob(
        self,
        report_data: &[u8; REPORT_DATA_BYTES],
    ) -> Result<PendingReport, TsmError> {
        let before = self.generation()?;
        let path = self.path.join("inblob");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        f.write_all(report_data).map_err(io_err("write", &path))?;
        drop(f);
        Ok(PendingReport {
            entry: self,
            before,
            report_data: *report_data,
        })
    }
}

impl Drop for TsmEntry {
    fn drop(&mut self) {
        // On configfs, rmdir removes the entry with its attributes. It fails only if the
        // directory is already gone or is not a configfs entry; nothing to do then.
        let _ = fs::remove_dir(&self.path);
    }
}

/// An entry whose report data is written and whose report is not read yet.
#[derive(Debug)]
pub struct PendingReport {
    entry: TsmEntry,
    before: u64,
    report_data: [u8; REPORT_DATA_BYTES],
}

impl PendingReport {
    /// The entry's directory.
    pub fn path(&self) -> &Path {
        self.entry.path()
    }

    /// Reads `outblob`, `auxblob` (if any) and `provider`, then the generation; refuses the report if the
    /// generation did not move by exactly our one write, or if the report does not carry the
    /// report data written.
    pub fn collect(self) -> Result<TsmQuote, TsmError> {
        let outblob_path = self.entry.path.join("outblob");
        let evidence = read_bounded(&outblob_path, OUTBLOB_BYTES_MAX)?;
        let aux = match read_bounded(&self.entry.path.join("auxblob"), OUTBLOB_BYTES_MAX) {
            Ok(aux) if !aux.is_empty() => Some(aux),
            Ok(_)
            | Err(TsmError::Io {
                kind: io::ErrorKind::NotFound,
                ..
            }) => None,
            Err(e) => return Err(e),
        };
        let provider = self.entry.provider()?;
        let after = self.entry.generation()?;
        let expected = self.before.saturating_add(1);
        if after != expected {
            return Err(TsmError::GenerationChanged {
                before: self.before,
                expected,
                after,
            });
        }
        let report_data = provider.report_data(&evidence)?;
        if report_data != self.report_data {
            return Err(TsmError::ReportDataMismatch {
                provider,
                found: report_data.to_vec(),
            });
        }
        Ok(TsmQuote {
            provider,
            generation: after,
            report_data,
            evidence,
            aux,
        })
    }
}

/// Reads at most `max` bytes of `path`; more is an error.
fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, TsmError> {
    let f = fs::File::open(path).map_err(io_err("open", path))?;
    let mut out = Vec::new();
    f.take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(io_err("read", path))?;
    if out.len() > max {
        return Err(TsmError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(out)
}

enum CvmRng {
    Os,
    Seeded(Box<ChaCha20Rng>),
}

impl RngCore for CvmRng {
    fn next_u32(&mut self) -> u32 {
        match self {
            CvmRng::Os => pose_crypto::OsRng.next_u32(),
            CvmRng::Seeded(r) => r.next_u32(),
        }
    }
    fn next_u64(&mut self) -> u64 {
        match self {
            CvmRng::Os => pose_crypto::OsRng.next_u64(),
            CvmRng::Seeded(r) => r.next_u64(),
        }
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        match self {
            CvmRng::Os => pose_crypto::OsRng.fill_bytes(dest),
            CvmRng::Seeded(r) => r.fill_bytes(dest),
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for CvmRng {}

const CVM_SEALED_VERSION: u8 = 1;

/// A run-bound sealed blob: `version (1) || run id (32) || slot (u32 length + UTF-8) ||
/// counter (8) || ciphertext (u32 length + bytes)`. The ciphertext's associated data binds
/// measurement, run id, slot and counter.
struct RunSealedBlob {
    run: [u8; 32],
    slot: BoundedBytes<SLOT_NAME_BYTES_MAX>,
    counter: u64,
    ciphertext: BoundedBytes<SEALED_CIPHERTEXT_BYTES_MAX>,
}

impl Encode for RunSealedBlob {
    fn encode_to(&self, out: &mut Vec<u8>) {
        CVM_SEALED_VERSION.encode_to(out);
        self.run.encode_to(out);
        self.slot.encode_to(out);
        self.counter.encode_to(out);
        self.ciphertext.encode_to(out);
    }
}

impl Decode for RunSealedBlob {
    const MIN_ENCODED_BYTES: usize = 1 + 32 + 4 + 8 + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = u8::decode_from(r)?;
        if version != CVM_SEALED_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                got: version,
                supported: CVM_SEALED_VERSION,
            });
        }
        Ok(Self {
            run: Decode::decode_from(r)?,
            slot: Decode::decode_from(r)?,
            counter: Decode::decode_from(r)?,
            ciphertext: Decode::decode_from(r)?,
        })
    }
}

fn run_sealed_ad(measurement: &Hash32, run: &[u8; 32], slot: &str, counter: u64) -> Vec<u8> {
    let mut ad = b"pose.cvm-sealed.v1".to_vec();
    ad.extend_from_slice(&measurement.0);
    ad.extend_from_slice(run);
    ad.extend_from_slice(&(slot.len() as u32).to_be_bytes());
    ad.extend_from_slice(slot.as_bytes());
    ad.extend_from_slice(&counter.to_be_bytes());
    ad
}

/// The confidential-VM backend. See the module documentation for what it does.
pub struct CvmTee {
    tsm: ConfigfsTsm,
    measurement: Hash32,
    trusted_vendor: Address,
    identity: SigningKey,
    enc: EncSecretKey,
    run: [u8; 32],
    sealing_key: AeadKey,
    counters: BTreeMap<String, u64>,
    rng: CvmRng,
    clock: Box<dyn Clock>,
    last_now_ms: u64,
}

impl CvmTee {
    /// Starts a fresh enclave running `program_identity` in this guest: draws its identity
    /// and encryption keys, its run's sealing key and run id from `randomness`. Reports come
    /// from `tsm`; peers' attestations are checked against `trusted_vendor`, the vendor address
    /// the manager contract trusts.
    pub fn create(
        tsm: ConfigfsTsm,
        program_identity: &[u8],
        trusted_vendor: Address,
        randomness: Randomness,
        clock: impl Clock + 'static,
    ) -> Self {
        let mut rng = match randomness {
            Randomness::Os => CvmRng::Os,
            Randomness::Seeded(seed) => CvmRng::Seeded(Box::new(ChaCha20Rng::from_seed(seed))),
        };
        let identity = SigningKey::random(&mut rng);
        let enc = EncSecretKey::random(&mut rng);
        let sealing_key = AeadKey::random(&mut rng);
        let mut run = [0u8; 32];
        rng.fill_bytes(&mut run);
        Self {
            tsm,
            measurement: measurement_of(program_identity),
            trusted_vendor,
            identity,
            enc,
            run,
            sealing_key,
            counters: BTreeMap::new(),
            rng,
            clock: Box::new(clock),
            last_now_ms: 0,
        }
    }

    /// The report data this enclave's evidence carries for `domain`
    /// ([`crate::verify::expected_report_data`] of its address and encryption key).
    pub fn report_data(&self, domain: &Domain) -> [u8; REPORT_DATA_BYTES] {
        expected_report_data(domain, &self.identity.address(), &self.enc.public())
    }

    /// The hardware evidence binding this enclave's keys to `domain`: a TDX quote or an
    /// SEV-SNP report from configfs-tsm, for [`crate::verify`].
    pub fn quote(&self, domain: &Domain) -> Result<TsmQuote, TsmError> {
        self.tsm.report(&self.report_data(domain))
    }

    /// The configfs-tsm interface this enclave asks.
    pub fn tsm(&self) -> &ConfigfsTsm {
        &self.tsm
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

impl fmt::Debug for CvmTee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CvmTee")
            .field("tsm", &self.tsm)
            .field("measurement", &self.measurement)
            .field("address", &self.identity.address())
            .field("enc_public_key", &self.enc.public())
            .finish_non_exhaustive()
    }
}

impl Tee for CvmTee {
    fn measurement(&self) -> Hash32 {
        self.measurement
    }

    fn address(&self) -> Address {
        self.identity.address()
    }

    fn enc_public_key(&self) -> EncPublicKey {
        self.enc.public()
    }

    fn attest(&self, _domain: &Domain) -> Result<Attestation, TeeError> {
        Err(TeeError::AttestationUnavailable(
            "a confidential VM holds no vendor key; its evidence is the hardware quote of \
             `CvmTee::quote`, which the manager contract does not admit yet"
                .to_string(),
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
            &self.trusted_vendor,
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
        if !self.counters.contains_key(slot) && self.counters.len() >= SLOTS_PER_PLATFORM_MAX {
            return Err(TeeError::SlotRefused(format!(
                "no counter left ({SLOTS_PER_PLATFORM_MAX} in use)"
            )));
        }
        let c = self.counters.entry(slot.to_string()).or_insert(0);
        *c = c
            .checked_add(1)
            .ok_or_else(|| TeeError::SlotRefused("the slot's counter is exhausted".to_string()))?;
        let counter = *c;
        let ct = self.sealing_key.encrypt(
            &run_sealed_ad(&self.measurement, &self.run, slot, counter),
            data,
            &mut self.rng,
        );
        let blob = RunSealedBlob {
            run: self.run,
            slot: BoundedBytes::new(slot.as_bytes().to_vec()).expect("checked above"),
            counter,
            ciphertext: BoundedBytes::new(ct).expect("checked above"),
        };
        Ok(blob.to_bytes())
    }

    fn unseal(&self, slot: &str, blob: &[u8]) -> Result<Vec<u8>, TeeError> {
        Self::check_slot(slot)?;
        let b = RunSealedBlob::from_bytes(blob)
            .map_err(|e| TeeError::SealedMalformed(e.to_string()))?;
        if b.slot.as_slice() != slot.as_bytes() {
            return Err(TeeError::SealedMalformed(format!(
                "blob is for slot `{}`, not `{slot}`",
                String::from_utf8_lossy(b.slot.as_slice())
            )));
        }
        if b.run != self.run {
            // The run id is not authenticated: a host that changes it gets this refusal
            // instead of `SealedForeign`; both refuse.
            return Err(TeeError::SealedFromEarlierRun);
        }
        let data = self
            .sealing_key
            .decrypt(
                &run_sealed_ad(&self.measurement, &self.run, slot, b.counter),
                b.ciphertext.as_slice(),
            )
            .map_err(|_| TeeError::SealedForeign)?;
        let latest = self.counter_read(slot);
        if b.counter != latest {
            return Err(TeeError::SealedRolledBack {
                slot: slot.to_string(),
                counter: b.counter,
                latest,
            });
        }
        Ok(data)
    }

    fn counter_read(&self, slot: &str) -> u64 {
        self.counters.get(slot).copied().unwrap_or(0)
    }

    fn random_bytes(&mut self, out: &mut [u8]) {
        self.rng.fill_bytes(out);
    }

    fn monotonic_now_ms(&mut self) -> u64 {
        self.last_now_ms = self.last_now_ms.max(self.clock.now_ms());
        self.last_now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote() -> TsmQuote {
        TsmQuote {
            provider: Provider::SevGuest,
            generation: 1,
            report_data: [0; REPORT_DATA_BYTES],
            evidence: Vec::new(),
            aux: None,
        }
    }

    fn raced(i: u64) -> TsmError {
        if i.is_multiple_of(2) {
            TsmError::GenerationChanged {
                before: 0,
                expected: 1,
                after: 2,
            }
        } else {
            TsmError::ReportDataMismatch {
                provider: Provider::TdxGuest,
                found: vec![1; 64],
            }
        }
    }

    #[test]
    fn races_are_asked_again_a_bounded_number_of_times() {
        // Raced, raced, then a report: the report.
        let mut calls = 0u64;
        let r = retry_races(|| {
            calls += 1;
            if calls <= 2 {
                Err(raced(calls))
            } else {
                Ok(quote())
            }
        });
        assert_eq!((r, calls), (Ok(quote()), 3));
        // Always raced: the last race's error after 1 + RACE_RETRIES attempts.
        let mut calls = 0u64;
        let r = retry_races(|| {
            calls += 1;
            Err(raced(calls))
        });
        assert_eq!(calls, 1 + u64::from(RACE_RETRIES));
        assert_eq!(r, Err(raced(calls)));
        // Any other failure is not asked again.
        let mut calls = 0u64;
        let r = retry_races(|| {
            calls += 1;
            Err(TsmError::UnsupportedProvider("x".into()))
        });
        assert_eq!(
            (r, calls),
            (Err(TsmError::UnsupportedProvider("x".into())), 1)
        );
    }
}
