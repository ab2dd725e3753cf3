//! A planned NodeClaim → the `karpenter.sh/v1` NodeClaim object, as upstream builds it
//! (`pkg/controllers/provisioning/scheduling/nodeclaimtemplate.go: ToNodeClaim`,
//! `pkg/controllers/provisioning/provisioner.go: Create`): the name `<nodepool>-<5 chars>`, the
//! template's labels and annotations plus `karpenter.sh/nodepool` and the nodeclass label, the
//! NodePool hash annotations, the requirements with minValues, the requests, the template's
//! taints, startup taints, expireAfter and terminationGracePeriod, and an owner reference to the
//! NodePool. The finalizer is added by the lifecycle controller before launch, as upstream.
use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use karpenter_api::common::{
    NodeSelectorRequirementWithMinValues, ResourceList, ResourceRequirements,
};
use karpenter_api::sh::v1::{NodeClaim, NodeClaimSpec, NodePool};
use karpenter_scheduling::resources::Resources;
use karpenter_scheduling::{labels, NodeClaimPlan};
use kube::ResourceExt;

pub use karpenter_api::labels::{NODEPOOL_HASH, NODEPOOL_HASH_VERSION, TERMINATION_FINALIZER};

/// Our hash version. Upstream's is `v3`; ours differs on purpose (issue 13's interop note): a
/// NodeClaim whose version is not ours is re-stamped, never treated as drifted.
pub const HASH_VERSION: &str = "kubectl-karpenter-v1";

/// The characters Kubernetes' `generateName` draws from (`k8s.io/apimachinery/pkg/util/rand`):
/// no vowels, no confusable digits.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Suffixes for NodeClaim names: random by default, reproducible from a seed for tests and
/// `run --simulate`.
#[derive(Debug)]
pub struct Names(Mutex<u64>);

impl Names {
    /// A generator seeded with `seed`, or from the time and process when `None`.
    pub fn new(seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            t ^ (u64::from(std::process::id()) << 32)
        });
        Names(Mutex::new(seed))
    }

    /// `<nodepool>-<5 chars>`.
    pub fn next(&self, node_pool: &str) -> String {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(node_pool.len() + 6);
        out.push_str(node_pool);
        out.push('-');
        for _ in 0..5 {
            // splitmix64
            *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            out.push(ALPHABET[(z % ALPHABET.len() as u64) as usize] as char);
        }
        out
    }
}

/// Our NodePool hash: FNV-1a (64-bit, decimal as upstream prints its hash) over the template
/// fields whose change means drift — the template's labels, annotations, taints, startup
/// taints, expireAfter, terminationGracePeriod and nodeClassRef. Requirements are left out as
/// upstream leaves them out (drift compares them directly).
pub fn node_pool_hash(pool: &NodePool) -> String {
    let t = &pool.spec.template;
    let doc = serde_json::json!({
        "labels": t.metadata.as_ref().and_then(|m| m.labels.clone()),
        "annotations": t.metadata.as_ref().and_then(|m| m.annotations.clone()),
        "taints": t.spec.taints,
        "startupTaints": t.spec.startup_taints,
        "expireAfter": t.spec.expire_after,
        "terminationGracePeriod": t.spec.termination_grace_period,
        "nodeClassRef": t.spec.node_class_ref,
    });
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in doc.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.to_string()
}

/// A resource vector as a Kubernetes resource list (`cpu` in millicores, bytes otherwise);
/// zero entries are left out.
pub fn resource_list(r: &Resources) -> ResourceList {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        out.insert(k.to_string(), Quantity(v));
    };
    if r.cpu_millis != 0 {
        put(
            "cpu",
            if r.cpu_millis % 1000 == 0 {
                (r.cpu_millis / 1000).to_string()
            } else {
                format!("{}m", r.cpu_millis)
            },
        );
    }
    if r.memory_bytes != 0 {
        put("memory", memory(r.memory_bytes));
    }
    if r.ephemeral_bytes != 0 {
        put("ephemeral-storage", memory(r.ephemeral_bytes));
    }
    if r.pods != 0 {
        put("pods", r.pods.to_string());
    }
    for (k, v) in &r.extended {
        if *v != 0 {
            put(k, v.to_string());
        }
    }
    out
}

fn memory(b: i64) -> String {
    if b % (1 << 30) == 0 {
        format!("{}Gi", b >> 30)
    } else if b % (1 << 20) == 0 {
        format!("{}Mi", b >> 20)
    } else if b % (1 << 10) == 0 {
        format!("{}Ki", b >> 10)
    } else {
        b.to_string()
    }
}

/// The NodeClaim for `plan`, created from `pool`, named `name`.
pub fn to_node_claim(pool: &NodePool, plan: &NodeClaimPlan, name: String) -> NodeClaim {
    let template = &pool.spec.template;
    let tmeta = template.metadata.clone().unwrap_or_default();
    let class = &template.spec.node_class_ref;
    let mut node_labels = tmeta.labels.clone().unwrap_or_default();
    node_labels.extend(plan.labels());
    node_labels.insert(labels::NODEPOOL.to_string(), pool.name_any());
    node_labels.insert(
        format!("{}/{}", class.group, class.kind.to_ascii_lowercase()),
        class.name.clone(),
    );
    let mut annotations = tmeta.annotations.clone().unwrap_or_default();
    annotations.insert(NODEPOOL_HASH.to_string(), node_pool_hash(pool));
    annotations.insert(NODEPOOL_HASH_VERSION.to_string(), HASH_VERSION.to_string());
    let requirements = plan
        .spec_requirements()
        .into_iter()
        .map(|r| NodeSelectorRequirementWithMinValues {
            key: r.key,
            operator: format!("{:?}", r.operator),
            values: (!r.values.is_empty()).then_some(r.values),
            min_values: r.min_values.map(|m| m as i64),
        })
        .collect();
    NodeClaim {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(node_labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "karpenter.sh/v1".into(),
                kind: "NodePool".into(),
                name: pool.name_any(),
                uid: pool.metadata.uid.clone().unwrap_or_default(),
                block_owner_deletion: Some(true),
                controller: None,
            }]),
            ..ObjectMeta::default()
        },
        spec: NodeClaimSpec {
            node_class_ref: class.clone(),
            requirements,
            resources: Some(ResourceRequirements {
                requests: Some(resource_list(&plan.requests)),
            }),
            taints: template.spec.taints.clone(),
            startup_taints: template.spec.startup_taints.clone(),
            expire_after: Some(
                template
                    .spec
                    .expire_after
                    .clone()
                    .unwrap_or_else(|| "720h".into()),
            ),
            termination_grace_period: template.spec.termination_grace_period.clone(),
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_use_the_generate_name_alphabet_and_a_seed_reproduces_them() {
        let a = Names::new(Some(7));
        let b = Names::new(Some(7));
        let n1 = a.next("default");
        assert_eq!(n1, b.next("default"));
        assert_ne!(n1, a.next("default"), "consecutive names differ");
        let suffix = n1.strip_prefix("default-").unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|c| ALPHABET.contains(&c)), "{n1}");
    }

    #[test]
    fn resource_lists_use_kubernetes_units() {
        let mut r = Resources::cpu_mem(1500, 3 << 30);
        r.pods = 4;
        let l = resource_list(&r);
        assert_eq!(l["cpu"].0, "1500m");
        assert_eq!(l["memory"].0, "3Gi");
        assert_eq!(l["pods"].0, "4");
        assert!(!l.contains_key("ephemeral-storage"));
        r.cpu_millis = 2000;
        assert_eq!(resource_list(&r)["cpu"].0, "2");
    }

    #[test]
    fn the_hash_changes_with_taints_but_not_with_requirements() {
        let mut p: NodePool = serde_json::from_value(serde_json::json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "a"},
            "spec": {"template": {"spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "d"},
                "requirements": []}}}
        }))
        .unwrap();
        let h = node_pool_hash(&p);
        p.spec.template.spec.requirements.push(Default::default());
        assert_eq!(node_pool_hash(&p), h);
        p.spec.template.spec.taints = Some(vec![Default::default()]);
        assert_ne!(node_pool_hash(&p), h);
    }
}
