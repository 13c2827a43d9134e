//! Every client certificate format gateways meet, against mosquitto's
//! mutual-TLS listener, and TLS errors that name the right culprit.
//!
//! Certificates are made in the test: rcgen for the PKI, the `openssl`
//! command for PKCS#12, encrypted PKCS#8 and X.509 v1 (as users make them).
#![cfg(feature = "tls")]

#[path = "support/mosquitto.rs"]
mod mosquitto;

use mosquitto::certs::{self, CertKey};
use mosquitto::{Broker, BrokerOptions, Listener, ServerCert};
use std::path::{Path, PathBuf};
use tern_mqtt::transport::{ClientCertificate, TlsError, TlsFault, TlsOptions};
use tern_mqtt::{Client, ConnectOptions, Error};

const MARKER: &str = "Marker-Pa55word-7731";

fn mtls() -> (Broker, String) {
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::MutualTls]));
    let url = format!("mqtts://127.0.0.1:{}", broker.mtls_port());
    (broker, url)
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Connects, publishes nothing, disconnects; panics with the error.
async fn connects(opts: ConnectOptions) {
    let client = Client::connect(opts)
        .await
        .expect("connect over mutual TLS");
    client.disconnect().await.expect("disconnect");
}

async fn fails(opts: ConnectOptions) -> TlsError {
    match Client::connect(opts).await {
        Err(Error::Tls(e)) => e,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_pkcs12_client_certificate_with_its_password_connects() {
    let (broker, url) = mtls();
    let dir = tempfile::tempdir().unwrap();
    let pfx = certs::pkcs12(broker.client_cert(), &broker.pki().ca, MARKER);
    let path = write(dir.path(), "client.pfx", &pfx);
    let base = || ConnectOptions::new(&url).unwrap().ca_file(broker.ca_path());
    connects(base().client_cert_pkcs12(&path, MARKER)).await;
    // The same as bytes.
    connects(base().client_cert(ClientCertificate::Pkcs12 {
        bytes: pfx.clone().into(),
        password: MARKER.into(),
    }))
    .await;

    // A wrong password fails before connecting, naming the file.
    let e = fails(base().client_cert_pkcs12(&path, "wrong")).await;
    assert!(matches!(e, TlsError::WrongPassword { .. }), "{e:?}");
    assert_eq!(e.fault(), TlsFault::Local);
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert!(!format!("{e} {e:?}").contains(MARKER));
}

#[tokio::test]
async fn an_encrypted_pkcs8_key_with_its_password_connects() {
    let (broker, url) = mtls();
    let dir = tempfile::tempdir().unwrap();
    let client = broker.client_cert();
    let key = write(
        dir.path(),
        "client.key",
        certs::encrypted_pkcs8(client, MARKER, "PEM"),
    );
    let base = || ConnectOptions::new(&url).unwrap().ca_file(broker.ca_path());
    connects(base().client_cert_files_with_password(broker.client_cert_path(), &key, MARKER)).await;

    // DER, encrypted.
    let der_cert = write(dir.path(), "client.der", &client.cert_der);
    let der_key = write(
        dir.path(),
        "client.key.der",
        certs::encrypted_pkcs8(client, MARKER, "DER"),
    );
    connects(base().client_cert(ClientCertificate::DerFiles {
        cert: der_cert,
        key: der_key,
        password: Some(MARKER.into()),
    }))
    .await;

    // Without the password, and with a wrong one: named, and ours.
    let e = fails(base().client_cert_files(broker.client_cert_path(), &key)).await;
    assert!(matches!(e, TlsError::PasswordNeeded { .. }), "{e:?}");
    assert!(e.to_string().contains(&key.display().to_string()), "{e}");
    let e = fails(base().client_cert_files_with_password(broker.client_cert_path(), &key, "wrong"))
        .await;
    assert!(matches!(e, TlsError::WrongPassword { .. }), "{e:?}");
    assert!(e.to_string().contains(&key.display().to_string()), "{e}");
    assert_eq!(e.fault(), TlsFault::Local);
}

#[tokio::test]
async fn der_certificate_and_key_files_connect_and_a_der_ca_file_is_trusted() {
    let (broker, url) = mtls();
    let dir = tempfile::tempdir().unwrap();
    let client: &CertKey = broker.client_cert();
    let cert = write(dir.path(), "client.der", &client.cert_der);
    let key = write(dir.path(), "client.key.der", &client.key_der);
    let ca = write(dir.path(), "ca.der", broker.ca_der());
    connects(
        ConnectOptions::new(&url)
            .unwrap()
            .ca_der_file(&ca)
            .client_cert_der_files(&cert, &key),
    )
    .await;
    // PEM given where DER is expected says so, naming the file.
    let e = fails(
        ConnectOptions::new(&url)
            .unwrap()
            .ca_der_file(broker.ca_path()),
    )
    .await;
    assert!(matches!(e, TlsError::Malformed { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains(&broker.ca_path().display().to_string()),
        "{e}"
    );
}

#[tokio::test]
async fn an_x509_v1_client_certificate_works_and_a_v1_broker_certificate_is_named() {
    // rustls's own check of our certificate used to reject v1 with the
    // misleading "invalid peer certificate: UnsupportedCertVersion"; the
    // broker (OpenSSL) accepts v1 client certificates, so we present it.
    let (broker, url) = mtls();
    let dir = tempfile::tempdir().unwrap();
    let v1 = broker.pki().ca.v1_leaf(certs::CLIENT_CN);
    let cert = write(dir.path(), "v1.crt", &v1.cert_pem);
    let key = write(dir.path(), "v1.key", &v1.key_pem);
    connects(
        ConnectOptions::new(&url)
            .unwrap()
            .ca_file(broker.ca_path())
            .client_cert_files(&cert, &key),
    )
    .await;

    // A v1 certificate on the broker's side is the broker's fault, and
    // the message says what to do.
    let v1_broker =
        Broker::start(BrokerOptions::listeners(&[Listener::Tls]).server_cert(ServerCert::V1));
    let url = format!("mqtts://127.0.0.1:{}", v1_broker.tls_port());
    let e = fails(
        ConnectOptions::new(&url)
            .unwrap()
            .ca_file(v1_broker.ca_path())
            .tls_server_name("localhost"),
    )
    .await;
    assert!(matches!(e, TlsError::ServerCertVersion), "{e:?}");
    assert_eq!(e.fault(), TlsFault::Broker);
    assert!(e.to_string().contains("broker's certificate"), "{e}");
}

#[tokio::test]
async fn a_key_that_does_not_belong_to_the_certificate_is_named() {
    let (broker, url) = mtls();
    let e = fails(
        ConnectOptions::new(&url)
            .unwrap()
            .ca_file(broker.ca_path())
            .client_cert_files(broker.client_cert_path(), broker.other_client_key_path()),
    )
    .await;
    assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&broker.other_client_key_path().display().to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn garbage_missing_and_empty_files_fail_at_load_naming_the_file() {
    let (broker, url) = mtls();
    let dir = tempfile::tempdir().unwrap();
    let base = || ConnectOptions::new(&url).unwrap().ca_file(broker.ca_path());
    let key = broker.client_key_path();

    let garbage = write(
        dir.path(),
        "garbage.crt",
        b"\x00\x01 not a certificate at all",
    );
    let e = fails(base().client_cert_files(&garbage, &key)).await;
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");
    assert!(e.to_string().contains("garbage.crt"), "{e}");

    // A PEM block whose contents are not a certificate.
    let bogus = write(
        dir.path(),
        "bogus.crt",
        "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
    );
    let e = fails(base().client_cert_files(&bogus, &key)).await;
    assert!(matches!(e, TlsError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("bogus.crt"), "{e}");

    let missing = dir.path().join("missing.crt");
    let e = fails(base().client_cert_files(&missing, &key)).await;
    assert!(
        matches!(
            e,
            TlsError::FileUnreadable {
                kind: std::io::ErrorKind::NotFound,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("missing.crt"), "{e}");
    assert!(e.to_string().contains("not found"), "{e}");

    // A key file holding only a certificate.
    let e =
        fails(base().client_cert_files(broker.client_cert_path(), broker.client_cert_path())).await;
    assert!(matches!(e, TlsError::NoKey { .. }), "{e:?}");
    assert!(e.to_string().contains("client key file"), "{e}");

    let garbage_p12 = write(dir.path(), "garbage.pfx", b"\x30\x03\x02\x01\x03");
    let e = fails(base().client_cert_pkcs12(&garbage_p12, "x")).await;
    assert!(matches!(e, TlsError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("garbage.pfx"), "{e}");
}

#[cfg(unix)]
#[tokio::test]
async fn an_unreadable_key_file_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let (broker, url) = mtls();
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "locked.key", &broker.client_cert().key_pem);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&key).is_ok() {
        return; // root reads anything: nothing to test here
    }
    let e = fails(
        ConnectOptions::new(&url)
            .unwrap()
            .ca_file(broker.ca_path())
            .client_cert_files(broker.client_cert_path(), &key),
    )
    .await;
    assert!(e.to_string().contains("permission denied"), "{e}");
}

#[test]
fn debug_of_options_certificates_and_errors_never_shows_the_password_or_key() {
    let pki = certs::TestPki::generate();
    let key_pem = pki.client.key_pem.clone();
    let key_body = key_pem.lines().nth(1).unwrap().to_owned();
    let opts = ConnectOptions::new("mqtts://broker.local")
        .unwrap()
        .client_cert_pem(pki.client.cert_pem.clone(), key_pem.clone())
        .tls(TlsOptions {
            server_name: Some("broker.local".into()),
            ..Default::default()
        });
    let pkcs12 = ClientCertificate::Pkcs12 {
        bytes: b"archive bytes".to_vec().into(),
        password: MARKER.into(),
    };
    let der = ClientCertificate::Der {
        cert: pki.client.cert_der.clone(),
        key: pki.client.key_der.clone().into(),
        password: Some(MARKER.into()),
    };
    let with_password = ConnectOptions::new("mqtts://broker.local")
        .unwrap()
        .client_cert_pkcs12("a.pfx", MARKER);
    let errors = [
        TlsError::WrongPassword {
            origin: "PKCS#12 file a.pfx".into(),
        },
        TlsError::PasswordNeeded {
            origin: "client key file k.pem".into(),
        },
    ];
    let mut text = format!("{opts:?} {pkcs12:?} {der:?} {with_password:?}");
    for e in &errors {
        text += &format!("{e} {e:?}");
    }
    assert!(text.contains("<redacted"), "{text}");
    for secret in [MARKER, &key_body, "archive bytes"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let key_der_hex = format!("{:?}", &pki.client.key_der[..16]);
    assert!(!text.contains(&key_der_hex[1..key_der_hex.len() - 1]));
}

#[tokio::test]
async fn tls_after_client_cert_files_keeps_the_client_certificate() {
    let (broker, url) = mtls();
    // `.tls()` after the individual setters merges: the client certificate
    // set before survives a `TlsOptions` that does not set one.
    let opts = ConnectOptions::new(&url)
        .unwrap()
        .client_cert_files(broker.client_cert_path(), broker.client_key_path())
        .tls(TlsOptions {
            trust: tern_mqtt::transport::TrustAnchors::PemFile(broker.ca_path()),
            server_name: Some("localhost".into()),
            ..Default::default()
        });
    assert!(opts.tls_options().client_cert.is_some());
    connects(opts).await;
    // And a setter after `.tls()` replaces only its own field.
    let opts = ConnectOptions::new(&url)
        .unwrap()
        .tls(TlsOptions {
            server_name: Some("localhost".into()),
            ..Default::default()
        })
        .ca_file(broker.ca_path())
        .client_cert_files(broker.client_cert_path(), broker.client_key_path());
    assert_eq!(opts.tls_options().server_name.as_deref(), Some("localhost"));
    connects(opts).await;
}

#[tokio::test]
async fn a_refused_tcp_connect_names_host_and_port_and_keeps_its_kind() {
    // A port nobody listens on: bind, take the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Client::connect(ConnectOptions::new(&format!("mqtt://127.0.0.1:{port}")).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Io(ref e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    // A name that does not resolve (.invalid never does, RFC 2606).
    let err = Client::connect(ConnectOptions::new("mqtt://no-such-host.invalid:1884").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("resolving no-such-host.invalid:1884"),
        "{text}"
    );
}
