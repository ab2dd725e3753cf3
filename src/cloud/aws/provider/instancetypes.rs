//! Instance types from `DescribeInstanceTypes` + `DescribeInstanceTypeOfferings`, built into the
//! scheduling crate's [`InstanceType`] with its capacity/overhead math (karpenter-aws.md §1–§2).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Filter, InstanceTypeInfo, LocationType, UsageClassType};
use karpenter_scheduling::instancetype::{
    aws_capacity_and_overhead, AwsTypeFacts, OverheadOptions, ON_DEMAND, SPOT,
};
use karpenter_scheduling::{labels, InstanceType, Offering};

use super::pricing::PriceBook;
use crate::cloud::aws::{classify, AwsContext, AwsError};
use crate::cloud::provider::{Clock, OfferingKey, UnavailableOfferings};

/// How long discovered instance types and offerings are reused (upstream refreshes every 12 h).
pub const INSTANCE_TYPE_TTL: Duration = Duration::from_secs(12 * 3600);

/// Split a name like `m5.large` into (category, family, generation, size).
pub fn parse_name(name: &str) -> Option<(String, String, Option<i64>, String)> {
    let (family, size) = name.split_once('.')?;
    let category: String = family
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    let rest = &family[category.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let generation = digits.parse::<i64>().ok();
    Some((category, family.to_string(), generation, size.to_string()))
}

/// An EC2 description with the zones that offer it.
#[derive(Debug, Clone)]
pub struct DescribedType {
    /// DescribeInstanceTypes' entry.
    pub info: InstanceTypeInfo,
    /// Zones from DescribeInstanceTypeOfferings.
    pub zones: BTreeSet<String>,
}

/// Build one instance type: labels, capacity and overhead (scheduling crate math) and one
/// offering per (zone × supported capacity type), priced from `prices`. Offerings without a
/// price or in the ICE cache are marked unavailable. `None` if the description lacks vCPU,
/// memory or network facts.
pub fn build_instance_type(
    d: &DescribedType,
    region: &str,
    opts: &OverheadOptions,
    prices: &PriceBook,
    unavailable: Option<&UnavailableOfferings>,
) -> Option<InstanceType> {
    let info = &d.info;
    let name = info.instance_type()?.as_str().to_string();
    let vcpu = i64::from(info.v_cpu_info()?.default_v_cpus()?);
    let memory_mib = info.memory_info()?.size_in_mib()?;
    let proc = info.processor_info()?;
    let arm64 = proc
        .supported_architectures()
        .first()
        .is_some_and(|a| a.as_str() == "arm64");
    let arch = if arm64 { "arm64" } else { "amd64" };
    let net = info.network_info()?;
    let default_card = net.default_network_card_index().unwrap_or(0);
    let default_card_enis = net
        .network_cards()
        .iter()
        .find(|c| c.network_card_index() == Some(default_card))
        .and_then(|c| c.maximum_network_interfaces())
        .or(net.maximum_network_interfaces())
        .map(i64::from)?;
    let ipv4_per_eni = i64::from(net.ipv4_addresses_per_interface()?);
    let facts = AwsTypeFacts {
        vcpu,
        memory_mib,
        arm64,
        default_card_enis,
        ipv4_per_eni,
    };
    let (mut capacity, overhead) = aws_capacity_and_overhead(&facts, opts);

    let mut l = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        l.insert(k.to_string(), v);
    };
    set(labels::ARCH, arch.into());
    set(labels::OS, "linux".into());
    set(labels::REGION, region.into());
    if let Some((category, family, generation, size)) = parse_name(&name) {
        set(labels::INSTANCE_CATEGORY, category);
        set(labels::INSTANCE_FAMILY, family);
        if let Some(g) = generation {
            set(labels::INSTANCE_GENERATION, g.to_string());
        }
        set(labels::INSTANCE_SIZE, size);
    }
    set(labels::INSTANCE_CPU, vcpu.to_string());
    set(labels::INSTANCE_MEMORY, memory_mib.to_string());
    if let Some(m) = proc.manufacturer() {
        set(
            karpenter_api::labels::INSTANCE_CPU_MANUFACTURER,
            m.to_lowercase(),
        );
    }
    if let Some(ghz) = proc.sustained_clock_speed_in_ghz() {
        set(
            karpenter_api::labels::INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ,
            ((ghz * 1000.0).round() as i64).to_string(),
        );
    }
    set(
        labels::INSTANCE_HYPERVISOR,
        info.hypervisor()
            .map(|h| h.as_str().to_string())
            .unwrap_or_default(),
    );
    if let Some(e) = net.encryption_in_transit_supported() {
        set(
            karpenter_api::labels::INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED,
            e.to_string(),
        );
    }
    if let Some(gb) = info
        .instance_storage_info()
        .and_then(|s| s.total_size_in_gb())
    {
        set(labels::INSTANCE_LOCAL_NVME, gb.to_string());
    }
    if let Some(gpu) = info.gpu_info() {
        if let [g] = gpu.gpus() {
            let count = i64::from(g.count().unwrap_or(0));
            if count > 0 {
                let mfr = g.manufacturer().unwrap_or_default().to_lowercase();
                set(
                    labels::INSTANCE_GPU_NAME,
                    g.name()
                        .unwrap_or_default()
                        .to_lowercase()
                        .replace(' ', "-"),
                );
                set(labels::INSTANCE_GPU_MANUFACTURER, mfr.clone());
                set(labels::INSTANCE_GPU_COUNT, count.to_string());
                if let Some(m) = g.memory_info().and_then(|m| m.size_in_mib()) {
                    set(labels::INSTANCE_GPU_MEMORY, m.to_string());
                }
                let resource = match mfr.as_str() {
                    "nvidia" => Some("nvidia.com/gpu"),
                    "amd" => Some("amd.com/gpu"),
                    "habana" => Some("habana.ai/gaudi"),
                    _ => None,
                };
                if let Some(r) = resource {
                    capacity.extended.insert(r.into(), count);
                }
            }
        }
    }

    let classes = info.supported_usage_classes();
    let mut offerings = Vec::new();
    for z in &d.zones {
        for (ct, supported) in [
            (ON_DEMAND, classes.contains(&UsageClassType::OnDemand)),
            (SPOT, classes.contains(&UsageClassType::Spot)),
        ] {
            if !supported {
                continue;
            }
            let price = if ct == SPOT {
                prices.spot_price(&name, z)
            } else {
                prices.on_demand_price(&name)
            };
            let iced =
                unavailable.is_some_and(|u| u.is_unavailable(&OfferingKey::new(ct, &name, z)));
            offerings.push(Offering {
                zone: z.clone(),
                capacity_type: ct.to_string(),
                price: price.unwrap_or(f64::MAX),
                available: price.is_some() && !iced,
            });
        }
    }
    Some(InstanceType::new(&name, l, capacity, overhead, offerings))
}

/// Describe every instance type (hvm, x86_64/arm64; paginated) and its offering zones.
pub async fn describe_instance_types(ctx: &AwsContext) -> Result<Vec<DescribedType>, AwsError> {
    let ec2 = ctx.ec2();
    let mut zones: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut pages = ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ec2:DescribeInstanceTypeOfferings", e))?;
        for o in page.instance_type_offerings() {
            if let (Some(t), Some(z)) = (o.instance_type(), o.location()) {
                zones
                    .entry(t.as_str().to_string())
                    .or_default()
                    .insert(z.to_string());
            }
        }
    }
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_instance_types()
        .filters(
            Filter::builder()
                .name("supported-virtualization-type")
                .values("hvm")
                .build(),
        )
        .filters(
            Filter::builder()
                .name("processor-info.supported-architecture")
                .values("x86_64")
                .values("arm64")
                .build(),
        )
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ec2:DescribeInstanceTypes", e))?;
        for info in page.instance_types() {
            let name = info
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            out.push(DescribedType {
                zones: zones.get(&name).cloned().unwrap_or_default(),
                info: info.clone(),
            });
        }
    }
    Ok(out)
}

/// Described instance types cached for a TTL on an injectable clock.
#[derive(Debug)]
pub struct InstanceTypeCache {
    clock: Arc<dyn Clock>,
    ttl: Duration,
    entry: Mutex<Option<(Instant, Arc<Vec<DescribedType>>)>>,
}

impl InstanceTypeCache {
    /// A cache with the given TTL.
    pub fn new(clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        InstanceTypeCache {
            clock,
            ttl,
            entry: Mutex::new(None),
        }
    }

    /// The cached descriptions, or fresh ones from `ctx` when missing or expired.
    pub async fn get(&self, ctx: &AwsContext) -> Result<Arc<Vec<DescribedType>>, AwsError> {
        if let Some(v) = self.fresh() {
            return Ok(v);
        }
        let v = Arc::new(describe_instance_types(ctx).await?);
        *self.entry.lock().unwrap_or_else(|e| e.into_inner()) = Some((self.clock.now(), v.clone()));
        Ok(v)
    }

    fn fresh(&self) -> Option<Arc<Vec<DescribedType>>> {
        let g = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref()
            .filter(|(at, _)| self.clock.now().duration_since(*at) < self.ttl)
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        ArchitectureType, InstanceType as Ec2Type, MemoryInfo, NetworkCardInfo, NetworkInfo,
        ProcessorInfo, VCpuInfo,
    };

    /// m5.large as DescribeInstanceTypes reports it.
    pub(crate) fn m5_large() -> InstanceTypeInfo {
        InstanceTypeInfo::builder()
            .instance_type(Ec2Type::M5Large)
            .v_cpu_info(VCpuInfo::builder().default_v_cpus(2).build())
            .memory_info(MemoryInfo::builder().size_in_mib(8192).build())
            .processor_info(
                ProcessorInfo::builder()
                    .supported_architectures(ArchitectureType::X8664)
                    .manufacturer("Intel")
                    .sustained_clock_speed_in_ghz(3.1)
                    .build(),
            )
            .network_info(
                NetworkInfo::builder()
                    .maximum_network_interfaces(3)
                    .ipv4_addresses_per_interface(10)
                    .default_network_card_index(0)
                    .network_cards(
                        NetworkCardInfo::builder()
                            .network_card_index(0)
                            .maximum_network_interfaces(3)
                            .build(),
                    )
                    .build(),
            )
            .supported_usage_classes(UsageClassType::OnDemand)
            .supported_usage_classes(UsageClassType::Spot)
            .hypervisor(aws_sdk_ec2::types::InstanceTypeHypervisor::Nitro)
            .build()
    }

    #[test]
    fn m5_large_matches_the_worked_upstream_example() {
        let d = DescribedType {
            info: m5_large(),
            zones: BTreeSet::from(["us-west-2a".to_string(), "us-west-2b".to_string()]),
        };
        let prices = PriceBook {
            on_demand: HashMap::from([("m5.large".to_string(), 0.096)]),
            spot: HashMap::new(),
            ..PriceBook::default()
        };
        let it = build_instance_type(&d, "us-west-2", &OverheadOptions::default(), &prices, None)
            .unwrap();
        assert_eq!(it.capacity.pods, 29);
        assert_eq!(it.capacity.memory_bytes, 7577 << 20);
        assert_eq!(it.overhead.cpu_millis, 70);
        assert_eq!(it.overhead.memory_bytes, (574 + 100) << 20);
        assert_eq!(it.allocatable.cpu_millis, 1930);
        assert_eq!(it.allocatable.memory_bytes, 6903 << 20);
        assert_eq!(it.allocatable.pods, 29);
        assert_eq!(it.labels[labels::INSTANCE_FAMILY], "m5");
        assert_eq!(it.labels[labels::INSTANCE_CATEGORY], "m");
        assert_eq!(it.labels[labels::INSTANCE_GENERATION], "5");
        assert_eq!(it.labels[labels::INSTANCE_SIZE], "large");
        assert_eq!(it.labels[labels::ARCH], "amd64");
        assert_eq!(it.labels[labels::INSTANCE_HYPERVISOR], "nitro");
        assert_eq!(
            it.labels[karpenter_api::labels::INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ],
            "3100"
        );
        assert_eq!(it.offerings.len(), 4, "2 zones × on-demand/spot");
        assert!(it.offerings.iter().all(|o| o.available && o.price == 0.096));
    }

    #[test]
    fn unpriced_and_iced_offerings_are_unavailable() {
        let d = DescribedType {
            info: m5_large(),
            zones: BTreeSet::from(["z1".to_string(), "z2".to_string()]),
        };
        let prices = PriceBook {
            on_demand: HashMap::from([("m5.large".to_string(), 0.096)]),
            spot: HashMap::from([(("m5.large".to_string(), "z1".to_string()), 0.04)]),
            ..PriceBook::default()
        };
        let cache =
            UnavailableOfferings::new(Arc::new(crate::cloud::provider::FakeClock::default()));
        cache.mark_unavailable(OfferingKey::new(ON_DEMAND, "m5.large", "z2"), "test");
        let it = build_instance_type(&d, "r", &OverheadOptions::default(), &prices, Some(&cache))
            .unwrap();
        let get = |z: &str, ct: &str| {
            it.offerings
                .iter()
                .find(|o| o.zone == z && o.capacity_type == ct)
                .unwrap()
                .clone()
        };
        assert!(get("z1", SPOT).available);
        assert_eq!(get("z1", SPOT).price, 0.04);
        assert!(!get("z2", SPOT).available, "no spot price in z2");
        assert!(!get("z2", ON_DEMAND).available, "ICE cache");
        assert!(get("z1", ON_DEMAND).available);
    }

    #[test]
    fn names_split_into_category_family_generation_size() {
        assert_eq!(
            parse_name("u-6tb1.metal"),
            Some(("u".into(), "u-6tb1".into(), None, "metal".into()))
        );
        assert_eq!(
            parse_name("c7gn.16xlarge"),
            Some(("c".into(), "c7gn".into(), Some(7), "16xlarge".into()))
        );
        assert_eq!(parse_name("nodot"), None);
    }
}
