//! The protocol on real cryptography: enclaves on `pose-tee`'s software TEE through
//! [`TeePlatform`] (secp256k1 signatures, X25519 sealed boxes, XChaCha20-Poly1305, counter-
//! protected sealing), the model chain checking signatures with `ecrecover` semantics. Covers
//! creation, a call answered off-chain, a silent executor replaced after a challenge and the
//! challenge answered on-chain by the next member, sealed-state rollback refusal, and an
//! example Wasm contract on the real engine paying out through the manager.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use pose_crypto::aead::{seal_to, AeadKey};
use pose_crypto::onchain::Domain;
use pose_crypto::sig::{self, SigningKey};
use pose_enclave::chain::Params;
use pose_enclave::{
    Action, Config, Deploy, Deployment, Enclave, Event, ManagerCall, Member, Message, Phase,
    Platform, Reply, Request, RequestKind, SealError, SealedInput, TeePlatform,
};
use pose_runtime::{ContractEngine, WasmtimeEngine};
use pose_sim::bank::{bank_code_hash, BankEngine, BANK_CODE};
use pose_sim::model::ModelChain;
use pose_tee::{ManualClock, Randomness, SoftwarePlatform, SoftwareTee, Tee, Vendor};
use pose_types::codec::Encode;
use pose_types::{Address, ContractId, EncPublicKey, SignatureBytes};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const MARKER: &[u8] = b"@@REAL-TEE-SECRET@@";
const CID: ContractId = ContractId(1);

type Node = Enclave<TeePlatform<SoftwareTee>>;

struct Net {
    nodes: Vec<Node>,
    by_addr: BTreeMap<Address, usize>,
    cursor: Vec<usize>,
    silent: BTreeSet<usize>,
    chain: ModelChain,
    queue: VecDeque<(Address, Vec<u8>)>,
    user: Address,
    user_inbox: Vec<Vec<u8>>,
    now_ms: u64,
    /// The TEEs' clock (shared by the three software TEEs; follows `now_ms`).
    clock: ManualClock,
}

impl Net {
    fn new() -> Self {
        Self::with_engine(|| Box::new(BankEngine))
    }

    fn with_engine(engine: impl Fn() -> Box<dyn ContractEngine + Send>) -> Self {
        let vendor = Vendor::new(SigningKey::from_bytes(&[7; 32]).expect("vendor key"));
        let deployment = Deployment {
            chain_id: 31337,
            manager: Address([0x42; 20]),
        };
        let domain = Domain {
            chain_id: deployment.chain_id,
            manager: deployment.manager,
        };
        let mut nodes = Vec::new();
        let mut members = Vec::new();
        let mut config = Config::default();
        let clock = ManualClock::new(0);
        for i in 0..3u8 {
            let platform = SoftwarePlatform::new([i + 1; 32], vendor.clone());
            let tee = SoftwareTee::create(
                platform,
                b"pose-enclave",
                Randomness::Seeded([i + 10; 32]),
                clock.clone(),
            );
            let att = vendor.issue(
                &domain,
                &tee.measurement(),
                &tee.address(),
                &tee.enc_public_key(),
            );
            config = Config {
                deployment,
                vendor: vendor.address(),
                measurement: tee.measurement(),
                ack_timeout_ms: 2_000,
                bug: None,
            };
            members.push(Member {
                address: tee.address(),
                enc_key: tee.enc_public_key().0,
                attestation: att.vendor_signature.0.to_vec(),
            });
            nodes.push(Enclave::new(
                TeePlatform::new(tee),
                engine(),
                config.clone(),
            ));
        }
        let mut chain = ModelChain::new(config, Default::default(), 1);
        chain.use_real_signatures();
        let mut by_addr = BTreeMap::new();
        for (i, m) in members.into_iter().enumerate() {
            by_addr.insert(m.address, i);
            chain.register(m).expect("a genuine attestation registers");
        }
        Net {
            nodes,
            by_addr,
            cursor: vec![0; 3],
            silent: BTreeSet::new(),
            chain,
            queue: VecDeque::new(),
            user: Address::default(),
            user_inbox: Vec::new(),
            now_ms: 0,
            clock,
        }
    }

    fn perform(&mut self, i: usize, actions: Vec<Action>) {
        let me = self.nodes[i].address();
        for a in actions {
            match a {
                Action::Send { to, bytes } => {
                    assert!(
                        !bytes.windows(MARKER.len()).any(|w| w == MARKER),
                        "plaintext left an enclave"
                    );
                    self.queue.push_back((to, bytes));
                }
                Action::Submit { calldata } => {
                    let call = ManagerCall::decode(&calldata).expect("enclave calldata decodes");
                    let _ = self.chain.submit(me, 0, call);
                }
                Action::Persist { blob } => {
                    assert!(!blob.windows(MARKER.len()).any(|w| w == MARKER));
                }
                Action::Stalled { .. } => {}
            }
        }
    }

    fn handle(&mut self, i: usize, ev: Event) {
        if self.silent.contains(&i) {
            return;
        }
        self.clock.set(self.now_ms);
        if let Ok(actions) = self.nodes[i].handle(ev) {
            self.perform(i, actions);
        }
    }

    fn step(&mut self) {
        self.now_ms += 50;
        self.chain.advance(self.now_ms);
        let log = self
            .chain
            .contracts
            .get(&CID)
            .map(|c| c.log.clone())
            .unwrap_or_default();
        for i in 0..self.nodes.len() {
            while self.cursor[i] < log.len() {
                let tx = log[self.cursor[i]].encode();
                self.cursor[i] += 1;
                self.handle(i, Event::Chain(tx));
            }
        }
        let n = self.queue.len();
        for _ in 0..n {
            let Some((to, bytes)) = self.queue.pop_front() else {
                break;
            };
            if to == self.user {
                self.user_inbox.push(bytes);
            } else if let Some(&i) = self.by_addr.get(&to) {
                self.handle(i, Event::Message(bytes));
            }
        }
        if self.now_ms.is_multiple_of(250) {
            for i in 0..self.nodes.len() {
                self.handle(i, Event::Tick);
            }
        }
    }

    fn run_until(&mut self, max_ms: u64, mut done: impl FnMut(&mut Net) -> bool) {
        let end = self.now_ms + max_ms;
        while self.now_ms < end {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!("condition not reached within {max_ms} ms");
    }

    fn executor(&self) -> usize {
        let ex = self.chain.contracts[&CID]
            .executor()
            .expect("pool not empty");
        self.by_addr[&ex]
    }
}

/// The creator's signed deployment of `code` (empty init input).
fn signed_deploy(creator: &SigningKey, code: Vec<u8>) -> Vec<u8> {
    let mut d = Deploy {
        cid: CID,
        code,
        init_input: Vec::new(),
        sig: Vec::new(),
    };
    d.sig = creator.sign_digest(&d.digest()).0.to_vec();
    Message::Deploy(d).encode()
}

fn request(net: &Net, user: &SigningKey, nonce: u64, rng: &mut ChaCha20Rng) -> (Request, [u8; 32]) {
    let mut input = vec![b'A'];
    input.extend_from_slice(&nonce.to_be_bytes());
    input.extend_from_slice(MARKER);
    request_with(net, user, nonce, RequestKind::Call, &input, rng)
}

fn request_with(
    net: &Net,
    user: &SigningKey,
    nonce: u64,
    kind: RequestKind,
    input: &[u8],
    rng: &mut ChaCha20Rng,
) -> (Request, [u8; 32]) {
    let key = net.chain.contracts[&CID]
        .contract_key
        .expect("creation completed");
    let reply_key = [nonce as u8 + 100; 32];
    let plain = SealedInput {
        cid: CID,
        user: user.address(),
        nonce,
        kind,
        reply_key,
        input: input.to_vec(),
    }
    .to_bytes();
    let body = seal_to(&EncPublicKey(key), b"pose.box.v1", &plain, rng).expect("sealed box");
    let mut req = Request {
        cid: CID,
        user: user.address(),
        nonce,
        kind,
        body,
        sig: Vec::new(),
    };
    req.sig = user.sign_digest(&req.digest()).0.to_vec();
    (req, reply_key)
}

fn open_reply(r: &Reply, req: &Request, reply_key: &[u8; 32]) -> Vec<u8> {
    let sig = SignatureBytes(r.sig.as_slice().try_into().expect("65-byte signature"));
    sig::verify(&r.digest(), &sig, &r.executor).expect("receipt signed by the executor");
    assert_eq!(r.request_digest, req.digest());
    let mut ad = r.output[..24].to_vec();
    ad.extend_from_slice(&r.request_digest.0);
    AeadKey::from_bytes(*reply_key)
        .decrypt(&ad, &r.output[24..])
        .expect("output opens with the reply key")
}

#[test]
fn protocol_runs_on_real_crypto_through_an_executor_change() {
    let mut net = Net::new();
    let user = SigningKey::from_bytes(&[9; 32]).expect("user key");
    net.user = user.address();
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let params = Params {
        pool_size: 2,
        response_period_secs: 5,
        member_response_period_secs: 5,
        confirmations: 1,
    };
    let create = ManagerCall::CreateContract {
        code_hash: bank_code_hash(),
        params,
    };
    net.chain
        .submit(net.user, 0, create)
        .expect("createContract");
    net.step();
    let ex = net.chain.contracts[&CID].executor().expect("executor");
    let deploy = signed_deploy(&user, BANK_CODE.to_vec());
    net.queue.push_back((ex, deploy));
    net.run_until(20_000, |n| {
        n.chain.contracts[&CID].phase == Phase::Executing
    });

    // A call answered off-chain after every member acked.
    let (req, key) = request(&net, &user, 1, &mut rng);
    let e = net.executor();
    net.queue.push_back((
        net.nodes[e].address(),
        Message::Request(req.clone()).encode(),
    ));
    net.run_until(10_000, |n| !n.user_inbox.is_empty());
    let Ok(Message::Reply(r)) = Message::decode(&net.user_inbox[0]) else {
        panic!("expected a reply");
    };
    let out = open_reply(&r, &req, &key);
    assert!(
        out.starts_with(MARKER),
        "the output echoes the private input"
    );

    // The executor goes silent; the user challenges, times the challenge out, and the next
    // member answers it on-chain.
    net.silent.insert(e);
    let (req2, key2) = request(&net, &user, 2, &mut rng);
    let call = ManagerCall::Challenge {
        cid: CID,
        request: req2.encode(),
    };
    net.chain.submit(net.user, 0, call).expect("challenge");
    net.run_until(30_000, |n| {
        let ch = n.chain.contracts[&CID].challenges[&1].clone();
        if ch.open && n.now_ms / 1000 > ch.deadline_secs {
            let t = ManagerCall::TimeoutChallenge {
                cid: CID,
                challenge_id: 1,
            };
            let u = n.user;
            let _ = n.chain.submit(u, 0, t);
        }
        ch.reply.is_some()
    });
    let c = &net.chain.contracts[&CID];
    assert_eq!(c.epoch.0, 1, "the executor changed once");
    assert_ne!(net.executor(), e);
    let reply = c.challenges[&1].reply.clone().expect("answered on-chain");
    let Ok(Message::Reply(r2)) = Message::decode(&reply) else {
        panic!("the on-chain response carries a reply");
    };
    let out2 = open_reply(&r2, &req2, &key2);
    assert!(out2.starts_with(MARKER));
    assert!(
        r2.seq > r.seq,
        "the new executor continued the answered history"
    );
}

#[test]
fn the_tee_refuses_a_rolled_back_blob() {
    let vendor = Vendor::new(SigningKey::from_bytes(&[7; 32]).expect("vendor key"));
    let tee = SoftwareTee::create(
        SoftwarePlatform::new([1; 32], vendor),
        b"pose-enclave",
        Randomness::Seeded([2; 32]),
        ManualClock::new(0),
    );
    let mut p = TeePlatform::new(tee);
    let old = p.seal(b"state 1").expect("seal");
    let new = p.seal(b"state 2").expect("seal");
    assert!(matches!(p.unseal(&old), Err(SealError::RolledBack { .. })));
    assert_eq!(p.unseal(&new).expect("latest opens"), b"state 2");
    let mut bad = new.clone();
    let k = bad.len() - 1;
    bad[k] ^= 1;
    assert!(p.unseal(&bad).is_err());
}

/// The real Wasm engine with an example contract (token/escrow): a deposit is credited, a
/// withdrawal decided by the contract is paid out on-chain, and a query reads the rest.
#[test]
fn a_wasm_contract_pays_out_through_the_manager() {
    let code = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/contracts/wasm/token_escrow.wasm"
    ))
    .expect("the example contract is committed");
    let code_hash = WasmtimeEngine::new()
        .expect("engine")
        .load(&code)
        .expect("the example loads");
    let mut net = Net::with_engine(|| Box::new(WasmtimeEngine::new().expect("engine")));
    let user = SigningKey::from_bytes(&[9; 32]).expect("user key");
    net.user = user.address();
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let create = ManagerCall::CreateContract {
        code_hash,
        params: Params {
            pool_size: 2,
            ..Params::default()
        },
    };
    net.chain
        .submit(net.user, 0, create)
        .expect("createContract");
    net.step();
    let ex = net.chain.contracts[&CID].executor().expect("executor");
    net.queue.push_back((ex, signed_deploy(&user, code)));
    net.run_until(20_000, |n| {
        n.chain.contracts[&CID].phase == Phase::Executing
    });
    let u = net.user;
    net.chain
        .submit(u, 100, ManagerCall::Deposit { cid: CID })
        .expect("deposit");
    // Withdraw 40 (op 2, little-endian u128).
    let mut input = vec![2u8];
    input.extend_from_slice(&40u128.to_le_bytes());
    let (req, key) = request_with(&net, &user, 1, RequestKind::Call, &input, &mut rng);
    let e = net.executor();
    net.queue.push_back((
        net.nodes[e].address(),
        Message::Request(req.clone()).encode(),
    ));
    net.run_until(20_000, |n| {
        n.chain.contracts[&CID].paid_wei == 40 && !n.user_inbox.is_empty()
    });
    assert_eq!(net.chain.paid_to.get(&u), Some(&40));
    assert_eq!(net.chain.contracts[&CID].balance_wei, 60);
    let Ok(Message::Reply(r)) = Message::decode(&net.user_inbox[0]) else {
        panic!("expected a reply");
    };
    open_reply(&r, &req, &key);
    // Query the balance left inside the contract (op 1 who:address).
    let mut q = vec![1u8];
    q.extend_from_slice(&u.0);
    let (req, key) = request_with(&net, &user, 2, RequestKind::Query, &q, &mut rng);
    net.queue.push_back((
        net.nodes[e].address(),
        Message::Request(req.clone()).encode(),
    ));
    net.run_until(5_000, |n| n.user_inbox.len() >= 2);
    let Ok(Message::Reply(r)) = Message::decode(&net.user_inbox[1]) else {
        panic!("expected a query reply");
    };
    let out = open_reply(&r, &req, &key);
    assert_eq!(
        out,
        60u128.to_le_bytes().to_vec(),
        "balance after the payout"
    );
}

/// `call` stores its 4-byte input under "k" and outputs as many bytes as the input says
/// (little-endian u32); `query` outputs `storage_len("k")` (-1: absent).
const SIZED_OUTPUT: &str = r#"(module
    (import "pose" "input_read" (func $input_read (param i32)))
    (import "pose" "output" (func $output (param i32 i32)))
    (import "pose" "storage_len" (func $len (param i32 i32) (result i64)))
    (import "pose" "storage_write" (func $write (param i32 i32 i32 i32)))
    (memory (export "memory") 2)
    (data (i32.const 0) "k")
    (func (export "call")
        (call $input_read (i32.const 16))
        (call $write (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 4))
        (call $output (i32.const 0) (i32.load (i32.const 16))))
    (func (export "query")
        (i64.store (i32.const 8) (call $len (i32.const 0) (i32.const 1)))
        (call $output (i32.const 8) (i32.const 8))))"#;

/// The largest `encryptedOutput` the manager's `respond` accepts (`MAX_OUTPUT_BYTES`).
const MANAGER_MAX_OUTPUT_BYTES: usize = 65_536;

/// Every call must be answerable on-chain: a call whose output would make its encoded reply
/// longer than the manager's `respond` accepts fails (an error output, the state unchanged),
/// and the reply that says so fits on-chain; a call just below the limit succeeds.
#[test]
fn a_call_whose_answer_would_not_fit_on_chain_fails_without_effect() {
    let code = wat::parse_str(SIZED_OUTPUT).expect("valid wat");
    let code_hash = WasmtimeEngine::new()
        .expect("engine")
        .load(&code)
        .expect("the contract loads");
    let mut net = Net::with_engine(|| Box::new(WasmtimeEngine::new().expect("engine")));
    let user = SigningKey::from_bytes(&[9; 32]).expect("user key");
    net.user = user.address();
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let create = ManagerCall::CreateContract {
        code_hash,
        params: Params {
            pool_size: 2,
            ..Params::default()
        },
    };
    net.chain
        .submit(net.user, 0, create)
        .expect("createContract");
    net.step();
    let ex = net.chain.contracts[&CID].executor().expect("executor");
    net.queue.push_back((ex, signed_deploy(&user, code)));
    net.run_until(20_000, |n| {
        n.chain.contracts[&CID].phase == Phase::Executing
    });
    let e = net.executor();
    let mut ask = |net: &mut Net, nonce: u64, kind: RequestKind, input: &[u8]| {
        let (req, key) = request_with(net, &user, nonce, kind, input, &mut rng);
        let before = net.user_inbox.len();
        net.queue.push_back((
            net.nodes[e].address(),
            Message::Request(req.clone()).encode(),
        ));
        net.run_until(20_000, |n| n.user_inbox.len() > before);
        let bytes = net.user_inbox[before].clone();
        let Ok(Message::Reply(r)) = Message::decode(&bytes) else {
            panic!("expected a reply");
        };
        (bytes.len(), open_reply(&r, &req, &key))
    };

    let (reply_len, out) = ask(&mut net, 1, RequestKind::Call, &70_000u32.to_le_bytes());
    assert!(
        reply_len <= MANAGER_MAX_OUTPUT_BYTES,
        "the reply of {reply_len} bytes does not fit in `respond`"
    );
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(
        text.starts_with("error") && text.contains("output of 70000 bytes"),
        "the call fails with a clear error: {text}"
    );
    let (_, len) = ask(&mut net, 2, RequestKind::Query, &[]);
    assert_eq!(
        len,
        (-1i64).to_le_bytes(),
        "the failed call changed nothing"
    );

    let (reply_len, out) = ask(&mut net, 3, RequestKind::Call, &64_000u32.to_le_bytes());
    assert_eq!(out.len(), 64_000, "a call below the limit succeeds");
    assert!(reply_len <= MANAGER_MAX_OUTPUT_BYTES, "{reply_len}");
    let (_, len) = ask(&mut net, 4, RequestKind::Query, &[]);
    assert_eq!(len, 4i64.to_le_bytes());
}
