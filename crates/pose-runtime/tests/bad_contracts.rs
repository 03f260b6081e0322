//! Contracts that misbehave, written as small WAT modules: each call fails with a typed error
//! and leaves the state exactly as it was.

use pose_runtime::{CallEnv, ContractEngine, ContractState, Entry, RuntimeError, WasmtimeEngine};
use pose_types::Address;

fn env(fuel: u64) -> CallEnv {
    CallEnv {
        caller: Address([7; 20]),
        block_number: 10,
        block_time_secs: 1_700_000_000,
        random: [3; 32],
        fuel_limit: fuel,
        output_bytes_max: None,
    }
}

/// A state with some storage and a balance, to show that failed calls do not touch it.
fn some_state() -> ContractState {
    let mut s = ContractState::default();
    s.storage.insert(b"k".to_vec(), b"before".to_vec());
    s.balances.insert(Address([7; 20]), 100);
    s
}

fn load(engine: &mut WasmtimeEngine, wat: &str) -> Result<pose_types::Hash32, RuntimeError> {
    let wasm = wat::parse_str(wat).expect("test WAT parses");
    engine.load(&wasm)
}

/// Runs `call` of `wat` on `some_state()` and returns the error; asserts the state is unchanged.
fn call_fails(wat: &str, fuel: u64) -> RuntimeError {
    let mut engine = WasmtimeEngine::new().unwrap();
    let hash = load(&mut engine, wat).expect("module loads");
    let mut state = some_state();
    let before = state.state_hash();
    let err = engine
        .execute(&hash, Entry::Call, &mut state, &env(fuel), b"input")
        .expect_err("call must fail");
    assert_eq!(state, some_state(), "state changed by a failed call");
    assert_eq!(state.state_hash(), before);
    err
}

/// Writes storage and moves a balance first, so a rollback is visible.
const WRITES_FIRST: &str = r#"
    (import "pose" "storage_write" (func $sw (param i32 i32 i32 i32)))
    (import "pose" "transfer" (func $tr (param i32 i32 i32) (result i32)))
    (import "pose" "abort" (func $abort (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "kafter")
    (data (i32.const 16) "\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07")
    (data (i32.const 48) "\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09\09")
    (data (i32.const 80) "\32")
    (func $writes
        (call $sw (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 5))
        (drop (call $tr (i32.const 16) (i32.const 48) (i32.const 80))))
"#;

#[test]
fn infinite_loop_stops_on_fuel_and_changes_nothing() {
    let wat = format!(
        r#"(module {WRITES_FIRST}
            (func (export "call") (call $writes) (loop $l (br $l))))"#
    );
    let err = call_fails(&wat, 100_000);
    assert_eq!(
        err,
        RuntimeError::OutOfFuel {
            fuel_limit: 100_000
        }
    );
}

#[test]
fn memory_grow_past_the_limit_fails_and_changes_nothing() {
    // 64 MiB is the default limit: 1 page now plus 1024 more pages exceeds it.
    let wat = format!(
        r#"(module {WRITES_FIRST}
            (func (export "call") (call $writes) (drop (memory.grow (i32.const 1024)))))"#
    );
    let err = call_fails(&wat, 10_000_000);
    assert!(
        matches!(err, RuntimeError::ResourceLimit(ref m) if m.contains("linear memory")),
        "{err:?}"
    );
}

#[test]
fn memory_grow_within_the_limit_succeeds() {
    let wat = r#"(module (memory (export "memory") 1)
        (func (export "call") (if (i32.lt_s (memory.grow (i32.const 100)) (i32.const 0)) (then unreachable))))"#;
    let mut engine = WasmtimeEngine::new().unwrap();
    let hash = load(&mut engine, wat).unwrap();
    let mut state = ContractState::default();
    engine
        .execute(&hash, Entry::Call, &mut state, &env(1_000_000), b"")
        .unwrap();
}

#[test]
fn oversized_initial_memory_is_refused_at_instantiation() {
    let wat = r#"(module (memory (export "memory") 2000) (func (export "call")))"#;
    let err = call_fails(wat, 1_000_000);
    assert!(matches!(err, RuntimeError::ResourceLimit(_)), "{err:?}");
}

#[test]
fn table_growth_past_the_limit_fails() {
    let wat = r#"(module (memory (export "memory") 1) (table 1 funcref)
        (func (export "call") (drop (table.grow (ref.null func) (i32.const 20000)))))"#;
    let err = call_fails(wat, 1_000_000);
    assert!(
        matches!(err, RuntimeError::ResourceLimit(ref m) if m.contains("table")),
        "{err:?}"
    );
}

#[test]
fn trap_changes_nothing() {
    let wat =
        format!(r#"(module {WRITES_FIRST} (func (export "call") (call $writes) unreachable))"#);
    let err = call_fails(&wat, 1_000_000);
    assert!(matches!(err, RuntimeError::Trap(_)), "{err:?}");
}

#[test]
fn abort_reports_the_message_and_changes_nothing() {
    let wat = format!(
        r#"(module {WRITES_FIRST}
            (data (i32.const 200) "bid too low")
            (func (export "call") (call $writes) (call $abort (i32.const 200) (i32.const 11))))"#
    );
    let err = call_fails(&wat, 1_000_000);
    assert_eq!(
        err,
        RuntimeError::Trap("contract aborted: bid too low".into())
    );
}

#[test]
fn out_of_bounds_pointer_traps() {
    let wat = format!(
        r#"(module {WRITES_FIRST}
            (func (export "call") (call $writes)
                (call $sw (i32.const 65530) (i32.const 100) (i32.const 0) (i32.const 1))))"#
    );
    let err = call_fails(&wat, 1_000_000);
    assert!(
        matches!(err, RuntimeError::Trap(ref m) if m.contains("outside linear memory")),
        "{err:?}"
    );
}

#[test]
fn deep_recursion_traps() {
    let wat = r#"(module (memory (export "memory") 1)
        (func $f (call $f)) (func (export "call") (call $f)))"#;
    let err = call_fails(wat, u64::MAX / 2);
    assert!(
        matches!(err, RuntimeError::Trap(ref m) if m.contains("stack")),
        "{err:?}"
    );
}

#[test]
fn unknown_import_is_refused_at_load() {
    let mut engine = WasmtimeEngine::new().unwrap();
    let wat = r#"(module (import "pose" "launch_missiles" (func)) (memory (export "memory") 1)
        (func (export "call")))"#;
    assert_eq!(
        load(&mut engine, wat),
        Err(RuntimeError::UnknownImport {
            module: "pose".into(),
            name: "launch_missiles".into()
        })
    );
    let wat = r#"(module (import "env" "storage_write" (func (param i32 i32 i32 i32)))
        (memory (export "memory") 1) (func (export "call")))"#;
    assert!(matches!(
        load(&mut engine, wat),
        Err(RuntimeError::UnknownImport { .. })
    ));
    let wat = r#"(module (import "pose" "memory" (memory 1)) (func (export "call")))"#;
    assert!(matches!(
        load(&mut engine, wat),
        Err(RuntimeError::UnknownImport { .. })
    ));
}

#[test]
fn import_with_the_wrong_signature_is_refused_at_load() {
    let mut engine = WasmtimeEngine::new().unwrap();
    let wat = r#"(module (import "pose" "caller" (func (param i64)))
        (memory (export "memory") 1) (func (export "call")))"#;
    let err = load(&mut engine, wat).unwrap_err();
    assert!(
        matches!(err, RuntimeError::InvalidModule(ref m) if m.contains("imports")),
        "{err:?}"
    );
}

#[test]
fn malformed_module_is_refused_with_a_clear_error() {
    let mut engine = WasmtimeEngine::new().unwrap();
    let err = engine.load(b"\0asm\x01\0\0\0\x01garbage").unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidModule(_)), "{err:?}");
    let err = engine.load(b"not wasm at all").unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidModule(_)), "{err:?}");
    assert!(!err.to_string().is_empty());
    let err = engine.load(&[]).unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidModule(_)), "{err:?}");
}

#[test]
fn missing_exports_are_refused_at_load() {
    let mut engine = WasmtimeEngine::new().unwrap();
    let no_call = r#"(module (memory (export "memory") 1) (func (export "init")))"#;
    assert_eq!(
        load(&mut engine, no_call),
        Err(RuntimeError::MissingExport("call".into()))
    );
    let no_memory = r#"(module (func (export "call")))"#;
    assert_eq!(
        load(&mut engine, no_memory),
        Err(RuntimeError::MissingExport("memory".into()))
    );
    let bad_sig = r#"(module (memory (export "memory") 1) (func (export "call") (param i32)))"#;
    assert!(matches!(
        load(&mut engine, bad_sig),
        Err(RuntimeError::InvalidModule(_))
    ));
}

#[test]
fn non_deterministic_proposals_are_refused() {
    let mut engine = WasmtimeEngine::new().unwrap();
    // relaxed SIMD
    let relaxed = r#"(module (memory (export "memory") 1) (func (export "call")
        (drop (f32x4.relaxed_madd (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)
            (v128.const i32x4 0 0 0 0)))))"#;
    assert!(matches!(
        load(&mut engine, relaxed),
        Err(RuntimeError::InvalidModule(_))
    ));
    // threads (shared memory, atomics)
    let shared = r#"(module (memory (export "memory") 1 1 shared) (func (export "call")))"#;
    assert!(matches!(
        load(&mut engine, shared),
        Err(RuntimeError::InvalidModule(_))
    ));
    // several memories
    let multi = r#"(module (memory (export "memory") 1) (memory 1) (func (export "call")))"#;
    assert!(matches!(
        load(&mut engine, multi),
        Err(RuntimeError::InvalidModule(_))
    ));
}

#[test]
fn nan_results_are_canonical() {
    // 0/0 and a NaN with a payload must both come out as the canonical quiet NaN.
    let wat = r#"(module
        (import "pose" "output" (func $out (param i32 i32)))
        (memory (export "memory") 1)
        (func (export "call")
            (f32.store (i32.const 0) (f32.div (f32.const 0) (f32.const 0)))
            (f32.store (i32.const 4) (f32.add (f32.const nan:0x200001) (f32.const 1)))
            (f64.store (i32.const 8) (f64.sqrt (f64.const -1)))
            (call $out (i32.const 0) (i32.const 16))))"#;
    let mut engine = WasmtimeEngine::new().unwrap();
    let hash = load(&mut engine, wat).unwrap();
    let out = engine
        .execute(
            &hash,
            Entry::Call,
            &mut ContractState::default(),
            &env(1_000_000),
            b"",
        )
        .unwrap()
        .output;
    assert_eq!(&out[0..4], &0x7fc0_0000u32.to_le_bytes());
    assert_eq!(&out[4..8], &0x7fc0_0000u32.to_le_bytes());
    assert_eq!(&out[8..16], &0x7ff8_0000_0000_0000u64.to_le_bytes());
}

#[test]
fn executing_unknown_code_is_an_error() {
    let mut engine = WasmtimeEngine::new().unwrap();
    let h = pose_types::Hash32([1; 32]);
    let err = engine
        .execute(&h, Entry::Call, &mut ContractState::default(), &env(1), b"")
        .unwrap_err();
    assert_eq!(err, RuntimeError::UnknownCode(h));
}
