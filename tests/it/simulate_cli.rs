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
        assert_eq!(
            c["labels"]["karpenter.sh/nodepool"], c["nodePool"],
            "nodeClaims[].labels names the NodePool: {c}"
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
        // the labels the NodeClaim would carry: the pool's template label and its class
        assert_eq!(c["labels"]["workload"], "gpu", "{c}");
        assert_eq!(
            c["labels"]["karpenter.k8s.aws/ec2nodeclass"], "default",
            "{c}"
        );
        assert!(
            c["labels"].get("topology.kubernetes.io/zone").is_none(),
            "zone comes from the instance, not a label: {c}"
        );
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

/// Issue 15: a negative or out-of-range quantity, or a weight outside 1..=100, is an error that
/// names the file, the object and the field (it used to be accepted, or wrapped, or truncated).
#[test]
fn negative_and_out_of_range_quantities_and_weights_name_file_object_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = |name: &str, resources: &str| {
        format!(
            "{POOL}---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  template:
    spec:
      containers:
        - name: c
          resources: {resources}
"
        )
    };
    for (case, text, needles) in [
        (
            "negative-cpu",
            deployment("neg", "{requests: {cpu: '-4'}}"),
            vec![
                "neg",
                "containers[0].resources.requests.cpu",
                "\"-4\"",
                "negative",
            ],
        ),
        (
            "negative-limit",
            deployment("neglim", "{limits: {memory: -1Gi}}"),
            vec![
                "neglim",
                "containers[0].resources.limits.memory",
                "negative",
            ],
        ),
        (
            "huge-memory",
            deployment("huge", "{requests: {memory: 9Ei}}"),
            vec![
                "huge",
                "containers[0].resources.requests.memory",
                "out of range",
            ],
        ),
        (
            "pool-limit",
            POOL.replace(
                "spec:\n  template:",
                "spec:\n  limits: {cpu: '-10'}\n  template:",
            ),
            vec!["NodePool", "default", "spec.limits.cpu", "negative"],
        ),
        (
            "weight-too-big",
            POOL.replace("spec:\n  template:", "spec:\n  weight: 300\n  template:"),
            vec!["NodePool", "default", "spec.weight", "1 to 100"],
        ),
        (
            // Past i32: once truncated by `as i32` to 5.
            "weight-past-i32",
            POOL.replace(
                "spec:\n  template:",
                "spec:\n  weight: 4294967301\n  template:",
            ),
            vec!["NodePool", "default", "spec.weight", "4294967301"],
        ),
        (
            "weight-negative",
            POOL.replace("spec:\n  template:", "spec:\n  weight: -5\n  template:"),
            vec!["NodePool", "default", "spec.weight", "1 to 100"],
        ),
    ] {
        let file = format!("{case}.yaml");
        let f = write(dir.path(), &file, &text);
        let out = simulate(&["-f", &f, "-o", "json"]);
        let e = stderr(&out);
        assert!(!out.status.success(), "{case}: accepted\n{e}");
        assert!(e.contains(&file), "{case}: no file name in {e}");
        for n in needles {
            assert!(e.contains(n), "{case}: {n:?} missing from {e}");
        }
        assert!(!e.contains("panicked"), "{case}: {e}");
    }
}

/// Issue 15: two containers asking for 5Ei each used to overflow i64 and wrap to a negative
/// request that "fit" anywhere in a release build; the sum now saturates and the pod is pending.
#[test]
fn requests_whose_sum_overflows_leave_the_pod_pending() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "in.yaml",
        &format!(
            "{POOL}---
apiVersion: v1
kind: Pod
metadata: {{name: greedy, namespace: default}}
spec:
  containers:
    - {{name: a, resources: {{requests: {{cpu: 100m, memory: 5Ei}}}}}}
    - {{name: b, resources: {{requests: {{cpu: 100m, memory: 5Ei}}}}}}
"
        ),
    );
    let v = json(&simulate(&["-f", &f, "-o", "json"]));
    assert!(
        v["nodeClaims"].as_array().unwrap().is_empty(),
        "placed: {v}"
    );
    let pending = v["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{v}");
    assert_eq!(pending[0]["pod"], "default/greedy");
    assert!(
        pending[0]["reason"].as_str().unwrap().contains("memory"),
        "{v}"
    );
}

#[test]
fn a_bad_ec2nodeclass_field_is_named_with_file_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let class = |kubelet: &str| {
        format!(
            "{POOL}---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {{name: default}}
spec:
  role: R
  amiSelectorTerms: [{{alias: al2023@latest}}]
  subnetSelectorTerms: [{{tags: {{a: b}}}}]
  securityGroupSelectorTerms: [{{tags: {{a: b}}}}]
  kubelet: {kubelet}
"
        )
    };
    // a field of the wrong type, and a value that is not a quantity
    for (kubelet, field) in [
        ("{maxPods: many}", "spec.kubelet.maxPods"),
        (
            "{kubeReserved: {memory: lots}}",
            "spec.kubelet.kubeReserved.memory",
        ),
    ] {
        let f = write(dir.path(), "nc.yaml", &class(kubelet));
        let out = simulate(&["-f", &f]);
        assert!(!out.status.success());
        let e = stderr(&out);
        assert!(
            e.contains("nc.yaml") && e.contains("EC2NodeClass") && e.contains(field),
            "{e}"
        );
    }
    // the same class with valid settings plans
    let f = write(dir.path(), "nc.yaml", &class("{maxPods: 20}"));
    json(&simulate(&["-f", &f, "-o", "json"]));
}

#[test]
fn other_regions_need_a_catalog() {
    let out = simulate(&["--region", "us-west-2"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--catalog"), "{}", stderr(&out));
}

#[test]
fn from_cluster_conflicts_with_files() {
    let out = simulate(&["--from-cluster", "-f", "examples/simulate/workload.yaml"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}

/// The zone of the NodeClaim holding `pod`.
fn zone_of<'a>(v: &'a Value, pod: &str) -> &'a str {
    v["nodeClaims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["pods"].as_array().unwrap().iter().any(|p| p == pod))
        .unwrap_or_else(|| panic!("{pod} is on no NodeClaim: {v}"))["zone"]
        .as_str()
        .unwrap()
}

fn pod_with_claims(name: &str, claims: &[&str]) -> String {
    let mut vols = String::new();
    for (i, c) in claims.iter().enumerate() {
        vols.push_str(&format!(
            "    - name: v{i}\n      persistentVolumeClaim: {{claimName: {c}}}\n"
        ));
    }
    format!(
        "---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: data}}
spec:
  containers:
    - name: c
      resources: {{requests: {{cpu: 500m, memory: 1Gi}}}}
  volumes:
{vols}"
    )
}

fn zonal_pv(name: &str, key: &str, zone: &str) -> String {
    format!(
        "---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {name}}}
spec:
  capacity: {{storage: 10Gi}}
  accessModes: [ReadWriteOnce]
  csi: {{driver: ebs.csi.aws.com, volumeHandle: vol-{name}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {{key: {key}, operator: In, values: [{zone}]}}
        - matchExpressions:
            - {{key: {key}, operator: In, values: [us-east-1a]}}
"
    )
}

fn bound_pvc(name: &str, volume: &str) -> String {
    format!(
        "---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}, namespace: data}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: gp3
  volumeName: {volume}
  resources: {{requests: {{storage: 10Gi}}}}
"
    )
}

const ZONAL_CLASS: &str = "---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: gp3-1c}
provisioner: ebs.csi.aws.com
volumeBindingMode: WaitForFirstConsumer
allowedTopologies:
  - matchLabelExpressions:
      - {key: topology.ebs.csi.aws.com/zone, values: [us-east-1c]}
";

#[test]
fn a_bound_zonal_volume_pins_the_pods_zone() {
    let dir = tempfile::tempdir().unwrap();
    // without volumes the cheapest offering is in us-east-1a
    let plain = write(
        dir.path(),
        "plain.yaml",
        &format!("{POOL}{}", pod_with_claims("free", &[])),
    );
    let v = json(&simulate(&["-f", &plain, "-o", "json"]));
    assert_eq!(zone_of(&v, "data/free"), "us-east-1a");

    // a PV in us-east-1b (first term; the second term is ignored as upstream ignores it), and one
    // using the EBS CSI driver's legacy zone key in us-east-1d
    let f = write(
        dir.path(),
        "pv.yaml",
        &format!(
            "{POOL}{}{}{}{}{}{}",
            pod_with_claims("db", &["db-data"]),
            bound_pvc("db-data", "pv-b"),
            zonal_pv("pv-b", "topology.kubernetes.io/zone", "us-east-1b"),
            pod_with_claims("legacy", &["legacy-data"]),
            bound_pvc("legacy-data", "pv-d"),
            zonal_pv("pv-d", "topology.ebs.csi.aws.com/zone", "us-east-1d"),
        ),
    );
    let v = json(&simulate(&["-f", &f, "-o", "json"]));
    check_contract(&v, 2);
    assert_eq!(zone_of(&v, "data/db"), "us-east-1b", "{v}");
    assert_eq!(zone_of(&v, "data/legacy"), "us-east-1d", "{v}");
}

#[test]
fn storage_class_allowed_topologies_constrain_unbound_and_ephemeral_claims() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "sc.yaml",
        &format!(
            "{POOL}{ZONAL_CLASS}{}---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: scratch, namespace: data}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: gp3-1c
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: eph, namespace: data}}
spec:
  containers:
    - name: c
      resources: {{requests: {{cpu: 500m}}}}
  volumes:
    - name: cache
      ephemeral:
        volumeClaimTemplate:
          spec:
            accessModes: [ReadWriteOnce]
            storageClassName: gp3-1c
            resources: {{requests: {{storage: 1Gi}}}}
",
            pod_with_claims("app", &["scratch"]),
        ),
    );
    let v = json(&simulate(&["-f", &f, "-o", "json"]));
    check_contract(&v, 2);
    assert_eq!(zone_of(&v, "data/app"), "us-east-1c", "{v}");
    assert_eq!(zone_of(&v, "data/eph"), "us-east-1c", "{v}");
}

#[test]
fn a_missing_claim_leaves_the_pod_pending_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "missing.yaml",
        &format!(
            "{POOL}{}{}",
            pod_with_claims("orphan", &["nowhere"]),
            pod_with_claims("fine", &[]),
        ),
    );
    let v = json(&simulate(&["-f", &f, "-o", "json"]));
    check_contract(&v, 2);
    let pending = v["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{v}");
    assert_eq!(pending[0]["pod"], "data/orphan");
    let reason = pending[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("PersistentVolumeClaim data/nowhere") && reason.contains("-f"),
        "{reason}"
    );
    assert_eq!(zone_of(&v, "data/fine"), "us-east-1a");

    // a claim bound to a volume that is not in the input: pending, naming the volume
    let g = write(
        dir.path(),
        "nopv.yaml",
        &format!(
            "{POOL}{}{}",
            pod_with_claims("db", &["db-data"]),
            bound_pvc("db-data", "pv-gone")
        ),
    );
    let v = json(&simulate(&["-f", &g, "-o", "json"]));
    check_contract(&v, 1);
    let reason = v["pending"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("pv-gone"), "{reason}");
}

#[test]
fn immediate_binding_unbound_claim_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "imm.yaml",
        &format!(
            "{POOL}---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {{name: now}}
provisioner: ebs.csi.aws.com
volumeBindingMode: Immediate
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: c1, namespace: data}}
spec: {{storageClassName: now, accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
{}",
            pod_with_claims("p", &["c1"])
        ),
    );
    let v = json(&simulate(&["-f", &f, "-o", "json"]));
    check_contract(&v, 1);
    let reason = v["pending"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("data/c1") && reason.contains("Immediate"),
        "{reason}"
    );
}

#[test]
fn statefulset_claims_put_each_replica_in_its_volumes_zone() {
    let dir = tempfile::tempdir().unwrap();
    // db-0 and db-1 have claims bound to volumes in 1b and 1c; db-2's claim does not exist yet,
    // so it is a new claim of the template's class, which only allows us-east-1c
    let sts = "---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: db
          resources: {requests: {cpu: '1', memory: 2Gi}}
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: gp3-1c
        resources: {requests: {storage: 10Gi}}
";
    let f = write(
        dir.path(),
        "sts.yaml",
        &format!(
            "{POOL}{ZONAL_CLASS}{sts}{}{}{}{}",
            bound_pvc("data-db-0", "pv-0"),
            zonal_pv("pv-0", "topology.kubernetes.io/zone", "us-east-1b"),
            bound_pvc("data-db-1", "pv-1"),
            zonal_pv("pv-1", "topology.kubernetes.io/zone", "us-east-1d"),
        ),
    );
    let v = json(&simulate(&["-f", &f, "-o", "json"]));
    check_contract(&v, 3);
    assert_eq!(zone_of(&v, "data/db-0"), "us-east-1b", "{v}");
    assert_eq!(zone_of(&v, "data/db-1"), "us-east-1d", "{v}");
    assert_eq!(zone_of(&v, "data/db-2"), "us-east-1c", "{v}");
}

#[test]
fn directories_are_read() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a-pool.yaml", POOL);
    write(dir.path(), "b-pods.yaml", &pod_with_claims("x", &[]));
    write(dir.path(), "notes.txt", "not yaml: [");
    let v = json(&simulate(&[
        "-f",
        &dir.path().display().to_string(),
        "-o",
        "json",
    ]));
    check_contract(&v, 1);
}

#[test]
fn volumes_example_pins_replicas_to_their_volumes() {
    let v = json(&simulate(&[
        "-f",
        "examples/simulate/nodepools.yaml",
        "examples/simulate/volumes.yaml",
        "-o",
        "json",
    ]));
    check_contract(&v, 4);
    assert_eq!(zone_of(&v, "streaming/kafka-0"), "us-east-1b");
    assert_eq!(zone_of(&v, "streaming/kafka-1"), "us-east-1c");
    assert!(["us-east-1a", "us-east-1d"].contains(&zone_of(&v, "streaming/kafka-2")));
    let pending = v["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["pod"], "streaming/cache");
    assert!(pending[0]["reason"]
        .as_str()
        .unwrap()
        .contains("streaming/cache-data"));
}
