//! `kubectl karpenter instance-types` as a user runs it: offline from the embedded catalog, and
//! live against moto.
use std::process::Command;

use crate::support::moto::Moto;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kubectl-karpenter"))
}

fn rows(out: std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("a JSON list")
}

fn price(r: &serde_json::Value) -> f64 {
    let od = r["onDemandPricePerHour"].as_f64().unwrap_or(f64::MAX);
    let spot = r["spotPricePerHour"].as_f64().unwrap_or(f64::MAX);
    od.min(spot)
}

#[test]
fn offline_json_lists_matching_types_cheapest_first() {
    let out = bin()
        .args([
            "instance-types",
            "--offline",
            "--region",
            "us-east-1",
            "-o",
            "json",
        ])
        .args(["--vcpus", "2", "--arch", "arm64"])
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run");
    let rows = rows(out);
    assert!(rows.len() > 5, "{rows:?}");
    for r in &rows {
        assert_eq!(r["vcpu"], 2);
        for k in [
            "name",
            "memoryMiB",
            "allocatableCpu",
            "allocatableMemoryMiB",
            "maxPods",
            "onDemandPricePerHour",
            "spotPricePerHour",
            "zones",
        ] {
            assert!(r.get(k).is_some(), "missing {k} in {r}");
        }
        // The embedded catalog has on-demand prices only: spot is unknown, not a copy.
        assert!(r["spotPricePerHour"].is_null(), "{r}");
        assert!(
            r["onDemandPricePerHour"].as_f64().is_some_and(|p| p > 0.0),
            "{r}"
        );
    }
    assert!(
        rows.windows(2).all(|w| price(&w[0]) <= price(&w[1])),
        "cheapest first"
    );
    let m6g = rows
        .iter()
        .find(|r| r["name"] == "m6g.large")
        .expect("m6g.large");
    assert_eq!(m6g["maxPods"], 29);
    assert!(rows
        .iter()
        .all(|r| !r["name"].as_str().unwrap().starts_with("m5.")));
}

#[test]
fn nodepool_file_filters_and_a_bad_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let np = dir.path().join("nodepool.yaml");
    std::fs::write(
        &np,
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: default}\nspec:\n  template:\n    spec:\n      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n      requirements:\n        - {key: karpenter.k8s.aws/instance-family, operator: In, values: [c5]}\n        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}\n",
    )
    .unwrap();
    let out = bin()
        .args([
            "instance-types",
            "--offline",
            "--region",
            "us-east-1",
            "-o",
            "json",
            "-f",
        ])
        .arg(&np)
        .output()
        .unwrap();
    let rows = rows(out);
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(r["name"].as_str().unwrap().starts_with("c5."), "{r}");
        assert!(r["spotPricePerHour"].is_null(), "spot not allowed: {r}");
    }
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: NodePool\nspec: 7\n").unwrap();
    let out = bin()
        .args(["instance-types", "--offline", "-f"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("NodePool"),
        "{err}"
    );
}

#[test]
fn live_listing_against_moto() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["instance-types", "--region", "us-west-2", "-o", "json"])
        .args([
            "--vcpus",
            "2",
            "--memory",
            "8",
            "--capacity-type",
            "on-demand",
        ])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    let rows = rows(out);
    let m5 = rows
        .iter()
        .find(|r| r["name"] == "m5.large")
        .expect("m5.large");
    assert_eq!(m5["maxPods"], 29);
    assert_eq!(m5["allocatableMemoryMiB"], 6903);
    assert_eq!(m5["onDemandPricePerHour"], 0.096);
    assert!(m5["spotPricePerHour"].is_null());
    let zones: Vec<&str> = m5["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z.as_str().unwrap())
        .collect();
    assert!(
        zones.len() >= 3 && zones.iter().all(|z| z.starts_with("us-west-2")),
        "{zones:?}"
    );
    assert!(rows
        .iter()
        .all(|r| r["vcpu"] == 2 && r["memoryMiB"] == 8192));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodepool_and_nodeclass_from_the_cluster_constrain_the_listing() {
    let server = kube_double::ApiServer::start().await;
    server.seed(serde_json::json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "arm"},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [
                {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["m", "c"]},
                {"key": "karpenter.k8s.aws/instance-cpu", "operator": "In", "values": ["2"]}
            ]}}}
    }));
    server.seed(serde_json::json!({
        "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
        "metadata": {"name": "default"},
        "spec": {
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "role": "KarpenterNodeRole-demo",
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "demo"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "demo"}}],
            "kubelet": {"maxPods": 20, "systemReserved": {"cpu": "100m"}}
        },
        "status": {
            "subnets": [{"id": "subnet-1", "zone": "us-east-1b", "zoneID": "use1-az2"}],
            "amis": [{"id": "ami-1", "name": "al2023-arm64",
                      "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}]
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let kc = kubeconfig.clone();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args([
                "instance-types",
                "--offline",
                "--region",
                "us-east-1",
                "-o",
                "json",
            ])
            .args(["--nodepool", "arm", "--kubeconfig"])
            .arg(&kc)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let rows = rows(out);
    assert!(!rows.is_empty());
    for r in &rows {
        let name = r["name"].as_str().unwrap();
        assert!(name.starts_with('m') || name.starts_with('c'), "{name}");
        let family = name.split('.').next().unwrap();
        let after_generation = family
            .trim_start_matches(|c: char| c.is_ascii_lowercase())
            .trim_start_matches(|c: char| c.is_ascii_digit());
        assert!(after_generation.starts_with('g'), "arm64 AMI only: {name}");
        assert_eq!(r["vcpu"], 2);
        assert_eq!(r["maxPods"], 20, "kubelet.maxPods from the EC2NodeClass");
        assert_eq!(
            r["allocatableCpu"], 1.83,
            "2 vCPU − 70m kubeReserved − 100m systemReserved from the EC2NodeClass"
        );
        assert_eq!(r["zones"], serde_json::json!(["us-east-1b"]));
    }

    let kc = kubeconfig.clone();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args([
                "instance-types",
                "--offline",
                "--nodeclass",
                "missing",
                "--kubeconfig",
            ])
            .arg(&kc)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("EC2NodeClass missing"), "{err}");
}
