//! Shared test support: one anvil per test binary (shared by the tests that run at the same
//! time, killed when the last of them ends, also on panic), a fresh manager per test, funded
//! random accounts. Enclave and vendor keys are `pose_crypto` keys signing the digests of
//! `pose_crypto::onchain`, as enclaves do; `oracle` recomputes every digest independently with
//! alloy's ABI encoding.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use alloy::sol_types::SolValue;
use pose_chain::anvil::{spawn_anvil, AnvilInstance};
use pose_chain::PoseManager::{self, PoseManagerErrors};
use pose_chain::{from_address, from_b256, sig_bytes, to_address};
use pose_chain::{ChainConfig, ChainError, ManagerClient};
use pose_types::{Amount, ContractId, EncPublicKey, Epoch, Seq};

static SHARED_ANVIL: Mutex<Weak<AnvilInstance>> = Mutex::new(Weak::new());

/// The anvil node shared by the tests of this binary that are running now.
pub fn shared_anvil() -> Arc<AnvilInstance> {
    let mut slot = SHARED_ANVIL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(a) = slot.upgrade() {
        return a;
    }
    let a = Arc::new(spawn_anvil(&[]).expect("anvil starts (run scripts/setup or set $ANVIL)"));
    *slot = Arc::downgrade(&a);
    a
}

/// Serialises the tests of one binary that move the chain clock or depend on it not moving.
pub static CLOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const ONE_ETH: u128 = 1_000_000_000_000_000_000;

/// One test's world: a fresh manager on the shared anvil.
pub struct Env {
    pub anvil: Arc<AnvilInstance>,
    pub url: String,
    pub chain_id: u64,
    /// Deployer and owner of the manager.
    pub owner: ManagerClient,
    pub vendor: EKey,
    pub measurement: B256,
    /// The operator of every enclave registered through this `Env`, by enclave address.
    operators: Mutex<BTreeMap<Address, ManagerClient>>,
}

pub fn params(pool_size: u8) -> PoseManager::Params {
    PoseManager::Params {
        poolSize: pool_size,
        responsePeriodSecs: 600,
        memberResponsePeriodSecs: 300,
        confirmations: 1,
    }
}

pub fn random_key() -> PrivateKeySigner {
    PrivateKeySigner::random()
}

impl Env {
    pub async fn new() -> Env {
        let anvil = shared_anvil();
        let url = anvil.endpoint();
        let vendor = EKey::random();
        let measurement = rb256();
        let owner_key = random_key();
        fund(&url, owner_key.address()).await;
        let owner = ManagerClient::deploy(
            ChainConfig::new(url.clone()),
            owner_key,
            vendor.address(),
            vec![measurement],
        )
        .await
        .expect("deploy");
        let chain_id = owner.chain_id();
        Env {
            anvil,
            url,
            chain_id,
            owner,
            vendor,
            measurement,
            operators: Mutex::new(BTreeMap::new()),
        }
    }

    /// A client for a fresh account with 1000 ETH.
    pub async fn user(&self) -> ManagerClient {
        let key = random_key();
        fund(&self.url, key.address()).await;
        self.owner.with_signer(key).expect("client")
    }

    pub fn manager(&self) -> Address {
        self.owner.manager()
    }

    pub fn attest(&self, measurement: B256, enclave: Address, enc: B256) -> Bytes {
        let d = digest::attestation(self.chain_id, self.manager(), measurement, enclave, enc);
        sign(&self.vendor, d)
    }

    /// Registers `n` fresh enclaves, each by its own fresh operator (a pool takes at most
    /// one enclave per operator); returns their keys.
    pub async fn register(&self, n: usize) -> Vec<EKey> {
        let mut keys = Vec::new();
        for _ in 0..n {
            let operator = self.user().await;
            keys.extend(self.register_as(&operator, 1).await);
        }
        keys
    }

    /// Registers `n` fresh enclaves operated by `operator`; returns their keys.
    pub async fn register_as(&self, operator: &ManagerClient, n: usize) -> Vec<EKey> {
        let mut keys = Vec::new();
        for _ in 0..n {
            let key = EKey::random();
            let enc = rb256();
            let sig = self.attest(self.measurement, key.address(), enc);
            operator
                .register_enclave(self.measurement, key.address(), enc, sig)
                .await
                .expect("register");
            self.operators
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.address(), operator.clone());
            keys.push(key);
        }
        keys
    }

    /// The operator (a client signing as it) of an enclave registered through this `Env`.
    pub fn operator_of(&self, enclave: Address) -> ManagerClient {
        self.operators
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&enclave)
            .cloned()
            .expect("the enclave was registered through this Env")
    }

    /// Creates a contract with `pool_size` members from `registered` and completes its
    /// creation; returns its id and its pool's keys in pool order.
    pub async fn live_contract(
        &self,
        registered: &[EKey],
        p: PoseManager::Params,
    ) -> (ContractId, Vec<EKey>) {
        let code_hash = rb256();
        let (cid, pool, _) = self
            .owner
            .create_contract(code_hash, p)
            .await
            .expect("create");
        let pool_keys = keys_for(registered, &pool);
        let tx_hash = self.owner.tx_hash_of(cid).await.unwrap();
        let (enc_key, init) = (rb256(), rb256());
        let d = digest::accept(
            self.chain_id,
            self.manager(),
            cid.0,
            code_hash,
            enc_key,
            init,
            tx_hash,
        );
        let sigs = pool_keys.iter().map(|k| sign(k, d)).collect();
        self.owner
            .send(
                &PoseManager::completeCreationCall {
                    cid: cid.0,
                    contractEncKey: enc_key,
                    initStateHash: init,
                    txHash: tx_hash,
                    sigs,
                },
                U256::ZERO,
            )
            .await
            .expect("complete creation");
        (cid, pool_keys)
    }
}

/// The keys of `pool` (addresses) among `registered`, in pool order.
pub fn keys_for(registered: &[EKey], pool: &[Address]) -> Vec<EKey> {
    pool.iter()
        .map(|a| {
            registered
                .iter()
                .find(|k| k.address() == *a)
                .expect("pool member is registered")
                .clone()
        })
        .collect()
}

pub async fn fund(url: &str, account: Address) {
    use alloy::providers::ext::AnvilApi;
    use alloy::providers::ProviderBuilder;
    let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
    p.anvil_set_balance(account, U256::from(1000 * ONE_ETH))
        .await
        .expect("fund");
}

/// An enclave's (or the vendor's) identity key, as `pose_crypto` makes it.
#[derive(Clone, Debug)]
pub struct EKey(pub pose_crypto::SigningKey);

impl EKey {
    pub fn random() -> Self {
        EKey(pose_crypto::SigningKey::random(&mut pose_crypto::OsRng))
    }

    pub fn address(&self) -> Address {
        to_address(self.0.address())
    }
}

/// Something that signs a raw 32-byte digest.
pub trait SignsDigest {
    fn sign_raw(&self, digest: B256) -> Bytes;
}

impl SignsDigest for EKey {
    fn sign_raw(&self, digest: B256) -> Bytes {
        sig_bytes(&self.0.sign_digest(&from_b256(digest)))
    }
}

/// alloy's local signer, as an independent check that pose-crypto's signatures are ordinary.
impl SignsDigest for PrivateKeySigner {
    fn sign_raw(&self, digest: B256) -> Bytes {
        let sig = self.sign_hash_sync(&digest).expect("sign");
        Bytes::from(sig.as_bytes().to_vec())
    }
}

/// Raw signature `r || s || v`, v in {27, 28}, low s.
pub fn sign(key: &impl SignsDigest, digest: B256) -> Bytes {
    key.sign_raw(digest)
}

/// The manager's custom error behind `r`; panics with what happened otherwise.
pub fn refusal<T: std::fmt::Debug>(r: Result<T, ChainError>) -> PoseManagerErrors {
    match r {
        Err(ChainError::Reverted(e)) => e,
        other => panic!("expected a manager refusal, got {other:?}"),
    }
}

/// The digests of docs/protocol.md section 2 and the txHash rule of section 3, computed
/// independently of pose-crypto with alloy's ABI encoding.
pub mod oracle {
    use super::*;

    fn tag(s: &str) -> B256 {
        keccak256(s.as_bytes())
    }

    pub fn attestation(chain: u64, mgr: Address, m: B256, enclave: Address, enc: B256) -> B256 {
        keccak256(
            (
                tag("pose.attestation.v1"),
                U256::from(chain),
                mgr,
                m,
                enclave,
                enc,
            )
                .abi_encode(),
        )
    }

    pub fn accept(
        chain: u64,
        mgr: Address,
        cid: u64,
        code: B256,
        key: B256,
        init: B256,
        tx: B256,
    ) -> B256 {
        keccak256(
            (
                tag("pose.accept.v1"),
                U256::from(chain),
                mgr,
                cid,
                code,
                key,
                init,
                tx,
            )
                .abi_encode(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn respond(
        chain: u64,
        mgr: Address,
        cid: u64,
        challenge_id: u64,
        epoch: u64,
        output: &[u8],
        seq: u64,
        state: B256,
        tx: B256,
    ) -> B256 {
        let head = (
            tag("pose.respond.v1"),
            U256::from(chain),
            mgr,
            cid,
            challenge_id,
            epoch,
        )
            .abi_encode();
        let tail = (keccak256(output), seq, state, tx).abi_encode();
        keccak256([head, tail].concat())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn withdraw(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        to: Address,
        amount: U256,
        nonce: u64,
        tx: B256,
    ) -> B256 {
        let head = (tag("pose.withdraw.v1"), U256::from(chain), mgr, cid, epoch).abi_encode();
        let tail = (to, amount, nonce, tx).abi_encode();
        keccak256([head, tail].concat())
    }

    pub fn challenge_member(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        member: Address,
        tx: B256,
    ) -> B256 {
        keccak256(
            (
                tag("pose.challenge-member.v1"),
                U256::from(chain),
                mgr,
                cid,
                epoch,
                member,
                tx,
            )
                .abi_encode(),
        )
    }

    pub fn respond_member(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        member: Address,
        held: (u64, B256),
        tx: B256,
    ) -> B256 {
        keccak256(
            (
                tag("pose.respond-member.v2"),
                U256::from(chain),
                mgr,
                cid,
                epoch,
                member,
                held.0,
                held.1,
                tx,
            )
                .abi_encode(),
        )
    }

    pub fn revive(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        member: Address,
        held: (u64, B256),
        tx: B256,
    ) -> B256 {
        keccak256(
            (
                tag("pose.revive.v1"),
                U256::from(chain),
                mgr,
                cid,
                epoch,
                member,
                held.0,
                held.1,
                tx,
            )
                .abi_encode(),
        )
    }

    pub fn payouts(recipients: &[Address], amounts: &[U256]) -> B256 {
        keccak256((recipients.to_vec(), amounts.to_vec()).abi_encode_params())
    }

    pub fn terminate(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        payouts: B256,
        tx: B256,
    ) -> B256 {
        keccak256(
            (
                tag("pose.terminate.v1"),
                U256::from(chain),
                mgr,
                cid,
                epoch,
                payouts,
                tx,
            )
                .abi_encode(),
        )
    }

    pub fn tx_genesis(chain: u64, mgr: Address, cid: u64) -> B256 {
        keccak256((tag("pose.txhash.v1"), U256::from(chain), mgr, cid).abi_encode())
    }

    pub fn tx_step(
        prev: B256,
        calldata: &[u8],
        sender: Address,
        value: U256,
        block_number: u64,
        block_time: u64,
        outcome: B256,
    ) -> B256 {
        keccak256(
            (
                prev,
                keccak256(calldata),
                sender,
                value,
                U256::from(block_number),
                U256::from(block_time),
                outcome,
            )
                .abi_encode(),
        )
    }

    pub fn outcome_pool(pool: &[Address]) -> B256 {
        keccak256((pool.to_vec(),).abi_encode_params())
    }

    pub fn outcome_replacement(replacement: Address) -> B256 {
        keccak256(replacement.abi_encode())
    }

    pub fn outcome_challenge(id: u64) -> B256 {
        B256::from(U256::from(id))
    }
}

/// 32 random bytes (from the OS, through a fresh secp256k1 key).
pub fn rb256() -> B256 {
    random_key().to_bytes()
}

/// A random address.
pub fn raddr() -> Address {
    random_key().address()
}

/// The digests as enclaves compute them: `pose_crypto::onchain`, with alloy-typed arguments.
pub mod digest {
    use super::*;
    use pose_crypto::onchain::{self as oc, Domain};

    fn dom(chain: u64, mgr: Address) -> Domain {
        Domain {
            chain_id: chain,
            manager: from_address(mgr),
        }
    }

    fn amount(v: U256) -> Amount {
        Amount(u128::try_from(v).expect("amounts fit in u128"))
    }

    pub fn attestation(chain: u64, mgr: Address, m: B256, enclave: Address, enc: B256) -> B256 {
        let d = oc::attestation_digest(
            &dom(chain, mgr),
            &from_b256(m),
            &from_address(enclave),
            &EncPublicKey(enc.0),
        );
        B256::from(d.0)
    }

    pub fn accept(
        chain: u64,
        mgr: Address,
        cid: u64,
        code: B256,
        key: B256,
        init: B256,
        tx: B256,
    ) -> B256 {
        let d = oc::accept_digest(
            &dom(chain, mgr),
            ContractId(cid),
            &from_b256(code),
            &EncPublicKey(key.0),
            &from_b256(init),
            &from_b256(tx),
        );
        B256::from(d.0)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn respond(
        chain: u64,
        mgr: Address,
        cid: u64,
        challenge_id: u64,
        epoch: u64,
        output: &[u8],
        seq: u64,
        state: B256,
        tx: B256,
    ) -> B256 {
        let d = oc::respond_digest(
            &dom(chain, mgr),
            ContractId(cid),
            challenge_id,
            Epoch(epoch),
            output,
            Seq(seq),
            &from_b256(state),
            &from_b256(tx),
        );
        B256::from(d.0)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn withdraw(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        to: Address,
        value: U256,
        nonce: u64,
        tx: B256,
    ) -> B256 {
        let d = oc::withdraw_digest(
            &dom(chain, mgr),
            ContractId(cid),
            Epoch(epoch),
            &from_address(to),
            amount(value),
            nonce,
            &from_b256(tx),
        );
        B256::from(d.0)
    }

    pub fn challenge_member(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        member: Address,
        tx: B256,
    ) -> B256 {
        let d = oc::challenge_member_digest(
            &dom(chain, mgr),
            ContractId(cid),
            Epoch(epoch),
            &from_address(member),
            &from_b256(tx),
        );
        B256::from(d.0)
    }

    pub fn respond_member(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        member: Address,
        held: (u64, B256),
        tx: B256,
    ) -> B256 {
        let d = oc::respond_member_digest(
            &dom(chain, mgr),
            ContractId(cid),
            Epoch(epoch),
            &from_address(member),
            (Seq(held.0), &from_b256(held.1)),
            &from_b256(tx),
        );
        B256::from(d.0)
    }

    pub fn revive(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        member: Address,
        held: (u64, B256),
        tx: B256,
    ) -> B256 {
        let d = oc::revive_digest(
            &dom(chain, mgr),
            ContractId(cid),
            Epoch(epoch),
            &from_address(member),
            (Seq(held.0), &from_b256(held.1)),
            &from_b256(tx),
        );
        B256::from(d.0)
    }

    fn pairs(recipients: &[Address], amounts: &[U256]) -> Vec<(pose_types::Address, Amount)> {
        assert_eq!(
            recipients.len(),
            amounts.len(),
            "pose-crypto takes payouts as pairs"
        );
        recipients
            .iter()
            .zip(amounts)
            .map(|(r, a)| (from_address(*r), amount(*a)))
            .collect()
    }

    pub fn payouts(recipients: &[Address], amounts: &[U256]) -> B256 {
        B256::from(oc::payouts_hash(&pairs(recipients, amounts)).0)
    }

    /// The termination digest over the payouts themselves (pose-crypto hashes them).
    pub fn terminate_payouts(
        chain: u64,
        mgr: Address,
        cid: u64,
        epoch: u64,
        recipients: &[Address],
        amounts: &[U256],
        tx: B256,
    ) -> B256 {
        let d = oc::terminate_digest(
            &dom(chain, mgr),
            ContractId(cid),
            Epoch(epoch),
            &pairs(recipients, amounts),
            &from_b256(tx),
        );
        B256::from(d.0)
    }

    pub fn tx_genesis(chain: u64, mgr: Address, cid: u64) -> B256 {
        B256::from(oc::tx_hash_initial(&dom(chain, mgr), ContractId(cid)).0)
    }

    pub fn tx_step(
        prev: B256,
        calldata: &[u8],
        sender: Address,
        value: U256,
        block_number: u64,
        block_time: u64,
        outcome: B256,
    ) -> B256 {
        let step = oc::TxStep {
            calldata,
            sender: &from_address(sender),
            value: amount(value),
            block_number,
            block_time_secs: block_time,
            outcome: from_b256(outcome),
        };
        B256::from(oc::tx_hash_extend(&from_b256(prev), &step).0)
    }

    pub fn outcome_pool(pool: &[Address]) -> B256 {
        let pool: Vec<_> = pool.iter().map(|a| from_address(*a)).collect();
        B256::from(oc::tx_outcome_pool(&pool).0)
    }

    pub fn outcome_replacement(replacement: Address) -> B256 {
        let r = (!replacement.is_zero()).then(|| from_address(replacement));
        B256::from(oc::tx_outcome_replacement(r.as_ref()).0)
    }

    pub fn outcome_challenge(id: u64) -> B256 {
        B256::from(oc::tx_outcome_challenge(id).0)
    }
}
