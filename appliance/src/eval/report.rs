//! The eval's report: a table on the terminal, JSON for machines, Markdown for people.

use std::fmt::Write as _;
use std::time::Duration;

pub use acorn_proto::evals::{Check, Report, ScenarioResult, Summary};

use super::grade::{Observed, grade};
use super::scenario::Scenario;

/// A scenario whose run was graded.
pub fn graded(s: &Scenario, run: Observed) -> ScenarioResult {
    ScenarioResult {
        grade: grade(&s.expected, &run),
        run: Some(run.outcome()),
        lab_error: None,
        ..base(s)
    }
}

/// A scenario that could not be run; it counts as failed.
pub fn lab_failed(s: &Scenario, error: String) -> ScenarioResult {
    let nothing = Observed {
        state: "not_run".into(),
        ..Observed::default()
    };
    ScenarioResult {
        grade: grade(&s.expected, &nothing),
        run: None,
        lab_error: Some(error),
        ..base(s)
    }
}

fn base(s: &Scenario) -> ScenarioResult {
    let e = &s.expected;
    ScenarioResult {
        name: s.name.clone(),
        category: e.category.clone(),
        difficulty: e.difficulty.clone(),
        question: e.question.clone(),
        root_cause: e.root_cause.clone(),
        lab_error: None,
        run: None,
        grade: grade(e, &Observed::default()),
    }
}

/// The report of `scenarios`, with their totals.
pub fn build(
    provider: &str,
    model: &str,
    scenarios: Vec<ScenarioResult>,
    wall: Duration,
) -> Report {
    let mut s = Summary {
        scenarios: scenarios.len(),
        wall_seconds: wall.as_secs_f64(),
        ..Summary::default()
    };
    for r in &scenarios {
        let g = &r.grade;
        s.passed += usize::from(g.passed);
        s.completed += usize::from(g.completed);
        s.evidence_found += g.evidence.iter().filter(|c| c.met).count();
        s.evidence_total += g.evidence.len();
        s.mentions_met += g.mentions.iter().filter(|c| c.met).count();
        s.mentions_total += g.mentions.len();
        s.objects_named += usize::from(g.object_named == Some(true));
        s.objects_total += usize::from(g.object_named.is_some());
        s.findings_mismatches += usize::from(r.run.is_some() && !g.findings_as_expected);
        if let Some(run) = &r.run {
            let u = &run.usage;
            s.steps += u64::from(u.steps);
            s.tool_calls += u64::from(u.tool_calls);
            s.input_tokens += u.input_tokens;
            s.output_tokens += u.output_tokens;
            s.cost += u.cost;
            s.loop_guard_hits += u64::from(u.loop_guard_hits);
            s.invalid_tool_calls += u64::from(u.invalid_tool_calls);
            s.run_seconds += run.seconds;
        }
    }
    s.pass_rate = percent(s.passed, s.scenarios);
    Report {
        acorn_version: env!("CARGO_PKG_VERSION").to_owned(),
        provider: provider.to_owned(),
        model: model.to_owned(),
        summary: s,
        scenarios,
    }
}

pub fn json(report: &Report) -> serde_json::Result<String> {
    serde_json::to_string_pretty(report).map(|s| s + "\n")
}

/// The terminal table: one line per scenario, then the totals.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:<6} {:>8} {:>7} {:>6} {:>5} {:>8} {:>8} {:>6} {:>5} {:>7}  RUN",
        "SCENARIO",
        "RESULT",
        "EVIDENCE",
        "ANSWER",
        "OBJECT",
        "STEPS",
        "TOKENS",
        "COST",
        "TIME",
        "LOOPS",
        "INVALID",
    );
    for r in &report.scenarios {
        let g = &r.grade;
        let (steps, tokens, cost, time, loops, invalid, state) = match &r.run {
            Some(run) => (
                run.usage.steps.to_string(),
                (run.usage.input_tokens + run.usage.output_tokens).to_string(),
                format!("{:.4}", run.usage.cost),
                format!("{:.1}s", run.seconds),
                run.usage.loop_guard_hits.to_string(),
                run.usage.invalid_tool_calls.to_string(),
                run.state.clone(),
            ),
            None => Default::default(),
        };
        let state = match (&r.lab_error, &r.run) {
            (Some(e), _) => format!("lab error: {e}"),
            (None, Some(run)) => match &run.error {
                Some(e) => format!("{state} ({e})"),
                None => state,
            },
            (None, None) => state,
        };
        let _ = writeln!(
            out,
            "{:<28} {:<6} {:>8} {:>7} {:>6} {:>5} {:>8} {:>8} {:>6} {:>5} {:>7}  {}",
            r.name,
            if g.passed { "pass" } else { "FAIL" },
            met(&g.evidence),
            met(&g.mentions),
            object_mark(g.object_named),
            steps,
            tokens,
            cost,
            time,
            loops,
            invalid,
            state
        );
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} of {} scenarios passed ({:.0}%) with provider {} model {}: evidence {}, answers {}, \
         objects named {}; {} steps, {} tool calls, {} tokens, cost {:.4}, {} loop-guard hits, \
         {} invalid tool calls; {:.0} s.",
        s.passed,
        s.scenarios,
        s.pass_rate,
        report.provider,
        report.model,
        fraction(s.evidence_found, s.evidence_total),
        fraction(s.mentions_met, s.mentions_total),
        fraction(s.objects_named, s.objects_total),
        s.steps,
        s.tool_calls,
        s.input_tokens + s.output_tokens,
        s.cost,
        s.loop_guard_hits,
        s.invalid_tool_calls,
        s.wall_seconds
    );
    if s.findings_mismatches > 0 {
        let _ = writeln!(
            out,
            "note: in {} scenarios the analyzers disagreed with expect_no_findings \
             (a problem of the scenario or the analyzers, not of the model)",
            s.findings_mismatches
        );
    }
    out
}

/// The Markdown report: the summary, a table, then each scenario's facts and answer.
pub fn markdown(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# acorn eval: {} / {}\n\n**{} of {} scenarios passed ({:.0}%).** Evidence gathered {}, \
         answer terms {}, affected object named {}. {} steps, {} tool calls, {} input + {} \
         output tokens, cost {:.4}, {} loop-guard hits, {} invalid tool calls, {:.0} s \
         (acorn {}).\n",
        md(&report.provider),
        md(&report.model),
        s.passed,
        s.scenarios,
        s.pass_rate,
        fraction(s.evidence_found, s.evidence_total),
        fraction(s.mentions_met, s.mentions_total),
        fraction(s.objects_named, s.objects_total),
        s.steps,
        s.tool_calls,
        s.input_tokens,
        s.output_tokens,
        s.cost,
        s.loop_guard_hits,
        s.invalid_tool_calls,
        s.wall_seconds,
        report.acorn_version
    );
    let _ = writeln!(
        out,
        "| scenario | result | evidence | answer | object | steps | tokens | cost | time | run |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &report.scenarios {
        let g = &r.grade;
        let run = r.run.as_ref();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&r.name),
            if g.passed { "pass" } else { "**fail**" },
            met(&g.evidence),
            met(&g.mentions),
            object_mark(g.object_named),
            run.map_or(0, |r| r.usage.steps),
            run.map_or(0, |r| r.usage.input_tokens + r.usage.output_tokens),
            run.map_or("-".into(), |r| format!("{:.4}", r.usage.cost)),
            run.map_or("-".into(), |r| format!("{:.1} s", r.seconds)),
            md(&r
                .lab_error
                .clone()
                .unwrap_or_else(|| run.map_or(String::new(), |r| r.state.clone())))
        );
    }
    for r in &report.scenarios {
        let _ = writeln!(
            out,
            "\n## {}\n\n{} · {}. **Question:** {}\n\n**Root cause:** {}\n",
            md(&r.name),
            md(&r.category),
            md(&r.difficulty),
            md(&r.question),
            md(&r.root_cause)
        );
        for c in &r.grade.evidence {
            let _ = writeln!(
                out,
                "- evidence {} `{}`",
                tick(c.met),
                c.fact.replace('`', "'")
            );
        }
        for c in &r.grade.mentions {
            let _ = writeln!(
                out,
                "- answer names {} `{}`",
                tick(c.met),
                c.fact.replace('`', "'")
            );
        }
        if let Some(e) = &r.lab_error {
            let _ = writeln!(out, "\nNot run: {}", md(e));
        }
        if let Some(run) = &r.run {
            if let Some(e) = &run.error {
                let _ = writeln!(out, "\nRun {}: {}", md(&run.state), md(e));
            }
            let _ = writeln!(out, "\nAnswer:\n");
            for line in run.answer.lines() {
                let _ = writeln!(out, "> {}", md(line));
            }
        }
    }
    out
}

fn percent(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// `met/total` of a list of checks.
fn met(checks: &[Check]) -> String {
    fraction(checks.iter().filter(|c| c.met).count(), checks.len())
}

fn object_mark(named: Option<bool>) -> &'static str {
    match named {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

fn fraction(n: usize, of: usize) -> String {
    format!("{n}/{of}")
}

fn tick(met: bool) -> &'static str {
    if met { "✓" } else { "✗" }
}

/// Model output and scenario text go into Markdown as text: no HTML, no table breaks.
fn md(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::scenario::Expected;
    use acorn_proto::runs::RunUsage;

    fn scenario(name: &str) -> Scenario {
        Scenario {
            name: name.into(),
            dir: std::path::PathBuf::from(name),
            expected: Expected {
                question: "Why is web down?".into(),
                root_cause: "bad | config".into(),
                category: "crashloop".into(),
                affected: vec!["ns/Pod/web-1".into()],
                evidence: vec!["CrashLoopBackOff".into()],
                answer_must_mention: vec!["config".into()],
                difficulty: "easy".into(),
                expect_no_findings: false,
            },
        }
    }

    #[test]
    fn totals_table_and_markdown_say_what_happened_and_escape_model_output() {
        let good = Observed {
            state: "completed".into(),
            answer: "web-1 has a bad config <script>alert(1)</script>".into(),
            tool_results: vec!["Waiting (CrashLoopBackOff)".into()],
            usage: RunUsage {
                steps: 2,
                tool_calls: 3,
                input_tokens: 100,
                output_tokens: 20,
                ..RunUsage::default()
            },
            seconds: 1.5,
            findings: 1,
            ..Observed::default()
        };
        let report = build(
            "local",
            "m",
            vec![
                graded(&scenario("a"), good),
                lab_failed(&scenario("b"), "agent did not connect".into()),
            ],
            Duration::from_secs(3),
        );
        let s = &report.summary;
        assert_eq!((s.scenarios, s.passed, s.completed), (2, 1, 1));
        assert_eq!((s.evidence_found, s.evidence_total), (1, 2));
        assert_eq!((s.steps, s.tool_calls, s.input_tokens), (2, 3, 100));
        assert_eq!(s.pass_rate, 50.0);
        let table = table(&report);
        assert!(table.contains("1 of 2 scenarios passed (50%)"), "{table}");
        assert!(
            table.contains("lab error: agent did not connect"),
            "{table}"
        );
        let md = markdown(&report);
        assert!(!md.contains("<script>"), "{md}");
        assert!(md.contains("&lt;script&gt;"), "{md}");
        assert!(
            md.contains("bad \\| config"),
            "table cells stay cells: {md}"
        );
        let json: serde_json::Value = serde_json::from_str(&json(&report).unwrap()).unwrap();
        assert_eq!(json["scenarios"][1]["lab_error"], "agent did not connect");
        assert!(json["scenarios"][0]["run"].get("tool_results").is_none());
    }
}
