//! The controllers' error. Each variant has a stable, low-cardinality [`Error::kind`] so it can
//! label a metric (`karpenter_..._errors_total{error="kube"}`) without the message.
use crate::cloud::provider::CloudError;

/// Why a reconcile or a provisioning pass failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, naming the object ("create NodeClaim default-abcde").
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The cloud provider failed.
    #[error("{action}: {source}")]
    Cloud {
        /// What was being done.
        action: String,
        /// The provider error.
        #[source]
        source: CloudError,
    },
    /// The cluster model could not be built or read.
    #[error("cluster state: {0}")]
    State(#[from] karpenter_state::Error),
    /// The scheduling simulation failed.
    #[error("scheduling: {0}")]
    Scheduling(#[from] karpenter_scheduling::Error),
    /// An object is not as the controllers need it (names the object and field).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// A stable label for metrics: `kube`, `cloud`, `state`, `scheduling` or `invalid`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::Cloud { .. } => "cloud",
            Error::State(_) => "state",
            Error::Scheduling(_) => "scheduling",
            Error::Invalid(_) => "invalid",
        }
    }

    /// A Kubernetes error with what was being done.
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source,
        }
    }

    /// A cloud-provider error with what was being done.
    pub fn cloud(action: impl Into<String>, source: CloudError) -> Self {
        Error::Cloud {
            action: action.into(),
            source,
        }
    }
}

/// `Result<T, controllers::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a kube error is the API server's 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    status_code(e) == Some(404)
}

/// Whether a kube error is the API server's 409 (conflict or already exists).
pub fn is_conflict(e: &kube::Error) -> bool {
    status_code(e) == Some(409)
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}
