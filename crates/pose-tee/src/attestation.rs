//! Attestations: what a TEE says about the enclave it runs, and their verification.

use pose_crypto::onchain::{attestation_digest, Domain};
use pose_crypto::recover;
use pose_types::{
    Address, Decode, DecodeError, EncPublicKey, Encode, Hash32, Reader, SignatureBytes,
};

use crate::TeeError;

/// A software-TEE attestation: the vendor's signature over the attestation digest of
/// docs/protocol.md section 2, with the fields it covers. The manager contract checks the same
/// signature with `ecrecover`.
///
/// Encoded canonically (docs/encoding.md) as its fields in order: 32 + 20 + 32 + 8 + 20 + 65
/// bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attestation {
    /// sha256("pose.measurement.v1" || program identity).
    pub measurement: Hash32,
    /// The enclave's Ethereum address.
    pub enclave: Address,
    /// The enclave's X25519 encryption key.
    pub enc_pubkey: EncPublicKey,
    /// The chain the attestation is for (`block.chainid`).
    pub chain_id: u64,
    /// The manager deployment the attestation is for.
    pub manager: Address,
    /// The vendor's signature over [`Attestation::digest`].
    pub vendor_signature: SignatureBytes,
}

impl Attestation {
    /// The digest the vendor signs (and the manager recomputes).
    pub fn digest(&self) -> Hash32 {
        attestation_digest(
            &Domain {
                chain_id: self.chain_id,
                manager: self.manager,
            },
            &self.measurement,
            &self.enclave,
            &self.enc_pubkey,
        )
    }
}

impl Encode for Attestation {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.measurement.encode_to(out);
        self.enclave.encode_to(out);
        self.enc_pubkey.encode_to(out);
        self.chain_id.encode_to(out);
        self.manager.encode_to(out);
        self.vendor_signature.encode_to(out);
    }
}

impl Decode for Attestation {
    const MIN_ENCODED_BYTES: usize = 32 + 20 + 32 + 8 + 20 + 65;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            measurement: Decode::decode_from(r)?,
            enclave: Decode::decode_from(r)?,
            enc_pubkey: Decode::decode_from(r)?,
            chain_id: Decode::decode_from(r)?,
            manager: Decode::decode_from(r)?,
            vendor_signature: Decode::decode_from(r)?,
        })
    }
}

/// Proof that an attestation was verified: only this crate's verifiers make one, so code that
/// holds an `AttestationVerified` cannot have skipped the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationVerified {
    measurement: Hash32,
    enclave: Address,
    enc_pubkey: EncPublicKey,
}

impl AttestationVerified {
    /// The verified program measurement.
    pub fn measurement(&self) -> Hash32 {
        self.measurement
    }
    /// The verified enclave address.
    pub fn enclave(&self) -> Address {
        self.enclave
    }
    /// The verified enclave encryption key.
    pub fn enc_pubkey(&self) -> EncPublicKey {
        self.enc_pubkey
    }
}

/// Verifies a software-TEE attestation against the trusted `vendor` address: the signature
/// must recover to the vendor, and the attestation must name `expected_chain_id`,
/// `expected_manager` and one of `allowed_measurements`. Usable outside an enclave (a user's
/// client checking a pool).
pub fn verify_vendor_attestation(
    att: &Attestation,
    vendor: &Address,
    expected_chain_id: u64,
    expected_manager: &Address,
    allowed_measurements: &[Hash32],
) -> Result<AttestationVerified, TeeError> {
    let signer = recover(&att.digest(), &att.vendor_signature).map_err(|reason| {
        TeeError::AttestationSignature {
            expected: *vendor,
            reason,
        }
    })?;
    if signer != *vendor {
        return Err(TeeError::AttestationSignature {
            expected: *vendor,
            reason: pose_crypto::CryptoError::WrongSigner {
                expected: *vendor,
                recovered: signer,
            },
        });
    }
    if att.chain_id != expected_chain_id {
        return Err(TeeError::WrongChain {
            expected: expected_chain_id,
            got: att.chain_id,
        });
    }
    if att.manager != *expected_manager {
        return Err(TeeError::WrongManager {
            expected: *expected_manager,
            got: att.manager,
        });
    }
    if !allowed_measurements.contains(&att.measurement) {
        return Err(TeeError::UnknownMeasurement(att.measurement));
    }
    Ok(AttestationVerified {
        measurement: att.measurement,
        enclave: att.enclave,
        enc_pubkey: att.enc_pubkey,
    })
}
