//! The codec's selectors, its exact layout, and the leniency and strictness it shares with the
//! manager's decoder (solc 0.8, ABI coder v2, `calldata` parameters). The comparison with
//! alloy's `sol!` bindings is in `tests/abi_differential.rs`.

use super::words::{uint, HEAD_START};
use super::*;

fn w(v: u128) -> [u8; 32] {
    uint(v)
}

fn sig65(b: u8) -> Vec<u8> {
    vec![b; 65]
}

fn complete_creation(sigs: Vec<Vec<u8>>) -> ManagerCall {
    ManagerCall::CompleteCreation {
        cid: ContractId(7),
        contract_key: [2; 32],
        init_state_hash: Hash32([3; 32]),
        tx_hash: Hash32([4; 32]),
        sigs,
    }
}

fn challenge(request: Vec<u8>) -> ManagerCall {
    ManagerCall::Challenge {
        cid: ContractId(7),
        request,
    }
}

/// Overwrites the word at argument position `at` (bytes after the selector).
fn set_word(data: &mut [u8], at: usize, word: [u8; 32]) {
    data[HEAD_START + at..HEAD_START + at + 32].copy_from_slice(&word);
}

#[test]
fn selectors_are_the_keccak_of_the_signatures() {
    for (signature, selector) in sel::ALL {
        assert_eq!(
            pose_crypto::keccak256(signature.as_bytes()).0[..4],
            selector,
            "{signature}"
        );
    }
}

#[test]
fn challenge_calldata_has_the_solidity_layout() {
    // challenge(7, 0x010203): selector, cid, offset 0x40, length 3, the bytes padded to a word.
    let data = encode(&challenge(vec![1, 2, 3]));
    let mut want = sel::CHALLENGE.1.to_vec();
    want.extend_from_slice(&w(7));
    want.extend_from_slice(&w(0x40));
    want.extend_from_slice(&w(3));
    want.extend_from_slice(&[1, 2, 3]);
    want.extend_from_slice(&[0; 29]);
    assert_eq!(data, want);
    // An empty `bytes` is its length word alone.
    assert_eq!(encode(&challenge(vec![])).len(), 4 + 3 * 32);
}

#[test]
fn bytes_array_calldata_has_the_solidity_layout() {
    let data = encode(&complete_creation(vec![vec![0xaa; 33], vec![]]));
    let args = &data[HEAD_START..];
    let word = |i: usize| &args[32 * i..32 * i + 32];
    assert_eq!(word(4), w(5 * 32)); // the array after the five head words
    assert_eq!(word(5), w(2)); // two elements
    assert_eq!(word(6), w(0x40)); // element offsets count from the first offset word
    assert_eq!(word(7), w(0x40 + 0x20 + 0x40)); // after element 0: length and two words
    assert_eq!(word(8), w(33));
    assert_eq!(word(11), w(0));
    assert_eq!(args.len(), 12 * 32);
}

#[test]
fn trailing_bytes_and_missing_padding_are_accepted() {
    let call = challenge(vec![1, 2, 3]);
    let data = encode(&call);
    let mut longer = data.clone();
    longer.extend_from_slice(&[0xff; 40]);
    assert_eq!(decode(&longer), Ok(call.clone()));
    // Only the value's own bytes must be present, not the zero padding of its last word.
    assert_eq!(decode(&data[..data.len() - 29]), Ok(call));
    assert!(matches!(
        decode(&data[..data.len() - 30]),
        Err(AbiError::LengthOutOfRange { .. })
    ));
}

#[test]
fn any_in_bounds_offset_is_accepted() {
    // Point `encryptedInput` at the cid word: it reads as a `bytes` of length 7.
    let mut data = encode(&challenge(vec![9; 40]));
    set_word(&mut data, 32, w(0));
    assert_eq!(
        decode(&data),
        Ok(challenge(data[HEAD_START + 32..HEAD_START + 39].to_vec()))
    );
    // Two dynamic arguments may share their bytes.
    let sig = sig65(5);
    let call = ManagerCall::Respond {
        cid: ContractId(1),
        challenge_id: 2,
        reply: sig.clone(),
        seq: Seq(3),
        state_hash: Hash32([4; 32]),
        tx_hash: Hash32([5; 32]),
        sig: vec![],
    };
    let mut data = encode(&call);
    let reply_offset = data[HEAD_START + 2 * 32..HEAD_START + 3 * 32].to_vec();
    data[HEAD_START + 6 * 32..HEAD_START + 7 * 32].copy_from_slice(&reply_offset);
    let ManagerCall::Respond { sig: got, .. } = decode(&data).unwrap() else {
        panic!("not a respond");
    };
    assert_eq!(got, sig);
}

#[test]
fn offsets_and_lengths_outside_the_calldata_are_refused() {
    // With an empty `bytes` last, the calldata's last word is a length of 0.
    let data = encode(&challenge(vec![]));
    let len = (data.len() - HEAD_START) as u128;
    for (offset, ok) in [
        (len - 32, true),
        (len - 31, false), // the length word does not fit
        (len, false),
        (u64::MAX as u128, false),
        (1u128 << 64, false),
        (u128::MAX, false),
    ] {
        let mut d = data.clone();
        set_word(&mut d, 32, w(offset));
        assert_eq!(decode(&d).is_ok(), ok, "offset {offset}");
    }
    // 40 bytes, padded to 64: a length up to 64 is in bounds, 65 is not.
    let data = encode(&challenge(vec![9; 40]));
    let mut d = data.clone();
    set_word(&mut d, 64, w(64));
    assert!(decode(&d).is_ok());
    let mut d = data.clone();
    set_word(&mut d, 64, w(65));
    assert!(matches!(
        decode(&d),
        Err(AbiError::LengthOutOfRange {
            what: "encryptedInput"
        })
    ));
    // A huge length is refused before anything is allocated.
    for huge in [u64::MAX as u128, 1 << 64, u128::MAX] {
        set_word(&mut d, 64, w(huge));
        assert!(matches!(decode(&d), Err(AbiError::LengthOutOfRange { .. })));
    }
    let mut d = data;
    d[HEAD_START + 32] = 1; // an offset word above 2^64
    assert!(matches!(decode(&d), Err(AbiError::OffsetOutOfRange { .. })));
}

#[test]
fn narrow_words_with_high_bits_are_refused() {
    let params = Params::default();
    let create = ManagerCall::CreateContract {
        code_hash: Hash32([1; 32]),
        params,
    };
    // (argument word, width) of createContract's Params fields.
    for (i, bits) in [(1, 8u32), (2, 32), (3, 32), (4, 16)] {
        let mut data = encode(&create);
        let lowest_dirty_byte = 31 - (bits as usize / 8);
        data[HEAD_START + 32 * i + lowest_dirty_byte] = 1;
        assert!(
            matches!(decode(&data), Err(AbiError::DirtyHighBits { bits: b, .. }) if b == bits),
            "word {i}"
        );
        data[HEAD_START + 32 * i + lowest_dirty_byte] = 0;
        data[HEAD_START + 32 * i] = 0x80;
        assert!(matches!(decode(&data), Err(AbiError::DirtyHighBits { .. })));
    }
    // cid (uint64) and member (address).
    let remove = ManagerCall::RemoveMember {
        cid: ContractId(u64::MAX),
        member: Address([0xff; 20]),
    };
    let data = encode(&remove);
    assert_eq!(decode(&data), Ok(remove));
    for at in [HEAD_START + 23, HEAD_START + 32 + 11] {
        let mut d = data.clone();
        d[at] = 1;
        assert!(matches!(decode(&d), Err(AbiError::DirtyHighBits { .. })));
    }
    // A recipient of a termination.
    let terminate = ManagerCall::Terminate {
        cid: ContractId(1),
        payouts: vec![PayoutLine {
            to: Address([1; 20]),
            amount_wei: 2,
        }],
        tx_hash: Hash32([3; 32]),
        sig: sig65(4),
    };
    let mut data = encode(&terminate);
    // Head of 5 words, then recipients: length, one address.
    data[HEAD_START + 6 * 32] = 1;
    assert!(matches!(
        decode(&data),
        Err(AbiError::DirtyHighBits {
            what: "recipients[i]",
            bits: 160
        })
    ));
}

#[test]
fn payout_counts_must_agree() {
    let terminate = ManagerCall::Terminate {
        cid: ContractId(1),
        payouts: vec![PayoutLine {
            to: Address([1; 20]),
            amount_wei: 2,
        }],
        tx_hash: Hash32([3; 32]),
        sig: vec![],
    };
    let mut data = encode(&terminate);
    // amounts: offset at head word 2; its length word says 0.
    let at = 32 * 5 + 2 * 32;
    set_word(&mut data, at, w(0));
    assert_eq!(
        decode(&data),
        Err(AbiError::PayoutCountMismatch {
            recipients: 1,
            amounts: 0
        })
    );
}

#[test]
fn bytes_array_elements_follow_solidity_tail_access() {
    let call = complete_creation(vec![sig65(1), sig65(2)]);
    let data = encode(&call);
    assert_eq!(decode(&data), Ok(call));
    // The array starts after the head (5 words): its length, then two element offsets.
    let base = 5 * 32 + 32; // first element offset word, counted from the arguments
    let elem0 = base; // where element 0's offset word is
    let neg = |m: u128| {
        // two's complement of m as a 256-bit word
        let mut word = [0xffu8; 32];
        word[16..].copy_from_slice(&(u128::MAX - m + 1).to_be_bytes());
        word
    };

    // A negative offset may point backwards, here at `txHash`'s word, which read as a length
    // (0x0404...) runs far past the end: refused.
    let mut d = data.clone();
    set_word(&mut d, elem0, neg(base as u128 - 3 * 32));
    assert!(matches!(decode(&d), Err(AbiError::LengthOutOfRange { .. })));

    // Backwards to a valid `bytes`: with a cid of 2, the cid word reads as a length of 2, and
    // element 0 becomes the two bytes after it (the contract key's).
    let mut d = data.clone();
    set_word(&mut d, 0, w(2));
    set_word(&mut d, elem0, neg(base as u128));
    let ManagerCall::CompleteCreation { sigs, cid, .. } = decode(&d).unwrap() else {
        panic!("not completeCreation");
    };
    assert_eq!(cid, ContractId(2));
    assert_eq!(sigs, vec![vec![2, 2], sig65(2)]);

    // Even into the selector: base + 4 bytes back from the arguments' start.
    let mut d = data.clone();
    set_word(&mut d, elem0, neg(base as u128 + 4));
    // The length word read there is the selector followed by the cid word's first 28 bytes:
    // far above 2^64, refused.
    assert!(matches!(decode(&d), Err(AbiError::LengthOutOfRange { .. })));

    // So negative it leaves the calldata: the EVM reads zeros, an empty `bytes`.
    for m in [base as u128 + 5 + HEAD_START as u128, 1 << 70, 1u128 << 127] {
        let mut d = data.clone();
        set_word(&mut d, elem0, neg(m));
        let ManagerCall::CompleteCreation { sigs, .. } = decode(&d).unwrap() else {
            panic!("not completeCreation");
        };
        assert_eq!(sigs, vec![vec![], sig65(2)], "offset -{m}");
    }
    let mut d = data.clone();
    set_word(&mut d, elem0, [0xff; 32]); // -1: one byte back, inside the calldata
    assert!(decode(&d).is_err());

    // Element 0 may share element 1's bytes.
    let mut d = data.clone();
    set_word(&mut d, elem0, w(192));
    let ManagerCall::CompleteCreation { sigs, .. } = decode(&d).unwrap() else {
        panic!("not completeCreation");
    };
    assert_eq!(sigs, vec![sig65(2), sig65(2)]);

    // A non-negative offset must leave room for the length word: with an empty last element,
    // the calldata's last word is a length of 0.
    let data2 = encode(&complete_creation(vec![sig65(1), vec![]]));
    let rest = (data2.len() - HEAD_START - base) as u128;
    let mut d = data2.clone();
    set_word(&mut d, elem0, w(rest - 32));
    let ManagerCall::CompleteCreation { sigs, .. } = decode(&d).unwrap() else {
        panic!("not completeCreation");
    };
    assert_eq!(sigs, vec![Vec::<u8>::new(), Vec::new()]);
    let mut d = data2;
    set_word(&mut d, elem0, w(rest - 31));
    assert!(matches!(decode(&d), Err(AbiError::OffsetOutOfRange { .. })));

    let mut d = data;
    set_word(&mut d, elem0, {
        let mut big = [0u8; 32];
        big[1] = 1; // positive, far beyond the calldata
        big
    });
    assert!(matches!(decode(&d), Err(AbiError::OffsetOutOfRange { .. })));
}

#[test]
fn short_or_foreign_calldata_is_refused() {
    assert_eq!(decode(&[1, 2]), Err(AbiError::NoSelector { len: 2 }));
    assert_eq!(
        decode(&[0xde, 0xad, 0xbe, 0xef]),
        Err(AbiError::UnknownSelector([0xde, 0xad, 0xbe, 0xef]))
    );
    let data = encode(&ManagerCall::TimeoutChallenge {
        cid: ContractId(1),
        challenge_id: 2,
    });
    assert_eq!(
        decode(&data[..data.len() - 1]),
        Err(AbiError::ShortHead {
            need: 4 + 64,
            have: 4 + 63
        })
    );
}
