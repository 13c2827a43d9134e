//! The session engine under arbitrary drivers: raw server bytes, valid
//! server packets built from fuzzed fields, user commands, transport
//! open/close and virtual time. Checks that the engine never panics, that
//! everything it writes decodes as whole valid packets, and that it keeps
//! its own bookkeeping bounded. Outputs are drained after every operation,
//! the way a driver must.
#![no_main]

// The packet builders the tests use (tests/support/packets.rs).
#[path = "../../tests/support/packets.rs"]
mod packets;

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tern_mqtt::codec::{
    decode, encode, Auth, AuthProperties, ConnAck, ConnAckProperties, DisconnectProperties,
    MqttString, Packet, ProtocolVersion, Publish, PublishAck, PublishProperties, QoS, ReasonCode,
    SubscribeProperties, SubscriptionOptions, UnsubscribeProperties,
};
use tern_mqtt::session::{
    AckToken, Event, PublishCommand, Session, SessionConfig, SessionLostPolicy,
};
use tern_mqtt::topic::{TopicFilter, TopicName};

const TOPICS: [&str; 4] = ["a", "a/b", "c/d/e", "$SYS/x"];
const FILTERS: [&str; 5] = ["a", "a/+", "c/#", "#", "$share/g/a"];

#[derive(Arbitrary, Debug)]
struct Input {
    v5: bool,
    manual_acks: bool,
    clean_start: bool,
    session_expiry: u8,
    fail_policy: bool,
    keep_alive: u8,
    receive_maximum: u8,
    topic_alias_maximum: u8,
    maximum_packet_size: u16,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes from the server.
    Raw(Vec<u8>),
    /// A valid server packet (when it encodes at this version).
    Server(ServerPacket),
    /// A valid server packet cut in two reads.
    Split(ServerPacket, u8),
    Publish {
        qos: u8,
        topic: u8,
        payload: u16,
        retain: bool,
        expiry: Option<u8>,
    },
    Subscribe {
        filter: u8,
        qos: u8,
        no_local: bool,
    },
    Unsubscribe {
        filter: u8,
    },
    Ack {
        pick: u8,
        code: u8,
    },
    Open,
    Close,
    /// Time moves on by this many milliseconds (times 16).
    Time(u16),
    /// Time jumps to the engine's next deadline.
    Timeout,
    Disconnect(u8),
    Reauth,
}

#[derive(Arbitrary, Debug)]
enum ServerPacket {
    ConnAck {
        session_present: bool,
        code: u8,
        receive_maximum: u16,
        topic_alias_maximum: u8,
        maximum_qos: Option<u8>,
        retain_available: Option<bool>,
        maximum_packet_size: Option<u16>,
        server_keep_alive: Option<u8>,
        assigned_client_id: bool,
        wildcards: Option<bool>,
    },
    Publish {
        dup: bool,
        qos: u8,
        retain: bool,
        topic: Option<u8>,
        id: u8,
        alias: u8,
        payload: Vec<u8>,
    },
    PubAck(u8, u8),
    PubRec(u8, u8),
    PubRel(u8, u8),
    PubComp(u8, u8),
    SubAck(u8, Vec<u8>),
    UnsubAck(u8, Vec<u8>),
    PingResp,
    Disconnect(u8),
    Auth(u8),
}

fn pid(n: u8) -> NonZeroU16 {
    // Small ids, so they meet the engine's (which start at 1).
    NonZeroU16::new(u16::from(n % 24) + 1).unwrap_or(NonZeroU16::MIN)
}

fn ack(id: u8, code: u8) -> PublishAck {
    packets::ack_with(pid(id), ReasonCode(if code < 128 { 0 } else { code }))
}

fn codes(codes: &[u8]) -> Vec<ReasonCode> {
    codes.iter().map(|c| ReasonCode(*c)).collect()
}

impl ServerPacket {
    fn build(&self) -> Packet {
        match self {
            ServerPacket::ConnAck {
                session_present,
                code,
                receive_maximum,
                topic_alias_maximum,
                maximum_qos,
                retain_available,
                maximum_packet_size,
                server_keep_alive,
                assigned_client_id,
                wildcards,
            } => Packet::ConnAck(Box::new(ConnAck {
                session_present: *session_present,
                reason_code: ReasonCode(if *code < 200 { 0 } else { *code }),
                properties: ConnAckProperties {
                    receive_maximum: NonZeroU16::new(*receive_maximum),
                    topic_alias_maximum: Some(u16::from(*topic_alias_maximum)),
                    maximum_qos: maximum_qos.and_then(|q| QoS::from_u8(q % 2)),
                    retain_available: *retain_available,
                    maximum_packet_size: maximum_packet_size
                        .and_then(|m| NonZeroU32::new(u32::from(m))),
                    server_keep_alive: server_keep_alive.map(u16::from),
                    assigned_client_identifier: assigned_client_id
                        .then(|| MqttString::try_from("assigned").unwrap()),
                    wildcard_subscription_available: *wildcards,
                    ..Default::default()
                },
            })),
            ServerPacket::Publish {
                dup,
                qos,
                retain,
                topic,
                id,
                alias,
                payload,
            } => {
                let qos = QoS::from_u8(qos % 3).unwrap_or_default();
                Packet::Publish(Publish {
                    dup: *dup && qos != QoS::AtMostOnce,
                    qos,
                    retain: *retain,
                    topic: topic.map(|t| TopicName::new(TOPICS[usize::from(t) % 4]).unwrap()),
                    packet_id: (qos != QoS::AtMostOnce).then(|| pid(*id)),
                    properties: PublishProperties {
                        topic_alias: NonZeroU16::new(u16::from(*alias % 20)),
                        ..Default::default()
                    }
                    .into(),
                    payload: Bytes::copy_from_slice(payload),
                })
            }
            ServerPacket::PubAck(id, c) => Packet::PubAck(ack(*id, *c)),
            ServerPacket::PubRec(id, c) => Packet::PubRec(ack(*id, *c)),
            ServerPacket::PubRel(id, c) => Packet::PubRel(ack(*id, *c)),
            ServerPacket::PubComp(id, c) => Packet::PubComp(ack(*id, *c)),
            ServerPacket::SubAck(id, c) => packets::suback(pid(*id), codes(c)),
            ServerPacket::UnsubAck(id, c) => packets::unsuback(pid(*id), codes(c)),
            ServerPacket::PingResp => packets::pingresp(),
            ServerPacket::Disconnect(c) => packets::disconnect(ReasonCode(*c)),
            ServerPacket::Auth(c) => Packet::Auth(Auth {
                reason_code: ReasonCode(*c),
                properties: AuthProperties::default(),
            }),
        }
    }

    fn bytes(&self, v: ProtocolVersion) -> Option<BytesMut> {
        let mut buf = BytesMut::new();
        encode(&self.build(), v, &mut buf).ok()?;
        Some(buf)
    }
}

struct Driver {
    s: Session,
    v: ProtocolVersion,
    now: Instant,
    tokens: Vec<AckToken>,
}

impl Driver {
    /// Drains every output, as a driver must, and checks what was written.
    fn drain(&mut self) {
        let mut wire = BytesMut::new();
        while let Some(b) = self.s.poll_transmit() {
            wire.extend_from_slice(&b);
        }
        loop {
            match decode(&mut wire, self.v, u32::MAX) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("the engine wrote an invalid packet: {e}"),
            }
        }
        assert!(wire.is_empty(), "the engine wrote a partial packet");
        while let Some(e) = self.s.poll_event() {
            if let Event::Message(m) = e {
                if let Some(t) = m.ack {
                    if self.tokens.len() < 64 {
                        self.tokens.push(t);
                    }
                }
            }
        }
        if self.s.wants_close() {
            self.s.handle_transport_closed(self.now);
            assert!(self.s.poll_transmit().is_none());
            while self.s.poll_event().is_some() {}
        }
        let _ = self.s.poll_timeout();
        assert!(self.s.packet_ids_in_use() <= usize::from(u16::MAX));
        assert!(self.s.inflight() <= usize::from(u16::MAX));
    }

    fn op(&mut self, op: &Op) {
        match op {
            Op::Raw(b) => self.s.handle_data(self.now, b),
            Op::Server(p) => {
                if let Some(b) = p.bytes(self.v) {
                    self.s.handle_data(self.now, &b);
                }
            }
            Op::Split(p, at) => {
                if let Some(mut b) = p.bytes(self.v) {
                    let at = usize::from(*at).min(b.len());
                    let tail = b.split_off(at);
                    self.s.handle_data(self.now, &b);
                    self.drain();
                    self.s.handle_data(self.now, &tail);
                }
            }
            Op::Publish {
                qos,
                topic,
                payload,
                retain,
                expiry,
            } => {
                let mut cmd = PublishCommand::new(
                    TopicName::new(TOPICS[usize::from(*topic) % 4]).unwrap(),
                    vec![0x5Au8; usize::from(*payload % 2048)],
                    QoS::from_u8(qos % 3).unwrap_or_default(),
                )
                .retain(*retain);
                if let (Some(e), ProtocolVersion::V5) = (expiry, self.v) {
                    cmd = cmd.message_expiry(u32::from(*e));
                }
                let _ = self.s.publish(self.now, cmd);
            }
            Op::Subscribe {
                filter,
                qos,
                no_local,
            } => {
                let mut o = SubscriptionOptions::qos(QoS::from_u8(qos % 3).unwrap_or_default());
                o.no_local = *no_local;
                let f = TopicFilter::new(FILTERS[usize::from(*filter) % FILTERS.len()]).unwrap();
                let _ = self
                    .s
                    .subscribe(self.now, vec![(f, o)], SubscribeProperties::default());
            }
            Op::Unsubscribe { filter } => {
                let f = TopicFilter::new(FILTERS[usize::from(*filter) % FILTERS.len()]).unwrap();
                let _ = self
                    .s
                    .unsubscribe(self.now, vec![f], UnsubscribeProperties::default());
            }
            Op::Ack { pick, code } => {
                if !self.tokens.is_empty() {
                    let t = self.tokens.remove(usize::from(*pick) % self.tokens.len());
                    self.s.ack_with(self.now, t, ReasonCode(*code));
                }
            }
            Op::Open => {
                let _ = self.s.handle_transport_open(self.now);
            }
            Op::Close => self.s.handle_transport_closed(self.now),
            Op::Time(ms) => {
                self.now += Duration::from_millis(u64::from(*ms) * 16);
                if self.s.poll_timeout().is_some_and(|at| at <= self.now) {
                    self.s.handle_timeout(self.now);
                }
            }
            Op::Timeout => {
                if let Some(at) = self.s.poll_timeout() {
                    self.now = self.now.max(at);
                    self.s.handle_timeout(self.now);
                }
            }
            Op::Disconnect(c) => {
                let _ =
                    self.s
                        .disconnect(self.now, ReasonCode(*c), DisconnectProperties::default());
            }
            Op::Reauth => {
                let _ = self.s.reauthenticate(self.now);
            }
        }
        self.drain();
    }
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fuzz_target!(|input: Input| {
    let v = if input.v5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let mut c = SessionConfig::new(MqttString::try_from("fuzz").unwrap());
    c.version = v;
    c.manual_acks = input.manual_acks;
    c.clean_start = input.clean_start;
    c.session_expiry_interval = u32::from(input.session_expiry);
    c.session_lost_policy = if input.fail_policy {
        SessionLostPolicy::Fail
    } else {
        SessionLostPolicy::Resend
    };
    c.keep_alive = u16::from(input.keep_alive);
    c.receive_maximum = u16::from(input.receive_maximum).max(1);
    c.topic_alias_maximum = u16::from(input.topic_alias_maximum % 32);
    c.maximum_packet_size = u32::from(input.maximum_packet_size).max(64);
    let mut d = Driver {
        s: Session::new(c),
        v,
        now: base(),
        tokens: Vec::new(),
    };
    for op in input.ops.iter().take(512) {
        d.op(op);
    }
});
