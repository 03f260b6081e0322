//! A contract's interface: its methods, their argument names and types, their results, and
//! whether each is `init`, a `call` or a `query`. [`contract!`](crate::contract) builds it at
//! compile time from the method signatures and embeds it as JSON in the custom section
//! [`SECTION`] of the `.wasm` file, so the code hash (sha256 of the whole module) covers it.
//! Tools read it from there (`pose interface`, `pose call`, `pose query`).
//!
//! The JSON is built by `const fn`s: no code runs for it in the contract, and the bytes are a
//! pure function of the signatures (reproducible builds stay reproducible).
//!
//! Format (version 1):
//!
//! ```text
//! {"pose_interface":1,"methods":[
//!   {"name":"transfer","kind":"call","selector":1,"doc":"...",
//!    "args":[{"name":"to","type":"address"},{"name":"amount","type":"u128"}],
//!    "result":"unit"}, ...]}
//! ```
//!
//! A type is a string (`unit bool u8 u16 u32 u64 u128 i32 i64 f32 f64 address bytes`, or
//! `bytesN` for a fixed array of N bytes), `{"rest":T}` (elements of type T up to the end of
//! the input, no length prefix; only last), `{"optional":T}` (a T, or no bytes at all for
//! none; only last), or `{"struct":NAME,"fields":[{"name":..,"type":..}]}`.
//! The encoding of every type is the [`Value`](crate::Value) encoding (docs/contracts.md).

/// The name of the custom section that holds the interface JSON.
pub const SECTION: &str = "pose.interface";

/// The version of the JSON format written into [`SECTION`].
pub const VERSION: u32 = 1;

/// The type of an argument, a result or a field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Type {
    /// No value (encodes to no bytes).
    Unit,
    /// One byte, 0 or 1.
    Bool,
    /// Little-endian unsigned integers.
    U8,
    /// See [`Type::U8`].
    U16,
    /// See [`Type::U8`].
    U32,
    /// See [`Type::U8`].
    U64,
    /// See [`Type::U8`].
    U128,
    /// Little-endian two's-complement integers.
    I32,
    /// See [`Type::I32`].
    I64,
    /// Little-endian IEEE 754 floats.
    F32,
    /// See [`Type::F32`].
    F64,
    /// 20 bytes.
    Address,
    /// A `u32` length, then that many bytes.
    Bytes,
    /// Exactly N bytes.
    FixedBytes(usize),
    /// Elements of the given type up to the end of the input (or output), without a length.
    Rest(&'static Type),
    /// A value of the given type, or nothing: no bytes at all for nothing (so only last).
    Optional(&'static Type),
    /// Named fields one after the other.
    Struct {
        /// The Rust name of the struct.
        name: &'static str,
        /// Its fields in encoding order.
        fields: &'static [Field],
    },
}

/// A named argument or field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Field {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
}

/// Which entry point a method belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The constructor: runs once at deployment; its input has no selector byte.
    Init,
    /// A state-changing call: input `selector args...`.
    Call,
    /// A read-only query: input `selector args...`.
    Query,
}

/// One method.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Method {
    /// Entry point.
    pub kind: Kind,
    /// The first input byte that selects it (unused for [`Kind::Init`]).
    pub selector: u8,
    /// Its name.
    pub name: &'static str,
    /// Its doc comment, one element per line.
    pub doc: &'static [&'static str],
    /// Its arguments, in encoding order.
    pub args: &'static [Field],
    /// Its result.
    pub result: Type,
}

/// A contract's interface.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interface {
    /// Its methods.
    pub methods: &'static [Method],
}

/// Fails compilation (when evaluated in a constant) if two methods of one kind share a
/// selector or a name, if there are two `init` methods, or if a `rest` argument is not last.
pub const fn check(itf: &Interface) {
    let m = itf.methods;
    let mut i = 0;
    while i < m.len() {
        let mut j = i + 1;
        while j < m.len() {
            if same_kind(m[i].kind, m[j].kind) {
                if matches!(m[i].kind, Kind::Init) {
                    panic!("a contract has at most one init method");
                }
                if m[i].selector == m[j].selector {
                    panic!("two methods of one kind share a selector");
                }
            }
            if str_eq(m[i].name, m[j].name) {
                panic!("two methods share a name");
            }
            j += 1;
        }
        let mut a = 0;
        while a < m[i].args.len() {
            if matches!(m[i].args[a].ty, Type::Rest(_) | Type::Optional(_))
                && a + 1 != m[i].args.len()
            {
                panic!("a Rest or Option argument must be the last one");
            }
            a += 1;
        }
        i += 1;
    }
}

const fn same_kind(a: Kind, b: Kind) -> bool {
    matches!(
        (a, b),
        (Kind::Init, Kind::Init) | (Kind::Call, Kind::Call) | (Kind::Query, Kind::Query)
    )
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The length of the interface's JSON.
pub const fn json_len(itf: &Interface) -> usize {
    let mut w = Sink {
        buf: &mut [],
        pos: 0,
    };
    w.interface(itf);
    w.pos
}

/// The interface as JSON; `N` must be [`json_len`]`(itf)`.
pub const fn json<const N: usize>(itf: &Interface) -> [u8; N] {
    let mut buf = [0u8; N];
    let mut w = Sink {
        buf: &mut buf,
        pos: 0,
    };
    w.interface(itf);
    if w.pos != N {
        panic!("interface JSON length mismatch");
    }
    buf
}

/// Writes JSON into `buf` (or only counts bytes when `buf` is empty).
struct Sink<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Sink<'_> {
    const fn byte(&mut self, b: u8) {
        if self.pos < self.buf.len() {
            self.buf[self.pos] = b;
        }
        self.pos += 1;
    }

    const fn raw(&mut self, s: &str) {
        let s = s.as_bytes();
        let mut i = 0;
        while i < s.len() {
            self.byte(s[i]);
            i += 1;
        }
    }

    const fn escaped(&mut self, s: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut i = 0;
        while i < s.len() {
            let b = s[i];
            if b == b'"' || b == b'\\' {
                self.byte(b'\\');
                self.byte(b);
            } else if b < 0x20 {
                self.raw("\\u00");
                self.byte(HEX[(b >> 4) as usize]);
                self.byte(HEX[(b & 15) as usize]);
            } else {
                self.byte(b);
            }
            i += 1;
        }
    }

    const fn string(&mut self, s: &str) {
        self.byte(b'"');
        self.escaped(s.as_bytes());
        self.byte(b'"');
    }

    const fn number(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut k = 0;
        loop {
            digits[k] = b'0' + (n % 10) as u8;
            k += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while k > 0 {
            k -= 1;
            self.byte(digits[k]);
        }
    }

    const fn ty(&mut self, t: &Type) {
        match t {
            Type::Unit => self.raw("\"unit\""),
            Type::Bool => self.raw("\"bool\""),
            Type::U8 => self.raw("\"u8\""),
            Type::U16 => self.raw("\"u16\""),
            Type::U32 => self.raw("\"u32\""),
            Type::U64 => self.raw("\"u64\""),
            Type::U128 => self.raw("\"u128\""),
            Type::I32 => self.raw("\"i32\""),
            Type::I64 => self.raw("\"i64\""),
            Type::F32 => self.raw("\"f32\""),
            Type::F64 => self.raw("\"f64\""),
            Type::Address => self.raw("\"address\""),
            Type::Bytes => self.raw("\"bytes\""),
            Type::FixedBytes(n) => {
                self.raw("\"bytes");
                self.number(*n);
                self.byte(b'"');
            }
            Type::Rest(t) => {
                self.raw("{\"rest\":");
                self.ty(t);
                self.byte(b'}');
            }
            Type::Optional(t) => {
                self.raw("{\"optional\":");
                self.ty(t);
                self.byte(b'}');
            }
            Type::Struct { name, fields } => {
                self.raw("{\"struct\":");
                self.string(name);
                self.raw(",\"fields\":");
                self.fields(fields);
                self.byte(b'}');
            }
        }
    }

    const fn fields(&mut self, fields: &[Field]) {
        self.byte(b'[');
        let mut i = 0;
        while i < fields.len() {
            if i > 0 {
                self.byte(b',');
            }
            self.raw("{\"name\":");
            self.string(fields[i].name);
            self.raw(",\"type\":");
            self.ty(&fields[i].ty);
            self.byte(b'}');
            i += 1;
        }
        self.byte(b']');
    }

    /// Doc lines joined by newlines, each without the one leading space `///` leaves.
    const fn doc(&mut self, lines: &[&str]) {
        self.byte(b'"');
        let mut i = 0;
        while i < lines.len() {
            if i > 0 {
                self.raw("\\n");
            }
            let l = lines[i].as_bytes();
            match l.split_first() {
                Some((b' ', rest)) => self.escaped(rest),
                _ => self.escaped(l),
            }
            i += 1;
        }
        self.byte(b'"');
    }

    const fn interface(&mut self, itf: &Interface) {
        self.raw("{\"pose_interface\":");
        self.number(VERSION as usize);
        self.raw(",\"methods\":[");
        let mut i = 0;
        while i < itf.methods.len() {
            let m = &itf.methods[i];
            if i > 0 {
                self.byte(b',');
            }
            self.raw("{\"name\":");
            self.string(m.name);
            self.raw(",\"kind\":");
            self.raw(match m.kind {
                Kind::Init => "\"init\"",
                Kind::Call => "\"call\"",
                Kind::Query => "\"query\"",
            });
            if !matches!(m.kind, Kind::Init) {
                self.raw(",\"selector\":");
                self.number(m.selector as usize);
            }
            self.raw(",\"doc\":");
            self.doc(m.doc);
            self.raw(",\"args\":");
            self.fields(m.args);
            self.raw(",\"result\":");
            self.ty(&m.result);
            self.byte(b'}');
            i += 1;
        }
        self.raw("]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POINT: Type = Type::Struct {
        name: "Point",
        fields: &[
            Field {
                name: "x",
                ty: Type::I64,
            },
            Field {
                name: "tag",
                ty: Type::FixedBytes(32),
            },
        ],
    };

    const ITF: Interface = Interface {
        methods: &[
            Method {
                kind: Kind::Init,
                selector: 0,
                name: "init",
                doc: &[" Sets \"up\".", " Second\tline."],
                args: &[Field {
                    name: "n",
                    ty: Type::U32,
                }],
                result: Type::Unit,
            },
            Method {
                kind: Kind::Query,
                selector: 200,
                name: "get",
                doc: &[],
                args: &[Field {
                    name: "rest",
                    ty: Type::Rest(&Type::F32),
                }],
                result: POINT,
            },
        ],
    };
    const LEN: usize = json_len(&ITF);
    const JSON: [u8; LEN] = json(&ITF);
    const _: () = check(&ITF);

    #[test]
    fn json_is_exact_and_escaped() {
        assert_eq!(
            core::str::from_utf8(&JSON).unwrap(),
            concat!(
                r#"{"pose_interface":1,"methods":["#,
                r#"{"name":"init","kind":"init","doc":"Sets \"up\".\nSecond\u0009line.","#,
                r#""args":[{"name":"n","type":"u32"}],"result":"unit"},"#,
                r#"{"name":"get","kind":"query","selector":200,"doc":"","#,
                r#""args":[{"name":"rest","type":{"rest":"f32"}}],"#,
                r#""result":{"struct":"Point","fields":[{"name":"x","type":"i64"},"#,
                r#"{"name":"tag","type":"bytes32"}]}}]}"#
            )
        );
    }
}
