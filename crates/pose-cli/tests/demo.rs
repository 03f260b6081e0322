//! `pose demo` (README's run command) runs to the end; the CLI explains itself and refuses
//! bad arguments with a message.

use std::process::Command;

/// README's run command: the demo brings up a devnet, runs federated learning through it,
/// survives the executor's death, stops everything it started and exits 0.
#[test]
fn demo_runs_federated_learning_through_a_devnet_and_survives_the_executor() {
    let out = Command::new(env!("CARGO_BIN_EXE_pose"))
        .arg("demo")
        .output()
        .expect("the pose binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pose demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "every member accepted it",
        "participant 2 submitted",
        "global model of round 1: [0.0, 2.3333335,",
        "was paid 100000000000000000 wei on-chain",
        "killed node process",
        "answered under a new executor: epoch 1",
        "survived the executor's death",
        // Every method goes through the typed interface; results and errors are JSON.
        "$ pose deploy federated_learning.wasm -- --params 8",
        r#"{"method":"model","result":{"round":1,"model":[0.0,2.3333335,"#,
        r#"{"method":"new_round","error":{"kind":"aborted","message":"only the coordinator starts a new round"}}"#,
        r#"{"method":"reward","result":"100000000000000000"}"#,
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    // Every node the demo started is gone: their API ports refuse connections.
    let urls: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("node "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(urls.len(), 3, "{stdout}");
    for url in urls {
        let addr = url.trim_start_matches("http://");
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "node {url} outlived the demo"
        );
    }
}

#[test]
fn help_explains_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_pose"))
        .arg("--help")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("demo"), "{stdout}");
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(["demo", "--nodes", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nodes"));
}

#[test]
fn sim_runs_seeds_and_replays_one_deterministically() {
    let out = Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(["sim", "--seeds", "3", "--start", "100"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok: 3 seeds"), "{stdout}");
    let out = Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(["sim", "--seed", "100", "--check-determinism"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("deterministic: event hash"), "{stdout}");
    let out = Command::new(env!("CARGO_BIN_EXE_pose"))
        .arg("sim")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(64),
        "no seeds given is a usage error"
    );
}
