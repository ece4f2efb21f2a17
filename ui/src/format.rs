//! Formatting shared by the pages: times, Kubernetes quantities, YAML of objects.

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn unix(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .map(|t| {
            format!(
                "{}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_else(|| secs.to_string())
}

/// Unix milliseconds, as [`unix`].
pub fn unix_ms(ms: i64) -> String {
    unix(ms.div_euclid(1000))
}

/// An RFC 3339 time as [`unix`] (or as it is when it does not parse).
pub fn rfc3339(s: &str) -> String {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| unix(t.unix_timestamp()))
        .unwrap_or_else(|_| s.to_owned())
}

/// How long ago, roughly (`12s ago`, `5m ago`, `3h ago`, `2d ago`).
pub fn ago(secs: i64, now: i64) -> String {
    let d = (now - secs).max(0);
    match d {
        0..60 => format!("{d}s ago"),
        60..3600 => format!("{}m ago", d / 60),
        3600..86400 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86400),
    }
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A CPU quantity (`250m`, `1`, `1234567n`, `12u`) in millicores.
pub fn cpu_millis(q: &str) -> Option<f64> {
    let q = q.trim();
    let (num, scale) = match q.char_indices().last()? {
        (i, 'n') => (&q[..i], 1e-6),
        (i, 'u') => (&q[..i], 1e-3),
        (i, 'm') => (&q[..i], 1.0),
        _ => (q, 1000.0),
    };
    num.parse::<f64>().ok().map(|n| n * scale)
}

/// A memory quantity (`20480Ki`, `64Mi`, `1G`, `1000`) in bytes.
pub fn memory_bytes(q: &str) -> Option<f64> {
    let q = q.trim();
    let units: [(&str, f64); 10] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0f64.powi(4)),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("m", 1e-3),
    ];
    for (suffix, mult) in units {
        if let Some(num) = q.strip_suffix(suffix) {
            return num.parse::<f64>().ok().map(|n| n * mult);
        }
    }
    q.parse().ok()
}

/// Bytes for people (`12.5 MiB`).
pub fn bytes(b: f64) -> String {
    let mut v = b;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            return if unit == "B" {
                format!("{v:.0} {unit}")
            } else {
                format!("{v:.1} {unit}")
            };
        }
        v /= 1024.0;
    }
    format!("{v:.1} TiB")
}

/// An object as YAML (as `kubectl get -o yaml` would show it); JSON when YAML fails.
pub fn yaml(value: &serde_json::Value) -> String {
    serde_saphyr::to_string(value)
        .unwrap_or_else(|_| serde_json::to_string_pretty(value).unwrap_or_default())
}

/// JSON, indented.
pub fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_millis("250m"), Some(250.0));
        assert_eq!(cpu_millis("2"), Some(2000.0));
        assert_eq!(cpu_millis("1234567n"), Some(1.234567));
        assert_eq!(memory_bytes("20480Ki"), Some(20480.0 * 1024.0));
        assert_eq!(memory_bytes("1G"), Some(1e9));
        assert_eq!(memory_bytes("nope"), None);
        assert_eq!(bytes(1536.0), "1.5 KiB");
    }

    #[test]
    fn times() {
        assert_eq!(unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(rfc3339("2026-11-27T14:00:00Z"), "2026-11-27 14:00:00 UTC");
        assert_eq!(ago(100, 3700), "1h ago");
    }

    #[test]
    fn yaml_of_an_object() {
        let y = yaml(&serde_json::json!({"kind": "Pod", "metadata": {"name": "a"}}));
        assert!(y.contains("kind: Pod"), "{y}");
    }
}
