//! `[webhooks]`: the egress allow-list, the delivery worker pool, timeouts, retries,
//! auto-disable, signing-secret overlap, delivery-log retention, and the budget of the runs
//! that alert receivers start.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use acorn_proto::runs::RunLimitsInput;

use crate::config::duration_str;

/// Keys settable as `ACORN_WEBHOOKS_<KEY>`.
pub const ENV_KEYS: &[&str] = &[
    "allow_hosts",
    "workers",
    "connect_timeout",
    "timeout",
    "max_attempts",
    "max_age",
    "retry_base",
    "retry_max",
    "disable_after_failures",
    "secret_overlap",
    "log_retention",
    "alert_max_concurrent",
];

/// Outbound webhooks and inbound alert receivers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Hosts (DNS names or IP literals, exactly as in the URL) that webhooks may reach over plain
    /// `http://` and on private, loopback or link-local addresses. Everything else must be
    /// `https://` to a public address. Cloud metadata addresses (169.254.169.254,
    /// fd00:ec2::254, metadata.google.internal, …) are refused even when listed.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Deliveries in flight at once (the worker pool).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Time to open the TCP (and TLS) connection of one attempt.
    #[serde(default = "default_connect_timeout", with = "duration_str")]
    pub connect_timeout: Duration,
    /// Time for one whole attempt (connect, send, answer).
    #[serde(default = "default_timeout", with = "duration_str")]
    pub timeout: Duration,
    /// Attempts of one delivery, at most (1 to 10).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// A delivery still failing this long after its event is marked failed.
    #[serde(default = "default_max_age", with = "duration_str")]
    pub max_age: Duration,
    /// Delay before the first retry; it doubles per attempt (with jitter), up to `retry_max`.
    /// An endpoint's `Retry-After` wins when it asks for longer.
    #[serde(default = "default_retry_base", with = "duration_str")]
    pub retry_base: Duration,
    /// Longest delay between two attempts (also the most of a `Retry-After` honoured).
    #[serde(default = "default_retry_max", with = "duration_str")]
    pub retry_max: Duration,
    /// A subscription whose attempts failed this many times in a row is disabled (with a
    /// `webhook.disabled` audit record); 0 never disables. A 410 Gone disables at once.
    #[serde(default = "default_disable_after_failures")]
    pub disable_after_failures: u32,
    /// How long a rotated-out signing secret keeps signing beside the new one, by default.
    #[serde(default = "default_secret_overlap", with = "duration_str")]
    pub secret_overlap: Duration,
    /// Finished deliveries and their events are kept this long (the delivery log).
    #[serde(default = "default_log_retention", with = "duration_str")]
    pub log_retention: Duration,
    /// Investigation runs started by alert receivers in flight at most, appliance-wide.
    #[serde(default = "default_alert_max_concurrent")]
    pub alert_max_concurrent: usize,
    /// Limits of an alert's investigation run, over the workspace's run limits (and within
    /// `engine.max_limits`): the receivers' own budget.
    #[serde(default = "default_alert_limits")]
    pub alert_limits: RunLimitsInput,
}

fn default_workers() -> usize {
    4
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_timeout() -> Duration {
    Duration::from_secs(15)
}
fn default_max_attempts() -> u32 {
    acorn_proto::webhooks::MAX_ATTEMPTS
}
fn default_max_age() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_retry_base() -> Duration {
    Duration::from_secs(5)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(3600)
}
fn default_disable_after_failures() -> u32 {
    50
}
fn default_secret_overlap() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_log_retention() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_alert_max_concurrent() -> usize {
    4
}
fn default_alert_limits() -> RunLimitsInput {
    RunLimitsInput {
        max_steps: Some(10),
        max_tool_calls: Some(20),
        max_runtime_seconds: Some(300),
        max_cost: Some(0.25),
        ..RunLimitsInput::default()
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            allow_hosts: Vec::new(),
            workers: default_workers(),
            connect_timeout: default_connect_timeout(),
            timeout: default_timeout(),
            max_attempts: default_max_attempts(),
            max_age: default_max_age(),
            retry_base: default_retry_base(),
            retry_max: default_retry_max(),
            disable_after_failures: default_disable_after_failures(),
            secret_overlap: default_secret_overlap(),
            log_retention: default_log_retention(),
            alert_max_concurrent: default_alert_max_concurrent(),
            alert_limits: default_alert_limits(),
        }
    }
}

impl WebhooksConfig {
    /// The first setting that cannot work: `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.workers == 0 || self.workers > 256 {
            return Err(("webhooks.workers", "must be 1 to 256".into()));
        }
        if !(1..=acorn_proto::webhooks::MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err((
                "webhooks.max_attempts",
                format!("must be 1 to {}", acorn_proto::webhooks::MAX_ATTEMPTS),
            ));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(("webhooks.timeout", "timeouts must be above 0".into()));
        }
        if self.connect_timeout > self.timeout {
            return Err((
                "webhooks.connect_timeout",
                "must not be longer than webhooks.timeout".into(),
            ));
        }
        if self.retry_base.is_zero() || self.retry_base > self.retry_max {
            return Err((
                "webhooks.retry_base",
                "must be above 0 and at most webhooks.retry_max".into(),
            ));
        }
        if self.secret_overlap > Duration::from_secs(7 * 24 * 3600) {
            return Err(("webhooks.secret_overlap", "must be at most 7 days".into()));
        }
        for host in &self.allow_hosts {
            if host.is_empty() || host.contains(['/', ' ', '@']) {
                return Err((
                    "webhooks.allow_hosts",
                    format!("`{host}` is not a host name or IP address"),
                ));
            }
        }
        Ok(())
    }
}
