//! A NodePool as provisioning sees it (upstream `pkg/controllers/provisioning/scheduling`
//! `NewNodeClaimTemplate`): requirements with minValues, template labels, taints and startup
//! taints, limits, weight and the node class; and upstream's rules for skipping a NodePool
//! (`pkg/controllers/provisioning/provisioner.go`: being deleted, static, not Ready).
use std::collections::BTreeMap;

use karpenter_api::sh::v1::NodePool as ApiNodePool;
use karpenter_scheduling::resources::parse_resource;
use karpenter_scheduling::{NodePool, NodeSelectorRequirement, Operator, Requirement};

use crate::error::{Context, Error, Result};
use crate::translate::taints;

/// The engine's view of a v1 NodePool.
pub fn scheduling_pool(np: &ApiNodePool) -> Result<NodePool> {
    let name = np.metadata.name.clone().unwrap_or_default();
    let spec = &np.spec.template.spec;
    let mut requirements = Vec::new();
    for (i, r) in spec.requirements.iter().enumerate() {
        let field = format!("spec.template.spec.requirements[{i}]");
        let operator = Operator::parse(&r.operator).ok_or_else(|| {
            Error::new(format!(
                "{field}.operator: unknown operator {:?}",
                r.operator
            ))
        })?;
        let min_values = match r.min_values {
            None => None,
            Some(v) => Some(usize::try_from(v).map_err(|_| {
                Error::new(format!(
                    "{field}.minValues: {v} is negative; minValues counts distinct values"
                ))
            })?),
        };
        let term = NodeSelectorRequirement {
            key: r.key.clone(),
            operator,
            values: r.values.clone().unwrap_or_default(),
            min_values,
        };
        Requirement::from_term(&term).with_context(|| field.clone())?;
        requirements.push(term);
    }
    let mut limits = BTreeMap::new();
    for (k, q) in np.spec.limits.iter().flatten() {
        let v = parse_resource(k, &q.0).with_context(|| format!("spec.limits.{k}"))?;
        limits.insert(k.clone(), v);
    }
    // The CRD allows 1 to 100; absent is 0.
    let weight = match np.spec.weight {
        None => 0,
        Some(w) if (1..=100).contains(&w) => w,
        Some(w) => {
            return Err(Error::new(format!(
                "spec.weight: {w} is out of range: use an integer from 1 to 100"
            )))
        }
    };
    Ok(NodePool {
        name,
        weight,
        requirements,
        labels: np
            .spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
        taints: taints(spec.taints.as_ref(), "spec.template.spec.taints")?,
        startup_taints: taints(
            spec.startup_taints.as_ref(),
            "spec.template.spec.startupTaints",
        )?,
        limits,
        node_class: spec.node_class_ref.name.clone(),
    })
}

/// Why provisioning would not use a NodePool read from a cluster (being deleted, static, not
/// Ready), if so.
pub fn unusable_reason(np: &ApiNodePool) -> Option<&'static str> {
    if np.metadata.deletion_timestamp.is_some() {
        return Some("it is being deleted");
    }
    if np.spec.replicas.is_some() {
        return Some("it is a static NodePool (spec.replicas), which provisioning does not use");
    }
    let ready = np
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    if ready == Some("False") {
        return Some("it is not Ready (see its status.conditions)");
    }
    None
}
