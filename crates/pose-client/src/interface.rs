//! A contract's typed interface, read from the custom section `pose.interface` of its `.wasm`
//! file (pose-contract-sdk's `contract!` writes it), and the conversion between JSON values and
//! the contract encoding: typed inputs in, typed results out.
//!
//! The section is part of the module, so the code hash the manager records covers it: an
//! interface read from a file whose sha256 equals the contract's on-chain code hash is the
//! deployed contract's interface ([`Interface::from_deployed`]).
//!
//! JSON forms of the types: integers are JSON numbers, except `u128`, which is a decimal string
//! (inputs accept both); `address`, `bytes` and `bytesN` are `0x` hex strings; `bool` is a JSON
//! bool; floats are JSON numbers (non-finite floats are the strings `NaN`, `inf`, `-inf`);
//! `rest` is an array; a struct is an object with its fields in order; `unit` is `null`.

use serde_json::{Map, Value as Json};

/// The custom section that holds the interface.
pub const SECTION: &str = "pose.interface";

/// Why an interface could not be read, or a value not converted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterfaceError {
    /// The bytes are not a WebAssembly module.
    #[error("not a WebAssembly module: {0}")]
    NotWasm(String),
    /// The module has no interface section.
    #[error(
        "the module has no {SECTION} section: it was not built with pose-contract-sdk's \
         contract! macro; give its input as raw hex instead"
    )]
    Missing,
    /// The section is not a valid interface.
    #[error("the {SECTION} section is not a valid interface: {0}")]
    Invalid(String),
    /// The file's hash differs from the contract's code hash.
    #[error(
        "the code file has hash {file}, but the contract runs code {deployed}; give the .wasm \
         file that was deployed (--wasm)"
    )]
    WrongCode {
        /// sha256 of the file.
        file: String,
        /// The on-chain code hash.
        deployed: String,
    },
    /// No such method (of the wanted kind).
    #[error("the contract has no {kind} method {name:?}; it has: {known}")]
    UnknownMethod {
        /// `call`, `query` or `init`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The methods of that kind.
        known: String,
    },
    /// An argument is missing, unknown or given twice.
    #[error("{0}")]
    Arguments(String),
    /// A value does not fit its type.
    #[error("{path}: {why}")]
    BadValue {
        /// Where (argument or field name).
        path: String,
        /// What was wrong and what is expected.
        why: String,
    },
    /// Output bytes do not decode as the method's result.
    #[error("the output does not decode as {ty}: {why}")]
    BadOutput {
        /// The expected type.
        ty: String,
        /// What was wrong.
        why: String,
    },
}

/// A type of the interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    /// No value.
    Unit,
    /// 0 or 1.
    Bool,
    /// Unsigned integer of this many bytes (1, 2, 4, 8, 16).
    Uint(usize),
    /// Signed integer of this many bytes (4, 8).
    Int(usize),
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// 20 bytes.
    Address,
    /// Length-prefixed bytes.
    Bytes,
    /// Exactly N bytes.
    FixedBytes(usize),
    /// Elements up to the end.
    Rest(Box<Type>),
    /// A value, or no bytes at all (JSON `null`); only last.
    Optional(Box<Type>),
    /// Named fields.
    Struct {
        /// Its name.
        name: String,
        /// Its fields.
        fields: Vec<Field>,
    },
}

/// A named argument or field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
}

/// Which entry point a method belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The constructor.
    Init,
    /// A state-changing call.
    Call,
    /// A read-only query.
    Query,
}

impl Kind {
    /// `init`, `call` or `query`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Init => "init",
            Kind::Call => "call",
            Kind::Query => "query",
        }
    }
}

/// One method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Method {
    /// Its name.
    pub name: String,
    /// Its entry point.
    pub kind: Kind,
    /// Its selector byte (none for `init`).
    pub selector: Option<u8>,
    /// Its doc comment.
    pub doc: String,
    /// Its arguments.
    pub args: Vec<Field>,
    /// Its result.
    pub result: Type,
}

/// A contract's interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Its methods.
    pub methods: Vec<Method>,
    /// The JSON it was read from.
    pub json: Json,
}

/// The payload of the custom section `name` of a WebAssembly module, if any. Refuses bytes
/// that are not a module; never panics.
pub fn custom_section<'a>(wasm: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, InterfaceError> {
    fn leb(buf: &[u8], pos: &mut usize) -> Result<usize, InterfaceError> {
        let mut v: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = *buf
                .get(*pos)
                .ok_or_else(|| InterfaceError::NotWasm("truncated section header".into()))?;
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(v)
                    .map_err(|_| InterfaceError::NotWasm("section size too large".into()));
            }
        }
        Err(InterfaceError::NotWasm("overlong LEB128 number".into()))
    }
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(InterfaceError::NotWasm(
            "missing the \\0asm magic; give a .wasm file".into(),
        ));
    }
    let mut pos = 8;
    let mut found = None;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = leb(wasm, &mut pos)?;
        let end = pos
            .checked_add(size)
            .filter(|e| *e <= wasm.len())
            .ok_or_else(|| InterfaceError::NotWasm("a section runs past the end".into()))?;
        if id == 0 {
            let mut p = pos;
            let n = leb(&wasm[..end], &mut p)?;
            let name_end = p
                .checked_add(n)
                .filter(|e| *e <= end)
                .ok_or_else(|| InterfaceError::NotWasm("a section name runs past it".into()))?;
            if &wasm[p..name_end] == name.as_bytes() {
                if found.is_some() {
                    return Err(InterfaceError::Invalid(format!(
                        "the module has two {name} sections"
                    )));
                }
                found = Some(&wasm[name_end..end]);
            }
        }
        pos = end;
    }
    Ok(found)
}

impl Interface {
    /// The interface embedded in a `.wasm` file.
    pub fn from_wasm(wasm: &[u8]) -> Result<Interface, InterfaceError> {
        let section = custom_section(wasm, SECTION)?.ok_or(InterfaceError::Missing)?;
        let text = std::str::from_utf8(section)
            .map_err(|e| InterfaceError::Invalid(format!("not UTF-8: {e}")))?;
        Interface::from_json(text)
    }

    /// The interface of deployed code: `wasm` must hash to `code_hash` (the contract's
    /// on-chain code hash), so the section is the one the pool runs.
    pub fn from_deployed(wasm: &[u8], code_hash: [u8; 32]) -> Result<Interface, InterfaceError> {
        let file = pose_crypto::sha256(wasm).0;
        if file != code_hash {
            return Err(InterfaceError::WrongCode {
                file: format!("0x{}", hex::encode(file)),
                deployed: format!("0x{}", hex::encode(code_hash)),
            });
        }
        Interface::from_wasm(wasm)
    }

    /// Parses the interface JSON.
    pub fn from_json(text: &str) -> Result<Interface, InterfaceError> {
        let bad = |why: &str| InterfaceError::Invalid(why.to_owned());
        let json: Json = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        if json.get("pose_interface").and_then(Json::as_u64) != Some(1) {
            return Err(bad("unknown version (this client reads version 1)"));
        }
        let mut methods = Vec::new();
        for m in json
            .get("methods")
            .and_then(Json::as_array)
            .ok_or_else(|| bad("no methods list"))?
        {
            let name = str_field(m, "name")?;
            let kind = match str_field(m, "kind")?.as_str() {
                "init" => Kind::Init,
                "call" => Kind::Call,
                "query" => Kind::Query,
                k => return Err(bad(&format!("method {name}: unknown kind {k:?}"))),
            };
            let selector = match kind {
                Kind::Init => None,
                _ => Some(
                    m.get("selector")
                        .and_then(Json::as_u64)
                        .and_then(|s| u8::try_from(s).ok())
                        .ok_or_else(|| bad(&format!("method {name}: no selector byte")))?,
                ),
            };
            let doc = m
                .get("doc")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            let args = fields(m.get("args").ok_or_else(|| bad("method without args"))?)?;
            let result = parse_type(
                m.get("result")
                    .ok_or_else(|| bad("method without result"))?,
            )?;
            methods.push(Method {
                name,
                kind,
                selector,
                doc,
                args,
                result,
            });
        }
        Ok(Interface { methods, json })
    }

    /// The method `name` of `kind`.
    pub fn method(&self, kind: Kind, name: &str) -> Result<&Method, InterfaceError> {
        self.methods
            .iter()
            .find(|m| m.kind == kind && m.name == name)
            .ok_or_else(|| InterfaceError::UnknownMethod {
                kind: kind.as_str(),
                name: name.to_owned(),
                known: self
                    .methods
                    .iter()
                    .filter(|m| m.kind == kind)
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The `init` method, if the contract has one.
    pub fn init(&self) -> Option<&Method> {
        self.methods.iter().find(|m| m.kind == Kind::Init)
    }
}

fn str_field(m: &Json, key: &str) -> Result<String, InterfaceError> {
    m.get(key)
        .and_then(Json::as_str)
        .map(str::to_owned)
        .ok_or_else(|| InterfaceError::Invalid(format!("an entry without {key:?}: {m}")))
}

fn fields(j: &Json) -> Result<Vec<Field>, InterfaceError> {
    j.as_array()
        .ok_or_else(|| InterfaceError::Invalid(format!("not a field list: {j}")))?
        .iter()
        .map(|f| {
            Ok(Field {
                name: str_field(f, "name")?,
                ty: parse_type(
                    f.get("type").ok_or_else(|| {
                        InterfaceError::Invalid(format!("field without type: {f}"))
                    })?,
                )?,
            })
        })
        .collect()
}

fn parse_type(j: &Json) -> Result<Type, InterfaceError> {
    let bad = || InterfaceError::Invalid(format!("unknown type {j}"));
    if let Some(s) = j.as_str() {
        return Ok(match s {
            "unit" => Type::Unit,
            "bool" => Type::Bool,
            "u8" => Type::Uint(1),
            "u16" => Type::Uint(2),
            "u32" => Type::Uint(4),
            "u64" => Type::Uint(8),
            "u128" => Type::Uint(16),
            "i32" => Type::Int(4),
            "i64" => Type::Int(8),
            "f32" => Type::F32,
            "f64" => Type::F64,
            "address" => Type::Address,
            "bytes" => Type::Bytes,
            s => match s.strip_prefix("bytes").and_then(|n| n.parse().ok()) {
                Some(n) if n <= 1 << 20 => Type::FixedBytes(n),
                _ => return Err(bad()),
            },
        });
    }
    if let Some(t) = j.get("rest") {
        let elem = parse_type(t)?;
        if elem.fixed_size().unwrap_or(0) == 0 {
            return Err(InterfaceError::Invalid(format!(
                "rest of a type without a fixed, non-zero size: {j}"
            )));
        }
        return Ok(Type::Rest(Box::new(elem)));
    }
    if let Some(t) = j.get("optional") {
        return Ok(Type::Optional(Box::new(parse_type(t)?)));
    }
    if let (Some(name), Some(fs)) = (j.get("struct").and_then(Json::as_str), j.get("fields")) {
        return Ok(Type::Struct {
            name: name.to_owned(),
            fields: fields(fs)?,
        });
    }
    Err(bad())
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Type::Unit => f.write_str("unit"),
            Type::Bool => f.write_str("bool"),
            Type::Uint(n) => write!(f, "u{}", n * 8),
            Type::Int(n) => write!(f, "i{}", n * 8),
            Type::F32 => f.write_str("f32"),
            Type::F64 => f.write_str("f64"),
            Type::Address => f.write_str("address"),
            Type::Bytes => f.write_str("bytes"),
            Type::FixedBytes(n) => write!(f, "bytes{n}"),
            Type::Rest(t) => write!(f, "{t}..."),
            Type::Optional(t) => write!(f, "{t}?"),
            Type::Struct { name, fields } => {
                write!(f, "{name} {{ ")?;
                for (i, x) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", x.name, x.ty)?;
                }
                f.write_str(" }")
            }
        }
    }
}

impl Type {
    /// The encoded size, if fixed.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Type::Unit => Some(0),
            Type::Bool => Some(1),
            Type::Uint(n) | Type::Int(n) => Some(*n),
            Type::F32 => Some(4),
            Type::F64 => Some(8),
            Type::Address => Some(20),
            Type::FixedBytes(n) => Some(*n),
            Type::Bytes | Type::Rest(_) | Type::Optional(_) => None,
            Type::Struct { fields, .. } => fields.iter().map(|f| f.ty.fixed_size()).sum(),
        }
    }

    /// Parses a command-line word as a value of this type: JSON for structs and `rest`
    /// (a `rest` also takes comma-separated elements), plain text otherwise.
    pub fn parse_text(&self, path: &str, text: &str) -> Result<Json, InterfaceError> {
        match self {
            Type::Struct { .. } => {
                serde_json::from_str(text).map_err(|e| InterfaceError::BadValue {
                    path: path.to_owned(),
                    why: format!("{e}; give the struct as a JSON object, e.g. '{{\"field\": 1}}'"),
                })
            }
            Type::Rest(t) => {
                if text.trim_start().starts_with('[') {
                    return serde_json::from_str(text).map_err(|e| InterfaceError::BadValue {
                        path: path.to_owned(),
                        why: format!("{e}; give a JSON array or comma-separated values"),
                    });
                }
                let items = text
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .enumerate()
                    .map(|(i, s)| t.parse_text(&format!("{path}[{i}]"), s))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Json::Array(items))
            }
            Type::Bool => match text {
                "true" => Ok(Json::Bool(true)),
                "false" => Ok(Json::Bool(false)),
                _ => Err(InterfaceError::BadValue {
                    path: path.to_owned(),
                    why: format!("{text:?} is not a bool; give true or false"),
                }),
            },
            Type::Unit => Ok(Json::Null),
            Type::Optional(t) => match text {
                "null" | "" => Ok(Json::Null),
                _ => t.parse_text(path, text),
            },
            _ => Ok(Json::String(text.to_owned())),
        }
    }

    /// Appends the encoding of `v` (a JSON value of this type) to `out`.
    pub fn encode(&self, path: &str, v: &Json, out: &mut Vec<u8>) -> Result<(), InterfaceError> {
        let bad = |why: String| InterfaceError::BadValue {
            path: path.to_owned(),
            why,
        };
        match self {
            Type::Unit => {}
            Type::Bool => out
                .push(u8::from(v.as_bool().ok_or_else(|| {
                    bad(format!("{v} is not a bool; give true or false"))
                })?)),
            Type::Uint(n) => {
                let (neg, x) = int_of(v).ok_or_else(|| {
                    bad(format!(
                        "{v} is not an unsigned integer; give a decimal number"
                    ))
                })?;
                if neg {
                    return Err(bad(format!("{v} is negative; the type is {self}")));
                }
                if *n < 16 && x >> (n * 8) != 0 {
                    return Err(bad(format!("{x} does not fit in {} bits", n * 8)));
                }
                out.extend_from_slice(&x.to_le_bytes()[..*n]);
            }
            Type::Int(n) => {
                let (neg, abs) = int_of(v)
                    .ok_or_else(|| bad(format!("{v} is not an integer; give a decimal number")))?;
                let x = i128::try_from(abs)
                    .ok()
                    .map(|a| if neg { -a } else { a })
                    .filter(|x| {
                        if *n == 4 {
                            i32::try_from(*x).is_ok()
                        } else {
                            i64::try_from(*x).is_ok()
                        }
                    })
                    .ok_or_else(|| bad(format!("{v} does not fit in {} bits", n * 8)))?;
                out.extend_from_slice(&x.to_le_bytes()[..*n]);
            }
            Type::F32 | Type::F64 => {
                let x = float_of(v).ok_or_else(|| bad(format!("{v} is not a number")))?;
                if *self == Type::F32 {
                    out.extend_from_slice(&(x as f32).to_le_bytes());
                } else {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            Type::Address | Type::FixedBytes(_) => {
                let want = self.fixed_size().unwrap_or(0);
                let b = hex_of(v).ok_or_else(|| bad(format!("{v} is not 0x-prefixed hex")))?;
                if b.len() != want {
                    return Err(bad(format!("{} bytes given, {want} expected", b.len())));
                }
                out.extend_from_slice(&b);
            }
            Type::Bytes => {
                let b = hex_of(v).ok_or_else(|| bad(format!("{v} is not 0x-prefixed hex")))?;
                let n = u32::try_from(b.len()).map_err(|_| bad("too long".into()))?;
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(&b);
            }
            Type::Rest(t) => {
                let items = v
                    .as_array()
                    .ok_or_else(|| bad(format!("{v} is not an array")))?;
                for (i, x) in items.iter().enumerate() {
                    t.encode(&format!("{path}[{i}]"), x, out)?;
                }
            }
            Type::Optional(t) => {
                if !v.is_null() {
                    t.encode(path, v, out)?;
                }
            }
            Type::Struct { fields, .. } => {
                let obj = v
                    .as_object()
                    .ok_or_else(|| bad(format!("{v} is not an object")))?;
                if let Some(k) = obj.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
                    return Err(bad(format!("unknown field {k:?}")));
                }
                for f in fields {
                    let x = obj
                        .get(&f.name)
                        .ok_or_else(|| bad(format!("missing field {:?} ({})", f.name, f.ty)))?;
                    f.ty.encode(&format!("{path}.{}", f.name), x, out)?;
                }
            }
        }
        Ok(())
    }

    /// Decodes one value from the front of `bytes` (all of it for `rest`).
    fn decode_from(&self, bytes: &mut &[u8]) -> Result<Json, String> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
            if bytes.len() < n {
                return Err(format!("{n} bytes wanted, {} left", bytes.len()));
            }
            let (h, t) = bytes.split_at(n);
            *bytes = t;
            Ok(h)
        }
        Ok(match self {
            Type::Unit => Json::Null,
            Type::Bool => match take(bytes, 1)?[0] {
                0 => Json::Bool(false),
                1 => Json::Bool(true),
                b => return Err(format!("invalid bool byte {b}")),
            },
            Type::Uint(n) => {
                let mut b = [0u8; 16];
                b[..*n].copy_from_slice(take(bytes, *n)?);
                let x = u128::from_le_bytes(b);
                if *n == 16 {
                    Json::String(x.to_string())
                } else {
                    Json::from(x as u64)
                }
            }
            Type::Int(n) => {
                let b = take(bytes, *n)?;
                let x = if *n == 4 {
                    i64::from(i32::from_le_bytes(b.try_into().map_err(|_| "size")?))
                } else {
                    i64::from_le_bytes(b.try_into().map_err(|_| "size")?)
                };
                Json::from(x)
            }
            Type::F32 => {
                let x = f32::from_le_bytes(take(bytes, 4)?.try_into().map_err(|_| "size")?);
                // The shortest decimal that reads back as this f32 (2.3333335, not the f64
                // expansion 2.3333334922790527).
                float_json(x.to_string().parse().unwrap_or(f64::from(x)))
            }
            Type::F64 => float_json(f64::from_le_bytes(
                take(bytes, 8)?.try_into().map_err(|_| "size")?,
            )),
            Type::Address | Type::FixedBytes(_) => {
                let n = self.fixed_size().unwrap_or(0);
                Json::String(format!("0x{}", hex::encode(take(bytes, n)?)))
            }
            Type::Bytes => {
                let n = u32::from_le_bytes(take(bytes, 4)?.try_into().map_err(|_| "size")?);
                Json::String(format!("0x{}", hex::encode(take(bytes, n as usize)?)))
            }
            Type::Rest(t) => {
                let size = t.fixed_size().unwrap_or(1).max(1);
                if !bytes.len().is_multiple_of(size) {
                    return Err(format!(
                        "{} bytes are not a whole number of {size}-byte elements",
                        bytes.len()
                    ));
                }
                let mut items = Vec::with_capacity(bytes.len() / size);
                while !bytes.is_empty() {
                    items.push(t.decode_from(bytes)?);
                }
                Json::Array(items)
            }
            Type::Optional(t) => {
                if bytes.is_empty() {
                    Json::Null
                } else {
                    t.decode_from(bytes)?
                }
            }
            Type::Struct { fields, .. } => {
                let mut obj = Map::new();
                for f in fields {
                    obj.insert(f.name.clone(), f.ty.decode_from(bytes)?);
                }
                Json::Object(obj)
            }
        })
    }

    /// JSON text of `v`, a value of this type (as [`Type::decode`] gives it), with the fields
    /// of structs in their declaration (encoding) order rather than sorted by name.
    pub fn render(&self, v: &Json) -> String {
        match (self, v) {
            (Type::Struct { fields, .. }, Json::Object(obj)) => {
                let items: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        let x = obj.get(&f.name).unwrap_or(&Json::Null);
                        format!("{}:{}", Json::from(f.name.as_str()), f.ty.render(x))
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            }
            (Type::Rest(t), Json::Array(items)) => {
                let items: Vec<String> = items.iter().map(|x| t.render(x)).collect();
                format!("[{}]", items.join(","))
            }
            (Type::Optional(t), v) if !v.is_null() => t.render(v),
            _ => v.to_string(),
        }
    }

    /// Decodes `bytes`, which must hold exactly one value of this type.
    pub fn decode(&self, bytes: &[u8]) -> Result<Json, InterfaceError> {
        let mut rest = bytes;
        let bad = |why: String| InterfaceError::BadOutput {
            ty: self.to_string(),
            why,
        };
        let v = self.decode_from(&mut rest).map_err(bad)?;
        if !rest.is_empty() {
            return Err(bad(format!("{} trailing bytes", rest.len())));
        }
        Ok(v)
    }
}

/// An integer given as a JSON number or a decimal (or `0x` hex) string: (negative, magnitude).
fn int_of(v: &Json) -> Option<(bool, u128)> {
    match v {
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(x), _) => Some((false, u128::from(x))),
            (None, Some(x)) => Some((x < 0, u128::from(x.unsigned_abs()))),
            _ => None,
        },
        Json::String(s) => {
            let s = s.trim().replace('_', "");
            let (neg, digits) = match s.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, s.as_str()),
            };
            let x = match digits.strip_prefix("0x") {
                Some(h) => u128::from_str_radix(h, 16).ok()?,
                None if digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok()?,
                None => return None,
            };
            Some((neg && x != 0, x))
        }
        _ => None,
    }
}

fn float_of(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.trim() {
            "NaN" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        },
        _ => None,
    }
}

fn float_json(x: f64) -> Json {
    if x.is_nan() {
        Json::String("NaN".into())
    } else if x.is_infinite() {
        Json::String(if x > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        Json::from(x)
    }
}

fn hex_of(v: &Json) -> Option<Vec<u8>> {
    hex::decode(v.as_str()?.trim().strip_prefix("0x")?).ok()
}

impl Method {
    /// The input for this method from named JSON arguments: the selector byte (none for
    /// `init`), then every argument in order. Every argument must be given exactly once.
    pub fn encode_input(&self, args: &[(String, Json)]) -> Result<Vec<u8>, InterfaceError> {
        for (i, (name, _)) in args.iter().enumerate() {
            if !self.args.iter().any(|a| &a.name == name) {
                return Err(InterfaceError::Arguments(format!(
                    "{} has no argument --{name}; it takes {}",
                    self.name,
                    self.signature()
                )));
            }
            if args[..i].iter().any(|(n, _)| n == name) {
                return Err(InterfaceError::Arguments(format!(
                    "argument --{name} given twice"
                )));
            }
        }
        let mut out = Vec::new();
        out.extend(self.selector);
        for a in &self.args {
            let v = args
                .iter()
                .find(|(n, _)| n == &a.name)
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    InterfaceError::Arguments(format!(
                        "{} needs --{} ({}); it takes {}",
                        self.name,
                        a.name,
                        a.ty,
                        self.signature()
                    ))
                })?;
            a.ty.encode(&a.name, v, &mut out)?;
        }
        Ok(out)
    }

    /// Parses command-line words `--name value` (or `--name=value`) as this method's
    /// arguments, type-checked and encoded.
    pub fn encode_words(&self, words: &[String]) -> Result<Vec<u8>, InterfaceError> {
        let mut args = Vec::new();
        let mut it = words.iter();
        while let Some(w) = it.next() {
            let Some(flag) = w.strip_prefix("--") else {
                return Err(InterfaceError::Arguments(format!(
                    "unexpected {w:?}: give arguments as --name value; {} takes {}",
                    self.name,
                    self.signature()
                )));
            };
            let (name, text) = match flag.split_once('=') {
                Some((n, t)) => (n.to_owned(), t.to_owned()),
                None => {
                    let t = it.next().ok_or_else(|| {
                        InterfaceError::Arguments(format!("--{flag} needs a value"))
                    })?;
                    (flag.to_owned(), t.clone())
                }
            };
            let name = name.replace('-', "_");
            let ty = self
                .args
                .iter()
                .find(|a| a.name == name)
                .map(|a| &a.ty)
                .ok_or_else(|| {
                    InterfaceError::Arguments(format!(
                        "{} has no argument --{name}; it takes {}",
                        self.name,
                        self.signature()
                    ))
                })?;
            let v = ty.parse_text(&name, &text)?;
            args.push((name, v));
        }
        self.encode_input(&args)
    }

    /// The method's result as JSON, from the contract's output bytes.
    pub fn decode_output(&self, output: &[u8]) -> Result<Json, InterfaceError> {
        self.result.decode(output)
    }

    /// `name(arg: type, ...) -> result`.
    pub fn signature(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| format!("--{} <{}>", a.name, a.ty))
            .collect();
        if args.is_empty() {
            "no arguments".to_owned()
        } else {
            args.join(" ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"pose_interface":1,"methods":[
        {"name":"setup","kind":"init","doc":"","args":[{"name":"n","type":"u32"}],"result":"unit"},
        {"name":"transfer","kind":"call","selector":1,"doc":"Moves.","args":[{"name":"to","type":"address"},{"name":"amount","type":"u128"}],"result":"unit"},
        {"name":"submit","kind":"call","selector":2,"doc":"","args":[{"name":"w","type":"f32"},{"name":"v","type":{"rest":"f32"}}],"result":"i64"},
        {"name":"escrow","kind":"query","selector":2,"doc":"","args":[{"name":"id","type":"u64"}],"result":{"struct":"E","fields":[{"name":"payer","type":"address"},{"name":"amount","type":"u128"},{"name":"open","type":"bool"}]}}]}"#;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn typed_words_encode_like_the_sdk() {
        let itf = Interface::from_json(JSON).unwrap();
        let m = itf.method(Kind::Call, "transfer").unwrap();
        let to = format!("0x{}", "ab".repeat(20));
        let input = m
            .encode_words(&words(&["--to", &to, "--amount=5"]))
            .unwrap();
        assert_eq!(
            input,
            [&[1u8][..], &[0xab; 20], &5u128.to_le_bytes()].concat()
        );
        let input = itf
            .method(Kind::Call, "submit")
            .unwrap()
            .encode_words(&words(&["--v", "1, 0.5", "--w", "2"]))
            .unwrap();
        let want: Vec<u8> = [2.0f32, 1.0, 0.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(input, [&[2u8][..], &want].concat());
        let init = itf.init().unwrap();
        assert_eq!(
            init.encode_words(&words(&["--n", "7"])).unwrap(),
            7u32.to_le_bytes()
        );
    }

    #[test]
    fn wrong_arguments_say_what_is_expected() {
        let itf = Interface::from_json(JSON).unwrap();
        let m = itf.method(Kind::Call, "transfer").unwrap();
        let err = |w: &[&str]| m.encode_words(&words(w)).unwrap_err().to_string();
        assert!(err(&["--to", "0x01"]).contains("1 bytes given, 20 expected"));
        assert!(err(&["--amount", "5"]).contains("needs --to"));
        let zero = format!("0x{}", "00".repeat(20));
        assert!(err(&["--amount", "-5", "--to", &zero]).contains("negative"));
        assert!(err(&["--amount", "five", "--to", &zero]).contains("not an unsigned integer"));
        assert!(err(&["--amount", "1", "--amount", "2"]).contains("twice"));
        assert!(err(&["--who", "1"]).contains("no argument --who"));
        assert!(err(&["5"]).contains("--name value"));
        let e = itf.method(Kind::Query, "transfer").unwrap_err().to_string();
        assert!(e.contains("has: escrow"), "{e}");
        let u8m = Interface::from_json(
            r#"{"pose_interface":1,"methods":[{"name":"m","kind":"call","selector":3,"args":[{"name":"x","type":"u8"}],"result":"unit"}]}"#,
        )
        .unwrap();
        let e = u8m.methods[0]
            .encode_words(&words(&["--x", "256"]))
            .unwrap_err();
        assert!(e.to_string().contains("does not fit in 8 bits"));
        let max = u128::MAX.to_string();
        assert_eq!(
            itf.method(Kind::Call, "transfer")
                .unwrap()
                .encode_words(&words(&[
                    "--to",
                    &format!("0x{}", "00".repeat(20)),
                    "--amount",
                    &max
                ]))
                .unwrap()[21..],
            u128::MAX.to_le_bytes()
        );
    }

    #[test]
    fn outputs_decode_to_json_and_bad_outputs_are_errors() {
        let itf = Interface::from_json(JSON).unwrap();
        let m = itf.method(Kind::Query, "escrow").unwrap();
        let out = [&[7u8; 20][..], &u128::MAX.to_le_bytes(), &[1]].concat();
        assert_eq!(
            m.decode_output(&out).unwrap(),
            serde_json::json!({"payer": format!("0x{}", "07".repeat(20)),
                               "amount": u128::MAX.to_string(), "open": true})
        );
        assert_eq!(
            m.result.render(&m.decode_output(&out).unwrap()),
            format!(
                r#"{{"payer":"0x{}","amount":"{}","open":true}}"#,
                "07".repeat(20),
                u128::MAX
            ),
            "fields in declaration order"
        );
        assert_eq!(
            Type::F32
                .decode(&(7.0f32 / 3.0).to_le_bytes())
                .unwrap()
                .to_string(),
            "2.3333333"
        );
        assert!(m.decode_output(&out[..30]).is_err());
        assert!(m.decode_output(&[&out[..], &[0]].concat()).is_err());
        let bad_bool = [&[7u8; 20][..], &[0; 16], &[2]].concat();
        assert!(m.decode_output(&bad_bool).is_err());
        let opt = Type::Optional(Box::new(Type::Uint(8)));
        assert_eq!(opt.decode(&[]).unwrap(), Json::Null);
        assert_eq!(
            opt.decode(&5u64.to_le_bytes()).unwrap(),
            serde_json::json!(5)
        );
        assert!(opt.decode(&[1]).is_err());
        let s = itf.method(Kind::Call, "submit").unwrap();
        assert_eq!(
            s.decode_output(&(-3i64).to_le_bytes()).unwrap(),
            serde_json::json!(-3)
        );
    }

    #[test]
    fn the_sdk_interface_of_the_token_example_reads_and_encodes_like_its_test() {
        let wasm = include_bytes!("../../../examples/contracts/wasm/token_escrow.wasm");
        let itf = Interface::from_wasm(wasm).unwrap();
        let open = itf.method(Kind::Call, "open_escrow").unwrap();
        assert_eq!(open.selector, Some(3));
        assert_eq!(open.result, Type::Uint(8));
        let (b, j) = (
            format!("0x{}", "02".repeat(20)),
            format!("0x{}", "03".repeat(20)),
        );
        assert_eq!(
            open.encode_words(&words(&["--payee", &b, "--arbiter", &j, "--amount", "300"]))
                .unwrap(),
            [&[3u8][..], &[2; 20], &[3; 20], &300u128.to_le_bytes()].concat(),
            "the bytes crates/pose-runtime/tests/contracts.rs sends by hand"
        );
        let esc = itf.method(Kind::Query, "escrow").unwrap();
        let Type::Struct { name, fields } = &esc.result else {
            panic!("escrow returns a struct: {:?}", esc.result)
        };
        assert_eq!(name, "Escrow");
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["payer", "payee", "arbiter", "amount", "open"]);
        assert!(itf.init().is_none(), "the token has no init method");
    }

    #[test]
    fn every_example_contract_carries_a_readable_interface() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/contracts/wasm/"
        );
        let read = |f: &str| Interface::from_wasm(&std::fs::read(format!("{dir}{f}")).unwrap());
        let rps = read("rock_paper_scissors.wasm").unwrap();
        let play = rps.method(Kind::Call, "play").unwrap();
        assert_eq!(play.selector, Some(2));
        assert!(matches!(&play.result, Type::Optional(t) if matches!(**t, Type::Struct { .. })));
        let game = format!("{}", play.result);
        assert_eq!(game, "Outcome { game: u64, result: u8 }?");
        let fl = read("federated_learning.wasm").unwrap();
        let submit = fl.method(Kind::Call, "submit").unwrap();
        assert_eq!(
            submit
                .encode_words(&words(&["--weight", "2", "--update", "1,0.5"]))
                .unwrap(),
            [
                &[1u8][..],
                &2f32.to_le_bytes(),
                &1f32.to_le_bytes(),
                &0.5f32.to_le_bytes()
            ]
            .concat()
        );
        assert_eq!(fl.init().unwrap().args[0].ty, Type::Uint(4));
        let auction = read("sealed_bid_auction.wasm").unwrap();
        assert_eq!(auction.init().unwrap().args.len(), 3);
        assert_eq!(
            auction.method(Kind::Query, "my_bid").unwrap().result,
            Type::Uint(16)
        );
    }

    #[test]
    fn a_rest_of_zero_size_elements_is_refused() {
        // Decoding it would never end: each element takes no bytes.
        for t in [
            r#""unit""#,
            r#"{"struct":"E","fields":[]}"#,
            r#"{"rest":"u8"}"#,
        ] {
            let json = format!(
                r#"{{"pose_interface":1,"methods":[{{"name":"m","kind":"query","selector":1,"args":[],"result":{{"rest":{t}}}}}]}}"#
            );
            assert!(Interface::from_json(&json).is_err(), "accepted rest of {t}");
        }
    }

    #[test]
    fn sections_are_found_and_hostile_modules_refused() {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let payload = br#"{"pose_interface":1,"methods":[]}"#;
        let name = SECTION.as_bytes();
        wasm.push(0);
        wasm.push((1 + name.len() + payload.len()) as u8);
        wasm.push(name.len() as u8);
        wasm.extend_from_slice(name);
        wasm.extend_from_slice(payload);
        assert_eq!(Interface::from_wasm(&wasm).unwrap().methods, vec![]);
        assert!(matches!(
            Interface::from_deployed(&wasm, [0; 32]),
            Err(InterfaceError::WrongCode { .. })
        ));
        assert!(Interface::from_deployed(&wasm, pose_crypto::sha256(&wasm).0).is_ok());
        // Truncations and garbage: errors, never panics.
        for n in 0..wasm.len() {
            let _ = Interface::from_wasm(&wasm[..n]);
        }
        assert!(matches!(
            Interface::from_wasm(b"\0asm\x01\0\0\0"),
            Err(InterfaceError::Missing)
        ));
        assert!(Interface::from_wasm(b"not wasm").is_err());
        assert!(custom_section(b"\0asm\x01\0\0\0\0\xff\xff\xff\xff\xff\xff", SECTION).is_err());
        let mut twice = wasm.clone();
        twice.extend_from_slice(&wasm[8..]);
        assert!(Interface::from_wasm(&twice).is_err());
    }
}
