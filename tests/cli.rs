//! The `tern` binary against a real mosquitto: pub/sub round trips (plain,
//! TLS, mutual TLS, credentials), JSON output, v5 properties, bench, and
//! one-line errors with the right exit codes.

#[path = "support/mosquitto.rs"]
mod mosquitto;

use base64::Engine as _;
use mosquitto::{Broker, BrokerOptions, Listener};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tern_mqtt::client::{Client, ConnectOptions};
use tern_mqtt::codec::QoS;

const TERN: &str = env!("CARGO_BIN_EXE_tern");

fn tern(args: &[&str]) -> Output {
    Command::new(TERN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tern")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts stderr is exactly one line starting with "tern: " and returns it.
fn one_error_line(out: &Output) -> String {
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got {err:?}");
    assert!(lines[0].starts_with("tern: "), "{err:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    lines[0].to_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `-h 127.0.0.1 -p PORT` for a listener.
fn at(broker: &Broker, listener: Listener) -> Vec<String> {
    vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        broker.port(listener).to_string(),
    ]
}

/// `tern SUBCOMMAND BASE.. REST..`.
fn run(sub: &str, base: &[String], rest: &[&str]) -> Output {
    let mut all = vec![sub];
    all.extend(base.iter().map(String::as_str));
    all.extend(rest);
    tern(&all)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    sock.local_addr().unwrap().port()
}

#[test]
fn retained_round_trip_prints_topic_and_payload() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let out = run(
        "pub",
        &base,
        &[
            "-t",
            "tern/cli/retained",
            "-m",
            "hello world",
            "-r",
            "-q",
            "1",
        ],
    );
    assert_ok(&out);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    let out = run(
        "sub",
        &base,
        &["-t", "tern/cli/retained", "--count", "1", "-v", "-W", "10"],
    );
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "tern/cli/retained hello world\n");

    // Without -v only the payload; 3.1.1 works the same.
    let out = run(
        "sub",
        &base,
        &[
            "-t",
            "tern/cli/retained",
            "-C",
            "1",
            "-W",
            "10",
            "-V",
            "311",
        ],
    );
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "hello world\n");
}

#[test]
fn json_output_has_properties_and_base64_for_binary() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let out = run(
        "pub",
        &base,
        &[
            "-t",
            "tern/cli/json/text",
            "-m",
            "quote \" and \\ and \u{e9}",
            "-r",
            "-q",
            "2",
            "--user-property",
            "k=v",
            "--user-property",
            "k=v2",
            "--content-type",
            "text/plain",
            "--response-topic",
            "tern/cli/reply",
            "--correlation-data",
            "req-1",
            "--message-expiry",
            "3600",
            "--payload-format-utf8",
        ],
    );
    assert_ok(&out);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("binary.bin");
    std::fs::write(&file, [0xff, 0x00, 0xfe]).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let out = run(
        "pub",
        &base,
        &["-t", "tern/cli/json/binary", "-f", &file, "-r", "-q", "1"],
    );
    assert_ok(&out);

    let out = run(
        "sub",
        &base,
        &[
            "-t",
            "tern/cli/json/text",
            "-t",
            "tern/cli/json/binary",
            "--json",
            "-C",
            "2",
            "-W",
            "10",
            "-q",
            "1",
            "--subscription-id",
            "42",
        ],
    );
    assert_ok(&out);
    let stdout = text(&out.stdout);
    let mut seen = 0;
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["retain"], true, "{line}");
        assert_eq!(
            v["properties"]["subscription_ids"],
            serde_json::json!([42]),
            "{line}"
        );
        match v["topic"].as_str().unwrap() {
            "tern/cli/json/text" => {
                assert_eq!(v["payload"], "quote \" and \\ and \u{e9}");
                // Published at QoS 2, delivered at the subscription maximum.
                assert_eq!(v["qos"], 1);
                let p = &v["properties"];
                assert_eq!(
                    p["user_properties"],
                    serde_json::json!([["k", "v"], ["k", "v2"]])
                );
                assert_eq!(p["content_type"], "text/plain");
                assert_eq!(p["response_topic"], "tern/cli/reply");
                let cd = base64::engine::general_purpose::STANDARD
                    .decode(p["correlation_data_base64"].as_str().unwrap());
                assert_eq!(cd.unwrap(), b"req-1");
                let expiry = p["message_expiry"].as_u64().unwrap();
                assert!(expiry > 3500 && expiry <= 3600, "{expiry}");
                assert_eq!(p["payload_format_utf8"], true);
                seen += 1;
            }
            "tern/cli/json/binary" => {
                assert!(v.get("payload").is_none(), "{line}");
                assert_eq!(v["payload_base64"], "/wD+");
                assert_eq!(v["qos"], 1);
                assert_eq!(v["properties"]["user_properties"], serde_json::json!([]));
                seen += 1;
            }
            other => panic!("unexpected topic {other}"),
        }
    }
    assert_eq!(seen, 2, "{stdout}");
}

#[tokio::test]
async fn stdin_lines_publish_in_order_with_properties() {
    let broker = Broker::start(BrokerOptions::plain());
    let port = broker.port(Listener::Plain);
    let client = Client::connect(ConnectOptions::new(&format!("mqtt://127.0.0.1:{port}")).unwrap())
        .await
        .unwrap();
    let mut sub = client
        .subscribe("tern/cli/lines", QoS::ExactlyOnce)
        .await
        .unwrap();

    let mut child = tokio::process::Command::new(TERN)
        .args([
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "tern/cli/lines",
            "-q",
            "2",
            "-l",
        ])
        .args([
            "--user-property",
            "source=stdin",
            "--content-type",
            "text/plain",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"one\ntwo\r\n\nfour").await.unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_ok(&out);

    let mut got = Vec::new();
    for _ in 0..4 {
        let msg = tokio::time::timeout(Duration::from_secs(10), sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.qos, QoS::ExactlyOnce);
        assert_eq!(msg.properties.user_properties.len(), 1);
        assert_eq!(msg.properties.user_properties[0].0, "source");
        assert_eq!(msg.properties.user_properties[0].1, "stdin");
        assert_eq!(
            msg.properties.content_type.as_ref().map(|c| c.to_string()),
            Some("text/plain".to_owned())
        );
        got.push(text(&msg.payload));
    }
    assert_eq!(got, ["one", "two", "", "four"]);
    client.disconnect().await.unwrap();
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["pub", "-t", "a/b"],
        &["pub", "-t", "a/b", "-m", "x", "-q", "3"],
        &["pub", "-t", "a/#", "-m", "x"],
        &["pub", "-t", "a/b", "-m", "x", "--user-property", "novalue"],
        &[
            "pub",
            "-t",
            "a/b",
            "-m",
            "x",
            "-V",
            "311",
            "--content-type",
            "text/plain",
        ],
        &["pub", "-t", "a/b", "-m", "x", "--url", "http://localhost"],
        &["pub", "-t", "a/b", "-m", "x", "--cert", "c.pem"],
        &["sub"],
        &["sub", "-t", "a/b", "--json", "-v"],
        &["sub", "-t", "a/+b"],
        &["bench", "--payload-size", "8"],
        &["bench", "--count", "10", "--duration", "5"],
    ];
    for case in cases {
        let out = tern(case);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{case:?}: {}",
            text(&out.stderr)
        );
        let line = one_error_line(&out);
        assert!(line.len() > "tern: ".len() + 5, "{case:?}: {line}");
        assert!(out.stdout.is_empty(), "{case:?}");
    }
    // The reason is named.
    let line = one_error_line(&tern(&["pub", "-t", "a/b", "-m", "x", "-q", "3"]));
    assert!(line.contains("QoS must be 0, 1 or 2"), "{line}");
    let line = one_error_line(&tern(&["pub", "-t", "a/b"]));
    assert!(line.contains("--message"), "{line}");

    // --help still works, on stdout, exit 0; -h is the host.
    let out = tern(&["pub", "--help"]);
    assert_ok(&out);
    assert!(text(&out.stdout).contains("--user-property"));
}

#[test]
fn connection_refused_is_one_line_without_panic() {
    let port = closed_port().to_string();
    for cmd in [
        vec![
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "a/b",
            "-m",
            "x",
        ],
        vec!["sub", "-h", "127.0.0.1", "-p", &port, "-t", "a/b"],
        vec!["bench", "-h", "127.0.0.1", "-p", &port, "--count", "1"],
        vec![
            "pub",
            "--url",
            &format!("mqtt://127.0.0.1:{port}"),
            "-t",
            "a/b",
            "-m",
            "x",
        ],
    ] {
        let out = tern(&cmd);
        assert_ne!(out.status.code(), Some(0), "{cmd:?}");
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        let line = one_error_line(&out);
        assert_eq!(
            line,
            format!("tern: cannot connect to 127.0.0.1:{port}: connection refused"),
            "{cmd:?}"
        );
    }
}

#[test]
fn bench_reports_no_loss() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let mut cmd = vec!["bench"];
    cmd.extend(base.iter().map(String::as_str));
    cmd.extend([
        "--publishers",
        "1",
        "--subscribers",
        "1",
        "--count",
        "200",
        "-q",
        "1",
        "--payload-size",
        "32",
    ]);
    let out = tern(&cmd);
    assert_ok(&out);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("sent:      200 messages"), "{stdout}");
    assert!(stdout.contains("received:  200 messages"), "{stdout}");
    assert!(
        stdout.contains("delivery:  expected 200, lost 0, duplicated 0"),
        "{stdout}"
    );
    let latency = stdout.lines().find(|l| l.starts_with("latency:")).unwrap();
    for p in ["p50", "p90", "p99", "max"] {
        assert!(latency.contains(p), "{latency}");
    }

    // Two of each, QoS 0, with a rate limit: every subscriber gets every publisher's messages.
    let mut cmd = vec!["bench"];
    cmd.extend(base.iter().map(String::as_str));
    cmd.extend([
        "--publishers",
        "2",
        "--subscribers",
        "2",
        "--count",
        "50",
        "--rate",
        "500",
    ]);
    let out = tern(&cmd);
    assert_ok(&out);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("sent:      100 messages"), "{stdout}");
    assert!(stdout.contains("expected 200,"), "{stdout}");
}

#[test]
fn tls_mutual_tls_and_credentials() {
    let broker = Broker::start(BrokerOptions::listeners(&[
        Listener::Tls,
        Listener::MutualTls,
        Listener::Auth,
    ]));
    let ca = broker.ca_path().to_str().unwrap().to_owned();
    let cert = broker.client_cert_path().to_str().unwrap().to_owned();
    let key = broker.client_key_path().to_str().unwrap().to_owned();
    let tls = at(&broker, Listener::Tls);
    let mtls = at(&broker, Listener::MutualTls);

    // Mutual TLS publish, TLS subscribe (--cafile implies mqtts).
    let out = run(
        "pub",
        &mtls,
        &[
            "-t",
            "tern/cli/tls",
            "-m",
            "secure",
            "-r",
            "-q",
            "1",
            "--cafile",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
        ],
    );
    assert_ok(&out);
    let out = run(
        "sub",
        &tls,
        &["-t", "tern/cli/tls", "-C", "1", "-W", "10", "--cafile", &ca],
    );
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "secure\n");

    // The same through --url.
    let url = format!("mqtts://localhost:{}", broker.port(Listener::Tls));
    let out = tern(&[
        "sub",
        "--url",
        &url,
        "-t",
        "tern/cli/tls",
        "-C",
        "1",
        "-W",
        "10",
        "--cafile",
        &ca,
    ]);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "secure\n");

    // --insecure works without the CA, with a one-line warning.
    let out = run(
        "sub",
        &tls,
        &["-t", "tern/cli/tls", "-C", "1", "-W", "10", "--insecure"],
    );
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "secure\n");
    assert!(one_error_line(&out).contains("warning: --insecure"));

    // An untrusted CA fails in one line.
    let other = broker.other_ca_path().to_str().unwrap().to_owned();
    let out = run("pub", &tls, &["-t", "x", "-m", "y", "--cafile", &other]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert!(
        line.contains("cannot connect to 127.0.0.1:") && line.contains("unknown CA"),
        "{line}"
    );

    // Credentials: good ones work, bad ones are refused in one line.
    let auth = at(&broker, Listener::Auth);
    let out = run(
        "pub",
        &auth,
        &[
            "-t", "test/cli", "-m", "x", "-q", "1", "-u", "user1", "-P", "pass1",
        ],
    );
    assert_ok(&out);
    let out = run(
        "pub",
        &auth,
        &["-t", "test/cli", "-m", "x", "-u", "user1", "-P", "wrong"],
    );
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert!(line.contains("refused the connection"), "{line}");

    // v5: a publish the ACL denies is refused in its PUBACK: exit 1.
    let out = run(
        "pub",
        &auth,
        &[
            "-t", "test/cli", "-m", "x", "-q", "1", "-u", "user2", "-P", "pass2",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert!(
        line.contains("publish to test/cli failed") && line.contains("0x87"),
        "{line}"
    );
}

#[test]
fn will_is_published_when_the_connection_drops() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    assert_ok(&run(
        "pub",
        &base,
        &["-t", "tern/cli/ready", "-m", "ready", "-r", "-q", "1"],
    ));
    // A subscriber with a will: once it prints the retained message it is
    // connected and subscribed; then it dies without a DISCONNECT.
    let mut child = Command::new(TERN)
        .arg("sub")
        .args(&base)
        .args([
            "-t",
            "tern/cli/ready",
            "--will-topic",
            "tern/cli/will",
            "--will-payload",
            "gone",
        ])
        .args(["--will-retain", "--will-qos", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert_eq!(first, "ready\n");
    child.kill().unwrap();
    child.wait().unwrap();
    // Live or retained, the will arrives.
    let out = run(
        "sub",
        &base,
        &[
            "-t",
            "tern/cli/will",
            "-C",
            "1",
            "-W",
            "10",
            "-v",
            "-q",
            "1",
        ],
    );
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "tern/cli/will gone\n");
}
