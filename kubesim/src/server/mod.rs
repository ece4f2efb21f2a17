//! The HTTP front: the Kubernetes REST paths, discovery and the `/_sim/` admin routes.
//!
//! Layout: this module routes a request path (`/api/v1/namespaces/{ns}/pods/{name}/log`, ...)
//! to a [`Target`] and implements get/list/create/replace/patch/delete and the scale and
//! eviction subresources; `watch` streams watch events, `logs` serves pod logs, `table` renders
//! the `Table` responses kubectl asks for, `discovery` the `/api`, `/apis` documents and
//! `admin` the runtime controls. Every failure is an [`ApiError`] rendered as a `Status`; no
//! input makes a handler panic.

mod admin;
mod discovery;
mod logs;
mod protobuf;
mod table;
mod watch;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resources::{METRICS_GROUP, ResourceType, TypeId, View};
use crate::selector::{FieldSelector, LabelSelector};
use crate::sim::{MetricsMode, Sim};
use crate::store::object_key;

/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The router serving the simulated API server.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .nest("/_sim", admin::router())
        .fallback(api)
        .with_state(sim)
}

/// Parsed query string (the last value of a repeated key wins).
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    pub(crate) fn number(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("{key}: Invalid value: \"{v}\": must be an integer"))
            }),
        }
    }
}

/// What a resource path names.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub id: TypeId,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

enum Route {
    Version,
    CoreVersions,
    Groups,
    Group(String),
    Resources(String, String),
    AccessReview,
    Resource(Target),
}

fn route(sim: &Sim, path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => Some(Route::Version),
        ["api"] => Some(Route::CoreVersions),
        ["api", "v1"] => Some(Route::Resources(String::new(), "v1".into())),
        ["api", "v1", rest @ ..] => resource_route(sim, "", "v1", rest),
        ["apis"] => Some(Route::Groups),
        ["apis", group] => Some(Route::Group(group.to_string())),
        [
            "apis",
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
        ] => Some(Route::AccessReview),
        ["apis", group, version] => Some(Route::Resources(group.to_string(), version.to_string())),
        ["apis", group, version, rest @ ..] => resource_route(sim, group, version, rest),
        _ => None,
    }
}

fn resource_route(sim: &Sim, group: &str, version: &str, rest: &[&str]) -> Option<Route> {
    let registry = sim.registry();
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, more @ ..]
            if registry.by_path(group, version, plural).is_some() =>
        {
            (Some(ns.to_string()), {
                let mut v = vec![*plural];
                v.extend_from_slice(more);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    let id = registry.by_path(group, version, plural)?;
    let ty = registry.get(id)?;
    if namespace.is_some() && !ty.namespaced {
        return None;
    }
    if namespace.is_none() && ty.namespaced && name.is_some() {
        return None;
    }
    if let Some(sub) = &sub
        && !ty.subresources.contains(&sub.as_str())
    {
        return None;
    }
    Some(Route::Resource(Target {
        id,
        namespace,
        name,
        sub,
    }))
}

async fn api(State(sim): State<Arc<Sim>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let faults = sim.faults();
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    let path = parts.uri.path().to_string();
    let full = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    if let Some(error) = sim.take_failure(parts.method.as_str(), &full) {
        return error.into_response();
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(413, "RequestEntityTooLarge", "request entity too large")
                .into_response();
        }
    };
    let query = Query::parse(parts.uri.query());
    let agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let agent = agent.split('/').next().unwrap_or_default().to_string();
    let request = ApiRequest {
        sim: sim.clone(),
        method: parts.method,
        headers: parts.headers,
        query,
        body,
        agent,
    };
    match handle(&request, &path).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

pub(crate) struct ApiRequest {
    pub sim: Arc<Sim>,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Query,
    pub body: Bytes,
    /// User-Agent product (`kubectl`, `kube-rs`, ...), for the request counters.
    pub agent: String,
}

impl ApiRequest {
    /// Whether the client asked for a `meta.k8s.io` Table (kubectl get).
    fn wants_table(&self) -> bool {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("as=Table"))
    }

    /// `?dryRun=All`: validate and answer, change nothing.
    fn dry_run(&self) -> bool {
        if self.query.get("dryRun") == Some("All") {
            return true;
        }
        // DELETE carries it in its DeleteOptions body.
        self.method == Method::DELETE
            && serde_json::from_slice::<Value>(&self.body).is_ok_and(|options| {
                options
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|d| d.iter().any(|v| v == "All"))
            })
    }

    fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        if self.content_type() == "application/vnd.kubernetes.protobuf" {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
            ));
        }
        let value: Value = serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "couldn't get version/kind; json parse error: the body must be a JSON object",
            ));
        }
        Ok(value)
    }

    fn selectors(&self, ty: &ResourceType) -> Result<(LabelSelector, FieldSelector), ApiError> {
        let labels = LabelSelector::parse(self.query.get("labelSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(self.query.get("fieldSelector").unwrap_or_default(), ty)
            .map_err(ApiError::bad_request)?;
        Ok((labels, fields))
    }
}

pub(crate) fn json_response(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn handle(req: &ApiRequest, path: &str) -> Result<Response, ApiError> {
    let sim = &req.sim;
    let route = route(sim, path).ok_or_else(ApiError::path_not_found)?;
    let target = match route {
        Route::Version => return Ok(json_response(StatusCode::OK, &discovery::version())),
        Route::CoreVersions => {
            return Ok(json_response(
                StatusCode::OK,
                &discovery::core_versions(&req.headers),
            ));
        }
        Route::Groups => return Ok(json_response(StatusCode::OK, &discovery::groups(sim))),
        Route::Group(group) => {
            return discovery::group(sim, &group).map(|v| json_response(StatusCode::OK, &v));
        }
        Route::Resources(group, version) => {
            return discovery::resources(sim, &group, &version)
                .map(|v| json_response(StatusCode::OK, &v));
        }
        Route::AccessReview => return access_review(req),
        Route::Resource(target) => target,
    };
    let ty = sim
        .registry()
        .get(target.id)
        .cloned()
        .ok_or_else(ApiError::path_not_found)?;
    if ty.group == METRICS_GROUP {
        match sim.metrics_mode() {
            MetricsMode::Available => {}
            MetricsMode::Absent => return Err(ApiError::path_not_found()),
            MetricsMode::Unavailable => return Err(ApiError::service_unavailable(None)),
        }
    }
    let ns = target.namespace.as_deref();
    let name = target.name.as_deref();
    let sub = target.sub.as_deref();
    let watching = req.query.flag("watch");
    let verb = match (&req.method, name, sub) {
        (&Method::GET, None, _) if watching => "watch",
        (&Method::GET, None, _) => "list",
        (&Method::GET, Some(_), _) => "get",
        (&Method::POST, _, _) => "create",
        (&Method::PUT, _, _) => "update",
        (&Method::PATCH, _, _) => "patch",
        (&Method::DELETE, None, _) => "deletecollection",
        (&Method::DELETE, Some(_), _) => "delete",
        _ => {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    sim.authorize(verb, &ty, sub, ns, name)?;
    if ty.read_only && !matches!(verb, "get" | "list" | "watch")
        || (ty.group == METRICS_GROUP && verb == "watch")
    {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    // A view (events.k8s.io) reads another type's objects through a conversion.
    let (store_id, view) = match ty.view_of {
        Some(View::EventsV1) => (
            sim.registry()
                .by_kind("v1", "Event")
                .ok_or_else(ApiError::path_not_found)?,
            Some(View::EventsV1),
        ),
        None => (target.id, None),
    };
    let convert = move |o: &Value| -> Value {
        match view {
            Some(View::EventsV1) => to_events_v1(o),
            None => o.clone(),
        }
    };
    sim.count_request(verb, &req.agent);
    match (verb, name, sub) {
        ("watch", _, _) => {
            let (labels, fields) = req.selectors(&ty)?;
            watch::serve(req, &ty, store_id, view, ns, labels, fields)
        }
        ("list", _, _) => list(req, &ty, store_id, ns, &convert),
        ("get", Some(name), None | Some("status")) => {
            let object = convert(&*sim.store.get(store_id, ns.unwrap_or_default(), name)?);
            let object = if ty.group == METRICS_GROUP {
                fresh_metrics(object)
            } else {
                object
            };
            if req.wants_table() {
                return Ok(json_response(
                    StatusCode::OK,
                    &table::table(
                        &ty,
                        &[Arc::new(object)],
                        &sim.store.current_rv().to_string(),
                        true,
                    ),
                ));
            }
            Ok(json_response(StatusCode::OK, &object))
        }
        ("get", Some(name), Some("log")) => logs::serve(req, ns.unwrap_or_default(), name).await,
        ("get" | "update" | "patch", Some(name), Some("scale")) => {
            scale(req, &ty, target.id, ns.unwrap_or_default(), name, verb)
        }
        ("create", None, None) => create(req, &ty, target.id, ns),
        ("create", Some(name), Some("eviction")) => {
            evict(req, &ty, target.id, ns.unwrap_or_default(), name)
        }
        ("update", Some(name), None | Some("status")) => replace(
            req,
            &ty,
            target.id,
            ns.unwrap_or_default(),
            name,
            sub.is_some(),
        ),
        ("patch", Some(name), None | Some("status")) => patch(
            req,
            &ty,
            target.id,
            ns.unwrap_or_default(),
            name,
            sub.is_some(),
        ),
        ("delete", Some(name), None) => delete(req, &ty, target.id, ns.unwrap_or_default(), name),
        ("deletecollection", None, None) => delete_collection(req, &ty, target.id, ns),
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// Metrics carry the time they were scraped.
fn fresh_metrics(mut object: Value) -> Value {
    object["timestamp"] = json!(crate::time::now_rfc3339());
    if object.get("window").is_none() {
        object["window"] = json!("15s");
    }
    object
}

fn list(
    req: &ApiRequest,
    ty: &ResourceType,
    store_id: TypeId,
    ns: Option<&str>,
    convert: &dyn Fn(&Value) -> Value,
) -> Result<Response, ApiError> {
    let (labels, fields) = req.selectors(ty)?;
    let limit = req.query.number("limit")?.unwrap_or(0).max(0);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if let Some(rv) = req.query.get("resourceVersion") {
        rv.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: \"{rv}\": must be a non-negative integer"
            ))
        })?;
    }
    let needs_convert = ty.view_of.is_some();
    let filter = |o: &Value| {
        if needs_convert {
            let c = convert(o);
            labels.matches(&c) && fields.matches(&c)
        } else {
            labels.matches(o) && fields.matches(o)
        }
    };
    let page = req
        .sim
        .store
        .list(store_id, ns, &filter, limit, req.query.get("continue"))?;
    let items: Vec<Arc<Value>> = if needs_convert || ty.group == METRICS_GROUP {
        page.items
            .iter()
            .map(|o| {
                let c = convert(o);
                Arc::new(if ty.group == METRICS_GROUP {
                    fresh_metrics(c)
                } else {
                    c
                })
            })
            .collect()
    } else {
        page.items
    };
    if req.wants_table() {
        let mut t = table::table(ty, &items, &page.rv.to_string(), true);
        if let Some(token) = &page.continue_token {
            t["metadata"]["continue"] = json!(token);
        }
        return Ok(json_response(StatusCode::OK, &t));
    }
    // Written by hand: a 10,000-pod list is serialised item by item, not built as one Value.
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(token) = &page.continue_token {
        meta["continue"] = json!(token);
    }
    if let Some(remaining) = page.remaining {
        meta["remainingItemCount"] = json!(remaining);
    }
    let mut out = Vec::with_capacity(256 + items.len() * 2048);
    let _ = write!(
        out,
        "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        ty.list_kind(),
        ty.api_version(),
        meta
    );
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut out, item.as_ref());
    }
    out.extend_from_slice(b"]}");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(out),
    )
        .into_response())
}

fn namespace_exists(sim: &Sim, ns: &str) -> Result<(), ApiError> {
    let ns_id = sim
        .registry()
        .by_kind("v1", "Namespace")
        .ok_or_else(ApiError::path_not_found)?;
    sim.store.get(ns_id, "", ns).map(|_| ())
}

fn create(
    req: &ApiRequest,
    ty: &ResourceType,
    id: TypeId,
    ns: Option<&str>,
) -> Result<Response, ApiError> {
    let mut object = req.json_body()?;
    if let Some(kind) = object.get("kind").and_then(Value::as_str)
        && kind != ty.kind
    {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {}: the kind of the object does not match the resource",
            ty.version, ty.kind
        )));
    }
    object["kind"] = json!(ty.kind);
    object["apiVersion"] = json!(ty.api_version());
    if object.get("metadata").is_none_or(|m| !m.is_object()) {
        object["metadata"] = json!({});
    }
    let meta = &mut object["metadata"];
    if let Some(ns) = ns {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => meta["namespace"] = json!(ns),
        }
    }
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = if name.is_empty() {
        match meta.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let generated = format!("{prefix}{}", crate::sim::random_suffix());
                meta["name"] = json!(generated);
                generated
            }
            _ => {
                return Err(ApiError::invalid(
                    ty,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
        }
    } else {
        name
    };
    if let Some(meta) = meta.as_object_mut() {
        meta.remove("resourceVersion");
    }
    if let Some(ns) = ns {
        namespace_exists(&req.sim, ns)?;
    }
    let _ = name;
    let created = req
        .sim
        .store
        .create_opts(id, object, false, req.dry_run())?;
    Ok(json_response(StatusCode::CREATED, &created))
}

/// Keeps the parts of `next` a write to the main resource (or to `/status`) may change.
fn merge_status(ty: &ResourceType, current: &Value, mut next: Value, status_only: bool) -> Value {
    if status_only {
        let mut out = current.clone();
        out["status"] = next.get("status").cloned().unwrap_or(Value::Null);
        if let Some(rv) = next.pointer("/metadata/resourceVersion") {
            out["metadata"]["resourceVersion"] = rv.clone();
        }
        out
    } else {
        if ty.subresources.contains(&"status") {
            match current.get("status") {
                Some(status) => next["status"] = status.clone(),
                None => {
                    if let Some(map) = next.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
        }
        next
    }
}

fn replace(
    req: &ApiRequest,
    ty: &ResourceType,
    id: TypeId,
    ns: &str,
    name: &str,
    status_only: bool,
) -> Result<Response, ApiError> {
    let mut body = req.json_body()?;
    body["kind"] = json!(ty.kind);
    body["apiVersion"] = json!(ty.api_version());
    if let Some(body_ns) = body.pointer("/metadata/namespace").and_then(Value::as_str)
        && ty.namespaced
        && !body_ns.is_empty()
        && body_ns != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let updated = req
        .sim
        .store
        .update_opts(id, ns, name, req.dry_run(), |current| {
            Ok(merge_status(ty, current, body, status_only))
        })?;
    Ok(json_response(StatusCode::OK, &updated))
}

/// Applies a PATCH body of the request's content type to `current`.
fn apply_patch(
    req: &ApiRequest,
    ty: &ResourceType,
    name: &str,
    current: &Value,
) -> Result<Value, ApiError> {
    let content_type = req.content_type();
    if !matches!(
        content_type.as_str(),
        "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | "application/json-patch+json"
    ) {
        return Err(ApiError::unsupported_media_type(&content_type));
    }
    let patch: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut next = current.clone();
    match content_type.as_str() {
        // Strategic merge is treated as a JSON merge patch: what kubectl sends for scale,
        // rollout restart and annotate merges the same way (lists are replaced, not merged).
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: a merge patch must be a JSON object",
                ));
            }
            json_patch::merge(&mut next, &patch);
        }
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut next, &ops)
                .map_err(|e| ApiError::invalid(ty, name, e.to_string()))?;
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    }
    Ok(next)
}

fn patch(
    req: &ApiRequest,
    ty: &ResourceType,
    id: TypeId,
    ns: &str,
    name: &str,
    status_only: bool,
) -> Result<Response, ApiError> {
    if req.content_type() == "application/apply-patch+yaml" {
        return server_side_apply(req, ty, id, ns, name, status_only);
    }
    let updated = req
        .sim
        .store
        .update_opts(id, ns, name, req.dry_run(), |current| {
            let next = apply_patch(req, ty, name, current)?;
            Ok(merge_status(ty, current, next, status_only))
        })?;
    Ok(json_response(StatusCode::OK, &updated))
}

/// Server-side apply, simplified: the applied configuration is merged into the object (or
/// creates it). Field ownership and apply conflicts are not modelled.
fn server_side_apply(
    req: &ApiRequest,
    ty: &ResourceType,
    id: TypeId,
    ns: &str,
    name: &str,
    status_only: bool,
) -> Result<Response, ApiError> {
    if req.query.get("fieldManager").is_none() {
        return Err(ApiError::bad_request(
            "PATCH, apply: fieldManager is required for apply requests",
        ));
    }
    let text = std::str::from_utf8(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    let mut applied: Value = serde_saphyr::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the body must be an object",
        ));
    }
    applied["kind"] = json!(ty.kind);
    applied["apiVersion"] = json!(ty.api_version());
    if applied.get("metadata").is_none_or(|m| !m.is_object()) {
        applied["metadata"] = json!({});
    }
    applied["metadata"]["name"] = json!(name);
    if ty.namespaced {
        applied["metadata"]["namespace"] = json!(ns);
    }
    let patch = applied.clone();
    let result = req
        .sim
        .store
        .update_opts(id, ns, name, req.dry_run(), |current| {
            let mut next = current.clone();
            json_patch::merge(&mut next, &patch);
            Ok(merge_status(ty, current, next, status_only))
        });
    match result {
        Ok(updated) => Ok(json_response(StatusCode::OK, &updated)),
        Err(e) if e.code == 404 && !status_only => {
            if ty.namespaced {
                namespace_exists(&req.sim, ns)?;
            }
            if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("resourceVersion");
            }
            let created = req
                .sim
                .store
                .create_opts(id, applied, false, req.dry_run())?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        Err(e) => Err(e),
    }
}

fn delete_preconditions(
    req: &ApiRequest,
    ty: &ResourceType,
    name: &str,
) -> Result<impl Fn(&Value) -> Result<(), ApiError>, ApiError> {
    let options: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?
    };
    let want_rv = options
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    let want_uid = options
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ty = ty.clone();
    let name = name.to_string();
    Ok(move |current: &Value| {
        let has = |p: &str| {
            current
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if let Some(uid) = &want_uid
            && *uid != has("/metadata/uid")
        {
            return Err(ApiError::precondition_failed(
                &ty,
                &name,
                format!(
                    "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                    has("/metadata/uid")
                ),
            ));
        }
        if let Some(rv) = &want_rv
            && *rv != has("/metadata/resourceVersion")
        {
            return Err(ApiError::precondition_failed(
                &ty,
                &name,
                format!(
                    "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                    has("/metadata/resourceVersion")
                ),
            ));
        }
        Ok(())
    })
}

fn delete(
    req: &ApiRequest,
    ty: &ResourceType,
    id: TypeId,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let precondition = delete_preconditions(req, ty, name)?;
    let deleted = req
        .sim
        .store
        .delete_opts(id, ns, name, req.dry_run(), &precondition)?;
    if req.dry_run() {
        return Ok(json_response(StatusCode::OK, &deleted));
    }
    if ty.group.is_empty() && ty.kind == "Pod" {
        req.sim.replace_pod(&deleted);
    }
    if ty.group.is_empty() && ty.kind == "Namespace" {
        // The namespace controller's job, done at once: everything in it goes too.
        let registry = req.sim.registry();
        for (other, other_ty) in registry.types.iter().enumerate() {
            if !other_ty.namespaced || other_ty.view_of.is_some() {
                continue;
            }
            let (_, items) = req.sim.store.list_all(other, Some(name), &|_| true);
            for item in items {
                let (item_ns, item_name) = object_key(&item);
                let _ = req
                    .sim
                    .store
                    .delete(other, &item_ns, &item_name, &|_| Ok(()));
            }
        }
    }
    Ok(json_response(StatusCode::OK, &deleted))
}

fn delete_collection(
    req: &ApiRequest,
    ty: &ResourceType,
    id: TypeId,
    ns: Option<&str>,
) -> Result<Response, ApiError> {
    let (labels, fields) = req.selectors(ty)?;
    let (_, items) = req
        .sim
        .store
        .list_all(id, ns, &|o| labels.matches(o) && fields.matches(o));
    let mut deleted = Vec::new();
    for item in items {
        let (ns, name) = object_key(&item);
        if let Ok(object) = req.sim.store.delete(id, &ns, &name, &|_| Ok(())) {
            deleted.push((*object).clone());
        }
    }
    let body = json!({"kind": ty.list_kind(), "apiVersion": ty.api_version(),
        "metadata": {"resourceVersion": req.sim.store.current_rv().to_string()}, "items": deleted});
    Ok(json_response(StatusCode::OK, &body))
}

/// The autoscaling/v1 `Scale` view of a workload.
fn scale_of(object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let selector = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"), "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {"replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0), "selector": selector},
    })
}

fn scale(
    req: &ApiRequest,
    ty: &ResourceType,
    id: TypeId,
    ns: &str,
    name: &str,
    verb: &str,
) -> Result<Response, ApiError> {
    if verb == "get" {
        return Ok(json_response(
            StatusCode::OK,
            &scale_of(&*req.sim.store.get(id, ns, name)?),
        ));
    }
    let updated = req.sim.store.update_opts(id, ns, name, req.dry_run(), |current| {
        let before = scale_of(current);
        let after = if verb == "update" {
            req.json_body()?
        } else {
            apply_patch(req, ty, name, &before)?
        };
        let replicas = after
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::invalid(ty, name, "spec.replicas: Required value"))?;
        if replicas < 0 {
            return Err(ApiError::invalid(
                ty,
                name,
                format!(
                    "spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
                ),
            ));
        }
        let mut next = current.clone();
        if let Some(rv) = after
            .pointer("/metadata/resourceVersion")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        {
            next["metadata"]["resourceVersion"] = rv.clone();
        }
        if next.get("spec").is_none_or(|s| !s.is_object()) {
            next["spec"] = json!({});
        }
        next["spec"]["replicas"] = json!(replicas);
        Ok(next)
    })?;
    Ok(json_response(StatusCode::OK, &scale_of(&updated)))
}

fn evict(
    req: &ApiRequest,
    ty: &ResourceType,
    id: TypeId,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let eviction = req.json_body()?;
    let dry_run = req.dry_run()
        || eviction
            .pointer("/deleteOptions/dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    let pod = req.sim.store.get(id, ns, name)?;
    if let Some(pdb_id) = req
        .sim
        .registry()
        .by_kind("policy/v1", "PodDisruptionBudget")
    {
        let (_, pdbs) = req.sim.store.list_all(pdb_id, Some(ns), &|_| true);
        for pdb in pdbs {
            let selects = pdb
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .is_some_and(|labels| LabelSelector::from_match_labels(labels).matches(&pod));
            if !selects {
                continue;
            }
            // Like the disruption controller: healthy = selected pods that are Ready now.
            let Some(labels) = pdb
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
            else {
                continue;
            };
            let selector = LabelSelector::from_match_labels(labels);
            let (_, selected) = req
                .sim
                .store
                .list_all(id, Some(ns), &|p| selector.matches(p));
            let healthy = selected.iter().filter(|p| pod_ready(p)).count() as i64;
            let desired = match (
                pdb.pointer("/spec/minAvailable").and_then(Value::as_i64),
                pdb.pointer("/spec/maxUnavailable").and_then(Value::as_i64),
            ) {
                (Some(min), _) => min,
                (None, Some(max)) => selected.len() as i64 - max,
                _ => pdb
                    .pointer("/status/desiredHealthy")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            };
            let allowed = healthy - desired;
            if allowed <= 0 {
                let pdb_name = pdb
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let mut error = ApiError::new(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                );
                error.details = Some(json!({"causes": [{"reason": "DisruptionBudget",
                    "message": format!("The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently")}]}));
                return Err(error);
            }
        }
    }
    let evicted = req
        .sim
        .store
        .delete_opts(id, ns, name, dry_run, &|_| Ok(()))
        .map_err(|e| {
            if e.code == 404 {
                ApiError::not_found(ty, name)
            } else {
                e
            }
        })?;
    if !dry_run {
        req.sim.replace_pod(&evicted);
    }
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn access_review(req: &ApiRequest) -> Result<Response, ApiError> {
    if req.method != Method::POST {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let mut review = if req.content_type() == "application/vnd.kubernetes.protobuf" {
        protobuf::self_subject_access_review(&req.body)
            .ok_or_else(|| ApiError::bad_request("cannot decode the SelfSubjectAccessReview"))?
    } else {
        req.json_body()?
    };
    let attrs = review
        .pointer("/spec/resourceAttributes")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let text = |f: &str| {
        attrs
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let registry = req.sim.registry();
    let ty = registry
        .types
        .iter()
        .find(|t| t.plural == text("resource") && t.group == text("group") && t.view_of.is_none());
    let allowed = match ty {
        Some(ty) => {
            let sub = text("subresource");
            let ns = text("namespace");
            req.sim.allowed(
                &text("verb"),
                ty,
                (!sub.is_empty()).then_some(sub.as_str()),
                (!ns.is_empty()).then_some(ns.as_str()),
            )
        }
        None => true,
    };
    review["status"] = json!({"allowed": allowed, "denied": !allowed, "reason": if allowed { "" } else { "denied by the simulator's RBAC rules" }});
    review["kind"] = json!("SelfSubjectAccessReview");
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    Ok(json_response(StatusCode::CREATED, &review))
}

/// core/v1 Event → events.k8s.io/v1 Event.
fn to_events_v1(event: &Value) -> Value {
    let get = |p: &str| event.pointer(p).cloned().unwrap_or(Value::Null);
    let mut out = json!({
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": get("/metadata"),
        "eventTime": event.get("eventTime").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| get("/firstTimestamp")),
        "reason": get("/reason"),
        "note": get("/message"),
        "type": get("/type"),
        "regarding": get("/involvedObject"),
        "reportingController": event.get("reportingComponent").filter(|v| v.as_str().is_some_and(|s| !s.is_empty())).cloned().unwrap_or_else(|| get("/source/component")),
        "reportingInstance": event.get("reportingInstance").filter(|v| v.as_str().is_some_and(|s| !s.is_empty())).cloned().unwrap_or_else(|| get("/source/host")),
        "action": get("/action"),
        "deprecatedSource": get("/source"),
        "deprecatedFirstTimestamp": get("/firstTimestamp"),
        "deprecatedLastTimestamp": get("/lastTimestamp"),
        "deprecatedCount": get("/count"),
    });
    if let Some(map) = out.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    out
}
