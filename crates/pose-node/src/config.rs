//! The operator's configuration: a TOML file (`pose node --config node.toml`), each field
//! overridable by a command-line flag in the `pose` binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything a node needs to start. Times are in milliseconds unless the name says otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the node keeps its store (sealed enclave state, chain cursor).
    pub data_dir: PathBuf,
    /// The address the node's API listens on (users and other operators).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// JSON-RPC URL of the chain.
    #[serde(default = "default_rpc_url")]
    pub rpc_url: String,
    /// The manager contract's address (0x-prefixed hex).
    pub manager: String,
    /// The operator's funded chain key (0x-prefixed hex), used to pay for transactions.
    /// Prefer `operator_key_file` outside of a devnet.
    #[serde(default)]
    pub operator_key: Option<String>,
    /// A file holding the operator's chain key, as 0x-prefixed hex.
    #[serde(default)]
    pub operator_key_file: Option<PathBuf>,
    /// Confirmations before the node hands a chain event to its enclave.
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// How often the node polls the chain for new events, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub chain_poll_ms: u64,
    /// The first block the chain follower reads when it has no stored position (the block
    /// the manager was deployed in is enough).
    #[serde(default)]
    pub start_block: u64,
    /// The software TEE's vendor key (0x-prefixed hex), used only when the node creates its
    /// TEE platform for the first time. Devnet only: on a real TEE the vendor is the hardware
    /// maker and no vendor key is ever on the operator's machine.
    #[serde(default)]
    pub vendor_key: Option<String>,
    /// Base URLs of other operators' nodes (`http://host:port`). The node asks each for its
    /// enclave address (`GET /v1/status`) and routes that enclave's messages there.
    #[serde(default)]
    pub peers: Vec<String>,
    /// This node's own base URL as others reach it (`http://host:port`). When set, the
    /// operator publishes it on chain for the node's enclave at registration (and again when
    /// it changed), and other nodes and users find this node without configuration. Nodes
    /// also add every endpoint published on chain to their `peers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// **Test only.** Makes this node a dishonest host: it flips one bit in every message its
    /// enclave sends to other enclaves or users before relaying it. The end-to-end tests use
    /// it to show that the receivers detect the change and that the contract goes on without
    /// this node's off-chain messages. Never set it on a real node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test_tamper_relayed: bool,
    /// **Test only.** Makes this node a host that lies to its enclave about the chain: once it
    /// has caught up with the chain, it hands its enclave an invented `removeMember` for every
    /// other member of each executing contract's pool (then goes on with the real
    /// transactions), so its enclave believes it executes alone. The end-to-end tests use it to
    /// show that no user accepts a receipt built on those invented facts. Never set it on a
    /// real node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test_forge_remove_members: bool,
    /// **Test only.** Makes this node censor one user (a 0x-prefixed address): it drops
    /// every off-chain request from that user before its enclave sees it (and tells the user
    /// it was accepted), and every reply its enclave sends to that user. The end-to-end tests use it to show that the user's call is still
    /// answered, through the chain. Never set it on a real node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_censor_user: Option<String>,
}

/// Longest endpoint the manager accepts (`MAX_ENDPOINT_BYTES`).
pub const ENDPOINT_BYTES_MAX: usize = 256;

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7400))
}

fn default_rpc_url() -> String {
    "http://127.0.0.1:8545".to_owned()
}

fn default_confirmations() -> u64 {
    1
}

fn default_poll_ms() -> u64 {
    500
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for a node configuration.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        message: String,
    },
    /// A field is present but unusable.
    #[error("config field `{field}`: {message}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

impl NodeConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let config: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// The configuration as TOML text (what [`NodeConfig::load`] reads back).
    pub fn to_toml(&self) -> String {
        // Every field is a string, number, list or path: serialisation cannot fail.
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks the fields that TOML's types cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !is_hex_of_len(&self.manager, 20) {
            return Err(ConfigError::Field {
                field: "manager",
                message: format!(
                    "`{}` is not a 0x-prefixed 20-byte hex address; use the address `pose devnet` or the deployment printed",
                    self.manager
                ),
            });
        }
        if self.operator_key.is_some() == self.operator_key_file.is_some() {
            return Err(ConfigError::Field {
                field: "operator_key",
                message: "set exactly one of `operator_key` and `operator_key_file`".to_owned(),
            });
        }
        if let Some(key) = &self.operator_key {
            if !is_hex_of_len(key, 32) {
                return Err(ConfigError::Field {
                    field: "operator_key",
                    message: "not a 0x-prefixed 32-byte hex private key".to_owned(),
                });
            }
        }
        if let Some(key) = &self.vendor_key {
            if !is_hex_of_len(key, 32) {
                return Err(ConfigError::Field {
                    field: "vendor_key",
                    message: "not a 0x-prefixed 32-byte hex private key".to_owned(),
                });
            }
        }
        if let Some(peer) = self.peers.iter().find(|p| !p.starts_with("http://")) {
            return Err(ConfigError::Field {
                field: "peers",
                message: format!("`{peer}` is not an http:// base URL of a pose node"),
            });
        }
        if let Some(endpoint) = &self.endpoint {
            if !endpoint.starts_with("http://") || endpoint.len() > ENDPOINT_BYTES_MAX {
                return Err(ConfigError::Field {
                    field: "endpoint",
                    message: format!(
                        "`{endpoint}` is not an http:// base URL of at most {ENDPOINT_BYTES_MAX} bytes; give the URL others reach this node at"
                    ),
                });
            }
        }
        if let Some(user) = &self.test_censor_user {
            if !is_hex_of_len(user, 20) {
                return Err(ConfigError::Field {
                    field: "test_censor_user",
                    message: format!("`{user}` is not a 0x-prefixed 20-byte hex address"),
                });
            }
        }
        if self.chain_poll_ms == 0 {
            return Err(ConfigError::Field {
                field: "chain_poll_ms",
                message: "must be at least 1 millisecond".to_owned(),
            });
        }
        Ok(())
    }
}

fn is_hex_of_len(s: &str, bytes: usize) -> bool {
    s.strip_prefix("0x")
        .is_some_and(|h| h.len() == 2 * bytes && h.bytes().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("node.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const MANAGER: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn a_minimal_file_gets_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("data_dir = \"d\"\nmanager = \"{MANAGER}\"\noperator_key = \"{KEY}\"\n");
        let config = NodeConfig::load(&write(dir.path(), &text)).unwrap();
        assert_eq!(config.listen, default_listen());
        assert_eq!(config.confirmations, 1);
        assert_eq!(config.rpc_url, "http://127.0.0.1:8545");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused_with_the_field_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("data_dir = \"d\"\nmanager = \"{MANAGER}\"\noperator_key = \"{KEY}\"\nlisten_port = 3\n");
        let err = NodeConfig::load(&write(dir.path(), &text)).unwrap_err();
        assert!(err.to_string().contains("listen_port"), "{err}");

        let text = format!("data_dir = \"d\"\nmanager = \"0x12\"\noperator_key = \"{KEY}\"\n");
        let err = NodeConfig::load(&write(dir.path(), &text)).unwrap_err();
        assert!(err.to_string().contains("`manager`"), "{err}");

        let text = format!("data_dir = \"d\"\nmanager = \"{MANAGER}\"\n");
        let err = NodeConfig::load(&write(dir.path(), &text)).unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
    }

    #[test]
    fn a_written_config_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("data_dir = \"d\"\nmanager = \"{MANAGER}\"\noperator_key = \"{KEY}\"\nvendor_key = \"{KEY}\"\npeers = [\"http://127.0.0.1:1\"]\n");
        let config = NodeConfig::load(&write(dir.path(), &text)).unwrap();
        let again = NodeConfig::load(&write(dir.path(), &config.to_toml())).unwrap();
        assert_eq!(config, again);
        assert_eq!(again.peers, vec!["http://127.0.0.1:1".to_owned()]);
    }

    #[test]
    fn an_endpoint_must_be_an_http_url_the_manager_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let base = format!("data_dir = \"d\"\nmanager = \"{MANAGER}\"\noperator_key = \"{KEY}\"\n");
        let ok = format!("{base}endpoint = \"http://node-a.example:7400\"\n");
        let config = NodeConfig::load(&write(dir.path(), &ok)).unwrap();
        assert_eq!(
            config.endpoint.as_deref(),
            Some("http://node-a.example:7400")
        );
        for bad in [
            "node-a:7400".to_owned(),
            format!("http://{}", "a".repeat(250)),
        ] {
            let text = format!("{base}endpoint = \"{bad}\"\n");
            let err = NodeConfig::load(&write(dir.path(), &text)).unwrap_err();
            assert!(err.to_string().contains("`endpoint`"), "{err}");
        }
    }

    #[test]
    fn a_missing_file_says_which() {
        let err = NodeConfig::load(Path::new("does-not-exist.toml")).unwrap_err();
        assert!(err.to_string().contains("does-not-exist.toml"), "{err}");
    }
}
