//! AWSNodeTemplate (v1alpha1), inline `spec.provider` and EC2NodeClass (v1beta1) →
//! EC2NodeClass `karpenter.k8s.aws/v1` (or `v1beta1`), per `convert-mapping.md` §1.5, §2.3, §3.2.
use std::collections::BTreeMap;

use karpenter_api::labels;
use serde_json::{Map, Value};

use crate::convert::{Options, Target};
use crate::selector::{self, SelectorKind};
use crate::util::{join, obj, Ctx};
use crate::warning::ObjectError;

/// API group of EC2NodeClass.
pub(crate) const GROUP: &str = "karpenter.k8s.aws";
/// The placeholder karpenter-convert wrote for `role`.
pub(crate) const ROLE_PLACEHOLDER: &str = "$KARPENTER_NODE_ROLE";
const MAX_TERMS: usize = 30;

const ALPHA_FIELDS: &[&str] = &[
    "amiFamily",
    "amiSelector",
    "blockDeviceMappings",
    "context",
    "detailedMonitoring",
    "instanceProfile",
    "launchTemplate",
    "metadataOptions",
    "securityGroupSelector",
    "subnetSelector",
    "tags",
    "userData",
];

const V1BETA1_FIELDS: &[&str] = &[
    "amiFamily",
    "amiSelectorTerms",
    "associatePublicIPAddress",
    "blockDeviceMappings",
    "context",
    "detailedMonitoring",
    "instanceProfile",
    "instanceStorePolicy",
    "metadataOptions",
    "role",
    "securityGroupSelectorTerms",
    "subnetSelectorTerms",
    "tags",
    "userData",
];

const ALIAS_FAMILIES: &[&str] = &[
    "AL2",
    "AL2023",
    "Bottlerocket",
    "Windows2019",
    "Windows2022",
];
const ALPHA_FAMILIES: &[&str] = &[
    "AL2",
    "AL2023",
    "Bottlerocket",
    "Ubuntu",
    "Windows2019",
    "Windows2022",
    "Custom",
];

/// Build the EC2NodeClass object around a converted spec.
pub(crate) fn object(
    target: Target,
    metadata: Map<String, Value>,
    spec: Map<String, Value>,
) -> Value {
    Value::Object(obj(vec![
        (
            "apiVersion",
            Some(Value::String(format!("{GROUP}/{}", target.version()))),
        ),
        ("kind", Some(Value::String("EC2NodeClass".into()))),
        ("metadata", Some(Value::Object(metadata))),
        ("spec", Some(Value::Object(spec))),
    ]))
}

/// Convert an AWSNodeTemplate spec (or an inline Provisioner `spec.provider`, with `path`
/// `spec.provider`) to an EC2NodeClass spec. `alias_version` is the AMI alias version (`latest`).
pub(crate) fn from_alpha(
    ctx: &mut Ctx<'_>,
    spec: &Map<String, Value>,
    path: &str,
    opts: &Options,
) -> Result<Map<String, Value>, ObjectError> {
    let mut known: Vec<&str> = ALPHA_FIELDS.to_vec();
    if path.ends_with("provider") {
        known.extend(["apiVersion", "kind"]);
    }
    ctx.warn_unknown(spec, &known, path);
    if let Some(lt) = ctx.string(spec, "launchTemplate", path)? {
        return Err(ctx.err(
            join(path, "launchTemplate"),
            format!(
                "cannot convert: unmanaged launch templates (`{lt}`) were removed in v1beta1. \
                 Move its settings into the EC2NodeClass (amiSelectorTerms, userData, \
                 blockDeviceMappings, metadataOptions, securityGroupSelectorTerms) and delete the field"
            ),
        ));
    }

    let subnet_terms = selector_terms(ctx, spec, "subnetSelector", SelectorKind::Subnet, path)?;
    if subnet_terms.is_empty() {
        return Err(ctx.err(
            join(path, "subnetSelector"),
            "required: add e.g. `subnetSelector: {karpenter.sh/discovery: <cluster>}`",
        ));
    }
    let sg_terms = selector_terms(
        ctx,
        spec,
        "securityGroupSelector",
        SelectorKind::SecurityGroup,
        path,
    )?;
    if sg_terms.is_empty() {
        return Err(ctx.err(
            join(path, "securityGroupSelector"),
            "required: add e.g. `securityGroupSelector: {karpenter.sh/discovery: <cluster>}`",
        ));
    }
    let ami_terms = selector_terms(ctx, spec, "amiSelector", SelectorKind::Ami, path)?;

    let family_in = ctx.string(spec, "amiFamily", path)?;
    let family = family_in.unwrap_or("AL2");
    if !ALPHA_FAMILIES.contains(&family) {
        return Err(ctx.err(
            join(path, "amiFamily"),
            format!("unknown AMI family `{family}`; expected one of {ALPHA_FAMILIES:?}"),
        ));
    }
    let mut bdms = block_device_mappings(ctx, spec, path, false)?;
    let (ami_family, ami_terms) = ami(
        ctx,
        family,
        ami_terms,
        &mut bdms,
        AmiSource::Alpha,
        path,
        opts.target,
    )?;

    let identity = identity(
        ctx,
        None,
        ctx.string(spec, "instanceProfile", path)?
            .map(str::to_string),
        path,
        opts,
    );
    let metadata_options = metadata_options(ctx, spec, path, opts.target)?;
    let tags = tags(ctx, spec, path, opts.target)?;
    let mut out = identity;
    out.extend(obj(vec![
        ("amiFamily", ami_family.map(Value::String)),
        ("amiSelectorTerms", non_empty(ami_terms)),
        ("subnetSelectorTerms", non_empty(subnet_terms)),
        ("securityGroupSelectorTerms", non_empty(sg_terms)),
        ("blockDeviceMappings", non_empty(bdms)),
        ("metadataOptions", metadata_options),
        (
            "userData",
            ctx.string(spec, "userData", path)?.map(Value::from),
        ),
        ("tags", tags),
        (
            "context",
            ctx.string(spec, "context", path)?.map(Value::from),
        ),
        (
            "detailedMonitoring",
            ctx.boolean(spec, "detailedMonitoring", path)?
                .map(Value::Bool),
        ),
    ]));
    Ok(out)
}

/// Convert a v1beta1 EC2NodeClass spec to v1 (§2.3). `alias_version` comes from the
/// `compatibility.karpenter.k8s.aws/v1-alias-version` annotation, else `latest`.
pub(crate) fn from_v1beta1(
    ctx: &mut Ctx<'_>,
    spec: &Map<String, Value>,
    alias_version: &str,
    opts: &Options,
) -> Result<Map<String, Value>, ObjectError> {
    let path = "spec";
    ctx.warn_unknown(spec, V1BETA1_FIELDS, path);
    let terms = |ctx: &mut Ctx<'_>, key: &str| -> Result<Vec<Value>, ObjectError> {
        let list = ctx.array(spec, key, path)?.cloned().unwrap_or_default();
        check_id_terms(ctx, &list, &join(path, key))
    };
    let subnet_terms = terms(ctx, "subnetSelectorTerms")?;
    let sg_terms = terms(ctx, "securityGroupSelectorTerms")?;
    let ami_terms = terms(ctx, "amiSelectorTerms")?;
    for (key, list) in [
        ("subnetSelectorTerms", &subnet_terms),
        ("securityGroupSelectorTerms", &sg_terms),
    ] {
        if list.is_empty() {
            return Err(ctx.err(join(path, key), "required: at least one term"));
        }
    }
    let family = ctx.string(spec, "amiFamily", path)?.ok_or_else(|| {
        ctx.err(
            join(path, "amiFamily"),
            "required in v1beta1: set it to the AMI family of your nodes (e.g. AL2023)",
        )
    })?;
    let mut bdms = block_device_mappings(ctx, spec, path, true)?;
    let (ami_family, ami_terms) = ami(
        ctx,
        family,
        ami_terms,
        &mut bdms,
        AmiSource::V1beta1 { alias_version },
        path,
        Target::V1,
    )?;
    let mut out = identity(
        ctx,
        ctx.string(spec, "role", path)?.map(str::to_string),
        ctx.string(spec, "instanceProfile", path)?
            .map(str::to_string),
        path,
        opts,
    );
    let metadata_options = metadata_options(ctx, spec, path, Target::V1)?;
    let tags = tags(ctx, spec, path, Target::V1)?;
    out.extend(obj(vec![
        ("amiFamily", ami_family.map(Value::String)),
        ("amiSelectorTerms", non_empty(ami_terms)),
        ("subnetSelectorTerms", non_empty(subnet_terms)),
        ("securityGroupSelectorTerms", non_empty(sg_terms)),
        (
            "associatePublicIPAddress",
            ctx.boolean(spec, "associatePublicIPAddress", path)?
                .map(Value::Bool),
        ),
        ("blockDeviceMappings", non_empty(bdms)),
        (
            "instanceStorePolicy",
            ctx.string(spec, "instanceStorePolicy", path)?
                .map(Value::from),
        ),
        ("metadataOptions", metadata_options),
        (
            "userData",
            ctx.string(spec, "userData", path)?.map(Value::from),
        ),
        ("tags", tags),
        (
            "context",
            ctx.string(spec, "context", path)?.map(Value::from),
        ),
        (
            "detailedMonitoring",
            ctx.boolean(spec, "detailedMonitoring", path)?
                .map(Value::Bool),
        ),
    ]));
    Ok(out)
}

/// Put `kubelet` into an EC2NodeClass spec, after the selector terms (the kubectl-like order).
pub(crate) fn set_kubelet(spec: &mut Map<String, Value>, kubelet: Value) {
    let old = std::mem::take(spec);
    let mut placed = false;
    for (k, v) in old {
        if !placed
            && !matches!(
                k.as_str(),
                "role"
                    | "instanceProfile"
                    | "amiFamily"
                    | "amiSelectorTerms"
                    | "subnetSelectorTerms"
                    | "securityGroupSelectorTerms"
            )
        {
            spec.insert("kubelet".into(), kubelet.clone());
            placed = true;
        }
        if k != "kubelet" {
            spec.insert(k, v);
        }
    }
    if !placed {
        spec.insert("kubelet".into(), kubelet);
    }
}

fn non_empty(list: Vec<Value>) -> Option<Value> {
    (!list.is_empty()).then_some(Value::Array(list))
}

fn selector_terms(
    ctx: &mut Ctx<'_>,
    spec: &Map<String, Value>,
    key: &str,
    kind: SelectorKind,
    path: &str,
) -> Result<Vec<Value>, ObjectError> {
    let fpath = join(path, key);
    let Some(m) = ctx.object(spec, key, path)? else {
        return Ok(Vec::new());
    };
    let mut sel = BTreeMap::new();
    for (k, v) in m {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(ctx.err(
                    format!("{fpath}.{k}"),
                    format!("must be a string, found {other}"),
                ))
            }
        };
        sel.insert(k.clone(), s);
    }
    let expansion =
        selector::expand(kind, &sel).map_err(|e| ctx.err(fpath.clone(), e.to_string()))?;
    if !expansion.dropped_beside_ids.is_empty() {
        ctx.warn(
            fpath.clone(),
            format!(
                "keys {:?} dropped: they were combined with aws::ids, which v1alpha1 validation \
                 already rejected and the target CRD refuses (`id` is mutually exclusive with other \
                 fields); only the id terms are kept",
                expansion.dropped_beside_ids
            ),
        );
    }
    if expansion.terms.len() > MAX_TERMS {
        return Err(ctx.err(
            fpath,
            format!(
                "expands to {} terms (the cross product of its comma-separated values) but the \
                 target CRD allows at most {MAX_TERMS}; select by a common tag instead",
                expansion.terms.len()
            ),
        ));
    }
    Ok(expansion.terms)
}

/// v1beta1 terms: `id` mixed with other fields is rejected by v1; keep only the id.
fn check_id_terms(
    ctx: &mut Ctx<'_>,
    terms: &[Value],
    path: &str,
) -> Result<Vec<Value>, ObjectError> {
    let mut out = Vec::new();
    for (i, t) in terms.iter().enumerate() {
        let Value::Object(m) = t else {
            return Err(ctx.err(format!("{path}[{i}]"), "must be a mapping"));
        };
        if let Some(id) = m.get("id").filter(|_| m.len() > 1) {
            let others: Vec<&String> = m.keys().filter(|k| *k != "id").collect();
            ctx.warn(
                format!("{path}[{i}]"),
                format!("fields {others:?} dropped: v1 does not allow `id` with other fields; only the id is kept"),
            );
            let mut only = Map::new();
            only.insert("id".into(), id.clone());
            out.push(Value::Object(only));
        } else {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Which API the AMI settings come from (it names the selector field in errors).
#[derive(Clone, Copy)]
enum AmiSource<'a> {
    /// v1alpha1 `amiSelector`; aliases use `latest`.
    Alpha,
    /// v1beta1 `amiSelectorTerms`; aliases use this version.
    V1beta1 { alias_version: &'a str },
}

/// AMI family and terms for the target (§2.3, §3.2).
fn ami(
    ctx: &mut Ctx<'_>,
    family: &str,
    terms: Vec<Value>,
    bdms: &mut Vec<Value>,
    source: AmiSource<'_>,
    path: &str,
    target: Target,
) -> Result<(Option<String>, Vec<Value>), ObjectError> {
    let fam_path = join(path, "amiFamily");
    let (sel_field, sel_hint, alias_version) = match source {
        AmiSource::Alpha => (
            "amiSelector",
            "add an amiSelector (e.g. `aws::ids: ami-…` or `aws::name` + `aws::owners`)",
            "latest",
        ),
        AmiSource::V1beta1 { alias_version } => (
            "amiSelectorTerms",
            "add amiSelectorTerms (e.g. `- id: ami-…` or `- name: …` + `owner: …`)",
            alias_version,
        ),
    };
    let sel_path = join(path, sel_field);
    if target == Target::V1beta1 {
        if family == "Custom" && terms.is_empty() {
            return Err(ctx.err(
                sel_path,
                format!("amiFamily Custom needs AMIs: {sel_hint} naming them"),
            ));
        }
        return Ok((Some(family.to_string()), terms));
    }
    if terms.is_empty() {
        if ALIAS_FAMILIES.contains(&family) {
            let version = if family.starts_with("Windows") {
                "latest"
            } else {
                alias_version
            };
            let alias = format!("{}@{version}", family.to_lowercase());
            if family == "AL2" {
                ctx.warn(
                    fam_path,
                    format!(
                        "AL2 becomes `amiSelectorTerms: [{{alias: {alias}}}]`; Karpenter refuses AL2 \
                         aliases on Kubernetes 1.33 and later, so plan a move to AL2023 or Bottlerocket"
                    ),
                );
            }
            let mut term = Map::new();
            term.insert("alias".into(), Value::String(alias));
            return Ok((None, vec![Value::Object(term)]));
        }
        return Err(ctx.err(
            sel_path,
            format!(
                "amiFamily {family} has no AMI discovery in v1: {sel_hint} naming the AMIs to use"
            ),
        ));
    }
    if family == "Ubuntu" {
        ctx.warn(
            fam_path,
            "Ubuntu has no v1 AMI family: written as amiFamily AL2 (identical user-data format) \
             with your AMI terms; check the AMIs are still published",
        );
        if bdms.is_empty() {
            ctx.warn(
                join(path, "blockDeviceMappings"),
                "Ubuntu's root volume /dev/sda1 (20Gi gp3, encrypted) added, as Karpenter v1.0 did; \
                 without it the AL2 default /dev/xvda would be used",
            );
            bdms.push(serde_json::json!({
                "deviceName": "/dev/sda1",
                "rootVolume": true,
                "ebs": {"encrypted": true, "volumeSize": "20Gi", "volumeType": "gp3"}
            }));
        }
        return Ok((Some("AL2".into()), terms));
    }
    if ALIAS_FAMILIES.contains(&family) || family == "Custom" {
        if family == "Custom" {
            ctx.warn(
                fam_path,
                "Custom AMIs: since v1 the node must register with the taint \
                 karpenter.sh/unregistered:NoExecute; make sure your userData adds it",
            );
        }
        return Ok((Some(family.to_string()), terms));
    }
    ctx.warn(
        fam_path,
        format!(
            "unknown AMI family `{family}` written as Custom; userData must bootstrap the node"
        ),
    );
    Ok((Some("Custom".into()), terms))
}

/// Exactly one of `role` / `instanceProfile`.
fn identity(
    ctx: &mut Ctx<'_>,
    role: Option<String>,
    instance_profile: Option<String>,
    path: &str,
    opts: &Options,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(node_role) = &opts.node_role {
        if let Some(profile) = &instance_profile {
            ctx.warn(
                join(path, "instanceProfile"),
                format!(
                    "`{profile}` replaced by role {node_role} (--node-role): Karpenter now creates \
                     the instance profile; nodes get the role's permissions"
                ),
            );
        }
        if let Some(r) = role.as_ref().filter(|r| *r != node_role) {
            ctx.warn(
                join(path, "role"),
                format!("`{r}` replaced by {node_role} (--node-role); role changes drift nodes"),
            );
        }
        out.insert("role".into(), Value::String(node_role.clone()));
    } else if let Some(r) = role {
        if r == ROLE_PLACEHOLDER {
            ctx.warn(
                join(path, "role"),
                format!("still the placeholder {ROLE_PLACEHOLDER}: pass --node-role NAME"),
            );
        }
        out.insert("role".into(), Value::String(r));
    } else if let Some(p) = instance_profile {
        if opts.target == Target::V1beta1 {
            // The v1beta1 EC2NodeClass of v0.32.0 and v0.32.1 accepted only `role`;
            // `instanceProfile` came back in v0.32.2.
            ctx.warn(
                join(path, "instanceProfile"),
                format!(
                    "`{p}` kept: an EC2NodeClass with instanceProfile needs Karpenter v0.32.2 or \
                     later (v0.32.0 and v0.32.1 require role); on those versions pass --node-role \
                     NAME to convert it to a role"
                ),
            );
        }
        out.insert("instanceProfile".into(), Value::String(p));
    } else {
        ctx.warn(
            join(path, "role"),
            format!(
                "set to the placeholder {ROLE_PLACEHOLDER}: pass --node-role NAME (e.g. \
                 KarpenterNodeRole-<cluster>) or substitute it before applying"
            ),
        );
        out.insert("role".into(), Value::String(ROLE_PLACEHOLDER.into()));
    }
    out
}

const EBS_FIELDS: &[&str] = &[
    "deleteOnTermination",
    "encrypted",
    "iops",
    "kmsKeyID",
    "snapshotID",
    "throughput",
    "volumeSize",
    "volumeType",
];

fn block_device_mappings(
    ctx: &mut Ctx<'_>,
    spec: &Map<String, Value>,
    path: &str,
    allow_root: bool,
) -> Result<Vec<Value>, ObjectError> {
    let Some(list) = ctx.array(spec, "blockDeviceMappings", path)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let ipath = format!("{}[{i}]", join(path, "blockDeviceMappings"));
        let Value::Object(m) = item else {
            return Err(ctx.err(ipath, "must be a mapping"));
        };
        let mut known = vec!["deviceName", "ebs"];
        if allow_root {
            known.push("rootVolume");
        }
        ctx.warn_unknown(m, &known, &ipath);
        let ebs = match ctx.object(m, "ebs", &ipath)? {
            Some(e) => {
                let epath = join(&ipath, "ebs");
                ctx.warn_unknown(e, EBS_FIELDS, &epath);
                let mut out = Map::new();
                for &f in EBS_FIELDS {
                    let Some(v) = e.get(f).filter(|v| !v.is_null()) else {
                        continue;
                    };
                    let v = if f == "volumeSize" {
                        match v {
                            Value::String(_) => v.clone(),
                            Value::Number(n) => {
                                return Err(ctx.err(
                                    join(&epath, f),
                                    format!(
                                        "`{n}` is a plain number (bytes); v1 needs a unit, e.g. `{n}Gi`"
                                    ),
                                ))
                            }
                            _ => return Err(ctx.err(join(&epath, f), "must be a size such as 20Gi")),
                        }
                    } else {
                        v.clone()
                    };
                    out.insert(f.to_string(), v);
                }
                Some(Value::Object(out))
            }
            None => None,
        };
        out.push(Value::Object(obj(vec![
            (
                "deviceName",
                ctx.string(m, "deviceName", &ipath)?.map(Value::from),
            ),
            (
                "rootVolume",
                if allow_root {
                    ctx.boolean(m, "rootVolume", &ipath)?.map(Value::Bool)
                } else {
                    None
                },
            ),
            ("ebs", ebs),
        ])));
    }
    Ok(out)
}

/// Builds a default value.
type MakeDefault = fn() -> Value;

const METADATA_DEFAULTS: &[(&str, MakeDefault)] = &[
    ("httpEndpoint", || Value::from("enabled")),
    ("httpProtocolIPv6", || Value::from("disabled")),
    ("httpPutResponseHopLimit", || Value::from(2)),
    ("httpTokens", || Value::from("required")),
];

/// `metadataOptions`; for v1, fields left unset get the alpha/v1beta1 defaults (hop limit 2,
/// where v1 would default to 1).
fn metadata_options(
    ctx: &mut Ctx<'_>,
    spec: &Map<String, Value>,
    path: &str,
    target: Target,
) -> Result<Option<Value>, ObjectError> {
    let given = ctx.object(spec, "metadataOptions", path)?;
    if let Some(m) = given {
        let known: Vec<&str> = METADATA_DEFAULTS.iter().map(|(k, _)| *k).collect();
        ctx.warn_unknown(m, &known, &join(path, "metadataOptions"));
    }
    if target == Target::V1beta1 {
        return Ok(given.map(|m| {
            Value::Object(
                METADATA_DEFAULTS
                    .iter()
                    .filter_map(|(k, _)| m.get(*k).map(|v| (k.to_string(), v.clone())))
                    .collect(),
            )
        }));
    }
    let mut out = Map::new();
    for (k, default) in METADATA_DEFAULTS {
        let v = given
            .and_then(|m| m.get(*k))
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(default);
        out.insert(k.to_string(), v);
    }
    Ok(Some(Value::Object(out)))
}

/// Tag keys Karpenter sets itself and each target CRD refuses in `spec.tags`.
const V1_RESERVED_TAGS: &[&str] = &[
    labels::NODEPOOL,
    labels::NODECLAIM_TAG,
    "eks:eks-cluster-name",
    labels::EC2NODECLASS,
];
const V1BETA1_RESERVED_TAGS: &[&str] = &[
    labels::PROVISIONER_NAME,
    labels::NODEPOOL,
    "karpenter.sh/managed-by",
];

fn tags(
    ctx: &mut Ctx<'_>,
    spec: &Map<String, Value>,
    path: &str,
    target: Target,
) -> Result<Option<Value>, ObjectError> {
    let Some(m) = ctx.string_map(spec, "tags", path)? else {
        return Ok(None);
    };
    let tpath = join(path, "tags");
    let mut out = Map::new();
    for (k, v) in m {
        if k.is_empty() {
            return Err(ctx.err(tpath, "tag keys must not be empty"));
        }
        if k.starts_with("kubernetes.io/cluster/") {
            return Err(ctx.err(
                format!("{tpath}.{k}"),
                "Karpenter sets this tag itself and the CRD refuses it; remove it",
            ));
        }
        let reserved = match target {
            Target::V1 => V1_RESERVED_TAGS,
            Target::V1beta1 => V1BETA1_RESERVED_TAGS,
        };
        if reserved.contains(&k.as_str()) {
            ctx.warn(
                format!("{tpath}.{k}"),
                "dropped: Karpenter sets this tag itself and the target CRD refuses it",
            );
            continue;
        }
        if k == "karpenter.sh/managed-by" && target == Target::V1 {
            ctx.warn(
                format!("{tpath}.{k}"),
                "kept, but Karpenter v1 tags instances with eks:eks-cluster-name instead; \
                 update IAM policies and SCPs that match on karpenter.sh/managed-by",
            );
        }
        out.insert(k, v);
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}
