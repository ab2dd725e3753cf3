//! IAM: roles, customer managed policies, instance profiles, the OIDC provider and the spot
//! service-linked role.
use std::collections::BTreeSet;

use aws_sdk_iam::error::ProvideErrorMetadata;

use super::{document, misrouted, optional, sdk_error, AwsLive};
use crate::setup::desired::{Tags, SPOT_SERVICE};
use crate::setup::live::{LiveInstanceProfile, LivePolicy, LiveRole, Operation, TagTarget};
use crate::setup::plan::SPOT_SLR_NAME;
use crate::setup::SetupError;

impl AwsLive {
    pub(super) async fn read_role(&self, name: &str) -> Result<Option<LiveRole>, SetupError> {
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
            // GetRole returns the role's tags.
            tags: tags_of(role.tags()),
        }))
    }

    pub(super) async fn read_policy(
        &self,
        name: &str,
        arn: &str,
    ) -> Result<Option<LivePolicy>, SetupError> {
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
            // GetPolicy returns the policy's tags.
            tags: tags_of(policy.tags()),
        }))
    }

    pub(super) async fn read_instance_profile(
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

    pub(super) async fn read_karpenter_profiles(
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
    pub(super) async fn spot_role_exists(&self) -> Result<bool, SetupError> {
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

    pub(super) async fn read_oidc_providers(&self) -> Result<BTreeSet<String>, SetupError> {
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

    /// The tags of the OIDC provider `arn` (`iam:GetOpenIDConnectProvider`).
    pub(super) async fn read_oidc_provider_tags(&self, arn: &str) -> Result<Tags, SetupError> {
        let out = self
            .iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_error("iam:GetOpenIDConnectProvider", e))?;
        Ok(tags_of(out.tags()))
    }

    /// Apply one iam operation.
    pub(super) async fn apply_iam(&self, op: &Operation) -> Result<(), SetupError> {
        let a = op.api_action();
        match op {
            Operation::CreateRole {
                name,
                path,
                trust,
                tags,
            } => {
                self.iam
                    .create_role()
                    .role_name(name)
                    .path(path)
                    .assume_role_policy_document(trust.to_string())
                    .set_tags(Some(iam_tags(tags)))
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
                tags,
            } => {
                self.iam
                    .create_policy()
                    .policy_name(name)
                    .path(path)
                    .policy_document(document.to_string())
                    .set_tags(Some(iam_tags(tags)))
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
            Operation::CreateInstanceProfile { name, path, tags } => {
                self.iam
                    .create_instance_profile()
                    .instance_profile_name(name)
                    .path(path)
                    .set_tags(Some(iam_tags(tags)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::AddRoleToInstanceProfile { profile, role } => {
                let sent = self
                    .iam
                    .add_role_to_instance_profile()
                    .instance_profile_name(profile)
                    .role_name(role)
                    .send()
                    .await;
                if let Err(e) = sent {
                    // A profile holds one role, so a retried request whose first attempt
                    // succeeded (the response lost with its connection) answers
                    // LimitExceeded. That is success when the role in it is ours.
                    let limit =
                        e.as_service_error().and_then(|s| s.code()) == Some("LimitExceeded");
                    let ours = limit
                        && self
                            .read_instance_profile(profile)
                            .await?
                            .is_some_and(|p| p.roles.iter().any(|r| r == role));
                    if !ours {
                        return Err(sdk_error(a, e));
                    }
                }
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
            Operation::CreateOidcProvider { issuer, tags } => {
                self.iam
                    .create_open_id_connect_provider()
                    .url(format!("https://{issuer}"))
                    .client_id_list("sts.amazonaws.com")
                    .set_tags(Some(iam_tags(tags)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::Tag {
                resource: TagTarget::Role(name),
                tags,
            } => {
                self.iam
                    .tag_role()
                    .role_name(name)
                    .set_tags(Some(iam_tags(tags)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::Tag {
                resource: TagTarget::Policy(arn),
                tags,
            } => {
                self.iam
                    .tag_policy()
                    .policy_arn(arn)
                    .set_tags(Some(iam_tags(tags)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::Tag {
                resource: TagTarget::InstanceProfile(name),
                tags,
            } => {
                self.iam
                    .tag_instance_profile()
                    .instance_profile_name(name)
                    .set_tags(Some(iam_tags(tags)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            Operation::Tag {
                resource: TagTarget::OidcProvider(arn),
                tags,
            } => {
                self.iam
                    .tag_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .set_tags(Some(iam_tags(tags)))
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
            other => return Err(misrouted("iam", other)),
        }
        Ok(())
    }
}

fn iam_tags(tags: &Tags) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
}

fn tags_of(tags: &[aws_sdk_iam::types::Tag]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
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
        // GetInstanceProfile returns the tags (ListInstanceProfiles does not; those profiles are
        // Karpenter's and are found by path). Reading them this way also avoids
        // iam:ListInstanceProfileTags, which moto 5.2 does not implement (HTTP 500).
        tags: tags_of(p.tags()),
    }
}
