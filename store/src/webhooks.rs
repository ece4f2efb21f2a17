//! Webhooks out and alerts in (schema 6): subscriptions, the durable outbox, the delivery log,
//! and the inbound receivers with their deduplication records.
//!
//! # The outbox
//! An event is written by [`emit_in`], **inside the transaction of the change that caused it**:
//! audit records (`audit::append_in`, for the actions that map to an event), run events
//! (`runs::append_events`), sessions, findings records and agent catalogs call it. So a change
//! that committed has its event, and a crash after the commit cannot lose it. `emit_in` reads
//! the workspace's subscriptions in that same transaction and writes, for each enabled one that
//! lists the type, a pending delivery and its queue entry; an event nobody subscribes to writes
//! nothing.
//!
//! Tables:
//! - `webhook_subscriptions`: `workspace 0x00 subscription id` → [`SubscriptionRecord`];
//! - `webhook_events`: `event id` → [`WebhookEventRecord`] (the payload's data, once per event);
//! - `webhook_deliveries`: `subscription id 0x00 delivery id` → [`DeliveryRecord`] (the
//!   delivery log: attempts with status, latency, response excerpt). Delivery ids sort by
//!   creation time;
//! - `webhook_outbox`: `due (big-endian unix ms) delivery id` → [`OutboxEntry`]: the queue of
//!   pending deliveries in due order. A delivery is in the queue exactly while it is pending;
//!   recording an attempt moves or removes its entry in the attempt's transaction;
//! - `alert_receivers`: `workspace 0x00 receiver id` → [`ReceiverRecord`];
//! - `receiver_tokens`: `sha256(bearer token)` → [`ReceiverRef`];
//! - `alert_dedup`: `receiver id 0x00 key` → [`AlertRecord`] (key: an alert's fingerprint, or
//!   `msg:` + a signed webhook's id for replay protection).
//!
//! After a commit that queued a delivery, the writer wakes whoever waits on
//! [`Store::webhook_signal`] (the appliance's dispatcher).

use std::cell::Cell;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};

use acorn_proto::webhooks::{
    AttemptView, DeliveryState, DisabledReason, EventType, PAYLOAD_VERSION, ReceiverKind,
    SessionAlert,
};

use crate::audit::{AuditDraft, append_in, check_draft};
use crate::schema::{
    ALERT_DEDUP, ALERT_RECEIVERS, RECEIVER_TOKENS, SECRETS, WEBHOOK_DELIVERIES, WEBHOOK_EVENTS,
    WEBHOOK_OUTBOX, WEBHOOK_SUBSCRIPTIONS, decode, encode, pair_key, prefix_range, show_key,
};
use crate::store::read_record;
use crate::{SecretRecord, Store, StoreError};

/// A subscription of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    /// `whk_` + hex.
    pub id: String,
    pub workspace_id: String,
    pub url: String,
    /// Event type names, or `*`.
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    #[serde(default)]
    pub disabled_reason: Option<DisabledReason>,
    /// Failed attempts in a row (reset by a success).
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Newest first. Values live in the secrets table (ciphertext only).
    pub secrets: Vec<SigningSecretRef>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SubscriptionRecord {
    /// Whether this subscription receives events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled && self.event_types.iter().any(|t| t == "*" || t == event_type)
    }
}

/// A signing secret of a subscription: where its sealed value is and when it stops signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecretRef {
    /// `whs_` + hex.
    pub id: String,
    /// Its name in the secrets table (scope: the workspace).
    pub secret_name: String,
    pub fingerprint: String,
    pub created_at: i64,
    /// A rotated-out secret signs beside the new one until then.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// An event, recorded once however many subscriptions receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEventRecord {
    /// `evt_` + 12 hex digits of unix ms + 16 random hex digits.
    pub id: String,
    pub workspace_id: String,
    pub event_type: String,
    pub version: u32,
    pub occurred_at_ms: i64,
    pub data: serde_json::Value,
}

/// One delivery of an event to a subscription, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// `dlv_` + 12 hex digits of unix ms + 16 random hex digits.
    pub id: String,
    pub workspace_id: String,
    pub subscription_id: String,
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    pub created_at_ms: i64,
    /// While pending: when the next attempt is due (also its queue key).
    #[serde(default)]
    pub next_attempt_at_ms: Option<i64>,
    #[serde(default)]
    pub redelivery: bool,
    #[serde(default)]
    pub attempts: Vec<AttemptView>,
}

/// A queue entry of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub workspace_id: String,
    pub subscription_id: String,
    pub delivery_id: String,
    pub due_ms: i64,
}

/// What one attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptNext {
    /// 2xx: done.
    Succeeded,
    /// Try again at this unix ms.
    RetryAt(i64),
    /// Done without success (out of attempts or time, or a refusal that retrying cannot fix).
    Failed,
    /// The subscription was disabled or deleted: the delivery is dropped, no attempt made.
    Dropped,
}

/// An attempt to record ([`Store::record_webhook_attempt`]).
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// `None` with [`AttemptNext::Dropped`].
    pub attempt: Option<AttemptView>,
    pub next: AttemptNext,
    /// Disable the subscription now (410 Gone).
    pub disable_now: Option<DisabledReason>,
    /// Disable it when this many attempts in a row have failed (0: never).
    pub disable_after_failures: u32,
    /// The `webhook.disabled` audit record, written if this attempt disables the subscription.
    pub disabled_audit: AuditDraft,
}

/// What recording an attempt did.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecorded {
    pub delivery: Option<DeliveryRecord>,
    /// The subscription was disabled by this attempt.
    pub disabled: Option<DisabledReason>,
}

/// An inbound receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverRecord {
    /// `rcv_` + hex.
    pub id: String,
    pub workspace_id: String,
    pub kind: ReceiverKind,
    pub name: String,
    pub cluster_label: String,
    #[serde(default)]
    pub default_cluster: Option<String>,
    #[serde(default)]
    pub prompt_template: Option<String>,
    pub max_runs_per_hour: u32,
    /// Alertmanager: hex SHA-256 of the bearer token.
    #[serde(default)]
    pub token_hash: Option<String>,
    /// Signed: the name of its secret in the secrets table.
    #[serde(default)]
    pub secret_name: Option<String>,
    pub fingerprint: String,
    pub created_by: String,
    pub created_at: i64,
}

/// Where a receiver token points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverRef {
    pub workspace_id: String,
    pub receiver_id: String,
}

/// What a receiver remembers of an alert (or of a signed message id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub receiver_id: String,
    pub key: String,
    /// `firing`, `resolved`, `starting` (claimed, run not started yet) or `message`.
    pub status: String,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    #[serde(default)]
    pub resolved_at: Option<i64>,
}

/// The answer of [`Store::claim_alert`].
#[derive(Debug, Clone, PartialEq)]
pub enum AlertClaim {
    /// Never seen (or its last start failed): the caller starts the investigation.
    New,
    /// Seen and resolved: the caller starts a new run in its session.
    Refiring(AlertRecord),
    /// Still firing or being started: nothing to do.
    Known(AlertRecord),
}

type Answer<T> = Result<Result<T, StoreError>, StoreError>;

thread_local! {
    /// Set by [`emit_in`] on the writer thread; the writer reads and clears it after a commit to
    /// wake the dispatcher only when a delivery was queued.
    static QUEUED: Cell<bool> = const { Cell::new(false) };
}

/// Whether the jobs applied on this thread since the last call queued a delivery (and clears it).
pub(crate) fn take_queued() -> bool {
    QUEUED.with(|q| q.replace(false))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A time-ordered id: `prefix` + 12 hex digits of unix ms + 16 random hex digits.
pub fn new_ordered_id(prefix: &str, now_ms: i64) -> Result<String, StoreError> {
    let random = crate::identity::new_id("")?;
    Ok(format!("{prefix}{:012x}{random}", now_ms.max(0)))
}

fn outbox_key(due_ms: i64, delivery_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + delivery_id.len());
    k.extend_from_slice(&u64::try_from(due_ms.max(0)).unwrap_or(0).to_be_bytes());
    k.extend_from_slice(delivery_id.as_bytes());
    k
}

/// Checks an outbox key: 8 bytes of due time and a UTF-8 delivery id.
pub(crate) fn check_outbox_key(k: &[u8]) -> Result<(), String> {
    if k.len() <= 8 {
        return Err("key is not `due delivery-id`".into());
    }
    std::str::from_utf8(&k[8..]).map_err(|e| e.to_string())?;
    Ok(())
}

fn not_found(what: &str) -> StoreError {
    StoreError::NotFound {
        what: what.to_string(),
    }
}

pub(crate) fn read<T: serde::de::DeserializeOwned>(
    txn: &WriteTransaction,
    def: crate::schema::Table,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    let table = txn.open_table(def)?;
    read_record(&table, def, key)
}

pub(crate) fn write<T: Serialize>(
    txn: &WriteTransaction,
    def: crate::schema::Table,
    key: &[u8],
    value: &T,
) -> Result<(), StoreError> {
    txn.open_table(def)?
        .insert(key, encode(value)?.as_slice())?;
    Ok(())
}

pub(crate) fn scan<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    def: crate::schema::Table,
    prefix: &str,
) -> Result<Vec<T>, StoreError> {
    use redb::TableHandle;
    let (start, end) = prefix_range(prefix);
    let mut out = Vec::new();
    for entry in table.range(start.as_slice()..end.as_slice())? {
        let (k, v) = entry?;
        out.push(decode(v.value()).map_err(|reason| StoreError::BadRecord {
            table: def.name().to_string(),
            key: show_key(k.value()),
            reason,
        })?);
    }
    Ok(out)
}

/// Queues a delivery of `event` to `sub` (inside the caller's transaction).
fn queue_delivery(
    txn: &WriteTransaction,
    event: &WebhookEventRecord,
    subscription_id: &str,
    at_ms: i64,
    redelivery: bool,
) -> Result<DeliveryRecord, StoreError> {
    let delivery = DeliveryRecord {
        id: new_ordered_id("dlv_", at_ms)?,
        workspace_id: event.workspace_id.clone(),
        subscription_id: subscription_id.to_owned(),
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        state: DeliveryState::Pending,
        created_at_ms: at_ms,
        next_attempt_at_ms: Some(at_ms),
        redelivery,
        attempts: Vec::new(),
    };
    write(
        txn,
        WEBHOOK_DELIVERIES,
        &pair_key(subscription_id, &delivery.id),
        &delivery,
    )?;
    write(
        txn,
        WEBHOOK_OUTBOX,
        &outbox_key(at_ms, &delivery.id),
        &OutboxEntry {
            workspace_id: event.workspace_id.clone(),
            subscription_id: subscription_id.to_owned(),
            delivery_id: delivery.id.clone(),
            due_ms: at_ms,
        },
    )?;
    QUEUED.with(|q| q.set(true));
    Ok(delivery)
}

/// Records `event_type` with `data` for the workspace's subscribers, inside the transaction of
/// the change that caused it (see the module docs). Writes nothing when nobody subscribes.
pub(crate) fn emit_in(
    txn: &WriteTransaction,
    workspace_id: &str,
    event_type: EventType,
    data: &impl Serialize,
) -> Result<(), StoreError> {
    let subscribers: Vec<String> = {
        let table = txn.open_table(WEBHOOK_SUBSCRIPTIONS)?;
        scan::<SubscriptionRecord>(&table, WEBHOOK_SUBSCRIPTIONS, workspace_id)?
            .into_iter()
            .filter(|s| s.wants(event_type.as_str()))
            .map(|s| s.id)
            .collect()
    };
    if subscribers.is_empty() {
        return Ok(());
    }
    let at_ms = now_ms();
    let event = WebhookEventRecord {
        id: new_ordered_id("evt_", at_ms)?,
        workspace_id: workspace_id.to_owned(),
        event_type: event_type.as_str().to_owned(),
        version: PAYLOAD_VERSION,
        occurred_at_ms: at_ms,
        data: serde_json::to_value(data).map_err(|e| StoreError::Encode(e.to_string()))?,
    };
    write(txn, WEBHOOK_EVENTS, event.id.as_bytes(), &event)?;
    for sub in subscribers {
        queue_delivery(txn, &event, &sub, at_ms, false)?;
    }
    Ok(())
}

/// Removes a subscription's deliveries and queue entries (deletion).
fn delete_deliveries_of(txn: &WriteTransaction, subscription_id: &str) -> Result<(), StoreError> {
    let deliveries: Vec<DeliveryRecord> = {
        let table = txn.open_table(WEBHOOK_DELIVERIES)?;
        scan(&table, WEBHOOK_DELIVERIES, subscription_id)?
    };
    let mut table = txn.open_table(WEBHOOK_DELIVERIES)?;
    let mut outbox = txn.open_table(WEBHOOK_OUTBOX)?;
    for d in deliveries {
        if let Some(due) = d.next_attempt_at_ms {
            outbox.remove(outbox_key(due, &d.id).as_slice())?;
        }
        table.remove(pair_key(subscription_id, &d.id).as_slice())?;
    }
    Ok(())
}

/// Removes a deleted workspace's subscriptions (with their deliveries), receivers (with their
/// tokens and dedup records), inside the workspace deletion's transaction. Their secrets go
/// with the workspace's other secrets.
pub(crate) fn delete_workspace_records(
    txn: &WriteTransaction,
    workspace_id: &str,
) -> Result<(), StoreError> {
    let subs: Vec<SubscriptionRecord> = {
        let table = txn.open_table(WEBHOOK_SUBSCRIPTIONS)?;
        scan(&table, WEBHOOK_SUBSCRIPTIONS, workspace_id)?
    };
    for s in subs {
        delete_deliveries_of(txn, &s.id)?;
        txn.open_table(WEBHOOK_SUBSCRIPTIONS)?
            .remove(pair_key(workspace_id, &s.id).as_slice())?;
    }
    let receivers: Vec<ReceiverRecord> = {
        let table = txn.open_table(ALERT_RECEIVERS)?;
        scan(&table, ALERT_RECEIVERS, workspace_id)?
    };
    for r in receivers {
        remove_receiver(txn, &r)?;
    }
    Ok(())
}

fn remove_receiver(txn: &WriteTransaction, r: &ReceiverRecord) -> Result<(), StoreError> {
    if let Some(hash) = r.token_hash.as_deref().and_then(|h| hex::decode(h).ok()) {
        txn.open_table(RECEIVER_TOKENS)?.remove(hash.as_slice())?;
    }
    let keys: Vec<Vec<u8>> = {
        let table = txn.open_table(ALERT_DEDUP)?;
        let (start, end) = prefix_range(&r.id);
        table
            .range(start.as_slice()..end.as_slice())?
            .map(|e| e.map(|(k, _)| k.value().to_vec()))
            .collect::<Result<_, _>>()?
    };
    let mut dedup = txn.open_table(ALERT_DEDUP)?;
    for k in keys {
        dedup.remove(k.as_slice())?;
    }
    drop(dedup);
    if let Some(name) = &r.secret_name {
        txn.open_table(SECRETS)?
            .remove(pair_key(&r.workspace_id, name).as_slice())?;
    }
    txn.open_table(ALERT_RECEIVERS)?
        .remove(pair_key(&r.workspace_id, &r.id).as_slice())?;
    Ok(())
}

impl Store {
    // ---- subscriptions ------------------------------------------------------------------------

    /// Stores a new subscription (refused past `max_per_workspace`) or replaces one, with new
    /// sealed secrets, retiring the secrets no longer referenced, and its audit record.
    pub async fn put_webhook_subscription(
        &self,
        record: SubscriptionRecord,
        secrets: Vec<SecretRecord>,
        create: bool,
        max_per_workspace: usize,
        audit: AuditDraft,
    ) -> Result<SubscriptionRecord, StoreError> {
        check_draft(&audit)?;
        self.submit(move |txn| -> Answer<SubscriptionRecord> {
            let key = pair_key(&record.workspace_id, &record.id);
            let existing: Option<SubscriptionRecord> = read(txn, WEBHOOK_SUBSCRIPTIONS, &key)?;
            if create {
                let count = {
                    let table = txn.open_table(WEBHOOK_SUBSCRIPTIONS)?;
                    scan::<SubscriptionRecord>(&table, WEBHOOK_SUBSCRIPTIONS, &record.workspace_id)?
                        .len()
                };
                if count >= max_per_workspace {
                    return Ok(Err(StoreError::LimitReached {
                        what: format!("{max_per_workspace} webhook subscriptions"),
                    }));
                }
            } else if existing.is_none() {
                return Ok(Err(not_found("webhook subscription")));
            }
            if let Some(old) = &existing {
                let mut table = txn.open_table(SECRETS)?;
                for s in &old.secrets {
                    if !record
                        .secrets
                        .iter()
                        .any(|n| n.secret_name == s.secret_name)
                    {
                        table.remove(pair_key(&record.workspace_id, &s.secret_name).as_slice())?;
                    }
                }
            }
            {
                let mut table = txn.open_table(SECRETS)?;
                for s in &secrets {
                    table.insert(
                        pair_key(&s.scope, &s.name).as_slice(),
                        encode(s)?.as_slice(),
                    )?;
                }
            }
            write(txn, WEBHOOK_SUBSCRIPTIONS, &key, &record)?;
            append_in(txn, &audit)?;
            Ok(Ok(record.clone()))
        })
        .await?
    }

    /// One subscription.
    pub fn webhook_subscription(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.get_record(WEBHOOK_SUBSCRIPTIONS, &pair_key(workspace_id, id))
    }

    /// The subscriptions of a workspace, oldest id first.
    pub fn webhook_subscriptions(
        &self,
        workspace_id: &str,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(WEBHOOK_SUBSCRIPTIONS)?;
        scan(&table, WEBHOOK_SUBSCRIPTIONS, workspace_id)
    }

    /// Deletes a subscription with its secrets, deliveries and queue entries.
    pub async fn delete_webhook_subscription(
        &self,
        workspace_id: &str,
        id: &str,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        check_draft(&audit)?;
        let (ws, id) = (workspace_id.to_owned(), id.to_owned());
        self.submit(move |txn| -> Answer<()> {
            let key = pair_key(&ws, &id);
            let Some(sub) = read::<SubscriptionRecord>(txn, WEBHOOK_SUBSCRIPTIONS, &key)? else {
                return Ok(Err(not_found("webhook subscription")));
            };
            {
                let mut table = txn.open_table(SECRETS)?;
                for s in &sub.secrets {
                    table.remove(pair_key(&ws, &s.secret_name).as_slice())?;
                }
            }
            delete_deliveries_of(txn, &id)?;
            txn.open_table(WEBHOOK_SUBSCRIPTIONS)?
                .remove(key.as_slice())?;
            append_in(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    // ---- events and deliveries -------------------------------------------------------------

    /// Records `data` as an event of `event_type` for the workspace's subscribers (events that
    /// have no store change of their own; the others are emitted inside their change).
    pub async fn emit_webhook_event(
        &self,
        workspace_id: &str,
        event_type: EventType,
        data: serde_json::Value,
    ) -> Result<(), StoreError> {
        let ws = workspace_id.to_owned();
        self.submit(move |txn| emit_in(txn, &ws, event_type, &data))
            .await
    }

    /// Queues a `webhook.test` event for one subscription only (enabled or not: testing is how
    /// one checks an endpoint before re-enabling it).
    pub async fn queue_test_webhook(
        &self,
        workspace_id: &str,
        subscription_id: &str,
        data: serde_json::Value,
    ) -> Result<DeliveryRecord, StoreError> {
        let (ws, sub) = (workspace_id.to_owned(), subscription_id.to_owned());
        self.submit(move |txn| -> Answer<DeliveryRecord> {
            if read::<SubscriptionRecord>(txn, WEBHOOK_SUBSCRIPTIONS, &pair_key(&ws, &sub))?
                .is_none()
            {
                return Ok(Err(not_found("webhook subscription")));
            }
            let at_ms = now_ms();
            let event = WebhookEventRecord {
                id: new_ordered_id("evt_", at_ms)?,
                workspace_id: ws.clone(),
                event_type: EventType::WebhookTest.as_str().to_owned(),
                version: PAYLOAD_VERSION,
                occurred_at_ms: at_ms,
                data: data.clone(),
            };
            write(txn, WEBHOOK_EVENTS, event.id.as_bytes(), &event)?;
            Ok(Ok(queue_delivery(txn, &event, &sub, at_ms, false)?))
        })
        .await?
    }

    /// Queues the event of an earlier delivery again, as a new delivery (manual redelivery).
    pub async fn redeliver_webhook(
        &self,
        workspace_id: &str,
        subscription_id: &str,
        delivery_id: &str,
        audit: AuditDraft,
    ) -> Result<DeliveryRecord, StoreError> {
        check_draft(&audit)?;
        let (ws, sub, id) = (
            workspace_id.to_owned(),
            subscription_id.to_owned(),
            delivery_id.to_owned(),
        );
        self.submit(move |txn| -> Answer<DeliveryRecord> {
            if read::<SubscriptionRecord>(txn, WEBHOOK_SUBSCRIPTIONS, &pair_key(&ws, &sub))?
                .is_none()
            {
                return Ok(Err(not_found("webhook subscription")));
            }
            let Some(old) = read::<DeliveryRecord>(txn, WEBHOOK_DELIVERIES, &pair_key(&sub, &id))?
            else {
                return Ok(Err(not_found("delivery")));
            };
            let Some(event) =
                read::<WebhookEventRecord>(txn, WEBHOOK_EVENTS, old.event_id.as_bytes())?
            else {
                return Ok(Err(not_found("event (past retention)")));
            };
            let delivery = queue_delivery(txn, &event, &sub, now_ms(), true)?;
            append_in(txn, &audit)?;
            Ok(Ok(delivery))
        })
        .await?
    }

    /// An event.
    pub fn webhook_event(&self, event_id: &str) -> Result<Option<WebhookEventRecord>, StoreError> {
        self.get_record(WEBHOOK_EVENTS, event_id.as_bytes())
    }

    /// One delivery of a subscription.
    pub fn webhook_delivery(
        &self,
        subscription_id: &str,
        delivery_id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        self.get_record(WEBHOOK_DELIVERIES, &pair_key(subscription_id, delivery_id))
    }

    /// The deliveries of a subscription, newest first, at most `limit`, older than `before`
    /// (a delivery id: the cursor).
    pub fn webhook_deliveries(
        &self,
        subscription_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(WEBHOOK_DELIVERIES)?;
        let (start, end) = prefix_range(subscription_id);
        let end = match before {
            Some(b) => pair_key(subscription_id, b),
            None => end,
        };
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..end.as_slice())?.rev() {
            let (k, _) = entry?;
            if let Some(d) = read_record(&table, WEBHOOK_DELIVERIES, k.value())? {
                out.push(d);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `limit` queue entries due at `now_ms` or earlier, in due order, skipping
    /// `exclude` (deliveries already in flight).
    pub fn due_webhook_deliveries(
        &self,
        now_ms: i64,
        limit: usize,
        exclude: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(WEBHOOK_OUTBOX)?;
        let end = outbox_key(now_ms.saturating_add(1), "");
        let mut out = Vec::new();
        for entry in table.range(..end.as_slice())? {
            let (k, _) = entry?;
            let Some(e) = read_record::<OutboxEntry>(&table, WEBHOOK_OUTBOX, k.value())? else {
                continue;
            };
            if exclude(&e.delivery_id) {
                continue;
            }
            out.push(e);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// When the first queued delivery is due (unix ms), if any.
    pub fn next_webhook_due_ms(&self) -> Result<Option<i64>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(WEBHOOK_OUTBOX)?;
        Ok(match table.first()? {
            Some((_, v)) => decode::<OutboxEntry>(v.value()).ok().map(|e| e.due_ms),
            None => None,
        })
    }

    /// Deliveries waiting in the outbox (metrics, tests).
    pub fn webhook_outbox_len(&self) -> Result<u64, StoreError> {
        let txn = self.db().begin_read()?;
        Ok(txn.open_table(WEBHOOK_OUTBOX)?.len()?)
    }

    /// Records an attempt of the delivery behind `entry`: the attempt joins the delivery log,
    /// the queue entry moves (retry) or goes, and the subscription's failure count changes —
    /// disabling it (with the `webhook.disabled` audit record) at the threshold or on 410. One
    /// transaction.
    pub async fn record_webhook_attempt(
        &self,
        entry: OutboxEntry,
        outcome: AttemptOutcome,
    ) -> Result<AttemptRecorded, StoreError> {
        check_draft(&outcome.disabled_audit)?;
        self.submit(move |txn| -> Answer<AttemptRecorded> {
            let dkey = pair_key(&entry.subscription_id, &entry.delivery_id);
            txn.open_table(WEBHOOK_OUTBOX)?
                .remove(outbox_key(entry.due_ms, &entry.delivery_id).as_slice())?;
            let Some(mut delivery) = read::<DeliveryRecord>(txn, WEBHOOK_DELIVERIES, &dkey)? else {
                return Ok(Ok(AttemptRecorded {
                    delivery: None,
                    disabled: None,
                }));
            };
            if delivery.state != DeliveryState::Pending {
                return Ok(Ok(AttemptRecorded {
                    delivery: Some(delivery),
                    disabled: None,
                }));
            }
            if let Some(a) = &outcome.attempt {
                delivery.attempts.push(a.clone());
            }
            delivery.next_attempt_at_ms = None;
            delivery.state = match outcome.next {
                AttemptNext::Succeeded => DeliveryState::Succeeded,
                AttemptNext::Failed => DeliveryState::Failed,
                AttemptNext::Dropped => DeliveryState::Dropped,
                AttemptNext::RetryAt(at) => {
                    delivery.next_attempt_at_ms = Some(at);
                    write(
                        txn,
                        WEBHOOK_OUTBOX,
                        &outbox_key(at, &delivery.id),
                        &OutboxEntry {
                            due_ms: at,
                            ..entry.clone()
                        },
                    )?;
                    DeliveryState::Pending
                }
            };
            write(txn, WEBHOOK_DELIVERIES, &dkey, &delivery)?;
            let mut disabled = None;
            let skey = pair_key(&entry.workspace_id, &entry.subscription_id);
            if outcome.next != AttemptNext::Dropped
                && let Some(mut sub) =
                    read::<SubscriptionRecord>(txn, WEBHOOK_SUBSCRIPTIONS, &skey)?
            {
                if outcome.next == AttemptNext::Succeeded {
                    sub.consecutive_failures = 0;
                } else {
                    sub.consecutive_failures = sub.consecutive_failures.saturating_add(1);
                }
                let reason = outcome.disable_now.or_else(|| {
                    (outcome.disable_after_failures > 0
                        && sub.consecutive_failures >= outcome.disable_after_failures)
                        .then_some(DisabledReason::Failing)
                });
                if let Some(reason) = reason
                    && sub.enabled
                {
                    sub.enabled = false;
                    sub.disabled_reason = Some(reason);
                    sub.updated_at = crate::unix_now();
                    let mut audit = outcome.disabled_audit.clone();
                    audit.metadata.insert(
                        "reason".into(),
                        match reason {
                            DisabledReason::Gone => "gone",
                            DisabledReason::Failing => "failing",
                            DisabledReason::Manual => "manual",
                        }
                        .into(),
                    );
                    audit.metadata.insert(
                        "consecutive_failures".into(),
                        sub.consecutive_failures.to_string(),
                    );
                    append_in(txn, &audit)?;
                    disabled = Some(reason);
                }
                write(txn, WEBHOOK_SUBSCRIPTIONS, &skey, &sub)?;
            }
            Ok(Ok(AttemptRecorded {
                delivery: Some(delivery),
                disabled,
            }))
        })
        .await?
    }

    /// Deletes finished deliveries created before `before_ms`, and events older than that which
    /// no pending delivery needs. Returns how many records went.
    pub async fn prune_webhook_log(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.submit(move |txn| {
            let mut removed = 0;
            let mut pending_events = std::collections::HashSet::new();
            let old: Vec<Vec<u8>> = {
                let table = txn.open_table(WEBHOOK_DELIVERIES)?;
                let mut old = Vec::new();
                for entry in table.iter()? {
                    let (k, v) = entry?;
                    let Ok(d) = decode::<DeliveryRecord>(v.value()) else {
                        continue;
                    };
                    if d.state == DeliveryState::Pending {
                        pending_events.insert(d.event_id);
                    } else if d.created_at_ms < before_ms {
                        old.push(k.value().to_vec());
                    }
                }
                old
            };
            let mut table = txn.open_table(WEBHOOK_DELIVERIES)?;
            for k in old {
                table.remove(k.as_slice())?;
                removed += 1;
            }
            drop(table);
            let events: Vec<Vec<u8>> = {
                let table = txn.open_table(WEBHOOK_EVENTS)?;
                let mut out = Vec::new();
                for entry in table.iter()? {
                    let (k, v) = entry?;
                    if let Ok(e) = decode::<WebhookEventRecord>(v.value())
                        && e.occurred_at_ms < before_ms
                        && !pending_events.contains(&e.id)
                    {
                        out.push(k.value().to_vec());
                    }
                }
                out
            };
            let mut table = txn.open_table(WEBHOOK_EVENTS)?;
            for k in events {
                table.remove(k.as_slice())?;
                removed += 1;
            }
            Ok(removed)
        })
        .await
    }

    // ---- receivers ---------------------------------------------------------------------------

    /// Stores a new receiver with its token hash (Alertmanager) or sealed secret (signed).
    pub async fn create_alert_receiver(
        &self,
        record: ReceiverRecord,
        secret: Option<SecretRecord>,
        audit: AuditDraft,
    ) -> Result<ReceiverRecord, StoreError> {
        check_draft(&audit)?;
        self.submit(move |txn| -> Answer<ReceiverRecord> {
            if let Some(hash) = record.token_hash.as_deref() {
                let hash = hex::decode(hash).map_err(|e| StoreError::Encode(e.to_string()))?;
                write(
                    txn,
                    RECEIVER_TOKENS,
                    &hash,
                    &ReceiverRef {
                        workspace_id: record.workspace_id.clone(),
                        receiver_id: record.id.clone(),
                    },
                )?;
            }
            if let Some(s) = &secret {
                write(txn, SECRETS, &pair_key(&s.scope, &s.name), s)?;
            }
            write(
                txn,
                ALERT_RECEIVERS,
                &pair_key(&record.workspace_id, &record.id),
                &record,
            )?;
            append_in(txn, &audit)?;
            Ok(Ok(record.clone()))
        })
        .await?
    }

    /// One receiver.
    pub fn alert_receiver(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<ReceiverRecord>, StoreError> {
        self.get_record(ALERT_RECEIVERS, &pair_key(workspace_id, id))
    }

    /// The receivers of a workspace.
    pub fn alert_receivers(&self, workspace_id: &str) -> Result<Vec<ReceiverRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(ALERT_RECEIVERS)?;
        scan(&table, ALERT_RECEIVERS, workspace_id)
    }

    /// The receiver a bearer token (its SHA-256) belongs to.
    pub fn alert_receiver_by_token(
        &self,
        token_hash: [u8; 32],
    ) -> Result<Option<ReceiverRecord>, StoreError> {
        let Some(r) = self.get_record::<ReceiverRef>(RECEIVER_TOKENS, &token_hash)? else {
            return Ok(None);
        };
        self.alert_receiver(&r.workspace_id, &r.receiver_id)
    }

    /// Deletes a receiver with its token, secret and dedup records.
    pub async fn delete_alert_receiver(
        &self,
        workspace_id: &str,
        id: &str,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        check_draft(&audit)?;
        let (ws, id) = (workspace_id.to_owned(), id.to_owned());
        self.submit(move |txn| -> Answer<()> {
            let Some(r) = read::<ReceiverRecord>(txn, ALERT_RECEIVERS, &pair_key(&ws, &id))? else {
                return Ok(Err(not_found("alert receiver")));
            };
            remove_receiver(txn, &r)?;
            append_in(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    /// Claims an alert's fingerprint for an investigation (one transaction, so two posts of the
    /// same alert cannot both start one).
    pub async fn claim_alert(
        &self,
        receiver_id: &str,
        fingerprint: &str,
        now: i64,
    ) -> Result<AlertClaim, StoreError> {
        let (rid, fp) = (receiver_id.to_owned(), fingerprint.to_owned());
        self.submit(move |txn| {
            let key = pair_key(&rid, &fp);
            let existing = read::<AlertRecord>(txn, ALERT_DEDUP, &key)?;
            let (claim, mut record) = match existing {
                Some(r) if r.status == "resolved" => (AlertClaim::Refiring(r.clone()), r),
                Some(mut r) => {
                    r.last_seen = now;
                    write(txn, ALERT_DEDUP, &key, &r)?;
                    return Ok(AlertClaim::Known(r));
                }
                None => (
                    AlertClaim::New,
                    AlertRecord {
                        receiver_id: rid.clone(),
                        key: fp.clone(),
                        status: String::new(),
                        session_id: None,
                        run_id: None,
                        first_seen: now,
                        last_seen: now,
                        resolved_at: None,
                    },
                ),
            };
            record.status = "starting".into();
            record.last_seen = now;
            record.resolved_at = None;
            write(txn, ALERT_DEDUP, &key, &record)?;
            Ok(claim)
        })
        .await
    }

    /// Records the session and run started for a claimed alert (`firing`), or forgets the
    /// claim when the start failed (`session` None and no earlier session), so a later post
    /// may try again.
    pub async fn settle_alert(
        &self,
        receiver_id: &str,
        fingerprint: &str,
        started: Option<(String, String)>,
    ) -> Result<(), StoreError> {
        let (rid, fp) = (receiver_id.to_owned(), fingerprint.to_owned());
        self.submit(move |txn| {
            let key = pair_key(&rid, &fp);
            let Some(mut r) = read::<AlertRecord>(txn, ALERT_DEDUP, &key)? else {
                return Ok(());
            };
            match &started {
                Some((session, run)) => {
                    r.status = "firing".into();
                    r.session_id = Some(session.clone());
                    r.run_id = Some(run.clone());
                    write(txn, ALERT_DEDUP, &key, &r)?;
                }
                None if r.session_id.is_some() => {
                    // A re-fire whose run did not start: back to resolved, its session stays.
                    r.status = "resolved".into();
                    write(txn, ALERT_DEDUP, &key, &r)?;
                }
                None => {
                    txn.open_table(ALERT_DEDUP)?.remove(key.as_slice())?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Records that the source resolved an alert: on its dedup record and on its session's
    /// alert. `None` when the alert was never seen firing.
    pub async fn resolve_alert(
        &self,
        workspace_id: &str,
        receiver_id: &str,
        fingerprint: &str,
        at: i64,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let (ws, rid, fp) = (
            workspace_id.to_owned(),
            receiver_id.to_owned(),
            fingerprint.to_owned(),
        );
        self.submit(move |txn| {
            let key = pair_key(&rid, &fp);
            let Some(mut r) = read::<AlertRecord>(txn, ALERT_DEDUP, &key)? else {
                return Ok(None);
            };
            r.status = "resolved".into();
            r.resolved_at = Some(at);
            r.last_seen = at;
            write(txn, ALERT_DEDUP, &key, &r)?;
            if let Some(session_id) = &r.session_id {
                let skey = pair_key(&ws, session_id);
                if let Some(mut s) =
                    read::<crate::SessionRecord>(txn, crate::schema::RUN_SESSIONS, &skey)?
                    && let Some(alert) = &mut s.alert
                {
                    alert.status = "resolved".into();
                    alert.resolved_at = Some(at);
                    s.updated_at = at;
                    write(txn, crate::schema::RUN_SESSIONS, &skey, &s)?;
                }
            }
            Ok(Some(r))
        })
        .await
    }

    /// Marks a signed webhook's message id as seen; `false` when it was already (a replay).
    /// Ids older than `forget_before` are forgotten on the way (their timestamps are refused
    /// anyway).
    pub async fn claim_inbound_message(
        &self,
        receiver_id: &str,
        message_id: &str,
        now: i64,
        forget_before: i64,
    ) -> Result<bool, StoreError> {
        let (rid, mid) = (receiver_id.to_owned(), format!("msg:{message_id}"));
        self.submit(move |txn| {
            let key = pair_key(&rid, &mid);
            if read::<AlertRecord>(txn, ALERT_DEDUP, &key)?.is_some() {
                return Ok(false);
            }
            let stale: Vec<Vec<u8>> = {
                let table = txn.open_table(ALERT_DEDUP)?;
                let (start, end) = (pair_key(&rid, "msg:"), pair_key(&rid, "msg;"));
                let mut out = Vec::new();
                for entry in table.range(start.as_slice()..end.as_slice())? {
                    let (k, v) = entry?;
                    if decode::<AlertRecord>(v.value()).is_ok_and(|r| r.first_seen < forget_before)
                    {
                        out.push(k.value().to_vec());
                    }
                }
                out
            };
            let mut table = txn.open_table(ALERT_DEDUP)?;
            for k in stale {
                table.remove(k.as_slice())?;
            }
            drop(table);
            write(
                txn,
                ALERT_DEDUP,
                &key,
                &AlertRecord {
                    receiver_id: rid.clone(),
                    key: mid.clone(),
                    status: "message".into(),
                    session_id: None,
                    run_id: None,
                    first_seen: now,
                    last_seen: now,
                    resolved_at: None,
                },
            )?;
            Ok(true)
        })
        .await
    }

    /// What a receiver remembers of an alert.
    pub fn alert_record(
        &self,
        receiver_id: &str,
        fingerprint: &str,
    ) -> Result<Option<AlertRecord>, StoreError> {
        self.get_record(ALERT_DEDUP, &pair_key(receiver_id, fingerprint))
    }
}

/// A session's alert as first recorded (`SessionRecord.alert`).
pub fn session_alert(
    receiver_id: &str,
    fingerprint: &str,
    labels: std::collections::BTreeMap<String, String>,
    starts_at: &str,
) -> SessionAlert {
    SessionAlert {
        receiver_id: receiver_id.to_owned(),
        fingerprint: fingerprint.to_owned(),
        status: "firing".into(),
        labels,
        starts_at: starts_at.to_owned(),
        resolved_at: None,
    }
}
