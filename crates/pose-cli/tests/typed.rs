//! The CLI speaks the contracts' typed interfaces: `pose interface` prints one from a `.wasm`
//! file or a deployed contract; `pose deploy`, `pose call` and `pose query` take typed
//! arguments checked against it and print results and contract errors as JSON; the output
//! pipe closing early ends a command quietly.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::devnet_up;
use serde_json::{json, Value};

fn token_wasm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/contracts/wasm/token_escrow.wasm")
}

fn pose(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the pose binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The single JSON line a typed command prints.
fn json_line(out: &Output) -> Value {
    let stdout = text(&out.stdout);
    let line = stdout.trim();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON line ({e}):\n{stdout}\nstderr:\n{}",
            text(&out.stderr)
        )
    })
}

#[test]
fn interface_of_a_wasm_file_lists_typed_methods() {
    let wasm = token_wasm();
    let out = pose(&["interface", wasm.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for needle in [
        "call transfer --to <address> --amount <u128> -> unit   [selector 1]",
        "call open_escrow --payee <address> --arbiter <address> --amount <u128> -> u64",
        "query balance --who <address> -> u128",
        "query escrow --id <u64> -> Escrow { payer: address, payee: address, arbiter: address, amount: u128, open: bool }",
        "    Moves `amount` of the caller's balance to `to`.",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    let out = pose(&["interface", "--json", wasm.to_str().unwrap()]);
    let itf = json_line(&out);
    assert_eq!(itf["pose_interface"], json!(1));
    assert_eq!(itf["methods"][0]["name"], json!("transfer"));

    let out = pose(&["interface", "Cargo.toml"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a WebAssembly module"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    // The reader is gone before pose writes: every write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let wasm = token_wasm();
    let out = Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(["interface", wasm.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}, stderr:\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `| head -c1` on a real pipe: head reads one byte and exits; pose must exit 0 too.
fn through_head(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let head = Command::new("head")
        .arg("-c1")
        .stdin(child.stdout.take().unwrap())
        .output()
        .unwrap();
    assert_eq!(head.stdout.len(), 1);
    let out = child.wait_with_output().unwrap();
    (out.status, text(&out.stderr))
}

#[test]
fn typed_calls_queries_and_errors_through_a_devnet() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, info) = devnet_up(dir.path(), 3);
    let network = dir.path().join("devnet.json");
    let net = network.to_str().unwrap();
    let wasm = token_wasm();
    let user = pose_chain::parse_private_key(info["user_key"].as_str().unwrap())
        .unwrap()
        .address();
    let me = format!("{user:#x}");
    let bob = format!("0x{}", "b0".repeat(20));

    let out = pose(&["deploy", "--network", net, wasm.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "deploy: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let cid = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("contract ")?
                .strip_suffix(" is live; pool (executor first):")
        })
        .unwrap_or_else(|| panic!("no contract id in:\n{stdout}"))
        .to_owned();
    let cid = cid.as_str();
    let out = pose(&["deposit", "--network", net, cid, "1000"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The interface of the deployed contract, through its kept code and on-chain code hash.
    let out = pose(&["interface", "--network", net, cid]);
    assert!(text(&out.stdout).contains("query balance --who <address> -> u128"));

    // A typed call, then typed queries; the deposit is credited once its block is confirmed.
    let call = |args: &[&str]| {
        let mut v = vec!["call", "--network", net, cid];
        v.extend_from_slice(args);
        pose(&v)
    };
    let query = |args: &[&str]| {
        let mut v = vec!["query", "--network", net, cid];
        v.extend_from_slice(args);
        pose(&v)
    };
    let mut balance = Value::Null;
    for _ in 0..60 {
        balance = json_line(&query(&["balance", "--who", &me]))["result"].clone();
        if balance == json!("1000") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(balance, json!("1000"), "the deposit is credited");
    let out = call(&["transfer", "--to", &bob, "--amount", "250"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer = json_line(&out);
    assert_eq!(answer["method"], json!("transfer"));
    assert_eq!(answer["result"], Value::Null);
    assert!(answer["receipt"]["seq"].as_u64().is_some(), "{answer}");
    let out = query(&["balance", "--who", &bob]);
    assert_eq!(json_line(&out)["result"], json!("250"));
    let out = call(&[
        "open_escrow",
        "--payee",
        &bob,
        "--arbiter",
        &me,
        "--amount",
        "100",
    ]);
    assert_eq!(json_line(&out)["result"], json!(0));
    let out = query(&["escrow", "--id", "0"]);
    assert_eq!(
        json_line(&out)["result"],
        json!({"payer": me, "payee": bob, "arbiter": me, "amount": "100", "open": true})
    );

    // A contract error: JSON on stdout, exit status 1, the state unchanged.
    let out = call(&["transfer", "--to", &bob, "--amount", "100000"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let answer = json_line(&out);
    assert_eq!(answer["method"], json!("transfer"));
    assert_eq!(answer["error"]["kind"], json!("aborted"), "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("holds less than 100000 wei"),
        "{answer}"
    );
    let out = query(&["escrow", "--id", "9"]);
    assert_eq!(json_line(&out)["error"]["message"], json!("no escrow 9"));
    assert_eq!(
        json_line(&query(&["balance", "--who", &me]))["result"],
        json!("650")
    );

    // Arguments are type-checked before anything is sent.
    let out = call(&["transfer", "--to", "0x12", "--amount", "1"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("to: 1 bytes given, 20 expected"),
        "{}",
        text(&out.stderr)
    );
    let out = call(&["transfer", "--to", &bob]);
    assert!(
        text(&out.stderr).contains("needs --amount (u128)"),
        "{}",
        text(&out.stderr)
    );
    let out = call(&["balance", "--who", &bob]);
    assert!(
        text(&out.stderr).contains("no call method \"balance\""),
        "{}",
        text(&out.stderr)
    );

    // Raw hex stays available: the same query by its bytes.
    let raw = format!("0x01{}", &bob[2..]);
    let out = query(&[&raw]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("output: 0x{}", hex::encode(250u128.to_le_bytes()))),
        "{stdout}"
    );

    // Typed init arguments follow the file after `--`; missing ones are refused up front.
    let auction = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/contracts/wasm/sealed_bid_auction.wasm");
    let auction = auction.to_str().unwrap();
    let out = pose(&["deploy", "--network", net, auction]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("init method init takes arguments"),
        "{}",
        text(&out.stderr)
    );
    let out = pose(&[
        "deploy",
        "--network",
        net,
        auction,
        "--",
        "--seller",
        &bob,
        "--reserve",
        "10",
        "--end_time",
        "4000000000",
    ]);
    let stdout = ok_stdout(&out);
    let auction_cid = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("contract ")?
                .strip_suffix(" is live; pool (executor first):")
        })
        .unwrap_or_else(|| panic!("no contract id in:\n{stdout}"))
        .to_owned();
    let out = pose(&["query", "--network", net, &auction_cid, "status"]);
    assert_eq!(
        text(&out.stdout).split(",\"receipt\"").next().unwrap(),
        format!(
            r#"{{"method":"status","result":{{"closed":false,"bids":0,"winner":"0x{}","price":"0"}}"#,
            "00".repeat(20)
        ),
        "struct fields in declaration order"
    );

    // `pose query ... | head -c1` exits 0 without a panic.
    let (status, stderr) =
        through_head(&["query", "--network", net, cid, "balance", "--who", &bob]);
    assert!(status.success(), "exit {status:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
