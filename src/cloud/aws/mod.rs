//! AWS SDK client construction and error mapping.
//!
//! [`AwsContext::load`] resolves the region and credentials once, up front, and fails with one
//! paragraph that says what was looked at and how to fix it. The same code path talks to real
//! AWS and to moto: an explicit [`AwsOptions::endpoint_url`] wins, otherwise the SDK's own
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` / profile `endpoint_url` handling applies.
//! Every call's failure maps to [`AwsError`].
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_smithy_types::retry::RetryConfig;
use aws_types::region::Region;
use aws_types::SdkConfig;

pub mod discovery;
mod error;
pub mod provider;
mod resolve;
mod retry;

pub use error::{action_from_type_name, classify, classify_code, display_chain, AwsError};
pub use retry::{with_backoff, with_backoff_policy, Backoff};

/// How the SDK retries failed calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retries {
    /// The SDK's standard mode (exponential backoff with jitter) with this many attempts in total.
    Standard { max_attempts: u32 },
    /// One attempt only (tests: moto answers unimplemented calls with HTTP 500).
    Disabled,
}

/// An access key pair used instead of the default credential chain.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .finish()
    }
}

/// Paths of the shared AWS config and credentials files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedConfigFiles {
    /// Normally `~/.aws/config` (or `AWS_CONFIG_FILE`).
    pub config: PathBuf,
    /// Normally `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`).
    pub credentials: PathBuf,
}

/// What [`AwsContext::load`] should use; every field left `None` falls back to the standard
/// AWS places (environment, shared config files, instance metadata).
#[derive(Clone, Default)]
pub struct AwsOptions {
    /// `--region`; otherwise `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, IMDS.
    pub region: Option<String>,
    /// `--profile`; otherwise `AWS_PROFILE`, then `default`.
    pub profile: Option<String>,
    /// Endpoint for every service; wins over `AWS_ENDPOINT_URL*` and the profile.
    pub endpoint_url: Option<String>,
    /// `None`: the SDK's standard mode with 3 attempts (or `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS`
    /// / the profile's `retry_mode` and `max_attempts`).
    pub retries: Option<Retries>,
    /// Use these instead of the default credential chain (tests).
    pub static_credentials: Option<StaticCredentials>,
    /// Use these files instead of `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` / `~/.aws/`.
    pub shared_config_files: Option<SharedConfigFiles>,
    /// Read region, profile, file locations and credential settings from these variables instead
    /// of the process environment (tests run in parallel and must not mutate the real one).
    /// The SDK still reads endpoint and retry settings from the process environment, and
    /// container (ECS / EKS Pod Identity) credentials are fetched using the process environment.
    pub env: Option<HashMap<String, String>>,
}

impl std::fmt::Debug for AwsOptions {
    /// Shows only the names of injected environment variables (values may be secrets).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_keys = self.env.as_ref().map(|env| {
            let mut keys: Vec<&str> = env.keys().map(String::as_str).collect();
            keys.sort_unstable();
            keys
        });
        f.debug_struct("AwsOptions")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("endpoint_url", &self.endpoint_url)
            .field("retries", &self.retries)
            .field("static_credentials", &self.static_credentials)
            .field("shared_config_files", &self.shared_config_files)
            .field("env", &env_keys)
            .finish()
    }
}

/// A resolved AWS configuration (region and credentials verified) that hands out SDK clients.
#[derive(Debug, Clone)]
pub struct AwsContext {
    /// The shared SDK configuration every client is built from.
    pub config: SdkConfig,
    region: String,
    profile: String,
    credentials_source: String,
    account_id: Arc<tokio::sync::OnceCell<String>>,
}

impl AwsContext {
    /// Resolve the region and credentials (eagerly, so a missing piece fails here with a full
    /// explanation) and build the shared SDK configuration.
    pub async fn load(opts: AwsOptions) -> Result<AwsContext, AwsError> {
        let discovery = resolve::Discovery::new(&opts).await?;
        let region = discovery.region(opts.region.as_deref()).await?;
        let (credentials, credentials_source) = match &opts.static_credentials {
            Some(s) => (
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        s.access_key_id.clone(),
                        s.secret_access_key.clone(),
                        None,
                        None,
                        "kubectl-karpenter-static",
                    ),
                ),
                "static credentials".to_string(),
            ),
            None => discovery.credentials(&region).await?,
        };

        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .profile_name(discovery.profile())
            .profile_files(discovery.profile_files())
            .credentials_provider(credentials);
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        match opts.retries {
            Some(Retries::Disabled) => loader = loader.retry_config(RetryConfig::disabled()),
            Some(Retries::Standard { max_attempts }) => {
                loader = loader
                    .retry_config(RetryConfig::standard().with_max_attempts(max_attempts.max(1)))
            }
            None => {}
        }
        let config = loader.load().await;
        Ok(AwsContext {
            config,
            region,
            profile: discovery.profile().to_string(),
            credentials_source,
            account_id: Arc::default(),
        })
    }

    /// The region every client talks to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The shared-config profile name in use (`default` unless chosen).
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Where the credentials came from, e.g. `environment variables` or `profile "dev"`.
    pub fn credentials_source(&self) -> &str {
        &self.credentials_source
    }

    /// An EC2 client.
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }

    /// An IAM client.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config)
    }

    /// An SQS client.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    /// An SSM client.
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config)
    }

    /// An EventBridge client.
    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.config)
    }

    /// A CloudFormation client.
    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    /// An EKS client.
    pub fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.config)
    }

    /// An STS client.
    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config)
    }

    /// A Pricing API client, signed for the Pricing endpoint region that serves this region
    /// ([`provider::pricing::pricing_endpoint_region`]); an explicit endpoint override is kept.
    pub fn pricing(&self) -> aws_sdk_pricing::Client {
        let region = provider::pricing::pricing_endpoint_region(&self.region)
            .unwrap_or(provider::pricing::DEFAULT_PRICING_REGION);
        let conf = aws_sdk_pricing::config::Builder::from(&self.config)
            .region(Region::new(region))
            .build();
        aws_sdk_pricing::Client::from_conf(conf)
    }

    /// The caller's account id (STS `GetCallerIdentity`, asked once and cached).
    pub async fn account_id(&self) -> Result<String, AwsError> {
        self.account_id
            .get_or_try_init(|| async {
                let out = self
                    .sts()
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| classify("sts:GetCallerIdentity", e))?;
                out.account
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| AwsError::Other {
                        action: "sts:GetCallerIdentity".into(),
                        code: "MissingAccount".into(),
                        message: "the response has no Account".into(),
                    })
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Options that see nothing of this machine's AWS setup: an empty environment with HOME in
    /// an empty directory, IMDS disabled unless `imds`.
    fn isolated(home: &std::path::Path, imds: bool) -> AwsOptions {
        let mut env = HashMap::from([("HOME".to_string(), home.display().to_string())]);
        if !imds {
            env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
        }
        AwsOptions {
            region: Some("us-west-2".into()),
            shared_config_files: Some(SharedConfigFiles {
                config: home.join("config"),
                credentials: home.join("credentials"),
            }),
            env: Some(env),
            ..AwsOptions::default()
        }
    }

    fn credentials_text(err: AwsError) -> String {
        match err {
            AwsError::Credentials(text) => text,
            other => panic!("expected a credentials error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn no_credentials_explains_every_place_looked_at() {
        let home = tempfile::tempdir().expect("temp dir");
        let err = AwsContext::load(isolated(home.path(), false))
            .await
            .expect_err("no credentials anywhere");
        let text = credentials_text(err);
        assert!(!text.contains('\n'), "one paragraph: {text}");
        for needle in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "profile \"default\"",
            &home.path().join("credentials").display().to_string(),
            &home.path().join("config").display().to_string(),
            "aws sso login --profile default",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_ARN",
            "IRSA",
            "Pod Identity",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)",
            "To fix",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in: {text}");
        }
    }

    #[tokio::test]
    async fn imds_probe_is_short_when_not_on_ec2() {
        let home = tempfile::tempdir().expect("temp dir");
        let mut opts = isolated(home.path(), true);
        // A listener that never answers stands in for a metadata address that swallows packets
        // (the SDK's default client waits ~4 attempts of 1 s each there).
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
        if let Some(env) = opts.env.as_mut() {
            env.insert("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), endpoint);
        }
        opts.region = None;
        let started = Instant::now();
        let err = AwsContext::load(opts.clone()).await.expect_err("no region");
        let elapsed = started.elapsed();
        assert!(matches!(err, AwsError::Region(_)), "{err:?}");
        assert!(
            elapsed < Duration::from_millis(3500),
            "region probe took {elapsed:?}"
        );

        opts.region = Some("us-west-2".into());
        let started = Instant::now();
        let err = AwsContext::load(opts).await.expect_err("no credentials");
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(3500),
            "credentials probe took {elapsed:?}"
        );
        let text = credentials_text(err);
        assert!(text.contains("EC2 instance metadata"), "{text}");
        assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
    }

    /// A local HTTP server that refuses every request with 403, like a proxy that denies the
    /// metadata address.
    fn refusing_server() -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(16) {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndenied",
                );
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn refused_metadata_service_is_reported_as_unavailable() {
        let home = tempfile::tempdir().expect("temp dir");
        let mut opts = isolated(home.path(), true);
        if let Some(env) = opts.env.as_mut() {
            env.insert(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
                refusing_server(),
            );
        }
        let text = credentials_text(AwsContext::load(opts).await.expect_err("no credentials"));
        assert!(text.starts_with("No AWS credentials found."), "{text}");
        assert!(
            text.contains("EC2 instance metadata (instance profile) (unavailable:"),
            "{text}"
        );
        assert!(!text.contains("ProviderError {"), "no Debug dumps: {text}");
    }

    #[tokio::test]
    async fn credentials_come_from_the_injected_environment_then_the_profile() {
        let home = tempfile::tempdir().expect("temp dir");
        let mut opts = isolated(home.path(), false);
        if let Some(env) = opts.env.as_mut() {
            env.insert("AWS_ACCESS_KEY_ID".into(), "AKIDEXAMPLE".into());
            env.insert("AWS_SECRET_ACCESS_KEY".into(), "secret".into());
        }
        let ctx = AwsContext::load(opts).await.expect("env credentials");
        assert_eq!(ctx.credentials_source(), "environment variables");

        std::fs::write(
            home.path().join("credentials"),
            "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = devsecret\n",
        )
        .expect("write credentials");
        std::fs::write(
            home.path().join("config"),
            "[profile dev]\nregion = eu-west-1\n",
        )
        .expect("write config");
        let mut opts = isolated(home.path(), false);
        opts.region = None;
        opts.profile = Some("dev".into());
        let ctx = AwsContext::load(opts).await.expect("profile credentials");
        assert_eq!(ctx.credentials_source(), "profile \"dev\"");
        assert_eq!(ctx.region(), "eu-west-1");
        assert_eq!(ctx.profile(), "dev");
    }

    #[tokio::test]
    async fn half_set_environment_credentials_are_an_error() {
        let home = tempfile::tempdir().expect("temp dir");
        let mut opts = isolated(home.path(), false);
        if let Some(env) = opts.env.as_mut() {
            env.insert("AWS_ACCESS_KEY_ID".into(), "AKIDEXAMPLE".into());
        }
        let text = credentials_text(AwsContext::load(opts).await.expect_err("half set"));
        assert!(text.contains("must both be set"), "{text}");
    }

    #[tokio::test]
    async fn a_chosen_profile_that_does_not_exist_is_named() {
        let home = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            home.path().join("config"),
            "[profile other]\nregion = us-east-1\n",
        )
        .expect("write config");
        let mut opts = isolated(home.path(), false);
        opts.profile = Some("prod".into());
        let text = credentials_text(AwsContext::load(opts).await.expect_err("no such profile"));
        assert!(text.contains("\"prod\" does not exist"), "{text}");
        assert!(text.contains("aws configure --profile prod"), "{text}");
    }

    #[tokio::test]
    async fn no_region_explains_where_it_looked() {
        let home = tempfile::tempdir().expect("temp dir");
        let mut opts = isolated(home.path(), false);
        opts.region = None;
        opts.static_credentials = Some(StaticCredentials {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
        });
        let err = AwsContext::load(opts).await.expect_err("no region");
        let AwsError::Region(text) = err else {
            panic!("expected a region error, got {err:?}");
        };
        assert!(!text.contains('\n'), "{text}");
        for needle in [
            "--region",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "profile \"default\"",
            "AWS_EC2_METADATA_DISABLED",
            "aws configure set region",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in: {text}");
        }
    }

    #[tokio::test]
    async fn region_precedence_flag_then_env_then_profile() {
        let home = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            home.path().join("config"),
            "[default]\nregion = ap-south-1\n",
        )
        .expect("write config");
        let statics = Some(StaticCredentials {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
        });
        let mut opts = isolated(home.path(), false);
        opts.static_credentials = statics.clone();
        opts.region = None;
        let ctx = AwsContext::load(opts.clone())
            .await
            .expect("profile region");
        assert_eq!(ctx.region(), "ap-south-1");

        if let Some(env) = opts.env.as_mut() {
            env.insert("AWS_DEFAULT_REGION".into(), "eu-central-1".into());
        }
        let ctx = AwsContext::load(opts.clone()).await.expect("env region");
        assert_eq!(ctx.region(), "eu-central-1");

        opts.region = Some("us-east-2".into());
        let ctx = AwsContext::load(opts).await.expect("flag region");
        assert_eq!(ctx.region(), "us-east-2");
        assert_eq!(ctx.config.region().map(|r| r.as_ref()), Some("us-east-2"));
    }

    #[tokio::test]
    async fn malformed_region_is_refused_naming_its_source() {
        let home = tempfile::tempdir().expect("temp dir");
        let mut opts = isolated(home.path(), false);
        opts.region = None;
        if let Some(env) = opts.env.as_mut() {
            env.insert("AWS_REGION".into(), "US West 2".into());
        }
        let err = AwsContext::load(opts).await.expect_err("bad region");
        let AwsError::Region(text) = err else {
            panic!("expected a region error, got {err:?}");
        };
        assert!(text.contains("`US West 2` (from AWS_REGION)"), "{text}");
    }

    #[tokio::test]
    async fn shared_file_locations_come_from_the_environment() {
        let home = tempfile::tempdir().expect("temp dir");
        let elsewhere = tempfile::tempdir().expect("temp dir");
        let creds = elsewhere.path().join("creds.ini");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n",
        )
        .expect("write credentials");
        let mut opts = isolated(home.path(), false);
        opts.shared_config_files = None;
        if let Some(env) = opts.env.as_mut() {
            env.insert(
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                creds.display().to_string(),
            );
        }
        let ctx = AwsContext::load(opts.clone())
            .await
            .expect("credentials file");
        assert_eq!(ctx.credentials_source(), "profile \"default\"");

        // Without it, the error names the file chosen by the variable.
        let missing = elsewhere.path().join("missing.ini");
        if let Some(env) = opts.env.as_mut() {
            env.insert(
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                missing.display().to_string(),
            );
        }
        let text = credentials_text(AwsContext::load(opts).await.expect_err("no file"));
        let expected = format!(
            "{} (from AWS_SHARED_CREDENTIALS_FILE) (missing)",
            missing.display()
        );
        assert!(text.contains(&expected), "{text}");
        let default_config = home.path().join(".aws").join("config");
        assert!(
            text.contains(&default_config.display().to_string()),
            "{text}"
        );
    }

    #[tokio::test]
    async fn explicit_endpoint_and_retries_reach_the_sdk_config() {
        let home = tempfile::tempdir().expect("temp dir");
        let mut opts = isolated(home.path(), false);
        opts.static_credentials = Some(StaticCredentials {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
        });
        opts.endpoint_url = Some("http://127.0.0.1:5055".into());
        opts.retries = Some(Retries::Disabled);
        let ctx = AwsContext::load(opts.clone()).await.expect("load");
        assert_eq!(ctx.config.endpoint_url(), Some("http://127.0.0.1:5055"));
        assert_eq!(ctx.config.retry_config().map(|r| r.max_attempts()), Some(1));
        opts.retries = Some(Retries::Standard { max_attempts: 7 });
        let ctx = AwsContext::load(opts).await.expect("load");
        assert_eq!(ctx.config.retry_config().map(|r| r.max_attempts()), Some(7));
    }

    #[test]
    fn options_debug_hides_secrets() {
        let opts = AwsOptions {
            static_credentials: Some(StaticCredentials {
                access_key_id: "AKID".into(),
                secret_access_key: "static-secret".into(),
            }),
            env: Some(HashMap::from([(
                "AWS_SECRET_ACCESS_KEY".to_string(),
                "env-secret".to_string(),
            )])),
            ..AwsOptions::default()
        };
        let shown = format!("{opts:?}");
        assert!(
            shown.contains("AWS_SECRET_ACCESS_KEY") && shown.contains("AKID"),
            "{shown}"
        );
        assert!(
            !shown.contains("static-secret") && !shown.contains("env-secret"),
            "{shown}"
        );
    }

    #[test]
    fn static_credentials_debug_hides_the_secret() {
        let s = StaticCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "very-secret".into(),
        };
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
