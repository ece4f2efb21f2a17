//! Model evaluations (`acorn eval`): the report a run of the scenario library produces, and the
//! API of evaluations started from the appliance (`/api/v1/workspaces/{ws}/evals`), which the
//! console shows to a workspace's owners and admins before they enable a model.
//!
//! The report is the same document as `acorn eval --report-json`.

use serde::{Deserialize, Serialize};

use crate::runs::RunUsage;

/// How one run went, as the eval read it back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedRun {
    /// `completed`, `failed`, `cancelled`, `timed_out`, or `stalled` when the eval gave up.
    pub state: String,
    /// `code: message` of a run that did not complete.
    pub error: Option<String>,
    /// The final answer (model output: show it as text).
    pub answer: String,
    pub usage: RunUsage,
    pub seconds: f64,
    /// Open findings of the scenario's cluster when the run started.
    pub findings: usize,
}

/// One fact and whether the run met it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub fact: String,
    pub met: bool,
}

/// The grade of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    /// `evidence`: found in a tool result.
    pub evidence: Vec<Check>,
    /// `answer_must_mention`: named in the answer.
    pub mentions: Vec<Check>,
    /// The answer names an affected object; `None` for healthy controls (nothing is affected).
    pub object_named: Option<bool>,
    /// The analyzers agree with the scenario: findings for a fault, none for a control. A check
    /// of the scenario and the analyzers, not of the model; it does not count in `passed`.
    pub findings_as_expected: bool,
    /// The run completed (not failed, cut by a limit, cancelled or stalled).
    pub completed: bool,
    /// Completed, every evidence fact gathered, every term named, an affected object named.
    pub passed: bool,
}

/// One scenario's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub name: String,
    pub category: String,
    pub difficulty: String,
    pub question: String,
    pub root_cause: String,
    /// Why the scenario could not be run (the simulator or agent did not come up); the
    /// scenario then counts as failed.
    pub lab_error: Option<String>,
    pub run: Option<ObservedRun>,
    pub grade: Grade,
}

/// Totals over every scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scenarios: usize,
    pub passed: usize,
    /// Percent of scenarios passed.
    pub pass_rate: f64,
    pub completed: usize,
    pub evidence_found: usize,
    pub evidence_total: usize,
    pub mentions_met: usize,
    pub mentions_total: usize,
    pub objects_named: usize,
    pub objects_total: usize,
    /// Scenarios where the analyzers disagreed with `expect_no_findings`.
    pub findings_mismatches: usize,
    pub steps: u64,
    pub tool_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: f64,
    pub loop_guard_hits: u64,
    pub invalid_tool_calls: u64,
    /// Sum of the runs' times.
    pub run_seconds: f64,
    /// Wall time of the whole eval.
    pub wall_seconds: f64,
}

/// The whole evaluation (`acorn eval --report-json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub acorn_version: String,
    pub provider: String,
    pub model: String,
    pub summary: Summary,
    pub scenarios: Vec<ScenarioResult>,
}

/// `POST /api/v1/workspaces/{ws}/evals`: evaluate a model of one of the workspace's providers
/// (its own or the deployment's) on the scenario library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartEval {
    /// A provider the workspace can use.
    pub provider: String,
    /// One of its models.
    pub model: String,
    /// Only these scenarios (by name); empty: the whole library.
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// Each run's runtime limit in seconds (default 300, at most 1800).
    #[serde(default)]
    pub max_runtime_seconds: Option<u64>,
}

/// Where an evaluation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalState {
    /// The lab is running scenarios.
    Running,
    /// Every scenario was graded: the report is there.
    Completed,
    /// The evaluation could not be run (see `error`); no report.
    Failed,
}

impl EvalState {
    pub const fn as_str(self) -> &'static str {
        match self {
            EvalState::Running => "running",
            EvalState::Completed => "completed",
            EvalState::Failed => "failed",
        }
    }
}

/// An evaluation as the API lists it (without the per-scenario report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalView {
    /// `evl_` + hex; sorts by creation time.
    pub id: String,
    pub workspace_id: String,
    pub provider: String,
    pub model: String,
    pub state: EvalState,
    /// The scenarios asked for (empty: the whole library).
    pub scenarios: Vec<String>,
    pub max_runtime_seconds: u64,
    /// Who started it (user id).
    pub requested_by: String,
    /// RFC 3339.
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Scenarios graded so far and in all (known once the library is loaded; 0 before).
    pub done: usize,
    pub total: usize,
    /// Why a failed evaluation could not be run.
    pub error: Option<String>,
    /// The totals of a completed evaluation.
    pub summary: Option<Summary>,
}

/// `GET …/evals/{id}`: the evaluation and, once completed, its whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalDetail {
    #[serde(flatten)]
    pub eval: EvalView,
    pub report: Option<Report>,
}
