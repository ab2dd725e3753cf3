//! Launch templates and CreateFleet (karpenter-aws.md §7–§9).
//!
//! The request is built by pure functions; the CreateFleet call sits behind the narrow
//! [`Fleet`] trait so tests can inject partial fulfilment and insufficient-capacity errors
//! (moto always takes the first override and never reports errors).
use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_ec2::types::{
    DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest,
    FleetOnDemandAllocationStrategy, FleetType, OnDemandOptionsRequest, ResourceType,
    SpotAllocationStrategy, SpotOptionsRequest, Tag, TagSpecification,
    TargetCapacitySpecificationRequest,
};
use base64::Engine as _;
use karpenter_api::common::{BlockDeviceMapping, MetadataOptions};
use karpenter_scheduling::instancetype::SPOT;

use super::fnv64;
use crate::cloud::aws::{classify, classify_code, AwsError};

/// Resolved launch-template contents.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchTemplateSpec {
    /// AMI id.
    pub image_id: String,
    /// Security group ids (sorted).
    pub security_group_ids: Vec<String>,
    /// User data, plain text (base64-encoded when sent).
    pub user_data: String,
    /// Block device mappings (the NodeClass's, or the family default).
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// Metadata options (CRD defaults filled in).
    pub metadata_options: MetadataOptions,
    /// Instance profile name.
    pub instance_profile: Option<String>,
    /// Detailed monitoring.
    pub detailed_monitoring: bool,
    /// Tags on the launch template and, through its tag specifications, its resources.
    pub tags: BTreeMap<String, String>,
}

/// The CRD default metadata options, overlaid with the NodeClass's.
pub fn metadata_options(m: Option<&MetadataOptions>) -> MetadataOptions {
    let m = m.cloned().unwrap_or_default();
    MetadataOptions {
        http_endpoint: Some(m.http_endpoint.unwrap_or_else(|| "enabled".into())),
        http_protocol_ipv6: Some(m.http_protocol_ipv6.unwrap_or_else(|| "disabled".into())),
        http_put_response_hop_limit: Some(m.http_put_response_hop_limit.unwrap_or(1)),
        http_tokens: Some(m.http_tokens.unwrap_or_else(|| "required".into())),
    }
}

/// `karpenter.k8s.aws/<hash>`: a stable 64-bit hash of everything that shapes the template.
pub fn launch_template_name(spec: &LaunchTemplateSpec) -> String {
    let canonical = format!("{spec:?}");
    format!("karpenter.k8s.aws/{}", fnv64(canonical.as_bytes()))
}

fn tags_of(m: &BTreeMap<String, String>) -> Vec<Tag> {
    m.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tag_spec(rt: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tags_of(tags)))
        .build()
}

fn volume_size_gib(q: &str) -> Option<i32> {
    let bytes = karpenter_scheduling::resources::parse_quantity_milli(q).ok()? / 1000;
    let gib = (bytes + (1 << 30) - 1) >> 30;
    i32::try_from(gib).ok()
}

/// The LaunchTemplateData request for a spec.
pub fn launch_template_data(
    spec: &LaunchTemplateSpec,
) -> aws_sdk_ec2::types::RequestLaunchTemplateData {
    use aws_sdk_ec2::types::{
        LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
        LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
        LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
        LaunchTemplateInstanceMetadataProtocolIpv6, LaunchTemplateInstanceMetadataTagsState,
        LaunchTemplatesMonitoringRequest, VolumeType,
    };
    let bdms = spec
        .block_device_mappings
        .iter()
        .map(|b| {
            let ebs = b.ebs.as_ref().map(|e| {
                LaunchTemplateEbsBlockDeviceRequest::builder()
                    .set_delete_on_termination(e.delete_on_termination)
                    .set_encrypted(e.encrypted)
                    .set_iops(e.iops.and_then(|i| i32::try_from(i).ok()))
                    .set_kms_key_id(e.kms_key_id.clone())
                    .set_snapshot_id(e.snapshot_id.clone())
                    .set_throughput(e.throughput.and_then(|i| i32::try_from(i).ok()))
                    .set_volume_size(e.volume_size.as_ref().and_then(|q| volume_size_gib(&q.0)))
                    .set_volume_type(e.volume_type.as_deref().map(VolumeType::from))
                    .build()
            });
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .set_device_name(b.device_name.clone())
                .set_ebs(ebs)
                .build()
        })
        .collect();
    let m = &spec.metadata_options;
    aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
        .image_id(&spec.image_id)
        .set_security_group_ids(Some(spec.security_group_ids.clone()))
        .user_data(base64::engine::general_purpose::STANDARD.encode(&spec.user_data))
        .set_block_device_mappings(Some(bdms))
        .set_iam_instance_profile(spec.instance_profile.as_ref().map(|p| {
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(p)
                .build()
        }))
        .monitoring(
            LaunchTemplatesMonitoringRequest::builder()
                .enabled(spec.detailed_monitoring)
                .build(),
        )
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .set_http_endpoint(
                    m.http_endpoint
                        .as_deref()
                        .map(LaunchTemplateInstanceMetadataEndpointState::from),
                )
                .set_http_protocol_ipv6(
                    m.http_protocol_ipv6
                        .as_deref()
                        .map(LaunchTemplateInstanceMetadataProtocolIpv6::from),
                )
                .set_http_put_response_hop_limit(
                    m.http_put_response_hop_limit
                        .and_then(|h| i32::try_from(h).ok()),
                )
                .set_http_tokens(
                    m.http_tokens
                        .as_deref()
                        .map(LaunchTemplateHttpTokensState::from),
                )
                .instance_metadata_tags(LaunchTemplateInstanceMetadataTagsState::Disabled)
                .build(),
        )
        .tag_specifications(
            aws_sdk_ec2::types::LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::NetworkInterface)
                .set_tags(Some(tags_of(&spec.tags)))
                .build(),
        )
        .build()
}

/// Find the launch template by name or create it. Returns its name.
pub async fn ensure_launch_template(
    ec2: &aws_sdk_ec2::Client,
    spec: &LaunchTemplateSpec,
) -> Result<String, AwsError> {
    let name = launch_template_name(spec);
    match ec2
        .describe_launch_templates()
        .launch_template_names(&name)
        .send()
        .await
    {
        Ok(out) if !out.launch_templates().is_empty() => return Ok(name),
        Ok(_) => {}
        Err(e) => {
            let err = classify("ec2:DescribeLaunchTemplates", e);
            let missing = err.is_not_found()
                || err
                    .code()
                    .is_some_and(|c| c.starts_with("InvalidLaunchTemplateName"));
            if !missing {
                return Err(err);
            }
        }
    }
    let created = ec2
        .create_launch_template()
        .launch_template_name(&name)
        .launch_template_data(launch_template_data(spec))
        .tag_specifications(tag_spec(ResourceType::LaunchTemplate, &spec.tags))
        .send()
        .await;
    match created {
        Ok(_) => Ok(name),
        Err(e) => {
            let err = classify("ec2:CreateLaunchTemplate", e);
            if err.is_already_exists() {
                Ok(name)
            } else {
                Err(err)
            }
        }
    }
}

/// One CreateFleet override.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetOverride {
    /// Instance type.
    pub instance_type: String,
    /// Subnet.
    pub subnet_id: String,
    /// Zone of the subnet.
    pub zone: String,
    /// AMI.
    pub image_id: String,
    /// Priority = price (lower is preferred).
    pub priority: f64,
}

/// One launch-template config with its overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// Launch template name (`$Latest`).
    pub launch_template_name: String,
    /// Overrides, cheapest first.
    pub overrides: Vec<FleetOverride>,
}

/// A `Type=instant` CreateFleet request for one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRequest {
    /// `spot` or `on-demand`.
    pub capacity_type: String,
    /// Configs.
    pub configs: Vec<FleetConfig>,
    /// Tags for instance, volume and fleet.
    pub tags: BTreeMap<String, String>,
    /// `spec.context`.
    pub context: Option<String>,
}

impl FleetRequest {
    /// Every override in request order.
    pub fn overrides(&self) -> impl Iterator<Item = (&str, &FleetOverride)> {
        self.configs.iter().flat_map(|c| {
            c.overrides
                .iter()
                .map(move |o| (c.launch_template_name.as_str(), o))
        })
    }
}

/// A launched instance in the CreateFleet response.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetInstance {
    /// Instance id.
    pub id: String,
    /// Instance type.
    pub instance_type: String,
    /// Subnet of the override used, when reported.
    pub subnet_id: Option<String>,
    /// Zone of the override used, when reported.
    pub zone: Option<String>,
}

/// A per-override error in the CreateFleet response.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetError {
    /// Instance type of the failed override.
    pub instance_type: Option<String>,
    /// Subnet of the failed override.
    pub subnet_id: Option<String>,
    /// Zone of the failed override.
    pub zone: Option<String>,
    /// Error code, e.g. `InsufficientInstanceCapacity`.
    pub code: String,
    /// Message.
    pub message: String,
}

/// The CreateFleet outcome.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FleetResult {
    /// Instances launched.
    pub instances: Vec<FleetInstance>,
    /// Override errors.
    pub errors: Vec<FleetError>,
}

/// The CreateFleet seam.
pub trait Fleet: Send + Sync {
    /// Make the call.
    fn create_fleet(
        &self,
        req: &FleetRequest,
    ) -> impl Future<Output = Result<FleetResult, AwsError>> + Send;
}

/// The real CreateFleet call.
#[derive(Debug, Clone)]
pub struct Ec2Fleet {
    ec2: aws_sdk_ec2::Client,
}

impl Ec2Fleet {
    /// Wrap a client.
    pub fn new(ec2: aws_sdk_ec2::Client) -> Self {
        Ec2Fleet { ec2 }
    }
}

impl Fleet for Ec2Fleet {
    async fn create_fleet(&self, req: &FleetRequest) -> Result<FleetResult, AwsError> {
        let spot = req.capacity_type == SPOT;
        let configs = req
            .configs
            .iter()
            .map(|c| {
                FleetLaunchTemplateConfigRequest::builder()
                    .launch_template_specification(
                        FleetLaunchTemplateSpecificationRequest::builder()
                            .launch_template_name(&c.launch_template_name)
                            .version("$Latest")
                            .build(),
                    )
                    .set_overrides(Some(
                        c.overrides
                            .iter()
                            .map(|o| {
                                FleetLaunchTemplateOverridesRequest::builder()
                                    .instance_type(o.instance_type.as_str().into())
                                    .subnet_id(&o.subnet_id)
                                    .availability_zone(&o.zone)
                                    .image_id(&o.image_id)
                                    .priority(o.priority)
                                    .build()
                            })
                            .collect(),
                    ))
                    .build()
            })
            .collect();
        let mut call = self
            .ec2
            .create_fleet()
            .r#type(FleetType::Instant)
            .set_launch_template_configs(Some(configs))
            .target_capacity_specification(
                TargetCapacitySpecificationRequest::builder()
                    .total_target_capacity(1)
                    .default_target_capacity_type(if spot {
                        DefaultTargetCapacityType::Spot
                    } else {
                        DefaultTargetCapacityType::OnDemand
                    })
                    .build(),
            )
            .tag_specifications(tag_spec(ResourceType::Instance, &req.tags))
            .tag_specifications(tag_spec(ResourceType::Volume, &req.tags))
            .tag_specifications(tag_spec(ResourceType::Fleet, &req.tags))
            .set_context(req.context.clone());
        call = if spot {
            call.spot_options(
                SpotOptionsRequest::builder()
                    .allocation_strategy(SpotAllocationStrategy::PriceCapacityOptimized)
                    .build(),
            )
        } else {
            call.on_demand_options(
                OnDemandOptionsRequest::builder()
                    .allocation_strategy(FleetOnDemandAllocationStrategy::LowestPrice)
                    .build(),
            )
        };
        let out = call
            .send()
            .await
            .map_err(|e| classify("ec2:CreateFleet", e))?;
        let mut result = FleetResult::default();
        for i in out.instances() {
            let ov = i
                .launch_template_and_overrides()
                .and_then(|l| l.overrides());
            for id in i.instance_ids() {
                result.instances.push(FleetInstance {
                    id: id.clone(),
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_string())
                        .or_else(|| {
                            ov.and_then(|o| o.instance_type())
                                .map(|t| t.as_str().to_string())
                        })
                        .unwrap_or_default(),
                    subnet_id: ov.and_then(|o| o.subnet_id()).map(str::to_string),
                    zone: ov.and_then(|o| o.availability_zone()).map(str::to_string),
                });
            }
        }
        for e in out.errors() {
            let ov = e
                .launch_template_and_overrides()
                .and_then(|l| l.overrides());
            result.errors.push(FleetError {
                instance_type: ov
                    .and_then(|o| o.instance_type())
                    .map(|t| t.as_str().to_string()),
                subnet_id: ov.and_then(|o| o.subnet_id()).map(str::to_string),
                zone: ov.and_then(|o| o.availability_zone()).map(str::to_string),
                code: e.error_code().unwrap_or("Unknown").to_string(),
                message: e.error_message().unwrap_or_default().to_string(),
            });
        }
        Ok(result)
    }
}

/// Whether a CreateFleet error code means "no capacity for this offering" (upstream ICE codes).
pub fn is_insufficient_capacity(code: &str) -> bool {
    matches!(
        classify_code("ec2:CreateFleet", Some(code), None, None),
        AwsError::InsufficientCapacity { .. }
    ) || matches!(
        code,
        "InsufficientInstanceCapacity"
            | "MaxSpotInstanceCountExceeded"
            | "VcpuLimitExceeded"
            | "UnfulfillableCapacity"
            | "Unsupported"
            | "InsufficientFreeAddressesInSubnet"
            | "MaxFleetCountExceeded"
            | "ReservationCapacityExceeded"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LaunchTemplateSpec {
        LaunchTemplateSpec {
            image_id: "ami-1".into(),
            security_group_ids: vec!["sg-1".into()],
            user_data: "x".into(),
            block_device_mappings: vec![],
            metadata_options: metadata_options(None),
            instance_profile: Some("p".into()),
            detailed_monitoring: false,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn names_are_stable_and_change_with_the_contents() {
        let a = launch_template_name(&spec());
        assert_eq!(a, launch_template_name(&spec()));
        assert!(a.starts_with("karpenter.k8s.aws/"));
        let mut s = spec();
        s.user_data = "y".into();
        assert_ne!(a, launch_template_name(&s));
        let mut s = spec();
        s.security_group_ids.push("sg-2".into());
        assert_ne!(a, launch_template_name(&s));
    }

    #[test]
    fn metadata_defaults_match_the_crd() {
        let m = metadata_options(Some(&MetadataOptions {
            http_tokens: Some("optional".into()),
            ..Default::default()
        }));
        assert_eq!(m.http_endpoint.as_deref(), Some("enabled"));
        assert_eq!(m.http_protocol_ipv6.as_deref(), Some("disabled"));
        assert_eq!(m.http_put_response_hop_limit, Some(1));
        assert_eq!(m.http_tokens.as_deref(), Some("optional"));
    }

    #[test]
    fn ice_codes() {
        for c in [
            "InsufficientInstanceCapacity",
            "UnfulfillableCapacity",
            "MaxSpotInstanceCountExceeded",
        ] {
            assert!(is_insufficient_capacity(c), "{c}");
        }
        assert!(!is_insufficient_capacity("InvalidParameterValue"));
    }

    #[test]
    fn volume_sizes_round_up_to_gib() {
        assert_eq!(volume_size_gib("20Gi"), Some(20));
        assert_eq!(volume_size_gib("1500Mi"), Some(2));
        assert_eq!(volume_size_gib("100G"), Some(94));
    }
}
