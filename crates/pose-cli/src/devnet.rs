//! `pose devnet [--nodes N]`: a local chain (anvil) with the manager deployed, and N operator
//! nodes (`pose node`, this same binary) that register their enclaves. Prints the endpoints,
//! writes them to `devnet.json` in the devnet directory, and stops everything it started on
//! Ctrl-C or SIGTERM (a node that dies is reported; the others keep serving).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use pose_chain::alloy::primitives::Address as ChainAddress;
use pose_chain::alloy::signers::local::PrivateKeySigner;
use pose_chain::anvil::AnvilInstance;
use pose_chain::{from_address, to_address, to_b256, ChainConfig, ManagerClient, PoseManager};
use pose_client::transport::Transport;
use pose_crypto::{OsRng, SigningKey};
use pose_node::config::NodeConfig;
use serde::Serialize;

/// How long the devnet waits for every node to register.
const READY_TIMEOUT_SECS: u64 = 180;
/// How long a node has to stop after SIGTERM before it is killed.
const STOP_GRACE_MS: u64 = 5_000;
/// Largest devnet.
pub const NODES_MAX: u8 = 32;

/// Options of `pose devnet`.
#[derive(Args, Debug)]
pub struct DevnetArgs {
    /// How many operator nodes to start.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=i64::from(NODES_MAX)))]
    pub nodes: u8,
    /// Directory for the node configurations, data and logs (default: a new directory under
    /// the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// One node of a running devnet, as `devnet.json` lists it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct DevnetNode {
    /// Its API base URL.
    pub url: String,
    /// Its enclave's address.
    pub enclave: String,
    /// Its operator account.
    pub operator: String,
    /// Its process id (devnet only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Its configuration file (devnet only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// Its log file (devnet only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
}

/// What `devnet.json` holds: everything a client needs to use the devnet.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct DevnetInfo {
    /// The chain's JSON-RPC URL.
    pub rpc_url: String,
    /// The chain id.
    pub chain_id: u64,
    /// The manager contract.
    pub manager: String,
    /// The devnet vendor's address (trusted by the manager).
    pub vendor: String,
    /// A funded account for users (anvil's last key), 0x hex. Absent in a network file of
    /// `pose network deploy`: users give their own key there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key: Option<String>,
    /// The block the manager was deployed in (`start_block` for a node's configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_block: Option<u64>,
    /// The nodes.
    pub nodes: Vec<DevnetNode>,
}

/// The node processes; dropping this stops them (SIGTERM, then kill after a grace period).
struct Nodes(Vec<Child>);

impl Nodes {
    fn stop(&mut self) {
        for child in &mut self.0 {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let deadline = Instant::now() + Duration::from_millis(STOP_GRACE_MS);
        for child in &mut self.0 {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }

    /// The first node that exited, with its index.
    fn exited(&mut self) -> Option<(usize, std::process::ExitStatus)> {
        self.exited_all().into_iter().next()
    }

    /// Every node that exited, with its index.
    fn exited_all(&mut self) -> Vec<(usize, std::process::ExitStatus)> {
        self.0
            .iter_mut()
            .enumerate()
            .filter_map(|(i, c)| c.try_wait().ok().flatten().map(|s| (i, s)))
            .collect()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Anvil's `i`-th funded account.
fn anvil_signer(anvil: &AnvilInstance, i: usize) -> anyhow::Result<PrivateKeySigner> {
    let key = anvil.keys().get(i).context("anvil has too few accounts")?;
    Ok(PrivateKeySigner::from_signing_key(key.clone().into()))
}

fn key_hex(key: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(key.to_bytes()))
}

/// Runs the devnet until Ctrl-C/SIGTERM (exit 0) or a failure (an error saying what failed).
pub fn run(args: DevnetArgs) -> anyhow::Result<()> {
    crate::node::init_logs();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let devnet = start(args.nodes, args.dir).await?;
        let Devnet {
            _anvil,
            mut nodes,
            info,
        } = devnet;
        out!(
            "devnet ready: {} nodes, manager {} at {}; press Ctrl-C to stop everything",
            info.nodes.len(),
            info.manager,
            info.rpc_url
        );
        let outcome = wait_until_stopped(&mut nodes).await;
        out!("stopping {} nodes and the chain", nodes.0.len());
        nodes.stop();
        drop(_anvil);
        outcome
    })
}

/// Waits for Ctrl-C or SIGTERM. A node that dies is reported once and the others keep
/// serving (POSE is built to outlive operators that go away); the devnet stops by itself only
/// when every node died.
async fn wait_until_stopped(nodes: &mut Nodes) -> anyhow::Result<()> {
    let signal = pose_node::daemon::wait_for_signal();
    tokio::pin!(signal);
    let mut reported = std::collections::BTreeSet::new();
    loop {
        tokio::select! {
            _ = &mut signal => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                for (i, status) in nodes.exited_all() {
                    if reported.insert(i) {
                        out!("node {i} exited ({status}); the other nodes keep serving");
                    }
                }
                if reported.len() == nodes.0.len() {
                    bail!("every node exited; see their logs in the devnet directory");
                }
            }
        }
    }
}

impl Devnet {
    /// Kills the node hosting `enclave` at once (SIGKILL), as a crash or a power cut would.
    pub fn kill_node_of(&mut self, enclave: &str) -> anyhow::Result<u32> {
        let i = self
            .info
            .nodes
            .iter()
            .position(|n| n.enclave.eq_ignore_ascii_case(enclave))
            .with_context(|| format!("no devnet node hosts enclave {enclave}"))?;
        let child = &mut self.nodes.0[i];
        let pid = child.id();
        child.kill().context("killing the node")?;
        let _ = child.wait();
        Ok(pid)
    }

    /// Stops every node (SIGTERM, then SIGKILL after a grace period); the chain stops when
    /// the devnet is dropped. Stopping twice is harmless.
    pub fn stop(&mut self) {
        self.nodes.stop();
    }

    /// Serves until Ctrl-C or SIGTERM, then stops every process it started.
    pub async fn serve(mut self) -> anyhow::Result<()> {
        let outcome = wait_until_stopped(&mut self.nodes).await;
        out!("stopping the nodes and the chain");
        outcome
    }
}

/// A running devnet; dropping it stops the nodes, then the chain.
pub struct Devnet {
    // Field order is drop order: nodes first, then the chain they talk to.
    nodes: Nodes,
    _anvil: AnvilInstance,
    /// What devnet.json holds.
    pub info: DevnetInfo,
}

/// Starts anvil, deploys the manager, starts `n` nodes and waits until all registered;
/// prints what it does on stdout.
pub async fn start(n: u8, dir: Option<PathBuf>) -> anyhow::Result<Devnet> {
    start_with(n, dir, |line| out!("{line}")).await
}

/// [`start`], reporting each step to `say` (one line per call) instead of stdout.
pub async fn start_with(n: u8, dir: Option<PathBuf>, say: fn(&str)) -> anyhow::Result<Devnet> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("pose-devnet-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the devnet directory {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    say(&format!("devnet directory {}", dir.display()));

    let accounts = (usize::from(n) + 2).max(10).to_string();
    // A block every second, as on a real chain: chain time (which the manager's deadlines
    // use) moves on even when nobody sends a transaction.
    let anvil = pose_chain::anvil::spawn_anvil(&["--accounts", &accounts, "--block-time", "1"])
        .context("starting anvil (run scripts/setup, or set $ANVIL)")?;
    let rpc_url = anvil.endpoint();
    say(&format!(
        "chain: anvil at {rpc_url} (chain id {})",
        anvil.chain_id()
    ));

    let vendor = SigningKey::random(&mut OsRng);
    let measurement = pose_node::enclave_core::program_measurement();
    let deployer = anvil_signer(&anvil, 0)?;
    say("deploying the manager ...");
    let client = ManagerClient::deploy(
        ChainConfig::new(rpc_url.clone()),
        deployer,
        to_address(vendor.address()),
        vec![to_b256(measurement)],
    )
    .await
    .context("deploying the manager contract")?;
    let manager = from_address(client.manager());
    let start_block = client.block_number().await?;
    say(&format!(
        "manager deployed: {manager} (vendor {}, measurement {measurement})",
        vendor.address()
    ));

    let ports = (0..n)
        .map(|_| free_port())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let exe = std::env::current_exe().context("locating the pose binary")?;
    let mut nodes = Nodes(Vec::new());
    let mut configs = Vec::new();
    for (i, port) in ports.iter().enumerate().take(usize::from(n)) {
        let node_dir = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&node_dir)?;
        let config = NodeConfig {
            data_dir: node_dir.join("data"),
            listen: format!("127.0.0.1:{port}").parse()?,
            rpc_url: rpc_url.clone(),
            manager: manager.to_string(),
            operator_key: Some(key_hex(&anvil_signer(&anvil, i + 1)?)),
            operator_key_file: None,
            confirmations: 1,
            chain_poll_ms: 250,
            start_block,
            vendor_key: Some(format!("0x{}", hex::encode(*vendor.to_bytes()))),
            peers: urls
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, u)| u.clone())
                .collect(),
            endpoint: None,
            test_tamper_relayed: false,
            test_forge_remove_members: false,
            test_censor_user: None,
        };
        let path = node_dir.join("node.toml");
        std::fs::write(&path, config.to_toml())
            .with_context(|| format!("writing {}", path.display()))?;
        let log = node_dir.join("node.log");
        let child = spawn_node(&exe, &path, &log)?;
        nodes.0.push(child);
        configs.push((path, log));
    }
    say(&format!(
        "started {n} nodes; waiting until every enclave is registered ..."
    ));

    let transport = Transport::new(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(READY_TIMEOUT_SECS);
    let mut listed = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let status = loop {
            if let Some((j, status)) = nodes.exited() {
                bail!(
                    "node {j} exited ({status}) before it was ready; its log: {}",
                    configs[j].1.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "node {i} did not register within {READY_TIMEOUT_SECS} s; its log: {}",
                    configs[i].1.display()
                );
            }
            match transport.status(url).await {
                Ok(s) if s["registered"] == serde_json::json!(true) => break s,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let enclave = status["enclave"].as_str().unwrap_or_default().to_owned();
        let enclave_addr: ChainAddress = enclave
            .parse()
            .with_context(|| format!("node {i} reports a bad enclave address"))?;
        let on_chain = client
            .read(&PoseManager::enclavesCall(enclave_addr))
            .await?;
        let operator = anvil.addresses()[i + 1];
        if on_chain.operator != operator || !on_chain.active {
            bail!("node {i}'s enclave {enclave} is not registered on chain by its operator");
        }
        say(&format!(
            "node {i}: {url}  enclave {enclave}  operator {operator}"
        ));
        listed.push(DevnetNode {
            url: url.clone(),
            enclave,
            operator: operator.to_string(),
            pid: Some(nodes.0[i].id()),
            config: Some(configs[i].0.clone()),
            log: Some(configs[i].1.clone()),
        });
    }
    let user_key = key_hex(&anvil_signer(&anvil, anvil.keys().len() - 1)?);
    let info = DevnetInfo {
        rpc_url,
        chain_id: anvil.chain_id(),
        manager: manager.to_string(),
        vendor: vendor.address().to_string(),
        user_key: Some(user_key),
        deploy_block: Some(start_block),
        nodes: listed,
    };
    // Printed before devnet.json exists: whoever waits for the file finds the line.
    if let Some(first) = info.nodes.first() {
        say(&format!(
            "explorer: {}/explorer (every node serves it, read-only)",
            first.url
        ));
    }
    write_info(&dir, &info)?;
    say(&format!(
        "endpoints written to {}",
        dir.join("devnet.json").display()
    ));
    Ok(Devnet {
        nodes,
        _anvil: anvil,
        info,
    })
}

fn spawn_node(exe: &Path, config: &Path, log: &Path) -> anyhow::Result<Child> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    Command::new(exe)
        .arg("node")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {} node", exe.display()))
}

fn write_info(dir: &Path, info: &DevnetInfo) -> anyhow::Result<()> {
    let path = dir.join("devnet.json");
    let tmp = dir.join("devnet.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(info)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

/// Reads a network file: a running devnet's `devnet.json`, or what `pose network deploy`
/// wrote.
pub fn read_info(path: &Path) -> anyhow::Result<DevnetInfo> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the network file {} (is `pose devnet` running, or was the network \
             deployed with `pose network deploy`?)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a network file", path.display()))
}
