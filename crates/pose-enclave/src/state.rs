//! What a pool member keeps per contract: its view of the chain, the replicated application
//! state and the contract secrets, with their canonical encodings (for updates and sealing).

use std::collections::{BTreeMap, BTreeSet};

use pose_runtime::ContractState;
use pose_types::codec::{encode_bytes, encode_count};
use pose_types::wire::sha256;
use pose_types::{Address, ContractId, Decode, Encode, Epoch, Hash32, Reader, Seq};

use crate::chain::{ChainTx, Member, Params, PayoutLine};
use crate::decode::DecodeError;
use crate::limits::{CHAIN_LOG_MAX, LIST_ITEMS_MAX, POOL_MEMBERS_MAX, STATE_FIELD_BYTES_MAX};

/// The version byte that starts an encoded [`AppState`].
const APP_STATE_VERSION: u8 = 1;

/// Reads a variable-length byte field of the sealed state.
fn state_bytes(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u8>, pose_types::DecodeError> {
    Ok(r.bytes(what, STATE_FIELD_BYTES_MAX)?.to_vec())
}

/// Inserts a decoded map entry, refusing a key not above every key before it: encodings
/// list map entries in strictly increasing key order, so each map has one encoding.
fn insert_in_order<K: Ord, V>(
    map: &mut BTreeMap<K, V>,
    key: K,
    value: V,
    what: &'static str,
) -> Result<(), pose_types::DecodeError> {
    if map.last_key_value().is_some_and(|(last, _)| *last >= key) {
        return Err(pose_types::DecodeError::Unordered { what });
    }
    map.insert(key, value);
    Ok(())
}

/// [`insert_in_order`] for sets.
fn insert_in_order_set<K: Ord>(
    set: &mut BTreeSet<K>,
    key: K,
    what: &'static str,
) -> Result<(), pose_types::DecodeError> {
    if set.last().is_some_and(|last| *last >= key) {
        return Err(pose_types::DecodeError::Unordered { what });
    }
    set.insert(key);
    Ok(())
}

/// Reads a count of at most `max` items of at least `min_item_bytes` each.
fn count(
    r: &mut Reader<'_>,
    what: &'static str,
    max: usize,
    min_item_bytes: usize,
) -> Result<usize, pose_types::DecodeError> {
    r.count(what, max, min_item_bytes)
}

/// A contract's phase as the chain records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Created, waiting for `completeCreation`.
    Creation,
    /// Running.
    Executing,
    /// Terminated on-chain.
    Terminated,
    /// Every member in turn let a challenge deadline pass; a member holding the state may
    /// `revive` it (docs/protocol.md section 5).
    Crashed,
}

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

/// The replicated application state of a contract: identical on every member that holds the
/// same `(seq, hash)`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AppState {
    /// Sequence number of this state.
    pub seq: Seq,
    /// The contract's storage and internal balances.
    pub contract: ContractState,
    /// Chain transactions of this contract consumed so far.
    pub chain_pos: u64,
    /// `txHash` after them.
    pub tx_hash: Hash32,
    /// Block number of the last consumed transaction.
    pub block_number: u64,
    /// Block time of the last consumed transaction, in seconds.
    pub block_time_secs: u64,
    /// Executed requests by `(user, nonce)`.
    pub requests: BTreeMap<(Address, u64), Record>,
    /// Consumed challenges: id -> the request they carried (`None` if it was invalid).
    pub challenges: BTreeMap<u64, Option<(Address, u64)>>,
    /// The next payout nonce.
    pub next_payout_nonce: u64,
    /// Payouts decided and not yet seen withdrawn on-chain, by nonce.
    pub pending_payouts: BTreeMap<u64, PayoutLine>,
    /// Sum of all credited deposits, in wei.
    pub deposits_credited_wei: u128,
    /// Sum of all payouts decided, in wei.
    pub payouts_decided_wei: u128,
    /// The contract decided to terminate.
    pub terminated: bool,
}

impl AppState {
    /// Canonical encoding: a version byte (1), then `seq`, the storage (`u32` count, then
    /// key and value with `u32` lengths, in key order), the balances (count, then address and
    /// `u128`), `chain_pos`, `tx_hash`, `block_number`, `block_time_secs`, the request records
    /// (count, then user, nonce, applied seq, request digest, output), the challenges (count,
    /// then id and an optional `(user, nonce)`), `next_payout_nonce`, the pending payouts
    /// (count, then nonce, recipient, amount), the two wei sums and the `terminated` flag.
    /// Maps are written in key order, so equal states have equal encodings.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![APP_STATE_VERSION];
        self.seq.encode_to(&mut out);
        encode_count(self.contract.storage.len(), &mut out);
        for (k, v) in &self.contract.storage {
            encode_bytes(k, &mut out);
            encode_bytes(v, &mut out);
        }
        encode_count(self.contract.balances.len(), &mut out);
        for (a, b) in &self.contract.balances {
            a.encode_to(&mut out);
            b.encode_to(&mut out);
        }
        self.chain_pos.encode_to(&mut out);
        self.tx_hash.encode_to(&mut out);
        self.block_number.encode_to(&mut out);
        self.block_time_secs.encode_to(&mut out);
        encode_count(self.requests.len(), &mut out);
        for ((u, n), r) in &self.requests {
            u.encode_to(&mut out);
            n.encode_to(&mut out);
            r.applied_seq.encode_to(&mut out);
            r.request_digest.encode_to(&mut out);
            encode_bytes(&r.output, &mut out);
        }
        encode_count(self.challenges.len(), &mut out);
        for (id, c) in &self.challenges {
            id.encode_to(&mut out);
            match c {
                None => out.push(0),
                Some((u, n)) => {
                    out.push(1);
                    u.encode_to(&mut out);
                    n.encode_to(&mut out);
                }
            }
        }
        self.next_payout_nonce.encode_to(&mut out);
        encode_count(self.pending_payouts.len(), &mut out);
        for (n, p) in &self.pending_payouts {
            n.encode_to(&mut out);
            p.to.encode_to(&mut out);
            p.amount_wei.encode_to(&mut out);
        }
        self.deposits_credited_wei.encode_to(&mut out);
        self.payouts_decided_wei.encode_to(&mut out);
        self.terminated.encode_to(&mut out);
        out
    }

    /// Decodes [`AppState::encode`] output. Map entries must come in strictly increasing key
    /// order (as `encode` writes them), so the encoding stays canonical.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let s = Self::decode_fields(&mut r)?;
        r.finish()?;
        Ok(s)
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, pose_types::DecodeError> {
        let mut s = AppState::default();
        let version = u8::decode_from(r)?;
        if version != APP_STATE_VERSION {
            return Err(pose_types::DecodeError::UnsupportedVersion {
                got: version,
                supported: APP_STATE_VERSION,
            });
        }
        s.seq = Seq::decode_from(r)?;
        for _ in 0..count(r, "storage", usize::MAX, 8)? {
            let k = state_bytes(r, "storage key")?;
            let v = state_bytes(r, "storage value")?;
            insert_in_order(&mut s.contract.storage, k, v, "storage")?;
        }
        for _ in 0..count(r, "balances", usize::MAX, 20 + 16)? {
            let a = Address::decode_from(r)?;
            let b = u128::decode_from(r)?;
            insert_in_order(&mut s.contract.balances, a, b, "balances")?;
        }
        s.chain_pos = u64::decode_from(r)?;
        s.tx_hash = Hash32::decode_from(r)?;
        s.block_number = u64::decode_from(r)?;
        s.block_time_secs = u64::decode_from(r)?;
        for _ in 0..count(r, "requests", usize::MAX, 20 + 8 + 8 + 32 + 4)? {
            let u = Address::decode_from(r)?;
            let nonce = u64::decode_from(r)?;
            let rec = Record {
                applied_seq: Seq::decode_from(r)?,
                request_digest: Hash32::decode_from(r)?,
                output: state_bytes(r, "recorded output")?,
            };
            insert_in_order(&mut s.requests, (u, nonce), rec, "requests")?;
        }
        for _ in 0..count(r, "challenges", usize::MAX, 8 + 1)? {
            let id = u64::decode_from(r)?;
            let c = match u8::decode_from(r)? {
                0 => None,
                1 => Some((Address::decode_from(r)?, u64::decode_from(r)?)),
                tag => {
                    return Err(pose_types::DecodeError::InvalidTag {
                        what: "option",
                        tag: tag.into(),
                    })
                }
            };
            insert_in_order(&mut s.challenges, id, c, "challenges")?;
        }
        s.next_payout_nonce = u64::decode_from(r)?;
        for _ in 0..count(r, "pending payouts", usize::MAX, 8 + 20 + 16)? {
            let nonce = u64::decode_from(r)?;
            let p = PayoutLine {
                to: Address::decode_from(r)?,
                amount_wei: u128::decode_from(r)?,
            };
            insert_in_order(&mut s.pending_payouts, nonce, p, "pending payouts")?;
        }
        s.deposits_credited_wei = u128::decode_from(r)?;
        s.payouts_decided_wei = u128::decode_from(r)?;
        s.terminated = bool::decode_from(r)?;
        Ok(s)
    }

    /// The state hash: sha256 over the canonical encoding.
    pub fn hash(&self) -> Hash32 {
        sha256(&[b"pose.appstate.v1", &self.encode()])
    }
}

/// The contract secrets every pool member holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secrets {
    /// Symmetric key for state updates.
    pub state_key: [u8; 32],
    /// Secret of the contract's input key.
    pub input_secret: [u8; 32],
    /// The contract's public input key (users encrypt to it).
    pub input_public: [u8; 32],
    /// Seed of the per-request randomness.
    pub random_seed: [u8; 32],
    /// The contract code.
    pub code: Vec<u8>,
}

impl Secrets {
    /// Canonical encoding: `cid || state_key || input_secret || input_public || random_seed
    /// || code (u32 length)`. The contract id binds the secrets to their contract.
    pub fn encode(&self, cid: ContractId) -> Vec<u8> {
        let mut out = Vec::new();
        cid.encode_to(&mut out);
        self.state_key.encode_to(&mut out);
        self.input_secret.encode_to(&mut out);
        self.input_public.encode_to(&mut out);
        self.random_seed.encode_to(&mut out);
        encode_bytes(&self.code, &mut out);
        out
    }

    /// Decodes [`Secrets::encode`] output for contract `cid`.
    pub fn decode(bytes: &[u8], cid: ContractId) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let found = ContractId::decode_from(&mut r)?;
        if found != cid {
            return Err(DecodeError::SecretsForAnotherContract {
                expected: cid,
                found,
            });
        }
        let s = Secrets {
            state_key: r.take_array()?,
            input_secret: r.take_array()?,
            input_public: r.take_array()?,
            random_seed: r.take_array()?,
            code: state_bytes(&mut r, "contract code")?,
        };
        r.finish()?;
        Ok(s)
    }
}

/// What an enclave knows about a contract from the chain transactions its host showed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// sha256 of the contract code.
    pub code_hash: Hash32,
    /// Parameters.
    pub params: Params,
    /// The pool, in order.
    pub pool: Vec<Member>,
    /// Index of the executor in `pool`.
    pub exec_idx: usize,
    /// Current epoch.
    pub epoch: Epoch,
    /// Phase.
    pub phase: Phase,
    /// Contract input key, once creation completed.
    pub contract_key: Option<[u8; 32]>,
    /// `txHash_0`.
    pub genesis: Hash32,
    /// `txHash` after each transaction: `hashes[i]` is the value after transaction `i`.
    pub hashes: Vec<Hash32>,
    /// The transactions themselves, in order (the executor folds them into the state).
    pub log: Vec<ChainTx>,
    /// Challenges opened and not yet answered on-chain.
    pub open_challenges: BTreeSet<u64>,
    /// Open member challenges: member -> deadline (seconds).
    pub member_challenges: BTreeMap<Address, u64>,
    /// Payout nonces seen withdrawn.
    pub withdrawn: BTreeSet<u64>,
    /// Time of the last transaction, in seconds.
    pub block_time_secs: u64,
    /// Executor changes by `timeoutChallenge` since the last answer or revival; at the pool's
    /// size the contract is Crashed.
    pub timeouts_in_a_row: u64,
}

impl View {
    /// `txHash` after `pos` transactions, if the view has seen that many.
    pub fn tx_hash_at(&self, pos: u64) -> Option<Hash32> {
        if pos == 0 {
            Some(self.genesis)
        } else {
            self.hashes.get(usize::try_from(pos - 1).ok()?).copied()
        }
    }
    /// The latest `txHash`.
    pub fn tx_hash(&self) -> Hash32 {
        self.hashes.last().copied().unwrap_or(self.genesis)
    }
    /// The chain position of this view: how many of the contract's transactions it holds,
    /// and the `txHash` after them (what a receipt names, docs/protocol.md 6.3).
    pub fn chain_head(&self) -> (u64, Hash32) {
        (self.hashes.len() as u64, self.tx_hash())
    }
    /// The executor's address, if the pool is not empty.
    pub fn executor(&self) -> Option<Address> {
        self.pool.get(self.exec_idx).map(|m| m.address)
    }
    /// True if `a` is in the pool.
    pub fn is_member(&self, a: &Address) -> bool {
        self.pool.iter().any(|m| &m.address == a)
    }

    /// Appends the view's canonical encoding (part of the sealed state): `code_hash`, the
    /// params (`u8`, `u32`, `u32`, `u16`), the pool (count, members), `exec_idx` (`u64`),
    /// `epoch`, the phase (tag 0 creation, 1 executing, 2 terminated, 3 crashed), the optional contract
    /// key, `genesis`, the log (count, then per transaction its `txHash` and its encoding with
    /// a `u32` length), the open challenges, the member challenges and the withdrawn nonces
    /// (each a count, then the entries in increasing key order), `block_time_secs` and
    /// `timeouts_in_a_row`.
    pub(crate) fn encode_to(&self, out: &mut Vec<u8>) {
        self.code_hash.encode_to(out);
        self.params.pool_size.encode_to(out);
        self.params.response_period_secs.encode_to(out);
        self.params.member_response_period_secs.encode_to(out);
        self.params.confirmations.encode_to(out);
        encode_count(self.pool.len(), out);
        for m in &self.pool {
            m.encode_to(out);
        }
        (self.exec_idx as u64).encode_to(out);
        self.epoch.encode_to(out);
        out.push(match self.phase {
            Phase::Creation => 0,
            Phase::Executing => 1,
            Phase::Terminated => 2,
            Phase::Crashed => 3,
        });
        self.contract_key.encode_to(out);
        self.genesis.encode_to(out);
        encode_count(self.hashes.len(), out);
        for (h, tx) in self.hashes.iter().zip(&self.log) {
            h.encode_to(out);
            encode_bytes(&tx.encode(), out);
        }
        encode_count(self.open_challenges.len(), out);
        for c in &self.open_challenges {
            c.encode_to(out);
        }
        encode_count(self.member_challenges.len(), out);
        for (a, d) in &self.member_challenges {
            a.encode_to(out);
            d.encode_to(out);
        }
        encode_count(self.withdrawn.len(), out);
        for n in &self.withdrawn {
            n.encode_to(out);
        }
        self.block_time_secs.encode_to(out);
        self.timeouts_in_a_row.encode_to(out);
    }

    /// Reads a view written by [`View::encode_to`].
    pub(crate) fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let code_hash = Hash32::decode_from(r)?;
        let params = Params {
            pool_size: u8::decode_from(r)?,
            response_period_secs: u32::decode_from(r)?,
            member_response_period_secs: u32::decode_from(r)?,
            confirmations: u16::decode_from(r)?,
        };
        let n = count(r, "pool", POOL_MEMBERS_MAX, Member::MIN_ENCODED_BYTES)?;
        let mut pool = Vec::with_capacity(n);
        for _ in 0..n {
            pool.push(Member::decode_from(r)?);
        }
        let exec_idx = usize::try_from(u64::decode_from(r)?).unwrap_or(usize::MAX);
        let epoch = Epoch::decode_from(r)?;
        let phase = match u8::decode_from(r)? {
            0 => Phase::Creation,
            1 => Phase::Executing,
            2 => Phase::Terminated,
            3 => Phase::Crashed,
            tag => {
                return Err(pose_types::DecodeError::InvalidTag {
                    what: "phase",
                    tag: tag.into(),
                }
                .into())
            }
        };
        let contract_key = Option::<[u8; 32]>::decode_from(r)?;
        let genesis = Hash32::decode_from(r)?;
        let n = count(r, "chain log", CHAIN_LOG_MAX, 32 + 4)?;
        let mut hashes = Vec::with_capacity(n);
        let mut log = Vec::with_capacity(n);
        for _ in 0..n {
            hashes.push(Hash32::decode_from(r)?);
            log.push(ChainTx::decode(&state_bytes(r, "chain transaction")?)?);
        }
        let mut open_challenges = BTreeSet::new();
        for _ in 0..count(r, "open challenges", LIST_ITEMS_MAX, 8)? {
            insert_in_order_set(
                &mut open_challenges,
                u64::decode_from(r)?,
                "open challenges",
            )?;
        }
        let mut member_challenges = BTreeMap::new();
        for _ in 0..count(r, "member challenges", POOL_MEMBERS_MAX, 20 + 8)? {
            let a = Address::decode_from(r)?;
            let d = u64::decode_from(r)?;
            insert_in_order(&mut member_challenges, a, d, "member challenges")?;
        }
        let mut withdrawn = BTreeSet::new();
        for _ in 0..count(r, "withdrawn payouts", usize::MAX, 8)? {
            insert_in_order_set(&mut withdrawn, u64::decode_from(r)?, "withdrawn payouts")?;
        }
        Ok(View {
            code_hash,
            params,
            pool,
            exec_idx,
            epoch,
            phase,
            contract_key,
            genesis,
            hashes,
            log,
            open_challenges,
            member_challenges,
            withdrawn,
            block_time_secs: u64::decode_from(r)?,
            timeouts_in_a_row: u64::decode_from(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_state_round_trips() {
        let mut s = AppState {
            seq: Seq(4),
            ..AppState::default()
        };
        s.contract.storage.insert(b"k".to_vec(), b"v".to_vec());
        s.contract.balances.insert(Address([1; 20]), 7);
        s.requests.insert(
            (Address([2; 20]), 3),
            Record {
                applied_seq: Seq(2),
                request_digest: Hash32([9; 32]),
                output: vec![1, 2],
            },
        );
        s.challenges.insert(1, None);
        s.pending_payouts.insert(
            0,
            PayoutLine {
                to: Address([3; 20]),
                amount_wei: 5,
            },
        );
        s.terminated = true;
        assert_eq!(AppState::decode(&s.encode()).unwrap(), s);
        let _ = Epoch(0);
    }

    #[test]
    fn map_entries_out_of_key_order_are_refused() {
        let mut s = AppState::default();
        s.contract.balances.insert(Address([1; 20]), 7);
        s.contract.balances.insert(Address([2; 20]), 8);
        let mut bytes = s.encode();
        // version, seq, empty storage count, balances count: then the two entries.
        let first = 1 + 8 + 4 + 4;
        let entry = 20 + 16;
        let (a, b) = bytes[first..first + 2 * entry].split_at(entry);
        let swapped = [b, a].concat();
        bytes[first..first + 2 * entry].copy_from_slice(&swapped);
        assert_eq!(
            AppState::decode(&bytes),
            Err(DecodeError::Codec(pose_types::DecodeError::Unordered {
                what: "balances"
            }))
        );
    }

    #[test]
    fn secrets_name_their_contract() {
        let s = Secrets {
            state_key: [1; 32],
            input_secret: [2; 32],
            input_public: [3; 32],
            random_seed: [4; 32],
            code: vec![5; 10],
        };
        let bytes = s.encode(ContractId(9));
        assert_eq!(Secrets::decode(&bytes, ContractId(9)), Ok(s));
        assert_eq!(
            Secrets::decode(&bytes, ContractId(8)),
            Err(DecodeError::SecretsForAnotherContract {
                expected: ContractId(8),
                found: ContractId(9)
            })
        );
    }
}
