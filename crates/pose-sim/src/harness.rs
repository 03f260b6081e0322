//! A one-enclave harness for fuzzing the enclave's entry point: an enclave that serves a live
//! contract (a pool of one, created and deployed through the model chain) and a user who can
//! make valid requests, so arbitrary or mutated bytes meet every message handler.

use pose_enclave::chain::Params;
use pose_enclave::{
    attestation_digest, Action, Config, Deploy, Deployment, Enclave, Event, ManagerCall, Member,
    Message, Request, RequestKind, SealedInput,
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
        let enclave = Enclave::new(SimPlatform(hw), Box::new(BankEngine), config);
        let mut s = Solo {
            enclave,
            chain,
            registry,
            user,
            rng,
            now_ms: 0,
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
        match self.enclave.handle(self.now_ms, ev) {
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
                        Action::Persist { .. } => {}
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
            .map(|v| v.hashes.len())
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
