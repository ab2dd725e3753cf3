//! The NodeClaim lifecycle controller (upstream `pkg/controllers/nodeclaim/lifecycle/`:
//! `launch.go`, `registration.go`, `initialization.go`, `liveness.go`), on kube-rs's controller
//! runtime: one reconcile per NodeClaim, re-run when the NodeClaim or its Node (matched by
//! provider id) changes.
//!
//! * **Launch** — adds the `karpenter.sh/termination` finalizer, adopts an instance already
//!   tagged with the NodeClaim's name (a restart after a crash mid-launch) or creates one
//!   through the [`CloudProvider`], then writes the instance's labels and `status.providerID`,
//!   `imageID`, `capacity`, `allocatable` and `Launched=True`. Insufficient capacity deletes
//!   the NodeClaim (the offering is already marked unavailable) and re-triggers provisioning,
//!   so the next batch re-plans; other errors set `Launched=Unknown` and retry.
//! * **Register** — finds the Node by provider id; syncs the NodeClaim's labels, annotations,
//!   taints and startup taints onto it (taints not when the Node is labelled
//!   `karpenter.sh/do-not-sync-taints=true`), removes `karpenter.sh/unregistered:NoExecute`,
//!   labels it `karpenter.sh/registered=true`, adds the finalizer and an owner reference, and
//!   sets `status.nodeName` and `Registered=True`. No Node within the registration TTL
//!   (15 min) deletes the NodeClaim.
//! * **Initialize** — once the Node is `Ready`, its startup taints are gone and every extended
//!   resource the NodeClaim requests shows allocatable: label `karpenter.sh/initialized=true`,
//!   `Initialized=True` and `Ready=True`.
//! * **Deleted before registering** — the instance (if any) is terminated and the finalizer
//!   removed. A registered NodeClaim's deletion is [`super::termination`]'s (drain, instance
//!   delete, finalizers).
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Taint as ApiTaint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use karpenter_api::common::Condition;
use karpenter_api::sh::v1::NodeClaim;
use karpenter_scheduling::{labels, InstanceType, NodeSelectorRequirement, Operator, Requirements};
use karpenter_state::translate::taints;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use karpenter_api::labels::{
    DO_NOT_SYNC_TAINTS, NODE_INITIALIZED, NODE_REGISTERED, UNREGISTERED_TAINT_KEY,
};

use super::clock::since;
use super::error::{is_not_found, Error, Result};
use super::nodeclaim::{resource_list, TERMINATION_FINALIZER};
use super::provisioner::claim_types;
use super::Context;
use crate::cloud::provider::{CloudError, Instance, NodeClaimRequest};

/// The `controller` label of this controller's metrics (upstream's controller name).
pub const CONTROLLER: &str = "nodeclaim.lifecycle";

fn nodepool_of(claim: &NodeClaim) -> String {
    claim
        .labels()
        .get(labels::NODEPOOL)
        .cloned()
        .unwrap_or_default()
}

/// How often a launched NodeClaim looks for its Node between Node events.
pub const REGISTRATION_POLL: Duration = Duration::from_secs(5);

/// Run the controller until the stream ends.
pub async fn run(ctx: Arc<Context>) {
    let claims: Api<NodeClaim> = Api::all(ctx.client.clone());
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let controller = Controller::new(claims, watcher::Config::default());
    let store = controller.store();
    let stop = ctx.clone();
    controller
        .watches(nodes, watcher::Config::default(), move |node: Node| {
            let pid = node.spec.and_then(|s| s.provider_id).unwrap_or_default();
            store
                .state()
                .into_iter()
                .filter(|c| {
                    !pid.is_empty()
                        && c.status.as_ref().and_then(|s| s.provider_id.as_deref())
                            == Some(pid.as_str())
                })
                .map(|c| ObjectRef::from_obj(&*c))
                .collect::<Vec<_>>()
        })
        // shutdown: no new reconciles; the running ones finish
        .graceful_shutdown_on(async move { stop.stopped().await })
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "nodeclaim lifecycle");
            }
        })
        .await;
}

fn error_policy(claim: Arc<NodeClaim>, e: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(nodeclaim = %claim.name_any(), error = %e, error_kind = e.kind(), "reconciling nodeclaim failed");
    Action::requeue(Duration::from_secs(5))
}

/// The condition of `type_`, if set.
pub fn condition<'a>(claim: &'a NodeClaim, type_: &str) -> Option<&'a Condition> {
    claim
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_))
}

fn is_true(claim: &NodeClaim, type_: &str) -> bool {
    condition(claim, type_).is_some_and(|c| c.status == "True")
}

/// `conditions` with `type_` set; the transition time moves only when the status changes.
pub(super) fn with_condition(
    claim: &NodeClaim,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Vec<Condition> {
    let mut conds: Vec<Condition> = claim
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let at = conds.iter().position(|c| c.type_ == type_);
    let unchanged = at.is_some_and(|i| conds[i].status == status);
    let c = Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        severity: None,
        observed_generation: claim.metadata.generation,
        last_transition_time: if unchanged {
            at.and_then(|i| conds[i].last_transition_time.clone())
        } else {
            Some(Time(now))
        },
        reason: Some(reason.to_string()),
        message: (!message.is_empty()).then(|| message.to_string()),
    };
    match at {
        Some(i) => conds[i] = c,
        None => conds.push(c),
    }
    conds
}

async fn reconcile(claim: Arc<NodeClaim>, ctx: Arc<Context>) -> Result<Action> {
    // the controller's cache may lag our own last write: act on the current object, so a
    // step is never repeated on a stale copy
    let name = claim.name_any();
    let claim = match api(&ctx).get_opt(&name).await {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(Action::await_change()),
        Err(e) => return Err(Error::kube(format!("get NodeClaim {name}"), e)),
    };
    if claim.metadata.deletion_timestamp.is_some() {
        return finalize(&claim, &ctx).await;
    }
    if !is_true(&claim, "Launched") {
        return launch(&claim, &ctx).await;
    }
    if !is_true(&claim, "Registered") {
        return register(&claim, &ctx).await;
    }
    if !is_true(&claim, "Initialized") {
        return initialize(&claim, &ctx).await;
    }
    Ok(Action::await_change())
}

fn api(ctx: &Context) -> Api<NodeClaim> {
    Api::all(ctx.client.clone())
}

async fn patch_status(ctx: &Context, name: &str, status: serde_json::Value) -> Result<()> {
    api(ctx)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map_err(|e| Error::kube(format!("update NodeClaim {name} status"), e))?;
    Ok(())
}

/// The scheduling model's form of a NodeClaim's `spec.requirements`.
fn requirements(claim: &NodeClaim) -> Result<Requirements> {
    let mut terms = Vec::new();
    for (i, r) in claim.spec.requirements.iter().enumerate() {
        let operator = Operator::parse(&r.operator).ok_or_else(|| {
            Error::Invalid(format!(
                "NodeClaim {}: spec.requirements[{i}].operator: unknown operator {:?}",
                claim.name_any(),
                r.operator
            ))
        })?;
        terms.push(NodeSelectorRequirement {
            key: r.key.clone(),
            operator,
            values: r.values.clone().unwrap_or_default(),
            min_values: r.min_values.and_then(|m| usize::try_from(m).ok()),
        });
    }
    Requirements::from_terms(&terms).map_err(Error::from)
}

async fn launch(claim: &NodeClaim, ctx: &Context) -> Result<Action> {
    let name = claim.name_any();
    // 1. the finalizer first, so an instance never exists without it
    if !claim
        .finalizers()
        .iter()
        .any(|f| f == TERMINATION_FINALIZER)
    {
        let mut fins = claim.finalizers().to_vec();
        fins.push(TERMINATION_FINALIZER.to_string());
        api(ctx)
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {
                    "finalizers": fins,
                    "resourceVersion": claim.resource_version(),
                }})),
            )
            .await
            .map_err(|e| Error::kube(format!("add finalizer to NodeClaim {name}"), e))?;
        // the update re-triggers the reconcile
        return Ok(Action::await_change());
    }
    let class = claim.spec.node_class_ref.name.clone();
    let types = ctx
        .metrics
        .measure_cloud(
            CONTROLLER,
            "GetInstanceTypes",
            ctx.provider.instance_types(&class),
        )
        .await
        .map_err(|e| Error::cloud(format!("list instance types for NodeClaim {name}"), e))?;
    let by_name: HashMap<&str, &InstanceType> =
        types.iter().map(|t| (t.name.as_str(), t)).collect();
    // 2. adopt an instance already launched for this NodeClaim (restart after a crash)
    let existing = ctx
        .metrics
        .measure_cloud(CONTROLLER, "Get", ctx.provider.find_by_nodeclaim(&name))
        .await
        .map_err(|e| Error::cloud(format!("look up the instance of NodeClaim {name}"), e))?;
    let instance = match existing {
        Some(i) => {
            tracing::info!(nodeclaim = %name, provider_id = %i.provider_id(),
                "adopting the instance already launched for this nodeclaim");
            i
        }
        None => {
            let mut taint_list = taints(claim.spec.taints.as_ref(), "spec.taints")?;
            taint_list.extend(taints(
                claim.spec.startup_taints.as_ref(),
                "spec.startupTaints",
            )?);
            let req = NodeClaimRequest {
                nodeclaim: name.clone(),
                nodepool: claim
                    .labels()
                    .get(labels::NODEPOOL)
                    .cloned()
                    .unwrap_or_default(),
                nodeclass: class.clone(),
                requirements: requirements(claim)?,
                instance_types: claim_types(claim, &by_name).into_iter().cloned().collect(),
                labels: claim.labels().clone(),
                taints: taint_list,
            };
            match ctx
                .metrics
                .measure_cloud(CONTROLLER, "Create", ctx.provider.create(&req))
                .await
            {
                Ok(i) => i,
                Err(CloudError::InsufficientCapacity { reason, .. }) => {
                    tracing::error!(nodeclaim = %name, reason = %reason,
                        "failed launching nodeclaim: insufficient capacity; deleting it so the pods are re-planned");
                    delete_claim(ctx, &name).await?;
                    ctx.state.trigger(&format!("nodeclaim/{name}"));
                    return Ok(Action::await_change());
                }
                Err(e) => {
                    let msg = e.to_string();
                    let conds = with_condition(
                        claim,
                        "Launched",
                        "Unknown",
                        "LaunchFailed",
                        &msg,
                        ctx.clock.now(),
                    );
                    patch_status(ctx, &name, json!({ "conditions": conds })).await?;
                    return Err(Error::cloud(format!("launch NodeClaim {name}"), e));
                }
            }
        }
    };
    // 3. the instance's labels (user labels win), then the status
    let it = by_name.get(instance.instance_type.as_str()).copied();
    let mut new_labels: BTreeMap<String, String> = BTreeMap::new();
    if let Some(it) = it {
        new_labels.extend(it.labels.clone());
    }
    new_labels.insert(labels::INSTANCE_TYPE.into(), instance.instance_type.clone());
    new_labels.insert(labels::ZONE.into(), instance.zone.clone());
    new_labels.insert(labels::CAPACITY_TYPE.into(), instance.capacity_type.clone());
    new_labels.insert(labels::REGION.into(), ctx.settings.region.clone());
    new_labels.extend(claim.labels().clone());
    if &new_labels != claim.labels() {
        api(ctx)
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": new_labels}})),
            )
            .await
            .map_err(|e| Error::kube(format!("label NodeClaim {name}"), e))?;
    }
    let (capacity, allocatable) = match it {
        Some(t) => (resource_list(&t.capacity), resource_list(&t.allocatable)),
        None => Default::default(),
    };
    let conds = with_condition(claim, "Launched", "True", "Launched", "", ctx.clock.now());
    patch_status(
        ctx,
        &name,
        json!({
            "providerID": instance.provider_id(),
            "imageID": instance.image_id,
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": conds,
        }),
    )
    .await?;
    tracing::info!(
        nodeclaim = %name,
        provider_id = %instance.provider_id(),
        instance_type = %instance.instance_type,
        zone = %instance.zone,
        capacity_type = %instance.capacity_type,
        allocatable = ?allocatable,
        "launched nodeclaim"
    );
    ctx.metrics.nodeclaim_launched(&nodepool_of(claim));
    Ok(Action::requeue(ctx.settings.registration_ttl))
}

async fn delete_claim(ctx: &Context, name: &str) -> Result<()> {
    match api(ctx).delete(name, &DeleteParams::default()).await {
        Ok(either) => {
            // update the model now, so the next batch does not count this claim
            if let Some(obj) = either.left() {
                if let Ok(e) = karpenter_state::ClaimEntry::new(obj) {
                    ctx.state.write().upsert_node_claim(e);
                }
            } else {
                ctx.state.write().remove_node_claim(name);
            }
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::kube(format!("delete NodeClaim {name}"), e)),
    }
}

fn node_for(ctx: &Context, provider_id: &str) -> Option<String> {
    ctx.state
        .read()
        .state_nodes()
        .iter()
        .filter_map(|s| s.node)
        .find(|n| n.provider_id.as_deref() == Some(provider_id))
        .map(|n| n.name.clone())
}

fn provider_id(claim: &NodeClaim) -> Option<&str> {
    claim
        .status
        .as_ref()
        .and_then(|s| s.provider_id.as_deref())
        .filter(|p| !p.is_empty())
}

async fn register(claim: &NodeClaim, ctx: &Context) -> Result<Action> {
    let name = claim.name_any();
    let pid = provider_id(claim).unwrap_or_default().to_string();
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let found = match node_for(ctx, &pid) {
        Some(n) => nodes
            .get_opt(&n)
            .await
            .map_err(|e| Error::kube(format!("get Node {n}"), e))?,
        None => None,
    };
    let Some(mut node) = found else {
        let launched = condition(claim, "Launched")
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0)
            .unwrap_or_else(|| ctx.clock.now());
        let waited = since(ctx.clock.now(), launched);
        if waited >= ctx.settings.registration_ttl {
            tracing::error!(nodeclaim = %name, provider_id = %pid, ttl = ?ctx.settings.registration_ttl,
                "nodeclaim did not register within the registration ttl; deleting it");
            delete_claim(ctx, &name).await?;
            return Ok(Action::await_change());
        }
        // the Node's watch event re-runs this; the short poll covers a Node the cluster model
        // has not seen yet when that event arrives
        return Ok(Action::requeue(
            (ctx.settings.registration_ttl - waited).min(REGISTRATION_POLL),
        ));
    };
    let node_name = node.name_any();
    // labels and annotations: the NodeClaim's win
    let mut lbls = node.labels().clone();
    lbls.extend(claim.labels().clone());
    lbls.insert(NODE_REGISTERED.into(), "true".into());
    node.metadata.labels = Some(lbls);
    let mut ann = node.annotations().clone();
    ann.extend(claim.annotations().clone());
    node.metadata.annotations = Some(ann);
    let spec = node.spec.get_or_insert_with(Default::default);
    let mut node_taints: Vec<ApiTaint> = spec.taints.take().unwrap_or_default();
    let sync = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(DO_NOT_SYNC_TAINTS))
        .map(String::as_str)
        != Some("true");
    if sync {
        for t in claim
            .spec
            .taints
            .iter()
            .flatten()
            .chain(claim.spec.startup_taints.iter().flatten())
        {
            if !node_taints
                .iter()
                .any(|n| n.key == t.key && n.effect == t.effect)
            {
                node_taints.push(t.clone());
            }
        }
    }
    node_taints.retain(|t| t.key != UNREGISTERED_TAINT_KEY);
    spec.taints = (!node_taints.is_empty()).then_some(node_taints);
    let mut fins = node.finalizers().to_vec();
    if !fins.iter().any(|f| f == TERMINATION_FINALIZER) {
        fins.push(TERMINATION_FINALIZER.into());
    }
    node.metadata.finalizers = Some(fins);
    let owners = node.metadata.owner_references.get_or_insert_with(Vec::new);
    if !owners
        .iter()
        .any(|o| o.kind == "NodeClaim" && o.name == name)
    {
        owners.push(OwnerReference {
            api_version: "karpenter.sh/v1".into(),
            kind: "NodeClaim".into(),
            name: name.clone(),
            uid: claim.uid().unwrap_or_default(),
            block_owner_deletion: Some(true),
            controller: None,
        });
    }
    nodes
        .replace(&node_name, &PostParams::default(), &node)
        .await
        .map_err(|e| Error::kube(format!("sync NodeClaim {name} onto Node {node_name}"), e))?;
    let conds = with_condition(
        claim,
        "Registered",
        "True",
        "Registered",
        "",
        ctx.clock.now(),
    );
    patch_status(
        ctx,
        &name,
        json!({ "nodeName": node_name, "conditions": conds }),
    )
    .await?;
    tracing::info!(nodeclaim = %name, node = %node_name, provider_id = %pid, "registered nodeclaim");
    ctx.metrics.nodeclaim_registered(&nodepool_of(claim));
    Ok(Action::await_change())
}

/// Why a registered Node is not initialized yet, if it is not.
fn not_initialized(claim: &NodeClaim, node: &Node) -> Option<String> {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    if !ready {
        return Some("node is not Ready".into());
    }
    let node_taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    for t in claim.spec.startup_taints.iter().flatten() {
        if node_taints
            .iter()
            .any(|n| n.key == t.key && n.effect == t.effect)
        {
            return Some(format!("startup taint {:?} is still on the node", t.key));
        }
    }
    let alloc = node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.clone())
        .unwrap_or_default();
    let requests = claim
        .spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.clone())
        .unwrap_or_default();
    for k in requests.keys() {
        if k.contains('/') && alloc.get(k).is_none_or(|q| q.0 == "0") {
            return Some(format!("resource {k:?} is not registered on the node"));
        }
    }
    None
}

async fn initialize(claim: &NodeClaim, ctx: &Context) -> Result<Action> {
    let name = claim.name_any();
    let Some(node_name) = claim.status.as_ref().and_then(|s| s.node_name.clone()) else {
        return Ok(Action::await_change());
    };
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let Some(node) = nodes
        .get_opt(&node_name)
        .await
        .map_err(|e| Error::kube(format!("get Node {node_name}"), e))?
    else {
        return Ok(Action::await_change());
    };
    if let Some(why) = not_initialized(claim, &node) {
        tracing::debug!(nodeclaim = %name, node = %node_name, reason = %why, "nodeclaim not initialized yet");
        return Ok(Action::await_change());
    }
    nodes
        .patch(
            &node_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {NODE_INITIALIZED: "true"}}})),
        )
        .await
        .map_err(|e| Error::kube(format!("label Node {node_name} initialized"), e))?;
    let now = ctx.clock.now();
    let mut c = claim.clone();
    c.status.get_or_insert_with(Default::default).conditions = Some(with_condition(
        claim,
        "Initialized",
        "True",
        "Initialized",
        "",
        now,
    ));
    let conds = with_condition(&c, "Ready", "True", "Ready", "", now);
    patch_status(ctx, &name, json!({ "conditions": conds })).await?;
    tracing::info!(nodeclaim = %name, node = %node_name, allocatable = ?node.status.as_ref().and_then(|s| s.allocatable.clone()), "initialized nodeclaim");
    ctx.metrics.nodeclaim_initialized(&nodepool_of(claim));
    Ok(Action::await_change())
}

/// The instance id in an `aws:///<zone>/<id>` provider id.
pub fn instance_id(provider_id: &str) -> &str {
    provider_id.rsplit('/').next().unwrap_or(provider_id)
}

async fn finalize(claim: &NodeClaim, ctx: &Context) -> Result<Action> {
    let name = claim.name_any();
    if !claim
        .finalizers()
        .iter()
        .any(|f| f == TERMINATION_FINALIZER)
    {
        return Ok(Action::await_change());
    }
    let pid = provider_id(claim).map(str::to_string);
    let registered = claim
        .status
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_some()
        || pid.as_deref().and_then(|p| node_for(ctx, p)).is_some();
    if registered {
        // the Node is drained and deleted first (upstream's termination flow)
        return super::termination::finalize_claim(claim, ctx).await;
    }
    let mut instance: Option<Instance> = None;
    if let Some(p) = &pid {
        match ctx
            .metrics
            .measure_cloud(CONTROLLER, "Delete", ctx.provider.delete(instance_id(p)))
            .await
        {
            Ok(()) | Err(CloudError::NotFound(_)) => {}
            Err(e) => {
                return Err(Error::cloud(
                    format!("terminate the instance of NodeClaim {name}"),
                    e,
                ))
            }
        }
    } else {
        // launched but not recorded (a crash between create and the status write)
        let found = ctx
            .metrics
            .measure_cloud(CONTROLLER, "Get", ctx.provider.find_by_nodeclaim(&name))
            .await
            .map_err(|e| Error::cloud(format!("look up the instance of NodeClaim {name}"), e))?;
        if let Some(i) = found {
            match ctx
                .metrics
                .measure_cloud(CONTROLLER, "Delete", ctx.provider.delete(&i.id))
                .await
            {
                Ok(()) | Err(CloudError::NotFound(_)) => {}
                Err(e) => {
                    return Err(Error::cloud(
                        format!("terminate the instance of NodeClaim {name}"),
                        e,
                    ))
                }
            }
            instance = Some(i);
        }
    }
    let fins: Vec<String> = claim
        .finalizers()
        .iter()
        .filter(|f| *f != TERMINATION_FINALIZER)
        .cloned()
        .collect();
    match api(ctx)
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": fins, "resourceVersion": claim.resource_version()}})),
        )
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(Error::kube(format!("remove the finalizer of NodeClaim {name}"), e)),
    }
    tracing::info!(nodeclaim = %name, provider_id = ?pid.or(instance.map(|i| i.provider_id())), "deleted nodeclaim");
    let label = |k: &str| claim.labels().get(k).cloned().unwrap_or_default();
    ctx.metrics.nodeclaim_terminated(
        &nodepool_of(claim),
        &label(labels::CAPACITY_TYPE),
        &label(labels::ZONE),
    );
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_id_is_the_provider_ids_last_segment() {
        assert_eq!(instance_id("aws:///us-west-2a/i-0123"), "i-0123");
        assert_eq!(instance_id("i-9"), "i-9");
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_stays() {
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = Timestamp::from_second(60).unwrap();
        let mut c = NodeClaim::default();
        let conds = with_condition(&c, "Launched", "Unknown", "LaunchFailed", "x", t0);
        c.status = Some(karpenter_api::sh::v1::NodeClaimStatus {
            conditions: Some(conds),
            ..Default::default()
        });
        let again = with_condition(&c, "Launched", "Unknown", "LaunchFailed", "y", t1);
        assert_eq!(again[0].last_transition_time, Some(Time(t0)));
        let done = with_condition(&c, "Launched", "True", "Launched", "", t1);
        assert_eq!(done[0].last_transition_time, Some(Time(t1)));
        assert_eq!(done.len(), 1);
    }
}
