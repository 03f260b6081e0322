//! Why bytes handed to the enclave did not decode.
//!
//! The enclave encodes its messages, chain transactions and sealed state with `pose-types`'
//! canonical codec ([`pose_types::codec`]); this error adds what only the enclave checks on
//! top of the byte format.

use pose_types::ContractId;

use crate::abi::AbiError;

/// Why bytes did not decode. The sender (or the host) is at fault: reject the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes break the canonical encoding (truncated, trailing bytes, a length above its
    /// limit, an unknown tag or version).
    #[error(transparent)]
    Codec(#[from] pose_types::DecodeError),
    /// A chain transaction's calldata is not a manager call.
    #[error("chain transaction calldata: {0}")]
    Calldata(#[from] AbiError),
    /// Contract secrets encoded for another contract.
    #[error("secrets are for contract {found:?}, expected {expected:?}")]
    SecretsForAnotherContract {
        /// The contract the secrets were expected for.
        expected: ContractId,
        /// The contract they name.
        found: ContractId,
    },
}
