//! The user commands: `pose deploy`, `pose call`, `pose query`, `pose deposit`,
//! `pose withdraw`, `pose challenge`, `pose contract` (a contract's on-chain status) and
//! `pose interface`.
//!
//! Every command reads the network from a JSON file in the format `pose devnet` writes
//! (`devnet.json`: RPC URL, manager, vendor, nodes with their enclaves, and a funded user key),
//! so the same commands work against any EVM chain whose file lists its nodes: `pose network
//! deploy` writes one without a user key (then `--key` is needed) and `pose network add-node`
//! lists nodes in it.
//!
//! Inputs are typed: `pose call <cid> <method> --arg value ...` type-checks the arguments
//! against the contract's interface (the `pose.interface` section of its `.wasm` file, whose
//! sha256 must be the contract's on-chain code hash) and prints the result, or the contract's
//! error, as one line of JSON. `pose deploy` keeps a copy of the code next to the network file
//! (`code/<code hash>.wasm`) for this; `--wasm` names another copy. Raw inputs stay available:
//! an input starting with `0x` is hex, `@path` reads it from a file; the output is then hex.
//! Progress goes to standard error, so standard output holds only the answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use pose_chain::alloy::providers::Provider;
use pose_chain::{from_address, to_address, ChainConfig, ManagerClient, PoseManager};
use pose_client::interface::{Interface, Kind, Method};
use pose_client::risk;
use pose_client::{ClientOptions, PoseClient, Progress};
use pose_types::{Address, ContractId};
use serde_json::json;

use crate::devnet::{read_info, DevnetInfo};

/// Where the network is and who the user is.
#[derive(Args, Debug, Clone)]
pub struct NetworkArgs {
    /// The network file (`devnet.json`, printed by `pose devnet`, or the file `pose network
    /// deploy` wrote).
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
    /// Send a state-changing call: `pose call <cid> <method> --arg value ...` (or a raw `0x..`
    /// input); prints the result as JSON.
    Call(InputArgs),
    /// Send a read-only query: `pose query <cid> <method> --arg value ...` (or a raw `0x..`
    /// input); prints the result as JSON.
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
    /// Print a contract's typed interface (of a deployed contract, or of a .wasm file).
    Interface(InterfaceArgs),
}

/// Options of `pose deploy`.
#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    net: NetworkArgs,
    /// The contract (a .wasm file built with pose-contract-sdk).
    wasm: PathBuf,
    /// Input of the contract's `init`, raw (0x hex or @file; empty by default). With an
    /// interface, give the typed arguments after the file instead: `-- --name value ...`.
    #[arg(long, default_value = "")]
    init: String,
    /// Typed arguments of the contract's `init` method, after `--`: `--name value ...`.
    #[arg(last = true, value_name = "INIT_ARGS")]
    init_args: Vec<String>,
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
    /// A method of the contract's interface, or a raw input: `0x` hex or `@file`.
    input: String,
    /// The method's arguments: `--name value` (or `--name=value`) for each.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
    /// The contract's .wasm file, for its interface (default: the copy `pose deploy` kept in
    /// `code/` next to the network file). Checked against the contract's code hash. Give
    /// pose's own options before the method.
    #[arg(long)]
    wasm: Option<PathBuf>,
    /// Seconds without a receipt before the call is forced on-chain.
    #[arg(long, default_value_t = 10)]
    challenge_after: u64,
}

/// Options of `pose interface`.
#[derive(Args, Debug)]
pub struct InterfaceArgs {
    /// A .wasm file, or the id of a deployed contract (then --network is needed).
    contract: String,
    /// The network file, for a deployed contract.
    #[arg(long, env = "POSE_NETWORK")]
    network: Option<PathBuf>,
    /// The contract's .wasm file (default: the copy `pose deploy` kept).
    #[arg(long)]
    wasm: Option<PathBuf>,
    /// Print the interface JSON as embedded in the code.
    #[arg(long)]
    json: bool,
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

/// True for a raw input: `0x` hex or `@path`.
fn is_raw(text: &str) -> bool {
    text.starts_with("0x") || text.starts_with('@') || text.is_empty()
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
    let key_hex = key
        .or(info.user_key.as_deref())
        .context("the network file holds no user key: give yours with --key or POSE_KEY (hex)")?;
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
    // Nodes whose operators published an endpoint on chain, then the network file's list
    // (which wins for an enclave in both). Either is a hint: the client checks every answer.
    let mut nodes = BTreeMap::new();
    let head = chain.block_number().await?;
    match chain
        .endpoints_between(info.deploy_block.unwrap_or(0), head)
        .await
    {
        Ok(found) => {
            for (enclave, url) in found {
                nodes.insert(from_address(enclave), url);
            }
        }
        Err(e) => eprintln!("warning: cannot read the endpoints published on chain: {e}"),
    }
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

/// Prints what the client is waiting for (to standard error: standard output is the answer).
pub fn print_progress(p: &Progress) {
    match p {
        Progress::Submitting(what) => eprintln!("  submitting {what} to the chain ..."),
        Progress::Sent { executor, url } => {
            eprintln!("  request sent to executor {executor} at {url}")
        }
        Progress::Challenged { challenge_id } => eprintln!(
            "  no receipt in time: request forced on-chain (challenge {challenge_id}); waiting for the answer ..."
        ),
        Progress::AnsweredOnChain { challenge_id } => {
            eprintln!("  the executor answered challenge {challenge_id} on-chain")
        }
        Progress::ExecutorChanged { epoch, executor } => {
            eprintln!("  executor changed: epoch {epoch}, executor {executor}")
        }
        Progress::WaitingForCreation => {
            eprintln!("  code handed to the executor; waiting until every pool member accepted ...")
        }
        Progress::ReceiptRefused {
            executor,
            chain_pos,
        } => eprintln!(
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
    out!("output: 0x{}", hex::encode(output));
    if !output.is_empty() && output.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        out!("output (text): {}", String::from_utf8_lossy(output));
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
                out!("deposited {} wei into contract {}", a.wei, a.cid);
                Ok(())
            }
            ContractCommand::Contract(a) => status(a).await,
            ContractCommand::Interface(a) => interface(a).await,
        }
    })
}

async fn deploy(a: DeployArgs) -> anyhow::Result<()> {
    let info = load(&a.net)?;
    let code = std::fs::read(&a.wasm)
        .with_context(|| format!("reading the contract {}", a.wasm.display()))?;
    let init = init_input(&a, &code)?;
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
        Ok(p) => out!(
            "pool of {} drawn from {registered} enclaves: if {corrupted} of them were corrupted \
             ({:.0} %), all members would be corrupted with probability {p:.3e}",
            a.pool_size,
            a.corrupted_fraction * 100.0
        ),
        Err(e) => out!("risk not computed: {e}"),
    }
    let params = PoseManager::Params {
        poolSize: a.pool_size,
        responsePeriodSecs: a.response_secs,
        memberResponsePeriodSecs: a.member_response_secs,
        confirmations: 1,
    };
    match keep_code(&a.net.network, &code) {
        Ok(kept) => out!("code kept at {} (for typed calls)", kept.display()),
        Err(e) => eprintln!("warning: {e:#}; typed calls will need --wasm"),
    }
    let cid = client.deploy(&code, &init, params).await?;
    let pool = client.chain().pool(cid).await?;
    out!("contract {} is live; pool (executor first):", cid.0);
    for m in pool {
        out!("  {m}");
    }
    Ok(())
}

/// An error already reported on standard output (a contract error as JSON): the command
/// exits with status 1 and prints nothing more.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the contract refused the input (printed above)")
    }
}

impl std::error::Error for Reported {}

/// `init`'s input: raw (`--init`) or typed (after `--`), checked against the code's interface.
fn init_input(a: &DeployArgs, code: &[u8]) -> anyhow::Result<Vec<u8>> {
    let itf = match Interface::from_wasm(code) {
        Ok(itf) => Some(itf),
        Err(pose_client::interface::InterfaceError::Missing) => None,
        Err(e) => return Err(e.into()),
    };
    if a.init_args.is_empty() {
        if let (Some(m), "") = (itf.as_ref().and_then(|i| i.init()), a.init.as_str()) {
            if !m.args.is_empty() {
                bail!(
                    "the contract's init method {} takes arguments: add `-- {}` (or a raw --init)",
                    m.name,
                    m.signature()
                );
            }
        }
        return parse_input(&a.init);
    }
    if !a.init.is_empty() {
        bail!("give init's input either raw (--init) or typed (after --), not both");
    }
    let itf = itf.context("typed init arguments need an interface")?;
    let m = itf
        .init()
        .context("the contract has no init method; deploy it without init arguments")?;
    Ok(m.encode_words(&a.init_args)?)
}

/// Where `pose deploy` keeps deployed code: `code/` next to the network file (so `pose call`
/// finds a contract's interface by its on-chain code hash).
fn code_path(network: &Path, code_hash: &[u8; 32]) -> PathBuf {
    network
        .parent()
        .unwrap_or(Path::new("."))
        .join("code")
        .join(format!("0x{}.wasm", hex::encode(code_hash)))
}

pub fn keep_code(network: &Path, code: &[u8]) -> anyhow::Result<PathBuf> {
    let path = code_path(network, &pose_crypto::sha256(code).0);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {} for the code copy", dir.display()))?;
    }
    std::fs::write(&path, code).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The interface of deployed contract `cid`: from `wasm` or the kept copy, checked against
/// the contract's on-chain code hash.
async fn deployed_interface(
    client: &PoseClient,
    network: &Path,
    cid: ContractId,
    wasm: Option<&Path>,
) -> anyhow::Result<Interface> {
    let c = client.chain().contract(cid).await?;
    if c.phase as u8 == 0 {
        bail!("contract {} does not exist on this network", cid.0);
    }
    let hash: [u8; 32] = c.codeHash.0;
    let path = match wasm {
        Some(p) => p.to_path_buf(),
        None => code_path(network, &hash),
    };
    let code = std::fs::read(&path).with_context(|| {
        format!(
            "reading the code of contract {} from {}: give its .wasm file with --wasm, or a raw \
             0x input",
            cid.0,
            path.display()
        )
    })?;
    Ok(Interface::from_deployed(&code, hash)?)
}

/// The input of a call or query, and its method if typed.
async fn request_input<'a>(
    client: &PoseClient,
    a: &InputArgs,
    kind: Kind,
    itf: &'a mut Option<Interface>,
) -> anyhow::Result<(Option<&'a Method>, Vec<u8>)> {
    if is_raw(&a.input) {
        if !a.args.is_empty() {
            bail!(
                "a raw input takes no arguments after it; got {:?}",
                a.args.join(" ")
            );
        }
        return Ok((None, parse_input(&a.input)?));
    }
    let cid = ContractId(a.cid);
    let i = itf.insert(deployed_interface(client, &a.net.network, cid, a.wasm.as_deref()).await?);
    let m = i.method(kind, &a.input)?;
    let input = m.encode_words(&a.args)?;
    Ok((Some(m), input))
}

/// A contract's failure as JSON, from an output the enclave recorded as `error: ...`.
fn contract_error(output: &[u8]) -> Option<serde_json::Value> {
    let text = std::str::from_utf8(output.strip_prefix(b"error: ")?).ok()?;
    Some(
        match text.strip_prefix("contract trapped: contract aborted: ") {
            Some(m) => json!({"kind": "aborted", "message": m}),
            None => json!({"kind": "runtime", "message": text}),
        },
    )
}

/// A typed answer: one line of JSON `{"method", "result", "receipt"}`, or `{"method",
/// "error", "receipt"}` when the contract failed (struct fields in declaration order).
pub struct TypedAnswer {
    /// The result (`Ok`) or the contract's error (`Err`), as JSON values.
    pub value: Result<serde_json::Value, serde_json::Value>,
    /// The line, with the receipt.
    pub line: String,
    /// The line without the receipt.
    pub short: String,
}

/// Reads a typed answer; an output that is neither the method's result nor an error is an
/// error.
pub fn typed_answer(method: &Method, answer: &pose_client::Answer) -> anyhow::Result<TypedAnswer> {
    let receipt = format!(
        r#""receipt":{{"executor":"{}","epoch":{},"applied_seq":{},"seq":{}}}"#,
        answer.receipt.executor,
        answer.receipt.epoch.0,
        answer.receipt.applied_seq.0,
        answer.receipt.seq.0
    );
    let name = serde_json::Value::from(method.name.as_str());
    let (value, body) = match method.decode_output(&answer.output) {
        Ok(result) => {
            let text = method.result.render(&result);
            (Ok(result), format!(r#"{{"method":{name},"result":{text}"#))
        }
        Err(e) => match contract_error(&answer.output) {
            Some(error) => {
                let text = format!(
                    r#"{{"kind":{},"message":{}}}"#,
                    error["kind"], error["message"]
                );
                (Err(error), format!(r#"{{"method":{name},"error":{text}"#))
            }
            None => {
                return Err(anyhow::Error::new(e).context(format!(
                    "the contract answered 0x{}, which is not what its interface promises",
                    hex::encode(&answer.output)
                )))
            }
        },
    };
    Ok(TypedAnswer {
        value,
        line: format!("{body},{receipt}}}"),
        short: format!("{body}}}"),
    })
}

/// Prints a typed answer as one line of JSON; a contract error is an error of the command.
fn show_typed(method: &Method, answer: &pose_client::Answer) -> anyhow::Result<()> {
    let t = typed_answer(method, answer)?;
    out!("{}", t.line);
    match t.value {
        Ok(_) => Ok(()),
        Err(_) => Err(Reported.into()),
    }
}

async fn send(a: InputArgs, query: bool) -> anyhow::Result<()> {
    let info = load(&a.net)?;
    let client = connect(&info, a.net.key.as_deref(), options(a.challenge_after)).await?;
    let cid = ContractId(a.cid);
    let kind = if query { Kind::Query } else { Kind::Call };
    let mut itf = None;
    let (method, input) = request_input(&client, &a, kind, &mut itf).await?;
    let answer = if query {
        client.query(cid, &input).await?
    } else {
        client.call(cid, &input).await?
    };
    if let Some(m) = method {
        return show_typed(m, &answer);
    }
    out!(
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
    let client = connect(&info, a.net.key.as_deref(), options(a.challenge_after)).await?;
    let mut itf = None;
    let (method, input) = request_input(&client, &a, Kind::Call, &mut itf).await?;
    let me = to_address(client.address());
    let before = client.chain().provider().get_balance(me).await?;
    let answer = client.call(ContractId(a.cid), &input).await?;
    match method {
        Some(m) => show_typed(m, &answer)?,
        None => show_output(&answer.output),
    }
    eprintln!("  waiting for the executor's payout on-chain ...");
    let start = tokio::time::Instant::now();
    loop {
        let now = client.chain().provider().get_balance(me).await?;
        if now > before {
            out!("payout received: balance {before} -> {now} wei");
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("no payout within 120 s; check `pose contract` and the nodes' logs");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn interface(a: InterfaceArgs) -> anyhow::Result<()> {
    let path = Path::new(&a.contract);
    let itf = if path.is_file() {
        let code = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Interface::from_wasm(&code)?
    } else {
        let cid: u64 = a.contract.parse().with_context(|| {
            format!("{:?} is neither a .wasm file nor a contract id", a.contract)
        })?;
        let network = a
            .network
            .context("a deployed contract needs --network (or POSE_NETWORK)")?;
        let info = read_info(&network)?;
        let client = connect(&info, None, options(10)).await?;
        deployed_interface(&client, &network, ContractId(cid), a.wasm.as_deref()).await?
    };
    if a.json {
        out!("{}", itf.json);
        return Ok(());
    }
    for m in &itf.methods {
        match m.kind {
            Kind::Init => out!(
                "init (pose deploy <file> -- {}) -> {}",
                m.signature(),
                m.result
            ),
            k => out!(
                "{} {}{} -> {}   [selector {}]",
                k.as_str(),
                m.name,
                if m.args.is_empty() {
                    String::new()
                } else {
                    format!(" {}", m.signature())
                },
                m.result,
                m.selector.unwrap_or(0)
            ),
        }
        for line in m.doc.lines() {
            out!("    {line}");
        }
    }
    Ok(())
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
    out!("contract {}: {phase}", a.cid);
    out!("  epoch {}  last seq on-chain {}", c.epoch, c.lastSeq);
    out!("  executor {}", client.chain().executor_of(cid).await?);
    out!("  balance {} wei", c.balance);
    out!("  pool:");
    for m in client.chain().pool(cid).await? {
        out!("    {m}");
    }
    Ok(())
}
