//! The contract virtual machine: metered, deterministic WebAssembly execution with the host API
//! that contracts see (SPEC section 9).
//!
//! The enclave drives contracts only through [`ContractEngine`], so another engine (an
//! interpreter for TEEs that forbid JIT, or a trivial engine in tests) can replace the default.
//!
//! Architecture invariant: a call that fails (trap, fuel exhausted, memory limit, bad module)
//! leaves the [`ContractState`] exactly as it was.

mod host;
mod kernel;
pub mod limits;
pub mod state;
mod wasmtime_engine;

pub use host::{ERR_INSUFFICIENT_BALANCE, HOST_FUNCTIONS, HOST_MODULE};
pub use limits::EngineLimits;
pub use state::{ContractState, StateChanges};
pub use wasmtime_engine::{code_hash, EngineOptions, WasmtimeEngine};

use pose_types::{Address, Hash32};

/// Which entry point of a contract to run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Entry {
    /// Runs once at creation, on an empty state.
    Init,
    /// A state-changing call.
    Call,
    /// A read-only query: any change it makes to the state is discarded.
    Query,
}

/// What the contract may learn about the world for one call. Every field is chosen by the
/// enclave, so the same `CallEnv` and input give the same result on every pool member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallEnv {
    /// The user who sent the request (or who created the contract, for `init`).
    pub caller: Address,
    /// Block number of the last confirmed chain event the enclave processed.
    pub block_number: u64,
    /// Block timestamp of that event, in seconds since the Unix epoch.
    pub block_time_secs: u64,
    /// Per-request randomness derived from the contract secret and the sequence number.
    pub random: [u8; 32],
    /// Fuel budget for this call; running out aborts the call.
    pub fuel_limit: u64,
    /// Longest output this call may set, in bytes, on top of the engine's own limit
    /// ([`EngineLimits::output_bytes_max`]); `None`: the engine's limit only. A longer output
    /// fails the call (the state stays unchanged). The enclave bounds every call so that its
    /// answer fits on-chain.
    pub output_bytes_max: Option<usize>,
}

/// A payout the contract decided: the enclave signs it for the manager's `withdraw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payout {
    /// Who receives the coins on-chain.
    pub to: Address,
    /// How much, in wei; already debited from the contract's internal balances.
    pub amount_wei: u128,
}

/// The result of a successful call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOutcome {
    /// Bytes returned to the caller (encrypted to the caller by the enclave).
    pub output: Vec<u8>,
    /// Events the contract emitted, in order.
    pub events: Vec<Vec<u8>>,
    /// Payouts the contract made, in order.
    pub payouts: Vec<Payout>,
    /// True if the contract asked to terminate after this call.
    pub terminate: bool,
    /// Fuel the call consumed.
    pub fuel_used: u64,
    /// What the call changed in the state (empty for [`Entry::Query`]).
    pub changes: StateChanges,
}

/// Why a call or a module was refused. In every case the state is unchanged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuntimeError {
    /// The module is not valid WebAssembly or uses a feature the deterministic config forbids.
    #[error("invalid contract module: {0}")]
    InvalidModule(String),
    /// The module imports a function the host does not provide.
    #[error("contract imports `{module}::{name}`, which the host does not provide")]
    UnknownImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// The module lacks a required export.
    #[error("contract does not export `{0}`")]
    MissingExport(String),
    /// No module with this code hash was loaded.
    #[error("no contract code loaded with hash {0}")]
    UnknownCode(Hash32),
    /// The call used up its fuel budget.
    #[error("out of fuel after {fuel_limit} units")]
    OutOfFuel {
        /// The budget that ran out.
        fuel_limit: u64,
    },
    /// The contract trapped or aborted.
    #[error("contract trapped: {0}")]
    Trap(String),
    /// The contract tried to grow memory or a table past the limit.
    #[error("contract exceeded a resource limit: {0}")]
    ResourceLimit(String),
    /// The contract tried to move coins it does not have.
    #[error("insufficient internal balance: {0}")]
    InsufficientBalance(String),
}

/// A contract virtual machine. Implementations must be deterministic: the same code, state,
/// `CallEnv` and input give the same outcome and the same new state on every machine.
pub trait ContractEngine {
    /// Validates and compiles `code`; returns its code hash (keccak256 of the bytes is not
    /// required: sha256 of the code). Refuses invalid modules and unknown imports.
    fn load(&mut self, code: &[u8]) -> Result<Hash32, RuntimeError>;

    /// Runs `entry` of the loaded module `code_hash` on `state` with `input`.
    /// On `Ok` the state holds the call's changes (none for [`Entry::Query`]);
    /// on `Err` the state is exactly as before. An output longer than
    /// [`CallEnv::output_bytes_max`] is an `Err`.
    fn execute(
        &mut self,
        code_hash: &Hash32,
        entry: Entry,
        state: &mut ContractState,
        env: &CallEnv,
        input: &[u8],
    ) -> Result<CallOutcome, RuntimeError>;
}
