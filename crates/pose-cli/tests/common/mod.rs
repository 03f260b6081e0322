//! Helpers of the end-to-end tests: a `pose devnet` child process that is interrupted, then
//! killed, when its guard goes (with every node it started), and readers of `devnet.json`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process that is interrupted, then killed, when the guard goes.
pub struct Guard {
    pub child: Child,
    /// Further process ids to kill (the devnet's nodes) if they outlive it.
    pub also: Vec<u32>,
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

pub fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie's state is `Z`.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.contains(") Z "),
        Err(_) => false,
    }
}

impl Guard {
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(self.child.id(), "-INT");
            if self.wait_exit(Duration::from_secs(20)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for pid in &self.also {
            if alive(*pid) {
                signal(*pid, "-KILL");
            }
        }
    }
}

pub fn wait_for_file(path: &Path, guard: &mut Guard, log: &Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return serde_json::from_str(&text).expect("devnet.json is JSON");
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            panic!(
                "pose devnet exited early ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "devnet not ready in time:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn start_devnet(dir: &Path, nodes: u8) -> (Guard, PathBuf) {
    let log = dir.join("devnet.out");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pose"))
        .args(["devnet", "--nodes", &nodes.to_string(), "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("pose binary starts");
    (
        Guard {
            child,
            also: Vec::new(),
        },
        log,
    )
}

/// Starts `pose devnet` with `nodes` nodes in `dir` and waits for its `devnet.json`; the guard
/// also stops every node the devnet started.
pub fn devnet_up(dir: &Path, nodes: u8) -> (Guard, serde_json::Value) {
    let (mut devnet, log) = start_devnet(dir, nodes);
    let info = wait_for_file(&dir.join("devnet.json"), &mut devnet, &log);
    devnet.also = info["nodes"]
        .as_array()
        .expect("devnet.json lists its nodes")
        .iter()
        .filter_map(|n| n["pid"].as_u64())
        .map(|pid| pid as u32)
        .collect();
    (devnet, info)
}
