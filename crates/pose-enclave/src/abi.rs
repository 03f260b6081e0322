//! The manager's calldata: the Solidity ABI encoding of the calls that concern one contract,
//! as `contracts/PoseManager.sol` declares them.
//!
//! The enclave extends its `txHash` with the raw calldata the chain executed (docs/protocol.md
//! section 3), so it must see exactly the bytes the manager saw; and what it submits must be
//! calldata the manager accepts. Decoding follows Solidity's leniency where alloy's
//! non-validating decoder allows it, so a transaction the chain accepted never stalls an
//! enclave; only a `uint256` amount above `u128::MAX` (which the manager can never pay, as a
//! balance is at most `u128::MAX`) is refused.

use alloy_primitives::{Address as SolAddress, Bytes, FixedBytes, U256};
use alloy_sol_types::{sol, SolCall, SolInterface};
use pose_types::{Address, ContractId, Hash32, Seq};

use crate::chain::{ManagerCall, Params, PayoutLine};

sol! {
    /// The calls of the manager that concern one contract (`contracts/PoseManager.sol`).
    interface IPoseManager {
        struct Params {
            uint8 poolSize;
            uint32 responsePeriodSecs;
            uint32 memberResponsePeriodSecs;
            uint16 confirmations;
        }
        function createContract(bytes32 codeHash, Params params) external returns (uint64 cid);
        function completeCreation(uint64 cid, bytes32 contractEncKey, bytes32 initStateHash, bytes32 txHash, bytes[] sigs) external;
        function deposit(uint64 cid) external payable;
        function challenge(uint64 cid, bytes encryptedInput) external returns (uint64 challengeId);
        function respond(uint64 cid, uint64 challengeId, bytes encryptedOutput, uint64 seq, bytes32 stateHash, bytes32 txHash, bytes sig) external;
        function timeoutChallenge(uint64 cid, uint64 challengeId) external;
        function challengeMember(uint64 cid, address member, bytes32 txHash, bytes sig) external;
        function respondMember(uint64 cid, address member, uint64 seq, bytes32 stateHash, bytes32 txHash, bytes sig) external;
        function removeMember(uint64 cid, address member) external;
        function withdraw(uint64 cid, address recipient, uint256 amount, uint64 nonce, bytes32 txHash, bytes sig) external;
        function terminate(uint64 cid, address[] recipients, uint256[] amounts, bytes32 txHash, bytes sig) external;
    }
}

use IPoseManager::IPoseManagerCalls as Calls;

/// Why calldata is not a manager call the enclave understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    /// Unknown selector, or arguments that do not decode.
    #[error("calldata is not a manager call: {0}")]
    Undecodable(String),
    /// An amount does not fit in 128 bits (no manager balance can pay it).
    #[error("amount {0} exceeds 128 bits")]
    AmountTooLarge(String),
}

fn sol_addr(a: &Address) -> SolAddress {
    SolAddress::from(a.0)
}
fn addr(a: SolAddress) -> Address {
    Address(a.into_array())
}
fn b32(h: &Hash32) -> FixedBytes<32> {
    FixedBytes(h.0)
}
fn hash(b: FixedBytes<32>) -> Hash32 {
    Hash32(b.0)
}
fn amount(v: U256) -> Result<u128, AbiError> {
    u128::try_from(v).map_err(|_| AbiError::AmountTooLarge(v.to_string()))
}

/// The calldata of `call`, selector first.
pub fn encode(call: &ManagerCall) -> Vec<u8> {
    use IPoseManager as M;
    match call {
        ManagerCall::CreateContract { code_hash, params } => M::createContractCall {
            codeHash: b32(code_hash),
            params: M::Params {
                poolSize: params.pool_size,
                responsePeriodSecs: params.response_period_secs,
                memberResponsePeriodSecs: params.member_response_period_secs,
                confirmations: params.confirmations,
            },
        }
        .abi_encode(),
        ManagerCall::CompleteCreation {
            cid,
            contract_key,
            init_state_hash,
            tx_hash,
            sigs,
        } => M::completeCreationCall {
            cid: cid.0,
            contractEncKey: FixedBytes(*contract_key),
            initStateHash: b32(init_state_hash),
            txHash: b32(tx_hash),
            sigs: sigs.iter().map(|s| Bytes::copy_from_slice(s)).collect(),
        }
        .abi_encode(),
        ManagerCall::Deposit { cid } => M::depositCall { cid: cid.0 }.abi_encode(),
        ManagerCall::Challenge { cid, request } => M::challengeCall {
            cid: cid.0,
            encryptedInput: Bytes::copy_from_slice(request),
        }
        .abi_encode(),
        ManagerCall::Respond {
            cid,
            challenge_id,
            reply,
            seq,
            state_hash,
            tx_hash,
            sig,
        } => M::respondCall {
            cid: cid.0,
            challengeId: *challenge_id,
            encryptedOutput: Bytes::copy_from_slice(reply),
            seq: seq.0,
            stateHash: b32(state_hash),
            txHash: b32(tx_hash),
            sig: Bytes::copy_from_slice(sig),
        }
        .abi_encode(),
        ManagerCall::TimeoutChallenge { cid, challenge_id } => M::timeoutChallengeCall {
            cid: cid.0,
            challengeId: *challenge_id,
        }
        .abi_encode(),
        ManagerCall::ChallengeMember {
            cid,
            member,
            tx_hash,
            sig,
        } => M::challengeMemberCall {
            cid: cid.0,
            member: sol_addr(member),
            txHash: b32(tx_hash),
            sig: Bytes::copy_from_slice(sig),
        }
        .abi_encode(),
        ManagerCall::RespondMember {
            cid,
            member,
            seq,
            state_hash,
            tx_hash,
            sig,
        } => M::respondMemberCall {
            cid: cid.0,
            member: sol_addr(member),
            seq: seq.0,
            stateHash: b32(state_hash),
            txHash: b32(tx_hash),
            sig: Bytes::copy_from_slice(sig),
        }
        .abi_encode(),
        ManagerCall::RemoveMember { cid, member } => M::removeMemberCall {
            cid: cid.0,
            member: sol_addr(member),
        }
        .abi_encode(),
        ManagerCall::Withdraw {
            cid,
            recipient,
            amount_wei,
            nonce,
            tx_hash,
            sig,
        } => M::withdrawCall {
            cid: cid.0,
            recipient: sol_addr(recipient),
            amount: U256::from(*amount_wei),
            nonce: *nonce,
            txHash: b32(tx_hash),
            sig: Bytes::copy_from_slice(sig),
        }
        .abi_encode(),
        ManagerCall::Terminate {
            cid,
            payouts,
            tx_hash,
            sig,
        } => M::terminateCall {
            cid: cid.0,
            recipients: payouts.iter().map(|p| sol_addr(&p.to)).collect(),
            amounts: payouts.iter().map(|p| U256::from(p.amount_wei)).collect(),
            txHash: b32(tx_hash),
            sig: Bytes::copy_from_slice(sig),
        }
        .abi_encode(),
    }
}

/// The manager call in `calldata` (selector first).
pub fn decode(calldata: &[u8]) -> Result<ManagerCall, AbiError> {
    let call = Calls::abi_decode(calldata).map_err(|e| AbiError::Undecodable(e.to_string()))?;
    Ok(match call {
        Calls::createContract(c) => ManagerCall::CreateContract {
            code_hash: hash(c.codeHash),
            params: Params {
                pool_size: c.params.poolSize,
                response_period_secs: c.params.responsePeriodSecs,
                member_response_period_secs: c.params.memberResponsePeriodSecs,
                confirmations: c.params.confirmations,
            },
        },
        Calls::completeCreation(c) => ManagerCall::CompleteCreation {
            cid: ContractId(c.cid),
            contract_key: c.contractEncKey.0,
            init_state_hash: hash(c.initStateHash),
            tx_hash: hash(c.txHash),
            sigs: c.sigs.into_iter().map(|s| s.to_vec()).collect(),
        },
        Calls::deposit(c) => ManagerCall::Deposit {
            cid: ContractId(c.cid),
        },
        Calls::challenge(c) => ManagerCall::Challenge {
            cid: ContractId(c.cid),
            request: c.encryptedInput.to_vec(),
        },
        Calls::respond(c) => ManagerCall::Respond {
            cid: ContractId(c.cid),
            challenge_id: c.challengeId,
            reply: c.encryptedOutput.to_vec(),
            seq: Seq(c.seq),
            state_hash: hash(c.stateHash),
            tx_hash: hash(c.txHash),
            sig: c.sig.to_vec(),
        },
        Calls::timeoutChallenge(c) => ManagerCall::TimeoutChallenge {
            cid: ContractId(c.cid),
            challenge_id: c.challengeId,
        },
        Calls::challengeMember(c) => ManagerCall::ChallengeMember {
            cid: ContractId(c.cid),
            member: addr(c.member),
            tx_hash: hash(c.txHash),
            sig: c.sig.to_vec(),
        },
        Calls::respondMember(c) => ManagerCall::RespondMember {
            cid: ContractId(c.cid),
            member: addr(c.member),
            seq: Seq(c.seq),
            state_hash: hash(c.stateHash),
            tx_hash: hash(c.txHash),
            sig: c.sig.to_vec(),
        },
        Calls::removeMember(c) => ManagerCall::RemoveMember {
            cid: ContractId(c.cid),
            member: addr(c.member),
        },
        Calls::withdraw(c) => ManagerCall::Withdraw {
            cid: ContractId(c.cid),
            recipient: addr(c.recipient),
            amount_wei: amount(c.amount)?,
            nonce: c.nonce,
            tx_hash: hash(c.txHash),
            sig: c.sig.to_vec(),
        },
        Calls::terminate(c) => {
            if c.recipients.len() != c.amounts.len() {
                return Err(AbiError::Undecodable(format!(
                    "{} recipients but {} amounts",
                    c.recipients.len(),
                    c.amounts.len()
                )));
            }
            let mut payouts = Vec::with_capacity(c.recipients.len());
            for (to, a) in c.recipients.into_iter().zip(c.amounts) {
                payouts.push(PayoutLine {
                    to: addr(to),
                    amount_wei: amount(a)?,
                });
            }
            ManagerCall::Terminate {
                cid: ContractId(c.cid),
                payouts,
                tx_hash: hash(c.txHash),
                sig: c.sig.to_vec(),
            }
        }
    })
}
