//! EC2NodeClass → instance-type overhead and allocatable: the one translation `simulate`,
//! `instance-types` and the AWS provider share.
//!
//! Two questions are answered here, both pure:
//! - **Overhead.** [`overhead_options`] turns an EC2NodeClass into the
//!   [`OverheadOptions`] the capacity and overhead formulas in
//!   `karpenter_scheduling::instancetype` take: the AMI family
//!   (`pkg/apis/v1/ec2nodeclass.go` `AMIFamily`, the families' `FeatureFlags` in
//!   `pkg/providers/amifamily/`), kubelet `maxPods`, `podsPerCore`, `kubeReserved`,
//!   `systemReserved`, `evictionHard` and `evictionSoft`, and the size of the volume ephemeral
//!   storage lives on (`pkg/providers/instancetype/types.go` `ephemeralStorage`). The formulas
//!   themselves (`computeCapacity`, `kubeReservedResources`, `systemReservedResources`,
//!   `evictionThreshold` in the same file) are in `karpenter_scheduling::instancetype`;
//!   karpenter-aws.md §2 gives them.
//! - **Which types and zones.** [`resolved`] reads what Karpenter resolved into the status:
//!   `status.subnets` (offerings outside their zones are dropped, as
//!   `pkg/providers/instancetype/offering` does with the subnet zones) and `status.amis` (a
//!   type needs a compatible AMI, `pkg/providers/amifamily/resolver.go` `MapToInstanceTypes`).
//!   [`Resolved::narrow`] applies both.
//!
//! Objects come in typed, as `karpenter.k8s.aws/v1` (the manifest reader brings v1beta1 ones
//! to v1 through `karpenter-convert`).
use std::collections::BTreeSet;

use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_api::common::{Ami, BlockDeviceMapping, ResourceList};
use karpenter_scheduling::instancetype::{
    AmiFamily, EvictionSignal, EvictionThresholds, OverheadOptions, ReservedResources,
};
use karpenter_scheduling::resources::parse_quantity_milli;
use karpenter_scheduling::{InstanceType, NodeSelectorRequirement, Operator, Requirements};

/// `memory.available`.
pub const MEMORY_AVAILABLE: &str = "memory.available";
/// `nodefs.available`.
pub const NODEFS_AVAILABLE: &str = "nodefs.available";

/// Why an EC2NodeClass cannot be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeClassError {
    /// A field has a value Karpenter would reject.
    #[error("EC2NodeClass {nodeclass}: {field}: {message}")]
    Invalid {
        /// `metadata.name`.
        nodeclass: String,
        /// The field's path, e.g. `spec.kubelet.kubeReserved.memory`.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Karpenter has not resolved the class yet (its status lacks `field`).
    #[error("EC2NodeClass {nodeclass} has no {field} yet: {hint}")]
    NotResolved {
        /// `metadata.name`.
        nodeclass: String,
        /// `status.subnets` or `status.amis`.
        field: &'static str,
        /// What resolving it takes.
        hint: &'static str,
    },
}

fn name_of(nc: &EC2NodeClass) -> String {
    nc.metadata
        .name
        .clone()
        .unwrap_or_else(|| "<unnamed>".into())
}

fn invalid(
    nc: &EC2NodeClass,
    field: impl Into<String>,
    message: impl Into<String>,
) -> NodeClassError {
    NodeClassError::Invalid {
        nodeclass: name_of(nc),
        field: field.into(),
        message: message.into(),
    }
}

/// An AMI alias `family@version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The family the alias names.
    pub family: AmiFamily,
    /// `latest` or a pinned release.
    pub version: String,
}

/// Parse `al2023@latest` and friends (families `al2`, `al2023`, `bottlerocket`,
/// `windows2019`, `windows2022`, `windows2025`; Windows only `@latest`).
pub fn parse_alias(alias: &str) -> Result<Alias, String> {
    let (fam, version) = alias
        .split_once('@')
        .ok_or_else(|| format!("alias {alias:?} must be family@version, e.g. al2023@latest"))?;
    let family = match fam.to_ascii_lowercase().as_str() {
        "al2023" => AmiFamily::AL2023,
        "al2" => AmiFamily::AL2,
        "bottlerocket" => AmiFamily::Bottlerocket,
        "windows2019" | "windows2022" | "windows2025" => AmiFamily::Windows,
        other => {
            return Err(format!(
                "alias {alias:?}: unknown family {other:?} (al2, al2023, bottlerocket, \
                 windows2019, windows2022, windows2025)"
            ))
        }
    };
    if version.is_empty() {
        return Err(format!("alias {alias:?} has an empty version"));
    }
    if family == AmiFamily::Windows && version != "latest" {
        return Err(format!(
            "alias {alias:?}: Windows aliases only support @latest"
        ));
    }
    Ok(Alias {
        family,
        version: version.to_string(),
    })
}

/// The AMI family (upstream `EC2NodeClass.AMIFamily`): `spec.amiFamily` when set, else the
/// family of the alias term.
pub fn ami_family(nc: &EC2NodeClass) -> Result<AmiFamily, NodeClassError> {
    if let Some(f) = nc.spec.ami_family.as_deref() {
        return match f {
            "AL2" => Ok(AmiFamily::AL2),
            "AL2023" => Ok(AmiFamily::AL2023),
            "Bottlerocket" => Ok(AmiFamily::Bottlerocket),
            "Custom" => Ok(AmiFamily::Custom),
            "Windows2019" | "Windows2022" | "Windows2025" => Ok(AmiFamily::Windows),
            other => Err(invalid(
                nc,
                "spec.amiFamily",
                format!(
                    "{other:?} is not an AMI family (AL2, AL2023, Bottlerocket, Custom, \
                     Windows2019, Windows2022, Windows2025)"
                ),
            )),
        };
    }
    for (i, t) in nc.spec.ami_selector_terms.iter().enumerate() {
        if let Some(a) = &t.alias {
            return parse_alias(a)
                .map(|a| a.family)
                .map_err(|m| invalid(nc, format!("spec.amiSelectorTerms[{i}].alias"), m));
        }
    }
    Err(invalid(
        nc,
        "spec.amiFamily",
        "required unless an amiSelectorTerms entry is an alias (e.g. alias: al2023@latest)",
    ))
}

/// The device a family keeps ephemeral storage on (upstream `EphemeralBlockDevice`); `None`
/// for Custom, which uses the last mapping.
pub fn ephemeral_block_device(family: AmiFamily) -> Option<&'static str> {
    match family {
        AmiFamily::AL2 | AmiFamily::AL2023 => Some("/dev/xvda"),
        AmiFamily::Bottlerocket => Some("/dev/xvdb"),
        AmiFamily::Windows => Some("/dev/sda1"),
        AmiFamily::Custom => None,
    }
}

fn bytes(q: &str) -> Option<i64> {
    let m = parse_quantity_milli(q).ok()?;
    i64::try_from((m + 999).div_euclid(1000))
        .ok()
        .filter(|v| *v >= 0)
}

/// The size of the volume kubelet's ephemeral storage lives on (upstream `ephemeralStorage`):
/// the mapping marked `rootVolume`, else (Custom) the last mapping, else the mapping on the
/// family's [`ephemeral_block_device`]. `Ok(None)`: the family default
/// ([`AmiFamily::default_ephemeral_bytes`]). A size that is not a quantity is an error
/// naming its index.
pub fn root_volume_bytes(
    bdms: &[BlockDeviceMapping],
    family: AmiFamily,
) -> Result<Option<i64>, (usize, String)> {
    let size = |i: usize, b: &BlockDeviceMapping| -> Result<Option<i64>, (usize, String)> {
        match b.ebs.as_ref().and_then(|e| e.volume_size.as_ref()) {
            None => Ok(None),
            Some(q) => bytes(&q.0)
                .map(Some)
                .ok_or_else(|| (i, format!("{:?} is not a size (e.g. 100Gi)", q.0))),
        }
    };
    if let Some((i, b)) = bdms
        .iter()
        .enumerate()
        .find(|(_, b)| b.root_volume == Some(true))
    {
        if let Some(s) = size(i, b)? {
            return Ok(Some(s));
        }
    }
    match ephemeral_block_device(family) {
        None => match bdms.len() {
            0 => Ok(None),
            n => size(n - 1, &bdms[n - 1]),
        },
        Some(device) => match bdms
            .iter()
            .enumerate()
            .find(|(_, b)| b.device_name.as_deref() == Some(device))
        {
            Some((i, b)) => size(i, b),
            None => Ok(None),
        },
    }
}

fn reserved(
    nc: &EC2NodeClass,
    list: Option<&ResourceList>,
    field: &str,
) -> Result<ReservedResources, NodeClassError> {
    let mut out = ReservedResources::default();
    for (k, q) in list.into_iter().flatten() {
        let bad = || {
            invalid(
                nc,
                format!("spec.kubelet.{field}.{k}"),
                format!("{:?} is not a quantity (e.g. 100m, 1Gi)", q.0),
            )
        };
        match k.as_str() {
            "cpu" => {
                let m = parse_quantity_milli(&q.0).map_err(|_| bad())?;
                out.cpu_millis = Some(i64::try_from(m).ok().filter(|m| *m >= 0).ok_or_else(bad)?);
            }
            "memory" => out.memory_bytes = Some(bytes(&q.0).ok_or_else(bad)?),
            "ephemeral-storage" => out.ephemeral_bytes = Some(bytes(&q.0).ok_or_else(bad)?),
            // `pid` (the only other key the CRD allows) does not change allocatable
            _ => {}
        }
    }
    Ok(out)
}

fn eviction_signal(value: &str) -> Option<EvictionSignal> {
    match value.trim().strip_suffix('%') {
        Some(p) => p
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && (0.0..=100.0).contains(p))
            .map(EvictionSignal::Percent),
        None => bytes(value).map(EvictionSignal::Bytes),
    }
}

fn eviction(
    nc: &EC2NodeClass,
    map: Option<&std::collections::BTreeMap<String, String>>,
    field: &str,
) -> Result<EvictionThresholds, NodeClassError> {
    let get = |key: &str| -> Result<Option<EvictionSignal>, NodeClassError> {
        match map.and_then(|m| m.get(key)) {
            None => Ok(None),
            Some(v) => eviction_signal(v).map(Some).ok_or_else(|| {
                invalid(
                    nc,
                    format!("spec.kubelet.{field}[{key:?}]"),
                    format!("{v:?} is neither a quantity (e.g. 500Mi) nor a percentage (e.g. 10%)"),
                )
            }),
        }
    };
    Ok(EvictionThresholds {
        memory_available: get(MEMORY_AVAILABLE)?,
        nodefs_available: get(NODEFS_AVAILABLE)?,
    })
}

/// The capacity and overhead settings an EC2NodeClass implies for every type it launches
/// (controller-wide settings, `VM_MEMORY_OVERHEAD_PERCENT` and `RESERVED_ENIS`, keep their
/// defaults).
pub fn overhead_options(nc: &EC2NodeClass) -> Result<OverheadOptions, NodeClassError> {
    let family = ami_family(nc)?;
    let kubelet = nc.spec.kubelet.clone().unwrap_or_default();
    let bdms = nc.spec.block_device_mappings.as_deref().unwrap_or_default();
    let ephemeral_storage_bytes = root_volume_bytes(bdms, family).map_err(|(i, m)| {
        invalid(
            nc,
            format!("spec.blockDeviceMappings[{i}].ebs.volumeSize"),
            m,
        )
    })?;
    let non_negative = |v: Option<i32>, field: &str| -> Result<Option<i64>, NodeClassError> {
        match v {
            Some(n) if n < 0 => Err(invalid(nc, field, format!("{n} must not be negative"))),
            v => Ok(v.map(i64::from)),
        }
    };
    Ok(OverheadOptions {
        ami_family: family,
        max_pods: non_negative(kubelet.max_pods, "spec.kubelet.maxPods")?,
        pods_per_core: non_negative(kubelet.pods_per_core, "spec.kubelet.podsPerCore")?,
        ephemeral_storage_bytes,
        kube_reserved: reserved(nc, kubelet.kube_reserved.as_ref(), "kubeReserved")?,
        system_reserved: reserved(nc, kubelet.system_reserved.as_ref(), "systemReserved")?,
        eviction_hard: eviction(nc, kubelet.eviction_hard.as_ref(), "evictionHard")?,
        eviction_soft: eviction(nc, kubelet.eviction_soft.as_ref(), "evictionSoft")?,
        ..OverheadOptions::default()
    })
}

/// Whether `it` satisfies an AMI's requirements (upstream `MapToInstanceTypes`: the AMI's
/// requirements are compatible with the type's). A label the type lacks satisfies only
/// `NotIn` and `DoesNotExist`; terms with an unknown operator are ignored.
pub fn ami_compatible(
    requirements: &[k8s_openapi::api::core::v1::NodeSelectorRequirement],
    it: &InstanceType,
) -> bool {
    let terms: Vec<NodeSelectorRequirement> = requirements
        .iter()
        .filter_map(|t| {
            Some(NodeSelectorRequirement {
                key: t.key.clone(),
                operator: Operator::parse(&t.operator)?,
                values: t.values.clone().unwrap_or_default(),
                min_values: None,
            })
        })
        .collect();
    let Ok(reqs) = Requirements::from_terms(&terms) else {
        return false;
    };
    reqs.iter().all(|(k, r)| match it.labels.get(k) {
        Some(v) => r.has(v),
        None => matches!(r.operator(), Operator::DoesNotExist | Operator::NotIn),
    })
}

/// What Karpenter resolved an EC2NodeClass to, as far as instance types care: the zones of
/// its subnets and its AMIs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resolved {
    /// Zones of `status.subnets`.
    pub zones: BTreeSet<String>,
    /// `status.amis`.
    pub amis: Vec<Ami>,
}

impl Resolved {
    /// The first AMI compatible with `it` (types without one are not launched).
    pub fn ami_for(&self, it: &InstanceType) -> Option<&Ami> {
        self.amis
            .iter()
            .find(|a| ami_compatible(&a.requirements, it))
    }

    /// Keep offerings in the resolved zones, then the types that still have one and have a
    /// compatible AMI.
    pub fn narrow(&self, types: Vec<InstanceType>) -> Vec<InstanceType> {
        types
            .into_iter()
            .filter_map(|mut it| {
                it.offerings.retain(|o| self.zones.contains(&o.zone));
                (!it.offerings.is_empty() && self.ami_for(&it).is_some()).then_some(it)
            })
            .collect()
    }
}

/// The class's resolved status; [`NodeClassError::NotResolved`] when `status.subnets` or
/// `status.amis` is missing or empty (Karpenter has not resolved the selectors, or they match
/// nothing: the class is not Ready and upstream launches nothing for it).
pub fn resolved(nc: &EC2NodeClass) -> Result<Resolved, NodeClassError> {
    let nodeclass = name_of(nc);
    let status = nc.status.clone().unwrap_or_default();
    let zones: BTreeSet<String> = status
        .subnets
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.zone)
        .collect();
    if zones.is_empty() {
        return Err(NodeClassError::NotResolved {
            nodeclass,
            field: "status.subnets",
            hint: "Karpenter has not resolved its subnetSelectorTerms (is Karpenter running, \
                   and do the selectors match tagged subnets?)",
        });
    }
    let amis = status.amis.unwrap_or_default();
    if amis.is_empty() {
        return Err(NodeClassError::NotResolved {
            nodeclass,
            field: "status.amis",
            hint: "Karpenter has not resolved its amiSelectorTerms (do they match an AMI?)",
        });
    }
    Ok(Resolved { zones, amis })
}

impl From<NodeClassError> for crate::Error {
    fn from(e: NodeClassError) -> Self {
        crate::Error::new(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_scheduling::instancetype::{aws_capacity_and_overhead, AwsTypeFacts};
    use karpenter_scheduling::{Offering, Resources};
    use std::collections::BTreeMap;

    const MIB: i64 = 1 << 20;
    const GIB: i64 = 1 << 30;

    /// An EC2NodeClass whose `spec` is `extra` added to a valid al2023 spec.
    fn nc(extra: serde_json::Value) -> EC2NodeClass {
        let mut v = serde_json::json!({
            "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
            "metadata": {"name": "default"},
            "spec": {
                "role": "R",
                "amiSelectorTerms": [{"alias": "al2023@latest"}],
                "subnetSelectorTerms": [{"tags": {"a": "b"}}],
                "securityGroupSelectorTerms": [{"tags": {"a": "b"}}]
            }
        });
        for (k, x) in extra.as_object().unwrap() {
            v["spec"][k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    /// m5.large: 2 vCPU, 8192 MiB, 3 ENIs × 10 IPv4 (karpenter-aws.md §2.3 worked example).
    fn m5_large(o: &OverheadOptions) -> (Resources, Resources) {
        let f = AwsTypeFacts {
            vcpu: 2,
            memory_mib: 8192,
            arm64: false,
            default_card_enis: 3,
            ipv4_per_eni: 10,
        };
        let (cap, ovh) = aws_capacity_and_overhead(&f, o);
        let mut alloc = cap.clone();
        alloc.sub(&ovh);
        (cap, alloc)
    }

    fn alloc(extra: serde_json::Value) -> Resources {
        m5_large(&overhead_options(&nc(extra)).unwrap()).1
    }

    fn err(extra: serde_json::Value) -> String {
        overhead_options(&nc(extra)).unwrap_err().to_string()
    }

    // memory capacity of m5.large: 8192 − ceil(8192 × 0.075)
    const M5_MEM: i64 = 7577 * MIB;

    #[test]
    fn defaults_give_the_worked_example() {
        let a = alloc(serde_json::json!({}));
        assert_eq!(a.cpu_millis, 1930);
        assert_eq!(a.memory_bytes, 6903 * MIB);
        assert_eq!(a.pods, 29);
        // 20Gi − 1Gi kubeReserved − 10% eviction
        assert_eq!(a.ephemeral_bytes, 20 * GIB - GIB - 2 * GIB);
    }

    #[test]
    fn max_pods_caps_pods_and_only_bottlerocket_reserves_memory_for_it() {
        let a = alloc(serde_json::json!({"kubelet": {"maxPods": 20}}));
        assert_eq!(a.pods, 20);
        // AL2023 keeps the ENI-limited 29 pods in kubeReserved memory
        assert_eq!(a.memory_bytes, 6903 * MIB);
        let br = alloc(serde_json::json!({
            "amiSelectorTerms": [{"alias": "bottlerocket@latest"}],
            "kubelet": {"maxPods": 20}
        }));
        assert_eq!(br.pods, 20);
        // 11 × 20 + 255 = 475Mi kubeReserved, 100Mi eviction
        assert_eq!(br.memory_bytes, M5_MEM - 475 * MIB - 100 * MIB);
    }

    #[test]
    fn pods_per_core_caps_pods_except_on_bottlerocket() {
        assert_eq!(
            alloc(serde_json::json!({"kubelet": {"podsPerCore": 4}})).pods,
            8
        );
        let br = alloc(serde_json::json!({
            "amiSelectorTerms": [{"alias": "bottlerocket@latest"}],
            "kubelet": {"podsPerCore": 4}
        }));
        assert_eq!(br.pods, 29);
    }

    #[test]
    fn kube_reserved_replaces_the_computed_value_per_resource() {
        let a = alloc(serde_json::json!({"kubelet": {"kubeReserved": {"cpu": "200m"}}}));
        assert_eq!(a.cpu_millis, 1800);
        assert_eq!(a.memory_bytes, 6903 * MIB, "memory stays computed");
        let a = alloc(serde_json::json!({"kubelet": {"kubeReserved": {
            "memory": "1Gi", "ephemeral-storage": "3Gi", "pid": "100"}}}));
        assert_eq!(a.cpu_millis, 1930);
        assert_eq!(a.memory_bytes, M5_MEM - GIB - 100 * MIB);
        assert_eq!(a.ephemeral_bytes, 20 * GIB - 3 * GIB - 2 * GIB);
    }

    #[test]
    fn system_reserved_adds_to_the_overhead() {
        let a = alloc(serde_json::json!({"kubelet": {"systemReserved": {
            "cpu": "100m", "memory": "200Mi", "ephemeral-storage": "1Gi"}}}));
        assert_eq!(a.cpu_millis, 1830);
        assert_eq!(a.memory_bytes, (6903 - 200) * MIB);
        assert_eq!(a.ephemeral_bytes, 20 * GIB - GIB - 2 * GIB - GIB);
    }

    #[test]
    fn eviction_hard_replaces_the_default_thresholds() {
        let a = alloc(serde_json::json!({"kubelet": {"evictionHard": {
            "memory.available": "5%", "nodefs.available": "15%"}}}));
        let mem_threshold = (M5_MEM as f64 / 100.0 * 5.0).ceil() as i64;
        assert_eq!(a.memory_bytes, M5_MEM - 574 * MIB - mem_threshold);
        assert_eq!(a.ephemeral_bytes, 20 * GIB - GIB - 3 * GIB);
        let a =
            alloc(serde_json::json!({"kubelet": {"evictionHard": {"memory.available": "1Gi"}}}));
        assert_eq!(a.memory_bytes, M5_MEM - 574 * MIB - GIB);
        // 100% disables the threshold
        let a =
            alloc(serde_json::json!({"kubelet": {"evictionHard": {"memory.available": "100%"}}}));
        assert_eq!(a.memory_bytes, M5_MEM - 574 * MIB);
    }

    #[test]
    fn eviction_soft_counts_where_the_family_enables_it_and_the_larger_signal_wins() {
        // soft alone replaces the 100Mi default, even when lower
        let a =
            alloc(serde_json::json!({"kubelet": {"evictionSoft": {"memory.available": "50Mi"}}}));
        assert_eq!(a.memory_bytes, M5_MEM - 574 * MIB - 50 * MIB);
        let a = alloc(serde_json::json!({"kubelet": {
            "evictionHard": {"memory.available": "200Mi"},
            "evictionSoft": {"memory.available": "300Mi", "nodefs.available": "25%"}}}));
        assert_eq!(a.memory_bytes, M5_MEM - 574 * MIB - 300 * MIB);
        assert_eq!(a.ephemeral_bytes, 20 * GIB - GIB - 5 * GIB);
        let a = alloc(serde_json::json!({"kubelet": {
            "evictionHard": {"memory.available": "300Mi"},
            "evictionSoft": {"memory.available": "200Mi"}}}));
        assert_eq!(a.memory_bytes, M5_MEM - 574 * MIB - 300 * MIB);
        // Bottlerocket's kubelet ignores evictionSoft
        let br = alloc(serde_json::json!({
            "amiSelectorTerms": [{"alias": "bottlerocket@latest"}],
            "kubelet": {"evictionSoft": {"memory.available": "1Gi"}}}));
        assert_eq!(br.memory_bytes, M5_MEM - 574 * MIB - 100 * MIB);
    }

    fn bdm(device: &str, size: &str, root: Option<bool>) -> serde_json::Value {
        let mut b = serde_json::json!({"deviceName": device, "ebs": {"volumeSize": size}});
        if let Some(r) = root {
            b["rootVolume"] = r.into();
        }
        b
    }

    #[test]
    fn the_root_volume_sets_ephemeral_storage_as_upstream_picks_it() {
        let eph = |extra| {
            overhead_options(&nc(extra))
                .unwrap()
                .ephemeral_storage_bytes
        };
        let xvda = serde_json::json!([bdm("/dev/xvda", "200Gi", None)]);
        assert_eq!(
            eph(serde_json::json!({"blockDeviceMappings": xvda})),
            Some(200 * GIB)
        );
        let a = alloc(serde_json::json!({"blockDeviceMappings": xvda}));
        // 200Gi − 1Gi kubeReserved − 20Gi (10%) eviction
        assert_eq!(a.ephemeral_bytes, 200 * GIB - GIB - 20 * GIB);
        // Bottlerocket keeps ephemeral storage on its data volume, /dev/xvdb
        assert_eq!(
            eph(
                serde_json::json!({"amiSelectorTerms": [{"alias": "bottlerocket@latest"}],
                                   "blockDeviceMappings": xvda})
            ),
            None
        );
        assert_eq!(
            eph(
                serde_json::json!({"amiSelectorTerms": [{"alias": "bottlerocket@latest"}],
                "blockDeviceMappings": [bdm("/dev/xvda", "4Gi", None), bdm("/dev/xvdb", "80Gi", None)]})
            ),
            Some(80 * GIB)
        );
        // rootVolume wins over the family's device
        assert_eq!(
            eph(serde_json::json!({"blockDeviceMappings": [
                bdm("/dev/xvda", "4Gi", None), bdm("/dev/sdf", "60Gi", Some(true))]})),
            Some(60 * GIB)
        );
        // Custom: the last mapping
        assert_eq!(
            eph(
                serde_json::json!({"amiFamily": "Custom", "amiSelectorTerms": [{"id": "ami-1"}],
                "blockDeviceMappings": [bdm("/dev/xvda", "30Gi", None), bdm("/dev/sdz", "70Gi", None)]})
            ),
            Some(70 * GIB)
        );
        // Windows: /dev/sda1, default 50Gi
        let win = nc(serde_json::json!({"amiSelectorTerms": [{"alias": "windows2022@latest"}]}));
        let o = overhead_options(&win).unwrap();
        assert_eq!(o.ami_family, AmiFamily::Windows);
        assert_eq!(o.ephemeral_storage_bytes, None);
        assert_eq!(m5_large(&o).0.ephemeral_bytes, 50 * GIB);
        assert_eq!(m5_large(&o).0.pods, 110);
        assert_eq!(eph(serde_json::json!({})), None);
        assert_eq!(
            m5_large(&OverheadOptions::default()).0.ephemeral_bytes,
            20 * GIB
        );
    }

    #[test]
    fn the_family_comes_from_ami_family_first_then_the_alias() {
        let f = |extra| ami_family(&nc(extra)).unwrap();
        assert_eq!(f(serde_json::json!({})), AmiFamily::AL2023);
        assert_eq!(
            f(serde_json::json!({"amiSelectorTerms": [{"alias": "al2@v20240807"}]})),
            AmiFamily::AL2
        );
        assert_eq!(
            f(serde_json::json!({"amiFamily": "Custom"})),
            AmiFamily::Custom
        );
        assert_eq!(
            f(
                serde_json::json!({"amiFamily": "Bottlerocket", "amiSelectorTerms": [{"id": "ami-1"}]})
            ),
            AmiFamily::Bottlerocket
        );
        let e = ami_family(&nc(
            serde_json::json!({"amiSelectorTerms": [{"id": "ami-1"}]}),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("EC2NodeClass default: spec.amiFamily: required"),
            "{e}"
        );
        let e = ami_family(&nc(serde_json::json!({"amiFamily": "Ubuntu"})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("spec.amiFamily") && e.contains("Ubuntu"), "{e}");
        let e = ami_family(&nc(
            serde_json::json!({"amiSelectorTerms": [{"alias": "rhel@latest"}]}),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("spec.amiSelectorTerms[0].alias") && e.contains("rhel"),
            "{e}"
        );
        assert!(parse_alias("windows2019@v1").is_err());
        assert!(parse_alias("al2023").is_err());
    }

    #[test]
    fn bad_values_are_errors_naming_the_field() {
        let e = err(serde_json::json!({"kubelet": {"kubeReserved": {"memory": "lots"}}}));
        assert!(
            e.contains("EC2NodeClass default: spec.kubelet.kubeReserved.memory"),
            "{e}"
        );
        let e = err(serde_json::json!({"kubelet": {"systemReserved": {"cpu": "-1"}}}));
        assert!(e.contains("spec.kubelet.systemReserved.cpu"), "{e}");
        let e = err(serde_json::json!({"kubelet": {"evictionHard": {"memory.available": "150%"}}}));
        assert!(
            e.contains(r#"spec.kubelet.evictionHard["memory.available"]"#),
            "{e}"
        );
        let e = err(serde_json::json!({"kubelet": {"evictionSoft": {"nodefs.available": "x"}}}));
        assert!(
            e.contains(r#"spec.kubelet.evictionSoft["nodefs.available"]"#),
            "{e}"
        );
        let e = err(serde_json::json!({"blockDeviceMappings": [bdm("/dev/xvda", "big", None)]}));
        assert!(
            e.contains("spec.blockDeviceMappings[0].ebs.volumeSize"),
            "{e}"
        );
        let e = err(serde_json::json!({"kubelet": {"maxPods": -1}}));
        assert!(e.contains("spec.kubelet.maxPods"), "{e}");
        // signals that do not change allocatable are not read
        assert!(
            overhead_options(&nc(serde_json::json!({"kubelet": {"evictionHard": {
            "imagefs.available": "15%", "pid.available": "10%"}}})))
            .is_ok()
        );
    }

    fn it(name: &str, arch: &str, zones: &[&str]) -> InstanceType {
        InstanceType::new(
            name,
            BTreeMap::from([("kubernetes.io/arch".to_string(), arch.to_string())]),
            Resources::default(),
            Resources::default(),
            zones
                .iter()
                .map(|z| Offering {
                    zone: z.to_string(),
                    capacity_type: "on-demand".into(),
                    price: 1.0,
                    available: true,
                })
                .collect(),
        )
    }

    fn with_status(status: serde_json::Value) -> EC2NodeClass {
        let mut c = nc(serde_json::json!({}));
        c.status = Some(serde_json::from_value(status).unwrap());
        c
    }

    #[test]
    fn the_resolved_status_narrows_types_and_zones() {
        let c = with_status(serde_json::json!({
            "subnets": [{"id": "s1", "zone": "z1"}, {"id": "s2", "zone": "z2"}],
            "amis": [{"id": "ami-x86", "requirements": [
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "DoesNotExist"}]}]
        }));
        let r = resolved(&c).unwrap();
        let types = vec![
            it("m5.large", "amd64", &["z1", "z2", "z3"]),
            it("m6g.large", "arm64", &["z1"]),
            it("c5.large", "amd64", &["z3"]),
        ];
        let out = r.narrow(types);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].name, "m5.large");
        let zones: Vec<&str> = out[0].offerings.iter().map(|o| o.zone.as_str()).collect();
        assert_eq!(zones, ["z1", "z2"]);
        // a GPU type needs an AMI whose requirements allow a GPU
        let mut gpu = it("g5.xlarge", "amd64", &["z1"]);
        gpu.labels
            .insert("karpenter.k8s.aws/instance-gpu-count".into(), "1".into());
        assert!(r.ami_for(&gpu).is_none());
        // NotIn is honoured, and a label the type lacks satisfies it
        let c = with_status(serde_json::json!({
            "subnets": [{"id": "s1", "zone": "z1"}],
            "amis": [{"id": "ami-1", "requirements": [
                {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["arm64"]},
                {"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "NotIn", "values": ["t4"]}]}]
        }));
        let out = resolved(&c).unwrap().narrow(vec![
            it("m5.large", "amd64", &["z1"]),
            it("m6g.large", "arm64", &["z1"]),
        ]);
        assert_eq!(
            out.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["m5.large"]
        );
    }

    #[test]
    fn an_unresolved_status_is_an_error_saying_what_is_missing() {
        let e = resolved(&nc(serde_json::json!({})))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("EC2NodeClass default has no status.subnets yet"),
            "{e}"
        );
        let e = resolved(&with_status(
            serde_json::json!({"subnets": [{"id": "s", "zone": "z"}]}),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("has no status.amis yet"), "{e}");
    }
}
