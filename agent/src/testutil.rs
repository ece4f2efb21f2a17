//! Helpers shared by the crate's tests: an in-process Kubernetes API simulator and a kube
//! client for it.

use acorn_kubesim::{Config, Running};

/// Starts `acorn-kubesim` in-process with `scenarios` (clock frozen) and a client for it.
pub(crate) async fn kubesim(scenarios: &[&str]) -> (Running, kube::Client) {
    kubesim_with(Config {
        scenarios: scenarios.iter().map(|s| s.to_string()).collect(),
        time_scale: 0.0,
        ..Config::default()
    })
    .await
}

/// Starts `acorn-kubesim` in-process with `config` and a client for it.
pub(crate) async fn kubesim_with(config: Config) -> (Running, kube::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let running = acorn_kubesim::start(&config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = client_for(&running.url());
    (running, client)
}

/// A kube client for `http://127.0.0.1:PORT`.
pub(crate) fn client_for(url: &str) -> kube::Client {
    let config = kube::Config::new(url.parse().unwrap());
    kube::Client::try_from(config).unwrap()
}
