//! `pose new` (a contract crate from a template) and `pose build` (its reproducible wasm32
//! build).
//!
//! The template is a `no_std` cdylib on `pose-contract-sdk` with typed methods (`contract!`),
//! its own `[workspace]` (so it builds anywhere, also inside a pose checkout), the release
//! profile of the example contracts, and a test that runs the built module in `pose-runtime`.
//! The SDK and the runtime are path dependencies on the pose sources this binary was built
//! from (`--pose` names another checkout).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use clap::Args;

/// Options of `pose new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// The contract's name (a crate name: letters, digits, `-`, `_`).
    name: String,
    /// Where to create the crate directory `<name>` (default: the current directory).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The pose checkout whose SDK and runtime the crate uses (default: the one this binary was
    /// built from).
    #[arg(long)]
    pose: Option<PathBuf>,
}

/// Options of `pose build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The contract crate (a directory with Cargo.toml; default: the current directory).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

/// The pose checkout this binary was built from.
fn built_from() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64
}

/// Creates the crate.
pub fn new(a: NewArgs) -> anyhow::Result<()> {
    if !valid_name(&a.name) {
        bail!(
            "{:?} is not a crate name: start with a letter, then letters, digits, - or _",
            a.name
        );
    }
    let pose = a.pose.unwrap_or_else(built_from);
    let pose = pose
        .canonicalize()
        .with_context(|| format!("the pose checkout {} does not exist", pose.display()))?;
    let sdk = pose.join("crates/pose-contract-sdk");
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "{} has no crates/pose-contract-sdk; give a pose checkout with --pose",
            pose.display()
        );
    }
    let root = a.dir.join(&a.name);
    if root.exists() {
        bail!(
            "{} exists already; choose another name or --dir",
            root.display()
        );
    }
    let lib = a.name.replace('-', "_");
    let files = [
        ("Cargo.toml", cargo_toml(&a.name, &pose)),
        ("src/lib.rs", LIB_RS.replace("{name}", &a.name)),
        (
            "tests/runtime.rs",
            TEST_RS.replace("{lib}", &lib).replace("{name}", &a.name),
        ),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (path, text) in files {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    out!("created contract crate {}", root.display());
    out!(
        "  pose build {}            # builds {lib}.wasm",
        root.display()
    );
    out!(
        "  (cd {} && cargo test)   # runs it in pose-runtime (after pose build)",
        root.display()
    );
    out!("  pose interface {}/{lib}.wasm", root.display());
    Ok(())
}

fn cargo_toml(name: &str, pose: &Path) -> String {
    let p = pose.display();
    format!(
        r#"[package]
name = "{name}"
description = "A pose contract."
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
pose-contract-sdk = {{ path = "{p}/crates/pose-contract-sdk" }}

[dev-dependencies]
pose-runtime = {{ path = "{p}/crates/pose-runtime" }}
pose-types = {{ path = "{p}/crates/pose-types" }}

# A crate of its own, also when it sits inside another workspace.
[workspace]

# As the example contracts: small, deterministic, no unwinding.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true
debug = false
incremental = false
"#
    )
}

const LIB_RS: &str = r#"//! {name}: a pose contract. A counter that anyone increments.
//!
//! Build it with `pose build`; `pose interface {name}.wasm` lists its methods. The contract
//! exists for wasm32 only: on the host (`cargo test`) this library is empty, and the tests run
//! the built module in pose-runtime.

#![cfg(target_arch = "wasm32")]
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use pose_contract_sdk::{contract, ensure, env, Error, Item};

const COUNTER: Item<u64> = Item::new(b"counter");

contract! {
    /// Adds `by` (at least 1) to the counter; returns the new value.
    call(1) fn increment(by: u64) -> Result<u64, Error> {
        ensure!(by > 0, "increment by at least 1");
        let Some(n) = COUNTER.get_or(0).checked_add(by) else {
            pose_contract_sdk::fail!("the counter would overflow")
        };
        COUNTER.set(&n);
        env::emit(b"incremented");
        Ok(n)
    }

    /// The counter.
    query(1) fn counter() -> Result<u64, Error> {
        Ok(COUNTER.get_or(0))
    }
}
"#;

const TEST_RS: &str = r#"//! Runs the built contract ({lib}.wasm, written by `pose build`) in pose-runtime, the engine
//! the enclaves use.

use pose_runtime::{CallEnv, ContractEngine, ContractState, Entry, RuntimeError, WasmtimeEngine};
use pose_types::Address;

fn code() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/{lib}.wasm");
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}; run `pose build` first"))
}

fn env(seq: u64) -> CallEnv {
    CallEnv {
        caller: Address([1; 20]),
        block_number: seq,
        block_time_secs: 1_000 + seq,
        random: [0; 32],
        fuel_limit: 10_000_000,
        output_bytes_max: None,
    }
}

#[test]
fn increments_and_refuses_zero() {
    let mut engine = WasmtimeEngine::new().unwrap();
    let hash = engine.load(&code()).unwrap();
    let mut state = ContractState::default();
    // `increment --by 5`: selector 1, then the u64 little-endian.
    let input = [&[1u8][..], &5u64.to_le_bytes()].concat();
    let out = engine
        .execute(&hash, Entry::Call, &mut state, &env(1), &input)
        .unwrap();
    assert_eq!(out.output, 5u64.to_le_bytes());
    let out = engine
        .execute(&hash, Entry::Query, &mut state, &env(2), &[1])
        .unwrap();
    assert_eq!(out.output, 5u64.to_le_bytes());
    let zero = [&[1u8][..], &0u64.to_le_bytes()].concat();
    match engine.execute(&hash, Entry::Call, &mut state, &env(3), &zero) {
        Err(RuntimeError::Trap(m)) => assert!(m.contains("at least 1"), "{m}"),
        other => panic!("expected an abort, got {other:?}"),
    }
}
"#;

/// Builds the crate for wasm32-unknown-unknown and writes `<crate>/<lib>.wasm`.
pub fn build(a: BuildArgs) -> anyhow::Result<()> {
    let dir = a
        .dir
        .canonicalize()
        .with_context(|| format!("the crate directory {} does not exist", a.dir.display()))?;
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {} (is this a contract crate?)", manifest.display()))?;
    let name = text
        .lines()
        .find_map(|l| {
            let v = l
                .trim()
                .strip_prefix("name")?
                .trim_start()
                .strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
        .context("Cargo.toml names no package")?;
    let lib = name.replace('-', "_");
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "wasm32-unknown-unknown")
        })
        .unwrap_or(true);
    if !installed {
        bail!("the Rust target wasm32-unknown-unknown is missing; run `rustup target add wasm32-unknown-unknown`");
    }
    // Reproducible: fixed flags, and no path of this machine in the module (paths remapped).
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo"));
    let rustup_home = std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{home}/.rustup"));
    let pose = built_from().canonicalize().unwrap_or_else(|_| built_from());
    let rustflags = format!(
        "-C target-feature=+simd128 --remap-path-prefix={}=/contract --remap-path-prefix={}=/pose \
         --remap-path-prefix={cargo_home}=/cargo --remap-path-prefix={rustup_home}=/rustup",
        dir.display(),
        pose.display()
    );
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
        "--manifest-path",
    ])
    .arg(&manifest)
    .env("RUSTFLAGS", rustflags)
    .env("CARGO_TARGET_DIR", dir.join("target"))
    .env_remove("CARGO_ENCODED_RUSTFLAGS")
    .env_remove("CARGO_BUILD_RUSTFLAGS");
    if dir.join("Cargo.lock").is_file() {
        cmd.arg("--locked");
    }
    eprintln!("building {name} for wasm32-unknown-unknown (release) ...");
    let status = cmd.status().context("running cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status}); see its messages above");
    }
    let built = dir
        .join("target/wasm32-unknown-unknown/release")
        .join(format!("{lib}.wasm"));
    let code = std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    let out_path = dir.join(format!("{lib}.wasm"));
    std::fs::write(&out_path, &code).with_context(|| format!("writing {}", out_path.display()))?;
    let methods = match pose_client::interface::Interface::from_wasm(&code) {
        Ok(i) => format!("{} typed methods", i.methods.len()),
        Err(e) => format!("no typed interface: {e}"),
    };
    out!(
        "built {} ({} bytes, code hash 0x{}; {methods})",
        out_path.display(),
        code.len(),
        hex::encode(pose_crypto::sha256(&code).0)
    );
    Ok(())
}
