//! Transports against real peers: WebSocket (plain and TLS) through
//! amqtt's WebSocket listener, re-framed WebSocket through an in-test
//! server, a Unix socket to mosquitto, and an HTTP CONNECT proxy.

#[path = "support/amqtt.rs"]
mod amqtt;
#[path = "support/connect_proxy.rs"]
mod connect_proxy;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use amqtt::Amqtt;
use bytes::Bytes;
use connect_proxy::ConnectProxy;
use mosquitto::certs::TestPki;
use mosquitto::{Broker, BrokerOptions, Listener};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tern_mqtt::client::Subscription;
use tern_mqtt::codec::{ProtocolVersion, QoS};
use tern_mqtt::{Client, ConnectOptions, Error};

const WAIT: Duration = Duration::from_secs(10);

async fn next(sub: &mut Subscription) -> tern_mqtt::client::Message {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("a message within the wait")
        .expect("stream open")
}

/// Subscribes at QoS 0, 1 and 2 (one topic each: amqtt delivers at the
/// subscription's QoS, not the smaller of the two), then publishes at the
/// same QoS and receives each message back.
async fn qos_round_trips(opts: ConnectOptions, topic: &str) {
    let client = tokio::time::timeout(WAIT, Client::connect(opts.connect_timeout(WAIT)))
        .await
        .expect("connect within the wait")
        .expect("connected");
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let t = format!("{topic}/{}", qos as u8);
        let mut sub = client.subscribe(&t, qos).await.unwrap();
        let outcome = client
            .publish(&t, format!("payload {qos:?}"), qos, false)
            .await
            .unwrap();
        assert!(outcome.reason_code.is_success());
        let m = next(&mut sub).await;
        assert_eq!((m.topic.as_str(), m.qos), (t.as_str(), qos));
        assert_eq!(m.payload, Bytes::from(format!("payload {qos:?}")));
    }
    client.disconnect().await.unwrap();
}

fn v311(url: &str) -> ConnectOptions {
    ConnectOptions::new(url)
        .unwrap()
        .version(ProtocolVersion::V311)
}

#[tokio::test]
async fn ws_qos_0_1_2_round_trips_through_amqtt() {
    let broker = Amqtt::start(None);
    let url = format!("ws://127.0.0.1:{}/mqtt", broker.ws_port);
    qos_round_trips(v311(&url).client_id("ws-plain"), "ws/plain").await;
}

#[tokio::test]
async fn wss_qos_0_1_2_round_trips_through_amqtt_with_the_mqtts_tls_settings() {
    let pki = TestPki::generate();
    let broker = Amqtt::start(Some((&pki.server.cert_pem, &pki.server.key_pem)));
    let url = format!("wss://localhost:{}/mqtt", broker.wss_port.unwrap());
    let opts = v311(&url)
        .client_id("ws-tls")
        .ca_pem(pki.ca.cert_pem().as_bytes().to_vec());
    qos_round_trips(opts, "ws/tls").await;

    // The same TLS checks as mqtts://: a CA we do not trust is refused.
    let untrusted = v311(&url).ca_pem(pki.other_ca.cert_pem().as_bytes().to_vec());
    let err = Client::connect(untrusted.reconnect(no_retry()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(tern_mqtt::transport::TlsError::UnknownCa)),
        "{err:?}"
    );
}

fn no_retry() -> tern_mqtt::client::ReconnectOptions {
    tern_mqtt::client::ReconnectOptions {
        enabled: false,
        ..Default::default()
    }
}

#[tokio::test]
async fn wss_through_an_authenticating_connect_proxy() {
    let pki = TestPki::generate();
    let broker = Amqtt::start(Some((&pki.server.cert_pem, &pki.server.key_pem)));
    let proxy = ConnectProxy::start(Some("alice:s3cret")).await;
    let port = broker.wss_port.unwrap();
    let opts = v311(&format!("wss://localhost:{port}/mqtt"))
        .client_id("wss-proxy")
        .ca_pem(pki.ca.cert_pem().as_bytes().to_vec())
        .proxy(&proxy.url("alice:s3cret"))
        .unwrap();
    qos_round_trips(opts, "ws/proxy").await;
    assert_eq!(
        *proxy.tunnels.lock().unwrap(),
        [format!("localhost:{port}")]
    );
}

#[tokio::test]
async fn mqtt_and_mqtts_through_an_authenticating_connect_proxy() {
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::Plain, Listener::Tls]));
    let proxy = ConnectProxy::start(Some("alice:s3cret")).await;
    let plain = broker.port(Listener::Plain);
    let tls = broker.port(Listener::Tls);
    let opts = ConnectOptions::new(&format!("mqtt://127.0.0.1:{plain}"))
        .unwrap()
        .client_id("proxy-plain")
        .proxy(&proxy.url("alice:s3cret"))
        .unwrap();
    assert!(format!("{opts:?}").contains("via proxy http://127.0.0.1"));
    assert!(!format!("{opts:?}").contains("s3cret"), "{opts:?}");
    qos_round_trips(opts, "proxy/plain").await;
    let opts = ConnectOptions::new(&format!("mqtts://localhost:{tls}"))
        .unwrap()
        .client_id("proxy-tls")
        .ca_file(broker.ca_path())
        .proxy(&proxy.url("alice:s3cret"))
        .unwrap();
    qos_round_trips(opts, "proxy/tls").await;
    assert_eq!(
        *proxy.tunnels.lock().unwrap(),
        [format!("127.0.0.1:{plain}"), format!("localhost:{tls}")]
    );
}

#[tokio::test]
async fn a_refusing_proxy_names_itself_the_target_and_its_status_line() {
    let proxy = ConnectProxy::start(Some("alice:s3cret")).await;
    let opts = ConnectOptions::new("mqtt://broker.invalid:1883")
        .unwrap()
        .proxy(&proxy.url("alice:wrong-hunter2"))
        .unwrap()
        .reconnect(no_retry());
    let err = Client::connect(opts).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, Error::Proxy { .. }), "{text}");
    assert!(text.contains(&format!("http://{}", proxy.addr)), "{text}");
    assert!(text.contains("broker.invalid:1883"), "{text}");
    assert!(text.contains("407 Proxy Authentication Required"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(proxy.tunnels.lock().unwrap().is_empty());
}

#[tokio::test]
async fn connector_errors_name_what_they_tried() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    for (url, needle) in [
        (
            format!("mqtt://127.0.0.1:{port}"),
            format!("127.0.0.1:{port}"),
        ),
        (
            format!("ws://127.0.0.1:{port}/mqtt?token=secret"),
            format!("ws://127.0.0.1:{port}/mqtt"),
        ),
        (
            "unix:///nonexistent/tern.sock".to_owned(),
            "unix:///nonexistent/tern.sock".to_owned(),
        ),
    ] {
        let opts = ConnectOptions::new(&url).unwrap().reconnect(no_retry());
        let err = Client::connect(opts).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Io(_)), "{text}");
        assert!(text.contains(&needle), "{text} should name {needle}");
        assert!(!text.contains("secret"), "{text}");
    }
}

#[tokio::test]
async fn unix_socket_to_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mosquitto.sock");
    let broker = Broker::start(
        BrokerOptions::plain()
            .global(&format!("listener 0 {}", socket.display()))
            .global("allow_anonymous true"),
    );
    // mosquitto logs "running" once every listener is open.
    assert!(
        broker.wait_for_log(" running", WAIT) && socket.exists(),
        "the Unix socket listener: {}",
        broker.log()
    );
    let url = format!("unix://{}", socket.display());
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let opts = ConnectOptions::new(&url)
            .unwrap()
            .version(v)
            .client_id(&format!("unix-{v:?}"));
        assert!(format!("{opts:?}").contains(&url));
        qos_round_trips(opts, &format!("unix/{v:?}")).await;
    }
}

/// What the re-framing server saw and did.
#[derive(Default, Debug)]
struct Reframed {
    /// Frames that ended inside an MQTT packet (a packet split across frames).
    split_packets: usize,
    /// The most MQTT packets that started in one frame.
    most_packets_in_a_frame: usize,
    pings_sent: usize,
}

/// Tracks MQTT packet boundaries in a byte stream cut into frames.
#[derive(Default)]
struct PacketCursor {
    /// Bytes of the current packet's fixed header seen so far.
    header: Vec<u8>,
    /// Bytes of the current packet's body still to come.
    body_left: usize,
}

impl PacketCursor {
    /// Feeds one frame; returns (packets started in it, whether it ended
    /// inside a packet).
    fn frame(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut started = 0;
        for &b in bytes {
            if self.body_left > 0 {
                self.body_left -= 1;
                continue;
            }
            if self.header.is_empty() {
                started += 1;
            }
            self.header.push(b);
            // The remaining length: up to four bytes after the first, each
            // with a continuation bit.
            if self.header.len() >= 2 && b & 0x80 == 0 {
                let mut len = 0usize;
                for (i, x) in self.header[1..].iter().enumerate() {
                    len |= usize::from(x & 0x7F) << (7 * i);
                }
                self.header.clear();
                self.body_left = len;
            }
        }
        (started, self.body_left > 0 || !self.header.is_empty())
    }
}

/// A WebSocket server that checks the `mqtt` subprotocol and the
/// `x-api-key` header, relays to `upstream` over TCP, and re-frames what
/// comes back: bytes gathered for a few milliseconds (so that several
/// packets share a frame), then cut into frames of 1, 2, 3, 64 and 4096
/// bytes in turn (so that packets span frames), with a ping every few
/// frames.
#[allow(clippy::result_large_err)] // tungstenite's callback signature
async fn reframing_server(
    upstream: u16,
    stats: Arc<Mutex<Reframed>>,
) -> (u16, tokio::task::JoinHandle<()>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    use tokio_tungstenite::tungstenite::Message;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let stats = Arc::clone(&stats);
            tokio::spawn(async move {
                let check =
                    |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
                        let h = req.headers();
                        let protocol_ok = h
                            .get("sec-websocket-protocol")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.split(',').any(|p| p.trim() == "mqtt"));
                        let key_ok = h.get("x-api-key").is_some_and(|v| v == "k3y-value");
                        if !(protocol_ok && key_ok) {
                            let mut refuse = ErrorResponse::new(Some("missing mqtt or key".into()));
                            *refuse.status_mut() = 403.try_into().unwrap();
                            return Err(refuse);
                        }
                        resp.headers_mut()
                            .insert("sec-websocket-protocol", "mqtt".parse().unwrap());
                        Ok(resp)
                    };
                let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else {
                    return;
                };
                let (mut ws_tx, mut ws_rx) = ws.split();
                let broker = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                    .await
                    .unwrap();
                let (mut b_rx, mut b_tx) = broker.into_split();
                let up = async move {
                    while let Some(Ok(msg)) = ws_rx.next().await {
                        match msg {
                            Message::Binary(b) if b_tx.write_all(&b).await.is_err() => break,
                            Message::Close(_) => break,
                            _ => {}
                        }
                    }
                    let _ = b_tx.shutdown().await;
                };
                let down = async move {
                    let sizes = [1usize, 2, 3, 64, 4096];
                    let (mut turn, mut frames) = (0, 0usize);
                    let mut cursor = PacketCursor::default();
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n @ 1..) = b_rx.read(&mut buf).await {
                        let mut data = buf[..n].to_vec();
                        // Gather what follows closely.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        let mut more = vec![0u8; 65536];
                        while let Ok(Ok(m)) =
                            tokio::time::timeout(Duration::from_millis(1), b_rx.read(&mut more))
                                .await
                        {
                            if m == 0 {
                                break;
                            }
                            data.extend_from_slice(&more[..m]);
                        }
                        let mut rest = &data[..];
                        while !rest.is_empty() {
                            let take = sizes[turn % sizes.len()].min(rest.len());
                            turn += 1;
                            let (frame, tail) = rest.split_at(take);
                            rest = tail;
                            let (started, split) = cursor.frame(frame);
                            {
                                let mut s = stats.lock().unwrap();
                                s.split_packets += usize::from(split);
                                s.most_packets_in_a_frame = s.most_packets_in_a_frame.max(started);
                            }
                            if ws_tx
                                .send(Message::Binary(Bytes::copy_from_slice(frame)))
                                .await
                                .is_err()
                            {
                                return;
                            }
                            frames += 1;
                            if frames % 7 == 0 {
                                let _ = ws_tx.send(Message::Ping(Bytes::from_static(b"p"))).await;
                                stats.lock().unwrap().pings_sent += 1;
                            }
                        }
                    }
                    let _ = ws_tx.send(Message::Close(None)).await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn packets_split_across_websocket_frames_and_sharing_one_frame() {
    let broker = Broker::start(BrokerOptions::plain());
    let stats = Arc::new(Mutex::new(Reframed::default()));
    let (port, server) = reframing_server(broker.port(Listener::Plain), Arc::clone(&stats)).await;
    let url = format!("ws://127.0.0.1:{port}/mqtt");

    // Without the header the server refuses the upgrade, and the error says so.
    let err = Client::connect(ConnectOptions::new(&url).unwrap().reconnect(no_retry()))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::WebSocket { .. }), "{text}");
    assert!(text.contains("403") && text.contains(&url), "{text}");

    let opts = ConnectOptions::new(&url)
        .unwrap()
        .client_id("reframed")
        .ws_header("x-api-key", "k3y-value");
    assert!(!format!("{opts:?}").contains("k3y-value"));
    let client = Client::connect(opts).await.unwrap();
    let mut sub = client
        .subscribe("frames/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    // A burst: the broker sends these back to back, the server packs
    // several into one frame and cuts others into pieces.
    let payload = |i: usize| Bytes::from(format!("message {i} {}", "x".repeat(i * 7)));
    let publishes = (0..40).map(|i| {
        let client = client.clone();
        async move {
            client
                .publish(&format!("frames/{i}"), payload(i), QoS::AtLeastOnce, false)
                .await
                .unwrap()
        }
    });
    for outcome in futures_util::future::join_all(publishes).await {
        assert!(outcome.reason_code.is_success());
    }
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..40 {
        let m = next(&mut sub).await;
        seen.insert(m.topic.as_str().to_owned(), m.payload);
    }
    for i in 0..40 {
        assert_eq!(seen.get(&format!("frames/{i}")), Some(&payload(i)), "{i}");
    }
    client.disconnect().await.unwrap();
    let stats = stats.lock().unwrap();
    assert!(stats.split_packets > 10, "{stats:?}");
    assert!(stats.most_packets_in_a_frame >= 2, "{stats:?}");
    assert!(stats.pings_sent > 0, "{stats:?}");
    server.abort();
}
