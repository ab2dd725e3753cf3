//! EC2NodeClass resolution: subnets, security groups and AMIs from selector terms
//! (karpenter-aws.md §5, §6), as pure functions over described resources plus a thin adapter.
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter as Ec2Filter;
use k8s_openapi::api::core::v1::NodeSelectorRequirement;
use karpenter_api::aws::v1::{EC2NodeClass, EC2NodeClassStatus};
use karpenter_api::common::{Ami, SecurityGroup, Subnet};
use karpenter_scheduling::instancetype::{AmiFamily, OverheadOptions};
use karpenter_scheduling::{labels, InstanceType};

use crate::cloud::aws::{classify, AwsContext, AwsError};

/// A DescribeXxx filter (`Name` + `Values`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Filter {
    /// Filter name, e.g. `tag:karpenter.sh/discovery` or `subnet-id`.
    pub name: String,
    /// Values.
    pub values: Vec<String>,
}

impl Filter {
    fn new(name: impl Into<String>, values: impl IntoIterator<Item = String>) -> Self {
        Filter {
            name: name.into(),
            values: values.into_iter().collect(),
        }
    }

    fn to_ec2(&self) -> Ec2Filter {
        Ec2Filter::builder()
            .name(&self.name)
            .set_values(Some(self.values.clone()))
            .build()
    }
}

/// Errors resolving an EC2NodeClass.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A selector term or field is invalid.
    #[error("EC2NodeClass {nodeclass}: {message}")]
    Invalid {
        /// The EC2NodeClass name.
        nodeclass: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Selectors matched nothing.
    #[error("EC2NodeClass {nodeclass}: {what} matched nothing; check the selector terms and the tags on your resources")]
    NothingSelected {
        /// The EC2NodeClass name.
        nodeclass: String,
        /// `spec.subnetSelectorTerms`, ...
        what: String,
    },
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

fn tag_filters(tags: &BTreeMap<String, String>) -> Vec<Filter> {
    tags.iter()
        .map(|(k, v)| {
            if v == "*" {
                Filter::new("tag-key", [k.clone()])
            } else {
                Filter::new(format!("tag:{k}"), [v.clone()])
            }
        })
        .collect()
}

/// The DescribeSubnets queries for `spec.subnetSelectorTerms`: ids pooled into one `subnet-id`
/// query, one query per tag term (`*` values become `tag-key`).
pub fn subnet_queries(nc: &EC2NodeClass) -> Vec<Vec<Filter>> {
    let mut ids = Vec::new();
    let mut queries = Vec::new();
    for t in &nc.spec.subnet_selector_terms {
        if let Some(id) = &t.id {
            ids.push(id.clone());
        } else if let Some(tags) = &t.tags {
            queries.push(tag_filters(tags));
        }
    }
    if !ids.is_empty() {
        queries.insert(0, vec![Filter::new("subnet-id", ids)]);
    }
    queries
}

/// The DescribeSecurityGroups queries for `spec.securityGroupSelectorTerms`.
pub fn security_group_queries(nc: &EC2NodeClass) -> Vec<Vec<Filter>> {
    let mut ids = Vec::new();
    let mut queries = Vec::new();
    for t in &nc.spec.security_group_selector_terms {
        if let Some(id) = &t.id {
            ids.push(id.clone());
            continue;
        }
        // `name` and `tags` in one term must both match (a name alone is only unique per VPC).
        let mut q: Vec<Filter> = t
            .name
            .iter()
            .map(|n| Filter::new("group-name", [n.clone()]))
            .collect();
        if let Some(tags) = &t.tags {
            q.extend(tag_filters(tags));
        }
        if !q.is_empty() {
            queries.push(q);
        }
    }
    if !ids.is_empty() {
        queries.insert(0, vec![Filter::new("group-id", ids)]);
    }
    queries
}

/// A subnet as DescribeSubnets reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedSubnet {
    /// Subnet id.
    pub id: String,
    /// Availability zone.
    pub zone: String,
    /// Zone id.
    pub zone_id: Option<String>,
    /// Free IPv4 addresses.
    pub available_ips: i32,
}

/// De-duplicate and order subnets as the status lists them: most free IPs first, then id.
pub fn select_subnets(found: Vec<DescribedSubnet>) -> Vec<DescribedSubnet> {
    let mut by_id: BTreeMap<String, DescribedSubnet> = BTreeMap::new();
    for s in found {
        by_id.insert(s.id.clone(), s);
    }
    let mut v: Vec<_> = by_id.into_values().collect();
    v.sort_by(|a, b| {
        b.available_ips
            .cmp(&a.available_ips)
            .then_with(|| a.id.cmp(&b.id))
    });
    v
}

/// The subnet used per zone at launch: the one with the most free IPs.
pub fn subnet_per_zone(subnets: &[DescribedSubnet]) -> BTreeMap<String, DescribedSubnet> {
    let mut m: BTreeMap<String, DescribedSubnet> = BTreeMap::new();
    for s in subnets {
        match m.get(&s.zone) {
            Some(cur) if cur.available_ips >= s.available_ips => {}
            _ => {
                m.insert(s.zone.clone(), s.clone());
            }
        }
    }
    m
}

pub use karpenter_state::nodeclass::{parse_alias, Alias};

/// An SSM parameter an alias resolves through, with the instance-type requirements of its AMI.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasParameter {
    /// The parameter name.
    pub name: String,
    /// Requirements of the AMI it names.
    pub requirements: Vec<NodeSelectorRequirement>,
}

fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.to_string(),
        operator: op.to_string(),
        values: if values.is_empty() {
            None
        } else {
            Some(values.iter().map(|v| v.to_string()).collect())
        },
    }
}

use karpenter_api::labels::{
    INSTANCE_ACCELERATOR_COUNT as ACCELERATOR_COUNT, INSTANCE_GPU_COUNT as GPU_COUNT,
};

fn variant_reqs(arch: &str, variant: &str) -> Vec<NodeSelectorRequirement> {
    let mut r = vec![req(labels::ARCH, "In", &[arch])];
    match variant {
        "nvidia" => r.push(req(GPU_COUNT, "Exists", &[])),
        "neuron" => r.push(req(ACCELERATOR_COUNT, "Exists", &[])),
        _ => {
            r.push(req(GPU_COUNT, "DoesNotExist", &[]));
            r.push(req(ACCELERATOR_COUNT, "DoesNotExist", &[]));
        }
    }
    r
}

/// The SSM parameters for an alias on Kubernetes `k8s` (karpenter-aws.md §5).
pub fn alias_parameters(alias: &Alias, k8s: &str) -> Result<Vec<AliasParameter>, String> {
    let mut out = Vec::new();
    let latest = alias.version == "latest";
    match alias.family {
        AmiFamily::AL2023 => {
            for (arch, sarch) in [("amd64", "x86_64"), ("arm64", "arm64")] {
                for variant in ["standard", "nvidia", "neuron"] {
                    if sarch == "arm64" && variant == "neuron" {
                        continue;
                    }
                    let leaf = if latest {
                        "recommended".to_string()
                    } else {
                        format!(
                            "amazon-eks-node-al2023-{sarch}-{variant}-{k8s}-{}",
                            alias.version
                        )
                    };
                    out.push(AliasParameter {
                        name: format!(
                            "/aws/service/eks/optimized-ami/{k8s}/amazon-linux-2023/{sarch}/{variant}/{leaf}/image_id"
                        ),
                        requirements: variant_reqs(arch, variant),
                    });
                }
            }
        }
        AmiFamily::AL2 => {
            let minor = k8s
                .split('.')
                .nth(1)
                .and_then(|m| m.parse::<u32>().ok())
                .unwrap_or(0);
            if k8s.starts_with("1.") && minor >= 33 {
                return Err(format!(
                    "AL2 aliases are refused on Kubernetes {k8s} (>= 1.33): use al2023@latest"
                ));
            }
            for (path, name_prefix, arch, variant) in [
                ("amazon-linux-2", "amazon-eks-node", "amd64", "standard"),
                (
                    "amazon-linux-2-arm64",
                    "amazon-eks-arm64-node",
                    "arm64",
                    "standard",
                ),
                (
                    "amazon-linux-2-gpu",
                    "amazon-eks-gpu-node",
                    "amd64",
                    "nvidia",
                ),
                (
                    "amazon-linux-2-gpu",
                    "amazon-eks-gpu-node",
                    "amd64",
                    "neuron",
                ),
            ] {
                let leaf = if latest {
                    "recommended".to_string()
                } else {
                    format!("{name_prefix}-{k8s}-{}", alias.version)
                };
                out.push(AliasParameter {
                    name: format!("/aws/service/eks/optimized-ami/{k8s}/{path}/{leaf}/image_id"),
                    requirements: variant_reqs(arch, variant),
                });
            }
        }
        AmiFamily::Bottlerocket => {
            let version = alias.version.trim_start_matches('v');
            for (arch, sarch) in [("amd64", "x86_64"), ("arm64", "arm64")] {
                for (suffix, variant) in [("", "standard"), ("-nvidia", "nvidia")] {
                    out.push(AliasParameter {
                        name: format!(
                            "/aws/service/bottlerocket/aws-k8s-{k8s}{suffix}/{sarch}/{version}/image_id"
                        ),
                        requirements: variant_reqs(arch, variant),
                    });
                }
            }
        }
        AmiFamily::Windows => {
            return Err("Windows families are not supported by this build".into());
        }
        AmiFamily::Custom => {
            return Err("no alias parameters for this family".into());
        }
    }
    Ok(out)
}

/// An image as DescribeImages reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedImage {
    /// AMI id.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// `x86_64` or `arm64`.
    pub architecture: Option<String>,
    /// ISO-8601 creation date.
    pub creation_date: Option<String>,
    /// Deprecated (deprecation time in the past).
    pub deprecated: bool,
}

/// An AMI with the requirements it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedAmi {
    /// The image.
    pub image: DescribedImage,
    /// Instance-type requirements.
    pub requirements: Vec<NodeSelectorRequirement>,
}

impl ResolvedAmi {
    /// The status entry.
    pub fn to_status(&self) -> Ami {
        Ami {
            id: self.image.id.clone(),
            name: self.image.name.clone(),
            deprecated: self.image.deprecated.then_some(true),
            requirements: self.requirements.clone(),
        }
    }

    /// Whether `it` satisfies this AMI's requirements
    /// ([`karpenter_state::nodeclass::ami_compatible`]).
    pub fn compatible(&self, it: &InstanceType) -> bool {
        karpenter_state::nodeclass::ami_compatible(&self.requirements, it)
    }
}

/// Requirements for an image found by id/name/tags: its architecture.
pub fn image_requirements(img: &DescribedImage) -> Vec<NodeSelectorRequirement> {
    match img.architecture.as_deref() {
        Some("arm64") => vec![req(labels::ARCH, "In", &["arm64"])],
        Some("x86_64") => vec![req(labels::ARCH, "In", &["amd64"])],
        _ => Vec::new(),
    }
}

/// Per distinct requirement set keep one image: non-deprecated first, then newest creation
/// date, then name. Output is ordered newest first.
pub fn select_amis(found: Vec<ResolvedAmi>) -> Vec<ResolvedAmi> {
    let mut groups: BTreeMap<String, ResolvedAmi> = BTreeMap::new();
    for a in found {
        let key = format!("{:?}", a.requirements);
        let better = |cur: &ResolvedAmi| {
            (
                !a.image.deprecated,
                a.image.creation_date.clone(),
                a.image.name.clone(),
            ) > (
                !cur.image.deprecated,
                cur.image.creation_date.clone(),
                cur.image.name.clone(),
            )
        };
        match groups.get(&key) {
            Some(cur) if !better(cur) => {}
            _ => {
                groups.insert(key, a);
            }
        }
    }
    let mut v: Vec<_> = groups.into_values().collect();
    v.sort_by(|a, b| {
        b.image
            .creation_date
            .cmp(&a.image.creation_date)
            .then_with(|| a.image.id.cmp(&b.image.id))
    });
    v
}

/// The AMI family of a NodeClass ([`karpenter_state::nodeclass::ami_family`]); the launch path
/// does not support Windows yet.
pub fn ami_family(nc: &EC2NodeClass) -> Result<AmiFamily, ResolveError> {
    let invalid = |message: String| ResolveError::Invalid {
        nodeclass: nc.metadata.name.clone().unwrap_or_default(),
        message,
    };
    match karpenter_state::nodeclass::ami_family(nc) {
        Ok(AmiFamily::Windows) => Err(invalid(
            "Windows AMI families are not supported by this build".into(),
        )),
        Ok(f) => Ok(f),
        Err(karpenter_state::nodeclass::NodeClassError::Invalid { field, message, .. }) => {
            Err(invalid(format!("{field}: {message}")))
        }
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// An EC2NodeClass with everything its selectors resolved to.
#[derive(Debug, Clone)]
pub struct ResolvedNodeClass {
    /// The object.
    pub nodeclass: EC2NodeClass,
    /// AMI family.
    pub family: AmiFamily,
    /// What the class implies for capacity and overhead.
    pub overhead: OverheadOptions,
    /// Subnets, most free IPs first.
    pub subnets: Vec<DescribedSubnet>,
    /// Security groups.
    pub security_groups: Vec<SecurityGroup>,
    /// AMIs, newest first.
    pub amis: Vec<ResolvedAmi>,
    /// Instance profile name.
    pub instance_profile: Option<String>,
}

impl ResolvedNodeClass {
    /// The EC2NodeClass name.
    pub fn name(&self) -> String {
        self.nodeclass.metadata.name.clone().unwrap_or_default()
    }

    /// The `status` an EC2NodeClass reports for this resolution.
    pub fn status(&self) -> EC2NodeClassStatus {
        EC2NodeClassStatus {
            subnets: Some(
                self.subnets
                    .iter()
                    .map(|s| Subnet {
                        id: s.id.clone(),
                        zone: s.zone.clone(),
                        zone_id: s.zone_id.clone(),
                    })
                    .collect(),
            ),
            security_groups: Some(self.security_groups.clone()),
            amis: Some(self.amis.iter().map(ResolvedAmi::to_status).collect()),
            instance_profile: self.instance_profile.clone(),
            ..EC2NodeClassStatus::default()
        }
    }

    /// The zones of the resolved subnets.
    pub fn zones(&self) -> BTreeSet<String> {
        self.subnets.iter().map(|s| s.zone.clone()).collect()
    }

    /// The first AMI compatible with `it` (types without one are not launched).
    pub fn ami_for(&self, it: &InstanceType) -> Option<&ResolvedAmi> {
        self.amis.iter().find(|a| a.compatible(it))
    }
}

/// Describe subnets for every query.
pub async fn describe_subnets(
    ctx: &AwsContext,
    queries: &[Vec<Filter>],
) -> Result<Vec<DescribedSubnet>, AwsError> {
    let ec2 = ctx.ec2();
    let mut out = Vec::new();
    for q in queries {
        let mut pages = ec2
            .describe_subnets()
            .set_filters(Some(q.iter().map(Filter::to_ec2).collect()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeSubnets", e))?;
            for s in page.subnets() {
                out.push(DescribedSubnet {
                    id: s.subnet_id().unwrap_or_default().to_string(),
                    zone: s.availability_zone().unwrap_or_default().to_string(),
                    zone_id: s.availability_zone_id().map(str::to_string),
                    available_ips: s.available_ip_address_count().unwrap_or(0),
                });
            }
        }
    }
    Ok(out)
}

/// Describe security groups for every query (de-duplicated, sorted by id).
pub async fn describe_security_groups(
    ctx: &AwsContext,
    queries: &[Vec<Filter>],
) -> Result<Vec<SecurityGroup>, AwsError> {
    let ec2 = ctx.ec2();
    let mut out: BTreeMap<String, SecurityGroup> = BTreeMap::new();
    for q in queries {
        let mut pages = ec2
            .describe_security_groups()
            .set_filters(Some(q.iter().map(Filter::to_ec2).collect()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeSecurityGroups", e))?;
            for g in page.security_groups() {
                let id = g.group_id().unwrap_or_default().to_string();
                out.insert(
                    id.clone(),
                    SecurityGroup {
                        id,
                        name: g.group_name().map(str::to_string),
                    },
                );
            }
        }
    }
    Ok(out.into_values().collect())
}

async fn describe_images(
    ctx: &AwsContext,
    filters: Vec<Filter>,
    owners: Vec<String>,
) -> Result<Vec<DescribedImage>, AwsError> {
    let out = ctx
        .ec2()
        .describe_images()
        .set_filters(Some(filters.iter().map(Filter::to_ec2).collect()))
        .set_owners((!owners.is_empty()).then_some(owners))
        .send()
        .await
        .map_err(|e| classify("ec2:DescribeImages", e))?;
    let now = std::time::SystemTime::now();
    Ok(out
        .images()
        .iter()
        .map(|i| DescribedImage {
            id: i.image_id().unwrap_or_default().to_string(),
            name: i.name().map(str::to_string),
            architecture: i.architecture().map(|a| a.as_str().to_string()),
            creation_date: i.creation_date().map(str::to_string),
            deprecated: i
                .deprecation_time()
                .and_then(|t| is_past(t, now))
                .unwrap_or(false),
        })
        .collect())
}

/// Whether an ISO-8601 deprecation time (`2024-01-01T00:00:00.000Z`) is in the past; compared
/// as text against the current UTC time rendered the same way.
fn is_past(t: &str, now: std::time::SystemTime) -> Option<bool> {
    let now = aws_smithy_types::DateTime::from(now)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .ok()?;
    Some(t < now.as_str())
}

/// Resolve `spec.amiSelectorTerms` (aliases via SSM parameters on Kubernetes `k8s`).
pub async fn resolve_amis(
    ctx: &AwsContext,
    nc: &EC2NodeClass,
    k8s: &str,
) -> Result<Vec<ResolvedAmi>, ResolveError> {
    let name = nc.metadata.name.clone().unwrap_or_default();
    let invalid = |message: String| ResolveError::Invalid {
        nodeclass: name.clone(),
        message,
    };
    let mut found = Vec::new();
    let mut ids = Vec::new();
    for t in &nc.spec.ami_selector_terms {
        if let Some(a) = &t.alias {
            let alias =
                parse_alias(a).map_err(|m| invalid(format!("spec.amiSelectorTerms: {m}")))?;
            let params = alias_parameters(&alias, k8s)
                .map_err(|m| invalid(format!("spec.amiSelectorTerms alias {a:?}: {m}")))?;
            let ssm = ctx.ssm();
            let mut by_id: Vec<(String, Vec<NodeSelectorRequirement>)> = Vec::new();
            for p in params {
                match ssm.get_parameter().name(&p.name).send().await {
                    Ok(out) => {
                        if let Some(v) = out.parameter().and_then(|p| p.value()) {
                            by_id.push((v.to_string(), p.requirements));
                        }
                    }
                    Err(e) => {
                        let err = classify("ssm:GetParameter", e);
                        if !err.is_not_found() && err.code() != Some("ParameterNotFound") {
                            return Err(err.into());
                        }
                        tracing::debug!(parameter = %p.name, "SSM parameter not found; skipped");
                    }
                }
            }
            if by_id.is_empty() {
                return Err(invalid(format!(
                    "alias {a:?} resolved no AMI on Kubernetes {k8s} (no SSM parameter found); \
                     check --kubernetes-version and the alias version"
                )));
            }
            let images = describe_images(
                ctx,
                vec![Filter::new(
                    "image-id",
                    by_id.iter().map(|(id, _)| id.clone()),
                )],
                Vec::new(),
            )
            .await?;
            for (id, reqs) in by_id {
                if let Some(img) = images.iter().find(|i| i.id == id) {
                    found.push(ResolvedAmi {
                        image: img.clone(),
                        requirements: reqs,
                    });
                }
            }
        } else if let Some(id) = &t.id {
            ids.push(id.clone());
        } else if let Some(p) = &t.ssm_parameter {
            let out = ctx
                .ssm()
                .get_parameter()
                .name(p)
                .send()
                .await
                .map_err(|e| classify("ssm:GetParameter", e))?;
            if let Some(v) = out.parameter().and_then(|p| p.value()) {
                ids.push(v.to_string());
            }
        } else {
            let mut filters = Vec::new();
            let mut owners = Vec::new();
            if let Some(n) = &t.name {
                filters.push(Filter::new("name", [n.clone()]));
                owners = match &t.owner {
                    Some(o) => vec![o.clone()],
                    None => vec!["self".into(), "amazon".into()],
                };
            } else if let Some(o) = &t.owner {
                owners = vec![o.clone()];
            }
            if let Some(tags) = &t.tags {
                filters.extend(tag_filters(tags));
            }
            for img in describe_images(ctx, filters, owners).await? {
                found.push(ResolvedAmi {
                    requirements: image_requirements(&img),
                    image: img,
                });
            }
        }
    }
    if !ids.is_empty() {
        for img in describe_images(ctx, vec![Filter::new("image-id", ids)], Vec::new()).await? {
            found.push(ResolvedAmi {
                requirements: image_requirements(&img),
                image: img,
            });
        }
    }
    let amis = select_amis(found);
    if amis.is_empty() {
        return Err(ResolveError::NothingSelected {
            nodeclass: name,
            what: "spec.amiSelectorTerms".into(),
        });
    }
    Ok(amis)
}

/// Resolve a NodeClass's subnets, security groups and AMIs (`k8s` is the cluster's Kubernetes
/// minor version, e.g. `1.31`, used by aliases).
pub async fn resolve(
    ctx: &AwsContext,
    nc: &EC2NodeClass,
    k8s: &str,
) -> Result<ResolvedNodeClass, ResolveError> {
    let name = nc.metadata.name.clone().unwrap_or_default();
    let family = ami_family(nc)?;
    let overhead = karpenter_state::nodeclass::overhead_options(nc).map_err(|e| match e {
        karpenter_state::nodeclass::NodeClassError::Invalid { field, message, .. } => {
            ResolveError::Invalid {
                nodeclass: name.clone(),
                message: format!("{field}: {message}"),
            }
        }
        other => ResolveError::Invalid {
            nodeclass: name.clone(),
            message: other.to_string(),
        },
    })?;
    let subnets = select_subnets(describe_subnets(ctx, &subnet_queries(nc)).await?);
    if subnets.is_empty() {
        return Err(ResolveError::NothingSelected {
            nodeclass: name,
            what: "spec.subnetSelectorTerms".into(),
        });
    }
    let security_groups = describe_security_groups(ctx, &security_group_queries(nc)).await?;
    if security_groups.is_empty() {
        return Err(ResolveError::NothingSelected {
            nodeclass: name,
            what: "spec.securityGroupSelectorTerms".into(),
        });
    }
    let amis = resolve_amis(ctx, nc, k8s).await?;
    Ok(ResolvedNodeClass {
        nodeclass: nc.clone(),
        family,
        overhead,
        subnets,
        security_groups,
        amis,
        instance_profile: nc.spec.instance_profile.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_api::common::{SecurityGroupSelectorTerm, SubnetSelectorTerm};

    fn nc() -> EC2NodeClass {
        let mut nc = EC2NodeClass::new("default", Default::default());
        nc.spec.subnet_selector_terms = vec![
            SubnetSelectorTerm {
                tags: Some(BTreeMap::from([
                    ("karpenter.sh/discovery".to_string(), "demo".to_string()),
                    ("tier".to_string(), "*".to_string()),
                ])),
                id: None,
            },
            SubnetSelectorTerm {
                tags: None,
                id: Some("subnet-1".into()),
            },
            SubnetSelectorTerm {
                tags: None,
                id: Some("subnet-2".into()),
            },
        ];
        nc.spec.security_group_selector_terms = vec![
            SecurityGroupSelectorTerm {
                name: Some("nodes".into()),
                ..Default::default()
            },
            SecurityGroupSelectorTerm {
                id: Some("sg-1".into()),
                ..Default::default()
            },
        ];
        nc
    }

    #[test]
    fn subnet_ids_are_pooled_and_star_tags_become_tag_key() {
        let q = subnet_queries(&nc());
        assert_eq!(q.len(), 2);
        assert_eq!(
            q[0],
            vec![Filter::new(
                "subnet-id",
                ["subnet-1".into(), "subnet-2".into()]
            )]
        );
        assert_eq!(
            q[1],
            vec![
                Filter::new("tag:karpenter.sh/discovery", ["demo".into()]),
                Filter::new("tag-key", ["tier".into()]),
            ]
        );
    }

    #[test]
    fn security_groups_by_id_and_name() {
        let q = security_group_queries(&nc());
        assert_eq!(q[0], vec![Filter::new("group-id", ["sg-1".into()])]);
        assert_eq!(q[1], vec![Filter::new("group-name", ["nodes".into()])]);
    }

    #[test]
    fn a_security_group_term_with_name_and_tags_needs_both() {
        let mut c = nc();
        c.spec.security_group_selector_terms = vec![SecurityGroupSelectorTerm {
            name: Some("nodes".into()),
            tags: Some(BTreeMap::from([(
                "karpenter.sh/discovery".to_string(),
                "demo".to_string(),
            )])),
            ..Default::default()
        }];
        assert_eq!(
            security_group_queries(&c),
            vec![vec![
                Filter::new("group-name", ["nodes".into()]),
                Filter::new("tag:karpenter.sh/discovery", ["demo".into()]),
            ]]
        );
    }

    #[test]
    fn subnets_dedupe_and_the_zone_picks_most_free_ips() {
        let s = |id: &str, z: &str, ips| DescribedSubnet {
            id: id.into(),
            zone: z.into(),
            zone_id: None,
            available_ips: ips,
        };
        let v = select_subnets(vec![s("a", "z1", 10), s("b", "z1", 200), s("a", "z1", 10)]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].id, "b");
        assert_eq!(subnet_per_zone(&v)["z1"].id, "b");
    }

    #[test]
    fn alias_parameters_follow_upstream_paths() {
        let a = parse_alias("al2023@latest").unwrap();
        let p = alias_parameters(&a, "1.31").unwrap();
        assert_eq!(
            p.len(),
            5,
            "x86 standard/nvidia/neuron + arm64 standard/nvidia"
        );
        assert_eq!(
            p[0].name,
            "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id"
        );
        let br = alias_parameters(&parse_alias("bottlerocket@v1.20.5").unwrap(), "1.30").unwrap();
        assert_eq!(
            br[0].name,
            "/aws/service/bottlerocket/aws-k8s-1.30/x86_64/1.20.5/image_id"
        );
        let al2 = alias_parameters(&parse_alias("al2@latest").unwrap(), "1.29").unwrap();
        assert_eq!(
            al2[1].name,
            "/aws/service/eks/optimized-ami/1.29/amazon-linux-2-arm64/recommended/image_id"
        );
        assert!(
            alias_parameters(&parse_alias("al2@latest").unwrap(), "1.33")
                .unwrap_err()
                .contains("1.33")
        );
        assert!(parse_alias("ubuntu@latest").unwrap_err().contains("ubuntu"));
        assert!(parse_alias("al2023").is_err());
    }

    #[test]
    fn newest_non_deprecated_image_wins_per_requirement_set() {
        let img = |id: &str, date: &str, dep: bool| ResolvedAmi {
            image: DescribedImage {
                id: id.into(),
                name: Some(id.into()),
                architecture: Some("x86_64".into()),
                creation_date: Some(date.into()),
                deprecated: dep,
            },
            requirements: vec![req(labels::ARCH, "In", &["amd64"])],
        };
        let v = select_amis(vec![
            img("old", "2024-01-01", false),
            img("newest-deprecated", "2024-09-01", true),
            img("new", "2024-06-01", false),
        ]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].image.id, "new");
    }
}
