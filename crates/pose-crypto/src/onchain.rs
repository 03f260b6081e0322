//! Every digest the manager contract checks, and the incremental transaction hash
//! (docs/protocol.md sections 2 and 3). This module is the only place in Rust that computes
//! them.
//!
//! ```text
//! digest = keccak256(abi.encode(TAG, block.chainid, address(manager), field_1, ..., field_n))
//! TAG    = keccak256("<tag string>")
//! ```
//!
//! `abi.encode` of static values is one 32-byte word per value: unsigned integers big-endian,
//! addresses left-padded with zeros, `bytes32` as is. Variable-length data enters a digest as
//! its keccak256.

use pose_types::{Address, Amount, ContractId, EncPublicKey, Epoch, Hash32, Seq};

use crate::hash::keccak256;

/// Tag string of the vendor's attestation digest.
pub const ATTESTATION_TAG: &str = "pose.attestation.v1";
/// Tag string of a member's creation acceptance.
pub const ACCEPT_TAG: &str = "pose.accept.v1";
/// Tag string of the executor's challenge response.
pub const RESPOND_TAG: &str = "pose.respond.v1";
/// Tag string of the executor's withdrawal authorisation.
pub const WITHDRAW_TAG: &str = "pose.withdraw.v1";
/// Tag string of the executor's member challenge.
pub const CHALLENGE_MEMBER_TAG: &str = "pose.challenge-member.v1";
/// Tag string of a member's answer to a member challenge.
pub const RESPOND_MEMBER_TAG: &str = "pose.respond-member.v2";
/// Tag string of the executor's termination.
pub const TERMINATE_TAG: &str = "pose.terminate.v1";
/// Tag string of a contract's initial txHash.
pub const TXHASH_TAG: &str = "pose.txhash.v1";
/// Tag string of a pool member reviving a crashed contract.
pub const REVIVE_TAG: &str = "pose.revive.v1";

/// The chain and the manager deployment every digest is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Domain {
    /// `block.chainid`.
    pub chain_id: u64,
    /// `address(manager)`.
    pub manager: Address,
}

/// Builds an `abi.encode` of static words.
#[derive(Default)]
struct AbiWords(Vec<u8>);

impl AbiWords {
    fn uint(mut self, v: u128) -> Self {
        self.0.extend_from_slice(&[0u8; 16]);
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(self, v: u64) -> Self {
        self.uint(v.into())
    }
    fn address(mut self, a: &Address) -> Self {
        self.0.extend_from_slice(&[0u8; 12]);
        self.0.extend_from_slice(&a.0);
        self
    }
    fn bytes32(mut self, b: &[u8; 32]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn hash(self) -> Hash32 {
        keccak256(&self.0)
    }
}

fn tagged(tag: &str, d: &Domain) -> AbiWords {
    AbiWords::default()
        .bytes32(&keccak256(tag.as_bytes()).0)
        .u64(d.chain_id)
        .address(&d.manager)
}

/// The vendor's attestation digest: `measurement, enclave, encPubKey`.
pub fn attestation_digest(
    d: &Domain,
    measurement: &Hash32,
    enclave: &Address,
    enc_pubkey: &EncPublicKey,
) -> Hash32 {
    tagged(ATTESTATION_TAG, d)
        .bytes32(&measurement.0)
        .address(enclave)
        .bytes32(&enc_pubkey.0)
        .hash()
}

/// A member's creation acceptance: `cid, codeHash, contractEncKey, initStateHash, txHash`.
pub fn accept_digest(
    d: &Domain,
    cid: ContractId,
    code_hash: &Hash32,
    contract_enc_key: &EncPublicKey,
    init_state_hash: &Hash32,
    tx_hash: &Hash32,
) -> Hash32 {
    tagged(ACCEPT_TAG, d)
        .u64(cid.0)
        .bytes32(&code_hash.0)
        .bytes32(&contract_enc_key.0)
        .bytes32(&init_state_hash.0)
        .bytes32(&tx_hash.0)
        .hash()
}

/// The executor's challenge response: `cid, challengeId, epoch, keccak256(encryptedOutput),
/// seq, stateHash, txHash`.
#[allow(clippy::too_many_arguments)]
pub fn respond_digest(
    d: &Domain,
    cid: ContractId,
    challenge_id: u64,
    epoch: Epoch,
    encrypted_output: &[u8],
    seq: Seq,
    state_hash: &Hash32,
    tx_hash: &Hash32,
) -> Hash32 {
    tagged(RESPOND_TAG, d)
        .u64(cid.0)
        .u64(challenge_id)
        .u64(epoch.0)
        .bytes32(&keccak256(encrypted_output).0)
        .u64(seq.0)
        .bytes32(&state_hash.0)
        .bytes32(&tx_hash.0)
        .hash()
}

/// The executor's withdrawal: `cid, epoch, recipient, amount, nonce, txHash`.
pub fn withdraw_digest(
    d: &Domain,
    cid: ContractId,
    epoch: Epoch,
    recipient: &Address,
    amount: Amount,
    nonce: u64,
    tx_hash: &Hash32,
) -> Hash32 {
    tagged(WITHDRAW_TAG, d)
        .u64(cid.0)
        .u64(epoch.0)
        .address(recipient)
        .uint(amount.0)
        .u64(nonce)
        .bytes32(&tx_hash.0)
        .hash()
}

/// The executor's member challenge: `cid, epoch, member, txHash`.
pub fn challenge_member_digest(
    d: &Domain,
    cid: ContractId,
    epoch: Epoch,
    member: &Address,
    tx_hash: &Hash32,
) -> Hash32 {
    tagged(CHALLENGE_MEMBER_TAG, d)
        .u64(cid.0)
        .u64(epoch.0)
        .address(member)
        .bytes32(&tx_hash.0)
        .hash()
}

/// A member's answer to a member challenge: `cid, epoch, member, seq, stateHash, txHash`,
/// where `(seq, stateHash)` is the state the member holds (the answer is also its ack).
pub fn respond_member_digest(
    d: &Domain,
    cid: ContractId,
    epoch: Epoch,
    member: &Address,
    held: (Seq, &Hash32),
    tx_hash: &Hash32,
) -> Hash32 {
    tagged(RESPOND_MEMBER_TAG, d)
        .u64(cid.0)
        .u64(epoch.0)
        .address(member)
        .u64(held.0 .0)
        .bytes32(&held.1 .0)
        .bytes32(&tx_hash.0)
        .hash()
}

/// `pose.revive.v1`: a pool member of a crashed contract takes over as executor with the state
/// `held = (seq, state_hash)` it holds.
pub fn revive_digest(
    d: &Domain,
    cid: ContractId,
    epoch: Epoch,
    member: &Address,
    held: (Seq, &Hash32),
    tx_hash: &Hash32,
) -> Hash32 {
    tagged(REVIVE_TAG, d)
        .u64(cid.0)
        .u64(epoch.0)
        .address(member)
        .u64(held.0 .0)
        .bytes32(&held.1 .0)
        .bytes32(&tx_hash.0)
        .hash()
}

/// `keccak256(abi.encode(address[] recipients, uint256[] amounts))`.
pub fn payouts_hash(payouts: &[(Address, Amount)]) -> Hash32 {
    let n = payouts.len() as u128;
    // Head: the two arrays' offsets; then each array: its length and its items.
    let mut w = AbiWords::default()
        .uint(0x40)
        .uint(0x40 + 0x20 * (1 + n))
        .uint(n);
    for (a, _) in payouts {
        w = w.address(a);
    }
    w = w.uint(n);
    for (_, v) in payouts {
        w = w.uint(v.0);
    }
    w.hash()
}

/// The executor's termination: `cid, epoch, payouts_hash(payouts), txHash`.
pub fn terminate_digest(
    d: &Domain,
    cid: ContractId,
    epoch: Epoch,
    payouts: &[(Address, Amount)],
    tx_hash: &Hash32,
) -> Hash32 {
    tagged(TERMINATE_TAG, d)
        .u64(cid.0)
        .u64(epoch.0)
        .bytes32(&payouts_hash(payouts).0)
        .bytes32(&tx_hash.0)
        .hash()
}

/// A contract's txHash before any transaction:
/// `keccak256(abi.encode(keccak256("pose.txhash.v1"), chainid, manager, cid))`.
pub fn tx_hash_initial(d: &Domain, cid: ContractId) -> Hash32 {
    tagged(TXHASH_TAG, d).u64(cid.0).hash()
}

/// One manager transaction as the incremental txHash sees it: everything the chain shows an
/// enclave about it (docs/protocol.md section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxStep<'a> {
    /// `msg.data`, byte for byte.
    pub calldata: &'a [u8],
    /// `msg.sender`.
    pub sender: &'a Address,
    /// `msg.value`.
    pub value: Amount,
    /// `block.number` of the block that holds the transaction.
    pub block_number: u64,
    /// `block.timestamp` of that block, in seconds.
    pub block_time_secs: u64,
    /// What the chain decided that the calldata cannot show: [`tx_outcome_pool`],
    /// [`tx_outcome_replacement`], [`tx_outcome_challenge`], or [`Hash32::default`] (zero).
    pub outcome: Hash32,
}

/// The txHash after one more manager transaction:
/// `keccak256(abi.encode(prev, keccak256(calldata), sender, value, block.number,
/// block.timestamp, outcome))`.
pub fn tx_hash_extend(prev: &Hash32, step: &TxStep<'_>) -> Hash32 {
    AbiWords::default()
        .bytes32(&prev.0)
        .bytes32(&keccak256(step.calldata).0)
        .address(step.sender)
        .uint(step.value.0)
        .u64(step.block_number)
        .u64(step.block_time_secs)
        .bytes32(&step.outcome.0)
        .hash()
}

/// The outcome of `createContract`: `keccak256(abi.encode(address[] pool))`, the drawn pool
/// in slot order.
pub fn tx_outcome_pool(pool: &[Address]) -> Hash32 {
    // A dynamic array alone: its offset (one word, 0x20), its length, one word per element.
    let mut w = AbiWords::default().uint(32).uint(pool.len() as u128);
    for a in pool {
        w = w.address(a);
    }
    w.hash()
}

/// The outcome of `removeMember`: `keccak256(abi.encode(replacement))`, with `address(0)`
/// when no enclave was left to draw and the pool shrank.
pub fn tx_outcome_replacement(replacement: Option<&Address>) -> Hash32 {
    AbiWords::default()
        .address(replacement.unwrap_or(&Address([0; 20])))
        .hash()
}

/// The outcome of `challenge`: `bytes32(uint256(challengeId))`.
pub fn tx_outcome_challenge(challenge_id: u64) -> Hash32 {
    let mut out = [0u8; 32];
    out[24..].copy_from_slice(&challenge_id.to_be_bytes());
    Hash32(out)
}

#[cfg(test)]
mod tests {
    //! Vectors made with foundry's `cast` 1.7.1 (the commands are in
    //! `tests/vectors/onchain.sh`, and `tests/vectors/onchain.txt` holds their output).

    use super::*;

    fn vectors() -> std::collections::BTreeMap<String, String> {
        include_str!("../tests/vectors/onchain.txt")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    fn h(b: u8) -> Hash32 {
        Hash32([b; 32])
    }

    fn domain() -> Domain {
        Domain {
            chain_id: 31337,
            manager: Address([0xaa; 20]),
        }
    }

    fn hex32(h: Hash32) -> String {
        format!("{h:?}")
    }

    #[test]
    fn digests_match_cast_abi_encode() {
        let v = vectors();
        let d = domain();
        let cid = ContractId(7);
        let check = |name: &str, got: Hash32| {
            assert_eq!(
                hex32(got),
                v[name],
                "digest {name} differs from the cast vector"
            );
        };
        check(
            "attestation",
            attestation_digest(&d, &h(1), &Address([0xbb; 20]), &EncPublicKey([2; 32])),
        );
        check(
            "accept",
            accept_digest(&d, cid, &h(3), &EncPublicKey([4; 32]), &h(5), &h(6)),
        );
        check(
            "respond",
            respond_digest(&d, cid, 9, Epoch(2), b"output", Seq(11), &h(7), &h(8)),
        );
        check(
            "withdraw",
            withdraw_digest(
                &d,
                cid,
                Epoch(2),
                &Address([0xcc; 20]),
                Amount(u128::MAX),
                5,
                &h(9),
            ),
        );
        check(
            "challenge_member",
            challenge_member_digest(&d, cid, Epoch(3), &Address([0xdd; 20]), &h(10)),
        );
        check(
            "respond_member",
            respond_member_digest(
                &d,
                cid,
                Epoch(3),
                &Address([0xdd; 20]),
                (Seq(12), &h(11)),
                &h(10),
            ),
        );
        let payouts = [
            (Address([0x01; 20]), Amount(1000)),
            (Address([0x02; 20]), Amount(2)),
        ];
        check("payouts", payouts_hash(&payouts));
        check("payouts_empty", payouts_hash(&[]));
        check(
            "terminate",
            terminate_digest(&d, cid, Epoch(4), &payouts, &h(12)),
        );
        check("txhash_initial", tx_hash_initial(&d, cid));
        let pool = [
            Address([0x01; 20]),
            Address([0x02; 20]),
            Address([0x03; 20]),
        ];
        check("outcome_pool", tx_outcome_pool(&pool));
        check(
            "outcome_replacement",
            tx_outcome_replacement(Some(&Address([0x04; 20]))),
        );
        check("outcome_replacement_none", tx_outcome_replacement(None));
        check("outcome_challenge", tx_outcome_challenge(9));
        check(
            "txhash_extend",
            tx_hash_extend(
                &tx_hash_initial(&d, cid),
                &TxStep {
                    calldata: &[0xde, 0xad, 0xbe, 0xef],
                    sender: &Address([0xee; 20]),
                    value: Amount(10u128.pow(18)),
                    block_number: 1234,
                    block_time_secs: 1_700_000_000,
                    outcome: tx_outcome_pool(&pool),
                },
            ),
        );
    }

    #[test]
    fn every_fact_of_a_transaction_changes_the_tx_hash() {
        let prev = h(1);
        let sender = Address([2; 20]);
        let other = Address([3; 20]);
        let base = TxStep {
            calldata: b"call",
            sender: &sender,
            value: Amount(5),
            block_number: 10,
            block_time_secs: 1000,
            outcome: tx_outcome_challenge(1),
        };
        let honest = tx_hash_extend(&prev, &base);
        for changed in [
            TxStep {
                calldata: b"calm",
                ..base
            },
            TxStep {
                sender: &other,
                ..base
            },
            TxStep {
                value: Amount(6),
                ..base
            },
            TxStep {
                block_number: 11,
                ..base
            },
            TxStep {
                block_time_secs: 999,
                ..base
            },
            TxStep {
                outcome: tx_outcome_challenge(2),
                ..base
            },
            TxStep {
                outcome: Hash32::default(),
                ..base
            },
        ] {
            assert_ne!(tx_hash_extend(&prev, &changed), honest, "{changed:?}");
        }
        assert_ne!(tx_hash_extend(&h(2), &base), honest);
        // The outcomes of different decisions differ.
        let (a, b) = (Address([4; 20]), Address([5; 20]));
        assert_ne!(tx_outcome_pool(&[a, b]), tx_outcome_pool(&[b, a]));
        assert_ne!(tx_outcome_pool(&[a]), tx_outcome_pool(&[a, b]));
        assert_ne!(
            tx_outcome_replacement(Some(&a)),
            tx_outcome_replacement(None)
        );
        assert_ne!(tx_outcome_replacement(None), Hash32::default());
    }

    #[test]
    fn every_field_changes_the_digest() {
        let d = domain();
        let base = withdraw_digest(
            &d,
            ContractId(1),
            Epoch(1),
            &Address([1; 20]),
            Amount(5),
            1,
            &h(1),
        );
        let other_chain = Domain { chain_id: 1, ..d };
        let other_manager = Domain {
            manager: Address([0xab; 20]),
            ..d
        };
        for changed in [
            withdraw_digest(
                &other_chain,
                ContractId(1),
                Epoch(1),
                &Address([1; 20]),
                Amount(5),
                1,
                &h(1),
            ),
            withdraw_digest(
                &other_manager,
                ContractId(1),
                Epoch(1),
                &Address([1; 20]),
                Amount(5),
                1,
                &h(1),
            ),
            withdraw_digest(
                &d,
                ContractId(2),
                Epoch(1),
                &Address([1; 20]),
                Amount(5),
                1,
                &h(1),
            ),
            withdraw_digest(
                &d,
                ContractId(1),
                Epoch(2),
                &Address([1; 20]),
                Amount(5),
                1,
                &h(1),
            ),
            withdraw_digest(
                &d,
                ContractId(1),
                Epoch(1),
                &Address([2; 20]),
                Amount(5),
                1,
                &h(1),
            ),
            withdraw_digest(
                &d,
                ContractId(1),
                Epoch(1),
                &Address([1; 20]),
                Amount(6),
                1,
                &h(1),
            ),
            withdraw_digest(
                &d,
                ContractId(1),
                Epoch(1),
                &Address([1; 20]),
                Amount(5),
                2,
                &h(1),
            ),
            withdraw_digest(
                &d,
                ContractId(1),
                Epoch(1),
                &Address([1; 20]),
                Amount(5),
                1,
                &h(2),
            ),
        ] {
            assert_ne!(base, changed);
        }
        // Same fields, different tag: challenge-member and respond-member never collide.
        assert_ne!(
            challenge_member_digest(&d, ContractId(1), Epoch(1), &Address([1; 20]), &h(1)),
            respond_member_digest(
                &d,
                ContractId(1),
                Epoch(1),
                &Address([1; 20]),
                (Seq(0), &Hash32::default()),
                &h(1)
            )
        );
    }
}
