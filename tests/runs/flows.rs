//! Whole runs: the CrashLoopBackOff investigation, and write actions behind approvals.

use reqwest::Method;
use serde_json::{Value, json};

use super::model::Turn;
use super::{POD, RunWorld};
use crate::harness::appliance::ok_stdout;

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_crashloop_investigation_streams_in_order_is_stored_and_exports_signed_evidence() {
    let rw = RunWorld::new(
        vec![
            Turn::Tools(vec![
                (
                    "describe",
                    json!({"kind": "Pod", "namespace": "crashloop", "name": POD}),
                ),
                (
                    "get_pod_logs",
                    json!({"namespace": "crashloop", "pod": POD, "previous": true}),
                ),
            ]),
            Turn::Text(
                "checkout is in CrashLoopBackOff: the previous container log shows a panic \
                 because MAX_CONNECTIONS is \"ten\", not an integer. Set MAX_CONNECTIONS=10.",
            ),
        ],
        false,
        "",
    )
    .await;
    let run = rw
        .start_run("why is checkout crash-looping?", json!({}))
        .await;
    // A subscriber from the start sees every event in order and the stream closes at the end.
    let live = rw.sse(&run, None).await;
    let seqs: Vec<u64> = live.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "gap-free, in order"
    );
    let names: Vec<&str> = live.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"run.created"));
    assert_eq!(names.get(1), Some(&"run.started"));
    assert_eq!(names.last(), Some(&"run.completed"), "{names:?}");
    let first_result = names.iter().position(|n| *n == "tool.result").unwrap();
    let first_call = names.iter().position(|n| *n == "tool.call").unwrap();
    assert!(first_call < first_result);
    assert!(names.contains(&"model.delta") && names.contains(&"model.message"));
    assert_eq!(names.iter().filter(|n| **n == "tool.call").count(), 2);

    // Stored: the same events, the answer, the evidence that links to the tool results.
    let stored = rw.events(&run).await;
    assert_eq!(stored.len(), live.len());
    assert_eq!(kinds(&stored), names);
    let done = rw.run(&run).await;
    assert_eq!(done["state"], "completed", "{done}");
    let answer = done["answer"].as_str().unwrap();
    assert!(answer.contains("MAX_CONNECTIONS"), "{answer}");
    assert_eq!(done["usage"]["steps"], 2);
    assert_eq!(done["usage"]["tool_calls"], 2);
    assert_eq!(done["usage"]["output_tokens"], 40);
    let evidence: Vec<u64> = done["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(evidence.len(), 2);
    let logs = stored
        .iter()
        .find(|e| e["kind"] == "tool.result" && e["data"]["tool"] == "get_pod_logs")
        .unwrap();
    assert!(evidence.contains(&logs["seq"].as_u64().unwrap()));
    assert!(
        logs["data"]["content"]
            .as_str()
            .unwrap()
            .contains("invalid value for MAX_CONNECTIONS"),
        "the previous container's log: {logs}"
    );

    // The model saw its tool results on the second call, and the system prompt named the pod.
    let requests = rw.model.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0].body;
    assert!(
        requests[0]
            .header("authorization")
            .is_none_or(|a| !a.contains("eyJ")),
        "the run JWT never reaches the provider"
    );
    assert!(
        first["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains(POD)
    );
    assert!(
        first["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["function"]["name"] != "scale_workload"),
        "read-only runs are not offered write tools"
    );
    let second = requests[1].body["messages"].as_array().unwrap();
    let tool_msgs: Vec<&Value> = second.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(tool_msgs.len(), 2);
    assert!(
        tool_msgs
            .iter()
            .any(|m| m["content"].as_str().unwrap().contains("MAX_CONNECTIONS"))
    );

    // Replay from an event id: only what follows, then the end.
    let replay = rw.sse(&run, Some(3)).await;
    assert_eq!(replay.first().unwrap().0, 4);
    assert_eq!(replay.last().unwrap().1, "run.completed");

    // The session holds the conversation.
    let session = rw
        .world
        .owner
        .ok(
            Method::GET,
            &rw.world.path(&format!("/sessions/{}", rw.session)),
            None,
        )
        .await;
    let messages = session["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["evidence"].as_array().unwrap().len(), 2);

    // The evidence bundle verifies offline, and any change breaks it.
    let bundle = rw
        .world
        .owner
        .ok(
            Method::GET,
            &rw.world.path(&format!("/runs/{run}/evidence")),
            None,
        )
        .await;
    assert_eq!(bundle["format"], "acorn.evidence/v1");
    assert_eq!(bundle["bundle"]["tool_calls"].as_array().unwrap().len(), 2);
    assert!(
        !bundle["bundle"]["audit_record_ids"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.json");
    std::fs::write(&file, serde_json::to_string_pretty(&bundle).unwrap()).unwrap();
    let fingerprint = bundle["signature"]["fingerprint"].as_str().unwrap();
    let out = rw.world.app.acorn(&[
        "verify-bundle",
        file.to_str().unwrap(),
        "--fingerprint",
        fingerprint,
    ]);
    assert!(ok_stdout(&out).contains("valid signature"));
    let logged = rw
        .world
        .app
        .logs()
        .into_iter()
        .any(|l| l["message"] == "evidence signing key" && l["fingerprint"] == fingerprint);
    assert!(logged, "the appliance logs the fingerprint operators pin");
    let mut forged = bundle.clone();
    forged["bundle"]["answer"] = json!("all good, nothing to see");
    std::fs::write(&file, serde_json::to_string(&forged).unwrap()).unwrap();
    let out = rw
        .world
        .app
        .acorn(&["verify-bundle", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("altered"),
        "{out:?}"
    );
}

/// Waits until the run waits for an approval; returns the approval.
async fn pending_approval(rw: &RunWorld, run: &str) -> Value {
    rw.wait_run(run, 30, "waiting_for_approval", |r| {
        r["state"] == "waiting_for_approval"
    })
    .await;
    let approvals = rw
        .world
        .owner
        .ok(
            Method::GET,
            &rw.world.path(&format!("/runs/{run}/approvals")),
            None,
        )
        .await;
    approvals.as_array().unwrap().last().unwrap().clone()
}

async fn decide(
    rw: &RunWorld,
    run: &str,
    approval: &str,
    body: Value,
) -> crate::harness::identity::Answer {
    rw.world
        .owner
        .call(
            Method::POST,
            &rw.world.path(&format!("/runs/{run}/approvals/{approval}")),
            Some(body),
        )
        .await
}

fn scale(replicas: u32) -> Turn {
    Turn::Tools(vec![(
        "scale_workload",
        json!({"kind": "Deployment", "namespace": "crashloop", "name": "checkout",
               "replicas": replicas, "dry_run": false}),
    )])
}

#[tokio::test]
async fn write_actions_wait_for_approval_and_run_once_approved_never_when_rejected_or_expired() {
    let rw = RunWorld::new(
        vec![scale(3), Turn::Text("Scaled checkout to 3 replicas.")],
        true,
        "approval_timeout = \"3s\"",
    )
    .await;
    let before = rw.deployment().await["spec"]["replicas"].clone();
    assert_ne!(before, json!(3));

    // Approve: the change happens once, after the decision.
    let run = rw
        .start_run("scale checkout to 3", json!({"mode": "read_write"}))
        .await;
    let approval = pending_approval(&rw, &run).await;
    assert_eq!(approval["state"], "pending");
    assert_eq!(approval["tool"], "scale_workload");
    assert_eq!(approval["arguments"]["replicas"], 3);
    assert_eq!(approval["arguments"]["dry_run"], false);
    assert!(
        approval["diff"].as_str().unwrap().contains('3'),
        "the dry-run diff: {approval}"
    );
    assert_eq!(
        rw.deployment().await["spec"]["replicas"],
        before,
        "nothing changed before the decision"
    );
    let id = approval["id"].as_str().unwrap();
    let decided = decide(
        &rw,
        &run,
        id,
        json!({"decision": "approve", "comment": "ok"}),
    )
    .await;
    assert_eq!(decided.status, 200, "{}", decided.body);
    // The first decision wins.
    decide(&rw, &run, id, json!({"decision": "reject"}))
        .await
        .assert_error(409, "approval_already_decided");
    let done = rw.wait_end(&run).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(rw.deployment().await["spec"]["replicas"], 3);
    let results = rw.events_of(&run, "tool.result").await;
    assert_eq!(results.len(), 1, "executed once");
    assert_eq!(results[0]["data"]["ok"], true);
    let decided_events = rw.events_of(&run, "approval.decided").await;
    assert_eq!(decided_events[0]["data"]["decision"], "approved");
    let audit = rw
        .world
        .owner
        .ok(Method::GET, &rw.world.path("/audit?limit=500"), None)
        .await;
    assert!(audit.to_string().contains("approval.approved"), "{audit}");

    // Reject: told to the model, the agent is not called.
    rw.play(vec![scale(5), Turn::Text("Understood, not scaling.")]);
    let run = rw
        .start_run("scale checkout to 5", json!({"mode": "read_write"}))
        .await;
    let approval = pending_approval(&rw, &run).await;
    let id = approval["id"].as_str().unwrap();
    let decided = decide(
        &rw,
        &run,
        id,
        json!({"decision": "reject", "comment": "not now"}),
    )
    .await;
    assert_eq!(decided.status, 200, "{}", decided.body);
    let done = rw.wait_end(&run).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(rw.deployment().await["spec"]["replicas"], 3, "no change");
    let result = &rw.events_of(&run, "tool.result").await[0];
    assert_eq!(result["data"]["error"]["code"], "approval_rejected");
    let told = rw.model.requests().last().unwrap().body.to_string();
    assert!(
        told.contains("rejected") && told.contains("not now"),
        "the model is told why"
    );

    // Timeout (3 s here): expired, not executed, audited as the appliance's decision.
    rw.play(vec![scale(7), Turn::Text("Nobody approved.")]);
    let run = rw
        .start_run("scale checkout to 7", json!({"mode": "read_write"}))
        .await;
    let approval = pending_approval(&rw, &run).await;
    let done = rw.wait_end(&run).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(rw.deployment().await["spec"]["replicas"], 3, "no change");
    let result = &rw.events_of(&run, "tool.result").await[0];
    assert_eq!(result["data"]["error"]["code"], "approval_expired");
    decide(
        &rw,
        &run,
        approval["id"].as_str().unwrap(),
        json!({"decision": "approve"}),
    )
    .await
    .assert_error(409, "approval_already_decided");

    // A read-only run is never offered the write tool: calling it anyway reaches no approval.
    rw.play(vec![
        scale(9),
        Turn::Text("Cannot scale in a read-only run."),
    ]);
    let run = rw.start_run("scale checkout to 9", json!({})).await;
    let done = rw.wait_end(&run).await;
    assert_eq!(done["state"], "completed");
    assert!(rw.events_of(&run, "approval.requested").await.is_empty());
    let result = &rw.events_of(&run, "tool.result").await[0];
    assert_eq!(result["data"]["error"]["code"], "tool_unknown");
    assert_eq!(rw.deployment().await["spec"]["replicas"], 3);
}
