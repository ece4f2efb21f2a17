//! Evidence bundles: a finished run as one signed JSON document for a change board or an
//! auditor, and its offline verification (`acorn verify-bundle FILE`).
//!
//! The signature is Ed25519 over the canonical JSON of `bundle` (serde_json with sorted keys,
//! no whitespace). The signing key is the appliance's own (generated on first start, sealed in
//! the store like every secret) and used for nothing else. The bundle carries the public key so
//! that anyone can check integrity offline; authenticity comes from comparing its fingerprint
//! with the one the appliance logs at start (`evidence signing key`) — `verify-bundle
//! --fingerprint HEX` does that comparison.

use base64::Engine as _;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use acorn_proto::runs::{BundleSignature, EvidenceBundle, RunEventKind};
use acorn_store::{AuditFilter, DEPLOYMENT_SCOPE, RunRecord, Store, StoreError};

use crate::gateway::Gateway;
use crate::gateway::secrets::system_draft;

/// The bundle format name.
pub const FORMAT: &str = "acorn.evidence/v1";
const KEY_NAME: &str = "evidence-signing-key";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The appliance's evidence signing key.
pub struct EvidenceSigner {
    pair: Ed25519KeyPair,
    key_id: String,
}

impl std::fmt::Debug for EvidenceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl EvidenceSigner {
    /// Loads the key from the store, generating it on first use.
    pub async fn open(gateway: &Gateway) -> anyhow::Result<EvidenceSigner> {
        let pkcs8 = match gateway.secrets.get(DEPLOYMENT_SCOPE, KEY_NAME)? {
            Some(bytes) => bytes,
            None => {
                let rng = ring::rand::SystemRandom::new();
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| anyhow::anyhow!("cannot generate the evidence signing key"))?;
                let record = gateway
                    .secrets
                    .seal(DEPLOYMENT_SCOPE, KEY_NAME, doc.as_ref())?;
                gateway
                    .store
                    .put_secret(record, Some(system_draft("evidence.key_created")))
                    .await?;
                doc.as_ref().to_vec()
            }
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| anyhow::anyhow!("the stored evidence signing key does not parse"))?;
        let key_id = format!("ev-{}", &fingerprint(pair.public_key().as_ref())[..12]);
        Ok(EvidenceSigner { pair, key_id })
    }

    /// SHA-256 of the public key, hex.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.pair.public_key().as_ref())
    }

    /// Signs `bundle`.
    pub fn sign(&self, bundle: Value) -> Result<EvidenceBundle, serde_json::Error> {
        let bytes = serde_json::to_vec(&bundle)?;
        let signature = self.pair.sign(&bytes);
        Ok(EvidenceBundle {
            format: FORMAT.into(),
            bundle,
            signature: BundleSignature {
                algorithm: "Ed25519".into(),
                key_id: self.key_id.clone(),
                public_key: B64.encode(self.pair.public_key().as_ref()),
                fingerprint: self.fingerprint(),
                value: B64.encode(signature.as_ref()),
            },
        })
    }
}

fn fingerprint(public: &[u8]) -> String {
    hex::encode(Sha256::digest(public))
}

/// Checks a bundle offline; returns the fingerprint of the key that signed it.
pub fn verify(bundle: &EvidenceBundle, pinned_fingerprint: Option<&str>) -> Result<String, String> {
    if bundle.format != FORMAT {
        return Err(format!(
            "unknown format {:?} (this acorn reads {FORMAT})",
            bundle.format
        ));
    }
    let sig = &bundle.signature;
    if sig.algorithm != "Ed25519" {
        return Err(format!(
            "unsupported signature algorithm {:?}",
            sig.algorithm
        ));
    }
    let public = B64
        .decode(&sig.public_key)
        .map_err(|e| format!("public_key is not base64: {e}"))?;
    let actual = fingerprint(&public);
    if actual != sig.fingerprint {
        return Err("the fingerprint in the bundle does not match its public key".into());
    }
    if let Some(pinned) = pinned_fingerprint
        && !pinned.eq_ignore_ascii_case(&actual)
    {
        return Err(format!(
            "signed by key {actual}, not by the pinned key {pinned}"
        ));
    }
    let value = B64
        .decode(&sig.value)
        .map_err(|e| format!("signature is not base64: {e}"))?;
    let bytes = serde_json::to_vec(&bundle.bundle).map_err(|e| e.to_string())?;
    UnparsedPublicKey::new(&ED25519, &public)
        .verify(&bytes, &value)
        .map_err(|_| {
            "the signature does not match the content: the bundle was altered".to_owned()
        })?;
    Ok(actual)
}

/// The content of a finished run's bundle.
pub fn build(store: &Store, run: &RunRecord, exported_by: &str) -> Result<Value, StoreError> {
    let events = store.run_events(&run.id, None, usize::MAX)?;
    let mut calls: Vec<Value> = Vec::new();
    for e in &events {
        match e.kind {
            RunEventKind::ToolCall => calls.push(json!({
                "call_seq": e.seq,
                "call_id": e.data["call_id"],
                "tool": e.data["tool"],
                "arguments": e.data["arguments"],
                "class": e.data["class"],
                "at_ms": e.at_ms,
            })),
            RunEventKind::ToolResult => {
                if let Some(c) = calls
                    .iter_mut()
                    .rev()
                    .find(|c| c["call_id"] == e.data["call_id"] && c.get("result").is_none())
                {
                    c["result_seq"] = json!(e.seq);
                    c["ok"] = e.data["ok"].clone();
                    c["result"] = if e.data["ok"] == true {
                        e.data["content"].clone()
                    } else {
                        e.data["error"].clone()
                    };
                }
            }
            _ => {}
        }
    }
    let approvals = store.approvals_of_run(&run.id)?;
    let audit_ids: Vec<Value> = store
        .audit_records(
            Some(&run.workspace_id),
            AuditFilter {
                since: Some(run.created_at),
                ..AuditFilter::default()
            },
        )?
        .into_iter()
        .filter(|r| {
            r.draft.metadata.get("run").is_some_and(|id| *id == run.id)
                || r.draft.target.as_deref() == Some(run.id.as_str())
        })
        .map(|r| json!(format!("{}:{}", run.workspace_id, r.seq)))
        .collect();
    Ok(json!({
        "question": run.question,
        "workspace_id": run.workspace_id,
        "cluster_id": run.cluster_id,
        "session_id": run.session_id,
        "run_id": run.id,
        "mode": run.mode,
        "provider": run.provider,
        "model": run.model,
        "acorn_version": env!("CARGO_PKG_VERSION"),
        "state": run.state,
        "created_by": run.created_by,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "limits": run.limits,
        "usage": run.usage,
        "tool_calls": calls,
        "approvals": approvals,
        "answer": run.answer,
        "error": run.error,
        "audit_record_ids": audit_ids,
        "exported_at": crate::util::now_unix(),
        "exported_by": exported_by,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> EvidenceSigner {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        EvidenceSigner {
            pair: Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap(),
            key_id: "ev-test".into(),
        }
    }

    #[test]
    fn signed_bundles_verify_and_any_change_breaks_them() {
        let s = signer();
        let bundle = s
            .sign(json!({"question": "why?", "answer": "because", "n": 1.5}))
            .unwrap();
        let text = serde_json::to_string_pretty(&bundle).unwrap();
        let parsed: EvidenceBundle = serde_json::from_str(&text).unwrap();
        assert_eq!(verify(&parsed, None).unwrap(), s.fingerprint());
        assert!(verify(&parsed, Some(&s.fingerprint().to_uppercase())).is_ok());
        assert!(
            verify(&parsed, Some("00ff"))
                .unwrap_err()
                .contains("pinned")
        );
        let mut altered = parsed.clone();
        altered.bundle["answer"] = json!("something else");
        assert!(verify(&altered, None).unwrap_err().contains("altered"));
        let mut other_key = parsed;
        let o = signer();
        other_key.signature.public_key = B64.encode(o.pair.public_key().as_ref());
        other_key.signature.fingerprint = o.fingerprint();
        assert!(verify(&other_key, None).is_err());
    }
}
