//! The cluster model: pod rules, node/claim join, volume topology, and the problem it poses.
use k8s_openapi::api::core::v1 as core;
use karpenter_scheduling::model::TaintEffect;
use karpenter_scheduling::{Catalog, Operator};
use karpenter_state::node::UNSCHEDULABLE_TAINT;
use karpenter_state::pod::role;
use karpenter_state::translate::effective_requests;
use karpenter_state::volume::VolumeRef;
use karpenter_state::{PodRole, ProblemOptions, Reader, Source};
use serde_json::json;

const POOL: &str = "apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: general}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
";

const CLASS: &str = "apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  role: KarpenterNodeRole-demo
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
";

fn read(source: Source, docs: &str) -> Reader {
    let mut r = Reader::new(source);
    r.add_source("t.yaml", docs).unwrap();
    r
}

fn pod(v: serde_json::Value) -> core::Pod {
    serde_json::from_value(v).unwrap()
}

#[test]
fn pods_follow_upstreams_provisionable_rule() {
    let unschedulable =
        json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable"});
    let skip = |r: &PodRole| matches!(r, PodRole::Skip(_));
    type Want = Box<dyn Fn(&PodRole) -> bool>;
    let cases: Vec<(serde_json::Value, Want)> = vec![
        (
            json!({"metadata": {"name": "a"}, "status": {"conditions": [unschedulable]}}),
            Box::new(|r| *r == PodRole::Pending),
        ),
        // not looked at yet by the default scheduler
        (
            json!({"metadata": {"name": "a"}, "status": {"phase": "Pending"}}),
            Box::new(|r| *r == PodRole::Pending),
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"containers": [], "schedulerName": "fargate-scheduler"}}),
            Box::new(skip),
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"containers": [], "nodeName": "n1"}}),
            Box::new(|r| *r == PodRole::Bound("n1".into())),
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"containers": [], "nodeName": "n1"}, "status": {"phase": "Succeeded"}}),
            Box::new(skip),
        ),
        (
            json!({"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"conditions": [unschedulable]}}),
            Box::new(skip),
        ),
        (
            json!({"metadata": {"name": "a", "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u"}]}}),
            Box::new(skip),
        ),
        (
            json!({"metadata": {"name": "a"}, "status": {"nominatedNodeName": "n2", "conditions": [unschedulable]}}),
            Box::new(skip),
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"containers": [], "schedulingGates": [{"name": "g"}]}}),
            Box::new(skip),
        ),
        (
            json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}),
            Box::new(skip),
        ),
    ];
    for (i, (v, want)) in cases.into_iter().enumerate() {
        let got = role(&pod(v));
        assert!(want(&got), "case {i}: {got:?}");
    }
}

/// One rule for both sources: a manifest Pod being deleted gets no node planned (it used to).
#[test]
fn a_manifest_pod_being_deleted_is_not_provisioned_for() {
    let docs = format!(
        "{POOL}---
apiVersion: v1
kind: Pod
metadata: {{name: leaving, deletionTimestamp: '2026-01-01T00:00:00Z'}}
spec: {{containers: [{{name: c, resources: {{requests: {{cpu: '1'}}}}}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: staying}}
spec: {{containers: [{{name: c, resources: {{requests: {{cpu: '1'}}}}}}]}}
"
    );
    let r = read(Source::Manifests, &docs);
    let p = r
        .cluster
        .problem(Catalog::embedded(), "us-east-1", &ProblemOptions::default())
        .unwrap();
    let names: Vec<&str> = p.problem.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["staying"]);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("default/leaving") && n.contains("being deleted")),
        "{:?}",
        r.notes
    );
}

#[test]
fn pv_requirements_use_the_first_term_and_drop_local_hostnames() {
    let docs = "apiVersion: v1
kind: PersistentVolume
metadata: {name: local-1}
spec:
  local: {path: /mnt/d}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: kubernetes.io/hostname, operator: In, values: [ip-1]}
            - {key: failure-domain.beta.kubernetes.io/zone, operator: In, values: [us-east-1b]}
        - matchExpressions:
            - {key: topology.kubernetes.io/zone, operator: In, values: [us-east-1a]}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: odd}
spec:
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions: [{key: k, operator: Near, values: [x]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: a, namespace: ns}
spec: {volumeName: local-1}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: b, namespace: ns}
spec: {volumeName: odd}
";
    let r = read(Source::Cluster, docs);
    let claim = |c: &str| {
        vec![VolumeRef {
            claim: c.to_string(),
            template: None,
        }]
    };
    let v = &r.cluster.volumes;
    let got = v.requirements(Source::Cluster, "ns", &claim("a")).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key, "topology.kubernetes.io/zone");
    assert_eq!(got[0].values, ["us-east-1b"]);
    let e = v
        .requirements(Source::Cluster, "ns", &claim("b"))
        .unwrap_err();
    assert!(
        e.contains("PersistentVolume odd") && e.contains("Near"),
        "{e}"
    );
}

#[test]
fn unbound_claims_use_the_default_storage_class_and_missing_classes_depend_on_source() {
    let docs = "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: zonal
  annotations: {storageclass.kubernetes.io/is-default-class: 'true'}
provisioner: ebs.csi.aws.com
allowedTopologies: [{matchLabelExpressions: [{key: topology.kubernetes.io/zone, values: [us-east-1d]}]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: no-class, namespace: ns}
spec: {}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: empty-class, namespace: ns}
spec: {storageClassName: ''}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: gone-class, namespace: ns}
spec: {storageClassName: gone}
";
    let claim = |c: &str| {
        vec![VolumeRef {
            claim: c.to_string(),
            template: None,
        }]
    };
    for source in [Source::Manifests, Source::Cluster] {
        let r = read(source, docs);
        let v = &r.cluster.volumes;
        let got = v.requirements(source, "ns", &claim("no-class")).unwrap();
        assert_eq!(got[0].values, ["us-east-1d"], "{source:?}");
        let e = v
            .requirements(source, "ns", &claim("empty-class"))
            .unwrap_err();
        assert!(e.contains("ns/empty-class"), "{e}");
    }
    let files = read(Source::Manifests, docs);
    assert!(files
        .cluster
        .volumes
        .requirements(Source::Manifests, "ns", &claim("gone-class"))
        .unwrap()
        .is_empty());
    let cluster = read(Source::Cluster, docs);
    let e = cluster
        .cluster
        .volumes
        .requirements(Source::Cluster, "ns", &claim("gone-class"))
        .unwrap_err();
    assert!(
        e.contains("StorageClass gone") && e.contains("does not exist"),
        "{e}"
    );
    // a generated claim that does not exist yet uses its template's class
    let generated = [VolumeRef {
        claim: "data-db-0".into(),
        template: Some(Some("zonal".into())),
    }];
    let got = cluster
        .cluster
        .volumes
        .requirements(Source::Cluster, "ns", &generated)
        .unwrap();
    assert_eq!(got[0].operator, Operator::In);
}

#[test]
fn disrupted_and_deleting_nodes_are_marked_and_cordoned_nodes_tainted() {
    let r = read(
        Source::Cluster,
        "apiVersion: v1
kind: Node
metadata: {name: v1}
spec: {taints: [{key: karpenter.sh/disrupted, effect: NoSchedule}]}
---
apiVersion: v1
kind: Node
metadata: {name: v1beta1}
spec: {taints: [{key: karpenter.sh/disruption, value: disrupting, effect: NoSchedule}]}
---
apiVersion: v1
kind: Node
metadata: {name: gone, deletionTimestamp: '2026-01-01T00:00:00Z'}
---
apiVersion: v1
kind: Node
metadata: {name: cordoned}
spec: {unschedulable: true}
",
    );
    let nodes = r.cluster.state_nodes();
    let mut deleting: Vec<&str> = nodes
        .iter()
        .filter(|n| n.deleting())
        .map(|n| n.name())
        .collect();
    deleting.sort();
    assert_eq!(deleting, ["gone", "v1", "v1beta1"]);
    let cordoned = nodes.iter().find(|n| n.name() == "cordoned").unwrap();
    let taints = &cordoned.node.unwrap().taints;
    assert_eq!(taints.len(), 1);
    assert_eq!(taints[0].key, UNSCHEDULABLE_TAINT);
    assert_eq!(taints[0].effect, TaintEffect::NoSchedule);
}

#[test]
fn the_newest_default_storage_class_wins() {
    let r = read(
        Source::Cluster,
        "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: a-old, creationTimestamp: '2024-01-01T00:00:00Z', annotations: {storageclass.kubernetes.io/is-default-class: 'true'}}
provisioner: x
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: b-new, creationTimestamp: '2025-01-01T00:00:00Z', annotations: {storageclass.kubernetes.io/is-default-class: 'true'}}
provisioner: x
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: c-newest-not-default, creationTimestamp: '2026-01-01T00:00:00Z'}
provisioner: x
",
    );
    assert_eq!(r.cluster.volumes.default_storage_class(), Some("b-new"));
}

const CLAIM: &str = "apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: general-abc
  labels: {karpenter.sh/nodepool: general}
spec:
  nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
  requirements:
    - {key: topology.kubernetes.io/zone, operator: In, values: [us-east-1b]}
    - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}
    - {key: kubernetes.io/arch, operator: NotIn, values: [arm64]}
status:
  providerID: aws:///us-east-1b/i-0123
  capacity: {cpu: '2', memory: 8Gi, pods: '29'}
";

#[test]
fn node_claim_labels_come_from_single_valued_requirements() {
    let r = read(Source::Cluster, CLAIM);
    let nodes = r.cluster.state_nodes();
    let l = nodes[0].labels();
    assert_eq!(
        l.get("topology.kubernetes.io/zone").map(String::as_str),
        Some("us-east-1b")
    );
    assert_eq!(
        l.get("karpenter.sh/nodepool").map(String::as_str),
        Some("general")
    );
    assert!(!l.contains_key("node.kubernetes.io/instance-type"));
    assert!(!l.contains_key("kubernetes.io/arch"));
}

/// A Node and its NodeClaim are one StateNode; a launched claim without a Node is in-flight
/// capacity until its Node registers.
#[test]
fn nodes_join_their_claims_by_provider_id() {
    let node = "apiVersion: v1
kind: Node
metadata:
  name: ip-10-0-0-1
  labels: {karpenter.sh/nodepool: general, karpenter.sh/initialized: 'true'}
spec: {providerID: 'aws:///us-east-1b/i-0123'}
status: {capacity: {cpu: '2', memory: 8Gi, pods: '29'}}
";
    let alone = read(Source::Cluster, &format!("{POOL}---\n{CLASS}---\n{CLAIM}"));
    let nodes = alone.cluster.state_nodes();
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].node.is_none() && nodes[0].claim.is_some());
    let p = alone
        .cluster
        .problem(Catalog::embedded(), "us-east-1", &ProblemOptions::default())
        .unwrap();
    assert_eq!(p.problem.existing_nodes.len(), 1, "in-flight capacity");
    assert!(!p.problem.existing_nodes[0].initialized);

    let joined = read(
        Source::Cluster,
        &format!("{POOL}---\n{CLASS}---\n{CLAIM}---\n{node}"),
    );
    let nodes = joined.cluster.state_nodes();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0].name(), "ip-10-0-0-1");
    assert_eq!(nodes[0].claim.map(|c| c.name()), Some("general-abc"));
    assert!(nodes[0].initialized());
    let p = joined
        .cluster
        .problem(Catalog::embedded(), "us-east-1", &ProblemOptions::default())
        .unwrap();
    let names: Vec<&str> = p
        .problem
        .existing_nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["ip-10-0-0-1"],
        "the registered claim is not counted twice"
    );
}

/// Consolidation's question: the same cluster with a node gone re-plans that node's pods and
/// keeps DaemonSet pods out of it.
#[test]
fn removing_a_node_re_plans_its_reschedulable_pods() {
    let docs = format!(
        "{POOL}---
{CLASS}---
apiVersion: v1
kind: Node
metadata:
  name: n1
  labels: {{karpenter.sh/nodepool: general, karpenter.sh/initialized: 'true'}}
status: {{capacity: {{cpu: '4', memory: 16Gi, pods: '29'}}}}
---
apiVersion: v1
kind: Node
metadata:
  name: n2
  labels: {{karpenter.sh/nodepool: general, karpenter.sh/initialized: 'true'}}
status: {{capacity: {{cpu: '4', memory: 16Gi, pods: '29'}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: shop}}
spec: {{nodeName: n1, containers: [{{name: c, resources: {{requests: {{cpu: '1'}}}}}}]}}
---
apiVersion: v1
kind: Pod
metadata:
  name: agent
  namespace: kube-system
  ownerReferences: [{{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: u}}]
spec: {{nodeName: n1, containers: [{{name: c, resources: {{requests: {{cpu: 100m}}}}}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: db, namespace: shop}}
spec: {{nodeName: n2, containers: [{{name: c, resources: {{requests: {{cpu: '2'}}}}}}]}}
"
    );
    let r = read(Source::Cluster, &docs);
    let base = r
        .cluster
        .problem(Catalog::embedded(), "us-east-1", &ProblemOptions::default())
        .unwrap();
    assert!(base.problem.pods.is_empty());
    assert_eq!(base.problem.existing_nodes.len(), 2);
    assert_eq!(base.problem.existing_nodes[0].requested.cpu_millis, 1100);

    let without = r
        .cluster
        .problem(
            Catalog::embedded(),
            "us-east-1",
            &ProblemOptions {
                removed_nodes: ["n1".to_string()].into(),
                ..ProblemOptions::default()
            },
        )
        .unwrap();
    let names: Vec<&str> = without
        .problem
        .pods
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["web"], "only the reschedulable pod is re-planned");
    let nodes: Vec<&str> = without
        .problem
        .existing_nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(nodes, ["n2"]);
    assert_eq!(without.problem.existing_nodes[0].requested.cpu_millis, 2000);
}

/// Re-reading an object replaces it in place: order and counts stay stable for informers.
#[test]
fn upserting_again_replaces_in_place() {
    let mut r = read(Source::Cluster, POOL);
    for name in ["a", "b", "a"] {
        r.add_doc(
            "cluster",
            0,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                   "spec": {"containers": [{"name": "c"}]}}),
        )
        .unwrap();
    }
    let names: Vec<&str> = r.cluster.pods().map(|p| p.key.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn a_bad_field_is_named() {
    let mut r = Reader::new(Source::Manifests);
    let e = r
        .add_source(
            "pools.yaml",
            "apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: bad}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: Near, values: [spot]}
",
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pools.yaml")
            && e.contains("NodePool \"bad\"")
            && e.contains("spec.template.spec.requirements[0].operator"),
        "{e}"
    );
}

#[test]
fn init_containers_and_sidecars_follow_kubernetes_rules() {
    let spec: core::PodSpec = serde_json::from_value(json!({
        "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}],
        "initContainers": [
            {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
            {"name": "init", "resources": {"requests": {"cpu": "2", "memory": "100Mi"}}}
        ],
        "overhead": {"cpu": "10m"}
    }))
    .unwrap();
    let r = effective_requests(&spec).unwrap();
    // init: 2000m + 100m sidecar = 2100m > 600m main; + 10m overhead
    assert_eq!(r.cpu_millis, 2110);
    assert_eq!(r.memory_bytes, 1 << 30);
}

#[test]
fn limits_default_missing_requests() {
    let spec: core::PodSpec = serde_json::from_value(json!({
        "containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1"}}}]
    }))
    .unwrap();
    let r = effective_requests(&spec).unwrap();
    assert_eq!(r.cpu_millis, 1000);
    assert_eq!(r.extended.get("nvidia.com/gpu"), Some(&1));
}

#[test]
fn the_bundled_example_parses_into_a_problem() {
    let mut r = Reader::new(Source::Manifests);
    for f in ["nodepools.yaml", "workload.yaml"] {
        let path = format!("{}/../../examples/simulate/{f}", env!("CARGO_MANIFEST_DIR"));
        r.add_source(&path, &std::fs::read_to_string(&path).unwrap())
            .unwrap();
    }
    let p = r
        .cluster
        .problem(Catalog::embedded(), "us-east-1", &ProblemOptions::default())
        .unwrap();
    assert!(p.pending.is_empty());
    assert!(!p.problem.node_pools.is_empty());
    assert!(p.problem.pods.len() >= 10);
}

#[test]
fn pod_disruption_budgets_are_read_and_a_bad_one_is_named() {
    let r = read(
        Source::Manifests,
        "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}
",
    );
    let names: Vec<_> = r
        .cluster
        .pdbs()
        .map(|p| p.metadata.name.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(names, ["web"]);
    let mut bad = Reader::new(Source::Manifests);
    let e = bad
        .add_source(
            "pdb.yaml",
            "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec: {maxUnavailable: [1]}
",
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pdb.yaml") && e.contains("shop/web") && e.contains("spec.maxUnavailable"),
        "{e}"
    );
}
