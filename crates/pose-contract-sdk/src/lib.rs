//! What contract authors use: typed methods, typed storage and the host bindings. no_std +
//! alloc, builds for wasm32-unknown-unknown.
//!
//! A contract is a `cdylib` crate that declares its methods with [`contract!`]: plain Rust
//! functions with typed arguments and a typed result, each marked `init`, `call(selector)` or
//! `query(selector)`:
//!
//! ```text
//! #![no_std]
//! extern crate alloc;
//! use pose_contract_sdk::{contract, env, Error, Item};
//!
//! const COUNTER: Item<u64> = Item::new(b"counter");
//!
//! contract! {
//!     /// Adds `by` to the counter and returns the new value.
//!     call(1) fn add(by: u64) -> Result<u64, Error> {
//!         let n = COUNTER.get_or(0) + by;
//!         COUNTER.set(&n);
//!         env::emit(b"added");
//!         Ok(n)
//!     }
//!
//!     /// The counter.
//!     query(1) fn counter() -> Result<u64, Error> {
//!         Ok(COUNTER.get_or(0))
//!     }
//! }
//! ```
//!
//! The macro generates the entry points and their dispatch (the input of a call or query is the
//! method's selector byte followed by its arguments in the [`Value`] encoding; the input of
//! `init` is its arguments), and embeds the contract's [`interface`] in the `.wasm` file.
//! Returning `Err` aborts the call: the runtime discards every change it made, and the message
//! reaches the caller. [`entry_points!`] remains for contracts that parse their input bytes by
//! hand. The host ABI underneath is documented in the repository's docs/contracts.md.

#![no_std]

extern crate alloc;

pub mod codec;
#[cfg(target_arch = "wasm32")]
pub mod env;
pub mod interface;
#[cfg(target_arch = "wasm32")]
mod storage;

pub use codec::{Address, Error, Fixed, Reader, Rest, Value, Writer};

/// The return type of a method of [`contract!`]: `Result<T, E>` where `T` is the encoded
/// result and `E` converts into the abort [`Error`].
pub trait MethodResult {
    /// The result's type.
    type Output: Value;
}

impl<T: Value, E: Into<Error>> MethodResult for Result<T, E> {
    type Output = T;
}

/// What the macros' expansions name; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use alloc::format;
    pub use alloc::vec::Vec;
}
#[cfg(target_arch = "wasm32")]
pub use storage::{Item, Map};

/// Declares the contract's entry points. Each is a function
/// `fn(&[u8]) -> Result<Vec<u8>, Error>` that receives the call's input and returns its output.
/// `init` and `query` are optional; `call` is required.
///
/// ```text
/// entry_points!(init = setup, call = handle, query = read);
/// ```
#[macro_export]
macro_rules! entry_points {
    ($(init = $init:path,)? call = $call:path $(, query = $query:path)? $(,)?) => {
        $(
            /// Entry point `init`, exported to the runtime.
            #[allow(unsafe_code)]
            #[export_name = "init"]
            pub extern "C" fn __pose_entry_init() {
                $crate::env::run_entry($init)
            }
        )?

        /// Entry point `call`, exported to the runtime.
        #[allow(unsafe_code)]
        #[export_name = "call"]
        pub extern "C" fn __pose_entry_call() {
            $crate::env::run_entry($call)
        }

        $(
            /// Entry point `query`, exported to the runtime.
            #[allow(unsafe_code)]
            #[export_name = "query"]
            pub extern "C" fn __pose_entry_query() {
                $crate::env::run_entry($query)
            }
        )?
    };
}

/// Declares a contract's methods and generates its entry points, their dispatch and its
/// interface (see the crate documentation for an example).
///
/// Each method is a function `fn name(arg: Type, ...) -> Result<Out, Error> { ... }` (any
/// error type that converts into [`Error`]; see [`MethodResult`]) preceded by its kind:
///
/// - `init fn ...`: the constructor, at most one; its input is its arguments. Without it,
///   the contract has no `init` export and deploys with an empty input.
/// - `call(N) fn ...`: a state-changing method selected by the first input byte `N`.
/// - `query(N) fn ...`: a read-only method selected by the first input byte `N` (a separate
///   numbering from calls).
///
/// Argument and result types implement [`Value`]; [`value_struct!`] declares structs with
/// named fields, and [`Rest`] takes the rest of the input. Inputs are decoded completely
/// (trailing bytes are an error) before the method runs; an unknown selector fails with
/// `unknown operation N` (calls) or `unknown query N` (queries). Doc comments of the methods
/// go into the interface. Duplicate selectors or names fail to compile.
#[macro_export]
macro_rules! contract {
    (
        $(
            $(#[doc = $doc:literal])*
            $kind:ident $( ($sel:literal) )?
            fn $name:ident ( $( $arg:ident : $aty:ty ),* $(,)? ) -> $ret:ty
            $body:block
        )*
    ) => {
        $(
            $(#[doc = $doc])*
            fn $name( $( $arg: $aty ),* ) -> $ret
            $body
        )*

        /// The contract's interface.
        const __POSE_INTERFACE: $crate::interface::Interface = $crate::interface::Interface {
            methods: &[ $(
                $crate::interface::Method {
                    kind: $crate::__pose_kind!($kind),
                    selector: $crate::__pose_selector!($kind $( ($sel) )?),
                    name: ::core::stringify!($name),
                    doc: &[ $( $doc ),* ],
                    args: &[ $( $crate::interface::Field {
                        name: ::core::stringify!($arg),
                        ty: <$aty as $crate::Value>::TYPE,
                    } ),* ],
                    result: <<$ret as $crate::MethodResult>::Output as $crate::Value>::TYPE,
                },
            )* ],
        };
        const _: () = $crate::interface::check(&__POSE_INTERFACE);
        const __POSE_INTERFACE_LEN: usize = $crate::interface::json_len(&__POSE_INTERFACE);
        /// The interface as JSON; in the custom section `pose.interface` of the module.
        #[allow(unsafe_code, dead_code)]
        #[cfg_attr(target_arch = "wasm32", used, link_section = "pose.interface")]
        static __POSE_INTERFACE_JSON: [u8; __POSE_INTERFACE_LEN] =
            $crate::interface::json(&__POSE_INTERFACE);

        $( $crate::__pose_init!($kind; $name; $( $arg: $aty ),*); )*

        /// Dispatch of `call`: selector byte, then the method's arguments.
        #[allow(dead_code)]
        fn __pose_dispatch_call(
            input: &[u8],
        ) -> ::core::result::Result<$crate::__private::Vec<u8>, $crate::Error> {
            let mut r = $crate::Reader::new(input);
            let op: u8 = r.read()?;
            $( $crate::__pose_arm!(call; $kind $( ($sel) )?; op; r; $name; $( $arg: $aty ),*); )*
            $crate::fail!("unknown operation {op}")
        }

        /// Dispatch of `query`: selector byte, then the method's arguments.
        #[allow(dead_code)]
        fn __pose_dispatch_query(
            input: &[u8],
        ) -> ::core::result::Result<$crate::__private::Vec<u8>, $crate::Error> {
            let mut r = $crate::Reader::new(input);
            let op: u8 = r.read()?;
            $( $crate::__pose_arm!(query; $kind $( ($sel) )?; op; r; $name; $( $arg: $aty ),*); )*
            $crate::fail!("unknown query {op}")
        }

        /// Entry point `call`, exported to the runtime.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[export_name = "call"]
        pub extern "C" fn __pose_entry_call() {
            $crate::env::run_entry(__pose_dispatch_call)
        }

        /// Entry point `query`, exported to the runtime.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[export_name = "query"]
        pub extern "C" fn __pose_entry_query() {
            $crate::env::run_entry(__pose_dispatch_query)
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __pose_kind {
    (init) => {
        $crate::interface::Kind::Init
    };
    (call) => {
        $crate::interface::Kind::Call
    };
    (query) => {
        $crate::interface::Kind::Query
    };
    ($other:ident) => {
        ::core::compile_error!(::core::concat!(
            "unknown method kind `",
            ::core::stringify!($other),
            "`: write `init fn`, `call(N) fn` or `query(N) fn`"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __pose_selector {
    (init) => {
        0
    };
    (init ($sel:literal)) => {
        ::core::compile_error!("`init` takes no selector: write `init fn ...`")
    };
    ($kind:ident ($sel:literal)) => {
        $sel
    };
    ($kind:ident) => {
        ::core::compile_error!("calls and queries need a selector byte: write `call(1) fn ...`")
    };
}

/// The `init` export and its dispatch, for the method of kind `init` only.
#[doc(hidden)]
#[macro_export]
macro_rules! __pose_init {
    (init; $name:ident; $( $arg:ident : $aty:ty ),*) => {
        /// Dispatch of `init`: the arguments, without a selector.
        #[allow(dead_code)]
        fn __pose_dispatch_init(
            input: &[u8],
        ) -> ::core::result::Result<$crate::__private::Vec<u8>, $crate::Error> {
            let mut r = $crate::Reader::new(input);
            $( let $arg: $aty = r.read()?; )*
            r.finish()?;
            let out = $name($( $arg ),*)?;
            ::core::result::Result::Ok($crate::Value::to_bytes(&out))
        }

        /// Entry point `init`, exported to the runtime.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[export_name = "init"]
        pub extern "C" fn __pose_entry_init() {
            $crate::env::run_entry(__pose_dispatch_init)
        }
    };
    ($kind:ident; $name:ident; $( $arg:ident : $aty:ty ),*) => {};
}

/// One arm of a call or query dispatch, for methods of the wanted kind only.
#[doc(hidden)]
#[macro_export]
macro_rules! __pose_arm {
    (call; call ($sel:literal); $op:ident; $r:ident; $name:ident; $( $arg:ident : $aty:ty ),*) => {
        $crate::__pose_arm!(@arm $sel; $op; $r; $name; $( $arg: $aty ),*)
    };
    (query; query ($sel:literal); $op:ident; $r:ident; $name:ident; $( $arg:ident : $aty:ty ),*) => {
        $crate::__pose_arm!(@arm $sel; $op; $r; $name; $( $arg: $aty ),*)
    };
    (@arm $sel:literal; $op:ident; $r:ident; $name:ident; $( $arg:ident : $aty:ty ),*) => {
        if $op == $sel {
            $( let $arg: $aty = $r.read()?; )*
            $r.finish()?;
            let out = $name($( $arg ),*)?;
            return ::core::result::Result::Ok($crate::Value::to_bytes(&out));
        }
    };
    ($want:ident; $kind:ident $( ($sel:literal) )?; $op:ident; $r:ident; $name:ident; $( $arg:ident : $aty:ty ),*) => {};
}

/// Returns early from the enclosing function with an [`Error`] built from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Error::new($crate::__private::format!($($arg)*)))
    };
}

/// Returns early with an [`Error`] unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::fail!($($arg)*);
        }
    };
}

#[cfg(all(target_arch = "wasm32", feature = "runtime-support"))]
mod support {
    #[global_allocator]
    static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        use alloc::string::ToString;
        let msg = info.message().to_string();
        crate::env::abort(&msg)
    }
}
