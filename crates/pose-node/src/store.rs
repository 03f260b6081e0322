//! The node's data directory store: sealed blobs the enclave hands out, and host bookkeeping
//! such as the last chain block processed. Backed by `redb` (one file, crash-safe commits).
//!
//! Invariant: a `put` is durable when it returns; the enclave's rollback protection does not
//! rely on this store (an operator can always restore an old file), only on the TEE's counter.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("sealed_blobs");
const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("cursors");

/// Why the store failed. All variants are local I/O problems of the operator's machine.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the node store at {path}: {source} (is another node using this data directory?)")]
    Open {
        /// The file that failed.
        path: String,
        /// What redb said.
        #[source]
        source: redb::DatabaseError,
    },
    /// A read or write failed.
    #[error("node store I/O failed: {0}")]
    Io(String),
}

fn io<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Io(e.to_string())
}

/// A handle on the node's persistent store.
pub struct NodeStore {
    db: Database,
}

impl NodeStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let tx = db.begin_write().map_err(io)?;
        tx.open_table(BLOBS).map_err(io)?;
        tx.open_table(CURSORS).map_err(io)?;
        tx.commit().map_err(io)?;
        Ok(Self { db })
    }

    /// Stores `blob` under `name`, replacing any earlier blob; durable on return.
    pub fn put_blob(&self, name: &str, blob: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(io)?;
        tx.open_table(BLOBS)
            .map_err(io)?
            .insert(name, blob)
            .map_err(io)?;
        tx.commit().map_err(io)
    }

    /// Stores several blobs in one commit: either all are durable on return or none is.
    pub fn put_blobs(&self, blobs: &[(&str, &[u8])]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(io)?;
        {
            let mut table = tx.open_table(BLOBS).map_err(io)?;
            for (name, blob) in blobs {
                table.insert(*name, *blob).map_err(io)?;
            }
        }
        tx.commit().map_err(io)
    }

    /// The blob stored under `name`, if any.
    pub fn get_blob(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(io)?;
        let table = tx.open_table(BLOBS).map_err(io)?;
        Ok(table.get(name).map_err(io)?.map(|v| v.value().to_vec()))
    }

    /// Records that the chain follower processed everything up to and including `block`.
    pub fn set_cursor(&self, name: &str, block: u64) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(io)?;
        tx.open_table(CURSORS)
            .map_err(io)?
            .insert(name, block)
            .map_err(io)?;
        tx.commit().map_err(io)
    }

    /// The last block recorded with [`NodeStore::set_cursor`], if any.
    pub fn cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read().map_err(io)?;
        let table = tx.open_table(CURSORS).map_err(io)?;
        Ok(table.get(name).map_err(io)?.map(|v| v.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_and_cursors_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        {
            let store = NodeStore::open(&path).unwrap();
            assert_eq!(store.get_blob("enclave").unwrap(), None);
            store.put_blob("enclave", b"sealed-1").unwrap();
            store.put_blob("enclave", b"sealed-2").unwrap();
            store.set_cursor("manager", 42).unwrap();
            store.put_blobs(&[("a", b"one"), ("b", b"two")]).unwrap();
        }
        let store = NodeStore::open(&path).unwrap();
        assert_eq!(
            store.get_blob("enclave").unwrap().as_deref(),
            Some(&b"sealed-2"[..])
        );
        assert_eq!(store.cursor("manager").unwrap(), Some(42));
        assert_eq!(store.get_blob("b").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(store.cursor("other").unwrap(), None);
    }

    #[test]
    fn a_second_open_of_the_same_file_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        let _first = NodeStore::open(&path).unwrap();
        let err = NodeStore::open(&path).err().expect("second open must fail");
        assert!(err.to_string().contains("another node"), "{err}");
    }
}
