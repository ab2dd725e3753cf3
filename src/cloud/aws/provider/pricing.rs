//! Prices behind a trait (karpenter-aws.md §3).
//!
//! On-demand prices come from the AWS Pricing API ([`PricingApiPrices`]: `GetProducts` for
//! `AmazonEC2` with upstream's TERM_MATCH filters, PriceList documents parsed by
//! [`parse_price_list`]). When the API is unavailable (no permission, no network, a partition
//! without it, moto) the embedded table is used instead (the scheduling crate's catalog, which
//! prices us-east-1; other regions fall back to it) and the fallback is logged once at warn
//! level; [`PriceBook::on_demand_source`] says which one is in use. Spot prices come from
//! `DescribeSpotPriceHistory`; until they are known, spot = on-demand.
//!
//! [`spawn_refresh`] / [`refresh_loop`] refresh a shared [`PriceBook`] periodically
//! ([`DEFAULT_REFRESH_PERIOD`], 12 h as upstream); a failed refresh keeps the previous prices.
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_pricing::types::{Filter, FilterType};
use karpenter_scheduling::Catalog;
use serde_json::Value;
use tokio::sync::{watch, RwLock};
use tokio::task::JoinHandle;

use crate::cloud::aws::{classify, AwsContext, AwsError};

/// The region whose prices the embedded table carries.
pub const EMBEDDED_PRICE_REGION: &str = "us-east-1";

/// The Pricing API endpoint region used for commercial regions without a closer one.
pub const DEFAULT_PRICING_REGION: &str = "us-east-1";

/// How often prices are refreshed by default (upstream's pricing controller period).
pub const DEFAULT_REFRESH_PERIOD: Duration = Duration::from_secs(12 * 60 * 60);

/// The IAM action of the Pricing API call.
const GET_PRODUCTS: &str = "pricing:GetProducts";

/// Where on-demand prices came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PriceOrigin {
    /// The AWS Pricing API (`GetProducts`).
    PricingApi,
    /// The table embedded in this binary.
    #[default]
    Embedded,
}

impl std::fmt::Display for PriceOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PriceOrigin::PricingApi => "the AWS Pricing API",
            PriceOrigin::Embedded => "the embedded price table",
        })
    }
}

/// A source of instance prices (USD per hour; CNY in the China partition).
pub trait PriceSource: Send + Sync {
    /// Where this source's on-demand prices come from.
    fn origin(&self) -> PriceOrigin;
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
        "no embedded on-demand prices for this region; using {EMBEDDED_PRICE_REGION} prices"
    );
    of(EMBEDDED_PRICE_REGION)
}

impl PriceSource for EmbeddedPrices {
    fn origin(&self) -> PriceOrigin {
        PriceOrigin::Embedded
    }
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
    fn origin(&self) -> PriceOrigin {
        PriceOrigin::Embedded
    }

    async fn on_demand(&self) -> Result<HashMap<String, f64>, AwsError> {
        Ok(self.embedded.table())
    }

    async fn spot(&self) -> Result<HashMap<(String, String), f64>, AwsError> {
        spot_price_history(&self.ctx).await
    }
}

/// The latest spot price per (type, zone) from `DescribeSpotPriceHistory` (Linux, now).
async fn spot_price_history(ctx: &AwsContext) -> Result<HashMap<(String, String), f64>, AwsError> {
    let mut pages = ctx
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
    let mut latest: HashMap<(String, String), (aws_smithy_types::DateTime, f64)> = HashMap::new();
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

/// The Pricing API endpoint region that serves `region` (upstream's choice): ap-* use
/// ap-south-1, eu-* eu-central-1, cn-* cn-northwest-1, every other commercial region
/// us-east-1. `None` where the Pricing API does not serve the partition (GovCloud, ISO).
pub fn pricing_endpoint_region(region: &str) -> Option<&'static str> {
    if region.starts_with("us-gov-") || region.starts_with("us-iso") {
        None
    } else if region.starts_with("cn-") {
        Some("cn-northwest-1")
    } else if region.starts_with("ap-") {
        Some("ap-south-1")
    } else if region.starts_with("eu-") {
        Some("eu-central-1")
    } else {
        Some(DEFAULT_PRICING_REGION)
    }
}

/// The currency the Pricing API quotes `region`'s prices in (CNY in China, USD elsewhere).
pub fn price_currency(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "CNY"
    } else {
        "USD"
    }
}

/// The TERM_MATCH filters of upstream's two `GetProducts` queries for `region`: shared-tenancy
/// instances, then dedicated bare-metal ones (Linux, no pre-installed software, used capacity,
/// on-demand).
pub fn get_products_filters(region: &str) -> [Vec<(&'static str, String)>; 2] {
    let query = |tenancy: &str, family: &str| {
        vec![
            ("regionCode", region.to_string()),
            ("serviceCode", "AmazonEC2".to_string()),
            ("preInstalledSw", "NA".to_string()),
            ("operatingSystem", "Linux".to_string()),
            ("capacitystatus", "Used".to_string()),
            ("marketoption", "OnDemand".to_string()),
            ("tenancy", tenancy.to_string()),
            ("productFamily", family.to_string()),
        ]
    };
    [
        query("Shared", "Compute Instance"),
        query("Dedicated", "Compute Instance (bare metal)"),
    ]
}

/// A PriceList document that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PriceListError {
    /// Not JSON at all.
    #[error("the PriceList document is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A required field is absent or has the wrong type.
    #[error("the PriceList document has no {0}")]
    Missing(&'static str),
    /// A price that is not a finite, non-negative number.
    #[error("the PriceList document for {instance_type} has an invalid price {value:?} at {path}")]
    InvalidPrice {
        instance_type: String,
        value: String,
        path: String,
    },
}

/// Parse one `GetProducts` PriceList document into (instance type, USD per hour).
///
/// `Ok(None)` when it has no non-zero USD on-demand price (upstream skips zero prices).
pub fn parse_price_list(doc: &str) -> Result<Option<(String, f64)>, PriceListError> {
    parse_price_list_in(doc, "USD")
}

/// [`parse_price_list`] for prices quoted in `currency` (e.g. `CNY`): the first non-zero
/// `terms.OnDemand.*.priceDimensions.*.pricePerUnit.<currency>`, in document order.
pub fn parse_price_list_in(
    doc: &str,
    currency: &str,
) -> Result<Option<(String, f64)>, PriceListError> {
    let v: Value = serde_json::from_str(doc)?;
    let instance_type = v
        .pointer("/product/attributes/instanceType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or(PriceListError::Missing("product.attributes.instanceType"))?
        .to_string();
    let Some(terms) = v.pointer("/terms/OnDemand") else {
        return Ok(None);
    };
    let terms = terms
        .as_object()
        .ok_or(PriceListError::Missing("terms.OnDemand object"))?;
    for (term_id, term) in terms {
        let dims = term
            .get("priceDimensions")
            .and_then(Value::as_object)
            .ok_or(PriceListError::Missing("terms.OnDemand.*.priceDimensions"))?;
        for (dim_id, dim) in dims {
            let Some(raw) = dim.pointer(&format!("/pricePerUnit/{currency}")) else {
                continue;
            };
            let path = format!(
                "terms.OnDemand.{term_id}.priceDimensions.{dim_id}.pricePerUnit.{currency}"
            );
            let invalid = || PriceListError::InvalidPrice {
                instance_type: instance_type.clone(),
                value: raw.to_string(),
                path: path.clone(),
            };
            let price = raw
                .as_str()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|p| p.is_finite() && *p >= 0.0)
                .ok_or_else(invalid)?;
            if price > 0.0 {
                return Ok(Some((instance_type, price)));
            }
        }
    }
    Ok(None)
}

/// On-demand prices from the Pricing API (`GetProducts`, paginated), spot prices from
/// `DescribeSpotPriceHistory`.
#[derive(Debug, Clone)]
pub struct PricingApiPrices {
    ctx: AwsContext,
    client: aws_sdk_pricing::Client,
}

impl PricingApiPrices {
    /// Prices for the context's region, using [`AwsContext::pricing`].
    pub fn new(ctx: AwsContext) -> Self {
        let client = ctx.pricing();
        PricingApiPrices { ctx, client }
    }

    /// Prices for the context's region, asking this Pricing client (tests point it elsewhere).
    pub fn with_client(ctx: AwsContext, client: aws_sdk_pricing::Client) -> Self {
        PricingApiPrices { ctx, client }
    }

    async fn query(
        &self,
        filters: &[(&'static str, String)],
        currency: &str,
        out: &mut HashMap<String, f64>,
        unreadable: &mut Vec<PriceListError>,
    ) -> Result<(), AwsError> {
        let filters = filters
            .iter()
            .map(|(field, value)| {
                Filter::builder()
                    .r#type(FilterType::TermMatch)
                    .field(*field)
                    .value(value.clone())
                    .build()
                    .map_err(|e| AwsError::Other {
                        action: GET_PRODUCTS.into(),
                        code: "InvalidFilter".into(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut pages = self
            .client
            .get_products()
            .service_code("AmazonEC2")
            .set_filters(Some(filters))
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(GET_PRODUCTS, e))?;
            for doc in page.price_list() {
                match parse_price_list_in(doc, currency) {
                    Ok(Some((t, p))) => {
                        out.insert(t, p);
                    }
                    Ok(None) => {}
                    Err(e) => unreadable.push(e),
                }
            }
        }
        Ok(())
    }
}

impl PriceSource for PricingApiPrices {
    fn origin(&self) -> PriceOrigin {
        PriceOrigin::PricingApi
    }

    async fn on_demand(&self) -> Result<HashMap<String, f64>, AwsError> {
        let region = self.ctx.region();
        if pricing_endpoint_region(region).is_none() {
            return Err(AwsError::Other {
                action: GET_PRODUCTS.into(),
                code: "Unsupported".into(),
                message: format!("the Pricing API does not serve {region}'s partition"),
            });
        }
        let currency = price_currency(region);
        let mut prices = HashMap::new();
        let mut unreadable = Vec::new();
        for filters in get_products_filters(region) {
            self.query(&filters, currency, &mut prices, &mut unreadable)
                .await?;
        }
        if let Some(first) = unreadable.first() {
            tracing::warn!(
                region,
                skipped = unreadable.len(),
                "some Pricing API documents could not be read and were skipped; first: {first}"
            );
        }
        if prices.is_empty() {
            return Err(AwsError::Other {
                action: GET_PRODUCTS.into(),
                code: "EmptyResult".into(),
                message: format!(
                    "no priced Linux on-demand instance types for {region} in {currency}"
                ),
            });
        }
        Ok(prices)
    }

    async fn spot(&self) -> Result<HashMap<(String, String), f64>, AwsError> {
        spot_price_history(&self.ctx).await
    }
}

/// The result of asking a [`PriceSource`] once, applied to a [`PriceBook`] with
/// [`PriceBook::apply`] (fetching holds no lock on a shared book).
#[derive(Debug)]
pub struct PriceUpdate {
    origin: PriceOrigin,
    on_demand: Result<HashMap<String, f64>, AwsError>,
    spot: Result<HashMap<(String, String), f64>, AwsError>,
}

impl PriceUpdate {
    /// Ask `source` for on-demand and spot prices.
    pub async fn fetch(source: &impl PriceSource) -> PriceUpdate {
        PriceUpdate {
            origin: source.origin(),
            on_demand: source.on_demand().await,
            spot: source.spot().await,
        }
    }
}

/// The prices a provider currently uses.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    /// On-demand per type.
    pub on_demand: HashMap<String, f64>,
    /// Spot per (type, zone); empty until the first successful spot refresh.
    pub spot: HashMap<(String, String), f64>,
    /// Where `on_demand` came from.
    pub on_demand_origin: PriceOrigin,
}

impl PriceBook {
    /// Refresh from `source`; a failed refresh keeps the previous data (logged). On-demand
    /// falls back to the embedded table for `region` when the source fails and nothing is known.
    pub async fn refresh(&mut self, source: &impl PriceSource, region: &str) {
        let update = PriceUpdate::fetch(source).await;
        self.apply(update, region);
    }

    /// Apply a fetched update. On-demand prices from the same origin are merged over the old
    /// ones; prices from another origin replace them. A failed or empty on-demand answer keeps
    /// the old prices, or uses the embedded table when there are none; the source in use is
    /// logged when it changes (at warn level for a fallback).
    pub fn apply(&mut self, update: PriceUpdate, region: &str) {
        let had = !self.on_demand.is_empty();
        let before = self.on_demand_origin;
        let failure = match update.on_demand {
            Ok(m) if !m.is_empty() => {
                if update.origin != self.on_demand_origin {
                    self.on_demand.clear();
                }
                self.on_demand.extend(m);
                self.on_demand_origin = update.origin;
                None
            }
            Ok(_) => Some(format!("{} returned no on-demand prices", update.origin)),
            Err(e) => Some(e.to_string()),
        };
        if self.on_demand.is_empty() {
            self.on_demand = embedded_on_demand(region);
            self.on_demand_origin = PriceOrigin::Embedded;
        }
        let now = self.on_demand_origin;
        match failure {
            Some(why) if !had => tracing::warn!(
                region,
                "on-demand prices: using {now} because {} is unavailable: {why}",
                update.origin
            ),
            Some(why) if now == PriceOrigin::PricingApi => tracing::warn!(
                region,
                "on-demand price refresh failed; keeping the prices from the last successful \
                 refresh: {why}"
            ),
            Some(why) => tracing::debug!(
                region,
                "on-demand price refresh failed; still using {now}: {why}"
            ),
            None if !had || now != before => {
                tracing::info!(
                    region,
                    types = self.on_demand.len(),
                    "on-demand prices from {now}"
                )
            }
            None => tracing::debug!(
                region,
                types = self.on_demand.len(),
                "on-demand prices refreshed"
            ),
        }
        match update.spot {
            Ok(m) if !m.is_empty() => self.spot = m,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "spot price refresh failed; keeping old data"),
        }
    }

    /// Where the on-demand prices came from.
    pub fn on_demand_source(&self) -> PriceOrigin {
        self.on_demand_origin
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

/// A [`PriceBook`] shared between its refresher and its readers.
pub type SharedPriceBook = Arc<RwLock<PriceBook>>;

/// Refresh `book` from `source` now and then every `period` (at least 1 ms) until `stop` turns
/// `true` or its sender is dropped. Each fetch runs without holding the lock.
pub async fn refresh_loop(
    book: SharedPriceBook,
    source: &impl PriceSource,
    region: &str,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        let update = tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            update = PriceUpdate::fetch(source) => update,
        };
        book.write().await.apply(update, region);
    }
}

/// Run [`refresh_loop`] on a task; stop it by sending `true` on (or dropping) `stop`'s sender.
pub fn spawn_refresh<S: PriceSource + 'static>(
    book: SharedPriceBook,
    source: S,
    region: String,
    period: Duration,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move { refresh_loop(book, &source, &region, period, stop).await })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing;
    impl PriceSource for Failing {
        fn origin(&self) -> PriceOrigin {
            PriceOrigin::PricingApi
        }
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
        assert_eq!(book.on_demand_source(), PriceOrigin::Embedded);
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
            ..PriceBook::default()
        };
        assert_eq!(book.spot_price("a", "anywhere"), Some(1.0));
    }

    /// A Pricing-API-like source whose answers the test changes between refreshes.
    #[derive(Default)]
    struct Scripted {
        answer: std::sync::Mutex<Option<HashMap<String, f64>>>,
        calls: std::sync::atomic::AtomicUsize,
    }
    impl Scripted {
        fn set(&self, answer: Option<&[(&str, f64)]>) {
            *self.answer.lock().unwrap() =
                answer.map(|a| a.iter().map(|(t, p)| (t.to_string(), *p)).collect());
        }
        fn calls(&self) -> usize {
            self.calls.load(std::sync::atomic::Ordering::SeqCst)
        }
    }
    impl PriceSource for Arc<Scripted> {
        fn origin(&self) -> PriceOrigin {
            PriceOrigin::PricingApi
        }
        async fn on_demand(&self) -> Result<HashMap<String, f64>, AwsError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.answer
                .lock()
                .unwrap()
                .clone()
                .ok_or_else(|| AwsError::Unauthorized {
                    action: GET_PRODUCTS.into(),
                    code: "AccessDeniedException".into(),
                    message: "denied".into(),
                })
        }
        async fn spot(&self) -> Result<HashMap<(String, String), f64>, AwsError> {
            Ok(HashMap::new())
        }
    }

    #[tokio::test]
    async fn api_prices_replace_the_embedded_table_then_merge_and_survive_failures() {
        let source = Arc::new(Scripted::default());
        let mut book = PriceBook::default();
        source.set(None);
        book.refresh(&source, "us-east-1").await;
        assert_eq!(book.on_demand_source(), PriceOrigin::Embedded);
        assert_eq!(book.on_demand_price("m5.large"), Some(0.096));

        source.set(Some(&[("m5.large", 0.5)]));
        book.refresh(&source, "us-east-1").await;
        assert_eq!(book.on_demand_source(), PriceOrigin::PricingApi);
        assert_eq!(book.on_demand_price("m5.large"), Some(0.5));
        assert_eq!(
            book.on_demand_price("c5.large"),
            None,
            "the API's list replaces the embedded table"
        );

        source.set(Some(&[("c5.large", 0.2)]));
        book.refresh(&source, "us-east-1").await;
        assert_eq!(book.on_demand_price("m5.large"), Some(0.5), "merged");
        assert_eq!(book.on_demand_price("c5.large"), Some(0.2));

        source.set(None);
        book.refresh(&source, "us-east-1").await;
        assert_eq!(book.on_demand_source(), PriceOrigin::PricingApi);
        assert_eq!(book.on_demand_price("m5.large"), Some(0.5), "kept");

        source.set(Some(&[]));
        book.refresh(&source, "us-east-1").await;
        assert_eq!(
            book.on_demand_price("c5.large"),
            Some(0.2),
            "empty answer kept out"
        );
    }

    async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn the_loop_refreshes_periodically_keeps_prices_on_failure_and_stops() {
        let source = Arc::new(Scripted::default());
        source.set(Some(&[("m5.large", 1.0)]));
        let book = SharedPriceBook::default();
        let (stop, stopped) = watch::channel(false);
        let task = spawn_refresh(
            book.clone(),
            source.clone(),
            "us-east-1".into(),
            Duration::from_millis(20),
            stopped,
        );
        wait_for("the first refresh", || source.calls() >= 1).await;
        let first = source.calls();
        wait_for("the first prices", || {
            book.try_read()
                .is_ok_and(|b| b.on_demand_price("m5.large") == Some(1.0))
        })
        .await;

        source.set(Some(&[("m5.large", 2.0)]));
        let asked = source.calls();
        wait_for("a later refresh", || source.calls() >= asked + 2).await;
        assert_eq!(book.read().await.on_demand_price("m5.large"), Some(2.0));
        assert!(source.calls() > first, "refreshed more than once");

        source.set(None);
        let asked = source.calls();
        wait_for("failing refreshes", || source.calls() >= asked + 2).await;
        let b = book.read().await.clone();
        assert_eq!(b.on_demand_price("m5.large"), Some(2.0), "old prices kept");
        assert_eq!(b.on_demand_source(), PriceOrigin::PricingApi);

        stop.send(true).expect("loop alive");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the loop stops")
            .expect("no panic");
        let after = source.calls();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(source.calls(), after, "no refresh after stop");
    }

    #[tokio::test]
    async fn dropping_the_stop_sender_ends_the_loop() {
        let source = Arc::new(Scripted::default());
        let (stop, stopped) = watch::channel(false);
        let task = spawn_refresh(
            SharedPriceBook::default(),
            source,
            "us-east-1".into(),
            DEFAULT_REFRESH_PERIOD,
            stopped,
        );
        drop(stop);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the loop stops")
            .expect("no panic");
    }

    /// A realistic `GetProducts` PriceList document (trimmed to the fields upstream reads plus
    /// some of the noise around them).
    fn doc(instance_type: &str, on_demand: Value) -> String {
        serde_json::json!({
            "product": {
                "productFamily": "Compute Instance",
                "attributes": {
                    "instanceType": instance_type,
                    "regionCode": "us-west-2",
                    "tenancy": "Shared",
                    "operatingSystem": "Linux",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                    "vcpu": "2",
                    "memory": "8 GiB"
                },
                "sku": "SKU123"
            },
            "serviceCode": "AmazonEC2",
            "terms": { "OnDemand": on_demand },
            "version": "20240101000000",
            "publicationDate": "2024-01-01T00:00:00Z"
        })
        .to_string()
    }

    fn dim(usd: &str) -> Value {
        serde_json::json!({
            "unit": "Hrs",
            "endRange": "Inf",
            "description": "$ per On Demand Linux instance hour",
            "appliesTo": [],
            "rateCode": "SKU123.JRTCKXETXF.6YS6EN2CT7",
            "beginRange": "0",
            "pricePerUnit": { "USD": usd }
        })
    }

    #[test]
    fn a_single_term_document_gives_its_type_and_price() {
        let d = doc(
            "m5.large",
            serde_json::json!({"SKU123.JRTCKXETXF": {
                "offerTermCode": "JRTCKXETXF",
                "priceDimensions": {"SKU123.JRTCKXETXF.6YS6EN2CT7": dim("0.0960000000")},
                "termAttributes": {}
            }}),
        );
        assert_eq!(
            parse_price_list(&d).unwrap(),
            Some(("m5.large".to_string(), 0.096))
        );
    }

    #[test]
    fn zero_prices_are_skipped_for_a_later_non_zero_one() {
        let d = doc(
            "c7g.xlarge",
            serde_json::json!({
                "T1": {"priceDimensions": {"D1": dim("0.0000000000"), "D2": dim("0.0000000000")}},
                "T2": {"priceDimensions": {"D3": dim("0.0000000000"), "D4": dim("0.1450000000")}}
            }),
        );
        assert_eq!(
            parse_price_list(&d).unwrap(),
            Some(("c7g.xlarge".to_string(), 0.145))
        );
        let all_zero = doc(
            "t3.nano",
            serde_json::json!({"T1": {"priceDimensions": {"D1": dim("0.0000000000")}}}),
        );
        assert_eq!(parse_price_list(&all_zero).unwrap(), None);
    }

    #[test]
    fn other_currencies_are_ignored_unless_asked_for() {
        let d = doc(
            "m5.large",
            serde_json::json!({"T1": {"priceDimensions": {"D1": {
                "unit": "Hrs",
                "pricePerUnit": {"CNY": "0.6120000000"}
            }}}}),
        );
        assert_eq!(parse_price_list(&d).unwrap(), None);
        assert_eq!(
            parse_price_list_in(&d, "CNY").unwrap(),
            Some(("m5.large".to_string(), 0.612))
        );
    }

    #[test]
    fn documents_without_on_demand_terms_have_no_price() {
        let d = serde_json::json!({
            "product": {"attributes": {"instanceType": "m5.large"}},
            "terms": {"Reserved": {}}
        })
        .to_string();
        assert_eq!(parse_price_list(&d).unwrap(), None);
    }

    #[test]
    fn malformed_documents_are_errors_that_say_what_is_wrong() {
        assert!(matches!(
            parse_price_list("{\"product\": "),
            Err(PriceListError::Json(_))
        ));
        assert!(matches!(
            parse_price_list("[]"),
            Err(PriceListError::Missing("product.attributes.instanceType"))
        ));
        let no_type = serde_json::json!({
            "product": {"attributes": {"instanceType": ""}},
            "terms": {"OnDemand": {}}
        })
        .to_string();
        assert!(matches!(
            parse_price_list(&no_type),
            Err(PriceListError::Missing("product.attributes.instanceType"))
        ));
        let no_dims = doc(
            "m5.large",
            serde_json::json!({"T1": {"offerTermCode": "x"}}),
        );
        assert!(matches!(
            parse_price_list(&no_dims),
            Err(PriceListError::Missing("terms.OnDemand.*.priceDimensions"))
        ));
        for bad in ["abc", "-1", "NaN", "inf", ""] {
            let d = doc(
                "m5.large",
                serde_json::json!({"T1": {"priceDimensions": {"D1": dim(bad)}}}),
            );
            let err = parse_price_list(&d).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("m5.large")
                    && text.contains("T1.priceDimensions.D1.pricePerUnit.USD"),
                "{text}"
            );
        }
        let number_not_string = doc(
            "m5.large",
            serde_json::json!({"T1": {"priceDimensions": {"D1": {"pricePerUnit": {"USD": 0.1}}}}}),
        );
        assert!(matches!(
            parse_price_list(&number_not_string),
            Err(PriceListError::InvalidPrice { .. })
        ));
    }

    #[test]
    fn pricing_endpoints_and_currencies_follow_the_partition() {
        assert_eq!(pricing_endpoint_region("us-west-2"), Some("us-east-1"));
        assert_eq!(pricing_endpoint_region("sa-east-1"), Some("us-east-1"));
        assert_eq!(
            pricing_endpoint_region("ap-northeast-1"),
            Some("ap-south-1")
        );
        assert_eq!(pricing_endpoint_region("eu-west-1"), Some("eu-central-1"));
        assert_eq!(
            pricing_endpoint_region("cn-north-1"),
            Some("cn-northwest-1")
        );
        assert_eq!(pricing_endpoint_region("us-gov-west-1"), None);
        assert_eq!(price_currency("cn-north-1"), "CNY");
        assert_eq!(price_currency("eu-west-1"), "USD");
    }

    #[test]
    fn both_queries_use_upstreams_filters() {
        let [shared, metal] = get_products_filters("eu-west-1");
        let get = |q: &[(&str, String)], k: &str| {
            q.iter()
                .find(|(f, _)| *f == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        for q in [&shared, &metal] {
            assert_eq!(get(q, "regionCode"), "eu-west-1");
            assert_eq!(get(q, "operatingSystem"), "Linux");
            assert_eq!(get(q, "preInstalledSw"), "NA");
            assert_eq!(get(q, "capacitystatus"), "Used");
            assert_eq!(get(q, "marketoption"), "OnDemand");
        }
        assert_eq!(get(&shared, "tenancy"), "Shared");
        assert_eq!(get(&shared, "productFamily"), "Compute Instance");
        assert_eq!(get(&metal, "tenancy"), "Dedicated");
        assert_eq!(
            get(&metal, "productFamily"),
            "Compute Instance (bare metal)"
        );
    }
}
