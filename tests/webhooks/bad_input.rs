//! Bad input: refused URLs and event types, the subscription limit, endpoints that are
//! unreachable, slow, redirecting, gone or resolve to a private address, and hostile inbound
//! posts (Alertmanager payloads, signed webhooks).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Hooked, Receiver, config, sign, subscribe, wait_log};
use crate::harness::appliance::free_port;

#[tokio::test]
async fn refused_urls_event_types_and_the_subscription_limit() {
    let h = Hooked::start(config("")).await;
    let path = h.path("/webhooks");
    let create = |url: &str, types: Value| {
        h.owner.call(
            Method::POST,
            &path,
            Some(json!({ "url": url, "event_types": types })),
        )
    };
    for url in [
        "http://hooks.example.com/in",
        "ftp://hooks.example.com/in",
        "https://user:pw@hooks.example.com/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://10.0.0.5/in",
        "https://192.168.1.10/in",
        "https://[::1]:9/in",
        "not a url",
    ] {
        create(url, json!(["*"]))
            .await
            .assert_error(400, "webhook_url_refused");
    }
    // The allow-list opens loopback over http, never the metadata address.
    assert_eq!(
        create("http://127.0.0.1:9/in", json!(["*"])).await.status,
        201
    );
    create("http://169.254.169.254/", json!(["*"]))
        .await
        .assert_error(400, "webhook_url_refused");
    for types in [
        json!([]),
        json!(["run.nope"]),
        json!(["run.completed", "RUN.COMPLETED"]),
    ] {
        create("https://hooks.example.com/in", types)
            .await
            .assert_error(400, "webhook_event_type_unknown");
    }
    h.owner
        .call(
            Method::POST,
            &h.path("/webhooks"),
            Some(json!({ "url": "https://hooks.example.com/", "event_types": ["*"], "secret": "mine" })),
        )
        .await
        .assert_error(400, "invalid_body");
    // At most 100 per workspace (one exists).
    for n in 1..100 {
        let a = create(
            &format!("https://hooks.example.com/{n}"),
            json!(["run.completed"]),
        )
        .await;
        assert_eq!(a.status, 201, "{n}: {}", a.body);
    }
    create("https://hooks.example.com/101", json!(["run.completed"]))
        .await
        .assert_error(409, "webhook_limit_reached");
    let list = h.owner.ok(Method::GET, &h.path("/webhooks"), None).await;
    assert_eq!(list.as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn unreachable_slow_redirecting_gone_and_rebinding_endpoints() {
    let h = Hooked::start(config(
        "timeout = \"1s\"\nconnect_timeout = \"1s\"\nmax_attempts = 2\n",
    ))
    .await;
    let (slow, redirect, gone, target) = (
        Receiver::start(),
        Receiver::start(),
        Receiver::start(),
        Receiver::start(),
    );
    slow.script(json!([{ "delay_ms": 3000 }, { "delay_ms": 3000 }]))
        .await;
    redirect
        .script(json!([{ "status": 302, "location": target.url("/elsewhere") }]))
        .await;
    gone.script(json!([{ "status": 410 }])).await;
    let closed = format!("http://127.0.0.1:{}/in", free_port());
    let types = ["cluster.registered"];
    let (s_closed, _) = subscribe(&h.owner, &h.ws, &closed, &types).await;
    let (s_slow, _) = subscribe(&h.owner, &h.ws, &slow.url("/in"), &types).await;
    let (s_redirect, _) = subscribe(&h.owner, &h.ws, &redirect.url("/in"), &types).await;
    let (s_gone, _) = subscribe(&h.owner, &h.ws, &gone.url("/in"), &types).await;
    // https to a name: fine when saved; it resolves to loopback, which only allow-listed hosts
    // may reach ("localhost" is not "127.0.0.1"): refused at connect time.
    let (s_rebind, _) = subscribe(
        &h.owner,
        &h.ws,
        &format!("https://localhost:{}/in", target.port),
        &types,
    )
    .await;
    h.owner
        .ok(
            Method::POST,
            &h.path("/clusters"),
            Some(json!({ "name": "prod" })),
        )
        .await;

    let done = |items: &[Value]| items.first().is_some_and(|d| d["state"] != "pending");
    let log = wait_log(&h.owner, &h.ws, &s_closed, 20, "unreachable", done).await;
    assert_eq!(log[0]["state"], "failed");
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        2,
        "retried once (max_attempts 2): {attempts:#?}"
    );
    assert!(
        attempts
            .iter()
            .all(|a| a["status"].is_null() && a["error"].is_string())
    );

    let log = wait_log(&h.owner, &h.ws, &s_slow, 20, "slow", done).await;
    assert_eq!(log[0]["state"], "failed");
    for a in log[0]["attempts"].as_array().unwrap() {
        assert!(a["error"].as_str().unwrap().contains("timed out"), "{a}");
        assert!(a["latency_ms"].as_u64().unwrap() < 2500, "{a}");
    }

    let log = wait_log(&h.owner, &h.ws, &s_redirect, 20, "redirect", done).await;
    assert_eq!(log[0]["state"], "failed");
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "a redirect is not retried: {attempts:#?}"
    );
    assert_eq!(attempts[0]["status"], 302);
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("not followed")
    );

    let log = wait_log(&h.owner, &h.ws, &s_gone, 20, "gone", done).await;
    assert_eq!(log[0]["state"], "failed");
    let v = h
        .owner
        .ok(Method::GET, &h.path(&format!("/webhooks/{s_gone}")), None)
        .await;
    assert_eq!(
        (v["enabled"].clone(), v["disabled_reason"].clone()),
        (json!(false), json!("gone"))
    );

    let log = wait_log(&h.owner, &h.ws, &s_rebind, 20, "rebinding", done).await;
    assert_eq!(log[0]["state"], "failed");
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "an egress refusal is not retried");
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("egress refused"),
        "{attempts:#?}"
    );
    // Nothing reached the redirect's target or the rebinding's address.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(target.deliveries().await.is_empty());
}

#[tokio::test]
async fn hostile_alertmanager_posts_and_inbound_webhooks_are_refused() {
    let h = Hooked::start(config("")).await;
    let cluster = h
        .owner
        .ok(
            Method::POST,
            &h.path("/clusters"),
            Some(json!({ "name": "prod" })),
        )
        .await;
    let cluster_id = cluster["cluster"]["id"].as_str().unwrap().to_owned();
    let am = h
        .owner
        .ok(
            Method::POST,
            &h.path("/alert-receivers"),
            Some(json!({ "kind": "alertmanager", "name": "am" })),
        )
        .await;
    let token = am["credential"].as_str().unwrap().to_owned();
    let url = h.app.url(&h.path("/alerts/alertmanager"));
    let client = &h.app.client;
    let post = |token: Option<&str>, body: &str| {
        let mut r = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let alert = |labels: Value, status: &str, fp: &str| {
        json!({
            "version": "4", "groupKey": "{}:{alertname=\"X\"}", "truncatedAlerts": 0,
            "status": status, "receiver": "acorn", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am:9093",
            "alerts": [{ "status": status, "labels": labels, "annotations": {},
                         "startsAt": "2026-11-02T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                         "generatorURL": "http://prom/graph", "fingerprint": fp }]
        })
        .to_string()
    };
    let good = alert(
        json!({ "alertname": "X", "cluster": "prod" }),
        "firing",
        "f1",
    );
    // Credentials.
    for t in [None, Some("acr_wrong"), Some(h.owner.cookie.as_str())] {
        let (s, b) = post(t, &good).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (401, Some("receiver_token_invalid")),
            "{b}"
        );
    }
    let other_ws = crate::harness::identity::workspace_with(&h.owner, "other", &[]).await;
    let (s, _) = async {
        let r = client
            .post(h.app.url(&format!(
                "/api/v1/workspaces/{other_ws}/alerts/alertmanager"
            )))
            .bearer_auth(&token)
            .body(good.clone())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    }
    .await;
    assert_eq!(
        s, 401,
        "a receiver's token works for its own workspace only"
    );
    // Payloads.
    for body in [
        good.replace("\"version\":\"4\"", "\"version\":\"3\""),
        {
            let mut v: Value = serde_json::from_str(&good).unwrap();
            v.as_object_mut().unwrap().remove("version");
            v.to_string()
        },
        "not json".to_owned(),
        json!({ "version": "4", "groupKey": "g", "status": "firing" }).to_string(),
        good.replace("\"fingerprint\":\"f1\"", "\"fingerprint\":7"),
    ] {
        let (s, b) = post(Some(&token), &body).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (400, Some("alert_payload_unsupported")),
            "{body}: {b}"
        );
    }
    // Alerts that cannot start anything: refused (or ignored) one by one, with the reason.
    let cases = [
        (
            alert(json!({ "alertname": "X" }), "firing", "f2"),
            "refused",
            "no `cluster` label",
        ),
        (
            alert(json!({ "cluster": "staging" }), "firing", "f3"),
            "refused",
            "no cluster named",
        ),
        (
            alert(json!({ "cluster": "prod" }), "resolved", "f4"),
            "ignored",
            "never seen",
        ),
        // The cluster exists but its agent is not connected: the run cannot start, and the
        // claim is released, so the same alert is refused again rather than deduplicated.
        (good.clone(), "refused", "agent_disconnected"),
        (good.clone(), "refused", "agent_disconnected"),
    ];
    for (body, outcome, why) in cases {
        let (s, b) = post(Some(&token), &body).await;
        assert_eq!(s, 200, "{b}");
        let r = &b["results"][0];
        assert_eq!(r["outcome"], outcome, "{b}");
        assert!(r["message"].as_str().unwrap().contains(why), "{why}: {b}");
    }
    let sessions = h.owner.ok(Method::GET, &h.path("/sessions"), None).await;
    assert!(
        sessions["items"].as_array().unwrap().is_empty(),
        "no session without a run: {sessions}"
    );

    // Signed inbound webhooks.
    let signed = h
        .owner
        .ok(
            Method::POST,
            &h.path("/alert-receivers"),
            Some(
                json!({ "kind": "signed", "name": "ci", "default_cluster": cluster_id,
                         "prompt_template": "Deploy {{deploy.name}} failed: {{reason}}" }),
            ),
        )
        .await;
    let secret = signed["credential"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let rid = signed["receiver"]["id"].as_str().unwrap().to_owned();
    assert!(signed["receiver"]["url"].as_str().unwrap().ends_with(&rid));
    let signed_url = h.app.url(&h.path(&format!("/alerts/webhook/{rid}")));
    let body = json!({ "deploy": { "name": "checkout" }, "reason": "probe" }).to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let send_signed = |url: String, id: &str, ts: i64, sig: Option<String>, body: String| {
        let mut r = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .body(body);
        if let Some(s) = sig {
            r = r.header("webhook-signature", s);
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let good_sig = sign(&secret, "msg_1", now, &body);
    let other_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let cases = [
        (
            signed_url.clone(),
            "msg_1",
            now,
            None,
            401,
            "webhook_signature_invalid",
        ),
        (
            signed_url.clone(),
            "msg_1",
            now,
            Some(sign(other_secret, "msg_1", now, &body)),
            401,
            "webhook_signature_invalid",
        ),
        (
            signed_url.clone(),
            "msg_2",
            now,
            Some(good_sig.clone()),
            401,
            "webhook_signature_invalid",
        ),
        (
            signed_url.clone(),
            "msg_old",
            now - 360,
            Some(sign(&secret, "msg_old", now - 360, &body)),
            401,
            "webhook_timestamp_refused",
        ),
        (
            signed_url.clone(),
            "msg_new",
            now + 360,
            Some(sign(&secret, "msg_new", now + 360, &body)),
            401,
            "webhook_timestamp_refused",
        ),
        (
            h.app.url(&h.path("/alerts/webhook/rcv_0000000000000000")),
            "msg_1",
            now,
            Some(good_sig.clone()),
            401,
            "webhook_signature_invalid",
        ),
    ];
    for (u, id, ts, sig, status, code) in cases {
        let (s, b) = send_signed(u, id, ts, sig, body.clone()).await;
        assert_eq!((s, b["code"].as_str()), (status, Some(code)), "{id}: {b}");
    }
    // Valid: accepted once (the run cannot start without an agent: refused, with the reason);
    // the same id again is a replay.
    let (s, b) = send_signed(
        signed_url.clone(),
        "msg_1",
        now,
        Some(good_sig.clone()),
        body.clone(),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["results"][0]["outcome"], "refused");
    let (s, b) = send_signed(
        signed_url.clone(),
        "msg_1",
        now,
        Some(good_sig),
        body.clone(),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("webhook_replayed")),
        "{b}"
    );
    // The body must still be altered-proof: the same signature over another body fails.
    let sig = sign(&secret, "msg_3", now, &body);
    let (s, _) = send_signed(
        signed_url,
        "msg_3",
        now,
        Some(sig),
        body.replace("probe", "oom"),
    )
    .await;
    assert_eq!(s, 401);
}
