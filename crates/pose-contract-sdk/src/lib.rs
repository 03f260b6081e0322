//! What contract authors use: entry-point macros, typed storage and the host bindings. no_std
//! + alloc, builds for wasm32-unknown-unknown.
//!
//! A contract is a `cdylib` crate that writes plain Rust functions from input bytes to output
//! bytes and names them with [`entry_points!`]:
//!
//! ```text
//! #![no_std]
//! extern crate alloc;
//! use alloc::vec::Vec;
//! use pose_contract_sdk::{entry_points, env, Error, Item};
//!
//! const COUNTER: Item<u64> = Item::new(b"counter");
//!
//! fn call(_input: &[u8]) -> Result<Vec<u8>, Error> {
//!     let n = COUNTER.get().unwrap_or(0) + 1;
//!     COUNTER.set(&n);
//!     env::emit(b"incremented");
//!     Ok(n.to_le_bytes().to_vec())
//! }
//!
//! entry_points!(call = call);
//! ```
//!
//! Returning `Err` aborts the call: the runtime discards every change it made. The host ABI
//! underneath is documented in the repository's docs/contracts.md.

#![no_std]

extern crate alloc;

pub mod codec;
#[cfg(target_arch = "wasm32")]
pub mod env;
#[cfg(target_arch = "wasm32")]
mod storage;

pub use codec::{Address, Error, Reader, Value, Writer};
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

/// Returns early from the enclosing function with an [`Error`] built from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Error::new(::alloc::format!($($arg)*)))
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
