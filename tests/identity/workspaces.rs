//! Roles, invitations, API tokens, escalation attempts, other workspaces' ids, and the
//! last-owner guard under concurrent demotions.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::appliance::Appliance;
use crate::harness::identity::{send, user, workspace_with};

fn token_of(invitation: &Value) -> String {
    invitation["link"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn invitation_lifecycle_and_escalation_attempts() {
    let app = Appliance::start().await;
    let (owner, admin, operator, newcomer) = (
        user(&app, "owner").await,
        user(&app, "admin").await,
        user(&app, "operator").await,
        user(&app, "newcomer").await,
    );
    let ws = workspace_with(
        &owner,
        "payments",
        &[(&admin, "admin"), (&operator, "operator")],
    )
    .await;
    let invitations = format!("/api/v1/workspaces/{ws}/invitations");

    // Escalation: an admin cannot invite an owner, an operator cannot invite at all.
    let as_owner = admin
        .call(
            Method::POST,
            &invitations,
            Some(json!({ "email": "x@example.com", "role": "owner" })),
        )
        .await;
    as_owner.assert_error(403, "forbidden");
    let by_operator = operator
        .call(
            Method::POST,
            &invitations,
            Some(json!({ "email": "x@example.com", "role": "viewer" })),
        )
        .await;
    assert_eq!(by_operator.code(), "forbidden");
    // An admin granting owner to a member: refused.
    let promote = admin
        .call(
            Method::PUT,
            &format!("/api/v1/workspaces/{ws}/members/{}", operator.id),
            Some(json!({ "role": "owner" })),
        )
        .await;
    assert_eq!(promote.code(), "forbidden");

    // Lifecycle: invite, accept once, second acceptance refused; revoked invitations refused.
    let inv = admin
        .ok(
            Method::POST,
            &invitations,
            Some(json!({ "email": "newcomer@example.com", "role": "viewer" })),
        )
        .await;
    assert_eq!(inv["state"], "pending");
    let accepted = newcomer
        .ok(
            Method::POST,
            "/api/v1/invitations/accept",
            Some(json!({ "token": token_of(&inv) })),
        )
        .await;
    assert_eq!(accepted["role"], "viewer");
    assert!(
        accepted["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("runs.read"))
    );
    assert!(
        !accepted["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("members.manage"))
    );
    let again = newcomer
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            Some(json!({ "token": token_of(&inv) })),
        )
        .await;
    assert_eq!(again.status, 410);
    let revoked = admin
        .ok(
            Method::POST,
            &invitations,
            Some(json!({ "email": "late@example.com", "role": "viewer" })),
        )
        .await;
    let id = revoked["id"].as_str().unwrap();
    assert_eq!(
        admin
            .call(Method::DELETE, &format!("{invitations}/{id}"), None)
            .await
            .status,
        204
    );
    let late = user(&app, "late").await;
    let refused = late
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            Some(json!({ "token": token_of(&revoked) })),
        )
        .await;
    refused.assert_error(410, "invitation_used");
    let states: Vec<Value> = admin.ok(Method::GET, &invitations, None).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].clone())
        .collect();
    assert!(
        states.contains(&json!("accepted")) && states.contains(&json!("revoked")),
        "{states:?}"
    );

    // Ids of a workspace one is not in look missing, not forbidden.
    let other = workspace_with(&newcomer, "elsewhere", &[]).await;
    for path in [
        format!("/api/v1/workspaces/{other}"),
        format!("/api/v1/workspaces/{other}/members"),
        "/api/v1/workspaces/ws_0000000000000000".into(),
    ] {
        let probe = owner.call(Method::GET, &path, None).await;
        assert_eq!(
            (probe.status.as_u16(), probe.code()),
            (404, "not_found"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn api_tokens_are_scoped_and_die_with_their_creator() {
    let app = Appliance::start().await;
    let (owner, operator) = (user(&app, "owner").await, user(&app, "operator").await);
    let ws = workspace_with(&owner, "payments", &[(&operator, "operator")]).await;
    let other = workspace_with(&owner, "other", &[]).await;
    let tokens = format!("/api/v1/workspaces/{ws}/tokens");

    let higher = operator
        .call(
            Method::POST,
            &tokens,
            Some(json!({ "name": "ci", "role": "admin" })),
        )
        .await;
    higher.assert_error(403, "role_escalation");
    let created = operator
        .ok(
            Method::POST,
            &tokens,
            Some(json!({ "name": "ci", "role": "viewer" })),
        )
        .await;
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("acorn_"));
    let listed = operator.ok(Method::GET, &tokens, None).await;
    assert!(
        listed["items"][0].get("token").is_none(),
        "the secret is shown once"
    );

    let bearer = |method: Method, path: String, body: Option<Value>| {
        let client = app.client.clone();
        let url = app.url(&path);
        let secret = secret.clone();
        async move {
            send(
                &client,
                method,
                &url,
                body.as_ref(),
                None,
                None,
                Some(&secret),
            )
            .await
        }
    };
    // Works without CSRF, with the token's role, in its workspace only.
    assert_eq!(
        bearer(Method::GET, format!("/api/v1/workspaces/{ws}"), None)
            .await
            .body["role"],
        "viewer"
    );
    assert_eq!(
        bearer(
            Method::GET,
            format!("/api/v1/workspaces/{ws}/members"),
            None
        )
        .await
        .status,
        200
    );
    let write = bearer(
        Method::PATCH,
        format!("/api/v1/workspaces/{ws}"),
        Some(json!({ "name": "x" })),
    )
    .await;
    assert_eq!(write.code(), "forbidden");
    assert_eq!(
        bearer(Method::GET, format!("/api/v1/workspaces/{other}"), None)
            .await
            .status,
        404
    );
    let listed = bearer(Method::GET, "/api/v1/workspaces".into(), None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        bearer(
            Method::POST,
            tokens.clone(),
            Some(json!({ "name": "x", "role": "viewer" }))
        )
        .await
        .code(),
        "forbidden"
    );

    // The creator leaves the workspace: the token stops working.
    assert_eq!(
        operator
            .call(
                Method::DELETE,
                &format!("/api/v1/workspaces/{ws}/members/{}", operator.id),
                None
            )
            .await
            .status,
        204
    );
    let dead = bearer(Method::GET, format!("/api/v1/workspaces/{ws}"), None).await;
    dead.assert_error(401, "token_invalid");

    // A user deleted by an appliance administrator takes their tokens and sessions along.
    let viewer = user(&app, "viewer").await;
    let ws2 = workspace_with(&owner, "second", &[(&viewer, "viewer")]).await;
    let theirs = viewer
        .ok(
            Method::POST,
            &format!("/api/v1/workspaces/{ws2}/tokens"),
            Some(json!({ "name": "ci", "role": "viewer" })),
        )
        .await;
    let theirs = theirs["token"].as_str().unwrap().to_owned();
    let ws2_url = app.url(&format!("/api/v1/workspaces/{ws2}"));
    assert_eq!(
        send(
            &app.client,
            Method::GET,
            &ws2_url,
            None,
            None,
            None,
            Some(&theirs)
        )
        .await
        .status,
        200
    );
    assert_eq!(
        owner
            .call(
                Method::DELETE,
                &format!("/api/v1/users/{}", viewer.id),
                None
            )
            .await
            .status,
        204
    );
    let gone = send(
        &app.client,
        Method::GET,
        &ws2_url,
        None,
        None,
        None,
        Some(&theirs),
    )
    .await;
    gone.assert_error(401, "token_invalid");
    assert_eq!(
        viewer.call(Method::GET, "/api/v1/me", None).await.code(),
        "session_expired"
    );
    // The last owner of a workspace cannot be deleted.
    let refused = operator
        .call(Method::DELETE, &format!("/api/v1/users/{}", owner.id), None)
        .await;
    refused.assert_error(409, "last_owner");
    let garbage = send(
        &app.client,
        Method::GET,
        &app.url("/api/v1/me"),
        None,
        None,
        None,
        Some("acorn_not-a-token"),
    )
    .await;
    assert_eq!(garbage.code(), "token_invalid");
}

#[tokio::test]
async fn the_last_owner_survives_concurrent_demotions() {
    let app = Appliance::start().await;
    let (a, b) = (user(&app, "owner-a").await, user(&app, "owner-b").await);
    for round in 0..10 {
        let ws = workspace_with(&a, &format!("race {round}"), &[(&b, "owner")]).await;
        // Each owner demotes the other at the same time: at most one may win.
        let (path_b, path_a) = (
            format!("/api/v1/workspaces/{ws}/members/{}", b.id),
            format!("/api/v1/workspaces/{ws}/members/{}", a.id),
        );
        let demote_b = a.call(Method::PUT, &path_b, Some(json!({ "role": "viewer" })));
        let demote_a = b.call(Method::PUT, &path_a, Some(json!({ "role": "viewer" })));
        let (ra, rb) = tokio::join!(demote_b, demote_a);
        let members = a
            .call(
                Method::GET,
                &format!("/api/v1/workspaces/{ws}/members"),
                None,
            )
            .await;
        let members = if members.status == 200 {
            members
        } else {
            b.call(
                Method::GET,
                &format!("/api/v1/workspaces/{ws}/members"),
                None,
            )
            .await
        };
        let owners = members.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "owner")
            .count();
        assert_eq!(owners, 1, "round {round}: {} / {}", ra.status, rb.status);
        assert!(
            ra.status == 200 || rb.status == 200,
            "one demotion succeeds"
        );
        // The remaining owner cannot demote or remove themselves.
        let last = if ra.status == 200 { &a } else { &b };
        let selfish = last
            .call(
                Method::PUT,
                &format!("/api/v1/workspaces/{ws}/members/{}", last.id),
                Some(json!({ "role": "admin" })),
            )
            .await;
        selfish.assert_error(409, "last_owner");
        let leave = last
            .call(
                Method::DELETE,
                &format!("/api/v1/workspaces/{ws}/members/{}", last.id),
                None,
            )
            .await;
        assert_eq!(leave.code(), "last_owner");
    }
}
