//! Karpenter's AWS cloud provider: EC2NodeClass resolution, instance types and prices, launch
//! templates and CreateFleet, instance lifecycle, instance profiles and the interruption queue
//! (karpenter-aws.md §1–§13).
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, InstanceLifecycleType};
use futures::future::BoxFuture;
use karpenter_api::common::{BlockDevice, BlockDeviceMapping, KubeletConfiguration};
use karpenter_scheduling::instancetype::{
    eviction_threshold, AmiFamily, OverheadOptions, ON_DEMAND, SPOT,
};
use karpenter_scheduling::InstanceType;
use tokio::sync::Mutex as AsyncMutex;

use crate::cloud::aws::{classify, AwsContext, AwsError};
use crate::cloud::interruption::InterruptionQueue;
use crate::cloud::provider::{
    kubelet_repair_policies, launch_candidates, Clock, CloudError, CloudProvider, Instance,
    NodeClaimRequest, NodeClassResolution, OfferingKey, RepairPolicy, SystemClock,
    UnavailableOfferings, NODECLAIM_TAG,
};

pub mod instancetypes;
pub mod interruption;
pub mod launch;
pub mod nodeclass;
pub mod pricing;
pub mod profile;
pub mod userdata;

use instancetypes::{build_instance_type, InstanceTypeCache, INSTANCE_TYPE_TTL};
use launch::{
    ensure_launch_template, is_insufficient_capacity, metadata_options, Ec2Fleet, Fleet,
    FleetConfig, FleetOverride, FleetRequest, LaunchTemplateSpec,
};
use nodeclass::{subnet_per_zone, ResolvedNodeClass};
use pricing::{PriceBook, PriceSource};
use userdata::BootstrapOptions;

/// FNV-1a, 64 bit: a stable hash for resource names (std's hasher is not stable across
/// releases).
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Cluster facts the launch path needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInfo {
    /// EKS cluster name.
    pub name: String,
    /// API server endpoint nodes join.
    pub endpoint: String,
    /// Base64 CA bundle.
    pub ca_bundle: String,
    /// Service CIDR.
    pub service_cidr: Option<String>,
    /// Cluster DNS IP.
    pub cluster_dns: Option<String>,
    /// Kubernetes minor version (`1.31`) for AMI aliases.
    pub kubernetes_version: String,
}

/// The static tags every Karpenter-launched resource carries (§9).
pub fn static_tags(cluster: &str, nodepool: &str, nodeclass: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            format!("kubernetes.io/cluster/{cluster}"),
            "owned".to_string(),
        ),
        (
            karpenter_api::labels::NODEPOOL.to_string(),
            nodepool.to_string(),
        ),
        ("eks:eks-cluster-name".to_string(), cluster.to_string()),
        (
            karpenter_api::labels::EC2NODECLASS.to_string(),
            nodeclass.to_string(),
        ),
    ])
}

/// The `kubeReserved` and `systemReserved` kubelet gets for `it` (whose overhead came from
/// `opts`, the EC2NodeClass's [`OverheadOptions`]): the NodeClass's values verbatim, and for
/// kubeReserved resources it leaves unset, what the overhead attributes to kubelet (the
/// overhead minus systemReserved and the eviction threshold), so the node's allocatable
/// matches the scheduler's prediction.
pub fn kubelet_reserved(
    it: &InstanceType,
    opts: &OverheadOptions,
    kubelet: &KubeletConfiguration,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    const MIB: i64 = 1 << 20;
    let mut kube = it.overhead.clone();
    kube.sub(&opts.system_reserved.to_resources());
    kube.sub(&eviction_threshold(&it.capacity, opts));
    kube.floor_zero();
    let mut kube_map = BTreeMap::from([
        ("cpu".to_string(), format!("{}m", kube.cpu_millis)),
        (
            "memory".to_string(),
            format!("{}Mi", kube.memory_bytes / MIB),
        ),
        (
            "ephemeral-storage".to_string(),
            format!("{}Mi", kube.ephemeral_bytes / MIB),
        ),
    ]);
    for (k, v) in kubelet.kube_reserved.iter().flatten() {
        kube_map.insert(k.clone(), v.0.clone());
    }
    let system_map = kubelet
        .system_reserved
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    (kube_map, system_map)
}

/// A NodeClaim taint as the bootstrap renders it.
fn node_taint(t: &karpenter_scheduling::model::Taint) -> userdata::NodeTaint {
    use karpenter_scheduling::model::TaintEffect;
    let effect = match t.effect {
        TaintEffect::NoSchedule => "NoSchedule",
        TaintEffect::PreferNoSchedule => "PreferNoSchedule",
        TaintEffect::NoExecute => "NoExecute",
    };
    userdata::NodeTaint {
        key: t.key.clone(),
        value: t.value.clone(),
        effect: effect.to_string(),
    }
}

/// The default block devices of a family (20Gi gp3, encrypted).
pub fn default_block_devices(family: AmiFamily) -> Vec<BlockDeviceMapping> {
    let dev = |name: &str, size: &str| BlockDeviceMapping {
        device_name: Some(name.into()),
        ebs: Some(BlockDevice {
            encrypted: Some(true),
            volume_size: Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
                size.into(),
            )),
            volume_type: Some("gp3".into()),
            ..Default::default()
        }),
        root_volume: None,
    };
    match family {
        AmiFamily::Bottlerocket => vec![dev("/dev/xvda", "4Gi"), dev("/dev/xvdb", "20Gi")],
        AmiFamily::Custom => Vec::new(),
        _ => vec![dev("/dev/xvda", "20Gi")],
    }
}

/// The AWS cloud provider, generic over the CreateFleet seam.
pub struct AwsProvider<F: Fleet = Ec2Fleet> {
    ctx: AwsContext,
    cluster: ClusterInfo,
    fleet: F,
    unavailable: Arc<UnavailableOfferings>,
    nodeclasses: RwLock<HashMap<String, Arc<ResolvedNodeClass>>>,
    types: InstanceTypeCache,
    prices: AsyncMutex<PriceBook>,
}

impl<F: Fleet> std::fmt::Debug for AwsProvider<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProvider")
            .field("cluster", &self.cluster.name)
            .field("region", &self.ctx.region())
            .finish()
    }
}

impl AwsProvider<Ec2Fleet> {
    /// A provider using the real CreateFleet call and the system clock.
    pub fn new(ctx: AwsContext, cluster: ClusterInfo) -> Self {
        let fleet = Ec2Fleet::new(ctx.ec2());
        Self::with_fleet(ctx, cluster, fleet, Arc::new(SystemClock))
    }
}

impl<F: Fleet> AwsProvider<F> {
    /// A provider with a custom fleet seam and clock (tests).
    pub fn with_fleet(
        ctx: AwsContext,
        cluster: ClusterInfo,
        fleet: F,
        clock: Arc<dyn Clock>,
    ) -> Self {
        AwsProvider {
            ctx,
            cluster,
            fleet,
            unavailable: Arc::new(UnavailableOfferings::new(clock.clone())),
            nodeclasses: RwLock::new(HashMap::new()),
            types: InstanceTypeCache::new(clock, INSTANCE_TYPE_TTL),
            prices: AsyncMutex::new(PriceBook::default()),
        }
    }

    /// The ICE cache.
    pub fn unavailable(&self) -> &UnavailableOfferings {
        &self.unavailable
    }

    /// The fleet seam.
    pub fn fleet(&self) -> &F {
        &self.fleet
    }

    /// The cluster facts.
    pub fn cluster(&self) -> &ClusterInfo {
        &self.cluster
    }

    /// Resolve an EC2NodeClass (subnets, security groups, AMIs, and its managed instance
    /// profile when `spec.role` is set), remember it for launches and return it.
    pub async fn resolve_nodeclass(
        &self,
        nc: &karpenter_api::aws::v1::EC2NodeClass,
    ) -> Result<Arc<ResolvedNodeClass>, CloudError> {
        self.resolve_nodeclass_with(nc, true).await
    }

    /// [`AwsProvider::resolve_nodeclass`] without creating the instance profile (reads only:
    /// `run --dry-run`). Enough to list instance types; not to launch.
    pub async fn resolve_nodeclass_read_only(
        &self,
        nc: &karpenter_api::aws::v1::EC2NodeClass,
    ) -> Result<Arc<ResolvedNodeClass>, CloudError> {
        self.resolve_nodeclass_with(nc, false).await
    }

    async fn resolve_nodeclass_with(
        &self,
        nc: &karpenter_api::aws::v1::EC2NodeClass,
        ensure_profile: bool,
    ) -> Result<Arc<ResolvedNodeClass>, CloudError> {
        let mut r = nodeclass::resolve(&self.ctx, nc, &self.cluster.kubernetes_version)
            .await
            .map_err(|e| match e {
                nodeclass::ResolveError::Aws(a) => CloudError::from(a),
                other => CloudError::Invalid(other.to_string()),
            })?;
        let name = r.name();
        if r.instance_profile.is_none() && ensure_profile {
            if let Some(role) = &nc.spec.role {
                let uid = nc.metadata.uid.clone().unwrap_or_else(|| name.clone());
                let p = profile::ensure_instance_profile(
                    &self.ctx,
                    &self.cluster.name,
                    &name,
                    &uid,
                    role,
                    &nc.spec.tags.clone().unwrap_or_default(),
                )
                .await?;
                r.instance_profile = Some(p);
            }
        }
        let r = Arc::new(r);
        self.nodeclasses
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, r.clone());
        Ok(r)
    }

    fn nodeclass(&self, name: &str) -> Result<Arc<ResolvedNodeClass>, CloudError> {
        self.nodeclasses
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| {
                CloudError::NodeClassNotReady(format!(
                    "EC2NodeClass {name} has not been resolved; it must exist and be Ready \
                     before NodeClaims that reference it can launch"
                ))
            })
    }

    /// Resolve an EC2NodeClass part by part for its status (upstream
    /// `pkg/controllers/nodeclass/{subnet,securitygroup,ami,instanceprofile}.go`): each part
    /// that matched nothing gets upstream's reason; when every part resolved, the class is
    /// remembered for launches, otherwise forgotten (its NodeClaims wait, `NodeClassNotReady`).
    /// An invalid spec is [`CloudError::Invalid`]; an AWS failure is returned as is.
    /// `read_only` (`--dry-run`): the managed instance profile is neither created nor required.
    pub async fn resolve_nodeclass_status(
        &self,
        nc: &karpenter_api::aws::v1::EC2NodeClass,
        read_only: bool,
    ) -> Result<NodeClassResolution, CloudError> {
        let name = nc.metadata.name.clone().unwrap_or_default();
        let invalid = |e: nodeclass::ResolveError| match e {
            nodeclass::ResolveError::Aws(a) => CloudError::from(a),
            other => CloudError::Invalid(other.to_string()),
        };
        let family = nodeclass::ami_family(nc).map_err(invalid)?;
        let overhead = karpenter_state::nodeclass::overhead_options(nc)
            .map_err(|e| CloudError::Invalid(format!("EC2NodeClass {name}: {e}")))?;
        let mut res = NodeClassResolution::default();
        let subnets = nodeclass::select_subnets(
            nodeclass::describe_subnets(&self.ctx, &nodeclass::subnet_queries(nc)).await?,
        );
        if subnets.is_empty() {
            res.subnets = Some((
                "SubnetsNotFound".into(),
                "SubnetSelector did not match any Subnets".into(),
            ));
        }
        let security_groups =
            nodeclass::describe_security_groups(&self.ctx, &nodeclass::security_group_queries(nc))
                .await?;
        if security_groups.is_empty() {
            res.security_groups = Some((
                "SecurityGroupsNotFound".into(),
                "SecurityGroupSelector did not match any SecurityGroups".into(),
            ));
        }
        let amis =
            match nodeclass::resolve_amis(&self.ctx, nc, &self.cluster.kubernetes_version).await {
                Ok(a) => a,
                Err(nodeclass::ResolveError::Aws(e)) => return Err(e.into()),
                Err(nodeclass::ResolveError::NothingSelected { .. }) => {
                    res.amis = Some((
                        "AMINotFound".into(),
                        "AMISelector did not match any AMIs".into(),
                    ));
                    Vec::new()
                }
                Err(e @ nodeclass::ResolveError::Invalid { .. }) => {
                    res.amis = Some(("UnsupportedAlias".into(), e.to_string()));
                    Vec::new()
                }
            };
        let mut instance_profile = nc.spec.instance_profile.clone();
        if instance_profile.is_none() && !read_only {
            if let Some(role) = &nc.spec.role {
                let uid = nc.metadata.uid.clone().unwrap_or_else(|| name.clone());
                match profile::ensure_instance_profile(
                    &self.ctx,
                    &self.cluster.name,
                    &name,
                    &uid,
                    role,
                    &nc.spec.tags.clone().unwrap_or_default(),
                )
                .await
                {
                    Ok(p) => instance_profile = Some(p),
                    Err(e) if e.is_not_found() => {
                        res.instance_profile =
                            Some(("RoleNotFound".into(), format!("role {role}: {e}")));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let resolved = nodeclass::ResolvedNodeClass {
            nodeclass: nc.clone(),
            family,
            overhead,
            subnets,
            security_groups,
            amis,
            instance_profile,
        };
        res.status = resolved.status();
        let ready = res.subnets.is_none()
            && res.security_groups.is_none()
            && res.amis.is_none()
            && res.instance_profile.is_none();
        let mut map = self.nodeclasses.write().unwrap_or_else(|e| e.into_inner());
        if ready {
            map.insert(name, Arc::new(resolved));
        } else {
            map.remove(&name);
        }
        Ok(res)
    }

    /// Delete the launch templates tagged for this cluster whose EC2NodeClass is not in
    /// `in_use` (a class that was deleted). Templates without both tags are never touched.
    pub async fn delete_unused_launch_templates(
        &self,
        in_use: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<String>, AwsError> {
        let ec2 = self.ctx.ec2();
        let mut pages = ec2
            .describe_launch_templates()
            .filters(
                Filter::builder()
                    .name("tag:eks:eks-cluster-name")
                    .values(&self.cluster.name)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("tag-key")
                    .values(karpenter_api::labels::EC2NODECLASS)
                    .build(),
            )
            .into_paginator()
            .send();
        let mut deleted = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeLaunchTemplates", e))?;
            for lt in page.launch_templates() {
                let tag = |k: &str| {
                    lt.tags()
                        .iter()
                        .find(|t| t.key() == Some(k))
                        .and_then(|t| t.value())
                };
                let (Some(id), Some(class)) = (
                    lt.launch_template_id(),
                    tag(karpenter_api::labels::EC2NODECLASS),
                ) else {
                    continue;
                };
                if tag("eks:eks-cluster-name") != Some(self.cluster.name.as_str())
                    || in_use.contains(class)
                {
                    continue;
                }
                match ec2
                    .delete_launch_template()
                    .launch_template_id(id)
                    .send()
                    .await
                {
                    Ok(_) => {
                        tracing::info!(
                            launch_template = lt.launch_template_name().unwrap_or(id),
                            ec2nodeclass = class,
                            "deleted launch template of a deleted EC2NodeClass"
                        );
                        deleted.push(lt.launch_template_name().unwrap_or(id).to_string());
                    }
                    Err(e) => {
                        let err = classify("ec2:DeleteLaunchTemplate", e);
                        if !err.is_not_found() {
                            return Err(err);
                        }
                    }
                }
            }
        }
        Ok(deleted)
    }

    /// Refresh prices from `source` (falls back to the embedded table; see [`pricing`]).
    pub async fn refresh_prices(&self, source: &impl PriceSource) {
        self.prices
            .lock()
            .await
            .refresh(source, self.ctx.region())
            .await;
    }

    /// Build the CreateFleet request for a NodeClaim (ensuring its launch templates exist).
    pub async fn fleet_request(&self, req: &NodeClaimRequest) -> Result<FleetRequest, CloudError> {
        let nc = self.nodeclass(&req.nodeclass)?;
        let (capacity_type, candidates) = launch_candidates(req, &self.unavailable)?;
        let per_zone = subnet_per_zone(&nc.subnets);
        let by_name: HashMap<&str, &InstanceType> = req
            .instance_types
            .iter()
            .map(|it| (it.name.as_str(), it))
            .collect();
        let user_tags = nc.nodeclass.spec.tags.clone().unwrap_or_default();
        let mut tags = user_tags.clone();
        tags.extend(static_tags(
            &self.cluster.name,
            &req.nodepool,
            &req.nodeclass,
        ));
        let mut instance_tags = tags.clone();
        instance_tags.insert(NODECLAIM_TAG.into(), req.nodeclaim.clone());
        instance_tags.insert("Name".into(), req.nodeclaim.clone());

        // group overrides by launch template (AMI × max pods), cheapest first
        let mut configs: Vec<FleetConfig> = Vec::new();
        let mut lt_of: HashMap<(String, i64, BTreeMap<String, String>), String> = HashMap::new();
        let kubelet = nc.nodeclass.spec.kubelet.clone().unwrap_or_default();
        let ec2 = self.ctx.ec2();
        for c in &candidates {
            let Some(it) = by_name.get(c.instance_type.as_str()) else {
                continue;
            };
            let (Some(subnet), Some(ami)) = (per_zone.get(&c.offering.zone), nc.ami_for(it)) else {
                continue;
            };
            let key = (
                ami.image.id.clone(),
                it.capacity.pods,
                kubelet_reserved(it, &nc.overhead, &kubelet).0,
            );
            let lt = match lt_of.get(&key) {
                Some(n) => n.clone(),
                None => {
                    let spec = self.launch_template_spec(
                        &nc,
                        req,
                        &ami.image.id,
                        it,
                        &capacity_type,
                        &tags,
                    )?;
                    let name = ensure_launch_template(&ec2, &spec).await?;
                    lt_of.insert(key, name.clone());
                    name
                }
            };
            let ov = FleetOverride {
                instance_type: c.instance_type.clone(),
                subnet_id: subnet.id.clone(),
                zone: c.offering.zone.clone(),
                image_id: ami.image.id.clone(),
                priority: c.offering.price,
            };
            match configs.iter_mut().find(|x| x.launch_template_name == lt) {
                Some(cfg) => cfg.overrides.push(ov),
                None => configs.push(FleetConfig {
                    launch_template_name: lt,
                    overrides: vec![ov],
                }),
            }
        }
        if configs.is_empty() {
            return Err(CloudError::InsufficientCapacity {
                nodeclaim: req.nodeclaim.clone(),
                reason: format!(
                    "no candidate offering has a subnet in its zone and a compatible AMI in \
                     EC2NodeClass {}",
                    req.nodeclass
                ),
            });
        }
        Ok(FleetRequest {
            capacity_type,
            configs,
            tags: instance_tags,
            context: nc.nodeclass.spec.context.clone(),
        })
    }

    fn launch_template_spec(
        &self,
        nc: &ResolvedNodeClass,
        req: &NodeClaimRequest,
        image_id: &str,
        it: &InstanceType,
        capacity_type: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<LaunchTemplateSpec, CloudError> {
        let spec = &nc.nodeclass.spec;
        let kubelet = spec.kubelet.clone().unwrap_or_default();
        let mut labels = req.labels.clone();
        labels.extend([
            (
                karpenter_api::labels::NODEPOOL.to_string(),
                req.nodepool.clone(),
            ),
            (
                karpenter_api::labels::CAPACITY_TYPE.to_string(),
                capacity_type.to_string(),
            ),
        ]);
        for (k, r) in req.requirements.iter() {
            if let Some(v) = r.single() {
                labels.entry(k.clone()).or_insert_with(|| v.to_string());
            }
        }
        let (kube_reserved, system_reserved) = kubelet_reserved(it, &nc.overhead, &kubelet);
        let boot = BootstrapOptions {
            cluster_name: self.cluster.name.clone(),
            cluster_endpoint: self.cluster.endpoint.clone(),
            ca_bundle: self.cluster.ca_bundle.clone(),
            service_cidr: self.cluster.service_cidr.clone(),
            cluster_dns: kubelet
                .cluster_dns
                .as_ref()
                .and_then(|d| d.first().cloned())
                .or_else(|| self.cluster.cluster_dns.clone()),
            max_pods: Some(it.capacity.pods),
            labels,
            taints: req.taints.iter().map(node_taint).collect(),
            kube_reserved,
            system_reserved,
            eviction_hard: kubelet.eviction_hard.clone().unwrap_or_default(),
            custom_user_data: spec.user_data.clone(),
            kubelet: userdata::KubeletPassThrough {
                eviction_soft: kubelet.eviction_soft.clone().unwrap_or_default(),
                eviction_soft_grace_period: kubelet
                    .eviction_soft_grace_period
                    .clone()
                    .unwrap_or_default(),
                eviction_max_pod_grace_period: kubelet.eviction_max_pod_grace_period,
                image_gc_high_threshold_percent: kubelet.image_gc_high_threshold_percent,
                image_gc_low_threshold_percent: kubelet.image_gc_low_threshold_percent,
                cpu_cfs_quota: kubelet.cpu_cfs_quota,
            },
        };
        let user_data = userdata::render(nc.family, &boot)
            .map_err(|e| CloudError::Invalid(format!("EC2NodeClass {}: {e}", nc.name())))?;
        let mut sgs: Vec<String> = nc.security_groups.iter().map(|g| g.id.clone()).collect();
        sgs.sort();
        Ok(LaunchTemplateSpec {
            image_id: image_id.to_string(),
            security_group_ids: sgs,
            user_data,
            block_device_mappings: spec
                .block_device_mappings
                .clone()
                .unwrap_or_else(|| default_block_devices(nc.family)),
            metadata_options: metadata_options(spec.metadata_options.as_ref()),
            instance_profile: nc.instance_profile.clone(),
            detailed_monitoring: spec.detailed_monitoring.unwrap_or(false),
            tags: tags.clone(),
        })
    }

    /// Delete the launch templates made for a NodeClass (tagged with the cluster and class).
    pub async fn delete_launch_templates(&self, nodeclass: &str) -> Result<usize, AwsError> {
        let ec2 = self.ctx.ec2();
        let out = ec2
            .describe_launch_templates()
            .filters(
                Filter::builder()
                    .name("tag:eks:eks-cluster-name")
                    .values(&self.cluster.name)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("tag:karpenter.k8s.aws/ec2nodeclass")
                    .values(nodeclass)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("ec2:DescribeLaunchTemplates", e))?;
        let mut n = 0;
        for lt in out.launch_templates() {
            let Some(id) = lt.launch_template_id() else {
                continue;
            };
            match ec2
                .delete_launch_template()
                .launch_template_id(id)
                .send()
                .await
            {
                Ok(_) => n += 1,
                Err(e) => {
                    let err = classify("ec2:DeleteLaunchTemplate", e);
                    if !err.is_not_found() {
                        return Err(err);
                    }
                }
            }
        }
        Ok(n)
    }

    /// Add the post-registration tags (`Name`, `karpenter.sh/nodeclaim`, `eks:eks-cluster-name`).
    pub async fn tag_registered(
        &self,
        instance_id: &str,
        node_name: &str,
        nodeclaim: &str,
    ) -> Result<(), AwsError> {
        let tags = [
            ("Name", node_name),
            (NODECLAIM_TAG, nodeclaim),
            ("eks:eks-cluster-name", self.cluster.name.as_str()),
        ];
        self.ctx
            .ec2()
            .create_tags()
            .resources(instance_id)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| classify("ec2:CreateTags", e))?;
        Ok(())
    }

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Instance>, AwsError> {
        let mut pages = self
            .ctx
            .ec2()
            .describe_instances()
            .set_filters(Some(filters))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeInstances", e))?;
            for r in page.reservations() {
                for i in r.instances() {
                    out.push(Instance {
                        id: i.instance_id().unwrap_or_default().to_string(),
                        instance_type: i
                            .instance_type()
                            .map(|t| t.as_str().to_string())
                            .unwrap_or_default(),
                        zone: i
                            .placement()
                            .and_then(|p| p.availability_zone())
                            .unwrap_or_default()
                            .to_string(),
                        capacity_type: if i.instance_lifecycle()
                            == Some(&InstanceLifecycleType::Spot)
                        {
                            SPOT.into()
                        } else {
                            ON_DEMAND.into()
                        },
                        image_id: i.image_id().map(str::to_string),
                        subnet_id: i.subnet_id().map(str::to_string),
                        state: i
                            .state()
                            .and_then(|s| s.name())
                            .map(|n| n.as_str().to_string())
                            .unwrap_or_default(),
                        tags: i
                            .tags()
                            .iter()
                            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                            .collect(),
                        launch_time: i.launch_time().and_then(|t| {
                            k8s_openapi::jiff::Timestamp::new(
                                t.secs(),
                                i32::try_from(t.subsec_nanos()).unwrap_or(0),
                            )
                            .ok()
                        }),
                    });
                }
            }
        }
        Ok(out)
    }
}

fn live_states() -> Filter {
    Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .values("shutting-down")
        .build()
}

// Controllers hold the provider as `Arc<dyn CloudProvider>` (see `cloud::provider`).
const _: fn(AwsProvider<Ec2Fleet>) -> Arc<dyn CloudProvider> = |p| Arc::new(p);

impl<F: Fleet> CloudProvider for AwsProvider<F> {
    // Discovered types (cached for 12 h) with capacity and overhead for the class's AMI family
    // and kubelet settings, narrowed to the zones of its subnets and the types one of its
    // AMIs serves: the EC2NodeClass translation `simulate` and `instance-types` use too
    // (`karpenter_state::nodeclass`), fed the status this resolution reports.
    fn instance_types<'a>(
        &'a self,
        nodeclass: &'a str,
    ) -> BoxFuture<'a, Result<Vec<InstanceType>, CloudError>> {
        Box::pin(async move {
            let nc = self.nodeclass(nodeclass)?;
            let described = self.types.get(&self.ctx).await?;
            let prices = {
                let mut book = self.prices.lock().await;
                if book.on_demand.is_empty() {
                    book.on_demand = pricing::embedded_on_demand(self.ctx.region());
                }
                book.clone()
            };
            let mut resolved = nc.nodeclass.clone();
            resolved.status = Some(nc.status());
            let narrowing = karpenter_state::nodeclass::resolved(&resolved)
                .map_err(|e| CloudError::Invalid(e.to_string()))?;
            let types = described
                .iter()
                .filter_map(|d| {
                    build_instance_type(
                        d,
                        self.ctx.region(),
                        &nc.overhead,
                        &prices,
                        Some(&self.unavailable),
                    )
                })
                .collect();
            Ok(narrowing.narrow(types))
        })
    }

    fn create<'a>(
        &'a self,
        req: &'a NodeClaimRequest,
    ) -> BoxFuture<'a, Result<Instance, CloudError>> {
        Box::pin(async move {
            let fleet_req = self.fleet_request(req).await?;
            let zone_of: HashMap<String, String> = fleet_req
                .overrides()
                .map(|(_, o)| (o.subnet_id.clone(), o.zone.clone()))
                .collect();
            let result = self.fleet.create_fleet(&fleet_req).await?;
            let ct = fleet_req.capacity_type.clone();
            let mut other_errors = Vec::new();
            for e in &result.errors {
                let zone = e
                    .zone
                    .clone()
                    .or_else(|| e.subnet_id.as_ref().and_then(|s| zone_of.get(s).cloned()));
                match (&e.instance_type, zone) {
                    // Launches use one subnet per zone, so a subnet out of addresses fails every
                    // type in that zone: take them all out (upstream marks the subnet).
                    (_, Some(z)) if e.code == "InsufficientFreeAddressesInSubnet" => {
                        for (_, o) in fleet_req.overrides().filter(|(_, o)| o.zone == z) {
                            self.unavailable.mark_unavailable(
                                OfferingKey::new(&ct, &o.instance_type, &z),
                                &e.code,
                            );
                        }
                    }
                    (Some(t), Some(z)) if is_insufficient_capacity(&e.code) => {
                        self.unavailable
                            .mark_unavailable(OfferingKey::new(&ct, t, &z), &e.code);
                    }
                    _ => other_errors.push(format!("{}: {}", e.code, e.message)),
                }
            }
            let Some(first) = result.instances.first() else {
                let mut reason = format!(
                    "CreateFleet launched nothing ({} override(s) tried)",
                    fleet_req.overrides().count()
                );
                if !other_errors.is_empty() {
                    reason.push_str(&format!("; errors: {}", other_errors.join("; ")));
                }
                return Err(CloudError::InsufficientCapacity {
                    nodeclaim: req.nodeclaim.clone(),
                    reason,
                });
            };
            let zone = first
                .zone
                .clone()
                .or_else(|| {
                    first
                        .subnet_id
                        .as_ref()
                        .and_then(|s| zone_of.get(s).cloned())
                })
                .unwrap_or_default();
            let image_id = fleet_req
                .overrides()
                .find(|(_, o)| o.instance_type == first.instance_type)
                .map(|(_, o)| o.image_id.clone());
            Ok(Instance {
                id: first.id.clone(),
                instance_type: first.instance_type.clone(),
                zone,
                capacity_type: ct,
                image_id,
                subnet_id: first.subnet_id.clone(),
                state: "pending".into(),
                tags: fleet_req.tags.clone(),
                launch_time: Some(k8s_openapi::jiff::Timestamp::now()),
            })
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Instance, CloudError>> {
        Box::pin(async move {
            let found = self
                .describe(vec![
                    Filter::builder().name("instance-id").values(id).build(),
                    live_states(),
                ])
                .await;
            match found {
                Ok(v) => v
                    .into_iter()
                    .next()
                    .ok_or_else(|| CloudError::NotFound(id.to_string())),
                Err(e) if e.is_not_found() => Err(CloudError::NotFound(id.to_string())),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn list<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Instance>, CloudError>> {
        Box::pin(async move {
            Ok(self
                .describe(vec![
                    Filter::builder()
                        .name("tag-key")
                        .values(karpenter_api::labels::NODEPOOL)
                        .build(),
                    Filter::builder()
                        .name("tag-key")
                        .values(karpenter_api::labels::EC2NODECLASS)
                        .build(),
                    Filter::builder()
                        .name("tag:eks:eks-cluster-name")
                        .values(&self.cluster.name)
                        .build(),
                    live_states(),
                ])
                .await?)
        })
    }

    fn find_by_nodeclaim<'a>(
        &'a self,
        nodeclaim: &'a str,
    ) -> BoxFuture<'a, Result<Option<Instance>, CloudError>> {
        Box::pin(async move {
            Ok(self
                .describe(vec![
                    Filter::builder()
                        .name(format!("tag:{NODECLAIM_TAG}"))
                        .values(nodeclaim)
                        .build(),
                    Filter::builder()
                        .name("tag:eks:eks-cluster-name")
                        .values(&self.cluster.name)
                        .build(),
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .build(),
                ])
                .await?
                .into_iter()
                .next())
        })
    }

    fn unavailable_offerings(&self) -> Option<&UnavailableOfferings> {
        Some(&self.unavailable)
    }

    fn interruption_queue<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn InterruptionQueue>, CloudError>> {
        Box::pin(async move {
            let poller = interruption::InterruptionPoller::new(&self.ctx, name).await?;
            Ok(Arc::new(poller) as Arc<dyn InterruptionQueue>)
        })
    }

    fn resolve_node_class<'a>(
        &'a self,
        node_class: &'a karpenter_api::aws::v1::EC2NodeClass,
        read_only: bool,
    ) -> BoxFuture<'a, Result<Option<NodeClassResolution>, CloudError>> {
        Box::pin(async move {
            self.resolve_nodeclass_status(node_class, read_only)
                .await
                .map(Some)
        })
    }

    fn garbage_collect_launch_templates<'a>(
        &'a self,
        in_use: &'a std::collections::BTreeSet<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, CloudError>> {
        Box::pin(async move { Ok(self.delete_unused_launch_templates(in_use).await?) })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            let inst = self.get(id).await?;
            if inst.state == "shutting-down" {
                return Ok(());
            }
            match self
                .ctx
                .ec2()
                .terminate_instances()
                .instance_ids(id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    let err = classify("ec2:TerminateInstances", e);
                    if err.is_not_found() {
                        Err(CloudError::NotFound(id.to_string()))
                    } else {
                        Err(err.into())
                    }
                }
            }
        })
    }

    // upstream `pkg/cloudprovider/cloudprovider.go: RepairPolicies`: the kubelet's Ready
    // condition, and the conditions the EKS node monitoring agent reports
    fn repair_policies(&self) -> Vec<RepairPolicy> {
        aws_repair_policies()
    }
}

/// The AWS provider's repair policies (upstream `RepairPolicies`): `Ready` `False` or `Unknown`
/// for 30 minutes, the node monitoring agent's `AcceleratedHardwareReady` `False` for 10
/// minutes, and its `StorageReady`, `NetworkingReady`, `KernelReady` and
/// `ContainerRuntimeReady` `False` for 30 minutes.
pub fn aws_repair_policies() -> Vec<RepairPolicy> {
    let half_hour = Duration::from_secs(30 * 60);
    let mut out = kubelet_repair_policies();
    out.push(RepairPolicy::new(
        "AcceleratedHardwareReady",
        "False",
        Duration::from_secs(10 * 60),
    ));
    for c in [
        "StorageReady",
        "NetworkingReady",
        "KernelReady",
        "ContainerRuntimeReady",
    ] {
        out.push(RepairPolicy::new(c, "False", half_hour));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv64_known_values() {
        assert_eq!(fnv64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    fn m5_large(opts: &OverheadOptions) -> InstanceType {
        use karpenter_scheduling::instancetype::{aws_capacity_and_overhead, AwsTypeFacts};
        let (cap, ovh) = aws_capacity_and_overhead(
            &AwsTypeFacts {
                vcpu: 2,
                memory_mib: 8192,
                arm64: false,
                default_card_enis: 3,
                ipv4_per_eni: 10,
            },
            opts,
        );
        InstanceType::new("m5.large", BTreeMap::new(), cap, ovh, vec![])
    }

    fn q(s: &str) -> k8s_openapi::apimachinery::pkg::api::resource::Quantity {
        k8s_openapi::apimachinery::pkg::api::resource::Quantity(s.into())
    }

    #[test]
    fn kubelet_gets_the_computed_kube_reserved_of_the_worked_example() {
        let opts = OverheadOptions::default();
        let it = m5_large(&opts);
        assert_eq!(it.allocatable.memory_bytes, 6903 << 20);
        let (kube, system) = kubelet_reserved(&it, &opts, &KubeletConfiguration::default());
        assert_eq!(kube["cpu"], "70m");
        assert_eq!(kube["memory"], "574Mi");
        assert_eq!(kube["ephemeral-storage"], "1024Mi");
        assert!(system.is_empty());
    }

    #[test]
    fn nodeclass_reserved_and_eviction_settings_shape_allocatable_and_kubelet() {
        const MIB: i64 = 1 << 20;
        let kubelet = KubeletConfiguration {
            kube_reserved: Some(BTreeMap::from([("memory".to_string(), q("1Gi"))])),
            system_reserved: Some(BTreeMap::from([
                ("cpu".to_string(), q("100m")),
                ("memory".to_string(), q("200Mi")),
            ])),
            eviction_hard: Some(BTreeMap::from([(
                "memory.available".to_string(),
                "5%".to_string(),
            )])),
            eviction_soft: Some(BTreeMap::from([(
                "memory.available".to_string(),
                "500Mi".to_string(),
            )])),
            ..Default::default()
        };
        let mut nc = karpenter_api::aws::v1::EC2NodeClass::new("x", Default::default());
        nc.spec.ami_selector_terms = vec![karpenter_api::aws::v1::AMISelectorTerm {
            alias: Some("al2023@latest".into()),
            ..Default::default()
        }];
        nc.spec.kubelet = Some(kubelet.clone());
        let opts = karpenter_state::nodeclass::overhead_options(&nc).unwrap();
        let it = m5_large(&opts);
        // kubeReserved cpu stays computed (70m); + systemReserved 100m
        assert_eq!(it.overhead.cpu_millis, 170);
        // 1Gi kube + 200Mi system + max(5% of 7577Mi = 379Mi, 500Mi soft)
        assert_eq!(it.overhead.memory_bytes, (1024 + 200 + 500) * MIB);
        assert_eq!(it.allocatable.memory_bytes, (7577 - 1724) * MIB);
        assert_eq!(it.allocatable.cpu_millis, 1830);
        let (kube, system) = kubelet_reserved(&it, &opts, &kubelet);
        assert_eq!(kube["memory"], "1Gi", "the NodeClass value, verbatim");
        assert_eq!(kube["cpu"], "70m", "computed where the NodeClass is silent");
        assert_eq!(kube["ephemeral-storage"], "1024Mi");
        assert_eq!(system["cpu"], "100m");
        assert_eq!(system["memory"], "200Mi");
    }

    #[test]
    fn static_tags_are_the_four_upstream_keys() {
        let t = static_tags("demo", "default", "nc");
        assert_eq!(t.len(), 4);
        assert_eq!(t["kubernetes.io/cluster/demo"], "owned");
        assert_eq!(t["eks:eks-cluster-name"], "demo");
        assert_eq!(t["karpenter.sh/nodepool"], "default");
        assert_eq!(t["karpenter.k8s.aws/ec2nodeclass"], "nc");
    }
}
