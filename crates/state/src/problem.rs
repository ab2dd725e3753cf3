//! The cluster → a scheduling problem (upstream `pkg/controllers/provisioning/provisioner.go`
//! `Schedule` and `NewScheduler`; `pkg/controllers/disruption/helpers.go`
//! `SimulateScheduling` for the "with these nodes gone" form).
//!
//! Existing capacity is every Node not being deleted, then every launched NodeClaim whose Node
//! has not registered (in-flight capacity). Bound pods fill their nodes and count for topology;
//! the reschedulable pods of nodes being deleted (or removed by the caller) are planned with
//! the pending pods. Pods whose volumes upstream cannot use are pending with a reason.
use std::collections::{BTreeMap, BTreeSet};

use karpenter_scheduling::model::RunningPod;
use karpenter_scheduling::{Catalog, ExistingNode, InstanceType, OverheadOptions, Pod, Problem};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::node::{INITIALIZED_LABEL, NODE_POOL_LABEL};
use crate::pod::{PodRole, StatePod};
use crate::Source;

/// What to build a problem for.
#[derive(Debug, Clone, Default)]
pub struct ProblemOptions {
    /// Only pending pods of this namespace are planned (nodes and bound pods stay
    /// cluster-wide; bound pods outside it are not re-planned).
    pub namespace: Option<String>,
    /// Nodes (by name) to plan without: their reschedulable pods join the pending pods, as
    /// consolidation simulates a candidate's removal.
    pub removed_nodes: BTreeSet<String>,
}

/// A pod the model left pending before the engine ran, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// `namespace/name`.
    pub pod: String,
    /// Why.
    pub reason: String,
}

/// A [`Problem`] plus what the model decided on its own.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The scheduling problem.
    pub problem: Problem,
    /// Pods left pending before the engine ran (their volumes cannot be resolved, ...).
    pub pending: Vec<Pending>,
    /// Things the user should know (NodePools skipped, pods re-planned, ...).
    pub notes: Vec<String>,
}

/// What the model holds, for a one-line summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Usable NodePools.
    pub node_pools: usize,
    /// Nodes.
    pub nodes: usize,
    /// Launched NodeClaims whose Node has not registered, not being deleted.
    pub in_flight: usize,
    /// Provisionable pods (in the namespace, if one is given).
    pub pending: usize,
    /// Pods bound to nodes.
    pub bound: usize,
    /// DaemonSets.
    pub daemon_sets: usize,
}

impl Cluster {
    /// Counts for a summary line.
    pub fn summary(&self, namespace: Option<&str>) -> Summary {
        let mut s = Summary {
            node_pools: self.node_pools.len(),
            nodes: self.nodes.len(),
            in_flight: self.in_flight().count(),
            daemon_sets: self.daemon_sets.len(),
            ..Summary::default()
        };
        for p in self.pods.values() {
            match &p.role {
                PodRole::Pending if namespace.is_none_or(|n| n == p.key.namespace) => {
                    s.pending += 1
                }
                PodRole::Bound(_) => s.bound += 1,
                _ => {}
            }
        }
        s
    }

    /// Launched NodeClaims whose Node has not registered and that are not being deleted.
    fn in_flight(&self) -> impl Iterator<Item = &crate::node::ClaimEntry> + '_ {
        self.claims
            .values()
            .filter(|c| c.provider_id().is_some() && c.node_name().is_none() && !c.deleting())
    }

    /// The scheduling problem the cluster poses, with `catalog`'s instance types for `region`.
    pub fn problem(
        &self,
        catalog: &Catalog,
        region: &str,
        opts: &ProblemOptions,
    ) -> Result<Prepared> {
        self.problem_with_types(
            |overhead| Ok(catalog.instance_types(region, overhead)?),
            opts,
        )
    }

    /// The scheduling problem the cluster poses, with the instance types `types` gives for the
    /// first referenced EC2NodeClass's overhead settings (a cloud provider's own list, already
    /// priced and with its own overhead, may ignore them), then narrowed to that class's
    /// resolved status (its subnets' zones, the architectures of its AMIs).
    pub fn problem_with_types(
        &self,
        types: impl FnOnce(&OverheadOptions) -> Result<Vec<InstanceType>>,
        opts: &ProblemOptions,
    ) -> Result<Prepared> {
        let mut notes: Vec<String> = self.skipped_pools.values().cloned().collect::<Vec<_>>();
        let mut node_pools: Vec<_> = self
            .node_pools
            .values()
            .map(|e| e.scheduling.clone())
            .collect();
        if self.source == Source::Cluster {
            // upstream: a NodePool whose EC2NodeClass is missing is not Ready and is skipped
            node_pools.retain(|np| {
                let ok = np.node_class.is_empty() || self.node_classes.contains_key(&np.node_class);
                if !ok {
                    notes.push(format!(
                        "NodePool {:?} is skipped: its EC2NodeClass {:?} does not exist, so \
                         Karpenter does not use it",
                        np.name, np.node_class
                    ));
                }
                ok
            });
            if node_pools.is_empty() {
                return Err(Error::new(format!(
                    "no usable NodePools found in the cluster: every NodePool is skipped ({}); \
                     fix them so Karpenter can use them",
                    notes.join("; ")
                )));
            }
        }
        if node_pools.is_empty() {
            return Err(Error::new(
                "no NodePool in the input: add a karpenter.sh/v1 NodePool manifest with -f \
                 (see examples/simulate/nodepools.yaml)",
            ));
        }
        for np in &node_pools {
            if !np.node_class.is_empty()
                && !self.node_classes.is_empty()
                && !self.node_classes.contains_key(&np.node_class)
            {
                return Err(Error::new(format!(
                    "NodePool {:?} references EC2NodeClass {:?}, which is not in the input",
                    np.name, np.node_class
                )));
            }
        }
        // One set of kubelet/AMI settings for the catalog: the first referenced EC2NodeClass
        // (the translation `instance-types` and the AWS provider use too) ...
        let class = node_pools
            .iter()
            .find_map(|np| self.node_classes.get(&np.node_class));
        let overhead = class
            .map(crate::nodeclass::overhead_options)
            .transpose()?
            .unwrap_or_default();
        let mut instance_types = types(&overhead)?;
        // ... and its resolved status: the zones of its subnets, the types its AMIs serve
        if let Some(class) = class {
            match crate::nodeclass::resolved(class) {
                Ok(resolved) => instance_types = resolved.narrow(instance_types),
                Err(why) if self.source == Source::Cluster => notes.push(format!(
                    "{why}; instance types are not narrowed to its subnets' zones and AMIs"
                )),
                Err(_) => {}
            }
        }

        // Existing capacity: Nodes that are not being deleted, then launched NodeClaims whose
        // Node has not registered.
        let gone = |name: &str, deleting: bool| deleting || opts.removed_nodes.contains(name);
        let registered: BTreeSet<&str> = self
            .nodes
            .values()
            .filter_map(|n| n.provider_id.as_deref())
            .collect();
        let mut nodes: Vec<ExistingNode> = self
            .nodes
            .values()
            .filter(|n| !gone(&n.name, n.deleting))
            .map(|n| n.existing())
            .collect();
        for c in self.in_flight() {
            let registered = c.provider_id().is_some_and(|p| registered.contains(p));
            if !registered && !gone(c.name(), false) && !nodes.iter().any(|n| n.name == c.name()) {
                nodes.push(c.in_flight());
            }
        }
        // Karpenter nodes not yet initialized: startup taints do not block (upstream ignores
        // them until initialization).
        for n in &mut nodes {
            let pool = n
                .labels
                .get(NODE_POOL_LABEL)
                .and_then(|p| node_pools.iter().find(|np| &np.name == p));
            if let Some(pool) = pool {
                if n.labels.get(INITIALIZED_LABEL).map(String::as_str) != Some("true") {
                    n.initialized = false;
                    n.taints.retain(|t| {
                        !pool
                            .startup_taints
                            .iter()
                            .any(|s| s.key == t.key && s.effect == t.effect)
                    });
                }
            }
        }
        let deleting: BTreeSet<&str> = self
            .nodes
            .values()
            .filter(|n| gone(&n.name, n.deleting))
            .map(|n| n.name.as_str())
            .chain(opts.removed_nodes.iter().map(String::as_str))
            .collect();

        // Pending pods first, then the reschedulable pods of nodes going away.
        let in_namespace = |p: &StatePod| {
            opts.namespace
                .as_deref()
                .is_none_or(|n| n == p.key.namespace)
        };
        let mut pending = Vec::new();
        let mut planned: Vec<&StatePod> = Vec::new();
        for p in self.pods.values() {
            if p.role == PodRole::Pending && in_namespace(p) {
                match &p.scheduling {
                    Ok(_) => planned.push(p),
                    Err(e) => pending.push(Pending {
                        pod: p.key.to_string(),
                        reason: format!("cannot be simulated: {e}"),
                    }),
                }
            }
        }
        let index: BTreeMap<String, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let mut rescheduled = 0usize;
        for p in self.pods.values() {
            let Some(node) = p.node() else { continue };
            let sched = match &p.scheduling {
                Ok(s) => s,
                Err(e) => {
                    notes.push(format!(
                        "running Pod {} is not counted: cannot be simulated: {e}",
                        p.key
                    ));
                    continue;
                }
            };
            if deleting.contains(node) {
                if p.reschedulable() && p.counts() && in_namespace(p) {
                    planned.push(p);
                    rescheduled += 1;
                }
                continue;
            }
            if let Some(n) = index.get(node).map(|&i| &mut nodes[i]) {
                let mut r = sched.requests.clone();
                r.pods = 1;
                n.requested.add(&r);
                n.host_ports.extend(sched.host_ports.iter().cloned());
                if p.counts() {
                    n.pods.push(RunningPod {
                        namespace: sched.namespace.clone(),
                        labels: sched.labels.clone(),
                        pod_anti_affinity: sched.pod_anti_affinity.clone(),
                    });
                }
            }
        }
        if rescheduled > 0 {
            notes.push(format!(
                "{rescheduled} pods on nodes being deleted are re-planned with the pending pods"
            ));
        }
        // Volume topology, or pending with the reason.
        let mut pods: Vec<Pod> = Vec::with_capacity(planned.len());
        for p in planned {
            let Ok(sched) = &p.scheduling else { continue };
            match self
                .volumes
                .requirements(self.source, &p.key.namespace, &p.volumes)
            {
                Ok(reqs) => {
                    let mut pod = sched.clone();
                    pod.volume_requirements = reqs;
                    pod.creation_index = pods.len() as i64;
                    pods.push(pod);
                }
                Err(reason) => pending.push(Pending {
                    pod: p.key.to_string(),
                    reason,
                }),
            }
        }
        Ok(Prepared {
            problem: Problem {
                instance_types,
                node_pools,
                daemon_sets: self.daemon_sets.values().cloned().collect(),
                existing_nodes: nodes,
                pods,
            },
            pending,
            notes,
        })
    }
}
