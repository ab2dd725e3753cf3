//! The `Live` port: read the account's current state for a cluster, and apply one operation.
//!
//! The AWS adapter ([`super::aws::AwsLive`]) implements it with IAM, SQS, EventBridge and EC2 calls;
//! tests wrap it to inject faults, or fake the parts moto does not emulate.
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use serde_json::Value;

use super::desired::{Desired, Tags, TargetSpec};
use super::SetupError;

/// What to read: the resources setup manages, or those plus the runtime leftovers teardown removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadScope {
    /// The resources in [`Desired`].
    Setup,
    /// The resources in [`Desired`] plus Karpenter's launch templates and instance profiles for the cluster.
    Teardown,
}

/// An IAM role as it exists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveRole {
    /// Role name.
    pub name: String,
    /// Trust policy (parsed).
    pub trust: Value,
    /// Attached managed policy ARNs.
    pub attached_policy_arns: BTreeSet<String>,
    /// Names of inline policies.
    pub inline_policies: Vec<String>,
    /// Instance profiles the role is in.
    pub instance_profiles: Vec<String>,
    /// Its tags.
    pub tags: Tags,
}

/// A customer managed policy as it exists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LivePolicy {
    /// Policy name.
    pub name: String,
    /// Policy ARN.
    pub arn: String,
    /// Default version's document (parsed).
    pub document: Value,
    /// Non-default version ids, oldest first.
    pub other_versions: Vec<String>,
    /// Roles it is attached to.
    pub attached_roles: Vec<String>,
    /// Its tags.
    pub tags: Tags,
}

/// An instance profile as it exists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveInstanceProfile {
    /// Name.
    pub name: String,
    /// IAM path.
    pub path: String,
    /// Role names in it.
    pub roles: Vec<String>,
    /// Its tags (read for the profile setup manages; not for Karpenter's own profiles).
    pub tags: Tags,
}

/// The interruption queue as it exists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveQueue {
    /// Queue URL.
    pub url: String,
    /// Attributes other than `Policy`.
    pub attributes: BTreeMap<String, String>,
    /// The queue policy, if set.
    pub policy: Option<Value>,
    /// Its tags.
    pub tags: Tags,
}

/// An EventBridge rule as it exists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveRule {
    /// Rule name.
    pub name: String,
    /// Event pattern (parsed), if the rule has one.
    pub pattern: Option<Value>,
    /// `ENABLED` / `DISABLED`.
    pub state: String,
    /// Targets.
    pub targets: Vec<TargetSpec>,
    /// Its tags.
    pub tags: Tags,
}

/// A launch template Karpenter created for the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveLaunchTemplate {
    /// Launch template id.
    pub id: String,
    /// Launch template name.
    pub name: String,
}

/// An EC2 instance tagged for the cluster that is not terminated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveInstance {
    /// Instance id.
    pub id: String,
    /// `pending`, `running`, `stopping` or `stopped`.
    pub state: String,
    /// The name of its instance profile, if it has one.
    pub instance_profile: Option<String>,
}

/// The account's state for one cluster, as far as setup cares. Absent resources are absent from the maps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveState {
    /// Roles by name.
    pub roles: BTreeMap<String, LiveRole>,
    /// Customer managed policies by name.
    pub policies: BTreeMap<String, LivePolicy>,
    /// Instance profiles setup manages, by name.
    pub instance_profiles: BTreeMap<String, LiveInstanceProfile>,
    /// The interruption queue.
    pub queue: Option<LiveQueue>,
    /// Rules by name.
    pub rules: BTreeMap<String, LiveRule>,
    /// (Teardown) launch templates tagged for the cluster.
    pub launch_templates: Vec<LiveLaunchTemplate>,
    /// (Teardown) instance profiles Karpenter created for the cluster (path `/karpenter/<region>/<cluster>/`).
    pub karpenter_instance_profiles: Vec<LiveInstanceProfile>,
    /// IAM OIDC provider ARNs (read when IRSA is desired).
    pub oidc_providers: BTreeSet<String>,
    /// The tags of the desired OIDC provider, when it exists.
    pub oidc_provider_tags: Tags,
    /// (Teardown) EC2 instances tagged for the cluster that are not terminated: their instance
    /// profile is in use.
    pub cluster_instances: Vec<LiveInstance>,
    /// Whether the spot service-linked role exists (`None`: not read).
    pub spot_service_linked_role: Option<bool>,
    /// Current `karpenter.sh/discovery` value of each desired subnet / security group (`None`: untagged).
    pub discovery_tags: BTreeMap<String, Option<String>>,
    /// EKS state (read through [`Live::read_eks`]).
    pub eks: EksState,
}

/// The EKS parts of the live state: Pod Identity associations for Karpenter's service account and
/// the node role's access entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EksState {
    /// Associations for the desired namespace/service account.
    pub pod_identity_associations: Vec<LivePodIdentityAssociation>,
    /// The node role's access entry.
    pub access_entry: Option<LiveAccessEntry>,
    /// kube-system/aws-auth (read only when aws-auth node access is desired).
    pub aws_auth: Option<AwsAuthState>,
}

/// The aws-auth ConfigMap as it exists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsAuthState {
    /// Whether the ConfigMap exists.
    pub exists: bool,
    /// Its `mapRoles` text.
    pub map_roles: Option<String>,
}

/// An EKS Pod Identity association.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LivePodIdentityAssociation {
    /// Association id.
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// Service account.
    pub service_account: String,
    /// Role ARN.
    pub role_arn: String,
}

/// An EKS access entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveAccessEntry {
    /// Principal ARN.
    pub principal_arn: String,
    /// Type (`EC2_LINUX`, `STANDARD`, ...).
    pub kind: String,
}

/// One AWS change. Each is a single API call (or a short fixed sequence for deletes).
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `iam:CreateRole`.
    CreateRole {
        /// Role name.
        name: String,
        /// IAM path.
        path: String,
        /// Trust policy.
        trust: Value,
        /// Tags.
        tags: Tags,
    },
    /// `iam:UpdateAssumeRolePolicy`.
    UpdateTrust {
        /// Role name.
        role: String,
        /// Trust policy.
        trust: Value,
    },
    /// `iam:AttachRolePolicy`.
    AttachRolePolicy {
        /// Role name.
        role: String,
        /// Policy ARN.
        policy_arn: String,
    },
    /// `iam:DetachRolePolicy`.
    DetachRolePolicy {
        /// Role name.
        role: String,
        /// Policy ARN.
        policy_arn: String,
    },
    /// `iam:DeleteRolePolicy`.
    DeleteRoleInlinePolicy {
        /// Role name.
        role: String,
        /// Inline policy name.
        policy: String,
    },
    /// `iam:DeleteRole`.
    DeleteRole {
        /// Role name.
        name: String,
    },
    /// `iam:CreatePolicy`.
    CreatePolicy {
        /// Policy name.
        name: String,
        /// IAM path.
        path: String,
        /// Document.
        document: Value,
        /// Tags.
        tags: Tags,
    },
    /// `iam:DeletePolicyVersion` (IAM keeps at most five versions).
    DeletePolicyVersion {
        /// Policy ARN.
        arn: String,
        /// Version id.
        version: String,
    },
    /// `iam:CreatePolicyVersion` with `SetAsDefault`.
    CreatePolicyVersion {
        /// Policy ARN.
        arn: String,
        /// Document.
        document: Value,
    },
    /// `iam:DeletePolicy`.
    DeletePolicy {
        /// Policy ARN.
        arn: String,
    },
    /// `iam:CreateInstanceProfile`.
    CreateInstanceProfile {
        /// Name.
        name: String,
        /// IAM path.
        path: String,
        /// Tags.
        tags: Tags,
    },
    /// `iam:AddRoleToInstanceProfile`.
    AddRoleToInstanceProfile {
        /// Profile name.
        profile: String,
        /// Role name.
        role: String,
    },
    /// `iam:RemoveRoleFromInstanceProfile`.
    RemoveRoleFromInstanceProfile {
        /// Profile name.
        profile: String,
        /// Role name.
        role: String,
    },
    /// `iam:DeleteInstanceProfile`.
    DeleteInstanceProfile {
        /// Profile name.
        name: String,
    },
    /// `sqs:CreateQueue`.
    CreateQueue {
        /// Queue name.
        name: String,
        /// Attributes (may include `Policy` as a JSON string).
        attributes: BTreeMap<String, String>,
        /// Tags.
        tags: Tags,
    },
    /// `sqs:SetQueueAttributes`.
    SetQueueAttributes {
        /// Queue name.
        name: String,
        /// Attributes to set.
        attributes: BTreeMap<String, String>,
    },
    /// `sqs:DeleteQueue`.
    DeleteQueue {
        /// Queue name.
        name: String,
    },
    /// `events:PutRule` (default bus, enabled).
    PutRule {
        /// Rule name.
        name: String,
        /// Event pattern.
        pattern: Value,
        /// Description.
        description: String,
        /// Tags, given when the rule is created (EventBridge ignores them on an update).
        tags: Tags,
    },
    /// `events:PutTargets`.
    PutTargets {
        /// Rule name.
        rule: String,
        /// Targets.
        targets: Vec<TargetSpec>,
    },
    /// `events:RemoveTargets`.
    RemoveTargets {
        /// Rule name.
        rule: String,
        /// Target ids.
        ids: Vec<String>,
    },
    /// `events:DeleteRule`.
    DeleteRule {
        /// Rule name.
        name: String,
    },
    /// `ec2:DeleteLaunchTemplate`.
    DeleteLaunchTemplate {
        /// Launch template id.
        id: String,
        /// Name (for messages).
        name: String,
    },
    /// `iam:CreateOpenIDConnectProvider` (client id `sts.amazonaws.com`).
    CreateOidcProvider {
        /// Issuer URL without the scheme.
        issuer: String,
        /// Tags.
        tags: Tags,
    },
    /// Tag an existing resource (`iam:TagRole`, `iam:TagPolicy`, `iam:TagInstanceProfile`,
    /// `iam:TagOpenIDConnectProvider`, `sqs:TagQueue`, `events:TagResource`): `--adopt`.
    Tag {
        /// What is tagged.
        resource: TagTarget,
        /// Tags added (others stay).
        tags: Tags,
    },
    /// `iam:CreateServiceLinkedRole`.
    CreateServiceLinkedRole {
        /// AWS service name, e.g. `spot.amazonaws.com`.
        service: String,
    },
    /// `ec2:CreateTags`.
    CreateTags {
        /// Resource ids.
        resources: Vec<String>,
        /// Tag key.
        key: String,
        /// Tag value.
        value: String,
    },
    /// `ec2:DeleteTags` (only where the value matches).
    DeleteTags {
        /// Resource ids.
        resources: Vec<String>,
        /// Tag key.
        key: String,
        /// Tag value.
        value: String,
    },
    /// `eks:CreatePodIdentityAssociation`.
    CreatePodIdentityAssociation {
        /// Cluster.
        cluster: String,
        /// Namespace.
        namespace: String,
        /// Service account.
        service_account: String,
        /// Role ARN.
        role_arn: String,
    },
    /// `eks:UpdatePodIdentityAssociation`.
    UpdatePodIdentityAssociation {
        /// Cluster.
        cluster: String,
        /// Association id.
        id: String,
        /// Role ARN.
        role_arn: String,
    },
    /// `eks:DeletePodIdentityAssociation`.
    DeletePodIdentityAssociation {
        /// Cluster.
        cluster: String,
        /// Association id.
        id: String,
    },
    /// `eks:CreateAccessEntry`.
    CreateAccessEntry {
        /// Cluster.
        cluster: String,
        /// Principal ARN.
        principal_arn: String,
        /// Type.
        kind: String,
    },
    /// `eks:DeleteAccessEntry`.
    DeleteAccessEntry {
        /// Cluster.
        cluster: String,
        /// Principal ARN.
        principal_arn: String,
    },
    /// Map (or unmap) the node role in `mapRoles` of kube-system/aws-auth (created if missing),
    /// through Kubernetes. The edit is redone on the ConfigMap as it is at write time, so entries
    /// others add between plan and apply are kept.
    WriteAwsAuth {
        /// The node role's ARN.
        role_arn: String,
        /// `true`: add (or fix) its node entry; `false`: remove it.
        map: bool,
    },
}

/// A resource [`Operation::Tag`] can tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagTarget {
    /// IAM role by name.
    Role(String),
    /// Customer managed policy by ARN.
    Policy(String),
    /// Instance profile by name.
    InstanceProfile(String),
    /// IAM OIDC provider by ARN.
    OidcProvider(String),
    /// SQS queue by name.
    Queue(String),
    /// EventBridge rule: name and ARN.
    Rule {
        /// Rule name.
        name: String,
        /// Rule ARN.
        arn: String,
    },
}

impl TagTarget {
    fn api_action(&self) -> &'static str {
        match self {
            Self::Role(_) => "iam:TagRole",
            Self::Policy(_) => "iam:TagPolicy",
            Self::InstanceProfile(_) => "iam:TagInstanceProfile",
            Self::OidcProvider(_) => "iam:TagOpenIDConnectProvider",
            Self::Queue(_) => "sqs:TagQueue",
            Self::Rule { .. } => "events:TagResource",
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Role(n) | Self::InstanceProfile(n) | Self::Queue(n) => n,
            Self::Policy(arn) | Self::OidcProvider(arn) => short_arn(arn),
            Self::Rule { name, .. } => name,
        }
    }
}

impl Operation {
    /// The AWS API action this operation calls (for progress output and AccessDenied messages).
    pub fn api_action(&self) -> &'static str {
        match self {
            Self::CreateRole { .. } => "iam:CreateRole",
            Self::UpdateTrust { .. } => "iam:UpdateAssumeRolePolicy",
            Self::AttachRolePolicy { .. } => "iam:AttachRolePolicy",
            Self::DetachRolePolicy { .. } => "iam:DetachRolePolicy",
            Self::DeleteRoleInlinePolicy { .. } => "iam:DeleteRolePolicy",
            Self::DeleteRole { .. } => "iam:DeleteRole",
            Self::CreatePolicy { .. } => "iam:CreatePolicy",
            Self::DeletePolicyVersion { .. } => "iam:DeletePolicyVersion",
            Self::CreatePolicyVersion { .. } => "iam:CreatePolicyVersion",
            Self::DeletePolicy { .. } => "iam:DeletePolicy",
            Self::CreateInstanceProfile { .. } => "iam:CreateInstanceProfile",
            Self::AddRoleToInstanceProfile { .. } => "iam:AddRoleToInstanceProfile",
            Self::RemoveRoleFromInstanceProfile { .. } => "iam:RemoveRoleFromInstanceProfile",
            Self::DeleteInstanceProfile { .. } => "iam:DeleteInstanceProfile",
            Self::CreateQueue { .. } => "sqs:CreateQueue",
            Self::SetQueueAttributes { .. } => "sqs:SetQueueAttributes",
            Self::DeleteQueue { .. } => "sqs:DeleteQueue",
            Self::PutRule { .. } => "events:PutRule",
            Self::PutTargets { .. } => "events:PutTargets",
            Self::RemoveTargets { .. } => "events:RemoveTargets",
            Self::DeleteRule { .. } => "events:DeleteRule",
            Self::DeleteLaunchTemplate { .. } => "ec2:DeleteLaunchTemplate",
            Self::CreateOidcProvider { .. } => "iam:CreateOpenIDConnectProvider",
            Self::CreateServiceLinkedRole { .. } => "iam:CreateServiceLinkedRole",
            Self::CreateTags { .. } => "ec2:CreateTags",
            Self::DeleteTags { .. } => "ec2:DeleteTags",
            Self::CreatePodIdentityAssociation { .. } => "eks:CreatePodIdentityAssociation",
            Self::UpdatePodIdentityAssociation { .. } => "eks:UpdatePodIdentityAssociation",
            Self::DeletePodIdentityAssociation { .. } => "eks:DeletePodIdentityAssociation",
            Self::CreateAccessEntry { .. } => "eks:CreateAccessEntry",
            Self::DeleteAccessEntry { .. } => "eks:DeleteAccessEntry",
            Self::WriteAwsAuth { .. } => "kubernetes:update configmaps/aws-auth",
            Self::Tag { resource, .. } => resource.api_action(),
        }
    }

    /// A one-line description for progress output.
    pub fn describe(&self) -> String {
        let what = match self {
            Self::CreateRole { name, .. } | Self::DeleteRole { name } => name.clone(),
            Self::UpdateTrust { role, .. } => role.clone(),
            Self::AttachRolePolicy { role, policy_arn }
            | Self::DetachRolePolicy { role, policy_arn } => {
                format!("{role} {}", short_arn(policy_arn))
            }
            Self::DeleteRoleInlinePolicy { role, policy } => format!("{role} {policy}"),
            Self::CreatePolicy { name, .. } => name.clone(),
            Self::DeletePolicyVersion { arn, version } => format!("{} {version}", short_arn(arn)),
            Self::CreatePolicyVersion { arn, .. } | Self::DeletePolicy { arn } => {
                short_arn(arn).to_string()
            }
            Self::CreateInstanceProfile { name, .. } | Self::DeleteInstanceProfile { name } => {
                name.clone()
            }
            Self::AddRoleToInstanceProfile { profile, role }
            | Self::RemoveRoleFromInstanceProfile { profile, role } => format!("{profile} {role}"),
            Self::CreateQueue { name, .. }
            | Self::SetQueueAttributes { name, .. }
            | Self::DeleteQueue { name } => name.clone(),
            Self::PutRule { name, .. } | Self::DeleteRule { name } => name.clone(),
            Self::PutTargets { rule, .. } | Self::RemoveTargets { rule, .. } => rule.clone(),
            Self::DeleteLaunchTemplate { id, name } => format!("{name} ({id})"),
            Self::CreateOidcProvider { issuer, .. } => issuer.clone(),
            Self::Tag { resource, tags } => format!(
                "{} {}",
                resource.name(),
                tags.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::CreateServiceLinkedRole { service } => service.clone(),
            Self::CreateTags {
                resources,
                key,
                value,
            }
            | Self::DeleteTags {
                resources,
                key,
                value,
            } => format!("{key}={value} on {}", resources.join(", ")),
            Self::CreatePodIdentityAssociation {
                namespace,
                service_account,
                ..
            } => format!("{namespace}/{service_account}"),
            Self::UpdatePodIdentityAssociation { id, .. }
            | Self::DeletePodIdentityAssociation { id, .. } => id.clone(),
            Self::CreateAccessEntry { principal_arn, .. }
            | Self::DeleteAccessEntry { principal_arn, .. } => short_arn(principal_arn).to_string(),
            Self::WriteAwsAuth { .. } => "kube-system/aws-auth mapRoles".to_string(),
        };
        format!("{} {what}", self.api_action())
    }
}

/// The last path segment of an ARN (`arn:aws:iam::1:role/R` → `R`).
pub(crate) fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Reads and changes the account. Implemented by the AWS adapter, and by test doubles.
pub trait Live {
    /// Read the current state of everything `desired` names (plus leftovers for [`ReadScope::Teardown`]).
    fn read(
        &self,
        desired: &Desired,
        scope: ReadScope,
    ) -> impl Future<Output = Result<LiveState, SetupError>> + Send;

    /// What eks:DescribeCluster (and ListAddons) says about the cluster; `None` if it does not exist.
    fn cluster(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<super::cluster::ClusterFacts>, SetupError>> + Send;

    /// Read the EKS state `desired` names (Pod Identity associations, the node access entry).
    fn read_eks(
        &self,
        desired: &Desired,
    ) -> impl Future<Output = Result<EksState, SetupError>> + Send;

    /// Apply one operation.
    fn apply(&self, op: &Operation) -> impl Future<Output = Result<(), SetupError>> + Send;
}
