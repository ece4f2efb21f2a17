//! The audit log: every write recorded with actor, category, source and request id; readable by
//! owners, admins and auditors only; filters, pagination, export (with the same filters); a
//! tampered record is found by the API, by `acorn verify` and shown in the console.

use reqwest::Method;
use serde_json::{Value, json};

use crate::console::{Browser, real_problems};
use crate::harness::appliance::{Appliance, StartOptions, acorn};
use crate::harness::identity::{self, user, workspace_with};

#[tokio::test]
async fn writes_are_audited_and_a_tampered_record_is_found() {
    let app = Appliance::start().await;
    let (owner, viewer, auditor) = (
        user(&app, "owner").await,
        user(&app, "viewer").await,
        user(&app, "auditor").await,
    );
    let ws = workspace_with(
        &owner,
        "payments",
        &[(&viewer, "viewer"), (&auditor, "auditor")],
    )
    .await;
    owner
        .ok(
            Method::PATCH,
            &format!("/api/v1/workspaces/{ws}"),
            Some(json!({ "name": "payments-prod" })),
        )
        .await;
    let audit = format!("/api/v1/workspaces/{ws}/audit");

    assert_eq!(
        viewer.call(Method::GET, &audit, None).await.code(),
        "forbidden"
    );
    let page = auditor.ok(Method::GET, &audit, None).await;
    let records = page["items"].as_array().unwrap();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for expected in [
        "workspace.create",
        "invitation.create",
        "invitation.accept",
        "workspace.rename",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let rename = records
        .iter()
        .find(|r| r["action"] == "workspace.rename")
        .unwrap();
    assert_eq!(rename["actor_id"], owner.id.as_str());
    assert_eq!(rename["category"], "workspace");
    assert_eq!(rename["operation"], "write");
    assert_eq!(rename["result"], "success");
    assert_eq!(rename["source_ip"], "127.0.0.1");
    assert!(rename["request_id"].as_str().is_some_and(|r| r.len() == 16));
    // No secrets: invitation tokens and passwords never reach metadata.
    let all_text = serde_json::to_string(records).unwrap();
    assert!(
        !all_text.contains(identity::PASSWORD) && !all_text.contains("invitations/"),
        "{all_text}"
    );

    // Filters and pagination.
    let membership = auditor
        .ok(Method::GET, &format!("{audit}?category=membership"), None)
        .await;
    assert!(
        membership["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["category"] == "membership")
    );
    let first = auditor
        .ok(Method::GET, &format!("{audit}?limit=2"), None)
        .await;
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let second = auditor
        .ok(
            Method::GET,
            &format!("{audit}?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert!(second["items"][0]["seq"].as_u64() > first["items"][1]["seq"].as_u64());
    assert_eq!(
        auditor
            .call(Method::GET, &format!("{audit}?since=yesterday"), None)
            .await
            .code(),
        "invalid_parameter"
    );

    // Reading the audit log is itself audited; the export is JSON lines; the chain is intact.
    let export_of = |query: &str| {
        app.client
            .get(app.url(&format!("{audit}/export{query}")))
            .header("cookie", format!("__Host-acorn_session={}", auditor.cookie))
            .send()
    };
    let lines_of = |text: String| -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let lines = lines_of(export_of("").await.unwrap().text().await.unwrap());
    assert!(
        lines
            .iter()
            .any(|r| r["action"] == "audit.read" && r["operation"] == "read")
    );
    // The export takes the list's filters; a bad one is refused like the list's.
    let membership = lines_of(
        export_of("?category=membership")
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(!membership.is_empty());
    assert!(membership.iter().all(|r| r["category"] == "membership"));
    let future = export_of("?since=2099-01-01T00:00:00Z").await.unwrap();
    assert_eq!(future.status(), 200);
    assert_eq!(future.text().await.unwrap(), "");
    for bad in ["?since=yesterday", "?cursor=5", "?category=nope"] {
        assert_eq!(
            auditor
                .call(Method::GET, &format!("{audit}/export{bad}"), None)
                .await
                .code(),
            "invalid_parameter",
            "{bad}"
        );
    }
    let exports = auditor
        .ok(Method::GET, &format!("{audit}?category=auth"), None)
        .await;
    let filtered = exports["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "audit.export" && r["metadata"]["category"] == "membership");
    assert!(filtered.is_some(), "{exports}");
    let verify = auditor
        .ok(Method::GET, &format!("{audit}/verify"), None)
        .await;
    assert_eq!(verify["intact"], true);

    // Alter one record in the stopped store: `acorn verify` and the API both name it.
    let (_, _temp, state_dir) = app.stop();
    let victim = lines[2]["seq"].as_u64().unwrap();
    acorn_store::testing::tamper_audit_record(&state_dir.join("acorn.redb"), &ws, victim).unwrap();
    let offline = acorn(&state_dir, &["verify"]);
    assert!(!offline.status.success());
    let message = String::from_utf8_lossy(&offline.stderr);
    assert!(
        message.contains(&format!("seq {victim}")) || message.contains(&format!("record {victim}")),
        "{message}"
    );
    let app = Appliance::start_with(StartOptions {
        state_dir: Some(state_dir),
        ..Default::default()
    })
    .await;
    let auditor = identity::login(&app, "auditor").await;
    let broken = auditor
        .ok(Method::GET, &format!("{audit}/verify"), None)
        .await;
    assert_eq!(broken["intact"], false);
    assert_eq!(broken["first_broken_seq"], victim);

    // The console says the same, naming the record.
    let mut b = Browser::start(&app.base_url).await;
    let page = format!("/console/w/{ws}/audit");
    b.goto(&page).await;
    b.sign_in("auditor").await;
    b.step(json!({ "wait_url": format!("{page}$") })).await;
    b.click("#audit-verify").await;
    let shown = b
        .wait("#audit-chain[data-intact=false]", Some("Chain broken"))
        .await;
    assert!(shown.contains(&format!("record #{victim}")), "{shown}");
    b.screenshot("audit-broken").await;
    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "browser console errors: {problems:#?}");
}
