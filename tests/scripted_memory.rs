//! Self-tests of the test support: the scripted broker over an in-memory
//! duplex pair on paused time (and over TCP, as the hostile-broker tests use
//! it), and the mosquitto log helpers.
//!
//! The client cannot take a `Connector` yet, so these tests play the client
//! by hand: connect through the `MemoryConnector`, write packets encoded by
//! `tern_mqtt::codec`, and read what the scripted broker answers.

#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/scripted_broker.rs"]
mod scripted_broker;

use bytes::BytesMut;
use scripted_broker::{connack_props, Conn, MemoryConnector, ScriptedBroker, WAIT};
use std::io;
use std::time::Duration;
use tern_mqtt::codec::{
    decode, encode, Connect, ConnectProperties, MqttString, Packet, PingReq, ProtocolVersion,
};
use tern_mqtt::transport::{BoxedTransport, Connector};
use tern_mqtt::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const V5: ProtocolVersion = ProtocolVersion::V5;

fn connect_packet(client_id: &str) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol_version: V5,
        clean_start: true,
        keep_alive: 30,
        properties: ConnectProperties::default(),
        client_id: MqttString::try_from(client_id).unwrap(),
        will: None,
        username: None,
        password: None,
    }))
}

/// Writes `packet` on the client end.
async fn write(client: &mut BoxedTransport, packet: &Packet) {
    let mut out = BytesMut::new();
    encode(packet, V5, &mut out).unwrap();
    client.write_all(&out).await.unwrap();
}

/// Reads one packet on the client end, within the wait.
async fn read(client: &mut BoxedTransport) -> Packet {
    let mut buf = BytesMut::new();
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(p) = decode(&mut buf, V5, 1 << 20).unwrap() {
                return p;
            }
            assert_ne!(client.read_buf(&mut buf).await.unwrap(), 0, "EOF");
        }
    })
    .await
    .expect("a packet within the wait")
}

/// Connects through `connector`, sends CONNECT and has the broker accept it
/// and answer CONNACK; returns both ends.
async fn handshake(
    connector: &MemoryConnector,
    broker: &ScriptedBroker,
    id: &str,
) -> (BoxedTransport, Conn) {
    let mut client = connector.connect().await.expect("the connect succeeds");
    write(&mut client, &connect_packet(id)).await;
    let conn = broker.accept_with(V5, connack_props()).await;
    match read(&mut client).await {
        Packet::ConnAck(ack) => assert!(ack.reason_code.is_success()),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    (client, conn)
}

/// `expect_silence(dur)` in its own task, so that a test can watch it fail.
fn spawn_silence(mut conn: Conn, dur: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { conn.expect_silence(dur).await })
}

/// The panic message of a task that was expected to panic.
async fn panic_message(task: tokio::task::JoinHandle<()>) -> String {
    let err = task.await.expect_err("the task panics");
    let payload = err.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn refused_kind(result: Result<BoxedTransport, Error>) -> io::ErrorKind {
    match result {
        Err(Error::Io(e)) => e.kind(),
        Err(other) => panic!("expected an I/O error, got {other:?}"),
        Ok(_) => panic!("expected the connect to be refused"),
    }
}

#[tokio::test(start_paused = true)]
async fn memory_connection_carries_connect_and_connack() {
    let (connector, broker) = ScriptedBroker::in_memory();
    assert_eq!(connector.describe(), "memory");
    assert_eq!(connector.connects(), 0);
    let (mut client, mut conn) = handshake(&connector, &broker, "mem-1").await;
    assert_eq!(connector.connects(), 1);
    let connect = conn.connect.as_ref().expect("the CONNECT was kept");
    assert_eq!(connect.client_id.as_str(), "mem-1");
    assert_eq!(connect.keep_alive, 30);

    // Both directions keep working after the handshake.
    write(&mut client, &Packet::PingReq(PingReq)).await;
    assert!(matches!(conn.recv().await, Some(Packet::PingReq(_))));
    conn.send(&Packet::PingResp(tern_mqtt::codec::PingResp))
        .await;
    assert!(matches!(read(&mut client).await, Packet::PingResp(_)));
}

#[tokio::test(start_paused = true)]
async fn each_connect_is_a_new_connection_and_a_clone_shares_the_count() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let other = connector.clone();
    let (_c1, _conn1) = handshake(&connector, &broker, "first").await;
    let (_c2, conn2) = handshake(&other, &broker, "second").await;
    assert_eq!(conn2.connect.as_ref().unwrap().client_id.as_str(), "second");
    assert_eq!(connector.connects(), 2);
    assert_eq!(other.connects(), 2);
}

#[tokio::test(start_paused = true)]
async fn refused_attempts_fail_with_connection_refused_and_are_counted() {
    let (connector, broker) = ScriptedBroker::in_memory();
    connector.refuse_next(2);
    for _ in 0..2 {
        let kind = refused_kind(connector.connect().await);
        assert_eq!(kind, io::ErrorKind::ConnectionRefused);
    }
    // The refusals are used up: the third attempt connects.
    let (_client, _conn) = handshake(&connector, &broker, "third").await;

    connector.set_refusing(true);
    let kind = refused_kind(connector.connect().await);
    assert_eq!(kind, io::ErrorKind::ConnectionRefused);
    connector.set_refusing(false);
    let (_client, _conn) = handshake(&connector, &broker, "fifth").await;
    assert_eq!(connector.connects(), 5);

    // A broker that is gone refuses too.
    drop(broker);
    let kind = refused_kind(connector.connect().await);
    assert_eq!(kind, io::ErrorKind::ConnectionRefused);
    assert_eq!(connector.connects(), 6);
}

#[tokio::test(start_paused = true)]
async fn the_connect_counter_bounds_a_retry_loop_in_virtual_time() {
    // A stand-in for a reconnect loop: one attempt every 500 ms against a
    // broker that is down. 10 attempts fit in 4.75 s; on paused time this
    // takes no real time at all.
    let (connector, _broker) = ScriptedBroker::in_memory();
    connector.set_refusing(true);
    let dialer = connector.clone();
    let looping = tokio::spawn(async move {
        loop {
            assert!(dialer.connect().await.is_err());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let start = Instant::now();
    tokio::time::sleep(Duration::from_millis(4750)).await;
    assert_eq!(connector.connects(), 10);
    assert!(start.elapsed() >= Duration::from_millis(4750));
    looping.abort();
}

#[tokio::test(start_paused = true)]
async fn expect_silence_passes_when_the_client_says_nothing() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (mut client, mut conn) = handshake(&connector, &broker, "quiet").await;
    let start = Instant::now();
    conn.expect_silence(Duration::from_secs(60)).await;
    assert!(
        start.elapsed() >= Duration::from_secs(60),
        "the clock moved"
    );
    // The connection is still usable afterwards.
    write(&mut client, &Packet::PingReq(PingReq)).await;
    assert!(matches!(conn.recv().await, Some(Packet::PingReq(_))));
}

#[tokio::test(start_paused = true)]
async fn expect_silence_fails_on_a_packet_within_the_window() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (mut client, conn) = handshake(&connector, &broker, "talker").await;
    let silence = spawn_silence(conn, Duration::from_secs(60));
    tokio::time::sleep(Duration::from_secs(59)).await;
    write(&mut client, &Packet::PingReq(PingReq)).await;
    let msg = panic_message(silence).await;
    assert!(msg.contains("PingReq"), "{msg}");
}

#[tokio::test(start_paused = true)]
async fn expect_silence_fails_on_part_of_a_packet_or_on_eof() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (mut client, conn) = handshake(&connector, &broker, "partial").await;
    // Two bytes of a four-byte PUBACK.
    client.write_all(&[0x40, 0x02]).await.unwrap();
    let msg = panic_message(spawn_silence(conn, Duration::from_secs(5))).await;
    assert!(msg.contains("2 bytes of a packet"), "{msg}");

    let (client, conn) = handshake(&connector, &broker, "leaver").await;
    drop(client);
    let msg = panic_message(spawn_silence(conn, Duration::from_secs(5))).await;
    assert!(msg.contains("closed the connection"), "{msg}");
}

#[tokio::test(start_paused = true)]
async fn closed_and_is_closed_see_the_client_drop_its_end() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (mut client, mut conn) = handshake(&connector, &broker, "dropper").await;
    assert!(
        !conn.is_closed().await,
        "open while the client holds its end"
    );

    write(&mut client, &Packet::PingReq(PingReq)).await;
    // Readable bytes are not EOF, and are kept for `closed`.
    assert!(!conn.is_closed().await);
    drop(client);
    let before_eof = conn.closed().await;
    assert_eq!(before_eof.len(), 1);
    assert!(matches!(before_eof[0], Packet::PingReq(_)));
    assert!(conn.is_closed().await);
}

#[tokio::test(start_paused = true)]
async fn accept_panics_when_no_client_comes_within_the_wait() {
    let (_connector, broker) = ScriptedBroker::in_memory();
    let start = Instant::now();
    let accept = tokio::spawn(async move {
        broker.accept(V5).await;
    });
    let msg = panic_message(accept).await;
    assert!(msg.contains("connects within the wait"), "{msg}");
    assert!(start.elapsed() >= WAIT, "the bound is the (virtual) WAIT");
}

#[tokio::test]
async fn tcp_broker_still_works_through_its_url() {
    let broker = ScriptedBroker::bind().await;
    let url = broker.url();
    let addr = url.strip_prefix("mqtt://").expect("an mqtt:// URL");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut client: BoxedTransport = Box::new(tcp);
    write(&mut client, &connect_packet("tcp-1")).await;
    let conn = broker.accept_with(V5, connack_props()).await;
    assert!(matches!(read(&mut client).await, Packet::ConnAck(_)));
    let served = conn.serve();
    write(&mut client, &Packet::PingReq(PingReq)).await;
    assert!(matches!(read(&mut client).await, Packet::PingResp(_)));
    drop(client);
    let seen = tokio::time::timeout(WAIT, served).await.unwrap().unwrap();
    assert!(matches!(seen.as_slice(), [Packet::PingReq(_)]), "{seen:?}");
}

// ----- mosquitto log helpers -----

/// Runs `mosquitto_pub` once as `client_id` (connect, publish, DISCONNECT).
fn publish_once(broker: &mosquitto::Broker, client_id: &str) {
    let out = broker
        .client_command("mosquitto_pub", mosquitto::Listener::Plain)
        .args(["-i", client_id, "-t", "test/count", "-m", "hi"])
        .output()
        .expect("run mosquitto_pub");
    assert!(out.status.success(), "mosquitto_pub: {out:?}");
}

#[test]
fn mosquitto_log_counts_connections_and_disconnects_per_client_id() {
    use mosquitto::{connections_in, disconnects_in, Broker, BrokerOptions};
    let broker = Broker::start(BrokerOptions::plain());
    assert_eq!(broker.connections_from("tern-count"), 0);
    for n in 1..=2 {
        publish_once(&broker, "tern-count");
        assert!(
            broker.wait_for(WAIT, move |log| connections_in(log, "tern-count") == n
                && disconnects_in(log, "tern-count") == n),
            "{n} connections and DISCONNECTs logged:\n{}",
            broker.log()
        );
    }
    // Another id (a prefix of the first) is counted apart.
    publish_once(&broker, "tern");
    assert!(broker.wait_for_log("Received DISCONNECT from tern\n", WAIT));
    assert_eq!(broker.connections_from("tern-count"), 2);
    assert_eq!(broker.connections_from("tern"), 1);
    assert_eq!(broker.disconnects_from("tern"), 1);
    assert_eq!(broker.count_log("'test/count'"), 3, "three PUBLISHes");
    assert_eq!(broker.wills_from("tern-count"), 0);
}

#[tokio::test]
async fn mosquitto_log_wait_lets_the_runtime_run_meanwhile() {
    use mosquitto::{connections_in, Broker, BrokerOptions, Listener};
    let broker = Broker::start(BrokerOptions::plain());
    // The CONNECT the wait is for is written by this same (current-thread)
    // runtime while the wait is pending: a wait that blocked the thread
    // would never see it.
    let seen = broker
        .log_watch()
        .until(WAIT, |log| connections_in(log, "async-id") == 1);
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(broker.addr(Listener::Plain))
            .await
            .unwrap();
        let mut client: BoxedTransport = Box::new(tcp);
        write(&mut client, &connect_packet("async-id")).await;
        assert!(matches!(read(&mut client).await, Packet::ConnAck(_)));
        client
    };
    let (seen, _client) = tokio::join!(seen, connect);
    assert!(seen, "the connection was logged:\n{}", broker.log());
}

#[tokio::test]
async fn mosquitto_log_shows_a_will_and_its_delivery() {
    use mosquitto::{connections_in, Broker, BrokerOptions, Listener};
    let broker = Broker::start(BrokerOptions::plain());
    let watch = broker.log_watch();
    let mut willer = broker
        .client_command("mosquitto_sub", Listener::Plain)
        .args(["-i", "willer", "-t", "test/none"])
        .args(["--will-topic", "test/will", "--will-payload", "bye"])
        .spawn()
        .expect("run mosquitto_sub");
    let connected = watch.until(WAIT, |log| {
        connections_in(log, "willer") == 1 && log.contains("Sending SUBACK to willer")
    });
    assert!(connected.await, "willer connected:\n{}", broker.log());
    assert_eq!(broker.wills_from("willer"), 1);

    // A subscriber to the will topic, then the willer dies without a
    // DISCONNECT: the broker publishes the will to the subscriber.
    let watcher = broker
        .client_command("mosquitto_sub", Listener::Plain)
        .args(["-i", "watcher", "-t", "test/will", "-C", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run mosquitto_sub");
    assert!(
        watch
            .until(WAIT, |log| log.contains("Sending SUBACK to watcher"))
            .await
    );
    willer.kill().unwrap();
    willer.wait().unwrap();
    let delivered = watch.until(WAIT, |log| {
        log.contains("Sending PUBLISH to watcher (d0, q0, r0, m0, 'test/will'")
    });
    assert!(delivered.await, "will delivered:\n{}", broker.log());
    assert_eq!(broker.disconnects_from("willer"), 0);
    let out = watcher.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "bye");
}
