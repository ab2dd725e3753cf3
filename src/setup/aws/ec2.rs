//! EC2: Karpenter's launch templates and the cluster's instances (teardown), and the
//! `karpenter.sh/discovery` tags.
use std::collections::{BTreeMap, BTreeSet};

use super::{misrouted, sdk_error, AwsLive};
use crate::setup::desired::DISCOVERY_TAG;
use crate::setup::live::{LiveInstance, LiveLaunchTemplate, Operation};
use crate::setup::SetupError;

impl AwsLive {
    /// Instances tagged for the cluster that are not terminated: Karpenter's (and EKS node
    /// groups') carry `kubernetes.io/cluster/<C>=owned`; Karpenter v1 adds `eks:eks-cluster-name`.
    pub(super) async fn read_cluster_instances(
        &self,
        cluster: &str,
    ) -> Result<Vec<LiveInstance>, SetupError> {
        let mut found = BTreeSet::new();
        for (key, value) in [
            (format!("kubernetes.io/cluster/{cluster}"), "owned"),
            ("eks:eks-cluster-name".to_string(), cluster),
        ] {
            let instances = self
                .ec2
                .describe_instances()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name(format!("tag:{key}"))
                        .values(value)
                        .build(),
                )
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("instance-state-name")
                        .set_values(Some(
                            ["pending", "running", "stopping", "stopped"]
                                .map(String::from)
                                .to_vec(),
                        ))
                        .build(),
                )
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| sdk_error("ec2:DescribeInstances", e))?;
            for r in instances {
                for i in r.instances() {
                    let Some(id) = i.instance_id() else { continue };
                    found.insert(LiveInstance {
                        id: id.to_string(),
                        state: i
                            .state()
                            .and_then(|s| s.name())
                            .map(|n| n.as_str().to_string())
                            .unwrap_or_default(),
                        instance_profile: i
                            .iam_instance_profile()
                            .and_then(|p| p.arn())
                            .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_string()),
                    });
                }
            }
        }
        Ok(found.into_iter().collect())
    }

    pub(super) async fn read_launch_templates(
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

    pub(super) async fn read_discovery_tags(
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

    /// Apply one ec2 operation.
    pub(super) async fn apply_ec2(&self, op: &Operation) -> Result<(), SetupError> {
        let a = op.api_action();
        match op {
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
            Operation::DeleteLaunchTemplate { id, .. } => {
                self.ec2
                    .delete_launch_template()
                    .launch_template_id(id)
                    .send()
                    .await
                    .map_err(|e| sdk_error(a, e))?;
            }
            other => return Err(misrouted("ec2", other)),
        }
        Ok(())
    }
}

fn ec2_tag(key: &str, value: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
}
