//! Safe bindings to the host functions of module `pose` (docs/contracts.md describes the ABI).
//!
//! This is the only module of the SDK with unsafe code: the raw imports take pointers, and
//! every pointer passed here points into a live Rust value of at least the stated length.
#![allow(unsafe_code)]

use alloc::vec;
use alloc::vec::Vec;

use crate::codec::{Address, Error};

mod ffi {
    #[link(wasm_import_module = "pose")]
    extern "C" {
        pub fn input_len() -> u32;
        pub fn input_read(out_ptr: *mut u8);
        pub fn output(ptr: *const u8, len: u32);
        pub fn storage_len(key_ptr: *const u8, key_len: u32) -> i64;
        pub fn storage_read(
            key_ptr: *const u8,
            key_len: u32,
            offset: u32,
            out_ptr: *mut u8,
            out_len: u32,
        ) -> i64;
        pub fn storage_write(key_ptr: *const u8, key_len: u32, val_ptr: *const u8, val_len: u32);
        pub fn storage_remove(key_ptr: *const u8, key_len: u32) -> u32;
        pub fn storage_weighted_sum_f32(
            terms_ptr: *const u8,
            terms_len: u32,
            offset: u32,
            scale: f32,
            acc_ptr: *mut f32,
            acc_len: u32,
        ) -> i64;
        pub fn caller(out_ptr: *mut u8);
        pub fn balance_of(addr_ptr: *const u8, out_ptr: *mut u8);
        pub fn transfer(from_ptr: *const u8, to_ptr: *const u8, amount_ptr: *const u8) -> i32;
        pub fn payout(from_ptr: *const u8, to_ptr: *const u8, amount_ptr: *const u8) -> i32;
        pub fn block_number() -> u64;
        pub fn block_time() -> u64;
        pub fn random(out_ptr: *mut u8);
        pub fn emit(ptr: *const u8, len: u32);
        pub fn terminate();
        pub fn abort(ptr: *const u8, len: u32);
    }
}

/// The call's input bytes.
pub fn input() -> Vec<u8> {
    // SAFETY: the host writes exactly `input_len()` bytes to the buffer.
    unsafe {
        let mut buf = vec![0u8; ffi::input_len() as usize];
        ffi::input_read(buf.as_mut_ptr());
        buf
    }
}

/// Sets the call's output (replacing an earlier one).
pub fn set_output(bytes: &[u8]) {
    // SAFETY: the host reads `bytes.len()` bytes from a live slice.
    unsafe { ffi::output(bytes.as_ptr(), bytes.len() as u32) }
}

/// The length of the value stored under `key`, if any.
pub fn storage_len(key: &[u8]) -> Option<usize> {
    // SAFETY: the host reads `key.len()` bytes from a live slice.
    let n = unsafe { ffi::storage_len(key.as_ptr(), key.len() as u32) };
    usize::try_from(n).ok()
}

/// The value stored under `key`, if any.
pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
    let len = storage_len(key)?;
    let mut buf = vec![0u8; len];
    storage_read(key, 0, &mut buf)?;
    Some(buf)
}

/// Copies the value under `key`, from byte `offset` on, into `buf`; returns how many bytes
/// were copied (fewer than `buf.len()` at the end of the value), or `None` if there is no
/// value. Lets a contract stream a large value through a small buffer.
pub fn storage_read(key: &[u8], offset: usize, buf: &mut [u8]) -> Option<usize> {
    let offset = u32::try_from(offset).unwrap_or(u32::MAX);
    // SAFETY: the host writes at most `buf.len()` bytes into a live mutable slice.
    let n = unsafe {
        ffi::storage_read(
            key.as_ptr(),
            key.len() as u32,
            offset,
            buf.as_mut_ptr(),
            buf.len() as u32,
        )
    };
    usize::try_from(n).ok()
}

/// Stores `value` under `key`.
pub fn storage_set(key: &[u8], value: &[u8]) {
    // SAFETY: the host reads from two live slices of the given lengths.
    unsafe {
        ffi::storage_write(
            key.as_ptr(),
            key.len() as u32,
            value.as_ptr(),
            value.len() as u32,
        )
    }
}

/// Removes the value under `key`; true if there was one.
pub fn storage_remove(key: &[u8]) -> bool {
    // SAFETY: the host reads `key.len()` bytes from a live slice.
    unsafe { ffi::storage_remove(key.as_ptr(), key.len() as u32) != 0 }
}

/// One term of [`storage_weighted_sum_f32`]: the `f32` vector stored under `key`, times
/// `weight`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightedKey<'a> {
    /// Storage key of the vector (little-endian `f32`s).
    pub key: &'a [u8],
    /// Factor its elements are multiplied by.
    pub weight: f32,
}

/// A weighted sum of `f32` vectors kept in storage, computed by the runtime without copying
/// them into the contract. Reading each term's value from byte `offset` on as little-endian
/// `f32`s `v_t[0], v_t[1], ...`, sets, for every `j` below `acc.len()` and below the length of
/// the shortest value:
///
/// `acc[j] = (((acc[j] + w_0 * v_0[j]) + w_1 * v_1[j]) + ... + w_{k-1} * v_{k-1}[j]) * scale`
///
/// and returns how many elements were set (fewer than `acc.len()` if a value ends first), or
/// `None`, with `acc` unchanged, if a key has no value. Pass `scale = 1.0` for a plain sum.
///
/// The result is bit for bit what this loop gives in WebAssembly on every machine: terms are
/// added in the order given, each product is rounded to `f32` before its addition (no fused
/// multiply-add), and a NaN result is the canonical NaN. The runtime runs the loop natively
/// and charges fuel per element and term (`pose_runtime::limits::fuel::F32_TERM_ELEMENT`,
/// `F32_SCALE_ELEMENT`), so it is the fast way to combine large vectors held in storage (the
/// federated-learning example averages model updates with it).
pub fn storage_weighted_sum_f32(
    terms: &[WeightedKey<'_>],
    offset: usize,
    scale: f32,
    acc: &mut [f32],
) -> Option<usize> {
    let mut records = Vec::with_capacity(terms.len() * 12);
    for t in terms {
        records.extend_from_slice(&(t.key.as_ptr() as u32).to_le_bytes());
        records.extend_from_slice(&(t.key.len() as u32).to_le_bytes());
        records.extend_from_slice(&t.weight.to_le_bytes());
    }
    let offset = u32::try_from(offset).unwrap_or(u32::MAX);
    // SAFETY: the host reads `terms.len()` 12-byte records from a live buffer and, through
    // them, each key from a live slice of the stated length (pointers are 32-bit on wasm32);
    // it reads and writes at most `acc.len()` `f32`s of a live mutable slice.
    let n = unsafe {
        ffi::storage_weighted_sum_f32(
            records.as_ptr(),
            terms.len() as u32,
            offset,
            scale,
            acc.as_mut_ptr(),
            acc.len() as u32,
        )
    };
    usize::try_from(n).ok()
}

/// The user who sent this request (the creator, during `init`).
pub fn caller() -> Address {
    let mut out = [0u8; 20];
    // SAFETY: the host writes 20 bytes into a 20-byte array.
    unsafe { ffi::caller(out.as_mut_ptr()) };
    Address(out)
}

/// `who`'s internal balance, in wei.
pub fn balance_of(who: &Address) -> u128 {
    let mut out = [0u8; 16];
    // SAFETY: the host reads 20 bytes and writes 16 bytes into arrays of those sizes.
    unsafe { ffi::balance_of(who.0.as_ptr(), out.as_mut_ptr()) };
    u128::from_le_bytes(out)
}

/// Moves `amount` wei of internal balance from `from` to `to`.
pub fn transfer(from: &Address, to: &Address, amount: u128) -> Result<(), Error> {
    let a = amount.to_le_bytes();
    // SAFETY: the host reads 20, 20 and 16 bytes from arrays of those sizes.
    let rc = unsafe { ffi::transfer(from.0.as_ptr(), to.0.as_ptr(), a.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::new(alloc::format!(
            "{from:?} holds less than {amount} wei"
        )))
    }
}

/// Pays `amount` wei out of `from`'s internal balance to the on-chain address `to`: the
/// enclave signs a withdrawal that `to` redeems at the manager contract.
pub fn payout(from: &Address, to: &Address, amount: u128) -> Result<(), Error> {
    let a = amount.to_le_bytes();
    // SAFETY: the host reads 20, 20 and 16 bytes from arrays of those sizes.
    let rc = unsafe { ffi::payout(from.0.as_ptr(), to.0.as_ptr(), a.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::new(alloc::format!(
            "{from:?} holds less than {amount} wei"
        )))
    }
}

/// Block number of the last confirmed chain event the enclave processed.
pub fn block_number() -> u64 {
    // SAFETY: no pointers.
    unsafe { ffi::block_number() }
}

/// Block timestamp (seconds since the Unix epoch) of that event.
pub fn block_time() -> u64 {
    // SAFETY: no pointers.
    unsafe { ffi::block_time() }
}

/// 32 random bytes for this request, the same on every pool member (derived from the
/// contract secret and the sequence number), unknown to users in advance.
pub fn random() -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: the host writes 32 bytes into a 32-byte array.
    unsafe { ffi::random(out.as_mut_ptr()) };
    out
}

/// Appends an event to the call's event log.
pub fn emit(event: &[u8]) {
    // SAFETY: the host reads `event.len()` bytes from a live slice.
    unsafe { ffi::emit(event.as_ptr(), event.len() as u32) }
}

/// Asks the enclave to terminate the contract once this call succeeds.
pub fn terminate() {
    // SAFETY: no pointers.
    unsafe { ffi::terminate() }
}

/// Aborts the call with `msg`; the runtime discards every change the call made.
pub fn abort(msg: &str) -> ! {
    // SAFETY: the host reads `msg.len()` bytes from a live slice and never returns.
    unsafe { ffi::abort(msg.as_ptr(), msg.len() as u32) };
    core::arch::wasm32::unreachable()
}

/// Runs one entry point: reads the input, calls `f`, and sets the output or aborts with the
/// error. Used by [`entry_points!`](crate::entry_points).
pub fn run_entry(f: fn(&[u8]) -> Result<Vec<u8>, Error>) {
    let input = input();
    match f(&input) {
        Ok(out) => set_output(&out),
        Err(e) => abort(e.message()),
    }
}
