//! The hostile operator beyond the faulty network (A4: the operator controls everything that
//! reaches its enclave): hosts that lie to their own enclave about the chain, and hosts that
//! drop the submissions their enclave asks for. (A host passes its enclave no clock: the
//! enclave reads its TEE's, so a host that moves its own clock changes nothing.)
//!
//! Every decision comes from its own random stream (`Hosts::rng`), so a run whose adversary
//! draws nothing, or has every part switched off ([`Adversary::none`]), makes the same draws
//! as a run without these parts. Which hosts are hostile is printed in a trace.

use std::collections::{BTreeMap, BTreeSet};

use pose_enclave::{ChainTx, Effect, Event, ManagerCall, Message, Phase, UpdateKind};
use pose_types::{Address, ContractId, Epoch, Hash32, Seq};

use super::World;
use crate::rng::Rng;
use crate::Adversary;

/// How a forging host lies to its enclave about the chain. Invented transactions are fed at
/// the enclave's next index (it refuses any other), and the real ones after them renumbered.
#[derive(Clone, Debug, Default)]
pub(super) struct Forge {
    /// As the executor: invent a `removeMember` (no replacement) for every other member, so
    /// the enclave thinks it is alone in the pool and commits without acks.
    remove_watchdogs: bool,
    /// As the executor: invent a `respondMember` for every other member naming the state the
    /// enclave just sent, with a copied or garbage signature (the enclave takes it as an ack).
    respond_for_members: bool,
    /// As a watchdog: invent `timeoutChallenge`s until the enclave thinks it is the executor.
    invent_timeouts: bool,
    /// Per mille of real transactions altered (calldata, sender, value, block, effect).
    alter: u64,
    /// Per mille of real transactions dropped.
    drop: u64,
    /// Per mille of real transactions fed twice.
    dup: u64,
    /// Per mille of real transactions held back behind the next one.
    reorder: u64,
    /// Extra delay of the whole feed, ms.
    delay_ms: u64,
    /// Held back for reordering, per contract.
    held: BTreeMap<ContractId, ChainTx>,
    /// `(cid, epoch)` for which removals were invented.
    removed_for: BTreeSet<(ContractId, Epoch)>,
    /// Contracts for which timeouts were invented.
    timed_out: BTreeSet<ContractId>,
    /// The latest state the enclave sent as the executor, per contract (read from the clear
    /// header of its updates, as a real host can).
    sent: BTreeMap<ContractId, (Epoch, Seq, Hash32)>,
    /// Acks invented so far, per contract and member.
    acked: BTreeMap<(ContractId, Address), (Epoch, Seq)>,
}

/// The hostile parts of every host.
pub(super) struct Hosts {
    parts: Adversary,
    rng: Rng,
    forge: BTreeMap<usize, Forge>,
    /// Windows `[from, until)` in which a host drops every submission, ms.
    drop_submits: BTreeMap<usize, (u64, u64)>,
    /// Hosts that were hostile after healing (for the honest-member invariant).
    hostile_after_heal: BTreeSet<usize>,
}

impl Hosts {
    pub(super) fn new(seed: u64, parts: Adversary) -> Self {
        Self {
            parts,
            rng: Rng::new(seed ^ 0x005e_ed0f_a4a4),
            forge: BTreeMap::new(),
            drop_submits: BTreeMap::new(),
            hostile_after_heal: BTreeSet::new(),
        }
    }

    /// True if the host of node `i` was hostile (forging or dropping submissions) at some time
    /// after healing.
    pub(super) fn hostile_after_heal(&self, i: usize) -> bool {
        self.hostile_after_heal.contains(&i)
    }

    /// True if node `i`'s host forges the chain feed.
    pub(super) fn forges(&self, i: usize) -> bool {
        self.forge.contains_key(&i)
    }
}

impl World {
    /// Prints what the seed drew (`--trace`): rates of the network faults and the run's shape.
    pub(super) fn trace_draws(&mut self) {
        let f = &self.faults;
        let line = format!(
            "draws: pools {:?} on {} enclaves, silent up to {} and tampering up to {} per pool at healing; network per mille: drop {} dup {} flip {} replay {}, delay up to {} ms; crash per 10k steps {}, old blob per mille {}; adversary {:?}",
            self.pool_sizes,
            self.nodes.len(),
            self.silent_wanted,
            self.tampering_wanted,
            f.drop,
            f.dup,
            f.flip,
            f.replay,
            f.delay_max_ms,
            f.crash_rate,
            f.old_blob,
            self.opts.adversary
        );
        self.trace(|| line);
    }

    /// At the start of the faults: some hosts drop their enclave's submissions for a while
    /// (ending at healing at the latest).
    pub(super) fn hostile_at_faults(&mut self) {
        let (now, heal) = (self.now_ms, self.heal_ms);
        for i in 0..self.nodes.len() {
            let lag = self.nodes[i].chain_lag_ms;
            self.trace(|| format!("node {i}: host withholds chain events {lag} ms"));
            if self.hostile.parts.drop_submissions && self.hostile.rng.chance(250) {
                let from = self.hostile.rng.range(now, heal);
                let until = self.hostile.rng.range(from, heal);
                self.hostile.drop_submits.insert(i, (from, until));
                self.trace(|| format!("node {i}: host drops submissions {from}..{until} ms"));
            }
        }
        if let Some((a, b, side)) = &self.faults.partition {
            let line = format!("partition {a}..{b} ms of {side:?}");
            self.trace(|| line);
        }
    }

    /// At healing (after the silent and tampering members are chosen): among the pool members
    /// that are neither silent nor tampering, some get a host that forges the chain feed or drops
    /// submissions, for good (or, for submissions, for a while). Never the
    /// member of a pool that the liveness premise keeps honest: per pool, the one with the
    /// latest state among the members that are not the executor, not silent, not tampering
    /// and have no member challenge open (the executor itself only if no such member exists).
    pub(super) fn hostile_at_healing(&mut self) {
        let parts = self.hostile.parts;
        if !(parts.forge_chain || parts.drop_submissions) {
            return;
        }
        let mut protected = BTreeSet::new();
        let mut members = BTreeSet::new();
        for cid in self.cids.clone() {
            let Some(c) = self.chain.contracts.get(&cid) else {
                continue;
            };
            let exec = c.executor();
            let mut best: Option<((bool, Epoch, Seq), Address)> = None;
            for m in &c.pool {
                let i = self.by_addr[&m.address];
                members.insert(i);
                let n = &self.nodes[i];
                if n.silent_from_ms.is_some() || n.tampers {
                    continue;
                }
                if c.member_challenges.contains_key(&m.address) {
                    continue;
                }
                let Some((h, he)) = n.enclave.as_ref().and_then(|e| e.head(cid)) else {
                    continue;
                };
                let key = (Some(m.address) != exec, he, h.seq);
                if best.as_ref().is_none_or(|(k, _)| key > *k) {
                    best = Some((key, m.address));
                }
            }
            match best {
                Some((_, a)) => {
                    protected.insert(self.by_addr[&a]);
                }
                // No honest state holder that stays: nothing new in this pool.
                None => protected.extend(c.pool.iter().map(|m| self.by_addr[&m.address])),
            }
        }
        let now = self.now_ms;
        for i in members {
            let n = &self.nodes[i];
            if protected.contains(&i) || n.silent_from_ms.is_some() || n.tampers {
                continue;
            }
            if parts.forge_chain && self.hostile.rng.chance(400) {
                let r = &mut self.hostile.rng;
                let f = Forge {
                    remove_watchdogs: r.chance(500),
                    respond_for_members: r.chance(500),
                    invent_timeouts: r.chance(300),
                    alter: if r.chance(500) { r.range(20, 200) } else { 0 },
                    drop: if r.chance(300) { r.range(20, 150) } else { 0 },
                    dup: if r.chance(300) { r.range(20, 150) } else { 0 },
                    reorder: if r.chance(300) { r.range(20, 150) } else { 0 },
                    delay_ms: if r.chance(300) {
                        r.range(500, 8_000)
                    } else {
                        0
                    },
                    ..Forge::default()
                };
                let line = format!(
                    "node {i}: host forges the chain feed for good: remove watchdogs {}, respond for members {}, invent timeouts {}, per mille alter {} drop {} dup {} reorder {}, delay {} ms",
                    f.remove_watchdogs, f.respond_for_members, f.invent_timeouts, f.alter, f.drop, f.dup, f.reorder, f.delay_ms
                );
                self.trace(|| line);
                self.hostile.forge.insert(i, f);
                self.hostile.hostile_after_heal.insert(i);
            }
            if parts.drop_submissions && self.hostile.rng.chance(250) {
                let until = if self.hostile.rng.chance(500) {
                    u64::MAX
                } else {
                    now + self.hostile.rng.range(2_000, 30_000)
                };
                self.hostile.drop_submits.insert(i, (now, until));
                self.hostile.hostile_after_heal.insert(i);
                self.trace(|| {
                    format!("node {i}: host drops submissions from {now} ms until {until}")
                });
            }
        }
    }

    /// True if node `i`'s host drops this submission of its enclave.
    pub(super) fn host_drops_submission(&self, i: usize) -> bool {
        self.hostile
            .drop_submits
            .get(&i)
            .is_some_and(|(a, b)| self.now_ms >= *a && self.now_ms < *b)
    }

    /// Remembers the states node `i`'s enclave sends as an executor (forging hosts use them).
    pub(super) fn note_sent(&mut self, i: usize, bytes: &[u8]) {
        let Some(f) = self.hostile.forge.get_mut(&i) else {
            return;
        };
        if let Ok(Message::Update(u)) = Message::decode(bytes) {
            let e = f.sent.entry(u.cid).or_insert((u.epoch, u.seq, u.new_hash));
            if (u.epoch, u.seq) >= (e.0, e.1) || u.kind == UpdateKind::Sync {
                *e = (u.epoch, u.seq, u.new_hash);
            }
        }
    }

    /// Feeds the real chain transaction `tx` (the next in the log) to node `i` as its host does.
    /// Returns false if the host must offer it again later (a forging host delays it); the
    /// caller then stops feeding this contract.
    pub(super) fn host_feeds(&mut self, i: usize, tx: &ChainTx) -> bool {
        let Some(f) = self.hostile.forge.get(&i) else {
            self.deliver(i, Event::Chain(tx.encode()), false);
            return true;
        };
        if f.delay_ms > 0 && tx.block_time_secs * 1000 + f.delay_ms > self.now_ms {
            return false;
        }
        let (alter, drop, dup, reorder) = (f.alter, f.drop, f.dup, f.reorder);
        let cid = tx.cid;
        let r = &mut self.hostile.rng;
        let (hide, change, hold, twice) = (
            r.chance(drop),
            r.chance(alter),
            r.chance(reorder),
            r.chance(dup),
        );
        if hide {
            self.trace(|| format!("node {i}: host hides chain tx {} of {cid:?}", tx.index));
            return true;
        }
        let mut tx = tx.clone();
        if change {
            self.alter_tx(i, &mut tx);
        }
        if hold {
            let idx = tx.index;
            if let Some(f) = self.hostile.forge.get_mut(&i) {
                if let std::collections::btree_map::Entry::Vacant(slot) = f.held.entry(cid) {
                    slot.insert(tx);
                    self.trace(|| format!("node {i}: host holds back chain tx {idx}"));
                    return true;
                }
            }
        }
        let times = if twice { 2 } else { 1 };
        for _ in 0..times {
            self.feed_forged(i, tx.clone(), "real");
        }
        if let Some(held) = self
            .hostile
            .forge
            .get_mut(&i)
            .and_then(|f| f.held.remove(&cid))
        {
            self.feed_forged(i, held, "held back");
        }
        true
    }

    /// Alters one field of `tx` (a host's lie about what the chain executed).
    fn alter_tx(&mut self, i: usize, tx: &mut ChainTx) {
        let r = &mut self.hostile.rng;
        let what = r.below(7);
        match what {
            0 if !tx.calldata.is_empty() => {
                let k = 4 + r.below(tx.calldata.len().saturating_sub(4) as u64) as usize;
                if let Some(b) = tx.calldata.get_mut(k) {
                    *b ^= 1 << r.below(8);
                }
            }
            1 => r.fill(&mut tx.sender.0),
            2 => tx.value_wei = tx.value_wei.wrapping_add(r.range(1, 1_000) as u128),
            3 => {
                tx.block_time_secs = tx
                    .block_time_secs
                    .saturating_add(r.range(0, 600))
                    .saturating_sub(r.range(0, 600))
            }
            4 => tx.block_number = tx.block_number.wrapping_add(r.range(1, 100)),
            _ => match &mut tx.effect {
                Effect::ChallengeOpened { challenge_id } => {
                    *challenge_id = if r.chance(500) {
                        challenge_id.wrapping_add(1)
                    } else {
                        challenge_id.saturating_sub(1)
                    };
                }
                Effect::MemberRemoved { replacement } => {
                    if replacement.is_some() && r.chance(500) {
                        *replacement = None;
                    } else {
                        let regs = &self.chain.registered;
                        let k = r.below(regs.len() as u64) as usize;
                        *replacement = regs.get(k).cloned();
                    }
                }
                _ => tx.block_time_secs = tx.block_time_secs.saturating_sub(r.range(1, 60)),
            },
        }
        let idx = tx.index;
        self.trace(|| format!("node {i}: host alters chain tx {idx} (kind {what})"));
    }

    /// Hands node `i`'s enclave `tx` at its next index.
    fn feed_forged(&mut self, i: usize, mut tx: ChainTx, what: &str) {
        let Some(next) = self.nodes[i]
            .enclave
            .as_ref()
            .and_then(|e| e.view(tx.cid))
            .map(|v| v.chain_len())
        else {
            return;
        };
        let real = tx.index;
        tx.index = next;
        let line = format!(
            "node {i}: host feeds {what} tx {real} as {next}: {}",
            tx.call()
                .map(|c| format!("{c:?}").chars().take(60).collect::<String>())
                .unwrap_or_else(|e| e.to_string())
        );
        self.trace(|| line);
        self.deliver(i, Event::Chain(tx.encode()), false);
    }

    /// Every step after the chain feed: forging hosts invent transactions.
    pub(super) fn forge_step(&mut self) {
        let forgers: Vec<usize> = self.hostile.forge.keys().copied().collect();
        for i in forgers {
            if !self.node_up(i) {
                continue;
            }
            for cid in self.cids.clone() {
                self.invent(i, cid);
            }
        }
    }

    fn invent(&mut self, i: usize, cid: ContractId) {
        let me = self.nodes[i].hw.borrow().identity.address;
        let Some(f) = self.hostile.forge.get(&i).cloned() else {
            return;
        };
        let Some(v) = self.nodes[i]
            .enclave
            .as_ref()
            .and_then(|e| e.view(cid))
            .cloned()
        else {
            return;
        };
        if v.phase != Phase::Executing || !v.is_member(&me) {
            return;
        }
        let block = self.chain.block;
        let time = self.now_ms / 1000;
        let tx = |call: ManagerCall, effect: Effect| ChainTx {
            cid,
            index: 0,
            calldata: call.encode(),
            sender: me,
            value_wei: 0,
            block_number: block,
            block_time_secs: time,
            effect,
        };
        let executor = v.executor() == Some(me);
        if !executor && f.invent_timeouts && !f.timed_out.contains(&cid) {
            if let Some(x) = self.hostile.forge.get_mut(&i) {
                x.timed_out.insert(cid);
            }
            let id = v.open_challenges.iter().next().copied().unwrap_or(1);
            let k = v.pool.iter().position(|m| m.address == me).unwrap_or(0);
            let n = v.pool.len().max(1);
            let steps = (k + n - v.exec_idx % n) % n;
            for _ in 0..steps {
                let call = ManagerCall::TimeoutChallenge {
                    cid,
                    challenge_id: id,
                };
                self.feed_forged(i, tx(call, Effect::None), "invented");
            }
            return;
        }
        if !executor {
            return;
        }
        if f.remove_watchdogs && !f.removed_for.contains(&(cid, v.epoch)) {
            if let Some(x) = self.hostile.forge.get_mut(&i) {
                x.removed_for.insert((cid, v.epoch));
            }
            for m in v.pool.iter().filter(|m| m.address != me) {
                let call = ManagerCall::RemoveMember {
                    cid,
                    member: m.address,
                };
                let effect = Effect::MemberRemoved { replacement: None };
                self.feed_forged(i, tx(call, effect), "invented");
            }
            return;
        }
        if f.respond_for_members {
            let Some(&(e, seq, hash)) = f.sent.get(&cid) else {
                return;
            };
            if e != v.epoch {
                return;
            }
            for m in v.pool.iter().filter(|m| m.address != me) {
                if f.acked.get(&(cid, m.address)) >= Some(&(e, seq)) {
                    continue;
                }
                // A signature the member once gave on-chain, or garbage.
                let copied = self.chain.contracts.get(&cid).and_then(|c| {
                    c.log.iter().rev().find_map(|t| match t.call() {
                        Ok(ManagerCall::RespondMember { member, sig, .. })
                            if member == m.address =>
                        {
                            Some(sig)
                        }
                        _ => None,
                    })
                });
                let sig = match copied {
                    Some(s) if self.hostile.rng.chance(500) => s,
                    _ => {
                        let mut s = vec![0u8; 65];
                        self.hostile.rng.fill(&mut s);
                        s
                    }
                };
                let call = ManagerCall::RespondMember {
                    cid,
                    member: m.address,
                    seq,
                    state_hash: hash,
                    tx_hash: v.tx_hash(),
                    sig,
                };
                self.feed_forged(i, tx(call, Effect::None), "invented");
                if let Some(x) = self.hostile.forge.get_mut(&i) {
                    x.acked.insert((cid, m.address), (e, seq));
                }
            }
        }
    }
}
