//! Prints docs/gas.md: the gas every PoseManager function uses on anvil, for pool sizes 3, 5,
//! 10 and 20. Run: `cargo run -p pose-chain --example gas-report > docs/gas.md`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::rpc::types::TransactionReceipt;
use common::*;
use pose_chain::PoseManager;

const POOL_SIZES: [u8; 4] = [3, 5, 10, 20];
const REGISTERED: usize = 24;

#[derive(Default)]
struct Table {
    rows: Vec<&'static str>,
    gas: BTreeMap<(&'static str, u8), u64>,
}

impl Table {
    fn put(&mut self, name: &'static str, pool: u8, r: &TransactionReceipt) {
        if !self.rows.contains(&name) {
            self.rows.push(name);
        }
        self.gas.insert((name, pool), r.gas_used);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let env = Env::new().await;
    let mut t = Table::default();
    let c = &env.owner;
    let (chain, mgr) = (env.chain_id, env.manager());

    let keys = env.register(REGISTERED).await;
    // Registration and owner functions do not depend on the pool size.
    let extra = random_key();
    let enc = rb256();
    let sig = env.attest(env.measurement, extra.address(), enc);
    let reg = c
        .register_enclave(env.measurement, extra.address(), enc, sig)
        .await?;
    let dereg = c
        .send(
            &PoseManager::deregisterEnclaveCall {
                enclave: extra.address(),
            },
            U256::ZERO,
        )
        .await?;
    let m = rb256();
    let allow = c
        .send(
            &PoseManager::allowMeasurementCall { measurement: m },
            U256::ZERO,
        )
        .await?;
    let revoke = c
        .send(
            &PoseManager::revokeMeasurementCall { measurement: m },
            U256::ZERO,
        )
        .await?;
    let vendor = c
        .send(
            &PoseManager::setVendorCall {
                newVendor: env.vendor.address(),
            },
            U256::ZERO,
        )
        .await?;
    for size in POOL_SIZES {
        t.put("registerEnclave", size, &reg);
        t.put("deregisterEnclave", size, &dereg);
        t.put("allowMeasurement", size, &allow);
        t.put("revokeMeasurement", size, &revoke);
        t.put("setVendor", size, &vendor);
    }

    let user = env.user().await;
    for size in POOL_SIZES {
        let mut p = params(size);
        p.responsePeriodSecs = 60;
        p.memberResponsePeriodSecs = 30;
        let code = rb256();
        let (cid, pool, r) = c.create_contract(code, p).await?;
        t.put("createContract", size, &r);
        let pk = keys_for(&keys, &pool);
        let tx = c.tx_hash_of(cid).await?;
        let (ek, init) = (rb256(), rb256());
        let d = digest::accept(chain, mgr, cid.0, code, ek, init, tx);
        let sigs = pk.iter().map(|k| sign(k, d)).collect();
        let call = PoseManager::completeCreationCall {
            cid: cid.0,
            contractEncKey: ek,
            initStateHash: init,
            txHash: tx,
            sigs,
        };
        t.put("completeCreation", size, &c.send(&call, U256::ZERO).await?);

        t.put(
            "deposit",
            size,
            &user.deposit(cid, U256::from(10 * ONE_ETH)).await?,
        );
        let input = Bytes::from(vec![7u8; 256]);
        let (id, r) = user.challenge(cid, input.clone()).await?;
        t.put("challenge (256-byte input)", size, &r);
        let respond = |epoch: u64, signer: usize, id: u64, tx: B256| {
            let out = vec![9u8; 256];
            let state = B256::repeat_byte(1);
            let d = digest::respond(chain, mgr, cid.0, id, epoch, &out, 1, state, tx);
            PoseManager::respondCall {
                cid: cid.0,
                challengeId: id,
                encryptedOutput: out.into(),
                seq: 1,
                stateHash: state,
                txHash: tx,
                sig: sign(&pk[signer], d),
            }
        };
        let tx = c.tx_hash_of(cid).await?;
        t.put(
            "respond (256-byte output)",
            size,
            &c.send(&respond(0, 0, id, tx), U256::ZERO).await?,
        );

        let (id, _) = user.challenge(cid, input).await?;
        c.anvil_increase_time(61).await?;
        let r = c
            .send(
                &PoseManager::timeoutChallengeCall {
                    cid: cid.0,
                    challengeId: id,
                },
                U256::ZERO,
            )
            .await?;
        t.put("timeoutChallenge", size, &r);
        let tx = c.tx_hash_of(cid).await?;
        c.send(&respond(1, 1, id, tx), U256::ZERO).await?;
        // Executor of epoch 1 is pool[1]; it challenges the last member.
        let exec = &pk[1];
        let member = pool[pool.len() - 1];
        let challenge_member = |tx: B256| {
            let d = digest::challenge_member(chain, mgr, cid.0, 1, member, tx);
            PoseManager::challengeMemberCall {
                cid: cid.0,
                member,
                txHash: tx,
                sig: sign(exec, d),
            }
        };
        let r = c
            .send(&challenge_member(c.tx_hash_of(cid).await?), U256::ZERO)
            .await?;
        t.put("challengeMember", size, &r);
        let tx = c.tx_hash_of(cid).await?;
        let d = digest::respond_member(chain, mgr, cid.0, 1, member, tx);
        let call = PoseManager::respondMemberCall {
            cid: cid.0,
            member,
            txHash: tx,
            sig: sign(&pk[pool.len() - 1], d),
        };
        t.put("respondMember", size, &c.send(&call, U256::ZERO).await?);
        c.send(&challenge_member(c.tx_hash_of(cid).await?), U256::ZERO)
            .await?;
        c.anvil_increase_time(31).await?;
        let r = c
            .send(
                &PoseManager::removeMemberCall { cid: cid.0, member },
                U256::ZERO,
            )
            .await?;
        t.put("removeMember (+ replacement draw)", size, &r);

        let tx = c.tx_hash_of(cid).await?;
        let to = Address::repeat_byte(0x40 + size); // a fresh account per column
        let d = digest::withdraw(chain, mgr, cid.0, 1, to, U256::from(ONE_ETH), 1, tx);
        let call = PoseManager::withdrawCall {
            cid: cid.0,
            recipient: to,
            amount: U256::from(ONE_ETH),
            nonce: 1,
            txHash: tx,
            sig: sign(exec, d),
        };
        t.put("withdraw", size, &c.send(&call, U256::ZERO).await?);

        let recipients = vec![user.sender(), c.sender()];
        let amounts = vec![U256::from(4 * ONE_ETH), U256::from(4 * ONE_ETH)];
        let tx = c.tx_hash_of(cid).await?;
        let d = digest::terminate(
            chain,
            mgr,
            cid.0,
            1,
            digest::payouts(&recipients, &amounts),
            tx,
        );
        let call = PoseManager::terminateCall {
            cid: cid.0,
            recipients,
            amounts,
            txHash: tx,
            sig: sign(exec, d),
        };
        t.put(
            "terminate (2 payouts)",
            size,
            &c.send(&call, U256::ZERO).await?,
        );
        t.put(
            "claim",
            size,
            &user.send(&PoseManager::claimCall {}, U256::ZERO).await?,
        );
        c.send(&PoseManager::claimCall {}, U256::ZERO).await?;
    }

    println!("# Gas used by PoseManager");
    println!();
    println!(
        "Generated by `cargo run -p pose-chain --example gas-report > docs/gas.md` (anvil, the"
    );
    println!("committed bytecode in contracts/out/, {REGISTERED} registered enclaves). Gas of one");
    println!(
        "transaction as reported in its receipt (including the 21000 base cost and calldata)."
    );
    println!("Columns are the contract's pool size; rows that do not depend on it repeat.");
    println!();
    print!("| function |");
    for s in POOL_SIZES {
        print!(" pool {s} |");
    }
    println!();
    print!("|---|");
    for _ in POOL_SIZES {
        print!("---:|");
    }
    println!();
    for row in &t.rows {
        print!("| `{row}` |");
        for s in POOL_SIZES {
            print!(" {} |", t.gas.get(&(*row, s)).copied().unwrap_or_default());
        }
        println!();
    }
    println!();
    println!("Loops are bounded: `createContract` and `completeCreation` grow with the pool size");
    println!(
        "(one draw and one signature check per member), `removeMember` finds the member's slot"
    );
    println!(
        "(at most 32), `terminate` credits at most 64 payouts; nothing loops over users or over"
    );
    println!(
        "registered enclaves. `withdraw` pays a fresh account here (25000 of its gas create that"
    );
    println!("account); `claim` pays an existing one.");
    Ok(())
}
