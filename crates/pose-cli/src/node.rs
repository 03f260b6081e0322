//! `pose node --config node.toml`: runs one operator node until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use pose_node::config::NodeConfig;

/// Options of `pose node`; flags override the file.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The node's configuration file.
    #[arg(long)]
    pub config: PathBuf,
    /// Overrides `listen` (address of the node's API).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Overrides `rpc_url` (the chain's JSON-RPC URL).
    #[arg(long)]
    pub rpc_url: Option<String>,
    /// Overrides `data_dir`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Test only: sets `test_tamper_relayed` (the node corrupts what it relays).
    #[arg(long, hide = true)]
    pub test_tamper_relayed: bool,
    /// Test only: sets `test_forge_remove_members` (the node invents chain transactions).
    #[arg(long, hide = true)]
    pub test_forge_remove_members: bool,
    /// Test only: sets `test_censor_user` (the node drops the user's requests and replies).
    #[arg(long, hide = true)]
    pub test_censor_user: Option<String>,
}

/// Starts structured logs on stderr (one line per event, with fields).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Loads the configuration, applies the flags and runs the node.
pub fn run(args: NodeArgs) -> anyhow::Result<()> {
    init_logs();
    let mut config = NodeConfig::load(&args.config)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(url) = args.rpc_url {
        config.rpc_url = url;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    config.test_tamper_relayed |= args.test_tamper_relayed;
    config.test_forge_remove_members |= args.test_forge_remove_members;
    if args.test_censor_user.is_some() {
        config.test_censor_user = args.test_censor_user;
    }
    config.check()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime
        .block_on(pose_node::daemon::run(config))
        .context("the node stopped with an error")
}
