//! Signing and checking the wire messages of `pose-types` (docs/encoding.md, "What signatures
//! cover").

use pose_types::{
    Acceptance, Address, Encode, Hash32, Message, PayloadBytes, Query, Receipt, Request,
    SignedEnvelope,
};

use crate::hash::keccak256;
use crate::onchain::{accept_digest, Domain};
use crate::sig::{verify, SigningKey};
use crate::CryptoError;

/// The digest a user signs for a request; state updates, receipts and rejections name the
/// request by it.
pub fn request_digest(r: &Request) -> Hash32 {
    keccak256(r.signing_bytes())
}

/// The digest a user signs for a query.
pub fn query_digest(q: &Query) -> Hash32 {
    keccak256(q.signing_bytes())
}

/// The digest an executor signs for a receipt.
pub fn receipt_digest(r: &Receipt) -> Hash32 {
    keccak256(r.signing_bytes())
}

/// The digest the sender of a signed envelope signs.
pub fn envelope_digest(e: &SignedEnvelope) -> Hash32 {
    keccak256(e.signing_bytes())
}

/// Fills in `r.user` with the key's address and signs the request.
pub fn sign_request(key: &SigningKey, r: &mut Request) {
    r.user = key.address();
    r.signature = key.sign_digest(&request_digest(r));
}

/// Checks that the request is signed by `r.user`.
pub fn verify_request(r: &Request) -> Result<(), CryptoError> {
    verify(&request_digest(r), &r.signature, &r.user)
}

/// Fills in `q.user` with the key's address and signs the query.
pub fn sign_query(key: &SigningKey, q: &mut Query) {
    q.user = key.address();
    q.signature = key.sign_digest(&query_digest(q));
}

/// Checks that the query is signed by `q.user`.
pub fn verify_query(q: &Query) -> Result<(), CryptoError> {
    verify(&query_digest(q), &q.signature, &q.user)
}

/// Signs a receipt with the executor's key.
pub fn sign_receipt(key: &SigningKey, r: &mut Receipt) {
    r.signature = key.sign_digest(&receipt_digest(r));
}

/// Checks that the receipt is signed by `executor`.
pub fn verify_receipt(r: &Receipt, executor: &Address) -> Result<(), CryptoError> {
    verify(&receipt_digest(r), &r.signature, executor)
}

/// Fills in `a.member` with the key's address and signs the on-chain accept digest.
pub fn sign_acceptance(key: &SigningKey, d: &Domain, a: &mut Acceptance) {
    a.member = key.address();
    a.signature = key.sign_digest(&acceptance_digest(d, a));
}

/// The on-chain accept digest of an acceptance.
pub fn acceptance_digest(d: &Domain, a: &Acceptance) -> Hash32 {
    accept_digest(
        d,
        a.cid,
        &a.code_hash,
        &a.contract_enc_key,
        &a.init_state_hash,
        &a.tx_hash,
    )
}

/// Checks that the acceptance is signed by `a.member` over the accept digest.
pub fn verify_acceptance(d: &Domain, a: &Acceptance) -> Result<(), CryptoError> {
    verify(&acceptance_digest(d, a), &a.signature, &a.member)
}

/// Wraps `msg` in an envelope signed by `key`.
///
/// # Panics
/// If `msg` is a signed envelope (envelopes never nest) or its encoding exceeds
/// [`pose_types::limits::PAYLOAD_BYTES_MAX`], which the message limits rule out.
pub fn sign_envelope(key: &SigningKey, msg: &Message) -> SignedEnvelope {
    assert!(
        !matches!(msg, Message::Signed(_)),
        "a signed envelope never carries another one"
    );
    let payload =
        PayloadBytes::new(msg.to_bytes()).expect("every message fits in an envelope payload");
    let mut env = SignedEnvelope {
        sender: key.address(),
        payload,
        signature: Default::default(),
    };
    env.signature = key.sign_digest(&envelope_digest(&env));
    env
}

/// Checks the envelope's signature against its sender and decodes its payload.
pub fn open_envelope(env: &SignedEnvelope) -> Result<Message, CryptoError> {
    verify(&envelope_digest(env), &env.signature, &env.sender)?;
    Ok(env.message()?)
}
