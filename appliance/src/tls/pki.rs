//! Certificate generation and parsing: the appliance CA, leaf certificates issued from it, and
//! the rustls server configuration. Pure functions over PEM strings; no I/O, no store.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use acorn_store::{CaMaterial, LeafMaterial};

/// Lifetime of the appliance CA. Agents pin it, so it outlives many leaves.
const CA_VALIDITY_DAYS: i64 = 3650;

/// Failure to build or parse certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{what}: no PEM certificate found")]
    NoCertificate { what: String },
    #[error("{what}: cannot read the private key: {message}")]
    BadKey { what: String, message: String },
    #[error("{what}: the certificate and key do not form a usable TLS identity: {message}")]
    Rustls { what: String, message: String },
    #[error("{what}: cannot parse the certificate: {message}")]
    Parse { what: String, message: String },
}

/// Generates the appliance's own CA (ECDSA P-256), clearly labelled as such.
pub fn generate_ca(now: OffsetDateTime) -> Result<CaMaterial, PkiError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let id = hex::encode(random_bytes::<4>());
    dn.push(
        DnType::CommonName,
        format!("Acorn appliance CA (self-generated, {id})"),
    );
    dn.push(DnType::OrganizationName, "Acorn appliance");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(CA_VALIDITY_DAYS);
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key)?;
    Ok(CaMaterial {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        created_at: now.unix_timestamp(),
    })
}

/// Issues a server leaf for `sans` from the CA, valid for `validity` from `now`.
pub fn issue_leaf(
    ca: &CaMaterial,
    sans: &[String],
    now: OffsetDateTime,
    validity: std::time::Duration,
) -> Result<LeafMaterial, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| PkiError::BadKey {
        what: "appliance CA".into(),
        message: e.to_string(),
    })?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(sans.to_vec())?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        sans.first().cloned().unwrap_or_else(|| "localhost".into()),
    );
    dn.push(DnType::OrganizationName, "Acorn appliance");
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now - time::Duration::hours(1);
    let not_after =
        now + time::Duration::seconds(i64::try_from(validity.as_secs()).unwrap_or(i64::MAX / 2));
    params.not_after = not_after;
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(LeafMaterial {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        sans: sans.to_vec(),
        not_after: not_after.unix_timestamp(),
        created_at: now.unix_timestamp(),
    })
}

/// The rustls configuration serving `chain_pem` with `key_pem`: TLS 1.3 and 1.2 only, with the
/// ring provider's suites (all AEAD with ECDHE: AES-GCM and ChaCha20-Poly1305).
pub fn server_config(
    chain_pem: &str,
    key_pem: &str,
    what: &str,
) -> Result<Arc<ServerConfig>, PkiError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Parse {
            what: what.into(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(PkiError::NoCertificate { what: what.into() });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| PkiError::BadKey {
        what: what.into(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| PkiError::Rustls {
            what: what.into(),
            message: e.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| PkiError::Rustls {
            what: what.into(),
            message: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// SHA-256 of the first certificate's DER, as colon-separated upper-case hex (what agents pin).
pub fn fingerprint(cert_pem: &str) -> Result<String, PkiError> {
    let der = first_der(cert_pem, "certificate")?;
    let digest = Sha256::digest(der.as_ref());
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// Expiry (unix seconds) of the first certificate in `cert_pem`.
pub fn not_after(cert_pem: &str, what: &str) -> Result<i64, PkiError> {
    let der = first_der(cert_pem, what)?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| PkiError::Parse {
            what: what.into(),
            message: e.to_string(),
        })?;
    Ok(cert.validity().not_after.timestamp())
}

fn first_der(cert_pem: &str, what: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .next()
        .ok_or_else(|| PkiError::NoCertificate { what: what.into() })?
        .map_err(|e| PkiError::Parse {
            what: what.into(),
            message: e.to_string(),
        })
}

fn random_serial() -> SerialNumber {
    let mut bytes = random_bytes::<16>();
    bytes[0] &= 0x7f; // positive INTEGER
    SerialNumber::from_slice(&bytes)
}

/// Random bytes from the OS. The OS generator failing is not recoverable for a TLS server.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Err(e) = getrandom::fill(&mut out) {
        tracing::error!(error = %e, "the operating system's random generator failed");
        std::process::abort();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_chains_to_ca_and_builds_a_server_config() {
        let now = OffsetDateTime::now_utc();
        let ca = generate_ca(now).unwrap();
        let sans = vec![
            "acorn.example.internal".to_string(),
            "127.0.0.1".to_string(),
        ];
        let leaf = issue_leaf(&ca, &sans, now, std::time::Duration::from_secs(86400)).unwrap();
        assert_eq!(leaf.not_after, not_after(&leaf.cert_pem, "leaf").unwrap());
        let chain = format!("{}{}", leaf.cert_pem, ca.cert_pem);
        server_config(&chain, &leaf.key_pem, "leaf").unwrap();
        assert_eq!(fingerprint(&ca.cert_pem).unwrap().len(), 32 * 3 - 1);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = server_config("not a cert", "not a key", "tls.cert_file").unwrap_err();
        assert!(err.to_string().contains("tls.cert_file"), "{err}");
    }
}
