//! First start to a linked cluster, all in the browser: the setup link, signing in, the first
//! workspace, registering a cluster, the install manifest copied out of the page and applied
//! (the real agent against the simulator), the cluster turning connected, its page. And a
//! sign-in through the real OpenID provider that lands back on the page that asked for it.

use serde_json::json;

use super::{Browser, real_problems};
use crate::harness::agent::{Agent, InstallSettings};
use crate::harness::appliance::{Appliance, StartOptions, free_port};
use crate::harness::identity::PASSWORD;
use crate::harness::oidc_provider::OidcProvider;
use crate::kubesim::sim::KubeSim;

#[tokio::test]
async fn first_run_setup_then_a_cluster_registered_in_the_browser_connects() {
    let app = Appliance::start().await;
    let sim = KubeSim::start(&["--scenario", "crashloop"]).await;
    let mut b = Browser::start(&app.base_url).await;

    // No administrator yet: the console sends the browser to sign-in, which says what to do.
    b.goto("/console/").await;
    b.step(json!({ "wait_url": "/console/sign-in\\?next=" }))
        .await;
    b.wait("#first-run", Some("no administrator")).await;
    b.screenshot("sign-in-first-run").await;

    // The setup link from the log creates the administrator.
    let setup = app.setup_url().expect("setup link in the log");
    b.goto(&setup).await;
    b.fill("input[name=username]", "admin").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.screenshot("setup").await;
    b.click("button[type=submit]").await;
    b.wait("h1", Some("Administrator ready")).await;
    b.click("a[href='/console/sign-in']").await;

    // A wrong password shows the API's message; the right one signs in.
    b.wait("form[action='/console/sign-in']", None).await;
    b.fill("input[name=username]", "admin").await;
    b.fill("input[name=password]", "not the password").await;
    b.click("form[action='/console/sign-in'] button[type=submit]")
        .await;
    b.wait(".error", Some("wrong username or password")).await;
    b.absent("#first-run").await;
    b.sign_in("admin").await;
    b.wait("#no-workspaces", None).await;
    b.screenshot("workspaces").await;

    // The first workspace; its overview tells a new user what to do next.
    b.fill("#create-workspace input[name=name]", "Platform")
        .await;
    b.click("#create-workspace button[type=submit]").await;
    b.step(json!({ "wait_url": "/console/w/ws_" })).await;
    b.wait("a", Some("Register your first cluster")).await;
    b.wait("#findings-empty", None).await;
    b.screenshot("overview-empty").await;
    // Workspace settings: renamed, the page comes back with the new name.
    b.fill("#workspace-settings input[name=name]", "Platform EU")
        .await;
    b.click("#workspace-settings button[type=submit]").await;
    b.wait("#workspace-name", Some("Platform EU")).await;
    b.wait("h1", Some("Platform EU")).await;

    // Register a cluster: the install instructions appear once, with copy buttons.
    b.click("a[href$='/clusters']").await;
    b.wait("#clusters-empty", None).await;
    b.fill("#register-cluster input[name=name]", "prod").await;
    b.click("#register-cluster button[type=submit]").await;
    b.wait("#install-instructions", None).await;
    let helm = b
        .wait("#install-helm", Some("helm upgrade --install"))
        .await;
    assert!(helm.contains("acorn-agent"), "{helm}");
    b.wait("button[data-copy='install-helm-values']", None)
        .await;
    b.click("button[role=tab]:has-text('Manifest')").await;
    let manifest = b.wait("#install-manifest", Some("kind: Deployment")).await;
    // The row shows the cluster waiting for its agent.
    b.wait("tr[data-cluster=prod] .badge.never_connected", None)
        .await;
    b.screenshot("clusters-register").await;

    // The manifest as the browser shows it is what the agent runs with.
    let dir = tempfile::tempdir().unwrap();
    let settings = InstallSettings::from_manifest(&manifest, dir.path());
    let agent = Agent::start(&settings, &sim.kubeconfig(), "acorn-agent-0");
    b.step(json!({ "wait": "tr[data-cluster=prod] .badge.connected", "timeout_ms": 60000 }))
        .await;
    b.screenshot("clusters").await;

    // The cluster's page: agent, capabilities, findings with evidence, resources and YAML.
    b.click("tr[data-cluster=prod] a").await;
    b.wait("#agent-version", None).await;
    b.wait("#capabilities li", Some("get_pod_logs")).await;
    b.step(json!({ "wait": "#findings li[data-rule='pod.crash_loop']", "timeout_ms": 60000 }))
        .await;
    b.click("#findings li[data-rule='pod.crash_loop'] summary")
        .await;
    b.wait(
        "#findings li[data-rule='pod.crash_loop']",
        Some("What to do"),
    )
    .await;
    b.wait("#resources-table button", Some("checkout")).await;
    b.click("#resources-table button:has-text('checkout')")
        .await;
    let yaml = b.wait("#object-yaml", Some("kind: Pod")).await;
    assert!(yaml.contains("CrashLoopBackOff"), "{yaml}");
    b.screenshot("cluster").await;

    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "browser console errors: {problems:#?}");
    drop(agent);
}

#[tokio::test]
async fn oidc_sign_in_returns_to_the_page_that_asked() {
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let idp = OidcProvider::start(
        &format!("{base}/api/v1/auth/oidc/callback"),
        &json!({ "dana": { "email": "dana@example.com", "email_verified": true, "name": "Dana" } }),
    );
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, "acorn-test-secret\n").unwrap();
    let config = format!(
        "[oidc]\nissuer = \"{}\"\nclient_id = \"acorn\"\nclient_secret_file = {:?}\nscopes = [\"email\", \"profile\"]\n",
        idp.issuer, secret
    );
    let app = Appliance::start_with(StartOptions {
        config: Some(config),
        port: Some(port),
        ..Default::default()
    })
    .await;
    let mut b = Browser::start(&app.base_url).await;
    b.goto("/console/search?q=checkout").await;
    b.wait("#oidc-sign-in", None).await;
    b.screenshot("sign-in").await;
    b.click("#oidc-sign-in").await;
    // The provider's own login and consent forms (oidc-provider's dev interactions).
    b.wait("input[name=login]", None).await;
    b.fill("input[name=login]", "dana").await;
    b.fill("input[name=password]", "anything").await;
    b.click("button[type=submit]").await;
    b.wait("button[type=submit]", None).await;
    b.click("button[type=submit]").await;
    b.step(json!({ "wait_url": "/console/search\\?q=checkout" }))
        .await;
    assert_eq!(b.wait("#signed-in-as", None).await, "Dana");
    assert_eq!(b.step(json!({ "value": "#search-q" })).await, "checkout");
    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "browser console errors: {problems:#?}");
}
