//! One simulated world: registered enclaves behind adversarial hosts, users, the model chain,
//! a faulty network, and the invariant checks that run after every step.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use pose_enclave::chain::Params;
use pose_enclave::wire::sha256;
use pose_enclave::{
    Action, Bug, ChainTx, Config, Deploy, Deployment, Enclave, Event, ManagerCall, Member, Message,
    Phase, Rejection, Reply, Request, RequestKind, SealedInput, UpdateKind,
};
use pose_types::codec::Encode;
use pose_types::{Address, ContractId, Epoch, Hash32, Seq};

use crate::bank::{bank_code_hash, BankEngine, BANK_CODE};
use crate::ideal::{self, Hardware, Identity, SharedHardware, SharedRegistry, SimPlatform};
use crate::model::ModelChain;
use crate::rng::Rng;

mod checks;
mod hostile;

/// Every private input carries this prefix; no byte leaving an enclave may contain it.
pub const MARKER: &[u8] = b"@@PRIVATE-MARKER@@";

/// Simulation step, ms.
pub const STEP_MS: u64 = 50;
/// Users resend an unanswered request after this long, ms.
pub const RETRY_MS: u64 = 2_000;
/// Users challenge an unanswered request after this long, ms.
pub const CHALLENGE_AFTER_MS: u64 = 6_000;
/// How long an executor waits for a member's acknowledgement before challenging it (ms).
pub const ACK_TIMEOUT_MS: u64 = 3_000;

/// The parts of the hostile operator (A4: the operator controls everything that reaches its
/// enclave) beyond the faulty network, each of which a run can switch off. All are on by
/// default; [`Adversary::none`] gives the runs of the simulator before these parts existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adversary {
    /// Some hosts lie to their own enclave about the chain from healing on: they invent,
    /// drop, duplicate, reorder and alter chain transactions (`--no-forge-chain` turns it off).
    pub forge_chain: bool,
    /// Some hosts drop the submissions their enclave asks for, for a while or for good
    /// (`--no-drop-submissions`).
    pub drop_submissions: bool,
}

impl Default for Adversary {
    fn default() -> Self {
        Self {
            forge_chain: true,
            drop_submissions: true,
        }
    }
}

impl Adversary {
    /// Every part off.
    pub fn none() -> Self {
        Self {
            forge_chain: false,
            drop_submissions: false,
        }
    }
}

/// What a run is asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Print one line per event.
    pub trace: bool,
    /// The bug to inject (needs the `bug-injection` feature of pose-enclave).
    pub bug: Option<Bug>,
    /// Force this many permanently silent pool members (else drawn from the seed).
    pub silent_members: Option<usize>,
    /// Force this pool size (else drawn from the seed).
    pub pool_size: Option<usize>,
    /// Force this many tampering pool members (else drawn from the seed): from healing on,
    /// their hosts flip a bit in every off-chain message their enclaves send, but relay chain
    /// transactions.
    pub tampering_members: Option<usize>,
    /// Force this many contracts (else 1 or 2, drawn from the seed; 1 when the pool size or
    /// the silent members are forced).
    pub contracts: Option<usize>,
    /// The parts of the hostile operator that are on.
    pub adversary: Adversary,
    /// Members with a tampering host (which relays their chain view and submissions but
    /// corrupts their off-chain messages) may be removed without failing the run: the
    /// honest-member invariant then covers fully honest hosts only (`--lenient-removals`).
    pub lenient_removals: bool,
}

/// The kind of a failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A safety invariant broke.
    Correctness(String),
    /// An honest request was not answered within the bound.
    Liveness(String),
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Running hash of every event (for `--check-determinism`).
    pub events_hash: u64,
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// Worst time from heal (or send, if later) to answer, ms.
    pub worst_answer_ms: u64,
    /// The liveness bound the parameters give, ms.
    pub bound_ms: u64,
    /// Honest requests answered.
    pub answered: usize,
    /// Simulated duration, ms.
    pub sim_ms: u64,
    /// Largest pool of this run.
    pub pool_size: usize,
    /// Permanently silent members of the largest pool... of every pool: the largest count.
    pub silent: usize,
    /// Tampering members (hosts corrupting every off-chain message) of every pool: the
    /// largest count.
    pub tampering: usize,
    /// Executor changes seen on-chain, summed over contracts.
    pub epochs: u64,
    /// Contracts (pools) in this run.
    pub contracts: usize,
}

struct Node {
    hw: SharedHardware,
    enclave: Option<Enclave<SimPlatform>>,
    /// Sealed blobs with the host's chain cursor at that time, oldest first.
    blobs: Vec<(Vec<u8>, BTreeMap<ContractId, u64>)>,
    cursor: BTreeMap<ContractId, u64>,
    silent_from_ms: Option<u64>,
    /// The host corrupts every off-chain message its enclave sends (from healing on).
    tampers: bool,
    down_until_ms: Option<u64>,
    chain_lag_ms: u64,
}

struct Packet {
    to: Address,
    bytes: Vec<u8>,
    replay: bool,
    /// The enclave must refuse it (a forged request): accepting it is a correctness failure.
    refuse: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Add,
    Transfer,
    Withdraw,
    Query,
}

struct UReq {
    cid: ContractId,
    op: Op,
    req: Request,
    bytes: Vec<u8>,
    reply_key: [u8; 32],
    marker: Vec<u8>,
    sent_ms: u64,
    last_sent_ms: u64,
    answered_ms: Option<u64>,
    challenge: Option<u64>,
}

struct User {
    id: Identity,
    honest: bool,
    next_nonce: u64,
    reqs: BTreeMap<u64, UReq>,
    next_action_ms: u64,
}

struct Faults {
    drop: u64,
    dup: u64,
    flip: u64,
    replay: u64,
    delay_max_ms: u64,
    partition: Option<(u64, u64, BTreeSet<Address>)>,
    crash_rate: u64,
    old_blob: u64,
}

/// The simulated world.
pub struct World {
    seed: u64,
    opts: RunOptions,
    rng: Rng,
    net_rng: Rng,
    registry: SharedRegistry,
    config: Config,
    chain: ModelChain,
    nodes: Vec<Node>,
    by_addr: BTreeMap<Address, usize>,
    users: Vec<User>,
    user_by_addr: BTreeMap<Address, usize>,
    queue: BTreeMap<(u64, u64), Packet>,
    packet_id: u64,
    history: Vec<(Address, Vec<u8>)>,
    now_ms: u64,
    faults: Faults,
    faulty_phase: bool,
    cids: Vec<ContractId>,
    pool_sizes: Vec<usize>,
    params: Params,
    exec_since_ms: Option<u64>,
    heal_ms: u64,
    stop_requests_ms: u64,
    bound_ms: u64,
    silent_wanted: usize,
    silent: BTreeMap<ContractId, usize>,
    tampering_wanted: usize,
    tampering: BTreeMap<ContractId, usize>,
    // Invariant bookkeeping, per contract.
    acks: BTreeMap<(ContractId, Epoch, Seq), Hash32>,
    lineage: BTreeMap<Hash32, (Seq, Hash32)>,
    receipts: BTreeMap<ContractId, Vec<(Epoch, Seq, Hash32)>>,
    receipted: BTreeSet<(ContractId, Address, u64)>,
    head_seen: BTreeMap<(usize, ContractId), (Epoch, Seq, u64)>,
    deposits_prefix: BTreeMap<ContractId, Vec<u128>>,
    max_decided: BTreeMap<ContractId, u128>,
    events_hash: u64,
    failure: Option<Failure>,
    worst_answer_ms: u64,
    answered: usize,
    members_ever: BTreeSet<Address>,
    trace_buf: String,
    /// The hostile parts of the hosts beyond the network (module `hostile`).
    hostile: hostile::Hosts,
}

fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= *b as u64;
        *h = h.wrapping_mul(0x100_0000_01b3);
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl World {
    /// Builds the world for `seed`.
    pub fn new(seed: u64, opts: RunOptions) -> Self {
        let mut rng = Rng::new(seed);
        let registry: SharedRegistry = Default::default();
        let mut id_rng = rng.fork(1);
        let vendor = Identity::new(&registry, &mut id_rng);
        let config = Config {
            deployment: Deployment {
                chain_id: 31337,
                manager: Address([0x42; 20]),
            },
            vendor: vendor.address,
            measurement: sha256(&[b"pose.measurement.v1", b"pose-sim enclave"]),
            ack_timeout_ms: ACK_TIMEOUT_MS,
            bug: opts.bug,
        };
        let forced = opts.pool_size.is_some() || opts.silent_members.is_some();
        let n_contracts =
            opts.contracts
                .unwrap_or(if forced { 1 } else { rng.range(1, 2) as usize });
        let pool_sizes: Vec<usize> = (0..n_contracts)
            .map(|_| opts.pool_size.unwrap_or(rng.range(2, 4) as usize))
            .collect();
        let pool_size = pool_sizes.iter().copied().max().unwrap_or(2);
        let n_nodes = pool_size + rng.range(2, 3) as usize;
        let params = Params {
            pool_size: 0,
            response_period_secs: 6,
            member_response_period_secs: 6,
            confirmations: 1,
        };
        let mut chain = ModelChain::new(config.clone(), registry.clone(), rng.next_u64());
        let mut nodes = Vec::new();
        let mut by_addr = BTreeMap::new();
        let mut hw_rng = rng.fork(2);
        for i in 0..n_nodes {
            let hw = Hardware::new(&registry, &mut hw_rng);
            let (addr, enc) = {
                let h = hw.borrow();
                (h.identity.address, h.enc_public)
            };
            let mut m = Member {
                address: addr,
                enc_key: enc,
                attestation: Vec::new(),
            };
            m.attestation = vendor.sign(&pose_enclave::attestation_digest(&config, &m));
            chain.register(m).expect("fresh attested enclave registers");
            let enclave = Enclave::new(
                SimPlatform(hw.clone()),
                Box::new(BankEngine),
                config.clone(),
            );
            by_addr.insert(addr, i);
            nodes.push(Node {
                hw,
                enclave: Some(enclave),
                blobs: Vec::new(),
                cursor: BTreeMap::new(),
                silent_from_ms: None,
                tampers: false,
                down_until_ms: None,
                chain_lag_ms: 0,
            });
        }
        let mut users = Vec::new();
        let mut user_by_addr = BTreeMap::new();
        let n_users = rng.range(2, 4) as usize;
        for i in 0..n_users + 1 {
            let id = Identity::new(&registry, &mut id_rng);
            user_by_addr.insert(id.address, i);
            users.push(User {
                id,
                honest: i < n_users,
                next_nonce: 1,
                reqs: BTreeMap::new(),
                next_action_ms: 0,
            });
        }
        let faults = Faults {
            drop: rng.range(0, 150),
            dup: rng.range(0, 100),
            flip: rng.range(0, 30),
            replay: rng.range(0, 60),
            delay_max_ms: rng.range(0, 600),
            partition: None,
            crash_rate: rng.range(0, 3),
            old_blob: rng.range(0, 500),
        };
        let silent_wanted = opts
            .silent_members
            .unwrap_or_else(|| rng.below(pool_size as u64) as usize)
            .min(pool_size - 1);
        let tampering_wanted = opts
            .tampering_members
            .unwrap_or_else(|| rng.below((pool_size - silent_wanted) as u64) as usize)
            .min(pool_size - 1 - silent_wanted);
        let net_rng = rng.fork(3);
        let hostile = hostile::Hosts::new(seed, opts.adversary);
        let mut w = World {
            seed,
            opts,
            rng,
            net_rng,
            registry,
            config,
            chain,
            nodes,
            by_addr,
            users,
            user_by_addr,
            queue: BTreeMap::new(),
            packet_id: 0,
            history: Vec::new(),
            now_ms: 0,
            faults,
            faulty_phase: false,
            cids: Vec::new(),
            pool_sizes,
            params,
            exec_since_ms: None,
            heal_ms: u64::MAX,
            stop_requests_ms: u64::MAX,
            bound_ms: 0,
            silent_wanted,
            silent: BTreeMap::new(),
            tampering_wanted,
            tampering: BTreeMap::new(),
            acks: BTreeMap::new(),
            lineage: BTreeMap::new(),
            receipts: BTreeMap::new(),
            receipted: BTreeSet::new(),
            head_seen: BTreeMap::new(),
            deposits_prefix: BTreeMap::new(),
            max_decided: BTreeMap::new(),
            events_hash: 0xcbf2_9ce4_8422_2325,
            failure: None,
            worst_answer_ms: 0,
            answered: 0,
            members_ever: BTreeSet::new(),
            trace_buf: String::new(),
            hostile,
        };
        w.bound_ms = w.liveness_bound_ms();
        w
    }

    /// The liveness bound the parameters give: a user challenges after
    /// [`CHALLENGE_AFTER_MS`]; each executor epoch lasts at most one response period plus,
    /// per member challenge it may open (pool size - 1), an ack timeout, a member response
    /// period and a response period; at most pool-size epochs pass before an honest executor.
    pub fn liveness_bound_ms(&self) -> u64 {
        let n = self.pool_sizes.iter().copied().max().unwrap_or(2) as u64;
        let r = u64::from(self.params.response_period_secs) * 1000;
        let m = u64::from(self.params.member_response_period_secs) * 1000;
        let a = ACK_TIMEOUT_MS;
        let per_epoch = r + (n - 1) * (a + m + r) + 2 * RETRY_MS;
        CHALLENGE_AFTER_MS + RETRY_MS + n * per_epoch + 10_000
    }

    fn trace(&mut self, line: impl FnOnce() -> String) {
        if self.opts.trace {
            let l = line();
            let _ = writeln!(self.trace_buf, "{:>8} {}", self.now_ms, l);
            if self.trace_buf.len() > 1 << 16 {
                print!("{}", self.trace_buf);
                self.trace_buf.clear();
            }
        }
    }

    fn fail(&mut self, f: Failure) {
        if self.failure.is_none() {
            let msg = format!("{f:?}");
            self.trace(|| format!("FAILURE {msg}"));
            self.failure = Some(f);
        }
    }

    fn note(&mut self, bytes: &[u8]) {
        let mut h = self.events_hash;
        fnv(&mut h, &self.now_ms.to_be_bytes());
        fnv(&mut h, bytes);
        self.events_hash = h;
    }

    fn node_up(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        n.enclave.is_some() && n.silent_from_ms.is_none_or(|t| self.now_ms < t)
    }

    /// Runs to the end; returns the outcome.
    pub fn run(mut self) -> Outcome {
        for k in 0..self.pool_sizes.len() {
            let call = ManagerCall::CreateContract {
                code_hash: bank_code_hash(),
                params: Params {
                    pool_size: self.pool_sizes[k] as u8,
                    ..self.params
                },
            };
            let caddr = self.users[k % (self.users.len() - 1)].id.address;
            match self.chain.submit(caddr, 0, call) {
                Ok(tx) => self.cids.push(tx.cid),
                Err(e) => {
                    self.fail(Failure::Correctness(format!("creation reverted: {e}")));
                }
            }
        }
        let safety_ms = self.rng.range(15_000, 40_000);
        self.trace_draws();
        let hard_stop_ms = 60_000 + safety_ms + self.bound_ms + 60_000;
        while self.failure.is_none() && self.now_ms < hard_stop_ms {
            self.now_ms += STEP_MS;
            self.chain.advance(self.now_ms);
            let executing = self.cids.iter().all(|cid| {
                self.chain.contracts.get(cid).map(|c| c.phase) == Some(Phase::Executing)
            });
            if self.exec_since_ms.is_none() && executing {
                self.start_faults(safety_ms);
            }
            if self.exec_since_ms.is_none() && self.now_ms > 60_000 {
                self.fail(Failure::Liveness(
                    "creation did not complete in 60 s".into(),
                ));
                break;
            }
            if self.now_ms >= self.heal_ms && self.faulty_phase {
                self.heal();
            }
            self.deploy_step();
            self.fault_step();
            self.deliver_packets();
            self.feed_chain();
            self.forge_step();
            if self.now_ms.is_multiple_of(pose_enclave::TICK_MS) {
                for i in 0..self.nodes.len() {
                    if self.node_up(i) {
                        self.deliver(i, Event::Tick, false);
                    }
                }
            }
            self.users_step();
            self.check_states();
            if self.now_ms > self.stop_requests_ms && self.all_answered() {
                break;
            }
            if self.now_ms > self.heal_ms.saturating_add(self.bound_ms) && !self.all_answered() {
                let late = self.unanswered_desc();
                self.fail(Failure::Liveness(format!(
                    "not answered within the bound of {} ms after healing: {late}",
                    self.bound_ms
                )));
            }
        }
        if self.failure.is_none() && self.now_ms >= hard_stop_ms {
            self.fail(Failure::Liveness("run did not finish".into()));
        }
        if self.failure.is_none() {
            self.final_checks();
        }
        if self.opts.trace {
            print!("{}", self.trace_buf);
            self.trace_buf.clear();
        }
        let epochs = self
            .cids
            .iter()
            .filter_map(|cid| self.chain.contracts.get(cid))
            .map(|c| c.epoch.0)
            .sum();
        Outcome {
            seed: self.seed,
            events_hash: self.events_hash,
            failure: self.failure,
            worst_answer_ms: self.worst_answer_ms,
            bound_ms: self.bound_ms,
            answered: self.answered,
            sim_ms: self.now_ms,
            pool_size: self.pool_sizes.iter().copied().max().unwrap_or(0),
            silent: self.silent.values().copied().max().unwrap_or(0),
            tampering: self.tampering.values().copied().max().unwrap_or(0),
            epochs,
            contracts: self.cids.len(),
        }
    }

    fn start_faults(&mut self, safety_ms: u64) {
        self.exec_since_ms = Some(self.now_ms);
        self.faulty_phase = true;
        self.heal_ms = self.now_ms + safety_ms;
        self.stop_requests_ms = self.heal_ms + 5_000;
        let pool: Vec<Address> = self.chain.registered.iter().map(|m| m.address).collect();
        for i in 0..self.nodes.len() {
            // Some hosts withhold chain events from their enclave for a long time.
            self.nodes[i].chain_lag_ms = if self.rng.chance(250) {
                self.rng.range(5_000, 20_000)
            } else {
                self.rng.range(0, 3_000)
            };
        }
        if self.rng.chance(500) {
            let mut side = BTreeSet::new();
            for a in &pool {
                if self.rng.chance(500) {
                    side.insert(*a);
                }
            }
            let from = self.now_ms + self.rng.below(safety_ms / 2);
            let to = from + self.rng.range(1_000, safety_ms / 2);
            self.faults.partition = Some((from, to, side));
        }
        self.trace(|| "contract executing; faults on".into());
        self.hostile_at_faults();
    }

    /// At healing, up to `silent_wanted` members of each pool go silent for good, then up to
    /// `tampering_wanted` of the others get a tampering host for good. In every pool the
    /// member that holds the latest state stays responsive, and tampering hosts come only to
    /// pools where a member that holds the state and has no open member challenge
    /// stays honest (SPEC: liveness needs one responsive pool member; a member that never
    /// received the state, or that is removed for a deadline it missed during the faults,
    /// cannot be that member).
    fn silence_members(&mut self) {
        let mut keep = BTreeSet::new();
        let mut stays = BTreeSet::new();
        let mut pools = Vec::new();
        for cid in self.cids.clone() {
            let Some(c) = self.chain.contracts.get(&cid) else {
                continue;
            };
            let pool: Vec<Address> = c.pool.iter().map(|m| m.address).collect();
            // `best` holds the latest state; `stay` the latest among the members without an
            // open member challenge: one challenged during the faults may miss its deadline
            // (it has to see the challenge and answer in what is left of the period) and be
            // removed after healing whatever it does, so it cannot keep the pool live.
            let mut best: Option<((Epoch, Seq), Address)> = None;
            let mut stay: Option<((Epoch, Seq), Address)> = None;
            for a in &pool {
                let i = self.by_addr[a];
                let Some((h, he)) = self.nodes[i].enclave.as_ref().and_then(|e| e.head(cid)) else {
                    continue;
                };
                let key = (he, h.seq);
                if best.as_ref().is_none_or(|(bk, _)| key > *bk) {
                    best = Some((key, *a));
                }
                let removable = c.member_challenges.contains_key(a);
                if !removable && stay.as_ref().is_none_or(|(bk, _)| key > *bk) {
                    stay = Some((key, *a));
                }
            }
            if let Some((_, a)) = best {
                keep.insert(a);
            }
            if let Some((_, a)) = stay {
                stays.insert(a);
            }
            pools.push((cid, pool));
        }
        for (cid, pool) in pools {
            let already = pool
                .iter()
                .filter(|a| self.nodes[self.by_addr[*a]].silent_from_ms.is_some())
                .count();
            let mut cands: Vec<Address> = pool
                .iter()
                .filter(|a| !keep.contains(*a))
                .filter(|a| self.nodes[self.by_addr[*a]].silent_from_ms.is_none())
                .copied()
                .collect();
            let k = self.silent_wanted.min(pool.len().saturating_sub(1));
            let mut n = already;
            while n < k && !cands.is_empty() {
                let j = self.rng.below(cands.len() as u64) as usize;
                let a = cands.remove(j);
                let i = self.by_addr[&a];
                self.nodes[i].silent_from_ms = Some(self.now_ms);
                self.nodes[i].enclave = None;
                n += 1;
                self.trace(|| format!("node {i} silent for good"));
            }
            self.silent.insert(cid, n);
            // Then up to `tampering_wanted` of the others get a tampering host for good.
            let already = pool
                .iter()
                .filter(|a| self.nodes[self.by_addr[*a]].tampers)
                .count();
            cands.retain(|a| !self.nodes[self.by_addr[a]].tampers && !stays.contains(a));
            // Without an honest member that holds the state and stays, tampering would take
            // the pool outside SPEC's liveness premise (a replacement could get the state
            // only through corrupted messages): no tampering in such a pool.
            let stayer = pool
                .iter()
                .any(|a| stays.contains(a) && self.nodes[self.by_addr[a]].silent_from_ms.is_none());
            let k = if stayer {
                self.tampering_wanted.min(pool.len().saturating_sub(1 + n))
            } else {
                0
            };
            let mut t = already;
            while t < k && !cands.is_empty() {
                let j = self.rng.below(cands.len() as u64) as usize;
                let i = self.by_addr[&cands.remove(j)];
                self.nodes[i].tampers = true;
                t += 1;
                self.trace(|| format!("node {i} tampers with what it relays, for good"));
            }
            self.tampering.insert(cid, t);
        }
    }

    fn heal(&mut self) {
        self.faulty_phase = false;
        self.faults.partition = None;
        for i in 0..self.nodes.len() {
            self.nodes[i].chain_lag_ms = 0;
            if self.nodes[i].enclave.is_none() && self.nodes[i].silent_from_ms.is_none() {
                self.restart(i);
            }
        }
        self.silence_members();
        self.hostile_at_healing();
        self.trace(|| "healed: network and hosts honest from now on".into());
    }

    fn deploy_step(&mut self) {
        for cid in self.cids.clone() {
            let Some(c) = self.chain.contracts.get(&cid) else {
                continue;
            };
            for m in &c.pool {
                self.members_ever.insert(m.address);
            }
            if c.phase == Phase::Creation && self.now_ms.is_multiple_of(1_000) {
                let Some(ex) = c.executor() else { continue };
                // The creator (the createContract sender) signs the deployment.
                let creator = c.log.first().map(|t| t.sender);
                let Some(user) = self.users.iter().find(|u| Some(u.id.address) == creator) else {
                    continue;
                };
                let mut d = Deploy {
                    cid,
                    code: BANK_CODE.to_vec(),
                    init_input: Vec::new(),
                    sig: Vec::new(),
                };
                d.sig = user.id.sign(&d.digest());
                self.send_packet(ex, Message::Deploy(d).encode(), false, false);
            }
        }
    }

    fn fault_step(&mut self) {
        if !self.faulty_phase {
            return;
        }
        // Crashes and restarts.
        for i in 0..self.nodes.len() {
            if self.nodes[i]
                .silent_from_ms
                .is_some_and(|t| self.now_ms >= t)
            {
                if self.nodes[i].enclave.is_some() {
                    self.nodes[i].enclave = None;
                    self.trace(|| format!("node {i} silent for good"));
                }
                continue;
            }
            match self.nodes[i].down_until_ms {
                Some(t) if self.now_ms >= t => {
                    self.nodes[i].down_until_ms = None;
                    self.restart(i);
                }
                Some(_) => {}
                None => {
                    if self.rng.below(10_000) < self.faults.crash_rate {
                        self.nodes[i].enclave = None;
                        let d = self.rng.range(500, 8_000);
                        self.nodes[i].down_until_ms = Some(self.now_ms + d);
                        self.trace(|| format!("node {i} crashes for {d} ms"));
                    }
                }
            }
        }
        // Replays of old packets.
        if !self.history.is_empty() && self.net_rng.chance(self.faults.replay) {
            let k = self.net_rng.below(self.history.len() as u64) as usize;
            let (to, bytes) = self.history[k].clone();
            self.trace(|| format!("replay {} bytes to {to}", bytes.len()));
            self.push_packet(to, bytes, true, 0);
        }
        // Old chain transactions re-delivered.
        if self.net_rng.chance(self.faults.replay) && !self.cids.is_empty() {
            let i = self.net_rng.below(self.nodes.len() as u64) as usize;
            let cid = self.cids[self.net_rng.below(self.cids.len() as u64) as usize];
            let log_len = self.chain.contracts.get(&cid).map_or(0, |c| c.log.len());
            let cur = self.nodes[i].cursor.get(&cid).copied().unwrap_or(0) as usize;
            if self.node_up(i) && cur > 0 && log_len > 0 {
                let k = self.net_rng.below(cur as u64) as usize;
                let tx = self.chain.contracts[&cid].log[k].encode();
                self.deliver(i, Event::Chain(tx), true);
            }
        }
        // Malicious user traffic.
        let bad = self.users.len() - 1;
        if self.net_rng.chance(100) {
            self.malicious_step(bad);
        }
    }

    fn restart(&mut self, i: usize) {
        let Some((latest, cursor)) = self.nodes[i].blobs.last().cloned() else {
            let e = Enclave::new(
                SimPlatform(self.nodes[i].hw.clone()),
                Box::new(BankEngine),
                self.config.clone(),
            );
            self.nodes[i].enclave = Some(e);
            self.nodes[i].cursor.clear();
            return;
        };
        let n = self.nodes[i].blobs.len();
        if n >= 2 && self.rng.below(1000) < self.faults.old_blob {
            let k = self.rng.below((n - 1) as u64) as usize;
            let (old, _) = self.nodes[i].blobs[k].clone();
            let r = Enclave::restore(
                SimPlatform(self.nodes[i].hw.clone()),
                Box::new(BankEngine),
                self.config.clone(),
                &old,
            );
            match r {
                Err(Rejection::StaleSealedState { .. }) => {
                    self.trace(|| format!("node {i}: stale blob {k}/{n} refused"));
                }
                Ok(_) => {
                    self.fail(Failure::Correctness(format!(
                        "rollback: node {i} accepted stale sealed blob {k} of {n}"
                    )));
                    return;
                }
                Err(e) => {
                    self.fail(Failure::Correctness(format!(
                        "node {i}: stale blob gave {e} instead of a stale-state rejection"
                    )));
                    return;
                }
            }
        }
        match Enclave::restore(
            SimPlatform(self.nodes[i].hw.clone()),
            Box::new(BankEngine),
            self.config.clone(),
            &latest,
        ) {
            Ok(e) => {
                self.nodes[i].enclave = Some(e);
                self.nodes[i].cursor = cursor;
                self.nodes[i].blobs.drain(..n - 1);
                self.trace(|| format!("node {i} restarted from its latest blob"));
            }
            Err(e) => self.fail(Failure::Correctness(format!(
                "node {i} cannot restore its latest blob: {e}"
            ))),
        }
    }

    fn malicious_step(&mut self, u: usize) {
        if self.cids.is_empty() {
            return;
        }
        let cid = self.cids[self.net_rng.below(self.cids.len() as u64) as usize];
        let Some(ex) = self.chain.contracts.get(&cid).and_then(|c| c.executor()) else {
            return;
        };
        let kind = self.net_rng.below(6);
        let bytes = match kind {
            0 => {
                // Bad signature.
                let (mut req, _, _) = self.make_request(u, Op::Add, cid);
                req.sig[0] ^= 1;
                Message::Request(req).encode()
            }
            1 => {
                // Replayed nonce with different content.
                let (mut req, _, _) = self.make_request(u, Op::Add, cid);
                req.nonce = 1;
                let id = self.users[u].id.clone();
                req.sig = id.sign(&req.digest());
                Message::Request(req).encode()
            }
            2 => {
                // Huge input.
                let (mut req, _, _) = self.make_request(u, Op::Add, cid);
                req.body = vec![7u8; pose_enclave::limits::INPUT_BYTES_MAX + 4096];
                let id = self.users[u].id.clone();
                req.sig = id.sign(&req.digest());
                Message::Request(req).encode()
            }
            3 => {
                // Garbage.
                let n = self.net_rng.range(0, 200) as usize;
                let mut b = vec![0u8; n];
                self.net_rng.fill(&mut b);
                b
            }
            4 => {
                // Another user's request replayed under a forged identity claim.
                let (mut req, _, _) = self.make_request(u, Op::Add, cid);
                req.user = self.users[0].id.address;
                Message::Request(req).encode()
            }
            _ => {
                // Another user's captured sealed body (e.g. a sealed bid) re-wrapped in this
                // user's own, validly signed request with a fresh nonce.
                if u == 0 {
                    return;
                }
                let victim = self.net_rng.below(u as u64) as usize;
                let captured = self.users[victim]
                    .reqs
                    .values()
                    .filter(|r| r.cid == cid)
                    .map(|r| r.req.body.clone())
                    .next_back();
                let Some(body) = captured else {
                    return;
                };
                let (mut req, _, _) = self.make_request(u, Op::Add, cid);
                req.body = body;
                let id = self.users[u].id.clone();
                req.sig = id.sign(&req.digest());
                self.trace(|| format!("malicious user re-wraps a body of user {victim}"));
                let bytes = Message::Request(req).encode();
                self.packet_id += 1;
                let key = (self.now_ms, self.packet_id);
                self.queue.insert(
                    key,
                    Packet {
                        to: ex,
                        bytes,
                        replay: true,
                        refuse: true,
                    },
                );
                return;
            }
        };
        self.trace(|| format!("malicious user sends kind {kind}"));
        // Everything but kind 1 (a possibly fresh nonce) must be refused without effect.
        self.push_packet(ex, bytes, kind != 1, 0);
    }

    fn make_request(&mut self, u: usize, op: Op, cid: ContractId) -> (Request, [u8; 32], Vec<u8>) {
        let nonce = self.users[u].next_nonce;
        self.users[u].next_nonce += 1;
        let mut marker = MARKER.to_vec();
        let mut tail = [0u8; 8];
        self.rng.fill(&mut tail);
        marker.extend_from_slice(&tail);
        let mut input = match op {
            Op::Add | Op::Query => vec![b'A'],
            Op::Transfer => vec![b'T'],
            Op::Withdraw => vec![b'W'],
        };
        input.extend_from_slice(&nonce.to_be_bytes());
        match op {
            Op::Add | Op::Query => input.extend_from_slice(&marker),
            Op::Transfer => {
                let to = self.rng.below(self.users.len() as u64) as usize;
                input.extend_from_slice(&self.users[to].id.address.0);
                input.extend_from_slice(&(self.rng.range(1, 30) as u128).to_be_bytes());
            }
            Op::Withdraw => {
                input.extend_from_slice(&(self.rng.range(1, 40) as u128).to_be_bytes());
            }
        }
        let mut reply_key = [0u8; 32];
        self.rng.fill(&mut reply_key);
        let kind = if op == Op::Query {
            RequestKind::Query
        } else {
            RequestKind::Call
        };
        let plain = SealedInput {
            cid,
            user: self.users[u].id.address,
            nonce,
            kind,
            reply_key,
            input,
        }
        .to_bytes();
        let key = self
            .chain
            .contracts
            .get(&cid)
            .and_then(|c| c.contract_key)
            .unwrap_or([0; 32]);
        let body = {
            let reg = self.registry.borrow();
            ideal::box_seal(&reg, &mut self.rng, &key, &plain)
        };
        let mut req = Request {
            cid,
            user: self.users[u].id.address,
            nonce,
            kind,
            body,
            sig: Vec::new(),
        };
        req.sig = self.users[u].id.sign(&req.digest());
        (req, reply_key, marker)
    }

    fn users_step(&mut self) {
        let executing: Vec<ContractId> = self
            .cids
            .iter()
            .copied()
            .filter(|c| self.chain.contracts.get(c).map(|x| x.phase) == Some(Phase::Executing))
            .collect();
        if executing.is_empty() {
            return;
        }
        let executor =
            |w: &World, cid: ContractId| w.chain.contracts.get(&cid).and_then(|c| c.executor());
        let active = self.now_ms < self.stop_requests_ms;
        let n_honest = self.users.len() - 1;
        for u in 0..n_honest {
            if active && self.now_ms >= self.users[u].next_action_ms {
                self.users[u].next_action_ms = self.now_ms + self.rng.range(300, 3_000);
                let r = self.rng.below(100);
                let cid = executing[self.rng.below(executing.len() as u64) as usize];
                if r < 12 {
                    let v = self.rng.range(1, 100) as u128;
                    let addr = self.users[u].id.address;
                    let call = ManagerCall::Deposit { cid };
                    let res = self.chain.submit(addr, v, call);
                    self.trace(|| format!("user {u} deposits {v}: {res:?}", res = res.is_ok()));
                } else {
                    let op = match r {
                        12..=21 => Op::Withdraw,
                        22..=29 => Op::Transfer,
                        30..=34 => Op::Query,
                        _ => Op::Add,
                    };
                    let (req, reply_key, marker) = self.make_request(u, op, cid);
                    let bytes = Message::Request(req.clone()).encode();
                    let nonce = req.nonce;
                    self.users[u].reqs.insert(
                        nonce,
                        UReq {
                            cid,
                            op,
                            req,
                            bytes: bytes.clone(),
                            reply_key,
                            marker,
                            sent_ms: self.now_ms,
                            last_sent_ms: self.now_ms,
                            answered_ms: None,
                            challenge: None,
                        },
                    );
                    self.trace(|| format!("user {u} sends {op:?} nonce {nonce} to {cid:?}"));
                    if let Some(ex) = executor(self, cid) {
                        self.send_packet(ex, bytes, true, false);
                    }
                }
            }
            // Retries, challenges and timeouts.
            let nonces: Vec<u64> = self.users[u]
                .reqs
                .iter()
                .filter(|(_, r)| r.answered_ms.is_none())
                .map(|(n, _)| *n)
                .collect();
            for n in nonces {
                let (sent, last, op, chal, bytes, cid) = {
                    let r = &self.users[u].reqs[&n];
                    (
                        r.sent_ms,
                        r.last_sent_ms,
                        r.op,
                        r.challenge,
                        r.bytes.clone(),
                        r.cid,
                    )
                };
                if self.now_ms >= last + RETRY_MS {
                    let now = self.now_ms;
                    if let Some(r) = self.users[u].reqs.get_mut(&n) {
                        r.last_sent_ms = now;
                    }
                    if let Some(ex) = executor(self, cid) {
                        self.send_packet(ex, bytes.clone(), true, false);
                    }
                }
                if op == Op::Query {
                    continue;
                }
                match chal {
                    None if self.now_ms >= sent + CHALLENGE_AFTER_MS => {
                        let req_bytes = self.users[u].reqs[&n].req.encode();
                        let call = ManagerCall::Challenge {
                            cid,
                            request: req_bytes,
                        };
                        let addr = self.users[u].id.address;
                        if let Ok(tx) = self.chain.submit(addr, 0, call) {
                            if let pose_enclave::Effect::ChallengeOpened { challenge_id } =
                                tx.effect
                            {
                                if let Some(r) = self.users[u].reqs.get_mut(&n) {
                                    r.challenge = Some(challenge_id);
                                }
                                self.trace(|| {
                                    format!("user {u} challenges nonce {n}: id {challenge_id}")
                                });
                            }
                        }
                    }
                    Some(id) => {
                        let ch = self.chain.contracts[&cid].challenges.get(&id).cloned();
                        if let Some(ch) = ch {
                            if let Some(reply) = ch.reply {
                                self.user_reply(u, &reply, true);
                            } else if ch.open && self.now_ms / 1000 > ch.deadline_secs {
                                let addr = self.users[u].id.address;
                                let call = ManagerCall::TimeoutChallenge {
                                    cid,
                                    challenge_id: id,
                                };
                                if self.chain.submit(addr, 0, call).is_ok() {
                                    self.trace(|| format!("user {u} times out challenge {id}"));
                                }
                            }
                        }
                    }
                    None => {}
                }
            }
        }
    }

    fn user_reply(&mut self, u: usize, bytes: &[u8], via_chain: bool) {
        let Ok(Message::Reply(r)) = Message::decode(bytes) else {
            return;
        };
        self.check_reply(u, r, via_chain);
    }

    fn check_reply(&mut self, u: usize, r: Reply, via_chain: bool) {
        let ok = ideal::verify(&self.registry.borrow(), &r.executor, &r.digest(), &r.sig);
        if !ok || !self.members_ever.contains(&r.executor) {
            return;
        }
        let Some(req) = self.users[u].reqs.get(&r.nonce) else {
            return;
        };
        if req.answered_ms.is_some() || req.req.digest() != r.request_digest || r.cid != req.cid {
            return;
        }
        // The user accepts a receipt only on a chain position the manager produced
        // (`PoseClient::chain_position_known`): one built on invented chain facts is refused.
        let known = self
            .chain
            .contracts
            .get(&r.cid)
            .is_some_and(|c| c.known.contains(&r.chain_tx_hash));
        if !known {
            let (n, pos) = (r.nonce, r.chain_pos);
            self.trace(|| {
                format!("user {u} refuses receipt for nonce {n}: chain position {pos} unknown")
            });
            return;
        }
        if r.output.len() < 24 {
            return;
        }
        let Some(out) = ideal::aead_open(
            &req.reply_key,
            &r.output[..24],
            &r.request_digest.0,
            &r.output[24..],
        ) else {
            self.fail(Failure::Correctness(format!(
                "user {u} got an output it cannot decrypt for nonce {}",
                r.nonce
            )));
            return;
        };
        let op = req.op;
        if op == Op::Add && !out.starts_with(&req.marker) {
            self.fail(Failure::Correctness(format!(
                "user {u} nonce {}: wrong output",
                r.nonce
            )));
            return;
        }
        let start = req.sent_ms.max(self.heal_ms);
        let wait = self.now_ms.saturating_sub(start);
        let now = self.now_ms;
        if let Some(q) = self.users[u].reqs.get_mut(&r.nonce) {
            q.answered_ms = Some(now);
        }
        if self.users[u].honest {
            self.answered += 1;
            if self.now_ms >= self.heal_ms {
                self.worst_answer_ms = self.worst_answer_ms.max(wait);
            }
        }
        let n = r.nonce;
        self.trace(|| {
            format!(
                "user {u} answered nonce {n} (seq {:?}, chain {via_chain})",
                r.seq
            )
        });
        if op != Op::Query {
            self.receipted.insert((r.cid, r.user, r.nonce));
            self.check_receipt(r.cid, r.epoch, r.seq, r.state_hash);
        }
    }

    /// True if `r` still waits for an answer the protocol promises. A query is answered only
    /// off-chain by the executor (there is no on-chain path for reads), so one whose current
    /// executor has a tampering host is not owed one until the executor changes: a known gap
    /// (docs/protocol.md, section 6.4, the member-challenge paragraph), not counted against the liveness bound.
    fn owed(&self, r: &UReq) -> bool {
        if r.answered_ms.is_some() {
            return false;
        }
        if r.op != Op::Query {
            return true;
        }
        // The same holds for an executor whose host forges its chain feed: users refuse its
        // receipts (they name a chain position the manager never produced), and a query has no
        // on-chain path to an answer from another member.
        let exec = self.chain.contracts.get(&r.cid).and_then(|c| c.executor());
        !exec.is_some_and(|a| {
            let i = self.by_addr[&a];
            self.nodes[i].tampers || self.hostile.forges(i)
        })
    }

    fn all_answered(&self) -> bool {
        self.users
            .iter()
            .filter(|u| u.honest)
            .all(|u| u.reqs.values().all(|r| !self.owed(r)))
    }

    fn unanswered_desc(&self) -> String {
        let mut s = String::new();
        for (i, u) in self.users.iter().enumerate().filter(|(_, u)| u.honest) {
            for (n, r) in &u.reqs {
                if self.owed(r) {
                    let _ = write!(s, "user {i} nonce {n} ({:?}, sent {}) ", r.op, r.sent_ms);
                }
            }
        }
        s
    }

    fn send_packet(&mut self, to: Address, bytes: Vec<u8>, faulty: bool, replay: bool) {
        if faulty && self.faulty_phase {
            if self.net_rng.chance(self.faults.drop) {
                return;
            }
            if self.net_rng.chance(self.faults.dup) {
                let d = self.net_rng.range(0, self.faults.delay_max_ms);
                self.push_packet(to, bytes.clone(), replay, d);
            }
            let mut bytes = bytes;
            if self.net_rng.chance(self.faults.flip) && !bytes.is_empty() {
                let k = self.net_rng.below(bytes.len() as u64) as usize;
                bytes[k] ^= 1 << self.net_rng.below(8);
            }
            let d = self.net_rng.range(0, self.faults.delay_max_ms);
            self.push_packet(to, bytes, replay, d);
        } else {
            let d = self.net_rng.range(0, 60);
            self.push_packet(to, bytes, replay, d);
        }
    }

    fn push_packet(&mut self, to: Address, bytes: Vec<u8>, replay: bool, delay_ms: u64) {
        self.packet_id += 1;
        let at = self.now_ms + delay_ms;
        self.queue.insert(
            (at, self.packet_id),
            Packet {
                to,
                bytes,
                replay,
                refuse: false,
            },
        );
    }

    fn partitioned(&self, from: Option<Address>, to: Address) -> bool {
        let Some((a, b, side)) = &self.faults.partition else {
            return false;
        };
        if self.now_ms < *a || self.now_ms >= *b {
            return false;
        }
        match from {
            Some(f) => side.contains(&f) != side.contains(&to),
            None => false,
        }
    }

    fn deliver_packets(&mut self) {
        let now = self.now_ms;
        let due: Vec<(u64, u64)> = self.queue.range(..(now + 1, 0)).map(|(k, _)| *k).collect();
        for k in due {
            let Some(p) = self.queue.remove(&k) else {
                continue;
            };
            if let Some(&i) = self.by_addr.get(&p.to) {
                if self.node_up(i) {
                    let protocol = matches!(
                        Message::decode(&p.bytes),
                        Ok(Message::Update(_) | Message::Ack(_))
                    );
                    let accepted = self.deliver(i, Event::Message(p.bytes.clone()), p.replay);
                    if accepted && p.refuse {
                        self.fail(Failure::Correctness(format!(
                            "node {i} accepted a forged request (a sealed body re-wrapped in \
                             another user's request)"
                        )));
                    }
                    // Accepted protocol messages become material for later replays.
                    if accepted && protocol && !p.replay {
                        if self.history.len() < 400 {
                            self.history.push((p.to, p.bytes));
                        } else {
                            let k = self.net_rng.below(400) as usize;
                            self.history[k] = (p.to, p.bytes);
                        }
                    }
                }
            } else if let Some(&u) = self.user_by_addr.get(&p.to) {
                self.user_reply(u, &p.bytes, false);
            }
        }
    }

    fn feed_chain(&mut self) {
        for cid in self.cids.clone() {
            let Some(c) = self.chain.contracts.get(&cid) else {
                continue;
            };
            let log = c.log.clone();
            for i in 0..self.nodes.len() {
                if !self.node_up(i) {
                    continue;
                }
                loop {
                    let cur = self.nodes[i].cursor.get(&cid).copied().unwrap_or(0) as usize;
                    let Some(tx) = log.get(cur) else { break };
                    let lag = if self.faulty_phase {
                        self.nodes[i].chain_lag_ms
                    } else {
                        0
                    };
                    if tx.block_time_secs * 1000 + lag > self.now_ms {
                        break;
                    }
                    self.nodes[i].cursor.insert(cid, cur as u64 + 1);
                    if !self.host_feeds(i, tx) {
                        self.nodes[i].cursor.insert(cid, cur as u64);
                        break;
                    }
                    if !self.node_up(i) {
                        break;
                    }
                }
            }
        }
    }

    fn fingerprint(&self, i: usize) -> Vec<(Seq, Hash32, Epoch, usize, Epoch)> {
        let Some(e) = &self.nodes[i].enclave else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for cid in &self.cids {
            let Some(v) = e.view(*cid) else {
                continue;
            };
            let (seq, hash, he) = match e.head(*cid) {
                Some((h, he)) => (h.seq, h.hash(), he),
                None => (Seq(0), Hash32::default(), Epoch(0)),
            };
            out.push((seq, hash, he, v.chain_len() as usize, v.epoch));
        }
        out
    }

    /// Hands `ev` to node `i`; returns true if the enclave accepted it. For a replay (a
    /// message the enclave accepted before, or an old chain transaction) the enclave must
    /// change nothing: the node first gets a tick at the same time so its own timers have run,
    /// then the replay, and its fingerprint must be unchanged.
    fn deliver(&mut self, i: usize, ev: Event, replay: bool) -> bool {
        // The TEE's own clock follows simulated time; the host cannot set it.
        self.nodes[i].hw.borrow_mut().clock_ms = self.now_ms;
        if replay {
            if let Some(e) = self.nodes[i].enclave.as_mut() {
                if let Ok(actions) = e.handle(Event::Tick) {
                    self.perform(i, actions);
                }
            }
        }
        let kind = match &ev {
            Event::Message(b) => {
                self.note(b);
                "msg"
            }
            Event::Chain(b) => {
                self.note(b);
                "chain"
            }
            Event::Tick => "tick",
        };
        let before = if replay {
            self.fingerprint(i)
        } else {
            Vec::new()
        };
        let Some(e) = self.nodes[i].enclave.as_mut() else {
            return false;
        };
        let res = e.handle(ev);
        match res {
            Err(err) => {
                if kind != "tick" {
                    let s = err.to_string();
                    self.trace(|| format!("node {i} rejects {kind}: {s}"));
                }
                false
            }
            Ok(actions) => {
                if replay {
                    let after = self.fingerprint(i);
                    if before != after {
                        self.fail(Failure::Correctness(format!(
                            "replayed {kind} changed node {i}: {before:?} -> {after:?}"
                        )));
                    }
                }
                self.perform(i, actions);
                true
            }
        }
    }

    fn perform(&mut self, i: usize, actions: Vec<Action>) {
        let from = self.nodes[i].hw.borrow().identity.address;
        for a in actions {
            match a {
                Action::Stalled {
                    cid, limit, bytes, ..
                } => {
                    self.trace(|| {
                        format!("node {i}: {cid:?} stalled by {limit:?} at {bytes} bytes")
                    });
                }
                Action::Persist { blob } => {
                    self.privacy_scan(i, "sealed blob", &blob);
                    let cursor = self.nodes[i].cursor.clone();
                    self.nodes[i].blobs.push((blob, cursor));
                    if self.nodes[i].blobs.len() > 8 {
                        self.nodes[i].blobs.remove(0);
                    }
                }
                Action::Submit { calldata } => {
                    self.privacy_scan(i, "chain transaction", &calldata);
                    self.note(&calldata);
                    if self.faulty_phase && self.net_rng.chance(self.faults.drop) {
                        continue;
                    }
                    if self.host_drops_submission(i) {
                        self.trace(|| format!("node {i}: host drops a submission"));
                        continue;
                    }
                    let Ok(call) = ManagerCall::decode(&calldata) else {
                        self.fail(Failure::Correctness(
                            "enclave submitted bad calldata".into(),
                        ));
                        continue;
                    };
                    let name = format!("{call:?}").chars().take(40).collect::<String>();
                    let r = self.chain.submit(from, 0, call);
                    self.trace(|| format!("node {i} submits {name}: {r:?}", r = r.as_ref().err()));
                }
                Action::Send { to, mut bytes } => {
                    self.privacy_scan(i, "message", &bytes);
                    self.observe(&bytes);
                    self.note_sent(i, &bytes);
                    if self.nodes[i].tampers && !bytes.is_empty() {
                        let k = bytes.len() / 2;
                        bytes[k] ^= 1;
                    }
                    if self.partitioned(Some(from), to) {
                        continue;
                    }
                    self.send_packet(to, bytes, true, false);
                }
            }
        }
    }

    fn privacy_scan(&mut self, i: usize, what: &str, bytes: &[u8]) {
        if contains(bytes, MARKER) {
            self.fail(Failure::Correctness(format!(
                "privacy: plaintext input or state in a {what} leaving node {i}"
            )));
        }
    }

    /// Records acks and state lineage from what enclaves send (before the network alters it).
    fn observe(&mut self, bytes: &[u8]) {
        match Message::decode(bytes) {
            Ok(Message::Update(u)) => {
                if u.kind == UpdateKind::Next {
                    self.lineage.insert(u.new_hash, (u.seq, u.prev_hash));
                } else {
                    self.lineage
                        .entry(u.new_hash)
                        .or_insert((u.seq, Hash32::default()));
                }
            }
            Ok(Message::Ack(a)) => {
                match self.acks.get(&(a.cid, a.epoch, a.seq)) {
                    Some(h) if *h != a.state_hash => {
                        let (e, s) = (a.epoch, a.seq);
                        self.fail(Failure::Correctness(format!(
                            "one history: two states acked at epoch {} seq {}",
                            e.0, s.0
                        )));
                        return;
                    }
                    Some(_) => return,
                    None => {
                        self.acks.insert((a.cid, a.epoch, a.seq), a.state_hash);
                    }
                }
                self.check_acked(a.cid, a.epoch, a.seq, a.state_hash);
            }
            _ => {}
        }
    }

    /// `(seq, hash)` is an ancestor of (or equal to) `h` at `s`.
    fn descends(&self, anc_seq: Seq, anc: Hash32, s: Seq, h: Hash32) -> Option<bool> {
        let (mut cs, mut ch) = (s, h);
        let mut steps = 0;
        while cs > anc_seq {
            let (ps, ph) = self.lineage.get(&ch).copied()?;
            if ps != cs || ph == Hash32::default() {
                return None;
            }
            cs = Seq(cs.0 - 1);
            ch = ph;
            steps += 1;
            if steps > 100_000 {
                return None;
            }
        }
        Some(cs == anc_seq && ch == anc)
    }

    fn check_acked(&mut self, cid: ContractId, e: Epoch, s: Seq, h: Hash32) {
        let Some(receipts) = self.receipts.get(&cid) else {
            return;
        };
        let Some(&(re, rs, rh)) = receipts
            .iter()
            .filter(|(re, _, _)| *re <= e)
            .max_by_key(|(_, rs, _)| *rs)
        else {
            return;
        };
        if s < rs {
            if e > re {
                self.fail(Failure::Correctness(format!(
                    "lost answer: epoch {} acked seq {} behind answered seq {} of epoch {}",
                    e.0, s.0, rs.0, re.0
                )));
            }
            return;
        }
        if self.descends(rs, rh, s, h) == Some(false) {
            self.fail(Failure::Correctness(format!(
                "one history: state acked at epoch {} seq {} does not descend from the answered state at seq {}",
                e.0, s.0, rs.0
            )));
        }
    }

    fn check_receipt(&mut self, cid: ContractId, e: Epoch, s: Seq, h: Hash32) {
        let best = self
            .receipts
            .get(&cid)
            .and_then(|v| v.iter().max_by_key(|(_, rs, _)| *rs).copied());
        if let Some((_, rs, rh)) = best {
            let ok = if s >= rs {
                self.descends(rs, rh, s, h)
            } else {
                self.descends(s, h, rs, rh)
            };
            if ok == Some(false) {
                self.fail(Failure::Correctness(format!(
                    "one history: receipt at epoch {} seq {} conflicts with the receipt at seq {}",
                    e.0, s.0, rs.0
                )));
            }
        }
        if self.acks.get(&(cid, e, s)).is_some_and(|x| *x != h) {
            self.fail(Failure::Correctness(format!(
                "one history: receipt at epoch {} seq {} differs from the acked state",
                e.0, s.0
            )));
        }
        self.receipts.entry(cid).or_default().push((e, s, h));
    }

    /// Exactly once and conservation on every changed state.
    fn check_states(&mut self) {
        for cid in self.cids.clone() {
            self.check_states_of(cid);
        }
    }

    fn check_states_of(&mut self, cid: ContractId) {
        let Some(c) = self.chain.contracts.get(&cid) else {
            return;
        };
        if c.paid_wei > c.deposited_wei {
            self.fail(Failure::Correctness(
                "conservation: chain paid more than deposited".into(),
            ));
            return;
        }
        let prefix = self.deposits_prefix.entry(cid).or_insert_with(|| vec![0]);
        while prefix.len() <= c.log.len() {
            let k = prefix.len() - 1;
            let add = match c.log[k].call() {
                Ok(ManagerCall::Deposit { .. }) => c.log[k].value_wei,
                _ => 0,
            };
            let last = prefix[k];
            prefix.push(last + add);
        }
        let prefix = prefix.clone();
        let mut max_decided = self.max_decided.get(&cid).copied().unwrap_or(0);
        let paid = c.paid_wei;
        let mut problems = Vec::new();
        for i in 0..self.nodes.len() {
            let Some(e) = &self.nodes[i].enclave else {
                continue;
            };
            let Some((head, he)) = e.head(cid) else {
                continue;
            };
            // A forging host's enclave computes on the chain it was shown, not the chain's.
            let forged = self.hostile.forges(i);
            if !forged {
                max_decided = max_decided.max(head.payouts_decided_wei);
            }
            let key = (he, head.seq, head.chain_pos);
            if self.head_seen.get(&(i, cid)) == Some(&key) {
                continue;
            }
            self.head_seen.insert((i, cid), key);
            for (k, v) in &head.contract().storage {
                if k.starts_with(b"x/") && v.as_slice() != 1u64.to_be_bytes() {
                    problems.push(format!(
                        "exactly once: node {i} seq {} executed a request {} times",
                        head.seq.0,
                        u64::from_be_bytes(v.as_slice().try_into().unwrap_or([0; 8]))
                    ));
                }
            }
            let inside = head.contract().total_balance_wei();
            if inside + head.payouts_decided_wei != head.deposits_credited_wei {
                problems.push(format!(
                    "conservation: node {i} seq {}: balances {inside} + payouts {} != credited {}",
                    head.seq.0, head.payouts_decided_wei, head.deposits_credited_wei
                ));
            }
            let expect = prefix
                .get(head.chain_pos as usize)
                .copied()
                .unwrap_or(u128::MAX);
            if head.deposits_credited_wei != expect && !forged {
                problems.push(format!(
                    "conservation: node {i} seq {} credited {} but the chain took {expect}",
                    head.seq.0, head.deposits_credited_wei
                ));
            }
        }
        self.max_decided.insert(cid, max_decided);
        if paid > max_decided {
            problems.push(format!(
                "conservation: chain paid {paid} but enclaves decided only {max_decided}"
            ));
        }
        if let Some(p) = problems.into_iter().next() {
            self.fail(Failure::Correctness(p));
        }
    }

    fn final_checks(&mut self) {
        // Every receipted request is in its executor's latest state (no lost answer).
        for cid in self.cids.clone() {
            let Some(ex) = self.chain.contracts.get(&cid).and_then(|c| c.executor()) else {
                continue;
            };
            let Some(i) = self.by_addr.get(&ex).copied() else {
                continue;
            };
            let Some((head, _)) = self.nodes[i].enclave.as_ref().and_then(|e| e.head(cid)) else {
                continue;
            };
            let missing = self
                .receipted
                .iter()
                .filter(|(c, _, _)| *c == cid)
                .find(|(_, u, n)| !head.has_executed(u, *n))
                .copied();
            if let Some((_, u, n)) = missing {
                self.fail(Failure::Correctness(format!(
                    "lost answer: receipted request {u}/{n} missing from the state of the executor of {cid:?}"
                )));
                return;
            }
        }
        self.check_receipts_held();
        self.check_money();
        self.check_honest_not_removed();
    }
}

/// Runs one seed.
pub fn run_seed(seed: u64, opts: &RunOptions) -> Outcome {
    World::new(seed, opts.clone()).run()
}

/// Convenience for [`ChainTx`] users of the simulator API.
pub type Tx = ChainTx;
