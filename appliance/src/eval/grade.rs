//! Grading one run against its scenario's `expected.yaml`: string and regex facts only, so a
//! grade is reproducible and explains itself (which fact was met, which was not).

use acorn_proto::evals::{Check, Grade, ObservedRun};
use acorn_proto::runs::RunUsage;
use regex::Regex;

use super::scenario::Expected;

/// What a run did, as the eval read it back from the appliance.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// `completed`, `failed`, `cancelled`, `timed_out`, or `stalled` when the eval gave up.
    pub state: String,
    /// `code: message` of a run that did not complete.
    pub error: Option<String>,
    /// The final answer.
    pub answer: String,
    /// Contents of the tool calls that succeeded, in order (graded, not reported).
    pub tool_results: Vec<String>,
    pub usage: RunUsage,
    pub seconds: f64,
    /// Open findings of the scenario's cluster when the run started.
    pub findings: usize,
}

impl Observed {
    /// What the report keeps of the run (not the tool results).
    pub fn outcome(&self) -> ObservedRun {
        ObservedRun {
            state: self.state.clone(),
            error: self.error.clone(),
            answer: self.answer.clone(),
            usage: self.usage,
            seconds: self.seconds,
            findings: self.findings,
        }
    }
}

/// A fact: an exact substring, or a regex after `re:`.
#[derive(Debug)]
pub enum Fact {
    Text { text: String, ignore_case: bool },
    Pattern(Regex),
}

impl Fact {
    /// `ignore_case` applies to both forms (answers are matched case-insensitively, evidence
    /// exactly).
    pub fn parse(fact: &str, ignore_case: bool) -> Result<Fact, String> {
        match fact.strip_prefix("re:") {
            Some(pattern) => {
                let source = if ignore_case {
                    format!("(?i){pattern}")
                } else {
                    pattern.to_owned()
                };
                Regex::new(&source)
                    .map(Fact::Pattern)
                    .map_err(|e| format!("fact {fact:?} is not a valid regex: {e}"))
            }
            None if fact.trim().is_empty() => Err("a fact is empty".into()),
            None => Ok(Fact::Text {
                text: if ignore_case {
                    fact.to_lowercase()
                } else {
                    fact.to_owned()
                },
                ignore_case,
            }),
        }
    }

    pub fn is_in(&self, haystack: &str) -> bool {
        match self {
            Fact::Pattern(re) => re.is_match(haystack),
            Fact::Text {
                text,
                ignore_case: true,
            } => haystack.to_lowercase().contains(text.as_str()),
            Fact::Text { text, .. } => haystack.contains(text.as_str()),
        }
    }
}

/// Grades `run` against `expected`. Facts were checked when the scenario was loaded; one that
/// does not parse here counts as not met.
pub fn grade(expected: &Expected, run: &Observed) -> Grade {
    let evidence = expected
        .evidence
        .iter()
        .map(|fact| Check {
            fact: fact.clone(),
            met: Fact::parse(fact, false)
                .is_ok_and(|f| run.tool_results.iter().any(|r| f.is_in(r))),
        })
        .collect::<Vec<_>>();
    let mentions = expected
        .answer_must_mention
        .iter()
        .map(|fact| Check {
            fact: fact.clone(),
            met: Fact::parse(fact, true).is_ok_and(|f| f.is_in(&run.answer)),
        })
        .collect::<Vec<_>>();
    let answer = run.answer.to_lowercase();
    let object_named = (!expected.affected.is_empty()).then(|| {
        expected.affected.iter().any(|object| {
            let name = object.rsplit('/').next().unwrap_or(object).to_lowercase();
            answer.contains(&name)
        })
    });
    let findings_as_expected = expected.expect_no_findings == (run.findings == 0);
    let completed = run.state == "completed";
    let passed = completed
        && evidence.iter().all(|c| c.met)
        && mentions.iter().all(|c| c.met)
        && object_named != Some(false);
    Grade {
        evidence,
        mentions,
        object_named,
        findings_as_expected,
        completed,
        passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crashloop() -> Expected {
        Expected {
            question: "Why is checkout down?".into(),
            root_cause: "MAX_CONNECTIONS is not an integer".into(),
            category: "crashloop".into(),
            affected: vec![
                "crashloop/Pod/checkout-7c9d8f6b5-x2k4p".into(),
                "crashloop/Deployment/checkout".into(),
            ],
            evidence: vec![
                "CrashLoopBackOff".into(),
                r#"re:parsing "ten": invalid syntax"#.into(),
            ],
            answer_must_mention: vec!["crashloopbackoff".into(), "re:MAX_CONN\\w+".into()],
            difficulty: "easy".into(),
            expect_no_findings: false,
        }
    }

    fn observed(answer: &str, results: &[&str]) -> Observed {
        Observed {
            state: "completed".into(),
            answer: answer.into(),
            tool_results: results.iter().map(|r| (*r).to_owned()).collect(),
            findings: 2,
            ..Observed::default()
        }
    }

    #[test]
    fn a_run_that_gathered_everything_and_named_it_passes() {
        let g = grade(
            &crashloop(),
            &observed(
                "The checkout pod is in CrashLoopBackOff: MAX_CONNECTIONS=ten is not a number.",
                &[
                    "Reason: CrashLoopBackOff",
                    "panic: strconv.Atoi: parsing \"ten\": invalid syntax",
                ],
            ),
        );
        assert!(g.passed, "{g:?}");
        assert_eq!(g.object_named, Some(true));
        assert!(g.findings_as_expected);
    }

    #[test]
    fn evidence_is_matched_exactly_and_answers_case_insensitively() {
        let g = grade(
            &crashloop(),
            &observed(
                "checkout: CRASHLOOPBACKOFF because of max_connections",
                &[
                    "reason: crashloopbackoff",
                    "parsing \"ten\": invalid syntax",
                ],
            ),
        );
        assert_eq!(
            g.evidence.iter().map(|c| c.met).collect::<Vec<_>>(),
            [false, true]
        );
        assert!(g.mentions.iter().all(|c| c.met), "{g:?}");
        assert!(!g.passed);
    }

    #[test]
    fn an_answer_without_tools_or_without_the_object_fails() {
        let lazy = grade(
            &crashloop(),
            &observed("Probably CrashLoopBackOff from MAX_CONNECTIONS.", &[]),
        );
        assert!(lazy.evidence.iter().all(|c| !c.met));
        assert_eq!(lazy.object_named, Some(false));
        assert!(!lazy.passed);
    }

    #[test]
    fn a_run_that_did_not_complete_fails_whatever_it_said() {
        let mut run = observed(
            "checkout CrashLoopBackOff MAX_CONNECTIONS",
            &["CrashLoopBackOff", "parsing \"ten\": invalid syntax"],
        );
        run.state = "failed".into();
        let g = grade(&crashloop(), &run);
        assert!(!g.completed && !g.passed);
    }

    #[test]
    fn a_healthy_control_needs_no_object_and_no_findings() {
        let mut expected = crashloop();
        expected.affected.clear();
        expected.evidence = vec!["3/3".into()];
        expected.answer_must_mention = vec!["healthy".into()];
        expected.expect_no_findings = true;
        let mut run = observed("All healthy.", &["storefront   3/3"]);
        run.findings = 0;
        let g = grade(&expected, &run);
        assert_eq!(g.object_named, None);
        assert!(g.passed && g.findings_as_expected, "{g:?}");
        run.findings = 1;
        assert!(!grade(&expected, &run).findings_as_expected);
    }

    #[test]
    fn a_bad_regex_is_refused_when_parsed() {
        assert!(Fact::parse("re:(unclosed", false).is_err());
        assert!(Fact::parse("", true).is_err());
    }
}
