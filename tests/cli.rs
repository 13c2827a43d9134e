//! The `tern` binary against a real mosquitto: pub/sub round trips (plain,
//! TLS, mutual TLS, credentials), JSON output, v5 properties, bench, and
//! one-line errors with the right exit codes.

#[path = "support/connect_proxy.rs"]
mod connect_proxy;
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
            "-V",
            "5",
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
            "-V",
            "5",
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
            "-V",
            "5",
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

    // --insecure, as mosquitto's, skips only the host-name check: a
    // certificate of the trusted CA for another name passes with it and
    // fails without it; an untrusted certificate still fails.
    let wrong_name = [
        "-C",
        "1",
        "-W",
        "10",
        "--cafile",
        &ca,
        "--tls-server-name",
        "wrong.example",
    ];
    let out = run(
        "sub",
        &tls,
        &[&["-t", "tern/cli/tls"][..], &wrong_name].concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = run(
        "sub",
        &tls,
        &[&["-t", "tern/cli/tls", "--insecure"][..], &wrong_name].concat(),
    );
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "secure\n");
    let other = broker.other_ca_path().to_str().unwrap().to_owned();
    let out = run(
        "pub",
        &tls,
        &["-t", "x", "-m", "y", "--insecure", "--cafile", &other],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // An untrusted CA fails in one line.
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
            "-t", "test/cli", "-m", "x", "-q", "1", "-u", "user2", "-P", "pass2", "-V", "5",
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

// ---- mosquitto_pub / mosquitto_sub options, checked at a peer or on the wire ----

/// Runs a mosquitto client tool (`mosquitto_pub`, `mosquitto_sub`).
fn mosq(tool: &str, broker: &Broker, args: &[&str]) -> Output {
    let port = broker.port(Listener::Plain).to_string();
    Command::new(mosquitto::client_tool(tool))
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run a mosquitto client")
}

/// Runs tern with `input` on stdin.
fn tern_with_stdin(args: &[String], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(TERN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tern");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// `SUB -h 127.0.0.1 -p PORT REST..` as owned strings.
fn line(sub: &str, broker: &Broker, rest: &[&str]) -> Vec<String> {
    let mut all = vec![sub.to_owned()];
    all.extend(at(broker, Listener::Plain));
    all.extend(rest.iter().map(|s| (*s).to_owned()));
    all
}

#[test]
fn retain_null_message_stdin_and_repeat_reach_mosquitto_sub() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    // -r: a later mosquitto_sub gets it as retained (-v prints the topic).
    assert_ok(&run("pub", &base, &["-t", "r/1", "-m", "kept", "-r"]));
    let out = mosq(
        "mosquitto_sub",
        &broker,
        &["-t", "r/1", "-C", "1", "-W", "5", "-F", "%r %t %p"],
    );
    assert_eq!(text(&out.stdout), "1 r/1 kept\n");
    // -n -r: the null message clears it; mosquitto_sub then times out (27).
    assert_ok(&run("pub", &base, &["-t", "r/1", "-n", "-r"]));
    let out = mosq(
        "mosquitto_sub",
        &broker,
        &["-t", "r/1", "-C", "1", "-W", "1"],
    );
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(27), String::new())
    );
    // -s: the whole of stdin, newlines included, is one message.
    let out = tern_with_stdin(
        &line("pub", &broker, &["-t", "r/s", "-s", "-r"]),
        b"one\ntwo\n",
    );
    assert_ok(&out);
    let out = mosq(
        "mosquitto_sub",
        &broker,
        &["-t", "r/s", "-C", "1", "-W", "5", "-N"],
    );
    assert_eq!(text(&out.stdout), "one\ntwo\n");
    // --repeat 3 --repeat-delay 0.1: three messages, at least 0.2 s apart in all.
    let port = broker.port(Listener::Plain).to_string();
    let peer = Command::new(mosquitto::client_tool("mosquitto_sub"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "r/rep",
            "-C",
            "3",
            "-W",
            "10",
            "-i",
            "rep-peer",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(broker.wait_for_log("rep-peer 0 r/rep", Duration::from_secs(5)));
    let started = std::time::Instant::now();
    let out = run(
        "pub",
        &base,
        &[
            "-t",
            "r/rep",
            "-m",
            "again",
            "--repeat",
            "3",
            "--repeat-delay",
            "0.1",
        ],
    );
    assert_ok(&out);
    assert!(started.elapsed() >= Duration::from_millis(200));
    let got = peer.wait_with_output().unwrap();
    assert_eq!(text(&got.stdout), "again\nagain\nagain\n");
}

#[test]
fn persistent_session_with_c_and_x_keeps_messages_across_connections() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    for (id, persistent) in [("kept-5", true), ("clean-5", false)] {
        let mut args = vec!["-V", "5", "-i", id, "-t", "s/1", "-q", "1", "-x", "60"];
        if persistent {
            args.push("-c");
        }
        let out = run("sub", &base, &[&args[..], &["-E", "-d"]].concat());
        assert_ok(&out);
        // The CONNECT said so on the wire: clean start 0 or 1, expiry 60.
        let trace = text(&out.stderr);
        let flag = if persistent { "c0" } else { "c1" };
        assert!(
            trace.contains(&format!("sending CONNECT (v5, {flag}, k60, '{id}')")),
            "{trace}"
        );
        assert!(trace.contains("session_expiry=60"), "{trace}");
        assert_ok(&mosq(
            "mosquitto_pub",
            &broker,
            &["-t", "s/1", "-q", "1", "-m", id],
        ));
        let out = run("sub", &base, &[&args[..], &["-C", "1", "-W", "1"]].concat());
        if persistent {
            assert_ok(&out);
            assert_eq!(text(&out.stdout), "kept-5\n");
        } else {
            assert_eq!(
                out.status.code(),
                Some(27),
                "a clean session has nothing queued"
            );
        }
    }
    // 3.1.1: -c alone is Clean Session 0; -c needs an id; -x needs v5.
    let out = run("sub", &base, &["-c", "-t", "s/1", "-E"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_error_line(&out).contains("-c needs a client id"));
    let out = run("sub", &base, &["-x", "5", "-t", "s/1", "-E"]);
    assert!(one_error_line(&out).contains("-x needs MQTT 5"));
    let out = run(
        "sub",
        &base,
        &["-c", "-i", "kept-3", "-t", "s/3", "-q", "1", "-E", "-d"],
    );
    assert!(text(&out.stderr).contains("sending CONNECT (v3.1.1, c0, k60, 'kept-3')"));
}

#[test]
fn store_keeps_the_session_and_its_generated_id_across_runs() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("sub-store");
    let store = store.to_str().expect("utf-8 temp path");
    let args = ["-V", "5", "--store", store, "-t", "st/1", "-q", "1"];
    // First run: no -i; the store keeps the id it was given, -c is implied.
    let out = run("sub", &base, &[&args[..], &["-E", "-d"]].concat());
    assert_ok(&out);
    let first = text(&out.stderr);
    assert!(first.contains("sending CONNECT (v5, c0"), "{first}");
    // Sent while nobody is connected: the broker queues it for the session.
    assert_ok(&mosq(
        "mosquitto_pub",
        &broker,
        &["-t", "st/1", "-q", "1", "-m", "queued"],
    ));
    let out = run(
        "sub",
        &base,
        &[&args[..], &["-C", "1", "-W", "5", "-d"]].concat(),
    );
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "queued\n");
    // The same client id both times: the one the store was first used with.
    let id_of = |trace: &str| {
        trace
            .lines()
            .find(|l| l.contains("sending CONNECT"))
            .and_then(|l| l.split('\'').nth(1))
            .map(str::to_owned)
    };
    let second = text(&out.stderr);
    assert!(id_of(&first).is_some(), "{first}");
    assert_eq!(id_of(&first), id_of(&second), "{second}");
    // A bench opens many connections; one store cannot serve them.
    let out = run("bench", &base, &["--store", store, "--count", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_error_line(&out).contains("--store is for pub and sub"));
}

#[test]
fn format_strings_match_mosquitto_sub() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let props = [
        "-V",
        "5",
        "-t",
        "f/1",
        "-m",
        "{\"a\":1}",
        "-r",
        "-q",
        "1",
        "-D",
        "publish",
        "content-type",
        "app/json",
        "-D",
        "publish",
        "user-property",
        "k",
        "v",
        "-D",
        "publish",
        "message-expiry-interval",
        "300",
        "-D",
        "publish",
        "response-topic",
        "f/reply",
        "-D",
        "publish",
        "correlation-data",
        "c0rr",
    ];
    assert_ok(&run("pub", &base, &props));
    let fmt = r"%t|%p|%q|%r|%l|%x|%X|%C|%P|%R|%D|%F|%%|@@|\t|@Y";
    let ours = run(
        "sub",
        &base,
        &[
            "-V", "5", "-t", "f/#", "-C", "1", "-W", "5", "-F", fmt, "-N",
        ],
    );
    assert_ok(&ours);
    let theirs = mosq(
        "mosquitto_sub",
        &broker,
        &[
            "-V", "5", "-t", "f/#", "-C", "1", "-W", "5", "-F", fmt, "-N",
        ],
    );
    // The same line but for @Y, which both print in this year.
    assert_eq!(text(&ours.stdout), text(&theirs.stdout));
    let printed = text(&ours.stdout);
    assert!(
        printed.starts_with(
            "f/1|{\"a\":1}|0|1|7|7b2261223a317d|7B2261223A317D|app/json|k:v|f/reply|c0rr||%|@|\t|"
        ),
        "{printed}"
    );
    // %j and %J: mosquitto's JSON, but for the receive time.
    for code in ["%j", "%J"] {
        // Without the receive time, and the expiry left (it counts down
        // while the message is retained, so two reads may differ by 1).
        let strip = |o: &Output| {
            let t = text(&o.stdout);
            let t = t
                .split_once(",\"topic\"")
                .map(|(_, rest)| rest.to_owned())
                .unwrap_or(t);
            let key = "\"message-expiry-interval\":";
            match t.split_once(key) {
                Some((head, tail)) => {
                    format!(
                        "{head}{key}{}",
                        tail.trim_start_matches(|c: char| c.is_ascii_digit())
                    )
                }
                None => t,
            }
        };
        let args = ["-V", "5", "-t", "f/#", "-C", "1", "-W", "5", "-F", code];
        let ours = run("sub", &base, &args);
        let theirs = mosq("mosquitto_sub", &broker, &args);
        assert_eq!(strip(&ours), strip(&theirs), "{code}");
    }
    // Codes tern cannot fill are refused, not printed empty.
    let out = run("sub", &base, &["-t", "f/#", "-F", "%m"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_error_line(&out).contains("%m is refused"));
}

#[test]
fn timeout_exits_27_like_mosquitto_and_quiet_silences_it() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let out = run("sub", &base, &["-t", "nothing/here", "-W", "1"]);
    assert_eq!(out.status.code(), Some(27));
    assert_eq!(one_error_line(&out), "tern: Timed out");
    let out = run("sub", &base, &["-t", "nothing/here", "-W", "1", "--quiet"]);
    assert_eq!(out.status.code(), Some(27));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn debug_trace_lists_both_directions_without_secrets() {
    let broker = Broker::start(BrokerOptions::all());
    let auth = at(&broker, Listener::Auth);
    let out = run(
        "pub",
        &auth,
        &[
            "-t", "test/cli", "-m", "hello", "-q", "1", "-u", "user1", "-P", "pass1", "-d",
            "--repeat", "2", "-M", "1",
        ],
    );
    assert_ok(&out);
    let trace = text(&out.stderr);
    let lines: Vec<&str> = trace.lines().collect();
    assert!(
        lines[0].starts_with("sending CONNECT (v3.1.1, c1, k60, 'tern-"),
        "{trace}"
    );
    assert!(lines[0].contains("u'user1', p***"), "{trace}");
    assert!(
        !trace.contains("pass1"),
        "the password is never traced: {trace}"
    );
    assert!(lines[1].starts_with("received CONNACK (sp0, "), "{trace}");
    // -M 1: one QoS 1 message in flight at a time.
    assert_eq!(
        &lines[2..6],
        [
            "sending PUBLISH (d0, q1, r0, m1, 'test/cli', 5 bytes payload) 19 bytes",
            "received PUBACK (m1, Success (0x00)) 4 bytes",
            "sending PUBLISH (d0, q1, r0, m2, 'test/cli', 5 bytes payload) 19 bytes",
            "received PUBACK (m2, Success (0x00)) 4 bytes",
        ]
    );
    assert!(lines[6].starts_with("sending DISCONNECT"), "{trace}");
}

#[test]
fn sub_message_filters_act_as_mosquitto_sub() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    for t in ["m/1", "m/2", "m/3"] {
        assert_ok(&mosq(
            "mosquitto_pub",
            &broker,
            &["-t", t, "-m", t, "-r", "-q", "1"],
        ));
    }
    let sub = |rest: &[&str]| run("sub", &base, &[&["-t", "m/#", "-v"][..], rest].concat());
    // -T filters out; -C counts only what is printed.
    let out = sub(&["-T", "m/2", "-C", "2", "-W", "5"]);
    assert_eq!(text(&out.stdout), "m/1 m/1\nm/3 m/3\n");
    // -R: retained ones are not printed: only the live one is.
    let port = broker.port(Listener::Plain).to_string();
    let live = Command::new(TERN)
        .args([
            "sub",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "m/#",
            "-R",
            "-C",
            "1",
            "-W",
            "10",
            "-i",
            "live-r",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(broker.wait_for_log("live-r 0 m/#", Duration::from_secs(5)));
    assert_ok(&mosq(
        "mosquitto_pub",
        &broker,
        &["-t", "m/live", "-m", "fresh"],
    ));
    assert_eq!(text(&live.wait_with_output().unwrap().stdout), "fresh\n");
    // --random-filter 0 prints none of them (and so times out).
    let out = sub(&["--random-filter", "0", "-C", "1", "-W", "1"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(27), String::new())
    );
    // -E exits once subscribed, before printing anything.
    let out = sub(&["-E"]);
    assert_ok(&out);
    assert!(out.stdout.is_empty());
    // --remove-retained -T m/3: clears m/1 and m/2, keeps m/3.
    let out = sub(&["--remove-retained", "-T", "m/3", "-C", "2", "-W", "5"]);
    assert_ok(&out);
    let out = mosq("mosquitto_sub", &broker, &["-t", "m/#", "-v", "-W", "1"]);
    assert_eq!(text(&out.stdout), "m/3 m/3\n");
    // --retained-only exits at the first live message, printing the retained.
    let out = sub(&["--retained-only", "-W", "1"]);
    assert_eq!(text(&out.stdout), "m/3 m/3\n");
}

#[test]
fn unsubscribe_drops_a_persistent_subscription() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let session = ["-V", "5", "-c", "-i", "unsub-me", "-q", "1"];
    let with = |rest: &[&'static str]| [&session[..], rest].concat();
    assert_ok(&run("sub", &base, &with(&["-t", "u/1", "-t", "u/2", "-E"])));
    assert_ok(&run("sub", &base, &with(&["-U", "u/1", "-E"])));
    for (topic, payload) in [("u/1", "gone"), ("u/2", "kept")] {
        assert_ok(&mosq(
            "mosquitto_pub",
            &broker,
            &["-t", topic, "-q", "1", "-m", payload],
        ));
    }
    // With -c and no -t, tern prints what the stored session delivers:
    // u/2's message, not u/1's, which was published first.
    let out = run("sub", &base, &with(&["-C", "1", "-W", "5", "-v"]));
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "u/2 kept\n");
}

#[test]
fn url_form_id_prefix_and_bind_address() {
    let broker = Broker::start(BrokerOptions::all());
    let port = broker.port(Listener::Auth);
    let url = format!("mqtt://user1:pass1@127.0.0.1:{port}/test/url");
    let mut child = Command::new(TERN)
        .args([
            "pub",
            "-L",
            &url,
            "-m",
            "via-url",
            "-r",
            "-I",
            "pfx-",
            "-A",
            "127.0.0.2",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    // -I: the prefix and the process id; -A: the connection comes from 127.0.0.2.
    let needle = "New client connected from 127.0.0.2:";
    let id = format!(" as pfx-{pid} ");
    let seen = broker.wait_for(Duration::from_secs(5), |log| {
        log.contains(needle) && log.contains(&id)
    });
    assert!(seen, "{}", broker.log());
    let out = tern(&["sub", "-L", &url, "-C", "1", "-W", "5"]);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "via-url\n");
    // -A cannot bind a Unix socket connection.
    let out = tern(&[
        "pub",
        "--unix",
        "/nonexistent",
        "-A",
        "127.0.0.1",
        "-t",
        "a",
        "-m",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_error_line(&out).contains("-A binds TCP connections"));
}

#[test]
fn unix_socket_and_refused_options() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("m.sock");
    let broker = Broker::start(
        BrokerOptions::plain()
            .global(&format!("listener 0 {}", socket.display()))
            .global("allow_anonymous true"),
    );
    assert!(broker.wait_for_log("running", Duration::from_secs(5)));
    let sock = socket.to_str().unwrap();
    assert_ok(&tern(&[
        "pub", "--unix", sock, "-t", "x/unix", "-m", "local", "-r",
    ]));
    let out = mosq(
        "mosquitto_sub",
        &broker,
        &["-t", "x/unix", "-C", "1", "-W", "5"],
    );
    assert_eq!(text(&out.stdout), "local\n");
    for (args, why) in [
        (&["--ciphers", "HIGH", "--tls"][..], "--ciphers is refused"),
        (&["--psk", "abcd", "--tls"], "no TLS-PSK"),
        (&["--tls-version", "tlsv1.1"], "TLS 1.2 and 1.3 only"),
        (&["--proxy", "socks5h://proxy.invalid"], "no SOCKS5"),
        (
            &["-V", "5", "-D", "publish", "topic-alias", "1"],
            "assigns topic aliases itself",
        ),
        (
            &[
                "-V",
                "5",
                "-D",
                "disconnect",
                "session-expiry-interval",
                "1",
            ],
            "no properties on DISCONNECT",
        ),
        (&["-V", "31"], "MQTT 3.1 is not supported"),
    ] {
        let out = tern(&[&["pub", "--unix", sock, "-t", "a", "-m", "b"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let line = one_error_line(&out);
        assert!(line.contains(why), "{args:?}: {line}");
    }
}

#[tokio::test]
async fn proxy_carries_the_connection() {
    let broker = Broker::start(BrokerOptions::plain());
    let proxy = connect_proxy::ConnectProxy::start(Some("pu:pp")).await;
    let port = broker.port(Listener::Plain).to_string();
    let out = tokio::process::Command::new(TERN)
        .args([
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "p/x",
            "-m",
            "tunnelled",
            "-r",
        ])
        .args(["--proxy", &proxy.url("pu:pp"), "--nodelay"])
        .output()
        .await
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        *proxy.tunnels.lock().unwrap(),
        [format!("127.0.0.1:{port}")]
    );
    let out = mosq(
        "mosquitto_sub",
        &broker,
        &["-t", "p/x", "-C", "1", "-W", "5"],
    );
    assert_eq!(text(&out.stdout), "tunnelled\n");
}

/// The first bytes a TLS client sends (its ClientHello) to a listener
/// that answers nothing.
fn client_hello(extra: &[&str]) -> Vec<u8> {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut child = Command::new(TERN)
        .args([
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "a",
            "-m",
            "b",
            "--connect-timeout",
            "2",
        ])
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut hello = vec![0u8; 2048];
    let n = conn.read(&mut hello).unwrap();
    hello.truncate(n);
    drop(conn);
    let _ = child.wait();
    hello
}

/// The data of extension `ty` of a ClientHello record (RFC 8446 4.1.2).
fn hello_extension(record: &[u8], ty: u16) -> Option<Vec<u8>> {
    let u16_at = |i: usize| u16::from_be_bytes([record[i], record[i + 1]]);
    // Record header 5, handshake header 4, version 2, random 32.
    let mut i = 5 + 4 + 2 + 32;
    i += 1 + usize::from(record[i]); // session id
    i += 2 + usize::from(u16_at(i)); // cipher suites
    i += 1 + usize::from(record[i]); // compression methods
    let end = i + 2 + usize::from(u16_at(i));
    i += 2;
    while i + 4 <= end {
        let len = usize::from(u16_at(i + 2));
        if u16_at(i) == ty {
            return Some(record[i + 4..i + 4 + len].to_vec());
        }
        i += 4 + len;
    }
    None
}

#[test]
fn tls_options_on_the_wire_and_against_mosquitto() {
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    // ALPN and the server-name override are in the ClientHello.
    let hello = client_hello(&[
        "--tls",
        "--tls-alpn",
        "x-tern-alpn",
        "--tls-server-name",
        "name.example",
    ]);
    assert!(contains(&hello, b"x-tern-alpn") && contains(&hello, b"name.example"));
    // --tls-version: supported_versions (43) lists only that version.
    for (version, wire) in [("tlsv1.2", [2, 3, 3]), ("tlsv1.3", [2, 3, 4])] {
        let args = [
            "--tls",
            "--tls-version",
            version,
            "--tls-server-name",
            "n.example",
        ];
        let hello = client_hello(&args);
        assert_eq!(
            hello_extension(&hello, 43),
            Some(wire.to_vec()),
            "{version}"
        );
    }
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::Plain, Listener::Tls]));
    let tls = at(&broker, Listener::Tls);
    let ca = broker.ca_path().to_str().unwrap().to_owned();
    // --capath: a directory of CA files; both TLS versions work with mosquitto.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, dir.path().join("ca.pem")).unwrap();
    let capath = dir.path().to_str().unwrap();
    for version in ["tlsv1.2", "tlsv1.3"] {
        let out = run(
            "pub",
            &tls,
            &[
                "-t",
                "t/v",
                "-m",
                version,
                "-r",
                "--capath",
                capath,
                "--tls-version",
                version,
            ],
        );
        assert_ok(&out);
    }
    let out = mosq(
        "mosquitto_sub",
        &broker,
        &["-t", "t/v", "-C", "1", "-W", "5"],
    );
    assert_eq!(text(&out.stdout), "tlsv1.3\n");
    // -A over TLS: the bound socket carries the handshake.
    let out = run(
        "pub",
        &tls,
        &[
            "-t",
            "t/a",
            "-m",
            "bound",
            "--cafile",
            &ca,
            "-A",
            "127.0.0.3",
        ],
    );
    assert_ok(&out);
    assert!(broker.wait_for_log(
        "New client connected from 127.0.0.3:",
        Duration::from_secs(5)
    ));
    // --tls-use-os-certs: the OS store does not know the test CA.
    let out = run("pub", &tls, &["-t", "t/v", "-m", "x", "--tls-use-os-certs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_error_line(&out).contains("unknown CA"));
}

#[test]
fn help_groups_options_like_mosquitto() {
    for sub in ["pub", "sub", "bench"] {
        let out = tern(&[sub, "--help"]);
        assert_ok(&out);
        let help = text(&out.stdout);
        for heading in [
            "Broker:",
            "Session:",
            "Identity:",
            "Network:",
            "Output:",
            "Will:",
            "TLS:",
            "MQTT 5 properties:",
        ] {
            assert!(help.contains(heading), "{sub}: {heading} in {help}");
        }
    }
    let help = text(&tern(&["sub", "--help"]).stdout);
    assert!(help.contains("Output format:") && help.contains("Messages:"));
}

// ---- tern bench modes ----

#[test]
fn bench_modes_together_print_json_lines_each_second() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let mut cmd = vec!["bench", "conn", "pub", "sub"];
    cmd.extend(base.iter().map(String::as_str));
    cmd.extend([
        "--connections",
        "5",
        "--ramp-up",
        "20",
        "--duration",
        "2",
        "--rate",
        "100",
    ]);
    cmd.extend(["-q", "1", "--json", "-i", "bench-json"]);
    let out = tern(&cmd);
    assert_ok(&out);
    // stdout is a pipe: one JSON object per second, then the summary.
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let (summary, ticks) = lines.split_last().unwrap();
    assert!(
        !ticks.is_empty() && ticks.iter().all(|t| t["t"].is_u64()),
        "{lines:?}"
    );
    assert_eq!(ticks[0]["connections"], 7, "{lines:?}");
    assert_eq!(summary["connect"]["connected"], 7);
    // Seven connections, one ramp-up slot (20 ms) apart: at least 120 ms.
    assert!(
        summary["connect"]["seconds"].as_f64().unwrap() >= 0.12,
        "{summary}"
    );
    let sent = summary["sent"]["messages"].as_u64().unwrap();
    assert!((150..=200).contains(&sent), "{summary}");
    assert_eq!(summary["received"]["messages"], sent);
    assert_eq!(summary["sent"]["counted"], "acknowledged");
    assert_eq!(summary["received"]["lost"], 0);
    assert!(summary["received"]["latency_ms"]["p99"].is_f64());
    // The idle connections are there at the broker, by their ids.
    assert_eq!(broker.connections_from("bench-json-conn-4"), 1);
}

#[test]
fn bench_pub_and_sub_alone_with_templates_retain_and_bind_address() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let port = broker.port(Listener::Plain).to_string();
    // A sub-only bench in one process, a pub-only bench in another.
    let sub = Command::new(TERN)
        .args([
            "bench",
            "sub",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "--duration",
            "2",
        ])
        .args(["--sub-topic", "tb/+/+", "-i", "tb-sub", "-V", "311"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(broker.wait_for_log("tb-sub-sub-0 0 tb/+/+", Duration::from_secs(5)));
    let mut cmd = vec!["bench", "pub"];
    cmd.extend(base.iter().map(String::as_str));
    cmd.extend([
        "-t",
        "tb/%c/%i",
        "-i",
        "tb",
        "--publishers",
        "2",
        "--count",
        "20",
        "-r",
    ]);
    cmd.extend(["-A", "127.0.0.2"]);
    let out = tern(&cmd);
    assert_ok(&out);
    // QoS 0 counts as sent once its bytes left through the socket.
    assert!(
        text(&out.stdout).contains("sent:      40 messages")
            && text(&out.stdout).contains("(socket)"),
        "{}",
        text(&out.stdout)
    );
    let got = text(&sub.wait_with_output().unwrap().stdout);
    assert!(got.contains("received:  40 messages"), "{got}");
    assert!(got.contains("delivery:  lost 0, duplicated 0"), "{got}");
    // %c and %i in the topic, -r retained, -A the source address.
    let out = mosq(
        "mosquitto_sub",
        &broker,
        &["-t", "tb/tb-pub-1/1", "-C", "1", "-W", "5", "-F", "%r %l"],
    );
    assert_eq!(text(&out.stdout), "1 64\n");
    assert!(broker.wait_for_log(
        "New client connected from 127.0.0.2:",
        Duration::from_secs(5)
    ));
}

#[test]
fn client_certificates_in_der_and_pkcs12() {
    let broker = Broker::start(BrokerOptions::listeners(&[
        Listener::Plain,
        Listener::MutualTls,
    ]));
    let mtls = at(&broker, Listener::MutualTls);
    let ca = broker.ca_path().to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let leaf = broker.client_cert();
    let (der, key) = (
        dir.path().join("client.der"),
        dir.path().join("client.key.der"),
    );
    std::fs::write(&der, &leaf.cert_der).unwrap();
    std::fs::write(&key, &leaf.key_der).unwrap();
    let p12 = dir.path().join("client.p12");
    std::fs::write(
        &p12,
        mosquitto::certs::pkcs12(leaf, &broker.pki().ca, "p12-pass"),
    )
    .unwrap();
    let (der, key, p12) = (
        der.to_str().unwrap(),
        key.to_str().unwrap(),
        p12.to_str().unwrap(),
    );
    for (name, cert) in [
        ("der", &["--cert", der, "--key", key][..]),
        ("p12", &["--cert", p12, "--key-password", "p12-pass"]),
    ] {
        let args = [
            &["-t", "c/fmt", "-m", name, "-r", "--cafile", &ca][..],
            cert,
        ]
        .concat();
        assert_ok(&run("pub", &mtls, &args));
        let out = mosq(
            "mosquitto_sub",
            &broker,
            &["-t", "c/fmt", "-C", "1", "-W", "5"],
        );
        assert_eq!(text(&out.stdout), format!("{name}\n"));
    }
    // A PEM certificate without its key is a usage error.
    let pem = broker.client_cert_path().to_str().unwrap().to_owned();
    let out = run("pub", &mtls, &["-t", "c", "-m", "x", "--cert", &pem]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_error_line(&out).contains("--cert needs --key"));
}

#[test]
fn connect_will_and_subscribe_properties_by_d_are_on_the_wire() {
    let broker = Broker::start(BrokerOptions::plain());
    let base = at(&broker, Listener::Plain);
    let out = run(
        "sub",
        &base,
        &[
            "-V",
            "5",
            "-t",
            "d/1",
            "-E",
            "-d",
            "--will-topic",
            "d/will",
            "-D",
            "connect",
            "user-property",
            "site",
            "north",
            "-D",
            "connect",
            "receive-maximum",
            "7",
            "-D",
            "will",
            "will-delay-interval",
            "9",
            "-D",
            "subscribe",
            "subscription-identifier",
            "42",
        ],
    );
    assert_ok(&out);
    let trace = text(&out.stderr);
    let connect = trace
        .lines()
        .find(|l| l.starts_with("sending CONNECT"))
        .unwrap();
    assert!(
        connect.contains("receive_max=7") && connect.contains("user 'site'='north'"),
        "{connect}"
    );
    assert!(connect.contains("will [will_delay=9]"), "{connect}");
    let subscribe = trace
        .lines()
        .find(|l| l.starts_with("sending SUBSCRIBE"))
        .unwrap();
    assert!(subscribe.contains("subscription_id=42"), "{subscribe}");
    // -D for a packet the subcommand does not send is refused.
    let out = run(
        "sub",
        &base,
        &["-V", "5", "-t", "d/1", "-D", "publish", "content-type", "x"],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn pretty_json_matches_mosquitto_sub() {
    let broker = Broker::start(BrokerOptions::plain());
    assert_ok(&mosq(
        "mosquitto_pub",
        &broker,
        &["-t", "j/1", "-m", "plain", "-r"],
    ));
    let args = ["-t", "j/1", "-C", "1", "-W", "5", "-F", "%j", "--pretty"];
    let ours = run("sub", &at(&broker, Listener::Plain), &args);
    let theirs = mosq("mosquitto_sub", &broker, &args);
    // All but the receive time.
    let tail = |o: &Output| {
        text(&o.stdout)
            .split_once("\"topic\"")
            .map(|(_, t)| t.to_owned())
    };
    assert!(
        text(&ours.stdout).starts_with("{\n\t\"tst\":\t\""),
        "{}",
        text(&ours.stdout)
    );
    assert_eq!(tail(&ours), tail(&theirs));
    assert!(tail(&ours).is_some());
}

#[test]
fn websocket_url_reaches_mosquitto() {
    let port = closed_port();
    let broker = Broker::start(
        BrokerOptions::plain()
            .global(&format!("listener {port} 127.0.0.1"))
            .global("protocol websockets")
            .global("allow_anonymous true"),
    );
    assert!(broker.wait_for_log("running", Duration::from_secs(5)));
    let url = format!("ws://127.0.0.1:{port}/");
    assert_ok(&tern(&[
        "pub", "-L", &url, "-t", "w/1", "-m", "over ws", "-r", "-d",
    ]));
    let out = mosq(
        "mosquitto_sub",
        &broker,
        &["-t", "w/1", "-C", "1", "-W", "5"],
    );
    assert_eq!(text(&out.stdout), "over ws\n");
}
