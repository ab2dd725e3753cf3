//! What `run` discovers from AWS when only the cluster name and region are given (upstream
//! karpenter-provider-aws `pkg/operator/operator.go`: the cluster endpoint from
//! `eks:DescribeCluster` when `CLUSTER_ENDPOINT` is unset; the CA bundle and Kubernetes version
//! likewise; the interruption queue by name with `sqs:GetQueueUrl`).
use super::{classify, AwsContext, AwsError};
use crate::cloud::aws::provider::ClusterInfo;

/// Overrides the caller already has (flags, environment); discovery fills the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownCluster {
    /// `CLUSTER_ENDPOINT`.
    pub endpoint: Option<String>,
    /// `CLUSTER_CA_BUNDLE` (base64).
    pub ca_bundle: Option<String>,
    /// The Kubernetes minor version (`1.31`), e.g. from the API server's `/version`.
    pub kubernetes_version: Option<String>,
}

/// The cluster's facts from `eks:DescribeCluster`, with `known` winning where set.
pub async fn describe_cluster(
    ctx: &AwsContext,
    name: &str,
    known: &KnownCluster,
) -> Result<ClusterInfo, AwsError> {
    let out = ctx
        .eks()
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(|e| classify("eks:DescribeCluster", e))?;
    let c = out.cluster();
    let endpoint = known
        .endpoint
        .clone()
        .or_else(|| c.and_then(|c| c.endpoint()).map(str::to_string))
        .unwrap_or_default();
    let ca_bundle = known
        .ca_bundle
        .clone()
        .or_else(|| {
            c.and_then(|c| c.certificate_authority())
                .and_then(|a| a.data())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let kubernetes_version = known
        .kubernetes_version
        .clone()
        .or_else(|| c.and_then(|c| c.version()).map(str::to_string))
        .unwrap_or_default();
    let service_cidr = c
        .and_then(|c| c.kubernetes_network_config())
        .and_then(|n| n.service_ipv4_cidr())
        .map(str::to_string);
    let cluster_dns = service_cidr.as_deref().and_then(cluster_dns);
    Ok(ClusterInfo {
        name: name.to_string(),
        endpoint,
        ca_bundle,
        service_cidr,
        cluster_dns,
        kubernetes_version,
    })
}

/// The cluster DNS address EKS uses: the service CIDR's tenth address (`10.100.0.0/16` →
/// `10.100.0.10`). IPv4 only.
pub fn cluster_dns(service_cidr: &str) -> Option<String> {
    let (base, _) = service_cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = base.parse().ok()?;
    let n = u32::from(ip).checked_add(10)?;
    Some(std::net::Ipv4Addr::from(n).to_string())
}

/// The URL of the queue named `name`, or `None` when no such queue exists.
pub async fn queue_url(ctx: &AwsContext, name: &str) -> Result<Option<String>, AwsError> {
    match ctx.sqs().get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url().map(str::to_string)),
        Err(e) => {
            let e = classify("sqs:GetQueueUrl", e);
            let missing = e.is_not_found()
                || e.code().is_some_and(|c| {
                    c.contains("NonExistentQueue") || c.contains("QueueDoesNotExist")
                });
            if missing {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_dns_is_the_tenth_address_of_the_service_cidr() {
        assert_eq!(cluster_dns("10.100.0.0/16").as_deref(), Some("10.100.0.10"));
        assert_eq!(cluster_dns("172.20.0.0/16").as_deref(), Some("172.20.0.10"));
        assert_eq!(cluster_dns("fd00::/108"), None);
    }
}
