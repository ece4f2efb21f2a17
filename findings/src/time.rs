//! Time without a date crate: RFC 3339 timestamps as Kubernetes writes them, unix seconds, the
//! simulator's `{{now-10m}}` placeholders and short durations ("30s", "1h30m").
//!
//! The crate stays serde-only (see `lib.rs`), and the civil-date arithmetic needed here is a
//! dozen lines (Howard Hinnant's `days_from_civil`), so it is written out rather than pulled in.

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `2026-11-27T06:00:00Z`, `…T06:00:00.123456Z` or `…T06:00:00+02:00` into unix
/// seconds. `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 20 || !s.is_char_boundary(10) || !s.is_char_boundary(19) {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let mut parts = date.split('-');
    let y = digits(parts.next()?)?;
    let mo = digits(parts.next()?)?;
    let d = digits(parts.next()?)?;
    if parts.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, mut zone) = rest.split_at(8);
    let mut hms = clock.split(':');
    let h = digits(hms.next()?)?;
    let mi = digits(hms.next()?)?;
    let se = digits(hms.next()?)?;
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    if let Some(frac) = zone.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if end == 0 {
            return None;
        }
        zone = &frac[end..];
    }
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = zone.get(1..)?.split_once(':')?;
            sign * (digits(oh)? * 3600 + digits(om)? * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// `2026-11-27T06:00:00Z` (seconds precision, UTC), as Kubernetes writes timestamps.
pub fn format_rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// "30s", "10m", "2h", "1d", "1h30m" or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Some(secs);
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
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    number.is_empty().then_some(total)
}

/// The simulator's placeholder rule (`kubesim/src/time.rs`): a string that is exactly
/// `{{now}}`, `{{now-10m}}` or `{{now+30s}}` becomes that time relative to `base`.
pub fn expand_placeholder(s: &str, base: i64) -> Option<String> {
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
    Some(format_rfc3339(t))
}

/// "3m", "2h5m", "4d": an age for titles.
pub fn human(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 120 {
        format!("{secs}s")
    } else if secs < 3 * 3600 {
        format!("{}m", secs / 60)
    } else if secs < 48 * 3600 {
        format!("{}h{}m", secs / 3600, secs / 60 % 60)
    } else {
        format!("{}d{}h", secs / 86_400, secs / 3600 % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for t in [
            0,
            1,
            86_399,
            951_782_400,
            1_795_766_400,
            4_102_444_800,
            -86_400,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2000-02-29T12:00:00.123456789Z"),
            Some(951_825_600)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T14:00:00+02:00"),
            Some(951_825_600)
        );
        for bad in [
            "",
            "now",
            "2000-13-01T00:00:00Z",
            "2000-01-01T25:00:00Z",
            "2000-01-01",
            "2000-01-01T00:00:00",
            "é000-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn placeholders_like_the_simulator() {
        let base = 86_400;
        assert_eq!(
            expand_placeholder("{{now-10m}}", base).as_deref(),
            Some("1970-01-01T23:50:00Z")
        );
        assert_eq!(
            expand_placeholder("{{now+1h30m}}", base).as_deref(),
            Some("1970-01-02T01:30:00Z")
        );
        assert_eq!(expand_placeholder("{{later}}", base), None);
        assert_eq!(expand_placeholder("x {{now}}", base), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(human(3 * 86_400 + 7200), "3d2h");
    }
}
