//! Redaction of tool results before they reach a model. The agent masks builtin tool output in
//! the cluster already; the gateway applies the same kind of patterns again to everything a tool
//! returns (MCP tools are outside the agent's reach), and counts the masks for the audit record.
//!
//! The agent keeps its own copy of these patterns (`agent/src/redact.rs`): the two crates do
//! not depend on each other. Keep them in step when one changes.

use std::sync::OnceLock;

use regex::Regex;

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

/// Patterns whose whole match is a secret.
const WHOLE: &[&str] = &[
    // PEM private keys (RSA, EC, OpenSSH, PKCS#8), across lines.
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
    // JSON Web Tokens (service-account tokens, OIDC tokens).
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    // AWS access key ids.
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    // GitHub tokens.
    r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{22,}\b",
    // OpenAI / Anthropic style API keys.
    r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}",
    // Slack tokens.
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    // Google API keys.
    r"\bAIza[0-9A-Za-z_-]{35}\b",
    // Acorn's own API and agent keys.
    r"\bacorn_(?:agent_)?[A-Za-z0-9_-]{32,}",
];

/// Patterns where only the value after a key is a secret (`password: hunter2`,
/// `Authorization: Bearer …`, `https://user:pass@host`): group 1 is kept, group 2 masked.
const VALUES: &[&str] = &[
    r#"(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|private[_-]?key)["']?\s*[:=]\s*["']?)([^\s"',;]{3,})"#,
    r"(?i)(\bauthorization\s*[:=]\s*(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{8,})",
    r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{20,})",
    r"([a-z][a-z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)",
];

struct Compiled {
    whole: Vec<Regex>,
    values: Vec<Regex>,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| Compiled {
        // The patterns are constants covered by the tests below: a failure to compile is a
        // bug caught there, and is skipped rather than panicking in production.
        whole: WHOLE.iter().filter_map(|p| Regex::new(p).ok()).collect(),
        values: VALUES.iter().filter_map(|p| Regex::new(p).ok()).collect(),
    })
}

/// `text` with every secret masked, and how many masks were applied.
pub fn redact(text: &str) -> (String, u32) {
    let c = compiled();
    let mut out = text.to_owned();
    let mut count = 0u32;
    for re in &c.whole {
        let n = re.find_iter(&out).count();
        if n > 0 {
            count = count.saturating_add(n as u32);
            out = re.replace_all(&out, MASK).into_owned();
        }
    }
    for re in &c.values {
        let mut n = 0u32;
        let replaced = re.replace_all(&out, |caps: &regex::Captures<'_>| {
            let value = caps.get(2).map_or("", |m| m.as_str());
            if value == MASK || value.starts_with('[') {
                // Already masked by an earlier pattern.
                return caps[0].to_owned();
            }
            n += 1;
            format!(
                "{}{MASK}{}",
                &caps[1],
                caps.get(3).map_or("", |m| m.as_str())
            )
        });
        if n > 0 {
            count = count.saturating_add(n);
            out = replaced.into_owned();
        }
    }
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert_eq!(compiled().whole.len(), WHOLE.len());
        assert_eq!(compiled().values.len(), VALUES.len());
    }

    #[test]
    fn masks_and_counts() {
        let cases: &[(&str, &str, u32)] = &[
            ("nothing here", "nothing here", 0),
            ("DB_PASSWORD=hunter2x", "DB_PASSWORD=[REDACTED]", 1),
            ("password: \"s3cr3t!\"", "password: \"[REDACTED]\"", 1),
            ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED] used", 1),
            (
                "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123",
                "Authorization: Bearer [REDACTED]",
                1,
            ),
            (
                "postgres://app:pa55word@db:5432/x",
                "postgres://app:[REDACTED]@db:5432/x",
                1,
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE\nabc\n-----END RSA PRIVATE KEY-----",
                "[REDACTED]",
                1,
            ),
            (
                "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlc2ln and sk-proj-abcdefghijklmnop1234",
                "token [REDACTED] and [REDACTED]",
                2,
            ),
        ];
        for (input, want, n) in cases {
            assert_eq!(redact(input), ((*want).to_owned(), *n), "{input}");
        }
    }
}
