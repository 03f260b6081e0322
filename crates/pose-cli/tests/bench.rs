//! `pose bench gas` and `pose bench onchain` on a real anvil with a small setting: the JSON has
//! every operation, each with gas > 0, and the plots and markdown are written; the scenarios
//! that need the devnet refuse with a message.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str], dir: &Path) -> Value {
    let json = dir.join("out.json");
    let out = Command::new(env!("CARGO_BIN_EXE_pose"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--out-dir")
        .arg(dir)
        .output()
        .expect("the pose binary runs");
    assert!(
        out.status.success(),
        "pose bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("the JSON report is written");
    serde_json::from_str(&text).expect("the report is JSON")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pose-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn gas_reports_every_operation_with_gas() {
    let dir = temp_dir("gas");
    let v = bench(&["gas", "--pool-sizes", "3,4"], &dir);
    assert_eq!(v["scenario"], "gas");
    assert!(v["machine"]["cpus"].as_u64().unwrap() > 0, "{v}");
    let ops = v["operations"].as_array().expect("operations");
    for (key, _) in pose_chain::gas::OPERATIONS {
        for size in [3u64, 4] {
            let op = ops
                .iter()
                .find(|o| o["operation"] == key && o["pool_size"] == size)
                .unwrap_or_else(|| panic!("{key} for pool size {size} is missing: {v}"));
            assert!(op["gas"].as_u64().unwrap() > 0, "{op}");
        }
    }
    // Creation draws one member per seat: a larger pool costs more.
    let gas = |size: u64| {
        ops.iter()
            .find(|o| o["operation"] == "createContract" && o["pool_size"] == size)
            .unwrap()["gas"]
            .as_u64()
            .unwrap()
    };
    assert!(gas(4) > gas(3), "{v}");
    for f in ["gas-per-operation.svg", "gas-vs-pool-size.svg"] {
        let svg = std::fs::read_to_string(dir.join(f)).expect("plot written");
        assert!(
            svg.contains("<svg") && svg.contains("createContract"),
            "{f}"
        );
    }
    let md = std::fs::read_to_string(dir.join("gas.md")).unwrap();
    assert!(md.contains("| `createContract` |"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn onchain_reports_every_baseline_operation_with_gas() {
    let dir = temp_dir("onchain");
    let v = bench(&["onchain", "--users", "2"], &dir);
    assert_eq!(v["scenario"], "onchain");
    let ops = v["operations"].as_array().expect("operations");
    for (contract, op) in [
        ("token", "transfer"),
        ("token", "deposit"),
        ("token", "withdraw"),
        ("auction", "bid"),
        ("auction", "close"),
        ("auction", "payout"),
    ] {
        let o = ops
            .iter()
            .find(|o| o["contract"] == contract && o["operation"] == op)
            .unwrap_or_else(|| panic!("{contract} {op} is missing: {v}"));
        assert!(o["gas"].as_u64().unwrap() > 0, "{o}");
        assert!(o["calls"].as_u64().unwrap() > 0, "{o}");
    }
    // Calls that run in the pool cost pose no gas; coins moving in and out do.
    let pose = |op: &str| {
        ops.iter().find(|o| o["operation"] == op).unwrap()["pose_gas"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(pose("transfer"), 0);
    assert_eq!(pose("bid"), 0);
    assert!(pose("deposit") > 0);
    for o in v["pose_one_time"].as_array().unwrap() {
        assert!(o["gas"].as_u64().unwrap() > 0, "{o}");
    }
    assert!(dir.join("onchain-gas.svg").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn network_scenarios_refuse_with_a_message() {
    for s in ["latency", "fl", "failover"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pose"))
            .args(["bench", s])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{s}");
        assert!(err.contains("pose devnet"), "{s}: {err}");
        assert!(!err.contains("panicked"), "{s}: {err}");
    }
}
