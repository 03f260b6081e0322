//! The invariants checked at the end of a run, over what honest pool members hold: no receipt
//! a user accepted is lost, every coin the chain holds is owed to someone, and no honest member
//! is removed.

use pose_enclave::{AppState, ManagerCall};
use pose_types::{ContractId, Epoch};

use super::{Failure, World};

impl World {
    /// Pool members (node indices) whose host is honest towards its enclave's view of the
    /// chain (not silent, not forging) and whose enclave holds a state of `cid`, with it.
    fn honest_heads(&self, cid: ContractId) -> Vec<(usize, &AppState, Epoch)> {
        let Some(c) = self.chain.contracts.get(&cid) else {
            return Vec::new();
        };
        c.pool
            .iter()
            .filter_map(|m| self.by_addr.get(&m.address).copied())
            .filter(|i| self.nodes[*i].silent_from_ms.is_none() && !self.hostile.forges(*i))
            .filter_map(|i| {
                let (h, he) = self.nodes[i].enclave.as_ref()?.head(cid)?;
                Some((i, h, he))
            })
            .collect()
    }

    /// Every receipt a user accepted is in the state of every honest pool member that holds
    /// one: the history the pool goes on from, whoever executes next (a receipt is only given
    /// for a state every member acknowledged, and later members are synced to a descendant).
    pub(super) fn check_receipts_held(&mut self) {
        for cid in self.cids.clone() {
            let mut problem = None;
            for (i, head, he) in self.honest_heads(cid) {
                let missing = self
                    .receipted
                    .iter()
                    .find(|(c, u, n)| *c == cid && !head.has_executed(u, *n));
                if let Some((_, u, n)) = missing {
                    problem = Some(format!(
                        "lost answer: receipted request {u}/{n} of {cid:?} is missing from the state of honest pool member node {i} (epoch {} seq {})",
                        he.0, head.seq.0
                    ));
                    break;
                }
            }
            if let Some(p) = problem {
                self.fail(Failure::Correctness(p));
                return;
            }
        }
    }

    /// Per contract, what the chain holds (its balance plus what a termination handed to the
    /// creator) is exactly what the latest state of the honest pool members owes: internal
    /// balances, payouts decided but not yet withdrawn on-chain, and deposits the state has not
    /// folded yet. So every deposit is credited or refundable, also after a termination or a
    /// crash, and nothing is paid that was not owed.
    pub(super) fn check_money(&mut self) {
        for cid in self.cids.clone() {
            let Some(c) = self.chain.contracts.get(&cid) else {
                continue;
            };
            let heads = self.honest_heads(cid);
            let Some((i, s, _)) = heads.into_iter().max_by_key(|(_, h, he)| (*he, h.seq)) else {
                continue;
            };
            let pending: u128 = s
                .pending_payouts()
                .iter()
                .filter(|(n, _)| !c.used_nonces.contains(n))
                .map(|(_, p)| p.amount_wei)
                .sum();
            let later: u128 = c
                .log
                .iter()
                .skip(s.chain_pos as usize)
                .filter(|t| matches!(t.call(), Ok(ManagerCall::Deposit { .. })))
                .map(|t| t.value_wei)
                .sum();
            let owed = s.contract().total_balance_wei() + pending + later;
            let held = c.balance_wei + c.forfeited_wei;
            if owed != held {
                let p = format!(
                    "conservation: {cid:?} holds {held} wei on-chain ({} forfeited to the creator) but the state of honest node {i} (seq {}) owes {owed}",
                    c.forfeited_wei, s.seq.0
                );
                self.fail(Failure::Correctness(p));
                return;
            }
        }
    }

    /// No pool member whose host is honest after healing (it relays its enclave's chain view
    /// and submissions; a tampering host does, unless `lenient_removals`) is removed for a
    /// member challenge opened after healing.
    pub(super) fn check_honest_not_removed(&mut self) {
        let heal_secs = self.heal_ms.div_ceil(1000);
        for cid in self.cids.clone() {
            let Some(c) = self.chain.contracts.get(&cid) else {
                continue;
            };
            let mut opened = std::collections::BTreeMap::new();
            let mut problem = None;
            for t in &c.log {
                match t.call() {
                    Ok(ManagerCall::ChallengeMember { member, .. }) => {
                        opened.insert(member, t.block_time_secs);
                    }
                    Ok(ManagerCall::RemoveMember { member, .. }) => {
                        let Some(&i) = self.by_addr.get(&member) else {
                            continue;
                        };
                        let after_heal = opened.get(&member).is_some_and(|s| *s >= heal_secs);
                        let lenient = self.opts.lenient_removals && self.nodes[i].tampers;
                        let hostile = self.nodes[i].silent_from_ms.is_some()
                            || self.hostile.hostile_after_heal(i)
                            || lenient;
                        if after_heal && !hostile {
                            problem = Some(format!(
                                "honest member removed: node {i} ({member}) of {cid:?} at {} s, challenged after healing",
                                t.block_time_secs
                            ));
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(p) = problem {
                self.fail(Failure::Correctness(p));
                return;
            }
        }
    }
}
