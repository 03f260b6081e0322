//! Federated-learning aggregation: the `federated-learning` contract's `aggregate` call inside
//! Wasm (Wasmtime, fuel metered; its weighted sum runs in the runtime's metered precompile
//! `storage_weighted_sum_f32`) against the aggregation kernel (`fl-core`) compiled natively,
//! and the memory-bandwidth floor (bytes of updates read / copy bandwidth measured here). Both
//! sides are defined as the same operations in the same order; the bench asserts equal bits.
//!
//! Run: `cargo bench -p pose-runtime --bench fl_aggregate`. Results are in BENCHMARKS.md.
//! Set `FL_BENCH_QUICK=1` to run only n=10 (both model sizes), and `FL_BENCH_WASM=<file>` to
//! measure another build of the contract (for example one compiled with `+simd128`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fl_core::{weighted_average, SliceUpdates};
use pose_runtime::{CallEnv, ContractEngine, ContractState, Entry, WasmtimeEngine};
use pose_types::Address;

const FL_WASM: &[u8] = include_bytes!("../../../examples/contracts/wasm/federated_learning.wasm");

fn env(who: u8) -> CallEnv {
    CallEnv {
        caller: Address([who; 20]),
        block_number: 1,
        block_time_secs: 1,
        random: [0; 32],
        fuel_limit: u64::MAX / 4,
    }
}

/// Deterministic pseudo-random parameters in [-1, 1).
fn update(p: usize, m: usize) -> Vec<f32> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (p as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (0..m)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn weight(p: usize) -> f32 {
    1.0 + (p % 7) as f32
}

/// Copy bandwidth in bytes per second: best of several copies of a 256 MiB buffer.
fn copy_bandwidth() -> f64 {
    let len = 256 << 20;
    let src = vec![1u8; len];
    let mut dst = vec![0u8; len];
    dst.copy_from_slice(&src);
    let mut best = Duration::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
        best = best.min(t.elapsed());
    }
    len as f64 / best.as_secs_f64()
}

fn submit_input(p: usize, u: &[f32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + u.len() * 4);
    v.push(1u8);
    v.extend_from_slice(&weight(p).to_le_bytes());
    for x in u {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

fn bench(c: &mut Criterion) {
    let bw = copy_bandwidth();
    println!(
        "copy bandwidth: {:.2} GB/s (256 MiB buffer, best of 7)",
        bw / 1e9
    );
    let quick = std::env::var_os("FL_BENCH_QUICK").is_some();
    let cases: &[(usize, usize)] = if quick {
        &[(10, 100_000), (10, 1_000_000)]
    } else {
        &[
            (10, 100_000),
            (10, 1_000_000),
            (100, 100_000),
            (100, 1_000_000),
        ]
    };
    let mut group = c.benchmark_group("fl_aggregate");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for &(n, m) in cases {
        let id = format!("n={n}/m={m}");
        let bytes = (n * m * 4) as f64;
        println!(
            "floor {id}: {:.2} ms ({} MB of updates at the copy bandwidth)",
            bytes / bw * 1e3,
            n * m * 4 / 1_000_000
        );

        // The contract: n submissions (not timed), then the aggregate call (timed).
        let mut engine = WasmtimeEngine::new().expect("engine");
        let code = match std::env::var_os("FL_BENCH_WASM") {
            Some(path) => std::fs::read(path).expect("FL_BENCH_WASM is readable"),
            None => FL_WASM.to_vec(),
        };
        let hash = engine.load(&code).expect("contract loads");
        let mut state = ContractState::default();
        engine
            .execute(
                &hash,
                Entry::Init,
                &mut state,
                &env(0),
                &(m as u32).to_le_bytes(),
            )
            .expect("init");
        let updates: Vec<Vec<f32>> = (0..n).map(|p| update(p, m)).collect();
        for (p, u) in updates.iter().enumerate() {
            let input = submit_input(p, u);
            let t = Instant::now();
            let out = engine
                .execute(&hash, Entry::Call, &mut state, &env(p as u8 + 1), &input)
                .expect("submit");
            if p == 0 {
                println!("submit {id}: {:.2} ms, {} fuel (one participant, not part of the aggregate time)", t.elapsed().as_secs_f64() * 1e3, out.fuel_used);
            }
        }
        let out = engine
            .execute(&hash, Entry::Call, &mut state, &env(0), &[2])
            .expect("aggregate");
        println!("aggregate {id}: {} fuel", out.fuel_used);
        group.bench_function(BenchmarkId::new("wasm_status_query", &id), |b| {
            b.iter(|| {
                engine
                    .execute(&hash, Entry::Query, &mut state, &env(0), &[5])
                    .expect("query")
            })
        });
        group.bench_function(BenchmarkId::new("wasm", &id), |b| {
            b.iter(|| {
                engine
                    .execute(&hash, Entry::Call, &mut state, &env(0), &[2])
                    .expect("aggregate")
            })
        });

        // The same kernel, natively, on the same updates held in memory.
        let slices: Vec<&[f32]> = updates.iter().map(Vec::as_slice).collect();
        let weights: Vec<f32> = (0..n).map(weight).collect();
        let mut out_native = vec![0f32; m];
        let mut src = SliceUpdates::new(&slices, &weights);
        weighted_average(&mut src, &mut out_native).expect("aggregate");
        // Both computed the same model, bit for bit.
        // The contract stores the model in chunks under `global/<u32 big-endian>`.
        let global: Vec<u8> = state
            .storage
            .range(b"global/".to_vec()..b"global0".to_vec())
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        let native_bytes: Vec<u8> = out_native.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(global, native_bytes, "Wasm and native results differ");

        group.bench_function(BenchmarkId::new("native", &id), |b| {
            b.iter(|| {
                let mut src = SliceUpdates::new(&slices, &weights);
                weighted_average(&mut src, black_box(&mut out_native)).expect("aggregate");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
