//! Cryptography for pose: secp256k1 signatures recoverable by Solidity's ecrecover, Ethereum
//! addresses, X25519 + HKDF + AEAD channels and sealed boxes, keccak/sha256 hashing, the digests
//! the manager contract checks, and replay windows.
