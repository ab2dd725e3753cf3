//! The operator loop behind `kubectl karpenter run` (upstream `pkg/operator/operator.go`:
//! leader election, then the controllers; health and readiness): wait for the Lease, start
//! the controllers while leading, stop them when the Lease is lost, and on shutdown stop
//! taking work, let in-flight work finish (bounded), release the Lease and return.
//!
//! Also the safety check before starting: an in-cluster Karpenter controller (a Deployment
//! labelled `app.kubernetes.io/name=karpenter`, as upstream's Helm chart labels it, with ready
//! replicas) makes `run` refuse to start unless forced.
//!
//! `--dry-run` takes no Lease (it writes nothing, so it cannot conflict, and it must not stop
//! an in-cluster Karpenter from acting): its only requests are reads and watches.
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::http::{Probes, Readiness};
use super::leader::{Attempt, Elector, LeaseConfig};
use super::metrics::Metrics;
use super::{start_with_metrics, Clock, Context, Controllers, Settings};
use crate::cloud::provider::CloudProvider;

/// Upstream's Helm chart label on the Karpenter Deployment.
pub const KARPENTER_APP_LABEL: &str = "app.kubernetes.io/name=karpenter";

/// How often a [`Refresher`] runs while leading (upstream's AMI and subnet refresh, 1 min).
pub const REFRESH_PERIOD: Duration = Duration::from_secs(60);

/// Provider-specific work done while leading: once before the controllers start (so the first
/// provisioning pass finds what it needs) and every [`REFRESH_PERIOD`] after (AWS: resolve the
/// EC2NodeClasses until their status controller exists).
pub trait Refresher: Send + Sync {
    /// One refresh; failures are the refresher's to log.
    fn refresh<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, ()>;
}

/// How `run` runs.
pub struct RunOptions {
    /// The controllers' settings (`dry_run` included).
    pub settings: Settings,
    /// The Lease to hold while acting; `None`: no leader election (`--disable-leader-election`,
    /// or `--dry-run`).
    pub lease: Option<LeaseConfig>,
    /// How long shutdown waits for in-flight work.
    pub shutdown_grace: Duration,
    /// Provider-specific refresh while leading.
    pub refresher: Option<Arc<dyn Refresher>>,
}

/// What `run` shares with its endpoints.
pub struct Operator {
    /// The API client.
    pub client: Client,
    /// The cloud provider.
    pub provider: Arc<dyn CloudProvider>,
    /// The controllers' clock.
    pub clock: Arc<dyn Clock>,
    /// Metrics (outlive any one leadership term).
    pub metrics: Arc<Metrics>,
    /// What `/readyz` says.
    pub probes: Arc<Probes>,
}

/// How a term ended.
enum TermEnd {
    Shutdown,
    Lost,
}

/// An in-cluster Karpenter controller with ready replicas, as `namespace/name` and the count.
pub async fn running_karpenter(client: &Client) -> Result<Option<(String, i32)>, kube::Error> {
    let api: Api<Deployment> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels(KARPENTER_APP_LABEL))
        .await?;
    Ok(list.items.into_iter().find_map(|d| {
        let ready = d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        (ready > 0).then(|| {
            (
                format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any()),
                ready,
            )
        })
    }))
}

/// The message `run` refuses with when [`running_karpenter`] finds one.
pub fn refuse_message(deployment: &str, ready: i32) -> String {
    let (ns, name) = deployment
        .split_once('/')
        .unwrap_or(("kube-system", deployment));
    format!(
        "an in-cluster Karpenter controller is running: Deployment {deployment} has {ready} ready \
         replica(s). Two Karpenters acting on one cluster fight over nodes; scale it down first \
         with `kubectl scale deployment {name} -n {ns} --replicas=0` (scale it back up to return \
         to it), or pass --force to start anyway (the Lease then keeps only one of them acting \
         at a time, if both use the same Lease name and namespace)"
    )
}

impl Operator {
    /// Run until `shutdown` completes: elect, lead, stop gracefully, release the Lease.
    pub async fn run(&self, mut opts: RunOptions, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut elector = opts
            .lease
            .take()
            .map(|cfg| Elector::new(self.client.clone(), cfg));
        loop {
            // 1. wait for the Lease
            if let Some(el) = elector.as_mut() {
                if !self.acquire(el, &mut shutdown).await {
                    self.probes.set(Readiness::NotReady("shutting down".into()));
                    return;
                }
            }
            // 2. lead until shutdown or the Lease is lost
            match self.lead(&opts, elector.as_mut(), &mut shutdown).await {
                TermEnd::Shutdown => {
                    if let Some(el) = elector.as_mut() {
                        let cfg = el.config().clone();
                        match el.release().await {
                            Ok(true) => {
                                tracing::info!(lease = %format!("{}/{}", cfg.namespace, cfg.name),
                                identity = %cfg.identity, "released leader election lease")
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "could not release the lease; it expires on its own")
                            }
                        }
                        self.metrics.leader(&cfg.name, false);
                    }
                    return;
                }
                TermEnd::Lost => {
                    if let Some(el) = elector.as_ref() {
                        self.metrics.leader(&el.config().name, false);
                    }
                    continue;
                }
            }
        }
    }

    /// Try until leading (true) or shut down (false).
    async fn acquire(
        &self,
        el: &mut Elector,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> bool {
        let cfg = el.config().clone();
        let lease = format!("{}/{}", cfg.namespace, cfg.name);
        let mut last: Option<String> = None;
        tracing::info!(lease = %lease, identity = %cfg.identity, "attempting to acquire leader lease");
        loop {
            match el.try_acquire_or_renew().await {
                Ok(Attempt::Leading) => {
                    tracing::info!(lease = %lease, identity = %cfg.identity, "successfully acquired lease");
                    self.metrics.leader(&cfg.name, true);
                    return true;
                }
                Ok(Attempt::HeldBy(holder)) => {
                    if last.as_deref() != Some(holder.as_str()) {
                        tracing::info!(lease = %lease, holder = %holder,
                            "waiting for the leader election lease: another controller holds it and is acting on this cluster; this one starts when it stops or its lease expires");
                    }
                    self.probes.set(Readiness::Standby(format!(
                        "Lease {lease} is held by {holder}"
                    )));
                    last = Some(holder);
                }
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed; retrying"),
            }
            tokio::select! {
                _ = shutdown.as_mut() => return false,
                _ = tokio::time::sleep(cfg.retry_period) => {}
            }
        }
    }

    async fn lead(
        &self,
        opts: &RunOptions,
        mut elector: Option<&mut Elector>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> TermEnd {
        self.probes
            .set(Readiness::NotReady("cluster state not synced".into()));
        if let Some(r) = &opts.refresher {
            r.refresh(&self.client).await;
        }
        let ctl = start_with_metrics(
            self.client.clone(),
            self.provider.clone(),
            self.clock.clone(),
            opts.settings.clone(),
            self.metrics.clone(),
        );
        let ctx = ctl.context.clone();
        let helpers = self.spawn_helpers(&ctx, opts.refresher.clone());
        let end = {
            let renew = keep_leading(elector.as_deref_mut());
            tokio::pin!(renew);
            tokio::select! {
                _ = shutdown.as_mut() => TermEnd::Shutdown,
                _ = &mut renew => TermEnd::Lost,
            }
        };
        match end {
            TermEnd::Shutdown => {
                tracing::info!(grace = ?opts.shutdown_grace,
                    "shutting down: no new work is taken; waiting for in-flight work");
            }
            TermEnd::Lost => tracing::error!("leader election lost; stopping the controllers"),
        }
        self.probes
            .set(Readiness::NotReady("stopping the controllers".into()));
        helpers.abort();
        // keep renewing while in-flight work finishes, so no other controller starts meanwhile
        let stopping = tokio::spawn(stop(ctl, opts.shutdown_grace));
        tokio::pin!(stopping);
        if matches!(end, TermEnd::Shutdown) {
            let renew = keep_leading(elector);
            tokio::pin!(renew);
            let mut renewing = true;
            loop {
                tokio::select! {
                    _ = &mut stopping => break,
                    _ = &mut renew, if renewing => renewing = false,
                }
            }
        } else {
            let _ = stopping.await;
        }
        end
    }

    fn spawn_helpers(
        &self,
        ctx: &Arc<Context>,
        refresher: Option<Arc<dyn Refresher>>,
    ) -> tokio::task::JoinHandle<()> {
        let ctx = ctx.clone();
        let probes = self.probes.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = ctx.state.wait_synced() => {
                    tracing::info!("cluster state synced");
                    probes.set(Readiness::Ready);
                }
                _ = ctx.stopped() => return,
            }
            let Some(r) = refresher else {
                return;
            };
            loop {
                tokio::select! {
                    _ = ctx.clock.sleep(REFRESH_PERIOD) => r.refresh(&ctx.client).await,
                    _ = ctx.stopped() => return,
                }
            }
        })
    }
}

async fn stop(ctl: Controllers, grace: Duration) {
    let finished = ctl.shutdown(grace).await;
    tracing::info!(finished_in_time = finished, "controllers stopped");
}

/// Renew the Lease every retry period; return when leadership is lost (another holder, or no
/// successful renewal within the renew deadline). Never returns without an elector.
async fn keep_leading(elector: Option<&mut Elector>) {
    let Some(el) = elector else {
        return futures::future::pending().await;
    };
    let cfg = el.config().clone();
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(cfg.retry_period).await;
        match el.try_acquire_or_renew().await {
            Ok(Attempt::Leading) => last_ok = Instant::now(),
            Ok(Attempt::HeldBy(holder)) => {
                tracing::error!(holder = %holder, "the leader election lease was taken over");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "renewing the leader election lease failed");
                if last_ok.elapsed() >= cfg.renew_deadline {
                    tracing::error!(deadline = ?cfg.renew_deadline, "could not renew the leader election lease within the renew deadline");
                    return;
                }
            }
        }
    }
}
