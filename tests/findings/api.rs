//! The findings API over a real agent's picture, and the lifecycle of a pod that recovers.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{fast_config, find, findings, wait_findings, world};
use crate::cluster_link::World;
use crate::runs::POD;

const POD_REF: &str = "Pod/crashloop/checkout-7c9d8f6b5-x2k4p";

#[tokio::test]
async fn the_crashloop_finding_is_listed_with_its_evidence_and_filters_work() {
    let w = world("crashloop", fast_config("10m", "")).await;
    let cluster = w.register(json!({ "name": "prod" })).await;
    let agent = w.agent(&cluster.settings, "acorn-agent-0");
    w.wait_linked(&cluster.id, &agent).await;
    let items = wait_findings(&w, &cluster.id, 30, "the crash loop finding", |items| {
        find(items, "pod.crash_loop", POD_REF).is_some()
    })
    .await;
    let f = find(&items, "pod.crash_loop", POD_REF).unwrap();
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["state"], "active");
    assert_eq!(f["count"], 1);
    assert_eq!(f["cluster_id"], cluster.id.as_str());
    assert_eq!(f["cluster_name"], "prod");
    assert!(f["id"].as_str().unwrap().starts_with("fnd_"));
    let evidence: Vec<String> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} = {}",
                e["source"].as_str().unwrap(),
                e["text"].as_str().unwrap()
            )
        })
        .collect();
    // The exact status field and the kubelet's event, as the agent sent them.
    assert!(
        evidence.iter().any(|e| e.starts_with(&format!(
            "{POD_REF} status.containerStatuses[app].state.waiting.reason = CrashLoopBackOff"
        ))),
        "{evidence:#?}"
    );
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("Back-off restarting failed container app")),
        "{evidence:#?}"
    );
    // The other findings of the scenario, with their severities, most severe first.
    for (rule, object) in [
        ("deployment.unavailable", "Deployment/crashloop/checkout"),
        ("service.no_ready_endpoints", "Service/crashloop/checkout"),
    ] {
        assert!(find(&items, rule, object).is_some(), "{rule}: {items:#?}");
    }
    let ranks: Vec<u8> = items
        .iter()
        .map(|f| match f["severity"].as_str().unwrap() {
            "critical" => 0,
            "warning" => 1,
            _ => 2,
        })
        .collect();
    assert!(ranks.windows(2).all(|p| p[0] <= p[1]), "{ranks:?}");

    // The workspace listing and its filters.
    let all = w.owner.ok(Method::GET, &w.path("/findings"), None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), items.len());
    let critical = w
        .owner
        .ok(Method::GET, &w.path("/findings?severity=critical"), None)
        .await;
    let critical = critical["items"].as_array().unwrap();
    assert!(!critical.is_empty());
    assert!(critical.iter().all(|f| f["severity"] == "critical"));
    let by_rule = w
        .owner
        .ok(
            Method::GET,
            &w.path(&format!(
                "/findings?rule=pod.crash_loop&state=active&cluster_id={}",
                cluster.id
            )),
            None,
        )
        .await;
    assert_eq!(by_rule["items"].as_array().unwrap().len(), 1, "{by_rule}");
    assert!(
        findings(&w, &cluster.id, "?state=resolved")
            .await
            .is_empty()
    );
    // Paging: one at a time, in the same order.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/findings?limit=1&cursor={c}"),
            None => "/findings?limit=1".to_owned(),
        };
        let page = w.owner.ok(Method::GET, &w.path(&q), None).await;
        paged.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let ids: Vec<Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].clone())
        .collect();
    assert_eq!(paged, ids);

    // Bad filters are table errors naming the parameter; an unknown cluster is 404.
    for (query, needle) in [
        ("?severity=urgent", "severity"),
        ("?state=open-ish", "state"),
        ("?nope=1", "nope"),
        ("?limit=0", "limit"),
    ] {
        let answer = w
            .owner
            .call(Method::GET, &w.path(&format!("/findings{query}")), None)
            .await;
        answer.assert_error(400, "invalid_parameter");
        assert!(
            answer.body["message"].as_str().unwrap().contains(needle),
            "{query}: {}",
            answer.body
        );
    }
    w.owner
        .call(
            Method::GET,
            &w.path("/findings?cluster_id=clu_0000000000000000"),
            None,
        )
        .await
        .assert_error(404, "not_found");
    w.owner
        .call(
            Method::GET,
            &w.path("/clusters/clu_0000000000000000/findings"),
            None,
        )
        .await
        .assert_error(404, "not_found");
}

/// The pod's status in the simulator, crashing as the scenario has it or healed.
async fn set_pod(w: &World, crashing: &Value, healthy: bool) {
    let mut pod = crashing.clone();
    if healthy {
        let cs = &mut pod["status"]["containerStatuses"][0];
        cs["state"] = json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}});
        cs["lastState"] = json!({});
        cs["ready"] = json!(true);
        for c in pod["status"]["conditions"].as_array_mut().unwrap() {
            c["status"] = json!("True");
        }
    }
    // The current resourceVersion: a stale one would be a 409.
    let current = w
        .sim
        .get_json(&format!("/api/v1/namespaces/crashloop/pods/{POD}"))
        .await;
    pod["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    let (status, body) = w
        .sim
        .request(
            "PUT",
            &format!("/api/v1/namespaces/crashloop/pods/{POD}/status"),
            Some("application/json"),
            Some(&pod.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn crash_finding(w: &World, cluster: &str, state: &str) -> Value {
    let items = wait_findings(
        w,
        cluster,
        40,
        &format!("the crash loop {state}"),
        |items| find(items, "pod.crash_loop", POD_REF).is_some_and(|f| f["state"] == state),
    )
    .await;
    find(&items, "pod.crash_loop", POD_REF).unwrap().clone()
}

#[tokio::test]
async fn a_pod_that_recovers_goes_recovering_then_resolved_and_flapping_keeps_one_finding() {
    let w = world("crashloop", fast_config("8s", "")).await;
    let cluster = w.register(json!({ "name": "prod" })).await;
    let agent = w.agent(&cluster.settings, "acorn-agent-0");
    w.wait_linked(&cluster.id, &agent).await;
    let crashing = w
        .sim
        .get_json(&format!("/api/v1/namespaces/crashloop/pods/{POD}"))
        .await;
    let opened = crash_finding(&w, &cluster.id, "active").await;
    let (id, first_seen) = (opened["id"].clone(), opened["first_seen"].as_i64().unwrap());

    // Healed: recovering (still listed), then crashing again within the window: the same
    // finding, active, count 2 — a flapping pod does not multiply findings.
    set_pod(&w, &crashing, true).await;
    let recovering = crash_finding(&w, &cluster.id, "recovering").await;
    assert_eq!(recovering["id"], id);
    set_pod(&w, &crashing, false).await;
    let again = crash_finding(&w, &cluster.id, "active").await;
    assert_eq!(again["id"], id);
    assert_eq!(again["count"], 2, "{again}");
    assert_eq!(again["first_seen"].as_i64(), Some(first_seen));
    let all = findings(&w, &cluster.id, "?rule=pod.crash_loop").await;
    assert_eq!(all.len(), 1, "one finding: {all:#?}");

    // Healed for longer than the window: resolved, listed with state=resolved only.
    set_pod(&w, &crashing, true).await;
    crash_finding(&w, &cluster.id, "recovering").await;
    let resolved = crash_finding(&w, &cluster.id, "resolved").await;
    assert_eq!(resolved["id"], id);
    assert!(
        findings(&w, &cluster.id, "?state=open")
            .await
            .iter()
            .all(|f| f["rule"] != "pod.crash_loop")
    );

    // Crashing again after resolution: a new lifecycle of the same id.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    set_pod(&w, &crashing, false).await;
    let items = wait_findings(&w, &cluster.id, 40, "a new lifecycle", |items| {
        items
            .iter()
            .any(|f| f["rule"] == "pod.crash_loop" && f["state"] == "active")
    })
    .await;
    let new = items
        .iter()
        .find(|f| f["rule"] == "pod.crash_loop" && f["state"] == "active")
        .unwrap();
    assert_eq!(new["id"], id);
    assert_eq!(new["count"], 1);
    assert!(new["first_seen"].as_i64().unwrap() > first_seen, "{new}");

    // The tracker survives a restart: the same lifecycle, not a new one.
    let before = new["first_seen"].clone();
    let mut w = w;
    w.app.restart().await;
    // The client's pooled connection died with the process: sign in again on a fresh one.
    w.owner = crate::harness::identity::login(&w.app, "owner").await;
    let after = crash_finding(&w, &cluster.id, "active").await;
    assert_eq!(after["first_seen"], before);
}
