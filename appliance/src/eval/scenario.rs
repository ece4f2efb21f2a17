//! The scenarios `acorn eval` grades a model on: a simulator scenario folder (the format of
//! `kubesim/README.md`) plus `expected.yaml`, which says what a good investigation finds.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `expected.yaml`: the question, the known answer and the facts a grader checks.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// What the user asks.
    pub question: String,
    /// The root cause in one sentence (shown in the report; a judge compares against it).
    pub root_cause: String,
    pub category: String,
    /// `namespace/Kind/name` (or `Kind/name` for cluster-scoped objects).
    #[serde(default)]
    pub affected: Vec<String>,
    /// Exact substrings (or `re:` regexes) the run's tool results must contain.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Terms (or `re:` regexes) a correct answer names, case-insensitive.
    #[serde(default)]
    pub answer_must_mention: Vec<String>,
    pub difficulty: String,
    /// A healthy control: the analyzers must find nothing.
    #[serde(default)]
    pub expect_no_findings: bool,
}

/// One scenario folder.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub dir: PathBuf,
    pub expected: Expected,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{0}: no such folder")]
    NoFolder(PathBuf),
    #[error("{0}: missing (every scenario folder needs objects.json and expected.yaml)")]
    Missing(PathBuf),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0}: holds no scenario (no folder with an expected.yaml)")]
    Empty(PathBuf),
    #[error("no scenario named {0:?} in {1}")]
    Unknown(String, PathBuf),
}

/// The scenarios of `dir`: `dir` itself when it is one scenario folder, else its sub-folders
/// (by name; `_`-prefixed ones such as `_base` are not scenarios). `only` keeps the named ones.
pub fn load_library(dir: &Path, only: &[String]) -> Result<Vec<Scenario>, ScenarioError> {
    if !dir.is_dir() {
        return Err(ScenarioError::NoFolder(dir.to_path_buf()));
    }
    if dir.join("expected.yaml").exists() {
        return Ok(vec![load_one(dir)?]);
    }
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| invalid(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !file_name(p).starts_with(['_', '.']))
        .collect();
    folders.sort();
    for name in only {
        if !folders.iter().any(|f| file_name(f) == *name) {
            return Err(ScenarioError::Unknown(name.clone(), dir.to_path_buf()));
        }
    }
    let scenarios = folders
        .iter()
        .filter(|f| only.is_empty() || only.iter().any(|n| *n == file_name(f)))
        .map(|f| load_one(f))
        .collect::<Result<Vec<_>, _>>()?;
    if scenarios.is_empty() {
        return Err(ScenarioError::Empty(dir.to_path_buf()));
    }
    Ok(scenarios)
}

/// One scenario folder; names the missing or broken file.
pub fn load_one(dir: &Path) -> Result<Scenario, ScenarioError> {
    for required in ["objects.json", "expected.yaml"] {
        if !dir.join(required).is_file() {
            return Err(ScenarioError::Missing(dir.join(required)));
        }
    }
    let path = dir.join("expected.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| invalid(&path, e))?;
    let expected: Expected = serde_saphyr::from_str(&text).map_err(|e| invalid(&path, e))?;
    check(&path, &expected)?;
    Ok(Scenario {
        name: file_name(dir),
        dir: dir.to_path_buf(),
        expected,
    })
}

/// What a grader cannot work with: no question, an unparsable regex, a fault without facts.
fn check(path: &Path, e: &Expected) -> Result<(), ScenarioError> {
    let fail = |message: String| {
        Err(ScenarioError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    };
    if e.question.trim().is_empty() {
        return fail("`question` is empty".into());
    }
    if e.answer_must_mention.is_empty() {
        return fail("`answer_must_mention` lists no term: nothing would grade the answer".into());
    }
    if !e.expect_no_findings && (e.affected.is_empty() || e.evidence.is_empty()) {
        return fail("a fault scenario needs `affected` objects and `evidence`".into());
    }
    for fact in e.evidence.iter().chain(&e.answer_must_mention) {
        if let Err(message) = super::grade::Fact::parse(fact, false) {
            return fail(message);
        }
    }
    for object in &e.affected {
        if object.split('/').count() < 2 || object.split('/').any(str::is_empty) {
            return fail(format!(
                "`affected` entry {object:?} is not `namespace/Kind/name` or `Kind/name`"
            ));
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
