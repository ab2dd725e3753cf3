//! The AWS edge against moto: clients built by `AwsContext` reach the server, the seeded data
//! is there, and failures map to `AwsError`.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use kubectl_karpenter::cloud::aws::{classify, AwsContext, AwsError, SharedConfigFiles};
use serde_json::json;

use crate::support::moto::{Moto, ACCOUNT_ID, REGION};

const EKS_AL2023_AMI_PARAM: &str =
    "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id";

#[tokio::test]
async fn sqs_queue_attributes_round_trip() {
    let moto = Moto::start();
    let aws = moto.context().await;
    assert_eq!(aws.region(), REGION);
    let sqs = aws.sqs();

    sqs.create_queue()
        .queue_name("karpenter-smoke")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "300")
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
        .send()
        .await
        .map_err(AwsError::from)
        .expect("CreateQueue");

    let url = sqs
        .get_queue_url()
        .queue_name("karpenter-smoke")
        .send()
        .await
        .map_err(AwsError::from)
        .expect("GetQueueUrl")
        .queue_url
        .expect("a queue URL");
    assert!(
        url.ends_with(&format!("/{ACCOUNT_ID}/karpenter-smoke")),
        "{url}"
    );

    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(AwsError::from)
        .expect("GetQueueAttributes")
        .attributes
        .expect("attributes");
    assert_eq!(
        attrs
            .get(&QueueAttributeName::MessageRetentionPeriod)
            .map(String::as_str),
        Some("300")
    );
    assert_eq!(
        attrs
            .get(&QueueAttributeName::SqsManagedSseEnabled)
            .map(String::as_str),
        Some("true")
    );
    let arn = attrs.get(&QueueAttributeName::QueueArn).expect("QueueArn");
    assert_eq!(
        arn,
        &format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:karpenter-smoke")
    );
}

#[tokio::test]
async fn missing_queue_is_not_found() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let err: AwsError = aws
        .sqs()
        .get_queue_url()
        .queue_name("no-such-queue")
        .send()
        .await
        .expect_err("the queue does not exist")
        .into();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.action(), Some("sqs:GetQueueUrl"));
}

#[tokio::test]
async fn iam_role_with_ec2_trust_and_managed_policy() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let iam = aws.iam();
    let role_name = "KarpenterNodeRole-smoke";
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    });

    iam.create_role()
        .role_name(role_name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .map_err(|e| classify("iam:CreateRole", e))
        .expect("CreateRole");

    // Creating it again is AlreadyExists, with the action derived from the operation.
    let again: AwsError = iam
        .create_role()
        .role_name(role_name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect_err("a duplicate role")
        .into();
    assert!(again.is_already_exists(), "{again:?}");
    assert_eq!(again.action(), Some("iam:CreateRole"));

    let role = iam
        .get_role()
        .role_name(role_name)
        .send()
        .await
        .map_err(AwsError::from)
        .expect("GetRole")
        .role
        .expect("a role");
    let document = role.assume_role_policy_document.expect("a trust policy");
    // IAM returns policy documents URL-encoded; moto may or may not.
    let parsed: serde_json::Value = serde_json::from_str(&document)
        .or_else(|_| serde_json::from_str(&percent_decode(&document)))
        .unwrap_or_else(|e| panic!("trust policy is not JSON ({e}): {document}"));
    assert_eq!(parsed, trust);

    let policy_arn = "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy";
    iam.attach_role_policy()
        .role_name(role_name)
        .policy_arn(policy_arn)
        .send()
        .await
        .map_err(AwsError::from)
        .expect("AttachRolePolicy of an AWS managed policy (needs MOTO_IAM_LOAD_MANAGED_POLICIES)");
    let attached = iam
        .list_attached_role_policies()
        .role_name(role_name)
        .send()
        .await
        .map_err(AwsError::from)
        .expect("ListAttachedRolePolicies")
        .attached_policies
        .unwrap_or_default();
    let arns: Vec<_> = attached.iter().filter_map(|p| p.policy_arn()).collect();
    assert_eq!(arns, vec![policy_arn]);

    let missing: AwsError = iam
        .get_role()
        .role_name("no-such-role")
        .send()
        .await
        .expect_err("no such role")
        .into();
    assert!(missing.is_not_found(), "{missing:?}");
    assert_eq!(missing.code(), Some("NoSuchEntity"));
}

#[tokio::test]
async fn seeded_eks_ami_parameter_resolves_to_an_image() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let param = aws
        .ssm()
        .get_parameter()
        .name(EKS_AL2023_AMI_PARAM)
        .send()
        .await
        .map_err(AwsError::from)
        .expect("GetParameter of the seeded EKS AL2023 parameter")
        .parameter
        .expect("a parameter");
    let ami = param.value.expect("a value");
    assert!(ami.starts_with("ami-"), "{ami}");

    let images = aws
        .ec2()
        .describe_images()
        .image_ids(&ami)
        .send()
        .await
        .map_err(AwsError::from)
        .expect("DescribeImages")
        .images
        .unwrap_or_default();
    assert_eq!(images.len(), 1, "{images:?}");
    let name = images[0].name().unwrap_or_default();
    assert!(name.contains("al2023") && name.contains("1.31"), "{name}");
    assert_eq!(images[0].architecture().map(|a| a.as_str()), Some("x86_64"));

    let err = aws
        .ssm()
        .get_parameter()
        .name("/aws/service/eks/optimized-ami/0.1/amazon-linux-2023/x86_64/standard/recommended/image_id")
        .send()
        .await
        .expect_err("no such parameter");
    assert_eq!(err.code(), Some("ParameterNotFound"));
    assert!(AwsError::from(err).is_not_found());
}

#[tokio::test]
async fn account_id_comes_from_sts() {
    let moto = Moto::start();
    let aws = moto.context().await;
    assert_eq!(
        aws.account_id().await.expect("GetCallerIdentity"),
        ACCOUNT_ID
    );
    // Cached: a clone shares it, and it stays available after the server is gone.
    let clone = aws.clone();
    drop(moto);
    assert_eq!(clone.account_id().await.expect("cached"), ACCOUNT_ID);
}

/// Without an explicit endpoint, the SDK's own endpoint settings apply (here the profile's
/// `endpoint_url`), so the same code reaches real AWS or a local endpoint.
#[tokio::test]
async fn profile_endpoint_url_is_honoured_without_an_explicit_endpoint() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile moto]\nregion = {REGION}\nendpoint_url = {}\n",
            moto.endpoint()
        ),
    )
    .expect("write config");
    let mut opts = moto.options();
    opts.endpoint_url = None;
    opts.region = None;
    opts.profile = Some("moto".to_string());
    opts.shared_config_files = Some(SharedConfigFiles {
        config,
        credentials: dir.path().join("credentials"),
    });
    let aws = AwsContext::load(opts).await.expect("load via the profile");
    assert_eq!(aws.region(), REGION);
    assert_eq!(aws.config.endpoint_url(), Some(moto.endpoint().as_str()));
    assert_eq!(
        aws.account_id().await.expect("GetCallerIdentity"),
        ACCOUNT_ID
    );
}

#[tokio::test]
async fn unimplemented_call_fails_fast_without_retries() {
    let moto = Moto::start();
    let aws = moto.context().await;
    // moto only evaluates filters against existing instances, so launch one first.
    let ami = aws
        .ssm()
        .get_parameter()
        .name(EKS_AL2023_AMI_PARAM)
        .send()
        .await
        .map_err(AwsError::from)
        .expect("GetParameter")
        .parameter
        .and_then(|p| p.value)
        .expect("an AMI id");
    aws.ec2()
        .run_instances()
        .image_id(ami)
        .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .map_err(AwsError::from)
        .expect("RunInstances");
    let requests_before = moto.stderr_log().matches("POST / HTTP").count();

    let started = Instant::now();
    let err = aws
        .ec2()
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-lifecycle")
                .values("spot")
                .build(),
        )
        .send()
        .await
        .expect_err("moto does not implement the instance-lifecycle filter");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(3),
        "took {elapsed:?}: retries should be disabled"
    );
    let err = classify("ec2:DescribeInstances", err);
    match &err {
        AwsError::Retryable { action, code, .. } => {
            assert_eq!(action, "ec2:DescribeInstances");
            assert_eq!(code, "HTTP 500");
        }
        other => panic!("expected a retryable HTTP 500, got {other:?}"),
    }
    // Exactly one request reached the server.
    let log = moto.stderr_log();
    let requests = log.matches("POST / HTTP").count() - requests_before;
    assert_eq!(requests, 1, "moto log:\n{log}");
}

#[tokio::test]
async fn reset_clears_state() {
    let moto = Moto::start();
    let aws = moto.context().await;
    let sqs = aws.sqs();
    sqs.create_queue()
        .queue_name("before-reset")
        .send()
        .await
        .map_err(AwsError::from)
        .expect("CreateQueue");
    moto.reset();
    let err: AwsError = sqs
        .get_queue_url()
        .queue_name("before-reset")
        .send()
        .await
        .expect_err("the queue is gone after reset")
        .into();
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn moto_stops_when_dropped() {
    let moto = Moto::start();
    let port = moto.port();
    drop(moto);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "moto still answers on port {port} after drop"
    );
}

/// Set for the child test process of `moto_dies_with_a_killed_test_process`.
const ORPHAN_HELPER_ENV: &str = "KUBECTL_KARPENTER_MOTO_ORPHAN_HELPER";

#[cfg(target_os = "linux")]
#[test]
fn moto_dies_with_a_killed_test_process() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let exe = std::env::current_exe().expect("the test binary's path");
    // Test names are module paths without the crate's name.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let helper = format!("{module}::moto_orphan_helper");
    let mut child = Command::new(exe)
        .args(["--exact", &helper, "--ignored", "--nocapture"])
        .env(ORPHAN_HELPER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the helper test process");
    let stdout = child.stdout.take().expect("piped stdout");
    let port: u16 = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("MOTO_PORT=").and_then(|p| p.parse().ok()))
        .expect("the helper reports moto's port");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    // SIGKILL: no destructor runs in the helper, only PR_SET_PDEATHSIG can stop moto.
    child.kill().expect("kill the helper");
    child.wait().expect("reap the helper");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "moto on port {port} outlived its SIGKILLed parent"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "helper process for moto_dies_with_a_killed_test_process"]
fn moto_orphan_helper() {
    if std::env::var_os(ORPHAN_HELPER_ENV).is_none() {
        return;
    }
    let moto = Moto::start();
    println!("MOTO_PORT={}", moto.port());
    std::thread::sleep(Duration::from_secs(120));
}

/// Decode `%XX` escapes and `+` (IAM URL-encodes policy documents).
fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'%' if i + 2 < bytes.len() => hex(bytes[i + 1])
                .zip(hex(bytes[i + 2]))
                .map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (decoded, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn percent_decode_decodes_escapes() {
    assert_eq!(percent_decode("%7B%22a%22%3A+1%7D"), "{\"a\": 1}");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz"), "%zz");
}
