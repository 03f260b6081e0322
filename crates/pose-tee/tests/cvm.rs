//! The confidential-VM backend against a directory standing in for configfs-tsm: a plain
//! directory produces no report by itself, so each test plays the kernel's part, writing the
//! entry's `generation`, `provider` and `outblob` around the backend's steps. The `outblob`s
//! are attestations recorded on real TDX and SEV-SNP machines (read from the samples directory
//! as in `hardware_attestation.rs`; without it those tests print a skip message and pass), so
//! the backend's parsing is checked against the verifiers' reading of the same bytes.
//!
//! What is not tested here: the real configfs-tsm of a TDX or SEV-SNP guest (this machine is
//! neither).

#![cfg(feature = "hardware-attestation")]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use pose_crypto::onchain::Domain;
use pose_tee::cvm::{ConfigfsTsm, CvmTee, Provider, TsmError, TsmQuote, OUTBLOB_BYTES_MAX};
use pose_tee::verify::dcap::verify_dcap;
use pose_tee::verify::snp::verify_snp;
use pose_tee::verify::{expected_report_data, Policy, VerifyError};
use pose_tee::{ManualClock, Randomness, SoftwarePlatform, SoftwareTee, Tee, TeeError, Vendor};
use pose_types::Address;

/// A fresh directory, removed with everything in it when dropped (also when a test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "pose-cvm-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn samples_dir() -> PathBuf {
    match std::env::var_os("POSE_TEE_SAMPLES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tee-samples"),
    }
}

/// Reads a sample, or `None` (with a message) when the samples are not there.
fn sample(rel: &str) -> Option<Vec<u8>> {
    let dir = samples_dir();
    if !dir.join("README.md").is_file() {
        eprintln!(
            "SKIPPED: TEE attestation samples not found at {} (set POSE_TEE_SAMPLES to their directory)",
            dir.display()
        );
        return None;
    }
    Some(fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("sample {rel}: {e}")))
}

fn snp_report() -> Option<Vec<u8>> {
    let text = sample("sev-snp/report_milan.hex")?;
    Some(hex::decode(String::from_utf8(text).unwrap().trim()).unwrap())
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

const DOMAIN: Domain = Domain {
    chain_id: 31337,
    manager: Address([0x5a; 20]),
};

fn tee(tsm: ConfigfsTsm, seed: u8) -> CvmTee {
    CvmTee::create(
        tsm,
        b"pose-enclave/test",
        Address([0x77; 20]),
        Randomness::Seeded([seed; 32]),
        ManualClock::new(0),
    )
}

/// Plays the kernel's part after `mkdir`: a fresh entry at generation 0 of `provider`.
fn kernel_fresh_entry(entry: &Path, provider: &str) {
    fs::write(entry.join("generation"), "0\n").unwrap();
    fs::write(entry.join("provider"), format!("{provider}\n")).unwrap();
}

/// Plays the kernel's part after the write of `inblob`: one write seen, `outblob` produced.
fn kernel_report(entry: &Path, generation: u64, outblob: &[u8]) {
    fs::write(entry.join("generation"), format!("{generation}\n")).unwrap();
    fs::write(entry.join("outblob"), outblob).unwrap();
}

/// Runs one request of `t` for `DOMAIN` through the fake tree, the kernel answering with
/// `outblob` (built from the report data written) at `generation`.
fn request(
    t: &CvmTee,
    provider: &str,
    generation: u64,
    outblob: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<TsmQuote, TsmError> {
    let entry = t.tsm().open().unwrap();
    kernel_fresh_entry(entry.path(), provider);
    let pending = entry.write_inblob(&t.report_data(&DOMAIN)).unwrap();
    let inblob = fs::read(pending.path().join("inblob")).unwrap();
    kernel_report(pending.path(), generation, &outblob(&inblob));
    pending.collect()
}

#[test]
fn the_report_data_written_binds_the_enclave_keys_to_the_deployment() {
    let dir = TempDir::new();
    let t = tee(ConfigfsTsm::new(&dir.0), 1);
    let entry = t.tsm().open().unwrap();
    assert!(entry.path().starts_with(&dir.0) && entry.path().is_dir());
    kernel_fresh_entry(entry.path(), "sev_guest");
    let pending = entry.write_inblob(&t.report_data(&DOMAIN)).unwrap();
    let inblob = fs::read(pending.path().join("inblob")).unwrap();
    assert_eq!(
        inblob,
        expected_report_data(&DOMAIN, &t.address(), &t.enc_public_key())
    );
    // Another deployment, or another enclave, gives other report data.
    let other = Domain {
        chain_id: 1,
        ..DOMAIN
    };
    assert_ne!(t.report_data(&other).as_slice(), inblob.as_slice());
    assert_ne!(
        tee(ConfigfsTsm::new(&dir.0), 2).report_data(&DOMAIN),
        t.report_data(&DOMAIN)
    );
}

#[test]
fn a_tdx_quote_is_read_and_its_report_data_checked() {
    let Some(quote) = sample("tdx-dcap/tdx_quote") else {
        return;
    };
    let coll = sample("tdx-dcap/tdx_quote_collateral.json").unwrap();
    let root = sample("intel-root/TrustedRootCA.der").unwrap();
    let dir = TempDir::new();
    let t = tee(ConfigfsTsm::new(&dir.0), 1);

    // The recorded quote carries another enclave's report data: read, parsed, refused.
    let err = request(&t, "tdx_guest", 1, |_| quote.clone()).unwrap_err();
    let sample_report_data = h("9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20");
    assert_eq!(
        err,
        TsmError::ReportDataMismatch {
            provider: Provider::TdxGuest,
            found: sample_report_data.clone()
        }
    );
    // The verifier reads the same report data from the same bytes.
    let ev = verify_dcap(&quote, &coll, &root, &Policy::strict(1_752_919_234)).unwrap();
    assert_eq!(ev.report_data(), sample_report_data);

    // A quote carrying the report data written is returned as the kernel gave it.
    let mut ours = Vec::new();
    let q = request(&t, "tdx_guest", 1, |inblob| {
        let mut patched = quote.clone();
        patched[48 + 520..48 + 584].copy_from_slice(inblob);
        ours = patched.clone();
        patched
    })
    .unwrap();
    assert_eq!(q.provider, Provider::TdxGuest);
    assert_eq!(q.generation, 1);
    assert_eq!(q.report_data, t.report_data(&DOMAIN));
    assert_eq!(q.evidence, ours);
    assert_eq!(q.aux, None);
    // (Patching it in breaks the hardware's signature: only the TD itself can have it signed.)
    assert!(matches!(
        verify_dcap(&q.evidence, &coll, &root, &Policy::strict(1_752_919_234)),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn a_tdx_v5_quote_yields_the_report_data_the_verifier_reads() {
    let Some(quote) = sample("tdx-dcap/tdx_quote_td15ex") else {
        return;
    };
    let coll = sample("tdx-dcap/tdx_quote_td15ex_collateral.json").unwrap();
    let root = sample("intel-root/TrustedRootCA.der").unwrap();
    let ev = verify_dcap(&quote, &coll, &root, &Policy::strict(1_794_008_710)).unwrap();
    assert_eq!(
        Provider::TdxGuest.report_data(&quote).unwrap().as_slice(),
        ev.report_data()
    );
    let dir = TempDir::new();
    let t = tee(ConfigfsTsm::new(&dir.0), 1);
    let err = request(&t, "tdx_guest", 1, |_| quote.clone()).unwrap_err();
    assert_eq!(
        err,
        TsmError::ReportDataMismatch {
            provider: Provider::TdxGuest,
            found: ev.report_data().to_vec()
        }
    );
}

#[test]
fn an_snp_report_is_read_and_its_report_data_checked() {
    let Some(report) = snp_report() else { return };
    let vcek = sample("sev-snp/vcek_milan.der").unwrap();
    let ask = sample("sev-snp/ask.pem").unwrap();
    let ark = sample("sev-snp/ark.pem").unwrap();
    let dir = TempDir::new();
    let t = tee(ConfigfsTsm::new(&dir.0), 1);

    let ev = verify_snp(&report, &vcek, &ask, &ark, &Policy::strict(1_750_000_000)).unwrap();
    let err = request(&t, "sev_guest", 1, |_| report.clone()).unwrap_err();
    assert_eq!(
        err,
        TsmError::ReportDataMismatch {
            provider: Provider::SevGuest,
            found: ev.report_data().to_vec()
        }
    );
    assert_eq!(
        ev.report_data(),
        h("d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd")
    );

    let q = request(&t, "sev_guest", 1, |inblob| {
        let mut patched = report.clone();
        patched[0x50..0x90].copy_from_slice(inblob);
        patched
    })
    .unwrap();
    assert_eq!(q.provider, Provider::SevGuest);
    assert_eq!(q.report_data, t.report_data(&DOMAIN));
    assert_eq!(q.aux, None);
    assert!(matches!(
        verify_snp(
            &q.evidence,
            &vcek,
            &ask,
            &ark,
            &Policy::strict(1_750_000_000)
        ),
        Err(VerifyError::BadSignature { .. })
    ));
}

/// An SEV-SNP-shaped outblob carrying `report_data` (no sample needed).
fn snp_shaped(report_data: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; 0x4a0];
    r[0] = 2;
    r[0x50..0x90].copy_from_slice(report_data);
    r
}

#[test]
fn a_changed_generation_is_detected() {
    let dir = TempDir::new();
    let t = tee(ConfigfsTsm::new(&dir.0), 1);
    // One write: generation 0 -> 1, accepted.
    let q = request(&t, "sev_guest", 1, snp_shaped).unwrap();
    assert_eq!(q.report_data, t.report_data(&DOMAIN));
    // Another writer wrote between our write and our read: refused even though the outblob
    // carries our report data.
    assert_eq!(
        request(&t, "sev_guest", 2, snp_shaped),
        Err(TsmError::GenerationChanged {
            before: 0,
            expected: 1,
            after: 2
        })
    );
    // Our write did not take.
    assert_eq!(
        request(&t, "sev_guest", 0, snp_shaped),
        Err(TsmError::GenerationChanged {
            before: 0,
            expected: 1,
            after: 0
        })
    );
    // The generation moved by one, but the outblob holds someone else's report data.
    assert!(matches!(
        request(&t, "sev_guest", 1, |_| snp_shaped(&[9; 64])),
        Err(TsmError::ReportDataMismatch { found, .. }) if found == vec![9; 64]
    ));
    // A generation that is not a number.
    let entry = t.tsm().open().unwrap();
    fs::write(entry.path().join("generation"), "seven\n").unwrap();
    assert!(matches!(
        entry.write_inblob(&[0; 64]),
        Err(TsmError::BadGeneration { content, .. }) if content == "seven\n"
    ));
}

#[test]
fn an_auxblob_is_returned_as_given() {
    let dir = TempDir::new();
    let t = tee(ConfigfsTsm::new(&dir.0), 1);
    let entry = t.tsm().open().unwrap();
    kernel_fresh_entry(entry.path(), "sev_guest");
    // The kernel's auxblob attribute exists but is empty when the host supplies no certificates.
    fs::write(entry.path().join("auxblob"), b"").unwrap();
    let pending = entry.write_inblob(&t.report_data(&DOMAIN)).unwrap();
    kernel_report(pending.path(), 1, &snp_shaped(&t.report_data(&DOMAIN)));
    assert_eq!(pending.collect().unwrap().aux, None);

    let entry = t.tsm().open().unwrap();
    kernel_fresh_entry(entry.path(), "sev_guest");
    let pending = entry.write_inblob(&t.report_data(&DOMAIN)).unwrap();
    kernel_report(pending.path(), 1, &snp_shaped(&t.report_data(&DOMAIN)));
    fs::write(pending.path().join("auxblob"), b"certificate table").unwrap();
    assert_eq!(
        pending.collect().unwrap().aux.as_deref(),
        Some(&b"certificate table"[..])
    );
}

#[test]
fn unsupported_providers_and_malformed_outblobs_are_refused() {
    let dir = TempDir::new();
    let t = tee(ConfigfsTsm::new(&dir.0), 1);
    assert_eq!(
        request(&t, "arm_cca_guest", 1, snp_shaped),
        Err(TsmError::UnsupportedProvider("arm_cca_guest".into()))
    );
    // An SEV-SNP report of the wrong size.
    assert!(matches!(
        request(&t, "sev_guest", 1, |d| snp_shaped(d)[..0x4a0 - 1].to_vec()),
        Err(TsmError::OutblobMalformed {
            provider: Provider::SevGuest,
            ..
        })
    ));
    // TDX: too short, wrong tee type, wrong version, v5 body larger than the blob.
    let mut tdx = vec![0u8; 48 + 584];
    tdx[0] = 4;
    tdx[4] = 0x81;
    assert!(Provider::TdxGuest.report_data(&tdx).is_ok());
    for bad in [
        tdx[..47].to_vec(),
        tdx[..48 + 583].to_vec(),
        {
            let mut b = tdx.clone();
            b[4] = 0;
            b
        },
        {
            let mut b = tdx.clone();
            b[0] = 3;
            b
        },
        {
            let mut b = tdx.clone();
            b[0] = 5;
            b[50..54].copy_from_slice(&600u32.to_le_bytes());
            b
        },
        {
            let mut b = tdx.clone();
            b[0] = 5;
            b[50..54].copy_from_slice(&u32::MAX.to_le_bytes());
            b
        },
    ] {
        assert!(
            matches!(
                Provider::TdxGuest.report_data(&bad),
                Err(TsmError::OutblobMalformed { .. })
            ),
            "{} bytes accepted",
            bad.len()
        );
    }
    // An outblob larger than any quote.
    assert!(matches!(
        request(&t, "tdx_guest", 1, |_| vec![0; OUTBLOB_BYTES_MAX + 1]),
        Err(TsmError::TooLarge { path, max: OUTBLOB_BYTES_MAX }) if path.ends_with("outblob")
    ));
}

#[test]
fn a_failed_request_removes_its_entry_and_says_what_is_missing() {
    let dir = TempDir::new();
    let t = tee(ConfigfsTsm::new(&dir.0), 1);
    // A plain directory is not configfs: the fresh entry has no `generation`.
    let err = t.quote(&DOMAIN).unwrap_err();
    assert!(
        matches!(&err, TsmError::Io { op: "open", path, kind: std::io::ErrorKind::NotFound, .. }
            if path.ends_with("generation")),
        "{err}"
    );
    assert!(err.to_string().contains("configfs-tsm"), "{err}");
    assert_eq!(
        fs::read_dir(&dir.0).unwrap().count(),
        0,
        "entry not removed"
    );
    // No report root at all.
    let t = tee(ConfigfsTsm::new(dir.0.join("absent")), 1);
    assert!(matches!(
        t.quote(&DOMAIN),
        Err(TsmError::Io { op: "mkdir", .. })
    ));
    assert_eq!(
        ConfigfsTsm::kernel().root(),
        Path::new("/sys/kernel/config/tsm/report")
    );
}

#[test]
fn sealed_state_opens_only_in_its_run_and_only_while_latest() {
    let dir = TempDir::new();
    let mut t = tee(ConfigfsTsm::new(&dir.0), 1);
    assert_eq!(t.counter_read("s"), 0);
    let b1 = t.seal("s", b"state 1").unwrap();
    let b2 = t.seal("s", b"state 2").unwrap();
    assert_eq!(t.counter_read("s"), 2);
    assert_eq!(t.unseal("s", &b2).unwrap(), b"state 2");
    assert_eq!(
        t.unseal("s", &b1),
        Err(TeeError::SealedRolledBack {
            slot: "s".into(),
            counter: 1,
            latest: 2
        })
    );
    assert!(matches!(
        t.unseal("other", &b2),
        Err(TeeError::SealedMalformed(_))
    ));
    let mut altered = b2.clone();
    *altered.last_mut().unwrap() ^= 1;
    assert_eq!(t.unseal("s", &altered), Err(TeeError::SealedForeign));
    assert!(matches!(
        t.unseal("s", &b2[..10]),
        Err(TeeError::SealedMalformed(_))
    ));

    // A restart: the same program in the same guest, a new run. It has new keys and opens
    // nothing of the earlier run, whatever the host hands it.
    let mut restarted = tee(ConfigfsTsm::new(&dir.0), 2);
    assert_ne!(restarted.address(), t.address());
    assert_eq!(restarted.measurement(), t.measurement());
    assert_eq!(restarted.counter_read("s"), 0);
    assert_eq!(
        restarted.unseal("s", &b2),
        Err(TeeError::SealedFromEarlierRun)
    );
    // Relabelled with the new run's id (which every blob shows), it still does not open.
    let own = restarted.seal("s", b"fresh").unwrap();
    let mut relabelled = b2.clone();
    relabelled[1..33].copy_from_slice(&own[1..33]);
    assert_eq!(
        restarted.unseal("s", &relabelled),
        Err(TeeError::SealedForeign)
    );
    assert_eq!(restarted.unseal("s", &own).unwrap(), b"fresh");
    assert!(TeeError::SealedFromEarlierRun
        .to_string()
        .contains("fresh enclave"));

    // Slot limits as in the software TEE.
    assert!(matches!(
        t.seal(&"x".repeat(65), b""),
        Err(TeeError::SlotRefused(_))
    ));
}

#[test]
fn keys_stay_inside_and_peers_are_checked_against_the_trusted_vendor() {
    let dir = TempDir::new();
    let t = tee(ConfigfsTsm::new(&dir.0), 1);
    assert!(matches!(
        t.attest(&DOMAIN),
        Err(TeeError::AttestationUnavailable(_))
    ));
    let digest = pose_types::Hash32([3; 32]);
    assert_eq!(
        pose_crypto::recover(&digest, &t.sign_digest(&digest)).unwrap(),
        t.address()
    );
    let debug = format!("{t:?}");
    assert!(
        debug.contains("CvmTee") && !debug.contains("sealing_key"),
        "{debug}"
    );

    // A peer admitted by the manager's vendor (here a software enclave of vendor 0x77..).
    let vendor_key = pose_crypto::SigningKey::from_bytes(&[7; 32]).unwrap();
    let vendor = Vendor::new(vendor_key);
    let t = CvmTee::create(
        ConfigfsTsm::new(&dir.0),
        b"pose-enclave/test",
        vendor.address(),
        Randomness::Seeded([1; 32]),
        ManualClock::new(0),
    );
    let peer = SoftwareTee::create(
        SoftwarePlatform::new([4; 32], vendor),
        b"pose-enclave/test",
        Randomness::Seeded([5; 32]),
        ManualClock::new(0),
    );
    let att = peer.attest(&DOMAIN).unwrap();
    let m = [t.measurement()];
    let verified = t
        .verify_attestation(&att, DOMAIN.chain_id, &DOMAIN.manager, &m)
        .unwrap();
    assert_eq!(verified.enclave(), peer.address());
    // A channel keyed by the enclave's encryption key and the verified peer's.
    assert!(t.channel(&verified, b"ctx").is_ok());
    // Another vendor's attestation is refused.
    let other = CvmTee::create(
        ConfigfsTsm::new(&dir.0),
        b"pose-enclave/test",
        Address([1; 20]),
        Randomness::Seeded([1; 32]),
        ManualClock::new(0),
    );
    assert!(matches!(
        other.verify_attestation(&att, DOMAIN.chain_id, &DOMAIN.manager, &m),
        Err(TeeError::AttestationSignature { .. })
    ));
}

#[test]
fn time_never_goes_back_and_seeded_runs_repeat() {
    let dir = TempDir::new();
    let clock = ManualClock::new(100);
    let mut t = CvmTee::create(
        ConfigfsTsm::new(&dir.0),
        b"p",
        Address([0; 20]),
        Randomness::Seeded([9; 32]),
        clock.clone(),
    );
    assert_eq!(t.monotonic_now_ms(), 100);
    clock.set(50);
    assert_eq!(t.monotonic_now_ms(), 100);
    let same = CvmTee::create(
        ConfigfsTsm::new(&dir.0),
        b"p",
        Address([0; 20]),
        Randomness::Seeded([9; 32]),
        ManualClock::new(0),
    );
    assert_eq!(same.address(), t.address());
    let (mut x, mut y) = ([0u8; 16], [0u8; 16]);
    t.random_bytes(&mut x);
    t.random_bytes(&mut y);
    assert_ne!(x, y);
}
