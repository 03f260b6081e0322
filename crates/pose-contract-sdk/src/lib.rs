//! What contract authors use: entry-point macros, typed storage and the host bindings. no_std
//! + alloc, builds for wasm32-unknown-unknown.
