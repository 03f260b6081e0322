//! Hand-written scenarios on one enclave: sealed state cannot be rolled back, the host's clock
//! does not matter, replayed or invented chain transactions and malformed messages change
//! nothing.

use pose_enclave::chain::Params;
use pose_enclave::{
    attestation_digest, ChainTx, Config, Deployment, Effect, Enclave, Event, ManagerCall, Member,
    Rejection,
};
use pose_sim::bank::{bank_code_hash, BankEngine};
use pose_sim::ideal::{Hardware, Identity, SharedRegistry, SimPlatform};
use pose_sim::rng::Rng;
use pose_types::{Address, ContractId, Hash32, Seq};

fn setup() -> (
    Config,
    SharedRegistry,
    pose_sim::ideal::SharedHardware,
    Member,
) {
    let reg: SharedRegistry = Default::default();
    let mut rng = Rng::new(9);
    let vendor = Identity::new(&reg, &mut rng);
    let config = Config {
        deployment: Deployment {
            chain_id: 1,
            manager: Address([1; 20]),
        },
        vendor: vendor.address,
        ..Config::default()
    };
    let hw = Hardware::new(&reg, &mut rng);
    let mut m = Member {
        address: hw.borrow().identity.address,
        enc_key: hw.borrow().enc_public,
        attestation: Vec::new(),
    };
    m.attestation = vendor.sign(&attestation_digest(&config, &m));
    (config, reg, hw, m)
}

fn creation(m: &Member) -> ChainTx {
    ChainTx {
        cid: ContractId(1),
        index: 0,
        calldata: ManagerCall::CreateContract {
            code_hash: bank_code_hash(),
            params: Params {
                pool_size: 1,
                ..Params::default()
            },
        }
        .encode(),
        sender: Address([7; 20]),
        value_wei: 0,
        block_number: 1,
        block_time_secs: 1,
        effect: Effect::Created {
            pool: vec![m.clone()],
        },
    }
}

fn blob(actions: &[pose_enclave::Action]) -> Vec<u8> {
    actions
        .iter()
        .find_map(|a| match a {
            pose_enclave::Action::Persist { blob } => Some(blob.clone()),
            _ => None,
        })
        .expect("a state change is persisted")
}

#[test]
fn stale_sealed_state_is_refused_and_latest_restores() {
    let (config, _reg, hw, m) = setup();
    let mut e = Enclave::new(
        SimPlatform(hw.clone()),
        Box::new(BankEngine),
        config.clone(),
    );
    let old = blob(&e.handle(Event::Chain(creation(&m).encode())).unwrap());
    let dep = ChainTx {
        index: 1,
        calldata: ManagerCall::Deposit { cid: ContractId(1) }.encode(),
        effect: Effect::None,
        ..creation(&m)
    };
    let latest = blob(&e.handle(Event::Chain(dep.encode())).unwrap());
    drop(e);
    let r = Enclave::restore(
        SimPlatform(hw.clone()),
        Box::new(BankEngine),
        config.clone(),
        &old,
    );
    assert!(
        matches!(r, Err(Rejection::StaleSealedState { .. })),
        "old blob accepted"
    );
    let e = Enclave::restore(
        SimPlatform(hw.clone()),
        Box::new(BankEngine),
        config.clone(),
        &latest,
    )
    .expect("latest blob restores");
    assert_eq!(e.view(ContractId(1)).unwrap().chain_len(), 2);
    let mut flipped = latest.clone();
    flipped[30] ^= 1;
    let r = Enclave::restore(SimPlatform(hw), Box::new(BankEngine), config, &flipped);
    assert!(matches!(r, Err(Rejection::Unseal)));
}

/// The host passes no clock: an enclave restored while its TEE clock reads less than when it
/// sealed (a restarted machine, a clock set back) serves every event. (With the host's clock
/// as an argument that must never go back, every event after such a restart was refused.)
#[test]
fn a_restart_with_the_clock_behind_serves_events() {
    let (config, _reg, hw, m) = setup();
    let mut e = Enclave::new(
        SimPlatform(hw.clone()),
        Box::new(BankEngine),
        config.clone(),
    );
    hw.borrow_mut().clock_ms = 1_000_000;
    let sealed = blob(&e.handle(Event::Chain(creation(&m).encode())).unwrap());
    hw.borrow_mut().clock_ms = 5;
    let mut e = Enclave::restore(
        SimPlatform(hw.clone()),
        Box::new(BankEngine),
        config,
        &sealed,
    )
    .expect("latest blob restores");
    e.handle(Event::Tick).expect("a tick after the restart");
    hw.borrow_mut().clock_ms = 4;
    e.handle(Event::Tick)
        .expect("a TEE clock reading less than before changes nothing");
}

#[test]
fn replayed_chain_transactions_and_garbage_change_nothing() {
    let (config, _reg, hw, m) = setup();
    let mut e = Enclave::new(SimPlatform(hw), Box::new(BankEngine), config);
    let tx = creation(&m).encode();
    e.handle(Event::Chain(tx.clone())).unwrap();
    assert!(matches!(
        e.handle(Event::Chain(tx)),
        Err(Rejection::ChainReplay { got: 0, next: 1 })
    ));
    let gap = ChainTx {
        index: 5,
        calldata: ManagerCall::Deposit { cid: ContractId(1) }.encode(),
        effect: Effect::None,
        ..creation(&m)
    };
    assert!(matches!(
        e.handle(Event::Chain(gap.encode())),
        Err(Rejection::ChainGap { got: 5, next: 1 })
    ));
    for bytes in [vec![], vec![1], vec![1, 2, 3, 4, 5], vec![0xff; 100]] {
        assert!(matches!(
            e.handle(Event::Message(bytes)),
            Err(Rejection::Malformed(_))
        ));
    }
    assert_eq!(e.view(ContractId(1)).unwrap().chain_len(), 1);
}

#[test]
fn a_forged_attestation_in_a_pool_is_refused() {
    let (config, _reg, hw, mut m) = setup();
    let mut e = Enclave::new(SimPlatform(hw), Box::new(BankEngine), config);
    m.attestation[0] ^= 1;
    assert!(matches!(
        e.handle(Event::Chain(creation(&m).encode())),
        Err(Rejection::BadAttestation(_))
    ));
    assert!(e.view(ContractId(1)).is_none());
}

/// Only the creator (the `createContract` sender) can hand over the code and its init input:
/// a deployment signed by anyone else is refused and changes nothing; the creator's is taken.
#[test]
fn a_deployment_not_signed_by_the_creator_is_refused() {
    use pose_enclave::wire::{Deploy, Message};
    use pose_sim::bank::BANK_CODE;
    let (config, reg, hw, m) = setup();
    let mut rng = Rng::new(11);
    let creator = Identity::new(&reg, &mut rng);
    let stranger = Identity::new(&reg, &mut rng);
    let mut e = Enclave::new(SimPlatform(hw), Box::new(BankEngine), config);
    let create = ChainTx {
        sender: creator.address,
        ..creation(&m)
    };
    e.handle(Event::Chain(create.encode())).unwrap();
    let deploy_by = |who: &Identity, init: &[u8]| {
        let mut d = Deploy {
            cid: ContractId(1),
            code: BANK_CODE.to_vec(),
            init_input: init.to_vec(),
            sig: Vec::new(),
        };
        d.sig = who.sign(&d.digest());
        d
    };
    let forged = deploy_by(&stranger, b"");
    assert_eq!(
        e.handle(Event::Message(Message::Deploy(forged).encode())),
        Err(Rejection::BadSignature(creator.address))
    );
    assert!(e.head(ContractId(1)).is_none(), "nothing was initialised");
    // The creator's signature does not cover another init input.
    let mut altered = deploy_by(&creator, b"");
    altered.init_input = b"x".to_vec();
    assert!(e
        .handle(Event::Message(Message::Deploy(altered).encode()))
        .is_err());
    let genuine = deploy_by(&creator, b"");
    e.handle(Event::Message(Message::Deploy(genuine).encode()))
        .unwrap();
    assert!(
        e.head(ContractId(1)).is_some(),
        "the creator's deployment is taken"
    );
}

/// A host cannot invent a member's on-chain answer: a `respondMember` whose signature is not the
/// member's over the named state is refused as a chain transaction, so it never counts as that
/// member's ack. (Before the enclave checked it, the invented answer was taken.)
#[test]
fn an_invented_respond_member_is_refused() {
    let (config, reg, hw, m) = setup();
    let mut e = Enclave::new(SimPlatform(hw), Box::new(BankEngine), config);
    e.handle(Event::Chain(creation(&m).encode())).unwrap();
    let mut rng = Rng::new(77);
    let other = Identity::new(&reg, &mut rng);
    let forged = |sig: Vec<u8>| ChainTx {
        index: 1,
        calldata: ManagerCall::RespondMember {
            cid: ContractId(1),
            member: m.address,
            seq: Seq(3),
            state_hash: Hash32([5; 32]),
            tx_hash: Hash32([6; 32]),
            sig,
        }
        .encode(),
        effect: Effect::None,
        ..creation(&m)
    };
    for sig in [vec![0; 65], other.sign(&Hash32([1; 32]))] {
        assert_eq!(
            e.handle(Event::Chain(forged(sig).encode())),
            Err(Rejection::BadSignature(m.address))
        );
    }
    assert_eq!(e.view(ContractId(1)).unwrap().chain_len(), 1);
}

/// Every fact a chain transaction hands the enclave is in its `txHash`. The enclave fed the
/// honest transactions holds the values the manager computes (docs/protocol.md section 3,
/// recomputed here with `pose_crypto::onchain`); one fed a transaction whose block time, block
/// number, drawn pool, challenge id or replacement its host altered holds a value the manager
/// never produced, so a receipt or signature over it is refused.
#[test]
fn a_chain_fact_altered_by_the_host_leaves_the_enclave_off_the_managers_tx_hash() {
    use pose_crypto::onchain::{self, TxStep};
    use pose_types::{Amount, Hash32};

    let (config, _reg, hw, m) = setup();
    let honest = vec![
        ChainTx {
            block_number: 5,
            block_time_secs: 1_000,
            ..creation(&m)
        },
        ChainTx {
            index: 1,
            calldata: ManagerCall::Challenge {
                cid: ContractId(1),
                request: vec![1, 2, 3],
            }
            .encode(),
            block_number: 6,
            block_time_secs: 1_012,
            effect: Effect::ChallengeOpened { challenge_id: 1 },
            ..creation(&m)
        },
        ChainTx {
            index: 2,
            calldata: ManagerCall::RemoveMember {
                cid: ContractId(1),
                member: Address([9; 20]),
            }
            .encode(),
            block_number: 7,
            block_time_secs: 1_024,
            effect: Effect::MemberRemoved { replacement: None },
            ..creation(&m)
        },
    ];
    // The manager's values: the outcome of each transaction is what the chain decided.
    let outcomes = [
        onchain::tx_outcome_pool(&[m.address]),
        onchain::tx_outcome_challenge(1),
        onchain::tx_outcome_replacement(None),
    ];
    let mut chain = vec![pose_enclave::chain::tx_hash_genesis(
        &config.deployment,
        ContractId(1),
    )];
    for (tx, outcome) in honest.iter().zip(outcomes) {
        let step = TxStep {
            calldata: &tx.calldata,
            sender: &tx.sender,
            value: Amount(tx.value_wei),
            block_number: tx.block_number,
            block_time_secs: tx.block_time_secs,
            outcome,
        };
        let next = onchain::tx_hash_extend(chain.last().expect("genesis"), &step);
        chain.push(next);
    }
    let fed = |txs: &[ChainTx]| -> Hash32 {
        let mut e = Enclave::new(
            SimPlatform(hw.clone()),
            Box::new(BankEngine),
            config.clone(),
        );
        for tx in txs.iter() {
            e.handle(Event::Chain(tx.encode()))
                .expect("the enclave takes the transaction");
        }
        e.view(ContractId(1)).expect("created").tx_hash()
    };
    assert_eq!(
        fed(&honest),
        chain[3],
        "the honest feed yields the manager's txHash"
    );

    let mut cases: Vec<(&str, usize, ChainTx)> = Vec::new();
    for (i, tx) in honest.iter().enumerate() {
        cases.push((
            "block time",
            i,
            ChainTx {
                block_time_secs: tx.block_time_secs + 1,
                ..tx.clone()
            },
        ));
        cases.push((
            "block number",
            i,
            ChainTx {
                block_number: tx.block_number - 1,
                ..tx.clone()
            },
        ));
    }
    let effect = |i: usize, effect: Effect| ChainTx {
        effect,
        ..honest[i].clone()
    };
    cases.push((
        "drawn pool",
        0,
        effect(
            0,
            Effect::Created {
                pool: vec![m.clone(), m.clone()],
            },
        ),
    ));
    cases.push((
        "challenge id",
        1,
        effect(1, Effect::ChallengeOpened { challenge_id: 2 }),
    ));
    cases.push(("challenge hidden", 1, effect(1, Effect::None)));
    cases.push((
        "replacement",
        2,
        effect(
            2,
            Effect::MemberRemoved {
                replacement: Some(m.clone()),
            },
        ),
    ));
    for (what, i, altered) in cases {
        let mut txs = honest[..i].to_vec();
        txs.push(altered);
        let got = fed(&txs);
        assert_eq!(fed(&honest[..=i]), chain[i + 1]);
        assert!(
            !chain.contains(&got),
            "a transaction with its {what} altered left the enclave on a txHash the manager produced"
        );
    }
}

/// A host cannot move a contract's chain backwards in time: a transaction whose block number
/// or block time is below the previous one's is refused and changes nothing; the same block
/// (several transactions in one block) and later blocks are taken.
#[test]
fn a_chain_tx_from_an_older_block_is_refused() {
    let (config, _reg, hw, m) = setup();
    let mut e = Enclave::new(SimPlatform(hw), Box::new(BankEngine), config);
    let create = ChainTx {
        block_number: 10,
        block_time_secs: 1_000,
        ..creation(&m)
    };
    e.handle(Event::Chain(create.encode())).unwrap();
    let deposit = |index: u64, block_number: u64, block_time_secs: u64| ChainTx {
        index,
        calldata: ManagerCall::Deposit { cid: ContractId(1) }.encode(),
        block_number,
        block_time_secs,
        effect: Effect::None,
        ..creation(&m)
    };
    for (block, time) in [(9, 1_000), (10, 999), (9, 1_001)] {
        assert_eq!(
            e.handle(Event::Chain(deposit(1, block, time).encode())),
            Err(Rejection::ChainBlockWentBackwards {
                index: 1,
                block,
                time_secs: time,
                last_block: 10,
                last_time_secs: 1_000,
            }),
            "block {block} at {time} s"
        );
    }
    assert_eq!(e.view(ContractId(1)).unwrap().chain_len(), 1);
    e.handle(Event::Chain(deposit(1, 10, 1_000).encode()))
        .expect("the same block again");
    e.handle(Event::Chain(deposit(2, 11, 1_012).encode()))
        .expect("a later block");
    assert_eq!(e.view(ContractId(1)).unwrap().chain_len(), 3);
}
