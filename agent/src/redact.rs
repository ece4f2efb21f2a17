//! Masking of secrets in text that leaves the cluster.
//!
//! Every string a builtin tool returns (content and error messages) passes through
//! [`Redactor::redact`] before it is put into a `ToolOutcome`.

use regex::Regex;

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

/// The set of patterns that mask secrets.
#[derive(Debug, Clone)]
pub struct Redactor {
    extra: Vec<Regex>,
}

impl Redactor {
    /// The built-in patterns plus `extra_patterns` (regular expressions; the whole match is masked).
    pub fn new(extra_patterns: &[String]) -> Result<Redactor, RedactError> {
        let extra = extra_patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|source| RedactError::InvalidPattern {
                    pattern: p.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Redactor { extra })
    }

    /// `text` with every secret replaced by `[REDACTED]`, and how many were masked.
    pub fn redact(&self, text: &str) -> (String, u32) {
        let mut out = text.to_owned();
        let mut count = 0u32;
        for re in &self.extra {
            let n = re.find_iter(&out).count();
            if n > 0 {
                count = count.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                out = re.replace_all(&out, "[REDACTED]").into_owned();
            }
        }
        (out, count)
    }
}
