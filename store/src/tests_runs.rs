//! Tests of schema 5: sessions, runs, numbered events, approvals, the global event log.

use acorn_proto::agent::RunMode;
use acorn_proto::runs::{ApprovalState, ApprovalView, RunEventKind, RunLimits, RunState};
use serde_json::json;

use crate::tests_clusters::{World, draft, world};
use crate::*;

fn limits() -> RunLimits {
    RunLimits {
        max_steps: 5,
        max_tool_calls: 5,
        max_identical_tool_calls: 2,
        max_context_tokens: 1000,
        max_output_tokens: 1000,
        max_runtime_seconds: 60,
        max_cost: 1.0,
    }
}

fn event(kind: RunEventKind, text: &str) -> NewEvent {
    NewEvent {
        kind,
        at_ms: 1,
        data: json!({ "text": text }),
    }
}

impl World {
    fn session(&self, id: &str, cluster: &str) -> SessionRecord {
        let s = SessionRecord {
            id: id.into(),
            workspace_id: self.ws.clone(),
            cluster_id: cluster.into(),
            title: "t".into(),
            created_by: "usr_test".into(),
            created_at: 1,
            updated_at: 1,
            active_run: None,
            last_run: None,
            alert: None,
        };
        self.rt.block_on(self.store.create_run_session(s)).unwrap()
    }

    fn run(
        &self,
        id: &str,
        session: &str,
    ) -> Result<(RunRecord, acorn_proto::runs::RunEvent), StoreError> {
        let run = RunRecord {
            id: id.into(),
            workspace_id: self.ws.clone(),
            cluster_id: "clu_1".into(),
            session_id: session.into(),
            state: RunState::Queued,
            mode: RunMode::ReadOnly,
            provider: "p".into(),
            model: "m".into(),
            question: "why?".into(),
            limits: limits(),
            usage: Default::default(),
            created_by: "usr_test".into(),
            created_at: 1,
            started_at: None,
            ended_at: None,
            answer: None,
            evidence: Vec::new(),
            error: None,
            pending_approval: None,
            next_seq: 99,
        };
        self.rt.block_on(
            self.store
                .create_run(run, event(RunEventKind::RunCreated, "why?")),
        )
    }

    fn update(
        &self,
        run: &str,
        change: RunChange,
        kinds: &[RunEventKind],
    ) -> Result<(RunRecord, Vec<acorn_proto::runs::RunEvent>), StoreError> {
        let events = kinds.iter().map(|k| event(*k, "x")).collect();
        self.rt.block_on(self.store.update_run(run, change, events))
    }
}

#[test]
fn events_are_numbered_without_gaps_and_a_finished_run_never_changes() {
    let w = world();
    w.register("clu_1", "prod").unwrap();
    w.session("ses_1", "clu_1");
    let (run, created) = w.run("run_1", "ses_1").unwrap();
    assert_eq!(
        (created.seq, run.next_seq),
        (0, 1),
        "numbering starts at 0 whatever was passed"
    );
    // One session, one run at a time.
    let err = w.run("run_2", "ses_1").unwrap_err();
    assert!(matches!(err, StoreError::RunInProgress { .. }), "{err}");
    let started = RunChange {
        state: Some(RunState::Running),
        expect: vec![RunState::Queued],
        ..RunChange::default()
    };
    let (_, events) = w
        .update(
            "run_1",
            started.clone(),
            &[RunEventKind::RunStarted, RunEventKind::ModelDelta],
        )
        .unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    // `expect` guards the transition.
    assert!(matches!(
        w.update("run_1", started, &[]).unwrap_err(),
        StoreError::RunFinished { .. }
    ));
    let done = RunChange {
        state: Some(RunState::Completed),
        ended_at: Some(5),
        answer: Some("because".into()),
        ..RunChange::default()
    };
    w.update("run_1", done, &[RunEventKind::RunCompleted])
        .unwrap();
    let err = w
        .update("run_1", RunChange::default(), &[RunEventKind::ModelDelta])
        .unwrap_err();
    assert!(matches!(err, StoreError::RunFinished { .. }));
    let events = w.store.run_events("run_1", None, 100).unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(w.store.run_events("run_1", Some(1), 100).unwrap()[0].seq, 2);
    assert!(w.store.active_run_records().unwrap().is_empty());
    // The session is free again; the global log orders every event.
    w.run("run_2", "ses_1").unwrap();
    let (log, last) = w.store.run_events_since(0, 100).unwrap();
    assert_eq!(log.len(), 5);
    assert_eq!(last, 5);
    assert_eq!(
        log.iter().map(|(g, _)| *g).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(w.store.run_events_since(3, 1).unwrap().0[0].0, 4);
    assert_eq!(w.store.active_run_records().unwrap().len(), 1);
}

fn approval(id: &str, run: &str) -> ApprovalView {
    ApprovalView {
        id: id.into(),
        workspace_id: "ws".into(),
        run_id: run.into(),
        session_id: "ses_1".into(),
        cluster_id: "clu_1".into(),
        tool: "scale_workload".into(),
        arguments: json!({"replicas": 3}),
        diff: "spec.replicas: 1 -> 3".into(),
        state: ApprovalState::Pending,
        requested_at: 1,
        expires_at: 100,
        decided_by: None,
        decided_at: None,
        comment: None,
    }
}

#[test]
fn the_first_decision_wins_and_an_ended_run_withdraws_its_approval() {
    let w = world();
    w.register("clu_1", "prod").unwrap();
    w.session("ses_1", "clu_1");
    w.run("run_1", "ses_1").unwrap();
    // Only a running run can ask.
    let refused =
        w.rt.block_on(w.store.request_approval(approval("apr_1", "run_1"), vec![]))
            .unwrap_err();
    assert!(matches!(refused, StoreError::RunFinished { .. }));
    let running = RunChange {
        state: Some(RunState::Running),
        ..RunChange::default()
    };
    w.update("run_1", running, &[]).unwrap();
    let (run, _) =
        w.rt.block_on(w.store.request_approval(
            approval("apr_1", "run_1"),
            vec![event(RunEventKind::ApprovalRequested, "")],
        ))
        .unwrap();
    assert_eq!(run.state, RunState::WaitingForApproval);
    let decide = |state, by: &str| {
        w.rt.block_on(w.store.decide_approval(
            "run_1",
            "apr_1",
            state,
            Some(by.into()),
            None,
            7,
            event(RunEventKind::ApprovalDecided, ""),
            Some(draft(&w.ws, "approval.approved", 7)),
        ))
    };
    let (a, run, _) = decide(ApprovalState::Approved, "alice").unwrap();
    assert_eq!(
        (a.state, run.state),
        (ApprovalState::Approved, RunState::Running)
    );
    let err = decide(ApprovalState::Rejected, "bob").unwrap_err();
    assert!(matches!(err, StoreError::ApprovalDecided { .. }));
    assert_eq!(
        w.store
            .approval("run_1", "apr_1")
            .unwrap()
            .unwrap()
            .decided_by
            .as_deref(),
        Some("alice")
    );
    // Foreign run + approval pairs are not found.
    assert!(matches!(
        w.rt.block_on(w.store.decide_approval(
            "run_x",
            "apr_1",
            ApprovalState::Approved,
            None,
            None,
            1,
            event(RunEventKind::ApprovalDecided, ""),
            None
        ))
        .unwrap_err(),
        StoreError::NotFound { .. }
    ));
    // A second approval, then the run is cancelled: the pending one is withdrawn.
    w.rt.block_on(w.store.request_approval(approval("apr_2", "run_1"), vec![]))
        .unwrap();
    let cancelled = RunChange {
        state: Some(RunState::Cancelled),
        ended_at: Some(9),
        ..RunChange::default()
    };
    w.update("run_1", cancelled, &[RunEventKind::RunCancelled])
        .unwrap();
    assert_eq!(
        w.store.approval("run_1", "apr_2").unwrap().unwrap().state,
        ApprovalState::Withdrawn
    );
}

#[test]
fn deleting_the_workspace_deletes_its_sessions_runs_and_events() {
    let w = world();
    w.register("clu_1", "prod").unwrap();
    w.session("ses_1", "clu_1");
    w.run("run_1", "ses_1").unwrap();
    w.rt.block_on(
        w.store
            .delete_workspace(&w.ws, draft(&w.ws, "workspace.delete", 9)),
    )
    .unwrap();
    assert!(w.store.run_record("run_1").unwrap().is_none());
    assert!(w.store.run_events("run_1", None, 10).unwrap().is_empty());
    assert!(w.store.session_record(&w.ws, "ses_1").unwrap().is_none());
    assert!(w.store.active_run_records().unwrap().is_empty());
    // The global log keeps its entry; readers skip the missing event.
    let (events, last) = w.store.run_events_since(0, 10).unwrap();
    assert!(events.is_empty());
    assert_eq!(last, 1);
}
