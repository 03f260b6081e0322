//! A homomorphic multiset hash (the lattice-based "LtHash" construction with 1,024 lanes of
//! 16 bits): the hash of a set of items is the lane-wise sum, modulo 2^16, of each item's
//! 2,048-byte SHAKE256 expansion. Adding or removing one item costs one expansion, whatever
//! the size of the set, so a state hash built on it costs what a change costs, not what the
//! state holds.
//!
//! Invariants:
//! - the hash of a multiset does not depend on the order items were added;
//! - `add(x)` then `remove(x)` restores the previous value exactly;
//! - the empty set hashes to all zeros.
//!
//! Security rests on the short-integer-solution problem over these parameters (Bellare and
//! Micciancio's additive hash, with the lane sizes Lewi et al. analysed for LtHash16); items
//! are domain-separated by the caller, so distinct kinds of entry never collide by
//! construction.

use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::Shake256;

/// Number of 16-bit lanes.
pub const LANES: usize = 1024;
/// Bytes of a hash value.
pub const BYTES: usize = LANES * 2;

/// A multiset hash value (lane-wise sums modulo 2^16).
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash {
    lanes: Box<[u16; LANES]>,
}

impl Default for LtHash {
    fn default() -> Self {
        Self {
            lanes: Box::new([0; LANES]),
        }
    }
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head: Vec<u16> = self.lanes.iter().take(4).copied().collect();
        write!(f, "LtHash({head:?}..)")
    }
}

/// The 2,048-byte expansion of one item, given as the parts that are concatenated.
fn expand(parts: &[&[u8]]) -> Box<[u16; LANES]> {
    let mut xof = Shake256::default();
    xof.update(b"pose.lthash16.v1");
    for p in parts {
        xof.update(p);
    }
    let mut reader = xof.finalize_xof();
    let mut bytes = [0u8; BYTES];
    reader.read(&mut bytes);
    let mut lanes = Box::new([0u16; LANES]);
    for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
        *lane = u16::from_le_bytes([pair[0], pair[1]]);
    }
    lanes
}

impl LtHash {
    /// The hash of the empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the item made of `parts` (concatenated; callers put a kind tag and length
    /// prefixes in, so that the concatenation is unambiguous).
    pub fn add(&mut self, parts: &[&[u8]]) {
        let e = expand(parts);
        for (l, x) in self.lanes.iter_mut().zip(e.iter()) {
            *l = l.wrapping_add(*x);
        }
    }

    /// Removes the item made of `parts`; the caller guarantees it was added.
    pub fn remove(&mut self, parts: &[&[u8]]) {
        let e = expand(parts);
        for (l, x) in self.lanes.iter_mut().zip(e.iter()) {
            *l = l.wrapping_sub(*x);
        }
    }

    /// The value as bytes (each lane little-endian, lanes in order).
    pub fn to_bytes(&self) -> [u8; BYTES] {
        let mut out = [0u8; BYTES];
        for (pair, l) in out.chunks_exact_mut(2).zip(self.lanes.iter()) {
            pair.copy_from_slice(&l.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_matter_and_remove_undoes_add() {
        let mut a = LtHash::new();
        a.add(&[b"x", b"1"]);
        a.add(&[b"y", b"2"]);
        let mut b = LtHash::new();
        b.add(&[b"y", b"2"]);
        b.add(&[b"x", b"1"]);
        assert_eq!(a, b);
        b.add(&[b"z"]);
        assert_ne!(a, b);
        b.remove(&[b"z"]);
        assert_eq!(a, b);
        b.remove(&[b"x", b"1"]);
        b.remove(&[b"y", b"2"]);
        assert_eq!(b, LtHash::new());
        assert_eq!(LtHash::new().to_bytes(), [0u8; BYTES]);
    }

    #[test]
    fn distinct_items_give_distinct_hashes() {
        let mut a = LtHash::new();
        a.add(&[b"k", b"v1"]);
        let mut b = LtHash::new();
        b.add(&[b"k", b"v2"]);
        assert_ne!(a.to_bytes(), b.to_bytes());
    }
}
