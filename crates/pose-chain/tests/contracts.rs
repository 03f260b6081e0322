//! Contract creation with the pool draw, deposits, withdrawals, termination, the incremental
//! transaction hash and the digest views, against anvil.

mod common;

use std::collections::BTreeSet;

use alloy::primitives::{Address, Bytes, B256, U256};
use common::*;
use pose_chain::bindings::Phase;
use pose_chain::PoseManager::{self, PoseManagerErrors as E, PoseManagerEvents as Ev};
use pose_chain::{find_event, from_address, to_address, EventFollower, ManagerClient};
use pose_types::ContractId;

#[tokio::test]
async fn creation_draws_a_pool_of_distinct_registered_enclaves() {
    let env = Env::new().await;
    let keys = env.register(8).await;
    let registered: BTreeSet<Address> = keys.iter().map(|k| k.address()).collect();
    for size in [1u8, 5, 8] {
        let code = rb256();
        let (cid, pool, r) = env.owner.create_contract(code, params(size)).await.unwrap();
        assert_eq!(pool.len(), size as usize);
        let distinct: BTreeSet<Address> = pool.iter().copied().collect();
        assert_eq!(distinct.len(), pool.len(), "no enclave drawn twice");
        assert!(distinct.is_subset(&registered));
        let ev = find_event::<PoseManager::ContractCreated>(&r).unwrap();
        assert_eq!(
            (ev.creator, ev.codeHash, ev.params.poolSize),
            (env.owner.sender(), code, size)
        );
        let inst = env.owner.contract(cid).await.unwrap();
        assert_eq!(Phase::from_u8(inst.phase), Some(Phase::Creation));
        assert_eq!(env.owner.pool(cid).await.unwrap(), pool);
        assert_eq!(env.owner.executor_of(cid).await.unwrap(), pool[0]);
        for m in &pool {
            assert!(env
                .owner
                .read(&PoseManager::isPoolMemberCall {
                    cid: cid.0,
                    member: *m
                })
                .await
                .unwrap());
        }
    }
    assert_eq!(
        env.owner
            .read(&PoseManager::contractCountCall {})
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn creation_refuses_bad_parameters() {
    let env = Env::new().await;
    env.register(3).await;
    let c = &env.owner;
    for size in [0u8, 33] {
        let e = refusal(c.create_contract(B256::ZERO, params(size)).await);
        assert!(matches!(e, E::InvalidPoolSize(_)), "{e:?}");
    }
    let mut p = params(2);
    p.responsePeriodSecs = 0;
    assert!(matches!(
        refusal(c.create_contract(B256::ZERO, p).await),
        E::InvalidPeriod(_)
    ));
    let mut p = params(2);
    p.memberResponsePeriodSecs = 0;
    assert!(matches!(
        refusal(c.create_contract(B256::ZERO, p).await),
        E::InvalidPeriod(_)
    ));
    let e = refusal(c.create_contract(B256::ZERO, params(4)).await);
    assert!(
        matches!(e, E::NotEnoughEnclaves(ref x) if x.needed == U256::from(4) && x.available == U256::from(3))
    );
}

#[tokio::test]
async fn completion_needs_every_member_in_pool_order_over_a_known_tx_hash() {
    let env = Env::new().await;
    let keys = env.register(4).await;
    let code = rb256();
    let (cid, pool, _) = env.owner.create_contract(code, params(3)).await.unwrap();
    let pool_keys = keys_for(&keys, &pool);
    let outsider = keys
        .iter()
        .find(|k| !pool.contains(&k.address()))
        .unwrap()
        .clone();
    let tx = env.owner.tx_hash_of(cid).await.unwrap();
    let (key, init) = (rb256(), rb256());
    let d = digest::accept(env.chain_id, env.manager(), cid.0, code, key, init, tx);
    let call = |tx_hash: B256, sigs: Vec<Bytes>| PoseManager::completeCreationCall {
        cid: cid.0,
        contractEncKey: key,
        initStateHash: init,
        txHash: tx_hash,
        sigs,
    };
    let sigs: Vec<Bytes> = pool_keys.iter().map(|k| sign(k, d)).collect();

    // Deposits and challenges wait until creation is complete.
    let user = env.user().await;
    assert!(matches!(
        refusal(user.deposit(cid, U256::from(1)).await),
        E::WrongPhase(_)
    ));

    let e = refusal(
        env.owner
            .send(&call(tx, sigs[..2].to_vec()), U256::ZERO)
            .await,
    );
    assert!(matches!(e, E::WrongSignatureCount(_)));
    let mut swapped = sigs.clone();
    swapped.swap(0, 1);
    let e = refusal(env.owner.send(&call(tx, swapped), U256::ZERO).await);
    assert!(matches!(e, E::NotPoolMemberSignature(ref x) if x.index == U256::ZERO));
    let mut with_outsider = sigs.clone();
    with_outsider[2] = sign(&outsider, d);
    let e = refusal(env.owner.send(&call(tx, with_outsider), U256::ZERO).await);
    assert!(matches!(e, E::NotPoolMemberSignature(ref x) if x.recovered == outsider.address()));
    let fake_tx = rb256();
    let d_fake = digest::accept(env.chain_id, env.manager(), cid.0, code, key, init, fake_tx);
    let fake_sigs = pool_keys.iter().map(|k| sign(k, d_fake)).collect();
    let e = refusal(env.owner.send(&call(fake_tx, fake_sigs), U256::ZERO).await);
    assert!(matches!(e, E::UnknownTxHash(_)));

    let r = env
        .owner
        .send(&call(tx, sigs.clone()), U256::ZERO)
        .await
        .unwrap();
    let ev = find_event::<PoseManager::CreationCompleted>(&r).unwrap();
    assert_eq!((ev.contractEncKey, ev.initStateHash), (key, init));
    let inst = env.owner.contract(cid).await.unwrap();
    assert_eq!(Phase::from_u8(inst.phase), Some(Phase::Executing));
    assert_eq!((inst.contractEncKey, inst.lastStateHash), (key, init));

    let e = refusal(env.owner.send(&call(tx, sigs), U256::ZERO).await);
    assert!(matches!(e, E::WrongPhase(_)));
    let e = refusal(user.deposit(ContractId(999), U256::from(1)).await);
    assert!(matches!(e, E::UnknownContract(ref x) if x.cid == 999));
    let e = refusal(user.executor_of(ContractId(999)).await);
    assert!(matches!(e, E::UnknownContract(_)));
}

#[tokio::test]
async fn deposits_are_held_by_the_manager() {
    let env = Env::new().await;
    let keys = env.register(3).await;
    let (cid, _) = env.live_contract(&keys, params(3)).await;
    let user = env.user().await;
    let before = user.balance_of(env.manager()).await.unwrap();
    let r = user.deposit(cid, U256::from(5 * ONE_ETH)).await.unwrap();
    let ev = find_event::<PoseManager::Deposited>(&r).unwrap();
    assert_eq!(
        (ev.from, ev.amount, ev.balance),
        (
            user.sender(),
            U256::from(5 * ONE_ETH),
            U256::from(5 * ONE_ETH)
        )
    );
    user.deposit(cid, U256::from(ONE_ETH)).await.unwrap();
    assert_eq!(
        env.owner.contract(cid).await.unwrap().balance,
        U256::from(6 * ONE_ETH)
    );
    assert_eq!(
        user.balance_of(env.manager()).await.unwrap() - before,
        U256::from(6 * ONE_ETH)
    );
    assert!(matches!(
        refusal(user.deposit(cid, U256::ZERO).await),
        E::ZeroDeposit(_)
    ));

    // A contract balance never exceeds 2^128 - 1 wei (docs/protocol.md section 1).
    let whale = env.user().await;
    env.owner
        .anvil_set_balance(whale.sender(), U256::from(1) << 130)
        .await
        .unwrap();
    let e = refusal(whale.deposit(cid, U256::from(u128::MAX)).await);
    assert!(matches!(e, E::BalanceOverflow(_)));
    whale
        .deposit(cid, U256::from(u128::MAX) - U256::from(6 * ONE_ETH))
        .await
        .unwrap();
    assert_eq!(
        env.owner.contract(cid).await.unwrap().balance,
        U256::from(u128::MAX)
    );
}

struct Withdrawal<'a> {
    env: &'a Env,
    cid: ContractId,
    epoch: u64,
}

impl Withdrawal<'_> {
    fn call(
        &self,
        signer: &EKey,
        to: Address,
        amount: U256,
        nonce: u64,
        tx: B256,
    ) -> PoseManager::withdrawCall {
        let d = digest::withdraw(
            self.env.chain_id,
            self.env.manager(),
            self.cid.0,
            self.epoch,
            to,
            amount,
            nonce,
            tx,
        );
        PoseManager::withdrawCall {
            cid: self.cid.0,
            recipient: to,
            amount,
            nonce,
            txHash: tx,
            sig: sign(signer, d),
        }
    }
}

#[tokio::test]
async fn withdrawals_pay_what_the_executor_signed_once_within_the_balance() {
    let env = Env::new().await;
    let keys = env.register(3).await;
    let (cid, pool) = env.live_contract(&keys, params(3)).await;
    let (exec, watchdog) = (&pool[0], &pool[1]);
    let user = env.user().await;
    user.deposit(cid, U256::from(3 * ONE_ETH)).await.unwrap();
    let tx_after_deposit = env.owner.tx_hash_of(cid).await.unwrap();
    let w = Withdrawal {
        env: &env,
        cid,
        epoch: 0,
    };
    let to = raddr();
    let one = U256::from(ONE_ETH);

    // Anyone may submit what the executor signed.
    let r = env
        .owner
        .send(&w.call(exec, to, one, 1, tx_after_deposit), U256::ZERO)
        .await
        .unwrap();
    let ev = find_event::<PoseManager::Withdrawn>(&r).unwrap();
    assert_eq!((ev.recipient, ev.amount, ev.nonce), (to, one, 1));
    assert_eq!(user.balance_of(to).await.unwrap(), one);
    assert_eq!(
        env.owner.contract(cid).await.unwrap().balance,
        U256::from(2 * ONE_ETH)
    );
    assert!(env
        .owner
        .read(&PoseManager::isNonceUsedCall {
            cid: cid.0,
            nonce: 1
        })
        .await
        .unwrap());

    // Replayed nonce (even for another amount and a newer tx hash).
    let e = refusal(
        env.owner
            .send(&w.call(exec, to, one, 1, tx_after_deposit), U256::ZERO)
            .await,
    );
    assert!(matches!(e, E::NonceUsed(ref x) if x.nonce == 1));
    let newer = env.owner.tx_hash_of(cid).await.unwrap();
    let e = refusal(
        env.owner
            .send(&w.call(exec, to, U256::from(7), 1, newer), U256::ZERO)
            .await,
    );
    assert!(matches!(e, E::NonceUsed(_)));

    // Above the balance.
    let e = refusal(
        env.owner
            .send(
                &w.call(exec, to, U256::from(2 * ONE_ETH + 1), 2, newer),
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::InsufficientBalance(ref x) if x.balance == U256::from(2 * ONE_ETH)));

    // Signed over a transaction hash the chain never produced for this contract: the hash a
    // host would compute after showing its enclave an invented 100 ETH deposit.
    let invented = digest::tx_step(
        newer,
        &alloy::sol_types::SolCall::abi_encode(&PoseManager::depositCall { cid: cid.0 }),
        user.sender(),
        U256::from(100 * ONE_ETH),
        env.owner.block_number().await.unwrap() + 1,
        env.owner.chain_time().await.unwrap(),
        B256::ZERO,
    );
    let e = refusal(
        env.owner
            .send(&w.call(exec, to, one, 2, invented), U256::ZERO)
            .await,
    );
    assert!(matches!(e, E::UnknownTxHash(ref x) if x.txHash == invented));
    // A hash another contract produced does not count for this one.
    let (other, _) = env.live_contract(&keys, params(1)).await;
    let other_tx = env.owner.tx_hash_of(other).await.unwrap();
    let e = refusal(
        env.owner
            .send(&w.call(exec, to, one, 2, other_tx), U256::ZERO)
            .await,
    );
    assert!(matches!(e, E::UnknownTxHash(_)));

    // Signed by a watchdog, or for another epoch, or for another recipient than submitted.
    let e = refusal(
        env.owner
            .send(&w.call(watchdog, to, one, 2, newer), U256::ZERO)
            .await,
    );
    assert!(
        matches!(e, E::NotExecutor(ref x) if x.recovered == watchdog.address() && x.executor == exec.address())
    );
    let w1 = Withdrawal {
        env: &env,
        cid,
        epoch: 1,
    };
    let e = refusal(
        env.owner
            .send(&w1.call(exec, to, one, 2, newer), U256::ZERO)
            .await,
    );
    assert!(matches!(e, E::NotExecutor(_)));
    let mut redirected = w.call(exec, to, one, 2, newer);
    redirected.recipient = raddr();
    assert!(matches!(
        refusal(env.owner.send(&redirected, U256::ZERO).await),
        E::NotExecutor(_)
    ));
    let e = refusal(
        env.owner
            .send(&w.call(exec, Address::ZERO, one, 2, newer), U256::ZERO)
            .await,
    );
    assert!(matches!(e, E::ZeroAddress(_)));

    // An older known tx hash still works (the manager keeps every value it produced).
    env.owner
        .send(&w.call(exec, to, one, 2, tx_after_deposit), U256::ZERO)
        .await
        .unwrap();
    assert_eq!(user.balance_of(to).await.unwrap(), U256::from(2 * ONE_ETH));
}

#[allow(missing_docs)]
mod helper {
    alloy::sol!(
        #[sol(rpc)]
        RefusingRecipient,
        "../../contracts/out/RefusingRecipient.json"
    );
}

/// A recipient that refuses coins neither blocks its withdrawal nor the termination that
/// waits for it: the nonce is used, the amount is credited to `claimable` and claimed later.
#[tokio::test]
async fn a_withdrawal_to_a_recipient_that_refuses_coins_is_credited_to_claimable() {
    let env = Env::new().await;
    let keys = env.register(2).await;
    let (cid, pool) = env.live_contract(&keys, params(2)).await;
    let user = env.user().await;
    user.deposit(cid, U256::from(3 * ONE_ETH)).await.unwrap();
    let refuser = helper::RefusingRecipient::deploy(user.provider().clone(), env.manager())
        .await
        .unwrap();
    let w = Withdrawal {
        env: &env,
        cid,
        epoch: 0,
    };
    let one = U256::from(ONE_ETH);
    let tx = env.owner.tx_hash_of(cid).await.unwrap();
    let r = env
        .owner
        .send(
            &w.call(&pool[0], *refuser.address(), one, 1, tx),
            U256::ZERO,
        )
        .await
        .expect("a refused transfer does not revert the withdrawal");
    let ev = find_event::<PoseManager::Withdrawn>(&r).unwrap();
    assert_eq!(
        (ev.recipient, ev.amount, ev.nonce),
        (*refuser.address(), one, 1)
    );
    let credited = find_event::<PoseManager::PayoutCredited>(&r).unwrap();
    assert_eq!(
        (credited.cid, credited.recipient, credited.amount),
        (cid.0, *refuser.address(), one)
    );
    assert!(env
        .owner
        .read(&PoseManager::isNonceUsedCall {
            cid: cid.0,
            nonce: 1
        })
        .await
        .unwrap());
    assert_eq!(
        user.balance_of(*refuser.address()).await.unwrap(),
        U256::ZERO
    );
    assert_eq!(
        env.owner
            .read(&PoseManager::claimableCall(*refuser.address()))
            .await
            .unwrap(),
        one
    );
    assert_eq!(
        env.owner.contract(cid).await.unwrap().balance,
        U256::from(2 * ONE_ETH)
    );
    // The nonce is spent: the same withdrawal is not paid twice.
    let e = refusal(
        env.owner
            .send(
                &w.call(&pool[0], *refuser.address(), one, 1, tx),
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::NonceUsed(_)));

    // Once it accepts coins, it claims them.
    refuser
        .setRefusing(false)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    refuser
        .callManager(Bytes::from(alloy::sol_types::SolCall::abi_encode(
            &PoseManager::claimCall {},
        )))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert_eq!(user.balance_of(*refuser.address()).await.unwrap(), one);
}

/// No operator has two members in one pool: the draw skips an enclave whose operator already
/// has one, and a pool needs as many operators with an active enclave as it has members.
#[tokio::test]
async fn a_pool_never_holds_two_enclaves_of_one_operator() {
    let env = Env::new().await;
    let big = env.user().await;
    env.register_as(&big, 6).await;
    let others = env.register(2).await;
    // Eight enclaves, three operators: a pool of four is refused.
    let e = refusal(env.owner.create_contract(rb256(), params(4)).await);
    assert!(
        matches!(e, E::NotEnoughEnclaves(ref n) if n.needed == U256::from(4) && n.available == U256::from(3)),
        "{e:?}"
    );
    // Pools of three take one enclave of each operator, whatever the draw.
    for _ in 0..8 {
        let (_, pool, _) = env.owner.create_contract(rb256(), params(3)).await.unwrap();
        let mut operators = BTreeSet::new();
        for m in &pool {
            operators.insert(
                env.owner
                    .read(&PoseManager::enclavesCall(*m))
                    .await
                    .unwrap()
                    .operator,
            );
        }
        assert_eq!(operators.len(), 3, "one member per operator: {pool:?}");
        assert!(operators.contains(&big.sender()));
    }
    let count = |c: PoseManager::activeOperatorCountCall| {
        let owner = &env.owner;
        async move { owner.read(&c).await.unwrap() }
    };
    assert_eq!(
        count(PoseManager::activeOperatorCountCall {}).await,
        U256::from(3)
    );
    assert_eq!(
        env.owner
            .read(&PoseManager::activeEnclaveCountCall {})
            .await
            .unwrap(),
        U256::from(8)
    );
    let of_big = env
        .owner
        .read(&PoseManager::activeEnclavesOfCall {
            operator: big.sender(),
        })
        .await
        .unwrap();
    assert_eq!(of_big.len(), 6);
    // An operator whose last enclave leaves is no longer counted: a pool of three no longer
    // finds three operators.
    let enclave = &others[0];
    let op = env.operator_of(enclave.address());
    op.send(
        &PoseManager::deregisterEnclaveCall {
            enclave: enclave.address(),
        },
        U256::ZERO,
    )
    .await
    .unwrap();
    assert!(op
        .read(&PoseManager::activeEnclavesOfCall {
            operator: op.sender()
        })
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        count(PoseManager::activeOperatorCountCall {}).await,
        U256::from(2)
    );
    let e = refusal(env.owner.create_contract(rb256(), params(3)).await);
    assert!(
        matches!(e, E::NotEnoughEnclaves(ref n) if n.available == U256::from(2)),
        "{e:?}"
    );
    // Deregistering one of the big operator's enclaves leaves it listed.
    big.send(
        &PoseManager::deregisterEnclaveCall { enclave: of_big[0] },
        U256::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(
        count(PoseManager::activeOperatorCountCall {}).await,
        U256::from(2)
    );
    assert_eq!(
        env.owner
            .read(&PoseManager::activeEnclaveCountCall {})
            .await
            .unwrap(),
        U256::from(6)
    );
}

/// A termination is signed over the current txHash only: a deposit between the signature and
/// the submission makes it fail (the executor folds the deposit, refunds it and signs again),
/// so no deposit the executor has not seen ends up with the creator.
#[tokio::test]
async fn a_termination_signed_before_a_deposit_is_refused() {
    let env = Env::new().await;
    let keys = env.register(2).await;
    let (cid, pool) = env.live_contract(&keys, params(2)).await;
    let user = env.user().await;
    user.deposit(cid, U256::from(ONE_ETH)).await.unwrap();
    let signed_over = env.owner.tx_hash_of(cid).await.unwrap();
    let call = |tx: B256| {
        let d = digest::terminate_payouts(env.chain_id, env.manager(), cid.0, 0, &[], &[], tx);
        PoseManager::terminateCall {
            cid: cid.0,
            recipients: vec![],
            amounts: vec![],
            txHash: tx,
            sig: sign(&pool[0], d),
        }
    };
    let late = env.user().await;
    late.deposit(cid, U256::from(2 * ONE_ETH)).await.unwrap();
    let current = env.owner.tx_hash_of(cid).await.unwrap();
    let e = refusal(env.owner.send(&call(signed_over), U256::ZERO).await);
    assert!(
        matches!(e, E::StaleTxHash(ref s) if s.txHash == signed_over && s.current == current),
        "{e:?}"
    );
    assert_eq!(
        Phase::from_u8(env.owner.contract(cid).await.unwrap().phase),
        Some(Phase::Executing)
    );
    // Signed again over the current value, it passes.
    env.owner.send(&call(current), U256::ZERO).await.unwrap();
    assert_eq!(
        env.owner
            .read(&PoseManager::claimableCall(env.owner.sender()))
            .await
            .unwrap(),
        U256::from(3 * ONE_ETH)
    );
}

#[tokio::test]
async fn termination_credits_payouts_and_the_remainder_then_claims_pay() {
    let env = Env::new().await;
    let keys = env.register(3).await;
    let (cid, pool) = env.live_contract(&keys, params(3)).await;
    let user = env.user().await;
    user.deposit(cid, U256::from(10 * ONE_ETH)).await.unwrap();
    let tx = env.owner.tx_hash_of(cid).await.unwrap();
    let (a, b) = (env.user().await, env.user().await);
    let recipients = vec![a.sender(), b.sender()];
    let amounts = vec![U256::from(4 * ONE_ETH), U256::from(5 * ONE_ETH)];
    let call = |signer: &EKey, recipients: Vec<Address>, amounts: Vec<U256>, epoch: u64| {
        // pose-crypto takes payouts as pairs of u128 amounts; a mismatched list or an amount
        // above u128 (which no enclave signs) is signed through the oracle.
        let fits = amounts.iter().all(|a| *a <= U256::from(u128::MAX));
        let d = if recipients.len() == amounts.len() && fits {
            digest::terminate_payouts(
                env.chain_id,
                env.manager(),
                cid.0,
                epoch,
                &recipients,
                &amounts,
                tx,
            )
        } else {
            let p = oracle::payouts(&recipients, &amounts);
            oracle::terminate(env.chain_id, env.manager(), cid.0, epoch, p, tx)
        };
        PoseManager::terminateCall {
            cid: cid.0,
            recipients,
            amounts,
            txHash: tx,
            sig: sign(signer, d),
        }
    };

    // The payouts hash matches the manager's.
    let p = env
        .owner
        .read(&PoseManager::hashPayoutsCall {
            recipients: recipients.clone(),
            amounts: amounts.clone(),
        })
        .await
        .unwrap();
    assert_eq!(p, digest::payouts(&recipients, &amounts));

    let e = refusal(
        env.owner
            .send(
                &call(&pool[0], recipients.clone(), amounts[..1].to_vec(), 0),
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::LengthMismatch(_)));
    let many: Vec<Address> = (0..65).map(|_| raddr()).collect();
    let e = refusal(
        env.owner
            .send(
                &call(&pool[0], many, vec![U256::from(1); 65], 0),
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::TooManyPayouts(_)));
    let e = refusal(
        env.owner
            .send(
                &call(
                    &pool[0],
                    recipients.clone(),
                    vec![U256::from(6 * ONE_ETH); 2],
                    0,
                ),
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::InsufficientBalance(_)));
    // Amounts that would overflow a sum are refused as above the balance, not as a panic.
    let overflow = call(
        &pool[0],
        recipients.clone(),
        vec![U256::MAX, U256::from(2)],
        0,
    );
    let e = refusal(env.owner.send(&overflow, U256::ZERO).await);
    assert!(matches!(e, E::InsufficientBalance(ref x) if x.requested == U256::MAX));
    let e = refusal(
        env.owner
            .send(
                &call(&pool[1], recipients.clone(), amounts.clone(), 0),
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::NotExecutor(_)));
    let e = refusal(
        env.owner
            .send(
                &call(&pool[0], vec![Address::ZERO], vec![U256::from(1)], 0),
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::ZeroAddress(_)));
    let mut forged = call(&pool[0], recipients.clone(), amounts.clone(), 0);
    forged.amounts[0] = U256::from(5 * ONE_ETH);
    assert!(matches!(
        refusal(env.owner.send(&forged, U256::ZERO).await),
        E::NotExecutor(_)
    ));

    let r = env
        .owner
        .send(
            &call(&pool[0], recipients.clone(), amounts.clone(), 0),
            U256::ZERO,
        )
        .await
        .unwrap();
    let ev = find_event::<PoseManager::Terminated>(&r).unwrap();
    assert_eq!(
        (ev.paidOut, ev.remainderToCreator),
        (U256::from(9 * ONE_ETH), U256::from(ONE_ETH))
    );
    let inst = env.owner.contract(cid).await.unwrap();
    assert_eq!(
        (Phase::from_u8(inst.phase), inst.balance),
        (Some(Phase::Terminated), U256::ZERO)
    );
    assert_eq!(
        env.owner
            .read(&PoseManager::claimableCall(env.owner.sender()))
            .await
            .unwrap(),
        U256::from(ONE_ETH)
    );

    // Claims pay out once.
    let before = a.balance_of(a.sender()).await.unwrap();
    let r = a
        .send(&PoseManager::claimCall {}, U256::ZERO)
        .await
        .unwrap();
    assert_eq!(
        find_event::<PoseManager::Claimed>(&r).unwrap().amount,
        U256::from(4 * ONE_ETH)
    );
    let gas = U256::from(r.gas_used) * U256::from(r.effective_gas_price);
    assert_eq!(
        a.balance_of(a.sender()).await.unwrap() + gas - before,
        U256::from(4 * ONE_ETH)
    );
    assert!(matches!(
        refusal(a.send(&PoseManager::claimCall {}, U256::ZERO).await),
        E::NothingToClaim(_)
    ));
    b.send(&PoseManager::claimCall {}, U256::ZERO)
        .await
        .unwrap();
    env.owner
        .send(&PoseManager::claimCall {}, U256::ZERO)
        .await
        .unwrap();

    // A terminated contract takes nothing more.
    assert!(matches!(
        refusal(user.deposit(cid, U256::from(1)).await),
        E::WrongPhase(_)
    ));
    let e = refusal(
        env.owner
            .send(&call(&pool[0], recipients, amounts, 0), U256::ZERO)
            .await,
    );
    assert!(matches!(e, E::WrongPhase(_)));
    assert!(matches!(
        refusal(user.challenge(cid, Bytes::from_static(b"x")).await),
        E::WrongPhase(_)
    ));
}

/// An enclave replays the manager's `TxHashExtended` events to recompute `txHash`: each event
/// with the number and time of its block and the outcome the same transaction's later events
/// show (drawn pool, challenge id, replacement). The chain's value, each event's value and the
/// `hashTx*` views must all agree with docs/protocol.md; a replay with any of those facts
/// altered yields a value the manager does not know.
#[tokio::test]
async fn tx_hash_chain_is_replayable_from_events() {
    let env = Env::new().await;
    let start = env.owner.block_number().await.unwrap();
    let keys = env.register(4).await;
    let (cid, pool) = env.live_contract(&keys, params(3)).await;
    let user = env.user().await;
    user.deposit(cid, U256::from(1234)).await.unwrap();
    user.challenge(cid, Bytes::from_static(b"encrypted input"))
        .await
        .unwrap();
    // Two members' enclaves are deregistered and removed at once: the fourth enclave replaces
    // the first; for the second none is left and the pool shrinks.
    for member in [&pool[1], &pool[2]] {
        env.operator_of(member.address())
            .send(
                &PoseManager::deregisterEnclaveCall {
                    enclave: member.address(),
                },
                U256::ZERO,
            )
            .await
            .unwrap();
        user.remove_member(cid, from_address(member.address()))
            .await
            .unwrap();
    }
    assert_eq!(env.owner.pool(cid).await.unwrap().len(), 2);
    let (other, _) = env.live_contract(&keys, params(1)).await;
    user.deposit(other, U256::from(1)).await.unwrap();

    let mut follower = EventFollower::from_block(start);
    let mut events = Vec::new();
    loop {
        let batch = follower.poll(&env.owner).await.unwrap();
        if batch.is_empty() {
            break;
        }
        events.extend(batch);
    }
    let mut h = digest::tx_genesis(env.chain_id, env.manager(), cid.0);
    assert_eq!(
        env.owner
            .read(&PoseManager::hashTxGenesisCall { cid: cid.0 })
            .await
            .unwrap(),
        h
    );
    let known = |h: B256| {
        let owner = &env.owner;
        async move {
            owner
                .read(&PoseManager::isKnownTxHashCall {
                    cid: cid.0,
                    txHash: h,
                })
                .await
                .unwrap()
        }
    };
    let mut outcomes = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let Ev::TxHashExtended(x) = &ev.event else {
            continue;
        };
        if x.cid != cid.0 {
            continue;
        }
        // The outcome: what the events after it in the same transaction show.
        let outcome = events[i + 1..]
            .iter()
            .take_while(|later| later.tx_hash == ev.tx_hash)
            .find_map(|later| match &later.event {
                Ev::ContractCreated(c) => Some(digest::outcome_pool(&c.pool)),
                Ev::ChallengeOpened(c) => Some(digest::outcome_challenge(c.challengeId)),
                Ev::MemberRemoved(m) => Some(digest::outcome_replacement(m.replacement)),
                _ => None,
            })
            .unwrap_or(B256::ZERO);
        outcomes.push(outcome);
        let (block, time) = (ev.block_number, ev.block_timestamp);
        let next = digest::tx_step(h, &x.data, x.sender, x.value, block, time, outcome);
        let view = env
            .owner
            .read(&PoseManager::hashTxStepCall {
                prev: h,
                data: x.data.clone(),
                sender: x.sender,
                value: x.value,
                blockNumber: U256::from(block),
                blockTimestamp: U256::from(time),
                outcome,
            })
            .await
            .unwrap();
        assert_eq!(next, view);
        assert_eq!(
            next,
            x.txHash,
            "event {} carries the recomputed hash",
            outcomes.len()
        );
        assert!(known(next).await);
        // A host that shows its enclave another block, or another decision, than the chain's.
        let step = |block: u64, time: u64, outcome: B256| {
            digest::tx_step(h, &x.data, x.sender, x.value, block, time, outcome)
        };
        let other_outcome = if outcome == B256::ZERO {
            digest::outcome_challenge(1)
        } else {
            B256::ZERO
        };
        for (what, forged) in [
            ("later block time", step(block, time + 1, outcome)),
            ("earlier block time", step(block, time - 1, outcome)),
            ("other block number", step(block + 1, time, outcome)),
            ("other outcome", step(block, time, other_outcome)),
        ] {
            assert!(!known(forged).await, "{what} gives a known txHash");
        }
        h = next;
    }
    // create, complete, deposit, challenge, two removals.
    assert_eq!(outcomes.len(), 6);
    let replacement = env.owner.pool(cid).await.unwrap()[1];
    assert_eq!(
        outcomes,
        vec![
            digest::outcome_pool(&pool.iter().map(|k| k.address()).collect::<Vec<_>>()),
            B256::ZERO,
            B256::ZERO,
            digest::outcome_challenge(1),
            digest::outcome_replacement(replacement),
            digest::outcome_replacement(Address::ZERO),
        ]
    );
    // The drawn pool, the challenge id and the replacement each count, in order.
    let (p0, p1, p2) = (pool[0].address(), pool[1].address(), pool[2].address());
    let forged_outcomes = [
        (0, digest::outcome_pool(&[p1, p0, p2])),
        (0, digest::outcome_pool(&[p0, p1])),
        (3, digest::outcome_challenge(2)),
        (4, digest::outcome_replacement(Address::ZERO)),
        (4, digest::outcome_replacement(p1)),
        (5, digest::outcome_replacement(replacement)),
    ];
    let mut prev = digest::tx_genesis(env.chain_id, env.manager(), cid.0);
    let mut honest = Vec::new();
    for ev in &events {
        if let Ev::TxHashExtended(x) = &ev.event {
            if x.cid == cid.0 {
                honest.push((prev, x.clone(), ev.block_number, ev.block_timestamp));
                prev = x.txHash;
            }
        }
    }
    for (k, outcome) in forged_outcomes {
        let (prev, x, block, time) = &honest[k];
        let forged = digest::tx_step(*prev, &x.data, x.sender, x.value, *block, *time, outcome);
        assert!(
            !known(forged).await,
            "a forged outcome of transaction {k} is known"
        );
    }
    assert_eq!(env.owner.tx_hash_of(cid).await.unwrap(), h);
    assert!(!env
        .owner
        .read(&PoseManager::isKnownTxHashCall {
            cid: other.0,
            txHash: h
        })
        .await
        .unwrap());
}

/// Every digest of `pose_crypto::onchain` (what enclaves sign) equals the manager's `hash*`
/// view and an independent alloy ABI encoding, for random inputs.
#[tokio::test]
async fn pose_crypto_digests_equal_the_manager_hash_views() {
    let env = Env::new().await;
    let c: &ManagerClient = &env.owner;
    let (chain, mgr) = (env.chain_id, env.manager());
    for i in 0..16u64 {
        let (h1, h2, h3, h4) = (rb256(), rb256(), rb256(), rb256());
        let w = rb256();
        let n1 = u64::from_be_bytes(w[..8].try_into().unwrap());
        let n2 = u64::from_be_bytes(w[8..16].try_into().unwrap());
        let n3 = u64::from_be_bytes(w[16..24].try_into().unwrap()) >> (i * 4);
        let a = raddr();
        let amount = U256::from_be_bytes(rb256().0) >> (128 + i as usize);
        let out = rb256()[..(i as usize * 2)].to_vec();

        let v = c
            .read(&PoseManager::hashAttestationCall {
                measurement: h1,
                enclave: a,
                encPubKey: h2,
            })
            .await
            .unwrap();
        assert_eq!(v, digest::attestation(chain, mgr, h1, a, h2));
        assert_eq!(v, oracle::attestation(chain, mgr, h1, a, h2));

        let v = c
            .read(&PoseManager::hashAcceptCall {
                cid: n1,
                codeHash: h1,
                contractEncKey: h2,
                initStateHash: h3,
                txHash: h4,
            })
            .await
            .unwrap();
        assert_eq!(v, digest::accept(chain, mgr, n1, h1, h2, h3, h4));
        assert_eq!(v, oracle::accept(chain, mgr, n1, h1, h2, h3, h4));

        let v = c
            .read(&PoseManager::hashRespondCall {
                cid: n1,
                challengeId: n2,
                epoch: n3,
                outputHash: alloy::primitives::keccak256(&out),
                seq: n2 ^ 5,
                stateHash: h1,
                txHash: h2,
            })
            .await
            .unwrap();
        assert_eq!(
            v,
            digest::respond(chain, mgr, n1, n2, n3, &out, n2 ^ 5, h1, h2)
        );
        assert_eq!(
            v,
            oracle::respond(chain, mgr, n1, n2, n3, &out, n2 ^ 5, h1, h2)
        );

        let v = c
            .read(&PoseManager::hashWithdrawCall {
                cid: n1,
                epoch: n3,
                recipient: a,
                amount,
                nonce: n2,
                txHash: h3,
            })
            .await
            .unwrap();
        assert_eq!(v, digest::withdraw(chain, mgr, n1, n3, a, amount, n2, h3));
        assert_eq!(v, oracle::withdraw(chain, mgr, n1, n3, a, amount, n2, h3));

        let v = c
            .read(&PoseManager::hashChallengeMemberCall {
                cid: n1,
                epoch: n3,
                member: a,
                txHash: h1,
            })
            .await
            .unwrap();
        assert_eq!(v, digest::challenge_member(chain, mgr, n1, n3, a, h1));
        assert_eq!(v, oracle::challenge_member(chain, mgr, n1, n3, a, h1));

        let v = c
            .read(&PoseManager::hashRespondMemberCall {
                cid: n1,
                epoch: n3,
                member: a,
                seq: n2,
                stateHash: h4,
                txHash: h1,
            })
            .await
            .unwrap();
        assert_eq!(
            v,
            digest::respond_member(chain, mgr, n1, n3, a, (n2, h4), h1)
        );
        assert_eq!(
            v,
            oracle::respond_member(chain, mgr, n1, n3, a, (n2, h4), h1)
        );

        let v = c
            .read(&PoseManager::hashReviveCall {
                cid: n1,
                epoch: n3,
                member: a,
                seq: n2,
                stateHash: h4,
                txHash: h1,
            })
            .await
            .unwrap();
        assert_eq!(v, digest::revive(chain, mgr, n1, n3, a, (n2, h4), h1));
        assert_eq!(v, oracle::revive(chain, mgr, n1, n3, a, (n2, h4), h1));

        let recipients: Vec<Address> = (0..i).map(|_| raddr()).collect();
        let amounts: Vec<U256> = (0..i)
            .map(|k| (U256::from_be_bytes(rb256().0) >> 128) + U256::from(k))
            .collect();
        let p = c
            .read(&PoseManager::hashPayoutsCall {
                recipients: recipients.clone(),
                amounts: amounts.clone(),
            })
            .await
            .unwrap();
        assert_eq!(p, digest::payouts(&recipients, &amounts));
        assert_eq!(p, oracle::payouts(&recipients, &amounts));
        let v = c
            .read(&PoseManager::hashTerminateCall {
                cid: n1,
                epoch: n3,
                payoutsHash: p,
                txHash: h2,
            })
            .await
            .unwrap();
        assert_eq!(
            v,
            digest::terminate_payouts(chain, mgr, n1, n3, &recipients, &amounts, h2)
        );
        assert_eq!(v, oracle::terminate(chain, mgr, n1, n3, p, h2));

        let v = c
            .read(&PoseManager::hashTxGenesisCall { cid: n1 })
            .await
            .unwrap();
        assert_eq!(v, digest::tx_genesis(chain, mgr, n1));
        assert_eq!(v, oracle::tx_genesis(chain, mgr, n1));

        let v = c
            .read(&PoseManager::hashTxStepCall {
                prev: h1,
                data: Bytes::from(out.clone()),
                sender: a,
                value: amount,
                blockNumber: U256::from(n1),
                blockTimestamp: U256::from(n2),
                outcome: h3,
            })
            .await
            .unwrap();
        assert_eq!(v, digest::tx_step(h1, &out, a, amount, n1, n2, h3));
        assert_eq!(v, oracle::tx_step(h1, &out, a, amount, n1, n2, h3));
        let pool: Vec<Address> = (0..i % 4).map(|_| raddr()).collect();
        assert_eq!(digest::outcome_pool(&pool), oracle::outcome_pool(&pool));
        assert_eq!(
            digest::outcome_replacement(a),
            oracle::outcome_replacement(a)
        );
        assert_eq!(
            digest::outcome_replacement(Address::ZERO),
            oracle::outcome_replacement(Address::ZERO)
        );
        assert_eq!(digest::outcome_challenge(n3), oracle::outcome_challenge(n3));
    }
}

/// A contract's whole life through the typed API, with pose types and pose-crypto digests and
/// signatures only, as an enclave host drives it.
#[tokio::test]
async fn a_contract_lives_through_the_typed_api() {
    use pose_chain::{from_address, from_b256, to_b256};
    use pose_crypto::onchain;
    use pose_types::{Amount, EncPublicKey, Epoch, Seq};

    let env = Env::new().await;
    let keys = env.register(4).await;
    let host = env.user().await;
    let dom = host.domain();
    assert_eq!(
        (dom.chain_id, dom.manager),
        (env.chain_id, from_address(env.manager()))
    );
    let code = from_b256(rb256());
    let (cid, pool, _) = host
        .create_contract(to_b256(code), params(3))
        .await
        .unwrap();
    let tx_now = || async { from_b256(host.tx_hash_of(cid).await.unwrap()) };
    let pk = keys_for(&keys, &pool);
    let outsider = keys.iter().find(|k| !pool.contains(&k.address())).unwrap();
    let (enc, init) = (EncPublicKey(rb256().0), from_b256(rb256()));
    let tx = tx_now().await;
    let d = onchain::accept_digest(&dom, cid, &code, &enc, &init, &tx);
    let sigs: Vec<_> = pk.iter().map(|k| k.0.sign_digest(&d)).collect();
    host.complete_creation(cid, enc, init, tx, &sigs)
        .await
        .unwrap();

    let user = env.user().await;
    user.deposit(cid, U256::from(3 * ONE_ETH)).await.unwrap();

    let (id, _) = user
        .challenge(cid, Bytes::from_static(b"in"))
        .await
        .unwrap();
    let (tx, state) = (tx_now().await, from_b256(rb256()));
    let d = onchain::respond_digest(&dom, cid, id, Epoch(0), b"out", Seq(1), &state, &tx);
    host.respond(cid, id, b"out", Seq(1), state, tx, &pk[0].0.sign_digest(&d))
        .await
        .unwrap();
    assert_eq!(
        env.owner.contract(cid).await.unwrap().lastStateHash,
        to_b256(state)
    );

    let member = pk[1].0.address();
    let tx = tx_now().await;
    let d = onchain::challenge_member_digest(&dom, cid, Epoch(0), &member, &tx);
    host.challenge_member(cid, member, tx, &pk[0].0.sign_digest(&d))
        .await
        .unwrap();
    let tx = tx_now().await;
    let held = (Seq(0), pose_types::Hash32([9; 32]));
    let d = onchain::respond_member_digest(&dom, cid, Epoch(0), &member, (held.0, &held.1), &tx);
    host.respond_member(cid, member, held, tx, &pk[1].0.sign_digest(&d))
        .await
        .unwrap();

    // A member whose operator left is replaced at once by the one enclave outside the pool.
    env.operator_of(pk[2].address())
        .send(
            &PoseManager::deregisterEnclaveCall {
                enclave: pk[2].address(),
            },
            U256::ZERO,
        )
        .await
        .unwrap();
    let (replacement, _) = host.remove_member(cid, pk[2].0.address()).await.unwrap();
    assert_eq!(replacement, Some(outsider.0.address()));

    let to = from_address(raddr());
    let tx = tx_now().await;
    let d = onchain::withdraw_digest(&dom, cid, Epoch(0), &to, Amount(ONE_ETH), 7, &tx);
    host.withdraw(cid, to, Amount(ONE_ETH), 7, tx, &pk[0].0.sign_digest(&d))
        .await
        .unwrap();
    assert_eq!(
        host.balance_of(to_address(to)).await.unwrap(),
        U256::from(ONE_ETH)
    );

    let payouts = [(from_address(user.sender()), Amount(ONE_ETH))];
    let tx = tx_now().await;
    let d = onchain::terminate_digest(&dom, cid, Epoch(0), &payouts, &tx);
    host.terminate(cid, &payouts, tx, &pk[0].0.sign_digest(&d))
        .await
        .unwrap();
    user.claim().await.unwrap();
    // The creator (the host here) gets what the payouts left: 3 - 1 - 1 ETH.
    assert_eq!(
        env.owner
            .read(&PoseManager::claimableCall(host.sender()))
            .await
            .unwrap(),
        U256::from(ONE_ETH)
    );
    host.claim().await.unwrap();
    let e = refusal(host.timeout_challenge(cid, id).await);
    assert!(matches!(e, E::WrongPhase(_)));
}
