//! Untyped documents → the cluster model: manifests (`simulate -f`) and the lists a cluster
//! snapshot returns go through the same per-object code, so both are interpreted alike.
//!
//! Workloads expand to their pods (Deployments, StatefulSets and ReplicaSets by `replicas`,
//! Jobs by `parallelism`); DaemonSets become per-node overhead; v1beta1 NodePools (from a
//! cluster), NodeClaims and EC2NodeClasses are brought to v1 through `karpenter-convert`.
use k8s_openapi::api::core::v1 as core;
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_api::sh::v1::{NodeClaim, NodePool as ApiNodePool};
use karpenter_convert::{Document, Location};
use karpenter_scheduling::DaemonSet;
use serde_json::Value;

use crate::cluster::Cluster;
use crate::error::{Context, Error, Result};
use crate::node::{ClaimEntry, NodeEntry};
use crate::nodepool::unusable_reason;
use crate::pod::{PodRole, StatePod};
use crate::problem::Summary;
use crate::translate::{labels_of, pod_from_spec};
use crate::typed::from_value;
use crate::volume::{volume_refs, VolumeRef};
use crate::Source;

/// What a read-only snapshot of a cluster holds, as list results (each object with its
/// `apiVersion` and `kind`).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// NodePools (at `node_pool_version`).
    pub node_pools: Vec<Value>,
    /// `karpenter.sh/v1` or `karpenter.sh/v1beta1`.
    pub node_pool_version: String,
    /// EC2NodeClasses (v1, else v1beta1; empty when neither is served).
    pub node_classes: Vec<Value>,
    /// Nodes.
    pub nodes: Vec<Value>,
    /// NodeClaims (same version as the NodePools).
    pub node_claims: Vec<Value>,
    /// Pods in every namespace.
    pub pods: Vec<Value>,
    /// DaemonSets in every namespace.
    pub daemon_sets: Vec<Value>,
    /// PersistentVolumeClaims in every namespace.
    pub persistent_volume_claims: Vec<Value>,
    /// PersistentVolumes.
    pub persistent_volumes: Vec<Value>,
    /// StorageClasses.
    pub storage_classes: Vec<Value>,
    /// PodDisruptionBudgets in every namespace (what disruption checks before evicting).
    pub pod_disruption_budgets: Vec<Value>,
}

impl Snapshot {
    /// Every object, NodePools and EC2NodeClasses first.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.node_pools
            .iter()
            .chain(&self.node_classes)
            .chain(&self.nodes)
            .chain(&self.node_claims)
            .chain(&self.pods)
            .chain(&self.daemon_sets)
            .chain(&self.persistent_volume_claims)
            .chain(&self.persistent_volumes)
            .chain(&self.storage_classes)
            .chain(&self.pod_disruption_budgets)
    }
}

/// Kinds that do not affect scheduling and are skipped.
const IGNORED_KINDS: &[&str] = &[
    "Namespace",
    "Service",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "HorizontalPodAutoscaler",
    "Ingress",
    "NetworkPolicy",
    "PriorityClass",
];

/// Reads documents into a [`Cluster`].
#[derive(Debug)]
pub struct Reader {
    /// The model built so far.
    pub cluster: Cluster,
    /// Notes about objects that were read but skipped.
    pub notes: Vec<String>,
}

fn text<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

impl Reader {
    /// An empty reader for `source`.
    pub fn new(source: Source) -> Self {
        Reader {
            cluster: Cluster::new(source),
            notes: Vec::new(),
        }
    }

    /// Read every document of a manifest file (multi-document YAML or JSON).
    pub fn add_source(&mut self, file: &str, text: &str) -> Result<()> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text)
            .map_err(|e| Error::new(format!("{file}: not valid YAML: {e}")))?;
        for (i, doc) in docs.into_iter().enumerate() {
            if doc.is_null() {
                continue;
            }
            self.add_doc(file, i + 1, doc)?;
        }
        Ok(())
    }

    /// Read a cluster snapshot. `namespace` restricts only the summary's pending count (the
    /// problem's [`crate::ProblemOptions::namespace`] restricts what is planned).
    pub fn add_snapshot(&mut self, snap: &Snapshot, namespace: Option<&str>) -> Result<Summary> {
        let origin = "cluster";
        if snap.node_pools.is_empty() {
            return Err(Error::new(format!(
                "no NodePools found: is Karpenter installed? The cluster serves {} nodepools but \
                 none exists; create one (see examples/simulate/nodepools.yaml) or check --context",
                snap.node_pool_version
            )));
        }
        for doc in snap
            .node_pools
            .iter()
            .chain(&snap.node_classes)
            .chain(&snap.nodes)
            .chain(&snap.node_claims)
            .chain(&snap.daemon_sets)
            .chain(&snap.persistent_volume_claims)
            .chain(&snap.persistent_volumes)
            .chain(&snap.storage_classes)
            .chain(&snap.pod_disruption_budgets)
        {
            self.add_doc(origin, 0, doc.clone())?;
        }
        // pods oldest first, so the engine's creation order matches the cluster's
        let mut pods: Vec<&Value> = snap.pods.iter().collect();
        pods.sort_by_key(|v| {
            (
                text(v, "/metadata/creationTimestamp"),
                text(v, "/metadata/namespace"),
                text(v, "/metadata/name"),
            )
        });
        for doc in pods {
            let pod: core::Pod = match serde_json::from_value(doc.clone()) {
                Ok(p) => p,
                Err(e) => {
                    self.notes.push(format!(
                        "Pod {}/{} is skipped: not a valid Pod ({e})",
                        text(doc, "/metadata/namespace"),
                        text(doc, "/metadata/name")
                    ));
                    continue;
                }
            };
            let p = StatePod::new(&pod);
            if !matches!(p.role, PodRole::Skip(_)) {
                self.cluster.upsert_pod(p);
            }
        }
        Ok(self.cluster.summary(namespace))
    }

    /// Read one document (`index` is its 1-based position in `file`, 0 for list results).
    pub fn add_doc(&mut self, file: &str, index: usize, doc: Value) -> Result<()> {
        let kind = text(&doc, "/kind").to_string();
        if kind == "List" {
            if let Some(items) = doc.get("items").and_then(Value::as_array) {
                for item in items.clone() {
                    self.add_doc(file, index, item)?;
                }
            }
            return Ok(());
        }
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>")
            .to_string();
        let explicit_ns = doc.pointer("/metadata/namespace").and_then(Value::as_str);
        let ns = explicit_ns.unwrap_or("default").to_string();
        let what = if kind.is_empty() {
            format!("{file}: document {index}")
        } else if let Some(n) = explicit_ns {
            format!("{file}: {kind} {n}/{name}")
        } else {
            format!("{file}: {kind} {name:?}")
        };
        let r = match kind.as_str() {
            "Pod" => self.add_pod(doc),
            "Deployment" | "StatefulSet" | "ReplicaSet" => {
                let replicas = doc
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                self.add_template(&doc, &ns, &name, replicas)
            }
            "Job" => {
                let n = doc
                    .pointer("/spec/parallelism")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                self.add_template(&doc, &ns, &name, n)
            }
            "DaemonSet" => template(&doc).and_then(|t| {
                let spec = t.spec.clone().unwrap_or_default();
                let pod = pod_from_spec(&ns, &name, labels_of(t.metadata.as_ref()), &spec, 0)?;
                self.cluster.upsert_daemon_set(&ns, DaemonSet { name, pod });
                Ok(())
            }),
            "NodePool" => self.add_node_pool(file, index, doc),
            "EC2NodeClass" => to_v1(file, index, doc)
                .and_then(|v| from_value::<EC2NodeClass>(v, "EC2NodeClass"))
                // a setting the overhead cannot use is named here, with its file and object
                .and_then(|c| Ok(crate::nodeclass::overhead_options(&c).map(|_| c)?))
                .map(|c| self.cluster.upsert_node_class(c)),
            "Node" => from_value::<core::Node>(doc, "Node")
                .and_then(|n| NodeEntry::new(&n))
                .map(|n| self.cluster.upsert_node(n)),
            "NodeClaim" => to_v1(file, index, doc)
                .and_then(|v| from_value::<NodeClaim>(v, "NodeClaim"))
                .and_then(ClaimEntry::new)
                .map(|c| self.cluster.upsert_node_claim(c)),
            "PodDisruptionBudget" => {
                from_value(doc, "PodDisruptionBudget").map(|pdb| self.cluster.upsert_pdb(pdb))
            }
            "PersistentVolumeClaim" => serde_json::from_value(doc)
                .context("not a valid PersistentVolumeClaim")
                .map(|c| {
                    self.cluster
                        .volumes
                        .claims
                        .insert((ns.clone(), name.clone()), c);
                }),
            "PersistentVolume" => serde_json::from_value(doc)
                .context("not a valid PersistentVolume")
                .map(|v| {
                    self.cluster.volumes.volumes.insert(name.clone(), v);
                }),
            "StorageClass" => serde_json::from_value(doc)
                .context("not a valid StorageClass")
                .map(|c| {
                    self.cluster.volumes.storage_classes.insert(name.clone(), c);
                }),
            "" => Err(Error::new("missing `kind`")),
            k if IGNORED_KINDS.contains(&k) => Ok(()),
            k => Err(Error::new(format!(
                "unsupported kind {k:?}: simulate reads Pod, Deployment, StatefulSet, ReplicaSet, \
                 Job, DaemonSet, NodePool, EC2NodeClass, Node, NodeClaim, PodDisruptionBudget, \
                 PersistentVolumeClaim, PersistentVolume and StorageClass"
            ))),
        };
        r.context(what)
    }

    fn add_node_pool(&mut self, file: &str, index: usize, doc: Value) -> Result<()> {
        let api = text(&doc, "/apiVersion");
        let v1beta1_ok = self.cluster.source == Source::Cluster && api == "karpenter.sh/v1beta1";
        if api != "karpenter.sh/v1" && !v1beta1_ok {
            return Err(Error::new(format!(
                "apiVersion {api:?} is not supported: simulate reads karpenter.sh/v1 NodePools \
                 (convert older ones with `kubectl karpenter convert`)"
            )));
        }
        let pool: ApiNodePool = from_value(to_v1(file, index, doc)?, "NodePool")?;
        let skip = match self.cluster.source {
            Source::Cluster => unusable_reason(&pool).map(|why| {
                format!(
                    "NodePool {:?} is skipped: {why}",
                    pool.metadata.name.as_deref().unwrap_or("")
                )
            }),
            Source::Manifests => None,
        };
        self.cluster.upsert_node_pool(pool, skip)
    }

    fn add_pod(&mut self, doc: Value) -> Result<()> {
        let pod: core::Pod = serde_json::from_value(doc).context("not a valid Pod")?;
        let p = StatePod::new(&pod);
        if let Err(e) = &p.scheduling {
            return Err(e.clone());
        }
        match &p.role {
            PodRole::Skip(why) => self.notes.push(format!("Pod {} is skipped: {why}", p.key)),
            _ => self.cluster.upsert_pod(p),
        }
        Ok(())
    }

    fn add_template(&mut self, doc: &Value, ns: &str, name: &str, n: i64) -> Result<()> {
        if !(0..=1_000_000).contains(&n) {
            return Err(Error::new(format!("replicas {n} is out of range")));
        }
        let t = template(doc)?;
        let spec = t.spec.clone().unwrap_or_default();
        // StatefulSet volumeClaimTemplates: claim `<template>-<statefulset>-<ordinal>`
        let mut claim_templates = Vec::new();
        if doc.get("kind").and_then(Value::as_str) == Some("StatefulSet") {
            for (i, t) in doc
                .pointer("/spec/volumeClaimTemplates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let field = format!("spec.volumeClaimTemplates[{i}]");
                let vct: core::PersistentVolumeClaim = serde_json::from_value(t.clone())
                    .with_context(|| format!("{field} is not a valid PersistentVolumeClaim"))?;
                let tname = vct
                    .metadata
                    .name
                    .clone()
                    .ok_or_else(|| Error::new(format!("{field}.metadata.name is missing")))?;
                let class = vct.spec.and_then(|s| s.storage_class_name);
                claim_templates.push((tname, class));
            }
        }
        let pod = core::Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                namespace: Some(ns.to_string()),
                name: Some(name.to_string()),
                labels: t.metadata.as_ref().and_then(|m| m.labels.clone()),
                annotations: t.metadata.as_ref().and_then(|m| m.annotations.clone()),
                ..Default::default()
            },
            spec: Some(spec.clone()),
            status: None,
        };
        let base = StatePod::new(&pod);
        let sched = base.scheduling.clone()?;
        if let PodRole::Skip(why) = &base.role {
            self.notes
                .push(format!("the pods of {ns}/{name} are skipped: {why}"));
            return Ok(());
        }
        for i in 0..n {
            let mut p = base.clone();
            p.key.name = format!("{name}-{i}");
            let mut s = sched.clone();
            s.name = p.key.name.clone();
            s.uid = format!("{ns}/{name}-{i:07}");
            p.scheduling = Ok(s);
            let mut refs: Vec<VolumeRef> = volume_refs(&p.key.name, &spec, false);
            for (tname, class) in &claim_templates {
                refs.push(VolumeRef {
                    claim: format!("{tname}-{name}-{i}"),
                    template: Some(class.clone()),
                });
            }
            p.volumes = refs;
            self.cluster.upsert_pod(p);
        }
        Ok(())
    }
}

fn template(doc: &Value) -> Result<core::PodTemplateSpec> {
    let t = doc
        .pointer("/spec/template")
        .cloned()
        .ok_or_else(|| Error::new("spec.template is missing"))?;
    serde_json::from_value(t).context("spec.template is not a valid pod template")
}

/// A v1beta1 NodePool, NodeClaim or EC2NodeClass as v1 (through `karpenter-convert`, keeping
/// the object's metadata and status, whose shapes did not change); v1 objects as they are.
fn to_v1(file: &str, index: usize, doc: Value) -> Result<Value> {
    let api = text(&doc, "/apiVersion");
    if !matches!(api, "karpenter.sh/v1beta1" | "karpenter.k8s.aws/v1beta1") {
        return Ok(doc);
    }
    let docs = [Document {
        location: Location::new(file, index.max(1)),
        value: doc.clone(),
    }];
    let conv = karpenter_convert::convert(&docs, &karpenter_convert::Options::default())
        .map_err(|e| Error::new(format!("cannot be read as v1: {e}")))?;
    let kind = text(&doc, "/kind");
    let mut out = conv
        .objects
        .into_iter()
        .map(|o| o.value)
        .find(|v| text(v, "/kind") == kind)
        .ok_or_else(|| Error::new(format!("cannot be read as v1: no {kind} came out")))?;
    if let (Some(o), Some(src)) = (out.as_object_mut(), doc.as_object()) {
        for key in ["metadata", "status"] {
            if let Some(v) = src.get(key) {
                o.insert(key.to_string(), v.clone());
            }
        }
    }
    Ok(out)
}
