//! Process lifecycle: zero-configuration start, systemd readiness and watchdog, the plain-HTTP
//! redirect listener, and graceful shutdown on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::appliance::{Appliance, StartOptions, collect_logs, wait_for};
use crate::harness::cargo_bin;

#[tokio::test]
async fn zero_configuration_uses_acorn_data_in_the_working_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(cargo_bin("acorn"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(cwd.path())
        .env_remove("STATE_DIRECTORY")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = collect_logs(child.stderr.take().unwrap());
    // Not a terminal: the log is JSON without being asked.
    let line = wait_for(&logs, &mut child, Duration::from_secs(60), |l| {
        l["message"] == "listening"
    });
    assert!(line["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(cwd.path().join("acorn-data/acorn.redb").exists());
    child.kill().unwrap();
    child.wait().unwrap();

    // Under systemd, STATE_DIRECTORY decides.
    let state = cwd.path().join("systemd-state");
    let mut child = Command::new(cargo_bin("acorn"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(cwd.path())
        .env("STATE_DIRECTORY", &state)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = collect_logs(child.stderr.take().unwrap());
    wait_for(&logs, &mut child, Duration::from_secs(60), |l| {
        l["message"] == "listening"
    });
    assert!(state.join("acorn.redb").exists());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn notifies_systemd_and_pings_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let env = vec![
        (
            "NOTIFY_SOCKET".to_string(),
            socket_path.display().to_string(),
        ),
        ("WATCHDOG_USEC".to_string(), "200000".to_string()),
    ];
    let _app = Appliance::start_with(StartOptions {
        env,
        ..Default::default()
    })
    .await;
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !(seen.iter().any(|m: &String| m.contains("READY=1"))
        && seen.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2)
    {
        let n = socket.recv(&mut buf).expect("a notification within 30 s");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let ready = seen.iter().position(|m| m.contains("READY=1")).unwrap();
    assert!(
        seen.iter().skip(ready).any(|m| m.contains("WATCHDOG=1")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn plain_http_only_redirects() {
    let config = "[server]\nhttp_redirect_listen = \"127.0.0.1:0\"\n";
    let mut app = Appliance::start_with(StartOptions {
        config: Some(config.into()),
        ..Default::default()
    })
    .await;
    let line = app.wait_log(Duration::from_secs(10), |l| {
        l["message"] == "redirecting plain HTTP to HTTPS"
    });
    let http_addr = line["addr"].as_str().unwrap().to_owned();
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = plain
        .get(format!("http://{http_addr}/readyz?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("https://127.0.0.1:{}/readyz?x=1", app.addr.port()).as_str()
    );
    // A Host outside the certificate's names is not echoed back.
    let response = plain
        .get(format!("http://{http_addr}/"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["location"],
        format!("{}/", app.base_url).as_str()
    );
}

#[tokio::test]
async fn sigterm_finishes_cleanly_and_readiness_drops() {
    let app = Appliance::start().await;
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, _temp, state_dir) = app.stop();
    assert!(status.success(), "{status}");
    // The store was closed cleanly: an offline verb can open it at once.
    let out = crate::harness::appliance::acorn(&state_dir, &["verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn request_ids_tie_responses_to_log_lines() {
    let env = vec![(
        "ACORN_LOG_LEVEL".to_string(),
        "acorn=debug,info".to_string(),
    )];
    let mut app = Appliance::start_with(StartOptions {
        env,
        ..Default::default()
    })
    .await;
    let response = app
        .client
        .get(app.url("/api/v1/nope"))
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let line = app.wait_log(Duration::from_secs(10), |l| {
        l["message"] == "request served" && l["span"]["request_id"] == id.as_str()
    });
    assert_eq!(line["status"], 404);
}
