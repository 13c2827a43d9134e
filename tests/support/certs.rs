//! Test PKI generated at test time with rcgen: no certificate or key is
//! checked into the repository.
//!
//! All keys are ECDSA P-256 (PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`).
//! RSA is not offered: rcgen can only *generate* RSA keys with its
//! `aws_lc_rs` backend, and this crate keeps to `ring` (see Cargo.toml).
//!
//! Validity windows are fixed calendar dates, so no clock is read:
//! CAs 2000..2200, normal leaves 2020..2199, the expired server certificate
//! 2001..2002 and the not-yet-valid one 2190..2191.
//!
//! Include it with `#[path = "support/certs.rs"] mod certs;` or use it
//! through `support/mosquitto.rs` (`mosquitto::certs`).
#![allow(dead_code)]

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// Common name of the client certificate (mosquitto's mutual-TLS listener
/// uses it as the username: `use_identity_as_username true`).
pub const CLIENT_CN: &str = "tern-client";

/// Subject alternative names of the normal server certificate.
pub const SERVER_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A certificate and its private key, in PEM and DER.
#[derive(Clone, Debug)]
pub struct CertKey {
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 PEM (`PRIVATE KEY`).
    pub key_pem: String,
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

/// A certificate authority (basicConstraints CA:TRUE, keyCertSign) that
/// can issue server and client certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    key: CertKey,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "tern-mqtt tests");
    dn.push(DnType::CommonName, cn);
    dn
}

impl Ca {
    /// A fresh self-signed CA with the given common name.
    pub fn new(common_name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2200, 1, 1);
        let key_pair = KeyPair::generate().expect("generate CA key");
        let key_pem = key_pair.serialize_pem();
        let key_der = key_pair.serialize_der();
        let issuer = CertifiedIssuer::self_signed(params, key_pair).expect("self-sign CA");
        let key = CertKey {
            cert_pem: issuer.pem(),
            cert_der: issuer.der().to_vec(),
            key_pem,
            key_der,
        };
        Ca { issuer, key }
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.key.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.key.cert_der
    }

    /// The CA certificate and its key.
    pub fn cert_key(&self) -> &CertKey {
        &self.key
    }

    /// Issue a leaf certificate from explicit parameters (fresh P-256 key).
    /// The authority key identifier extension is added.
    pub fn issue(&self, mut params: CertificateParams) -> CertKey {
        params.use_authority_key_identifier_extension = true;
        let key_pair = KeyPair::generate().expect("generate leaf key");
        let cert = params
            .signed_by(&key_pair, &self.issuer)
            .expect("sign leaf certificate");
        CertKey {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key_pair.serialize_pem(),
            key_der: key_pair.serialize_der(),
        }
    }

    /// Server parameters for `sans` (DNS names or IP addresses), EKU
    /// serverAuth, valid 2020..2199.
    pub fn server_params(&self, sans: &[&str]) -> CertificateParams {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("server SANs");
        params.distinguished_name = dn(SERVER_SANS[0]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2199, 1, 1);
        params
    }

    /// Server certificate with SAN DNS:localhost, IP:127.0.0.1, IP:::1 and
    /// EKU serverAuth.
    pub fn server(&self) -> CertKey {
        self.issue(self.server_params(&SERVER_SANS))
    }

    /// Server certificate for other names (e.g. `&["wrong.example"]`).
    pub fn server_for(&self, sans: &[&str]) -> CertKey {
        self.issue(self.server_params(sans))
    }

    /// Like [`Ca::server`] but expired: valid 2001-01-01 .. 2002-01-01.
    pub fn expired_server(&self) -> CertKey {
        let mut params = self.server_params(&SERVER_SANS);
        params.not_before = date_time_ymd(2001, 1, 1);
        params.not_after = date_time_ymd(2002, 1, 1);
        self.issue(params)
    }

    /// Like [`Ca::server`] but not yet valid: valid 2190-01-01 .. 2191-01-01.
    pub fn future_server(&self) -> CertKey {
        let mut params = self.server_params(&SERVER_SANS);
        params.not_before = date_time_ymd(2190, 1, 1);
        params.not_after = date_time_ymd(2191, 1, 1);
        self.issue(params)
    }

    /// A server certificate with the same names, signed by its own key
    /// rather than by this CA (a self-signed leaf).
    pub fn self_signed_server(&self) -> CertKey {
        let params = self.server_params(&SERVER_SANS);
        let key_pair = KeyPair::generate().expect("generate leaf key");
        let cert = params
            .self_signed(&key_pair)
            .expect("self-sign leaf certificate");
        CertKey {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key_pair.serialize_pem(),
            key_der: key_pair.serialize_der(),
        }
    }

    /// Client certificate with the given common name and EKU clientAuth.
    pub fn client(&self, common_name: &str) -> CertKey {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2199, 1, 1);
        self.issue(params)
    }
}

/// Everything the TLS tests need, generated together.
pub struct TestPki {
    /// The CA the broker trusts and that signed `server` and `client`.
    pub ca: Ca,
    /// Server certificate (SAN localhost, 127.0.0.1, ::1; serverAuth).
    pub server: CertKey,
    /// Client certificate, CN [`CLIENT_CN`], clientAuth, signed by `ca`.
    pub client: CertKey,
    /// A second CA that nobody trusts (negative tests).
    pub other_ca: Ca,
    /// Client certificate, CN [`CLIENT_CN`], signed by `other_ca`.
    pub other_client: CertKey,
}

impl TestPki {
    /// Generate a fresh PKI (a few milliseconds).
    pub fn generate() -> TestPki {
        let ca = Ca::new("tern-mqtt test CA");
        let server = ca.server();
        let client = ca.client(CLIENT_CN);
        let other_ca = Ca::new("tern-mqtt untrusted CA");
        let other_client = other_ca.client(CLIENT_CN);
        TestPki {
            ca,
            server,
            client,
            other_ca,
            other_client,
        }
    }
}

// ----- other formats, made with the `openssl` command as users make them -----

/// Runs `openssl` with `args` in `dir`; panics with its stderr on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tern-certs-")
        .tempdir()
        .expect("temp dir")
}

/// A PKCS#12 archive (`openssl pkcs12 -export`: PBES2 AES-256-CBC and an
/// HMAC-SHA256 MAC with OpenSSL 3) holding `leaf`'s key, certificate and
/// `ca`'s certificate, encrypted with `password`.
pub fn pkcs12(leaf: &CertKey, ca: &Ca, password: &str) -> Vec<u8> {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("leaf.crt"), &leaf.cert_pem).unwrap();
    std::fs::write(d.join("leaf.key"), &leaf.key_pem).unwrap();
    std::fs::write(d.join("ca.crt"), ca.cert_pem()).unwrap();
    let pass = format!("pass:{password}");
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "leaf.key",
            "-in",
            "leaf.crt",
            "-certfile",
            "ca.crt",
            "-name",
            "client",
            "-passout",
            &pass,
            "-out",
            "out.p12",
        ],
    );
    std::fs::read(d.join("out.p12")).unwrap()
}

/// `leaf`'s key as encrypted PKCS#8, as `openssl pkcs8 -topk8 -v2
/// aes-256-cbc` writes it (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), in
/// `outform` "PEM" (`-----BEGIN ENCRYPTED PRIVATE KEY-----`) or "DER".
pub fn encrypted_pkcs8(leaf: &CertKey, password: &str, outform: &str) -> Vec<u8> {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("leaf.key"), &leaf.key_pem).unwrap();
    let pass = format!("pass:{password}");
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "leaf.key",
            "-passout",
            &pass,
            "-outform",
            outform,
            "-out",
            "out.key",
        ],
    );
    std::fs::read(d.join("out.key")).unwrap()
}

impl Ca {
    /// An X.509 **v1** certificate for `common_name` signed by this CA, as
    /// mosquitto's TLS how-to makes them: `openssl req -new` then
    /// `openssl x509 -req` without extensions (no SAN, no EKU).
    pub fn v1_leaf(&self, common_name: &str) -> CertKey {
        let dir = scratch();
        let d = dir.path();
        let key_pair = KeyPair::generate().expect("generate leaf key");
        std::fs::write(d.join("leaf.key"), key_pair.serialize_pem()).unwrap();
        std::fs::write(d.join("ca.crt"), self.cert_pem()).unwrap();
        std::fs::write(d.join("ca.key"), &self.key.key_pem).unwrap();
        let subj = format!("/O=tern-mqtt tests/CN={common_name}");
        openssl(
            d,
            &[
                "req", "-new", "-key", "leaf.key", "-subj", &subj, "-out", "leaf.csr",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "4242",
                "-days",
                "3650",
                "-out",
                "leaf.crt",
            ],
        );
        let cert_pem = std::fs::read_to_string(d.join("leaf.crt")).unwrap();
        let cert_der = rustls_pem_to_der(&cert_pem);
        // A v3 TBSCertificate starts with the [0] version tag; a v1 one with
        // the serial number (both lengths here take two bytes).
        assert_eq!(cert_der[8], 0x02, "expected an X.509 v1 certificate");
        CertKey {
            cert_pem,
            cert_der,
            key_pem: key_pair.serialize_pem(),
            key_der: key_pair.serialize_der(),
        }
    }
}

/// The DER of the first certificate in `pem`.
fn rustls_pem_to_der(pem: &str) -> Vec<u8> {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("c.pem"), pem).unwrap();
    openssl(
        d,
        &["x509", "-in", "c.pem", "-outform", "DER", "-out", "c.der"],
    );
    std::fs::read(d.join("c.der")).unwrap()
}
