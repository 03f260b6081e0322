//! `contract_client!`: typed Rust bindings of a pose contract, generated at compile time from
//! the interface its `.wasm` file embeds (the custom section `pose.interface`, written by
//! `pose-contract-sdk`'s `contract!`).
//!
//! ```text
//! pose_client_macros::contract_client!(Token, "../examples/contracts/wasm/token_escrow.wasm");
//!
//! let token = Token::at(&client, cid).await?;          // checks the on-chain code hash
//! token.transfer(bob, 250).await?;                      // a call
//! let b: u128 = token.balance(bob).await?;              // a query
//! let e: token_types::Escrow = token.escrow(0).await?;  // struct results are generated
//! ```
//!
//! The path is relative to the invoking crate's directory; the file is tracked, so the
//! bindings follow a rebuilt contract. Generated: `pub struct Token<'a>` over a
//! `&'a pose_client::PoseClient` with one `async fn` per call and query (arguments and results
//! as Rust types: integers and floats, `bool`, `pose_client::typed::Address`, `[u8; N]`,
//! `pose_client::typed::Bytes`, `Vec<T>` for `rest`, `Option<T>` for `optional`, structs in
//! the module `token_types`), `Token::init_input(..)` for `init`'s input, and
//! `Token::CODE_HASH`. Errors are `pose_client::typed::TypedError`; a contract's refusal is
//! `TypedError::Contract`. The invoking crate depends on `pose-client`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use proc_macro::{TokenStream, TokenTree};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// Generates typed bindings: `contract_client!(Name, "path/to/contract.wasm")`.
#[proc_macro]
pub fn contract_client(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(code) => code
            .parse()
            .unwrap_or_else(|e| error(&format!("generated code: {e}"))),
        Err(msg) => error(&msg),
    }
}

fn error(msg: &str) -> TokenStream {
    format!("::core::compile_error!({msg:?});")
        .parse()
        .unwrap_or_default()
}

fn expand(input: TokenStream) -> Result<String, String> {
    let usage = "usage: contract_client!(Name, \"path/to/contract.wasm\")";
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    let (name, path) = match tokens.as_slice() {
        [TokenTree::Ident(name), TokenTree::Punct(p), TokenTree::Literal(lit)]
            if p.as_char() == ',' =>
        {
            let lit = lit.to_string();
            let path = lit
                .strip_prefix('"')
                .and_then(|l| l.strip_suffix('"'))
                .ok_or(usage)?
                .to_owned();
            (name.to_string(), path)
        }
        _ => return Err(usage.into()),
    };
    let base = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let full = std::path::Path::new(&base).join(&path);
    let wasm = std::fs::read(&full).map_err(|e| format!("reading {}: {e}", full.display()))?;
    let section = custom_section(&wasm, "pose.interface")?.ok_or(
        "the module has no pose.interface section: build it with pose-contract-sdk's contract!",
    )?;
    let itf: Json = serde_json::from_slice(section).map_err(|e| format!("interface: {e}"))?;
    if itf["pose_interface"] != 1 {
        return Err("unknown interface version (these bindings read version 1)".into());
    }
    let hash: [u8; 32] = Sha256::digest(&wasm).into();
    Generator::new(name, full.display().to_string(), hash).run(&itf)
}

/// The payload of the custom section `name`, bounds-checked.
fn custom_section<'a>(wasm: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, String> {
    fn leb(buf: &[u8], pos: &mut usize) -> Result<usize, String> {
        let mut v = 0usize;
        for shift in (0..35).step_by(7) {
            let b = *buf.get(*pos).ok_or("truncated module")?;
            *pos += 1;
            v |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("overlong LEB128 number".into())
    }
    if wasm.get(..4) != Some(b"\0asm") {
        return Err("not a WebAssembly module".into());
    }
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = leb(wasm, &mut pos)?;
        let end = pos
            .checked_add(size)
            .filter(|e| *e <= wasm.len())
            .ok_or("a section runs past the end")?;
        if id == 0 {
            let mut p = pos;
            let n = leb(&wasm[..end], &mut p)?;
            let name_end = p.checked_add(n).filter(|e| *e <= end).ok_or("bad name")?;
            if &wasm[p..name_end] == name.as_bytes() {
                return Ok(Some(&wasm[name_end..end]));
            }
        }
        pos = end;
    }
    Ok(None)
}

struct Generator {
    name: String,
    module: String,
    path: String,
    hash: [u8; 32],
    /// Struct name -> its definition.
    structs: BTreeMap<String, String>,
}

fn snake(name: &str) -> String {
    let mut s = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

fn ident(j: &Json) -> Result<String, String> {
    let s = j.as_str().ok_or_else(|| format!("not a name: {j}"))?;
    let ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not a Rust identifier"))
    }
}

impl Generator {
    fn new(name: String, path: String, hash: [u8; 32]) -> Self {
        let module = format!("{}_types", snake(&name));
        Generator {
            name,
            module,
            path,
            hash,
            structs: BTreeMap::new(),
        }
    }

    /// The Rust type of an interface type.
    fn ty(&mut self, t: &Json) -> Result<String, String> {
        if let Some(s) = t.as_str() {
            return Ok(match s {
                "unit" => "()".into(),
                "bool" | "u8" | "u16" | "u32" | "u64" | "u128" | "i32" | "i64" | "f32" | "f64" => {
                    s.into()
                }
                "address" => "::pose_client::typed::Address".into(),
                "bytes" => "::pose_client::typed::Bytes".into(),
                s => match s
                    .strip_prefix("bytes")
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    Some(n) => format!("[u8; {n}]"),
                    None => return Err(format!("unknown type {s:?}")),
                },
            });
        }
        if let Some(e) = t.get("rest") {
            return Ok(format!("::std::vec::Vec<{}>", self.ty(e)?));
        }
        if let Some(e) = t.get("optional") {
            return Ok(format!("::core::option::Option<{}>", self.ty(e)?));
        }
        if let (Some(name), Some(fields)) = (t.get("struct"), t.get("fields")) {
            let name = ident(name)?;
            let fields = fields.as_array().ok_or("fields are not a list")?;
            let mut def = String::new();
            let mut writes = String::new();
            let mut reads = String::new();
            for f in fields {
                let fname = ident(&f["name"])?;
                let fty = self.ty(&f["type"])?;
                let _ = writeln!(def, "    pub {fname}: {fty},");
                let _ = writeln!(
                    writes,
                    "        ::pose_client::typed::Codec::write(&self.{fname}, out);"
                );
                let _ = writeln!(
                    reads,
                    "            {fname}: ::pose_client::typed::Codec::read(input)?,"
                );
            }
            let full = format!(
                "/// `{name}` of the contract's interface.\n\
                 #[derive(Clone, Debug, PartialEq)]\n\
                 pub struct {name} {{\n{def}}}\n\
                 impl ::pose_client::typed::Codec for {name} {{\n\
                 fn write(&self, out: &mut ::std::vec::Vec<u8>) {{\n{writes}}}\n\
                 fn read(input: &mut &[u8]) -> ::core::result::Result<Self, ::std::string::String> {{\n\
                 ::core::result::Result::Ok({name} {{\n{reads}}})\n}}\n}}\n"
            );
            match self.structs.get(&name) {
                Some(old) if *old != full => {
                    return Err(format!("two different structs are named {name}"))
                }
                _ => {
                    self.structs.insert(name.clone(), full);
                }
            }
            return Ok(format!("{}::{name}", self.module));
        }
        Err(format!("unknown type {t}"))
    }

    fn run(mut self, itf: &Json) -> Result<String, String> {
        let name = self.name.clone();
        let mut methods = String::new();
        for m in itf["methods"].as_array().ok_or("no methods")? {
            let mname = ident(&m["name"])?;
            let kind = m["kind"].as_str().ok_or("method without kind")?;
            let mut params = String::new();
            let mut writes = String::new();
            for a in m["args"].as_array().ok_or("method without args")? {
                let aname = ident(&a["name"])?;
                let aty = self.ty(&a["type"])?;
                let _ = write!(params, ", {aname}: {aty}");
                let _ = writeln!(
                    writes,
                    "        ::pose_client::typed::Codec::write(&{aname}, &mut input);"
                );
            }
            let result = self.ty(&m["result"])?;
            let doc: String = m["doc"]
                .as_str()
                .unwrap_or_default()
                .lines()
                .map(|l| format!("#[doc = {:?}]\n", format!(" {l}")))
                .collect();
            match kind {
                "init" => {
                    let params = params.trim_start_matches(", ");
                    let _ = write!(
                        methods,
                        "{doc}/// The input of `init` (give it to `PoseClient::deploy`).\n\
                         pub fn init_input({params}) -> ::std::vec::Vec<u8> {{\n\
                         let mut input = ::std::vec::Vec::new();\n{writes}input\n}}\n"
                    );
                }
                "call" | "query" => {
                    let sel = m["selector"]
                        .as_u64()
                        .filter(|s| *s <= 255)
                        .ok_or("bad selector")?;
                    let query = kind == "query";
                    let _ = write!(
                        methods,
                        "{doc}pub async fn {mname}(&self{params}) -> \
                         ::core::result::Result<{result}, ::pose_client::typed::TypedError> {{\n\
                         let mut input = ::std::vec![{sel}u8];\n{writes}\
                         ::pose_client::typed::invoke(self.client, self.cid, {query}, {mname:?}, &input).await\n}}\n"
                    );
                }
                k => return Err(format!("method {mname}: unknown kind {k:?}")),
            }
        }
        let structs: String = self.structs.values().cloned().collect();
        let hash: Vec<String> = self.hash.iter().map(|b| format!("{b}u8")).collect();
        Ok(format!(
            "/// Types of the contract's interface used by [`{name}`].\n\
             #[allow(missing_docs)]\n\
             pub mod {module} {{\n{structs}}}\n\
             /// Typed bindings of the contract in `{path}`.\n\
             #[derive(Clone, Copy)]\n\
             pub struct {name}<'a> {{\n\
             client: &'a ::pose_client::PoseClient,\n\
             cid: ::pose_client::typed::ContractId,\n}}\n\
             #[allow(missing_docs, clippy::too_many_arguments)]\n\
             impl<'a> {name}<'a> {{\n\
             /// sha256 of the `.wasm` file the bindings were generated from.\n\
             pub const CODE_HASH: [u8; 32] = [{hash}];\n\
             /// The contract `cid`; fails unless it runs the code the bindings came from.\n\
             pub async fn at(client: &'a ::pose_client::PoseClient, cid: ::pose_client::typed::ContractId) \
             -> ::core::result::Result<Self, ::pose_client::typed::TypedError> {{\n\
             ::pose_client::typed::check_code(client, cid, Self::CODE_HASH).await?;\n\
             ::core::result::Result::Ok({name} {{ client, cid }})\n}}\n\
             /// The contract `cid`, without checking its code.\n\
             pub fn unchecked(client: &'a ::pose_client::PoseClient, cid: ::pose_client::typed::ContractId) -> Self {{\n\
             {name} {{ client, cid }}\n}}\n\
             /// The contract's id.\n\
             pub fn cid(&self) -> ::pose_client::typed::ContractId {{ self.cid }}\n\
             {methods}}}\n\
             const _: &[u8] = ::core::include_bytes!({path:?});\n",
            module = self.module,
            path = self.path,
            hash = hash.join(", "),
        ))
    }
}
