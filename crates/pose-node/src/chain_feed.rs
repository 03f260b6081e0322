//! Turns the manager's confirmed events into the chain transactions the enclave consumes: one
//! [`ChainTx`] per `TxHashExtended` event, in log order, numbered per contract from 0.
//!
//! A `TxHashExtended` event carries the calldata the manager executed, its sender and value;
//! the block number and time are those of the block the log is in. What the calldata cannot
//! show (the drawn pool, a challenge's id, a removed member's replacement) comes from the
//! events the same transaction emits after it, and each pool member's attestation from its
//! `EnclaveRegistered` event. The manager's `txHash` covers every one of these facts
//! (docs/protocol.md section 3). The feed only reorganises public chain data; the enclave
//! checks every attestation and recomputes every hash itself, so a feed that got any fact
//! wrong leaves its enclave on a `txHash` the manager never produced.
//!
//! Invariant: a feed must see every manager event from the manager's deployment on, in chain
//! order (a poll batch holds whole blocks, so a transaction's events arrive together).

use std::collections::BTreeMap;

use pose_chain::PoseManager::PoseManagerEvents as Ev;
use pose_chain::{from_address, ManagerEvent};
use pose_enclave::{ChainTx, Effect, Member};
use pose_types::{Address, ContractId};

/// Why the feed cannot build a chain transaction. Each means the events it saw are not the
/// manager's complete history (wrong start block, wrong manager, or a node that dropped logs).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FeedError {
    /// A pool names an enclave whose registration the feed never saw.
    #[error("enclave {0} is in a pool but its registration was not seen; follow the manager from its deployment block")]
    UnknownEnclave(Address),
    /// A value does not fit in 128 bits (no manager balance can hold it).
    #[error("transaction value {0} wei exceeds 128 bits")]
    ValueTooLarge(String),
}

/// The state the feed keeps between batches.
#[derive(Debug, Default)]
pub struct ChainFeed {
    registry: BTreeMap<Address, Member>,
    next_index: BTreeMap<ContractId, u64>,
}

impl ChainFeed {
    /// A feed that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes one batch of events (in chain order) and returns the chain transactions they
    /// hold, in order. A batch that fails leaves the per-contract numbering unchanged for the
    /// transactions after the failing one.
    pub fn ingest(&mut self, events: &[ManagerEvent]) -> Result<Vec<ChainTx>, FeedError> {
        let mut out = Vec::new();
        for (i, e) in events.iter().enumerate() {
            match &e.event {
                Ev::EnclaveRegistered(r) => {
                    let address = from_address(r.enclave);
                    self.registry.insert(
                        address,
                        Member {
                            address,
                            enc_key: r.encPubKey.0,
                            attestation: r.vendorSig.to_vec(),
                        },
                    );
                }
                Ev::TxHashExtended(x) => {
                    let cid = ContractId(x.cid);
                    let same_tx = events[i + 1..]
                        .iter()
                        .take_while(|later| later.tx_hash == e.tx_hash);
                    let mut effect = Effect::None;
                    for later in same_tx {
                        if let Some(found) = self.effect_of(cid, &later.event)? {
                            effect = found;
                            break;
                        }
                    }
                    let value_wei = u128::try_from(x.value)
                        .map_err(|_| FeedError::ValueTooLarge(x.value.to_string()))?;
                    let index = self.next_index.entry(cid).or_insert(0);
                    out.push(ChainTx {
                        cid,
                        index: *index,
                        calldata: x.data.to_vec(),
                        sender: from_address(x.sender),
                        value_wei,
                        block_number: e.block_number,
                        block_time_secs: e.block_timestamp,
                        effect,
                    });
                    *index += 1;
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// What `event` (emitted after a `TxHashExtended` of `cid` in the same transaction) tells
    /// the enclave, if anything.
    fn effect_of(&self, cid: ContractId, event: &Ev) -> Result<Option<Effect>, FeedError> {
        Ok(match event {
            Ev::ContractCreated(c) if c.cid == cid.0 => {
                let pool = c
                    .pool
                    .iter()
                    .map(|a| self.member(from_address(*a)))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(Effect::Created { pool })
            }
            Ev::ChallengeOpened(c) if c.cid == cid.0 => Some(Effect::ChallengeOpened {
                challenge_id: c.challengeId,
            }),
            Ev::MemberRemoved(m) if m.cid == cid.0 => {
                let replacement = if m.replacement.is_zero() {
                    None
                } else {
                    Some(self.member(from_address(m.replacement))?)
                };
                Some(Effect::MemberRemoved { replacement })
            }
            _ => None,
        })
    }

    /// Reserves the next index of `cid` for a transaction that is not in the manager's log.
    /// Used only by the test-only forging host (`NodeConfig::test_forge_remove_members`).
    pub fn reserve_index(&mut self, cid: ContractId) -> u64 {
        let index = self.next_index.entry(cid).or_insert(0);
        let got = *index;
        *index += 1;
        got
    }

    fn member(&self, address: Address) -> Result<Member, FeedError> {
        self.registry
            .get(&address)
            .cloned()
            .ok_or(FeedError::UnknownEnclave(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pose_chain::alloy::primitives::{Address as A, Bytes, FixedBytes, TxHash, U256};
    use pose_chain::PoseManager;

    fn at(tx: u8, event: Ev) -> ManagerEvent {
        ManagerEvent {
            block_number: 7,
            block_timestamp: 1_000,
            tx_hash: TxHash::from([tx; 32]),
            log_index: 0,
            event,
        }
    }

    fn registered(a: u8) -> ManagerEvent {
        at(
            a,
            Ev::EnclaveRegistered(PoseManager::EnclaveRegistered {
                enclave: A::from([a; 20]),
                operator: A::from([0xee; 20]),
                measurement: FixedBytes([1; 32]),
                encPubKey: FixedBytes([a; 32]),
                vendorSig: Bytes::from(vec![a; 65]),
            }),
        )
    }

    fn extended(tx: u8, cid: u64, data: &[u8], value: u64) -> ManagerEvent {
        at(
            tx,
            Ev::TxHashExtended(PoseManager::TxHashExtended {
                cid,
                txHash: FixedBytes([tx; 32]),
                sender: A::from([0xaa; 20]),
                value: U256::from(value),
                data: Bytes::copy_from_slice(data),
            }),
        )
    }

    fn created(tx: u8, cid: u64, pool: &[u8]) -> ManagerEvent {
        at(
            tx,
            Ev::ContractCreated(PoseManager::ContractCreated {
                cid,
                creator: A::from([0xaa; 20]),
                codeHash: FixedBytes([2; 32]),
                params: PoseManager::Params {
                    poolSize: pool.len() as u8,
                    responsePeriodSecs: 10,
                    memberResponsePeriodSecs: 10,
                    confirmations: 1,
                },
                pool: pool.iter().map(|a| A::from([*a; 20])).collect(),
            }),
        )
    }

    #[test]
    fn transactions_are_numbered_per_contract_and_carry_their_effects() {
        let mut feed = ChainFeed::new();
        let batch = vec![
            registered(1),
            registered(2),
            extended(10, 1, b"create", 0),
            created(10, 1, &[2, 1]),
            extended(11, 1, b"deposit", 5),
            extended(12, 2, b"create-2", 0),
            created(12, 2, &[1]),
            extended(13, 1, b"challenge", 0),
            at(
                13,
                Ev::ChallengeOpened(PoseManager::ChallengeOpened {
                    cid: 1,
                    challengeId: 4,
                    user: A::from([0xaa; 20]),
                    deadline: 99,
                    encryptedInput: Bytes::new(),
                }),
            ),
        ];
        let txs = feed.ingest(&batch).unwrap();
        let summary: Vec<(u64, u64, &[u8])> = txs
            .iter()
            .map(|t| (t.cid.0, t.index, t.calldata.as_slice()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, 0, &b"create"[..]),
                (1, 1, &b"deposit"[..]),
                (2, 0, &b"create-2"[..]),
                (1, 2, &b"challenge"[..]),
            ]
        );
        let Effect::Created { pool } = &txs[0].effect else {
            panic!("the creation carries its pool: {:?}", txs[0].effect);
        };
        let addrs: Vec<Address> = pool.iter().map(|m| m.address).collect();
        assert_eq!(addrs, vec![Address([2; 20]), Address([1; 20])]);
        assert_eq!(pool[0].attestation, vec![2; 65]);
        assert_eq!(pool[0].enc_key, [2; 32]);
        assert_eq!(txs[1].value_wei, 5);
        assert_eq!(txs[1].effect, Effect::None);
        assert_eq!(txs[3].effect, Effect::ChallengeOpened { challenge_id: 4 });
        assert_eq!((txs[3].block_number, txs[3].block_time_secs), (7, 1_000));

        // Numbering continues in the next batch; a removal without replacement says so.
        let next = vec![
            extended(14, 1, b"remove", 0),
            at(
                14,
                Ev::MemberRemoved(PoseManager::MemberRemoved {
                    cid: 1,
                    member: A::from([1; 20]),
                    replacement: A::ZERO,
                    index: U256::from(1),
                }),
            ),
        ];
        let txs = feed.ingest(&next).unwrap();
        assert_eq!(
            (txs[0].index, &txs[0].effect),
            (3, &Effect::MemberRemoved { replacement: None })
        );
    }

    #[test]
    fn a_pool_member_never_seen_registering_is_an_error() {
        let mut feed = ChainFeed::new();
        let batch = vec![extended(10, 1, b"create", 0), created(10, 1, &[3])];
        assert_eq!(
            feed.ingest(&batch),
            Err(FeedError::UnknownEnclave(Address([3; 20])))
        );
    }
}
