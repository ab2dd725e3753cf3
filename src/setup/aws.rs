//! The AWS adapter for the [`Live`] port: reads with IAM/SQS/EventBridge/EC2 describe calls and
//! applies each [`Operation`] as one API call. Errors are classified by
//! [`crate::cloud::aws::classify`] and mapped to [`SetupError`] naming the API action.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_eventbridge::types::RuleState;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;

use super::adopt::{retain_template, StackInfo, StackResource, Stacks};
use super::cluster::ClusterFacts;
use super::desired::{Desired, TargetSpec};
use super::desired::{DISCOVERY_TAG, SPOT_SERVICE};
use super::live::{
    EksState, Live, LiveAccessEntry, LiveInstanceProfile, LiveLaunchTemplate,
    LivePodIdentityAssociation, LivePolicy, LiveQueue, LiveRole, LiveRule, LiveState, Operation,
    ReadScope,
};
use super::plan::SPOT_SLR_NAME;
use super::policy::parse_document;
use super::SetupError;
use crate::cloud::aws::{classify, AwsError};

/// [`Live`] over the AWS SDK clients.
#[derive(Debug, Clone)]
pub struct AwsLive {
    iam: aws_sdk_iam::Client,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    ec2: aws_sdk_ec2::Client,
    eks: aws_sdk_eks::Client,
    cfn: aws_sdk_cloudformation::Client,
    /// How often to poll CloudFormation while waiting for a stack operation.
    poll: std::time::Duration,
}

impl AwsLive {
    /// Clients built from one SDK configuration.
    pub fn new(config: &aws_types::SdkConfig) -> Self {
        Self {
            iam: aws_sdk_iam::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            eks: aws_sdk_eks::Client::new(config),
            cfn: aws_sdk_cloudformation::Client::new(config),
            poll: std::time::Duration::from_secs(5),
        }
    }
}

/// Map a failed SDK call to [`SetupError`].
pub fn sdk_error<E>(action: &str, err: SdkError<E, HttpResponse>) -> SetupError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    from_aws(classify(action, err))
}

/// Map an [`AwsError`] to [`SetupError`].
pub fn from_aws(err: AwsError) -> SetupError {
    let action = err.action().unwrap_or("AWS").to_string();
    match err {
        AwsError::Unauthorized {
            action, message, ..
        } => SetupError::AccessDenied { action, message },
        AwsError::Retryable { code, message, .. } => SetupError::Throttled {
            action,
            message: format!("{code}: {message}"),
        },
        AwsError::NotFound { code, message, .. } => SetupError::NotFound {
            action,
            message: format!("{code}: {message}"),
        },
        AwsError::AlreadyExists { code, message, .. } => SetupError::AlreadyExists {
            action,
            message: format!("{code}: {message}"),
        },
        other => SetupError::Aws {
            action,
            message: other.to_string(),
        },
    }
}

/// `Ok(None)` for NotFound, the value otherwise.
fn optional<T>(r: Result<T, SetupError>) -> Result<Option<T>, SetupError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(SetupError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn document(what: &str, text: Option<&str>) -> Result<Value, SetupError> {
    let text = text.ok_or_else(|| SetupError::Malformed {
        what: what.to_string(),
        message: "AWS returned no document".into(),
    })?;
    parse_document(text).map_err(|e| SetupError::Malformed {
        what: what.to_string(),
        message: format!("not JSON: {e}"),
    })
}

impl AwsLive {
    async fn read_role(&self, name: &str) -> Result<Option<LiveRole>, SetupError> {
        let out = optional(
            self.iam
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| sdk_error("iam:GetRole", e)),
        )?;
        let Some(role) = out.and_then(|o| o.role) else {
            return Ok(None);
        };
        let trust = document(
            &format!("the trust policy of role {name}"),
            role.assume_role_policy_document(),
        )?;
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("iam:ListAttachedRolePolicies", e))?;
        let inline = self
            .iam
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("iam:ListRolePolicies", e))?;
        let profiles = self
            .iam
            .list_instance_profiles_for_role()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("iam:ListInstanceProfilesForRole", e))?;
        Ok(Some(LiveRole {
            name: name.to_string(),
            trust,
            attached_policy_arns: attached
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect::<BTreeSet<_>>(),
            inline_policies: inline,
            instance_profiles: profiles
                .iter()
                .map(|p| p.instance_profile_name().to_string())
                .collect(),
        }))
    }

    async fn read_policy(&self, name: &str, arn: &str) -> Result<Option<LivePolicy>, SetupError> {
        let out = optional(
            self.iam
                .get_policy()
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| sdk_error("iam:GetPolicy", e)),
        )?;
        let Some(policy) = out.and_then(|o| o.policy) else {
            return Ok(None);
        };
        let default_version = policy.default_version_id().unwrap_or("v1").to_string();
        let version = self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(&default_version)
            .send()
            .await
            .map_err(|e| sdk_error("iam:GetPolicyVersion", e))?;
        let doc = document(
            &format!("policy {name} version {default_version}"),
            version.policy_version().and_then(|v| v.document()),
        )?;
        let mut versions = self
            .iam
            .list_policy_versions()
            .policy_arn(arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("iam:ListPolicyVersions", e))?;
        versions.sort_by_key(|v| v.create_date().map(|d| (d.secs(), d.subsec_nanos())));
        let other_versions = versions
            .iter()
            .filter(|v| !v.is_default_version())
            .filter_map(|v| v.version_id().map(str::to_string))
            .collect();
        let entities = self
            .iam
            .list_entities_for_policy()
            .policy_arn(arn)
            .max_items(1000)
            .send()
            .await
            .map_err(|e| sdk_error("iam:ListEntitiesForPolicy", e))?;
        Ok(Some(LivePolicy {
            name: name.to_string(),
            arn: arn.to_string(),
            document: doc,
            other_versions,
            attached_roles: entities
                .policy_roles()
                .iter()
                .filter_map(|r| r.role_name().map(str::to_string))
                .collect(),
        }))
    }

    async fn read_instance_profile(
        &self,
        name: &str,
    ) -> Result<Option<LiveInstanceProfile>, SetupError> {
        let out = optional(
            self.iam
                .get_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
                .map_err(|e| sdk_error("iam:GetInstanceProfile", e)),
        )?;
        Ok(out
            .and_then(|o| o.instance_profile)
            .map(|p| live_instance_profile(&p)))
    }

    async fn queue_url(&self, name: &str) -> Result<String, SetupError> {
        let out = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("sqs:GetQueueUrl", e))?;
        out.queue_url.ok_or_else(|| SetupError::Malformed {
            what: format!("queue {name}"),
            message: "GetQueueUrl returned no URL".into(),
        })
    }

    async fn read_queue(&self, name: &str) -> Result<Option<LiveQueue>, SetupError> {
        let Some(url) = optional(self.queue_url(name).await)? else {
            return Ok(None);
        };
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| sdk_error("sqs:GetQueueAttributes", e))?;
        let mut attributes = BTreeMap::new();
        let mut policy = None;
        for (k, v) in out.attributes.unwrap_or_default() {
            if k == QueueAttributeName::Policy {
                policy = Some(document(&format!("the queue policy of {name}"), Some(&v))?);
            } else {
                attributes.insert(k.as_str().to_string(), v);
            }
        }
        Ok(Some(LiveQueue {
            url,
            attributes,
            policy,
        }))
    }

    async fn read_rule(&self, name: &str) -> Result<Option<LiveRule>, SetupError> {
        let out = optional(
            self.events
                .describe_rule()
                .name(name)
                .send()
                .await
                .map_err(|e| sdk_error("events:DescribeRule", e)),
        )?;
        let Some(rule) = out else {
            return Ok(None);
        };
        let pattern = match rule.event_pattern() {
            Some(p) => Some(document(
                &format!("the event pattern of rule {name}"),
                Some(p),
            )?),
            None => None,
        };
        let targets = self
            .events
            .list_targets_by_rule()
            .rule(name)
            .send()
            .await
            .map_err(|e| sdk_error("events:ListTargetsByRule", e))?;
        Ok(Some(LiveRule {
            name: name.to_string(),
            pattern,
            state: rule.state().map_or("ENABLED", |s| s.as_str()).to_string(),
            targets: targets
                .targets()
                .iter()
                .map(|t| TargetSpec {
                    id: t.id().to_string(),
                    arn: t.arn().to_string(),
                })
                .collect(),
        }))
    }

    async fn read_launch_templates(
        &self,
        cluster: &str,
    ) -> Result<Vec<LiveLaunchTemplate>, SetupError> {
        let mut found = BTreeSet::new();
        // v1 tags launch templates with eks:eks-cluster-name; v0.x with karpenter.k8s.aws/cluster.
        for key in ["eks:eks-cluster-name", "karpenter.k8s.aws/cluster"] {
            let filter = aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{key}"))
                .values(cluster)
                .build();
            let lts = self
                .ec2
                .describe_launch_templates()
                .filters(filter)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| sdk_error("ec2:DescribeLaunchTemplates", e))?;
            for lt in lts {
                // Karpenter names its launch templates karpenter.k8s.aws/<hash>; leave anything else.
                let name = lt.launch_template_name().unwrap_or_default();
                if name.starts_with("karpenter.k8s.aws/") || name.starts_with("Karpenter-") {
                    if let Some(id) = lt.launch_template_id() {
                        found.insert(LiveLaunchTemplate {
                            id: id.to_string(),
                            name: name.to_string(),
                        });
                    }
                }
            }
        }
        Ok(found.into_iter().collect())
    }

    async fn read_karpenter_profiles(
        &self,
        region: &str,
        cluster: &str,
    ) -> Result<Vec<LiveInstanceProfile>, SetupError> {
        let prefix = format!("/karpenter/{region}/{cluster}/");
        let profiles = self
            .iam
            .list_instance_profiles()
            .path_prefix(&prefix)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("iam:ListInstanceProfiles", e))?;
        // Filter again here: the prefix must end at a path segment, and not every IAM
        // implementation honours PathPrefix.
        Ok(profiles
            .iter()
            .filter(|p| p.path().starts_with(&prefix))
            .map(live_instance_profile)
            .collect())
    }

    /// Whether a service-linked role for spot.amazonaws.com exists (found by its path, which is
    /// fixed, rather than by its name).
    async fn spot_role_exists(&self) -> Result<bool, SetupError> {
        if optional(
            self.iam
                .get_role()
                .role_name(SPOT_SLR_NAME)
                .send()
                .await
                .map_err(|e| sdk_error("iam:GetRole", e)),
        )?
        .is_some()
        {
            return Ok(true);
        }
        let prefix = format!("/aws-service-role/{SPOT_SERVICE}/");
        let roles = self
            .iam
            .list_roles()
            .path_prefix(&prefix)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("iam:ListRoles", e))?;
        Ok(roles.iter().any(|r| r.path() == prefix))
    }

    async fn read_oidc_providers(&self) -> Result<BTreeSet<String>, SetupError> {
        let out = self
            .iam
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| sdk_error("iam:ListOpenIDConnectProviders", e))?;
        Ok(out
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn().map(str::to_string))
            .collect())
    }

    async fn read_discovery_tags(
        &self,
        resources: &[String],
    ) -> Result<BTreeMap<String, Option<String>>, SetupError> {
        let mut tags: BTreeMap<String, Option<String>> =
            resources.iter().map(|r| (r.clone(), None)).collect();
        if resources.is_empty() {
            return Ok(tags);
        }
        let found = self
            .ec2
            .describe_tags()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("resource-id")
                    .set_values(Some(resources.to_vec()))
                    .build(),
            )
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("key")
                    .values(DISCOVERY_TAG)
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("ec2:DescribeTags", e))?;
        for t in found {
            if let (Some(id), Some(DISCOVERY_TAG)) = (t.resource_id(), t.key()) {
                if let Some(slot) = tags.get_mut(id) {
                    *slot = Some(t.value().unwrap_or_default().to_string());
                }
            }
        }
        Ok(tags)
    }

    async fn apply_op(&self, op: &Operation) -> Result<(), SetupError> {
        let a = op.api_action();
        match op {
            Operation::CreateRole { name, path, trust } => {
                self.iam
                    .create_role()
                    .role_name(name)
                    .path(path)
                    .assume_role_policy_document(trust.to_string())
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::UpdateTrust { role, trust } => {
                self.iam
                    .update_assume_role_policy()
                    .role_name(role)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::AttachRolePolicy { role, policy_arn } => {
                self.iam
                    .attach_role_policy()
                    .role_name(role)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DetachRolePolicy { role, policy_arn } => {
                self.iam
                    .detach_role_policy()
                    .role_name(role)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeleteRoleInlinePolicy { role, policy } => {
                self.iam
                    .delete_role_policy()
                    .role_name(role)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeleteRole { name } => {
                self.iam
                    .delete_role()
                    .role_name(name)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::CreatePolicy {
                name,
                path,
                document,
            } => {
                self.iam
                    .create_policy()
                    .policy_name(name)
                    .path(path)
                    .policy_document(document.to_string())
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeletePolicyVersion { arn, version } => {
                self.iam
                    .delete_policy_version()
                    .policy_arn(arn)
                    .version_id(version)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::CreatePolicyVersion { arn, document } => {
                self.iam
                    .create_policy_version()
                    .policy_arn(arn)
                    .policy_document(document.to_string())
                    .set_as_default(true)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeletePolicy { arn } => {
                self.iam
                    .delete_policy()
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::CreateInstanceProfile { name, path } => {
                self.iam
                    .create_instance_profile()
                    .instance_profile_name(name)
                    .path(path)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::AddRoleToInstanceProfile { profile, role } => {
                self.iam
                    .add_role_to_instance_profile()
                    .instance_profile_name(profile)
                    .role_name(role)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::RemoveRoleFromInstanceProfile { profile, role } => {
                self.iam
                    .remove_role_from_instance_profile()
                    .instance_profile_name(profile)
                    .role_name(role)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeleteInstanceProfile { name } => {
                self.iam
                    .delete_instance_profile()
                    .instance_profile_name(name)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::CreateQueue { name, attributes } => {
                self.sqs
                    .create_queue()
                    .queue_name(name)
                    .set_attributes(Some(sqs_attributes(attributes)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::SetQueueAttributes { name, attributes } => {
                let url = self.queue_url(name).await?;
                self.sqs
                    .set_queue_attributes()
                    .queue_url(url)
                    .set_attributes(Some(sqs_attributes(attributes)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeleteQueue { name } => {
                let url = self.queue_url(name).await?;
                self.sqs
                    .delete_queue()
                    .queue_url(url)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::PutRule {
                name,
                pattern,
                description,
            } => {
                self.events
                    .put_rule()
                    .name(name)
                    .event_pattern(pattern.to_string())
                    .state(RuleState::Enabled)
                    .description(description)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::PutTargets { rule, targets } => {
                let mut req = self.events.put_targets().rule(rule);
                for t in targets {
                    let target = aws_sdk_eventbridge::types::Target::builder()
                        .id(&t.id)
                        .arn(&t.arn)
                        .build()
                        .map_err(|e| SetupError::Aws {
                            action: a.into(),
                            message: e.to_string(),
                        })?;
                    req = req.targets(target);
                }
                let out = req.send().await.map_err(|e| sdk_error(a, e))?;
                if let Some(entry) = out.failed_entries().first() {
                    return Err(SetupError::Aws {
                        action: a.into(),
                        message: format!(
                            "target {} of rule {rule}: {} {}",
                            entry.target_id().unwrap_or("?"),
                            entry.error_code().unwrap_or(""),
                            entry.error_message().unwrap_or("")
                        ),
                    });
                }
            }
            Operation::RemoveTargets { rule, ids } => {
                self.events
                    .remove_targets()
                    .rule(rule)
                    .set_ids(Some(ids.clone()))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeleteRule { name } => {
                self.events
                    .delete_rule()
                    .name(name)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::CreateOidcProvider { issuer } => {
                self.iam
                    .create_open_id_connect_provider()
                    .url(format!("https://{issuer}"))
                    .client_id_list("sts.amazonaws.com")
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::CreateServiceLinkedRole { service } => {
                match self
                    .iam
                    .create_service_linked_role()
                    .aws_service_name(service)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))
                {
                    // "has been taken in this account": it already exists.
                    Err(SetupError::Aws { message, .. }) if message.contains("has been taken") => {}
                    other => {
                        other?;
                    }
                }
            }
            Operation::CreateTags {
                resources,
                key,
                value,
            } => {
                self.ec2
                    .create_tags()
                    .set_resources(Some(resources.clone()))
                    .tags(ec2_tag(key, value))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeleteTags {
                resources,
                key,
                value,
            } => {
                self.ec2
                    .delete_tags()
                    .set_resources(Some(resources.clone()))
                    .tags(ec2_tag(key, value))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::CreatePodIdentityAssociation {
                cluster,
                namespace,
                service_account,
                role_arn,
            } => {
                self.eks
                    .create_pod_identity_association()
                    .cluster_name(cluster)
                    .namespace(namespace)
                    .service_account(service_account)
                    .role_arn(role_arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::UpdatePodIdentityAssociation {
                cluster,
                id,
                role_arn,
            } => {
                self.eks
                    .update_pod_identity_association()
                    .cluster_name(cluster)
                    .association_id(id)
                    .role_arn(role_arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeletePodIdentityAssociation { cluster, id } => {
                self.eks
                    .delete_pod_identity_association()
                    .cluster_name(cluster)
                    .association_id(id)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::CreateAccessEntry {
                cluster,
                principal_arn,
                kind,
            } => {
                self.eks
                    .create_access_entry()
                    .cluster_name(cluster)
                    .principal_arn(principal_arn)
                    .r#type(kind)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::DeleteAccessEntry {
                cluster,
                principal_arn,
            } => {
                self.eks
                    .delete_access_entry()
                    .cluster_name(cluster)
                    .principal_arn(principal_arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::WriteAwsAuth { .. } => {
                return Err(SetupError::Unsupported {
                    what: "editing kube-system/aws-auth needs a Kubernetes client".into(),
                    hint: "wrap the AWS adapter in setup::aws_auth::KubeAwsAuth".into(),
                })
            }
            Operation::DeleteLaunchTemplate { id, .. } => {
                self.ec2
                    .delete_launch_template()
                    .launch_template_id(id)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
        }
        Ok(())
    }
}

fn live_instance_profile(p: &aws_sdk_iam::types::InstanceProfile) -> LiveInstanceProfile {
    LiveInstanceProfile {
        name: p.instance_profile_name().to_string(),
        path: p.path().to_string(),
        roles: p
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect(),
    }
}

fn ec2_tag(key: &str, value: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
}

fn sqs_attributes(attrs: &BTreeMap<String, String>) -> HashMap<QueueAttributeName, String> {
    attrs
        .iter()
        .map(|(k, v)| (QueueAttributeName::from(k.as_str()), v.clone()))
        .collect()
}

impl Live for AwsLive {
    async fn read(&self, desired: &Desired, scope: ReadScope) -> Result<LiveState, SetupError> {
        let mut state = LiveState::default();
        if let Some(r) = self.read_role(&desired.node_role.name).await? {
            state.roles.insert(r.name.clone(), r);
        }
        for p in &desired.controller_policies {
            if let Some(l) = self.read_policy(&p.name, &p.arn).await? {
                state.policies.insert(p.name.clone(), l);
            }
        }
        if let Some(p) = self
            .read_instance_profile(&desired.node_instance_profile.name)
            .await?
        {
            state.instance_profiles.insert(p.name.clone(), p);
        }
        state.queue = self.read_queue(&desired.queue.name).await?;
        for r in &desired.rules {
            if let Some(l) = self.read_rule(&r.name).await? {
                state.rules.insert(r.name.clone(), l);
            }
        }
        let controller = match (&desired.controller_role, scope) {
            (Some(r), _) => Some(r.name.clone()),
            (None, ReadScope::Teardown) => Some(desired.controller_role_name()),
            (None, ReadScope::Setup) => None,
        };
        if let Some(name) = controller {
            if let Some(r) = self.read_role(&name).await? {
                state.roles.insert(r.name.clone(), r);
            }
        }
        if desired.oidc_provider.is_some() {
            state.oidc_providers = self.read_oidc_providers().await?;
        }
        if desired.spot_service_linked_role {
            state.spot_service_linked_role = Some(self.spot_role_exists().await?);
        }
        state.discovery_tags = self
            .read_discovery_tags(&desired.discovery_resources)
            .await?;
        if scope == ReadScope::Teardown {
            let cluster = desired.target.cluster.as_str();
            state.launch_templates = self.read_launch_templates(cluster).await?;
            state.karpenter_instance_profiles = self
                .read_karpenter_profiles(&desired.target.region, cluster)
                .await?;
        }
        Ok(state)
    }

    async fn cluster(&self, name: &str) -> Result<Option<ClusterFacts>, SetupError> {
        let out = optional(
            self.eks
                .describe_cluster()
                .name(name)
                .send()
                .await
                .map_err(|e| sdk_error("eks:DescribeCluster", e)),
        )?;
        let Some(cluster) = out.and_then(|o| o.cluster) else {
            return Ok(None);
        };
        let vpc = cluster.resources_vpc_config();
        let mut security_group_ids: Vec<String> = vpc
            .and_then(|v| v.cluster_security_group_id())
            .into_iter()
            .map(str::to_string)
            .collect();
        security_group_ids.extend(
            vpc.map(|v| v.security_group_ids().to_vec())
                .unwrap_or_default(),
        );
        // An add-on listing that is not there (an API without add-ons) means none installed.
        let addons = optional(
            self.eks
                .list_addons()
                .cluster_name(name)
                .send()
                .await
                .map_err(|e| sdk_error("eks:ListAddons", e)),
        )?
        .map(|o| o.addons().to_vec())
        .unwrap_or_default();
        Ok(Some(ClusterFacts {
            name: name.to_string(),
            endpoint: cluster.endpoint().map(str::to_string),
            oidc_issuer: cluster
                .identity()
                .and_then(|i| i.oidc())
                .and_then(|o| o.issuer())
                .map(str::to_string),
            vpc_id: vpc.and_then(|v| v.vpc_id()).map(str::to_string),
            subnet_ids: vpc.map(|v| v.subnet_ids().to_vec()).unwrap_or_default(),
            security_group_ids,
            authentication_mode: cluster
                .access_config()
                .and_then(|a| a.authentication_mode())
                .map(|m| m.as_str().to_string()),
            addons,
        }))
    }

    async fn read_eks(&self, desired: &Desired) -> Result<EksState, SetupError> {
        let cluster = desired.target.cluster.as_str();
        let mut state = EksState::default();
        if let Some(pi) = &desired.pod_identity {
            // NotFound: the cluster (or this API, on an EKS-compatible endpoint) is not there.
            let summaries = optional(
                self.eks
                    .list_pod_identity_associations()
                    .cluster_name(cluster)
                    .namespace(&pi.namespace)
                    .service_account(&pi.service_account)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| sdk_error("eks:ListPodIdentityAssociations", e)),
            )?
            .unwrap_or_default();
            for s in summaries {
                let Some(id) = s.association_id() else {
                    continue;
                };
                let d = self
                    .eks
                    .describe_pod_identity_association()
                    .cluster_name(cluster)
                    .association_id(id)
                    .send()
                    .await
                    .map_err(|e| sdk_error("eks:DescribePodIdentityAssociation", e))?;
                let a = d.association();
                state
                    .pod_identity_associations
                    .push(LivePodIdentityAssociation {
                        id: id.to_string(),
                        namespace: s.namespace().unwrap_or_default().to_string(),
                        service_account: s.service_account().unwrap_or_default().to_string(),
                        role_arn: a.and_then(|a| a.role_arn()).unwrap_or_default().to_string(),
                    });
            }
        }
        if let Some(ae) = &desired.access_entry {
            let out = optional(
                self.eks
                    .describe_access_entry()
                    .cluster_name(cluster)
                    .principal_arn(&ae.principal_arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error("eks:DescribeAccessEntry", e)),
            )?;
            state.access_entry = out.and_then(|o| o.access_entry).map(|e| LiveAccessEntry {
                principal_arn: e.principal_arn().unwrap_or_default().to_string(),
                kind: e.r#type().unwrap_or_default().to_string(),
            });
        }
        Ok(state)
    }

    async fn apply(&self, op: &Operation) -> Result<(), SetupError> {
        self.apply_op(op).await
    }
}

impl AwsLive {
    /// Poll CloudFormation every `poll` while waiting (tests use a short interval).
    pub fn with_poll_interval(mut self, poll: std::time::Duration) -> Self {
        self.poll = poll;
        self
    }

    async fn stack_status(&self, name: &str) -> Result<Option<(String, Vec<String>)>, SetupError> {
        let out = optional(
            self.cfn
                .describe_stacks()
                .stack_name(name)
                .send()
                .await
                .map_err(|e| sdk_error("cloudformation:DescribeStacks", e)),
        )?;
        Ok(out
            .and_then(|o| o.stacks.and_then(|s| s.into_iter().next()))
            .map(|s| {
                (
                    s.stack_status()
                        .map(|st| st.as_str().to_string())
                        .unwrap_or_default(),
                    s.parameters()
                        .iter()
                        .filter_map(|p| p.parameter_key().map(str::to_string))
                        .collect(),
                )
            }))
    }

    /// Wait until the stack leaves `*_IN_PROGRESS`; returns the final status (`None`: gone).
    async fn wait_stack(&self, name: &str) -> Result<Option<String>, SetupError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30 * 60);
        loop {
            let status = self.stack_status(name).await?.map(|(s, _)| s);
            match &status {
                Some(s) if s.ends_with("_IN_PROGRESS") => {}
                _ => return Ok(status),
            }
            if std::time::Instant::now() > deadline {
                return Err(SetupError::Aws {
                    action: "cloudformation:DescribeStacks".into(),
                    message: format!("stack {name} is still {status:?} after 30 minutes"),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// Whether a stack may be deleted after the update that sets `DeletionPolicy: Retain`: an update
/// that was made must have completed (`UPDATE_ROLLBACK_COMPLETE` means it was undone and
/// nothing is retained); with nothing to update the template already retains everything, so
/// any settled state an earlier change left is fine. A stack that is gone needs no delete.
fn retained_after_update(updated: bool, status: Option<&str>) -> bool {
    match status {
        None => true,
        Some(s) if updated => s == "UPDATE_COMPLETE",
        Some(s) => matches!(
            s,
            "UPDATE_COMPLETE" | "CREATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE"
        ),
    }
}

impl Stacks for AwsLive {
    async fn describe_stack(&self, name: &str) -> Result<Option<StackInfo>, SetupError> {
        let Some((status, _)) = self.stack_status(name).await? else {
            return Ok(None);
        };
        let out = self
            .cfn
            .describe_stack_resources()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:DescribeStackResources", e))?;
        let resources = out
            .stack_resources()
            .iter()
            .filter_map(|r| {
                Some(StackResource {
                    logical_id: r.logical_resource_id()?.to_string(),
                    resource_type: r.resource_type().unwrap_or_default().to_string(),
                    physical_id: r.physical_resource_id().unwrap_or_default().to_string(),
                })
            })
            .collect();
        Ok(Some(StackInfo {
            name: name.to_string(),
            status,
            resources,
        }))
    }

    async fn retain_and_delete(&self, name: &str) -> Result<(), SetupError> {
        let Some((_, parameters)) = self.stack_status(name).await? else {
            return Err(SetupError::NotFound {
                action: "cloudformation:DescribeStacks".into(),
                message: format!("stack {name} does not exist"),
            });
        };
        let body = self
            .cfn
            .get_template()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:GetTemplate", e))?
            .template_body
            .ok_or_else(|| SetupError::Malformed {
                what: format!("the template of stack {name}"),
                message: "GetTemplate returned no body".into(),
            })?;
        let retained = retain_template(&body)?;
        let mut update = self
            .cfn
            .update_stack()
            .stack_name(name)
            .template_body(retained)
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam);
        for key in parameters {
            update = update.parameters(
                aws_sdk_cloudformation::types::Parameter::builder()
                    .parameter_key(key)
                    .use_previous_value(true)
                    .build(),
            );
        }
        let updated = match update
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:UpdateStack", e))
        {
            Ok(_) => true,
            // Already retained by an earlier, interrupted run.
            Err(SetupError::Aws { message, .. })
                if message.contains("No updates are to be performed") =>
            {
                false
            }
            Err(e) => return Err(e),
        };
        match self.wait_stack(name).await?.as_deref() {
            status if retained_after_update(updated, status) => {}
            status => {
                let other = status.unwrap_or("unknown");
                return Err(SetupError::Aws {
                    action: "cloudformation:UpdateStack".into(),
                    message: format!(
                        "stack {name} ended in {other} while setting DeletionPolicy: Retain; nothing was deleted"
                    ),
                });
            }
        }
        self.cfn
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:DeleteStack", e))?;
        match self.wait_stack(name).await?.as_deref() {
            None | Some("DELETE_COMPLETE") => Ok(()),
            Some(other) => Err(SetupError::Aws {
                action: "cloudformation:DeleteStack".into(),
                message: format!("stack {name} ended in {other}"),
            }),
        }
    }

    async fn rules_targeting(&self, arn: &str) -> Result<Vec<String>, SetupError> {
        let mut names = vec![];
        let mut token: Option<String> = None;
        loop {
            let out = self
                .events
                .list_rule_names_by_target()
                .target_arn(arn)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error("events:ListRuleNamesByTarget", e))?;
            names.extend(out.rule_names().iter().cloned());
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(names);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retained_after_update;

    #[test]
    fn a_rolled_back_retain_update_stops_the_stack_deletion() {
        assert!(retained_after_update(true, Some("UPDATE_COMPLETE")));
        assert!(
            !retained_after_update(true, Some("UPDATE_ROLLBACK_COMPLETE")),
            "the Retain policies were rolled back: deleting the stack would delete the resources"
        );
        assert!(!retained_after_update(true, Some("UPDATE_FAILED")));
        // nothing to update: an earlier run already retained everything
        assert!(retained_after_update(
            false,
            Some("UPDATE_ROLLBACK_COMPLETE")
        ));
        assert!(retained_after_update(false, Some("CREATE_COMPLETE")));
        assert!(!retained_after_update(false, Some("ROLLBACK_COMPLETE")));
        assert!(retained_after_update(true, None));
    }
}
