//! A Rust model of the manager contract's rules (SPEC section 4, docs/protocol.md sections 2
//! and 3), stepped with the simulator's clock. The Solidity manager implements the same rules;
//! a cross-check replays one call sequence on both.

use std::collections::{BTreeMap, BTreeSet};

use pose_enclave::chain::{digest, tx_hash_genesis, tx_hash_next, PayoutLine};
use pose_enclave::{
    attestation_digest, ChainTx, Config, Deployment, Effect, ManagerCall, Member, Params, Phase,
};
use pose_types::{Address, ContractId, Epoch, Hash32};
use sha2::{Digest, Sha256};

use crate::ideal::{verify, SharedRegistry};

/// Why the manager reverted a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Revert {
    /// The attestation's vendor signature did not verify.
    #[error("bad attestation")]
    BadAttestation,
    /// Already registered.
    #[error("enclave already registered")]
    AlreadyRegistered,
    /// Unknown contract id.
    #[error("unknown contract")]
    UnknownContract,
    /// Not enough registered enclaves for the pool.
    #[error("pool size {0} not available")]
    PoolSize(u8),
    /// The call is not allowed in the contract's phase.
    #[error("wrong phase")]
    WrongPhase,
    /// A signature did not verify or came from the wrong signer.
    #[error("bad signature")]
    BadSignature,
    /// The signed `txHash` is not one the chain produced for this contract.
    #[error("unknown txHash")]
    UnknownTxHash,
    /// The signed `txHash` is not the contract's current one (termination).
    #[error("stale txHash")]
    StaleTxHash,
    /// The signed epoch is not the current one.
    #[error("wrong epoch")]
    WrongEpoch,
    /// Unknown or closed challenge.
    #[error("no such open challenge")]
    NoChallenge,
    /// Deadline not reached.
    #[error("deadline not reached")]
    TooEarly,
    /// A sequence number below the last one answered on-chain.
    #[error("stale sequence number")]
    StaleSeq,
    /// Payout nonce already used.
    #[error("nonce used")]
    NonceUsed,
    /// Not enough balance.
    #[error("balance short")]
    BalanceShort,
    /// Not a pool member (or not challengeable).
    #[error("not a member")]
    NotMember,
    /// The acceptances do not cover the pool.
    #[error("acceptances incomplete")]
    Acceptances,
    /// Not callable this way.
    #[error("unsupported call")]
    Unsupported,
}

/// One challenge.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// The challenged request.
    pub request: Vec<u8>,
    /// Deadline, seconds.
    pub deadline_secs: u64,
    /// Still open.
    pub open: bool,
    /// The reply posted.
    pub reply: Option<Vec<u8>>,
    /// Deadline extensions by member challenges so far.
    pub extensions: u32,
}

/// One contract's record.
#[derive(Clone, Debug)]
pub struct ContractRec {
    /// Code hash.
    pub code_hash: Hash32,
    /// Parameters.
    pub params: Params,
    /// The pool.
    pub pool: Vec<Member>,
    /// Executor index.
    pub exec_idx: usize,
    /// Epoch.
    pub epoch: Epoch,
    /// When the current epoch started, seconds.
    pub epoch_start_secs: u64,
    /// Phase.
    pub phase: Phase,
    /// Current txHash.
    pub tx_hash: Hash32,
    /// Every txHash produced.
    pub known: BTreeSet<Hash32>,
    /// Coins held.
    pub balance_wei: u128,
    /// All deposits ever.
    pub deposited_wei: u128,
    /// All payouts ever.
    pub paid_wei: u128,
    /// What a termination left of the balance, credited to the creator outside the contract.
    pub forfeited_wei: u128,
    /// Challenges by id.
    pub challenges: BTreeMap<u64, Challenge>,
    /// Open member challenges: member -> deadline.
    pub member_challenges: BTreeMap<Address, u64>,
    /// Used payout nonces.
    pub used_nonces: BTreeSet<u64>,
    /// Contract input key.
    pub contract_key: Option<[u8; 32]>,
    /// Executor changes by timeout since the last answer or revival (Crashed at pool size).
    pub timeouts_in_a_row: u64,
    /// Sequence number of the last state answered on-chain.
    pub last_seq: u64,
    /// Transaction log.
    pub log: Vec<ChainTx>,
}

impl ContractRec {
    /// The executor's address.
    pub fn executor(&self) -> Option<Address> {
        self.pool.get(self.exec_idx).map(|m| m.address)
    }
}

/// The model chain.
pub struct ModelChain {
    /// Deployment (chain id, manager).
    pub deployment: Deployment,
    config: Config,
    registry: SharedRegistry,
    /// Simulated time, ms.
    pub now_ms: u64,
    /// Block number.
    pub block: u64,
    /// Registered enclaves in registration order.
    pub registered: Vec<Member>,
    /// The operator of each registered enclave: a pool holds at most one enclave per operator.
    pub operators: BTreeMap<Address, Address>,
    /// Enclaves removed from a pool for not answering a member challenge: never drawn again
    /// (their operator must register a new enclave).
    pub inactive: BTreeSet<Address>,
    /// Contracts.
    pub contracts: BTreeMap<ContractId, ContractRec>,
    next_cid: u64,
    randao: [u8; 32],
    /// Payouts by recipient.
    pub paid_to: BTreeMap<Address, u128>,
    real_sigs: bool,
    /// The outcome of the next pool draw, when a test dictates it (see
    /// [`ModelChain::dictate_next_draw`]).
    dictated_draw: Option<Vec<Address>>,
}

fn check_sig(real: bool, reg: &SharedRegistry, signer: &Address, d: &Hash32, sig: &[u8]) -> bool {
    if real {
        match <[u8; 65]>::try_from(sig) {
            Ok(b) => pose_crypto::sig::verify(d, &pose_types::SignatureBytes(b), signer).is_ok(),
            Err(_) => false,
        }
    } else {
        verify(&reg.borrow(), signer, d, sig)
    }
}

impl ModelChain {
    /// A fresh chain.
    pub fn new(config: Config, registry: SharedRegistry, randao_seed: u64) -> Self {
        Self {
            deployment: config.deployment,
            config,
            registry,
            now_ms: 0,
            block: 1,
            registered: Vec::new(),
            operators: BTreeMap::new(),
            inactive: BTreeSet::new(),
            contracts: BTreeMap::new(),
            next_cid: 1,
            randao: Sha256::digest(randao_seed.to_be_bytes()).into(),
            paid_to: BTreeMap::new(),
            real_sigs: false,
            dictated_draw: None,
        }
    }

    /// Advances the clock; a block every second.
    pub fn advance(&mut self, now_ms: u64) {
        if now_ms / 1000 > self.now_ms / 1000 {
            self.block += now_ms / 1000 - self.now_ms / 1000;
            self.randao = Sha256::digest(self.randao).into();
        }
        self.now_ms = now_ms;
    }

    fn now_secs(&self) -> u64 {
        self.now_ms / 1000
    }

    fn ok_sig(&self, signer: &Address, d: &Hash32, sig: &[u8]) -> bool {
        check_sig(self.real_sigs, &self.registry, signer, d, sig)
    }

    /// Checks signatures with `ecrecover` semantics (`pose-crypto`) instead of the ideal
    /// model: for runs with real TEEs.
    pub fn use_real_signatures(&mut self) {
        self.real_sigs = true;
    }

    /// `registerEnclave(attestation)` by the enclave itself as its operator (the simulator's
    /// enclaves each have their own operator).
    pub fn register(&mut self, m: Member) -> Result<(), Revert> {
        let operator = m.address;
        self.register_by(operator, m)
    }

    /// `registerEnclave(attestation)` sent by `operator`.
    pub fn register_by(&mut self, operator: Address, m: Member) -> Result<(), Revert> {
        let d = attestation_digest(&self.config, &m);
        if !self.ok_sig(&self.config.vendor, &d, &m.attestation) {
            return Err(Revert::BadAttestation);
        }
        if self.registered.iter().any(|r| r.address == m.address) {
            return Err(Revert::AlreadyRegistered);
        }
        self.operators.insert(m.address, operator);
        self.registered.push(m);
        Ok(())
    }

    /// Makes the next pool draw (of `createContract` or `removeMember`) yield the registered
    /// enclaves at `addresses`, in order, instead of the model's own draw: a differential test
    /// hands the model the draw a real chain made from randomness the model cannot know. An
    /// address that is not registered is skipped.
    pub fn dictate_next_draw(&mut self, addresses: Vec<Address>) {
        self.dictated_draw = Some(addresses);
    }

    fn operator_of(&self, enclave: &Address) -> Option<Address> {
        self.operators.get(enclave).copied()
    }

    /// Operators with at least one enclave that can be drawn.
    fn active_operators(&self) -> BTreeSet<Address> {
        self.registered
            .iter()
            .filter(|m| !self.inactive.contains(&m.address))
            .filter_map(|m| self.operator_of(&m.address))
            .collect()
    }

    /// Draws up to `n` registered, active enclaves whose operators have no enclave in
    /// `exclude` nor among those drawn before, from chain randomness and `cid` (or as dictated).
    fn draw(&mut self, cid: ContractId, salt: u64, n: usize, exclude: &[Member]) -> Vec<Member> {
        if let Some(addresses) = self.dictated_draw.take() {
            return addresses
                .iter()
                .filter_map(|a| self.registered.iter().find(|m| m.address == *a).cloned())
                .collect();
        }
        let mut taken: BTreeSet<Address> = exclude
            .iter()
            .filter_map(|m| self.operator_of(&m.address))
            .collect();
        let mut cands: Vec<Member> = self
            .registered
            .iter()
            .filter(|m| !exclude.iter().any(|e| e.address == m.address))
            .filter(|m| !self.inactive.contains(&m.address))
            .cloned()
            .collect();
        let mut out = Vec::new();
        let mut i = 0u64;
        loop {
            cands.retain(|m| {
                self.operator_of(&m.address)
                    .is_some_and(|o| !taken.contains(&o))
            });
            if out.len() >= n || cands.is_empty() {
                break;
            }
            let h = Sha256::new()
                .chain_update(self.randao)
                .chain_update(cid.0.to_be_bytes())
                .chain_update(salt.to_be_bytes())
                .chain_update(i.to_be_bytes())
                .finalize();
            let r = u64::from_be_bytes(h[..8].try_into().unwrap_or([0; 8]));
            let k = (r % cands.len() as u64) as usize;
            let m = cands.remove(k);
            if let Some(o) = self.operator_of(&m.address) {
                taken.insert(o);
            }
            out.push(m);
            i += 1;
        }
        out
    }

    /// Executes one call from `sender` with `value_wei`; returns the logged transaction.
    pub fn submit(
        &mut self,
        sender: Address,
        value_wei: u128,
        call: ManagerCall,
    ) -> Result<ChainTx, Revert> {
        let now = self.now_secs();
        let d = self.deployment;
        if let ManagerCall::CreateContract { code_hash, params } = &call {
            let cid = ContractId(self.next_cid);
            let n = params.pool_size as usize;
            // A pool needs as many operators with an active enclave as it has members.
            if n == 0 || n > self.active_operators().len() {
                return Err(Revert::PoolSize(params.pool_size));
            }
            self.next_cid += 1;
            let pool = self.draw(cid, 0, n, &[]);
            let genesis = tx_hash_genesis(&d, cid);
            let rec = ContractRec {
                code_hash: *code_hash,
                params: *params,
                pool: pool.clone(),
                exec_idx: 0,
                epoch: Epoch(0),
                epoch_start_secs: now,
                phase: Phase::Creation,
                tx_hash: genesis,
                known: BTreeSet::new(),
                balance_wei: 0,
                deposited_wei: 0,
                paid_wei: 0,
                forfeited_wei: 0,
                challenges: BTreeMap::new(),
                member_challenges: BTreeMap::new(),
                used_nonces: BTreeSet::new(),
                contract_key: None,
                timeouts_in_a_row: 0,
                last_seq: 0,
                log: Vec::new(),
            };
            self.contracts.insert(cid, rec);
            return Ok(self.log(cid, call, sender, value_wei, Effect::Created { pool }));
        }
        let cid = call.cid().ok_or(Revert::Unsupported)?;
        let salt = self.block;
        let mut replacement_pool = None;
        {
            let c = self.contracts.get(&cid).ok_or(Revert::UnknownContract)?;
            if let ManagerCall::RemoveMember { member, .. } = &call {
                if !matches!(c.phase, Phase::Creation | Phase::Executing) {
                    return Err(Revert::WrongPhase);
                }
                let dl = c.member_challenges.get(member).ok_or(Revert::NotMember)?;
                if now <= *dl {
                    return Err(Revert::TooEarly);
                }
                let pool = c.pool.clone();
                replacement_pool = Some(self.draw(cid, salt, 1, &pool));
            }
        }
        let registry = self.registry.clone();
        let real = self.real_sigs;
        let ok = |s: &Address, dg: &Hash32, sig: &[u8]| check_sig(real, &registry, s, dg, sig);
        let c = self
            .contracts
            .get_mut(&cid)
            .ok_or(Revert::UnknownContract)?;
        let mut effect = Effect::None;
        match &call {
            ManagerCall::CreateContract { .. } => return Err(Revert::Unsupported),
            ManagerCall::CompleteCreation {
                contract_key,
                init_state_hash,
                tx_hash,
                sigs,
                ..
            } => {
                if c.phase != Phase::Creation {
                    return Err(Revert::WrongPhase);
                }
                // One acceptance per member, in pool order, all over one known txHash.
                if sigs.len() != c.pool.len() {
                    return Err(Revert::Acceptances);
                }
                if !c.known.contains(tx_hash) {
                    return Err(Revert::UnknownTxHash);
                }
                let dg = digest::accept(
                    &d,
                    cid,
                    &c.code_hash,
                    contract_key,
                    init_state_hash,
                    tx_hash,
                );
                for (sig, m) in sigs.iter().zip(&c.pool) {
                    if !ok(&m.address, &dg, sig) {
                        return Err(Revert::BadSignature);
                    }
                }
                c.phase = Phase::Executing;
                c.contract_key = Some(*contract_key);
            }
            ManagerCall::Deposit { .. } => {
                if c.phase != Phase::Executing {
                    return Err(Revert::WrongPhase);
                }
                c.balance_wei += value_wei;
                c.deposited_wei += value_wei;
            }
            ManagerCall::Challenge { request, .. } => {
                if c.phase != Phase::Executing {
                    return Err(Revert::WrongPhase);
                }
                // As the manager: challenge ids count from 1.
                let id = c.challenges.len() as u64 + 1;
                c.challenges.insert(
                    id,
                    Challenge {
                        request: request.clone(),
                        deadline_secs: now + u64::from(c.params.response_period_secs),
                        open: true,
                        reply: None,
                        extensions: 0,
                    },
                );
                effect = Effect::ChallengeOpened { challenge_id: id };
            }
            ManagerCall::Respond {
                challenge_id,
                reply,
                seq,
                state_hash,
                tx_hash,
                sig,
                ..
            } => {
                // As the manager: with no open challenge the contract is not in its
                // challenge phase.
                if c.phase != Phase::Executing || !c.challenges.values().any(|x| x.open) {
                    return Err(Revert::WrongPhase);
                }
                let open = c.challenges.get(challenge_id).is_some_and(|x| x.open);
                if !open {
                    return Err(Revert::NoChallenge);
                }
                if !c.known.contains(tx_hash) {
                    return Err(Revert::UnknownTxHash);
                }
                if seq.0 < c.last_seq {
                    return Err(Revert::StaleSeq);
                }
                let dg = digest::respond(
                    &d,
                    cid,
                    *challenge_id,
                    c.epoch,
                    reply,
                    *seq,
                    state_hash,
                    tx_hash,
                );
                let ex = c.executor().ok_or(Revert::NotMember)?;
                if !ok(&ex, &dg, sig) {
                    return Err(Revert::BadSignature);
                }
                if let Some(ch) = c.challenges.get_mut(challenge_id) {
                    ch.open = false;
                    ch.reply = Some(reply.clone());
                }
                c.last_seq = seq.0;
                c.timeouts_in_a_row = 0;
            }
            ManagerCall::TimeoutChallenge { challenge_id, .. } => {
                if c.phase != Phase::Executing || !c.challenges.values().any(|x| x.open) {
                    return Err(Revert::WrongPhase);
                }
                let ch = c.challenges.get(challenge_id).ok_or(Revert::NoChallenge)?;
                if !ch.open || c.phase != Phase::Executing {
                    return Err(Revert::NoChallenge);
                }
                if now
                    <= ch
                        .deadline_secs
                        .max(c.epoch_start_secs + u64::from(c.params.response_period_secs))
                {
                    return Err(Revert::TooEarly);
                }
                c.epoch = Epoch(c.epoch.0 + 1);
                c.epoch_start_secs = now;
                if !c.pool.is_empty() {
                    c.exec_idx = (c.exec_idx + 1) % c.pool.len();
                }
                let rp = u64::from(c.params.response_period_secs);
                for ch in c.challenges.values_mut().filter(|x| x.open) {
                    ch.deadline_secs = now + rp;
                    ch.extensions = 0;
                }
                // As the manager: when every member in turn let a deadline pass, the
                // contract is Crashed until a member revives it.
                c.timeouts_in_a_row += 1;
                if c.timeouts_in_a_row >= c.pool.len() as u64 {
                    c.phase = Phase::Crashed;
                }
            }
            ManagerCall::Revive {
                member,
                seq,
                state_hash,
                tx_hash,
                sig,
                ..
            } => {
                if c.phase != Phase::Crashed {
                    return Err(Revert::WrongPhase);
                }
                let i = c
                    .pool
                    .iter()
                    .position(|m| m.address == *member)
                    .ok_or(Revert::NotMember)?;
                if !c.known.contains(tx_hash) {
                    return Err(Revert::UnknownTxHash);
                }
                if seq.0 < c.last_seq {
                    return Err(Revert::StaleSeq);
                }
                let dg = digest::revive(&d, cid, c.epoch, member, (*seq, state_hash), tx_hash);
                if !ok(member, &dg, sig) {
                    return Err(Revert::BadSignature);
                }
                // The member is the executor of a new epoch; open challenges restart.
                c.exec_idx = i;
                c.epoch = Epoch(c.epoch.0 + 1);
                c.epoch_start_secs = now;
                c.timeouts_in_a_row = 0;
                c.phase = Phase::Executing;
                let rp = u64::from(c.params.response_period_secs);
                for ch in c.challenges.values_mut().filter(|x| x.open) {
                    ch.deadline_secs = now + rp;
                    ch.extensions = 0;
                }
            }
            ManagerCall::ChallengeMember {
                member,
                tx_hash,
                sig,
                ..
            } => {
                if !matches!(c.phase, Phase::Creation | Phase::Executing) {
                    return Err(Revert::WrongPhase);
                }
                let ex = c.executor().ok_or(Revert::NotMember)?;
                if *member == ex
                    || !c.pool.iter().any(|m| m.address == *member)
                    || c.member_challenges.contains_key(member)
                {
                    return Err(Revert::NotMember);
                }
                if !c.known.contains(tx_hash) {
                    return Err(Revert::UnknownTxHash);
                }
                let dg = digest::challenge_member(&d, cid, c.epoch, member, tx_hash);
                if !ok(&ex, &dg, sig) {
                    return Err(Revert::BadSignature);
                }
                let dl = now + u64::from(c.params.member_response_period_secs);
                c.member_challenges.insert(*member, dl);
                // An executor challenge waits while the executor replaces a silent member,
                // at most pool size - 1 times per challenge (the creation parameter).
                let max_ext = u32::from(c.params.pool_size.saturating_sub(1));
                let rp = u64::from(c.params.response_period_secs);
                for ch in c.challenges.values_mut().filter(|x| x.open) {
                    if ch.extensions < max_ext {
                        ch.deadline_secs = ch.deadline_secs.max(dl + rp);
                        ch.extensions += 1;
                    }
                }
            }
            ManagerCall::RespondMember {
                member,
                seq,
                state_hash,
                tx_hash,
                sig,
                ..
            } => {
                if !matches!(c.phase, Phase::Creation | Phase::Executing) {
                    return Err(Revert::WrongPhase);
                }
                if !c.member_challenges.contains_key(member) {
                    return Err(Revert::NotMember);
                }
                if !c.known.contains(tx_hash) {
                    return Err(Revert::UnknownTxHash);
                }
                let dg =
                    digest::respond_member(&d, cid, c.epoch, member, (*seq, state_hash), tx_hash);
                if !ok(member, &dg, sig) {
                    return Err(Revert::BadSignature);
                }
                c.member_challenges.remove(member);
            }
            ManagerCall::RemoveMember { member, .. } => {
                c.member_challenges.remove(member);
                let i = c
                    .pool
                    .iter()
                    .position(|m| m.address == *member)
                    .ok_or(Revert::NotMember)?;
                let rep = replacement_pool.and_then(|mut v| v.pop());
                match &rep {
                    Some(m) => c.pool[i] = m.clone(),
                    None => {
                        c.pool.remove(i);
                        if i < c.exec_idx {
                            c.exec_idx -= 1;
                        }
                        if c.exec_idx >= c.pool.len() {
                            c.exec_idx = 0;
                        }
                    }
                }
                effect = Effect::MemberRemoved { replacement: rep };
            }
            ManagerCall::Withdraw {
                recipient,
                amount_wei,
                nonce,
                tx_hash,
                sig,
                ..
            } => {
                // As the manager: no withdrawal after termination (the payouts are final).
                if c.phase != Phase::Executing {
                    return Err(Revert::WrongPhase);
                }
                if !c.known.contains(tx_hash) {
                    return Err(Revert::UnknownTxHash);
                }
                if c.used_nonces.contains(nonce) {
                    return Err(Revert::NonceUsed);
                }
                if c.balance_wei < *amount_wei {
                    return Err(Revert::BalanceShort);
                }
                let dg =
                    digest::withdraw(&d, cid, c.epoch, recipient, *amount_wei, *nonce, tx_hash);
                let ex = c.executor().ok_or(Revert::NotMember)?;
                if !ok(&ex, &dg, sig) {
                    return Err(Revert::BadSignature);
                }
                c.used_nonces.insert(*nonce);
                c.balance_wei -= amount_wei;
                c.paid_wei += amount_wei;
                *self.paid_to.entry(*recipient).or_insert(0) += amount_wei;
            }
            ManagerCall::Terminate {
                payouts,
                tx_hash,
                sig,
                ..
            } => {
                if c.phase != Phase::Executing {
                    return Err(Revert::WrongPhase);
                }
                // As the manager: only over the current txHash, so a deposit after the
                // executor signed makes it fail instead of going to the creator.
                if *tx_hash != c.tx_hash {
                    return Err(Revert::StaleTxHash);
                }
                let total: u128 = payouts.iter().map(|p: &PayoutLine| p.amount_wei).sum();
                if total > c.balance_wei {
                    return Err(Revert::BalanceShort);
                }
                let dg = digest::terminate(&d, cid, c.epoch, payouts, tx_hash);
                let ex = c.executor().ok_or(Revert::NotMember)?;
                if !ok(&ex, &dg, sig) {
                    return Err(Revert::BadSignature);
                }
                c.balance_wei -= total;
                c.paid_wei += total;
                for p in payouts {
                    *self.paid_to.entry(p.to).or_insert(0) += p.amount_wei;
                }
                // As the manager: the remainder is credited to the creator outside the
                // contract (not counted as a signed payout here), the balance is emptied.
                c.forfeited_wei += c.balance_wei;
                c.balance_wei = 0;
                c.phase = Phase::Terminated;
            }
        }
        if let ManagerCall::RemoveMember { member, .. } = &call {
            self.inactive.insert(*member);
        }
        Ok(self.log(cid, call, sender, value_wei, effect))
    }

    fn log(
        &mut self,
        cid: ContractId,
        call: ManagerCall,
        sender: Address,
        value_wei: u128,
        effect: Effect,
    ) -> ChainTx {
        let block = self.block;
        let time = self.now_secs();
        let c = self
            .contracts
            .get_mut(&cid)
            .expect("contract exists: checked by the caller");
        let tx = ChainTx {
            cid,
            index: c.log.len() as u64,
            calldata: call.encode(),
            sender,
            value_wei,
            block_number: block,
            block_time_secs: time,
            effect,
        };
        // As the manager: the hash covers the block and what the chain decided (the effect).
        c.tx_hash = tx_hash_next(&c.tx_hash, &tx);
        c.known.insert(c.tx_hash);
        c.log.push(tx.clone());
        tx
    }
}
