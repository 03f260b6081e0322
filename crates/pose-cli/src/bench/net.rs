//! What the node-network scenarios share: a devnet of their own (in a temporary directory,
//! removed afterwards), clients, contract deployment, a measuring session over one contract,
//! and latency statistics.
//!
//! [`Session`] is the measuring client: it verifies the pool once with
//! [`PoseClient::verify_pool`] and reads the contract key and executor once, then per call
//! only builds, signs and seals the request, posts it to the executor's node and long-polls
//! the user's mailbox until a receipt arrives that it checks as `PoseClient` does (signed by
//! a pool member over the request's digest, output decrypted with the reply key). So its
//! latency is the protocol's, from send to verified receipt, without the chain reads that
//! `PoseClient::call` makes before every request (measured apart as the SDK latency).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use pose_chain::{from_address, PoseManager};
use pose_client::transport::Transport;
use pose_client::{ClientOptions, PoseClient};
use pose_crypto::{OsRng, SigningKey};
use pose_types::wire::{Message, RequestKind};
use pose_types::{Address, ContractId, EncPublicKey};

use crate::contract::connect;
use crate::devnet::{self, Devnet, DevnetInfo};

/// The token-escrow example contract, as committed (examples/contracts/wasm).
pub const TOKEN_WASM: &[u8] =
    include_bytes!("../../../../examples/contracts/wasm/token_escrow.wasm");
/// The federated-learning example contract, as committed (examples/contracts/wasm).
pub const FL_WASM: &[u8] =
    include_bytes!("../../../../examples/contracts/wasm/federated_learning.wasm");

/// Longest wait for one receipt before a session call fails.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a refused or failed post of a request is retried.
const POST_RETRY: Duration = Duration::from_secs(20);
/// How long one mailbox long poll waits at the node.
const MAILBOX_WAIT: Duration = Duration::from_secs(5);

/// Prints a progress line on stderr (stdout carries the report).
pub fn say(line: &str) {
    eprintln!("{line}");
}

/// A devnet of a scenario, in a temporary directory removed when it goes (after the devnet
/// stopped every process it started).
pub struct Net {
    /// The running devnet (public for `kill_node_of`).
    pub devnet: Devnet,
    dir: PathBuf,
}

impl Net {
    /// Starts anvil and `nodes` operator nodes (this binary, `pose node`).
    pub async fn start(scenario: &str, nodes: u8) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "pose-bench-{scenario}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        say(&format!("starting a devnet of {nodes} nodes ..."));
        let started = Instant::now();
        let devnet = match devnet::start_with(nodes, Some(dir.clone()), say).await {
            Ok(d) => d,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.context(format!("starting a devnet of {nodes} nodes")));
            }
        };
        say(&format!(
            "devnet ready in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        Ok(Net { devnet, dir })
    }

    /// What `devnet.json` holds.
    pub fn info(&self) -> &DevnetInfo {
        &self.devnet.info
    }

    /// A client for the devnet's funded user key, with `options`, reporting nothing.
    pub async fn owner(&self, options: ClientOptions) -> anyhow::Result<PoseClient> {
        Ok(connect(self.info(), None, options)
            .await?
            .with_progress(|_| {}))
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // The devnet field drops after this body: stop it first, then remove its files.
        self.devnet.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Deploys `code` with `init` to a pool of `pool_size`, with the given response periods
/// (seconds); returns its id.
pub async fn deploy(
    owner: &PoseClient,
    code: &[u8],
    init: &[u8],
    pool_size: u8,
    response_secs: u32,
    member_response_secs: u32,
) -> anyhow::Result<ContractId> {
    let params = PoseManager::Params {
        poolSize: pool_size,
        responsePeriodSecs: response_secs,
        memberResponsePeriodSecs: member_response_secs,
        confirmations: 1,
    };
    owner
        .deploy(code, init, params)
        .await
        .with_context(|| format!("deploying a contract to a pool of {pool_size}"))
}

/// A user's measuring client for one contract (see the module docs).
pub struct Session {
    cid: ContractId,
    user: SigningKey,
    /// The executor whose node `url` is (mailbox fetches are signed for it).
    executor: Address,
    key: EncPublicKey,
    pool: Vec<Address>,
    url: String,
    transport: Transport,
}

impl Session {
    /// Verifies `cid`'s pool with `verifier` and reads its key and executor, for a fresh
    /// random user key (calls need no coins).
    pub async fn open(
        verifier: &PoseClient,
        info: &DevnetInfo,
        cid: ContractId,
    ) -> anyhow::Result<Self> {
        Self::open_as(verifier, info, cid, SigningKey::random(&mut OsRng)).await
    }

    /// [`Session::open`] for `user`.
    pub async fn open_as(
        verifier: &PoseClient,
        info: &DevnetInfo,
        cid: ContractId,
        user: SigningKey,
    ) -> anyhow::Result<Self> {
        let pool = verifier.verify_pool(cid).await?;
        let c = verifier.chain().contract(cid).await?;
        let executor = from_address(verifier.chain().executor_of(cid).await?);
        let url = info
            .nodes
            .iter()
            .find(|n| n.enclave.eq_ignore_ascii_case(&executor.to_string()))
            .map(|n| n.url.clone())
            .with_context(|| format!("no devnet node hosts executor {executor}"))?;
        Ok(Session {
            cid,
            user,
            executor,
            key: EncPublicKey(c.contractEncKey.0),
            pool,
            url,
            transport: Transport::new(MAILBOX_WAIT + Duration::from_secs(10)),
        })
    }

    /// The user's address.
    pub fn address(&self) -> Address {
        self.user.address()
    }

    /// Sends `input` as a call and waits for the verified receipt; returns the contract's
    /// output and the time from building the request to the verified receipt.
    pub async fn call(&self, input: &[u8]) -> anyhow::Result<(Vec<u8>, Duration)> {
        let start = Instant::now();
        let (req, reply_key) = pose_client::contract::build_request(
            &self.user,
            self.cid,
            RequestKind::Call,
            &self.key,
            input,
        )
        .map_err(|e| anyhow::anyhow!("building the request: {e}"))?;
        let bytes = Message::Request(req.clone()).encode();
        // Right after a deployment the executor's node may not have seen the creation
        // confirmed yet and refuses the request; retry for a while, as `PoseClient` does.
        while let Err(e) = self.transport.post_message(&self.url, bytes.clone()).await {
            if start.elapsed() > POST_RETRY {
                return Err(
                    anyhow::Error::new(e).context("posting the request to the executor's node")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        loop {
            let inbox = self
                .transport
                .fetch_mailbox(&self.url, self.executor, &self.user, MAILBOX_WAIT)
                .await
                .context("reading the mailbox")?;
            for m in inbox {
                if let Ok(Message::Reply(r)) = Message::decode(&m) {
                    if let Some(output) =
                        pose_client::contract::open_reply(&req, &reply_key, &self.pool, &r)
                    {
                        return Ok((output, start.elapsed()));
                    }
                }
            }
            if start.elapsed() > RECEIPT_TIMEOUT {
                bail!(
                    "no receipt within {} s from {}",
                    RECEIPT_TIMEOUT.as_secs(),
                    self.url
                );
            }
        }
    }
}

/// Fails if a contract's output is its refusal (`error: ...`).
pub fn check_output(what: &str, output: &[u8]) -> anyhow::Result<()> {
    if output.starts_with(b"error") {
        bail!(
            "the contract refused the {what}: {}",
            String::from_utf8_lossy(output)
        );
    }
    Ok(())
}

/// Summary of latency samples, in milliseconds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    /// Samples.
    pub n: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile (nearest rank), ms.
    pub p99_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Smallest, ms.
    pub min_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

/// Milliseconds, rounded to microseconds.
fn round_ms(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

/// The nearest-rank percentile `p` (0..=100) of sorted `v`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Stats {
    /// Statistics of `samples`.
    pub fn of(samples: &[Duration]) -> Stats {
        let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Stats::default();
        }
        Stats {
            n: v.len(),
            p50_ms: round_ms(percentile(&v, 50.0)),
            p99_ms: round_ms(percentile(&v, 99.0)),
            mean_ms: round_ms(v.iter().sum::<f64>() / v.len() as f64),
            min_ms: round_ms(v[0]),
            max_ms: round_ms(v[v.len() - 1]),
        }
    }
}

/// The median of `v` (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Parses nothing; lists `v` as `1,3,5` for commands.
pub fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_use_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Stats::of(&d);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.mean_ms, 50.5);
        assert_eq!(Stats::of(&[]).n, 0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
    }
}
