//! Kubernetes objects → the scheduling engine's model: a pod's effective requests, affinity,
//! tolerations, topology spread and host ports; taints; quantities. Upstream reads the same
//! fields in `pkg/utils/resources` (`RequestsForPods`, `Ceiling`) and
//! `pkg/controllers/provisioning/scheduling` (`NewRequirements`, topology, host ports).
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use karpenter_scheduling::model::{
    self as m, HostPort, InclusionPolicy, LabelSelectorRequirement, PodAffinityTerm, Taint,
    TaintEffect, Toleration, TopologySpreadConstraint, Weighted, WhenUnsatisfiable,
};
use karpenter_scheduling::resources::{parse_resource, Resources};
use karpenter_scheduling::{NodeSelectorRequirement, Operator, Pod};

use crate::error::{Context, Error, Result};

/// A list of quantities in engine units; `field` names the list in errors.
pub fn quantities(list: Option<&BTreeMap<String, Quantity>>, field: &str) -> Result<Resources> {
    let mut r = Resources::default();
    for (k, q) in list.into_iter().flatten() {
        let v = parse_resource(k, &q.0).with_context(|| format!("{field}.{k}"))?;
        r.set(k, v);
    }
    Ok(r)
}

fn container_requests(c: &core::Container, field: &str) -> Result<Resources> {
    let res = c.resources.as_ref();
    let req = quantities(
        res.and_then(|r| r.requests.as_ref()),
        &format!("{field}.resources.requests"),
    )?;
    // Kubernetes defaults a missing request to the limit
    let lim = quantities(
        res.and_then(|r| r.limits.as_ref()),
        &format!("{field}.resources.limits"),
    )?;
    let mut out = req.clone();
    let has = |name: &str| {
        res.and_then(|r| r.requests.as_ref())
            .is_some_and(|m| m.contains_key(name))
    };
    for name in ["cpu", "memory", "ephemeral-storage"] {
        if !has(name) && lim.get(name) > 0 {
            out.set(name, lim.get(name));
        }
    }
    for (k, v) in &lim.extended {
        if !has(k) {
            out.extended.insert(k.clone(), *v);
        }
    }
    Ok(out)
}

/// Effective requests: max(Σ containers + sidecars, each init container + earlier sidecars),
/// plus pod overhead, plus one pod slot (upstream `RequestsForPods`).
pub fn effective_requests(spec: &core::PodSpec) -> Result<Resources> {
    let mut main = Resources::default();
    for (i, c) in spec.containers.iter().enumerate() {
        main.add(&container_requests(c, &format!("spec.containers[{i}]"))?);
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let r = container_requests(c, &format!("spec.initContainers[{i}]"))?;
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
        } else {
            let mut x = r;
            x.add(&sidecars);
            init_max.max_with(&x);
        }
    }
    main.add(&sidecars);
    main.max_with(&init_max);
    main.add(&quantities(spec.overhead.as_ref(), "spec.overhead")?);
    main.pods = 1;
    Ok(main)
}

/// A label selector; a nil selector matches nothing.
pub fn selector(s: Option<&meta::LabelSelector>) -> m::LabelSelector {
    let Some(s) = s else {
        return m::LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "karpenter.sh/simulate-nil-selector".into(),
                operator: "Exists".into(),
                values: vec![],
            }],
        };
    };
    m::LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions: s
            .match_expressions
            .iter()
            .flatten()
            .map(|e| LabelSelectorRequirement {
                key: e.key.clone(),
                operator: e.operator.clone(),
                values: e.values.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// Node selector requirements; `field` names the list in errors.
pub fn node_terms(
    exprs: Option<&Vec<core::NodeSelectorRequirement>>,
    field: &str,
) -> Result<Vec<NodeSelectorRequirement>> {
    exprs
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, e)| {
            let op = Operator::parse(&e.operator).ok_or_else(|| {
                Error::new(format!("{field}[{i}]: unknown operator {:?}", e.operator))
            })?;
            Ok(NodeSelectorRequirement {
                key: e.key.clone(),
                operator: op,
                values: e.values.clone().unwrap_or_default(),
                min_values: None,
            })
        })
        .collect()
}

fn affinity_term(t: &core::PodAffinityTerm) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: selector(t.label_selector.as_ref()),
        namespaces: t.namespaces.clone().unwrap_or_default(),
        topology_key: t.topology_key.clone(),
    }
}

/// Required and preferred terms of a pod affinity or anti-affinity (the two share a shape).
fn affinity_terms(
    required: Option<&Vec<core::PodAffinityTerm>>,
    preferred: Option<&Vec<core::WeightedPodAffinityTerm>>,
) -> (Vec<PodAffinityTerm>, Vec<Weighted<PodAffinityTerm>>) {
    (
        required.into_iter().flatten().map(affinity_term).collect(),
        preferred
            .into_iter()
            .flatten()
            .map(|w| Weighted {
                weight: w.weight,
                term: affinity_term(&w.pod_affinity_term),
            })
            .collect(),
    )
}

/// A taint effect; empty means none.
pub fn effect(s: Option<&str>) -> Result<Option<TaintEffect>> {
    Ok(match s {
        None | Some("") => None,
        Some("NoSchedule") => Some(TaintEffect::NoSchedule),
        Some("PreferNoSchedule") => Some(TaintEffect::PreferNoSchedule),
        Some("NoExecute") => Some(TaintEffect::NoExecute),
        Some(o) => return Err(Error::new(format!("unknown taint effect {o:?}"))),
    })
}

/// Taints of a Node, NodePool template or NodeClaim; `field` names the list in errors.
pub fn taints(list: Option<&Vec<core::Taint>>, field: &str) -> Result<Vec<Taint>> {
    let mut out = Vec::new();
    for (i, t) in list.into_iter().flatten().enumerate() {
        if t.key.is_empty() {
            return Err(Error::new(format!("{field}[{i}].key is missing")));
        }
        let eff = effect(Some(&t.effect))
            .with_context(|| format!("{field}[{i}].effect"))?
            .ok_or_else(|| Error::new(format!("{field}[{i}].effect is missing")))?;
        out.push(Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: eff,
        });
    }
    Ok(out)
}

/// An object's labels.
pub fn labels_of(meta: Option<&meta::ObjectMeta>) -> BTreeMap<String, String> {
    meta.and_then(|m| m.labels.clone()).unwrap_or_default()
}

/// A pod spec as the engine sees it; `uid` is `namespace/name` (the queue's tie-breaker).
pub fn pod_from_spec(
    ns: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    spec: &core::PodSpec,
    index: i64,
) -> Result<Pod> {
    let mut p = Pod {
        namespace: ns.to_string(),
        name: name.to_string(),
        uid: format!("{ns}/{name}"),
        labels,
        requests: effective_requests(spec)?,
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        creation_index: index,
        ..Default::default()
    };
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        p.tolerations.push(Toleration {
            key: t.key.clone().unwrap_or_default(),
            operator: t.operator.clone().unwrap_or_default(),
            value: t.value.clone().unwrap_or_default(),
            effect: effect(t.effect.as_deref())
                .with_context(|| format!("spec.tolerations[{i}]"))?,
        });
    }
    if let Some(aff) = &spec.affinity {
        if let Some(na) = &aff.node_affinity {
            if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
                for (i, t) in req.node_selector_terms.iter().enumerate() {
                    p.required_node_affinity.push(node_terms(
                        t.match_expressions.as_ref(),
                        &format!("nodeAffinity.required.nodeSelectorTerms[{i}]"),
                    )?);
                }
            }
            for (i, w) in na
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .enumerate()
            {
                p.preferred_node_affinity.push(Weighted {
                    weight: w.weight,
                    term: node_terms(
                        w.preference.match_expressions.as_ref(),
                        &format!("nodeAffinity.preferred[{i}]"),
                    )?,
                });
            }
        }
        if let Some(pa) = &aff.pod_affinity {
            (p.pod_affinity, p.preferred_pod_affinity) = affinity_terms(
                pa.required_during_scheduling_ignored_during_execution
                    .as_ref(),
                pa.preferred_during_scheduling_ignored_during_execution
                    .as_ref(),
            );
        }
        if let Some(pa) = &aff.pod_anti_affinity {
            (p.pod_anti_affinity, p.preferred_pod_anti_affinity) = affinity_terms(
                pa.required_during_scheduling_ignored_during_execution
                    .as_ref(),
                pa.preferred_during_scheduling_ignored_during_execution
                    .as_ref(),
            );
        }
    }
    for (i, c) in spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .enumerate()
    {
        let policy = |s: Option<&String>| match s.map(String::as_str) {
            Some("Honor") => Some(InclusionPolicy::Honor),
            Some("Ignore") => Some(InclusionPolicy::Ignore),
            _ => None,
        };
        let when = match c.when_unsatisfiable.as_str() {
            "DoNotSchedule" => WhenUnsatisfiable::DoNotSchedule,
            "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
            o => {
                return Err(Error::new(format!(
                    "spec.topologySpreadConstraints[{i}].whenUnsatisfiable: unknown value {o:?}"
                )))
            }
        };
        p.topology_spread_constraints
            .push(TopologySpreadConstraint {
                max_skew: c.max_skew,
                topology_key: c.topology_key.clone(),
                when_unsatisfiable: when,
                label_selector: selector(c.label_selector.as_ref()),
                min_domains: c.min_domains,
                node_affinity_policy: policy(c.node_affinity_policy.as_ref()),
                node_taints_policy: policy(c.node_taints_policy.as_ref()),
                match_label_keys: c.match_label_keys.clone().unwrap_or_default(),
            });
    }
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for port in c.ports.iter().flatten() {
            if let Some(hp) = port.host_port.filter(|&h| h > 0) {
                p.host_ports.push(HostPort {
                    host_ip: port.host_ip.clone().unwrap_or_default(),
                    port: hp,
                    protocol: port.protocol.clone().unwrap_or_default(),
                });
            }
        }
    }
    Ok(p)
}
