//! The software TEE: attestation verification refuses every forgery and mismatch, sealing
//! refuses rollbacks and foreign blobs, and a seeded TEE is deterministic.

use pose_crypto::onchain::{attestation_digest, Domain};
use pose_crypto::{recover, SigningKey};
use pose_tee::software::IDENTITY_SLOT;
use pose_tee::*;
use pose_types::{Address, Decode, EncPublicKey, Encode, Hash32};

const PROGRAM: &[u8] = b"pose-enclave 0.1.0";
const CHAIN: u64 = 31337;
const MANAGER: Address = Address([0xaa; 20]);

fn domain() -> Domain {
    Domain {
        chain_id: CHAIN,
        manager: MANAGER,
    }
}

fn vendor(b: u8) -> Vendor {
    Vendor::new(SigningKey::from_bytes(&[b; 32]).unwrap())
}

fn platform(secret: u8) -> SoftwarePlatform {
    SoftwarePlatform::new([secret; 32], vendor(0x01))
}

fn tee_on(p: &SoftwarePlatform, program: &[u8], seed: u8) -> SoftwareTee {
    SoftwareTee::create(
        p.clone(),
        program,
        Randomness::Seeded([seed; 32]),
        ManualClock::new(0),
    )
}

fn allowed() -> Vec<Hash32> {
    vec![measurement_of(PROGRAM)]
}

fn verify(tee: &SoftwareTee, att: &Attestation) -> Result<AttestationVerified, TeeError> {
    tee.verify_attestation(att, CHAIN, &MANAGER, &allowed())
}

#[test]
fn a_genuine_attestation_verifies_and_is_what_the_manager_recovers() {
    let p = platform(1);
    let tee = tee_on(&p, PROGRAM, 1);
    let att = tee.attest(&domain()).unwrap();
    let v = verify(&tee, &att).unwrap();
    assert_eq!(v.enclave(), tee.address());
    assert_eq!(v.enc_pubkey(), tee.enc_public_key());
    assert_eq!(v.measurement(), measurement_of(PROGRAM));
    // What `registerEnclave` does: recompute the digest of docs/protocol.md section 2 and
    // ecrecover the vendor from the signature.
    let digest = attestation_digest(&domain(), &att.measurement, &att.enclave, &att.enc_pubkey);
    assert_eq!(
        recover(&digest, &att.vendor_signature),
        Ok(p.vendor_address())
    );
    // The attestation's canonical encoding round-trips.
    assert_eq!(Attestation::from_bytes(&att.to_bytes()), Ok(att));
}

#[test]
fn a_forged_vendor_signature_is_refused() {
    let tee = tee_on(&platform(1), PROGRAM, 1);
    // Another "vendor" signs a well-formed attestation for the same enclave.
    let forger = vendor(0x02);
    let forged = forger.issue(
        &domain(),
        &measurement_of(PROGRAM),
        &tee.address(),
        &tee.enc_public_key(),
    );
    assert!(matches!(
        verify(&tee, &forged),
        Err(TeeError::AttestationSignature { .. })
    ));
    // Garbage signature bytes.
    let mut garbage = tee.attest(&domain()).unwrap();
    garbage.vendor_signature.0 = [0x5a; 65];
    assert!(matches!(
        verify(&tee, &garbage),
        Err(TeeError::AttestationSignature { .. })
    ));
}

#[test]
fn altering_any_signed_field_is_refused() {
    let tee = tee_on(&platform(1), PROGRAM, 1);
    let att = tee.attest(&domain()).unwrap();
    let mut alterations = Vec::new();
    let mut a = att.clone();
    a.enclave = Address([0x77; 20]);
    alterations.push(a);
    let mut a = att.clone();
    a.enc_pubkey = EncPublicKey([0x77; 32]);
    alterations.push(a);
    let mut a = att.clone();
    // Even to another allowed measurement: the signature covers it.
    a.measurement = measurement_of(b"another allowed program");
    alterations.push(a);
    let mut a = att.clone();
    a.chain_id = CHAIN + 1;
    alterations.push(a);
    let mut a = att.clone();
    a.manager = Address([0xab; 20]);
    alterations.push(a);
    for a in alterations {
        let r = tee.verify_attestation(
            &a,
            a.chain_id,
            &a.manager,
            &[
                measurement_of(PROGRAM),
                measurement_of(b"another allowed program"),
            ],
        );
        assert!(
            matches!(r, Err(TeeError::AttestationSignature { .. })),
            "altered attestation {a:?} was not refused: {r:?}"
        );
    }
}

#[test]
fn a_genuine_attestation_for_another_chain_is_refused() {
    let tee = tee_on(&platform(1), PROGRAM, 1);
    let other_chain = Domain {
        chain_id: 1,
        manager: MANAGER,
    };
    let att = tee.attest(&other_chain).unwrap();
    assert_eq!(
        verify(&tee, &att),
        Err(TeeError::WrongChain {
            expected: CHAIN,
            got: 1
        })
    );
}

#[test]
fn a_genuine_attestation_for_another_manager_is_refused() {
    let tee = tee_on(&platform(1), PROGRAM, 1);
    let other = Domain {
        chain_id: CHAIN,
        manager: Address([0xbb; 20]),
    };
    let att = tee.attest(&other).unwrap();
    assert_eq!(
        verify(&tee, &att),
        Err(TeeError::WrongManager {
            expected: MANAGER,
            got: Address([0xbb; 20])
        })
    );
}

#[test]
fn a_genuine_attestation_of_an_unknown_program_is_refused() {
    let p = platform(1);
    let verifier = tee_on(&p, PROGRAM, 1);
    let rogue = tee_on(&p, b"a modified enclave program", 2);
    let att = rogue.attest(&domain()).unwrap();
    assert_eq!(
        verify(&verifier, &att),
        Err(TeeError::UnknownMeasurement(measurement_of(
            b"a modified enclave program"
        )))
    );
}

#[test]
fn only_the_latest_sealed_blob_opens() {
    let p = platform(1);
    let mut tee = tee_on(&p, PROGRAM, 1);
    let old = tee.seal("state", b"seq 1").unwrap();
    assert_eq!(tee.unseal("state", &old).unwrap(), b"seq 1");
    assert_eq!(tee.counter_read("state"), 1);
    let new = tee.seal("state", b"seq 2").unwrap();
    assert_eq!(tee.counter_read("state"), 2);
    assert_eq!(
        tee.unseal("state", &old),
        Err(TeeError::SealedRolledBack {
            slot: "state".into(),
            counter: 1,
            latest: 2
        })
    );
    assert_eq!(tee.unseal("state", &new).unwrap(), b"seq 2");
    // A restarted enclave of the same program on the same platform: same rule.
    let restarted = tee_on(&p, PROGRAM, 9);
    assert!(matches!(
        restarted.unseal("state", &old),
        Err(TeeError::SealedRolledBack { .. })
    ));
    assert_eq!(restarted.unseal("state", &new).unwrap(), b"seq 2");
    // Slots are independent.
    let other = tee.seal("other", b"x").unwrap();
    assert_eq!(tee.unseal("state", &new).unwrap(), b"seq 2");
    assert_eq!(tee.unseal("other", &other).unwrap(), b"x");
    // A blob presented for another slot is refused.
    assert!(matches!(
        tee.unseal("other", &new),
        Err(TeeError::SealedMalformed(_))
    ));
}

#[test]
fn a_blob_sealed_by_another_program_or_platform_is_refused() {
    let p = platform(1);
    let ours = tee_on(&p, PROGRAM, 1);
    let mut theirs = tee_on(&p, b"another program", 2);
    let blob = theirs.seal("state", b"secret").unwrap();
    assert_eq!(ours.unseal("state", &blob), Err(TeeError::SealedForeign));

    let q = platform(2);
    let mut elsewhere = tee_on(&q, PROGRAM, 1);
    let blob = elsewhere.seal("state", b"secret").unwrap();
    assert_eq!(ours.unseal("state", &blob), Err(TeeError::SealedForeign));
}

#[test]
fn altered_or_truncated_blobs_are_refused() {
    let mut tee = tee_on(&platform(1), PROGRAM, 1);
    let blob = tee.seal("state", b"some state").unwrap();
    for i in 0..blob.len() {
        let mut bad = blob.clone();
        bad[i] ^= 0x01;
        assert!(
            tee.unseal("state", &bad).is_err(),
            "flip at byte {i} accepted"
        );
    }
    for n in 0..blob.len() {
        assert!(tee.unseal("state", &blob[..n]).is_err());
    }
    assert_eq!(tee.unseal("state", &blob).unwrap(), b"some state");
}

#[test]
fn a_restarted_enclave_resumes_its_identity_from_the_latest_blob_only() {
    let p = platform(1);
    let mut tee = tee_on(&p, PROGRAM, 1);
    let first = tee.seal_identity().unwrap();
    let latest = tee.seal_identity().unwrap();
    let resumed = SoftwareTee::resume(
        p.clone(),
        PROGRAM,
        &latest,
        Randomness::Seeded([2; 32]),
        ManualClock::new(0),
    )
    .unwrap();
    assert_eq!(resumed.address(), tee.address());
    assert_eq!(resumed.enc_public_key(), tee.enc_public_key());
    assert!(matches!(
        SoftwareTee::resume(
            p.clone(),
            PROGRAM,
            &first,
            Randomness::Os,
            ManualClock::new(0)
        ),
        Err(TeeError::SealedRolledBack { .. })
    ));
    assert!(matches!(
        SoftwareTee::resume(
            p,
            b"another program",
            &latest,
            Randomness::Os,
            ManualClock::new(0)
        ),
        Err(TeeError::SealedForeign)
    ));
    assert_eq!(p_counter(&tee), 2);
}

fn p_counter(tee: &SoftwareTee) -> u64 {
    tee.platform().counter(&tee.measurement(), IDENTITY_SLOT)
}

#[test]
fn platform_state_survives_export_and_import() {
    let p = platform(1);
    let mut tee = tee_on(&p, PROGRAM, 1);
    tee.seal("state", b"a").unwrap();
    let blob = tee.seal("state", b"b").unwrap();
    let restored = SoftwarePlatform::import_state(&p.export_state()).unwrap();
    assert_eq!(restored.vendor_address(), p.vendor_address());
    let again = tee_on(&restored, PROGRAM, 3);
    assert_eq!(again.unseal("state", &blob).unwrap(), b"b");
    assert!(SoftwarePlatform::import_state(&[0; 10]).is_err());
}

#[test]
fn a_seeded_tee_is_deterministic_and_the_os_one_is_not() {
    let run = |r: Randomness| {
        let p = platform(1);
        let mut tee = SoftwareTee::create(p, PROGRAM, r, ManualClock::new(0));
        let mut bytes = [0u8; 32];
        tee.random_bytes(&mut bytes);
        let blob = tee.seal("s", b"x").unwrap();
        (tee.address(), tee.enc_public_key(), bytes, blob)
    };
    assert_eq!(
        run(Randomness::Seeded([7; 32])),
        run(Randomness::Seeded([7; 32]))
    );
    assert_ne!(
        run(Randomness::Seeded([7; 32])).0,
        run(Randomness::Seeded([8; 32])).0
    );
    assert_ne!(run(Randomness::Os).0, run(Randomness::Os).0);
}

#[test]
fn time_never_goes_backwards() {
    let clock = ManualClock::new(1_000);
    let mut tee = SoftwareTee::create(platform(1), PROGRAM, Randomness::Os, clock.clone());
    assert_eq!(tee.monotonic_now_ms(), 1_000);
    clock.advance(500);
    assert_eq!(tee.monotonic_now_ms(), 1_500);
    clock.set(10);
    assert_eq!(tee.monotonic_now_ms(), 1_500);
    clock.set(2_000);
    assert_eq!(tee.monotonic_now_ms(), 2_000);
    let mut real = SoftwareTee::create(platform(1), PROGRAM, Randomness::Os, SystemClock::new());
    let a = real.monotonic_now_ms();
    assert!(real.monotonic_now_ms() >= a);
}

#[test]
fn attested_channels_and_sealed_boxes_use_the_enclave_keys() {
    let p = platform(1);
    let a = tee_on(&p, PROGRAM, 1);
    let mut b = tee_on(&p, PROGRAM, 2);
    let va = verify(&b, &a.attest(&domain()).unwrap()).unwrap();
    let vb = verify(&a, &b.attest(&domain()).unwrap()).unwrap();
    let mut ab = a.channel(&vb, b"cid 1").unwrap();
    let mut ba = b.channel(&va, b"cid 1").unwrap();
    let m = ab.seal(b"", b"contract keys");
    assert_eq!(ba.open(b"", &m).unwrap(), b"contract keys");

    let boxed =
        pose_crypto::aead::seal_to(&b.enc_public_key(), b"ad", b"input", &mut TeeRng(&mut b))
            .unwrap();
    assert_eq!(b.open_sealed_box(b"ad", &boxed).unwrap(), b"input");
    assert!(a.open_sealed_box(b"ad", &boxed).is_err());
}

#[test]
fn debug_output_shows_no_secret() {
    let p = SoftwarePlatform::new([0x3c; 32], vendor(0x4d));
    let tee = tee_on(&p, PROGRAM, 0x5e);
    for shown in [
        format!("{p:?}"),
        format!("{tee:?}"),
        format!("{:?}", vendor(0x4d)),
    ] {
        assert!(!shown.contains("3c3c3c"), "{shown}");
        assert!(!shown.contains("4d4d4d"), "{shown}");
    }
}
