//! A scripted MQTT broker for hostile-server and lifecycle tests. It speaks
//! through the crate's own codec, so a test can answer CONNECT properly and
//! then send whatever bytes it likes, and read back (decoded) what the
//! client answers.
//!
//! Two ways in, one [`Conn`] for both:
//!
//! * [`ScriptedBroker::bind`]: a tokio `TcpListener` on 127.0.0.1:0, reached
//!   through [`ScriptedBroker::url`];
//! * [`ScriptedBroker::in_memory`]: a [`MemoryConnector`] (a
//!   `tern_mqtt::transport::Connector`) that makes a `tokio::io::duplex`
//!   pair on every `connect()` and hands the broker end to the broker. No
//!   socket, no real time: with `#[tokio::test(start_paused = true)]` a
//!   whole reconnect schedule runs in virtual time. The connector counts
//!   attempts ([`MemoryConnector::connects`]) and can refuse them
//!   ([`MemoryConnector::refuse_next`], [`MemoryConnector::set_refusing`]).
//!
//! Every wait is bounded by [`WAIT`] through `tokio::time::timeout` (never a
//! real-time sleep): a client that stays silent fails the test instead of
//! hanging it. On paused time the bound is virtual, so it costs nothing.

#![allow(dead_code)]

/// The shared packet builders and the well-behaved [`Responder`].
#[path = "packets.rs"]
pub mod packets;

// Not every test crate uses all of them.
#[allow(unused_imports)]
pub use packets::{publish, raw_packet, vbi};

use bytes::BytesMut;
use packets::Responder;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tern_mqtt::codec::{decode, ConnAckProperties, Connect, Packet, ProtocolVersion, ReasonCode};
use tern_mqtt::transport::{BoxedTransport, ConnectFuture, Connector};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};

/// The longest a scripted broker waits for the client to do something.
pub const WAIT: Duration = Duration::from_secs(3);

/// What the scripted broker accepts from the client in one packet.
const BROKER_MAX_PACKET: u32 = 16 * 1024 * 1024;

/// Bytes buffered in each direction of an in-memory connection.
pub const MEMORY_BUFFER: usize = 64 * 1024;

/// A listener that hands out scripted connections.
pub struct ScriptedBroker {
    incoming: Incoming,
}

/// Where a [`ScriptedBroker`]'s connections come from.
enum Incoming {
    Tcp {
        listener: TcpListener,
        addr: SocketAddr,
    },
    /// Broker ends of the duplex pairs a [`MemoryConnector`] made.
    Memory(Mutex<mpsc::UnboundedReceiver<DuplexStream>>),
}

impl ScriptedBroker {
    /// Binds 127.0.0.1 on a free port.
    pub async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        ScriptedBroker {
            incoming: Incoming::Tcp { listener, addr },
        }
    }

    /// A broker reached only through the returned connector: every
    /// `connect()` makes a `tokio::io::duplex` pair ([`MEMORY_BUFFER`] each
    /// way), returns the client end and queues the broker end for the next
    /// [`accept`](Self::accept). Once the broker is dropped, connects are
    /// refused.
    pub fn in_memory() -> (MemoryConnector, ScriptedBroker) {
        let (tx, rx) = mpsc::unbounded_channel();
        let connector = MemoryConnector {
            shared: Arc::new(MemoryShared {
                broker: tx,
                connects: AtomicUsize::new(0),
                refuse_next: AtomicUsize::new(0),
                refusing: AtomicBool::new(false),
            }),
        };
        let broker = ScriptedBroker {
            incoming: Incoming::Memory(Mutex::new(rx)),
        };
        (connector, broker)
    }

    /// The URL for `ConnectOptions::new`. Panics for an in-memory broker
    /// (use its [`MemoryConnector`]).
    pub fn url(&self) -> String {
        match &self.incoming {
            Incoming::Tcp { addr, .. } => format!("mqtt://{addr}"),
            Incoming::Memory(_) => {
                panic!(
                    "an in-memory ScriptedBroker has no URL: connect through its MemoryConnector"
                )
            }
        }
    }

    /// The next client connection, before its CONNECT; panics if none
    /// comes within [`WAIT`].
    pub async fn accept_stream(&self) -> BoxedTransport {
        self.accept_stream_within(WAIT).await
    }

    /// The next client connection, before its CONNECT; panics if none
    /// comes within `within` (longer than [`WAIT`] for a client in its
    /// reconnect backoff).
    pub async fn accept_stream_within(&self, within: Duration) -> BoxedTransport {
        let next = async {
            match &self.incoming {
                Incoming::Tcp { listener, .. } => {
                    let (stream, _) = listener.accept().await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    Box::new(stream) as BoxedTransport
                }
                Incoming::Memory(rx) => {
                    let stream = rx.lock().await.recv().await;
                    Box::new(stream.expect("the connector outlives the wait")) as BoxedTransport
                }
            }
        };
        tokio::time::timeout(within, next)
            .await
            .expect("the client connects within the wait")
    }

    /// Accepts the next client connection and reads its CONNECT.
    pub async fn accept(&self, version: ProtocolVersion) -> Conn {
        self.accept_within(version, WAIT).await
    }

    /// Like [`accept`](Self::accept), waiting up to `within` for the
    /// connection.
    pub async fn accept_within(&self, version: ProtocolVersion, within: Duration) -> Conn {
        let mut conn = Conn::new(self.accept_stream_within(within).await, version);
        match conn.recv().await {
            Some(Packet::Connect(c)) => {
                assert_eq!(c.protocol_version, version, "CONNECT at the expected level");
                conn.connect = Some(*c);
            }
            other => panic!("expected CONNECT, got {other:?}"),
        }
        conn
    }

    /// Accepts a connection and answers a successful CONNACK with `props`.
    pub async fn accept_with(&self, version: ProtocolVersion, props: ConnAckProperties) -> Conn {
        let mut conn = self.accept(version).await;
        conn.connack(false, props).await;
        conn
    }
}

/// The client side of [`ScriptedBroker::in_memory`]: a
/// `tern_mqtt::transport::Connector` whose connections are in-memory duplex
/// pipes to that broker. Clones share the counters and the refusals.
#[derive(Clone)]
pub struct MemoryConnector {
    shared: Arc<MemoryShared>,
}

struct MemoryShared {
    broker: mpsc::UnboundedSender<DuplexStream>,
    /// Attempts so far, refused ones included.
    connects: AtomicUsize,
    /// How many of the next attempts to refuse.
    refuse_next: AtomicUsize,
    /// Refuse every attempt while set.
    refusing: AtomicBool,
}

impl MemoryConnector {
    /// How many times `connect()` was called, refused attempts included.
    pub fn connects(&self) -> usize {
        self.shared.connects.load(Ordering::SeqCst)
    }

    /// Refuse the next `n` attempts (`ConnectionRefused`), on top of any
    /// refusals still pending.
    pub fn refuse_next(&self, n: usize) {
        self.shared.refuse_next.fetch_add(n, Ordering::SeqCst);
    }

    /// Refuse every attempt while `on` (a broker that is down).
    pub fn set_refusing(&self, on: bool) {
        self.shared.refusing.store(on, Ordering::SeqCst);
    }

    /// One attempt: counted, then refused or connected.
    fn open(&self) -> io::Result<DuplexStream> {
        let shared = &self.shared;
        let attempt = shared.connects.fetch_add(1, Ordering::SeqCst) + 1;
        let refuse_one = shared
            .refuse_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse_one || shared.refusing.load(Ordering::SeqCst) {
            return Err(refused(format!(
                "memory: attempt {attempt} refused by the test"
            )));
        }
        let (client, broker) = tokio::io::duplex(MEMORY_BUFFER);
        shared
            .broker
            .send(broker)
            .map_err(|_| refused("memory: the scripted broker is gone".to_string()))?;
        Ok(client)
    }
}

fn refused(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionRefused, msg)
}

impl Connector for MemoryConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move { Ok(Box::new(self.open()?) as BoxedTransport) })
    }

    fn describe(&self) -> String {
        "memory".to_string()
    }
}

/// One scripted connection, after the client's CONNECT.
pub struct Conn {
    stream: BoxedTransport,
    buf: BytesMut,
    /// The protocol version spoken.
    pub version: ProtocolVersion,
    /// The client's CONNECT.
    pub connect: Option<Connect>,
    /// How this connection answers when it plays a well-behaved broker.
    responder: Responder,
}

/// The CONNACK properties the hostile tests announce: small limits so that
/// the client's own checks are not what is tested.
pub fn connack_props() -> ConnAckProperties {
    ConnAckProperties {
        topic_alias_maximum: Some(0),
        retain_available: Some(true),
        ..Default::default()
    }
}

impl Conn {
    /// A connection over `stream` speaking `version`, before any packet:
    /// for a stream a test made itself (see also
    /// [`ScriptedBroker::accept_stream`]).
    pub fn new(stream: BoxedTransport, version: ProtocolVersion) -> Self {
        Conn {
            stream,
            buf: BytesMut::new(),
            version,
            connect: None,
            responder: Responder::echoing(version),
        }
    }

    /// Encodes and writes `packet`.
    pub async fn send(&mut self, packet: &Packet) {
        let out = self.encoded(packet);
        self.stream.write_all(&out).await.unwrap();
    }

    /// Writes raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Writes raw bytes, ignoring a peer that has already gone.
    pub async fn send_raw_lossy(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Writes `bytes` one byte per write, with `gap` between writes.
    pub async fn drip(&mut self, bytes: &[u8], gap: Duration) {
        for b in bytes {
            self.stream
                .write_all(std::slice::from_ref(b))
                .await
                .unwrap();
            self.stream.flush().await.unwrap();
            tokio::time::sleep(gap).await;
        }
    }

    /// The bytes `packet` encodes to.
    pub fn encoded(&self, packet: &Packet) -> Vec<u8> {
        packets::encoded(packet, self.version).to_vec()
    }

    /// A CONNACK accepting the connection.
    pub async fn connack(&mut self, session_present: bool, properties: ConnAckProperties) {
        let properties = match self.version {
            ProtocolVersion::V5 => properties,
            ProtocolVersion::V311 => ConnAckProperties::default(),
        };
        let mut ack = packets::connack(session_present);
        ack.properties = properties;
        self.send(&packets::connack_packet(ack)).await;
    }

    /// The next packet from the client; `None` on EOF (or a reset). Panics
    /// after [`WAIT`] without one, or on bytes that do not decode.
    pub async fn recv(&mut self) -> Option<Packet> {
        tokio::time::timeout(WAIT, self.recv_unbounded())
            .await
            .expect("the client sends a packet or closes within the wait")
    }

    async fn recv_unbounded(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = decode(&mut self.buf, self.version, BROKER_MAX_PACKET)
                .expect("the client sends valid packets")
            {
                return Some(p);
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => {
                    assert!(
                        self.buf.is_empty(),
                        "EOF inside a packet ({} bytes left)",
                        self.buf.len()
                    );
                    return None;
                }
                Ok(_) => {}
            }
        }
    }

    /// Reads everything until EOF without decoding (the client may have
    /// abandoned a write halfway); returns how many bytes came.
    pub async fn drain_to_eof(&mut self) -> usize {
        let mut total = self.buf.len();
        self.buf.clear();
        tokio::time::timeout(WAIT, async {
            loop {
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        total += n;
                        self.buf.clear();
                    }
                }
            }
        })
        .await
        .expect("EOF within the wait");
        total
    }

    /// The next packet that is not a PINGREQ (keep alive may interleave).
    pub async fn recv_skipping_pings(&mut self) -> Option<Packet> {
        loop {
            match self.recv().await {
                Some(Packet::PingReq(_)) => {}
                other => return other,
            }
        }
    }

    /// Expects the client's error handling: in v5 a DISCONNECT with
    /// `reason_code`, in 3.1.1 nothing; then the connection closed.
    pub async fn expect_disconnect(&mut self, reason_code: ReasonCode) {
        if self.version == ProtocolVersion::V5 {
            match self.recv_skipping_pings().await {
                Some(Packet::Disconnect(d)) => assert_eq!(
                    d.reason_code, reason_code,
                    "DISCONNECT reason {} expected, got {}",
                    reason_code, d.reason_code
                ),
                other => panic!("expected DISCONNECT {reason_code}, got {other:?}"),
            }
        }
        self.expect_eof().await;
    }

    /// Expects the connection to be closed with nothing more sent.
    pub async fn expect_eof(&mut self) {
        match self.recv_skipping_pings().await {
            None => {}
            Some(p) => panic!("expected the client to close, got {p:?}"),
        }
    }

    /// Asserts that the client sends nothing, not a byte, for `dur` (of
    /// virtual time on a paused clock), and keeps the connection open: a
    /// packet (a PINGREQ too), part of one, or EOF within `dur` fails.
    pub async fn expect_silence(&mut self, dur: Duration) {
        if let Ok(got) = tokio::time::timeout(dur, self.recv_unbounded()).await {
            match got {
                Some(p) => panic!("expected {dur:?} of silence, the client sent {p:?}"),
                None => panic!("expected {dur:?} of silence, the client closed the connection"),
            }
        }
        assert!(
            self.buf.is_empty(),
            "expected {dur:?} of silence, the client sent {} bytes of a packet",
            self.buf.len()
        );
    }

    /// Waits (within [`WAIT`]) for the client to close its end and returns
    /// every packet it sent before that, PINGREQs included.
    pub async fn closed(&mut self) -> Vec<Packet> {
        let mut seen = Vec::new();
        while let Some(p) = self.recv().await {
            seen.push(p);
        }
        seen
    }

    /// Whether the client has closed its end (EOF or a reset), without
    /// waiting: bytes already readable are kept for the next `recv`.
    pub async fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let stream = &mut self.stream;
        let polled = std::future::poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut chunk);
            Poll::Ready(match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                Poll::Pending => None,
                Poll::Ready(r) => Some(r.map(|()| rb.filled().len())),
            })
        })
        .await;
        match polled {
            None => false,
            Some(Ok(0)) | Some(Err(_)) => true,
            Some(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
        }
    }

    /// A fresh packet identifier for what the broker sends.
    pub fn next_packet_id(&mut self) -> NonZeroU16 {
        self.responder.next_packet_id()
    }

    /// Answers the next SUBSCRIBE with a SUBACK granting what it asked for;
    /// returns its packet id.
    pub async fn expect_subscribe_and_grant(&mut self) -> NonZeroU16 {
        match self.recv_skipping_pings().await {
            Some(Packet::Subscribe(s)) => {
                self.grant(&s).await;
                s.packet_id
            }
            other => panic!("expected SUBSCRIBE, got {other:?}"),
        }
    }

    /// Answers `s` with a SUBACK granting what it asked for.
    pub async fn grant(&mut self, s: &tern_mqtt::codec::Subscribe) {
        self.send(&packets::grant(s)).await;
    }

    /// A well-behaved broker from here on, in its own task: grants every
    /// SUBSCRIBE, acknowledges and echoes back every PUBLISH (QoS 1 at
    /// most), answers PINGREQ and UNSUBSCRIBE, and stops at DISCONNECT or
    /// EOF. The task returns every packet the client sent.
    pub fn serve(self) -> tokio::task::JoinHandle<Vec<Packet>> {
        self.serve_inner(None)
    }

    /// As [`serve`](Self::serve), but `stop` firing drops the connection
    /// (as a broker that goes away would).
    pub fn serve_until(
        self,
        stop: tokio::sync::oneshot::Receiver<()>,
    ) -> tokio::task::JoinHandle<Vec<Packet>> {
        self.serve_inner(Some(stop))
    }

    fn serve_inner(
        mut self,
        mut stop: Option<tokio::sync::oneshot::Receiver<()>>,
    ) -> tokio::task::JoinHandle<Vec<Packet>> {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let p = tokio::select! {
                    p = self.recv_unbounded() => p,
                    _ = async {
                        match stop.as_mut() {
                            Some(rx) => {
                                let _ = rx.await;
                            }
                            None => std::future::pending().await,
                        }
                    } => break,
                };
                let Some(p) = p else { break };
                seen.push(p.clone());
                if matches!(p, Packet::Disconnect(_)) {
                    break;
                }
                for answer in self.responder.answer(&p) {
                    self.send(&answer).await;
                }
            }
            seen
        })
    }
}

/// Default options through the in-memory connector, with `client_id`.
pub fn memory_options(
    connector: &MemoryConnector,
    version: ProtocolVersion,
    client_id: &str,
) -> tern_mqtt::ConnectOptions {
    tern_mqtt::ConnectOptions::new("mqtt://memory")
        .unwrap()
        .client_id(client_id)
        .version(version)
        .connector(connector.clone())
}

/// Connects with `opts` and accepts on the broker side.
pub async fn connect_with(
    broker: &ScriptedBroker,
    version: ProtocolVersion,
    opts: tern_mqtt::ConnectOptions,
) -> (tern_mqtt::Client, Conn) {
    let (client, conn) = tokio::join!(
        tern_mqtt::Client::connect(opts),
        broker.accept_with(version, connack_props())
    );
    (client.expect("connected"), conn)
}
