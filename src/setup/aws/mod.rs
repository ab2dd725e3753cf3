//! The AWS adapter for the [`Live`] port: reads with IAM/SQS/EventBridge/EC2 describe calls and
//! applies each [`Operation`] as one API call. Errors are classified by
//! [`crate::cloud::aws::classify`] and mapped to [`SetupError`] naming the API action.
//!
//! One file per AWS service: [`iam`], [`sqs`], [`eventbridge`], [`ec2`], [`eks`] and
//! [`cloudformation`] (the [`super::adopt::Stacks`] port); this file holds the clients, the error
//! mapping and the [`Live`] implementation that reads and dispatches across them.
use serde_json::Value;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::cluster::ClusterFacts;
use super::desired::Desired;
use super::live::{EksState, Live, LiveState, Operation, ReadScope};
use super::policy::parse_document;
use super::SetupError;
use crate::cloud::aws::{classify, AwsError};

mod cloudformation;
mod ec2;
mod eks;
mod eventbridge;
mod iam;
mod sqs;

/// [`Live`] over the AWS SDK clients.
#[derive(Debug, Clone)]
pub struct AwsLive {
    iam: aws_sdk_iam::Client,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    ec2: aws_sdk_ec2::Client,
    eks: aws_sdk_eks::Client,
    cfn: aws_sdk_cloudformation::Client,
    /// How often to poll CloudFormation while waiting for a stack operation.
    poll: std::time::Duration,
}

impl AwsLive {
    /// Clients built from one SDK configuration.
    pub fn new(config: &aws_types::SdkConfig) -> Self {
        Self {
            iam: aws_sdk_iam::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            eks: aws_sdk_eks::Client::new(config),
            cfn: aws_sdk_cloudformation::Client::new(config),
            poll: std::time::Duration::from_secs(5),
        }
    }
}

/// Map a failed SDK call to [`SetupError`].
pub fn sdk_error<E>(action: &str, err: SdkError<E, HttpResponse>) -> SetupError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    from_aws(classify(action, err))
}

/// Map an [`AwsError`] to [`SetupError`].
pub fn from_aws(err: AwsError) -> SetupError {
    let action = err.action().unwrap_or("AWS").to_string();
    match err {
        AwsError::Unauthorized {
            action, message, ..
        } => SetupError::AccessDenied { action, message },
        AwsError::Retryable { code, message, .. } => SetupError::Throttled {
            action,
            message: format!("{code}: {message}"),
        },
        AwsError::NotFound { code, message, .. } => SetupError::NotFound {
            action,
            message: format!("{code}: {message}"),
        },
        AwsError::AlreadyExists { code, message, .. } => SetupError::AlreadyExists {
            action,
            message: format!("{code}: {message}"),
        },
        other => SetupError::Aws {
            action,
            message: other.to_string(),
        },
    }
}

/// `Ok(None)` for NotFound, the value otherwise.
fn optional<T>(r: Result<T, SetupError>) -> Result<Option<T>, SetupError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(SetupError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn document(what: &str, text: Option<&str>) -> Result<Value, SetupError> {
    let text = text.ok_or_else(|| SetupError::Malformed {
        what: what.to_string(),
        message: "AWS returned no document".into(),
    })?;
    parse_document(text).map_err(|e| SetupError::Malformed {
        what: what.to_string(),
        message: format!("not JSON: {e}"),
    })
}

/// An operation handed to the wrong service's adapter (a bug in the dispatch below).
fn misrouted(service: &str, op: &Operation) -> SetupError {
    SetupError::Unsupported {
        what: format!("{} is not a {service} operation", op.api_action()),
        hint: "this is a bug in kubectl-karpenter; please report it".into(),
    }
}

impl AwsLive {
    async fn apply_op(&self, op: &Operation) -> Result<(), SetupError> {
        match op.api_action().split(':').next().unwrap_or_default() {
            "iam" => self.apply_iam(op).await,
            "sqs" => self.apply_sqs(op).await,
            "events" => self.apply_events(op).await,
            "ec2" => self.apply_ec2(op).await,
            "eks" => self.apply_eks(op).await,
            _ => match op {
                Operation::WriteAwsAuth { .. } => Err(SetupError::Unsupported {
                    what: "editing kube-system/aws-auth needs a Kubernetes client".into(),
                    hint: "wrap the AWS adapter in setup::aws_auth::KubeAwsAuth".into(),
                }),
                other => Err(misrouted("AWS", other)),
            },
        }
    }
}

impl Live for AwsLive {
    async fn read(&self, desired: &Desired, scope: ReadScope) -> Result<LiveState, SetupError> {
        let mut state = LiveState::default();
        if let Some(r) = self.read_role(&desired.node_role.name).await? {
            state.roles.insert(r.name.clone(), r);
        }
        for p in &desired.controller_policies {
            if let Some(l) = self.read_policy(&p.name, &p.arn).await? {
                state.policies.insert(p.name.clone(), l);
            }
        }
        if let Some(p) = self
            .read_instance_profile(&desired.node_instance_profile.name)
            .await?
        {
            state.instance_profiles.insert(p.name.clone(), p);
        }
        state.queue = self.read_queue(&desired.queue.name).await?;
        for r in &desired.rules {
            if let Some(l) = self.read_rule(&r.name).await? {
                state.rules.insert(r.name.clone(), l);
            }
        }
        let controller = match (&desired.controller_role, scope) {
            (Some(r), _) => Some(r.name.clone()),
            (None, ReadScope::Teardown) => Some(desired.controller_role_name()),
            (None, ReadScope::Setup) => None,
        };
        if let Some(name) = controller {
            if let Some(r) = self.read_role(&name).await? {
                state.roles.insert(r.name.clone(), r);
            }
        }
        if let Some(oidc) = &desired.oidc_provider {
            state.oidc_providers = self.read_oidc_providers().await?;
            if state.oidc_providers.contains(&oidc.arn) {
                state.oidc_provider_tags = self.read_oidc_provider_tags(&oidc.arn).await?;
            }
        }
        if desired.spot_service_linked_role {
            state.spot_service_linked_role = Some(self.spot_role_exists().await?);
        }
        state.discovery_tags = self
            .read_discovery_tags(&desired.discovery_resources)
            .await?;
        if scope == ReadScope::Teardown {
            let cluster = desired.target.cluster.as_str();
            state.launch_templates = self.read_launch_templates(cluster).await?;
            state.karpenter_instance_profiles = self
                .read_karpenter_profiles(&desired.target.region, cluster)
                .await?;
            state.cluster_instances = self.read_cluster_instances(cluster).await?;
        }
        Ok(state)
    }

    async fn cluster(&self, name: &str) -> Result<Option<ClusterFacts>, SetupError> {
        self.cluster_facts(name).await
    }

    async fn read_eks(&self, desired: &Desired) -> Result<EksState, SetupError> {
        self.read_eks_state(desired).await
    }

    async fn apply(&self, op: &Operation) -> Result<(), SetupError> {
        self.apply_op(op).await
    }
}

impl AwsLive {
    /// Poll CloudFormation every `poll` while waiting (tests use a short interval).
    pub fn with_poll_interval(mut self, poll: std::time::Duration) -> Self {
        self.poll = poll;
        self
    }
}
