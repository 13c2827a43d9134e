//! Reading certificates and keys in the formats gateways meet (PEM, DER,
//! PKCS#12, encrypted PKCS#8), with errors that name the file and what was
//! wrong with it, and secrets held in buffers that are wiped on drop.

use super::tls::{ClientCertificate, TlsError, TrustAnchors};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// A password (for a PKCS#12 archive or an encrypted private key), wiped
/// from memory when dropped. `Debug` prints `<redacted>`.
///
/// ```
/// use tern_mqtt::transport::Password;
///
/// let p = Password::from("s3cret");
/// assert_eq!(format!("{p:?}"), "<redacted>");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password(Zeroizing::new(password.into()))
    }

    /// The password itself, for the code that decrypts with it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password::new(s)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password::new(s)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secret bytes (a private key, a PKCS#12 archive), wiped from memory when
/// dropped. `Debug` prints `<redacted>` and the length, never the bytes.
///
/// ```
/// use tern_mqtt::transport::SecretBytes;
///
/// let key = SecretBytes::from("-----BEGIN PRIVATE KEY-----...");
/// assert!(!format!("{key:?}").contains("PRIVATE"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        SecretBytes(Zeroizing::new(bytes.into()))
    }

    /// The bytes themselves, for the code that parses them.
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        SecretBytes::new(v)
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(v: &[u8]) -> Self {
        SecretBytes::new(v)
    }
}

impl From<String> for SecretBytes {
    fn from(s: String) -> Self {
        SecretBytes::new(s)
    }
}

impl From<&str> for SecretBytes {
    fn from(s: &str) -> Self {
        SecretBytes::new(s)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

/// Where a certificate or key came from, for error messages.
fn file_origin(role: &str, path: &Path) -> String {
    format!("{role} file {}", path.display())
}

/// Reads a whole file into a zeroizing buffer; the error names the file.
fn read_file(role: &'static str, path: &Path) -> Result<Zeroizing<Vec<u8>>, TlsError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| TlsError::FileUnreadable {
            role,
            path: path.to_owned(),
            kind: e.kind(),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "not found".to_owned(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                _ => e.to_string(),
            },
        })
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// The certificates in PEM `bytes`, checked to be DER certificates.
fn pem_certs(bytes: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    if !looks_like_pem(bytes) {
        return Err(TlsError::NoCertificate {
            origin: if bytes.first() == Some(&0x30) {
                format!("{origin} (no PEM block; it may be DER: use the DER variant)")
            } else {
                format!("{origin} (no PEM block)")
            },
        });
    }
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Malformed {
            origin: origin.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: origin.to_owned(),
        });
    }
    for c in &certs {
        check_certificate(c, origin)?;
    }
    Ok(certs)
}

/// One DER certificate.
fn der_cert(bytes: &[u8], origin: &str) -> Result<CertificateDer<'static>, TlsError> {
    if looks_like_pem(bytes) {
        return Err(TlsError::Malformed {
            origin: origin.to_owned(),
            detail: "this is PEM, not DER: use the PEM variant".into(),
        });
    }
    let cert = CertificateDer::from(bytes.to_vec());
    check_certificate(&cert, origin)?;
    Ok(cert)
}

/// Whether `cert` has the outline of an X.509 certificate (a SEQUENCE of
/// TBSCertificate, algorithm, signature), so that garbage fails here,
/// naming its origin, rather than later in the handshake.
fn check_certificate(cert: &CertificateDer<'_>, origin: &str) -> Result<(), TlsError> {
    if super::tls::x509_version(cert).is_none() {
        return Err(TlsError::Malformed {
            origin: origin.to_owned(),
            detail: "not an X.509 certificate".into(),
        });
    }
    Ok(())
}

/// A private key from PEM `bytes`: PKCS#8, PKCS#1 RSA, SEC1 EC, or
/// encrypted PKCS#8 (with `password`).
fn pem_key(
    bytes: &[u8],
    password: Option<&Password>,
    origin: &str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::UnsupportedKey {
            origin: origin.to_owned(),
            detail: "legacy OpenSSL PEM encryption (Proc-Type: 4,ENCRYPTED); convert it with \
                     `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                .into(),
        });
    }
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    if let Some(start) = text.find(BEGIN) {
        let end = text[start..]
            .find(END)
            .map(|e| start + e + END.len())
            .ok_or_else(|| TlsError::Malformed {
                origin: origin.to_owned(),
                detail: "unterminated ENCRYPTED PRIVATE KEY block".into(),
            })?;
        let (_, der) = pkcs8::der::pem::decode_vec(text[start..end].as_bytes()).map_err(|e| {
            TlsError::Malformed {
                origin: origin.to_owned(),
                detail: e.to_string(),
            }
        })?;
        return decrypt_pkcs8(&Zeroizing::new(der), password, origin);
    }
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => Err(TlsError::NoKey {
            origin: origin.to_owned(),
        }),
        Err(e) => Err(TlsError::Malformed {
            origin: origin.to_owned(),
            detail: e.to_string(),
        }),
    }
}

/// A private key from DER `bytes`: encrypted PKCS#8 when a password is
/// given, else PKCS#8, PKCS#1 RSA or SEC1 EC.
fn der_key(
    bytes: &[u8],
    password: Option<&Password>,
    origin: &str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    if looks_like_pem(bytes) {
        return Err(TlsError::Malformed {
            origin: origin.to_owned(),
            detail: "this is PEM, not DER: use the PEM variant".into(),
        });
    }
    if password.is_some() {
        return decrypt_pkcs8(bytes, password, origin);
    }
    match PrivateKeyDer::try_from(bytes) {
        Ok(key) => Ok(key.clone_key()),
        // An encrypted PKCS#8 key does not look like any plain key.
        Err(_) if pkcs8::EncryptedPrivateKeyInfoRef::try_from(bytes).is_ok() => {
            Err(TlsError::PasswordNeeded {
                origin: origin.to_owned(),
            })
        }
        Err(e) => Err(TlsError::NoKey {
            origin: format!("{origin} ({e})"),
        }),
    }
}

/// Decrypts an `EncryptedPrivateKeyInfo` (PBES2: PBKDF2 or scrypt, with
/// AES-CBC; what `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes).
fn decrypt_pkcs8(
    der: &[u8],
    password: Option<&Password>,
    origin: &str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let Some(password) = password else {
        return Err(TlsError::PasswordNeeded {
            origin: origin.to_owned(),
        });
    };
    let info =
        pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(|e| TlsError::Malformed {
            origin: origin.to_owned(),
            detail: format!("not an encrypted PKCS#8 key: {e}"),
        })?;
    let plain = info
        .decrypt(password.expose().as_bytes())
        .map_err(|e| match e {
            pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm {
                ..
            })
            | pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::NoPbes1CryptSupport) => {
                TlsError::UnsupportedKey {
                    origin: origin.to_owned(),
                    detail: format!("{e}; PBES2 (PBKDF2 or scrypt, AES-CBC) is supported"),
                }
            }
            // A wrong password shows as bad padding or, rarely, as
            // plaintext that is not DER.
            _ => TlsError::WrongPassword {
                origin: origin.to_owned(),
            },
        })?;
    Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()))
}

/// The chain and key in a PKCS#12 archive.
fn pkcs12(
    bytes: &[u8],
    password: &Password,
    origin: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    use p12_keystore::error::Error as P12;
    let store = p12_keystore::KeyStore::from_pkcs12(
        bytes,
        password.expose(),
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|e| match e {
        P12::MacError(_) | P12::UnpadError | P12::InvalidPrivateKey => TlsError::WrongPassword {
            origin: origin.to_owned(),
        },
        P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm => {
            TlsError::UnsupportedKey {
                origin: origin.to_owned(),
                detail: e.to_string(),
            }
        }
        other => TlsError::Malformed {
            origin: origin.to_owned(),
            detail: format!("not a PKCS#12 archive: {other}"),
        },
    })?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err(TlsError::NoKey {
            origin: origin.to_owned(),
        });
    };
    let certs: Vec<CertificateDer<'static>> = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: origin.to_owned(),
        });
    }
    let key = PrivateKeyDer::Pkcs8(chain.key().as_der().to_vec().into());
    Ok((certs, key))
}

/// The chain (leaf first), the key, and where the chain came from.
pub(crate) struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_origin: String,
    pub key_origin: String,
}

impl Identity {
    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_origin: String,
        key_origin: String,
    ) -> Self {
        Identity {
            chain,
            key,
            cert_origin,
            key_origin,
        }
    }

    /// A chain and key from one archive.
    fn bundled(
        (chain, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
        origin: String,
    ) -> Self {
        Identity::new(chain, key, origin.clone(), origin)
    }
}

/// Loads a client certificate and its key, whatever the format.
pub(crate) fn client_identity(cert: &ClientCertificate) -> Result<Identity, TlsError> {
    const CERT: &str = "client certificate";
    const KEY: &str = "client key";
    Ok(match cert {
        ClientCertificate::PemFiles {
            cert,
            key,
            password,
        } => {
            let (co, ko) = (file_origin(CERT, cert), file_origin(KEY, key));
            let chain = pem_certs(&read_file(CERT, cert)?, &co)?;
            let key = pem_key(&read_file(KEY, key)?, password.as_ref(), &ko)?;
            Identity::new(chain, key, co, ko)
        }
        ClientCertificate::Pem {
            cert,
            key,
            password,
        } => {
            let (co, ko) = ("client certificate PEM", "client key PEM");
            let chain = pem_certs(cert, co)?;
            let key = pem_key(key.expose(), password.as_ref(), ko)?;
            Identity::new(chain, key, co.to_owned(), ko.to_owned())
        }
        ClientCertificate::DerFiles {
            cert,
            key,
            password,
        } => {
            let (co, ko) = (file_origin(CERT, cert), file_origin(KEY, key));
            let chain = vec![der_cert(&read_file(CERT, cert)?, &co)?];
            let key = der_key(&read_file(KEY, key)?, password.as_ref(), &ko)?;
            Identity::new(chain, key, co, ko)
        }
        ClientCertificate::Der {
            cert,
            key,
            password,
        } => {
            let (co, ko) = ("client certificate DER", "client key DER");
            let chain = vec![der_cert(cert, co)?];
            let key = der_key(key.expose(), password.as_ref(), ko)?;
            Identity::new(chain, key, co.to_owned(), ko.to_owned())
        }
        ClientCertificate::Pkcs12File { path, password } => {
            let origin = file_origin("PKCS#12", path);
            let found = pkcs12(&read_file("PKCS#12", path)?, password, &origin)?;
            Identity::bundled(found, origin)
        }
        ClientCertificate::Pkcs12 { bytes, password } => {
            let origin = "PKCS#12 bytes".to_owned();
            let found = pkcs12(bytes.expose(), password, &origin)?;
            Identity::bundled(found, origin)
        }
    })
}

/// The trust anchors' certificates (the built-in roots are added by the caller).
pub(crate) fn trust_certs(trust: &TrustAnchors) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    const CA: &str = "CA certificate";
    Ok(match trust {
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
        TrustAnchors::PemFile(path) => pem_certs(&read_file(CA, path)?, &file_origin(CA, path))?,
        TrustAnchors::Pem(bytes) => pem_certs(bytes, "CA certificate PEM")?,
        TrustAnchors::DerFile(path) => {
            vec![der_cert(&read_file(CA, path)?, &file_origin(CA, path))?]
        }
        TrustAnchors::Der(bytes) => vec![der_cert(bytes, "CA certificate DER")?],
        #[cfg(feature = "webpki-roots")]
        TrustAnchors::WebPki => Vec::new(),
    })
}
