//! The real enclave as the host's [`Core`]: `pose-enclave` on the software TEE, with the TEE
//! platform's state (secret and monotonic counters) kept in the node's store.
//!
//! Store layout (names in the store's blob table):
//! - [`PLATFORM_BLOB`]: the software platform's exported state, written in the same commit as
//!   every sealed enclave blob (the blob's counter and the platform's counter move together);
//! - [`IDENTITY_BLOB`]: the enclave's keys sealed by the TEE (written once, at first start);
//! - [`crate::host::SEALED_BLOB`]: the enclave's latest sealed protocol state.

use pose_enclave::{Action, Config, Deployment, Enclave, Event, Rejection, TeePlatform};
use pose_runtime::WasmtimeEngine;
use pose_tee::{Randomness, SoftwarePlatform, SoftwareTee, SystemClock, Tee, Vendor};
use pose_types::Hash32;

use crate::host::{Core, CoreAction, CoreEvent, SEALED_BLOB};
use crate::store::{NodeStore, StoreError};

/// Name of the software platform's state in the store.
pub const PLATFORM_BLOB: &str = "platform";
/// Name of the enclave's sealed identity in the store.
pub const IDENTITY_BLOB: &str = "identity";

/// The program identity of this enclave build; its measurement is what the manager allows.
pub const PROGRAM_IDENTITY: &[u8] = concat!("pose-enclave/", env!("CARGO_PKG_VERSION")).as_bytes();

/// The measurement of [`PROGRAM_IDENTITY`] (what `pose devnet` allows in the manager).
pub fn program_measurement() -> Hash32 {
    pose_tee::measurement_of(PROGRAM_IDENTITY)
}

/// The enclave type the node hosts.
pub type NodeEnclave = Enclave<TeePlatform<SoftwareTee>>;

/// Why the enclave could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No platform state yet and no vendor key to create one with.
    #[error("this data directory has no TEE platform yet; set `vendor_key` in node.toml (devnet) to create one")]
    NoVendorKey,
    /// The vendor key is not a valid secp256k1 key.
    #[error("`vendor_key` is not a valid secp256k1 private key: {0}")]
    BadVendorKey(String),
    /// The stored platform or identity did not load.
    #[error("the TEE state in the data directory does not load ({0}); the directory is damaged or from another program version")]
    Tee(#[from] pose_tee::TeeError),
    /// The contract engine could not start.
    #[error("the contract engine failed to start: {0}")]
    Engine(String),
    /// The sealed enclave state was refused (for example an older copy: a rollback).
    #[error("the enclave refused its sealed state: {0}; restore the latest data directory")]
    Restore(Rejection),
}

/// `pose-enclave` on the software TEE, as the host drives it.
pub struct EnclaveCore {
    enclave: NodeEnclave,
    platform: SoftwarePlatform,
}

impl EnclaveCore {
    /// Starts the enclave from the store: creates the platform (with `vendor_key`) and the
    /// enclave's identity on first start, else resumes both and restores the sealed state.
    /// `deployment` binds the enclave to one chain and manager.
    pub fn start(
        store: &NodeStore,
        vendor_key: Option<&[u8; 32]>,
        deployment: Deployment,
    ) -> Result<Self, StartError> {
        let platform = match store.get_blob(PLATFORM_BLOB)? {
            Some(state) => SoftwarePlatform::import_state(&state)?,
            None => {
                let key = vendor_key.ok_or(StartError::NoVendorKey)?;
                let vendor = pose_crypto::SigningKey::from_bytes(key)
                    .map_err(|e| StartError::BadVendorKey(e.to_string()))?;
                let mut secret = [0u8; 32];
                pose_crypto::RngCore::fill_bytes(&mut pose_crypto::OsRng, &mut secret);
                SoftwarePlatform::new(secret, Vendor::new(vendor))
            }
        };
        let tee = match store.get_blob(IDENTITY_BLOB)? {
            Some(identity) => SoftwareTee::resume(
                platform.clone(),
                PROGRAM_IDENTITY,
                &identity,
                Randomness::Os,
                SystemClock::new(),
            )?,
            None => {
                let mut tee = SoftwareTee::create(
                    platform.clone(),
                    PROGRAM_IDENTITY,
                    Randomness::Os,
                    SystemClock::new(),
                );
                let identity = tee.seal_identity()?;
                let state = platform.export_state();
                store.put_blobs(&[
                    (PLATFORM_BLOB, state.as_slice()),
                    (IDENTITY_BLOB, identity.as_slice()),
                ])?;
                tee
            }
        };
        let config = Config {
            deployment,
            vendor: platform.vendor_address(),
            measurement: tee.measurement(),
            ack_timeout_ms: pose_enclave::ACK_TIMEOUT_MS_DEFAULT,
            bug: None,
        };
        let engine =
            Box::new(WasmtimeEngine::new().map_err(|e| StartError::Engine(e.to_string()))?);
        let enclave = match store.get_blob(SEALED_BLOB)? {
            Some(blob) => Enclave::restore(TeePlatform::new(tee), engine, config, &blob)
                .map_err(StartError::Restore)?,
            None => Enclave::new(TeePlatform::new(tee), engine, config),
        };
        Ok(Self { enclave, platform })
    }

    /// The hosted enclave (for its public keys and attestation).
    pub fn enclave(&self) -> &NodeEnclave {
        &self.enclave
    }
}

impl Core for EnclaveCore {
    type Rejection = Rejection;

    fn handle(&mut self, event: CoreEvent) -> Result<Vec<CoreAction>, Rejection> {
        let event = match event {
            CoreEvent::Message(bytes) => Event::Message(bytes),
            CoreEvent::Chain(bytes) => Event::Chain(bytes),
            CoreEvent::Tick => Event::Tick,
        };
        let actions = self.enclave.handle(event)?;
        Ok(actions
            .into_iter()
            .map(|a| match a {
                Action::Send { to, bytes } => CoreAction::Send { to, bytes },
                Action::Submit { calldata } => CoreAction::Submit { calldata },
                Action::Persist { blob } => CoreAction::Persist { blob },
                Action::Stalled {
                    cid,
                    limit,
                    bytes,
                    max_bytes,
                } => CoreAction::Stalled {
                    cid: cid.map(|c| c.0),
                    limit: limit.name(),
                    bytes,
                    max_bytes,
                },
            })
            .collect())
    }

    fn companions(&self) -> Vec<(&'static str, Vec<u8>)> {
        vec![(PLATFORM_BLOB, self.platform.export_state().to_vec())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pose_types::Address;

    #[test]
    fn a_restarted_core_has_the_same_identity_and_a_fresh_one_needs_a_vendor_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        let deployment = Deployment {
            chain_id: 31337,
            manager: Address([7; 20]),
        };
        {
            let store = NodeStore::open(&path).unwrap();
            let err = EnclaveCore::start(&store, None, deployment).err().unwrap();
            assert!(matches!(err, StartError::NoVendorKey), "{err}");
        }
        let first = {
            let store = NodeStore::open(&path).unwrap();
            let mut core = EnclaveCore::start(&store, Some(&[5; 32]), deployment).unwrap();
            // A tick may persist; the host would store it with the platform state.
            let actions = core.handle(CoreEvent::Tick).unwrap();
            for a in actions {
                if let CoreAction::Persist { blob } = a {
                    let companions = core.companions();
                    store
                        .put_blobs(&[
                            (SEALED_BLOB, blob.as_slice()),
                            (companions[0].0, companions[0].1.as_slice()),
                        ])
                        .unwrap();
                }
            }
            core.enclave().address()
        };
        let store = NodeStore::open(&path).unwrap();
        let again = EnclaveCore::start(&store, None, deployment).unwrap();
        assert_eq!(again.enclave().address(), first);
    }
}
