//! The manager's calldata: the Solidity ABI encoding of the calls that concern one contract,
//! as `contracts/PoseManager.sol` declares them, by a small hand-written codec.
//!
//! The enclave extends its `txHash` with the raw calldata the chain executed (docs/protocol.md
//! section 3), so it must see exactly the bytes the manager saw; and what it submits must be
//! calldata the manager accepts. [`encode`] gives the bytes of Solidity's
//! `abi.encodeWithSelector`; [`decode`] accepts what the manager's decoder (solc 0.8, ABI coder
//! v2, `calldata` parameters) accepts for these twelve calls, so a transaction the chain
//! executed never stalls an enclave: any in-bounds offsets, trailing bytes, and (in a
//! `bytes[]`) negative element offsets. It refuses what the manager refuses (a missing head,
//! offsets and lengths outside the calldata, narrow integers and addresses with non-zero high
//! bytes) and, beyond that, only a `uint256` amount above `u128::MAX`, which the manager can
//! never pay (a balance is at most `u128::MAX`), and a termination whose recipient and amount
//! counts differ, which the manager reverts.
//!
//! **Decision:** the codec lives here (with its word-level part in [`words`]) rather than next
//! to the digest encodings of `pose_crypto::onchain`: those only write static words to hash
//! them, while this is a decoder of untrusted input that mirrors solc's leniency, which only
//! the enclave needs. It replaces alloy's `sol!` bindings, host-side crates (proc macros and a
//! large dependency tree) that the enclave's code should not carry; a differential test
//! (`tests/abi_differential.rs`) checks it against them byte for byte.

mod words;

use pose_types::{Address, ContractId, Hash32, Seq};

use crate::chain::{ManagerCall, Params, PayoutLine};
use words::{address, encode_call, uint, word_address, word_u128, Arg, Calldata, Word};

/// Why calldata is not a manager call the enclave understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    /// Fewer than four bytes: no function selector.
    #[error("calldata of {len} bytes has no 4-byte function selector")]
    NoSelector {
        /// Bytes given.
        len: usize,
    },
    /// A selector that is none of the manager calls concerning a contract.
    #[error("selector {0:02x?} is not a manager call")]
    UnknownSelector([u8; 4]),
    /// The arguments' head (one word per argument) is cut short.
    #[error("calldata of {have} bytes is shorter than the call's head of {need} bytes")]
    ShortHead {
        /// Bytes the selector and head need.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// An integer or address word with non-zero bits above its type's width.
    #[error("argument {what} does not fit in {bits} bits")]
    DirtyHighBits {
        /// The argument.
        what: &'static str,
        /// The type's width.
        bits: u32,
    },
    /// The offset of a dynamic argument (or of a `bytes[]` element) points outside the
    /// calldata.
    #[error("the offset of {what} points outside the calldata")]
    OffsetOutOfRange {
        /// The argument.
        what: &'static str,
    },
    /// The length of a dynamic argument is above `2^64 - 1` or runs past the calldata's end.
    #[error("the length of {what} runs past the end of the calldata")]
    LengthOutOfRange {
        /// The argument.
        what: &'static str,
    },
    /// A termination with different numbers of recipients and amounts.
    #[error("{recipients} recipients but {amounts} amounts")]
    PayoutCountMismatch {
        /// Number of recipients.
        recipients: usize,
        /// Number of amounts.
        amounts: usize,
    },
    /// An amount does not fit in 128 bits (no manager balance can pay it); the word in hex.
    #[error("amount 0x{0} exceeds 128 bits")]
    AmountTooLarge(String),
}

/// The manager calls: canonical Solidity signature and selector (the first four bytes of the
/// signature's keccak256; a test recomputes them).
mod sel {
    pub const CREATE_CONTRACT: (&str, [u8; 4]) = (
        "createContract(bytes32,(uint8,uint32,uint32,uint16))",
        [0xcb, 0x50, 0x8d, 0xa6],
    );
    pub const COMPLETE_CREATION: (&str, [u8; 4]) = (
        "completeCreation(uint64,bytes32,bytes32,bytes32,bytes[])",
        [0x01, 0xda, 0x8f, 0x76],
    );
    pub const DEPOSIT: (&str, [u8; 4]) = ("deposit(uint64)", [0x13, 0x76, 0x58, 0x38]);
    pub const CHALLENGE: (&str, [u8; 4]) = ("challenge(uint64,bytes)", [0xf3, 0x84, 0xd9, 0x8e]);
    pub const RESPOND: (&str, [u8; 4]) = (
        "respond(uint64,uint64,bytes,uint64,bytes32,bytes32,bytes)",
        [0x29, 0xf3, 0xa1, 0x5e],
    );
    pub const TIMEOUT_CHALLENGE: (&str, [u8; 4]) =
        ("timeoutChallenge(uint64,uint64)", [0xf4, 0xce, 0x80, 0x45]);
    pub const CHALLENGE_MEMBER: (&str, [u8; 4]) = (
        "challengeMember(uint64,address,bytes32,bytes)",
        [0x6c, 0xca, 0x42, 0x7f],
    );
    pub const RESPOND_MEMBER: (&str, [u8; 4]) = (
        "respondMember(uint64,address,uint64,bytes32,bytes32,bytes)",
        [0x38, 0x2b, 0x8d, 0xc0],
    );
    pub const REMOVE_MEMBER: (&str, [u8; 4]) =
        ("removeMember(uint64,address)", [0x6a, 0xa9, 0x2c, 0x27]);
    pub const WITHDRAW: (&str, [u8; 4]) = (
        "withdraw(uint64,address,uint256,uint64,bytes32,bytes)",
        [0xfb, 0xcf, 0x0f, 0x75],
    );
    pub const TERMINATE: (&str, [u8; 4]) = (
        "terminate(uint64,address[],uint256[],bytes32,bytes)",
        [0x5a, 0xdc, 0x09, 0x56],
    );
    pub const REVIVE: (&str, [u8; 4]) = (
        "revive(uint64,address,uint64,bytes32,bytes32,bytes)",
        [0x55, 0x8f, 0xc2, 0xb5],
    );
    /// All of them.
    #[cfg(test)]
    pub const ALL: [(&str, [u8; 4]); 12] = [
        CREATE_CONTRACT,
        COMPLETE_CREATION,
        DEPOSIT,
        CHALLENGE,
        RESPOND,
        TIMEOUT_CHALLENGE,
        CHALLENGE_MEMBER,
        RESPOND_MEMBER,
        REMOVE_MEMBER,
        WITHDRAW,
        TERMINATE,
        REVIVE,
    ];
}

fn cid_word(cid: ContractId) -> Arg<'static> {
    Arg::Word(uint(cid.0.into()))
}
fn u_word(v: impl Into<u128>) -> Arg<'static> {
    Arg::Word(uint(v.into()))
}
fn addr_word(a: &Address) -> Arg<'static> {
    Arg::Word(address(&a.0))
}
fn hash_word(h: &Hash32) -> Arg<'static> {
    Arg::Word(h.0)
}

/// The calldata of `call`, selector first: Solidity's `abi.encodeWithSelector`.
pub fn encode(call: &ManagerCall) -> Vec<u8> {
    match call {
        ManagerCall::CreateContract { code_hash, params } => encode_call(
            sel::CREATE_CONTRACT.1,
            // `Params` is a static tuple: its fields are inlined in the head.
            &[
                hash_word(code_hash),
                u_word(params.pool_size),
                u_word(params.response_period_secs),
                u_word(params.member_response_period_secs),
                u_word(params.confirmations),
            ],
        ),
        ManagerCall::CompleteCreation {
            cid,
            contract_key,
            init_state_hash,
            tx_hash,
            sigs,
        } => encode_call(
            sel::COMPLETE_CREATION.1,
            &[
                cid_word(*cid),
                Arg::Word(*contract_key),
                hash_word(init_state_hash),
                hash_word(tx_hash),
                Arg::BytesArray(sigs),
            ],
        ),
        ManagerCall::Deposit { cid } => encode_call(sel::DEPOSIT.1, &[cid_word(*cid)]),
        ManagerCall::Challenge { cid, request } => {
            encode_call(sel::CHALLENGE.1, &[cid_word(*cid), Arg::Bytes(request)])
        }
        ManagerCall::Respond {
            cid,
            challenge_id,
            reply,
            seq,
            state_hash,
            tx_hash,
            sig,
        } => encode_call(
            sel::RESPOND.1,
            &[
                cid_word(*cid),
                u_word(*challenge_id),
                Arg::Bytes(reply),
                u_word(seq.0),
                hash_word(state_hash),
                hash_word(tx_hash),
                Arg::Bytes(sig),
            ],
        ),
        ManagerCall::TimeoutChallenge { cid, challenge_id } => encode_call(
            sel::TIMEOUT_CHALLENGE.1,
            &[cid_word(*cid), u_word(*challenge_id)],
        ),
        ManagerCall::ChallengeMember {
            cid,
            member,
            tx_hash,
            sig,
        } => encode_call(
            sel::CHALLENGE_MEMBER.1,
            &[
                cid_word(*cid),
                addr_word(member),
                hash_word(tx_hash),
                Arg::Bytes(sig),
            ],
        ),
        ManagerCall::RespondMember {
            cid,
            member,
            seq,
            state_hash,
            tx_hash,
            sig,
        } => encode_call(
            sel::RESPOND_MEMBER.1,
            &[
                cid_word(*cid),
                addr_word(member),
                u_word(seq.0),
                hash_word(state_hash),
                hash_word(tx_hash),
                Arg::Bytes(sig),
            ],
        ),
        ManagerCall::RemoveMember { cid, member } => {
            encode_call(sel::REMOVE_MEMBER.1, &[cid_word(*cid), addr_word(member)])
        }
        ManagerCall::Revive {
            cid,
            member,
            seq,
            state_hash,
            tx_hash,
            sig,
        } => encode_call(
            sel::REVIVE.1,
            &[
                cid_word(*cid),
                addr_word(member),
                u_word(seq.0),
                hash_word(state_hash),
                hash_word(tx_hash),
                Arg::Bytes(sig),
            ],
        ),
        ManagerCall::Withdraw {
            cid,
            recipient,
            amount_wei,
            nonce,
            tx_hash,
            sig,
        } => encode_call(
            sel::WITHDRAW.1,
            &[
                cid_word(*cid),
                addr_word(recipient),
                u_word(*amount_wei),
                u_word(*nonce),
                hash_word(tx_hash),
                Arg::Bytes(sig),
            ],
        ),
        ManagerCall::Terminate {
            cid,
            payouts,
            tx_hash,
            sig,
        } => encode_call(
            sel::TERMINATE.1,
            &[
                cid_word(*cid),
                Arg::Words(payouts.iter().map(|p| address(&p.to.0)).collect()),
                Arg::Words(payouts.iter().map(|p| uint(p.amount_wei)).collect()),
                hash_word(tx_hash),
                Arg::Bytes(sig),
            ],
        ),
    }
}

fn amount(w: &Word) -> Result<u128, AbiError> {
    word_u128(w)
        .ok_or_else(|| AbiError::AmountTooLarge(w.iter().map(|b| format!("{b:02x}")).collect()))
}

/// The manager call in `calldata` (selector first).
pub fn decode(calldata: &[u8]) -> Result<ManagerCall, AbiError> {
    let Some(selector) = calldata.first_chunk::<4>() else {
        return Err(AbiError::NoSelector {
            len: calldata.len(),
        });
    };
    let args = |head_words| Calldata::new(calldata, head_words);
    let cid = |c: &Calldata<'_>| c.uint(0, 64, "cid").map(ContractId);
    let hash = |c: &Calldata<'_>, i| Hash32(c.bytes32(i));
    Ok(match *selector {
        s if s == sel::CREATE_CONTRACT.1 => {
            let c = args(5)?;
            ManagerCall::CreateContract {
                code_hash: hash(&c, 0),
                params: Params {
                    pool_size: c.uint(1, 8, "params.poolSize")? as u8,
                    response_period_secs: c.uint(2, 32, "params.responsePeriodSecs")? as u32,
                    member_response_period_secs: c.uint(3, 32, "params.memberResponsePeriodSecs")?
                        as u32,
                    confirmations: c.uint(4, 16, "params.confirmations")? as u16,
                },
            }
        }
        s if s == sel::COMPLETE_CREATION.1 => {
            let c = args(5)?;
            ManagerCall::CompleteCreation {
                cid: cid(&c)?,
                contract_key: c.bytes32(1),
                init_state_hash: hash(&c, 2),
                tx_hash: hash(&c, 3),
                sigs: c
                    .bytes_array(4, "sigs")?
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect(),
            }
        }
        s if s == sel::DEPOSIT.1 => ManagerCall::Deposit {
            cid: cid(&args(1)?)?,
        },
        s if s == sel::CHALLENGE.1 => {
            let c = args(2)?;
            ManagerCall::Challenge {
                cid: cid(&c)?,
                request: c.bytes(1, "encryptedInput")?.to_vec(),
            }
        }
        s if s == sel::RESPOND.1 => {
            let c = args(7)?;
            ManagerCall::Respond {
                cid: cid(&c)?,
                challenge_id: c.uint(1, 64, "challengeId")?,
                reply: c.bytes(2, "encryptedOutput")?.to_vec(),
                seq: Seq(c.uint(3, 64, "seq")?),
                state_hash: hash(&c, 4),
                tx_hash: hash(&c, 5),
                sig: c.bytes(6, "sig")?.to_vec(),
            }
        }
        s if s == sel::TIMEOUT_CHALLENGE.1 => {
            let c = args(2)?;
            ManagerCall::TimeoutChallenge {
                cid: cid(&c)?,
                challenge_id: c.uint(1, 64, "challengeId")?,
            }
        }
        s if s == sel::CHALLENGE_MEMBER.1 => {
            let c = args(4)?;
            ManagerCall::ChallengeMember {
                cid: cid(&c)?,
                member: Address(c.address(1, "member")?),
                tx_hash: hash(&c, 2),
                sig: c.bytes(3, "sig")?.to_vec(),
            }
        }
        s if s == sel::RESPOND_MEMBER.1 => {
            let c = args(6)?;
            ManagerCall::RespondMember {
                cid: cid(&c)?,
                member: Address(c.address(1, "member")?),
                seq: Seq(c.uint(2, 64, "seq")?),
                state_hash: hash(&c, 3),
                tx_hash: hash(&c, 4),
                sig: c.bytes(5, "sig")?.to_vec(),
            }
        }
        s if s == sel::REVIVE.1 => {
            let c = args(6)?;
            ManagerCall::Revive {
                cid: cid(&c)?,
                member: Address(c.address(1, "member")?),
                seq: Seq(c.uint(2, 64, "seq")?),
                state_hash: hash(&c, 3),
                tx_hash: hash(&c, 4),
                sig: c.bytes(5, "sig")?.to_vec(),
            }
        }
        s if s == sel::REMOVE_MEMBER.1 => {
            let c = args(2)?;
            ManagerCall::RemoveMember {
                cid: cid(&c)?,
                member: Address(c.address(1, "member")?),
            }
        }
        s if s == sel::WITHDRAW.1 => {
            let c = args(6)?;
            ManagerCall::Withdraw {
                cid: cid(&c)?,
                recipient: Address(c.address(1, "recipient")?),
                amount_wei: amount(c.head(2))?,
                nonce: c.uint(3, 64, "nonce")?,
                tx_hash: hash(&c, 4),
                sig: c.bytes(5, "sig")?.to_vec(),
            }
        }
        s if s == sel::TERMINATE.1 => {
            let c = args(5)?;
            let cid = cid(&c)?;
            let recipients = c.words(1, "recipients")?;
            let amounts = c.words(2, "amounts")?;
            // The manager reverts on a count mismatch before it reads any element.
            if recipients.len() != amounts.len() {
                return Err(AbiError::PayoutCountMismatch {
                    recipients: recipients.len(),
                    amounts: amounts.len(),
                });
            }
            let mut payouts = Vec::with_capacity(recipients.len());
            for (to, a) in recipients.into_iter().zip(amounts) {
                payouts.push(PayoutLine {
                    to: Address(word_address(to, "recipients[i]")?),
                    amount_wei: amount(a)?,
                });
            }
            ManagerCall::Terminate {
                cid,
                payouts,
                tx_hash: hash(&c, 3),
                sig: c.bytes(4, "sig")?.to_vec(),
            }
        }
        other => return Err(AbiError::UnknownSelector(other)),
    })
}

#[cfg(test)]
mod tests;
