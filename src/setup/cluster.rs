//! The steps the template leaves to the user, decided from the cluster's facts (eks:DescribeCluster,
//! its add-ons): the controller role and its binding (EKS Pod Identity or IRSA), node join
//! authorization (an EKS access entry), `karpenter.sh/discovery` tags, the EC2 spot service-linked role.
//! Pure.
use serde::Serialize;

use super::SetupError;

/// What eks:DescribeCluster (plus ListAddons) says about the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ClusterFacts {
    /// Cluster name.
    pub name: String,
    /// API server endpoint.
    pub endpoint: Option<String>,
    /// OIDC issuer URL (`https://oidc.eks.<region>.amazonaws.com/id/<ID>`).
    pub oidc_issuer: Option<String>,
    /// VPC id.
    pub vpc_id: Option<String>,
    /// The cluster's subnets.
    pub subnet_ids: Vec<String>,
    /// The cluster security group and the additional security groups.
    pub security_group_ids: Vec<String>,
    /// `accessConfig.authenticationMode` (`API`, `API_AND_CONFIG_MAP`, `CONFIG_MAP`), if reported.
    pub authentication_mode: Option<String>,
    /// Installed add-on names.
    pub addons: Vec<String>,
}

impl ClusterFacts {
    /// Whether the authentication mode admits EKS access entries (`API` or `API_AND_CONFIG_MAP`).
    pub fn allows_access_entries(&self) -> bool {
        matches!(
            self.authentication_mode.as_deref(),
            Some("API") | Some("API_AND_CONFIG_MAP")
        )
    }

    /// The subnets and security groups to tag `karpenter.sh/discovery`, sorted, without repeats.
    pub fn discovery_resources(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .subnet_ids
            .iter()
            .chain(&self.security_group_ids)
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// How the controller's role is bound to its service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityMode {
    /// EKS Pod Identity association.
    PodIdentity,
    /// IAM roles for service accounts (OIDC trust).
    Irsa,
    /// No controller role.
    None,
}

/// How nodes are authorized to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeAccessMode {
    /// EKS access entry of type `EC2_LINUX` for the node role.
    AccessEntry,
    /// `mapRoles` in kube-system/aws-auth.
    AwsAuth,
    /// Nothing.
    None,
}

/// What the user asked for; `None` means "detect".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtrasRequest {
    /// `--identity`.
    pub identity: Option<IdentityMode>,
    /// `--node-access`.
    pub node_access: Option<NodeAccessMode>,
    /// `--tag-discovery`.
    pub tag_discovery: bool,
    /// `--spot-service-linked-role`.
    pub spot_service_linked_role: bool,
    /// Karpenter's namespace (`kube-system` in the getting-started guide).
    pub namespace: String,
    /// Karpenter's service account (`karpenter`).
    pub service_account: String,
}

impl Default for ExtrasRequest {
    fn default() -> Self {
        Self {
            identity: None,
            node_access: None,
            tag_discovery: true,
            spot_service_linked_role: true,
            namespace: "kube-system".into(),
            service_account: "karpenter".into(),
        }
    }
}

/// The decided extra steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extras {
    /// Controller role binding.
    pub identity: IdentityMode,
    /// Node join authorization.
    pub node_access: NodeAccessMode,
    /// Subnet and security group ids to tag `karpenter.sh/discovery=<cluster>` (empty: none).
    pub discovery_resources: Vec<String>,
    /// Create the spot service-linked role if missing.
    pub spot_service_linked_role: bool,
    /// Karpenter's namespace.
    pub namespace: String,
    /// Karpenter's service account.
    pub service_account: String,
    /// The OIDC issuer (for IRSA).
    pub oidc_issuer: Option<String>,
}

impl Extras {
    /// No extra steps (the template's resources only).
    pub fn none() -> Self {
        Self {
            identity: IdentityMode::None,
            node_access: NodeAccessMode::None,
            discovery_resources: vec![],
            spot_service_linked_role: false,
            namespace: "kube-system".into(),
            service_account: "karpenter".into(),
            oidc_issuer: None,
        }
    }
}

/// What teardown should look for: every extra step setup could have taken for this cluster.
pub fn teardown_extras(
    facts: Option<&ClusterFacts>,
    namespace: &str,
    service_account: &str,
) -> Extras {
    let mut extras = Extras {
        namespace: namespace.to_string(),
        service_account: service_account.to_string(),
        ..Extras::none()
    };
    if let Some(f) = facts {
        extras.identity = IdentityMode::PodIdentity;
        extras.node_access = if f.allows_access_entries() {
            NodeAccessMode::AccessEntry
        } else {
            NodeAccessMode::AwsAuth
        };
        extras.discovery_resources = f.discovery_resources();
    }
    extras
}

const POD_IDENTITY_ADDON: &str = "eks-pod-identity-agent";

/// Decide the extra steps from the request and the cluster's facts (`None`: the cluster does not
/// exist yet). Returns the decision and notes for the user about anything detected or skipped.
pub fn decide(
    cluster: &str,
    facts: Option<&ClusterFacts>,
    req: &ExtrasRequest,
) -> Result<(Extras, Vec<String>), SetupError> {
    let mut notes = vec![];
    let mut extras = Extras {
        spot_service_linked_role: req.spot_service_linked_role,
        namespace: req.namespace.clone(),
        service_account: req.service_account.clone(),
        ..Extras::none()
    };
    let Some(facts) = facts else {
        let needs_cluster = matches!(
            req.identity,
            Some(IdentityMode::PodIdentity | IdentityMode::Irsa)
        ) || matches!(
            req.node_access,
            Some(NodeAccessMode::AccessEntry | NodeAccessMode::AwsAuth)
        );
        if needs_cluster {
            return Err(SetupError::ClusterNotFound {
                cluster: cluster.to_string(),
            });
        }
        notes.push(format!(
            "EKS cluster {cluster} not found: skipped the controller role, node access and discovery \
             tags; re-run setup after creating the cluster"
        ));
        return Ok((extras, notes));
    };

    let has_agent = facts.addons.iter().any(|a| a == POD_IDENTITY_ADDON);
    extras.identity = match req.identity {
        Some(IdentityMode::PodIdentity) => {
            if !has_agent {
                notes.push(format!(
                    "the {POD_IDENTITY_ADDON} add-on is not installed on {cluster}: install it \
                     (`aws eks create-addon --cluster-name {cluster} --addon-name {POD_IDENTITY_ADDON}`) \
                     or the controller cannot use its role"
                ));
            }
            IdentityMode::PodIdentity
        }
        Some(IdentityMode::Irsa) => {
            if facts.oidc_issuer.is_none() {
                return Err(SetupError::Unsupported {
                    what: format!("--identity irsa: cluster {cluster} has no OIDC issuer"),
                    hint: "use --identity pod-identity".into(),
                });
            }
            IdentityMode::Irsa
        }
        Some(IdentityMode::None) => IdentityMode::None,
        None if has_agent => {
            notes.push(format!(
                "identity: EKS Pod Identity ({POD_IDENTITY_ADDON} is installed)"
            ));
            IdentityMode::PodIdentity
        }
        None if facts.oidc_issuer.is_some() => {
            notes.push(format!(
                "identity: IRSA ({POD_IDENTITY_ADDON} is not installed; the cluster has an OIDC issuer)"
            ));
            IdentityMode::Irsa
        }
        None => {
            notes.push(
                "identity: none (no Pod Identity agent and no OIDC issuer); pass --identity to choose"
                    .into(),
            );
            IdentityMode::None
        }
    };
    if extras.identity == IdentityMode::Irsa {
        extras.oidc_issuer = facts.oidc_issuer.clone();
    }

    let api_auth = facts.allows_access_entries();
    extras.node_access = match req.node_access {
        Some(NodeAccessMode::AccessEntry) if !api_auth => {
            return Err(SetupError::Unsupported {
                what: format!(
                    "--node-access access-entry: cluster {cluster} uses authentication mode {}",
                    facts.authentication_mode.as_deref().unwrap_or("CONFIG_MAP")
                ),
                hint: format!(
                "switch it with `aws eks update-cluster-config --name {cluster} --access-config \
                     authenticationMode=API_AND_CONFIG_MAP`, or use --node-access aws-auth"
            ),
            })
        }
        Some(mode) => mode,
        None if api_auth => NodeAccessMode::AccessEntry,
        None => {
            notes.push(format!(
                "node access: aws-auth ConfigMap (cluster {cluster} has authentication mode {}, \
                 without access entries)",
                facts.authentication_mode.as_deref().unwrap_or("CONFIG_MAP")
            ));
            NodeAccessMode::AwsAuth
        }
    };

    if req.tag_discovery {
        extras.discovery_resources = facts.discovery_resources();
    }
    Ok((extras, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ClusterFacts {
        ClusterFacts {
            name: "demo".into(),
            oidc_issuer: Some("https://oidc.eks.us-west-2.amazonaws.com/id/ABC".into()),
            subnet_ids: vec!["subnet-b".into(), "subnet-a".into()],
            security_group_ids: vec!["sg-1".into(), "subnet-a".into()],
            authentication_mode: Some("API_AND_CONFIG_MAP".into()),
            ..Default::default()
        }
    }

    #[test]
    fn detects_pod_identity_then_irsa_then_none() {
        let req = ExtrasRequest::default();
        let mut f = facts();
        f.addons = vec!["vpc-cni".into(), "eks-pod-identity-agent".into()];
        let (e, _) = decide("demo", Some(&f), &req).unwrap();
        assert_eq!(e.identity, IdentityMode::PodIdentity);
        assert_eq!(e.oidc_issuer, None);
        let (e, _) = decide("demo", Some(&facts()), &req).unwrap();
        assert_eq!(e.identity, IdentityMode::Irsa);
        assert!(e.oidc_issuer.is_some());
        let mut f = facts();
        f.oidc_issuer = None;
        let (e, notes) = decide("demo", Some(&f), &req).unwrap();
        assert_eq!(e.identity, IdentityMode::None);
        assert!(notes.iter().any(|n| n.contains("--identity")));
    }

    #[test]
    fn node_access_follows_the_authentication_mode() {
        let req = ExtrasRequest::default();
        let (e, _) = decide("demo", Some(&facts()), &req).unwrap();
        assert_eq!(e.node_access, NodeAccessMode::AccessEntry);
        let mut f = facts();
        f.authentication_mode = None;
        let (e, notes) = decide("demo", Some(&f), &req).unwrap();
        assert_eq!(e.node_access, NodeAccessMode::AwsAuth);
        assert!(notes.iter().any(|n| n.contains("aws-auth")));
        let explicit = ExtrasRequest {
            node_access: Some(NodeAccessMode::AccessEntry),
            ..ExtrasRequest::default()
        };
        let err = decide("demo", Some(&f), &explicit).unwrap_err().to_string();
        assert!(
            err.contains("authenticationMode=API_AND_CONFIG_MAP"),
            "{err}"
        );
    }

    #[test]
    fn discovery_resources_are_sorted_and_unique() {
        let (e, _) = decide("demo", Some(&facts()), &ExtrasRequest::default()).unwrap();
        assert_eq!(e.discovery_resources, ["sg-1", "subnet-a", "subnet-b"]);
        let off = ExtrasRequest {
            tag_discovery: false,
            ..ExtrasRequest::default()
        };
        assert!(decide("demo", Some(&facts()), &off)
            .unwrap()
            .0
            .discovery_resources
            .is_empty());
    }

    #[test]
    fn a_missing_cluster_skips_detected_steps_and_rejects_explicit_ones() {
        let (e, notes) = decide("demo", None, &ExtrasRequest::default()).unwrap();
        assert_eq!(e.identity, IdentityMode::None);
        assert!(e.discovery_resources.is_empty());
        assert!(e.spot_service_linked_role);
        assert!(notes[0].contains("not found"));
        let explicit = ExtrasRequest {
            identity: Some(IdentityMode::Irsa),
            ..ExtrasRequest::default()
        };
        assert!(matches!(
            decide("demo", None, &explicit),
            Err(SetupError::ClusterNotFound { .. })
        ));
    }
}
