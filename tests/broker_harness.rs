//! Self-tests of the real-broker harness (`tests/support/mosquitto.rs`),
//! using `mosquitto_pub` / `mosquitto_sub` (package `mosquitto-clients`)
//! as peer clients. Retained messages make publish/subscribe ordering
//! irrelevant: publish first, then `mosquitto_sub -C 1 -W 10` receives it.

#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::Duration;

use mosquitto::{files, Broker, BrokerOptions, Listener, ServerCert};

/// How long to wait for a broker-side log line.
const LOG_WAIT: Duration = Duration::from_secs(10);

/// Assert that the broker logs `needle` (e.g. the TLS failure reason).
fn assert_logged(broker: &Broker, needle: &str) {
    assert!(
        broker.wait_for_log(needle, LOG_WAIT),
        "broker never logged {needle:?}; log:\n{}",
        broker.log()
    );
}

fn run(mut cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.output().unwrap_or_else(|e| panic!("run {shown}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}, stdout {:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `mosquitto_pub -r -q 1 -t topic -m payload` plus `extra` arguments.
fn publish_retained(
    broker: &Broker,
    listener: Listener,
    extra: &[&str],
    topic: &str,
    payload: &str,
) -> Output {
    let mut cmd = broker.client_command("mosquitto_pub", listener);
    cmd.args(extra)
        .args(["-r", "-q", "1", "-t", topic, "-m", payload]);
    run(cmd)
}

/// `mosquitto_sub -C 1 -W 10 -t topic` plus `extra` arguments.
fn receive_one(broker: &Broker, listener: Listener, extra: &[&str], topic: &str) -> Output {
    let mut cmd = broker.client_command("mosquitto_sub", listener);
    cmd.args(extra)
        .args(["-C", "1", "-W", "10", "-q", "1", "-t", topic]);
    run(cmd)
}

fn assert_round_trip(broker: &Broker, listener: Listener, extra: &[&str], topic: &str) {
    let payload = format!("hello over {listener:?}");
    let out = publish_retained(broker, listener, extra, topic, &payload);
    assert!(out.status.success(), "publish: {}", describe(&out));
    let out = receive_one(broker, listener, extra, topic);
    assert!(out.status.success(), "subscribe: {}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{payload}\n"));
}

#[test]
fn all_four_listeners_get_distinct_loopback_ports_and_accept_tcp() {
    let mut broker = Broker::start(BrokerOptions::all());
    let ports = broker.ports().to_vec();
    assert_eq!(ports.len(), 4);
    for l in Listener::ALL {
        assert!(ports.iter().any(|(x, _)| *x == l), "{l:?} missing");
    }
    let mut numbers: Vec<u16> = ports.iter().map(|(_, p)| *p).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 4, "ports not distinct: {ports:?}");
    for l in Listener::ALL {
        TcpStream::connect(broker.addr(l))
            .unwrap_or_else(|e| panic!("connect {l:?} {}: {e}", broker.addr(l)));
    }
    assert!(broker.is_running());
    assert_eq!(broker.starts(), 1);
    assert!(
        broker.log().contains("mosquitto version"),
        "{}",
        broker.log()
    );
    let config = std::fs::read_to_string(broker.config_path()).unwrap();
    assert!(config.contains("require_certificate true"), "{config}");
    assert!(config.contains("allow_anonymous false"), "{config}");
}

#[test]
fn plain_listener_round_trip_v311_and_v5() {
    let broker = Broker::start(BrokerOptions::plain());
    assert_round_trip(&broker, Listener::Plain, &[], "harness/plain/v311");
    assert_round_trip(
        &broker,
        Listener::Plain,
        &["-V", "mqttv5"],
        "harness/plain/v5",
    );
}

#[test]
fn tls_listener_round_trip_with_cafile_and_untrusted_ca_rejected() {
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::Tls]));
    assert_round_trip(&broker, Listener::Tls, &[], "harness/tls");

    // A client that trusts only the second CA must refuse the server.
    let mut cmd = client_without_tls_args(&broker, "mosquitto_pub", Listener::Tls);
    cmd.arg("--cafile").arg(broker.other_ca_path());
    cmd.args(["-t", "harness/tls", "-m", "x"]);
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "untrusted CA accepted: {}",
        describe(&out)
    );
    assert_logged(&broker, "alert unknown ca");
}

/// `-h 127.0.0.1 -p PORT` only (no `--cafile`/`--cert`/`--key`).
fn client_without_tls_args(broker: &Broker, tool: &str, listener: Listener) -> Command {
    let mut cmd = Command::new(mosquitto::client_tool(tool));
    cmd.args(["-h", "127.0.0.1", "-p", &broker.port(listener).to_string()]);
    cmd
}

#[test]
fn mutual_tls_requires_a_client_certificate_signed_by_the_ca() {
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::MutualTls]));
    assert_round_trip(&broker, Listener::MutualTls, &[], "harness/mtls");

    // The certificate's CN became the username.
    assert_logged(&broker, &format!("u'{}'", mosquitto::certs::CLIENT_CN));

    // No client certificate: handshake refused.
    let mut cmd = client_without_tls_args(&broker, "mosquitto_pub", Listener::MutualTls);
    cmd.arg("--cafile").arg(broker.ca_path());
    cmd.args(["-t", "harness/mtls", "-m", "x"]);
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "no client cert accepted: {}",
        describe(&out)
    );
    assert_logged(&broker, "peer did not return a certificate");

    // A client certificate from the untrusted CA: refused too.
    let mut cmd = client_without_tls_args(&broker, "mosquitto_pub", Listener::MutualTls);
    cmd.arg("--cafile").arg(broker.ca_path());
    cmd.arg("--cert").arg(broker.other_client_cert_path());
    cmd.arg("--key").arg(broker.other_client_key_path());
    cmd.args(["-t", "harness/mtls", "-m", "x"]);
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "untrusted client cert accepted: {}",
        describe(&out)
    );
    assert_logged(&broker, "certificate verify failed");
}

#[test]
fn auth_listener_checks_password_and_acl() {
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::Auth]));
    let good = ["-u", "user1", "-P", "pass1"];
    assert_round_trip(&broker, Listener::Auth, &good, "test/auth");

    for (what, creds) in [
        ("bad password", &["-u", "user1", "-P", "wrong"][..]),
        ("unknown user", &["-u", "nobody", "-P", "pass1"][..]),
        ("anonymous", &[][..]),
    ] {
        let out = publish_retained(&broker, Listener::Auth, creds, "test/auth", "x");
        assert!(!out.status.success(), "{what} accepted: {}", describe(&out));
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            text.contains("not authorised") || text.contains("Not authorized"),
            "{what}: {text}"
        );
    }

    // ACL: user2 may only read test/#. In v5 the PUBACK carries 135.
    let out = publish_retained(
        &broker,
        Listener::Auth,
        &["-u", "user2", "-P", "pass2", "-V", "mqttv5"],
        "test/denied",
        "x",
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("Not authorized"),
        "ACL not applied: {}",
        describe(&out)
    );
    // ...and can read what user1 wrote.
    let out = receive_one(
        &broker,
        Listener::Auth,
        &["-u", "user2", "-P", "pass2"],
        "test/auth",
    );
    assert!(out.status.success(), "user2 read: {}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello over Auth\n");
}

#[test]
fn restart_keeps_ports_and_persisted_retained_message() {
    let mut broker = Broker::start(BrokerOptions::all().persistence(true));
    let ports = broker.ports().to_vec();
    let pid = broker.pid().expect("running");
    let out = publish_retained(&broker, Listener::Plain, &[], "harness/persist", "survives");
    assert!(out.status.success(), "publish: {}", describe(&out));

    broker.restart();
    assert_eq!(broker.ports(), &ports[..]);
    assert_ne!(broker.pid(), Some(pid), "same process after restart");
    assert_eq!(broker.starts(), 2);
    assert!(broker
        .file(files::PERSISTENCE)
        .join("mosquitto.db")
        .is_file());
    for l in Listener::ALL {
        TcpStream::connect(broker.addr(l)).unwrap_or_else(|e| panic!("{l:?} after restart: {e}"));
    }
    let out = receive_one(&broker, Listener::Plain, &[], "harness/persist");
    assert!(out.status.success(), "subscribe: {}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "survives\n");
    // TLS still works with the same certificates after the restart.
    assert_round_trip(&broker, Listener::Tls, &[], "harness/persist/tls");
}

#[test]
fn crash_skips_the_persistence_write_that_stop_does() {
    let mut broker = Broker::start(BrokerOptions::plain().persistence(true));
    let db = broker.file(files::PERSISTENCE).join("mosquitto.db");
    let out = publish_retained(&broker, Listener::Plain, &[], "harness/crash", "lost");
    assert!(out.status.success(), "publish: {}", describe(&out));
    broker.crash();
    assert!(
        !db.exists(),
        "SIGKILL should not have saved {}",
        db.display()
    );
    broker.restart();
    broker.stop();
    assert!(db.is_file(), "SIGTERM should have saved {}", db.display());
}

#[test]
fn stop_and_drop_release_the_ports() {
    let mut broker = Broker::start(BrokerOptions::listeners(&[Listener::Plain, Listener::Tls]));
    let addr = broker.addr(Listener::Plain);
    broker.stop();
    assert!(!broker.is_running());
    assert_eq!(broker.pid(), None);
    assert!(
        TcpStream::connect(addr).is_err(),
        "{addr} still accepting after stop"
    );
    assert!(broker.log().contains("mosquitto version"));

    broker.restart();
    let pid = broker.pid().expect("running again");
    TcpStream::connect(addr).expect("accepting after restart");
    let dir = broker.dir().to_path_buf();
    drop(broker);
    assert!(
        TcpStream::connect(addr).is_err(),
        "{addr} still accepting after drop"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "broker process {pid} still exists after drop"
    );
    assert!(!dir.exists(), "temp dir not removed");
}

#[test]
fn expired_and_not_yet_valid_server_certificates_are_refused() {
    // The alert OpenSSL (mosquitto_pub) sends, as the broker logs it.
    for (which, alert) in [
        (ServerCert::Expired, "alert certificate expired"),
        (ServerCert::NotYetValid, "alert bad certificate"),
    ] {
        let broker = Broker::start(BrokerOptions::listeners(&[Listener::Tls]).server_cert(which));
        let out = publish_retained(&broker, Listener::Tls, &[], "harness/bad-cert", "x");
        assert!(
            !out.status.success(),
            "{which:?} accepted: {}",
            describe(&out)
        );
        assert_logged(&broker, alert);
        assert_ne!(broker.server_cert().cert_der, broker.pki().server.cert_der);
    }
}

#[test]
fn missing_tools_fail_with_an_install_hint() {
    let err = std::panic::catch_unwind(|| mosquitto::client_tool("mosquitto_no_such_tool"))
        .expect_err("a missing tool must panic");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("apt-get install"), "{msg}");
    assert!(mosquitto::mosquitto_exe().is_file());
}
