//! The enclave's hand-written ABI codec against alloy's `sol!` bindings of the same manager
//! interface: for many random calls both give the same calldata, each decodes the other's, and
//! decoding arbitrary or mutated calldata never panics (and what decodes round-trips).

use alloy_primitives::{Address as SolAddress, Bytes, FixedBytes, U256};
use alloy_sol_types::{sol, SolCall, SolInterface};
use pose_enclave::{ManagerCall, Params, PayoutLine};
use pose_types::{Address, ContractId, Hash32, Seq};
use proptest::collection::vec;
use proptest::prelude::*;

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
        function revive(uint64 cid, address member, uint64 seq, bytes32 stateHash, bytes32 txHash, bytes sig) external;
    }
}

use IPoseManager::IPoseManagerCalls as Calls;

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
fn bytes(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

/// alloy's calldata of `call`.
fn alloy_encode(call: &ManagerCall) -> Vec<u8> {
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
            sigs: sigs.iter().map(|s| bytes(s)).collect(),
        }
        .abi_encode(),
        ManagerCall::Deposit { cid } => M::depositCall { cid: cid.0 }.abi_encode(),
        ManagerCall::Challenge { cid, request } => M::challengeCall {
            cid: cid.0,
            encryptedInput: bytes(request),
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
            encryptedOutput: bytes(reply),
            seq: seq.0,
            stateHash: b32(state_hash),
            txHash: b32(tx_hash),
            sig: bytes(sig),
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
            sig: bytes(sig),
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
            sig: bytes(sig),
        }
        .abi_encode(),
        ManagerCall::RemoveMember { cid, member } => M::removeMemberCall {
            cid: cid.0,
            member: sol_addr(member),
        }
        .abi_encode(),
        ManagerCall::Revive {
            cid,
            member,
            seq,
            state_hash,
            tx_hash,
            sig,
        } => M::reviveCall {
            cid: cid.0,
            member: sol_addr(member),
            seq: seq.0,
            stateHash: b32(state_hash),
            txHash: b32(tx_hash),
            sig: bytes(sig),
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
            sig: bytes(sig),
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
            sig: bytes(sig),
        }
        .abi_encode(),
    }
}

/// alloy's decoding of `calldata`, as a [`ManagerCall`] (`None` if alloy refuses it or the
/// call has no [`ManagerCall`] form: an amount above 128 bits, a payout count mismatch).
fn alloy_decode(calldata: &[u8]) -> Option<ManagerCall> {
    let amount = |v: U256| u128::try_from(v).ok();
    Some(match Calls::abi_decode(calldata).ok()? {
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
        Calls::revive(c) => ManagerCall::Revive {
            cid: ContractId(c.cid),
            member: addr(c.member),
            seq: Seq(c.seq),
            state_hash: hash(c.stateHash),
            tx_hash: hash(c.txHash),
            sig: c.sig.to_vec(),
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
                return None;
            }
            let mut payouts = Vec::new();
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

fn any_hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}
fn any_address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address)
}
fn any_cid() -> impl Strategy<Value = ContractId> {
    any::<u64>().prop_map(ContractId)
}
fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..=3),
        vec(any::<u8>(), 30..=34),
        vec(any::<u8>(), 0..=200),
    ]
}

/// Any manager call, with short and word-boundary lengths favoured.
fn any_call() -> impl Strategy<Value = ManagerCall> {
    prop_oneof![
        (any_hash(), any::<(u8, u32, u32, u16)>()).prop_map(|(code_hash, p)| {
            ManagerCall::CreateContract {
                code_hash,
                params: Params {
                    pool_size: p.0,
                    response_period_secs: p.1,
                    member_response_period_secs: p.2,
                    confirmations: p.3,
                },
            }
        }),
        (
            any_cid(),
            any::<[u8; 32]>(),
            any_hash(),
            any_hash(),
            vec(any_bytes(), 0..5)
        )
            .prop_map(|(cid, contract_key, init_state_hash, tx_hash, sigs)| {
                ManagerCall::CompleteCreation {
                    cid,
                    contract_key,
                    init_state_hash,
                    tx_hash,
                    sigs,
                }
            }),
        any_cid().prop_map(|cid| ManagerCall::Deposit { cid }),
        (any_cid(), any_bytes()).prop_map(|(cid, request)| ManagerCall::Challenge { cid, request }),
        (
            any_cid(),
            any::<u64>(),
            any_bytes(),
            any::<u64>(),
            any_hash(),
            any_hash(),
            any_bytes()
        )
            .prop_map(
                |(cid, challenge_id, reply, seq, state_hash, tx_hash, sig)| {
                    ManagerCall::Respond {
                        cid,
                        challenge_id,
                        reply,
                        seq: Seq(seq),
                        state_hash,
                        tx_hash,
                        sig,
                    }
                }
            ),
        (any_cid(), any::<u64>()).prop_map(|(cid, challenge_id)| {
            ManagerCall::TimeoutChallenge { cid, challenge_id }
        }),
        (any_cid(), any_address(), any_hash(), any_bytes()).prop_map(
            |(cid, member, tx_hash, sig)| ManagerCall::ChallengeMember {
                cid,
                member,
                tx_hash,
                sig,
            }
        ),
        (
            any_cid(),
            any_address(),
            any::<u64>(),
            any_hash(),
            any_hash(),
            any_bytes()
        )
            .prop_map(|(cid, member, seq, state_hash, tx_hash, sig)| {
                ManagerCall::RespondMember {
                    cid,
                    member,
                    seq: Seq(seq),
                    state_hash,
                    tx_hash,
                    sig,
                }
            }),
        (any_cid(), any_address())
            .prop_map(|(cid, member)| ManagerCall::RemoveMember { cid, member }),
        (
            any_cid(),
            any_address(),
            any::<u64>(),
            any_hash(),
            any_hash(),
            any_bytes()
        )
            .prop_map(|(cid, member, seq, state_hash, tx_hash, sig)| {
                ManagerCall::Revive {
                    cid,
                    member,
                    seq: Seq(seq),
                    state_hash,
                    tx_hash,
                    sig,
                }
            }),
        (
            any_cid(),
            any_address(),
            any::<u128>(),
            any::<u64>(),
            any_hash(),
            any_bytes()
        )
            .prop_map(|(cid, recipient, amount_wei, nonce, tx_hash, sig)| {
                ManagerCall::Withdraw {
                    cid,
                    recipient,
                    amount_wei,
                    nonce,
                    tx_hash,
                    sig,
                }
            }),
        (
            any_cid(),
            vec((any_address(), any::<u128>()), 0..6),
            any_hash(),
            any_bytes()
        )
            .prop_map(|(cid, lines, tx_hash, sig)| ManagerCall::Terminate {
                cid,
                payouts: lines
                    .into_iter()
                    .map(|(to, amount_wei)| PayoutLine { to, amount_wei })
                    .collect(),
                tx_hash,
                sig,
            }),
    ]
}

/// A change to valid calldata.
#[derive(Debug, Clone)]
enum Mutation {
    /// Set one byte.
    Byte(usize, u8),
    /// Write a word (a small number, a calldata-sized number, a huge or negative one) at a
    /// word boundary of the arguments.
    Word(usize, [u8; 32]),
    /// Cut the calldata.
    Truncate(usize),
    /// Append bytes.
    Append(Vec<u8>),
}

fn any_word() -> impl Strategy<Value = [u8; 32]> {
    let from_u128 = |v: u128| {
        let mut w = [0u8; 32];
        w[16..].copy_from_slice(&v.to_be_bytes());
        w
    };
    prop_oneof![
        (0u128..1024).prop_map(from_u128),
        (0u128..32).prop_map(move |k| from_u128(32 * k)),
        any::<u64>().prop_map(move |v| from_u128(v.into())),
        (1u128..1024).prop_map(|m| {
            // -m in two's complement
            let mut w = [0xffu8; 32];
            w[16..].copy_from_slice(&(u128::MAX - m + 1).to_be_bytes());
            w
        }),
        any::<[u8; 32]>(),
    ]
}

fn any_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
        (any::<usize>(), any_word()).prop_map(|(i, w)| Mutation::Word(i, w)),
        any::<usize>().prop_map(Mutation::Truncate),
        vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
    ]
}

fn mutate(data: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Byte(i, b) => {
            if !data.is_empty() {
                let at = i % data.len();
                data[at] = *b;
            }
        }
        Mutation::Word(i, w) => {
            let words = data.len().saturating_sub(4) / 32;
            if words > 0 {
                let at = 4 + 32 * (i % words);
                data[at..at + 32].copy_from_slice(w);
            }
        }
        Mutation::Truncate(n) => {
            let n = n % (data.len() + 1);
            data.truncate(n);
        }
        Mutation::Append(extra) => data.extend_from_slice(extra),
    }
}

/// What decodes, re-encodes to calldata that decodes to the same call.
fn check_decoded(data: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(call) = ManagerCall::decode(data) {
        prop_assert_eq!(ManagerCall::decode(&call.encode()), Ok(call));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn encodings_agree_with_alloy_and_decode_each_other(call in any_call()) {
        let ours = call.encode();
        let theirs = alloy_encode(&call);
        prop_assert_eq!(&ours, &theirs, "calldata differs from alloy's");
        prop_assert_eq!(alloy_decode(&ours), Some(call.clone()));
        prop_assert_eq!(ManagerCall::decode(&theirs), Ok(call.clone()));
        prop_assert_eq!(ManagerCall::decode(&ours), Ok(call));
    }

    #[test]
    fn mutated_calldata_never_panics(
        call in any_call(),
        mutations in vec(any_mutation(), 1..4),
    ) {
        let mut data = call.encode();
        for m in &mutations {
            mutate(&mut data, m);
        }
        check_decoded(&data)?;
        // Where alloy reads the same call, the two decoders agree on it.
        if let (Ok(ours), Some(theirs)) = (ManagerCall::decode(&data), alloy_decode(&data)) {
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn arbitrary_calldata_never_panics(
        selector in prop_oneof![
            any::<[u8; 4]>(),
            any_call().prop_map(|c| {
                let mut s = [0u8; 4];
                s.copy_from_slice(&c.encode()[..4]);
                s
            }),
        ],
        rest in vec(any::<u8>(), 0..600),
        raw in vec(any::<u8>(), 0..8),
    ) {
        check_decoded(&raw)?;
        let data = [selector.as_slice(), &rest].concat();
        check_decoded(&data)?;
    }
}
