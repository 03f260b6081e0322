//! `pose demo` runs to the end and shows each refusal it promises.

use std::process::Command;

#[test]
fn demo_runs_and_shows_the_refusals() {
    let out = Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(["demo", "--enclaves", "2"])
        .output()
        .expect("the pose binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pose demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("attested and verified").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("another chain is refused"), "{stdout}");
    assert!(stdout.contains("(rollback)"), "{stdout}");
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
        .args(["demo", "--enclaves", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--enclaves"));
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
