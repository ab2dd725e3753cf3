//! Drift detection: whether a NodeClaim no longer matches its NodePool or EC2NodeClass.
//!
//! Upstream: `kubernetes-sigs/karpenter: pkg/controllers/nodeclaim/disruption/drift.go`
//! (`areStaticFieldsDrifted`, `areRequirementsDrifted`, `instanceTypeNotFound`, in that order,
//! then the provider) and `aws/karpenter-provider-aws: pkg/cloudprovider/drift.go`
//! (`isNodeClassDrifted`: the EC2NodeClass hash, then AMI, then security groups, subnet and
//! capacity reservation from the running instance).
//!
//! - Hashes are compared only at the same hash version: a different
//!   `karpenter.sh/nodepool-hash-version` (or `karpenter.k8s.aws/ec2nodeclass-hash-version`)
//!   means the hash is re-stamped, never drift. A missing annotation on either side means no
//!   hash drift.
//! - A `Drifted=True` condition already on the NodeClaim is honoured as the disruption
//!   controller reads it; detection runs only for launched NodeClaims.
//! - Provider checks that upstream cannot evaluate (no resolved AMIs, subnets or security
//!   groups in the EC2NodeClass status, no `status.imageID`, the instance type not listed) end
//!   the provider check without drift, as upstream's error return does. Facts only EC2 knows
//!   (the instance's subnet and security groups) are an optional input: without them those two
//!   checks are skipped.
//! - Not modelled: placement-group drift (the EC2NodeClass status type here has no resolved
//!   placement group).
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::NodeSelectorRequirement as K8sRequirement;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_api::common::{Condition, NodeSelectorRequirementWithMinValues};
use karpenter_api::labels as l;
use karpenter_scheduling::requirements::{NodeSelectorRequirement, Operator, Requirement};
use karpenter_scheduling::{InstanceType, Requirements};
use serde::Serialize;

/// Why a NodeClaim is drifted (upstream's reason strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DriftReason {
    /// `karpenter.sh/nodepool-hash` differs at the same hash version.
    NodePoolDrifted,
    /// The NodeClaim's labels no longer satisfy the NodePool's requirements.
    RequirementsDrifted,
    /// The instance type, or an offering for its zone and capacity type, is gone.
    InstanceTypeNotFound,
    /// `karpenter.k8s.aws/ec2nodeclass-hash` differs at the same hash version.
    NodeClassDrift,
    /// The image is not the AMI the EC2NodeClass now resolves for the instance type.
    AMIDrift,
    /// The instance's subnet is no longer among the EC2NodeClass's subnets.
    SubnetDrift,
    /// The instance's security groups differ from the EC2NodeClass's.
    SecurityGroupDrift,
    /// The instance's capacity reservation is no longer selected.
    CapacityReservationDrift,
    /// A `Drifted=True` condition already on the NodeClaim (its reason).
    Condition(String),
}

impl DriftReason {
    /// Upstream's reason string.
    pub fn as_str(&self) -> &str {
        match self {
            DriftReason::NodePoolDrifted => "NodePoolDrifted",
            DriftReason::RequirementsDrifted => "RequirementsDrifted",
            DriftReason::InstanceTypeNotFound => "InstanceTypeNotFound",
            DriftReason::NodeClassDrift => "NodeClassDrift",
            DriftReason::AMIDrift => "AMIDrift",
            DriftReason::SubnetDrift => "SubnetDrift",
            DriftReason::SecurityGroupDrift => "SecurityGroupDrift",
            DriftReason::CapacityReservationDrift => "CapacityReservationDrift",
            DriftReason::Condition(r) => r,
        }
    }
}

/// A drifted NodeClaim.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// Why.
    pub reason: DriftReason,
    /// When drift was observed (the condition's transition time, else `now`): drift commands
    /// take the oldest first.
    pub since: Timestamp,
    /// A sentence a person can act on.
    pub detail: String,
}

/// What EC2 says about the running instance (DescribeInstances), when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFacts {
    /// The instance's subnet.
    pub subnet_id: Option<String>,
    /// The instance's security groups.
    pub security_group_ids: Option<Vec<String>>,
    /// The capacity reservation the instance runs in.
    pub capacity_reservation_id: Option<String>,
}

/// Everything drift detection reads about one NodeClaim.
#[derive(Debug, Clone, Copy)]
pub struct DriftInput<'a> {
    /// `Launched=True` (a NodeClaim synthesized for a Node counts as launched).
    pub launched: bool,
    /// The NodeClaim's creation time.
    pub created: Timestamp,
    /// The NodeClaim's labels (the Node's for a synthesized NodeClaim).
    pub labels: &'a BTreeMap<String, String>,
    /// The NodeClaim's annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// `status.imageID`.
    pub image_id: Option<&'a str>,
    /// The `Drifted` condition, if any.
    pub drifted_condition: Option<&'a Condition>,
    /// The NodePool's annotations.
    pub nodepool_annotations: &'a BTreeMap<String, String>,
    /// The NodePool's `template.spec.requirements`.
    pub nodepool_requirements: &'a [NodeSelectorRequirementWithMinValues],
    /// The instance types the NodePool's node class offers; `None` when unknown (skips the
    /// instance-type check).
    pub instance_types: Option<&'a [InstanceType]>,
    /// The NodePool's EC2NodeClass, if resolved.
    pub node_class: Option<&'a EC2NodeClass>,
    /// What EC2 says about the instance, if known.
    pub instance: Option<&'a InstanceFacts>,
}

/// Convert a NodePool requirement to the scheduling core's term.
pub fn scheduling_term(
    r: &NodeSelectorRequirementWithMinValues,
) -> Option<NodeSelectorRequirement> {
    Some(NodeSelectorRequirement {
        key: r.key.clone(),
        operator: Operator::parse(&r.operator)?,
        values: r.values.clone().unwrap_or_default(),
        min_values: r.min_values.and_then(|m| usize::try_from(m).ok()),
    })
}

fn k8s_term(r: &K8sRequirement) -> Option<NodeSelectorRequirement> {
    Some(NodeSelectorRequirement {
        key: r.key.clone(),
        operator: Operator::parse(&r.operator)?,
        values: r.values.clone().unwrap_or_default(),
        min_values: None,
    })
}

fn hash_drift(
    owner: &BTreeMap<String, String>,
    claim: &BTreeMap<String, String>,
    hash_key: &str,
    version_key: &str,
) -> Option<(String, String)> {
    let (oh, ov) = (owner.get(hash_key)?, owner.get(version_key)?);
    let (ch, cv) = (claim.get(hash_key)?, claim.get(version_key)?);
    (ov == cv && oh != ch).then(|| (oh.clone(), ch.clone()))
}

/// `areStaticFieldsDrifted` (core): the NodePool hash at the same hash version.
pub fn nodepool_hash_drifted(
    nodepool_annotations: &BTreeMap<String, String>,
    nodeclaim_annotations: &BTreeMap<String, String>,
) -> Option<String> {
    hash_drift(
        nodepool_annotations,
        nodeclaim_annotations,
        l::NODEPOOL_HASH,
        l::NODEPOOL_HASH_VERSION,
    )
    .map(|(want, got)| {
        format!(
            "the NodePool's template changed (hash {got} on the NodeClaim, {want} on the NodePool)"
        )
    })
}

/// Whether a NodeClaim's hash annotations are stale only by version: upstream re-stamps them
/// (no drift). True when both sides carry a hash version and the versions differ.
pub fn nodepool_hash_needs_restamp(
    nodepool_annotations: &BTreeMap<String, String>,
    nodeclaim_annotations: &BTreeMap<String, String>,
) -> bool {
    match (
        nodepool_annotations.get(l::NODEPOOL_HASH_VERSION),
        nodeclaim_annotations.get(l::NODEPOOL_HASH_VERSION),
    ) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

/// `areRequirementsDrifted`: every NodePool requirement must be satisfied by the NodeClaim's
/// labels (a key the labels lack is allowed only for `NotIn`/`DoesNotExist`).
pub fn requirements_drifted(
    nodepool_requirements: &[NodeSelectorRequirementWithMinValues],
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    for r in nodepool_requirements {
        let Some(term) = scheduling_term(r) else {
            continue;
        };
        let Ok(req) = Requirement::from_term(&term) else {
            continue;
        };
        match labels.get(&r.key) {
            Some(v) if !req.has(v) => {
                return Some(format!(
                    "label {}={v} no longer satisfies the NodePool requirement {} {} {:?}",
                    r.key,
                    r.key,
                    r.operator,
                    r.values.clone().unwrap_or_default()
                ))
            }
            None if !matches!(term.operator, Operator::NotIn | Operator::DoesNotExist) => {
                return Some(format!(
                    "the NodeClaim has no label {} that the NodePool now requires ({} {:?})",
                    r.key,
                    r.operator,
                    r.values.clone().unwrap_or_default()
                ))
            }
            _ => {}
        }
    }
    None
}

/// `instanceTypeNotFound`: the NodeClaim's instance type must be listed, with an offering
/// (available or not) for its zone and capacity type (a reserved node may also match
/// on-demand, as it can be demoted).
pub fn instance_type_not_found(
    instance_types: &[InstanceType],
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    let Some(name) = labels.get(l::INSTANCE_TYPE) else {
        return Some(format!("the NodeClaim has no {} label", l::INSTANCE_TYPE));
    };
    let Some(it) = instance_types.iter().find(|t| &t.name == name) else {
        return Some(format!(
            "instance type {name} is no longer offered for this NodePool"
        ));
    };
    let zone = labels.get(l::ZONE);
    let ct = labels.get(l::CAPACITY_TYPE).map(String::as_str);
    let ct_ok = |o: &str| match ct {
        None => true,
        Some(l::CAPACITY_TYPE_RESERVED) => {
            o == l::CAPACITY_TYPE_RESERVED || o == l::CAPACITY_TYPE_ON_DEMAND
        }
        Some(c) => o == c,
    };
    let found = it
        .offerings
        .iter()
        .any(|o| zone.is_none_or(|z| *z == o.zone) && ct_ok(&o.capacity_type));
    (!found).then(|| {
        format!(
            "instance type {name} has no offering left in zone {} for capacity type {}",
            zone.map_or("(any)", String::as_str),
            ct.unwrap_or("(any)")
        )
    })
}

/// `areStaticFieldsDrifted` (AWS): the EC2NodeClass hash at the same hash version.
pub fn nodeclass_hash_drifted(
    node_class: &EC2NodeClass,
    nodeclaim_annotations: &BTreeMap<String, String>,
) -> Option<String> {
    let owner = node_class.metadata.annotations.clone().unwrap_or_default();
    hash_drift(
        &owner,
        nodeclaim_annotations,
        l::EC2NODECLASS_HASH,
        l::EC2NODECLASS_HASH_VERSION,
    )
    .map(|(want, got)| {
        format!(
            "the EC2NodeClass changed (hash {got} on the NodeClaim, {want} on the EC2NodeClass)"
        )
    })
}

/// `isAMIDrifted`: the NodeClaim's image must be the first AMI in the EC2NodeClass status whose
/// requirements the instance type satisfies. `Err` when upstream could not decide (no AMIs
/// resolved, no image id).
pub fn ami_drifted(
    instance_type: &InstanceType,
    node_class: &EC2NodeClass,
    image_id: Option<&str>,
) -> Result<Option<String>, String> {
    let amis = node_class
        .status
        .as_ref()
        .and_then(|s| s.amis.as_deref())
        .unwrap_or_default();
    if amis.is_empty() {
        return Err("the EC2NodeClass has no resolved AMIs in its status".to_string());
    }
    let Some(image) = image_id.filter(|i| !i.is_empty()) else {
        return Err("the NodeClaim has no status.imageID".to_string());
    };
    let it_reqs = instance_type.requirements();
    let mapped = amis.iter().find(|ami| {
        let terms: Option<Vec<_>> = ami.requirements.iter().map(k8s_term).collect();
        terms
            .and_then(|t| Requirements::from_terms(t.iter()).ok())
            .is_some_and(|r| it_reqs.compatible(&r).is_ok())
    });
    Ok(match mapped {
        Some(ami) if ami.id == image => None,
        Some(ami) => Some(format!(
            "the node runs {image} but the EC2NodeClass now resolves {} for {}",
            ami.id, instance_type.name
        )),
        None => Some(format!(
            "the node runs {image} but no AMI the EC2NodeClass resolves fits {}",
            instance_type.name
        )),
    })
}

/// `isSubnetDrifted`.
pub fn subnet_drifted(
    node_class: &EC2NodeClass,
    subnet_id: &str,
) -> Result<Option<String>, String> {
    let subnets = node_class
        .status
        .as_ref()
        .and_then(|s| s.subnets.as_deref())
        .unwrap_or_default();
    if subnets.is_empty() {
        return Err("the EC2NodeClass has no resolved subnets in its status".to_string());
    }
    Ok((!subnets.iter().any(|s| s.id == subnet_id))
        .then(|| format!("subnet {subnet_id} is no longer selected by the EC2NodeClass")))
}

/// `areSecurityGroupsDrifted`: the sets must be equal.
pub fn security_groups_drifted(
    node_class: &EC2NodeClass,
    instance_groups: &[String],
) -> Result<Option<String>, String> {
    let want: BTreeSet<&str> = node_class
        .status
        .as_ref()
        .and_then(|s| s.security_groups.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|g| g.id.as_str())
        .collect();
    if want.is_empty() {
        return Err("the EC2NodeClass has no resolved security groups in its status".to_string());
    }
    let got: BTreeSet<&str> = instance_groups.iter().map(String::as_str).collect();
    Ok((want != got).then(|| {
        format!("the instance has security groups {got:?}, the EC2NodeClass now selects {want:?}")
    }))
}

/// `isCapacityReservationDrifted`: an instance in a reservation the EC2NodeClass no longer
/// selects.
pub fn capacity_reservation_drifted(
    node_class: &EC2NodeClass,
    reservation_id: &str,
) -> Option<String> {
    let selected = node_class
        .status
        .as_ref()
        .and_then(|s| s.capacity_reservations.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|c| c.id == reservation_id);
    (!selected).then(|| {
        format!("capacity reservation {reservation_id} is no longer selected by the EC2NodeClass")
    })
}

/// The AWS provider's `IsDrifted` chain.
fn provider_drift(input: &DriftInput<'_>) -> Option<(DriftReason, String)> {
    let nc = input.node_class?;
    if let Some(d) = nodeclass_hash_drifted(nc, input.annotations) {
        return Some((DriftReason::NodeClassDrift, d));
    }
    let name = input.labels.get(l::INSTANCE_TYPE)?;
    let it = input.instance_types?.iter().find(|t| &t.name == name)?;
    match ami_drifted(it, nc, input.image_id) {
        Ok(Some(d)) => return Some((DriftReason::AMIDrift, d)),
        Ok(None) => {}
        Err(_) => return None,
    }
    let facts = input.instance.cloned().unwrap_or_default();
    let sg = match &facts.security_group_ids {
        Some(g) => match security_groups_drifted(nc, g) {
            Ok(d) => d,
            Err(_) => return None,
        },
        None => None,
    };
    let subnet = match &facts.subnet_id {
        Some(s) => match subnet_drifted(nc, s) {
            Ok(d) => d,
            Err(_) => return None,
        },
        None => None,
    };
    let reservation = facts
        .capacity_reservation_id
        .clone()
        .or_else(|| input.labels.get(l::CAPACITY_RESERVATION_ID).cloned())
        .and_then(|id| capacity_reservation_drifted(nc, &id));
    sg.map(|d| (DriftReason::SecurityGroupDrift, d))
        .or(subnet.map(|d| (DriftReason::SubnetDrift, d)))
        .or(reservation.map(|d| (DriftReason::CapacityReservationDrift, d)))
}

/// Detect drift at `now`, in upstream's order. A `Drifted=True` condition wins.
pub fn detect(input: &DriftInput<'_>, now: Timestamp) -> Option<Drift> {
    if let Some(c) = input.drifted_condition.filter(|c| c.status == "True") {
        let reason = c.reason.clone().unwrap_or_else(|| "Drifted".to_string());
        return Some(Drift {
            since: c.last_transition_time.as_ref().map_or(now, |t| t.0),
            detail: format!(
                "the NodeClaim carries Drifted=True ({reason}{})",
                c.message
                    .as_deref()
                    .filter(|m| !m.is_empty() && *m != reason)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            reason: DriftReason::Condition(reason),
        });
    }
    if !input.launched {
        return None;
    }
    let found = nodepool_hash_drifted(input.nodepool_annotations, input.annotations)
        .map(|d| (DriftReason::NodePoolDrifted, d))
        .or_else(|| {
            requirements_drifted(input.nodepool_requirements, input.labels)
                .map(|d| (DriftReason::RequirementsDrifted, d))
        })
        .or_else(|| {
            let old = now.duration_since(input.created) > SignedDuration::from_hours(1);
            input
                .instance_types
                .filter(|_| old)
                .and_then(|its| instance_type_not_found(its, input.labels))
                .map(|d| (DriftReason::InstanceTypeNotFound, d))
        })
        .or_else(|| provider_drift(input));
    found.map(|(reason, detail)| Drift {
        reason,
        since: now,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use karpenter_api::aws::v1::{CapacityReservation, EC2NodeClassStatus};
    use karpenter_api::common::{Ami, SecurityGroup, Subnet};
    use karpenter_scheduling::{Offering, Resources};

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn it(name: &str, arch: &str, zone: &str, ct: &str) -> InstanceType {
        InstanceType::new(
            name,
            map(&[(l::ARCH, arch), (l::INSTANCE_FAMILY, "m5")]),
            Resources::cpu_mem(2000, 8 << 30),
            Resources::default(),
            vec![Offering {
                zone: zone.into(),
                capacity_type: ct.into(),
                price: 0.1,
                available: true,
            }],
        )
    }

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirementWithMinValues {
        NodeSelectorRequirementWithMinValues {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
            min_values: None,
        }
    }

    fn k8s_req(key: &str, op: &str, values: &[&str]) -> K8sRequirement {
        K8sRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn node_class() -> EC2NodeClass {
        let mut nc = EC2NodeClass::new("default", Default::default());
        nc.metadata.annotations = Some(map(&[
            (l::EC2NODECLASS_HASH, "111"),
            (l::EC2NODECLASS_HASH_VERSION, "v4"),
        ]));
        nc.status = Some(EC2NodeClassStatus {
            amis: Some(vec![
                Ami {
                    id: "ami-arm-new".into(),
                    requirements: vec![k8s_req(l::ARCH, "In", &["arm64"])],
                    ..Default::default()
                },
                Ami {
                    id: "ami-amd-new".into(),
                    requirements: vec![k8s_req(l::ARCH, "In", &["amd64"])],
                    ..Default::default()
                },
                Ami {
                    id: "ami-amd-old".into(),
                    requirements: vec![k8s_req(l::ARCH, "In", &["amd64"])],
                    ..Default::default()
                },
            ]),
            subnets: Some(vec![Subnet {
                id: "subnet-a".into(),
                zone: "us-east-1a".into(),
                zone_id: None,
            }]),
            security_groups: Some(vec![
                SecurityGroup {
                    id: "sg-1".into(),
                    name: None,
                },
                SecurityGroup {
                    id: "sg-2".into(),
                    name: None,
                },
            ]),
            capacity_reservations: Some(vec![CapacityReservation {
                id: "cr-1".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        nc
    }

    struct Fixture {
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
        np_annotations: BTreeMap<String, String>,
        np_reqs: Vec<NodeSelectorRequirementWithMinValues>,
        types: Vec<InstanceType>,
        nc: EC2NodeClass,
        facts: InstanceFacts,
        image: String,
        condition: Option<Condition>,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                labels: map(&[
                    (l::INSTANCE_TYPE, "m5.large"),
                    (l::ZONE, "us-east-1a"),
                    (l::CAPACITY_TYPE, "on-demand"),
                    (l::ARCH, "amd64"),
                    (l::NODEPOOL, "default"),
                ]),
                annotations: map(&[
                    (l::NODEPOOL_HASH, "aaa"),
                    (l::NODEPOOL_HASH_VERSION, "v3"),
                    (l::EC2NODECLASS_HASH, "111"),
                    (l::EC2NODECLASS_HASH_VERSION, "v4"),
                ]),
                np_annotations: map(&[(l::NODEPOOL_HASH, "aaa"), (l::NODEPOOL_HASH_VERSION, "v3")]),
                np_reqs: vec![req(l::CAPACITY_TYPE, "In", &["on-demand", "spot"])],
                types: vec![it("m5.large", "amd64", "us-east-1a", "on-demand")],
                nc: node_class(),
                facts: InstanceFacts {
                    subnet_id: Some("subnet-a".into()),
                    security_group_ids: Some(vec!["sg-2".into(), "sg-1".into()]),
                    capacity_reservation_id: None,
                },
                image: "ami-amd-new".into(),
                condition: None,
            }
        }

        fn detect(&self) -> Option<Drift> {
            let input = DriftInput {
                launched: true,
                created: ts("2026-01-01T00:00:00Z"),
                labels: &self.labels,
                annotations: &self.annotations,
                image_id: Some(&self.image),
                drifted_condition: self.condition.as_ref(),
                nodepool_annotations: &self.np_annotations,
                nodepool_requirements: &self.np_reqs,
                instance_types: Some(&self.types),
                node_class: Some(&self.nc),
                instance: Some(&self.facts),
            };
            detect(&input, ts("2026-01-02T00:00:00Z"))
        }

        fn reason(&self) -> Option<String> {
            self.detect().map(|d| d.reason.as_str().to_string())
        }
    }

    #[test]
    fn a_matching_nodeclaim_is_not_drifted() {
        assert_eq!(Fixture::new().reason(), None);
    }

    #[test]
    fn nodepool_hash_at_same_version_drifts_other_version_restamps() {
        let mut f = Fixture::new();
        f.np_annotations
            .insert(l::NODEPOOL_HASH.into(), "bbb".into());
        assert_eq!(f.reason().as_deref(), Some("NodePoolDrifted"));
        // Upstream bumped its hash version: a different version is never drift.
        f.np_annotations
            .insert(l::NODEPOOL_HASH_VERSION.into(), "v4".into());
        assert_eq!(f.reason(), None);
        assert!(nodepool_hash_needs_restamp(
            &f.np_annotations,
            &f.annotations
        ));
        // No hash on the NodePool (e.g. a manifest): no hash drift.
        f.np_annotations.clear();
        assert_eq!(f.reason(), None);
        assert!(!nodepool_hash_needs_restamp(
            &f.np_annotations,
            &f.annotations
        ));
    }

    #[test]
    fn requirements_drift() {
        let mut f = Fixture::new();
        f.np_reqs = vec![req(l::CAPACITY_TYPE, "In", &["spot"])];
        let d = f.detect().unwrap();
        assert_eq!(d.reason, DriftReason::RequirementsDrifted);
        assert!(
            d.detail.contains("karpenter.sh/capacity-type=on-demand"),
            "{}",
            d.detail
        );
        // A key the labels lack: drift for In/Exists, not for NotIn/DoesNotExist.
        f.np_reqs = vec![req("team", "In", &["a"])];
        assert_eq!(f.reason().as_deref(), Some("RequirementsDrifted"));
        f.np_reqs = vec![req("team", "NotIn", &["a"])];
        assert_eq!(f.reason(), None);
        f.np_reqs = vec![
            req(l::INSTANCE_FAMILY, "NotIn", &["c5"]),
            req("karpenter.k8s.aws/instance-cpu", "Gt", &["1"]),
        ];
        f.labels
            .insert("karpenter.k8s.aws/instance-cpu".into(), "2".into());
        assert_eq!(f.reason(), None);
        f.np_reqs = vec![req("karpenter.k8s.aws/instance-cpu", "Gt", &["4"])];
        assert_eq!(f.reason().as_deref(), Some("RequirementsDrifted"));
    }

    #[test]
    fn instance_type_not_found_only_after_an_hour() {
        let mut f = Fixture::new();
        f.types = vec![it("m5.xlarge", "amd64", "us-east-1a", "on-demand")];
        assert_eq!(f.reason().as_deref(), Some("InstanceTypeNotFound"));
        // The offering for the node's zone is gone.
        f.types = vec![it("m5.large", "amd64", "us-east-1b", "on-demand")];
        assert_eq!(f.reason().as_deref(), Some("InstanceTypeNotFound"));
        // A reserved node may fall back to on-demand.
        f.types = vec![it("m5.large", "amd64", "us-east-1a", "on-demand")];
        f.labels.insert(l::CAPACITY_TYPE.into(), "reserved".into());
        f.labels
            .insert(l::CAPACITY_RESERVATION_ID.into(), "cr-1".into());
        f.np_reqs = vec![req(l::CAPACITY_TYPE, "In", &["on-demand", "reserved"])];
        assert_eq!(f.reason(), None);
        // Younger than an hour: not checked.
        let f = Fixture {
            types: vec![],
            ..Fixture::new()
        };
        let input = DriftInput {
            launched: true,
            created: ts("2026-01-01T23:30:00Z"),
            labels: &f.labels,
            annotations: &f.annotations,
            image_id: Some(&f.image),
            drifted_condition: None,
            nodepool_annotations: &f.np_annotations,
            nodepool_requirements: &f.np_reqs,
            instance_types: Some(&f.types),
            node_class: Some(&f.nc),
            instance: Some(&f.facts),
        };
        assert_eq!(detect(&input, ts("2026-01-02T00:00:00Z")), None);
    }

    #[test]
    fn nodeclass_hash_drift() {
        let mut f = Fixture::new();
        f.annotations
            .insert(l::EC2NODECLASS_HASH.into(), "222".into());
        assert_eq!(f.reason().as_deref(), Some("NodeClassDrift"));
        f.annotations
            .insert(l::EC2NODECLASS_HASH_VERSION.into(), "v3".into());
        assert_eq!(f.reason(), None, "other hash version: re-stamp, not drift");
    }

    #[test]
    fn ami_drift() {
        let mut f = Fixture::new();
        f.image = "ami-amd-old".into();
        let d = f.detect().unwrap();
        assert_eq!(d.reason, DriftReason::AMIDrift);
        assert!(d.detail.contains("ami-amd-new"), "{}", d.detail);
        // No AMIs resolved: upstream cannot decide, so no provider drift at all.
        f.nc.status.as_mut().unwrap().amis = Some(vec![]);
        f.facts.subnet_id = Some("subnet-gone".into());
        assert_eq!(f.reason(), None);
    }

    #[test]
    fn subnet_security_group_and_reservation_drift() {
        let mut f = Fixture::new();
        f.facts.subnet_id = Some("subnet-b".into());
        assert_eq!(f.reason().as_deref(), Some("SubnetDrift"));
        // Security groups come first in upstream's order.
        f.facts.security_group_ids = Some(vec!["sg-1".into()]);
        assert_eq!(f.reason().as_deref(), Some("SecurityGroupDrift"));
        let mut f = Fixture::new();
        f.facts.security_group_ids = Some(vec!["sg-1".into(), "sg-2".into(), "sg-3".into()]);
        assert_eq!(f.reason().as_deref(), Some("SecurityGroupDrift"));
        // Unknown instance facts: those checks are skipped.
        f.facts = InstanceFacts::default();
        assert_eq!(f.reason(), None);
        // A reservation the class no longer selects, from the NodeClaim label.
        f.labels
            .insert(l::CAPACITY_RESERVATION_ID.into(), "cr-9".into());
        assert_eq!(f.reason().as_deref(), Some("CapacityReservationDrift"));
        f.labels
            .insert(l::CAPACITY_RESERVATION_ID.into(), "cr-1".into());
        assert_eq!(f.reason(), None);
    }

    #[test]
    fn drifted_condition_is_honoured_and_unlaunched_claims_are_not_checked() {
        let mut f = Fixture::new();
        f.condition = Some(Condition {
            type_: "Drifted".into(),
            status: "True".into(),
            reason: Some("AMIDrift".into()),
            last_transition_time: Some(Time(ts("2025-12-31T00:00:00Z"))),
            ..Default::default()
        });
        let d = f.detect().unwrap();
        assert_eq!(d.reason, DriftReason::Condition("AMIDrift".into()));
        assert_eq!(d.since, ts("2025-12-31T00:00:00Z"));
        f.condition.as_mut().unwrap().status = "False".into();
        assert_eq!(f.reason(), None);
        let mut f = Fixture::new();
        f.np_annotations
            .insert(l::NODEPOOL_HASH.into(), "bbb".into());
        let input = DriftInput {
            launched: false,
            created: ts("2026-01-01T00:00:00Z"),
            labels: &f.labels,
            annotations: &f.annotations,
            image_id: None,
            drifted_condition: None,
            nodepool_annotations: &f.np_annotations,
            nodepool_requirements: &f.np_reqs,
            instance_types: None,
            node_class: None,
            instance: None,
        };
        assert_eq!(detect(&input, ts("2026-01-02T00:00:00Z")), None);
    }
}
