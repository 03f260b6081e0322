//! The canonical binary encoding.
//!
//! Rules (docs/encoding.md gives the full picture):
//! - integers are fixed-width big-endian; `bool` is one byte, 0 or 1;
//! - fixed-size byte arrays are written as they are;
//! - variable-length bytes and lists carry a `u32` big-endian length (bytes) or count (items)
//!   prefix, and every such field has a maximum ([`crate::limits`]);
//! - `Option<T>` is a tag byte 0 (none) or 1 (some) followed by `T`;
//! - enums are a tag byte followed by the variant's fields; unknown tags are refused;
//! - a top-level decode refuses trailing bytes.
//!
//! So every value has exactly one encoding, and decoding any byte string either returns the
//! value whose encoding it is or a [`DecodeError`]; it never panics and never allocates more
//! than the input length justifies.

use crate::ids::{Address, Amount, ContractId, EncPublicKey, Epoch, Hash32, Seq, SignatureBytes};

/// Why a byte string is not the encoding of a value. The sender is at fault: reject the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("input ends early: needed {needed} more bytes, {remaining} left")]
    UnexpectedEnd {
        /// Bytes the next field needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// Bytes were left after a complete value; a canonical encoding has none.
    #[error("{count} trailing bytes after a complete value")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// A length or count prefix exceeds the field's maximum.
    #[error("{what}: length {len} exceeds the maximum {max}")]
    TooLong {
        /// Which kind of field.
        what: &'static str,
        /// The length or count the input claimed.
        len: u64,
        /// The field's maximum.
        max: usize,
    },
    /// A tag byte (enum variant, option, bool) has no meaning.
    #[error("{what}: invalid tag {tag}")]
    InvalidTag {
        /// Which kind of field.
        what: &'static str,
        /// The tag found.
        tag: u64,
    },
    /// The entries of a map or set are not in strictly increasing key order (an encoding
    /// writes them in order, each key once).
    #[error("{what}: entries not in strictly increasing key order")]
    Unordered {
        /// Which kind of field.
        what: &'static str,
    },
    /// The message was written for a wire version this code does not read.
    #[error("unsupported wire version {got}; this build reads version {supported}")]
    UnsupportedVersion {
        /// The version byte found.
        got: u8,
        /// The version this build reads.
        supported: u8,
    },
}

/// A cursor over the input of a decode.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `input` from its first byte.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.input.len()
    }

    /// Consumes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.input.len() {
            return Err(DecodeError::UnexpectedEnd {
                needed: n,
                remaining: self.input.len(),
            });
        }
        let (head, tail) = self.input.split_at(n);
        self.input = tail;
        Ok(head)
    }

    /// Consumes the next `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads a `u32` length prefix and checks it against `max` and the remaining input.
    /// `min_item_bytes` is the smallest encoding of one item (1 for bytes), so a count that
    /// could not possibly fit in the input is refused before anything is allocated.
    pub fn length_prefix(
        &mut self,
        what: &'static str,
        max: usize,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let len = u32::decode_from(self)? as usize;
        if len > max {
            return Err(DecodeError::TooLong {
                what,
                len: len as u64,
                max,
            });
        }
        let needed = len.saturating_mul(min_item_bytes.max(1));
        if needed > self.remaining() {
            return Err(DecodeError::UnexpectedEnd {
                needed,
                remaining: self.remaining(),
            });
        }
        Ok(len)
    }

    /// Reads a `u32` length prefix of at most `max` bytes and consumes that many bytes: the
    /// decoding of a variable-length byte field kept as a plain slice or `Vec<u8>` (the
    /// counterpart of [`encode_bytes`]).
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.length_prefix(what, max, 1)?;
        self.take(len)
    }

    /// Reads a `u32` item count of at most `max` items, each at least `min_item_bytes` long
    /// (the counterpart of [`encode_count`]); the items follow.
    pub fn count(
        &mut self,
        what: &'static str,
        max: usize,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        self.length_prefix(what, max, min_item_bytes)
    }

    /// Succeeds only if the whole input was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                count: self.input.len(),
            })
        }
    }
}

/// Appends `bytes` with its `u32` length prefix: the encoding of a variable-length byte field
/// kept as a plain `Vec<u8>` (its decoder, [`Reader::bytes`], checks the field's maximum).
///
/// # Panics
/// If `bytes` is longer than `u32::MAX`; every field maximum in [`crate::limits`] is far
/// below that, so such a value could never be decoded anyway.
pub fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    encode_count(bytes.len(), out);
    out.extend_from_slice(bytes);
}

/// Appends the `u32` item count of a list (the items follow, encoded one after another).
///
/// # Panics
/// If `count` exceeds `u32::MAX` (see [`encode_bytes`]).
pub fn encode_count(count: usize, out: &mut Vec<u8>) {
    let count = u32::try_from(count).expect("a length prefix fits in u32");
    count.encode_to(out);
}

/// A value with a canonical encoding.
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// The encoding of `self`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// A value that can be read back from its canonical encoding.
pub trait Decode: Sized {
    /// The fewest bytes any encoding of this type takes (used to refuse impossible counts).
    const MIN_ENCODED_BYTES: usize;

    /// Reads one value from `r`, leaving the rest of the input.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a complete value; refuses trailing bytes.
    fn from_bytes(input: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input);
        let v = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
        impl Decode for $t {
            const MIN_ENCODED_BYTES: usize = core::mem::size_of::<$t>();
            fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_be_bytes(r.take_array()?))
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64, u128);

impl Encode for bool {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    const MIN_ENCODED_BYTES: usize = 1;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::InvalidTag {
                what: "bool",
                tag: tag.into(),
            }),
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<const N: usize> Decode for [u8; N] {
    const MIN_ENCODED_BYTES: usize = N;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.take_array()
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode_to(out);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    const MIN_ENCODED_BYTES: usize = 1;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(None),
            1 => Ok(Some(T::decode_from(r)?)),
            tag => Err(DecodeError::InvalidTag {
                what: "option",
                tag: tag.into(),
            }),
        }
    }
}

macro_rules! newtype_codec {
    ($($t:ident($inner:ty)),*) => {$(
        impl Encode for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                self.0.encode_to(out);
            }
        }
        impl Decode for $t {
            const MIN_ENCODED_BYTES: usize = <$inner as Decode>::MIN_ENCODED_BYTES;
            fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($t(<$inner>::decode_from(r)?))
            }
        }
    )*};
}
newtype_codec!(
    Address([u8; 20]),
    Hash32([u8; 32]),
    ContractId(u64),
    Epoch(u64),
    Seq(u64),
    Amount(u128),
    SignatureBytes([u8; 65]),
    EncPublicKey([u8; 32])
);

/// Bytes whose length is at most `MAX`, encoded with a `u32` length prefix.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BoundedBytes<const MAX: usize>(Vec<u8>);

/// Bytes longer than their field allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes exceed the field maximum of {max}")]
pub struct TooLong {
    /// The length given.
    pub len: usize,
    /// The field's maximum.
    pub max: usize,
}

impl<const MAX: usize> BoundedBytes<MAX> {
    /// The field's maximum length in bytes.
    pub const MAX: usize = MAX;

    /// Wraps `bytes` if it is at most `MAX` long.
    pub fn new(bytes: Vec<u8>) -> Result<Self, TooLong> {
        if bytes.len() > MAX {
            Err(TooLong {
                len: bytes.len(),
                max: MAX,
            })
        } else {
            Ok(Self(bytes))
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Unwraps the bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const MAX: usize> TryFrom<Vec<u8>> for BoundedBytes<MAX> {
    type Error = TooLong;
    fn try_from(v: Vec<u8>) -> Result<Self, TooLong> {
        Self::new(v)
    }
}

impl<const MAX: usize> TryFrom<&[u8]> for BoundedBytes<MAX> {
    type Error = TooLong;
    fn try_from(v: &[u8]) -> Result<Self, TooLong> {
        Self::new(v.to_vec())
    }
}

impl<const MAX: usize> AsRef<[u8]> for BoundedBytes<MAX> {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl<const MAX: usize> core::fmt::Debug for BoundedBytes<MAX> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Ciphertexts and code can be large: show the length and a short prefix only.
        write!(f, "{} bytes 0x", self.0.len())?;
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        if self.0.len() > 8 {
            f.write_str("..")?;
        }
        Ok(())
    }
}

impl<const MAX: usize> Encode for BoundedBytes<MAX> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        // `new` keeps len <= MAX, and every MAX in `limits` is below u32::MAX.
        let len = u32::try_from(self.0.len()).expect("bounded length fits in u32");
        len.encode_to(out);
        out.extend_from_slice(&self.0);
    }
}

impl<const MAX: usize> Decode for BoundedBytes<MAX> {
    const MIN_ENCODED_BYTES: usize = 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.length_prefix("bytes", MAX, 1)?;
        Ok(Self(r.take(len)?.to_vec()))
    }
}

/// A list of at most `MAX` items, encoded as a `u32` count followed by the items in order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct BoundedVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> Default for BoundedVec<T, MAX> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    /// The list's maximum number of items.
    pub const MAX: usize = MAX;

    /// Wraps `items` if there are at most `MAX` of them.
    pub fn new(items: Vec<T>) -> Result<Self, TooLong> {
        if items.len() > MAX {
            Err(TooLong {
                len: items.len(),
                max: MAX,
            })
        } else {
            Ok(Self(items))
        }
    }

    /// Appends an item if the list is not full; gives it back otherwise.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.0.len() >= MAX {
            Err(item)
        } else {
            self.0.push(item);
            Ok(())
        }
    }

    /// The items.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// Unwraps the items.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no items.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the items.
    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<T, const MAX: usize> TryFrom<Vec<T>> for BoundedVec<T, MAX> {
    type Error = TooLong;
    fn try_from(v: Vec<T>) -> Result<Self, TooLong> {
        Self::new(v)
    }
}

impl<T: Encode, const MAX: usize> Encode for BoundedVec<T, MAX> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        let count = u32::try_from(self.0.len()).expect("bounded count fits in u32");
        count.encode_to(out);
        for item in &self.0 {
            item.encode_to(out);
        }
    }
}

impl<T: Decode, const MAX: usize> Decode for BoundedVec<T, MAX> {
    const MIN_ENCODED_BYTES: usize = 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.length_prefix("list", MAX, T::MIN_ENCODED_BYTES)?;
        // `length_prefix` checked that `count` items can fit in the remaining input.
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(T::decode_from(r)?);
        }
        Ok(Self(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian_fixed_width() {
        assert_eq!(0x0102u16.to_bytes(), [1, 2]);
        assert_eq!(7u64.to_bytes(), [0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(u64::from_bytes(&[0, 0, 0, 0, 0, 0, 0, 7]), Ok(7));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        assert_eq!(
            u32::from_bytes(&[0, 0, 0, 1, 9]),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn bool_and_option_tags_are_strict() {
        assert!(matches!(
            bool::from_bytes(&[2]),
            Err(DecodeError::InvalidTag { what: "bool", .. })
        ));
        assert!(matches!(
            Option::<u8>::from_bytes(&[2, 0]),
            Err(DecodeError::InvalidTag { what: "option", .. })
        ));
        assert_eq!(Option::<u8>::from_bytes(&[1, 5]), Ok(Some(5)));
    }

    #[test]
    fn lengths_over_the_field_maximum_are_refused_before_reading() {
        let enc = [0, 0, 0, 5, 1, 2, 3, 4, 5];
        assert_eq!(
            BoundedBytes::<4>::from_bytes(&enc),
            Err(DecodeError::TooLong {
                what: "bytes",
                len: 5,
                max: 4
            })
        );
        assert!(BoundedBytes::<5>::from_bytes(&enc).is_ok());
        assert!(BoundedBytes::<4>::new(vec![0; 5]).is_err());
    }

    #[test]
    fn counts_that_cannot_fit_in_the_input_are_refused_without_allocating() {
        // Claims 1000 u64 items but carries none.
        let enc = [0, 0, 3, 0xe8];
        assert_eq!(
            BoundedVec::<u64, 100_000>::from_bytes(&enc),
            Err(DecodeError::UnexpectedEnd {
                needed: 8000,
                remaining: 0
            })
        );
    }
}
