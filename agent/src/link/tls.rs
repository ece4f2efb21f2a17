//! TLS for the tunnel: a rustls client configuration that trusts only the appliance CA from
//! `ACORN_AGENT_CA_FILE` (no OS or webpki roots: the agent image has none, and pinning is the
//! point), and the translation of certificate failures into messages that say how to fix them.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The fix for a certificate the pinned CA did not sign.
pub const CA_MISMATCH_HINT: &str = "the appliance's certificate is not signed by the CA in \
     ACORN_AGENT_CA_FILE; re-download the install manifest or run `acorn cert show` on the \
     appliance";

/// Problems with the pinned CA or the appliance's certificate.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("{path} holds no PEM certificate (expected the appliance CA from `acorn cert show`)")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// A certificate in the file is not valid.
    #[error("{path}: {message}")]
    BadCertificate {
        /// The file.
        path: String,
        /// What rustls said.
        message: String,
    },
}

/// Reads every certificate of a PEM bundle.
pub fn read_ca_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let display = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: display.clone(),
        source,
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: display.clone(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: display });
    }
    Ok(certs)
}

/// A client configuration trusting only `ca` (uses the process-wide ring provider).
pub fn client_config(
    ca: Vec<CertificateDer<'static>>,
    path: &Path,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in ca {
        roots.add(cert).map_err(|e| TlsError::BadCertificate {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Finds a rustls error inside a connection error.
fn rustls_error(e: &tokio_tungstenite::tungstenite::Error) -> Option<&rustls::Error> {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::TlsError as WsTlsError;
    match e {
        WsError::Tls(WsTlsError::Rustls(inner)) => Some(inner),
        WsError::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    }
}

/// What a certificate failure means for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Not signed by the pinned CA: the CA file is stale or belongs to another appliance.
    CaMismatch(String),
    /// Another certificate problem (wrong name, expired, …), with the fix.
    Other(String),
}

/// Classifies a certificate failure (`None` if `e` is not one).
pub fn certificate_problem(
    e: &tokio_tungstenite::tungstenite::Error,
    host: &str,
) -> Option<CertificateProblem> {
    use rustls::CertificateError;
    let rustls::Error::InvalidCertificate(cert) = rustls_error(e)? else {
        return None;
    };
    Some(match cert {
        CertificateError::UnknownIssuer
        | CertificateError::BadSignature
        | CertificateError::BadEncoding => {
            CertificateProblem::CaMismatch(format!("{CA_MISMATCH_HINT} (rustls: {cert:?})"))
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            CertificateProblem::Other(format!(
                "the appliance's certificate is not valid for {host}; set \
                 ACORN_AGENT_APPLIANCE_URL to one of the appliance's public hostnames \
                 (`acorn configtest` shows them)"
            ))
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            CertificateProblem::Other(
                "the appliance's certificate has expired; run `acorn cert rotate-leaf` on the \
                 appliance (or check this node's clock)"
                    .into(),
            )
        }
        other => CertificateProblem::Other(format!(
            "the appliance's certificate was rejected: {other:?}"
        )),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A CA (PEM) and a serving certificate for `localhost`/127.0.0.1 signed by it.
    pub(crate) struct TestPki {
        pub ca_pem: String,
        pub server_config: Arc<rustls::ServerConfig>,
    }

    pub(crate) fn test_pki() -> TestPki {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Acorn test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let key =
            rustls_pki_types::PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes())
                .unwrap();
        let server_config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
            .unwrap();
        TestPki {
            ca_pem: ca.pem(),
            server_config: Arc::new(server_config),
        }
    }

    pub(crate) fn test_ca_pem() -> String {
        test_pki().ca_pem
    }

    #[test]
    fn bundles_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, test_ca_pem()).unwrap();
        let certs = read_ca_bundle(&good).unwrap();
        assert_eq!(certs.len(), 1);
        assert!(client_config(certs, &good).is_ok());
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a pem\n").unwrap();
        assert!(matches!(
            read_ca_bundle(&empty),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(matches!(
            read_ca_bundle(&dir.path().join("missing")),
            Err(TlsError::Read { .. })
        ));
    }
}
