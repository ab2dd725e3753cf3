//! Instance types, offerings, and the AWS capacity/overhead formulas (karpenter-aws.md §2).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::labels;
use crate::requirements::{Operator, Requirement, Requirements};
use crate::resources::Resources;

/// `on-demand`.
pub const ON_DEMAND: &str = "on-demand";
/// `spot`.
pub const SPOT: &str = "spot";

/// One way to buy an instance type: a zone, a capacity type and a price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offering {
    /// Availability zone.
    pub zone: String,
    /// `on-demand`, `spot` or `reserved`.
    pub capacity_type: String,
    /// USD per hour.
    pub price: f64,
    /// False when the offering is known to be unavailable (ICE, no price).
    pub available: bool,
}

/// An instance type with its labels, capacity, overhead and offerings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceType {
    /// Name, e.g. `m5.large`.
    pub name: String,
    /// Single-valued labels (instance-type, arch, os, family, cpu, ...). Zone and capacity type
    /// come from the offerings.
    pub labels: BTreeMap<String, String>,
    /// Capacity.
    pub capacity: Resources,
    /// kubeReserved + systemReserved + eviction threshold.
    pub overhead: Resources,
    /// Offerings.
    pub offerings: Vec<Offering>,
    /// Capacity − overhead (computed by [`InstanceType::new`]).
    #[serde(default)]
    pub allocatable: Resources,
}

impl InstanceType {
    /// Build a type; `allocatable` is derived. The `node.kubernetes.io/instance-type` label is
    /// always set.
    pub fn new(
        name: &str,
        mut labels: BTreeMap<String, String>,
        capacity: Resources,
        overhead: Resources,
        offerings: Vec<Offering>,
    ) -> Self {
        labels.insert(labels::INSTANCE_TYPE.to_string(), name.to_string());
        let mut allocatable = capacity.clone();
        allocatable.sub(&overhead);
        allocatable.floor_zero();
        InstanceType {
            name: name.to_string(),
            labels,
            capacity,
            overhead,
            offerings,
            allocatable,
        }
    }

    /// Recompute `allocatable` (after deserializing or editing capacity/overhead).
    pub fn refresh_allocatable(&mut self) {
        let mut a = self.capacity.clone();
        a.sub(&self.overhead);
        a.floor_zero();
        self.allocatable = a;
    }

    /// The type's requirements: each label as `In [value]`, zone and capacity type from its
    /// offerings, and `DoesNotExist` for well-known AWS labels it does not define.
    pub fn requirements(&self) -> Requirements {
        let mut r = Requirements::from_labels(&self.labels);
        r.add(
            labels::ZONE,
            Requirement::in_values(self.offerings.iter().map(|o| o.zone.clone())),
        );
        r.add(
            labels::CAPACITY_TYPE,
            Requirement::in_values(self.offerings.iter().map(|o| o.capacity_type.clone())),
        );
        for k in labels::WELL_KNOWN_AWS {
            if k.starts_with("karpenter.k8s.aws/instance-") && !self.labels.contains_key(*k) {
                r.add(k, Requirement::does_not_exist());
            }
        }
        r
    }

    /// Whether the type's own labels are compatible with `reqs` (zone and capacity type are
    /// checked against offerings separately). A well-known AWS instance label the type does not
    /// define counts as absent.
    pub fn labels_compatible(&self, reqs: &Requirements) -> bool {
        for (k, r) in reqs.iter() {
            match self.labels.get(k) {
                Some(v) => {
                    if !r.has(v) {
                        return false;
                    }
                }
                None => {
                    if k.starts_with("karpenter.k8s.aws/instance-")
                        && !matches!(r.operator(), Operator::NotIn | Operator::DoesNotExist)
                    {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// The cheapest available offering allowed by `reqs` (zone and capacity type).
    pub fn cheapest_offering(&self, reqs: &Requirements) -> Option<&Offering> {
        let zone = reqs.get(labels::ZONE);
        let ct = reqs.get(labels::CAPACITY_TYPE);
        self.offerings
            .iter()
            .filter(|o| {
                o.available
                    && zone.is_none_or(|z| z.has(&o.zone))
                    && ct.is_none_or(|c| c.has(&o.capacity_type))
            })
            .min_by(|a, b| {
                a.price
                    .total_cmp(&b.price)
                    // on a price tie prefer spot, as a launch allowed both would be spot
                    .then_with(|| (a.capacity_type != SPOT).cmp(&(b.capacity_type != SPOT)))
                    .then_with(|| a.zone.cmp(&b.zone))
            })
    }
}

/// AMI family, which decides the max-pods and overhead rules (upstream
/// `pkg/providers/amifamily/*.go`, each family's `FeatureFlags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AmiFamily {
    /// Amazon Linux 2023 (default).
    #[default]
    AL2023,
    /// Amazon Linux 2.
    AL2,
    /// Bottlerocket.
    Bottlerocket,
    /// Windows.
    Windows,
    /// Custom AMI.
    Custom,
}

impl AmiFamily {
    /// `SupportsENILimitedPodDensity`: max pods follow the ENI limit (all but Windows, which
    /// uses 110).
    pub fn supports_eni_limited_pod_density(self) -> bool {
        self != AmiFamily::Windows
    }

    /// `PodsPerCoreEnabled`: kubelet `podsPerCore` caps max pods (all but Bottlerocket).
    pub fn pods_per_core_enabled(self) -> bool {
        self != AmiFamily::Bottlerocket
    }

    /// `UsesENILimitedMemoryOverhead`: kubeReserved memory counts the ENI-limited pods even when
    /// `maxPods` overrides them (AL2, AL2023, Custom).
    pub fn uses_eni_limited_memory_overhead(self) -> bool {
        matches!(self, AmiFamily::AL2 | AmiFamily::AL2023 | AmiFamily::Custom)
    }

    /// `EvictionSoftEnabled`: `evictionSoft` thresholds count toward overhead (all but
    /// Bottlerocket, whose kubelet ignores them).
    pub fn eviction_soft_enabled(self) -> bool {
        self != AmiFamily::Bottlerocket
    }

    /// The family's default ephemeral-storage volume size in bytes when no block device
    /// mapping sets it: 50Gi on Windows (`/dev/sda1`), else 20Gi.
    pub fn default_ephemeral_bytes(self) -> i64 {
        const GIB: i64 = 1 << 30;
        if self == AmiFamily::Windows {
            50 * GIB
        } else {
            20 * GIB
        }
    }
}

/// An eviction signal's threshold (upstream `computeEvictionSignal`): a quantity, or a
/// percentage of the resource's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EvictionSignal {
    /// An absolute quantity in bytes.
    Bytes(i64),
    /// A percentage of capacity (`100` disables the threshold, i.e. means 0).
    Percent(f64),
}

impl EvictionSignal {
    /// The threshold in bytes for a resource of `capacity` bytes: `ceil(capacity / 100 × p)`
    /// for a percentage (100% means 0), the quantity otherwise.
    pub fn bytes_of(self, capacity: i64) -> i64 {
        match self {
            EvictionSignal::Bytes(b) => b,
            EvictionSignal::Percent(p) => {
                let p = if p == 100.0 { 0.0 } else { p };
                (capacity as f64 / 100.0 * p).ceil() as i64
            }
        }
    }
}

/// The eviction signals of one kubelet eviction map (`evictionHard` or `evictionSoft`) that
/// change allocatable: `memory.available` and `nodefs.available`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvictionThresholds {
    /// `memory.available`.
    pub memory_available: Option<EvictionSignal>,
    /// `nodefs.available`.
    pub nodefs_available: Option<EvictionSignal>,
}

/// kubelet `kubeReserved` or `systemReserved` as set on the EC2NodeClass: `None` where the
/// key is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedResources {
    /// `cpu`, in millicores.
    pub cpu_millis: Option<i64>,
    /// `memory`, in bytes.
    pub memory_bytes: Option<i64>,
    /// `ephemeral-storage`, in bytes.
    pub ephemeral_bytes: Option<i64>,
}

impl ReservedResources {
    /// The set values as a resource vector (unset ones are 0).
    pub fn to_resources(&self) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.unwrap_or(0),
            memory_bytes: self.memory_bytes.unwrap_or(0),
            ephemeral_bytes: self.ephemeral_bytes.unwrap_or(0),
            ..Resources::default()
        }
    }
}

/// Kubelet and controller settings that change capacity and overhead: what an EC2NodeClass
/// (and the controller's options) say about every instance type it launches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverheadOptions {
    /// AMI family.
    pub ami_family: AmiFamily,
    /// kubelet `maxPods`.
    pub max_pods: Option<i64>,
    /// kubelet `podsPerCore`.
    pub pods_per_core: Option<i64>,
    /// `VM_MEMORY_OVERHEAD_PERCENT` (default 0.075).
    pub vm_memory_overhead_percent: f64,
    /// `RESERVED_ENIS` (default 0).
    pub reserved_enis: i64,
    /// Size of the volume ephemeral storage lives on, in bytes (default: the family's,
    /// [`AmiFamily::default_ephemeral_bytes`]).
    pub ephemeral_storage_bytes: Option<i64>,
    /// kubelet `kubeReserved`: replaces the computed kubeReserved per resource.
    #[serde(default)]
    pub kube_reserved: ReservedResources,
    /// kubelet `systemReserved`.
    #[serde(default)]
    pub system_reserved: ReservedResources,
    /// kubelet `evictionHard`.
    #[serde(default)]
    pub eviction_hard: EvictionThresholds,
    /// kubelet `evictionSoft` (counts only where the family enables it).
    #[serde(default)]
    pub eviction_soft: EvictionThresholds,
}

impl Default for OverheadOptions {
    fn default() -> Self {
        OverheadOptions {
            ami_family: AmiFamily::AL2023,
            max_pods: None,
            pods_per_core: None,
            vm_memory_overhead_percent: 0.075,
            reserved_enis: 0,
            ephemeral_storage_bytes: None,
            kube_reserved: ReservedResources::default(),
            system_reserved: ReservedResources::default(),
            eviction_hard: EvictionThresholds::default(),
            eviction_soft: EvictionThresholds::default(),
        }
    }
}

/// `ENIs × (IPv4 per ENI − 1) + 2`, ENIs being the default card's minus reserved, floored at 0.
pub fn eni_limited_pods(default_card_enis: i64, ipv4_per_eni: i64, reserved_enis: i64) -> i64 {
    let enis = (default_card_enis - reserved_enis).max(0);
    enis * (ipv4_per_eni - 1).max(0) + 2
}

/// Max pods by karpenter-aws.md §2.2.
pub fn max_pods(vcpu: i64, default_card_enis: i64, ipv4_per_eni: i64, o: &OverheadOptions) -> i64 {
    let mut pods = if let Some(m) = o.max_pods {
        m
    } else if !o.ami_family.supports_eni_limited_pod_density() {
        110
    } else {
        eni_limited_pods(default_card_enis, ipv4_per_eni, o.reserved_enis)
    };
    if let Some(ppc) = o.pods_per_core {
        if ppc > 0 && o.ami_family.pods_per_core_enabled() {
            pods = pods.min(ppc * vcpu);
        }
    }
    pods
}

/// kubeReserved CPU in millicores: 6% of core 1, 1% of core 2, 0.5% of cores 3–4, 0.25% above.
pub fn kube_reserved_cpu_millis(vcpu: i64) -> i64 {
    // (band start, band end, thousandths of a millicore per millicore × 10 000)
    let bands: [(i64, i64, i64); 4] = [(0, 1, 600), (1, 2, 100), (2, 4, 50), (4, i64::MAX, 25)];
    bands
        .iter()
        .map(|&(start, end, basis)| {
            let cores = vcpu.min(end) - start;
            if cores <= 0 {
                0
            } else {
                // cores × 1000m × basis / 10 000, truncated per band
                cores * 1000 * basis / 10_000
            }
        })
        .sum()
}

/// Memory capacity in MiB: − 64 MiB on arm64, then − ceil(memory × VM overhead percent).
pub fn memory_capacity_mib(memory_mib: i64, arm64: bool, overhead_percent: f64) -> i64 {
    let m = if arm64 { memory_mib - 64 } else { memory_mib };
    m - (m as f64 * overhead_percent).ceil() as i64
}

/// kubeReserved memory in MiB: `11 × pods + 255`.
pub fn kube_reserved_memory_mib(pods: i64) -> i64 {
    11 * pods + 255
}

/// Facts about an AWS instance type needed to compute capacity and overhead.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsTypeFacts {
    /// vCPUs.
    pub vcpu: i64,
    /// Memory in MiB as DescribeInstanceTypes reports it.
    pub memory_mib: i64,
    /// First listed architecture is arm64.
    pub arm64: bool,
    /// Max ENIs on the default network card.
    pub default_card_enis: i64,
    /// IPv4 addresses per ENI.
    pub ipv4_per_eni: i64,
}

/// An instance type's overhead in its three parts (upstream `InstanceTypeOverhead`); the
/// scheduler subtracts their sum from capacity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Overhead {
    /// kubeReserved: computed (cpu bands, `11 × pods + 255` MiB, 1Gi ephemeral storage), each
    /// resource replaced by the EC2NodeClass's value where it sets one.
    pub kube_reserved: Resources,
    /// systemReserved: the EC2NodeClass's values.
    pub system_reserved: Resources,
    /// The eviction threshold ([`eviction_threshold`]).
    pub eviction_threshold: Resources,
}

impl Overhead {
    /// kubeReserved + systemReserved + eviction threshold.
    pub fn total(&self) -> Resources {
        let mut t = self.kube_reserved.clone();
        t.add(&self.system_reserved);
        t.add(&self.eviction_threshold);
        t
    }
}

/// The memory and ephemeral-storage eviction thresholds for a type of `capacity` (upstream
/// `evictionThreshold`): defaults 100Mi and 10% of ephemeral storage; where `evictionHard` (and
/// `evictionSoft`, if the family enables it) set `memory.available` / `nodefs.available`, the
/// largest of those replaces the default.
pub fn eviction_threshold(capacity: &Resources, o: &OverheadOptions) -> Resources {
    const MIB: i64 = 1 << 20;
    let mut signals = vec![&o.eviction_hard];
    if o.ami_family.eviction_soft_enabled() {
        signals.push(&o.eviction_soft);
    }
    let largest = |pick: fn(&EvictionThresholds) -> Option<EvictionSignal>, cap: i64| {
        signals
            .iter()
            .filter_map(|t| pick(t).map(|s| s.bytes_of(cap)))
            .max()
    };
    Resources {
        memory_bytes: largest(|t| t.memory_available, capacity.memory_bytes).unwrap_or(100 * MIB),
        ephemeral_bytes: largest(|t| t.nodefs_available, capacity.ephemeral_bytes)
            .unwrap_or((capacity.ephemeral_bytes + 9) / 10),
        ..Resources::default()
    }
}

/// Capacity and overhead parts for an AWS type (karpenter-aws.md §2.1–2.3; upstream
/// `pkg/providers/instancetype/types.go` `computeCapacity`, `kubeReservedResources`,
/// `systemReservedResources`, `evictionThreshold`).
pub fn aws_capacity_and_overhead_parts(
    f: &AwsTypeFacts,
    o: &OverheadOptions,
) -> (Resources, Overhead) {
    const MIB: i64 = 1 << 20;
    const GIB: i64 = 1 << 30;
    let pods = max_pods(f.vcpu, f.default_card_enis, f.ipv4_per_eni, o);
    let ephemeral = o
        .ephemeral_storage_bytes
        .unwrap_or(o.ami_family.default_ephemeral_bytes());
    let capacity = Resources {
        cpu_millis: f.vcpu * 1000,
        memory_bytes: memory_capacity_mib(f.memory_mib, f.arm64, o.vm_memory_overhead_percent)
            * MIB,
        pods,
        ephemeral_bytes: ephemeral,
        extended: BTreeMap::new(),
    };
    // karpenter-aws.md §2.3: the ENI-limited count with 0 reserved ENIs
    let pods_for_memory = if o.ami_family.uses_eni_limited_memory_overhead() {
        eni_limited_pods(f.default_card_enis, f.ipv4_per_eni, 0)
    } else {
        pods
    };
    let user = &o.kube_reserved;
    let kube_reserved = Resources {
        cpu_millis: user
            .cpu_millis
            .unwrap_or_else(|| kube_reserved_cpu_millis(f.vcpu)),
        memory_bytes: user
            .memory_bytes
            .unwrap_or(kube_reserved_memory_mib(pods_for_memory) * MIB),
        ephemeral_bytes: user.ephemeral_bytes.unwrap_or(GIB),
        ..Resources::default()
    };
    let overhead = Overhead {
        kube_reserved,
        system_reserved: o.system_reserved.to_resources(),
        eviction_threshold: eviction_threshold(&capacity, o),
    };
    (capacity, overhead)
}

/// Capacity and total overhead for an AWS type ([`aws_capacity_and_overhead_parts`]).
pub fn aws_capacity_and_overhead(f: &AwsTypeFacts, o: &OverheadOptions) -> (Resources, Resources) {
    let (capacity, parts) = aws_capacity_and_overhead_parts(f, o);
    (capacity, parts.total())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m5_large_worked_example() {
        let f = AwsTypeFacts {
            vcpu: 2,
            memory_mib: 8192,
            arm64: false,
            default_card_enis: 3,
            ipv4_per_eni: 10,
        };
        let (cap, ovh) = aws_capacity_and_overhead(&f, &OverheadOptions::default());
        assert_eq!(cap.pods, 29);
        assert_eq!(cap.memory_bytes, 7577 << 20);
        assert_eq!(ovh.cpu_millis, 70);
        let mut alloc = cap.clone();
        alloc.sub(&ovh);
        assert_eq!(alloc.cpu_millis, 1930);
        assert_eq!(alloc.memory_bytes, 6903 << 20);
        assert_eq!(alloc.pods, 29);
    }

    #[test]
    fn kube_reserved_cpu_matches_reference_examples() {
        assert_eq!(kube_reserved_cpu_millis(1), 60);
        assert_eq!(kube_reserved_cpu_millis(2), 70);
        assert_eq!(kube_reserved_cpu_millis(4), 80);
        assert_eq!(kube_reserved_cpu_millis(8), 90);
        assert_eq!(kube_reserved_cpu_millis(96), 310);
    }

    #[test]
    fn max_pods_rules() {
        let mut o = OverheadOptions::default();
        assert_eq!(max_pods(2, 3, 10, &o), 29);
        o.reserved_enis = 1;
        assert_eq!(max_pods(2, 3, 10, &o), 20);
        o.reserved_enis = 5;
        assert_eq!(max_pods(2, 3, 10, &o), 2, "ENIs floored at 0");
        o.reserved_enis = 0;
        o.pods_per_core = Some(4);
        assert_eq!(max_pods(2, 3, 10, &o), 8);
        o.ami_family = AmiFamily::Bottlerocket;
        assert_eq!(
            max_pods(2, 3, 10, &o),
            29,
            "Bottlerocket ignores podsPerCore"
        );
        o.ami_family = AmiFamily::Windows;
        o.pods_per_core = None;
        assert_eq!(max_pods(2, 3, 10, &o), 110);
        o.max_pods = Some(50);
        assert_eq!(max_pods(2, 3, 10, &o), 50);
    }

    #[test]
    fn arm64_loses_64_mib_before_vm_overhead() {
        // 4096 − 64 = 4032; ceil(4032 × 0.075) = 303
        assert_eq!(memory_capacity_mib(4096, true, 0.075), 4032 - 303);
    }

    #[test]
    fn cheapest_offering_respects_zone_and_capacity_type() {
        let off = |z: &str, ct: &str, p: f64| Offering {
            zone: z.into(),
            capacity_type: ct.into(),
            price: p,
            available: true,
        };
        let it = InstanceType::new(
            "x",
            BTreeMap::new(),
            Resources::default(),
            Resources::default(),
            vec![
                off("a", SPOT, 0.5),
                off("b", ON_DEMAND, 1.0),
                off("a", ON_DEMAND, 0.9),
            ],
        );
        let mut r = Requirements::new();
        assert_eq!(it.cheapest_offering(&r).unwrap().price, 0.5);
        r.add(labels::CAPACITY_TYPE, Requirement::in_values([ON_DEMAND]));
        assert_eq!(it.cheapest_offering(&r).unwrap().zone, "a");
        r.add(labels::ZONE, Requirement::in_values(["b"]));
        assert_eq!(it.cheapest_offering(&r).unwrap().price, 1.0);
        r.add(labels::ZONE, Requirement::in_values(["c"]));
        assert!(it.cheapest_offering(&r).is_none());
    }
}
