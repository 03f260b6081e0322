//! The host API a contract imports from module `pose` (SPEC section 9), and the per-call host
//! state behind it. docs/contracts.md documents the ABI for contract authors.
//!
//! Every write a contract makes goes to an overlay; [`HostState::commit`] applies the overlay
//! to the state only after the call returned successfully.

use std::collections::BTreeMap;

use pose_types::Address;
use wasmtime::{Caller, Extern, Linker, Memory};

use crate::kernel;
use crate::limits::{fuel, EngineLimits};
use crate::{CallEnv, ContractState, Payout, RuntimeError, StateChanges};

/// The import module every host function lives in.
pub const HOST_MODULE: &str = "pose";

/// Names of the host functions, in the order docs/contracts.md lists them.
pub const HOST_FUNCTIONS: &[&str] = &[
    "input_len",
    "input_read",
    "output",
    "storage_len",
    "storage_read",
    "storage_write",
    "storage_remove",
    "storage_weighted_sum_f32",
    "caller",
    "balance_of",
    "transfer",
    "payout",
    "block_number",
    "block_time",
    "random",
    "emit",
    "terminate",
    "abort",
];

/// Return code of `transfer` and `payout` when the source balance is too small.
pub const ERR_INSUFFICIENT_BALANCE: i32 = 1;

/// Everything one call can see and change. Owns the contract state for the duration of the
/// call (Wasmtime stores need `'static` data); the engine moves it back afterwards.
pub(crate) struct HostState {
    pub base: ContractState,
    storage_overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    balance_overlay: BTreeMap<Address, u128>,
    pub env: CallEnv,
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    pub events: Vec<Vec<u8>>,
    pub payouts: Vec<Payout>,
    pub terminate: bool,
    pub memory: Option<Memory>,
    pub limits: EngineLimits,
    /// Why the call must fail, when a host function or the limiter decided so. Takes
    /// precedence over the trap Wasmtime reports.
    pub failure: Option<RuntimeError>,
}

impl HostState {
    pub fn new(base: ContractState, env: CallEnv, input: Vec<u8>, limits: EngineLimits) -> Self {
        HostState {
            base,
            storage_overlay: BTreeMap::new(),
            balance_overlay: BTreeMap::new(),
            env,
            input,
            output: Vec::new(),
            events: Vec::new(),
            payouts: Vec::new(),
            terminate: false,
            memory: None,
            limits,
            failure: None,
        }
    }

    fn storage_get(&self, key: &[u8]) -> Option<&[u8]> {
        match self.storage_overlay.get(key) {
            Some(Some(v)) => Some(v),
            Some(None) => None,
            None => self.base.storage.get(key).map(Vec::as_slice),
        }
    }

    fn balance(&self, who: &Address) -> u128 {
        match self.balance_overlay.get(who) {
            Some(b) => *b,
            None => self.base.balances.get(who).copied().unwrap_or(0),
        }
    }

    /// Moves `amount` out of `from`'s balance; `false` (and no change) if it is short.
    fn debit(&mut self, from: &Address, amount: u128) -> bool {
        let have = self.balance(from);
        match have.checked_sub(amount) {
            Some(left) => {
                self.balance_overlay.insert(*from, left);
                true
            }
            None => false,
        }
    }

    fn credit(&mut self, to: &Address, amount: u128) -> Result<(), RuntimeError> {
        let have = self.balance(to);
        let new = have.checked_add(amount).ok_or_else(|| {
            RuntimeError::InsufficientBalance(format!(
                "crediting {amount} wei to {to} overflows its balance"
            ))
        })?;
        self.balance_overlay.insert(*to, new);
        Ok(())
    }

    /// Applies the overlay to the state and returns it, with what changed (each written key
    /// and the value it replaced). Zero balances are removed so that equal ledgers have equal
    /// state hashes.
    pub fn commit(mut self) -> (ContractState, StateChanges) {
        let mut changes = StateChanges::default();
        for (k, v) in std::mem::take(&mut self.storage_overlay) {
            let old = match v {
                Some(v) => self.base.storage.insert(k.clone(), v),
                None => self.base.storage.remove(&k),
            };
            changes.storage.push((k, old));
        }
        for (a, b) in std::mem::take(&mut self.balance_overlay) {
            let old = if b == 0 {
                self.base.balances.remove(&a)
            } else {
                self.base.balances.insert(a, b)
            };
            changes.balances.push((a, old.unwrap_or(0)));
        }
        (self.base, changes)
    }
}

impl wasmtime::ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes_max {
            let msg = format!(
                "linear memory of {desired} bytes requested (from {current}); the limit is {} bytes",
                self.limits.memory_bytes_max
            );
            self.failure = Some(RuntimeError::ResourceLimit(msg.clone()));
            return Err(wasmtime::Error::msg(msg));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.table_elements_max {
            let msg = format!(
                "table of {desired} elements requested (from {current}); the limit is {} elements",
                self.limits.table_elements_max
            );
            self.failure = Some(RuntimeError::ResourceLimit(msg.clone()));
            return Err(wasmtime::Error::msg(msg));
        }
        Ok(true)
    }
}

type Ctx<'a> = Caller<'a, HostState>;
type HostResult<T> = wasmtime::Result<T>;

/// Records why the call fails and returns the error that makes Wasmtime unwind.
fn fail<T>(caller: &mut Ctx<'_>, err: RuntimeError) -> HostResult<T> {
    let msg = err.to_string();
    if caller.data().failure.is_none() {
        caller.data_mut().failure = Some(err);
    }
    Err(wasmtime::Error::msg(msg))
}

/// Charges `units` of fuel; fails the call with `OutOfFuel` if not enough is left.
fn charge(caller: &mut Ctx<'_>, units: u64) -> HostResult<()> {
    let left = caller.get_fuel()?;
    if left < units {
        caller.set_fuel(0)?;
        let fuel_limit = caller.data().env.fuel_limit;
        return fail(caller, RuntimeError::OutOfFuel { fuel_limit });
    }
    caller.set_fuel(left - units)
}

fn copy_cost(bytes: usize) -> u64 {
    fuel::HOST_CALL + (bytes as u64).div_ceil(fuel::BYTES_PER_UNIT)
}

fn memory(caller: &mut Ctx<'_>) -> HostResult<Memory> {
    match caller.data().memory {
        Some(m) => Ok(m),
        None => match caller.get_export("memory") {
            Some(Extern::Memory(m)) => Ok(m),
            _ => fail(caller, RuntimeError::MissingExport("memory".into())),
        },
    }
}

/// The bytes `ptr .. ptr + len` of linear memory, or a trap if they do not all lie inside it.
fn range(
    caller: &mut Ctx<'_>,
    ptr: u32,
    len: usize,
    what: &str,
) -> HostResult<std::ops::Range<usize>> {
    let mem = memory(caller)?;
    let size = mem.data_size(&*caller);
    let start = ptr as usize;
    match start.checked_add(len) {
        Some(end) if end <= size => Ok(start..end),
        _ => fail(
            caller,
            RuntimeError::Trap(format!(
                "{what}: range {ptr}+{len} lies outside linear memory of {size} bytes"
            )),
        ),
    }
}

/// Copies `len` bytes at `ptr` out of the contract's memory.
fn read_bytes(caller: &mut Ctx<'_>, ptr: u32, len: u32, what: &str) -> HostResult<Vec<u8>> {
    let r = range(caller, ptr, len as usize, what)?;
    let mem = memory(caller)?;
    Ok(mem.data(&*caller)[r].to_vec())
}

fn read_array<const N: usize>(caller: &mut Ctx<'_>, ptr: u32, what: &str) -> HostResult<[u8; N]> {
    let r = range(caller, ptr, N, what)?;
    let mem = memory(caller)?;
    let mut out = [0u8; N];
    out.copy_from_slice(&mem.data(&*caller)[r]);
    Ok(out)
}

/// Copies `bytes` into the contract's memory at `ptr`.
fn write_bytes(caller: &mut Ctx<'_>, ptr: u32, bytes: &[u8], what: &str) -> HostResult<()> {
    let r = range(caller, ptr, bytes.len(), what)?;
    let mem = memory(caller)?;
    mem.data_mut(&mut *caller)[r].copy_from_slice(bytes);
    Ok(())
}

fn read_key(caller: &mut Ctx<'_>, ptr: u32, len: u32) -> HostResult<Vec<u8>> {
    let max = caller.data().limits.key_bytes_max;
    if len as usize > max {
        return fail(
            caller,
            RuntimeError::ResourceLimit(format!("storage key of {len} bytes; the limit is {max}")),
        );
    }
    read_bytes(caller, ptr, len, "storage key")
}

fn read_amount(caller: &mut Ctx<'_>, ptr: u32) -> HostResult<u128> {
    Ok(u128::from_le_bytes(read_array::<16>(
        caller, ptr, "amount",
    )?))
}

/// Bytes of one term record of `storage_weighted_sum_f32`: `key_ptr: u32`, `key_len: u32`,
/// `weight: f32`, little-endian.
const TERM_RECORD_BYTES: usize = 12;

/// `storage_weighted_sum_f32(terms_ptr, terms_len, offset, scale, acc_ptr, acc_len) -> i64`:
/// for the `acc_len` little-endian `f32`s `acc` at `acc_ptr` and the `terms_len` terms at
/// `terms_ptr` (records of [`TERM_RECORD_BYTES`]: a storage key and a weight `w_t`), reads
/// each key's value from byte `offset` on as little-endian `f32`s `v_t` and sets
/// `acc[j] = (((acc[j] + w_0 * v_0[j]) + w_1 * v_1[j]) + ...) * scale`
/// ([`kernel::weighted_sum_f32_le`] defines the arithmetic) for every `j` below the shortest
/// value (or `acc_len`), without copying any value into linear memory. Returns the number of
/// elements set, or -1 (and `acc` untouched) if a key has no value.
///
/// Metering, all charged before the work it pays for: [`copy_cost`] of the term records, then
/// of each key as it is read (so a long list of terms is paid for before it is looked at);
/// then, once the number of elements `n` is known, `n * (terms * F32_TERM_ELEMENT +
/// F32_SCALE_ELEMENT)` (see [`fuel`]) before any element is written. Traps: the records, a
/// key or the whole accumulator (`4 * acc_len` bytes, whatever the storage holds) outside
/// linear memory; a key longer than the limit. A failing call leaves `acc` untouched.
fn storage_weighted_sum_f32(
    mut c: Ctx<'_>,
    terms_ptr: u32,
    terms_len: u32,
    offset: u32,
    scale: f32,
    acc_ptr: u32,
    acc_len: u32,
) -> HostResult<i64> {
    let records_len = (terms_len as usize).saturating_mul(TERM_RECORD_BYTES);
    charge(&mut c, copy_cost(records_len))?;
    let records = range(&mut c, terms_ptr, records_len, "weighted sum terms")?;
    let records = memory(&mut c)?.data(&c)[records].to_vec();
    let mut keys = Vec::with_capacity(terms_len as usize);
    let mut weights = Vec::with_capacity(terms_len as usize);
    for r in records.as_chunks::<TERM_RECORD_BYTES>().0 {
        let word = |i: usize| [r[i], r[i + 1], r[i + 2], r[i + 3]];
        let (key_ptr, key_len) = (u32::from_le_bytes(word(0)), u32::from_le_bytes(word(4)));
        charge(&mut c, copy_cost(key_len as usize))?;
        keys.push(read_key(&mut c, key_ptr, key_len)?);
        weights.push(f32::from_le_bytes(word(8)));
    }
    let acc = range(
        &mut c,
        acc_ptr,
        (acc_len as usize).saturating_mul(4),
        "accumulator",
    )?;
    let mut n = acc_len as usize;
    for key in &keys {
        let Some(value_len) = c.data().storage_get(key).map(<[u8]>::len) else {
            return Ok(-1);
        };
        n = n.min(value_len.saturating_sub(offset as usize) / 4);
    }
    let per_element = (keys.len() as u64)
        .saturating_mul(fuel::F32_TERM_ELEMENT)
        .saturating_add(fuel::F32_SCALE_ELEMENT);
    charge(&mut c, (n as u64).saturating_mul(per_element))?;
    let start = offset as usize;
    let mem = memory(&mut c)?;
    let (data, host) = mem.data_and_store_mut(&mut c);
    let mut terms = Vec::with_capacity(keys.len());
    for (key, weight) in keys.iter().zip(weights) {
        match host.storage_get(key) {
            // Every value holds `start + 4 * n` bytes, except when `n` is 0.
            Some(v) => terms.push(kernel::Term {
                values: v.get(start..start + 4 * n).unwrap_or_default(),
                weight,
            }),
            None => return Ok(-1),
        }
    }
    kernel::weighted_sum_f32_le(&mut data[acc.start..acc.start + 4 * n], &terms, scale);
    Ok(n as i64)
}

/// Registers every host function of module `pose` in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = HOST_MODULE;

    linker.func_wrap(m, "input_len", |mut c: Ctx<'_>| -> HostResult<u32> {
        charge(&mut c, fuel::HOST_CALL)?;
        Ok(c.data().input.len() as u32)
    })?;

    linker.func_wrap(
        m,
        "input_read",
        |mut c: Ctx<'_>, ptr: u32| -> HostResult<()> {
            let len = c.data().input.len();
            charge(&mut c, copy_cost(len))?;
            let r = range(&mut c, ptr, len, "input buffer")?;
            let mem = memory(&mut c)?;
            let (data, host) = mem.data_and_store_mut(&mut c);
            data[r].copy_from_slice(&host.input);
            Ok(())
        },
    )?;

    linker.func_wrap(
        m,
        "output",
        |mut c: Ctx<'_>, ptr: u32, len: u32| -> HostResult<()> {
            charge(&mut c, copy_cost(len as usize))?;
            let engine_max = c.data().limits.output_bytes_max;
            let max = c
                .data()
                .env
                .output_bytes_max
                .map_or(engine_max, |m| m.min(engine_max));
            if len as usize > max {
                return fail(
                    &mut c,
                    RuntimeError::ResourceLimit(format!(
                        "output of {len} bytes; the limit is {max}"
                    )),
                );
            }
            let bytes = read_bytes(&mut c, ptr, len, "output")?;
            c.data_mut().output = bytes;
            Ok(())
        },
    )?;

    linker.func_wrap(
        m,
        "storage_len",
        |mut c: Ctx<'_>, key_ptr: u32, key_len: u32| -> HostResult<i64> {
            charge(&mut c, copy_cost(key_len as usize))?;
            let key = read_key(&mut c, key_ptr, key_len)?;
            Ok(c.data().storage_get(&key).map_or(-1, |v| v.len() as i64))
        },
    )?;

    linker.func_wrap(
        m,
        "storage_read",
        |mut c: Ctx<'_>,
         key_ptr: u32,
         key_len: u32,
         offset: u32,
         out_ptr: u32,
         out_len: u32|
         -> HostResult<i64> {
            charge(&mut c, copy_cost(key_len as usize))?;
            let key = read_key(&mut c, key_ptr, key_len)?;
            let Some(value_len) = c.data().storage_get(&key).map(<[u8]>::len) else {
                return Ok(-1);
            };
            let start = (offset as usize).min(value_len);
            let n = (out_len as usize).min(value_len - start);
            charge(&mut c, (n as u64).div_ceil(fuel::BYTES_PER_UNIT))?;
            let r = range(&mut c, out_ptr, n, "storage read buffer")?;
            let mem = memory(&mut c)?;
            let (data, host) = mem.data_and_store_mut(&mut c);
            if let Some(v) = host.storage_get(&key) {
                data[r].copy_from_slice(&v[start..start + n]);
            }
            Ok(n as i64)
        },
    )?;

    linker.func_wrap(
        m,
        "storage_write",
        |mut c: Ctx<'_>,
         key_ptr: u32,
         key_len: u32,
         val_ptr: u32,
         val_len: u32|
         -> HostResult<()> {
            let bytes = key_len as usize + val_len as usize;
            let cost = copy_cost(bytes)
                + fuel::STORAGE_WRITE
                + (bytes as u64).div_ceil(fuel::STORED_BYTES_PER_UNIT);
            charge(&mut c, cost)?;
            let max = c.data().limits.value_bytes_max;
            if val_len as usize > max {
                return fail(
                    &mut c,
                    RuntimeError::ResourceLimit(format!(
                        "storage value of {val_len} bytes; the limit is {max}"
                    )),
                );
            }
            let key = read_key(&mut c, key_ptr, key_len)?;
            let value = read_bytes(&mut c, val_ptr, val_len, "storage value")?;
            c.data_mut().storage_overlay.insert(key, Some(value));
            Ok(())
        },
    )?;

    linker.func_wrap(
        m,
        "storage_remove",
        |mut c: Ctx<'_>, key_ptr: u32, key_len: u32| -> HostResult<u32> {
            charge(&mut c, copy_cost(key_len as usize) + fuel::STORAGE_WRITE)?;
            let key = read_key(&mut c, key_ptr, key_len)?;
            let existed = c.data().storage_get(&key).is_some();
            c.data_mut().storage_overlay.insert(key, None);
            Ok(u32::from(existed))
        },
    )?;

    linker.func_wrap(m, "storage_weighted_sum_f32", storage_weighted_sum_f32)?;

    linker.func_wrap(
        m,
        "caller",
        |mut c: Ctx<'_>, out_ptr: u32| -> HostResult<()> {
            charge(&mut c, fuel::HOST_CALL)?;
            let who = c.data().env.caller.0;
            write_bytes(&mut c, out_ptr, &who, "caller buffer")
        },
    )?;

    linker.func_wrap(
        m,
        "balance_of",
        |mut c: Ctx<'_>, addr_ptr: u32, out_ptr: u32| -> HostResult<()> {
            charge(&mut c, fuel::HOST_CALL)?;
            let who = Address(read_array::<20>(&mut c, addr_ptr, "address")?);
            let b = c.data().balance(&who);
            write_bytes(&mut c, out_ptr, &b.to_le_bytes(), "balance buffer")
        },
    )?;

    linker.func_wrap(
        m,
        "transfer",
        |mut c: Ctx<'_>, from_ptr: u32, to_ptr: u32, amount_ptr: u32| -> HostResult<i32> {
            charge(&mut c, fuel::HOST_CALL + fuel::STORAGE_WRITE)?;
            let from = Address(read_array::<20>(&mut c, from_ptr, "from address")?);
            let to = Address(read_array::<20>(&mut c, to_ptr, "to address")?);
            let amount = read_amount(&mut c, amount_ptr)?;
            if !c.data_mut().debit(&from, amount) {
                return Ok(ERR_INSUFFICIENT_BALANCE);
            }
            if let Err(e) = c.data_mut().credit(&to, amount) {
                return fail(&mut c, e);
            }
            Ok(0)
        },
    )?;

    linker.func_wrap(
        m,
        "payout",
        |mut c: Ctx<'_>, from_ptr: u32, to_ptr: u32, amount_ptr: u32| -> HostResult<i32> {
            charge(&mut c, fuel::HOST_CALL + fuel::STORAGE_WRITE)?;
            let from = Address(read_array::<20>(&mut c, from_ptr, "from address")?);
            let to = Address(read_array::<20>(&mut c, to_ptr, "recipient address")?);
            let amount_wei = read_amount(&mut c, amount_ptr)?;
            let max = c.data().limits.payouts_per_call_max;
            if c.data().payouts.len() >= max {
                return fail(
                    &mut c,
                    RuntimeError::ResourceLimit(format!("more than {max} payouts in one call")),
                );
            }
            if !c.data_mut().debit(&from, amount_wei) {
                return Ok(ERR_INSUFFICIENT_BALANCE);
            }
            c.data_mut().payouts.push(Payout { to, amount_wei });
            Ok(0)
        },
    )?;

    linker.func_wrap(m, "block_number", |mut c: Ctx<'_>| -> HostResult<u64> {
        charge(&mut c, fuel::HOST_CALL)?;
        Ok(c.data().env.block_number)
    })?;

    linker.func_wrap(m, "block_time", |mut c: Ctx<'_>| -> HostResult<u64> {
        charge(&mut c, fuel::HOST_CALL)?;
        Ok(c.data().env.block_time_secs)
    })?;

    linker.func_wrap(
        m,
        "random",
        |mut c: Ctx<'_>, out_ptr: u32| -> HostResult<()> {
            charge(&mut c, fuel::HOST_CALL)?;
            let r = c.data().env.random;
            write_bytes(&mut c, out_ptr, &r, "random buffer")
        },
    )?;

    linker.func_wrap(
        m,
        "emit",
        |mut c: Ctx<'_>, ptr: u32, len: u32| -> HostResult<()> {
            charge(&mut c, copy_cost(len as usize))?;
            let (count_max, bytes_max) = {
                let l = &c.data().limits;
                (l.events_per_call_max, l.event_bytes_max)
            };
            let count = c.data().events.len();
            if len as usize > bytes_max || count >= count_max {
                return fail(
                    &mut c,
                    RuntimeError::ResourceLimit(format!(
                    "event of {len} bytes as event number {}; the limits are {bytes_max} bytes \
                     and {count_max} events per call",
                    count + 1
                )),
                );
            }
            let bytes = read_bytes(&mut c, ptr, len, "event")?;
            c.data_mut().events.push(bytes);
            Ok(())
        },
    )?;

    linker.func_wrap(m, "terminate", |mut c: Ctx<'_>| -> HostResult<()> {
        charge(&mut c, fuel::HOST_CALL)?;
        c.data_mut().terminate = true;
        Ok(())
    })?;

    linker.func_wrap(
        m,
        "abort",
        |mut c: Ctx<'_>, ptr: u32, len: u32| -> HostResult<()> {
            let len = len.min(4096);
            let msg = match read_bytes(&mut c, ptr, len, "abort message") {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(_) => String::from("(message out of bounds)"),
            };
            fail(
                &mut c,
                RuntimeError::Trap(format!("contract aborted: {msg}")),
            )
        },
    )?;

    Ok(())
}
