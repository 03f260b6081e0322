//! The manager contract's ABI (through alloy's sol! macro) and the chain adapter: deploy,
//! submit, confirmations, event following, chain time. The only crate that speaks JSON-RPC.
