//! **Test only** (`NodeConfig::test_forge_remove_members`): a dishonest host that hands its
//! enclave invented chain transactions, so the end-to-end tests can show that no user accepts a
//! receipt built on them. Never enabled on a real node.

use std::collections::{BTreeMap, BTreeSet};

use pose_enclave::{ChainTx, Effect, ManagerCall};
use pose_types::{Address, ContractId};

use crate::chain_feed::ChainFeed;

/// **Test only** (`NodeConfig::test_forge_remove_members`): a host that lies to its enclave.
/// Once the feed has caught up with the chain (a poll with no new transaction), it invents, for every contract whose creation
/// completed, a `removeMember` of each pool member other than its own enclave.
pub struct Forger {
    me: Address,
    pools: BTreeMap<ContractId, Vec<Address>>,
    executing: BTreeSet<ContractId>,
    done: BTreeSet<ContractId>,
    /// Block number and time of the latest real transaction per contract.
    last: BTreeMap<ContractId, (u64, u64)>,
}

impl Forger {
    /// A forger for the host of enclave `me`.
    pub fn new(me: Address) -> Self {
        Self {
            me,
            pools: BTreeMap::new(),
            executing: BTreeSet::new(),
            done: BTreeSet::new(),
            last: BTreeMap::new(),
        }
    }

    /// Learns pools and completions from `txs`; returns the invented transactions to hand
    /// over after them.
    pub fn forge(
        &mut self,
        txs: &[ChainTx],
        caught_up: bool,
        feed: &mut ChainFeed,
    ) -> Vec<ChainTx> {
        for tx in txs {
            if let Effect::Created { pool } = &tx.effect {
                self.pools
                    .insert(tx.cid, pool.iter().map(|m| m.address).collect());
            }
            if matches!(tx.call(), Ok(ManagerCall::CompleteCreation { .. })) {
                self.executing.insert(tx.cid);
            }
            self.last
                .insert(tx.cid, (tx.block_number, tx.block_time_secs));
        }
        if !caught_up {
            return Vec::new();
        }
        let mut out = Vec::new();
        for cid in self.executing.clone() {
            if self.done.contains(&cid)
                || !self.pools.get(&cid).is_some_and(|p| p.contains(&self.me))
            {
                continue;
            }
            self.done.insert(cid);
            let (block_number, block_time_secs) = self.last.get(&cid).copied().unwrap_or_default();
            for member in self.pools[&cid].iter().filter(|m| **m != self.me) {
                let call = ManagerCall::RemoveMember {
                    cid,
                    member: *member,
                };
                tracing::warn!(%member, ?cid, "handing the enclave an invented removeMember");
                out.push(ChainTx {
                    cid,
                    index: feed.reserve_index(cid),
                    calldata: call.encode(),
                    sender: self.me,
                    value_wei: 0,
                    block_number,
                    block_time_secs,
                    effect: Effect::MemberRemoved { replacement: None },
                });
            }
        }
        out
    }
}
