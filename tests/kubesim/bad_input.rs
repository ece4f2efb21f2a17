//! Bad input gets what a real API server answers: the status code and a `Status` body with
//! its reason and message. One table, one helper.

use serde_json::Value;

use super::sim::KubeSim;

/// (method, path, content type, body, code, reason, message substring)
type Case = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    u16,
    &'static str,
    &'static str,
);

const CASES: &[Case] = &[
    (
        "GET",
        "/api/v1/widgets",
        None,
        None,
        404,
        "NotFound",
        "the server could not find the requested resource",
    ),
    (
        "GET",
        "/apis/example.com/v1/widgets",
        None,
        None,
        404,
        "NotFound",
        "the server could not find the requested resource",
    ),
    (
        "GET",
        "/api/v1/namespaces/healthy/nodes",
        None,
        None,
        404,
        "NotFound",
        "the server could not find the requested resource",
    ),
    (
        "GET",
        "/api/v1/pods?labelSelector=app%20in%20(a",
        None,
        None,
        400,
        "BadRequest",
        "unable to parse requirement: found '', expected: ',' or ')'",
    ),
    (
        "GET",
        "/api/v1/pods?labelSelector=%3Dx",
        None,
        None,
        400,
        "BadRequest",
        "unable to parse requirement",
    ),
    (
        "GET",
        "/api/v1/pods?fieldSelector=spec.foo%3Dx",
        None,
        None,
        400,
        "BadRequest",
        "field label not supported: spec.foo",
    ),
    (
        "GET",
        "/api/v1/pods?fieldSelector=garbage",
        None,
        None,
        400,
        "BadRequest",
        "invalid selector",
    ),
    (
        "GET",
        "/api/v1/pods?limit=ten",
        None,
        None,
        400,
        "BadRequest",
        "limit",
    ),
    (
        "GET",
        "/api/v1/pods?limit=1&continue=bm90IGEgdG9rZW4",
        None,
        None,
        400,
        "BadRequest",
        "continue key is not valid",
    ),
    (
        "POST",
        "/api/v1/namespaces/healthy/configmaps",
        Some("application/json"),
        Some("{not json"),
        400,
        "BadRequest",
        "couldn't get version/kind; json parse error",
    ),
    (
        "POST",
        "/api/v1/namespaces/healthy/configmaps",
        Some("application/json"),
        Some(r#"{"kind":"Secret","metadata":{"name":"x"}}"#),
        400,
        "BadRequest",
        "cannot be handled as a ConfigMap",
    ),
    (
        "POST",
        "/api/v1/namespaces/healthy/configmaps",
        Some("application/json"),
        Some(r#"{"metadata":{}}"#),
        422,
        "Invalid",
        "metadata.name: Required value: name or generateName is required",
    ),
    (
        "POST",
        "/api/v1/namespaces/nowhere/configmaps",
        Some("application/json"),
        Some(r#"{"metadata":{"name":"x"}}"#),
        404,
        "NotFound",
        "namespaces \"nowhere\" not found",
    ),
    (
        "POST",
        "/api/v1/namespaces/healthy/configmaps",
        Some("application/json"),
        Some(r#"{"metadata":{"name":"x","namespace":"other"}}"#),
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
    ),
    (
        "POST",
        "/api/v1/namespaces/healthy/services",
        Some("application/json"),
        Some(r#"{"metadata":{"name":"storefront"}}"#),
        409,
        "AlreadyExists",
        "services \"storefront\" already exists",
    ),
    (
        "PUT",
        "/api/v1/namespaces/healthy/services/storefront",
        Some("application/json"),
        Some(r#"{"metadata":{"name":"storefront","resourceVersion":"1"},"spec":{}}"#),
        409,
        "Conflict",
        "Operation cannot be fulfilled on services \"storefront\": the object has been modified; please apply your changes to the latest version and try again",
    ),
    (
        "PUT",
        "/api/v1/namespaces/healthy/services/storefront",
        Some("application/json"),
        Some(r#"{"metadata":{"name":"other"}}"#),
        400,
        "BadRequest",
        "the name of the object (other) does not match the name on the URL (storefront)",
    ),
    (
        "PUT",
        "/api/v1/namespaces/healthy/services/missing",
        Some("application/json"),
        Some(r#"{"metadata":{"name":"missing"}}"#),
        404,
        "NotFound",
        "services \"missing\" not found",
    ),
    (
        "PATCH",
        "/api/v1/namespaces/healthy/services/storefront",
        Some("application/merge-patch+json"),
        Some(r#"{"metadata":{"resourceVersion":"2"}}"#),
        409,
        "Conflict",
        "the object has been modified",
    ),
    (
        "PATCH",
        "/api/v1/namespaces/healthy/services/storefront",
        Some("application/merge-patch+json"),
        Some("{oops"),
        400,
        "BadRequest",
        "error decoding patch",
    ),
    (
        "PATCH",
        "/api/v1/namespaces/healthy/services/storefront",
        Some("application/json-patch+json"),
        Some(r#"[{"op":"test","path":"/spec/type","value":"LoadBalancer"}]"#),
        422,
        "Invalid",
        "Service \"storefront\" is invalid",
    ),
    (
        "PATCH",
        "/api/v1/namespaces/healthy/services/storefront",
        Some("application/vnd.kubernetes.protobuf"),
        Some("k8s"),
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format",
    ),
    (
        "PATCH",
        "/api/v1/namespaces/healthy/configmaps/applied",
        Some("application/apply-patch+yaml"),
        Some("data: {a: b}"),
        400,
        "BadRequest",
        "fieldManager is required for apply requests",
    ),
    (
        "PATCH",
        "/api/v1/namespaces/healthy/configmaps/applied?fieldManager=acorn",
        Some("application/apply-patch+yaml"),
        Some("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n"),
        201,
        "",
        "",
    ),
    (
        "PATCH",
        "/api/v1/namespaces/healthy/configmaps/applied?fieldManager=acorn",
        Some("application/apply-patch+yaml"),
        Some(r#"{"data": {"c": "d"}}"#),
        200,
        "",
        "",
    ),
    (
        "DELETE",
        "/api/v1/namespaces/healthy/services/storefront",
        Some("application/json"),
        Some(r#"{"preconditions":{"resourceVersion":"3"}}"#),
        409,
        "Conflict",
        "the ResourceVersion in the precondition (3) does not match the ResourceVersion in record",
    ),
    (
        "DELETE",
        "/api/v1/namespaces/healthy/services/missing",
        None,
        None,
        404,
        "NotFound",
        "services \"missing\" not found",
    ),
    (
        "GET",
        "/api/v1/namespaces/healthy/pods/nope/log",
        None,
        None,
        404,
        "NotFound",
        "pods \"nope\" not found",
    ),
    (
        "GET",
        "/api/v1/namespaces/healthy/pods/storefront-68f9d7b5c-4mzq8/log?container=nope",
        None,
        None,
        400,
        "BadRequest",
        "container nope is not valid for pod storefront-68f9d7b5c-4mzq8",
    ),
    (
        "GET",
        "/api/v1/namespaces/healthy/pods/storefront-68f9d7b5c-4mzq8/log?previous=true",
        None,
        None,
        400,
        "BadRequest",
        "previous terminated container \"web\" in pod \"storefront-68f9d7b5c-4mzq8\" not found",
    ),
    (
        "GET",
        "/api/v1/namespaces/healthy/pods/storefront-68f9d7b5c-4mzq8/log?sinceSeconds=0",
        None,
        None,
        422,
        "Invalid",
        "sinceSeconds: Invalid value: 0: must be greater than 0",
    ),
    (
        "GET",
        "/api/v1/namespaces/healthy/pods/storefront-68f9d7b5c-4mzq8/log?sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z",
        None,
        None,
        422,
        "Invalid",
        "at most one of sinceTime or sinceSeconds may be specified",
    ),
    (
        "GET",
        "/api/v1/namespaces/healthy/pods/two-containers/log",
        None,
        None,
        400,
        "BadRequest",
        "a container name must be specified for pod two-containers, choose one of: [app sidecar]",
    ),
    (
        "POST",
        "/api/v1/namespaces/healthy/pods/storefront-68f9d7b5c-4mzq8/eviction",
        Some("application/json"),
        Some(
            r#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"storefront-68f9d7b5c-4mzq8"}}"#,
        ),
        201,
        "",
        "",
    ),
    (
        "POST",
        "/api/v1/namespaces/healthy/pods/storefront-68f9d7b5c-b7tkx/eviction",
        Some("application/json"),
        Some(
            r#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"storefront-68f9d7b5c-b7tkx"}}"#,
        ),
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    ),
    (
        "POST",
        "/apis/metrics.k8s.io/v1beta1/namespaces/healthy/pods",
        Some("application/json"),
        Some("{}"),
        405,
        "MethodNotAllowed",
        "",
    ),
];

#[tokio::test]
async fn bad_input_gets_real_status_bodies() {
    let sim = KubeSim::start(&["--scenario", "healthy"]).await;
    let two = r#"{"metadata":{"name":"two-containers"},"spec":{"nodeName":"worker-1","containers":[{"name":"app","image":"a"},{"name":"sidecar","image":"b"}]}}"#;
    let (code, body) = sim
        .request(
            "POST",
            "/api/v1/namespaces/healthy/pods",
            Some("application/json"),
            Some(two),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    for (method, path, content_type, body, code, reason, message) in CASES {
        let (status, text) = sim.request(method, path, *content_type, *body).await;
        assert_eq!(status, *code, "{method} {path}: {text}");
        if status < 300 {
            continue;
        }
        let status_body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert_eq!(status_body["kind"], "Status", "{method} {path}: {text}");
        assert_eq!(status_body["status"], "Failure");
        assert_eq!(status_body["code"], *code);
        assert_eq!(status_body["reason"], *reason, "{method} {path}: {text}");
        let got = status_body["message"].as_str().unwrap_or_default();
        assert!(
            got.contains(message),
            "{method} {path}: message {got:?} lacks {message:?}"
        );
    }
}

#[tokio::test]
async fn expired_versions_and_continue_tokens_are_410() {
    let sim = KubeSim::start(&["--scenario", "healthy", "--scenario", "crashloop"]).await;
    // Pagination: a consistent page 2 from the same version, then 410 once the token expires.
    let page1 = sim.get_json("/api/v1/pods?limit=2").await;
    let token = page1["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(2));
    assert!(page1["metadata"]["remainingItemCount"].as_u64().is_some());
    let page2 = sim
        .get_json(&format!("/api/v1/pods?limit=2&continue={token}"))
        .await;
    assert_eq!(
        page2["metadata"]["resourceVersion"],
        page1["metadata"]["resourceVersion"]
    );
    sim.admin("POST", "expire-continue", None).await;
    let (code, body) = sim
        .request(
            "GET",
            &format!("/api/v1/pods?limit=2&continue={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(code, 410, "{body}");
    let status: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(status["reason"], "Expired");
    assert!(status["message"].as_str().unwrap_or_default().starts_with(
        "The provided continue parameter is too old to display a consistent list result."
    ));

    // resourceVersion=0 with NotOlderThan is accepted.
    let list = sim
        .get_json("/api/v1/pods?resourceVersion=0&resourceVersionMatch=NotOlderThan")
        .await;
    assert_eq!(list["kind"], "PodList");
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();

    // Watch from a compacted version: HTTP 200, one in-stream ERROR 410 Expired, then the end.
    sim.admin("POST", "compact", None).await;
    let (code, body) = sim
        .request(
            "GET",
            "/api/v1/pods?watch=true&resourceVersion=1&timeoutSeconds=5",
            None,
            None,
        )
        .await;
    assert_eq!(code, 200);
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("event json"))
        .collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert_eq!(lines[0]["type"], "ERROR");
    assert_eq!(lines[0]["object"]["code"], 410);
    assert_eq!(lines[0]["object"]["reason"], "Expired");
    // A watch from the current version times out cleanly and carries a bookmark when asked.
    let (code, body) = sim.request("GET", &format!("/api/v1/namespaces/healthy/pods?watch=true&resourceVersion={rv}&timeoutSeconds=1&allowWatchBookmarks=true"), None, None).await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn metrics_modes() {
    let sim = KubeSim::start(&["--scenario", "healthy"]).await;
    let pods = sim
        .get_json("/apis/metrics.k8s.io/v1beta1/namespaces/healthy/pods")
        .await;
    assert_eq!(pods["kind"], "PodMetricsList");
    assert_eq!(pods["items"][0]["window"], "15.012s");
    assert!(
        pods["items"][0]["containers"][0]["usage"]["cpu"]
            .as_str()
            .unwrap_or_default()
            .ends_with('n')
    );
    let nodes = sim
        .get_json("/apis/metrics.k8s.io/v1beta1/nodes/worker-1")
        .await;
    assert_eq!(nodes["kind"], "NodeMetrics");
    sim.admin("PUT", "metrics?mode=absent", None).await;
    let (code, body) = sim
        .request("GET", "/apis/metrics.k8s.io/v1beta1/pods", None, None)
        .await;
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("the server could not find the requested resource"));
    let groups = sim.get_json("/apis").await;
    assert!(!groups.to_string().contains("metrics.k8s.io"));
    sim.admin("PUT", "metrics?mode=unavailable", None).await;
    let (code, body) = sim
        .request("GET", "/apis/metrics.k8s.io/v1beta1/pods", None, None)
        .await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("the server is currently unable to handle the request"));
}
