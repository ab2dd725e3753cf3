//! A discovery-tagged VPC in moto, an EC2NodeClass that selects it, and provider construction.
#![allow(dead_code)]

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use karpenter_api::aws::v1::{AMISelectorTerm, EC2NodeClass};
use karpenter_api::common::{SecurityGroupSelectorTerm, SubnetSelectorTerm};
use kubectl_karpenter::cloud::aws::provider::ClusterInfo;
use kubectl_karpenter::cloud::aws::AwsContext;

pub const CLUSTER: &str = "demo";
pub const K8S: &str = "1.31";
pub const ROLE: &str = "KarpenterNodeRole-demo";
/// The AL2023 x86_64 standard AMI parameter moto_karpenter.py seeds.
pub const AL2023_X86: &str =
    "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id";

/// What [`build`] created.
#[derive(Debug, Clone)]
pub struct World {
    pub vpc: String,
    /// Tagged subnets by zone (us-west-2a, b, c).
    pub subnets: BTreeMap<String, String>,
    /// An untagged subnet in us-west-2d.
    pub untagged_subnet: String,
    pub sg: String,
    pub other_sg: String,
    pub al2023_ami: String,
}

fn tags(rt: ResourceType, kv: &[(&str, &str)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(
            kv.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .build()
}

/// A VPC with three subnets and a security group tagged `karpenter.sh/discovery=demo`, plus
/// an untagged subnet and security group, and the node role.
pub async fn build(ctx: &AwsContext) -> World {
    let ec2 = ctx.ec2();
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("create vpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    let mut subnets = BTreeMap::new();
    for (i, zone) in ["us-west-2a", "us-west-2b", "us-west-2c"]
        .iter()
        .enumerate()
    {
        let id = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(*zone)
            .tag_specifications(tags(
                ResourceType::Subnet,
                &[("karpenter.sh/discovery", CLUSTER), ("tier", "private")],
            ))
            .send()
            .await
            .expect("create subnet")
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_string();
        subnets.insert(zone.to_string(), id);
    }
    let untagged_subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.9.0/24")
        .availability_zone("us-west-2d")
        .send()
        .await
        .expect("create subnet")
        .subnet()
        .and_then(|s| s.subnet_id())
        .expect("subnet id")
        .to_string();
    let sg = ec2
        .create_security_group()
        .group_name("demo-nodes")
        .description("nodes")
        .vpc_id(&vpc)
        .tag_specifications(tags(
            ResourceType::SecurityGroup,
            &[("karpenter.sh/discovery", CLUSTER)],
        ))
        .send()
        .await
        .expect("create sg")
        .group_id()
        .expect("sg id")
        .to_string();
    let other_sg = ec2
        .create_security_group()
        .group_name("unrelated")
        .description("unrelated")
        .vpc_id(&vpc)
        .send()
        .await
        .expect("create sg")
        .group_id()
        .expect("sg id")
        .to_string();
    ctx.iam()
        .create_role()
        .role_name(ROLE)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .expect("create role");
    let al2023_ami = ctx
        .ssm()
        .get_parameter()
        .name(AL2023_X86)
        .send()
        .await
        .expect("seeded SSM parameter")
        .parameter()
        .and_then(|p| p.value())
        .expect("value")
        .to_string();
    World {
        vpc,
        subnets,
        untagged_subnet,
        sg,
        other_sg,
        al2023_ami,
    }
}

/// `default`: alias al2023@latest, discovery-tag selectors, role.
pub fn nodeclass() -> EC2NodeClass {
    let mut nc = EC2NodeClass::new("default", Default::default());
    nc.metadata.uid = Some("0000-uid".into());
    let disc = BTreeMap::from([("karpenter.sh/discovery".to_string(), CLUSTER.to_string())]);
    nc.spec.ami_selector_terms = vec![AMISelectorTerm {
        alias: Some("al2023@latest".into()),
        ..Default::default()
    }];
    nc.spec.subnet_selector_terms = vec![SubnetSelectorTerm {
        tags: Some(BTreeMap::from([
            ("karpenter.sh/discovery".to_string(), CLUSTER.to_string()),
            ("tier".to_string(), "*".to_string()),
        ])),
        id: None,
    }];
    nc.spec.security_group_selector_terms = vec![SecurityGroupSelectorTerm {
        tags: Some(disc),
        ..Default::default()
    }];
    nc.spec.role = Some(ROLE.into());
    nc.spec.tags = Some(BTreeMap::from([(
        "team".to_string(),
        "platform".to_string(),
    )]));
    nc
}

pub fn cluster() -> ClusterInfo {
    ClusterInfo {
        name: CLUSTER.into(),
        endpoint: "https://ABC.gr7.us-west-2.eks.amazonaws.com".into(),
        ca_bundle: "Q0EK".into(),
        service_cidr: Some("10.100.0.0/16".into()),
        cluster_dns: Some("10.100.0.10".into()),
        kubernetes_version: K8S.into(),
    }
}
