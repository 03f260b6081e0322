//! Signatures made by `SigningKey::sign_digest` are accepted by the EVM's `ecrecover` (the
//! precompile at address 1 that Solidity's `ecrecover` calls), run on a real anvil node.
//!
//! Tools: `$ANVIL` and `$CAST`, defaulting to `<repo root>/node_modules/.bin/{anvil,cast}`
//! (`scripts/setup` installs them).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pose_crypto::SigningKey;
use pose_types::Hash32;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn tool(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../node_modules/.bin")
            .join(name)
    })
}

/// Stops the anvil process by its PID when the test ends, passed or failed.
struct Anvil {
    child: Child,
    url: String,
}

impl Anvil {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port();
        let anvil = tool("ANVIL", "anvil");
        let child = Command::new(&anvil)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--silent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {} (run scripts/setup): {e}", anvil.display())
            });
        let node = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "anvil did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls the ecrecover precompile with `digest || v || r || s` and returns the address.
fn ecrecover(node: &Anvil, digest: &Hash32, sig: &[u8; 65]) -> String {
    let mut v = [0u8; 32];
    v[31] = sig[64];
    let data = format!(
        "0x{}{}{}",
        hex::encode(digest.0),
        hex::encode(v),
        hex::encode(&sig[..64])
    );
    let out = Command::new(tool("CAST", "cast"))
        .args([
            "call",
            "--rpc-url",
            &node.url,
            "0x0000000000000000000000000000000000000001",
            "--data",
            &data,
        ])
        .output()
        .expect("cast runs");
    assert!(
        out.status.success(),
        "cast call failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let word = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // A 32-byte word holding the address in its last 20 bytes.
    format!("0x{}", &word[word.len() - 40..])
}

#[test]
fn evm_ecrecover_returns_the_signer_address() {
    let node = Anvil::start();
    let mut rng = ChaCha20Rng::seed_from_u64(0x9e3779b97f4a7c15);
    for _ in 0..16 {
        let key = SigningKey::random(&mut rng);
        let mut d = [0u8; 32];
        rng.fill_bytes(&mut d);
        let digest = Hash32(d);
        let sig = key.sign_digest(&digest);
        assert_eq!(
            ecrecover(&node, &digest, &sig.0),
            format!("{:?}", key.address()),
            "ecrecover disagrees for digest {digest:?}"
        );
    }
}
