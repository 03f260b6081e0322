//! Payouts follow checks-effects-interactions: a recipient that calls the manager again while
//! it is being paid gets nothing more. Uses the test helper `contracts/test/ReentrantRecipient.sol`.

mod common;

use alloy::primitives::{Bytes, U256};
use alloy::sol_types::{SolCall, SolError};
use common::*;
use pose_chain::PoseManager;

#[allow(missing_docs)]
mod helper {
    alloy::sol!(
        #[sol(rpc)]
        ReentrantRecipient,
        "../../contracts/out/ReentrantRecipient.json"
    );
}
use helper::ReentrantRecipient;

#[tokio::test]
async fn a_withdrawal_recipient_cannot_reenter_with_the_same_nonce() {
    let env = Env::new().await;
    let keys = env.register(2).await;
    let (cid, pool) = env.live_contract(&keys, params(2)).await;
    let user = env.user().await;
    user.deposit(cid, U256::from(3 * ONE_ETH)).await.unwrap();

    let helper = ReentrantRecipient::deploy(user.provider().clone(), env.manager())
        .await
        .unwrap();
    let tx = env.owner.tx_hash_of(cid).await.unwrap();
    let amount = U256::from(ONE_ETH);
    let d = digest::withdraw(
        env.chain_id,
        env.manager(),
        cid.0,
        0,
        *helper.address(),
        amount,
        1,
        tx,
    );
    let call = PoseManager::withdrawCall {
        cid: cid.0,
        recipient: *helper.address(),
        amount,
        nonce: 1,
        txHash: tx,
        sig: sign(&pool[0], d),
    };
    helper
        .setReentryCall(Bytes::from(call.abi_encode()))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();

    env.owner.send(&call, U256::ZERO).await.unwrap();
    assert!(helper.attempted().call().await.unwrap());
    assert!(
        !helper.reentered().call().await.unwrap(),
        "the inner withdrawal was refused"
    );
    let inner = helper.reentryResult().call().await.unwrap();
    assert_eq!(&inner[..4], &PoseManager::NonceUsed::SELECTOR[..]);
    assert_eq!(
        user.balance_of(*helper.address()).await.unwrap(),
        amount,
        "paid once"
    );
    assert_eq!(
        env.owner.contract(cid).await.unwrap().balance,
        U256::from(2 * ONE_ETH)
    );
}

#[tokio::test]
async fn a_claimant_cannot_reenter_claim() {
    let env = Env::new().await;
    let keys = env.register(1).await;
    let (cid, pool) = env.live_contract(&keys, params(1)).await;
    let user = env.user().await;
    user.deposit(cid, U256::from(2 * ONE_ETH)).await.unwrap();
    let helper = ReentrantRecipient::deploy(user.provider().clone(), env.manager())
        .await
        .unwrap();

    // Terminate with the helper owed 1 ETH (the other 1 ETH goes to the creator).
    let tx = env.owner.tx_hash_of(cid).await.unwrap();
    let (recipients, amounts) = (vec![*helper.address()], vec![U256::from(ONE_ETH)]);
    let d = digest::terminate_payouts(
        env.chain_id,
        env.manager(),
        cid.0,
        0,
        &recipients,
        &amounts,
        tx,
    );
    let call = PoseManager::terminateCall {
        cid: cid.0,
        recipients,
        amounts,
        txHash: tx,
        sig: sign(&pool[0], d),
    };
    env.owner.send(&call, U256::ZERO).await.unwrap();

    let claim = Bytes::from(PoseManager::claimCall {}.abi_encode());
    helper
        .setReentryCall(claim.clone())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    helper
        .callManager(claim)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(helper.attempted().call().await.unwrap());
    assert!(!helper.reentered().call().await.unwrap());
    let inner = helper.reentryResult().call().await.unwrap();
    assert_eq!(&inner[..4], &PoseManager::NothingToClaim::SELECTOR[..]);
    assert_eq!(
        user.balance_of(*helper.address()).await.unwrap(),
        U256::from(ONE_ETH)
    );
    assert_eq!(
        env.owner
            .read(&PoseManager::claimableCall(*helper.address()))
            .await
            .unwrap(),
        U256::ZERO
    );
}
