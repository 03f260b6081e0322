//! `pose bench latency`: optimistic-path call latency and throughput through pools of
//! several sizes on one devnet (loopback), for the cheapest call of the token-escrow example
//! (a transfer of 0 wei to oneself: one host call, no storage) and for the federated-learning
//! example's submit call with a small model.
//!
//! Per pool size and contract: a fresh contract; sequential calls of one user measured with
//! [`Session`] (send to verified receipt, see `net`); a few calls through `PoseClient::call`
//! (the SDK, which reads the chain before every request); then `--concurrency` users, each
//! with its own key, calling back to back until `--throughput-calls` calls are done, so the
//! executor folds up to `BATCH_REQUESTS_MAX` queued requests into one state update.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use pose_client::ClientOptions;
use serde_json::{json, Value};

use super::net::{self, check_output, deploy, list, say, Net, Session, Stats};
use super::{plot, Output, Report};

/// Arguments of `pose bench latency`.
#[derive(Args, Debug)]
pub struct LatencyArgs {
    /// Pool sizes to measure (comma-separated); the devnet gets as many nodes as the largest.
    #[arg(long, value_delimiter = ',', default_values_t = [1u8, 3, 5, 10, 20])]
    pool_sizes: Vec<u8>,
    /// Sequential calls per pool size and contract (latency).
    #[arg(long, default_value_t = 200)]
    calls: usize,
    /// Calls through `PoseClient::call` per pool size and contract (SDK latency; 0 skips).
    #[arg(long, default_value_t = 20)]
    sdk_calls: usize,
    /// Concurrent users for the throughput run (each with its own key).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Calls of the throughput run per pool size and contract (0 skips it).
    #[arg(long, default_value_t = 1000)]
    throughput_calls: usize,
    /// Contracts to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Workload::Token, Workload::Fl])]
    contracts: Vec<Workload>,
    /// Model size (f32 parameters) of the federated-learning submit call.
    #[arg(long, default_value_t = 100)]
    fl_params: u32,
    #[command(flatten)]
    pub(super) out: Output,
}

/// A contract and the call measured on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// token-escrow: transfer 0 wei to oneself.
    Token,
    /// federated-learning: submit an update of `--fl-params` parameters.
    Fl,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Token => "token",
            Workload::Fl => "fl",
        }
    }

    fn describe(self, fl_params: u32) -> String {
        match self {
            Workload::Token => "token-escrow transfer (0 wei to oneself)".into(),
            Workload::Fl => format!("federated-learning submit ({fl_params} f32 parameters)"),
        }
    }

    fn code(self) -> &'static [u8] {
        match self {
            Workload::Token => net::TOKEN_WASM,
            Workload::Fl => net::FL_WASM,
        }
    }

    fn init(self, fl_params: u32) -> Vec<u8> {
        match self {
            Workload::Token => Vec::new(),
            Workload::Fl => fl_params.to_le_bytes().to_vec(),
        }
    }

    /// The input of the measured call by `who`.
    fn input(self, who: &pose_types::Address, fl_params: u32, i: usize) -> Vec<u8> {
        match self {
            Workload::Token => {
                let mut v = vec![1u8];
                v.extend_from_slice(&who.0);
                v.extend_from_slice(&0u128.to_le_bytes());
                v
            }
            Workload::Fl => {
                let mut v = vec![1u8];
                v.extend_from_slice(&1.0f32.to_le_bytes());
                for j in 0..fl_params as usize {
                    v.extend_from_slice(&(((i + j) % 100) as f32 * 0.01).to_le_bytes());
                }
                v
            }
        }
    }
}

/// Results of one pool size and contract.
struct Row {
    workload: Workload,
    pool_size: u8,
    latency: Stats,
    /// p50 of the first and the last tenth of the sequential calls, ms.
    drift: (f64, f64),
    sdk: Option<Stats>,
    throughput: Option<Throughput>,
}

struct Throughput {
    calls: usize,
    wall: Duration,
    latency: Stats,
}

impl Throughput {
    fn per_sec(&self) -> f64 {
        self.calls as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        poll: Duration::from_millis(100),
        challenge_after: Duration::from_secs(30),
        ..Default::default()
    }
}

/// Runs the scenario and builds its report.
pub async fn run(args: LatencyArgs) -> anyhow::Result<Report> {
    if args.pool_sizes.is_empty() || args.pool_sizes.contains(&0) {
        bail!("--pool-sizes needs at least one size, each at least 1");
    }
    let max = *args.pool_sizes.iter().max().unwrap_or(&1);
    if usize::from(max) > usize::from(crate::devnet::NODES_MAX) {
        bail!(
            "pool size {max} needs {max} nodes; a devnet has at most {} (use smaller --pool-sizes)",
            crate::devnet::NODES_MAX
        );
    }
    if args.calls == 0 {
        bail!("--calls must be at least 1");
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.contracts.is_empty() {
        bail!("--contracts needs at least one of token, fl");
    }
    let fl_input = 5 + 4 * args.fl_params as usize;
    if args.contracts.contains(&Workload::Fl)
        && (args.fl_params == 0 || fl_input > pose_types::limits::INPUT_BYTES_MAX)
    {
        bail!(
            "--fl-params {} makes a {fl_input}-byte input; inputs are limited to {} bytes \
             (INPUT_BYTES_MAX), so use 1..={}",
            args.fl_params,
            pose_types::limits::INPUT_BYTES_MAX,
            (pose_types::limits::INPUT_BYTES_MAX - 5) / 4
        );
    }

    let net = Net::start("latency", max).await?;
    let owner = net.owner(options()).await?;
    let mut rows = Vec::new();
    for &size in &args.pool_sizes {
        for &w in &args.contracts {
            rows.push(measure(&net, &owner, &args, w, size).await?);
        }
    }
    drop(net);
    report(&args, &rows)
}

async fn measure(
    net: &Net,
    owner: &pose_client::PoseClient,
    args: &LatencyArgs,
    w: Workload,
    size: u8,
) -> anyhow::Result<Row> {
    let tag = format!("pool {size}, {}", w.name());
    say(&format!("[{tag}] deploying ..."));
    let cid = deploy(owner, w.code(), &w.init(args.fl_params), size, 30, 30).await?;
    let session = Session::open(owner, net.info(), cid).await?;
    let me = session.address();
    // Warm up: connections, the module cache of every member.
    for i in 0..3 {
        let (out, _) = session.call(&w.input(&me, args.fl_params, i)).await?;
        check_output("warm-up call", &out)?;
    }
    say(&format!("[{tag}] {} sequential calls ...", args.calls));
    let mut samples = Vec::with_capacity(args.calls);
    for i in 0..args.calls {
        let (out, t) = session
            .call(&w.input(&me, args.fl_params, i))
            .await
            .with_context(|| format!("[{tag}] call {i}"))?;
        check_output("call", &out)?;
        samples.push(t);
        if (i + 1).is_multiple_of(50) || i + 1 == args.calls {
            say(&format!("[{tag}] {}/{} calls done", i + 1, args.calls));
        }
    }
    let tenth = (samples.len() / 10).max(1);
    let drift = (
        Stats::of(&samples[..tenth]).p50_ms,
        Stats::of(&samples[samples.len() - tenth..]).p50_ms,
    );
    let latency = Stats::of(&samples);

    let sdk = if args.sdk_calls > 0 {
        say(&format!(
            "[{tag}] {} calls through PoseClient::call ...",
            args.sdk_calls
        ));
        let mut s = Vec::new();
        for i in 0..args.sdk_calls {
            let t = Instant::now();
            let a = owner
                .call(cid, &w.input(&owner.address(), args.fl_params, i))
                .await
                .with_context(|| format!("[{tag}] SDK call {i}"))?;
            s.push(t.elapsed());
            check_output("SDK call", &a.output)?;
        }
        Some(Stats::of(&s))
    } else {
        None
    };

    let throughput = if args.throughput_calls > 0 {
        Some(throughput(net, owner, args, w, cid, &tag).await?)
    } else {
        None
    };
    say(&format!(
        "[{tag}] p50 {:.3} ms, p99 {:.3} ms{}",
        latency.p50_ms,
        latency.p99_ms,
        throughput
            .as_ref()
            .map(|t| format!(", {:.0} calls/s", t.per_sec()))
            .unwrap_or_default()
    ));
    Ok(Row {
        workload: w,
        pool_size: size,
        latency,
        drift,
        sdk,
        throughput,
    })
}

async fn throughput(
    net: &Net,
    owner: &pose_client::PoseClient,
    args: &LatencyArgs,
    w: Workload,
    cid: pose_types::ContractId,
    tag: &str,
) -> anyhow::Result<Throughput> {
    let users = args.concurrency.min(args.throughput_calls);
    let mut sessions = Vec::with_capacity(users);
    for _ in 0..users {
        let s = Session::open(owner, net.info(), cid).await?;
        // One call each first, so that the run measures steady state, not first contact.
        let (out, _) = s.call(&w.input(&s.address(), args.fl_params, 0)).await?;
        check_output("warm-up call", &out)?;
        sessions.push(Arc::new(s));
    }
    say(&format!(
        "[{tag}] throughput: {} calls from {users} concurrent users ...",
        args.throughput_calls
    ));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = args.throughput_calls;
    let fl_params = args.fl_params;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for s in sessions {
        let next = next.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let (out, t) = s.call(&w.input(&s.address(), fl_params, i)).await?;
                check_output("call", &out)?;
                lat.push(t);
                if (i + 1).is_multiple_of(250) {
                    say(&format!("  {}/{total} calls done", i + 1));
                }
            }
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(r) = tasks.join_next().await {
        all.extend(r.context("a throughput task failed")??);
    }
    let wall = started.elapsed();
    Ok(Throughput {
        calls: all.len(),
        wall,
        latency: Stats::of(&all),
    })
}

/// Least-squares slope of `(x, y)`, in units of y per unit of x (0 with fewer than 2 xs).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return 0.0;
    }
    points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "not run".into())
}

fn report(args: &LatencyArgs, rows: &[Row]) -> anyhow::Result<Report> {
    let mut md = String::from(
        "| contract / call | pool | p50 ms | p99 ms | mean ms | p50 first / last tenth ms | SDK p50 ms | calls/s (concurrency) | p50 ms under load |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut json_rows: Vec<Value> = Vec::new();
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} / {:.3} | {} | {} | {} |\n",
            r.workload.describe(args.fl_params),
            r.pool_size,
            r.latency.p50_ms,
            r.latency.p99_ms,
            r.latency.mean_ms,
            r.drift.0,
            r.drift.1,
            opt(r.sdk.as_ref().map(|s| s.p50_ms), 3),
            r.throughput
                .as_ref()
                .map(|t| format!("{:.0} ({})", t.per_sec(), args.concurrency))
                .unwrap_or_else(|| "not run".into()),
            opt(r.throughput.as_ref().map(|t| t.latency.p50_ms), 3),
        ));
        json_rows.push(json!({
            "contract": r.workload.name(),
            "call": r.workload.describe(args.fl_params),
            "pool_size": r.pool_size,
            "latency": r.latency,
            "p50_first_tenth_ms": r.drift.0,
            "p50_last_tenth_ms": r.drift.1,
            "sdk_latency": r.sdk,
            "throughput": r.throughput.as_ref().map(|t| json!({
                "calls": t.calls,
                "concurrency": args.concurrency,
                "wall_ms": super::ms(t.wall),
                "calls_per_sec": (t.per_sec() * 10.0).round() / 10.0,
                "latency": t.latency,
            })),
        }));
    }

    // Fan-out: how p50 grows with the pool, per contract.
    let mut growth = Vec::new();
    md.push_str(
        "\nState-update fan-out (sequential p50 against pool size, least-squares fit over the pools \
         of 2 or more members; a pool of 1 sends no state update and is left out):\n\n| contract | \
         ms per added member | p50 per other member at the smallest and largest pool |\n|---|---:|---|\n",
    );
    for &w in &args.contracts {
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.workload == w && r.pool_size >= 2)
            .map(|r| (f64::from(r.pool_size), r.latency.p50_ms))
            .collect();
        let per_member = slope(&pts);
        let ratio = |p: &(f64, f64)| p.1 / (p.0 - 1.0);
        let ends = match (pts.first(), pts.last()) {
            (Some(a), Some(b)) => format!(
                "{:.3} ms at pool {} / {:.3} ms at pool {}",
                ratio(a),
                a.0,
                ratio(b),
                b.0
            ),
            _ => String::new(),
        };
        md.push_str(&format!(
            "| {} | {per_member:.3} | {ends} |\n",
            w.describe(args.fl_params)
        ));
        growth.push(json!({
            "contract": w.name(),
            "ms_per_added_member": (per_member * 1e3).round() / 1e3,
            "points": pts.iter().map(|p| json!({"pool_size": p.0, "p50_ms": p.1})).collect::<Vec<_>>(),
        }));
    }

    let dir = &args.out.out_dir;
    let series =
        |f: &dyn Fn(&Row) -> Option<f64>, suffix: &str| -> Vec<(String, Vec<(f64, f64)>)> {
            args.contracts
                .iter()
                .map(|&w| {
                    let pts = rows
                        .iter()
                        .filter(|r| r.workload == w)
                        .filter_map(|r| f(r).map(|y| (f64::from(r.pool_size), y)))
                        .collect();
                    (format!("{}{suffix}", w.name()), pts)
                })
                .collect()
        };
    let mut lat = series(&|r| Some(r.latency.p50_ms), " p50");
    lat.extend(series(&|r| Some(r.latency.p99_ms), " p99"));
    plot::lines_f64(
        &dir.join("latency-vs-pool-size.svg"),
        "Call latency, send to verified receipt (loopback)",
        "pool size",
        "ms",
        &lat,
    )?;
    let tp = series(&|r| r.throughput.as_ref().map(Throughput::per_sec), "");
    plot::lines_f64(
        &dir.join("throughput-vs-pool-size.svg"),
        &format!(
            "Throughput, {} concurrent users (loopback)",
            args.concurrency
        ),
        "pool size",
        "calls/s",
        &tp,
    )?;

    let command = format!(
        "pose bench latency --pool-sizes {} --calls {} --sdk-calls {} --concurrency {} --throughput-calls {} --contracts {} --fl-params {}",
        list(&args.pool_sizes),
        args.calls,
        args.sdk_calls,
        args.concurrency,
        args.throughput_calls,
        list(&args.contracts.iter().map(|w| w.name()).collect::<Vec<_>>()),
        args.fl_params
    );
    let doc = json!({
        "scenario": "latency",
        "pool_sizes": args.pool_sizes,
        "calls": args.calls,
        "concurrency": args.concurrency,
        "throughput_calls": args.throughput_calls,
        "batch_requests_max": 16,
        "rows": json_rows,
        "fan_out": growth,
    });
    Ok(Report {
        scenario: "latency",
        command,
        json: doc,
        markdown: md,
        notes: format!(
            "One devnet of {} nodes (anvil with one block per second, `pose node` processes of \
             the same build) on this machine, over loopback; one fresh contract per pool size \
             and contract, pools drawn by the manager. Latency: one user, one call outstanding, \
             from building the request to the receipt checked (signed by a pool member over \
             the request's digest, output decrypted), through a client that verified the pool \
             once; on this path the executor runs the call, sends the new state to every other \
             member, waits for all their acknowledgements, and only then answers. SDK p50: the \
             same call through `PoseClient::call`, which reads the contract, the pool and every \
             member's registration from the chain before each request. Throughput: {} users \
             with their own keys calling back to back; the executor folds up to 16 queued \
             requests into one state update and keeps up to 4 updates in flight. Every node \
             of the devnet runs during every measurement, also those outside the pool.",
            args.pool_sizes.iter().max().unwrap_or(&1),
            args.concurrency
        ),
        plots: vec![
            "latency-vs-pool-size.svg".into(),
            "throughput-vs-pool-size.svg".into(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn slope_of_a_line() {
        let pts = [(1.0, 3.0), (3.0, 7.0), (5.0, 11.0)];
        assert!((slope(&pts) - 2.0).abs() < 1e-12);
        assert_eq!(slope(&[(1.0, 1.0)]), 0.0);
    }
}
