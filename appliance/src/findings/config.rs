//! `[findings]`: how often clusters are re-evaluated, the lifecycle's hysteresis, how long
//! resolved findings stay listed, and the bounds of auto-triage.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use acorn_proto::runs::RunLimitsInput;

use crate::config::duration_str;

/// The findings service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsConfig {
    /// Every cluster is re-evaluated this often even when its picture did not change (rules
    /// that depend on time: a Job past its deadline, a CronJob that stopped scheduling, a
    /// finding that must turn `resolved`).
    #[serde(default = "default_interval", with = "duration_str")]
    pub interval: Duration,
    /// A cluster whose picture changed is re-evaluated at most this often (deltas arrive in
    /// bursts; one evaluation after the burst is enough).
    #[serde(default = "default_debounce", with = "duration_str")]
    pub debounce: Duration,
    /// A finding no longer reported is `recovering`; it turns `resolved` after staying away
    /// this long (a flapping pod keeps one finding).
    #[serde(default = "default_resolve_after", with = "duration_str")]
    pub resolve_after: Duration,
    /// Resolved findings stay listed (`state=resolved`) this long.
    #[serde(default = "default_resolved_retention", with = "duration_str")]
    pub resolved_retention: Duration,
    /// Auto-triage runs (clusters with `auto_triage`) in flight at most, appliance-wide; a
    /// critical finding opened while all are busy waits (in memory) for a free slot.
    #[serde(default = "default_triage_max_concurrent")]
    pub triage_max_concurrent: usize,
    /// Limits of an auto-triage run, over the workspace's run limits (and within
    /// `engine.max_limits`): an unattended investigation gets a smaller budget.
    #[serde(default = "default_triage_limits")]
    pub triage_limits: RunLimitsInput,
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_debounce() -> Duration {
    Duration::from_secs(5)
}
fn default_resolve_after() -> Duration {
    Duration::from_secs(acorn_findings::tracker::DEFAULT_RESOLVE_AFTER_SECS.unsigned_abs())
}
fn default_resolved_retention() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_triage_max_concurrent() -> usize {
    2
}
fn default_triage_limits() -> RunLimitsInput {
    RunLimitsInput {
        max_steps: Some(10),
        max_tool_calls: Some(20),
        max_runtime_seconds: Some(300),
        max_cost: Some(0.25),
        ..RunLimitsInput::default()
    }
}

impl Default for FindingsConfig {
    fn default() -> Self {
        FindingsConfig {
            interval: default_interval(),
            debounce: default_debounce(),
            resolve_after: default_resolve_after(),
            resolved_retention: default_resolved_retention(),
            triage_max_concurrent: default_triage_max_concurrent(),
            triage_limits: default_triage_limits(),
        }
    }
}

impl FindingsConfig {
    /// The first setting that cannot work: `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.interval < Duration::from_secs(1) {
            return Err(("findings.interval", "must be at least 1s"));
        }
        if self.debounce > self.interval {
            return Err((
                "findings.debounce",
                "must not be longer than findings.interval",
            ));
        }
        Ok(())
    }
}
