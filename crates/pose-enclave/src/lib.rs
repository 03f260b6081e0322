//! The POSE protocol as a sans-IO state machine: events in (messages, chain events, timers),
//! actions out (messages, chain transactions, replies, sealed state). No I/O, clocks or OS
//! randomness: time and randomness come in through [`Platform`], the TEE.
//!
//! # Call order
//!
//! A host owns one [`Enclave`] and calls [`Enclave::handle`]`(event)` for every
//! network message ([`Event::Message`]), every confirmed manager transaction of a contract
//! ([`Event::Chain`], in log order), and at least every [`TICK_MS`] ([`Event::Tick`]). It then
//! executes the returned actions **in order**: a [`Action::Persist`] comes before any message
//! that depends on it, so a host that stores the blob before sending keeps the enclave's
//! promises across a crash. The host passes no time: the enclave reads the TEE's monotonic
//! clock ([`Platform::now_ms`]) for its timers and takes chain time from chain transactions,
//! so a host that moves its clock changes nothing. After a restart the host calls
//! [`Enclave::restore`] with the latest blob; an older blob is refused
//! ([`Rejection::StaleSealedState`]).
//!
//! Every message is checked (decoding, signature, epoch, sequence number, chain facts, AEAD)
//! before it changes anything; a bad one returns a typed [`Rejection`] and leaves the enclave
//! exactly as it was.
//!
//! # Roles
//!
//! Per contract an enclave is the **executor** (the pool member at the current epoch's index)
//! or a **watchdog**. See docs/protocol.md section 5 for the state machine.

#![forbid(unsafe_code)]

mod abi;
pub mod app_state;
pub mod chain;
pub mod decode;
pub mod limits;
pub mod platform;
pub mod state;
pub mod tee_platform;
pub mod wire;

mod exec;

use std::collections::BTreeMap;

use pose_runtime::ContractEngine;
use pose_types::codec::{encode_bytes, encode_count};
use pose_types::{Address, ContractId, Decode, Encode, Epoch, Hash32, Reader, Seq};

pub use app_state::{EntryKey, EntryValue, Scalars, StateDiff, RECORDS_PER_USER_MAX};
pub use chain::{ChainTx, Deployment, Effect, ManagerCall, Member, Params, PayoutLine};
pub use platform::{Platform, SealError, Signature};
pub use state::{AppState, Phase, Record, Secrets, View};
pub use tee_platform::TeePlatform;
pub use wire::{
    Ack, Deploy, Message, Reply, Request, RequestKind, SealedInput, Update, UpdateKind,
};

pub use decode::DecodeError;
use exec::ExecState;

/// How often the host should deliver [`Event::Tick`], in milliseconds.
pub const TICK_MS: u64 = 250;
/// How long the executor waits before resending a state to a member that has not acked it.
pub const RETRANSMIT_MS: u64 = 1_000;
/// How long the enclave waits before resubmitting a chain transaction it has not seen included.
pub const RESUBMIT_MS: u64 = 4_000;

/// A deliberately wrong behaviour, to show that the simulator's invariant checks bite.
/// Ignored unless the crate is built with the `bug-injection` feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// The executor replies as soon as it sends an update, before the acks.
    ReplyBeforeAcks,
    /// Watchdogs accept updates from an executor of an older epoch (skipping both the epoch
    /// check and the check that the executor folded every executor change).
    AcceptOldEpoch,
    /// The executor does not check `(user, nonce)` before executing.
    SkipNonceCheck,
    /// Deposits are credited twice.
    DoubleCreditDeposit,
    /// State updates carry the state in plaintext.
    LeakPlaintext,
    /// A sealed blob older than the latest seal is accepted (through
    /// [`Platform::unseal_stale_for_bug_injection`]).
    AcceptStaleSeal,
}

/// Static configuration of an enclave.
#[derive(Clone, Debug)]
pub struct Config {
    /// Chain id and manager address.
    pub deployment: Deployment,
    /// The TEE vendor's address (attestations are its signatures).
    pub vendor: Address,
    /// The measurement of the enclave program pool members must run.
    pub measurement: Hash32,
    /// How long an executor waits for a member's acknowledgement (or a fresh acceptance in
    /// creation) before it challenges the member on-chain, in milliseconds. It must cover the
    /// member's chain confirmations plus a few retransmissions.
    pub ack_timeout_ms: u64,
    /// The injected bug (only with the `bug-injection` feature).
    pub bug: Option<Bug>,
}

/// The default [`Config::ack_timeout_ms`]: 8 s.
pub const ACK_TIMEOUT_MS_DEFAULT: u64 = 8_000;

impl Default for Config {
    fn default() -> Self {
        Self {
            deployment: Deployment::default(),
            vendor: Address::default(),
            measurement: Hash32::default(),
            ack_timeout_ms: ACK_TIMEOUT_MS_DEFAULT,
            bug: None,
        }
    }
}

/// Something that happened outside the enclave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Bytes from the network (a user or another enclave).
    Message(Vec<u8>),
    /// A confirmed manager transaction ([`ChainTx::encode`]).
    Chain(Vec<u8>),
    /// Time passed.
    Tick,
}

/// Something the host must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send bytes to a user or an enclave.
    Send {
        /// The recipient's address.
        to: Address,
        /// An encoded [`Message`].
        bytes: Vec<u8>,
    },
    /// Submit a manager transaction (calldata of a [`ManagerCall`]).
    Submit {
        /// The calldata.
        calldata: Vec<u8>,
    },
    /// Store this sealed blob, replacing the previous one, before executing later actions.
    Persist {
        /// The sealed blob.
        blob: Vec<u8>,
    },
    /// A limit stopped a contract's progress: the host logs and counts it (it changes
    /// nothing in the enclave). Reported each time the enclave runs into the limit.
    Stalled {
        /// The contract (`None`: the whole enclave, e.g. when sealing is refused).
        cid: Option<ContractId>,
        /// Which limit.
        limit: Limit,
        /// The size that ran into it, in bytes.
        bytes: u64,
        /// The limit, in bytes (0 where the TEE does not say).
        max_bytes: u64,
    },
}

/// A limit that can stop a contract (reported as [`Action::Stalled`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A message to send (a whole-state `Sync` above all) exceeds
    /// [`limits::MESSAGE_BYTES_MAX`]: it is not sent, and the member it was for cannot catch
    /// up.
    MessageBytes,
    /// The TEE refused to seal the enclave's state: nothing that depends on it is sent.
    Sealing,
}

impl Limit {
    /// A short name for logs and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            Limit::MessageBytes => "message_bytes",
            Limit::Sealing => "sealing",
        }
    }
}

/// Why an event was refused. The enclave is unchanged after every rejection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The bytes did not decode.
    #[error("malformed input: {0}")]
    Malformed(#[from] DecodeError),
    /// A signature did not verify: the sender is faulty or the bytes were altered.
    #[error("bad signature from {0}")]
    BadSignature(Address),
    /// The enclave does not serve this contract.
    #[error("unknown contract {0:?}")]
    UnknownContract(ContractId),
    /// The message belongs to an older epoch (replayed or from a replaced executor).
    #[error("stale epoch {got:?}, current {current:?}")]
    StaleEpoch {
        /// Epoch in the message.
        got: Epoch,
        /// The enclave's epoch.
        current: Epoch,
    },
    /// The message is from a newer epoch than the enclave's chain view; retry later.
    #[error("epoch {got:?} ahead of the chain view {current:?}; retry after the chain catches up")]
    EpochAhead {
        /// Epoch in the message.
        got: Epoch,
        /// The enclave's epoch.
        current: Epoch,
    },
    /// The sequence number is old or out of order (replay or reordering).
    #[error("sequence number {got:?} does not follow {held:?}")]
    BadSeq {
        /// Sequence number in the message.
        got: Seq,
        /// Sequence number held.
        held: Seq,
    },
    /// The sender is not the executor this enclave expects.
    #[error("{0} is not the executor of this epoch")]
    NotExecutor(Address),
    /// This enclave is not the executor (send requests to the current executor).
    #[error("this enclave is not the executor of contract {0:?}")]
    NotServing(ContractId),
    /// The sender is not a pool member.
    #[error("{0} is not a pool member")]
    NotMember(Address),
    /// The message refers to chain transactions this enclave's host has not shown yet.
    #[error("chain view behind: message needs {needed} transactions, have {have}")]
    ChainBehind {
        /// Transactions the message relies on.
        needed: u64,
        /// Transactions seen.
        have: u64,
    },
    /// The message's chain facts differ from what this enclave's host showed.
    #[error("chain facts differ at position {0}")]
    ChainMismatch(u64),
    /// The executor has not yet folded a pool change this enclave already saw.
    #[error("executor missed a pool change at chain position {0}")]
    ExecutorBehind(u64),
    /// A chain transaction repeats one already seen.
    #[error("chain transaction {got} already seen (next is {next})")]
    ChainReplay {
        /// Index given.
        got: u64,
        /// Index expected.
        next: u64,
    },
    /// A chain transaction skips ahead.
    #[error("chain transaction {got} skips ahead (next is {next}); deliver in order")]
    ChainGap {
        /// Index given.
        got: u64,
        /// Index expected.
        next: u64,
    },
    /// A chain transaction's block is older (lower number or earlier time) than the previous
    /// transaction's of the same contract: a host reordering or altering blocks. Hand over
    /// the block number and time of the block each event is in.
    #[error(
        "chain transaction {index} is in block {block} at {time_secs} s, before the previous \
         one's block {last_block} at {last_time_secs} s; deliver each event with its own block"
    )]
    ChainBlockWentBackwards {
        /// Index of the refused transaction.
        index: u64,
        /// Its block number.
        block: u64,
        /// Its block time, seconds.
        time_secs: u64,
        /// The previous transaction's block number.
        last_block: u64,
        /// The previous transaction's block time, seconds.
        last_time_secs: u64,
    },
    /// A ciphertext did not open (wrong key, altered bytes or associated data).
    #[error("ciphertext did not authenticate")]
    Aead,
    /// Decrypted or announced state does not match its hashes.
    #[error("state does not match its header")]
    Inconsistent,
    /// Two different states for one `(epoch, seq)`: evidence against the sender.
    #[error("conflicting state at {0:?}")]
    Conflict(Seq),
    /// The message arrived in a phase where it means nothing.
    #[error("message out of phase")]
    WrongPhase,
    /// `(user, nonce)` was already used with a different request.
    #[error("nonce {nonce} of {user} was already used for another request")]
    NonceReused {
        /// The user.
        user: Address,
        /// The nonce.
        nonce: u64,
    },
    /// The input exceeds the limit.
    #[error("input of {0} bytes exceeds the limit")]
    InputTooLarge(usize),
    /// The request's sealed body was sealed for another request (its bound `cid`, `user`,
    /// `nonce` or `kind` differ from the request's): a body copied from someone else's
    /// request. Seal the input for the request that carries it.
    #[error(
        "the sealed input of request ({user}, nonce {nonce}) was sealed for another request; \
         seal the input with this request's cid, user, nonce and kind"
    )]
    InputNotBound {
        /// The user the request claims.
        user: Address,
        /// The request's nonce.
        nonce: u64,
    },
    /// The executor's queue is full; retry later.
    #[error("executor busy; retry later")]
    Busy,
    /// No fully acknowledged state yet; retry later.
    #[error("no acknowledged state yet; retry later")]
    NotReady,
    /// The code does not match the code hash registered on-chain.
    #[error("code does not match the registered code hash")]
    CodeMismatch,
    /// A pool member's attestation did not verify.
    #[error("attestation of {0} did not verify")]
    BadAttestation(Address),
    /// The sealed blob is older than the TEE's monotonic counter (a rollback).
    #[error("sealed state is stale (counter {blob} < {tee}); restore the latest blob")]
    StaleSealedState {
        /// Counter in the blob.
        blob: u64,
        /// The TEE's counter.
        tee: u64,
    },
    /// The sealed blob did not open.
    #[error("sealed blob did not open")]
    Unseal,
    /// The request's nonce is at or below its user's nonce floor and has no record: it was
    /// executed and its receipt pruned (a user keeps the records of its latest
    /// [`RECORDS_PER_USER_MAX`] requests), or it is older than those.
    #[error(
        "nonce {nonce} of {user} is at or below the user's floor {floor}: it was executed and \
         its receipt pruned, or it is too old; send new requests with a nonce above {floor}"
    )]
    NonceBelowFloor {
        /// The user.
        user: Address,
        /// The refused nonce.
        nonce: u64,
        /// The user's floor.
        floor: u64,
    },
    /// The contract's unfolded chain transactions reached [`limits::CHAIN_LOG_MAX`]: its
    /// executor folds none of them (it is stalled); the pool must replace it.
    #[error(
        "{kept} chain transactions of this contract are waiting to be folded into its state; \
         no more are taken until its executor folds them"
    )]
    ChainLogFull {
        /// Transactions kept.
        kept: usize,
    },
    /// A message builds on a chain position this member no longer keeps: its sender is far
    /// behind this member's state (and must catch up with the chain first).
    #[error(
        "message builds on chain position {pos}, before this member's kept history (from \
         {kept_from}); the sender is behind and must catch up with the chain"
    )]
    ChainPruned {
        /// Position the message builds on.
        pos: u64,
        /// First position this member keeps.
        kept_from: u64,
    },
    /// Too many contracts.
    #[error("contract limit reached")]
    TooManyContracts,
}

/// One contract as this enclave holds it.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) view: View,
    pub(crate) secrets: Option<Secrets>,
    pub(crate) head: Option<AppState>,
    /// Epoch in which `head` was accepted or produced.
    pub(crate) head_epoch: Epoch,
    /// Executor-only soft state (lost on restart, rebuilt by a sync).
    pub(crate) exec: Option<ExecState>,
    /// When, and under which epoch, this enclave last asked its host to submit
    /// `respondMember` for an open member challenge against it (soft state: a restart answers
    /// again at once).
    pub(crate) member_answer: Option<(u64, Epoch)>,
    /// TEE time ([`Platform::now_ms`]) when the latest chain transaction arrived (soft state:
    /// the restart time after a restart). With the block time of that transaction it gives a
    /// lower bound of chain time ([`Replica::chain_time_floor_secs`]) that the host can only
    /// make later, never earlier.
    pub(crate) chain_seen_ms: u64,
    /// When this member last submitted `revive` for the crashed contract (soft state).
    pub(crate) revive_sent_ms: Option<u64>,
}

impl Replica {
    /// The state this member holds, as it signs it on-chain (`respondMember`, `revive`):
    /// `(seq, hash)` of its head, or zeros before it holds one.
    pub(crate) fn held(&self) -> (Seq, Hash32) {
        self.head
            .as_ref()
            .map(|st| (st.seq, st.hash()))
            .unwrap_or_default()
    }

    /// A lower bound of the chain's current time, in seconds: the block time of the latest
    /// chain transaction plus the TEE time elapsed since it arrived. A host that withholds or
    /// delays transactions only lowers it (late submissions, never early ones).
    pub(crate) fn chain_time_floor_secs(&self, now_ms: u64) -> u64 {
        self.view
            .block_time_secs
            .saturating_add(now_ms.saturating_sub(self.chain_seen_ms) / 1000)
    }
}

/// A read-only snapshot for tests and the simulator's invariant checks. A real host cannot
/// call this across the TEE boundary: it exists only in the in-process API.
#[derive(Clone, Debug)]
pub struct Inspect {
    /// The chain view.
    pub view: View,
    /// The latest state held (tentative for an executor).
    pub head: Option<AppState>,
    /// Epoch of `head`.
    pub head_epoch: Epoch,
    /// For an executor: the latest state every member acknowledged.
    pub committed: Option<(Seq, Hash32)>,
}

/// The enclave program.
pub struct Enclave<P: Platform> {
    pub(crate) platform: P,
    pub(crate) engine: Box<dyn ContractEngine + Send>,
    pub(crate) config: Config,
    pub(crate) now_ms: u64,
    pub(crate) replicas: BTreeMap<ContractId, Replica>,
    pub(crate) me: Address,
    dirty: bool,
}

/// Collects the actions of one `handle` call.
#[derive(Default)]
pub(crate) struct Out {
    pub(crate) sends: Vec<Action>,
    pub(crate) submits: Vec<Action>,
    pub(crate) stalls: Vec<Action>,
    pub(crate) dirty: bool,
}

impl Out {
    /// Queues a message; one above [`limits::MESSAGE_BYTES_MAX`] is not sent (no peer would
    /// take it) but reported as a stall of its contract.
    pub(crate) fn send(&mut self, to: Address, m: &Message) {
        let bytes = m.encode();
        if bytes.len() > limits::MESSAGE_BYTES_MAX {
            let cid = match m {
                Message::Update(u) => Some(u.cid),
                Message::Request(r) => Some(r.cid),
                Message::Ack(a) => Some(a.cid),
                Message::Reply(r) => Some(r.cid),
                Message::Deploy(d) => Some(d.cid),
            };
            self.stalls.push(Action::Stalled {
                cid,
                limit: Limit::MessageBytes,
                bytes: bytes.len() as u64,
                max_bytes: limits::MESSAGE_BYTES_MAX as u64,
            });
            return;
        }
        self.sends.push(Action::Send { to, bytes });
    }
    pub(crate) fn submit(&mut self, call: &ManagerCall) {
        self.submits.push(Action::Submit {
            calldata: call.encode(),
        });
    }
}

impl<P: Platform> Enclave<P> {
    /// A fresh enclave with no contracts.
    pub fn new(platform: P, engine: Box<dyn ContractEngine + Send>, config: Config) -> Self {
        let me = platform.address();
        Self {
            platform,
            engine,
            config,
            now_ms: 0,
            replicas: BTreeMap::new(),
            me,
            dirty: false,
        }
    }

    /// Resumes from the latest sealed blob. Refuses a blob older than the TEE's monotonic
    /// counter, so the host cannot roll the enclave back.
    pub fn restore(
        platform: P,
        engine: Box<dyn ContractEngine + Send>,
        config: Config,
        blob: &[u8],
    ) -> Result<Self, Rejection> {
        let mut platform = platform;
        let stale_ok = bug_on(&config, Bug::AcceptStaleSeal);
        let plain = match platform.unseal(blob) {
            Ok(p) => p,
            Err(SealError::RolledBack { counter, latest }) if !stale_ok => {
                return Err(Rejection::StaleSealedState {
                    blob: counter,
                    tee: latest,
                })
            }
            Err(SealError::RolledBack { .. }) => platform
                .unseal_stale_for_bug_injection(blob)
                .ok_or(Rejection::Unseal)?,
            Err(_) => return Err(Rejection::Unseal),
        };
        let mut r = Reader::new(&plain);
        let n = r.count("contracts", limits::CONTRACTS_MAX, 8)?;
        let mut e = Self::new(platform, engine, config);
        e.now_ms = e.platform.now_ms();
        for _ in 0..n {
            let cid = ContractId::decode_from(&mut r)?;
            if e.replicas
                .last_key_value()
                .is_some_and(|(last, _)| *last >= cid)
            {
                return Err(pose_types::DecodeError::Unordered { what: "contracts" }.into());
            }
            let view = View::decode_from(&mut r)?;
            let secrets = match sealed_part(&mut r, "sealed secrets")? {
                None => None,
                Some(b) => Some(Secrets::decode(b, cid)?),
            };
            let head = match sealed_part(&mut r, "sealed state")? {
                None => None,
                Some(b) => Some(AppState::decode(b)?),
            };
            let head_epoch = Epoch::decode_from(&mut r)?;
            if let Some(s) = &secrets {
                e.engine
                    .load(&s.code)
                    .map_err(|_| Rejection::CodeMismatch)?;
            }
            e.replicas.insert(
                cid,
                Replica {
                    view,
                    secrets,
                    head,
                    head_epoch,
                    exec: None,
                    member_answer: None,
                    chain_seen_ms: e.now_ms,
                    revive_sent_ms: None,
                },
            );
        }
        r.finish()?;
        Ok(e)
    }

    /// This enclave's identity address.
    pub fn address(&self) -> Address {
        self.me
    }

    /// This enclave's platform (for hosts that need its public keys).
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// Snapshot of a contract (tests and simulator only; see [`Inspect`]).
    pub fn inspect(&self, cid: ContractId) -> Option<Inspect> {
        let r = self.replicas.get(&cid)?;
        Some(Inspect {
            view: r.view.clone(),
            head: r.head.clone(),
            head_epoch: r.head_epoch,
            committed: r
                .exec
                .as_ref()
                .and_then(|x| x.committed().map(|c| (c.seq, c.hash()))),
        })
    }

    /// The latest state held for `cid` and the epoch it belongs to (tests and simulator only;
    /// see [`Inspect`]).
    pub fn head(&self, cid: ContractId) -> Option<(&AppState, Epoch)> {
        let r = self.replicas.get(&cid)?;
        r.head.as_ref().map(|h| (h, r.head_epoch))
    }

    /// The chain view for `cid` (tests and simulator only; see [`Inspect`]).
    pub fn view(&self, cid: ContractId) -> Option<&View> {
        self.replicas.get(&cid).map(|r| &r.view)
    }

    /// For an executor: the sequence number every member acknowledged.
    pub fn committed_seq(&self, cid: ContractId) -> Option<Seq> {
        let r = self.replicas.get(&cid)?;
        r.exec.as_ref()?.committed().map(|c| c.seq)
    }

    /// The one entry point: see the crate docs for the call order.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Action>, Rejection> {
        // A TEE clock never goes back; `max` only guards a backend that breaks that promise.
        let now_ms = self.platform.now_ms().max(self.now_ms);
        let before_ms = std::mem::replace(&mut self.now_ms, now_ms);
        let mut out = Out::default();
        let r = self.handle_event(now_ms, event, &mut out);
        if r.is_err() {
            // A rejected event changes nothing, the clock reading included.
            self.now_ms = before_ms;
        }
        r?;
        self.finish(out)
    }

    fn handle_event(&mut self, now_ms: u64, event: Event, out: &mut Out) -> Result<(), Rejection> {
        match event {
            Event::Message(bytes) => {
                let m = Message::decode(&bytes)?;
                self.on_message(now_ms, m, out)
            }
            Event::Chain(bytes) => {
                let tx = ChainTx::decode(&bytes)?;
                self.on_chain(tx, out)
            }
            Event::Tick => Ok(()),
        }
    }

    /// Drives every contract after an accepted event, then orders the actions.
    fn finish(&mut self, mut out: Out) -> Result<Vec<Action>, Rejection> {
        let cids: Vec<ContractId> = self.replicas.keys().copied().collect();
        for cid in cids {
            self.drive(cid, &mut out);
        }
        self.prune_chain_logs();
        self.dirty |= out.dirty;
        let mut actions = Vec::new();
        if self.dirty {
            // If the TEE refuses to seal, the enclave stays dirty and tries again on the next
            // event; it never sends what depends on unsealed state (acks are dropped).
            match self.seal() {
                Ok(blob) => {
                    actions.push(Action::Persist { blob });
                    self.dirty = false;
                }
                Err((plain_bytes, _)) => {
                    out.stalls.push(Action::Stalled {
                        cid: None,
                        limit: Limit::Sealing,
                        bytes: plain_bytes as u64,
                        max_bytes: 0,
                    });
                    out.sends.retain(|a| {
                        !matches!(a, Action::Send { bytes, .. }
                            if matches!(Message::decode(bytes), Ok(Message::Ack(_))))
                    });
                }
            }
        }
        actions.append(&mut out.submits);
        actions.append(&mut out.sends);
        actions.append(&mut out.stalls);
        Ok(actions)
    }

    /// Seals the enclave's state: `contracts (u32 count)`, then per contract in
    /// increasing id order `cid || view || secrets || head || head_epoch`, where the secrets
    /// and the head state are each `0`, or `1` followed by their encoding with a `u32` length.
    fn seal(&mut self) -> Result<Vec<u8>, (usize, SealError)> {
        let mut out = Vec::new();
        encode_count(self.replicas.len(), &mut out);
        for (cid, r) in &self.replicas {
            cid.encode_to(&mut out);
            r.view.encode_to(&mut out);
            match &r.secrets {
                Some(s) => {
                    out.push(1);
                    encode_bytes(&s.encode(*cid), &mut out);
                }
                None => out.push(0),
            }
            match &r.head {
                Some(h) => {
                    out.push(1);
                    encode_bytes(&h.encode(), &mut out);
                }
                None => out.push(0),
            }
            r.head_epoch.encode_to(&mut out);
        }
        self.platform.seal(&out).map_err(|e| (out.len(), e))
    }

    /// Drops chain transactions every state this enclave holds has folded, keeping the last
    /// [`limits::CHAIN_LOG_KEPT_FOLDED`] of them for members slightly behind. Runs only when
    /// twice that many are kept, so its cost per event stays bounded.
    fn prune_chain_logs(&mut self) {
        let keep = limits::CHAIN_LOG_KEPT_FOLDED;
        for rep in self.replicas.values_mut() {
            let Some(head) = rep.head.as_ref() else {
                continue;
            };
            if rep.view.log.len() < 2 * keep as usize {
                continue;
            }
            let folded = rep
                .exec
                .as_ref()
                .map_or(head.chain_pos, |x| head.chain_pos.min(x.base_chain_pos()));
            rep.view.prune_before(folded.saturating_sub(keep));
        }
    }

    pub(crate) fn bug(&self, b: Bug) -> bool {
        bug_on(&self.config, b)
    }

    fn on_message(&mut self, now_ms: u64, m: Message, out: &mut Out) -> Result<(), Rejection> {
        match m {
            Message::Request(r) => self.on_request(now_ms, r, out),
            Message::Update(u) => self.on_update(u, out),
            Message::Ack(a) => self.on_ack(a),
            Message::Deploy(d) => self.on_deploy(now_ms, d, out),
            // Replies go to users; an enclave never accepts one.
            Message::Reply(_) => Err(Rejection::WrongPhase),
        }
    }

    fn verify_attestation(&self, m: &Member) -> Result<(), Rejection> {
        let d = attestation_digest(&self.config, m);
        if self
            .platform
            .verify(&self.config.vendor, &d, &m.attestation)
        {
            Ok(())
        } else {
            Err(Rejection::BadAttestation(m.address))
        }
    }

    fn on_chain(&mut self, tx: ChainTx, out: &mut Out) -> Result<(), Rejection> {
        let cid = tx.cid;
        let call = tx.call().map_err(DecodeError::from)?;
        if !self.replicas.contains_key(&cid) {
            // Index 0 must be the creation, carrying the drawn pool.
            let pool = match (&call, &tx.effect, tx.index) {
                (ManagerCall::CreateContract { .. }, Effect::Created { pool }, 0) => pool.clone(),
                (_, _, 0) => return Err(Rejection::WrongPhase),
                (_, _, got) => return Err(Rejection::ChainGap { got, next: 0 }),
            };
            if self.replicas.len() >= limits::CONTRACTS_MAX {
                return Err(Rejection::TooManyContracts);
            }
            for m in &pool {
                self.verify_attestation(m)?;
            }
            let ManagerCall::CreateContract {
                code_hash, params, ..
            } = &call
            else {
                return Err(Rejection::WrongPhase);
            };
            let genesis = chain::tx_hash_genesis(&self.config.deployment, cid);
            let view = View {
                code_hash: *code_hash,
                params: *params,
                pool,
                exec_idx: 0,
                epoch: Epoch(0),
                phase: Phase::Creation,
                contract_key: None,
                genesis,
                creator: tx.sender,
                log_base: 0,
                base_hash: genesis,
                hashes: vec![chain::tx_hash_next(&genesis, &tx)],
                log: vec![tx.clone()],
                open_challenges: Default::default(),
                member_challenges: Default::default(),
                withdrawn: Default::default(),
                block_time_secs: tx.block_time_secs,
                timeouts_in_a_row: 0,
            };
            self.replicas.insert(
                cid,
                Replica {
                    view,
                    secrets: None,
                    head: None,
                    head_epoch: Epoch(0),
                    exec: None,
                    member_answer: None,
                    chain_seen_ms: self.now_ms,
                    revive_sent_ms: None,
                },
            );
            out.dirty = true;
            return Ok(());
        }
        // Check everything before changing anything.
        let replacement = match &tx.effect {
            Effect::MemberRemoved {
                replacement: Some(m),
            } => Some(m.clone()),
            _ => None,
        };
        if let Some(m) = &replacement {
            self.verify_attestation(m)?;
        }
        let d = self.config.deployment;
        let rep = self
            .replicas
            .get_mut(&cid)
            .ok_or(Rejection::UnknownContract(cid))?;
        let next = rep.view.chain_len();
        if tx.index < next {
            return Err(Rejection::ChainReplay {
                got: tx.index,
                next,
            });
        }
        if tx.index > next {
            return Err(Rejection::ChainGap {
                got: tx.index,
                next,
            });
        }
        if let Some(last) = rep.view.log.last() {
            if tx.block_number < last.block_number || tx.block_time_secs < last.block_time_secs {
                return Err(Rejection::ChainBlockWentBackwards {
                    index: tx.index,
                    block: tx.block_number,
                    time_secs: tx.block_time_secs,
                    last_block: last.block_number,
                    last_time_secs: last.block_time_secs,
                });
            }
        }
        if rep.view.log.len() >= limits::CHAIN_LOG_MAX {
            return Err(Rejection::ChainLogFull {
                kept: rep.view.log.len(),
            });
        }
        if let ManagerCall::RespondMember {
            member,
            seq,
            state_hash,
            tx_hash,
            sig,
            ..
        } = &call
        {
            // The manager checked the member's signature under its current epoch; a host
            // that invents this transaction cannot produce one, and a real chain never
            // includes it without. It counts as the member's ack below, so check it here.
            let dg = chain::digest::respond_member(
                &d,
                cid,
                rep.view.epoch,
                member,
                (*seq, state_hash),
                tx_hash,
            );
            if !self.platform.verify(member, &dg, sig) {
                return Err(Rejection::BadSignature(*member));
            }
        }
        let v = &mut rep.view;
        let h = chain::tx_hash_next(&v.tx_hash(), &tx);
        v.hashes.push(h);
        v.log.push(tx.clone());
        v.block_time_secs = tx.block_time_secs;
        rep.chain_seen_ms = self.now_ms;
        match &call {
            ManagerCall::CreateContract { .. } => {}
            ManagerCall::CompleteCreation { contract_key, .. } => {
                v.phase = Phase::Executing;
                v.contract_key = Some(*contract_key);
            }
            ManagerCall::Deposit { .. } => {}
            ManagerCall::Challenge { .. } => {
                if let Effect::ChallengeOpened { challenge_id } = tx.effect {
                    v.open_challenges.insert(challenge_id);
                }
            }
            ManagerCall::Respond { challenge_id, .. } => {
                v.open_challenges.remove(challenge_id);
                v.timeouts_in_a_row = 0;
            }
            ManagerCall::TimeoutChallenge { .. } => {
                v.epoch = Epoch(v.epoch.0 + 1);
                if !v.pool.is_empty() {
                    v.exec_idx = (v.exec_idx + 1) % v.pool.len();
                }
                // As the manager: when every member in turn let a deadline pass, the contract
                // is Crashed until a member revives it.
                v.timeouts_in_a_row += 1;
                if v.timeouts_in_a_row >= v.pool.len() as u64 {
                    v.phase = Phase::Crashed;
                }
            }
            ManagerCall::Revive { member, .. } => {
                // The named member is the executor of the next epoch (the manager checked its
                // signature and that it is in the pool).
                if let Some(i) = v.pool.iter().position(|m| &m.address == member) {
                    v.exec_idx = i;
                }
                v.epoch = Epoch(v.epoch.0 + 1);
                v.timeouts_in_a_row = 0;
                v.phase = Phase::Executing;
            }
            ManagerCall::ChallengeMember { member, .. } => {
                // A challenged enclave answers from `exec::member_duties`, and again every
                // RESUBMIT_MS until its host shows the answer included.
                v.member_challenges.insert(
                    *member,
                    tx.block_time_secs + u64::from(v.params.member_response_period_secs),
                );
            }
            ManagerCall::RespondMember {
                member,
                seq,
                state_hash,
                ..
            } => {
                v.member_challenges.remove(member);
                // The member signed this state under the current epoch (checked above): if
                // it is a state this executor sent, the member holds it.
                if let Some(exec) = rep.exec.as_mut() {
                    if exec.epoch == v.epoch {
                        exec.ack_from_chain(*member, *seq, state_hash);
                    }
                }
            }
            ManagerCall::RemoveMember { member, .. } => {
                v.member_challenges.remove(member);
                if let Some(i) = v.pool.iter().position(|m| &m.address == member) {
                    match replacement {
                        Some(m) => v.pool[i] = m,
                        None => {
                            v.pool.remove(i);
                            if i < v.exec_idx {
                                v.exec_idx -= 1;
                            }
                            if v.exec_idx >= v.pool.len() {
                                v.exec_idx = 0;
                            }
                        }
                    }
                }
            }
            ManagerCall::Withdraw { nonce, .. } => {
                v.withdrawn.insert(*nonce);
            }
            ManagerCall::Terminate { .. } => {
                v.phase = Phase::Terminated;
            }
        }
        out.dirty = true;
        Ok(())
    }
}

impl From<pose_types::DecodeError> for Rejection {
    fn from(e: pose_types::DecodeError) -> Self {
        Rejection::Malformed(e.into())
    }
}

/// Reads an optional part of the sealed state: `0`, or `1` followed by its encoding with a
/// `u32` length (at most [`limits::STATE_FIELD_BYTES_MAX`]).
fn sealed_part<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
) -> Result<Option<&'a [u8]>, pose_types::DecodeError> {
    match u8::decode_from(r)? {
        0 => Ok(None),
        1 => Ok(Some(r.bytes(what, limits::STATE_FIELD_BYTES_MAX)?)),
        tag => Err(pose_types::DecodeError::InvalidTag {
            what: "option",
            tag: tag.into(),
        }),
    }
}

fn bug_on(config: &Config, b: Bug) -> bool {
    #[cfg(feature = "bug-injection")]
    {
        config.bug == Some(b)
    }
    #[cfg(not(feature = "bug-injection"))]
    {
        let _ = (config, b);
        false
    }
}

/// The digest a vendor signs to attest an enclave (docs/protocol.md section 2).
pub fn attestation_digest(config: &Config, m: &Member) -> Hash32 {
    chain::digest::attestation(
        &config.deployment,
        &config.measurement,
        &m.address,
        &m.enc_key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update_of(state_bytes: usize) -> Message {
        Message::Update(Update {
            cid: ContractId(7),
            epoch: Epoch(0),
            seq: Seq(1),
            prev_hash: Hash32::default(),
            new_hash: Hash32::default(),
            chain_pos: 0,
            tx_hash: Hash32::default(),
            kind: UpdateKind::Sync,
            nonce: [0; 24],
            state: vec![0; state_bytes],
            secrets: Vec::new(),
            sender: Address::default(),
            sig: Vec::new(),
        })
    }

    #[test]
    fn a_message_over_the_limit_is_not_sent_but_reported_as_a_stall() {
        let mut out = Out::default();
        out.send(Address([1; 20]), &update_of(1_000));
        assert_eq!(out.sends.len(), 1);
        assert!(out.stalls.is_empty());
        out.send(Address([1; 20]), &update_of(limits::MESSAGE_BYTES_MAX));
        assert_eq!(out.sends.len(), 1, "the oversized update was not queued");
        match out.stalls.as_slice() {
            [Action::Stalled {
                cid: Some(ContractId(7)),
                limit: Limit::MessageBytes,
                bytes,
                max_bytes,
            }] => {
                assert!(*bytes > limits::MESSAGE_BYTES_MAX as u64);
                assert_eq!(*max_bytes, limits::MESSAGE_BYTES_MAX as u64);
            }
            other => panic!("expected one message-size stall, got {other:?}"),
        }
    }
}
