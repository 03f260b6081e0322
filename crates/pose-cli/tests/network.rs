//! `pose network deploy` against a fresh anvil (its own, on a free 127.0.0.1 port, killed when
//! its handle goes, also when an assertion fails): the real binary deploys the manager from a
//! key file, prints where, and writes the network file the user commands read. Its refusals
//! (a key file others can read, a malformed key, the wrong chain, an unreachable RPC URL, an
//! account without funds, an existing network file) each say what to do.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use pose_chain::alloy::primitives::{Address, B256};
use pose_chain::alloy::providers::Provider;
use pose_chain::anvil::{spawn_anvil, AnvilInstance};
use pose_chain::{parse_private_key, ChainConfig, ManagerClient, PoseManager};

fn pose(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(args)
        .output()
        .expect("pose binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `pose` and asserts it fails with a message containing `needle` (in any case).
fn refused(args: &[&str], needle: &str) {
    let out = pose(args);
    assert!(!out.status.success(), "expected a refusal: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains(&needle.to_lowercase()),
        "expected {needle:?} in the error: {}",
        text(&out)
    );
}

fn write_key(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn key_hex(anvil: &AnvilInstance, i: usize) -> String {
    hex::encode(anvil.keys()[i].to_bytes())
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn network_deploy_deploys_the_manager_and_writes_a_network_file_the_user_commands_read() {
    let anvil = spawn_anvil(&["--block-time", "1"]).expect("anvil starts (run scripts/setup)");
    let rpc = anvil.endpoint();
    let chain_id = anvil.chain_id().to_string();
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net/network.json");
    let net_s = net.to_str().unwrap();
    // Without 0x and with a newline, as `echo` writes it.
    let key = write_key(
        dir.path(),
        "deployer.key",
        &format!("{}\n", key_hex(&anvil, 0)),
        0o600,
    );
    let key_s = key.to_str().unwrap();
    let deploy = |rpc: &str, chain: &str, key: &str| {
        vec![
            "network".to_owned(),
            "deploy".into(),
            "--rpc-url".into(),
            rpc.into(),
            "--chain-id".into(),
            chain.into(),
            "--key-file".into(),
            key.into(),
            "--out".into(),
            net_s.into(),
        ]
    };

    // Refusals, each before anything is sent.
    let open_key = write_key(dir.path(), "open.key", &key_hex(&anvil, 0), 0o644);
    refused(
        &strs(&deploy(&rpc, &chain_id, open_key.to_str().unwrap())),
        "chmod 600",
    );
    let bad_key = write_key(dir.path(), "bad.key", "0x1234", 0o600);
    refused(
        &strs(&deploy(&rpc, &chain_id, bad_key.to_str().unwrap())),
        "expected 64 hex digits",
    );
    refused(
        &strs(&deploy(&rpc, "1", key_s)),
        &format!("serves chain {chain_id}, not chain 1"),
    );
    refused(
        &strs(&deploy("https://rpc.example", &chain_id, key_s)),
        "plain HTTP only",
    );
    let closed = format!("http://127.0.0.1:{}", free_port());
    refused(
        &strs(&deploy(&closed, &chain_id, key_s)),
        &format!("cannot reach a JSON-RPC node at {closed}"),
    );
    let poor = write_key(
        dir.path(),
        "poor.key",
        &format!("0x{}", hex::encode(B256::repeat_byte(7))),
        0o600,
    );
    refused(
        &strs(&deploy(&rpc, &chain_id, poor.to_str().unwrap())),
        "Fund the account",
    );
    assert!(!net.exists(), "a refused deployment writes no network file");

    // The deployment.
    let out = pose(&strs(&deploy(&rpc, &chain_id, key_s)));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let manager: Address = stdout
        .lines()
        .find_map(|l| l.strip_prefix("manager "))
        .expect("the manager's address is printed")
        .trim()
        .parse()
        .unwrap();
    assert!(stdout.contains("gas used "), "{stdout}");
    assert!(
        stdout.contains(&format!("chain id {chain_id}  block ")),
        "{stdout}"
    );

    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&net).unwrap()).unwrap();
    assert_eq!(
        info["manager"]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        manager
    );
    assert_eq!(info["rpc_url"], rpc.as_str());
    assert_eq!(info["chain_id"].as_u64(), Some(anvil.chain_id()));
    assert!(info.get("user_key").is_none(), "no key in the network file");
    assert_eq!(info["nodes"], serde_json::json!([]));
    let vendor_key = std::fs::read_to_string(dir.path().join("net/vendor.key")).unwrap();
    let vendor_mode = std::fs::metadata(dir.path().join("net/vendor.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(vendor_mode & 0o077, 0, "vendor.key is private");
    let vendor = parse_private_key(&vendor_key).unwrap().address();
    assert_eq!(
        info["vendor"].as_str().unwrap().parse::<Address>().unwrap(),
        vendor
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let deployer = parse_private_key(&key_hex(&anvil, 0)).unwrap();
        let client = ManagerClient::connect(ChainConfig::new(rpc.clone()), deployer, manager)
            .await
            .expect("code at the printed address");
        let code = client.provider().get_code_at(manager).await.unwrap();
        assert!(!code.is_empty());
        assert_eq!(
            client.read(&PoseManager::ownerCall {}).await.unwrap(),
            anvil.addresses()[0]
        );
        assert_eq!(
            client.read(&PoseManager::vendorCall {}).await.unwrap(),
            vendor
        );
        let measurement = pose_chain::to_b256(pose_node::enclave_core::program_measurement());
        assert!(client
            .read(&PoseManager::allowedMeasurementCall(measurement))
            .await
            .unwrap());
        assert_eq!(
            client
                .read(&PoseManager::contractCountCall {})
                .await
                .unwrap(),
            0
        );
        let block = info["deploy_block"].as_u64().unwrap();
        assert!(block >= 1 && block <= client.block_number().await.unwrap());
    });

    // Deploying again would orphan the first manager's file: refused without --force. Even
    // with it, the vendor key is never replaced: keep it (--vendor-key-file) or move it away.
    refused(&strs(&deploy(&rpc, &chain_id, key_s)), "--force");
    let mut forced = deploy(&rpc, &chain_id, key_s);
    forced.push("--force".into());
    refused(&strs(&forced), "--vendor-key-file");
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&net).unwrap()).unwrap();
    assert_eq!(again, info, "the refused runs left the network file alone");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("net/vendor.key")).unwrap(),
        vendor_key,
        "and the vendor key"
    );

    // A user command reads the file and the chain: the file has no user key, and with one
    // the command reaches the manager and reads its (empty) list of contracts.
    refused(&["contract", "1", "--network", net_s], "--key");
    let user = format!("0x{}", key_hex(&anvil, 9));
    refused(
        &["contract", "1", "--network", net_s, "--key", &user],
        &format!("contract 1 does not exist on manager {manager}"),
    );

    // An operator runs a node against the deployed manager, configured from what the
    // deployment wrote (the manager, its block, the vendor key); its enclave registers,
    // which only a manager with this vendor and this build's measurement accepts.
    let operator_key = write_key(
        dir.path(),
        "operator.key",
        &format!("0x{}\n", key_hex(&anvil, 1)),
        0o600,
    );
    let port = free_port();
    let node_toml = dir.path().join("node.toml");
    std::fs::write(
        &node_toml,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\nrpc_url = {:?}\nmanager = {:?}\n\
             operator_key_file = {:?}\nstart_block = {}\nvendor_key = {:?}\nchain_poll_ms = 250\n",
            dir.path().join("node-data"),
            rpc,
            info["manager"].as_str().unwrap(),
            operator_key,
            info["deploy_block"],
            vendor_key.trim(),
        ),
    )
    .unwrap();
    let log = dir.path().join("node.log");
    let out_file = std::fs::File::create(&log).unwrap();
    let mut node = common::Guard {
        child: Command::new(env!("CARGO_BIN_EXE_pose"))
            .args(["node", "--config", node_toml.to_str().unwrap()])
            .stdin(std::process::Stdio::null())
            .stdout(out_file.try_clone().unwrap())
            .stderr(out_file)
            .spawn()
            .expect("pose node starts"),
        also: Vec::new(),
    };
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(180);
    let listed = loop {
        let out = pose(&["network", "add-node", "--network", net_s, "--url", &url]);
        if out.status.success() {
            break out;
        }
        if let Ok(Some(status)) = node.child.try_wait() {
            panic!(
                "the node exited ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the node was not listed in time: {}\nnode log:\n{}",
            text(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("1 nodes"),
        "{}",
        text(&listed)
    );
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&net).unwrap()).unwrap();
    let nodes = info["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["url"], url.as_str());
    assert_eq!(
        nodes[0]["operator"]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        anvil.addresses()[1]
    );
    // `pose status` reads the nodes from the same file. (The node may not have noted its
    // registration yet, which the manager already lists: only who answers is checked.)
    let out = pose(&["status", "--network", net_s]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let enclave = nodes[0]["enclave"].as_str().unwrap().to_lowercase();
    assert!(
        stdout.starts_with(&format!("{url}: ")) && stdout.contains(&enclave),
        "{}",
        text(&out)
    );
    // Listing it again replaces the entry.
    let out = pose(&["network", "add-node", "--network", net_s, "--url", &url]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 nodes"),
        "{}",
        text(&out)
    );

    // The user commands work on this network: a contract on a pool of one, and a typed query
    // answered by its enclave.
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/contracts/wasm/token_escrow.wasm");
    let out = pose(&[
        "deploy",
        "--network",
        net_s,
        "--key",
        &user,
        "--pool-size",
        "1",
        wasm.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}\nnode log:\n{}",
        text(&out),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("contract 1 is live"),
        "{}",
        text(&out)
    );
    let me = format!("{:#x}", anvil.addresses()[9]);
    let out = pose(&[
        "query",
        "--network",
        net_s,
        "--key",
        &user,
        "1",
        "balance",
        "--who",
        &me,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let answer: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(answer["result"], serde_json::json!("0"), "{answer}");
    drop(node);
}

/// Deploys a manager with `pose network deploy` on `anvil`; returns the network file's path
/// and contents and the vendor key.
fn deploy_network(anvil: &AnvilInstance, dir: &Path) -> (PathBuf, serde_json::Value, String) {
    let key = write_key(dir, "deployer.key", &key_hex(anvil, 0), 0o600);
    let net = dir.join("network.json");
    let out = pose(&[
        "network",
        "deploy",
        "--rpc-url",
        &anvil.endpoint(),
        "--chain-id",
        &anvil.chain_id().to_string(),
        "--key-file",
        key.to_str().unwrap(),
        "--out",
        net.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let info = serde_json::from_str(&std::fs::read_to_string(&net).unwrap()).unwrap();
    let vendor = std::fs::read_to_string(dir.join("vendor.key")).unwrap();
    (net, info, vendor.trim().to_owned())
}

/// Starts `pose node` number `i` (operator: anvil's account `i`) with no `peers`, publishing
/// its endpoint; returns its guard, URL and log.
fn start_published_node(
    anvil: &AnvilInstance,
    dir: &Path,
    info: &serde_json::Value,
    vendor_key: &str,
    i: usize,
) -> (common::Guard, String, PathBuf) {
    let key = write_key(dir, &format!("operator-{i}.key"), &key_hex(anvil, i), 0o600);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.join(format!("node-{i}.toml"));
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\nrpc_url = {:?}\nmanager = {:?}\n\
             operator_key_file = {:?}\nstart_block = {}\nvendor_key = {:?}\nchain_poll_ms = 250\n\
             endpoint = {url:?}\n",
            dir.join(format!("node-{i}")),
            anvil.endpoint(),
            info["manager"].as_str().unwrap(),
            key,
            info["deploy_block"],
            vendor_key,
        ),
    )
    .unwrap();
    let log = dir.join(format!("node-{i}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(["node", "--config", config.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("pose node starts");
    (
        common::Guard {
            child,
            also: Vec::new(),
        },
        url,
        log,
    )
}

fn logs(nodes: &[(common::Guard, String, PathBuf)]) -> String {
    nodes
        .iter()
        .map(|(_, url, log)| {
            format!(
                "--- node {url}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn three_nodes_without_peers_find_each_other_through_the_chain_and_run_a_contract() {
    let anvil = spawn_anvil(&["--block-time", "1"]).expect("anvil starts (run scripts/setup)");
    let dir = tempfile::tempdir().unwrap();
    let (net, info, vendor_key) = deploy_network(&anvil, dir.path());
    let net_s = net.to_str().unwrap();
    let mut nodes: Vec<_> = (1..=3)
        .map(|i| start_published_node(&anvil, dir.path(), &info, &vendor_key, i))
        .collect();
    let manager: Address = info["manager"].as_str().unwrap().parse().unwrap();

    // Every node registers its enclave and publishes where it is reached.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = ManagerClient::connect(
            ChainConfig::new(anvil.endpoint()),
            parse_private_key(&key_hex(&anvil, 9)).unwrap(),
            manager,
        )
        .await
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let head = client.block_number().await.unwrap();
            let published = client.endpoints_between(0, head).await.unwrap();
            let mut urls: Vec<_> = published.values().cloned().collect();
            urls.sort();
            let mut want: Vec<_> = nodes.iter().map(|(_, u, _)| u.clone()).collect();
            want.sort();
            if urls == want {
                for (enclave, url) in &published {
                    assert_eq!(&client.endpoint_of(*enclave).await.unwrap(), url);
                }
                break;
            }
            let exited = nodes
                .iter_mut()
                .find_map(|(g, url, _)| Some((url.clone(), g.child.try_wait().ok()??)));
            if let Some((url, status)) = exited {
                panic!("node {url} exited ({status}):\n{}", logs(&nodes));
            }
            assert!(
                Instant::now() < deadline,
                "endpoints not published in time: {urls:?}\n{}",
                logs(&nodes)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    // Nothing in the network file names a node: users find them on chain too.
    assert_eq!(info["nodes"], serde_json::json!([]));

    let user = format!("0x{}", key_hex(&anvil, 9));
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/contracts/wasm/token_escrow.wasm");
    // A pool of three goes live only once every member accepted the code from the executor,
    // which reaches them through the endpoints it read on chain.
    let out = pose(&[
        "deploy",
        "--network",
        net_s,
        "--key",
        &user,
        "--pool-size",
        "3",
        wasm.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out), logs(&nodes));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("contract 1 is live"),
        "{}",
        text(&out)
    );
    let out = pose(&["deposit", "--network", net_s, "--key", &user, "1", "1000"]);
    assert!(out.status.success(), "{}", text(&out));
    let me = format!("{:#x}", anvil.addresses()[9]);
    let bob = format!("0x{}", "b0".repeat(20));
    let query = |who: &str| {
        let out = pose(&[
            "query",
            "--network",
            net_s,
            "--key",
            &user,
            "1",
            "balance",
            "--who",
            who,
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
        v["result"].clone()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while query(&me) != serde_json::json!("1000") {
        assert!(Instant::now() < deadline, "the deposit was not credited");
        std::thread::sleep(Duration::from_millis(500));
    }
    // A call commits only once every other member acknowledged the new state.
    let out = pose(&[
        "call",
        "--network",
        net_s,
        "--key",
        &user,
        "1",
        "transfer",
        "--to",
        &bob,
        "--amount",
        "250",
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out), logs(&nodes));
    let answer: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(answer["result"], serde_json::Value::Null, "{answer}");
    assert_eq!(query(&bob), serde_json::json!("250"));
    let found: usize = nodes
        .iter()
        .map(|(_, _, log)| {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .matches("peer found on chain")
                .count()
        })
        .sum();
    assert!(
        found >= 6,
        "each node found the two others on chain:\n{}",
        logs(&nodes)
    );
    drop(nodes);
}
