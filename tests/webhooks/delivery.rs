//! Outbound deliveries: verified by the reference library, logged, redelivered, rotated,
//! surviving kill -9, retried per `Retry-After`, and auto-disabled.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Hooked, Receiver, config, of_type, payload, subscribe, wait_log};

#[tokio::test]
async fn deliveries_verify_with_the_reference_library_and_are_logged() {
    let h = Hooked::start(config("")).await;
    let rx = Receiver::start();
    let (sub, secret) = subscribe(
        &h.owner,
        &h.ws,
        &rx.url("/hook"),
        &["cluster.registered", "workspace.updated", "session.created"],
    )
    .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    rx.secrets(&[&secret]).await;
    // The secret is shown once: no later answer carries it.
    let shown = h
        .owner
        .ok(Method::GET, &h.path(&format!("/webhooks/{sub}")), None)
        .await;
    assert!(!shown.to_string().contains(&secret[6..]), "{shown}");
    assert_eq!(shown["secrets"].as_array().unwrap().len(), 1);

    let cluster = h
        .owner
        .ok(
            Method::POST,
            &h.path("/clusters"),
            Some(json!({ "name": "prod" })),
        )
        .await;
    let cluster_id = cluster["cluster"]["id"].as_str().unwrap().to_owned();
    h.owner
        .ok(
            Method::PATCH,
            &h.path(""),
            Some(json!({ "name": "renamed" })),
        )
        .await;
    h.owner
        .ok(
            Method::POST,
            &h.path("/sessions"),
            Some(json!({ "cluster_id": cluster_id, "title": "why" })),
        )
        .await;
    // Not subscribed: no delivery of it.
    h.owner
        .ok(
            Method::PATCH,
            &h.path(&format!("/clusters/{cluster_id}")),
            Some(json!({ "logs_allowed": false })),
        )
        .await;
    let got = rx.wait(20, "three deliveries", |d| d.len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if got.len() == 3 {
        rx.deliveries().await
    } else {
        got
    };
    assert_eq!(got.len(), 3, "{got:#?}");
    for d in &got {
        assert_eq!(d["verified"], true, "{d:#?}");
        assert_eq!(d["headers"]["content-type"], "application/json");
        let p = payload(d);
        assert_eq!(p["version"], 1);
        assert_eq!(p["workspace_id"], h.ws.as_str());
        assert_eq!(d["headers"]["webhook-id"], p["id"]);
        assert!(p["timestamp"].as_str().unwrap().ends_with('Z'), "{p}");
    }
    let registered = payload(of_type(&got, "cluster.registered")[0]);
    assert_eq!(registered["data"]["target"], cluster_id.as_str());
    assert_eq!(registered["data"]["actor"]["kind"], "user");
    let session = payload(of_type(&got, "session.created")[0]);
    assert_eq!(session["data"]["title"], "why");
    assert_eq!(of_type(&got, "workspace.updated").len(), 1);

    // The delivery log: each succeeded at its first attempt, with status and latency.
    let log = wait_log(&h.owner, &h.ws, &sub, 10, "three logged", |items| {
        items.len() == 3 && items.iter().all(|d| d["state"] == "succeeded")
    })
    .await;
    for d in &log {
        let a = &d["attempts"][0];
        assert_eq!(a["status"], 200, "{d:#?}");
        assert!(
            a["response_excerpt"].as_str().unwrap().contains("ok"),
            "{a}"
        );
        assert!(a["latency_ms"].is_u64());
    }

    // A test event goes to this subscription only, whatever it lists.
    let test = h
        .owner
        .ok(
            Method::POST,
            &h.path(&format!("/webhooks/{sub}/test")),
            None,
        )
        .await;
    assert_eq!(test["delivery"]["event_type"], "webhook.test");
    let got = rx.wait(10, "the test event", |d| d.len() == 4).await;
    assert_eq!(payload(&got[3])["type"], "webhook.test");
    assert_eq!(got[3]["verified"], true);

    // Manual redelivery: the same event with the same webhook-id, a new log entry.
    let first = &log[log.len() - 1];
    let again = h
        .owner
        .ok(
            Method::POST,
            &h.path(&format!(
                "/webhooks/{sub}/deliveries/{}/redeliver",
                first["id"].as_str().unwrap()
            )),
            None,
        )
        .await;
    assert_eq!(again["delivery"]["redelivery"], true);
    let got = rx.wait(10, "the redelivery", |d| d.len() == 5).await;
    assert_eq!(payload(&got[4])["id"], first["event_id"]);
    assert_eq!(got[4]["headers"]["webhook-id"], first["event_id"]);

    // Rotation with an overlap: the old and the new secret both sign; a receiver that knows
    // only the old one still verifies, and so does one that knows only the new one.
    let rotated = h
        .owner
        .ok(
            Method::POST,
            &h.path(&format!("/webhooks/{sub}/secret/rotate")),
            Some(json!({ "overlap_seconds": 3600 })),
        )
        .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let secrets = rotated["subscription"]["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2);
    assert!(secrets[1]["expires_at"].is_i64());
    for (known, n) in [(&secret, 6), (&new_secret, 7)] {
        rx.secrets(&[known]).await;
        h.owner
            .ok(
                Method::POST,
                &h.path(&format!("/webhooks/{sub}/test")),
                None,
            )
            .await;
        let got = rx.wait(10, "a test after rotation", |d| d.len() == n).await;
        let d = &got[n - 1];
        assert_eq!(d["verified"], true, "{d:#?}");
        assert_eq!(
            d["headers"]["webhook-signature"]
                .as_str()
                .unwrap()
                .split(' ')
                .count(),
            2
        );
    }
    // Rotating again without overlap retires every older secret at once.
    let rotated = h
        .owner
        .ok(
            Method::POST,
            &h.path(&format!("/webhooks/{sub}/secret/rotate")),
            Some(json!({ "overlap_seconds": 0 })),
        )
        .await;
    let newest = rotated["secret"].as_str().unwrap().to_owned();
    rx.secrets(&[&new_secret]).await;
    rx.script(json!([{ "status": 200 }])).await;
    h.owner
        .ok(
            Method::POST,
            &h.path(&format!("/webhooks/{sub}/test")),
            None,
        )
        .await;
    let got = rx
        .wait(10, "a test with the retired secret", |d| d.len() == 8)
        .await;
    assert_eq!(
        got[7]["verified"], false,
        "the retired secret no longer signs"
    );
    assert_eq!(
        got[7]["headers"]["webhook-signature"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    rx.secrets(&[&newest]).await;

    // The audit log has the management actions, never a secret.
    let audit = h.owner.ok(Method::GET, &h.path("/audit"), None).await;
    let text = audit.to_string();
    for action in [
        "webhook.create",
        "webhook.secret_rotated",
        "webhook.redeliver",
    ] {
        assert!(text.contains(action), "{action}: {text}");
    }
    for s in [&secret, &new_secret, &newest] {
        assert!(!text.contains(&s[6..]), "a secret in the audit log");
    }
    let logs: String = h.app.logs().iter().map(|l| l.to_string()).collect();
    for s in [&secret, &new_secret, &newest] {
        assert!(!logs.contains(&s[6..]), "a secret in the appliance log");
    }
}

#[tokio::test]
async fn an_event_committed_before_a_kill_9_is_delivered_after_the_restart() {
    // The attempt in flight when the appliance dies stalls at the receiver: the commit is
    // done, the delivery is not.
    let mut h = Hooked::start(config("timeout = \"60s\"\n")).await;
    let rx = Receiver::start();
    let (_sub, secret) =
        subscribe(&h.owner, &h.ws, &rx.url("/hook"), &["cluster.registered"]).await;
    rx.secrets(&[&secret]).await;
    rx.script(json!([{ "delay_ms": 30000 }])).await;
    let cluster = h
        .owner
        .ok(
            Method::POST,
            &h.path("/clusters"),
            Some(json!({ "name": "prod" })),
        )
        .await;
    let cluster_id = cluster["cluster"]["id"].as_str().unwrap().to_owned();
    let got = rx.wait(20, "the stalled attempt", |d| d.len() == 1).await;
    let id = got[0]["headers"]["webhook-id"].as_str().unwrap().to_owned();
    assert_eq!(got[0]["answered"], Value::Null, "still in flight");
    h.app.crash_and_restart().await;
    // After the restart the outbox still holds it: delivered again, same id, answered.
    let got = rx
        .wait(30, "the delivery after the restart", |d| {
            d.iter()
                .skip(1)
                .any(|x| x["headers"]["webhook-id"] == id.as_str() && x["answered"] == 200)
        })
        .await;
    let again = got.iter().skip(1).find(|x| x["answered"] == 200).unwrap();
    assert_eq!(again["verified"], true);
    assert_eq!(payload(again)["data"]["target"], cluster_id.as_str());
}

#[tokio::test]
async fn retries_honour_retry_after_and_a_failing_endpoint_is_disabled() {
    let h = Hooked::start(config("disable_after_failures = 3\n")).await;
    let rx = Receiver::start();
    let (sub, secret) = subscribe(&h.owner, &h.ws, &rx.url("/hook"), &["cluster.registered"]).await;
    rx.secrets(&[&secret]).await;
    // 503 asking for 2 s: the retry (whose own backoff is 100–200 ms) waits for it.
    rx.script(json!([{ "status": 503, "retry_after": "2" }, { "status": 429 }]))
        .await;
    h.owner
        .ok(
            Method::POST,
            &h.path("/clusters"),
            Some(json!({ "name": "one" })),
        )
        .await;
    let got = rx.wait(20, "three attempts", |d| d.len() == 3).await;
    let gap = got[1]["received_ms"].as_i64().unwrap() - got[0]["received_ms"].as_i64().unwrap();
    assert!(gap >= 2000, "Retry-After: 2 honoured, gap {gap} ms");
    let gap = got[2]["received_ms"].as_i64().unwrap() - got[1]["received_ms"].as_i64().unwrap();
    assert!(
        gap < 2000,
        "no Retry-After: the short backoff, gap {gap} ms"
    );
    assert!(
        got.iter()
            .all(|d| d["headers"]["webhook-id"] == got[0]["headers"]["webhook-id"])
    );
    let log = wait_log(&h.owner, &h.ws, &sub, 10, "succeeded", |i| {
        i.first().is_some_and(|d| d["state"] == "succeeded")
    })
    .await;
    let statuses: Vec<Value> = log[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(503), json!(429), json!(200)]);

    // Three failures in a row disable it (a success in between resets the count).
    rx.script(json!([{ "status": 500 }, { "status": 500 }, { "status": 500 }, { "status": 500 }]))
        .await;
    h.owner
        .ok(
            Method::POST,
            &h.path("/clusters"),
            Some(json!({ "name": "two" })),
        )
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let sub_view = loop {
        let v = h
            .owner
            .ok(Method::GET, &h.path(&format!("/webhooks/{sub}")), None)
            .await;
        if v["enabled"] == false {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "not disabled: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sub_view["disabled_reason"], "failing");
    assert_eq!(sub_view["consecutive_failures"], 3);
    let audit = h.owner.ok(Method::GET, &h.path("/audit"), None).await;
    let disabled: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "webhook.disabled")
        .collect();
    assert_eq!(disabled.len(), 1, "{audit:#}");
    assert_eq!(disabled[0]["target"], sub.as_str());
    // Disabled: the pending delivery is dropped, new events are not queued.
    let before = rx.deliveries().await.len();
    h.owner
        .ok(
            Method::POST,
            &h.path("/clusters"),
            Some(json!({ "name": "three" })),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.deliveries().await.len(), before);
    let log = wait_log(&h.owner, &h.ws, &sub, 10, "dropped", |i| {
        i.first().is_some_and(|d| d["state"] == "dropped")
    })
    .await;
    assert_eq!(
        log.len(),
        2,
        "no delivery for the event after disabling: {log:#?}"
    );
    // Re-enabling resets the count.
    let v = h
        .owner
        .ok(
            Method::PATCH,
            &h.path(&format!("/webhooks/{sub}")),
            Some(json!({ "enabled": true })),
        )
        .await;
    assert_eq!(
        (v["enabled"].clone(), v["consecutive_failures"].clone()),
        (json!(true), json!(0))
    );
}
