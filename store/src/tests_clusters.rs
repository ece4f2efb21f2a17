//! Tests of schema 3: clusters, agent keys, snapshots and deltas within the byte budget.

use std::collections::BTreeMap;

use acorn_proto::agent::{Change, ClusterFacts, NamespaceFilter, Resource, ResourceKey};
use serde_json::json;

use crate::*;

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) fn draft(ws: &str, action: &str, at: i64) -> AuditDraft {
    AuditDraft {
        workspace_id: Some(ws.to_string()),
        actor: Actor {
            kind: ActorKind::User,
            id: "usr_test".into(),
            display: "test".into(),
        },
        action: action.to_string(),
        target: None,
        result: AuditResult::Success,
        source_ip: None,
        request_id: None,
        operation: Operation::Write,
        category: Category::Cluster,
        metadata: BTreeMap::new(),
        at,
    }
}

pub(crate) struct World {
    _dir: tempfile::TempDir,
    pub(crate) store: Store,
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) ws: String,
}

pub(crate) fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("acorn.redb"), StoreOptions::new("test")).unwrap();
    let rt = rt();
    let user = rt
        .block_on(store.upsert_oidc_user("https://idp", "a", None, true, None, 1))
        .unwrap();
    let mut audit = draft("", "workspace.create", 1);
    audit.workspace_id = None;
    let ws = rt
        .block_on(store.create_workspace("w", &user.id, 5, audit))
        .unwrap()
        .id;
    World {
        _dir: dir,
        store,
        rt,
        ws,
    }
}

pub(crate) fn cluster(ws: &str, id: &str, name: &str) -> Cluster {
    Cluster {
        id: id.into(),
        workspace_id: ws.into(),
        name: name.into(),
        namespaces: NamespaceFilter::default_excludes(),
        rbac_scope: RbacScope::Cluster,
        write_allowed: false,
        logs_allowed: true,
        agent_image: None,
        created_at: 10,
        created_by: "usr_test".into(),
        agent: None,
        tools: Vec::new(),
        snapshot: SnapshotInfo::default(),
        auto_triage: false,
    }
}

pub(crate) fn key(ws: &str, cluster: &str, id: &str) -> AgentKey {
    AgentKey {
        id: id.into(),
        workspace_id: ws.into(),
        cluster_id: cluster.into(),
        created_at: 10,
        expires_at: None,
    }
}

fn pod(ns: &str, name: &str, payload: &str) -> Resource {
    Resource {
        key: ResourceKey {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some(ns.into()),
            name: name.into(),
        },
        resource_version: "1".into(),
        object: json!({"metadata": {"name": name, "namespace": ns}, "payload": payload}),
    }
}

fn node(name: &str) -> Resource {
    Resource {
        key: ResourceKey {
            api_version: "v1".into(),
            kind: "Node".into(),
            namespace: None,
            name: name.into(),
        },
        resource_version: "1".into(),
        object: json!({"metadata": {"name": name}}),
    }
}

impl World {
    pub(crate) fn register(&self, id: &str, name: &str) -> Result<Cluster, StoreError> {
        self.rt.block_on(self.store.register_cluster(
            cluster(&self.ws, id, name),
            key(&self.ws, id, &format!("agk_{id}")),
            [id.len() as u8; 32],
            draft(&self.ws, "cluster.register", 10),
        ))
    }
}

#[test]
fn names_are_unique_per_workspace_and_keys_resolve_to_their_cluster() {
    let w = world();
    w.register("clu_1", "prod").unwrap();
    let err = w.register("clu_22", "prod").unwrap_err();
    assert!(matches!(err, StoreError::ClusterNameTaken { .. }), "{err}");
    assert_eq!(w.store.clusters(&w.ws).unwrap().len(), 1);
    let k = w.store.agent_key([5; 32]).unwrap().unwrap();
    assert_eq!(
        (k.cluster_id.as_str(), k.workspace_id.as_str()),
        ("clu_1", w.ws.as_str())
    );
    assert!(w.store.cluster("ws_other", "clu_1").unwrap().is_none());
}

#[test]
fn rotation_gives_old_keys_an_expiry_and_pruning_removes_them() {
    let w = world();
    w.register("clu_1", "prod").unwrap();
    let expiring =
        w.rt.block_on(w.store.rotate_agent_key(
            key(&w.ws, "clu_1", "agk_new"),
            [9; 32],
            100,
            draft(&w.ws, "cluster.agent_key_rotated", 20),
        ))
        .unwrap();
    assert_eq!(expiring.len(), 1);
    assert_eq!(
        w.store.agent_key([5; 32]).unwrap().unwrap().expires_at,
        Some(100)
    );
    assert_eq!(
        w.store.agent_key([9; 32]).unwrap().unwrap().expires_at,
        None
    );
    assert_eq!(w.rt.block_on(w.store.prune_agent_keys(99)).unwrap(), 0);
    assert_eq!(w.rt.block_on(w.store.prune_agent_keys(100)).unwrap(), 1);
    assert!(w.store.agent_key([5; 32]).unwrap().is_none());
    assert!(w.store.agent_key([9; 32]).unwrap().is_some());
}

#[test]
fn snapshots_replace_deltas_update_and_the_budget_refuses_without_damage() {
    let w = world();
    w.register("clu_1", "prod").unwrap();
    let s = &w.store;
    let full = vec![
        pod("a", "p1", "x"),
        pod("a", "p2", "x"),
        pod("b", "p1", "x"),
        node("n1"),
    ];
    let info =
        w.rt.block_on(s.replace_cluster_snapshot(&w.ws, "clu_1", full, 1 << 20, 50))
            .unwrap();
    assert_eq!(
        info.counts,
        BTreeMap::from([("Node".into(), 1), ("Pod".into(), 3)])
    );
    assert_eq!(
        s.cluster_objects("clu_1", Some("Pod"), Some("a"), None, 10)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.cluster_objects("clu_1", None, None, None, 10)
            .unwrap()
            .len(),
        4
    );

    // Pages continue after the cursor.
    let first = s
        .cluster_objects("clu_1", Some("Pod"), None, None, 2)
        .unwrap();
    let rest = s
        .cluster_objects("clu_1", Some("Pod"), None, Some(&first[1].key), 10)
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].key.namespace.as_deref(), Some("b"));

    // A delta: one new pod, one deleted, one modified.
    let changes = vec![
        Change::Applied {
            resource: pod("a", "p3", "y"),
        },
        Change::Deleted {
            key: pod("a", "p1", "").key,
        },
        Change::Applied {
            resource: pod("b", "p1", "modified"),
        },
    ];
    let info =
        w.rt.block_on(s.apply_cluster_delta(&w.ws, "clu_1", changes, 1 << 20, 60))
            .unwrap();
    assert_eq!(info.counts["Pod"], 3);
    let b1 = s
        .cluster_object("clu_1", &pod("b", "p1", "").key)
        .unwrap()
        .unwrap();
    assert_eq!(b1.object["payload"], "modified");
    assert!(
        s.cluster_object("clu_1", &pod("a", "p1", "").key)
            .unwrap()
            .is_none()
    );
    let stored: u64 = s
        .cluster_objects("clu_1", None, None, None, 100)
        .unwrap()
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap().len() as u64)
        .sum();
    assert_eq!(
        info.bytes, stored,
        "the running byte total matches the objects"
    );

    // Over budget: refused, the objects are untouched, the error is recorded.
    let big = vec![Change::Applied {
        resource: pod("a", "huge", &"z".repeat(4096)),
    }];
    let err =
        w.rt.block_on(s.apply_cluster_delta(&w.ws, "clu_1", big, info.bytes + 100, 70))
            .unwrap_err();
    assert!(
        matches!(err, StoreError::SnapshotBudgetExceeded { .. }),
        "{err}"
    );
    assert!(
        s.cluster_object("clu_1", &pod("a", "huge", "").key)
            .unwrap()
            .is_none()
    );
    let c = s.cluster(&w.ws, "clu_1").unwrap().unwrap();
    assert!(c.snapshot.error.unwrap().contains("budget"));
    assert_eq!(c.snapshot.bytes, info.bytes);

    let err =
        w.rt.block_on(s.replace_cluster_snapshot(
            &w.ws,
            "clu_1",
            vec![pod("c", "q", &"z".repeat(4096))],
            1000,
            80,
        ))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::SnapshotBudgetExceeded { .. }),
        "{err}"
    );
    assert_eq!(
        s.cluster_objects("clu_1", None, None, None, 100)
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn agent_connection_records_hello_and_deleting_the_workspace_takes_clusters_along() {
    let w = world();
    w.register("clu_1", "prod").unwrap();
    let agent = AgentInfo {
        agent_version: "0.1.0".into(),
        pod_name: Some("acorn-agent-0".into()),
        facts: ClusterFacts {
            kubernetes_version: "v1.33.0".into(),
            node_count: 3,
            metrics_available: true,
        },
        write_enabled: false,
        connected_at: 30,
        last_seen_at: 30,
        disconnected_at: None,
    };
    w.rt.block_on(w.store.record_agent_connected(
        &w.ws,
        "clu_1",
        agent,
        Vec::new(),
        draft(&w.ws, "agent.connected", 30),
    ))
    .unwrap();
    w.rt.block_on(w.store.record_agent_seen(
        &w.ws,
        "clu_1",
        45,
        Some(46),
        Some(draft(&w.ws, "agent.disconnected", 46)),
    ))
    .unwrap();
    let c = w.store.cluster(&w.ws, "clu_1").unwrap().unwrap();
    let a = c.agent.unwrap();
    assert_eq!((a.last_seen_at, a.disconnected_at), (45, Some(46)));
    w.rt.block_on(
        w.store
            .replace_cluster_snapshot(&w.ws, "clu_1", vec![node("n1")], 1 << 20, 50),
    )
    .unwrap();

    let mut audit = draft(&w.ws, "workspace.delete", 90);
    audit.workspace_id = None;
    w.rt.block_on(w.store.delete_workspace(&w.ws, audit))
        .unwrap();
    assert!(w.store.cluster(&w.ws, "clu_1").unwrap().is_none());
    assert!(w.store.agent_key([5; 32]).unwrap().is_none());
    assert!(
        w.store
            .cluster_objects("clu_1", None, None, None, 10)
            .unwrap()
            .is_empty()
    );
}
