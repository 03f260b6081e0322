//! User challenges, executor changes on timeout, member challenges, removal and replacement,
//! against anvil. These tests move the chain clock, so they hold `CLOCK` while they run.

mod common;

use std::collections::BTreeSet;

use alloy::primitives::{Address, Bytes, B256, U256};
use common::*;
use pose_chain::bindings::Phase;
use pose_chain::PoseManager::{self, PoseManagerErrors as E};
use pose_chain::{find_event, ManagerClient};
use pose_types::ContractId;

struct Ctx<'a> {
    env: &'a Env,
    cid: ContractId,
}

impl Ctx<'_> {
    async fn tx(&self) -> B256 {
        self.env.owner.tx_hash_of(self.cid).await.unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn respond(
        &self,
        signer: &EKey,
        challenge_id: u64,
        epoch: u64,
        out: &[u8],
        seq: u64,
        state: B256,
        tx: B256,
    ) -> PoseManager::respondCall {
        let d = digest::respond(
            self.env.chain_id,
            self.env.manager(),
            self.cid.0,
            challenge_id,
            epoch,
            out,
            seq,
            state,
            tx,
        );
        PoseManager::respondCall {
            cid: self.cid.0,
            challengeId: challenge_id,
            encryptedOutput: Bytes::copy_from_slice(out),
            seq,
            stateHash: state,
            txHash: tx,
            sig: sign(signer, d),
        }
    }

    fn challenge_member(
        &self,
        signer: &EKey,
        epoch: u64,
        member: Address,
        tx: B256,
    ) -> PoseManager::challengeMemberCall {
        let d = digest::challenge_member(
            self.env.chain_id,
            self.env.manager(),
            self.cid.0,
            epoch,
            member,
            tx,
        );
        PoseManager::challengeMemberCall {
            cid: self.cid.0,
            member,
            txHash: tx,
            sig: sign(signer, d),
        }
    }

    fn respond_member(
        &self,
        signer: &EKey,
        epoch: u64,
        member: Address,
        tx: B256,
    ) -> PoseManager::respondMemberCall {
        // The held state is the member's business; the manager only checks the signature.
        let held = (epoch + 1, B256::repeat_byte(0x5e));
        let d = digest::respond_member(
            self.env.chain_id,
            self.env.manager(),
            self.cid.0,
            epoch,
            member,
            held,
            tx,
        );
        PoseManager::respondMemberCall {
            cid: self.cid.0,
            member,
            seq: held.0,
            stateHash: held.1,
            txHash: tx,
            sig: sign(signer, d),
        }
    }

    fn timeout(&self, challenge_id: u64) -> PoseManager::timeoutChallengeCall {
        PoseManager::timeoutChallengeCall {
            cid: self.cid.0,
            challengeId: challenge_id,
        }
    }

    fn remove(&self, member: Address) -> PoseManager::removeMemberCall {
        PoseManager::removeMemberCall {
            cid: self.cid.0,
            member,
        }
    }

    async fn phase(&self) -> Phase {
        Phase::from_u8(self.env.owner.contract(self.cid).await.unwrap().phase).unwrap()
    }
}

async fn send<C: alloy::sol_types::SolCall>(
    c: &ManagerClient,
    call: &C,
) -> Result<alloy::rpc::types::TransactionReceipt, pose_chain::ChainError> {
    c.send(call, U256::ZERO).await
}

#[tokio::test]
async fn the_executor_answers_a_challenge_on_chain() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(3).await;
    let (cid, pool) = env.live_contract(&keys, params(3)).await;
    let x = Ctx { env: &env, cid };
    let user = env.user().await;

    let now = user.chain_time().await.unwrap();
    let (id, r) = user
        .challenge(cid, Bytes::from_static(b"input 1"))
        .await
        .unwrap();
    let ev = find_event::<PoseManager::ChallengeOpened>(&r).unwrap();
    assert_eq!(
        (ev.challengeId, ev.user, &ev.encryptedInput[..]),
        (1, user.sender(), &b"input 1"[..])
    );
    assert!(ev.deadline >= now + 600 && ev.deadline <= now + 660);
    assert_eq!(x.phase().await, Phase::ChallengeExecutor);
    let ch = user
        .read(&PoseManager::getChallengeCall {
            cid: cid.0,
            challengeId: id,
        })
        .await
        .unwrap();
    assert!(ch.open);
    assert_eq!(ch.inputHash, alloy::primitives::keccak256(b"input 1"));
    let (id2, _) = user
        .challenge(cid, Bytes::from_static(b"input 2"))
        .await
        .unwrap();
    assert_eq!(id2, 2);

    let big = Bytes::from(vec![0u8; 65537]);
    assert!(matches!(
        refusal(user.challenge(cid, big).await),
        E::InputTooLarge(_)
    ));

    let tx = x.tx().await;
    let state = rb256();
    // Unknown tx hash, then a valid answer.
    let fake = rb256();
    let e = refusal(send(&user, &x.respond(&pool[0], id, 0, b"out", 3, state, fake)).await);
    assert!(matches!(e, E::UnknownTxHash(_)));
    let r = send(&user, &x.respond(&pool[0], id, 0, b"out", 3, state, tx))
        .await
        .unwrap();
    let ev = find_event::<PoseManager::ChallengeAnswered>(&r).unwrap();
    assert_eq!(
        (
            ev.challengeId,
            ev.epoch,
            ev.seq,
            ev.stateHash,
            &ev.encryptedOutput[..]
        ),
        (id, 0, 3, state, &b"out"[..])
    );
    let inst = env.owner.contract(cid).await.unwrap();
    assert_eq!(
        (inst.lastSeq, inst.lastStateHash, inst.openChallenges),
        (3, state, 1)
    );
    assert_eq!(
        x.phase().await,
        Phase::ChallengeExecutor,
        "challenge 2 is still open"
    );

    // An answered challenge cannot be answered again; a sequence number cannot go back.
    let e = refusal(send(&user, &x.respond(&pool[0], id, 0, b"out", 3, state, tx)).await);
    assert!(matches!(e, E::ChallengeNotOpen(_)));
    let e = refusal(send(&user, &x.respond(&pool[0], id2, 0, b"o2", 2, state, tx)).await);
    assert!(matches!(e, E::StaleSeq(ref s) if s.seq == 2 && s.lastSeq == 3));
    let big = vec![0u8; 65537];
    let e = refusal(send(&user, &x.respond(&pool[0], id2, 0, &big, 4, state, tx)).await);
    assert!(matches!(e, E::OutputTooLarge(_)));
    send(&user, &x.respond(&pool[0], id2, 0, b"o2", 3, state, tx))
        .await
        .unwrap();
    assert_eq!(x.phase().await, Phase::Executing);

    // Without open challenges there is nothing to answer or time out.
    let e = refusal(send(&user, &x.respond(&pool[0], id2, 0, b"o2", 3, state, tx)).await);
    assert!(matches!(e, E::WrongPhase(_)));
    assert!(matches!(
        refusal(send(&user, &x.timeout(id2)).await),
        E::WrongPhase(_)
    ));
    // A challenge id that was never opened.
    user.challenge(cid, Bytes::from_static(b"input 3"))
        .await
        .unwrap();
    let e = refusal(send(&user, &x.respond(&pool[0], 99, 0, b"o", 3, state, tx)).await);
    assert!(matches!(e, E::ChallengeNotOpen(_)));
    assert!(matches!(
        refusal(send(&user, &x.timeout(99)).await),
        E::ChallengeNotOpen(_)
    ));
}

#[tokio::test]
async fn a_timeout_moves_the_executor_and_old_epochs_are_refused() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(3).await;
    let (cid, pool) = env.live_contract(&keys, params(3)).await;
    let x = Ctx { env: &env, cid };
    let user = env.user().await;
    let (id, _) = user
        .challenge(cid, Bytes::from_static(b"in"))
        .await
        .unwrap();
    let state = rb256();

    // A watchdog cannot answer for the executor.
    let tx = x.tx().await;
    let e = refusal(send(&user, &x.respond(&pool[1], id, 0, b"o", 1, state, tx)).await);
    assert!(
        matches!(e, E::NotExecutor(ref n) if n.recovered == pool[1].address() && n.executor == pool[0].address())
    );

    // Before the deadline the executor cannot be moved.
    let e = refusal(send(&user, &x.timeout(id)).await);
    let E::TooEarly(early) = e else {
        panic!("{e:?}")
    };
    let now = user.chain_time().await.unwrap();
    user.anvil_increase_time(early.deadline + 1 - now)
        .await
        .unwrap();

    let r = send(&user, &x.timeout(id)).await.unwrap();
    let ev = find_event::<PoseManager::ExecutorChanged>(&r).unwrap();
    assert_eq!(
        (ev.epoch, ev.executor, ev.challengeId),
        (1, pool[1].address(), id)
    );
    let inst = env.owner.contract(cid).await.unwrap();
    assert_eq!((inst.epoch, inst.executorIndex), (1, 1));
    assert_eq!(env.owner.executor_of(cid).await.unwrap(), pool[1].address());
    assert_eq!(
        x.phase().await,
        Phase::ChallengeExecutor,
        "the challenge stays open"
    );
    // The new executor gets a full response period: an immediate second timeout is refused,
    // and the effective deadline is the restarted one.
    let e = refusal(send(&user, &x.timeout(id)).await);
    assert!(matches!(e, E::TooEarly(ref t) if t.deadline == ev.deadline));
    let effective = env
        .owner
        .read(&PoseManager::effectiveDeadlineCall {
            cid: cid.0,
            challengeId: id,
        })
        .await
        .unwrap();
    assert_eq!(effective, ev.deadline);
    assert!(ev.deadline >= user.chain_time().await.unwrap() + 599);

    let tx = x.tx().await;
    // The old executor, signing for its old epoch: refused.
    let e = refusal(send(&user, &x.respond(&pool[0], id, 0, b"o", 1, state, tx)).await);
    assert!(matches!(e, E::NotExecutor(ref n) if n.executor == pool[1].address()));
    // The old executor, signing for the new epoch: refused.
    let e = refusal(send(&user, &x.respond(&pool[0], id, 1, b"o", 1, state, tx)).await);
    assert!(matches!(e, E::NotExecutor(ref n) if n.recovered == pool[0].address()));
    // The new executor, signing for the old epoch: refused.
    let e = refusal(send(&user, &x.respond(&pool[1], id, 0, b"o", 1, state, tx)).await);
    assert!(matches!(e, E::NotExecutor(ref n) if n.recovered != pool[1].address()));
    // A withdrawal the old executor signed in epoch 0 is no longer honoured.
    user.deposit(cid, U256::from(ONE_ETH)).await.unwrap();
    let tx = x.tx().await;
    let to = raddr();
    let d = digest::withdraw(
        env.chain_id,
        env.manager(),
        cid.0,
        0,
        to,
        U256::from(1),
        1,
        tx,
    );
    let w = PoseManager::withdrawCall {
        cid: cid.0,
        recipient: to,
        amount: U256::from(1),
        nonce: 1,
        txHash: tx,
        sig: sign(&pool[0], d),
    };
    assert!(matches!(refusal(send(&user, &w).await), E::NotExecutor(_)));

    // The new executor answers in epoch 1.
    let r = send(&user, &x.respond(&pool[1], id, 1, b"o", 1, state, tx))
        .await
        .unwrap();
    assert_eq!(
        find_event::<PoseManager::ChallengeAnswered>(&r)
            .unwrap()
            .epoch,
        1
    );
    assert_eq!(x.phase().await, Phase::Executing);
}

#[tokio::test]
async fn when_every_member_times_out_the_contract_crashes() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(2).await;
    let (cid, pool) = env.live_contract(&keys, params(2)).await;
    let x = Ctx { env: &env, cid };
    let user = env.user().await;
    user.deposit(cid, U256::from(ONE_ETH)).await.unwrap();
    let (id, _) = user
        .challenge(cid, Bytes::from_static(b"in"))
        .await
        .unwrap();
    user.anvil_increase_time(601).await.unwrap();
    send(&user, &x.timeout(id)).await.unwrap();
    assert_eq!(env.owner.executor_of(cid).await.unwrap(), pool[1].address());
    user.anvil_increase_time(601).await.unwrap();
    let r = send(&user, &x.timeout(id)).await.unwrap();
    let ev = find_event::<PoseManager::ContractCrashed>(&r).unwrap();
    assert_eq!(ev.epoch, 2);
    assert_eq!(x.phase().await, Phase::Crashed);
    assert!(matches!(
        refusal(user.deposit(cid, U256::from(1)).await),
        E::WrongPhase(_)
    ));
    assert!(matches!(
        refusal(send(&user, &x.timeout(id)).await),
        E::WrongPhase(_)
    ));
}

#[tokio::test]
async fn a_silent_member_is_replaced_by_a_registered_enclave_not_in_the_pool() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(6).await;
    let (cid, pool) = env.live_contract(&keys, params(4)).await;
    let x = Ctx { env: &env, cid };
    let someone = env.user().await;
    let (exec, silent, alive) = (&pool[0], &pool[2], &pool[1]);

    // Only the executor may challenge, only pool members other than itself, over a known hash.
    let tx = x.tx().await;
    let e = refusal(
        send(
            &someone,
            &x.challenge_member(alive, 0, silent.address(), tx),
        )
        .await,
    );
    assert!(matches!(e, E::NotExecutor(_)));
    let e = refusal(send(&someone, &x.challenge_member(exec, 0, exec.address(), tx)).await);
    assert!(matches!(e, E::IsExecutor(_)));
    let outsider = keys
        .iter()
        .find(|k| !pool.iter().any(|p| p.address() == k.address()))
        .unwrap();
    let e = refusal(
        send(
            &someone,
            &x.challenge_member(exec, 0, outsider.address(), tx),
        )
        .await,
    );
    assert!(matches!(e, E::NotPoolMember(_)));
    let e = refusal(
        send(
            &someone,
            &x.challenge_member(exec, 0, silent.address(), rb256()),
        )
        .await,
    );
    assert!(matches!(e, E::UnknownTxHash(_)));
    // Removal needs a challenge first; answering needs one too.
    assert!(matches!(
        refusal(send(&someone, &x.remove(silent.address())).await),
        E::MemberNotChallenged(_)
    ));
    let e = refusal(send(&someone, &x.respond_member(alive, 0, alive.address(), tx)).await);
    assert!(matches!(e, E::MemberNotChallenged(_)));

    // A challenged member that answers in time stays.
    let r = send(&someone, &x.challenge_member(exec, 0, alive.address(), tx))
        .await
        .unwrap();
    let ev = find_event::<PoseManager::MemberChallenged>(&r).unwrap();
    assert_eq!(ev.member, alive.address());
    let e = refusal(
        send(
            &someone,
            &x.challenge_member(exec, 0, alive.address(), x.tx().await),
        )
        .await,
    );
    assert!(matches!(e, E::MemberAlreadyChallenged(_)));
    let tx = x.tx().await;
    let e = refusal(send(&someone, &x.respond_member(silent, 0, alive.address(), tx)).await);
    assert!(matches!(e, E::NotMemberSignature(ref n) if n.recovered == silent.address()));
    let r = send(&someone, &x.respond_member(alive, 0, alive.address(), tx))
        .await
        .unwrap();
    assert_eq!(
        find_event::<PoseManager::MemberResponded>(&r)
            .unwrap()
            .member,
        alive.address()
    );
    assert_eq!(
        env.owner
            .read(&PoseManager::memberDeadlineCall {
                cid: cid.0,
                member: alive.address()
            })
            .await
            .unwrap(),
        0
    );

    // A member that stays silent past its deadline is removed and replaced in its slot.
    let tx = x.tx().await;
    send(&someone, &x.challenge_member(exec, 0, silent.address(), tx))
        .await
        .unwrap();
    assert!(matches!(
        refusal(send(&someone, &x.remove(silent.address())).await),
        E::TooEarly(_)
    ));
    someone.anvil_increase_time(301).await.unwrap();
    let e = refusal(
        send(
            &someone,
            &x.respond_member(silent, 0, silent.address(), x.tx().await),
        )
        .await,
    );
    assert!(matches!(e, E::DeadlinePassed(_)));
    assert!(matches!(
        refusal(send(&someone, &x.remove(exec.address())).await),
        E::IsExecutor(_)
    ));
    let active_before = env
        .owner
        .read(&PoseManager::activeEnclaveCountCall {})
        .await
        .unwrap();
    let r = send(&someone, &x.remove(silent.address())).await.unwrap();
    let ev = find_event::<PoseManager::MemberRemoved>(&r).unwrap();
    assert_eq!((ev.member, ev.index), (silent.address(), U256::from(2)));
    // The member failed its challenge: it is suspended, so no pool draws it again.
    let suspended = find_event::<PoseManager::EnclaveSuspended>(&r).unwrap();
    assert_eq!(
        (suspended.enclave, suspended.cid),
        (silent.address(), cid.0)
    );
    assert!(
        !env.owner
            .read(&PoseManager::enclavesCall(silent.address()))
            .await
            .unwrap()
            .active
    );
    assert_eq!(
        env.owner
            .read(&PoseManager::activeEnclaveCountCall {})
            .await
            .unwrap(),
        active_before - U256::from(1)
    );
    let new_pool = env.owner.pool(cid).await.unwrap();
    let old: BTreeSet<Address> = pool.iter().map(|k| k.address()).collect();
    assert_eq!(new_pool.len(), 4);
    assert_eq!(new_pool[2], ev.replacement);
    assert!(
        !old.contains(&ev.replacement),
        "the replacement was not in the pool"
    );
    assert!(
        keys.iter().any(|k| k.address() == ev.replacement),
        "the replacement is registered"
    );
    assert_eq!(new_pool.iter().collect::<BTreeSet<_>>().len(), 4);
    assert_eq!(
        (new_pool[0], new_pool[1], new_pool[3]),
        (pool[0].address(), pool[1].address(), pool[3].address())
    );
    assert!(!env
        .owner
        .read(&PoseManager::isPoolMemberCall {
            cid: cid.0,
            member: silent.address()
        })
        .await
        .unwrap());
    assert!(matches!(
        refusal(send(&someone, &x.remove(silent.address())).await),
        E::NotPoolMember(_)
    ));

    // The replacement is a full member: the executor can challenge it, it can answer.
    let replacement = keys.iter().find(|k| k.address() == ev.replacement).unwrap();
    send(
        &someone,
        &x.challenge_member(exec, 0, replacement.address(), x.tx().await),
    )
    .await
    .unwrap();
    send(
        &someone,
        &x.respond_member(replacement, 0, replacement.address(), x.tx().await),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn without_candidates_the_pool_shrinks_and_deregistered_members_go_without_challenge() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(3).await;
    let (cid, pool) = env.live_contract(&keys, params(3)).await;
    let x = Ctx { env: &env, cid };
    let someone = env.user().await;
    let user = env.user().await;

    // Move the executor to slot 2, so removing slot 1 must shift the executor index.
    let (id, _) = user
        .challenge(cid, Bytes::from_static(b"in"))
        .await
        .unwrap();
    user.anvil_increase_time(601).await.unwrap();
    send(&user, &x.timeout(id)).await.unwrap();
    user.anvil_increase_time(601).await.unwrap();
    send(&user, &x.timeout(id)).await.unwrap();
    assert_eq!(env.owner.executor_of(cid).await.unwrap(), pool[2].address());
    let tx = x.tx().await;
    send(&user, &x.respond(&pool[2], id, 2, b"o", 1, rb256(), tx))
        .await
        .unwrap();

    // Slot 1's operator deregisters it: it can be removed at once, and with no registered
    // enclave outside the pool, the pool shrinks.
    env.operator_of(pool[1].address())
        .send(
            &PoseManager::deregisterEnclaveCall {
                enclave: pool[1].address(),
            },
            U256::ZERO,
        )
        .await
        .unwrap();
    let r = send(&someone, &x.remove(pool[1].address())).await.unwrap();
    let ev = find_event::<PoseManager::MemberRemoved>(&r).unwrap();
    assert_eq!(ev.replacement, Address::ZERO);
    assert_eq!(
        env.owner.pool(cid).await.unwrap(),
        vec![pool[0].address(), pool[2].address()]
    );
    assert_eq!(
        env.owner.executor_of(cid).await.unwrap(),
        pool[2].address(),
        "same executor after the shift"
    );
    let inst = env.owner.contract(cid).await.unwrap();
    assert_eq!((inst.executorIndex, inst.epoch), (1, 2));

    // A newly registered enclave is drawn for the next removal.
    let fresh = env.register(1).await;
    let tx = x.tx().await;
    send(
        &someone,
        &x.challenge_member(&pool[2], 2, pool[0].address(), tx),
    )
    .await
    .unwrap();
    someone.anvil_increase_time(301).await.unwrap();
    let r = send(&someone, &x.remove(pool[0].address())).await.unwrap();
    assert_eq!(
        find_event::<PoseManager::MemberRemoved>(&r)
            .unwrap()
            .replacement,
        fresh[0].address()
    );
    assert_eq!(
        env.owner.pool(cid).await.unwrap(),
        vec![fresh[0].address(), pool[2].address()]
    );
}

#[tokio::test]
async fn a_member_replaced_during_creation_must_accept_too() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(3).await;
    let code = rb256();
    let (cid, pool, _) = env.owner.create_contract(code, params(2)).await.unwrap();
    let pool_keys = keys_for(&keys, &pool);
    let x = Ctx { env: &env, cid };
    send(
        &env.owner,
        &x.challenge_member(&pool_keys[0], 0, pool[1], x.tx().await),
    )
    .await
    .unwrap();
    env.owner.anvil_increase_time(301).await.unwrap();
    send(&env.owner, &x.remove(pool[1])).await.unwrap();
    let new_pool = env.owner.pool(cid).await.unwrap();
    let last = keys.iter().find(|k| !pool.contains(&k.address())).unwrap();
    assert_eq!(new_pool, vec![pool[0], last.address()]);

    let tx = x.tx().await;
    let (key, init) = (rb256(), rb256());
    let d = digest::accept(env.chain_id, env.manager(), cid.0, code, key, init, tx);
    let call = |sigs| PoseManager::completeCreationCall {
        cid: cid.0,
        contractEncKey: key,
        initStateHash: init,
        txHash: tx,
        sigs,
    };
    let old_sigs = vec![sign(&pool_keys[0], d), sign(&pool_keys[1], d)];
    assert!(matches!(
        refusal(send(&env.owner, &call(old_sigs)).await),
        E::NotPoolMemberSignature(_)
    ));
    send(
        &env.owner,
        &call(vec![sign(&pool_keys[0], d), sign(last, d)]),
    )
    .await
    .unwrap();
    assert_eq!(x.phase().await, Phase::Executing);
}

/// docs/protocol.md 6.6, "Executor challenges wait for member replacement": a member challenge
/// extends every open user challenge to at least the member's deadline plus a response period,
/// at most pool size - 1 times per challenge; an executor change restarts the count.
#[tokio::test]
async fn a_member_challenge_extends_open_user_challenges_at_most_pool_size_minus_one_times() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(3).await;
    let (cid, pool) = env.live_contract(&keys, params(3)).await;
    let x = Ctx { env: &env, cid };
    let user = env.user().await;
    let (exec, a, b) = (&pool[0], &pool[1], &pool[2]);
    let effective = |id: u64| {
        let owner = &env.owner;
        async move {
            owner
                .read(&PoseManager::effectiveDeadlineCall {
                    cid: cid.0,
                    challengeId: id,
                })
                .await
                .unwrap()
        }
    };
    let member_deadline = |m: Address| {
        let owner = &env.owner;
        async move {
            owner
                .read(&PoseManager::memberDeadlineCall {
                    cid: cid.0,
                    member: m,
                })
                .await
                .unwrap()
        }
    };

    let (id, r) = user
        .challenge(cid, Bytes::from_static(b"in"))
        .await
        .unwrap();
    let own = find_event::<PoseManager::ChallengeOpened>(&r)
        .unwrap()
        .deadline;
    user.anvil_increase_time(100).await.unwrap();
    // First member challenge: the user challenge waits for the member's deadline + 600 s.
    send(
        &user,
        &x.challenge_member(exec, 0, a.address(), x.tx().await),
    )
    .await
    .unwrap();
    let first = member_deadline(a.address()).await + 600;
    assert!(first > own);
    assert_eq!(effective(id).await, first);
    // The member answers; the extension stays (the executor may still be syncing it).
    send(&user, &x.respond_member(a, 0, a.address(), x.tx().await))
        .await
        .unwrap();
    assert_eq!(effective(id).await, first);
    // Past the challenge's own deadline, the executor cannot be moved yet.
    user.anvil_increase_time(own + 1 - user.chain_time().await.unwrap())
        .await
        .unwrap();
    let e = refusal(send(&user, &x.timeout(id)).await);
    assert!(
        matches!(e, E::TooEarly(ref t) if t.deadline == first),
        "{e:?}"
    );

    // A challenge opened after the member challenge is not extended by it.
    let (later, r) = user
        .challenge(cid, Bytes::from_static(b"in 2"))
        .await
        .unwrap();
    let later_own = find_event::<PoseManager::ChallengeOpened>(&r)
        .unwrap()
        .deadline;
    assert_eq!(effective(later).await, later_own);

    // Second member challenge (pool of 3: the last extension of `id`, the first of `later`).
    user.anvil_increase_time(50).await.unwrap();
    send(
        &user,
        &x.challenge_member(exec, 0, b.address(), x.tx().await),
    )
    .await
    .unwrap();
    let second = member_deadline(b.address()).await + 600;
    assert_eq!(effective(id).await, second);
    assert_eq!(effective(later).await, second.max(later_own));

    // A third one extends `later` (its second) but no longer `id`.
    send(&user, &x.respond_member(b, 0, b.address(), x.tx().await))
        .await
        .unwrap();
    user.anvil_increase_time(50).await.unwrap();
    send(
        &user,
        &x.challenge_member(exec, 0, a.address(), x.tx().await),
    )
    .await
    .unwrap();
    let third = member_deadline(a.address()).await + 600;
    send(&user, &x.respond_member(a, 0, a.address(), x.tx().await))
        .await
        .unwrap();
    assert_eq!(
        effective(id).await,
        second,
        "at most pool size - 1 extensions"
    );
    assert_eq!(effective(later).await, third);

    // After `id`'s extended deadline the executor moves; the new epoch restarts every open
    // challenge at one response period and the extension count at zero.
    user.anvil_increase_time(second + 1 - user.chain_time().await.unwrap())
        .await
        .unwrap();
    let r = send(&user, &x.timeout(id)).await.unwrap();
    let restarted = find_event::<PoseManager::ExecutorChanged>(&r)
        .unwrap()
        .deadline;
    assert_eq!(effective(id).await, restarted);
    assert_eq!(effective(later).await, restarted);
    let new_exec = &pool[1];
    send(
        &user,
        &x.challenge_member(new_exec, 1, b.address(), x.tx().await),
    )
    .await
    .unwrap();
    let fourth = member_deadline(b.address()).await + 600;
    assert_eq!(effective(id).await, fourth);
    assert_eq!(effective(later).await, fourth);
}

/// A member suspended in one pool (it missed a member challenge there) is still a member of
/// its other pools; each of them must challenge it before removing it. Only an enclave its
/// operator deregistered goes without a challenge.
#[tokio::test]
async fn a_member_suspended_in_one_pool_is_challenged_before_removal_from_another() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(3).await;
    let (a, pool_a) = env.live_contract(&keys, params(3)).await;
    let (b, pool_b) = env.live_contract(&keys, params(3)).await;
    let (xa, xb) = (Ctx { env: &env, cid: a }, Ctx { env: &env, cid: b });
    let someone = env.user().await;
    // Both pools hold all three enclaves; pick one that executes in neither.
    let victim = keys
        .iter()
        .find(|k| k.address() != pool_a[0].address() && k.address() != pool_b[0].address())
        .unwrap();
    send(
        &someone,
        &xa.challenge_member(&pool_a[0], 0, victim.address(), xa.tx().await),
    )
    .await
    .unwrap();
    someone.anvil_increase_time(301).await.unwrap();
    let r = send(&someone, &xa.remove(victim.address())).await.unwrap();
    assert!(find_event::<PoseManager::EnclaveSuspended>(&r).is_some());

    // In pool b it is still a member, and it is not removed without a challenge there.
    let e = refusal(send(&someone, &xb.remove(victim.address())).await);
    assert!(matches!(e, E::MemberNotChallenged(_)), "{e:?}");
    send(
        &someone,
        &xb.challenge_member(&pool_b[0], 0, victim.address(), xb.tx().await),
    )
    .await
    .unwrap();
    // It may still answer there, and stays.
    send(
        &someone,
        &xb.respond_member(victim, 0, victim.address(), xb.tx().await),
    )
    .await
    .unwrap();
    assert!(env
        .owner
        .read(&PoseManager::isPoolMemberCall {
            cid: b.0,
            member: victim.address()
        })
        .await
        .unwrap());
    // Silent after a second challenge, it is removed (it stays suspended, once).
    send(
        &someone,
        &xb.challenge_member(&pool_b[0], 0, victim.address(), xb.tx().await),
    )
    .await
    .unwrap();
    someone.anvil_increase_time(301).await.unwrap();
    let r = send(&someone, &xb.remove(victim.address())).await.unwrap();
    assert!(find_event::<PoseManager::MemberRemoved>(&r).is_some());
    assert!(find_event::<PoseManager::EnclaveSuspended>(&r).is_none());
}

fn revive_call(
    env: &Env,
    cid: ContractId,
    signer: &EKey,
    member: Address,
    epoch: u64,
    held: (u64, B256),
    tx: B256,
) -> PoseManager::reviveCall {
    let d = digest::revive(env.chain_id, env.manager(), cid.0, epoch, member, held, tx);
    PoseManager::reviveCall {
        cid: cid.0,
        member,
        seq: held.0,
        stateHash: held.1,
        txHash: tx,
        sig: sign(signer, d),
    }
}

/// docs/protocol.md section 5, "Crashed": a pool member whose enclave still holds the state
/// revives the contract as the executor of a new epoch, so its coins are not locked.
#[tokio::test]
async fn a_member_revives_a_crashed_contract_and_coins_leave_again() {
    let _clock = CLOCK.lock().await;
    let env = Env::new().await;
    let keys = env.register(3).await;
    let (cid, pool) = env.live_contract(&keys, params(2)).await;
    let outsider = keys
        .iter()
        .find(|k| !pool.iter().any(|p| p.address() == k.address()))
        .unwrap();
    let x = Ctx { env: &env, cid };
    let user = env.user().await;
    user.deposit(cid, U256::from(2 * ONE_ETH)).await.unwrap();
    // One challenge answered at seq 5, then one every member lets time out.
    let (first, _) = user
        .challenge(cid, Bytes::from_static(b"in 1"))
        .await
        .unwrap();
    let state = rb256();
    send(
        &user,
        &x.respond(&pool[0], first, 0, b"o", 5, state, x.tx().await),
    )
    .await
    .unwrap();
    let (id, _) = user
        .challenge(cid, Bytes::from_static(b"in 2"))
        .await
        .unwrap();
    let held = (6, rb256());
    let e = refusal(
        send(
            &user,
            &revive_call(
                &env,
                cid,
                &pool[1],
                pool[1].address(),
                0,
                held,
                x.tx().await,
            ),
        )
        .await,
    );
    assert!(matches!(e, E::WrongPhase(_)), "not crashed yet: {e:?}");
    user.anvil_increase_time(601).await.unwrap();
    send(&user, &x.timeout(id)).await.unwrap();
    user.anvil_increase_time(601).await.unwrap();
    send(&user, &x.timeout(id)).await.unwrap();
    assert_eq!(x.phase().await, Phase::Crashed);
    let epoch = env.owner.contract(cid).await.unwrap().epoch;
    assert_eq!(epoch, 2);

    let tx = x.tx().await;
    let refused = |call: PoseManager::reviveCall| {
        let user = &user;
        async move { refusal(send(user, &call).await) }
    };
    let e = refused(revive_call(
        &env,
        cid,
        outsider,
        outsider.address(),
        epoch,
        held,
        tx,
    ))
    .await;
    assert!(matches!(e, E::NotPoolMember(_)), "{e:?}");
    let e = refused(revive_call(
        &env,
        cid,
        &pool[1],
        pool[1].address(),
        epoch,
        held,
        rb256(),
    ))
    .await;
    assert!(matches!(e, E::UnknownTxHash(_)), "{e:?}");
    let stale = (4, held.1);
    let e = refused(revive_call(
        &env,
        cid,
        &pool[1],
        pool[1].address(),
        epoch,
        stale,
        tx,
    ))
    .await;
    assert!(matches!(e, E::StaleSeq(ref s) if s.lastSeq == 5), "{e:?}");
    let e = refused(revive_call(
        &env,
        cid,
        &pool[0],
        pool[1].address(),
        epoch,
        held,
        tx,
    ))
    .await;
    assert!(matches!(e, E::NotMemberSignature(_)), "{e:?}");
    let e = refused(revive_call(
        &env,
        cid,
        &pool[1],
        pool[1].address(),
        1,
        held,
        tx,
    ))
    .await;
    assert!(matches!(e, E::NotMemberSignature(_)), "an old epoch: {e:?}");

    // pool[1] takes over in epoch 3; the open challenge restarts with a full response period.
    let r = send(
        &user,
        &revive_call(&env, cid, &pool[1], pool[1].address(), epoch, held, tx),
    )
    .await
    .unwrap();
    let ev = find_event::<PoseManager::ContractRevived>(&r).unwrap();
    assert_eq!(
        (ev.cid, ev.epoch, ev.executor, ev.seq, ev.stateHash),
        (cid.0, 3, pool[1].address(), held.0, held.1)
    );
    let inst = env.owner.contract(cid).await.unwrap();
    assert_eq!(
        (inst.epoch, inst.executorIndex, inst.timeoutsInARow),
        (3, 1, 0)
    );
    assert_eq!(x.phase().await, Phase::ChallengeExecutor);
    assert_eq!(env.owner.executor_of(cid).await.unwrap(), pool[1].address());
    let now = user.chain_time().await.unwrap();
    let effective = env
        .owner
        .read(&PoseManager::effectiveDeadlineCall {
            cid: cid.0,
            challengeId: id,
        })
        .await
        .unwrap();
    assert!(effective >= now + 599, "a full response period");
    let e = refused(revive_call(
        &env,
        cid,
        &pool[0],
        pool[0].address(),
        3,
        held,
        x.tx().await,
    ))
    .await;
    assert!(matches!(e, E::WrongPhase(_)), "revived once: {e:?}");
    assert!(matches!(
        refusal(send(&user, &x.timeout(id)).await),
        E::TooEarly(_)
    ));

    // The new executor answers and coins leave again.
    send(
        &user,
        &x.respond(&pool[1], id, 3, b"o", 7, rb256(), x.tx().await),
    )
    .await
    .unwrap();
    assert_eq!(x.phase().await, Phase::Executing);
    let to = raddr();
    let tx = x.tx().await;
    let d = digest::withdraw(
        env.chain_id,
        env.manager(),
        cid.0,
        3,
        to,
        U256::from(ONE_ETH),
        1,
        tx,
    );
    send(
        &user,
        &PoseManager::withdrawCall {
            cid: cid.0,
            recipient: to,
            amount: U256::from(ONE_ETH),
            nonce: 1,
            txHash: tx,
            sig: sign(&pool[1], d),
        },
    )
    .await
    .unwrap();
    assert_eq!(user.balance_of(to).await.unwrap(), U256::from(ONE_ETH));
}
