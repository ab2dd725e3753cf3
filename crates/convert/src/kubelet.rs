//! Kubelet settings: v1alpha5 `kubeletConfiguration` / v1beta1 `kubelet` → v1 EC2NodeClass
//! `spec.kubelet`, with the v1 CEL rules checked up front.
use serde_json::{Map, Value};

use crate::duration;
use crate::util::{join, Ctx};
use crate::warning::ObjectError;

const EVICTION_SIGNALS: &[&str] = &[
    "memory.available",
    "nodefs.available",
    "nodefs.inodesFree",
    "imagefs.available",
    "imagefs.inodesFree",
    "pid.available",
];
const RESERVED_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage", "pid"];

/// Fields carried over, in output order.
const FIELDS: &[&str] = &[
    "clusterDNS",
    "maxPods",
    "podsPerCore",
    "systemReserved",
    "kubeReserved",
    "evictionHard",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionMaxPodGracePeriod",
    "imageGCHighThresholdPercent",
    "imageGCLowThresholdPercent",
    "cpuCFSQuota",
];

/// Convert a kubelet block found at `path` of the source object. `containerRuntime` (alpha)
/// is dropped with a warning; unknown fields are dropped with a warning. Returns `None` when
/// nothing is left.
pub(crate) fn convert(
    ctx: &mut Ctx<'_>,
    kc: &Map<String, Value>,
    path: &str,
) -> Result<Option<Value>, ObjectError> {
    let mut out = Map::new();
    for key in kc.keys() {
        if key == "containerRuntime" {
            ctx.warn(
                join(path, key),
                "dropped: Karpenter v1beta1 and later run containerd only; remove the field",
            );
        } else if !FIELDS.contains(&key.as_str()) {
            ctx.warn(
                join(path, key),
                "unknown kubelet field, dropped: Karpenter has no such kubelet setting",
            );
        }
    }
    for &field in FIELDS {
        let Some(value) = kc.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let fpath = join(path, field);
        let converted = match field {
            "clusterDNS" => {
                let list = ctx.array(kc, field, path)?.cloned().unwrap_or_default();
                if let Some(bad) = list.iter().find(|v| !v.is_string()) {
                    return Err(ctx.err(
                        fpath,
                        format!("entries must be IP addresses as strings, found {bad}"),
                    ));
                }
                Value::Array(list)
            }
            "maxPods" | "podsPerCore" | "evictionMaxPodGracePeriod" => {
                Value::from(ctx.uint(kc, field, path)?.unwrap_or_default())
            }
            "imageGCHighThresholdPercent" | "imageGCLowThresholdPercent" => {
                let n = ctx.uint(kc, field, path)?.unwrap_or_default();
                if n > 100 {
                    return Err(ctx.err(fpath, format!("must be 0–100, found {n}")));
                }
                Value::from(n)
            }
            "cpuCFSQuota" => Value::Bool(ctx.boolean(kc, field, path)?.unwrap_or_default()),
            "systemReserved" | "kubeReserved" => {
                let m = quantity_map(ctx, kc, field, path)?;
                if let Some(bad) = m.keys().find(|k| !RESERVED_RESOURCES.contains(&k.as_str())) {
                    return Err(ctx.err(
                        format!("{fpath}.{bad}"),
                        format!("v1 allows only {RESERVED_RESOURCES:?} here; remove `{bad}`"),
                    ));
                }
                Value::Object(m)
            }
            "evictionHard" | "evictionSoft" => {
                let m = quantity_map(ctx, kc, field, path)?;
                check_signals(ctx, &m, &fpath)?;
                Value::Object(m)
            }
            "evictionSoftGracePeriod" => {
                let Some(m) = ctx.object(kc, field, path)? else {
                    continue;
                };
                check_signals(ctx, m, &fpath)?;
                let mut out = Map::new();
                for (k, v) in m {
                    let text = v.as_str().ok_or_else(|| {
                        ctx.err(
                            format!("{fpath}.{k}"),
                            "must be a duration string such as 1m30s",
                        )
                    })?;
                    let norm = duration::normalize(text).ok_or_else(|| {
                        ctx.err(format!("{fpath}.{k}"), duration::invalid_message(text))
                    })?;
                    out.insert(k.clone(), Value::String(norm));
                }
                Value::Object(out)
            }
            _ => value.clone(),
        };
        out.insert(field.to_string(), converted);
    }
    // v1 CEL: high > low; evictionSoft and evictionSoftGracePeriod share their keys.
    if let (Some(high), Some(low)) = (
        out.get("imageGCHighThresholdPercent")
            .and_then(Value::as_u64),
        out.get("imageGCLowThresholdPercent")
            .and_then(Value::as_u64),
    ) {
        if high <= low {
            return Err(ctx.err(
                join(path, "imageGCHighThresholdPercent"),
                format!("must be greater than imageGCLowThresholdPercent ({high} <= {low})"),
            ));
        }
    }
    let soft = key_set(out.get("evictionSoft"));
    let grace = key_set(out.get("evictionSoftGracePeriod"));
    if soft != grace {
        return Err(ctx.err(
            join(path, "evictionSoft"),
            format!(
                "evictionSoft keys {soft:?} and evictionSoftGracePeriod keys {grace:?} must match; \
                 give every soft threshold a grace period"
            ),
        ));
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(Value::Object(out))
    })
}

fn key_set(v: Option<&Value>) -> Vec<String> {
    let mut keys: Vec<String> = v
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

fn check_signals(ctx: &Ctx<'_>, m: &Map<String, Value>, path: &str) -> Result<(), ObjectError> {
    if let Some(bad) = m.keys().find(|k| !EVICTION_SIGNALS.contains(&k.as_str())) {
        return Err(ctx.err(
            format!("{path}.{bad}"),
            format!("v1 allows only the eviction signals {EVICTION_SIGNALS:?}; remove `{bad}`"),
        ));
    }
    Ok(())
}

/// A map of resource quantities; YAML numbers (`pid: 100`) become strings.
fn quantity_map(
    ctx: &Ctx<'_>,
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Map<String, Value>, ObjectError> {
    let Some(m) = ctx.object(obj, key, path)? else {
        return Ok(Map::new());
    };
    let mut out = Map::new();
    for (k, v) in m {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(ctx.err(
                    format!("{}.{k}", join(path, key)),
                    format!("must be a quantity such as 100Mi, found {other}"),
                ))
            }
        };
        out.insert(k.clone(), Value::String(s));
    }
    Ok(out)
}
