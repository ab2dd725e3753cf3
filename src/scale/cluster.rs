//! The Kubernetes side of `scale-to-zero`: find the served pool versions, select pools, build
//! the plan, and apply it (pool updates with optimistic concurrency, then capacity deletions).
//!
//! Every call this module makes is listed in `templates/scale-to-zero/rbac.yaml`:
//! pools get/list/update, nodeclaims/machines list/delete, nodes list/delete, pods list,
//! poddisruptionbudgets list.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams, Preconditions,
};
use serde_json::Value;

use super::disruption::{self, Blocker};
use super::plan::{Direction, Plan, PoolAction, PoolPlan, Removal};
use super::record::{self, RecordError};
use super::selector::{Selector, SelectorError};
use super::{PoolVersion, GROUP};

/// How many times a pool write is retried after a 409 Conflict.
pub const MAX_WRITE_ATTEMPTS: usize = 8;

/// Restrict the selection to one pool kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindFilter {
    /// `karpenter.sh` NodePools (v1 or v1beta1).
    Nodepool,
    /// `karpenter.sh/v1alpha5` Provisioners.
    Provisioner,
}

/// Which pools to act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Pools by name.
    pub names: Vec<String>,
    /// Every pool.
    pub all: bool,
    /// A label selector over the pools' labels.
    pub selector: Option<String>,
    /// Names removed from the selection.
    pub exclude: Vec<String>,
    /// Only this kind.
    pub kind: Option<KindFilter>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Down or up.
    pub direction: Direction,
    /// The pools.
    pub selection: Selection,
    /// Only block new capacity; keep the existing nodes.
    pub keep_nodes: bool,
    /// Also remove nodes blocked by do-not-disrupt pods or PDBs, and record zero limits as a
    /// pool's original.
    pub force: bool,
    /// Change nothing.
    pub dry_run: bool,
    /// Restore: the limits for pools without a usable record (`--limits`).
    pub restore_limits: Option<serde_json::Map<String, Value>>,
}

/// Errors of `scale-to-zero`; each says what was looked at and how to proceed.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    /// No Karpenter pool kind is served.
    #[error("this cluster serves no Karpenter pools: none of karpenter.sh/v1 nodepools, karpenter.sh/v1beta1 nodepools or karpenter.sh/v1alpha5 provisioners exists. Is Karpenter installed, and is the kubeconfig context the right cluster?")]
    NoKarpenterCrds,
    /// The kind `--kind` asks for is not served.
    #[error(
        "this cluster serves no {0} (asked for with --kind); drop --kind or pick the other kind"
    )]
    KindNotServed(&'static str),
    /// Neither names, `--all` nor `--selector` was given.
    #[error("say which pools to act on: NAME..., --all, or -l/--selector")]
    NoSelection,
    /// More than one way of selecting was given.
    #[error("the pool selection is ambiguous: give only one of NAME..., --all and -l/--selector")]
    ConflictingSelection,
    /// The label selector is empty (it would select every pool).
    #[error("the selector given to -l/--selector is empty, which would select every pool; pass --all to act on every pool")]
    EmptySelector,
    /// The label selector is invalid.
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// The label selector matched nothing.
    #[error("the selector {selector:?} matches no {looked_at}; `kubectl get {resources} --show-labels` lists their labels")]
    SelectorMatchesNothing {
        selector: String,
        looked_at: String,
        resources: String,
    },
    /// Named pools do not exist.
    #[error("{} not found among {looked_at} (existing: {})", .missing.join(", "), if .existing.is_empty() { "none".to_string() } else { .existing.join(", ") })]
    NotFound {
        missing: Vec<String>,
        looked_at: String,
        existing: Vec<String>,
    },
    /// A name exists both as a NodePool and as a Provisioner.
    #[error("{name:?} is both a NodePool ({nodepool}) and a Provisioner (karpenter.sh/v1alpha5); add --kind nodepool or --kind provisioner")]
    Ambiguous { name: String, nodepool: PoolVersion },
    /// Everything selected was excluded.
    #[error("--exclude removed every selected pool; nothing to do")]
    AllExcluded,
    /// A pool's record or shape is invalid.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A PDB cannot be evaluated.
    #[error("cannot evaluate PodDisruptionBudgets: {0}")]
    Pdb(String),
    /// A Kubernetes call failed.
    #[error("{action}: {}{}", describe(error), hint(error))]
    Kube {
        action: String,
        /// Kept out of the `source` chain: the message already describes it.
        error: kube::Error,
    },
    /// A pool kept changing under us.
    #[error("{kind} {name}: still conflicting after {MAX_WRITE_ATTEMPTS} attempts (another writer keeps changing it); run the command again")]
    TooManyConflicts { kind: &'static str, name: String },
    /// A planned delete found a different object under the name (its uid changed).
    #[error("{kind} {name} was replaced since the plan was read (its uid changed), so it was not deleted; run the command again to plan for the new one")]
    Replaced { kind: &'static str, name: String },
    /// Pools left alone because of errors about them (the others were done).
    #[error("{} pool(s) left alone: {}", .0.len(), .0.join("; "))]
    Refused(Vec<String>),
    /// Applying failed for some pools (the others were done).
    #[error("{} of the selected pools failed: {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Partial(Vec<ScaleError>),
}

/// An API error as kubectl shows it: the server's message, code and reason.
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => {
            format!("{} (HTTP {} {})", s.message, s.code, s.reason)
        }
        other => other.to_string(),
    }
}

fn hint(e: &kube::Error) -> &'static str {
    match e {
        kube::Error::Api(s) if s.is_forbidden() => {
            " (the identity lacks RBAC permission; `kubectl karpenter scale-to-zero schedule` prints the ClusterRole this command needs)"
        }
        _ => "",
    }
}

fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> ScaleError {
    let action = action.into();
    move |error| ScaleError::Kube { action, error }
}

fn is_status(e: &kube::Error, check: fn(&kube::core::Status) -> bool) -> bool {
    matches!(e, kube::Error::Api(s) if check(s))
}

/// A pool as read from the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// The version it was read at.
    pub version: PoolVersion,
    /// The full object.
    pub object: Value,
}

impl Pool {
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn labels(&self) -> BTreeMap<String, String> {
        string_map(self.object.pointer("/metadata/labels"))
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn resource(version: PoolVersion, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: GROUP.to_string(),
        version: version.version().to_string(),
        api_version: version.api_version().to_string(),
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

fn pool_api(client: &kube::Client, version: PoolVersion) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &resource(version, version.pool_kind(), version.pool_resource()),
    )
}

fn claim_api(client: &kube::Client, version: PoolVersion) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &resource(version, version.claim_kind(), version.claim_resource()),
    )
}

fn to_value(obj: &DynamicObject, version: PoolVersion, kind: &str) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            Value::String(version.api_version().into()),
        );
        m.insert("kind".into(), Value::String(kind.into()));
    }
    v
}

/// List objects of a kind, `Ok(None)` when the version is not served (404).
async fn list_if_served(
    api: &Api<DynamicObject>,
    version: PoolVersion,
    kind: &str,
    what: &str,
) -> Result<Option<Vec<Value>>, ScaleError> {
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(Some(
            list.items
                .iter()
                .map(|o| to_value(o, version, kind))
                .collect(),
        )),
        Err(e) if is_status(&e, kube::core::Status::is_not_found) => Ok(None),
        Err(e) => Err(kube_err(format!("listing {what}"))(e)),
    }
}

/// Read every pool at the versions the cluster serves: NodePools at v1, else v1beta1 (the same
/// objects when both are served), plus v1alpha5 Provisioners. `kind` skips the other kind
/// entirely (it is not even listed).
pub async fn discover_pools(
    client: &kube::Client,
    kind: Option<KindFilter>,
) -> Result<Vec<Pool>, ScaleError> {
    let mut pools = Vec::new();
    let mut served = false;
    let nodepool_versions: &[PoolVersion] = if kind == Some(KindFilter::Provisioner) {
        &[]
    } else {
        &[PoolVersion::V1, PoolVersion::V1beta1]
    };
    for &version in nodepool_versions {
        let what = format!("{} nodepools", version.api_version());
        if let Some(items) =
            list_if_served(&pool_api(client, version), version, "NodePool", &what).await?
        {
            served = true;
            pools.extend(items.into_iter().map(|object| Pool { version, object }));
            break;
        }
    }
    let v = PoolVersion::V1alpha5;
    let provisioners = if kind == Some(KindFilter::Nodepool) {
        None
    } else {
        list_if_served(
            &pool_api(client, v),
            v,
            "Provisioner",
            "karpenter.sh/v1alpha5 provisioners",
        )
        .await?
    };
    if let Some(items) = provisioners {
        served = true;
        pools.extend(items.into_iter().map(|object| Pool { version: v, object }));
    }
    if !served {
        return Err(match kind {
            None => ScaleError::NoKarpenterCrds,
            Some(KindFilter::Nodepool) => {
                ScaleError::KindNotServed("karpenter.sh/v1 or v1beta1 nodepools")
            }
            Some(KindFilter::Provisioner) => {
                ScaleError::KindNotServed("karpenter.sh/v1alpha5 provisioners")
            }
        });
    }
    pools.sort_by(|a, b| (a.version.pool_kind(), a.name()).cmp(&(b.version.pool_kind(), b.name())));
    Ok(pools)
}

/// Check the shape of a selection without the cluster: exactly one of names, `--all` and a
/// non-empty selector.
pub fn check_selection(sel: &Selection) -> Result<(), ScaleError> {
    let given = [!sel.names.is_empty(), sel.all, sel.selector.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    match given {
        0 => return Err(ScaleError::NoSelection),
        1 => {}
        _ => return Err(ScaleError::ConflictingSelection),
    }
    if sel.selector.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return Err(ScaleError::EmptySelector);
    }
    Ok(())
}

/// Apply the selection to the pools read from the cluster (pure).
pub fn select(pools: Vec<Pool>, sel: &Selection) -> Result<(Vec<Pool>, Vec<String>), ScaleError> {
    check_selection(sel)?;
    let mut warnings = Vec::new();
    let kinds: Vec<PoolVersion> = {
        let mut v: Vec<PoolVersion> = pools.iter().map(|p| p.version).collect();
        v.sort();
        v.dedup();
        v
    };
    let looked_at = if kinds.is_empty() {
        "the pools".to_string()
    } else {
        kinds
            .iter()
            .map(|v| format!("{} {}", v.api_version(), v.pool_resource()))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let pools: Vec<Pool> = pools
        .into_iter()
        .filter(|p| match sel.kind {
            None => true,
            Some(KindFilter::Nodepool) => p.version != PoolVersion::V1alpha5,
            Some(KindFilter::Provisioner) => p.version == PoolVersion::V1alpha5,
        })
        .collect();
    let mut chosen: Vec<Pool> = if !sel.names.is_empty() {
        let mut missing = Vec::new();
        let mut chosen = Vec::new();
        let unique: BTreeSet<&String> = sel.names.iter().collect();
        for name in unique {
            let found: Vec<&Pool> = pools.iter().filter(|p| p.name() == name).collect();
            match found.as_slice() {
                [] => missing.push(name.clone()),
                [one] => chosen.push((*one).clone()),
                [a, b, ..] => {
                    let nodepool = if a.version == PoolVersion::V1alpha5 {
                        b.version
                    } else {
                        a.version
                    };
                    return Err(ScaleError::Ambiguous {
                        name: name.clone(),
                        nodepool,
                    });
                }
            }
        }
        if !missing.is_empty() {
            return Err(ScaleError::NotFound {
                missing,
                looked_at,
                existing: pools.iter().map(|p| p.name().to_string()).collect(),
            });
        }
        chosen
    } else if let Some(s) = &sel.selector {
        let selector = Selector::parse(s)?;
        let chosen: Vec<Pool> = pools
            .into_iter()
            .filter(|p| selector.matches(&p.labels()))
            .collect();
        if chosen.is_empty() {
            let resources = kinds
                .iter()
                .map(|v| v.pool_resource())
                .collect::<Vec<_>>()
                .join(",");
            return Err(ScaleError::SelectorMatchesNothing {
                selector: s.clone(),
                looked_at,
                resources: if resources.is_empty() {
                    "nodepools".into()
                } else {
                    resources
                },
            });
        }
        chosen
    } else {
        if pools.is_empty() {
            warnings.push(format!("--all: there are no pools among {looked_at}"));
        }
        pools
    };
    for ex in &sel.exclude {
        if !chosen.iter().any(|p| p.name() == ex) {
            warnings.push(format!("--exclude {ex}: no such pool in the selection"));
        }
    }
    let before = chosen.len();
    chosen.retain(|p| !sel.exclude.iter().any(|e| e == p.name()));
    if before > 0 && chosen.is_empty() {
        return Err(ScaleError::AllExcluded);
    }
    Ok((chosen, warnings))
}

/// Capacity objects of one pool version, and the cluster's nodes.
struct Capacity {
    claims: Vec<Value>,
    /// Nodes by name, as JSON.
    nodes: BTreeMap<String, Value>,
}

async fn read_capacity(
    client: &kube::Client,
    version: PoolVersion,
) -> Result<Capacity, ScaleError> {
    let what = format!("{} {}", version.api_version(), version.claim_resource());
    let claims = list_if_served(
        &claim_api(client, version),
        version,
        version.claim_kind(),
        &what,
    )
    .await?
    // Karpenter before v0.28 had no Machines: Provisioner nodes are deleted directly.
    .unwrap_or_default();
    let nodes: Api<Node> = Api::all(client.clone());
    let nodes = nodes
        .list(&ListParams::default())
        .await
        .map_err(kube_err("listing nodes"))?
        .items
        .into_iter()
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            Some((name, serde_json::to_value(n).ok()?))
        })
        .collect();
    Ok(Capacity { claims, nodes })
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The objects whose deletion removes `pool`'s nodes (pure), with the node annotations seen.
fn removals_for(
    pool: &Pool,
    cap: &Capacity,
    annotations: &mut BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<Removal> {
    let label = pool.version.pool_label();
    let owned = |v: &Value| {
        str_at(v, &format!("/metadata/labels/{}", label.replace('/', "~1"))) == Some(pool.name())
    };
    let mut out = Vec::new();
    let mut covered_nodes = BTreeSet::new();
    for claim in cap.claims.iter().filter(|c| owned(c)) {
        let name = str_at(claim, "/metadata/name")
            .unwrap_or_default()
            .to_string();
        let provider_id = str_at(claim, "/status/providerID");
        let node = str_at(claim, "/status/nodeName")
            .map(str::to_string)
            .or_else(|| {
                cap.nodes
                    .iter()
                    .find(|(_, n)| {
                        provider_id.is_some() && str_at(n, "/spec/providerID") == provider_id
                    })
                    .map(|(k, _)| k.clone())
            });
        let key = node
            .clone()
            .unwrap_or_else(|| format!("{}/{}", pool.version.claim_kind(), name));
        let entry = annotations.entry(key).or_default();
        entry.extend(string_map(claim.pointer("/metadata/annotations")));
        if let Some(n) = node.as_ref().and_then(|n| cap.nodes.get(n)) {
            entry.extend(string_map(n.pointer("/metadata/annotations")));
        }
        if let Some(n) = &node {
            covered_nodes.insert(n.clone());
        }
        out.push(Removal {
            kind: pool.version.claim_kind(),
            name,
            node,
            terminating: claim.pointer("/metadata/deletionTimestamp").is_some(),
            blocked_by: Vec::new(),
            delete: false,
            uid: str_at(claim, "/metadata/uid").map(str::to_string),
        });
    }
    if pool.version == PoolVersion::V1alpha5 {
        // Nodes launched before Machines existed (or whose Machine is gone).
        for (name, node) in cap
            .nodes
            .iter()
            .filter(|(n, v)| owned(v) && !covered_nodes.contains(*n))
        {
            annotations
                .entry(name.clone())
                .or_default()
                .extend(string_map(node.pointer("/metadata/annotations")));
            out.push(Removal {
                kind: "Node",
                name: name.clone(),
                node: Some(name.clone()),
                terminating: node.pointer("/metadata/deletionTimestamp").is_some(),
                blocked_by: Vec::new(),
                delete: false,
                uid: str_at(node, "/metadata/uid").map(str::to_string),
            });
        }
    }
    out.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    out
}

/// Read the cluster and build the plan; nothing is written. Returns the plan, the selected
/// pools in plan order, and every warning (selection and per-pool).
pub async fn build_plan(
    client: &kube::Client,
    opts: &Options,
) -> Result<(Plan, Vec<Pool>, Vec<String>), ScaleError> {
    check_selection(&opts.selection)?;
    let all = discover_pools(client, opts.selection.kind).await?;
    let (pools, mut warnings) = select(all, &opts.selection)?;
    let mut plans = Vec::new();
    for pool in &pools {
        let v = pool.version;
        let (action, t) = match transform(&pool.object, v, opts) {
            Ok(r) => r,
            Err(e) => {
                // One pool's bad record or shape does not hold up the others.
                let (current_limits, current_replicas) =
                    record::current_fields(&pool.object, v).unwrap_or((Value::Null, None));
                plans.push(PoolPlan {
                    name: pool.name().to_string(),
                    kind: v.pool_kind(),
                    api_version: v,
                    action: PoolAction::Refused,
                    new_limits: current_limits.clone(),
                    new_replicas: current_replicas,
                    current_limits,
                    current_replicas,
                    update: false,
                    removals: Vec::new(),
                    warnings: Vec::new(),
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        let (current_limits, current_replicas) = record::current_fields(&pool.object, v)?;
        let mut plan = PoolPlan {
            name: pool.name().to_string(),
            kind: v.pool_kind(),
            api_version: v,
            action,
            new_limits: t
                .as_ref()
                .map(|t| t.fields.new_limits.clone())
                .unwrap_or_else(|| current_limits.clone()),
            new_replicas: t
                .as_ref()
                .map(|t| t.fields.new_replicas)
                .unwrap_or(current_replicas),
            current_limits,
            current_replicas,
            update: t.as_ref().is_some_and(|t| t.changed),
            removals: Vec::new(),
            warnings: Vec::new(),
            error: None,
        };
        if let Some(note) = changed_while_down(pool, opts.direction, t.as_ref()) {
            plan.warnings.push(note);
        }
        if action == PoolAction::NoRecord {
            plan.warnings.push(format!(
                "no {} annotation: it was not scaled down by this command; left alone \
                 (--limits cpu=…,memory=… restores it to the limits you give)",
                record::SAVED_STATE_ANNOTATION
            ));
        }
        if action == PoolAction::Restore && opts.restore_limits.is_some() {
            plan.warnings.push(
                "restored from its record; --limits is only used for pools without a usable record"
                    .to_string(),
            );
        }
        plans.push(plan);
    }
    if opts.direction == Direction::Down && !opts.keep_nodes && !pools.is_empty() {
        add_removals(client, &pools, &mut plans, opts.force).await?;
    }
    let plan = Plan {
        direction: opts.direction,
        dry_run: opts.dry_run,
        pools: plans,
    };
    warnings.extend(plan.warnings());
    Ok((plan, pools, warnings))
}

/// The transform `opts` asks for on one pool object: its action and the new object (`None`:
/// left alone). Used for the plan and again on every re-read after a write conflict.
fn transform(
    object: &Value,
    v: PoolVersion,
    opts: &Options,
) -> Result<(PoolAction, Option<record::Transformed>), RecordError> {
    Ok(match opts.direction {
        Direction::Down => {
            let t = record::scale_down_checked(object, v, opts.force)?;
            let action = if t.already_recorded {
                PoolAction::AlreadyRecorded
            } else {
                PoolAction::RecordAndZero
            };
            (action, Some(t))
        }
        Direction::Up => match record::restore(object, v, opts.restore_limits.as_ref())? {
            record::Restore::FromRecord(t) => (PoolAction::Restore, Some(t)),
            record::Restore::FromLimits(t) => (PoolAction::RestoreFromLimits, Some(t)),
            record::Restore::NoRecord => (PoolAction::NoRecord, None),
        },
    })
}

/// A pool that has a record (so it is scaled down) but whose limits or replicas are no longer
/// the zeroed ones: someone changed them since. Both directions replace that change, so say so.
fn changed_while_down(
    pool: &Pool,
    direction: Direction,
    t: Option<&record::Transformed>,
) -> Option<String> {
    let t = t?;
    let saved = t.saved.as_ref()?;
    if direction == Direction::Down && !t.already_recorded {
        return None;
    }
    let fields = &t.fields;
    let zeroed = match fields.current_replicas {
        Some(r) => r == 0,
        None => record::zero_limits(&fields.current_limits, pool.version) == fields.current_limits,
    };
    if zeroed {
        return None;
    }
    let now = match fields.current_replicas {
        Some(r) => format!("replicas {r}"),
        None => format!(
            "limits {}",
            super::plan::limits_text(&fields.current_limits)
        ),
    };
    let recorded = match saved.replicas {
        Some(r) => format!("replicas {r}"),
        None => format!("limits {}", super::plan::limits_text(&saved.limits)),
    };
    let what = match direction {
        Direction::Down => {
            format!("scaling down sets them to zero again, and `--restore` puts back the recorded {recorded}")
        }
        Direction::Up => format!("restoring replaces them with the recorded {recorded}"),
    };
    Some(format!(
        "changed since it was scaled down (now {now}, recorded {recorded}); {what}"
    ))
}

async fn add_removals(
    client: &kube::Client,
    pools: &[Pool],
    plans: &mut [PoolPlan],
    force: bool,
) -> Result<(), ScaleError> {
    let mut capacity: BTreeMap<PoolVersion, Capacity> = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    for (pool, plan) in pools.iter().zip(plans.iter_mut()) {
        if plan.action == PoolAction::Refused {
            continue;
        }
        if let std::collections::btree_map::Entry::Vacant(e) = capacity.entry(pool.version) {
            e.insert(read_capacity(client, pool.version).await?);
        }
        if let Some(cap) = capacity.get(&pool.version) {
            plan.removals = removals_for(pool, cap, &mut annotations);
        }
    }
    let nodes: BTreeSet<String> = plans
        .iter()
        .flat_map(|p| {
            p.removals
                .iter()
                .filter(|r| !r.terminating)
                .filter_map(|r| r.node.clone())
        })
        .collect();
    let (pods, pdbs) = if nodes.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let pods: Api<Pod> = Api::all(client.clone());
        let pods = pods
            .list(&ListParams::default())
            .await
            .map_err(kube_err("listing pods"))?
            .items;
        let pdbs: Api<PodDisruptionBudget> = Api::all(client.clone());
        let pdbs = pdbs
            .list(&ListParams::default())
            .await
            .map_err(kube_err("listing poddisruptionbudgets"))?
            .items;
        (pods, pdbs)
    };
    let blocked: BTreeMap<String, Vec<Blocker>> =
        disruption::blockers(&nodes, &annotations, &pods, &pdbs).map_err(ScaleError::Pdb)?;
    for plan in plans.iter_mut() {
        for r in plan.removals.iter_mut() {
            r.blocked_by = removal_blockers(r, &blocked, &annotations);
            r.delete = !r.terminating && (r.blocked_by.is_empty() || force);
            if !r.blocked_by.is_empty() && !force {
                let target = r.node.as_deref().unwrap_or(&r.name);
                plan.warnings.push(format!(
                    "node {target} kept: {}; pass --force to remove it anyway",
                    r.blocked_by
                        .iter()
                        .map(|b| b.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        }
    }
    // Budgets that each node passes alone but a drain of all the deleted nodes exceeds.
    let deleted: BTreeSet<String> = plans
        .iter()
        .flat_map(|p| {
            p.removals
                .iter()
                .filter(|r| r.delete)
                .filter_map(|r| r.node.clone())
        })
        .collect();
    for shortfall in disruption::shortfalls(&deleted, &pods, &pdbs).map_err(ScaleError::Pdb)? {
        for plan in plans.iter_mut() {
            let affected = plan
                .removals
                .iter()
                .any(|r| r.delete && r.node.as_ref().is_some_and(|n| shortfall.nodes.contains(n)));
            if affected {
                plan.warnings.push(shortfall.to_string());
            }
        }
    }
    Ok(())
}

/// The key of a removal in the blocker and annotation maps: its node, else `kind/name`.
fn removal_key(r: &Removal) -> String {
    r.node
        .clone()
        .unwrap_or_else(|| format!("{}/{}", r.kind, r.name))
}

/// What blocks one removal, given the cluster-wide blockers and the annotations seen.
fn removal_blockers(
    r: &Removal,
    blocked: &BTreeMap<String, Vec<Blocker>>,
    annotations: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<Blocker> {
    let key = removal_key(r);
    let mut out = blocked.get(&key).cloned().unwrap_or_default();
    if out.is_empty() {
        // A NodeClaim without a node yet can still carry do-not-disrupt.
        if let Some(a) = annotations
            .get(&key)
            .and_then(|a| a.get(disruption::DO_NOT_DISRUPT))
        {
            if a == "true" {
                out.push(Blocker::NodeDoNotDisrupt {
                    annotation: format!("{}={a}", disruption::DO_NOT_DISRUPT),
                });
            }
        }
    }
    out
}

/// What applying did for one pool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// The pool was written.
    pub updated: bool,
    /// Attempts used (more than 1 after conflicts).
    pub attempts: usize,
    /// `kind/name` of deleted capacity objects.
    pub deleted: Vec<String>,
    /// Planned deletes skipped because a blocker appeared after the plan was shown, each as
    /// `kind/name: why`.
    pub kept: Vec<String>,
}

/// Write one pool: GET (or use `first`), transform, PUT with its resourceVersion; on 409,
/// re-read and re-apply the transform so a concurrent record is never overwritten.
async fn write_pool(
    client: &kube::Client,
    pool: &Pool,
    opts: &Options,
) -> Result<(bool, usize), ScaleError> {
    let api = pool_api(client, pool.version);
    let v = pool.version;
    let name = pool.name().to_string();
    let mut current = pool.object.clone();
    for attempt in 1..=MAX_WRITE_ATTEMPTS {
        let (_, next) = transform(&current, v, opts)?;
        let Some(next) = next.filter(|t| t.changed) else {
            return Ok((false, attempt));
        };
        let obj: DynamicObject = serde_json::from_value(next.object).map_err(|e| {
            ScaleError::Record(RecordError::Malformed {
                kind: v.pool_kind(),
                name: name.clone(),
                problem: format!("cannot encode the updated object: {e}"),
            })
        })?;
        match api.replace(&name, &PostParams::default(), &obj).await {
            Ok(_) => return Ok((true, attempt)),
            Err(e) if is_status(&e, kube::core::Status::is_conflict) => {
                tracing::debug!(pool = %name, attempt, "conflict writing the pool; re-reading");
                tokio::time::sleep(Duration::from_millis(20 * attempt as u64)).await;
                let fresh = api
                    .get(&name)
                    .await
                    .map_err(kube_err(format!("reading {} {name}", v.pool_kind())))?;
                current = to_value(&fresh, v, v.pool_kind());
            }
            Err(e) => return Err(kube_err(format!("updating {} {name}", v.pool_kind()))(e)),
        }
    }
    Err(ScaleError::TooManyConflicts {
        kind: v.pool_kind(),
        name,
    })
}

/// The outcome of one planned delete.
enum Deleted {
    /// Deleted (or already gone).
    Yes,
    /// Kept: a blocker appeared since the plan was shown.
    Kept(Vec<Blocker>),
}

/// Read one object's annotations as JSON, `Ok(None)` when it is gone.
async fn annotations_of(
    api: &Api<DynamicObject>,
    what: &str,
    name: &str,
) -> Result<Option<(Option<String>, BTreeMap<String, String>)>, ScaleError> {
    match api.get(name).await {
        Ok(o) => Ok(Some((
            o.metadata.uid.clone(),
            o.metadata.annotations.clone().unwrap_or_default(),
        ))),
        Err(e) if is_status(&e, kube::core::Status::is_not_found) => Ok(None),
        Err(e) => Err(kube_err(format!("reading {what} {name}"))(e)),
    }
}

/// Delete one planned object. Unless `force`, the blockers are checked again first, from a
/// fresh read of its pods, the PDBs and its (and its node's) annotations: the confirmation may
/// have taken a while. The delete carries the planned uid as a precondition, so an object
/// re-created under the same name since the plan is never deleted in its place.
async fn delete_capacity(
    client: &kube::Client,
    version: PoolVersion,
    r: &Removal,
    force: bool,
) -> Result<Deleted, ScaleError> {
    let node_api: Api<DynamicObject> =
        Api::all_with(client.clone(), &ApiResource::erase::<Node>(&()));
    let api = if r.kind == "Node" {
        node_api.clone()
    } else {
        claim_api(client, version)
    };
    if !force {
        let Some((uid, own)) = annotations_of(&api, r.kind, &r.name).await? else {
            return Ok(Deleted::Yes);
        };
        if r.uid.is_some() && uid != r.uid {
            return Err(ScaleError::Replaced {
                kind: r.kind,
                name: r.name.clone(),
            });
        }
        let mut seen = own;
        if let Some(node) = r.node.as_deref().filter(|_| r.kind != "Node") {
            if let Some((_, a)) = annotations_of(&node_api, "Node", node).await? {
                seen.extend(a);
            }
        }
        let annotations = BTreeMap::from([(removal_key(r), seen)]);
        let nodes: BTreeSet<String> = r.node.iter().cloned().collect();
        let (pods, pdbs) = if nodes.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let pods: Api<Pod> = Api::all(client.clone());
            let pdbs: Api<PodDisruptionBudget> = Api::all(client.clone());
            (
                pods.list(&ListParams::default())
                    .await
                    .map_err(kube_err("listing pods"))?
                    .items,
                pdbs.list(&ListParams::default())
                    .await
                    .map_err(kube_err("listing poddisruptionbudgets"))?
                    .items,
            )
        };
        let blocked =
            disruption::blockers(&nodes, &annotations, &pods, &pdbs).map_err(ScaleError::Pdb)?;
        let now = removal_blockers(r, &blocked, &annotations);
        if !now.is_empty() {
            return Ok(Deleted::Kept(now));
        }
    }
    let params = DeleteParams {
        preconditions: r.uid.clone().map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&r.name, &params).await {
        Ok(_) => Ok(Deleted::Yes),
        Err(e) if is_status(&e, kube::core::Status::is_not_found) => Ok(Deleted::Yes),
        Err(e) if is_status(&e, kube::core::Status::is_conflict) => Err(ScaleError::Replaced {
            kind: r.kind,
            name: r.name.clone(),
        }),
        Err(e) => Err(kube_err(format!("deleting {} {}", r.kind, r.name))(e)),
    }
}

/// Apply a plan: first every pool write (so no new capacity launches), then the deletions of
/// pools whose write succeeded. Failures of one pool do not stop the others: what was done is
/// returned alongside the error (a [`ScaleError::Partial`]) so it can still be reported.
pub async fn apply(
    client: &kube::Client,
    plan: &Plan,
    pools: &[Pool],
    opts: &Options,
) -> (Vec<Applied>, Result<(), ScaleError>) {
    let mut applied = vec![Applied::default(); pools.len()];
    let mut errors = Vec::new();
    let mut ok = vec![false; pools.len()];
    for (i, (pool, p)) in pools.iter().zip(&plan.pools).enumerate() {
        if matches!(p.action, PoolAction::NoRecord | PoolAction::Refused) {
            continue;
        }
        match write_pool(client, pool, opts).await {
            Ok((updated, attempts)) => {
                applied[i].updated = updated;
                applied[i].attempts = attempts;
                ok[i] = true;
            }
            Err(e) => errors.push(e),
        }
    }
    for (i, (pool, p)) in pools.iter().zip(&plan.pools).enumerate() {
        if !ok[i] {
            continue;
        }
        for r in p.removals.iter().filter(|r| r.delete) {
            let what = format!("{}/{}", r.kind.to_lowercase(), r.name);
            match delete_capacity(client, pool.version, r, opts.force).await {
                Ok(Deleted::Yes) => applied[i].deleted.push(what),
                Ok(Deleted::Kept(why)) => applied[i].kept.push(format!(
                    "{what}: {} (since the plan was shown; pass --force to remove it anyway)",
                    why.iter()
                        .map(|b| b.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
                Err(e) => errors.push(e),
            }
        }
    }
    let result = if errors.is_empty() {
        Ok(())
    } else {
        Err(ScaleError::Partial(errors))
    };
    (applied, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(version: PoolVersion, name: &str, labels: Value) -> Pool {
        Pool {
            version,
            object: json!({"metadata": {"name": name, "labels": labels}, "spec": {}}),
        }
    }

    fn names(pools: &[Pool]) -> Vec<&str> {
        pools.iter().map(Pool::name).collect()
    }

    fn pools() -> Vec<Pool> {
        vec![
            pool(PoolVersion::V1, "general", json!({"env": "dev"})),
            pool(PoolVersion::V1, "gpu", json!({"env": "prod"})),
            pool(PoolVersion::V1alpha5, "legacy", json!({"env": "dev"})),
            pool(PoolVersion::V1alpha5, "general", json!({})),
        ]
    }

    #[test]
    fn selection_modes() {
        let by_label = Selection {
            selector: Some("env=dev".into()),
            ..Default::default()
        };
        assert_eq!(
            names(&select(pools(), &by_label).unwrap().0),
            ["general", "legacy"]
        );
        let all_np = Selection {
            all: true,
            kind: Some(KindFilter::Nodepool),
            exclude: vec!["gpu".into()],
            ..Default::default()
        };
        assert_eq!(names(&select(pools(), &all_np).unwrap().0), ["general"]);
        let named = Selection {
            names: vec!["gpu".into(), "legacy".into()],
            ..Default::default()
        };
        assert_eq!(
            names(&select(pools(), &named).unwrap().0),
            ["gpu", "legacy"]
        );
    }

    #[test]
    fn selection_errors() {
        let err = |s: Selection| select(pools(), &s).unwrap_err();
        assert!(matches!(err(Selection::default()), ScaleError::NoSelection));
        assert!(matches!(
            err(Selection {
                all: true,
                names: vec!["gpu".into()],
                ..Default::default()
            }),
            ScaleError::ConflictingSelection
        ));
        let e = err(Selection {
            names: vec!["general".into()],
            ..Default::default()
        });
        assert!(matches!(e, ScaleError::Ambiguous { .. }), "{e}");
        assert!(e.to_string().contains("--kind"), "{e}");
        let only_np = Selection {
            names: vec!["general".into()],
            kind: Some(KindFilter::Nodepool),
            ..Default::default()
        };
        assert_eq!(
            select(pools(), &only_np).unwrap().0[0].version,
            PoolVersion::V1
        );
        let e = err(Selection {
            names: vec!["nope".into(), "gpu".into()],
            ..Default::default()
        })
        .to_string();
        assert!(
            e.contains("nope not found") && e.contains("existing: general, gpu, legacy, general"),
            "{e}"
        );
        let e = err(Selection {
            selector: Some("env=qa".into()),
            ..Default::default()
        })
        .to_string();
        assert!(e.contains("matches no"), "{e}");
        assert!(matches!(
            err(Selection {
                selector: Some("env in (".into()),
                ..Default::default()
            }),
            ScaleError::Selector(_)
        ));
        assert!(matches!(
            err(Selection {
                names: vec!["gpu".into()],
                exclude: vec!["gpu".into()],
                ..Default::default()
            }),
            ScaleError::AllExcluded
        ));
    }

    #[test]
    fn removals_link_claims_to_nodes_and_find_orphan_provisioner_nodes() {
        let cap = Capacity {
            claims: vec![
                json!({"metadata": {"name": "m1", "labels": {"karpenter.sh/provisioner-name": "legacy"}},
                       "status": {"providerID": "aws:///i-1"}}),
                json!({"metadata": {"name": "m2", "labels": {"karpenter.sh/provisioner-name": "other"}}}),
            ],
            nodes: [
                ("n1".to_string(), json!({"metadata": {"name": "n1", "labels": {"karpenter.sh/provisioner-name": "legacy"}}, "spec": {"providerID": "aws:///i-1"}})),
                ("n2".to_string(), json!({"metadata": {"name": "n2", "labels": {"karpenter.sh/provisioner-name": "legacy"}}, "spec": {"providerID": "aws:///i-2"}})),
                ("n3".to_string(), json!({"metadata": {"name": "n3"}})),
            ]
            .into(),
        };
        let mut ann = BTreeMap::new();
        let r = removals_for(
            &pool(PoolVersion::V1alpha5, "legacy", json!({})),
            &cap,
            &mut ann,
        );
        let got: Vec<(&str, &str, Option<&str>)> = r
            .iter()
            .map(|r| (r.kind, r.name.as_str(), r.node.as_deref()))
            .collect();
        assert_eq!(
            got,
            [("Machine", "m1", Some("n1")), ("Node", "n2", Some("n2"))]
        );
    }
}
