//! The console's admin pages in the browser, against the real services: webhooks (a
//! subscription to the Python receiver that verifies signatures with the secret the page
//! showed once, a test event in the delivery log, rotate, disable/enable, edit, redeliver,
//! delete; an Alertmanager receiver created and deleted; a refused URL with the API's
//! message), a cluster's settings, its agent key rotated (the old agent refused, a new agent
//! from the page's new manifest connects) and the cluster deleted after typing its name, an
//! invitation revoked, a member removed after a confirmation, a provider deleted, and a viewer
//! who sees none of it. Then a planted `<script>`/`<img onerror>` in a simulated cluster's
//! objects (a pod name, a label, an annotation, an event) and logs, shown as text on the
//! cluster page, in the object's YAML and in a run's tool result; and a keyboard-only user who
//! signs in, registers a cluster and sends a message with Tab, typing and Enter.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Browser, real_problems};
use crate::cluster_link::World;
use crate::harness::agent::{Agent, InstallSettings};
use crate::harness::appliance::StartOptions;
use crate::harness::identity::{PASSWORD, add_members, user};
use crate::runs::RunWorld;
use crate::runs::model::Turn;
use crate::webhooks::{Receiver, of_type};

/// Presses Tab until the focused element matches `want` (at most `max` times); returns the
/// focus path (what each Tab reached).
async fn tab_to(b: &mut Browser, want: impl Fn(&Value) -> bool, max: usize) -> Vec<Value> {
    let mut path = Vec::new();
    for _ in 0..max {
        let f = b.step(json!({ "key": "Tab" })).await;
        path.push(f.clone());
        if want(&f) {
            return path;
        }
    }
    panic!("Tab never reached the control; focus path: {path:#?}");
}

/// An agent's log line saying the appliance refused it (its key rotated out, its cluster gone).
fn refused_line(l: &Value) -> bool {
    let l = l.to_string();
    l.contains("agent_key_invalid") || l.contains("refused")
}

fn is(f: &Value, tag: &str, name: &str) -> bool {
    f["tag"] == tag && (f["name"] == name || f["id"] == name)
}

#[tokio::test]
async fn webhooks_cluster_settings_key_rotation_deletion_and_member_admin_in_the_browser() {
    let world = World::with_options(
        &["--scenario", "crashloop"],
        StartOptions {
            config: Some(crate::webhooks::config("")),
            ..Default::default()
        },
    )
    .await;
    let ws = world.ws.clone();
    let receiver = Receiver::start();
    let cluster = world.register(json!({ "name": "prod" })).await;
    let mut old_agent = world.agent(&cluster.settings, "acorn-agent-0");
    world.wait_linked(&cluster.id, &old_agent).await;

    let mut b = Browser::start(&world.app.base_url).await;
    let page = format!("/console/w/{ws}/webhooks");
    b.goto(&page).await;
    b.sign_in("owner").await;
    b.step(json!({ "wait_url": format!("{page}$") })).await;
    b.wait("header nav a[aria-current=page]", Some("Webhooks"))
        .await;
    b.wait("#webhooks-empty", None).await;

    // A URL the egress policy refuses: the API's message, nothing created.
    b.fill("#webhook-form input[name=url]", "http://10.1.2.3/hook")
        .await;
    b.click("#webhook-form input[name='type.webhook.test']")
        .await;
    b.click("#webhook-form button[type=submit]").await;
    b.wait("#webhook-form .error", Some("webhook_url_refused"))
        .await;
    b.absent("#webhooks-table").await;

    // Created: the signing secret is shown once; the receiver verifies with it.
    let hook = receiver.url("/hook");
    b.fill("#webhook-form input[name=url]", &hook).await;
    b.fill("#webhook-form input[name=description]", "on-call bot")
        .await;
    b.click("#webhook-form input[name='type.cluster.deleted']")
        .await;
    b.click("#webhook-form button[type=submit]").await;
    let secret = b.wait("#once-secret #secret-value", Some("whsec_")).await;
    receiver.secrets(&[secret.trim()]).await;
    let row = format!("tr[data-webhook='{hook}']");
    let text = b.wait(&row, Some("webhook.test")).await;
    assert!(text.contains("cluster.deleted"), "{text}");
    b.click("#dismiss-secret").await;
    b.absent("#once-secret").await;

    // A test event: the delivery log opens and shows it delivered (the receiver answers 200
    // only when the signature verified with the secret the page showed).
    b.click(&format!("{row} button[data-action=test]")).await;
    let delivered = ".delivery-log tr[data-event-type='webhook.test']";
    b.step(json!({ "wait": format!("{delivered} .badge.succeeded"), "timeout_ms": 30000 }))
        .await;
    let log = b.wait(delivered, None).await;
    assert!(log.contains("200"), "{log}");
    let got = receiver
        .wait(20, "the test event", |d| {
            !of_type(d, "webhook.test").is_empty()
        })
        .await;
    assert_eq!(of_type(&got, "webhook.test")[0]["verified"], true);
    b.screenshot("webhooks").await;

    // Redeliver: a second delivery of the same event appears in the log.
    b.click(&format!("{delivered} button[data-action=redeliver]"))
        .await;
    b.step(json!({ "wait": delivered, "count": 2, "timeout_ms": 30000 }))
        .await;
    b.wait(".delivery-log", Some("(redelivery)")).await;

    // A long log: the newest 50, then "Show 50 older" for the rest.
    let sub_id = world
        .owner
        .ok(Method::GET, &world.path("/webhooks"), None)
        .await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..49 {
        world
            .owner
            .ok(
                Method::POST,
                &world.path(&format!("/webhooks/{sub_id}/test")),
                None,
            )
            .await;
    }
    let rows = ".delivery-log tbody tr";
    b.step(json!({ "wait": rows, "count": 50, "timeout_ms": 30000 }))
        .await;
    b.wait(
        ".delivery-log button[data-action=older]",
        Some("Show 50 older"),
    )
    .await;
    assert_eq!(b.step(json!({ "count": rows })).await, 50);
    b.click(".delivery-log button[data-action=older]").await;
    b.step(json!({ "wait": rows, "count": 51, "timeout_ms": 30000 }))
        .await;
    b.absent(".delivery-log button[data-action=older]").await;

    // Rotate: a new secret, shown once, different from the first.
    b.click(&format!("{row} button[data-action=rotate]")).await;
    let rotated = b.wait("#once-secret", Some("New signing secret")).await;
    let new_secret = b.wait("#secret-value", Some("whsec_")).await;
    assert_ne!(new_secret.trim(), secret.trim(), "{rotated}");
    b.click("#dismiss-secret").await;

    // Disable, enable, edit.
    b.click(&format!("{row} button[data-action=disable]")).await;
    b.wait(&format!("{row} .badge.disabled"), None).await;
    b.click(&format!("{row} button[data-action=enable]")).await;
    b.wait(&format!("{row} .badge.enabled"), None).await;
    b.click(&format!("{row} button[data-action=edit]")).await;
    b.fill("tr.edit-row input[name=description]", "pager bridge")
        .await;
    b.click("tr.edit-row button[type=submit]").await;
    b.wait(&row, Some("pager bridge")).await;
    b.absent("tr.edit-row").await;
    let subs = world
        .owner
        .ok(Method::GET, &world.path("/webhooks"), None)
        .await;
    assert_eq!(subs[0]["description"], "pager bridge", "{subs}");
    assert_eq!(subs[0]["enabled"], true, "{subs}");

    // An Alertmanager receiver: its token shown once, then deleted after a confirmation.
    b.fill("#receiver-form input[name=name]", "prod alertmanager")
        .await;
    b.click("#receiver-form button[type=submit]").await;
    b.wait("#once-secret", Some("prod alertmanager")).await;
    b.wait(
        "tr[data-receiver='prod alertmanager']",
        Some("alertmanager"),
    )
    .await;
    b.click("#dismiss-secret").await;
    b.click("tr[data-receiver='prod alertmanager'] button[data-action=delete]")
        .await;
    b.click("tr[data-receiver='prod alertmanager'] button[data-action=confirm-delete]")
        .await;
    b.wait("#receivers-empty", None).await;

    // The subscription deleted after its confirmation.
    b.click(&format!("{row} button[data-action=delete]")).await;
    b.wait("[role=alertdialog]", Some("Delete this subscription?"))
        .await;
    b.click(&format!("{row} button[data-action=confirm-delete]"))
        .await;
    b.wait("#webhooks-empty", None).await;

    // The cluster's settings, saved through clusters::update.
    let cluster_page = format!("/console/w/{ws}/clusters/{}", cluster.id);
    b.goto(&cluster_page).await;
    b.wait("#cluster-settings-form", None).await;
    b.click("#cluster-settings-form input[name=auto_triage]")
        .await;
    b.fill(
        "#cluster-settings-form input[name=ns_exclude]",
        "kube-public, kube-node-lease",
    )
    .await;
    // The agent's RBAC narrowed to the scenario's namespace (in the next install manifest).
    assert_eq!(b.step(json!({ "value": "#rbac-namespaces" })).await, "");
    b.fill("#rbac-namespaces", "crashloop").await;
    // Another admin changes a setting meanwhile: the page takes it in without losing the
    // edits made here (the form's fields carry initial values, not bound ones).
    let writes = !world.cluster(&cluster.id).await["write_allowed"]
        .as_bool()
        .unwrap();
    world
        .owner
        .ok(
            Method::PATCH,
            &world.path(&format!("/clusters/{}", cluster.id)),
            Some(json!({ "write_allowed": writes })),
        )
        .await;
    b.step(json!({
        "wait_eval": format!("document.querySelector('#cluster-settings-form input[name=write_allowed]').checked === {writes}"),
    }))
    .await;
    assert_eq!(
        b.step(json!({ "value": "#cluster-settings-form input[name=ns_exclude]" }))
            .await,
        "kube-public, kube-node-lease"
    );
    assert_eq!(
        b.step(json!({ "eval": "document.querySelector('#cluster-settings-form input[name=auto_triage]').checked" }))
            .await,
        true
    );
    b.click("#cluster-settings-form button[type=submit]").await;
    b.wait("#cluster-saved", None).await;
    let c = world.cluster(&cluster.id).await;
    assert_eq!(c["auto_triage"], true, "{c}");
    assert_eq!(c["write_allowed"], writes, "{c}");
    assert_eq!(
        c["namespaces"]["exclude"],
        json!(["kube-public", "kube-node-lease"]),
        "{c}"
    );
    assert_eq!(
        c["rbac_scope"],
        json!({"kind": "namespaces", "namespaces": ["crashloop"]}),
        "{c}"
    );
    b.screenshot("cluster-settings").await;

    // The agent key rotated with no overlap: the page says the old key no longer works, the
    // running agent is refused, and an agent run from the page's new manifest connects.
    b.step(json!({ "select": "#rotate-key-form select[name=overlap]", "value": "0" }))
        .await;
    b.click("#rotate-key-form button[type=submit]").await;
    b.wait("#key-rotated", Some("old key no longer works"))
        .await;
    b.click("#agent-key button[role=tab]:has-text('Manifest')")
        .await;
    let manifest = b.wait("#install-manifest", Some("kind: Deployment")).await;
    // Roles in the chosen namespace, no cluster-wide role.
    assert!(
        manifest.contains("kind: RoleBinding") && !manifest.contains("ClusterRole"),
        "{manifest}"
    );
    world
        .wait_cluster(&cluster.id, 30, "the old agent's link to end", |c| {
            c["status"] == "disconnected"
        })
        .await;
    let refused = old_agent.wait_log(Duration::from_secs(30), refused_line);
    assert!(
        refused.is_some(),
        "the old agent was not refused: {:#?}",
        old_agent.logs()
    );
    old_agent.kill();
    let dir = tempfile::tempdir().unwrap();
    let settings = InstallSettings::from_manifest(&manifest, dir.path());
    let new_agent = Agent::start(&settings, &world.sim.kubeconfig(), "acorn-agent-1");
    world
        .wait_cluster(&cluster.id, 90, "the new agent's link", |c| {
            c["status"] == "connected" && c["agent"]["pod_name"] == "acorn-agent-1"
        })
        .await;

    // Deleting needs the cluster's name typed; then the page leaves for the list.
    b.goto(&cluster_page).await;
    b.click("#delete-cluster-start").await;
    b.fill("#delete-confirm-name", "pro").await;
    assert_eq!(
        b.step(json!({ "eval": "document.querySelector('#delete-cluster-confirm').disabled" }))
            .await,
        true
    );
    b.fill("#delete-confirm-name", "prod").await;
    b.step(json!({ "wait_eval": "!document.querySelector('#delete-cluster-confirm').disabled" }))
        .await;
    b.click("#delete-cluster-confirm").await;
    b.step(json!({ "wait_url": format!("/console/w/{ws}/clusters$") }))
        .await;
    b.wait("#clusters-empty", None).await;
    world
        .owner
        .call(
            Method::GET,
            &world.path(&format!("/clusters/{}", cluster.id)),
            None,
        )
        .await
        .assert_error(404, "not_found");
    assert!(
        new_agent
            .wait_log(Duration::from_secs(30), refused_line)
            .is_some(),
        "the deleted cluster's agent was not disconnected"
    );

    // Members: an invitation revoked; a member removed only after the confirmation.
    let mia = user(&world.app, "mia").await;
    let val = user(&world.app, "val").await;
    add_members(&world.owner, &ws, &[(&mia, "operator"), (&val, "viewer")]).await;
    b.goto(&format!("/console/w/{ws}/members")).await;
    b.fill("#invite-form input[name=email]", "nina@example.com")
        .await;
    b.click("#invite-form button[type=submit]").await;
    b.wait("#invitation-link", None).await;
    let inv = "tr[data-invitation='nina@example.com']";
    b.wait(&format!("{inv} .badge.pending"), None).await;
    b.click(&format!("{inv} button[data-action=revoke]")).await;
    b.wait(&format!("{inv} .badge.revoked"), None).await;
    b.absent(&format!("{inv} button[data-action=revoke]")).await;
    b.click("tr[data-member=mia] button[data-action=remove]")
        .await;
    b.wait("tr[data-member=mia] [role=alertdialog]", Some("Remove mia"))
        .await;
    b.click("tr[data-member=mia] [role=alertdialog] button.secondary")
        .await;
    b.wait("tr[data-member=mia] button[data-action=remove]", None)
        .await;
    b.click("tr[data-member=mia] button[data-action=remove]")
        .await;
    b.click("tr[data-member=mia] button[data-action=confirm-remove]")
        .await;
    b.absent("tr[data-member=mia]").await;
    b.wait("tr[data-member=val]", None).await;

    // A workspace provider deleted after its confirmation.
    world
        .owner
        .ok(
            Method::PUT,
            &world.path("/providers/local"),
            Some(
                json!({ "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "list_models": false,
                         "models": [{"id": "m", "context_window": 8000,
                                     "input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0}] }),
            ),
        )
        .await;
    b.goto(&format!("/console/w/{ws}/providers")).await;
    b.click("[data-provider=local] button[data-action=delete]")
        .await;
    b.click("[data-provider=local] button[data-action=confirm-delete]")
        .await;
    b.wait("#no-providers", None).await;

    // A viewer: no Webhooks in the navigation, the page says who manages it, and no cluster
    // administration.
    // (registered through the API only: the simulator already holds the agent's objects)
    let staging = world
        .owner
        .ok(
            Method::POST,
            &world.path("/clusters"),
            Some(json!({ "name": "staging" })),
        )
        .await;
    let staging = staging["cluster"]["id"].as_str().unwrap().to_owned();
    let mut v = Browser::start(&world.app.base_url).await;
    v.goto(&page).await;
    v.sign_in("val").await;
    v.wait("#webhooks-forbidden", None).await;
    v.absent("header nav a[href$='/webhooks']").await;
    v.goto(&format!("/console/w/{ws}/clusters/{staging}")).await;
    v.wait("#cluster-name", Some("staging")).await;
    v.absent("#cluster-settings").await;
    v.absent("#delete-cluster").await;
    let problems = real_problems(&v.close().await);
    assert!(
        problems.is_empty(),
        "viewer's browser console errors: {problems:#?}"
    );

    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "browser console errors: {problems:#?}");
}

const PLANTED: &str = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>";
/// A pod whose very name carries markup (no `/`: names are URL path segments and file names).
const PLANTED_POD: &str = "web-<img src=x onerror=window.__pwned=3>";
const POD: &str = "shop-5f6d7c8b9-q2w3e";

/// A scenario folder with the planted markup in a label, an annotation, an event, a pod's
/// name and a log line.
fn planted_scenario(root: &std::path::Path) -> std::path::PathBuf {
    let dir = root.join("planted");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let pod = |name: &str| {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": name, "namespace": "planted", "uid": format!("uid-{}", name.len()),
                "creationTimestamp": "{{now-1h}}",
                "labels": { "app": "shop", "note": PLANTED },
                "annotations": { "acorn.test/planted": PLANTED },
            },
            "spec": { "nodeName": "worker-1", "containers": [{ "name": "app", "image": "registry.example.com/shop:1.0" }] },
            "status": {
                "phase": "Running",
                "containerStatuses": [{ "name": "app", "ready": true, "restartCount": 0,
                    "image": "registry.example.com/shop:1.0", "imageID": "", "started": true,
                    "state": { "running": { "startedAt": "{{now-1h}}" } } }],
            },
        })
    };
    let objects = json!({
        "apiVersion": "v1", "kind": "List", "metadata": {},
        "items": [
            { "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "planted" }, "status": { "phase": "Active" } },
            pod(POD),
            pod(PLANTED_POD),
        ],
    });
    std::fs::write(dir.join("objects.json"), objects.to_string()).unwrap();
    let events = json!({
        "apiVersion": "v1", "kind": "List", "metadata": {},
        "items": [{
            "apiVersion": "v1", "kind": "Event",
            "metadata": { "name": "shop.planted", "namespace": "planted" },
            "involvedObject": { "kind": "Pod", "namespace": "planted", "name": POD },
            "reason": "Planted", "message": format!("hello {PLANTED}"), "type": "Warning",
            "count": 1, "firstTimestamp": "{{now-5m}}", "lastTimestamp": "{{now-1m}}",
            "source": { "component": "kubelet" },
        }],
    });
    std::fs::write(dir.join("events.json"), events.to_string()).unwrap();
    std::fs::write(
        dir.join("logs").join(format!("planted__{POD}__app.log")),
        format!("shop 1.0 starting\nrequest from user {PLANTED}\nready\n"),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn planted_markup_stays_text_and_a_keyboard_only_user_signs_in_registers_and_asks() {
    let root = tempfile::tempdir().unwrap();
    let scenario = planted_scenario(root.path());
    let rw = RunWorld::with_config(
        vec![
            Turn::Tools(vec![(
                "get_pod_logs",
                json!({"namespace": "planted", "pod": POD}),
            )]),
            Turn::Text("The log has a request line with markup in it; the pod is fine."),
        ],
        false,
        "version = 1\n".to_owned(),
        &["--scenario-dir", scenario.to_str().unwrap()],
    )
    .await;
    let ws = rw.world.ws.clone();
    let mut b = Browser::start(&rw.world.app.base_url).await;

    // Keyboard only: sign in.
    let clusters_page = format!("/console/w/{ws}/clusters");
    b.goto(&clusters_page).await;
    b.wait("form[action='/console/sign-in']", None).await;
    tab_to(&mut b, |f| is(f, "input", "username"), 10).await;
    b.step(json!({ "type": "owner" })).await;
    let f = b.step(json!({ "key": "Tab" })).await;
    assert!(is(&f, "input", "password"), "{f}");
    b.step(json!({ "type": PASSWORD })).await;
    let f = b.step(json!({ "key": "Tab" })).await;
    assert_eq!(f["tag"], "button", "{f}");
    b.step(json!({ "key": "Enter" })).await;
    b.step(json!({ "wait_url": format!("{clusters_page}$") }))
        .await;
    b.wait("#register-cluster", None).await;

    // Register a cluster: the focus goes through the top bar, then the form's controls in order.
    let path = tab_to(
        &mut b,
        |f| is(f, "input", "name") && f["form"] == "register-cluster",
        40,
    )
    .await;
    assert!(
        path.iter()
            .any(|f| f["tag"] == "a" && f["text"] == "Sessions"),
        "the navigation is reachable: {path:#?}"
    );
    b.step(json!({ "type": "keyboard" })).await;
    for name in [
        "logs_allowed",
        "write_allowed",
        "auto_triage",
        "rbac_namespaces",
    ] {
        let f = b.step(json!({ "key": "Tab" })).await;
        assert!(is(&f, "input", name), "{name}: {f}");
    }
    let f = b.step(json!({ "key": "Tab" })).await;
    assert_eq!(f["tag"], "button", "{f}");
    assert_eq!(f["text"], "Register", "{f}");
    b.step(json!({ "key": "Enter" })).await;
    b.wait("#install-instructions", Some("keyboard")).await;
    b.wait("tr[data-cluster=keyboard]", None).await;

    // The planted cluster's page: the markup is text in the resource list, the events, the
    // object's YAML (labels and annotations) and a pod's name.
    b.goto(&format!("/console/w/{ws}/clusters/{}", rw.cluster.id))
        .await;
    b.wait("#resources-table button", Some(POD)).await;
    let name_cell = b.wait("#resources-table button", Some("web-<img")).await;
    assert_eq!(name_cell, PLANTED_POD);
    b.click(&format!("#resources-table button:has-text('{POD}')"))
        .await;
    let yaml = b.wait("#object-yaml", Some("acorn.test/planted")).await;
    assert!(yaml.contains("<script>window.__pwned=1</script>"), "{yaml}");
    b.step(json!({ "select": "#resource-kind", "value": "Event" }))
        .await;
    let events = b.wait("#resources-table td", Some("Planted: hello")).await;
    assert!(events.contains(PLANTED), "{events}");
    assert_eq!(
        b.step(json!({ "eval": "typeof window.__pwned" })).await,
        "undefined"
    );
    assert_eq!(b.step(json!({ "count": "main script, main img" })).await, 0);

    // Keyboard only: ask in the planted cluster's session; the run's log tool result holds
    // the planted line, shown as text.
    let session_page = format!("/console/w/{ws}/sessions/{}", rw.session);
    b.goto(&session_page).await;
    b.wait("#composer", None).await;
    tab_to(&mut b, |f| f["id"] == "message-box", 60).await;
    b.step(json!({ "type": "what is in the shop pod's log?" }))
        .await;
    tab_to(&mut b, |f| f["id"] == "send", 10).await;
    b.step(json!({ "key": "Enter" })).await;
    b.wait(".msg-user", Some("shop pod's log")).await;
    b.step(json!({ "wait": ".run-head .badge.completed", "timeout_ms": 60000 }))
        .await;
    b.click("details.step[data-tool=get_pod_logs] summary")
        .await;
    let result = b
        .wait(
            "details.step[data-tool=get_pod_logs] .tool-result",
            Some("request from user"),
        )
        .await;
    assert!(result.contains(PLANTED), "{result}");
    assert_eq!(
        b.step(json!({ "eval": "typeof window.__pwned" })).await,
        "undefined"
    );
    assert_eq!(b.step(json!({ "count": "main script, main img" })).await, 0);
    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "browser console errors: {problems:#?}");
}
