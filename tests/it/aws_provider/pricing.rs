//! Prices against moto: spot from DescribeSpotPriceHistory (moto's value is a dummy); on-demand
//! from the Pricing API, which moto lacks (HTTP 500), so the embedded table is used there; a
//! local stub that answers `GetProducts` with canned PriceList pages stands in for the real API.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubectl_karpenter::cloud::aws::provider::pricing::{
    Ec2Prices, PriceBook, PriceOrigin, PriceSource, PricingApiPrices,
};
use kubectl_karpenter::cloud::aws::AwsContext;
use serde_json::{json, Value};

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
    assert_eq!(book.on_demand_source(), PriceOrigin::Embedded);
    assert_eq!(book.on_demand_price("m5.large"), Some(0.096));
    assert_eq!(book.spot_price("m5.large", "us-west-2a"), Some(m5a));
    assert_eq!(book.spot_price("m5.large", "us-west-2z"), None);
}

#[tokio::test]
async fn the_pricing_api_fails_on_moto_so_the_embedded_table_is_used() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let pricing = ctx.pricing();
    assert_eq!(
        pricing.config().region().map(|r| r.as_ref()),
        Some("us-east-1"),
        "the Pricing API is signed for its own endpoint region"
    );
    let source = PricingApiPrices::new(ctx.clone());
    let started = Instant::now();
    let err = source
        .on_demand()
        .await
        .expect_err("moto has no Pricing API");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fails fast without retries: {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains("pricing:GetProducts") && text.contains("500"),
        "moto's HTTP 500 (the endpoint override reached the Pricing client): {text}"
    );

    let mut book = PriceBook::default();
    book.refresh(&source, ctx.region()).await;
    assert_eq!(book.on_demand_source(), PriceOrigin::Embedded);
    assert_eq!(book.on_demand_price("m5.large"), Some(0.096));
    let spot = book
        .spot_price("m5.large", "us-west-2a")
        .expect("moto spot");
    assert!(spot > 0.0 && spot < 1.0, "spot still from EC2: {spot}");
}

/// A PriceList document as `GetProducts` returns it (one JSON string per product).
fn price_list(instance_type: &str, usd: &str) -> String {
    json!({
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {"instanceType": instance_type, "regionCode": "us-west-2",
                           "tenancy": "Shared", "operatingSystem": "Linux"},
            "sku": format!("SKU-{instance_type}")
        },
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {"T.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF",
            "priceDimensions": {"T.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "Hrs", "beginRange": "0", "endRange": "Inf",
                "pricePerUnit": {"USD": usd}
            }}
        }}}
    })
    .to_string()
}

/// A stand-in Pricing API endpoint: answers `GetProducts` with canned pages (two pages for the
/// shared-tenancy query, one for bare metal) or, once `failing` is set, with HTTP 500.
struct PricingStub {
    url: String,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    failing: Arc<AtomicBool>,
}

impl PricingStub {
    fn start() -> PricingStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let (log, fail) = (requests.clone(), failing.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = serve(stream, &log, &fail);
            }
        });
        PricingStub {
            url,
            requests,
            failing,
        }
    }

    fn client(&self, ctx: &AwsContext) -> aws_sdk_pricing::Client {
        let conf = aws_sdk_pricing::config::Builder::from(&ctx.config)
            .region(aws_sdk_pricing::config::Region::new("us-east-1"))
            .endpoint_url(self.url.clone())
            .build();
        aws_sdk_pricing::Client::from_conf(conf)
    }
}

fn serve(
    mut stream: TcpStream,
    log: &Mutex<Vec<(String, Value)>>,
    failing: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: Value = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((header("x-amz-target"), body.clone()));

    let (status, answer) = if failing.load(Ordering::SeqCst) {
        (
            "500 Internal Server Error",
            json!({"__type": "InternalErrorException", "message": "stub is down"}),
        )
    } else {
        let tenancy = body["Filters"]
            .as_array()
            .and_then(|fs| fs.iter().find(|f| f["Field"] == "tenancy"))
            .and_then(|f| f["Value"].as_str())
            .unwrap_or_default()
            .to_string();
        let page = match (tenancy.as_str(), body["NextToken"].as_str()) {
            ("Shared", None) => json!({
                "FormatVersion": "aws_v1",
                "PriceList": [
                    price_list("m5.large", "0.1234000000"),
                    price_list("c5.large", "0.0000000000"),
                    "{not json",
                ],
                "NextToken": "shared-2"
            }),
            ("Shared", Some("shared-2")) => json!({
                "FormatVersion": "aws_v1",
                "PriceList": [price_list("r5.large", "0.2000000000")]
            }),
            ("Dedicated", None) => json!({
                "FormatVersion": "aws_v1",
                "PriceList": [price_list("m5.metal", "4.9000000000")]
            }),
            _ => json!({"FormatVersion": "aws_v1", "PriceList": []}),
        };
        ("200 OK", page)
    };
    let answer = answer.to_string();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}

#[tokio::test]
async fn pricing_api_pages_win_over_the_embedded_table_and_survive_a_failed_refresh() {
    let moto = Moto::start();
    let ctx = moto.context().await;
    let stub = PricingStub::start();
    let source = PricingApiPrices::with_client(ctx.clone(), stub.client(&ctx));

    let mut book = PriceBook::default();
    book.refresh(&source, ctx.region()).await;
    assert_eq!(book.on_demand_source(), PriceOrigin::PricingApi);
    assert_eq!(
        book.on_demand_price("m5.large"),
        Some(0.1234),
        "the API's price, not the embedded 0.096"
    );
    assert_eq!(book.on_demand_price("r5.large"), Some(0.2), "second page");
    assert_eq!(
        book.on_demand_price("m5.metal"),
        Some(4.9),
        "bare-metal query"
    );
    assert_eq!(book.on_demand_price("c5.large"), None, "zero price skipped");
    assert!(
        book.spot_price("m5.large", "us-west-2a").is_some(),
        "spot from moto"
    );

    let requests = stub.requests.lock().expect("log").clone();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    for (target, body) in &requests {
        assert_eq!(target, "AWSPriceListService.GetProducts");
        assert_eq!(body["ServiceCode"], "AmazonEC2");
        assert_eq!(body["MaxResults"], 100);
        let filters = body["Filters"].as_array().expect("filters");
        for (field, value) in [
            ("regionCode", "us-west-2"),
            ("operatingSystem", "Linux"),
            ("preInstalledSw", "NA"),
            ("capacitystatus", "Used"),
        ] {
            assert!(
                filters.iter().any(|f| f["Field"] == field
                    && f["Value"] == value
                    && f["Type"] == "TERM_MATCH"),
                "{field}={value} missing in {body}"
            );
        }
    }
    assert_eq!(requests[1].1["NextToken"], "shared-2", "paginated");

    stub.failing.store(true, Ordering::SeqCst);
    book.refresh(&source, ctx.region()).await;
    assert_eq!(book.on_demand_source(), PriceOrigin::PricingApi);
    assert_eq!(
        book.on_demand_price("m5.large"),
        Some(0.1234),
        "a failed refresh keeps the API's prices"
    );
}

#[tokio::test]
async fn described_instance_types_are_cached_for_the_ttl() {
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
