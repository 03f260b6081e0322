//! Property tests of the canonical encoding of the wire messages: every message round-trips,
//! decoding arbitrary or mutated bytes never panics, and any byte string that decodes
//! re-encodes to exactly itself.

use pose_types::wire::{Ack, Deploy, Message, Reply, Request, RequestKind, Update, UpdateKind};
use pose_types::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// Opaque bytes (ciphertexts, code, signatures), short so the cases stay fast.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..48)
}
/// A signature field: usually 65 bytes, sometimes any length up to the field's maximum.
fn sig() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 65),
        1 => vec(any::<u8>(), 0..=limits::SIGNATURE_FIELD_BYTES_MAX),
    ]
}
fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address)
}
fn hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}
fn cid() -> impl Strategy<Value = ContractId> {
    any::<u64>().prop_map(ContractId)
}
fn epoch() -> impl Strategy<Value = Epoch> {
    any::<u64>().prop_map(Epoch)
}
fn seq() -> impl Strategy<Value = Seq> {
    any::<u64>().prop_map(Seq)
}
fn nonce24() -> impl Strategy<Value = [u8; 24]> {
    any::<[u8; 24]>()
}

fn request() -> impl Strategy<Value = Request> {
    (
        cid(),
        address(),
        any::<u64>(),
        any::<bool>(),
        bytes(),
        sig(),
    )
        .prop_map(|(cid, user, nonce, query, body, sig)| Request {
            cid,
            user,
            nonce,
            kind: if query {
                RequestKind::Query
            } else {
                RequestKind::Call
            },
            body,
            sig,
        })
}

fn reply() -> impl Strategy<Value = Reply> {
    (
        (cid(), address(), any::<u64>(), hash(), epoch()),
        (seq(), seq(), hash(), any::<u64>(), hash()),
        (bytes(), address(), sig()),
    )
        .prop_map(
            |(
                (cid, user, nonce, request_digest, epoch),
                (applied_seq, seq, state_hash, chain_pos, chain_tx_hash),
                (output, executor, sig),
            )| Reply {
                cid,
                user,
                nonce,
                request_digest,
                epoch,
                applied_seq,
                seq,
                state_hash,
                chain_pos,
                chain_tx_hash,
                output,
                executor,
                sig,
            },
        )
}

fn update() -> impl Strategy<Value = Update> {
    (
        (cid(), epoch(), seq(), hash(), hash(), any::<u64>(), hash()),
        (any::<bool>(), nonce24(), bytes(), bytes(), address(), sig()),
    )
        .prop_map(
            |(
                (cid, epoch, seq, prev_hash, new_hash, chain_pos, tx_hash),
                (sync, nonce, state, secrets, sender, sig),
            )| Update {
                cid,
                epoch,
                seq,
                prev_hash,
                new_hash,
                chain_pos,
                tx_hash,
                kind: if sync {
                    UpdateKind::Sync
                } else {
                    UpdateKind::Next
                },
                nonce,
                state,
                secrets,
                sender,
                sig,
            },
        )
}

fn ack() -> impl Strategy<Value = Ack> {
    (
        (cid(), epoch(), seq(), hash(), address(), nonce24()),
        (proptest::option::of((hash(), sig())), sig()),
    )
        .prop_map(
            |((cid, epoch, seq, state_hash, member, update_nonce), (accept, sig))| Ack {
                cid,
                epoch,
                seq,
                state_hash,
                member,
                update_nonce,
                accept,
                sig,
            },
        )
}

fn deploy() -> impl Strategy<Value = Deploy> {
    (cid(), bytes(), bytes(), sig()).prop_map(|(cid, code, init_input, sig)| Deploy {
        cid,
        code,
        init_input,
        sig,
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        request().prop_map(Message::Request),
        reply().prop_map(Message::Reply),
        update().prop_map(Message::Update),
        ack().prop_map(Message::Ack),
        deploy().prop_map(Message::Deploy),
    ]
}

/// Bytes near valid encodings: a valid message with a few bytes changed, cut or appended,
/// so the decoder is exercised deep inside messages, not only at the kind byte.
fn mutated_encoding() -> impl Strategy<Value = Vec<u8>> {
    (
        message(),
        vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
        vec(any::<u8>(), 0..3),
    )
        .prop_map(|(m, flips, cut, tail)| {
            let mut b = m.to_bytes();
            for (i, v) in flips {
                let at = i.index(b.len());
                b[at] = v;
            }
            let keep = cut.index(b.len() + 1);
            if tail.is_empty() {
                b.truncate(keep);
            } else {
                b.extend_from_slice(&tail);
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(m in message()) {
        let b = m.to_bytes();
        prop_assert_eq!(&m.encode(), &b);
        prop_assert_eq!(Message::from_bytes(&b), Ok(m.clone()));
        if let Message::Request(r) = &m {
            // The standalone request (as a challenge carries it) is the message minus its
            // version and kind bytes.
            prop_assert_eq!(&r.encode()[..], &b[2..]);
            prop_assert_eq!(Request::decode(&r.encode()), Ok(r.clone()));
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics_and_is_canonical(b in vec(any::<u8>(), 0..512)) {
        if let Ok(m) = Message::from_bytes(&b) {
            prop_assert_eq!(m.to_bytes(), b.clone());
        }
        if let Ok(r) = Request::from_bytes(&b) {
            prop_assert_eq!(r.to_bytes(), b);
        }
    }

    #[test]
    fn decoding_mutated_messages_never_panics_and_is_canonical(b in mutated_encoding()) {
        if let Ok(m) = Message::from_bytes(&b) {
            prop_assert_eq!(m.to_bytes(), b);
        }
    }

    /// Every single-byte change of a valid encoding, at every position: it either fails to
    /// decode or decodes to a value whose encoding is exactly the changed bytes. This reaches
    /// every tag byte (version, kind, request kind, update kind, option) and every length
    /// prefix, which random flips hit only rarely.
    #[test]
    fn every_single_byte_change_decodes_canonically_or_not_at_all(m in message()) {
        let b = m.to_bytes();
        for i in 0..b.len() {
            for v in [0u8, 1, 2, 3, 0x7f, 0x80, 0xff, b[i] ^ 1] {
                let mut c = b.clone();
                c[i] = v;
                if let Ok(d) = Message::from_bytes(&c) {
                    prop_assert_eq!(d.to_bytes(), c, "byte {} set to {}", i, v);
                }
            }
        }
    }

    #[test]
    fn appended_bytes_are_refused(m in message(), extra in vec(any::<u8>(), 1..8)) {
        let mut b = m.to_bytes();
        b.extend_from_slice(&extra);
        prop_assert_eq!(
            Message::from_bytes(&b),
            Err(DecodeError::TrailingBytes { count: extra.len() })
        );
    }

    #[test]
    fn every_strict_prefix_is_refused(m in message(), cut in any::<prop::sample::Index>()) {
        let b = m.to_bytes();
        let keep = cut.index(b.len());
        prop_assert!(Message::from_bytes(&b[..keep]).is_err());
    }

    /// A signed digest changes with every field it covers, and not with the signature.
    #[test]
    fn digests_cover_every_signed_field(r in request(), other in sig()) {
        let mut changed = r.clone();
        changed.nonce = r.nonce.wrapping_add(1);
        prop_assert_ne!(changed.digest(), r.digest());
        let mut resigned = r.clone();
        resigned.sig = other;
        prop_assert_eq!(resigned.digest(), r.digest());
    }
}
