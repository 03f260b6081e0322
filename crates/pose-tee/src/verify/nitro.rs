//! AWS Nitro Enclaves attestation documents: a COSE_Sign1 (CBOR, ES384) whose payload names the
//! enclave's PCRs and carries its certificate chain.
//!
//! Checks: the COSE structure and the protected header (algorithm ES384); the chain
//! `cabundle[0] .. cabundle[n-1], certificate`, where `cabundle[0]` must equal the trusted root
//! (AWS Nitro Enclaves Root G1) and every later certificate must be signed (ECDSA-SHA384) by the
//! one before it, which must be a CA; at most 8 certificates; every certificate valid at [`Policy::now`]; the COSE signature over
//! `["Signature1", protected, h'', payload]` by the leaf's key. Nitro reports no TCB version:
//! the status is [`TcbStatus::NotReported`], which the policy must allow.

use ciborium::Value;
use x509_cert::Certificate;

use super::x509::{check_signed_by_p384, check_valid_at, is_ca, p384_key, parse_cert, validity};
use super::{Policy, TcbStatus, TeeKind, VerifiedEvidence, VerifyError};

const KIND: TeeKind = TeeKind::Nitro;
/// COSE algorithm identifier of ES384.
const ES384: i128 = -35;
/// COSE_Sign1 tag.
const COSE_SIGN1_TAG: u64 = 18;
/// The most certificates a chain may have (AWS issues root, regional, zonal, instance and
/// enclave certificates): a bound on the signature checks a hostile document can cause.
const MAX_CHAIN: usize = 8;

fn malformed(reason: impl Into<String>) -> VerifyError {
    VerifyError::Malformed {
        kind: KIND,
        reason: reason.into(),
    }
}

fn decode_one(bytes: &[u8], what: &str) -> Result<Value, VerifyError> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader(&mut rest)
        .map_err(|e| malformed(format!("{what} is not CBOR: {e}")))?;
    if !rest.is_empty() {
        return Err(malformed(format!(
            "{what} has {} trailing bytes",
            rest.len()
        )));
    }
    Ok(value)
}

fn bytes(v: Value, what: &str) -> Result<Vec<u8>, VerifyError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(malformed(format!("{what} is not a byte string"))),
    }
}

fn optional_bytes(v: Option<Value>, what: &str) -> Result<Option<Vec<u8>>, VerifyError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => bytes(v, what).map(Some),
    }
}

/// The fields of the document payload pose uses.
struct Payload {
    module_id: String,
    pcrs: Vec<(i128, Vec<u8>)>,
    certificate: Vec<u8>,
    cabundle: Vec<Vec<u8>>,
    user_data: Option<Vec<u8>>,
}

fn parse_payload(payload: &[u8]) -> Result<Payload, VerifyError> {
    let Value::Map(entries) = decode_one(payload, "payload")? else {
        return Err(malformed("payload is not a map"));
    };
    let mut module_id = None;
    let mut digest = None;
    let mut pcrs = None;
    let mut certificate = None;
    let mut cabundle = None;
    let mut user_data = None;
    for (k, v) in entries {
        let Value::Text(key) = k else {
            return Err(malformed("payload has a non-text key"));
        };
        let slot = match key.as_str() {
            "module_id" => &mut module_id,
            "digest" => &mut digest,
            "pcrs" => &mut pcrs,
            "certificate" => &mut certificate,
            "cabundle" => &mut cabundle,
            "user_data" => &mut user_data,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(malformed(format!("payload has a duplicate `{key}`")));
        }
    }
    let Some(Value::Text(module_id)) = module_id else {
        return Err(malformed("payload has no text `module_id`"));
    };
    match digest {
        Some(Value::Text(d)) if d == "SHA384" => {}
        _ => return Err(malformed("payload `digest` is not SHA384")),
    }
    let Some(Value::Map(pcr_entries)) = pcrs else {
        return Err(malformed("payload has no `pcrs` map"));
    };
    let mut pcrs = Vec::with_capacity(pcr_entries.len());
    for (k, v) in pcr_entries {
        let Value::Integer(i) = k else {
            return Err(malformed("a PCR index is not an integer"));
        };
        pcrs.push((i128::from(i), bytes(v, "a PCR value")?));
    }
    let certificate = bytes(
        certificate.ok_or_else(|| malformed("payload has no `certificate`"))?,
        "`certificate`",
    )?;
    let Some(Value::Array(bundle)) = cabundle else {
        return Err(malformed("payload has no `cabundle` array"));
    };
    let cabundle = bundle
        .into_iter()
        .map(|c| bytes(c, "a `cabundle` entry"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Payload {
        module_id,
        pcrs,
        certificate,
        cabundle,
        user_data: optional_bytes(user_data, "`user_data`")?,
    })
}

/// Verifies a Nitro attestation document (untagged or tagged COSE_Sign1) against
/// `trusted_root` (the AWS Nitro Enclaves root certificate, DER or PEM) and `policy`.
pub fn verify_nitro(
    document: &[u8],
    trusted_root: &[u8],
    policy: &Policy,
) -> Result<VerifiedEvidence, VerifyError> {
    let root = parse_cert(trusted_root).map_err(|e| VerifyError::WrongRoot {
        kind: KIND,
        reason: format!("the trusted root does not parse: {e}"),
    })?;

    // COSE_Sign1 = [protected: bstr, unprotected: map, payload: bstr, signature: bstr].
    let cose = match decode_one(document, "document")? {
        Value::Tag(COSE_SIGN1_TAG, inner) => *inner,
        v => v,
    };
    let Value::Array(parts) = cose else {
        return Err(malformed("document is not a COSE_Sign1 array"));
    };
    let Ok::<[Value; 4], _>([protected, unprotected, payload, signature]) = parts.try_into() else {
        return Err(malformed("COSE_Sign1 does not have 4 elements"));
    };
    let protected = bytes(protected, "protected header")?;
    if !matches!(unprotected, Value::Map(_)) {
        return Err(malformed("unprotected header is not a map"));
    }
    let payload = bytes(payload, "payload")?;
    let signature = bytes(signature, "signature")?;

    let Value::Map(header) = decode_one(&protected, "protected header")? else {
        return Err(malformed("protected header is not a map"));
    };
    let alg = header.iter().find_map(|(k, v)| match (k, v) {
        (Value::Integer(k), Value::Integer(v)) if i128::from(*k) == 1 => Some(i128::from(*v)),
        _ => None,
    });
    if alg != Some(ES384) {
        return Err(malformed(
            "protected header does not name algorithm ES384 (-35)",
        ));
    }

    let doc = parse_payload(&payload)?;

    // The chain: root first, leaf last.
    if doc.cabundle.len() + 1 > MAX_CHAIN {
        return Err(malformed(format!(
            "the chain has {} certificates, more than {MAX_CHAIN}",
            doc.cabundle.len() + 1
        )));
    }
    let mut chain: Vec<Certificate> = Vec::with_capacity(doc.cabundle.len() + 1);
    for (i, der) in doc
        .cabundle
        .iter()
        .chain(std::iter::once(&doc.certificate))
        .enumerate()
    {
        chain.push(parse_cert(der).map_err(|e| malformed(format!("certificate {i}: {e}")))?);
    }
    if chain.len() < 2 {
        return Err(malformed("`cabundle` is empty"));
    }
    if chain[0] != root {
        return Err(VerifyError::WrongRoot {
            kind: KIND,
            reason: "`cabundle[0]` is not the trusted root certificate".into(),
        });
    }
    for i in 1..chain.len() {
        if !is_ca(&chain[i - 1]) {
            return Err(VerifyError::WrongRoot {
                kind: KIND,
                reason: format!(
                    "certificate {} is not a CA but issues certificate {i}",
                    i - 1
                ),
            });
        }
        check_signed_by_p384(&chain[i], &chain[i - 1])
            .map_err(|reason| VerifyError::BadSignature { kind: KIND, reason })?;
    }
    let mut valid_until = u64::MAX;
    for (i, cert) in chain.iter().enumerate() {
        check_valid_at(cert, &format!("chain position {i}"), policy.now).map_err(|reason| {
            VerifyError::Expired {
                kind: KIND,
                now: policy.now,
                reason,
            }
        })?;
        valid_until = valid_until.min(validity(cert).1);
    }

    // The COSE signature by the leaf, over Sig_structure1.
    let leaf_key = p384_key(&chain[chain.len() - 1]).map_err(malformed)?;
    let sig_structure = Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload),
    ]);
    let mut to_be_signed = Vec::new();
    ciborium::ser::into_writer(&sig_structure, &mut to_be_signed)
        .map_err(|e| malformed(format!("signature structure does not encode: {e}")))?;
    let sig = p384::ecdsa::Signature::from_slice(&signature)
        .map_err(|_| malformed("signature is not 96 bytes r || s"))?;
    {
        use p384::ecdsa::signature::Verifier;
        leaf_key
            .verify(&to_be_signed, &sig)
            .map_err(|_| VerifyError::BadSignature {
                kind: KIND,
                reason: "the COSE signature does not verify under the enclave certificate".into(),
            })?;
    }

    // Measurement: PCR0 (image), PCR1 (kernel), PCR2 (application).
    let mut measurement = Vec::with_capacity(3 * 48);
    for index in 0..3 {
        let value = doc
            .pcrs
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, v)| v)
            .ok_or_else(|| malformed(format!("PCR{index} is missing")))?;
        if value.len() != 48 {
            return Err(malformed(format!("PCR{index} is not 48 bytes")));
        }
        measurement.extend_from_slice(value);
    }
    // module_id is `<instance id>-enc<enclave id>`: the platform is the instance.
    let platform = doc
        .module_id
        .split_once("-enc")
        .map_or(doc.module_id.as_str(), |(instance, _)| instance);

    let status = TcbStatus::NotReported;
    policy.admit(KIND, status, &[])?;
    Ok(VerifiedEvidence {
        kind: KIND,
        measurement,
        platform_id: platform.as_bytes().to_vec(),
        tcb_status: status,
        advisories: Vec::new(),
        valid_until,
        report_data: doc.user_data.unwrap_or_default(),
    })
}
