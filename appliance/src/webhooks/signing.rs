//! Standard Webhooks signatures (HMAC-SHA256), both ways.
//!
//! A secret is `whsec_` + base64 of its key bytes. The signed content is
//! `{webhook-id}.{webhook-timestamp}.{body}`; the `webhook-signature` header holds one or more
//! space-separated `v1,<base64 of the HMAC>`, so a receiver accepts any of them: during a
//! rotation's overlap both secrets sign. Verification compares in constant time (`ring`).

use base64::Engine;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Inbound timestamps further than this from now are refused (replays, broken clocks).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// A new random secret in the Standard Webhooks format (32 bytes).
pub fn new_secret() -> String {
    format!(
        "{SECRET_PREFIX}{}",
        B64.encode(crate::tls::pki::random_bytes::<32>())
    )
}

/// The key bytes of a `whsec_…` secret (a secret without the prefix is read as base64 too).
pub fn key_bytes(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    B64.decode(b64)
        .map_err(|_| "the signing secret is not base64".to_owned())
}

fn content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(id.len() + body.len() + 24);
    c.extend_from_slice(id.as_bytes());
    c.push(b'.');
    c.extend_from_slice(timestamp.to_string().as_bytes());
    c.push(b'.');
    c.extend_from_slice(body);
    c
}

/// `v1,<base64>` for one key.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, &content(id, timestamp, body));
    format!("v1,{}", B64.encode(tag.as_ref()))
}

/// The `webhook-signature` header value: one signature per key, space-separated.
pub fn signature_header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| sign(k, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why an inbound signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// A header is missing or malformed.
    Malformed(&'static str),
    /// The timestamp is more than [`TOLERANCE_SECS`] away from now.
    Timestamp,
    /// No `v1` signature matches.
    Mismatch,
}

/// Verifies an inbound webhook: `timestamp` within [`TOLERANCE_SECS`] of `now`, and one of the
/// header's `v1` signatures made with `key`.
pub fn verify(
    key: &[u8],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    if id.is_empty() || id.len() > 256 {
        return Err(VerifyError::Malformed("webhook-id"));
    }
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::Malformed("webhook-timestamp"))?;
    if (now - ts).abs() > TOLERANCE_SECS {
        return Err(VerifyError::Timestamp);
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let signed = content(id, ts, body);
    for sig in signatures.split(' ') {
        let Some(b64) = sig.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = B64.decode(b64) else {
            continue;
        };
        if ring::hmac::verify(&key, &signed, &tag).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and of its reference libraries).
    #[test]
    fn the_specification_example_signs_and_verifies() {
        let key = key_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&key, id, 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(
            verify(
                &key,
                id,
                "1614265330",
                &format!("v1,bogus {sig}"),
                body,
                1614265330 + 60
            ),
            Ok(())
        );
        assert_eq!(
            verify(&key, id, "1614265330", &sig, body, 1614265330 + 301),
            Err(VerifyError::Timestamp)
        );
        assert_eq!(
            verify(&key, id, "1614265330", &sig, b"{}", 1614265330),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&key, id, "yesterday", &sig, body, 1614265330),
            Err(VerifyError::Malformed("webhook-timestamp"))
        );
        let two = signature_header(&[key.clone(), vec![1; 32]], id, 1614265330, body);
        assert_eq!(two.split(' ').count(), 2);
        assert!(two.starts_with(&sig));
    }
}
