//! The explorer: a read-only picture of every contract the manager knows, built from the
//! manager's confirmed events, for `GET /v1/contracts` and the page at `GET /explorer`.
//!
//! It holds only public chain facts (pools, executors, epochs, the sequence number last posted
//! on chain, open challenges, executor changes) and the node URLs it knows (published on chain
//! or found by peer discovery); the node serves it next to its own
//! status. Nothing in it comes from the enclave, and nothing in it is trusted by anyone: a user
//! who doubts a node's page reads the same events from the chain.
//!
//! Bounds: the history kept per contract is [`HISTORY_MAX`] entries (the newest), and
//! `GET /v1/contracts` lists the [`CONTRACTS_SHOWN_MAX`] newest contracts, and at most
//! [`NODES_MAX`] node URLs are kept.

use std::collections::{BTreeMap, VecDeque};

use pose_chain::PoseManager::PoseManagerEvents as Ev;
use pose_chain::{from_address, ManagerEvent};
use pose_types::Address;
use serde::Serialize;

/// Executor changes kept per contract (the newest).
pub const HISTORY_MAX: usize = 32;
/// Contracts `GET /v1/contracts` lists (the newest).
pub const CONTRACTS_SHOWN_MAX: usize = 256;
/// Node URLs kept (the page asks each for its status every second).
pub const NODES_MAX: usize = 64;

/// A contract's lifecycle phase as the events show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Created; the members have not all accepted yet.
    Creation,
    /// Running, no challenge open.
    Executing,
    /// At least one challenge waits for the executor.
    Challenged,
    /// Every member let a deadline pass; waits for a member to revive it.
    Crashed,
    /// Terminated; its coins were paid out.
    Terminated,
}

/// A challenge that waits for an answer on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenChallenge {
    /// Its id.
    pub id: u64,
    /// Who opened it.
    pub user: String,
    /// Its current deadline (chain seconds).
    pub deadline: u64,
}

/// One executor change: the executor of `epoch` from `block` on, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecutorChange {
    /// The new epoch.
    pub epoch: u64,
    /// The new executor.
    pub executor: String,
    /// The block of the change.
    pub block: u64,
    /// Chain time of the change (seconds).
    pub time: u64,
    /// `created`, `timeout` (the previous executor let challenge `challenge` pass) or
    /// `revived`.
    pub reason: &'static str,
    /// The challenge whose deadline passed (`timeout` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<u64>,
}

/// What the explorer knows about one contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContractView {
    /// The contract id.
    pub cid: u64,
    /// Its creator.
    pub creator: String,
    /// The phase.
    pub phase: Phase,
    /// The pool, in executor rotation order.
    pub pool: Vec<String>,
    /// The current executor.
    pub executor: String,
    /// The current epoch.
    pub epoch: u64,
    /// The sequence number last posted on chain (by an answer or a revival); receipts off
    /// chain run ahead of it.
    pub seq: u64,
    /// The contract's balance on the manager (wei, decimal) after its last deposit.
    pub balance_wei: String,
    /// The challenges that wait for an answer.
    pub open_challenges: Vec<OpenChallenge>,
    /// The executor changes, oldest first (at most [`HISTORY_MAX`], the newest).
    pub executor_history: VecDeque<ExecutorChange>,
}

/// The explorer's state; fed with every manager event in chain order.
#[derive(Debug, Default)]
pub struct Explorer {
    contracts: BTreeMap<u64, ContractView>,
    /// Node API URLs by enclave: published on chain, or found by this node's peer discovery.
    nodes: BTreeMap<Address, String>,
    /// The last block whose events were read.
    block: u64,
}

impl Explorer {
    /// An explorer that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the API URL of the node hosting `enclave` (a hint: the page asks that node
    /// which enclave it hosts before it shows the node as up). At most [`NODES_MAX`] are kept.
    /// URLs other than `http://` or `https://` ones are ignored (anyone may publish any text).
    pub fn set_node(&mut self, enclave: Address, url: String) {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return;
        }
        if self.nodes.len() < NODES_MAX || self.nodes.contains_key(&enclave) {
            self.nodes.insert(enclave, url);
        }
    }

    /// Consumes events in chain order; `block` is the last block read.
    pub fn ingest(&mut self, events: &[ManagerEvent], block: u64) {
        for e in events {
            self.apply(e);
        }
        self.block = self.block.max(block);
    }

    fn apply(&mut self, e: &ManagerEvent) {
        let hex = |a| from_address(a).to_string();
        if let Ev::ContractCreated(c) = &e.event {
            let pool: Vec<String> = c.pool.iter().map(|a| hex(*a)).collect();
            let executor = pool.first().cloned().unwrap_or_default();
            let mut executor_history = VecDeque::new();
            executor_history.push_back(ExecutorChange {
                epoch: 0,
                executor: executor.clone(),
                block: e.block_number,
                time: e.block_timestamp,
                reason: "created",
                challenge: None,
            });
            self.contracts.insert(
                c.cid,
                ContractView {
                    cid: c.cid,
                    creator: hex(c.creator),
                    phase: Phase::Creation,
                    pool,
                    executor,
                    epoch: 0,
                    seq: 0,
                    balance_wei: "0".into(),
                    open_challenges: Vec::new(),
                    executor_history,
                },
            );
            return;
        }
        if let Ev::EndpointSet(s) = &e.event {
            // A hint only (see the manager): shown as published.
            self.set_node(from_address(s.enclave), s.endpoint.clone());
            return;
        }
        let Some(cid) = cid_of(&e.event) else {
            return;
        };
        let Some(c) = self.contracts.get_mut(&cid) else {
            return;
        };
        match &e.event {
            Ev::CreationCompleted(_) => c.phase = Phase::Executing,
            Ev::Deposited(d) => c.balance_wei = d.balance.to_string(),
            Ev::ChallengeOpened(o) => {
                c.open_challenges.push(OpenChallenge {
                    id: o.challengeId,
                    user: hex(o.user),
                    deadline: o.deadline,
                });
                c.phase = Phase::Challenged;
            }
            Ev::ChallengeAnswered(a) => {
                c.open_challenges.retain(|o| o.id != a.challengeId);
                c.seq = a.seq;
                if c.open_challenges.is_empty() {
                    c.phase = Phase::Executing;
                }
            }
            Ev::ExecutorChanged(x) => {
                c.epoch = x.epoch;
                c.executor = hex(x.executor);
                if let Some(o) = c.open_challenges.iter_mut().find(|o| o.id == x.challengeId) {
                    o.deadline = x.deadline;
                }
                push_change(c, e, "timeout", Some(x.challengeId));
            }
            Ev::ContractCrashed(_) => c.phase = Phase::Crashed,
            Ev::ContractRevived(r) => {
                c.epoch = r.epoch;
                c.executor = hex(r.executor);
                c.seq = r.seq;
                c.phase = if c.open_challenges.is_empty() {
                    Phase::Executing
                } else {
                    Phase::Challenged
                };
                push_change(c, e, "revived", None);
            }
            Ev::MemberRemoved(m) => {
                let member = hex(m.member);
                if let Some(i) = c.pool.iter().position(|p| *p == member) {
                    if m.replacement.is_zero() {
                        c.pool.remove(i);
                    } else {
                        c.pool[i] = hex(m.replacement);
                    }
                }
            }
            Ev::Terminated(_) => {
                c.phase = Phase::Terminated;
                c.open_challenges.clear();
            }
            _ => {}
        }
    }

    /// The JSON of `GET /v1/contracts`: the last block read, the node URLs known by enclave,
    /// and the newest contracts, newest first.
    pub fn to_json(&self) -> serde_json::Value {
        let contracts: Vec<&ContractView> = self
            .contracts
            .values()
            .rev()
            .take(CONTRACTS_SHOWN_MAX)
            .collect();
        let nodes: BTreeMap<String, &String> =
            self.nodes.iter().map(|(a, u)| (a.to_string(), u)).collect();
        serde_json::json!({
            "chain_block": self.block,
            "contracts_total": self.contracts.len(),
            "contracts": contracts,
            "nodes": nodes,
        })
    }
}

fn push_change(c: &mut ContractView, e: &ManagerEvent, reason: &'static str, ch: Option<u64>) {
    if c.executor_history.len() >= HISTORY_MAX {
        c.executor_history.pop_front();
    }
    c.executor_history.push_back(ExecutorChange {
        epoch: c.epoch,
        executor: c.executor.clone(),
        block: e.block_number,
        time: e.block_timestamp,
        reason,
        challenge: ch,
    });
}

fn cid_of(e: &Ev) -> Option<u64> {
    Some(match e {
        Ev::CreationCompleted(x) => x.cid,
        Ev::Deposited(x) => x.cid,
        Ev::ChallengeOpened(x) => x.cid,
        Ev::ChallengeAnswered(x) => x.cid,
        Ev::ExecutorChanged(x) => x.cid,
        Ev::ContractCrashed(x) => x.cid,
        Ev::ContractRevived(x) => x.cid,
        Ev::MemberRemoved(x) => x.cid,
        Ev::Terminated(x) => x.cid,
        _ => return None,
    })
}

/// The explorer page: static HTML with inline script that polls `/v1/status` and
/// `/v1/contracts` of the node serving it. No external resources.
pub const PAGE: &str = include_str!("explorer.html");

#[cfg(test)]
mod tests {
    use super::*;
    use pose_chain::alloy::primitives::{Address as A, Bytes, FixedBytes, TxHash, U256};
    use pose_chain::PoseManager;

    fn at(block: u64, event: Ev) -> ManagerEvent {
        ManagerEvent {
            block_number: block,
            block_timestamp: 1_000 + block,
            tx_hash: TxHash::from([block as u8; 32]),
            log_index: 0,
            event,
        }
    }

    fn a(n: u8) -> A {
        A::from([n; 20])
    }

    fn s(n: u8) -> String {
        from_address(a(n)).to_string()
    }

    fn created(block: u64, cid: u64, pool: &[u8]) -> ManagerEvent {
        at(
            block,
            Ev::ContractCreated(PoseManager::ContractCreated {
                cid,
                creator: a(0xaa),
                codeHash: FixedBytes([2; 32]),
                params: PoseManager::Params {
                    poolSize: pool.len() as u8,
                    responsePeriodSecs: 10,
                    memberResponsePeriodSecs: 10,
                    confirmations: 1,
                },
                pool: pool.iter().map(|n| a(*n)).collect(),
            }),
        )
    }

    /// A failover as the chain shows it: a challenge is opened, the executor lets it pass,
    /// the next member becomes executor of epoch 1 and answers; the history records both
    /// executors and the challenge is no longer open.
    #[test]
    fn a_failover_moves_the_executor_and_is_recorded() {
        let mut x = Explorer::new();
        x.ingest(
            &[
                created(1, 1, &[1, 2, 3]),
                at(
                    2,
                    Ev::CreationCompleted(PoseManager::CreationCompleted {
                        cid: 1,
                        contractEncKey: FixedBytes([0; 32]),
                        initStateHash: FixedBytes([0; 32]),
                    }),
                ),
                at(
                    3,
                    Ev::ChallengeOpened(PoseManager::ChallengeOpened {
                        cid: 1,
                        challengeId: 1,
                        user: a(0xaa),
                        deadline: 50,
                        encryptedInput: Bytes::new(),
                    }),
                ),
            ],
            3,
        );
        let c = &x.contracts[&1];
        assert_eq!((c.phase, c.executor.clone()), (Phase::Challenged, s(1)));
        assert_eq!(c.open_challenges.len(), 1);
        x.ingest(
            &[
                at(
                    4,
                    Ev::ExecutorChanged(PoseManager::ExecutorChanged {
                        cid: 1,
                        epoch: 1,
                        executor: a(2),
                        challengeId: 1,
                        deadline: 70,
                    }),
                ),
                at(
                    5,
                    Ev::ChallengeAnswered(PoseManager::ChallengeAnswered {
                        cid: 1,
                        challengeId: 1,
                        epoch: 1,
                        seq: 7,
                        stateHash: FixedBytes([0; 32]),
                        encryptedOutput: Bytes::new(),
                    }),
                ),
            ],
            5,
        );
        let c = &x.contracts[&1];
        assert_eq!(
            (c.phase, c.executor.clone(), c.epoch, c.seq),
            (Phase::Executing, s(2), 1, 7)
        );
        assert!(c.open_challenges.is_empty());
        let history: Vec<(u64, &str, &str)> = c
            .executor_history
            .iter()
            .map(|h| (h.epoch, h.executor.as_str(), h.reason))
            .collect();
        assert_eq!(
            history,
            vec![(0, s(1).as_str(), "created"), (1, s(2).as_str(), "timeout")]
        );
        let json = x.to_json();
        assert_eq!(json["chain_block"], 5);
        assert_eq!(json["contracts"][0]["executor"], s(2));
        assert_eq!(json["contracts"][0]["executor_history"][1]["challenge"], 1);
    }

    /// Removed members leave the pool (or are replaced in their slot); the history is bounded;
    /// events of contracts never created are ignored.
    #[test]
    fn pools_follow_removals_and_history_is_bounded() {
        let mut x = Explorer::new();
        let removed = |block, member, replacement| {
            at(
                block,
                Ev::MemberRemoved(PoseManager::MemberRemoved {
                    cid: 1,
                    member: a(member),
                    replacement: a(replacement),
                    index: U256::ZERO,
                }),
            )
        };
        x.ingest(
            &[
                created(1, 1, &[1, 2, 3]),
                removed(2, 2, 4),
                at(
                    3,
                    Ev::MemberRemoved(PoseManager::MemberRemoved {
                        cid: 1,
                        member: a(3),
                        replacement: A::ZERO,
                        index: U256::from(2),
                    }),
                ),
                at(
                    3,
                    Ev::ContractCrashed(PoseManager::ContractCrashed { cid: 9, epoch: 1 }),
                ),
            ],
            3,
        );
        assert_eq!(x.contracts[&1].pool, vec![s(1), s(4)]);
        assert!(!x.contracts.contains_key(&9));
        let revivals: Vec<ManagerEvent> = (0..HISTORY_MAX as u64 + 5)
            .map(|i| {
                at(
                    10 + i,
                    Ev::ContractRevived(PoseManager::ContractRevived {
                        cid: 1,
                        epoch: i + 1,
                        executor: a(4),
                        seq: i,
                        stateHash: FixedBytes([0; 32]),
                    }),
                )
            })
            .collect();
        x.ingest(&revivals, 100);
        let h = &x.contracts[&1].executor_history;
        assert_eq!(h.len(), HISTORY_MAX);
        assert_eq!(h.back().unwrap().epoch, HISTORY_MAX as u64 + 5);
    }

    /// Published endpoints are kept only as http(s) URLs, and at most [`NODES_MAX`] of them.
    #[test]
    fn only_http_endpoints_are_kept_and_they_are_bounded() {
        let mut x = Explorer::new();
        let published = |n: u8, url: &str| {
            at(
                1,
                Ev::EndpointSet(PoseManager::EndpointSet {
                    enclave: a(n),
                    endpoint: url.into(),
                }),
            )
        };
        x.ingest(
            &[
                published(1, "http://10.0.0.1:7400"),
                published(2, "javascript:alert(1)"),
                published(3, "file:///etc/passwd"),
            ],
            1,
        );
        let json = x.to_json();
        assert_eq!(json["nodes"][s(1)], "http://10.0.0.1:7400");
        assert_eq!(json["nodes"].as_object().unwrap().len(), 1, "{json}");
        for i in 0..NODES_MAX as u32 + 10 {
            let mut bytes = [0u8; 20];
            bytes[..4].copy_from_slice(&i.to_be_bytes());
            x.set_node(Address(bytes), format!("http://127.0.0.1:{i}"));
        }
        assert_eq!(x.nodes.len(), NODES_MAX);
    }
}
