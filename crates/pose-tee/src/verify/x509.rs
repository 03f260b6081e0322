//! X.509 functions shared by the SEV-SNP and Nitro verifiers (RustCrypto `x509-cert`, `p384`).

use der::{Decode, DecodePem, Encode};
use p384::ecdsa::signature::Verifier;
use x509_cert::Certificate;

/// `ecdsa-with-SHA384`.
const ECDSA_WITH_SHA384: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// Parses a certificate given as DER or PEM.
pub(crate) fn parse_cert(bytes: &[u8]) -> Result<Certificate, String> {
    let trimmed = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(bytes, |i| &bytes[i..]);
    if trimmed.starts_with(b"-----BEGIN") {
        Certificate::from_pem(trimmed).map_err(|e| format!("PEM certificate does not parse: {e}"))
    } else {
        Certificate::from_der(bytes).map_err(|e| format!("DER certificate does not parse: {e}"))
    }
}

/// The certificate's validity as unix seconds `(not_before, not_after)`.
pub(crate) fn validity(cert: &Certificate) -> (u64, u64) {
    let v = &cert.tbs_certificate.validity;
    (
        v.not_before.to_unix_duration().as_secs(),
        v.not_after.to_unix_duration().as_secs(),
    )
}

/// The certificate's subject, for messages.
pub(crate) fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate.subject.to_string()
}

/// Checks that `now` lies in the certificate's validity; names it in the error.
pub(crate) fn check_valid_at(cert: &Certificate, what: &str, now: u64) -> Result<(), String> {
    let (from, to) = validity(cert);
    if now < from {
        return Err(format!(
            "{what} certificate ({}) is not valid before {from}",
            subject(cert)
        ));
    }
    if now > to {
        return Err(format!(
            "{what} certificate ({}) expired at {to}",
            subject(cert)
        ));
    }
    Ok(())
}

/// The certificate's P-384 public key.
pub(crate) fn p384_key(cert: &Certificate) -> Result<p384::ecdsa::VerifyingKey, String> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    p384::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
        .map_err(|_| format!("certificate ({}) has no P-384 public key", subject(cert)))
}

/// Checks that `issuer`'s P-384 key signed `cert` with ECDSA-SHA384.
pub(crate) fn check_signed_by_p384(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    if cert.signature_algorithm.oid != ECDSA_WITH_SHA384 {
        return Err(format!(
            "certificate ({}) is signed with {}, expected ecdsa-with-SHA384",
            subject(cert),
            cert.signature_algorithm.oid
        ));
    }
    let key = p384_key(issuer)?;
    let sig = cert
        .signature
        .as_bytes()
        .and_then(|b| p384::ecdsa::Signature::from_der(b).ok())
        .ok_or_else(|| format!("certificate ({}) has a malformed signature", subject(cert)))?;
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| format!("certificate ({}) does not re-encode: {e}", subject(cert)))?;
    key.verify(&tbs, &sig).map_err(|_| {
        format!(
            "certificate ({}) is not signed by ({})",
            subject(cert),
            subject(issuer)
        )
    })
}

/// The value (inner DER) of the extension `oid`, if present.
pub(crate) fn extension<'a>(cert: &'a Certificate, oid: &str) -> Option<&'a [u8]> {
    let oid = der::oid::ObjectIdentifier::new(oid).ok()?;
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
        .map(|e| e.extn_value.as_bytes())
}

/// Whether the certificate is a CA (basicConstraints with `cA` true).
pub(crate) fn is_ca(cert: &Certificate) -> bool {
    extension(cert, "2.5.29.19")
        .and_then(|v| x509_cert::ext::pkix::BasicConstraints::from_der(v).ok())
        .is_some_and(|bc| bc.ca)
}
