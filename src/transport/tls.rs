//! TLS through rustls (ring provider): trust anchors, mutual TLS, server
//! name override, ALPN, and errors that say what failed.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Which certificate authorities to trust.
#[derive(Debug, Clone)]
pub enum TrustAnchors {
    /// The operating system's store.
    System,
    /// CA certificates from a PEM file.
    PemFile(PathBuf),
    /// CA certificates as PEM bytes.
    Pem(Vec<u8>),
}

/// A client certificate chain and its private key, for mutual TLS.
#[derive(Debug, Clone)]
pub enum ClientCertificate {
    /// PEM files: the chain, and the key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    PemFiles {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// The same as PEM bytes.
    Pem {
        /// Certificate chain, leaf first.
        cert: Vec<u8>,
        /// Private key.
        key: Vec<u8>,
    },
}

/// TLS settings.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Trusted CAs.
    pub trust: TrustAnchors,
    /// Client certificate for mutual TLS.
    pub client_cert: Option<ClientCertificate>,
    /// The name to verify the server's certificate against, instead of the
    /// host connected to.
    pub server_name: Option<String>,
    /// ALPN protocol names to offer.
    pub alpn: Vec<Vec<u8>>,
    /// Skip verification of the server's certificate.
    ///
    /// **Warning:** with this set, anyone on the network path can
    /// impersonate the broker and read everything. It exists for test
    /// setups with throwaway certificates; never use it in production.
    pub dangerous_skip_verification: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            trust: TrustAnchors::System,
            client_cert: None,
            server_name: None,
            alpn: Vec::new(),
            dangerous_skip_verification: false,
        }
    }
}

/// What went wrong with TLS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate is not signed by a trusted CA.
    #[error("the server's certificate is signed by an unknown CA")]
    UnknownCa,
    /// The server's certificate is self-signed (and not trusted as such).
    #[error("the server's certificate is self-signed")]
    SelfSigned,
    /// The server's certificate does not name the host.
    #[error("the server's certificate is not valid for {0}")]
    NameMismatch(String),
    /// The server's certificate has expired.
    #[error("the server's certificate has expired")]
    Expired,
    /// The server's certificate is not valid yet.
    #[error("the server's certificate is not valid yet")]
    NotYetValid,
    /// The server refused our client certificate (or wanted one).
    #[error("the server refused the client certificate: {0}")]
    ClientCertRefused(String),
    /// Certificates or keys could not be read.
    #[error("cannot load {what}: {detail}")]
    Load {
        /// What was being loaded.
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// The host is not a valid TLS server name.
    #[error("invalid TLS server name {0:?}")]
    InvalidServerName(String),
    /// Any other TLS failure.
    #[error("TLS error: {0}")]
    Other(rustls::Error),
}

impl TlsError {
    /// Classifies a rustls error; `host` is the name verified against.
    pub fn from_rustls(e: rustls::Error, host: &str) -> TlsError {
        use rustls::AlertDescription as A;
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::Other(ref o)
                    if o.0.downcast_ref::<SelfSignedLeaf>().is_some() =>
                {
                    TlsError::SelfSigned
                }
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    TlsError::UnknownCa
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    TlsError::NameMismatch(host.to_owned())
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsError::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsError::NotYetValid
                }
                other => TlsError::Other(rustls::Error::InvalidCertificate(other)),
            },
            rustls::Error::AlertReceived(
                alert @ (A::BadCertificate
                | A::UnknownCA
                | A::CertificateRequired
                | A::CertificateUnknown
                | A::UnsupportedCertificate
                | A::CertificateExpired
                | A::AccessDenied),
            ) => TlsError::ClientCertRefused(format!("{alert:?}")),
            other => TlsError::Other(other),
        }
    }

    /// Finds a TLS error inside an I/O error (rustls reports through io::Error).
    pub fn from_io(e: &std::io::Error, host: &str) -> Option<TlsError> {
        let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
        Some(TlsError::from_rustls(inner.clone(), host))
    }
}

fn load_err(what: &'static str) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError {
    move |e| TlsError::Load {
        what,
        detail: e.to_string(),
    }
}

fn roots(trust: &TrustAnchors) -> Result<rustls::RootCertStore, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match trust {
        TrustAnchors::System => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                return Err(TlsError::Load {
                    what: "system root certificates",
                    detail: format!("none found ({} errors)", found.errors.len()),
                });
            }
            found.certs
        }
        TrustAnchors::PemFile(path) => CertificateDer::pem_file_iter(path)
            .map_err(load_err("CA file"))?
            .collect::<Result<_, _>>()
            .map_err(load_err("CA file"))?,
        TrustAnchors::Pem(bytes) => CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<_, _>>()
            .map_err(load_err("CA certificates"))?,
    };
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::Load {
            what: "CA certificates",
            detail: "no usable certificate".into(),
        });
    }
    Ok(store)
}

fn client_identity(
    cert: &ClientCertificate,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    Ok(match cert {
        ClientCertificate::PemFiles { cert, key } => (
            CertificateDer::pem_file_iter(cert)
                .map_err(load_err("client certificate"))?
                .collect::<Result<_, _>>()
                .map_err(load_err("client certificate"))?,
            PrivateKeyDer::from_pem_file(key).map_err(load_err("client key"))?,
        ),
        ClientCertificate::Pem { cert, key } => (
            CertificateDer::pem_slice_iter(cert)
                .collect::<Result<_, _>>()
                .map_err(load_err("client certificate"))?,
            PrivateKeyDer::from_pem_slice(key).map_err(load_err("client key"))?,
        ),
    })
}

/// Builds the rustls configuration for `options`.
pub fn client_config(options: &TlsOptions) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Other)?;
    let builder = if options.dangerous_skip_verification {
        tracing::warn!("TLS certificate verification is OFF (dangerous_skip_verification)");
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots(&options.trust)?),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Load {
            what: "certificate verifier",
            detail: e.to_string(),
        })?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Classifying(webpki)))
    };
    let mut config = match &options.client_cert {
        Some(c) => {
            let (chain, key) = client_identity(c)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsError::Other)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = options.alpn.clone();
    Ok(config)
}

/// Runs the TLS handshake over `tcp`, verifying the server as `host` (or
/// the override in `options`).
pub async fn connect_tls(
    tcp: TcpStream,
    host: &str,
    options: &TlsOptions,
) -> Result<TlsStream<TcpStream>, crate::Error> {
    let config = client_config(options)?;
    let name = options.server_name.as_deref().unwrap_or(host).to_owned();
    let server_name = ServerName::try_from(name.clone())
        .map_err(|_| TlsError::InvalidServerName(name.clone()))?;
    let connector = TlsConnector::from(Arc::new(config));
    connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| match TlsError::from_io(&e, &name) {
            Some(t) => crate::Error::Tls(t),
            None => crate::Error::Io(e),
        })
}

/// The verifier behind [`TlsOptions::dangerous_skip_verification`]: accepts
/// any certificate, still checks handshake signatures.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The standard webpki verification, with one refinement: a leaf that signed
/// itself is reported as such rather than as "unknown CA", so the error
/// says what is wrong.
#[derive(Debug)]
struct Classifying(Arc<rustls::client::WebPkiServerVerifier>);

/// Marks a self-signed leaf inside `CertificateError::Other`.
#[derive(Debug, thiserror::Error)]
#[error("self-signed certificate")]
struct SelfSignedLeaf;

impl ServerCertVerifier for Classifying {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
                if intermediates.is_empty() && is_self_signed(end_entity) =>
            {
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    rustls::OtherError(Arc::new(SelfSignedLeaf)),
                )))
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// One DER element: its tag, its contents, and what follows it.
fn der_element(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: the low bits say how many length bytes follow (at most
        // four here; certificates are far smaller).
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = (rest.get(..n)?, rest.get(n..)?);
        (
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
            rest,
        )
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// Whether a certificate's issuer and subject names are the same: a
/// self-signed (or self-issued) certificate. Reads only as far as the
/// subject of the TBSCertificate (RFC 5280 section 4.1).
fn is_self_signed(cert: &CertificateDer<'_>) -> bool {
    let tbs_fields = || -> Option<bool> {
        let (_, certificate, _) = der_element(cert.as_ref())?;
        let (_, tbs, _) = der_element(certificate)?;
        let mut rest = tbs;
        // version [0] EXPLICIT is optional.
        if rest.first() == Some(&0xA0) {
            rest = der_element(rest)?.2;
        }
        let (_, _serial, rest) = der_element(rest)?;
        let (_, _signature, rest) = der_element(rest)?;
        let (_, issuer, rest) = der_element(rest)?;
        let (_, _validity, rest) = der_element(rest)?;
        let (_, subject, _) = der_element(rest)?;
        Some(issuer == subject)
    };
    tbs_fields().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncated_der_is_not_self_signed_and_does_not_panic() {
        for bytes in [
            &b""[..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x03, 0x30, 0x01],
            &[0xFF; 64],
        ] {
            assert!(!is_self_signed(&CertificateDer::from(bytes.to_vec())));
        }
        assert_eq!(
            der_element(&[0x02, 0x01, 0x07, 0xAA]),
            Some((0x02, &[0x07][..], &[0xAA][..]))
        );
        assert_eq!(
            der_element(&[0x04, 0x81, 0x01, 0x09]),
            Some((0x04, &[0x09][..], &[][..]))
        );
    }
}
