//! `pose bench failover`: the time from the executor's death (SIGKILL of its node) to the
//! first answer of the next executor, split into phases from the timestamps of the client's
//! progress reports and of the manager's events as a watcher sees them.
//!
//! One devnet with as many nodes as the pool, one token-escrow contract; each run kills the
//! current executor's node and makes one call through `PoseClient::call`, which sends to the
//! dead node, challenges on-chain after `--challenge-after-secs`, moves the executor on with
//! `timeoutChallenge` once the response period passed, and resends to the new executor. The
//! new executor answers once every live watchdog acknowledged its state; the dead previous
//! executor is still a pool member (a watchdog now), so the new executor first waits for its
//! acknowledgement, challenges it (`challengeMember`) and removes it (`removeMember`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use pose_chain::bindings::PoseManager::PoseManagerEvents;
use pose_chain::{from_address, EventFollower};
use pose_client::{ClientOptions, PoseClient, Progress};
use pose_types::{Address, ContractId};
use serde_json::json;

use super::net::{check_output, deploy, list, median, say, Net, TOKEN_WASM};
use super::{plot, Output, Report};

/// Arguments of `pose bench failover`.
#[derive(Args, Debug)]
pub struct FailoverArgs {
    /// How many times to kill the executor (each run kills the current one).
    #[arg(long, default_value_t = 3)]
    runs: u8,
    /// Pool size (default: runs + 1, at least 3); each run removes one member for good.
    #[arg(long)]
    pool_size: Option<u8>,
    /// The contract's response period (seconds): how long an executor has to answer a
    /// challenge before anyone may move the executor on. It must leave the new executor time
    /// to remove the dead member (the enclave's 8 s ack timeout, the member response period
    /// and three transactions), or the client moves the executor on again until the contract
    /// crashes.
    #[arg(long, default_value_t = 30)]
    response_secs: u32,
    /// How long a challenged pool member has to answer (seconds).
    #[arg(long, default_value_t = 5)]
    member_response_secs: u32,
    /// Seconds without a receipt before the client challenges on-chain.
    #[arg(long, default_value_t = 2)]
    challenge_after_secs: u64,
    #[command(flatten)]
    pub(super) out: Output,
}

/// Anvil's block interval on the devnet, seconds.
const BLOCK_SECS: f64 = 1.0;

/// Phase names, in order; their durations sum to the total.
const PHASES: [&str; 7] = [
    "detection (client waits before challenging)",
    "challenge included",
    "response period runs out",
    "timeoutChallenge included",
    "new executor waits for the dead member's ack",
    "dead member challenged and removed",
    "state sync and answer",
];

/// Short phase labels for the plot legend.
const PHASE_LABELS: [&str; 7] = [
    "detection",
    "challenge tx",
    "response period",
    "timeoutChallenge tx",
    "ack timeout",
    "member challenge + removal",
    "sync + answer",
];

/// One failover.
struct Run {
    killed: Address,
    new_executor: Address,
    /// Phase durations, seconds, in [`PHASES`] order.
    phases: [f64; 7],
}

impl Run {
    fn total(&self) -> f64 {
        self.phases.iter().sum()
    }
    /// From the challenge's inclusion to the answer: what the target bounds.
    fn after_challenge(&self) -> f64 {
        self.phases[2..].iter().sum()
    }
}

/// First time the watcher saw a member challenged and removed (the killed member).
#[derive(Default)]
struct Seen {
    challenged: Option<Instant>,
    removed: Option<Instant>,
}

/// Runs the scenario and builds its report.
pub async fn run(args: FailoverArgs) -> anyhow::Result<Report> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let pool = args.pool_size.unwrap_or((args.runs + 1).max(3));
    if u16::from(pool) < u16::from(args.runs) + 1 {
        bail!(
            "a pool of {pool} survives {} executor deaths; use --pool-size {} or more, or fewer --runs",
            pool - 1,
            u16::from(args.runs) + 1
        );
    }
    if pool > crate::devnet::NODES_MAX {
        bail!(
            "pool size {pool} needs {pool} nodes; a devnet has at most {}",
            crate::devnet::NODES_MAX
        );
    }
    if args.response_secs == 0 || args.member_response_secs == 0 {
        bail!("--response-secs and --member-response-secs must be at least 1");
    }
    let needed = pose_enclave::ACK_TIMEOUT_MS_DEFAULT.div_ceil(1000) as u32
        + args.member_response_secs
        + 6 * BLOCK_SECS as u32;
    if args.response_secs < needed {
        say(&format!(
            "warning: --response-secs {} is below about {needed} s (ack timeout, member response \
             period, three transactions): the next executor will likely miss its deadline too, \
             and the contract may crash",
            args.response_secs
        ));
    }
    let options = ClientOptions {
        poll: Duration::from_millis(100),
        challenge_after: Duration::from_secs(args.challenge_after_secs),
        give_up_after: Duration::from_secs(
            600 + 4 * u64::from(args.response_secs + args.member_response_secs),
        ),
        ..Default::default()
    };
    let mut net = Net::start("failover", pool).await?;
    let owner = net.owner(options).await?;
    say(&format!("deploying token-escrow to a pool of {pool} ..."));
    let cid = deploy(
        &owner,
        TOKEN_WASM,
        &[],
        pool,
        args.response_secs,
        args.member_response_secs,
    )
    .await?;
    let mut runs = Vec::new();
    for r in 0..args.runs {
        let run = one_run(&mut net, &owner, cid, r)
            .await
            .with_context(|| format!("failover run {}", r + 1))?;
        say(&format!(
            "run {}: {:.1} s from the kill to the answer ({:.1} s after the challenge's inclusion)",
            r + 1,
            run.total(),
            run.after_challenge()
        ));
        runs.push(run);
    }
    drop(net);
    report(&args, pool, &runs)
}

fn transfer_input(who: &Address) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend_from_slice(&who.0);
    v.extend_from_slice(&0u128.to_le_bytes());
    v
}

async fn one_run(net: &mut Net, owner: &PoseClient, cid: ContractId, r: u8) -> anyhow::Result<Run> {
    let input = transfer_input(&owner.address());
    // The contract answers before the kill (also: the state every member holds is current).
    let a = owner
        .call(cid, &input)
        .await
        .context("call before the kill")?;
    check_output("call before the kill", &a.output)?;
    let executor = from_address(owner.chain().executor_of(cid).await?);

    // Watch the manager's events for the dead member's challenge and removal.
    let from = owner.chain().block_number().await?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watcher = {
        let (seen, chain) = (seen.clone(), owner.chain().clone());
        tokio::spawn(async move {
            let mut follower = EventFollower::from_block(from);
            loop {
                if let Ok(events) = follower.poll(&chain).await {
                    let now = Instant::now();
                    let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                    for e in events {
                        match e.event {
                            PoseManagerEvents::MemberChallenged(m)
                                if m.cid == cid.0 && from_address(m.member) == executor =>
                            {
                                s.challenged.get_or_insert(now);
                            }
                            PoseManagerEvents::MemberRemoved(m)
                                if m.cid == cid.0 && from_address(m.member) == executor =>
                            {
                                s.removed.get_or_insert(now);
                            }
                            _ => {}
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let log: Arc<Mutex<Vec<(Instant, Progress)>>> = Arc::default();
    let client = {
        let log = log.clone();
        owner.clone().with_progress(move |p| {
            log.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((Instant::now(), p.clone()));
        })
    };
    say(&format!(
        "run {}: killing the node of executor {executor} ...",
        r + 1
    ));
    let t0 = Instant::now();
    let pid = net.devnet.kill_node_of(&executor.to_string())?;
    say(&format!(
        "run {}: node {pid} killed; calling the contract ...",
        r + 1
    ));
    let answer = client.call(cid, &input).await;
    let t5 = Instant::now();
    // Give the watcher one more poll: the removal may be in the block that answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    watcher.abort();
    let answer = answer.context("the call after the executor's death")?;
    check_output("call after the kill", &answer.output)?;
    if answer.receipt.executor == executor {
        bail!("the answer came from the killed executor {executor}");
    }

    let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let first = |f: &dyn Fn(&Progress) -> bool| log.iter().find(|(_, p)| f(p)).map(|(t, _)| *t);
    let t1 = first(&|p| *p == Progress::Submitting("challenge"))
        .context("the client never challenged")?;
    let t2 = first(&|p| matches!(p, Progress::Challenged { .. }))
        .context("the challenge was never included")?;
    let t3 = first(&|p| *p == Progress::Submitting("timeoutChallenge"))
        .context("the client never sent timeoutChallenge")?;
    let t4 = first(&|p| matches!(p, Progress::ExecutorChanged { .. }))
        .context("the client never saw the executor change")?;
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    // Clamp watcher times into [t4, t5] so that the phases stay in order and sum to the total.
    let clamp = |t: Option<Instant>| t.map(|t| t.clamp(t4, t5)).unwrap_or(t4);
    let t_mc = clamp(seen.challenged);
    let t_mr = clamp(seen.removed).max(t_mc);
    let secs = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64();
    let phases = [
        secs(t0, t1),
        secs(t1, t2),
        secs(t2, t3),
        secs(t3, t4),
        secs(t4, t_mc),
        secs(t_mc, t_mr),
        secs(t_mr, t5),
    ];
    Ok(Run {
        killed: executor,
        new_executor: answer.receipt.executor,
        phases,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

fn report(args: &FailoverArgs, pool: u8, runs: &[Run]) -> anyhow::Result<Report> {
    let target = f64::from(args.response_secs) + 2.0 * BLOCK_SECS;
    let mut md = String::from("| phase |");
    for i in 0..runs.len() {
        md.push_str(&format!(" run {} s |", i + 1));
    }
    md.push_str(" median s |\n|---|");
    md.push_str(&"---:|".repeat(runs.len() + 1));
    md.push('\n');
    for (j, name) in PHASES.iter().enumerate() {
        let v: Vec<f64> = runs.iter().map(|r| r.phases[j]).collect();
        md.push_str(&format!("| {name} |"));
        for x in &v {
            md.push_str(&format!(" {x:.2} |"));
        }
        md.push_str(&format!(" {:.2} |\n", median(&v)));
    }
    let totals: Vec<f64> = runs.iter().map(Run::total).collect();
    let after: Vec<f64> = runs.iter().map(Run::after_challenge).collect();
    for (name, v) in [
        ("**total: kill to answer**", &totals),
        ("from the challenge's inclusion to the answer", &after),
    ] {
        md.push_str(&format!("| {name} |"));
        for x in v.iter() {
            md.push_str(&format!(" {x:.2} |"));
        }
        md.push_str(&format!(" {:.2} |\n", median(v)));
    }
    let med_after = median(&after);
    md.push_str(&format!(
        "\nTarget: one challenge period plus two blocks = {} s + 2 x {BLOCK_SECS} s = {target:.0} s \
         from the challenge's inclusion to the answer; median {med_after:.2} s: **{}**.\n",
        args.response_secs,
        if med_after <= target { "met" } else { "missed" }
    ));

    let json_runs: Vec<_> = runs
        .iter()
        .map(|r| {
            json!({
                "killed_executor": r.killed.to_string(),
                "new_executor": r.new_executor.to_string(),
                "phases": PHASES.iter().zip(r.phases).map(|(n, s)| json!({"phase": n, "secs": round3(s)})).collect::<Vec<_>>(),
                "total_secs": round3(r.total()),
                "after_challenge_secs": round3(r.after_challenge()),
            })
        })
        .collect();
    let doc = json!({
        "scenario": "failover",
        "runs": json_runs,
        "pool_size": pool,
        "response_secs": args.response_secs,
        "member_response_secs": args.member_response_secs,
        "challenge_after_secs": args.challenge_after_secs,
        "block_secs": BLOCK_SECS,
        "median_total_secs": round3(median(&totals)),
        "median_after_challenge_secs": round3(med_after),
        "target_secs": target,
        "target_met": med_after <= target,
    });
    let rows: Vec<(String, Vec<f64>)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("run {}", i + 1), r.phases.to_vec()))
        .collect();
    let plot_file = "failover-phases.svg";
    plot::stacked_bars(
        &args.out.out_dir.join(plot_file),
        &format!(
            "Failover after kill -9 of the executor (response period {} s)",
            args.response_secs
        ),
        "s",
        &PHASE_LABELS,
        &rows,
    )?;
    Ok(Report {
        scenario: "failover",
        command: format!(
            "pose bench failover --runs {} --pool-size {pool} --response-secs {} --member-response-secs {} --challenge-after-secs {}",
            args.runs, args.response_secs, args.member_response_secs, args.challenge_after_secs
        ),
        json: doc,
        markdown: md,
        notes: format!(
            "A devnet of {pool} nodes (anvil mines a block every {BLOCK_SECS} s) and one \
             token-escrow contract with a pool of {pool}, response period {} s, member response \
             period {} s. Each run first makes a call that the executor answers, then kills the \
             executor's node with SIGKILL and times one call through `PoseClient::call` \
             (challenge after {} s without a receipt). Phase boundaries are the client's \
             progress reports (challenge submitted, challenge included, timeoutChallenge \
             submitted, executor change seen, answer verified) and the first sight of the \
             manager's `MemberChallenged` / `MemberRemoved` events for the dead member by a \
             watcher polling every 100 ms. Runs {} of the same contract: each kills the \
             executor that took over in the run before.",
            args.response_secs,
            args.member_response_secs,
            args.challenge_after_secs,
            list(&(1..=runs.len()).collect::<Vec<_>>()),
        ),
        plots: vec![plot_file.into()],
    })
}
