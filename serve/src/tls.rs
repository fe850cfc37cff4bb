//! The HTTPS listener's rustls configuration (ring provider): our certificate and key, and when
//! a client CA is given, client certificates verified against it (optional: a client without one
//! must then present a token).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::TlsFiles;
use crate::error::{Result, ServeError};

fn tls_err(path: &std::path::Path, what: &str, e: impl std::fmt::Display) -> ServeError {
    ServeError::Config {
        path: path.to_path_buf(),
        message: format!("{what}: {e}"),
    }
}

fn certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err(path, "reading PEM certificates", e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_err(path, "reading PEM certificates", e))?;
    if certs.is_empty() {
        return Err(tls_err(path, "expected PEM certificates", "none found"));
    }
    Ok(certs)
}

/// The crypto provider: ring, which builds without cmake (aws-lc-rs, rustls's default, needs
/// it). rustls 0.23.48 deprecates ring's provider because it has no post-quantum key exchange;
/// for a receiver of audit batches on a private network that is an accepted trade-off until the
/// workspace can afford aws-lc-rs's build.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server configuration for `files`.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>> {
    let provider = provider();
    let chain = certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_err(&files.key, "reading the PEM private key", e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| tls_err(ca, "adding the client CA", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| tls_err(ca, "client CA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_err(&files.cert, "certificate and key", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
