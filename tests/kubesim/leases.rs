//! Lease semantics (coordination.k8s.io/v1) as the agent's elector relies on them: GET of a
//! missing lease is 404, a second POST is 409 AlreadyExists, a PUT with a stale
//! resourceVersion is 409 Conflict, so two concurrent electors can never both win.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::sim::KubeSim;

/// One round of a GET / POST / PUT-with-resourceVersion elector. Returns whether `me` holds it.
async fn try_acquire(api: &Api<Lease>, name: &str, me: &str) -> bool {
    match api.get_opt(name).await.expect("get lease") {
        None => {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"holderIdentity": me, "leaseDurationSeconds": 15},
            }))
            .expect("lease");
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => true,
                Err(kube::Error::Api(status)) if status.code == 409 => false,
                Err(e) => panic!("create lease: {e}"),
            }
        }
        Some(mut lease) => {
            let holder = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.clone())
                .unwrap_or_default();
            if !holder.is_empty() && holder != me {
                return false;
            }
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = Some(me.to_string());
                spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
            }
            match api.replace(name, &PostParams::default(), &lease).await {
                Ok(_) => true,
                Err(kube::Error::Api(status)) if status.code == 409 => false,
                Err(e) => panic!("replace lease: {e}"),
            }
        }
    }
}

#[tokio::test]
async fn two_electors_exactly_one_wins() {
    let sim = KubeSim::start(&["--scenario", "healthy"]).await;
    let a: Api<Lease> = Api::namespaced(sim.client().await, "default");
    let b: Api<Lease> = Api::namespaced(sim.client().await, "default");
    for round in 0..20 {
        let name = format!("acorn-agent-{round}");
        let (won_a, won_b) = tokio::join!(
            try_acquire(&a, &name, "replica-a"),
            try_acquire(&b, &name, "replica-b")
        );
        assert!(
            won_a ^ won_b,
            "round {round}: exactly one elector must win (a={won_a}, b={won_b})"
        );
        // The winner keeps renewing; the loser keeps losing.
        let (winner, loser) = if won_a {
            ("replica-a", "replica-b")
        } else {
            ("replica-b", "replica-a")
        };
        assert!(try_acquire(&a, &name, winner).await);
        assert!(!try_acquire(&b, &name, loser).await);
    }
}

#[tokio::test]
async fn lease_conflicts_are_the_real_409s() {
    let sim = KubeSim::start(&["--scenario", "healthy"]).await;
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    match api.get("acorn-agent").await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
            assert_eq!(
                s.message,
                "leases.coordination.k8s.io \"acorn-agent\" not found"
            );
        }
        other => panic!("expected 404, got {other:?}"),
    }
    assert!(try_acquire(&api, "acorn-agent", "replica-a").await);
    let stale = api.get("acorn-agent").await.expect("get");
    assert!(try_acquire(&api, "acorn-agent", "replica-a").await, "renew");
    match api
        .replace("acorn-agent", &PostParams::default(), &stale)
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert_eq!(
                s.message,
                "Operation cannot be fulfilled on leases.coordination.k8s.io \"acorn-agent\": the object has been modified; please apply your changes to the latest version and try again"
            );
        }
        other => panic!("expected 409 Conflict, got {other:?}"),
    }
    let mut fresh = stale.clone();
    fresh.metadata.resource_version = None;
    match api.create(&PostParams::default(), &fresh).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
            assert_eq!(
                s.message,
                "leases.coordination.k8s.io \"acorn-agent\" already exists"
            );
        }
        other => panic!("expected 409 AlreadyExists, got {other:?}"),
    }
}
