//! A bare MQTT client for the quirk proofs: the crate's pure codec
//! (`encode` / `decode`) over a `TcpStream`, with no session engine, no
//! routing and no automatic acknowledgement, so what a proof sees is what
//! the broker sent.

use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;
use tern_mqtt::codec::{
    decode, encode, ConnAck, Connect, ConnectProperties, MqttString, Packet, ProtocolVersion,
    Publish, PublishAck, QoS, SubAck, Subscribe, SubscriptionOptions,
};
use tern_mqtt::topic::{TopicFilter, TopicName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every wait for a packet the broker must send.
pub const RAW_WAIT: Duration = Duration::from_secs(10);

/// One raw connection.
pub struct Raw {
    stream: TcpStream,
    buf: BytesMut,
    version: ProtocolVersion,
    next_id: u16,
}

/// A CONNECT with the given id, clean flag and keep alive 60 s.
pub fn connect_packet(version: ProtocolVersion, client_id: &str, clean: bool) -> Connect {
    Connect {
        protocol_version: version,
        clean_start: clean,
        keep_alive: 60,
        properties: ConnectProperties::default(),
        client_id: MqttString::try_from(client_id).expect("client id"),
        will: None,
        username: None,
        password: None,
    }
}

impl Raw {
    /// Opens a TCP connection (no CONNECT yet).
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> Result<Raw, String> {
        let stream = tokio::time::timeout(RAW_WAIT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connect to {addr} timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        Ok(Raw {
            stream,
            buf: BytesMut::new(),
            version,
            next_id: 0,
        })
    }

    /// Opens, sends `connect` and returns the CONNACK.
    pub async fn connect(addr: SocketAddr, connect: Connect) -> Result<(Raw, ConnAck), String> {
        let mut raw = Raw::open(addr, connect.protocol_version).await?;
        raw.send(&Packet::Connect(Box::new(connect))).await?;
        match raw.expect_packet().await? {
            Packet::ConnAck(ack) => Ok((raw, *ack)),
            other => Err(format!("expected CONNACK, got {other:?}")),
        }
    }

    /// Sends raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Encodes and sends a packet.
    pub async fn send(&mut self, packet: &Packet) -> Result<(), String> {
        let mut out = BytesMut::new();
        encode(packet, self.version, &mut out).map_err(|e| format!("encode: {e:?}"))?;
        self.send_bytes(&out).await
    }

    /// Raw bytes received within `wait`, up to the connection's end (for
    /// answers the codec of our version would not read).
    pub async fn read_bytes(&mut self, wait: Duration) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf).to_vec();
        let _ = tokio::time::timeout(wait, async {
            let mut chunk = [0u8; 1024];
            while let Ok(n) = self.stream.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        })
        .await;
        out
    }

    /// The next packet within `wait`: `Ok(None)` when none came in time,
    /// `Err` when the connection closed or sent something unreadable.
    pub async fn recv(&mut self, wait: Duration) -> Result<Option<Packet>, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(p) = decode(&mut self.buf, self.version, u32::MAX)
                .map_err(|e| format!("decode: {e:?}"))?
            {
                return Ok(Some(p));
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Ok(None),
                Ok(Ok(0)) => return Err("connection closed by the broker".into()),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(format!("read: {e}")),
            }
        }
    }

    /// The next packet, which must come within [`RAW_WAIT`].
    pub async fn expect_packet(&mut self) -> Result<Packet, String> {
        self.recv(RAW_WAIT)
            .await?
            .ok_or_else(|| format!("no packet within {RAW_WAIT:?}"))
    }

    fn packet_id(&mut self) -> NonZeroU16 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        NonZeroU16::new(self.next_id).expect("non-zero")
    }

    /// SUBSCRIBE to filters and wait for the SUBACK (publishes arriving
    /// first are returned alongside).
    pub async fn subscribe(
        &mut self,
        filters: &[(&str, SubscriptionOptions)],
    ) -> Result<(SubAck, Vec<Publish>), String> {
        let filters = filters
            .iter()
            .map(|(f, o)| Ok((TopicFilter::new(f).map_err(|e| format!("{e:?}"))?, *o)))
            .collect::<Result<Vec<_>, String>>()?;
        let packet_id = self.packet_id();
        self.send(&Packet::Subscribe(Subscribe {
            packet_id,
            properties: Default::default(),
            filters,
        }))
        .await?;
        let mut early = Vec::new();
        loop {
            match self.expect_packet().await? {
                Packet::SubAck(ack) if ack.packet_id == packet_id => return Ok((ack, early)),
                Packet::Publish(p) => early.push(p),
                other => return Err(format!("expected SUBACK, got {other:?}")),
            }
        }
    }

    /// PUBLISH; for QoS 1 waits for the PUBACK, for QoS 2 completes the
    /// PUBREC / PUBREL / PUBCOMP exchange.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), String> {
        let packet_id = (qos != QoS::AtMostOnce).then(|| self.packet_id());
        self.send(&Packet::Publish(Publish {
            dup: false,
            qos,
            retain,
            topic: Some(TopicName::new(topic).map_err(|e| format!("{e:?}"))?),
            packet_id,
            properties: Default::default(),
            payload: Bytes::copy_from_slice(payload),
        }))
        .await?;
        let Some(id) = packet_id else { return Ok(()) };
        loop {
            match self.expect_packet().await? {
                Packet::PubAck(a) if a.packet_id == id && qos == QoS::AtLeastOnce => return Ok(()),
                Packet::PubRec(a) if a.packet_id == id => {
                    self.send(&Packet::PubRel(PublishAck::new(id))).await?
                }
                Packet::PubComp(a) if a.packet_id == id => return Ok(()),
                Packet::Publish(_) => {}
                other => return Err(format!("unexpected answer to PUBLISH: {other:?}")),
            }
        }
    }

    /// Sends a clean DISCONNECT (reason 0).
    pub async fn disconnect(mut self) -> Result<(), String> {
        self.send_bytes(&[0xE0, 0x00]).await
    }
}

/// Every PUBLISH received within `wait` (other packets are ignored; the
/// connection ending stops the collection).
pub async fn publishes_within(raw: &mut Raw, wait: Duration) -> Vec<Publish> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match raw.recv(left).await {
            Ok(Some(Packet::Publish(p))) => got.push(p),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return got,
        }
    }
}
