//! Hostile input to the cluster link: registration bodies, agent keys (missing, wrong, rotated
//! out), a CA that does not match, and raw tunnel frames from a client speaking the protocol by
//! hand (garbage, unknown types, out of order, oversized, a second connection, a wrong protocol
//! version, an incomplete snapshot, a snapshot over budget).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::World;
use crate::harness::appliance::{Appliance, StartOptions};
use crate::harness::identity::{user, workspace_with};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw tunnel connection with `key`, trusting only the appliance CA; `Err` carries the HTTP
/// status and body of a refused upgrade.
pub async fn raw_connect(app: &Appliance, key: Option<&str>) -> Result<Socket, (u16, String)> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(app.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let url = format!(
        "wss://127.0.0.1:{}{}",
        app.addr.port(),
        acorn_proto::agent::CONNECT_PATH
    );
    let mut request = url.into_client_request().unwrap();
    if let Some(key) = key {
        request
            .headers_mut()
            .insert(acorn_proto::agent::AGENT_KEY_HEADER, key.parse().unwrap());
    }
    let mut ws_config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    ws_config.max_message_size = Some(16 << 20);
    ws_config.max_frame_size = Some(16 << 20);
    match tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(ws_config),
        false,
        Some(tokio_tungstenite::Connector::Rustls(Arc::new(config))),
    )
    .await
    {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(e) => panic!("connect: {e}"),
    }
}

pub async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON text frame (skipping pings), or `None` when the connection ended.
pub async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Some(json!({ "type": "close", "code": frame.map(|f| u16::from(f.code)) }));
            }
            Ok(_) => return None,
            Err(_) => panic!("no frame within 15 s"),
        }
    }
}

pub fn hello(protocol: u32, tools: Value) -> Value {
    json!({
        "type": "hello",
        "protocol": protocol,
        "agent_version": "raw-test",
        "tools": tools,
        "facts": { "kubernetes_version": "v1.33.0", "node_count": 1, "metrics_available": false },
        "write_enabled": false,
        "pod_name": "raw"
    })
}

fn events_tool() -> Value {
    json!([{ "name": "get_events", "description": "events", "class": "read",
             "input_schema": { "type": "object" } }])
}

#[tokio::test]
async fn registration_refuses_bad_bodies_and_other_workspaces_ids_without_damage() {
    let app = Appliance::start().await;
    let owner = user(&app, "owner").await;
    let ws = workspace_with(&owner, "one", &[]).await;
    let other = workspace_with(&owner, "two", &[]).await;
    let base = format!("/api/v1/workspaces/{ws}/clusters");
    let good = owner
        .ok(Method::POST, &base, Some(json!({ "name": "prod" })))
        .await;
    let id = good["cluster"]["id"].as_str().unwrap().to_owned();
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({ "name": "Prod!" }), 400, "cluster_name_invalid"),
        (json!({ "name": "" }), 400, "cluster_name_invalid"),
        (
            json!({ "name": "a".repeat(64) }),
            400,
            "cluster_name_invalid",
        ),
        (json!({ "name": "prod" }), 409, "cluster_name_taken"),
        (json!({ "name": "x", "color": "red" }), 400, "invalid_body"),
        (
            json!({ "name": "x", "write_allowed": "yes" }),
            400,
            "invalid_body",
        ),
        (json!({ "name": 5 }), 400, "invalid_body"),
        (
            json!({ "name": "x", "rbac_scope": { "kind": "namespaces", "namespaces": [] } }),
            400,
            "invalid_body",
        ),
        (
            json!({ "name": "x", "rbac_scope": { "kind": "everything" } }),
            400,
            "invalid_body",
        ),
        (
            json!({ "name": "x", "namespaces": { "include": ["Bad Name"] } }),
            400,
            "invalid_body",
        ),
        (
            json!({ "name": "x", "agent_image": "evil\nimage" }),
            400,
            "invalid_body",
        ),
        (
            json!({ "name": "x", "pad": "z".repeat((1 << 20) + 1024) }),
            413,
            "payload_too_large",
        ),
    ];
    for (body, status, code) in cases {
        let answer = owner.call(Method::POST, &base, Some(body.clone())).await;
        let shown = body.to_string().chars().take(120).collect::<String>();
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (status, code),
            "{shown}: {}",
            answer.body
        );
    }
    // Another workspace's path with this cluster's id: not found, and nothing changes.
    for (method, path, body) in [
        (
            Method::GET,
            format!("/api/v1/workspaces/{other}/clusters/{id}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/workspaces/{other}/clusters/{id}"),
            Some(json!({ "write_allowed": true })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/workspaces/{other}/clusters/{id}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/workspaces/{other}/clusters/{id}/agent-key/rotate"),
            Some(json!({})),
        ),
    ] {
        owner
            .call(method, &path, body)
            .await
            .assert_error(404, "not_found");
    }
    owner
        .call(
            Method::POST,
            &format!("{base}/{id}/agent-key/rotate"),
            Some(json!({ "overlap_seconds": 999_999_999 })),
        )
        .await
        .assert_error(400, "invalid_body");
    owner
        .call(Method::GET, &format!("{base}/{id}/resources?limit=0"), None)
        .await
        .assert_error(400, "invalid_parameter");
    owner
        .call(
            Method::GET,
            &format!("{base}/{id}/resources?cursor=%%%"),
            None,
        )
        .await
        .assert_error(400, "invalid_parameter");
    // Last: the server answers an oversized body before reading it and closes that connection
    // (just over the 1 MiB limit, so that the whole body fits in the socket buffers and the
    // client reads the answer instead of failing its write).
    owner
        .call(
            Method::POST,
            &base,
            Some(json!({ "name": "x", "pad": "z".repeat((1 << 20) + 1024) })),
        )
        .await
        .assert_error(413, "payload_too_large");
    let list = owner.ok(Method::GET, &base, None).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "prod");
    assert_eq!(items[0]["write_allowed"], false);
}

#[tokio::test]
async fn agent_keys_are_checked_before_the_upgrade_and_rotation_ends_old_connections() {
    let world = World::new(&["--scenario", "healthy"]).await;
    let reg = world.register(json!({ "name": "keys" })).await;
    let key = reg.settings.key.clone();

    let (status, body) = raw_connect(&world.app, None).await.expect_err("refused");
    assert_eq!(status, 401);
    assert!(body.contains("agent_key_invalid"), "{body}");
    let (status, body) = raw_connect(&world.app, Some("acorn_agent_forged"))
        .await
        .expect_err("refused");
    assert_eq!(status, 401);
    assert!(body.contains("agent_key_invalid"), "{body}");

    // A connection with the current key; a rotation with a 2 s overlap ends it.
    let mut socket = raw_connect(&world.app, Some(&key)).await.unwrap();
    send(&mut socket, hello(1, events_tool())).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "welcome");
    let rotated = world
        .owner
        .ok(
            Method::POST,
            &world.path(&format!("/clusters/{}/agent-key/rotate", reg.id)),
            Some(json!({ "overlap_seconds": 2 })),
        )
        .await;
    let new_key = rotated["agent_key"].as_str().unwrap();
    assert_ne!(new_key, key);
    assert!(
        rotated["install"]["manifest"]
            .as_str()
            .unwrap()
            .contains("Secret")
    );
    let mut refused = None;
    for _ in 0..10 {
        match next(&mut socket).await {
            Some(frame) if frame["type"] == "refused" => {
                refused = Some(frame);
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    let refused = refused.expect("the hub refuses the rotated-out key");
    assert_eq!(refused["code"], "agent_key_invalid");
    let (status, _) = raw_connect(&world.app, Some(&key))
        .await
        .expect_err("old key refused");
    assert_eq!(status, 401);
    let mut socket = raw_connect(&world.app, Some(new_key)).await.unwrap();
    send(&mut socket, hello(1, events_tool())).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "welcome");

    // An agent pinning another CA never connects and says how to fix it.
    let other_ca = rcgen::generate_simple_self_signed(vec!["elsewhere".into()]).unwrap();
    let ca_file = world.dir.path().join("other-ca.pem");
    std::fs::write(&ca_file, other_ca.cert.pem()).unwrap();
    let settings = reg
        .settings
        .with("ACORN_AGENT_CA_FILE", ca_file.to_str().unwrap());
    let agent = world.agent(&settings, "acorn-agent-0");
    let line = agent
        .wait_log(Duration::from_secs(30), |l| {
            l.to_string().contains("ACORN_AGENT_CA_FILE")
        })
        .expect("a log line naming the CA setting");
    assert_eq!(line["level"], "ERROR", "{line}");
    let ready = reqwest::get(format!("{}/readyz", agent.health))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let c = world.cluster(&reg.id).await;
    assert_eq!(
        c["agent"]["pod_name"], "raw",
        "the mis-pinned agent never connected: {c}"
    );
}

#[tokio::test]
async fn raw_frames_get_their_errors_and_the_connection_survives() {
    let app = Appliance::start_with(StartOptions {
        config: Some("version = 1\n[clusters]\nsnapshot_budget_bytes = 4000\n".into()),
        ..Default::default()
    })
    .await;
    let owner = user(&app, "owner").await;
    let ws = workspace_with(&owner, "raw", &[]).await;
    let reg = owner
        .ok(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/clusters"),
            Some(json!({ "name": "raw" })),
        )
        .await;
    let id = reg["cluster"]["id"].as_str().unwrap().to_owned();
    let key = reg["agent_key"].as_str().unwrap().to_owned();
    let cluster_path = format!("/api/v1/workspaces/{ws}/clusters/{id}");

    let mut socket = raw_connect(&app, Some(&key)).await.unwrap();
    // Before the hello: garbage and other messages are answered, the connection stays.
    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("protocol_error"), Some("agent_frame_invalid"))
    );
    send(&mut socket, json!({ "type": "heartbeat", "seq": 1 })).await;
    assert_eq!(
        next(&mut socket).await.unwrap()["code"],
        "agent_frame_invalid"
    );
    send(&mut socket, hello(1, events_tool())).await;
    let welcome = next(&mut socket).await.unwrap();
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["cluster_id"], id.as_str());
    assert_eq!(
        welcome["namespaces"]["exclude"],
        json!(["kube-node-lease", "kube-public"])
    );

    // After it: unknown types, wrong shapes, binary frames, a second hello.
    for frame in [
        json!({ "type": "nonsense" }),
        json!({ "type": "heartbeat", "seq": "one" }),
        json!({ "type": "snapshot_chunk", "snapshot": 9, "resources": [] }),
        hello(1, events_tool()),
    ] {
        send(&mut socket, frame.clone()).await;
        let answer = next(&mut socket).await.unwrap();
        assert_eq!(answer["code"], "agent_frame_invalid", "{frame}: {answer}");
    }
    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut socket).await.unwrap()["code"],
        "agent_frame_invalid"
    );
    send(&mut socket, json!({ "type": "heartbeat", "seq": 7 })).await;
    assert_eq!(
        next(&mut socket).await.unwrap(),
        json!({ "type": "heartbeat_ack", "seq": 7 })
    );

    // A snapshot whose end counts more than was sent keeps the previous (empty) picture.
    let pod = |name: &str| {
        json!({ "api_version": "v1", "kind": "Pod", "namespace": "a", "name": name,
                                   "resource_version": "1", "object": { "metadata": { "name": name } } })
    };
    send(
        &mut socket,
        json!({ "type": "snapshot_begin", "snapshot": 1 }),
    )
    .await;
    send(
        &mut socket,
        json!({ "type": "snapshot_chunk", "snapshot": 1, "resources": [pod("p1")] }),
    )
    .await;
    send(
        &mut socket,
        json!({ "type": "snapshot_end", "snapshot": 1, "counts": { "Pod": 2 } }),
    )
    .await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer["code"], "agent_frame_invalid", "{answer}");
    let view = owner.ok(Method::GET, &cluster_path, None).await;
    assert!(view["snapshot"]["complete_at"].is_null(), "{view}");
    // A good snapshot is stored.
    send(
        &mut socket,
        json!({ "type": "snapshot_begin", "snapshot": 2 }),
    )
    .await;
    send(
        &mut socket,
        json!({ "type": "snapshot_chunk", "snapshot": 2, "resources": [pod("p1"), pod("p2")] }),
    )
    .await;
    send(
        &mut socket,
        json!({ "type": "snapshot_end", "snapshot": 2, "counts": { "Pod": 2 } }),
    )
    .await;
    send(&mut socket, json!({ "type": "heartbeat", "seq": 8 })).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "heartbeat_ack");
    let view = owner.ok(Method::GET, &cluster_path, None).await;
    assert_eq!(view["snapshot"]["counts"]["Pod"], 2, "{view}");
    // Over the 4000-byte budget: refused with its code, the stored picture stays.
    let big: Vec<Value> = (0..40)
        .map(|i| pod(&format!("big-{i:03}-{}", "x".repeat(100))))
        .collect();
    let changes: Vec<Value> = big
        .iter()
        .map(|r| json!({ "op": "applied", "resource": r }))
        .collect();
    send(&mut socket, json!({ "type": "delta", "changes": changes })).await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer["code"], "snapshot_budget_exceeded", "{answer}");
    let view = owner.ok(Method::GET, &cluster_path, None).await;
    assert_eq!(view["snapshot"]["counts"]["Pod"], 2);
    assert!(
        view["snapshot"]["error"]
            .as_str()
            .unwrap()
            .contains("budget"),
        "{view}"
    );

    // A tool this agent did not advertise.
    owner
        .call(
            Method::POST,
            &format!("{cluster_path}/tools/describe/call"),
            Some(json!({ "arguments": {} })),
        )
        .await
        .assert_error(404, "tool_unknown");
    // An advertised tool: the call reaches the raw agent, which answers it.
    let call = {
        let owner = owner.clone();
        let path = format!("{cluster_path}/tools/get_events/call");
        tokio::spawn(async move {
            owner
                .call(
                    Method::POST,
                    &path,
                    Some(json!({ "arguments": { "namespace": "a" } })),
                )
                .await
        })
    };
    let request = next(&mut socket).await.unwrap();
    assert_eq!(request["type"], "tool_call", "{request}");
    assert_eq!(request["mode"], "read_only");
    send(&mut socket, json!({ "type": "tool_result", "call_id": request["call_id"],
        "outcome": { "status": "ok", "content": "no events", "truncated": false, "redactions": 0 } })).await;
    let answer = call.await.unwrap();
    assert_eq!(answer.body["content"], "no events", "{}", answer.body);

    // A second connection with the same key replaces this one.
    let mut second = raw_connect(&app, Some(&key)).await.unwrap();
    send(&mut second, hello(1, events_tool())).await;
    assert_eq!(next(&mut second).await.unwrap()["type"], "welcome");
    let mut replaced = None;
    while let Some(frame) = next(&mut socket).await {
        if frame["type"] == "refused" {
            replaced = Some(frame);
            break;
        }
    }
    assert_eq!(
        replaced.expect("told it was replaced")["code"],
        "agent_replaced"
    );

    // An oversized frame closes the connection with 1009.
    let huge = "x".repeat(5 << 20);
    let _ = second
        .send(Message::Text(
            format!("{{\"type\":\"heartbeat\",\"pad\":\"{huge}\"}}").into(),
        ))
        .await;
    let mut closed = None;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(10), second.next()).await {
        match frame {
            Ok(Message::Close(frame)) => {
                closed = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert_eq!(closed, Some(1009));

    // Another protocol version is refused with its code.
    let mut old = raw_connect(&app, Some(&key)).await.unwrap();
    send(&mut old, hello(99, events_tool())).await;
    let answer = next(&mut old).await.unwrap();
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("refused"), Some("agent_protocol_unsupported"))
    );
}

#[tokio::test]
async fn a_silent_agent_is_marked_disconnected_after_60_s() {
    let app = Appliance::start().await;
    let owner = user(&app, "owner").await;
    let ws = workspace_with(&owner, "silent", &[]).await;
    let reg = owner
        .ok(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/clusters"),
            Some(json!({ "name": "quiet" })),
        )
        .await;
    let path = format!(
        "/api/v1/workspaces/{ws}/clusters/{}",
        reg["cluster"]["id"].as_str().unwrap()
    );
    let mut socket = raw_connect(&app, reg["agent_key"].as_str()).await.unwrap();
    send(&mut socket, hello(1, events_tool())).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "welcome");
    let connected_at = std::time::Instant::now();
    assert_eq!(
        owner.ok(Method::GET, &path, None).await["status"],
        "connected"
    );
    // Say nothing (the socket stays open): the hub gives up after 60 s of silence.
    loop {
        let view = owner.ok(Method::GET, &path, None).await;
        if view["status"] == "disconnected" {
            break;
        }
        assert!(
            connected_at.elapsed() < Duration::from_secs(75),
            "still {view}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        connected_at.elapsed() >= Duration::from_secs(59),
        "gave up after {:?}",
        connected_at.elapsed()
    );
    let audit = owner
        .ok(
            Method::GET,
            &format!("/api/v1/workspaces/{ws}/audit?limit=50"),
            None,
        )
        .await;
    let record = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "agent.disconnected")
        .cloned()
        .expect("disconnect audited");
    assert!(
        record["metadata"]["reason"]
            .as_str()
            .unwrap()
            .contains("60 s"),
        "{record}"
    );
    drop(socket);
}
