//! Tolerant reads of JSON objects: a missing field, or one of the wrong type, is `None` (or an
//! empty list), never a panic. Every rule reads the snapshot through these, which is how
//! garbage objects are skipped.

use serde_json::{Map, Value};

/// The value at a dotted path (`status.containerStatuses`); no list indexing.
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, field| v.get(field))
}

/// A string at `path`.
pub fn s<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    get(v, path)?.as_str()
}

/// A non-empty string at `path`.
pub fn ne<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    s(v, path).filter(|s| !s.is_empty())
}

/// An integer at `path` (JSON numbers; Kubernetes never sends counts as strings).
pub fn i(v: &Value, path: &str) -> Option<i64> {
    get(v, path)?.as_i64()
}

/// A boolean at `path`.
pub fn b(v: &Value, path: &str) -> Option<bool> {
    get(v, path)?.as_bool()
}

/// A list at `path` (empty when missing or not a list).
pub fn arr<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// An object at `path`.
pub fn obj<'a>(v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
    get(v, path)?.as_object()
}

/// The item of the list at `path` whose `field` equals `want` (conditions by `type`,
/// containers by `name`).
pub fn item<'a>(v: &'a Value, path: &str, field: &str, want: &str) -> Option<&'a Value> {
    arr(v, path).iter().find(|x| s(x, field) == Some(want))
}

/// Evidence text of a value: strings as they are, anything else compact JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
