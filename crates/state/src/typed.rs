//! Untyped documents (manifests, dynamic list results) → typed objects, with the path of the
//! first bad field in the error.
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Error;

/// Deserialize `doc` as `T`; `what` names the type in errors ("not a valid Pod").
pub fn from_value<T: DeserializeOwned>(doc: Value, what: &str) -> Result<T, Error> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            Error::new(format!("not a valid {what}: {inner}"))
        } else {
            Error::new(format!("not a valid {what}: {path}: {inner}"))
        }
    })
}
