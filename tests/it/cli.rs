//! The CLI shell: help, usage errors, exit codes, completions and the kubeconfig error.
use std::path::PathBuf;
use std::process::{Command, Output};

use clap_complete::Shell;
use kubectl_karpenter::cli::completion;
use kubectl_karpenter::cluster::client::KubeOptions;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"));
    // Never reach a real cluster or AWS account from these tests.
    cmd.env_remove("KUBECONFIG")
        .env(
            "HOME",
            std::env::temp_dir().join("kubectl-karpenter-cli-test-home"),
        )
        .env("NO_COLOR", "1");
    cmd
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_every_subcommand_and_the_global_flags() {
    let out = run(&["--help"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&out);
    for sub in [
        "setup",
        "convert",
        "run",
        "scale-to-zero",
        "completion",
        "version",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(sub)),
            "`{sub}` missing from --help:\n{help}"
        );
    }
    for flag in [
        "--kubeconfig",
        "--context",
        "--namespace",
        "--output",
        "--verbose",
        "--yes",
        "--region",
        "--profile",
        "--cluster-name",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    assert!(help.contains("Usage: kubectl karpenter"), "{help}");
}

#[test]
fn unknown_subcommand_is_a_usage_error_with_exit_2() {
    let out = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
    assert!(err.contains("Usage:"), "{err}");
}

#[test]
fn unknown_flag_is_a_usage_error_with_exit_2() {
    let out = run(&["version", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unexpected argument '--no-such-flag'"));
}

#[test]
fn bad_output_format_is_a_usage_error() {
    let out = run(&["version", "-o", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'xml'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn version_prints_the_package_version() {
    let out = run(&["version"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        format!("kubectl-karpenter {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn run_without_a_cluster_name_is_a_usage_error_naming_the_flag_and_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .arg("run")
        .env_remove("CLUSTER_NAME")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--cluster-name") && err.contains("CLUSTER_NAME"),
        "{err}"
    );
}

#[test]
fn run_help_explains_every_setting_with_its_variable() {
    let out = run(&["run", "--help"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&out);
    for (flag, env) in [
        ("--cluster-endpoint", "CLUSTER_ENDPOINT"),
        ("--interruption-queue", "INTERRUPTION_QUEUE"),
        ("--batch-idle-duration", "BATCH_IDLE_DURATION"),
        ("--batch-max-duration", "BATCH_MAX_DURATION"),
        ("--feature-gates", "FEATURE_GATES"),
        ("--metrics-port", "METRICS_PORT"),
        ("--health-probe-port", "HEALTH_PROBE_PORT"),
        ("--log-level", "LOG_LEVEL"),
        ("--log-format", "LOG_FORMAT"),
        ("--leader-election-name", "LEADER_ELECTION_NAME"),
        ("--leader-election-namespace", "LEADER_ELECTION_NAMESPACE"),
    ] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
        assert!(
            help.contains(&format!("env: {env}")),
            "{env} missing:\n{help}"
        );
    }
    for flag in ["--dry-run", "--force", "--simulate", "--print-manifests"] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
    assert!(
        help.contains("[default: 8080]") && help.contains("[default: 8081]"),
        "{help}"
    );
}

fn completion_file(shell: Shell) -> PathBuf {
    let name = match shell {
        Shell::Bash => "kubectl-karpenter.bash",
        Shell::Zsh => "_kubectl-karpenter",
        Shell::Fish => "kubectl-karpenter.fish",
        Shell::PowerShell => "kubectl-karpenter.ps1",
        Shell::Elvish => "kubectl-karpenter.elv",
        _ => unreachable!("not shipped"),
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("completions")
        .join(name)
}

/// `completions/` must match the current CLI. Regenerate with
/// `UPDATE_COMPLETIONS=1 cargo test --test it cli::completions`.
#[test]
fn completions_are_not_stale() {
    let update = std::env::var_os("UPDATE_COMPLETIONS").is_some();
    let mut stale = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
        let want = completion::script(shell);
        let path = completion_file(shell);
        if update {
            std::fs::write(&path, &want).expect("write completion");
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale completion scripts {stale:?}: run `UPDATE_COMPLETIONS=1 cargo test --test it cli::completions`"
    );
}

#[test]
fn completion_subcommand_prints_the_shipped_script() {
    let out = run(&["completion", "bash"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), completion::script(Shell::Bash));
    assert!(stdout(&out).contains("kubectl-karpenter"));
}

fn options_with_kubeconfig(path: PathBuf) -> KubeOptions {
    KubeOptions {
        kubeconfig: Some(path),
        ..Default::default()
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn malformed_kubeconfig_is_one_paragraph_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, "apiVersion: v1\nclusters: [this is: not: yaml\n").unwrap();
    let err = block_on(kubectl_karpenter::cluster::client::config(
        &options_with_kubeconfig(path.clone()),
    ))
    .expect_err("malformed kubeconfig must fail");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one paragraph: {msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("--kubeconfig"), "{msg}");
    assert!(msg.contains("aws eks update-kubeconfig"), "{msg}");
}

#[test]
fn missing_kubeconfig_file_names_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("does-not-exist");
    let err = block_on(kubectl_karpenter::cluster::client::config(
        &options_with_kubeconfig(path.clone()),
    ))
    .expect_err("missing kubeconfig must fail");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("Looked at --kubeconfig"), "{msg}");
}

#[test]
fn unknown_context_is_reported_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1'}\n\
         users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: real\n  context: {cluster: c, user: u}\n\
         current-context: real\n",
    )
    .unwrap();
    let mut opts = options_with_kubeconfig(path);
    opts.context = Some("missing-ctx".into());
    let err = block_on(kubectl_karpenter::cluster::client::config(&opts)).expect_err("bad context");
    let msg = err.to_string();
    assert!(msg.contains("\"missing-ctx\""), "{msg}");

    // The same file with the real context works, and -n overrides the namespace.
    opts.context = Some("real".into());
    opts.namespace = Some("karpenter".into());
    let config = block_on(kubectl_karpenter::cluster::client::config(&opts)).expect("valid");
    assert_eq!(config.default_namespace, "karpenter");
    assert_eq!(config.cluster_url.to_string(), "http://127.0.0.1:1/");
}

/// With the binary on PATH, kubectl dispatches `kubectl karpenter` to it (kubectl is on this machine; where it
/// is not, there is nothing to check).
#[test]
fn kubectl_dispatches_to_the_plugin_on_path() {
    let Ok(kubectl) = which("kubectl") else {
        return;
    };
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let out = Command::new(kubectl)
        .args(["karpenter", "--help"])
        .env("PATH", path)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("kubectl runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&out);
    for sub in ["setup", "convert", "run", "scale-to-zero"] {
        assert!(help.contains(sub), "{help}");
    }
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").ok_or(())?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
