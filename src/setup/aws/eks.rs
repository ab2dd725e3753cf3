//! EKS: the cluster's facts, Pod Identity associations and access entries.
use super::{misrouted, optional, sdk_error, AwsLive};
use crate::setup::cluster::ClusterFacts;
use crate::setup::desired::Desired;
use crate::setup::live::{EksState, LiveAccessEntry, LivePodIdentityAssociation, Operation};
use crate::setup::SetupError;

impl AwsLive {
    /// What eks:DescribeCluster (and ListAddons) says about the cluster; `None` if it does not exist.
    pub(super) async fn cluster_facts(
        &self,
        name: &str,
    ) -> Result<Option<ClusterFacts>, SetupError> {
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

    /// Read the EKS state `desired` names (Pod Identity associations, the node access entry).
    pub(super) async fn read_eks_state(&self, desired: &Desired) -> Result<EksState, SetupError> {
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

    /// Apply one eks operation.
    pub(super) async fn apply_eks(&self, op: &Operation) -> Result<(), SetupError> {
        let a = op.api_action();
        match op {
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
            other => return Err(misrouted("eks", other)),
        }
        Ok(())
    }
}
