//! Garbage collection, three sweeps:
//!
//! * **Instances** (upstream `aws/karpenter-provider-aws:
//!   pkg/controllers/nodeclaim/garbagecollection/controller.go`): instances the provider lists
//!   for this cluster (AWS: tagged `karpenter.sh/nodepool`, `karpenter.k8s.aws/ec2nodeclass` and
//!   `eks:eks-cluster-name=<cluster>`) that no NodeClaim references and that were launched more
//!   than 30 s ago are terminated, and their Node (if any) deleted. The provider is listed
//!   *before* the NodeClaims, as upstream, so a NodeClaim created meanwhile is seen. One
//!   difference: an instance tagged with the name of a NodeClaim that has no `providerID` yet
//!   is kept — its launch is in flight, or a restart will adopt it (see `lifecycle`); upstream
//!   has no adoption and would terminate it. Runs every 10 s for the first 20 passes, then
//!   every 2 min.
//! * **NodeClaims** (upstream `kubernetes-sigs/karpenter:
//!   pkg/controllers/nodeclaim/garbagecollection/controller.go`): a registered NodeClaim whose
//!   instance the provider no longer lists, and whose Node is not Ready, is deleted (every
//!   2 min). Unregistered ones are left to the registration timeout, as upstream.
//! * **Launch templates**: the provider's launch templates for EC2NodeClasses that no longer
//!   exist are deleted (upstream deletes them when a class is finalized,
//!   `pkg/controllers/nodeclass/controller.go`); every 2 min.
//!
//! Nothing the provider does not list as this cluster's is ever touched. Under `dry_run` each
//! sweep logs what it would delete and deletes nothing.
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_api::sh::v1::NodeClaim;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, ResourceExt};

use super::clock::since;
use super::error::{is_not_found, Error, Result};
use super::lifecycle::condition;
use super::Context;
use crate::cloud::provider::CloudError;

/// Upstream's grace before an unreferenced instance is collected.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(30);
/// The instance sweep's period for its first [`FAST_PASSES`] passes.
pub const FAST_PERIOD: Duration = Duration::from_secs(10);
/// Passes at [`FAST_PERIOD`] before [`SLOW_PERIOD`].
pub const FAST_PASSES: u32 = 20;
/// The period of the NodeClaim and launch-template sweeps, and of the instance sweep after the
/// first passes.
pub const SLOW_PERIOD: Duration = Duration::from_secs(120);

/// What one sweep collected (or, under dry-run, would have).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Instance ids terminated.
    pub instances: Vec<String>,
    /// Nodes deleted with them.
    pub nodes: Vec<String>,
    /// NodeClaims deleted.
    pub nodeclaims: Vec<String>,
    /// Launch templates deleted.
    pub launch_templates: Vec<String>,
}

/// Sweep until the task is stopped.
pub async fn run(ctx: Arc<Context>) {
    ctx.state.wait_synced().await;
    let mut passes: u32 = 0;
    let mut last_slow = None;
    loop {
        if let Err(e) = collect_instances(&ctx).await {
            tracing::warn!(error = %e, error_kind = e.kind(), "instance garbage collection failed");
        }
        let now = ctx.clock.now();
        if last_slow.is_none_or(|t| since(now, t) >= SLOW_PERIOD) {
            last_slow = Some(now);
            if let Err(e) = collect_nodeclaims(&ctx).await {
                tracing::warn!(error = %e, error_kind = e.kind(), "nodeclaim garbage collection failed");
            }
            if let Err(e) = collect_launch_templates(&ctx).await {
                tracing::warn!(error = %e, error_kind = e.kind(), "launch template garbage collection failed");
            }
        }
        passes = passes.saturating_add(1);
        let period = if passes <= FAST_PASSES {
            FAST_PERIOD
        } else {
            SLOW_PERIOD
        };
        ctx.clock.sleep(period).await;
    }
}

async fn node_claims(ctx: &Context) -> Result<Vec<NodeClaim>> {
    Ok(Api::<NodeClaim>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list NodeClaims", e))?
        .items)
}

fn provider_id(c: &NodeClaim) -> Option<&str> {
    c.status
        .as_ref()
        .and_then(|s| s.provider_id.as_deref())
        .filter(|p| !p.is_empty())
}

/// Terminate instances no NodeClaim references, launched more than [`ORPHAN_GRACE`] ago.
pub async fn collect_instances(ctx: &Context) -> Result<Collected> {
    let instances = ctx
        .provider
        .list()
        .await
        .map_err(|e| Error::cloud("list instances for garbage collection", e))?;
    let claims = node_claims(ctx).await?;
    let referenced: HashSet<&str> = claims.iter().filter_map(provider_id).collect();
    let adopting: HashSet<String> = claims
        .iter()
        .filter(|c| provider_id(c).is_none())
        .map(ResourceExt::name_any)
        .collect();
    let now = ctx.clock.now();
    let mut out = Collected::default();
    let mut nodes_by_pid: Option<HashMap<String, String>> = None;
    for inst in &instances {
        let pid = inst.provider_id();
        if referenced.contains(pid.as_str())
            || inst.nodeclaim().is_some_and(|n| adopting.contains(n))
            || matches!(inst.state.as_str(), "shutting-down" | "terminated")
            || !inst.tags.contains_key(karpenter_api::labels::NODEPOOL)
        {
            continue;
        }
        let Some(launched) = inst.launch_time else {
            continue;
        };
        if since(now, launched) < ORPHAN_GRACE {
            continue;
        }
        if ctx.settings.dry_run {
            tracing::info!(provider_id = %pid, "dry run: would garbage collect cloudprovider instance");
            out.instances.push(inst.id.clone());
            continue;
        }
        match ctx.provider.delete(&inst.id).await {
            Ok(()) | Err(CloudError::NotFound(_)) => {}
            Err(e) => {
                return Err(Error::cloud(
                    format!("terminate orphaned instance {}", inst.id),
                    e,
                ))
            }
        }
        tracing::info!(provider_id = %pid, nodeclaim = ?inst.nodeclaim(), "garbage collected cloudprovider instance");
        out.instances.push(inst.id.clone());
        if nodes_by_pid.is_none() {
            let nodes = Api::<Node>::all(ctx.client.clone())
                .list(&ListParams::default())
                .await
                .map_err(|e| Error::kube("list Nodes", e))?;
            nodes_by_pid = Some(
                nodes
                    .items
                    .iter()
                    .filter_map(|n| {
                        let p = n.spec.as_ref()?.provider_id.clone()?;
                        Some((p, n.name_any()))
                    })
                    .collect(),
            );
        }
        if let Some(node) = nodes_by_pid.as_ref().and_then(|m| m.get(&pid)) {
            match Api::<Node>::all(ctx.client.clone())
                .delete(node, &DeleteParams::default())
                .await
            {
                Ok(_) => {
                    tracing::info!(node = %node, provider_id = %pid, "garbage collected node");
                    out.nodes.push(node.clone());
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(Error::kube(format!("delete Node {node}"), e)),
            }
        }
    }
    Ok(out)
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Delete registered NodeClaims whose instance the provider no longer lists and whose Node is
/// not Ready.
pub async fn collect_nodeclaims(ctx: &Context) -> Result<Collected> {
    let claims = node_claims(ctx).await?;
    let live: HashSet<String> = ctx
        .provider
        .list()
        .await
        .map_err(|e| Error::cloud("list instances for garbage collection", e))?
        .iter()
        .map(|i| i.provider_id())
        .collect();
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let mut out = Collected::default();
    for c in &claims {
        let registered = condition(c, "Registered").is_some_and(|c| c.status == "True");
        let Some(pid) = provider_id(c) else { continue };
        if !registered || c.metadata.deletion_timestamp.is_some() || live.contains(pid) {
            continue;
        }
        let name = c.name_any();
        let node_name = c.status.as_ref().and_then(|s| s.node_name.clone());
        if let Some(n) = &node_name {
            let node = nodes
                .get_opt(n)
                .await
                .map_err(|e| Error::kube(format!("get Node {n}"), e))?;
            // a Ready Node means kubelet still runs, whatever the provider says
            if node.as_ref().is_some_and(node_ready) {
                continue;
            }
        }
        if ctx.settings.dry_run {
            tracing::info!(nodeclaim = %name, provider_id = %pid, "dry run: would garbage collect nodeclaim with no cloudprovider representation");
            out.nodeclaims.push(name);
            continue;
        }
        match Api::<NodeClaim>::all(ctx.client.clone())
            .delete(&name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(Error::kube(format!("delete NodeClaim {name}"), e)),
        }
        tracing::info!(nodeclaim = %name, node = ?node_name, provider_id = %pid,
            "garbage collecting nodeclaim with no cloudprovider representation");
        out.nodeclaims.push(name);
    }
    Ok(out)
}

/// Delete the provider's launch templates for EC2NodeClasses that no longer exist.
pub async fn collect_launch_templates(ctx: &Context) -> Result<Collected> {
    let classes: BTreeSet<String> = Api::<EC2NodeClass>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list EC2NodeClasses", e))?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    if ctx.settings.dry_run {
        return Ok(Collected::default());
    }
    let deleted = ctx
        .provider
        .garbage_collect_launch_templates(&classes)
        .await
        .map_err(|e| Error::cloud("delete unused launch templates", e))?;
    Ok(Collected {
        launch_templates: deleted,
        ..Collected::default()
    })
}
