//! Intel SGX and TDX DCAP quotes, verified with Phala's `dcap-qvl` (pure Rust, RustCrypto
//! backend, no network features).
//!
//! Checks (by `dcap-qvl`): the PCK certificate chain in the quote, the TCB info and QE identity
//! signing chains and the CRLs all lead to the trusted Intel SGX root and are valid at
//! [`Policy::now`]; the TCB info and QE identity are signed and current; the QE report is
//! signed by the PCK key and binds the attestation key; the quote is signed by the attestation
//! key; the QE matches its identity; the platform's TCB (and for TDX the TDX module's) matches
//! a level of the TCB info, which gives the TCB status and advisories; the enclave or TD is not
//! in debug mode. Then pose's [`Policy`] decides on the status and advisories.
//!
//! `dcap-qvl` reports failures as text; [`verify_dcap`] sorts them into [`VerifyError`]
//! variants. The dependency is pinned to one version, and the tests check every variant
//! against the recorded samples, so a change of wording shows up as a failing test.

use dcap_qvl::quote::Report;
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::{QuoteCollateralV3, QuotePolicy};

use super::{Policy, TcbStatus, TeeKind, VerifiedEvidence, VerifyError};

/// Quote header `tee_type` of SGX.
const TEE_TYPE_SGX: u32 = 0x0000_0000;
/// Quote header `tee_type` of TDX.
const TEE_TYPE_TDX: u32 = 0x0000_0081;

fn status_of(s: dcap_qvl::TcbStatus) -> TcbStatus {
    use dcap_qvl::TcbStatus as S;
    match s {
        S::UpToDate => TcbStatus::UpToDate,
        S::SWHardeningNeeded => TcbStatus::SwHardeningNeeded,
        S::ConfigurationNeeded => TcbStatus::ConfigurationNeeded,
        S::ConfigurationAndSWHardeningNeeded => TcbStatus::ConfigurationAndSwHardeningNeeded,
        S::OutOfDate => TcbStatus::OutOfDate,
        S::OutOfDateConfigurationNeeded => TcbStatus::OutOfDateConfigurationNeeded,
        S::TDRelaunchAdvised => TcbStatus::TdRelaunchAdvised,
        S::TDRelaunchAdvisedConfigurationNeeded => TcbStatus::TdRelaunchAdvisedConfigurationNeeded,
        S::Revoked => TcbStatus::Revoked,
    }
}

/// The kind of quote, from the header's `tee_type` (bytes 4..8, little-endian).
fn kind_of(quote: &[u8]) -> Result<TeeKind, VerifyError> {
    let tee_type = quote
        .get(4..8)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| VerifyError::Malformed {
            kind: TeeKind::Sgx,
            reason: format!(
                "the quote is {} bytes, shorter than its header",
                quote.len()
            ),
        })?;
    match tee_type {
        TEE_TYPE_SGX => Ok(TeeKind::Sgx),
        TEE_TYPE_TDX => Ok(TeeKind::Tdx),
        other => Err(VerifyError::Malformed {
            kind: TeeKind::Sgx,
            reason: format!("tee_type {other:#x} is neither SGX (0) nor TDX (0x81)"),
        }),
    }
}

/// Sorts a `dcap-qvl` failure (its whole context chain) into a [`VerifyError`].
fn classify(kind: TeeKind, policy: &Policy, err: &anyhow::Error) -> VerifyError {
    let now = policy.now;
    let reason = format!("{err:#}");
    let has = |needles: &[&str]| needles.iter().any(|n| reason.contains(n));
    if has(&[
        "No matching TCB level",
        "TCB level check",
        "is below minimum required",
    ]) {
        VerifyError::NoMatchingTcbLevel { kind, reason }
    } else if has(&["TCB status is invalid: Revoked"]) {
        // Refused whatever the policy allows.
        VerifyError::TcbStatusRefused {
            kind,
            status: TcbStatus::Revoked,
            allowed: policy.allowed_tcb_statuses.clone(),
        }
    } else if has(&[
        "expired",
        "Expired",
        "NotValidYet",
        "issue date is in the future",
    ]) {
        VerifyError::Expired { kind, now, reason }
    } else if has(&[
        "UnknownIssuer",
        "Failed to load root ca",
        "must be issued directly by the root CA",
    ]) {
        VerifyError::WrongRoot { kind, reason }
    } else if has(&["Failed to parse root CA CRL"]) && has(&["ForPublicKey"]) {
        // The root CA CRL is checked first, with the trusted root's key.
        VerifyError::WrongRoot {
            kind,
            reason: format!(
                "the root CA CRL is not signed by the trusted root (another root, or an altered CRL): {reason}"
            ),
        }
    } else if has(&[
        "ignature is invalid",
        "hash mismatch",
        "BadSignature",
        "InvalidSignatureForPublicKey",
        "InvalidCrlSignatureForPublicKey",
        "Fmspc mismatch",
    ]) {
        VerifyError::BadSignature { kind, reason }
    } else if has(&[
        "Debug mode",
        "profiling",
        "migration",
        "SERVTD",
        "SEPT_VE_DISABLE",
        "MR service TD",
        "Revoked",
    ]) {
        VerifyError::Refused { kind, reason }
    } else {
        VerifyError::Malformed { kind, reason }
    }
}

/// Verifies a DCAP quote (SGX v3, TDX v4 or v5) with its collateral (the `dcap-qvl`
/// `QuoteCollateralV3` JSON: TCB info, QE identity, their issuer chains and signatures, the
/// CRLs) against `trusted_root_der` (the Intel SGX Root CA certificate, DER) and `policy`.
pub fn verify_dcap(
    quote: &[u8],
    collateral_json: &[u8],
    trusted_root_der: &[u8],
    policy: &Policy,
) -> Result<VerifiedEvidence, VerifyError> {
    let kind = kind_of(quote)?;
    let collateral: QuoteCollateralV3 =
        serde_json::from_slice(collateral_json).map_err(|e| VerifyError::Malformed {
            kind,
            reason: format!("the collateral is not QuoteCollateralV3 JSON: {e}"),
        })?;
    // `claims_only` applies no policy of its own (only the time); pose's policy follows.
    let claims = QuoteVerifier::new(trusted_root_der.to_vec())
        .verify_with_policy(
            quote,
            collateral,
            policy.now,
            &QuotePolicy::claims_only(policy.now),
        )
        .map_err(|e| classify(kind, policy, &e))?;

    let (measurement, report_data) = match &claims.report {
        Report::SgxEnclave(r) if kind == TeeKind::Sgx => (r.mr_enclave.to_vec(), r.report_data),
        Report::TD10(r) if kind == TeeKind::Tdx => (td_measurement(r), r.report_data),
        Report::TD15(r) if kind == TeeKind::Tdx => (td_measurement(&r.base), r.base.report_data),
        Report::TD15Ex(r) if kind == TeeKind::Tdx => {
            (td_measurement(&r.base.base), r.base.base.report_data)
        }
        _ => {
            return Err(VerifyError::Malformed {
                kind,
                reason: "the report body does not match the header's tee_type".into(),
            })
        }
    };
    let status = status_of(claims.tcb.status);
    policy.admit(kind, status, &claims.tcb.advisory_ids)?;
    Ok(VerifiedEvidence {
        kind,
        measurement,
        platform_id: claims.platform.pck.ppid.clone(),
        tcb_status: status,
        advisories: claims.tcb.advisory_ids.clone(),
        valid_until: claims.earliest_expiration_date,
        report_data: report_data.to_vec(),
    })
}

/// `MRTD || RTMR0 || RTMR1 || RTMR2 || RTMR3`.
fn td_measurement(r: &dcap_qvl::quote::TDReport10) -> Vec<u8> {
    [r.mr_td, r.rt_mr0, r.rt_mr1, r.rt_mr2, r.rt_mr3].concat()
}
