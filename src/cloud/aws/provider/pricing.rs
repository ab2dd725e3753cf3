//! Prices behind a trait (karpenter-aws.md §3).
//!
//! On-demand prices come from the embedded table (the scheduling crate's catalog, which prices
//! us-east-1; other regions fall back to it, as upstream does for unknown regions, and the
//! fallback is logged). The Pricing API is not called by this build. Spot prices come from
//! `DescribeSpotPriceHistory`; until they are known, spot = on-demand.
use std::collections::HashMap;
use std::future::Future;

use karpenter_scheduling::Catalog;

use crate::cloud::aws::{classify, AwsContext, AwsError};

/// The region whose prices the embedded table carries.
pub const EMBEDDED_PRICE_REGION: &str = "us-east-1";

/// A source of instance prices (USD per hour).
pub trait PriceSource: Send + Sync {
    /// On-demand price per instance type.
    fn on_demand(&self) -> impl Future<Output = Result<HashMap<String, f64>, AwsError>> + Send;
    /// Latest spot price per (instance type, zone).
    fn spot(&self)
        -> impl Future<Output = Result<HashMap<(String, String), f64>, AwsError>> + Send;
}

/// The embedded price table for a region (on-demand only).
#[derive(Debug, Clone)]
pub struct EmbeddedPrices {
    region: String,
}

impl EmbeddedPrices {
    /// Prices for `region` (falls back to us-east-1 when the table has none for it).
    pub fn new(region: &str) -> Self {
        EmbeddedPrices {
            region: region.to_string(),
        }
    }

    /// The table, synchronously.
    pub fn table(&self) -> HashMap<String, f64> {
        embedded_on_demand(&self.region)
    }
}

/// On-demand prices from the embedded catalog for `region`, falling back to us-east-1 (logged).
pub fn embedded_on_demand(region: &str) -> HashMap<String, f64> {
    let catalog = Catalog::embedded();
    let of = |r: &str| -> HashMap<String, f64> {
        catalog
            .regions
            .get(r)
            .map(|cr| {
                cr.instance_types
                    .iter()
                    .filter_map(|t| t.on_demand_price_per_hour.map(|p| (t.name.clone(), p)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let own = of(region);
    if !own.is_empty() {
        return own;
    }
    tracing::warn!(
        region,
        "no embedded on-demand prices for this region; using {EMBEDDED_PRICE_REGION} prices \
         (the Pricing API is not queried by this build)"
    );
    of(EMBEDDED_PRICE_REGION)
}

impl PriceSource for EmbeddedPrices {
    async fn on_demand(&self) -> Result<HashMap<String, f64>, AwsError> {
        Ok(self.table())
    }
    async fn spot(&self) -> Result<HashMap<(String, String), f64>, AwsError> {
        Ok(HashMap::new())
    }
}

/// Embedded on-demand prices plus live spot prices from `DescribeSpotPriceHistory`.
#[derive(Debug, Clone)]
pub struct Ec2Prices {
    ctx: AwsContext,
    embedded: EmbeddedPrices,
}

impl Ec2Prices {
    /// Prices for the context's region.
    pub fn new(ctx: AwsContext) -> Self {
        let embedded = EmbeddedPrices::new(ctx.region());
        Ec2Prices { ctx, embedded }
    }
}

impl PriceSource for Ec2Prices {
    async fn on_demand(&self) -> Result<HashMap<String, f64>, AwsError> {
        Ok(self.embedded.table())
    }

    async fn spot(&self) -> Result<HashMap<(String, String), f64>, AwsError> {
        let mut pages = self
            .ctx
            .ec2()
            .describe_spot_price_history()
            .product_descriptions("Linux/UNIX")
            .product_descriptions("Linux/UNIX (Amazon VPC)")
            .start_time(aws_smithy_types::DateTime::from(
                std::time::SystemTime::now(),
            ))
            .max_results(1000)
            .into_paginator()
            .send();
        let mut latest: HashMap<(String, String), (aws_smithy_types::DateTime, f64)> =
            HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeSpotPriceHistory", e))?;
            for p in page.spot_price_history() {
                let (Some(t), Some(z), Some(price)) = (
                    p.instance_type(),
                    p.availability_zone(),
                    p.spot_price().and_then(|s| s.parse::<f64>().ok()),
                ) else {
                    continue;
                };
                let ts = p
                    .timestamp()
                    .cloned()
                    .unwrap_or(aws_smithy_types::DateTime::from_secs(0));
                let key = (t.as_str().to_string(), z.to_string());
                match latest.get(&key) {
                    Some((cur, _)) if *cur >= ts => {}
                    _ => {
                        latest.insert(key, (ts, price));
                    }
                }
            }
        }
        Ok(latest.into_iter().map(|(k, (_, p))| (k, p)).collect())
    }
}

/// The prices a provider currently uses.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    /// On-demand per type.
    pub on_demand: HashMap<String, f64>,
    /// Spot per (type, zone); empty until the first successful spot refresh.
    pub spot: HashMap<(String, String), f64>,
}

impl PriceBook {
    /// Refresh from `source`; a failed refresh keeps the previous data (logged). On-demand
    /// falls back to the embedded table for `region` when the source fails and nothing is known.
    pub async fn refresh(&mut self, source: &impl PriceSource, region: &str) {
        match source.on_demand().await {
            Ok(m) if !m.is_empty() => self.on_demand.extend(m),
            Ok(_) => tracing::warn!("on-demand price refresh returned nothing; keeping old data"),
            Err(e) => {
                tracing::warn!(error = %e, "on-demand price refresh failed; keeping old data")
            }
        }
        if self.on_demand.is_empty() {
            self.on_demand = embedded_on_demand(region);
        }
        match source.spot().await {
            Ok(m) if !m.is_empty() => self.spot = m,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "spot price refresh failed; keeping old data"),
        }
    }

    /// On-demand price of a type.
    pub fn on_demand_price(&self, instance_type: &str) -> Option<f64> {
        self.on_demand.get(instance_type).copied()
    }

    /// Spot price of a type in a zone: the live price once spot prices are known (a zone without
    /// one is then unavailable), the on-demand price before.
    pub fn spot_price(&self, instance_type: &str, zone: &str) -> Option<f64> {
        if self.spot.is_empty() {
            return self.on_demand_price(instance_type);
        }
        self.spot
            .get(&(instance_type.to_string(), zone.to_string()))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing;
    impl PriceSource for Failing {
        async fn on_demand(&self) -> Result<HashMap<String, f64>, AwsError> {
            Err(AwsError::Retryable {
                action: "pricing:GetProducts".into(),
                code: "HTTP 500".into(),
                message: "down".into(),
            })
        }
        async fn spot(&self) -> Result<HashMap<(String, String), f64>, AwsError> {
            Ok(HashMap::from([(("m5.large".into(), "z1".into()), 0.03)]))
        }
    }

    #[tokio::test]
    async fn unavailable_api_falls_back_to_the_embedded_table() {
        let mut book = PriceBook::default();
        book.refresh(&Failing, "us-west-2").await;
        assert_eq!(book.on_demand_price("m5.large"), Some(0.096));
        assert_eq!(book.spot_price("m5.large", "z1"), Some(0.03));
        assert_eq!(
            book.spot_price("m5.large", "z2"),
            None,
            "known spot data, zone missing"
        );
    }

    #[test]
    fn spot_equals_on_demand_until_spot_is_known() {
        let book = PriceBook {
            on_demand: HashMap::from([("a".to_string(), 1.0)]),
            spot: HashMap::new(),
        };
        assert_eq!(book.spot_price("a", "anywhere"), Some(1.0));
    }
}
