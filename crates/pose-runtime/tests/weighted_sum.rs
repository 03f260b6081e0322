//! The host function `storage_weighted_sum_f32`: its result bit for bit, bounds, fuel and
//! determinism, through a small WAT module that passes the input straight to it.

use pose_runtime::limits::fuel;
use pose_runtime::{
    CallEnv, CallOutcome, ContractEngine, ContractState, Entry, RuntimeError, WasmtimeEngine,
};
use pose_types::Address;

/// `call` copies its input to address 0 and calls the host function with the six header
/// words (`terms_ptr, terms_len, offset, scale, acc_ptr, acc_len`); the output is the result
/// (i64) followed by the accumulator afterwards. The output area starts at `OUT`.
const WSUM: &str = r#"(module
    (import "pose" "input_read" (func $input_read (param i32)))
    (import "pose" "output" (func $output (param i32 i32)))
    (import "pose" "storage_weighted_sum_f32"
        (func $wsum (param i32 i32 i32 f32 i32 i32) (result i64)))
    (memory (export "memory") 2)
    (func (export "call") (local $bytes i32)
        (call $input_read (i32.const 0))
        (i64.store (i32.const 100000)
            (call $wsum (i32.load (i32.const 0)) (i32.load (i32.const 4))
                (i32.load (i32.const 8)) (f32.load (i32.const 12))
                (i32.load (i32.const 16)) (i32.load (i32.const 20))))
        (local.set $bytes (i32.mul (i32.load (i32.const 20)) (i32.const 4)))
        (memory.copy (i32.const 100008) (i32.load (i32.const 16)) (local.get $bytes))
        (call $output (i32.const 100000) (i32.add (i32.const 8) (local.get $bytes)))))"#;

/// Linear memory of the module, in bytes (2 pages).
const MEMORY_BYTES: u32 = 2 << 16;
/// Where the input puts the accumulator.
const ACC: u32 = 4096;

fn env(fuel_limit: u64) -> CallEnv {
    CallEnv {
        caller: Address([1; 20]),
        fuel_limit,
        ..CallEnv::default()
    }
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The header words of a call.
#[derive(Clone, Copy)]
struct Header {
    terms_ptr: u32,
    terms_len: u32,
    offset: u32,
    scale: f32,
    acc_ptr: u32,
    acc_len: u32,
}

/// An input for `WSUM`: header, term records and keys from byte 24 on, the accumulator at
/// `ACC`. Returns it with its header, which a test may change with [`with_header`].
fn input(terms: &[(&[u8], f32)], offset: u32, scale: f32, acc: &[f32]) -> (Vec<u8>, Header) {
    let records_at = 24u32;
    let mut keys_at = records_at + 12 * terms.len() as u32;
    let mut records = Vec::new();
    let mut keys = Vec::new();
    for (key, weight) in terms {
        records.extend_from_slice(&keys_at.to_le_bytes());
        records.extend_from_slice(&(key.len() as u32).to_le_bytes());
        records.extend_from_slice(&weight.to_le_bytes());
        keys.extend_from_slice(key);
        keys_at += key.len() as u32;
    }
    let header = Header {
        terms_ptr: records_at,
        terms_len: terms.len() as u32,
        offset,
        scale,
        acc_ptr: ACC,
        acc_len: acc.len() as u32,
    };
    let mut bytes = vec![0u8; 24];
    bytes.extend_from_slice(&records);
    bytes.extend_from_slice(&keys);
    assert!(bytes.len() <= ACC as usize);
    bytes.resize(ACC as usize, 0);
    bytes.extend_from_slice(&f32s(acc));
    (with_header(bytes.clone(), header), header)
}

fn with_header(mut bytes: Vec<u8>, h: Header) -> Vec<u8> {
    let words = [
        h.terms_ptr,
        h.terms_len,
        h.offset,
        h.scale.to_bits(),
        h.acc_ptr,
        h.acc_len,
    ];
    for (i, w) in words.iter().enumerate() {
        bytes[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    bytes
}

fn state(values: &[(&[u8], Vec<u8>)]) -> ContractState {
    let mut s = ContractState::default();
    for (k, v) in values {
        s.storage.insert(k.to_vec(), v.clone());
    }
    s
}

/// Runs `WSUM` on a fresh engine.
fn run(
    state: &mut ContractState,
    input: &[u8],
    fuel_limit: u64,
) -> Result<CallOutcome, RuntimeError> {
    let mut engine = WasmtimeEngine::new().unwrap();
    let hash = engine.load(&wat::parse_str(WSUM).unwrap()).unwrap();
    engine.execute(&hash, Entry::Call, state, &env(fuel_limit), input)
}

/// Splits an output into the result and the accumulator's bits.
fn result(out: &CallOutcome) -> (i64, Vec<u32>) {
    let n = i64::from_le_bytes(out.output[..8].try_into().unwrap());
    let acc = out.output[8..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (n, acc)
}

/// The definition: `acc[j] = (((acc[j] + w_0 v_0[j]) + ...) * scale`, one operation at a time.
fn reference(acc: &[f32], terms: &[(&[f32], f32)], scale: f32) -> Vec<u32> {
    acc.iter()
        .enumerate()
        .map(|(j, &a)| {
            let mut s = a;
            for (v, w) in terms {
                s += w * v[j];
            }
            (s * scale).to_bits()
        })
        .collect()
}

fn vector(seed: usize, len: usize) -> Vec<f32> {
    (0..len)
        .map(|j| ((j * 7919 + seed * 104_729) % 2003) as f32 / 53.0 - 17.0)
        .collect()
}

#[test]
fn computes_the_weighted_sum_bit_for_bit() {
    // Five terms: one group of four, then one alone.
    let vs: Vec<Vec<f32>> = (0..5).map(|t| vector(t, 103)).collect();
    let keys: Vec<Vec<u8>> = (0..5).map(|t| vec![b'k', t as u8]).collect();
    let ws = [0.5f32, 1.25, 3.0, 0.1, 7.5];
    let mut s = state(
        &keys
            .iter()
            .zip(&vs)
            .map(|(k, v)| (k.as_slice(), f32s(v)))
            .collect::<Vec<_>>(),
    );
    let acc = vector(9, 100);
    let terms: Vec<(&[u8], f32)> = keys.iter().map(Vec::as_slice).zip(ws).collect();
    // From element 3 on (byte offset 12).
    let (inp, _) = input(&terms, 12, 0.3, &acc);
    let before = s.clone();
    let out = run(&mut s, &inp, 10_000_000).unwrap();
    let shifted: Vec<&[f32]> = vs.iter().map(|v| &v[3..]).collect();
    let want = reference(
        &acc,
        &shifted.iter().copied().zip(ws).collect::<Vec<_>>(),
        0.3,
    );
    assert_eq!(result(&out), (100, want));
    assert_eq!(s, before, "the host function writes no storage");
}

#[test]
fn stops_at_the_shortest_value_and_reports_a_missing_key() {
    let mut s = state(&[(b"a", f32s(&[1.0, 2.0, 3.0])), (b"b", f32s(&[1.0; 8]))]);
    let acc = [10.0f32, 20.0, 30.0, 40.0];
    let (inp, _) = input(&[(b"a", 2.0), (b"b", 1.0)], 4, 1.0, &acc);
    let (n, got) = result(&run(&mut s, &inp, 10_000_000).unwrap());
    assert_eq!(n, 2, "`a` holds two elements from byte 4 on");
    let want: Vec<u32> = [15.0f32, 27.0, 30.0, 40.0].map(f32::to_bits).into();
    assert_eq!(got, want);

    // An offset past the end of a value: nothing to add.
    let (inp, _) = input(&[(b"a", 2.0)], 400, 1.0, &acc);
    let (n, got) = result(&run(&mut s, &inp, 10_000_000).unwrap());
    assert_eq!((n, got), (0, acc.map(f32::to_bits).into()));

    let (inp, _) = input(&[(b"a", 2.0), (b"none", 1.0)], 0, 1.0, &acc);
    let (n, got) = result(&run(&mut s, &inp, 10_000_000).unwrap());
    assert_eq!((n, got), (-1, acc.map(f32::to_bits).into()));
}

#[test]
fn nan_results_are_the_canonical_nan() {
    let mut s = state(&[(
        b"a",
        f32s(&[f32::INFINITY, f32::from_bits(0xffc0_0001), 1.0]),
    )]);
    let acc = [f32::NEG_INFINITY, 0.0, 2.0];
    let (inp, _) = input(&[(b"a", 1.0)], 0, 1.0, &acc);
    let (n, got) = result(&run(&mut s, &inp, 10_000_000).unwrap());
    assert_eq!(
        (n, got),
        (3, vec![0x7fc0_0000, 0x7fc0_0000, 3.0f32.to_bits()])
    );
}

#[test]
fn pointers_outside_memory_and_long_keys_fail_cleanly() {
    let mut s = state(&[(b"a", f32s(&[1.0; 16]))]);
    let before = s.clone();
    let (inp, h) = input(&[(b"a", 1.0)], 0, 1.0, &[0.0; 4]);
    let trap = |r: Result<CallOutcome, RuntimeError>, what: &str| match r {
        Err(RuntimeError::Trap(msg)) => assert!(msg.contains(what), "{msg}"),
        other => panic!("expected a trap about {what}, got {other:?}"),
    };
    let cases = [
        (
            Header {
                acc_ptr: MEMORY_BYTES - 8,
                ..h
            },
            "accumulator",
        ),
        (
            Header {
                acc_len: u32::MAX,
                ..h
            },
            "accumulator",
        ),
        (
            Header {
                terms_ptr: MEMORY_BYTES - 4,
                ..h
            },
            "weighted sum terms",
        ),
        (
            Header {
                terms_len: MEMORY_BYTES / 12 + 1,
                ..h
            },
            "weighted sum terms",
        ),
    ];
    for (header, what) in cases {
        trap(
            run(&mut s, &with_header(inp.clone(), header), 10_000_000),
            what,
        );
        assert_eq!(s, before);
    }
    // Records that could not fit in any memory: their copy cost alone exceeds the budget.
    assert_eq!(
        run(
            &mut s,
            &with_header(
                inp.clone(),
                Header {
                    terms_len: u32::MAX,
                    ..h
                }
            ),
            10_000_000
        ),
        Err(RuntimeError::OutOfFuel {
            fuel_limit: 10_000_000
        })
    );
    // A record whose key lies outside memory.
    let mut bad_key = inp.clone();
    bad_key[24..28].copy_from_slice(&(MEMORY_BYTES - 1).to_le_bytes());
    bad_key[28..32].copy_from_slice(&2u32.to_le_bytes());
    trap(run(&mut s, &bad_key, 10_000_000), "storage key");
    // A key longer than the limit.
    let mut long_key = inp;
    long_key[28..32].copy_from_slice(&(64u32 << 10).to_le_bytes());
    assert!(matches!(
        run(&mut s, &long_key, 10_000_000),
        Err(RuntimeError::ResourceLimit(_))
    ));
    assert_eq!(s, before);
}

#[test]
fn fuel_is_charged_per_element_and_term_before_the_work() {
    const N: usize = 16_000;
    let mut s = state(&[
        (b"a", f32s(&vector(1, N))),
        (b"b", f32s(&vector(2, N))),
        (b"c", f32s(&vector(3, N))),
    ]);
    let terms: [(&[u8], f32); 3] = [(b"a", 1.0), (b"b", 2.0), (b"c", 3.0)];
    let per_element = 3 * fuel::F32_TERM_ELEMENT + fuel::F32_SCALE_ELEMENT;

    // The same calls for 0 and 1000 elements, with the three terms and with none: everything
    // but the host function's element cost (input, output, the module's own instructions)
    // is the same in both differences.
    let fuel_for = |s: &mut ContractState, terms: &[(&[u8], f32)], len: usize| {
        let (inp, _) = input(terms, 0, 1.0, &vec![0.0; len]);
        run(s, &inp, 10_000_000).unwrap().fuel_used
    };
    let with_terms = fuel_for(&mut s, &terms, 1000) - fuel_for(&mut s, &terms, 0);
    let without = fuel_for(&mut s, &[], 1000) - fuel_for(&mut s, &[], 0);
    assert_eq!(with_terms - without, 1000 * 3 * fuel::F32_TERM_ELEMENT);
    assert!(without >= 1000 * fuel::F32_SCALE_ELEMENT);

    // A big range with little fuel runs out before any work, and changes nothing.
    let (inp, h) = input(&terms, 0, 1.0, &[]);
    let big = with_header(
        inp,
        Header {
            acc_ptr: 1 << 16,
            acc_len: N as u32,
            ..h
        },
    );
    let before = s.clone();
    let limit = N as u64 * per_element / 2;
    assert_eq!(
        run(&mut s, &big, limit),
        Err(RuntimeError::OutOfFuel { fuel_limit: limit })
    );
    assert_eq!(s, before);
}

#[test]
fn fresh_engines_give_the_same_outcome() {
    let vs: Vec<Vec<f32>> = (0..6).map(|t| vector(t + 20, 3000)).collect();
    let mut values: Vec<(&[u8], Vec<u8>)> = vec![];
    let keys: Vec<Vec<u8>> = (0..6).map(|t| vec![b'u', t as u8]).collect();
    for (k, v) in keys.iter().zip(&vs) {
        values.push((k, f32s(v)));
    }
    // Then an overflow to infinity, and infinity minus infinity: NaN everywhere.
    values.push((b"big", f32s(&[f32::MAX; 3000])));
    let ws = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 2.5, -2.5];
    let names: Vec<&[u8]> = keys
        .iter()
        .map(Vec::as_slice)
        .chain([&b"big"[..], &b"big"[..]])
        .collect();
    let terms: Vec<(&[u8], f32)> = names.into_iter().zip(ws).collect();
    let (inp, _) = input(&terms, 0, 1.0 / 7.0, &vector(99, 3000));
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let mut s = state(&values);
            let out = run(&mut s, &inp, 10_000_000).unwrap();
            (out, s.state_hash())
        })
        .collect();
    assert!(runs.windows(2).all(|w| w[0] == w[1]));
    let (n, acc) = result(&runs[0].0);
    assert_eq!(n, 3000);
    let inputs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
    let big = vec![f32::MAX; 3000];
    let mut all: Vec<(&[f32], f32)> = inputs.into_iter().zip(ws).collect();
    all.push((&big, ws[6]));
    all.push((&big, ws[7]));
    let want: Vec<u32> = reference(&vector(99, 3000), &all, 1.0 / 7.0)
        .into_iter()
        .map(|b| {
            if f32::from_bits(b).is_nan() {
                0x7fc0_0000
            } else {
                b
            }
        })
        .collect();
    assert_eq!(acc, want);
    assert!(acc.iter().all(|&b| b == 0x7fc0_0000));
}
