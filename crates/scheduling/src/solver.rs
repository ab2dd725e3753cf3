//! The scheduler: Karpenter's provisioning simulation (karpenter-core.md §2.3–§2.9), one module
//! per concept, named after upstream's files in `pkg/controllers/provisioning/scheduling`:
//!
//! - `scheduler`: the context all packings share (`NewScheduler`), one packing's state and
//!   the placement of one pod (`add`); [`solve`];
//! - `queue`: the pod orders and the requeue loop (`queue.go`);
//! - `pod`: what scheduling derives from a pod's spec, once per pod shape;
//! - `preferences`: preference relaxation (`preferences.go`);
//! - `existingnode`: existing nodes and in-flight NodeClaims (`existingnode.go`);
//! - `nodeclaimtemplate`: one template per NodePool, DaemonSet overhead, the launch list
//!   (`nodeclaimtemplate.go`);
//! - `nodeclaim`: new NodeClaims, whether a pod fits one, and committing a placement
//!   (`nodeclaim.go`);
//! - `topologydomains`: the domains, running pods and group memberships fed to
//!   [`crate::topology`] (`topology.go`);
//! - `instancetypes`: offering masks, prices and per-run type-set caches
//!   (`cloudprovider/types.go`);
//! - `fit`: allocatable minus DaemonSet overhead as plain quads, and their sorted index;
//! - `typeset`: sets of instance types as bitsets;
//! - `results`: a packing's score and its [`Solution`] (`Results`);
//! - `strategy`: the default strategy's several packings and the choice among them;
//! - `bound`: the LP lower bound and the cost-efficient types;
//! - `repair`: one improvement pass on the default strategy's winner.
//!
//! The public problem types live in [`crate::problem`] and are re-exported here.
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use crate::instancetype::InstanceType;
use crate::labels;
use crate::lp;
use crate::model::{
    untolerated, HostPort, InclusionPolicy, NodePool, Pod, Taint, TaintEffect, Toleration,
    WhenUnsatisfiable,
};
use crate::requirements::{Incompatibility, Requirement, Requirements};
use crate::resources::Resources;
use crate::topology::{FxHasher, GroupKind, Topology};
use crate::Error;

pub use crate::problem::{NodeClaimPlan, PendingPod, Problem, Solution, SolveOptions, Strategy};

mod bound;
mod existingnode;
mod fit;
mod instancetypes;
mod nodeclaim;
mod nodeclaimtemplate;
mod pod;
mod preferences;
mod queue;
mod repair;
mod results;
mod scheduler;
mod strategy;
mod topologydomains;
mod typeset;

pub use nodeclaimtemplate::MAX_INSTANCE_TYPES;
pub use scheduler::solve;

use existingnode::*;
use fit::*;
use instancetypes::*;
use nodeclaim::*;
use nodeclaimtemplate::*;
use pod::*;
use queue::*;
use scheduler::*;
use strategy::*;
use topologydomains::*;
use typeset::*;

/// A hash map with the fast non-cryptographic hasher (keys are the solver's own data).
type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;
