//! Secrets at rest: envelope encryption with XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`).
//!
//! Every secret gets its own random 256-bit data key (DEK); the value is sealed with the DEK and
//! the DEK is sealed ("wrapped") with the key-encryption key (KEK). Both seals bind the scope and
//! name as associated data, so a ciphertext moved to another record does not open. Rotating the
//! KEK re-wraps the DEKs only (the values' ciphertexts do not change), in one store transaction.
//!
//! Where the KEK comes from, first match wins:
//! 1. `gateway.kek_file` in the configuration;
//! 2. `$CREDENTIALS_DIRECTORY/acorn-kek` (systemd `LoadCredential=acorn-kek:/path`);
//! 3. a KEK generated into the store on first use. Then the store file (and so a backup) alone
//!    decrypts every secret: the docs say so and the log warns at start.
//!
//! A KEK file holds 32 bytes: raw, as 64 hex digits, or as base64 (`head -c32 /dev/urandom |
//! base64 > acorn-kek`). When an outside KEK is configured while the store still holds a generated
//! one, the secrets are re-wrapped under the outside KEK at start and the stored one is deleted.
//!
//! Secret values never leave this module except to the gateway code that uses them (provider
//! calls, MCP headers, signing keys); the API shows [`SecretState`] (set + fingerprint) only.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use acorn_proto::gateway::SecretState;
use acorn_store::{AuditDraft, SecretRecord, Store, StoreError, StoredKek};

use crate::util;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Name of the systemd credential holding the KEK.
pub const CREDENTIAL_NAME: &str = "acorn-kek";

/// Why a secret operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the key-encryption key file {path}: {reason}")]
    KekFile { path: PathBuf, reason: String },
    #[error(
        "secret {scope}/{name} is wrapped with key-encryption key {wrapped_with}, but the configured one is {configured}; configure the KEK the secrets were written with (or restore the file it came from)"
    )]
    WrongKek {
        scope: String,
        name: String,
        wrapped_with: String,
        configured: String,
    },
    #[error("secret {scope}/{name} does not decrypt (altered or moved record)")]
    Undecryptable { scope: String, name: String },
    #[error("{0}")]
    Rotation(String),
    #[error("no randomness: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the current KEK lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// `gateway.kek_file`.
    File(PathBuf),
    /// `$CREDENTIALS_DIRECTORY/acorn-kek`.
    Credential(PathBuf),
    /// Generated into the store.
    Store,
}

impl KekSource {
    /// `file`, `credential` or `store`.
    pub fn as_str(&self) -> &'static str {
        match self {
            KekSource::File(_) => "file",
            KekSource::Credential(_) => "credential",
            KekSource::Store => "store",
        }
    }
}

/// A key-encryption key.
struct Kek {
    id: String,
    key: [u8; 32],
    source: KekSource,
}

impl Kek {
    fn new(key: [u8; 32], source: KekSource) -> Kek {
        Kek {
            id: kek_id(&key),
            key,
            source,
        }
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Identifier of a KEK: a hash, so that it says which key without revealing it.
fn kek_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"acorn-kek-id\0");
    h.update(key);
    format!("kek_{}", &hex::encode(h.finalize())[..16])
}

/// `sha256:` + 8 hex digits of the value.
pub fn fingerprint(value: &[u8]) -> String {
    format!("sha256:{}", &hex::encode(Sha256::digest(value))[..8])
}

/// The API's view of a stored secret.
pub fn state(record: Option<&SecretRecord>) -> SecretState {
    match record {
        Some(r) => SecretState {
            set: true,
            fingerprint: Some(r.fingerprint.clone()),
            updated_at: Some(util::rfc3339(r.updated_at)),
        },
        None => SecretState {
            set: false,
            fingerprint: None,
            updated_at: None,
        },
    }
}

fn random<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(b)
}

/// Reads a KEK file: 32 raw bytes, 64 hex digits, or base64 of 32 bytes.
pub fn read_kek_file(path: &Path) -> Result<[u8; 32], SecretError> {
    let bad = |reason: String| SecretError::KekFile {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    if bytes.len() == 32 {
        let mut k = [0u8; 32];
        k.copy_from_slice(&bytes);
        return Ok(k);
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    let decoded = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        B64.decode(text).ok()
    };
    decoded
        .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
        .ok_or_else(|| {
            bad("it must hold 32 bytes: raw, 64 hex digits, or base64 (e.g. `head -c32 /dev/urandom | base64`)".into())
        })
}

fn aad(scope: &str, name: &str, what: &str) -> Vec<u8> {
    format!("acorn-secret\0{what}\0{scope}\0{name}").into_bytes()
}

fn seal(key: &[u8; 32], aad: &[u8], plain: &[u8]) -> Result<(String, String), SecretError> {
    let cipher = XChaCha20Poly1305::new_from_slice(key)
        .map_err(|_| SecretError::Rotation("bad key length".into()))?;
    let nonce_bytes = random::<24>()?;
    let nonce = XNonce::try_from(&nonce_bytes[..])
        .map_err(|_| SecretError::Rotation("bad nonce length".into()))?;
    let sealed = cipher
        .encrypt(&nonce, Payload { msg: plain, aad })
        .map_err(|_| SecretError::Rotation("encryption failed".into()))?;
    Ok((B64.encode(nonce_bytes), B64.encode(sealed)))
}

fn unseal(key: &[u8; 32], aad: &[u8], nonce_b64: &str, sealed_b64: &str) -> Option<Vec<u8>> {
    let cipher = XChaCha20Poly1305::new_from_slice(key).ok()?;
    let nonce_bytes = B64.decode(nonce_b64).ok()?;
    let nonce = XNonce::try_from(nonce_bytes.as_slice()).ok()?;
    let sealed = B64.decode(sealed_b64).ok()?;
    cipher.decrypt(&nonce, Payload { msg: &sealed, aad }).ok()
}

/// The secret service: seals, opens, stores and rotates.
pub struct Secrets {
    store: Store,
    kek: RwLock<Arc<Kek>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

impl Secrets {
    /// Finds the KEK (see the module docs), generating one into the store when none is
    /// configured, and moves secrets wrapped by a stored KEK under a configured one.
    pub async fn open(
        store: Store,
        kek_file: Option<&Path>,
        credentials_dir: Option<&Path>,
    ) -> Result<Secrets, SecretError> {
        let outside = match (kek_file, credentials_dir) {
            (Some(file), _) => Some(Kek::new(
                read_kek_file(file)?,
                KekSource::File(file.to_path_buf()),
            )),
            (None, Some(dir)) if dir.join(CREDENTIAL_NAME).exists() => {
                let path = dir.join(CREDENTIAL_NAME);
                Some(Kek::new(read_kek_file(&path)?, KekSource::Credential(path)))
            }
            _ => None,
        };
        let stored = store.stored_kek()?;
        let kek = match (outside, stored) {
            (Some(kek), None) => kek,
            (Some(kek), Some(stored)) => {
                // The operator moved the KEK out of the store: re-wrap under the new one.
                let old = Kek::new(decode_stored(&stored)?, KekSource::Store);
                let secrets = Secrets {
                    store: store.clone(),
                    kek: RwLock::new(Arc::new(old)),
                };
                let new = Arc::new(kek);
                let audit = system_draft("secrets.kek_moved_out_of_store");
                let n = secrets.rewrap_under(Arc::clone(&new), None, audit).await?;
                tracing::info!(kek_id = %new.id, rewrapped = n, "secrets moved from the stored key-encryption key to the configured one");
                return Ok(Secrets {
                    store,
                    kek: RwLock::new(new),
                });
            }
            (None, Some(stored)) => Kek::new(decode_stored(&stored)?, KekSource::Store),
            (None, None) => {
                let key = random::<32>()?;
                let fresh = StoredKek {
                    id: kek_id(&key),
                    key_b64: B64.encode(key),
                    created_at: util::now_unix(),
                };
                let kept = store.init_stored_kek(fresh).await?;
                Kek::new(decode_stored(&kept)?, KekSource::Store)
            }
        };
        if kek.source == KekSource::Store {
            tracing::warn!(
                kek_id = %kek.id,
                "secrets are encrypted with a key-encryption key kept in the store itself: a copy of the store (or a backup) alone decrypts them; configure gateway.kek_file or the systemd credential acorn-kek to keep it apart"
            );
        }
        let secrets = Secrets {
            store,
            kek: RwLock::new(Arc::new(kek)),
        };
        for record in secrets.store.all_secrets()? {
            let current = secrets.current();
            if record.kek_id != current.id {
                tracing::error!(scope = %record.scope, name = %record.name, wrapped_with = %record.kek_id, configured = %current.id, "a secret is wrapped with another key-encryption key; it cannot be used until that key is configured");
            }
        }
        Ok(secrets)
    }

    fn current(&self) -> Arc<Kek> {
        match self.kek.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Id and source of the current KEK.
    pub fn kek_info(&self) -> (String, String) {
        let k = self.current();
        (k.id.clone(), k.source.as_str().to_owned())
    }

    /// Seals `value` as the secret `scope/name` (not stored yet).
    pub fn seal(&self, scope: &str, name: &str, value: &[u8]) -> Result<SecretRecord, SecretError> {
        let kek = self.current();
        let dek = random::<32>()?;
        let (nonce, ciphertext) = seal(&dek, &aad(scope, name, "value"), value)?;
        let (dek_nonce, wrapped_dek) = seal(
            &kek.key,
            &aad(scope, name, &format!("dek\0{}", kek.id)),
            &dek,
        )?;
        let now = util::now_unix();
        Ok(SecretRecord {
            scope: scope.to_owned(),
            name: name.to_owned(),
            kek_id: kek.id.clone(),
            wrapped_dek,
            dek_nonce,
            ciphertext,
            nonce,
            fingerprint: fingerprint(value),
            created_at: now,
            updated_at: now,
        })
    }

    /// Opens a stored secret.
    pub fn open_record(&self, record: &SecretRecord) -> Result<Vec<u8>, SecretError> {
        let kek = self.current();
        open_with(&kek, record)
    }

    /// Seals and stores a secret, with its audit record.
    #[cfg(test)]
    pub async fn set(
        &self,
        scope: &str,
        name: &str,
        value: &[u8],
        audit: Option<AuditDraft>,
    ) -> Result<SecretRecord, SecretError> {
        let record = self.seal(scope, name, value)?;
        self.store.put_secret(record.clone(), audit).await?;
        Ok(record)
    }

    /// The clear value of `scope/name`, if stored.
    pub fn get(&self, scope: &str, name: &str) -> Result<Option<Vec<u8>>, SecretError> {
        match self.store.secret(scope, name)? {
            Some(record) => self.open_record(&record).map(Some),
            None => Ok(None),
        }
    }

    /// Rotates the KEK: to the key in `new_kek_file`, or (when the current KEK is stored) to a
    /// new generated one. Returns (new id, secrets re-wrapped, source).
    pub async fn rotate(
        &self,
        new_kek_file: Option<&Path>,
        audit: AuditDraft,
    ) -> Result<(String, u64, String), SecretError> {
        let current = self.current();
        let (new, stored) = match new_kek_file {
            Some(path) => (
                Kek::new(read_kek_file(path)?, KekSource::File(path.to_path_buf())),
                None,
            ),
            None if current.source == KekSource::Store => {
                let key = random::<32>()?;
                let stored = StoredKek {
                    id: kek_id(&key),
                    key_b64: B64.encode(key),
                    created_at: util::now_unix(),
                };
                (Kek::new(key, KekSource::Store), Some(stored))
            }
            None => {
                return Err(SecretError::Rotation(
                    "the current key-encryption key comes from a file or credential: give the new one with --new-kek-file, then point gateway.kek_file (or the acorn-kek credential) at it before the next restart".into(),
                ));
            }
        };
        if new.id == current.id {
            return Err(SecretError::Rotation(
                "the new key-encryption key is the current one".into(),
            ));
        }
        let new = Arc::new(new);
        let n = self.rewrap_under(Arc::clone(&new), stored, audit).await?;
        let result = (new.id.clone(), n, new.source.as_str().to_owned());
        match self.kek.write() {
            Ok(mut k) => *k = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
        Ok(result)
    }

    async fn rewrap_under(
        &self,
        new: Arc<Kek>,
        stored: Option<StoredKek>,
        audit: AuditDraft,
    ) -> Result<u64, SecretError> {
        let old = self.current();
        let rewrap: acorn_store::Rewrap = Arc::new(move |record: &SecretRecord| {
            let dek = unwrap_dek(&old, record).map_err(|e| e.to_string())?;
            let (dek_nonce, wrapped_dek) = seal(
                &new.key,
                &aad(&record.scope, &record.name, &format!("dek\0{}", new.id)),
                &dek,
            )
            .map_err(|e| e.to_string())?;
            Ok(SecretRecord {
                kek_id: new.id.clone(),
                wrapped_dek,
                dek_nonce,
                ..record.clone()
            })
        });
        self.store
            .rewrap_secrets(rewrap, stored, audit)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { what } => SecretError::Rotation(what),
                other => other.into(),
            })
    }
}

fn decode_stored(stored: &StoredKek) -> Result<[u8; 32], SecretError> {
    B64.decode(&stored.key_b64)
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
        .ok_or_else(|| SecretError::Rotation("the stored key-encryption key is damaged".into()))
}

fn unwrap_dek(kek: &Kek, record: &SecretRecord) -> Result<[u8; 32], SecretError> {
    if record.kek_id != kek.id {
        return Err(SecretError::WrongKek {
            scope: record.scope.clone(),
            name: record.name.clone(),
            wrapped_with: record.kek_id.clone(),
            configured: kek.id.clone(),
        });
    }
    let undecryptable = || SecretError::Undecryptable {
        scope: record.scope.clone(),
        name: record.name.clone(),
    };
    let dek = unseal(
        &kek.key,
        &aad(&record.scope, &record.name, &format!("dek\0{}", kek.id)),
        &record.dek_nonce,
        &record.wrapped_dek,
    )
    .ok_or_else(undecryptable)?;
    <[u8; 32]>::try_from(dek.as_slice()).map_err(|_| undecryptable())
}

fn open_with(kek: &Kek, record: &SecretRecord) -> Result<Vec<u8>, SecretError> {
    let dek = unwrap_dek(kek, record)?;
    unseal(
        &dek,
        &aad(&record.scope, &record.name, "value"),
        &record.nonce,
        &record.ciphertext,
    )
    .ok_or_else(|| SecretError::Undecryptable {
        scope: record.scope.clone(),
        name: record.name.clone(),
    })
}

/// An audit draft for an action of the appliance itself (appliance chain).
pub fn system_draft(action: &str) -> AuditDraft {
    AuditDraft {
        workspace_id: None,
        actor: acorn_store::Actor {
            kind: acorn_store::ActorKind::System,
            id: "gateway".into(),
            display: "LLM gateway".into(),
        },
        action: action.to_owned(),
        target: None,
        result: acorn_store::AuditResult::Success,
        source_ip: None,
        request_id: None,
        operation: acorn_store::Operation::Write,
        category: acorn_store::Category::Mcp,
        metadata: Default::default(),
        at: util::now_unix(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("acorn.redb"),
            acorn_store::StoreOptions::new("test"),
        )
        .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn round_trip_rotation_and_tamper() {
        let (_dir, store) = store().await;
        let secrets = Secrets::open(store.clone(), None, None).await.unwrap();
        assert_eq!(secrets.kek_info().1, "store");
        secrets
            .set("ws_1", "openai", b"sk-planted-123", None)
            .await
            .unwrap();
        assert_eq!(
            secrets.get("ws_1", "openai").unwrap().unwrap(),
            b"sk-planted-123"
        );
        let before = store.secret("ws_1", "openai").unwrap().unwrap();
        assert!(!before.ciphertext.contains("planted"));

        // Stored KEK → generated new stored KEK: DEK re-wrapped, value ciphertext unchanged.
        let (id, n, source) = secrets
            .rotate(None, system_draft("secrets.kek_rotated"))
            .await
            .unwrap();
        assert_eq!((n, source.as_str()), (1, "store"));
        let after = store.secret("ws_1", "openai").unwrap().unwrap();
        assert_eq!(after.kek_id, id);
        assert_eq!(after.ciphertext, before.ciphertext);
        assert_ne!(after.wrapped_dek, before.wrapped_dek);
        assert_eq!(
            secrets.get("ws_1", "openai").unwrap().unwrap(),
            b"sk-planted-123"
        );

        // A record moved under another name does not open (names are associated data).
        let mut moved = after.clone();
        moved.name = "other".into();
        assert!(matches!(
            secrets.open_record(&moved),
            Err(SecretError::Undecryptable { .. })
        ));

        // Moving to a KEK file: re-wrapped at open, the stored KEK is gone.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kek");
        std::fs::write(&file, hex::encode([7u8; 32])).unwrap();
        drop(secrets);
        let secrets = Secrets::open(store.clone(), Some(&file), None)
            .await
            .unwrap();
        assert_eq!(secrets.kek_info().1, "file");
        assert!(store.stored_kek().unwrap().is_none());
        assert_eq!(
            secrets.get("ws_1", "openai").unwrap().unwrap(),
            b"sk-planted-123"
        );
        // A file-based KEK cannot be rotated without a new file.
        assert!(secrets.rotate(None, system_draft("x")).await.is_err());

        // Another KEK: the secret is refused with a clear error.
        std::fs::write(&file, B64.encode([9u8; 32])).unwrap();
        let wrong = Secrets::open(store, Some(&file), None).await.unwrap();
        assert!(matches!(
            wrong.get("ws_1", "openai"),
            Err(SecretError::WrongKek { .. })
        ));
    }

    #[tokio::test]
    async fn the_systemd_credential_is_used_and_the_config_file_wins() {
        let (_dir, store) = store().await;
        let creds = tempfile::tempdir().unwrap();
        std::fs::write(creds.path().join(CREDENTIAL_NAME), [5u8; 32]).unwrap();
        let secrets = Secrets::open(store.clone(), None, Some(creds.path()))
            .await
            .unwrap();
        assert_eq!(
            secrets.kek_info(),
            (kek_id(&[5u8; 32]), "credential".into())
        );
        assert!(store.stored_kek().unwrap().is_none(), "nothing generated");
        let file = creds.path().join("other");
        std::fs::write(&file, [6u8; 32]).unwrap();
        drop(secrets);
        let secrets = Secrets::open(store, Some(&file), Some(creds.path()))
            .await
            .unwrap();
        assert_eq!(secrets.kek_info().1, "file");
    }

    #[test]
    fn kek_files_must_hold_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        for (content, ok) in [
            (vec![1u8; 32], true),
            (hex::encode([2u8; 32]).into_bytes(), true),
            (format!("{}\n", B64.encode([3u8; 32])).into_bytes(), true),
            (b"short".to_vec(), false),
            (vec![1u8; 31], false),
        ] {
            std::fs::write(&p, &content).unwrap();
            assert_eq!(read_kek_file(&p).is_ok(), ok, "{content:?}");
        }
    }
}
