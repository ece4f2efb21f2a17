//! The webhooks API services: subscriptions (create with a secret shown once, change, delete,
//! rotate the secret with an overlap), the delivery log, manual redelivery, "send test event",
//! the recorded events (for truncated payloads), and the alert receivers.
//!
//! Every service authorizes `webhooks.manage` through `control::authz::authorize`; every
//! change is one store write that carries its audit record. Secret values are returned only in
//! the answer that creates them.

use acorn_proto::ErrorCode;
use acorn_proto::authz::Action;
use acorn_proto::identity::Page;
use acorn_proto::webhooks::{
    CreateReceiver, CreateSubscription, DeliveryQueued, DeliveryView, DisabledReason, EventType,
    EventTypeView, EventView, MAX_SUBSCRIPTIONS_PER_WORKSPACE, PAYLOAD_VERSION, ReceiverCreated,
    ReceiverKind, ReceiverView, RotateSecret, SecretRotated, SigningSecretView,
    SubscriptionCreated, SubscriptionView, TestEventData, UpdateSubscription, WebhookPayload,
};
use acorn_store::{
    Category, DeliveryRecord, Operation, ReceiverRecord, SigningSecretRef, StoreError,
    SubscriptionRecord,
};

use super::{Webhooks, signing};
use crate::control::Control;
use crate::control::audit::{draft, with_meta};
use crate::control::auth::Caller;
use crate::control::authz::authorize;
use crate::control::error::ApiError;
use crate::gateway::secrets;
use crate::util;

const MAX_DESCRIPTION: usize = 500;
const MAX_URL: usize = 2048;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidBody, message)
}

fn audit(
    caller: &Caller,
    workspace_id: &str,
    action: &str,
    target: &str,
) -> acorn_store::AuditDraft {
    draft(
        caller,
        Some(workspace_id),
        action,
        Some(target.to_owned()),
        Category::Workspace,
        Operation::Write,
    )
}

/// Every event type with its description.
pub fn event_types() -> Vec<EventTypeView> {
    EventType::ALL
        .iter()
        .map(|t| EventTypeView {
            name: t.as_str().to_owned(),
            description: t.description().to_owned(),
            version: PAYLOAD_VERSION,
        })
        .collect()
}

fn check_url(wh: &Webhooks, url: &str) -> Result<(), ApiError> {
    if url.len() > MAX_URL {
        return Err(ApiError::new(
            ErrorCode::WebhookUrlRefused,
            format!("the URL is longer than {MAX_URL} bytes"),
        ));
    }
    wh.policy
        .check_url(url)
        .map(drop)
        .map_err(|why| ApiError::new(ErrorCode::WebhookUrlRefused, why))
}

fn check_types(types: &[String]) -> Result<Vec<String>, ApiError> {
    if types.is_empty() {
        return Err(ApiError::new(
            ErrorCode::WebhookEventTypeUnknown,
            "list at least one event type, or \"*\" for every type",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if t != "*" && EventType::parse(t).is_none() {
            return Err(ApiError::new(
                ErrorCode::WebhookEventTypeUnknown,
                format!("`{t}` is not an event type; GET /api/v1/webhooks/event-types lists them"),
            ));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out.sort();
    Ok(out)
}

fn check_description(d: &str) -> Result<(), ApiError> {
    if d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control) {
        return Err(invalid(format!(
            "the description has at most {MAX_DESCRIPTION} characters and no control characters"
        )));
    }
    Ok(())
}

/// The API's view of a subscription.
pub fn view(r: &SubscriptionRecord) -> SubscriptionView {
    SubscriptionView {
        id: r.id.clone(),
        workspace_id: r.workspace_id.clone(),
        url: r.url.clone(),
        event_types: r.event_types.clone(),
        description: r.description.clone(),
        enabled: r.enabled,
        disabled_reason: r.disabled_reason,
        consecutive_failures: r.consecutive_failures,
        secrets: r
            .secrets
            .iter()
            .map(|s| SigningSecretView {
                id: s.id.clone(),
                fingerprint: s.fingerprint.clone(),
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect(),
        created_by: r.created_by.clone(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// A new secret for `subscription_id`: its clear value, its reference and its sealed record.
fn new_secret(
    wh: &Webhooks,
    workspace_id: &str,
    subscription_id: &str,
) -> Result<(String, SigningSecretRef, acorn_store::SecretRecord), ApiError> {
    let value = signing::new_secret();
    let id = format!("whs_{}", hex::encode(crate::tls::pki::random_bytes::<8>()));
    let name = format!("webhook/{subscription_id}/{id}");
    let sealed = wh
        .gateway
        .secrets
        .seal(workspace_id, &name, value.as_bytes())
        .map_err(ApiError::internal)?;
    let reference = SigningSecretRef {
        id,
        secret_name: name,
        fingerprint: secrets::fingerprint(value.as_bytes()),
        created_at: util::now_unix(),
        expires_at: None,
    };
    Ok((value, reference, sealed))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::LimitReached { .. } => ApiError::new(
            ErrorCode::WebhookLimitReached,
            format!(
                "the workspace has {MAX_SUBSCRIPTIONS_PER_WORKSPACE} webhook subscriptions; delete one first"
            ),
        ),
        other => other.into(),
    }
}

/// `GET …/webhooks`.
pub async fn list(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
) -> Result<Vec<SubscriptionView>, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    Ok(wh
        .store
        .webhook_subscriptions(workspace_id)?
        .iter()
        .map(view)
        .collect())
}

/// `POST …/webhooks`: the subscription and its secret (shown once).
pub async fn create(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    body: CreateSubscription,
) -> Result<SubscriptionCreated, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    check_url(wh, &body.url)?;
    let event_types = check_types(&body.event_types)?;
    check_description(&body.description)?;
    let id = format!("whk_{}", hex::encode(crate::tls::pki::random_bytes::<8>()));
    let (secret, reference, sealed) = new_secret(wh, workspace_id, &id)?;
    let now = util::now_unix();
    let record = SubscriptionRecord {
        id: id.clone(),
        workspace_id: workspace_id.to_owned(),
        url: body.url.clone(),
        event_types,
        description: body.description,
        enabled: body.enabled.unwrap_or(true),
        disabled_reason: (!body.enabled.unwrap_or(true)).then_some(DisabledReason::Manual),
        consecutive_failures: 0,
        secrets: vec![reference],
        created_by: caller.user.id.clone(),
        created_at: now,
        updated_at: now,
    };
    let audit = with_meta(
        audit(caller, workspace_id, "webhook.create", &id),
        "url",
        &body.url,
    );
    let stored = wh
        .store
        .put_webhook_subscription(
            record,
            vec![sealed],
            true,
            MAX_SUBSCRIPTIONS_PER_WORKSPACE,
            audit,
        )
        .await
        .map_err(store_error)?;
    Ok(SubscriptionCreated {
        subscription: view(&stored),
        secret,
    })
}

fn find(wh: &Webhooks, workspace_id: &str, id: &str) -> Result<SubscriptionRecord, ApiError> {
    wh.store
        .webhook_subscription(workspace_id, id)?
        .ok_or_else(|| ApiError::not_found("webhook subscription"))
}

/// `GET …/webhooks/{id}`.
pub async fn get(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<SubscriptionView, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    Ok(view(&find(wh, workspace_id, id)?))
}

/// `PATCH …/webhooks/{id}`. Enabling resets the failure count (and an auto-disable).
pub async fn update(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
    body: UpdateSubscription,
) -> Result<SubscriptionView, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    let mut record = find(wh, workspace_id, id)?;
    let mut audit = audit(caller, workspace_id, "webhook.update", id);
    if let Some(url) = body.url {
        check_url(wh, &url)?;
        audit = with_meta(audit, "url", &url);
        record.url = url;
    }
    if let Some(types) = body.event_types {
        record.event_types = check_types(&types)?;
    }
    if let Some(d) = body.description {
        check_description(&d)?;
        record.description = d;
    }
    if let Some(enabled) = body.enabled {
        audit = with_meta(audit, "enabled", &enabled.to_string());
        record.enabled = enabled;
        if enabled {
            record.disabled_reason = None;
            record.consecutive_failures = 0;
        } else {
            record.disabled_reason = Some(DisabledReason::Manual);
        }
    }
    record.updated_at = util::now_unix();
    let stored = wh
        .store
        .put_webhook_subscription(
            record,
            Vec::new(),
            false,
            MAX_SUBSCRIPTIONS_PER_WORKSPACE,
            audit,
        )
        .await
        .map_err(store_error)?;
    Ok(view(&stored))
}

/// `DELETE …/webhooks/{id}`: with its secrets and delivery log.
pub async fn delete(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<(), ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    wh.store
        .delete_webhook_subscription(
            workspace_id,
            id,
            audit(caller, workspace_id, "webhook.delete", id),
        )
        .await?;
    Ok(())
}

/// `POST …/webhooks/{id}/secret/rotate`: a new secret (shown once); the previous one keeps
/// signing beside it for the overlap.
pub async fn rotate_secret(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
    body: RotateSecret,
) -> Result<SecretRotated, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    let overlap = body
        .overlap_seconds
        .unwrap_or(wh.config.secret_overlap.as_secs());
    if overlap > 7 * 24 * 3600 {
        return Err(invalid("overlap_seconds is at most 604800 (7 days)"));
    }
    let mut record = find(wh, workspace_id, id)?;
    let now = util::now_unix();
    let until = now + i64::try_from(overlap).unwrap_or(0);
    // Only the current secret gets an overlap; older ones end now (one rotation at a time).
    let mut kept = Vec::new();
    for (i, mut s) in record.secrets.drain(..).enumerate() {
        if i == 0 && overlap > 0 {
            s.expires_at = Some(until);
            kept.push(s);
        }
    }
    let (secret, reference, sealed) = new_secret(wh, workspace_id, id)?;
    record.secrets = std::iter::once(reference).chain(kept).collect();
    record.updated_at = now;
    let audit = with_meta(
        audit(caller, workspace_id, "webhook.secret_rotated", id),
        "overlap_seconds",
        &overlap.to_string(),
    );
    let stored = wh
        .store
        .put_webhook_subscription(
            record,
            vec![sealed],
            false,
            MAX_SUBSCRIPTIONS_PER_WORKSPACE,
            audit,
        )
        .await
        .map_err(store_error)?;
    Ok(SecretRotated {
        subscription: view(&stored),
        secret,
    })
}

/// The API's view of a delivery.
pub fn delivery_view(d: &DeliveryRecord) -> DeliveryView {
    DeliveryView {
        id: d.id.clone(),
        subscription_id: d.subscription_id.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        state: d.state,
        created_at_ms: d.created_at_ms,
        next_attempt_at_ms: d.next_attempt_at_ms,
        redelivery: d.redelivery,
        attempts: d.attempts.clone(),
    }
}

/// `GET …/webhooks/{id}/deliveries`: newest first; `cursor` is the last id of the previous page.
pub async fn deliveries(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Page<DeliveryView>, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    find(wh, workspace_id, id)?;
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "`limit` must be between 1 and 500",
        ));
    }
    if cursor.is_some_and(|c| !c.starts_with("dlv_") || c.contains('\0')) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "`cursor` is not a cursor from a previous page",
        ));
    }
    let items = wh.store.webhook_deliveries(id, cursor, limit + 1)?;
    let more = items.len() > limit;
    let items: Vec<DeliveryView> = items.iter().take(limit).map(delivery_view).collect();
    let next_cursor = more.then(|| items.last().map(|d| d.id.clone())).flatten();
    Ok(Page { items, next_cursor })
}

/// `GET …/webhooks/{id}/deliveries/{delivery_id}`.
pub async fn delivery(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
    delivery_id: &str,
) -> Result<DeliveryView, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    find(wh, workspace_id, id)?;
    let d = wh
        .store
        .webhook_delivery(id, delivery_id)?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok(delivery_view(&d))
}

/// `POST …/deliveries/{delivery_id}/redeliver`: the same event (same `webhook-id`) again.
pub async fn redeliver(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
    delivery_id: &str,
) -> Result<DeliveryQueued, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    let d = wh
        .store
        .redeliver_webhook(
            workspace_id,
            id,
            delivery_id,
            with_meta(
                audit(caller, workspace_id, "webhook.redeliver", id),
                "delivery",
                delivery_id,
            ),
        )
        .await?;
    Ok(DeliveryQueued {
        delivery: delivery_view(&d),
    })
}

/// `POST …/webhooks/{id}/test`: a `webhook.test` event for this subscription only.
pub async fn test(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<DeliveryQueued, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    let data = serde_json::to_value(TestEventData {
        subscription_id: id.to_owned(),
        message: "a test event sent from Acorn".into(),
    })
    .map_err(ApiError::internal)?;
    let d = wh.store.queue_test_webhook(workspace_id, id, data).await?;
    Ok(DeliveryQueued {
        delivery: delivery_view(&d),
    })
}

/// `GET …/webhook-events/{event_id}`: the whole payload of an event.
pub async fn event(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    event_id: &str,
) -> Result<EventView, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    let e = wh
        .store
        .webhook_event(event_id)?
        .filter(|e| e.workspace_id == workspace_id)
        .ok_or_else(|| ApiError::not_found("webhook event"))?;
    let payload: WebhookPayload = WebhookPayload {
        id: e.id.clone(),
        event_type: e.event_type.clone(),
        version: e.version,
        timestamp: super::rfc3339_ms(e.occurred_at_ms),
        workspace_id: e.workspace_id.clone(),
        data: e.data,
    };
    Ok(EventView { payload })
}

// ---- receivers --------------------------------------------------------------------------------

/// Where a receiver's source posts.
pub fn receiver_url(wh: &Webhooks, r: &ReceiverRecord) -> String {
    match r.kind {
        ReceiverKind::Alertmanager => format!(
            "{}/api/v1/workspaces/{}/alerts/alertmanager",
            wh.public_base_url, r.workspace_id
        ),
        ReceiverKind::Signed => format!(
            "{}/api/v1/workspaces/{}/alerts/webhook/{}",
            wh.public_base_url, r.workspace_id, r.id
        ),
    }
}

/// The API's view of a receiver.
pub fn receiver_view(wh: &Webhooks, r: &ReceiverRecord) -> ReceiverView {
    ReceiverView {
        id: r.id.clone(),
        workspace_id: r.workspace_id.clone(),
        kind: r.kind,
        name: r.name.clone(),
        cluster_label: r.cluster_label.clone(),
        default_cluster: r.default_cluster.clone(),
        prompt_template: r.prompt_template.clone(),
        max_runs_per_hour: r.max_runs_per_hour,
        url: receiver_url(wh, r),
        fingerprint: r.fingerprint.clone(),
        created_by: r.created_by.clone(),
        created_at: r.created_at,
    }
}

/// `GET …/alert-receivers`.
pub async fn list_receivers(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
) -> Result<Vec<ReceiverView>, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    Ok(wh
        .store
        .alert_receivers(workspace_id)?
        .iter()
        .map(|r| receiver_view(wh, r))
        .collect())
}

/// `POST …/alert-receivers`: the receiver and its bearer token or signing secret (shown once).
pub async fn create_receiver(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    body: CreateReceiver,
) -> Result<ReceiverCreated, ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid(
            "name has 1 to 100 characters and no control characters",
        ));
    }
    let cluster_label = body.cluster_label.unwrap_or_else(|| "cluster".into());
    if cluster_label.is_empty() || cluster_label.len() > 100 {
        return Err(invalid("cluster_label has 1 to 100 characters"));
    }
    let max_runs_per_hour = body.max_runs_per_hour.unwrap_or(20);
    if !(1..=1000).contains(&max_runs_per_hour) {
        return Err(invalid("max_runs_per_hour is 1 to 1000"));
    }
    match (body.kind, &body.prompt_template) {
        (ReceiverKind::Signed, None) => {
            return Err(invalid(
                "a signed receiver needs a prompt_template (the question, with {{field}} placeholders)",
            ));
        }
        (_, Some(t)) if t.trim().is_empty() || t.chars().count() > 4096 => {
            return Err(invalid("prompt_template has 1 to 4096 characters"));
        }
        _ => {}
    }
    if let Some(c) = &body.default_cluster
        && super::alerts::find_cluster(&wh.store, workspace_id, c)?.is_none()
    {
        return Err(ApiError::not_found("cluster (default_cluster)"));
    }
    let id = format!("rcv_{}", hex::encode(crate::tls::pki::random_bytes::<8>()));
    let (credential, token_hash, secret_name, sealed) = match body.kind {
        ReceiverKind::Alertmanager => {
            let token = format!("acr_{}", util::random_token());
            let hash = hex::encode(util::sha256(&token));
            (token, Some(hash), None, None)
        }
        ReceiverKind::Signed => {
            let secret = signing::new_secret();
            let name = format!("receiver/{id}");
            let sealed = wh
                .gateway
                .secrets
                .seal(workspace_id, &name, secret.as_bytes())
                .map_err(ApiError::internal)?;
            (secret, None, Some(name), Some(sealed))
        }
    };
    let record = ReceiverRecord {
        id: id.clone(),
        workspace_id: workspace_id.to_owned(),
        kind: body.kind,
        name,
        cluster_label,
        default_cluster: body.default_cluster,
        prompt_template: body.prompt_template,
        max_runs_per_hour,
        token_hash,
        secret_name,
        fingerprint: secrets::fingerprint(credential.as_bytes()),
        created_by: caller.user.id.clone(),
        created_at: util::now_unix(),
    };
    let stored = wh
        .store
        .create_alert_receiver(
            record,
            sealed,
            audit(caller, workspace_id, "alert_receiver.create", &id),
        )
        .await?;
    Ok(ReceiverCreated {
        receiver: receiver_view(wh, &stored),
        credential,
    })
}

/// `DELETE …/alert-receivers/{id}`.
pub async fn delete_receiver(
    control: &Control,
    wh: &Webhooks,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<(), ApiError> {
    authorize(control, caller, workspace_id, Action::WebhooksManage).await?;
    wh.store
        .delete_alert_receiver(
            workspace_id,
            id,
            audit(caller, workspace_id, "alert_receiver.delete", id),
        )
        .await?;
    Ok(())
}
