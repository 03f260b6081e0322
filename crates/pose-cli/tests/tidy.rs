//! Tidy checks on the source tree itself: the habits ARCHITECTURE.md promises hold in the code.

use std::fs;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn crates() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(repo_root().join("crates"))
        .expect("crates/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_crate_has_a_crate_level_doc_comment() {
    for dir in crates() {
        let src = dir.join("src");
        let root = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| src.join(f))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{} has no lib.rs or main.rs", dir.display()));
        let text = fs::read_to_string(&root).unwrap();
        assert!(
            text.trim_start().starts_with("//!"),
            "{} must start with a //! doc comment saying what the crate owns",
            root.display()
        );
    }
}

#[test]
fn every_crate_is_named_in_architecture_md() {
    let arch = fs::read_to_string(repo_root().join("ARCHITECTURE.md")).unwrap();
    for dir in crates() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            arch.contains(&format!("`{name}`")),
            "ARCHITECTURE.md does not describe crate `{name}`"
        );
    }
}

#[test]
fn no_ignored_tests() {
    let mut files = Vec::new();
    rust_files(&repo_root().join("crates"), &mut files);
    let needle = ["#[", "ignore]"].concat();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(&needle),
            "{} has an ignored test: tests either run in CI or are deleted",
            file.display()
        );
    }
}

#[test]
fn enclave_core_does_no_io() {
    let mut files = Vec::new();
    rust_files(&repo_root().join("crates/pose-enclave/src"), &mut files);
    let forbidden = [
        "std::net",
        "std::fs",
        "tokio",
        "SystemTime",
        "Instant::now",
        "thread_rng",
        "OsRng",
        "std::thread",
    ];
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for word in forbidden {
            assert!(
                !text.contains(word),
                "{} uses `{word}`: pose-enclave is sans-IO; time and randomness come through the TEE trait",
                file.display()
            );
        }
    }
}
