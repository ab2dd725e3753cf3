//! The NodePool hash controller (upstream `kubernetes-sigs/karpenter:
//! pkg/controllers/nodepool/hash/controller.go`; karpenter-core.md §3.5 and the drift hash
//! versioning design): each NodePool is annotated with our `karpenter.sh/nodepool-hash` and
//! `karpenter.sh/nodepool-hash-version` ([`HASH_VERSION`]), and every NodeClaim of the pool whose
//! hash version is not ours is **re-stamped** — version set to ours, and, unless it already has
//! a `Drifted` condition, the hash set to the pool's current hash — so a version mismatch never
//! reads as drift (the disruption engine's rule, `crates/disruption/src/drift.rs`, compares
//! hashes only at the same version).
//!
//! That is what lets a cluster move between the in-cluster Karpenter and `run` without a node
//! being replaced: upstream stamps `v3`, we stamp ours, and each side re-stamps what the other
//! left on taking over. Upstream re-stamps NodeClaims only when the NodePool's version changes;
//! this controller re-stamps any NodeClaim whose version differs (a superset: a NodeClaim the
//! other controller created meanwhile is re-stamped too).
//!
//! Not done here: the EC2NodeClass hash (`karpenter.k8s.aws/ec2nodeclass-hash`, upstream's
//! `pkg/controllers/nodeclass/hash/controller.go`). `run` neither computes nor stamps it, so
//! NodeClaims it creates carry none (no EC2NodeClass hash drift for them, the drift rule's
//! "missing annotation" case) and NodeClaims upstream stamped keep upstream's hash and version,
//! compared against the annotations upstream left on the EC2NodeClass.
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use karpenter_api::sh::v1::{NodeClaim, NodePool};
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::error::{is_not_found, Error, Result};
use super::nodeclaim::{node_pool_hash, HASH_VERSION, NODEPOOL_HASH, NODEPOOL_HASH_VERSION};
use super::Context;

/// Run the controller until the stream ends.
pub async fn run(ctx: Arc<Context>) {
    let pools: Api<NodePool> = Api::all(ctx.client.clone());
    let claims: Api<NodeClaim> = Api::all(ctx.client.clone());
    Controller::new(pools, watcher::Config::default())
        .watches(claims, watcher::Config::default(), |c: NodeClaim| {
            let stale = c
                .annotations()
                .get(NODEPOOL_HASH_VERSION)
                .map(String::as_str)
                != Some(HASH_VERSION);
            c.labels()
                .get(karpenter_api::labels::NODEPOOL)
                .filter(|_| stale)
                .map(|p| ObjectRef::<NodePool>::new(p))
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "nodepool hash");
            }
        })
        .await;
}

fn error_policy(np: Arc<NodePool>, e: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(nodepool = %np.name_any(), error = %e, error_kind = e.kind(), "stamping the nodepool hash failed");
    Action::requeue(Duration::from_secs(10))
}

/// The annotations a NodeClaim of a pool hashing to `pool_hash` gets: `None` when its version
/// is already ours. A NodeClaim already `Drifted` keeps its hash (only the version moves).
pub fn restamp(claim: &NodeClaim, pool_hash: &str) -> Option<serde_json::Value> {
    if claim
        .annotations()
        .get(NODEPOOL_HASH_VERSION)
        .map(String::as_str)
        == Some(HASH_VERSION)
    {
        return None;
    }
    let drifted = claim
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Drifted"));
    Some(if drifted {
        json!({ NODEPOOL_HASH_VERSION: HASH_VERSION })
    } else {
        json!({ NODEPOOL_HASH: pool_hash, NODEPOOL_HASH_VERSION: HASH_VERSION })
    })
}

async fn reconcile(np: Arc<NodePool>, ctx: Arc<Context>) -> Result<Action> {
    let name = np.name_any();
    if np.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let hash = node_pool_hash(&np);
    // NodeClaims first, as upstream: a crash in between leaves the pool's old version, so the
    // next pass re-stamps again
    let claims = Api::<NodeClaim>::all(ctx.client.clone());
    let list = claims
        .list(&ListParams::default().labels(&format!("{}={name}", karpenter_api::labels::NODEPOOL)))
        .await
        .map_err(|e| Error::kube(format!("list NodeClaims of NodePool {name}"), e))?;
    for c in &list.items {
        let Some(ann) = restamp(c, &hash) else {
            continue;
        };
        let cname = c.name_any();
        tracing::info!(nodeclaim = %cname, nodepool = %name,
            from_version = ?c.annotations().get(NODEPOOL_HASH_VERSION), to_version = HASH_VERSION,
            dry_run = ctx.settings.dry_run, "re-stamping the nodepool hash of a nodeclaim from another hash version");
        if ctx.settings.dry_run {
            continue;
        }
        match claims
            .patch(
                &cname,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": ann}})),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::kube(format!("re-stamp NodeClaim {cname}"), e)),
        }
    }
    let a = np.annotations();
    if a.get(NODEPOOL_HASH) != Some(&hash)
        || a.get(NODEPOOL_HASH_VERSION).map(String::as_str) != Some(HASH_VERSION)
    {
        if ctx.settings.dry_run {
            tracing::info!(nodepool = %name, "dry run: would stamp the nodepool hash");
        } else {
            match Api::<NodePool>::all(ctx.client.clone())
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"annotations": {
                        NODEPOOL_HASH: hash, NODEPOOL_HASH_VERSION: HASH_VERSION,
                    }}})),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(Error::kube(format!("stamp NodePool {name}"), e)),
            }
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(version: Option<&str>, drifted: bool) -> NodeClaim {
        let mut c = NodeClaim::default();
        let mut ann =
            std::collections::BTreeMap::from([(NODEPOOL_HASH.to_string(), "123".to_string())]);
        if let Some(v) = version {
            ann.insert(NODEPOOL_HASH_VERSION.to_string(), v.to_string());
        }
        c.metadata.annotations = Some(ann);
        if drifted {
            c.status = Some(karpenter_api::sh::v1::NodeClaimStatus {
                conditions: Some(vec![karpenter_api::common::Condition {
                    type_: "Drifted".into(),
                    status: "True".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            });
        }
        c
    }

    #[test]
    fn other_versions_are_restamped_drifted_ones_keep_their_hash_ours_are_left() {
        assert_eq!(
            restamp(&claim(Some("v3"), false), "999"),
            Some(json!({NODEPOOL_HASH: "999", NODEPOOL_HASH_VERSION: HASH_VERSION}))
        );
        assert_eq!(
            restamp(&claim(None, false), "999"),
            Some(json!({NODEPOOL_HASH: "999", NODEPOOL_HASH_VERSION: HASH_VERSION}))
        );
        assert_eq!(
            restamp(&claim(Some("v3"), true), "999"),
            Some(json!({NODEPOOL_HASH_VERSION: HASH_VERSION}))
        );
        assert_eq!(restamp(&claim(Some(HASH_VERSION), false), "999"), None);
    }
}
