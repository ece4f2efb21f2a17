//! A very long answer (hundreds of lines and a 4,000-character word) and a long tool result
//! scroll inside their boxes: the page never gets wider than the window, and the message box
//! stays usable below them.

use serde_json::json;

use super::{Browser, real_problems};
use crate::runs::RunWorld;
use crate::runs::model::Turn;

#[tokio::test]
async fn a_very_long_answer_and_tool_result_scroll_without_widening_the_page() {
    let word = "x".repeat(4000);
    let lines: String = (0..300)
        .map(|i| format!("line {i}: the checkout pod restarts again and again\n"))
        .collect();
    let answer = format!("Start {word} {lines}End of the answer.");
    let rw = RunWorld::new(
        vec![
            Turn::Tools(vec![(
                "list_resources",
                json!({"kind": "Event", "namespace": "crashloop"}),
            )]),
            Turn::Say(answer),
        ],
        false,
        "",
    )
    .await;
    let ws = rw.world.ws.clone();
    let page = format!("/console/w/{ws}/sessions/{}", rw.session);
    let mut b = Browser::start(&rw.world.app.base_url).await;
    b.goto(&page).await;
    b.sign_in("owner").await;
    b.wait("#composer", None).await;
    b.fill("#message-box", "why does checkout restart?").await;
    b.click("#send").await;
    b.step(json!({ "wait": ".run-head .badge.completed", "timeout_ms": 90000 }))
        .await;
    let shown = b.wait(".answer", Some("End of the answer.")).await;
    assert!(shown.contains(&"x".repeat(4000)), "the long word is whole");
    assert!(shown.contains("line 299:"), "every line is there");
    b.click("details.step[data-tool=list_resources] summary")
        .await;
    b.wait("details.step[data-tool=list_resources] .tool-result", None)
        .await;
    for width in [1280, 760] {
        b.step(json!({ "emulate": { "colorScheme": "light", "width": width, "height": 900 } }))
            .await;
        assert_eq!(
            b.step(json!({ "eval": "document.documentElement.scrollWidth <= window.innerWidth" }))
                .await,
            true,
            "the page does not scroll sideways at {width} px"
        );
    }
    b.screenshot("session-long-answer").await;
    // The message box is still there and takes the next question.
    rw.play(vec![Turn::Text("Short answer.")]);
    b.fill("#message-box", "and now?").await;
    b.click("#send").await;
    b.step(json!({ "wait": ".answer", "text": "Short answer.", "timeout_ms": 60000 }))
        .await;
    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "{problems:?}");
}
