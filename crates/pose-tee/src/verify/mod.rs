//! Verifiers of hardware attestations: Intel SGX and TDX DCAP quotes ([`dcap`]), AMD SEV-SNP
//! reports ([`snp`]) and AWS Nitro Enclaves attestation documents ([`nitro`]).
//!
//! Each verifier checks one piece of evidence against the vendor's root of trust (passed in by
//! the caller, never fetched) and a [`Policy`], and yields a [`VerifiedEvidence`]: what the
//! protocol needs from any TEE (measurement, platform identity, TCB status, until when the
//! verdict holds, and the report data that binds the enclave's keys, chain and manager, see
//! [`binding`]). Verification is pure and offline: all collateral comes with the call, and the
//! time is [`Policy::now`], supplied by the caller (the verifier never reads a clock).
//!
//! Failures are [`VerifyError`]s: altered evidence, a chain to another root, collateral or a
//! certificate not valid at `now`, a platform below every known TCB level, or a policy refusal.
//!
//! Admission of hardware enclaves on chain is not wired yet: the manager contract still admits
//! software-TEE attestations only (docs/protocol.md section 4).

pub mod binding;
pub mod dcap;
pub mod nitro;
pub mod snp;

mod x509;

pub use binding::{check_report_data, expected_report_data, report_data_digest, REPORT_DATA_TAG};

use std::fmt;

/// The kind of TEE a piece of evidence comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TeeKind {
    /// An Intel SGX enclave (DCAP quote v3).
    Sgx,
    /// An Intel TDX trust domain (DCAP quote v4 or v5).
    Tdx,
    /// An AMD SEV-SNP guest.
    SevSnp,
    /// An AWS Nitro enclave.
    Nitro,
}

impl fmt::Display for TeeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TeeKind::Sgx => "Intel SGX",
            TeeKind::Tdx => "Intel TDX",
            TeeKind::SevSnp => "AMD SEV-SNP",
            TeeKind::Nitro => "AWS Nitro",
        })
    }
}

/// How current the platform's trusted computing base is.
///
/// For SGX and TDX it is Intel's verdict from the signed TCB info and QE identity. SEV-SNP has
/// no signed TCB verdict: the status is [`TcbStatus::UpToDate`] when the reported TCB meets
/// [`Policy::snp_minimum_tcb`] and [`TcbStatus::OutOfDate`] otherwise. Nitro reports no TCB
/// version at all ([`TcbStatus::NotReported`]), so a policy admits Nitro only by allowing that
/// status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcbStatus {
    /// The platform is patched to the latest known level.
    UpToDate,
    /// Patched, but software mitigations are needed for some advisories.
    SwHardeningNeeded,
    /// Patched, but the platform's configuration needs changing.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSwHardeningNeeded,
    /// The platform runs an outdated TCB.
    OutOfDate,
    /// Outdated, and its configuration needs changing.
    OutOfDateConfigurationNeeded,
    /// TDX 1.5: the TD launched on an outdated TCB that was updated since; relaunch it.
    TdRelaunchAdvised,
    /// As [`TcbStatus::TdRelaunchAdvised`], and configuration needs changing.
    TdRelaunchAdvisedConfigurationNeeded,
    /// The platform's TCB is revoked.
    Revoked,
    /// The platform reports no TCB version (AWS Nitro).
    NotReported,
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SwHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSwHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::TdRelaunchAdvised => "TDRelaunchAdvised",
            TcbStatus::TdRelaunchAdvisedConfigurationNeeded => {
                "TDRelaunchAdvisedConfigurationNeeded"
            }
            TcbStatus::Revoked => "Revoked",
            TcbStatus::NotReported => "NotReported",
        })
    }
}

/// The SEV-SNP TCB components a report states (`REPORTED_TCB`) and a policy's minimum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SnpTcb {
    /// Boot loader SVN.
    pub bootloader: u8,
    /// PSP OS (TEE) SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
}

impl SnpTcb {
    /// Whether every component is at least `min`'s.
    pub fn meets(&self, min: &SnpTcb) -> bool {
        self.bootloader >= min.bootloader
            && self.tee >= min.tee
            && self.snp >= min.snp
            && self.microcode >= min.microcode
    }
}

/// What a verifier accepts beyond the cryptographic checks, and the time it verifies at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The verification time, unix seconds, supplied by the caller: collateral and
    /// certificates must be valid at this instant.
    pub now: u64,
    /// The TCB statuses accepted.
    pub allowed_tcb_statuses: Vec<TcbStatus>,
    /// Security advisories (e.g. `INTEL-SA-00615`) that refuse a platform affected by them.
    pub forbidden_advisories: Vec<String>,
    /// SEV-SNP: the lowest reported TCB that counts as [`TcbStatus::UpToDate`].
    pub snp_minimum_tcb: SnpTcb,
}

impl Policy {
    /// Accepts only [`TcbStatus::UpToDate`], forbids no advisory, no SEV-SNP minimum TCB.
    pub fn strict(now: u64) -> Self {
        Self {
            now,
            allowed_tcb_statuses: vec![TcbStatus::UpToDate],
            forbidden_advisories: Vec::new(),
            snp_minimum_tcb: SnpTcb::default(),
        }
    }

    /// Also accepts `status`.
    pub fn allow_status(mut self, status: TcbStatus) -> Self {
        if !self.allowed_tcb_statuses.contains(&status) {
            self.allowed_tcb_statuses.push(status);
        }
        self
    }

    /// Refuses platforms affected by `advisory`.
    pub fn forbid_advisory(mut self, advisory: impl Into<String>) -> Self {
        self.forbidden_advisories.push(advisory.into());
        self
    }

    /// Sets the SEV-SNP minimum TCB.
    pub fn snp_minimum_tcb(mut self, min: SnpTcb) -> Self {
        self.snp_minimum_tcb = min;
        self
    }

    /// Checks a verdict's status and advisories against this policy.
    fn admit(
        &self,
        kind: TeeKind,
        status: TcbStatus,
        advisories: &[String],
    ) -> Result<(), VerifyError> {
        if !self.allowed_tcb_statuses.contains(&status) {
            return Err(VerifyError::TcbStatusRefused {
                kind,
                status,
                allowed: self.allowed_tcb_statuses.clone(),
            });
        }
        if let Some(advisory) = advisories.iter().find(|a| {
            self.forbidden_advisories
                .iter()
                .any(|f| f.eq_ignore_ascii_case(a))
        }) {
            return Err(VerifyError::AdvisoryRefused {
                kind,
                advisory: advisory.clone(),
            });
        }
        Ok(())
    }
}

/// What a verified piece of hardware evidence says. Only this module's verifiers make one, so
/// holding it proves the evidence passed the checks and the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEvidence {
    kind: TeeKind,
    measurement: Vec<u8>,
    platform_id: Vec<u8>,
    tcb_status: TcbStatus,
    advisories: Vec<String>,
    valid_until: u64,
    report_data: Vec<u8>,
}

impl VerifiedEvidence {
    /// The kind of TEE.
    pub fn kind(&self) -> TeeKind {
        self.kind
    }
    /// The code identity: SGX `MRENCLAVE` (32 bytes); TDX `MRTD || RTMR0 || RTMR1 || RTMR2 ||
    /// RTMR3` (240 bytes); SEV-SNP `MEASUREMENT` (48 bytes); Nitro `PCR0 || PCR1 || PCR2`
    /// (144 bytes: image, kernel, application).
    pub fn measurement(&self) -> &[u8] {
        &self.measurement
    }
    /// The platform identity: SGX/TDX the PCK certificate's PPID (16 bytes); SEV-SNP the
    /// `CHIP_ID` (64 bytes, equal to the VCEK's hwID); Nitro the EC2 instance id of the
    /// document's `module_id` (ASCII).
    pub fn platform_id(&self) -> &[u8] {
        &self.platform_id
    }
    /// The platform's TCB status.
    pub fn tcb_status(&self) -> TcbStatus {
        self.tcb_status
    }
    /// The security advisories that affect the platform (SGX/TDX), possibly empty.
    pub fn advisories(&self) -> &[String] {
        &self.advisories
    }
    /// Unix seconds until which the verdict holds: the earliest expiry among the collateral
    /// and certificates used. Re-verify with fresh collateral after it.
    pub fn valid_until(&self) -> u64 {
        self.valid_until
    }
    /// The report data the TEE signed: 64 bytes for SGX, TDX and SEV-SNP; the `user_data` of a
    /// Nitro document (empty when absent). See [`binding`] for what pose puts there.
    pub fn report_data(&self) -> &[u8] {
        &self.report_data
    }
}

/// Why hardware evidence was refused, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The evidence or its collateral does not parse.
    #[error("{kind} evidence is malformed ({reason}): it is not an attestation of this kind, or it was truncated; reject it")]
    Malformed {
        /// The kind of evidence.
        kind: TeeKind,
        /// What did not parse.
        reason: String,
    },
    /// A signature does not verify: the evidence or its collateral was altered.
    #[error(
        "{kind} evidence has a bad signature ({reason}): it was altered after signing; reject it"
    )]
    BadSignature {
        /// The kind of evidence.
        kind: TeeKind,
        /// Which signature failed.
        reason: String,
    },
    /// The certificate chain does not lead to the trusted root.
    #[error("{kind} evidence does not chain to the trusted root ({reason}): reject it, or update the trust anchor if the vendor rotated its root")]
    WrongRoot {
        /// The kind of evidence.
        kind: TeeKind,
        /// What did not match.
        reason: String,
    },
    /// Collateral or a certificate is not valid at the policy's `now`.
    #[error("{kind} collateral or certificate is not valid at {now} ({reason}): fetch fresh collateral and a fresh attestation, or check the caller's clock")]
    Expired {
        /// The kind of evidence.
        kind: TeeKind,
        /// The verification time (unix seconds).
        now: u64,
        /// Which item is outside its validity.
        reason: String,
    },
    /// The platform's TCB matches no level the vendor lists: it is older than every level.
    #[error("{kind} platform matches no TCB level in the collateral ({reason}): the platform must update its firmware and microcode")]
    NoMatchingTcbLevel {
        /// The kind of evidence.
        kind: TeeKind,
        /// What did not match.
        reason: String,
    },
    /// The policy does not accept the platform's TCB status.
    #[error("{kind} platform TCB status {status} is not allowed by the policy (allowed: {allowed:?}): the platform must update, or the policy must accept the status")]
    TcbStatusRefused {
        /// The kind of evidence.
        kind: TeeKind,
        /// The platform's status.
        status: TcbStatus,
        /// The statuses the policy allows.
        allowed: Vec<TcbStatus>,
    },
    /// The policy forbids an advisory that affects the platform.
    #[error("{kind} platform is affected by advisory {advisory}, which the policy forbids: the platform must be patched")]
    AdvisoryRefused {
        /// The kind of evidence.
        kind: TeeKind,
        /// The forbidden advisory.
        advisory: String,
    },
    /// The evidence is genuine but the verifier refuses it for another reason (debug mode,
    /// unsupported attributes).
    #[error("{kind} evidence refused: {reason}")]
    Refused {
        /// The kind of evidence.
        kind: TeeKind,
        /// Why.
        reason: String,
    },
    /// The report data does not bind the claimed enclave keys, chain and manager.
    #[error("{kind} report data does not bind the claimed enclave address, encryption key, chain and manager: the attestation is for another enclave or deployment; reject it")]
    ReportDataMismatch {
        /// The kind of evidence.
        kind: TeeKind,
    },
}
