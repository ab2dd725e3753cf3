//! The upstream Karpenter CRDs, embedded for offline validation (see `crds/SOURCES.md` for provenance).
//!
//! `karpenter.sh/v1` and `karpenter.k8s.aws/v1` objects are validated against Karpenter v1.14.1's CRDs;
//! `karpenter.sh/v1alpha5`, `karpenter.k8s.aws/v1alpha1` and the `v1beta1` kinds against v0.32.10's.

use std::sync::OnceLock;

use serde_json::Value;

use crate::{CrdSchema, SchemaError, Violation};

/// One embedded upstream CRD file.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedCrd {
    /// Path under `crds/`, e.g. `v1/karpenter.sh_nodepools.yaml`.
    pub file: &'static str,
    /// `apiVersion` of the objects it validates.
    pub api_version: &'static str,
    /// `kind` of the objects it validates.
    pub kind: &'static str,
    /// The YAML, byte-for-byte as upstream.
    pub yaml: &'static str,
}

macro_rules! crd {
    ($file:literal, $api_version:literal, $kind:literal) => {
        EmbeddedCrd {
            file: $file,
            api_version: $api_version,
            kind: $kind,
            yaml: include_str!(concat!("../crds/", $file)),
        }
    };
}

/// Every embedded CRD.
pub const CRDS: [EmbeddedCrd; 9] = [
    crd!(
        "v1/karpenter.sh_nodepools.yaml",
        "karpenter.sh/v1",
        "NodePool"
    ),
    crd!(
        "v1/karpenter.sh_nodeclaims.yaml",
        "karpenter.sh/v1",
        "NodeClaim"
    ),
    crd!(
        "v1/karpenter.k8s.aws_ec2nodeclasses.yaml",
        "karpenter.k8s.aws/v1",
        "EC2NodeClass"
    ),
    crd!(
        "v0.32/karpenter.sh_nodepools.yaml",
        "karpenter.sh/v1beta1",
        "NodePool"
    ),
    crd!(
        "v0.32/karpenter.sh_nodeclaims.yaml",
        "karpenter.sh/v1beta1",
        "NodeClaim"
    ),
    crd!(
        "v0.32/karpenter.k8s.aws_ec2nodeclasses.yaml",
        "karpenter.k8s.aws/v1beta1",
        "EC2NodeClass"
    ),
    crd!(
        "v0.32/karpenter.sh_provisioners.yaml",
        "karpenter.sh/v1alpha5",
        "Provisioner"
    ),
    crd!(
        "v0.32/karpenter.sh_machines.yaml",
        "karpenter.sh/v1alpha5",
        "Machine"
    ),
    crd!(
        "v0.32/karpenter.k8s.aws_awsnodetemplates.yaml",
        "karpenter.k8s.aws/v1alpha1",
        "AWSNodeTemplate"
    ),
];

static LOADED: [OnceLock<Result<CrdSchema, String>>; CRDS.len()] =
    [const { OnceLock::new() }; CRDS.len()];

/// Why a Karpenter object could not be validated or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// No embedded CRD serves this apiVersion/kind.
    #[error(
        "no Karpenter CRD for apiVersion {api_version:?}, kind {kind:?}; supported: {}",
        supported()
    )]
    UnknownKind {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// An embedded CRD failed to load (a bug in this crate, caught by its tests).
    #[error("embedded CRD crds/{file} failed to load: {message}")]
    Schema {
        /// The embedded file.
        file: &'static str,
        /// The load error.
        message: String,
    },
    /// The object violates the CRD's schema, CEL rules or metadata rules.
    #[error("{}", invalid_message(kind, name, violations))]
    Invalid {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
        /// `metadata.name` (empty when missing).
        name: String,
        /// Every violation found.
        violations: Vec<Violation>,
    },
}

fn invalid_message(kind: &str, name: &str, violations: &[Violation]) -> String {
    let mut out = format!("{kind} {name:?} is invalid:");
    for v in violations {
        out.push_str(&format!("\n  * {v}"));
    }
    out
}

fn supported() -> String {
    CRDS.iter()
        .map(|c| format!("{} {}", c.api_version, c.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The schema for `api_version`/`kind` (loaded on first use, then cached).
pub fn schema(api_version: &str, kind: &str) -> Result<&'static CrdSchema, ValidationError> {
    let Some(index) = CRDS
        .iter()
        .position(|c| c.api_version == api_version && c.kind == kind)
    else {
        return Err(ValidationError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        });
    };
    load(index)
}

fn load(index: usize) -> Result<&'static CrdSchema, ValidationError> {
    let crd = &CRDS[index];
    let loaded = LOADED[index].get_or_init(|| {
        let version = crd.api_version.rsplit('/').next().unwrap_or_default();
        CrdSchema::from_yaml(crd.yaml, Some(version)).map_err(|e: SchemaError| e.to_string())
    });
    loaded.as_ref().map_err(|message| ValidationError::Schema {
        file: crd.file,
        message: message.clone(),
    })
}

/// Validates a Karpenter object of the given apiVersion/kind as kube-apiserver would on create.
pub fn validate(api_version: &str, kind: &str, obj: &Value) -> Result<(), ValidationError> {
    let crd = schema(api_version, kind)?;
    crd.validate(obj)
        .map_err(|violations| ValidationError::Invalid {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            violations,
        })
}

/// Validates a Karpenter object using its own `apiVersion` and `kind`.
pub fn validate_object(obj: &Value) -> Result<(), ValidationError> {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    validate(api_version, kind, obj)
}

/// Loads every embedded CRD, returning the first failure (used by tests and by callers that want to fail fast).
pub fn load_all() -> Result<Vec<&'static CrdSchema>, ValidationError> {
    (0..CRDS.len()).map(load).collect()
}
