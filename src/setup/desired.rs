//! The desired AWS state for one cluster: what deploying Karpenter's getting-started CloudFormation
//! template (v1.x) with `ClusterName=<C>` creates, with the template's `!Sub` substitution done here,
//! plus the node instance profile.
//!
//! Pure: cluster name, partition, region and account in; names, policy documents, queue attributes
//! and rules out. Transcribed from the upstream template (`cloudformation.yaml` at v1.14.1).
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::SetupError;

/// A validated EKS cluster name (1–100 characters, `[0-9A-Za-z][A-Za-z0-9_-]*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClusterName(String);

impl ClusterName {
    /// Validate `name` as EKS does, and check that the IAM role name it implies fits IAM's 64-character limit.
    pub fn new(name: &str) -> Result<Self, SetupError> {
        let invalid = |reason: &str| SetupError::InvalidClusterName {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let mut chars = name.chars();
        match chars.next() {
            None => return Err(invalid("it is empty")),
            Some(c) if !c.is_ascii_alphanumeric() => {
                return Err(invalid("it must start with a letter or a digit"))
            }
            _ => {}
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(invalid(&format!(
                "character {c:?} is not allowed (use letters, digits, '-' and '_')"
            )));
        }
        if name.len() > 100 {
            return Err(invalid("EKS cluster names are at most 100 characters"));
        }
        let role = format!("{NODE_ROLE_PREFIX}{name}");
        if role.len() > 64 {
            return Err(invalid(&format!(
                "the node role name {role:?} would exceed IAM's 64-character limit \
                 (cluster names for setup are at most {} characters)",
                64 - NODE_ROLE_PREFIX.len()
            )));
        }
        Ok(Self(name.to_string()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClusterName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const NODE_ROLE_PREFIX: &str = "KarpenterNodeRole-";

/// The AWS partition and its DNS suffix, as `${AWS::Partition}` and `${AWS::URLSuffix}` give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Partition {
    /// `aws`
    Aws,
    /// `aws-cn`
    AwsCn,
    /// `aws-us-gov`
    AwsUsGov,
}

impl Partition {
    /// The partition a region belongs to (`cn-*` → aws-cn, `us-gov-*` → aws-us-gov, else aws).
    pub fn for_region(region: &str) -> Self {
        if region.starts_with("cn-") {
            Self::AwsCn
        } else if region.starts_with("us-gov-") {
            Self::AwsUsGov
        } else {
            Self::Aws
        }
    }

    /// The partition as it appears in ARNs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::AwsCn => "aws-cn",
            Self::AwsUsGov => "aws-us-gov",
        }
    }

    /// `${AWS::URLSuffix}`.
    pub fn url_suffix(self) -> &'static str {
        match self {
            Self::AwsCn => "amazonaws.com.cn",
            _ => "amazonaws.com",
        }
    }
}

/// Where the desired state is evaluated: the template's parameter and pseudo parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `ClusterName`.
    pub cluster: ClusterName,
    /// `AWS::Partition`.
    pub partition: Partition,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account: String,
}

/// An IAM role: name, path, trust policy and attached managed policy ARNs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleSpec {
    /// Role name.
    pub name: String,
    /// IAM path.
    pub path: String,
    /// Trust (assume-role) policy.
    pub trust: Value,
    /// Managed policy ARNs to attach.
    pub managed_policy_arns: Vec<String>,
}

/// A customer managed IAM policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySpec {
    /// Policy name.
    pub name: String,
    /// IAM path.
    pub path: String,
    /// Policy ARN (`arn:<P>:iam::<A>:policy/<name>`).
    pub arn: String,
    /// Policy document.
    pub document: Value,
}

/// An instance profile holding one role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceProfileSpec {
    /// Instance profile name.
    pub name: String,
    /// IAM path.
    pub path: String,
    /// The role it holds.
    pub role: String,
}

/// The interruption queue and its queue policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSpec {
    /// Queue name (the cluster name).
    pub name: String,
    /// Queue ARN.
    pub arn: String,
    /// Queue attributes other than `Policy`, as SQS names them.
    pub attributes: BTreeMap<String, String>,
    /// The queue policy (`Id: EC2InterruptionPolicy`).
    pub policy: Value,
}

/// An EventBridge rule target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TargetSpec {
    /// Target id.
    pub id: String,
    /// Target ARN.
    pub arn: String,
}

/// An EventBridge rule on the default bus.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSpec {
    /// The template's logical id (`SpotInterruptionRule`, ...).
    pub logical_id: String,
    /// Rule name (CloudFormation generates one; setup uses a stable one).
    pub name: String,
    /// Event pattern.
    pub pattern: Value,
    /// Targets.
    pub targets: Vec<TargetSpec>,
}

/// Everything setup manages for one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// Cluster, partition, region, account.
    pub target: Target,
    /// `KarpenterNodeRole-<C>`.
    pub node_role: RoleSpec,
    /// `KarpenterNodeInstanceProfile-<C>` holding the node role.
    pub node_instance_profile: InstanceProfileSpec,
    /// The six controller policies, in template order.
    pub controller_policies: Vec<PolicySpec>,
    /// The interruption queue.
    pub queue: QueueSpec,
    /// The five interruption rules, in template order.
    pub rules: Vec<RuleSpec>,
    /// (Beyond the template) the controller role `<C>-karpenter` with the six policies attached.
    pub controller_role: Option<RoleSpec>,
    /// (IRSA) the cluster's IAM OIDC provider.
    pub oidc_provider: Option<OidcProviderSpec>,
    /// (Pod Identity) the association of Karpenter's service account with the controller role.
    pub pod_identity: Option<PodIdentitySpec>,
    /// The EKS access entry letting the node role join.
    pub access_entry: Option<AccessEntrySpec>,
    /// Subnets and security groups to tag `karpenter.sh/discovery=<C>`.
    pub discovery_resources: Vec<String>,
    /// Ensure the EC2 spot service-linked role exists.
    pub spot_service_linked_role: bool,
    /// (aws-auth node access) the role ARN to map in kube-system/aws-auth.
    pub aws_auth_role: Option<String>,
    /// Existing resources without the ownership tag to take over.
    pub adopt: AdoptScope,
}

/// An IAM OIDC identity provider for the cluster's issuer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OidcProviderSpec {
    /// Issuer URL without the scheme (`oidc.eks.<region>.amazonaws.com/id/<ID>`).
    pub issuer: String,
    /// Provider ARN (`arn:<P>:iam::<A>:oidc-provider/<issuer>`).
    pub arn: String,
}

/// An EKS Pod Identity association.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodIdentitySpec {
    /// Namespace.
    pub namespace: String,
    /// Service account.
    pub service_account: String,
    /// Role ARN.
    pub role_arn: String,
}

/// An EKS access entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessEntrySpec {
    /// Principal (the node role ARN).
    pub principal_arn: String,
    /// Entry type (`EC2_LINUX`).
    pub kind: String,
}

/// The tag setup puts on everything it creates (IAM roles, customer managed policies, instance
/// profiles, the OIDC provider, the queue, the rules), valued with the cluster name. Setup changes
/// and deletes only resources carrying it for this cluster (or adopted with `--adopt`).
///
/// Chosen not to collide with the tags Karpenter itself reads or writes: `karpenter.sh/*` and
/// `karpenter.k8s.aws/*` (v0.32 used `karpenter.sh/managed-by`), `eks:eks-cluster-name`,
/// `kubernetes.io/cluster/<C>` (`../shared/reference/karpenter-aws.md` §9), nor with the
/// `aws:cloudformation:*` tags a stack puts on its resources.
pub const OWNERSHIP_TAG: &str = "kubectl-karpenter.io/managed-by";

/// Resource tags, key to value.
pub type Tags = BTreeMap<String, String>;

/// Which existing resources without the ownership tag setup takes over (tags, then converges or,
/// in a teardown, deletes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AdoptScope {
    /// None: they are shown as "not managed" and left untouched.
    #[default]
    None,
    /// Every resource under setup's names (`--adopt`).
    All,
    /// Resources with these names (the resources of an adopted CloudFormation stack).
    Named(BTreeSet<String>),
}

impl AdoptScope {
    /// Whether the resource named `name` (role, policy, profile or queue name, rule name or
    /// OIDC issuer) is adopted.
    pub fn covers(&self, name: &str) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Named(names) => names.contains(name),
        }
    }
}

/// The tag key Karpenter's getting-started guide selects subnets and security groups by.
pub use karpenter_api::labels::DISCOVERY_TAG;

/// The service the spot service-linked role is for.
pub const SPOT_SERVICE: &str = "spot.amazonaws.com";

/// The managed policies the template attaches to the node role, by name.
pub const NODE_ROLE_MANAGED_POLICIES: [&str; 4] = [
    "AmazonEKS_CNI_Policy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
];

/// The target id the template gives every rule's queue target.
pub const QUEUE_TARGET_ID: &str = "KarpenterInterruptionQueueTarget";

/// (logical id, short name, source, detail-type) of the five rules.
const RULES: [(&str, &str, &str, &str); 5] = [
    (
        "ScheduledChangeRule",
        "ScheduledChange",
        "aws.health",
        "AWS Health Event",
    ),
    (
        "SpotInterruptionRule",
        "SpotInterruption",
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
    ),
    (
        "RebalanceRule",
        "Rebalance",
        "aws.ec2",
        "EC2 Instance Rebalance Recommendation",
    ),
    (
        "InstanceStateChangeRule",
        "InstanceStateChange",
        "aws.ec2",
        "EC2 Instance State-change Notification",
    ),
    (
        "CapacityReservationInterruptionRule",
        "CapacityReservationInterruption",
        "aws.ec2",
        "EC2 Capacity Reservation Instance Interruption Warning",
    ),
];

impl Target {
    fn p(&self) -> &'static str {
        self.partition.as_str()
    }

    /// `arn:<P>:iam::<A>:role/<name>` (path `/`).
    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{name}", self.p(), self.account)
    }

    /// `arn:<P>:iam::<A>:policy/<name>` (path `/`).
    pub fn policy_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:policy/{name}", self.p(), self.account)
    }

    /// `arn:<P>:sqs:<R>:<A>:<C>`.
    pub fn queue_arn(&self) -> String {
        format!(
            "arn:{}:sqs:{}:{}:{}",
            self.p(),
            self.region,
            self.account,
            self.cluster
        )
    }

    /// `arn:<P>:events:<R>:<A>:rule/<name>` (default bus).
    pub fn rule_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:events:{}:{}:rule/{name}",
            self.p(),
            self.region,
            self.account
        )
    }

    /// `arn:<P>:eks:<R>:<A>:cluster/<C>`.
    pub fn cluster_arn(&self) -> String {
        format!(
            "arn:{}:eks:{}:{}:cluster/{}",
            self.p(),
            self.region,
            self.account,
            self.cluster
        )
    }
}

/// A stable EventBridge rule name within the 64-character limit: `Karpenter-<C>-<Short>`, or, when
/// that is too long, a truncated cluster name plus an 8-hex-digit hash of the full name.
pub fn rule_name(cluster: &ClusterName, short: &str) -> String {
    let full = format!("Karpenter-{cluster}-{short}");
    if full.len() <= 64 {
        return full;
    }
    let hash = format!("{:08x}", fnv1a(cluster.as_str().as_bytes()) as u32);
    let room = 64 - "Karpenter-".len() - 1 - hash.len() - 1 - short.len();
    let prefix: String = cluster.as_str().chars().take(room).collect();
    format!("Karpenter-{prefix}-{hash}-{short}")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Desired {
    /// The desired state for `target`.
    pub fn new(target: Target) -> Self {
        let c = target.cluster.as_str().to_string();
        let p = target.p();
        let r = target.region.clone();
        let a = target.account.clone();
        let ec2 = format!("arn:{p}:ec2:{r}");
        let node_role_name = format!("{NODE_ROLE_PREFIX}{c}");
        let node_role_arn = target.role_arn(&node_role_name);
        let queue_arn = target.queue_arn();
        let cluster_arn = target.cluster_arn();
        let profile_arn = format!("arn:{p}:iam::{a}:instance-profile/*");
        let tagged_six: Vec<String> = [
            "fleet",
            "instance",
            "volume",
            "network-interface",
            "launch-template",
            "spot-instances-request",
        ]
        .iter()
        .map(|t| format!("{ec2}:*:{t}/*"))
        .collect();
        let cluster_tag = format!("kubernetes.io/cluster/{c}");
        let owned_resource = json!({
            "StringEquals": { format!("aws:ResourceTag/{cluster_tag}"): "owned" },
            "StringLike": { "aws:ResourceTag/karpenter.sh/nodepool": "*" }
        });

        let node_lifecycle = json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowScopedEC2InstanceAccessActions",
                    "Effect": "Allow",
                    "Resource": [
                        format!("arn:{p}:ec2:{r}::image/*"),
                        format!("arn:{p}:ec2:{r}::snapshot/*"),
                        format!("{ec2}:*:security-group/*"),
                        format!("{ec2}:*:subnet/*"),
                        format!("{ec2}:*:capacity-reservation/*"),
                        format!("{ec2}:*:placement-group/*"),
                    ],
                    "Action": ["ec2:RunInstances", "ec2:CreateFleet"]
                },
                {
                    "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
                    "Effect": "Allow",
                    "Resource": format!("{ec2}:*:launch-template/*"),
                    "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
                    "Condition": owned_resource.clone()
                },
                {
                    "Sid": "AllowScopedEC2InstanceActionsWithTags",
                    "Effect": "Allow",
                    "Resource": tagged_six.clone(),
                    "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
                    "Condition": {
                        "StringEquals": {
                            format!("aws:RequestTag/{cluster_tag}"): "owned",
                            "aws:RequestTag/eks:eks-cluster-name": c
                        },
                        "StringLike": { "aws:RequestTag/karpenter.sh/nodepool": "*" }
                    }
                },
                {
                    "Sid": "AllowScopedResourceCreationTagging",
                    "Effect": "Allow",
                    "Resource": tagged_six,
                    "Action": "ec2:CreateTags",
                    "Condition": {
                        "StringEquals": {
                            format!("aws:RequestTag/{cluster_tag}"): "owned",
                            "aws:RequestTag/eks:eks-cluster-name": c,
                            "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]
                        },
                        "StringLike": { "aws:RequestTag/karpenter.sh/nodepool": "*" }
                    }
                },
                {
                    "Sid": "AllowScopedResourceTagging",
                    "Effect": "Allow",
                    "Resource": format!("{ec2}:*:instance/*"),
                    "Action": "ec2:CreateTags",
                    "Condition": {
                        "StringEquals": { format!("aws:ResourceTag/{cluster_tag}"): "owned" },
                        "StringLike": { "aws:ResourceTag/karpenter.sh/nodepool": "*" },
                        "StringEqualsIfExists": { "aws:RequestTag/eks:eks-cluster-name": c },
                        "ForAllValues:StringEquals": {
                            "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                        }
                    }
                },
                {
                    "Sid": "AllowScopedDeletion",
                    "Effect": "Allow",
                    "Resource": [format!("{ec2}:*:instance/*"), format!("{ec2}:*:launch-template/*")],
                    "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                    "Condition": owned_resource
                }
            ]
        });

        let iam_integration = json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowPassingInstanceRole",
                    "Effect": "Allow",
                    "Resource": node_role_arn,
                    "Action": "iam:PassRole",
                    "Condition": {
                        "StringEquals": {
                            "iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]
                        }
                    }
                },
                {
                    "Sid": "AllowScopedInstanceProfileCreationActions",
                    "Effect": "Allow",
                    "Resource": profile_arn,
                    "Action": ["iam:CreateInstanceProfile"],
                    "Condition": {
                        "StringEquals": {
                            format!("aws:RequestTag/{cluster_tag}"): "owned",
                            "aws:RequestTag/eks:eks-cluster-name": c,
                            "aws:RequestTag/topology.kubernetes.io/region": r
                        },
                        "StringLike": { "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*" }
                    }
                },
                {
                    "Sid": "AllowScopedInstanceProfileTagActions",
                    "Effect": "Allow",
                    "Resource": profile_arn,
                    "Action": ["iam:TagInstanceProfile"],
                    "Condition": {
                        "StringEquals": {
                            format!("aws:ResourceTag/{cluster_tag}"): "owned",
                            "aws:ResourceTag/topology.kubernetes.io/region": r,
                            format!("aws:RequestTag/{cluster_tag}"): "owned",
                            "aws:RequestTag/eks:eks-cluster-name": c,
                            "aws:RequestTag/topology.kubernetes.io/region": r
                        },
                        "StringLike": {
                            "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                            "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"
                        }
                    }
                },
                {
                    "Sid": "AllowScopedInstanceProfileActions",
                    "Effect": "Allow",
                    "Resource": profile_arn,
                    "Action": [
                        "iam:AddRoleToInstanceProfile",
                        "iam:RemoveRoleFromInstanceProfile",
                        "iam:DeleteInstanceProfile"
                    ],
                    "Condition": {
                        "StringEquals": {
                            format!("aws:ResourceTag/{cluster_tag}"): "owned",
                            "aws:ResourceTag/topology.kubernetes.io/region": r
                        },
                        "StringLike": { "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*" }
                    }
                }
            ]
        });

        let eks_integration = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AllowAPIServerEndpointDiscovery",
                "Effect": "Allow",
                "Resource": cluster_arn,
                "Action": "eks:DescribeCluster"
            }]
        });

        let interruption = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AllowInterruptionQueueActions",
                "Effect": "Allow",
                "Resource": queue_arn,
                "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
            }]
        });

        let zonal_shift = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AllowZonalShiftStatusReadOnly",
                "Effect": "Allow",
                "Resource": "*",
                "Action": ["arc-zonal-shift:GetManagedResource"],
                "Condition": {
                    "StringEquals": { "arc-zonal-shift:ResourceIdentifier": cluster_arn }
                }
            }]
        });

        let resource_discovery = json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowRegionalReadActions",
                    "Effect": "Allow",
                    "Resource": "*",
                    "Action": [
                        "ec2:DescribeCapacityReservations",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstances",
                        "ec2:DescribeInstanceStatus",
                        "ec2:DescribeInstanceTypeOfferings",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplates",
                        "ec2:DescribePlacementGroups",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeSpotPriceHistory",
                        "ec2:DescribeSubnets"
                    ],
                    "Condition": { "StringEquals": { "aws:RequestedRegion": r } }
                },
                {
                    "Sid": "AllowSSMReadActions",
                    "Effect": "Allow",
                    "Resource": format!("arn:{p}:ssm:{r}::parameter/aws/service/*"),
                    "Action": "ssm:GetParameter"
                },
                {
                    "Sid": "AllowPricingReadActions",
                    "Effect": "Allow",
                    "Resource": "*",
                    "Action": "pricing:GetProducts"
                },
                {
                    "Sid": "AllowUnscopedInstanceProfileListAction",
                    "Effect": "Allow",
                    "Resource": "*",
                    "Action": "iam:ListInstanceProfiles"
                },
                {
                    "Sid": "AllowInstanceProfileReadActions",
                    "Effect": "Allow",
                    "Resource": profile_arn,
                    "Action": "iam:GetInstanceProfile"
                }
            ]
        });

        let controller_policies = [
            ("NodeLifecycle", node_lifecycle),
            ("IAMIntegration", iam_integration),
            ("EKSIntegration", eks_integration),
            ("Interruption", interruption),
            ("ZonalShift", zonal_shift),
            ("ResourceDiscovery", resource_discovery),
        ]
        .into_iter()
        .map(|(part, document)| {
            let name = format!("KarpenterController{part}Policy-{c}");
            PolicySpec {
                arn: target.policy_arn(&name),
                name,
                path: "/".into(),
                document,
            }
        })
        .collect();

        let node_role = RoleSpec {
            name: node_role_name.clone(),
            path: "/".into(),
            trust: json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": format!("ec2.{}", target.partition.url_suffix()) },
                    "Action": ["sts:AssumeRole"]
                }]
            }),
            managed_policy_arns: NODE_ROLE_MANAGED_POLICIES
                .iter()
                .map(|n| format!("arn:{p}:iam::aws:policy/{n}"))
                .collect(),
        };

        let queue = QueueSpec {
            name: c.clone(),
            arn: queue_arn.clone(),
            attributes: BTreeMap::from([
                ("MessageRetentionPeriod".to_string(), "300".to_string()),
                ("SqsManagedSseEnabled".to_string(), "true".to_string()),
            ]),
            policy: json!({
                "Id": "EC2InterruptionPolicy",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": { "Service": ["events.amazonaws.com", "sqs.amazonaws.com"] },
                        "Action": "sqs:SendMessage",
                        "Resource": queue_arn
                    },
                    {
                        "Sid": "DenyHTTP",
                        "Effect": "Deny",
                        "Action": "sqs:*",
                        "Resource": queue_arn,
                        "Condition": { "Bool": { "aws:SecureTransport": false } },
                        "Principal": "*"
                    }
                ]
            }),
        };

        let rules = RULES
            .iter()
            .map(|(logical, short, source, detail_type)| RuleSpec {
                logical_id: (*logical).to_string(),
                name: rule_name(&target.cluster, short),
                pattern: json!({ "source": [source], "detail-type": [detail_type] }),
                targets: vec![TargetSpec {
                    id: QUEUE_TARGET_ID.into(),
                    arn: queue_arn.clone(),
                }],
            })
            .collect();

        Desired {
            controller_role: None,
            oidc_provider: None,
            pod_identity: None,
            access_entry: None,
            discovery_resources: vec![],
            spot_service_linked_role: false,
            aws_auth_role: None,
            adopt: AdoptScope::None,
            node_instance_profile: InstanceProfileSpec {
                name: format!("KarpenterNodeInstanceProfile-{c}"),
                path: "/".into(),
                role: node_role_name,
            },
            node_role,
            controller_policies,
            queue,
            rules,
            target,
        }
    }

    /// The tags setup gives what it creates: [`OWNERSHIP_TAG`] = the cluster name.
    pub fn ownership_tags(&self) -> Tags {
        Tags::from([(OWNERSHIP_TAG.to_string(), self.target.cluster.to_string())])
    }

    /// Whether a resource with `tags` is setup's for this cluster.
    pub fn owns(&self, tags: &Tags) -> bool {
        tags.get(OWNERSHIP_TAG).map(String::as_str) == Some(self.target.cluster.as_str())
    }

    /// The same desired state, adopting `scope` as well (`All` wins over names).
    pub fn adopting(mut self, scope: AdoptScope) -> Self {
        self.adopt = match (self.adopt, scope) {
            (AdoptScope::All, _) | (_, AdoptScope::All) => AdoptScope::All,
            (AdoptScope::None, other) | (other, AdoptScope::None) => other,
            (AdoptScope::Named(mut a), AdoptScope::Named(b)) => {
                a.extend(b);
                AdoptScope::Named(a)
            }
        };
        self
    }

    /// The controller role's name, `<C>-karpenter` (as the getting-started guide's eksctl config names it).
    pub fn controller_role_name(&self) -> String {
        format!("{}-karpenter", self.target.cluster)
    }

    /// Add the steps the template leaves to the user, as decided by [`super::cluster::decide`].
    pub fn with_extras(mut self, extras: &super::cluster::Extras) -> Self {
        use super::cluster::{IdentityMode, NodeAccessMode};
        let t = &self.target;
        let p = t.partition.as_str();
        let role_name = self.controller_role_name();
        let role_arn = t.role_arn(&role_name);
        let subject = format!(
            "system:serviceaccount:{}:{}",
            extras.namespace, extras.service_account
        );
        let trust = match (extras.identity, &extras.oidc_issuer) {
            (IdentityMode::PodIdentity, _) => Some(json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "pods.eks.amazonaws.com" },
                    "Action": ["sts:AssumeRole", "sts:TagSession"]
                }]
            })),
            (IdentityMode::Irsa, Some(issuer)) => {
                let issuer = issuer.trim_start_matches("https://").trim_end_matches('/');
                let arn = format!("arn:{p}:iam::{}:oidc-provider/{issuer}", t.account);
                self.oidc_provider = Some(OidcProviderSpec {
                    issuer: issuer.to_string(),
                    arn: arn.clone(),
                });
                Some(json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": { "Federated": arn },
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                format!("{issuer}:aud"): "sts.amazonaws.com",
                                format!("{issuer}:sub"): subject
                            }
                        }
                    }]
                }))
            }
            _ => None,
        };
        if let Some(trust) = trust {
            self.controller_role = Some(RoleSpec {
                name: role_name,
                path: "/".into(),
                trust,
                managed_policy_arns: self
                    .controller_policies
                    .iter()
                    .map(|p| p.arn.clone())
                    .collect(),
            });
        }
        if extras.identity == IdentityMode::PodIdentity {
            self.pod_identity = Some(PodIdentitySpec {
                namespace: extras.namespace.clone(),
                service_account: extras.service_account.clone(),
                role_arn,
            });
        }
        if extras.node_access == NodeAccessMode::AccessEntry {
            self.access_entry = Some(AccessEntrySpec {
                principal_arn: t.role_arn(&self.node_role.name),
                kind: "EC2_LINUX".into(),
            });
        }
        if extras.node_access == NodeAccessMode::AwsAuth {
            self.aws_auth_role = Some(t.role_arn(&self.node_role.name));
        }
        self.discovery_resources = extras.discovery_resources.clone();
        self.spot_service_linked_role = extras.spot_service_linked_role;
        self
    }

    /// The Helm values Karpenter needs for this setup (`settings.clusterName`, `settings.interruptionQueue`).
    pub fn helm_settings(&self) -> BTreeMap<&'static str, String> {
        let mut values = BTreeMap::from([
            ("settings.clusterName", self.target.cluster.to_string()),
            ("settings.interruptionQueue", self.queue.name.clone()),
        ]);
        if let (Some(role), Some(_)) = (&self.controller_role, &self.oidc_provider) {
            values.insert(
                "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn",
                self.target.role_arn(&role.name),
            );
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(cluster: &str, region: &str) -> Target {
        Target {
            cluster: ClusterName::new(cluster).unwrap(),
            partition: Partition::for_region(region),
            region: region.into(),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn cluster_name_validation() {
        assert!(ClusterName::new("demo-1_x").is_ok());
        for bad in ["", "-demo", "de mo", "démo", &"a".repeat(47)] {
            let err = ClusterName::new(bad).unwrap_err().to_string();
            assert!(err.contains("cluster name"), "{bad}: {err}");
        }
        assert!(ClusterName::new(&"a".repeat(46)).is_ok());
    }

    #[test]
    fn partitions() {
        let d = Desired::new(target("demo", "cn-north-1"));
        assert_eq!(
            d.node_role.trust["Statement"][0]["Principal"]["Service"],
            "ec2.amazonaws.com.cn"
        );
        assert_eq!(d.queue.arn, "arn:aws-cn:sqs:cn-north-1:123456789012:demo");
        assert!(d.node_role.managed_policy_arns[0].starts_with("arn:aws-cn:iam::aws:policy/"));
        assert_eq!(Partition::for_region("us-gov-west-1"), Partition::AwsUsGov);
    }

    #[test]
    fn rule_names_are_stable_unique_and_short() {
        let long = ClusterName::new(&"c".repeat(46)).unwrap();
        let other = ClusterName::new(&format!("{}d", "c".repeat(45))).unwrap();
        for (_, short, _, _) in RULES {
            let a = rule_name(&long, short);
            assert!(a.len() <= 64, "{a}");
            assert_eq!(a, rule_name(&long, short));
            assert_ne!(a, rule_name(&other, short));
        }
        assert_eq!(
            rule_name(&ClusterName::new("demo").unwrap(), "Rebalance"),
            "Karpenter-demo-Rebalance"
        );
    }
}
