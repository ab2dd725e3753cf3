//! The scenario of `run --simulate`: timed steps applied to the simulated cluster.
//!
//! ```yaml
//! steps:
//!   - at: 2m                                  # simulated time since the start
//!     scale: {deployment: web, replicas: 30}  # namespace: default unless given
//!   - at: 20m
//!     deletePods: {namespace: default, selector: {app: web}}   # or names: [a, b]
//!   - at: 30m
//!     patchNodePool: {name: general, patch: {spec: {disruption: {consolidateAfter: 5m}}}}
//!   - at: 40m
//!     interrupt: {instanceType: m6i.large}    # or nodeClaim: <name>
//!   - at: settled                             # once nothing is pending and disruption is done
//!     scale: [{deployment: web, replicas: 3}, {deployment: api, replicas: 2}]
//! ```
//!
//! Timed steps run in time order. A step `at: settled` runs once the cluster has settled after
//! everything before it (as `--until-settled` means it: nothing pending, every NodeClaim up,
//! and a disruption pass since the last change that found nothing to do and nothing waiting
//! on time); timed steps listed after it wait for it. `scale` takes one workload or a list,
//! scaled together.
//!
//! `scale` names a Deployment, StatefulSet, ReplicaSet or Job of the manifests (`kind:` picks
//! one when names collide); `patchNodePool` applies a JSON merge patch (RFC 7386) to a NodePool
//! of the manifests; `interrupt` puts EC2's spot interruption warning for the matching
//! NodeClaims' instances on the interruption queue, and `run`'s interruption controller handles
//! it (the offering is marked unavailable and the NodeClaim deleted, so its node drains and a
//! replacement is provisioned).
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// A parsed scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scenario {
    /// Steps in time order (stable for equal times).
    pub steps: Vec<Step>,
}

/// When a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// This long after the start of the simulation (`at: 10m`).
    After(Duration),
    /// Once the cluster has settled after the steps before it (`at: settled`).
    Settled,
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// When.
    pub at: At,
    /// What.
    pub action: Action,
    /// The index of the step in the file: the actions of one step (a `scale` list) share it
    /// and run together.
    pub group: usize,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set a workload's replicas.
    Scale {
        /// Workload kind, when given.
        kind: Option<String>,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Desired replicas.
        replicas: u32,
    },
    /// Delete pods (their workloads recreate them).
    DeletePods {
        /// Namespace.
        namespace: String,
        /// Pods whose labels include all of these.
        selector: BTreeMap<String, String>,
        /// Pods with these names.
        names: Vec<String>,
    },
    /// Merge-patch a NodePool.
    PatchNodePool {
        /// NodePool name.
        name: String,
        /// JSON merge patch.
        patch: Value,
    },
    /// A spot interruption for matching NodeClaims.
    Interrupt {
        /// NodeClaim name.
        node_claim: Option<String>,
        /// Every NodeClaim of this instance type.
        instance_type: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawStep {
    at: String,
    scale: Option<OneOrMany<RawScale>>,
    delete_pods: Option<RawDeletePods>,
    patch_node_pool: Option<RawPatch>,
    interrupt: Option<RawInterrupt>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScale {
    deployment: Option<String>,
    #[serde(rename = "statefulSet")]
    stateful_set: Option<String>,
    #[serde(rename = "replicaSet")]
    replica_set: Option<String>,
    job: Option<String>,
    namespace: Option<String>,
    replicas: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeletePods {
    namespace: Option<String>,
    #[serde(default)]
    selector: BTreeMap<String, String>,
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatch {
    name: String,
    patch: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawInterrupt {
    node_claim: Option<String>,
    instance_type: Option<String>,
}

/// Parse `30s`, `5m`, `1h30m`, `90` (seconds) into a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            "ms"
        } else {
            match c {
                'h' => "h",
                'm' => "m",
                's' => "s",
                _ => {
                    return Err(format!(
                        "{text:?} is not a duration (use e.g. 30s, 5m, 1h30m)"
                    ))
                }
            }
        };
        let n: f64 = num
            .parse()
            .map_err(|_| format!("{text:?} is not a duration (use e.g. 30s, 5m, 1h30m)"))?;
        num.clear();
        total += n * match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            _ => 0.001,
        };
    }
    if !num.is_empty() {
        return Err(format!(
            "{text:?} is not a duration: {num} has no unit (use e.g. 30s, 5m, 1h30m)"
        ));
    }
    Ok(Duration::from_secs_f64(total))
}

impl Scenario {
    /// Parse a scenario file; errors name the file and the step.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, String> {
        let raw: RawScenario = serde_saphyr::from_str(text)
            .map_err(|e| format!("{file}: not a valid scenario: {e}"))?;
        let mut steps = Vec::new();
        for (i, s) in raw.steps.into_iter().enumerate() {
            let at_step = |msg: String| format!("{file}: steps[{i}]: {msg}");
            let at = if s.at.trim() == "settled" {
                At::Settled
            } else {
                At::After(
                    parse_duration(&s.at)
                        .map_err(|e| at_step(format!("at: {e} (or `settled`)")))?,
                )
            };
            let mut actions = Vec::new();
            let scales = match s.scale {
                None => Vec::new(),
                Some(OneOrMany::One(sc)) => vec![sc],
                Some(OneOrMany::Many(v)) if v.is_empty() => {
                    return Err(at_step("scale: an empty list scales nothing".into()))
                }
                Some(OneOrMany::Many(v)) => v,
            };
            let several_scales = scales.len() > 1;
            for sc in scales {
                let named: Vec<(&str, String)> = [
                    ("Deployment", sc.deployment),
                    ("StatefulSet", sc.stateful_set),
                    ("ReplicaSet", sc.replica_set),
                    ("Job", sc.job),
                ]
                .into_iter()
                .filter_map(|(k, n)| n.map(|n| (k, n)))
                .collect();
                let [(kind, name)] = named.as_slice() else {
                    return Err(at_step(
                        "scale: name exactly one of deployment, statefulSet, replicaSet or job"
                            .into(),
                    ));
                };
                let replicas = u32::try_from(sc.replicas).map_err(|_| {
                    at_step(format!(
                        "scale: replicas {} must be between 0 and {}",
                        sc.replicas,
                        u32::MAX
                    ))
                })?;
                actions.push(Action::Scale {
                    kind: Some(kind.to_string()),
                    namespace: sc.namespace.unwrap_or_else(|| "default".into()),
                    name: name.clone(),
                    replicas,
                });
            }
            if let Some(d) = s.delete_pods {
                if d.selector.is_empty() && d.names.is_empty() {
                    return Err(at_step(
                        "deletePods: give a selector (labels) or names; deleting every pod \
                         is not a step"
                            .into(),
                    ));
                }
                actions.push(Action::DeletePods {
                    namespace: d.namespace.unwrap_or_else(|| "default".into()),
                    selector: d.selector,
                    names: d.names,
                });
            }
            if let Some(p) = s.patch_node_pool {
                if !p.patch.is_object() {
                    return Err(at_step(format!(
                        "patchNodePool {}: patch must be a mapping (a JSON merge patch)",
                        p.name
                    )));
                }
                actions.push(Action::PatchNodePool {
                    name: p.name,
                    patch: p.patch,
                });
            }
            if let Some(x) = s.interrupt {
                if x.node_claim.is_none() == x.instance_type.is_none() {
                    return Err(at_step(
                        "interrupt: give exactly one of nodeClaim or instanceType".into(),
                    ));
                }
                actions.push(Action::Interrupt {
                    node_claim: x.node_claim,
                    instance_type: x.instance_type,
                });
            }
            match actions.len() {
                0 => {
                    return Err(at_step(
                        "no action: give one of scale, deletePods, patchNodePool or interrupt"
                            .into(),
                    ))
                }
                1 => {}
                _ if several_scales
                    && actions.iter().all(|a| matches!(a, Action::Scale { .. })) => {}
                _ => return Err(at_step("more than one action: one action per step".into())),
            }
            for action in actions {
                steps.push(Step {
                    at,
                    action,
                    group: i,
                });
            }
        }
        // timed steps run in time order; an `at: settled` step stays where it is, and the
        // timed steps after it wait for it
        let mut ordered = Vec::with_capacity(steps.len());
        let mut run: Vec<Step> = Vec::new();
        for step in steps {
            if step.at == At::Settled {
                run.sort_by_key(|s| match s.at {
                    At::After(d) => d,
                    At::Settled => Duration::ZERO,
                });
                ordered.append(&mut run);
                ordered.push(step);
            } else {
                run.push(step);
            }
        }
        run.sort_by_key(|s| match s.at {
            At::After(d) => d,
            At::Settled => Duration::ZERO,
        });
        ordered.append(&mut run);
        Ok(Scenario { steps: ordered })
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_parse_as_go_writes_them() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("5").is_ok());
        assert!(parse_duration("1h5").unwrap_err().contains("no unit"));
    }

    #[test]
    fn steps_parse_sort_and_name_their_errors() {
        let s = Scenario::parse(
            "s.yaml",
            "steps:\n- at: 10m\n  scale: {deployment: web, replicas: 0}\n- at: 1m\n  interrupt: {instanceType: m5.large}\n",
        )
        .unwrap();
        assert_eq!(s.steps[0].at, At::After(Duration::from_secs(60)));
        assert_eq!(
            s.steps[1].action,
            Action::Scale {
                kind: Some("Deployment".into()),
                namespace: "default".into(),
                name: "web".into(),
                replicas: 0
            }
        );
        let e = Scenario::parse("s.yaml", "steps:\n- at: 1m\n").unwrap_err();
        assert!(e.starts_with("s.yaml: steps[0]: no action"), "{e}");
        let e = Scenario::parse(
            "s.yaml",
            "steps:\n- at: 1m\n  scale: {deployment: web, replicas: -1}\n",
        )
        .unwrap_err();
        assert!(e.contains("steps[0]: scale: replicas -1"), "{e}");
        let e = Scenario::parse(
            "s.yaml",
            "steps:\n- at: soon\n  scale: {deployment: web, replicas: 1}\n",
        )
        .unwrap_err();
        assert!(e.contains("steps[0]: at:"), "{e}");
        let e = Scenario::parse("s.yaml", "steps:\n- at: 1m\n  scael: {}\n").unwrap_err();
        assert!(e.starts_with("s.yaml: not a valid scenario"), "{e}");
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut v, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(v, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }
}
