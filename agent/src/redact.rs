//! Masking of secrets in text that leaves the cluster.
//!
//! Every string a builtin tool returns (content and error messages) passes through
//! [`Redactor::redact`] before it is put into a `ToolOutcome`. The built-in rules cover what
//! shows up in pod logs, events and objects: bearer and basic authorization headers, JWTs, PEM
//! private keys, `password=` / `token: …`-style pairs (also YAML env entries whose name looks
//! like a credential), AWS access keys, GitHub and Slack tokens, URLs with credentials
//! (`postgres://user:pass@host`), and Acorn's own agent and API keys. Operators add their own
//! regular expressions.
//!
//! A rule masks either its whole match or, when it has a capture group named `secret`, only
//! that group — so `password=hunter2` becomes `password=[REDACTED]` and the reader still sees
//! which setting it was. A match that is already `[REDACTED]` is left alone and not counted
//! again, so overlapping rules count each secret once.

use regex::{Captures, Regex};

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

/// A pattern given by the operator did not compile.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// An extra pattern is not a valid regular expression.
    #[error("redaction pattern {pattern:?} is invalid: {source}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// Why it does not compile.
        source: regex::Error,
    },
}

/// Credential-like key names in `key=value` pairs (a name that ends with one of these).
const KEY_WORDS: &str = r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|secret[_-]?key|client[_-]?secret|credentials?)";

/// The built-in rules, in the order they apply: whole-token formats before `key=value` pairs,
/// so a JWT after `token=` is masked (and counted) once.
fn builtin_rules() -> Vec<(&'static str, String)> {
    vec![
        // PEM private keys (RSA, EC, OpenSSH, PKCS#8, encrypted), also when cut before END.
        (
            "private key block",
            r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)"
                .into(),
        ),
        // URLs with a password: keep scheme, user and host.
        (
            "credentials in a URL",
            r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:(?P<secret>[^\s@/]+)@".into(),
        ),
        // Authorization headers: keep the header name and the scheme.
        (
            "authorization header",
            r#"(?i)\b(?:proxy-)?authorization\b["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest|negotiate)\s+(?P<secret>[A-Za-z0-9\-._~+/=]+)"#
                .into(),
        ),
        (
            "bearer token",
            r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)".into(),
        ),
        // JWTs: three base64url parts, the first one a JSON object (`eyJ`).
        (
            "JWT",
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*".into(),
        ),
        ("AWS access key id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b".into()),
        (
            "GitHub token",
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b".into(),
        ),
        (
            "Slack token",
            r"\bxox[abposre]-[A-Za-z0-9-]{10,}\b".into(),
        ),
        (
            "Slack webhook",
            r"https://hooks\.slack\.com/services/(?P<secret>[A-Za-z0-9/_-]+)".into(),
        ),
        // Acorn's agent keys (`acorn_agent_…`) and API tokens (`acorn_` + 43 base64url chars).
        ("Acorn key", r"\bacorn_[A-Za-z0-9_-]{32,}".into()),
        // `password=…`, `DB_PASSWORD: …`, `"token": "…"`, `api_key=…&`: keep the key.
        (
            "key=value",
            format!(
                r#"(?i)\b[A-Za-z0-9_.-]*{KEY_WORDS}["']?[ \t]*[:=][ \t]*(?P<secret>"[^"\r\n]*"|'[^'\r\n]*'|[^\s"',;&}}\]]+)"#
            ),
        ),
        // YAML env entries: `- name: DB_PASSWORD` followed by `value: …` on the next line.
        (
            "env value",
            format!(
                r#"(?im)\bname:[ \t]*["']?[A-Za-z0-9_.-]*{KEY_WORDS}[A-Za-z0-9_.-]*["']?[ \t]*\r?\n[ \t]*value:[ \t]*(?P<secret>[^\r\n]+)"#
            ),
        ),
        // The same in JSON: {"name":"DB_PASSWORD","value":"…"}.
        (
            "env value (JSON)",
            format!(
                r#"(?i)"name"\s*:\s*"[A-Za-z0-9_.-]*{KEY_WORDS}[A-Za-z0-9_.-]*"\s*,\s*"value"\s*:\s*(?P<secret>"(?:[^"\\]|\\.)*")"#
            ),
        ),
    ]
}

/// The set of patterns that mask secrets.
#[derive(Debug, Clone)]
pub struct Redactor {
    rules: Vec<Regex>,
}

impl Redactor {
    /// The built-in patterns plus `extra_patterns` (regular expressions; the whole match is
    /// masked, or only the capture group named `secret` when there is one).
    pub fn new(extra_patterns: &[String]) -> Result<Redactor, RedactError> {
        let mut rules = Vec::new();
        for (_, pattern) in builtin_rules() {
            rules.push(
                Regex::new(&pattern).map_err(|source| RedactError::InvalidPattern {
                    pattern: pattern.clone(),
                    source,
                })?,
            );
        }
        for p in extra_patterns {
            rules.push(Regex::new(p).map_err(|source| RedactError::InvalidPattern {
                pattern: p.clone(),
                source,
            })?);
        }
        Ok(Redactor { rules })
    }

    /// `text` with every secret replaced by `[REDACTED]`, and how many were masked.
    pub fn redact(&self, text: &str) -> (String, u32) {
        let mut out = text.to_owned();
        let mut count = 0u32;
        for rule in &self.rules {
            if !rule.is_match(&out) {
                continue;
            }
            let replaced = rule.replace_all(&out, |caps: &Captures| {
                let Some(whole) = caps.get(0) else {
                    return String::new();
                };
                let secret = caps.name("secret").unwrap_or(whole);
                let value = secret.as_str();
                // Already masked by an earlier rule, empty, or a YAML/JSON literal such as
                // `automountServiceAccountToken: true`: leave it, do not count.
                let bare = value.trim_matches(|c| c == '"' || c == '\'');
                if bare.starts_with("[REDACTED") || matches!(bare, "" | "true" | "false" | "null") {
                    return whole.as_str().to_string();
                }
                count = count.saturating_add(1);
                let start = secret.start() - whole.start();
                let end = secret.end() - whole.start();
                let w = whole.as_str();
                // Keep the quotes around a quoted secret so JSON and YAML stay well-formed.
                let quote = value.chars().next().filter(|c| {
                    (*c == '"' || *c == '\'') && value.len() >= 2 && value.ends_with(*c)
                });
                match quote {
                    Some(q) => format!("{}{q}{MASK}{q}{}", &w[..start], &w[end..]),
                    None => format!("{}{MASK}{}", &w[..start], &w[end..]),
                }
            });
            out = replaced.into_owned();
        }
        (out, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, want: &str, want_count: u32) {
        let r = Redactor::new(&[]).unwrap();
        let (got, n) = r.redact(input);
        assert_eq!(got, want, "input: {input}");
        assert_eq!(n, want_count, "count for: {input}");
    }

    #[test]
    fn builtin_patterns() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlX2hlcmU";
        let table: &[(&str, &str, u32)] = &[
            (
                "GET / Authorization: Bearer abc.def-123_XYZ",
                "GET / Authorization: Bearer [REDACTED]",
                1,
            ),
            (
                "curl -H 'authorization: Basic dXNlcjpwYXNz'",
                "curl -H 'authorization: Basic [REDACTED]'",
                1,
            ),
            (&format!("token is {jwt} ok"), "token is [REDACTED] ok", 1),
            (&format!("token={jwt}"), "token=[REDACTED]", 1),
            (
                "password=hunter2 user=bob",
                "password=[REDACTED] user=bob",
                1,
            ),
            ("passwd: s3cr3t", "passwd: [REDACTED]", 1),
            ("DB_PASSWORD=hunter2", "DB_PASSWORD=[REDACTED]", 1),
            ("secret=abc&next=1", "secret=[REDACTED]&next=1", 1),
            ("?api_key=K123&x=1", "?api_key=[REDACTED]&x=1", 1),
            (
                r#"{"token": "abc123", "n": 1}"#,
                r#"{"token": "[REDACTED]", "n": 1}"#,
                1,
            ),
            ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED] used", 1),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_secret_access_key = [REDACTED]",
                1,
            ),
            (
                "using ghp_0123456789abcdefghijABCDEFGHIJ012345 now",
                "using [REDACTED] now",
                1,
            ),
            ("slack xoxb-1234567890-abcdefghij", "slack [REDACTED]", 1),
            (
                "dsn postgres://app:hunter2@db.shop:5432/orders",
                "dsn postgres://app:[REDACTED]@db.shop:5432/orders",
                1,
            ),
            (
                "mongodb+srv://admin:p%40ss@cluster0.example.net/db",
                "mongodb+srv://admin:[REDACTED]@cluster0.example.net/db",
                1,
            ),
            (
                "key acorn_agent_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5 leaked",
                "key [REDACTED] leaked",
                1,
            ),
            (
                "- name: DB_PASSWORD\n  value: hunter2\n- name: LOG_LEVEL\n  value: debug\n",
                "- name: DB_PASSWORD\n  value: [REDACTED]\n- name: LOG_LEVEL\n  value: debug\n",
                1,
            ),
            (
                r#"{"name":"API_TOKEN","value":"abc"}"#,
                r#"{"name":"API_TOKEN","value":"[REDACTED]"}"#,
                1,
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----\nafter",
                "[REDACTED]\nafter",
                1,
            ),
        ];
        for (input, want, n) in table {
            check(input, want, *n);
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "Back-off restarting failed container app in pod checkout",
            "secretKeyRef:\n  name: db\n  key: password\n",
            "secretName: tls-cert",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            "acorn_agent_connections_total 3",
            "https://registry.example.com/shop/checkout:2.3.1",
            "token: \"\"",
        ] {
            check(text, text, 0);
        }
    }

    #[test]
    fn extra_patterns_and_their_errors() {
        let r = Redactor::new(&[r"INTERNAL-\d{6}".into(), r"ssn=(?P<secret>\d+)".into()]).unwrap();
        let (out, n) = r.redact("id INTERNAL-123456 and ssn=987 here");
        assert_eq!(out, "id [REDACTED] and ssn=[REDACTED] here");
        assert_eq!(n, 2);
        assert!(matches!(
            Redactor::new(&["(unclosed".into()]),
            Err(RedactError::InvalidPattern { .. })
        ));
    }
}
