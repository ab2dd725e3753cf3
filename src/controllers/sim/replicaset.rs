//! A minimal ReplicaSet controller (see [`super`]): what brings an evicted Deployment pod
//! back as a new pending pod in a real cluster (`pkg/controller/replicaset`). The API-server
//! double serves no ReplicaSets, so the replica count of each ReplicaSet is learned from its
//! pods (controller owner reference of kind `ReplicaSet`): the most live pods seen at once,
//! until [`ReplicaSets::scale`] sets it. Each pass creates pods from the first pod seen (same
//! labels, annotations, owner and spec, not bound, `Pending`) while fewer live pods than
//! replicas exist; after a `scale`, it also deletes the surplus (unbound pods first, then the
//! newest). Pods a test adds itself therefore raise a learned count rather than being deleted.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::controllers::clock::Clock;
use crate::controllers::error::{is_conflict, is_not_found, Error, Result};
use crate::controllers::nodeclaim::Names;

/// `(namespace, ReplicaSet name)`.
pub type Key = (String, String);

#[derive(Debug, Clone)]
struct Set {
    template: Pod,
    replicas: usize,
    /// Set by [`ReplicaSets::scale`]: no longer learned from the pods.
    scaled: bool,
}

/// ReplicaSets, as far as their pods show them.
pub struct ReplicaSets {
    client: Client,
    clock: Arc<dyn Clock>,
    /// How often it looks at the pods.
    pub poll: Duration,
    sets: Mutex<BTreeMap<Key, Set>>,
    names: Names,
}

/// The ReplicaSet controlling a pod, if any.
pub fn owner(pod: &Pod) -> Option<Key> {
    let o = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "ReplicaSet" && o.controller == Some(true))?;
    Some((
        pod.namespace().unwrap_or_else(|| "default".into()),
        o.name.clone(),
    ))
}

fn live(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && !matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

fn bound(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

impl ReplicaSets {
    /// A controller with a 1 s poll.
    pub fn new(client: Client, clock: Arc<dyn Clock>) -> Self {
        ReplicaSets {
            client,
            clock,
            poll: Duration::from_secs(1),
            sets: Mutex::new(BTreeMap::new()),
            names: Names::new(Some(7)),
        }
    }

    /// Set a ReplicaSet's replica count (the next pass creates or deletes pods). Only a
    /// ReplicaSet already seen (through its pods) can be scaled; false otherwise.
    pub fn scale(&self, namespace: &str, name: &str, replicas: usize) -> bool {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        match sets.get_mut(&(namespace.to_string(), name.to_string())) {
            Some(s) => {
                s.replicas = replicas;
                s.scaled = true;
                true
            }
            None => false,
        }
    }

    /// The replica count of a ReplicaSet seen so far.
    pub fn replicas(&self, namespace: &str, name: &str) -> Option<usize> {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.get(&(namespace.to_string(), name.to_string()))
            .map(|s| s.replicas)
    }

    /// Run until aborted.
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "simulated replicaset controller");
            }
            self.clock.sleep(self.poll).await;
        }
    }

    /// One pass: learn new ReplicaSets, then create missing and delete surplus pods.
    /// Returns the pods created and deleted.
    pub async fn tick(&self) -> Result<(Vec<String>, Vec<String>)> {
        let pods = Api::<Pod>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::kube("list Pods", e))?
            .items;
        let mut by_set: HashMap<Key, Vec<&Pod>> = HashMap::new();
        for p in pods.iter().filter(|p| live(p)) {
            if let Some(k) = owner(p) {
                by_set.entry(k).or_default().push(p);
            }
        }
        let todo: Vec<(Key, Set)> = {
            let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
            for (k, ps) in &by_set {
                let s = sets.entry(k.clone()).or_insert_with(|| Set {
                    template: ps[0].clone(),
                    replicas: ps.len(),
                    scaled: false,
                });
                if !s.scaled {
                    s.replicas = s.replicas.max(ps.len());
                }
            }
            sets.iter().map(|(k, s)| (k.clone(), s.clone())).collect()
        };
        let (mut created, mut deleted) = (Vec::new(), Vec::new());
        for (key, set) in todo {
            let mut have: Vec<&Pod> = by_set.get(&key).cloned().unwrap_or_default();
            let api = Api::<Pod>::namespaced(self.client.clone(), &key.0);
            if have.len() < set.replicas {
                for _ in have.len()..set.replicas {
                    let name = self.create(&api, &key, &set.template).await?;
                    created.push(format!("{}/{name}", key.0));
                }
            } else if set.scaled && have.len() > set.replicas {
                // unbound pods go first, then the newest
                have.sort_by_key(|p| (bound(p), std::cmp::Reverse(p.creation_timestamp())));
                for p in &have[..have.len() - set.replicas] {
                    match api.delete(&p.name_any(), &DeleteParams::default()).await {
                        Ok(_) => deleted.push(format!("{}/{}", key.0, p.name_any())),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => {
                            return Err(Error::kube(
                                format!("delete Pod {}/{}", key.0, p.name_any()),
                                e,
                            ))
                        }
                    }
                }
            }
        }
        Ok((created, deleted))
    }

    async fn create(&self, api: &Api<Pod>, key: &Key, template: &Pod) -> Result<String> {
        for _ in 0..5 {
            let name = self.names.next(&key.1);
            let t = &template.metadata;
            let mut spec = template.spec.clone().unwrap_or_default();
            spec.node_name = None;
            let pod = Pod {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(key.0.clone()),
                    labels: t.labels.clone(),
                    annotations: t.annotations.clone(),
                    owner_references: t.owner_references.clone(),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
                status: Some(PodStatus {
                    phase: Some("Pending".into()),
                    ..PodStatus::default()
                }),
            };
            match api.create(&PostParams::default(), &pod).await {
                Ok(_) => {
                    tracing::debug!(pod = %format!("{}/{name}", key.0), replicaset = %key.1,
                        "simulated replicaset created pod");
                    return Ok(name);
                }
                Err(e) if is_conflict(&e) => continue,
                Err(e) => {
                    return Err(Error::kube(
                        format!("create Pod {}/{name} for ReplicaSet {}", key.0, key.1),
                        e,
                    ))
                }
            }
        }
        Err(Error::Invalid(format!(
            "five generated Pod names for ReplicaSet {}/{} were all taken",
            key.0, key.1
        )))
    }
}
