//! The manager contract as the enclave sees it: the calls that concern a contract, the chain
//! transactions a host hands its enclave, the incremental transaction hash
//! (docs/protocol.md section 3) and the digests the manager checks (section 2).
//!
//! The calldata of a [`ManagerCall`] is the Solidity ABI calldata the manager contract executes
//! (module `abi`), so the enclave's `txHash` is the chain's, on the model chain of the simulator
//! and on a real one alike.

use pose_crypto::onchain;
use pose_types::codec::{encode_bytes, encode_count};
use pose_types::{
    Address, Amount, ContractId, Decode, EncPublicKey, Encode, Epoch, Hash32, Reader, Seq,
};

use crate::abi;
pub use crate::abi::AbiError;
use crate::decode::DecodeError;
use crate::limits::{ATTESTATION_BYTES_MAX, MESSAGE_BYTES_MAX, POOL_MEMBERS_MAX};

/// keccak256 of `data`.
pub fn keccak(data: &[u8]) -> Hash32 {
    pose_crypto::keccak256(data)
}

/// The deployment the enclave serves: chain id and manager address bind every digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Deployment {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The manager contract's address.
    pub manager: Address,
}

/// Per-contract parameters chosen at creation (the manager's `Params` struct).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Number of pool members (1..=32 on the manager).
    pub pool_size: u8,
    /// How long the executor has to answer a challenge on-chain, in seconds.
    pub response_period_secs: u32,
    /// How long a challenged member has to answer, in seconds.
    pub member_response_period_secs: u32,
    /// Confirmations a host waits for before it hands a transaction to its enclave.
    pub confirmations: u16,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            pool_size: 3,
            response_period_secs: 20,
            member_response_period_secs: 20,
            confirmations: 1,
        }
    }
}

/// A registered enclave as the chain records it (and as it appears in a pool).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Identity address.
    pub address: Address,
    /// Encryption public key.
    pub enc_key: [u8; 32],
    /// The vendor's attestation signature over (measurement, address, enc key).
    pub attestation: Vec<u8>,
}

/// Encoding: `address || enc_key || attestation (u32 length, at most ATTESTATION_BYTES_MAX)`.
impl Encode for Member {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.address.encode_to(out);
        self.enc_key.encode_to(out);
        encode_bytes(&self.attestation, out);
    }
}

impl Decode for Member {
    const MIN_ENCODED_BYTES: usize = 20 + 32 + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, pose_types::DecodeError> {
        Ok(Self {
            address: Address::decode_from(r)?,
            enc_key: r.take_array()?,
            attestation: r.bytes("attestation", ATTESTATION_BYTES_MAX)?.to_vec(),
        })
    }
}

/// A payout line of a termination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayoutLine {
    /// Recipient.
    pub to: Address,
    /// Amount in wei.
    pub amount_wei: u128,
}

/// A manager call that concerns one contract; its calldata (the Solidity ABI encoding,
/// [`ManagerCall::encode`]) extends the contract's `txHash`. Fields mirror the manager's
/// function arguments one to one; the epoch a signature binds is the chain's current one, so
/// it is not an argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagerCall {
    /// `createContract(codeHash, params)`.
    CreateContract {
        /// sha256 of the contract code.
        code_hash: Hash32,
        /// Pool size and timing parameters.
        params: Params,
    },
    /// `completeCreation(cid, contractEncKey, initStateHash, txHash, sigs)`.
    CompleteCreation {
        /// The contract.
        cid: ContractId,
        /// The contract's public input key.
        contract_key: [u8; 32],
        /// State hash after `init`.
        init_state_hash: Hash32,
        /// The `txHash` every acceptance signs.
        tx_hash: Hash32,
        /// One acceptance signature (`pose.accept.v1`) per pool member, in pool order.
        sigs: Vec<Vec<u8>>,
    },
    /// `deposit(cid)` payable.
    Deposit {
        /// The contract.
        cid: ContractId,
    },
    /// `challenge(cid, encryptedInput)`: a signed request forced on-chain.
    Challenge {
        /// The contract.
        cid: ContractId,
        /// The encoded signed request ([`crate::wire::Request`]).
        request: Vec<u8>,
    },
    /// `respond(cid, challengeId, encryptedOutput, seq, stateHash, txHash, sig)`.
    Respond {
        /// The contract.
        cid: ContractId,
        /// Which challenge.
        challenge_id: u64,
        /// The reply (as sent to the user off-chain).
        reply: Vec<u8>,
        /// State sequence number that answered it.
        seq: Seq,
        /// State hash at `seq`.
        state_hash: Hash32,
        /// The executor's `txHash`.
        tx_hash: Hash32,
        /// Executor signature (`pose.respond.v1`).
        sig: Vec<u8>,
    },
    /// `timeoutChallenge(cid, challengeId)`.
    TimeoutChallenge {
        /// The contract.
        cid: ContractId,
        /// Which challenge expired.
        challenge_id: u64,
    },
    /// `challengeMember(cid, member, txHash, sig)`.
    ChallengeMember {
        /// The contract.
        cid: ContractId,
        /// The silent member.
        member: Address,
        /// The executor's `txHash`.
        tx_hash: Hash32,
        /// Executor signature (`pose.challenge-member.v1`).
        sig: Vec<u8>,
    },
    /// `respondMember(cid, member, seq, stateHash, txHash, sig)`: the member is alive, and
    /// holds the state `(seq, state_hash)` (the executor takes this as its ack).
    RespondMember {
        /// The contract.
        cid: ContractId,
        /// The challenged member.
        member: Address,
        /// Sequence number of the state the member holds.
        seq: Seq,
        /// Hash of the state the member holds.
        state_hash: Hash32,
        /// The member's `txHash`.
        tx_hash: Hash32,
        /// Member signature (`pose.respond-member.v2`).
        sig: Vec<u8>,
    },
    /// `removeMember(cid, member)` after the member deadline.
    RemoveMember {
        /// The contract.
        cid: ContractId,
        /// The member to remove.
        member: Address,
    },
    /// `withdraw(cid, recipient, amount, nonce, txHash, sig)`.
    Withdraw {
        /// The contract.
        cid: ContractId,
        /// Who is paid.
        recipient: Address,
        /// Amount in wei.
        amount_wei: u128,
        /// Payout nonce (each used once).
        nonce: u64,
        /// The executor's `txHash`.
        tx_hash: Hash32,
        /// Executor signature (`pose.withdraw.v1`).
        sig: Vec<u8>,
    },
    /// `revive(cid, member, seq, stateHash, txHash, sig)`: in Crashed, a pool member that
    /// holds the state `(seq, state_hash)` becomes the executor of the next epoch.
    Revive {
        /// The contract.
        cid: ContractId,
        /// The member taking over.
        member: Address,
        /// Sequence number of the state the member holds.
        seq: Seq,
        /// Hash of the state the member holds.
        state_hash: Hash32,
        /// The member's `txHash`.
        tx_hash: Hash32,
        /// Member signature (`pose.revive.v1`) under the crashed epoch.
        sig: Vec<u8>,
    },
    /// `terminate(cid, recipients, amounts, txHash, sig)`.
    Terminate {
        /// The contract.
        cid: ContractId,
        /// Final payouts (recipients and amounts, in order).
        payouts: Vec<PayoutLine>,
        /// The executor's `txHash`.
        tx_hash: Hash32,
        /// Executor signature (`pose.terminate.v1`).
        sig: Vec<u8>,
    },
}

impl ManagerCall {
    /// The contract this call concerns (`None` for a creation: the chain assigns the id).
    pub fn cid(&self) -> Option<ContractId> {
        match self {
            ManagerCall::CreateContract { .. } => None,
            ManagerCall::CompleteCreation { cid, .. }
            | ManagerCall::Deposit { cid }
            | ManagerCall::Challenge { cid, .. }
            | ManagerCall::Respond { cid, .. }
            | ManagerCall::TimeoutChallenge { cid, .. }
            | ManagerCall::ChallengeMember { cid, .. }
            | ManagerCall::RespondMember { cid, .. }
            | ManagerCall::RemoveMember { cid, .. }
            | ManagerCall::Withdraw { cid, .. }
            | ManagerCall::Revive { cid, .. }
            | ManagerCall::Terminate { cid, .. } => Some(*cid),
        }
    }

    /// The calldata the manager executes: selector and Solidity ABI arguments.
    pub fn encode(&self) -> Vec<u8> {
        abi::encode(self)
    }

    /// The call in `calldata`, decoded as leniently as the manager decodes it.
    pub fn decode(calldata: &[u8]) -> Result<Self, AbiError> {
        abi::decode(calldata)
    }
}

/// What the chain decided when it executed a call, as emitted in its events. Pool draws use
/// chain randomness the enclave cannot recompute, so the enclave takes them from here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond what the call itself says.
    None,
    /// The contract was created and this pool drawn (member 0 is the executor of epoch 0).
    Created {
        /// The drawn pool in order.
        pool: Vec<Member>,
    },
    /// A challenge was opened with this id.
    ChallengeOpened {
        /// The id.
        challenge_id: u64,
    },
    /// A member was removed; `replacement` took its slot (or the slot was dropped if `None`).
    MemberRemoved {
        /// The drawn replacement.
        replacement: Option<Member>,
    },
}

/// One confirmed manager transaction concerning a contract, as a host hands it to its enclave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTx {
    /// The contract.
    pub cid: ContractId,
    /// Position in the contract's transaction log (0 is `createContract`).
    pub index: u64,
    /// The calldata the chain executed, byte for byte (it extends `txHash`); it decodes as a
    /// [`ManagerCall`] ([`ChainTx::call`]), which [`ChainTx::decode`] checks.
    pub calldata: Vec<u8>,
    /// `msg.sender`.
    pub sender: Address,
    /// `msg.value` in wei.
    pub value_wei: u128,
    /// Block number of inclusion.
    pub block_number: u64,
    /// Block timestamp, in seconds.
    pub block_time_secs: u64,
    /// What the chain emitted.
    pub effect: Effect,
}

impl ChainTx {
    /// The manager call in [`ChainTx::calldata`].
    pub fn call(&self) -> Result<ManagerCall, AbiError> {
        ManagerCall::decode(&self.calldata)
    }

    /// Canonical encoding (the host hands transactions to the enclave as bytes):
    /// `cid || index (u64) || calldata (u32 length) || sender || value_wei (u128) ||
    /// block_number (u64) || block_time_secs (u64) || effect`, where `effect` is a tag byte
    /// (0 none, 1 created, 2 challenge opened, 3 member removed) followed by its fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.cid.encode_to(&mut out);
        self.index.encode_to(&mut out);
        encode_bytes(&self.calldata, &mut out);
        self.sender.encode_to(&mut out);
        self.value_wei.encode_to(&mut out);
        self.block_number.encode_to(&mut out);
        self.block_time_secs.encode_to(&mut out);
        match &self.effect {
            Effect::None => out.push(0),
            Effect::Created { pool } => {
                out.push(1);
                encode_count(pool.len(), &mut out);
                for m in pool {
                    m.encode_to(&mut out);
                }
            }
            Effect::ChallengeOpened { challenge_id } => {
                out.push(2);
                challenge_id.encode_to(&mut out);
            }
            Effect::MemberRemoved { replacement } => {
                out.push(3);
                replacement.encode_to(&mut out);
            }
        }
        out
    }

    /// Decodes [`ChainTx::encode`] output; the calldata must be a manager call.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let tx = Self::decode_fields(&mut r)?;
        r.finish()?;
        ManagerCall::decode(&tx.calldata)?;
        Ok(tx)
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, pose_types::DecodeError> {
        Ok(Self {
            cid: ContractId::decode_from(r)?,
            index: u64::decode_from(r)?,
            calldata: r.bytes("calldata", MESSAGE_BYTES_MAX)?.to_vec(),
            sender: Address::decode_from(r)?,
            value_wei: u128::decode_from(r)?,
            block_number: u64::decode_from(r)?,
            block_time_secs: u64::decode_from(r)?,
            effect: match u8::decode_from(r)? {
                0 => Effect::None,
                1 => {
                    let n = r.count("pool", POOL_MEMBERS_MAX, Member::MIN_ENCODED_BYTES)?;
                    let mut pool = Vec::with_capacity(n);
                    for _ in 0..n {
                        pool.push(Member::decode_from(r)?);
                    }
                    Effect::Created { pool }
                }
                2 => Effect::ChallengeOpened {
                    challenge_id: u64::decode_from(r)?,
                },
                3 => Effect::MemberRemoved {
                    replacement: Option::<Member>::decode_from(r)?,
                },
                tag => {
                    return Err(pose_types::DecodeError::InvalidTag {
                        what: "effect",
                        tag: tag.into(),
                    })
                }
            },
        })
    }
}

fn domain(d: &Deployment) -> pose_crypto::onchain::Domain {
    pose_crypto::onchain::Domain {
        chain_id: d.chain_id,
        manager: d.manager,
    }
}

/// `txHash_0` of a contract (docs/protocol.md section 3), computed by `pose-crypto`.
pub fn tx_hash_genesis(d: &Deployment, cid: ContractId) -> Hash32 {
    onchain::tx_hash_initial(&domain(d), cid)
}

/// `txHash_{i+1}` from `txHash_i` and one chain transaction, computed by `pose-crypto`: it
/// covers every fact the enclave reads from `tx` besides its position (calldata, sender,
/// value, block number and time, and the outcome of its [`Effect`]), so a host that alters
/// any of them yields a value the manager never produced (docs/protocol.md section 3).
pub fn tx_hash_next(prev: &Hash32, tx: &ChainTx) -> Hash32 {
    onchain::tx_hash_extend(
        prev,
        &onchain::TxStep {
            calldata: &tx.calldata,
            sender: &tx.sender,
            value: Amount(tx.value_wei),
            block_number: tx.block_number,
            block_time_secs: tx.block_time_secs,
            outcome: tx.effect.outcome(),
        },
    )
}

impl Effect {
    /// The `outcome` word the manager puts into `txHash` for this decision: the drawn pool's
    /// addresses in slot order, the replacement's address (zero when the pool shrank), the
    /// challenge id, or zero. Keys and attestations of members are not in it: the enclave
    /// checks each member's attestation, which binds its keys to its address.
    pub fn outcome(&self) -> Hash32 {
        match self {
            Effect::None => Hash32::default(),
            Effect::Created { pool } => {
                let addrs: Vec<Address> = pool.iter().map(|m| m.address).collect();
                onchain::tx_outcome_pool(&addrs)
            }
            Effect::ChallengeOpened { challenge_id } => {
                onchain::tx_outcome_challenge(*challenge_id)
            }
            Effect::MemberRemoved { replacement } => {
                onchain::tx_outcome_replacement(replacement.as_ref().map(|m| &m.address))
            }
        }
    }
}

/// Digests the manager checks (docs/protocol.md section 2); thin adapters over
/// `pose_crypto::onchain`, which computes every digest the chain checks.
pub mod digest {
    use super::*;

    /// `pose.accept.v1`.
    pub fn accept(
        d: &Deployment,
        cid: ContractId,
        code_hash: &Hash32,
        contract_key: &[u8; 32],
        init_state_hash: &Hash32,
        tx_hash: &Hash32,
    ) -> Hash32 {
        onchain::accept_digest(
            &domain(d),
            cid,
            code_hash,
            &EncPublicKey(*contract_key),
            init_state_hash,
            tx_hash,
        )
    }

    /// `pose.respond.v1`.
    #[allow(clippy::too_many_arguments)]
    pub fn respond(
        d: &Deployment,
        cid: ContractId,
        challenge_id: u64,
        epoch: Epoch,
        reply: &[u8],
        seq: Seq,
        state_hash: &Hash32,
        tx_hash: &Hash32,
    ) -> Hash32 {
        onchain::respond_digest(
            &domain(d),
            cid,
            challenge_id,
            epoch,
            reply,
            seq,
            state_hash,
            tx_hash,
        )
    }

    /// `pose.withdraw.v1`.
    pub fn withdraw(
        d: &Deployment,
        cid: ContractId,
        epoch: Epoch,
        recipient: &Address,
        amount_wei: u128,
        nonce: u64,
        tx_hash: &Hash32,
    ) -> Hash32 {
        onchain::withdraw_digest(
            &domain(d),
            cid,
            epoch,
            recipient,
            Amount(amount_wei),
            nonce,
            tx_hash,
        )
    }

    /// `pose.challenge-member.v1`.
    pub fn challenge_member(
        d: &Deployment,
        cid: ContractId,
        epoch: Epoch,
        member: &Address,
        tx_hash: &Hash32,
    ) -> Hash32 {
        onchain::challenge_member_digest(&domain(d), cid, epoch, member, tx_hash)
    }

    /// `pose.respond-member.v1`.
    pub fn respond_member(
        d: &Deployment,
        cid: ContractId,
        epoch: Epoch,
        member: &Address,
        held: (Seq, &Hash32),
        tx_hash: &Hash32,
    ) -> Hash32 {
        onchain::respond_member_digest(&domain(d), cid, epoch, member, held, tx_hash)
    }

    /// `pose.revive.v1`.
    pub fn revive(
        d: &Deployment,
        cid: ContractId,
        epoch: Epoch,
        member: &Address,
        held: (Seq, &Hash32),
        tx_hash: &Hash32,
    ) -> Hash32 {
        onchain::revive_digest(&domain(d), cid, epoch, member, held, tx_hash)
    }

    /// `pose.terminate.v1`.
    pub fn terminate(
        d: &Deployment,
        cid: ContractId,
        epoch: Epoch,
        payouts: &[PayoutLine],
        tx_hash: &Hash32,
    ) -> Hash32 {
        let lines: Vec<(Address, Amount)> = payouts
            .iter()
            .map(|p| (p.to, Amount(p.amount_wei)))
            .collect();
        onchain::terminate_digest(&domain(d), cid, epoch, &lines, tx_hash)
    }

    /// `pose.attestation.v1`.
    pub fn attestation(
        d: &Deployment,
        measurement: &Hash32,
        enclave: &Address,
        enc_key: &[u8; 32],
    ) -> Hash32 {
        onchain::attestation_digest(&domain(d), measurement, enclave, &EncPublicKey(*enc_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_call() -> Vec<ManagerCall> {
        let cid = ContractId(7);
        let h = Hash32([7; 32]);
        vec![
            ManagerCall::CreateContract {
                code_hash: Hash32([1; 32]),
                params: Params::default(),
            },
            ManagerCall::CompleteCreation {
                cid,
                contract_key: [2; 32],
                init_state_hash: Hash32([3; 32]),
                tx_hash: h,
                sigs: vec![vec![4; 65], vec![5; 65]],
            },
            ManagerCall::Deposit { cid },
            ManagerCall::Challenge {
                cid,
                request: vec![9; 100],
            },
            ManagerCall::Respond {
                cid,
                challenge_id: 3,
                reply: vec![1, 2, 3],
                seq: Seq(4),
                state_hash: Hash32([5; 32]),
                tx_hash: h,
                sig: vec![6; 65],
            },
            ManagerCall::TimeoutChallenge {
                cid,
                challenge_id: 3,
            },
            ManagerCall::ChallengeMember {
                cid,
                member: Address([3; 20]),
                tx_hash: h,
                sig: vec![8; 65],
            },
            ManagerCall::RespondMember {
                cid,
                member: Address([3; 20]),
                seq: Seq(4),
                state_hash: Hash32([5; 32]),
                tx_hash: h,
                sig: vec![8; 65],
            },
            ManagerCall::RemoveMember {
                cid,
                member: Address([3; 20]),
            },
            ManagerCall::Withdraw {
                cid,
                recipient: Address([3; 20]),
                amount_wei: u128::MAX,
                nonce: 6,
                tx_hash: h,
                sig: vec![8; 65],
            },
            ManagerCall::Terminate {
                cid,
                payouts: vec![PayoutLine {
                    to: Address([1; 20]),
                    amount_wei: 9,
                }],
                tx_hash: h,
                sig: vec![1; 65],
            },
            ManagerCall::Revive {
                cid,
                member: Address([3; 20]),
                seq: Seq(4),
                state_hash: Hash32([5; 32]),
                tx_hash: h,
                sig: vec![8; 65],
            },
        ]
    }

    #[test]
    fn every_call_round_trips_through_its_calldata() {
        for c in every_call() {
            assert_eq!(ManagerCall::decode(&c.encode()).unwrap(), c);
        }
    }

    #[test]
    fn calldata_starts_with_the_solidity_selector() {
        // The first four bytes of keccak256 of the Solidity signature.
        let sel = |sig: &str| keccak(sig.as_bytes()).0[..4].to_vec();
        let calls = every_call();
        assert_eq!(
            calls[0].encode()[..4],
            sel("createContract(bytes32,(uint8,uint32,uint32,uint16))")
        );
        assert_eq!(calls[2].encode()[..4], sel("deposit(uint64)"));
        assert_eq!(
            calls[11].encode()[..4],
            sel("revive(uint64,address,uint64,bytes32,bytes32,bytes)")
        );
        assert_eq!(
            calls[9].encode()[..4],
            sel("withdraw(uint64,address,uint256,uint64,bytes32,bytes)")
        );
        // deposit(7): the selector, then 7 as one big-endian 32-byte word.
        let d = calls[2].encode();
        assert_eq!(d.len(), 4 + 32);
        assert_eq!(d[4..35], [0u8; 31]);
        assert_eq!(d[35], 7);
    }

    #[test]
    fn truncated_or_foreign_calldata_is_an_error() {
        // Cut inside the selector or the first argument word. (A cut into the zero padding
        // after the last dynamic value still decodes, as it does for the manager, which checks
        // only that each value's own bytes are present.)
        for c in every_call() {
            let bytes = c.encode();
            for n in [0, 3, 4, 35] {
                assert!(
                    ManagerCall::decode(&bytes[..n]).is_err(),
                    "{c:?} cut at {n}"
                );
            }
        }
        assert!(ManagerCall::decode(&[0xde, 0xad, 0xbe, 0xef]).is_err());
    }

    #[test]
    fn an_amount_above_128_bits_is_refused() {
        let mut bytes = every_call()[9].encode();
        // The amount is the third argument word; set its top byte.
        bytes[4 + 2 * 32] = 1;
        assert!(matches!(
            ManagerCall::decode(&bytes),
            Err(AbiError::AmountTooLarge(_))
        ));
    }

    #[test]
    fn chain_txs_round_trip_with_every_effect() {
        let member = Member {
            address: Address([2; 20]),
            enc_key: [3; 32],
            attestation: vec![4; 65],
        };
        let effects = [
            Effect::None,
            Effect::Created {
                pool: vec![member.clone(), member.clone()],
            },
            Effect::ChallengeOpened { challenge_id: 7 },
            Effect::MemberRemoved { replacement: None },
            Effect::MemberRemoved {
                replacement: Some(member),
            },
        ];
        for effect in effects {
            let tx = ChainTx {
                cid: ContractId(1),
                index: 2,
                calldata: ManagerCall::Deposit { cid: ContractId(1) }.encode(),
                sender: Address([1; 20]),
                value_wei: 5,
                block_number: 6,
                block_time_secs: 7,
                effect,
            };
            let bytes = tx.encode();
            assert_eq!(ChainTx::decode(&bytes), Ok(tx));
            assert!(matches!(
                ChainTx::decode(&[bytes.as_slice(), &[0]].concat()),
                Err(DecodeError::Codec(pose_types::DecodeError::TrailingBytes {
                    count: 1
                }))
            ));
        }
    }

    #[test]
    fn a_chain_tx_with_undecodable_calldata_is_refused() {
        let tx = ChainTx {
            cid: ContractId(1),
            index: 1,
            calldata: vec![1, 2, 3, 4, 5],
            sender: Address([1; 20]),
            value_wei: 0,
            block_number: 1,
            block_time_secs: 1,
            effect: Effect::None,
        };
        assert!(matches!(
            ChainTx::decode(&tx.encode()),
            Err(DecodeError::Calldata(_))
        ));
    }
}
