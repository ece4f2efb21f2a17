//! `acorn demo` as a user runs it: one command, then the printed URL and login in a browser —
//! the demo banner, the simulated cluster connected with its findings, and a plain statement
//! that no model is configured. Ctrl-C (SIGINT) ends it and removes its temporary state; killed
//! with SIGKILL, it leaves neither of its two child processes running.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{Browser, real_problems};
use crate::harness::cargo_bin;

/// `acorn demo` on a free port with the crashloop scenario and no model, its stdout piped.
fn start_demo() -> tokio::process::Child {
    tokio::process::Command::new(cargo_bin("acorn"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            "crashloop",
            "--kubesim",
        ])
        .arg(cargo_bin("acorn-kubesim"))
        .arg("--agent")
        .arg(cargo_bin("acorn-agent"))
        .env_remove("ACORN_DEMO_OPENAI_BASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start acorn demo")
}

#[tokio::test]
async fn acorn_demo_prints_a_login_that_shows_a_connected_demo_cluster() {
    let mut child = start_demo();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut login, mut ca, mut model) = (None, None, None, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while url.is_none() || login.is_none() || ca.is_none() || model.is_none() {
        assert!(
            Instant::now() < deadline,
            "acorn demo printed no URL and login"
        );
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .expect("acorn demo output")
            .unwrap()
            .expect("acorn demo ended early");
        let line = line.trim().to_owned();
        if let Some(u) = line.strip_prefix("Console:") {
            url = Some(u.trim().to_owned());
        } else if let Some(l) = line.strip_prefix("Login:") {
            login = Some(l.trim().to_owned());
        } else if let Some(c) = line.strip_prefix("CA:") {
            ca = Some(c.trim().split(' ').next().unwrap().to_owned());
        } else if let Some(m) = line.strip_prefix("Model:") {
            model = Some(m.trim().to_owned());
        }
    }
    let url = url.unwrap();
    let (user, password) = login
        .as_deref()
        .unwrap()
        .split_once(" / ")
        .expect("user / password");
    assert!(model.unwrap().starts_with("none configured"));
    let ca = std::path::PathBuf::from(ca.unwrap());
    assert!(ca.exists(), "{}", ca.display());
    let base = url.trim_end_matches("/console/").to_owned();

    let mut b = Browser::start(&base).await;
    b.goto("/console/").await;
    b.wait(".demo-banner", Some("Demo appliance")).await;
    b.wait(".notice", Some(user)).await;
    b.fill("input[name=username]", user).await;
    b.fill("input[name=password]", password).await;
    b.click("form[action='/console/sign-in'] button[type=submit]")
        .await;
    // The demo workspace, the banner on every page.
    b.wait("#workspaces a", Some("Demo")).await;
    b.click("#workspaces a").await;
    b.step(json!({ "wait_url": "/console/w/ws_" })).await;
    b.wait(".demo-banner", None).await;
    b.step(json!({ "wait": "a", "text": "demo", "timeout_ms": 30000 }))
        .await;
    b.step(json!({ "wait": ".badge.connected", "timeout_ms": 60000 }))
        .await;
    b.step(json!({ "wait": "#findings li[data-rule='pod.crash_loop']", "timeout_ms": 60000 }))
        .await;
    b.screenshot("demo-overview").await;
    b.click("a[href$='/providers']").await;
    b.wait("#no-providers", Some("No model provider is configured"))
        .await;
    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "browser console errors: {problems:#?}");

    // Ctrl-C ends the demo and its children, and removes the temporary state.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("acorn demo stops on Ctrl-C")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(!ca.exists(), "the demo's temporary state is removed");
}

/// `(pid, name, state)` of `parent`'s child processes, from `/proc`.
fn children_of(parent: u32) -> Vec<(u32, String, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Some((name, state, ppid)) = stat(pid)
            && ppid == parent
        {
            out.push((pid, name, state));
        }
    }
    out
}

/// Name, state and parent of a process; `None` once it is gone.
fn stat(pid: u32) -> Option<(String, char, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (name) state ppid …"; the name may hold spaces and parentheses.
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let name = s[open + 1..close].to_owned();
    let mut rest = s[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((name, state, ppid))
}

#[tokio::test]
async fn acorn_demo_killed_with_sigkill_leaves_no_child_running() {
    let mut child = start_demo();
    let demo_pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ca = None;
    // The login is printed once both children run (the agent is started before it).
    while ca.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .expect("acorn demo output")
            .unwrap()
            .expect("acorn demo ended early");
        if let Some(c) = line.trim().strip_prefix("CA:") {
            ca = Some(std::path::PathBuf::from(
                c.trim().split(' ').next().unwrap(),
            ));
        }
    }
    let kids = children_of(demo_pid);
    let names: Vec<&str> = kids.iter().map(|(_, n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"acorn-kubesim") && names.contains(&"acorn-agent"),
        "the demo's children: {kids:?}"
    );

    child.start_kill().unwrap(); // SIGKILL: no handler runs, no cleanup in the demo.
    child.wait().await.unwrap();
    // Both children see their stdin pipe close and stop within a few seconds. A zombie (`Z`)
    // has exited too; it only waits for its new parent to reap it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let running: Vec<_> = kids
            .iter()
            .filter(|(pid, _, _)| stat(*pid).is_some_and(|(_, state, _)| state != 'Z'))
            .collect();
        if running.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after the demo was killed: {running:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGKILL leaves the demo's temporary directory behind (documented); this test removes it.
    if let Some(dir) = ca.as_deref().and_then(|c| c.parent()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}
