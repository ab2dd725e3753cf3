//! The saved-limits annotation and the pure down/up transforms of a pool object.
//!
//! A pool is a `karpenter.sh` NodePool (v1, v1beta1) or Provisioner (v1alpha5) held as
//! JSON. Scaling down records the pool's original `spec.limits` (and `spec.replicas` for
//! static NodePools) in [`SAVED_STATE_ANNOTATION`], only if no record exists yet, then sets
//! limits that stop new capacity. Restoring writes the record back exactly and removes it.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::PoolVersion;

/// The annotation that holds the original limits while a pool is scaled to zero.
pub const SAVED_STATE_ANNOTATION: &str = "karpenter.kubectl.io/scale-to-zero-saved-limits";

/// The current format of [`SavedState`].
pub const SAVED_STATE_FORMAT: u32 = 1;

/// What a pool looked like before `scale-to-zero`, as stored in the annotation.
///
/// `limits` is the original `spec.limits` verbatim: `null` means the pool had no limits at
/// all (the field was absent), which is distinct from `{}`. `replicas` is set for static
/// NodePools only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    /// Format version of this record (currently 1).
    pub version: u32,
    /// The original `spec.limits`, `null` when the pool had none.
    pub limits: Value,
    /// The original `spec.replicas` of a static NodePool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
}

/// Errors of the pure transforms; each names the pool and says how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// The annotation exists but cannot be decoded.
    #[error(
        "{kind} {name}: annotation {SAVED_STATE_ANNOTATION} is not readable ({reason}). \
         Fix its value (e.g. {{\"version\":1,\"limits\":{{\"cpu\":\"1000\"}}}}), or restore the \
         pool with `kubectl karpenter scale-to-zero --restore --limits cpu=…,memory=… {name}`, \
         which also removes the annotation; the other pools are not held up by this one ({resource})"
    )]
    Unreadable {
        kind: &'static str,
        resource: &'static str,
        name: String,
        reason: String,
    },
    /// Scaling down a pool that has no record and whose limits (or replicas) are already zero:
    /// recording them would make every later restore put the pool back to zero.
    #[error(
        "{kind} {name}: {what} already zero and there is no scale-to-zero record; recording zero \
         as the original would make every later --restore put it back to zero. Set its real limits \
         first (or run `kubectl karpenter scale-to-zero --restore --limits cpu=…,memory=… {name}`), \
         or pass --force to record zero anyway"
    )]
    ZeroOriginal {
        kind: &'static str,
        name: String,
        what: String,
    },
    /// Restoring from a record that holds zero (written before zero records were refused).
    #[error(
        "{kind} {name}: its scale-to-zero record holds {what}, so restoring it would leave the pool \
         at zero; pass --limits cpu=…,memory=… to restore it to real limits"
    )]
    ZeroRecord {
        kind: &'static str,
        name: String,
        what: String,
    },
    /// `--limits` cannot restore a static NodePool, which `spec.replicas` sizes.
    #[error(
        "{kind} {name}: a static NodePool is sized by spec.replicas, which --limits does not set; \
         restore it with `kubectl patch nodepool {name} --type merge -p '{{\"spec\":{{\"replicas\":N}}}}'`"
    )]
    StaticPoolLimits { kind: &'static str, name: String },
    /// `--limits` that would still leave the pool at zero.
    #[error(
        "{kind} {name}: restoring with --limits still leaves {what} zero; give non-zero limits"
    )]
    ZeroLimits {
        kind: &'static str,
        name: String,
        what: String,
    },
    /// The object is not shaped like a pool (no `spec`, or fields of the wrong type).
    #[error("{kind} {name}: {problem}")]
    Malformed {
        kind: &'static str,
        name: String,
        problem: String,
    },
}

impl SavedState {
    /// Encode as the annotation value (compact JSON, stable key order).
    pub fn encode(&self) -> String {
        // Serializing a struct of JSON values cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decode an annotation value; the error text says what is wrong with it.
    pub fn decode(value: &str) -> Result<Self, String> {
        let state: SavedState =
            serde_json::from_str(value).map_err(|e| format!("invalid JSON record: {e}"))?;
        if state.version != SAVED_STATE_FORMAT {
            return Err(format!(
                "record format version {} is not supported (expected {SAVED_STATE_FORMAT})",
                state.version
            ));
        }
        if !(state.limits.is_null() || state.limits.is_object()) {
            return Err(format!(
                "\"limits\" must be an object or null, found {}",
                state.limits
            ));
        }
        if matches!(state.replicas, Some(r) if r < 0) {
            return Err("\"replicas\" must not be negative".to_string());
        }
        Ok(state)
    }
}

/// The pool fields this command changes, before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// `spec.limits` now (`null` when absent).
    pub current_limits: Value,
    /// `spec.limits` after the change (`null` when absent).
    pub new_limits: Value,
    /// `spec.replicas` now, for static NodePools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<i64>,
    /// `spec.replicas` after the change, for static NodePools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_replicas: Option<i64>,
}

/// The result of applying a transform to a pool object.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformed {
    /// The full object to write back (only meaningful when `changed`).
    pub object: Value,
    /// Whether `object` differs from the input.
    pub changed: bool,
    /// The limits/replicas before and after.
    pub fields: FieldChange,
    /// The record in force after the transform (the saved original state).
    pub saved: Option<SavedState>,
    /// Scale down only: a record already existed, so it was kept as is.
    pub already_recorded: bool,
}

fn pool_name(pool: &Value) -> String {
    pool.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string()
}

/// Read and decode the annotation, if present.
pub fn read_record(pool: &Value, version: PoolVersion) -> Result<Option<SavedState>, RecordError> {
    let Some(raw) = pool
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .and_then(|a| a.get(SAVED_STATE_ANNOTATION))
    else {
        return Ok(None);
    };
    let unreadable = |reason: String| RecordError::Unreadable {
        kind: version.pool_kind(),
        resource: version.pool_resource(),
        name: pool_name(pool),
        reason,
    };
    let text = raw
        .as_str()
        .ok_or_else(|| unreadable("the value is not a string".to_string()))?;
    SavedState::decode(text).map(Some).map_err(unreadable)
}

fn spec(pool: &Value, version: PoolVersion) -> Result<&Map<String, Value>, RecordError> {
    pool.get("spec")
        .and_then(Value::as_object)
        .ok_or_else(|| RecordError::Malformed {
            kind: version.pool_kind(),
            name: pool_name(pool),
            problem: "the object has no spec object".to_string(),
        })
}

/// `spec.limits` (`null` when absent) and `spec.replicas` (static NodePools only).
pub fn current_fields(
    pool: &Value,
    version: PoolVersion,
) -> Result<(Value, Option<i64>), RecordError> {
    let spec = spec(pool, version)?;
    let limits = spec.get("limits").cloned().unwrap_or(Value::Null);
    if !(limits.is_null() || limits.is_object()) {
        return Err(RecordError::Malformed {
            kind: version.pool_kind(),
            name: pool_name(pool),
            problem: format!("spec.limits must be an object, found {limits}"),
        });
    }
    let replicas = match spec.get("replicas") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| RecordError::Malformed {
            kind: version.pool_kind(),
            name: pool_name(pool),
            problem: format!("spec.replicas must be an integer, found {v}"),
        })?),
    };
    Ok((limits, replicas.filter(|_| version.supports_replicas())))
}

/// The limits that stop new capacity: cpu and memory set to "0", other entries kept.
///
/// NodePools carry the resource list in `spec.limits`; Provisioners in `spec.limits.resources`.
pub fn zero_limits(current: &Value, version: PoolVersion) -> Value {
    let zero = |list: Option<&Value>| -> Value {
        let mut map = list.and_then(Value::as_object).cloned().unwrap_or_default();
        map.insert("cpu".to_string(), Value::String("0".to_string()));
        map.insert("memory".to_string(), Value::String("0".to_string()));
        Value::Object(map)
    };
    match version {
        PoolVersion::V1 | PoolVersion::V1beta1 => zero(Some(current)),
        PoolVersion::V1alpha5 => {
            let mut limits = current.as_object().cloned().unwrap_or_default();
            let resources = zero(limits.get("resources"));
            limits.insert("resources".to_string(), resources);
            Value::Object(limits)
        }
    }
}

fn set_limits(object: &mut Value, limits: &Value) {
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        if limits.is_null() {
            spec.remove("limits");
        } else {
            spec.insert("limits".to_string(), limits.clone());
        }
    }
}

fn set_replicas(object: &mut Value, replicas: Option<i64>) {
    if let (Some(n), Some(spec)) = (
        replicas,
        object.get_mut("spec").and_then(Value::as_object_mut),
    ) {
        spec.insert("replicas".to_string(), Value::from(n));
    }
}

fn set_annotation(object: &mut Value, value: Option<String>) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    match value {
        Some(v) => {
            let annotations = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if !annotations.is_object() {
                *annotations = Value::Object(Map::new());
            }
            if let Some(a) = annotations.as_object_mut() {
                a.insert(SAVED_STATE_ANNOTATION.to_string(), Value::String(v));
            }
        }
        None => {
            let now_empty = match meta.get_mut("annotations").and_then(Value::as_object_mut) {
                Some(a) => {
                    a.remove(SAVED_STATE_ANNOTATION);
                    a.is_empty()
                }
                None => false,
            };
            if now_empty {
                meta.remove("annotations");
            }
        }
    }
}

/// The resources whose zero limit stops a pool launching anything: every node has them.
const CAPACITY_KEYS: [&str; 4] = ["cpu", "memory", "pods", "nodes"];

/// The resource list inside `spec.limits` (`spec.limits.resources` for Provisioners).
fn resource_list(limits: &Value, version: PoolVersion) -> Option<&Map<String, Value>> {
    match version {
        PoolVersion::V1 | PoolVersion::V1beta1 => limits.as_object(),
        PoolVersion::V1alpha5 => limits.get("resources").and_then(Value::as_object),
    }
}

/// What makes these limits (or replicas) zero, e.g. `replicas 0` or `limits cpu=0,memory=0`:
/// `spec.replicas: 0`, or a zero limit on cpu, memory, pods or nodes (no node fits under it).
/// `None` when the pool can launch capacity.
pub fn zero_state(limits: &Value, replicas: Option<i64>, version: PoolVersion) -> Option<String> {
    if let Some(r) = replicas {
        return (r == 0).then(|| "replicas 0".to_string());
    }
    let list = resource_list(limits, version)?;
    let zero: Vec<String> = CAPACITY_KEYS
        .iter()
        .filter_map(|k| {
            let v = list.get(*k)?;
            let text = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            (karpenter_scheduling::resources::parse_quantity_milli(&text).ok()? == 0)
                .then(|| format!("{k}={text}"))
        })
        .collect();
    (!zero.is_empty()).then(|| format!("limits {}", zero.join(",")))
}

/// Parse `--limits cpu=1000,memory=1000Gi` into a resource list; every value must be a
/// non-negative quantity.
pub fn parse_limits(text: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .ok_or_else(|| {
                format!("{part:?} is not NAME=QUANTITY (e.g. cpu=1000,memory=1000Gi)")
            })?;
        karpenter_scheduling::resources::parse_resource(k, v).map_err(|e| format!("{k}: {e}"))?;
        out.insert(k.to_string(), Value::String(v.to_string()));
    }
    if out.is_empty() {
        return Err("no limits given (e.g. --limits cpu=1000,memory=1000Gi)".to_string());
    }
    Ok(out)
}

/// [`scale_down`], refusing to record zero limits or `replicas: 0` as the original unless
/// `allow_zero` (`--force`).
pub fn scale_down_checked(
    pool: &Value,
    version: PoolVersion,
    allow_zero: bool,
) -> Result<Transformed, RecordError> {
    let t = scale_down(pool, version)?;
    if !t.already_recorded && !allow_zero {
        if let Some(what) = zero_state(&t.fields.current_limits, t.fields.current_replicas, version)
        {
            return Err(RecordError::ZeroOriginal {
                kind: version.pool_kind(),
                name: pool_name(pool),
                what,
            });
        }
    }
    Ok(t)
}

/// How a pool is restored.
#[derive(Debug, Clone, PartialEq)]
pub enum Restore {
    /// From its record.
    FromRecord(Transformed),
    /// From `--limits`, because it has no usable record.
    FromLimits(Transformed),
    /// No record and no `--limits`: left alone.
    NoRecord,
}

/// Restore a pool from its record or, when it has no usable record (none, unreadable, or one
/// holding zero), from `fallback` (`--limits`): the given entries replace those of the current
/// resource list and any record is removed.
pub fn restore(
    pool: &Value,
    version: PoolVersion,
    fallback: Option<&Map<String, Value>>,
) -> Result<Restore, RecordError> {
    let kind = version.pool_kind();
    match (read_record(pool, version), fallback) {
        (Ok(Some(saved)), fallback) => match zero_state(&saved.limits, saved.replicas, version) {
            None => Ok(scale_up(pool, version)?.map_or(Restore::NoRecord, Restore::FromRecord)),
            Some(what) => match fallback {
                Some(f) => restore_from_limits(pool, version, f),
                None => Err(RecordError::ZeroRecord {
                    kind,
                    name: pool_name(pool),
                    what,
                }),
            },
        },
        (Ok(None), None) => Ok(Restore::NoRecord),
        (Err(e), None) => Err(e),
        (Ok(None) | Err(_), Some(f)) => restore_from_limits(pool, version, f),
    }
}

fn restore_from_limits(
    pool: &Value,
    version: PoolVersion,
    given: &Map<String, Value>,
) -> Result<Restore, RecordError> {
    let kind = version.pool_kind();
    let (limits, replicas) = current_fields(pool, version)?;
    if replicas.is_some() {
        return Err(RecordError::StaticPoolLimits {
            kind,
            name: pool_name(pool),
        });
    }
    let merge = |list: Option<&Value>| -> Value {
        let mut map = list.and_then(Value::as_object).cloned().unwrap_or_default();
        map.extend(given.clone());
        Value::Object(map)
    };
    let new_limits = match version {
        PoolVersion::V1 | PoolVersion::V1beta1 => merge(Some(&limits)),
        PoolVersion::V1alpha5 => {
            let mut l = limits.as_object().cloned().unwrap_or_default();
            let resources = merge(l.get("resources"));
            l.insert("resources".to_string(), resources);
            Value::Object(l)
        }
    };
    if let Some(what) = zero_state(&new_limits, None, version) {
        return Err(RecordError::ZeroLimits {
            kind,
            name: pool_name(pool),
            what,
        });
    }
    let mut object = pool.clone();
    set_limits(&mut object, &new_limits);
    set_annotation(&mut object, None);
    Ok(Restore::FromLimits(Transformed {
        changed: object != *pool,
        object,
        fields: FieldChange {
            current_limits: limits,
            new_limits,
            current_replicas: None,
            new_replicas: None,
        },
        saved: None,
        already_recorded: false,
    }))
}

/// Scale a pool down: record its original state unless already recorded, then set limits
/// that stop new capacity (or `spec.replicas: 0` for a static NodePool).
pub fn scale_down(pool: &Value, version: PoolVersion) -> Result<Transformed, RecordError> {
    let existing = read_record(pool, version)?;
    let (limits, replicas) = current_fields(pool, version)?;
    let already_recorded = existing.is_some();
    let saved = existing.unwrap_or_else(|| SavedState {
        version: SAVED_STATE_FORMAT,
        limits: limits.clone(),
        replicas,
    });
    let mut object = pool.clone();
    let (new_limits, new_replicas) = if replicas.is_some() {
        // Static pools: only replicas drive capacity (their limits may hold `nodes` only).
        (limits.clone(), Some(0))
    } else {
        (zero_limits(&limits, version), None)
    };
    set_limits(&mut object, &new_limits);
    set_replicas(&mut object, new_replicas);
    if !already_recorded {
        set_annotation(&mut object, Some(saved.encode()));
    }
    Ok(Transformed {
        changed: object != *pool,
        object,
        fields: FieldChange {
            current_limits: limits,
            new_limits,
            current_replicas: replicas,
            new_replicas,
        },
        saved: Some(saved),
        already_recorded,
    })
}

/// Restore a pool from its record and remove the record. `Ok(None)` when there is no record.
pub fn scale_up(pool: &Value, version: PoolVersion) -> Result<Option<Transformed>, RecordError> {
    let Some(saved) = read_record(pool, version)? else {
        return Ok(None);
    };
    let (limits, replicas) = current_fields(pool, version)?;
    let mut object = pool.clone();
    set_limits(&mut object, &saved.limits);
    let new_replicas = if version.supports_replicas() {
        saved.replicas
    } else {
        None
    };
    set_replicas(&mut object, new_replicas);
    set_annotation(&mut object, None);
    Ok(Some(Transformed {
        changed: object != *pool,
        object,
        fields: FieldChange {
            current_limits: limits,
            new_limits: saved.limits.clone(),
            current_replicas: replicas,
            new_replicas: new_replicas.or(replicas),
        },
        saved: Some(saved),
        already_recorded: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn nodepool(limits: Option<Value>, replicas: Option<i64>) -> Value {
        let mut spec = json!({"template": {"spec": {"requirements": []}}});
        if let Some(l) = limits {
            spec["limits"] = l;
        }
        if let Some(r) = replicas {
            spec["replicas"] = json!(r);
        }
        json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
               "metadata": {"name": "general", "resourceVersion": "7"}, "spec": spec})
    }

    fn annotation(pool: &Value) -> Option<&str> {
        pool.pointer("/metadata/annotations")?
            .get(SAVED_STATE_ANNOTATION)?
            .as_str()
    }

    #[test]
    fn down_records_limits_and_zeroes_cpu_memory_keeping_other_entries() {
        let pool = nodepool(Some(json!({"cpu": "1000", "nvidia.com/gpu": "8"})), None);
        let t = scale_down(&pool, PoolVersion::V1).unwrap();
        assert!(t.changed && !t.already_recorded);
        assert_eq!(
            t.object["spec"]["limits"],
            json!({"cpu": "0", "nvidia.com/gpu": "8", "memory": "0"})
        );
        let saved = SavedState::decode(annotation(&t.object).unwrap()).unwrap();
        assert_eq!(saved.limits, json!({"cpu": "1000", "nvidia.com/gpu": "8"}));
        assert_eq!(saved.replicas, None);
    }

    #[test]
    fn absent_limits_are_recorded_as_null_and_empty_limits_as_empty_object() {
        let none = scale_down(&nodepool(None, None), PoolVersion::V1).unwrap();
        assert_eq!(
            annotation(&none.object).unwrap(),
            r#"{"version":1,"limits":null}"#
        );
        let empty = scale_down(&nodepool(Some(json!({})), None), PoolVersion::V1).unwrap();
        assert_eq!(
            annotation(&empty.object).unwrap(),
            r#"{"version":1,"limits":{}}"#
        );
        let up_none = scale_up(&none.object, PoolVersion::V1).unwrap().unwrap();
        assert!(up_none.object["spec"].get("limits").is_none());
        let up_empty = scale_up(&empty.object, PoolVersion::V1).unwrap().unwrap();
        assert_eq!(up_empty.object["spec"]["limits"], json!({}));
    }

    #[test]
    fn second_down_keeps_the_first_record() {
        let pool = nodepool(Some(json!({"cpu": "64"})), None);
        let once = scale_down(&pool, PoolVersion::V1).unwrap();
        let twice = scale_down(&once.object, PoolVersion::V1).unwrap();
        assert!(twice.already_recorded);
        assert!(!twice.changed);
        assert_eq!(
            SavedState::decode(annotation(&twice.object).unwrap())
                .unwrap()
                .limits,
            json!({"cpu": "64"})
        );
    }

    #[test]
    fn static_pool_saves_and_restores_replicas_and_leaves_limits() {
        let pool = nodepool(Some(json!({"nodes": "10"})), Some(4));
        let down = scale_down(&pool, PoolVersion::V1).unwrap();
        assert_eq!(down.object["spec"]["replicas"], json!(0));
        assert_eq!(down.object["spec"]["limits"], json!({"nodes": "10"}));
        let up = scale_up(&down.object, PoolVersion::V1).unwrap().unwrap();
        assert_eq!(up.object, pool);
    }

    #[test]
    fn provisioner_limits_live_under_resources() {
        let p = json!({"apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner",
            "metadata": {"name": "default"},
            "spec": {"limits": {"resources": {"cpu": "100"}}, "replicas": 3}});
        let down = scale_down(&p, PoolVersion::V1alpha5).unwrap();
        assert_eq!(
            down.object["spec"]["limits"],
            json!({"resources": {"cpu": "0", "memory": "0"}})
        );
        // `replicas` is not a Provisioner field: never treated as a static pool.
        assert_eq!(down.fields.current_replicas, None);
        let up = scale_up(&down.object, PoolVersion::V1alpha5)
            .unwrap()
            .unwrap();
        assert_eq!(up.object, p);
    }

    #[test]
    fn up_without_record_is_none_and_unreadable_record_names_the_pool() {
        let pool = nodepool(Some(json!({"cpu": "1"})), None);
        assert_eq!(scale_up(&pool, PoolVersion::V1).unwrap(), None);
        let mut bad = pool.clone();
        bad["metadata"]["annotations"] = json!({SAVED_STATE_ANNOTATION: "cpu=1"});
        let err = scale_up(&bad, PoolVersion::V1).unwrap_err().to_string();
        assert!(err.contains("NodePool general"), "{err}");
        assert!(err.contains("not readable"), "{err}");
        assert!(scale_down(&bad, PoolVersion::V1).is_err());
        bad["metadata"]["annotations"] =
            json!({SAVED_STATE_ANNOTATION: r#"{"version":2,"limits":{}}"#});
        let err = scale_up(&bad, PoolVersion::V1).unwrap_err().to_string();
        assert!(err.contains("version 2"), "{err}");
        bad["metadata"]["annotations"] =
            json!({SAVED_STATE_ANNOTATION: r#"{"version":1,"limits":"1000"}"#});
        assert!(scale_up(&bad, PoolVersion::V1).is_err());
    }

    #[test]
    fn up_removes_only_our_annotation() {
        let mut pool = nodepool(None, None);
        pool["metadata"]["annotations"] = json!({"team": "data"});
        let down = scale_down(&pool, PoolVersion::V1).unwrap();
        let up = scale_up(&down.object, PoolVersion::V1).unwrap().unwrap();
        assert_eq!(up.object, pool);
    }

    #[test]
    fn pool_without_spec_is_malformed() {
        let bad = json!({"metadata": {"name": "x"}});
        let err = scale_down(&bad, PoolVersion::V1beta1).unwrap_err();
        assert!(matches!(err, RecordError::Malformed { .. }));
    }

    fn quantity() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0u32..5000).prop_map(|n| json!(n.to_string())),
            (1u32..512).prop_map(|n| json!(format!("{n}Gi"))),
        ]
    }

    fn limits() -> impl Strategy<Value = Option<Value>> {
        let keys =
            prop::sample::subsequence(vec!["cpu", "memory", "nodes", "nvidia.com/gpu"], 0..=4);
        prop_oneof![
            Just(None),
            (keys, prop::collection::vec(quantity(), 4)).prop_map(|(keys, qs)| {
                Some(Value::Object(
                    keys.into_iter()
                        .zip(qs)
                        .map(|(k, q)| (k.to_string(), q))
                        .collect(),
                ))
            }),
        ]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Down,
        Up,
        /// Another writer changes the live limits while the pool is down.
        Edit(Value),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Down),
            3 => Just(Op::Up),
            1 => quantity().prop_map(|q| Op::Edit(json!({"cpu": q}))),
        ]
    }

    fn version() -> impl Strategy<Value = PoolVersion> {
        prop_oneof![
            Just(PoolVersion::V1),
            Just(PoolVersion::V1beta1),
            Just(PoolVersion::V1alpha5)
        ]
    }

    proptest! {
        #[test]
        fn any_down_up_sequence_restores_the_original_after_the_final_up(
            version in version(),
            limits in limits(),
            replicas in prop::option::of(0i64..20),
            ops in prop::collection::vec(op(), 0..12),
        ) {
            let replicas = replicas.filter(|_| version.supports_replicas());
            let limits = match version {
                PoolVersion::V1alpha5 => limits.map(|l| json!({"resources": l})),
                _ => limits,
            };
            let original = nodepool(limits, replicas);
            let mut pool = original.clone();
            let mut down = false;
            for op in ops {
                match op {
                    Op::Down => {
                        pool = scale_down(&pool, version).unwrap().object;
                        down = true;
                        let saved = read_record(&pool, version).unwrap().unwrap();
                        prop_assert_eq!(&saved.limits, &original["spec"].get("limits").cloned().unwrap_or(Value::Null));
                        prop_assert_eq!(saved.replicas, replicas);
                        if replicas.is_some() {
                            prop_assert_eq!(&pool["spec"]["replicas"], &json!(0));
                        }
                    }
                    Op::Up => {
                        let was_recorded = read_record(&pool, version).unwrap().is_some();
                        prop_assert_eq!(was_recorded, down);
                        if let Some(t) = scale_up(&pool, version).unwrap() {
                            pool = t.object;
                        }
                        down = false;
                    }
                    Op::Edit(l) if down => set_limits(&mut pool, &l),
                    Op::Edit(_) => {}
                }
            }
            pool = match scale_up(&pool, version).unwrap() {
                Some(t) => t.object,
                None => pool,
            };
            prop_assert_eq!(pool, original);
        }

        #[test]
        fn records_round_trip(limits in limits(), replicas in prop::option::of(0i64..100)) {
            let state = SavedState { version: 1, limits: limits.unwrap_or(Value::Null), replicas };
            prop_assert_eq!(SavedState::decode(&state.encode()).unwrap(), state);
        }
    }

    #[test]
    fn zero_limits_or_replicas_are_not_recorded_as_the_original_unless_forced() {
        for (version, limits, replicas, what) in [
            (
                PoolVersion::V1,
                Some(json!({"cpu": "0", "memory": "0"})),
                None,
                "limits cpu=0,memory=0",
            ),
            (
                PoolVersion::V1,
                Some(json!({"cpu": "0m", "memory": "100Gi"})),
                None,
                "limits cpu=0m",
            ),
            (
                PoolVersion::V1beta1,
                Some(json!({"memory": "0Gi"})),
                None,
                "limits memory=0Gi",
            ),
            (
                PoolVersion::V1,
                Some(json!({"nodes": "0"})),
                Some(3),
                "replicas",
            ),
            (PoolVersion::V1, None, Some(0), "replicas 0"),
            (
                PoolVersion::V1alpha5,
                Some(json!({"resources": {"cpu": 0, "memory": "1Gi"}})),
                None,
                "limits cpu=0",
            ),
        ] {
            let pool = nodepool(limits.clone(), replicas);
            let refused = scale_down_checked(&pool, version, false);
            if what == "replicas" {
                // A static pool with replicas 3 can launch: its `nodes` limit is not the driver.
                assert!(refused.is_ok(), "{refused:?}");
                continue;
            }
            let e = refused.unwrap_err().to_string();
            assert!(
                e.contains("NodePool general") || e.contains("Provisioner general"),
                "{e}"
            );
            assert!(e.contains(what) && e.contains("--force"), "{what}: {e}");
            assert!(e.contains("--restore --limits"), "{e}");
            let forced = scale_down_checked(&pool, version, true).unwrap();
            assert_eq!(forced.saved.unwrap().limits, limits.unwrap_or(Value::Null));
        }
        // A pool with real limits, or one already recorded, is scaled down as before.
        let real = nodepool(Some(json!({"cpu": "100", "extended/x": "0"})), None);
        let down = scale_down_checked(&real, PoolVersion::V1, false).unwrap();
        assert!(
            scale_down_checked(&down.object, PoolVersion::V1, false)
                .unwrap()
                .already_recorded
        );
    }

    #[test]
    fn restore_uses_the_record_else_the_given_limits() {
        let given = parse_limits("cpu=1000, memory=1000Gi").unwrap();
        assert_eq!(
            given,
            json!({"cpu": "1000", "memory": "1000Gi"})
                .as_object()
                .unwrap()
                .clone()
        );
        for bad in ["", "cpu", "cpu=", "=1", "cpu=-1", "memory=lots"] {
            assert!(parse_limits(bad).is_err(), "{bad:?}");
        }
        let v1 = PoolVersion::V1;
        // No record: --limits replaces the zeroed entries and keeps the others.
        let zeroed = nodepool(
            Some(json!({"cpu": "0", "memory": "0", "nvidia.com/gpu": "4"})),
            None,
        );
        assert_eq!(restore(&zeroed, v1, None).unwrap(), Restore::NoRecord);
        let Restore::FromLimits(t) = restore(&zeroed, v1, Some(&given)).unwrap() else {
            panic!("not from limits")
        };
        assert_eq!(
            t.object["spec"]["limits"],
            json!({"cpu": "1000", "memory": "1000Gi", "nvidia.com/gpu": "4"})
        );
        // An unreadable record: an error without --limits, removed with them.
        let mut broken = zeroed.clone();
        broken["metadata"]["annotations"] =
            json!({SAVED_STATE_ANNOTATION: "cpu=100", "keep": "me"});
        assert!(matches!(
            restore(&broken, v1, None),
            Err(RecordError::Unreadable { .. })
        ));
        let Restore::FromLimits(t) = restore(&broken, v1, Some(&given)).unwrap() else {
            panic!("not from limits")
        };
        assert_eq!(t.object["metadata"]["annotations"], json!({"keep": "me"}));
        // A zero record (written before they were refused) needs --limits.
        let zero_record = scale_down_checked(&zeroed, v1, true).unwrap().object;
        let e = restore(&zero_record, v1, None).unwrap_err().to_string();
        assert!(
            e.contains("record holds limits cpu=0") && e.contains("--limits"),
            "{e}"
        );
        assert!(matches!(
            restore(&zero_record, v1, Some(&given)).unwrap(),
            Restore::FromLimits(_)
        ));
        // A usable record wins over --limits.
        let down = scale_down(&nodepool(Some(json!({"cpu": "64"})), None), v1)
            .unwrap()
            .object;
        let Restore::FromRecord(t) = restore(&down, v1, Some(&given)).unwrap() else {
            panic!("not from the record")
        };
        assert_eq!(t.object["spec"]["limits"], json!({"cpu": "64"}));
        // --limits that leave a zero, and static pools, are refused.
        let only_cpu = parse_limits("cpu=10").unwrap();
        let e = restore(&zeroed, v1, Some(&only_cpu))
            .unwrap_err()
            .to_string();
        assert!(e.contains("memory=0"), "{e}");
        let e = restore(&nodepool(None, Some(0)), v1, Some(&given))
            .unwrap_err()
            .to_string();
        assert!(e.contains("spec.replicas"), "{e}");
        // Provisioners keep their list under limits.resources.
        let prov = nodepool(
            Some(json!({"resources": {"cpu": "0", "memory": "0"}})),
            None,
        );
        let Restore::FromLimits(t) = restore(&prov, PoolVersion::V1alpha5, Some(&given)).unwrap()
        else {
            panic!("not from limits")
        };
        assert_eq!(
            t.object["spec"]["limits"],
            json!({"resources": {"cpu": "1000", "memory": "1000Gi"}})
        );
    }

    mod decode_props {
        use super::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                "[a-z0-9]{0,6}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::btree_map("[a-z]{1,8}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// Any annotation text: no panic; what decodes is a well-formed record.
            #[test]
            fn any_text_decodes_to_a_valid_record_or_an_error(s in "\\PC{0,60}") {
                if let Ok(state) = SavedState::decode(&s) {
                    prop_assert_eq!(state.version, SAVED_STATE_FORMAT);
                    prop_assert!(state.limits.is_null() || state.limits.is_object());
                    prop_assert!(state.replicas.is_none_or(|r| r >= 0));
                }
            }

            /// Records built from arbitrary JSON: accepted exactly when version 1, limits an
            /// object or null and replicas a non-negative integer (or absent); an error says why.
            #[test]
            fn arbitrary_records_are_checked_field_by_field(
                version in prop_oneof![Just(json!(1)), json_value()],
                limits in prop_oneof![json_value(), Just(json!({"cpu": "10"}))],
                replicas in prop::option::of(prop_oneof![(-5i64..5).prop_map(Value::from), json_value()]),
            ) {
                let mut record = json!({"version": version, "limits": limits});
                if let Some(r) = &replicas {
                    record["replicas"] = r.clone();
                }
                let valid = version == json!(1)
                    && (limits.is_null() || limits.is_object())
                    && replicas.as_ref().is_none_or(|r| r.is_null() || r.as_i64().is_some_and(|n| n >= 0));
                match SavedState::decode(&record.to_string()) {
                    Ok(_) => prop_assert!(valid, "accepted {record}"),
                    Err(e) => {
                        prop_assert!(!valid, "refused {record}: {e}");
                        prop_assert!(!e.is_empty());
                    }
                }
            }
        }
    }
}
