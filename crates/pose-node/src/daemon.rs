//! The operator daemon put together: store, enclave, chain, API, timers and peers around the
//! host's main loop. [`run`] returns when the node was asked to stop (SIGINT or SIGTERM) or
//! when a part of it failed.
//!
//! Tasks and what they send into the main loop ([`HostEvent`]):
//! - the API server: messages (`Inbound`);
//! - the chain follower: the manager's confirmed events, turned into the enclave's chain
//!   transactions by [`ChainFeed`] (`Chain`). It reads from the configured start block (the
//!   manager's deployment) at every start: the feed needs every registration to know pool
//!   members' attestations, and the enclave refuses what it already consumed (`ChainReplay`),
//!   so reading again is harmless. The same events feed the explorer ([`crate::explorer`]);
//! - the timer: `Tick` every [`pose_enclave::TICK_MS`];
//! - peer discovery: `Peer` for every configured peer node whose enclave address it learnt;
//! - signals: `Shutdown`.
//!
//! The submitter takes the enclave's calldata from the main loop and sends it, unchanged, to
//! the manager with the operator's key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use pose_chain::alloy::network::TransactionBuilder;
use pose_chain::alloy::primitives::{Bytes, B256};
use pose_chain::alloy::rpc::types::TransactionRequest;
use pose_chain::{
    from_address, to_address, to_b256, ChainConfig, EventFollower, ManagerClient, PoseManager,
};
use pose_client::transport::Transport;
use pose_enclave::Deployment;

use crate::chain_feed::ChainFeed;
use crate::forge::Forger;
use pose_tee::Tee;
use pose_types::Address;
use tokio::sync::{mpsc, watch};

use crate::api::{self, ApiState};
use crate::config::NodeConfig;
use crate::enclave_core::EnclaveCore;
use crate::explorer::Explorer;
use crate::host::{Host, HostEvent};
use crate::mailbox::Mailboxes;
use crate::metrics::Metrics;
use crate::store::NodeStore;

/// Capacity of the main loop's event queue.
const EVENTS_QUEUE_MAX: usize = 1_024;
/// Capacity of the API's inbound queue (a full queue answers 503).
const INBOUND_QUEUE_MAX: usize = 256;
/// Capacity of the submission queue (a full queue drops; the enclave resubmits).
const SUBMISSIONS_QUEUE_MAX: usize = 64;
/// How often peer discovery asks peers it has not located yet, in milliseconds.
const PEER_RETRY_MS: u64 = 1_000;
/// How often peer discovery re-asks located peers (they may have restarted), in milliseconds.
const PEER_REFRESH_MS: u64 = 30_000;
/// How many peer nodes discovery asks at once.
const PEER_ASKS_AT_ONCE: usize = 32;
/// How often peer discovery reads the endpoints published on chain since its last look.
const ENDPOINT_SCAN_MS: u64 = 5_000;
/// How long to wait between registration attempts when the chain refuses or is down.
const REGISTER_RETRY_MS: u64 = 2_000;

/// Why the node stopped with an error. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The enclave could not start.
    #[error(transparent)]
    Start(#[from] crate::enclave_core::StartError),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The chain could not be reached or refused the node.
    #[error("chain: {0}")]
    Chain(#[from] pose_chain::ChainError),
    /// The API could not listen.
    #[error("cannot listen on {addr}: {source} (is another node using this port?)")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The main loop stopped with an error.
    #[error(transparent)]
    Host(#[from] crate::host::HostError),
    /// A task failed unexpectedly.
    #[error("internal task failed: {0}")]
    Task(String),
}

fn hex32(text: &str) -> Result<[u8; 32], NodeError> {
    let raw = text.strip_prefix("0x").unwrap_or(text);
    let mut out = [0u8; 32];
    hex::decode_to_slice(raw, &mut out)
        .map_err(|e| NodeError::Config(format!("not 32 bytes of hex: {e}")))?;
    Ok(out)
}

/// Runs the node until SIGINT/SIGTERM (then stops cleanly) or an error.
pub async fn run(config: NodeConfig) -> Result<(), NodeError> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        let _ = shutdown_tx.send(true);
    });
    run_until(config, shutdown_rx).await
}

/// Returns on Ctrl-C (SIGINT) or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the node until `shutdown` turns true or an error.
pub async fn run_until(
    config: NodeConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        NodeError::Config(format!(
            "cannot create data_dir {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let store = Arc::new(NodeStore::open(&config.data_dir.join("node.redb"))?);

    // Chain first: the enclave is bound to its chain id and manager.
    let operator_key = match (&config.operator_key, &config.operator_key_file) {
        (Some(k), _) => k.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| {
                NodeError::Config(format!(
                    "cannot read operator_key_file {}: {e}",
                    path.display()
                ))
            })?
            .trim()
            .to_owned(),
        (None, None) => return Err(NodeError::Config("no operator key".into())),
    };
    let signer = pose_chain::parse_private_key(&operator_key)?;
    let manager_address: pose_chain::alloy::primitives::Address = config
        .manager
        .parse()
        .map_err(|e| NodeError::Config(format!("manager address: {e}")))?;
    let chain_config =
        ChainConfig::new(config.rpc_url.clone()).with_confirmations(config.confirmations);
    let client = ManagerClient::connect(chain_config, signer, manager_address).await?;
    let domain = client.domain();
    let deployment = Deployment {
        chain_id: domain.chain_id,
        manager: domain.manager,
    };

    let vendor_key = config.vendor_key.as_deref().map(hex32).transpose()?;
    let core = EnclaveCore::start(&store, vendor_key.as_ref(), deployment)?;
    let tee = core.enclave().platform().tee();
    let enclave = tee.address();
    let measurement = tee.measurement();
    let attestation = tee
        .attest(&domain)
        .map_err(|e| NodeError::Task(format!("the TEE refused to attest: {e}")))?;
    tracing::info!(%enclave, %measurement, operator = %from_address(client.sender()), "enclave started");

    let status = Arc::new(RwLock::new(serde_json::json!({})));
    let set_status = |registered: bool, block: u64| {
        serde_json::json!({
            "enclave": enclave.to_string(),
            "operator": from_address(client.sender()).to_string(),
            "measurement": measurement.to_string(),
            "enc_pubkey": format!("0x{}", hex::encode(attestation.enc_pubkey.0)),
            "vendor_signature": format!("0x{}", hex::encode(attestation.vendor_signature.0)),
            "chain_id": domain.chain_id,
            "manager": domain.manager.to_string(),
            "registered": registered,
            "chain_block": block,
        })
    };
    *status.write().unwrap_or_else(|p| p.into_inner()) = set_status(false, 0);

    // The API listens before registration, so operators and tests can watch progress.
    let mailboxes = Arc::new(Mailboxes::default());
    let metrics = Arc::new(Metrics::default());
    let (inbound_tx, mut inbound_rx) = mpsc::channel(INBOUND_QUEUE_MAX);
    let explorer = Arc::new(Mutex::new(Explorer::new()));
    let router = api::router(ApiState {
        inbound: inbound_tx,
        mailboxes: mailboxes.clone(),
        metrics: metrics.clone(),
        status: status.clone(),
        enclave,
        fetch_times: Default::default(),
        explorer: explorer.clone(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| NodeError::Listen {
            addr: config.listen,
            source,
        })?;
    let listen = listener.local_addr().unwrap_or(config.listen);
    tracing::info!(%listen, "API listening");
    let mut api_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = api_shutdown.wait_for(|s| *s).await;
            })
            .await
    });

    // Registration: once per enclave; a restarted node finds it done.
    let registered = loop {
        match register_if_needed(&client, enclave, &attestation).await {
            Ok(block) => break block,
            Err(e) => {
                tracing::warn!(error = %e, "registration failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(REGISTER_RETRY_MS)) => {}
                    _ = shutdown.wait_for(|s| *s) => {
                        server.abort();
                        return Ok(());
                    }
                }
            }
        }
    };
    *status.write().unwrap_or_else(|p| p.into_inner()) = set_status(true, registered);
    // Before the submitter starts: submissions from one account must not overlap.
    if let Some(endpoint) = &config.endpoint {
        publish_endpoint(&client, enclave, endpoint).await;
    }

    let (events_tx, events_rx) = mpsc::channel(EVENTS_QUEUE_MAX);
    let (sub_tx, sub_rx) = mpsc::channel(SUBMISSIONS_QUEUE_MAX);
    let censor_user = config
        .test_censor_user
        .as_deref()
        .and_then(api::parse_address);
    let host = Host::new(
        core,
        store.clone(),
        mailboxes,
        metrics.clone(),
        BTreeMap::new(),
        sub_tx,
    )
    .tampering(config.test_tamper_relayed)
    .censoring(censor_user);
    if config.test_tamper_relayed {
        tracing::warn!("test_tamper_relayed is set: this node corrupts every message it relays");
    }
    if let Some(user) = censor_user {
        tracing::warn!(%user, "test_censor_user is set: this node drops the user's requests");
    }
    let main_loop = tokio::spawn(host.run(events_rx));

    let mut tasks = Vec::new();
    // API messages into the main loop.
    {
        let events = events_tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(inbound) = inbound_rx.recv().await {
                if events.send(HostEvent::Inbound(inbound)).await.is_err() {
                    break;
                }
            }
        }));
    }
    // Timer.
    {
        let events = events_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(pose_enclave::TICK_MS));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if events.send(HostEvent::Tick).await.is_err() {
                    break;
                }
            }
        }));
    }
    // Peers.
    tasks.push(tokio::spawn(discover_peers(
        config.peers.clone(),
        OnChainEndpoints {
            client: client.clone(),
            next_block: config.start_block,
            own: enclave,
        },
        events_tx.clone(),
        explorer.clone(),
    )));
    // Submitter.
    tasks.push(tokio::spawn(submit_loop(client.clone(), sub_rx)));
    // Chain follower.
    {
        let store = store.clone();
        let client = client.clone();
        let status = status.clone();
        let poll = Duration::from_millis(config.chain_poll_ms);
        let start = config.start_block;
        let base = set_status(true, 0);
        let events = events_tx.clone();
        let forge = config.test_forge_remove_members.then_some(enclave);
        if forge.is_some() {
            tracing::warn!(
                "test_forge_remove_members is set: this node hands its enclave invented chain transactions"
            );
        }
        tasks.push(tokio::spawn(async move {
            follow_chain(
                client,
                store,
                start,
                poll,
                metrics,
                events,
                forge,
                explorer,
                move |block| {
                    let mut doc = base.clone();
                    doc["chain_block"] = serde_json::json!(block);
                    *status.write().unwrap_or_else(|p| p.into_inner()) = doc;
                },
            )
            .await
        }));
    }

    let _ = shutdown.wait_for(|s| *s).await;
    tracing::info!("stopping");
    let _ = events_tx.send(HostEvent::Shutdown).await;
    for t in &tasks {
        t.abort();
    }
    let result = main_loop
        .await
        .map_err(|e| NodeError::Task(e.to_string()))?;
    let _ = server.await;
    result?;
    tracing::info!("stopped");
    Ok(())
}

/// Registers `enclave` unless the manager already knows it; returns the current block.
async fn register_if_needed(
    client: &ManagerClient,
    enclave: Address,
    attestation: &pose_tee::Attestation,
) -> Result<u64, pose_chain::ChainError> {
    let known = client
        .read(&PoseManager::enclavesCall(to_address(enclave)))
        .await?;
    if known.operator.is_zero() {
        tracing::info!(%enclave, "registering the enclave with the manager");
        client
            .register_enclave(
                to_b256(attestation.measurement),
                to_address(enclave),
                B256::from(attestation.enc_pubkey.0),
                Bytes::from(attestation.vendor_signature.0.to_vec()),
            )
            .await?;
        tracing::info!(%enclave, "enclave registered");
    } else {
        tracing::info!(%enclave, operator = %from_address(known.operator), "enclave already registered");
    }
    client.block_number().await
}

/// Publishes `endpoint` for `enclave` unless the manager already lists it. A failure is
/// logged and the node goes on (peers listed in `peers` still find it).
async fn publish_endpoint(client: &ManagerClient, enclave: Address, endpoint: &str) {
    let enclave = to_address(enclave);
    match client.endpoint_of(enclave).await {
        Ok(known) if known == endpoint => {
            tracing::info!(%endpoint, "endpoint already published");
            return;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the published endpoint"),
    }
    match client.set_endpoint(enclave, endpoint).await {
        Ok(_) => tracing::info!(%endpoint, "endpoint published"),
        Err(e) => tracing::warn!(error = %e, %endpoint, "endpoint not published"),
    }
}

/// Where peer discovery reads the endpoints operators published on chain.
struct OnChainEndpoints {
    client: ManagerClient,
    /// The first block not read yet.
    next_block: u64,
    /// This node's enclave (its own endpoint is not a peer).
    own: Address,
}

impl OnChainEndpoints {
    /// Adds the endpoints published since the last call to `peers`.
    async fn extend(&mut self, peers: &mut Vec<String>) {
        let Ok(head) = self.client.block_number().await else {
            return;
        };
        if head < self.next_block {
            return;
        }
        match self.client.endpoints_between(self.next_block, head).await {
            Ok(found) => {
                for (enclave, url) in found {
                    if from_address(enclave) != self.own
                        && url.starts_with("http://")
                        && !peers.contains(&url)
                    {
                        tracing::info!(%url, enclave = %from_address(enclave), "peer found on chain");
                        peers.push(url);
                    }
                }
                self.next_block = head + 1;
            }
            Err(e) => tracing::warn!(error = %e, "cannot read published endpoints"),
        }
    }
}

/// Asks every peer node (configured, or published on chain) for its enclave address and tells
/// the main loop and the explorer. A published endpoint is a hint: the node at it is asked which enclave it
/// hosts, and a lying one can only misroute signed messages.
async fn discover_peers(
    mut peers: Vec<String>,
    mut on_chain: OnChainEndpoints,
    events: mpsc::Sender<HostEvent>,
    explorer: Arc<Mutex<Explorer>>,
) {
    let transport = Transport::new(Duration::from_secs(5));
    let mut located: BTreeMap<String, Address> = BTreeMap::new();
    let mut last_scan: Option<tokio::time::Instant> = None;
    let mut last_refresh = tokio::time::Instant::now();
    loop {
        if last_scan.is_none_or(|t| t.elapsed() >= Duration::from_millis(ENDPOINT_SCAN_MS)) {
            on_chain.extend(&mut peers).await;
            last_scan = Some(tokio::time::Instant::now());
        }
        let refresh = last_refresh.elapsed() >= Duration::from_millis(PEER_REFRESH_MS);
        if refresh {
            last_refresh = tokio::time::Instant::now();
        }
        let to_ask: Vec<String> = peers
            .iter()
            .filter(|url| refresh || !located.contains_key(*url))
            .cloned()
            .collect();
        for (url, enclave) in ask_enclaves(&transport, to_ask).await {
            if located.get(&url) != Some(&enclave) {
                located.insert(url.clone(), enclave);
                explorer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .set_node(enclave, url.clone());
                let peer = HostEvent::Peer { enclave, url };
                if events.send(peer).await.is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(PEER_RETRY_MS)).await;
    }
}

/// Asks each node at `urls` which enclave it hosts, up to [`PEER_ASKS_AT_ONCE`] at a time
/// (a node that never answers, e.g. at an endpoint published to slow discovery down, then
/// costs one transport timeout shared with the others, not one of its own); returns those
/// that answered, in `urls` order.
async fn ask_enclaves(transport: &Transport, urls: Vec<String>) -> Vec<(String, Address)> {
    let mut out = Vec::new();
    for chunk in urls.chunks(PEER_ASKS_AT_ONCE) {
        let mut asks = tokio::task::JoinSet::new();
        for (i, url) in chunk.iter().enumerate() {
            let transport = transport.clone();
            let url = url.clone();
            asks.spawn(async move {
                let status = transport.status(&url).await.ok()?;
                let enclave = status["enclave"].as_str().and_then(api::parse_address)?;
                Some((i, url, enclave))
            });
        }
        let mut answered = Vec::new();
        while let Some(joined) = asks.join_next().await {
            if let Ok(Some(found)) = joined {
                answered.push(found);
            }
        }
        answered.sort_by_key(|(i, _, _)| *i);
        out.extend(answered.into_iter().map(|(_, url, enclave)| (url, enclave)));
    }
    out
}

/// Sends each calldata the enclave produced to the manager, unchanged, with the operator key.
async fn submit_loop(client: ManagerClient, mut calldata: mpsc::Receiver<Vec<u8>>) {
    while let Some(data) = calldata.recv().await {
        let tx = TransactionRequest::default()
            .with_to(client.manager())
            .with_input(Bytes::from(data));
        match client.submit(tx).await {
            Ok(receipt) => {
                tracing::info!(tx = %receipt.transaction_hash, "enclave transaction included")
            }
            // The enclave resubmits what it does not see on-chain.
            Err(e) => tracing::warn!(error = %e, "enclave transaction not included"),
        }
    }
}

/// Follows the manager's confirmed events from `start_block` on and hands the enclave every
/// chain transaction they hold, in order. `forge_for` is set only by the test-only forging
/// switch (the node's own enclave address).
#[allow(clippy::too_many_arguments)]
async fn follow_chain(
    client: ManagerClient,
    store: Arc<NodeStore>,
    start_block: u64,
    poll: Duration,
    metrics: Arc<Metrics>,
    events: mpsc::Sender<HostEvent>,
    forge_for: Option<Address>,
    explorer: Arc<Mutex<Explorer>>,
    on_block: impl Fn(u64),
) {
    let mut follower = EventFollower::from_block(start_block);
    let mut feed = ChainFeed::new();
    let mut forger = forge_for.map(Forger::new);
    loop {
        match follower.poll(&client).await {
            Ok(batch) => {
                for e in &batch {
                    tracing::debug!(block = e.block_number, event = ?event_name(&e.event), "manager event");
                }
                match feed.ingest(&batch) {
                    Ok(txs) => {
                        // A poll that brings nothing new means the feed reached the chain's tip.
                        let caught_up = txs.is_empty();
                        let forged = match forger.as_mut() {
                            Some(f) => f.forge(&txs, caught_up, &mut feed),
                            None => Vec::new(),
                        };
                        for tx in txs.into_iter().chain(forged) {
                            metrics.chain_events.inc();
                            if events.send(HostEvent::Chain(tx.encode())).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot hand chain events to the enclave")
                    }
                }
                let next = follower.next_block();
                explorer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .ingest(&batch, next.saturating_sub(1));
                if let Err(e) = store.set_cursor("manager", next) {
                    tracing::error!(error = %e, "cannot store the chain position");
                }
                if let Ok(head) = client.block_number().await {
                    metrics
                        .chain_lag_blocks
                        .set(i64::try_from((head + 1).saturating_sub(next)).unwrap_or(i64::MAX));
                }
                on_block(next.saturating_sub(1));
            }
            Err(e) => tracing::warn!(error = %e, "chain poll failed; retrying"),
        }
        tokio::time::sleep(poll).await;
    }
}

fn event_name(e: &PoseManager::PoseManagerEvents) -> String {
    let text = format!("{e:?}");
    text.split(['(', ' ', '{']).next().unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes that never answer (a listener that never accepts) cost each ask the whole
    /// transport timeout; asked together, they cost one timeout, not one each, and the node
    /// that answers is found in the same round.
    #[tokio::test]
    async fn silent_endpoints_cost_one_timeout_together_not_one_each() {
        let mut silent = Vec::new();
        let mut urls = Vec::new();
        for _ in 0..4 {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            urls.push(format!("http://{}", l.local_addr().unwrap()));
            silent.push(l);
        }
        let enclave = Address([0x11; 20]);
        let router = axum::Router::new().route(
            "/v1/status",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({ "enclave": format!("0x{}", "11".repeat(20)) }))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        urls.insert(2, live.clone());

        let timeout = Duration::from_secs(2);
        let start = tokio::time::Instant::now();
        let found = ask_enclaves(&Transport::new(timeout), urls).await;
        let took = start.elapsed();
        assert_eq!(found, vec![(live, enclave)]);
        assert!(
            took < timeout * 2,
            "4 silent nodes took {took:?} with a {timeout:?} timeout"
        );
        drop(silent);
    }
}
