//! Time helpers: RFC 3339 timestamps as Kubernetes writes them (seconds precision, `Z`),
//! kubectl-style ages ("5m", "2d3h"), short durations in scenario files ("30s", "10m") and the
//! `{{now-10m}}` placeholders that make scenario timestamps relative to the start.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `2026-11-27T06:00:00Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// `2026-11-27T06:00:00.123456789Z` (log timestamps).
pub fn rfc3339_nanos(t: OffsetDateTime) -> String {
    let base = rfc3339(t);
    match base.strip_suffix('Z') {
        Some(stem) => format!("{stem}.{:09}Z", t.nanosecond()),
        None => base,
    }
}

pub fn now_rfc3339() -> String {
    rfc3339(now())
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// "30s", "10m", "2h", "1d", "1h30m" or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Some(Duration::seconds(secs));
    }
    let mut total = 0i64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    number.is_empty().then_some(Duration::seconds(total))
}

/// kubectl's `HumanDuration` (the AGE column).
pub fn human_age(d: Duration) -> String {
    let secs = d.whole_seconds().max(0);
    let (m, h, days) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        let s = secs % 60;
        if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s}s")
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        let rm = m % 60;
        if rm == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rm}m")
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        let rh = h % 24;
        if rh == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{rh}h")
        }
    } else if h < 24 * 365 * 2 {
        format!("{days}d")
    } else {
        format!("{}y", days / 365)
    }
}

/// Age of an RFC 3339 timestamp, or `<unknown>`.
pub fn age_of(timestamp: Option<&str>) -> String {
    match timestamp.and_then(parse_rfc3339) {
        // Subtracting two dates cannot overflow a Duration.
        Some(t) => human_age(now() - t),
        None => "<unknown>".into(),
    }
}

/// Replaces `{{now}}`, `{{now-10m}}`, `{{now+30s}}` in a string, relative to `base`.
pub fn expand_placeholder(s: &str, base: OffsetDateTime) -> Option<String> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let rest = inner.strip_prefix("now")?;
    let t = if rest.is_empty() {
        base
    } else if let Some(d) = rest.strip_prefix('-') {
        base.checked_sub(parse_duration(d)?)?
    } else if let Some(d) = rest.strip_prefix('+') {
        base.checked_add(parse_duration(d)?)?
    } else {
        return None;
    };
    Some(rfc3339(t))
}

/// Expands every placeholder string inside a JSON document.
pub fn expand_placeholders(value: &mut Value, base: OffsetDateTime) {
    match value {
        Value::String(s) => {
            if s.starts_with("{{")
                && let Some(expanded) = expand_placeholder(s, base)
            {
                *s = expanded;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| expand_placeholders(v, base)),
        Value::Object(map) => map.values_mut().for_each(|v| expand_placeholders(v, base)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_like_kubectl() {
        for (secs, want) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400, "3d"),
            (400 * 86400, "400d"),
        ] {
            assert_eq!(human_age(Duration::seconds(secs)), want);
        }
    }

    #[test]
    fn durations_and_placeholders() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::seconds(5400)));
        assert_eq!(parse_duration("45"), Some(Duration::seconds(45)));
        assert_eq!(parse_duration("5x"), None);
        let base = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        assert_eq!(
            expand_placeholder("{{now-10m}}", base).as_deref(),
            Some("1970-01-01T23:50:00Z")
        );
        assert_eq!(expand_placeholder("{{later}}", base), None);
    }
}
