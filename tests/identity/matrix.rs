//! The authorization matrix, generated from the route table: every route of
//! `/api/v1/openapi.json` (built from the same table as the router) × every kind of caller
//! (owner, admin, operator, viewer, auditor, a member of another workspace, anonymous, an API
//! token) → the status the role table implies. A route without a fixture here fails the test.

use std::collections::HashMap;

use acorn_proto::authz::{Action, Role};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::gateway::mcp::{MCP_AUTH, McpPeer};
use crate::harness::appliance::{Appliance, StartOptions};
use crate::harness::identity::{self, Answer, PASSWORD, User, send, user, workspace_with};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Anonymous,
    Member(Role),
    Outsider,
    /// An API token with the admin role.
    Token,
}

const CALLERS: &[Caller] = &[
    Caller::Anonymous,
    Caller::Member(Role::Owner),
    Caller::Member(Role::Admin),
    Caller::Member(Role::Operator),
    Caller::Member(Role::Viewer),
    Caller::Member(Role::Auditor),
    Caller::Outsider,
    Caller::Token,
];

/// Routes that refuse API tokens whatever their role (they act for a person, not a workspace).
const PERSON_ONLY: &[(&str, &str)] = &[
    ("POST", "/api/v1/workspaces"),
    ("POST", "/api/v1/workspaces/{workspace_id}/tokens"),
    ("POST", "/api/v1/invitations/accept"),
    ("GET", "/api/v1/me/sessions"),
    ("DELETE", "/api/v1/me/sessions/{session_id}"),
];

struct World {
    app: Appliance,
    /// A real MCP server, for the MCP registry's routes.
    mcp: McpPeer,
    /// Appliance administrator outside every test workspace (creates side workspaces).
    root: User,
    members: HashMap<&'static str, User>,
    outsider: User,
}

fn role_name(role: Role) -> &'static str {
    role.as_str()
}

impl World {
    async fn new() -> World {
        let mcp = McpPeer::start();
        let app = Appliance::start_with(StartOptions {
            config: Some(
                "version = 1\n[gateway]\nmcp_allow_plain_http_hosts = [\"127.0.0.1\"]\n".into(),
            ),
            ..Default::default()
        })
        .await;
        let root = user(&app, "root").await;
        let mut members = HashMap::new();
        for role in Role::ALL {
            members.insert(role_name(*role), user(&app, role_name(*role)).await);
        }
        let outsider = user(&app, "outsider").await;
        workspace_with(&outsider, "outside", &[]).await;
        World {
            app,
            mcp,
            root,
            members,
            outsider,
        }
    }

    fn owner(&self) -> &User {
        &self.members["owner"]
    }
}

/// A fresh workspace with every role, a spare viewer to act on, and what the route needs.
struct Case {
    ws: String,
    params: HashMap<&'static str, String>,
    body: Option<Value>,
}

async fn prepare(world: &World, method: &str, path: &str, caller: Caller, spare: &User) -> Case {
    let owner = world.owner();
    let others: Vec<(&User, &str)> = [Role::Admin, Role::Operator, Role::Viewer, Role::Auditor]
        .iter()
        .map(|r| (&world.members[role_name(*r)], role_name(*r)))
        .chain((spare.id != world.root.id).then_some((spare, "viewer")))
        .collect();
    let ws = workspace_with(owner, "matrix", &others).await;
    let mut params = HashMap::from([("workspace_id", ws.clone()), ("user_id", spare.id.clone())]);
    let acting = match caller {
        Caller::Member(r) => Some(&world.members[role_name(r)]),
        Caller::Outsider => Some(&world.outsider),
        _ => None,
    };
    if path.contains("{invitation_id}") {
        let inv = owner
            .ok(
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/invitations"),
                Some(json!({ "email": "someone@example.com", "role": "viewer" })),
            )
            .await;
        params.insert("invitation_id", inv["id"].as_str().unwrap().to_owned());
    }
    if path.contains("{token_id}") {
        // Members revoke their own token; the admin token revokes the owner's.
        let creator = match caller {
            Caller::Member(_) => acting.unwrap(),
            _ => owner,
        };
        let role = match caller {
            Caller::Member(r) => role_name(r),
            _ => "viewer",
        };
        let token = creator
            .ok(
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/tokens"),
                Some(json!({ "name": "victim", "role": role })),
            )
            .await;
        params.insert("token_id", token["id"].as_str().unwrap().to_owned());
    }
    if path.contains("{session_id}") {
        let name = acting.map_or("root", |u| u.name.as_str());
        let extra = identity::login(&world.app, name).await;
        params.insert(
            "session_id",
            hex::encode(Sha256::digest(extra.cookie.as_bytes())),
        );
    }
    if path.contains("{token}") {
        params.insert("token", "not-a-real-link".into());
    }
    if path.contains("{cluster_id}") {
        let cluster = owner
            .ok(
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/clusters"),
                Some(json!({ "name": "matrix" })),
            )
            .await;
        params.insert(
            "cluster_id",
            cluster["cluster"]["id"].as_str().unwrap().to_owned(),
        );
        params.insert("kind", "Pod".into());
        params.insert("name", "absent".into());
        params.insert("tool", "get_events".into());
    }
    // Sessions and runs: a cluster to open sessions on; a session of the acting member when
    // they may open one (sessions are owner-write), else the owner's; run and approval ids
    // that do not exist (authorized callers then get 404 from the lookup, after authorization).
    if path.starts_with("/api/v1/workspaces/{workspace_id}/sessions") {
        let cluster = owner
            .ok(
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/clusters"),
                Some(json!({ "name": "chat" })),
            )
            .await;
        let cluster_id = cluster["cluster"]["id"].as_str().unwrap().to_owned();
        if path.contains("{chat_session_id}") {
            let creator = match caller {
                Caller::Member(r) if r.allows(Action::SessionsCreate) => acting.unwrap(),
                _ => owner,
            };
            let session = creator
                .ok(
                    Method::POST,
                    &format!("/api/v1/workspaces/{ws}/sessions"),
                    Some(json!({ "cluster_id": cluster_id })),
                )
                .await;
            params.insert(
                "chat_session_id",
                session["id"].as_str().unwrap().to_owned(),
            );
        }
        params.insert("chat_cluster", cluster_id);
    }
    if path.contains("{run_id}") {
        params.insert("run_id", "run_000000000000ffffffffffffffff".into());
    }
    if path.contains("{approval_id}") {
        params.insert("approval_id", "apr_0000000000000000".into());
    }
    // Gateway routes: a workspace provider, an MCP server (discovered from the real peer) and
    // one of its tools.
    if path.contains("{provider}") {
        owner
            .ok(
                Method::PUT,
                &format!("/api/v1/workspaces/{ws}/providers/matrix-p"),
                Some(provider_body()),
            )
            .await;
        params.insert("provider", "matrix-p".into());
    }
    if path.contains("{server_id}") {
        let server = owner
            .ok(
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/mcp-servers"),
                Some(mcp_body(world)),
            )
            .await;
        params.insert("server_id", server["id"].as_str().unwrap().to_owned());
    }
    // Webhooks: a subscription (https to a name: saved without a connection) and a receiver;
    // delivery and event ids that do not exist (authorized callers get 404 from the lookup).
    if path.contains("{subscription_id}") {
        let sub = owner
            .ok(
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/webhooks"),
                Some(json!({ "url": "https://hooks.example.com/matrix", "event_types": ["*"] })),
            )
            .await;
        params.insert(
            "subscription_id",
            sub["subscription"]["id"].as_str().unwrap().to_owned(),
        );
    }
    if path.contains("{delivery_id}") {
        params.insert("delivery_id", "dlv_000000000000ffffffffffffffff".into());
    }
    if path.contains("{event_id}") {
        params.insert("event_id", "evt_000000000000ffffffffffffffff".into());
    }
    if path.contains("{receiver_id}") {
        let r = owner
            .ok(
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/alert-receivers"),
                Some(json!({ "kind": "signed", "name": "matrix", "prompt_template": "why?" })),
            )
            .await;
        params.insert(
            "receiver_id",
            r["receiver"]["id"].as_str().unwrap().to_owned(),
        );
    }
    if path.contains("{eval_id}") {
        params.insert("eval_id", "evl_000000000000ffffffff".into());
    }
    if path.contains("{tool}") && !path.contains("{cluster_id}") {
        params.insert("tool", "get_weather".into());
    }
    let body = match (method, path) {
        ("POST", "/api/v1/auth/login") => Some(json!({ "username": "root", "password": PASSWORD })),
        ("POST", "/api/v1/setup") => {
            Some(json!({ "token": "forged", "username": "x", "password": PASSWORD }))
        }
        ("POST", "/api/v1/workspaces") => Some(json!({ "name": "created" })),
        ("PATCH", "/api/v1/workspaces/{workspace_id}") => Some(json!({ "name": "renamed" })),
        ("PUT", "/api/v1/workspaces/{workspace_id}/members/{user_id}") => {
            Some(json!({ "role": "operator" }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/invitations") => {
            Some(json!({ "email": "new@example.com", "role": "viewer" }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/clusters") => Some(json!({ "name": "prod" })),
        ("PATCH", "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}") => {
            Some(json!({ "logs_allowed": false }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/agent-key/rotate") => {
            Some(json!({}))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/tools/{tool}/call") => {
            Some(json!({ "arguments": {} }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/tokens") => {
            let role = match caller {
                Caller::Member(r) => role_name(r),
                _ => "viewer",
            };
            Some(json!({ "name": "matrix", "role": role }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/sessions") => {
            Some(json!({ "cluster_id": params["chat_cluster"] }))
        }
        ("PATCH", "/api/v1/workspaces/{workspace_id}/sessions/{chat_session_id}") => {
            Some(json!({ "title": "renamed" }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/sessions/{chat_session_id}/messages") => {
            Some(json!({ "content": "why is checkout crash-looping?" }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/runs/{run_id}/approvals/{approval_id}") => {
            Some(json!({ "decision": "approve" }))
        }
        ("PUT", "/api/v1/workspaces/{workspace_id}/run-settings") => Some(json!({})),
        ("PUT", "/api/v1/workspaces/{workspace_id}/providers/{provider}") => Some(provider_body()),
        ("POST", "/api/v1/workspaces/{workspace_id}/mcp-servers") => Some(mcp_body(world)),
        ("PUT", "/api/v1/workspaces/{workspace_id}/mcp-servers/{server_id}/tools/{tool}") => {
            Some(json!({ "mode": "read" }))
        }
        ("POST", "/gateway/v1/chat/completions") => {
            Some(json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }))
        }
        ("POST", "/gateway/v1/tools/{tool}/call") => Some(json!({ "arguments": {} })),
        ("POST", "/api/v1/workspaces/{workspace_id}/webhooks") => Some(
            json!({ "url": "https://hooks.example.com/new", "event_types": ["run.completed"] }),
        ),
        ("PATCH", "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}") => {
            Some(json!({ "description": "changed" }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}/secret/rotate") => {
            Some(json!({ "overlap_seconds": 60 }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/alert-receivers") => {
            Some(json!({ "kind": "alertmanager", "name": "matrix" }))
        }
        ("POST", "/api/v1/workspaces/{workspace_id}/alerts/alertmanager") => Some(json!({
            "version": "4", "groupKey": "g", "status": "firing", "alerts": []
        })),
        ("POST", "/api/v1/workspaces/{workspace_id}/alerts/webhook/{receiver_id}") => {
            Some(json!({ "cluster": "prod" }))
        }
        // A provider that does not exist: authorized callers get 404 after authorization, and
        // no evaluation starts.
        ("POST", "/api/v1/workspaces/{workspace_id}/evals") => {
            Some(json!({ "provider": "absent", "model": "m" }))
        }
        ("POST", "/api/v1/invitations/accept") => {
            let side = workspace_with(&world.root, "side", &[]).await;
            let inv = world
                .root
                .ok(
                    Method::POST,
                    &format!("/api/v1/workspaces/{side}/invitations"),
                    Some(json!({ "email": "anyone@example.com", "role": "viewer" })),
                )
                .await;
            Some(json!({ "token": inv["link"].as_str().unwrap().rsplit('/').next().unwrap() }))
        }
        _ => None,
    };
    Case { ws, params, body }
}

fn provider_body() -> Value {
    json!({ "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "list_models": false })
}

fn mcp_body(world: &World) -> Value {
    json!({ "name": "matrix-m", "url": world.mcp.url, "headers": { "authorization": MCP_AUTH } })
}

async fn call(world: &World, method: &str, path: &str, caller: Caller, case: &Case) -> Answer {
    let mut url_path = path.to_owned();
    for (name, value) in &case.params {
        url_path = url_path.replace(&format!("{{{name}}}"), value);
    }
    let url = world.app.url(&url_path);
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let client = &world.app.client;
    match caller {
        Caller::Anonymous => send(client, method, &url, case.body.as_ref(), None, None, None).await,
        Caller::Member(r) => {
            // Sign-out ends the session it is called with: use a fresh one.
            let who = if url_path == "/api/v1/auth/logout" {
                identity::login(&world.app, role_name(r)).await
            } else {
                world.members[role_name(r)].clone()
            };
            send(
                client,
                method,
                &url,
                case.body.as_ref(),
                Some(&who.cookie),
                Some(&who.csrf),
                None,
            )
            .await
        }
        Caller::Outsider => {
            let who = if url_path == "/api/v1/auth/logout" {
                identity::login(&world.app, "outsider").await
            } else {
                world.outsider.clone()
            };
            send(
                client,
                method,
                &url,
                case.body.as_ref(),
                Some(&who.cookie),
                Some(&who.csrf),
                None,
            )
            .await
        }
        Caller::Token => {
            let token = world
                .owner()
                .ok(
                    Method::POST,
                    &format!("/api/v1/workspaces/{}/tokens", case.ws),
                    Some(json!({ "name": "matrix", "role": "admin" })),
                )
                .await;
            send(
                client,
                method,
                &url,
                case.body.as_ref(),
                None,
                None,
                Some(token["token"].as_str().unwrap()),
            )
            .await
        }
    }
}

/// Routes whose authorized callers get a domain error here, because the matrix's clusters have
/// no agent connected and an empty picture: that error (not 401/403/404-for-outsiders) proves
/// authorization passed.
const AUTHORIZED_ANSWER: &[(&str, &str, u16)] = &[
    // A run needs a connected agent; the matrix's clusters have none.
    (
        "POST",
        "/api/v1/workspaces/{workspace_id}/sessions/{chat_session_id}/messages",
        503,
    ),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/runs/{run_id}",
        404,
    ),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/runs/{run_id}/events",
        404,
    ),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/runs/{run_id}/stream",
        404,
    ),
    (
        "POST",
        "/api/v1/workspaces/{workspace_id}/runs/{run_id}/cancel",
        404,
    ),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/runs/{run_id}/approvals",
        404,
    ),
    (
        "POST",
        "/api/v1/workspaces/{workspace_id}/runs/{run_id}/approvals/{approval_id}",
        404,
    ),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/runs/{run_id}/evidence",
        404,
    ),
    (
        "POST",
        "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/tools/{tool}/call",
        503,
    ),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/resources/{kind}/{name}",
        404,
    ),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}/deliveries/{delivery_id}",
        404,
    ),
    (
        "POST",
        "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver",
        404,
    ),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/webhook-events/{event_id}",
        404,
    ),
    ("POST", "/api/v1/workspaces/{workspace_id}/evals", 404),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/evals/{eval_id}",
        404,
    ),
    (
        "DELETE",
        "/api/v1/workspaces/{workspace_id}/evals/{eval_id}",
        404,
    ),
    (
        "GET",
        "/api/v1/workspaces/{workspace_id}/evals/{eval_id}/report.md",
        404,
    ),
];

/// What the role table says this caller gets on a route with this access.
fn expected(access: &str, route: (&str, &str), caller: Caller) -> Expect {
    if access == "public" {
        return Expect::NotRefused;
    }
    if access == "agent_key" {
        // Sessions and API tokens are not agent keys.
        return Expect::Status(401);
    }
    if access == "receiver_token" || access == "webhook_signature" {
        // Alert receivers take their own token or a signature: sessions and API tokens are
        // neither.
        return Expect::Status(401);
    }
    if access == "run_token" {
        // The gateway's runtime API takes a run JWT only: sessions and API tokens are not one.
        return Expect::Status(401);
    }
    if caller == Caller::Anonymous {
        return Expect::Status(401);
    }
    if caller == Caller::Token && PERSON_ONLY.contains(&route) {
        return Expect::Status(403);
    }
    if access == "appliance_admin" {
        // Every local account of this world is an appliance administrator; tokens never are.
        return if caller == Caller::Token {
            Expect::Status(403)
        } else {
            Expect::Success
        };
    }
    let Some(action) = access.strip_prefix("workspace:") else {
        assert_eq!(access, "signed_in", "unknown access {access}");
        return Expect::Success;
    };
    let action = Action::ALL
        .iter()
        .copied()
        .find(|a| a.as_str() == action)
        .unwrap_or_else(|| panic!("unknown action {action}"));
    let role = match caller {
        Caller::Outsider => return Expect::Status(404),
        Caller::Token => Role::Admin,
        Caller::Member(r) => r,
        Caller::Anonymous => unreachable!(),
    };
    if role.allows(action) {
        match AUTHORIZED_ANSWER.iter().find(|(m, p, _)| (*m, *p) == route) {
            Some((_, _, status)) => Expect::Status(*status),
            None => Expect::Success,
        }
    } else {
        Expect::Status(403)
    }
}

#[derive(Debug, PartialEq)]
enum Expect {
    Success,
    Status(u16),
    /// Public routes: whatever the outcome, never 401 or 403.
    NotRefused,
}

#[tokio::test]
async fn every_route_times_every_caller_matches_the_role_table() {
    let world = World::new().await;
    let doc = world
        .app
        .client
        .get(world.app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    let mut failures = Vec::new();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let method = method.to_uppercase();
            let access = operation["x-acorn-access"]
                .as_str()
                .expect("x-acorn-access");
            for (i, caller) in CALLERS.iter().enumerate() {
                // Routes that act on a member get a fresh member to act on.
                let spare = if path.contains("{user_id}") {
                    user(&world.app, &format!("spare-{checked}-{i}")).await
                } else {
                    world.root.clone()
                };
                let case = prepare(&world, &method, path, *caller, &spare).await;
                let answer = call(&world, &method, path, *caller, &case).await;
                let want = expected(access, (method.as_str(), path.as_str()), *caller);
                let status = answer.status.as_u16();
                let ok = match want {
                    Expect::Success => answer.status.is_success() || answer.status.is_redirection(),
                    Expect::Status(s) => status == s,
                    Expect::NotRefused => status != 401 && status != 403,
                };
                if !ok {
                    failures.push(format!(
                        "{method} {path} as {caller:?}: expected {want:?}, got {status} {}",
                        answer.body
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 30,
        "only {checked} routes in the OpenAPI document"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
