//! Presentation shared by the tools: aligned tables like `kubectl get`, ages like kubectl
//! prints them, YAML, object trimming, Kubernetes quantities, and the output bounds.
//!
//! Trimming is the one place that decides what of an object may leave the cluster: no
//! `managedFields`, no `kubectl.kubernetes.io/last-applied-configuration` (it repeats the whole
//! object, Secret data included), and for Secrets only their type and the names of their keys.

use acorn_proto::tools::{MAX_OUTPUT_BYTES, MAX_OUTPUT_LINES};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Failure;

/// The annotation `kubectl apply` keeps the whole last applied object in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How much of a tool's content may go back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub max_lines: usize,
    pub max_bytes: usize,
}

impl Bounds {
    /// The defaults, or less when the caller asks for less (never more).
    pub fn new(max_lines: Option<u32>, max_bytes: Option<u32>) -> Bounds {
        let lines = max_lines
            .unwrap_or(MAX_OUTPUT_LINES)
            .clamp(1, MAX_OUTPUT_LINES);
        let bytes = max_bytes
            .unwrap_or(MAX_OUTPUT_BYTES)
            .clamp(256, MAX_OUTPUT_BYTES);
        Bounds {
            max_lines: lines as usize,
            max_bytes: bytes as usize,
        }
    }
}

/// Which end of a text survives a cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Head,
    Tail,
}

/// Cuts `text` to `bounds` at line boundaries, adding one line that says so; returns whether it
/// cut. The note counts against the bounds, so the result always fits.
pub fn bound(text: &str, bounds: Bounds, keep: Keep) -> (String, bool) {
    let line_count = text.lines().count();
    if line_count <= bounds.max_lines && text.len() <= bounds.max_bytes {
        return (text.to_string(), false);
    }
    let note_head = "[output cut to fit the tool's limits; narrow the query or ask for less]";
    let note_tail = "[earlier lines cut to fit the tool's limits; ask for less with tail_lines]";
    let note = if keep == Keep::Head {
        note_head
    } else {
        note_tail
    };
    let budget_lines = bounds.max_lines.saturating_sub(1);
    let budget_bytes = bounds.max_bytes.saturating_sub(note.len() + 1);
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut bytes = 0usize;
    let ordered: Box<dyn Iterator<Item = &&str>> = match keep {
        Keep::Head => Box::new(lines.iter()),
        Keep::Tail => Box::new(lines.iter().rev()),
    };
    for line in ordered {
        if kept.len() >= budget_lines {
            break;
        }
        let cost = line.len() + 1;
        if bytes + cost > budget_bytes {
            // A single line longer than the whole budget is cut inside the line rather than
            // dropped, so a one-line answer is never empty.
            if kept.is_empty() {
                kept.push(cut_str(line, budget_bytes.saturating_sub(1), keep));
            }
            break;
        }
        bytes += cost;
        kept.push(line);
    }
    if keep == Keep::Tail {
        kept.reverse();
    }
    let mut out = String::with_capacity(bytes + note.len() + 1);
    if keep == Keep::Tail {
        out.push_str(note);
        out.push('\n');
    }
    for line in kept {
        out.push_str(line);
        out.push('\n');
    }
    if keep == Keep::Head {
        out.push_str(note);
        out.push('\n');
    }
    (out, true)
}

/// At most `max` bytes of `s` at a char boundary, from the start or the end.
fn cut_str(s: &str, max: usize, keep: Keep) -> &str {
    if s.len() <= max {
        return s;
    }
    match keep {
        Keep::Head => {
            let mut end = max;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            &s[..end]
        }
        Keep::Tail => {
            let mut start = s.len() - max;
            while !s.is_char_boundary(start) {
                start += 1;
            }
            &s[start..]
        }
    }
}

/// A table with left-aligned columns separated by three spaces, like `kubectl get`.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Rows without the header.
    pub fn len(&self) -> usize {
        self.rows.len() - 1
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count() + 3;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The string at a JSON pointer, if any.
pub fn s<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The string at a JSON pointer, or `<none>`.
pub fn s_or_none(v: &Value, pointer: &str) -> String {
    s(v, pointer).unwrap_or("<none>").to_string()
}

/// The integer at a JSON pointer, or 0.
pub fn i(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Parses an RFC 3339 timestamp.
pub fn parse_time(ts: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(ts, &Rfc3339).ok()
}

/// Time since `ts` like kubectl prints it (`45s`, `3m20s`, `5h`, `2d3h`), `<unknown>` when absent.
pub fn age(ts: Option<&str>) -> String {
    match ts.and_then(parse_time) {
        Some(t) => human_duration((OffsetDateTime::now_utc() - t).whole_seconds()),
        None => "<unknown>".into(),
    }
}

/// kubectl's `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        match secs % 60 {
            0 => format!("{m}m"),
            s => format!("{m}m{s}s"),
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            mm => format!("{h}h{mm}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        match h % 24 {
            0 => format!("{d}d"),
            hh => format!("{d}d{hh}h"),
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

/// YAML of a JSON value.
pub fn yaml(v: &Value) -> Result<String, Failure> {
    serde_saphyr::to_string(v).map_err(|e| {
        Failure::new(
            acorn_proto::agent::ToolErrorCode::ToolKubernetesError,
            format!("the object could not be rendered as YAML: {e}"),
        )
    })
}

/// Removes what must not (or need not) leave the cluster. `secret`: the object is a core
/// Secret, whose `data` / `stringData` become a list of key names.
pub fn trim_object(obj: &mut Value, secret: bool) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        let empty = if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove(LAST_APPLIED);
            ann.is_empty()
        } else {
            false
        };
        if empty {
            meta.remove("annotations");
        }
    }
    if secret && let Some(map) = obj.as_object_mut() {
        let mut keys: Vec<String> = Vec::new();
        for field in ["data", "stringData"] {
            if let Some(Value::Object(data)) = map.remove(field) {
                keys.extend(data.keys().cloned());
            }
        }
        keys.sort();
        keys.dedup();
        map.insert(
            "keys".into(),
            Value::Array(keys.into_iter().map(Value::String).collect()),
        );
        map.insert(
            "note".into(),
            Value::String("Secret data is never shown; only its type and key names.".into()),
        );
    }
}

/// CPU quantity (`250m`, `1`, `1234567n`) in millicores.
pub fn cpu_millis(q: &str) -> Option<f64> {
    quantity(q).map(|v| v * 1000.0)
}

/// Any Kubernetes quantity (`128Mi`, `1G`, `500m`, `1e3`) as a plain number.
pub fn quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let value: f64 = num.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(value * factor)
}

/// Bytes as kubectl top prints memory (`128Mi`).
pub fn mebibytes(bytes: f64) -> String {
    format!("{}Mi", (bytes / (1024.0 * 1024.0)).round() as i64)
}

/// Millicores as kubectl top prints CPU (`250m`).
pub fn millicores(m: f64) -> String {
    format!("{}m", m.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        for (secs, want) in [
            (5, "5s"),
            (119, "119s"),
            (200, "3m20s"),
            (600, "10m"),
            (3 * 3600 + 120, "3h2m"),
            (10 * 3600, "10h"),
            (3 * 86_400 + 3600, "3d1h"),
            (30 * 86_400, "30d"),
            (800 * 86_400, "2y"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(cpu_millis("250m"), Some(250.0));
        assert_eq!(cpu_millis("2"), Some(2000.0));
        assert!((cpu_millis("912345678n").unwrap() - 912.345678).abs() < 1e-6);
        assert_eq!(quantity("256Mi"), Some(268_435_456.0));
        assert_eq!(quantity("261120Ki"), Some(267_386_880.0));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("12Q"), None);
        assert_eq!(mebibytes(267_386_880.0), "255Mi");
    }

    #[test]
    fn bounds_cut_at_lines_and_bytes_and_say_so() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let (out, cut) = bound(&text, Bounds::new(Some(10), None), Keep::Head);
        assert!(cut);
        assert_eq!(out.lines().count(), 10);
        assert!(out.starts_with("line 0\n"));
        assert!(out.contains("output cut"));
        let (out, cut) = bound(&text, Bounds::new(Some(10), None), Keep::Tail);
        assert!(cut);
        assert!(out.ends_with("line 99\n"));
        assert_eq!(out.lines().count(), 10);
        let (out, cut) = bound(&text, Bounds::new(None, Some(300)), Keep::Head);
        assert!(cut && out.len() <= 300, "{}", out.len());
        let (same, cut) = bound("a\nb\n", Bounds::new(None, None), Keep::Head);
        assert!(!cut);
        assert_eq!(same, "a\nb\n");
        let long = "é".repeat(1000);
        let (out, cut) = bound(&long, Bounds::new(None, Some(300)), Keep::Head);
        assert!(cut && out.len() <= 300 && out.starts_with('é'));
    }

    #[test]
    fn secrets_keep_only_type_and_key_names() {
        let mut secret = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "managedFields": [{}],
                "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "app"}
        });
        trim_object(&mut secret, true);
        let text = secret.to_string();
        assert!(!text.contains("aHVudGVyMg"));
        assert!(!text.contains("managedFields"));
        assert_eq!(secret["keys"], serde_json::json!(["password", "user"]));
        assert_eq!(secret["type"], "Opaque");
    }

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["NAME", "STATUS"]);
        t.row(vec!["a-long-name".into(), "Running".into()]);
        t.row(vec!["b".into(), "Pending".into()]);
        assert_eq!(
            t.render(),
            "NAME          STATUS\na-long-name   Running\nb             Pending\n"
        );
    }
}
