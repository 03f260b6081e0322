//! Using POSE contracts from a user's side: create and deploy, call and query, deposit,
//! withdraw (a contract pays out through its executor), challenge, and follow executor changes.
//!
//! The client trusts the chain and its own key, nothing else. Before it encrypts an input to a
//! contract it checks that every pool member is an active enclave with a trusted measurement
//! registered under the vendor the manager trusts; every receipt must be signed by a pool
//! member over the request's own digest. Requests are idempotent by `(user, nonce)`: the client
//! resends the same signed request until it gets the receipt, to whichever enclave executes
//! the contract then. If no receipt arrives within [`ClientOptions::challenge_after`], it forces
//! the request on-chain (`challenge`) and, once the executor's deadline passed, moves the
//! executor on (`timeoutChallenge`), so the contract stays live while one pool member answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pose_chain::alloy::primitives::{Bytes, B256, U256};
use pose_chain::{from_address, from_b256, to_address, ChainError, ManagerClient, PoseManager};
use pose_crypto::aead::seal_to;
use pose_crypto::{AeadKey, OsRng, RngCore, SigningKey};
use pose_types::codec::Encode;
use pose_types::{Address, ContractId, EncPublicKey, Hash32, SignatureBytes};

use crate::transport::{Transport, TransportError};
use crate::wire::{Deploy, Message, Reply, Request, RequestKind, SealedInput};

/// Phases of a contract on the manager (docs/protocol.md section 5).
pub mod phase {
    /// Created, waiting for every member's acceptance.
    pub const CREATION: u8 = 1;
    /// Live.
    pub const EXECUTING: u8 = 2;
    /// Live, with at least one user challenge open.
    pub const CHALLENGE_EXECUTOR: u8 = 3;
    /// Every member failed; coins are locked.
    pub const CRASHED: u8 = 4;
    /// Terminated.
    pub const TERMINATED: u8 = 5;
}

/// Why a client operation failed, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The chain refused or could not be reached.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A node could not be reached or refused a message.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// No node address is known for an enclave of the pool.
    #[error(
        "no node is known for enclave {0}; add it to the node directory (devnet.json lists them)"
    )]
    UnknownNode(Address),
    /// A pool member is not an active enclave with a trusted measurement.
    #[error("pool member {member} is not trusted: {why}; do not send it inputs")]
    UntrustedMember {
        /// The member.
        member: Address,
        /// Why.
        why: String,
    },
    /// The manager trusts another vendor than this client.
    #[error("the manager trusts vendor {got}, this client trusts {expected}")]
    WrongVendor {
        /// The client's vendor.
        expected: Address,
        /// The manager's vendor.
        got: Address,
    },
    /// The contract is not live.
    #[error("contract {cid:?} is in phase {phase}, not live; {hint}")]
    NotLive {
        /// The contract.
        cid: ContractId,
        /// Its phase number.
        phase: u8,
        /// What to do.
        hint: &'static str,
    },
    /// The contract answered with an error (the contract's own message).
    #[error("the contract refused the input: {0}")]
    Refused(String),
    /// Nothing arrived in time.
    #[error("no {what} within {secs} s; check the nodes (`pose status`) and retry")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// How long.
        secs: u64,
    },
    /// Every receipt that arrived was built on a chain position the manager never produced,
    /// and no answer came through the chain in time.
    #[error(
        "no valid receipt within {secs} s: executor {executor}'s receipt names chain position \
         {chain_pos} (txHash {tx_hash}), which the manager never produced, so its host showed \
         its enclave invented chain transactions and the state behind the receipt may be held \
         by no other pool member; the request was forced on-chain, retry to let the next \
         executor answer it"
    )]
    ForgedChainPosition {
        /// The executor that signed the refused receipt.
        executor: Address,
        /// The chain position the receipt named.
        chain_pos: u64,
        /// The `txHash` the receipt named.
        tx_hash: Hash32,
        /// How long the client waited.
        secs: u64,
    },
    /// The code is not what the contract was created with.
    #[error("invalid input: {0}")]
    Invalid(String),
}

/// Timing of a client.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long one mailbox poll waits at a node.
    pub poll: Duration,
    /// How long to wait for a receipt before forcing the request on-chain.
    pub challenge_after: Duration,
    /// How long to wait for a receipt at all (including executor changes).
    pub give_up_after: Duration,
    /// How long to wait for a deployment to complete (all members accepted).
    pub creation_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(500),
            challenge_after: Duration::from_secs(10),
            give_up_after: Duration::from_secs(300),
            creation_timeout: Duration::from_secs(120),
        }
    }
}

/// What the client reports while it waits (for progress output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A transaction is on its way to the chain.
    Submitting(&'static str),
    /// The request was sent to the executor at a node.
    Sent {
        /// The executor.
        executor: Address,
        /// Its node.
        url: String,
    },
    /// No receipt in time: the request was forced on-chain.
    Challenged {
        /// The challenge id.
        challenge_id: u64,
    },
    /// The executor answered the challenge on-chain, and the answer is the call's.
    AnsweredOnChain {
        /// The challenge id.
        challenge_id: u64,
    },
    /// The executor's deadline passed: the next pool member executes now.
    ExecutorChanged {
        /// The new epoch.
        epoch: u64,
        /// The new executor.
        executor: Address,
    },
    /// Waiting for the pool to accept a deployment.
    WaitingForCreation,
    /// A correctly signed receipt was refused: it names a chain position the manager never
    /// produced (the executor's host invented chain transactions).
    ReceiptRefused {
        /// The executor that signed it.
        executor: Address,
        /// The chain position it named.
        chain_pos: u64,
    },
}

/// A verified answer of the contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The contract's output.
    pub output: Vec<u8>,
    /// The receipt the executor signed.
    pub receipt: Reply,
}

/// A user of POSE contracts: a key on the chain (which also signs requests), the nodes of the
/// enclaves, and the trust anchors (vendor, measurements).
#[derive(Clone)]
pub struct PoseClient {
    chain: ManagerClient,
    user: Arc<SigningKey>,
    nodes: BTreeMap<Address, String>,
    transport: Transport,
    vendor: Address,
    measurements: Vec<Hash32>,
    options: ClientOptions,
    progress: Arc<dyn Fn(&Progress) + Send + Sync>,
    /// Per contract, `txHash` values the manager confirmed it produced. A chain position
    /// stays known once produced, so each is asked once; the set grows only with the chain
    /// positions receipts name (about one per chain transaction of the contract).
    known_positions:
        Arc<std::sync::Mutex<BTreeMap<ContractId, std::collections::BTreeSet<Hash32>>>>,
}

impl std::fmt::Debug for PoseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoseClient")
            .field("user", &self.user.address())
            .field("manager", &self.chain.manager())
            .field("nodes", &self.nodes)
            .finish()
    }
}

impl PoseClient {
    /// A client for `user` (the same key as `chain`'s signer) that trusts enclaves attested by
    /// `vendor` running one of `measurements`; `nodes` maps enclave addresses to node URLs.
    pub fn new(
        chain: ManagerClient,
        user: SigningKey,
        nodes: BTreeMap<Address, String>,
        vendor: Address,
        measurements: Vec<Hash32>,
    ) -> Self {
        Self {
            chain,
            user: Arc::new(user),
            nodes,
            transport: Transport::new(Duration::from_secs(30)),
            vendor,
            measurements,
            options: ClientOptions::default(),
            progress: Arc::new(|_| {}),
            known_positions: Arc::default(),
        }
    }

    /// The same client with other timing.
    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// The same client, reporting progress to `f`.
    pub fn with_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Arc::new(f);
        self
    }

    /// The user's address.
    pub fn address(&self) -> Address {
        self.user.address()
    }

    /// The chain client.
    pub fn chain(&self) -> &ManagerClient {
        &self.chain
    }

    fn report(&self, p: Progress) {
        (self.progress)(&p);
    }

    fn url_of(&self, enclave: Address) -> Result<&str, ClientError> {
        self.nodes
            .get(&enclave)
            .map(String::as_str)
            .ok_or(ClientError::UnknownNode(enclave))
    }

    /// Whether the chain position a receipt names is one the manager produced for its
    /// contract (docs/protocol.md 6.3): asked of the manager once per position, then cached.
    pub async fn chain_position_known(&self, receipt: &Reply) -> Result<bool, ClientError> {
        let cid = receipt.cid;
        let h = receipt.chain_tx_hash;
        let cached = self
            .known_positions
            .lock()
            .map(|k| k.get(&cid).is_some_and(|s| s.contains(&h)))
            .unwrap_or(false);
        if cached {
            return Ok(true);
        }
        let known = self.chain.is_known_tx_hash(cid, B256::from(h.0)).await?;
        if known {
            if let Ok(mut k) = self.known_positions.lock() {
                k.entry(cid).or_default().insert(h);
            }
        }
        Ok(known)
    }

    /// Checks the manager's vendor and every pool member of `cid` against the client's trust
    /// anchors; returns the pool.
    pub async fn verify_pool(&self, cid: ContractId) -> Result<Vec<Address>, ClientError> {
        let vendor = from_address(self.chain.read(&PoseManager::vendorCall {}).await?);
        if vendor != self.vendor {
            return Err(ClientError::WrongVendor {
                expected: self.vendor,
                got: vendor,
            });
        }
        let pool: Vec<Address> = self
            .chain
            .pool(cid)
            .await?
            .into_iter()
            .map(from_address)
            .collect();
        for member in &pool {
            let e = self
                .chain
                .read(&PoseManager::enclavesCall(to_address(*member)))
                .await?;
            let why = if e.operator.is_zero() {
                Some("not registered".to_owned())
            } else if !self.measurements.contains(&from_b256(e.measurement)) {
                Some(format!(
                    "measurement {} is not trusted",
                    from_b256(e.measurement)
                ))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(ClientError::UntrustedMember {
                    member: *member,
                    why,
                });
            }
        }
        Ok(pool)
    }

    /// Creates a contract running `code` with `params`, hands the code and `init_input` to the
    /// executor of epoch 0, and waits until every pool member accepted; returns its id.
    pub async fn deploy(
        &self,
        code: &[u8],
        init_input: &[u8],
        params: PoseManager::Params,
    ) -> Result<ContractId, ClientError> {
        let code_hash = pose_crypto::sha256(code);
        self.report(Progress::Submitting("createContract"));
        let (cid, pool, _) = self
            .chain
            .create_contract(B256::from(code_hash.0), params)
            .await?;
        self.verify_pool(cid).await?;
        let executor = pool
            .first()
            .map(|a| from_address(*a))
            .ok_or_else(|| ClientError::Invalid("the manager drew an empty pool".into()))?;
        let mut deploy = Deploy {
            cid,
            code: code.to_vec(),
            init_input: init_input.to_vec(),
            sig: Vec::new(),
        };
        deploy.sig = self.user.sign_digest(&deploy.digest()).0.to_vec();
        let deploy = Message::Deploy(deploy).encode();
        let url = self.url_of(executor)?.to_owned();
        // The executor's enclave learns of the contract only once its node saw the creation
        // confirmed; until then it refuses the code as an unknown contract.
        let start = tokio::time::Instant::now();
        while let Err(e) = self.transport.post_message(&url, deploy.clone()).await {
            if start.elapsed() > self.options.creation_timeout {
                return Err(e.into());
            }
            tokio::time::sleep(self.options.poll).await;
        }
        self.report(Progress::WaitingForCreation);
        loop {
            let c = self.chain.contract(cid).await?;
            match c.phase as u8 {
                phase::EXECUTING | phase::CHALLENGE_EXECUTOR => return Ok(cid),
                phase::CREATION => {}
                p => {
                    return Err(ClientError::NotLive {
                        cid,
                        phase: p,
                        hint: "the creation failed; create the contract again",
                    })
                }
            }
            if start.elapsed() > self.options.creation_timeout {
                return Err(ClientError::Timeout {
                    what: "completed creation",
                    secs: self.options.creation_timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.options.poll).await;
        }
    }

    /// Sends a state-changing call and returns the verified output.
    pub async fn call(&self, cid: ContractId, input: &[u8]) -> Result<Answer, ClientError> {
        self.request(cid, RequestKind::Call, input).await
    }

    /// Sends a read-only query (answered from the last fully acknowledged state).
    pub async fn query(&self, cid: ContractId, input: &[u8]) -> Result<Answer, ClientError> {
        self.request(cid, RequestKind::Query, input).await
    }

    /// Deposits `wei` into the contract from the user's account; the contract credits it to
    /// the user once its enclaves see the transaction confirmed.
    pub async fn deposit(&self, cid: ContractId, wei: u128) -> Result<(), ClientError> {
        self.report(Progress::Submitting("deposit"));
        self.chain.deposit(cid, U256::from(wei)).await?;
        Ok(())
    }

    async fn live_key(&self, cid: ContractId) -> Result<EncPublicKey, ClientError> {
        let c = self.chain.contract(cid).await?;
        match c.phase as u8 {
            phase::EXECUTING | phase::CHALLENGE_EXECUTOR => Ok(EncPublicKey(c.contractEncKey.0)),
            phase::CREATION => Err(ClientError::NotLive {
                cid,
                phase: phase::CREATION,
                hint: "wait until every pool member accepted the deployment",
            }),
            p => Err(ClientError::NotLive {
                cid,
                phase: p,
                hint: "the contract no longer executes",
            }),
        }
    }

    /// Builds the signed request; returns it with the reply key.
    fn build(
        &self,
        cid: ContractId,
        kind: RequestKind,
        key: &EncPublicKey,
        input: &[u8],
    ) -> Result<(Request, AeadKey), ClientError> {
        build_request(&self.user, cid, kind, key, input)
    }

    async fn request(
        &self,
        cid: ContractId,
        kind: RequestKind,
        input: &[u8],
    ) -> Result<Answer, ClientError> {
        let key = self.live_key(cid).await?;
        let mut pool = self.verify_pool(cid).await?;
        let (req, reply_key) = self.build(cid, kind, &key, input)?;
        let bytes = Message::Request(req.clone()).encode();
        let start = tokio::time::Instant::now();
        let mut challenge: Option<Challenge> = None;
        let mut last_epoch = self.chain.contract(cid).await?.epoch;
        let mut reported: Option<Address> = None;
        let mut refused: Option<Reply> = None;
        loop {
            let executor = from_address(self.chain.executor_of(cid).await?);
            let url = self.url_of(executor)?.to_owned();
            // Sending again is safe: the executor answers a known (user, nonce) from its record.
            let sent = self
                .transport
                .post_message(&url, bytes.clone())
                .await
                .is_ok();
            if sent && reported != Some(executor) {
                reported = Some(executor);
                self.report(Progress::Sent {
                    executor,
                    url: url.clone(),
                });
            }
            let waited = tokio::time::Instant::now();
            while waited.elapsed() < self.options.poll * 4 {
                let Ok(inbox) = self
                    .transport
                    .fetch_mailbox(&url, executor, &self.user, self.options.poll)
                    .await
                else {
                    tokio::time::sleep(self.options.poll).await;
                    break;
                };
                for m in inbox {
                    if let Ok(Message::Reply(r)) = Message::decode(&m) {
                        if let Some(output) = open_reply(&req, &reply_key, &pool, &r) {
                            if self.chain_position_known(&r).await? {
                                return finish(output, r);
                            }
                            self.report(Progress::ReceiptRefused {
                                executor: r.executor,
                                chain_pos: r.chain_pos,
                            });
                            refused = Some(r);
                        }
                    }
                }
            }
            if start.elapsed() > self.options.give_up_after {
                let secs = self.options.give_up_after.as_secs();
                return Err(match refused {
                    Some(r) => ClientError::ForgedChainPosition {
                        executor: r.executor,
                        chain_pos: r.chain_pos,
                        tx_hash: r.chain_tx_hash,
                        secs,
                    },
                    None => ClientError::Timeout {
                        what: "receipt",
                        secs,
                    },
                });
            }
            if kind == RequestKind::Call && start.elapsed() > self.options.challenge_after {
                self.escalate(cid, &req, &mut challenge).await?;
                if let Some(ch) = &challenge {
                    if let Some((output, r)) = self
                        .onchain_answer(cid, ch, &req, &reply_key, &pool)
                        .await?
                    {
                        self.report(Progress::AnsweredOnChain {
                            challenge_id: ch.id,
                        });
                        return finish(output, r);
                    }
                }
                let c = self.chain.contract(cid).await?;
                if c.epoch != last_epoch {
                    last_epoch = c.epoch;
                    let executor = from_address(self.chain.executor_of(cid).await?);
                    self.report(Progress::ExecutorChanged {
                        epoch: c.epoch,
                        executor,
                    });
                    pool = self.verify_pool(cid).await?;
                }
                if c.phase as u8 == phase::CRASHED {
                    return Err(ClientError::NotLive {
                        cid,
                        phase: phase::CRASHED,
                        hint: "every pool member failed to answer",
                    });
                }
            }
        }
    }

    /// Forces the request on-chain once, and moves the executor on when its deadline passed.
    /// The challenge carries the bare request ([`Request::encode`], not the message envelope):
    /// that is what the executor decodes and executes.
    async fn escalate(
        &self,
        cid: ContractId,
        req: &Request,
        challenge: &mut Option<Challenge>,
    ) -> Result<(), ClientError> {
        let id = match challenge {
            Some(ch) => ch.id,
            None => {
                self.report(Progress::Submitting("challenge"));
                let (id, receipt) = self.chain.challenge(cid, Bytes::from(req.encode())).await?;
                self.report(Progress::Challenged { challenge_id: id });
                *challenge = Some(Challenge {
                    id,
                    block: receipt.block_number.unwrap_or_default(),
                });
                id
            }
        };
        let open = self
            .chain
            .read(&PoseManager::getChallengeCall {
                cid: cid.0,
                challengeId: id,
            })
            .await?
            .open;
        if !open {
            return Ok(());
        }
        let deadline = self
            .chain
            .read(&PoseManager::effectiveDeadlineCall {
                cid: cid.0,
                challengeId: id,
            })
            .await?;
        if self.chain.chain_time().await? > deadline {
            self.report(Progress::Submitting("timeoutChallenge"));
            // Another user may have moved the executor first; that is fine.
            if let Err(e) = self.chain.timeout_challenge(cid, id).await {
                if !matches!(e, ChainError::Reverted(_)) {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }
}

/// A challenge this client opened: its id and the block it was opened in (its answer comes
/// later).
#[derive(Clone, Copy, Debug)]
struct Challenge {
    id: u64,
    block: u64,
}

impl PoseClient {
    /// The executor's on-chain answer to challenge `ch` (the `encryptedOutput` of the
    /// manager's `ChallengeAnswered` event, an encoded `Message::Reply`), checked like an
    /// off-chain reply ([`open_reply`]) and opened; `None` while there is no answer that
    /// checks (unanswered, or answered with an empty output for a request the executor found
    /// invalid).
    async fn onchain_answer(
        &self,
        cid: ContractId,
        ch: &Challenge,
        req: &Request,
        reply_key: &AeadKey,
        pool: &[Address],
    ) -> Result<Option<(Vec<u8>, Reply)>, ClientError> {
        for answer in self.chain.challenge_answers(cid, ch.id, ch.block).await? {
            let Ok(Message::Reply(r)) = Message::decode(&answer.encryptedOutput) else {
                continue;
            };
            if let Some(output) = open_reply(req, reply_key, pool, &r) {
                return Ok(Some((output, r)));
            }
        }
        Ok(None)
    }
}

/// An output starting with the contract SDK's error marker is the contract's refusal.
fn finish(output: Vec<u8>, receipt: Reply) -> Result<Answer, ClientError> {
    Ok(Answer { output, receipt })
}

/// The nonce of a new request: the time in microseconds since the Unix epoch, or one more than
/// the last nonce this process handed out if that is higher. Nonces of one user therefore
/// increase, across calls and restarts, as the enclave's bounded request records expect: a
/// pool keeps the records of each user's latest requests only, and refuses a nonce at or below
/// the user's floor (docs/protocol.md, "Bounded history").
pub fn fresh_nonce() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now_us.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// A signed request from `user` carrying `input` sealed to the contract key `key` under a fresh
/// reply key and a [`fresh_nonce`]; returns it with the reply key that opens its answer. The
/// sealed plaintext binds the request's `cid`, `user`, `nonce` and `kind`
/// ([`SealedInput`]), so the body is worthless in any other request.
pub fn build_request(
    user: &SigningKey,
    cid: ContractId,
    kind: RequestKind,
    key: &EncPublicKey,
    input: &[u8],
) -> Result<(Request, AeadKey), ClientError> {
    let mut rng = OsRng;
    let mut reply_key = [0u8; 32];
    rng.fill_bytes(&mut reply_key);
    let nonce = fresh_nonce();
    let plain = SealedInput {
        cid,
        user: user.address(),
        nonce,
        kind,
        reply_key,
        input: input.to_vec(),
    }
    .to_bytes();
    let body = seal_to(key, b"pose.box.v1", &plain, &mut rng)
        .map_err(|e| ClientError::Invalid(format!("the contract key is unusable: {e}")))?;
    let mut req = Request {
        cid,
        user: user.address(),
        nonce,
        kind,
        body,
        sig: Vec::new(),
    };
    req.sig = user.sign_digest(&req.digest()).0.to_vec();
    Ok((req, AeadKey::from_bytes(reply_key)))
}

/// Checks `reply` against the request `req` and the verified `pool` (for this request, signed
/// by a pool member over its digest) and opens its output with `reply_key`; `None` for a reply
/// that is not the answer to `req` (a stale, forged or corrupted one).
pub fn open_reply(
    req: &Request,
    reply_key: &AeadKey,
    pool: &[Address],
    reply: &Reply,
) -> Option<Vec<u8>> {
    if reply.request_digest != req.digest() || reply.cid != req.cid {
        return None;
    }
    if !pool.contains(&reply.executor) {
        return None;
    }
    let sig = SignatureBytes(reply.sig.as_slice().try_into().ok()?);
    pose_crypto::verify(&reply.digest(), &sig, &reply.executor).ok()?;
    if reply.output.len() < 24 {
        return None;
    }
    let mut ad = reply.output[..24].to_vec();
    ad.extend_from_slice(&reply.request_digest.0);
    reply_key.decrypt(&ad, &reply.output[24..]).ok()
}
