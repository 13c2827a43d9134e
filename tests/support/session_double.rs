//! A scripted broker double for the session engine, built from the codec,
//! on virtual time: the test plays the server packet by packet.
#![allow(dead_code)]

use bytes::BytesMut;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tern_mqtt::codec::{
    decode, encode, ConnAck, ConnAckProperties, MqttString, Packet, ProtocolVersion, ReasonCode,
    SubscribeProperties, SubscriptionOptions, UnsubscribeProperties,
};
use tern_mqtt::session::{CommandError, Event, PublishCommand, RequestId, Session, SessionConfig};
use tern_mqtt::topic::TopicFilter;

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

pub fn connack(session_present: bool) -> ConnAck {
    ConnAck {
        session_present,
        reason_code: ReasonCode::SUCCESS,
        properties: ConnAckProperties::default(),
    }
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
