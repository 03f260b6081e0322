//! `pose bench fl`: federated-learning aggregation end to end through a pool beside the same
//! contract run by the runtime alone.
//!
//! For each number of participants n and model size m: the runtime-only time (the committed
//! `federated-learning` contract run by `pose_runtime::WasmtimeEngine` in this process, n
//! submissions then the `aggregate` call, as `cargo bench -p pose-runtime --bench
//! fl_aggregate` does, with no fuel limit), and, where the protocol's limits allow the
//! combination, the same through a pool on a devnet: n participants (own keys) submit their
//! updates one after the other, then one of them calls `aggregate`; each time is from sending
//! to the verified receipt (see `net::Session`). Combinations beyond a limit are reported with
//! the limit, not run.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use pose_runtime::{CallEnv, ContractEngine, ContractState, Entry, WasmtimeEngine};
use pose_types::limits::{INPUT_BYTES_MAX, MESSAGE_BYTES_MAX};
use pose_types::Address;
use serde_json::{json, Value};

use super::net::{check_output, deploy, list, median, say, Net, Session, Stats, FL_WASM};
use super::{plot, Output, Report};

use pose_enclave::limits::CALL_FUEL_MAX;

/// Arguments of `pose bench fl`.
#[derive(Args, Debug)]
pub struct FlArgs {
    /// Numbers of participants (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 100])]
    participants: Vec<usize>,
    /// Model sizes in f32 parameters (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [4000usize, 100_000, 1_000_000])]
    params: Vec<usize>,
    /// Pool size of the end-to-end runs (the devnet gets as many nodes).
    #[arg(long, default_value_t = 3)]
    pool_size: u8,
    /// Aggregate calls per combination (the median is reported), end to end and runtime-only.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    #[command(flatten)]
    pub(super) out: Output,
}

/// The runtime alone on one combination.
struct RuntimeOnly {
    /// Median time of one submission (the first participant's is excluded: module compile).
    submit_ms: f64,
    /// Median time of the aggregate call.
    aggregate_ms: f64,
    /// Fuel of one aggregate call.
    aggregate_fuel: u64,
    /// Fuel of one submission.
    submit_fuel: u64,
}

/// The same through a pool.
struct EndToEnd {
    submit_total: Duration,
    submit: Stats,
    aggregate: Stats,
}

struct Row {
    n: usize,
    m: usize,
    runtime: RuntimeOnly,
    /// Why the combination cannot run through a pool (empty: it ran).
    limits: Vec<String>,
    e2e: Option<EndToEnd>,
}

fn env(who: Address) -> CallEnv {
    CallEnv {
        caller: who,
        block_number: 1,
        block_time_secs: 1,
        random: [0; 32],
        fuel_limit: u64::MAX / 4,
        output_bytes_max: None,
    }
}

fn participant(i: usize) -> Address {
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    Address(a)
}

/// Participant `p`'s update input: deterministic values in [-1, 1), weight 1 + p mod 7.
fn submit_input(p: usize, m: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + m * 4);
    v.push(1u8);
    v.extend_from_slice(&(1.0 + (p % 7) as f32).to_le_bytes());
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (p as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    for _ in 0..m {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let f = (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
        v.extend_from_slice(&f.to_le_bytes());
    }
    v
}

fn runtime_only(n: usize, m: usize, reps: usize) -> anyhow::Result<RuntimeOnly> {
    let mut engine = WasmtimeEngine::new().context("starting the contract engine")?;
    let hash = engine
        .load(FL_WASM)
        .context("loading the federated-learning contract")?;
    let mut state = ContractState::default();
    let run = |engine: &mut WasmtimeEngine,
               state: &mut ContractState,
               who: Address,
               entry: Entry,
               input: &[u8]|
     -> anyhow::Result<(Duration, u64)> {
        let t = Instant::now();
        let out = engine
            .execute(&hash, entry, state, &env(who), input)
            .map_err(|e| anyhow::anyhow!("the contract failed: {e}"))?;
        let t = t.elapsed();
        check_output("runtime-only call", &out.output)?;
        Ok((t, out.fuel_used))
    };
    run(
        &mut engine,
        &mut state,
        participant(0),
        Entry::Init,
        &(m as u32).to_le_bytes(),
    )?;
    let mut submits = Vec::new();
    let mut submit_fuel = 0;
    for p in 0..n {
        let (t, f) = run(
            &mut engine,
            &mut state,
            participant(p),
            Entry::Call,
            &submit_input(p, m),
        )?;
        if p > 0 {
            submits.push(t.as_secs_f64() * 1e3);
        }
        submit_fuel = f;
    }
    let mut aggs = Vec::new();
    let mut aggregate_fuel = 0;
    for _ in 0..reps.max(1) {
        let (t, f) = run(&mut engine, &mut state, participant(0), Entry::Call, &[2])?;
        aggs.push(t.as_secs_f64() * 1e3);
        aggregate_fuel = f;
    }
    Ok(RuntimeOnly {
        submit_ms: median(&submits),
        aggregate_ms: median(&aggs),
        aggregate_fuel,
        submit_fuel,
    })
}

/// The limits that keep a model of `m` parameters from running through a pool, each with its
/// numbers.
fn limits(m: usize, rt: &RuntimeOnly) -> Vec<String> {
    let mut why = Vec::new();
    let input = 5 + 4 * m;
    if input > INPUT_BYTES_MAX {
        why.push(format!(
            "an update is a {input}-byte input, above INPUT_BYTES_MAX = {INPUT_BYTES_MAX} bytes \
             (at most {} parameters per submission; the contract has no chunked submission)",
            (INPUT_BYTES_MAX - 5) / 4
        ));
    }
    // A state update carries what its batch changed (docs/protocol.md 6.2a): here one
    // submission's update or the aggregate's model, 4 bytes per parameter, plus the records.
    // (A member that must catch up still gets the whole state in one message; the bench's
    // pool stays in step.)
    let diff = 4 * m + 1024;
    if diff > MESSAGE_BYTES_MAX {
        why.push(format!(
            "one call writes {:.1} MB (an update or the model), and its state update would be \
             above MESSAGE_BYTES_MAX = {MESSAGE_BYTES_MAX} bytes",
            diff as f64 / 1e6
        ));
    }
    if rt.aggregate_fuel > CALL_FUEL_MAX {
        why.push(format!(
            "aggregate needs {:.1} M fuel, above CALL_FUEL_MAX = {} M per call",
            rt.aggregate_fuel as f64 / 1e6,
            CALL_FUEL_MAX / 1_000_000
        ));
    }
    if rt.submit_fuel > CALL_FUEL_MAX {
        why.push(format!(
            "a submission needs {:.1} M fuel, above CALL_FUEL_MAX",
            rt.submit_fuel as f64 / 1e6
        ));
    }
    why
}

/// Runs the scenario and builds its report.
pub async fn run(args: FlArgs) -> anyhow::Result<Report> {
    if args.participants.is_empty() || args.participants.contains(&0) {
        bail!("--participants needs at least one number, each at least 1");
    }
    if args.params.is_empty() || args.params.contains(&0) {
        bail!("--params needs at least one model size, each at least 1");
    }
    // The contract's own bounds (examples/contracts/federated-learning).
    if let Some(m) = args.params.iter().find(|m| **m > 4 << 20) {
        bail!(
            "--params {m} is above the contract's largest model, {} parameters",
            4 << 20
        );
    }
    if let Some(n) = args.participants.iter().find(|n| **n > 1000) {
        bail!("--participants {n} is above the contract's 1000 participants per round");
    }
    if args.pool_size == 0 || args.pool_size > crate::devnet::NODES_MAX {
        bail!(
            "--pool-size must be 1..={} (one devnet node per member)",
            crate::devnet::NODES_MAX
        );
    }
    let reps = args.reps.max(1);

    let mut rows = Vec::new();
    for &n in &args.participants {
        for &m in &args.params {
            say(&format!("runtime only: n = {n}, m = {m} ..."));
            let rt = tokio::task::spawn_blocking(move || runtime_only(n, m, reps))
                .await
                .context("the runtime-only task failed")??;
            say(&format!(
                "runtime only: n = {n}, m = {m}: aggregate {:.3} ms, {:.1} M fuel",
                rt.aggregate_ms,
                rt.aggregate_fuel as f64 / 1e6
            ));
            let why = limits(m, &rt);
            rows.push(Row {
                n,
                m,
                runtime: rt,
                limits: why,
                e2e: None,
            });
        }
    }

    if rows.iter().any(|r| r.limits.is_empty()) {
        let net = Net::start("fl", args.pool_size).await?;
        let owner = net.owner(Default::default()).await?;
        for row in rows.iter_mut().filter(|r| r.limits.is_empty()) {
            row.e2e = Some(
                end_to_end(&net, &owner, row.n, row.m, args.pool_size, reps)
                    .await
                    .with_context(|| format!("end to end, n = {}, m = {}", row.n, row.m))?,
            );
        }
        drop(net);
    }
    report(&args, &rows)
}

async fn end_to_end(
    net: &Net,
    owner: &pose_client::PoseClient,
    n: usize,
    m: usize,
    pool: u8,
    reps: usize,
) -> anyhow::Result<EndToEnd> {
    let tag = format!("n = {n}, m = {m}");
    say(&format!(
        "[{tag}] deploying federated-learning to a pool of {pool} ..."
    ));
    let cid = deploy(owner, FL_WASM, &(m as u32).to_le_bytes(), pool, 30, 30).await?;
    let mut sessions = Vec::with_capacity(n);
    for _ in 0..n {
        sessions.push(Session::open(owner, net.info(), cid).await?);
    }
    say(&format!("[{tag}] {n} participants submit ..."));
    let started = Instant::now();
    let mut submits = Vec::with_capacity(n);
    for (p, s) in sessions.iter().enumerate() {
        let (out, t) = s
            .call(&submit_input(p, m))
            .await
            .with_context(|| format!("participant {p} submits"))?;
        check_output("submission", &out)?;
        submits.push(t);
        if (p + 1).is_multiple_of(10) || p + 1 == n {
            say(&format!("[{tag}] {}/{n} updates submitted", p + 1));
        }
    }
    let submit_total = started.elapsed();
    let mut aggs = Vec::with_capacity(reps);
    for i in 0..reps {
        let (out, t) = sessions[0].call(&[2]).await.context("aggregating")?;
        check_output("aggregate", &out)?;
        let round = out
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        if round != Some(i as u64 + 1) {
            bail!("aggregate {i} answered round {round:?}, expected {}", i + 1);
        }
        aggs.push(t);
    }
    say(&format!(
        "[{tag}] aggregate end to end: p50 {:.3} ms",
        Stats::of(&aggs).p50_ms
    ));
    Ok(EndToEnd {
        submit_total,
        submit: Stats::of(&submits),
        aggregate: Stats::of(&aggs),
    })
}

fn report(args: &FlArgs, rows: &[Row]) -> anyhow::Result<Report> {
    let mut md = String::from(
        "| n | m | submit total (s) | submit per update p50 ms | aggregate end to end ms (median) | aggregate runtime-only ms (median) | end to end / runtime-only | aggregate fuel |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut json_rows: Vec<Value> = Vec::new();
    let mut not_run = String::new();
    for r in rows {
        let (total, per, agg, ratio) = match &r.e2e {
            Some(e) => (
                format!("{:.3}", e.submit_total.as_secs_f64()),
                format!("{:.3}", e.submit.p50_ms),
                format!("{:.3}", e.aggregate.p50_ms),
                format!(
                    "{:.1}",
                    e.aggregate.p50_ms / r.runtime.aggregate_ms.max(1e-9)
                ),
            ),
            None => {
                let s = "not run".to_string();
                (s.clone(), s.clone(), s.clone(), s)
            }
        };
        md.push_str(&format!(
            "| {} | {} | {total} | {per} | {agg} | {:.3} | {ratio} | {:.1} M |\n",
            r.n,
            r.m,
            r.runtime.aggregate_ms,
            r.runtime.aggregate_fuel as f64 / 1e6
        ));
        if !r.limits.is_empty() {
            not_run.push_str(&format!(
                "- n = {}, m = {}: {}.\n",
                r.n,
                r.m,
                r.limits.join("; ")
            ));
        }
        json_rows.push(json!({
            "participants": r.n,
            "params": r.m,
            "runtime_only": {
                "aggregate_ms": r.runtime.aggregate_ms,
                "aggregate_fuel": r.runtime.aggregate_fuel,
                "submit_ms": r.runtime.submit_ms,
                "submit_fuel": r.runtime.submit_fuel,
            },
            "end_to_end": r.e2e.as_ref().map(|e| json!({
                "submit_total_ms": super::ms(e.submit_total),
                "submit": e.submit,
                "aggregate": e.aggregate,
                "ratio_to_runtime_only": e.aggregate.p50_ms / r.runtime.aggregate_ms.max(1e-9),
            })),
            "not_run_because": r.limits,
        }));
    }
    if !not_run.is_empty() {
        md.push_str("\nNot run through the pool (the runtime-only column is still measured):\n\n");
        md.push_str(&not_run);
    }

    let series: Vec<(String, Vec<(f64, f64)>)> = args
        .participants
        .iter()
        .flat_map(|&n| {
            let rt = rows
                .iter()
                .filter(|r| r.n == n)
                .map(|r| (r.m as f64 / 1e3, r.runtime.aggregate_ms))
                .collect::<Vec<_>>();
            let e2e = rows
                .iter()
                .filter(|r| r.n == n)
                .filter_map(|r| {
                    r.e2e
                        .as_ref()
                        .map(|e| (r.m as f64 / 1e3, e.aggregate.p50_ms))
                })
                .collect::<Vec<_>>();
            [
                (format!("n = {n}, runtime only"), rt),
                (format!("n = {n}, end to end"), e2e),
            ]
        })
        .collect();
    let plot_file = "fl-aggregate.svg";
    plot::lines_f64(
        &args.out.out_dir.join(plot_file),
        "Federated-learning aggregate: end to end vs runtime only",
        "model size (thousands of f32 parameters)",
        "ms",
        &series,
    )?;
    Ok(Report {
        scenario: "fl",
        command: format!(
            "pose bench fl --participants {} --params {} --pool-size {} --reps {}",
            list(&args.participants),
            list(&args.params),
            args.pool_size,
            args.reps
        ),
        json: json!({
            "scenario": "fl",
            "pool_size": args.pool_size,
            "reps": args.reps,
            "input_bytes_max": INPUT_BYTES_MAX,
            "message_bytes_max": MESSAGE_BYTES_MAX,
            "call_fuel_max": CALL_FUEL_MAX,
            "rows": json_rows,
        }),
        markdown: md,
        notes: format!(
            "Runtime only: the committed `federated-learning` contract run by \
             `WasmtimeEngine` in this process (fuel metered without a limit, NaN \
             canonicalisation), n submissions then {} aggregate calls, median; the same work \
             as `cargo bench -p pose-runtime --bench fl_aggregate`. End to end: a devnet with \
             a pool of {}; n participants with their own keys submit one after the other \
             (each from sending to the verified receipt, so each includes the state update to \
             every member and their acknowledgements), then {} aggregate calls; the ratio is \
             end-to-end median over runtime-only median. Each state update carries what its \
             batch changed (a diff), encrypted, to every member; the enclave still seals its \
             whole state on every change, which grows with n and m.",
            args.reps, args.pool_size, args.reps
        ),
        plots: vec![plot_file.into()],
    })
}
