//! The HTTP front end: routing, discovery, content types, watch streaming, faults.

use crate::patch;
use crate::resources::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{DeleteOpts, Store, Sub, Tracking};
use crate::{Fault, FaultKind, RecordedRequest};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// State shared by the server task, watch streams and the test-facing handle.
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub requests: Mutex<Vec<RecordedRequest>>,
    pub faults: Mutex<Vec<Fault>>,
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Bumped to end every open watch stream (see `ApiServer::close_watches`).
    pub watch_epoch: tokio::sync::watch::Sender<u64>,
    /// Whether requests are kept for [`crate::ApiServer::requests`].
    pub record_requests: bool,
}

impl Shared {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

/// A parsed resource request.
struct Target {
    def: ResourceDef,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn not_served() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn resolve(store: &Store, segs: &[&str]) -> Result<Target, ApiError> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_served()),
    };
    let ns_scoped = rest.len() >= 3
        && rest[0] == "namespaces"
        && !(group.is_empty() && rest.len() == 3 && matches!(rest[2], "status" | "finalize"));
    let (namespace, rest) = if ns_scoped {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
        _ => return Err(not_served()),
    };
    let def = store
        .def(group, version, plural)
        .cloned()
        .ok_or_else(not_served)?;
    if namespace.is_some() && !def.namespaced {
        return Err(not_served());
    }
    if let Some(s) = &sub {
        if !def.subresources().contains(&s.as_str()) {
            return Err(not_served());
        }
    }
    Ok(Target {
        def,
        version: version.to_string(),
        namespace,
        name,
        sub,
    })
}

/// Sets the requested apiVersion on an object read from the store.
fn present(def: &ResourceDef, version: &str, mut obj: Value) -> Value {
    obj["apiVersion"] = json!(def.api_version(version));
    obj
}

fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

fn manager_from(query: &BTreeMap<String, String>, user_agent: &str) -> String {
    if let Some(m) = query.get("fieldManager") {
        return m.clone();
    }
    let ua = user_agent.split('/').next().unwrap_or_default();
    if ua.is_empty() {
        "unknown".to_string()
    } else {
        ua.to_string()
    }
}

fn take_fault(shared: &Shared, method: &str, def: &ResourceDef) -> Option<Fault> {
    let mut faults = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
    let idx = faults.iter().position(|f| f.matches(method, def))?;
    let f = faults[idx].clone();
    faults[idx].remaining -= 1;
    if faults[idx].remaining == 0 {
        faults.remove(idx);
    }
    Some(f)
}

/// Handles one request, from a socket (hyper's `Incoming` body) or in process (kube's client
/// body): the body is collected to bytes first, so every route sees the same input.
pub(crate) async fn handle<B>(shared: Arc<Shared>, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query_str = req.uri().query().map(String::from);
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or_default().trim().to_string());
    // kube's `*_metadata` calls ask for meta.k8s.io/v1 PartialObjectMetadata(List).
    let partial = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    if shared.record_requests {
        shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RecordedRequest {
                method: method.clone(),
                path: path.clone(),
                query: query_str.clone(),
                content_type: content_type.clone(),
                body: body
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
                user_agent: user_agent.clone(),
            });
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => return error_response(&ApiError::bad_request(format!("reading body: {e}"))),
    };
    let query = parse_query(query_str.as_deref());
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if method == "GET" {
        if let Some(resp) = discovery(&shared, &segs) {
            return resp;
        }
    }
    let target = {
        let store = shared.store();
        resolve(&store, &segs)
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    if let Some(fault) = take_fault(&shared, &method, &target.def) {
        let name = target.name.clone().unwrap_or_default();
        let e = match fault.kind {
            FaultKind::Conflict => {
                ApiError::conflict(&target.def.qualified(), &target.def.plural, &name)
            }
            FaultKind::Status(code) => ApiError::new(
                code,
                reason_for(code),
                format!("injected fault: HTTP {code}"),
            ),
        };
        return error_response(&e);
    }
    let is_watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    if method == "GET" && target.name.is_none() && is_watch {
        return watch(shared, target, &query, partial);
    }
    let ctx = Ctx {
        method: &method,
        query: &query,
        content_type: content_type.as_deref().unwrap_or(""),
        user_agent: &user_agent,
        body: &body,
    };
    let result = route(&shared, &target, &ctx);
    match result {
        Ok((code, v)) if partial && v.get("kind").and_then(Value::as_str) != Some("Status") => {
            json_response(code, &to_partial(v))
        }
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

/// An object (or list) as `meta.k8s.io/v1` PartialObjectMetadata(List): metadata only.
fn to_partial(v: Value) -> Value {
    let one = |o: &Value| {
        json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })
    };
    match v.get("items").and_then(Value::as_array) {
        Some(items) => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": v.get("metadata").cloned().unwrap_or_else(|| json!({})),
            "items": items.iter().map(one).collect::<Vec<_>>(),
        }),
        None => one(&v),
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Gone",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

struct Ctx<'a> {
    method: &'a str,
    query: &'a BTreeMap<String, String>,
    content_type: &'a str,
    user_agent: &'a str,
    body: &'a [u8],
}

fn selectors(
    def: &ResourceDef,
    query: &BTreeMap<String, String>,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(
        query.get("fieldSelector").map(String::as_str).unwrap_or(""),
        &def.field_selectors,
        &def.qualified(),
    )
    .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn delete_opts(body: &[u8], query: &BTreeMap<String, String>) -> Result<DeleteOpts, ApiError> {
    let mut opts = DeleteOpts::default();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v = parse_body(body)?;
        opts.uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from);
        opts.resource_version = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from);
        opts.grace_period_seconds = v.get("gracePeriodSeconds").and_then(Value::as_i64);
    }
    if let Some(g) = query.get("gracePeriodSeconds") {
        opts.grace_period_seconds = g.parse().ok();
    }
    Ok(opts)
}

fn list_kind(
    def: &ResourceDef,
    version: &str,
    items: Vec<Value>,
    rv: u64,
    cont: Option<String>,
) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": format!("{}List", def.kind),
        "apiVersion": def.api_version(version),
        "metadata": meta,
        "items": items.into_iter().map(|o| present(def, version, o)).collect::<Vec<_>>(),
    })
}

fn route(shared: &Shared, t: &Target, ctx: &Ctx<'_>) -> Result<(u16, Value), ApiError> {
    let def = &t.def;
    let ns = t.namespace.clone().unwrap_or_default();
    if def.namespaced && t.namespace.is_none() && (t.name.is_some() || ctx.method != "GET") {
        return Err(not_served());
    }
    let sub = match t.sub.as_deref() {
        None => Sub::Main,
        Some("status") => Sub::Status,
        Some(_) => Sub::Main,
    };
    let mut store = shared.store();
    // DeleteOptions carry dryRun in the body (`"dryRun": ["All"]`).
    let body_dry_run = ctx.method == "DELETE"
        && serde_json::from_slice::<Value>(ctx.body)
            .ok()
            .and_then(|b| b.get("dryRun").and_then(Value::as_array).cloned())
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    let dry_run = match ctx.query.get("dryRun").map(String::as_str) {
        None | Some("") => body_dry_run,
        Some("All") => ctx.method != "GET",
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unsupported dryRun value {other:?}: the only supported value is \"All\""
            )))
        }
    };
    store.request_version = Some(t.version.clone());
    let result = if dry_run {
        // Run the write against the real state, answer with its result, then roll back.
        let snapshot = store.snapshot();
        let result = route_locked(&mut store, t, ctx, &ns, sub);
        store.restore(snapshot);
        result
    } else {
        route_locked(&mut store, t, ctx, &ns, sub)
    };
    store.request_version = None;
    result
}

fn route_locked(
    store: &mut Store,
    t: &Target,
    ctx: &Ctx<'_>,
    ns: &str,
    sub: Sub,
) -> Result<(u16, Value), ApiError> {
    let def = &t.def;
    let ns = ns.to_string();
    match (ctx.method, t.name.as_deref(), t.sub.as_deref()) {
        ("GET", None, _) => {
            let (labels, fields) = selectors(def, ctx.query)?;
            let limit = match ctx.query.get("limit") {
                Some(l) => Some(
                    l.parse::<usize>()
                        .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
                ),
                None => None,
            };
            let page = store.list_page(
                def,
                t.namespace.as_deref(),
                &labels,
                &fields,
                limit,
                ctx.query.get("continue").map(String::as_str),
            )?;
            let mut list = list_kind(
                def,
                &t.version,
                page.items,
                page.resource_version,
                page.continue_token,
            );
            if let Some(n) = page.remaining {
                list["metadata"]["remainingItemCount"] = json!(n);
            }
            Ok((200, list))
        }
        ("GET", Some(name), _) => Ok((200, present(def, &t.version, store.get(def, &ns, name)?))),
        ("POST", None, None) => {
            let body = parse_body(ctx.body)?;
            let manager = manager_from(ctx.query, ctx.user_agent);
            let url_ns = t.namespace.as_deref();
            let obj = store.create(def, url_ns, body, true, Some(Tracking::Update(manager)))?;
            Ok((201, present(def, &t.version, obj)))
        }
        ("POST", Some(name), Some("eviction")) => {
            let body = parse_body(ctx.body)?;
            if let Some(n) = body.pointer("/metadata/name").and_then(Value::as_str) {
                if n != name {
                    return Err(ApiError::bad_request(format!(
                        "name in URL does not match name in Eviction object ({n} != {name})"
                    )));
                }
            }
            let opts = match body.get("deleteOptions") {
                Some(d) => delete_opts(&serde_json::to_vec(d).unwrap_or_default(), ctx.query)?,
                None => DeleteOpts::default(),
            };
            Ok((201, store.evict(&ns, name, &opts)?))
        }
        ("POST", Some(name), Some("binding")) if def.group.is_empty() && def.plural == "pods" => {
            let body = parse_body(ctx.body)?;
            if let Some(n) = body.pointer("/metadata/name").and_then(Value::as_str) {
                if n != name {
                    return Err(ApiError::bad_request(format!(
                        "name in URL does not match name in Binding object ({n} != {name})"
                    )));
                }
            }
            let node = body
                .pointer("/target/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Ok((201, store.bind(&ns, name, node)?))
        }
        ("PUT", Some(name), _) => {
            let body = parse_body(ctx.body)?;
            let manager = manager_from(ctx.query, ctx.user_agent);
            let obj = store.update(def, &ns, name, body, sub, Tracking::Update(manager))?;
            Ok((200, present(def, &t.version, obj)))
        }
        ("PATCH", Some(name), _) => {
            let manager = manager_from(ctx.query, ctx.user_agent);
            patch_request(store, t, &ns, name, sub, ctx, manager)
        }
        ("DELETE", Some(name), None) => {
            let opts = delete_opts(ctx.body, ctx.query)?;
            Ok((
                200,
                present(def, &t.version, store.delete(def, &ns, name, &opts)?),
            ))
        }
        ("DELETE", None, None) => {
            let (labels, fields) = selectors(def, ctx.query)?;
            let opts = delete_opts(ctx.body, ctx.query)?;
            let (items, _, _) =
                store.list(def, t.namespace.as_deref(), &labels, &fields, None, None)?;
            let mut deleted = Vec::new();
            for item in items {
                let name = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let ons = item
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                deleted.push(store.delete(def, ons, name, &opts)?);
            }
            let rv = store.rv;
            Ok((200, list_kind(def, &t.version, deleted, rv, None)))
        }
        (m, _, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m})"
        ))),
    }
}

fn patch_request(
    store: &mut Store,
    t: &Target,
    ns: &str,
    name: &str,
    sub: Sub,
    ctx: &Ctx<'_>,
    manager: String,
) -> Result<(u16, Value), ApiError> {
    let def = &t.def;
    if ctx.content_type == "application/apply-patch+yaml" {
        let Some(manager) = ctx.query.get("fieldManager").filter(|m| !m.is_empty()) else {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        };
        let force = matches!(
            ctx.query.get("force").map(String::as_str),
            Some("true" | "1")
        );
        let applied = parse_apply_body(ctx.body)?;
        let (obj, created) =
            store.apply(def, &t.version, ns, name, applied, manager, force, sub)?;
        return Ok((
            if created { 201 } else { 200 },
            present(def, &t.version, obj),
        ));
    }
    let old = store.get(def, ns, name)?;
    let mut new = old.clone();
    match ctx.content_type {
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_slice(ctx.body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut new, &ops).map_err(|e| match e.kind {
                json_patch::PatchErrorKind::TestFailed => ApiError::invalid(
                    &def.kind,
                    name,
                    vec![(
                        e.path.to_string(),
                        format!(
                            "Invalid value: the test operation {} failed: value did not match",
                            e.operation
                        ),
                    )],
                ),
                _ => ApiError::invalid(
                    &def.kind,
                    name,
                    vec![(
                        e.path.to_string(),
                        format!(
                            "Invalid value: the JSON patch operation {} failed: {}",
                            e.operation, e.kind
                        ),
                    )],
                ),
            })?;
        }
        "application/merge-patch+json" => {
            let p = parse_body(ctx.body)?;
            if !p.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            patch::merge_patch(&mut new, &p);
        }
        "application/strategic-merge-patch+json" if !def.custom => {
            let p = parse_body(ctx.body)?;
            if !p.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            patch::strategic_merge(&mut new, &p).map_err(|e| ApiError::bad_request(e.0))?;
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    }
    let obj = store.commit(def, old, new, sub, Tracking::Update(manager))?;
    Ok((200, present(def, &t.version, obj)))
}

/// Apply bodies are YAML (JSON is a subset).
fn parse_apply_body(body: &[u8]) -> Result<Value, ApiError> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the apply body is not valid UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

fn watch(
    shared: Arc<Shared>,
    t: Target,
    query: &BTreeMap<String, String>,
    partial: bool,
) -> Response<Body> {
    let (labels, fields) = match selectors(&t.def, query) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let bookmarks = matches!(
        query.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    // Streaming lists: initial ADDED events, then a bookmark marking their end.
    let send_initial = matches!(
        query.get("sendInitialEvents").map(String::as_str),
        Some("true" | "1")
    );
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let (initial, start_rv, mut notify) = {
        let store = shared.store();
        let rv_param = if send_initial {
            None
        } else {
            query.get("resourceVersion").map(String::as_str)
        };
        let start = store.watch_start(&t.def, t.namespace.as_deref(), rv_param, &labels, &fields);
        let notify = store.notify.subscribe();
        match start {
            Ok((i, rv)) => (Ok(i), rv, notify),
            // Like the watch cache: the watch is established, then fails with an ERROR event.
            Err(e) if e.code == 410 => (Err(e), 0, notify),
            Err(e) => return error_response(&e),
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let mut shutdown = shared.shutdown.subscribe();
    let mut epoch = shared.watch_epoch.subscribe();
    let def = t.def.clone();
    let version = t.version.clone();
    let ns = t.namespace.clone();
    tokio::spawn(async move {
        let line = |etype: &str, obj: Value| {
            let obj = if partial && etype != "ERROR" {
                to_partial(obj)
            } else {
                obj
            };
            let mut b =
                serde_json::to_vec(&json!({"type": etype, "object": obj})).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        let initial = match initial {
            Ok(i) => i,
            Err(e) => {
                let _ = tx.send(line("ERROR", e.to_status())).await;
                return;
            }
        };
        for (etype, obj) in initial {
            if tx
                .send(line(etype, present(&def, &version, obj)))
                .await
                .is_err()
            {
                return;
            }
        }
        if send_initial {
            let obj = json!({
                "kind": def.kind,
                "apiVersion": def.api_version(&version),
                "metadata": {
                    "resourceVersion": start_rv.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            });
            if tx.send(line("BOOKMARK", obj)).await.is_err() {
                return;
            }
        }
        let mut last = start_rv;
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        loop {
            // Mark the notification seen before reading, so later writes wake us up.
            notify.borrow_and_update();
            let batch = {
                let store = shared.store();
                store
                    .changes_since(&def, ns.as_deref(), last, &labels, &fields)
                    .map(|events| (events, store.rv))
            };
            match batch {
                Ok((events, high_water)) => {
                    for (_, etype, obj) in events {
                        if tx
                            .send(line(etype, present(&def, &version, obj)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    last = last.max(high_water);
                }
                Err(e) => {
                    let _ = tx.send(line("ERROR", e.to_status())).await;
                    return;
                }
            }
            let sleep_until =
                deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                _ = epoch.changed() => return,
                changed = notify.changed() => {
                    if changed.is_err() { return; }
                }
                _ = tokio::time::sleep_until(sleep_until) => {
                    if deadline.is_some() {
                        if bookmarks {
                            let obj = json!({
                                "kind": def.kind,
                                "apiVersion": def.api_version(&version),
                                "metadata": {"resourceVersion": last.to_string()},
                            });
                            let _ = tx.send(line("BOOKMARK", obj)).await;
                        }
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(StreamBody::new(stream).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

fn discovery(shared: &Shared, segs: &[&str]) -> Option<Response<Body>> {
    let store = shared.store();
    let defs = &store.defs;
    let v = match segs {
        ["version"] => json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-kube-double",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
            "platform": "linux/amd64"
        }),
        ["api"] => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]
        }),
        ["api", "v1"] => resource_list(defs, "", "v1"),
        ["apis"] => {
            let mut groups: Vec<(String, Vec<String>)> = Vec::new();
            for d in defs.iter().filter(|d| !d.group.is_empty()) {
                match groups.iter_mut().find(|(g, _)| *g == d.group) {
                    Some((_, vs)) => {
                        for v in &d.versions {
                            if !vs.contains(v) {
                                vs.push(v.clone());
                            }
                        }
                    }
                    None => groups.push((d.group.clone(), d.versions.clone())),
                }
            }
            for (_, vs) in &mut groups {
                sort_versions(vs);
            }
            let groups: Vec<Value> = groups.iter().map(|(g, vs)| api_group(g, vs)).collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        ["apis", g] => {
            let mut vs: Vec<String> = Vec::new();
            for d in defs.iter().filter(|d| d.group == *g) {
                for v in &d.versions {
                    if !vs.contains(v) {
                        vs.push(v.clone());
                    }
                }
            }
            if vs.is_empty() {
                return None;
            }
            sort_versions(&mut vs);
            let mut grp = api_group(g, &vs);
            grp["kind"] = json!("APIGroup");
            grp["apiVersion"] = json!("v1");
            grp
        }
        ["apis", g, v] => {
            if !defs.iter().any(|d| d.group == *g && d.serves(v)) {
                return None;
            }
            resource_list(defs, g, v)
        }
        _ => return None,
    };
    Some(json_response(200, &v))
}

/// Orders versions as Kubernetes prioritises them: GA, then beta, then alpha, newest first.
fn sort_versions(vs: &mut [String]) {
    fn rank(v: &str) -> (u8, u32, u32) {
        let rest = v.strip_prefix('v').unwrap_or(v);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major = digits.parse().unwrap_or(0);
        let tail = &rest[digits.len()..];
        let (stage, minor) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n.parse().unwrap_or(0))
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n.parse().unwrap_or(0))
        } else {
            (2, 0)
        };
        (stage, major, minor)
    }
    vs.sort_by_key(|v| std::cmp::Reverse(rank(v)));
}

fn api_group(g: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({
        "name": g,
        "versions": vs,
        "preferredVersion": {"groupVersion": format!("{g}/{}", versions[0]), "version": versions[0]},
    })
}

fn resource_list(defs: &[ResourceDef], group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for d in defs
        .iter()
        .filter(|d| d.group == group && d.serves(version))
    {
        resources.push(json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": d.short_names,
            "categories": d.categories,
        }));
        for s in d.subresources() {
            let (kind, verbs, grp, ver) = match s {
                "eviction" => ("Eviction", json!(["create"]), "policy", "v1"),
                "binding" => ("Binding", json!(["create"]), "", ""),
                _ => (d.kind.as_str(), json!(["get", "patch", "update"]), "", ""),
            };
            let mut r = json!({
                "name": format!("{}/{s}", d.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if !grp.is_empty() {
                r["group"] = json!(grp);
                r["version"] = json!(ver);
            }
            resources.push(r);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}
