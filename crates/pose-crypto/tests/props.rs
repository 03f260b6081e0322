//! Property tests: signatures recover their signer and nothing else; AEAD, sealed boxes and
//! channels open only with the right key, the right associated data and unaltered bytes; the
//! replay window accepts each counter at most once.

use pose_crypto::aead::{associated_data, seal_to, Purpose};
use pose_crypto::*;
use pose_types::*;
use proptest::collection::vec;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn signing_key() -> impl Strategy<Value = SigningKey> {
    any::<[u8; 32]>().prop_filter_map("valid secp256k1 scalar", |b| {
        SigningKey::from_bytes(&b).ok()
    })
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Flips one bit of `bytes` chosen by `at`.
fn flip(mut bytes: Vec<u8>, at: prop::sample::Index, bit: u8) -> Vec<u8> {
    let i = at.index(bytes.len());
    bytes[i] ^= 1 << (bit % 8);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn signatures_recover_their_signer(k in signing_key(), d in any::<[u8; 32]>()) {
        let sig = k.sign_digest(&Hash32(d));
        prop_assert!(sig.0[64] == 27 || sig.0[64] == 28);
        prop_assert_eq!(recover(&Hash32(d), &sig), Ok(k.address()));
        prop_assert_eq!(verify(&Hash32(d), &sig, &k.address()), Ok(()));
    }

    #[test]
    fn signatures_by_another_key_or_over_another_digest_are_refused(
        k in signing_key(),
        other in signing_key(),
        d in any::<[u8; 32]>(),
        d2 in any::<[u8; 32]>(),
    ) {
        prop_assume!(k.address() != other.address() && d != d2);
        let sig = other.sign_digest(&Hash32(d));
        let wrong_signer = matches!(
            verify(&Hash32(d), &sig, &k.address()),
            Err(CryptoError::WrongSigner { .. })
        );
        prop_assert!(wrong_signer);
        let sig = k.sign_digest(&Hash32(d));
        prop_assert!(verify(&Hash32(d2), &sig, &k.address()).is_err());
    }

    #[test]
    fn altered_signatures_are_refused(
        k in signing_key(),
        d in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        bit in any::<u8>(),
    ) {
        let sig = k.sign_digest(&Hash32(d));
        let bad = flip(sig.0.to_vec(), at, bit);
        let bad = SignatureBytes(bad.try_into().unwrap());
        prop_assert!(verify(&Hash32(d), &bad, &k.address()).is_err());
    }

    #[test]
    fn aead_opens_only_unaltered_with_the_same_key_and_associated_data(
        key in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        pt in vec(any::<u8>(), 0..256),
        cid in any::<u64>(),
        epoch in any::<u64>(),
        seq in any::<u64>(),
        seed in any::<u64>(),
        at in any::<prop::sample::Index>(),
        bit in any::<u8>(),
    ) {
        prop_assume!(key != other && seq != u64::MAX);
        let k = AeadKey::from_bytes(key);
        let ad = associated_data(Purpose::State, ContractId(cid), Epoch(epoch), Seq(seq));
        let ct = k.encrypt(&ad, &pt, &mut rng(seed));
        prop_assert_eq!(k.decrypt(&ad, &ct), Ok(pt.clone()));
        prop_assert_eq!(
            AeadKey::from_bytes(other).decrypt(&ad, &ct),
            Err(CryptoError::DecryptFailed)
        );
        let next = associated_data(Purpose::State, ContractId(cid), Epoch(epoch), Seq(seq + 1));
        prop_assert_eq!(k.decrypt(&next, &ct), Err(CryptoError::DecryptFailed));
        let sealed_ad = associated_data(Purpose::Sealed, ContractId(cid), Epoch(epoch), Seq(seq));
        prop_assert_eq!(k.decrypt(&sealed_ad, &ct), Err(CryptoError::DecryptFailed));
        prop_assert_eq!(
            k.decrypt(&ad, &flip(ct.clone(), at, bit)),
            Err(CryptoError::DecryptFailed)
        );
        prop_assert!(k.decrypt(&ad, &ct[..ct.len() - 1]).is_err());
    }

    #[test]
    fn sealed_boxes_open_only_with_the_recipient_key(
        seed in any::<u64>(),
        pt in vec(any::<u8>(), 0..256),
        ad in vec(any::<u8>(), 0..32),
        at in any::<prop::sample::Index>(),
        bit in any::<u8>(),
    ) {
        let mut r = rng(seed);
        let recipient = EncSecretKey::random(&mut r);
        let stranger = EncSecretKey::random(&mut r);
        let boxed = seal_to(&recipient.public(), &ad, &pt, &mut r).unwrap();
        prop_assert_eq!(boxed.len(), pt.len() + aead::SEALED_BOX_OVERHEAD_BYTES);
        prop_assert_eq!(recipient.open_sealed(&ad, &boxed), Ok(pt.clone()));
        prop_assert!(stranger.open_sealed(&ad, &boxed).is_err());
        let mut other_ad = ad.clone();
        other_ad.push(0);
        prop_assert!(recipient.open_sealed(&other_ad, &boxed).is_err());
        prop_assert!(recipient.open_sealed(&ad, &flip(boxed.clone(), at, bit)).is_err());
    }

    #[test]
    fn channels_deliver_each_message_once(
        seed in any::<u64>(),
        msgs in vec(vec(any::<u8>(), 0..64), 1..8),
        order in Just(()).prop_perturb(|_, mut r| r.next_u64()),
    ) {
        let mut r = rng(seed);
        let a = EncSecretKey::random(&mut r);
        let b = EncSecretKey::random(&mut r);
        let mut tx = Channel::establish(&a, &b.public(), b"ctx").unwrap();
        let mut rx = Channel::establish(&b, &a.public(), b"ctx").unwrap();
        let sealed: Vec<Vec<u8>> = msgs.iter().map(|m| tx.seal(b"ad", m)).collect();
        // Deliver in a shuffled order: all open once, then every replay is refused.
        let mut idx: Vec<usize> = (0..sealed.len()).collect();
        let mut o = order;
        for i in (1..idx.len()).rev() {
            idx.swap(i, (o % (i as u64 + 1)) as usize);
            o = o.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15;
        }
        for &i in &idx {
            prop_assert_eq!(rx.open(b"ad", &sealed[i]), Ok(msgs[i].clone()));
        }
        for s in &sealed {
            let replayed = matches!(rx.open(b"ad", s), Err(CryptoError::Replay(_)));
            prop_assert!(replayed);
        }
    }

    #[test]
    fn replay_window_accepts_each_counter_at_most_once(
        counters in vec(0u64..400, 0..200),
    ) {
        let mut w = ReplayWindow::new();
        let mut accepted = std::collections::BTreeSet::new();
        for c in counters {
            match w.accept(c) {
                Ok(()) => prop_assert!(accepted.insert(c), "counter {} accepted twice", c),
                Err(ReplayError::Replayed(n)) => prop_assert!(accepted.contains(&n)),
                Err(ReplayError::TooOld { counter, oldest }) => {
                    prop_assert!(counter < oldest);
                    prop_assert_eq!(Some(oldest + replay::REPLAY_WINDOW_SIZE - 1), w.highest());
                }
            }
        }
    }
}
