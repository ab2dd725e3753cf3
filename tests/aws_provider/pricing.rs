//! Prices against moto: spot from DescribeSpotPriceHistory (moto's value is a dummy), on-demand
//! from the embedded table (moto has no Pricing API).
use kubectl_karpenter::cloud::aws::provider::pricing::{Ec2Prices, PriceBook, PriceSource};

use crate::support::moto::Moto;

#[tokio::test]
async fn spot_prices_come_per_type_and_zone_and_on_demand_from_the_embedded_table() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let source = Ec2Prices::new(ctx.clone());
    let spot = source.spot().await.expect("spot prices");
    let m5a = spot
        .get(&("m5.large".to_string(), "us-west-2a".to_string()))
        .copied()
        .expect("m5.large in us-west-2a");
    assert!(m5a > 0.0 && m5a < 1.0, "{m5a}");
    assert!(spot.keys().all(|(_, z)| z.starts_with("us-west-2")));

    let mut book = PriceBook::default();
    book.refresh(&source, ctx.region()).await;
    assert_eq!(book.on_demand_price("m5.large"), Some(0.096));
    assert_eq!(book.spot_price("m5.large", "us-west-2a"), Some(m5a));
    assert_eq!(book.spot_price("m5.large", "us-west-2z"), None);
}

#[tokio::test]
async fn described_instance_types_are_cached_for_the_ttl() {
    use std::sync::Arc;
    use std::time::Duration;

    use kubectl_karpenter::cloud::aws::provider::instancetypes::InstanceTypeCache;
    use kubectl_karpenter::cloud::provider::FakeClock;

    let moto = Moto::start();
    let ctx = moto.context().await;
    let clock = Arc::new(FakeClock::default());
    let cache = InstanceTypeCache::new(clock.clone(), Duration::from_secs(600));
    let first = cache.get(&ctx).await.expect("describe");
    assert!(first.len() > 500);
    assert!(first.iter().any(
        |d| d.info.instance_type().map(|t| t.as_str()) == Some("m5.large")
            && d.zones.contains("us-west-2a")
    ));
    drop(moto); // the API is gone: only the cache can answer now
    clock.advance(Duration::from_secs(599));
    let again = cache.get(&ctx).await.expect("served from the cache");
    assert!(Arc::ptr_eq(&first, &again));
    clock.advance(Duration::from_secs(1));
    assert!(cache.get(&ctx).await.is_err(), "expired: asks AWS again");
}
