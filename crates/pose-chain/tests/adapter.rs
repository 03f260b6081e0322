//! The adapter itself: confirmations, the event follower and its stored position, chain time,
//! and a third-party client (`cast`) driving the manager. These tests depend on nobody else
//! mining blocks, so they hold `CLOCK` while they run.

mod common;

use std::process::Command;
use std::time::Duration;

use alloy::primitives::{Bytes, U256};
use alloy::providers::Provider;
use common::*;
use pose_chain::anvil::cast_path;
use pose_chain::PoseManager::{self, PoseManagerEvents as Ev};
use pose_chain::{ChainConfig, EventFollower, ManagerClient};

#[tokio::test]
async fn submissions_wait_for_the_configured_confirmations() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(1).await;
    let (cid, _) = env.live_contract(&keys, params(1)).await;
    let key = random_key();
    fund(&env.url, key.address()).await;
    let careful = ManagerClient::connect(
        ChainConfig::new(env.url.clone()).with_confirmations(3),
        key,
        env.manager(),
    )
    .await
    .unwrap();
    let task = tokio::spawn({
        let careful = careful.clone();
        async move { careful.deposit(cid, U256::from(7)).await }
    });
    // Included at once (automine), but not yet confirmed three times.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.owner.contract(cid).await.unwrap().balance,
        U256::from(7)
    );
    assert!(!task.is_finished(), "returned before 3 confirmations");
    env.owner.anvil_mine(1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "returned after 2 confirmations");
    env.owner.anvil_mine(1).await.unwrap();
    let receipt = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let head = env.owner.block_number().await.unwrap();
    assert_eq!(head, receipt.block_number.unwrap() + 2);
}

#[tokio::test]
async fn the_follower_reads_confirmed_events_and_resumes_from_its_stored_block() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    // From the block after the deployment.
    let start = env.owner.block_number().await.unwrap() + 1;
    let keys = env.register(2).await;
    let (cid, _) = env.live_contract(&keys, params(2)).await;
    let dir = std::env::temp_dir().join(format!("pose-chain-cursor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cursor = dir.join(format!("{}.cursor", env.manager()));
    let _ = std::fs::remove_file(&cursor);

    let follower_client = ManagerClient::connect(
        ChainConfig::new(env.url.clone()).with_confirmations(2),
        random_key(),
        env.manager(),
    )
    .await
    .unwrap();
    let mut f = EventFollower::with_cursor_file(&cursor, start).unwrap();
    assert_eq!(f.next_block(), start);
    let first = f.poll(&follower_client).await.unwrap();
    // Two registrations, creation, completion; the completion is in the head block, which has
    // only one confirmation, so it is not reported yet.
    let kinds = |evs: &[pose_chain::ManagerEvent]| {
        evs.iter()
            .filter(|e| !matches!(e.event, Ev::TxHashExtended(_)))
            .map(|e| match &e.event {
                Ev::EnclaveRegistered(_) => "registered",
                Ev::ContractCreated(_) => "created",
                Ev::CreationCompleted(_) => "completed",
                Ev::Deposited(_) => "deposited",
                Ev::ChallengeOpened(_) => "challenged",
                other => panic!("unexpected {other:?}"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&first), ["registered", "registered", "created"]);
    assert!(first
        .windows(2)
        .all(|w| (w[0].block_number, w[0].log_index) < (w[1].block_number, w[1].log_index)));
    f.persist().unwrap();

    // A restarted host opens the same cursor and continues where the last persisted batch ended.
    let user = env.user().await;
    user.deposit(cid, U256::from(5)).await.unwrap();
    user.challenge(cid, Bytes::from_static(b"in"))
        .await
        .unwrap();
    env.owner.anvil_mine(1).await.unwrap();
    let mut g = EventFollower::with_cursor_file(&cursor, 0).unwrap();
    assert_eq!(g.next_block(), f.next_block());
    let second = g.poll(&follower_client).await.unwrap();
    assert_eq!(kinds(&second), ["completed", "deposited", "challenged"]);
    // Each event carries its block's time.
    for e in &second {
        let block = env
            .owner
            .provider()
            .get_block_by_number(e.block_number.into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(e.block_timestamp, block.header.timestamp);
    }
    let deposited = second
        .iter()
        .find_map(|e| match &e.event {
            Ev::Deposited(d) => Some(d),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (deposited.cid, deposited.from, deposited.amount),
        (cid.0, user.sender(), U256::from(5))
    );
    g.persist().unwrap();
    assert!(g.poll(&follower_client).await.unwrap().is_empty());
    // A corrupt cursor file is reported, not silently reset.
    std::fs::write(&cursor, "not a number").unwrap();
    assert!(matches!(
        EventFollower::with_cursor_file(&cursor, 0),
        Err(pose_chain::ChainError::Cursor { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn chain_time_follows_the_chain_clock() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let t0 = env.owner.chain_time().await.unwrap();
    env.owner.anvil_increase_time(3600).await.unwrap();
    let t1 = env.owner.chain_time().await.unwrap();
    assert!(t1 >= t0 + 3600 && t1 < t0 + 3700, "{t0} -> {t1}");
}

fn cast(args: &[&str]) -> String {
    let out = Command::new(cast_path())
        .args(args)
        .output()
        .expect("cast runs (run scripts/setup or set $CAST)");
    assert!(
        out.status.success(),
        "cast {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The README's `cast` commands: a third-party client deposits and challenges.
#[tokio::test]
async fn cast_deposits_and_challenges() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(2).await;
    let (cid, _) = env.live_contract(&keys, params(2)).await;
    let key = random_key();
    fund(&env.url, key.address()).await;
    let pk = format!("0x{}", alloy::hex::encode(key.to_bytes()));
    let mgr = env.manager().to_string();
    let cid_s = cid.0.to_string();

    cast(&[
        "send",
        "--rpc-url",
        &env.url,
        "--private-key",
        &pk,
        &mgr,
        "deposit(uint64)",
        &cid_s,
        "--value",
        "1000000000000000000",
    ]);
    assert_eq!(
        env.owner.contract(cid).await.unwrap().balance,
        U256::from(ONE_ETH)
    );

    cast(&[
        "send",
        "--rpc-url",
        &env.url,
        "--private-key",
        &pk,
        &mgr,
        "challenge(uint64,bytes)",
        &cid_s,
        "0xc0ffee",
    ]);
    let ch = env
        .owner
        .read(&PoseManager::getChallengeCall {
            cid: cid.0,
            challengeId: 1,
        })
        .await
        .unwrap();
    assert!(ch.open);
    assert_eq!(ch.user, key.address());
    assert_eq!(
        ch.inputHash,
        alloy::primitives::keccak256([0xc0, 0xff, 0xee])
    );

    // Reads work the same way, and a refusal names the manager's custom error.
    let tx = cast(&[
        "call",
        "--rpc-url",
        &env.url,
        &mgr,
        "txHashOf(uint64)(bytes32)",
        &cid_s,
    ]);
    assert_eq!(tx, env.owner.tx_hash_of(cid).await.unwrap().to_string());
    let out = Command::new(cast_path())
        .args([
            "send",
            "--rpc-url",
            &env.url,
            "--private-key",
            &pk,
            &mgr,
            "deposit(uint64)",
            &cid_s,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a zero deposit is refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // ZeroDeposit() selector.
    let selector = alloy::hex::encode(&alloy::primitives::keccak256(b"ZeroDeposit()")[..4]);
    assert!(
        stderr.contains(&selector) || stderr.contains("ZeroDeposit"),
        "{stderr}"
    );
}

/// The anvil handle kills its process when dropped, also when the test holding it panics.
#[test]
fn anvil_is_killed_on_drop_even_after_a_panic() {
    fn alive(pid: u32) -> bool {
        // A killed and reaped process has no /proc entry; a zombie would show state Z.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat.contains(") Z "),
            Err(_) => false,
        }
    }
    let anvil = pose_chain::anvil::spawn_anvil(&[]).unwrap();
    let pid = anvil.child().id();
    assert!(alive(pid));
    assert!(anvil.endpoint().starts_with("http://127.0.0.1:"));
    drop(anvil);
    assert!(!alive(pid), "anvil {pid} survived its handle");

    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::panic::catch_unwind(move || {
        let anvil = pose_chain::anvil::spawn_anvil(&[]).unwrap();
        tx.send(anvil.child().id()).unwrap();
        panic!("a failing test");
    });
    assert!(result.is_err());
    let pid = rx.recv().unwrap();
    assert!(!alive(pid), "anvil {pid} survived a panicking test");
}

/// A transaction that is mined but fails (here: too little gas) is reported as such, not as a
/// success.
#[tokio::test]
async fn a_mined_failure_is_reported() {
    use alloy::network::TransactionBuilder;
    use alloy::sol_types::SolCall;
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(1).await;
    let (cid, _) = env.live_contract(&keys, params(1)).await;
    let tx = alloy::rpc::types::TransactionRequest::default()
        .with_to(env.manager())
        .with_input(PoseManager::depositCall { cid: cid.0 }.abi_encode())
        .with_value(U256::from(1))
        .with_gas_limit(22_000);
    let err = env.owner.submit(tx).await.unwrap_err();
    assert!(
        matches!(err, pose_chain::ChainError::TxFailed(_)),
        "{err:?}"
    );
    assert_eq!(env.owner.contract(cid).await.unwrap().balance, U256::ZERO);
}

/// A transaction that leaves the chain while its confirmations are awaited (a reorganisation,
/// here anvil's snapshot revert) is reported as dropped, so the caller resubmits.
#[tokio::test]
async fn a_transaction_reorganised_away_is_reported_dropped() {
    use alloy::providers::ext::AnvilApi;
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(1).await;
    let (cid, _) = env.live_contract(&keys, params(1)).await;
    let key = random_key();
    fund(&env.url, key.address()).await;
    let careful = ManagerClient::connect(
        ChainConfig::new(env.url.clone()).with_confirmations(3),
        key,
        env.manager(),
    )
    .await
    .unwrap();
    let snapshot = env.owner.provider().anvil_snapshot().await.unwrap();
    let task = tokio::spawn({
        let careful = careful.clone();
        async move { careful.deposit(cid, U256::from(9)).await }
    });
    // Wait until the deposit is included, then roll the chain back and grow it past the
    // block the deposit was in.
    let start = std::time::Instant::now();
    while env.owner.contract(cid).await.unwrap().balance == U256::ZERO {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the deposit was never included"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(env.owner.provider().anvil_revert(snapshot).await.unwrap());
    assert_eq!(env.owner.contract(cid).await.unwrap().balance, U256::ZERO);
    env.owner.anvil_mine(3).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(result, Err(pose_chain::ChainError::Dropped(_))),
        "{result:?}"
    );
    assert_eq!(
        env.owner.contract(cid).await.unwrap().balance,
        U256::ZERO,
        "really gone"
    );
}

/// A sent transaction that the node forgets before it is mined (evicted from the pool) is
/// reported as dropped instead of being awaited until the timeout. Runs on its own anvil,
/// because it switches automatic mining off.
#[tokio::test]
async fn a_transaction_evicted_from_the_pool_is_reported_dropped() {
    use alloy::network::TransactionBuilder;
    use alloy::providers::ext::AnvilApi;
    use alloy::rpc::types::TransactionRequest;
    let anvil = pose_chain::anvil::spawn_anvil(&[]).expect("anvil starts");
    let url = anvil.endpoint();
    let key = random_key();
    fund(&url, key.address()).await;
    let client = ManagerClient::deploy(
        ChainConfig::new(url.clone()),
        key,
        EKey::random().address(),
        vec![],
    )
    .await
    .unwrap();
    client.provider().anvil_set_auto_mine(false).await.unwrap();
    let nonce_before = client
        .provider()
        .get_transaction_count(client.sender())
        .await
        .unwrap();
    let recipient = random_key().address();
    let task = tokio::spawn({
        let client = client.clone();
        async move {
            let tx = TransactionRequest::default()
                .with_to(recipient)
                .with_value(U256::from(1));
            client.submit(tx).await
        }
    });
    let start = std::time::Instant::now();
    while client
        .provider()
        .get_transaction_count(client.sender())
        .pending()
        .await
        .unwrap()
        == nonce_before
    {
        assert!(start.elapsed() < Duration::from_secs(20), "never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client
        .provider()
        .anvil_drop_all_transactions()
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("reported before the timeout")
        .unwrap();
    assert!(
        matches!(result, Err(pose_chain::ChainError::Dropped(_))),
        "{result:?}"
    );
    assert_eq!(
        client.provider().get_balance(recipient).await.unwrap(),
        U256::ZERO
    );
}
