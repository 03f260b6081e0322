//! End to end: `pose devnet` starts a real anvil and real `pose node` processes on free ports;
//! every node answers `/v1/status`, every enclave is registered on chain by its node's
//! operator, and Ctrl-C (SIGINT) stops every process the devnet started. The guards stop the
//! processes by their ids even when an assertion fails.

mod common;

use std::time::Duration;

use common::{alive, signal, start_devnet, wait_for_file};
use pose_chain::alloy::primitives::Address;
use pose_chain::{parse_private_key, ChainConfig, ManagerClient, PoseManager};
use pose_client::transport::Transport;

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
