//! Model evaluations in the console: an admin starts one on the Models page, follows it to its
//! pass rate and opens the report; the run defaults show the default model's latest score; a
//! refused start shows the API's message; a viewer sees no evaluations. Against the real
//! appliance, whose lab runs `acorn-kubesim` and the real `acorn-agent`, and a scripted model.

use reqwest::Method;
use serde_json::json;

use super::{Browser, real_problems};
use crate::eval::api::put_scripted_provider;
use crate::eval::models;
use crate::harness::appliance::Appliance;
use crate::harness::identity::{user, workspace_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_evaluates_a_model_and_reads_its_report_before_making_it_the_default() {
    let model = models().await;
    let app = Appliance::start().await;
    let root = user(&app, "root").await;
    let viewer = user(&app, "vera").await;
    let ws = workspace_with(&root, "evals", &[(&viewer, "viewer")]).await;
    put_scripted_provider(&root, &ws, &model, None).await;
    root.ok(
        Method::PUT,
        &format!("/api/v1/workspaces/{ws}/run-settings"),
        Some(json!({"provider": "scripted", "model": "thorough"})),
    )
    .await;

    let mut b = Browser::start(&app.base_url).await;
    b.goto(&format!("/console/w/{ws}/providers")).await;
    b.sign_in("root").await;
    b.wait("#no-evals", None).await;
    b.wait("#default-model-eval", Some("not evaluated yet"))
        .await;

    // A model the provider does not list: the API's words.
    b.fill("#eval-form input[name=model]", "gpt-9").await;
    b.click("#eval-form button[type=submit]").await;
    b.wait("#evals .error", Some("lists no model")).await;

    b.fill("#eval-form input[name=model]", "thorough").await;
    b.fill("#eval-form input[name=scenarios]", "crashloop, healthy")
        .await;
    b.click("#eval-form button[type=submit]").await;
    b.wait("#eval-list", Some("thorough")).await;
    b.step(json!({"wait": "#eval-list", "text": "2/2 passed (100%)", "timeout_ms": 240000}))
        .await;
    b.screenshot("evals").await;

    b.click("#eval-list a").await;
    b.wait("#eval-summary", Some("2/2 passed")).await;
    b.wait("#eval-scenarios", Some("crashloop")).await;
    b.wait("#eval-scenarios", Some("healthy")).await;
    b.wait("#s-crashloop", Some("MAX_CONNECTIONS")).await;
    b.screenshot("eval-report").await;

    // Back on the Models page, the default model shows its score.
    b.goto(&format!("/console/w/{ws}/providers")).await;
    b.wait("#default-model-eval", Some("2/2 scenarios passed"))
        .await;
    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "{problems:?}");

    // A viewer sees the models, not the evaluations.
    let mut v = Browser::start(&app.base_url).await;
    v.goto(&format!("/console/w/{ws}/providers")).await;
    v.sign_in("vera").await;
    v.wait("#default-model", None).await;
    v.absent("#evals").await;
    v.absent("#default-model-eval").await;
    let id = root
        .ok(Method::GET, &format!("/api/v1/workspaces/{ws}/evals"), None)
        .await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    v.goto(&format!("/console/w/{ws}/evals/{id}")).await;
    v.wait(".error", Some("does not allow providers.manage"))
        .await;
    let problems = real_problems(&v.close().await);
    assert!(problems.is_empty(), "{problems:?}");
}
