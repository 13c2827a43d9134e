//! A scripted broker double for the session engine, built from the codec,
//! on virtual time: the test plays the server packet by packet, or lets
//! [`Double::answer_all`] answer as the well-behaved broker of
//! `packets.rs` ([`packets::Responder`], the same one the async scripted
//! broker serves with).
//!
//! Besides [`Double`], the helpers the session behaviour tests share: what
//! to pick out of the engine's output (`publishes`, `publish_done`,
//! `disconnected`, ...), the protocol-error check, and a scripted
//! authenticator ([`Reverse`]).
#![allow(dead_code)]

/// The shared packet builders and the well-behaved [`packets::Responder`].
#[path = "packets.rs"]
pub mod packets;

#[allow(unused_imports)]
pub use packets::connack;

use bytes::{Bytes, BytesMut};
use packets::{publish_full, s, topic, Responder};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tern_mqtt::codec::{
    decode, encode, Auth, AuthProperties, ConnAck, MqttString, Packet, PacketId, ProtocolVersion,
    Publish, PublishProperties, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions,
    UnsubscribeProperties,
};
use tern_mqtt::session::{
    Authenticator, CommandError, DisconnectInfo, Event, Initiator, ProtocolError, PublishCommand,
    RequestId, Session, SessionConfig,
};
use tern_mqtt::topic::TopicFilter;

/// Both protocol versions.
pub const BOTH: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];
/// MQTT 5.0.
pub const V5: ProtocolVersion = ProtocolVersion::V5;
/// MQTT 3.1.1.
pub const V311: ProtocolVersion = ProtocolVersion::V311;

/// The engine plus the server's view of the wire and a virtual clock.
pub struct Double {
    pub session: Session,
    pub now: Instant,
    pub version: ProtocolVersion,
    wire: BytesMut,
    /// Commands issued through the tracking helpers ([`Double::publish`]
    /// and friends) that returned `Ok(id)`.
    issued: BTreeSet<RequestId>,
    /// Completion events seen by [`Double::events`], counted per id.
    completions: BTreeMap<RequestId, usize>,
}

/// The command id an event completes, if it is a completion.
pub fn completion_id(event: &Event) -> Option<RequestId> {
    match event {
        Event::PublishDone { id, .. }
        | Event::SubscribeDone { id, .. }
        | Event::UnsubscribeDone { id, .. }
        | Event::ReauthDone { id, .. } => Some(*id),
        _ => None,
    }
}

pub fn config(version: ProtocolVersion) -> SessionConfig {
    let mut c = SessionConfig::new(MqttString::try_from("tern-test").unwrap());
    c.version = version;
    c
}

impl Double {
    pub fn new(config: SessionConfig) -> Self {
        let version = config.version;
        Double {
            session: Session::new(config),
            now: Instant::now(),
            version,
            wire: BytesMut::new(),
            issued: BTreeSet::new(),
            completions: BTreeMap::new(),
        }
    }

    /// Opens the transport and returns the CONNECT the engine wrote.
    pub fn open(&mut self) -> tern_mqtt::codec::Connect {
        self.session.handle_transport_open(self.now).unwrap();
        match self.sent().as_slice() {
            [Packet::Connect(c)] => (**c).clone(),
            other => panic!("expected one CONNECT, got {other:?}"),
        }
    }

    /// Opens the transport and accepts it with `ack`; returns the events.
    pub fn connect_with(&mut self, ack: ConnAck) -> Vec<Event> {
        self.open();
        self.server(Packet::ConnAck(Box::new(ack)));
        self.events()
    }

    /// Opens and accepts with a plain CONNACK (no session present).
    pub fn connect(&mut self) -> Vec<Event> {
        self.connect_with(connack(false))
    }

    /// The server sends `packet`.
    pub fn server(&mut self, packet: Packet) {
        let mut buf = BytesMut::new();
        encode(&packet, self.version, &mut buf).unwrap();
        self.session.handle_data(self.now, &buf);
    }

    /// Answers everything the engine has written since the last
    /// [`sent`](Self::sent) as a well-behaved broker would
    /// ([`Responder`], no echo) and returns what it wrote.
    pub fn answer_all(&mut self) -> Vec<Packet> {
        let sent = self.sent();
        let mut responder = Responder::new(self.version);
        for p in &sent {
            for answer in responder.answer(p) {
                self.server(answer);
            }
        }
        sent
    }

    /// The server sends raw bytes.
    pub fn server_bytes(&mut self, bytes: &[u8]) {
        self.session.handle_data(self.now, bytes);
    }

    /// Every packet the engine has written since the last call, decoded as
    /// the server would.
    pub fn sent(&mut self) -> Vec<Packet> {
        while let Some(b) = self.session.poll_transmit() {
            self.wire.extend_from_slice(&b);
        }
        let mut out = Vec::new();
        while let Some(p) = decode(&mut self.wire, self.version, u32::MAX).unwrap() {
            out.push(p);
        }
        assert!(self.wire.is_empty(), "a partial packet was written");
        out
    }

    /// Every event since the last call.
    pub fn events(&mut self) -> Vec<Event> {
        let events: Vec<Event> = std::iter::from_fn(|| self.session.poll_event()).collect();
        for id in events.iter().filter_map(completion_id) {
            *self.completions.entry(id).or_default() += 1;
        }
        events
    }

    fn track(&mut self, r: Result<RequestId, CommandError>) -> Result<RequestId, CommandError> {
        if let Ok(id) = r {
            assert!(self.issued.insert(id), "{id:?} returned twice");
        }
        r
    }

    /// [`Session::publish`], tracked for [`Double::assert_completions`].
    pub fn publish(&mut self, cmd: PublishCommand) -> Result<RequestId, CommandError> {
        let r = self.session.publish(self.now, cmd);
        self.track(r)
    }

    /// [`Session::subscribe`], tracked.
    pub fn subscribe(
        &mut self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<RequestId, CommandError> {
        let r = self.session.subscribe(self.now, filters, properties);
        self.track(r)
    }

    /// [`Session::unsubscribe`], tracked.
    pub fn unsubscribe(
        &mut self,
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
    ) -> Result<RequestId, CommandError> {
        let r = self.session.unsubscribe(self.now, filters, properties);
        self.track(r)
    }

    /// [`Session::reauthenticate`], tracked.
    pub fn reauthenticate(&mut self) -> Result<RequestId, CommandError> {
        let r = self.session.reauthenticate(self.now);
        self.track(r)
    }

    /// Ends the session (which fails whatever is still pending) and checks
    /// the contract: every tracked command that returned `Ok(id)` got
    /// exactly one completion event, and no completion named another id.
    pub fn assert_completions(&mut self) {
        let _ = self
            .session
            .disconnect(self.now, ReasonCode::SUCCESS, Default::default());
        self.sent();
        self.events();
        for id in &self.issued {
            assert_eq!(self.completions.get(id), Some(&1), "completions of {id:?}");
        }
        for (id, n) in &self.completions {
            assert!(
                self.issued.contains(id),
                "completion ({n}) for an id never issued: {id:?}"
            );
        }
    }

    /// Moves virtual time forward by `d`, firing the engine's deadlines on
    /// the way, each at its own instant.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(at) = self.session.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.session.handle_timeout(self.now);
        }
        self.now = end;
    }

    /// The transport breaks.
    pub fn drop_transport(&mut self) -> Vec<Event> {
        self.sent();
        self.session.handle_transport_closed(self.now);
        self.events()
    }
}

// ----- what the tests pick out of the engine's output -----

/// A QoS `qos` message of 5 bytes to `t/1`.
pub fn msg(qos: QoS) -> PublishCommand {
    PublishCommand::new(topic("t/1"), Bytes::from_static(b"hello"), qos)
}

/// A QoS 0 message of one byte to `t`.
pub fn msg_to(t: &str) -> PublishCommand {
    PublishCommand::new(topic(t), Bytes::from_static(b"x"), QoS::AtMostOnce)
}

/// A PUBLISH from the server with payload `payload` (no packet id at QoS 0).
pub fn incoming(t: Option<&str>, qos: QoS, id: u16, properties: PublishProperties) -> Packet {
    publish_full(
        t,
        Bytes::from_static(b"payload"),
        qos,
        id,
        false,
        properties,
    )
}

/// PUBLISH properties carrying only Topic Alias `n` (none for 0).
pub fn alias(n: u16) -> PublishProperties {
    PublishProperties {
        topic_alias: std::num::NonZeroU16::new(n),
        ..Default::default()
    }
}

/// The PUBLISH packets among `sent`.
pub fn publishes(sent: &[Packet]) -> Vec<Publish> {
    sent.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// The packet id of the single PUBLISH in `sent`.
pub fn only_publish_id(sent: &[Packet]) -> PacketId {
    match sent {
        [Packet::Publish(p)] => p.packet_id.unwrap(),
        other => panic!("expected one PUBLISH, got {other:?}"),
    }
}

/// The publish completions among `events`.
pub fn publish_done(events: &[Event]) -> Vec<(RequestId, Result<ReasonCode, CommandError>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishDone { id, result } => Some((*id, result.clone().map(|a| a.reason_code))),
            _ => None,
        })
        .collect()
}

/// Asserts that the publish completions among the events since the last
/// call are `expected`.
pub fn assert_publish_done(
    d: &mut Double,
    expected: Vec<(RequestId, Result<ReasonCode, CommandError>)>,
) {
    assert_eq!(publish_done(&d.events()), expected);
}

/// The only `Disconnected` event, which must be the last one.
pub fn disconnected(events: &[Event]) -> DisconnectInfo {
    let infos: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Disconnected(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(infos.len(), 1, "one Disconnected event: {events:?}");
    assert!(
        matches!(events.last(), Some(Event::Disconnected(_))),
        "{events:?}"
    );
    infos[0].clone()
}

/// The reason code of the single DISCONNECT in `sent`.
pub fn disconnect_reason(sent: &[Packet]) -> ReasonCode {
    match sent {
        [Packet::Disconnect(d)] => d.reason_code,
        other => panic!("expected one DISCONNECT, got {other:?}"),
    }
}

/// The messages delivered among `events`.
pub fn messages(events: &[Event]) -> Vec<tern_mqtt::session::Delivery> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Checks that the engine closed on a protocol error with `reason`:
/// DISCONNECT with it (v5 only), a typed `Disconnected` event, and
/// `wants_close`.
pub fn assert_protocol_close(d: &mut Double, reason: ReasonCode) -> ProtocolError {
    let sent = d.sent();
    match d.version {
        ProtocolVersion::V5 => assert_eq!(disconnect_reason(&sent), reason),
        ProtocolVersion::V311 => assert!(sent.is_empty(), "no DISCONNECT in 3.1.1: {sent:?}"),
    }
    assert!(d.session.wants_close());
    let info = disconnected(&d.events());
    assert_eq!(info.initiator, Initiator::Protocol);
    assert_eq!(info.reason_code, Some(reason));
    let error = info.error.expect("a typed protocol error");
    assert_eq!(error.reason_code(), reason);
    error
}

// ----- enhanced authentication -----

/// A scripted authenticator: answers each challenge `c` with `c` reversed,
/// or refuses when the challenge is `b"refuse"`. Records the challenges.
pub struct Reverse {
    /// The challenges given so far.
    pub seen: Seen,
}

/// The challenges an authenticator was given.
pub type Seen = Arc<Mutex<Vec<Option<Bytes>>>>;

impl Authenticator for Reverse {
    fn method(&self) -> &str {
        "REVERSE"
    }

    fn initial_data(&mut self) -> Option<Bytes> {
        Some(Bytes::from_static(b"hello"))
    }

    fn respond(&mut self, challenge: Option<&Bytes>) -> Result<Option<Bytes>, String> {
        self.seen.lock().unwrap().push(challenge.cloned());
        let c = challenge.ok_or("no challenge")?;
        if &c[..] == b"refuse" {
            return Err("refused".to_owned());
        }
        let mut v = c.to_vec();
        v.reverse();
        Ok(Some(Bytes::from(v)))
    }
}

/// A v5 configuration with the [`Reverse`] authenticator, and what it saw.
pub fn auth_config() -> (SessionConfig, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut c = config(V5);
    c.authenticator = Some(Box::new(Reverse { seen: seen.clone() }));
    (c, seen)
}

/// An AUTH from the server with `method` and `data`.
pub fn server_auth(reason_code: ReasonCode, method: &str, data: Option<&'static [u8]>) -> Packet {
    Packet::Auth(Auth {
        reason_code,
        properties: AuthProperties {
            authentication_method: Some(s(method)),
            authentication_data: data.map(Bytes::from_static),
            ..Default::default()
        },
    })
}

/// A successful CONNACK with `properties` and [`Reverse`]'s method, as a
/// server that authenticated the client sends it.
pub fn auth_connack(properties: tern_mqtt::codec::ConnAckProperties) -> Packet {
    packets::connack_packet(packets::connack_with(tern_mqtt::codec::ConnAckProperties {
        authentication_method: Some(s("REVERSE")),
        ..properties
    }))
}

/// An AUTH with [`Reverse`]'s method, as the client sends it.
pub fn client_auth(reason_code: ReasonCode, data: Option<&'static [u8]>) -> Packet {
    server_auth(reason_code, "REVERSE", data)
}
