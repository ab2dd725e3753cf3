//! Well-known labels, annotations, taints and finalizers used by Karpenter (core `apis/v1/labels.go`,
//! `taints.go`; AWS `apis/v1/labels.go`).

// ---- Kubernetes well-known labels Karpenter schedules on ----

/// `topology.kubernetes.io/zone`.
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// `topology.kubernetes.io/region`.
pub const REGION: &str = "topology.kubernetes.io/region";
/// `node.kubernetes.io/instance-type`.
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// `kubernetes.io/arch`.
pub const ARCH: &str = "kubernetes.io/arch";
/// `kubernetes.io/os`.
pub const OS: &str = "kubernetes.io/os";
/// `kubernetes.io/hostname`.
pub const HOSTNAME: &str = "kubernetes.io/hostname";
/// `node.kubernetes.io/windows-build`.
pub const WINDOWS_BUILD: &str = "node.kubernetes.io/windows-build";

// ---- karpenter.sh labels ----

/// `karpenter.sh/nodepool`: the NodePool a node belongs to (v1beta1+).
pub const NODEPOOL: &str = "karpenter.sh/nodepool";
/// `karpenter.sh/provisioner-name`: the Provisioner a node belongs to (v1alpha5).
pub const PROVISIONER_NAME: &str = "karpenter.sh/provisioner-name";
/// `karpenter.sh/capacity-type`: `spot`, `on-demand` or `reserved`.
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
/// `karpenter.sh/registered`: set once the node registered.
pub const NODE_REGISTERED: &str = "karpenter.sh/registered";
/// `karpenter.sh/initialized`: set once the node is initialized.
pub const NODE_INITIALIZED: &str = "karpenter.sh/initialized";
/// `karpenter.sh/do-not-sync-taints`.
pub const DO_NOT_SYNC_TAINTS: &str = "karpenter.sh/do-not-sync-taints";

/// Capacity type value `spot`.
pub const CAPACITY_TYPE_SPOT: &str = "spot";
/// Capacity type value `on-demand`.
pub const CAPACITY_TYPE_ON_DEMAND: &str = "on-demand";
/// Capacity type value `reserved`.
pub const CAPACITY_TYPE_RESERVED: &str = "reserved";

/// Labels pods may select on without the NodePool declaring them (core).
pub const WELL_KNOWN_CORE: &[&str] = &[
    NODEPOOL,
    ZONE,
    REGION,
    INSTANCE_TYPE,
    ARCH,
    OS,
    CAPACITY_TYPE,
    WINDOWS_BUILD,
];

// ---- annotations ----

/// `karpenter.sh/do-not-disrupt`: `"true"` on a pod or node blocks voluntary disruption.
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// `karpenter.sh/do-not-evict` (removed in v1; replaced by `do-not-disrupt`).
pub const DO_NOT_EVICT_LEGACY: &str = "karpenter.sh/do-not-evict";
/// `karpenter.sh/do-not-consolidate` (removed in v1; replaced by `do-not-disrupt`).
pub const DO_NOT_CONSOLIDATE_LEGACY: &str = "karpenter.sh/do-not-consolidate";
/// `karpenter.sh/nodepool-hash`: drift detection hash.
pub const NODEPOOL_HASH: &str = "karpenter.sh/nodepool-hash";
/// `karpenter.sh/nodepool-hash-version`.
pub const NODEPOOL_HASH_VERSION: &str = "karpenter.sh/nodepool-hash-version";
/// `karpenter.sh/nodeclaim-termination-timestamp`: terminationGracePeriod deadline.
pub const NODECLAIM_TERMINATION_TIMESTAMP: &str = "karpenter.sh/nodeclaim-termination-timestamp";
/// `karpenter.sh/nodeclaim-min-values-relaxed`.
pub const NODECLAIM_MIN_VALUES_RELAXED: &str = "karpenter.sh/nodeclaim-min-values-relaxed";
/// `controller.kubernetes.io/pod-deletion-cost`.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
/// `karpenter.k8s.aws/ec2nodeclass-hash`: EC2NodeClass drift hash.
pub const EC2NODECLASS_HASH: &str = "karpenter.k8s.aws/ec2nodeclass-hash";
/// `karpenter.k8s.aws/ec2nodeclass-hash-version`.
pub const EC2NODECLASS_HASH_VERSION: &str = "karpenter.k8s.aws/ec2nodeclass-hash-version";

// ---- taints ----

/// Key of the v1 disruption taint `karpenter.sh/disrupted:NoSchedule`.
pub const DISRUPTED_TAINT_KEY: &str = "karpenter.sh/disrupted";
/// Key of the v1beta1 disruption taint `karpenter.sh/disruption=disrupting:NoSchedule`.
pub const DISRUPTION_TAINT_KEY_V1BETA1: &str = "karpenter.sh/disruption";
/// Value of the v1beta1 disruption taint.
pub const DISRUPTION_TAINT_VALUE_V1BETA1: &str = "disrupting";
/// Key of the registration taint `karpenter.sh/unregistered:NoExecute` (v1).
pub const UNREGISTERED_TAINT_KEY: &str = "karpenter.sh/unregistered";
/// Key of the taint `node.kubernetes.io/unschedulable:NoSchedule` on cordoned nodes.
pub const UNSCHEDULABLE_TAINT_KEY: &str = "node.kubernetes.io/unschedulable";
/// `node.kubernetes.io/not-ready`: the node lifecycle controller's taint on a Node until it is
/// Ready.
pub const NOT_READY_TAINT_KEY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/exclude-from-external-load-balancers`: set to `karpenter` on a Node
/// being terminated, so load balancers stop sending it traffic.
pub const EXCLUDE_FROM_EXTERNAL_LB: &str =
    "node.kubernetes.io/exclude-from-external-load-balancers";

// ---- tags ----

/// `karpenter.sh/nodeclaim`: the tag naming the NodeClaim an instance was launched for.
pub const NODECLAIM_TAG: &str = "karpenter.sh/nodeclaim";
/// `karpenter.sh/discovery`: the tag Karpenter's getting-started guide selects subnets and
/// security groups by.
pub const DISCOVERY_TAG: &str = "karpenter.sh/discovery";

// ---- finalizers ----

/// `karpenter.sh/termination` finalizer on Nodes and NodeClaims.
pub const TERMINATION_FINALIZER: &str = "karpenter.sh/termination";
/// `karpenter.k8s.aws/termination` finalizer on EC2NodeClasses.
pub const AWS_TERMINATION_FINALIZER: &str = "karpenter.k8s.aws/termination";

// ---- karpenter.k8s.aws labels ----

/// `topology.k8s.aws/zone-id`.
pub const ZONE_ID: &str = "topology.k8s.aws/zone-id";
/// `karpenter.k8s.aws/ec2nodeclass`: the nodeclass label on nodes.
pub const EC2NODECLASS: &str = "karpenter.k8s.aws/ec2nodeclass";
/// `karpenter.k8s.aws/instance-category`, e.g. `m`.
pub const INSTANCE_CATEGORY: &str = "karpenter.k8s.aws/instance-category";
/// `karpenter.k8s.aws/instance-family`, e.g. `m5`.
pub const INSTANCE_FAMILY: &str = "karpenter.k8s.aws/instance-family";
/// `karpenter.k8s.aws/instance-generation`, e.g. `5`.
pub const INSTANCE_GENERATION: &str = "karpenter.k8s.aws/instance-generation";
/// `karpenter.k8s.aws/instance-size`, e.g. `large`.
pub const INSTANCE_SIZE: &str = "karpenter.k8s.aws/instance-size";
/// `karpenter.k8s.aws/instance-cpu`: vCPUs.
pub const INSTANCE_CPU: &str = "karpenter.k8s.aws/instance-cpu";
/// `karpenter.k8s.aws/instance-cpu-manufacturer`.
pub const INSTANCE_CPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-cpu-manufacturer";
/// `karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz`.
pub const INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ: &str =
    "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz";
/// `karpenter.k8s.aws/instance-memory`: MiB.
pub const INSTANCE_MEMORY: &str = "karpenter.k8s.aws/instance-memory";
/// `karpenter.k8s.aws/instance-hypervisor`.
pub const INSTANCE_HYPERVISOR: &str = "karpenter.k8s.aws/instance-hypervisor";
/// `karpenter.k8s.aws/instance-encryption-in-transit-supported`.
pub const INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED: &str =
    "karpenter.k8s.aws/instance-encryption-in-transit-supported";
/// `karpenter.k8s.aws/instance-capability-flex`.
pub const INSTANCE_CAPABILITY_FLEX: &str = "karpenter.k8s.aws/instance-capability-flex";
/// `karpenter.k8s.aws/instance-local-nvme`: GB.
pub const INSTANCE_LOCAL_NVME: &str = "karpenter.k8s.aws/instance-local-nvme";
/// `karpenter.k8s.aws/instance-network-bandwidth`.
pub const INSTANCE_NETWORK_BANDWIDTH: &str = "karpenter.k8s.aws/instance-network-bandwidth";
/// `karpenter.k8s.aws/instance-ebs-bandwidth`.
pub const INSTANCE_EBS_BANDWIDTH: &str = "karpenter.k8s.aws/instance-ebs-bandwidth";
/// `karpenter.k8s.aws/instance-gpu-name`.
pub const INSTANCE_GPU_NAME: &str = "karpenter.k8s.aws/instance-gpu-name";
/// `karpenter.k8s.aws/instance-gpu-manufacturer`.
pub const INSTANCE_GPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-gpu-manufacturer";
/// `karpenter.k8s.aws/instance-gpu-count`.
pub const INSTANCE_GPU_COUNT: &str = "karpenter.k8s.aws/instance-gpu-count";
/// `karpenter.k8s.aws/instance-gpu-memory`.
pub const INSTANCE_GPU_MEMORY: &str = "karpenter.k8s.aws/instance-gpu-memory";
/// `karpenter.k8s.aws/instance-accelerator-name`.
pub const INSTANCE_ACCELERATOR_NAME: &str = "karpenter.k8s.aws/instance-accelerator-name";
/// `karpenter.k8s.aws/instance-accelerator-manufacturer`.
pub const INSTANCE_ACCELERATOR_MANUFACTURER: &str =
    "karpenter.k8s.aws/instance-accelerator-manufacturer";
/// `karpenter.k8s.aws/instance-accelerator-count`.
pub const INSTANCE_ACCELERATOR_COUNT: &str = "karpenter.k8s.aws/instance-accelerator-count";
/// `karpenter.k8s.aws/instance-tenancy`: `default` or `dedicated`.
pub const INSTANCE_TENANCY: &str = "karpenter.k8s.aws/instance-tenancy";
/// `karpenter.k8s.aws/capacity-reservation-id`.
pub const CAPACITY_RESERVATION_ID: &str = "karpenter.k8s.aws/capacity-reservation-id";
/// `karpenter.k8s.aws/capacity-reservation-type`.
pub const CAPACITY_RESERVATION_TYPE: &str = "karpenter.k8s.aws/capacity-reservation-type";
/// `karpenter.k8s.aws/capacity-reservation-interruptible`.
pub const CAPACITY_RESERVATION_INTERRUPTIBLE: &str =
    "karpenter.k8s.aws/capacity-reservation-interruptible";
/// `karpenter.k8s.aws/placement-group-id`.
pub const PLACEMENT_GROUP_ID: &str = "karpenter.k8s.aws/placement-group-id";
/// `karpenter.k8s.aws/placement-group-partition`.
pub const PLACEMENT_GROUP_PARTITION: &str = "karpenter.k8s.aws/placement-group-partition";

/// AWS well-known labels (AWS `apis/v1/labels.go` `init`); pods may select on them without the
/// NodePool declaring them. The nodeclass label [`EC2NODECLASS`] is set on nodes but is not in
/// upstream's list, so a pod selecting on it needs a NodePool that defines it.
pub const WELL_KNOWN_AWS: &[&str] = &[
    ZONE_ID,
    INSTANCE_CATEGORY,
    INSTANCE_FAMILY,
    INSTANCE_GENERATION,
    INSTANCE_SIZE,
    INSTANCE_CPU,
    INSTANCE_CPU_MANUFACTURER,
    INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ,
    INSTANCE_MEMORY,
    INSTANCE_HYPERVISOR,
    INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED,
    INSTANCE_CAPABILITY_FLEX,
    INSTANCE_LOCAL_NVME,
    INSTANCE_NETWORK_BANDWIDTH,
    INSTANCE_EBS_BANDWIDTH,
    INSTANCE_GPU_NAME,
    INSTANCE_GPU_MANUFACTURER,
    INSTANCE_GPU_COUNT,
    INSTANCE_GPU_MEMORY,
    INSTANCE_ACCELERATOR_NAME,
    INSTANCE_ACCELERATOR_MANUFACTURER,
    INSTANCE_ACCELERATOR_COUNT,
    INSTANCE_TENANCY,
    CAPACITY_RESERVATION_ID,
    CAPACITY_RESERVATION_TYPE,
    CAPACITY_RESERVATION_INTERRUPTIBLE,
    PLACEMENT_GROUP_ID,
    PLACEMENT_GROUP_PARTITION,
];

/// Whether `key` is a well-known label (core or AWS).
pub fn is_well_known(key: &str) -> bool {
    WELL_KNOWN_CORE.contains(&key) || WELL_KNOWN_AWS.contains(&key)
}

/// The stable key for a deprecated alias of a well-known label (core `NormalizedLabels`):
/// `failure-domain.beta.kubernetes.io/zone` → [`ZONE`], `beta.kubernetes.io/arch` → [`ARCH`], …;
/// any other key is returned unchanged.
pub fn normalize_key(key: &str) -> &str {
    match key {
        "failure-domain.beta.kubernetes.io/zone" => ZONE,
        "failure-domain.beta.kubernetes.io/region" => REGION,
        "beta.kubernetes.io/arch" => ARCH,
        "beta.kubernetes.io/os" => OS,
        "beta.kubernetes.io/instance-type" => INSTANCE_TYPE,
        other => other,
    }
}

/// Labels a pod may not select on in its node selector (core `RestrictedLabelDomains` and
/// `IsRestrictedNodeLabel`): [`HOSTNAME`] and the `karpenter.sh` domain other than well-known keys.
pub fn is_restricted_for_pods(key: &str) -> bool {
    if key == HOSTNAME {
        return true;
    }
    let domain = key.split_once('/').map(|(d, _)| d).unwrap_or("");
    (domain == "karpenter.sh" || domain.ends_with(".karpenter.sh")) && !is_well_known(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_labels_cover_core_and_aws_keys_only() {
        for key in [
            NODEPOOL,
            CAPACITY_TYPE,
            ZONE,
            INSTANCE_TYPE,
            INSTANCE_FAMILY,
            INSTANCE_GPU_COUNT,
            ZONE_ID,
        ] {
            assert!(is_well_known(key), "{key}");
        }
        // Karpenter's own bookkeeping labels and arbitrary user labels are not well-known.
        for key in [
            NODE_REGISTERED,
            NODE_INITIALIZED,
            HOSTNAME,
            // Upstream's AWS `WellKnownLabels` leaves the nodeclass label out.
            EC2NODECLASS,
            "team",
            "karpenter.k8s.aws/unknown",
        ] {
            assert!(!is_well_known(key), "{key}");
        }
        // Every AWS well-known label lives in an AWS domain.
        assert!(WELL_KNOWN_AWS
            .iter()
            .all(|k| k.starts_with("karpenter.k8s.aws/") || k.starts_with("topology.k8s.aws/")));
    }

    /// Issue 11: this file is the only home of label, annotation, taint and tag keys. A
    /// `const NAME: &str = "karpenter.sh/…"` (or another Kubernetes/Karpenter key domain)
    /// anywhere else in the workspace's sources is a second definition.
    #[test]
    fn no_other_source_file_defines_a_well_known_key() {
        const DOMAINS: &[&str] = &[
            "karpenter.sh/",
            "karpenter.k8s.aws/",
            "kubernetes.io/",
            "topology.kubernetes.io/",
            "node.kubernetes.io/",
            "topology.k8s.aws/",
            "beta.kubernetes.io/",
            "failure-domain.beta.kubernetes.io/",
        ];
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        walk(&root.join("src"), &mut files);
        for krate in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
            walk(&krate.path().join("src"), &mut files);
        }
        assert!(files.len() > 20, "walked too few files: {files:?}");
        let here = std::fs::canonicalize(file!())
            .unwrap_or_else(|_| root.join("crates/api/src/labels.rs"));
        let mut found = Vec::new();
        for f in &files {
            if std::fs::canonicalize(f).ok().as_ref() == Some(&here)
                || f.ends_with("crates/api/src/labels.rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(f).unwrap_or_default();
            for (i, line) in text.lines().enumerate() {
                let Some((decl, value)) = line.split_once(": &str = \"") else {
                    continue;
                };
                if decl.contains("const ") && DOMAINS.iter().any(|d| value.starts_with(d)) {
                    found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "use karpenter_api::labels instead:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn deprecated_aliases_normalise_to_the_stable_keys() {
        assert_eq!(
            normalize_key("failure-domain.beta.kubernetes.io/zone"),
            ZONE
        );
        assert_eq!(
            normalize_key("failure-domain.beta.kubernetes.io/region"),
            REGION
        );
        assert_eq!(normalize_key("beta.kubernetes.io/arch"), ARCH);
        assert_eq!(normalize_key("beta.kubernetes.io/os"), OS);
        assert_eq!(
            normalize_key("beta.kubernetes.io/instance-type"),
            INSTANCE_TYPE
        );
        assert_eq!(normalize_key("team"), "team");
    }

    #[test]
    fn pods_may_not_select_on_hostname_or_karpenter_bookkeeping_labels() {
        for key in [
            HOSTNAME,
            NODE_INITIALIZED,
            "karpenter.sh/anything",
            "x.karpenter.sh/y",
        ] {
            assert!(is_restricted_for_pods(key), "{key}");
        }
        for key in [NODEPOOL, CAPACITY_TYPE, ZONE, "team", "notkarpenter.sh/x"] {
            assert!(!is_restricted_for_pods(key), "{key}");
        }
    }
}
