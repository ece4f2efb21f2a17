//! Webhooks out and alerts in (issue #10).
//!
//! **Out.** Events are written by the store into its outbox in the transaction of the change
//! that caused them (`acorn-store` `webhooks.rs`), so nothing here can lose one. This module
//! delivers them: [`Webhooks::spawn`] runs the dispatcher, which reads due deliveries from the
//! outbox (woken by the store after a commit that queued one, and by its own timer for
//! retries) and hands each to a pool of `webhooks.workers` tasks. An attempt signs the payload
//! per Standard Webhooks ([`signing`]), posts it through the egress guard ([`egress`]), and
//! records the outcome in one store write: the delivery log, the next due time or the end, and
//! the subscription's failure count (auto-disable). Delivery is at least once: a crash between
//! the POST and that write sends it again after the restart, with the same `webhook-id`.
//! Deliveries of one endpoint run concurrently and retries reorder them: ordering is not
//! promised.
//!
//! **In.** [`alerts`]: the Alertmanager receiver and signed generic webhooks, which start
//! read-only investigation runs through `control::runs::start_run`.
//!
//! Layout: this file (service, dispatcher, one attempt), [`config`] (`[webhooks]`), [`egress`],
//! [`signing`], [`api`] (the subscriptions, deliveries and receivers services), [`alerts`].
//! What this module must not do: decide who may manage webhooks (that is `control::authz`), or
//! write an event itself outside the store's transactions.

pub mod alerts;
pub mod api;
pub mod config;
pub mod egress;
pub mod signing;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, watch};

use acorn_proto::webhooks::{
    AttemptView, DisabledReason, EventType, MAX_PAYLOAD_BYTES, TruncatedData, WebhookPayload,
};
use acorn_store::{
    Actor, ActorKind, AttemptNext, AttemptOutcome, AuditDraft, AuditResult, Category, Operation,
    OutboxEntry, Store, SubscriptionRecord, WebhookEventRecord,
};

use crate::gateway::Gateway;
use crate::util;
use config::WebhooksConfig;
use egress::{EgressPolicy, GuardedResolver};

/// Bytes of an endpoint's answer kept in the delivery log.
const EXCERPT_BYTES: usize = 256;
/// The dispatcher looks at the outbox at least this often (retries fall due without a commit).
const MAX_IDLE: Duration = Duration::from_secs(1);

/// The outbound webhooks service and the inbound receivers' shared state.
pub struct Webhooks {
    pub store: Store,
    gateway: Arc<Gateway>,
    pub config: WebhooksConfig,
    pub policy: Arc<EgressPolicy>,
    client: reqwest::Client,
    /// `https://host:port`, for links in truncated payloads and receiver URLs.
    pub public_base_url: String,
    /// Deliveries being attempted right now (never twice at once).
    in_flight: Mutex<HashSet<String>>,
    signal: Arc<Notify>,
    /// Rate limits and concurrency of the receivers.
    pub alerts: alerts::AlertLimits,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[error("webhooks: {0}")]
pub struct StartError(String);

impl Webhooks {
    /// Builds the service (its HTTP client: egress guard as resolver, no redirects, no proxy,
    /// the configured timeouts).
    pub fn new(
        store: Store,
        gateway: Arc<Gateway>,
        config: WebhooksConfig,
        public_base_url: String,
    ) -> Result<Arc<Webhooks>, StartError> {
        let policy = Arc::new(EgressPolicy::new(&config.allow_hosts));
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: Arc::clone(&policy),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(format!("Acorn-Webhooks/{}", crate::VERSION))
            .build()
            .map_err(|e| StartError(e.to_string()))?;
        let signal = store.webhook_signal();
        Ok(Arc::new(Webhooks {
            store,
            gateway,
            alerts: alerts::AlertLimits::new(config.alert_max_concurrent),
            config,
            policy,
            client,
            public_base_url,
            in_flight: Mutex::new(HashSet::new()),
            signal,
        }))
    }

    /// Starts the dispatcher and the delivery log's retention, until `shutdown` changes.
    pub fn spawn(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let workers = Arc::new(Semaphore::new(this.config.workers));
            let mut last_prune = Instant::now();
            loop {
                if *shutdown.borrow() {
                    break;
                }
                let dispatched = this.dispatch(&workers).await;
                if last_prune.elapsed() > Duration::from_secs(3600) {
                    last_prune = Instant::now();
                    this.prune().await;
                }
                if dispatched > 0 {
                    continue;
                }
                // Due now but not dispatched means in flight: its attempt's end wakes us.
                let wait = match this.store.next_webhook_due_ms() {
                    Ok(Some(due)) if due > util::now_ms() => {
                        let ms = due.saturating_sub(util::now_ms()).max(5);
                        Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(MAX_IDLE)
                    }
                    _ => MAX_IDLE,
                };
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = this.signal.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            tracing::debug!("webhook dispatcher stopped");
        });
    }

    /// Hands every due delivery that is not in flight to a worker; how many.
    async fn dispatch(self: &Arc<Self>, workers: &Arc<Semaphore>) -> usize {
        let batch = self.config.workers * 4;
        let due = {
            let in_flight = self.in_flight.lock().map(|s| s.clone()).unwrap_or_default();
            match self
                .store
                .due_webhook_deliveries(util::now_ms(), batch, &|id| in_flight.contains(id))
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot read the outbox");
                    return 0;
                }
            }
        };
        let n = due.len();
        for entry in due {
            let Ok(permit) = Arc::clone(workers).acquire_owned().await else {
                return 0;
            };
            if let Ok(mut s) = self.in_flight.lock() {
                s.insert(entry.delivery_id.clone());
            }
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let id = entry.delivery_id.clone();
                this.attempt(entry).await;
                if let Ok(mut s) = this.in_flight.lock() {
                    s.remove(&id);
                }
                drop(permit);
                // A retry may be due sooner than the dispatcher's timer.
                this.signal.notify_one();
            });
        }
        n
    }

    async fn prune(&self) {
        let cutoff = util::now_ms()
            - i64::try_from(self.config.log_retention.as_millis()).unwrap_or(i64::MAX / 2);
        match self.store.prune_webhook_log(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "webhook delivery log past retention removed"),
            Err(e) => tracing::warn!(error = %e, "webhook log retention failed"),
        }
    }

    /// One attempt of one delivery, recorded.
    async fn attempt(&self, entry: OutboxEntry) {
        let outcome = self.try_deliver(&entry).await;
        let next = outcome.next;
        match self
            .store
            .record_webhook_attempt(entry.clone(), outcome)
            .await
        {
            Ok(r) => {
                if let Some(reason) = r.disabled {
                    tracing::warn!(workspace = %entry.workspace_id, subscription = %entry.subscription_id, ?reason, "webhook subscription disabled");
                }
                tracing::debug!(delivery = %entry.delivery_id, ?next, "webhook attempt recorded");
            }
            Err(e) => {
                // The queue entry stays: the delivery is attempted again (at least once).
                tracing::warn!(delivery = %entry.delivery_id, error = %e, "webhooks: cannot record an attempt");
            }
        }
    }

    fn outcome(
        &self,
        entry: &OutboxEntry,
        attempt: Option<AttemptView>,
        next: AttemptNext,
        disable_now: Option<DisabledReason>,
    ) -> AttemptOutcome {
        AttemptOutcome {
            attempt,
            next,
            disable_now,
            disable_after_failures: self.config.disable_after_failures,
            disabled_audit: AuditDraft {
                workspace_id: Some(entry.workspace_id.clone()),
                actor: Actor {
                    kind: ActorKind::System,
                    id: "system:webhooks".into(),
                    display: "webhook delivery".into(),
                },
                action: "webhook.disabled".into(),
                target: Some(entry.subscription_id.clone()),
                result: AuditResult::Success,
                source_ip: None,
                request_id: None,
                operation: Operation::Write,
                category: Category::Workspace,
                metadata: Default::default(),
                at: util::now_unix(),
            },
        }
    }

    /// The payload of an event (its data replaced by a link past [`MAX_PAYLOAD_BYTES`]).
    pub fn payload(&self, event: &WebhookEventRecord) -> Vec<u8> {
        let mut payload = WebhookPayload {
            id: event.id.clone(),
            event_type: event.event_type.clone(),
            version: event.version,
            timestamp: rfc3339_ms(event.occurred_at_ms),
            workspace_id: event.workspace_id.clone(),
            data: event.data.clone(),
        };
        let body = serde_json::to_vec(&payload).unwrap_or_default();
        if body.len() <= MAX_PAYLOAD_BYTES {
            return body;
        }
        payload.data = serde_json::to_value(TruncatedData {
            truncated: true,
            size: body.len(),
            link: format!(
                "{}/api/v1/workspaces/{}/webhook-events/{}",
                self.public_base_url, event.workspace_id, event.id
            ),
        })
        .unwrap_or_default();
        serde_json::to_vec(&payload).unwrap_or_default()
    }

    /// The keys that sign now: the current secret and rotated-out ones still in their overlap.
    fn signing_keys(&self, sub: &SubscriptionRecord, now: i64) -> Result<Vec<Vec<u8>>, String> {
        let mut keys = Vec::new();
        for s in &sub.secrets {
            if s.expires_at.is_some_and(|t| t <= now) {
                continue;
            }
            let record = self
                .store
                .secret(&sub.workspace_id, &s.secret_name)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("signing secret {} is missing", s.id))?;
            let clear = self
                .gateway
                .secrets
                .open_record(&record)
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8(clear).map_err(|_| "signing secret is not text")?;
            keys.push(signing::key_bytes(&text)?);
        }
        if keys.is_empty() {
            return Err("the subscription has no signing secret".into());
        }
        Ok(keys)
    }

    async fn try_deliver(&self, entry: &OutboxEntry) -> AttemptOutcome {
        let dropped = |this: &Self| this.outcome(entry, None, AttemptNext::Dropped, None);
        let sub = match self
            .store
            .webhook_subscription(&entry.workspace_id, &entry.subscription_id)
        {
            Ok(Some(s)) => s,
            Ok(None) => return dropped(self),
            Err(e) => return self.failed_early(entry, 1, format!("store: {e}"), true),
        };
        let delivery = match self
            .store
            .webhook_delivery(&entry.subscription_id, &entry.delivery_id)
        {
            Ok(Some(d)) => d,
            Ok(None) => return dropped(self),
            Err(e) => return self.failed_early(entry, 1, format!("store: {e}"), true),
        };
        // A disabled subscription gets nothing but test events (how one checks an endpoint
        // before enabling it again).
        if !sub.enabled && delivery.event_type != EventType::WebhookTest.as_str() {
            return dropped(self);
        }
        let number = u32::try_from(delivery.attempts.len()).unwrap_or(u32::MAX) + 1;
        let event = match self.store.webhook_event(&delivery.event_id) {
            Ok(Some(e)) => e,
            Ok(None) => return self.failed_early(entry, number, "the event is gone".into(), false),
            Err(e) => return self.failed_early(entry, number, format!("store: {e}"), true),
        };
        let age_ms = util::now_ms().saturating_sub(delivery.created_at_ms);
        if number > 1 && u128::try_from(age_ms).unwrap_or(0) > self.config.max_age.as_millis() {
            return self.failed_early(
                entry,
                number,
                "older than webhooks.max_age; not attempted again".into(),
                false,
            );
        }
        if let Err(why) = self.policy.check_url(&sub.url) {
            return self.failed_early(entry, number, format!("egress refused: {why}"), false);
        }
        let now = util::now_unix();
        let keys = match self.signing_keys(&sub, now) {
            Ok(k) => k,
            Err(why) => return self.failed_early(entry, number, why, false),
        };
        let body = self.payload(&event);
        let signature = signing::signature_header(&keys, &event.id, now, &body);
        let started = Instant::now();
        let at_ms = util::now_ms();
        let sent = self
            .client
            .post(&sub.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut attempt = AttemptView {
            attempt: number,
            at_ms,
            status: None,
            error: None,
            latency_ms: 0,
            response_excerpt: String::new(),
        };
        let (retry, retry_after, disable) = match sent {
            Ok(mut response) => {
                let status = response.status();
                attempt.status = Some(status.as_u16());
                let retry_after = retry_after_secs(response.headers());
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                attempt.response_excerpt = excerpt(&mut response).await;
                attempt.latency_ms = elapsed_ms(started);
                let code = status.as_u16();
                if status.is_success() {
                    return self.outcome(entry, Some(attempt), AttemptNext::Succeeded, None);
                }
                if status.is_redirection() {
                    attempt.error = Some(format!(
                        "redirect to {} not followed; point the subscription at the final URL",
                        location.as_deref().unwrap_or("(no location)")
                    ));
                    (false, None, None)
                } else if code == 410 {
                    attempt.error = Some("410 Gone: the subscription is disabled".into());
                    (false, None, Some(DisabledReason::Gone))
                } else if matches!(code, 408 | 425 | 429) || status.is_server_error() {
                    (true, retry_after, None)
                } else {
                    (false, None, None)
                }
            }
            Err(e) => {
                attempt.latency_ms = elapsed_ms(started);
                let refused = error_chain(&e).contains("egress refused");
                attempt.error = Some(if e.is_timeout() {
                    format!(
                        "timed out (webhooks.connect_timeout {:?}, webhooks.timeout {:?})",
                        self.config.connect_timeout, self.config.timeout
                    )
                } else {
                    error_chain(&e)
                });
                (!refused, None, None)
            }
        };
        let next = if retry && number < self.config.max_attempts {
            let delay = retry_delay(&self.config, number, retry_after);
            let due = util::now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
            let deadline = delivery.created_at_ms
                + i64::try_from(self.config.max_age.as_millis()).unwrap_or(i64::MAX / 2);
            if due > deadline {
                AttemptNext::Failed
            } else {
                AttemptNext::RetryAt(due)
            }
        } else {
            AttemptNext::Failed
        };
        self.outcome(entry, Some(attempt), next, disable)
    }

    /// An attempt that failed before anything was sent. `transient` ones (the store) are
    /// retried soon without counting against the endpoint.
    fn failed_early(
        &self,
        entry: &OutboxEntry,
        number: u32,
        why: String,
        transient: bool,
    ) -> AttemptOutcome {
        tracing::warn!(delivery = %entry.delivery_id, error = %why, "webhook attempt not sent");
        let attempt = AttemptView {
            attempt: number,
            at_ms: util::now_ms(),
            status: None,
            error: Some(why),
            latency_ms: 0,
            response_excerpt: String::new(),
        };
        let next = if transient && number < self.config.max_attempts {
            AttemptNext::RetryAt(util::now_ms() + 1000)
        } else {
            AttemptNext::Failed
        };
        self.outcome(entry, Some(attempt), next, None)
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The error with its causes (reqwest's top-level message hides the reason).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The first [`EXCERPT_BYTES`] of the answer, control characters replaced; the rest is not read.
async fn excerpt(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(EXCERPT_BYTES);
    String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `Retry-After` in seconds: delta-seconds, or an HTTP date.
fn retry_after_secs(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs);
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    u64::try_from(at.unix_timestamp() - util::now_unix()).ok()
}

/// The delay before attempt `number + 1`: `retry_base × 2^(number-1)` up to `retry_max`, with
/// "equal jitter" (uniform in the upper half, so retries of many deliveries spread out but
/// never come sooner than half the step); an endpoint's `Retry-After` wins when longer (up to
/// `retry_max`). Written here rather than taken from a backoff crate because the delay has to
/// combine with `Retry-After` and the delivery's deadline, which those crates do not model.
pub fn retry_delay(config: &WebhooksConfig, number: u32, retry_after: Option<u64>) -> Duration {
    let step = config
        .retry_base
        .saturating_mul(2u32.saturating_pow(number.saturating_sub(1).min(20)))
        .min(config.retry_max);
    let half = step / 2;
    let unit =
        f64::from(u32::from_le_bytes(crate::tls::pki::random_bytes::<4>())) / f64::from(u32::MAX);
    let jittered = half + half.mul_f64(unit);
    match retry_after {
        Some(secs) => jittered.max(Duration::from_secs(secs).min(config.retry_max)),
        None => jittered,
    }
}

/// Unix ms as RFC 3339 with milliseconds (UTC).
fn rfc3339_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| util::rfc3339(ms / 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_with_jitter_and_honour_retry_after() {
        let c = WebhooksConfig {
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            ..WebhooksConfig::default()
        };
        for n in 1..=10u32 {
            let d = retry_delay(&c, n, None);
            let step = Duration::from_secs(2 * 2u64.pow(n - 1)).min(Duration::from_secs(60));
            assert!(d >= step / 2 && d <= step, "attempt {n}: {d:?} of {step:?}");
        }
        assert!(retry_delay(&c, 1, Some(30)) >= Duration::from_secs(30));
        assert_eq!(retry_delay(&c, 1, Some(3600)), Duration::from_secs(60));
    }

    #[test]
    fn payload_timestamps_are_rfc3339_with_milliseconds() {
        assert_eq!(rfc3339_ms(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
    }
}
