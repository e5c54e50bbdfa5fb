//! TLS with rustls: certificates, (encrypted) keys, client authentication, protocol versions
//! and ALPN, loaded once per worker into a `TlsAcceptor`.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::{HttpMode, TlsConfig};

/// Why the TLS settings could not be loaded; each variant names the file at fault.
#[derive(Debug)]
pub(crate) enum TlsError {
    Certificate { path: String, reason: String },
    Key { path: String, reason: String },
    Ca { path: String, reason: String },
    Crl { path: String, reason: String },
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate { path, reason } => write!(f, "cannot load the TLS certificate {path}: {reason}"),
            Self::Key { path, reason } => write!(f, "cannot load the TLS private key {path}: {reason}"),
            Self::Ca { path, reason } => write!(f, "cannot load the TLS CA bundle {path}: {reason}"),
            Self::Crl { path, reason } => write!(f, "cannot load the certificate revocation list {path}: {reason}"),
            Self::Config(reason) => write!(f, "invalid TLS configuration: {reason}"),
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Certificate {
        path: path.to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate found".into()));
    }
    Ok(certs)
}

fn load_key(path: &str, password: Option<&str>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |reason: String| TlsError::Key {
        path: path.to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let is_encrypted = pem
        .windows(b"ENCRYPTED PRIVATE KEY".len())
        .any(|w| w == b"ENCRYPTED PRIVATE KEY");
    if !is_encrypted {
        // A password given for a plain key is not needed; the key is used as it is.
        return PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => err("no PEM private key found".into()),
            e => err(e.to_string()),
        });
    }
    let Some(password) = password else {
        return Err(err(
            "the key is encrypted: give its password with --ssl-keyfile-password".into(),
        ));
    };
    let text = std::str::from_utf8(&pem).map_err(|_| err("not a PEM file".into()))?;
    let (label, der) = pkcs8::der::pem::decode_vec(text.as_bytes()).map_err(|e| err(format!("bad PEM: {e}")))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(err(format!("unexpected PEM block {label:?}")));
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| err(e.to_string()))?;
    let plain = info
        .decrypt(password)
        .map_err(|_| err("wrong password (or unsupported encryption)".into()))?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

fn client_verifier(cfg: &TlsConfig) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, TlsError> {
    let Some(ca) = &cfg.ca else { return Ok(None) };
    let mut roots = RootCertStore::empty();
    let ca_err = |reason: String| TlsError::Ca {
        path: ca.clone(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| ca_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ca_err(e.to_string()))?;
    for cert in certs {
        roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ca_err("no PEM certificate found".into()));
    }
    let mut crls = Vec::new();
    for path in &cfg.crls {
        let crl_err = |reason: String| TlsError::Crl {
            path: path.clone(),
            reason,
        };
        let found = CertificateRevocationListDer::pem_file_iter(path)
            .map_err(|e| crl_err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| crl_err(e.to_string()))?;
        if found.is_empty() {
            return Err(crl_err("no PEM X509 CRL found".into()));
        }
        crls.extend(found);
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).with_crls(crls);
    if !cfg.client_verify {
        builder = builder.allow_unauthenticated();
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| TlsError::Config(format!("client certificate verification: {e}")))
}

/// Builds the acceptor of a worker. ALPN offers what `mode` serves.
pub(crate) fn acceptor(cfg: &TlsConfig, mode: HttpMode) -> Result<TlsAcceptor, TlsError> {
    let certs = load_certs(&cfg.cert)?;
    let key = load_key(&cfg.key, cfg.key_password.as_deref())?;
    let versions: &[&rustls::SupportedProtocolVersion] = if cfg.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_verifier(cfg)? {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| TlsError::Key {
        path: cfg.key.clone(),
        reason: format!("does not match the certificate or is unusable: {e}"),
    })?;
    config.alpn_protocols = match mode {
        HttpMode::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpMode::Http1 => vec![b"http/1.1".to_vec()],
        HttpMode::Http2 => vec![b"h2".to_vec()],
    };
    Ok(TlsAcceptor::from(Arc::new(config)))
}
