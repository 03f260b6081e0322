//! Federated-learning aggregation: participants submit `f32` model updates with a weight
//! (for example their number of training samples); `aggregate` writes the weighted average
//! into the global model, which anyone can read.
//!
//! Its methods (typed; `pose interface` prints them from the `.wasm` file) are below, in the
//! SDK's encoding: `init` takes `params:u32` (the model size; the creator becomes the
//! coordinator); a call's or query's input is its selector byte and its arguments, integers
//! and floats little-endian. An update is `params` `f32`s up to the end of the input
//! (`submit` is `1 weight:f32 update:f32...`).
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
    contract, ensure, fail, value_struct, Address, Error, Item, Map, Rest, Writer,
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

fn store_update(weight: f32, update: Rest<f32>) -> Result<(), Error> {
    let p = params()?;
    ensure!(
        weight.is_finite() && weight > 0.0,
        "weight must be finite and positive"
    );
    let n = update.len();
    ensure!(
        n >= p,
        "input too short: the update has {n} parameters, the model {p}"
    );
    ensure!(
        n == p,
        "{} unexpected trailing input parameters: the model has {p}",
        n - p
    );
    let bytes = update.encoded();
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
    Ok(())
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

fn aggregate_updates() -> Result<u64, Error> {
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
    Ok(round)
}

fn clear_round() -> Result<(), Error> {
    ensure!(
        COORDINATOR.get() == Some(env::caller()),
        "only the coordinator starts a new round"
    );
    for who in participants() {
        WEIGHTS.remove(&who);
        env::storage_remove(&update_key(&who));
    }
    PARTICIPANTS.remove();
    Ok(())
}

fn split_reward(amount: u128) -> Result<u128, Error> {
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
    Ok(share)
}

value_struct! {
    /// The global model.
    pub struct Model {
        /// The number of aggregations so far (0: no model yet, and no parameters).
        pub round: u64,
        /// Its parameters.
        pub model: Rest<f32>,
    }
}

value_struct! {
    /// The contract's state in numbers.
    pub struct Info {
        /// The model size.
        pub params: u32,
        /// Participants of the running round.
        pub participants: u32,
        /// Aggregations so far.
        pub round: u64,
    }
}

fn read_global() -> Result<Model, Error> {
    let round = ROUND.get_or(0);
    let mut model = Vec::new();
    if round > 0 {
        let p = params()?;
        for k in 0..p.div_ceil(CHUNK_PARAMS) {
            match env::storage_get(&global_key(k)) {
                Some(chunk) => model.extend_from_slice(&chunk),
                None => fail!("global model chunk {k} is missing"),
            };
        }
    }
    Ok(Model {
        round,
        model: Rest::from_encoded(model)?,
    })
}

contract! {
    /// Sets the model size (parameters); the caller becomes the coordinator.
    init fn init(params: u32) -> Result<(), Error> {
        ensure!(
            params > 0 && params <= PARAMS_MAX,
            "model size must be 1..={PARAMS_MAX} parameters, got {params}"
        );
        PARAMS.set(&params);
        COORDINATOR.set(&env::caller());
        ROUND.set(&0);
        Ok(())
    }

    /// Submits (or replaces) the caller's update with its weight (for example its number of
    /// training samples).
    call(1) fn submit(weight: f32, update: Rest<f32>) -> Result<(), Error> {
        store_update(weight, update)
    }

    /// Aggregates the submitted updates into the global model; returns the new round number.
    call(2) fn aggregate() -> Result<u64, Error> {
        aggregate_updates()
    }

    /// (Coordinator) drops all submissions and starts a new round.
    call(3) fn new_round() -> Result<(), Error> {
        clear_round()
    }

    /// The global model (as a call, so that it is answered on-chain if challenged).
    call(4) fn global_model() -> Result<Model, Error> {
        read_global()
    }

    /// (Coordinator) splits `amount` wei of its balance equally among this round's
    /// participants (the remainder stays); returns each one's share.
    call(6) fn reward(amount: u128) -> Result<u128, Error> {
        split_reward(amount)
    }

    /// Withdraws `amount` of the caller's balance to the caller's address (a payout the
    /// executor signs on-chain).
    call(7) fn withdraw(amount: u128) -> Result<(), Error> {
        let me = env::caller();
        env::payout(&me, &me, amount)
    }

    /// The global model.
    query(4) fn model() -> Result<Model, Error> {
        read_global()
    }

    /// The model size, the participants of this round and the round number.
    query(5) fn info() -> Result<Info, Error> {
        Ok(Info {
            params: params()? as u32,
            participants: participants().len() as u32,
            round: ROUND.get_or(0),
        })
    }
}
