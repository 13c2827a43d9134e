//! TLS through rustls (ring provider): trust anchors, mutual TLS, server
//! name override, ALPN, and errors that say what failed.

pub use super::tls_load::{Password, SecretBytes};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Which certificate authorities to trust when verifying the broker.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TrustAnchors {
    /// The operating system's store (the default).
    System,
    /// CA certificates from a PEM file.
    PemFile(PathBuf),
    /// CA certificates as PEM bytes.
    Pem(Vec<u8>),
    /// One CA certificate from a DER file (`.der`, `.cer`).
    DerFile(PathBuf),
    /// One CA certificate as DER bytes.
    Der(Vec<u8>),
    /// Mozilla's root certificates, compiled in (the `webpki-roots`
    /// feature): for edge images without a CA store.
    #[cfg(feature = "webpki-roots")]
    WebPki,
}

/// A client certificate chain and its private key, for mutual TLS.
///
/// Private keys may be PKCS#8, PKCS#1 RSA or SEC1 EC, or encrypted PKCS#8
/// (PBES2 with PBKDF2 or scrypt and AES-CBC, which is what
/// `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes) when a `password` is
/// given. Keys, archives and passwords are held in buffers wiped on drop,
/// and `Debug` prints `<redacted>` for them.
///
/// Files are read when connecting (and again on every reconnect, so a
/// renewed certificate is picked up); errors name the file and what was
/// wrong with it.
///
/// ```
/// use tern_mqtt::transport::ClientCertificate;
///
/// let cert = ClientCertificate::Pkcs12File {
///     path: "/etc/gateway/client.pfx".into(),
///     password: "changeit".into(),
/// };
/// assert!(!format!("{cert:?}").contains("changeit"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientCertificate {
    /// PEM files: the chain (leaf first) and the key.
    PemFiles {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// The private key file (PKCS#8, PKCS#1 or SEC1; encrypted PKCS#8
        /// with `password`).
        key: PathBuf,
        /// Password of an encrypted (`ENCRYPTED PRIVATE KEY`) key.
        password: Option<Password>,
    },
    /// The same as PEM bytes.
    Pem {
        /// Certificate chain, leaf first.
        cert: Vec<u8>,
        /// The private key bytes (held zeroizing; encrypted PKCS#8 with
        /// `password`).
        key: SecretBytes,
        /// Password of an encrypted (`ENCRYPTED PRIVATE KEY`) key.
        password: Option<Password>,
    },
    /// DER files: one certificate and its key.
    DerFiles {
        /// The DER certificate file (one certificate, no chain).
        cert: PathBuf,
        /// Private key (encrypted PKCS#8 when `password` is given).
        key: PathBuf,
        /// Password of an encrypted PKCS#8 key.
        password: Option<Password>,
    },
    /// The same as DER bytes.
    Der {
        /// The DER certificate bytes (one certificate, no chain).
        cert: Vec<u8>,
        /// Private key (encrypted PKCS#8 when `password` is given).
        key: SecretBytes,
        /// Password of an encrypted PKCS#8 key.
        password: Option<Password>,
    },
    /// A PKCS#12 archive file (`.pfx`, `.p12`) holding the key and its
    /// chain. Both the modern (PBES2, AES) and the legacy (3DES, RC2)
    /// encryptions are read.
    Pkcs12File {
        /// The `.p12` / `.pfx` file: certificate chain and private key.
        path: PathBuf,
        /// Its password (may be empty).
        password: Password,
    },
    /// The same as bytes.
    Pkcs12 {
        /// The PKCS#12 archive bytes (held zeroizing).
        bytes: SecretBytes,
        /// Its password (may be empty).
        password: Password,
    },
}

/// TLS settings.
///
/// With [`ConnectOptions::tls`](crate::client::ConnectOptions::tls) these
/// merge into the options field by field: see there.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Trusted CAs. Default: [`TrustAnchors::System`].
    pub trust: TrustAnchors,
    /// Client certificate for mutual TLS. Default: none.
    pub client_cert: Option<ClientCertificate>,
    /// The name to verify the server's certificate against, instead of the
    /// host connected to. Default: none (the host).
    pub server_name: Option<String>,
    /// ALPN protocol names to offer. Default: none.
    pub alpn: Vec<Vec<u8>>,
    /// Skip verification of the server's certificate. Default: false.
    ///
    /// **Warning:** with this set, anyone on the network path can
    /// impersonate the broker and read everything. It exists for test
    /// setups with throwaway certificates; never use it in production.
    pub dangerous_skip_verification: bool,
    /// Verify the broker's certificate chain but not that it names the
    /// host (mosquitto's `--insecure`). Default: false.
    ///
    /// **Warning:** any certificate a trusted CA signed for any name is
    /// then accepted for this broker; for test setups only.
    pub dangerous_skip_hostname_verification: bool,
    /// Pin one TLS version. Default: none (TLS 1.2 or 1.3, as the broker
    /// prefers).
    pub version: Option<TlsVersion>,
}

/// A TLS protocol version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            trust: TrustAnchors::System,
            client_cert: None,
            server_name: None,
            alpn: Vec::new(),
            dangerous_skip_verification: false,
            dangerous_skip_hostname_verification: false,
            version: None,
        }
    }
}

impl TlsOptions {
    /// Overlays `other` on `self`: every field `other` sets to something
    /// other than its default replaces ours; fields `other` leaves at the
    /// default keep ours.
    pub fn merge(&mut self, other: TlsOptions) {
        if !matches!(other.trust, TrustAnchors::System) {
            self.trust = other.trust;
        }
        if other.client_cert.is_some() {
            self.client_cert = other.client_cert;
        }
        if other.server_name.is_some() {
            self.server_name = other.server_name;
        }
        if !other.alpn.is_empty() {
            self.alpn = other.alpn;
        }
        self.dangerous_skip_verification |= other.dangerous_skip_verification;
        self.dangerous_skip_hostname_verification |= other.dangerous_skip_hostname_verification;
        if other.version.is_some() {
            self.version = other.version;
        }
    }
}

/// Whose side a TLS failure is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFault {
    /// Ours: our certificate, key, password, CA file or settings.
    Local,
    /// The broker's: its certificate is expired, not for this host, signed
    /// by a CA we do not trust...
    Broker,
    /// Cannot tell (a protocol failure, an unexpected rustls error).
    Unknown,
}

/// What went wrong with TLS.
///
/// Variants name the culprit: the ones about files, keys and passwords are
/// ours ([`TlsFault::Local`]), the ones about "the broker's certificate"
/// are the broker's ([`TlsFault::Broker`]); [`TlsError::fault`] says which.
/// Messages never contain passwords or key material.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The broker's certificate is not signed by a trusted CA.
    #[error("the broker's certificate is signed by an unknown CA")]
    UnknownCa,
    /// The broker's certificate is self-signed (and not trusted as such).
    #[error("the broker's certificate is self-signed")]
    SelfSigned,
    /// The broker's certificate does not name the host.
    #[error("the broker's certificate is not valid for {0}")]
    NameMismatch(String),
    /// The broker's certificate has expired.
    #[error("the broker's certificate has expired")]
    Expired,
    /// The broker's certificate is not valid yet.
    #[error("the broker's certificate is not valid yet")]
    NotYetValid,
    /// The broker's certificate is X.509 v1 or v2, which rustls does not
    /// accept.
    #[error(
        "the broker's certificate is not X.509 v3 (it has no extensions, as `openssl x509 -req` \
         without -extfile makes); rustls accepts only v3: reissue it with a subjectAltName"
    )]
    ServerCertVersion,
    /// The broker refused our client certificate (or wanted one).
    #[error("the broker refused our client certificate: {0}")]
    ClientCertRefused(String),
    /// A certificate, key or archive file could not be read.
    #[error("cannot read the {role} file {}: {reason}", path.display())]
    FileUnreadable {
        /// What the file was for ("client certificate", "client key",
        /// "PKCS#12", "CA certificate").
        role: &'static str,
        /// The file that could not be read.
        path: PathBuf,
        /// The I/O error's kind (`NotFound`, `PermissionDenied`...).
        kind: std::io::ErrorKind,
        /// Why, in words.
        reason: String,
    },
    /// No certificate where one was expected.
    #[error("no certificate in the {origin}")]
    NoCertificate {
        /// Where we looked (the file, or which bytes).
        origin: String,
    },
    /// No private key where one was expected.
    #[error("no private key in the {origin}")]
    NoKey {
        /// Where we looked.
        origin: String,
    },
    /// The key is encrypted and no password was given.
    #[error("the {origin} is encrypted: give its password")]
    PasswordNeeded {
        /// The encrypted key or archive.
        origin: String,
    },
    /// The password does not decrypt the key or archive.
    #[error("wrong password for the {origin}")]
    WrongPassword {
        /// The encrypted key or archive.
        origin: String,
    },
    /// The key's type or encryption is not supported.
    #[error("unsupported key in the {origin}: {detail}")]
    UnsupportedKey {
        /// The key or archive.
        origin: String,
        /// What is unsupported.
        detail: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key in the {key_origin} does not belong to the certificate in the {cert_origin}")]
    KeyMismatch {
        /// Where the certificate came from (a path, or "bytes").
        cert_origin: String,
        /// Where the key came from (a path, or "bytes").
        key_origin: String,
    },
    /// A file or buffer is not what it should be (garbage, truncated,
    /// the wrong format).
    #[error("the {origin} is not valid: {detail}")]
    Malformed {
        /// The file or buffer.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// Certificates could not be loaded (the system store, the verifier).
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
    /// Whose side the failure is on: ours (certificate, key, password,
    /// files) or the broker's (its certificate).
    ///
    /// ```
    /// use tern_mqtt::transport::{TlsError, TlsFault};
    ///
    /// assert_eq!(TlsError::Expired.fault(), TlsFault::Broker);
    /// let e = TlsError::WrongPassword { origin: "PKCS#12 file a.pfx".into() };
    /// assert_eq!(e.fault(), TlsFault::Local);
    /// ```
    pub fn fault(&self) -> TlsFault {
        match self {
            TlsError::UnknownCa
            | TlsError::SelfSigned
            | TlsError::NameMismatch(_)
            | TlsError::Expired
            | TlsError::NotYetValid
            | TlsError::ServerCertVersion => TlsFault::Broker,
            TlsError::ClientCertRefused(_)
            | TlsError::FileUnreadable { .. }
            | TlsError::NoCertificate { .. }
            | TlsError::NoKey { .. }
            | TlsError::PasswordNeeded { .. }
            | TlsError::WrongPassword { .. }
            | TlsError::UnsupportedKey { .. }
            | TlsError::KeyMismatch { .. }
            | TlsError::Malformed { .. }
            | TlsError::Load { .. }
            | TlsError::InvalidServerName(_) => TlsFault::Local,
            TlsError::Other(_) => TlsFault::Unknown,
        }
    }

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
                CertificateError::Other(ref o) if o.0.downcast_ref::<NotV3>().is_some() => {
                    TlsError::ServerCertVersion
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

fn roots(trust: &TrustAnchors) -> Result<rustls::RootCertStore, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    #[cfg(feature = "webpki-roots")]
    if matches!(trust, TrustAnchors::WebPki) {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(store);
    }
    let certs = super::tls_load::trust_certs(trust)?;
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::Load {
            what: "CA certificates",
            detail: "no usable certificate".into(),
        });
    }
    Ok(store)
}

/// Always presents the one client certificate. Unlike
/// `with_client_auth_cert`, this does not parse our own certificate with
/// webpki, so an X.509 v1 client certificate (which brokers on OpenSSL
/// accept) works, instead of failing with the misleading "invalid peer
/// certificate: UnsupportedCertVersion"; whether the key belongs to the
/// certificate is checked by [`spki_of`] instead.
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn certified_key(
    cert: &ClientCertificate,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let id = super::tls_load::client_identity(cert)?;
    let signing = provider
        .key_provider
        .load_private_key(id.key)
        .map_err(|e| TlsError::UnsupportedKey {
            origin: id.key_origin.clone(),
            detail: e.to_string(),
        })?;
    if let (Some(key_spki), Some(cert_spki)) =
        (signing.public_key(), id.chain.first().and_then(spki_of))
    {
        if key_spki.as_ref() != cert_spki {
            return Err(TlsError::KeyMismatch {
                cert_origin: id.cert_origin,
                key_origin: id.key_origin,
            });
        }
    }
    Ok(CertifiedKey::new(id.chain, signing))
}

/// Builds the rustls configuration for `options`.
pub fn client_config(options: &TlsOptions) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match options.version {
        Some(TlsVersion::Tls12) => &[&rustls::version::TLS12],
        Some(TlsVersion::Tls13) => &[&rustls::version::TLS13],
        None => rustls::DEFAULT_VERSIONS,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(TlsError::Other)?;
    let builder = if options.dangerous_skip_verification {
        tracing::warn!("TLS certificate verification is OFF (dangerous_skip_verification)");
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider.clone())))
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
            .with_custom_certificate_verifier(Arc::new(Classifying {
                webpki,
                skip_hostname: options.dangerous_skip_hostname_verification,
            }))
    };
    let mut config = match &options.client_cert {
        Some(c) => {
            let key = certified_key(c, &provider)?;
            builder.with_client_cert_resolver(Arc::new(FixedClientCert(Arc::new(key))))
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
    let peer = tcp
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| host.to_owned());
    let connector = TlsConnector::from(Arc::new(config));
    connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| match TlsError::from_io(&e, &name) {
            Some(t) => crate::Error::Tls(t),
            None => crate::Error::Io(super::tcp::with_context(
                e,
                format!("TLS handshake with {peer}"),
            )),
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
/// says what is wrong; and, with `skip_hostname`, a certificate that does
/// not name the host is accepted (webpki checks the name last, after the
/// chain, its validity and revocation, so nothing else is skipped).
#[derive(Debug)]
struct Classifying {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    skip_hostname: bool,
}

/// Marks a broker certificate that is not X.509 v3 inside
/// `CertificateError::Other`.
#[derive(Debug, thiserror::Error)]
#[error("the certificate is not X.509 v3")]
struct NotV3;

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
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.skip_hostname => Ok(ServerCertVerified::assertion()),
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
                if intermediates.is_empty() && is_self_signed(end_entity) =>
            {
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    rustls::OtherError(Arc::new(SelfSignedLeaf)),
                )))
            }
            Err(rustls::Error::InvalidCertificate(_))
                if x509_version(end_entity).is_some_and(|v| v < 3) =>
            {
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    rustls::OtherError(Arc::new(NotV3)),
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
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
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

/// The X.509 version (1, 2 or 3) of a certificate, or `None` if it does
/// not have the outline of one (RFC 5280 section 4.1: a SEQUENCE of the
/// TBSCertificate SEQUENCE, the algorithm SEQUENCE and the signature BIT
/// STRING, with nothing after it).
pub(crate) fn x509_version(cert: &CertificateDer<'_>) -> Option<u8> {
    let (tag, certificate, after) = der_element(cert.as_ref())?;
    if tag != 0x30 || !after.is_empty() {
        return None;
    }
    let (tbs_tag, tbs, rest) = der_element(certificate)?;
    let (alg_tag, _, rest) = der_element(rest)?;
    let (sig_tag, _, rest) = der_element(rest)?;
    if (tbs_tag, alg_tag, sig_tag) != (0x30, 0x30, 0x03) || !rest.is_empty() {
        return None;
    }
    // version [0] EXPLICIT INTEGER DEFAULT v1 (0).
    match der_element(tbs)? {
        (0xA0, version, _) => match der_element(version)? {
            (0x02, [v @ 0..=2], _) => Some(v + 1),
            _ => None,
        },
        (0x02, _, _) => Some(1),
        _ => None,
    }
}

/// The SubjectPublicKeyInfo of a certificate, tag and length included.
fn spki_of<'a>(cert: &'a CertificateDer<'_>) -> Option<&'a [u8]> {
    let (_, certificate, _) = der_element(cert.as_ref())?;
    let (_, tbs, _) = der_element(certificate)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xA0) {
        rest = der_element(rest)?.2;
    }
    // serial, signature, issuer, validity, subject, then the key.
    for _ in 0..5 {
        rest = der_element(rest)?.2;
    }
    let (_, _, after) = der_element(rest)?;
    rest.get(..rest.len() - after.len())
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
