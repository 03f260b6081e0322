//! The replicated application state of a contract, its incremental hash, and the diffs that
//! carry one state to the next.
//!
//! The state is a handful of scalars plus maps of *entries* (storage, balances, request
//! records, nonce floors, challenges, pending payouts). Its hash is sha256 over the scalars
//! and a multiset hash ([`LtHash`]) of the entries, kept up to date by every write: hashing a
//! state costs what its last change cost, not what it holds. Every write also notes its key
//! in a touched set, from which [`AppState::take_diff`] builds the [`StateDiff`] an executor
//! sends: what a batch changed, never the whole state.
//!
//! Invariants:
//! - `entries_hash` is the multiset hash of exactly the entries the maps hold (checked in debug
//!   builds by [`AppState::check_hash`]);
//! - entries change only through the methods here, which keep that hash and the touched set;
//! - a user's request records are bounded ([`RECORDS_PER_USER_MAX`]): the record of the lowest
//!   nonce is dropped beyond that and the user's nonce floor rises to it; a request whose nonce
//!   is at or below the floor and has no record is refused (it was executed and its receipt
//!   pruned, or it is too old), so a pruned request is never executed twice.

use std::collections::{BTreeMap, BTreeSet};

use pose_crypto::lthash::LtHash;
use pose_runtime::{CallOutcome, ContractState, StateChanges};
use pose_types::codec::{encode_bytes, encode_count};
use pose_types::wire::sha256;
use pose_types::{Address, Decode, DecodeError as CodecError, Encode, Hash32, Reader, Seq};

use crate::chain::PayoutLine;
use crate::decode::DecodeError;
use crate::state::{count, state_bytes};

/// The version byte that starts an encoded [`AppState`].
const APP_STATE_VERSION: u8 = 2;
/// The version byte that starts an encoded [`StateDiff`].
const DIFF_VERSION: u8 = 1;

/// Most request records kept per user; beyond it the lowest nonce's record is pruned and the
/// user's nonce floor rises to that nonce. Clients use increasing nonces (the SDK's client
/// takes the time in microseconds), so only a request overtaken by this many later ones of the
/// same user can fall below the floor.
pub const RECORDS_PER_USER_MAX: usize = 32;

/// What an enclave recorded for an executed request (the idempotency table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Sequence number of the update that applied it.
    pub applied_seq: Seq,
    /// Request digest.
    pub request_digest: Hash32,
    /// `nonce24 || AEAD(reply_key, output)`.
    pub output: Vec<u8>,
}

/// The key of one entry of the state. The derived order (by kind, then key) is the order of
/// a diff's changes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKey {
    /// A storage key of the contract.
    Storage(Vec<u8>),
    /// A user's internal balance.
    Balance(Address),
    /// The record of an executed request `(user, nonce)`.
    Request(Address, u64),
    /// A user's nonce floor.
    Floor(Address),
    /// A consumed challenge, by id.
    Challenge(u64),
    /// A pending payout, by nonce.
    Payout(u64),
}

/// The value of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryValue {
    /// A storage value.
    Storage(Vec<u8>),
    /// A balance, in wei (never 0: a zero balance is absent).
    Balance(u128),
    /// A request record.
    Request(Record),
    /// A nonce floor.
    Floor(u64),
    /// The request a challenge carried, `None` if it was invalid.
    Challenge(Option<(Address, u64)>),
    /// A payout line.
    Payout(PayoutLine),
}

impl EntryKey {
    fn tag(&self) -> u8 {
        match self {
            EntryKey::Storage(_) => 1,
            EntryKey::Balance(_) => 2,
            EntryKey::Request(..) => 3,
            EntryKey::Floor(_) => 4,
            EntryKey::Challenge(_) => 5,
            EntryKey::Payout(_) => 6,
        }
    }

    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            EntryKey::Storage(k) => encode_bytes(k, out),
            EntryKey::Balance(a) | EntryKey::Floor(a) => a.encode_to(out),
            EntryKey::Request(a, n) => {
                a.encode_to(out);
                n.encode_to(out);
            }
            EntryKey::Challenge(n) | EntryKey::Payout(n) => n.encode_to(out),
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(match u8::decode_from(r)? {
            1 => EntryKey::Storage(state_bytes(r, "storage key")?),
            2 => EntryKey::Balance(Address::decode_from(r)?),
            3 => EntryKey::Request(Address::decode_from(r)?, u64::decode_from(r)?),
            4 => EntryKey::Floor(Address::decode_from(r)?),
            5 => EntryKey::Challenge(u64::decode_from(r)?),
            6 => EntryKey::Payout(u64::decode_from(r)?),
            tag => {
                return Err(CodecError::InvalidTag {
                    what: "entry kind",
                    tag: tag.into(),
                })
            }
        })
    }
}

impl EntryValue {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            EntryValue::Storage(v) => encode_bytes(v, out),
            EntryValue::Balance(b) => b.encode_to(out),
            EntryValue::Request(r) => {
                r.applied_seq.encode_to(out);
                r.request_digest.encode_to(out);
                encode_bytes(&r.output, out);
            }
            EntryValue::Floor(f) => f.encode_to(out),
            EntryValue::Challenge(c) => match c {
                None => out.push(0),
                Some((u, n)) => {
                    out.push(1);
                    u.encode_to(out);
                    n.encode_to(out);
                }
            },
            EntryValue::Payout(p) => {
                p.to.encode_to(out);
                p.amount_wei.encode_to(out);
            }
        }
    }

    /// Reads the value of an entry of kind `key`.
    fn decode_for(key: &EntryKey, r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(match key {
            EntryKey::Storage(_) => EntryValue::Storage(state_bytes(r, "storage value")?),
            EntryKey::Balance(_) => {
                let b = u128::decode_from(r)?;
                if b == 0 {
                    return Err(CodecError::InvalidTag {
                        what: "zero balance",
                        tag: 0,
                    });
                }
                EntryValue::Balance(b)
            }
            EntryKey::Request(..) => EntryValue::Request(Record {
                applied_seq: Seq::decode_from(r)?,
                request_digest: Hash32::decode_from(r)?,
                output: state_bytes(r, "recorded output")?,
            }),
            EntryKey::Floor(_) => EntryValue::Floor(u64::decode_from(r)?),
            EntryKey::Challenge(_) => EntryValue::Challenge(match u8::decode_from(r)? {
                0 => None,
                1 => Some((Address::decode_from(r)?, u64::decode_from(r)?)),
                tag => {
                    return Err(CodecError::InvalidTag {
                        what: "option",
                        tag: tag.into(),
                    })
                }
            }),
            EntryKey::Payout(_) => EntryValue::Payout(PayoutLine {
                to: Address::decode_from(r)?,
                amount_wei: u128::decode_from(r)?,
            }),
        })
    }

    /// True if the value's kind is the key's kind.
    fn fits(&self, key: &EntryKey) -> bool {
        matches!(
            (key, self),
            (EntryKey::Storage(_), EntryValue::Storage(_))
                | (EntryKey::Balance(_), EntryValue::Balance(_))
                | (EntryKey::Request(..), EntryValue::Request(_))
                | (EntryKey::Floor(_), EntryValue::Floor(_))
                | (EntryKey::Challenge(_), EntryValue::Challenge(_))
                | (EntryKey::Payout(_), EntryValue::Payout(_))
        )
    }
}

/// The scalar fields of a state: small, sent whole with every diff.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scalars {
    /// Sequence number of this state.
    pub seq: Seq,
    /// Chain transactions of this contract consumed so far.
    pub chain_pos: u64,
    /// `txHash` after them.
    pub tx_hash: Hash32,
    /// Block number of the last consumed transaction.
    pub block_number: u64,
    /// Block time of the last consumed transaction, in seconds.
    pub block_time_secs: u64,
    /// The next payout nonce.
    pub next_payout_nonce: u64,
    /// Sum of all credited deposits, in wei.
    pub deposits_credited_wei: u128,
    /// Sum of all payouts decided, in wei.
    pub payouts_decided_wei: u128,
    /// The contract decided to terminate.
    pub terminated: bool,
}

/// Bytes of an encoded [`Scalars`].
const SCALARS_BYTES: usize = 8 + 8 + 32 + 8 + 8 + 8 + 16 + 16 + 1;

impl Scalars {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.seq.encode_to(out);
        self.chain_pos.encode_to(out);
        self.tx_hash.encode_to(out);
        self.block_number.encode_to(out);
        self.block_time_secs.encode_to(out);
        self.next_payout_nonce.encode_to(out);
        self.deposits_credited_wei.encode_to(out);
        self.payouts_decided_wei.encode_to(out);
        self.terminated.encode_to(out);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Scalars {
            seq: Seq::decode_from(r)?,
            chain_pos: u64::decode_from(r)?,
            tx_hash: Hash32::decode_from(r)?,
            block_number: u64::decode_from(r)?,
            block_time_secs: u64::decode_from(r)?,
            next_payout_nonce: u64::decode_from(r)?,
            deposits_credited_wei: u128::decode_from(r)?,
            payouts_decided_wei: u128::decode_from(r)?,
            terminated: bool::decode_from(r)?,
        })
    }
}

/// What one update changed: the new scalars and every entry written, with its new value
/// (`None`: removed), in increasing key order. Its size follows the change, not the state.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StateDiff {
    /// The scalars after the change.
    pub scalars: Scalars,
    /// The entries written, in increasing key order, each at most once.
    pub changes: Vec<(EntryKey, Option<EntryValue>)>,
}

impl StateDiff {
    /// Canonical encoding: a version byte (1), the scalars, then the changes (`u32` count;
    /// per change the key (kind tag and key), a presence byte and the value).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![DIFF_VERSION];
        self.scalars.encode_to(&mut out);
        encode_count(self.changes.len(), &mut out);
        for (k, v) in &self.changes {
            k.encode_to(&mut out);
            match v {
                None => out.push(0),
                Some(v) => {
                    out.push(1);
                    v.encode_to(&mut out);
                }
            }
        }
        out
    }

    /// Decodes [`StateDiff::encode`] output; keys must be strictly increasing.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = u8::decode_from(&mut r)?;
        if version != DIFF_VERSION {
            return Err(CodecError::UnsupportedVersion {
                got: version,
                supported: DIFF_VERSION,
            }
            .into());
        }
        let scalars = Scalars::decode_from(&mut r)?;
        let n = count(&mut r, "diff changes", usize::MAX, 1 + 1)?;
        let mut changes: Vec<(EntryKey, Option<EntryValue>)> = Vec::new();
        for _ in 0..n {
            let k = EntryKey::decode_from(&mut r)?;
            if changes.last().is_some_and(|(last, _)| *last >= k) {
                return Err(CodecError::Unordered {
                    what: "diff changes",
                }
                .into());
            }
            let v = match u8::decode_from(&mut r)? {
                0 => None,
                1 => Some(EntryValue::decode_for(&k, &mut r)?),
                tag => {
                    return Err(CodecError::InvalidTag {
                        what: "option",
                        tag: tag.into(),
                    }
                    .into())
                }
            };
            changes.push((k, v));
        }
        r.finish()?;
        Ok(StateDiff { scalars, changes })
    }
}

/// The replicated application state of a contract: identical on every member that holds the
/// same `(seq, hash)`. Scalars are public fields; entries are read through accessors and
/// written through methods that keep the hash (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct AppState {
    /// Sequence number of this state.
    pub seq: Seq,
    /// Chain transactions of this contract consumed so far.
    pub chain_pos: u64,
    /// `txHash` after them.
    pub tx_hash: Hash32,
    /// Block number of the last consumed transaction.
    pub block_number: u64,
    /// Block time of the last consumed transaction, in seconds.
    pub block_time_secs: u64,
    /// The next payout nonce.
    pub next_payout_nonce: u64,
    /// Sum of all credited deposits, in wei.
    pub deposits_credited_wei: u128,
    /// Sum of all payouts decided, in wei.
    pub payouts_decided_wei: u128,
    /// The contract decided to terminate.
    pub terminated: bool,
    contract: ContractState,
    requests: BTreeMap<(Address, u64), Record>,
    floors: BTreeMap<Address, u64>,
    challenges: BTreeMap<u64, Option<(Address, u64)>>,
    pending_payouts: BTreeMap<u64, PayoutLine>,
    /// Multiset hash of every entry.
    entries_hash: LtHash,
    /// Keys written since the last [`AppState::take_diff`] (not part of the state).
    touched: BTreeSet<EntryKey>,
}

impl PartialEq for AppState {
    /// States are equal when their scalars and entries are; the touched set is not state.
    fn eq(&self, o: &Self) -> bool {
        self.scalars() == o.scalars()
            && self.contract == o.contract
            && self.requests == o.requests
            && self.floors == o.floors
            && self.challenges == o.challenges
            && self.pending_payouts == o.pending_payouts
    }
}
impl Eq for AppState {}

/// The bytes an entry adds to the multiset hash: its key then its value, each in its
/// canonical encoding (the key's kind tag separates kinds).
fn entry_item(key: &EntryKey, value: &EntryValue) -> Vec<u8> {
    let mut out = Vec::new();
    key.encode_to(&mut out);
    value.encode_to(&mut out);
    out
}

impl AppState {
    /// The scalars.
    pub fn scalars(&self) -> Scalars {
        Scalars {
            seq: self.seq,
            chain_pos: self.chain_pos,
            tx_hash: self.tx_hash,
            block_number: self.block_number,
            block_time_secs: self.block_time_secs,
            next_payout_nonce: self.next_payout_nonce,
            deposits_credited_wei: self.deposits_credited_wei,
            payouts_decided_wei: self.payouts_decided_wei,
            terminated: self.terminated,
        }
    }

    fn set_scalars(&mut self, s: &Scalars) {
        self.seq = s.seq;
        self.chain_pos = s.chain_pos;
        self.tx_hash = s.tx_hash;
        self.block_number = s.block_number;
        self.block_time_secs = s.block_time_secs;
        self.next_payout_nonce = s.next_payout_nonce;
        self.deposits_credited_wei = s.deposits_credited_wei;
        self.payouts_decided_wei = s.payouts_decided_wei;
        self.terminated = s.terminated;
    }

    /// The contract's storage and internal balances.
    pub fn contract(&self) -> &ContractState {
        &self.contract
    }
    /// The contract state for a read-only query ([`pose_runtime::Entry::Query`] leaves it
    /// exactly as it was). Never write through it: the hash would no longer match.
    pub(crate) fn contract_for_query(&mut self) -> &mut ContractState {
        &mut self.contract
    }
    /// Executed requests by `(user, nonce)`, at most [`RECORDS_PER_USER_MAX`] per user.
    pub fn requests(&self) -> &BTreeMap<(Address, u64), Record> {
        &self.requests
    }
    /// A user's nonce floor: a nonce at or below it without a record is refused.
    pub fn nonce_floor(&self, user: &Address) -> Option<u64> {
        self.floors.get(user).copied()
    }
    /// True if `(user, nonce)` was executed in this state's history (its record is held or
    /// was pruned below the user's floor).
    pub fn has_executed(&self, user: &Address, nonce: u64) -> bool {
        self.requests.contains_key(&(*user, nonce)) || self.nonce_floor(user) >= Some(nonce)
    }
    /// Consumed challenges: id -> the request they carried (`None` if it was invalid).
    pub fn challenges(&self) -> &BTreeMap<u64, Option<(Address, u64)>> {
        &self.challenges
    }
    /// Payouts decided and not yet seen withdrawn on-chain, by nonce.
    pub fn pending_payouts(&self) -> &BTreeMap<u64, PayoutLine> {
        &self.pending_payouts
    }
    /// Number of entries (storage, balances, records, floors, challenges, payouts).
    pub fn entry_count(&self) -> usize {
        self.contract.storage.len()
            + self.contract.balances.len()
            + self.requests.len()
            + self.floors.len()
            + self.challenges.len()
            + self.pending_payouts.len()
    }

    /// The current value of entry `key`.
    fn entry(&self, key: &EntryKey) -> Option<EntryValue> {
        match key {
            EntryKey::Storage(k) => self
                .contract
                .storage
                .get(k)
                .cloned()
                .map(EntryValue::Storage),
            EntryKey::Balance(a) => self
                .contract
                .balances
                .get(a)
                .copied()
                .map(EntryValue::Balance),
            EntryKey::Request(a, n) => self
                .requests
                .get(&(*a, *n))
                .cloned()
                .map(EntryValue::Request),
            EntryKey::Floor(a) => self.floors.get(a).copied().map(EntryValue::Floor),
            EntryKey::Challenge(id) => self.challenges.get(id).copied().map(EntryValue::Challenge),
            EntryKey::Payout(n) => self.pending_payouts.get(n).copied().map(EntryValue::Payout),
        }
    }

    /// Sets entry `key` to `value` (`None`: removes it), keeping the hash and the touched
    /// set. Returns the previous value.
    fn set_entry(&mut self, key: EntryKey, value: Option<EntryValue>) -> Option<EntryValue> {
        let old = match (&key, value.clone()) {
            (EntryKey::Storage(k), Some(EntryValue::Storage(v))) => self
                .contract
                .storage
                .insert(k.clone(), v)
                .map(EntryValue::Storage),
            (EntryKey::Storage(k), None) => {
                self.contract.storage.remove(k).map(EntryValue::Storage)
            }
            (EntryKey::Balance(a), Some(EntryValue::Balance(b))) if b != 0 => self
                .contract
                .balances
                .insert(*a, b)
                .map(EntryValue::Balance),
            (EntryKey::Balance(a), _) => self.contract.balances.remove(a).map(EntryValue::Balance),
            (EntryKey::Request(a, n), Some(EntryValue::Request(r))) => {
                self.requests.insert((*a, *n), r).map(EntryValue::Request)
            }
            (EntryKey::Request(a, n), None) => {
                self.requests.remove(&(*a, *n)).map(EntryValue::Request)
            }
            (EntryKey::Floor(a), Some(EntryValue::Floor(f))) => {
                self.floors.insert(*a, f).map(EntryValue::Floor)
            }
            (EntryKey::Floor(a), None) => self.floors.remove(a).map(EntryValue::Floor),
            (EntryKey::Challenge(id), Some(EntryValue::Challenge(c))) => {
                self.challenges.insert(*id, c).map(EntryValue::Challenge)
            }
            (EntryKey::Challenge(id), None) => {
                self.challenges.remove(id).map(EntryValue::Challenge)
            }
            (EntryKey::Payout(n), Some(EntryValue::Payout(p))) => {
                self.pending_payouts.insert(*n, p).map(EntryValue::Payout)
            }
            (EntryKey::Payout(n), None) => self.pending_payouts.remove(n).map(EntryValue::Payout),
            // A value of another kind: callers never pass one (`StateDiff::decode` checks).
            (_, Some(_)) => return self.entry(&key),
        };
        let new = self.entry(&key);
        self.rehash_entry(&key, old.as_ref(), new.as_ref());
        self.touched.insert(key);
        old
    }

    /// Moves the multiset hash from `old` to `new` for entry `key`.
    fn rehash_entry(&mut self, key: &EntryKey, old: Option<&EntryValue>, new: Option<&EntryValue>) {
        if old == new {
            return;
        }
        if let Some(o) = old {
            self.entries_hash.remove(&[&entry_item(key, o)]);
        }
        if let Some(n) = new {
            self.entries_hash.add(&[&entry_item(key, n)]);
        }
    }

    /// Sets `who`'s internal balance, in wei (0 removes it).
    pub fn set_balance(&mut self, who: Address, wei: u128) {
        self.set_entry(EntryKey::Balance(who), Some(EntryValue::Balance(wei)));
    }

    /// Records an executed request, then prunes the user's lowest record if the user holds
    /// more than [`RECORDS_PER_USER_MAX`] (raising the user's floor to its nonce).
    pub fn insert_record(&mut self, user: Address, nonce: u64, record: Record) {
        self.set_entry(
            EntryKey::Request(user, nonce),
            Some(EntryValue::Request(record)),
        );
        // Counting a user's records costs at most RECORDS_PER_USER_MAX + 1 steps.
        while self.requests.range((user, 0)..=(user, u64::MAX)).count() > RECORDS_PER_USER_MAX {
            let Some((&(_, lowest), _)) = self.requests.range((user, 0)..=(user, u64::MAX)).next()
            else {
                break;
            };
            self.set_entry(EntryKey::Request(user, lowest), None);
            let floor = self.nonce_floor(&user).unwrap_or(0).max(lowest);
            self.set_entry(EntryKey::Floor(user), Some(EntryValue::Floor(floor)));
        }
    }

    /// Records a consumed challenge.
    pub fn insert_challenge(&mut self, id: u64, request: Option<(Address, u64)>) {
        self.set_entry(
            EntryKey::Challenge(id),
            Some(EntryValue::Challenge(request)),
        );
    }

    /// Adds a pending payout under the next payout nonce, and counts it as decided.
    pub fn add_payout(&mut self, line: PayoutLine) {
        let n = self.next_payout_nonce;
        self.next_payout_nonce += 1;
        self.payouts_decided_wei = self.payouts_decided_wei.saturating_add(line.amount_wei);
        self.set_entry(EntryKey::Payout(n), Some(EntryValue::Payout(line)));
    }

    /// Drops a pending payout seen withdrawn on-chain.
    pub fn remove_payout(&mut self, nonce: u64) {
        if self.pending_payouts.contains_key(&nonce) {
            self.set_entry(EntryKey::Payout(nonce), None);
        }
    }

    /// Runs a contract call on the contract state and folds in what it changed (the engine
    /// reports each written key with the value it replaced). On `Err` the state is unchanged.
    pub fn run_contract<E>(
        &mut self,
        f: impl FnOnce(&mut ContractState) -> Result<CallOutcome, E>,
    ) -> Result<CallOutcome, E> {
        let outcome = f(&mut self.contract)?;
        self.fold_changes(&outcome.changes);
        Ok(outcome)
    }

    /// Brings the hash and the touched set up to date with writes the engine made directly.
    fn fold_changes(&mut self, changes: &StateChanges) {
        for (k, old) in &changes.storage {
            let key = EntryKey::Storage(k.clone());
            let old = old.clone().map(EntryValue::Storage);
            let new = self.entry(&key);
            self.rehash_entry(&key, old.as_ref(), new.as_ref());
            self.touched.insert(key);
        }
        for (a, old) in &changes.balances {
            let key = EntryKey::Balance(*a);
            let old = (*old != 0).then_some(EntryValue::Balance(*old));
            let new = self.entry(&key);
            self.rehash_entry(&key, old.as_ref(), new.as_ref());
            self.touched.insert(key);
        }
    }

    /// After termination every internal balance is paid out (a pending payout each).
    pub fn refund_all(&mut self) {
        let balances: Vec<(Address, u128)> = self
            .contract
            .balances
            .iter()
            .map(|(a, b)| (*a, *b))
            .collect();
        for (to, amount_wei) in balances {
            self.set_balance(to, 0);
            if amount_wei != 0 {
                self.add_payout(PayoutLine { to, amount_wei });
            }
        }
    }

    /// The diff of everything written since the last call (or since the state was built),
    /// with the current scalars; clears the touched set.
    pub fn take_diff(&mut self) -> StateDiff {
        let touched = std::mem::take(&mut self.touched);
        StateDiff {
            scalars: self.scalars(),
            changes: touched
                .into_iter()
                .map(|k| {
                    let v = self.entry(&k);
                    (k, v)
                })
                .collect(),
        }
    }

    /// Forgets the touched set (after a state was sent whole, or adopted).
    pub fn clear_touched(&mut self) {
        self.touched.clear();
    }

    /// Applies a diff. Returns the diff that undoes it (to restore the state exactly when the
    /// result turns out not to match its announced hash).
    pub fn apply_diff(&mut self, diff: &StateDiff) -> StateDiff {
        let mut undo = StateDiff {
            scalars: self.scalars(),
            changes: Vec::with_capacity(diff.changes.len()),
        };
        for (k, v) in &diff.changes {
            if v.as_ref().is_some_and(|v| !v.fits(k)) {
                continue;
            }
            let old = self.set_entry(k.clone(), v.clone());
            undo.changes.push((k.clone(), old));
        }
        self.set_scalars(&diff.scalars);
        self.touched.clear();
        undo
    }

    /// The state hash: sha256 over a domain tag, the scalars and the entries' multiset hash.
    /// Costs the same whatever the state holds.
    pub fn hash(&self) -> Hash32 {
        let mut scalars = Vec::with_capacity(SCALARS_BYTES);
        self.scalars().encode_to(&mut scalars);
        sha256(&[b"pose.appstate.v2", &scalars, &self.entries_hash.to_bytes()])
    }

    /// Every entry, in key order (kind, then key).
    fn entries(&self) -> impl Iterator<Item = (EntryKey, EntryValue)> + '_ {
        let s = self
            .contract
            .storage
            .iter()
            .map(|(k, v)| (EntryKey::Storage(k.clone()), EntryValue::Storage(v.clone())));
        let b = self
            .contract
            .balances
            .iter()
            .map(|(a, v)| (EntryKey::Balance(*a), EntryValue::Balance(*v)));
        let r = self
            .requests
            .iter()
            .map(|((a, n), v)| (EntryKey::Request(*a, *n), EntryValue::Request(v.clone())));
        let f = self
            .floors
            .iter()
            .map(|(a, v)| (EntryKey::Floor(*a), EntryValue::Floor(*v)));
        let c = self
            .challenges
            .iter()
            .map(|(id, v)| (EntryKey::Challenge(*id), EntryValue::Challenge(*v)));
        let p = self
            .pending_payouts
            .iter()
            .map(|(n, v)| (EntryKey::Payout(*n), EntryValue::Payout(*v)));
        s.chain(b).chain(r).chain(f).chain(c).chain(p)
    }

    /// The multiset hash recomputed from every entry (what `entries_hash` must equal).
    fn recompute_entries_hash(&self) -> LtHash {
        let mut h = LtHash::new();
        for (k, v) in self.entries() {
            h.add(&[&entry_item(&k, &v)]);
        }
        h
    }

    /// Checks the incremental hash against a full recomputation: the invariant every write
    /// keeps. Costs what the state holds: for tests and debug builds.
    pub fn check_hash(&self) -> bool {
        self.entries_hash == self.recompute_entries_hash()
    }

    /// Canonical encoding of the whole state (a member catching up, sealing): a version byte
    /// (2), the scalars, then every entry (`u32` count; per entry its key and value) in key
    /// order. Equal states have equal encodings.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![APP_STATE_VERSION];
        self.scalars().encode_to(&mut out);
        encode_count(self.entry_count(), &mut out);
        for (k, v) in self.entries() {
            k.encode_to(&mut out);
            v.encode_to(&mut out);
        }
        out
    }

    /// Decodes [`AppState::encode`] output. Entries must come in strictly increasing key
    /// order (as `encode` writes them), so the encoding stays canonical.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = u8::decode_from(&mut r)?;
        if version != APP_STATE_VERSION {
            return Err(CodecError::UnsupportedVersion {
                got: version,
                supported: APP_STATE_VERSION,
            }
            .into());
        }
        let mut s = AppState::default();
        s.set_scalars(&Scalars::decode_from(&mut r)?);
        let n = count(&mut r, "state entries", usize::MAX, 1 + 1)?;
        let mut last: Option<EntryKey> = None;
        for _ in 0..n {
            let k = EntryKey::decode_from(&mut r)?;
            if last.as_ref().is_some_and(|l| *l >= k) {
                return Err(CodecError::Unordered {
                    what: "state entries",
                }
                .into());
            }
            let v = EntryValue::decode_for(&k, &mut r)?;
            last = Some(k.clone());
            s.set_entry(k, Some(v));
        }
        r.finish()?;
        s.touched.clear();
        Ok(s)
    }

    /// A state holding `contract` (a freshly initialised contract) and default scalars.
    pub fn with_contract(contract: ContractState) -> Self {
        let mut s = AppState::default();
        for (k, v) in contract.storage {
            s.set_entry(EntryKey::Storage(k), Some(EntryValue::Storage(v)));
        }
        for (a, b) in contract.balances {
            s.set_balance(a, b);
        }
        s.touched.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64) -> Record {
        Record {
            applied_seq: Seq(seq),
            request_digest: Hash32([9; 32]),
            output: vec![1, 2],
        }
    }

    fn sample() -> AppState {
        let mut s = AppState::with_contract(ContractState::default());
        s.seq = Seq(4);
        s.set_balance(Address([1; 20]), 7);
        s.insert_record(Address([2; 20]), 3, record(2));
        s.insert_challenge(1, None);
        s.add_payout(PayoutLine {
            to: Address([3; 20]),
            amount_wei: 5,
        });
        s.terminated = true;
        s
    }

    #[test]
    fn app_state_round_trips_and_its_hash_is_incremental() {
        let s = sample();
        assert!(s.check_hash());
        let d = AppState::decode(&s.encode()).unwrap();
        assert_eq!(d, s);
        assert_eq!(d.hash(), s.hash());
    }

    #[test]
    fn a_diff_carries_one_state_to_the_next_and_undo_restores_it() {
        let mut a = sample();
        a.clear_touched();
        let before = a.clone();
        a.seq = Seq(5);
        a.set_balance(Address([1; 20]), 0);
        a.set_balance(Address([4; 20]), 9);
        a.remove_payout(0);
        let diff = a.take_diff();
        assert_eq!(diff.changes.len(), 3);
        let decoded = StateDiff::decode(&diff.encode()).unwrap();
        assert_eq!(decoded, diff);
        let mut b = before.clone();
        let undo = b.apply_diff(&decoded);
        assert_eq!(b, a);
        assert_eq!(b.hash(), a.hash());
        assert!(b.check_hash());
        b.apply_diff(&undo);
        assert_eq!(b, before);
        assert_eq!(b.hash(), before.hash());
    }

    #[test]
    fn records_are_bounded_per_user_and_the_floor_covers_the_pruned() {
        let mut s = AppState::default();
        let u = Address([7; 20]);
        for n in 1..=(RECORDS_PER_USER_MAX as u64 + 5) {
            s.insert_record(u, n, record(n));
        }
        assert_eq!(s.requests().len(), RECORDS_PER_USER_MAX);
        assert_eq!(s.nonce_floor(&u), Some(5));
        assert!(s.has_executed(&u, 1) && s.has_executed(&u, 5) && s.has_executed(&u, 37));
        assert!(!s.has_executed(&u, 38));
        assert!(s.check_hash());
    }

    #[test]
    fn entries_out_of_key_order_are_refused() {
        let mut s = AppState::default();
        s.set_balance(Address([1; 20]), 7);
        s.set_balance(Address([2; 20]), 8);
        let mut bytes = s.encode();
        // version, scalars, entry count: then the two entries (tag, address, amount).
        let first = 1 + SCALARS_BYTES + 4;
        let entry = 1 + 20 + 16;
        let (a, b) = bytes[first..first + 2 * entry].split_at(entry);
        let swapped = [b, a].concat();
        bytes[first..first + 2 * entry].copy_from_slice(&swapped);
        assert_eq!(
            AppState::decode(&bytes),
            Err(DecodeError::Codec(CodecError::Unordered {
                what: "state entries"
            }))
        );
    }
}
