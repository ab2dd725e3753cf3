//! Region and credential discovery with explanations.
//!
//! The sources and their order follow aws-config's default chains (environment, shared
//! profile, web identity, container, instance metadata), but every source is probed here so
//! that a failure can say exactly what was looked at, and the instance-metadata probe is short
//! (a laptop is not an EC2 instance; the SDK default waits seconds before giving up).
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::ecs::EcsCredentialsProvider;
use aws_config::imds;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::imds::region::ImdsRegionProvider;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileSet};
use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::{StaticConfiguration, WebIdentityTokenCredentialsProvider};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;

use super::{display_chain, AwsError, AwsOptions};

/// The instance-metadata service answers in well under a millisecond on EC2.
const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const IMDS_READ_TIMEOUT: Duration = Duration::from_secs(1);
const IMDS_OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

/// Environment lookups: the process environment, or the map from [`AwsOptions::env`].
#[derive(Debug, Clone)]
struct EnvVars(Option<HashMap<String, String>>);

impl EnvVars {
    fn get(&self, key: &str) -> Option<String> {
        let value = match &self.0 {
            Some(map) => map.get(key).cloned(),
            None => std::env::var(key).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    fn home(&self) -> Option<PathBuf> {
        self.get("HOME")
            .or_else(|| self.get("USERPROFILE"))
            .map(PathBuf::from)
    }

    fn expand_home(&self, path: &str) -> PathBuf {
        match (path.strip_prefix("~/"), self.home()) {
            (Some(rest), Some(home)) => home.join(rest),
            _ if path == "~" => self.home().unwrap_or_else(|| PathBuf::from(path)),
            _ => PathBuf::from(path),
        }
    }
}

/// Where a shared file is and why it is there.
#[derive(Debug, Clone)]
struct SharedFile {
    path: Option<PathBuf>,
    /// `AWS_CONFIG_FILE`-style variable that chose the path, if any.
    from_env: Option<&'static str>,
    exists: bool,
}

impl SharedFile {
    fn locate(
        explicit: Option<&Path>,
        env: &EnvVars,
        var: &'static str,
        default_name: &str,
    ) -> SharedFile {
        let (path, from_env) = match (explicit, env.get(var)) {
            (Some(p), _) => (Some(p.to_path_buf()), None),
            (None, Some(v)) => (Some(env.expand_home(&v)), Some(var)),
            (None, None) => (env.home().map(|h| h.join(".aws").join(default_name)), None),
        };
        let exists = path.as_deref().is_some_and(Path::is_file);
        SharedFile {
            path,
            from_env,
            exists,
        }
    }

    fn describe(&self) -> String {
        let mut s = match &self.path {
            Some(p) => p.display().to_string(),
            None => "(no home directory: HOME is not set)".to_string(),
        };
        if let Some(var) = self.from_env {
            s.push_str(&format!(" (from {var})"));
        }
        if self.path.is_some() && !self.exists {
            s.push_str(" (missing)");
        }
        s
    }
}

/// Everything needed to find a region and credentials, gathered once.
pub(super) struct Discovery {
    env: EnvVars,
    profile: String,
    /// The profile was chosen with `--profile` or `AWS_PROFILE` (so it must exist).
    profile_chosen: bool,
    config_file: SharedFile,
    credentials_file: SharedFile,
    profile_files: EnvConfigFiles,
    profiles: ProfileSet,
    /// `None` when `AWS_EC2_METADATA_DISABLED=true`.
    imds: Option<imds::Client>,
}

impl Discovery {
    /// Locate and parse the shared config files and pick the profile.
    pub(super) async fn new(opts: &AwsOptions) -> Result<Discovery, AwsError> {
        let env = EnvVars(opts.env.clone());
        let files = opts.shared_config_files.as_ref();
        let config_file = SharedFile::locate(
            files.map(|f| f.config.as_path()),
            &env,
            "AWS_CONFIG_FILE",
            "config",
        );
        let credentials_file = SharedFile::locate(
            files.map(|f| f.credentials.as_path()),
            &env,
            "AWS_SHARED_CREDENTIALS_FILE",
            "credentials",
        );
        let (profile, profile_chosen) = match (&opts.profile, env.get("AWS_PROFILE")) {
            (Some(p), _) => (p.clone(), true),
            (None, Some(p)) => (p, true),
            (None, None) => ("default".to_string(), false),
        };

        // Only existing files: an explicit path that is missing is an error in the SDK.
        let mut builder = EnvConfigFiles::builder();
        let mut any = false;
        for (file, kind) in [
            (&config_file, EnvConfigFileKind::Config),
            (&credentials_file, EnvConfigFileKind::Credentials),
        ] {
            if let (Some(path), true) = (&file.path, file.exists) {
                builder = builder.with_file(kind, path);
                any = true;
            }
        }
        if !any {
            builder = builder.with_contents(EnvConfigFileKind::Config, "");
        }
        let profile_files = builder.build();

        let profiles = aws_config::profile::load(
            &Fs::real(),
            &Env::real(),
            &profile_files,
            Some(Cow::Owned(profile.clone())),
        )
        .await
        .map_err(|e| {
            AwsError::Credentials(format!(
                "Cannot read the AWS shared config files {} and {}: {}. Fix the syntax (sections \
                 look like `[profile NAME]` in the config file and `[NAME]` in the credentials \
                 file), or point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE elsewhere.",
                config_file.describe(),
                credentials_file.describe(),
                display_chain(&e)
            ))
        })?;

        let imds_disabled = env
            .get("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let imds = if imds_disabled {
            None
        } else {
            let mut builder = imds::Client::builder()
                .configure(&ProviderConfig::default())
                .max_attempts(1)
                .connect_timeout(IMDS_CONNECT_TIMEOUT)
                .read_timeout(IMDS_READ_TIMEOUT)
                .operation_timeout(IMDS_OPERATION_TIMEOUT)
                .operation_attempt_timeout(IMDS_OPERATION_TIMEOUT);
            if let Some(endpoint) = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
                builder = builder.endpoint(&endpoint).map_err(|e| {
                    AwsError::Credentials(format!(
                        "AWS_EC2_METADATA_SERVICE_ENDPOINT={endpoint} is not a valid URL ({e}); \
                         set it to e.g. http://169.254.169.254 or unset it."
                    ))
                })?;
            }
            Some(builder.build())
        };

        Ok(Discovery {
            env,
            profile,
            profile_chosen,
            config_file,
            credentials_file,
            profile_files,
            profiles,
            imds,
        })
    }

    /// The profile name in use.
    pub(super) fn profile(&self) -> &str {
        &self.profile
    }

    /// The shared files, for the SDK's own settings (endpoint, retries...).
    pub(super) fn profile_files(&self) -> EnvConfigFiles {
        self.profile_files.clone()
    }

    fn profile_exists(&self) -> bool {
        self.profiles.get_profile(&self.profile).is_some()
    }

    fn files_description(&self) -> String {
        format!(
            "{} and {}",
            self.credentials_file.describe(),
            self.config_file.describe()
        )
    }

    /// The region: `explicit` (`--region`), `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
    /// `region`, then the instance metadata service.
    pub(super) async fn region(&self, explicit: Option<&str>) -> Result<String, AwsError> {
        let (region, source) = self.find_region(explicit).await?;
        let valid = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !region.starts_with('-')
            && !region.ends_with('-');
        if valid {
            Ok(region)
        } else {
            Err(AwsError::Region(format!(
                "`{region}` (from {source}) is not an AWS region name. Use a name like us-west-2 \
                 (`aws ec2 describe-regions --query 'Regions[].RegionName'` lists them)."
            )))
        }
    }

    async fn find_region(&self, explicit: Option<&str>) -> Result<(String, String), AwsError> {
        if let Some(r) = explicit.map(str::trim).filter(|r| !r.is_empty()) {
            return Ok((r.to_string(), "--region".to_string()));
        }
        for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let Some(r) = self.env.get(var) {
                return Ok((r.trim().to_string(), var.to_string()));
            }
        }
        if let Some(r) = self
            .profiles
            .get_profile(&self.profile)
            .and_then(|p| p.get("region"))
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            let source = format!(
                "profile \"{}\" in {}",
                self.profile,
                self.config_file.describe()
            );
            return Ok((r.to_string(), source));
        }
        let imds_note = match &self.imds {
            Some(client) => {
                let provider = ImdsRegionProvider::builder()
                    .imds_client(client.clone())
                    .build();
                if let Some(r) = provider.region().await {
                    return Ok((r.as_ref().to_string(), "EC2 instance metadata".to_string()));
                }
                "EC2 instance metadata (no answer: not on EC2, or IMDS unreachable)"
            }
            None => "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)",
        };
        let profile_note = if self.profile_exists() {
            format!("has no `region` in {}", self.config_file.describe())
        } else {
            format!("does not exist in {}", self.files_description())
        };
        Err(AwsError::Region(format!(
            "No AWS region configured. Looked at: --region (not given); AWS_REGION and \
             AWS_DEFAULT_REGION (not set); profile \"{profile}\" ({profile_note}); {imds_note}. \
             To fix: pass --region (e.g. --region us-west-2), export AWS_REGION, or run `aws \
             configure set region REGION --profile {profile}`.",
            profile = self.profile,
        )))
    }

    /// Probe the credential sources in the default chain's order and return the first that
    /// answers (with a description of it), or one paragraph naming every place looked at.
    pub(super) async fn credentials(
        &self,
        region: &str,
    ) -> Result<(SharedCredentialsProvider, String), AwsError> {
        let conf = ProviderConfig::default().with_region(Some(Region::new(region.to_string())));
        let mut looked: Vec<String> = Vec::new();
        let profile = &self.profile;

        // 1. Environment variables.
        let key = self.env.get("AWS_ACCESS_KEY_ID");
        let secret = self
            .env
            .get("AWS_SECRET_ACCESS_KEY")
            .or_else(|| self.env.get("AWS_SECRET_KEY"));
        match (key, secret) {
            (Some(key), Some(secret)) => {
                let creds = Credentials::new(
                    key,
                    secret,
                    self.env.get("AWS_SESSION_TOKEN"),
                    None,
                    "Environment",
                );
                return Ok((
                    SharedCredentialsProvider::new(creds),
                    "environment variables".to_string(),
                ));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(AwsError::Credentials(
                    "Incomplete AWS credentials in the environment: AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY must both be set (plus AWS_SESSION_TOKEN for temporary \
                     credentials). Export the missing one, or unset both to use a profile."
                        .to_string(),
                ))
            }
            (None, None) => looked.push(
                "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (not set)"
                    .to_string(),
            ),
        }

        // 2. The shared profile (static keys, assume-role, SSO, credential_process).
        let profile_note = if self.profile_exists() {
            "the profile has no usable credentials"
        } else {
            "no such profile"
        };
        if self.profile_exists() || self.profile_chosen {
            let provider = ProfileFileCredentialsProvider::builder()
                .profile_files(self.profile_files())
                .profile_name(profile.clone())
                .configure(&conf)
                .build();
            let what = format!("profile \"{profile}\"");
            match self.probe(&provider, &what).await? {
                Some(creds) => return Ok((primed(creds, provider), what)),
                None if self.profile_chosen && !self.profile_exists() => {
                    return Err(AwsError::Credentials(format!(
                        "The AWS profile \"{profile}\" does not exist: looked in {}. Create it \
                         with `aws configure --profile {profile}` (or `aws configure sso --profile \
                         {profile}`), or pick an existing profile with --profile or AWS_PROFILE.",
                        self.files_description()
                    )))
                }
                None => {}
            }
        }
        looked.push(format!(
            "profile \"{profile}\" in {} ({profile_note}); IAM Identity Center (SSO) for that \
             profile (after `aws sso login --profile {profile}`)",
            self.files_description()
        ));

        // 3. Web identity (IRSA).
        match (
            self.env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
            self.env.get("AWS_ROLE_ARN"),
        ) {
            (Some(token_file), Some(role_arn)) => {
                let session_name = self
                    .env
                    .get("AWS_ROLE_SESSION_NAME")
                    .unwrap_or_else(|| "kubectl-karpenter".to_string());
                let provider = WebIdentityTokenCredentialsProvider::builder()
                    .static_configuration(StaticConfiguration {
                        web_identity_token_file: PathBuf::from(&token_file),
                        role_arn: role_arn.clone(),
                        session_name,
                    })
                    .configure(&conf)
                    .build();
                let what = format!("web identity token {token_file} for role {role_arn}");
                if let Some(creds) = self.probe(&provider, &what).await? {
                    return Ok((primed(creds, provider), what));
                }
                looked.push(format!("{what} (no credentials)"));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(AwsError::Credentials(
                    "Incomplete web identity (IRSA) settings: AWS_WEB_IDENTITY_TOKEN_FILE and \
                     AWS_ROLE_ARN must both be set. Check the service account's \
                     eks.amazonaws.com/role-arn annotation, or unset both."
                        .to_string(),
                ))
            }
            (None, None) => looked.push(
                "web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, as set by IRSA; not \
                 set)"
                    .to_string(),
            ),
        }

        // 4. Container credentials (ECS task role, EKS Pod Identity).
        let full = self.env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        let relative = self.env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
        if let Some(uri) = full.or(relative) {
            let provider = EcsCredentialsProvider::builder().configure(&conf).build();
            let what = format!("container credentials endpoint {uri}");
            if let Some(creds) = self.probe(&provider, &what).await? {
                return Ok((primed(creds, provider), what));
            }
            looked.push(format!("{what} (no credentials)"));
        } else {
            looked.push(
                "EKS Pod Identity / ECS container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI \
                 or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; not set)"
                    .to_string(),
            );
        }

        // 5. EC2 instance metadata.
        match &self.imds {
            Some(client) => {
                let provider = ImdsCredentialsProvider::builder()
                    .imds_client(client.clone())
                    .configure(&conf)
                    .build();
                let what = "EC2 instance metadata (instance profile)".to_string();
                // The last source: whatever answers at the metadata address (e.g. a proxy that
                // refuses it) only makes it unavailable, and the reason goes in the paragraph.
                match provider.provide_credentials().await {
                    Ok(creds) => return Ok((primed(creds, provider), what)),
                    Err(CredentialsError::CredentialsNotLoaded(_)) => looked.push(format!(
                        "{what} (no answer within {} ms: not on EC2, or no instance profile)",
                        IMDS_CONNECT_TIMEOUT.as_millis()
                    )),
                    Err(e) => looked.push(format!("{what} (unavailable: {})", display_chain(&e))),
                }
            }
            None => looked
                .push("EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)".to_string()),
        }

        Err(AwsError::Credentials(format!(
            "No AWS credentials found. Looked for: {}. To fix: export AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), run `aws \
             configure --profile {profile}` or `aws sso login --profile {profile}`, or pass \
             --profile NAME for a profile that has credentials.",
            looked.join("; ")
        )))
    }

    /// Ask one source. `Ok(None)`: it has nothing (try the next); `Err`: it is configured but
    /// broken (stop, like the SDK's chain does).
    async fn probe(
        &self,
        provider: &dyn ProvideCredentials,
        what: &str,
    ) -> Result<Option<Credentials>, AwsError> {
        match provider.provide_credentials().await {
            Ok(creds) => Ok(Some(creds)),
            Err(CredentialsError::CredentialsNotLoaded(_)) => Ok(None),
            Err(e) => Err(AwsError::Credentials(format!(
                "Could not load AWS credentials from {what}: {}. Fix that source (for SSO profiles \
                 run `aws sso login --profile {profile}`; check {files}), or use another one \
                 with --profile or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.",
                display_chain(&e),
                profile = self.profile,
                files = self.files_description(),
            ))),
        }
    }
}

/// A provider that hands out the credentials already fetched during discovery once, then
/// delegates (so discovery does not cost a second STS / SSO / IMDS round trip).
#[derive(Debug)]
struct Primed {
    first: Mutex<Option<Credentials>>,
    inner: SharedCredentialsProvider,
}

fn primed(
    first: Credentials,
    inner: impl ProvideCredentials + 'static,
) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Primed {
        first: Mutex::new(Some(first)),
        inner: SharedCredentialsProvider::new(inner),
    })
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self.first.lock().ok().and_then(|mut g| g.take());
        let fresh = first.filter(|c| {
            c.expiry()
                .is_none_or(|e| e > SystemTime::now() + Duration::from_secs(60))
        });
        match fresh {
            Some(c) => future::ProvideCredentials::ready(Ok(c)),
            None => self.inner.provide_credentials(),
        }
    }
}
