//! The embedded catalog of real EC2 instance types and us-east-1 on-demand prices
//! (`data/aws-instance-types.json`; provenance in `data/SOURCES.md`).
use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::instancetype::{
    aws_capacity_and_overhead, AwsTypeFacts, InstanceType, Offering, OverheadOptions, ON_DEMAND,
    SPOT,
};
use crate::labels;
use crate::Error;

const EMBEDDED: &str = include_str!("../data/aws-instance-types.json");

/// One catalog row.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogType {
    /// Name.
    pub name: String,
    /// Family (`m5`).
    pub family: String,
    /// Category (`m`).
    pub category: String,
    /// Generation.
    pub generation: i64,
    /// Size (`large`).
    pub size: String,
    /// vCPUs.
    pub vcpu: i64,
    /// Memory in MiB.
    #[serde(rename = "memoryMiB")]
    pub memory_mib: i64,
    /// `amd64` or `arm64`.
    pub architecture: String,
    /// GPUs.
    #[serde(default)]
    pub gpu_count: i64,
    /// GPU model.
    #[serde(default)]
    pub gpu_name: Option<String>,
    /// GPU memory in MiB.
    #[serde(default, rename = "gpuMemoryMiB")]
    pub gpu_memory_mib: i64,
    /// Local NVMe in GiB.
    #[serde(default, rename = "localNvmeGiB")]
    pub local_nvme_gib: i64,
    /// Max ENIs on the default network card.
    pub default_card_max_enis: i64,
    /// IPv4 per ENI.
    pub ipv4_per_eni: i64,
    /// Hypervisor (`nitro`, `xen`, none for metal).
    #[serde(default)]
    pub hypervisor: Option<String>,
    /// Network bandwidth in Mbps.
    #[serde(default)]
    pub network_bandwidth_mbps: Option<i64>,
    /// USD per hour, on-demand.
    pub on_demand_price_per_hour: Option<f64>,
    /// Zones offering it.
    pub zones: Vec<String>,
}

/// One region's catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogRegion {
    /// The region's zones.
    pub zones: Vec<String>,
    /// Estimated spot discount (unused when null).
    #[serde(default)]
    pub estimated_spot_discount: Option<f64>,
    /// Types.
    pub instance_types: Vec<CatalogType>,
}

/// A catalog file: regions → types.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    /// Regions.
    pub regions: BTreeMap<String, CatalogRegion>,
}

impl Catalog {
    /// The embedded catalog, parsed once.
    pub fn embedded() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            // The embedded file is validated by a unit test; an empty catalog is the fallback.
            Catalog::from_json(EMBEDDED).unwrap_or(Catalog {
                regions: BTreeMap::new(),
            })
        })
    }

    /// Parse a catalog in the same format as the embedded one.
    pub fn from_json(s: &str) -> Result<Catalog, Error> {
        serde_json::from_str(s).map_err(|e| Error::Catalog(e.to_string()))
    }

    /// Build instance types for `region`. Offerings: on-demand per zone at the catalog price, and
    /// spot per zone at the same price (upstream's start-up rule before spot prices are known)
    /// or at `1 − estimatedSpotDiscount` when the catalog gives one.
    pub fn instance_types(
        &self,
        region: &str,
        opts: &OverheadOptions,
    ) -> Result<Vec<InstanceType>, Error> {
        let r = self.regions.get(region).ok_or_else(|| {
            Error::Catalog(format!(
                "region {region:?} is not in the catalog (regions: {})",
                self.regions.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if r.instance_types.is_empty() {
            return Err(Error::Catalog(format!(
                "the catalog has no priced instance types for {region:?}; the embedded one only \
                 prices us-east-1: pass --catalog FILE with prices for {region}"
            )));
        }
        let spot_factor = 1.0 - r.estimated_spot_discount.unwrap_or(0.0);
        Ok(r.instance_types
            .iter()
            .filter_map(|t| {
                let price = t.on_demand_price_per_hour?;
                Some(build_type(region, t, price, spot_factor, opts))
            })
            .collect())
    }
}

fn build_type(
    region: &str,
    t: &CatalogType,
    price: f64,
    spot_factor: f64,
    opts: &OverheadOptions,
) -> InstanceType {
    let facts = AwsTypeFacts {
        vcpu: t.vcpu,
        memory_mib: t.memory_mib,
        arm64: t.architecture == "arm64",
        default_card_enis: t.default_card_max_enis,
        ipv4_per_eni: t.ipv4_per_eni,
    };
    let (mut capacity, overhead) = aws_capacity_and_overhead(&facts, opts);
    let mut l = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        l.insert(k.to_string(), v);
    };
    set(labels::ARCH, t.architecture.clone());
    set(labels::OS, "linux".into());
    set(labels::REGION, region.into());
    set(labels::INSTANCE_FAMILY, t.family.clone());
    set(labels::INSTANCE_CATEGORY, t.category.clone());
    set(labels::INSTANCE_GENERATION, t.generation.to_string());
    set(labels::INSTANCE_SIZE, t.size.clone());
    set(labels::INSTANCE_CPU, t.vcpu.to_string());
    set(labels::INSTANCE_MEMORY, t.memory_mib.to_string());
    if let Some(h) = &t.hypervisor {
        set(labels::INSTANCE_HYPERVISOR, h.clone());
    }
    if let Some(b) = t.network_bandwidth_mbps {
        set(labels::INSTANCE_NETWORK_BANDWIDTH, b.to_string());
    }
    if t.local_nvme_gib > 0 {
        set(labels::INSTANCE_LOCAL_NVME, t.local_nvme_gib.to_string());
    }
    if let (Some(g), true) = (&t.gpu_name, t.gpu_count > 0) {
        let name = g.to_lowercase().replace(' ', "-");
        set(labels::INSTANCE_GPU_NAME, name);
        set(labels::INSTANCE_GPU_COUNT, t.gpu_count.to_string());
        set(labels::INSTANCE_GPU_MEMORY, t.gpu_memory_mib.to_string());
        set(labels::INSTANCE_GPU_MANUFACTURER, "nvidia".into());
        capacity
            .extended
            .insert("nvidia.com/gpu".into(), t.gpu_count);
    }
    let mut offerings = Vec::with_capacity(t.zones.len() * 2);
    for z in &t.zones {
        offerings.push(Offering {
            zone: z.clone(),
            capacity_type: ON_DEMAND.into(),
            price,
            available: true,
        });
        offerings.push(Offering {
            zone: z.clone(),
            capacity_type: SPOT.into(),
            price: price * spot_factor,
            available: true,
        });
    }
    InstanceType::new(&t.name, l, capacity, overhead, offerings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_parses_and_has_m5_large() {
        let c = Catalog::from_json(EMBEDDED).expect("embedded catalog parses");
        let types = c
            .instance_types("us-east-1", &OverheadOptions::default())
            .unwrap();
        assert!(types.len() > 1000);
        let m5 = types.iter().find(|t| t.name == "m5.large").unwrap();
        assert_eq!(m5.capacity.pods, 29);
        assert_eq!(m5.allocatable.cpu_millis, 1930);
        assert_eq!(m5.allocatable.memory_bytes, 6903 << 20);
        assert_eq!(m5.labels[labels::INSTANCE_FAMILY], "m5");
        assert!(m5
            .offerings
            .iter()
            .any(|o| o.zone == "us-east-1a" && o.capacity_type == ON_DEMAND && o.price == 0.096));
    }

    #[test]
    fn unpriced_region_is_a_clear_error() {
        let err = Catalog::embedded()
            .instance_types("us-west-2", &OverheadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--catalog"), "{err}");
        let err = Catalog::embedded()
            .instance_types("mars-1", &OverheadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("mars-1"), "{err}");
    }

    #[test]
    fn gpu_types_carry_gpu_capacity() {
        let types = Catalog::embedded()
            .instance_types("us-east-1", &OverheadOptions::default())
            .unwrap();
        let g = types.iter().find(|t| t.name == "g5.xlarge").unwrap();
        assert_eq!(g.capacity.extended.get("nvidia.com/gpu"), Some(&1));
        assert_eq!(g.labels[labels::INSTANCE_GPU_NAME], "a10g");
    }
}
