//! A read-only snapshot of what Karpenter's provisioning and disruption read from a cluster:
//! NodePools, EC2NodeClasses, Nodes, NodeClaims, Pods, DaemonSets, PersistentVolumeClaims,
//! PersistentVolumes, StorageClasses and PodDisruptionBudgets, as JSON objects (each with
//! `apiVersion` and `kind`).
//!
//! Only `list` requests are made (paged with `limit`/`continue`), so the identity needs nothing
//! beyond `list` on those resources.
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

/// Page size for list requests.
const PAGE: u32 = 500;

/// One resource the snapshot lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name (as RBAC names it).
    pub plural: &'static str,
}

impl Resource {
    const fn new(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Self {
        Resource {
            group,
            version,
            kind,
            plural,
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` as RBAC and kubectl name it (`persistentvolumeclaims`, `nodepools.karpenter.sh`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version: self.api_version(),
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }
}

/// NodePools at `karpenter.sh/v1`.
pub const NODE_POOLS_V1: Resource = Resource::new("karpenter.sh", "v1", "NodePool", "nodepools");
/// NodePools at `karpenter.sh/v1beta1` (clusters on Karpenter < 1.0).
pub const NODE_POOLS_V1BETA1: Resource =
    Resource::new("karpenter.sh", "v1beta1", "NodePool", "nodepools");
/// NodeClaims at `karpenter.sh/v1`.
pub const NODE_CLAIMS_V1: Resource = Resource::new("karpenter.sh", "v1", "NodeClaim", "nodeclaims");
/// NodeClaims at `karpenter.sh/v1beta1`.
pub const NODE_CLAIMS_V1BETA1: Resource =
    Resource::new("karpenter.sh", "v1beta1", "NodeClaim", "nodeclaims");
/// EC2NodeClasses at `karpenter.k8s.aws/v1`.
pub const NODE_CLASSES_V1: Resource =
    Resource::new("karpenter.k8s.aws", "v1", "EC2NodeClass", "ec2nodeclasses");
/// EC2NodeClasses at `karpenter.k8s.aws/v1beta1`.
pub const NODE_CLASSES_V1BETA1: Resource = Resource::new(
    "karpenter.k8s.aws",
    "v1beta1",
    "EC2NodeClass",
    "ec2nodeclasses",
);
/// Nodes.
pub const NODES: Resource = Resource::new("", "v1", "Node", "nodes");
/// Pods (all namespaces).
pub const PODS: Resource = Resource::new("", "v1", "Pod", "pods");
/// DaemonSets (all namespaces).
pub const DAEMON_SETS: Resource = Resource::new("apps", "v1", "DaemonSet", "daemonsets");
/// PersistentVolumeClaims (all namespaces).
pub const PVCS: Resource =
    Resource::new("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims");
/// PersistentVolumes.
pub const PVS: Resource = Resource::new("", "v1", "PersistentVolume", "persistentvolumes");
/// StorageClasses.
pub const STORAGE_CLASSES: Resource =
    Resource::new("storage.k8s.io", "v1", "StorageClass", "storageclasses");
/// PodDisruptionBudgets (all namespaces; `simulate --disrupt` checks evictions against them).
pub const PDBS: Resource = Resource::new(
    "policy",
    "v1",
    "PodDisruptionBudget",
    "poddisruptionbudgets",
);

/// Every resource `simulate --from-cluster` may list, for its RBAC documentation.
pub const ALL: &[Resource] = &[
    NODE_POOLS_V1,
    NODE_CLAIMS_V1,
    NODE_CLASSES_V1,
    NODES,
    PODS,
    DAEMON_SETS,
    PVCS,
    PVS,
    STORAGE_CLASSES,
    PDBS,
];

/// Why the snapshot could not be read. Each message is one paragraph saying what failed and how
/// to fix it.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The API server did not answer.
    #[error(
        "cannot reach the Kubernetes API server at {server} while listing {resource}: {detail}. \
         Check that the kubeconfig context points at the right cluster (--context), that this \
         machine can reach its endpoint (VPN, private endpoint, security groups), and that the \
         cluster is running"
    )]
    Unreachable {
        /// The server URL.
        server: String,
        /// What was being listed.
        resource: String,
        /// The transport error.
        detail: String,
    },
    /// 401: the credentials were rejected.
    #[error(
        "the API server at {server} rejected the credentials (401 Unauthorized) while listing \
         {resource}: {detail}. Refresh them, e.g. `aws eks update-kubeconfig --name <cluster>`, \
         and check that the AWS identity the kubeconfig uses is mapped in the cluster (access \
         entry or aws-auth)"
    )]
    Unauthorized {
        /// The server URL.
        server: String,
        /// What was being listed.
        resource: String,
        /// The server's message.
        detail: String,
    },
    /// The kubeconfig's credentials could not be obtained (exec plugin, token file, ...).
    #[error(
        "cannot get credentials for the API server at {server} from the kubeconfig: {detail}. \
         If the kubeconfig runs `aws eks get-token`, check that the AWS CLI works for that \
         profile (e.g. `aws sso login`, `aws sts get-caller-identity`), or rewrite it with \
         `aws eks update-kubeconfig --name <cluster>`"
    )]
    Credentials {
        /// The server URL.
        server: String,
        /// The auth error.
        detail: String,
    },
    /// 403: RBAC forbids a list.
    #[error(
        "cannot list {resource} at cluster scope: forbidden ({detail}). `simulate \
         --from-cluster` only reads; grant the identity `list` on {resource} (and on the other \
         resources in the README's read-only ClusterRole for simulate), e.g. `kubectl create \
         clusterrole karpenter-simulate --verb=list --resource={resource}` and bind it"
    )]
    Forbidden {
        /// `plural.group`.
        resource: String,
        /// The server's message.
        detail: String,
    },
    /// Neither `karpenter.sh/v1` nor `karpenter.sh/v1beta1` NodePools are served.
    #[error(
        "no NodePools found: is Karpenter installed? The cluster at {server} serves neither \
         karpenter.sh/v1 nor karpenter.sh/v1beta1 nodepools (the Karpenter CRDs are missing); \
         install Karpenter, or check that --context selects the right cluster"
    )]
    NoKarpenter {
        /// The server URL.
        server: String,
    },
    /// Any other API error.
    #[error("listing {resource} failed: {detail}")]
    Api {
        /// What was being listed.
        resource: String,
        /// The server's message, code and reason.
        detail: String,
    },
}

/// What was read from the cluster: the pure model's snapshot type.
pub use karpenter_state::Snapshot as ClusterSnapshot;

/// Lists one resource; `Ok(None)` when it is not served (404).
async fn list(
    client: &kube::Client,
    server: &str,
    r: Resource,
) -> Result<Option<Vec<Value>>, SnapshotError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &r.api_resource());
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = match api.list(&lp).await {
            Ok(page) => page,
            Err(kube::Error::Api(s)) if s.is_not_found() => return Ok(None),
            Err(e) => return Err(classify(e, server, r)),
        };
        for obj in &page.items {
            let mut v = serde_json::to_value(obj).map_err(|e| SnapshotError::Api {
                resource: r.qualified(),
                detail: format!("an item could not be encoded: {e}"),
            })?;
            if let Some(m) = v.as_object_mut() {
                m.insert("apiVersion".into(), Value::String(r.api_version()));
                m.insert("kind".into(), Value::String(r.kind.to_string()));
            }
            out.push(v);
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(Some(out));
        }
    }
}

fn classify(e: kube::Error, server: &str, r: Resource) -> SnapshotError {
    let resource = r.qualified();
    match e {
        kube::Error::Api(s) if s.code == 401 => SnapshotError::Unauthorized {
            server: server.to_string(),
            resource,
            detail: s.message,
        },
        kube::Error::Api(s) if s.is_forbidden() => SnapshotError::Forbidden {
            resource,
            detail: s.message,
        },
        kube::Error::Api(s) => SnapshotError::Api {
            resource,
            detail: format!("{} (HTTP {} {})", s.message, s.code, s.reason),
        },
        kube::Error::Auth(e) => SnapshotError::Credentials {
            server: server.to_string(),
            detail: e.to_string(),
        },
        other => SnapshotError::Unreachable {
            server: server.to_string(),
            resource,
            detail: error_chain(&other),
        },
    }
}

/// Builds the client for `config`; credential failures (an exec plugin that fails) become
/// [`SnapshotError::Credentials`].
pub fn client(config: kube::Config) -> Result<kube::Client, SnapshotError> {
    let server = config.cluster_url.to_string();
    kube::Client::try_from(config).map_err(|e| match e {
        kube::Error::Auth(a) => SnapshotError::Credentials {
            server,
            detail: a.to_string(),
        },
        other => SnapshotError::Unreachable {
            server,
            resource: "anything (building the client)".to_string(),
            detail: error_chain(&other),
        },
    })
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// A listed resource that must be served.
async fn list_required(
    client: &kube::Client,
    server: &str,
    r: Resource,
) -> Result<Vec<Value>, SnapshotError> {
    list(client, server, r)
        .await?
        .ok_or_else(|| SnapshotError::Api {
            resource: r.qualified(),
            detail: format!("the server does not serve {} (404)", r.api_version()),
        })
}

/// The first served version of a resource, `None` when none is.
async fn list_first_served(
    client: &kube::Client,
    server: &str,
    versions: &[Resource],
) -> Result<Option<(Resource, Vec<Value>)>, SnapshotError> {
    for &r in versions {
        if let Some(items) = list(client, server, r).await? {
            return Ok(Some((r, items)));
        }
    }
    Ok(None)
}

/// Reads the snapshot. `server` (the API server URL) is only used in messages.
///
/// NodePools are read first (v1, else v1beta1), so a cluster without Karpenter fails before
/// anything else is listed; the rest is listed concurrently.
pub async fn read(client: &kube::Client, server: &str) -> Result<ClusterSnapshot, SnapshotError> {
    let Some((pool_res, node_pools)) =
        list_first_served(client, server, &[NODE_POOLS_V1, NODE_POOLS_V1BETA1]).await?
    else {
        return Err(SnapshotError::NoKarpenter {
            server: server.to_string(),
        });
    };
    let claim_res = if pool_res == NODE_POOLS_V1 {
        NODE_CLAIMS_V1
    } else {
        NODE_CLAIMS_V1BETA1
    };
    let (classes, claims, nodes, pods, daemon_sets, pvcs, pvs, scs, pdbs) = futures::try_join!(
        list_first_served(client, server, &[NODE_CLASSES_V1, NODE_CLASSES_V1BETA1]),
        list(client, server, claim_res),
        list_required(client, server, NODES),
        list_required(client, server, PODS),
        list_required(client, server, DAEMON_SETS),
        list_required(client, server, PVCS),
        list_required(client, server, PVS),
        list_required(client, server, STORAGE_CLASSES),
        list_required(client, server, PDBS),
    )?;
    Ok(ClusterSnapshot {
        node_pools,
        node_pool_version: pool_res.api_version(),
        node_classes: classes.map(|(_, v)| v).unwrap_or_default(),
        nodes,
        node_claims: claims.unwrap_or_default(),
        pods,
        daemon_sets,
        persistent_volume_claims: pvcs,
        persistent_volumes: pvs,
        storage_classes: scs,
        pod_disruption_budgets: pdbs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_follow_rbac() {
        assert_eq!(PVCS.qualified(), "persistentvolumeclaims");
        assert_eq!(NODE_POOLS_V1.qualified(), "nodepools.karpenter.sh");
        assert_eq!(STORAGE_CLASSES.api_version(), "storage.k8s.io/v1");
        assert_eq!(NODES.api_version(), "v1");
        assert_eq!(PDBS.qualified(), "poddisruptionbudgets.policy");
        assert_eq!(PDBS.api_version(), "policy/v1");
    }

    #[test]
    fn forbidden_names_the_resource_and_verb() {
        let s =
            kube::core::Status::failure("pods is forbidden: User \"x\" cannot list", "Forbidden")
                .with_code(403);
        let e = classify(kube::Error::Api(s.boxed()), "https://k", PODS);
        let msg = e.to_string();
        assert!(
            msg.starts_with("cannot list pods at cluster scope: forbidden"),
            "{msg}"
        );
        assert!(msg.contains("--verb=list --resource=pods"), "{msg}");
    }
}
