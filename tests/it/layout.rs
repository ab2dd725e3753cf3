//! Checks on the repository's layout that the compiler cannot make.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo makes a test binary of every `tests/*.rs` and every `tests/*/main.rs`; each links every AWS SDK.
/// The root package keeps exactly one: this one.
#[test]
fn one_integration_test_binary() {
    let tests = repo().join("tests");
    let mut binaries = Vec::new();
    for entry in std::fs::read_dir(&tests).expect("read tests/") {
        let path = entry.expect("entry").path();
        if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            binaries.push(path);
        } else if path.join("main.rs").is_file() {
            binaries.push(path.join("main.rs"));
        }
    }
    binaries.sort();
    assert_eq!(
        binaries,
        [tests.join("it").join("main.rs")],
        "each of these is a test binary that links every AWS SDK: make it a module of tests/it/main.rs"
    );
}

#[allow(dead_code)]
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
