//! Run tokens decide: a table of attacks on the token and of requests outside its scope, each
//! refused with its own code before any upstream call; budgets are enforced and persisted per
//! run; refusals are in the request log; signing-key rotation keeps older tokens valid.

use base64::Engine;
use serde_json::{Value, json};

use super::{World, body};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn parts(token: &str) -> (Value, Value, String) {
    let p: Vec<&str> = token.split('.').collect();
    let dec = |s: &str| serde_json::from_slice(&B64.decode(s).unwrap()).unwrap();
    (dec(p[0]), dec(p[1]), p[2].to_owned())
}

fn join(header: &Value, claims: &Value, sig: &str) -> String {
    format!(
        "{}.{}.{sig}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

#[tokio::test]
async fn token_attacks_and_scope_mismatches_are_refused_with_their_codes() {
    let world = World::new("").await;
    let tools = ["get_pods", "get_events"];
    let good = world.token("up", "gpt-test", &tools, 100_000);
    let (header, claims, sig) = parts(&good);

    let mut more_tools = claims.clone();
    more_tools["tools"] = json!(["get_pods", "get_events", "delete_pod"]);
    let mut other_kid = header.clone();
    other_kid["kid"] = json!("k000000000000");
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    let mut hs256 = header.clone();
    hs256["alg"] = json!("HS256");
    let flipped_sig = {
        let mut bytes = B64.decode(&sig).unwrap();
        bytes[0] ^= 1;
        B64.encode(bytes)
    };

    // (case, token, body, status, code)
    let cases: Vec<(&str, Option<String>, Value, u16, &str)> = vec![
        (
            "no token",
            None,
            body("gpt-test", false, &[]),
            401,
            "run_token_missing",
        ),
        (
            "garbage",
            Some("not-a-jwt".into()),
            body("gpt-test", false, &[]),
            401,
            "run_token_invalid",
        ),
        (
            "claims altered (more tools)",
            Some(join(&header, &more_tools, &sig)),
            body("gpt-test", false, &[]),
            401,
            "run_token_invalid",
        ),
        (
            "signature altered",
            Some(join(&header, &claims, &flipped_sig)),
            body("gpt-test", false, &[]),
            401,
            "run_token_invalid",
        ),
        (
            "alg none",
            Some(join(&json!({"alg": "none", "typ": "JWT"}), &claims, "")),
            body("gpt-test", false, &[]),
            401,
            "run_token_algorithm",
        ),
        (
            "alg HS256",
            Some(join(&hs256, &claims, &sig)),
            body("gpt-test", false, &[]),
            401,
            "run_token_algorithm",
        ),
        (
            "unknown kid",
            Some(join(&other_kid, &claims, &sig)),
            body("gpt-test", false, &[]),
            401,
            "run_token_unknown_key",
        ),
        (
            "no kid",
            Some(join(&no_kid, &claims, &sig)),
            body("gpt-test", false, &[]),
            401,
            "run_token_unknown_key",
        ),
        (
            "an API token is not a run token",
            Some("acorn_0123456789".into()),
            body("gpt-test", false, &[]),
            401,
            "run_token_invalid",
        ),
        (
            "other model",
            Some(good.clone()),
            body("gpt-4o", false, &[]),
            403,
            "scope_model_mismatch",
        ),
        (
            "other provider (prefix)",
            Some(good.clone()),
            body("anthropic/gpt-test", false, &[]),
            403,
            "scope_provider_mismatch",
        ),
        (
            "other provider (field)",
            Some(good.clone()),
            {
                let mut b = body("gpt-test", false, &[]);
                b["provider"] = json!("claude");
                b
            },
            403,
            "scope_provider_mismatch",
        ),
        (
            "tool outside the set",
            Some(good.clone()),
            body("gpt-test", false, &["get_pods", "delete_pod"]),
            403,
            "scope_tool_not_allowed",
        ),
        (
            "more output than the budget",
            Some(good.clone()),
            {
                let mut b = body("gpt-test", false, &[]);
                b["max_tokens"] = json!(100_001);
                b
            },
            400,
            "budget_exceeded",
        ),
        (
            "provider unknown",
            Some(world.token("nope", "gpt-test", &[], 10)),
            body("gpt-test", false, &[]),
            404,
            "provider_not_found",
        ),
    ];
    for (name, token, b, status, code) in &cases {
        let r = world.chat(token.as_deref(), b).await;
        let got_status = r.status().as_u16();
        let got: Value = r.json().await.unwrap();
        assert_eq!(
            (got_status, got["code"].as_str().unwrap_or("")),
            (*status, *code),
            "{name}: {got}"
        );
    }
    // The qualified model name is accepted, and nothing above reached the provider.
    assert!(world.upstream.requests().is_empty());
    let ok = world
        .chat(Some(&good), &body("up/gpt-test", false, &tools))
        .await;
    assert_eq!(ok.status(), 200);

    // Tool calls: outside the set, and the placeholder cluster link says so honestly.
    let (status, v) = world.call_tool(&good, "delete_pod", json!({})).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("scope_tool_call_not_allowed"))
    );
    let (status, v) = world
        .call_tool(&good, "get_pods", json!({"namespace": "shop"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["outcome"]["status"], "error");
    assert_eq!(v["outcome"]["code"], "agent_disconnected");
    let (status, v) = world
        .call_tool(
            &join(&json!({"alg": "none"}), &claims, ""),
            "get_pods",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (401, Some("run_token_algorithm"))
    );

    // Refusals of identified runs are in the log with their code.
    let log = world.requests().await;
    let codes: Vec<&str> = log
        .iter()
        .filter_map(|r| r["error_code"].as_str())
        .collect();
    for code in [
        "scope_model_mismatch",
        "scope_tool_not_allowed",
        "budget_exceeded",
        "scope_tool_call_not_allowed",
    ] {
        assert!(codes.contains(&code), "{code} not in {codes:?}");
    }
    assert!(log.iter().all(|r| r["run"].is_string()));
}

#[tokio::test]
async fn budgets_are_spent_per_run_and_exhaustion_is_clear() {
    let world = World::new("").await;
    // The scripted answer reports 7 output tokens per call.
    let token = world.token_with("up", "gpt-test", &[], 20, &["--run", "run_budget"]);
    let mut b = body("gpt-test", true, &[]);
    b["max_tokens"] = json!(10);
    for _ in 0..2 {
        let r = world.chat(Some(&token), &b).await;
        assert_eq!(r.status(), 200);
        super::read_sse(r).await;
    }
    // 14 spent, 6 left: asking for 10 exceeds, asking for nothing reserves what is left.
    let r = world.chat(Some(&token), &b).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "budget_exceeded", "{v}");
    assert!(v["message"].as_str().unwrap().contains('6'), "{v}");
    let r = world
        .chat(Some(&token), &body("gpt-test", false, &[]))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        world.upstream.requests().last().unwrap().body["max_tokens"],
        6
    );
    // The fourth call reported 3 tokens (the JSON fixture): 17 of 20 spent. A new token for the
    // same run cannot raise its budget.
    let bigger = world.token_with("up", "gpt-test", &[], 1000, &["--run", "run_budget"]);
    b["max_tokens"] = json!(4);
    let v: Value = world.chat(Some(&bigger), &b).await.json().await.unwrap();
    assert_eq!(v["code"], "budget_exceeded");
    b["max_tokens"] = json!(3);
    let r = world.chat(Some(&bigger), &b).await;
    assert_eq!(r.status(), 200);
    super::read_sse(r).await;
    // 7 more (more than reserved; what the provider reports is what was spent): exhausted.
    let v: Value = world
        .chat(Some(&token), &body("gpt-test", false, &[]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["code"], "budget_exhausted", "{v}");
}

#[tokio::test]
async fn rotated_signing_keys_keep_older_tokens_valid() {
    let world = World::new("").await;
    let before = world.token("up", "gpt-test", &[], 100);
    let out =
        crate::harness::appliance::ok_stdout(&world.app.acorn(&["gateway", "rotate-signing-key"]));
    assert!(out.contains("new run-token signing key"), "{out}");
    let after = world.token("up", "gpt-test", &[], 100);
    let kid = |t: &str| parts(t).0["kid"].as_str().unwrap().to_owned();
    assert_ne!(kid(&before), kid(&after));
    for t in [&before, &after] {
        assert_eq!(
            world
                .chat(Some(t), &body("gpt-test", false, &[]))
                .await
                .status(),
            200
        );
    }
    // Tokens past their lifetime are refused (1 s lifetime, 5 s clock-skew leeway).
    let short = world.token_with("up", "gpt-test", &[], 100, &["--ttl", "1s"]);
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let v: Value = world
        .chat(Some(&short), &body("gpt-test", false, &[]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["code"], "run_token_expired");
}
