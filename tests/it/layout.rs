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

/// Whether Rust source names the `cli` module as a path segment: `crate::cli`, `kubectl_karpenter::cli`,
/// `super::cli`, `cli::…`, or `cli` inside a `use …::{…}` group. Whitespace is ignored.
fn names_cli_module(source: &str) -> bool {
    let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    compact.match_indices("cli").any(|(i, _)| {
        let before = &compact[..i];
        let after = &compact[i + 3..];
        if before.ends_with(ident) || after.starts_with(ident) {
            return false;
        }
        if after.starts_with("::") || before.ends_with("::") || before.ends_with("::{") {
            return true;
        }
        // `a::{b,cli}`: the innermost open brace before `cli` follows a `::`.
        if before.ends_with(',') {
            let mut depth = 0usize;
            for (j, c) in before.char_indices().rev() {
                match c {
                    '}' => depth += 1,
                    '{' if depth == 0 => return before[..j].ends_with("::"),
                    '{' => depth -= 1,
                    _ => {}
                }
            }
        }
        false
    })
}

#[test]
fn the_cli_module_detector_finds_every_spelling() {
    for uses in [
        "use crate::cli::GlobalArgs;",
        "fn f(g: &crate::cli::GlobalArgs) {}",
        "use kubectl_karpenter::cli;",
        "use crate::{cli::output, cloud};",
        "use crate::{cloud::aws,\n    cli::output};",
        "use crate::{cloud::{aws, provider}, cli};",
        "use super::super::cli::OutputFormat;",
        "let s = cli::output::to_json(&x);",
    ] {
        assert!(names_cli_module(uses), "{uses}");
    }
    for clean in [
        "use clap::Parser;",
        "// the CLI builds these",
        "use crate::cluster::client::KubeOptions;",
        "let client = kube::Client::try_from(config);",
        "Foo { public, cli_args }",
        "use crate::{cloud::aws, cluster::client};",
    ] {
        assert!(!names_cli_module(clean), "{clean}");
    }
}

/// Dependencies point inward: the command line builds plain option structs (`KubeOptions`, `AwsOptions`)
/// and passes them down; no module outside `src/cli/` and `src/main.rs` may use the CLI's types.
#[test]
fn nothing_outside_the_cli_uses_it() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found only {files:?}");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(src.join("cli")) && *f != &src.join("main.rs"))
        .filter(|f| {
            let text =
                std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            names_cli_module(&text)
        })
        .map(|f| f.strip_prefix(repo()).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "these modules use the CLI's types; pass a plain option struct down instead: {offenders:?}"
    );
}

/// The pure crates stay pure: neither the AWS SDK nor the kube client (nor an async runtime) is
/// in their dependency trees, so `cargo test -p <crate>` never builds them.
#[test]
fn pure_crates_have_no_io_stack() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for krate in [
        "karpenter-api",
        "karpenter-convert",
        "karpenter-scheduling",
        "karpenter-state",
        "karpenter-disruption",
    ] {
        let out = std::process::Command::new(&cargo)
            .args([
                "tree",
                "-p",
                krate,
                "-e",
                "normal,dev",
                "--prefix",
                "none",
                "--offline",
            ])
            .current_dir(repo())
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(tree.lines().count() > 3, "{krate}: {tree}");
        for line in tree.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            assert!(
                !(name.starts_with("aws-")
                    || ["kube-client", "hyper", "tokio", "reqwest"].contains(&name)),
                "{krate} must stay pure, but depends on {line}"
            );
        }
    }
}
