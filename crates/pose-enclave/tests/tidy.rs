//! Tidy checks on the enclave's own sources: the protocol core does no I/O, reads no clock,
//! draws no OS randomness and starts no threads (ARCHITECTURE.md, pose-enclave).

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "std::net",
    "std::fs",
    "std::thread",
    "std::process",
    "tokio",
    "SystemTime",
    "Instant::now",
    "std::time::Instant",
    "thread_rng",
    "OsRng",
    "getrandom",
    "std::env",
    "unsafe ",
];

fn scan(dir: &Path, hits: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("source directory is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            scan(&path, hits);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source file is readable");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for f in FORBIDDEN {
                    if code.contains(f) {
                        hits.push(format!("{}:{}: `{f}`", path.display(), n + 1));
                    }
                }
            }
            if !text.starts_with("//!") {
                hits.push(format!("{}: no module doc", path.display()));
            }
        }
    }
}

#[test]
fn enclave_sources_do_no_io_and_read_no_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut hits = Vec::new();
    scan(&src, &mut hits);
    assert!(
        hits.is_empty(),
        "forbidden in pose-enclave:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_scan_finds_what_it_forbids() {
    // The check itself must bite: a line with a forbidden path is reported.
    let dir = std::env::temp_dir().join(format!("pose-tidy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("bad.rs"),
        "//! doc\nfn f() { let _ = std::time::SystemTime::now(); }\n",
    )
    .expect("write");
    let mut hits = Vec::new();
    scan(&dir, &mut hits);
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(hits.len(), 1, "{hits:?}");
}

#[test]
fn the_on_chain_output_limit_is_the_managers() {
    // `CALL_OUTPUT_BYTES_MAX` is derived from the manager's `MAX_OUTPUT_BYTES`: they must agree.
    let sol = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/PoseManager.sol");
    let text = std::fs::read_to_string(&sol).expect("the manager's source is readable");
    let want = format!(
        "uint256 public constant MAX_OUTPUT_BYTES = {};",
        pose_enclave::limits::MANAGER_OUTPUT_BYTES_MAX
    );
    assert!(
        text.contains(&want),
        "contracts/PoseManager.sol does not declare `{want}`: change MANAGER_OUTPUT_BYTES_MAX \
         with the manager"
    );
}
