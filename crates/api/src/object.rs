//! Dynamic entry point: pick the typed Karpenter object from `apiVersion`/`kind`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use thiserror::Error;

use crate::{aws, sh};

/// Errors from loading or emitting a Karpenter object.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The document is not an object with string `apiVersion` and `kind`.
    #[error("document is not a Kubernetes object: {reason}")]
    NotAnObject {
        /// What is missing or wrong.
        reason: String,
    },
    /// The object belongs to another API group: not a Karpenter object. Callers usually pass it through.
    #[error("{kind} ({api_version}) is not a Karpenter object")]
    NotKarpenter {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
    },
    /// A `karpenter.sh` / `karpenter.k8s.aws` kind or version this crate does not model (e.g. NodeOverlay).
    #[error(
        "{kind} ({api_version}) is not supported; supported are Provisioner/Machine (karpenter.sh/v1alpha5), \
         NodePool/NodeClaim (karpenter.sh/v1beta1, karpenter.sh/v1), AWSNodeTemplate (karpenter.k8s.aws/v1alpha1) \
         and EC2NodeClass (karpenter.k8s.aws/v1beta1, karpenter.k8s.aws/v1)"
    )]
    UnsupportedKarpenterKind {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
    },
    /// A field has the wrong type or a required field is missing.
    #[error("{kind} {name:?} ({api_version}): {}{message}", path_prefix(.path))]
    InvalidField {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
        /// `metadata.name`, or `<unnamed>`.
        name: String,
        /// Path of the bad field, e.g. `spec.limits.resources.cpu` (empty for the object root).
        path: String,
        /// What is wrong, e.g. `invalid type: map, expected a string`.
        message: String,
    },
    /// The object has fields the schema does not define (only from [`KarpenterObject::from_value_strict`]).
    #[error(
        "{kind} {name:?} ({api_version}): unknown field{} {}; check the spelling and the apiVersion",
        if .paths.len() == 1 { "" } else { "s" },
        .paths.join(", ")
    )]
    UnknownFields {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
        /// `metadata.name`, or `<unnamed>`.
        name: String,
        /// Paths of the unknown fields, e.g. `spec.template.spec.kubelet`.
        paths: Vec<String>,
    },
    /// The object could not be turned into JSON.
    #[error("{kind} {name:?}: cannot serialize: {message}")]
    Serialize {
        /// The object's `kind`.
        kind: String,
        /// `metadata.name`, or `<unnamed>`.
        name: String,
        /// The serializer's message.
        message: String,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

impl ApiError {
    /// Whether the object is simply not a Karpenter object (another API group).
    pub fn is_not_karpenter(&self) -> bool {
        matches!(self, ApiError::NotKarpenter { .. })
    }
}

/// Name used in messages for objects without `metadata.name`.
const UNNAMED: &str = "<unnamed>";

macro_rules! karpenter_object {
    ($( $(#[$doc:meta])* $variant:ident => $ty:path, $api_version:literal, $kind:literal; )*) => {
        /// Any Karpenter object this crate models, one variant per kind and version.
        #[derive(Clone, Debug, PartialEq)]
        pub enum KarpenterObject {
            $( $(#[$doc])* $variant(Box<$ty>), )*
        }

        impl KarpenterObject {
            /// Every supported `(apiVersion, kind)` pair.
            pub const SUPPORTED: &'static [(&'static str, &'static str)] = &[$( ($api_version, $kind), )*];

            /// Deserialize `value`, dispatching on its `apiVersion` and `kind`.
            ///
            /// Returns [`ApiError::NotKarpenter`] for objects of other API groups,
            /// [`ApiError::UnsupportedKarpenterKind`] for Karpenter kinds/versions not modelled here and
            /// [`ApiError::InvalidField`] (with the object's name and the field path) for malformed objects.
            pub fn from_value(value: Value) -> Result<Self, ApiError> {
                let (api_version, kind) = type_meta(&value)?;
                match (api_version.as_str(), kind.as_str()) {
                    $( ($api_version, $kind) => {
                        decode::<$ty>(value, &api_version, &kind).map(|o| KarpenterObject::$variant(Box::new(o)))
                    } )*
                    _ => {
                        let group = api_version.split_once('/').map_or("", |(g, _)| g);
                        if group == sh::GROUP || group == aws::GROUP {
                            Err(ApiError::UnsupportedKarpenterKind { api_version, kind })
                        } else {
                            Err(ApiError::NotKarpenter { api_version, kind })
                        }
                    }
                }
            }

            /// Serialize to JSON in the order `apiVersion`, `kind`, `metadata`, `spec`, `status`.
            pub fn to_value(&self) -> Result<Value, ApiError> {
                let result = match self {
                    $( KarpenterObject::$variant(o) => serde_json::to_value(&**o), )*
                };
                result.map_err(|e| ApiError::Serialize {
                    kind: self.kind().to_string(),
                    name: self.name().unwrap_or(UNNAMED).to_string(),
                    message: e.to_string(),
                })
            }

            /// The object's `apiVersion`, e.g. `karpenter.sh/v1`.
            pub fn api_version(&self) -> &'static str {
                match self {
                    $( KarpenterObject::$variant(_) => $api_version, )*
                }
            }

            /// The object's `kind`, e.g. `NodePool`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( KarpenterObject::$variant(_) => $kind, )*
                }
            }

            /// The object's metadata.
            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $( KarpenterObject::$variant(o) => &o.metadata, )*
                }
            }

            /// Mutable access to the object's metadata.
            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $( KarpenterObject::$variant(o) => &mut o.metadata, )*
                }
            }
        }

        $(
            impl From<$ty> for KarpenterObject {
                fn from(o: $ty) -> Self {
                    KarpenterObject::$variant(Box::new(o))
                }
            }
        )*
    };
}

karpenter_object! {
    /// `karpenter.sh/v1alpha5` Provisioner.
    ProvisionerV1alpha5 => sh::v1alpha5::Provisioner, "karpenter.sh/v1alpha5", "Provisioner";
    /// `karpenter.sh/v1alpha5` Machine.
    MachineV1alpha5 => sh::v1alpha5::Machine, "karpenter.sh/v1alpha5", "Machine";
    /// `karpenter.sh/v1beta1` NodePool.
    NodePoolV1beta1 => sh::v1beta1::NodePool, "karpenter.sh/v1beta1", "NodePool";
    /// `karpenter.sh/v1beta1` NodeClaim.
    NodeClaimV1beta1 => sh::v1beta1::NodeClaim, "karpenter.sh/v1beta1", "NodeClaim";
    /// `karpenter.sh/v1` NodePool.
    NodePoolV1 => sh::v1::NodePool, "karpenter.sh/v1", "NodePool";
    /// `karpenter.sh/v1` NodeClaim.
    NodeClaimV1 => sh::v1::NodeClaim, "karpenter.sh/v1", "NodeClaim";
    /// `karpenter.k8s.aws/v1alpha1` AWSNodeTemplate.
    AWSNodeTemplateV1alpha1 => aws::v1alpha1::AWSNodeTemplate, "karpenter.k8s.aws/v1alpha1", "AWSNodeTemplate";
    /// `karpenter.k8s.aws/v1beta1` EC2NodeClass.
    EC2NodeClassV1beta1 => aws::v1beta1::EC2NodeClass, "karpenter.k8s.aws/v1beta1", "EC2NodeClass";
    /// `karpenter.k8s.aws/v1` EC2NodeClass.
    EC2NodeClassV1 => aws::v1::EC2NodeClass, "karpenter.k8s.aws/v1", "EC2NodeClass";
}

impl KarpenterObject {
    /// Like [`from_value`](Self::from_value), but fails with [`ApiError::UnknownFields`] when the object has
    /// fields its type does not define (which `from_value` silently drops, as the API server prunes them).
    /// `null` values count as absent.
    pub fn from_value_strict(value: Value) -> Result<Self, ApiError> {
        let obj = Self::from_value(value.clone())?;
        let out = obj.to_value()?;
        let mut paths = Vec::new();
        dropped_fields(&value, &out, "", &mut paths);
        if paths.is_empty() {
            Ok(obj)
        } else {
            Err(ApiError::UnknownFields {
                api_version: obj.api_version().to_string(),
                kind: obj.kind().to_string(),
                name: obj.name().unwrap_or(UNNAMED).to_string(),
                paths,
            })
        }
    }

    /// The object's `metadata.name`, if set.
    pub fn name(&self) -> Option<&str> {
        self.metadata().name.as_deref()
    }
}

/// Read `apiVersion` and `kind` from a JSON document.
fn type_meta(value: &Value) -> Result<(String, String), ApiError> {
    let Some(map) = value.as_object() else {
        return Err(ApiError::NotAnObject {
            reason: format!("expected a mapping, found {}", json_type_name(value)),
        });
    };
    let field = |name: &str| match map.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(other) => Err(ApiError::NotAnObject {
            reason: format!(
                "`{name}` must be a non-empty string, found {}",
                json_type_name(other)
            ),
        }),
        None => Err(ApiError::NotAnObject {
            reason: format!("`{name}` is missing"),
        }),
    };
    Ok((field("apiVersion")?, field("kind")?))
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(s) if s.is_empty() => "an empty string",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// Deserialize one typed object, reporting the path of the first bad field.
fn decode<T: serde::de::DeserializeOwned>(
    value: Value,
    api_version: &str,
    kind: &str,
) -> Result<T, ApiError> {
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(UNNAMED)
        .to_string();
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::InvalidField {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name,
            path: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

/// Collect paths of non-null input fields that are missing from the re-serialized output.
fn dropped_fields(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, av) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    None if av.is_null() => {}
                    None => out.push(p),
                    Some(bv) => dropped_fields(av, bv, &p, out),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                dropped_fields(av, bv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}
