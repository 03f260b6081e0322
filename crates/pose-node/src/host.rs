//! The node's main loop: one closed set of events in ([`HostEvent`]), the enclave's actions out.
//!
//! The loop owns the enclave core and calls it for every event, one at a time, then carries out
//! its actions **in order**: a `Persist` is written to the store before any later `Send` leaves,
//! so the enclave's promises survive a crash. The host never looks inside the bytes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pose_client::transport::Transport;
use pose_types::wire::Message;
use pose_types::Address;
use tokio::sync::mpsc;

use crate::api::Inbound;
use crate::mailbox::Mailboxes;
use crate::metrics::{Metrics, StallLabels};
use crate::store::{NodeStore, StoreError};

/// Messages waiting for one peer node before new ones are dropped (the enclave retransmits).
/// Small on purpose: a peer that falls behind should lose stale retransmissions rather than
/// receive a long backlog of them in order (enough for the pipeline of updates and acks).
pub const OUTBOX_MESSAGES_MAX: usize = 32;

/// Name of the enclave's sealed blob in the store.
pub const SEALED_BLOB: &str = "enclave";

/// What the enclave core is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoreEvent {
    /// Bytes from the network.
    Message(Vec<u8>),
    /// A confirmed manager transaction, encoded for the enclave.
    Chain(Vec<u8>),
    /// Time passed.
    Tick,
}

/// What the enclave core asks the host to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoreAction {
    /// Send bytes to an enclave (pushed to its node) or a user (queued in a mailbox).
    Send {
        /// The recipient.
        to: Address,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Submit a manager transaction with this calldata.
    Submit {
        /// The calldata.
        calldata: Vec<u8>,
    },
    /// Store this sealed blob before anything later happens.
    Persist {
        /// The blob.
        blob: Vec<u8>,
    },
    /// A limit stopped a contract's progress: log it and count it.
    Stalled {
        /// The contract, if one.
        cid: Option<u64>,
        /// The limit's name (`message_bytes`, `sealing`).
        limit: &'static str,
        /// The size that ran into it, in bytes.
        bytes: u64,
        /// The limit, in bytes (0 if unknown).
        max_bytes: u64,
    },
}

/// The enclave as the host drives it (implemented by `pose-enclave`'s enclave).
pub trait Core: Send + 'static {
    /// Why an event was refused (shown to whoever sent it).
    type Rejection: std::fmt::Display;
    /// Handles one event; returns the actions to carry out. The host passes no time: the
    /// enclave reads its TEE's clock.
    fn handle(&mut self, event: CoreEvent) -> Result<Vec<CoreAction>, Self::Rejection>;

    /// Blobs that must be stored in the same commit as every `Persist` (for the software
    /// TEE: its platform state with the monotonic counters the sealed blob was made under).
    fn companions(&self) -> Vec<(&'static str, Vec<u8>)> {
        Vec::new()
    }
}

/// Everything the node's main loop reacts to.
#[derive(Debug)]
pub enum HostEvent {
    /// A message from the API, with a channel for the verdict.
    Inbound(Inbound),
    /// A confirmed manager transaction from the chain follower.
    Chain(Vec<u8>),
    /// The periodic timer.
    Tick,
    /// Peer discovery learnt where an enclave's node is.
    Peer {
        /// The enclave's identity address.
        enclave: Address,
        /// Its node's base URL.
        url: String,
    },
    /// Stop after the current event.
    Shutdown,
}

/// Where chain transactions the enclave asks for go (the chain adapter's submit queue).
pub type Submissions = mpsc::Sender<Vec<u8>>;

/// The node's main loop state.
pub struct Host<C: Core> {
    core: C,
    store: Arc<NodeStore>,
    mailboxes: Arc<Mailboxes>,
    metrics: Arc<Metrics>,
    peers: BTreeMap<Address, String>,
    transport: Transport,
    /// One ordered queue per peer node URL, drained by its own task: messages to a peer leave
    /// in the order the enclave produced them (a member refuses a state update that overtook
    /// its predecessor, and the executor would resend it only after a retransmit period).
    outboxes: BTreeMap<String, mpsc::Sender<Vec<u8>>>,
    submissions: Submissions,
    /// Test only: flip a bit in every relayed message (see `NodeConfig::test_tamper_relayed`).
    tamper_relayed: bool,
    /// Test only: drop every off-chain request of this user and every reply to it (see
    /// `NodeConfig::test_censor_user`).
    censor_user: Option<Address>,
}

/// Why the main loop stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The sealed blob could not be stored: stopping is the only safe choice, since the
    /// enclave may already count on it.
    #[error("cannot persist the enclave's sealed state: {0}; the node stops to keep its promises")]
    Persist(#[from] StoreError),
}

impl<C: Core> Host<C> {
    /// A host for `core`; `peers` maps enclave addresses to their nodes' base URLs.
    pub fn new(
        core: C,
        store: Arc<NodeStore>,
        mailboxes: Arc<Mailboxes>,
        metrics: Arc<Metrics>,
        peers: BTreeMap<Address, String>,
        submissions: Submissions,
    ) -> Self {
        Self {
            core,
            store,
            mailboxes,
            metrics,
            peers,
            transport: Transport::new(Duration::from_secs(10)),
            outboxes: BTreeMap::new(),
            submissions,
            tamper_relayed: false,
            censor_user: None,
        }
    }

    /// Test only: makes this host corrupt every message it relays for its enclave (one bit
    /// flipped in the middle), as a dishonest operator could.
    pub fn tampering(mut self, on: bool) -> Self {
        self.tamper_relayed = on;
        self
    }

    /// Test only: makes this host drop every off-chain request from `user` before its
    /// enclave sees it (answering the sender as if it was accepted) and every message its
    /// enclave sends to `user`, as a censoring operator could.
    pub fn censoring(mut self, user: Option<Address>) -> Self {
        self.censor_user = user;
        self
    }

    /// True if `bytes` is a request of the censored user.
    fn censored(&self, bytes: &[u8]) -> bool {
        let Some(user) = self.censor_user else {
            return false;
        };
        matches!(Message::decode(bytes), Ok(Message::Request(r)) if r.user == user)
    }

    /// Adds or changes the node URL of an enclave.
    pub fn set_peer(&mut self, enclave: Address, url: String) {
        self.peers.insert(enclave, url);
    }

    /// Runs until `Shutdown` or until every sender of `events` is gone.
    pub async fn run(mut self, mut events: mpsc::Receiver<HostEvent>) -> Result<(), HostError> {
        while let Some(event) = events.recv().await {
            match event {
                HostEvent::Shutdown => break,
                HostEvent::Inbound(inbound) if self.censored(&inbound.bytes) => {
                    tracing::debug!("test_censor_user: a request of the censored user dropped");
                    let _ = inbound.done.send(Ok(()));
                }
                HostEvent::Inbound(inbound) => {
                    let verdict = self.step(CoreEvent::Message(inbound.bytes))?;
                    let _ = inbound.done.send(verdict);
                }
                HostEvent::Chain(bytes) => {
                    if let Err(reason) = self.step(CoreEvent::Chain(bytes))? {
                        tracing::warn!(%reason, "enclave refused a chain event");
                    }
                }
                HostEvent::Peer { enclave, url } => {
                    if self.peers.get(&enclave) != Some(&url) {
                        tracing::info!(%enclave, %url, "peer enclave located");
                        self.set_peer(enclave, url);
                    }
                }
                HostEvent::Tick => {
                    if let Err(reason) = self.step(CoreEvent::Tick)? {
                        tracing::warn!(%reason, "enclave refused a tick");
                    }
                }
            }
        }
        Ok(())
    }

    /// One event through the core; the outer error stops the node, the inner one is the
    /// enclave's rejection.
    fn step(&mut self, event: CoreEvent) -> Result<Result<(), String>, HostError> {
        let actions = match self.core.handle(event) {
            Ok(actions) => actions,
            Err(rejection) => return Ok(Err(rejection.to_string())),
        };
        for action in actions {
            self.carry_out(action)?;
        }
        Ok(Ok(()))
    }

    fn carry_out(&mut self, action: CoreAction) -> Result<(), HostError> {
        match action {
            CoreAction::Persist { blob } => {
                let companions = self.core.companions();
                let mut blobs: Vec<(&str, &[u8])> = vec![(SEALED_BLOB, blob.as_slice())];
                blobs.extend(companions.iter().map(|(n, b)| (*n, b.as_slice())));
                self.store.put_blobs(&blobs)?;
            }
            CoreAction::Send { to, mut bytes } => {
                if self.tamper_relayed && !bytes.is_empty() {
                    let middle = bytes.len() / 2;
                    bytes[middle] ^= 0x01;
                }
                self.relay(to, bytes);
            }
            CoreAction::Stalled {
                cid,
                limit,
                bytes,
                max_bytes,
            } => {
                self.metrics
                    .stalls
                    .get_or_create(&StallLabels { limit })
                    .inc();
                let cid =
                    cid.map_or_else(|| "every contract".to_string(), |c| format!("contract {c}"));
                tracing::warn!(
                    limit,
                    bytes,
                    max_bytes,
                    "{cid} is stalled by the {limit} limit: {bytes} bytes against a limit of \
                     {max_bytes}; see docs/protocol.md 6.2a"
                );
            }
            CoreAction::Submit { calldata } => {
                self.metrics.chain_submissions.inc();
                if self.submissions.try_send(calldata).is_err() {
                    tracing::warn!("chain submission queue full; the enclave will resubmit");
                }
            }
        }
        Ok(())
    }

    /// Pushes bytes to the node of enclave `to`, or queues them for user `to`.
    fn relay(&mut self, to: Address, bytes: Vec<u8>) {
        if self.censor_user == Some(to) {
            tracing::debug!("test_censor_user: a message to the censored user dropped");
            return;
        }
        match self.peers.get(&to) {
            Some(url) => {
                self.metrics.peer_messages_sent.inc();
                let url = url.clone();
                let outbox = match self.outboxes.get(&url) {
                    Some(tx) if !tx.is_closed() => tx.clone(),
                    _ => {
                        let tx = spawn_outbox(self.transport.clone(), url.clone());
                        self.outboxes.insert(url.clone(), tx.clone());
                        tx
                    }
                };
                // A full queue means the peer is not keeping up: drop, the enclave retransmits.
                if outbox.try_send(bytes).is_err() {
                    tracing::debug!(%url, "peer outbox full; message dropped");
                }
            }
            None => {
                self.metrics.user_messages_queued.inc();
                self.mailboxes.deliver(to, bytes);
            }
        }
    }
}

/// Starts the task that posts `url`'s messages one after the other; returns its queue.
fn spawn_outbox(transport: Transport, url: String) -> mpsc::Sender<Vec<u8>> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(OUTBOX_MESSAGES_MAX);
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            // Lost messages are the enclave's business: it retransmits.
            if let Err(e) = transport.post_message(&url, bytes).await {
                tracing::debug!(%url, error = %e, "peer message not delivered");
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    /// A core that persists, then answers the sender's address (first 20 bytes) with an echo.
    struct Echo;

    impl Core for Echo {
        type Rejection = String;
        fn handle(&mut self, event: CoreEvent) -> Result<Vec<CoreAction>, String> {
            match event {
                CoreEvent::Message(bytes) if bytes.len() >= 20 => {
                    let to = Address(bytes[..20].try_into().unwrap());
                    Ok(vec![
                        CoreAction::Persist {
                            blob: bytes.clone(),
                        },
                        CoreAction::Send {
                            to,
                            bytes: bytes[20..].to_vec(),
                        },
                        CoreAction::Submit {
                            calldata: vec![1, 2, 3],
                        },
                    ])
                }
                CoreEvent::Message(_) => Err("too short".to_owned()),
                _ => Ok(vec![]),
            }
        }
    }

    #[tokio::test]
    async fn actions_are_carried_out_in_order_and_rejections_reach_the_sender() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(NodeStore::open(&dir.path().join("node.redb")).unwrap());
        let mailboxes = Arc::new(Mailboxes::default());
        let (sub_tx, mut sub_rx) = mpsc::channel(8);
        let host = Host::new(
            Echo,
            store.clone(),
            mailboxes.clone(),
            Arc::new(Metrics::default()),
            BTreeMap::new(),
            sub_tx,
        );
        let (events_tx, events_rx) = mpsc::channel(8);
        let running = tokio::spawn(host.run(events_rx));

        let user = Address([9; 20]);
        let mut message = user.0.to_vec();
        message.extend_from_slice(b"hello");
        let (done, verdict) = oneshot::channel();
        events_tx
            .send(HostEvent::Inbound(Inbound {
                bytes: message.clone(),
                done,
            }))
            .await
            .unwrap();
        assert_eq!(verdict.await.unwrap(), Ok(()));
        assert_eq!(store.get_blob(SEALED_BLOB).unwrap(), Some(message));
        assert_eq!(
            mailboxes.fetch(user, Duration::from_secs(1)).await,
            vec![b"hello".to_vec()]
        );
        assert_eq!(sub_rx.recv().await, Some(vec![1, 2, 3]));

        let (done, verdict) = oneshot::channel();
        events_tx
            .send(HostEvent::Inbound(Inbound {
                bytes: vec![1],
                done,
            }))
            .await
            .unwrap();
        assert_eq!(verdict.await.unwrap(), Err("too short".to_owned()));

        events_tx.send(HostEvent::Shutdown).await.unwrap();
        running.await.unwrap().unwrap();
    }

    /// A core that sends each message's bytes (after the first 20, the peer) to that peer.
    struct Forward;

    impl Core for Forward {
        type Rejection = String;
        fn handle(&mut self, event: CoreEvent) -> Result<Vec<CoreAction>, String> {
            match event {
                CoreEvent::Message(bytes) => Ok(vec![CoreAction::Send {
                    to: Address(bytes[..20].try_into().unwrap()),
                    bytes: bytes[20..].to_vec(),
                }]),
                _ => Ok(vec![]),
            }
        }
    }

    #[tokio::test]
    async fn messages_to_one_peer_arrive_in_the_order_the_enclave_sent_them() {
        use axum::routing::post;
        // The peer answers early messages slowest, so concurrent posts would finish reversed.
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let app = axum::Router::new().route(
            pose_client::transport::ROUTE_MESSAGES,
            post(move |body: axum::body::Bytes| {
                let seen = recorder.clone();
                async move {
                    let i = body[0];
                    tokio::time::sleep(Duration::from_millis(u64::from(20 - i) * 3)).await;
                    seen.lock().unwrap().push(i);
                    axum::http::StatusCode::ACCEPTED
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(NodeStore::open(&dir.path().join("node.redb")).unwrap());
        let (sub_tx, _sub_rx) = mpsc::channel(8);
        let peer = Address([7; 20]);
        let host = Host::new(
            Forward,
            store,
            Arc::new(Mailboxes::default()),
            Arc::new(Metrics::default()),
            BTreeMap::from([(peer, url)]),
            sub_tx,
        );
        let (events_tx, events_rx) = mpsc::channel(32);
        let running = tokio::spawn(host.run(events_rx));
        for i in 0..20u8 {
            let mut message = peer.0.to_vec();
            message.push(i);
            let (done, _verdict) = oneshot::channel();
            events_tx
                .send(HostEvent::Inbound(Inbound {
                    bytes: message,
                    done,
                }))
                .await
                .unwrap();
        }
        for _ in 0..200 {
            if seen.lock().unwrap().len() == 20 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(*seen.lock().unwrap(), (0..20u8).collect::<Vec<_>>());
        events_tx.send(HostEvent::Shutdown).await.unwrap();
        running.await.unwrap().unwrap();
    }
}
