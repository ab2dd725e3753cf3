//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection` package
//! does it for controller-runtime (and so for the in-cluster Karpenter): the same Lease name
//! (`karpenter-leader-election`, upstream `LEADER_ELECTION_NAME`) in the same namespace means
//! `run` and an in-cluster Karpenter — or two `run`s — never act at once.
//!
//! Semantics (client-go `leaderelection.go`, `resourcelock/leaselock.go`):
//! * a holder renews `spec.renewTime` every retry period (2 s); others wait;
//! * a Lease is free when its holder is empty, or when its record has not changed for
//!   `leaseDurationSeconds` (15 s) **as observed locally** (the local clock, not the holder's
//!   timestamps, so clock skew between machines does not matter);
//! * every write is an update carrying the `resourceVersion` that was read, so two candidates
//!   racing for a free Lease cannot both win (the loser gets 409 Conflict);
//! * a leader that cannot renew within the renew deadline (10 s) stops leading;
//! * on a clean shutdown the leader releases the Lease (empty holder, `leaseDurationSeconds: 1`;
//!   controller-runtime's `LeaderElectionReleaseOnCancel`, which Karpenter sets), so a standby
//!   takes over at once.
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};

use super::error::{is_conflict, is_not_found};

/// Upstream's default Lease name (`LEADER_ELECTION_NAME`).
pub const DEFAULT_LEASE_NAME: &str = "karpenter-leader-election";

/// Where and how to elect.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This candidate's identity (`spec.holderIdentity`).
    pub identity: String,
    /// How long a Lease stays held without renewal (15 s).
    pub lease_duration: Duration,
    /// How long a leader keeps trying to renew before it gives up leading (10 s).
    pub renew_deadline: Duration,
    /// Time between attempts (2 s).
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// controller-runtime's timings for `name` in `namespace`.
    pub fn new(name: &str, namespace: &str, identity: &str) -> Self {
        LeaseConfig {
            name: name.to_string(),
            namespace: namespace.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A default identity: `<hostname>_<random>` (client-go's `hostname_uuid`).
pub fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kubectl-karpenter".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    format!("{host}_{mixed:016x}")
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// This candidate holds the Lease (acquired or renewed).
    Leading,
    /// Another candidate holds it.
    HeldBy(String),
}

/// Why an attempt failed (the API server could not be asked).
#[derive(Debug, thiserror::Error)]
#[error("leader election: {action} Lease {namespace}/{name}: {source}")]
pub struct LeaseError {
    action: &'static str,
    namespace: String,
    name: String,
    #[source]
    source: kube::Error,
}

/// One candidate for one Lease.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    /// The last record seen (holder, renewTime, transitions) and when it was first seen.
    observed: Option<(String, Option<MicroTime>, Instant)>,
    leading: bool,
}

fn now_micro() -> MicroTime {
    MicroTime(Timestamp::now())
}

impl Elector {
    /// A candidate for `cfg`'s Lease.
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
            leading: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.cfg
    }

    /// Whether the last attempt left this candidate leading.
    pub fn is_leading(&self) -> bool {
        self.leading
    }

    fn err(&self, action: &'static str, source: kube::Error) -> LeaseError {
        LeaseError {
            action,
            namespace: self.cfg.namespace.clone(),
            name: self.cfg.name.clone(),
            source,
        }
    }

    fn spec(&self, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.cfg.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX),
            ),
            acquire_time: acquire,
            renew_time: Some(now_micro()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Acquire or renew the Lease once (client-go `tryAcquireOrRenew`).
    pub async fn try_acquire_or_renew(&mut self) -> Result<Attempt, LeaseError> {
        let current = self
            .api
            .get_opt(&self.cfg.name)
            .await
            .map_err(|e| self.err("read", e))?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(Some(now_micro()), 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => {
                    self.leading = true;
                    self.observed = None;
                    Ok(Attempt::Leading)
                }
                // another candidate created it first
                Err(e) if is_conflict(&e) => {
                    self.leading = false;
                    Ok(Attempt::HeldBy(
                        "another candidate (it was created concurrently)".into(),
                    ))
                }
                Err(e) => Err(self.err("create", e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.cfg.lease_duration);
        // when did the record last change, by our clock?
        let seen = (holder.clone(), spec.renew_time.clone());
        let observed_at = match &self.observed {
            Some((h, r, at)) if (h, r) == (&seen.0, &seen.1) => *at,
            _ => Instant::now(),
        };
        self.observed = Some((seen.0, seen.1, observed_at));
        let mine = holder == self.cfg.identity;
        let free = holder.is_empty() || observed_at.elapsed() >= duration;
        if !mine && !free {
            self.leading = false;
            return Ok(Attempt::HeldBy(holder));
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let new_spec = if mine {
            self.spec(spec.acquire_time.clone(), transitions)
        } else {
            self.spec(Some(now_micro()), transitions + 1)
        };
        lease.spec = Some(new_spec);
        // the resourceVersion read above makes this an optimistic-concurrency update
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                self.leading = true;
                Ok(Attempt::Leading)
            }
            Err(e) if is_conflict(&e) => {
                self.leading = false;
                Ok(Attempt::HeldBy(if mine || holder.is_empty() {
                    "another candidate (it updated the Lease concurrently)".into()
                } else {
                    holder
                }))
            }
            Err(e) if is_not_found(&e) => {
                self.leading = false;
                Ok(Attempt::HeldBy(
                    "nobody (the Lease was deleted; retrying)".into(),
                ))
            }
            Err(e) => Err(self.err("update", e)),
        }
    }

    /// Give the Lease up if this candidate holds it (empty holder, 1 s duration), so a
    /// standby takes over at once.
    pub async fn release(&mut self) -> Result<bool, LeaseError> {
        self.leading = false;
        let Some(mut lease) = self
            .api
            .get_opt(&self.cfg.name)
            .await
            .map_err(|e| self.err("read", e))?
        else {
            return Ok(false);
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return Ok(false);
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now_micro());
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) || is_not_found(&e) => Ok(false),
            Err(e) => Err(self.err("release", e)),
        }
    }
}

/// The holder a Lease names now, if any (for messages).
pub async fn holder(client: Client, namespace: &str, name: &str) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}
