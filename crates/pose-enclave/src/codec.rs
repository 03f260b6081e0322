//! A small canonical binary encoding for the enclave's wire messages and sealed state.
//!
//! Integers are big-endian and fixed width; byte strings and lists carry a `u32` length prefix;
//! every length is checked against [`crate::limits`] before anything is allocated, so decoding
//! never panics and never allocates more than the input allows.

use pose_types::{Address, ContractId, Epoch, Hash32, Seq};

use crate::limits::MESSAGE_BYTES_MAX;

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("input truncated: needed {needed} more bytes")]
    Truncated {
        /// How many bytes were missing.
        needed: usize,
    },
    /// A length prefix exceeded its limit.
    #[error("length {len} exceeds the limit {max}")]
    TooLong {
        /// The length found.
        len: usize,
        /// The limit for this field.
        max: usize,
    },
    /// An enum tag or version byte is unknown.
    #[error("unknown tag {0} for {1}")]
    UnknownTag(u8, &'static str),
    /// Bytes were left over after the value.
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
    /// A chain transaction's calldata is not a manager call.
    #[error("chain transaction calldata: {0}")]
    Calldata(#[from] crate::abi::AbiError),
}

/// Appends canonical encodings to a byte vector.
#[derive(Default, Debug)]
pub struct Writer {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Writes one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    /// Writes a `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Writes a `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Writes a `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Writes a `u128`.
    pub fn u128(&mut self, v: u128) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Writes fixed-size bytes without a length.
    pub fn fixed(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Writes length-prefixed bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        // Lengths above u32::MAX never occur: every buffer is bounded by MESSAGE_BYTES_MAX.
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.buf.extend_from_slice(v);
        self
    }
    /// Writes an address.
    pub fn addr(&mut self, a: &Address) -> &mut Self {
        self.fixed(&a.0)
    }
    /// Writes a hash.
    pub fn hash(&mut self, h: &Hash32) -> &mut Self {
        self.fixed(&h.0)
    }
    /// Writes a contract id.
    pub fn cid(&mut self, c: ContractId) -> &mut Self {
        self.u64(c.0)
    }
    /// Writes an epoch.
    pub fn epoch(&mut self, e: Epoch) -> &mut Self {
        self.u64(e.0)
    }
    /// Writes a sequence number.
    pub fn seq(&mut self, s: Seq) -> &mut Self {
        self.u64(s.0)
    }
    /// Writes a list length.
    pub fn len(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }
    /// Returns the bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Reads canonical encodings from a byte slice; every method checks bounds.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated {
                needed: n - self.rest.len(),
            });
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    /// Reads a `u16`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    /// Reads a `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// Reads a `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Reads a `u128`.
    pub fn u128(&mut self) -> Result<u128, DecodeError> {
        Ok(u128::from_be_bytes(self.array()?))
    }
    /// Reads 32 fixed bytes.
    pub fn b32(&mut self) -> Result<[u8; 32], DecodeError> {
        self.array()
    }
    /// Reads length-prefixed bytes of at most `max` bytes.
    pub fn bytes_max(&mut self, max: usize) -> Result<Vec<u8>, DecodeError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(DecodeError::TooLong { len, max });
        }
        Ok(self.take(len)?.to_vec())
    }
    /// Reads length-prefixed bytes of at most [`MESSAGE_BYTES_MAX`].
    pub fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        self.bytes_max(MESSAGE_BYTES_MAX)
    }
    /// Reads a list length of at most `max` items.
    pub fn len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let len = self.u32()? as usize;
        if len > max || len > self.rest.len() {
            return Err(DecodeError::TooLong { len, max });
        }
        Ok(len)
    }
    /// Reads an address.
    pub fn addr(&mut self) -> Result<Address, DecodeError> {
        Ok(Address(self.array()?))
    }
    /// Reads a hash.
    pub fn hash(&mut self) -> Result<Hash32, DecodeError> {
        Ok(Hash32(self.array()?))
    }
    /// Reads a contract id.
    pub fn cid(&mut self) -> Result<ContractId, DecodeError> {
        Ok(ContractId(self.u64()?))
    }
    /// Reads an epoch.
    pub fn epoch(&mut self) -> Result<Epoch, DecodeError> {
        Ok(Epoch(self.u64()?))
    }
    /// Reads a sequence number.
    pub fn seq(&mut self) -> Result<Seq, DecodeError> {
        Ok(Seq(self.u64()?))
    }
    /// Fails unless every byte was read.
    pub fn end(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.rest.len()))
        }
    }
}
