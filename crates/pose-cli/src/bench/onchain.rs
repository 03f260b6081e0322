//! `pose bench onchain`: the token and auction logic as plain Solidity
//! (contracts/baselines/, artifacts in contracts/out/) on anvil, gas and wall time per call,
//! beside pose, where the same calls run off-chain in the pool and cost no gas; pose pays gas
//! only once per contract (creation) and for moving coins in and out (deposit, withdraw),
//! taken from the gas scenario.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use pose_chain::alloy::network::{EthereumWallet, TransactionBuilder};
use pose_chain::alloy::primitives::{Address, Bytes, U256};
use pose_chain::alloy::providers::ext::AnvilApi;
use pose_chain::alloy::providers::{DynProvider, Provider, ProviderBuilder};
use pose_chain::alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use pose_chain::alloy::signers::local::PrivateKeySigner;
use pose_chain::alloy::sol_types::{SolCall, SolConstructor};
use pose_chain::gas::measure_gas;
use serde_json::json;

use super::{ms, plot, Chain, Output, Report};

#[allow(missing_docs)]
mod bindings {
    pose_chain::alloy::sol!(BaselineToken, "../../contracts/out/BaselineToken.json");
    pose_chain::alloy::sol!(BaselineAuction, "../../contracts/out/BaselineAuction.json");
}
use bindings::{BaselineAuction, BaselineToken};

/// Arguments of `pose bench onchain`.
#[derive(Args, Debug)]
pub struct OnchainArgs {
    /// Users of the token and bidders of the auction (each makes one call of each kind).
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Pool size of the pose contract whose one-time gas is shown.
    #[arg(long, default_value_t = 3)]
    pool_size: u8,
    #[command(flatten)]
    pub(super) out: Output,
}

const ONE_ETH: u128 = 1_000_000_000_000_000_000;
/// How often the receipt of a sent transaction is looked for.
const RECEIPT_POLL: Duration = Duration::from_millis(1);
/// Longest wait for a receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Measurements of one operation over several calls.
#[derive(Default)]
struct Op {
    gas: Vec<u64>,
    wall: Vec<Duration>,
}

impl Op {
    fn push(&mut self, t: (TransactionReceipt, Duration)) {
        self.gas.push(t.0.gas_used);
        self.wall.push(t.1);
    }
    fn mean_gas(&self) -> u64 {
        self.gas.iter().sum::<u64>() / self.gas.len().max(1) as u64
    }
    fn mean_wall(&self) -> Duration {
        self.wall.iter().sum::<Duration>() / self.wall.len().max(1) as u32
    }
}

/// Estimates, sends and waits for the receipt of `tx` from `p`; the time covers all three, as
/// a wallet does them.
async fn send(
    p: &DynProvider,
    from: Address,
    tx: TransactionRequest,
) -> anyhow::Result<(TransactionReceipt, Duration)> {
    let start = Instant::now();
    let tx = tx.with_from(from);
    let hash = *p
        .send_transaction(tx)
        .await
        .context("sending a baseline transaction")?
        .tx_hash();
    loop {
        if let Some(r) = p.get_transaction_receipt(hash).await? {
            if !r.status() {
                bail!("baseline transaction {hash} reverted");
            }
            return Ok((r, start.elapsed()));
        }
        if start.elapsed() > RECEIPT_TIMEOUT {
            bail!("no receipt for {hash} after {RECEIPT_TIMEOUT:?}; is the chain mining?");
        }
        tokio::time::sleep(RECEIPT_POLL).await;
    }
}

fn call(to: Address, c: &impl SolCall) -> TransactionRequest {
    TransactionRequest::default()
        .with_to(to)
        .with_input(c.abi_encode())
}

struct Account {
    provider: DynProvider,
    address: Address,
}

async fn account(url: &str) -> anyhow::Result<Account> {
    let key = PrivateKeySigner::random();
    let address = key.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(url.parse().context("parsing the RPC URL")?)
        .erased();
    provider
        .anvil_set_balance(address, U256::from(1000 * ONE_ETH))
        .await
        .context("funding an account (the chain must offer anvil's RPC methods)")?;
    Ok(Account { provider, address })
}

async fn deploy(a: &Account, code: Vec<u8>) -> anyhow::Result<Address> {
    let (r, _) = send(
        &a.provider,
        a.address,
        TransactionRequest::default().with_deploy_code(Bytes::from(code)),
    )
    .await?;
    r.contract_address
        .context("deployment receipt has no contract address")
}

/// Runs the scenario and builds its report.
pub async fn run(args: OnchainArgs) -> anyhow::Result<Report> {
    if args.users < 2 {
        bail!("--users must be at least 2 (transfers go from one user to another)");
    }
    let chain = Chain::new(args.out.rpc_url.clone())?;
    let pose = measure_gas(&chain.url, &[args.pool_size])
        .await
        .context("measuring pose's one-time gas")?;
    let pose_gas = |op: &str| pose.gas(op, args.pool_size).unwrap_or(0);

    let mut users = Vec::with_capacity(args.users);
    for _ in 0..args.users {
        users.push(account(&chain.url).await?);
    }
    let deposit_wei = U256::from(5 * ONE_ETH);

    // Token: everyone deposits, transfers to the next user, withdraws.
    let token = deploy(&users[0], BaselineToken::BYTECODE.to_vec()).await?;
    let (mut t_dep, mut t_tr, mut t_wd) = (Op::default(), Op::default(), Op::default());
    for u in &users {
        let tx = call(token, &BaselineToken::depositCall {}).with_value(deposit_wei);
        t_dep.push(send(&u.provider, u.address, tx).await?);
    }
    for (i, u) in users.iter().enumerate() {
        let to = users[(i + 1) % users.len()].address;
        let c = BaselineToken::transferCall {
            to,
            amount: U256::from(ONE_ETH),
        };
        t_tr.push(send(&u.provider, u.address, call(token, &c)).await?);
    }
    for u in &users {
        let c = BaselineToken::withdrawCall {
            amount: U256::from(ONE_ETH),
        };
        t_wd.push(send(&u.provider, u.address, call(token, &c)).await?);
    }

    // Auction: users[0] sells; the others deposit and bid; close; everyone withdraws.
    let now = users[0]
        .provider
        .get_block_by_number(Default::default())
        .await?
        .context("the chain has no latest block")?
        .header
        .timestamp;
    let end = now + 3600;
    let mut code = BaselineAuction::BYTECODE.to_vec();
    code.extend_from_slice(
        &BaselineAuction::constructorCall {
            seller_: users[0].address,
            reserve_: U256::from(ONE_ETH / 10),
            endTime_: end,
        }
        .abi_encode(),
    );
    let auction = deploy(&users[0], code).await?;
    let (mut a_bid, mut a_close, mut a_pay) = (Op::default(), Op::default(), Op::default());
    for (i, u) in users.iter().enumerate().skip(1) {
        let tx = call(auction, &BaselineAuction::depositCall {}).with_value(deposit_wei);
        send(&u.provider, u.address, tx).await?;
        let c = BaselineAuction::bidCall {
            amount: U256::from(ONE_ETH / 2 + i as u128),
        };
        a_bid.push(send(&u.provider, u.address, call(auction, &c)).await?);
    }
    users[0].provider.anvil_increase_time(3601).await?;
    users[0].provider.evm_mine(None).await?;
    a_close.push(
        send(
            &users[0].provider,
            users[0].address,
            call(auction, &BaselineAuction::closeCall {}),
        )
        .await?,
    );
    for u in &users {
        let c = BaselineAuction::withdrawCall {
            amount: U256::from(ONE_ETH / 4),
        };
        a_pay.push(send(&u.provider, u.address, call(auction, &c)).await?);
    }

    let ops: [(&str, &str, &Op); 6] = [
        ("token", "transfer", &t_tr),
        ("token", "deposit", &t_dep),
        ("token", "withdraw", &t_wd),
        ("auction", "bid", &a_bid),
        ("auction", "close", &a_close),
        ("auction", "payout", &a_pay),
    ];
    // What pose pays on-chain for the same operation: coins move in and out through the
    // manager, everything else runs in the pool.
    let pose_for = |op: &str| match op {
        "deposit" => (pose_gas("deposit"), "manager deposit"),
        "withdraw" | "payout" => (pose_gas("withdraw"), "manager withdraw"),
        _ => (0, "off-chain, no transaction"),
    };
    let mut rows = Vec::new();
    let mut table = String::from(
        "| contract | operation | calls | Solidity gas (mean) | Solidity wall ms (mean) | pose gas on-chain | pose path |\n|---|---|---:|---:|---:|---:|---|\n",
    );
    let mut plot_rows = Vec::new();
    for (contract, op, m) in ops {
        let (pg, how) = pose_for(op);
        table.push_str(&format!(
            "| {contract} | {op} | {} | {} | {:.3} | {pg} | {how} |\n",
            m.gas.len(),
            m.mean_gas(),
            ms(m.mean_wall()),
        ));
        rows.push(json!({
            "contract": contract,
            "operation": op,
            "calls": m.gas.len(),
            "gas": m.mean_gas(),
            "gas_min": m.gas.iter().min(),
            "gas_max": m.gas.iter().max(),
            "wall_ms": ms(m.mean_wall()),
            "pose_gas": pg,
            "pose_path": how,
        }));
        plot_rows.push((format!("{contract} {op} (Solidity)"), m.mean_gas()));
        plot_rows.push((format!("{contract} {op} (pose)"), pg));
    }
    let one_time = [
        ("createContract", pose_gas("createContract")),
        ("completeCreation", pose_gas("completeCreation")),
        ("deposit", pose_gas("deposit")),
        ("withdraw", pose_gas("withdraw")),
    ];
    table.push_str(&format!(
        "\npose one-time and coin-moving gas (pool size {}, from the gas scenario):\n\n| operation | gas |\n|---|---:|\n",
        args.pool_size
    ));
    for (op, g) in one_time {
        table.push_str(&format!("| `{op}` | {g} |\n"));
    }
    let doc = json!({
        "scenario": "onchain",
        "users": args.users,
        "pool_size": args.pool_size,
        "operations": rows,
        "pose_one_time": one_time.iter().map(|(op, g)| json!({"operation": op, "gas": g})).collect::<Vec<_>>(),
    });
    let plot_file = "onchain-gas.svg";
    plot::bars(
        &args.out.out_dir.join(plot_file),
        "Gas per call: plain Solidity vs pose on-chain",
        "gas",
        &plot_rows,
    )?;
    Ok(Report {
        scenario: "onchain",
        command: format!(
            "pose bench onchain --users {} --pool-size {}",
            args.users, args.pool_size
        ),
        json: doc,
        markdown: table,
        notes: format!(
            "The Solidity contracts (contracts/baselines/) hold the same token and auction \
             logic as the pose examples token-escrow and sealed-bid-auction, but on a public \
             chain: bids are visible to everyone (a sealed on-chain auction would add a \
             commit-reveal round and cost more). Each of {} users makes one call of each kind; \
             gas is the mean from receipts, wall time the mean from sending to the receipt on \
             anvil with instant mining (a real chain adds its block time, seconds). `close` \
             loops over the bidders, so its gas grows with them. In pose, transfers, bids and \
             the close run in the pool and cost no gas; only coins entering and leaving the \
             manager (deposit, withdraw/payout) and the contract's creation (once) are \
             transactions. pose's wall time per call needs the devnet (`pose bench latency`).",
            args.users
        ),
        plots: vec![plot_file.to_string()],
    })
}
