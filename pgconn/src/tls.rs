//! rustls client configurations for libpq's sslmodes. `prefer` and
//! `require` encrypt without authenticating the server, as libpq does;
//! `verify-ca` checks the chain only; `verify-full` also the host name.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::params::{system_roots, SslMode};
use crate::ConnectError;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The client configuration for `mode`, with `root_cert` (PEM) as the roots
/// of the verifying modes (the system bundle when `None`).
pub fn client_config(mode: SslMode, root_cert: Option<&Path>) -> Result<ClientConfig, ConnectError> {
    let tls = |e: rustls::Error| ConnectError::Tls(e.to_string());
    let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(tls)?;
    let chain = |path: Option<&Path>| {
        let roots = roots(path.unwrap_or(system_roots()))?;
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| ConnectError::Tls(e.to_string()))
    };
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => {
            Arc::new(Lenient { chain: None, provider: provider() })
        }
        SslMode::VerifyCa => Arc::new(Lenient { chain: Some(chain(root_cert)?), provider: provider() }),
        SslMode::VerifyFull => chain(root_cert)?,
    };
    Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

fn roots(path: &Path) -> Result<RootCertStore, ConnectError> {
    let read = |e: std::io::Error| ConnectError::Tls(format!("reading {}: {e}", path.display()));
    let pem = std::fs::read(path).map_err(read)?;
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.map_err(read)?).map_err(|e| ConnectError::Tls(format!("{}: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(ConnectError::Tls(format!("{}: no certificate found", path.display())));
    }
    Ok(roots)
}

/// `prefer` and `require` (no roots: any certificate) and `verify-ca`
/// (the chain must lead to a root; the host name is not checked).
/// Handshake signatures are always checked, so the session is encrypted to
/// whoever holds the certificate's key.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
