//! The model stays pure: neither the AWS SDK nor the kube client (nor an async runtime) is in
//! its dependency tree, so `cargo test -p karpenter-state` never builds them.
use std::process::Command;

#[test]
fn no_io_stack_in_the_dependency_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "karpenter-state",
            "-e",
            "normal,dev",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("karpenter-scheduling"), "{tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        assert!(
            !(name.starts_with("aws-")
                || name == "kube-client"
                || name == "hyper"
                || name == "tokio"
                || name == "reqwest"),
            "karpenter-state must stay pure, but depends on {line}"
        );
    }
}
