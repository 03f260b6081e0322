//! The default [`ContractEngine`]: Wasmtime with the Cranelift compiler, configured for
//! deterministic execution and metered by fuel.

use std::collections::{BTreeMap, VecDeque};

use pose_types::Hash32;
use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Enabled, Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module,
    OptLevel, PoolingAllocationConfig, Store, Strategy, Trap, WasmFeatures,
};

use crate::host::{self, HostState, HOST_FUNCTIONS, HOST_MODULE};
use crate::limits::EngineLimits;
use crate::{
    CallEnv, CallOutcome, ContractEngine, ContractState, Entry, RuntimeError, StateChanges,
};

/// Options of a [`WasmtimeEngine`] beyond its limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// Resource limits; every pool member must use the same.
    pub limits: EngineLimits,
    /// Accept the fixed-width SIMD proposal (`simd128`). It is deterministic once NaNs are
    /// canonicalised; relaxed SIMD is always refused. BENCHMARKS.md shows what it buys.
    pub simd: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            limits: EngineLimits::default(),
            simd: true,
        }
    }
}

/// Instance slots of an engine's pool. One suffices: `execute` takes `&mut self` and drops the
/// call's store (and with it the instance) before it returns, so an engine never has two
/// instances alive at once.
const POOL_SLOTS: u32 = 1;

/// Bytes of linear memory the pool keeps mapped between calls. A slot's pages that a call
/// touched below this size are zeroed with `memset` when the instance is dropped (only the
/// touched ones, found with Linux's `PAGEMAP_SCAN` where the kernel has it) instead of being
/// unmapped, so the next call does not take a page fault on every page it touches again.
/// 16 MiB covers the federated-learning contract's working set with room to spare; memory
/// above it is returned to the kernel as before.
const KEEP_RESIDENT_BYTES: usize = 16 << 20;

/// Table elements a pool slot has room for. Above it a module is refused at load
/// (`InvalidModule`); up to it, [`EngineLimits::table_elements_max`] is enforced by the
/// resource limiter as without a pool (`ResourceLimit`). Elements are pointer-sized, so this
/// reserves 8 MiB of address space, touched only as far as a table is used.
const POOL_TABLE_ELEMENTS: usize = 1 << 20;

/// Wasmtime's pooling instance allocator with one slot. Memories keep the pool's default
/// maximum (4 GiB, all a 32-bit memory can address), so [`EngineLimits::memory_bytes_max`] is
/// still enforced by the resource limiter, with the same error as without a pool. Slots are
/// reused across calls, but every call still starts from the module's initial memory image:
/// pooling changes where memory lives, not what a contract can observe.
fn pool(limits: &EngineLimits) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(POOL_SLOTS)
        .total_memories(POOL_SLOTS)
        .total_tables(POOL_SLOTS)
        .max_unused_warm_slots(POOL_SLOTS)
        .table_elements(POOL_TABLE_ELEMENTS.max(limits.table_elements_max))
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .pagemap_scan(Enabled::Auto);
    pool
}

/// The code hash `load` returns: sha256 of the module bytes.
pub fn code_hash(code: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(code).into())
}

/// Wasmtime (Cranelift) behind [`ContractEngine`], with a cache of compiled modules keyed by
/// code hash.
///
/// Determinism: NaN results are canonicalised, threads, relaxed SIMD, multiple memories,
/// 64-bit memories, GC and exceptions are off, and fuel counts WebAssembly instructions the
/// same way on every machine. The native stack limit (`stack_bytes_max`) depends on the
/// compiled code's frame sizes, which are the same for one enclave build on one architecture.
pub struct WasmtimeEngine {
    engine: Engine,
    linker: Linker<HostState>,
    modules: BTreeMap<Hash32, Loaded>,
    order: VecDeque<Hash32>,
    limits: EngineLimits,
}

struct Loaded {
    pre: InstancePre<HostState>,
    has_init: bool,
    has_query: bool,
}

impl WasmtimeEngine {
    /// An engine with the default limits and options.
    pub fn new() -> Result<Self, RuntimeError> {
        Self::with_options(EngineOptions::default())
    }

    /// An engine with the given options.
    pub fn with_options(options: EngineOptions) -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config
            .strategy(Strategy::Cranelift)
            .cranelift_opt_level(OptLevel::Speed)
            .cranelift_nan_canonicalization(true)
            .consume_fuel(true)
            .max_wasm_stack(options.limits.stack_bytes_max)
            .wasm_simd(options.simd)
            .wasm_relaxed_simd(false)
            .relaxed_simd_deterministic(true)
            .wasm_bulk_memory(true)
            .wasm_multi_value(true)
            .wasm_multi_memory(false)
            .wasm_memory64(false)
            .wasm_tail_call(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false)
            .wasm_stack_switching(false)
            .wasm_shared_everything_threads(false)
            .wasm_features(WasmFeatures::THREADS | WasmFeatures::EXCEPTIONS, false)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool(&options.limits)));
        let engine = Engine::new(&config)
            .map_err(|e| RuntimeError::InvalidModule(format!("engine configuration: {e}")))?;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker)
            .map_err(|e| RuntimeError::InvalidModule(format!("host functions: {e}")))?;
        Ok(WasmtimeEngine {
            engine,
            linker,
            modules: BTreeMap::new(),
            order: VecDeque::new(),
            limits: options.limits,
        })
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> &EngineLimits {
        &self.limits
    }

    /// True if a module with this code hash is compiled and cached.
    pub fn is_loaded(&self, code_hash: &Hash32) -> bool {
        self.modules.contains_key(code_hash)
    }

    fn compile(&self, code: &[u8]) -> Result<Loaded, RuntimeError> {
        if code.len() > self.limits.code_bytes_max {
            return Err(RuntimeError::InvalidModule(format!(
                "module of {} bytes; the limit is {} bytes",
                code.len(),
                self.limits.code_bytes_max
            )));
        }
        let module = Module::new(&self.engine, code)
            .map_err(|e| RuntimeError::InvalidModule(format!("{e:#}")))?;
        for import in module.imports() {
            let known = import.module() == HOST_MODULE
                && HOST_FUNCTIONS.contains(&import.name())
                && matches!(import.ty(), ExternType::Func(_));
            if !known {
                return Err(RuntimeError::UnknownImport {
                    module: import.module().to_string(),
                    name: import.name().to_string(),
                });
            }
        }
        let func_export = |name: &str| -> Result<bool, RuntimeError> {
            match module.get_export(name) {
                None => Ok(false),
                Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {
                    Ok(true)
                }
                Some(_) => Err(RuntimeError::InvalidModule(format!(
                    "export `{name}` must be a function without parameters or results"
                ))),
            }
        };
        if !func_export("call")? {
            return Err(RuntimeError::MissingExport("call".into()));
        }
        let has_init = func_export("init")?;
        let has_query = func_export("query")?;
        if !matches!(module.get_export("memory"), Some(ExternType::Memory(_))) {
            return Err(RuntimeError::MissingExport("memory".into()));
        }
        let pre = self.linker.instantiate_pre(&module).map_err(|e| {
            RuntimeError::InvalidModule(format!("imports do not match the host: {e:#}"))
        })?;
        Ok(Loaded {
            pre,
            has_init,
            has_query,
        })
    }

    fn run(
        &self,
        loaded: &Loaded,
        entry: Entry,
        state: &mut ContractState,
        env: &CallEnv,
        input: &[u8],
    ) -> Result<CallOutcome, RuntimeError> {
        let name = match entry {
            Entry::Init => "init",
            Entry::Call => "call",
            Entry::Query => "query",
        };
        let base = std::mem::take(state);
        let data = HostState::new(base, env.clone(), input.to_vec(), self.limits.clone());
        let mut store = Store::new(&self.engine, data);
        store.limiter(|h: &mut HostState| -> &mut dyn wasmtime::ResourceLimiter { h });
        let result = (|| -> wasmtime::Result<()> {
            store.set_fuel(env.fuel_limit)?;
            let instance = loaded.pre.instantiate(&mut store)?;
            store.data_mut().memory = instance.get_memory(&mut store, "memory");
            let func = instance.get_typed_func::<(), ()>(&mut store, name)?;
            func.call(&mut store, ())
        })();
        let fuel_left = store.get_fuel().unwrap_or(0);
        let mut host = store.into_data();
        match result {
            Ok(()) => {
                let outcome = CallOutcome {
                    output: std::mem::take(&mut host.output),
                    events: std::mem::take(&mut host.events),
                    payouts: std::mem::take(&mut host.payouts),
                    terminate: host.terminate,
                    fuel_used: env.fuel_limit.saturating_sub(fuel_left),
                    changes: StateChanges::default(),
                };
                if entry == Entry::Query {
                    *state = host.base;
                    Ok(CallOutcome {
                        events: Vec::new(),
                        payouts: Vec::new(),
                        terminate: false,
                        ..outcome
                    })
                } else {
                    let (committed, changes) = host.commit();
                    *state = committed;
                    Ok(CallOutcome { changes, ..outcome })
                }
            }
            Err(e) => {
                let err = match host.failure.take() {
                    Some(f) => f,
                    None => match e.downcast_ref::<Trap>() {
                        Some(Trap::OutOfFuel) => RuntimeError::OutOfFuel {
                            fuel_limit: env.fuel_limit,
                        },
                        Some(t) => RuntimeError::Trap(t.to_string()),
                        None => RuntimeError::Trap(format!("{e:#}")),
                    },
                };
                *state = host.base;
                Err(err)
            }
        }
    }
}

impl ContractEngine for WasmtimeEngine {
    fn load(&mut self, code: &[u8]) -> Result<Hash32, RuntimeError> {
        let hash = code_hash(code);
        if self.modules.contains_key(&hash) {
            return Ok(hash);
        }
        let loaded = self.compile(code)?;
        while self.modules.len() >= self.limits.modules_cached_max.max(1) {
            match self.order.pop_front() {
                Some(old) => {
                    self.modules.remove(&old);
                }
                None => break,
            }
        }
        self.modules.insert(hash, loaded);
        self.order.push_back(hash);
        Ok(hash)
    }

    fn execute(
        &mut self,
        code_hash: &Hash32,
        entry: Entry,
        state: &mut ContractState,
        env: &CallEnv,
        input: &[u8],
    ) -> Result<CallOutcome, RuntimeError> {
        let loaded = self
            .modules
            .get(code_hash)
            .ok_or(RuntimeError::UnknownCode(*code_hash))?;
        match entry {
            Entry::Init if !loaded.has_init => {
                return Ok(CallOutcome::default());
            }
            Entry::Query if !loaded.has_query => {
                return Err(RuntimeError::MissingExport("query".into()));
            }
            _ => {}
        }
        self.run(loaded, entry, state, env, input)
    }
}
