//! The manager contract as the enclave sees it: the calls that concern a contract, the chain
//! transactions a host hands its enclave, the incremental transaction hash
//! (docs/protocol.md section 3) and the digests the manager checks (section 2).
//!
//! The calldata of a [`ManagerCall`] is its canonical encoding here; the Solidity manager's
//! ABI calldata plays the same role on a real chain (the chain adapter translates).

use pose_crypto::onchain;
use pose_types::{Address, Amount, ContractId, EncPublicKey, Epoch, Hash32, Seq};

use crate::codec::{DecodeError, Reader, Writer};
use crate::limits::{INPUT_BYTES_MAX, LIST_ITEMS_MAX, MESSAGE_BYTES_MAX, POOL_MEMBERS_MAX};

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

/// Per-contract parameters chosen at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// How long the executor has to answer a challenge on-chain, in seconds.
    pub response_period_secs: u64,
    /// How long a challenged member has to answer, in seconds.
    pub member_response_period_secs: u64,
    /// How long an executor waits for a watchdog's ack before challenging it, in milliseconds.
    pub ack_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            response_period_secs: 20,
            member_response_period_secs: 20,
            ack_timeout_ms: 8_000,
        }
    }
}

/// A pool member's signed acceptance of a creation (docs/protocol.md, `pose.accept.v1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The accepting member.
    pub member: Address,
    /// The member's `txHash` when it signed.
    pub tx_hash: Hash32,
    /// The member's signature.
    pub sig: Vec<u8>,
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

impl Member {
    pub(crate) fn write(&self, w: &mut Writer) {
        w.addr(&self.address)
            .fixed(&self.enc_key)
            .bytes(&self.attestation);
    }
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            address: r.addr()?,
            enc_key: r.b32()?,
            attestation: r.bytes_max(128)?,
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

/// A manager call that concerns one contract (its calldata extends the contract's `txHash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagerCall {
    /// `createContract(codeHash, poolSize, params)`.
    CreateContract {
        /// sha256 of the contract code.
        code_hash: Hash32,
        /// Requested pool size.
        pool_size: u8,
        /// Timing parameters.
        params: Params,
    },
    /// `completeCreation(cid, contractEncKey, initStateHash, acceptances)`.
    CompleteCreation {
        /// The contract.
        cid: ContractId,
        /// The contract's public input key.
        contract_key: [u8; 32],
        /// State hash after `init`.
        init_state_hash: Hash32,
        /// One acceptance per pool member.
        accepts: Vec<Acceptance>,
    },
    /// `deposit(cid)` payable.
    Deposit {
        /// The contract.
        cid: ContractId,
    },
    /// `challenge(cid, request)`: a signed request forced on-chain.
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
        /// The executor's epoch.
        epoch: Epoch,
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
        /// The executor's epoch.
        epoch: Epoch,
        /// The silent member.
        member: Address,
        /// The executor's `txHash`.
        tx_hash: Hash32,
        /// Executor signature (`pose.challenge-member.v1`).
        sig: Vec<u8>,
    },
    /// `respondMember(cid, member, txHash, sig)`.
    RespondMember {
        /// The contract.
        cid: ContractId,
        /// The epoch it answers in.
        epoch: Epoch,
        /// The challenged member.
        member: Address,
        /// The member's `txHash`.
        tx_hash: Hash32,
        /// Member signature (`pose.respond-member.v1`).
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
        /// The executor's epoch.
        epoch: Epoch,
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
    /// `terminate(cid, payouts, txHash, sig)`.
    Terminate {
        /// The contract.
        cid: ContractId,
        /// The executor's epoch.
        epoch: Epoch,
        /// Final payouts.
        payouts: Vec<PayoutLine>,
        /// The executor's `txHash`.
        tx_hash: Hash32,
        /// Executor signature (`pose.terminate.v1`).
        sig: Vec<u8>,
    },
}

impl ManagerCall {
    /// The contract this call concerns (`None` for `CreateContract`, whose id the chain assigns).
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
            | ManagerCall::Terminate { cid, .. } => Some(*cid),
        }
    }

    /// The canonical calldata.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            ManagerCall::CreateContract {
                code_hash,
                pool_size,
                params,
            } => {
                w.u8(1).hash(code_hash).u8(*pool_size);
                w.u64(params.response_period_secs)
                    .u64(params.member_response_period_secs)
                    .u64(params.ack_timeout_ms);
            }
            ManagerCall::CompleteCreation {
                cid,
                contract_key,
                init_state_hash,
                accepts,
            } => {
                w.u8(2).cid(*cid).fixed(contract_key).hash(init_state_hash);
                w.len(accepts.len());
                for a in accepts {
                    w.addr(&a.member).hash(&a.tx_hash).bytes(&a.sig);
                }
            }
            ManagerCall::Deposit { cid } => {
                w.u8(3).cid(*cid);
            }
            ManagerCall::Challenge { cid, request } => {
                w.u8(4).cid(*cid).bytes(request);
            }
            ManagerCall::Respond {
                cid,
                challenge_id,
                epoch,
                reply,
                seq,
                state_hash,
                tx_hash,
                sig,
            } => {
                w.u8(5)
                    .cid(*cid)
                    .u64(*challenge_id)
                    .epoch(*epoch)
                    .bytes(reply);
                w.seq(*seq).hash(state_hash).hash(tx_hash).bytes(sig);
            }
            ManagerCall::TimeoutChallenge { cid, challenge_id } => {
                w.u8(6).cid(*cid).u64(*challenge_id);
            }
            ManagerCall::ChallengeMember {
                cid,
                epoch,
                member,
                tx_hash,
                sig,
            } => {
                w.u8(7)
                    .cid(*cid)
                    .epoch(*epoch)
                    .addr(member)
                    .hash(tx_hash)
                    .bytes(sig);
            }
            ManagerCall::RespondMember {
                cid,
                epoch,
                member,
                tx_hash,
                sig,
            } => {
                w.u8(8)
                    .cid(*cid)
                    .epoch(*epoch)
                    .addr(member)
                    .hash(tx_hash)
                    .bytes(sig);
            }
            ManagerCall::RemoveMember { cid, member } => {
                w.u8(9).cid(*cid).addr(member);
            }
            ManagerCall::Withdraw {
                cid,
                epoch,
                recipient,
                amount_wei,
                nonce,
                tx_hash,
                sig,
            } => {
                w.u8(10)
                    .cid(*cid)
                    .epoch(*epoch)
                    .addr(recipient)
                    .u128(*amount_wei);
                w.u64(*nonce).hash(tx_hash).bytes(sig);
            }
            ManagerCall::Terminate {
                cid,
                epoch,
                payouts,
                tx_hash,
                sig,
            } => {
                w.u8(11).cid(*cid).epoch(*epoch).len(payouts.len());
                for p in payouts {
                    w.addr(&p.to).u128(p.amount_wei);
                }
                w.hash(tx_hash).bytes(sig);
            }
        }
        w.finish()
    }

    /// Decodes canonical calldata.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let call = match r.u8()? {
            1 => ManagerCall::CreateContract {
                code_hash: r.hash()?,
                pool_size: r.u8()?,
                params: Params {
                    response_period_secs: r.u64()?,
                    member_response_period_secs: r.u64()?,
                    ack_timeout_ms: r.u64()?,
                },
            },
            2 => {
                let cid = r.cid()?;
                let contract_key = r.b32()?;
                let init_state_hash = r.hash()?;
                let n = r.len(POOL_MEMBERS_MAX)?;
                let mut accepts = Vec::with_capacity(n);
                for _ in 0..n {
                    accepts.push(Acceptance {
                        member: r.addr()?,
                        tx_hash: r.hash()?,
                        sig: r.bytes_max(128)?,
                    });
                }
                ManagerCall::CompleteCreation {
                    cid,
                    contract_key,
                    init_state_hash,
                    accepts,
                }
            }
            3 => ManagerCall::Deposit { cid: r.cid()? },
            4 => ManagerCall::Challenge {
                cid: r.cid()?,
                request: r.bytes_max(2 * INPUT_BYTES_MAX)?,
            },
            5 => ManagerCall::Respond {
                cid: r.cid()?,
                challenge_id: r.u64()?,
                epoch: r.epoch()?,
                reply: r.bytes_max(MESSAGE_BYTES_MAX)?,
                seq: r.seq()?,
                state_hash: r.hash()?,
                tx_hash: r.hash()?,
                sig: r.bytes_max(128)?,
            },
            6 => ManagerCall::TimeoutChallenge {
                cid: r.cid()?,
                challenge_id: r.u64()?,
            },
            7 => ManagerCall::ChallengeMember {
                cid: r.cid()?,
                epoch: r.epoch()?,
                member: r.addr()?,
                tx_hash: r.hash()?,
                sig: r.bytes_max(128)?,
            },
            8 => ManagerCall::RespondMember {
                cid: r.cid()?,
                epoch: r.epoch()?,
                member: r.addr()?,
                tx_hash: r.hash()?,
                sig: r.bytes_max(128)?,
            },
            9 => ManagerCall::RemoveMember {
                cid: r.cid()?,
                member: r.addr()?,
            },
            10 => ManagerCall::Withdraw {
                cid: r.cid()?,
                epoch: r.epoch()?,
                recipient: r.addr()?,
                amount_wei: r.u128()?,
                nonce: r.u64()?,
                tx_hash: r.hash()?,
                sig: r.bytes_max(128)?,
            },
            11 => {
                let cid = r.cid()?;
                let epoch = r.epoch()?;
                let n = r.len(LIST_ITEMS_MAX)?;
                let mut payouts = Vec::with_capacity(n);
                for _ in 0..n {
                    payouts.push(PayoutLine {
                        to: r.addr()?,
                        amount_wei: r.u128()?,
                    });
                }
                ManagerCall::Terminate {
                    cid,
                    epoch,
                    payouts,
                    tx_hash: r.hash()?,
                    sig: r.bytes_max(128)?,
                }
            }
            t => return Err(DecodeError::UnknownTag(t, "manager call")),
        };
        r.end()?;
        Ok(call)
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
    /// The call.
    pub call: ManagerCall,
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
    /// Canonical encoding (the host hands transactions to the enclave as bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.cid(self.cid).u64(self.index).bytes(&self.call.encode());
        w.addr(&self.sender).u128(self.value_wei);
        w.u64(self.block_number).u64(self.block_time_secs);
        match &self.effect {
            Effect::None => {
                w.u8(0);
            }
            Effect::Created { pool } => {
                w.u8(1).len(pool.len());
                for m in pool {
                    m.write(&mut w);
                }
            }
            Effect::ChallengeOpened { challenge_id } => {
                w.u8(2).u64(*challenge_id);
            }
            Effect::MemberRemoved { replacement } => {
                w.u8(3);
                match replacement {
                    Some(m) => {
                        w.u8(1);
                        m.write(&mut w);
                        &mut w
                    }
                    None => w.u8(0),
                };
            }
        }
        w.finish()
    }

    /// Decodes [`ChainTx::encode`] output.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let cid = r.cid()?;
        let index = r.u64()?;
        let call = ManagerCall::decode(&r.bytes()?)?;
        let sender = r.addr()?;
        let value_wei = r.u128()?;
        let block_number = r.u64()?;
        let block_time_secs = r.u64()?;
        let effect = match r.u8()? {
            0 => Effect::None,
            1 => {
                let n = r.len(POOL_MEMBERS_MAX)?;
                let mut pool = Vec::with_capacity(n);
                for _ in 0..n {
                    pool.push(Member::read(&mut r)?);
                }
                Effect::Created { pool }
            }
            2 => Effect::ChallengeOpened {
                challenge_id: r.u64()?,
            },
            3 => Effect::MemberRemoved {
                replacement: match r.u8()? {
                    0 => None,
                    1 => Some(Member::read(&mut r)?),
                    t => return Err(DecodeError::UnknownTag(t, "option")),
                },
            },
            t => return Err(DecodeError::UnknownTag(t, "effect")),
        };
        r.end()?;
        Ok(Self {
            cid,
            index,
            call,
            sender,
            value_wei,
            block_number,
            block_time_secs,
            effect,
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

/// `txHash_{i+1}` from `txHash_i` and one transaction, computed by `pose-crypto`.
pub fn tx_hash_next(prev: &Hash32, calldata: &[u8], sender: &Address, value_wei: u128) -> Hash32 {
    onchain::tx_hash_extend(prev, calldata, sender, Amount(value_wei))
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
        tx_hash: &Hash32,
    ) -> Hash32 {
        onchain::respond_member_digest(&domain(d), cid, epoch, member, tx_hash)
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

    #[test]
    fn calls_round_trip() {
        let calls = vec![
            ManagerCall::CreateContract {
                code_hash: Hash32([1; 32]),
                pool_size: 3,
                params: Params::default(),
            },
            ManagerCall::Withdraw {
                cid: ContractId(2),
                epoch: Epoch(1),
                recipient: Address([3; 20]),
                amount_wei: 5,
                nonce: 6,
                tx_hash: Hash32([7; 32]),
                sig: vec![8; 65],
            },
            ManagerCall::Terminate {
                cid: ContractId(1),
                epoch: Epoch(0),
                payouts: vec![PayoutLine {
                    to: Address([1; 20]),
                    amount_wei: 9,
                }],
                tx_hash: Hash32([2; 32]),
                sig: vec![1; 65],
            },
        ];
        for c in calls {
            assert_eq!(ManagerCall::decode(&c.encode()).unwrap(), c);
        }
    }

    #[test]
    fn truncated_calldata_is_an_error() {
        let c = ManagerCall::Deposit { cid: ContractId(1) }.encode();
        for n in 0..c.len() {
            assert!(ManagerCall::decode(&c[..n]).is_err());
        }
    }
}
