//! `kubectl karpenter convert` end to end: the built binary on files, directories, stdin and a
//! kube-double API server.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-karpenter");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example() -> String {
    repo()
        .join("examples/convert/provisioner.yaml")
        .display()
        .to_string()
}

fn fixture(name: &str) -> String {
    repo()
        .join("crates/convert/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("convert")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run kubectl-karpenter")
}

fn run_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("convert")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl-karpenter");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Parse a YAML stream into objects.
fn objects(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(yaml).expect("output is valid YAML")
}

fn kinds(objs: &[Value]) -> Vec<String> {
    objs.iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn converts_the_bundled_example_and_validates_it() {
    let out = run(&[
        "-f",
        &example(),
        "--node-role",
        "KarpenterNodeRole-my-cluster",
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let objs = objects(&stdout(&out));
    assert_eq!(kinds(&objs), ["NodePool/default", "EC2NodeClass/default"]);
    for o in &objs {
        crd_schema::karpenter::validate_object(o).expect("output validates against the v1 CRDs");
    }
    assert_eq!(objs[1]["spec"]["role"], "KarpenterNodeRole-my-cluster");
    assert_eq!(objs[1]["spec"]["kubelet"], json!({"maxPods": 110}));
    assert!(objs[1]["spec"].get("instanceProfile").is_none());
    // The dropped instanceProfile is named on stderr in the documented format.
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("spec.instanceProfile"))
        .unwrap_or_else(|| panic!("no instanceProfile warning in {err}"));
    assert!(
        line.starts_with(&format!(
            "WARN {}:2 AWSNodeTemplate/default spec.instanceProfile: ",
            example()
        )),
        "{line}"
    );
}

#[test]
fn output_is_deterministic() {
    let a = run(&[
        "-f",
        &fixture("provisioner.yaml"),
        "-f",
        &fixture("nodetemplate.yaml"),
    ]);
    let b = run(&[
        "-f",
        &fixture("provisioner.yaml"),
        "-f",
        &fixture("nodetemplate.yaml"),
    ]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    // kubectl-like key order.
    let text = stdout(&a);
    let first: Vec<&str> = text.lines().take(4).collect();
    assert_eq!(
        first,
        [
            "apiVersion: karpenter.sh/v1",
            "kind: NodePool",
            "metadata:",
            "  name: default"
        ]
    );
}

#[test]
fn reads_stdin_and_prints_json() {
    let input = std::fs::read_to_string(example()).expect("example");
    let out = run_stdin(&["-f", "-", "-o", "json"], &input);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
    assert!(
        stderr(&out).contains("WARN -:2 AWSNodeTemplate/default spec.amiFamily:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn directories_need_recursive_for_subdirectories() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        fixture("provisioner_defaults.yaml"),
        dir.path().join("a.yaml"),
    )
    .expect("copy");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::fs::copy(
        fixture("nodetemplate_no_amifamily.yaml"),
        dir.path().join("sub/b.yml"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("notes.txt"), "not yaml").expect("write");
    let d = dir.path().display().to_string();

    let flat = run(&["-f", &d]);
    assert!(flat.status.success(), "{}", stderr(&flat));
    assert_eq!(kinds(&objects(&stdout(&flat))), ["NodePool/default"]);

    let deep = run(&["-f", &d, "-R"]);
    assert!(deep.status.success(), "{}", stderr(&deep));
    assert_eq!(
        kinds(&objects(&stdout(&deep))),
        ["NodePool/default", "EC2NodeClass/default"]
    );
}

#[test]
fn output_dir_gets_one_file_per_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("v1");
    let out = run(&[
        "-f",
        &fixture("kubelet_conflict.yaml"),
        "--output-dir",
        &out_dir.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        files_in(&out_dir),
        [
            "ec2nodeclass-shared-dense.yaml",
            "ec2nodeclass-shared-plain.yaml",
            "ec2nodeclass-shared.yaml",
            "nodepool-dense.yaml",
            "nodepool-general.yaml",
            "nodepool-plain.yaml",
        ]
    );
    let dense: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(out_dir.join("nodepool-dense.yaml")).expect("read"),
    )
    .expect("yaml");
    assert_eq!(
        dense["spec"]["template"]["spec"]["nodeClassRef"]["name"],
        "shared-dense"
    );
}

#[test]
fn malformed_input_fails_without_partial_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("out");
    let out = run(&[
        "-f",
        &fixture("provisioner_defaults.yaml"),
        "-f",
        &fixture("malformed.yaml"),
        "--output-dir",
        &out_dir.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:2 (line 14): invalid YAML",
            fixture("malformed.yaml")
        )),
        "{err}"
    );
    assert!(
        !out_dir.exists() || files_in(&out_dir).is_empty(),
        "partial output written"
    );
}

#[test]
fn wrong_api_version_and_invalid_source_are_errors() {
    let out = run(&["-f", &fixture("invalid_api_version.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:2 Provisioner/future apiVersion: unsupported karpenter.sh/v1alpha6",
            fixture("invalid_api_version.yaml")
        )),
        "{err}"
    );

    let out = run(&["-f", &fixture("invalid_source_schema.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Provisioner/broken spec.ttlSecondsAfterEmpty:"),
        "{err}"
    );
    assert!(err.contains("must be of type integer"), "{err}");
}

#[test]
fn launch_template_is_unconvertible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&[
        "-f",
        &fixture("provisioner_defaults.yaml"),
        "-f",
        &fixture("nodetemplate_launch_template_name.yaml"),
        "--output-dir",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("AWSNodeTemplate/default spec.launchTemplate: cannot convert"),
        "{}",
        stderr(&out)
    );
    assert!(files_in(dir.path()).is_empty(), "partial output written");
}

#[test]
fn strict_turns_warnings_into_failure() {
    let out = run(&["-f", &example(), "--strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "",
        "nothing is printed under --strict with warnings"
    );
    let err = stderr(&out);
    assert!(err.contains("WARN "), "{err}");
    assert!(err.contains("--strict"), "{err}");

    // A clean input passes --strict.
    let out = run(&[
        "-f",
        &fixture("nodetemplate_kubectl_output.yaml"),
        "--node-role",
        "R",
        "--strict",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn other_kinds_pass_through_or_are_dropped() {
    let f = fixture("unknown_kind.yaml");
    let p = fixture("provisioner_defaults.yaml");
    let out = run(&["-f", &f, "-f", &p]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        kinds(&objects(&stdout(&out))),
        ["Deployment/inflate", "NodePool/default"]
    );
    assert!(stderr(&out).contains("Machine/default-abcde kind: Machines are not converted"));

    let out = run(&["-f", &f, "-f", &p, "--only-karpenter"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(kinds(&objects(&stdout(&out))), ["NodePool/default"]);
}

#[test]
fn to_v1beta1_keeps_kubelet_on_the_nodepool() {
    let out = run(&[
        "-f",
        &fixture("provisioner_provider.yaml"),
        "--to",
        "v1beta1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let objs = objects(&stdout(&out));
    assert_eq!(objs[0]["apiVersion"], "karpenter.sh/v1beta1");
    assert_eq!(
        objs[0]["spec"]["template"]["spec"]["kubelet"]["maxPods"],
        110
    );
    assert_eq!(objs[1]["apiVersion"], "karpenter.k8s.aws/v1beta1");
    for o in &objs {
        crd_schema::karpenter::validate_object(o).expect("validates against crds/v0.32");
    }
}

#[test]
fn usage_errors() {
    // Usage errors exit 2, like clap's own.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("must specify -f"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());

    let out = run(&["-f", &example(), "-o", "table"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("-o yaml"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());

    let out = run_stdin(&["-f", "-"], "# nothing here\n---\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "no objects passed to convert: - held no Kubernetes objects (empty, or only comments)"
        ),
        "{}",
        stderr(&out)
    );

    let out = run(&["-f", "/nonexistent/provisioner.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/provisioner.yaml: cannot read"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_cluster_reads_live_objects() {
    let server = kube_double::ApiServer::start().await;
    server.seed(json!({
        "apiVersion": "karpenter.sh/v1alpha5",
        "kind": "Provisioner",
        "metadata": {"name": "live"},
        "spec": {"providerRef": {"name": "live"}, "ttlSecondsAfterEmpty": 30},
        "status": {"resources": {"cpu": "2"}}
    }));
    server.seed(json!({
        "apiVersion": "karpenter.k8s.aws/v1alpha1",
        "kind": "AWSNodeTemplate",
        "metadata": {"name": "live"},
        "spec": {
            "amiFamily": "Bottlerocket",
            "subnetSelector": {"karpenter.sh/discovery": "c"},
            "securityGroupSelector": {"karpenter.sh/discovery": "c"}
        }
    }));
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let kc = kubeconfig.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "convert",
                "--from-cluster",
                "--kubeconfig",
                &kc,
                "--node-role",
                "R",
            ])
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", stderr(&out));
    let objs = objects(&stdout(&out));
    assert_eq!(kinds(&objs), ["NodePool/live", "EC2NodeClass/live"]);
    // Server-side fields are gone.
    assert!(objs[0]["metadata"].get("uid").is_none());
    assert!(objs[0].get("status").is_none());
    assert_eq!(objs[0]["spec"]["disruption"]["consolidateAfter"], "30s");
}

/// Hostile inputs fail with exit 1 and one clear line naming the input, never a panic.
#[test]
fn hostile_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let check = |out: &Output, expected: &str| {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
        let err = stderr(out);
        assert!(err.contains(expected), "expected {expected:?} in {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(stdout(out).is_empty(), "nothing is printed on error");
    };

    std::fs::write(path("garbage.yaml"), [0xff, 0xfe, 0x00, 0x9f, 0x92, 0x96]).expect("write");
    check(
        &run(&["-f", &path("garbage.yaml")]),
        &format!("{}: not UTF-8 text", path("garbage.yaml")),
    );

    std::fs::write(path("empty.yaml"), "").expect("write");
    check(
        &run(&["-f", &path("empty.yaml")]),
        &format!("{} held no Kubernetes objects", path("empty.yaml")),
    );

    std::fs::create_dir(path("txt-only")).expect("mkdir");
    std::fs::write(path("txt-only/notes.txt"), "hi").expect("write");
    check(
        &run(&["-f", &path("txt-only")]),
        &format!("{}: no .yaml, .yml or .json files", path("txt-only")),
    );

    check(
        &run_stdin(&["-f", "-", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\n"),
        "-f - given twice: stdin can be read once",
    );

    check(
        &run_stdin(
            &["-f", "-"],
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n- 42\n",
        ),
        "-:1 (line 1): items[1] must be a Kubernetes object, found a number",
    );

    check(
        &run_stdin(
            &["-f", "-"],
            "apiVersion: karpenter.sh/v1alpha5\nkind: Provisioner\nmetadata: {name: p}\nspec: null\n",
        ),
        "-:1 Provisioner/p spec.providerRef: a Provisioner needs spec.providerRef",
    );

    check(
        &run_stdin(
            &["-f", "-"],
            "apiVersion: karpenter.sh/v1alpha5\nkind: Provisioner\nmetadata: {name: p}\nspec:\n  providerRef: {name: t}\n  ttlSecondsUntilExpired: 99999999999\n",
        ),
        "-:1 Provisioner/p spec.ttlSecondsUntilExpired: 99999999999 seconds is longer than Karpenter can hold",
    );

    // Nesting and alias bombs are refused by the parser's limits.
    check(
        &run_stdin(&["-f", "-"], &format!("a: {}", "[".repeat(100_000))),
        "-:1 (line 1): invalid YAML",
    );
    check(
        &run_stdin(&["-f", "-"], &"[".repeat(100_000)),
        "-:1 (line 1): invalid JSON",
    );
}

/// `$KUBECONFIG` lists may name files that do not exist (kubectl skips them); an empty cluster
/// is reported as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_cluster_skips_missing_kubeconfig_entries_and_reports_an_empty_cluster() {
    let server = kube_double::ApiServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let missing = dir.path().join("missing-config");
    let list = std::env::join_paths([missing.as_path(), Path::new(""), kubeconfig.as_path()])
        .expect("join KUBECONFIG");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["convert", "--from-cluster"])
            .env("KUBECONFIG", list)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the cluster has no v1alpha5 Provisioners, v1alpha1 AWSNodeTemplates"),
        "{err}"
    );
    assert!(
        !err.contains("kubeconfig"),
        "the missing entry was skipped: {err}"
    );

    // When no listed file exists, the error says so.
    let out = Command::new(BIN)
        .args(["convert", "--from-cluster"])
        .env("KUBECONFIG", &missing)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "no kubeconfig to read: looked at $KUBECONFIG={} (no listed file exists)",
            missing.display()
        )),
        "{err}"
    );
}
