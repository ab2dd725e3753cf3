//! Disruption (upstream `pkg/controllers/disruption/controller.go`, `validation.go`,
//! `orchestration/queue.go`): poll the pure engine (`crates/disruption`) and carry out its
//! first wave of commands as upstream's orchestration queue does.
//!
//! Each pass, once the cluster state is synced:
//! 0. each NodePool is stamped with `karpenter.sh/nodepool-hash` and
//!    `karpenter.sh/nodepool-hash-version` of its template (upstream's NodePool hash
//!    controller), which drift detection compares with each NodeClaim's;
//! 1. stale `karpenter.sh/disrupted` taints and `DisruptionReason` conditions are removed from
//!    nodes that are not being deleted (a crash mid-command; no command is in flight between
//!    passes here);
//! 2. the engine plans over the cluster model (upstream's order and limits,
//!    [`Strategy::Karpenter`]: one wave, the first method that acts), with the instance types
//!    the cloud provider lists and the nominations the provisioner recorded;
//! 3. an `Empty` or `Underutilized` command waits
//!    [`Settings::disruption_validation_delay`](super::Settings::disruption_validation_delay)
//!    (upstream's 15 s) and is re-validated with [`karpenter_disruption::validate`] against
//!    fresh state (`Drifted` and `Expired` are not re-validated, as upstream); a command that
//!    fails validation is dropped ("abandoning disruption command");
//! 4. each command starts ("disrupting node(s)", with reason and decision): its candidates are
//!    tainted `karpenter.sh/disrupted:NoSchedule` and their NodeClaims get
//!    `DisruptionReason=True` (reason `Empty`, `Drifted`, `Underutilized` or `Expired`), then
//!    the replacement NodeClaims are created through the provisioner's create (NodePool limits
//!    checked, named and built as any NodeClaim, [`super::nodeclaim`]);
//! 5. the command waits until every replacement is `Initialized`, then deletes the candidates'
//!    NodeClaims ([`super::termination`] drains them);
//! 6. a replacement that cannot be created, that is deleted (insufficient capacity, a
//!    registration timeout) or that does not initialize within the orchestration timeout
//!    (10 min) rolls the command back: the taints and conditions come off and replacements not
//!    yet initialized are deleted.
//!
//! `Expired` (forceful: no budget, PDB or do-not-disrupt check, and no pre-spun replacement,
//! as upstream's expiration controller), `Drifted`, `Empty` and `Underutilized` commands all
//! take this path.
//!
//! The commands of a pass run together and the next pass starts when they are done (upstream
//! keeps polling while commands wait in its queue). With `dry_run` the commands are logged
//! and nothing is written.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use karpenter_api::labels::DISRUPTED_TAINT_KEY;
use karpenter_api::sh::v1::{NodeClaim, NodePool};
use karpenter_disruption::{plan, validate, Command, DisruptionInput, Options, Reason, Strategy};
use karpenter_scheduling::{InstanceType, NodeClaimPlan};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::error::{is_conflict, is_not_found, Error, Result};
use super::lifecycle::{condition, with_condition};
use super::nodeclaim::{node_pool_hash, HASH_VERSION, NODEPOOL_HASH, NODEPOOL_HASH_VERSION};
use super::termination::disrupted_taint;
use super::Context;

/// Upstream's orchestration timeout floor: a replacement must initialize within this.
pub const ORCHESTRATION_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How often a command looks at its replacements.
pub const REPLACEMENT_POLL: Duration = Duration::from_secs(1);
/// The NodeClaim condition naming why its node is being disrupted.
pub const DISRUPTION_REASON: &str = "DisruptionReason";

/// What one finished pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// When the pass started (its view of the cluster is at least this fresh).
    pub started: k8s_openapi::jiff::Timestamp,
    /// Commands it started (none with `dry_run`, which only logs them).
    pub commands: usize,
    /// Nodes it left for now but may disrupt later without anything else changing:
    /// `consolidateAfter` not elapsed, a budget used up, not initialized, nominated or
    /// already deleting.
    pub waiting: usize,
}

impl PassReport {
    /// Nothing to do now, and nothing that only needs time.
    pub fn idle(&self) -> bool {
        self.commands == 0 && self.waiting == 0
    }
}

/// Run until aborted.
pub async fn run(ctx: Arc<Context>) {
    ctx.state.wait_synced().await;
    loop {
        let started = ctx.clock.now();
        let acted = match pass(&ctx).await {
            Ok(n) => {
                let mut last = ctx
                    .last_disruption_pass
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *last = Some(PassReport {
                    started,
                    commands: n.commands,
                    waiting: n.waiting,
                });
                n.commands > 0
            }
            Err(e) => {
                tracing::error!(error = %e, error_kind = e.kind(), "disruption pass failed");
                false
            }
        };
        // after a command, look again soon (upstream loops at once; a short pause lets the
        // informers see what the command wrote)
        let wait = if acted {
            REPLACEMENT_POLL
        } else {
            ctx.settings.disruption_poll_period
        };
        ctx.clock.sleep(wait).await;
    }
}

/// The engine's options from the settings.
pub fn options(ctx: &Context) -> Options {
    Options {
        spot_to_spot_consolidation: ctx.settings.feature_gates.spot_to_spot_consolidation,
        strategy: Strategy::Karpenter,
        ..Options::default()
    }
}

/// The engine's input from the current cluster model.
async fn build_input(ctx: &Context) -> Result<DisruptionInput> {
    let types: Vec<InstanceType> = super::provisioner::instance_types(ctx).await?;
    let now = ctx.clock.now();
    let (mut input, notes, nominated) = {
        let c = ctx.state.read();
        let (input, notes) =
            karpenter_disruption::input_from_cluster_with_types(&c, types, now, &BTreeMap::new())
                .map_err(|e| Error::Invalid(format!("disruption input: {e}")))?;
        // the provisioner nominates a Node or, before it registers, its NodeClaim
        let nominated: std::collections::BTreeSet<String> = c
            .state_nodes()
            .iter()
            .filter(|sn| {
                ctx.state.is_nominated(sn.name(), now)
                    || sn
                        .claim
                        .is_some_and(|cl| ctx.state.is_nominated(cl.name(), now))
            })
            .map(|sn| sn.name().to_string())
            .collect();
        (input, notes, nominated)
    };
    for n in &notes {
        tracing::debug!(note = %n, "disruption input");
    }
    for n in &mut input.nodes {
        n.nominated = nominated.contains(n.name());
    }
    Ok(input)
}

/// What [`pass`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Passed {
    /// Commands started (none with `dry_run`).
    pub commands: usize,
    /// Nodes waiting on time alone (see [`PassReport::waiting`]).
    pub waiting: usize,
}

/// Blockers that lift with time alone.
fn waits(b: &karpenter_disruption::Blocker) -> bool {
    use karpenter_disruption::Blocker as B;
    matches!(
        b,
        B::ConsolidateAfter | B::Budget(_) | B::NotInitialized | B::Nominated | B::Deleting
    )
}

/// One pass: how many commands started, and how many nodes wait on time alone.
pub async fn pass(ctx: &Context) -> Result<Passed> {
    ctx.state.wait_synced().await;
    if ctx.state.read().node_pools().next().is_none() {
        return Ok(Passed::default()); // nothing is Karpenter's to disrupt
    }
    if !ctx.settings.dry_run {
        stamp_node_pool_hashes(ctx).await?;
        remove_stale_taints(ctx).await?;
    }
    let opts = options(ctx);
    let input = build_input(ctx).await?;
    if input.nodes.is_empty() {
        return Ok(Passed::default());
    }
    let o = opts.clone();
    let evaluating = std::time::Instant::now();
    let (planned, _) = tokio::task::spawn_blocking(move || plan(&input, &o))
        .await
        .map_err(|e| Error::Invalid(format!("the disruption engine did not finish: {e}")))?
        .map_err(|e| Error::Invalid(format!("disruption: {e}")))?;
    ctx.metrics
        .scheduling_duration("disruption", evaluating.elapsed().as_secs_f64());
    tracing::debug!(
        duration_ms = evaluating.elapsed().as_millis() as u64,
        commands = planned.commands.len(),
        "disruption plan"
    );
    for u in &planned.unchosen {
        tracing::debug!(node = %u.node, reason = %u.reason, "not disrupting node");
    }
    let waiting = planned
        .unchosen
        .iter()
        .filter(|u| waits(&u.blocker))
        .count();
    let Some(first) = planned.commands.iter().map(|c| c.wave).min() else {
        return Ok(Passed {
            commands: 0,
            waiting,
        });
    };
    let planned_count = planned.commands.iter().filter(|c| c.wave == first).count();
    let mut commands: Vec<Command> = planned
        .commands
        .into_iter()
        .filter(|c| c.wave == first)
        .map(|mut c| {
            // expiration is forceful (upstream v1): no pre-spun replacement; the provisioner
            // places the pods of the tainted node
            if c.reason == Reason::Expired {
                c.replacements.clear();
            }
            c
        })
        .collect();
    if ctx.settings.dry_run {
        for c in &commands {
            log_command(c, &[], true);
        }
        return Ok(Passed {
            commands: 0,
            waiting,
        });
    }
    // upstream's validation: wait, then re-check graceful commands against fresh state
    if commands
        .iter()
        .any(|c| matches!(c.reason, Reason::Empty | Reason::Underutilized))
    {
        ctx.clock
            .sleep(ctx.settings.disruption_validation_delay)
            .await;
        let fresh = build_input(ctx).await?;
        let mut kept = Vec::new();
        for c in commands {
            match validate(&fresh, &c, &opts) {
                Ok(v) => kept.push(v),
                Err(e) => {
                    tracing::info!(reason = %c.reason, decision = c.decision(),
                        disrupted_nodes = %c.candidates.join(", "), error = %e,
                        "abandoning disruption command");
                }
            }
        }
        commands = kept;
    }
    let started = join_all(commands.iter().map(|c| execute(ctx, c))).await;
    let mut n = 0;
    // a command that did not go through (validation, a failed start) may be tried again
    let waiting = waiting + planned_count.saturating_sub(commands.len());
    for (c, r) in commands.iter().zip(started) {
        match r {
            Ok(true) => {
                n += 1;
                ctx.metrics.disruption_decision(
                    c.decision(),
                    &c.reason.to_string().to_lowercase(),
                    "",
                );
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(reason = %c.reason, disrupted_nodes = %c.candidates.join(", "),
                error = %e, "disruption command failed")
            }
        }
    }
    Ok(Passed {
        commands: n,
        waiting: waiting + commands.len() - n,
    })
}

fn log_command(c: &Command, replacements: &[String], dry_run: bool) {
    tracing::info!(
        reason = %c.reason.to_string().to_lowercase(),
        decision = c.decision(),
        disrupted_node_count = c.candidates.len(),
        replacement_node_count = c.replacements.len(),
        disrupted_nodes = %c.candidates.join(", "),
        replacement_nodes = %replacements.join(", "),
        replacement_instance_types = %c.replacements.iter().map(|r| r.instance_type.as_str()).collect::<Vec<_>>().join(", "),
        savings_per_hour = c.savings_per_hour,
        dry_run,
        "disrupting node(s)"
    );
}

fn nodes(ctx: &Context) -> Api<Node> {
    Api::all(ctx.client.clone())
}

fn claims(ctx: &Context) -> Api<NodeClaim> {
    Api::all(ctx.client.clone())
}

/// The NodeClaim of a candidate node (by Node name, or the NodeClaim's own name).
async fn claim_of(ctx: &Context, node: &str) -> Result<Option<NodeClaim>> {
    // the cluster model names it; read it fresh by name rather than list them all
    let cached: Option<String> = ctx
        .state
        .read()
        .node_claims()
        .find(|c| c.name() == node || c.node_name() == Some(node))
        .map(|c| c.name().to_string());
    if let Some(name) = cached {
        let fresh = claims(ctx)
            .get_opt(&name)
            .await
            .map_err(|e| Error::kube(format!("get NodeClaim {name}"), e))?;
        if fresh.is_some() {
            return Ok(fresh);
        }
    }
    Ok(claims(ctx)
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list NodeClaims", e))?
        .items
        .into_iter()
        .find(|c| {
            c.name_any() == node
                || c.status.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
        }))
}

/// Run one command; true once its candidates were deleted.
async fn execute(ctx: &Context, cmd: &Command) -> Result<bool> {
    // 1. taint the candidates and mark their NodeClaims
    let mut tainted: Vec<String> = Vec::new();
    for n in &cmd.candidates {
        match mark(ctx, n, &cmd.reason.to_string()).await {
            Ok(()) => tainted.push(n.clone()),
            Err(e) => {
                tracing::warn!(node = %n, error = %e, "cannot mark candidate; rolling back");
                rollback(ctx, &tainted, &[]).await;
                return Ok(false);
            }
        }
    }
    // 2. create the replacements
    let pools: BTreeMap<String, NodePool> = ctx
        .state
        .read()
        .node_pools()
        .map(|e| (e.scheduling.name.clone(), e.pool.clone()))
        .collect();
    let listed: Vec<InstanceType> = if cmd.replacements.is_empty() {
        Vec::new()
    } else {
        super::provisioner::instance_types(ctx).await?
    };
    let by_name: HashMap<&str, &InstanceType> =
        listed.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut created: Vec<String> = Vec::new();
    for r in &cmd.replacements {
        let plan = NodeClaimPlan {
            node_pool: r.node_pool.clone(),
            instance_types: r.instance_types.clone().into(),
            instance_type: r.instance_type.clone(),
            zone: r.zone.clone(),
            capacity_type: r.capacity_type.clone(),
            price_per_hour: r.price_per_hour,
            pods: Vec::new(),
            requests: r.requests.clone(),
            requirements: String::new(),
            node_requirements: Arc::new(r.requirements.clone().unwrap_or_default()),
        };
        match super::provisioner::create(ctx, &plan, &pools, &by_name, &[]).await {
            Ok(name) => {
                ctx.metrics.nodeclaim_created(
                    &cmd.reason.to_string().to_lowercase(),
                    &plan.node_pool,
                    false,
                );
                created.push(name);
            }
            Err(why) => {
                tracing::error!(reason = %cmd.reason, disrupted_nodes = %cmd.candidates.join(", "),
                    error = %why, "failed to launch replacement nodeclaim; rolling back");
                rollback(ctx, &tainted, &created).await;
                return Ok(false);
            }
        }
    }
    log_command(cmd, &created, false);
    for n in &cmd.candidates {
        let note = format!("Disrupting Node: {}/{}", cmd.reason, cmd.decision());
        let node_ref = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(n.clone()),
            ..ObjectReference::default()
        };
        ctx.event(&node_ref, EventType::Normal, "DisruptionTerminating", note)
            .await;
    }
    // 3. wait for the replacements to initialize
    let start = ctx.clock.now();
    let mut initialized = vec![false; created.len()];
    while initialized.iter().any(|i| !i) {
        for (i, name) in created.iter().enumerate() {
            if initialized[i] {
                continue;
            }
            match claims(ctx).get_opt(name).await {
                Ok(Some(c)) if c.metadata.deletion_timestamp.is_none() => {
                    initialized[i] =
                        condition(&c, "Initialized").is_some_and(|c| c.status == "True");
                }
                Ok(_) => {
                    tracing::error!(nodeclaim = %name, disrupted_nodes = %cmd.candidates.join(", "),
                        "replacement nodeclaim was deleted before it initialized; rolling back");
                    let pending: Vec<String> = created
                        .iter()
                        .zip(&initialized)
                        .filter(|(_, i)| !**i)
                        .map(|(n, _)| n.clone())
                        .collect();
                    rollback(ctx, &tainted, &pending).await;
                    return Ok(false);
                }
                Err(e) => tracing::debug!(nodeclaim = %name, error = %e, "get replacement"),
            }
        }
        if initialized.iter().all(|i| *i) {
            break;
        }
        if super::clock::since(ctx.clock.now(), start) >= ORCHESTRATION_TIMEOUT {
            tracing::error!(disrupted_nodes = %cmd.candidates.join(", "), replacement_nodes = %created.join(", "),
                timeout = ?ORCHESTRATION_TIMEOUT, "replacements did not initialize in time; rolling back");
            let pending: Vec<String> = created
                .iter()
                .zip(&initialized)
                .filter(|(_, i)| !**i)
                .map(|(n, _)| n.clone())
                .collect();
            rollback(ctx, &tainted, &pending).await;
            return Ok(false);
        }
        ctx.clock.sleep(REPLACEMENT_POLL).await;
    }
    // 4. delete the candidates' NodeClaims; termination drains them
    for n in &cmd.candidates {
        let mut tries = 0;
        loop {
            tries += 1;
            let r = match claim_of(ctx, n).await? {
                Some(c) => claims(ctx)
                    .delete(&c.name_any(), &DeleteParams::default())
                    .await
                    .map(|_| ()),
                None => Ok(()),
            };
            match r {
                Ok(()) => break,
                Err(e) if is_not_found(&e) => break,
                Err(e) if tries < 3 => {
                    tracing::warn!(node = %n, error = %e, "deleting candidate nodeclaim; retrying");
                    ctx.clock.sleep(REPLACEMENT_POLL).await;
                }
                Err(e) => return Err(Error::kube(format!("delete the NodeClaim of {n}"), e)),
            }
        }
    }
    Ok(true)
}

/// Taint a candidate's Node `karpenter.sh/disrupted:NoSchedule` and set its NodeClaim's
/// `DisruptionReason`.
async fn mark(ctx: &Context, node: &str, reason: &str) -> Result<()> {
    for _ in 0..5 {
        let Some(n) = nodes(ctx)
            .get_opt(node)
            .await
            .map_err(|e| Error::kube(format!("get Node {node}"), e))?
        else {
            return Err(Error::Invalid(format!("Node {node} is gone")));
        };
        if n.metadata.deletion_timestamp.is_some() {
            return Err(Error::Invalid(format!("Node {node} is being deleted")));
        }
        let mut m = n.clone();
        let spec = m.spec.get_or_insert_with(Default::default);
        let mut taints = spec.taints.take().unwrap_or_default();
        taints.retain(|t| t.key != DISRUPTED_TAINT_KEY);
        taints.push(disrupted_taint());
        spec.taints = Some(taints);
        match nodes(ctx).replace(node, &PostParams::default(), &m).await {
            Ok(_) => break,
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(Error::kube(format!("taint Node {node}"), e)),
        }
    }
    let mut last = None;
    for _ in 0..3 {
        let Some(c) = claim_of(ctx, node).await? else {
            return Err(Error::Invalid(format!("Node {node} has no NodeClaim")));
        };
        match set_reason(ctx, &c, Some(reason)).await {
            Ok(()) => return Ok(()),
            // another writer moved the NodeClaim on: read it again
            Err(Error::Kube { source, .. }) if is_conflict(&source) => last = Some(source),
            Err(e) => return Err(e),
        }
    }
    Err(match last {
        Some(e) => Error::kube(
            format!("set {DISRUPTION_REASON} on the NodeClaim of {node}"),
            e,
        ),
        None => Error::Invalid(format!("the NodeClaim of {node} kept changing")),
    })
}

/// Set (or with `None` remove) a NodeClaim's `DisruptionReason` condition.
async fn set_reason(ctx: &Context, claim: &NodeClaim, reason: Option<&str>) -> Result<()> {
    let name = claim.name_any();
    let conds = match reason {
        Some(r) => with_condition(claim, DISRUPTION_REASON, "True", r, r, ctx.clock.now()),
        None => {
            let mut c = claim
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            if !c.iter().any(|c| c.type_ == DISRUPTION_REASON) {
                return Ok(());
            }
            c.retain(|c| c.type_ != DISRUPTION_REASON);
            c
        }
    };
    match claims(ctx)
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"resourceVersion": claim.resource_version()},
                "status": {"conditions": conds},
            })),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::kube(
            format!("set {DISRUPTION_REASON} on NodeClaim {name}"),
            e,
        )),
    }
}

/// Remove the disrupted taint from a Node (conflicts retried).
async fn untaint(ctx: &Context, node: &str) -> Result<()> {
    for _ in 0..5 {
        let Some(n) = nodes(ctx)
            .get_opt(node)
            .await
            .map_err(|e| Error::kube(format!("get Node {node}"), e))?
        else {
            return Ok(());
        };
        let has = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| t.iter().any(|t| t.key == DISRUPTED_TAINT_KEY));
        if !has {
            return Ok(());
        }
        let mut m = n.clone();
        if let Some(t) = m.spec.as_mut().and_then(|s| s.taints.as_mut()) {
            t.retain(|t| t.key != DISRUPTED_TAINT_KEY);
        }
        match nodes(ctx).replace(node, &PostParams::default(), &m).await {
            Ok(_) => return Ok(()),
            Err(e) if is_conflict(&e) => continue,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(Error::kube(format!("untaint Node {node}"), e)),
        }
    }
    Err(Error::Invalid(format!(
        "Node {node} kept changing while its taint was removed"
    )))
}

/// Undo a command: untaint the candidates, clear their `DisruptionReason`, delete the
/// replacements not yet initialized. Failures are logged (the next pass's stale-taint
/// cleanup repeats the undo).
async fn rollback(ctx: &Context, candidates: &[String], replacements: &[String]) {
    for n in candidates {
        if let Err(e) = untaint(ctx, n).await {
            tracing::warn!(node = %n, error = %e, "rolling back: untaint");
        }
        match claim_of(ctx, n).await {
            Ok(Some(c)) => {
                if let Err(e) = set_reason(ctx, &c, None).await {
                    tracing::warn!(node = %n, error = %e, "rolling back: condition");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(node = %n, error = %e, "rolling back"),
        }
    }
    for r in replacements {
        match claims(ctx).delete(r, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(nodeclaim = %r, "rolling back: deleted replacement nodeclaim"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                tracing::warn!(nodeclaim = %r, error = %e, "rolling back: delete replacement")
            }
        }
    }
}

/// Upstream's NodePool hash controller (`pkg/controllers/nodepool/hash/controller.go`): each
/// NodePool carries `karpenter.sh/nodepool-hash` and `karpenter.sh/nodepool-hash-version` of
/// its current template, which drift detection compares with each NodeClaim's. NodeClaims of
/// another hash version are re-stamped by [`super::hash`], which stamps NodePools too.
async fn stamp_node_pool_hashes(ctx: &Context) -> Result<()> {
    let pools: Vec<NodePool> = ctx
        .state
        .read()
        .node_pools()
        .map(|e| e.pool.clone())
        .collect();
    let api: Api<NodePool> = Api::all(ctx.client.clone());
    for p in pools {
        let hash = node_pool_hash(&p);
        let a = p.annotations();
        if a.get(NODEPOOL_HASH) == Some(&hash)
            && a.get(NODEPOOL_HASH_VERSION).map(String::as_str) == Some(HASH_VERSION)
        {
            continue;
        }
        let name = p.name_any();
        match api
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {
                    NODEPOOL_HASH: hash, NODEPOOL_HASH_VERSION: HASH_VERSION,
                }}})),
            )
            .await
        {
            Ok(updated) => {
                // drift reads the pool from the model: do not wait for the informer
                let name = updated.name_any();
                let skip = karpenter_state::nodepool::unusable_reason(&updated)
                    .map(|why| format!("NodePool {name:?} is skipped: {why}"));
                if let Err(e) = ctx.state.write().upsert_node_pool(updated, skip) {
                    tracing::warn!(nodepool = %name, error = %e, "ignoring nodepool");
                }
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::kube(format!("stamp the hash of NodePool {name}"), e)),
        }
    }
    Ok(())
}

/// Upstream's crash recovery: a Node tainted disrupted (or a NodeClaim with
/// `DisruptionReason`) that is not being deleted belongs to no command (none is in flight
/// between passes): undo the mark.
async fn remove_stale_taints(ctx: &Context) -> Result<()> {
    let all_claims = claims(ctx)
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list NodeClaims", e))?
        .items;
    let all_nodes = nodes(ctx)
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list Nodes", e))?
        .items;
    for n in &all_nodes {
        let name = n.name_any();
        let tainted = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| t.iter().any(|t| t.key == DISRUPTED_TAINT_KEY));
        if !tainted || n.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let pid = n.spec.as_ref().and_then(|s| s.provider_id.as_deref());
        let claim_deleting = all_claims.iter().any(|c| {
            c.metadata.deletion_timestamp.is_some()
                && (c.status.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                    || (pid.is_some()
                        && c.status.as_ref().and_then(|s| s.provider_id.as_deref()) == pid))
        });
        if claim_deleting {
            continue;
        }
        tracing::info!(node = %name, "removing a stale disrupted taint");
        untaint(ctx, &name).await?;
    }
    for c in &all_claims {
        if c.metadata.deletion_timestamp.is_none() && condition(c, DISRUPTION_REASON).is_some() {
            set_reason(ctx, c, None).await?;
        }
    }
    Ok(())
}
