//! The hardware verifiers against attestations recorded on real Intel SGX/TDX, AMD SEV-SNP and
//! AWS Nitro machines, with their collateral: each sample's verdict and extracted fields, and
//! for each format a tampered byte, a wrong root, expired collateral or certificates and an
//! out-of-date TCB, each refused with its own error.
//!
//! The samples are not part of the repository. They are read from `tee-samples/` three levels
//! above this crate's directory (`<crate>/../../../shared/tee-samples`), or from the directory
//! named by `POSE_TEE_SAMPLES`; without them the tests print a skip message and pass.
//! "Now" is pinned inside each sample's verification window: the collateral and certificates
//! expired long ago.

#![cfg(feature = "hardware-attestation")]

use std::path::PathBuf;

use pose_crypto::onchain::Domain;
use pose_tee::verify::dcap::verify_dcap;
use pose_tee::verify::nitro::verify_nitro;
use pose_tee::verify::snp::verify_snp;
use pose_tee::verify::{
    check_report_data, expected_report_data, Policy, SnpTcb, TcbStatus, TeeKind, VerifyError,
};
use pose_types::{Address, EncPublicKey};

fn samples_dir() -> PathBuf {
    match std::env::var_os("POSE_TEE_SAMPLES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tee-samples"),
    }
}

/// The samples, or `None` (with a message) when they are not there.
struct Samples(PathBuf);

impl Samples {
    fn get() -> Option<Self> {
        let dir = samples_dir();
        if dir.join("README.md").is_file() {
            Some(Self(dir))
        } else {
            eprintln!(
                "SKIPPED: TEE attestation samples not found at {} (set POSE_TEE_SAMPLES to their directory)",
                dir.display()
            );
            None
        }
    }
    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.0.join(rel)).unwrap_or_else(|e| panic!("sample {rel}: {e}"))
    }
    fn intel_root(&self) -> Vec<u8> {
        self.read("intel-root/TrustedRootCA.der")
    }
    fn snp_report(&self) -> Vec<u8> {
        let text = self.read("sev-snp/report_milan.hex");
        hex::decode(String::from_utf8(text).unwrap().trim()).unwrap()
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn padded64(prefix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.resize(64, 0);
    v
}

fn flip(mut bytes: Vec<u8>, at: usize, mask: u8) -> Vec<u8> {
    bytes[at] ^= mask;
    bytes
}

// ---------------------------------------------------------------------------------------------
// Intel SGX (quote v3)

const SGX_NOW: u64 = 1_752_919_277;
const SGX_FROM: u64 = 1_750_330_571;
const SGX_TO: u64 = 1_752_919_278;

fn sgx_policy(now: u64) -> Policy {
    Policy::strict(now).allow_status(TcbStatus::ConfigurationAndSwHardeningNeeded)
}

#[test]
fn sgx_quote_verifies_and_yields_its_fields() {
    let Some(s) = Samples::get() else { return };
    let quote = s.read("sgx-dcap/sgx_quote");
    let coll = s.read("sgx-dcap/sgx_quote_collateral.json");
    for now in [SGX_FROM, SGX_NOW, SGX_TO - 1] {
        let ev = verify_dcap(&quote, &coll, &s.intel_root(), &sgx_policy(now)).unwrap();
        assert_eq!(ev.kind(), TeeKind::Sgx);
        assert_eq!(
            ev.measurement(),
            h("33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb")
        );
        assert_eq!(ev.report_data(), padded64(b"Hello, world!"));
        assert_eq!(ev.platform_id(), h("d04ec06d4e6d92dc90d0ad3cf5ee2ddf"));
        assert_eq!(
            ev.tcb_status(),
            TcbStatus::ConfigurationAndSwHardeningNeeded
        );
        assert_eq!(ev.advisories(), ["INTEL-SA-00289", "INTEL-SA-00615"]);
        assert_eq!(ev.valid_until(), SGX_TO);
    }
}

#[test]
fn sgx_quote_refused_by_a_strict_policy_and_by_a_forbidden_advisory() {
    let Some(s) = Samples::get() else { return };
    let quote = s.read("sgx-dcap/sgx_quote");
    let coll = s.read("sgx-dcap/sgx_quote_collateral.json");
    let err = verify_dcap(&quote, &coll, &s.intel_root(), &Policy::strict(SGX_NOW)).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::TcbStatusRefused {
                kind: TeeKind::Sgx,
                status: TcbStatus::ConfigurationAndSwHardeningNeeded,
                ..
            }
        ),
        "{err}"
    );
    let policy = sgx_policy(SGX_NOW).forbid_advisory("INTEL-SA-00615");
    let err = verify_dcap(&quote, &coll, &s.intel_root(), &policy).unwrap_err();
    assert_eq!(
        err,
        VerifyError::AdvisoryRefused {
            kind: TeeKind::Sgx,
            advisory: "INTEL-SA-00615".into()
        }
    );
}

#[test]
fn sgx_quote_refuses_tampering_wrong_root_and_expiry() {
    let Some(s) = Samples::get() else { return };
    let quote = s.read("sgx-dcap/sgx_quote");
    let coll = s.read("sgx-dcap/sgx_quote_collateral.json");
    let root = s.intel_root();
    let policy = sgx_policy(SGX_NOW);

    // REPORT_DATA starts at 48 (header) + 320 (report body offset).
    let err = verify_dcap(&flip(quote.clone(), 48 + 320, 0x01), &coll, &root, &policy);
    assert!(
        matches!(
            err,
            Err(VerifyError::BadSignature {
                kind: TeeKind::Sgx,
                ..
            })
        ),
        "{err:?}"
    );
    // MRENCLAVE.
    let err = verify_dcap(&flip(quote.clone(), 48 + 64, 0x80), &coll, &root, &policy);
    assert!(
        matches!(err, Err(VerifyError::BadSignature { .. })),
        "{err:?}"
    );

    // The host rewrites the signed TCB info (claims a newer evaluation): its signature fails.
    let mut c: serde_json::Value = serde_json::from_slice(&coll).unwrap();
    let tcb_info = c["tcb_info"].as_str().unwrap().to_string();
    assert!(tcb_info.contains("\"tcbEvaluationDataNumber\":17"));
    c["tcb_info"] = tcb_info
        .replace(
            "\"tcbEvaluationDataNumber\":17",
            "\"tcbEvaluationDataNumber\":19",
        )
        .into();
    let altered = serde_json::to_vec(&c).unwrap();
    let err = verify_dcap(&quote, &altered, &root, &policy);
    assert!(
        matches!(err, Err(VerifyError::BadSignature { .. })),
        "{err:?}"
    );

    // Another root as the trust anchor: AWS's Nitro root (P-384), and Intel's TCB signing
    // certificate (P-256, but not the root).
    let err = verify_dcap(&quote, &coll, &tcb_signing_cert(&coll), &policy);
    assert!(
        matches!(
            err,
            Err(VerifyError::WrongRoot {
                kind: TeeKind::Sgx,
                ..
            })
        ),
        "{err:?}"
    );
    let err = verify_dcap(&quote, &coll, &s.read("nitro/0.der"), &policy);
    assert!(
        matches!(
            err,
            Err(VerifyError::WrongRoot {
                kind: TeeKind::Sgx,
                ..
            })
        ),
        "{err:?}"
    );

    for now in [SGX_FROM - 1, SGX_TO + 1, 1_764_547_200] {
        let err = verify_dcap(&quote, &coll, &root, &sgx_policy(now));
        assert!(
            matches!(err, Err(VerifyError::Expired { kind: TeeKind::Sgx, now: n, .. }) if n == now),
            "now {now}: {err:?}"
        );
    }

    // Not a quote at all, and collateral that is not JSON.
    assert!(matches!(
        verify_dcap(&quote[..40], &coll, &root, &policy),
        Err(VerifyError::Malformed { .. })
    ));
    assert!(matches!(
        verify_dcap(&quote, b"{}", &root, &policy),
        Err(VerifyError::Malformed { .. })
    ));
}

/// The first certificate of the collateral's TCB info issuer chain (Intel's TCB signing
/// certificate), as DER.
fn tcb_signing_cert(collateral: &[u8]) -> Vec<u8> {
    let c: serde_json::Value = serde_json::from_slice(collateral).unwrap();
    let chain = c["tcb_info_issuer_chain"].as_str().unwrap();
    let end = chain.find("-----END CERTIFICATE-----").unwrap() + 25;
    pem_to_der(&chain.as_bytes()[..end])
}

// ---------------------------------------------------------------------------------------------
// Intel TDX (quote v4, v5)

const TDX_NOW: u64 = 1_752_919_234;
const TDX_FROM: u64 = 1_750_329_147;
const TDX_TO: u64 = 1_752_919_235;

#[test]
fn tdx_quote_v4_verifies_and_yields_its_fields() {
    let Some(s) = Samples::get() else { return };
    let quote = s.read("tdx-dcap/tdx_quote");
    let coll = s.read("tdx-dcap/tdx_quote_collateral.json");
    for now in [TDX_FROM, TDX_NOW, TDX_TO - 1] {
        let ev = verify_dcap(&quote, &coll, &s.intel_root(), &Policy::strict(now)).unwrap();
        assert_eq!(ev.kind(), TeeKind::Tdx);
        let mrtd = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
        let rtmr0 = "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0";
        let rtmr1 = "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378";
        let rtmr2 = "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132";
        let rtmr3 = "00".repeat(48);
        assert_eq!(
            ev.measurement(),
            h(&format!("{mrtd}{rtmr0}{rtmr1}{rtmr2}{rtmr3}"))
        );
        assert_eq!(
            ev.report_data(),
            h("9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20")
        );
        assert_eq!(ev.platform_id(), h("811dca2a26b952e85bb6448b097ba4fd"));
        assert_eq!(ev.tcb_status(), TcbStatus::UpToDate);
        assert!(ev.advisories().is_empty());
        assert_eq!(ev.valid_until(), TDX_TO);
    }
}

#[test]
fn tdx_quote_v4_refuses_tampering_wrong_root_and_expiry() {
    let Some(s) = Samples::get() else { return };
    let quote = s.read("tdx-dcap/tdx_quote");
    let coll = s.read("tdx-dcap/tdx_quote_collateral.json");
    let root = s.intel_root();
    let policy = Policy::strict(TDX_NOW);

    // REPORT_DATA: 48 (header) + 520 (TD report offset); MRTD: 48 + 136.
    for at in [48 + 520, 48 + 136, 48 + 520 + 63] {
        let err = verify_dcap(&flip(quote.clone(), at, 0x01), &coll, &root, &policy);
        assert!(
            matches!(
                err,
                Err(VerifyError::BadSignature {
                    kind: TeeKind::Tdx,
                    ..
                })
            ),
            "byte {at}: {err:?}"
        );
    }
    let err = verify_dcap(&quote, &coll, &s.read("nitro/0.der"), &policy);
    assert!(
        matches!(
            err,
            Err(VerifyError::WrongRoot {
                kind: TeeKind::Tdx,
                ..
            })
        ),
        "{err:?}"
    );
    for now in [TDX_FROM - 1, TDX_TO, TDX_TO + 1] {
        let err = verify_dcap(&quote, &coll, &root, &Policy::strict(now));
        assert!(
            matches!(
                err,
                Err(VerifyError::Expired {
                    kind: TeeKind::Tdx,
                    ..
                })
            ),
            "{err:?}"
        );
    }
    // The right collateral for the wrong quote: the TDX sample's collateral for the SGX quote.
    let err = verify_dcap(
        &s.read("sgx-dcap/sgx_quote"),
        &coll,
        &root,
        &Policy::strict(TDX_NOW),
    );
    assert!(err.is_err());
}

/// The PEM certificate chain embedded in a quote's certification data (PCK, Platform or
/// Processor CA, root).
fn embedded_pck_chain(quote: &[u8]) -> String {
    let text = String::from_utf8_lossy(quote);
    let start = text.find("-----BEGIN CERTIFICATE-----").unwrap();
    let end = text.rfind("-----END CERTIFICATE-----").unwrap() + 25;
    text[start..end].to_string()
}

#[test]
fn tdx_collateral_signed_through_the_pck_chain_is_refused() {
    let Some(s) = Samples::get() else { return };
    let quote = s.read("tdx-dcap/tdx_quote");
    let coll = s.read("tdx-dcap/tdx_quote_collateral.json");
    let pck_chain = embedded_pck_chain(&quote);
    // The host hands the quote's own PCK chain as the signer chain of the TCB info, then of
    // the QE identity: it leads to Intel's root, but not directly, as a signer's must.
    for field in ["tcb_info_issuer_chain", "qe_identity_issuer_chain"] {
        let mut c: serde_json::Value = serde_json::from_slice(&coll).unwrap();
        c[field] = pck_chain.clone().into();
        let altered = serde_json::to_vec(&c).unwrap();
        let err = verify_dcap(&quote, &altered, &s.intel_root(), &Policy::strict(TDX_NOW));
        assert!(
            matches!(
                err,
                Err(VerifyError::WrongRoot {
                    kind: TeeKind::Tdx,
                    ..
                })
            ),
            "{field}: {err:?}"
        );
    }
}

const TD15EX_NOW: u64 = 1_794_008_710;

#[test]
fn tdx_quote_v5_td15ex_verifies_and_refuses_tampering() {
    let Some(s) = Samples::get() else { return };
    let quote = s.read("tdx-dcap/tdx_quote_td15ex");
    let coll = s.read("tdx-dcap/tdx_quote_td15ex_collateral.json");
    let root = s.intel_root();
    let policy = Policy::strict(TD15EX_NOW);
    let ev = verify_dcap(&quote, &coll, &root, &policy).unwrap();
    assert_eq!(ev.kind(), TeeKind::Tdx);
    let expected = [
        "2a674327c50218dba880066b349b8d559d749ed68dce33fd651c184a877d084b07a9e583767a7ad5da13ed91deec2b70",
        "0345d2a146eec673fb3861a4d88c5093ef0934b142884294377628cf09fb21bfa979acec61e79f925f5fccaad0827165",
        "3484cd07ba093cede0938303617d6da58f3c6a895ddd5461b3bdd0b29f40e869d4c92642867b44bd3619451bd78ff2d0",
        "83b7a9a35ed613c17a8b9d36a49f28b095f54daa78b328c93eef10ae3e21094c1411467e3371157c4cde5e0beb72dcb8",
        "556d4986cae57e7e3756b6471e4951be6f5f1b4e70942c72325223d6af239da90f1484eeb627727e6d2c0755393b5fdf",
    ]
    .concat();
    assert_eq!(ev.measurement(), h(&expected));
    assert_eq!(
        ev.report_data(),
        h("2945321c99222c3622a14cf7feaab073e799be14b5f3e73cd2e6cad64e5f062463ad204f33f0a39e47d098330db88ca5b5d0a7afce540dfe4c4fe4a377190731")
    );
    assert_eq!(ev.platform_id(), h("d6fbe62fefe590c45a33afa4adaad111"));
    assert_eq!(ev.tcb_status(), TcbStatus::UpToDate);
    assert_eq!(ev.valid_until(), 1_794_008_711);

    // TD_ID (703) and the last TD 1.5-ex byte (938) are signed.
    for at in [703, 938] {
        let err = verify_dcap(&flip(quote.clone(), at, 0x01), &coll, &root, &policy);
        assert!(
            matches!(err, Err(VerifyError::BadSignature { .. })),
            "byte {at}: {err:?}"
        );
    }
    // The body size (byte 50) no longer matches the body.
    let err = verify_dcap(&flip(quote.clone(), 50, 0x01), &coll, &root, &policy);
    assert!(
        matches!(
            err,
            Err(VerifyError::Malformed {
                kind: TeeKind::Tdx,
                ..
            })
        ),
        "{err:?}"
    );
    let err = verify_dcap(&quote, &coll, &root, &Policy::strict(1_794_008_712));
    assert!(matches!(err, Err(VerifyError::Expired { .. })), "{err:?}");
}

#[test]
fn tdx_quote_v5_below_every_tcb_level_is_refused() {
    let Some(s) = Samples::get() else { return };
    let quote = s.read("tdx-dcap/tdx_quote_outdated");
    let coll = s.read("tdx-dcap/tdx_quote_outdated_collateral.json");
    // Even a policy that accepts every status refuses it: no TCB level matches.
    let mut policy = Policy::strict(1_774_003_274);
    for st in [
        TcbStatus::OutOfDate,
        TcbStatus::OutOfDateConfigurationNeeded,
        TcbStatus::SwHardeningNeeded,
        TcbStatus::ConfigurationNeeded,
        TcbStatus::ConfigurationAndSwHardeningNeeded,
        TcbStatus::TdRelaunchAdvised,
        TcbStatus::TdRelaunchAdvisedConfigurationNeeded,
    ] {
        policy = policy.allow_status(st);
    }
    let err = verify_dcap(&quote, &coll, &s.intel_root(), &policy);
    assert!(
        matches!(
            err,
            Err(VerifyError::NoMatchingTcbLevel {
                kind: TeeKind::Tdx,
                ..
            })
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// AMD SEV-SNP

const SNP_NOW: u64 = 1_750_000_000;
const SNP_FROM: u64 = 1_680_549_823;
const SNP_TO: u64 = 1_901_474_623;

fn snp(
    s: &Samples,
    report: &[u8],
    vcek: &[u8],
    ark: &[u8],
    policy: &Policy,
) -> Result<pose_tee::verify::VerifiedEvidence, VerifyError> {
    verify_snp(report, vcek, &s.read("sev-snp/ask.pem"), ark, policy)
}

#[test]
fn snp_report_verifies_and_yields_its_fields() {
    let Some(s) = Samples::get() else { return };
    let report = s.snp_report();
    let vcek = s.read("sev-snp/vcek_milan.der");
    let ark = s.read("sev-snp/ark.pem");
    for now in [SNP_FROM, SNP_NOW, SNP_TO] {
        let ev = snp(&s, &report, &vcek, &ark, &Policy::strict(now)).unwrap();
        assert_eq!(ev.kind(), TeeKind::SevSnp);
        assert_eq!(
            ev.measurement(),
            h("7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f")
        );
        assert_eq!(
            ev.report_data(),
            h("d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd")
        );
        assert_eq!(
            ev.platform_id(),
            h("d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6")
        );
        assert_eq!(ev.tcb_status(), TcbStatus::UpToDate);
        assert!(ev.advisories().is_empty());
        assert_eq!(ev.valid_until(), SNP_TO);
    }
    // The report's TCB (bootloader 3, TEE 0, SNP 8, microcode 115) meets exactly itself.
    let min = SnpTcb {
        bootloader: 3,
        tee: 0,
        snp: 8,
        microcode: 115,
    };
    let ev = snp(
        &s,
        &report,
        &vcek,
        &ark,
        &Policy::strict(SNP_NOW).snp_minimum_tcb(min),
    )
    .unwrap();
    assert_eq!(ev.tcb_status(), TcbStatus::UpToDate);
}

#[test]
fn snp_report_refuses_tampering_wrong_root_expiry_and_old_tcb() {
    let Some(s) = Samples::get() else { return };
    let report = s.snp_report();
    let vcek = s.read("sev-snp/vcek_milan.der");
    let ark = s.read("sev-snp/ark.pem");
    let policy = Policy::strict(SNP_NOW);

    // A flipped bit in the signed part, in REPORT_DATA, in MEASUREMENT, in a reserved byte.
    for at in [21, 0x50, 0x90 + 47, 0x1F0] {
        let err = snp(&s, &flip(report.clone(), at, 0x80), &vcek, &ark, &policy);
        assert!(
            matches!(
                err,
                Err(VerifyError::BadSignature {
                    kind: TeeKind::SevSnp,
                    ..
                })
            ),
            "byte {at}: {err:?}"
        );
    }
    // An altered VCEK certificate.
    let err = snp(&s, &report, &flip(vcek.clone(), 40, 0xff), &ark, &policy);
    assert!(
        matches!(err, Err(VerifyError::BadSignature { .. })),
        "{err:?}"
    );
    // The VCEK of the report is replaced by the ASK: not a P-384 VCEK signed by the ASK.
    let ask_der = pem_to_der(&s.read("sev-snp/ask.pem"));
    assert!(snp(&s, &report, &ask_der, &ark, &policy).is_err());

    // Another root: AMD's Genoa ARK does not sign the Milan ASK.
    let err = snp(
        &s,
        &report,
        &vcek,
        sev::certs::snp::builtin::genoa::ARK,
        &policy,
    );
    assert!(
        matches!(
            err,
            Err(VerifyError::WrongRoot {
                kind: TeeKind::SevSnp,
                ..
            })
        ),
        "{err:?}"
    );
    // The Milan ASK offered as the root: not self-signed.
    let err = snp(&s, &report, &vcek, &s.read("sev-snp/ask.pem"), &policy);
    assert!(matches!(err, Err(VerifyError::WrongRoot { .. })), "{err:?}");

    for now in [SNP_FROM - 1, SNP_TO + 1] {
        let err = snp(&s, &report, &vcek, &ark, &Policy::strict(now));
        assert!(
            matches!(
                err,
                Err(VerifyError::Expired {
                    kind: TeeKind::SevSnp,
                    ..
                })
            ),
            "now {now}: {err:?}"
        );
    }

    // A policy wanting SNP firmware 9 sees the report's 8 as out of date.
    let newer = SnpTcb {
        bootloader: 3,
        tee: 0,
        snp: 9,
        microcode: 115,
    };
    let err = snp(
        &s,
        &report,
        &vcek,
        &ark,
        &policy.clone().snp_minimum_tcb(newer),
    );
    assert!(
        matches!(
            err,
            Err(VerifyError::TcbStatusRefused {
                kind: TeeKind::SevSnp,
                status: TcbStatus::OutOfDate,
                ..
            })
        ),
        "{err:?}"
    );
    let ev = snp(
        &s,
        &report,
        &vcek,
        &ark,
        &policy
            .clone()
            .snp_minimum_tcb(newer)
            .allow_status(TcbStatus::OutOfDate),
    )
    .unwrap();
    assert_eq!(ev.tcb_status(), TcbStatus::OutOfDate);

    // Truncated report.
    let err = snp(&s, &report[..0x4A0 - 1], &vcek, &ark, &policy);
    assert!(matches!(err, Err(VerifyError::Malformed { .. })), "{err:?}");
}

/// PEM to DER for a test input.
fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    use x509_cert::der::{DecodePem, Encode};
    x509_cert::Certificate::from_pem(pem)
        .unwrap()
        .to_der()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// AWS Nitro

const NITRO_NOW: u64 = 1_736_179_625;
const NITRO_FROM: u64 = 1_736_179_622;
const NITRO_TO: u64 = 1_736_190_425;

fn nitro_policy(now: u64) -> Policy {
    Policy::strict(now).allow_status(TcbStatus::NotReported)
}

#[test]
fn nitro_document_verifies_and_yields_its_fields() {
    let Some(s) = Samples::get() else { return };
    let doc = s.read("nitro/attestation.cose");
    for root in [s.read("nitro/root.pem"), s.read("nitro/0.der")] {
        for now in [NITRO_FROM, NITRO_NOW, NITRO_TO] {
            let ev = verify_nitro(&doc, &root, &nitro_policy(now)).unwrap();
            assert_eq!(ev.kind(), TeeKind::Nitro);
            let pcrs = [
                "8bb159f202bb95d6d4d98e0e103918246cea734f1d57cd263e4fd56075ed53f6fa8c68854817a32749a241e11874c26b",
                "3b4a7e1b5f13c5a1000b3ed32ef8995ee13e9876329f9bc72650b918329ef9cf4e2e4d1e1e37375dab0ba56ba0974d03",
                "f4e86b12ad3df5f9fea962ff706c23ee190b463740a32f1a679a3cd1070a7731ddd83328fe3db5e8143ea94344b6fb95",
            ]
            .concat();
            assert_eq!(ev.measurement(), h(&pcrs));
            assert_eq!(ev.platform_id(), b"i-0bee92034f3d60691");
            assert_eq!(ev.tcb_status(), TcbStatus::NotReported);
            assert!(ev.report_data().is_empty(), "the sample has no user_data");
            assert_eq!(ev.valid_until(), NITRO_TO);
        }
    }
}

#[test]
fn nitro_document_refuses_tampering_wrong_root_expiry_and_unversioned_tcb() {
    let Some(s) = Samples::get() else { return };
    let doc = s.read("nitro/attestation.cose");
    let root = s.read("nitro/root.pem");
    let policy = nitro_policy(NITRO_NOW);

    // A flipped bit in PCR0 inside the signed payload, and in the signature's last byte.
    let pcr0 = h("8bb159f202bb95d6d4d98e0e103918246cea734f1d57cd263e4fd56075ed53f6fa8c68854817a32749a241e11874c26b");
    let at = doc.windows(48).position(|w| w == pcr0.as_slice()).unwrap();
    for at in [at + 5, doc.len() - 1] {
        let err = verify_nitro(&flip(doc.clone(), at, 0x01), &root, &policy);
        assert!(
            matches!(
                err,
                Err(VerifyError::BadSignature {
                    kind: TeeKind::Nitro,
                    ..
                })
            ),
            "byte {at}: {err:?}"
        );
    }
    // A certificate of the chain altered (the zonal certificate's signature value).
    let zonal = s.read("nitro/2.der");
    let at = doc
        .windows(zonal.len())
        .position(|w| w == zonal.as_slice())
        .unwrap();
    let err = verify_nitro(
        &flip(doc.clone(), at + zonal.len() - 2, 0x01),
        &root,
        &policy,
    );
    assert!(
        matches!(err, Err(VerifyError::BadSignature { .. })),
        "{err:?}"
    );

    // Another trust anchor: the document's chain starts at AWS's root, not Intel's.
    let err = verify_nitro(&doc, &s.intel_root(), &policy);
    assert!(
        matches!(
            err,
            Err(VerifyError::WrongRoot {
                kind: TeeKind::Nitro,
                ..
            })
        ),
        "{err:?}"
    );

    // Outside the enclave certificate's three hours, and at today's time.
    for now in [NITRO_FROM - 1, NITRO_TO + 1, 1_764_547_200] {
        let err = verify_nitro(&doc, &root, &nitro_policy(now));
        assert!(
            matches!(
                err,
                Err(VerifyError::Expired {
                    kind: TeeKind::Nitro,
                    ..
                })
            ),
            "now {now}: {err:?}"
        );
    }

    // Nitro reports no TCB version: a policy that wants a known-current TCB refuses it.
    let err = verify_nitro(&doc, &root, &Policy::strict(NITRO_NOW));
    assert!(
        matches!(
            err,
            Err(VerifyError::TcbStatusRefused {
                kind: TeeKind::Nitro,
                status: TcbStatus::NotReported,
                ..
            })
        ),
        "{err:?}"
    );

    // Truncated and garbage documents do not parse.
    for bad in [
        &doc[..doc.len() - 1],
        &doc[..10],
        b"\xff\x00".as_slice(),
        &[],
    ] {
        let err = verify_nitro(bad, &root, &policy);
        assert!(matches!(err, Err(VerifyError::Malformed { .. })), "{err:?}");
    }
}

/// Re-encodes a Nitro document after `edit` changed its payload's `cabundle` (the COSE
/// signature no longer matches, but the chain is checked first).
fn nitro_with_cabundle(doc: &[u8], edit: impl FnOnce(&mut Vec<ciborium::Value>)) -> Vec<u8> {
    use ciborium::Value;
    let Value::Array(mut parts) = ciborium::de::from_reader::<Value, _>(doc).unwrap() else {
        panic!("not a COSE_Sign1")
    };
    let Value::Bytes(payload) = &parts[2] else {
        panic!("no payload")
    };
    let Value::Map(mut fields) = ciborium::de::from_reader::<Value, _>(payload.as_slice()).unwrap()
    else {
        panic!("payload is not a map")
    };
    let bundle = fields
        .iter_mut()
        .find_map(|(k, v)| match (k, v) {
            (Value::Text(k), Value::Array(bundle)) if k == "cabundle" => Some(bundle),
            _ => None,
        })
        .expect("a cabundle");
    edit(bundle);
    let mut payload = Vec::new();
    ciborium::ser::into_writer(&Value::Map(fields), &mut payload).unwrap();
    parts[2] = Value::Bytes(payload);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Array(parts), &mut out).unwrap();
    out
}

#[test]
fn nitro_chain_must_be_whole_and_issued_by_cas() {
    let Some(s) = Samples::get() else { return };
    let doc = s.read("nitro/attestation.cose");
    let root = s.read("nitro/root.pem");
    let policy = nitro_policy(NITRO_NOW);
    // Re-encoding without an edit gives back a document that verifies, so each refusal below
    // comes from its edit.
    let same = nitro_with_cabundle(&doc, |_| {});
    assert!(verify_nitro(&same, &root, &policy).is_ok());

    // The host drops the intermediate certificates: the enclave certificate is not signed by
    // the root.
    let dropped = nitro_with_cabundle(&doc, |b| b.truncate(1));
    let err = verify_nitro(&dropped, &root, &policy);
    assert!(
        matches!(err, Err(VerifyError::BadSignature { .. })),
        "{err:?}"
    );

    // The enclave certificate placed as an issuer: it is not a CA.
    let leaf = ciborium::Value::Bytes(s.read("nitro/4.der"));
    let extended = nitro_with_cabundle(&doc, |b| b.push(leaf));
    let err = verify_nitro(&extended, &root, &policy);
    assert!(
        matches!(&err, Err(VerifyError::WrongRoot { reason, .. }) if reason.contains("not a CA")),
        "{err:?}"
    );

    // An overlong chain is refused before any signature check.
    let long = nitro_with_cabundle(&doc, |b| {
        let first = b[0].clone();
        b.extend(std::iter::repeat_n(first, 8));
    });
    let err = verify_nitro(&long, &root, &policy);
    assert!(matches!(err, Err(VerifyError::Malformed { .. })), "{err:?}");
}

#[test]
fn truncated_evidence_is_refused_without_panicking() {
    let Some(s) = Samples::get() else { return };
    let root = s.intel_root();
    let coll = s.read("sgx-dcap/sgx_quote_collateral.json");
    let quote = s.read("sgx-dcap/sgx_quote");
    let policy = sgx_policy(SGX_NOW);
    for len in (0..1052).step_by(3) {
        assert!(
            verify_dcap(&quote[..len], &coll, &root, &policy).is_err(),
            "sgx {len}"
        );
    }
    for len in (0..coll.len()).step_by(97) {
        assert!(
            verify_dcap(&quote, &coll[..len], &root, &policy).is_err(),
            "collateral {len}"
        );
    }
    let coll = s.read("tdx-dcap/tdx_quote_td15ex_collateral.json");
    let quote = s.read("tdx-dcap/tdx_quote_td15ex");
    let policy = Policy::strict(TD15EX_NOW);
    for len in (0..1200).step_by(3) {
        assert!(
            verify_dcap(&quote[..len], &coll, &root, &policy).is_err(),
            "td15ex {len}"
        );
    }

    let (report, vcek, ask, ark) = (
        s.snp_report(),
        s.read("sev-snp/vcek_milan.der"),
        s.read("sev-snp/ask.pem"),
        s.read("sev-snp/ark.pem"),
    );
    let policy = Policy::strict(SNP_NOW);
    for len in (0..report.len()).step_by(61) {
        assert!(verify_snp(&report[..len], &vcek, &ask, &ark, &policy).is_err());
    }
    for len in (0..vcek.len()).step_by(61) {
        assert!(verify_snp(&report, &vcek[..len], &ask, &ark, &policy).is_err());
    }

    let doc = s.read("nitro/attestation.cose");
    let root = s.read("nitro/root.pem");
    let policy = nitro_policy(NITRO_NOW);
    for len in (0..doc.len()).step_by(13) {
        let err = verify_nitro(&doc[..len], &root, &policy);
        assert!(
            matches!(err, Err(VerifyError::Malformed { .. })),
            "nitro {len}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Report-data binding

#[test]
fn report_data_binding_refuses_the_samples() {
    let Some(s) = Samples::get() else { return };
    let ev = verify_dcap(
        &s.read("sgx-dcap/sgx_quote"),
        &s.read("sgx-dcap/sgx_quote_collateral.json"),
        &s.intel_root(),
        &sgx_policy(SGX_NOW),
    )
    .unwrap();
    let domain = Domain {
        chain_id: 31337,
        manager: Address([0xaa; 20]),
    };
    let (enclave, key) = (Address([0xbb; 20]), EncPublicKey([2; 32]));
    // The sample binds "Hello, world!", not a pose enclave.
    assert_eq!(
        check_report_data(&ev, &domain, &enclave, &key),
        Err(VerifyError::ReportDataMismatch { kind: TeeKind::Sgx })
    );
    assert_ne!(
        ev.report_data(),
        expected_report_data(&domain, &enclave, &key)
    );
}

// ---------------------------------------------------------------------------------------------
// Any changed byte

/// Flips one bit at each of `positions` and requires the verdict to be a refusal.
fn every_flip_refused(
    what: &str,
    evidence: &[u8],
    positions: impl Iterator<Item = usize>,
    verify: impl Fn(&[u8]) -> Result<pose_tee::verify::VerifiedEvidence, VerifyError>,
) {
    assert!(
        verify(evidence).is_ok(),
        "{what}: the unaltered sample verifies"
    );
    for at in positions {
        // The low bit, or the high bit on odd positions.
        let mask = if at % 2 == 0 { 0x01 } else { 0x80 };
        let altered = flip(evidence.to_vec(), at, mask);
        assert!(
            verify(&altered).is_err(),
            "{what}: flipping bit {mask:#x} of byte {at} was accepted"
        );
    }
}

/// The host controls every byte it relays: a change anywhere in the signed parts is refused.
/// (A DCAP quote's certification data framing after the QE report, and the PEM text of its
/// certificates, are not signed as bytes; what they carry is checked by signature instead.)
#[test]
fn any_flipped_bit_in_signed_evidence_is_refused() {
    let Some(s) = Samples::get() else { return };
    let root = s.intel_root();

    // SGX v3: header, report body, quote signature, attestation key, QE report and its
    // signature, QE authentication data (bytes 0..1046).
    let coll = s.read("sgx-dcap/sgx_quote_collateral.json");
    let policy = sgx_policy(SGX_NOW);
    every_flip_refused("sgx", &s.read("sgx-dcap/sgx_quote"), 0..1046, |q| {
        verify_dcap(q, &coll, &root, &policy)
    });

    // TDX v4: header and TD report (0..632), quote signature and attestation key (636..764).
    let coll = s.read("tdx-dcap/tdx_quote_collateral.json");
    let policy = Policy::strict(TDX_NOW);
    every_flip_refused(
        "tdx",
        &s.read("tdx-dcap/tdx_quote"),
        (0..632).chain(636..764),
        |q| verify_dcap(q, &coll, &root, &policy),
    );

    // SEV-SNP: every third byte of the whole report, signature field included.
    let (vcek, ask, ark) = (
        s.read("sev-snp/vcek_milan.der"),
        s.read("sev-snp/ask.pem"),
        s.read("sev-snp/ark.pem"),
    );
    let policy = Policy::strict(SNP_NOW);
    every_flip_refused("snp", &s.snp_report(), (0..0x4A0).step_by(3), |r| {
        verify_snp(r, &vcek, &ask, &ark, &policy)
    });

    // Nitro: every 23rd byte of the document (the P-384 checks are slow in debug builds).
    let root = s.read("nitro/root.pem");
    let policy = nitro_policy(NITRO_NOW);
    let doc = s.read("nitro/attestation.cose");
    every_flip_refused("nitro", &doc, (0..doc.len()).step_by(23), |d| {
        verify_nitro(d, &root, &policy)
    });
}
