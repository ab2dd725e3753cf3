//! `kubectl karpenter simulate --disrupt` end to end: the built binary on the bundled example
//! (golden table and JSON), `--now`, feature gates (flag and `FEATURE_GATES`), `--strategy
//! karpenter`, `--min-savings`, a cluster with nothing to do, bad input, and `--from-cluster`
//! over the API-server double (a PodDisruptionBudget blocking a node; the README's ClusterRole
//! granting exactly what is listed).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kube_double::{ApiServer, RecordedRequest};
use serde_json::{json, Value};

const EXAMPLE: &str = "examples/simulate/disruption.yaml";
const NOW: &str = "2026-03-02T12:00:00Z";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `simulate --disrupt <args>` with `env` set (and no ambient FEATURE_GATES or region).
fn disrupt_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"));
    c.arg("simulate")
        .arg("--disrupt")
        .args(args)
        .current_dir(repo())
        .env_remove("AWS_REGION")
        .env_remove("FEATURE_GATES")
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

fn disrupt(args: &[&str]) -> Output {
    disrupt_env(args, &[])
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "simulate --disrupt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn json_of(out: &Output) -> Value {
    let text = stdout(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {text}"))
}

/// The stderr of a failed run; checks it is an error paragraph, not a panic.
fn failure(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!e.contains("panicked"), "{e}");
    e
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Commands of the plan.
fn commands(v: &Value) -> &Vec<Value> {
    v["commands"].as_array().expect("commands[]")
}

/// Candidate node names of every command.
fn disrupted(v: &Value) -> BTreeSet<String> {
    commands(v)
        .iter()
        .flat_map(|c| c["candidates"].as_array().unwrap())
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

fn unchosen_reason(v: &Value, node: &str) -> Option<String> {
    v["unchosen"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["node"] == node)
        .map(|u| u["reason"].as_str().unwrap().to_string())
}

/// The documented contract: simulate's keys, then the plan's; each command well formed; the
/// savings add up to before − after.
fn check_contract(v: &Value) {
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "nodeClaims",
            "existingNodes",
            "pricePerHour",
            "lowerBoundPricePerHour",
            "pending",
            "solveSeconds",
            "commands",
            "unchosen",
            "pricePerHourBefore",
            "pricePerHourAfter"
        ],
        "{v}"
    );
    let mut saved = 0.0;
    let mut last_wave = 0;
    for c in commands(v) {
        for k in [
            "reason",
            "wave",
            "candidates",
            "replacements",
            "savingsPerHour",
            "explanation",
        ] {
            assert!(c.get(k).is_some(), "command without {k}: {c}");
        }
        assert!(
            ["Expired", "Empty", "Drifted", "Underutilized"]
                .contains(&c["reason"].as_str().unwrap()),
            "{c}"
        );
        let wave = c["wave"].as_u64().unwrap();
        assert!(wave >= last_wave.max(1), "waves are ordered from 1: {v}");
        last_wave = wave;
        assert!(!c["candidates"].as_array().unwrap().is_empty(), "{c}");
        for r in c["replacements"].as_array().unwrap() {
            let types = r["instanceTypes"].as_array().unwrap();
            assert_eq!(types[0], r["instanceType"], "cheapest first: {r}");
            assert!(
                r["zone"].is_string() && r["capacityType"].is_string(),
                "{r}"
            );
            assert!(r["pricePerHour"].as_f64().unwrap() > 0.0, "{r}");
        }
        saved += c["savingsPerHour"].as_f64().unwrap();
    }
    let before = v["pricePerHourBefore"].as_f64().unwrap();
    let after = v["pricePerHourAfter"].as_f64().unwrap();
    assert!(after <= before + 1e-9, "{v}");
    assert!(
        (before - after - saved).abs() < 1e-4,
        "savings add up: {before} - {after} vs {saved}"
    );
    for u in v["unchosen"].as_array().unwrap() {
        assert!(u["node"].is_string() && u["reason"].is_string(), "{u}");
    }
}

// ---- the bundled example ----

#[test]
fn example_table_golden() {
    let out = stdout(&disrupt(&["-f", EXAMPLE, "--now", NOW]));
    insta::assert_snapshot!("example_table", out);
}

/// The README shows the example's real output.
#[test]
fn readme_shows_the_examples_real_output() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let cmd = format!("$ kubectl karpenter simulate --disrupt -f {EXAMPLE} --now {NOW}\n");
    let start = readme.find(&cmd).expect("the README runs the example") + cmd.len();
    let shown = &readme[start..];
    let shown = &shown[..shown.find("```").unwrap()];
    let out = stdout(&disrupt(&["-f", EXAMPLE, "--now", NOW]));
    assert_eq!(shown, out, "update the README's simulate --disrupt section");
}

#[test]
fn example_json_golden_and_contract() {
    let mut v = json_of(&disrupt(&["-f", EXAMPLE, "--now", NOW, "-o", "json"]));
    check_contract(&v);
    // what the example is built to show
    let d = disrupted(&v);
    for node in ["ip-10-0-2-14", "ip-10-0-3-15"] {
        assert!(d.contains(node), "{node} is disrupted: {v}");
    }
    let reason_of = |node: &str| {
        commands(&v)
            .iter()
            .find(|c| {
                c["candidates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|n| n == node)
            })
            .map(|c| c["reason"].as_str().unwrap().to_string())
    };
    assert_eq!(reason_of("ip-10-0-2-14").as_deref(), Some("Empty"));
    assert_eq!(reason_of("ip-10-0-3-15").as_deref(), Some("Drifted"));
    assert!(
        commands(&v)
            .iter()
            .any(|c| c["reason"] == "Underutilized"
                && !c["replacements"].as_array().unwrap().is_empty()),
        "a consolidation replaces the m5.2xlarge with a cheaper node: {v}"
    );
    assert!(!d.contains("ip-10-0-3-12") && !d.contains("ip-10-0-1-13"));
    assert!(unchosen_reason(&v, "ip-10-0-3-12")
        .unwrap()
        .contains("PodDisruptionBudget shop/db"));
    assert!(unchosen_reason(&v, "ip-10-0-1-13")
        .unwrap()
        .contains("karpenter.sh/do-not-disrupt"));
    // the price of every node of the input (m5.xlarge 0.192 ×4, m5.large 0.096, r5.large 0.126,
    // m5.2xlarge 0.384 in the embedded catalog)
    assert!(
        (v["pricePerHourBefore"].as_f64().unwrap() - 1.374).abs() < 1e-9,
        "{v}"
    );
    v["solveSeconds"] = json!(0.0);
    insta::assert_json_snapshot!("example_json", v);
}

#[test]
fn without_files_the_bundled_disruption_example_is_used() {
    let bundled = disrupt(&["--now", NOW, "-o", "json"]);
    assert!(String::from_utf8_lossy(&bundled.stderr).contains("bundled example"));
    let mut a = json_of(&bundled);
    let mut b = json_of(&disrupt(&["-f", EXAMPLE, "--now", NOW, "-o", "json"]));
    a["solveSeconds"] = json!(0);
    b["solveSeconds"] = json!(0);
    assert_eq!(a, b);
}

#[test]
fn yaml_output_carries_the_plan() {
    let text = stdout(&disrupt(&["-f", EXAMPLE, "--now", NOW, "-o", "yaml"]));
    let v: Value = serde_saphyr::from_str(&text).unwrap();
    assert!(!commands(&v).is_empty());
    assert!(v["pricePerHourAfter"].as_f64().unwrap() < v["pricePerHourBefore"].as_f64().unwrap());
}

#[test]
fn karpenter_strategy_runs_one_command_per_pass_and_is_never_cheaper() {
    let k = json_of(&disrupt(&[
        "-f",
        EXAMPLE,
        "--now",
        NOW,
        "--strategy",
        "karpenter",
        "-o",
        "json",
    ]));
    check_contract(&k);
    // upstream's controller: the first method that acts ends the pass, one command per wave
    let waves: Vec<u64> = commands(&k)
        .iter()
        .map(|c| c["wave"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = (1..=waves.len() as u64).collect();
    assert_eq!(waves, want, "{k}");
    // methods in upstream's order: emptiness, then drift, then consolidation
    let reasons: Vec<&str> = commands(&k)
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Empty", "Drifted", "Underutilized"], "{k}");

    let d = json_of(&disrupt(&["-f", EXAMPLE, "--now", NOW, "-o", "json"]));
    assert!(
        d["pricePerHourAfter"].as_f64().unwrap() <= k["pricePerHourAfter"].as_f64().unwrap() + 1e-9
    );
    // the default strategy starts several commands in its first wave
    let first_wave = commands(&d).iter().filter(|c| c["wave"] == 1).count();
    assert!(first_wave > 1, "{d}");

    let table = stdout(&disrupt(&[
        "-f",
        EXAMPLE,
        "--now",
        NOW,
        "--strategy",
        "karpenter",
    ]));
    assert!(table.contains("strategy karpenter"), "{table}");
    assert!(
        table.contains(&format!(
            "upstream's controller needs {} passes",
            waves.len()
        )),
        "{table}"
    );
}

#[test]
fn min_savings_drops_the_consolidations_that_save_less() {
    let all = json_of(&disrupt(&["-f", EXAMPLE, "--now", NOW, "-o", "json"]));
    let smallest = commands(&all)
        .iter()
        .filter(|c| c["reason"] == "Underutilized")
        .map(|c| c["savingsPerHour"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!(smallest.is_finite(), "{all}");
    let threshold = format!("{}", smallest + 1.0);
    let v = json_of(&disrupt(&[
        "-f",
        EXAMPLE,
        "--now",
        NOW,
        "--min-savings",
        &threshold,
        "-o",
        "json",
    ]));
    check_contract(&v);
    assert!(
        commands(&v).iter().all(|c| c["reason"] != "Underutilized"),
        "no consolidation saves $1/h more than the smallest one: {v}"
    );
    // emptiness and drift are not consolidation
    assert!(commands(&v).iter().any(|c| c["reason"] == "Empty"), "{v}");
    let e = failure(&disrupt(&["-f", EXAMPLE, "--min-savings=-1"]));
    assert!(e.contains("--min-savings"), "{e}");
}

// ---- --now ----

/// Two m5.xlarge nodes, each with a pod started at 11:30, `consolidateAfter: 1h`.
const WAIT: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 1h
    budgets: [{nodes: "100%"}]
"#;

fn node(name: &str, ty: &str, capacity: &str, pool: &str) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Node
metadata:
  name: {name}
  creationTimestamp: "2026-02-20T08:00:00Z"
  labels:
    kubernetes.io/hostname: {name}
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    node.kubernetes.io/instance-type: {ty}
    topology.kubernetes.io/zone: us-east-1a
    karpenter.sh/nodepool: {pool}
    karpenter.sh/capacity-type: {capacity}
    karpenter.sh/initialized: "true"
spec:
  providerID: aws:///us-east-1a/i-{name}
status:
  allocatable: {{cpu: 3920m, memory: 14162Mi, pods: "58"}}
"#
    )
}

fn pod(name: &str, node: &str, started: &str) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: shop, labels: {{app: web}}}}
spec:
  nodeName: {node}
  containers:
    - name: main
      image: busybox
      resources: {{requests: {{cpu: 250m, memory: 512Mi}}}}
status: {{phase: Running, startTime: "{started}"}}
"#
    )
}

fn wait_cluster(dir: &Path) -> String {
    let text = [
        WAIT.to_string(),
        node("a", "m5.xlarge", "on-demand", "default"),
        node("b", "m5.xlarge", "on-demand", "default"),
        pod("web-1", "a", "2026-03-02T11:30:00Z"),
        pod("web-2", "b", "2026-03-02T11:30:00Z"),
    ]
    .concat();
    write(dir, "wait.yaml", &text)
}

#[test]
fn now_decides_whether_consolidate_after_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let f = wait_cluster(dir.path());
    // 30 minutes after the last pod event: consolidateAfter (1h) not reached
    let early = disrupt(&["-f", &f, "--now", "2026-03-02T12:00:00Z", "-o", "json"]);
    let v = json_of(&early);
    check_contract(&v);
    assert!(commands(&v).is_empty(), "{v}");
    for n in ["a", "b"] {
        let why = unchosen_reason(&v, n).unwrap_or_else(|| panic!("{n} unlisted: {v}"));
        assert!(why.contains("consolidateAfter"), "{why}");
    }
    assert_eq!(v["pricePerHourBefore"], v["pricePerHourAfter"]);
    // the same time twice: the same plan
    let again = json_of(&disrupt(&[
        "-f",
        &f,
        "--now",
        "2026-03-02T12:00:00Z",
        "-o",
        "json",
    ]));
    assert_eq!(v["commands"], again["commands"]);
    assert_eq!(v["unchosen"], again["unchosen"]);

    // 61 minutes after: both nodes are consolidated
    let v = json_of(&disrupt(&[
        "-f",
        &f,
        "--now",
        "2026-03-02T12:31:00Z",
        "-o",
        "json",
    ]));
    check_contract(&v);
    assert!(!commands(&v).is_empty(), "{v}");
    assert!(
        commands(&v).iter().all(|c| c["reason"] == "Underutilized"),
        "{v}"
    );
    assert_eq!(
        disrupted(&v),
        ["a", "b"].iter().map(|s| s.to_string()).collect(),
        "{v}"
    );
    assert!(v["unchosen"].as_array().unwrap().is_empty(), "{v}");
    assert!(
        v["pricePerHourAfter"].as_f64().unwrap() < v["pricePerHourBefore"].as_f64().unwrap(),
        "{v}"
    );
    // one minute short of the hour: still waiting
    let short = json_of(&disrupt(&[
        "-f",
        &f,
        "--now",
        "2026-03-02T12:29:00Z",
        "-o",
        "json",
    ]));
    assert!(commands(&short).is_empty(), "{short}");

    // RFC 3339 with an offset is the same instant
    let offset = json_of(&disrupt(&[
        "-f",
        &f,
        "--now",
        "2026-03-02T14:31:00+02:00",
        "-o",
        "json",
    ]));
    assert_eq!(offset["commands"], v["commands"]);
}

#[test]
fn now_decides_whether_a_budget_window_is_open() {
    let dir = tempfile::tempdir().unwrap();
    // no disruption on weekdays 09:00-17:00 UTC (2026-03-02 is a Monday)
    let text = [
        WAIT.replace(
            r#"budgets: [{nodes: "100%"}]"#,
            r#"budgets: [{nodes: "100%"}, {nodes: "0", schedule: "0 9 * * mon-fri", duration: 8h}]"#,
        ),
        node("a", "m5.xlarge", "on-demand", "default"),
        node("b", "m5.xlarge", "on-demand", "default"),
        pod("web-1", "a", "2026-03-02T08:00:00Z"),
        pod("web-2", "b", "2026-03-02T08:00:00Z"),
    ]
    .concat();
    let f = write(dir.path(), "window.yaml", &text);
    let inside = json_of(&disrupt(&[
        "-f",
        &f,
        "--now",
        "2026-03-02T16:59:00Z",
        "-o",
        "json",
    ]));
    assert!(commands(&inside).is_empty(), "{inside}");
    let why = unchosen_reason(&inside, "a").unwrap();
    assert!(why.contains("budget"), "{why}");
    let after = json_of(&disrupt(&[
        "-f",
        &f,
        "--now",
        "2026-03-02T17:01:00Z",
        "-o",
        "json",
    ]));
    assert_eq!(
        disrupted(&after),
        ["a", "b"].iter().map(|s| s.to_string()).collect(),
        "{after}"
    );
    // Saturday: the weekday window does not open
    let saturday = json_of(&disrupt(&[
        "-f",
        &f,
        "--now",
        "2026-03-07T12:00:00Z",
        "-o",
        "json",
    ]));
    assert!(!commands(&saturday).is_empty(), "{saturday}");
}

#[test]
fn nothing_to_do_says_so_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let f = wait_cluster(dir.path());
    let out = disrupt(&["-f", &f, "--now", "2026-03-02T12:00:00Z"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("nothing to do: no node would be disrupted"),
        "{text}"
    );
    assert!(text.contains("Provisioning: no pending pods."), "{text}");
    assert!(
        text.contains("a: "),
        "each node left alone is named: {text}"
    );
    assert!(
        text.contains("$/h before $0.3840/h → after $0.3840/h"),
        "{text}"
    );
}

#[test]
fn a_bad_now_is_a_usage_error_naming_the_flag() {
    for bad in ["yesterday", "2026-03-02", "2026-13-02T12:00:00Z"] {
        let out = disrupt(&["-f", EXAMPLE, "--now", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let e = failure(&out);
        assert!(e.contains("--now") && e.contains("RFC 3339"), "{e}");
    }
    // --now needs --disrupt
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args(["simulate", "-f", EXAMPLE, "--now", NOW])
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--disrupt"));
}

// ---- feature gates ----

/// One spot m5.2xlarge carrying one small pod: only spot-to-spot consolidation can make it cheaper.
fn spot_cluster(dir: &Path) -> String {
    let text = [
        r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: spot}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 0s
    budgets: [{nodes: "100%"}]
"#
        .to_string(),
        node("spot-1", "m5.2xlarge", "spot", "spot"),
        pod("web-1", "spot-1", "2026-03-02T09:00:00Z"),
    ]
    .concat();
    write(dir, "spot.yaml", &text)
}

fn assert_spot_to_spot(v: &Value) {
    check_contract(v);
    assert_eq!(commands(v).len(), 1, "{v}");
    let c = &commands(v)[0];
    assert_eq!(c["reason"], "Underutilized");
    assert_eq!(c["candidates"], json!(["spot-1"]));
    let r = &c["replacements"][0];
    assert_eq!(r["capacityType"], "spot", "{r}");
    // upstream launches spot-to-spot replacements from the 15 cheapest types
    assert_eq!(r["instanceTypes"].as_array().unwrap().len(), 15, "{r}");
}

#[test]
fn spot_to_spot_consolidation_follows_the_feature_gate() {
    let dir = tempfile::tempdir().unwrap();
    let f = spot_cluster(dir.path());
    let args = ["-f", f.as_str(), "--now", NOW, "-o", "json"];

    // off by default, as upstream
    let off = json_of(&disrupt(&args));
    check_contract(&off);
    assert!(commands(&off).is_empty(), "{off}");
    let why = unchosen_reason(&off, "spot-1").unwrap();
    assert!(why.contains("SpotToSpotConsolidation"), "{why}");

    // the flag
    let mut flag = args.to_vec();
    flag.extend(["--feature-gates", "SpotToSpotConsolidation=true"]);
    assert_spot_to_spot(&json_of(&disrupt(&flag)));

    // the environment variable, as upstream's FEATURE_GATES
    let env = json_of(&disrupt_env(
        &args,
        &[(
            "FEATURE_GATES",
            "NodeRepair=false,SpotToSpotConsolidation=true",
        )],
    ));
    assert_spot_to_spot(&env);

    // the flag wins over the environment
    let mut off_flag = args.to_vec();
    off_flag.extend(["--feature-gates", "SpotToSpotConsolidation=false"]);
    let v = json_of(&disrupt_env(
        &off_flag,
        &[("FEATURE_GATES", "SpotToSpotConsolidation=true")],
    ));
    assert!(commands(&v).is_empty(), "{v}");

    // the table says which gate was used
    let table = stdout(&disrupt_env(
        &["-f", &f, "--now", NOW],
        &[("FEATURE_GATES", "SpotToSpotConsolidation=true")],
    ));
    assert!(table.contains("SpotToSpotConsolidation=true"), "{table}");
    assert!(table.contains("spot, $"), "{table}");
}

#[test]
fn a_bad_feature_gate_is_a_usage_error() {
    let out = disrupt(&["-f", EXAMPLE, "--feature-gates", "SpotToSpot=true"]);
    assert_eq!(out.status.code(), Some(2));
    let e = failure(&out);
    assert!(
        e.contains("--feature-gates") && e.contains("SpotToSpotConsolidation"),
        "{e}"
    );
    let out = disrupt_env(
        &["-f", EXAMPLE],
        &[("FEATURE_GATES", "SpotToSpotConsolidation=yes")],
    );
    assert_eq!(out.status.code(), Some(2));
    let e = failure(&out);
    assert!(
        e.contains("FEATURE_GATES") && e.contains("true or false"),
        "{e}"
    );
    assert!(out.stdout.is_empty());
    // a plain simulate does not read the gates: a value meant for another program is no error
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .args(["simulate", "-o", "json"])
        .current_dir(repo())
        .env("FEATURE_GATES", "SomethingElse=on")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A NodeClaim given beside its Node: its `karpenter.sh/nodepool-hash` differs from the
/// NodePool's (`WhenEmpty`, so only drift can act).
const CLAIMED: &str = r#"apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
  annotations: {karpenter.sh/nodepool-hash: "222", karpenter.sh/nodepool-hash-version: v3}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
  disruption:
    consolidationPolicy: WhenEmpty
    budgets: [{nodes: "100%"}]
---
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: default-abcde
  creationTimestamp: "2026-02-20T08:00:00Z"
  labels: {karpenter.sh/nodepool: default}
  annotations: {karpenter.sh/nodepool-hash: "111", karpenter.sh/nodepool-hash-version: v3}
spec:
  nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
  requirements:
    - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
status:
  providerID: aws:///us-east-1a/i-a
  nodeName: a
  conditions:
    - {type: Launched, status: "True", lastTransitionTime: "2026-02-20T08:00:00Z", reason: Launched, message: ""}
    - {type: Initialized, status: "True", lastTransitionTime: "2026-02-20T08:01:00Z", reason: Initialized, message: ""}
---
apiVersion: v1
kind: Node
metadata:
  name: a
  creationTimestamp: "2026-02-20T08:00:00Z"
  labels:
    kubernetes.io/hostname: a
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    node.kubernetes.io/instance-type: m5.xlarge
    topology.kubernetes.io/zone: us-east-1a
    karpenter.sh/nodepool: default
    karpenter.sh/capacity-type: on-demand
    karpenter.sh/initialized: "true"
spec:
  providerID: aws:///us-east-1a/i-a
status:
  allocatable: {cpu: 3920m, memory: 14162Mi, pods: "58"}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec:
  nodeName: a
  containers:
    - name: main
      image: busybox
      resources: {requests: {cpu: 250m, memory: 512Mi}}
status: {phase: Running, startTime: "2026-03-02T11:30:00Z"}
"#;

#[test]
fn a_given_node_claim_drifts_by_hash_only_at_the_same_hash_version() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "claimed.yaml", CLAIMED);
    let v = json_of(&disrupt(&["-f", &f, "--now", NOW, "-o", "json"]));
    check_contract(&v);
    assert_eq!(commands(&v).len(), 1, "{v}");
    let c = &commands(&v)[0];
    assert_eq!(c["reason"], "Drifted");
    assert_eq!(c["candidates"], json!(["a"]));
    let why = c["explanation"].as_str().unwrap();
    assert!(
        why.contains("NodePoolDrifted") && why.contains("111") && why.contains("222"),
        "{why}"
    );

    // another hash version on the NodeClaim: re-stamped, never drift
    let at = CLAIMED.find("kind: NodeClaim").unwrap();
    let restamp = format!(
        "{}{}",
        &CLAIMED[..at],
        CLAIMED[at..].replacen("hash-version: v3", "hash-version: v2", 1)
    );
    let f = write(dir.path(), "restamp.yaml", &restamp);
    let v = json_of(&disrupt(&["-f", &f, "--now", NOW, "-o", "json"]));
    assert!(commands(&v).is_empty(), "{v}");
    let why = unchosen_reason(&v, "a").unwrap();
    assert!(why.contains("WhenEmpty"), "{why}");
}

// ---- bad input ----

/// `(file name, text, what stderr must name)`.
fn bad_inputs() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let pool = WAIT.to_string();
    vec![
        (
            "kind.yaml",
            format!("{pool}---\napiVersion: v1\nkind: Gadget\nmetadata: {{name: g1}}\n"),
            vec!["Gadget", "g1", "unsupported kind"],
        ),
        (
            "orphan.yaml",
            [pool.clone(), node("n-1", "m5.large", "on-demand", "gone")].concat(),
            vec![
                "Node \"n-1\"",
                "karpenter.sh/nodepool",
                "NodePool \"gone\" is not in the input",
            ],
        ),
        (
            "quantity.yaml",
            [
                pool.clone(),
                node("a", "m5.xlarge", "on-demand", "default"),
                pod("web-1", "a", "2026-03-02T11:30:00Z").replace("250m", "lots"),
            ]
            .concat(),
            vec!["Pod shop/web-1", "lots"],
        ),
        (
            "schedule.yaml",
            pool.replace(
                r#"budgets: [{nodes: "100%"}]"#,
                r#"budgets: [{nodes: "100%"}, {nodes: "0", schedule: "0 25 * * *", duration: 8h}]"#,
            ),
            vec![
                "NodePool \"default\"",
                "spec.disruption.budgets[1].schedule",
            ],
        ),
        (
            "duration.yaml",
            pool.replace(
                r#"budgets: [{nodes: "100%"}]"#,
                r#"budgets: [{nodes: "0", schedule: "@daily", duration: forever}]"#,
            ),
            vec![
                "NodePool \"default\"",
                "spec.disruption.budgets[0].duration",
            ],
        ),
        (
            "nodes.yaml",
            pool.replace(r#"nodes: "100%""#, r#"nodes: "half""#),
            vec![
                "NodePool \"default\"",
                "spec.disruption.budgets[0].nodes",
                "half",
            ],
        ),
        (
            "pdb.yaml",
            [
                pool.clone(),
                "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: db, namespace: shop}\nspec: {minAvailable: \"lots\", selector: {matchLabels: {app: db}}}\n".to_string(),
            ]
            .concat(),
            vec!["PodDisruptionBudget \"shop/db\"", "spec.minAvailable", "lots"],
        ),
        (
            "after.yaml",
            pool.replace("consolidateAfter: 1h", "consolidateAfter: 5 minutes"),
            vec!["NodePool \"default\"", "spec.disruption.consolidateAfter"],
        ),
    ]
}

#[test]
fn bad_input_names_the_file_the_object_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, wants) in bad_inputs() {
        let f = write(dir.path(), name, &text);
        let out = disrupt(&["-f", &f, "--now", NOW]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let e = failure(&out);
        assert!(e.contains(&f), "{name}: the file is named: {e}");
        for w in wants {
            assert!(e.contains(w), "{name}: {w:?} in {e}");
        }
        assert!(out.stdout.is_empty(), "{name}: nothing printed on failure");
    }
}

// ---- --from-cluster ----

fn kube_node(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": "2026-02-20T08:00:00Z", "labels": {
            "kubernetes.io/hostname": name,
            "node.kubernetes.io/instance-type": "m5.xlarge",
            "topology.kubernetes.io/zone": "us-east-1a",
            "topology.kubernetes.io/region": "us-east-1",
            "karpenter.sh/capacity-type": "on-demand",
            "karpenter.sh/nodepool": "default",
            "karpenter.sh/initialized": "true",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/os": "linux"
        }},
        "spec": {"providerID": format!("aws:///us-east-1a/i-{name}")},
        "status": {
            "capacity": {"cpu": "4", "memory": "15Gi", "pods": "58"},
            "allocatable": {"cpu": "3920m", "memory": "14162Mi", "pods": "58"}
        }
    })
}

fn kube_pod(name: &str, node: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "app",
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}}]},
        "status": {"phase": "Running", "startTime": "2026-03-02T09:00:00Z",
            "conditions": [{"type": "PodScheduled", "status": "True"},
                           {"type": "Ready", "status": "True"}]}
    })
}

fn seed_cluster(server: &ApiServer) {
    server.seed(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "default"},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
            ]}},
            "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": "0s", "budgets": [{"nodes": "100%"}]}}
    }));
    server.seed(json!({
        "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
        "metadata": {"name": "default"},
        "spec": {"amiSelectorTerms": [{"alias": "al2023@latest"}], "role": "KarpenterNodeRole",
                 "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}],
                 "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}]}
    }));
    for n in ["node-a", "node-b", "node-c"] {
        server.seed(kube_node(n));
    }
    server.seed(kube_pod("web-1", "node-a", "web"));
    server.seed(kube_pod("web-2", "node-b", "web"));
    server.seed(kube_pod("db-0", "node-c", "db"));
}

fn pdb() -> Value {
    json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}
    })
}

fn from_cluster(server: &ApiServer, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    let mut all = vec!["--from-cluster", "--kubeconfig", kc.to_str().unwrap()];
    all.extend_from_slice(args);
    disrupt(&all)
}

#[tokio::test]
async fn from_cluster_a_pod_disruption_budget_keeps_its_node() {
    let server = ApiServer::start().await;
    seed_cluster(&server);
    // without the PDB, node-c (the db pod's node) goes too: all three pods fit one small node
    let v = json_of(&from_cluster(&server, &["--now", NOW, "-o", "json"]));
    check_contract(&v);
    assert!(disrupted(&v).contains("node-c"), "{v}");
    assert!(unchosen_reason(&v, "node-c").is_none(), "{v}");

    server.seed(pdb());
    let out = from_cluster(&server, &["--now", NOW, "-o", "json"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("read 1 PodDisruptionBudgets"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&out);
    check_contract(&v);
    let d = disrupted(&v);
    assert!(!d.contains("node-c"), "{v}");
    assert_eq!(
        d,
        ["node-a", "node-b"].iter().map(|s| s.to_string()).collect(),
        "the other two nodes' pods move onto node-c: {v}"
    );
    let why = unchosen_reason(&v, "node-c").unwrap();
    assert!(why.contains("PodDisruptionBudget shop/db"), "{why}");
    // 3 × m5.xlarge before, 1 after
    assert!(
        (v["pricePerHourBefore"].as_f64().unwrap() - 0.576).abs() < 1e-9,
        "{v}"
    );
    assert!(
        (v["pricePerHourAfter"].as_f64().unwrap() - 0.192).abs() < 1e-9,
        "{v}"
    );
}

/// (apiGroup, resource, verb) of a list request.
fn rbac_tuple(r: &RecordedRequest) -> (String, String, String) {
    assert_eq!(r.method, "GET", "{r:?}");
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _v, rest @ ..] => (String::new(), rest.to_vec()),
        ["apis", group, _v, rest @ ..] => (group.to_string(), rest.to_vec()),
        _ => panic!("unexpected path {}", r.path),
    };
    assert_eq!(rest.len(), 1, "cluster-wide lists only: {r:?}");
    (group, rest[0].to_string(), "list".to_string())
}

/// The README's `karpenter-simulate` ClusterRole as (apiGroup, resource, verb) triples.
fn readme_grants() -> BTreeSet<(String, String, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("kind: ClusterRole\nmetadata:\n  name: karpenter-simulate")
        .expect("the README has the simulate ClusterRole");
    let block = &readme[start..];
    let role: Value = serde_saphyr::from_str(&block[..block.find("```").unwrap()]).unwrap();
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for g in rule["apiGroups"].as_array().unwrap() {
            for res in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    out.insert((
                        g.as_str().unwrap().to_string(),
                        res.as_str().unwrap().to_string(),
                        v.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn from_cluster_uses_exactly_the_readme_cluster_role() {
    let server = ApiServer::start().await;
    seed_cluster(&server);
    server.seed(pdb());
    server.clear_requests();
    json_of(&from_cluster(&server, &["--now", NOW, "-o", "json"]));
    let used: BTreeSet<_> = server.requests().iter().map(rbac_tuple).collect();
    let granted = readme_grants();
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "requests the ClusterRole does not grant: {missing:?}"
    );
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "grants simulate --disrupt never uses: {unused:?}"
    );
    assert!(used.contains(&(
        "policy".into(),
        "poddisruptionbudgets".into(),
        "list".into()
    )));
}
