//! TLS options, as mosquitto's, and the ones tern cannot honour (refused
//! with the reason).

use crate::common::{usage, CliError};
use clap::Args;
use std::path::{Path, PathBuf};
use tern_mqtt::client::ConnectOptions;
use tern_mqtt::transport::TlsVersion;

/// Parses --tls-version as mosquitto names them.
fn parse_tls_version(s: &str) -> Result<TlsVersion, String> {
    match s {
        "tlsv1.3" => Ok(TlsVersion::Tls13),
        "tlsv1.2" => Ok(TlsVersion::Tls12),
        "tlsv1.1" | "tlsv1" => Err("refused: rustls speaks TLS 1.2 and 1.3 only".to_owned()),
        _ => Err("expected tlsv1.3 or tlsv1.2".to_owned()),
    }
}

/// TLS options (`mqtts://` or `wss://`).
#[derive(Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// Use TLS (implied by every other TLS option and by mqtts:// URLs).
    #[arg(long, help_heading = "TLS")]
    pub tls: bool,
    /// Trust the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub cafile: Option<PathBuf>,
    /// Trust the PEM CA certificates of every file in this directory.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "cafile",
        help_heading = "TLS"
    )]
    pub capath: Option<PathBuf>,
    /// Trust the operating system's CA store (the default when neither
    /// --cafile nor --capath is given).
    #[arg(long, conflicts_with_all = ["cafile", "capath"], help_heading = "TLS")]
    pub tls_use_os_certs: bool,
    /// Client certificate: a PEM chain or DER certificate (with --key), or
    /// a PKCS#12 archive (.p12, .pfx) holding the key too.
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM or DER) for --cert.
    #[arg(long, value_name = "FILE", requires = "cert", help_heading = "TLS")]
    pub key: Option<PathBuf>,
    /// Password of an encrypted key or of the PKCS#12 archive.
    #[arg(long, value_name = "PASSWORD", requires = "cert", help_heading = "TLS")]
    pub key_password: Option<String>,
    /// Do not check that the broker's certificate names the host (the
    /// chain is still verified).
    #[arg(long, help_heading = "TLS")]
    pub insecure: bool,
    /// Verify the broker's certificate against this name instead of the host.
    #[arg(long, value_name = "NAME", help_heading = "TLS")]
    pub tls_server_name: Option<String>,
    /// ALPN protocol to offer (repeatable).
    #[arg(long, value_name = "PROTOCOL", help_heading = "TLS")]
    pub tls_alpn: Vec<String>,
    /// Pin the TLS version: tlsv1.3 or tlsv1.2 (tlsv1.1 is refused).
    #[arg(long, value_name = "VERSION", value_parser = parse_tls_version, help_heading = "TLS")]
    pub tls_version: Option<TlsVersion>,
    /// Refused: rustls picks from its own safe cipher suites.
    #[arg(long, value_name = "CIPHERS", help_heading = "TLS")]
    pub ciphers: Option<String>,
    /// Refused: rustls has no TLS-PSK.
    #[arg(long, value_name = "HEX", help_heading = "TLS")]
    pub psk: Option<String>,
    /// Refused: rustls has no TLS-PSK.
    #[arg(long, value_name = "IDENTITY", help_heading = "TLS")]
    pub psk_identity: Option<String>,
    /// Refused: keys are files (--keyform pem only), no OpenSSL engines.
    #[arg(long, value_name = "FORM", help_heading = "TLS")]
    pub keyform: Option<String>,
    /// Refused: no OpenSSL engines.
    #[arg(long, value_name = "ENGINE", help_heading = "TLS")]
    pub tls_engine: Option<String>,
    /// Refused: no OpenSSL engines.
    #[arg(long, value_name = "SHA1", help_heading = "TLS")]
    pub tls_engine_kpass_sha1: Option<String>,
}

impl TlsArgs {
    /// Whether any TLS option was given.
    pub fn wants_tls(&self) -> bool {
        self.tls
            || self.insecure
            || self.tls_use_os_certs
            || self.cafile.is_some()
            || self.capath.is_some()
            || self.cert.is_some()
            || self.tls_server_name.is_some()
            || !self.tls_alpn.is_empty()
            || self.tls_version.is_some()
    }

    /// Refuses what tern cannot honour, and a --cert that needs --key.
    pub fn check(&self) -> Result<(), CliError> {
        if let Some(why) = self.refused() {
            return Err(usage(why));
        }
        self.check_key()
    }

    /// The first option tern cannot honour, with why.
    fn refused(&self) -> Option<&'static str> {
        let engine = self.tls_engine.is_some() || self.tls_engine_kpass_sha1.is_some();
        if self.ciphers.is_some() {
            Some("--ciphers is refused: rustls uses its own safe cipher suites")
        } else if self.psk.is_some() || self.psk_identity.is_some() {
            Some("--psk is refused: rustls has no TLS-PSK")
        } else if self.keyform.as_deref().is_some_and(|f| f != "pem") {
            Some("--keyform engine is refused: no OpenSSL engines (keys are files)")
        } else if engine {
            Some("--tls-engine is refused: no OpenSSL engines")
        } else {
            None
        }
    }

    /// The TLS settings on `opts`.
    pub fn apply(&self, opts: ConnectOptions) -> Result<ConnectOptions, CliError> {
        use tern_mqtt::transport::{TlsOptions, TrustAnchors};
        for path in [&self.cafile, &self.cert, &self.key].into_iter().flatten() {
            if !path.is_file() {
                return Err(usage(format!(
                    "cannot read {}: no such file",
                    path.display()
                )));
            }
        }
        let trust = match (&self.cafile, &self.capath) {
            (Some(path), _) => TrustAnchors::PemFile(path.clone()),
            (None, Some(dir)) => TrustAnchors::Pem(pem_dir(dir)?),
            (None, None) => TrustAnchors::System,
        };
        Ok(opts.tls(TlsOptions {
            trust,
            client_cert: self.client_cert(),
            server_name: self.tls_server_name.clone(),
            alpn: self
                .tls_alpn
                .iter()
                .map(|p| p.as_bytes().to_vec())
                .collect(),
            dangerous_skip_hostname_verification: self.insecure,
            version: self.tls_version,
            ..TlsOptions::default()
        }))
    }

    fn client_cert(&self) -> Option<tern_mqtt::transport::ClientCertificate> {
        use tern_mqtt::transport::{ClientCertificate, Password};
        let cert = self.cert.clone()?;
        let password = self.key_password.clone().map(Password::new);
        let ext = cert
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        match (ext.to_ascii_lowercase().as_str(), self.key.clone()) {
            ("p12" | "pfx", _) => Some(ClientCertificate::Pkcs12File {
                path: cert,
                password: password.unwrap_or_else(|| Password::new("")),
            }),
            ("der" | "cer", Some(key)) => Some(ClientCertificate::DerFiles {
                cert,
                key,
                password,
            }),
            (_, Some(key)) => Some(ClientCertificate::PemFiles {
                cert,
                key,
                password,
            }),
            // Checked before: a PEM or DER --cert needs --key.
            (_, None) => None,
        }
    }

    /// A PEM or DER --cert without --key.
    fn check_key(&self) -> Result<(), CliError> {
        let Some(cert) = &self.cert else {
            return Ok(());
        };
        let ext = cert
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        let archive = matches!(ext.to_ascii_lowercase().as_str(), "p12" | "pfx");
        if !archive && self.key.is_none() {
            return Err(usage(
                "--cert needs --key (unless it is a .p12 or .pfx archive)",
            ));
        }
        Ok(())
    }
}

/// Every PEM certificate of the files in `dir` (OpenSSL's hashed
/// directories hold one per file), concatenated.
fn pem_dir(dir: &Path) -> Result<Vec<u8>, CliError> {
    let cannot = |e: std::io::Error| {
        usage(format!(
            "cannot read --capath {}: {}",
            dir.display(),
            crate::common::describe_io(&e)
        ))
    };
    let mut pem = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(cannot)?;
        if bytes
            .windows(27)
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            pem.extend_from_slice(&bytes);
            pem.push(b'\n');
        }
    }
    if pem.is_empty() {
        return Err(usage(format!(
            "--capath {}: no PEM certificate in it",
            dir.display()
        )));
    }
    Ok(pem)
}
