//! What a pool member keeps per contract: its view of the chain and the contract secrets, with
//! their canonical encodings (for sealing); the replicated application state is in
//! [`crate::app_state`].

use std::collections::{BTreeMap, BTreeSet};

use pose_types::codec::{encode_bytes, encode_count};
use pose_types::{Address, ContractId, Decode, Encode, Epoch, Hash32, Reader};

pub use crate::app_state::{AppState, Record};
use crate::chain::{ChainTx, Member, Params};
use crate::decode::DecodeError;
use crate::limits::{CHAIN_LOG_MAX, LIST_ITEMS_MAX, POOL_MEMBERS_MAX, STATE_FIELD_BYTES_MAX};

/// Reads a variable-length byte field of the sealed state.
pub(crate) fn state_bytes(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<Vec<u8>, pose_types::DecodeError> {
    Ok(r.bytes(what, STATE_FIELD_BYTES_MAX)?.to_vec())
}

/// Inserts a decoded map entry, refusing a key not above every key before it: encodings
/// list map entries in strictly increasing key order, so each map has one encoding.
pub(crate) fn insert_in_order<K: Ord, V>(
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
pub(crate) fn count(
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
    /// Who created the contract (the sender of transaction 0).
    pub creator: Address,
    /// Chain position of the first transaction still kept: earlier ones were pruned once the
    /// state held them ([`View::prune_before`]).
    pub log_base: u64,
    /// `txHash` after `log_base` transactions (`genesis` while nothing was pruned).
    pub base_hash: Hash32,
    /// `txHash` after each kept transaction: `hashes[i]` is the value after transaction
    /// `log_base + i`.
    pub hashes: Vec<Hash32>,
    /// The kept transactions themselves, in order (the executor folds them into the state).
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
    /// How many of the contract's transactions this view has seen (kept or pruned).
    pub fn chain_len(&self) -> u64 {
        self.log_base + self.hashes.len() as u64
    }
    /// `txHash` after `pos` transactions, if the view has seen that many and has not pruned
    /// that far.
    pub fn tx_hash_at(&self, pos: u64) -> Option<Hash32> {
        if pos < self.log_base {
            None
        } else if pos == self.log_base {
            Some(self.base_hash)
        } else {
            self.hashes
                .get(usize::try_from(pos - self.log_base - 1).ok()?)
                .copied()
        }
    }
    /// The transaction at chain position `pos`, if kept.
    pub fn tx_at(&self, pos: u64) -> Option<&ChainTx> {
        self.log
            .get(usize::try_from(pos.checked_sub(self.log_base)?).ok()?)
    }
    /// The kept transactions from chain position `pos` on, with their positions.
    pub fn txs_from(&self, pos: u64) -> impl Iterator<Item = (u64, &ChainTx)> {
        let skip = usize::try_from(pos.saturating_sub(self.log_base)).unwrap_or(usize::MAX);
        self.log
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, tx)| (self.log_base + i as u64, tx))
    }
    /// The latest `txHash`.
    pub fn tx_hash(&self) -> Hash32 {
        self.hashes.last().copied().unwrap_or(self.base_hash)
    }
    /// The chain position of this view: how many of the contract's transactions it holds,
    /// and the `txHash` after them (what a receipt names, docs/protocol.md 6.3).
    pub fn chain_head(&self) -> (u64, Hash32) {
        (self.chain_len(), self.tx_hash())
    }
    /// Drops the kept transactions before chain position `pos` (at most all but the last
    /// one, so the latest block stays known). What a view keeps then follows the
    /// transactions its state has not folded yet, not the contract's history.
    pub fn prune_before(&mut self, pos: u64) {
        let kept = self.log.len();
        let drop = usize::try_from(pos.saturating_sub(self.log_base))
            .unwrap_or(usize::MAX)
            .min(kept.saturating_sub(1));
        if drop == 0 {
            return;
        }
        self.base_hash = self.hashes[drop - 1];
        self.hashes.drain(..drop);
        self.log.drain(..drop);
        self.log_base += drop as u64;
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
    /// key, `genesis`, the creator, `log_base`, `base_hash`, the kept log (count, then per
    /// transaction its `txHash` and its encoding with a `u32` length), the open challenges, the member challenges and the withdrawn nonces
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
        self.creator.encode_to(out);
        self.log_base.encode_to(out);
        self.base_hash.encode_to(out);
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
        let creator = Address::decode_from(r)?;
        let log_base = u64::decode_from(r)?;
        let base_hash = Hash32::decode_from(r)?;
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
            creator,
            log_base,
            base_hash,
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
