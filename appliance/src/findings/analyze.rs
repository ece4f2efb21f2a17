//! `acorn analyze`: the findings of a scenario folder or of a live cluster, printed, with no
//! appliance running (like `k8sgpt analyze`).
//!
//! - `--scenario-dir DIR` (repeatable): folders in the simulator's format. As the simulator
//!   does, the library's `_base` folder (nodes, the default StorageClass) is loaded first when
//!   it sits beside the first folder (`kubesim/scenarios/_base`), unless `--no-base`; the first
//!   definition of an object wins (so `_base`'s, as in the simulator). Container logs (`logs/`) feed the rules that quote them.
//! - `--kubeconfig FILE` (`--context NAME`): a live cluster, read-only (see
//!   [`super::kubeconfig`]).
//!
//! `--output table` (default) is for people; `--output json` prints one object
//! (`{"source", "objects", "skipped_kinds", "findings"}`) for machines. Exit status 0 whatever
//! was found; an unreadable input is an error that names the file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use acorn_findings::{Finding, Snapshot, scenario};

use super::kubeconfig::{Target, list_cluster};

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// What to analyze.
pub enum Input {
    Scenarios {
        dirs: Vec<PathBuf>,
        base: bool,
    },
    Cluster {
        kubeconfig: PathBuf,
        context: Option<String>,
    },
}

/// Runs the verb; the text to print on stdout.
pub async fn run(input: Input, output: Output) -> anyhow::Result<String> {
    let now = scenario::now();
    let (source, snapshot, skipped) = match input {
        Input::Scenarios { dirs, base } => {
            let (snapshot, used) = load_scenarios(&dirs, base, now)?;
            (json!({"scenario_dirs": used}), snapshot, Vec::new())
        }
        Input::Cluster {
            kubeconfig,
            context,
        } => {
            let target = Target::from_file(&kubeconfig, context.as_deref())?;
            let listed = list_cluster(&target).await?;
            let source = json!({
                "kubeconfig": kubeconfig.display().to_string(),
                "server": target.server,
            });
            (
                source,
                Snapshot::from_resources(listed.resources),
                listed.skipped,
            )
        }
    };
    let findings = acorn_findings::analyze(&snapshot, now);
    Ok(match output {
        Output::Json => {
            let skipped: Vec<_> = skipped
                .iter()
                .map(|(kind, why)| json!({"kind": kind, "reason": why}))
                .collect();
            let doc = json!({
                "source": source,
                "objects": snapshot.len(),
                "skipped_kinds": skipped,
                "findings": findings,
            });
            format!("{}\n", serde_json::to_string_pretty(&doc)?)
        }
        Output::Table => table(&findings, snapshot.len(), &skipped),
    })
}

/// The folders to load, `_base` first when it applies (see the module docs).
fn load_scenarios(
    dirs: &[PathBuf],
    base: bool,
    now: i64,
) -> anyhow::Result<(Snapshot, Vec<String>)> {
    let mut all: Vec<PathBuf> = Vec::new();
    if base
        && let Some(first) = dirs.first()
        && let Some(parent) = absolute(first).parent()
    {
        let candidate = parent.join("_base");
        let given = dirs.iter().any(|d| absolute(d) == absolute(&candidate));
        if candidate.join("objects.json").is_file() && !given {
            all.push(candidate);
        }
    }
    all.extend(dirs.iter().cloned());
    let mut lists = Vec::new();
    let mut logs = acorn_findings::Logs::new();
    for dir in &all {
        lists.push(scenario::load_at(dir, now)?);
        for (k, v) in scenario::load_logs(dir)? {
            logs.entry(k).or_insert(v);
        }
    }
    let mut snapshot = Snapshot::from_resources(scenario::merge(lists));
    snapshot.set_logs(logs);
    Ok((
        snapshot,
        all.iter().map(|d| d.display().to_string()).collect(),
    ))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn table(findings: &[Finding], objects: usize, skipped: &[(String, String)]) -> String {
    let mut out = String::new();
    for (kind, why) in skipped {
        out.push_str(&format!("note: {kind} not listed ({why})\n"));
    }
    if findings.is_empty() {
        out.push_str(&format!("No findings ({objects} objects analyzed).\n"));
        return out;
    }
    let rows: Vec<[String; 4]> = findings
        .iter()
        .map(|f| {
            [
                f.severity.as_str().to_uppercase(),
                f.rule.clone(),
                f.primary().map(|o| o.display()).unwrap_or_default(),
                f.title.clone(),
            ]
        })
        .collect();
    let header = ["SEVERITY", "RULE", "OBJECT", "TITLE"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    out.push_str(&line(header));
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3]]));
    }
    out.push('\n');
    for f in findings {
        out.push_str(&format!(
            "{} {}: {}\n",
            f.rule,
            f.primary().map(|o| o.display()).unwrap_or_default(),
            f.title
        ));
        for e in &f.evidence {
            out.push_str(&format!("  evidence  {}: {}\n", e.source, e.text));
        }
        out.push_str(&format!("  fix       {}\n\n", f.remediation));
    }
    out.push_str(&format!(
        "{} finding(s) in {objects} objects.\n",
        findings.len()
    ));
    out
}

/// `anyhow` context for the verb's errors.
pub fn context(input: &Input) -> String {
    match input {
        Input::Scenarios { .. } => "cannot analyze the scenario".into(),
        Input::Cluster { kubeconfig, .. } => {
            format!("cannot analyze the cluster of {}", kubeconfig.display())
        }
    }
}

/// [`run`] with the verb's error context.
pub async fn run_verb(input: Input, output: Output) -> anyhow::Result<String> {
    let ctx = context(&input);
    run(input, output).await.context(ctx)
}
