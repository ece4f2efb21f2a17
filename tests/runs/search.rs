//! Run search: what a run said is found again, only by those who may read it; filters
//! (state, cluster, time range as unix seconds, RFC 3339 or dates) narrow it; bad queries and
//! bad time ranges get a 400; a deleted index is rebuilt.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::model::Turn;
use super::{POD, RunWorld};
use crate::harness::identity::{User, user, workspace_with};

async fn search(who: &User, query: &str) -> Value {
    who.ok(Method::GET, &format!("/api/v1/search?{query}"), None)
        .await
}

/// Searches until the index caught up with `want` hits (the indexer follows the store).
async fn search_until(who: &User, query: &str, want: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = search(who, query).await;
        if r["total"].as_u64() == Some(want) && r["index"] == "ready" {
            return r;
        }
        assert!(Instant::now() < deadline, "search {query}: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn runs_are_found_by_their_words_only_by_readers_and_the_index_rebuilds_itself() {
    let mut rw = RunWorld::new(
        vec![
            Turn::Tools(vec![(
                "get_pod_logs",
                json!({"namespace": "crashloop", "pod": POD, "previous": true}),
            )]),
            Turn::Text("The kumquat service panics: MAX_CONNECTIONS is not an integer."),
        ],
        false,
        "",
    )
    .await;
    let run = rw
        .start_run("why is checkout crash-looping?", json!({}))
        .await;
    assert_eq!(rw.wait_end(&run).await["state"], "completed");
    let owner = rw.world.owner.clone();

    // Words of the answer, of the question and of a tool result, with highlights.
    let found = search_until(&owner, "q=kumquat", 1).await;
    let hit = &found["hits"][0];
    assert_eq!(hit["run_id"], run);
    assert_eq!(hit["kind"], "answer");
    let snippet = hit["snippet"].as_str().unwrap();
    let [a, b] = [
        hit["highlights"][0][0].as_u64().unwrap() as usize,
        hit["highlights"][0][1].as_u64().unwrap() as usize,
    ];
    assert_eq!(snippet[a..b].to_lowercase(), "kumquat");
    let logs = search_until(
        &owner,
        "q=%22invalid%20value%22%20AND%20kind:tool_result",
        1,
    )
    .await;
    assert_eq!(logs["hits"][0]["kind"], "tool_result");
    search_until(&owner, "q=kumquat&state=completed", 1).await;
    search_until(&owner, "q=kumquat&state=failed", 0).await;
    search_until(
        &owner,
        &format!("q=kumquat&cluster_id={}", rw.cluster.id),
        1,
    )
    .await;
    search_until(&owner, "q=kumquat&cluster_id=clu_0000000000000000", 0).await;
    search_until(&owner, "q=kumquat&to=1000000", 0).await;
    time_range_filters(&owner, hit["at_ms"].as_i64().unwrap()).await;

    // Another workspace: its own run with its own word, invisible to the first and vice versa.
    let other = user(&rw.world.app, "other").await;
    let ws_b = workspace_with(&other, "elsewhere", &[]).await;
    let reg = other
        .ok(
            Method::POST,
            &format!("/api/v1/workspaces/{ws_b}/clusters"),
            Some(json!({"name": "b"})),
        )
        .await;
    let cluster_b = reg["cluster"]["id"].as_str().unwrap().to_owned();
    let dir = rw.world.dir.path().join("b");
    std::fs::create_dir_all(&dir).unwrap();
    let settings = crate::harness::agent::InstallSettings::from_manifest(
        reg["install"]["manifest"].as_str().unwrap(),
        &dir,
    );
    let file = dir.join("manifest.yaml");
    std::fs::write(&file, reg["install"]["manifest"].as_str().unwrap()).unwrap();
    rw.world
        .sim
        .kubectl(&["create", "--validate=false", "-f", file.to_str().unwrap()]);
    let agent_b = rw.world.agent(&settings, "acorn-agent-b");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = other
            .ok(
                Method::GET,
                &format!("/api/v1/workspaces/{ws_b}/clusters/{cluster_b}"),
                None,
            )
            .await;
        if c["status"] == "connected" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b not linked: {:#?}",
            agent_b.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    other
        .ok(
            Method::PUT,
            &format!("/api/v1/workspaces/{ws_b}/providers/scripted"),
            Some(json!({"kind": "openai", "base_url": format!("http://127.0.0.1:{}/v1", rw.model.port),
                        "list_models": false, "models": [{"id": "scripted-model"}]})),
        )
        .await;
    let session_b = other
        .ok(
            Method::POST,
            &format!("/api/v1/workspaces/{ws_b}/sessions"),
            Some(json!({"cluster_id": cluster_b})),
        )
        .await;
    rw.play(vec![Turn::Text(
        "The zebrafish queue is full; kumquat is unrelated.",
    )]);
    let run_b = other
        .ok(
            Method::POST,
            &format!(
                "/api/v1/workspaces/{ws_b}/sessions/{}/messages",
                session_b["id"].as_str().unwrap()
            ),
            Some(json!({"content": "is the zebrafish queue stuck?", "provider": "scripted", "model": "scripted-model"})),
        )
        .await;
    let run_b = run_b["id"].as_str().unwrap();
    search_until(&other, "q=zebrafish", 2).await;
    search_until(&owner, "q=zebrafish", 0).await;
    // The shared word counts only the caller's own workspace.
    let mine = search_until(&owner, "q=kumquat", 1).await;
    assert_eq!(mine["hits"][0]["run_id"], run);
    let theirs = search_until(&other, "q=kumquat", 1).await;
    assert_eq!(theirs["hits"][0]["run_id"], run_b);
    owner
        .call(
            Method::GET,
            &format!("/api/v1/search?q=zebrafish&workspace_id={ws_b}"),
            None,
        )
        .await
        .assert_error(404, "not_found");

    // Syntax errors say where.
    let bad = owner
        .call(Method::GET, "/api/v1/search?q=%22unbalanced", None)
        .await;
    bad.assert_error(400, "search_query_invalid");
    assert!(
        bad.body["message"].as_str().unwrap().contains("character"),
        "{}",
        bad.body
    );
    owner
        .call(Method::GET, "/api/v1/search?q=x&limit=100000", None)
        .await
        .assert_error(400, "invalid_parameter");

    // The index deleted while the appliance is stopped: rebuilt at start, same answers.
    drop(agent_b);
    rw.world
        .app
        .restart_after(|state| std::fs::remove_dir_all(state.join("search")).unwrap())
        .await;
    let _ = owner.client.get(rw.world.app.url("/healthz")).send().await;
    let rebuilt = rw
        .world
        .app
        .logs()
        .into_iter()
        .any(|l| l["message"] == "search index: rebuilding in the background");
    assert!(rebuilt);
    search_until(&owner, "q=kumquat", 1).await;
    search_until(&other, "q=zebrafish", 2).await;
    // And on request, on the running server.
    let out = rw.world.app.acorn(&["reindex"]);
    assert!(crate::harness::appliance::ok_stdout(&out).contains("rebuilt"));
    search_until(&owner, "q=kumquat", 1).await;
}

/// The time range of `GET /api/v1/search` (one "kumquat" hit, at `at_ms`): unix seconds,
/// RFC 3339 times and dates narrow the hits; an unparsable bound or `from` after `to` is
/// `400 invalid_parameter` naming the parameter.
async fn time_range_filters(owner: &User, at_ms: i64) {
    let now = time::OffsetDateTime::from_unix_timestamp(at_ms / 1000).unwrap();
    let day = |t: time::OffsetDateTime| {
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
            .replace('+', "%2B")
    };
    let (today, yesterday, tomorrow) = (
        day(now),
        day(now - time::Duration::days(1)),
        day(now + time::Duration::days(1)),
    );
    let hour_ago = now - time::Duration::hours(1);
    let cases = [
        // Today, as dates: `to` includes its whole day.
        (format!("from={today}&to={today}"), 1),
        (format!("from={yesterday}&to={yesterday}"), 0),
        (format!("from={tomorrow}"), 0),
        (format!("to={yesterday}"), 0),
        // Unix seconds and RFC 3339 times.
        (format!("from={}", hour_ago.unix_timestamp()), 1),
        (format!("to={}", hour_ago.unix_timestamp()), 0),
        (format!("from={}", rfc(hour_ago)), 1),
        (
            format!(
                "from={}&to={}",
                rfc(hour_ago),
                rfc(now + time::Duration::hours(1))
            ),
            1,
        ),
    ];
    for (range, want) in cases {
        search_until(owner, &format!("q=kumquat&{range}"), want).await;
    }
    for (range, bad) in [
        ("from=yesterday", "`from`"),
        ("to=2026-02-30", "`to`"),
        ("from=27%2F11%2F2026", "`from`"),
        ("from=2026-11-27&to=2026-11-01", "`from` is after `to`"),
        ("from=2000&to=1000", "`from` is after `to`"),
    ] {
        let answer = owner
            .call(
                Method::GET,
                &format!("/api/v1/search?q=kumquat&{range}"),
                None,
            )
            .await;
        assert_eq!(answer.status, 400, "{range}: {}", answer.body);
        assert_eq!(answer.body["code"], "invalid_parameter", "{range}");
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(bad), "{range}: {message}");
    }
}
