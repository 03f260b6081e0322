//! A local anvil node for tests and devnets, and where the external tools are found.
//!
//! Tools come from `$ANVIL` / `$CAST` when set, else from `node_modules/.bin/` in the current
//! directory or one of its parents (the repository root after `scripts/setup`), else from the
//! repository this crate was built in.

use std::path::PathBuf;

use alloy::node_bindings::Anvil;
pub use alloy::node_bindings::AnvilInstance;

use crate::error::ChainError;

/// How long anvil may take to print its listening address (2 busy cores can be slow).
const ANVIL_STARTUP_TIMEOUT_MS: u64 = 60_000;

/// The path of an external tool: `$env_var`, else `node_modules/.bin/<name>` found upwards
/// from the current directory, else in the repository this crate was built from.
pub fn tool_path(env_var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return PathBuf::from(p);
    }
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            let candidate = dir.join("node_modules/.bin").join(name);
            if candidate.exists() {
                return candidate;
            }
            if !dir.pop() {
                break;
            }
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/.bin")
        .join(name)
}

/// The anvil binary (`$ANVIL` or `node_modules/.bin/anvil`).
pub fn anvil_path() -> PathBuf {
    tool_path("ANVIL", "anvil")
}

/// The cast binary (`$CAST` or `node_modules/.bin/cast`).
pub fn cast_path() -> PathBuf {
    tool_path("CAST", "cast")
}

/// Starts anvil on a free 127.0.0.1 port (chosen by anvil itself, so no race with other
/// processes) with `extra_args`. The returned handle kills the process when dropped, also when
/// a test panics.
pub fn spawn_anvil(extra_args: &[&str]) -> Result<AnvilInstance, ChainError> {
    let path = anvil_path();
    if !path.exists() {
        return Err(ChainError::Tool(format!(
            "anvil not found at {}; run scripts/setup or set $ANVIL",
            path.display()
        )));
    }
    Anvil::at(&path)
        .host("127.0.0.1")
        .port(0u16)
        .timeout(ANVIL_STARTUP_TIMEOUT_MS)
        .args(extra_args.iter().copied())
        .try_spawn()
        .map_err(|e| ChainError::Tool(format!("anvil at {} failed to start: {e}", path.display())))
}
