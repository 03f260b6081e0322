//! The system end to end, with real processes: `pose devnet` starts anvil and `pose node`
//! processes; the tests are users (the `pose-client` library) that create contracts, call them,
//! deposit and withdraw, and kill or stop operator processes to check that the contract stays
//! live and loses no acknowledged call. The guards stop every process by its id, also when an
//! assertion fails.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{signal, start_devnet, wait_for_file, Guard};
use pose_chain::alloy::primitives::U256;
use pose_chain::alloy::providers::Provider;
use pose_chain::{
    from_address, parse_private_key, to_address, ChainConfig, ManagerClient, PoseManager,
};
use pose_client::{ClientOptions, PoseClient, Progress};
use pose_types::{Address, ContractId};
use serde_json::Value;

/// A running devnet and its `devnet.json`.
struct Net {
    guard: Guard,
    info: Value,
    _dir: tempfile::TempDir,
}

fn devnet(nodes: u8) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let (mut guard, log) = start_devnet(dir.path(), nodes);
    let info = wait_for_file(&dir.path().join("devnet.json"), &mut guard, &log);
    guard.also = info["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pid"].as_u64().unwrap() as u32)
        .collect();
    Net {
        guard,
        info,
        _dir: dir,
    }
}

impl Net {
    fn addr(text: &Value) -> Address {
        let a: pose_chain::alloy::primitives::Address = text.as_str().unwrap().parse().unwrap();
        from_address(a)
    }

    /// A client for `key` (hex), with short timings for tests.
    async fn client(&self, key: &str, challenge_after_secs: u64) -> PoseClient {
        let signer = parse_private_key(key).unwrap();
        let user = pose_crypto::SigningKey::from_bytes(&signer.to_bytes().0).unwrap();
        let manager = self.info["manager"].as_str().unwrap().parse().unwrap();
        let chain = ManagerClient::connect(
            ChainConfig::new(self.info["rpc_url"].as_str().unwrap()),
            signer,
            manager,
        )
        .await
        .unwrap();
        let nodes: BTreeMap<Address, String> = self.info["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    Self::addr(&n["enclave"]),
                    n["url"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let vendor = Self::addr(&self.info["vendor"]);
        PoseClient::new(
            chain,
            user,
            nodes,
            vendor,
            vec![pose_node::enclave_core::program_measurement()],
        )
        .with_options(ClientOptions {
            poll: Duration::from_millis(300),
            challenge_after: Duration::from_secs(challenge_after_secs),
            give_up_after: Duration::from_secs(400),
            creation_timeout: Duration::from_secs(120),
        })
    }

    /// The devnet's funded user.
    async fn user(&self) -> PoseClient {
        self.client(self.info["user_key"].as_str().unwrap(), 8)
            .await
    }

    /// A fresh funded user.
    async fn another_user(&self) -> PoseClient {
        let key = pose_crypto::SigningKey::random(&mut pose_crypto::OsRng);
        let hex_key = format!("0x{}", hex::encode(*key.to_bytes()));
        let c = self.client(&hex_key, 8).await;
        self.user()
            .await
            .chain()
            .anvil_set_balance(to_address(c.address()), U256::from(10u128.pow(21)))
            .await
            .unwrap();
        c
    }

    /// The process id of the node hosting `enclave`.
    fn pid_of(&self, enclave: Address) -> u32 {
        self.node_of(enclave)["pid"].as_u64().unwrap() as u32
    }
}

impl Net {
    /// The devnet's entry for the node hosting `enclave`.
    fn node_of(&self, enclave: Address) -> Value {
        self.info["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| Self::addr(&n["enclave"]) == enclave)
            .expect("a node hosts the enclave")
            .clone()
    }

    /// Kills the node hosting `enclave` (`kill -9`) and starts it again from its config and
    /// data directory with `extra` flags; returns its guard and status once it registered.
    async fn restart_node(&self, enclave: Address, extra: &[&str]) -> (Guard, Value) {
        let node = self.node_of(enclave);
        signal(node["pid"].as_u64().unwrap() as u32, "-KILL");
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(node["log"].as_str().unwrap())
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_pose"))
            .args(["node", "--config", node["config"].as_str().unwrap()])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the node restarts");
        let guard = Guard {
            child,
            also: Vec::new(),
        };
        let transport = pose_client::transport::Transport::new(Duration::from_secs(10));
        loop {
            if let Ok(s) = transport.status(node["url"].as_str().unwrap()).await {
                if s["registered"] == serde_json::json!(true) {
                    return (guard, s);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many messages the node hosting `enclave` refused (its `/metrics`).
    async fn rejected_messages(&self, enclave: Address) -> u64 {
        let url = format!("{}/metrics", self.node_of(enclave)["url"].as_str().unwrap());
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        text.lines()
            .find(|l| {
                l.starts_with(r#"pose_api_requests_total{route="messages",outcome="rejected"}"#)
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| v.parse().unwrap())
            .unwrap_or(0)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Stopped (SIGSTOP) nodes must run again to be stopped cleanly.
        for pid in &self.guard.also {
            signal(*pid, "-CONT");
        }
    }
}

fn wasm(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../examples/contracts/wasm/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn params(pool: u8, response_secs: u32, member_secs: u32) -> PoseManager::Params {
    PoseManager::Params {
        poolSize: pool,
        responsePeriodSecs: response_secs,
        memberResponsePeriodSecs: member_secs,
        confirmations: 1,
    }
}

fn u128_le(v: u128) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn op(code: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![code];
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

async fn balance_of(c: &PoseClient, cid: ContractId, who: Address) -> u128 {
    let out = c.query(cid, &op(1, &[&who.0])).await.unwrap().output;
    u128::from_le_bytes(out.try_into().expect("a u128 balance"))
}

async fn chain_balance(c: &PoseClient) -> U256 {
    c.chain()
        .provider()
        .get_balance(to_address(c.address()))
        .await
        .unwrap()
}

/// Waits until `c`'s on-chain balance grows past `before`.
async fn wait_paid(c: &PoseClient, before: U256) -> U256 {
    for _ in 0..240 {
        let now = chain_balance(c).await;
        if now > before {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("no payout reached {}", c.address());
}

/// Deploys token-escrow with `params` from `a` and credits `a` with a 1000-wei deposit.
async fn funded_escrow(a: &PoseClient, params: PoseManager::Params) -> ContractId {
    let cid = a
        .deploy(&wasm("token_escrow"), &[], params)
        .await
        .expect("token-escrow deploys");
    a.deposit(cid, 1_000).await.unwrap();
    for _ in 0..60 {
        if balance_of(a, cid, a.address()).await == 1_000 {
            return cid;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("the deposit was never credited");
}

/// The contract's pool on the chain, executor rotation order.
async fn pool_of(c: &PoseClient, cid: ContractId) -> Vec<Address> {
    c.chain()
        .pool(cid)
        .await
        .unwrap()
        .into_iter()
        .map(from_address)
        .collect()
}

#[test]
fn every_example_contract_runs_through_a_devnet() {
    let net = devnet(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = net.user().await;
        let b = net.another_user().await;

        // Token with escrow: deposit, transfer, query, and a payout withdrawn on-chain.
        let cid = a
            .deploy(&wasm("token_escrow"), &[], params(2, 30, 10))
            .await
            .expect("token-escrow deploys");
        a.deposit(cid, 1_000).await.unwrap();
        // The deposit is credited once the enclaves saw it confirmed.
        let mut credited = 0;
        for _ in 0..60 {
            credited = balance_of(&a, cid, a.address()).await;
            if credited == 1_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(credited, 1_000, "the deposit is credited");
        a.call(cid, &op(1, &[&b.address().0, &u128_le(300)]))
            .await
            .expect("transfer");
        assert_eq!(balance_of(&a, cid, a.address()).await, 700);
        assert_eq!(balance_of(&b, cid, b.address()).await, 300);
        let before = chain_balance(&b).await;
        b.call(cid, &op(2, &[&u128_le(250)]))
            .await
            .expect("withdraw");
        let after = wait_paid(&b, before).await;
        // The payout is 250 wei; the withdrawal transaction's gas was paid by the executor's
        // operator, not by the user.
        assert_eq!(after - before, U256::from(250));
        assert_eq!(balance_of(&b, cid, b.address()).await, 50);

        // Rock-paper-scissors: two players stake, play hidden moves, the contract decides.
        let mut init = u128_le(10);
        init.extend_from_slice(&60u64.to_le_bytes());
        let rps = a
            .deploy(&wasm("rock_paper_scissors"), &init, params(2, 30, 10))
            .await
            .expect("rock-paper-scissors deploys");
        a.deposit(rps, 100).await.unwrap();
        b.deposit(rps, 100).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        a.call(rps, &[1]).await.expect("a joins");
        b.call(rps, &[1]).await.expect("b joins");
        a.call(rps, &[2, 0]).await.expect("a plays rock");
        let out = b.call(rps, &[2, 1]).await.expect("b plays paper").output;
        assert_eq!(out.len(), 9, "game:u64 result:u8, got {out:?}");
        assert_eq!(out[8], 2, "paper beats rock: the second player wins");

        // Sealed-bid auction: bids stay private; after the end the highest bid wins.
        let now = a.chain().chain_time().await.unwrap();
        let mut init = a.address().0.to_vec();
        init.extend_from_slice(&u128_le(10));
        init.extend_from_slice(&(now + 40).to_le_bytes());
        let auction = a
            .deploy(&wasm("sealed_bid_auction"), &init, params(2, 30, 10))
            .await
            .expect("sealed-bid auction deploys");
        b.deposit(auction, 100).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        b.call(auction, &op(1, &[&u128_le(60)]))
            .await
            .expect("b bids");
        let end = now + 41;
        while a.chain().chain_time().await.unwrap() < end {
            a.chain().anvil_increase_time(10).await.unwrap();
        }
        // A contract's clock is the block time of the latest chain transaction of that
        // contract its state consumed (pose_contract_sdk::env::block_time): any transaction,
        // here a 1-wei deposit, moves it on.
        b.deposit(auction, 1).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let out = a.call(auction, &[2]).await.expect("close").output;
        assert_eq!(out.len(), 36, "{}", String::from_utf8_lossy(&out));
        assert_eq!(&out[..20], &b.address().0, "b wins");
        assert_eq!(u128::from_le_bytes(out[20..36].try_into().unwrap()), 60);

        // Federated learning: two participants submit weighted updates; aggregation averages.
        let fl = a
            .deploy(
                &wasm("federated_learning"),
                &4u32.to_le_bytes(),
                params(2, 30, 10),
            )
            .await
            .expect("federated learning deploys");
        let update = |w: f32, vals: [f32; 4]| {
            let mut v = vec![1u8];
            v.extend_from_slice(&w.to_le_bytes());
            for x in vals {
                v.extend_from_slice(&x.to_le_bytes());
            }
            v
        };
        a.call(fl, &update(1.0, [1.0, 2.0, 3.0, 4.0]))
            .await
            .unwrap();
        b.call(fl, &update(3.0, [5.0, 6.0, 7.0, 8.0]))
            .await
            .unwrap();
        a.call(fl, &[2]).await.expect("aggregate");
        let out = b.query(fl, &[4]).await.unwrap().output;
        let model: Vec<f32> = out[8..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(model, vec![4.0, 5.0, 6.0, 7.0]);
    });
}

#[test]
fn killing_the_executor_changes_the_executor_and_loses_no_acknowledged_call() {
    let net = devnet(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = net.user().await;
        let b = net.another_user().await;
        let cid = funded_escrow(&a, params(3, 30, 5)).await;
        a.call(cid, &op(1, &[&b.address().0, &u128_le(100)]))
            .await
            .expect("an acknowledged transfer");
        let old = from_address(a.chain().executor_of(cid).await.unwrap());
        // The next call is under way when the executor's process dies: the client's progress
        // report that the request was sent to the executor kills the executor's node.
        let old_pid = net.pid_of(old);
        let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let killer = {
            let killed = killed.clone();
            a.clone().with_progress(move |p| {
                if matches!(p, Progress::Sent { executor, .. } if *executor == old)
                    && !killed.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    signal(old_pid, "-KILL");
                }
            })
        };
        let mut answer = killer
            .call(cid, &op(1, &[&b.address().0, &u128_le(200)]))
            .await
            .expect("answered after the executor died");
        assert!(killed.load(std::sync::atomic::Ordering::SeqCst));
        let mut sent = 300;
        if answer.receipt.executor == old {
            // The executor answered in the instant before it died; the next call meets the
            // dead executor for certain.
            answer = a
                .call(cid, &op(1, &[&b.address().0, &u128_le(1)]))
                .await
                .expect("answered after the executor died");
            sent += 1;
        }
        let c = a.chain().contract(cid).await.unwrap();
        assert!(c.epoch >= 1, "the executor changed");
        let new = from_address(a.chain().executor_of(cid).await.unwrap());
        assert_ne!(new, old);
        assert_eq!(answer.receipt.executor, new);
        assert_eq!(balance_of(&a, cid, a.address()).await, 1_000 - sent);
        assert_eq!(balance_of(&b, cid, b.address()).await, sent);
    });
}

#[test]
fn a_silent_watchdog_is_replaced_and_the_new_member_catches_up() {
    let net = devnet(4);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = net
            .client(net.info["user_key"].as_str().unwrap(), 300)
            .await;
        let b = net.another_user().await;
        let cid = funded_escrow(&a, params(3, 60, 5)).await;
        let pool = pool_of(&a, cid).await;
        let silent = pool[1];
        // The watchdog's operator stops its process: it neither acks nor answers on-chain.
        signal(net.pid_of(silent), "-STOP");
        a.call(cid, &op(1, &[&b.address().0, &u128_le(100)]))
            .await
            .expect("answered once the silent watchdog was replaced");
        let now = pool_of(&a, cid).await;
        assert!(!now.contains(&silent), "the silent watchdog left the pool");
        assert_eq!(now.len(), 3, "a fourth enclave took its slot");
        let newcomer = now[1];
        assert!(!pool.contains(&newcomer));
        // The newcomer caught up: make it the executor (kill the current one) and read.
        signal(net.pid_of(now[0]), "-KILL");
        let c = net.client(net.info["user_key"].as_str().unwrap(), 5).await;
        c.call(cid, &op(1, &[&b.address().0, &u128_le(1)]))
            .await
            .expect("the newcomer executes");
        assert_eq!(
            from_address(c.chain().executor_of(cid).await.unwrap()),
            newcomer
        );
        assert_eq!(balance_of(&c, cid, a.address()).await, 899);
    });
}

#[test]
fn a_restarted_watchdog_resumes_and_bad_api_requests_are_refused() {
    let net = devnet(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = net.user().await;
        let b = net.another_user().await;
        let cid = funded_escrow(&a, params(3, 60, 10)).await;
        a.call(cid, &op(1, &[&b.address().0, &u128_le(10)]))
            .await
            .unwrap();

        // Malformed and oversized messages get clear refusals; the node keeps serving.
        let transport = pose_client::transport::Transport::new(Duration::from_secs(10));
        let executor = from_address(a.chain().executor_of(cid).await.unwrap());
        let url = net.info["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| Net::addr(&n["enclave"]) == executor)
            .map(|n| n["url"].as_str().unwrap().to_owned())
            .unwrap();
        let garbage = transport.post_message(&url, b"not a message".to_vec()).await;
        assert!(
            matches!(garbage, Err(pose_client::transport::TransportError::Rejected { ref reason, .. }) if !reason.is_empty()),
            "{garbage:?}"
        );
        let huge = transport.post_message(&url, vec![7u8; 5 << 20]).await;
        assert!(
            matches!(huge, Err(pose_client::transport::TransportError::Rejected { ref reason, .. }) if !reason.is_empty()),
            "{huge:?}"
        );

        // A watchdog's node is killed and restarted from its data directory: its enclave
        // resumes from its sealed state and acknowledges again, so it is not replaced.
        let pool = pool_of(&a, cid).await;
        let watchdog = pool[1];
        let node = net.node_of(watchdog);
        let (_restarted, status) = net.restart_node(watchdog, &[]).await;
        assert_eq!(status["enclave"], node["enclave"], "the same enclave resumed");
        a.call(cid, &op(1, &[&b.address().0, &u128_le(20)]))
            .await
            .expect("answered with the restarted watchdog");
        let now = pool_of(&a, cid).await;
        assert_eq!(now, pool, "nobody was replaced");
        assert_eq!(a.chain().contract(cid).await.unwrap().epoch, 0);
        assert_eq!(balance_of(&b, cid, b.address()).await, 30);
    });
}

/// A node that corrupts every message it relays (the test-only switch) is caught and changes
/// nothing: its peers refuse its state updates and acks, its users refuse its replies, and the
/// contract goes on. As executor it is replaced through the user's challenge; as a watchdog
/// afterwards, its enclave's on-chain answer to the member challenge (which names the state it
/// holds) stands in for the acks its host corrupts.
#[test]
fn a_node_tampering_with_relayed_bytes_is_detected_and_changes_nothing() {
    let net = devnet(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = net.user().await;
        let b = net.another_user().await;
        let cid = funded_escrow(&a, params(3, 30, 10)).await;
        a.call(cid, &op(1, &[&b.address().0, &u128_le(10)]))
            .await
            .unwrap();
        let pool = pool_of(&a, cid).await;
        let tamperer = from_address(a.chain().executor_of(cid).await.unwrap());
        let honest: Vec<Address> = pool.iter().copied().filter(|m| *m != tamperer).collect();
        let mut refused_before = 0;
        for m in &honest {
            refused_before += net.rejected_messages(*m).await;
        }

        let (_tampering, _) = net.restart_node(tamperer, &["--test-tamper-relayed"]).await;
        a.call(cid, &op(1, &[&b.address().0, &u128_le(20)]))
            .await
            .expect("answered despite the tampering executor host");
        let c = a.chain().contract(cid).await.unwrap();
        assert!(c.epoch >= 1, "the tampering executor was replaced");
        let executor = from_address(a.chain().executor_of(cid).await.unwrap());
        assert_ne!(executor, tamperer);
        // Detected: the honest members refused what the tampering host relayed.
        let mut refused = 0;
        for m in &honest {
            refused += net.rejected_messages(*m).await;
        }
        assert!(refused > refused_before, "no corrupted message was refused");
        // Changed nothing: each transfer applied exactly once, the pool kept its members
        // (the tampering member answered its challenge on-chain, which is its ack).
        assert_eq!(balance_of(&b, cid, b.address()).await, 30);
        assert_eq!(balance_of(&a, cid, a.address()).await, 970);
        assert_eq!(pool_of(&a, cid).await, pool);
        // And it stays live with the tampering host as a watchdog.
        a.call(cid, &op(1, &[&b.address().0, &u128_le(5)]))
            .await
            .expect("answered with a tampering watchdog host");
        assert_eq!(balance_of(&b, cid, b.address()).await, 35);
    });
}

/// A host that lies to its enclave about the chain: the executor's node hands its enclave an
/// invented `removeMember` for every watchdog, so the enclave believes it executes alone,
/// commits the next call without any watchdog and signs a receipt for it. That receipt names a
/// chain position the manager never produced, so the client refuses it (and says so), forces
/// the call on-chain, and gets its answer from the next executor; the call is applied exactly
/// once in the history the pool goes on from.
#[test]
fn a_receipt_built_on_invented_chain_transactions_is_refused() {
    let net = devnet(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = net.user().await;
        let b = net.another_user().await;
        let cid = funded_escrow(&a, params(3, 30, 10)).await;
        a.call(cid, &op(1, &[&b.address().0, &u128_le(10)]))
            .await
            .unwrap();
        let forger = from_address(a.chain().executor_of(cid).await.unwrap());
        let (_forging, _) = net
            .restart_node(forger, &["--test-forge-remove-members"])
            .await;
        // The forging host hands over its invented transactions once it caught up.
        let log = net.node_of(forger)["log"].as_str().unwrap().to_owned();
        for _ in 0..200 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("handing the enclave an invented removeMember") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;

        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen_by_client = seen.clone();
        let a_watched = a
            .clone()
            .with_progress(move |p| seen_by_client.lock().unwrap().push(p.clone()));
        let answer = a_watched
            .call(cid, &op(1, &[&b.address().0, &u128_le(20)]))
            .await
            .expect("answered despite the forging executor host");
        let progress = seen.lock().unwrap().clone();
        assert!(
            progress.iter().any(
                |p| matches!(p, Progress::ReceiptRefused { executor, .. } if *executor == forger)
            ),
            "the forging executor's receipt was not refused: {progress:?}"
        );
        assert_ne!(
            answer.receipt.executor, forger,
            "the answer came from the forger"
        );
        assert!(a.chain_position_known(&answer.receipt).await.unwrap());
        // Applied exactly once in the surviving history.
        assert_eq!(balance_of(&b, cid, b.address()).await, 30);
        assert_eq!(balance_of(&a, cid, a.address()).await, 970);
    });
}

/// A node that censors a user (the test-only switch: it drops every off-chain request of the
/// user before its enclave sees it, and tells the user it was accepted) cannot deny the user
/// its call: the user's client forces the request on-chain, the executor's enclave learns it
/// from the chain, executes it and answers with `respond`, and the client takes the answer
/// from the chain (checked like an off-chain receipt). The call applies exactly once.
#[test]
fn a_censored_user_is_answered_through_the_chain() {
    let net = devnet(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = net.user().await;
        let b = net.another_user().await;
        let cid = funded_escrow(&a, params(3, 60, 10)).await;
        let executor = from_address(a.chain().executor_of(cid).await.unwrap());
        let censored = a.address().to_string();
        let (_censoring, _) = net
            .restart_node(executor, &["--test-censor-user", &censored])
            .await;

        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let client = {
            let seen = seen.clone();
            a.clone()
                .with_options(ClientOptions {
                    poll: Duration::from_millis(300),
                    challenge_after: Duration::from_secs(8),
                    give_up_after: Duration::from_secs(120),
                    creation_timeout: Duration::from_secs(120),
                })
                .with_progress(move |p| seen.lock().unwrap().push(p.clone()))
        };
        let answer = client
            .call(cid, &op(1, &[&b.address().0, &u128_le(100)]))
            .await
            .expect("the censored user's call is answered through the chain");
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.iter()
                .any(|p| matches!(p, Progress::AnsweredOnChain { .. })),
            "the answer came from the chain: {seen:?}"
        );
        assert!(
            !seen
                .iter()
                .any(|p| matches!(p, Progress::ExecutorChanged { .. })),
            "the censoring node's enclave answered itself: {seen:?}"
        );
        assert_eq!(answer.receipt.executor, executor);
        assert_eq!(a.chain().contract(cid).await.unwrap().epoch, 0);
        // The transfer's output is empty (token-escrow answers a transfer with nothing).
        assert!(answer.output.is_empty(), "{:?}", answer.output);
        // Applied exactly once (b reads both balances: a's own queries are censored too).
        assert_eq!(balance_of(&b, cid, b.address()).await, 100);
        assert_eq!(balance_of(&b, cid, a.address()).await, 900);
    });
}
