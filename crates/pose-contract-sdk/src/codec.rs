//! Little-endian binary encoding for inputs, outputs and storage values, and the contract error
//! type. Decoding never panics: short or malformed input gives an [`Error`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use crate::interface::Type;

/// A 20-byte address of a user (the same bytes as the user's Ethereum address).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 20]);

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a contract call fails. Returning it from an entry point aborts the call and discards
/// every change; the message reaches the caller through the runtime's error.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        Error(msg.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error(String::from(s))
    }
}

/// Reads values from the front of a byte slice.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.buf.len() < n {
            return Err(Error::new(alloc::format!(
                "input too short: wanted {n} more bytes, {} left",
                self.buf.len()
            )));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<(), Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::new(alloc::format!(
                "{} unexpected trailing input bytes",
                self.buf.len()
            )))
        }
    }

    /// The next value of type `T`.
    pub fn read<T: Value>(&mut self) -> Result<T, Error> {
        T::read(self)
    }

    /// A `u32` length prefix followed by that many bytes.
    pub fn len_prefixed(&mut self) -> Result<&'a [u8], Error> {
        let n = self.read::<u32>()? as usize;
        self.bytes(n)
    }
}

/// Appends values to a byte vector.
#[derive(Clone, Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer::default()
    }

    /// Appends a value.
    pub fn put<T: Value>(&mut self, v: &T) -> &mut Self {
        v.write(&mut self.buf);
        self
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// Appends a `u32` length prefix and the bytes.
    pub fn len_prefixed(&mut self, b: &[u8]) -> &mut Self {
        self.put(&(b.len() as u32)).bytes(b)
    }

    /// The bytes written.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// A value with a fixed binary encoding (little-endian integers), used for inputs, outputs
/// and typed storage.
pub trait Value: Sized {
    /// How the type appears in a contract's interface (it names the encoding).
    const TYPE: Type;

    /// Appends the encoding of `self`.
    fn write(&self, out: &mut Vec<u8>);
    /// Reads one value from the front of `r`.
    fn read(r: &mut Reader<'_>) -> Result<Self, Error>;

    /// The encoding of `self`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v);
        v
    }

    /// Decodes a value that must use all of `bytes`.
    fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

macro_rules! int_value {
    ($($t:ty = $ty:ident),*) => {$(
        impl Value for $t {
            const TYPE: Type = Type::$ty;
            fn write(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
                Ok(<$t>::from_le_bytes(r.array()?))
            }
        }
    )*};
}

int_value!(
    u8 = U8,
    u16 = U16,
    u32 = U32,
    u64 = U64,
    u128 = U128,
    i32 = I32,
    i64 = I64,
    f32 = F32,
    f64 = F64
);

/// Encodes to no bytes: the result of a method that returns nothing.
impl Value for () {
    const TYPE: Type = Type::Unit;
    fn write(&self, _out: &mut Vec<u8>) {}
    fn read(_r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(())
    }
}

impl Value for bool {
    const TYPE: Type = Type::Bool;
    fn write(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        match r.read::<u8>()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(Error::new(alloc::format!("invalid bool byte {b}"))),
        }
    }
}

impl Value for Address {
    const TYPE: Type = Type::Address;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Address(r.array()?))
    }
}

impl<const N: usize> Value for [u8; N] {
    const TYPE: Type = Type::FixedBytes(N);
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        r.array()
    }
}

/// Byte vectors are length-prefixed (`u32`).
impl Value for Vec<u8> {
    const TYPE: Type = Type::Bytes;
    fn write(&self, out: &mut Vec<u8>) {
        (self.len() as u32).write(out);
        out.extend_from_slice(self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(r.len_prefixed()?.to_vec())
    }
}

/// A pair encodes as its two values one after the other; its interface type is a struct with
/// fields `0` and `1`.
impl<A: Value, B: Value> Value for (A, B) {
    const TYPE: Type = Type::Struct {
        name: "",
        fields: &[
            crate::interface::Field {
                name: "0",
                ty: A::TYPE,
            },
            crate::interface::Field {
                name: "1",
                ty: B::TYPE,
            },
        ],
    };
    fn write(&self, out: &mut Vec<u8>) {
        self.0.write(out);
        self.1.write(out);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok((A::read(r)?, B::read(r)?))
    }
}

/// `None` encodes to no bytes at all and `Some(v)` as `v`, so an `Option` is only decodable
/// as the last value of an input or output (a method's last argument or its result): reading
/// gives `None` exactly when nothing is left.
impl<T: Value> Value for Option<T> {
    const TYPE: Type = Type::Optional(&T::TYPE);
    fn write(&self, out: &mut Vec<u8>) {
        if let Some(v) = self {
            v.write(out);
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        if r.remaining() == 0 {
            Ok(None)
        } else {
            T::read(r).map(Some)
        }
    }
}

/// A value of fixed size, the element type of [`Rest`].
pub trait Fixed: Value {
    /// Its encoded size in bytes.
    const SIZE: usize;
}

macro_rules! fixed {
    ($($t:ty = $n:expr),*) => {$(
        impl Fixed for $t {
            const SIZE: usize = $n;
        }
    )*};
}

fixed!(
    u8 = 1,
    u16 = 2,
    u32 = 4,
    u64 = 8,
    u128 = 16,
    i32 = 4,
    i64 = 8,
    f32 = 4,
    f64 = 8
);
fixed!(bool = 1, Address = 20);

/// Elements of type `T` up to the end of the input (or output), without a length prefix: the
/// last argument or field only. Kept as the encoded bytes, so a contract can store or stream
/// a large vector (a model update) without decoding it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Rest<T> {
    bytes: Vec<u8>,
    _t: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Rest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rest({} bytes)", self.bytes.len())
    }
}

impl<T: Fixed> Rest<T> {
    /// Encoded elements; fails unless the length is a multiple of the element size.
    pub fn from_encoded(bytes: Vec<u8>) -> Result<Self, Error> {
        if !bytes.len().is_multiple_of(T::SIZE) {
            return Err(Error::new(alloc::format!(
                "{} bytes are not a whole number of {}-byte elements",
                bytes.len(),
                T::SIZE
            )));
        }
        Ok(Rest {
            bytes,
            _t: PhantomData,
        })
    }

    /// The elements, encoded.
    pub fn encoded(&self) -> &[u8] {
        &self.bytes
    }

    /// The elements, encoded, by value.
    pub fn into_encoded(self) -> Vec<u8> {
        self.bytes
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len() / T::SIZE
    }

    /// True without elements.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl<T: Fixed> From<&[T]> for Rest<T> {
    fn from(items: &[T]) -> Self {
        let mut bytes = Vec::with_capacity(items.len() * T::SIZE);
        for x in items {
            x.write(&mut bytes);
        }
        Rest {
            bytes,
            _t: PhantomData,
        }
    }
}

impl<T: Fixed> Value for Rest<T> {
    const TYPE: Type = Type::Rest(&T::TYPE);
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.bytes);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Rest::from_encoded(r.rest().to_vec())
    }
}

/// Declares a struct whose fields encode one after the other (in declaration order) and
/// implements [`Value`] for it, with an interface type that names every field. Use it for
/// results with several values and for structured storage values.
///
/// ```text
/// value_struct! {
///     /// An escrow.
///     pub struct Escrow { pub payer: Address, pub amount: u128, pub open: bool }
/// }
/// ```
#[macro_export]
macro_rules! value_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $fty, )*
        }

        impl $crate::Value for $name {
            const TYPE: $crate::interface::Type = $crate::interface::Type::Struct {
                name: ::core::stringify!($name),
                fields: &[
                    $( $crate::interface::Field {
                        name: ::core::stringify!($field),
                        ty: <$fty as $crate::Value>::TYPE,
                    }, )*
                ],
            };
            fn write(&self, out: &mut $crate::__private::Vec<u8>) {
                $( $crate::Value::write(&self.$field, out); )*
            }
            fn read(r: &mut $crate::Reader<'_>) -> ::core::result::Result<Self, $crate::Error> {
                ::core::result::Result::Ok($name {
                    $( $field: r.read()?, )*
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut w = Writer::new();
        w.put(&7u32)
            .put(&u128::MAX)
            .put(&Address([9; 20]))
            .put(&true)
            .put(&1.5f32);
        w.put(&alloc::vec![1u8, 2, 3]);
        let bytes = w.into_vec();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.read::<u32>().unwrap(), 7);
        assert_eq!(r.read::<u128>().unwrap(), u128::MAX);
        assert_eq!(r.read::<Address>().unwrap(), Address([9; 20]));
        assert!(r.read::<bool>().unwrap());
        assert_eq!(r.read::<f32>().unwrap(), 1.5);
        assert_eq!(r.read::<Vec<u8>>().unwrap(), alloc::vec![1, 2, 3]);
        r.finish().unwrap();
    }

    #[test]
    fn short_and_trailing_input_are_errors() {
        assert!(u64::from_bytes(&[1, 2, 3]).is_err());
        assert!(u8::from_bytes(&[1, 2]).is_err());
        assert!(bool::from_bytes(&[2]).is_err());
        assert!(Vec::<u8>::from_bytes(&[255, 255, 255, 255]).is_err());
    }
}
