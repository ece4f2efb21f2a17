//! Just enough of the Kubernetes protobuf encoding to read the one typed body kubectl sends
//! that the simulator needs: `SelfSubjectAccessReview` (`kubectl auth can-i`). Other protobuf
//! bodies get 415; kubectl's unstructured paths (get, apply-less edits, patch) use JSON.
//!
//! Envelope: `k8s\0` + `runtime.Unknown{1: typeMeta, 2: raw}`; `raw` is the object message.

use serde_json::{Value, json};

const MAGIC: &[u8] = b"k8s\0";

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The length-delimited fields of a message, as (field number, bytes).
fn fields(buf: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        match key & 7 {
            0 => {
                varint(buf, &mut pos)?;
            }
            1 => pos += 8,
            5 => pos += 4,
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                out.push((key >> 3, buf.get(pos..pos.checked_add(len)?)?));
                pos += len;
            }
            _ => return None,
        }
    }
    Some(out)
}

fn field(buf: &[u8], number: u64) -> Option<&[u8]> {
    fields(buf)?
        .into_iter()
        .find(|(n, _)| *n == number)
        .map(|(_, b)| b)
}

fn text(buf: &[u8], number: u64) -> String {
    field(buf, number)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Decodes a protobuf `SelfSubjectAccessReview` into its JSON form.
pub fn self_subject_access_review(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(MAGIC)?;
    let raw = field(unknown, 2)?;
    let spec = field(raw, 2)?;
    let attrs = field(spec, 1).unwrap_or_default();
    Some(json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {"resourceAttributes": {
            "namespace": text(attrs, 1), "verb": text(attrs, 2), "group": text(attrs, 3), "version": text(attrs, 4),
            "resource": text(attrs, 5), "subresource": text(attrs, 6), "name": text(attrs, 7),
        }},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_an_access_review() {
        let attrs = [ld(1, b"shop"), ld(2, b"list"), ld(5, b"pods")].concat();
        let raw = [ld(1, b""), ld(2, &ld(1, &attrs))].concat();
        let body = [
            MAGIC.to_vec(),
            ld(
                1,
                &[
                    ld(1, b"authorization.k8s.io/v1"),
                    ld(2, b"SelfSubjectAccessReview"),
                ]
                .concat(),
            ),
            ld(2, &raw),
        ]
        .concat();
        let review = self_subject_access_review(&body).unwrap_or_default();
        assert_eq!(review["spec"]["resourceAttributes"]["verb"], "list");
        assert_eq!(review["spec"]["resourceAttributes"]["namespace"], "shop");
        assert!(self_subject_access_review(b"garbage").is_none());
    }
}
