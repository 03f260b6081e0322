//! Conversions between `pose-types` values and alloy's.

use alloy::primitives::{Address as AlloyAddress, B256};
use pose_types::{Address, Hash32};

/// A pose address as alloy's.
pub fn to_address(a: Address) -> AlloyAddress {
    AlloyAddress::from(a.0)
}

/// An alloy address as pose's.
pub fn from_address(a: AlloyAddress) -> Address {
    Address(a.into_array())
}

/// A pose hash as alloy's `B256`.
pub fn to_b256(h: Hash32) -> B256 {
    B256::from(h.0)
}

/// An alloy `B256` as pose's hash.
pub fn from_b256(h: B256) -> Hash32 {
    Hash32(h.0)
}
