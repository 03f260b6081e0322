//! The `pose` command line. Sub-commands arrive with the crates they drive.

fn main() -> anyhow::Result<()> {
    println!("pose {}: no sub-commands yet", env!("CARGO_PKG_VERSION"));
    Ok(())
}
