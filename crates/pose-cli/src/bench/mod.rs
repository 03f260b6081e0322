//! `pose bench <scenario>`: measurements for the evaluation, each with a human table, JSON
//! (`--json FILE` or `--format json`), a markdown table and SVG plots (under `--out-dir`,
//! docs/bench by default), and optionally its section of BENCHMARKS.md rewritten between
//! markers (`--benchmarks-md BENCHMARKS.md`), so no number there is typed by hand.
//!
//! Scenarios that need only a chain (`gas`, `onchain`) start their own anvil unless
//! `--rpc-url` names one. Scenarios that need the node network (`latency`, `fl`, `failover`)
//! start their own devnet (anvil and `pose node` processes of this binary, in a temporary
//! directory) and stop every process they started when they end, also on error; they print
//! their progress on stderr. Each scenario is a variant of [`Scenario`] and a module returning
//! a [`Report`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

mod failover;
mod fl;
mod gas;
mod latency;
mod net;
mod onchain;
mod plot;

/// Arguments of `pose bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Gas of every on-chain operation of the manager, per pool size, on a fresh anvil.
    Gas(gas::GasArgs),
    /// Plain Solidity token and auction on anvil (gas and wall time per call) beside pose.
    Onchain(onchain::OnchainArgs),
    /// Call latency and throughput through pools of several sizes on a local devnet.
    Latency(latency::LatencyArgs),
    /// Federated-learning submissions and aggregation end to end beside the runtime alone.
    Fl(fl::FlArgs),
    /// Time from the executor's crash to the first answer of the next executor, by phase.
    Failover(failover::FailoverArgs),
}

/// How a scenario reports, shared by all scenarios.
#[derive(Args, Debug, Clone)]
pub struct Output {
    /// Write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// What to print on stdout: a human table or the JSON report.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Directory for the SVG plots and the markdown table.
    #[arg(long, value_name = "DIR", default_value = "docs/bench")]
    out_dir: PathBuf,
    /// Rewrite this scenario's block (between its `<!-- pose bench NAME: begin -->` and
    /// `end` markers) in this markdown file, typically BENCHMARKS.md.
    #[arg(long, value_name = "FILE")]
    benchmarks_md: Option<PathBuf>,
    /// Use the anvil (or other dev chain with anvil's RPC methods) at this URL instead of
    /// starting one (chain-only scenarios; the node-network scenarios start their own).
    #[arg(long, value_name = "URL")]
    rpc_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// What a scenario produced.
pub struct Report {
    /// Scenario name as typed on the command line.
    pub scenario: &'static str,
    /// The full command that reproduces the run.
    pub command: String,
    /// The JSON document (without the `machine` field, which is added here).
    pub json: Value,
    /// A markdown table (also printed as the human table).
    pub markdown: String,
    /// Prose placed under the table in the markdown file.
    pub notes: String,
    /// Plots written, relative to the output directory.
    pub plots: Vec<String>,
}

/// Runs `pose bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    // Two workers: the node-network scenarios run many clients at once.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (report, out) = match args.scenario {
        Scenario::Gas(a) => {
            let out = a.out.clone();
            (rt.block_on(gas::run(a))?, out)
        }
        Scenario::Onchain(a) => {
            let out = a.out.clone();
            (rt.block_on(onchain::run(a))?, out)
        }
        Scenario::Latency(a) => {
            let out = a.out.clone();
            (rt.block_on(latency::run(a))?, out)
        }
        Scenario::Fl(a) => {
            let out = a.out.clone();
            (rt.block_on(fl::run(a))?, out)
        }
        Scenario::Failover(a) => {
            let out = a.out.clone();
            (rt.block_on(failover::run(a))?, out)
        }
    };
    emit(report, &out)
}

/// The machine the numbers come from.
pub fn machine() -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    // Other work on the machine while the scenario ran (1-minute load average at its end).
    let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
        s.split_whitespace()
            .next()
            .and_then(|l| l.parse::<f64>().ok())
    });
    json!({ "cpus": cpus, "cpu_model": model, "load_average_1min": load })
}

fn emit(mut report: Report, out: &Output) -> anyhow::Result<()> {
    let machine = machine();
    if let Value::Object(m) = &mut report.json {
        m.insert("machine".into(), machine.clone());
        m.insert("command".into(), Value::String(report.command.clone()));
    }
    let text = serde_json::to_string_pretty(&report.json)?;
    if let Some(path) = &out.json {
        write(path, &text)?;
    }
    match out.format {
        Format::Json => out!("{text}"),
        Format::Table => {
            out!("{}", report.markdown);
            for p in &report.plots {
                out!("plot: {}", out.out_dir.join(p).display());
            }
        }
    }
    let section = section(
        &report,
        &machine,
        &out.out_dir,
        out.benchmarks_md.as_deref(),
    );
    write(
        &out.out_dir.join(format!("{}.md", report.scenario)),
        &section,
    )?;
    if let Some(md) = &out.benchmarks_md {
        replace_block(md, report.scenario, &section)?;
    }
    Ok(())
}

/// The markdown block of a scenario: command, machine, table, plots, notes.
fn section(report: &Report, machine: &Value, out_dir: &Path, md: Option<&Path>) -> String {
    // Plot links are relative to the markdown file that holds the block.
    let base = md
        .and_then(|m| m.parent())
        .filter(|p| !p.as_os_str().is_empty());
    let rel = |p: &str| {
        let full = out_dir.join(p);
        match base {
            Some(b) => full
                .strip_prefix(b)
                .map(Path::to_path_buf)
                .unwrap_or(full.clone()),
            None => full,
        }
        .display()
        .to_string()
    };
    let load = machine["load_average_1min"]
        .as_f64()
        .map(|l| format!("; 1-minute load average {l:.2} at the end of the run"))
        .unwrap_or_default();
    let mut s = format!(
        "Command: `{}`\n\nMachine: {} CPUs (`nproc`), {} (`lscpu` model name){load}.\n\n{}\n",
        report.command,
        machine["cpus"],
        machine["cpu_model"].as_str().unwrap_or("unknown"),
        report.markdown
    );
    for p in &report.plots {
        s.push_str(&format!("![{p}]({})\n", rel(p)));
    }
    if !report.notes.is_empty() {
        s.push('\n');
        s.push_str(&report.notes);
        s.push('\n');
    }
    s
}

fn markers(scenario: &str) -> (String, String) {
    (
        format!("<!-- pose bench {scenario}: begin -->"),
        format!("<!-- pose bench {scenario}: end -->"),
    )
}

/// Replaces the text between the scenario's markers in `md`; the markers must be there.
fn replace_block(md: &Path, scenario: &str, body: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(md).with_context(|| format!("reading {}", md.display()))?;
    let (begin, end) = markers(scenario);
    let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
        bail!(
            "{} has no block for `{scenario}`: add the lines `{begin}` and `{end}` where the \
             table belongs",
            md.display()
        );
    };
    if e < b {
        bail!("{}: `{end}` comes before `{begin}`", md.display());
    }
    let new = format!("{}{begin}\n{body}{}", &text[..b], &text[e..]);
    write(md, &new)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// An anvil for a scenario: the one at `--rpc-url`, or a fresh one stopped on drop.
pub struct Chain {
    /// JSON-RPC URL.
    pub url: String,
    _anvil: Option<pose_chain::anvil::AnvilInstance>,
}

impl Chain {
    /// Connects to `url` or starts anvil.
    pub fn new(url: Option<String>) -> anyhow::Result<Self> {
        Ok(match url {
            Some(url) => Chain { url, _anvil: None },
            None => {
                let a = pose_chain::anvil::spawn_anvil(&[])
                    .context("starting anvil (run scripts/setup, set $ANVIL, or pass --rpc-url)")?;
                Chain {
                    url: a.endpoint(),
                    _anvil: Some(a),
                }
            }
        })
    }
}

/// Milliseconds of a duration, for JSON and tables.
pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
