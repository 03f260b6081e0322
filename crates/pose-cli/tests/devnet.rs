//! End to end: `pose devnet` starts a real anvil and real `pose node` processes on free ports;
//! every node answers `/v1/status`, every enclave is registered on chain by its node's
//! operator, and Ctrl-C (SIGINT) stops every process the devnet started. The guards stop the
//! processes by their ids even when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pose_chain::alloy::primitives::Address;
use pose_chain::{parse_private_key, ChainConfig, ManagerClient, PoseManager};
use pose_client::transport::Transport;

/// A process that is interrupted, then killed, when the guard goes.
struct Guard {
    child: Child,
    /// Further process ids to kill (the devnet's nodes) if they outlive it.
    also: Vec<u32>,
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie's state is `Z`.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.contains(") Z "),
        Err(_) => false,
    }
}

impl Guard {
    fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(self.child.id(), "-INT");
            if self.wait_exit(Duration::from_secs(20)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for pid in &self.also {
            if alive(*pid) {
                signal(*pid, "-KILL");
            }
        }
    }
}

fn wait_for_file(path: &Path, guard: &mut Guard, log: &Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return serde_json::from_str(&text).expect("devnet.json is JSON");
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            panic!(
                "pose devnet exited early ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "devnet not ready in time:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_devnet(dir: &Path, nodes: u8) -> (Guard, PathBuf) {
    let log = dir.join("devnet.out");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(["devnet", "--nodes", &nodes.to_string(), "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("pose binary starts");
    (
        Guard {
            child,
            also: Vec::new(),
        },
        log,
    )
}

#[test]
fn a_devnet_registers_every_node_and_ctrl_c_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (mut devnet, log) = start_devnet(dir.path(), 3);
    let info = wait_for_file(&dir.path().join("devnet.json"), &mut devnet, &log);
    let nodes = info["nodes"].as_array().expect("nodes listed").clone();
    assert_eq!(nodes.len(), 3);
    devnet.also = nodes
        .iter()
        .map(|n| n["pid"].as_u64().unwrap() as u32)
        .collect();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let transport = Transport::new(Duration::from_secs(5));
        let user = parse_private_key(info["user_key"].as_str().unwrap()).unwrap();
        let manager: Address = info["manager"].as_str().unwrap().parse().unwrap();
        let rpc = info["rpc_url"].as_str().unwrap();
        let client = ManagerClient::connect(ChainConfig::new(rpc), user, manager)
            .await
            .unwrap();
        let mut enclaves = Vec::new();
        for node in &nodes {
            let url = node["url"].as_str().unwrap();
            let status = transport
                .status(url)
                .await
                .expect("node answers /v1/status");
            assert_eq!(status["registered"], serde_json::json!(true), "{status}");
            assert_eq!(status["enclave"], node["enclave"], "{status}");
            assert_eq!(
                status["manager"].as_str().unwrap().to_lowercase(),
                info["manager"].as_str().unwrap().to_lowercase()
            );
            let enclave: Address = node["enclave"].as_str().unwrap().parse().unwrap();
            let operator: Address = node["operator"].as_str().unwrap().parse().unwrap();
            let record = client
                .read(&PoseManager::enclavesCall(enclave))
                .await
                .unwrap();
            assert_eq!(
                record.operator, operator,
                "registered by the node's operator"
            );
            assert!(record.active);
            enclaves.push(enclave);
        }
        enclaves.sort();
        enclaves.dedup();
        assert_eq!(enclaves.len(), 3, "every node hosts its own enclave");
        let count = client
            .read(&PoseManager::activeEnclaveCountCall {})
            .await
            .unwrap();
        assert_eq!(count, pose_chain::alloy::primitives::U256::from(3));
    });

    // Ctrl-C: the devnet stops its nodes and the chain, then exits 0.
    signal(devnet.child.id(), "-INT");
    let status = devnet
        .wait_exit(Duration::from_secs(30))
        .expect("devnet stops after SIGINT");
    assert!(
        status.success(),
        "devnet exit {status}:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    for pid in &devnet.also {
        assert!(!alive(*pid), "node process {pid} outlived the devnet");
    }
    let rpc = info["rpc_url"].as_str().unwrap().to_owned();
    runtime.block_on(async {
        let transport = Transport::new(Duration::from_secs(2));
        for node in &nodes {
            assert!(transport
                .status(node["url"].as_str().unwrap())
                .await
                .is_err());
        }
        let user = parse_private_key(info["user_key"].as_str().unwrap()).unwrap();
        let manager: Address = info["manager"].as_str().unwrap().parse().unwrap();
        assert!(
            ManagerClient::connect(ChainConfig::new(rpc), user, manager)
                .await
                .is_err(),
            "anvil outlived the devnet"
        );
    });
}
