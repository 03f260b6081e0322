//! `pose demo`: the system end to end on a local network, each step printed with what it
//! shows. It starts a devnet (anvil, the manager contract, operator node processes), deploys
//! the federated-learning contract to a pool of enclaves, lets participants submit updates,
//! aggregates them, rewards the participants and pays one out on-chain; then it kills the
//! executor's node and shows the contract answering under a new executor. At the end it stops
//! everything it started and exits 0, or, with `--keep-running`, keeps the devnet for you.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use pose_chain::alloy::primitives::U256;
use pose_chain::alloy::providers::Provider;
use pose_chain::{from_address, to_address, PoseManager};
use pose_client::PoseClient;
use pose_types::ContractId;

use crate::contract::connect;
use crate::devnet;

/// The federated-learning contract, as committed (examples/contracts/wasm).
const FL_WASM: &[u8] = include_bytes!("../../../examples/contracts/wasm/federated_learning.wasm");
/// Model size of the demo.
const PARAMS: usize = 8;
/// Wei in one ether.
const ETHER: u128 = 1_000_000_000_000_000_000;

/// Options of `pose demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many operator nodes to start (the pool has 3 members, so at least 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(3..=16))]
    pub nodes: u8,
    /// Keep the devnet running at the end (until Ctrl-C) to try `pose call`, `pose query`, ...
    #[arg(long)]
    pub keep_running: bool,
}

fn step(n: u32, text: &str) {
    out!("\n[{n}] {text}");
}

fn update(weight: f32, values: &[f32]) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend_from_slice(&weight.to_le_bytes());
    for x in values {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

fn model_of(output: &[u8]) -> anyhow::Result<(u64, Vec<f32>)> {
    if output.len() < 8 || !(output.len() - 8).is_multiple_of(4) {
        bail!("the model read back has a bad length {}", output.len());
    }
    let round = u64::from_le_bytes(output[..8].try_into()?);
    let model = output[8..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((round, model))
}

fn amount(op: u8, wei: u128) -> Vec<u8> {
    let mut v = vec![op];
    v.extend_from_slice(&wei.to_le_bytes());
    v
}

/// Runs the demo; an error says which step failed.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(demo(args))
}

async fn participant(net: &devnet::DevnetInfo, funder: &PoseClient) -> anyhow::Result<PoseClient> {
    let key = pose_crypto::SigningKey::random(&mut pose_crypto::OsRng);
    let hex_key = format!("0x{}", hex::encode(*key.to_bytes()));
    let c = connect(net, Some(&hex_key), options()).await?;
    funder
        .chain()
        .anvil_set_balance(to_address(c.address()), U256::from(10 * ETHER))
        .await?;
    Ok(c)
}

fn options() -> pose_client::ClientOptions {
    pose_client::ClientOptions {
        challenge_after: Duration::from_secs(5),
        ..Default::default()
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    step(
        1,
        "a local network: anvil, the manager contract, operator nodes",
    );
    let mut net = devnet::start(args.nodes, None).await?;
    let info = net.info.clone();
    let coordinator = connect(&info, None, options()).await?;
    let mut people = Vec::new();
    for _ in 0..3 {
        people.push(participant(&info, &coordinator).await?);
    }
    out!(
        "coordinator {}; participants {}, {}, {}",
        coordinator.address(),
        people[0].address(),
        people[1].address(),
        people[2].address()
    );

    step(
        2,
        "deploy federated learning to a pool of 3 enclaves drawn by the manager",
    );
    let params = PoseManager::Params {
        poolSize: 3,
        responsePeriodSecs: 30,
        memberResponsePeriodSecs: 5,
        confirmations: 1,
    };
    let cid = coordinator
        .deploy(FL_WASM, &(PARAMS as u32).to_le_bytes(), params)
        .await
        .context("deploying the contract")?;
    let pool = coordinator.chain().pool(cid).await?;
    out!(
        "contract {} is live; every member accepted it. Pool (executor first): {}",
        cid.0,
        pool.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    step(
        3,
        "the coordinator deposits a 0.3 ETH reward; participants submit encrypted updates",
    );
    coordinator.deposit(cid, 3 * ETHER / 10).await?;
    for (i, p) in people.iter().enumerate() {
        let w = (i + 1) as f32;
        let values: Vec<f32> = (0..PARAMS).map(|j| w * (j as f32)).collect();
        p.call(cid, &update(w, &values))
            .await
            .with_context(|| format!("participant {i} submits"))?;
        out!("participant {i} submitted weight {w} (input encrypted to the contract key)");
    }

    step(
        4,
        "aggregate: the executor computes the weighted average inside its enclave",
    );
    let out = coordinator.call(cid, &[2]).await.context("aggregating")?;
    out!(
        "round {} aggregated; receipt signed by executor {} after every watchdog acknowledged",
        u64::from_le_bytes(out.output[..8].try_into()?),
        out.receipt.executor
    );
    let (round, model) = model_of(&people[0].query(cid, &[4]).await?.output)?;
    out!("global model of round {round}: {model:?}");

    step(5, "reward the participants and pay one out on-chain");
    // The deposit is credited once the enclaves see it confirmed; retry briefly until then.
    let mut rewarded = None;
    for _ in 0..20 {
        match coordinator.call(cid, &amount(6, 3 * ETHER / 10)).await {
            Ok(a) if a.output.len() == 16 => {
                rewarded = Some(u128::from_le_bytes(a.output[..16].try_into()?));
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let share = rewarded.context("the reward was not accepted")?;
    out!("each participant now holds {share} wei inside the contract");
    let me = to_address(people[0].address());
    let before = people[0].chain().provider().get_balance(me).await?;
    people[0]
        .call(cid, &amount(7, share))
        .await
        .context("withdrawing")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = people[0].chain().provider().get_balance(me).await?;
        if now > before {
            out!(
                "participant 0 was paid {} wei on-chain (the executor signed the withdrawal)",
                now - before
            );
            break;
        }
        if Instant::now() > deadline {
            bail!("the payout did not arrive within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    step(
        6,
        "kill -9 the executor's node: the contract must stay live",
    );
    let executor = from_address(coordinator.chain().executor_of(cid).await?);
    let pid = net.kill_node_of(&executor.to_string())?;
    out!("killed node process {pid} (executor {executor}) without warning");
    let c = people[1]
        .clone()
        .with_progress(crate::contract::print_progress);
    let values: Vec<f32> = (0..PARAMS).map(|j| 10.0 + j as f32).collect();
    c.call(cid, &update(1.0, &values))
        .await
        .context("the call after the executor died")?;
    let round2 = coordinator
        .call(cid, &[2])
        .await
        .context("aggregating again")?;
    let inst = coordinator.chain().contract(cid).await?;
    let new_executor = from_address(coordinator.chain().executor_of(cid).await?);
    out!(
        "answered under a new executor: epoch {}, executor {new_executor} (round {})",
        inst.epoch,
        u64::from_le_bytes(round2.output[..8].try_into()?)
    );
    if new_executor == executor || inst.epoch == 0 {
        bail!("the executor did not change");
    }
    let (round, model) = model_of(&people[2].query(cid, &[4]).await?.output)?;
    out!("global model of round {round}: {model:?}");
    check_round(cid, round)?;

    out!(
        "\ndemo finished in {:.0} s: deployed, called, aggregated, paid out, survived the executor's death",
        started.elapsed().as_secs_f64()
    );
    if args.keep_running {
        out!(
            "the devnet keeps running; try: pose contract --network {} {}   (Ctrl-C stops it)",
            info_path(&info),
            cid.0
        );
        return net.serve().await;
    }
    out!("stopping everything the demo started");
    drop(net);
    Ok(())
}

fn check_round(cid: ContractId, round: u64) -> anyhow::Result<()> {
    if round < 2 {
        bail!("contract {}: expected round 2, read {round}", cid.0);
    }
    Ok(())
}

fn info_path(info: &devnet::DevnetInfo) -> String {
    info.nodes
        .first()
        .and_then(|n| n.config.parent().and_then(|p| p.parent()))
        .map(|d| d.join("devnet.json").display().to_string())
        .unwrap_or_else(|| "devnet.json".into())
}
