//! What stops a run: the loop guard and invalid tool calls (told to the model), each limit,
//! cancellation (mid-stream, mid-tool-call), the agent going away, and the appliance killed.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::RunWorld;
use super::model::Turn;

fn events_ns() -> Turn {
    Turn::Tools(vec![("get_events", json!({"namespace": "crashloop"}))])
}

#[tokio::test]
async fn the_loop_guard_and_invalid_tool_calls_are_told_to_the_model_and_counted() {
    let rw = RunWorld::new(
        vec![
            events_ns(),
            events_ns(),
            events_ns(),
            Turn::RawTool("get_events", "{\"namespace\": crashloop"),
            Turn::Tools(vec![("kubectl_exec", json!({"command": "rm -rf /"}))]),
            Turn::Text("The events show BackOff for checkout."),
        ],
        false,
        "",
    )
    .await;
    let run = rw
        .start_run(
            "what do the events say?",
            json!({"limits": {"max_identical_tool_calls": 1}}),
        )
        .await;
    let done = rw.wait_end(&run).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["usage"]["steps"], 6);
    assert_eq!(done["usage"]["tool_calls"], 1, "only the first call ran");
    assert_eq!(done["usage"]["loop_guard_hits"], 2);
    assert_eq!(done["usage"]["invalid_tool_calls"], 2);
    let results = rw.events_of(&run, "tool.result").await;
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["data"]["error"]["code"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(
        codes,
        [
            "ok",
            "loop_guard",
            "loop_guard",
            "invalid_arguments",
            "tool_unknown"
        ]
    );
    // Each refusal reached the model as the tool's answer.
    let last = rw.model.requests().last().unwrap().body.to_string();
    assert!(last.contains("already called") && last.contains("not a valid JSON object"));
    assert!(last.contains("no tool named"));
}

async fn limit_case(
    rw: &RunWorld,
    limits: serde_json::Value,
    turns: Vec<Turn>,
    limit: &str,
    state: &str,
) {
    rw.play(turns);
    let run = rw
        .start_run("investigate", json!({ "limits": limits }))
        .await;
    let done = rw.wait_end(&run).await;
    assert_eq!(done["state"], state, "{limit}: {done}");
    let reached = rw.events_of(&run, "run.limit_reached").await;
    assert_eq!(reached.len(), 1, "{limit}");
    assert_eq!(reached[0]["data"]["limit"], limit);
    assert!(
        done["answer"].as_str().unwrap().contains(limit),
        "the final message names the limit: {done}"
    );
    let failed = rw.events_of(&run, "run.failed").await;
    assert_eq!(failed.len(), 1);
    let code = if state == "timed_out" {
        "run_timed_out"
    } else {
        "run_limit_reached"
    };
    assert_eq!(failed[0]["data"]["code"], code);
    assert_eq!(done["error"]["code"], code);
}

fn distinct_calls() -> Vec<Turn> {
    vec![
        Turn::Tools(vec![("get_events", json!({"namespace": "crashloop"}))]),
        Turn::Tools(vec![(
            "get_events",
            json!({"namespace": "crashloop", "types": "Warning"}),
        )]),
        Turn::Tools(vec![(
            "list_resources",
            json!({"kind": "Pod", "namespace": "crashloop"}),
        )]),
        Turn::Text("never reached"),
    ]
}

#[tokio::test]
async fn each_limit_ends_the_run_with_a_message_that_names_it() {
    let rw = RunWorld::new(distinct_calls(), false, "").await;
    limit_case(
        &rw,
        json!({"max_steps": 2}),
        distinct_calls(),
        "max_steps",
        "failed",
    )
    .await;
    limit_case(
        &rw,
        json!({"max_tool_calls": 1}),
        vec![
            Turn::Tools(vec![
                ("get_events", json!({"namespace": "crashloop"})),
                (
                    "list_resources",
                    json!({"kind": "Pod", "namespace": "crashloop"}),
                ),
            ]),
            Turn::Text("never reached"),
        ],
        "max_tool_calls",
        "failed",
    )
    .await;
    // 100 input and 20 output tokens per call at 1 and 2 per million: 0.00014 a step.
    limit_case(
        &rw,
        json!({"max_cost": 0.0001}),
        distinct_calls(),
        "max_cost",
        "failed",
    )
    .await;
    limit_case(
        &rw,
        json!({"max_output_tokens": 30}),
        distinct_calls(),
        "max_output_tokens",
        "failed",
    )
    .await;
    limit_case(
        &rw,
        json!({"max_context_tokens": 50}),
        distinct_calls(),
        "max_context_tokens",
        "failed",
    )
    .await;
    limit_case(
        &rw,
        json!({"max_runtime_seconds": 2}),
        vec![Turn::Hang("Looking")],
        "max_runtime_seconds",
        "timed_out",
    )
    .await;
}

async fn cancel(rw: &RunWorld, run: &str) -> crate::harness::identity::Answer {
    rw.world
        .owner
        .call(
            Method::POST,
            &rw.world.path(&format!("/runs/{run}/cancel")),
            None,
        )
        .await
}

#[tokio::test]
async fn cancelling_stops_a_run_mid_stream_and_mid_tool_call_within_a_second() {
    let rw = RunWorld::new(vec![Turn::Hang("Let me look")], false, "").await;
    // Mid-stream: the model is still answering.
    let run = rw.start_run("slow question", json!({})).await;
    rw.wait_run(&run, 30, "the first text", |r| {
        r["events"].as_u64().unwrap_or(0) >= 3
    })
    .await;
    let started = Instant::now();
    let answer = cancel(&rw, &run).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["state"], "cancelled");
    let events = rw.events(&run).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(events.last().unwrap()["kind"], "run.cancelled");
    // Nothing is appended after the cancellation.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rw.events(&run).await.len(), events.len());
    cancel(&rw, &run).await.assert_error(409, "run_finished");

    // Mid-tool-call: the API server answers slowly, the agent is told to cancel.
    rw.play(vec![events_ns(), Turn::Text("never")]);
    rw.world
        .sim
        .admin("PUT", "faults", Some(r#"{"delay_ms": 4000}"#))
        .await;
    let run = rw.start_run("events please", json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while rw.events_of(&run, "tool.call").await.is_empty() {
        assert!(Instant::now() < deadline, "no tool call");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let answer = cancel(&rw, &run).await;
    assert_eq!(answer.body["state"], "cancelled", "{}", answer.body);
    assert!(started.elapsed() < Duration::from_secs(1));
    let cancelled_at_agent = rw.agent.wait_log(Duration::from_secs(10), |l| {
        l["fields"]["message"] == "tool call cancelled" || l["message"] == "tool call cancelled"
    });
    assert!(
        cancelled_at_agent.is_some(),
        "the agent cancels the call: {:#?}",
        rw.agent.logs()
    );
    rw.world.sim.admin("DELETE", "faults", None).await;
    assert!(rw.events_of(&run, "tool.result").await.is_empty());
}

#[tokio::test]
async fn an_agent_that_goes_away_mid_run_fails_the_call_and_new_runs_are_refused_at_once() {
    let mut rw = RunWorld::new(
        vec![
            events_ns(),
            Turn::Text("The agent disconnected; I could not read the events."),
        ],
        false,
        "",
    )
    .await;
    rw.world
        .sim
        .admin("PUT", "faults", Some(r#"{"delay_ms": 3000}"#))
        .await;
    let run = rw.start_run("events please", json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while rw.events_of(&run, "tool.call").await.is_empty() {
        assert!(Instant::now() < deadline, "no tool call");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rw.agent.kill();
    let done = rw.wait_end(&run).await;
    assert_eq!(done["state"], "completed", "{done}");
    let result = &rw.events_of(&run, "tool.result").await[0];
    assert_eq!(
        result["data"]["error"]["code"], "agent_disconnected",
        "{result}"
    );
    rw.world.sim.admin("DELETE", "faults", None).await;
    // The hub notices the closed connection; then a new run is refused before it is stored.
    rw.world
        .wait_cluster(&rw.cluster.id, 30, "disconnected", |c| {
            c["status"] != "connected"
        })
        .await;
    let answer = rw.ask("again?", json!({})).await;
    answer.assert_error(503, "agent_disconnected");
}

#[tokio::test]
async fn after_kill_9_mid_run_no_run_is_left_running_and_committed_events_are_kept() {
    let mut rw = RunWorld::new(
        vec![Turn::Hang("Investigating the checkout pods")],
        false,
        "",
    )
    .await;
    let run = rw.start_run("what is wrong?", json!({})).await;
    rw.wait_run(&run, 30, "streaming", |r| {
        r["events"].as_u64().unwrap_or(0) >= 3
    })
    .await;
    let before = rw.events(&run).await;
    rw.world.app.crash_and_restart().await;
    // The client's pooled connection died with the process: the first request may fail.
    let _ = rw
        .world
        .owner
        .client
        .get(rw.world.app.url("/healthz"))
        .send()
        .await;
    let after = rw.run(&run).await;
    assert_eq!(after["state"], "failed", "{after}");
    assert_eq!(after["error"]["code"], "appliance_restarted");
    let events = rw.events(&run).await;
    assert_eq!(
        &events[..before.len()],
        &before[..],
        "committed events survive"
    );
    assert!(events.iter().any(|e| e["kind"] == "model.delta"));
    assert_eq!(events.last().unwrap()["kind"], "run.failed");
    // The stream of a finished run replays and closes at once.
    let sse = rw.sse(&run, None).await;
    assert_eq!(sse.len(), events.len());
}
