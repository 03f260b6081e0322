//! AMD SEV-SNP attestation reports, verified with the `sev` crate (no OpenSSL).
//!
//! Checks: the trusted ARK is self-signed and signs the ASK, the ASK signs the VCEK (RSA-PSS,
//! `sev`); the three certificates are valid at [`Policy::now`]; the report is 1184 bytes, uses
//! ECDSA P-384 with SHA-384, its signature over bytes `0x000..0x2A0` (exactly as received)
//! verifies under the VCEK, and the unsigned rest of the signature field is zero; the VCEK certifies this chip (`hwID` = `CHIP_ID`) at this TCB
//! (its `blSPL`, `teeSPL`, `snpSPL`, `ucodeSPL` = `REPORTED_TCB`); the guest policy forbids
//! debugging. The TCB status is [`TcbStatus::UpToDate`] when `REPORTED_TCB` meets
//! [`Policy::snp_minimum_tcb`], [`TcbStatus::OutOfDate`] otherwise.

use der::Decode;
use sev::certs::snp::{ca, Certificate as SevCertificate, Chain, Verifiable};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;
use x509_cert::Certificate;

use super::x509::{check_valid_at, extension, p384_key, parse_cert, validity};
use super::{Policy, SnpTcb, TcbStatus, TeeKind, VerifiedEvidence, VerifyError};

const KIND: TeeKind = TeeKind::SevSnp;
/// Length of an attestation report.
pub const REPORT_LEN: usize = 0x4A0;
/// Offset of the signature; the signed part is everything before it.
const SIGNATURE_OFFSET: usize = 0x2A0;
/// `SIGNATURE_ALGO` of ECDSA P-384 with SHA-384.
const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// AMD's VCEK extensions (VCEK specification, chapter 3).
const OID_HW_ID: &str = "1.3.6.1.4.1.3704.1.4";
const OID_BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";

fn malformed(reason: impl Into<String>) -> VerifyError {
    VerifyError::Malformed {
        kind: KIND,
        reason: reason.into(),
    }
}

fn refused(reason: impl Into<String>) -> VerifyError {
    VerifyError::Refused {
        kind: KIND,
        reason: reason.into(),
    }
}

/// Reads a little-endian 72-byte signature component as a big-endian P-384 scalar.
fn scalar(le: &[u8]) -> Result<[u8; 48], VerifyError> {
    if le[48..].iter().any(|b| *b != 0) {
        return Err(malformed("a signature component does not fit in 48 bytes"));
    }
    let mut be = [0u8; 48];
    for (o, i) in be.iter_mut().zip(le[..48].iter().rev()) {
        *o = *i;
    }
    Ok(be)
}

/// The SPL the VCEK certifies for one TCB component.
fn vcek_spl(vcek: &Certificate, oid: &str, name: &str) -> Result<u8, VerifyError> {
    let value = extension(vcek, oid)
        .ok_or_else(|| malformed(format!("the VCEK has no {name} extension ({oid})")))?;
    u8::from_der(value).map_err(|_| malformed(format!("the VCEK's {name} is not a small integer")))
}

/// Checks that the VCEK certifies this chip (`hwID` = `CHIP_ID`) at this TCB (its SPLs =
/// `REPORTED_TCB`).
fn check_vcek_matches(
    vcek: &Certificate,
    chip_id: &[u8],
    reported: &SnpTcb,
) -> Result<(), VerifyError> {
    let hw_id = extension(vcek, OID_HW_ID)
        .ok_or_else(|| malformed("the VCEK has no hwID extension (a VLEK is not supported)"))?;
    let hw_id = match hw_id {
        [0x04, 0x40, rest @ ..] if rest.len() == 64 => rest,
        raw => raw,
    };
    if hw_id != chip_id {
        return Err(refused(
            "the VCEK is for another chip than the report's CHIP_ID: send this chip's VCEK",
        ));
    }
    let certified = SnpTcb {
        bootloader: vcek_spl(vcek, OID_BL_SPL, "blSPL")?,
        tee: vcek_spl(vcek, OID_TEE_SPL, "teeSPL")?,
        snp: vcek_spl(vcek, OID_SNP_SPL, "snpSPL")?,
        microcode: vcek_spl(vcek, OID_UCODE_SPL, "ucodeSPL")?,
    };
    if *reported != certified {
        return Err(refused(format!(
            "the VCEK certifies TCB {certified:?}, the report states {reported:?}: send the VCEK for the reported TCB"
        )));
    }
    Ok(())
}

/// Verifies an SEV-SNP attestation report (raw 1184 bytes) with its VCEK and ASK certificates
/// (DER or PEM) against `trusted_ark` (AMD's root key certificate for the product, DER or PEM)
/// and `policy`.
pub fn verify_snp(
    report: &[u8],
    vcek: &[u8],
    ask: &[u8],
    trusted_ark: &[u8],
    policy: &Policy,
) -> Result<VerifiedEvidence, VerifyError> {
    let wrong_root = |reason: String| VerifyError::WrongRoot { kind: KIND, reason };
    let ark = parse_cert(trusted_ark).map_err(|e| wrong_root(format!("the trusted ARK: {e}")))?;
    let ask = parse_cert(ask).map_err(|e| malformed(format!("the ASK: {e}")))?;
    let vcek = parse_cert(vcek).map_err(|e| malformed(format!("the VCEK: {e}")))?;

    // The chain ARK -> ASK -> VCEK (RSA-PSS), checked by `sev`.
    let ark_s = SevCertificate::from(ark.clone());
    let ask_s = SevCertificate::from(ask.clone());
    let vcek_s = SevCertificate::from(vcek.clone());
    (&ark_s, &ark_s)
        .verify()
        .map_err(|e| wrong_root(format!("the trusted ARK is not self-signed: {e}")))?;
    (&ark_s, &ask_s)
        .verify()
        .map_err(|e| wrong_root(format!("the ASK is not signed by the trusted ARK: {e}")))?;
    let chain = Chain {
        ca: ca::Chain {
            ark: ark_s,
            ask: ask_s,
        },
        vek: vcek_s,
    };
    (&chain).verify().map_err(|e| VerifyError::BadSignature {
        kind: KIND,
        reason: format!("the VCEK is not signed by the ASK: {e}"),
    })?;

    let mut valid_until = u64::MAX;
    for (cert, what) in [(&vcek, "VCEK"), (&ask, "ASK"), (&ark, "ARK")] {
        check_valid_at(cert, what, policy.now).map_err(|reason| VerifyError::Expired {
            kind: KIND,
            now: policy.now,
            reason,
        })?;
        valid_until = valid_until.min(validity(cert).1);
    }

    // The report signature, over the bytes exactly as received.
    if report.len() != REPORT_LEN {
        return Err(malformed(format!(
            "the report is {} bytes, expected {REPORT_LEN}",
            report.len()
        )));
    }
    let sig_algo = u32::from_le_bytes([report[0x34], report[0x35], report[0x36], report[0x37]]);
    if sig_algo != SIG_ALGO_ECDSA_P384_SHA384 {
        return Err(malformed(format!(
            "signature algorithm {sig_algo} is not ECDSA P-384 with SHA-384 (1)"
        )));
    }
    // The signature field is r (72 bytes), s (72 bytes) and reserved zeros; nothing in it is
    // signed, so nothing in it may vary.
    if report[SIGNATURE_OFFSET + 144..].iter().any(|b| *b != 0) {
        return Err(malformed(
            "the reserved bytes after the signature are not zero",
        ));
    }
    let r = scalar(&report[SIGNATURE_OFFSET..SIGNATURE_OFFSET + 72])?;
    let s = scalar(&report[SIGNATURE_OFFSET + 72..SIGNATURE_OFFSET + 144])?;
    let sig = p384::ecdsa::Signature::from_scalars(r, s)
        .map_err(|_| malformed("the signature is not a valid P-384 signature"))?;
    let key = p384_key(&vcek).map_err(malformed)?;
    {
        use p384::ecdsa::signature::Verifier;
        key.verify(&report[..SIGNATURE_OFFSET], &sig)
            .map_err(|_| VerifyError::BadSignature {
                kind: KIND,
                reason: "the report signature does not verify under the VCEK".into(),
            })?;
    }

    let parsed = AttestationReport::from_bytes(report)
        .map_err(|e| malformed(format!("the report does not parse: {e}")))?;

    let reported = SnpTcb {
        bootloader: parsed.reported_tcb.bootloader,
        tee: parsed.reported_tcb.tee,
        snp: parsed.reported_tcb.snp,
        microcode: parsed.reported_tcb.microcode,
    };
    check_vcek_matches(&vcek, &parsed.chip_id, &reported)?;
    if parsed.policy.debug_allowed() {
        return Err(refused(
            "the guest policy allows debugging, so its memory is not confidential",
        ));
    }

    let status = if reported.meets(&policy.snp_minimum_tcb) {
        TcbStatus::UpToDate
    } else {
        TcbStatus::OutOfDate
    };
    policy.admit(KIND, status, &[])?;
    Ok(VerifiedEvidence {
        kind: KIND,
        measurement: parsed.measurement.to_vec(),
        platform_id: parsed.chip_id.to_vec(),
        tcb_status: status,
        advisories: Vec::new(),
        valid_until,
        report_data: parsed.report_data.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    //! The VCEK/report match cannot be reached with genuine evidence (AMD signs only matching
    //! pairs), so it is checked here on the recorded VCEK with altered report values.

    use super::*;

    fn sample_vcek() -> Option<Certificate> {
        let dir = std::env::var_os("POSE_TEE_SAMPLES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/tee-samples")
            });
        match std::fs::read(dir.join("sev-snp/vcek_milan.der")) {
            Ok(der) => Some(parse_cert(&der).unwrap()),
            Err(_) => {
                eprintln!(
                    "SKIPPED: TEE attestation samples not found at {}",
                    dir.display()
                );
                None
            }
        }
    }

    const CHIP_ID: &str = "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6";

    fn chip_id() -> Vec<u8> {
        (0..CHIP_ID.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&CHIP_ID[i..i + 2], 16).unwrap())
            .collect()
    }

    const TCB: SnpTcb = SnpTcb {
        bootloader: 3,
        tee: 0,
        snp: 8,
        microcode: 115,
    };

    #[test]
    fn the_vcek_must_be_for_the_reported_chip_and_tcb() {
        let Some(vcek) = sample_vcek() else { return };
        assert_eq!(check_vcek_matches(&vcek, &chip_id(), &TCB), Ok(()));

        let mut other_chip = chip_id();
        other_chip[0] ^= 1;
        let err = check_vcek_matches(&vcek, &other_chip, &TCB).unwrap_err();
        assert!(
            matches!(&err, VerifyError::Refused { reason, .. } if reason.contains("another chip")),
            "{err}"
        );

        for other in [
            SnpTcb {
                bootloader: 2,
                ..TCB
            },
            SnpTcb { tee: 1, ..TCB },
            SnpTcb { snp: 9, ..TCB },
            SnpTcb {
                microcode: 114,
                ..TCB
            },
        ] {
            let err = check_vcek_matches(&vcek, &chip_id(), &other).unwrap_err();
            assert!(
                matches!(&err, VerifyError::Refused { reason, .. } if reason.contains("certifies TCB")),
                "{err}"
            );
        }
    }
}
