//! Helpers shared by the example-contract tests: the committed contract files and a harness
//! that runs one contract on one engine.
#![allow(dead_code)]

use pose_runtime::{
    CallEnv, CallOutcome, ContractEngine, ContractState, Entry, RuntimeError, WasmtimeEngine,
};
use pose_types::{Address, Hash32};

/// The committed example contracts (rebuilt by scripts/build-contracts-wasm).
pub const FEDERATED_LEARNING: &[u8] =
    include_bytes!("../../../../examples/contracts/wasm/federated_learning.wasm");
/// The sealed-bid auction.
pub const AUCTION: &[u8] =
    include_bytes!("../../../../examples/contracts/wasm/sealed_bid_auction.wasm");
/// The token with escrow.
pub const TOKEN: &[u8] = include_bytes!("../../../../examples/contracts/wasm/token_escrow.wasm");
/// Rock-paper-scissors.
pub const RPS: &[u8] =
    include_bytes!("../../../../examples/contracts/wasm/rock_paper_scissors.wasm");

/// A user address made of one repeated byte.
pub fn user(b: u8) -> Address {
    Address([b; 20])
}

/// One contract on one engine, with a clock and a sequence number like an enclave keeps.
pub struct Harness {
    pub engine: WasmtimeEngine,
    pub hash: Hash32,
    pub state: ContractState,
    pub block_time_secs: u64,
    pub seq: u64,
    pub fuel_limit: u64,
    /// Every payout made so far.
    pub payouts: Vec<pose_runtime::Payout>,
}

impl Harness {
    /// Loads `code` on a fresh engine, with an empty state.
    pub fn new(code: &[u8]) -> Self {
        let mut engine = WasmtimeEngine::new().expect("engine");
        let hash = engine.load(code).expect("example contract loads");
        Harness {
            engine,
            hash,
            state: ContractState::default(),
            block_time_secs: 1_000,
            seq: 0,
            fuel_limit: 100_000_000,
            payouts: Vec::new(),
        }
    }

    fn env(&self, who: Address) -> CallEnv {
        let mut random = [0u8; 32];
        random[..8].copy_from_slice(&self.seq.to_le_bytes());
        CallEnv {
            caller: who,
            block_number: self.seq,
            block_time_secs: self.block_time_secs,
            random,
            fuel_limit: self.fuel_limit,
            output_bytes_max: None,
        }
    }

    /// Runs `entry`; checks that a failure left the state unchanged.
    pub fn run(
        &mut self,
        entry: Entry,
        who: Address,
        input: &[u8],
    ) -> Result<CallOutcome, RuntimeError> {
        let env = self.env(who);
        let before = self.state.clone();
        let r = self
            .engine
            .execute(&self.hash, entry, &mut self.state, &env, input);
        match &r {
            Ok(out) => {
                self.seq += 1;
                if entry != Entry::Query {
                    self.payouts.extend(out.payouts.iter().copied());
                }
            }
            Err(_) => assert_eq!(self.state, before, "a failed call changed the state"),
        }
        r
    }

    /// `init` by `who`.
    pub fn init(&mut self, who: Address, input: &[u8]) -> Result<CallOutcome, RuntimeError> {
        self.run(Entry::Init, who, input)
    }

    /// `call` by `who`.
    pub fn call(&mut self, who: Address, input: &[u8]) -> Result<CallOutcome, RuntimeError> {
        self.run(Entry::Call, who, input)
    }

    /// `query` by `who`.
    pub fn query(&mut self, who: Address, input: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        self.run(Entry::Query, who, input).map(|o| o.output)
    }

    /// Credits a deposit, as the enclave does when the chain shows one.
    pub fn deposit(&mut self, who: Address, amount: u128) {
        *self.state.balances.entry(who).or_insert(0) += amount;
    }

    /// `who`'s internal balance.
    pub fn balance(&self, who: Address) -> u128 {
        self.state.balances.get(&who).copied().unwrap_or(0)
    }

    /// Sum of all payouts so far.
    pub fn paid_out(&self) -> u128 {
        self.payouts.iter().map(|p| p.amount_wei).sum()
    }
}

/// Asserts that a call failed because the contract aborted with a message containing `needle`.
pub fn assert_aborted(r: Result<CallOutcome, RuntimeError>, needle: &str) {
    match r {
        Err(RuntimeError::Trap(m)) if m.contains(needle) => {}
        other => panic!("expected an abort containing {needle:?}, got {other:?}"),
    }
}
