//! Own TLS: the CA survives restarts, the leaf renews itself (at start and while running), a
//! forced rotation, and operator-provided certificates reloaded on SIGHUP and on file change.

use std::time::Duration;

use crate::harness::appliance::{
    Appliance, StartOptions, cert_info, ok_stdout, peer_leaf, pinned_client,
};

/// The leaf presented on a new connection (a pooled one would show the certificate of its
/// original handshake).
async fn served_leaf(app: &Appliance) -> Vec<u8> {
    let fresh = pinned_client(&app.ca_pem);
    let response = fresh.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    peer_leaf(&response)
}

#[tokio::test]
async fn restart_keeps_the_ca_and_renews_a_near_expiry_leaf_at_start() {
    // First life: a leaf that is already inside the renewal window (10 days < 30 days).
    let short = StartOptions {
        config: Some("[tls]\nleaf_validity = \"10d\"\n".into()),
        ..Default::default()
    };
    let app = Appliance::start_with(short).await;
    let first = cert_info(&app.state_dir);
    let first_leaf = served_leaf(&app).await;
    let (status, temp, state_dir) = app.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status}");

    // Second life with the default 90-day validity: same CA, new leaf issued at start.
    let app = Appliance::start_with(StartOptions {
        state_dir: Some(state_dir.clone()),
        ..Default::default()
    })
    .await;
    let second = cert_info(&app.state_dir);
    assert_eq!(
        first["ca_sha256"], second["ca_sha256"],
        "the CA must never be regenerated"
    );
    assert_ne!(
        first["leaf_not_after"], second["leaf_not_after"],
        "the near-expiry leaf must be renewed"
    );
    assert_ne!(first_leaf, served_leaf(&app).await);
    assert!(
        app.setup_url().is_some(),
        "still no administrator: a new setup link is printed"
    );

    // Third life: nothing due, the same leaf is served again.
    let leaf = served_leaf(&app).await;
    let (_, _keep, _) = app.stop();
    let app = Appliance::start_with(StartOptions {
        state_dir: Some(state_dir),
        ..Default::default()
    })
    .await;
    assert_eq!(leaf, served_leaf(&app).await);
    drop(temp);
}

#[tokio::test]
async fn the_leaf_renews_while_running_and_on_demand() {
    let config = "[tls]\nleaf_validity = \"20d\"\nrenew_check_interval = \"1s\"\n";
    let mut app = Appliance::start_with(StartOptions {
        config: Some(config.into()),
        ..Default::default()
    })
    .await;
    let before = served_leaf(&app).await;
    app.wait_log(Duration::from_secs(10), |l| {
        l["message"] == "serving a new leaf certificate"
    });
    let after = served_leaf(&app).await;
    assert_ne!(before, after, "a new leaf is served without a restart");

    // rotate-leaf through the local socket.
    let (_, _temp, dir) = app.stop();
    let app = Appliance::start_with(StartOptions {
        state_dir: Some(dir),
        ..Default::default()
    })
    .await;
    let before = served_leaf(&app).await;
    let out = ok_stdout(&app.acorn(&["cert", "rotate-leaf"]));
    assert!(out.contains("new leaf certificate"), "{out}");
    assert_ne!(before, served_leaf(&app).await);
}

fn operator_identity(name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("site PKI {name}"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    (leaf.pem(), key.serialize_pem(), ca.pem())
}

#[tokio::test]
async fn operator_certificate_is_served_and_reloaded_on_sighup_and_change() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let (cert_a, key_a, ca_a) = operator_identity("a");
    std::fs::write(&cert_path, &cert_a).unwrap();
    std::fs::write(&key_path, &key_a).unwrap();
    let config = format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        cert_path, key_path
    );
    let mut app = Appliance::start_with(StartOptions {
        config: Some(config),
        ..Default::default()
    })
    .await;

    // Served: the operator's chain, verifiable with the site CA.
    let site_a = pinned_client(&ca_a);
    let response = site_a.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(cert_info(&app.state_dir)["leaf_source"], "operator");

    // SIGHUP after replacing the files: the new identity is served.
    let (cert_b, key_b, ca_b) = operator_identity("b");
    std::fs::write(&key_path, &key_b).unwrap();
    std::fs::write(&cert_path, &cert_b).unwrap();
    app.signal("HUP");
    app.wait_log(Duration::from_secs(10), |l| {
        l["message"] == "reloaded operator certificate" && l["trigger"] == "SIGHUP"
    });
    let site_b = pinned_client(&ca_b);
    assert_eq!(
        site_b
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A broken file: the previous certificate stays in service, the log says why.
    std::fs::write(&cert_path, "garbage").unwrap();
    app.signal("HUP");
    app.wait_log(Duration::from_secs(10), |l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.contains("still serving the previous"))
    });
    assert_eq!(
        site_b
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A change on disk alone (no signal) is picked up too.
    let (cert_c, key_c, ca_c) = operator_identity("c");
    std::fs::write(&key_path, &key_c).unwrap();
    std::fs::write(&cert_path, &cert_c).unwrap();
    app.wait_log(Duration::from_secs(15), |l| {
        l["message"] == "reloaded operator certificate" && l["trigger"] == "file change"
    });
    let site_c = pinned_client(&ca_c);
    assert_eq!(
        site_c
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
