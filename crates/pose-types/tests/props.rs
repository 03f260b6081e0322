//! Property tests of the canonical encoding: every message round-trips, decoding arbitrary
//! bytes never panics, and any byte string that decodes re-encodes to exactly itself.

use pose_types::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes<const MAX: usize>() -> impl Strategy<Value = BoundedBytes<MAX>> {
    vec(any::<u8>(), 0..48.min(MAX + 1)).prop_map(|v| BoundedBytes::new(v).unwrap())
}

fn list<T: core::fmt::Debug, const MAX: usize>(
    item: impl Strategy<Value = T>,
) -> impl Strategy<Value = BoundedVec<T, MAX>> {
    vec(item, 0..5.min(MAX + 1)).prop_map(|v| BoundedVec::new(v).unwrap())
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address)
}
fn hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}
fn enc_key() -> impl Strategy<Value = EncPublicKey> {
    any::<[u8; 32]>().prop_map(EncPublicKey)
}
fn sig() -> impl Strategy<Value = SignatureBytes> {
    vec(any::<u8>(), 65).prop_map(|v| SignatureBytes(v.try_into().unwrap()))
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

fn request() -> impl Strategy<Value = Request> {
    (cid(), bytes(), enc_key(), any::<u64>(), address(), sig()).prop_map(
        |(cid, encrypted_input, reply_key, nonce, user, signature)| Request {
            cid,
            encrypted_input,
            reply_key,
            nonce,
            user,
            signature,
        },
    )
}

fn query() -> impl Strategy<Value = Query> {
    request().prop_map(|r| Query {
        cid: r.cid,
        encrypted_input: r.encrypted_input,
        reply_key: r.reply_key,
        nonce: r.nonce,
        user: r.user,
        signature: r.signature,
    })
}

fn query_reply() -> impl Strategy<Value = QueryReply> {
    (cid(), epoch(), seq(), hash(), hash(), bytes()).prop_map(
        |(cid, epoch, seq, state_hash, query_digest, encrypted_output)| QueryReply {
            cid,
            epoch,
            seq,
            state_hash,
            query_digest,
            encrypted_output,
        },
    )
}

fn chain_facts() -> impl Strategy<Value = ChainFacts> {
    let deposit =
        (address(), any::<u128>(), hash()).prop_map(|(depositor, a, tx_hash)| DepositCredit {
            depositor,
            amount: Amount(a),
            tx_hash,
        });
    (
        any::<u64>(),
        any::<u64>(),
        hash(),
        list(deposit),
        list(any::<u64>()),
    )
        .prop_map(
            |(block_number, block_time_secs, tx_hash, deposits, challenge_ids)| ChainFacts {
                block_number,
                block_time_secs,
                tx_hash,
                deposits,
                challenge_ids,
            },
        )
}

fn state_update() -> impl Strategy<Value = StateUpdate> {
    let payload = prop_oneof![
        bytes().prop_map(StatePayload::Full),
        bytes().prop_map(StatePayload::Delta)
    ];
    (
        (cid(), epoch(), seq(), hash(), hash()),
        payload,
        list(hash()),
        chain_facts(),
    )
        .prop_map(
            |(
                (cid, epoch, seq, prev_state_hash, new_state_hash),
                state,
                request_digests,
                chain,
            )| {
                StateUpdate {
                    cid,
                    epoch,
                    seq,
                    prev_state_hash,
                    new_state_hash,
                    state,
                    request_digests,
                    chain,
                }
            },
        )
}

fn ack() -> impl Strategy<Value = Ack> {
    (cid(), epoch(), seq(), hash()).prop_map(|(cid, epoch, seq, state_hash)| Ack {
        cid,
        epoch,
        seq,
        state_hash,
    })
}

fn receipt() -> impl Strategy<Value = Receipt> {
    (cid(), epoch(), seq(), hash(), hash(), hash(), sig()).prop_map(
        |(cid, epoch, seq, request_digest, output_digest, state_hash, signature)| Receipt {
            cid,
            epoch,
            seq,
            request_digest,
            output_digest,
            state_hash,
            signature,
        },
    )
}

fn reply() -> impl Strategy<Value = Reply> {
    (receipt(), bytes()).prop_map(|(receipt, encrypted_output)| Reply {
        receipt,
        encrypted_output,
    })
}

fn rejection() -> impl Strategy<Value = Rejection> {
    (
        cid(),
        address(),
        any::<u64>(),
        hash(),
        proptest::sample::select(RejectCode::ALL.to_vec()),
    )
        .prop_map(|(cid, user, nonce, request_digest, code)| Rejection {
            cid,
            user,
            nonce,
            request_digest,
            code,
        })
}

fn creation_offer() -> impl Strategy<Value = CreationOffer> {
    (
        (cid(), address(), hash(), bytes(), enc_key()),
        (bytes(), hash(), bytes(), hash()),
    )
        .prop_map(
            |(
                (cid, member, code_hash, code, contract_enc_key),
                (sealed_keys, init_state_hash, encrypted_state, tx_hash),
            )| CreationOffer {
                cid,
                member,
                code_hash,
                code,
                contract_enc_key,
                sealed_keys,
                init_state_hash,
                encrypted_state,
                tx_hash,
            },
        )
}

fn acceptance() -> impl Strategy<Value = Acceptance> {
    (cid(), address(), hash(), enc_key(), hash(), hash(), sig()).prop_map(
        |(cid, member, code_hash, contract_enc_key, init_state_hash, tx_hash, signature)| {
            Acceptance {
                cid,
                member,
                code_hash,
                contract_enc_key,
                init_state_hash,
                tx_hash,
                signature,
            }
        },
    )
}

fn state_transfer() -> impl Strategy<Value = StateTransfer> {
    let reason = prop_oneof![
        Just(TransferReason::ExecutorChange),
        Just(TransferReason::NewMember),
        Just(TransferReason::CatchUp)
    ];
    (
        (cid(), address(), reason, epoch(), seq(), hash()),
        (
            hash(),
            hash(),
            proptest::option::of(bytes()),
            proptest::option::of(bytes()),
            bytes(),
        ),
    )
        .prop_map(
            |(
                (cid, recipient, reason, epoch, seq, state_hash),
                (tx_hash, code_hash, code, sealed_keys, encrypted_state),
            )| StateTransfer {
                cid,
                recipient,
                reason,
                epoch,
                seq,
                state_hash,
                tx_hash,
                code_hash,
                code,
                sealed_keys,
                encrypted_state,
            },
        )
}

fn sync_request() -> impl Strategy<Value = SyncRequest> {
    (cid(), epoch(), seq(), hash()).prop_map(|(cid, epoch, have_seq, have_state_hash)| {
        SyncRequest {
            cid,
            epoch,
            have_seq,
            have_state_hash,
        }
    })
}

/// Every message kind except the signed envelope.
fn unsigned_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        request().prop_map(Message::from),
        query().prop_map(Message::from),
        query_reply().prop_map(Message::from),
        state_update().prop_map(Message::from),
        ack().prop_map(Message::from),
        reply().prop_map(Message::from),
        rejection().prop_map(Message::from),
        creation_offer().prop_map(Message::from),
        acceptance().prop_map(Message::from),
        state_transfer().prop_map(Message::from),
        sync_request().prop_map(Message::from),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let signed = (address(), unsigned_message(), sig()).prop_map(|(sender, inner, signature)| {
        Message::Signed(SignedEnvelope {
            sender,
            payload: PayloadBytes::new(inner.to_bytes()).unwrap(),
            signature,
        })
    });
    prop_oneof![10 => unsigned_message(), 1 => signed]
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
        prop_assert_eq!(Message::from_bytes(&b), Ok(m.clone()));
        if let Message::Signed(env) = &m {
            let inner = env.message().unwrap();
            prop_assert_eq!(inner.to_bytes(), env.payload.as_slice().to_vec());
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics_and_is_canonical(b in vec(any::<u8>(), 0..512)) {
        if let Ok(m) = Message::from_bytes(&b) {
            prop_assert_eq!(m.to_bytes(), b);
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
    /// every tag byte (kind, option, state payload, transfer reason, reject code) and every
    /// length prefix, which random flips hit only rarely.
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
}
