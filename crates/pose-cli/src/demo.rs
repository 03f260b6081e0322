//! `pose demo`: the system end to end on a local network, each step printed with what it
//! shows. It starts a devnet (anvil, the manager contract, operator node processes), deploys
//! the federated-learning contract to a pool of enclaves, lets participants submit updates,
//! aggregates them, rewards the participants and pays one out on-chain; then it kills the
//! executor's node and shows the contract answering under a new executor. At the end it stops
//! everything it started and exits 0, or, with `--keep-running`, keeps the devnet for you.
//!
//! Every contract method goes through the contract's typed interface (read from the `.wasm`
//! file, as `pose call` does): the demo prints the `pose` command that does the same and the
//! JSON that command prints, including a contract error.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use pose_chain::alloy::primitives::U256;
use pose_chain::alloy::providers::Provider;
use pose_chain::{from_address, to_address, PoseManager};
use pose_client::interface::{Interface, Kind};
use pose_client::PoseClient;
use pose_types::ContractId;
use serde_json::{json, Value as Json};

use crate::contract::{connect, typed_answer};
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

/// The federated-learning contract's methods, from its interface.
struct Fl {
    itf: Interface,
    cid: ContractId,
}

impl Fl {
    /// Runs `method` with named arguments as `c`; prints the equivalent `pose` command and the
    /// JSON it prints. Returns the result, or the contract's error as `Err(json)`.
    async fn invoke(
        &self,
        c: &PoseClient,
        kind: Kind,
        method: &str,
        args: &[(&str, Json)],
    ) -> anyhow::Result<Result<Json, Json>> {
        let (command, line, r) = self.invoke_quietly(c, kind, method, args).await?;
        out!("{command}");
        out!("  {line}");
        Ok(r)
    }

    /// [`Fl::invoke`] without printing: returns the command and the JSON line.
    async fn invoke_quietly(
        &self,
        c: &PoseClient,
        kind: Kind,
        method: &str,
        args: &[(&str, Json)],
    ) -> anyhow::Result<(String, String, Result<Json, Json>)> {
        let m = self.itf.method(kind, method)?;
        let named: Vec<(String, Json)> = args
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        let input = m.encode_input(&named)?;
        let shown: Vec<String> = args
            .iter()
            .map(|(n, v)| match v {
                Json::Array(items) => format!(
                    "--{n} {}",
                    items
                        .iter()
                        .map(Json::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Json::String(s) => format!("--{n} {s}"),
                v => format!("--{n} {v}"),
            })
            .collect();
        let command = format!(
            "  $ pose {} {} {method}{}{}",
            kind.as_str(),
            self.cid.0,
            if shown.is_empty() { "" } else { " " },
            shown.join(" ")
        );
        let answer = match kind {
            Kind::Query => c.query(self.cid, &input).await?,
            _ => c.call(self.cid, &input).await?,
        };
        // `pose call` also prints the receipt's fields; the demo keeps lines short.
        let t = typed_answer(m, &answer)?;
        Ok((command, t.short, t.value))
    }

    /// [`Fl::invoke`] that must succeed.
    async fn ok(
        &self,
        c: &PoseClient,
        kind: Kind,
        method: &str,
        args: &[(&str, Json)],
    ) -> anyhow::Result<Json> {
        match self.invoke(c, kind, method, args).await? {
            Ok(v) => Ok(v),
            Err(e) => bail!("{method} failed: {e}"),
        }
    }
}

fn model_of(result: &Json) -> anyhow::Result<(u64, Vec<f32>)> {
    let round = result["round"].as_u64().context("the model has no round")?;
    let model = result["model"]
        .as_array()
        .context("the model has no parameters")?
        .iter()
        .map(|x| x.as_f64().map(|x| x as f32))
        .collect::<Option<Vec<f32>>>()
        .context("a parameter is not a number")?;
    Ok((round, model))
}

fn u128_of(v: &Json) -> anyhow::Result<u128> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{v} is not a u128"))
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
    let itf = Interface::from_wasm(FL_WASM).context("the contract's interface")?;
    let init = itf
        .init()
        .context("the contract has an init method")?
        .encode_input(&[("params".to_owned(), json!(PARAMS))])?;
    out!("  $ pose deploy federated_learning.wasm -- --params {PARAMS}");
    crate::contract::keep_code(std::path::Path::new(&info_path(&info)), FL_WASM)?;
    let cid = coordinator
        .deploy(FL_WASM, &init, params)
        .await
        .context("deploying the contract")?;
    let fl = Fl { itf, cid };
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
        fl.ok(
            p,
            Kind::Call,
            "submit",
            &[("weight", json!(w)), ("update", json!(values))],
        )
        .await
        .with_context(|| format!("participant {i} submits"))?;
        out!("participant {i} submitted weight {w} (input encrypted to the contract key)");
    }

    step(
        4,
        "aggregate: the executor computes the weighted average inside its enclave",
    );
    let round = fl
        .ok(&coordinator, Kind::Call, "aggregate", &[])
        .await
        .context("aggregating")?;
    out!(
        "round {round} aggregated; receipt signed by executor {} after every watchdog acknowledged",
        from_address(coordinator.chain().executor_of(cid).await?)
    );
    let (round, model) = model_of(&fl.ok(&people[0], Kind::Query, "model", &[]).await?)?;
    out!("global model of round {round}: {model:?}");
    out!("only the coordinator may start a new round; a participant's try fails, as JSON:");
    match fl.invoke(&people[0], Kind::Call, "new_round", &[]).await? {
        Err(e) if e["kind"] == "aborted" => {}
        other => bail!("a participant started a new round: {other:?}"),
    }

    step(5, "reward the participants and pay one out on-chain");
    // The deposit is credited once the enclaves see it confirmed; retry briefly until then.
    let mut rewarded = None;
    for _ in 0..20 {
        let amount = [("amount", json!((3 * ETHER / 10).to_string()))];
        match fl
            .invoke_quietly(&coordinator, Kind::Call, "reward", &amount)
            .await
        {
            Ok((command, line, Ok(share))) => {
                out!("{command}");
                out!("  {line}");
                rewarded = Some(u128_of(&share)?);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let share = rewarded.context("the reward was not accepted")?;
    out!("each participant now holds {share} wei inside the contract");
    let me = to_address(people[0].address());
    let before = people[0].chain().provider().get_balance(me).await?;
    fl.ok(
        &people[0],
        Kind::Call,
        "withdraw",
        &[("amount", json!(share.to_string()))],
    )
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
    fl.ok(
        &c,
        Kind::Call,
        "submit",
        &[("weight", json!(1.0)), ("update", json!(values))],
    )
    .await
    .context("the call after the executor died")?;
    let round2 = fl
        .ok(&coordinator, Kind::Call, "aggregate", &[])
        .await
        .context("aggregating again")?;
    let inst = coordinator.chain().contract(cid).await?;
    let new_executor = from_address(coordinator.chain().executor_of(cid).await?);
    out!(
        "answered under a new executor: epoch {}, executor {new_executor} (round {round2})",
        inst.epoch,
    );
    if new_executor == executor || inst.epoch == 0 {
        bail!("the executor did not change");
    }
    let (round, model) = model_of(&fl.ok(&people[2], Kind::Query, "model", &[]).await?)?;
    out!("global model of round {round}: {model:?}");
    check_round(cid, round)?;

    out!(
        "\ndemo finished in {:.0} s: deployed, called, aggregated, paid out, survived the executor's death",
        started.elapsed().as_secs_f64()
    );
    if args.keep_running {
        out!(
            "the devnet keeps running (Ctrl-C stops it); try:\n  export POSE_NETWORK={}\n  pose interface {cid}\n  pose query {cid} info\n  pose query {cid} model\n  pose contract {cid}",
            info_path(&info),
            cid = cid.0
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
        .and_then(|n| n.config.as_deref())
        .and_then(|c| c.parent().and_then(|p| p.parent()))
        .map(|d| d.join("devnet.json").display().to_string())
        .unwrap_or_else(|| "devnet.json".into())
}
