//! An in-process pool for measuring what a call costs as a contract ages: enclaves of one pool
//! on the model chain, messages delivered at once and in order, no faults. It counts the bytes
//! of every state update the executor sends and of every blob its host must seal, per call, so
//! that their growth with the contract's history can be tabulated (`tests/update_size.rs`).

use std::collections::VecDeque;

use pose_enclave::chain::Params;
use pose_enclave::{
    attestation_digest, Action, Config, Deploy, Deployment, Enclave, Event, ManagerCall, Member,
    Message, Request, RequestKind, SealedInput, UpdateKind,
};
use pose_types::codec::Encode;
use pose_types::{Address, ContractId};

use crate::bank::{bank_code_hash, BankEngine, BANK_CODE};
use crate::ideal::{self, Hardware, Identity, SharedHardware, SharedRegistry, SimPlatform};
use crate::model::ModelChain;
use crate::rng::Rng;

/// What one call cost the executor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCost {
    /// Bytes of the encoded `next` updates the executor sent for it, per member.
    pub update_bytes: usize,
    /// Bytes of the blobs the executor's host was asked to seal while it ran.
    pub sealed_bytes: usize,
    /// Entries of the executor's state after it.
    pub state_entries: usize,
    /// Limits the executor reported running into ([`pose_enclave::Action::Stalled`]).
    pub stalls: usize,
}

/// The pool.
pub struct PoolBench {
    enclaves: Vec<Enclave<SimPlatform>>,
    hardware: Vec<SharedHardware>,
    chain: ModelChain,
    registry: SharedRegistry,
    user: Identity,
    rng: Rng,
    now_ms: u64,
    cursor: Vec<usize>,
    nonce: u64,
    cid: ContractId,
}

impl PoolBench {
    /// A pool of `size` enclaves serving one freshly deployed bank contract.
    pub fn new(size: usize, seed: u64) -> Self {
        let registry: SharedRegistry = Default::default();
        let mut rng = Rng::new(seed);
        let vendor = Identity::new(&registry, &mut rng);
        let user = Identity::new(&registry, &mut rng);
        let config = Config {
            deployment: Deployment {
                chain_id: 5,
                manager: Address([9; 20]),
            },
            vendor: vendor.address,
            ..Config::default()
        };
        let mut chain = ModelChain::new(config.clone(), registry.clone(), seed);
        let mut enclaves = Vec::new();
        let mut hardware = Vec::new();
        for i in 0..size {
            let hw = Hardware::new(&registry, &mut rng);
            let mut m = Member {
                address: hw.borrow().identity.address,
                enc_key: hw.borrow().enc_public,
                attestation: Vec::new(),
            };
            m.attestation = vendor.sign(&attestation_digest(&config, &m));
            // One enclave per operator: the draw counts operators.
            chain
                .register_by(Address([i as u8 + 1; 20]), m)
                .expect("an attested enclave registers");
            enclaves.push(Enclave::new(
                SimPlatform(hw.clone()),
                Box::new(BankEngine),
                config.clone(),
            ));
            hardware.push(hw);
        }
        let mut p = PoolBench {
            enclaves,
            hardware,
            chain,
            registry,
            user,
            rng,
            now_ms: 0,
            cursor: vec![0; size],
            nonce: 0,
            cid: ContractId(1),
        };
        let create = ManagerCall::CreateContract {
            code_hash: bank_code_hash(),
            params: Params {
                pool_size: size as u8,
                ..Params::default()
            },
        };
        let ua = p.user.address;
        p.cid = p.chain.submit(ua, 0, create).expect("creation").cid;
        p.settle();
        let mut deploy = Deploy {
            cid: p.cid,
            code: BANK_CODE.to_vec(),
            init_input: Vec::new(),
            sig: Vec::new(),
        };
        deploy.sig = p.user.sign(&deploy.digest());
        let to = p.executor();
        p.deliver(to, Message::Deploy(deploy).encode());
        p.settle();
        p.chain
            .submit(ua, 1_000_000, ManagerCall::Deposit { cid: p.cid })
            .expect("deposit");
        p.settle();
        p
    }

    fn executor(&self) -> usize {
        let ex = self.chain.contracts[&self.cid].executor();
        self.enclaves
            .iter()
            .position(|e| Some(e.address()) == ex)
            .expect("the executor is in the pool")
    }

    /// Delivers one event to enclave `i`, routes what it asks for, and returns the cost it
    /// caused (its own sends and seals).
    fn deliver_event(
        &mut self,
        i: usize,
        ev: Event,
        queue: &mut VecDeque<(usize, Vec<u8>)>,
    ) -> CallCost {
        let mut cost = CallCost::default();
        let Ok(actions) = self.enclaves[i].handle(ev) else {
            return cost;
        };
        let me = self.enclaves[i].address();
        for a in actions {
            match a {
                Action::Send { to, bytes } => {
                    if let Ok(Message::Update(u)) = Message::decode(&bytes) {
                        if u.kind == UpdateKind::Next {
                            cost.update_bytes = cost.update_bytes.max(bytes.len());
                        }
                    }
                    if let Some(j) = self.enclaves.iter().position(|e| e.address() == to) {
                        queue.push_back((j, bytes));
                    }
                }
                Action::Submit { calldata } => {
                    if let Ok(call) = ManagerCall::decode(&calldata) {
                        let _ = self.chain.submit(me, 0, call);
                    }
                }
                Action::Persist { blob } => cost.sealed_bytes += blob.len(),
                Action::Stalled { .. } => cost.stalls += 1,
            }
        }
        cost
    }

    fn deliver(&mut self, to: usize, bytes: Vec<u8>) -> CallCost {
        let mut queue = VecDeque::from([(to, bytes)]);
        self.drain(&mut queue)
    }

    /// Delivers queued messages and new chain transactions until nothing moves; sums the
    /// executor's costs.
    fn drain(&mut self, queue: &mut VecDeque<(usize, Vec<u8>)>) -> CallCost {
        let ex = self.executor();
        let mut total = CallCost::default();
        let add = |t: &mut CallCost, i: usize, c: CallCost| {
            if i == ex {
                t.update_bytes += c.update_bytes;
                t.sealed_bytes += c.sealed_bytes;
            }
        };
        loop {
            while let Some((i, bytes)) = queue.pop_front() {
                self.tick_clock();
                let c = self.deliver_event(i, Event::Message(bytes), queue);
                add(&mut total, i, c);
            }
            let mut moved = false;
            for i in 0..self.enclaves.len() {
                let log = &self.chain.contracts[&self.cid].log;
                if self.cursor[i] < log.len() {
                    let tx = log[self.cursor[i]].encode();
                    self.cursor[i] += 1;
                    self.tick_clock();
                    let c = self.deliver_event(i, Event::Chain(tx), queue);
                    add(&mut total, i, c);
                    moved = true;
                }
            }
            if !moved && queue.is_empty() {
                break;
            }
        }
        total
    }

    fn tick_clock(&mut self) {
        self.now_ms += 1;
        self.chain.advance(self.now_ms);
        for hw in &self.hardware {
            hw.borrow_mut().clock_ms = self.now_ms;
        }
    }

    /// Runs everything that is due (chain transactions, ticks) until the pool is quiet.
    pub fn settle(&mut self) {
        for _ in 0..8 {
            let mut queue = VecDeque::new();
            for i in 0..self.enclaves.len() {
                self.tick_clock();
                let _ = self.deliver_event(i, Event::Tick, &mut queue);
            }
            self.drain(&mut queue);
        }
    }

    /// One call of the user (the bank's `A`: store `payload` under the caller, count the
    /// call) through the executor, until it is answered; returns what it cost.
    pub fn call(&mut self, payload: &[u8]) -> CallCost {
        self.nonce += 1;
        let nonce = self.nonce;
        let mut input = vec![b'A'];
        input.extend_from_slice(&nonce.to_be_bytes());
        input.extend_from_slice(payload);
        let plain = SealedInput {
            cid: self.cid,
            user: self.user.address,
            nonce,
            kind: RequestKind::Call,
            reply_key: [1u8; 32],
            input,
        }
        .to_bytes();
        let key = self.chain.contracts[&self.cid]
            .contract_key
            .expect("the contract is created");
        let body = ideal::box_seal(&self.registry.borrow(), &mut self.rng, &key, &plain);
        let mut req = Request {
            cid: self.cid,
            user: self.user.address,
            nonce,
            kind: RequestKind::Call,
            body,
            sig: Vec::new(),
        };
        req.sig = self.user.sign(&req.digest());
        let ex = self.executor();
        let mut cost = self.deliver(ex, Message::Request(req).encode());
        // Acks commit on the executor's next event.
        let mut queue = VecDeque::new();
        self.tick_clock();
        let c = self.deliver_event(ex, Event::Tick, &mut queue);
        cost.update_bytes += c.update_bytes;
        cost.sealed_bytes += c.sealed_bytes;
        let rest = self.drain(&mut queue);
        cost.update_bytes += rest.update_bytes;
        cost.sealed_bytes += rest.sealed_bytes;
        cost.state_entries = self.enclaves[ex]
            .head(self.cid)
            .map(|(h, _)| h.entry_count())
            .unwrap_or(0);
        cost
    }

    /// One deposit of the user on-chain, folded by the pool.
    pub fn deposit(&mut self) {
        let ua = self.user.address;
        self.chain
            .submit(ua, 1, ManagerCall::Deposit { cid: self.cid })
            .expect("deposit");
        self.settle();
    }

    /// The most chain transactions any member keeps in its view, and the most it has seen.
    pub fn chain_log(&self) -> (usize, u64) {
        let views = self.enclaves.iter().filter_map(|e| e.view(self.cid));
        views.fold((0, 0), |(k, n), v| {
            (k.max(v.log.len()), n.max(v.chain_len()))
        })
    }

    /// The executor's committed sequence number.
    pub fn committed_seq(&self) -> u64 {
        self.enclaves[self.executor()]
            .committed_seq(self.cid)
            .map(|s| s.0)
            .unwrap_or(0)
    }
}
