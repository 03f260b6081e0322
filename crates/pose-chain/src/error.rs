//! Errors of the chain adapter, grouped by what the caller can do about them.

use alloy::primitives::{Bytes, TxHash};

use crate::bindings::PoseManager::PoseManagerErrors;

/// Why a chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The manager refused the transaction with one of its custom errors (the transaction was
    /// not included, or its estimation failed). Retrying the same transaction fails the same way
    /// until the chain state changes.
    #[error("the manager contract refused the transaction: {0:?}")]
    Reverted(PoseManagerErrors),
    /// The transaction reverted with data that is not a manager error (e.g. a failed deployment).
    #[error("the transaction reverted with unrecognised data {0}")]
    RevertedUnknown(Bytes),
    /// The transaction was mined but failed (its revert reason is not in the receipt); the chain
    /// state changed between estimation and inclusion. Re-check the state and resubmit.
    #[error("transaction {0} was mined but failed; re-check the manager state and resubmit")]
    TxFailed(TxHash),
    /// The transaction left the chain or the node's pool before it had its confirmations (a
    /// reorganisation or an eviction).
    #[error("transaction {0} disappeared before it had its confirmations; resubmit it")]
    Dropped(TxHash),
    /// No receipt or confirmation within the configured time; the node may be stalled.
    #[error("timed out after {secs} s waiting for {what}; check the node and retry")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// How long.
        secs: u64,
    },
    /// The JSON-RPC transport failed (node unreachable, bad response). Retrying may help.
    #[error("JSON-RPC error: {0}; check the RPC URL and that the node is running, then retry")]
    Rpc(#[from] alloy::transports::TransportError),
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A log from the manager's address did not decode as a manager event (wrong address or
    /// ABI mismatch between the deployed manager and these bindings).
    #[error("log {log_index} of block {block} is not a PoseManager event; is the manager address right?")]
    UndecodableLog {
        /// Block of the log.
        block: u64,
        /// Index of the log in its block.
        log_index: u64,
    },
    /// The stored follower position could not be read or written.
    #[error("event cursor file {path}: {source}")]
    Cursor {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An external tool (anvil, cast) is missing or failed to start.
    #[error("{0}")]
    Tool(String),
}

impl ChainError {
    /// The manager's custom error, if that is why the transaction failed.
    pub fn manager_error(&self) -> Option<&PoseManagerErrors> {
        match self {
            Self::Reverted(e) => Some(e),
            _ => None,
        }
    }

    /// Turns a transport error into a manager revert when its payload carries revert data.
    pub(crate) fn from_transport(err: alloy::transports::TransportError) -> Self {
        if let Some(payload) = err.as_error_resp() {
            if let Some(decoded) = payload.as_decoded_interface_error::<PoseManagerErrors>() {
                return Self::Reverted(decoded);
            }
            if let Some(data) = payload.as_revert_data() {
                return Self::RevertedUnknown(data);
            }
        }
        Self::Rpc(err)
    }
}
