//! Desired vs live → a plan: one row per resource (kind, name, create/update/delete/none, detail),
//! each carrying the AWS operations that make it so, in dependency order. Pure.
//!
//! Ownership: what setup creates carries [`OWNERSHIP_TAG`]. A resource that exists under one of
//! setup's names without it (someone else's `<cluster>-karpenter` role or queue `<cluster>`) gets a
//! row "exists, not managed by kubectl-karpenter" and no operation, in a setup and in a teardown,
//! unless [`Desired::adopt`] covers it: then it is tagged and converged (or deleted).
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::desired::{
    Desired, PolicySpec, RoleSpec, RuleSpec, Tags, DISCOVERY_TAG, OWNERSHIP_TAG, SPOT_SERVICE,
};
use super::live::{
    short_arn as short, LiveInstanceProfile, LiveRole, LiveState, Operation, TagTarget,
};
use super::policy::{normalize_pattern, policies_equal, statement_diff};

/// The kind of resource a plan row is about. Serialized in kebab-case (`iam-policy`, `event-rule`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// IAM customer managed policy.
    IamPolicy,
    /// IAM role.
    IamRole,
    /// IAM instance profile.
    IamInstanceProfile,
    /// SQS queue.
    SqsQueue,
    /// SQS queue policy (the queue's `Policy` attribute).
    SqsQueuePolicy,
    /// EventBridge rule with its targets.
    EventRule,
    /// EC2 launch template (Karpenter-made; teardown only).
    Ec2LaunchTemplate,
    /// IAM OIDC identity provider (IRSA).
    IamOidcProvider,
    /// EKS Pod Identity association.
    EksPodIdentityAssociation,
    /// EKS access entry.
    EksAccessEntry,
    /// `karpenter.sh/discovery` tag on a subnet or security group.
    Ec2DiscoveryTag,
    /// IAM service-linked role.
    IamServiceLinkedRole,
    /// The kube-system/aws-auth ConfigMap's `mapRoles`.
    K8sAwsAuth,
}

impl ResourceKind {
    /// The kebab-case name used in table and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IamPolicy => "iam-policy",
            Self::IamRole => "iam-role",
            Self::IamInstanceProfile => "iam-instance-profile",
            Self::SqsQueue => "sqs-queue",
            Self::SqsQueuePolicy => "sqs-queue-policy",
            Self::EventRule => "event-rule",
            Self::Ec2LaunchTemplate => "ec2-launch-template",
            Self::IamOidcProvider => "iam-oidc-provider",
            Self::EksPodIdentityAssociation => "eks-pod-identity-association",
            Self::EksAccessEntry => "eks-access-entry",
            Self::Ec2DiscoveryTag => "ec2-discovery-tag",
            Self::IamServiceLinkedRole => "iam-service-linked-role",
            Self::K8sAwsAuth => "k8s-aws-auth",
        }
    }
}

/// What a plan row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// The resource is missing and will be created.
    Create,
    /// The resource exists but differs, and will be changed.
    Update,
    /// The resource will be deleted.
    Delete,
    /// The resource is as desired.
    None,
}

impl ActionKind {
    /// Lowercase name as in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::None => "none",
        }
    }
}

/// One plan row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAction {
    /// Resource kind.
    pub kind: ResourceKind,
    /// Resource name.
    pub name: String,
    /// What happens to it.
    pub action: ActionKind,
    /// Human-readable detail: what is created or what differs.
    pub detail: String,
    /// The operations, in order.
    #[serde(skip)]
    pub operations: Vec<Operation>,
}

/// A plan for one cluster. Its JSON form (`{cluster, region, account, actions: [{kind, name, action, detail}]}`)
/// is a stable contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Cluster name.
    pub cluster: String,
    /// Region.
    pub region: String,
    /// Account id.
    pub account: String,
    /// Rows in apply order.
    pub actions: Vec<PlannedAction>,
    /// Things the user must know before applying (e.g. instances still using a profile a
    /// teardown deletes). Omitted from JSON/YAML when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Plan {
    /// A plan for `desired`'s cluster, region and account.
    pub fn new(desired: &Desired, actions: Vec<PlannedAction>) -> Self {
        Self {
            cluster: desired.target.cluster.to_string(),
            region: desired.target.region.clone(),
            account: desired.target.account.clone(),
            actions,
            warnings: vec![],
        }
    }

    /// Rows that change something.
    pub fn changes(&self) -> impl Iterator<Item = &PlannedAction> {
        self.actions.iter().filter(|a| a.action != ActionKind::None)
    }

    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.changes().next().is_none()
    }

    /// Counts of create/update/delete rows.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |k| self.actions.iter().filter(|a| a.action == k).count();
        (
            n(ActionKind::Create),
            n(ActionKind::Update),
            n(ActionKind::Delete),
        )
    }
}

fn row(
    kind: ResourceKind,
    name: &str,
    action: ActionKind,
    detail: impl Into<String>,
    operations: Vec<Operation>,
) -> PlannedAction {
    PlannedAction {
        kind,
        name: name.to_string(),
        action,
        detail: detail.into(),
        operations,
    }
}

/// A row for a resource that is already as desired.
fn unchanged(kind: ResourceKind, name: &str) -> PlannedAction {
    row(kind, name, ActionKind::None, "", vec![])
}

/// Who an existing resource belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ownership {
    /// Tagged for this cluster: setup's.
    Owned,
    /// Not tagged, but [`Desired::adopt`] covers it: tag it and treat it as setup's.
    Adopted,
    /// Not tagged: leave it alone.
    Foreign,
}

fn ownership(desired: &Desired, tags: &Tags, name: &str) -> Ownership {
    if desired.owns(tags) {
        Ownership::Owned
    } else if desired.adopt.covers(name) {
        Ownership::Adopted
    } else {
        Ownership::Foreign
    }
}

/// The detail of a row for a resource setup does not own.
pub const NOT_MANAGED: &str = "exists, not managed by kubectl-karpenter";

/// A row for an existing resource without the ownership tag, left untouched.
fn not_managed(kind: ResourceKind, name: &str, teardown: bool) -> PlannedAction {
    let what = if teardown {
        "left in place (--adopt deletes it too)"
    } else {
        "left unchanged (--adopt tags it and takes it over)"
    };
    row(
        kind,
        name,
        ActionKind::None,
        format!("{NOT_MANAGED} (no {OWNERSHIP_TAG} tag); {what}"),
        vec![],
    )
}

/// Apply ownership to the row planned for an existing resource with `tags`: unchanged when setup
/// owns it, tagged first when adopted, replaced by a hands-off row otherwise.
fn guard(
    desired: &Desired,
    tags: Option<&Tags>,
    planned: PlannedAction,
    target: TagTarget,
) -> PlannedAction {
    let Some(tags) = tags else {
        return planned;
    };
    match ownership(desired, tags, &planned.name) {
        Ownership::Owned => planned,
        Ownership::Foreign => not_managed(planned.kind, &planned.name, false),
        Ownership::Adopted => {
            let tag = format!("adopt: tag {OWNERSHIP_TAG}={}", desired.target.cluster);
            let detail = if planned.detail.is_empty() {
                tag
            } else {
                format!("{tag}; {}", planned.detail)
            };
            let mut operations = vec![Operation::Tag {
                resource: target,
                tags: desired.ownership_tags(),
            }];
            operations.extend(planned.operations);
            row(
                planned.kind,
                &planned.name,
                ActionKind::Update,
                detail,
                operations,
            )
        }
    }
}

/// The plan that takes `live` to `desired`.
pub fn plan(desired: &Desired, live: &LiveState) -> Plan {
    let mut actions = Vec::new();
    for p in &desired.controller_policies {
        let l = live.policies.get(&p.name);
        actions.push(guard(
            desired,
            l.map(|l| &l.tags),
            plan_policy(p, desired, live),
            TagTarget::Policy(l.map_or_else(|| p.arn.clone(), |l| l.arn.clone())),
        ));
    }
    actions.push(plan_role_owned(desired, &desired.node_role, live));
    let profile = live
        .instance_profiles
        .get(&desired.node_instance_profile.name);
    actions.push(guard(
        desired,
        profile.map(|p| &p.tags),
        plan_instance_profile(desired, live),
        TagTarget::InstanceProfile(desired.node_instance_profile.name.clone()),
    ));
    actions.extend(plan_extras_before_queue(desired, live));
    let [queue, queue_policy] = plan_queue(desired, live);
    let queue_tags = live.queue.as_ref().map(|q| &q.tags);
    let queue_ownership = queue_tags.map(|t| ownership(desired, t, &desired.queue.name));
    actions.push(guard(
        desired,
        queue_tags,
        queue,
        TagTarget::Queue(desired.queue.name.clone()),
    ));
    actions.push(if queue_ownership == Some(Ownership::Foreign) {
        not_managed(ResourceKind::SqsQueuePolicy, &desired.queue.name, false)
    } else {
        queue_policy
    });
    for r in &desired.rules {
        actions.push(guard(
            desired,
            live.rules.get(&r.name).map(|l| &l.tags),
            plan_rule(r, desired, live),
            TagTarget::Rule {
                name: r.name.clone(),
                arn: desired.target.rule_arn(&r.name),
            },
        ));
    }
    actions.extend(plan_extras_after_rules(desired, live));
    Plan::new(desired, actions)
}

fn plan_role_owned(desired: &Desired, spec: &RoleSpec, live: &LiveState) -> PlannedAction {
    let l = live.roles.get(&spec.name);
    guard(
        desired,
        l.map(|l| &l.tags),
        plan_role(spec, desired, l),
        TagTarget::Role(spec.name.clone()),
    )
}

fn plan_policy(p: &PolicySpec, desired: &Desired, live: &LiveState) -> PlannedAction {
    let n_statements = p
        .document
        .get("Statement")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    match live.policies.get(&p.name) {
        None => row(
            ResourceKind::IamPolicy,
            &p.name,
            ActionKind::Create,
            format!(
                "{n_statements} statement{}",
                if n_statements == 1 { "" } else { "s" }
            ),
            vec![Operation::CreatePolicy {
                name: p.name.clone(),
                path: p.path.clone(),
                document: p.document.clone(),
                tags: desired.ownership_tags(),
            }],
        ),
        Some(l) if policies_equal(&l.document, &p.document) => {
            unchanged(ResourceKind::IamPolicy, &p.name)
        }
        Some(l) => {
            let (missing, extra) = statement_diff(&p.document, &l.document);
            let mut detail = vec![];
            if !missing.is_empty() {
                detail.push(format!("set {}", missing.join(", ")));
            }
            if !extra.is_empty() {
                let gone: Vec<&String> = extra.iter().filter(|e| !missing.contains(e)).collect();
                if !gone.is_empty() {
                    detail.push(format!(
                        "remove {}",
                        gone.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            if detail.is_empty() {
                detail.push("document differs".into());
            }
            let mut ops = vec![];
            // IAM keeps at most five versions: make room by deleting the oldest non-default one.
            if l.other_versions.len() >= 4 {
                ops.push(Operation::DeletePolicyVersion {
                    arn: l.arn.clone(),
                    version: l.other_versions[0].clone(),
                });
            }
            ops.push(Operation::CreatePolicyVersion {
                arn: l.arn.clone(),
                document: p.document.clone(),
            });
            row(
                ResourceKind::IamPolicy,
                &p.name,
                ActionKind::Update,
                format!("new default version: {}", detail.join("; ")),
                ops,
            )
        }
    }
}

/// (old, new) AWS managed policies: the old one is detached when the new one is desired.
const SUPERSEDED_MANAGED_POLICIES: [(&str, &str); 1] = [(
    ":policy/AmazonEC2ContainerRegistryReadOnly",
    ":policy/AmazonEC2ContainerRegistryPullOnly",
)];

fn plan_role(spec: &RoleSpec, desired: &Desired, live: Option<&LiveRole>) -> PlannedAction {
    let principal = spec.trust["Statement"][0]["Principal"]
        .as_object()
        .and_then(|m| m.values().next())
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    match live {
        None => {
            let mut ops = vec![Operation::CreateRole {
                name: spec.name.clone(),
                path: spec.path.clone(),
                trust: spec.trust.clone(),
                tags: desired.ownership_tags(),
            }];
            ops.extend(
                spec.managed_policy_arns
                    .iter()
                    .map(|arn| Operation::AttachRolePolicy {
                        role: spec.name.clone(),
                        policy_arn: arn.clone(),
                    }),
            );
            let names: Vec<&str> = spec.managed_policy_arns.iter().map(|a| short(a)).collect();
            row(
                ResourceKind::IamRole,
                &spec.name,
                ActionKind::Create,
                format!("trust {principal}; attach {}", names.join(", ")),
                ops,
            )
        }
        Some(l) => {
            let mut ops = vec![];
            let mut detail = vec![];
            if !policies_equal(&l.trust, &spec.trust) {
                detail.push("trust policy differs".to_string());
                ops.push(Operation::UpdateTrust {
                    role: spec.name.clone(),
                    trust: spec.trust.clone(),
                });
            }
            // Managed policies the template has replaced (ECR ReadOnly -> PullOnly by v1.6); detached
            // after the replacement is attached.
            let mut detach = vec![];
            for (old, new) in SUPERSEDED_MANAGED_POLICIES {
                let wants_new = spec.managed_policy_arns.iter().any(|a| a.ends_with(new));
                if let Some(old_arn) = l
                    .attached_policy_arns
                    .iter()
                    .find(|a| a.ends_with(old) && !spec.managed_policy_arns.contains(*a))
                {
                    if wants_new {
                        detail.push(format!("detach {}", short(old_arn)));
                        detach.push(Operation::DetachRolePolicy {
                            role: spec.name.clone(),
                            policy_arn: old_arn.clone(),
                        });
                    }
                }
            }
            let missing: Vec<&String> = spec
                .managed_policy_arns
                .iter()
                .filter(|a| !l.attached_policy_arns.contains(*a))
                .collect();
            if !missing.is_empty() {
                detail.push(format!(
                    "attach {}",
                    missing
                        .iter()
                        .map(|a| short(a))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                ops.extend(missing.into_iter().map(|arn| Operation::AttachRolePolicy {
                    role: spec.name.clone(),
                    policy_arn: arn.clone(),
                }));
            }
            ops.extend(detach);
            let action = if ops.is_empty() {
                ActionKind::None
            } else {
                ActionKind::Update
            };
            row(
                ResourceKind::IamRole,
                &spec.name,
                action,
                detail.join("; "),
                ops,
            )
        }
    }
}

fn plan_instance_profile(desired: &Desired, live: &LiveState) -> PlannedAction {
    let spec = &desired.node_instance_profile;
    let add = Operation::AddRoleToInstanceProfile {
        profile: spec.name.clone(),
        role: spec.role.clone(),
    };
    match live.instance_profiles.get(&spec.name) {
        None => row(
            ResourceKind::IamInstanceProfile,
            &spec.name,
            ActionKind::Create,
            format!("role {}", spec.role),
            vec![
                Operation::CreateInstanceProfile {
                    name: spec.name.clone(),
                    path: spec.path.clone(),
                    tags: desired.ownership_tags(),
                },
                add,
            ],
        ),
        Some(l) if l.roles == std::slice::from_ref(&spec.role) => {
            unchanged(ResourceKind::IamInstanceProfile, &spec.name)
        }
        Some(l) => {
            let mut ops: Vec<Operation> = l
                .roles
                .iter()
                .filter(|r| **r != spec.role)
                .map(|r| Operation::RemoveRoleFromInstanceProfile {
                    profile: spec.name.clone(),
                    role: r.clone(),
                })
                .collect();
            if !l.roles.contains(&spec.role) {
                ops.push(add);
            }
            let detail = if l.roles.is_empty() {
                format!("add role {}", spec.role)
            } else {
                format!("role {} instead of {}", spec.role, l.roles.join(", "))
            };
            row(
                ResourceKind::IamInstanceProfile,
                &spec.name,
                ActionKind::Update,
                detail,
                ops,
            )
        }
    }
}

fn attrs_detail(attrs: &BTreeMap<String, String>) -> String {
    attrs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plan_queue(desired: &Desired, live: &LiveState) -> [PlannedAction; 2] {
    let q = &desired.queue;
    let policy_text = q.policy.to_string();
    let set_policy = Operation::SetQueueAttributes {
        name: q.name.clone(),
        attributes: BTreeMap::from([("Policy".to_string(), policy_text)]),
    };
    match &live.queue {
        None => [
            row(
                ResourceKind::SqsQueue,
                &q.name,
                ActionKind::Create,
                attrs_detail(&q.attributes),
                vec![Operation::CreateQueue {
                    name: q.name.clone(),
                    attributes: q.attributes.clone(),
                    tags: desired.ownership_tags(),
                }],
            ),
            row(
                ResourceKind::SqsQueuePolicy,
                &q.name,
                ActionKind::Create,
                "EC2InterruptionPolicy: events/sqs may SendMessage; DenyHTTP",
                vec![set_policy],
            ),
        ],
        Some(l) => {
            let differing: BTreeMap<String, String> = q
                .attributes
                .iter()
                .filter(|(k, v)| l.attributes.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let queue_row = if differing.is_empty() {
                unchanged(ResourceKind::SqsQueue, &q.name)
            } else {
                let detail = differing
                    .iter()
                    .map(|(k, v)| {
                        let was = l.attributes.get(k).map_or("unset", String::as_str);
                        format!("{k} {was} -> {v}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                row(
                    ResourceKind::SqsQueue,
                    &q.name,
                    ActionKind::Update,
                    detail,
                    vec![Operation::SetQueueAttributes {
                        name: q.name.clone(),
                        attributes: differing,
                    }],
                )
            };
            let policy_row = match &l.policy {
                None => row(
                    ResourceKind::SqsQueuePolicy,
                    &q.name,
                    ActionKind::Create,
                    "EC2InterruptionPolicy: events/sqs may SendMessage; DenyHTTP",
                    vec![set_policy],
                ),
                Some(p) if policies_equal(p, &q.policy) => {
                    unchanged(ResourceKind::SqsQueuePolicy, &q.name)
                }
                Some(p) => {
                    let (missing, _) = statement_diff(&q.policy, p);
                    let detail = if missing.is_empty() {
                        "policy differs".to_string()
                    } else {
                        format!("set {}", missing.join(", "))
                    };
                    row(
                        ResourceKind::SqsQueuePolicy,
                        &q.name,
                        ActionKind::Update,
                        detail,
                        vec![set_policy],
                    )
                }
            };
            [queue_row, policy_row]
        }
    }
}

fn describe_pattern(p: &Value) -> String {
    let first = |k: &str| {
        p.get(k)
            .and_then(|v| v.get(0))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    format!("{}: {}", first("source"), first("detail-type"))
}

fn plan_rule(spec: &RuleSpec, desired: &Desired, live: &LiveState) -> PlannedAction {
    let cluster = desired.target.cluster.as_str();
    let put_rule = |tags: Tags| Operation::PutRule {
        name: spec.name.clone(),
        pattern: spec.pattern.clone(),
        description: format!(
            "Karpenter interruption events ({}) for cluster {cluster}",
            spec.logical_id
        ),
        tags,
    };
    let put_targets = Operation::PutTargets {
        rule: spec.name.clone(),
        targets: spec.targets.clone(),
    };
    match live.rules.get(&spec.name) {
        None => row(
            ResourceKind::EventRule,
            &spec.name,
            ActionKind::Create,
            format!("{} -> queue", describe_pattern(&spec.pattern)),
            vec![put_rule(desired.ownership_tags()), put_targets],
        ),
        Some(l) => {
            let mut ops = vec![];
            let mut detail = vec![];
            let same_pattern = l
                .pattern
                .as_ref()
                .is_some_and(|p| normalize_pattern(p) == normalize_pattern(&spec.pattern));
            if !same_pattern {
                detail.push(format!(
                    "pattern differs: want {}",
                    describe_pattern(&spec.pattern)
                ));
            }
            if l.state != "ENABLED" {
                detail.push(format!("state {} -> ENABLED", l.state));
            }
            if !detail.is_empty() {
                ops.push(put_rule(Tags::new()));
            }
            let missing_targets = spec.targets.iter().any(|t| !l.targets.contains(t));
            if missing_targets {
                detail.push(format!("target {} -> queue", spec.targets[0].id));
                ops.push(put_targets);
            }
            let action = if ops.is_empty() {
                ActionKind::None
            } else {
                ActionKind::Update
            };
            row(
                ResourceKind::EventRule,
                &spec.name,
                action,
                detail.join("; "),
                ops,
            )
        }
    }
}

/// The plan that removes everything setup created for the cluster, plus Karpenter's runtime leftovers
/// (launch templates, managed instance profiles), in reverse dependency order.
///
/// Only resources setup owns (or [`Desired::adopt`] covers) are deleted; others under setup's
/// names get a "not managed" row. The controller role's Pod Identity association and the node
/// role's access entry and aws-auth mapping go only with a role setup owns (or that is gone).
pub fn plan_teardown(desired: &Desired, live: &LiveState) -> Plan {
    let mut actions = Vec::new();
    let cluster = desired.target.cluster.to_string();
    let controller_name = desired.controller_role_name();
    let controller_arn = desired.target.role_arn(&controller_name);
    let deletable = |tags: &Tags, name: &str| ownership(desired, tags, name) != Ownership::Foreign;
    let role_deletable = |name: &str| {
        live.roles
            .get(name)
            .is_none_or(|r| deletable(&r.tags, name))
    };
    let controller_ours = role_deletable(&controller_name);
    let node_role_ours = role_deletable(&desired.node_role.name);
    for a in &live.eks.pod_identity_associations {
        if a.role_arn == controller_arn && controller_ours {
            actions.push(row(
                ResourceKind::EksPodIdentityAssociation,
                &format!("{}/{}", a.namespace, a.service_account),
                ActionKind::Delete,
                a.id.clone(),
                vec![Operation::DeletePodIdentityAssociation {
                    cluster: cluster.clone(),
                    id: a.id.clone(),
                }],
            ));
        }
    }
    let node_role_arn = desired.target.role_arn(&desired.node_role.name);
    if let Some(text) = live
        .eks
        .aws_auth
        .as_ref()
        .and_then(|a| a.map_roles.as_deref())
    {
        if let (Ok(Some(_)), true) = (
            super::aws_auth::without_node_role(text, &node_role_arn),
            node_role_ours,
        ) {
            actions.push(row(
                ResourceKind::K8sAwsAuth,
                AWS_AUTH,
                ActionKind::Delete,
                format!("remove the mapRoles entry of {}", desired.node_role.name),
                vec![Operation::WriteAwsAuth {
                    role_arn: node_role_arn.clone(),
                    map: false,
                }],
            ));
        }
    }
    if let Some(ae) = &live.eks.access_entry {
        if ae.principal_arn == node_role_arn && node_role_ours {
            actions.push(row(
                ResourceKind::EksAccessEntry,
                &desired.node_role.name,
                ActionKind::Delete,
                format!("type {}", ae.kind),
                vec![Operation::DeleteAccessEntry {
                    cluster: cluster.clone(),
                    principal_arn: ae.principal_arn.clone(),
                }],
            ));
        }
    }
    for r in &desired.rules {
        if let Some(l) = live.rules.get(&r.name) {
            if !deletable(&l.tags, &r.name) {
                actions.push(not_managed(ResourceKind::EventRule, &r.name, true));
                continue;
            }
            let mut ops = vec![];
            if !l.targets.is_empty() {
                ops.push(Operation::RemoveTargets {
                    rule: r.name.clone(),
                    ids: l.targets.iter().map(|t| t.id.clone()).collect(),
                });
            }
            ops.push(Operation::DeleteRule {
                name: r.name.clone(),
            });
            let n = l.targets.len();
            actions.push(row(
                ResourceKind::EventRule,
                &r.name,
                ActionKind::Delete,
                format!("remove {n} target{}", if n == 1 { "" } else { "s" }),
                ops,
            ));
        }
    }
    if let Some(q) = &live.queue {
        if !deletable(&q.tags, &desired.queue.name) {
            actions.push(not_managed(
                ResourceKind::SqsQueue,
                &desired.queue.name,
                true,
            ));
        } else {
            actions.push(row(
                ResourceKind::SqsQueue,
                &desired.queue.name,
                ActionKind::Delete,
                "with its queue policy and any messages",
                vec![Operation::DeleteQueue {
                    name: desired.queue.name.clone(),
                }],
            ));
        }
    }
    for lt in &live.launch_templates {
        actions.push(row(
            ResourceKind::Ec2LaunchTemplate,
            &lt.name,
            ActionKind::Delete,
            format!("{} (created by Karpenter)", lt.id),
            vec![Operation::DeleteLaunchTemplate {
                id: lt.id.clone(),
                name: lt.name.clone(),
            }],
        ));
    }
    let delete_profile = |p: &LiveInstanceProfile, detail: String| {
        let mut ops: Vec<Operation> = p
            .roles
            .iter()
            .map(|r| Operation::RemoveRoleFromInstanceProfile {
                profile: p.name.clone(),
                role: r.clone(),
            })
            .collect();
        ops.push(Operation::DeleteInstanceProfile {
            name: p.name.clone(),
        });
        row(
            ResourceKind::IamInstanceProfile,
            &p.name,
            ActionKind::Delete,
            detail,
            ops,
        )
    };
    for p in &live.karpenter_instance_profiles {
        actions.push(delete_profile(
            p,
            format!("{}{} (created by Karpenter)", p.path, p.name),
        ));
    }
    let node_profile = live
        .instance_profiles
        .get(&desired.node_instance_profile.name)
        .filter(|p| {
            let ours = deletable(&p.tags, &p.name);
            if !ours {
                actions.push(not_managed(ResourceKind::IamInstanceProfile, &p.name, true));
            }
            ours
        });
    if let Some(p) = node_profile {
        actions.push(delete_profile(p, "remove role, delete".into()));
    }
    let deleted_profiles: Vec<&str> = live
        .karpenter_instance_profiles
        .iter()
        .map(|p| p.name.as_str())
        .chain(node_profile.map(|p| p.name.as_str()))
        .collect();
    let mut deleted_roles = vec![];
    for name in [&controller_name, &desired.node_role.name] {
        if let Some(role) = live.roles.get(name) {
            if !deletable(&role.tags, name) {
                actions.push(not_managed(ResourceKind::IamRole, name, true));
                continue;
            }
            actions.push(delete_role(role, &deleted_profiles));
            deleted_roles.push(name.clone());
        }
    }
    for p in &desired.controller_policies {
        if let Some(l) = live.policies.get(&p.name) {
            if !deletable(&l.tags, &p.name) {
                actions.push(not_managed(ResourceKind::IamPolicy, &p.name, true));
                continue;
            }
            // Roles outside this teardown that still have the policy attached.
            let others: Vec<&str> = l
                .attached_roles
                .iter()
                .filter(|r| !deleted_roles.contains(r))
                .map(String::as_str)
                .collect();
            let mut ops: Vec<Operation> = others
                .iter()
                .map(|r| Operation::DetachRolePolicy {
                    role: r.to_string(),
                    policy_arn: l.arn.clone(),
                })
                .collect();
            ops.extend(
                l.other_versions
                    .iter()
                    .map(|v| Operation::DeletePolicyVersion {
                        arn: l.arn.clone(),
                        version: v.clone(),
                    }),
            );
            ops.push(Operation::DeletePolicy { arn: l.arn.clone() });
            let detail = if others.is_empty() {
                String::new()
            } else {
                format!("detach from {}", others.join(", "))
            };
            actions.push(row(
                ResourceKind::IamPolicy,
                &p.name,
                ActionKind::Delete,
                detail,
                ops,
            ));
        }
    }
    let tagged: Vec<String> = live
        .discovery_tags
        .iter()
        .filter(|(_, v)| v.as_deref() == Some(cluster.as_str()))
        .map(|(id, _)| id.clone())
        .collect();
    for id in tagged {
        actions.push(row(
            ResourceKind::Ec2DiscoveryTag,
            &id,
            ActionKind::Delete,
            format!("{DISCOVERY_TAG}={cluster}"),
            vec![Operation::DeleteTags {
                resources: vec![id.clone()],
                key: DISCOVERY_TAG.into(),
                value: cluster.clone(),
            }],
        ));
    }
    let mut plan = Plan::new(desired, actions);
    plan.warnings.extend(instances_warning(&cluster, live));
    plan
}

/// A warning naming the instances tagged for the cluster that still run: the instance profiles
/// a teardown deletes (and the node role) are what those nodes use to reach AWS.
fn instances_warning(cluster: &str, live: &LiveState) -> Option<String> {
    if live.cluster_instances.is_empty() {
        return None;
    }
    let n = live.cluster_instances.len();
    let list: Vec<String> = live
        .cluster_instances
        .iter()
        .map(|i| match &i.instance_profile {
            Some(p) => format!("{} ({}, instance profile {p})", i.id, i.state),
            None => format!("{} ({})", i.id, i.state),
        })
        .collect();
    Some(format!(
        "{n} EC2 instance{s} tagged for cluster {cluster} {are} still there: {}. Their instance \
         profiles are in use; deleting them and the node role cuts those nodes off from AWS. \
         Delete Karpenter's NodePools (and wait for their nodes to go) before the teardown",
        list.join(", "),
        s = if n == 1 { "" } else { "s" },
        are = if n == 1 { "is" } else { "are" },
    ))
}

fn delete_role(role: &LiveRole, deleted_profiles: &[&str]) -> PlannedAction {
    let mut ops: Vec<Operation> = role
        .instance_profiles
        .iter()
        .filter(|p| !deleted_profiles.contains(&p.as_str()))
        .map(|p| Operation::RemoveRoleFromInstanceProfile {
            profile: p.clone(),
            role: role.name.clone(),
        })
        .collect();
    ops.extend(
        role.attached_policy_arns
            .iter()
            .map(|arn| Operation::DetachRolePolicy {
                role: role.name.clone(),
                policy_arn: arn.clone(),
            }),
    );
    ops.extend(
        role.inline_policies
            .iter()
            .map(|p| Operation::DeleteRoleInlinePolicy {
                role: role.name.clone(),
                policy: p.clone(),
            }),
    );
    ops.push(Operation::DeleteRole {
        name: role.name.clone(),
    });
    row(
        ResourceKind::IamRole,
        &role.name,
        ActionKind::Delete,
        format!("detach {} policies", role.attached_policy_arns.len()),
        ops,
    )
}

/// Name of the spot service-linked role.
pub const SPOT_SLR_NAME: &str = "AWSServiceRoleForEC2Spot";

fn plan_extras_before_queue(desired: &Desired, live: &LiveState) -> Vec<PlannedAction> {
    let cluster = desired.target.cluster.to_string();
    let mut actions = vec![];
    if let Some(oidc) = &desired.oidc_provider {
        // An existing provider is used as it is (setup never changes or deletes one); the tag
        // only says whether setup created it.
        actions.push(if live.oidc_providers.contains(&oidc.arn) {
            guard(
                desired,
                Some(&live.oidc_provider_tags),
                unchanged(ResourceKind::IamOidcProvider, &oidc.issuer),
                TagTarget::OidcProvider(oidc.arn.clone()),
            )
        } else {
            row(
                ResourceKind::IamOidcProvider,
                &oidc.issuer,
                ActionKind::Create,
                "client id sts.amazonaws.com (for IRSA)",
                vec![Operation::CreateOidcProvider {
                    issuer: oidc.issuer.clone(),
                    tags: desired.ownership_tags(),
                }],
            )
        });
    }
    if let Some(role) = &desired.controller_role {
        actions.push(plan_role_owned(desired, role, live));
    }
    if let Some(pi) = &desired.pod_identity {
        let name = format!("{}/{}", pi.namespace, pi.service_account);
        let existing = live
            .eks
            .pod_identity_associations
            .iter()
            .find(|a| a.namespace == pi.namespace && a.service_account == pi.service_account);
        actions.push(match existing {
            None => row(
                ResourceKind::EksPodIdentityAssociation,
                &name,
                ActionKind::Create,
                format!("role {}", short(&pi.role_arn)),
                vec![Operation::CreatePodIdentityAssociation {
                    cluster: cluster.clone(),
                    namespace: pi.namespace.clone(),
                    service_account: pi.service_account.clone(),
                    role_arn: pi.role_arn.clone(),
                }],
            ),
            Some(a) if a.role_arn == pi.role_arn => {
                unchanged(ResourceKind::EksPodIdentityAssociation, &name)
            }
            Some(a) => row(
                ResourceKind::EksPodIdentityAssociation,
                &name,
                ActionKind::Update,
                format!("role {} -> {}", short(&a.role_arn), short(&pi.role_arn)),
                vec![Operation::UpdatePodIdentityAssociation {
                    cluster: cluster.clone(),
                    id: a.id.clone(),
                    role_arn: pi.role_arn.clone(),
                }],
            ),
        });
    }
    if let Some(ae) = &desired.access_entry {
        let name = short(&ae.principal_arn).to_string();
        let create = Operation::CreateAccessEntry {
            cluster: cluster.clone(),
            principal_arn: ae.principal_arn.clone(),
            kind: ae.kind.clone(),
        };
        actions.push(match &live.eks.access_entry {
            None => row(
                ResourceKind::EksAccessEntry,
                &name,
                ActionKind::Create,
                format!("type {}", ae.kind),
                vec![create],
            ),
            Some(l) if l.kind == ae.kind => unchanged(ResourceKind::EksAccessEntry, &name),
            Some(l) => row(
                ResourceKind::EksAccessEntry,
                &name,
                ActionKind::Update,
                format!("type {} -> {} (recreate)", l.kind, ae.kind),
                vec![
                    Operation::DeleteAccessEntry {
                        cluster: cluster.clone(),
                        principal_arn: ae.principal_arn.clone(),
                    },
                    create,
                ],
            ),
        });
    }
    if let Some(arn) = &desired.aws_auth_role {
        actions.push(plan_aws_auth(arn, live));
    }
    actions
}

const AWS_AUTH: &str = "kube-system/aws-auth";

fn plan_aws_auth(arn: &str, live: &LiveState) -> PlannedAction {
    let state = live.eks.aws_auth.clone().unwrap_or_default();
    match super::aws_auth::with_node_role(state.map_roles.as_deref(), arn) {
        Ok(None) => unchanged(ResourceKind::K8sAwsAuth, AWS_AUTH),
        Ok(Some(_)) => row(
            ResourceKind::K8sAwsAuth,
            AWS_AUTH,
            if state.exists {
                ActionKind::Update
            } else {
                ActionKind::Create
            },
            format!(
                "map {} to system:node:{{{{EC2PrivateDNSName}}}}",
                short(arn)
            ),
            vec![Operation::WriteAwsAuth {
                role_arn: arn.to_string(),
                map: true,
            }],
        ),
        Err(e) => row(
            ResourceKind::K8sAwsAuth,
            AWS_AUTH,
            ActionKind::None,
            format!("{e}; fix it by hand, setup leaves it unchanged"),
            vec![],
        ),
    }
}

fn plan_extras_after_rules(desired: &Desired, live: &LiveState) -> Vec<PlannedAction> {
    let cluster = desired.target.cluster.to_string();
    let mut actions = vec![];
    for id in &desired.discovery_resources {
        let current = live.discovery_tags.get(id).cloned().flatten();
        actions.push(match current {
            Some(v) if v == cluster => unchanged(ResourceKind::Ec2DiscoveryTag, id),
            Some(other) => row(
                ResourceKind::Ec2DiscoveryTag,
                id,
                ActionKind::None,
                format!("{DISCOVERY_TAG}={other} belongs to another cluster; left unchanged"),
                vec![],
            ),
            None => row(
                ResourceKind::Ec2DiscoveryTag,
                id,
                ActionKind::Create,
                format!("{DISCOVERY_TAG}={cluster}"),
                vec![Operation::CreateTags {
                    resources: vec![id.clone()],
                    key: DISCOVERY_TAG.into(),
                    value: cluster.clone(),
                }],
            ),
        });
    }
    if desired.spot_service_linked_role {
        actions.push(if live.spot_service_linked_role == Some(false) {
            row(
                ResourceKind::IamServiceLinkedRole,
                SPOT_SLR_NAME,
                ActionKind::Create,
                SPOT_SERVICE,
                vec![Operation::CreateServiceLinkedRole {
                    service: SPOT_SERVICE.into(),
                }],
            )
        } else {
            unchanged(ResourceKind::IamServiceLinkedRole, SPOT_SLR_NAME)
        });
    }
    actions
}
