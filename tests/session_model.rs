//! Model-based test of the session engine: random sequences of user
//! commands, server behaviour (answers in order, out of order, duplicated,
//! with failing v5 reason codes), the server's own QoS 0/1/2 publishes
//! (with DUP resends), connection drops, reconnects with and without a
//! session, and jumps in virtual time, against a broker model that decodes
//! everything the engine writes.
//!
//! After every step:
//! - every command that returned `Ok(id)` has completed at most once;
//! - a packet id is never taken by a new PUBLISH/SUBSCRIBE/UNSUBSCRIBE while
//!   a previous use is unacknowledged, and `packet_ids_in_use()` equals the
//!   ids the model sees held;
//! - new QoS 1/2 PUBLISHes never exceed the server's Receive Maximum in force;
//! - `inflight() + queued()` equals the publishes not yet completed;
//! - every server QoS 2 message (told apart by its payload) reaches the
//!   application at most once.
//!
//! At the end the model plays a perfect server until the engine is idle,
//! and then every command has completed exactly once, the server has
//! nothing left in flight, and every QoS 2 message the client acknowledged
//! was delivered exactly once.

#[path = "support/packets.rs"]
mod packets;

use bytes::{Bytes, BytesMut};
use packets::{
    ack_with, connack_packet, connack_refused, connack_with, pingresp, pubcomp, publish_full,
    pubrel, suback, unsuback,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU16;
use std::time::{Duration, Instant};
use tern_mqtt::codec::{
    decode, ConnAck, ConnAckProperties, MqttString, Packet, ProtocolVersion, PublishAck,
    PublishProperties, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions,
    UnsubscribeProperties,
};
use tern_mqtt::session::{
    AckToken, ConnectionState, Event, RequestId, Session, SessionConfig, SessionLostPolicy,
};
use tern_mqtt::topic::{TopicFilter, TopicName};

const TOPICS: [&str; 4] = ["a", "a/b", "c/d/e", "f"];
const FILTERS: [&str; 4] = ["a", "a/+", "c/#", "f"];

/// How the client is configured for one case.
#[derive(Debug, Clone)]
struct Setup {
    v5: bool,
    manual_acks: bool,
    /// 0: no session kept; 1: kept (3.1.1 clean session 0, v5 expiry 20 s);
    /// 2: kept (v5 expiry 3600 s).
    keep: u8,
    fail_policy: bool,
    keep_alive: u16,
    /// Our Receive Maximum.
    receive_maximum: u16,
}

/// The server's CONNACK choices.
#[derive(Debug, Clone)]
struct Ack {
    /// The server lost the session (restart without persistence).
    lose_session: bool,
    /// Receive Maximum (v5); 0 sends none.
    receive_maximum: u8,
    topic_alias_maximum: u8,
    refuse: bool,
}

/// One step of a case.
#[derive(Debug, Clone)]
enum Step {
    Publish {
        qos: u8,
        topic: u8,
    },
    Subscribe {
        filter: u8,
        qos: u8,
        two: bool,
    },
    Unsubscribe {
        filter: u8,
    },
    /// The application acknowledges one of the messages it holds (manual acks).
    AppAck {
        pick: u8,
        fail: bool,
    },
    /// The server answers one packet it received, chosen among all pending.
    ServerAnswer {
        pick: u8,
        dup: bool,
        fail: Option<u8>,
    },
    /// The server answers everything pending, in order, successfully.
    ServerAnswerAll,
    ServerPublish {
        qos: u8,
    },
    /// DUP resend of a QoS 2 message before its PUBREL.
    ServerResendQos2 {
        pick: u8,
    },
    /// PUBREL for a QoS 2 message the client PUBREC'd.
    ServerRelease {
        pick: u8,
    },
    Drop,
    Open,
    ConnAck(Ack),
    Reconnect(Ack),
    Advance {
        secs: u16,
    },
    Disconnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Publish(QoS),
    Subscribe,
    Unsubscribe,
}

#[derive(Debug)]
struct Cmd {
    kind: Kind,
    done: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // named after the packet each stage awaits
enum OutStage {
    AwaitPubAck,
    AwaitPubRec,
    AwaitPubComp,
}

#[derive(Debug, Clone)]
struct OutMsg {
    id: u16,
    qos: QoS,
    uid: u64,
    stage: OutStage,
}

/// Something the server received and may answer.
#[derive(Debug, Clone, Copy)]
enum Answerable {
    Pub(u16, QoS),
    Comp(u16),
    Sub(u16, usize),
    Unsub(u16, usize),
    Ping,
}

#[derive(Debug, Default)]
struct Server {
    /// A CONNECT awaiting CONNACK: (clean start, session kept after it).
    connect: Option<(bool, bool, u32)>,
    /// CONNACK accepted on the current transport.
    connected: bool,
    /// The session outlives the current connection.
    kept_after: bool,
    has_session: bool,
    expiry: u32,
    disconnected_at: Option<Instant>,
    pending: Vec<Answerable>,
    /// QoS 2 ids we PUBREC'd, awaiting PUBREL.
    rec_sent: HashSet<u16>,
    /// Our own messages in flight, in the order first sent.
    out: BTreeMap<u64, OutMsg>,
    seq: u64,
    next_uid: u64,
    next_id: u16,
}

struct Model {
    s: Session,
    v: ProtocolVersion,
    now: Instant,
    setup: Setup,
    cmds: HashMap<RequestId, Cmd>,
    payloads: HashMap<Bytes, RequestId>,
    next_payload: u64,
    /// Packet ids of client publishes in flight as seen on the wire.
    pub_ids: HashMap<u16, RequestId>,
    /// Packet ids of SUBSCRIBE/UNSUBSCRIBE sent and not answered.
    sub_ids: HashSet<u16>,
    /// The server's Receive Maximum in force.
    server_rm: usize,
    last_ack: Ack,
    tokens: Vec<AckToken>,
    srv: Server,
    /// Server QoS 2 message uid -> times the application saw it.
    delivered: HashMap<u64, u32>,
    /// Server QoS 2 messages the client acknowledged (PUBREC'd).
    must_deliver: HashSet<u64>,
    closed: bool,
    /// Packets exchanged, to detect a stalled drain.
    traffic: u64,
}

fn is_fail(code: ReasonCode) -> bool {
    !code.is_success()
}

impl Model {
    fn new(setup: Setup) -> Self {
        let v = if setup.v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        };
        let mut c = SessionConfig::new(MqttString::try_from("model").unwrap());
        c.version = v;
        c.manual_acks = setup.manual_acks;
        c.keep_alive = setup.keep_alive;
        c.receive_maximum = setup.receive_maximum;
        c.session_lost_policy = if setup.fail_policy {
            SessionLostPolicy::Fail
        } else {
            SessionLostPolicy::Resend
        };
        match (v, setup.keep) {
            (ProtocolVersion::V311, 0) => c.clean_start = true,
            (ProtocolVersion::V311, _) => c.clean_start = false,
            (ProtocolVersion::V5, 0) => c.session_expiry_interval = 0,
            (ProtocolVersion::V5, 1) => c.session_expiry_interval = 20,
            (ProtocolVersion::V5, _) => c.session_expiry_interval = 3600,
        }
        Model {
            s: Session::new(c),
            v,
            now: Instant::now(),
            setup,
            cmds: HashMap::new(),
            payloads: HashMap::new(),
            next_payload: 0,
            pub_ids: HashMap::new(),
            sub_ids: HashSet::new(),
            server_rm: usize::from(u16::MAX),
            last_ack: Ack {
                lose_session: false,
                receive_maximum: 0,
                topic_alias_maximum: 0,
                refuse: false,
            },
            tokens: Vec::new(),
            srv: Server {
                next_id: 0,
                ..Default::default()
            },
            delivered: HashMap::new(),
            must_deliver: HashSet::new(),
            closed: false,
            traffic: 0,
        }
    }

    // ------------------------------------------------------------ plumbing

    /// Drains the engine's outputs into the models, closes the transport
    /// when the engine asks, and checks the invariants.
    fn pump(&mut self) {
        self.drain_events();
        let mut wire = BytesMut::new();
        while let Some(b) = self.s.poll_transmit() {
            wire.extend_from_slice(&b);
        }
        while let Some(p) =
            decode(&mut wire, self.v, u32::MAX).expect("the engine wrote a valid packet")
        {
            self.traffic += 1;
            self.server_read(p);
        }
        assert!(wire.is_empty(), "a partial packet was written");
        if self.s.wants_close() {
            self.s.handle_transport_closed(self.now);
            self.conn_ended();
            self.drain_events();
        }
        let _ = self.s.poll_timeout();
        self.check();
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.s.poll_event() {
            match e {
                Event::PublishDone { id, .. } => {
                    self.complete(id);
                    self.pub_ids.retain(|_, r| *r != id);
                }
                Event::SubscribeDone { id, .. } | Event::UnsubscribeDone { id, .. } => {
                    self.complete(id)
                }
                Event::Message(m) => {
                    if let Some(uid) = m
                        .payload
                        .strip_prefix(b"s")
                        .and_then(|d| std::str::from_utf8(d).ok())
                        .and_then(|d| d.parse::<u64>().ok())
                    {
                        if m.qos == QoS::ExactlyOnce {
                            let n = self.delivered.entry(uid).or_default();
                            *n += 1;
                            assert!(*n <= 1, "QoS 2 message s{uid} delivered twice");
                        }
                    } else {
                        panic!("a message the server never sent: {m:?}");
                    }
                    if let Some(t) = m.ack {
                        assert!(self.setup.manual_acks);
                        self.tokens.push(t);
                    }
                }
                Event::Connected { .. } => {}
                Event::Disconnected(_)
                | Event::SubscriptionsLost { .. }
                | Event::SubscriptionsRestored { .. } => {}
                other => panic!("unexpected event {other:?}"),
            }
        }
    }

    fn complete(&mut self, id: RequestId) {
        let cmd = self
            .cmds
            .get_mut(&id)
            .unwrap_or_else(|| panic!("completion for unknown {id:?}"));
        cmd.done += 1;
        assert_eq!(cmd.done, 1, "{id:?} ({:?}) completed twice", cmd.kind);
    }

    fn check(&mut self) {
        let pending_pubs = self
            .cmds
            .values()
            .filter(|c| matches!(c.kind, Kind::Publish(_)) && c.done == 0)
            .count();
        assert_eq!(
            self.s.inflight() + self.s.queued(),
            pending_pubs,
            "every publish not completed is in flight or queued"
        );
        assert!(self.s.packet_ids_in_use() <= usize::from(u16::MAX));
        assert_eq!(
            self.s.packet_ids_in_use(),
            self.pub_ids.len() + self.sub_ids.len(),
            "ids held: publishes {:?}, subscriptions {:?}",
            self.pub_ids,
            self.sub_ids
        );
        for id in self.pub_ids.keys().chain(self.sub_ids.iter()) {
            assert!(self.s.is_packet_id_in_use(NonZeroU16::new(*id).unwrap()));
        }
    }

    fn held(&self, id: u16) -> bool {
        self.pub_ids.contains_key(&id) || self.sub_ids.contains(&id)
    }

    /// The server reads one packet the engine wrote.
    fn server_read(&mut self, p: Packet) {
        match p {
            Packet::Connect(c) => {
                assert!(
                    self.srv.connect.is_none() && !self.srv.connected,
                    "CONNECT twice"
                );
                let expiry = c.properties.session_expiry_interval.unwrap_or(0);
                let kept = match self.v {
                    ProtocolVersion::V311 => !c.clean_start,
                    ProtocolVersion::V5 => expiry > 0,
                };
                // A session past its expiry is gone.
                if self.v == ProtocolVersion::V5 {
                    if let Some(at) = self.srv.disconnected_at {
                        if self.now.duration_since(at)
                            > Duration::from_secs(u64::from(self.srv.expiry))
                        {
                            self.discard_session();
                        }
                    }
                }
                self.srv.connect = Some((c.clean_start, kept, expiry));
            }
            Packet::Publish(p) => {
                assert!(self.srv.connected, "PUBLISH before CONNACK");
                let req = *self
                    .payloads
                    .get(&p.payload)
                    .unwrap_or_else(|| panic!("unknown payload {:?}", p.payload));
                assert_eq!(self.cmds[&req].kind, Kind::Publish(p.qos));
                let Some(id) = p.packet_id.map(NonZeroU16::get) else {
                    assert_eq!(p.qos, QoS::AtMostOnce);
                    return;
                };
                if p.dup {
                    assert_eq!(
                        self.pub_ids.get(&id),
                        Some(&req),
                        "a DUP resend keeps its id"
                    );
                } else {
                    assert!(!self.held(id), "packet id {id} used while still held");
                    self.pub_ids.insert(id, req);
                    assert!(
                        self.pub_ids.len() <= self.server_rm,
                        "{} QoS 1/2 publishes unacknowledged, server Receive Maximum {}",
                        self.pub_ids.len(),
                        self.server_rm
                    );
                }
                if !self
                    .srv
                    .pending
                    .iter()
                    .any(|a| matches!(a, Answerable::Pub(i, _) if *i == id))
                {
                    self.srv.pending.push(Answerable::Pub(id, p.qos));
                }
            }
            Packet::PubRel(a) => {
                assert!(self.srv.connected);
                let id = a.packet_id.get();
                if !self
                    .srv
                    .pending
                    .iter()
                    .any(|x| matches!(x, Answerable::Comp(i) if *i == id))
                {
                    self.srv.pending.push(Answerable::Comp(id));
                }
            }
            Packet::Subscribe(s) => {
                assert!(self.srv.connected);
                let id = s.packet_id.get();
                assert!(!self.held(id), "packet id {id} used while still held");
                self.sub_ids.insert(id);
                self.srv.pending.push(Answerable::Sub(id, s.filters.len()));
            }
            Packet::Unsubscribe(u) => {
                assert!(self.srv.connected);
                let id = u.packet_id.get();
                assert!(!self.held(id), "packet id {id} used while still held");
                self.sub_ids.insert(id);
                self.srv
                    .pending
                    .push(Answerable::Unsub(id, u.filters.len()));
            }
            Packet::PubAck(a) => {
                let id = a.packet_id.get();
                if let Some(seq) = self.out_seq(id) {
                    assert_eq!(self.srv.out[&seq].stage, OutStage::AwaitPubAck);
                    self.srv.out.remove(&seq);
                }
            }
            Packet::PubRec(a) => {
                let id = a.packet_id.get();
                if let Some(seq) = self.out_seq(id) {
                    let msg = self.srv.out[&seq].clone();
                    assert_ne!(msg.stage, OutStage::AwaitPubAck, "PUBREC for QoS 1");
                    self.must_deliver.insert(msg.uid);
                    if is_fail(a.reason_code) {
                        assert!(
                            self.setup.manual_acks,
                            "a failing PUBREC without manual acks"
                        );
                        self.srv.out.remove(&seq);
                    } else if let Some(m) = self.srv.out.get_mut(&seq) {
                        m.stage = OutStage::AwaitPubComp;
                    }
                }
            }
            Packet::PubComp(a) => {
                let id = a.packet_id.get();
                if let Some(seq) = self.out_seq(id) {
                    assert_eq!(self.srv.out[&seq].stage, OutStage::AwaitPubComp);
                    assert_eq!(
                        a.reason_code,
                        ReasonCode::SUCCESS,
                        "the client forgot a QoS 2 exchange the server still holds"
                    );
                    self.srv.out.remove(&seq);
                }
            }
            Packet::PingReq(_) => {
                if !self
                    .srv
                    .pending
                    .iter()
                    .any(|a| matches!(a, Answerable::Ping))
                {
                    self.srv.pending.push(Answerable::Ping);
                }
            }
            Packet::Disconnect(_) => {}
            other => panic!("the client sent {other:?}"),
        }
    }

    fn out_seq(&self, id: u16) -> Option<u64> {
        self.srv
            .out
            .iter()
            .find(|(_, m)| m.id == id)
            .map(|(s, _)| *s)
    }

    fn discard_session(&mut self) {
        self.srv.has_session = false;
        self.srv.out.clear();
        self.srv.rec_sent.clear();
    }

    /// The transport is gone (either side closed it).
    fn conn_ended(&mut self) {
        if self.srv.connected && !self.srv.kept_after {
            self.discard_session();
        }
        if self.srv.connected {
            self.srv.disconnected_at = Some(self.now);
        }
        self.srv.connected = false;
        self.srv.connect = None;
        self.srv.pending.clear();
        // SUBSCRIBE/UNSUBSCRIBE in flight go back to the engine's queue.
        self.sub_ids.clear();
    }

    fn send(&mut self, p: &Packet) {
        let buf = packets::encoded(p, self.v);
        self.traffic += 1;
        self.s.handle_data(self.now, &buf);
        self.pump();
    }

    // ------------------------------------------------------------ steps

    fn publish(&mut self, qos: QoS, topic: usize) {
        self.next_payload += 1;
        let payload = Bytes::from(format!("c{}", self.next_payload));
        let cmd = tern_mqtt::session::PublishCommand::new(
            TopicName::new(TOPICS[topic % TOPICS.len()]).unwrap(),
            payload.clone(),
            qos,
        );
        match self.s.publish(self.now, cmd) {
            Ok(req) => {
                self.payloads.insert(payload, req);
                self.cmds.insert(
                    req,
                    Cmd {
                        kind: Kind::Publish(qos),
                        done: 0,
                    },
                );
                // Half the time, as the client's driver does for QoS 0: the
                // completion made at once is taken here, and must then
                // never come as an event too.
                if topic % 2 == 0 && self.s.take_publish_done(req).is_some() {
                    self.complete(req);
                    self.pub_ids.retain(|_, r| *r != req);
                }
            }
            Err(e) => assert!(self.closed, "publish refused: {e}"),
        }
        self.pump();
    }

    fn subscribe(&mut self, filter: usize, qos: QoS, two: bool) {
        let mut filters = vec![(
            TopicFilter::new(FILTERS[filter % FILTERS.len()]).unwrap(),
            SubscriptionOptions::qos(qos),
        )];
        if two {
            filters.push((
                TopicFilter::new(FILTERS[(filter + 1) % FILTERS.len()]).unwrap(),
                SubscriptionOptions::qos(QoS::AtMostOnce),
            ));
        }
        match self
            .s
            .subscribe(self.now, filters, SubscribeProperties::default())
        {
            Ok(req) => {
                self.cmds.insert(
                    req,
                    Cmd {
                        kind: Kind::Subscribe,
                        done: 0,
                    },
                );
            }
            Err(e) => assert!(self.closed, "subscribe refused: {e}"),
        }
        self.pump();
    }

    fn unsubscribe(&mut self, filter: usize) {
        let filters = vec![TopicFilter::new(FILTERS[filter % FILTERS.len()]).unwrap()];
        match self
            .s
            .unsubscribe(self.now, filters, UnsubscribeProperties::default())
        {
            Ok(req) => {
                self.cmds.insert(
                    req,
                    Cmd {
                        kind: Kind::Unsubscribe,
                        done: 0,
                    },
                );
            }
            Err(e) => assert!(self.closed, "unsubscribe refused: {e}"),
        }
        self.pump();
    }

    fn app_ack(&mut self, pick: usize, fail: bool) {
        if self.tokens.is_empty() {
            return;
        }
        let t = self.tokens.remove(pick % self.tokens.len());
        let code = if fail {
            ReasonCode::UNSPECIFIED_ERROR
        } else {
            ReasonCode::SUCCESS
        };
        self.s.ack_with(self.now, t, code);
        self.pump();
    }

    fn answer(&mut self, pick: usize, dup: bool, fail: Option<u8>) {
        if !self.srv.connected || self.srv.pending.is_empty() {
            return;
        }
        let item = self.srv.pending.remove(pick % self.srv.pending.len());
        let v5 = self.v == ProtocolVersion::V5;
        let packet = match item {
            Answerable::Pub(id, qos) => {
                let code = match (v5, fail) {
                    (true, Some(f)) => [
                        ReasonCode::UNSPECIFIED_ERROR,
                        ReasonCode::NOT_AUTHORIZED,
                        ReasonCode::QUOTA_EXCEEDED,
                        ReasonCode::NO_MATCHING_SUBSCRIBERS,
                    ][usize::from(f) % 4],
                    _ => ReasonCode::SUCCESS,
                };
                let a = ack_with(packets::pid(id), code);
                if qos == QoS::AtLeastOnce {
                    Packet::PubAck(a)
                } else {
                    if a.reason_code.is_success() {
                        self.srv.rec_sent.insert(id);
                    }
                    Packet::PubRec(a)
                }
            }
            Answerable::Comp(id) => {
                self.srv.rec_sent.remove(&id);
                pubcomp(packets::pid(id))
            }
            Answerable::Sub(id, n) => {
                self.sub_ids.remove(&id);
                let codes = (0..n)
                    .map(|i| match fail {
                        Some(f) if (usize::from(f) + i) % 2 == 0 => {
                            if v5 && f % 4 == 0 {
                                ReasonCode::NOT_AUTHORIZED
                            } else {
                                ReasonCode::V311_SUBACK_FAILURE
                            }
                        }
                        _ => ReasonCode::GRANTED_QOS_1,
                    })
                    .collect();
                suback(packets::pid(id), codes)
            }
            Answerable::Unsub(id, n) => {
                self.sub_ids.remove(&id);
                let codes = if v5 {
                    (0..n)
                        .map(|_| match fail {
                            Some(f) if f % 2 == 0 => ReasonCode::NO_SUBSCRIPTION_EXISTED,
                            Some(_) => ReasonCode::UNSPECIFIED_ERROR,
                            None => ReasonCode::SUCCESS,
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                unsuback(packets::pid(id), codes)
            }
            Answerable::Ping => pingresp(),
        };
        self.send(&packet);
        if dup && self.srv.connected {
            self.send(&packet);
        }
    }

    fn server_publish(&mut self, qos: QoS) {
        if !self.srv.connected {
            return;
        }
        if qos != QoS::AtMostOnce && self.srv.out.len() >= usize::from(self.setup.receive_maximum) {
            return;
        }
        self.srv.next_uid += 1;
        let uid = self.srv.next_uid;
        let packet_id = if qos == QoS::AtMostOnce {
            None
        } else {
            loop {
                self.srv.next_id = self.srv.next_id.checked_add(1).unwrap_or(1);
                let id = self.srv.next_id;
                if self.out_seq(id).is_none() {
                    break NonZeroU16::new(id);
                }
            }
        };
        if let Some(id) = packet_id {
            self.srv.seq += 1;
            let stage = if qos == QoS::AtLeastOnce {
                OutStage::AwaitPubAck
            } else {
                OutStage::AwaitPubRec
            };
            self.srv.out.insert(
                self.srv.seq,
                OutMsg {
                    id: id.get(),
                    qos,
                    uid,
                    stage,
                },
            );
        }
        self.send(&server_publish(packet_id, qos, uid, false));
    }

    fn resend_qos2(&mut self, pick: usize) {
        if !self.srv.connected {
            return;
        }
        let c: Vec<OutMsg> = self
            .srv
            .out
            .values()
            .filter(|m| m.stage == OutStage::AwaitPubRec)
            .cloned()
            .collect();
        if c.is_empty() {
            return;
        }
        let m = &c[pick % c.len()];
        self.send(&server_publish(NonZeroU16::new(m.id), m.qos, m.uid, true));
    }

    fn release(&mut self, pick: usize) {
        if !self.srv.connected {
            return;
        }
        let c: Vec<u16> = self
            .srv
            .out
            .values()
            .filter(|m| m.stage == OutStage::AwaitPubComp)
            .map(|m| m.id)
            .collect();
        if c.is_empty() {
            return;
        }
        let id = c[pick % c.len()];
        self.send(&pubrel(packets::pid(id)));
    }

    fn drop_transport(&mut self) {
        if self.s.state() != ConnectionState::Idle {
            self.s.handle_transport_closed(self.now);
            self.conn_ended();
        }
        self.pump();
    }

    fn open(&mut self) {
        if self.s.state() != ConnectionState::Idle {
            self.drop_transport();
        }
        let r = self.s.handle_transport_open(self.now);
        if self.closed {
            assert!(r.is_err(), "open after disconnect()");
            return;
        }
        r.unwrap();
        self.pump();
    }

    fn connack(&mut self, ack: &Ack) {
        let Some((clean, kept, expiry)) = self.srv.connect else {
            return;
        };
        if self.s.state() != ConnectionState::Connecting {
            return;
        }
        self.last_ack = ack.clone();
        let v5 = self.v == ProtocolVersion::V5;
        if ack.refuse {
            let code = if v5 {
                ReasonCode::NOT_AUTHORIZED
            } else {
                ReasonCode(5)
            };
            self.srv.connect = None;
            self.send(&connack_packet(connack_refused(code)));
            assert_ne!(self.s.state(), ConnectionState::Connected);
            return;
        }
        if clean || ack.lose_session {
            self.discard_session();
        }
        let session_present = self.srv.has_session;
        if !session_present {
            // The engine forgets (or requeues as new) every publish in flight.
            self.pub_ids.clear();
        }
        self.srv.has_session = true;
        self.srv.kept_after = kept;
        self.srv.expiry = expiry;
        self.srv.connect = None;
        self.srv.connected = true;
        let mut properties = ConnAckProperties::default();
        if v5 {
            properties.receive_maximum = NonZeroU16::new(u16::from(ack.receive_maximum));
            properties.topic_alias_maximum = Some(u16::from(ack.topic_alias_maximum));
            self.server_rm = usize::from(ack.receive_maximum).max(1);
            if ack.receive_maximum == 0 {
                self.server_rm = usize::from(u16::MAX);
            }
        } else {
            self.server_rm = usize::from(u16::MAX);
        }
        let ack = ConnAck {
            session_present,
            ..connack_with(properties)
        };
        self.send(&connack_packet(ack));
        assert_eq!(self.s.state(), ConnectionState::Connected);
        if session_present {
            // The server resends what is unacknowledged, in order [MQTT-4.4.0-1].
            let resend: Vec<OutMsg> = self.srv.out.values().cloned().collect();
            for m in resend {
                if !self.srv.connected {
                    break;
                }
                let p = match m.stage {
                    OutStage::AwaitPubComp => pubrel(packets::pid(m.id)),
                    _ => server_publish(NonZeroU16::new(m.id), m.qos, m.uid, true),
                };
                self.send(&p);
            }
        }
    }

    fn advance(&mut self, secs: u16) {
        let end = self.now + Duration::from_secs(u64::from(secs));
        while let Some(at) = self.s.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.s.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
        self.pump();
    }

    fn disconnect(&mut self) {
        let r = self
            .s
            .disconnect(self.now, ReasonCode::SUCCESS, Default::default());
        assert_eq!(r.is_ok(), !self.closed);
        self.closed = true;
        self.pump();
        assert!(self.s.is_idle(), "disconnect fails everything pending");
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Publish { qos, topic } => {
                self.publish(QoS::from_u8(qos % 3).unwrap(), usize::from(*topic))
            }
            Step::Subscribe { filter, qos, two } => {
                self.subscribe(usize::from(*filter), QoS::from_u8(qos % 3).unwrap(), *two)
            }
            Step::Unsubscribe { filter } => self.unsubscribe(usize::from(*filter)),
            Step::AppAck { pick, fail } => self.app_ack(usize::from(*pick), *fail),
            Step::ServerAnswer { pick, dup, fail } => self.answer(usize::from(*pick), *dup, *fail),
            Step::ServerAnswerAll => {
                while self.srv.connected && !self.srv.pending.is_empty() {
                    self.answer(0, false, None);
                }
            }
            Step::ServerPublish { qos } => self.server_publish(QoS::from_u8(qos % 3).unwrap()),
            Step::ServerResendQos2 { pick } => self.resend_qos2(usize::from(*pick)),
            Step::ServerRelease { pick } => self.release(usize::from(*pick)),
            Step::Drop => self.drop_transport(),
            Step::Open => self.open(),
            Step::ConnAck(a) => self.connack(a),
            Step::Reconnect(a) => {
                self.open();
                self.connack(a);
            }
            Step::Advance { secs } => self.advance(*secs),
            Step::Disconnect => self.disconnect(),
        }
    }

    /// Plays a perfect server until the engine is idle, then checks that
    /// everything completed exactly once.
    fn finish(&mut self) {
        let good = Ack {
            lose_session: false,
            refuse: false,
            ..self.last_ack.clone()
        };
        let mut stalled = 0;
        for _ in 0..500 {
            if self.closed {
                break;
            }
            let before = self.traffic;
            if self.s.state() != ConnectionState::Connected {
                self.open();
                self.connack(&good);
            }
            while self.srv.connected && !self.srv.pending.is_empty() {
                self.answer(0, false, None);
            }
            let rel: Vec<u16> = self
                .srv
                .out
                .values()
                .filter(|m| m.stage == OutStage::AwaitPubComp)
                .map(|m| m.id)
                .collect();
            for id in rel {
                if self.srv.connected {
                    self.send(&Packet::PubRel(PublishAck::new(
                        NonZeroU16::new(id).unwrap(),
                    )));
                }
            }
            for t in std::mem::take(&mut self.tokens) {
                self.s.ack(self.now, t);
                self.pump();
            }
            if self.s.is_idle() && self.srv.out.is_empty() && self.srv.pending.is_empty() {
                break;
            }
            if self.traffic == before {
                // Nothing moves: only a reconnect makes both sides resend.
                stalled += 1;
                assert!(stalled < 5, "the drain is stuck");
                self.drop_transport();
            }
        }
        assert!(
            self.s.is_idle(),
            "engine not idle after the drain: {:?}",
            self.s
        );
        assert_eq!(self.s.inflight() + self.s.queued(), 0);
        for (id, c) in &self.cmds {
            assert_eq!(
                c.done, 1,
                "{id:?} ({:?}) completed {} times",
                c.kind, c.done
            );
        }
        if !self.closed {
            assert!(
                self.srv.out.is_empty(),
                "server messages left: {:?}",
                self.srv.out
            );
            assert!(self.pub_ids.is_empty() && self.sub_ids.is_empty());
        }
        for uid in &self.must_deliver {
            assert_eq!(
                self.delivered.get(uid).copied().unwrap_or(0),
                1,
                "QoS 2 message s{uid} acknowledged by the client but delivered {:?} times",
                self.delivered.get(uid)
            );
        }
    }
}

fn server_publish(packet_id: Option<NonZeroU16>, qos: QoS, uid: u64, dup: bool) -> Packet {
    let payload = Bytes::from(format!("s{uid}"));
    let id = packet_id.map_or(0, NonZeroU16::get);
    publish_full(
        Some("in/x"),
        payload,
        qos,
        id,
        dup,
        PublishProperties::default(),
    )
}

// ---------------------------------------------------------------- strategies

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        prop_oneof![Just(0u16), 5u16..30],
        prop_oneof![Just(2u16), Just(5), Just(u16::MAX)],
    )
        .prop_map(
            |(v5, manual_acks, keep, fail_policy, keep_alive, receive_maximum)| Setup {
                v5,
                manual_acks,
                keep: if v5 { keep } else { keep.min(1) },
                fail_policy,
                keep_alive,
                receive_maximum,
            },
        )
}

fn ack() -> impl Strategy<Value = Ack> {
    (
        prop::bool::weighted(0.15),
        prop_oneof![Just(0u8), 1u8..4, Just(10)],
        prop_oneof![Just(0u8), Just(4)],
        prop::bool::weighted(0.08),
    )
        .prop_map(
            |(lose_session, receive_maximum, topic_alias_maximum, refuse)| Ack {
                lose_session,
                receive_maximum,
                topic_alias_maximum,
                refuse,
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (0u8..3, 0u8..4).prop_map(|(qos, topic)| Step::Publish { qos, topic }),
        3 => (0u8..4, 0u8..3, any::<bool>()).prop_map(|(filter, qos, two)| Step::Subscribe { filter, qos, two }),
        2 => (0u8..4).prop_map(|filter| Step::Unsubscribe { filter }),
        4 => (any::<u8>(), prop::bool::weighted(0.2)).prop_map(|(pick, fail)| Step::AppAck { pick, fail }),
        14 => (any::<u8>(), prop::bool::weighted(0.15), prop::option::weighted(0.2, any::<u8>()))
            .prop_map(|(pick, dup, fail)| Step::ServerAnswer { pick, dup, fail }),
        3 => Just(Step::ServerAnswerAll),
        8 => (0u8..3).prop_map(|qos| Step::ServerPublish { qos }),
        2 => any::<u8>().prop_map(|pick| Step::ServerResendQos2 { pick }),
        4 => any::<u8>().prop_map(|pick| Step::ServerRelease { pick }),
        2 => Just(Step::Drop),
        1 => Just(Step::Open),
        1 => ack().prop_map(Step::ConnAck),
        4 => ack().prop_map(Step::Reconnect),
        3 => prop_oneof![4 => 0u16..8, 1 => 8u16..60, 1 => 60u16..400].prop_map(|secs| Step::Advance { secs }),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    // Start connected most of the time; Disconnect is rare and near the end.
    (
        ack(),
        prop::collection::vec(step(), 1..200),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(first, mut steps, disconnect)| {
            steps.insert(
                0,
                Step::Reconnect(Ack {
                    refuse: false,
                    ..first
                }),
            );
            if disconnect {
                let at = steps.len() * 3 / 4;
                steps.insert(at, Step::Disconnect);
            }
            steps
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        // About 20 s in a debug build; SESSION_MODEL_CASES runs more.
        cases: std::env::var("SESSION_MODEL_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(512),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_the_model(setup in setup(), steps in steps()) {
        let mut m = Model::new(setup);
        for s in &steps {
            m.step(s);
        }
        m.finish();
    }
}

/// A fixed scenario through the same model, so a plain `cargo test` failure
/// is easy to read: QoS 2 both ways across a drop with the session kept.
#[test]
fn model_smoke_qos2_across_reconnect() {
    let setup = Setup {
        v5: true,
        manual_acks: false,
        keep: 2,
        fail_policy: false,
        keep_alive: 10,
        receive_maximum: 5,
    };
    let ack = Ack {
        lose_session: false,
        receive_maximum: 2,
        topic_alias_maximum: 4,
        refuse: false,
    };
    let mut m = Model::new(setup);
    let steps = [
        Step::Reconnect(ack.clone()),
        Step::Publish { qos: 2, topic: 0 },
        Step::Publish { qos: 2, topic: 1 },
        Step::Publish { qos: 1, topic: 1 },
        Step::ServerPublish { qos: 2 },
        Step::ServerAnswer {
            pick: 0,
            dup: true,
            fail: None,
        },
        Step::Drop,
        Step::Reconnect(ack),
        Step::ServerResendQos2 { pick: 0 },
        Step::ServerAnswerAll,
    ];
    for s in &steps {
        m.step(s);
    }
    assert_eq!(m.delivered.get(&1), Some(&1));
    assert!(
        m.cmds.values().all(|c| c.done == 1),
        "the server answered everything, through the reconnect"
    );
    assert_eq!(m.s.inflight(), 0);
    m.finish();
    assert_eq!(m.cmds.len(), 3);
}

/// Found by the model: a QoS 2 message refused by the application while the
/// connection was down was forgotten before its failing PUBREC went out, so
/// the server's DUP resend on the resumed session was delivered again.
#[test]
fn qos2_refused_while_disconnected_is_not_delivered_again() {
    let setup = Setup {
        v5: true,
        manual_acks: true,
        keep: 1,
        fail_policy: false,
        keep_alive: 0,
        receive_maximum: 2,
    };
    let ack = Ack {
        lose_session: false,
        receive_maximum: 0,
        topic_alias_maximum: 0,
        refuse: false,
    };
    let mut m = Model::new(setup);
    for s in [
        Step::Reconnect(ack.clone()),
        Step::ServerPublish { qos: 2 },
        Step::Drop,
        Step::AppAck {
            pick: 0,
            fail: true,
        },
        Step::Reconnect(ack),
    ] {
        m.step(&s);
    }
    assert_eq!(m.delivered.get(&1), Some(&1));
    assert!(
        m.must_deliver.contains(&1),
        "the failing PUBREC answered the resend"
    );
    assert!(m.srv.out.is_empty(), "the refusal ended the exchange");
    m.finish();
}
