//! Custom resources' structural schemas on HTTP writes: defaulting, then OpenAPI and CEL validation against the
//! served version's upstream Karpenter CRD, 422 Invalid on violations (apiextensions-apiserver's
//! `pkg/apiserver/customresource_handler.go` and `pkg/registry/customresource/validator.go`).

use super::{meta_str, Store};
use crate::resources::ResourceDef;
use crate::status::ApiError;
use serde_json::{json, Value};

impl Store {
    /// With schema validation on and an HTTP request in flight: defaults `obj` and validates it
    /// (as the served version) against the embedded upstream Karpenter CRD; 422 on violations.
    pub(super) fn check_schema(
        &self,
        def: &ResourceDef,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let Some(version) = self.request_version.as_deref() else {
            return Ok(());
        };
        if !self.validate_schemas || !def.custom {
            return Ok(());
        }
        let api_version = def.api_version(version);
        let Ok(schema) = crd_schema::karpenter::schema(&api_version, &def.kind) else {
            return Ok(());
        };
        let stored_av = obj.get("apiVersion").cloned();
        obj["apiVersion"] = json!(api_version);
        obj["kind"] = json!(def.kind);
        schema.apply_defaults(obj);
        let result = match old {
            Some(o) => {
                let mut o = o.clone();
                o["apiVersion"] = json!(api_version);
                schema.validate_update(obj, &o)
            }
            None => schema.validate(obj),
        };
        if let Some(av) = stored_av {
            obj["apiVersion"] = av;
        }
        result.map_err(|violations| {
            let name = meta_str(obj, "name").unwrap_or_default().to_string();
            let causes = violations
                .into_iter()
                .map(|v| (v.path.clone(), v.message.clone()))
                .collect();
            ApiError::invalid(&def.kind, &name, causes)
        })
    }
}
