//! Every limit the runtime enforces, with its unit in its name.
//!
//! The defaults are sized for the example contracts (the federated-learning contract keeps
//! updates of a million `f32` parameters, 4 MB each) and are the same on every pool member;
//! a pool must agree on them, since a limit decides whether a call succeeds.

/// The limits of one [`WasmtimeEngine`](crate::WasmtimeEngine). All pool members of a contract
/// must use the same values: a call that succeeds under one set may fail under another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineLimits {
    /// Largest contract module accepted by `load`, in bytes.
    pub code_bytes_max: usize,
    /// Largest linear memory a contract may have, in bytes (initial size and `memory.grow`).
    pub memory_bytes_max: usize,
    /// Largest table a contract may have, in elements.
    pub table_elements_max: usize,
    /// Deepest native stack a call may use, in bytes (Wasmtime's `max_wasm_stack`).
    pub stack_bytes_max: usize,
    /// Longest storage key, in bytes.
    pub key_bytes_max: usize,
    /// Longest storage value, in bytes.
    pub value_bytes_max: usize,
    /// Longest output of one call, in bytes.
    pub output_bytes_max: usize,
    /// Most events one call may emit.
    pub events_per_call_max: usize,
    /// Longest event, in bytes.
    pub event_bytes_max: usize,
    /// Most payouts one call may make.
    pub payouts_per_call_max: usize,
    /// Most compiled modules kept in the cache; loading one more evicts the oldest.
    pub modules_cached_max: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            code_bytes_max: 4 << 20,
            memory_bytes_max: 64 << 20,
            table_elements_max: 10_000,
            stack_bytes_max: 512 << 10,
            key_bytes_max: 1 << 10,
            value_bytes_max: 16 << 20,
            output_bytes_max: 16 << 20,
            events_per_call_max: 1_024,
            event_bytes_max: 64 << 10,
            payouts_per_call_max: 256,
            modules_cached_max: 64,
        }
    }
}

/// Fuel charged by host functions, on top of the fuel Wasmtime charges per instruction.
pub mod fuel {
    /// Flat cost of every host call.
    pub const HOST_CALL: u64 = 50;
    /// Bytes moved across the host boundary per unit of fuel (storage, input, output, events).
    pub const BYTES_PER_UNIT: u64 = 8;
    /// Extra cost of a storage write, per call (it grows the state every member keeps).
    pub const STORAGE_WRITE: u64 = 500;
    /// Bytes written to storage per unit of fuel, on top of the copy cost.
    pub const STORED_BYTES_PER_UNIT: u64 = 2;
    /// Cost of one term of one element of `storage_weighted_sum_f32`
    /// (`s = s + w * v[j]`), charged before any element is computed: the 8 bytes it moves
    /// across the host boundary (4 read from storage, 4 of accumulator read and written back)
    /// at the copy rate ([`BYTES_PER_UNIT`]), plus 1 for each of its two float operations, the
    /// price of the `f32.mul` and `f32.add` WebAssembly instructions it replaces. The native
    /// loop is no cheaper per element in fuel than the same arithmetic written as scalar
    /// WebAssembly, so moving a loop into the host never buys a contract more work for its
    /// fuel.
    pub const F32_TERM_ELEMENT: u64 = 8 / BYTES_PER_UNIT + 2;
    /// Cost of the final `* scale` of one element of `storage_weighted_sum_f32`: one `f32.mul`.
    pub const F32_SCALE_ELEMENT: u64 = 1;
}
