//! The host API as a contract sees it, exercised by small WAT modules.

use pose_runtime::{
    code_hash, CallEnv, ContractEngine, ContractState, EngineLimits, EngineOptions, Entry, Payout,
    RuntimeError, WasmtimeEngine,
};
use pose_types::Address;

fn env() -> CallEnv {
    CallEnv {
        caller: Address([0xca; 20]),
        block_number: 0x0102_0304,
        block_time_secs: 1_700_000_123,
        random: [0x5a; 32],
        fuel_limit: 10_000_000,
        output_bytes_max: None,
    }
}

fn engine_with(wat: &str) -> (WasmtimeEngine, pose_types::Hash32) {
    let mut engine = WasmtimeEngine::new().unwrap();
    let hash = engine.load(&wat::parse_str(wat).unwrap()).unwrap();
    (engine, hash)
}

/// Outputs caller || block_number || block_time || random || input, emits two events and asks
/// to terminate.
const ENVIRONMENT: &str = r#"(module
    (import "pose" "input_len" (func $input_len (result i32)))
    (import "pose" "input_read" (func $input_read (param i32)))
    (import "pose" "output" (func $output (param i32 i32)))
    (import "pose" "caller" (func $caller (param i32)))
    (import "pose" "block_number" (func $block_number (result i64)))
    (import "pose" "block_time" (func $block_time (result i64)))
    (import "pose" "random" (func $random (param i32)))
    (import "pose" "emit" (func $emit (param i32 i32)))
    (import "pose" "terminate" (func $terminate))
    (memory (export "memory") 1)
    (data (i32.const 1000) "firstsecond")
    (func (export "call")
        (call $caller (i32.const 0))
        (i64.store (i32.const 20) (call $block_number))
        (i64.store (i32.const 28) (call $block_time))
        (call $random (i32.const 36))
        (call $input_read (i32.const 68))
        (call $output (i32.const 0) (i32.add (i32.const 68) (call $input_len)))
        (call $emit (i32.const 1000) (i32.const 5))
        (call $emit (i32.const 1005) (i32.const 6))
        (call $terminate)))"#;

#[test]
fn environment_functions_return_what_the_enclave_chose() {
    let (mut engine, hash) = engine_with(ENVIRONMENT);
    let mut state = ContractState::default();
    let out = engine
        .execute(&hash, Entry::Call, &mut state, &env(), b"hello")
        .unwrap();
    let mut want = vec![0xca; 20];
    want.extend_from_slice(&0x0102_0304u64.to_le_bytes());
    want.extend_from_slice(&1_700_000_123u64.to_le_bytes());
    want.extend_from_slice(&[0x5a; 32]);
    want.extend_from_slice(b"hello");
    assert_eq!(out.output, want);
    assert_eq!(out.events, vec![b"first".to_vec(), b"second".to_vec()]);
    assert!(out.terminate);
    assert!(out.payouts.is_empty());
    assert!(out.fuel_used > 0 && out.fuel_used < env().fuel_limit);
    assert_eq!(state, ContractState::default());
}

#[test]
fn fuel_use_is_deterministic() {
    let (mut a, ha) = engine_with(ENVIRONMENT);
    let (mut b, hb) = engine_with(ENVIRONMENT);
    let oa = a
        .execute(
            &ha,
            Entry::Call,
            &mut ContractState::default(),
            &env(),
            b"x",
        )
        .unwrap();
    let ob = b
        .execute(
            &hb,
            Entry::Call,
            &mut ContractState::default(),
            &env(),
            b"x",
        )
        .unwrap();
    assert_eq!(oa, ob);
    // A budget one unit short of what the call used fails; the exact budget succeeds.
    let mut tight = env();
    tight.fuel_limit = oa.fuel_used - 1;
    let err = a
        .execute(
            &ha,
            Entry::Call,
            &mut ContractState::default(),
            &tight,
            b"x",
        )
        .unwrap_err();
    assert_eq!(
        err,
        RuntimeError::OutOfFuel {
            fuel_limit: oa.fuel_used - 1
        }
    );
    tight.fuel_limit = oa.fuel_used;
    a.execute(
        &ha,
        Entry::Call,
        &mut ContractState::default(),
        &tight,
        b"x",
    )
    .unwrap();
}

/// Storage: `call` writes input under "k", removes "gone", and outputs
/// storage_len("k") as i64, then 3 bytes of "k" from offset 2, then storage_len("gone").
const STORAGE: &str = r#"(module
    (import "pose" "input_len" (func $input_len (result i32)))
    (import "pose" "input_read" (func $input_read (param i32)))
    (import "pose" "output" (func $output (param i32 i32)))
    (import "pose" "storage_len" (func $len (param i32 i32) (result i64)))
    (import "pose" "storage_read" (func $read (param i32 i32 i32 i32 i32) (result i64)))
    (import "pose" "storage_write" (func $write (param i32 i32 i32 i32)))
    (import "pose" "storage_remove" (func $remove (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "kgone")
    (func (export "call")
        (call $input_read (i32.const 100))
        (call $write (i32.const 0) (i32.const 1) (i32.const 100) (call $input_len))
        (drop (call $remove (i32.const 1) (i32.const 4)))
        (i64.store (i32.const 200) (call $len (i32.const 0) (i32.const 1)))
        (drop (call $read (i32.const 0) (i32.const 1) (i32.const 2) (i32.const 208) (i32.const 3)))
        (i64.store (i32.const 211) (call $len (i32.const 1) (i32.const 4)))
        (call $output (i32.const 200) (i32.const 19)))
    (func (export "query")
        (i64.store (i32.const 200) (call $len (i32.const 0) (i32.const 1)))
        (call $write (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0))
        (call $output (i32.const 200) (i32.const 8))))"#;

#[test]
fn storage_reads_see_the_calls_own_writes_and_commit_on_success() {
    let (mut engine, hash) = engine_with(STORAGE);
    let mut state = ContractState::default();
    state.storage.insert(b"gone".to_vec(), b"x".to_vec());
    let out = engine
        .execute(&hash, Entry::Call, &mut state, &env(), b"abcdefg")
        .unwrap();
    let mut want = 7i64.to_le_bytes().to_vec();
    want.extend_from_slice(b"cde");
    want.extend_from_slice(&(-1i64).to_le_bytes());
    assert_eq!(out.output, want);
    assert_eq!(state.storage.get(&b"k"[..]), Some(&b"abcdefg".to_vec()));
    assert!(!state.storage.contains_key(&b"gone"[..]));
}

#[test]
fn query_reads_state_and_discards_its_writes() {
    let (mut engine, hash) = engine_with(STORAGE);
    let mut state = ContractState::default();
    state.storage.insert(b"k".to_vec(), b"12345".to_vec());
    let before = state.clone();
    let out = engine
        .execute(&hash, Entry::Query, &mut state, &env(), b"")
        .unwrap();
    assert_eq!(out.output, 5i64.to_le_bytes());
    assert_eq!(state, before);
}

#[test]
fn missing_init_is_a_no_op_and_missing_query_an_error() {
    let (mut engine, hash) = engine_with(ENVIRONMENT);
    let mut state = ContractState::default();
    let out = engine
        .execute(&hash, Entry::Init, &mut state, &env(), b"")
        .unwrap();
    assert_eq!(out, Default::default());
    let err = engine
        .execute(&hash, Entry::Query, &mut state, &env(), b"")
        .unwrap_err();
    assert_eq!(err, RuntimeError::MissingExport("query".into()));
}

/// Balances: moves 30 from the caller to 0x09.., pays 20 of the caller's balance out to 0x0b..,
/// then tries to transfer 1000 (too much); outputs both return codes and the caller's balance.
const BALANCES: &str = r#"(module
    (import "pose" "caller" (func $caller (param i32)))
    (import "pose" "balance_of" (func $balance (param i32 i32)))
    (import "pose" "transfer" (func $transfer (param i32 i32 i32) (result i32)))
    (import "pose" "payout" (func $payout (param i32 i32 i32) (result i32)))
    (import "pose" "output" (func $output (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 32) "\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09")
    (data (i32.const 64) "\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b")
    (data (i32.const 96) "\1e")
    (data (i32.const 112) "\14")
    (data (i32.const 128) "\e8\03")
    (func (export "call")
        (call $caller (i32.const 0))
        (i32.store (i32.const 200) (call $transfer (i32.const 0) (i32.const 32) (i32.const 96)))
        (i32.store (i32.const 204) (call $payout (i32.const 0) (i32.const 64) (i32.const 112)))
        (i32.store (i32.const 208) (call $transfer (i32.const 0) (i32.const 32) (i32.const 128)))
        (call $balance (i32.const 0) (i32.const 212))
        (call $output (i32.const 200) (i32.const 28))))"#;

#[test]
fn balances_move_and_pay_out_with_conservation() {
    let (mut engine, hash) = engine_with(BALANCES);
    let mut state = ContractState::default();
    state.balances.insert(Address([0xca; 20]), 100);
    let out = engine
        .execute(&hash, Entry::Call, &mut state, &env(), b"")
        .unwrap();
    let mut want = 0i32.to_le_bytes().to_vec();
    want.extend_from_slice(&0i32.to_le_bytes());
    want.extend_from_slice(&pose_runtime::ERR_INSUFFICIENT_BALANCE.to_le_bytes());
    want.extend_from_slice(&50u128.to_le_bytes());
    assert_eq!(out.output, want);
    assert_eq!(
        out.payouts,
        vec![Payout {
            to: Address([0x0b; 20]),
            amount_wei: 20
        }]
    );
    assert_eq!(state.balances.get(&Address([0xca; 20])), Some(&50));
    assert_eq!(state.balances.get(&Address([9; 20])), Some(&30));
    let paid: u128 = out.payouts.iter().map(|p| p.amount_wei).sum();
    assert_eq!(state.total_balance_wei() + paid, 100);
}

#[test]
fn empty_balances_are_removed_from_the_state() {
    let (mut engine, hash) = engine_with(BALANCES);
    let mut state = ContractState::default();
    state.balances.insert(Address([0xca; 20]), 50);
    engine
        .execute(&hash, Entry::Call, &mut state, &env(), b"")
        .unwrap();
    assert_eq!(
        state.balances.get(&Address([0xca; 20])),
        None,
        "zero balance kept"
    );
    assert_eq!(state.balances.get(&Address([9; 20])), Some(&30));
}

#[test]
fn modules_are_cached_by_code_hash_and_evicted_beyond_the_limit() {
    let limits = EngineLimits {
        modules_cached_max: 2,
        ..EngineLimits::default()
    };
    let mut engine = WasmtimeEngine::with_options(EngineOptions { limits, simd: true }).unwrap();
    let wasm: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            wat::parse_str(format!(
                r#"(module (memory (export "memory") 1) (func (export "call")) (func (export "f{i}")))"#
            ))
            .unwrap()
        })
        .collect();
    let h0 = engine.load(&wasm[0]).unwrap();
    assert_eq!(h0, code_hash(&wasm[0]));
    assert_eq!(engine.load(&wasm[0]).unwrap(), h0);
    let h1 = engine.load(&wasm[1]).unwrap();
    assert!(engine.is_loaded(&h0) && engine.is_loaded(&h1));
    let h2 = engine.load(&wasm[2]).unwrap();
    assert!(!engine.is_loaded(&h0), "oldest module not evicted");
    assert!(engine.is_loaded(&h1) && engine.is_loaded(&h2));
    let err = engine
        .execute(&h0, Entry::Call, &mut ContractState::default(), &env(), b"")
        .unwrap_err();
    assert_eq!(err, RuntimeError::UnknownCode(h0));
}

#[test]
fn storage_limits_are_enforced() {
    let limits = EngineLimits {
        value_bytes_max: 4,
        key_bytes_max: 2,
        ..EngineLimits::default()
    };
    let mut engine = WasmtimeEngine::with_options(EngineOptions { limits, simd: true }).unwrap();
    let hash = engine.load(&wat::parse_str(STORAGE).unwrap()).unwrap();
    let mut state = ContractState::default();
    let err = engine
        .execute(&hash, Entry::Call, &mut state, &env(), b"12345")
        .unwrap_err();
    assert!(
        matches!(err, RuntimeError::ResourceLimit(ref m) if m.contains("storage value")),
        "{err:?}"
    );
    assert_eq!(state, ContractState::default());
}

#[test]
fn simd_can_be_switched_off() {
    let wat = r#"(module (memory (export "memory") 1) (func (export "call")
        (v128.store (i32.const 0) (f32x4.add (v128.load (i32.const 0)) (v128.load (i32.const 16))))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let mut on = WasmtimeEngine::new().unwrap();
    on.load(&wasm).unwrap();
    let mut off = WasmtimeEngine::with_options(EngineOptions {
        simd: false,
        ..Default::default()
    })
    .unwrap();
    assert!(matches!(
        off.load(&wasm),
        Err(RuntimeError::InvalidModule(_))
    ));
}

/// Reads the byte at 70000 (the second page, which `call` grows into) and the one at 100
/// (the initial page), outputs both, then writes 0xff to both.
const DIRTY_MEMORY: &str = r#"(module
    (import "pose" "output" (func $output (param i32 i32)))
    (memory (export "memory") 1)
    (func (export "call")
        (drop (memory.grow (i32.const 1)))
        (i32.store8 (i32.const 0) (i32.load8_u (i32.const 70000)))
        (i32.store8 (i32.const 1) (i32.load8_u (i32.const 100)))
        (call $output (i32.const 0) (i32.const 2))
        (i32.store8 (i32.const 70000) (i32.const 255))
        (i32.store8 (i32.const 100) (i32.const 255))))"#;

#[test]
fn every_call_starts_from_fresh_memory_even_in_a_reused_slot() {
    let (mut engine, hash) = engine_with(DIRTY_MEMORY);
    let mut state = ContractState::default();
    for _ in 0..3 {
        let out = engine
            .execute(&hash, Entry::Call, &mut state, &env(), b"")
            .unwrap();
        assert_eq!(out.output, [0, 0]);
    }
}
