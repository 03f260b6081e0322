//! `pose bench gas` and `pose bench onchain` on a real anvil with a small setting: the JSON has
//! every operation, each with gas > 0, and the plots and markdown are written; `pose bench
//! latency` and `pose bench failover` on the smallest devnet they need, with sane values; the
//! node-network scenarios refuse bad input with a message before they start anything.

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
fn latency_on_a_one_member_pool_reports_positive_latencies() {
    let dir = temp_dir("latency");
    let v = bench(
        &[
            "latency",
            "--pool-sizes",
            "1",
            "--calls",
            "5",
            "--sdk-calls",
            "2",
            "--concurrency",
            "4",
            "--throughput-calls",
            "16",
            "--fl-params",
            "10",
        ],
        &dir,
    );
    assert_eq!(v["scenario"], "latency");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "token and fl: {v}");
    for r in rows {
        assert_eq!(r["pool_size"], 1, "{r}");
        let l = &r["latency"];
        assert_eq!(l["n"], 5, "{r}");
        let p50 = l["p50_ms"].as_f64().unwrap();
        assert!(p50 > 0.0, "{r}");
        assert!(l["p99_ms"].as_f64().unwrap() >= p50, "{r}");
        assert!(l["min_ms"].as_f64().unwrap() <= p50, "{r}");
        assert!(r["sdk_latency"]["p50_ms"].as_f64().unwrap() > 0.0, "{r}");
        let t = &r["throughput"];
        assert_eq!(t["calls"], 16, "{r}");
        assert!(t["calls_per_sec"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert_eq!(v["fan_out"].as_array().unwrap().len(), 2, "{v}");
    for f in [
        "latency-vs-pool-size.svg",
        "throughput-vs-pool-size.svg",
        "latency.md",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failover_phases_sum_to_the_total() {
    let dir = temp_dir("failover");
    let v = bench(
        &[
            "failover",
            "--runs",
            "1",
            "--response-secs",
            "25",
            "--member-response-secs",
            "2",
            "--challenge-after-secs",
            "1",
        ],
        &dir,
    );
    assert_eq!(v["scenario"], "failover");
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{v}");
    let r = &runs[0];
    assert_ne!(r["killed_executor"], r["new_executor"], "{r}");
    let phases = r["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 7, "{r}");
    let sum: f64 = phases.iter().map(|p| p["secs"].as_f64().unwrap()).sum();
    assert!(
        phases.iter().all(|p| p["secs"].as_f64().unwrap() >= 0.0),
        "{r}"
    );
    let total = r["total_secs"].as_f64().unwrap();
    assert!(
        (sum - total).abs() < 0.01,
        "phases sum to {sum}, total {total}: {r}"
    );
    // At least the response period passes between the challenge and the executor change.
    assert!(phases[2]["secs"].as_f64().unwrap() > 1.0, "{r}");
    assert!(total > 25.0, "{r}");
    assert!(dir.join("failover-phases.svg").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn network_scenarios_refuse_bad_input_with_a_message() {
    for args in [
        &["latency", "--pool-sizes", "40"][..],
        &["latency", "--pool-sizes", "0"][..],
        &["failover", "--runs", "3", "--pool-size", "3"][..],
        &["fl", "--participants", "0"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pose"))
            .arg("bench")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            err.contains("Error") || err.contains("error"),
            "{args:?}: {err}"
        );
    }
}
