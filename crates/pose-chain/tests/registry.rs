//! Deployment, owner functions and the enclave registry, against anvil.

mod common;

use alloy::primitives::{Address, Bytes, U256};
use common::*;
use pose_chain::PoseManager::{self, PoseManagerErrors as E};
use pose_chain::{find_event, ChainConfig, ChainError, ManagerClient};

#[tokio::test]
async fn deploy_records_owner_vendor_and_measurements() {
    let env = Env::new().await;
    let c = &env.owner;
    assert_eq!(
        c.read(&PoseManager::ownerCall {}).await.unwrap(),
        c.sender()
    );
    assert_eq!(
        c.read(&PoseManager::vendorCall {}).await.unwrap(),
        env.vendor.address()
    );
    assert!(c
        .read(&PoseManager::allowedMeasurementCall(env.measurement))
        .await
        .unwrap());
    assert!(!c
        .read(&PoseManager::allowedMeasurementCall(rb256()))
        .await
        .unwrap());

    // A zero vendor is refused at deployment.
    let key = random_key();
    fund(&env.url, key.address()).await;
    let err = ManagerClient::deploy(
        ChainConfig::new(env.url.clone()),
        key,
        Address::ZERO,
        vec![],
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ChainError::Reverted(E::ZeroAddress(_))),
        "{err:?}"
    );

    // Connecting to an address without code is refused before any transaction.
    let err = ManagerClient::connect(ChainConfig::new(env.url.clone()), random_key(), raddr())
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn owner_manages_measurements_vendor_and_ownership() {
    let env = Env::new().await;
    let owner = &env.owner;
    let stranger = env.user().await;
    let m = rb256();

    let r = owner
        .send(
            &PoseManager::allowMeasurementCall { measurement: m },
            U256::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        find_event::<PoseManager::MeasurementAllowed>(&r)
            .unwrap()
            .measurement,
        m
    );
    assert!(owner
        .read(&PoseManager::allowedMeasurementCall(m))
        .await
        .unwrap());
    let e = refusal(
        owner
            .send(
                &PoseManager::allowMeasurementCall { measurement: m },
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::MeasurementAlreadyAllowed(_)));

    let r = owner
        .send(
            &PoseManager::revokeMeasurementCall { measurement: m },
            U256::ZERO,
        )
        .await
        .unwrap();
    assert!(find_event::<PoseManager::MeasurementRevoked>(&r).is_some());
    assert!(!owner
        .read(&PoseManager::allowedMeasurementCall(m))
        .await
        .unwrap());
    let e = refusal(
        owner
            .send(
                &PoseManager::revokeMeasurementCall { measurement: m },
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::MeasurementNotAllowed(_)));

    // Nobody else may touch the owner functions.
    for e in [
        refusal(
            stranger
                .send(
                    &PoseManager::allowMeasurementCall { measurement: m },
                    U256::ZERO,
                )
                .await,
        ),
        refusal(
            stranger
                .send(
                    &PoseManager::revokeMeasurementCall {
                        measurement: env.measurement,
                    },
                    U256::ZERO,
                )
                .await,
        ),
        refusal(
            stranger
                .send(
                    &PoseManager::setVendorCall {
                        newVendor: stranger.sender(),
                    },
                    U256::ZERO,
                )
                .await,
        ),
        refusal(
            stranger
                .send(
                    &PoseManager::transferOwnershipCall {
                        newOwner: stranger.sender(),
                    },
                    U256::ZERO,
                )
                .await,
        ),
    ] {
        assert!(
            matches!(e, E::NotOwner(ref x) if x.caller == stranger.sender()),
            "{e:?}"
        );
    }

    let new_vendor = random_key().address();
    let r = owner
        .send(
            &PoseManager::setVendorCall {
                newVendor: new_vendor,
            },
            U256::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        find_event::<PoseManager::VendorChanged>(&r).unwrap().vendor,
        new_vendor
    );
    assert_eq!(
        owner.read(&PoseManager::vendorCall {}).await.unwrap(),
        new_vendor
    );
    let e = refusal(
        owner
            .send(
                &PoseManager::setVendorCall {
                    newVendor: Address::ZERO,
                },
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::ZeroAddress(_)));

    let e = refusal(
        owner
            .send(
                &PoseManager::transferOwnershipCall {
                    newOwner: Address::ZERO,
                },
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::ZeroAddress(_)));
    let r = owner
        .send(
            &PoseManager::transferOwnershipCall {
                newOwner: stranger.sender(),
            },
            U256::ZERO,
        )
        .await
        .unwrap();
    assert!(find_event::<PoseManager::OwnershipTransferred>(&r).is_some());
    assert_eq!(
        owner.read(&PoseManager::ownerCall {}).await.unwrap(),
        stranger.sender()
    );
    // The old owner lost its rights; the new one has them.
    let e = refusal(
        owner
            .send(
                &PoseManager::allowMeasurementCall { measurement: m },
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::NotOwner(_)));
    stranger
        .send(
            &PoseManager::allowMeasurementCall { measurement: m },
            U256::ZERO,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn registration_accepts_a_vendor_attestation() {
    let env = Env::new().await;
    let operator = env.user().await;
    let key = random_key();
    let enc = rb256();
    let sig = env.attest(env.measurement, key.address(), enc);
    let r = operator
        .register_enclave(env.measurement, key.address(), enc, sig.clone())
        .await
        .unwrap();
    let ev = find_event::<PoseManager::EnclaveRegistered>(&r).unwrap();
    assert_eq!(
        (ev.enclave, ev.operator, ev.measurement, ev.encPubKey),
        (key.address(), operator.sender(), env.measurement, enc)
    );
    // The attestation itself is in the event, so pool members can check each other's.
    assert_eq!(ev.vendorSig, sig);
    assert_eq!(
        operator
            .read(&PoseManager::activeEnclaveCountCall {})
            .await
            .unwrap(),
        U256::from(1)
    );
    let rec = operator
        .read(&PoseManager::enclavesCall(key.address()))
        .await
        .unwrap();
    assert_eq!(rec.operator, operator.sender());
    assert!(rec.active);

    // The same enclave cannot register twice.
    let e = refusal(
        operator
            .register_enclave(env.measurement, key.address(), enc, sig)
            .await,
    );
    assert!(matches!(e, E::EnclaveAlreadyRegistered(_)));
    // Nor can the zero address.
    let sig0 = env.attest(env.measurement, Address::ZERO, enc);
    let e = refusal(
        operator
            .register_enclave(env.measurement, Address::ZERO, enc, sig0)
            .await,
    );
    assert!(matches!(e, E::ZeroAddress(_)));
}

#[tokio::test]
async fn registration_refuses_forged_and_misbound_attestations() {
    let env = Env::new().await;
    let key = random_key();
    let enc = rb256();
    let m = env.measurement;
    let mgr = env.manager();
    let not_vendor =
        |e: &E| matches!(e, E::AttestationNotByVendor(x) if x.vendor == env.vendor.address());

    // Forged: signed by a key that is not the vendor's.
    let forged = sign(
        &random_key(),
        digest::attestation(env.chain_id, mgr, m, key.address(), enc),
    );
    assert!(not_vendor(&refusal(
        env.owner
            .register_enclave(m, key.address(), enc, forged)
            .await
    )));

    // Bound to another chain id, or to another manager deployment.
    let other_chain = sign(
        &env.vendor,
        digest::attestation(env.chain_id + 1, mgr, m, key.address(), enc),
    );
    assert!(not_vendor(&refusal(
        env.owner
            .register_enclave(m, key.address(), enc, other_chain)
            .await
    )));
    let other_mgr = sign(
        &env.vendor,
        digest::attestation(env.chain_id, raddr(), m, key.address(), enc),
    );
    assert!(not_vendor(&refusal(
        env.owner
            .register_enclave(m, key.address(), enc, other_mgr)
            .await
    )));

    // Another enclave key or encryption key than the vendor attested.
    let good = env.attest(m, key.address(), enc);
    assert!(not_vendor(&refusal(
        env.owner
            .register_enclave(m, random_key().address(), enc, good.clone())
            .await
    )));
    assert!(not_vendor(&refusal(
        env.owner
            .register_enclave(m, key.address(), rb256(), good.clone())
            .await
    )));

    // A measurement that is not allowed, even with a genuine vendor signature over it.
    let wrong_m = rb256();
    let sig = env.attest(wrong_m, key.address(), enc);
    let e = refusal(
        env.owner
            .register_enclave(wrong_m, key.address(), enc, sig)
            .await,
    );
    assert!(matches!(e, E::MeasurementNotAllowed(ref x) if x.measurement == wrong_m));
    // A genuine attestation of the allowed measurement submitted under another allowed one.
    let m2 = rb256();
    env.owner
        .send(
            &PoseManager::allowMeasurementCall { measurement: m2 },
            U256::ZERO,
        )
        .await
        .unwrap();
    assert!(not_vendor(&refusal(
        env.owner
            .register_enclave(m2, key.address(), enc, good.clone())
            .await
    )));

    // A revoked measurement no longer registers.
    env.owner
        .send(
            &PoseManager::revokeMeasurementCall { measurement: m },
            U256::ZERO,
        )
        .await
        .unwrap();
    let e = refusal(
        env.owner
            .register_enclave(m, key.address(), enc, good)
            .await,
    );
    assert!(matches!(e, E::MeasurementNotAllowed(_)));
}

#[tokio::test]
async fn signatures_must_be_raw_65_bytes_low_s_with_v_27_or_28() {
    let env = Env::new().await;
    let key = random_key();
    let enc = rb256();
    let m = env.measurement;
    let good = env.attest(m, key.address(), enc);

    let mut short = good.to_vec();
    short.pop();
    let e = refusal(
        env.owner
            .register_enclave(m, key.address(), enc, Bytes::from(short))
            .await,
    );
    assert!(matches!(e, E::BadSignatureLength(ref x) if x.length == U256::from(64)));

    let mut v01 = good.to_vec();
    v01[64] -= 27;
    let e = refusal(
        env.owner
            .register_enclave(m, key.address(), enc, Bytes::from(v01))
            .await,
    );
    assert!(matches!(e, E::BadSignatureV(_)));

    // The same signature with s replaced by n - s (and v flipped) recovers the same key in
    // plain ecrecover; the manager refuses this malleated form.
    let n = U256::from_str_radix(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
        16,
    )
    .unwrap();
    let s = U256::from_be_slice(&good[32..64]);
    let mut high = good.to_vec();
    high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    high[64] = if good[64] == 27 { 28 } else { 27 };
    let e = refusal(
        env.owner
            .register_enclave(m, key.address(), enc, Bytes::from(high))
            .await,
    );
    assert!(matches!(e, E::HighS(_)));

    // r = 0 recovers no address.
    let mut zero_r = good.to_vec();
    zero_r[..32].fill(0);
    let e = refusal(
        env.owner
            .register_enclave(m, key.address(), enc, Bytes::from(zero_r))
            .await,
    );
    assert!(matches!(e, E::BadSignature(_)));

    // The untouched signature still works.
    env.owner
        .register_enclave(m, key.address(), enc, good)
        .await
        .unwrap();
}

#[tokio::test]
async fn operators_deregister_their_own_enclaves_only() {
    let env = Env::new().await;
    let operator = env.user().await;
    let keys = env.register_as(&operator, 3).await;
    let stranger = env.user().await;
    let target = keys[0].address();
    let e = refusal(
        stranger
            .send(
                &PoseManager::deregisterEnclaveCall { enclave: target },
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::NotOperator(ref x) if x.operator == operator.sender()));

    let r = operator
        .send(
            &PoseManager::deregisterEnclaveCall { enclave: target },
            U256::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        find_event::<PoseManager::EnclaveDeregistered>(&r)
            .unwrap()
            .enclave,
        target
    );
    assert_eq!(
        env.owner
            .read(&PoseManager::activeEnclaveCountCall {})
            .await
            .unwrap(),
        U256::from(2)
    );
    assert!(
        !env.owner
            .read(&PoseManager::enclavesCall(target))
            .await
            .unwrap()
            .active
    );
    // The remaining two are still listed (swap-and-pop kept the list consistent), and their
    // operator still counts once.
    let mut listed = env
        .owner
        .read(&PoseManager::activeEnclavesOfCall {
            operator: operator.sender(),
        })
        .await
        .unwrap();
    listed.sort();
    assert_eq!(
        env.owner
            .read(&PoseManager::activeOperatorCountCall {})
            .await
            .unwrap(),
        U256::from(1)
    );
    let mut expect = vec![keys[1].address(), keys[2].address()];
    expect.sort();
    assert_eq!(listed, expect);

    let e = refusal(
        operator
            .send(
                &PoseManager::deregisterEnclaveCall { enclave: target },
                U256::ZERO,
            )
            .await,
    );
    assert!(matches!(e, E::EnclaveNotActive(_)));
    assert!(
        env.owner
            .read(&PoseManager::enclavesCall(target))
            .await
            .unwrap()
            .deregistered
    );
    // A deregistered enclave cannot come back under the same key.
    let sig = env.attest(env.measurement, target, rb256());
    let e = refusal(
        env.owner
            .register_enclave(env.measurement, target, rb256(), sig)
            .await,
    );
    assert!(matches!(e, E::EnclaveAlreadyRegistered(_)));
}

#[tokio::test]
async fn only_an_active_enclaves_operator_publishes_its_endpoint() {
    let env = Env::new().await;
    let keys = env.register(2).await;
    let (a, b) = (keys[0].address(), keys[1].address());
    let op_a = env.operator_of(a);
    let url = "http://node-a.example:7400";

    let r = op_a.set_endpoint(a, url).await.unwrap();
    let e = find_event::<PoseManager::EndpointSet>(&r).unwrap();
    assert_eq!((e.enclave, e.endpoint.as_str()), (a, url));
    assert_eq!(op_a.endpoint_of(a).await.unwrap(), url);
    let head = op_a.block_number().await.unwrap();
    let published = op_a.endpoints_between(0, head).await.unwrap();
    assert_eq!(published.get(&a).map(String::as_str), Some(url));
    assert!(!published.contains_key(&b));

    // Another operator (here b's) cannot redirect a's traffic; strangers and unregistered
    // enclaves neither.
    let op_b = env.operator_of(b);
    let e = refusal(op_b.set_endpoint(a, "http://evil.example").await);
    assert!(matches!(e, E::NotOperator(_)), "{e:?}");
    let e = refusal(op_a.set_endpoint(raddr(), url).await);
    assert!(matches!(e, E::EnclaveNotActive(_)), "{e:?}");
    let long = format!("http://{}", "a".repeat(250));
    let e = refusal(op_a.set_endpoint(a, &long).await);
    assert!(matches!(e, E::EndpointTooLong(_)), "{e:?}");
    assert_eq!(op_a.endpoint_of(a).await.unwrap(), url, "unchanged");

    // The latest publication wins; a deregistered enclave publishes no more.
    op_a.set_endpoint(a, "http://node-a2.example:7400")
        .await
        .unwrap();
    let head = op_a.block_number().await.unwrap();
    let published = op_a.endpoints_between(0, head).await.unwrap();
    assert_eq!(published[&a], "http://node-a2.example:7400");
    op_a.send(
        &PoseManager::deregisterEnclaveCall { enclave: a },
        U256::ZERO,
    )
    .await
    .unwrap();
    let e = refusal(op_a.set_endpoint(a, url).await);
    assert!(matches!(e, E::EnclaveNotActive(_)), "{e:?}");
}
