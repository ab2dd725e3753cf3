//! EC2NodeClass → instance-type overhead and allocatable: the one translation `simulate`,
//! `instance-types` and the AWS provider share.
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_scheduling::instancetype::AmiFamily;
use karpenter_scheduling::OverheadOptions;

use crate::error::Result;

/// The AMI family and kubelet pod limits of a class.
pub fn overhead_options(nc: &EC2NodeClass) -> Result<OverheadOptions> {
    let mut o = OverheadOptions::default();
    let alias = nc
        .spec
        .ami_selector_terms
        .first()
        .and_then(|t| t.alias.as_deref())
        .unwrap_or("");
    let family = alias.split('@').next().unwrap_or("");
    o.ami_family = match nc
        .spec
        .ami_family
        .as_deref()
        .unwrap_or(family)
        .to_ascii_lowercase()
        .as_str()
    {
        "al2" => AmiFamily::AL2,
        "bottlerocket" => AmiFamily::Bottlerocket,
        "windows2019" | "windows2022" | "windows2025" => AmiFamily::Windows,
        "custom" => AmiFamily::Custom,
        _ => AmiFamily::AL2023,
    };
    let kubelet = nc.spec.kubelet.as_ref();
    o.max_pods = kubelet.and_then(|k| k.max_pods).map(i64::from);
    o.pods_per_core = kubelet.and_then(|k| k.pods_per_core).map(i64::from);
    Ok(o)
}
