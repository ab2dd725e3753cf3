//! Provisioner (v1alpha5) → NodePool, and v1beta1 NodePool/NodeClaim → v1
//! (`convert-mapping.md` §1.2, §1.3, §2.1, §2.2, §3.1).
use karpenter_api::common::OPERATORS;
use karpenter_api::labels;
use karpenter_api::labels::normalize_key;
use serde_json::{Map, Value};

use crate::convert::{Options, Target};
use crate::duration;
use crate::kubelet;
use crate::nodeclass;
use crate::util::{join, obj, Ctx};
use crate::warning::ObjectError;

/// A converted NodePool plus what the EC2NodeClass side needs from it.
pub(crate) struct PoolOut {
    /// The NodePool object.
    pub value: Value,
    /// The EC2NodeClass it references.
    pub class_name: String,
    /// Kubelet settings that belong on that EC2NodeClass (v1 target only).
    pub kubelet: Option<Value>,
    /// A class generated from an inline `spec.provider` (its spec).
    pub inline_class: Option<Map<String, Value>>,
}

const PROVISIONER_FIELDS: &[&str] = &[
    "annotations",
    "consolidation",
    "kubeletConfiguration",
    "labels",
    "limits",
    "provider",
    "providerRef",
    "requirements",
    "startupTaints",
    "taints",
    "ttlSecondsAfterEmpty",
    "ttlSecondsUntilExpired",
    "weight",
];

const INSTANCE_TYPE_KEYS: &[&str] = &[
    labels::INSTANCE_TYPE,
    labels::INSTANCE_FAMILY,
    labels::INSTANCE_CATEGORY,
    labels::INSTANCE_GENERATION,
];

/// Append the v1alpha5 AWS defaulting webhook's requirements (§1.3), each only if its key is
/// absent (any operator; legacy keys count after normalisation).
pub fn append_alpha_defaults(requirements: &mut Vec<Value>) {
    let present = |reqs: &Vec<Value>, key: &str| {
        reqs.iter().any(|r| {
            r.get("key")
                .and_then(Value::as_str)
                .is_some_and(|k| normalize_key(k) == key)
        })
    };
    let req = |key: &str, op: &str, values: &[&str]| serde_json::json!({"key": key, "operator": op, "values": values});
    for (key, values) in [
        (labels::OS, ["linux"]),
        (labels::ARCH, ["amd64"]),
        (labels::CAPACITY_TYPE, [labels::CAPACITY_TYPE_ON_DEMAND]),
    ] {
        if !present(requirements, key) {
            requirements.push(req(key, "In", &values));
        }
    }
    if !INSTANCE_TYPE_KEYS.iter().any(|k| present(requirements, k)) {
        requirements.push(req(labels::INSTANCE_CATEGORY, "In", &["c", "m", "r"]));
        requirements.push(req(labels::INSTANCE_GENERATION, "Gt", &["2"]));
    }
}

/// Convert requirements at `path`, dropping keys the target refuses.
fn requirements(
    ctx: &mut Ctx<'_>,
    list: &[Value],
    path: &str,
    allow_min_values: bool,
) -> Result<Vec<Value>, ObjectError> {
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let ipath = format!("{path}[{i}]");
        let Value::Object(m) = item else {
            return Err(ctx.err(ipath, "must be a mapping with key, operator and values"));
        };
        let mut known = vec!["key", "operator", "values"];
        if allow_min_values {
            known.push("minValues");
        }
        ctx.warn_unknown(m, &known, &ipath);
        let key = ctx
            .string(m, "key", &ipath)?
            .ok_or_else(|| ctx.err(join(&ipath, "key"), "required"))?;
        let op = ctx
            .string(m, "operator", &ipath)?
            .ok_or_else(|| ctx.err(join(&ipath, "operator"), "required"))?;
        if !OPERATORS.contains(&op) {
            return Err(ctx.err(
                join(&ipath, "operator"),
                format!("unknown operator `{op}`; expected one of {OPERATORS:?}"),
            ));
        }
        if key == labels::PROVISIONER_NAME || key == labels::NODEPOOL {
            ctx.warn(
                ipath,
                format!(
                    "requirement on {key} dropped: a NodePool's nodes always carry \
                     karpenter.sh/nodepool=<its name> and v1 refuses this key here"
                ),
            );
            continue;
        }
        let mut values = Vec::new();
        for (j, v) in ctx
            .array(m, "values", &ipath)?
            .into_iter()
            .flatten()
            .enumerate()
        {
            match v {
                Value::String(_) => values.push(v.clone()),
                Value::Number(n) => values.push(Value::String(n.to_string())),
                Value::Bool(b) => values.push(Value::String(b.to_string())),
                other => {
                    return Err(ctx.err(
                        format!("{ipath}.values[{j}]"),
                        format!("must be a string, found {other}"),
                    ))
                }
            }
        }
        out.push(Value::Object(obj(vec![
            ("key", Some(Value::from(key))),
            ("operator", Some(Value::from(op))),
            (
                "values",
                (!values.is_empty()).then_some(Value::Array(values)),
            ),
            (
                "minValues",
                if allow_min_values {
                    ctx.uint(m, "minValues", &ipath)?.map(Value::from)
                } else {
                    None
                },
            ),
        ])));
    }
    Ok(out)
}

fn taints(
    ctx: &mut Ctx<'_>,
    spec: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Value>, ObjectError> {
    let Some(list) = ctx.array(spec, key, path)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let ipath = format!("{}[{i}]", join(path, key));
        let Value::Object(m) = t else {
            return Err(ctx.err(ipath, "must be a mapping with key and effect"));
        };
        ctx.warn_unknown(m, &["key", "value", "effect", "timeAdded"], &ipath);
        let k = ctx
            .string(m, "key", &ipath)?
            .ok_or_else(|| ctx.err(join(&ipath, "key"), "required"))?;
        let effect = ctx.string(m, "effect", &ipath)?.ok_or_else(|| {
            ctx.err(
                join(&ipath, "effect"),
                "required: NoSchedule, PreferNoSchedule or NoExecute",
            )
        })?;
        if k == labels::DISRUPTION_TAINT_KEY_V1BETA1 {
            ctx.warn(&ipath, "taint karpenter.sh/disruption is Karpenter's own and was renamed karpenter.sh/disrupted in v1; remove it");
        }
        out.push(Value::Object(obj(vec![
            ("key", Some(Value::from(k))),
            ("value", ctx.string(m, "value", &ipath)?.map(Value::from)),
            ("effect", Some(Value::from(effect))),
            (
                "timeAdded",
                ctx.string(m, "timeAdded", &ipath)?.map(Value::from),
            ),
        ])));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn template_metadata(
    ctx: &mut Ctx<'_>,
    labels: Option<Map<String, Value>>,
    annotations: Option<Map<String, Value>>,
    path: &str,
) -> Option<Value> {
    let labels = labels.map(|mut l| {
        if l.remove(labels::PROVISIONER_NAME).is_some() {
            ctx.warn(join(path, "labels.karpenter.sh/provisioner-name"), "dropped: nodes get karpenter.sh/nodepool=<name> automatically; update pod selectors to karpenter.sh/nodepool");
        }
        l
    });
    let m = obj(vec![
        (
            "labels",
            labels.filter(|l| !l.is_empty()).map(Value::Object),
        ),
        (
            "annotations",
            annotations.filter(|a| !a.is_empty()).map(Value::Object),
        ),
    ]);
    (!m.is_empty()).then_some(Value::Object(m))
}

fn ttl(ctx: &Ctx<'_>, spec: &Map<String, Value>, key: &str) -> Result<Option<String>, ObjectError> {
    match ctx.uint(spec, key, "spec")? {
        Some(secs) if secs > duration::MAX_SECONDS => Err(ctx.err(
            join("spec", key),
            format!(
                "{secs} seconds is longer than Karpenter can hold (a Go duration is at most {} seconds, \
                 about 292 years); use a smaller value",
                duration::MAX_SECONDS
            ),
        )),
        secs => Ok(secs.map(duration::format_seconds)),
    }
}

/// Provisioner (v1alpha5) → NodePool.
pub(crate) fn from_provisioner(
    ctx: &mut Ctx<'_>,
    metadata: Map<String, Value>,
    spec: &Map<String, Value>,
    opts: &Options,
) -> Result<PoolOut, ObjectError> {
    let name = ctx.name.clone();
    ctx.warn_unknown(spec, PROVISIONER_FIELDS, "spec");
    let tmeta = template_metadata(
        ctx,
        ctx.string_map(spec, "labels", "spec")?,
        ctx.string_map(spec, "annotations", "spec")?,
        "spec",
    );
    let mut reqs = requirements(
        ctx,
        ctx.array(spec, "requirements", "spec")?
            .map(Vec::as_slice)
            .unwrap_or_default(),
        "spec.requirements",
        false,
    )?;
    if !opts.ignore_defaults {
        append_alpha_defaults(&mut reqs);
    }
    let taint_list = taints(ctx, spec, "taints", "spec")?;
    let startup = taints(ctx, spec, "startupTaints", "spec")?;

    // Node class: providerRef or inline provider, never both.
    let provider = ctx.object(spec, "provider", "spec")?;
    let provider_ref = ctx.object(spec, "providerRef", "spec")?;
    let (class_name, inline_class) = match (provider, provider_ref) {
        (Some(_), Some(_)) => {
            return Err(ctx.err("spec.provider", "spec.provider and spec.providerRef are mutually exclusive; keep one"))
        }
        (Some(p), None) => (name.clone(), Some(nodeclass::from_alpha(ctx, p, "spec.provider", opts)?)),
        (None, Some(r)) => {
            ctx.warn_unknown(r, &["apiVersion", "kind", "name"], "spec.providerRef");
            let n = ctx
                .string(r, "name", "spec.providerRef")?
                .filter(|n| !n.is_empty())
                .ok_or_else(|| ctx.err("spec.providerRef.name", "required: the AWSNodeTemplate's name"))?;
            if let Some(kind) = ctx.string(r, "kind", "spec.providerRef")? {
                if kind != "AWSNodeTemplate" {
                    return Err(ctx.err("spec.providerRef.kind", format!("`{kind}` is not convertible: only AWSNodeTemplate references are")));
                }
            }
            (n.to_string(), None)
        }
        (None, None) => {
            return Err(ctx.err(
                "spec.providerRef",
                "a Provisioner needs spec.providerRef (or an inline spec.provider) to become a NodePool: \
                 add `providerRef: {name: <AWSNodeTemplate name>}`",
            ))
        }
    };

    let kubelet = match ctx.object(spec, "kubeletConfiguration", "spec")? {
        Some(kc) => kubelet::convert(ctx, kc, "spec.kubeletConfiguration")?,
        None => None,
    };

    // Disruption.
    let consolidation = match ctx.object(spec, "consolidation", "spec")? {
        Some(c) => {
            ctx.warn_unknown(c, &["enabled"], "spec.consolidation");
            ctx.boolean(c, "enabled", "spec.consolidation")?
                .unwrap_or(false)
        }
        None => false,
    };
    let after_empty = ttl(ctx, spec, "ttlSecondsAfterEmpty")?;
    let expire = ttl(ctx, spec, "ttlSecondsUntilExpired")?;
    if consolidation && after_empty.is_some() {
        ctx.warn(
            "spec.ttlSecondsAfterEmpty",
            "ignored: consolidation.enabled also removes empty nodes (v1alpha5 refused both together)",
        );
    }
    let (policy, after) = match (consolidation, &after_empty, opts.target) {
        (true, _, Target::V1) => ("WhenEmptyOrUnderutilized", Some("0s".to_string())),
        (true, _, Target::V1beta1) => ("WhenUnderutilized", None),
        (false, Some(d), _) => ("WhenEmpty", Some(d.clone())),
        (false, None, _) => ("WhenEmpty", Some("Never".to_string())),
    };
    let expire_after = expire.clone().unwrap_or_else(|| "Never".to_string());
    if expire.is_some() && opts.target == Target::V1 {
        ctx.warn(
            "spec.ttlSecondsUntilExpired",
            "now template.spec.expireAfter, and expiry is forceful in v1: PodDisruptionBudgets and \
             karpenter.sh/do-not-disrupt no longer delay it (set spec.template.spec.terminationGracePeriod to bound it)",
        );
    }

    let limits = match ctx.object(spec, "limits", "spec")? {
        Some(l) => {
            ctx.warn_unknown(l, &["resources"], "spec.limits");
            ctx.object(l, "resources", "spec.limits")?
                .filter(|r| !r.is_empty())
                .cloned()
                .map(Value::Object)
        }
        None => None,
    };
    let weight = ctx.uint(spec, "weight", "spec")?.map(Value::from);

    let (template_spec, disruption) = match opts.target {
        Target::V1 => {
            let ncr = class_ref_v1(&class_name);
            let ts = obj(vec![
                ("nodeClassRef", Some(ncr)),
                ("expireAfter", Some(Value::String(expire_after))),
                ("requirements", Some(Value::Array(reqs))),
                ("taints", taint_list),
                ("startupTaints", startup),
            ]);
            let d = obj(vec![
                ("consolidationPolicy", Some(Value::from(policy))),
                ("consolidateAfter", after.map(Value::String)),
            ]);
            (ts, d)
        }
        Target::V1beta1 => {
            let ncr = Value::Object(obj(vec![
                (
                    "apiVersion",
                    Some(Value::from(format!("{}/v1beta1", nodeclass::GROUP))),
                ),
                ("kind", Some(Value::from("EC2NodeClass"))),
                ("name", Some(Value::from(class_name.clone()))),
            ]));
            let ts = obj(vec![
                ("nodeClassRef", Some(ncr)),
                ("requirements", Some(Value::Array(reqs))),
                ("taints", taint_list),
                ("startupTaints", startup),
                ("kubelet", kubelet.clone()),
            ]);
            let d = obj(vec![
                ("consolidationPolicy", Some(Value::from(policy))),
                ("consolidateAfter", after.map(Value::String)),
                ("expireAfter", Some(Value::String(expire_after))),
            ]);
            (ts, d)
        }
    };
    let value = nodepool_object(
        opts.target,
        metadata,
        tmeta,
        template_spec,
        disruption,
        limits,
        weight,
    );
    Ok(PoolOut {
        value,
        class_name,
        kubelet: if opts.target == Target::V1 {
            kubelet
        } else {
            None
        },
        inline_class,
    })
}

fn class_ref_v1(name: &str) -> Value {
    Value::Object(obj(vec![
        ("group", Some(Value::from(nodeclass::GROUP))),
        ("kind", Some(Value::from("EC2NodeClass"))),
        ("name", Some(Value::from(name))),
    ]))
}

fn nodepool_object(
    target: Target,
    metadata: Map<String, Value>,
    template_metadata: Option<Value>,
    template_spec: Map<String, Value>,
    disruption: Map<String, Value>,
    limits: Option<Value>,
    weight: Option<Value>,
) -> Value {
    let template = obj(vec![
        ("metadata", template_metadata),
        ("spec", Some(Value::Object(template_spec))),
    ]);
    Value::Object(obj(vec![
        (
            "apiVersion",
            Some(Value::from(format!("karpenter.sh/{}", target.version()))),
        ),
        ("kind", Some(Value::from("NodePool"))),
        ("metadata", Some(Value::Object(metadata))),
        (
            "spec",
            Some(Value::Object(obj(vec![
                ("template", Some(Value::Object(template))),
                (
                    "disruption",
                    (!disruption.is_empty()).then_some(Value::Object(disruption)),
                ),
                ("limits", limits),
                ("weight", weight),
            ]))),
        ),
    ]))
}

/// v1beta1 `nodeClassRef {apiVersion, kind, name}` → v1 `{group, kind, name}` (§2.1).
fn class_ref_from_v1beta1(
    ctx: &mut Ctx<'_>,
    spec: &Map<String, Value>,
    path: &str,
) -> Result<(String, Value), ObjectError> {
    let r = ctx.object(spec, "nodeClassRef", path)?.ok_or_else(|| {
        ctx.err(
            join(path, "nodeClassRef"),
            "required: {name: <EC2NodeClass name>}",
        )
    })?;
    let rpath = join(path, "nodeClassRef");
    ctx.warn_unknown(r, &["apiVersion", "kind", "name"], &rpath);
    let name = ctx
        .string(r, "name", &rpath)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ctx.err(join(&rpath, "name"), "required"))?
        .to_string();
    let group = ctx
        .string(r, "apiVersion", &rpath)?
        .and_then(|a| a.split('/').next())
        .filter(|g| !g.is_empty())
        .unwrap_or(nodeclass::GROUP)
        .to_string();
    let kind = ctx
        .string(r, "kind", &rpath)?
        .filter(|k| !k.is_empty())
        .unwrap_or("EC2NodeClass")
        .to_string();
    let v = Value::Object(obj(vec![
        ("group", Some(Value::String(group))),
        ("kind", Some(Value::String(kind))),
        ("name", Some(Value::String(name.clone()))),
    ]));
    Ok((name, v))
}

/// The `expireAfter` of a v1beta1 NodePool spec (default `720h`), normalised.
pub(crate) fn v1beta1_expire_after(spec: &Map<String, Value>) -> Option<String> {
    let raw = spec.get("disruption")?.get("expireAfter")?.as_str()?;
    Some(if raw == "Never" {
        raw.to_string()
    } else {
        duration::normalize(raw).unwrap_or_else(|| raw.to_string())
    })
}

/// `Never`, or `raw` as a normalised Go duration; anything else is an error at `field`.
fn duration_or_never(ctx: &Ctx<'_>, raw: &str, field: &str) -> Result<String, ObjectError> {
    if raw == "Never" {
        return Ok(raw.to_string());
    }
    duration::normalize(raw).ok_or_else(|| {
        ctx.err(
            field,
            format!("{}, or Never", duration::invalid_message(raw)),
        )
    })
}

/// NodePool v1beta1 → v1 (§2.1, §3.4).
pub(crate) fn from_v1beta1_nodepool(
    ctx: &mut Ctx<'_>,
    metadata: Map<String, Value>,
    spec: &Map<String, Value>,
) -> Result<PoolOut, ObjectError> {
    ctx.warn_unknown(
        spec,
        &["template", "disruption", "limits", "weight"],
        "spec",
    );
    let template = ctx
        .object(spec, "template", "spec")?
        .ok_or_else(|| ctx.err("spec.template", "required"))?;
    ctx.warn_unknown(template, &["metadata", "spec"], "spec.template");
    let empty = Map::new();
    let tmeta_in = ctx
        .object(template, "metadata", "spec.template")?
        .unwrap_or(&empty);
    ctx.warn_unknown(
        tmeta_in,
        &["labels", "annotations"],
        "spec.template.metadata",
    );
    let tmeta = template_metadata(
        ctx,
        ctx.string_map(tmeta_in, "labels", "spec.template.metadata")?,
        ctx.string_map(tmeta_in, "annotations", "spec.template.metadata")?,
        "spec.template.metadata",
    );
    let tspec = ctx
        .object(template, "spec", "spec.template")?
        .ok_or_else(|| ctx.err("spec.template.spec", "required"))?;
    let p = "spec.template.spec";
    ctx.warn_unknown(
        tspec,
        &[
            "nodeClassRef",
            "requirements",
            "taints",
            "startupTaints",
            "kubelet",
            "resources",
        ],
        p,
    );
    if tspec.get("resources").is_some_and(|r| !r.is_null()) {
        ctx.warn(join(p, "resources"), "dropped: v1 NodePool templates have no resources; Karpenter computes them from the instance type");
    }
    let (class_name, ncr) = class_ref_from_v1beta1(ctx, tspec, p)?;
    let reqs = requirements(
        ctx,
        ctx.array(tspec, "requirements", p)?
            .map(Vec::as_slice)
            .unwrap_or_default(),
        &join(p, "requirements"),
        true,
    )?;
    let taint_list = taints(ctx, tspec, "taints", p)?;
    let startup = taints(ctx, tspec, "startupTaints", p)?;
    let kubelet = match ctx.object(tspec, "kubelet", p)? {
        Some(k) => kubelet::convert(ctx, k, &join(p, "kubelet"))?,
        None => None,
    };

    let d_in = ctx.object(spec, "disruption", "spec")?.unwrap_or(&empty);
    ctx.warn_unknown(
        d_in,
        &[
            "consolidationPolicy",
            "consolidateAfter",
            "expireAfter",
            "budgets",
        ],
        "spec.disruption",
    );
    let expire = ctx.string(d_in, "expireAfter", "spec.disruption")?;
    let expire_after = match expire {
        Some(raw) => duration_or_never(ctx, raw, "spec.disruption.expireAfter")?,
        None => "720h0m0s".to_string(),
    };
    if expire_after != "Never" {
        ctx.warn(
            if expire.is_some() { "spec.disruption.expireAfter" } else { "spec.disruption" },
            format!("expireAfter {expire_after} moves to spec.template.spec.expireAfter and expiry is forceful in v1: PodDisruptionBudgets and karpenter.sh/do-not-disrupt no longer delay it"),
        );
    }
    let policy = ctx
        .string(d_in, "consolidationPolicy", "spec.disruption")?
        .unwrap_or("WhenUnderutilized");
    let (policy, after) = match policy {
        "WhenUnderutilized" => {
            if let Some(a) = ctx.string(d_in, "consolidateAfter", "spec.disruption")? {
                ctx.warn(
                    "spec.disruption.consolidateAfter",
                    format!(
                        "`{a}` replaced by 0s: WhenUnderutilized becomes WhenEmptyOrUnderutilized"
                    ),
                );
            }
            ("WhenEmptyOrUnderutilized", "0s".to_string())
        }
        "WhenEmpty" => {
            let a = ctx
                .string(d_in, "consolidateAfter", "spec.disruption")?
                .ok_or_else(|| {
                    ctx.err(
                        "spec.disruption.consolidateAfter",
                        "required with WhenEmpty (a duration or Never)",
                    )
                })?;
            (
                "WhenEmpty",
                duration_or_never(ctx, a, "spec.disruption.consolidateAfter")?,
            )
        }
        other => {
            return Err(ctx.err(
                "spec.disruption.consolidationPolicy",
                format!("unknown policy `{other}`; expected WhenEmpty or WhenUnderutilized"),
            ))
        }
    };
    let budgets = ctx
        .array(d_in, "budgets", "spec.disruption")?
        .filter(|b| !b.is_empty())
        .cloned()
        .map(Value::Array);
    let template_spec = obj(vec![
        ("nodeClassRef", Some(ncr)),
        ("expireAfter", Some(Value::String(expire_after))),
        ("requirements", Some(Value::Array(reqs))),
        ("taints", taint_list),
        ("startupTaints", startup),
    ]);
    let disruption = obj(vec![
        ("consolidationPolicy", Some(Value::from(policy))),
        ("consolidateAfter", Some(Value::String(after))),
        ("budgets", budgets),
    ]);
    let limits = ctx
        .object(spec, "limits", "spec")?
        .filter(|l| !l.is_empty())
        .cloned()
        .map(Value::Object);
    let weight = ctx.uint(spec, "weight", "spec")?.map(Value::from);
    Ok(PoolOut {
        value: nodepool_object(
            Target::V1,
            metadata,
            tmeta,
            template_spec,
            disruption,
            limits,
            weight,
        ),
        class_name,
        kubelet,
        inline_class: None,
    })
}

/// NodeClaim v1beta1 → v1 (§2.2). `owner_expire_after` is the owning NodePool's expireAfter
/// when that NodePool is in the input.
pub(crate) fn from_v1beta1_nodeclaim(
    ctx: &mut Ctx<'_>,
    metadata: Map<String, Value>,
    spec: &Map<String, Value>,
    owner_expire_after: Option<String>,
) -> Result<Value, ObjectError> {
    let p = "spec";
    ctx.warn_unknown(
        spec,
        &[
            "nodeClassRef",
            "requirements",
            "taints",
            "startupTaints",
            "kubelet",
            "resources",
        ],
        p,
    );
    ctx.warn(
        "kind",
        "NodeClaims are created by Karpenter: apply converted NodeClaims only to restore a backup, \
         and prefer converting their NodePools",
    );
    let (_, ncr) = class_ref_from_v1beta1(ctx, spec, p)?;
    let reqs = requirements(
        ctx,
        ctx.array(spec, "requirements", p)?
            .map(Vec::as_slice)
            .unwrap_or_default(),
        "spec.requirements",
        true,
    )?;
    if spec.get("kubelet").is_some_and(|k| !k.is_null()) {
        ctx.warn(
            "spec.kubelet",
            "dropped: v1 NodeClaims take kubelet settings from their EC2NodeClass",
        );
    }
    let expire = match owner_expire_after {
        Some(e) => e,
        None => {
            ctx.warn(
                "spec.expireAfter",
                "set to the v1 default 720h0m0s: the owning NodePool (label karpenter.sh/nodepool) is not in the input",
            );
            "720h0m0s".to_string()
        }
    };
    let resources = ctx
        .object(spec, "resources", p)?
        .filter(|r| !r.is_empty())
        .cloned()
        .map(Value::Object);
    let out_spec = obj(vec![
        ("nodeClassRef", Some(ncr)),
        ("expireAfter", Some(Value::String(expire))),
        ("requirements", Some(Value::Array(reqs))),
        ("taints", taints(ctx, spec, "taints", p)?),
        ("startupTaints", taints(ctx, spec, "startupTaints", p)?),
        ("resources", resources),
    ]);
    Ok(Value::Object(obj(vec![
        ("apiVersion", Some(Value::from("karpenter.sh/v1"))),
        ("kind", Some(Value::from("NodeClaim"))),
        ("metadata", Some(Value::Object(metadata))),
        ("spec", Some(Value::Object(out_spec))),
    ])))
}

/// Point a converted v1 NodePool at another EC2NodeClass.
pub(crate) fn set_class_name(nodepool: &mut Value, name: &str) {
    if let Some(r) = nodepool
        .pointer_mut("/spec/template/spec/nodeClassRef")
        .and_then(Value::as_object_mut)
    {
        r.insert("name".into(), Value::from(name));
    }
}
