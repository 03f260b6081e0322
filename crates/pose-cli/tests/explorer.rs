//! The explorer page in a real browser: `pose devnet` starts anvil and three nodes, a user
//! deploys a contract, and headless Chromium loads `GET /explorer` of a node. The page names
//! the executor; the executor's node is killed (`kill -9`), the next call fails over, and the
//! page then names the new executor, the executor change and the dead node. A screenshot is
//! taken after the failover (to `POSE_EXPLORER_SCREENSHOT` if set, e.g. `docs/explorer.png`).
//!
//! Skipped with a message when Chromium is not installed (`scripts/setup` installs it). Every
//! process (devnet, nodes, browser) is stopped by its id, also when an assertion fails.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{signal, start_devnet, wait_for_file};
use pose_chain::{from_address, parse_private_key, ChainConfig, ManagerClient, PoseManager};
use pose_client::{ClientOptions, PoseClient};
use pose_types::{Address, ContractId};
use serde_json::Value;

/// How long one browser run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The Chromium binary: `POSE_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("POSE_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A browser process group, killed when the guard goes (the browser forks helpers).
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        signal(self.0.id(), "-KILL");
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// Runs headless Chromium on `url` with `extra` arguments, with a fresh profile, and returns
/// its standard output once it exits (at most [`BROWSER_TIMEOUT`]).
fn run_chromium(exe: &Path, url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out_path = profile.path().join("stdout");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut command = Command::new(exe);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .env("HOME", profile.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .process_group(0);
    let mut browser = Browser(command.spawn().expect("chromium starts"));
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    loop {
        match browser.0.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => panic!("chromium did not finish loading {url} within {BROWSER_TIMEOUT:?}"),
        }
    }
    drop(browser);
    std::fs::read_to_string(&out_path).unwrap_or_default()
}

/// The page's DOM after its script ran.
fn dump_dom(exe: &Path, url: &str) -> String {
    run_chromium(exe, url, &["--dump-dom".to_owned()])
}

/// The text of the element with id `id` in `dom` (no nested elements).
fn text_of(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')? + start;
    Some(rest[start..end].to_owned())
}

/// Loads the page until the executor it shows for `cid` is `expected` (the node reads the
/// chain with a short delay); returns the DOM.
fn wait_for_executor(exe: &Path, url: &str, cid: ContractId, expected: Address) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut dom = String::new();
    while Instant::now() < deadline {
        dom = dump_dom(exe, url);
        let shown = text_of(&dom, &format!("executor-{}", cid.0));
        if shown.is_some_and(|s| s.eq_ignore_ascii_case(&expected.to_string())) {
            return dom;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("the page at {url} never showed executor {expected} of contract {cid:?}:\n{dom}");
}

fn addr(text: &Value) -> Address {
    let a: pose_chain::alloy::primitives::Address = text.as_str().unwrap().parse().unwrap();
    from_address(a)
}

async fn client(info: &Value) -> PoseClient {
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
    PoseClient::new(
        chain,
        user,
        nodes,
        addr(&info["vendor"]),
        vec![pose_node::enclave_core::program_measurement()],
    )
    .with_options(ClientOptions {
        poll: Duration::from_millis(300),
        challenge_after: Duration::from_secs(3),
        give_up_after: Duration::from_secs(300),
        creation_timeout: Duration::from_secs(120),
    })
}

fn wasm(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../examples/contracts/wasm/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// token-escrow's transfer of `amount` to `to`.
fn transfer(to: Address, amount: u128) -> Vec<u8> {
    let mut v = vec![1];
    v.extend_from_slice(&to.0);
    v.extend_from_slice(&amount.to_le_bytes());
    v
}

#[test]
fn the_explorer_shows_the_new_executor_after_the_executor_is_killed() {
    let Some(exe) = chromium() else {
        eprintln!(
            "SKIPPED: Chromium is not installed (run scripts/setup, or set POSE_CHROMIUM); \
             the explorer test needs a headless browser"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut guard, log) = start_devnet(dir.path(), 3);
    let info = wait_for_file(&dir.path().join("devnet.json"), &mut guard, &log);
    let nodes = info["nodes"].as_array().unwrap().clone();
    guard.also = nodes
        .iter()
        .map(|n| n["pid"].as_u64().unwrap() as u32)
        .collect();
    let printed = std::fs::read_to_string(&log).unwrap();
    let first_url = nodes[0]["url"].as_str().unwrap();
    assert!(
        printed.contains(&format!("explorer: {first_url}/explorer")),
        "pose devnet prints the explorer's URL:\n{printed}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let user = rt.block_on(client(&info));
    let params = PoseManager::Params {
        poolSize: 3,
        responsePeriodSecs: 10,
        memberResponsePeriodSecs: 5,
        confirmations: 1,
    };
    let cid = rt
        .block_on(user.deploy(&wasm("token_escrow"), &[], params))
        .expect("token-escrow deploys");
    rt.block_on(user.deposit(cid, 1_000)).unwrap();
    let old = from_address(rt.block_on(user.chain().executor_of(cid)).unwrap());

    // The page is read from a node that survives: one not hosting the executor.
    let watcher = nodes
        .iter()
        .find(|n| addr(&n["enclave"]) != old)
        .expect("a node other than the executor's");
    let page = format!("{}/explorer", watcher["url"].as_str().unwrap());
    let before = wait_for_executor(&exe, &page, cid, old);
    assert!(before.contains("created"), "{before}");
    assert!(!before.contains(">down<"), "every node is up: {before}");

    // Kill the executor's node; the next call is answered under a new executor.
    let old_node = nodes.iter().find(|n| addr(&n["enclave"]) == old).unwrap();
    signal(old_node["pid"].as_u64().unwrap() as u32, "-KILL");
    let answer = rt
        .block_on(user.call(cid, &transfer(Address([7; 20]), 100)))
        .expect("answered after the executor died");
    let new = from_address(rt.block_on(user.chain().executor_of(cid)).unwrap());
    assert_ne!(new, old, "the executor changed on chain");
    assert_eq!(answer.receipt.executor, new);

    let after = wait_for_executor(&exe, &page, cid, new);
    assert!(
        after.contains("timeout of challenge"),
        "the executor change is in the history: {after}"
    );
    assert!(
        after.contains(">down<"),
        "the killed node is shown down: {after}"
    );
    assert!(
        after
            .to_lowercase()
            .contains(&old.to_string().to_lowercase()),
        "the old executor stays in the history: {after}"
    );

    let shot = match std::env::var_os("POSE_EXPLORER_SCREENSHOT") {
        Some(p) => PathBuf::from(p),
        None => dir.path().join("explorer.png"),
    };
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &exe,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1100,1000".to_owned(),
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
}
