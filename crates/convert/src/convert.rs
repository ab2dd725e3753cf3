//! The conversion driver: classify documents, convert each, then place kubelet settings on
//! EC2NodeClasses (splitting a class when its NodePools disagree, §3.3).
use std::collections::{BTreeMap, HashMap, HashSet};

use karpenter_api::labels;
use serde_json::{Map, Value};

use crate::input::Location;
use crate::input::{type_name, Document};
use crate::nodeclass;
use crate::nodepool;
use crate::util::{object_name, Ctx};
use crate::warning::{ConvertErrors, ObjectError, Warning};

/// The API version to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// `karpenter.sh/v1` + `karpenter.k8s.aws/v1` (Karpenter v1.0 and later).
    #[default]
    V1,
    /// `karpenter.sh/v1beta1` + `karpenter.k8s.aws/v1beta1` (karpenter-convert parity).
    V1beta1,
}

impl Target {
    /// `v1` or `v1beta1`.
    pub fn version(self) -> &'static str {
        match self {
            Target::V1 => "v1",
            Target::V1beta1 => "v1beta1",
        }
    }
}

/// Validates an object against the CRD schema of its apiVersion/kind. Used to reject invalid
/// inputs (v1alpha5/v1alpha1/v1beta1 schemas) and as a self-check on every output.
pub trait SchemaValidator {
    /// `Ok` when `value` is valid; otherwise each violation as (field path, message).
    fn validate(
        &self,
        api_version: &str,
        kind: &str,
        value: &Value,
    ) -> Result<(), Vec<(String, String)>>;
}

/// Conversion settings (the CLI flags).
#[derive(Default)]
pub struct Options<'a> {
    /// Target API version.
    pub target: Target,
    /// Do not append the v1alpha5 default requirements (§1.3).
    pub ignore_defaults: bool,
    /// IAM role for converted EC2NodeClasses (replaces an instanceProfile).
    pub node_role: Option<String>,
    /// Drop objects that are not Karpenter objects instead of passing them through.
    pub only_karpenter: bool,
    /// Schema validation of inputs and outputs, when available.
    pub validator: Option<&'a dyn SchemaValidator>,
}

/// One output object and the input it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputObject {
    /// Location of the source document.
    pub source: Location,
    /// The object to print.
    pub value: Value,
}

/// The result of a successful conversion.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversion {
    /// Output objects, in input order (generated EC2NodeClasses follow their source).
    pub objects: Vec<OutputObject>,
    /// Everything that was changed or dropped, in input order.
    pub warnings: Vec<Warning>,
}

enum Role {
    Other,
    NodePool {
        class: String,
        kubelet: Option<Value>,
        kind: String,
        name: String,
    },
    NodeClass {
        name: String,
    },
}

struct Slot {
    source: Location,
    value: Value,
    role: Role,
    /// Source (apiVersion, kind) for the output self-check error.
    from: (String, String),
}

const SH: &str = "karpenter.sh";
const AWS: &str = "karpenter.k8s.aws";

/// Convert `docs` (in order). Returns every object error at once if any object cannot be
/// converted; nothing is returned partially.
pub fn convert(docs: &[Document], opts: &Options<'_>) -> Result<Conversion, ConvertErrors> {
    let mut warnings = Vec::new();
    let mut errors: Vec<ObjectError> = Vec::new();
    let mut slots: Vec<Slot> = Vec::new();

    // v1beta1 NodePools' expireAfter, for NodeClaims (§2.2).
    let mut pool_expiry: HashMap<String, String> = HashMap::new();
    for d in docs {
        if api_kind(&d.value) == ("karpenter.sh/v1beta1".into(), "NodePool".into()) {
            let spec = d.value.get("spec").and_then(Value::as_object);
            let e = spec
                .and_then(nodepool::v1beta1_expire_after)
                .unwrap_or_else(|| "720h0m0s".to_string());
            pool_expiry.insert(object_name(&d.value), e);
        }
    }

    for d in docs {
        match convert_one(d, opts, &pool_expiry, &mut warnings) {
            Ok(mut out) => slots.append(&mut out),
            Err(e) => errors.push(e),
        }
    }
    if opts.target == Target::V1 {
        place_kubelet(&mut slots, &mut warnings);
    }
    check_duplicates(&slots, &mut errors);
    if let Some(v) = opts.validator {
        for s in &slots {
            let (api, kind) = api_kind(&s.value);
            // Converted NodePools/EC2NodeClasses, and every karpenter.sh/v1 or karpenter.k8s.aws/v1
            // object (converted NodeClaims, and v1 objects passed through). v1beta1 objects passed
            // through are not: the vendored v0.32 CRDs predate later v1beta1 fields.
            let is_v1 = matches!(api.as_str(), "karpenter.sh/v1" | "karpenter.k8s.aws/v1");
            if matches!(s.role, Role::Other) && !is_v1 {
                continue;
            }
            if let Err(violations) = v.validate(&api, &kind, &s.value) {
                for (field, message) in violations {
                    errors.push(ObjectError {
                        location: s.source.clone(),
                        kind: s.from.1.clone(),
                        name: object_name(&s.value),
                        field,
                        message: format!(
                            "the converted {kind} ({api}) would be rejected by the API server: {message}; \
                             fix the input field this comes from"
                        ),
                    });
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ConvertErrors(errors));
    }
    Ok(Conversion {
        objects: slots
            .into_iter()
            .map(|s| OutputObject {
                source: s.source,
                value: s.value,
            })
            .collect(),
        warnings,
    })
}

fn api_kind(v: &Value) -> (String, String) {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("apiVersion"), s("kind"))
}

fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map(|(g, _)| g).unwrap_or("")
}

/// Metadata kept on converted objects: name, labels, annotations. Anything else is reported.
fn converted_metadata(ctx: &mut Ctx<'_>, value: &Value) -> Result<Map<String, Value>, ObjectError> {
    let mut out = Map::new();
    let Some(meta) = value.get("metadata") else {
        return Err(ctx.err("metadata.name", "required: add `metadata: {name: <name>}`"));
    };
    let Value::Object(meta) = meta else {
        return Err(ctx.err(
            "metadata",
            format!("must be a mapping, found {}", type_name(meta)),
        ));
    };
    match meta.get("name") {
        Some(Value::String(n)) if !n.is_empty() => {
            out.insert("name".into(), Value::String(n.clone()));
        }
        Some(other @ (Value::Bool(_) | Value::Number(_))) => {
            return Err(ctx.err(
                "metadata.name",
                format!(
                    "must be a string, found {}: quote the name in YAML (unquoted y/n/yes/no/on/off/true/false \
                     read as booleans, bare digits as numbers)",
                    type_name(other)
                ),
            ))
        }
        _ => return Err(ctx.err("metadata.name", "required: a non-empty string")),
    }
    for key in ["labels", "annotations"] {
        if let Some(m) = ctx.string_map(meta, key, "metadata")? {
            if !m.is_empty() {
                out.insert(key.into(), Value::Object(m));
            }
        }
    }
    for key in meta.keys() {
        match key.as_str() {
            "name" | "labels" | "annotations" | "namespace" => {}
            other => ctx.warn(
                format!("metadata.{other}"),
                "dropped: only name, labels and annotations are carried to the new object",
            ),
        }
    }
    Ok(out)
}

fn convert_one(
    d: &Document,
    opts: &Options<'_>,
    pool_expiry: &HashMap<String, String>,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Slot>, ObjectError> {
    let (api, kind) = api_kind(&d.value);
    let name = object_name(&d.value);
    let group = group_of(&api).to_string();
    let mut ctx = Ctx::new(&d.location, &kind, &name, warnings);
    let from = (api.clone(), kind.clone());
    let slot = |value: Value, role: Role| Slot {
        source: d.location.clone(),
        value,
        role,
        from: from.clone(),
    };

    if group != SH && group != AWS {
        if opts.only_karpenter {
            return Ok(Vec::new());
        }
        scan_renames(&mut ctx, &d.value, "");
        return Ok(vec![slot(d.value.clone(), Role::Other)]);
    }
    // Source-schema check for the alpha kinds, whose schemas are final at v0.32. v1beta1 kept
    // growing until v0.37 (AL2023, budgets, minValues, associatePublicIPAddress, ...), so the
    // v0.32 schema would reject valid v0.37 objects: those are checked field by field instead,
    // and their outputs against the v1 CRDs.
    let known_source = matches!(
        (api.as_str(), kind.as_str()),
        ("karpenter.sh/v1alpha5", "Provisioner")
            | ("karpenter.k8s.aws/v1alpha1", "AWSNodeTemplate")
    );
    if let (true, Some(v)) = (known_source, opts.validator) {
        if let Err(violations) = v.validate(&api, &kind, &d.value) {
            let (field, message) = violations.into_iter().next().unwrap_or_default();
            return Err(ctx.err(field, format!("invalid {kind} ({api}): {message}")));
        }
    }
    let spec_of = |ctx: &Ctx<'_>| -> Result<Map<String, Value>, ObjectError> {
        match d.value.get("spec") {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(ctx.err("spec", "must be a mapping")),
        }
    };
    match (api.as_str(), kind.as_str(), opts.target) {
        ("karpenter.sh/v1alpha5", "Machine", _) => {
            ctx.warn("kind", "Machines are not converted: Karpenter creates NodeClaims; roll the nodes instead");
            Ok(Vec::new())
        }
        ("karpenter.sh/v1alpha5", "Provisioner", _) => {
            let meta = converted_metadata(&mut ctx, &d.value)?;
            let spec = spec_of(&ctx)?;
            let out = nodepool::from_provisioner(&mut ctx, meta.clone(), &spec, opts)?;
            let mut slots = vec![slot(
                out.value,
                Role::NodePool { class: out.class_name.clone(), kubelet: out.kubelet, kind: kind.clone(), name: name.clone() },
            )];
            if let Some(class_spec) = out.inline_class {
                let mut cmeta = Map::new();
                cmeta.insert("name".into(), Value::String(name.clone()));
                slots.push(slot(
                    nodeclass::object(opts.target, cmeta, class_spec),
                    Role::NodeClass { name: name.clone() },
                ));
            }
            Ok(slots)
        }
        ("karpenter.k8s.aws/v1alpha1", "AWSNodeTemplate", _) => {
            let meta = converted_metadata(&mut ctx, &d.value)?;
            let spec = spec_of(&ctx)?;
            let class_spec = nodeclass::from_alpha(&mut ctx, &spec, "spec", opts)?;
            Ok(vec![slot(nodeclass::object(opts.target, meta, class_spec), Role::NodeClass { name })])
        }
        ("karpenter.sh/v1beta1", "NodePool", Target::V1) => {
            let meta = converted_metadata(&mut ctx, &d.value)?;
            let spec = spec_of(&ctx)?;
            let out = nodepool::from_v1beta1_nodepool(&mut ctx, meta, &spec)?;
            Ok(vec![slot(
                out.value,
                Role::NodePool { class: out.class_name, kubelet: out.kubelet, kind: kind.clone(), name: name.clone() },
            )])
        }
        ("karpenter.sh/v1beta1", "NodeClaim", Target::V1) => {
            let meta = converted_metadata(&mut ctx, &d.value)?;
            let spec = spec_of(&ctx)?;
            let owner = d
                .value
                .pointer("/metadata/labels/karpenter.sh~1nodepool")
                .and_then(Value::as_str)
                .and_then(|p| pool_expiry.get(p).cloned());
            let v = nodepool::from_v1beta1_nodeclaim(&mut ctx, meta, &spec, owner)?;
            Ok(vec![slot(v, Role::Other)])
        }
        ("karpenter.k8s.aws/v1beta1", "EC2NodeClass", Target::V1) => {
            let mut meta = converted_metadata(&mut ctx, &d.value)?;
            let alias_key = "compatibility.karpenter.k8s.aws/v1-alias-version";
            let mut alias_version = "latest".to_string();
            if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
                if let Some(Value::String(v)) = ann.remove(alias_key) {
                    alias_version = v;
                }
                if ann.is_empty() {
                    meta.remove("annotations");
                }
            }
            let spec = spec_of(&ctx)?;
            let class_spec = nodeclass::from_v1beta1(&mut ctx, &spec, &alias_version, opts)?;
            Ok(vec![slot(nodeclass::object(Target::V1, meta, class_spec), Role::NodeClass { name })])
        }
        ("karpenter.sh/v1beta1", "NodePool" | "NodeClaim", Target::V1beta1)
        | ("karpenter.k8s.aws/v1beta1", "EC2NodeClass", Target::V1beta1)
        | ("karpenter.sh/v1", "NodePool" | "NodeClaim", Target::V1)
        | ("karpenter.k8s.aws/v1", "EC2NodeClass", Target::V1) => {
            // Already the target version: passed through as-is.
            Ok(vec![slot(d.value.clone(), Role::Other)])
        }
        ("karpenter.sh/v1", _, Target::V1beta1) | ("karpenter.k8s.aws/v1", _, Target::V1beta1) => Err(ctx.err(
            "apiVersion",
            format!("{api} cannot be converted down to v1beta1; drop --to v1beta1 or remove this object"),
        )),
        _ => Err(ctx.err(
            "apiVersion",
            format!(
                "unsupported {api} {kind}: convert reads karpenter.sh/v1alpha5 Provisioner, \
                 karpenter.k8s.aws/v1alpha1 AWSNodeTemplate and v1beta1 NodePool/NodeClaim/EC2NodeClass"
            ),
        )),
    }
}

/// §3.3: one EC2NodeClass per distinct kubelet configuration among the NodePools using it.
fn place_kubelet(slots: &mut Vec<Slot>, warnings: &mut Vec<Warning>) {
    let mut class_index: HashMap<String, usize> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    for (i, s) in slots.iter().enumerate() {
        if let Role::NodeClass { name } = &s.role {
            class_index.entry(name.clone()).or_insert(i);
            taken.insert(name.clone());
        }
    }
    // class name → NodePool slot indexes, in order of first use.
    let mut users: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, s) in slots.iter().enumerate() {
        if let Role::NodePool { class, .. } = &s.role {
            match users.iter_mut().find(|(c, _)| c == class) {
                Some((_, v)) => v.push(i),
                None => users.push((class.clone(), vec![i])),
            }
        }
    }
    // New classes to insert after their base: base index → [(value)].
    let mut inserts: BTreeMap<usize, Vec<Slot>> = BTreeMap::new();
    for (class, pools) in users {
        let mut groups: Vec<(Option<Value>, Vec<usize>)> = Vec::new();
        for &p in &pools {
            let Role::NodePool { kubelet, .. } = &slots[p].role else {
                continue;
            };
            match groups.iter_mut().find(|(k, _)| k == kubelet) {
                Some((_, v)) => v.push(p),
                None => groups.push((kubelet.clone(), vec![p])),
            }
        }
        let Some(&base) = class_index.get(&class) else {
            for (k, members) in &groups {
                let Some(k) = k else { continue };
                for &p in members {
                    warn_pool(slots, p, warnings, format!(
                        "kubelet settings belong on EC2NodeClass {class} in v1, which is not in the input; \
                         add `kubelet: {k}` to its spec (and split the class if other NodePools need different settings)"
                    ));
                }
            }
            continue;
        };
        for (gi, (kubelet, members)) in groups.iter().enumerate() {
            if gi == 0 {
                if let Some(k) = kubelet {
                    if let Some(spec) = slots[base]
                        .value
                        .get_mut("spec")
                        .and_then(Value::as_object_mut)
                    {
                        nodeclass::set_kubelet(spec, k.clone());
                    }
                }
                continue;
            }
            let first_pool = match &slots[members[0]].role {
                Role::NodePool { name, .. } => name.clone(),
                _ => String::new(),
            };
            let mut new_name = format!("{class}-{first_pool}");
            let mut n = 2;
            while taken.contains(&new_name) {
                new_name = format!("{class}-{first_pool}-{n}");
                n += 1;
            }
            taken.insert(new_name.clone());
            let mut value = slots[base].value.clone();
            if let Some(m) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("name".into(), Value::from(new_name.clone()));
            }
            if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("kubelet");
                if let Some(k) = kubelet {
                    nodeclass::set_kubelet(spec, k.clone());
                }
            }
            for &p in members {
                nodepool::set_class_name(&mut slots[p].value, &new_name);
                let own = if kubelet.is_some() {
                    "its own kubelet settings"
                } else {
                    "no kubelet settings"
                };
                warn_pool(slots, p, warnings, format!(
                    "NodePools sharing EC2NodeClass {class} have different kubelet settings, so this one now uses \
                     the copy {new_name} with {own}; changing nodeClassRef drifts (replaces) existing nodes"
                ));
            }
            inserts.entry(base).or_default().push(Slot {
                source: slots[base].source.clone(),
                value,
                role: Role::NodeClass { name: new_name },
                from: slots[base].from.clone(),
            });
        }
    }
    for (base, new) in inserts.into_iter().rev() {
        let at = base + 1;
        for (j, s) in new.into_iter().enumerate() {
            slots.insert(at + j, s);
        }
    }
}

fn warn_pool(slots: &[Slot], p: usize, warnings: &mut Vec<Warning>, message: String) {
    if let Role::NodePool { kind, name, .. } = &slots[p].role {
        let field = if kind == "Provisioner" {
            "spec.kubeletConfiguration"
        } else {
            "spec.template.spec.kubelet"
        };
        warnings.push(Warning {
            location: slots[p].source.clone(),
            kind: kind.clone(),
            name: name.clone(),
            field: field.into(),
            message,
        });
    }
}

fn check_duplicates(slots: &[Slot], errors: &mut Vec<ObjectError>) {
    let mut seen: HashMap<(String, String, String), &Location> = HashMap::new();
    for s in slots {
        if matches!(s.role, Role::Other) {
            continue;
        }
        let (api, kind) = api_kind(&s.value);
        let key = (
            group_of(&api).to_string(),
            kind.clone(),
            object_name(&s.value),
        );
        if let Some(first) = seen.get(&key) {
            errors.push(ObjectError {
                location: s.source.clone(),
                kind: s.from.1.clone(),
                name: key.2.clone(),
                field: "metadata.name".into(),
                message: format!(
                    "produces {kind} {} which {first} also produces; rename one of them",
                    key.2
                ),
            });
        } else {
            seen.insert(key, &s.source);
        }
    }
}

/// §5: renames in objects we pass through (pod selectors, annotations, tolerations).
fn scan_renames(ctx: &mut Ctx<'_>, value: &Value, path: &str) {
    const RENAMES: &[(&str, &str)] = &[
        (labels::PROVISIONER_NAME, "NodePools label nodes karpenter.sh/nodepool instead; update selectors (pods using provisioner-name DoesNotExist also need karpenter.sh/nodepool DoesNotExist)"),
        (labels::DO_NOT_EVICT_LEGACY, "renamed karpenter.sh/do-not-disrupt; the old annotation is ignored since v1.0"),
        (labels::DO_NOT_CONSOLIDATE_LEGACY, "renamed karpenter.sh/do-not-disrupt; the old annotation is ignored since v1.0"),
        (labels::DISRUPTION_TAINT_KEY_V1BETA1, "the disruption taint is karpenter.sh/disrupted:NoSchedule since v1.0; update tolerations"),
        ("karpenter.sh/managed-by", "Karpenter v1 tags instances with eks:eks-cluster-name instead; update IAM policies"),
    ];
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Some((_, msg)) = RENAMES.iter().find(|(old, _)| old == k) {
                    ctx.warn(p.clone(), *msg);
                }
                scan_renames(ctx, v, &p);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                scan_renames(ctx, v, &format!("{path}[{i}]"));
            }
        }
        Value::String(s) => {
            if let Some((_, msg)) = RENAMES.iter().find(|(old, _)| old == s) {
                ctx.warn(path, format!("{s}: {msg}"));
            }
        }
        _ => {}
    }
}
