//! `pose network`: a pose network on any EVM chain, outside the local devnet.
//!
//! `pose network deploy` deploys the manager contract with a key read from a file and writes
//! the network file the user commands (`pose deploy`, `pose call`, ...) read: the same JSON
//! format as `devnet.json`, without a user key (users give theirs with `--key` / `POSE_KEY`)
//! and with no nodes: nodes publish their endpoints on chain (`endpoint` in `node.toml`), and
//! `pose network add-node` lists one that does not. docs/operators.md walks through running
//! nodes against it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use pose_chain::alloy::primitives::{Address as ChainAddress, B256, U256};
use pose_chain::alloy::signers::local::PrivateKeySigner;
use pose_chain::{from_address, ChainConfig, ChainError, DeployPlan, ManagerClient};
use pose_crypto::{OsRng, SigningKey};

use crate::devnet::DevnetInfo;

/// `pose network ...`.
#[derive(Args, Debug)]
pub struct NetworkCommand {
    #[command(subcommand)]
    command: NetworkSub,
}

#[derive(Subcommand, Debug)]
enum NetworkSub {
    /// Deploy the manager contract on an EVM chain and write the network file.
    ///
    /// The key file's account pays for the deployment and becomes the manager's owner (it may
    /// later change the vendor and the allowed measurements). Without --vendor or
    /// --vendor-key-file, a new software-TEE vendor key is drawn and written to `vendor.key`
    /// beside the network file: operators need it (`vendor_key` in node.toml) for their
    /// enclaves' first start. Example:
    ///
    ///   pose network deploy --rpc-url http://127.0.0.1:8545 --chain-id 31337 --key-file deployer.key
    #[command(verbatim_doc_comment)]
    Deploy(DeployNetworkArgs),
    /// List a running node in the network file, so user commands can reach its enclave.
    ///
    /// Needed only for a node that publishes no endpoint on chain (`endpoint` in its
    /// node.toml): user commands find the published ones by themselves.
    ///
    /// Asks the node at --url for its enclave (GET /v1/status), checks on chain that this
    /// network's manager lists that enclave as active, and records URL, enclave and operator
    /// in the network file (replacing an earlier entry for the same enclave or URL). Users
    /// trust only the chain: a wrong URL makes their requests go astray, never accepted.
    AddNode(AddNodeArgs),
}

/// Options of `pose network add-node`.
#[derive(Args, Debug)]
pub struct AddNodeArgs {
    /// The network file (written by `pose network deploy`).
    #[arg(long, env = "POSE_NETWORK")]
    network: PathBuf,
    /// The node's API base URL, as users reach it (http://host:port).
    #[arg(long)]
    url: String,
}

/// Options of `pose network deploy`.
#[derive(Args, Debug)]
pub struct DeployNetworkArgs {
    /// The chain's JSON-RPC URL (http://...; this build has no TLS, so no https://).
    #[arg(long)]
    rpc_url: String,
    /// The chain id you expect at --rpc-url; the command refuses to deploy on any other chain
    /// (1 is Ethereum mainnet, 11155111 Sepolia, 31337 a local anvil).
    #[arg(long)]
    chain_id: u64,
    /// A file holding the deployer's private key as 64 hex digits (0x optional). It must be
    /// readable by its owner only (chmod 600).
    #[arg(long)]
    key_file: PathBuf,
    /// The software-TEE vendor's address, if its key is kept elsewhere.
    #[arg(long, conflicts_with = "vendor_key_file")]
    vendor: Option<String>,
    /// A file holding the vendor's private key (64 hex digits); the manager trusts its
    /// address. Default: a new key, written to `vendor.key` beside the network file.
    #[arg(long)]
    vendor_key_file: Option<PathBuf>,
    /// An enclave measurement the manager accepts (0x + 64 hex digits); repeat for several.
    /// Default: the measurement of this build's enclave program, the one `pose node` of the
    /// same version runs.
    #[arg(long = "measurement", value_name = "MEASUREMENT")]
    measurements: Vec<String>,
    /// Blocks the deployment needs on top of it before it counts (1: included).
    #[arg(long, default_value_t = 1)]
    confirmations: u64,
    /// Where to write the network file.
    #[arg(long, default_value = "network.json")]
    out: PathBuf,
    /// Overwrite an existing network file (an existing vendor.key is never overwritten).
    #[arg(long)]
    force: bool,
}

/// Runs a `pose network` command.
pub fn run(cmd: NetworkCommand) -> anyhow::Result<()> {
    match cmd.command {
        NetworkSub::Deploy(a) => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(deploy(a))
        }
        NetworkSub::AddNode(a) => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(add_node(a))
        }
    }
}

async fn add_node(a: AddNodeArgs) -> anyhow::Result<()> {
    let mut info = crate::devnet::read_info(&a.network)?;
    let url = a.url.trim_end_matches('/').to_owned();
    check_plain_http("--url", &url)?;
    let transport = pose_client::transport::Transport::new(std::time::Duration::from_secs(10));
    let status = transport
        .status(&url)
        .await
        .with_context(|| format!("asking the node at {url} for its status; is it running?"))?;
    let served = status["manager"].as_str().unwrap_or_default();
    if !served.eq_ignore_ascii_case(&info.manager) {
        bail!(
            "the node at {url} serves manager {served:?}, not this network's {}; check its \
             node.toml (`manager`)",
            info.manager
        );
    }
    let enclave_text = status["enclave"].as_str().unwrap_or_default();
    let enclave: ChainAddress = enclave_text.parse().with_context(|| {
        format!("the node at {url} reports no enclave address ({enclave_text:?})")
    })?;
    let manager: ChainAddress = info
        .manager
        .parse()
        .with_context(|| format!("manager address {:?} in the network file", info.manager))?;
    // Reads only: any key will do.
    let chain = ManagerClient::connect(
        ChainConfig::new(info.rpc_url.clone()),
        PrivateKeySigner::random(),
        manager,
    )
    .await
    .map_err(|e| {
        anyhow::Error::new(e).context(format!("reading the manager at {}", info.rpc_url))
    })?;
    let record = chain
        .read(&pose_chain::PoseManager::enclavesCall(enclave))
        .await?;
    if !record.active || record.operator == ChainAddress::ZERO {
        bail!(
            "enclave {enclave} of the node at {url} is not registered with the manager (yet); \
             a node registers on its first start: wait until its status says \
             \"registered\": true (pose status --url {url}), then run this again"
        );
    }
    let enclave = from_address(enclave).to_string();
    info.nodes
        .retain(|n| !n.enclave.eq_ignore_ascii_case(&enclave) && n.url != url);
    info.nodes.push(crate::devnet::DevnetNode {
        url: url.clone(),
        enclave: enclave.clone(),
        operator: record.operator.to_string(),
        pid: None,
        config: None,
        log: None,
    });
    let json = serde_json::to_vec_pretty(&info)?;
    write_new(&a.network, &json, false, true)?;
    out!(
        "node {url} (enclave {enclave}, operator {}) listed in {}; {} nodes",
        record.operator,
        a.network.display(),
        info.nodes.len()
    );
    Ok(())
}

/// Refuses a URL this build cannot reach: pose's HTTP clients are built without TLS.
fn check_plain_http(flag: &str, url: &str) -> anyhow::Result<()> {
    if url.starts_with("https://") {
        bail!(
            "{flag} {url:?}: this build of pose speaks plain HTTP only (no TLS); use an \
             http:// endpoint, e.g. your own chain node or a TLS-terminating proxy on the same \
             host (docs/operators.md)"
        );
    }
    if !url.starts_with("http://") {
        bail!("{flag} {url:?} is not an http:// URL");
    }
    Ok(())
}

/// Group and other permission bits a key file must not have.
#[cfg(unix)]
const KEY_FILE_FORBIDDEN_MODE: u32 = 0o077;

/// Reads a private key from `path`: 64 hex digits, `0x` optional, surrounding whitespace
/// ignored. Refuses a file that others can read or write.
pub fn read_key_file(path: &Path, what: &str) -> anyhow::Result<PrivateKeySigner> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("reading the {what} key file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & KEY_FILE_FORBIDDEN_MODE != 0 {
            bail!(
                "the {what} key file {} has mode {mode:03o}: others may read it; make it \
                 readable by its owner only (chmod 600 {}) and run again",
                path.display(),
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the {what} key file {}", path.display()))?;
    pose_chain::parse_private_key(&text).map_err(|_| {
        anyhow::anyhow!(
            "the {what} key file {} does not hold a private key: expected 64 hex digits \
             (32 bytes, 0x optional) and nothing else",
            path.display()
        )
    })
}

/// Writes `bytes` to a new file `path` readable by its owner only; an existing file is
/// replaced only with `force`.
fn write_new(path: &Path, bytes: &[u8], private: bool, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists; move it away, choose another --out, or add --force to \
             overwrite it",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn parse_measurement(text: &str) -> anyhow::Result<B256> {
    let hex_text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(hex_text)
        .ok()
        .filter(|b| b.len() == 32)
        .with_context(|| {
            format!("--measurement {text:?} is not 32 bytes of hex (0x + 64 hex digits)")
        })?;
    Ok(B256::from_slice(&bytes))
}

/// What an RPC failure means for the deployer, as an error that says what to do.
fn explain(e: ChainError, rpc_url: &str, deployer: ChainAddress) -> anyhow::Error {
    let text = e.to_string();
    if text.contains("insufficient funds") {
        return anyhow::anyhow!(
            "the chain refused the deployment for lack of funds: fund the deployer {deployer} \
             and run again ({text})"
        );
    }
    match e {
        ChainError::Rpc(t) => anyhow::anyhow!(
            "cannot reach a JSON-RPC node at {rpc_url} ({t}); check --rpc-url (an http:// \
             JSON-RPC endpoint) and that the node is running and reachable"
        ),
        other => anyhow::Error::new(other).context("deploying the manager contract"),
    }
}

fn wei_as_ether(wei: U256) -> String {
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let whole = wei / unit;
    let frac = (wei % unit).to_string();
    let frac = format!("{frac:0>18}");
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{whole}")
    } else {
        format!("{whole}.{frac}")
    }
}

fn fail_if_unaffordable(plan: &DeployPlan) -> anyhow::Result<()> {
    if plan.affordable() {
        return Ok(());
    }
    bail!(
        "the deployer {} holds {} wei ({} ether); the deployment needs up to {} wei ({} \
         ether): gas limit {} (estimate {}) at up to {} wei per gas. Fund the account and run \
         again",
        plan.deployer,
        plan.balance,
        wei_as_ether(plan.balance),
        plan.max_cost(),
        wei_as_ether(plan.max_cost()),
        plan.gas_limit,
        plan.gas_estimate,
        plan.max_fee_per_gas
    )
}

async fn deploy(a: DeployNetworkArgs) -> anyhow::Result<()> {
    check_plain_http("--rpc-url", &a.rpc_url)?;
    let vendor_path = a.out.with_file_name("vendor.key");
    if a.out.exists() && !a.force {
        bail!(
            "{} already exists (a network deployed before?); move it away, choose another \
             --out, or add --force to overwrite it",
            a.out.display()
        );
    }
    let signer = read_key_file(&a.key_file, "deployer")?;
    let deployer = signer.address();

    // The vendor: given, read, or drawn now (and saved only once the manager is deployed).
    let (vendor, new_vendor_key) = match (&a.vendor, &a.vendor_key_file) {
        (Some(text), _) => {
            let v: ChainAddress = text
                .parse()
                .with_context(|| format!("--vendor {text:?} is not an address (0x + 40 hex)"))?;
            (v, None)
        }
        (None, Some(path)) => (read_key_file(path, "vendor")?.address(), None),
        (None, None) => {
            // A vendor key may admit the enclaves of a network still in use: never replaced.
            if vendor_path.exists() {
                bail!(
                    "{} already exists; pass it with --vendor-key-file to keep that vendor, \
                     or move it away to draw a new one",
                    vendor_path.display()
                );
            }
            let key = SigningKey::random(&mut OsRng);
            (pose_chain::to_address(key.address()), Some(key))
        }
    };
    if vendor == ChainAddress::ZERO {
        bail!("--vendor must not be the zero address");
    }
    let measurements = if a.measurements.is_empty() {
        vec![pose_chain::to_b256(
            pose_node::enclave_core::program_measurement(),
        )]
    } else {
        a.measurements
            .iter()
            .map(|m| parse_measurement(m))
            .collect::<anyhow::Result<Vec<_>>>()?
    };

    let config = ChainConfig::new(a.rpc_url.clone()).with_confirmations(a.confirmations);
    eprintln!("checking the chain at {} ...", a.rpc_url);
    let plan = ManagerClient::plan_deploy(&config, signer.clone(), vendor, measurements.clone())
        .await
        .map_err(|e| explain(e, &a.rpc_url, deployer))?;
    if plan.chain_id != a.chain_id {
        bail!(
            "the node at {} serves chain {}, not chain {} (--chain-id); check the URL, or give \
             --chain-id {} if that chain is the one you mean",
            a.rpc_url,
            plan.chain_id,
            a.chain_id,
            plan.chain_id
        );
    }
    fail_if_unaffordable(&plan)?;
    eprintln!(
        "deploying the manager from {deployer} on chain {} (about {} gas; balance {} ether) ...",
        plan.chain_id,
        plan.gas_estimate,
        wei_as_ether(plan.balance)
    );
    let (client, receipt) =
        ManagerClient::deploy_with_receipt(config, signer, vendor, measurements.clone())
            .await
            .map_err(|e| explain(e, &a.rpc_url, deployer))?;
    let manager = from_address(client.manager());
    let block = receipt.block_number.unwrap_or_default();
    out!("manager {manager}");
    out!("  chain id {}  block {block}", plan.chain_id);
    out!(
        "  gas used {}  transaction {}",
        receipt.gas_used,
        receipt.transaction_hash
    );
    out!("  owner {deployer}  vendor {vendor}");
    for m in &measurements {
        out!("  allowed measurement {m}");
    }

    // The manager exists from here on: whatever fails below, say where it is.
    let saved = (|| -> anyhow::Result<()> {
        if let Some(key) = &new_vendor_key {
            let text = format!("0x{}\n", hex::encode(*key.to_bytes()));
            write_new(&vendor_path, text.as_bytes(), true, false)?;
            out!(
                "vendor key written to {} (operators need it as `vendor_key` in node.toml)",
                vendor_path.display()
            );
        }
        let info = DevnetInfo {
            rpc_url: a.rpc_url.clone(),
            chain_id: plan.chain_id,
            manager: manager.to_string(),
            vendor: vendor.to_string(),
            user_key: None,
            deploy_block: Some(block),
            nodes: Vec::new(),
        };
        let json = serde_json::to_vec_pretty(&info)?;
        write_new(&a.out, &json, false, a.force)?;
        out!("network file written to {}", a.out.display());
        out!(
            "next: operators set `manager` and `start_block = {block}` in their node.toml \
             (docs/operators.md)"
        );
        Ok(())
    })();
    saved.with_context(|| {
        format!(
            "the manager was deployed at {manager} (block {block}), but saving what follows \
             failed; keep these values"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wei_print_as_ether_without_trailing_zeros() {
        let ether = U256::from(10u64).pow(U256::from(18u64));
        assert_eq!(wei_as_ether(U256::ZERO), "0");
        assert_eq!(
            wei_as_ether(ether * U256::from(3u64) / U256::from(2u64)),
            "1.5"
        );
        assert_eq!(wei_as_ether(U256::from(1u64)), "0.000000000000000001");
        assert_eq!(wei_as_ether(ether * U256::from(10_000u64)), "10000");
    }

    #[test]
    fn only_plain_http_urls_pass() {
        assert!(check_plain_http("--url", "http://127.0.0.1:7400").is_ok());
        let e = check_plain_http("--url", "https://node.example").unwrap_err();
        assert!(e.to_string().contains("plain HTTP only"), "{e}");
        assert!(check_plain_http("--url", "node.example:7400").is_err());
    }
}
