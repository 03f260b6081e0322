//! Federated-learning aggregation: the `federated-learning` contract's `aggregate` call inside
//! Wasm (Wasmtime, fuel metered; its weighted sum runs in the runtime's metered precompile
//! `storage_weighted_sum_f32`) against the aggregation kernel (`fl-core`) compiled natively,
//! and the memory-bandwidth floor (bytes of updates read / copy bandwidth measured here). Both
//! sides are defined as the same operations in the same order; the bench asserts equal bits.
//!
//! Run: `cargo bench -p pose-runtime --bench fl_aggregate`. Results are in BENCHMARKS.md.
//! Set `FL_BENCH_QUICK=1` to run only n=10 (both model sizes), and `FL_BENCH_WASM=<file>` to
//! measure another build of the contract (for example one compiled with `+simd128`).
//! `FL_BENCH_MARKDOWN=BENCHMARKS.md` also times each case apart from criterion (median of 15
//! runs) and rewrites the table between the file's `fl_aggregate` markers, so the table in
//! BENCHMARKS.md comes from this command and not from hand.

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
        output_bytes_max: None,
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
    let markdown = std::env::var_os("FL_BENCH_MARKDOWN");
    let mut rows = Vec::new();
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
        if markdown.is_some() {
            let wasm = median_ms(|| {
                engine
                    .execute(&hash, Entry::Call, &mut state, &env(0), &[2])
                    .expect("aggregate");
            });
            let native = median_ms(|| {
                let mut src = SliceUpdates::new(&slices, &weights);
                weighted_average(&mut src, black_box(&mut out_native)).expect("aggregate");
            });
            let query = median_ms(|| {
                engine
                    .execute(&hash, Entry::Query, &mut state, &env(0), &[5])
                    .expect("query");
            });
            rows.push(Row {
                n,
                m,
                wasm,
                native,
                floor: bytes / bw * 1e3,
                query,
                fuel: out.fuel_used,
            });
        }
    }
    group.finish();
    if let Some(path) = markdown {
        // `cargo bench` runs in the package directory: a relative path is from the
        // workspace root, where the command is typed.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path);
        write_markdown(&path, &rows, bw);
    }
}

/// One case of the markdown table; times in milliseconds.
struct Row {
    n: usize,
    m: usize,
    wasm: f64,
    native: f64,
    floor: f64,
    query: f64,
    fuel: u64,
}

/// Median of 15 timed runs of `f`, in milliseconds.
fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Rewrites the block between `<!-- fl_aggregate: begin -->` and `<!-- fl_aggregate: end -->`.
fn write_markdown(path: &std::path::Path, rows: &[Row], bw: f64) {
    let (begin, end) = ("<!-- fl_aggregate: begin -->", "<!-- fl_aggregate: end -->");
    let text = std::fs::read_to_string(path).expect("the markdown file is readable");
    let (Some(b), Some(e)) = (text.find(begin), text.find(end)) else {
        panic!("{} has no `{begin}` ... `{end}` block", path.display());
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    let mut block = format!(
        "{begin}\nCommand: `FL_BENCH_MARKDOWN=BENCHMARKS.md cargo bench -p pose-runtime --bench fl_aggregate`\n\n\
         Machine: {cores} CPUs, {cpu}; 1-minute load average {load} at the end of the run. \
         Copy bandwidth: {:.1} GB/s. Times: median of 15 runs after criterion's own.\n\n\
         | n | m | Wasm | native | floor | Wasm / native | Wasm / floor | fixed cost of a call | aggregate fuel |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        bw / 1e9
    );
    for r in rows {
        block.push_str(&format!(
            "| {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} | {:.2} | {:.3} ms | {:.1} M |\n",
            r.n,
            r.m,
            r.wasm,
            r.native,
            r.floor,
            r.wasm / r.native,
            r.wasm / r.floor,
            r.query,
            r.fuel as f64 / 1e6
        ));
    }
    let out = format!("{}{}{}", &text[..b], block, &text[e..]);
    std::fs::write(path, out).expect("the markdown file is writable");
    println!("table written to {}", path.display());
}

criterion_group!(benches, bench);
criterion_main!(benches);
