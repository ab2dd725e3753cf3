//! The EC2NodeClass status controller (upstream `aws/karpenter-provider-aws:
//! pkg/controllers/nodeclass/controller.go` with `subnet.go`, `securitygroup.go`, `ami.go`,
//! `instanceprofile.go`; karpenter-aws.md §14): each EC2NodeClass is resolved through the
//! [`CloudProvider`](crate::cloud::provider::CloudProvider) — which also remembers it for
//! launches and instance-type listing — and its `status.subnets`, `securityGroups`, `amis`,
//! `instanceProfile` and conditions `SubnetsReady`, `SecurityGroupsReady`, `AMIsReady`,
//! `InstanceProfileReady` and root `Ready` are written, with upstream's reasons for parts that
//! matched nothing (`SubnetsNotFound`, `SecurityGroupsNotFound`, `AMINotFound`). Refreshed
//! every minute (upstream's shortest part period) and on every change; the status is written
//! only when it differs. A class becoming Ready re-triggers provisioning.
//!
//! Not modelled: `ValidationSucceeded` (upstream's DryRun launch checks),
//! `CapacityReservationsReady` and `PlacementGroupReady`, the class's own finalizer.
//! A provider that resolves nothing (the in-memory one) leaves the status alone. Under
//! `dry_run` the class is resolved read-only (no instance profile created) so instance types
//! can be listed, and the status is not written.
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::aws::v1::EC2NodeClass;
use karpenter_api::common::Condition;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::error::{Error, Result};
use super::Context;
use crate::cloud::provider::{CloudError, NodeClassResolution};

/// How often a class is resolved again.
pub const REFRESH: Duration = Duration::from_secs(60);

/// The part conditions, in upstream's order.
pub const PART_CONDITIONS: [&str; 4] = [
    "SubnetsReady",
    "SecurityGroupsReady",
    "AMIsReady",
    "InstanceProfileReady",
];

/// Run the controller until the stream ends.
pub async fn run(ctx: Arc<Context>) {
    let classes: Api<EC2NodeClass> = Api::all(ctx.client.clone());
    Controller::new(classes, watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "ec2nodeclass status");
            }
        })
        .await;
}

fn error_policy(nc: Arc<EC2NodeClass>, e: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(ec2nodeclass = %nc.name_any(), error = %e, error_kind = e.kind(), "resolving ec2nodeclass failed");
    Action::requeue(Duration::from_secs(10))
}

/// Set `type_` in `conds`; the transition time moves only when the status changes.
fn set(
    conds: &mut Vec<Condition>,
    type_: &str,
    failure: Option<(&str, &str)>,
    generation: Option<i64>,
    now: Timestamp,
) {
    let (status, reason, message) = match failure {
        None => ("True", type_, ""),
        Some((r, m)) => ("False", r, m),
    };
    let at = conds.iter().position(|c| c.type_ == type_);
    let keep_time = at
        .filter(|i| conds[*i].status == status)
        .and_then(|i| conds[i].last_transition_time.clone());
    let c = Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        severity: None,
        observed_generation: generation,
        last_transition_time: Some(keep_time.unwrap_or(Time(now))),
        reason: Some(reason.to_string()),
        message: (!message.is_empty()).then(|| message.to_string()),
    };
    match at {
        Some(i) => conds[i] = c,
        None => conds.push(c),
    }
}

/// The conditions for a resolution: the four parts and `Ready` (true when every part is).
pub fn conditions(
    existing: &[Condition],
    res: &NodeClassResolution,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut conds = existing.to_vec();
    let parts = [
        &res.subnets,
        &res.security_groups,
        &res.amis,
        &res.instance_profile,
    ];
    let mut unhealthy = Vec::new();
    for (type_, part) in PART_CONDITIONS.iter().zip(parts) {
        let failure = part.as_ref().map(|(r, m)| (r.as_str(), m.as_str()));
        if failure.is_some() {
            unhealthy.push(format!("{type_}=False"));
        }
        set(&mut conds, type_, failure, generation, now);
    }
    let msg = unhealthy.join(", ");
    set(
        &mut conds,
        "Ready",
        (!unhealthy.is_empty()).then_some(("UnhealthyDependents", msg.as_str())),
        generation,
        now,
    );
    conds
}

fn is_ready(nc: &EC2NodeClass) -> bool {
    nc.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

async fn reconcile(nc: Arc<EC2NodeClass>, ctx: Arc<Context>) -> Result<Action> {
    let name = nc.name_any();
    if nc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let existing = nc
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let now = ctx.clock.now();
    let (mut status, conds) = match ctx
        .provider
        .resolve_node_class(&nc, ctx.settings.dry_run)
        .await
    {
        Ok(None) => return Ok(Action::await_change()),
        Ok(Some(res)) => {
            let conds = conditions(&existing, &res, nc.metadata.generation, now);
            (res.status, conds)
        }
        Err(CloudError::Invalid(msg)) => {
            let mut conds = existing.clone();
            set(
                &mut conds,
                "Ready",
                Some(("NodeClassInvalid", msg.as_str())),
                nc.metadata.generation,
                now,
            );
            (nc.status.clone().unwrap_or_default(), conds)
        }
        Err(e) => return Err(Error::cloud(format!("resolve EC2NodeClass {name}"), e)),
    };
    status.conditions = Some(conds);
    let was_ready = is_ready(&nc);
    if nc.status.as_ref() != Some(&status) {
        if ctx.settings.dry_run {
            tracing::info!(ec2nodeclass = %name, "dry run: would update the ec2nodeclass status");
        } else {
            Api::<EC2NodeClass>::all(ctx.client.clone())
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "status": status })),
                )
                .await
                .map_err(|e| Error::kube(format!("update EC2NodeClass {name} status"), e))?;
        }
        let mut updated = (*nc).clone();
        updated.status = Some(status);
        let ready = is_ready(&updated);
        tracing::info!(ec2nodeclass = %name, ready, "resolved ec2nodeclass");
        if ready && !was_ready {
            ctx.state.trigger(&format!("ec2nodeclass/{name}"));
        }
    }
    Ok(Action::requeue(REFRESH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_every_part_and_transition_times_hold_while_status_holds() {
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = Timestamp::from_second(60).unwrap();
        let ok = NodeClassResolution::default();
        let c0 = conditions(&[], &ok, Some(1), t0);
        assert_eq!(c0.len(), 5);
        assert!(c0.iter().all(|c| c.status == "True"), "{c0:?}");
        let bad = NodeClassResolution {
            subnets: Some(("SubnetsNotFound".into(), "no subnets".into())),
            ..Default::default()
        };
        let c1 = conditions(&c0, &bad, Some(2), t1);
        let get = |cs: &[Condition], t: &str| cs.iter().find(|c| c.type_ == t).cloned().unwrap();
        assert_eq!(get(&c1, "SubnetsReady").status, "False");
        assert_eq!(
            get(&c1, "SubnetsReady").reason.as_deref(),
            Some("SubnetsNotFound")
        );
        assert_eq!(get(&c1, "Ready").status, "False");
        assert_eq!(
            get(&c1, "Ready").message.as_deref(),
            Some("SubnetsReady=False")
        );
        assert_eq!(
            get(&c1, "AMIsReady").last_transition_time,
            Some(Time(t0)),
            "unchanged status keeps its time"
        );
        assert_eq!(get(&c1, "Ready").last_transition_time, Some(Time(t1)));
    }
}
