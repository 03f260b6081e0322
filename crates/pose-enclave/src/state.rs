//! What a pool member keeps per contract: its view of the chain, the replicated application
//! state and the contract secrets, with their canonical encodings (for updates and sealing).

use std::collections::{BTreeMap, BTreeSet};

use pose_runtime::ContractState;
use pose_types::{Address, ContractId, Epoch, Hash32, Seq};

use crate::chain::{ChainTx, Member, Params, PayoutLine};
use crate::codec::{DecodeError, Reader, Writer};
use crate::limits::{CHAIN_LOG_MAX, LIST_ITEMS_MAX, POOL_MEMBERS_MAX};
use crate::wire::sha256;

/// A contract's phase as the chain records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Created, waiting for `completeCreation`.
    Creation,
    /// Running.
    Executing,
    /// Terminated on-chain.
    Terminated,
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
    /// Canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(1).seq(self.seq);
        w.len(self.contract.storage.len());
        for (k, v) in &self.contract.storage {
            w.bytes(k).bytes(v);
        }
        w.len(self.contract.balances.len());
        for (a, b) in &self.contract.balances {
            w.addr(a).u128(*b);
        }
        w.u64(self.chain_pos).hash(&self.tx_hash);
        w.u64(self.block_number).u64(self.block_time_secs);
        w.len(self.requests.len());
        for ((u, n), r) in &self.requests {
            w.addr(u).u64(*n).seq(r.applied_seq).hash(&r.request_digest);
            w.bytes(&r.output);
        }
        w.len(self.challenges.len());
        for (id, c) in &self.challenges {
            w.u64(*id);
            match c {
                Some((u, n)) => w.u8(1).addr(u).u64(*n),
                None => w.u8(0),
            };
        }
        w.u64(self.next_payout_nonce)
            .len(self.pending_payouts.len());
        for (n, p) in &self.pending_payouts {
            w.u64(*n).addr(&p.to).u128(p.amount_wei);
        }
        w.u128(self.deposits_credited_wei)
            .u128(self.payouts_decided_wei);
        w.u8(self.terminated as u8);
        w.finish()
    }

    /// Decodes [`AppState::encode`] output.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut s = AppState::default();
        match r.u8()? {
            1 => {}
            t => return Err(DecodeError::UnknownTag(t, "state version")),
        }
        s.seq = r.seq()?;
        let n = r.len(usize::MAX)?;
        for _ in 0..n {
            let k = r.bytes()?;
            let v = r.bytes()?;
            s.contract.storage.insert(k, v);
        }
        let n = r.len(usize::MAX)?;
        for _ in 0..n {
            let a = r.addr()?;
            let b = r.u128()?;
            s.contract.balances.insert(a, b);
        }
        s.chain_pos = r.u64()?;
        s.tx_hash = r.hash()?;
        s.block_number = r.u64()?;
        s.block_time_secs = r.u64()?;
        let n = r.len(usize::MAX)?;
        for _ in 0..n {
            let u = r.addr()?;
            let nonce = r.u64()?;
            let rec = Record {
                applied_seq: r.seq()?,
                request_digest: r.hash()?,
                output: r.bytes()?,
            };
            s.requests.insert((u, nonce), rec);
        }
        let n = r.len(usize::MAX)?;
        for _ in 0..n {
            let id = r.u64()?;
            let c = match r.u8()? {
                0 => None,
                1 => Some((r.addr()?, r.u64()?)),
                t => return Err(DecodeError::UnknownTag(t, "option")),
            };
            s.challenges.insert(id, c);
        }
        s.next_payout_nonce = r.u64()?;
        let n = r.len(usize::MAX)?;
        for _ in 0..n {
            let nonce = r.u64()?;
            let p = PayoutLine {
                to: r.addr()?,
                amount_wei: r.u128()?,
            };
            s.pending_payouts.insert(nonce, p);
        }
        s.deposits_credited_wei = r.u128()?;
        s.payouts_decided_wei = r.u128()?;
        s.terminated = match r.u8()? {
            0 => false,
            1 => true,
            t => return Err(DecodeError::UnknownTag(t, "bool")),
        };
        r.end()?;
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
    /// Canonical encoding.
    pub fn encode(&self, cid: ContractId) -> Vec<u8> {
        let mut w = Writer::new();
        w.cid(cid).fixed(&self.state_key).fixed(&self.input_secret);
        w.fixed(&self.input_public)
            .fixed(&self.random_seed)
            .bytes(&self.code);
        w.finish()
    }
    /// Decodes [`Secrets::encode`] output for contract `cid`.
    pub fn decode(bytes: &[u8], cid: ContractId) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.cid()? != cid {
            return Err(DecodeError::UnknownTag(0, "secrets for another contract"));
        }
        let s = Secrets {
            state_key: r.b32()?,
            input_secret: r.b32()?,
            input_public: r.b32()?,
            random_seed: r.b32()?,
            code: r.bytes()?,
        };
        r.end()?;
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
    /// The executor's address, if the pool is not empty.
    pub fn executor(&self) -> Option<Address> {
        self.pool.get(self.exec_idx).map(|m| m.address)
    }
    /// True if `a` is in the pool.
    pub fn is_member(&self, a: &Address) -> bool {
        self.pool.iter().any(|m| &m.address == a)
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.hash(&self.code_hash);
        w.u8(self.params.pool_size)
            .u32(self.params.response_period_secs)
            .u32(self.params.member_response_period_secs)
            .u16(self.params.confirmations);
        w.len(self.pool.len());
        for m in &self.pool {
            m.write(w);
        }
        w.u64(self.exec_idx as u64).epoch(self.epoch);
        w.u8(self.phase as u8);
        match &self.contract_key {
            Some(k) => w.u8(1).fixed(k),
            None => w.u8(0),
        };
        w.hash(&self.genesis).len(self.hashes.len());
        for (h, tx) in self.hashes.iter().zip(&self.log) {
            w.hash(h).bytes(&tx.encode());
        }
        w.len(self.open_challenges.len());
        for c in &self.open_challenges {
            w.u64(*c);
        }
        w.len(self.member_challenges.len());
        for (a, d) in &self.member_challenges {
            w.addr(a).u64(*d);
        }
        w.len(self.withdrawn.len());
        for n in &self.withdrawn {
            w.u64(*n);
        }
        w.u64(self.block_time_secs);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let code_hash = r.hash()?;
        let params = Params {
            pool_size: r.u8()?,
            response_period_secs: r.u32()?,
            member_response_period_secs: r.u32()?,
            confirmations: r.u16()?,
        };
        let n = r.len(POOL_MEMBERS_MAX)?;
        let mut pool = Vec::with_capacity(n);
        for _ in 0..n {
            pool.push(Member::read(r)?);
        }
        let exec_idx = usize::try_from(r.u64()?).unwrap_or(usize::MAX);
        let epoch = r.epoch()?;
        let phase = match r.u8()? {
            0 => Phase::Creation,
            1 => Phase::Executing,
            2 => Phase::Terminated,
            t => return Err(DecodeError::UnknownTag(t, "phase")),
        };
        let contract_key = match r.u8()? {
            0 => None,
            1 => Some(r.b32()?),
            t => return Err(DecodeError::UnknownTag(t, "option")),
        };
        let genesis = r.hash()?;
        let n = r.len(CHAIN_LOG_MAX)?;
        let mut hashes = Vec::with_capacity(n);
        let mut log = Vec::with_capacity(n);
        for _ in 0..n {
            hashes.push(r.hash()?);
            log.push(ChainTx::decode(&r.bytes()?)?);
        }
        let mut open_challenges = BTreeSet::new();
        for _ in 0..r.len(LIST_ITEMS_MAX)? {
            open_challenges.insert(r.u64()?);
        }
        let mut member_challenges = BTreeMap::new();
        for _ in 0..r.len(POOL_MEMBERS_MAX)? {
            let a = r.addr()?;
            member_challenges.insert(a, r.u64()?);
        }
        let mut withdrawn = BTreeSet::new();
        for _ in 0..r.len(usize::MAX)? {
            withdrawn.insert(r.u64()?);
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
            block_time_secs: r.u64()?,
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
}
