//! An in-process Kubernetes API-server double for tests.
//!
//! [`ApiServer::start`] serves plain HTTP on `127.0.0.1` to the real kube-rs [`kube::Client`]
//! (or to the CLI through [`ApiServer::kubeconfig_yaml`]). The server runs on its own thread
//! and runtime, so a test may block (e.g. wait for a CLI subprocess) while it answers.
//!
//! [`ApiServer::start_in_process`] serves the same handler with no socket and no thread: its
//! [`ApiServer::client`] passes each request to the handler through a `tower` service, as
//! tasks on the caller's runtime. Under tokio's paused time the clock then auto-advances only
//! when every task (the double's watch streams included) is idle, so hours of virtual time run
//! in moments: `run --simulate` is built on it. [`ApiServerBuilder::with_clock`] makes the
//! double's timestamps (creation, deletion, managedFields, conditions) follow such a clock, and
//! [`ApiServerBuilder::without_request_log`] keeps a long run's memory flat.
//!
//! Either way, it implements the API server's request semantics rather than accepting anything:
//!
//! * built-in kinds (Pod, Node, Namespace, ConfigMap, Secret, ServiceAccount, Event, PV, PVC,
//!   DaemonSet, Deployment, PodDisruptionBudget, Lease, events.k8s.io Event, ClusterRole,
//!   ClusterRoleBinding, CronJob, StorageClass) and every Karpenter kind (Provisioner, Machine,
//!   NodePool, NodeClaim, AWSNodeTemplate, EC2NodeClass; NodePool/NodeClaim/EC2NodeClass at
//!   `v1beta1` and `v1`, stored once);
//! * discovery (`/api`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}`, `/version`);
//! * `metav1.Status` errors with the real codes, reasons and messages;
//! * create metadata (uid, one global resourceVersion counter, generation, `generateName`),
//!   NamespaceLifecycle (namespaced objects need their Namespace), DNS-1123 name validation;
//!   ObjectMeta label and annotation validation on every HTTP write (qualified-name keys, label
//!   values, string values, the 256 KiB annotation limit);
//! * list with label/field selectors and `limit`/`continue`/`remainingItemCount`; watch with
//!   resourceVersion, bookmarks, timeouts, selectors and `sendInitialEvents`; a too-old
//!   resourceVersion yields an `ERROR` event with a 410 Status (reason `Expired`, as the real
//!   watch cache sends);
//! * PUT with optimistic concurrency (a custom resource's PUT must carry
//!   `metadata.resourceVersion`, 422 otherwise, as apiextensions allows no unconditional
//!   update) and the status subresource; JSON patch, merge patch,
//!   strategic merge patch (built-in kinds only; 415 for custom resources) and server-side
//!   apply with `managedFields`, conflicts and `force`; Update operations are tracked in
//!   `managedFields` too;
//! * finalizers and `deletionTimestamp`, delete preconditions, deletecollection;
//! * the `pods/eviction` subresource with PodDisruptionBudget arithmetic, and `pods/binding`
//!   (sets `spec.nodeName` and `PodScheduled=True`, as kube-scheduler binds);
//! * Pod spec updates restricted as the real pod validation restricts them (images,
//!   activeDeadlineSeconds, added tolerations, terminationGracePeriodSeconds);
//! * `dryRun=All` writes answer with the would-be result and change nothing;
//! * optionally ([`ApiServerBuilder::with_karpenter_schema_validation`]) defaulting and
//!   validation of Karpenter objects against the upstream CRD schemas and CEL rules.
//!
//! Test helpers beyond HTTP: [`ApiServer::seed`], [`ApiServer::seed_all`], [`ApiServer::get`],
//! [`ApiServer::list`], [`ApiServer::modify`] and [`ApiServer::delete`] act on the store
//! directly (with resourceVersion and watch-event semantics); [`ApiServer::requests`] /
//! [`ApiServer::writes`] record traffic; [`ApiServer::inject_fault`],
//! [`ApiServer::close_watches`] and [`ApiServer::expire_watch_history`] provoke failures.
//!
//! What it does not do: no controllers run (no garbage collector, scheduler, kubelet, disruption
//! controller or namespace controller), so `propagationPolicy` has no effect and nothing reacts to
//! `spec.unschedulable` or taints (they are plain data). Pod `gracePeriodSeconds` is recorded as
//! `deletionGracePeriodSeconds` on pods held by finalizers, but pods without finalizers are
//! deleted immediately. Deleting a Namespace deletes the objects in it at once (objects with
//! finalizers are only marked). Without schema validation, custom resources are stored as sent.
//! Continue tokens resume after the last returned key against the current state (no snapshot).
//! Server-side apply and managed fields treat every custom-resource list as atomic: the CRDs'
//! `x-kubernetes-list-type: map|set` markers (e.g. on `status.conditions`) are not read.
//! A list's `resourceVersion`/`resourceVersionMatch` parameters are ignored (it always reads the
//! current state).
//! Watch bookmarks are sent only when a watch's `timeoutSeconds` expires (and after
//! `sendInitialEvents`). core/v1 and events.k8s.io/v1 Events are stored separately. Kinds
//! served at several versions are returned with the requested `apiVersion` but without schema
//! conversion (no conversion webhook). kube's client retries 429/503/504 by default;
//! [`ApiServer::client`] turns that off, clients from the kubeconfig keep it.
//!
//! Eviction: pods that are Pending, Succeeded, Failed or already terminating are evicted without
//! consulting a budget (as the real server does); an unhealthy pod may be evicted when the budget
//! is currently satisfied (`IfHealthyBudget`, the default) or the PDB says `AlwaysAllow`; a PDB
//! with neither `minAvailable` nor `maxUnavailable` behaves as `minAvailable: 1`. The budget is
//! recomputed from the pods on every eviction (expected = matching pods, healthy = Ready and not
//! terminating) and the result is written to the PDB status.
//!
//! ```ignore
//! let server = kube_double::ApiServer::start().await;
//! server.seed(serde_json::json!({
//!     "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
//!     "metadata": {"name": "default"}, "spec": {"limits": {"cpu": "100"}}
//! }));
//! let ar = server.api_resource("karpenter.sh/v1", "NodePool").unwrap();
//! let pools: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(server.client(), &ar);
//! // ... run the code under test with server.client() or server.kubeconfig_yaml() ...
//! assert!(server.writes().is_empty());
//! ```

mod in_process;
mod patch;
mod resources;
mod selectors;
mod server;
mod status;
mod store;
mod util;

pub use resources::ResourceDef;
pub use status::ApiError;

use serde_json::{json, Value};
use server::Shared;
use std::sync::{Arc, Mutex};
use store::Store;

/// One HTTP request the double received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method (`GET`, `PATCH`, ...).
    pub method: String,
    /// Request path, e.g. `/apis/karpenter.sh/v1/nodepools/default`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Content type without parameters, if any.
    pub content_type: Option<String>,
    /// The request body (lossy UTF-8; empty for most reads).
    pub body: String,
    /// The `User-Agent` header (empty when absent): tells apart clients sharing one server.
    pub user_agent: String,
}

impl RecordedRequest {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

impl RecordedRequest {
    /// Whether the request could change state (POST, PUT, PATCH, DELETE).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

/// What an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 409 Conflict, as if another writer won the race.
    Conflict,
    /// A `Status` error with this HTTP code.
    Status(u16),
}

/// A fault injected into the next matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What the matching requests get.
    pub kind: FaultKind,
    /// HTTP method to match; `None` matches every write (POST, PUT, PATCH, DELETE).
    pub method: Option<String>,
    /// Kind (`NodePool`) or plural resource name (`nodepools`) to match, case-insensitive.
    pub resource: String,
    /// How many more requests this fault applies to.
    pub remaining: u32,
}

impl Fault {
    /// The next `n` writes to `kind` return 409 Conflict.
    pub fn conflict_on_next_writes(kind: &str, n: u32) -> Fault {
        Fault {
            kind: FaultKind::Conflict,
            method: None,
            resource: kind.to_string(),
            remaining: n,
        }
    }

    /// The next `times` requests with `method` (or `"*"` for any) to `kind` return `code`.
    pub fn status(method: &str, kind: &str, code: u16, times: u32) -> Fault {
        Fault {
            kind: FaultKind::Status(code),
            method: if method == "*" {
                Some("*".into())
            } else {
                Some(method.to_ascii_uppercase())
            },
            resource: kind.to_string(),
            remaining: times,
        }
    }

    pub(crate) fn matches(&self, method: &str, def: &ResourceDef) -> bool {
        if self.remaining == 0 {
            return false;
        }
        let kind_ok = self.resource.eq_ignore_ascii_case(&def.kind)
            || self.resource.eq_ignore_ascii_case(&def.plural);
        let method_ok = match &self.method {
            None => matches!(method, "POST" | "PUT" | "PATCH" | "DELETE"),
            Some(m) => m == "*" || m == method,
        };
        kind_ok && method_ok
    }
}

/// The double's time source for the timestamps it writes: unix seconds.
#[derive(Clone)]
pub struct Now(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Now {
    /// The system's wall clock (the default).
    pub fn system() -> Now {
        Now(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        }))
    }

    /// Any source of unix seconds (e.g. a simulation's virtual clock).
    pub fn from_fn(f: impl Fn() -> i64 + Send + Sync + 'static) -> Now {
        Now(Arc::new(f))
    }

    /// The current time in unix seconds.
    pub fn unix_seconds(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Now {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Now({})", self.unix_seconds())
    }
}

/// Configures an [`ApiServer`] before it starts.
#[derive(Debug, Clone)]
pub struct ApiServerBuilder {
    karpenter: bool,
    extra: Vec<ResourceDef>,
    history: usize,
    validate_schemas: bool,
    now: Now,
    record_requests: bool,
}

impl ApiServerBuilder {
    /// Serve no Karpenter resources (a cluster without the Karpenter CRDs).
    pub fn without_karpenter_crds(mut self) -> Self {
        self.karpenter = false;
        self
    }

    /// Serve an additional resource.
    pub fn with_resource(mut self, def: ResourceDef) -> Self {
        self.extra.push(def);
        self
    }

    /// Default and validate Karpenter objects written over HTTP against the upstream CRD
    /// schemas and CEL rules (the `crd-schema` crate), answering 422 Invalid on violations as
    /// the real API server does. Off by default so tests may store partial objects; `seed`
    /// never validates.
    pub fn with_karpenter_schema_validation(mut self) -> Self {
        self.validate_schemas = true;
        self
    }

    /// How many changes are retained for watches (older resourceVersions get 410 Gone).
    pub fn watch_history(mut self, n: usize) -> Self {
        self.history = n;
        self
    }

    /// Take the timestamps the double writes (`creationTimestamp`, `deletionTimestamp`,
    /// managedFields times, the binding's `PodScheduled` time, a PDB's `disruptedPods`) from
    /// `now` instead of the system clock.
    pub fn with_clock(mut self, now: Now) -> Self {
        self.now = now;
        self
    }

    /// Do not keep requests for [`ApiServer::requests`] (they are kept by default; a long
    /// simulation would otherwise hold every request body it ever sent).
    pub fn without_request_log(mut self) -> Self {
        self.record_requests = false;
        self
    }

    /// Starts the server on an ephemeral 127.0.0.1 port.
    ///
    /// # Panics
    /// If the server thread cannot start or no local port can be bound (a broken test
    /// environment).
    pub async fn build(self) -> ApiServer {
        let shared = self.shared();
        // The server runs on its own thread and runtime, so it keeps answering while the
        // test's runtime is blocked (e.g. on `std::process::Command::output()` for CLI tests).
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let task_shared = shared.clone();
        std::thread::Builder::new()
            .name("kube-double".into())
            .spawn(move || serve(task_shared, addr_tx))
            .expect("kube-double: cannot spawn the server thread");
        let addr = match addr_rx.await {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => panic!("kube-double: cannot bind 127.0.0.1:0: {e}"),
            Err(_) => panic!("kube-double: the server thread exited before binding"),
        };
        ApiServer {
            shared,
            port: Some(addr.port()),
        }
    }

    /// A double with no socket and no thread: [`ApiServer::client`] hands requests to the
    /// handler in process, as tasks on the runtime that uses the client (so tokio's paused time
    /// governs it too). [`ApiServer::url`] and the kubeconfig are meaningless for it.
    pub fn build_in_process(self) -> ApiServer {
        ApiServer {
            shared: self.shared(),
            port: None,
        }
    }

    fn shared(self) -> Arc<Shared> {
        let mut defs = resources::builtin_resources();
        if self.karpenter {
            defs.extend(resources::karpenter_resources());
        }
        defs.extend(self.extra.into_iter().filter(|d| !d.versions.is_empty()));
        let mut store = Store::new(defs, self.history);
        store.validate_schemas = self.validate_schemas;
        store.now = self.now;
        if let Some(ns_def) = store
            .defs
            .iter()
            .find(|d| d.group.is_empty() && d.plural == "namespaces")
            .cloned()
        {
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let obj =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                let _ = store.create(&ns_def, None, obj, false, None);
            }
        }
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Arc::new(Shared {
            store: Mutex::new(store),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            shutdown,
            watch_epoch: tokio::sync::watch::channel(0).0,
            record_requests: self.record_requests,
        })
    }
}

/// The server thread: a current-thread runtime running the accept loop until shutdown.
fn serve(
    shared: Arc<Shared>,
    addr_tx: tokio::sync::oneshot::Sender<std::io::Result<std::net::SocketAddr>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = addr_tx.send(Err(e));
            return;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => {
                let _ = addr_tx.send(Err(e));
                return;
            }
        };
        let _ = addr_tx.send(listener.local_addr());
        let mut stop = shared.shutdown.subscribe();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.changed() => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            let conn_shared = shared.clone();
            let mut conn_stop = shared.shutdown.subscribe();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let s = conn_shared.clone();
                    async move { Ok::<_, std::convert::Infallible>(server::handle(s, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {}
                    _ = conn_stop.changed() => {}
                }
            });
        }
    });
}

/// A running API-server double. Dropping it stops the server (and ends its watch streams).
pub struct ApiServer {
    shared: Arc<Shared>,
    /// The HTTP port; `None` for an in-process double.
    port: Option<u16>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(_) => f
                .debug_struct("ApiServer")
                .field("url", &self.url())
                .finish(),
            None => f
                .debug_struct("ApiServer")
                .field("in_process", &true)
                .finish(),
        }
    }
}

impl ApiServer {
    /// Starts a double serving the built-in kinds and every Karpenter kind.
    pub async fn start() -> ApiServer {
        ApiServer::builder().build().await
    }

    /// Starts a double in process (see [`ApiServerBuilder::build_in_process`]).
    pub fn start_in_process() -> ApiServer {
        ApiServer::builder().build_in_process()
    }

    /// A builder for non-default servers.
    pub fn builder() -> ApiServerBuilder {
        ApiServerBuilder {
            karpenter: true,
            extra: Vec::new(),
            history: 1000,
            validate_schemas: false,
            now: Now::system(),
            record_requests: true,
        }
    }

    /// Whether this double answers in process (no socket).
    pub fn is_in_process(&self) -> bool {
        self.port.is_none()
    }

    /// `http://127.0.0.1:PORT`.
    ///
    /// # Panics
    /// For an in-process double, which has no URL (use [`ApiServer::client`]).
    pub fn url(&self) -> String {
        match self.port {
            Some(port) => format!("http://127.0.0.1:{port}"),
            None => panic!("kube-double: an in-process double has no URL; use ApiServer::client()"),
        }
    }

    /// A real kube-rs client pointed at the double (default namespace `default`).
    ///
    /// Over HTTP, kube's default retry layer is switched off (`Config::default_retry = false`)
    /// so a test sees 429/503/504 at once; a client built from [`ApiServer::kubeconfig_yaml`]
    /// keeps kube's default and retries those codes (up to 15 times with exponential backoff).
    /// In process, the client is kube's `Client::new` over the handler (no retry, auth or
    /// tracing layers).
    ///
    /// # Panics
    /// Outside a Tokio runtime (kube's client needs one).
    pub fn client(&self) -> kube::Client {
        if self.port.is_none() {
            let service = in_process::InProcess {
                shared: self.shared.clone(),
            };
            return kube::Client::new(service, "default");
        }
        kube::Client::try_from(self.config())
            .expect("kube-double: building a kube client for the double")
    }

    /// A client like [`ApiServer::client`] that sends `User-Agent: user_agent`, so
    /// [`RecordedRequest::user_agent`] tells which of several clients made a request.
    pub fn client_with_user_agent(&self, user_agent: &str) -> kube::Client {
        let mut config = self.config();
        config.headers.push((
            hyper::header::USER_AGENT,
            hyper::header::HeaderValue::from_str(user_agent)
                .expect("kube-double: a valid User-Agent"),
        ));
        kube::Client::try_from(config).expect("kube-double: building a kube client for the double")
    }

    fn config(&self) -> kube::Config {
        let uri: hyper::Uri = self
            .url()
            .parse()
            .expect("kube-double: the server URL is a valid URI");
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".to_string();
        config.default_retry = false;
        config
    }

    /// A kubeconfig whose cluster, user and context are all named `double`.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: double\n  cluster:\n    server: {}\nusers:\n- name: double\n  user: {{}}\ncontexts:\n- name: double\n  context:\n    cluster: double\n    user: double\n    namespace: default\ncurrent-context: double\npreferences: {{}}\n",
            self.url()
        )
    }

    /// Writes [`ApiServer::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// Stores an object directly (no HTTP), with create semantics: uid, resourceVersion,
    /// generation, creationTimestamp; `.status` is kept as given. A missing namespace is created.
    ///
    /// # Panics
    /// If the kind is not served or the object is invalid (a broken test arrangement); the
    /// message names the object and the reason.
    pub fn seed(&self, obj: Value) -> Value {
        match self.try_seed(obj) {
            Ok(v) => v,
            Err(e) => panic!("kube-double: seed failed: {e}"),
        }
    }

    /// Seeds several objects atomically: no request (and no watch) observes a partial set.
    ///
    /// # Panics
    /// As [`ApiServer::seed`]; objects before the failing one stay stored.
    pub fn seed_all(&self, objs: Vec<Value>) -> Vec<Value> {
        let mut store = self.shared.store();
        objs.into_iter()
            .map(|o| match seed_locked(&mut store, o) {
                Ok(v) => v,
                Err(e) => panic!("kube-double: seed failed: {e}"),
            })
            .collect()
    }

    /// Like [`ApiServer::seed`] but returns the API error instead of panicking.
    pub fn try_seed(&self, obj: Value) -> Result<Value, SeedError> {
        let mut store = self.shared.store();
        seed_locked(&mut store, obj)
    }

    /// Reads an object directly; `api_version` picks the served version returned.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let store = self.shared.store();
        let (def, version) = store.def_for_kind(api_version, kind)?;
        let ns = if def.namespaced {
            namespace.unwrap_or("default")
        } else {
            ""
        };
        store
            .get(&def, ns, name)
            .ok()
            .map(|o| with_api_version(&def, &version, o))
    }

    /// Lists objects directly; `namespace: None` lists every namespace.
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let store = self.shared.store();
        let Some((def, version)) = store.def_for_kind(api_version, kind) else {
            return Vec::new();
        };
        let ns = if def.namespaced { namespace } else { None };
        store
            .list(
                &def,
                ns,
                &Default::default(),
                &Default::default(),
                None,
                None,
            )
            .map(|(items, _, _)| {
                items
                    .into_iter()
                    .map(|o| with_api_version(&def, &version, o))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Calls `f` with each stored object of a kind (in `namespace`, or all), in name order,
    /// without copying them (the stored form: `apiVersion` may be the storage version).
    pub fn visit(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        mut f: impl FnMut(&Value),
    ) {
        let store = self.shared.store();
        let Some((def, _)) = store.def_for_kind(api_version, kind) else {
            return;
        };
        let ns = if def.namespaced { namespace } else { None };
        store.visit(&def, ns, &mut f);
    }

    /// Changes a stored object directly (no HTTP, no subresource rules: spec and status alike),
    /// with update semantics: resourceVersion bump, generation, MODIFIED watch event, and real
    /// deletion when the last finalizer of a terminating object goes. Returns the stored object,
    /// or `None` when the kind or object does not exist. Use it to play the kubelet or a
    /// controller in tests (e.g. mark a Node Ready).
    pub fn modify(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let mut store = self.shared.store();
        let (def, version) = store.def_for_kind(api_version, kind)?;
        let ns = if def.namespaced {
            namespace.unwrap_or("default")
        } else {
            ""
        };
        let old = store.get(&def, ns, name).ok()?;
        let mut new = with_api_version(&def, &version, old.clone());
        f(&mut new);
        if let Some(Value::Object(m)) = new.get_mut("metadata") {
            m.remove("resourceVersion");
        }
        store
            .commit(
                &def,
                old,
                new,
                store::Sub::Whole,
                store::Tracking::Precomputed,
            )
            .ok()
            .map(|o| with_api_version(&def, &version, o))
    }

    /// Deletes an object directly with the API's semantics (finalizers mark it terminating).
    /// Returns the deleted or marked object, or `None` when it does not exist.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let mut store = self.shared.store();
        let (def, version) = store.def_for_kind(api_version, kind)?;
        let ns = if def.namespaced {
            namespace.unwrap_or("default")
        } else {
            ""
        };
        store
            .delete(&def, ns, name, &store::DeleteOpts::default())
            .ok()
            .map(|o| with_api_version(&def, &version, o))
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The requests that could have changed state (POST, PUT, PATCH, DELETE).
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_write)
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Injects a fault for the next matching requests.
    pub fn inject_fault(&self, fault: Fault) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fault);
    }

    /// Ends every open watch stream (clients see the stream close and re-watch), as an API
    /// server restart or a load-balancer timeout would.
    pub fn close_watches(&self) {
        self.shared.watch_epoch.send_modify(|e| *e += 1);
    }

    /// Drops the retained watch history (like an etcd compaction): a watch resuming from any
    /// earlier resourceVersion gets a 410 Gone `ERROR` event and must re-list.
    pub fn expire_watch_history(&self) {
        self.shared.store().expire_history();
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().rv
    }

    /// A kube `ApiResource` for a served apiVersion/kind (for `Api<DynamicObject>`).
    pub fn api_resource(&self, api_version: &str, kind: &str) -> Option<kube::core::ApiResource> {
        let store = self.shared.store();
        let (def, version) = store.def_for_kind(api_version, kind)?;
        Some(kube::core::ApiResource {
            group: def.group.clone(),
            version: version.clone(),
            api_version: def.api_version(&version),
            kind: def.kind.clone(),
            plural: def.plural.clone(),
        })
    }
}

/// Creates an object directly in a locked store (namespace auto-created).
fn seed_locked(store: &mut Store, obj: Value) -> Result<Value, SeedError> {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (def, version) =
        store
            .def_for_kind(&api_version, &kind)
            .ok_or_else(|| SeedError::UnknownKind {
                api_version: api_version.clone(),
                kind: kind.clone(),
            })?;
    let ns = if def.namespaced {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string();
        if let Some((ns_def, _)) = store.def_for_kind("v1", "Namespace") {
            if store.get(&ns_def, "", &ns).is_err() {
                let nso =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                store
                    .create(&ns_def, None, nso, false, None)
                    .map_err(SeedError::Api)?;
            }
        }
        Some(ns)
    } else {
        None
    };
    let stored = store
        .create(&def, ns.as_deref(), obj, false, None)
        .map_err(SeedError::Api)?;
    Ok(with_api_version(&def, &version, stored))
}

fn with_api_version(def: &ResourceDef, version: &str, mut obj: Value) -> Value {
    obj["apiVersion"] = json!(def.api_version(version));
    obj
}

/// Why [`ApiServer::try_seed`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeedError {
    /// The apiVersion/kind is not served by this double.
    #[error("{kind} in {api_version:?} is not served by this double (check apiVersion/kind, or the builder's resources)")]
    UnknownKind {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// The store rejected the object.
    #[error("{} ({}): {}", .0.reason, .0.code, .0.message)]
    Api(ApiError),
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}
