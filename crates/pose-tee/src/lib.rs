//! The TEE trait (attest, verify an attestation, seal/unseal with a monotonic counter,
//! randomness, monotonic time) and its backends; today the software TEE whose attestations are
//! signed by a vendor key.
