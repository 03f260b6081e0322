//! [`EventFollower`]: the manager's confirmed events, in chain order, resumable after restart.

use std::path::{Path, PathBuf};

use alloy::primitives::TxHash;
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEventInterface;

use crate::bindings::PoseManager::PoseManagerEvents;
use crate::client::ManagerClient;
use crate::error::ChainError;

/// Most blocks one [`EventFollower::poll`] asks the node for (nodes cap `eth_getLogs` ranges).
pub const LOG_RANGE_BLOCKS_MAX: u64 = 2_000;

/// One event of the manager, with where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerEvent {
    /// Block that holds it.
    pub block_number: u64,
    /// Transaction that emitted it.
    pub tx_hash: TxHash,
    /// Position of the log in its block.
    pub log_index: u64,
    /// The decoded event.
    pub event: PoseManagerEvents,
}

/// Follows the manager's events from a block on. Only blocks with the client's configured
/// confirmations are read, so every event returned is final under the chain assumption.
///
/// Use: `poll` returns the next batch and advances the in-memory position; after handling the
/// batch, `persist` stores the position (if a cursor file is set), so a restarted host that
/// opens the same file resumes after the last batch it handled and never skips an event.
#[derive(Clone, Debug)]
pub struct EventFollower {
    next_block: u64,
    cursor_file: Option<PathBuf>,
}

impl EventFollower {
    /// Follows from `block` on, without storing the position.
    pub fn from_block(block: u64) -> Self {
        Self {
            next_block: block,
            cursor_file: None,
        }
    }

    /// Follows from the block stored in `path` if the file exists, else from `start_block`;
    /// `persist` writes the position back to `path`.
    pub fn with_cursor_file(
        path: impl Into<PathBuf>,
        start_block: u64,
    ) -> Result<Self, ChainError> {
        let path = path.into();
        let next_block = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<u64>().map_err(|e| ChainError::Cursor {
                path: path.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => start_block,
            Err(e) => {
                return Err(ChainError::Cursor {
                    path: path.display().to_string(),
                    source: e,
                })
            }
        };
        Ok(Self {
            next_block,
            cursor_file: Some(path),
        })
    }

    /// The first block the next `poll` reads.
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// Reads the manager's events in confirmed blocks from `next_block` on (at most
    /// [`LOG_RANGE_BLOCKS_MAX`] blocks), in chain order, and advances past them.
    pub async fn poll(&mut self, client: &ManagerClient) -> Result<Vec<ManagerEvent>, ChainError> {
        let head = client.block_number().await?;
        let confirmations = client.config().confirmations.max(1);
        let Some(confirmed) = (head + 1).checked_sub(confirmations) else {
            return Ok(Vec::new());
        };
        if confirmed < self.next_block {
            return Ok(Vec::new());
        }
        let to = confirmed.min(self.next_block + LOG_RANGE_BLOCKS_MAX - 1);
        let filter = Filter::new()
            .address(client.manager())
            .from_block(self.next_block)
            .to_block(to);
        let logs = client.provider().get_logs(&filter).await?;
        let mut events = Vec::with_capacity(logs.len());
        for log in logs {
            let block = log.block_number.unwrap_or_default();
            let log_index = log.log_index.unwrap_or_default();
            let decoded = PoseManagerEvents::decode_log(&log.inner)
                .map_err(|_| ChainError::UndecodableLog { block, log_index })?;
            events.push(ManagerEvent {
                block_number: block,
                tx_hash: log.transaction_hash.unwrap_or_default(),
                log_index,
                event: decoded.data,
            });
        }
        self.next_block = to + 1;
        Ok(events)
    }

    /// Stores the position in the cursor file (atomically: write, then rename). Does nothing
    /// without a cursor file.
    pub fn persist(&self) -> Result<(), ChainError> {
        let Some(path) = &self.cursor_file else {
            return Ok(());
        };
        write_atomically(path, &self.next_block.to_string()).map_err(|e| ChainError::Cursor {
            path: path.display().to_string(),
            source: e,
        })
    }
}

fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
