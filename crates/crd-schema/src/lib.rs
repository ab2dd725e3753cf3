//! Validate Kubernetes objects against a CustomResourceDefinition's `openAPIV3Schema` the way kube-apiserver does
//! on create/update: defaulting, the structural OpenAPI v3 rules (with strict unknown-field checking, like
//! `kubectl apply --validate=strict`), `x-kubernetes-validations` CEL rules (evaluated after defaulting) and the
//! `ObjectMeta` checks every object gets.
//!
//! [`karpenter`] embeds the upstream Karpenter CRDs (v1 and the v0.32 transition release) for offline use.
//!
//! ```
//! use serde_json::json;
//!
//! let nodepool = json!({
//!     "apiVersion": "karpenter.sh/v1",
//!     "kind": "NodePool",
//!     "metadata": {"name": "default"},
//!     "spec": {
//!         "weight": 0,
//!         "template": {"spec": {
//!             "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
//!             "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": []}]
//!         }}
//!     }
//! });
//! let err = crd_schema::karpenter::validate_object(&nodepool).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "NodePool \"default\" is invalid:\n  \
//!      * spec.weight: Invalid value: 0: must be greater than or equal to 1\n  \
//!      * spec.template.spec.requirements: Invalid value: requirements with operator 'In' must have a value defined"
//! );
//! ```
//!
//! Messages follow kube-apiserver's wording (`<path>: <Invalid value|Required value|...>: <value>: <detail>`). For
//! CEL rules they match Kubernetes 1.35+, which shows the offending scalar value (older servers print the schema
//! type, e.g. `Invalid value: "string"`). OpenAPI details are phrased as `must ...` rather than the server's
//! `<path> in body should ...`.

pub mod cel;
pub mod go_duration;
pub mod karpenter;
pub mod metadata;
mod re2;
pub mod schema;
mod validate;

use serde_json::Value;

pub use schema::Schema;
pub use validate::{apply_defaults, prune_unknown_fields, Rule, Violation};

/// Why a CRD (or one of its schemas or rules) could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The document is not valid YAML.
    #[error("CRD is not valid YAML: {0}")]
    Yaml(String),
    /// The document is not a usable CustomResourceDefinition.
    #[error("not a CustomResourceDefinition: {0}")]
    NotACrd(String),
    /// The requested version is not defined by the CRD.
    #[error("CRD {kind}.{group} has no version {version:?} (available: {available})")]
    UnknownVersion {
        /// `spec.group`.
        group: String,
        /// `spec.names.kind`.
        kind: String,
        /// The version asked for.
        version: String,
        /// The versions the CRD defines, comma-separated.
        available: String,
    },
    /// A schema node uses an unsupported or malformed keyword.
    #[error("schema {path}: {message}")]
    Schema {
        /// Where in the openAPIV3Schema (`.properties.spec.properties.weight`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An `x-kubernetes-validations` rule does not parse with the supported CEL subset.
    #[error("schema {path}: CEL rule `{rule}` does not parse: {source}")]
    Rule {
        /// Where in the openAPIV3Schema.
        path: String,
        /// The rule text.
        rule: String,
        /// The parse error.
        source: cel::ParseError,
    },
}

/// One version of a CustomResourceDefinition, ready to validate objects of that group/version/kind.
#[derive(Debug, Clone)]
pub struct CrdSchema {
    group: String,
    kind: String,
    version: String,
    namespaced: bool,
    schema: Schema,
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |cur, key| cur.get(key))?.as_str()
}

impl CrdSchema {
    /// Loads a CRD from YAML and picks `version`, or the storage version when `None`.
    pub fn from_yaml(yaml: &str, version: Option<&str>) -> Result<Self, SchemaError> {
        let crd: Value =
            serde_saphyr::from_str(yaml).map_err(|e| SchemaError::Yaml(e.to_string()))?;
        Self::from_value(&crd, version)
    }

    /// Like [`CrdSchema::from_yaml`], from an already-parsed CRD object.
    pub fn from_value(crd: &Value, version: Option<&str>) -> Result<Self, SchemaError> {
        if str_at(crd, &["kind"]) != Some("CustomResourceDefinition") {
            return Err(SchemaError::NotACrd(
                "kind is not CustomResourceDefinition".into(),
            ));
        }
        let group = str_at(crd, &["spec", "group"])
            .ok_or_else(|| SchemaError::NotACrd("spec.group is missing".into()))?;
        let kind = str_at(crd, &["spec", "names", "kind"])
            .ok_or_else(|| SchemaError::NotACrd("spec.names.kind is missing".into()))?;
        let namespaced = str_at(crd, &["spec", "scope"]) != Some("Cluster");
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .ok_or_else(|| SchemaError::NotACrd("spec.versions is missing".into()))?;
        let chosen = versions.iter().find(|v| match version {
            Some(want) => str_at(v, &["name"]) == Some(want),
            None => v.get("storage").and_then(Value::as_bool) == Some(true) || versions.len() == 1,
        });
        let Some(chosen) = chosen else {
            let available: Vec<&str> = versions
                .iter()
                .filter_map(|v| str_at(v, &["name"]))
                .collect();
            return Err(SchemaError::UnknownVersion {
                group: group.to_string(),
                kind: kind.to_string(),
                version: version.unwrap_or("<storage>").to_string(),
                available: available.join(", "),
            });
        };
        let version_name = str_at(chosen, &["name"])
            .ok_or_else(|| SchemaError::NotACrd("a version has no name".into()))?;
        let raw = chosen.pointer("/schema/openAPIV3Schema").ok_or_else(|| {
            SchemaError::NotACrd(format!(
                "version {version_name} has no schema.openAPIV3Schema"
            ))
        })?;
        let schema = Schema::parse(raw, "")?;
        Ok(CrdSchema {
            group: group.to_string(),
            kind: kind.to_string(),
            version: version_name.to_string(),
            namespaced,
            schema,
        })
    }

    /// `spec.group`.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// `spec.names.kind`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The selected version name.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `group/version`, as objects carry it in `apiVersion`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    /// Whether the resource is namespaced (`spec.scope: Namespaced`).
    pub fn namespaced(&self) -> bool {
        self.namespaced
    }

    /// The parsed openAPIV3Schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Fills in schema defaults as the API server does before validating and storing.
    pub fn apply_defaults(&self, obj: &mut Value) {
        apply_defaults(&self.schema, obj);
    }

    /// Validates an object as for a create: prunes undeclared fields from a copy (each one is a violation), defaults
    /// it, then checks apiVersion/kind, metadata, the structural schema and the CEL rules (transition rules, which
    /// need `oldSelf`, are skipped).
    pub fn validate(&self, obj: &Value) -> Result<(), Vec<Violation>> {
        self.run(obj, None)
    }

    /// Validates an object as for an update from `old`: like [`CrdSchema::validate`], and transition rules
    /// (`oldSelf`) also run where the old value exists at the same path.
    pub fn validate_update(&self, obj: &Value, old: &Value) -> Result<(), Vec<Violation>> {
        let mut old = old.clone();
        prune_unknown_fields(&self.schema, &mut old);
        self.apply_defaults(&mut old);
        self.run(obj, Some(&old))
    }

    fn run(&self, obj: &Value, old: Option<&Value>) -> Result<(), Vec<Violation>> {
        // As the API server: prune undeclared fields (reporting them), default, then validate.
        let mut defaulted = obj.clone();
        let unknown = prune_unknown_fields(&self.schema, &mut defaulted);
        self.apply_defaults(&mut defaulted);
        let namespaced = self.namespaced;
        let check = move |meta: &Value, out: &mut Vec<Violation>| {
            out.extend(metadata::validate_object_meta(meta, namespaced, "metadata"));
        };
        let mut walker = validate::Walker::new(Some(&check));
        if let Value::Object(map) = &defaulted {
            self.type_meta(map, &mut walker.out);
            if !map.contains_key("metadata") {
                walker.out.push(Violation {
                    path: "metadata.name".into(),
                    rule: Rule::Required,
                    message: "Required value: name or generateName is required".into(),
                });
            }
        }
        walker.out.extend(unknown);
        walker.node(&self.schema, &defaulted, old);
        if walker.out.is_empty() {
            Ok(())
        } else {
            Err(walker.out)
        }
    }

    fn type_meta(&self, map: &serde_json::Map<String, Value>, out: &mut Vec<Violation>) {
        let expected = [
            ("apiVersion", self.api_version()),
            ("kind", self.kind.clone()),
        ];
        for (field, want) in expected {
            match map.get(field) {
                None => out.push(Violation {
                    path: field.into(),
                    rule: Rule::Required,
                    message: "Required value".into(),
                }),
                Some(Value::String(got)) if *got == want => {}
                Some(Value::String(got)) => out.push(Violation {
                    path: field.into(),
                    rule: Rule::TypeMeta,
                    message: format!("Invalid value: {got:?}: must be {want:?} for this schema"),
                }),
                Some(_) => {} // reported by the schema's type check
            }
        }
    }
}
