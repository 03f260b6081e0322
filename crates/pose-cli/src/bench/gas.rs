//! `pose bench gas`: [`pose_chain::gas::measure_gas`] on a fresh anvil, per pool size.

use anyhow::Context;
use clap::Args;
use pose_chain::gas::{measure_gas, OPERATIONS};
use serde_json::json;

use super::{ms, plot, Chain, Output, Report};

/// Arguments of `pose bench gas`.
#[derive(Args, Debug)]
pub struct GasArgs {
    /// Pool sizes to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [3u8, 5, 10, 20])]
    pool_sizes: Vec<u8>,
    #[command(flatten)]
    pub(super) out: Output,
}

/// Runs the scenario and builds its report.
pub async fn run(args: GasArgs) -> anyhow::Result<Report> {
    let chain = Chain::new(args.out.rpc_url.clone())?;
    let report = measure_gas(&chain.url, &args.pool_sizes)
        .await
        .context("running the gas scenario")?;
    let sizes = args
        .pool_sizes
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let label = |key: &'static str| {
        OPERATIONS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, l)| *l)
            .unwrap_or(key)
    };
    let operations: Vec<_> = report
        .samples
        .iter()
        .map(|s| {
            json!({
                "operation": s.operation,
                "label": label(s.operation),
                "pool_size": s.pool_size,
                "gas": s.gas,
                "wall_ms": ms(s.wall),
            })
        })
        .collect();
    let doc = json!({
        "scenario": "gas",
        "pool_sizes": args.pool_sizes,
        "registered_enclaves": report.registered,
        "operations": operations,
    });

    let dir = &args.out.out_dir;
    let first = args.pool_sizes.first().copied().unwrap_or(3);
    let per_op: Vec<(String, u64)> = OPERATIONS
        .iter()
        .filter(|(k, _)| *k != "deployment")
        .filter_map(|(k, _)| report.gas(k, first).map(|g| (k.to_string(), g)))
        .collect();
    let mut plots = Vec::new();
    plot::bars(
        &dir.join("gas-per-operation.svg"),
        &format!("PoseManager gas per operation (pool size {first})"),
        "gas",
        &per_op,
    )?;
    plots.push("gas-per-operation.svg".to_string());
    let series = ["createContract", "completeCreation", "removeMember"]
        .iter()
        .map(|k| {
            let pts = args
                .pool_sizes
                .iter()
                .filter_map(|s| report.gas(k, *s).map(|g| (u32::from(*s), g)))
                .collect::<Vec<_>>();
            (k.to_string(), pts)
        })
        .collect::<Vec<_>>();
    plot::lines(
        &dir.join("gas-vs-pool-size.svg"),
        "Gas of pool-size-dependent operations",
        "pool size",
        "gas",
        &series,
    )?;
    plots.push("gas-vs-pool-size.svg".to_string());

    Ok(Report {
        scenario: "gas",
        command: format!("pose bench gas --pool-sizes {sizes}"),
        json: doc,
        markdown: report.markdown_table(),
        notes: format!(
            "Gas of one transaction from its receipt (21000 base cost and calldata included), \
             on a fresh anvil with {} registered enclaves, transactions signed with pose-crypto \
             keys as enclaves sign them. Rows that do not depend on the pool size repeat. \
             `createContract` (one draw per member), `completeCreation` (one signature check \
             per member) and `removeMember` grow with the pool size; everything else is flat. \
             Values move by a few hundred gas between runs (random keys in calldata, number of \
             draws). docs/gas.md is the same scenario.",
            report.registered
        ),
        plots,
    })
}
