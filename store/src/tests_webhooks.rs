//! Tests of schema 6: the outbox written with the change that caused it, the queue and the
//! delivery log, auto-disable, receivers and alert deduplication.

use acorn_proto::webhooks::{AttemptView, DeliveryState, DisabledReason, EventType};
use serde_json::json;

use crate::tests_clusters::{World, draft, world};
use crate::*;

fn subscription(ws: &str, id: &str, types: &[&str]) -> SubscriptionRecord {
    SubscriptionRecord {
        id: id.into(),
        workspace_id: ws.into(),
        url: "https://hooks.example/in".into(),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        description: String::new(),
        enabled: true,
        disabled_reason: None,
        consecutive_failures: 0,
        secrets: Vec::new(),
        created_by: "usr_test".into(),
        created_at: 1,
        updated_at: 1,
    }
}

impl World {
    fn subscribe(&self, id: &str, types: &[&str]) {
        self.rt
            .block_on(self.store.put_webhook_subscription(
                subscription(&self.ws, id, types),
                Vec::new(),
                true,
                3,
                draft(&self.ws, "webhook.create", 1),
            ))
            .unwrap();
    }

    fn due(&self) -> Vec<OutboxEntry> {
        self.store
            .due_webhook_deliveries(i64::MAX / 2, 100, &|_| false)
            .unwrap()
    }
}

fn attempt(n: u32, status: u16) -> AttemptView {
    AttemptView {
        attempt: n,
        at_ms: 1,
        status: Some(status),
        error: None,
        latency_ms: 3,
        response_excerpt: String::new(),
    }
}

fn outcome(ws: &str, n: u32, status: u16, next: AttemptNext, threshold: u32) -> AttemptOutcome {
    AttemptOutcome {
        attempt: Some(attempt(n, status)),
        next,
        disable_now: None,
        disable_after_failures: threshold,
        disabled_audit: draft(ws, "webhook.disabled", 2),
    }
}

#[test]
fn an_audited_change_queues_its_event_in_the_same_commit_only_for_subscribers() {
    let w = world();
    // Nobody subscribes: registering a cluster writes no event.
    w.register("c0", "zero").unwrap();
    assert_eq!(w.store.webhook_outbox_len().unwrap(), 0);

    w.subscribe("whk_a", &["cluster.registered"]);
    w.subscribe("whk_b", &["*"]);
    w.subscribe("whk_c", &["run.completed"]);
    let signal = w.store.webhook_signal();
    w.register("clu_1", "one").unwrap();
    // The commit woke the dispatcher.
    w.rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(1), signal.notified())
            .await
            .expect("woken")
    });
    let due = w.due();
    let mut subs: Vec<&str> = due.iter().map(|e| e.subscription_id.as_str()).collect();
    subs.sort();
    assert_eq!(subs, ["whk_a", "whk_b"]);
    let d = w
        .store
        .webhook_delivery("whk_a", &due[0].delivery_id)
        .unwrap()
        .or_else(|| {
            w.store
                .webhook_delivery("whk_a", &due[1].delivery_id)
                .unwrap()
        })
        .unwrap();
    assert_eq!(d.state, DeliveryState::Pending);
    let event = w.store.webhook_event(&d.event_id).unwrap().unwrap();
    assert_eq!(event.event_type, "cluster.registered");
    assert_eq!(event.data["action"], "cluster.register");
    assert_eq!(event.data["actor"]["kind"], "user");

    // A refused change (name taken) writes neither its audit record nor an event.
    assert!(w.register("clu_22", "one").is_err());
    assert_eq!(w.due().len(), 2);

    // The fourth subscription is over the limit given (3).
    let over = w.rt.block_on(w.store.put_webhook_subscription(
        subscription(&w.ws, "whk_d", &["*"]),
        Vec::new(),
        true,
        3,
        draft(&w.ws, "webhook.create", 1),
    ));
    assert!(
        matches!(over, Err(StoreError::LimitReached { .. })),
        "{over:?}"
    );
}

#[test]
fn attempts_move_the_queue_entry_and_failures_disable_with_an_audit_record() {
    let w = world();
    w.subscribe("whk_a", &["session.created"]);
    w.register("clu_1", "one").unwrap();
    let session = SessionRecord {
        id: "ses_1".into(),
        workspace_id: w.ws.clone(),
        cluster_id: "clu_1".into(),
        title: "t".into(),
        created_by: "usr_test".into(),
        created_at: 1,
        updated_at: 1,
        active_run: None,
        last_run: None,
        alert: None,
    };
    w.rt.block_on(w.store.create_run_session(session)).unwrap();
    let entry = w.due().remove(0);
    // Retry later: the entry moves to its new due time, out of "due now".
    let r =
        w.rt.block_on(w.store.record_webhook_attempt(
            entry.clone(),
            outcome(&w.ws, 1, 503, AttemptNext::RetryAt(i64::MAX / 2 + 10), 2),
        ))
        .unwrap();
    assert_eq!(r.disabled, None);
    assert!(w.due().is_empty());
    assert_eq!(w.store.webhook_outbox_len().unwrap(), 1);
    let next = w.store.next_webhook_due_ms().unwrap().unwrap();
    assert_eq!(next, i64::MAX / 2 + 10);
    let entry = w
        .store
        .due_webhook_deliveries(i64::MAX - 1, 10, &|_| false)
        .unwrap()
        .remove(0);
    // The second failure in a row reaches the threshold (2): disabled, audited.
    let r =
        w.rt.block_on(
            w.store
                .record_webhook_attempt(entry, outcome(&w.ws, 2, 500, AttemptNext::Failed, 2)),
        )
        .unwrap();
    assert_eq!(r.disabled, Some(DisabledReason::Failing));
    let d = r.delivery.unwrap();
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(
        d.attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [Some(503), Some(500)]
    );
    assert_eq!(w.store.webhook_outbox_len().unwrap(), 0);
    let sub = w
        .store
        .webhook_subscription(&w.ws, "whk_a")
        .unwrap()
        .unwrap();
    assert!(!sub.enabled);
    assert_eq!(sub.consecutive_failures, 2);
    let audit = w
        .store
        .audit_records(Some(&w.ws), AuditFilter::default())
        .unwrap();
    let disabled = audit
        .iter()
        .find(|r| r.draft.action == "webhook.disabled")
        .expect("webhook.disabled audit record");
    assert_eq!(disabled.draft.metadata["reason"], "failing");

    // Disabled: new events are not queued for it; a test event still is.
    w.rt.block_on(
        w.store
            .emit_webhook_event(&w.ws, EventType::SessionCreated, json!({})),
    )
    .unwrap();
    assert_eq!(w.store.webhook_outbox_len().unwrap(), 0);
    let test =
        w.rt.block_on(w.store.queue_test_webhook(&w.ws, "whk_a", json!({"m": 1})))
            .unwrap();
    assert_eq!(test.event_type, "webhook.test");
    // Redelivery of the failed delivery: a new pending delivery of the same event.
    let again =
        w.rt.block_on(w.store.redeliver_webhook(
            &w.ws,
            "whk_a",
            &d.id,
            draft(&w.ws, "webhook.redeliver", 3),
        ))
        .unwrap();
    assert_eq!(again.event_id, d.event_id);
    assert!(again.redelivery);
    assert_eq!(w.store.webhook_outbox_len().unwrap(), 2);
    let log = w.store.webhook_deliveries("whk_a", None, 10).unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].id, again.id, "newest first");

    // Deleting the subscription removes its deliveries and queue entries.
    w.rt.block_on(w.store.delete_webhook_subscription(
        &w.ws,
        "whk_a",
        draft(&w.ws, "webhook.delete", 4),
    ))
    .unwrap();
    assert_eq!(w.store.webhook_outbox_len().unwrap(), 0);
    assert!(
        w.store
            .webhook_deliveries("whk_a", None, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn run_events_and_findings_emit_in_their_own_transactions() {
    let w = world();
    w.subscribe("whk_r", &["run.created", "finding.opened"]);
    w.register("clu_1", "one").unwrap();
    let record = FindingsRecord {
        workspace_id: w.ws.clone(),
        cluster_id: "clu_1".into(),
        evaluated_at: 1,
        findings: Vec::new(),
        tracker: serde_json::Value::Null,
    };
    w.rt.block_on(w.store.put_findings_record(
        record,
        vec![(
            EventType::FindingOpened,
            json!({"finding": {"id": "fnd_1"}}),
        )],
    ))
    .unwrap();
    let due = w.due();
    assert_eq!(due.len(), 1);
    let d = w
        .store
        .webhook_delivery("whk_r", &due[0].delivery_id)
        .unwrap()
        .unwrap();
    assert_eq!(d.event_type, "finding.opened");
    // Findings of a deleted cluster are refused, with no event.
    let gone = FindingsRecord {
        workspace_id: w.ws.clone(),
        cluster_id: "clu_gone".into(),
        evaluated_at: 1,
        findings: Vec::new(),
        tracker: serde_json::Value::Null,
    };
    assert!(
        w.rt.block_on(
            w.store
                .put_findings_record(gone, vec![(EventType::FindingOpened, json!({}))])
        )
        .is_err()
    );
    assert_eq!(w.due().len(), 1);
}

#[test]
fn alert_claims_deduplicate_and_resolve_on_the_session() {
    let w = world();
    w.register("clu_1", "one").unwrap();
    assert_eq!(
        w.rt.block_on(w.store.claim_alert("rcv_1", "fp1", 10))
            .unwrap(),
        AlertClaim::New
    );
    // A second post while the first is starting: known, nothing to do.
    assert!(matches!(
        w.rt.block_on(w.store.claim_alert("rcv_1", "fp1", 11))
            .unwrap(),
        AlertClaim::Known(_)
    ));
    let mut session = SessionRecord {
        id: "ses_a".into(),
        workspace_id: w.ws.clone(),
        cluster_id: "clu_1".into(),
        title: "alert".into(),
        created_by: "system:alerts".into(),
        created_at: 1,
        updated_at: 1,
        active_run: None,
        last_run: None,
        alert: None,
    };
    session.alert = Some(session_alert(
        "rcv_1",
        "fp1",
        [("alertname".to_owned(), "X".to_owned())].into(),
        "2026-01-01T00:00:00Z",
    ));
    w.rt.block_on(w.store.create_run_session(session)).unwrap();
    w.rt.block_on(
        w.store
            .settle_alert("rcv_1", "fp1", Some(("ses_a".into(), "run_1".into()))),
    )
    .unwrap();
    let known = w.store.alert_record("rcv_1", "fp1").unwrap().unwrap();
    assert_eq!(known.status, "firing");
    // Resolved: recorded on the dedup record and on the session.
    let r =
        w.rt.block_on(w.store.resolve_alert(&w.ws, "rcv_1", "fp1", 50))
            .unwrap()
            .unwrap();
    assert_eq!(r.resolved_at, Some(50));
    let s = w.store.session_record(&w.ws, "ses_a").unwrap().unwrap();
    let alert = s.alert.unwrap();
    assert_eq!(
        (alert.status.as_str(), alert.resolved_at),
        ("resolved", Some(50))
    );
    // Firing again after resolved: a re-fire in the same session.
    assert!(matches!(
        w.rt.block_on(w.store.claim_alert("rcv_1", "fp1", 60))
            .unwrap(),
        AlertClaim::Refiring(r) if r.session_id.as_deref() == Some("ses_a")
    ));
    // An unknown resolved alert: nothing recorded.
    assert!(
        w.rt.block_on(w.store.resolve_alert(&w.ws, "rcv_1", "other", 1))
            .unwrap()
            .is_none()
    );
    // A failed start forgets a new claim so that a later post can try again.
    w.rt.block_on(w.store.claim_alert("rcv_1", "fp2", 1))
        .unwrap();
    w.rt.block_on(w.store.settle_alert("rcv_1", "fp2", None))
        .unwrap();
    assert_eq!(w.store.alert_record("rcv_1", "fp2").unwrap(), None);

    // Signed message ids: the second claim is a replay; stale ones are forgotten.
    assert!(
        w.rt.block_on(w.store.claim_inbound_message("rcv_2", "msg_1", 100, 0))
            .unwrap()
    );
    assert!(
        !w.rt
            .block_on(w.store.claim_inbound_message("rcv_2", "msg_1", 101, 0))
            .unwrap()
    );
    assert!(
        w.rt.block_on(w.store.claim_inbound_message("rcv_2", "msg_2", 1000, 500))
            .unwrap()
    );
    assert!(
        w.rt.block_on(w.store.claim_inbound_message("rcv_2", "msg_1", 1001, 500))
            .unwrap(),
        "msg_1 (seen at 100) was forgotten at 500"
    );
}

#[test]
fn verify_checks_the_new_tables() {
    let w = world();
    w.subscribe("whk_a", &["*"]);
    w.register("clu_1", "one").unwrap();
    let path = w.store.path().to_path_buf();
    let World { store, rt, .. } = w;
    drop(store);
    drop(rt);
    let report = verify_file(&path).unwrap();
    assert_eq!(report.schema_version, SCHEMA_VERSION);
}
