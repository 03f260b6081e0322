//! What the typed bindings of `pose-client-macros` (`contract_client!`) build on: the contract
//! encoding of Rust values (the same bytes as `pose-contract-sdk`'s `Value`), the typed call
//! and query through [`PoseClient`], and their error.

pub use pose_types::{Address, ContractId};

use crate::{Answer, ClientError, PoseClient};

/// Why a typed call failed.
#[derive(Debug, thiserror::Error)]
pub enum TypedError {
    /// The request did not get through (chain, nodes, pool); nothing is known about its effect
    /// beyond what the error says.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The contract refused the call: its state is unchanged.
    #[error("the contract refused {method}: {message}")]
    Contract {
        /// The method.
        method: &'static str,
        /// `aborted` (the contract's own error) or `runtime` (fuel, a limit, a trap).
        kind: &'static str,
        /// The contract's message.
        message: String,
    },
    /// The contract answered bytes that are not the method's result: the bindings were made
    /// for other code.
    #[error("{method} answered 0x{output}, which is not its result type: {why}")]
    BadOutput {
        /// The method.
        method: &'static str,
        /// The output, hex.
        output: String,
        /// What did not decode.
        why: String,
    },
    /// The contract runs other code than the bindings were generated from.
    #[error(
        "contract {cid} runs code 0x{deployed}, the bindings were generated from code 0x{expected}; \
         regenerate them from the deployed .wasm"
    )]
    OtherCode {
        /// The contract.
        cid: u64,
        /// Its on-chain code hash, hex.
        deployed: String,
        /// The hash of the file the bindings came from, hex.
        expected: String,
    },
}

/// A value in the contract encoding (little-endian integers; see docs/contracts.md).
pub trait Codec: Sized {
    /// Appends the encoding.
    fn write(&self, out: &mut Vec<u8>);
    /// Reads one value from the front of `input`.
    fn read(input: &mut &[u8]) -> Result<Self, String>;
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if input.len() < n {
        return Err(format!("{n} bytes wanted, {} left", input.len()));
    }
    let (h, t) = input.split_at(n);
    *input = t;
    Ok(h)
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn write(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read(input: &mut &[u8]) -> Result<Self, String> {
                let b = take(input, std::mem::size_of::<$t>())?;
                Ok(<$t>::from_le_bytes(b.try_into().map_err(|_| "size")?))
            }
        }
    )*};
}

int_codec!(u8, u16, u32, u64, u128, i32, i64, f32, f64);

impl Codec for () {
    fn write(&self, _out: &mut Vec<u8>) {}
    fn read(_input: &mut &[u8]) -> Result<Self, String> {
        Ok(())
    }
}

impl Codec for bool {
    fn write(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn read(input: &mut &[u8]) -> Result<Self, String> {
        match take(input, 1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("invalid bool byte {b}")),
        }
    }
}

impl Codec for Address {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn read(input: &mut &[u8]) -> Result<Self, String> {
        Ok(Address(take(input, 20)?.try_into().map_err(|_| "size")?))
    }
}

impl<const N: usize> Codec for [u8; N] {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn read(input: &mut &[u8]) -> Result<Self, String> {
        take(input, N)?.try_into().map_err(|_| "size".into())
    }
}

/// Length-prefixed bytes (`bytes` in the interface).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Codec for Bytes {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.0);
    }
    fn read(input: &mut &[u8]) -> Result<Self, String> {
        let n = u32::read(input)? as usize;
        Ok(Bytes(take(input, n)?.to_vec()))
    }
}

/// Elements up to the end (`rest` in the interface): only last.
impl<T: Codec> Codec for Vec<T> {
    fn write(&self, out: &mut Vec<u8>) {
        for x in self {
            x.write(out);
        }
    }
    fn read(input: &mut &[u8]) -> Result<Self, String> {
        let mut v = Vec::new();
        while !input.is_empty() {
            let before = input.len();
            v.push(T::read(input)?);
            if input.len() == before {
                return Err("an element of no bytes cannot end a rest of elements".into());
            }
        }
        Ok(v)
    }
}

/// A value or no bytes (`optional` in the interface): only last.
impl<T: Codec> Codec for Option<T> {
    fn write(&self, out: &mut Vec<u8>) {
        if let Some(x) = self {
            x.write(out);
        }
    }
    fn read(input: &mut &[u8]) -> Result<Self, String> {
        if input.is_empty() {
            Ok(None)
        } else {
            T::read(input).map(Some)
        }
    }
}

/// The result of `method` from a contract's answer: the decoded value, or the contract's
/// error (an output `error: ...` that is not a value of `T`).
pub fn decode_answer<T: Codec>(method: &'static str, answer: &Answer) -> Result<T, TypedError> {
    let mut rest = answer.output.as_slice();
    let decoded = T::read(&mut rest).and_then(|v| {
        if rest.is_empty() {
            Ok(v)
        } else {
            Err(format!("{} trailing bytes", rest.len()))
        }
    });
    match decoded {
        Ok(v) => Ok(v),
        Err(why) => match answer.output.strip_prefix(b"error: ") {
            Some(text) => {
                let text = String::from_utf8_lossy(text);
                Err(
                    match text.strip_prefix("contract trapped: contract aborted: ") {
                        Some(m) => TypedError::Contract {
                            method,
                            kind: "aborted",
                            message: m.to_owned(),
                        },
                        None => TypedError::Contract {
                            method,
                            kind: "runtime",
                            message: text.into_owned(),
                        },
                    },
                )
            }
            None => Err(TypedError::BadOutput {
                method,
                output: hex::encode(&answer.output),
                why,
            }),
        },
    }
}

/// Sends a typed call (`query = false`) or query and decodes its result.
pub async fn invoke<T: Codec>(
    client: &PoseClient,
    cid: ContractId,
    query: bool,
    method: &'static str,
    input: &[u8],
) -> Result<T, TypedError> {
    let answer = if query {
        client.query(cid, input).await?
    } else {
        client.call(cid, input).await?
    };
    decode_answer(method, &answer)
}

/// Fails unless contract `cid` runs the code whose sha256 is `expected`.
pub async fn check_code(
    client: &PoseClient,
    cid: ContractId,
    expected: [u8; 32],
) -> Result<(), TypedError> {
    let c = client
        .chain()
        .contract(cid)
        .await
        .map_err(ClientError::from)?;
    if c.codeHash.0 != expected {
        return Err(TypedError::OtherCode {
            cid: cid.0,
            deployed: hex::encode(c.codeHash.0),
            expected: hex::encode(expected),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_matches_the_contract_encoding() {
        let mut out = Vec::new();
        1u8.write(&mut out);
        Address([7; 20]).write(&mut out);
        250u128.write(&mut out);
        assert_eq!(out, [&[1u8][..], &[7; 20], &250u128.to_le_bytes()].concat());
        let mut input: &[u8] = &[1, 2, 0, 0, 0, 9, 9];
        assert!(bool::read(&mut input).unwrap());
        assert_eq!(Bytes::read(&mut input).unwrap(), Bytes(vec![9, 9]));
        let mut bad: &[u8] = &[2];
        assert!(bool::read(&mut bad).is_err());
        let mut short: &[u8] = &[1, 2, 3];
        assert!(u64::read(&mut short).is_err());
        let mut opt: &[u8] = &[];
        assert_eq!(Option::<u64>::read(&mut opt).unwrap(), None);
        let mut units: &[u8] = &[1];
        assert!(Vec::<()>::read(&mut units).is_err(), "no endless loop");
    }
}
