//! `kubectl karpenter instance-types`: the instance types Karpenter would consider, cheapest
//! first, from the live EC2 APIs or (with `--offline`) the embedded catalog.
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use karpenter_scheduling::catalog::Catalog;
use karpenter_scheduling::instancetype::{OverheadOptions, ON_DEMAND, SPOT};
use karpenter_scheduling::{
    labels, InstanceType, NodeSelectorRequirement, Operator, Requirement, Requirements,
};
use serde::Serialize;

use super::{GlobalArgs, OutputFormat};
use crate::cloud::aws::provider::instancetypes::{build_instance_type, describe_instance_types};
use crate::cloud::aws::provider::pricing::{
    embedded_on_demand, PriceBook, PricingApiPrices, EMBEDDED_PRICE_REGION,
};
use crate::cloud::aws::AwsContext;
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_api::sh::v1::NodePool;
use karpenter_state::nodeclass;

/// CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// x86_64
    Amd64,
    /// arm64 (Graviton)
    Arm64,
}

/// Capacity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CapacityType {
    /// Spot
    Spot,
    /// On-demand
    #[value(name = "on-demand")]
    OnDemand,
}

/// Arguments of `instance-types`.
#[derive(Debug, Clone, Default, Args)]
pub struct InstanceTypesArgs {
    /// Use this EC2NodeClass's resolved zones and AMIs, AMI family and kubelet settings (reads the
    /// cluster; default: the --nodepool's nodeClassRef)
    #[arg(long, value_name = "NAME")]
    pub nodeclass: Option<String>,
    /// Apply this NodePool's requirements (reads the cluster)
    #[arg(long, value_name = "NAME", conflicts_with = "filename")]
    pub nodepool: Option<String>,
    /// Apply the requirements of the NodePool in this YAML file
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: Option<PathBuf>,
    /// Only types with exactly this many vCPUs
    #[arg(long, value_name = "N")]
    pub vcpus: Option<i64>,
    /// Only types with exactly this much memory, in GiB (e.g. 8, 0.5)
    #[arg(long, value_name = "GiB")]
    pub memory: Option<f64>,
    /// Only this architecture
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Only offerings of this capacity type
    #[arg(long, value_enum)]
    pub capacity_type: Option<CapacityType>,
    /// Use the embedded catalog instead of the AWS APIs (no credentials needed)
    #[arg(long)]
    pub offline: bool,
}

/// One row of the listing (the `-o json` contract).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Instance type.
    pub name: String,
    /// vCPUs.
    pub vcpu: i64,
    /// Memory in MiB (as EC2 reports it).
    #[serde(rename = "memoryMiB")]
    pub memory_mib: i64,
    /// Allocatable CPU in cores.
    pub allocatable_cpu: f64,
    /// Allocatable memory in MiB.
    #[serde(rename = "allocatableMemoryMiB")]
    pub allocatable_memory_mib: i64,
    /// Allocatable ephemeral storage in MiB.
    #[serde(rename = "allocatableEphemeralStorageMiB")]
    pub allocatable_ephemeral_storage_mib: i64,
    /// Max pods.
    pub max_pods: i64,
    /// USD per hour on-demand (cheapest allowed zone).
    pub on_demand_price_per_hour: Option<f64>,
    /// USD per hour spot (cheapest allowed zone).
    pub spot_price_per_hour: Option<f64>,
    /// Zones with an allowed, available offering.
    pub zones: Vec<String>,
}

/// Run the subcommand.
pub async fn run(global: &GlobalArgs, args: InstanceTypesArgs) -> anyhow::Result<ExitCode> {
    let mut reqs = requirements(&args)?;
    let mut opts = OverheadOptions::default();
    let mut narrowing = None;
    if args.nodepool.is_some() || args.nodeclass.is_some() {
        let client = crate::cluster::client::client(&global.kube_options()).await?;
        let mut nodeclass = args.nodeclass.clone();
        if let Some(name) = &args.nodepool {
            let np = kube::Api::<NodePool>::all(client.clone())
                .get(name)
                .await
                .with_context(|| format!("cannot read NodePool {name}"))?;
            reqs.add_all(
                &nodepool_requirements_of(&np).with_context(|| format!("NodePool {name}"))?,
            );
            let r = &np.spec.template.spec.node_class_ref;
            if nodeclass.is_none() && r.kind == "EC2NodeClass" {
                nodeclass = Some(r.name.clone());
            }
        }
        if let Some(name) = &nodeclass {
            let nc = kube::Api::<EC2NodeClass>::all(client)
                .get(name)
                .await
                .with_context(|| format!("cannot read EC2NodeClass {name}"))?;
            // the one EC2NodeClass translation simulate and the AWS provider use too
            opts = nodeclass::overhead_options(&nc)?;
            narrowing = Some(nodeclass::resolved(&nc)?);
        }
    }
    let types = if args.offline {
        offline_types(
            global.region.as_deref().unwrap_or(EMBEDDED_PRICE_REGION),
            &opts,
        )?
    } else {
        live_types(global, &opts).await?
    };
    // the zones of the class's subnets, and the types one of its AMIs serves
    let types: Vec<InstanceType> = match &narrowing {
        Some(r) => r.narrow(types),
        None => types,
    };
    let rows = select(&types, &reqs, &args);
    let out = match global.output.unwrap_or(OutputFormat::Table) {
        OutputFormat::Json => super::output::to_json(&rows)?,
        OutputFormat::Yaml => super::output::to_yaml(&rows)?,
        OutputFormat::Table => table(&rows),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn requirements(args: &InstanceTypesArgs) -> anyhow::Result<Requirements> {
    let mut reqs = Requirements::new();
    if let Some(path) = &args.filename {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        reqs = nodepool_requirements(&text).with_context(|| {
            format!("{}: not a usable karpenter.sh/v1 NodePool", path.display())
        })?;
    }
    if let Some(a) = args.arch {
        let v = match a {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        };
        reqs.add(labels::ARCH, Requirement::in_values([v]));
    }
    if let Some(c) = args.capacity_type {
        let v = match c {
            CapacityType::Spot => SPOT,
            CapacityType::OnDemand => ON_DEMAND,
        };
        reqs.add(labels::CAPACITY_TYPE, Requirement::in_values([v]));
    }
    Ok(reqs)
}

/// The requirements (and template labels) of a NodePool YAML document.
pub fn nodepool_requirements(text: &str) -> anyhow::Result<Requirements> {
    let np: NodePool =
        serde_saphyr::from_str(text).context("cannot parse the YAML as a NodePool")?;
    nodepool_requirements_of(&np)
}

/// The requirements (and template labels) of a NodePool.
pub fn nodepool_requirements_of(np: &NodePool) -> anyhow::Result<Requirements> {
    let terms = np
        .spec
        .template
        .spec
        .requirements
        .iter()
        .map(|r| {
            let op = Operator::parse(&r.operator).ok_or_else(|| {
                anyhow::anyhow!(
                    "spec.template.spec.requirements: key {:?} has unknown operator {:?} (In, \
                     NotIn, Exists, DoesNotExist, Gt, Lt)",
                    r.key,
                    r.operator
                )
            })?;
            Ok(NodeSelectorRequirement {
                key: r.key.clone(),
                operator: op,
                values: r.values.clone().unwrap_or_default(),
                min_values: r.min_values.and_then(|m| usize::try_from(m).ok()),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut reqs = Requirements::from_terms(&terms).context("spec.template.spec.requirements")?;
    if let Some(l) = np
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
    {
        for (k, v) in l {
            reqs.add(k, Requirement::in_values([v.clone()]));
        }
    }
    Ok(reqs)
}

/// Instance types from the embedded catalog; regions without prices use us-east-1's (logged).
pub fn offline_types(region: &str, opts: &OverheadOptions) -> anyhow::Result<Vec<InstanceType>> {
    let catalog = Catalog::embedded();
    let Some(r) = catalog.regions.get(region) else {
        anyhow::bail!(
            "region {region:?} is not in the embedded catalog (it has: {}); drop --offline to \
             query AWS, or pass --region with one of those",
            catalog
                .regions
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let mut r = r.clone();
    if r.instance_types.is_empty() {
        // The catalog lists this region's zones but not its types: assume us-east-1's types
        // are offered in every zone (logged; drop --offline for the real offerings).
        tracing::warn!(
            region,
            "the embedded catalog has no instance types for this region; showing \
             {EMBEDDED_PRICE_REGION}'s types in every zone of {region}"
        );
        if let Some(base) = catalog.regions.get(EMBEDDED_PRICE_REGION) {
            r.instance_types = base.instance_types.clone();
            for t in &mut r.instance_types {
                t.zones = r.zones.clone();
            }
        }
    }
    if r.instance_types
        .iter()
        .all(|t| t.on_demand_price_per_hour.is_none())
    {
        tracing::warn!(
            region,
            "the embedded catalog has no prices for this region; showing {EMBEDDED_PRICE_REGION} prices"
        );
        let prices = embedded_on_demand(EMBEDDED_PRICE_REGION);
        for t in &mut r.instance_types {
            t.on_demand_price_per_hour = prices.get(&t.name).copied();
        }
    }
    let single = Catalog {
        regions: BTreeMap::from([(region.to_string(), r)]),
    };
    Ok(single.instance_types(region, opts)?)
}

async fn live_types(
    global: &GlobalArgs,
    opts: &OverheadOptions,
) -> anyhow::Result<Vec<InstanceType>> {
    let ctx = AwsContext::load(global.aws_options()).await?;
    live_types_from(&ctx, opts).await
}

/// Instance types from DescribeInstanceTypes/-Offerings, priced from the Pricing API (on-demand,
/// the embedded table when it is unavailable) and DescribeSpotPriceHistory (spot).
pub async fn live_types_from(
    ctx: &AwsContext,
    opts: &OverheadOptions,
) -> anyhow::Result<Vec<InstanceType>> {
    let described = describe_instance_types(ctx).await?;
    let mut prices = PriceBook::default();
    prices
        .refresh(&PricingApiPrices::new(ctx.clone()), ctx.region())
        .await;
    Ok(described
        .iter()
        .filter_map(|d| build_instance_type(d, ctx.region(), opts, &prices, None))
        .collect())
}

/// Filter by requirements and flags, and build rows cheapest first.
pub fn select(types: &[InstanceType], reqs: &Requirements, args: &InstanceTypesArgs) -> Vec<Row> {
    let zone_req = reqs.get(labels::ZONE);
    let ct_req = reqs.get(labels::CAPACITY_TYPE);
    let mut rows: Vec<(f64, Row)> = types
        .iter()
        .filter(|it| it.labels_compatible(reqs))
        .filter_map(|it| {
            let vcpu = it.capacity.cpu_millis / 1000;
            let memory_mib: i64 = it
                .labels
                .get(labels::INSTANCE_MEMORY)
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            if args.vcpus.is_some_and(|n| n != vcpu) {
                return None;
            }
            if args
                .memory
                .is_some_and(|g| (g * 1024.0).round() as i64 != memory_mib)
            {
                return None;
            }
            let offers: Vec<_> = it
                .offerings
                .iter()
                .filter(|o| {
                    o.available
                        && zone_req.is_none_or(|z| z.has(&o.zone))
                        && ct_req.is_none_or(|c| c.has(&o.capacity_type))
                })
                .collect();
            if offers.is_empty() {
                return None;
            }
            let min = |ct: &str| {
                offers
                    .iter()
                    .filter(|o| o.capacity_type == ct)
                    .map(|o| o.price)
                    .min_by(f64::total_cmp)
            };
            let zones: BTreeSet<String> = offers.iter().map(|o| o.zone.clone()).collect();
            let cheapest = offers.iter().map(|o| o.price).min_by(f64::total_cmp)?;
            Some((
                cheapest,
                Row {
                    name: it.name.clone(),
                    vcpu,
                    memory_mib,
                    allocatable_cpu: it.allocatable.cpu_millis as f64 / 1000.0,
                    allocatable_memory_mib: it.allocatable.memory_bytes >> 20,
                    allocatable_ephemeral_storage_mib: it.allocatable.ephemeral_bytes >> 20,
                    max_pods: it.capacity.pods,
                    on_demand_price_per_hour: min(ON_DEMAND),
                    // The embedded catalog has no spot prices (its spot offerings carry the
                    // on-demand price as a placeholder): say unknown rather than repeat it.
                    spot_price_per_hour: if args.offline { None } else { min(SPOT) },
                    zones: zones.into_iter().collect(),
                },
            ))
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    rows.into_iter().map(|(_, r)| r).collect()
}

fn price(p: Option<f64>) -> String {
    p.map(|p| format!("${p:.4}")).unwrap_or_else(|| "-".into())
}

fn table(rows: &[Row]) -> String {
    let mut b = tabled::builder::Builder::default();
    b.push_record([
        "NAME",
        "VCPU",
        "MEMORY",
        "ALLOC CPU",
        "ALLOC MEMORY",
        "ALLOC STORAGE",
        "MAX PODS",
        "ON-DEMAND/H",
        "SPOT/H",
        "ZONES",
    ]);
    for r in rows {
        b.push_record([
            r.name.clone(),
            r.vcpu.to_string(),
            format!("{}Mi", r.memory_mib),
            format!("{}m", (r.allocatable_cpu * 1000.0).round() as i64),
            format!("{}Mi", r.allocatable_memory_mib),
            format!("{}Mi", r.allocatable_ephemeral_storage_mib),
            r.max_pods.to_string(),
            price(r.on_demand_price_per_hour),
            price(r.spot_price_per_hour),
            r.zones.join(","),
        ]);
    }
    let mut t = b.build();
    t.with(tabled::settings::Style::blank());
    format!("{t}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> InstanceTypesArgs {
        InstanceTypesArgs {
            offline: true,
            ..Default::default()
        }
    }

    #[test]
    fn offline_m5_large_row_matches_the_worked_example() {
        let types = offline_types("us-east-1", &OverheadOptions::default()).unwrap();
        let mut a = args();
        a.vcpus = Some(2);
        a.memory = Some(8.0);
        let rows = select(&types, &Requirements::new(), &a);
        let m5 = rows.iter().find(|r| r.name == "m5.large").unwrap();
        assert_eq!(m5.max_pods, 29);
        assert_eq!(m5.allocatable_cpu, 1.93);
        assert_eq!(m5.allocatable_memory_mib, 6903);
        assert_eq!(m5.on_demand_price_per_hour, Some(0.096));
        assert!(rows.iter().all(|r| r.vcpu == 2 && r.memory_mib == 8192));
        let prices: Vec<f64> = rows
            .iter()
            .map(|r| {
                r.spot_price_per_hour
                    .unwrap_or(f64::MAX)
                    .min(r.on_demand_price_per_hour.unwrap_or(f64::MAX))
            })
            .collect();
        assert!(prices.windows(2).all(|w| w[0] <= w[1]), "cheapest first");
    }

    #[test]
    fn nodepool_file_requirements_and_flags_filter() {
        let np = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - key: karpenter.k8s.aws/instance-family
          operator: In
          values: [m6g, m5]
        - key: topology.kubernetes.io/zone
          operator: In
          values: [us-east-1a]
"#;
        let mut reqs = nodepool_requirements(np).unwrap();
        reqs.add(labels::ARCH, Requirement::in_values(["arm64"]));
        let types = offline_types("us-east-1", &OverheadOptions::default()).unwrap();
        let rows = select(&types, &reqs, &args());
        assert!(!rows.is_empty());
        for r in &rows {
            assert!(r.name.starts_with("m6g."), "{}", r.name);
            assert_eq!(r.zones, ["us-east-1a"]);
        }
        let err = nodepool_requirements("spec: 3").unwrap_err();
        assert!(format!("{err:#}").contains("NodePool"), "{err:#}");
    }

    #[test]
    fn unpriced_region_uses_us_east_1_prices_and_unknown_region_is_named() {
        let types = offline_types("us-west-2", &OverheadOptions::default()).unwrap();
        let m5 = types.iter().find(|t| t.name == "m5.large").unwrap();
        assert!(m5.offerings.iter().all(|o| o.zone.starts_with("us-west-2")));
        let err = offline_types("mars-1", &OverheadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("mars-1") && err.contains("us-east-1"), "{err}");
    }

    #[test]
    fn json_rows_use_the_contract_keys() {
        let row = Row {
            name: "m5.large".into(),
            vcpu: 2,
            memory_mib: 8192,
            allocatable_cpu: 1.93,
            allocatable_memory_mib: 6903,
            allocatable_ephemeral_storage_mib: 17408,
            max_pods: 29,
            on_demand_price_per_hour: Some(0.096),
            spot_price_per_hour: None,
            zones: vec!["a".into()],
        };
        let v = serde_json::to_value(&row).unwrap();
        let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "name",
                "vcpu",
                "memoryMiB",
                "allocatableCpu",
                "allocatableMemoryMiB",
                "allocatableEphemeralStorageMiB",
                "maxPods",
                "onDemandPricePerHour",
                "spotPricePerHour",
                "zones"
            ])
        );
    }
}
