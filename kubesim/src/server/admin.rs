//! The `/_sim/` admin routes: runtime control of the simulator for tests and demos.
//!
//! | route | effect |
//! |---|---|
//! | `GET /_sim/health` | `ok` |
//! | `GET /_sim/state` | resourceVersion, scenarios, faults, metrics mode |
//! | `PUT /_sim/faults` | `{"delay_ms": 200, "fail": {"code": 429, "times": 2, "retry_after": 1, "path_contains": "/pods", "method": "GET"}}` |
//! | `DELETE /_sim/faults` | clear faults |
//! | `POST /_sim/drop-watches[?clean=true]` | end every open watch (abruptly by default) |
//! | `POST /_sim/compact` | drop watch windows and list snapshots, end watches: clients relist after a 410 |
//! | `POST /_sim/expire-continue` | every outstanding continue token becomes 410 Expired |
//! | `POST /_sim/advance?seconds=N` | move the scenario clock forward and fire due timeline rules |
//! | `PUT /_sim/rbac` | `[{"verbs": ["list"], "resource": "pods", "namespace": "x"}]` deny rules |
//! | `PUT /_sim/metrics?mode=absent` | metrics.k8s.io `available`, `absent` (404) or `unavailable` (503) |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::sim::{DenyRule, Faults, MetricsMode, Sim};

pub fn router() -> Router<Arc<Sim>> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/state", get(state))
        .route("/faults", put(set_faults).delete(clear_faults))
        .route("/drop-watches", post(drop_watches))
        .route("/compact", post(compact))
        .route("/expire-continue", post(expire_continue))
        .route("/advance", post(advance))
        .route("/rbac", put(set_rbac))
        .route("/metrics", put(set_metrics))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid admin request: {e}")))
}

async fn state(State(sim): State<Arc<Sim>>) -> Response {
    super::json_response(
        StatusCode::OK,
        &json!({
            "resourceVersion": sim.store.current_rv().to_string(),
            "scenarios": sim.scenario_names(),
            "faults": {"delay_ms": sim.faults().delay_ms, "fail": sim.faults().fail.map(|f| f.code)},
            "metrics": format!("{:?}", sim.metrics_mode()).to_lowercase(),
            "requests": sim.request_counts(),
        }),
    )
}

async fn set_faults(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    match parse::<Faults>(&body) {
        Ok(faults) => {
            sim.set_faults(faults);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.set_faults(Faults::default());
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct DropQuery {
    #[serde(default)]
    clean: bool,
}

async fn drop_watches(State(sim): State<Arc<Sim>>, Query(q): Query<DropQuery>) -> StatusCode {
    sim.drop_watches(q.clean);
    StatusCode::NO_CONTENT
}

async fn compact(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.compact();
    StatusCode::NO_CONTENT
}

async fn expire_continue(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.store.expire_continue_tokens();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct AdvanceQuery {
    seconds: f64,
}

async fn advance(State(sim): State<Arc<Sim>>, Query(q): Query<AdvanceQuery>) -> StatusCode {
    sim.advance(q.seconds);
    StatusCode::NO_CONTENT
}

async fn set_rbac(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    match parse::<Vec<DenyRule>>(&body) {
        Ok(rules) => {
            sim.set_deny(rules);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct MetricsQuery {
    mode: MetricsMode,
}

async fn set_metrics(State(sim): State<Arc<Sim>>, Query(q): Query<MetricsQuery>) -> StatusCode {
    sim.set_metrics_mode(q.mode);
    StatusCode::NO_CONTENT
}
