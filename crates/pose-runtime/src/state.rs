//! A contract's whole state: its key-value storage and the internal coin balances.

use std::collections::BTreeMap;

use pose_types::{Address, Hash32};
use sha2::{Digest, Sha256};

/// What one call changed, each key with the value it replaced: enough for the caller to
/// update an incremental state hash and to build a diff, at a cost that follows the call's
/// writes rather than the state's size. Keys appear once each, in increasing order; a key may
/// be listed although its value did not change (the contract wrote the same value back).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// Storage keys written or removed, each with its previous value (`None`: it was absent).
    pub storage: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Balances written, each with its previous amount in wei (0: it was absent).
    pub balances: Vec<(Address, u128)>,
}

/// A contract's state. Ordered maps make iteration and hashing deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContractState {
    /// The contract's key-value storage.
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Coins each user holds inside the contract, in wei (credited deposits minus payouts,
    /// moved by the contract's transfers).
    pub balances: BTreeMap<Address, u128>,
}

impl ContractState {
    /// A commitment to the whole state: sha256 over a canonical, length-prefixed listing of
    /// storage and balances. Equal states, and only equal states, have equal hashes.
    pub fn state_hash(&self) -> Hash32 {
        let mut h = Sha256::new();
        h.update(b"pose.state.v1");
        h.update((self.storage.len() as u64).to_be_bytes());
        for (k, v) in &self.storage {
            h.update((k.len() as u64).to_be_bytes());
            h.update(k);
            h.update((v.len() as u64).to_be_bytes());
            h.update(v);
        }
        h.update((self.balances.len() as u64).to_be_bytes());
        for (a, b) in &self.balances {
            h.update(a.0);
            h.update(b.to_be_bytes());
        }
        Hash32(h.finalize().into())
    }

    /// Sum of all internal balances, in wei (for the conservation invariant).
    pub fn total_balance_wei(&self) -> u128 {
        self.balances
            .values()
            .fold(0u128, |acc, b| acc.saturating_add(*b))
    }
}
