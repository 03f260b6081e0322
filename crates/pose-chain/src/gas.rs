//! The gas scenario: one contract's whole life per pool size, submitted as real transactions
//! through [`ManagerClient`]'s typed submissions and signed with `pose-crypto` keys over the
//! `pose_crypto::onchain` digests, as enclaves sign them. Every receipt's `gas_used` is
//! recorded.
//!
//! Used by `pose bench gas` and by the `gas-report` example (docs/gas.md), so both measure the
//! same thing. Needs a chain where accounts can be funded and the clock moved: anvil.

use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolConstructor;
use pose_crypto::onchain::{self as oc, Domain};
use pose_crypto::SigningKey;
use pose_types::{Amount, ContractId, EncPublicKey, Epoch, Hash32, Seq};

use crate::{from_address, from_b256, sig_bytes, to_address, PoseManager};
use crate::{ChainConfig, ChainError, ManagerClient};

/// One ether in wei.
const ONE_ETH: u128 = 1_000_000_000_000_000_000;
/// Bytes of the encrypted input of the measured challenge and of the encrypted output of the
/// measured response.
pub const PAYLOAD_BYTES: usize = 256;
/// Largest pool size the manager accepts.
pub const POOL_SIZE_MAX: u8 = 32;
/// Enclaves registered beyond the largest pool, so that a removed member has a replacement.
const SPARE_ENCLAVES: usize = 4;

/// The operations the scenario measures, in the order it submits them. The first element is
/// the stable key (the manager function), the second a label with what the measured call
/// carries.
pub const OPERATIONS: [(&str, &str); 18] = [
    ("deployment", "deployment (1 measurement)"),
    ("registerEnclave", "registerEnclave"),
    ("deregisterEnclave", "deregisterEnclave"),
    ("allowMeasurement", "allowMeasurement"),
    ("revokeMeasurement", "revokeMeasurement"),
    ("setVendor", "setVendor"),
    ("createContract", "createContract"),
    ("completeCreation", "completeCreation"),
    ("deposit", "deposit"),
    ("challenge", "challenge (256-byte input)"),
    ("respond", "respond (256-byte output)"),
    ("timeoutChallenge", "timeoutChallenge (executor change)"),
    ("challengeMember", "challengeMember"),
    ("respondMember", "respondMember"),
    ("removeMember", "removeMember (+ replacement draw)"),
    ("withdraw", "withdraw"),
    ("terminate", "terminate (2 payouts)"),
    ("claim", "claim"),
];

/// One measured transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct GasSample {
    /// Stable key of the operation (a key of [`OPERATIONS`]).
    pub operation: &'static str,
    /// Pool size of the contract the transaction belongs to (operations that do not depend on
    /// a contract are repeated for every pool size).
    pub pool_size: u8,
    /// Gas used, from the receipt (including the 21000 base cost and calldata).
    pub gas: u64,
    /// Wall time from submission to the confirmed receipt.
    pub wall: Duration,
}

/// What the gas scenario measured.
#[derive(Clone, Debug, Default)]
pub struct GasReport {
    /// Pool sizes, in the order measured.
    pub pool_sizes: Vec<u8>,
    /// Enclaves registered before the contracts were created.
    pub registered: usize,
    /// Every measured transaction.
    pub samples: Vec<GasSample>,
}

impl GasReport {
    /// The gas of `operation` for `pool_size`, if measured.
    pub fn gas(&self, operation: &str, pool_size: u8) -> Option<u64> {
        self.samples
            .iter()
            .find(|s| s.operation == operation && s.pool_size == pool_size)
            .map(|s| s.gas)
    }

    /// A markdown table: one row per operation, one column per pool size.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from("| function |");
        for s in &self.pool_sizes {
            out.push_str(&format!(" pool {s} |"));
        }
        out.push_str("\n|---|");
        for _ in &self.pool_sizes {
            out.push_str("---:|");
        }
        out.push('\n');
        for (key, label) in OPERATIONS {
            out.push_str(&format!("| `{label}` |"));
            for s in &self.pool_sizes {
                match self.gas(key, *s) {
                    Some(g) => out.push_str(&format!(" {g} |")),
                    None => out.push_str(" - |"),
                }
            }
            out.push('\n');
        }
        out
    }

    fn put(&mut self, operation: &'static str, pool_size: u8, timed: &Timed) {
        self.samples.push(GasSample {
            operation,
            pool_size,
            gas: timed.0.gas_used,
            wall: timed.1,
        });
    }
}

/// A receipt and the wall time its submission took.
struct Timed(TransactionReceipt, Duration);

async fn timed<T>(
    f: impl std::future::Future<Output = Result<T, ChainError>>,
    receipt: impl FnOnce(&T) -> TransactionReceipt,
) -> Result<(T, Timed), ChainError> {
    let start = Instant::now();
    let v = f.await?;
    let r = receipt(&v);
    Ok((v, Timed(r, start.elapsed())))
}

async fn time(
    f: impl std::future::Future<Output = Result<TransactionReceipt, ChainError>>,
) -> Result<Timed, ChainError> {
    let start = Instant::now();
    let r = f.await?;
    Ok(Timed(r, start.elapsed()))
}

fn random_b256() -> B256 {
    PrivateKeySigner::random().to_bytes()
}

fn random_hash() -> Hash32 {
    from_b256(random_b256())
}

/// A fresh account with 1000 ether on anvil.
async fn funded(any: &ManagerClient) -> Result<PrivateKeySigner, ChainError> {
    let key = PrivateKeySigner::random();
    any.anvil_set_balance(key.address(), U256::from(1000 * ONE_ETH))
        .await?;
    Ok(key)
}

/// Runs the gas scenario on the anvil node at `rpc_url` for each of `pool_sizes` (each between
/// 1 and [`POOL_SIZE_MAX`]): deploys a fresh manager, registers enough enclaves, then walks one
/// contract per pool size through creation, deposit, a challenge and its response, an executor
/// change, a member challenge and response, a member removal, a withdrawal, termination and
/// claim.
pub async fn measure_gas(rpc_url: &str, pool_sizes: &[u8]) -> Result<GasReport, ChainError> {
    if let Some(bad) = pool_sizes.iter().find(|s| **s == 0 || **s > POOL_SIZE_MAX) {
        return Err(ChainError::Config(format!(
            "pool size {bad} is out of range; use 1..={POOL_SIZE_MAX}"
        )));
    }
    let config = ChainConfig::new(rpc_url);
    let vendor = SigningKey::random(&mut pose_crypto::OsRng);
    let measurement = random_b256();
    let owner_key = PrivateKeySigner::random();
    // anvil's set-balance needs no signature: fund the owner before it has a client.
    {
        use alloy::providers::ext::AnvilApi;
        use alloy::providers::ProviderBuilder;
        let url = rpc_url
            .parse()
            .map_err(|e| ChainError::Config(format!("RPC URL {rpc_url:?}: {e}")))?;
        let p = ProviderBuilder::new().connect_http(url);
        p.anvil_set_balance(owner_key.address(), U256::from(1000 * ONE_ETH))
            .await?;
    }
    let owner = ManagerClient::deploy(
        config,
        owner_key,
        to_address(vendor.address()),
        vec![measurement],
    )
    .await?;
    let dom = owner.domain();
    let max_pool = pool_sizes.iter().copied().max().unwrap_or(1) as usize;
    let registered = max_pool + SPARE_ENCLAVES;
    let mut report = GasReport {
        pool_sizes: pool_sizes.to_vec(),
        registered,
        samples: Vec::new(),
    };

    // A second deployment, measured.
    let mut code = PoseManager::BYTECODE.to_vec();
    code.extend_from_slice(
        &PoseManager::constructorCall {
            vendor_: to_address(vendor.address()),
            measurements: vec![measurement],
        }
        .abi_encode(),
    );
    let deploy =
        time(owner.submit(TransactionRequest::default().with_deploy_code(Bytes::from(code))))
            .await?;

    let attest = |key: &SigningKey, enc: B256| {
        let d = oc::attestation_digest(
            &dom,
            &from_b256(measurement),
            &key.address(),
            &EncPublicKey(enc.0),
        );
        vendor.sign_digest(&d)
    };
    let mut keys = Vec::with_capacity(registered);
    let mut reg = None;
    for _ in 0..registered {
        let key = SigningKey::random(&mut pose_crypto::OsRng);
        let enc = random_b256();
        let sig = attest(&key, enc);
        // A pool takes one enclave per operator: each enclave has its own.
        let operator = owner.with_signer(funded(&owner).await?)?;
        let r = time(operator.register_enclave(
            measurement,
            to_address(key.address()),
            enc,
            sig_bytes(&sig),
        ))
        .await?;
        reg = Some(r);
        keys.push(key);
    }
    // Owner functions and deregistration, on an extra enclave.
    let extra = SigningKey::random(&mut pose_crypto::OsRng);
    let enc = random_b256();
    let reg_extra = time(owner.register_enclave(
        measurement,
        to_address(extra.address()),
        enc,
        sig_bytes(&attest(&extra, enc)),
    ))
    .await?;
    let dereg = time(owner.send(
        &PoseManager::deregisterEnclaveCall {
            enclave: to_address(extra.address()),
        },
        U256::ZERO,
    ))
    .await?;
    let m = random_b256();
    let allow = time(owner.send(
        &PoseManager::allowMeasurementCall { measurement: m },
        U256::ZERO,
    ))
    .await?;
    let revoke = time(owner.send(
        &PoseManager::revokeMeasurementCall { measurement: m },
        U256::ZERO,
    ))
    .await?;
    let set_vendor = time(owner.send(
        &PoseManager::setVendorCall {
            newVendor: to_address(vendor.address()),
        },
        U256::ZERO,
    ))
    .await?;
    let reg = reg.unwrap_or(reg_extra);
    for &size in pool_sizes {
        report.put("deployment", size, &deploy);
        report.put("registerEnclave", size, &reg);
        report.put("deregisterEnclave", size, &dereg);
        report.put("allowMeasurement", size, &allow);
        report.put("revokeMeasurement", size, &revoke);
        report.put("setVendor", size, &set_vendor);
    }

    let user = owner.with_signer(funded(&owner).await?)?;
    for &size in pool_sizes {
        contract_life(&owner, &user, &dom, &keys, size, &mut report).await?;
    }
    Ok(report)
}

/// One contract of `size` members from creation to claim, every step measured.
async fn contract_life(
    owner: &ManagerClient,
    user: &ManagerClient,
    dom: &Domain,
    keys: &[SigningKey],
    size: u8,
    report: &mut GasReport,
) -> Result<(), ChainError> {
    const RESPONSE_SECS: u32 = 60;
    const MEMBER_RESPONSE_SECS: u32 = 30;
    let params = PoseManager::Params {
        poolSize: size,
        responsePeriodSecs: RESPONSE_SECS,
        memberResponsePeriodSecs: MEMBER_RESPONSE_SECS,
        confirmations: 1,
    };
    let code = random_hash();
    let ((cid, pool, _), t) = timed(owner.create_contract(crate::to_b256(code), params), |v| {
        v.2.clone()
    })
    .await?;
    report.put("createContract", size, &t);
    let pool: Vec<&SigningKey> = pool
        .iter()
        .map(|a| {
            keys.iter()
                .find(|k| to_address(k.address()) == *a)
                .ok_or_else(|| {
                    ChainError::Config(format!(
                        "pool member {a} is not an enclave this run registered"
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    let tx = |c: ContractId| async move { owner.tx_hash_of(c).await.map(from_b256) };

    let (ek, init) = (EncPublicKey(random_b256().0), random_hash());
    let h = tx(cid).await?;
    let d = oc::accept_digest(dom, cid, &code, &ek, &init, &h);
    let sigs: Vec<_> = pool.iter().map(|k| k.sign_digest(&d)).collect();
    let t = time(owner.complete_creation(cid, ek, init, h, &sigs)).await?;
    report.put("completeCreation", size, &t);

    let t = time(user.deposit(cid, U256::from(10 * ONE_ETH))).await?;
    report.put("deposit", size, &t);

    let input = Bytes::from(vec![7u8; PAYLOAD_BYTES]);
    let ((id, _), t) = timed(user.challenge(cid, input.clone()), |v| v.1.clone()).await?;
    report.put("challenge", size, &t);
    let output = vec![9u8; PAYLOAD_BYTES];
    let state = Hash32([1; 32]);
    let respond = |epoch: u64, signer: &SigningKey, id: u64, h: Hash32| {
        let d = oc::respond_digest(dom, cid, id, Epoch(epoch), &output, Seq(1), &state, &h);
        signer.sign_digest(&d)
    };
    let h = tx(cid).await?;
    let sig = respond(0, pool[0], id, h);
    let t = time(owner.respond(cid, id, &output, Seq(1), state, h, &sig)).await?;
    report.put("respond", size, &t);

    // The executor of epoch 0 stays silent: the role moves to pool[1].
    let (id, _) = user.challenge(cid, input).await?;
    owner
        .anvil_increase_time(u64::from(RESPONSE_SECS) + 1)
        .await?;
    let t = time(owner.timeout_challenge(cid, id)).await?;
    report.put("timeoutChallenge", size, &t);
    let exec_index = 1 % pool.len();
    let exec = pool[exec_index];
    let h = tx(cid).await?;
    let sig = respond(1, exec, id, h);
    owner
        .respond(cid, id, &output, Seq(1), state, h, &sig)
        .await?;

    // The executor challenges the last member, which answers once and then stays silent.
    let member_index = pool.len() - 1;
    let member = pool[member_index].address();
    let challenge_member = |h: Hash32| {
        exec.sign_digest(&oc::challenge_member_digest(
            dom,
            cid,
            Epoch(1),
            &member,
            &h,
        ))
    };
    let h = tx(cid).await?;
    let t = time(owner.challenge_member(cid, member, h, &challenge_member(h))).await?;
    report.put("challengeMember", size, &t);
    let h = tx(cid).await?;
    // A state as a real member would name it (the gas does not depend on its value).
    let held = (Seq(1), Hash32([7; 32]));
    let sig = pool[member_index].sign_digest(&oc::respond_member_digest(
        dom,
        cid,
        Epoch(1),
        &member,
        (held.0, &held.1),
        &h,
    ));
    let t = time(owner.respond_member(cid, member, held, h, &sig)).await?;
    report.put("respondMember", size, &t);
    let h = tx(cid).await?;
    owner
        .challenge_member(cid, member, h, &challenge_member(h))
        .await?;
    owner
        .anvil_increase_time(u64::from(MEMBER_RESPONSE_SECS) + 1)
        .await?;
    let ((_, _), t) = timed(owner.remove_member(cid, member), |v| v.1.clone()).await?;
    report.put("removeMember", size, &t);

    // A withdrawal to a fresh account per pool size.
    let to = from_address(Address::repeat_byte(0x40u8.wrapping_add(size)));
    let amount = Amount(ONE_ETH);
    let h = tx(cid).await?;
    let sig = exec.sign_digest(&oc::withdraw_digest(dom, cid, Epoch(1), &to, amount, 1, &h));
    let t = time(owner.withdraw(cid, to, amount, 1, h, &sig)).await?;
    report.put("withdraw", size, &t);

    let payouts = [
        (from_address(user.sender()), Amount(4 * ONE_ETH)),
        (from_address(owner.sender()), Amount(4 * ONE_ETH)),
    ];
    let h = tx(cid).await?;
    let sig = exec.sign_digest(&oc::terminate_digest(dom, cid, Epoch(1), &payouts, &h));
    let t = time(owner.terminate(cid, &payouts, h, &sig)).await?;
    report.put("terminate", size, &t);
    let t = time(user.claim()).await?;
    report.put("claim", size, &t);
    owner.claim().await?;
    Ok(())
}
