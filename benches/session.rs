//! Session-engine throughput: QoS 1 and QoS 2 publish round trips through
//! the sans-IO engine against an in-memory broker double. No I/O, no
//! sockets, no decoding on the server side: the server's acknowledgements
//! are encoded once, before anything is timed, and fed back as bytes.
//!
//! Cases (throughput counted in messages):
//! - `session/qos1/{v311,v5}`: per iteration, publish 1,000 messages of
//!   64 B, drain the transmit buffer, feed 1,000 PUBACKs, drain the events
//!   (one `PublishDone` each).
//! - `session/qos2/{v311,v5}`: publish 1,000, feed 1,000 PUBRECs (the engine
//!   writes 1,000 PUBRELs), feed 1,000 PUBCOMPs, drain events.
//!
//! The engine allocates packet ids 1, 2, 3, … cycling through 65,535, and
//! frees each one when its exchange ends, so the ids of iteration k are a
//! known contiguous run: the acks for every id are encoded once into a
//! buffer holding ids 1..=65,535 twice over, and each iteration feeds the
//! slice for its run. A check before timing decodes what the engine wrote
//! and confirms the ids match.

// The server's packets come from the builders the tests use.
#[path = "../tests/support/packets.rs"]
mod packets;

use bytes::{Bytes, BytesMut};
use criterion::{black_box, Criterion, Throughput};
use std::time::{Duration, Instant};
use tern_mqtt::codec::{decode, encode, MqttString, Packet, PacketId, ProtocolVersion, QoS};
use tern_mqtt::session::{Event, PublishCommand, Session, SessionConfig};
use tern_mqtt::topic::TopicName;

/// Messages per iteration.
const N: usize = 1_000;
/// Payload size.
const PAYLOAD: usize = 64;
/// Every short-form ack (PUBACK, PUBREC, PUBCOMP) is 4 bytes on the wire.
const ACK_LEN: usize = 4;
const IDS: usize = u16::MAX as usize;

/// Acks of one kind for ids 1..=65,535, twice, so any run of N ids is one slice.
struct Acks(Bytes);

impl Acks {
    fn new(make: fn(PacketId) -> Packet, v: ProtocolVersion) -> Self {
        let mut buf = BytesMut::with_capacity(2 * IDS * ACK_LEN);
        for _ in 0..2 {
            for id in 1..=u16::MAX {
                encode(&make(packets::pid(id)), v, &mut buf).unwrap();
            }
        }
        assert_eq!(buf.len(), 2 * IDS * ACK_LEN, "acks use the short form");
        Acks(buf.freeze())
    }

    /// The acks for the N ids starting at the `start`-th allocation (0-based).
    fn run(&self, start: usize) -> &[u8] {
        let from = (start % IDS) * ACK_LEN;
        &self.0[from..from + N * ACK_LEN]
    }
}

/// An engine connected to the double, plus what it takes to drive it.
struct Rig {
    session: Session,
    now: Instant,
    commands: Vec<PublishCommand>,
    /// Packet ids allocated so far.
    allocated: usize,
}

impl Rig {
    fn new(v: ProtocolVersion) -> Self {
        let mut config = SessionConfig::new(MqttString::try_from("bench").unwrap());
        config.version = v;
        config.keep_alive = 0;
        // Aliases would make every PUBLISH after the first smaller; keep the
        // wire the same for both versions.
        config.outgoing_topic_aliases = false;
        let mut session = Session::new(config);
        let now = Instant::now();
        session.handle_transport_open(now).unwrap();
        while session.poll_transmit().is_some() {}
        let connack = packets::encoded(&packets::connack_packet(packets::connack(false)), v);
        session.handle_data(now, &connack);
        assert!(matches!(
            session.poll_event(),
            Some(Event::Connected { .. })
        ));
        let topic = TopicName::new("bench/session/publish").unwrap();
        let payload = Bytes::from(vec![0xA5u8; PAYLOAD]);
        Rig {
            session,
            now,
            commands: Vec::new(),
            allocated: 0,
        }
        .with_commands(topic, payload)
    }

    fn with_commands(mut self, topic: TopicName, payload: Bytes) -> Self {
        self.commands = (0..N)
            .map(|_| PublishCommand::new(topic.clone(), payload.clone(), QoS::AtMostOnce))
            .collect();
        self
    }

    /// Publishes N messages at `qos`; returns the bytes written, discarded.
    fn publish_all(&mut self, qos: QoS) -> usize {
        for cmd in &self.commands {
            let mut cmd = cmd.clone();
            cmd.qos = qos;
            black_box(self.session.publish(self.now, cmd).unwrap());
        }
        self.drain_transmit()
    }

    fn drain_transmit(&mut self) -> usize {
        let mut n = 0;
        while let Some(b) = self.session.poll_transmit() {
            n += b.len();
        }
        n
    }

    /// Counts the completions, checking each succeeded.
    fn drain_done(&mut self) -> usize {
        let mut done = 0;
        while let Some(e) = self.session.poll_event() {
            if let Event::PublishDone { result, .. } = e {
                assert!(result.is_ok());
                done += 1;
            }
        }
        done
    }

    fn qos1_round(&mut self, pubacks: &Acks) {
        self.publish_all(QoS::AtLeastOnce);
        self.session
            .handle_data(self.now, pubacks.run(self.allocated));
        self.allocated += N;
        self.drain_transmit();
        assert_eq!(self.drain_done(), N);
    }

    fn qos2_round(&mut self, pubrecs: &Acks, pubcomps: &Acks) {
        self.publish_all(QoS::ExactlyOnce);
        self.session
            .handle_data(self.now, pubrecs.run(self.allocated));
        black_box(self.drain_transmit());
        self.session
            .handle_data(self.now, pubcomps.run(self.allocated));
        self.allocated += N;
        assert_eq!(self.drain_done(), N);
    }
}

/// Before timing: the engine's ids really are the run the acks assume, and
/// a round trip completes every message.
fn check(v: ProtocolVersion) {
    let mut rig = Rig::new(v);
    let pubacks = Acks::new(packets::puback, v);
    for round in 0..3 {
        for cmd in rig.commands.clone() {
            let mut cmd = cmd;
            cmd.qos = QoS::AtLeastOnce;
            rig.session.publish(rig.now, cmd).unwrap();
        }
        let mut wire = BytesMut::new();
        while let Some(b) = rig.session.poll_transmit() {
            wire.extend_from_slice(&b);
        }
        let mut ids = Vec::new();
        while let Some(p) = decode(&mut wire, v, u32::MAX).unwrap() {
            let Packet::Publish(p) = p else {
                panic!("{p:?}")
            };
            assert_eq!(p.payload.len(), PAYLOAD);
            ids.push(p.packet_id.unwrap().get() as usize);
        }
        let expect: Vec<usize> = (0..N).map(|i| (rig.allocated + i) % IDS + 1).collect();
        assert_eq!(ids, expect, "round {round}");
        rig.session.handle_data(rig.now, pubacks.run(rig.allocated));
        rig.allocated += N;
        assert_eq!(rig.drain_done(), N);
        assert!(rig.session.is_idle());
    }
}

fn bench(c: &mut Criterion) {
    for (name, v) in [("v311", ProtocolVersion::V311), ("v5", ProtocolVersion::V5)] {
        check(v);
        let pubacks = Acks::new(packets::puback, v);
        let pubrecs = Acks::new(packets::pubrec, v);
        let pubcomps = Acks::new(packets::pubcomp, v);

        let mut g = c.benchmark_group("session");
        g.throughput(Throughput::Elements(N as u64));
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(3));
        g.sample_size(30);

        let mut rig = Rig::new(v);
        g.bench_function(format!("qos1/{name}"), |b| {
            b.iter(|| rig.qos1_round(&pubacks))
        });
        let mut rig = Rig::new(v);
        g.bench_function(format!("qos2/{name}"), |b| {
            b.iter(|| rig.qos2_round(&pubrecs, &pubcomps))
        });
        g.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
