//! `kubectl karpenter simulate` end to end: runs the built binary and checks its JSON contract
//! and its errors.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
        .arg("simulate")
        .args(args)
        .current_dir(repo())
        .env_remove("AWS_REGION")
        .output()
        .expect("the binary runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const POOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: node.kubernetes.io/instance-type, operator: In, values: ["m5.large", "m5.xlarge", "m5.2xlarge"]}
        - {key: karpenter.sh/capacity-type, operator: In, values: ["on-demand"]}
"#;

fn check_contract(v: &Value, pod_count: usize) {
    let claims = v["nodeClaims"].as_array().expect("nodeClaims array");
    let mut placed = 0;
    let mut total = 0.0;
    for c in claims {
        for key in ["nodePool", "instanceType", "zone", "capacityType"] {
            assert!(c[key].is_string(), "nodeClaims[].{key} is a string: {c}");
        }
        let types = c["instanceTypes"].as_array().unwrap();
        assert_eq!(
            types[0], c["instanceType"],
            "instanceTypes is cheapest first"
        );
        total += c["pricePerHour"].as_f64().unwrap();
        for p in c["pods"].as_array().unwrap() {
            assert!(p.as_str().unwrap().contains('/'), "pods are namespace/name");
            placed += 1;
        }
    }
    for (_, pods) in v["existingNodes"]
        .as_object()
        .expect("existingNodes object")
    {
        placed += pods.as_array().unwrap().len();
    }
    let pending = v["pending"].as_array().expect("pending array");
    for p in pending {
        assert!(p["pod"].is_string() && p["reason"].is_string());
    }
    assert_eq!(
        placed + pending.len(),
        pod_count,
        "every pod is decided once"
    );
    let price = v["pricePerHour"].as_f64().unwrap();
    assert!(
        (price - total).abs() < 1e-4,
        "pricePerHour {price} = Σ claims {total}"
    );
    let lb = v["lowerBoundPricePerHour"].as_f64().unwrap();
    assert!(lb <= price + 1e-9 && (lb > 0.0 || claims.is_empty()));
    assert!(v["solveSeconds"].as_f64().unwrap() >= 0.0);
}

#[test]
fn bundled_example_runs_without_arguments() {
    let out = simulate(&["-o", "json"]);
    let v = json(&out);
    // 12 web + 3 db + 6 worker + 4 report + 2 inference
    check_contract(&v, 27);
    assert!(
        v["pending"].as_array().unwrap().is_empty(),
        "{}",
        v["pending"]
    );
    let claims = v["nodeClaims"].as_array().unwrap();
    // inference pods land on the gpu pool; db replicas are on three different nodes
    let gpu: Vec<&Value> = claims.iter().filter(|c| c["nodePool"] == "gpu").collect();
    assert!(!gpu.is_empty());
    for c in &gpu {
        let pods = c["pods"].as_array().unwrap();
        assert!(pods
            .iter()
            .all(|p| p.as_str().unwrap().starts_with("ml/inference-")));
    }
    let db_nodes = claims
        .iter()
        .filter(|c| {
            c["pods"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p.as_str().unwrap().starts_with("shop/db-"))
        })
        .count();
    assert_eq!(db_nodes, 3);
    // web spreads over zones with skew ≤ 1
    let mut zones = std::collections::BTreeMap::new();
    for c in claims {
        for p in c["pods"].as_array().unwrap() {
            if p.as_str().unwrap().starts_with("shop/web-") {
                *zones
                    .entry(c["zone"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
        }
    }
    let max = zones.values().max().copied().unwrap_or(0);
    let min = zones.values().min().copied().unwrap_or(0);
    assert!(zones.len() >= 2 && max - min <= 1, "{zones:?}");
}

#[test]
fn explicit_files_and_karpenter_strategy() {
    let out = simulate(&[
        "-f",
        "examples/simulate/nodepools.yaml",
        "examples/simulate/workload.yaml",
        "--strategy",
        "karpenter",
        "-o",
        "json",
    ]);
    let k = json(&out);
    check_contract(&k, 27);
    let d = json(&simulate(&[
        "-f",
        "examples/simulate/nodepools.yaml",
        "-f",
        "examples/simulate/workload.yaml",
        "-o",
        "json",
    ]));
    assert!(
        d["pricePerHour"].as_f64().unwrap() <= k["pricePerHour"].as_f64().unwrap() + 1e-9,
        "default is never pricier than karpenter"
    );
}

#[test]
fn replicas_expand_and_the_cheapest_type_is_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "in.yaml",
        &format!(
            "{POOL}---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: team}}
spec:
  replicas: 3
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers:
        - name: c
          resources: {{requests: {{cpu: 500m, memory: 1Gi}}}}
"
        ),
    );
    let v = json(&simulate(&["-f", &f, "-o", "json"]));
    check_contract(&v, 3);
    let claims = v["nodeClaims"].as_array().unwrap();
    assert_eq!(claims.len(), 1);
    // 1500m + 3 GiB fits one m5.large (1930m, 6903Mi allocatable)
    assert_eq!(claims[0]["instanceType"], "m5.large");
    assert_eq!(claims[0]["pricePerHour"], 0.096);
    assert_eq!(
        claims[0]["instanceTypes"],
        serde_json::json!(["m5.large", "m5.xlarge", "m5.2xlarge"])
    );
    let pods: Vec<&str> = claims[0]["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(pods.len(), 3);
    assert!(pods.contains(&"team/app-0") && pods.contains(&"team/app-2"));
}

#[test]
fn unschedulable_pod_is_pending_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "in.yaml",
        &format!(
            "{POOL}---
apiVersion: v1
kind: Pod
metadata: {{name: huge, namespace: default}}
spec:
  containers:
    - name: c
      resources: {{requests: {{cpu: '64', memory: 1Gi}}}}
"
        ),
    );
    let v = json(&simulate(&["-f", &f, "-o", "json"]));
    check_contract(&v, 1);
    let pending = v["pending"].as_array().unwrap();
    assert_eq!(pending[0]["pod"], "default/huge");
    let reason = pending[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("default") && reason.contains("cpu"),
        "{reason}"
    );
}

#[test]
fn table_and_yaml_outputs() {
    let out = simulate(&["-o", "table"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NODEPOOL") && text.contains("new NodeClaims"),
        "{text}"
    );
    let out = simulate(&["-o", "yaml"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("nodeClaims:") && text.contains("lowerBoundPricePerHour:"));
}

#[test]
fn unknown_kind_names_file_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "bad.yaml",
        &format!("{POOL}---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w1}}\n"),
    );
    let out = simulate(&["-f", &f]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("bad.yaml") && e.contains("Widget") && e.contains("w1"),
        "{e}"
    );
}

#[test]
fn missing_node_pool_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "pods.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n",
    );
    let out = simulate(&["-f", &f]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no NodePool"), "{}", stderr(&out));
}

#[test]
fn unparseable_quantity_names_file_object_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "q.yaml",
        &format!(
            "{POOL}---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: broken}}
spec:
  template:
    spec:
      containers:
        - name: c
          resources: {{requests: {{cpu: lots}}}}
"
        ),
    );
    let out = simulate(&["-f", &f]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("q.yaml") && e.contains("broken") && e.contains("cpu") && e.contains("lots"),
        "{e}"
    );
}

#[test]
fn other_regions_need_a_catalog() {
    let out = simulate(&["--region", "us-west-2"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--catalog"), "{}", stderr(&out));
}

#[test]
fn from_cluster_is_not_yet_supported() {
    let out = simulate(&["--from-cluster"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not yet supported"),
        "{}",
        stderr(&out)
    );
}
