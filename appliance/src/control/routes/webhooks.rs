//! Webhook routes (issue #10). Routes only convert; the services are `crate::webhooks::api`
//! (subscriptions, deliveries, receivers) and `crate::webhooks::alerts` (inbound).
//!
//! - `/api/v1/webhooks/event-types`: every event type (signed-in);
//! - `/api/v1/workspaces/{workspace_id}/webhooks[/{subscription_id}[/secret/rotate | /test |
//!   /deliveries[/{delivery_id}[/redeliver]]]]` and `…/webhook-events/{event_id}`:
//!   `webhooks.manage`;
//! - `…/alert-receivers[/{receiver_id}]`: `webhooks.manage`;
//! - `…/alerts/alertmanager` (a receiver's bearer token) and `…/alerts/webhook/{receiver_id}`
//!   (a Standard Webhooks signature): the inbound endpoints, which take the raw body.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{delete, get, patch, post};
use serde::Deserialize;

use acorn_proto::authz::Action;
use acorn_proto::identity::Page;
use acorn_proto::webhooks::{
    AlertsAccepted, CreateReceiver, CreateSubscription, DeliveryQueued, DeliveryView,
    EventTypeView, EventView, ReceiverCreated, ReceiverView, RotateSecret, SecretRotated,
    SubscriptionCreated, SubscriptionView, UpdateSubscription,
};

use super::AppState;
use super::extract::{ApiJson, ApiQuery};
use super::table::{Access, RouteSpec, route};
use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::webhooks::{alerts, api};

pub fn routes() -> Vec<RouteSpec> {
    let manage = Access::Workspace(Action::WebhooksManage);
    vec![
        route(
            Method::GET,
            "/api/v1/webhooks/event-types",
            Access::SignedIn,
            "Webhook event types, their meaning and payload version",
            get(event_types),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/webhooks",
            manage,
            "Webhook subscriptions",
            get(list),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/webhooks",
            manage,
            "Subscribe an endpoint (its signing secret is shown once)",
            post(create),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}",
            manage,
            "A webhook subscription",
            get(show),
        ),
        route(
            Method::PATCH,
            "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}",
            manage,
            "Change a subscription (enable re-enables an auto-disabled one)",
            patch(update),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}",
            manage,
            "Delete a subscription with its secrets and delivery log",
            delete(remove),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}/secret/rotate",
            manage,
            "New signing secret (shown once); the previous one signs too during the overlap",
            post(rotate),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}/test",
            manage,
            "Send a webhook.test event to this subscription",
            post(test),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}/deliveries",
            manage,
            "The delivery log (newest first): attempts, status, latency, response excerpt",
            get(deliveries),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}/deliveries/{delivery_id}",
            manage,
            "One delivery with its attempts",
            get(delivery),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver",
            manage,
            "Deliver the same event again (same webhook-id)",
            post(redeliver),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/webhook-events/{event_id}",
            manage,
            "A recorded event's whole payload (truncated payloads link here)",
            get(event),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/alert-receivers",
            manage,
            "Alert receivers (Alertmanager, signed webhooks)",
            get(list_receivers),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/alert-receivers",
            manage,
            "Create an alert receiver (its token or secret is shown once)",
            post(create_receiver),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}/alert-receivers/{receiver_id}",
            manage,
            "Delete an alert receiver",
            delete(delete_receiver),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/alerts/alertmanager",
            Access::ReceiverToken,
            "Alertmanager's webhook (version 4): firing alerts start read-only investigations",
            post(alertmanager),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/alerts/webhook/{receiver_id}",
            Access::WebhookSignature,
            "A Standard Webhooks-signed alert: starts a run from the receiver's prompt template",
            post(signed),
        ),
    ]
}

async fn event_types(_caller: Caller) -> Json<Vec<EventTypeView>> {
    Json(api::event_types())
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Vec<SubscriptionView>>, ApiError> {
    Ok(Json(
        api::list(&state.control, &state.webhooks, &caller, &ws).await?,
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiJson(body): ApiJson<CreateSubscription>,
) -> Result<(StatusCode, Json<SubscriptionCreated>), ApiError> {
    let created = api::create(&state.control, &state.webhooks, &caller, &ws, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<SubscriptionView>, ApiError> {
    Ok(Json(
        api::get(&state.control, &state.webhooks, &caller, &ws, &id).await?,
    ))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateSubscription>,
) -> Result<Json<SubscriptionView>, ApiError> {
    Ok(Json(
        api::update(&state.control, &state.webhooks, &caller, &ws, &id, body).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    api::delete(&state.control, &state.webhooks, &caller, &ws, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<SecretRotated>, ApiError> {
    // The body is optional: empty means the default overlap.
    let body: RotateSecret = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecret::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(acorn_proto::ErrorCode::InvalidBody, e.to_string()))?
    };
    Ok(Json(
        api::rotate_secret(&state.control, &state.webhooks, &caller, &ws, &id, body).await?,
    ))
}

async fn test(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryQueued>), ApiError> {
    let queued = api::test(&state.control, &state.webhooks, &caller, &ws, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    Ok(Json(
        api::deliveries(
            &state.control,
            &state.webhooks,
            &caller,
            &ws,
            &id,
            q.cursor.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

async fn delivery(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id, delivery_id)): Path<(String, String, String)>,
) -> Result<Json<DeliveryView>, ApiError> {
    Ok(Json(
        api::delivery(
            &state.control,
            &state.webhooks,
            &caller,
            &ws,
            &id,
            &delivery_id,
        )
        .await?,
    ))
}

async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id, delivery_id)): Path<(String, String, String)>,
) -> Result<(StatusCode, Json<DeliveryQueued>), ApiError> {
    let queued = api::redeliver(
        &state.control,
        &state.webhooks,
        &caller,
        &ws,
        &id,
        &delivery_id,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

async fn event(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, event_id)): Path<(String, String)>,
) -> Result<Json<EventView>, ApiError> {
    Ok(Json(
        api::event(&state.control, &state.webhooks, &caller, &ws, &event_id).await?,
    ))
}

async fn list_receivers(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Vec<ReceiverView>>, ApiError> {
    Ok(Json(
        api::list_receivers(&state.control, &state.webhooks, &caller, &ws).await?,
    ))
}

async fn create_receiver(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiJson(body): ApiJson<CreateReceiver>,
) -> Result<(StatusCode, Json<ReceiverCreated>), ApiError> {
    let created = api::create_receiver(&state.control, &state.webhooks, &caller, &ws, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn delete_receiver(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    api::delete_receiver(&state.control, &state.webhooks, &caller, &ws, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn alertmanager(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AlertsAccepted>, ApiError> {
    Ok(Json(
        alerts::alertmanager(&state.engine, &state.webhooks, &ws, &headers, &body).await?,
    ))
}

async fn signed(
    State(state): State<AppState>,
    Path((ws, receiver_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AlertsAccepted>, ApiError> {
    Ok(Json(
        alerts::signed(
            &state.engine,
            &state.webhooks,
            &ws,
            &receiver_id,
            &headers,
            &body,
        )
        .await?,
    ))
}
