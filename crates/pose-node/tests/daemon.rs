//! The daemon against a real anvil with the real enclave: it registers its enclave on first
//! start (and publishes its endpoint), stops cleanly when asked, and a restart from the same
//! data directory resumes the same enclave (sealed identity and state) without registering or
//! publishing again.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use pose_chain::alloy::primitives::U256;
use pose_chain::alloy::providers::Provider;
use pose_chain::alloy::signers::local::PrivateKeySigner;
use pose_chain::{to_address, to_b256, ChainConfig, ManagerClient, PoseManager};
use pose_client::transport::Transport;
use pose_crypto::{OsRng, SigningKey};
use pose_node::config::NodeConfig;
use pose_node::daemon;
use tokio::sync::watch;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_registered(url: &str) -> serde_json::Value {
    let transport = Transport::new(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(status) = transport.status(url).await {
            if status["registered"] == serde_json::json!(true) {
                return status;
            }
        }
        assert!(Instant::now() < deadline, "node did not register in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_once_stops_on_request_and_resumes_the_same_enclave() {
    let anvil = pose_chain::anvil::spawn_anvil(&[]).unwrap();
    let vendor = SigningKey::random(&mut OsRng);
    let owner = PrivateKeySigner::from_signing_key(anvil.keys()[0].clone().into());
    let client = ManagerClient::deploy(
        ChainConfig::new(anvil.endpoint()),
        owner,
        to_address(vendor.address()),
        vec![to_b256(pose_node::enclave_core::program_measurement())],
    )
    .await
    .unwrap();
    let operator = anvil.addresses()[1];
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = NodeConfig {
        data_dir: dir.path().join("data"),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        rpc_url: anvil.endpoint(),
        manager: client.manager().to_string(),
        operator_key: Some(format!("0x{}", hex::encode(anvil.keys()[1].to_bytes()))),
        operator_key_file: None,
        confirmations: 1,
        chain_poll_ms: 100,
        start_block: 0,
        vendor_key: Some(format!("0x{}", hex::encode(*vendor.to_bytes()))),
        peers: Vec::new(),
        endpoint: Some(url.clone()),
        test_tamper_relayed: false,
        test_forge_remove_members: false,
        test_censor_user: None,
    };
    config.check().unwrap();

    let (stop, stopped) = watch::channel(false);
    let node = tokio::spawn(daemon::run_until(config.clone(), stopped));
    let first = wait_registered(&url).await;
    let enclave: pose_chain::alloy::primitives::Address =
        first["enclave"].as_str().unwrap().parse().unwrap();
    let record = client
        .read(&PoseManager::enclavesCall(enclave))
        .await
        .unwrap();
    assert_eq!(record.operator, operator);
    assert!(record.active);
    // The node published where it is reached, for its enclave, from its operator key.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while client.endpoint_of(enclave).await.unwrap() != url {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not publish its endpoint"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let nonce_after_registration = client
        .provider()
        .get_transaction_count(operator)
        .await
        .unwrap();
    assert_eq!(
        nonce_after_registration, 2,
        "one registration transaction, one publishing the endpoint"
    );

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), node)
        .await
        .expect("node stops when asked")
        .unwrap()
        .expect("node stops without error");
    assert!(
        Transport::new(Duration::from_secs(1))
            .status(&url)
            .await
            .is_err(),
        "API closed after stop"
    );

    let (stop, stopped) = watch::channel(false);
    let mut again = config.clone();
    again.vendor_key = None; // the platform is in the data directory now
    let node = tokio::spawn(daemon::run_until(again, stopped));
    let second = wait_registered(&url).await;
    assert_eq!(
        second["enclave"], first["enclave"],
        "same enclave after restart"
    );
    assert_eq!(
        client
            .provider()
            .get_transaction_count(operator)
            .await
            .unwrap(),
        nonce_after_registration,
        "a restarted node neither registers nor publishes again"
    );
    assert_eq!(
        client
            .read(&PoseManager::activeEnclaveCountCall {})
            .await
            .unwrap(),
        U256::from(1)
    );
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), node)
        .await
        .expect("node stops when asked")
        .unwrap()
        .expect("node stops without error");
}
