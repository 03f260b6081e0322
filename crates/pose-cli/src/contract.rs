//! The user commands: `pose deploy`, `pose call`, `pose query`, `pose deposit`,
//! `pose withdraw`, `pose challenge` and `pose contract` (a contract's on-chain status).
//!
//! Every command reads the network from a JSON file in the format `pose devnet` writes
//! (`devnet.json`: RPC URL, manager, vendor, nodes with their enclaves, and a funded user key),
//! so the same commands work against any EVM chain whose file lists its nodes. Inputs and
//! outputs are hex (`0x` optional); `@path` reads an input from a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use pose_chain::alloy::providers::Provider;
use pose_chain::{from_address, to_address, ChainConfig, ManagerClient, PoseManager};
use pose_client::risk;
use pose_client::{ClientOptions, PoseClient, Progress};
use pose_types::{Address, ContractId};

use crate::devnet::{read_info, DevnetInfo};

/// Where the network is and who the user is.
#[derive(Args, Debug, Clone)]
pub struct NetworkArgs {
    /// The network file (`devnet.json`, printed by `pose devnet`).
    #[arg(long, env = "POSE_NETWORK")]
    pub network: PathBuf,
    /// The user's private key (hex); default: the network file's user key.
    #[arg(long, env = "POSE_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// The user commands.
#[derive(Subcommand, Debug)]
pub enum ContractCommand {
    /// Create a contract from a .wasm file, hand it to its pool and wait until it is live.
    Deploy(DeployArgs),
    /// Send a state-changing call; prints the contract's output.
    Call(InputArgs),
    /// Send a read-only query; prints the contract's output.
    Query(InputArgs),
    /// Deposit coins (wei) into a contract; the contract credits them to you.
    Deposit(DepositArgs),
    /// Send a call that pays you out and wait until the payout reaches your account.
    Withdraw(InputArgs),
    /// Force a call on-chain at once (what `pose call` does by itself when the executor is
    /// silent), then wait for the answer.
    Challenge(InputArgs),
    /// A contract's on-chain status: phase, pool, executor, epoch, sequence, balance.
    Contract(ContractArgs),
}

/// Options of `pose deploy`.
#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    net: NetworkArgs,
    /// The contract (a .wasm file built with pose-contract-sdk).
    wasm: PathBuf,
    /// Input of the contract's `init` (hex or @file; empty by default).
    #[arg(long, default_value = "")]
    init: String,
    /// Pool size: more members make it less likely that all are corrupted.
    #[arg(long, default_value_t = 3)]
    pool_size: u8,
    /// Seconds the executor has to answer a challenge on-chain.
    #[arg(long, default_value_t = 30)]
    response_secs: u32,
    /// Seconds a challenged member has to answer.
    #[arg(long, default_value_t = 30)]
    member_response_secs: u32,
    /// Assumed fraction of corrupted enclaves, for the printed risk (SPEC section 8).
    #[arg(long, default_value_t = 0.1)]
    corrupted_fraction: f64,
}

/// Options of the commands that send an input to a contract.
#[derive(Args, Debug)]
pub struct InputArgs {
    #[command(flatten)]
    net: NetworkArgs,
    /// The contract id.
    cid: u64,
    /// The input (hex or @file).
    input: String,
    /// Seconds without a receipt before the call is forced on-chain.
    #[arg(long, default_value_t = 10)]
    challenge_after: u64,
}

/// Options of `pose deposit`.
#[derive(Args, Debug)]
pub struct DepositArgs {
    #[command(flatten)]
    net: NetworkArgs,
    /// The contract id.
    cid: u64,
    /// Amount in wei.
    wei: u128,
}

/// Options of `pose contract`.
#[derive(Args, Debug)]
pub struct ContractArgs {
    #[command(flatten)]
    net: NetworkArgs,
    /// The contract id.
    cid: u64,
}

/// Parses hex (`0x` optional) or reads `@path`.
pub fn parse_input(text: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(path) = text.strip_prefix('@') {
        return std::fs::read(path).with_context(|| format!("reading the input file {path}"));
    }
    let hex_text = text.trim().trim_start_matches("0x");
    hex::decode(hex_text).with_context(|| {
        format!("the input {text:?} is not hex; give bytes as hex (e.g. 0x0102) or @file")
    })
}

/// A client for the network file's chain, nodes and vendor.
pub async fn connect(
    info: &DevnetInfo,
    key: Option<&str>,
    options: ClientOptions,
) -> anyhow::Result<PoseClient> {
    let key_hex = key.unwrap_or(&info.user_key);
    let signer = pose_chain::parse_private_key(key_hex)?;
    let user = pose_crypto::SigningKey::from_bytes(&signer.to_bytes().0)
        .context("the user key is not a valid secp256k1 key")?;
    let manager = info
        .manager
        .parse()
        .with_context(|| format!("manager address {:?} in the network file", info.manager))?;
    let chain = ManagerClient::connect(ChainConfig::new(info.rpc_url.clone()), signer, manager)
        .await
        .with_context(|| format!("connecting to the chain at {}", info.rpc_url))?;
    let mut nodes = BTreeMap::new();
    for n in &info.nodes {
        let enclave = parse_address(&n.enclave)?;
        nodes.insert(enclave, n.url.clone());
    }
    let vendor = parse_address(&info.vendor)?;
    let measurement = pose_node::enclave_core::program_measurement();
    Ok(
        PoseClient::new(chain, user, nodes, vendor, vec![measurement])
            .with_options(options)
            .with_progress(print_progress),
    )
}

fn parse_address(text: &str) -> anyhow::Result<Address> {
    let a: pose_chain::alloy::primitives::Address = text
        .parse()
        .with_context(|| format!("{text:?} is not an address"))?;
    Ok(from_address(a))
}

/// Prints what the client is waiting for.
pub fn print_progress(p: &Progress) {
    match p {
        Progress::Submitting(what) => println!("  submitting {what} to the chain ..."),
        Progress::Sent { executor, url } => {
            println!("  request sent to executor {executor} at {url}")
        }
        Progress::Challenged { challenge_id } => println!(
            "  no receipt in time: request forced on-chain (challenge {challenge_id}); waiting for the answer ..."
        ),
        Progress::AnsweredOnChain { challenge_id } => {
            println!("  the executor answered challenge {challenge_id} on-chain")
        }
        Progress::ExecutorChanged { epoch, executor } => {
            println!("  executor changed: epoch {epoch}, executor {executor}")
        }
        Progress::WaitingForCreation => {
            println!("  code handed to the executor; waiting until every pool member accepted ...")
        }
        Progress::ReceiptRefused {
            executor,
            chain_pos,
        } => println!(
            "  receipt from executor {executor} refused: it names chain position {chain_pos}, \
             which the manager never produced (its host invented chain transactions); waiting \
             for an answer through the chain ..."
        ),
    }
}

fn load(net: &NetworkArgs) -> anyhow::Result<DevnetInfo> {
    read_info(Path::new(&net.network))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

fn options(challenge_after: u64) -> ClientOptions {
    ClientOptions {
        challenge_after: Duration::from_secs(challenge_after),
        ..ClientOptions::default()
    }
}

/// Prints output bytes as hex, and as text when they are printable.
pub fn show_output(output: &[u8]) {
    println!("output: 0x{}", hex::encode(output));
    if !output.is_empty() && output.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        println!("output (text): {}", String::from_utf8_lossy(output));
    }
}

/// Runs one user command.
pub fn run(cmd: ContractCommand) -> anyhow::Result<()> {
    let rt = runtime()?;
    rt.block_on(async move {
        match cmd {
            ContractCommand::Deploy(a) => deploy(a).await,
            ContractCommand::Call(a) => send(a, false).await,
            ContractCommand::Query(a) => send(a, true).await,
            ContractCommand::Withdraw(a) => withdraw(a).await,
            ContractCommand::Challenge(a) => {
                let challenge_after = 0;
                send(
                    InputArgs {
                        challenge_after,
                        ..a
                    },
                    false,
                )
                .await
            }
            ContractCommand::Deposit(a) => {
                let info = load(&a.net)?;
                let client = connect(&info, a.net.key.as_deref(), options(10)).await?;
                client.deposit(ContractId(a.cid), a.wei).await?;
                println!("deposited {} wei into contract {}", a.wei, a.cid);
                Ok(())
            }
            ContractCommand::Contract(a) => status(a).await,
        }
    })
}

async fn deploy(a: DeployArgs) -> anyhow::Result<()> {
    let info = load(&a.net)?;
    let code = std::fs::read(&a.wasm)
        .with_context(|| format!("reading the contract {}", a.wasm.display()))?;
    let init = parse_input(&a.init)?;
    let client = connect(&info, a.net.key.as_deref(), options(10)).await?;
    let registered = client
        .chain()
        .read(&PoseManager::activeEnclaveCountCall {})
        .await?;
    let registered = u64::try_from(registered).unwrap_or(u64::MAX);
    if registered < u64::from(a.pool_size) {
        bail!(
            "a pool of {} needs {} registered enclaves, the manager has {registered}; use a smaller --pool-size",
            a.pool_size,
            a.pool_size
        );
    }
    let corrupted = (a.corrupted_fraction * registered as f64).floor() as u64;
    match risk::all_corrupted_exact(registered, corrupted, u64::from(a.pool_size)) {
        Ok(p) => println!(
            "pool of {} drawn from {registered} enclaves: if {corrupted} of them were corrupted \
             ({:.0} %), all members would be corrupted with probability {p:.3e}",
            a.pool_size,
            a.corrupted_fraction * 100.0
        ),
        Err(e) => println!("risk not computed: {e}"),
    }
    let params = PoseManager::Params {
        poolSize: a.pool_size,
        responsePeriodSecs: a.response_secs,
        memberResponsePeriodSecs: a.member_response_secs,
        confirmations: 1,
    };
    let cid = client.deploy(&code, &init, params).await?;
    let pool = client.chain().pool(cid).await?;
    println!("contract {} is live; pool (executor first):", cid.0);
    for m in pool {
        println!("  {m}");
    }
    Ok(())
}

async fn send(a: InputArgs, query: bool) -> anyhow::Result<()> {
    let info = load(&a.net)?;
    let input = parse_input(&a.input)?;
    let client = connect(&info, a.net.key.as_deref(), options(a.challenge_after)).await?;
    let cid = ContractId(a.cid);
    let answer = if query {
        client.query(cid, &input).await?
    } else {
        client.call(cid, &input).await?
    };
    println!(
        "receipt: executor {} epoch {} applied at seq {} (acknowledged seq {})",
        answer.receipt.executor,
        answer.receipt.epoch.0,
        answer.receipt.applied_seq.0,
        answer.receipt.seq.0
    );
    show_output(&answer.output);
    Ok(())
}

async fn withdraw(a: InputArgs) -> anyhow::Result<()> {
    let info = load(&a.net)?;
    let input = parse_input(&a.input)?;
    let client = connect(&info, a.net.key.as_deref(), options(a.challenge_after)).await?;
    let me = to_address(client.address());
    let before = client.chain().provider().get_balance(me).await?;
    let answer = client.call(ContractId(a.cid), &input).await?;
    show_output(&answer.output);
    println!("  waiting for the executor's payout on-chain ...");
    let start = tokio::time::Instant::now();
    loop {
        let now = client.chain().provider().get_balance(me).await?;
        if now > before {
            println!("payout received: balance {before} -> {now} wei");
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("no payout within 120 s; check `pose contract` and the nodes' logs");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn status(a: ContractArgs) -> anyhow::Result<()> {
    let info = load(&a.net)?;
    let client = connect(&info, a.net.key.as_deref(), options(10)).await?;
    let cid = ContractId(a.cid);
    let c = client.chain().contract(cid).await?;
    if c.phase as u8 == 0 {
        bail!(
            "contract {} does not exist on manager {}",
            a.cid,
            info.manager
        );
    }
    let phase = match c.phase as u8 {
        1 => "creation",
        2 => "executing",
        3 => "executing, challenged",
        4 => "crashed",
        5 => "terminated",
        _ => "unknown",
    };
    println!("contract {}: {phase}", a.cid);
    println!("  epoch {}  last seq on-chain {}", c.epoch, c.lastSeq);
    println!("  executor {}", client.chain().executor_of(cid).await?);
    println!("  balance {} wei", c.balance);
    println!("  pool:");
    for m in client.chain().pool(cid).await? {
        println!("    {m}");
    }
    Ok(())
}
