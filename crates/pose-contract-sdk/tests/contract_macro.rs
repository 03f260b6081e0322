//! `contract!` on the host: the generated dispatch decodes typed arguments, encodes results,
//! refuses unknown selectors and trailing input, and the embedded interface names everything.
#![allow(missing_docs)]

use pose_contract_sdk::{contract, ensure, value_struct, Address, Error, Rest, Value};

value_struct! {
    /// Two values under names.
    #[derive(Debug, PartialEq)]
    pub struct Pair {
        /// An address.
        pub who: Address,
        /// An amount.
        pub amount: u128,
    }
}

contract! {
    /// Checks the start value.
    init fn setup(start: u64) -> Result<(), Error> {
        ensure!(start < 100, "start must be below 100");
        Ok(())
    }

    /// Pairs `who` with `amount`.
    /// Second line.
    call(1) fn pair(who: Address, amount: u128) -> Result<Pair, Error> {
        Ok(Pair { who, amount })
    }

    call(7) fn sum(scale: f32, values: Rest<f32>) -> Result<f32, Error> {
        let mut total = 0.0;
        for c in values.encoded().chunks_exact(4) {
            total += f32::from_bytes(c)?;
        }
        Ok(total * scale)
    }

    query(1) fn echo(flag: bool) -> Result<bool, Error> {
        Ok(flag)
    }

    query(2) fn maybe(give: bool) -> Result<Option<u64>, Error> {
        Ok(give.then_some(9))
    }
}

#[test]
fn dispatch_decodes_arguments_and_encodes_results() {
    let who = Address([7; 20]);
    let mut input = vec![1u8];
    input.extend_from_slice(&who.0);
    input.extend_from_slice(&5u128.to_le_bytes());
    let out = __pose_dispatch_call(&input).unwrap();
    assert_eq!(
        Pair::from_bytes(&out).unwrap(),
        Pair { who, amount: 5 },
        "the result is the struct's fields one after the other"
    );
    assert_eq!(out, [&who.0[..], &5u128.to_le_bytes()].concat());

    let mut input = vec![7u8];
    for x in [2.0f32, 1.0, 0.5] {
        input.extend_from_slice(&x.to_le_bytes());
    }
    // scale 2 times (1 + 0.5).
    assert_eq!(__pose_dispatch_call(&input).unwrap(), 3.0f32.to_le_bytes());
    input.push(0);
    let err = __pose_dispatch_call(&input).unwrap_err();
    assert!(err.message().contains("whole number"), "{err}");

    assert_eq!(__pose_dispatch_query(&[1, 1]).unwrap(), [1]);
    // An Option result: the value, or no bytes at all.
    assert_eq!(__pose_dispatch_query(&[2, 1]).unwrap(), 9u64.to_le_bytes());
    assert_eq!(__pose_dispatch_query(&[2, 0]).unwrap(), b"");
    assert_eq!(Option::<u64>::from_bytes(&[]).unwrap(), None);
    assert_eq!(
        Option::<u64>::from_bytes(&9u64.to_le_bytes()).unwrap(),
        Some(9)
    );
    assert_eq!(__pose_dispatch_init(&3u64.to_le_bytes()).unwrap(), b"");
    assert_eq!(
        __pose_dispatch_init(&300u64.to_le_bytes())
            .unwrap_err()
            .message(),
        "start must be below 100"
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    assert_eq!(
        __pose_dispatch_call(&[9]).unwrap_err().message(),
        "unknown operation 9"
    );
    assert_eq!(
        __pose_dispatch_query(&[3]).unwrap_err().message(),
        "unknown query 3"
    );
    // Query selectors are numbered apart from call selectors: query 1 takes a bool.
    assert!(__pose_dispatch_query(&[1, 2]).is_err(), "2 is no bool");
    assert!(__pose_dispatch_query(&[1, 1, 0])
        .unwrap_err()
        .message()
        .contains("trailing"));
    assert!(__pose_dispatch_call(&[])
        .unwrap_err()
        .message()
        .contains("too short"));
    assert!(__pose_dispatch_call(&[1, 0])
        .unwrap_err()
        .message()
        .contains("too short"));
    assert!(__pose_dispatch_init(&[1, 2])
        .unwrap_err()
        .message()
        .contains("too short"));
}

#[test]
fn the_interface_names_methods_arguments_and_results() {
    let json = std::str::from_utf8(&__POSE_INTERFACE_JSON).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"pose_interface":1,"methods":["#,
            r#"{"name":"setup","kind":"init","doc":"Checks the start value.","#,
            r#""args":[{"name":"start","type":"u64"}],"result":"unit"},"#,
            r#"{"name":"pair","kind":"call","selector":1,"doc":"Pairs `who` with `amount`.\nSecond line.","#,
            r#""args":[{"name":"who","type":"address"},{"name":"amount","type":"u128"}],"#,
            r#""result":{"struct":"Pair","fields":[{"name":"who","type":"address"},{"name":"amount","type":"u128"}]}},"#,
            r#"{"name":"sum","kind":"call","selector":7,"doc":"","#,
            r#""args":[{"name":"scale","type":"f32"},{"name":"values","type":{"rest":"f32"}}],"result":"f32"},"#,
            r#"{"name":"echo","kind":"query","selector":1,"doc":"","#,
            r#""args":[{"name":"flag","type":"bool"}],"result":"bool"},"#,
            r#"{"name":"maybe","kind":"query","selector":2,"doc":"","#,
            r#""args":[{"name":"give","type":"bool"}],"result":{"optional":"u64"}}]}"#
        )
    );
}
