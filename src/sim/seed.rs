//! Manifests → the simulated cluster's first state: the objects stored in the API server, the
//! workloads whose pods the simulation's ReplicaSet/StatefulSet/Job controller keeps alive, and
//! the existing Karpenter nodes to adopt.
//!
//! Every document is first read by [`karpenter_state::Reader`], exactly as `simulate` reads it,
//! so a manifest `simulate` rejects (unknown kind, invalid pod, bad NodePool) is rejected here
//! with the same message naming the file and the object, before anything runs.
use std::collections::BTreeMap;

use karpenter_state::{Reader, Source};
use serde_json::{json, Value};

/// A workload whose pods the simulation creates and replaces (the ReplicaSet, StatefulSet and
/// Job controllers of a real cluster).
#[derive(Debug, Clone)]
pub struct Workload {
    /// `Deployment`, `StatefulSet`, `ReplicaSet` or `Job`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Desired pods.
    pub replicas: u32,
    /// The pod template (`metadata`, `spec`).
    pub template: Value,
    /// The owner reference its pods carry.
    pub owner: Value,
    /// Pod name prefix (`<deployment>-<hash>-` for a Deployment's ReplicaSet).
    pub prefix: String,
}

/// What the manifests describe.
#[derive(Debug, Default)]
pub struct Seed {
    /// Objects stored as they are (NodePools and EC2NodeClasses first, then the rest).
    pub objects: Vec<Value>,
    /// Nodes labelled `karpenter.sh/nodepool`: a NodeClaim is synthesized for each.
    pub karpenter_nodes: Vec<Value>,
    /// Workloads, in manifest order.
    pub workloads: Vec<Workload>,
    /// The region the manifests name (a zone or region label), if any.
    pub region_hint: Option<String>,
    /// Notes about skipped objects.
    pub notes: Vec<String>,
}

fn text<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A short stable hash (FNV-1a), for ReplicaSet names and owner uids.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Read manifest sources (`(file name, text)`).
pub fn read(sources: &[(String, String)]) -> Result<Seed, String> {
    let mut reader = Reader::new(Source::Manifests);
    for (name, text) in sources {
        reader.add_source(name, text).map_err(|e| e.to_string())?;
    }
    let mut seed = Seed {
        region_hint: reader.cluster.region_hint(),
        notes: reader.notes,
        ..Seed::default()
    };
    let mut first = Vec::new();
    let mut rest = Vec::new();
    for (file, text) in sources {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text)
            .map_err(|e| format!("{file}: not valid YAML: {e}"))?;
        let mut flat = Vec::new();
        for d in docs {
            if d.get("kind").and_then(Value::as_str) == Some("List") {
                flat.extend(
                    d.get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            } else if !d.is_null() {
                flat.push(d);
            }
        }
        for doc in flat {
            let kind = text_owned(&doc, "/kind");
            match kind.as_str() {
                "NodePool" | "EC2NodeClass" => first.push(doc),
                "Deployment" | "StatefulSet" | "ReplicaSet" | "Job" => {
                    seed.workloads.push(workload(&kind, &doc)?);
                }
                "Pod" => rest.push(pod(doc)),
                "Node" => {
                    let node = node(doc);
                    if node
                        .pointer("/metadata/labels/karpenter.sh~1nodepool")
                        .is_some()
                    {
                        seed.karpenter_nodes.push(node.clone());
                    }
                    rest.push(node);
                }
                "DaemonSet"
                | "PodDisruptionBudget"
                | "PersistentVolumeClaim"
                | "PersistentVolume"
                | "StorageClass"
                | "NodeClaim" => rest.push(doc),
                _ => {} // kinds the reader ignores (Service, ConfigMap, ...)
            }
        }
    }
    // a workload a scenario step names must be unique by kind, namespace and name
    let mut seen = BTreeMap::new();
    for w in &seed.workloads {
        if seen
            .insert((w.kind.clone(), w.namespace.clone(), w.name.clone()), ())
            .is_some()
        {
            return Err(format!(
                "{} {}/{} is defined twice in the manifests",
                w.kind, w.namespace, w.name
            ));
        }
    }
    seed.objects = first.into_iter().chain(rest).collect();
    Ok(seed)
}

fn text_owned(doc: &Value, pointer: &str) -> String {
    text(doc, pointer).to_string()
}

fn workload(kind: &str, doc: &Value) -> Result<Workload, String> {
    let ns = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let name = text_owned(doc, "/metadata/name");
    let replicas = if kind == "Job" {
        doc.pointer("/spec/parallelism")
    } else {
        doc.pointer("/spec/replicas")
    }
    .and_then(Value::as_i64)
    .unwrap_or(1);
    let replicas = u32::try_from(replicas)
        .map_err(|_| format!("{kind} {ns}/{name}: replicas {replicas} is out of range"))?;
    let template = doc.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let h = fnv(&format!("{kind}/{ns}/{name}"));
    let (owner_kind, owner_api, owner_name, prefix) = match kind {
        "Deployment" => {
            let rs = format!("{name}-{:x}", h % 0xff_ffff_ffff);
            ("ReplicaSet", "apps/v1", rs.clone(), format!("{rs}-"))
        }
        "Job" => ("Job", "batch/v1", name.clone(), format!("{name}-")),
        "StatefulSet" => ("StatefulSet", "apps/v1", name.clone(), format!("{name}-")),
        _ => ("ReplicaSet", "apps/v1", name.clone(), format!("{name}-")),
    };
    let owner = json!({
        "apiVersion": owner_api, "kind": owner_kind, "name": owner_name,
        "uid": format!("00000000-0000-4000-8000-{:012x}", h & 0xffff_ffff_ffff),
        "controller": true, "blockOwnerDeletion": true,
    });
    Ok(Workload {
        kind: kind.to_string(),
        namespace: ns,
        name,
        replicas,
        template,
        owner,
        prefix,
    })
}

/// A pod of the manifests: bound ones run, the others are pending.
fn pod(mut doc: Value) -> Value {
    let bound = !text(&doc, "/spec/nodeName").is_empty();
    let status = if bound {
        json!({"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True"}]})
    } else {
        json!({"phase": "Pending"})
    };
    doc["status"] = status;
    doc
}

/// A Node of the manifests, Ready unless it says otherwise.
fn node(mut doc: Value) -> Value {
    let has_ready = doc
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready"));
    if !has_ready {
        if !doc.get("status").is_some_and(Value::is_object) {
            doc["status"] = json!({});
        }
        let conds = doc["status"]
            .as_object_mut()
            .map(|s| s.entry("conditions").or_insert(json!([])));
        if let Some(Value::Array(a)) = conds {
            a.push(json!({"type": "Ready", "status": "True", "reason": "KubeletReady"}));
        }
    }
    doc
}

/// The pod a workload creates, named `prefix` + `suffix`.
pub fn workload_pod(w: &Workload, suffix: &str) -> Value {
    let meta = w.template.get("metadata").cloned().unwrap_or(json!({}));
    let mut metadata = json!({
        "name": format!("{}{suffix}", w.prefix),
        "namespace": w.namespace,
        "ownerReferences": [w.owner],
    });
    for k in ["labels", "annotations"] {
        if let Some(v) = meta.get(k) {
            metadata[k] = v.clone();
        }
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": metadata,
        "spec": w.template.get("spec").cloned().unwrap_or(json!({})),
        "status": {"phase": "Pending"},
    })
}
