//! Differential test: the model chain (`pose_sim::model::ModelChain`) against the Solidity
//! manager (`contracts/PoseManager.sol`) on anvil. Both get the same sequence of calls, signed
//! with real `pose-crypto` keys; after every call the outcome (success, or the kind of revert)
//! and the contract's state (epoch, executor, balance, phase, pool) must agree.
//!
//! What is compared and what is not:
//! - `txHash`: both extend it over the same ABI calldata, sender, value, block and outcome
//!   (docs/protocol.md section 3), so the values are equal after every call; each side still
//!   signs over its own value.
//! - Block and pool: the manager draws pools from `prevrandao`, which the model cannot know,
//!   and the model's clock ticks its own blocks. Before each call the test sets the model's
//!   clock and block number to the chain's, and dictates the chain's draw to the model
//!   (`ModelChain::dictate_next_draw`); it checks the draw's rules on the chain (size, no
//!   duplicates, only registered enclaves, a removed member is not drawn back).
//! - Revert kinds: Solidity custom errors are mapped to the model's `Revert` variants
//!   ([`sol_kind`]). Calls where the manager takes no epoch argument (respond, withdraw,
//!   challengeMember, terminate) sign over the current epoch, so a stale-epoch signature is a
//!   signature failure on-chain and `WrongEpoch` in the model: both count as "signature class".
//! - Challenge ids: the manager numbers challenges from 1, the model from 0; the test maps them.
//! - Operators: every enclave is registered by an operator account; by default each by its
//!   own, [`Pair::register_by`] lets several share one (a pool takes one enclave per operator).

use pose_chain::alloy::network::TransactionBuilder;
use pose_chain::alloy::primitives::{Bytes, U256};
use pose_chain::alloy::rpc::types::TransactionRequest;
use pose_chain::alloy::signers::local::PrivateKeySigner;
use pose_chain::anvil::{spawn_anvil, AnvilInstance};
use pose_chain::EventFollower;
use pose_chain::ManagerClient;
use pose_chain::PoseManager::{self, PoseManagerErrors as E};
use pose_chain::{from_b256, to_address, to_b256, ChainConfig, ChainError};
use pose_crypto::sig::SigningKey;
use pose_enclave::chain::{digest, tx_hash_genesis, tx_hash_next, Params, PayoutLine};
use pose_enclave::{ChainTx, Config, Deployment, Effect, ManagerCall, Member, Phase};
use pose_node::chain_feed::ChainFeed;
use pose_sim::model::{ModelChain, Revert};
use pose_types::{Address, Amount, ContractId, EncPublicKey, Epoch, Hash32, Seq};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

const ONE_ETH: u128 = 1_000_000_000_000_000_000;
const RESPONSE_SECS: u32 = 1000;
const MEMBER_SECS: u32 = 500;
const POOL: u8 = 3;

/// Outcome of one call on one side: `None` is success, else the revert kind's name.
type Outcome = Option<&'static str>;

fn model_kind(r: &Revert) -> &'static str {
    match r {
        Revert::BadAttestation => "BadAttestation",
        Revert::AlreadyRegistered => "AlreadyRegistered",
        Revert::UnknownContract => "UnknownContract",
        Revert::PoolSize(_) => "PoolSize",
        Revert::WrongPhase => "WrongPhase",
        Revert::BadSignature | Revert::WrongEpoch => "Signature",
        Revert::UnknownTxHash => "UnknownTxHash",
        Revert::StaleTxHash => "StaleTxHash",
        Revert::NoChallenge => "NoChallenge",
        Revert::TooEarly => "TooEarly",
        Revert::StaleSeq => "StaleSeq",
        Revert::NonceUsed => "NonceUsed",
        Revert::BalanceShort => "BalanceShort",
        Revert::NotMember => "NotMember",
        Revert::Acceptances => "Acceptances",
        Revert::Unsupported => "Unsupported",
    }
}

/// Maps the manager's custom errors to the model's revert kinds.
fn sol_kind(e: &ChainError, register: bool) -> &'static str {
    let Some(err) = e.manager_error() else {
        panic!("the chain failed for a reason other than a manager revert: {e}")
    };
    match err {
        E::AttestationNotByVendor(_) | E::MeasurementNotAllowed(_) => "BadAttestation",
        E::BadSignature(_) | E::BadSignatureV(_) | E::BadSignatureLength(_) | E::HighS(_)
            if register =>
        {
            "BadAttestation"
        }
        E::EnclaveAlreadyRegistered(_) => "AlreadyRegistered",
        E::UnknownContract(_) => "UnknownContract",
        E::NotEnoughEnclaves(_) | E::InvalidPoolSize(_) => "PoolSize",
        E::WrongPhase(_) => "WrongPhase",
        E::BadSignature(_)
        | E::BadSignatureV(_)
        | E::BadSignatureLength(_)
        | E::HighS(_)
        | E::NotExecutor(_)
        | E::NotMemberSignature(_)
        | E::NotPoolMemberSignature(_) => "Signature",
        E::UnknownTxHash(_) => "UnknownTxHash",
        E::StaleTxHash(_) => "StaleTxHash",
        E::ChallengeNotOpen(_) => "NoChallenge",
        E::TooEarly(_) => "TooEarly",
        E::StaleSeq(_) => "StaleSeq",
        E::NonceUsed(_) => "NonceUsed",
        E::InsufficientBalance(_) => "BalanceShort",
        E::NotPoolMember(_)
        | E::IsExecutor(_)
        | E::MemberAlreadyChallenged(_)
        | E::MemberNotChallenged(_) => "NotMember",
        E::WrongSignatureCount(_) => "Acceptances",
        other => panic!("manager error with no model counterpart: {other:?}"),
    }
}

fn phase_of(p: u8) -> Option<Phase> {
    match p {
        1 => Some(Phase::Creation),
        2 | 3 => Some(Phase::Executing),
        4 => Some(Phase::Crashed),
        5 => Some(Phase::Terminated),
        _ => None,
    }
}

/// One anvil, one deployed manager, one model, the same enclaves registered on both.
struct Pair {
    _anvil: AnvilInstance,
    chain: ManagerClient,
    model: ModelChain,
    vendor: SigningKey,
    measurement: Hash32,
    dom: Deployment,
    keys: Vec<SigningKey>,
    members: Vec<Member>,
    /// The operator of each registered enclave.
    operators: std::collections::BTreeMap<Address, Address>,
    removed: Vec<Address>,
    rng: ChaCha20Rng,
    seq: u64,
    log: Vec<String>,
}

fn addr(a: pose_chain::alloy::primitives::Address) -> Address {
    pose_chain::from_address(a)
}

impl Pair {
    async fn new(seed: u64) -> Pair {
        let anvil = spawn_anvil(&[]).expect("anvil starts (run scripts/setup or set $ANVIL)");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let vendor = SigningKey::random(&mut rng);
        let mut m = [0u8; 32];
        rng.fill_bytes(&mut m);
        let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
        let chain = ManagerClient::deploy(
            ChainConfig::new(anvil.endpoint()),
            owner,
            to_address(vendor.address()),
            vec![m.into()],
        )
        .await
        .expect("the manager deploys");
        let d = chain.domain();
        let dom = Deployment {
            chain_id: d.chain_id,
            manager: d.manager,
        };
        let config = Config {
            deployment: dom,
            vendor: vendor.address(),
            measurement: Hash32(m),
            ack_timeout_ms: pose_enclave::ACK_TIMEOUT_MS_DEFAULT,
            bug: None,
        };
        let mut model = ModelChain::new(config, Default::default(), seed);
        model.use_real_signatures();
        let mut p = Pair {
            _anvil: anvil,
            chain,
            model,
            vendor,
            measurement: Hash32(m),
            dom,
            keys: Vec::new(),
            members: Vec::new(),
            operators: Default::default(),
            removed: Vec::new(),
            rng,
            seq: 0,
            log: Vec::new(),
        };
        p.sync_time().await;
        p
    }

    fn note(&mut self, s: String) {
        self.log.push(s);
    }

    /// Sets the model's clock and block number to the chain's latest block (the block of the
    /// call just made: anvil mines one per transaction).
    async fn sync_time(&mut self) {
        let t = self.chain.chain_time().await.expect("chain time");
        if t * 1000 > self.model.now_ms {
            self.model.advance(t * 1000);
        }
        self.model.block = self.chain.block_number().await.expect("block number");
    }

    async fn increase_time(&mut self, secs: u64) {
        self.chain
            .anvil_increase_time(secs)
            .await
            .expect("evm_increaseTime");
        self.sync_time().await;
        self.note(format!("time +{secs}s"));
    }

    fn check(&self, what: &str, sol: Outcome, model: Outcome) {
        assert_eq!(
            sol,
            model,
            "{what}: Solidity (left) and model (right) disagree; calls so far:\n{}",
            self.log.join("\n")
        );
    }

    /// A fresh, funded operator account.
    async fn operator(&mut self) -> ManagerClient {
        let key = PrivateKeySigner::random();
        self.chain
            .anvil_set_balance(key.address(), U256::from(100 * ONE_ETH))
            .await
            .expect("anvil_setBalance");
        self.chain.with_signer(key).expect("client")
    }

    /// Registers a fresh enclave on both, by a fresh operator; `forged` signs the attestation
    /// with a wrong key.
    async fn register(&mut self, forged: bool) -> Outcome {
        let operator = self.operator().await;
        self.register_by(&operator, forged).await
    }

    /// Registers a fresh enclave on both, sent by `operator`.
    async fn register_by(&mut self, operator: &ManagerClient, forged: bool) -> Outcome {
        let key = SigningKey::random(&mut self.rng);
        let mut enc = [0u8; 32];
        self.rng.fill_bytes(&mut enc);
        let dg = digest::attestation(&self.dom, &self.measurement, &key.address(), &enc);
        let signer = if forged {
            SigningKey::random(&mut self.rng)
        } else {
            self.vendor.clone()
        };
        let sig = signer.sign_digest(&dg);
        let member = Member {
            address: key.address(),
            enc_key: enc,
            attestation: sig.0.to_vec(),
        };
        let out = self.register_member_by(operator, member.clone()).await;
        if out.is_none() {
            self.keys.push(key);
            self.members.push(member);
        }
        out
    }

    async fn register_member(&mut self, member: Member) -> Outcome {
        let operator = self.operator().await;
        self.register_member_by(&operator, member).await
    }

    async fn register_member_by(&mut self, operator: &ManagerClient, member: Member) -> Outcome {
        self.note(format!("register {:?}", member.address));
        let op = addr(operator.sender());
        let sol = operator
            .register_enclave(
                to_b256(self.measurement),
                to_address(member.address),
                member.enc_key.into(),
                Bytes::from(member.attestation.clone()),
            )
            .await
            .err()
            .map(|e| sol_kind(&e, true));
        let address = member.address;
        let model = self
            .model
            .register_by(op, member)
            .err()
            .map(|r| model_kind(&r));
        self.check("registerEnclave", sol, model);
        if sol.is_none() {
            self.operators.insert(address, op);
        }
        sol
    }

    fn key(&self, a: Address) -> &SigningKey {
        self.keys
            .iter()
            .find(|k| k.address() == a)
            .expect("pool members are enclaves the test registered")
    }

    async fn chain_tx(&self, cid: ContractId) -> Hash32 {
        from_b256(self.chain.tx_hash_of(cid).await.expect("txHashOf"))
    }

    fn model_tx(&self, cid: ContractId) -> Hash32 {
        self.model
            .contracts
            .get(&cid)
            .map(|c| c.tx_hash)
            .unwrap_or_default()
    }

    fn model_epoch(&self, cid: ContractId) -> Epoch {
        self.model
            .contracts
            .get(&cid)
            .map(|c| c.epoch)
            .unwrap_or_default()
    }

    /// Submits `model_call` to the model and compares with the chain outcome, then the state.
    async fn apply(
        &mut self,
        what: &str,
        cid: ContractId,
        sol: Result<(), ChainError>,
        model_call: ManagerCall,
        value: u128,
        before: (Hash32, Hash32),
    ) -> Outcome {
        let sol = sol.err().map(|e| sol_kind(&e, false));
        self.sync_time().await;
        let sender = addr(self.chain.sender());
        let model = self
            .model
            .submit(sender, value, model_call)
            .err()
            .map(|r| model_kind(&r));
        self.note(format!("{what} on {cid:?}: {sol:?}"));
        self.check(what, sol, model);
        self.compare(cid, before).await;
        sol
    }

    /// Compares the contract's state on both sides.
    async fn compare(&mut self, cid: ContractId, before: (Hash32, Hash32)) {
        let Some(rec) = self.model.contracts.get(&cid).cloned() else {
            return;
        };
        let inst = self.chain.contract(cid).await.expect("getContract");
        let ctx = self.log.join("\n");
        assert_eq!(inst.epoch, rec.epoch.0, "epoch differs; calls:\n{ctx}");
        assert_eq!(
            U256::from(rec.balance_wei),
            inst.balance,
            "balance differs; calls:\n{ctx}"
        );
        assert_eq!(
            phase_of(inst.phase as u8),
            Some(rec.phase),
            "phase differs; calls:\n{ctx}"
        );
        let pool: Vec<Address> = self
            .chain
            .pool(cid)
            .await
            .expect("getPool")
            .into_iter()
            .map(addr)
            .collect();
        let mpool: Vec<Address> = rec.pool.iter().map(|m| m.address).collect();
        assert_eq!(pool, mpool, "pool differs; calls:\n{ctx}");
        let ex = addr(self.chain.executor_of(cid).await.expect("executorOf"));
        assert_eq!(Some(ex), rec.executor(), "executor differs; calls:\n{ctx}");
        let (chain_after, model_after) = (self.chain_tx(cid).await, self.model_tx(cid));
        assert_eq!(
            chain_after != before.0,
            model_after != before.1,
            "txHash advanced on one side only; calls:\n{ctx}"
        );
        // The model hashes the same ABI calldata as the manager, so the values are equal.
        assert_eq!(chain_after, model_after, "txHash differs; calls:\n{ctx}");
    }

    /// Checks the chain's draw against the rules, then feeds it to the model.
    async fn feed_pool(&mut self, cid: ContractId, expect_len: Option<usize>) {
        let pool: Vec<Address> = self
            .chain
            .pool(cid)
            .await
            .expect("getPool")
            .into_iter()
            .map(addr)
            .collect();
        if let Some(n) = expect_len {
            assert_eq!(pool.len(), n, "pool size");
        }
        for (i, a) in pool.iter().enumerate() {
            assert!(!pool[..i].contains(a), "duplicate pool member {a:?}");
            let op = self.operators.get(a);
            assert!(
                !pool[..i].iter().any(|b| self.operators.get(b) == op),
                "two members of operator {op:?} in pool {pool:?}"
            );
            assert!(
                self.members.iter().any(|m| m.address == *a),
                "pool member {a:?} is not registered"
            );
            assert!(
                !self.removed.contains(a),
                "removed member {a:?} drawn again"
            );
        }
        let members: Vec<Member> = pool
            .iter()
            .map(|a| {
                self.members
                    .iter()
                    .find(|m| m.address == *a)
                    .cloned()
                    .expect("checked above")
            })
            .collect();
        if let Some(c) = self.model.contracts.get_mut(&cid) {
            c.pool = members;
        }
    }

    async fn create(&mut self, pool_size: u8) -> (Outcome, ContractId) {
        let mut code = [0u8; 32];
        self.rng.fill_bytes(&mut code);
        let params = PoseManager::Params {
            poolSize: pool_size,
            responsePeriodSecs: RESPONSE_SECS,
            memberResponsePeriodSecs: MEMBER_SECS,
            confirmations: 1,
        };
        let sol = self.chain.create_contract(code.into(), params).await;
        let sol_cid = sol.as_ref().ok().map(|(c, _, _)| *c);
        let sol = sol.map(|_| ()).err().map(|e| sol_kind(&e, false));
        self.sync_time().await;
        if let Some(cid) = sol_cid {
            let drawn = self.pool(cid).await;
            self.model.dictate_next_draw(drawn);
        }
        let model = self.model.submit(
            addr(self.chain.sender()),
            0,
            ManagerCall::CreateContract {
                code_hash: Hash32(code),
                params: Params {
                    pool_size,
                    response_period_secs: RESPONSE_SECS,
                    member_response_period_secs: MEMBER_SECS,
                    confirmations: 1,
                },
            },
        );
        let model_cid = model.as_ref().ok().map(|t| t.cid);
        let model = model.err().map(|r| model_kind(&r));
        self.note(format!("createContract pool {pool_size}: {sol:?}"));
        self.check("createContract", sol, model);
        assert_eq!(sol_cid, model_cid, "contract ids differ");
        let cid = sol_cid.unwrap_or(ContractId(u64::MAX));
        if sol.is_none() {
            self.feed_pool(cid, Some(pool_size as usize)).await;
            let before = (self.chain_tx(cid).await, self.model_tx(cid));
            self.compare(cid, (Hash32([0; 32]), Hash32([0; 32]))).await;
            let _ = before;
        }
        (sol, cid)
    }

    async fn pool(&self, cid: ContractId) -> Vec<Address> {
        self.chain
            .pool(cid)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(addr)
            .collect()
    }

    async fn complete(&mut self, cid: ContractId, forge: bool) -> Outcome {
        let pool = self.pool(cid).await;
        let code = self
            .model
            .contracts
            .get(&cid)
            .map(|c| c.code_hash)
            .unwrap_or_default();
        let ek = [5u8; 32];
        let init = Hash32([6; 32]);
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        let sign = |who: usize, h: &Hash32| {
            let k = if forge && who == 0 {
                &self.vendor
            } else {
                self.key(pool[who])
            };
            k.sign_digest(&digest::accept(&self.dom, cid, &code, &ek, &init, h))
        };
        let sol_sigs: Vec<_> = (0..pool.len()).map(|i| sign(i, &before.0)).collect();
        let sigs: Vec<Vec<u8>> = (0..pool.len())
            .map(|i| sign(i, &before.1).0.to_vec())
            .collect();
        let sol = self
            .chain
            .complete_creation(cid, EncPublicKey(ek), init, before.0, &sol_sigs)
            .await
            .map(|_| ());
        let call = ManagerCall::CompleteCreation {
            cid,
            contract_key: ek,
            init_state_hash: init,
            tx_hash: before.1,
            sigs,
        };
        self.apply("completeCreation", cid, sol, call, 0, before)
            .await
    }

    async fn deposit(&mut self, cid: ContractId, wei: u128) -> Outcome {
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        let sol = self.chain.deposit(cid, U256::from(wei)).await.map(|_| ());
        self.apply(
            "deposit",
            cid,
            sol,
            ManagerCall::Deposit { cid },
            wei,
            before,
        )
        .await
    }

    /// Opens a challenge; returns the model's id on success.
    async fn challenge(&mut self, cid: ContractId) -> (Outcome, u64) {
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        let input = vec![7u8; 32];
        let sol = self.chain.challenge(cid, Bytes::from(input.clone())).await;
        let sol_id = sol.as_ref().ok().map(|(id, _)| *id);
        let model_id = self
            .model
            .contracts
            .get(&cid)
            .map(|c| c.challenges.len() as u64 + 1);
        let out = self
            .apply(
                "challenge",
                cid,
                sol.map(|_| ()),
                ManagerCall::Challenge {
                    cid,
                    request: input,
                },
                0,
                before,
            )
            .await;
        if out.is_none() {
            // Both number challenges from 1.
            assert_eq!(sol_id, model_id, "challenge ids");
        }
        (out, model_id.unwrap_or(0))
    }

    /// `who`: Some(pool index) signs, None: the current executor; `epoch_back` signs for an
    /// older epoch.
    async fn respond(
        &mut self,
        cid: ContractId,
        id: u64,
        who: Option<usize>,
        epoch_back: u64,
    ) -> Outcome {
        let pool = self.pool(cid).await;
        let ex = addr(self.chain.executor_of(cid).await.unwrap_or_default());
        let signer = match who {
            Some(i) => pool[i % pool.len().max(1)],
            None => ex,
        };
        let epoch = Epoch(self.model_epoch(cid).0.saturating_sub(epoch_back));
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        self.seq += 1;
        let (seq, st, reply) = (Seq(self.seq), Hash32([9; 32]), vec![8u8; 16]);
        let k = self.key(signer).clone();
        let sd = digest::respond(&self.dom, cid, id, epoch, &reply, seq, &st, &before.0);
        let md = digest::respond(&self.dom, cid, id, epoch, &reply, seq, &st, &before.1);
        let _ = md;
        let sol = self
            .chain
            .respond(cid, id, &reply, seq, st, before.0, &k.sign_digest(&sd))
            .await
            .map(|_| ());
        let md = digest::respond(&self.dom, cid, id, epoch, &reply, seq, &st, &before.1);
        let call = ManagerCall::Respond {
            cid,
            challenge_id: id,
            reply,
            seq,
            state_hash: st,
            tx_hash: before.1,
            sig: k.sign_digest(&md).0.to_vec(),
        };
        self.apply("respond", cid, sol, call, 0, before).await
    }

    async fn timeout(&mut self, cid: ContractId, id: u64) -> Outcome {
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        let sol = self.chain.timeout_challenge(cid, id).await.map(|_| ());
        let call = ManagerCall::TimeoutChallenge {
            cid,
            challenge_id: id,
        };
        self.apply("timeoutChallenge", cid, sol, call, 0, before)
            .await
    }

    async fn challenge_member(&mut self, cid: ContractId, member: Address) -> Outcome {
        let ex = addr(self.chain.executor_of(cid).await.unwrap_or_default());
        let k = self.key(ex).clone();
        let epoch = self.model_epoch(cid);
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        let sd = digest::challenge_member(&self.dom, cid, epoch, &member, &before.0);
        let md = digest::challenge_member(&self.dom, cid, epoch, &member, &before.1);
        let sol = self
            .chain
            .challenge_member(cid, member, before.0, &k.sign_digest(&sd))
            .await
            .map(|_| ());
        let call = ManagerCall::ChallengeMember {
            cid,
            member,
            tx_hash: before.1,
            sig: k.sign_digest(&md).0.to_vec(),
        };
        self.apply("challengeMember", cid, sol, call, 0, before)
            .await
    }

    async fn respond_member(&mut self, cid: ContractId, member: Address) -> Outcome {
        let k = self.key(member).clone();
        let epoch = self.model_epoch(cid);
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        // Any state will do: the manager checks only that the member signed it.
        let held = (Seq(epoch.0 + 3), Hash32([epoch.0 as u8 + 1; 32]));
        let sd =
            digest::respond_member(&self.dom, cid, epoch, &member, (held.0, &held.1), &before.0);
        let md =
            digest::respond_member(&self.dom, cid, epoch, &member, (held.0, &held.1), &before.1);
        let sol = self
            .chain
            .respond_member(cid, member, held, before.0, &k.sign_digest(&sd))
            .await
            .map(|_| ());
        let call = ManagerCall::RespondMember {
            cid,
            member,
            seq: held.0,
            state_hash: held.1,
            tx_hash: before.1,
            sig: k.sign_digest(&md).0.to_vec(),
        };
        self.apply("respondMember", cid, sol, call, 0, before).await
    }

    /// `revive` for `member`, signed by `signer`, holding a state at `seq`.
    async fn revive(
        &mut self,
        cid: ContractId,
        member: Address,
        signer: Address,
        seq: u64,
    ) -> Outcome {
        let k = self.key(signer).clone();
        let epoch = self.model_epoch(cid);
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        let held = (Seq(seq), Hash32([0x7e; 32]));
        let sd = digest::revive(&self.dom, cid, epoch, &member, (held.0, &held.1), &before.0);
        let md = digest::revive(&self.dom, cid, epoch, &member, (held.0, &held.1), &before.1);
        let call = |tx_hash, sig: Vec<u8>| ManagerCall::Revive {
            cid,
            member,
            seq: held.0,
            state_hash: held.1,
            tx_hash,
            sig,
        };
        // The enclave's own calldata, as its host submits it.
        let calldata = call(before.0, k.sign_digest(&sd).0.to_vec()).encode();
        let sol = self
            .chain
            .submit(
                TransactionRequest::default()
                    .with_to(self.chain.manager())
                    .with_input(calldata),
            )
            .await
            .map(|_| ());
        let model_call = call(before.1, k.sign_digest(&md).0.to_vec());
        self.apply("revive", cid, sol, model_call, 0, before).await
    }

    async fn remove_member(&mut self, cid: ContractId, member: Address) -> Outcome {
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        let old_len = self.pool(cid).await.len();
        let sol = self.chain.remove_member(cid, member).await;
        let replaced = sol.as_ref().ok().map(|(r, _)| r.is_some());
        if let Ok((r, _)) = &sol {
            self.model.dictate_next_draw(r.iter().copied().collect());
        }
        let sol = sol.map(|_| ()).err().map(|e| sol_kind(&e, false));
        self.sync_time().await;
        let model = self
            .model
            .submit(
                addr(self.chain.sender()),
                0,
                ManagerCall::RemoveMember { cid, member },
            )
            .err()
            .map(|r| model_kind(&r));
        self.note(format!("removeMember {member:?} on {cid:?}: {sol:?}"));
        self.check("removeMember", sol, model);
        if sol.is_none() {
            self.removed.push(member);
            let n = if replaced == Some(true) {
                old_len
            } else {
                old_len - 1
            };
            self.feed_pool(cid, Some(n)).await;
        }
        self.compare(cid, before).await;
        sol
    }

    #[allow(clippy::too_many_arguments)]
    async fn withdraw(
        &mut self,
        cid: ContractId,
        to: Address,
        wei: u128,
        nonce: u64,
        bad_tx: bool,
    ) -> Outcome {
        let ex = addr(self.chain.executor_of(cid).await.unwrap_or_default());
        let k = self.key(ex).clone();
        let epoch = self.model_epoch(cid);
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        let (sh, mh) = if bad_tx {
            (Hash32([0xEE; 32]), Hash32([0xEE; 32]))
        } else {
            before
        };
        let sd = digest::withdraw(&self.dom, cid, epoch, &to, wei, nonce, &sh);
        let md = digest::withdraw(&self.dom, cid, epoch, &to, wei, nonce, &mh);
        let sol = self
            .chain
            .withdraw(cid, to, Amount(wei), nonce, sh, &k.sign_digest(&sd))
            .await
            .map(|_| ());
        let call = ManagerCall::Withdraw {
            cid,
            recipient: to,
            amount_wei: wei,
            nonce,
            tx_hash: mh,
            sig: k.sign_digest(&md).0.to_vec(),
        };
        self.apply("withdraw", cid, sol, call, 0, before).await
    }

    async fn terminate(&mut self, cid: ContractId, payouts: &[(Address, u128)]) -> Outcome {
        self.terminate_over(cid, payouts, None).await
    }

    /// Terminates with a signature over `over` (chain, model) instead of the current txHash.
    async fn terminate_over(
        &mut self,
        cid: ContractId,
        payouts: &[(Address, u128)],
        over: Option<(Hash32, Hash32)>,
    ) -> Outcome {
        let ex = addr(self.chain.executor_of(cid).await.unwrap_or_default());
        let k = self.key(ex).clone();
        let epoch = self.model_epoch(cid);
        let before = (self.chain_tx(cid).await, self.model_tx(cid));
        let signed = over.unwrap_or(before);
        let lines: Vec<PayoutLine> = payouts
            .iter()
            .map(|(to, w)| PayoutLine {
                to: *to,
                amount_wei: *w,
            })
            .collect();
        let sl: Vec<(Address, Amount)> = payouts.iter().map(|(a, w)| (*a, Amount(*w))).collect();
        let sd = digest::terminate(&self.dom, cid, epoch, &lines, &signed.0);
        let md = digest::terminate(&self.dom, cid, epoch, &lines, &signed.1);
        let sol = self
            .chain
            .terminate(cid, &sl, signed.0, &k.sign_digest(&sd))
            .await
            .map(|_| ());
        let call = ManagerCall::Terminate {
            cid,
            payouts: lines,
            tx_hash: signed.1,
            sig: k.sign_digest(&md).0.to_vec(),
        };
        self.apply("terminate", cid, sol, call, 0, before).await
    }
}

const OK: Outcome = None;

/// A fixed walk through every operation, valid and invalid.
#[tokio::test]
async fn scripted_sequence_agrees() {
    let mut p = Pair::new(1).await;
    // Too few enclaves for a pool.
    let (out, _) = p.create(POOL).await;
    assert_eq!(out, Some("PoolSize"));
    for _ in 0..5 {
        assert_eq!(p.register(false).await, OK);
    }
    assert_eq!(p.register(true).await, Some("BadAttestation"));
    let again = p.members[0].clone();
    assert_eq!(p.register_member(again).await, Some("AlreadyRegistered"));

    let (out, cid) = p.create(POOL).await;
    assert_eq!(out, OK);
    assert_eq!(p.deposit(cid, ONE_ETH).await, Some("WrongPhase"));
    assert_eq!(p.complete(cid, true).await, Some("Signature"));
    assert_eq!(p.complete(cid, false).await, OK);
    assert_eq!(p.complete(cid, false).await, Some("WrongPhase"));
    assert_eq!(p.deposit(cid, 5 * ONE_ETH).await, OK);
    assert_eq!(
        p.deposit(ContractId(99), ONE_ETH).await,
        Some("UnknownContract")
    );

    // Challenge answered by a non-executor, then by the executor.
    let (out, id) = p.challenge(cid).await;
    assert_eq!(out, OK);
    assert_eq!(p.respond(cid, id, Some(1), 0).await, Some("Signature"));
    assert_eq!(p.respond(cid, id, None, 0).await, OK);
    assert_eq!(p.respond(cid, id, None, 0).await, Some("WrongPhase"));

    // Challenge left to time out: too early, then after the deadline.
    let (_, id) = p.challenge(cid).await;
    assert_eq!(p.timeout(cid, id).await, Some("TooEarly"));
    p.increase_time(u64::from(RESPONSE_SECS) + 5).await;
    assert_eq!(p.timeout(cid, id).await, OK);
    // A response signed for the old epoch fails, one for the new epoch passes.
    assert_eq!(p.respond(cid, id, None, 1).await, Some("Signature"));
    assert_eq!(p.respond(cid, id, None, 0).await, OK);

    // Member challenges.
    let pool = p.pool(cid).await;
    let ex = addr(p.chain.executor_of(cid).await.expect("executor"));
    let other = *pool.iter().find(|a| **a != ex).expect("a non-executor");
    assert_eq!(p.challenge_member(cid, ex).await, Some("NotMember"));
    assert_eq!(p.challenge_member(cid, other).await, OK);
    assert_eq!(p.challenge_member(cid, other).await, Some("NotMember"));
    assert_eq!(p.respond_member(cid, other).await, OK);
    assert_eq!(p.remove_member(cid, other).await, Some("NotMember"));
    assert_eq!(p.challenge_member(cid, other).await, OK);
    assert_eq!(p.remove_member(cid, other).await, Some("TooEarly"));
    p.increase_time(u64::from(MEMBER_SECS) + 5).await;
    assert_eq!(p.remove_member(cid, other).await, OK);

    // Withdrawals.
    let to = Address([0x42; 20]);
    assert_eq!(p.withdraw(cid, to, ONE_ETH, 1, false).await, OK);
    assert_eq!(
        p.withdraw(cid, to, ONE_ETH, 1, false).await,
        Some("NonceUsed")
    );
    assert_eq!(
        p.withdraw(cid, to, 100 * ONE_ETH, 2, false).await,
        Some("BalanceShort")
    );
    assert_eq!(
        p.withdraw(cid, to, ONE_ETH, 3, true).await,
        Some("UnknownTxHash")
    );

    // Termination.
    assert_eq!(
        p.terminate(cid, &[(to, 10 * ONE_ETH)]).await,
        Some("BalanceShort")
    );
    assert_eq!(p.terminate(cid, &[(to, ONE_ETH)]).await, OK);
    assert_eq!(p.terminate(cid, &[(to, ONE_ETH)]).await, Some("WrongPhase"));
    assert_eq!(p.deposit(cid, ONE_ETH).await, Some("WrongPhase"));
}

/// Short random walks from a few seeds: the outcome of each step is not asserted, only that
/// both sides agree on it.
#[tokio::test]
async fn random_walks_agree() {
    for seed in [11u64, 12, 13, 14] {
        let mut p = Pair::new(seed).await;
        for _ in 0..5 {
            p.register(false).await;
        }
        let (_, cid) = p.create(POOL).await;
        let mut ids: Vec<u64> = Vec::new();
        let mut nonce = 0u64;
        for _ in 0..25 {
            let op = p.rng.next_u32() % 13;
            let pool = p.pool(cid).await;
            let pick = pool
                .get(p.rng.next_u32() as usize % pool.len().max(1))
                .copied();
            let id = if ids.is_empty() {
                0
            } else {
                ids[p.rng.next_u32() as usize % ids.len()]
            };
            match op {
                0 => {
                    p.complete(cid, false).await;
                }
                1 => {
                    p.deposit(cid, ONE_ETH).await;
                }
                2 => {
                    if let (None, id) = p.challenge(cid).await {
                        ids.push(id);
                    }
                }
                3 => {
                    p.respond(cid, id, None, 0).await;
                }
                4 => {
                    p.respond(cid, id, Some(1), 0).await;
                }
                5 => {
                    p.timeout(cid, id).await;
                }
                6 => {
                    let secs = [RESPONSE_SECS + 5, MEMBER_SECS + 5][p.rng.next_u32() as usize % 2];
                    p.increase_time(u64::from(secs)).await;
                }
                7 => {
                    if let Some(m) = pick {
                        p.challenge_member(cid, m).await;
                    }
                }
                8 => {
                    if let Some(m) = pick {
                        p.respond_member(cid, m).await;
                    }
                }
                9 => {
                    if let Some(m) = pick {
                        p.remove_member(cid, m).await;
                    }
                }
                10 | 11 => {
                    if p.rng.next_u32() % 3 != 0 {
                        nonce += 1;
                    }
                    p.withdraw(cid, Address([0x43; 20]), ONE_ETH / 2, nonce, false)
                        .await;
                }
                _ => {
                    p.terminate(cid, &[(Address([0x44; 20]), ONE_ETH / 4)])
                        .await;
                }
            }
        }
    }
}

/// The host's feed (`pose_node::chain_feed`) turns the manager's events into the chain
/// transactions the model logged, block number and time included, and they hash to the
/// manager's `txHash` values. A host that alters any fact of one (block time or number, the
/// drawn pool, a replacement, a challenge id, or invents a decision) yields a `txHash` the
/// manager does not know, so nothing signed over it or reported with it passes the chain's or
/// a client's check (docs/protocol.md section 3).
#[tokio::test]
async fn the_feed_hashes_to_the_managers_tx_hash_and_every_altered_fact_does_not() {
    let mut p = Pair::new(21).await;
    for _ in 0..4 {
        assert_eq!(p.register(false).await, OK);
    }
    let (out, cid) = p.create(POOL).await;
    assert_eq!(out, OK);
    assert_eq!(p.complete(cid, false).await, OK);
    assert_eq!(p.deposit(cid, ONE_ETH).await, OK);
    // Two silent members removed: the fourth enclave replaces the first; then no enclave is
    // left outside the pool (removed ones are suspended) and the pool shrinks.
    for expect_len in [3, 2] {
        let ex = addr(p.chain.executor_of(cid).await.expect("executor"));
        let pool = p.pool(cid).await;
        let m = *pool.iter().find(|a| **a != ex).expect("a non-executor");
        assert_eq!(p.challenge_member(cid, m).await, OK);
        p.increase_time(u64::from(MEMBER_SECS) + 5).await;
        assert_eq!(p.remove_member(cid, m).await, OK);
        assert_eq!(p.pool(cid).await.len(), expect_len);
    }
    let (out, _) = p.challenge(cid).await;
    assert_eq!(out, OK);

    let mut follower = EventFollower::from_block(0);
    let mut events = Vec::new();
    loop {
        let batch = follower.poll(&p.chain).await.expect("manager events");
        if batch.is_empty() {
            break;
        }
        events.extend(batch);
    }
    let txs: Vec<ChainTx> = ChainFeed::new()
        .ingest(&events)
        .expect("the feed builds the transactions")
        .into_iter()
        .filter(|t| t.cid == cid)
        .collect();
    assert_eq!(
        &txs, &p.model.contracts[&cid].log,
        "the feed hands over what the model chain logged"
    );

    let known = |h: Hash32| {
        let chain = &p.chain;
        async move {
            chain
                .read(&PoseManager::isKnownTxHashCall {
                    cid: cid.0,
                    txHash: to_b256(h),
                })
                .await
                .expect("isKnownTxHash")
        }
    };
    let stranger = p.members[0].clone();
    let mut seen = Vec::new();
    let mut prev = tx_hash_genesis(&p.dom, cid);
    for tx in &txs {
        let honest = tx_hash_next(&prev, tx);
        assert!(
            known(honest).await,
            "tx {} hashes to a value the manager produced",
            tx.index
        );
        let mut altered = vec![
            (
                "block time later",
                ChainTx {
                    block_time_secs: tx.block_time_secs + 1,
                    ..tx.clone()
                },
            ),
            (
                "block time earlier",
                ChainTx {
                    block_time_secs: tx.block_time_secs - 1,
                    ..tx.clone()
                },
            ),
            (
                "block number",
                ChainTx {
                    block_number: tx.block_number + 1,
                    ..tx.clone()
                },
            ),
        ];
        let effect = |e: Effect| ChainTx {
            effect: e,
            ..tx.clone()
        };
        match &tx.effect {
            Effect::None => {
                seen.push("none");
                altered.push((
                    "invented challenge",
                    effect(Effect::ChallengeOpened { challenge_id: 1 }),
                ));
                altered.push((
                    "invented removal",
                    effect(Effect::MemberRemoved { replacement: None }),
                ));
            }
            Effect::Created { pool } => {
                seen.push("created");
                let mut reversed = pool.clone();
                reversed.reverse();
                altered.push(("pool order", effect(Effect::Created { pool: reversed })));
                let mut swapped = pool.clone();
                swapped[1] = p
                    .members
                    .iter()
                    .find(|m| !pool.contains(m))
                    .expect("an enclave outside the pool")
                    .clone();
                altered.push(("pool member", effect(Effect::Created { pool: swapped })));
                altered.push((
                    "pool size",
                    effect(Effect::Created {
                        pool: pool[..1].to_vec(),
                    }),
                ));
            }
            Effect::ChallengeOpened { challenge_id } => {
                seen.push("challenge");
                altered.push((
                    "challenge id",
                    effect(Effect::ChallengeOpened {
                        challenge_id: challenge_id + 1,
                    }),
                ));
                altered.push(("challenge hidden", effect(Effect::None)));
            }
            Effect::MemberRemoved {
                replacement: Some(r),
            } => {
                seen.push("replaced");
                let other = p
                    .members
                    .iter()
                    .find(|m| *m != r)
                    .expect("another enclave")
                    .clone();
                altered.push((
                    "replacement hidden",
                    effect(Effect::MemberRemoved { replacement: None }),
                ));
                altered.push((
                    "replacement",
                    effect(Effect::MemberRemoved {
                        replacement: Some(other),
                    }),
                ));
            }
            Effect::MemberRemoved { replacement: None } => {
                seen.push("shrunk");
                altered.push((
                    "replacement invented",
                    effect(Effect::MemberRemoved {
                        replacement: Some(stranger.clone()),
                    }),
                ));
            }
        }
        for (what, a) in altered {
            assert!(
                !known(tx_hash_next(&prev, &a)).await,
                "tx {} with its {what} altered hashes to a value the manager knows",
                tx.index
            );
        }
        prev = honest;
    }
    assert_eq!(prev, p.chain_tx(cid).await);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, ["challenge", "created", "none", "replaced", "shrunk"]);
}

/// The rules against a hostile operator (docs/protocol.md 5 and 6.6), on both sides: a member
/// challenge extends open user challenges, a member suspended in one pool must be challenged
/// in another before its removal, a recipient that refuses coins does not block a withdrawal.
#[tokio::test]
async fn hostile_operator_rules_agree() {
    let mut p = Pair::new(2).await;
    for _ in 0..3 {
        assert_eq!(p.register(false).await, OK);
    }
    let (out, a) = p.create(POOL).await;
    assert_eq!(out, OK);
    let (out, b) = p.create(POOL).await;
    assert_eq!(out, OK);
    assert_eq!(p.complete(a, false).await, OK);
    assert_eq!(p.complete(b, false).await, OK);
    assert_eq!(p.deposit(a, 3 * ONE_ETH).await, OK);

    // A member challenge extends an open user challenge past its own deadline.
    let (out, id) = p.challenge(a).await;
    assert_eq!(out, OK);
    p.increase_time(100).await;
    let ex_a = addr(p.chain.executor_of(a).await.expect("executor"));
    let ex_b = addr(p.chain.executor_of(b).await.expect("executor"));
    let victim = *p
        .pool(a)
        .await
        .iter()
        .find(|m| **m != ex_a && **m != ex_b)
        .expect("three members, two executors");
    assert_eq!(p.challenge_member(a, victim).await, OK);
    p.increase_time(u64::from(RESPONSE_SECS) - 100 + 5).await;
    assert_eq!(p.timeout(a, id).await, Some("TooEarly"));
    assert_eq!(p.remove_member(a, victim).await, OK);
    assert_eq!(p.respond(a, id, None, 0).await, OK);

    // Suspended in pool a, the victim is still a member of pool b: challenged first there.
    assert_eq!(p.remove_member(b, victim).await, Some("NotMember"));
    assert_eq!(p.challenge_member(b, victim).await, OK);
    p.increase_time(u64::from(MEMBER_SECS) + 5).await;
    assert_eq!(p.remove_member(b, victim).await, OK);

    // A recipient that refuses coins (the manager has no receive function): the withdrawal
    // passes, its amount is credited to `claimable`.
    let refuser = addr(p.chain.manager());
    assert_eq!(p.withdraw(a, refuser, ONE_ETH, 1, false).await, OK);
    assert_eq!(
        p.withdraw(a, refuser, ONE_ETH, 1, false).await,
        Some("NonceUsed")
    );

    // A termination signed before a deposit is refused; signed again, it passes.
    let signed = (p.chain_tx(a).await, p.model_tx(a));
    assert_eq!(p.deposit(a, ONE_ETH).await, OK);
    assert_eq!(
        p.terminate_over(a, &[], Some(signed)).await,
        Some("StaleTxHash")
    );
    assert_eq!(p.terminate(a, &[]).await, OK);
}

/// Crashed after every member let a deadline pass; a pool member holding a state at least as
/// new as the last answered one revives the contract as executor of a new epoch.
#[tokio::test]
async fn crash_and_revive_agree() {
    let mut p = Pair::new(4).await;
    for _ in 0..3 {
        assert_eq!(p.register(false).await, OK);
    }
    let (out, cid) = p.create(2).await;
    assert_eq!(out, OK);
    assert_eq!(p.complete(cid, false).await, OK);
    let pool = p.pool(cid).await;
    let outsider = p
        .members
        .iter()
        .map(|m| m.address)
        .find(|a| !pool.contains(a))
        .expect("three registered, two in the pool");
    let (_, first) = p.challenge(cid).await;
    assert_eq!(p.respond(cid, first, None, 0).await, OK);
    let answered = p.seq;
    let (_, id) = p.challenge(cid).await;
    assert_eq!(
        p.revive(cid, pool[1], pool[1], answered).await,
        Some("WrongPhase")
    );
    p.increase_time(u64::from(RESPONSE_SECS) + 5).await;
    assert_eq!(p.timeout(cid, id).await, OK);
    p.increase_time(u64::from(RESPONSE_SECS) + 5).await;
    assert_eq!(p.timeout(cid, id).await, OK);
    // Crashed (compared by `apply`): nothing moves but a revival.
    assert_eq!(p.deposit(cid, ONE_ETH).await, Some("WrongPhase"));
    assert_eq!(p.timeout(cid, id).await, Some("WrongPhase"));
    assert_eq!(p.challenge_member(cid, pool[1]).await, Some("WrongPhase"));
    assert_eq!(
        p.revive(cid, outsider, outsider, answered).await,
        Some("NotMember")
    );
    assert_eq!(
        p.revive(cid, pool[1], pool[1], answered - 1).await,
        Some("StaleSeq")
    );
    assert_eq!(
        p.revive(cid, pool[1], pool[0], answered).await,
        Some("Signature")
    );
    assert_eq!(p.revive(cid, pool[1], pool[1], answered).await, OK);
    assert_eq!(
        p.revive(cid, pool[0], pool[0], answered).await,
        Some("WrongPhase")
    );
    // The revived executor has a full response period, then answers.
    assert_eq!(p.timeout(cid, id).await, Some("TooEarly"));
    assert_eq!(p.respond(cid, id, None, 0).await, OK);
    assert_eq!(p.deposit(cid, ONE_ETH).await, OK);
}

/// One member per operator: a pool needs that many operators, a replacement never comes from
/// an operator already in the pool (the removed member's included), else the pool shrinks.
#[tokio::test]
async fn one_member_per_operator_agrees() {
    let mut p = Pair::new(3).await;
    let big = p.operator().await;
    for _ in 0..4 {
        assert_eq!(p.register_by(&big, false).await, OK);
    }
    assert_eq!(p.register(false).await, OK);
    // Five enclaves, two operators.
    let (out, _) = p.create(POOL).await;
    assert_eq!(out, Some("PoolSize"));
    assert_eq!(p.register(false).await, OK);
    let (out, cid) = p.create(POOL).await;
    assert_eq!(out, OK);
    assert_eq!(p.complete(cid, false).await, OK);
    // Every operator has a member in the pool: the big operator's member is not replaced by
    // one of its other three enclaves, the pool shrinks.
    let big_op = addr(big.sender());
    let big_member = *p
        .pool(cid)
        .await
        .iter()
        .find(|m| p.operators.get(m) == Some(&big_op))
        .expect("the big operator has a member");
    if big_member == addr(p.chain.executor_of(cid).await.expect("executor")) {
        // The executor cannot be challenged: move the role on first.
        let (out, id) = p.challenge(cid).await;
        assert_eq!(out, OK);
        p.increase_time(u64::from(RESPONSE_SECS) + 5).await;
        assert_eq!(p.timeout(cid, id).await, OK);
        assert_eq!(p.respond(cid, id, None, 0).await, OK);
    }
    assert_eq!(p.challenge_member(cid, big_member).await, OK);
    p.increase_time(u64::from(MEMBER_SECS) + 5).await;
    assert_eq!(p.remove_member(cid, big_member).await, OK);
    assert_eq!(p.pool(cid).await.len(), 2);
    // Now the big operator has no member: the next replacement may be one of its enclaves, or
    // the new operator's.
    assert_eq!(p.register(false).await, OK);
    let ex = addr(p.chain.executor_of(cid).await.expect("executor"));
    let other = *p
        .pool(cid)
        .await
        .iter()
        .find(|m| **m != ex)
        .expect("two members");
    assert_eq!(p.challenge_member(cid, other).await, OK);
    p.increase_time(u64::from(MEMBER_SECS) + 5).await;
    assert_eq!(p.remove_member(cid, other).await, OK);
    assert_eq!(p.pool(cid).await.len(), 2);
}
