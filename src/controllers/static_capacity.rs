//! Static capacity (upstream `pkg/controllers/static/provisioning/controller.go` and
//! `static/deprovisioning/controller.go`, behind the `StaticCapacity` feature gate, off by
//! default): a NodePool with `spec.replicas` keeps exactly that many NodeClaims, whatever the
//! pods need.
//!
//! - **Scale up**: when fewer NodeClaims of the pool are running (not being deleted) than
//!   `replicas`, the missing ones are created from the pool's template — its requirements and
//!   labels, every compatible instance type cheapest first, no pods — through the
//!   provisioner's [`super::provisioner::create`] (naming, labels, hash annotations, owner).
//!   `spec.limits.nodes` (the only limit a static pool may set) caps the pool's NodeClaims,
//!   counting those being deleted too, as upstream's reservation does.
//! - **Scale down**: when more are running than `replicas`, the surplus is deleted (the
//!   termination controller drains it), chosen as upstream's `getDeprovisioningCandidates`:
//!   NodeClaims not launched yet first, then empty nodes (only DaemonSet pods, none
//!   `karpenter.sh/do-not-disrupt`), then the rest, nodes with a do-not-disrupt pod last and
//!   otherwise fewest reschedulable pods first, the older first among equals (upstream weighs
//!   the rescheduling cost by the lifetime left: an older node costs less).
//!
//! Static pools are never provisioned for ([`karpenter_state::nodepool::unusable_reason`] keeps
//! them out of the provisioner's problem) and never consolidated, emptied or drift-replaced by
//! the disruption engine (`crates/disruption`'s candidates skip them; upstream's `StaticDrift`
//! method is not built). A NodePool that is being deleted or whose `Ready` condition is `False`
//! is left alone. Upstream reconciles on NodePool and NodeClaim events; here one pass lists the
//! NodePools every [`POLL`] on the injected clock.
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use karpenter_api::labels::DO_NOT_DISRUPT;
use karpenter_api::sh::v1::{NodeClaim, NodePool};
use karpenter_scheduling::{InstanceType, NodeClaimPlan, Requirements, Resources};
use karpenter_state::{Cluster, PodRole};
use kube::api::{DeleteParams, ListParams};
use kube::{Api, ResourceExt};

use super::error::{is_not_found, Error, Result};
use super::provisioner::create;
use super::Context;

/// How often the NodePools are looked at.
pub const POLL: Duration = Duration::from_secs(2);
/// Upstream's cap on the instance types a NodeClaim lists.
const MAX_INSTANCE_TYPES: usize = 600;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// NodeClaims created (or, in a dry run, that would be: the pool's name).
    pub created: Vec<String>,
    /// NodeClaims deleted (or that would be).
    pub deleted: Vec<String>,
}

/// Run static capacity until aborted; returns at once when the `StaticCapacity` gate is off.
pub async fn run(ctx: Arc<Context>) {
    if !ctx.settings.feature_gates.static_capacity {
        return;
    }
    ctx.state.wait_synced().await;
    loop {
        if let Err(e) = pass(&ctx).await {
            tracing::error!(error = %e, error_kind = e.kind(), "static capacity failed");
        }
        ctx.clock.sleep(POLL).await;
    }
}

/// One pass over every static NodePool.
pub async fn pass(ctx: &Context) -> Result<Outcome> {
    let pools: Api<NodePool> = Api::all(ctx.client.clone());
    let listed = pools
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list NodePools", e))?
        .items;
    let mut out = Outcome::default();
    for pool in listed {
        let Some(replicas) = pool.spec.replicas else {
            continue;
        };
        if pool.metadata.deletion_timestamp.is_some() || not_ready(&pool) {
            continue;
        }
        let name = pool.name_any();
        let desired = usize::try_from(replicas).unwrap_or(0);
        let (running, all) = {
            let c = ctx.state.read();
            let mine: Vec<_> = c
                .node_claims()
                .filter(|e| e.node_pool() == Some(name.as_str()))
                .collect();
            (mine.iter().filter(|e| !e.deleting()).count(), mine.len())
        };
        if running < desired {
            let limit = karpenter_state::nodepool::scheduling_pool(&pool)
                .ok()
                .and_then(|p| p.limits.get("nodes").copied())
                .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(0));
            let count = (desired - running).min(limit.saturating_sub(all));
            if count == 0 {
                tracing::info!(nodepool = %name, "nodepool node limit reached");
                continue;
            }
            tracing::info!(nodepool = %name, current = running, desired, provision_count = count,
                "provisioning nodeclaims to satisfy replica count");
            scale_up(ctx, &pool, count, &mut out).await?;
        } else if running > desired {
            let count = running - desired;
            tracing::info!(nodepool = %name, current = running, desired, deprovision_count = count,
                "deprovisioning nodeclaims to satisfy replica count");
            let victims = {
                let c = ctx.state.read();
                candidates(&c, &name, count)
            };
            for v in victims {
                if ctx.settings.dry_run {
                    tracing::info!(nodeclaim = %v, dry_run = true, "would delete nodeclaim");
                    out.deleted.push(v);
                    continue;
                }
                let claims: Api<NodeClaim> = Api::all(ctx.client.clone());
                match claims.delete(&v, &DeleteParams::default()).await {
                    Ok(_) => {
                        tracing::info!(nodeclaim = %v, nodepool = %name, "deleting nodeclaim");
                        out.deleted.push(v);
                    }
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(Error::kube(format!("delete NodeClaim {v}"), e)),
                }
            }
        }
    }
    Ok(out)
}

fn not_ready(pool: &NodePool) -> bool {
    pool.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "False")
}

async fn scale_up(ctx: &Context, pool: &NodePool, count: usize, out: &mut Outcome) -> Result<()> {
    let name = pool.name_any();
    let class = pool.spec.template.spec.node_class_ref.name.clone();
    let types =
        ctx.provider.instance_types(&class).await.map_err(|e| {
            Error::cloud(format!("list instance types for EC2NodeClass {class:?}"), e)
        })?;
    let plan = match template_plan(pool, &types) {
        Ok(p) => p,
        Err(why) => {
            tracing::warn!(nodepool = %name, reason = %why, "not creating nodeclaim");
            return Ok(());
        }
    };
    if ctx.settings.dry_run {
        tracing::info!(nodepool = %name, count, instance_types = plan.instance_types.len(), dry_run = true,
            "would create nodeclaim(s)");
        out.created.extend(std::iter::repeat_n(name, count));
        return Ok(());
    }
    let by_name: HashMap<&str, &InstanceType> =
        types.iter().map(|t| (t.name.as_str(), t)).collect();
    let pools = BTreeMap::from([(name.clone(), pool.clone())]);
    for _ in 0..count {
        match create(ctx, &plan, &pools, &by_name, &[]).await {
            Ok(created) => out.created.push(created),
            Err(why) => {
                tracing::warn!(nodepool = %name, reason = %why, "not creating nodeclaim");
                break;
            }
        }
    }
    Ok(())
}

/// The NodeClaim a static pool's template makes (upstream `NewNodeClaimTemplate(nodePool)`):
/// the pool's requirements and labels, no pods, every instance type compatible with them that
/// has an allowed, available offering, cheapest first. The reason when none is.
pub fn template_plan(
    pool: &NodePool,
    types: &[InstanceType],
) -> std::result::Result<NodeClaimPlan, String> {
    let name = pool.name_any();
    let sp = karpenter_state::nodepool::scheduling_pool(pool).map_err(|e| e.to_string())?;
    let mut reqs = Requirements::from_terms(&sp.requirements).map_err(|e| e.to_string())?;
    reqs.add_all(&Requirements::from_labels(&sp.labels));
    let mut fit: Vec<(&InstanceType, f64, String, String)> = types
        .iter()
        .filter(|t| t.labels_compatible(&reqs))
        .filter_map(|t| {
            let o = t.cheapest_offering(&reqs)?;
            Some((t, o.price, o.zone.clone(), o.capacity_type.clone()))
        })
        .collect();
    fit.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.name.cmp(&b.0.name)));
    fit.truncate(MAX_INSTANCE_TYPES);
    let Some((first, price, zone, capacity_type)) = fit.first().cloned() else {
        return Err(format!(
            "no instance type satisfies NodePool {name:?}'s requirements ({reqs})"
        ));
    };
    Ok(NodeClaimPlan {
        node_pool: name,
        instance_types: fit.iter().map(|f| f.0.name.clone()).collect(),
        instance_type: first.name.clone(),
        zone,
        capacity_type,
        price_per_hour: price,
        pods: Vec::new(),
        requests: Resources::default(),
        requirements: reqs.to_string(),
        node_requirements: Arc::new(reqs),
    })
}

/// The `count` NodeClaims of `pool` to delete, in upstream's order (see the module docs).
pub fn candidates(c: &Cluster, pool: &str, count: usize) -> Vec<String> {
    let claims: Vec<_> = c
        .node_claims()
        .filter(|e| e.node_pool() == Some(pool) && !e.deleting())
        .collect();
    let mut out: Vec<String> = claims
        .iter()
        .filter(|e| e.provider_id().is_none())
        .map(|e| e.name().to_string())
        .take(count)
        .collect();
    let taken: HashSet<String> = out.iter().cloned().collect();
    // per node: (has a do-not-disrupt pod, reschedulable pods)
    let mut load: HashMap<&str, (bool, usize)> = HashMap::new();
    for p in c.pods() {
        if let PodRole::Bound(node) = &p.role {
            let e = load.entry(node.as_str()).or_default();
            e.0 |= p.annotations.get(DO_NOT_DISRUPT).map(String::as_str) == Some("true");
            e.1 += usize::from(!p.daemon && !p.terminal);
        }
    }
    let mut rest: Vec<_> = claims
        .iter()
        .filter(|e| !taken.contains(e.name()))
        .map(|e| {
            let (dnd, pods) = e
                .node_name()
                .and_then(|n| load.get(n).copied())
                .unwrap_or_default();
            let empty = pods == 0 && !dnd;
            let created = e.claim.metadata.creation_timestamp.as_ref().map(|t| t.0);
            ((Reverse(empty), dnd, pods, created), e.name().to_string())
        })
        .collect();
    rest.sort();
    out.extend(
        rest.into_iter()
            .map(|(_, n)| n)
            .take(count.saturating_sub(taken.len())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_scheduling::{Catalog, OverheadOptions};
    use karpenter_state::{ClaimEntry, Source, StatePod};
    use serde_json::json;

    fn pool() -> NodePool {
        serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "static"},
            "spec": {"replicas": 2, "template": {
                "metadata": {"labels": {"team": "web"}},
                "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.xlarge", "c5.large", "r5.large"]},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}
                ]}}}
        }))
        .unwrap()
    }

    #[test]
    fn the_template_plan_lists_the_compatible_types_cheapest_first() {
        let types = Catalog::embedded()
            .instance_types("us-east-1", &OverheadOptions::default())
            .unwrap();
        let plan = template_plan(&pool(), &types).unwrap();
        assert_eq!(
            plan.instance_types.to_vec(),
            ["c5.large", "r5.large", "m5.xlarge"],
            "on-demand prices order them"
        );
        assert_eq!(plan.instance_type, "c5.large");
        assert_eq!(plan.capacity_type, "on-demand");
        assert!(plan.pods.is_empty());
        assert_eq!(plan.labels().get("team").map(String::as_str), Some("web"));
        let mut none = pool();
        none.spec.template.spec.requirements[0].values = Some(vec!["no.such".into()]);
        let why = template_plan(&none, &types).unwrap_err();
        assert!(
            why.contains("no instance type satisfies NodePool \"static\""),
            "{why}"
        );
    }

    fn claim(name: &str, node: Option<&str>, created: i64) -> ClaimEntry {
        let mut c = json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "static"},
                         "creationTimestamp": k8s_openapi::jiff::Timestamp::from_second(created).unwrap().to_string()},
            "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                     "requirements": []}
        });
        if let Some(n) = node {
            c["status"] = json!({"providerID": format!("aws:///z/{n}"), "nodeName": n});
        }
        ClaimEntry::new(serde_json::from_value(c).unwrap()).unwrap()
    }

    fn bound(name: &str, node: &str, do_not_disrupt: bool) -> StatePod {
        let mut p = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running"}
        });
        if do_not_disrupt {
            p["metadata"]["annotations"] = json!({"karpenter.sh/do-not-disrupt": "true"});
        }
        StatePod::new(&serde_json::from_value(p).unwrap())
    }

    #[test]
    fn the_surplus_is_unlaunched_then_empty_then_least_loaded_do_not_disrupt_last() {
        let mut c = Cluster::new(Source::Cluster);
        c.upsert_node_claim(claim("busy", Some("n-busy"), 100));
        c.upsert_node_claim(claim("guarded", Some("n-guarded"), 50));
        c.upsert_node_claim(claim("light-new", Some("n-light-new"), 300));
        c.upsert_node_claim(claim("light-old", Some("n-light-old"), 200));
        c.upsert_node_claim(claim("empty", Some("n-empty"), 400));
        c.upsert_node_claim(claim("pending", None, 500));
        for (i, n) in ["n-busy", "n-busy", "n-light-new", "n-light-old"]
            .iter()
            .enumerate()
        {
            c.upsert_pod(bound(&format!("p{i}"), n, false));
        }
        c.upsert_pod(bound("keep", "n-guarded", true));
        assert_eq!(
            candidates(&c, "static", 6),
            [
                "pending",
                "empty",
                "light-old",
                "light-new",
                "busy",
                "guarded"
            ]
        );
        assert_eq!(candidates(&c, "static", 2), ["pending", "empty"]);
        assert!(candidates(&c, "other", 2).is_empty());
    }
}
