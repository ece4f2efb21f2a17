//! `[engine]`: the worker pool, approval and tool timeouts, and run limits (defaults and the
//! deployment's upper bounds).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use acorn_proto::runs::{RunLimits, RunLimitsInput};

use crate::config::duration_str;

/// The execution engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Runs executed at the same time; more wait in the queue (fair across workspaces).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Runs waiting at most; beyond it new runs are refused with `engine_busy`.
    #[serde(default = "default_queue_limit")]
    pub queue_limit: usize,
    /// How long a write action waits for a decision before it counts as rejected.
    #[serde(default = "default_approval_timeout", with = "duration_str")]
    pub approval_timeout: Duration,
    /// Longest a single tool call may take.
    #[serde(default = "default_tool_timeout", with = "duration_str")]
    pub tool_timeout: Duration,
    /// Largest tool result given to the model, in bytes; longer ones are cut with a note.
    #[serde(default = "default_result_budget")]
    pub tool_result_budget_bytes: usize,
    /// Provider used when neither the request nor the workspace names one.
    #[serde(default)]
    pub default_provider: Option<String>,
    /// Model used when neither the request nor the workspace names one.
    #[serde(default)]
    pub default_model: Option<String>,
    /// Limits of a run that asks for nothing and whose workspace sets nothing.
    #[serde(default = "default_limits")]
    pub default_limits: RunLimits,
    /// Upper bounds no workspace setting or request may exceed.
    #[serde(default = "max_limits")]
    pub max_limits: RunLimits,
}

fn default_concurrency() -> usize {
    4
}
fn default_queue_limit() -> usize {
    1000
}
fn default_approval_timeout() -> Duration {
    Duration::from_secs(900)
}
fn default_tool_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_result_budget() -> usize {
    16 * 1024
}
fn default_limits() -> RunLimits {
    RunLimits {
        max_steps: 20,
        max_tool_calls: 40,
        max_identical_tool_calls: 2,
        max_context_tokens: 32_000,
        max_output_tokens: 16_000,
        max_runtime_seconds: 600,
        max_cost: 1.0,
    }
}
fn max_limits() -> RunLimits {
    RunLimits {
        max_steps: 100,
        max_tool_calls: 200,
        max_identical_tool_calls: 10,
        max_context_tokens: 1_000_000,
        max_output_tokens: 200_000,
        max_runtime_seconds: 3600,
        max_cost: 20.0,
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            concurrency: default_concurrency(),
            queue_limit: default_queue_limit(),
            approval_timeout: default_approval_timeout(),
            tool_timeout: default_tool_timeout(),
            tool_result_budget_bytes: default_result_budget(),
            default_provider: None,
            default_model: None,
            default_limits: default_limits(),
            max_limits: max_limits(),
        }
    }
}

/// A limit that is zero or above its bound: `(name, value, bound)`.
pub type LimitViolation = (&'static str, String, String);

/// Overlays `input` on `base` and checks every limit against `max` (and against zero).
pub fn resolve_limits(
    base: &RunLimits,
    input: &RunLimitsInput,
    max: &RunLimits,
) -> Result<RunLimits, LimitViolation> {
    let limits = RunLimits {
        max_steps: input.max_steps.unwrap_or(base.max_steps),
        max_tool_calls: input.max_tool_calls.unwrap_or(base.max_tool_calls),
        max_identical_tool_calls: input
            .max_identical_tool_calls
            .unwrap_or(base.max_identical_tool_calls),
        max_context_tokens: input.max_context_tokens.unwrap_or(base.max_context_tokens),
        max_output_tokens: input.max_output_tokens.unwrap_or(base.max_output_tokens),
        max_runtime_seconds: input
            .max_runtime_seconds
            .unwrap_or(base.max_runtime_seconds),
        max_cost: input.max_cost.unwrap_or(base.max_cost),
    };
    let ints: [(&'static str, u64, u64); 6] = [
        ("max_steps", limits.max_steps.into(), max.max_steps.into()),
        (
            "max_tool_calls",
            limits.max_tool_calls.into(),
            max.max_tool_calls.into(),
        ),
        (
            "max_identical_tool_calls",
            limits.max_identical_tool_calls.into(),
            max.max_identical_tool_calls.into(),
        ),
        (
            "max_context_tokens",
            limits.max_context_tokens,
            max.max_context_tokens,
        ),
        (
            "max_output_tokens",
            limits.max_output_tokens,
            max.max_output_tokens,
        ),
        (
            "max_runtime_seconds",
            limits.max_runtime_seconds,
            max.max_runtime_seconds,
        ),
    ];
    for (name, value, bound) in ints {
        if value == 0 || value > bound {
            return Err((name, value.to_string(), bound.to_string()));
        }
    }
    if !(limits.max_cost > 0.0 && limits.max_cost <= max.max_cost) {
        return Err((
            "max_cost",
            limits.max_cost.to_string(),
            max.max_cost.to_string(),
        ));
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_overlay_and_bounds() {
        let base = default_limits();
        let max = max_limits();
        let got = resolve_limits(
            &base,
            &RunLimitsInput {
                max_steps: Some(5),
                ..Default::default()
            },
            &max,
        )
        .unwrap();
        assert_eq!(got.max_steps, 5);
        assert_eq!(got.max_tool_calls, base.max_tool_calls);
        let err = resolve_limits(
            &base,
            &RunLimitsInput {
                max_steps: Some(101),
                ..Default::default()
            },
            &max,
        )
        .unwrap_err();
        assert_eq!(err.0, "max_steps");
        let err = resolve_limits(
            &base,
            &RunLimitsInput {
                max_cost: Some(f64::NAN),
                ..Default::default()
            },
            &max,
        )
        .unwrap_err();
        assert_eq!(err.0, "max_cost");
        assert!(
            resolve_limits(
                &base,
                &RunLimitsInput {
                    max_tool_calls: Some(0),
                    ..Default::default()
                },
                &max
            )
            .is_err()
        );
    }
}
