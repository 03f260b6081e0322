//! What pose puts in a hardware attestation's report data: the binding of the enclave's
//! signing address and encryption key to one chain and one manager deployment.
//!
//! ```text
//! report_data = keccak256(abi.encode(keccak256("pose.report-data.v1"), chainId, manager,
//!                                    address enclave, bytes32 encPubKey)) || 32 zero bytes
//! ```
//!
//! It mirrors the software attestation digest (docs/protocol.md section 2) under its own tag,
//! without the measurement: the hardware report carries the measurement itself. The chain does
//! not check this digest yet (hardware admission is future work); when it does, the digest
//! moves to `pose_crypto::onchain` with the other digests the manager recomputes.

use pose_crypto::keccak256;
use pose_crypto::onchain::Domain;
use pose_types::{Address, EncPublicKey, Hash32};

use super::{VerifiedEvidence, VerifyError};

/// Tag string of the report-data binding.
pub const REPORT_DATA_TAG: &str = "pose.report-data.v1";

fn word_u64(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

fn word_address(a: &Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

/// The binding digest of `enclave` and `enc_pubkey` to `domain`.
pub fn report_data_digest(domain: &Domain, enclave: &Address, enc_pubkey: &EncPublicKey) -> Hash32 {
    let mut words = Vec::with_capacity(5 * 32);
    words.extend_from_slice(&keccak256(REPORT_DATA_TAG.as_bytes()).0);
    words.extend_from_slice(&word_u64(domain.chain_id));
    words.extend_from_slice(&word_address(&domain.manager));
    words.extend_from_slice(&word_address(enclave));
    words.extend_from_slice(&enc_pubkey.0);
    keccak256(&words)
}

/// The 64 bytes an enclave puts in its report data (SGX/TDX `REPORT_DATA`, SEV-SNP
/// `REPORT_DATA`, Nitro `user_data`): the binding digest followed by 32 zero bytes.
pub fn expected_report_data(
    domain: &Domain,
    enclave: &Address,
    enc_pubkey: &EncPublicKey,
) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&report_data_digest(domain, enclave, enc_pubkey).0);
    out
}

/// Checks that verified evidence binds `enclave` and `enc_pubkey` to `domain`.
pub fn check_report_data(
    evidence: &VerifiedEvidence,
    domain: &Domain,
    enclave: &Address,
    enc_pubkey: &EncPublicKey,
) -> Result<(), VerifyError> {
    if evidence.report_data() == expected_report_data(domain, enclave, enc_pubkey).as_slice() {
        Ok(())
    } else {
        Err(VerifyError::ReportDataMismatch {
            kind: evidence.kind(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{TcbStatus, TeeKind};

    fn evidence(report_data: Vec<u8>) -> VerifiedEvidence {
        VerifiedEvidence {
            kind: TeeKind::Tdx,
            measurement: vec![0; 240],
            platform_id: vec![1; 16],
            tcb_status: TcbStatus::UpToDate,
            advisories: Vec::new(),
            valid_until: 0,
            report_data,
        }
    }

    #[test]
    fn every_bound_field_changes_the_report_data() {
        let d = Domain {
            chain_id: 31337,
            manager: Address([0xaa; 20]),
        };
        let a = Address([0xbb; 20]);
        let k = EncPublicKey([2; 32]);
        let base = expected_report_data(&d, &a, &k);
        assert_eq!(base[32..], [0u8; 32]);
        assert_ne!(base[..32], [0u8; 32]);
        let other_chain = Domain { chain_id: 1, ..d };
        let other_manager = Domain {
            manager: Address([0xab; 20]),
            ..d
        };
        assert_ne!(expected_report_data(&other_chain, &a, &k), base);
        assert_ne!(expected_report_data(&other_manager, &a, &k), base);
        assert_ne!(expected_report_data(&d, &Address([0xbc; 20]), &k), base);
        assert_ne!(expected_report_data(&d, &a, &EncPublicKey([3; 32])), base);
        // The tag separates it from the software attestation digest over the same domain.
        assert_ne!(
            report_data_digest(&d, &a, &k),
            pose_crypto::onchain::attestation_digest(&d, &Hash32([0; 32]), &a, &k)
        );

        assert_eq!(
            check_report_data(&evidence(base.to_vec()), &d, &a, &k),
            Ok(())
        );
        let mut altered = base;
        altered[63] ^= 1;
        assert_eq!(
            check_report_data(&evidence(altered.to_vec()), &d, &a, &k),
            Err(VerifyError::ReportDataMismatch { kind: TeeKind::Tdx })
        );
        assert!(check_report_data(&evidence(base[..32].to_vec()), &d, &a, &k).is_err());
        assert!(check_report_data(&evidence(Vec::new()), &d, &a, &k).is_err());
    }
}
