//! A one-enclave harness for fuzzing the enclave's entry point: an enclave that serves a live
//! contract (a pool of one, created and deployed through the model chain) and a user who can
//! make valid requests, so arbitrary or mutated bytes meet every message handler.

use pose_enclave::chain::Params;
use pose_enclave::{
    attestation_digest, Action, ChainTx, Config, Deploy, Deployment, Effect, Enclave, Event,
    ManagerCall, Member, Message, Request, RequestKind, SealedInput,
};
use pose_types::codec::Encode;
use pose_types::{Address, ContractId, Hash32, Seq};

use crate::bank::{bank_code_hash, BankEngine, BANK_CODE};
use crate::ideal::{self, Hardware, Identity, SharedRegistry, SimPlatform};
use crate::model::ModelChain;
use crate::rng::Rng;

/// The harness.
pub struct Solo {
    /// The enclave under test.
    pub enclave: Enclave<SimPlatform>,
    /// The model chain.
    pub chain: ModelChain,
    registry: SharedRegistry,
    user: Identity,
    rng: Rng,
    /// Simulated time, ms.
    pub now_ms: u64,
    /// The enclave's simulated TEE (its clock follows `now_ms`).
    hw: crate::ideal::SharedHardware,
    /// Valid messages seen or made, as seeds for mutation.
    pub corpus: Vec<Vec<u8>>,
    cursor: usize,
}

impl Solo {
    /// An enclave serving contract 1 with a few executed requests.
    pub fn new(seed: u64) -> Self {
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
        let hw = Hardware::new(&registry, &mut rng);
        let mut m = Member {
            address: hw.borrow().identity.address,
            enc_key: hw.borrow().enc_public,
            attestation: Vec::new(),
        };
        m.attestation = vendor.sign(&attestation_digest(&config, &m));
        let mut chain = ModelChain::new(config.clone(), registry.clone(), seed);
        chain.register(m).expect("attested enclave registers");
        let enclave = Enclave::new(SimPlatform(hw.clone()), Box::new(BankEngine), config);
        let hw = hw.clone();
        let mut s = Solo {
            enclave,
            chain,
            registry,
            user,
            rng,
            now_ms: 0,
            hw,
            corpus: Vec::new(),
            cursor: 0,
        };
        let create = ManagerCall::CreateContract {
            code_hash: bank_code_hash(),
            params: Params {
                pool_size: 1,
                ..Params::default()
            },
        };
        let ua = s.user.address;
        s.chain.submit(ua, 0, create).expect("creation");
        s.pump();
        let mut deploy = Deploy {
            cid: ContractId(1),
            code: BANK_CODE.to_vec(),
            init_input: Vec::new(),
            sig: Vec::new(),
        };
        deploy.sig = s.user.sign(&deploy.digest());
        let deploy = Message::Deploy(deploy).encode();
        s.feed_event(Event::Message(deploy));
        s.pump();
        s.chain
            .submit(ua, 100, ManagerCall::Deposit { cid: ContractId(1) })
            .expect("deposit");
        for _ in 0..3 {
            let r = s.request(b'A');
            s.corpus.push(r.clone());
            s.feed_event(Event::Message(r));
            s.pump();
        }
        s
    }

    /// A valid signed request of the user.
    pub fn request(&mut self, op: u8) -> Vec<u8> {
        let nonce = self.rng.next_u64();
        let mut input = vec![op];
        input.extend_from_slice(&nonce.to_be_bytes());
        input.extend_from_slice(b"fuzz");
        let plain = SealedInput {
            cid: ContractId(1),
            user: self.user.address,
            nonce,
            kind: RequestKind::Call,
            reply_key: [1u8; 32],
            input,
        }
        .to_bytes();
        let key = self
            .chain
            .contracts
            .get(&ContractId(1))
            .and_then(|c| c.contract_key)
            .unwrap_or([0; 32]);
        let body = ideal::box_seal(&self.registry.borrow(), &mut self.rng, &key, &plain);
        let mut req = Request {
            cid: ContractId(1),
            user: self.user.address,
            nonce,
            kind: RequestKind::Call,
            body,
            sig: Vec::new(),
        };
        req.sig = self.user.sign(&req.digest());
        Message::Request(req).encode()
    }

    /// Delivers one event; submits its chain transactions; keeps what it sent as corpus.
    pub fn feed_event(&mut self, ev: Event) -> bool {
        self.now_ms += 50;
        self.chain.advance(self.now_ms);
        self.hw.borrow_mut().clock_ms = self.now_ms;
        match self.enclave.handle(ev) {
            Ok(actions) => {
                let me = self.enclave.address();
                for a in actions {
                    match a {
                        Action::Submit { calldata } => {
                            if let Ok(call) = ManagerCall::decode(&calldata) {
                                let _ = self.chain.submit(me, 0, call);
                            }
                        }
                        Action::Send { bytes, .. } => {
                            if self.corpus.len() < 64 {
                                self.corpus.push(bytes);
                            }
                        }
                        Action::Persist { .. } | Action::Stalled { .. } => {}
                    }
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Hands the enclave every chain transaction it has not seen and ticks it.
    pub fn pump(&mut self) {
        for _ in 0..4 {
            let log = self.chain.contracts[&ContractId(1)].log.clone();
            while self.cursor < log.len() {
                let tx = log[self.cursor].encode();
                self.cursor += 1;
                self.feed_event(Event::Chain(tx));
            }
            self.feed_event(Event::Tick);
        }
    }

    /// What a rejected event must leave unchanged.
    pub fn fingerprint(&self) -> (Seq, Hash32, usize) {
        let (seq, hash) = self
            .enclave
            .head(ContractId(1))
            .map(|(h, _)| (h.seq, h.hash()))
            .unwrap_or_default();
        let n = self
            .enclave
            .view(ContractId(1))
            .map(|v| v.chain_len() as usize)
            .unwrap_or(0);
        (seq, hash, n)
    }

    /// The fuzz step: the first byte picks how `data` reaches the enclave (raw message, raw
    /// chain transaction, or a corpus message with `data` xored into it). Panics if a rejected
    /// event changed the enclave.
    pub fn fuzz(&mut self, data: &[u8]) {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let ev = match mode % 3 {
            0 => Event::Message(rest.to_vec()),
            1 => Event::Chain(rest.to_vec()),
            _ => {
                if self.corpus.is_empty() {
                    return;
                }
                let k = rest.first().copied().unwrap_or(0) as usize % self.corpus.len();
                let mut m = self.corpus[k].clone();
                for (i, b) in rest.iter().enumerate().skip(1) {
                    let n = m.len().max(1);
                    if let Some(x) = m.get_mut((i * 31 + *b as usize) % n) {
                        *x ^= *b;
                    }
                }
                Event::Message(m)
            }
        };
        let before = self.fingerprint();
        if !self.feed_event(ev) {
            assert_eq!(
                before,
                self.fingerprint(),
                "a rejected event changed the enclave"
            );
        }
    }
}

/// Reads the fuzzer's bytes one value at a time; runs out into zeros.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.u8()))
    }
    fn hash(&mut self) -> Hash32 {
        let mut h = [0u8; 32];
        h[0] = self.u8();
        h[31] = self.u8();
        Hash32(h)
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = usize::from(self.u8() % 80);
        (0..n).map(|_| self.u8()).collect()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Solo {
    /// A chain transaction the host invents: any manager call with fields from `b`, at the next
    /// index, with any sender, value, block time and number and effect.
    fn forged_chain_tx(&mut self, b: &mut Bytes<'_>) -> ChainTx {
        let cid = ContractId(1);
        let index = self.enclave.view(cid).map(|v| v.chain_len()).unwrap_or(0);
        let me = self.enclave.address();
        let who = match b.u8() % 3 {
            0 => me,
            1 => self.user.address,
            _ => Address([b.u8(); 20]),
        };
        let sig = match b.u8() % 3 {
            0 => self.user.sign(&b.hash()),
            1 => vec![b.u8(); 65],
            _ => b.bytes(),
        };
        let call = match b.u8() % 11 {
            0 => ManagerCall::CreateContract {
                code_hash: bank_code_hash(),
                params: Params::default(),
            },
            1 => ManagerCall::CompleteCreation {
                cid,
                contract_key: [b.u8(); 32],
                init_state_hash: b.hash(),
                tx_hash: b.hash(),
                sigs: vec![sig],
            },
            2 => ManagerCall::Deposit { cid },
            3 => ManagerCall::Challenge {
                cid,
                request: if b.u8().is_multiple_of(2) && !self.corpus.is_empty() {
                    let k = usize::from(b.u8()) % self.corpus.len();
                    self.corpus[k].clone()
                } else {
                    b.bytes()
                },
            },
            4 => ManagerCall::Respond {
                cid,
                challenge_id: b.u64() % 4,
                reply: b.bytes(),
                seq: Seq(b.u64() % 8),
                state_hash: b.hash(),
                tx_hash: b.hash(),
                sig,
            },
            5 => ManagerCall::TimeoutChallenge {
                cid,
                challenge_id: b.u64() % 4,
            },
            6 => ManagerCall::ChallengeMember {
                cid,
                member: who,
                tx_hash: b.hash(),
                sig,
            },
            7 => ManagerCall::RespondMember {
                cid,
                member: who,
                seq: Seq(b.u64() % 8),
                state_hash: b.hash(),
                tx_hash: b.hash(),
                sig,
            },
            8 => ManagerCall::RemoveMember { cid, member: who },
            9 => ManagerCall::Withdraw {
                cid,
                recipient: who,
                amount_wei: u128::from(b.u8()),
                nonce: b.u64() % 8,
                tx_hash: b.hash(),
                sig,
            },
            _ => ManagerCall::Terminate {
                cid,
                payouts: Vec::new(),
                tx_hash: b.hash(),
                sig,
            },
        };
        let effect = match b.u8() % 4 {
            0 => Effect::None,
            1 => Effect::ChallengeOpened {
                challenge_id: b.u64() % 4,
            },
            2 => Effect::MemberRemoved { replacement: None },
            _ => Effect::Created { pool: Vec::new() },
        };
        ChainTx {
            cid,
            index,
            calldata: call.encode(),
            sender: who,
            value_wei: u128::from(b.u8()),
            block_number: b.u64() % 1_000,
            block_time_secs: b.u64() % 100_000,
            effect,
        }
    }

    /// The fuzz step of a host that lies about everything: `data` is a sequence of steps, each
    /// an invented chain transaction (any call, sender, value, block time, effect, at the next
    /// index), a mutated protocol message, a fresh valid request, the real chain's
    /// transactions, or time passing. Nothing may panic and a rejected event must leave the
    /// enclave unchanged.
    pub fn fuzz_hostile_host(&mut self, data: &[u8]) {
        let mut b = Bytes(data);
        let mut steps = 0;
        while !b.is_empty() && steps < 64 {
            steps += 1;
            let ev = match b.u8() % 5 {
                0 => {
                    let tx = self.forged_chain_tx(&mut b);
                    Event::Chain(tx.encode())
                }
                1 => {
                    if self.corpus.is_empty() {
                        continue;
                    }
                    let k = usize::from(b.u8()) % self.corpus.len();
                    let mut m = self.corpus[k].clone();
                    let n = m.len().max(1);
                    let at = usize::from(b.u8()) * 131 % n;
                    if let Some(x) = m.get_mut(at) {
                        *x ^= b.u8();
                    }
                    Event::Message(m)
                }
                2 => Event::Message(self.request(b'A')),
                3 => {
                    self.pump();
                    continue;
                }
                _ => {
                    self.now_ms += u64::from(b.u8()) * 250;
                    Event::Tick
                }
            };
            let before = self.fingerprint();
            if !self.feed_event(ev) {
                assert_eq!(
                    before,
                    self.fingerprint(),
                    "a rejected event changed the enclave"
                );
            }
        }
    }
}
