//! Word-level Solidity ABI: the encoder of `abi.encodeWithSelector` for the argument kinds the
//! manager's calls use, and a reader of calldata that accepts exactly what the calldata decoder
//! of solc 0.8 (ABI coder v2, `calldata` parameters) accepts for them.
//!
//! Positions are absolute offsets into the calldata, selector included, as in the EVM: the
//! arguments start at [`HEAD_START`], top-level offsets count from there, and the offsets of a
//! `bytes[]`'s elements count from the first element's offset word.
//!
//! What Solidity checks, and so what [`Calldata`] checks:
//! - the head (one word per static argument or offset) is present; trailing bytes are ignored;
//! - `uint8`..`uint64` and `address` words have zero high bytes; `uint256` and `bytes32` words
//!   are taken as they are;
//! - a top-level offset is at most `2^64 - 1`, the length word it points to lies inside the
//!   calldata, the length is at most `2^64 - 1` and the value's bytes (without the zero padding
//!   of the last word) lie inside the calldata; any offset in bounds is accepted, also one that
//!   points into the head or shares bytes with another value;
//! - an element of a `bytes[]` is found as solc's `access_calldata_tail` finds it: its offset
//!   word is a two's-complement 256-bit number, so it may also point backwards (even into the
//!   selector), and an offset so negative that it leaves the calldata reads the EVM's zeros
//!   past the end: an empty `bytes`.
//!
//! Nothing here allocates more than the calldata's length justifies: every length is checked
//! against the bytes present before anything is copied.

use super::AbiError;

/// One ABI word.
pub type Word = [u8; 32];

/// Where the arguments start: after the 4-byte selector.
pub const HEAD_START: usize = 4;

/// An argument of [`encode_call`].
pub enum Arg<'a> {
    /// A static word (an integer, an address, a `bytes32`, a field of a static tuple).
    Word(Word),
    /// `bytes`.
    Bytes(&'a [u8]),
    /// `bytes[]`.
    BytesArray(&'a [Vec<u8>]),
    /// `T[]` of a static one-word `T` (`address[]`, `uint256[]`).
    Words(Vec<Word>),
}

/// The word of an unsigned integer (`uint8` to `uint256` alike).
pub fn uint(v: u128) -> Word {
    let mut w = [0u8; 32];
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

/// The word of an address: left-padded with zeros.
pub fn address(a: &[u8; 20]) -> Word {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

fn pad_len(n: usize) -> usize {
    n.div_ceil(32) * 32
}

fn push_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&uint(b.len() as u128));
    out.extend_from_slice(b);
    out.resize(out.len() + pad_len(b.len()) - b.len(), 0);
}

/// The size of an argument's tail (0 for a static word).
fn tail_len(arg: &Arg<'_>) -> usize {
    match arg {
        Arg::Word(_) => 0,
        Arg::Bytes(b) => 32 + pad_len(b.len()),
        Arg::BytesArray(items) => {
            32 + items
                .iter()
                .map(|b| 32 + 32 + pad_len(b.len()))
                .sum::<usize>()
        }
        Arg::Words(ws) => 32 + 32 * ws.len(),
    }
}

/// `abi.encodeWithSelector(selector, args...)`: the head (static words in place, an offset for
/// each dynamic argument), then the dynamic arguments' tails in order, each padded to whole
/// words with zeros.
pub fn encode_call(selector: [u8; 4], args: &[Arg<'_>]) -> Vec<u8> {
    let head = 32 * args.len();
    let total = HEAD_START + head + args.iter().map(tail_len).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&selector);
    let mut next_tail = head;
    for arg in args {
        match arg {
            Arg::Word(w) => out.extend_from_slice(w),
            dynamic => {
                out.extend_from_slice(&uint(next_tail as u128));
                next_tail += tail_len(dynamic);
            }
        }
    }
    for arg in args {
        match arg {
            Arg::Word(_) => {}
            Arg::Bytes(b) => push_bytes(&mut out, b),
            Arg::BytesArray(items) => {
                out.extend_from_slice(&uint(items.len() as u128));
                // Element offsets count from the first offset word.
                let mut next = 32 * items.len();
                for b in items.iter() {
                    out.extend_from_slice(&uint(next as u128));
                    next += 32 + pad_len(b.len());
                }
                for b in items.iter() {
                    push_bytes(&mut out, b);
                }
            }
            Arg::Words(ws) => {
                out.extend_from_slice(&uint(ws.len() as u128));
                for w in ws {
                    out.extend_from_slice(w);
                }
            }
        }
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// `word` as an unsigned number if it is below `2^64`.
fn word_u64(w: &Word) -> Option<u64> {
    if w[..24].iter().any(|&b| b != 0) {
        return None;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&w[24..]);
    Some(u64::from_be_bytes(low))
}

/// `word` as a two's-complement 256-bit number, clamped to `±2^100`. Every quantity it is
/// compared with or added to is below `2^66` in magnitude, so the clamp changes no outcome.
fn word_i128_clamped(w: &Word) -> i128 {
    const CLAMP: i128 = 1 << 100;
    let negative = w[0] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0x00 };
    if w[..16].iter().any(|&b| b != fill) {
        return if negative { -CLAMP } else { CLAMP };
    }
    let mut low = [0u8; 16];
    low.copy_from_slice(&w[16..]);
    let v = i128::from_be_bytes(low);
    // The sign of the 128-bit value must agree with the 256-bit one.
    if (v < 0) != negative {
        return if negative { -CLAMP } else { CLAMP };
    }
    v.clamp(-CLAMP, CLAMP)
}

/// The calldata of one call, read the way the manager's decoder reads it.
pub struct Calldata<'a> {
    data: &'a [u8],
}

impl<'a> Calldata<'a> {
    /// The calldata of a call whose head has `head_words` words (the selector is not checked
    /// here).
    pub fn new(data: &'a [u8], head_words: usize) -> Result<Self, AbiError> {
        let need = HEAD_START + 32 * head_words;
        if data.len() < need {
            return Err(AbiError::ShortHead {
                need,
                have: data.len(),
            });
        }
        Ok(Self { data })
    }

    /// The `i`-th head word.
    pub fn head(&self, i: usize) -> &'a Word {
        let at = HEAD_START + 32 * i;
        self.data[at..at + 32]
            .try_into()
            .expect("the head length was checked in Calldata::new")
    }

    /// A `uint<bits>` head word (`bits` at most 64): its high bytes must be zero.
    pub fn uint(&self, i: usize, bits: u32, what: &'static str) -> Result<u64, AbiError> {
        narrow(self.head(i), bits, what)
    }

    /// An `address` head word: its 12 high bytes must be zero.
    pub fn address(&self, i: usize, what: &'static str) -> Result<[u8; 20], AbiError> {
        word_address(self.head(i), what)
    }

    /// A `bytes32` head word.
    pub fn bytes32(&self, i: usize) -> [u8; 32] {
        *self.head(i)
    }

    /// The position and length of a top-level dynamic argument whose offset is head word `i`:
    /// `stride` bytes per element (1 for `bytes`, 32 for arrays).
    fn top_level(
        &self,
        i: usize,
        stride: u64,
        what: &'static str,
    ) -> Result<(usize, usize), AbiError> {
        // if gt(offset, 0xffffffffffffffff) { revert }
        let offset = word_u64(self.head(i)).ok_or(AbiError::OffsetOutOfRange { what })?;
        // The length word must lie inside the calldata.
        let at = (HEAD_START as u128) + u128::from(offset);
        if at + 32 > self.data.len() as u128 {
            return Err(AbiError::OffsetOutOfRange { what });
        }
        let at = at as usize;
        self.value_at(at, stride, what)
    }

    /// The value whose length word is at `at` (inside the calldata): its length must be at most
    /// `2^64 - 1` and its `length * stride` bytes must lie inside the calldata.
    fn value_at(
        &self,
        at: usize,
        stride: u64,
        what: &'static str,
    ) -> Result<(usize, usize), AbiError> {
        let len_word: Word = self.data[at..at + 32]
            .try_into()
            .expect("the length word was checked to be inside the calldata");
        let len = word_u64(&len_word).ok_or(AbiError::LengthOutOfRange { what })?;
        let start = at + 32;
        let end = (start as u128) + u128::from(len) * u128::from(stride);
        if end > self.data.len() as u128 {
            return Err(AbiError::LengthOutOfRange { what });
        }
        Ok((start, len as usize))
    }

    /// A top-level `bytes` argument.
    pub fn bytes(&self, i: usize, what: &'static str) -> Result<&'a [u8], AbiError> {
        let (start, len) = self.top_level(i, 1, what)?;
        Ok(&self.data[start..start + len])
    }

    /// The element words of a top-level `T[]` argument with a one-word `T`.
    pub fn words(&self, i: usize, what: &'static str) -> Result<Vec<&'a Word>, AbiError> {
        let (start, len) = self.top_level(i, 32, what)?;
        Ok(self.data[start..start + 32 * len]
            .chunks_exact(32)
            .map(|c| c.try_into().expect("chunks of 32 bytes"))
            .collect())
    }

    /// A top-level `bytes[]` argument, each element found as solc's `access_calldata_tail`
    /// finds it.
    pub fn bytes_array(&self, i: usize, what: &'static str) -> Result<Vec<&'a [u8]>, AbiError> {
        let (base, len) = self.top_level(i, 32, what)?;
        let mut items = Vec::with_capacity(len);
        for k in 0..len {
            items.push(self.tail_bytes(base, base + 32 * k, what)?);
        }
        Ok(items)
    }

    /// solc's `access_calldata_tail` for a `bytes` element: `base` is the position of the first
    /// element's offset word, `ptr` that of this element's (both inside the calldata).
    fn tail_bytes(
        &self,
        base: usize,
        ptr: usize,
        what: &'static str,
    ) -> Result<&'a [u8], AbiError> {
        let size = self.data.len() as i128;
        let base_i = base as i128;
        let ptr_word: Word = self.data[ptr..ptr + 32]
            .try_into()
            .expect("the element's offset word was checked to be inside the calldata");
        let rel = word_i128_clamped(&ptr_word);
        // if iszero(slt(rel, sub(sub(calldatasize(), base), 31))) { revert }
        if rel >= size - base_i - 31 {
            return Err(AbiError::OffsetOutOfRange { what });
        }
        // addr := add(base, rel): a negative sum is a position 2^256 - |sum|, past the end of
        // the calldata, where calldataload reads zeros: a length of 0, which the final check
        // (sgt(add(addr, 32), sub(calldatasize(), 0))) never refuses for such an address.
        let at = base_i + rel;
        if at < 0 {
            return Ok(&[]);
        }
        // Here `at + 32 <= size`: a non-negative `rel` is below `size - base - 31`, and a
        // negative one points before `base`, whose own offset word is inside the calldata.
        self.value_at(at as usize, 1, what)
            .map(|(start, len)| &self.data[start..start + len])
    }
}

/// A `uint<bits>` word (`bits` at most 64).
pub fn narrow(w: &Word, bits: u32, what: &'static str) -> Result<u64, AbiError> {
    let v = word_u64(w).ok_or(AbiError::DirtyHighBits { what, bits })?;
    if bits < 64 && v >> bits != 0 {
        return Err(AbiError::DirtyHighBits { what, bits });
    }
    Ok(v)
}

/// An `address` word.
pub fn word_address(w: &Word, what: &'static str) -> Result<[u8; 20], AbiError> {
    if w[..12].iter().any(|&b| b != 0) {
        return Err(AbiError::DirtyHighBits { what, bits: 160 });
    }
    let mut a = [0u8; 20];
    a.copy_from_slice(&w[12..]);
    Ok(a)
}

/// A `uint256` word as a `u128`, if it fits.
pub fn word_u128(w: &Word) -> Option<u128> {
    if w[..16].iter().any(|&b| b != 0) {
        return None;
    }
    let mut low = [0u8; 16];
    low.copy_from_slice(&w[16..]);
    Some(u128::from_be_bytes(low))
}
