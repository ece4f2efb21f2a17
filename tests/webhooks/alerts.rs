//! Alerts in, with the real agent on the simulator's CrashLoopBackOff scenario and a scripted
//! model: an Alertmanager v4 payload (Alertmanager's documented webhook format) starts one
//! read-only investigation per fingerprint, its resolution is recorded on the session, a
//! signed generic webhook starts a run from its template, and the run's `run.completed`
//! payload, too large with its answer, reaches the receiver as a link.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{Receiver, config, of_type, payload, sign, subscribe};
use crate::cluster_link::World;
use crate::harness::appliance::StartOptions;
use crate::runs::POD;
use crate::runs::model::{self, Turn};

/// Alertmanager's webhook body, version 4, as `amtool`/Alertmanager send it.
fn alertmanager_body(status: &str, fingerprint: &str) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}/{severity=\"critical\"}:{alertname=\"KubePodCrashLooping\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "acorn",
        "groupLabels": { "alertname": "KubePodCrashLooping" },
        "commonLabels": { "alertname": "KubePodCrashLooping", "severity": "critical", "cluster": "prod" },
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.monitoring:9093",
        "alerts": [{
            "status": status,
            "labels": {
                "alertname": "KubePodCrashLooping", "severity": "critical", "cluster": "prod",
                "namespace": "crashloop", "pod": POD, "container": "app",
                "job": "kube-state-metrics"
            },
            "annotations": {
                "summary": "Pod is crash looping.",
                "description": format!("Pod crashloop/{POD} (app) is in waiting state (reason: \"CrashLoopBackOff\")."),
                "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"
            },
            "startsAt": "2026-11-02T10:00:00.000Z",
            "endsAt": if status == "resolved" { "2026-11-02T10:30:00.000Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%5B5m%5D%29+%3E%3D+1",
            "fingerprint": fingerprint
        }]
    })
}

async fn wait_run_end(w: &World, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = w
            .owner
            .ok(Method::GET, &w.path(&format!("/runs/{run}")), None)
            .await;
        if r["ended_at"].is_i64() {
            return r;
        }
        assert!(Instant::now() < deadline, "run did not end: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_alertmanager_alert_starts_one_read_only_investigation_per_fingerprint() {
    // An answer of ~17,000 four-byte characters: its run.completed payload exceeds 64 KiB.
    let answer: &'static str = Box::leak(
        std::iter::repeat_n("🌰".repeat(500), 34)
            .collect::<Vec<_>>()
            .join(" ")
            .into_boxed_str(),
    );
    let model = model::start(vec![Turn::Text(answer)]).await;
    let w = World::with_options(
        &["--scenario", "crashloop"],
        StartOptions {
            config: Some(config("")),
            ..Default::default()
        },
    )
    .await;
    let rx = Receiver::start();
    let (_sub, secret) = subscribe(
        &w.owner,
        &w.ws,
        &rx.url("/hook"),
        &[
            "session.created",
            "run.created",
            "run.started",
            "run.completed",
        ],
    )
    .await;
    rx.secrets(&[&secret]).await;
    let cluster = w.register(json!({ "name": "prod" })).await;
    let agent = w.agent(&cluster.settings, "acorn-agent-0");
    w.wait_linked(&cluster.id, &agent).await;
    let provider = json!({
        "kind": "openai",
        "base_url": format!("http://127.0.0.1:{}/v1", model.port),
        "list_models": false,
        "models": [{"id": "scripted-model", "context_window": 64000,
                    "input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0}],
    });
    w.owner
        .ok(Method::PUT, &w.path("/providers/scripted"), Some(provider))
        .await;
    w.owner
        .ok(
            Method::PUT,
            &w.path("/run-settings"),
            Some(json!({"provider": "scripted", "model": "scripted-model"})),
        )
        .await;
    let receiver = w
        .owner
        .ok(
            Method::POST,
            &w.path("/alert-receivers"),
            Some(
                json!({ "kind": "alertmanager", "name": "prometheus", "cluster_label": "cluster" }),
            ),
        )
        .await;
    let token = receiver["credential"].as_str().unwrap().to_owned();
    let url = w.app.url(&w.path("/alerts/alertmanager"));
    let post = |body: Value| {
        let r = w.app.client.post(&url).bearer_auth(&token).json(&body);
        async move {
            let resp = r.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };

    let first = post(alertmanager_body("firing", "4f3c2b1a0e9d8c7b")).await;
    let r = &first["results"][0];
    assert_eq!(r["outcome"], "started", "{first}");
    let (session, run) = (
        r["session_id"].as_str().unwrap().to_owned(),
        r["run_id"].as_str().unwrap().to_owned(),
    );
    let ended = wait_run_end(&w, &run).await;
    assert_eq!(ended["state"], "completed", "{ended}");
    assert_eq!(ended["mode"], "read_only");
    assert_eq!(ended["created_by"], "system:alerts");
    let question = ended["question"].as_str().unwrap();
    for needle in [
        "KubePodCrashLooping",
        POD,
        "CrashLoopBackOff",
        "4f3c2b1a0e9d8c7b",
    ] {
        assert!(question.contains(needle), "{needle}: {question}");
    }
    assert_eq!(ended["cluster_id"], cluster.id.as_str());

    // The same fingerprint again (Alertmanager repeats every group_interval): no new run.
    let again = post(alertmanager_body("firing", "4f3c2b1a0e9d8c7b")).await;
    let r = &again["results"][0];
    assert_eq!(r["outcome"], "deduplicated", "{again}");
    assert_eq!(
        (r["session_id"].as_str(), r["run_id"].as_str()),
        (Some(session.as_str()), Some(run.as_str()))
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sessions = w.owner.ok(Method::GET, &w.path("/sessions"), None).await;
    let sessions = sessions["items"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0]["alert"]["status"], "firing");
    assert_eq!(sessions[0]["alert"]["labels"]["pod"], POD);
    assert_eq!(model.requests().len(), 1, "one investigation");

    // Resolved: recorded on the session.
    let resolved = post(alertmanager_body("resolved", "4f3c2b1a0e9d8c7b")).await;
    assert_eq!(resolved["results"][0]["outcome"], "resolved", "{resolved}");
    let s = w
        .owner
        .ok(Method::GET, &w.path(&format!("/sessions/{session}")), None)
        .await;
    assert_eq!(s["alert"]["status"], "resolved", "{s}");
    assert!(s["alert"]["resolved_at"].is_i64());

    // The webhooks of it all, verified by the reference library; run.completed is too large
    // with its answer and carries a link to the whole event instead.
    let got = rx
        .wait(20, "the run's events", |d| {
            !of_type(d, "run.completed").is_empty()
        })
        .await;
    assert!(got.iter().all(|d| d["verified"] == true), "{got:#?}");
    assert_eq!(of_type(&got, "session.created").len(), 1);
    let created = payload(of_type(&got, "session.created")[0]);
    assert_eq!(created["data"]["created_by"], "system:alerts");
    let completed = payload(of_type(&got, "run.completed")[0]);
    assert!(
        of_type(&got, "run.completed")[0]["body"]
            .as_str()
            .unwrap()
            .len()
            <= 64 * 1024
    );
    assert_eq!(completed["data"]["truncated"], true, "{completed}");
    assert!(completed["data"]["size"].as_u64().unwrap() > 64 * 1024);
    let link = completed["data"]["link"].as_str().unwrap();
    let path = &link[link.find("/api/v1/").unwrap()..];
    let full = w.owner.ok(Method::GET, path, None).await;
    assert_eq!(full["payload"]["id"], completed["id"]);
    assert_eq!(full["payload"]["data"]["run_id"], run.as_str());
    assert!(
        full["payload"]["data"]["answer"]
            .as_str()
            .unwrap()
            .starts_with("🌰🌰")
    );

    // A signed generic webhook starts a run from the receiver's template.
    let signed = w
        .owner
        .ok(
            Method::POST,
            &w.path("/alert-receivers"),
            Some(json!({ "kind": "signed", "name": "ci", "default_cluster": "prod",
                         "prompt_template": "The deploy of {{deploy.name}} failed its smoke test: {{reason}}. Why?" })),
        )
        .await;
    let secret = signed["credential"].as_str().unwrap();
    let signed_url = signed["receiver"]["url"].as_str().unwrap();
    let path = &signed_url[signed_url.find("/api/v1/").unwrap()..];
    let body =
        json!({ "deploy": { "name": "checkout" }, "reason": "HTTP 503 from /healthz" }).to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let resp = w
        .app
        .client
        .post(w.app.url(path))
        .header("content-type", "application/json")
        .header("webhook-id", "msg_deploy_1")
        .header("webhook-timestamp", now.to_string())
        .header(
            "webhook-signature",
            sign(secret, "msg_deploy_1", now, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["results"][0]["outcome"], "started", "{b}");
    let run = b["results"][0]["run_id"].as_str().unwrap();
    let ended = wait_run_end(&w, run).await;
    assert_eq!(ended["mode"], "read_only");
    assert_eq!(
        ended["question"],
        "The deploy of checkout failed its smoke test: HTTP 503 from /healthz. Why?"
    );
}
