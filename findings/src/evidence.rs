//! Evidence: building [`Evidence`] items in the source forms documented in
//! `acorn_proto::findings::Evidence`, and resolving a source back to the value it names.
//!
//! Paths: dotted fields; `field[x]` selects the list item whose `name` or `type` is `x`, or the
//! item at index `x` when `x` is a number. A missing last field of an existing object resolves to
//! `null` (Kubernetes omits empty fields, so "absent" and `null` are the same fact).

use acorn_proto::findings::Evidence;
use serde_json::Value;

use crate::snapshot::{ObjKey, Snapshot};
use crate::value::{s, text};

/// A field of an object: `source` = `Kind/ns/name path`, `text` = the value.
pub fn field(key: &ObjKey, path: &str, value: &Value) -> Evidence {
    Evidence {
        source: format!("{} {path}", key.display()),
        text: text(value),
    }
}

/// A field read from `object` at `path` (bracket selectors allowed); `None` when absent.
pub fn at(key: &ObjKey, object: &Value, path: &str) -> Option<Evidence> {
    let v = walk(object, path)?;
    (!v.is_null()).then(|| field(key, path, v))
}

/// An event: `Event/ns/name`, `REASON: MESSAGE`.
pub fn event(key: &ObjKey, event: &Value) -> Evidence {
    Evidence {
        source: key.display(),
        text: event_text(event),
    }
}

/// `REASON: MESSAGE` of an event.
pub fn event_text(event: &Value) -> String {
    // events.k8s.io/v1 calls the message `note`.
    let message = s(event, "message").or_else(|| s(event, "note"));
    format!(
        "{}: {}",
        s(event, "reason").unwrap_or_default(),
        message.unwrap_or_default()
    )
}

/// A log line of a pod's container.
pub fn log(pod: &ObjKey, container: &str, previous: bool, line: &str) -> Evidence {
    Evidence {
        source: format!(
            "{} logs[{container}]{}",
            pod.display(),
            if previous { ".previous" } else { "" }
        ),
        text: line.to_string(),
    }
}

/// Follows a path with bracket selectors through `v`.
pub fn walk<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    let segments: Vec<&str> = path.split('.').collect();
    for (n, segment) in segments.iter().enumerate() {
        let last = n + 1 == segments.len();
        let (name, selector) = match segment.split_once('[') {
            Some((name, rest)) => (name, Some(rest.strip_suffix(']')?)),
            None => (*segment, None),
        };
        let next = match cur.get(name) {
            Some(v) => v,
            None if last && selector.is_none() && cur.is_object() => return Some(&Value::Null),
            None => return None,
        };
        cur = match selector {
            None => next,
            Some(sel) => {
                let items = next.as_array()?;
                match sel.parse::<usize>() {
                    Ok(index) => items.get(index)?,
                    Err(_) => items
                        .iter()
                        .find(|x| s(x, "name") == Some(sel) || s(x, "type") == Some(sel))?,
                }
            }
        };
    }
    Some(cur)
}

/// See [`Snapshot::resolve`].
pub fn resolve(snapshot: &Snapshot, source: &str) -> Option<String> {
    let (object, path) = match source.split_once(' ') {
        Some((o, p)) => (o, Some(p)),
        None => (source, None),
    };
    let mut parts = object.splitn(3, '/');
    let kind = parts.next()?;
    let (namespace, name) = match (parts.next()?, parts.next()) {
        (ns, Some(name)) => (ns, name),
        (name, None) => ("", name),
    };
    let key = ObjKey::new(kind, namespace, name);
    let value = snapshot.get(&key)?;
    let Some(path) = path else {
        return (kind == "Event").then(|| event_text(value));
    };
    if let Some(rest) = path.strip_prefix("logs[") {
        let (container, tail) = rest.split_once(']')?;
        let previous = match tail {
            "" => false,
            ".previous" => true,
            _ => return None,
        };
        // A log "value" is the whole log; callers check that the evidence line is one of it.
        return Some(
            snapshot
                .log(namespace, name, container, previous)
                .join("\n"),
        );
    }
    walk(value, path).map(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_select_by_name_type_or_index() {
        let pod = json!({"status": {"containerStatuses": [{"name": "app", "restartCount": 3}],
            "conditions": [{"type": "Ready", "status": "False"}]}, "spec": {"taints": ["a", "b"]}});
        assert_eq!(
            walk(&pod, "status.containerStatuses[app].restartCount"),
            Some(&json!(3))
        );
        assert_eq!(
            walk(&pod, "status.conditions[Ready].status"),
            Some(&json!("False"))
        );
        assert_eq!(walk(&pod, "spec.taints[1]"), Some(&json!("b")));
        assert_eq!(walk(&pod, "spec.missing"), Some(&Value::Null));
        assert_eq!(walk(&pod, "spec.missing.deeper"), None);
        assert_eq!(walk(&pod, "status.conditions[Nope].status"), None);
        assert_eq!(walk(&pod, "status.conditions[Ready"), None);
    }
}
