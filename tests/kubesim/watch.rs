//! Watch and streaming details seen on the wire: BOOKMARK objects with kind and apiVersion,
//! `timeoutSeconds`, MODIFIED events from the timeline, `follow` logs, the events.k8s.io view,
//! and the fault-injection knobs (delay, 429 with Retry-After, 500).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::sim::KubeSim;

async fn advance_later(url: String, seconds: u32, after: Duration) {
    tokio::time::sleep(after).await;
    let status = reqwest::Client::new()
        .post(format!("{url}/_sim/advance?seconds={seconds}"))
        .send()
        .await
        .expect("advance")
        .status();
    assert!(status.is_success());
}

#[tokio::test]
async fn watch_carries_events_bookmarks_and_ends_on_timeout() {
    let sim = KubeSim::start(&["--scenario", "crashloop", "--bookmark-seconds", "1"]).await;
    let list = sim.get_json("/api/v1/namespaces/crashloop/pods").await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    tokio::spawn(advance_later(
        sim.url.clone(),
        31,
        Duration::from_millis(300),
    ));
    let started = Instant::now();
    let path = format!(
        "/api/v1/namespaces/crashloop/pods?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=3"
    );
    let (code, body) = sim.request("GET", &path, None, None).await;
    let elapsed = started.elapsed();
    assert_eq!(code, 200);
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(8),
        "the watch ends after timeoutSeconds: {elapsed:?}"
    );
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect();
    let modified = events
        .iter()
        .find(|e| e["type"] == "MODIFIED")
        .expect("a MODIFIED event");
    assert_eq!(
        modified["object"]["status"]["containerStatuses"][0]["restartCount"],
        8
    );
    assert!(
        modified["object"]["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|v| v.parse::<u64>().unwrap_or(0) > rv.parse().unwrap_or(0))
    );
    let bookmark = events
        .iter()
        .find(|e| e["type"] == "BOOKMARK")
        .expect("a BOOKMARK");
    assert_eq!(bookmark["object"]["kind"], "Pod");
    assert_eq!(bookmark["object"]["apiVersion"], "v1");
    assert!(
        bookmark["object"]["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    // Without a version the watch starts with the current state as ADDED.
    let (_, body) = sim
        .request(
            "GET",
            "/api/v1/namespaces/crashloop/pods?watch=true&timeoutSeconds=1",
            None,
            None,
        )
        .await;
    assert!(
        body.lines()
            .next()
            .is_some_and(|l| l.contains("\"type\":\"ADDED\"")),
        "{body}"
    );
}

#[tokio::test]
async fn follow_logs_stream_new_lines() {
    let sim = KubeSim::start(&["--scenario", "liveness-probe"]).await;
    let url = format!(
        "{}/api/v1/namespaces/liveness-probe/pods/queue-consumer-59d8b7c6a-rx5jd/log?follow=true&timestamps=true",
        sim.url
    );
    let mut resp = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("follow");
    assert_eq!(resp.status(), 200);
    tokio::spawn(advance_later(
        sim.url.clone(),
        61,
        Duration::from_millis(300),
    ));
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text.contains("worker pool saturated") {
        assert!(Instant::now() < deadline, "no appended line: {text}");
        match tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("follow stream ended: {other:?}"),
        }
    }
    assert!(
        text.contains("queue-consumer 1.12.3 starting"),
        "the existing log comes first: {text}"
    );
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first
            .split(' ')
            .next()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
        "timestamps=true: {first}"
    );
}

#[tokio::test]
async fn events_api_view_and_faults() {
    let sim = KubeSim::start(&["--scenario", "crashloop"]).await;
    let events = sim
        .get_json(
            "/apis/events.k8s.io/v1/namespaces/crashloop/events?fieldSelector=reason%3DBackOff",
        )
        .await;
    assert_eq!(events["kind"], "EventList");
    assert_eq!(events["apiVersion"], "events.k8s.io/v1");
    let event = &events["items"][0];
    assert!(
        event["note"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Back-off restarting failed container app"),
        "{event}"
    );
    assert_eq!(event["regarding"]["kind"], "Pod");
    assert_eq!(event["deprecatedCount"], 112);

    sim.admin("PUT", "faults", Some(r#"{"delay_ms": 300}"#))
        .await;
    let started = Instant::now();
    sim.get_json("/api/v1/namespaces").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    sim.admin("PUT", "faults", Some(r#"{"fail": {"code": 429, "times": 1, "retry_after": 7, "path_contains": "/namespaces"}}"#)).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/namespaces", sim.url))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    let status: Value = resp.json().await.expect("status");
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["details"]["retryAfterSeconds"], 7);
    sim.get_json("/api/v1/namespaces").await;
    sim.admin(
        "PUT",
        "faults",
        Some(r#"{"fail": {"code": 500, "method": "POST"}}"#),
    )
    .await;
    let (code, body) = sim
        .request(
            "POST",
            "/api/v1/namespaces/crashloop/configmaps",
            Some("application/json"),
            Some(r#"{"metadata":{"name":"x"}}"#),
        )
        .await;
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("\"reason\":\"InternalError\""));
    sim.get_json("/api/v1/namespaces").await;
    sim.admin("DELETE", "faults", None).await;
    let (code, _) = sim
        .request(
            "POST",
            "/api/v1/namespaces/crashloop/configmaps",
            Some("application/json"),
            Some(r#"{"metadata":{"name":"x"}}"#),
        )
        .await;
    assert_eq!(code, 201);
}
