//! keccak256 (Ethereum's) and sha256.

use pose_types::Hash32;
use sha2::Sha256;
use sha3::{Digest, Keccak256};

/// keccak256 of `data`, as Solidity's `keccak256`.
pub fn keccak256(data: impl AsRef<[u8]>) -> Hash32 {
    Hash32(Keccak256::digest(data.as_ref()).into())
}

/// keccak256 of the concatenation of `parts`.
pub fn keccak256_concat(parts: &[&[u8]]) -> Hash32 {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    Hash32(h.finalize().into())
}

/// sha256 of `data`.
pub fn sha256(data: impl AsRef<[u8]>) -> Hash32 {
    Hash32(Sha256::digest(data.as_ref()).into())
}

/// sha256 of the concatenation of `parts`.
pub fn sha256_concat(parts: &[&[u8]]) -> Hash32 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash32(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // keccak256("") and sha256("abc") from their specifications.
        assert_eq!(
            keccak256(b"").0.to_vec(),
            hex::decode("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
                .unwrap()
        );
        assert_eq!(
            sha256(b"abc").0.to_vec(),
            hex::decode("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
                .unwrap()
        );
        assert_eq!(keccak256_concat(&[b"ab", b"c"]), keccak256(b"abc"));
        assert_eq!(sha256_concat(&[b"a", b"bc"]), sha256(b"abc"));
    }
}
