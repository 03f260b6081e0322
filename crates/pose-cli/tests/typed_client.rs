//! Typed Rust bindings (`pose_client_macros::contract_client!` over the token's `.wasm`) call
//! and query a contract on a devnet through `PoseClient`: `token.transfer(bob, 250).await`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::devnet_up;
use pose_chain::{from_address, parse_private_key, ChainConfig, ManagerClient, PoseManager};
use pose_client::typed::{Address, TypedError};
use pose_client::PoseClient;

pose_client_macros::contract_client!(Token, "../../examples/contracts/wasm/token_escrow.wasm");
pose_client_macros::contract_client!(
    Auction,
    "../../examples/contracts/wasm/sealed_bid_auction.wasm"
);

fn addr(v: &serde_json::Value) -> Address {
    let a: pose_chain::alloy::primitives::Address = v.as_str().unwrap().parse().unwrap();
    from_address(a)
}

#[test]
fn typed_bindings_call_and_query_through_pose_client() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, info) = devnet_up(dir.path(), 3);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let signer = parse_private_key(info["user_key"].as_str().unwrap()).unwrap();
        let user = pose_crypto::SigningKey::from_bytes(&signer.to_bytes().0).unwrap();
        let manager = info["manager"].as_str().unwrap().parse().unwrap();
        let chain = ManagerClient::connect(
            ChainConfig::new(info["rpc_url"].as_str().unwrap()),
            signer,
            manager,
        )
        .await
        .unwrap();
        let nodes: BTreeMap<Address, String> = info["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (addr(&n["enclave"]), n["url"].as_str().unwrap().to_owned()))
            .collect();
        let client = PoseClient::new(
            chain,
            user,
            nodes,
            addr(&info["vendor"]),
            vec![pose_node::enclave_core::program_measurement()],
        );
        let params = PoseManager::Params {
            poolSize: 3,
            responsePeriodSecs: 30,
            memberResponsePeriodSecs: 30,
            confirmations: 1,
        };
        let code = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/contracts/wasm/token_escrow.wasm"
        ))
        .unwrap();
        let cid = client.deploy(&code, &[], params.clone()).await.unwrap();

        // Bindings refuse a contract that runs other code.
        match Auction::at(&client, cid).await {
            Err(TypedError::OtherCode { .. }) => {}
            other => panic!("auction bindings accepted the token: {:?}", other.err()),
        }
        let token = Token::at(&client, cid).await.unwrap();
        let me = client.address();
        let bob = Address([0xb0; 20]);
        client.deposit(cid, 1_000).await.unwrap();
        let mut credited = false;
        for _ in 0..60 {
            if token.balance(me).await.unwrap() == 1_000 {
                credited = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(credited, "the deposit was never credited");

        token.transfer(bob, 250).await.unwrap();
        assert_eq!(token.balance(bob).await.unwrap(), 250);
        let id: u64 = token.open_escrow(bob, me, 100).await.unwrap();
        assert_eq!(id, 0);
        let e: token_types::Escrow = token.escrow(id).await.unwrap();
        assert_eq!(
            e,
            token_types::Escrow {
                payer: me,
                payee: bob,
                arbiter: me,
                amount: 100,
                open: true
            }
        );
        token.release(id).await.unwrap();
        assert_eq!(token.balance(bob).await.unwrap(), 350);

        // The contract's refusal is a typed error; the state is unchanged.
        match token.transfer(bob, 1_000_000).await {
            Err(TypedError::Contract {
                method,
                kind,
                message,
            }) => {
                assert_eq!((method, kind), ("transfer", "aborted"));
                assert!(message.contains("holds less than 1000000 wei"), "{message}");
            }
            other => panic!("expected a contract error, got {other:?}"),
        }
        match token.escrow(9).await {
            Err(TypedError::Contract { message, .. }) => assert_eq!(message, "no escrow 9"),
            other => panic!("expected a contract error, got {other:?}"),
        }
        assert_eq!(token.balance(me).await.unwrap(), 650);

        // init arguments are typed too.
        assert_eq!(
            Auction::init_input(bob, 10, 2_000),
            [&bob.0[..], &10u128.to_le_bytes(), &2_000u64.to_le_bytes()].concat()
        );
    });
}
