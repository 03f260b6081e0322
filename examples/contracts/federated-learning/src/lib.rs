//! Federated-learning aggregation: participants submit `f32` model updates with a weight
//! (for example their number of training samples); `aggregate` writes the weighted average
//! into the global model, which anyone can read.
//!
//! Input of `init`: `params: u32` (the model size). The creator becomes the coordinator.
//!
//! Input of `call` (first byte selects the operation, integers little-endian):
//! - `1 weight:f32 update:[f32; params]`: submit (or replace) the caller's update.
//! - `2`: aggregate the submitted updates into the global model; returns the new round number.
//! - `3`: (coordinator) drop all submissions and start a new round.
//! - `4`: read the global model: `round:u64 model:[f32; params]`.
//! - `6 amount:u128`: (coordinator) reward this round's participants: `amount` wei of the
//!   coordinator's internal balance (coins it deposited through the manager contract) is split
//!   equally among them (the remainder of the division stays with the coordinator).
//! - `7 amount:u128`: withdraw `amount` of the caller's internal balance to the caller's
//!   address (a payout the executor signs on-chain).
//!
//! Input of `query`: `4` as above, or `5` for `params:u32 participants:u32 round:u64`.
//!
//! Storage: updates are kept as raw little-endian `f32` bytes, one value per participant, so
//! `aggregate` has the runtime sum them chunk by chunk (see `fl-core`) straight out of storage
//! (`env::storage_weighted_sum_f32`) instead of loading them; the global model is stored the same way,
//! one value per chunk of `fl_core::CHUNK_PARAMS` parameters under
//! `global/<chunk index: u32 big-endian>`.

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use fl_core::{average_chunk, inverse_total_weight, AggregateError, Updates, CHUNK_PARAMS};
use pose_contract_sdk::env::{self, WeightedKey};
use pose_contract_sdk::{
    ensure, entry_points, fail, Address, Error, Item, Map, Reader, Value, Writer,
};

/// Largest model accepted: the runtime's default storage value limit is 16 MiB.
const PARAMS_MAX: u32 = 4 << 20;
/// Most participants per round.
const PARTICIPANTS_MAX: usize = 1_000;

const PARAMS: Item<u32> = Item::new(b"params");
const COORDINATOR: Item<Address> = Item::new(b"coordinator");
const ROUND: Item<u64> = Item::new(b"round");
/// Concatenated 20-byte addresses of this round's participants, in order of first submission.
const PARTICIPANTS: Item<Vec<u8>> = Item::new(b"participants");
const WEIGHTS: Map<Address, f32> = Map::new(b"w/");
/// Parameters computed per call of the runtime's weighted sum: four chunks, a 128 KiB
/// accumulator that stays in the L2 cache. Longer runs of each update per call made the
/// aggregation faster than one chunk per call (BENCHMARKS.md); the result does not depend on
/// it, since every parameter is computed on its own.
const SPAN_PARAMS: usize = 4 * CHUNK_PARAMS;

/// Storage key of chunk `k` (parameters `k * CHUNK_PARAMS ..`) of the global model.
fn global_key(k: usize) -> Vec<u8> {
    let mut key = b"global/".to_vec();
    key.extend_from_slice(&(k as u32).to_be_bytes());
    key
}

fn update_key(who: &Address) -> Vec<u8> {
    let mut k = b"u/".to_vec();
    k.extend_from_slice(&who.0);
    k
}

fn participants() -> Vec<Address> {
    PARTICIPANTS
        .get()
        .unwrap_or_default()
        .chunks_exact(20)
        .map(|c| {
            let mut a = [0u8; 20];
            a.copy_from_slice(c);
            Address(a)
        })
        .collect()
}

fn params() -> Result<usize, Error> {
    match PARAMS.get() {
        Some(p) => Ok(p as usize),
        None => fail!("contract not initialised"),
    }
}

fn init(input: &[u8]) -> Result<Vec<u8>, Error> {
    let p = u32::from_bytes(input)?;
    ensure!(
        p > 0 && p <= PARAMS_MAX,
        "model size must be 1..={PARAMS_MAX} parameters, got {p}"
    );
    PARAMS.set(&p);
    COORDINATOR.set(&env::caller());
    ROUND.set(&0);
    Ok(Vec::new())
}

fn submit(r: &mut Reader<'_>) -> Result<Vec<u8>, Error> {
    let p = params()?;
    let weight: f32 = r.read()?;
    ensure!(
        weight.is_finite() && weight > 0.0,
        "weight must be finite and positive"
    );
    let bytes = r.bytes(p * 4)?;
    r.finish()?;
    ensure!(
        bytes
            .chunks_exact(4)
            .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite()),
        "update contains a NaN or infinite parameter"
    );
    let who = env::caller();
    if WEIGHTS.get(&who).is_none() {
        let mut list = PARTICIPANTS.get().unwrap_or_default();
        ensure!(
            list.len() / 20 < PARTICIPANTS_MAX,
            "round is full ({PARTICIPANTS_MAX} participants)"
        );
        list.extend_from_slice(&who.0);
        PARTICIPANTS.set(&list);
    }
    WEIGHTS.set(&who, &weight);
    env::storage_set(&update_key(&who), bytes);
    Ok(Vec::new())
}

/// The round's updates as they lie in storage: the runtime computes each chunk's weighted sum
/// straight from storage (`env::storage_weighted_sum_f32`), so the contract never copies an
/// update into its memory.
struct StoredUpdates {
    keys: Vec<Vec<u8>>,
    weights: Vec<f32>,
}

impl Updates for StoredUpdates {
    fn count(&self) -> usize {
        self.keys.len()
    }
    fn weight(&self, i: usize) -> f32 {
        self.weights[i]
    }
    fn add_weighted_scaled(
        &mut self,
        offset: usize,
        acc: &mut [f32],
        scale: f32,
    ) -> Result<(), AggregateError> {
        let terms: Vec<WeightedKey<'_>> = self
            .keys
            .iter()
            .zip(&self.weights)
            .map(|(key, &weight)| WeightedKey { key, weight })
            .collect();
        if env::storage_weighted_sum_f32(&terms, offset * 4, scale, acc) == Some(acc.len()) {
            return Ok(());
        }
        let end = (offset + acc.len()) * 4;
        let short = self
            .keys
            .iter()
            .position(|k| env::storage_len(k).is_none_or(|len| len < end));
        Err(AggregateError::ShortUpdate(short.unwrap_or(0)))
    }
}

fn aggregate() -> Result<Vec<u8>, Error> {
    let p = params()?;
    let who = participants();
    let mut src = StoredUpdates {
        weights: who.iter().map(|a| WEIGHTS.get(a).unwrap_or(0.0)).collect(),
        keys: who.iter().map(update_key).collect(),
    };
    // The model is computed and stored span by span: the contract never holds it whole.
    let mut acc = vec![0f32; SPAN_PARAMS];
    let result = inverse_total_weight(&src).and_then(|inv_total| {
        let mut offset = 0;
        while offset < p {
            let len = SPAN_PARAMS.min(p - offset);
            average_chunk(&mut src, offset, &mut acc[..len], inv_total)?;
            for (k, chunk) in acc[..len].chunks(CHUNK_PARAMS).enumerate() {
                env::storage_set(
                    &global_key(offset / CHUNK_PARAMS + k),
                    bytemuck::cast_slice(chunk),
                );
            }
            offset += len;
        }
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(AggregateError::NoUpdates) => fail!("no updates submitted in this round"),
        Err(AggregateError::BadWeights) => fail!("the sum of the weights is not finite"),
        Err(AggregateError::ShortUpdate(i)) => fail!("update of participant {i} is short"),
    }
    let round = ROUND.get_or(0) + 1;
    ROUND.set(&round);
    let mut ev = Writer::new();
    ev.bytes(b"aggregated").put(&round).put(&(who.len() as u32));
    env::emit(&ev.into_vec());
    Ok(round.to_le_bytes().to_vec())
}

fn new_round() -> Result<Vec<u8>, Error> {
    ensure!(
        COORDINATOR.get() == Some(env::caller()),
        "only the coordinator starts a new round"
    );
    for who in participants() {
        WEIGHTS.remove(&who);
        env::storage_remove(&update_key(&who));
    }
    PARTICIPANTS.remove();
    Ok(Vec::new())
}

fn reward(amount: u128) -> Result<Vec<u8>, Error> {
    let coordinator = env::caller();
    ensure!(
        COORDINATOR.get() == Some(coordinator),
        "only the coordinator rewards participants"
    );
    let who = participants();
    ensure!(!who.is_empty(), "nobody submitted an update this round");
    let share = amount / who.len() as u128;
    for p in &who {
        env::transfer(&coordinator, p, share)?;
    }
    Ok(share.to_le_bytes().to_vec())
}

fn withdraw(amount: u128) -> Result<Vec<u8>, Error> {
    let me = env::caller();
    env::payout(&me, &me, amount)?;
    Ok(Vec::new())
}

fn read_global() -> Result<Vec<u8>, Error> {
    let mut out = Writer::new();
    out.put(&ROUND.get_or(0));
    if ROUND.get_or(0) > 0 {
        let p = params()?;
        for k in 0..p.div_ceil(CHUNK_PARAMS) {
            match env::storage_get(&global_key(k)) {
                Some(chunk) => out.bytes(&chunk),
                None => fail!("global model chunk {k} is missing"),
            };
        }
    }
    Ok(out.into_vec())
}

fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Reader::new(input);
    match r.read::<u8>()? {
        1 => submit(&mut r),
        2 => {
            r.finish()?;
            aggregate()
        }
        3 => {
            r.finish()?;
            new_round()
        }
        4 => {
            r.finish()?;
            read_global()
        }
        6 => {
            let amount: u128 = r.read()?;
            r.finish()?;
            reward(amount)
        }
        7 => {
            let amount: u128 = r.read()?;
            r.finish()?;
            withdraw(amount)
        }
        op => fail!("unknown operation {op}"),
    }
}

fn query(input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Reader::new(input);
    let op = r.read::<u8>()?;
    r.finish()?;
    match op {
        4 => read_global(),
        5 => {
            let mut out = Writer::new();
            out.put(&(params()? as u32))
                .put(&(participants().len() as u32))
                .put(&ROUND.get_or(0));
            Ok(out.into_vec())
        }
        op => fail!("unknown query {op}"),
    }
}

entry_points!(init = init, call = call, query = query);
