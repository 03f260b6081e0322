//! The per-contract protocol steps: requests, updates, acks, deployment, and the executor's
//! duties driven on every event (commit, replies, chain responses, payouts, retransmissions,
//! member challenges).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use pose_runtime::{CallEnv, ContractState, Entry};
use pose_types::codec::Decode;
use pose_types::{Address, ContractId, DecodeError, Epoch, Hash32, Seq};

use crate::app_state::StateDiff;
use crate::chain::{self, ManagerCall, PayoutLine};
use crate::limits::{
    BATCH_REQUESTS_MAX, CALL_FUEL_MAX, CALL_OUTPUT_BYTES_MAX, PIPELINE_UPDATES_MAX,
    QUEUE_REQUESTS_MAX,
};
use crate::state::{AppState, Phase, Record, Secrets};
use crate::wire::{
    sha256, Ack, Deploy, Message, Reply, Request, RequestKind, SealedInput, Update, UpdateKind,
};
use crate::{Bug, Effect, Enclave, Out, Platform, Rejection, Replica, RESUBMIT_MS, RETRANSMIT_MS};

/// Debug builds check a state's incremental hash against a full recomputation after every
/// update built or applied, for states of at most this many entries (the check costs what the
/// state holds).
const DEBUG_HASH_CHECK_ENTRIES_MAX: usize = 512;

/// A verified, decrypted request waiting for the next update.
#[derive(Debug)]
pub(crate) struct Pending {
    user: Address,
    nonce: u64,
    digest: Hash32,
    reply_key: [u8; 32],
    input: Vec<u8>,
}

/// Which chain transaction a rate limit is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SubmitKey {
    Complete,
    Respond(u64),
    Withdraw(u64),
    ChallengeMember(Address),
    RemoveMember(Address),
    Terminate,
}

/// Executor-only soft state of one epoch. Lost on restart; a restarted executor resumes by
/// syncing every member to its sealed head.
#[derive(Debug)]
pub(crate) struct ExecState {
    pub(crate) epoch: Epoch,
    /// The oldest state still needed: the head the epoch started from, then the latest state
    /// every member acknowledged. The diffs below lead from it to the head.
    base: AppState,
    /// Whether every member acknowledged `base` (it is then the committed state).
    base_committed: bool,
    /// The diff leading to each state after `base`, by its seq (at most the pipeline depth).
    diffs: BTreeMap<Seq, StateDiff>,
    /// Hash of every state of this epoch still acknowledgeable, from `base` to the head.
    hashes: BTreeMap<Seq, Hash32>,
    /// Highest seq each member acknowledged in this epoch.
    acked: BTreeMap<Address, Seq>,
    /// Nonces of the updates sent in this incarnation, with their seq: an ack must name one.
    sent_nonces: BTreeMap<[u8; 24], Seq>,
    /// Creation acceptances.
    accepts: BTreeMap<Address, (Hash32, Vec<u8>)>,
    /// Replies to release when a seq commits.
    replies: BTreeMap<Seq, BTreeSet<(Address, u64)>>,
    queue: VecDeque<Pending>,
    last_sent_ms: BTreeMap<Address, u64>,
    owed_since_ms: BTreeMap<Address, u64>,
    challenged: BTreeSet<Address>,
    submitted_ms: BTreeMap<SubmitKey, u64>,
}

impl ExecState {
    /// Starts an epoch from `head` (the one copy of the state an executor change costs).
    fn new(epoch: Epoch, head: &AppState) -> Self {
        let mut hashes = BTreeMap::new();
        hashes.insert(head.seq, head.hash());
        let mut base = head.clone();
        base.clear_touched();
        Self {
            epoch,
            base,
            base_committed: false,
            diffs: BTreeMap::new(),
            hashes,
            acked: BTreeMap::new(),
            sent_nonces: BTreeMap::new(),
            accepts: BTreeMap::new(),
            replies: BTreeMap::new(),
            queue: VecDeque::new(),
            last_sent_ms: BTreeMap::new(),
            owed_since_ms: BTreeMap::new(),
            challenged: BTreeSet::new(),
            submitted_ms: BTreeMap::new(),
        }
    }

    /// The chain position of the base state (the oldest state the executor still holds).
    pub(crate) fn base_chain_pos(&self) -> u64 {
        self.base.chain_pos
    }

    /// The latest state every member acknowledged, if any.
    pub(crate) fn committed(&self) -> Option<&AppState> {
        self.base_committed.then_some(&self.base)
    }

    /// The committed state, for a read-only query.
    fn committed_mut(&mut self) -> Option<&mut AppState> {
        self.base_committed.then_some(&mut self.base)
    }

    /// Updates sent and not yet acknowledged by every member.
    fn in_flight(&self) -> usize {
        self.diffs.len() + usize::from(!self.base_committed)
    }

    /// Counts a member's on-chain answer to a member challenge as its ack of `(seq, hash)`
    /// when that is a state of this epoch this executor holds. Returns whether it counted.
    /// (Unlike an off-chain ack it names no update nonce: its freshness comes from the
    /// chain, which checked the member's signature under the current epoch.)
    pub(crate) fn ack_from_chain(&mut self, member: Address, seq: Seq, hash: &Hash32) -> bool {
        if self.hashes.get(&seq) != Some(hash) {
            return false;
        }
        if self.acked.get(&member).is_none_or(|s| *s < seq) {
            self.acked.insert(member, seq);
        }
        true
    }

    /// True if `key` was not submitted within [`RESUBMIT_MS`]; records the submission.
    fn may_submit(&mut self, key: SubmitKey, now_ms: u64) -> bool {
        match self.submitted_ms.get(&key) {
            Some(t) if now_ms < t + RESUBMIT_MS => false,
            _ => {
                self.submitted_ms.insert(key, now_ms);
                true
            }
        }
    }
}

impl<P: Platform> Enclave<P> {
    /// Runs `f` on the replica of `cid`, putting it back whatever `f` returns.
    fn with_replica<R>(
        &mut self,
        cid: ContractId,
        f: impl FnOnce(&mut Self, &mut Replica) -> Result<R, Rejection>,
    ) -> Result<R, Rejection> {
        let mut rep = self
            .replicas
            .remove(&cid)
            .ok_or(Rejection::UnknownContract(cid))?;
        let r = f(self, &mut rep);
        self.replicas.insert(cid, rep);
        r
    }

    /// Opens a request body: `(reply_key, input)`. The body must have been sealed for this
    /// very request ([`SealedInput::binds`]): a body copied into another request is refused.
    fn open_request(
        &self,
        secrets: &Secrets,
        req: &Request,
    ) -> Result<([u8; 32], Vec<u8>), Rejection> {
        let plain = self
            .platform
            .box_open(&secrets.input_secret, &req.body)
            .ok_or(Rejection::Aead)?;
        let sealed = match SealedInput::from_bytes(&plain) {
            Ok(s) => s,
            Err(DecodeError::TooLong { len, .. }) => {
                return Err(Rejection::InputTooLarge(len as usize))
            }
            Err(e) => return Err(Rejection::Malformed(e.into())),
        };
        if !sealed.binds(req) {
            return Err(Rejection::InputNotBound {
                user: req.user,
                nonce: req.nonce,
            });
        }
        Ok((sealed.reply_key, sealed.input))
    }

    fn encrypt_output(&mut self, key: &[u8; 32], digest: &Hash32, output: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        self.platform.random(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend(self.platform.aead_seal(key, &nonce, &digest.0, output));
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn make_reply(
        &mut self,
        cid: ContractId,
        epoch: Epoch,
        user: Address,
        nonce: u64,
        rec: &Record,
        (seq, state_hash): (Seq, Hash32),
        (chain_pos, chain_tx_hash): (u64, Hash32),
    ) -> Reply {
        let mut r = Reply {
            cid,
            user,
            nonce,
            request_digest: rec.request_digest,
            epoch,
            applied_seq: rec.applied_seq,
            seq,
            state_hash,
            chain_pos,
            chain_tx_hash,
            output: rec.output.clone(),
            executor: self.me,
            sig: Vec::new(),
        };
        r.sig = self.platform.sign(&r.digest());
        r
    }

    pub(crate) fn on_request(
        &mut self,
        _now_ms: u64,
        req: Request,
        out: &mut Out,
    ) -> Result<(), Rejection> {
        let cid = req.cid;
        self.with_replica(cid, |e, rep| {
            if rep.view.phase != Phase::Executing {
                return Err(Rejection::WrongPhase);
            }
            let secrets = rep.secrets.as_ref().ok_or(Rejection::NotServing(cid))?;
            let Some(exec) = rep.exec.as_mut() else {
                return Err(Rejection::NotServing(cid));
            };
            let digest = req.digest();
            if !e.platform.verify(&req.user, &digest, &req.sig) {
                return Err(Rejection::BadSignature(req.user));
            }
            let epoch = exec.epoch;
            if req.kind == RequestKind::Query {
                let (key, input) = e.open_request(secrets, &req)?;
                let committed = exec.committed_mut().ok_or(Rejection::NotReady)?;
                let env = CallEnv {
                    caller: req.user,
                    block_number: committed.block_number,
                    block_time_secs: committed.block_time_secs,
                    random: [0; 32],
                    fuel_limit: CALL_FUEL_MAX,
                    output_bytes_max: None,
                };
                let code_hash = rep.view.code_hash;
                let output = match e.engine.execute(
                    &code_hash,
                    Entry::Query,
                    committed.contract_for_query(),
                    &env,
                    &input,
                ) {
                    Ok(o) => o.output,
                    Err(err) => format!("error: {err}").into_bytes(),
                };
                let point = (committed.seq, committed.hash());
                let rec = Record {
                    applied_seq: Seq(0),
                    request_digest: digest,
                    output: e.encrypt_output(&key, &digest, &output),
                };
                let r = e.make_reply(
                    cid,
                    epoch,
                    req.user,
                    req.nonce,
                    &rec,
                    point,
                    rep.view.chain_head(),
                );
                out.send(req.user, &Message::Reply(r));
                return Ok(());
            }
            let head = rep.head.as_ref().ok_or(Rejection::NotReady)?;
            let exec = rep.exec.as_mut().ok_or(Rejection::NotServing(cid))?;
            if !e.bug(Bug::SkipNonceCheck) {
                if let Some(rec) = head.requests().get(&(req.user, req.nonce)) {
                    if rec.request_digest != digest {
                        return Err(Rejection::NonceReused {
                            user: req.user,
                            nonce: req.nonce,
                        });
                    }
                    let rec = rec.clone();
                    match exec.committed() {
                        Some(c) if c.seq >= rec.applied_seq => {
                            let (seq, h) = (c.seq, c.hash());
                            let chain = rep.view.chain_head();
                            let r = e.make_reply(
                                cid,
                                epoch,
                                req.user,
                                req.nonce,
                                &rec,
                                (seq, h),
                                chain,
                            );
                            out.send(req.user, &Message::Reply(r));
                        }
                        _ => {
                            exec.replies
                                .entry(rec.applied_seq)
                                .or_default()
                                .insert((req.user, req.nonce));
                        }
                    }
                    return Ok(());
                }
                if let Some(floor) = head.nonce_floor(&req.user).filter(|f| req.nonce <= *f) {
                    return Err(Rejection::NonceBelowFloor {
                        user: req.user,
                        nonce: req.nonce,
                        floor,
                    });
                }
                if exec
                    .queue
                    .iter()
                    .any(|p| p.user == req.user && p.nonce == req.nonce)
                {
                    return Ok(());
                }
            }
            if exec.queue.len() >= QUEUE_REQUESTS_MAX {
                return Err(Rejection::Busy);
            }
            let (reply_key, input) = e.open_request(secrets, &req)?;
            let exec = rep.exec.as_mut().ok_or(Rejection::NotServing(cid))?;
            exec.queue.push_back(Pending {
                user: req.user,
                nonce: req.nonce,
                digest,
                reply_key,
                input,
            });
            Ok(())
        })
    }

    /// Decrypts an update's state part (a diff or a whole state) under the contract's state
    /// key, its header as associated data.
    fn open_update(&self, state_key: &[u8; 32], u: &Update) -> Result<Vec<u8>, Rejection> {
        if self.bug(Bug::LeakPlaintext) {
            return Ok(u.state.clone());
        }
        self.platform
            .aead_open(state_key, &u.nonce, &u.header(), &u.state)
            .ok_or(Rejection::Aead)
    }

    pub(crate) fn on_update(&mut self, u: Update, out: &mut Out) -> Result<(), Rejection> {
        let me = self.me;
        let d = self.config.deployment;
        self.with_replica(u.cid, |e, rep| {
            let v = &rep.view;
            if !v.is_member(&me) {
                return Err(Rejection::NotMember(me));
            }
            let old_epoch_ok = e.bug(Bug::AcceptOldEpoch) && v.is_member(&u.sender);
            if u.epoch < v.epoch && !old_epoch_ok {
                return Err(Rejection::StaleEpoch {
                    got: u.epoch,
                    current: v.epoch,
                });
            }
            if u.epoch > v.epoch {
                return Err(Rejection::EpochAhead {
                    got: u.epoch,
                    current: v.epoch,
                });
            }
            if u.sender == me || (v.executor() != Some(u.sender) && !old_epoch_ok) {
                return Err(Rejection::NotExecutor(u.sender));
            }
            if !e.platform.verify(&u.sender, &u.digest(), &u.sig) {
                return Err(Rejection::BadSignature(u.sender));
            }
            let have = v.chain_len();
            if u.chain_pos > have {
                return Err(Rejection::ChainBehind {
                    needed: u.chain_pos,
                    have,
                });
            }
            if u.chain_pos < v.log_base {
                return Err(Rejection::ChainPruned {
                    pos: u.chain_pos,
                    kept_from: v.log_base,
                });
            }
            if v.tx_hash_at(u.chain_pos) != Some(u.tx_hash) {
                return Err(Rejection::ChainMismatch(u.chain_pos));
            }
            // The executor must have folded every pool change this member already saw.
            for (i, tx) in v.txs_from(u.chain_pos) {
                if !old_epoch_ok
                    && matches!(
                        tx.call(),
                        Ok(ManagerCall::RemoveMember { .. } | ManagerCall::TimeoutChallenge { .. })
                    )
                {
                    return Err(Rejection::ExecutorBehind(i));
                }
            }
            let held = rep.head.as_ref().map(|h| (h.seq, h.hash()));
            let same_epoch = rep.head.is_some() && rep.head_epoch == u.epoch;
            let new_hash = u.new_hash;
            match u.kind {
                UpdateKind::Next => {
                    // A diff applies only to the state it was built on.
                    match held {
                        Some((s, h)) if same_epoch && s.0 + 1 == u.seq.0 && h == u.prev_hash => {}
                        _ => {
                            return Err(Rejection::BadSeq {
                                got: u.seq,
                                held: held.map(|x| x.0).unwrap_or_default(),
                            })
                        }
                    }
                    let secrets = rep.secrets.as_ref().ok_or(Rejection::WrongPhase)?;
                    let plain = e.open_update(&secrets.state_key, &u)?;
                    let diff = StateDiff::decode(&plain)?;
                    let sc = &diff.scalars;
                    if sc.seq != u.seq || sc.chain_pos != u.chain_pos || sc.tx_hash != u.tx_hash {
                        return Err(Rejection::Inconsistent);
                    }
                    let head = rep.head.as_mut().ok_or(Rejection::WrongPhase)?;
                    let undo = head.apply_diff(&diff);
                    if head.hash() != new_hash {
                        head.apply_diff(&undo);
                        return Err(Rejection::Inconsistent);
                    }
                    debug_assert!(
                        head.entry_count() > DEBUG_HASH_CHECK_ENTRIES_MAX || head.check_hash()
                    );
                    out.dirty = true;
                }
                UpdateKind::Sync => {
                    let plain = e
                        .platform
                        .box_open_identity(&u.secrets)
                        .ok_or(Rejection::Aead)?;
                    let secrets = Secrets::decode(&plain, u.cid)?;
                    if let Some(old) = &rep.secrets {
                        if old != &secrets {
                            return Err(Rejection::Conflict(u.seq));
                        }
                    }
                    let plain = e.open_update(&secrets.state_key, &u)?;
                    let st = AppState::decode(&plain)?;
                    if st.hash() != new_hash
                        || st.seq != u.seq
                        || st.chain_pos != u.chain_pos
                        || st.tx_hash != u.tx_hash
                    {
                        return Err(Rejection::Inconsistent);
                    }
                    let mut apply = true;
                    if let Some((s, h)) = held {
                        if same_epoch && u.seq < s {
                            return Err(Rejection::BadSeq {
                                got: u.seq,
                                held: s,
                            });
                        }
                        if same_epoch && u.seq == s {
                            if h != new_hash {
                                return Err(Rejection::Conflict(u.seq));
                            }
                            apply = false;
                        }
                    }
                    if rep.secrets.is_none() {
                        let code_hash = e
                            .engine
                            .load(&secrets.code)
                            .map_err(|_| Rejection::CodeMismatch)?;
                        if code_hash != rep.view.code_hash {
                            return Err(Rejection::CodeMismatch);
                        }
                    }
                    // Every check passed: adopt the state.
                    if apply {
                        rep.secrets = Some(secrets);
                        rep.head = Some(st);
                        rep.head_epoch = u.epoch;
                        out.dirty = true;
                    }
                }
            }
            let accept = if rep.view.phase == Phase::Creation {
                let txh = rep.view.tx_hash();
                let input_public = rep
                    .secrets
                    .as_ref()
                    .map(|s| s.input_public)
                    .ok_or(Rejection::WrongPhase)?;
                let dg = chain::digest::accept(
                    &d,
                    u.cid,
                    &rep.view.code_hash,
                    &input_public,
                    &new_hash,
                    &txh,
                );
                Some((txh, e.platform.sign(&dg)))
            } else {
                None
            };
            let mut ack = Ack {
                cid: u.cid,
                epoch: u.epoch,
                seq: u.seq,
                state_hash: new_hash,
                member: me,
                update_nonce: u.nonce,
                accept,
                sig: Vec::new(),
            };
            ack.sig = e.platform.sign(&ack.digest());
            out.send(u.sender, &Message::Ack(ack));
            Ok(())
        })
    }

    pub(crate) fn on_ack(&mut self, a: Ack) -> Result<(), Rejection> {
        let me = self.me;
        let d = self.config.deployment;
        self.with_replica(a.cid, |e, rep| {
            let Some(exec) = rep.exec.as_mut() else {
                return Err(Rejection::NotServing(a.cid));
            };
            if a.epoch < exec.epoch {
                return Err(Rejection::StaleEpoch {
                    got: a.epoch,
                    current: exec.epoch,
                });
            }
            if a.epoch > exec.epoch {
                return Err(Rejection::EpochAhead {
                    got: a.epoch,
                    current: exec.epoch,
                });
            }
            if a.member == me || !rep.view.is_member(&a.member) {
                return Err(Rejection::NotMember(a.member));
            }
            if !e.platform.verify(&a.member, &a.digest(), &a.sig) {
                return Err(Rejection::BadSignature(a.member));
            }
            let head_seq = rep.head.as_ref().map(|h| h.seq).unwrap_or_default();
            let h = exec.hashes.get(&a.seq).ok_or(Rejection::BadSeq {
                got: a.seq,
                held: head_seq,
            })?;
            if *h != a.state_hash {
                return Err(Rejection::Conflict(a.seq));
            }
            // The ack must answer an update this executor sent since it (re)started.
            if exec.sent_nonces.get(&a.update_nonce) != Some(&a.seq) {
                return Err(Rejection::BadSeq {
                    got: a.seq,
                    held: head_seq,
                });
            }
            let accept = match (&a.accept, rep.view.phase) {
                (Some((txh, sig)), Phase::Creation) => {
                    let secrets = rep.secrets.as_ref().ok_or(Rejection::WrongPhase)?;
                    let dg = chain::digest::accept(
                        &d,
                        a.cid,
                        &rep.view.code_hash,
                        &secrets.input_public,
                        &a.state_hash,
                        txh,
                    );
                    if !e.platform.verify(&a.member, &dg, sig) {
                        return Err(Rejection::BadSignature(a.member));
                    }
                    Some((*txh, sig.clone()))
                }
                _ => None,
            };
            if exec.acked.get(&a.member).is_none_or(|s| *s < a.seq) {
                exec.acked.insert(a.member, a.seq);
            }
            if let Some(acc) = accept {
                exec.accepts.insert(a.member, acc);
            }
            Ok(())
        })
    }

    pub(crate) fn on_deploy(
        &mut self,
        _now_ms: u64,
        dep: Deploy,
        out: &mut Out,
    ) -> Result<(), Rejection> {
        let me = self.me;
        self.with_replica(dep.cid, |e, rep| {
            if rep.view.phase != Phase::Creation {
                return Err(Rejection::WrongPhase);
            }
            if rep.view.executor() != Some(me) || rep.view.epoch != Epoch(0) {
                return Err(Rejection::NotServing(dep.cid));
            }
            if rep.secrets.is_some() {
                return Ok(());
            }
            let creator = rep.view.creator;
            if !e.platform.verify(&creator, &dep.digest(), &dep.sig) {
                return Err(Rejection::BadSignature(creator));
            }
            let code_hash = e
                .engine
                .load(&dep.code)
                .map_err(|_| Rejection::CodeMismatch)?;
            if code_hash != rep.view.code_hash {
                return Err(Rejection::CodeMismatch);
            }
            let mut state_key = [0u8; 32];
            e.platform.random(&mut state_key);
            let mut random_seed = [0u8; 32];
            e.platform.random(&mut random_seed);
            let (input_secret, input_public) = e.platform.box_keypair();
            let v = &rep.view;
            let first = v.tx_at(0).ok_or(Rejection::WrongPhase)?;
            let mut contract = ContractState::default();
            let env = CallEnv {
                caller: first.sender,
                block_number: first.block_number,
                block_time_secs: first.block_time_secs,
                random: sha256(&[&random_seed, b"init"]).0,
                fuel_limit: CALL_FUEL_MAX,
                output_bytes_max: None,
            };
            e.engine
                .execute(
                    &code_hash,
                    Entry::Init,
                    &mut contract,
                    &env,
                    &dep.init_input,
                )
                .map_err(|_| Rejection::CodeMismatch)?;
            let mut st = AppState::with_contract(contract);
            st.chain_pos = v.chain_len();
            st.tx_hash = v.tx_hash();
            st.block_number = first.block_number;
            st.block_time_secs = first.block_time_secs;
            rep.secrets = Some(Secrets {
                state_key,
                input_secret,
                input_public,
                random_seed,
                code: dep.code,
            });
            rep.head = Some(st);
            rep.head_epoch = Epoch(0);
            out.dirty = true;
            Ok(())
        })
    }

    /// The executor's duties for one contract; runs after every event.
    pub(crate) fn drive(&mut self, cid: ContractId, out: &mut Out) {
        let _ = self.with_replica(cid, |e, rep| {
            e.drive_replica(cid, rep, out);
            Ok(())
        });
    }

    /// A member's own chain duty: answer a member challenge against it with the state it
    /// holds, and answer again every [`RESUBMIT_MS`] until its host shows the answer included
    /// (the host may drop a submission, and an answer signed under an epoch that changed
    /// before inclusion is refused by the manager; each retry signs the current view).
    fn member_duties(&mut self, cid: ContractId, rep: &mut Replica, out: &mut Out) {
        let me = self.me;
        let now = self.now_ms;
        let v = &rep.view;
        if !v.member_challenges.contains_key(&me) {
            rep.member_answer = None;
            return;
        }
        // Answer again after RESUBMIT_MS, and at once when the epoch moved: the manager checks
        // the signature under its current epoch, so an answer signed before an executor change
        // that lands after it is refused.
        if rep
            .member_answer
            .is_some_and(|(t, e)| e == v.epoch && now < t.saturating_add(RESUBMIT_MS))
        {
            return;
        }
        rep.member_answer = Some((now, v.epoch));
        let (seq, state_hash) = rep.held();
        let h = v.tx_hash();
        let d = self.config.deployment;
        let dg = chain::digest::respond_member(&d, cid, v.epoch, &me, (seq, &state_hash), &h);
        let sig = self.platform.sign(&dg);
        out.submit(&ManagerCall::RespondMember {
            cid,
            member: me,
            seq,
            state_hash,
            tx_hash: h,
            sig,
        });
    }

    fn drive_replica(&mut self, cid: ContractId, rep: &mut Replica, out: &mut Out) {
        self.member_duties(cid, rep, out);
        if rep.view.phase == Phase::Crashed {
            self.revive(cid, rep, out);
        }
        let me = self.me;
        let now = self.now_ms;
        let v = &rep.view;
        let am_exec = v.executor() == Some(me)
            && matches!(v.phase, Phase::Creation | Phase::Executing)
            && (v.phase == Phase::Executing || v.epoch == Epoch(0));
        if rep
            .exec
            .as_ref()
            .is_some_and(|x| !am_exec || x.epoch != v.epoch)
        {
            rep.exec = None;
        }
        if !am_exec {
            return;
        }
        if rep.exec.is_none() {
            let (Some(head), Some(_)) = (rep.head.as_ref(), rep.secrets.as_ref()) else {
                return;
            };
            // Start or resume the epoch: the head becomes its base and every member is synced.
            rep.exec = Some(ExecState::new(v.epoch, head));
            if rep.head_epoch != v.epoch {
                rep.head_epoch = v.epoch;
                out.dirty = true;
            }
        }
        self.advance_commit(cid, rep, out);
        self.chain_duties(cid, rep, out);
        let mut built = false;
        for _ in 0..PIPELINE_UPDATES_MAX {
            if !self.build_update(cid, rep, out) {
                break;
            }
            built = true;
        }
        if built && Self::others(rep, me).is_empty() {
            // A pool of one waits for nobody: commit (and reply) now, not at the next event.
            self.advance_commit(cid, rep, out);
            self.chain_duties(cid, rep, out);
        }
        self.retransmit_and_challenge(cid, rep, out);
        let _ = now;
    }

    /// In Crashed, a member that holds a state of the contract (and its secrets) asks the
    /// manager to make it the executor of the next epoch, signing the state it holds; again
    /// every [`RESUBMIT_MS`] while its view stays Crashed (the first member whose revival
    /// lands wins; the others' are refused).
    fn revive(&mut self, cid: ContractId, rep: &mut Replica, out: &mut Out) {
        let me = self.me;
        let now = self.now_ms;
        if !rep.view.is_member(&me) || rep.secrets.is_none() || rep.head.is_none() {
            return;
        }
        if rep.revive_sent_ms.is_some_and(|t| now < t + RESUBMIT_MS) {
            return;
        }
        rep.revive_sent_ms = Some(now);
        let (seq, state_hash) = rep.held();
        let v = &rep.view;
        let tx_hash = v.tx_hash();
        let dg = chain::digest::revive(
            &self.config.deployment,
            cid,
            v.epoch,
            &me,
            (seq, &state_hash),
            &tx_hash,
        );
        out.submit(&ManagerCall::Revive {
            cid,
            member: me,
            seq,
            state_hash,
            tx_hash,
            sig: self.platform.sign(&dg),
        });
    }

    fn others(rep: &Replica, me: Address) -> Vec<Address> {
        rep.view
            .pool
            .iter()
            .map(|m| m.address)
            .filter(|a| *a != me)
            .collect()
    }

    fn advance_commit(&mut self, cid: ContractId, rep: &mut Replica, out: &mut Out) {
        let me = self.me;
        let others = Self::others(rep, me);
        // The pool whose acks commit here is the one of this chain position: receipts name it.
        let chain = rep.view.chain_head();
        let Some(exec) = rep.exec.as_mut() else {
            return;
        };
        let Some(head_seq) = rep.head.as_ref().map(|h| h.seq) else {
            return;
        };
        let min = if others.is_empty() {
            Some(head_seq)
        } else {
            others
                .iter()
                .map(|m| exec.acked.get(m).copied())
                .collect::<Option<Vec<Seq>>>()
                .and_then(|v| v.into_iter().min())
        };
        let Some(min) = min else { return };
        if exec.committed().is_some_and(|c| c.seq >= min) || min < exec.base.seq {
            return;
        }
        // Bring the base forward to `min` through the diffs: the cost of the changes, not
        // of the state.
        let later = exec.diffs.split_off(&Seq(min.0 + 1));
        for diff in std::mem::replace(&mut exec.diffs, later).values() {
            exec.base.apply_diff(diff);
        }
        exec.base_committed = true;
        let epoch = exec.epoch;
        let hash = exec.base.hash();
        debug_assert_eq!(exec.hashes.get(&min), Some(&hash));
        let release: Vec<Seq> = exec.replies.range(..=min).map(|(s, _)| *s).collect();
        let mut to_send = Vec::new();
        for s in release {
            if let Some(set) = exec.replies.remove(&s) {
                to_send.extend(set);
            }
        }
        exec.hashes = exec.hashes.split_off(&min);
        exec.sent_nonces.retain(|_, s| *s >= min);
        for (user, nonce) in to_send {
            let Some(rec) = exec.base.requests().get(&(user, nonce)).cloned() else {
                continue;
            };
            let r = self.make_reply(cid, epoch, user, nonce, &rec, (min, hash), chain);
            out.send(user, &Message::Reply(r));
        }
    }

    /// The executor's on-chain duties over the committed state: complete the creation,
    /// answer challenges, submit payouts and the termination.
    fn chain_duties(&mut self, cid: ContractId, rep: &mut Replica, out: &mut Out) {
        let Some(exec) = rep.exec.as_mut().filter(|x| x.base_committed) else {
            return;
        };
        // Lend the committed state out of the executor's soft state for the duration (no
        // copy); nothing below changes it.
        let committed = std::mem::take(&mut exec.base);
        self.chain_duties_over(cid, rep, &committed, out);
        if let Some(exec) = rep.exec.as_mut() {
            exec.base = committed;
        }
    }

    fn chain_duties_over(
        &mut self,
        cid: ContractId,
        rep: &mut Replica,
        committed: &AppState,
        out: &mut Out,
    ) {
        let me = self.me;
        let now = self.now_ms;
        let d = self.config.deployment;
        let others = Self::others(rep, me);
        let Some(exec) = rep.exec.as_mut() else {
            return;
        };
        let Some(secrets) = rep.secrets.as_ref() else {
            return;
        };
        let v = &rep.view;
        let epoch = exec.epoch;
        let txh = v.tx_hash();
        match v.phase {
            Phase::Creation => {
                if !others
                    .iter()
                    .all(|m| exec.accepts.get(m).is_some_and(|(h, _)| *h == txh))
                {
                    return;
                }
                if !exec.may_submit(SubmitKey::Complete, now) {
                    return;
                }
                let init_hash = committed.hash();
                let dg = chain::digest::accept(
                    &d,
                    cid,
                    &v.code_hash,
                    &secrets.input_public,
                    &init_hash,
                    &txh,
                );
                // One signature per member, in pool order; all over `txh` (checked above).
                let sigs = v
                    .pool
                    .iter()
                    .map(|m| {
                        if m.address == me {
                            self.platform.sign(&dg)
                        } else {
                            exec.accepts
                                .get(&m.address)
                                .map(|(_, s)| s.clone())
                                .unwrap_or_default()
                        }
                    })
                    .collect();
                out.submit(&ManagerCall::CompleteCreation {
                    cid,
                    contract_key: secrets.input_public,
                    init_state_hash: init_hash,
                    tx_hash: txh,
                    sigs,
                });
            }
            Phase::Executing => {
                let chash = committed.hash();
                let open: Vec<u64> = v.open_challenges.iter().copied().collect();
                for id in open {
                    let Some(entry) = committed.challenges().get(&id) else {
                        continue;
                    };
                    if !exec.may_submit(SubmitKey::Respond(id), now) {
                        continue;
                    }
                    let reply = match entry {
                        Some((user, nonce)) => match committed.requests().get(&(*user, *nonce)) {
                            Some(rec) => Message::Reply(self.make_reply(
                                cid,
                                epoch,
                                *user,
                                *nonce,
                                rec,
                                (committed.seq, chash),
                                v.chain_head(),
                            ))
                            .encode(),
                            None => Vec::new(),
                        },
                        None => Vec::new(),
                    };
                    let dg = chain::digest::respond(
                        &d,
                        cid,
                        id,
                        epoch,
                        &reply,
                        committed.seq,
                        &chash,
                        &txh,
                    );
                    out.submit(&ManagerCall::Respond {
                        cid,
                        challenge_id: id,
                        reply,
                        seq: committed.seq,
                        state_hash: chash,
                        tx_hash: txh,
                        sig: self.platform.sign(&dg),
                    });
                }
                for (nonce, p) in committed.pending_payouts() {
                    if v.withdrawn.contains(nonce)
                        || !exec.may_submit(SubmitKey::Withdraw(*nonce), now)
                    {
                        continue;
                    }
                    let dg =
                        chain::digest::withdraw(&d, cid, epoch, &p.to, p.amount_wei, *nonce, &txh);
                    out.submit(&ManagerCall::Withdraw {
                        cid,
                        recipient: p.to,
                        amount_wei: p.amount_wei,
                        nonce: *nonce,
                        tx_hash: txh,
                        sig: self.platform.sign(&dg),
                    });
                }
                // The manager takes a termination over its current txHash only, and pays
                // the creator what the payouts leave: sign only over a txHash whose every
                // transaction (a late deposit, refunded as a payout) the committed state holds.
                if committed.terminated
                    && committed.tx_hash == txh
                    && committed
                        .pending_payouts()
                        .keys()
                        .all(|n| v.withdrawn.contains(n))
                    && exec.may_submit(SubmitKey::Terminate, now)
                {
                    let dg = chain::digest::terminate(&d, cid, epoch, &[], &txh);
                    out.submit(&ManagerCall::Terminate {
                        cid,
                        payouts: Vec::new(),
                        tx_hash: txh,
                        sig: self.platform.sign(&dg),
                    });
                }
            }
            Phase::Terminated | Phase::Crashed => {}
        }
    }

    /// Folds new chain transactions and queued requests into the head, in place, and sends
    /// what changed (a [`StateDiff`]) to the members in step. Returns false if there was
    /// nothing to do or the pipeline is full.
    fn build_update(&mut self, cid: ContractId, rep: &mut Replica, out: &mut Out) -> bool {
        let me = self.me;
        if rep.view.phase != Phase::Executing {
            return false;
        }
        let others = Self::others(rep, me);
        let Replica {
            view,
            secrets,
            head,
            exec,
            ..
        } = rep;
        let (Some(head), Some(secrets), Some(exec)) =
            (head.as_mut(), secrets.as_ref(), exec.as_mut())
        else {
            return false;
        };
        let in_flight = exec.in_flight();
        let chain_len = view.chain_len();
        let chain_news = head.chain_pos < chain_len;
        // The pipeline bounds request batches; chain facts (a pool change above all) are
        // always folded in, so members that already saw them never wait for this executor.
        if in_flight >= PIPELINE_UPDATES_MAX && !chain_news {
            return false;
        }
        if !chain_news && exec.queue.is_empty() {
            return false;
        }
        let take_requests = in_flight < PIPELINE_UPDATES_MAX;
        let prev_hash = head.hash();
        head.clear_touched();
        head.seq = Seq(head.seq.0 + 1);
        let code_hash = view.code_hash;
        let mut replies: BTreeSet<(Address, u64)> = BTreeSet::new();
        let mut index = 0u64;
        // Chain facts first, in log order.
        for pos in head.chain_pos..chain_len {
            let Some(tx) = view.tx_at(pos) else {
                // Pruned: cannot happen (the log keeps what the head has not folded).
                break;
            };
            match tx.call() {
                Ok(ManagerCall::Deposit { .. }) => {
                    let times = if self.bug(Bug::DoubleCreditDeposit) {
                        2
                    } else {
                        1
                    };
                    for _ in 0..times {
                        let have = head.contract().balances.get(&tx.sender).copied();
                        head.set_balance(tx.sender, have.unwrap_or(0).saturating_add(tx.value_wei));
                        head.deposits_credited_wei =
                            head.deposits_credited_wei.saturating_add(tx.value_wei);
                    }
                    if head.terminated {
                        head.refund_all();
                    }
                }
                Ok(ManagerCall::Challenge { request, .. }) => {
                    if let Effect::ChallengeOpened { challenge_id } = tx.effect {
                        if !head.challenges().contains_key(&challenge_id) {
                            let entry = self.challenged_request(
                                cid, secrets, &code_hash, &request, head, &mut index,
                            );
                            if let Some(k) = entry {
                                replies.insert(k);
                            }
                            head.insert_challenge(challenge_id, entry);
                        }
                    }
                }
                Ok(ManagerCall::Withdraw { nonce, .. }) => head.remove_payout(nonce),
                _ => {}
            }
            head.block_number = tx.block_number;
            head.block_time_secs = tx.block_time_secs;
            head.chain_pos = pos + 1;
            head.tx_hash = view.tx_hash_at(pos + 1).unwrap_or_default();
        }
        let mut batch = Vec::new();
        while take_requests && batch.len() < BATCH_REQUESTS_MAX {
            let Some(p) = exec.queue.pop_front() else {
                break;
            };
            batch.push(p);
        }
        for p in batch {
            if !self.bug(Bug::SkipNonceCheck) {
                if let Some(rec) = head.requests().get(&(p.user, p.nonce)) {
                    if rec.request_digest == p.digest {
                        replies.insert((p.user, p.nonce));
                    }
                    continue;
                }
                // Overtaken in the queue by later nonces of its user whose records pushed
                // the floor past it: refused, as on arrival.
                if head.nonce_floor(&p.user) >= Some(p.nonce) {
                    continue;
                }
            }
            self.execute_request(secrets, &code_hash, &p, head, &mut index);
            replies.insert((p.user, p.nonce));
        }
        let diff = head.take_diff();
        let new_hash = head.hash();
        debug_assert!(head.entry_count() > DEBUG_HASH_CHECK_ENTRIES_MAX || head.check_hash());
        exec.hashes.insert(head.seq, new_hash);
        let epoch = exec.epoch;
        if self.bug(Bug::ReplyBeforeAcks) {
            for (user, nonce) in &replies {
                if let Some(rec) = head.requests().get(&(*user, *nonce)) {
                    let chain = view.chain_head();
                    let r = self.make_reply(
                        cid,
                        epoch,
                        *user,
                        *nonce,
                        rec,
                        (head.seq, new_hash),
                        chain,
                    );
                    out.send(*user, &Message::Reply(r));
                }
            }
        } else {
            exec.replies.entry(head.seq).or_default().extend(replies);
        }
        let mut u = self.seal_update(
            cid,
            epoch,
            head,
            prev_hash,
            UpdateKind::Next,
            secrets,
            None,
            &diff.encode(),
        );
        exec.diffs.insert(head.seq, diff);
        u.sig = self.platform.sign(&u.digest());
        exec.sent_nonces.insert(u.nonce, u.seq);
        let now = self.now_ms;
        for m in &others {
            // A member that is not in step gets a sync from the retransmission path.
            if exec.acked.contains_key(m) {
                exec.last_sent_ms.insert(*m, now);
            }
        }
        for m in others {
            out.send(m, &Message::Update(u.clone()));
        }
        out.dirty = true;
        true
    }

    /// An update of `st` (its header fields) carrying `plain`: a [`StateDiff`] for
    /// [`UpdateKind::Next`], the whole state for [`UpdateKind::Sync`] (with the secrets
    /// boxed to `to_enc_key`). Unsigned.
    #[allow(clippy::too_many_arguments)]
    fn seal_update(
        &mut self,
        cid: ContractId,
        epoch: Epoch,
        st: &AppState,
        prev_hash: Hash32,
        kind: UpdateKind,
        secrets: &Secrets,
        to_enc_key: Option<&[u8; 32]>,
        plain: &[u8],
    ) -> Update {
        let mut nonce = [0u8; 24];
        self.platform.random(&mut nonce);
        let sealed_secrets = match to_enc_key {
            Some(k) => self.platform.box_seal(k, &secrets.encode(cid)),
            None => Vec::new(),
        };
        let mut u = Update {
            cid,
            epoch,
            seq: st.seq,
            prev_hash: if kind == UpdateKind::Next {
                prev_hash
            } else {
                Hash32::default()
            },
            new_hash: st.hash(),
            chain_pos: st.chain_pos,
            tx_hash: st.tx_hash,
            kind,
            nonce,
            state: Vec::new(),
            secrets: sealed_secrets,
            sender: self.me,
            sig: Vec::new(),
        };
        u.state = if self.bug(Bug::LeakPlaintext) {
            plain.to_vec()
        } else {
            self.platform
                .aead_seal(&secrets.state_key, &nonce, &u.header(), plain)
        };
        u
    }

    /// Validates and (if new) executes a request forced on-chain; returns `(user, nonce)` or
    /// `None` if it was invalid (or executed long ago, below its user's nonce floor).
    fn challenged_request(
        &mut self,
        cid: ContractId,
        secrets: &Secrets,
        code_hash: &Hash32,
        bytes: &[u8],
        st: &mut AppState,
        index: &mut u64,
    ) -> Option<(Address, u64)> {
        let req = Request::decode(bytes).ok()?;
        if req.cid != cid || req.kind != RequestKind::Call {
            return None;
        }
        let digest = req.digest();
        if !self.platform.verify(&req.user, &digest, &req.sig) {
            return None;
        }
        if !self.bug(Bug::SkipNonceCheck) {
            if let Some(rec) = st.requests().get(&(req.user, req.nonce)) {
                return (rec.request_digest == digest).then_some((req.user, req.nonce));
            }
            if st.nonce_floor(&req.user) >= Some(req.nonce) {
                return None;
            }
        }
        let (reply_key, input) = self.open_request(secrets, &req).ok()?;
        let p = Pending {
            user: req.user,
            nonce: req.nonce,
            digest,
            reply_key,
            input,
        };
        self.execute_request(secrets, code_hash, &p, st, index);
        Some((req.user, req.nonce))
    }

    fn execute_request(
        &mut self,
        secrets: &Secrets,
        code_hash: &Hash32,
        p: &Pending,
        st: &mut AppState,
        index: &mut u64,
    ) {
        let random = sha256(&[
            &secrets.random_seed,
            &st.seq.0.to_be_bytes(),
            &index.to_be_bytes(),
        ])
        .0;
        *index += 1;
        let env = CallEnv {
            caller: p.user,
            block_number: st.block_number,
            block_time_secs: st.block_time_secs,
            random,
            fuel_limit: CALL_FUEL_MAX,
            output_bytes_max: Some(CALL_OUTPUT_BYTES_MAX),
        };
        let engine = &mut self.engine;
        let result = st.run_contract(|c| engine.execute(code_hash, Entry::Call, c, &env, &p.input));
        let output = match result {
            Ok(o) => {
                for pay in &o.payouts {
                    st.add_payout(PayoutLine {
                        to: pay.to,
                        amount_wei: pay.amount_wei,
                    });
                }
                if o.terminate {
                    st.terminated = true;
                    st.refund_all();
                }
                o.output
            }
            Err(err) => format!("error: {err}").into_bytes(),
        };
        let enc = self.encrypt_output(&p.reply_key, &p.digest, &output);
        st.insert_record(
            p.user,
            p.nonce,
            Record {
                applied_seq: st.seq,
                request_digest: p.digest,
                output: enc,
            },
        );
    }

    fn retransmit_and_challenge(&mut self, cid: ContractId, rep: &mut Replica, out: &mut Out) {
        let me = self.me;
        let now = self.now_ms;
        let d = self.config.deployment;
        let Some(head_seq) = rep.head.as_ref().map(|h| h.seq) else {
            return;
        };
        if rep.secrets.is_none() {
            return;
        }
        let Some(epoch) = rep.exec.as_ref().map(|x| x.epoch) else {
            return;
        };
        let ack_timeout_ms = self.config.ack_timeout_ms;
        let chain_now_secs = rep.chain_time_floor_secs(now);
        let members = rep.view.pool.clone();
        let txh = rep.view.tx_hash();
        for m in members.iter().filter(|m| m.address != me) {
            let a = m.address;
            let Some(exec) = rep.exec.as_mut() else {
                return;
            };
            let acked = exec.acked.get(&a).copied();
            // In creation every acceptance must sign the executor's current `txHash` (the
            // manager checks them all against one value): a stale one is owed again.
            let stale_accept = rep.view.phase == Phase::Creation
                && exec.accepts.get(&a).is_none_or(|(h, _)| *h != txh);
            let owes = acked.is_none_or(|s| s < head_seq) || stale_accept;
            let in_view = rep.view.member_challenges.get(&a).copied();
            if in_view.is_some() {
                exec.challenged.insert(a);
            } else if exec.challenged.remove(&a) {
                // The member answered its challenge on-chain: give it a fresh ack timeout.
                exec.owed_since_ms.insert(a, now);
            }
            if !owes {
                exec.owed_since_ms.remove(&a);
                continue;
            }
            let since = *exec.owed_since_ms.entry(a).or_insert(now);
            let due = exec
                .last_sent_ms
                .get(&a)
                .is_none_or(|t| now >= t + RETRANSMIT_MS);
            if due {
                exec.last_sent_ms.insert(a, now);
                // A member out of step catches up with the whole state.
                let (Some(head), Some(secrets)) = (rep.head.as_ref(), rep.secrets.as_ref()) else {
                    return;
                };
                let mut u = self.seal_update(
                    cid,
                    epoch,
                    head,
                    Hash32::default(),
                    UpdateKind::Sync,
                    secrets,
                    Some(&m.enc_key),
                    &head.encode(),
                );
                u.sig = self.platform.sign(&u.digest());
                if let Some(exec) = rep.exec.as_mut() {
                    exec.sent_nonces.insert(u.nonce, u.seq);
                }
                out.send(a, &Message::Update(u));
            }
            let Some(exec) = rep.exec.as_mut() else {
                return;
            };
            if now < since + ack_timeout_ms {
                continue;
            }
            match in_view {
                None => {
                    if exec.may_submit(SubmitKey::ChallengeMember(a), now) {
                        let dg = chain::digest::challenge_member(&d, cid, epoch, &a, &txh);
                        out.submit(&ManagerCall::ChallengeMember {
                            cid,
                            member: a,
                            tx_hash: txh,
                            sig: self.platform.sign(&dg),
                        });
                    }
                }
                Some(deadline_secs) => {
                    if chain_now_secs > deadline_secs
                        && exec.may_submit(SubmitKey::RemoveMember(a), now)
                    {
                        out.submit(&ManagerCall::RemoveMember { cid, member: a });
                    }
                }
            }
        }
    }
}
