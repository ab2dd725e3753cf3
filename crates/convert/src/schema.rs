//! [`SchemaValidator`] backed by the vendored upstream CRDs (`crd-schema`).
use serde_json::Value;

use crate::convert::SchemaValidator;

/// Validates against Karpenter's CRDs: v1 kinds against v1.14.1, v1alpha5/v1alpha1/v1beta1
/// against v0.32.10 (structural schema, CEL rules and metadata rules).
#[derive(Debug, Clone, Copy, Default)]
pub struct CrdValidator;

impl SchemaValidator for CrdValidator {
    fn validate(
        &self,
        api_version: &str,
        kind: &str,
        value: &Value,
    ) -> Result<(), Vec<(String, String)>> {
        match crd_schema::karpenter::validate(api_version, kind, value) {
            Ok(()) => Ok(()),
            Err(crd_schema::karpenter::ValidationError::Invalid { violations, .. }) => {
                Err(violations
                    .into_iter()
                    .map(|v| {
                        let path = if v.path.is_empty() {
                            "<root>".to_string()
                        } else {
                            v.path
                        };
                        (path, v.message)
                    })
                    .collect())
            }
            Err(other) => Err(vec![("apiVersion".to_string(), other.to_string())]),
        }
    }
}
