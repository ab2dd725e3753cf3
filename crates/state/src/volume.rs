//! Volume topology (upstream `pkg/controllers/provisioning/scheduling/volumetopology.go`):
//! a pod's PersistentVolumeClaims pin it to the zone of their bound volumes, or to their
//! StorageClass's `allowedTopologies`; claims upstream cannot use leave the pod pending with a
//! reason (`ValidatePersistentVolumeClaims`).
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::storage::v1 as storage;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use karpenter_scheduling::{NodeSelectorRequirement, Operator};

use crate::pod::is_deleting;
use crate::Source;

/// A volume of a pod that is (or will be) backed by a PersistentVolumeClaim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRef {
    /// The claim's name (in the pod's namespace).
    pub claim: String,
    /// For claims the pod's controller creates (StatefulSet `volumeClaimTemplates`, `ephemeral`
    /// volumes): the template's `storageClassName`, used when the claim does not exist yet.
    pub template: Option<Option<String>>,
}

/// Annotation marking the default StorageClass.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// Legacy zone keys a PersistentVolume may use, mapped as Karpenter's AWS provider maps them
/// (`NormalizedLabels`).
fn normalize_volume_key(key: &str) -> &str {
    match key {
        "topology.ebs.csi.aws.com/zone" | "failure-domain.beta.kubernetes.io/zone" => {
            "topology.kubernetes.io/zone"
        }
        "failure-domain.beta.kubernetes.io/region" => "topology.kubernetes.io/region",
        other => other,
    }
}

/// The claims a pod's volumes use: `persistentVolumeClaim` volumes, and `ephemeral` volumes
/// (claim `<pod>-<volume>`; skipped on bound pods, whose claim goes away with them, as upstream).
pub fn volume_refs(pod_name: &str, spec: &core::PodSpec, bound: bool) -> Vec<VolumeRef> {
    let mut out = Vec::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(pvc) = &v.persistent_volume_claim {
            out.push(VolumeRef {
                claim: pvc.claim_name.clone(),
                template: None,
            });
        } else if let Some(eph) = &v.ephemeral {
            if bound {
                continue;
            }
            let class = eph
                .volume_claim_template
                .as_ref()
                .and_then(|t| t.spec.storage_class_name.clone());
            out.push(VolumeRef {
                claim: format!("{pod_name}-{}", v.name),
                template: Some(class),
            });
        }
    }
    out
}

/// The cluster's claims, volumes and classes, and how strictly to treat missing ones.
#[derive(Debug, Clone, Default)]
pub struct Volumes {
    /// Claims by (namespace, name).
    pub claims: BTreeMap<(String, String), core::PersistentVolumeClaim>,
    /// PersistentVolumes by name.
    pub volumes: BTreeMap<String, core::PersistentVolume>,
    /// StorageClasses by name.
    pub storage_classes: BTreeMap<String, storage::StorageClass>,
}

impl Volumes {
    /// The default StorageClass (annotated `storageclass.kubernetes.io/is-default-class: "true"`);
    /// when several are, the newest, as the admission plugin picks (ties: the first by name).
    pub fn default_storage_class(&self) -> Option<&str> {
        let mut best: Option<(&String, Option<&meta::Time>)> = None;
        for (name, c) in &self.storage_classes {
            let is_default = c
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                .is_some_and(|v| v == "true");
            if !is_default {
                continue;
            }
            let created = c.metadata.creation_timestamp.as_ref();
            match best {
                Some((_, b)) if created.map(|t| &t.0) <= b.map(|t| &t.0) => {}
                _ => best = Some((name, created)),
            }
        }
        best.map(|(n, _)| n.as_str())
    }

    /// Node requirements from a pod's volumes, as upstream's `VolumeTopology` computes them
    /// (first PV node-affinity term, or the first StorageClass `allowedTopologies` term as
    /// `In`), or the reason Karpenter would not provision for the pod
    /// (`ValidatePersistentVolumeClaims`).
    pub fn requirements(
        &self,
        source: Source,
        ns: &str,
        refs: &[VolumeRef],
    ) -> Result<Vec<NodeSelectorRequirement>, String> {
        let mut out = Vec::new();
        for r in refs {
            let claim_ref = format!("PersistentVolumeClaim {ns}/{}", r.claim);
            let claim = self.claims.get(&(ns.to_string(), r.claim.clone()));
            let (volume_name, class) = match (claim, &r.template) {
                (Some(c), _) => {
                    if is_deleting(&c.metadata) {
                        return Err(format!(
                            "{claim_ref} is being deleted; Karpenter ignores pods whose claims \
                             are being deleted: recreate the claim or remove the volume"
                        ));
                    }
                    let status = c.status.as_ref().and_then(|s| s.phase.as_deref());
                    if status == Some("Lost") {
                        return Err(format!(
                            "{claim_ref} is Lost (its PersistentVolume is gone); Karpenter \
                             ignores the pod: restore the volume or recreate the claim"
                        ));
                    }
                    let spec = c.spec.as_ref();
                    (
                        spec.and_then(|s| s.volume_name.clone())
                            .filter(|v| !v.is_empty()),
                        spec.and_then(|s| s.storage_class_name.clone()),
                    )
                }
                (None, Some(class)) => (None, class.clone()),
                (None, None) => {
                    return Err(format!(
                        "{claim_ref} {}; Karpenter ignores pods whose claims do not exist: {} \
                         or fix the pod's volumes",
                        source.missing(),
                        source.add_hint()
                    ))
                }
            };
            if let Some(vname) = volume_name {
                let Some(pv) = self.volumes.get(&vname) else {
                    return Err(format!(
                        "{claim_ref} is bound to PersistentVolume {vname}, which {}: {}",
                        source.missing(),
                        match source {
                            Source::Manifests => "add it with -f (its nodeAffinity pins the zone)",
                            Source::Cluster => "Karpenter ignores the pod until it exists",
                        }
                    ));
                };
                if is_deleting(&pv.metadata) {
                    return Err(format!(
                        "{claim_ref} is bound to PersistentVolume {vname}, which is being \
                         deleted; Karpenter ignores the pod"
                    ));
                }
                out.extend(pv_requirements(&vname, pv)?);
                continue;
            }
            // unbound: the StorageClass decides
            let class = match class {
                Some(c) if c.is_empty() => {
                    return Err(format!(
                        "{claim_ref} is unbound and sets storageClassName: \"\"; Karpenter cannot \
                         provision for an unbound claim without a StorageClass: bind it to a \
                         PersistentVolume or name a StorageClass"
                    ))
                }
                Some(c) => c,
                None => match self.default_storage_class() {
                    Some(d) => d.to_string(),
                    None if source == Source::Manifests => continue,
                    None => {
                        return Err(format!(
                            "{claim_ref} is unbound and has no StorageClass (and the cluster has \
                             no default StorageClass); Karpenter cannot provision for it: name a \
                             StorageClass or bind it to a PersistentVolume"
                        ))
                    }
                },
            };
            let Some(sc) = self.storage_classes.get(&class) else {
                match source {
                    // manifests often leave StorageClasses out: no requirement
                    Source::Manifests => continue,
                    Source::Cluster => {
                        return Err(format!(
                            "{claim_ref} uses StorageClass {class}, which does not exist in the \
                             cluster; Karpenter ignores the pod: create the StorageClass or fix \
                             spec.storageClassName"
                        ))
                    }
                }
            };
            if sc.volume_binding_mode.as_deref() == Some("Immediate") {
                return Err(format!(
                    "{claim_ref} is unbound and its StorageClass {class} uses volumeBindingMode \
                     Immediate; Karpenter ignores the pod until the claim is bound (use \
                     WaitForFirstConsumer so the volume follows the node)"
                ));
            }
            if let Some(term) = sc.allowed_topologies.iter().flatten().next() {
                for e in term.match_label_expressions.iter().flatten() {
                    out.push(NodeSelectorRequirement {
                        key: normalize_volume_key(&e.key).to_string(),
                        operator: Operator::In,
                        values: e.values.clone(),
                        min_values: None,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// A bound PersistentVolume's node requirements: its first node-affinity term (terms are ORed;
/// upstream uses the first), without the hostname of `local`/`hostPath` volumes.
fn pv_requirements(
    name: &str,
    pv: &core::PersistentVolume,
) -> Result<Vec<NodeSelectorRequirement>, String> {
    let Some(spec) = pv.spec.as_ref() else {
        return Ok(Vec::new());
    };
    let Some(term) = spec
        .node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
        .and_then(|r| r.node_selector_terms.first())
    else {
        return Ok(Vec::new());
    };
    let node_local = spec.local.is_some() || spec.host_path.is_some();
    let mut out = Vec::new();
    for (i, e) in term.match_expressions.iter().flatten().enumerate() {
        if node_local && e.key == "kubernetes.io/hostname" {
            continue;
        }
        let operator = Operator::parse(&e.operator).ok_or_else(|| {
            format!(
                "PersistentVolume {name}: spec.nodeAffinity.required.nodeSelectorTerms[0].\
                 matchExpressions[{i}] has unknown operator {:?}; fix the volume",
                e.operator
            )
        })?;
        out.push(NodeSelectorRequirement {
            key: normalize_volume_key(&e.key).to_string(),
            operator,
            values: e.values.clone().unwrap_or_default(),
            min_values: None,
        });
    }
    Ok(out)
}
