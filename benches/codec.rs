//! Codec speed: tern-mqtt beside rumqttc, mqttrs and mqtt-protocol, on the
//! same bytes, measured in interleaved rounds.
//!
//! `cargo bench --bench codec` prints one Markdown table (the README's);
//! `cargo bench --bench codec -- decode/v5` runs only the cases whose name
//! contains `decode/v5`. Without `--bench` (as `cargo test --all-targets`
//! runs it) every contender runs once and is checked, nothing is timed.
//!
//! Each round times every contender of a case once, back to back, in an
//! order that rotates from round to round; a contender's figure is the
//! median over the rounds of its ns per packet, and a ratio is the median
//! of the per-round ratios, which stays steady on a busy machine where the
//! absolute times do not.
//!
//! Cases (1,000 QoS 1 PUBLISH packets, topic `sensors/kitchen/temperature`;
//! in v5 each also carries a Message Expiry Interval and two User
//! Properties):
//! - `decode/{v311,v5}/{16B,1KiB,64KiB}`: all packets decoded from one
//!   buffer. `tern` is the borrowed decoder (`decode_ref`, a `PublishRef`
//!   whose user properties are walked too, so it yields what the others
//!   yield: topic, id, QoS, payload, properties); `tern owned` is `decode`,
//!   which splits the receive buffer into `Bytes`. rumqttc and tern owned
//!   consume a `BytesMut` refilled outside the clock; mqttrs, mqtt-protocol
//!   and tern read the bytes in place. mqttrs does not return a packet's
//!   size, so it advances by a precomputed table of sizes.
//! - `encode/...`: the same packets encoded into a reused buffer.
//! - `mixed/{v311,v5}/{decode,encode}`: PUBLISH 16 B and PUBACK alternating,
//!   with a PINGRESP after every 48 packets.
//! - `read_loop/{v311,v5}/{1KiB,64KiB}`: 1,000 PUBLISH packets of 1 KiB
//!   or 64 KiB payload arrive in 64 KiB chunks; each chunk is appended to one receive buffer and every whole
//!   packet is decoded and the buffer advanced. `plain copy` appends the
//!   same chunks and advances by the same amounts without decoding.
//!
//! Before anything is timed, every library's encoding is checked to be
//! byte-identical to tern's and every decoder to read every packet.

// tern's side of the workloads comes from the builders the tests use.
#[path = "../tests/support/packets.rs"]
mod packets;

use bytes::{Buf, Bytes, BytesMut};
use mqtt::{Decodable, Encodable};
use rumqttc::mqttbytes::v4 as r4;
use rumqttc::v5::mqttbytes::v5 as r5;
use std::hint::black_box;
use std::io::Cursor;
use std::time::{Duration, Instant};
use tern_mqtt::codec::{decode, decode_ref, encode, Packet, PacketRef, PingResp, ProtocolVersion};

/// Packets per batch in every case.
const N: usize = 1_000;
/// Largest packet every decoder accepts here.
const MAX: u32 = 1 << 20;
const TOPIC: &str = "sensors/kitchen/temperature";
/// Size of the chunks the read loop receives.
const CHUNK: usize = 64 * 1024;
/// Rounds per case.
const ROUNDS: usize = 61;
/// Time one contender's turn in a round aims at.
const TURN: Duration = Duration::from_millis(3);

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn pkid(i: usize) -> u16 {
    packets::cycling_id(i).get()
}

/// What every case is built of: the same packets in each library.
#[derive(Clone, Copy, PartialEq)]
enum Workload {
    /// `N` QoS 1 PUBLISH packets with this payload size.
    Publishes(usize),
    /// PUBLISH 16 B and PUBACK alternating, a PINGRESP every 49th packet.
    Mixed,
}

enum Kind {
    Publish,
    PubAck,
    PingResp,
}

impl Workload {
    fn kind(self, i: usize) -> Kind {
        match self {
            Workload::Publishes(_) => Kind::Publish,
            Workload::Mixed if i % 49 == 48 => Kind::PingResp,
            Workload::Mixed if i % 2 == 0 => Kind::Publish,
            Workload::Mixed => Kind::PubAck,
        }
    }

    fn payload(self) -> Bytes {
        match self {
            Workload::Publishes(size) => Bytes::from(vec![b'p'; size]),
            Workload::Mixed => Bytes::from(vec![b'm'; 16]),
        }
    }
}

// ---------------------------------------------------------------- tern

fn tern_packets(w: Workload, v: ProtocolVersion) -> Vec<Packet> {
    let payload = w.payload();
    (0..N)
        .map(|i| match w.kind(i) {
            Kind::Publish => packets::sensor_publish(i, payload.clone(), v),
            Kind::PubAck => packets::puback(packets::cycling_id(i)),
            Kind::PingResp => Packet::PingResp(PingResp),
        })
        .collect()
}

fn tern_encode_all(packets: &[Packet], v: ProtocolVersion, out: &mut BytesMut) {
    for p in packets {
        encode(p, v, out).unwrap();
    }
}

/// Decodes every whole packet in `buf` with `decode`; returns the count.
fn tern_decode_all(buf: &mut BytesMut, v: ProtocolVersion) -> usize {
    let mut n = 0;
    while let Some(p) = decode(buf, v, MAX).unwrap() {
        black_box(&p);
        n += 1;
    }
    n
}

/// Decodes every whole packet at the front of `wire` with `decode_ref`,
/// reading every field (user properties included); returns the count and
/// the bytes consumed.
fn tern_ref_decode_all(wire: &[u8], v: ProtocolVersion) -> (usize, usize) {
    let (mut n, mut at) = (0, 0);
    while let Some((p, len)) = decode_ref(wire.get(at..).unwrap(), v, MAX).unwrap() {
        if let PacketRef::Publish(p) = &p {
            for user in p.properties.user_properties() {
                black_box(user);
            }
        }
        black_box(&p);
        n += 1;
        at += len;
    }
    (n, at)
}

// ------------------------------------------------------------- rumqttc

fn r4_packets(w: Workload) -> Vec<r4::Packet> {
    let payload = w.payload();
    (0..N)
        .map(|i| match w.kind(i) {
            Kind::Publish => r4::Packet::Publish(r4::Publish {
                dup: false,
                qos: rumqttc::mqttbytes::QoS::AtLeastOnce,
                retain: false,
                topic: TOPIC.to_string(),
                pkid: pkid(i),
                payload: payload.clone(),
            }),
            Kind::PubAck => r4::Packet::PubAck(r4::PubAck::new(pkid(i))),
            Kind::PingResp => r4::Packet::PingResp,
        })
        .collect()
}

fn r5_publish(i: usize, payload: &Bytes) -> r5::Packet {
    let properties = r5::PublishProperties {
        message_expiry_interval: Some(3_600),
        user_properties: vec![
            ("origin".to_string(), "bench".to_string()),
            ("trace-id".to_string(), "4bf92f3577b34da6".to_string()),
        ],
        ..Default::default()
    };
    r5::Packet::Publish(r5::Publish {
        dup: false,
        qos: rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        retain: false,
        topic: Bytes::from_static(TOPIC.as_bytes()),
        pkid: pkid(i),
        payload: payload.clone(),
        properties: Some(properties),
    })
}

fn r5_packets(w: Workload) -> Vec<r5::Packet> {
    let payload = w.payload();
    (0..N)
        .map(|i| match w.kind(i) {
            Kind::Publish => r5_publish(i, &payload),
            Kind::PubAck => r5::Packet::PubAck(r5::PubAck::new(pkid(i), None)),
            Kind::PingResp => r5::Packet::PingResp(r5::PingResp),
        })
        .collect()
}

/// rumqttc's own codec calls `Packet::write(dst, max_outgoing_size)`; so
/// does this.
fn r4_encode_all(packets: &[r4::Packet], out: &mut BytesMut) {
    for p in packets {
        p.write(out, MAX as usize).unwrap();
    }
}

fn r5_encode_all(packets: &[r5::Packet], out: &mut BytesMut) {
    for p in packets {
        p.write(out, Some(MAX)).unwrap();
    }
}

/// Decodes every whole packet in `buf` as rumqttc's `Codec::decode` does
/// (`Packet::read`, `InsufficientBytes` meaning "wait for more").
fn r4_decode_all(buf: &mut BytesMut) -> usize {
    let mut n = 0;
    loop {
        match r4::Packet::read(buf, MAX as usize) {
            Ok(p) => {
                black_box(&p);
                n += 1;
            }
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => return n,
            Err(e) => panic!("rumqttc v4 decode: {e:?}"),
        }
    }
}

fn r5_decode_all(buf: &mut BytesMut) -> usize {
    let mut n = 0;
    loop {
        match r5::Packet::read(buf, Some(MAX)) {
            Ok(p) => {
                black_box(&p);
                n += 1;
            }
            Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => return n,
            Err(e) => panic!("rumqttc v5 decode: {e:?}"),
        }
    }
}

fn rumqttc_decode_all(buf: &mut BytesMut, v: ProtocolVersion) -> usize {
    match v {
        V311 => r4_decode_all(buf),
        V5 => r5_decode_all(buf),
    }
}

// -------------------------------------------------- mqttrs (3.1.1 only)

fn mqttrs_packets<'a>(w: Workload, payload: &'a [u8]) -> Vec<mqttrs::Packet<'a>> {
    let pid = |i| mqttrs::Pid::try_from(pkid(i)).unwrap();
    (0..N)
        .map(|i| match w.kind(i) {
            Kind::Publish => mqttrs::Packet::Publish(mqttrs::Publish {
                dup: false,
                qospid: mqttrs::QosPid::AtLeastOnce(pid(i)),
                retain: false,
                topic_name: TOPIC,
                payload,
            }),
            Kind::PubAck => mqttrs::Packet::Puback(pid(i)),
            Kind::PingResp => mqttrs::Packet::Pingresp,
        })
        .collect()
}

/// mqttrs writes into a `&mut [u8]` it is given; `out` is as long as the
/// whole encoding.
fn mqttrs_encode_all(packets: &[mqttrs::Packet<'_>], out: &mut [u8]) -> usize {
    let mut at = 0;
    for p in packets {
        at += mqttrs::encode_slice(p, out.get_mut(at..).unwrap()).unwrap();
    }
    at
}

/// `decode_slice` does not say how many bytes a packet took: the loop
/// advances by the known sizes.
fn mqttrs_decode_all(wire: &[u8], sizes: &[usize]) -> usize {
    let mut at = 0;
    for size in sizes {
        let p = mqttrs::decode_slice(wire.get(at..).unwrap())
            .unwrap()
            .unwrap();
        black_box(&p);
        at += size;
    }
    at
}

// ------------------------------------------- mqtt-protocol (3.1.1 only)

fn mqtt_protocol_packets(w: Workload, payload: &[u8]) -> Vec<mqtt::packet::VariablePacket> {
    use mqtt::packet::{PingrespPacket, PubackPacket, PublishPacket, QoSWithPacketIdentifier};
    let topic = mqtt::TopicName::new(TOPIC).unwrap();
    (0..N)
        .map(|i| match w.kind(i) {
            Kind::Publish => PublishPacket::new(
                topic.clone(),
                QoSWithPacketIdentifier::Level1(pkid(i)),
                payload.to_vec(),
            )
            .into(),
            Kind::PubAck => PubackPacket::new(pkid(i)).into(),
            Kind::PingResp => PingrespPacket::new().into(),
        })
        .collect()
}

fn mqtt_protocol_encode_all(packets: &[mqtt::packet::VariablePacket], out: &mut Vec<u8>) {
    use mqtt::packet::VariablePacket as P;
    for p in packets {
        match p {
            P::PublishPacket(p) => p.encode(out),
            P::PubackPacket(p) => p.encode(out),
            P::PingrespPacket(p) => p.encode(out),
            other => panic!("not in the workload: {other:?}"),
        }
        .unwrap();
    }
}

fn mqtt_protocol_decode_all(wire: &[u8]) -> usize {
    let mut reader = Cursor::new(wire);
    let mut n = 0;
    while (reader.position() as usize) < wire.len() {
        let p = mqtt::packet::VariablePacket::decode(&mut reader).unwrap();
        black_box(&p);
        n += 1;
    }
    n
}

// ------------------------------------------------------------- harness

/// One library's side of a case: runs `iters` batches of `N` packets and
/// returns the time they took on the clock (setup outside it).
struct Contender<'a> {
    name: &'static str,
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
}

fn contender<'a>(name: &'static str, run: impl FnMut(u64) -> Duration + 'a) -> Contender<'a> {
    Contender {
        name,
        run: Box::new(run),
    }
}

/// The columns of the table, in order; a case fills those it has.
const COLUMNS: [&str; 6] = [
    "tern",
    "tern owned",
    "rumqttc",
    "mqttrs",
    "mqtt-protocol",
    "plain copy",
];

/// A case's medians: ns per packet of each contender, and the median over
/// rounds of `other / tern` for each other contender.
struct Row {
    name: String,
    ns: Vec<(&'static str, f64)>,
    ratio: Vec<(&'static str, f64)>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Times `contenders` in interleaved rounds; the first is the reference
/// (tern) of the ratios.
fn measure(name: &str, contenders: &mut [Contender<'_>]) -> Row {
    // Calibrate: batches per turn so each turn takes about `TURN`.
    let iters: Vec<u64> = contenders
        .iter_mut()
        .map(|c| {
            (c.run)(1);
            let once = (c.run)(3).as_secs_f64() / 3.0;
            ((TURN.as_secs_f64() / once.max(1e-9)) as u64).clamp(1, 10_000)
        })
        .collect();
    let k = contenders.len();
    let mut per_round: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); k];
    for round in 0..ROUNDS {
        for j in 0..k {
            let c = (round + j) % k;
            let took = (contenders[c].run)(iters[c]);
            per_round[c].push(took.as_secs_f64() * 1e9 / (iters[c] as f64 * N as f64));
        }
    }
    let ns = contenders
        .iter()
        .zip(&per_round)
        .map(|(c, xs)| (c.name, median(xs.clone())))
        .collect();
    let ratio = contenders
        .iter()
        .zip(&per_round)
        .skip(1)
        .map(|(c, xs)| {
            let r = xs.iter().zip(&per_round[0]).map(|(o, t)| o / t).collect();
            (c.name, median(r))
        })
        .collect();
    Row {
        name: name.to_string(),
        ns,
        ratio,
    }
}

/// `--bench` (cargo bench) measures; without it (cargo test) every
/// contender runs once.
struct Mode {
    bench: bool,
    filter: Option<String>,
}

impl Mode {
    fn from_args() -> Mode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Mode {
            bench: args.iter().any(|a| a == "--bench"),
            filter: args.into_iter().find(|a| !a.starts_with("--")),
        }
    }

    /// Whether the case `name` passes the filter.
    fn wants(&self, name: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| name.contains(f.as_str()))
    }

    fn run(&self, name: &str, contenders: &mut [Contender<'_>], rows: &mut Vec<Row>) {
        if !self.wants(name) {
            return;
        }
        if !self.bench {
            for c in contenders.iter_mut() {
                (c.run)(1);
            }
            eprintln!("{name}: {} contenders checked", contenders.len());
            return;
        }
        // For a profiler: `TERN_BENCH_ONLY=rumqttc` times that contender
        // alone.
        if let Ok(only) = std::env::var("TERN_BENCH_ONLY") {
            let mut alone: Vec<_> = contenders.iter_mut().filter(|c| c.name == only).collect();
            for c in &mut alone {
                (c.run)(2_000);
            }
            return;
        }
        let row = measure(name, contenders);
        eprintln!("{}", row_line(&row));
        rows.push(row);
    }
}

fn row_line(row: &Row) -> String {
    let cell = |xs: &[(&str, f64)], col: &str, fmt: fn(f64) -> String| {
        xs.iter()
            .find(|(n, _)| *n == col)
            .map_or("-".to_string(), |(_, x)| fmt(*x))
    };
    let ns: Vec<String> = COLUMNS
        .iter()
        .map(|c| cell(&row.ns, c, |x| format!("{x:.1}")))
        .collect();
    let ratios: Vec<String> = COLUMNS[1..]
        .iter()
        .map(|c| cell(&row.ratio, c, |x| format!("{x:.2}")))
        .collect();
    format!(
        "| {} | {} | {} |",
        row.name,
        ns.join(" | "),
        ratios.join(" | ")
    )
}

fn print_table(rows: &[Row]) {
    println!(
        "ns per packet (median of {ROUNDS} interleaved rounds); `x NAME` is NAME's time over \
         tern's, the median of per-round ratios (above 1: tern is faster; for plain copy, \
         below 1 is the decoder's cost over moving the bytes)"
    );
    println!();
    let heads: Vec<String> = COLUMNS[1..].iter().map(|c| format!("x {c}")).collect();
    println!("| case | {} | {} |", COLUMNS.join(" | "), heads.join(" | "));
    println!("|---|{}", "---|".repeat(2 * COLUMNS.len() - 1));
    for row in rows {
        println!("{}", row_line(row));
    }
}

// --------------------------------------------------------------- timing

/// Times `decode_all` over a buffer holding `wire`, refilled before each
/// batch outside the clock. The buffer is reused, so the refill neither
/// allocates nor faults pages in after the first batch.
fn time_consuming(
    wire: &[u8],
    iters: u64,
    mut decode_all: impl FnMut(&mut BytesMut) -> usize,
) -> Duration {
    let mut buf = BytesMut::with_capacity(wire.len());
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        buf.clear();
        buf.reserve(wire.len());
        buf.extend_from_slice(wire);
        let start = Instant::now();
        let n = decode_all(&mut buf);
        total += start.elapsed();
        assert!(n == N && buf.is_empty());
    }
    total
}

/// Times `decode_all` reading `wire` in place.
fn time_in_place(iters: u64, mut decode_all: impl FnMut() -> usize) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(decode_all());
    }
    start.elapsed()
}

/// Times `encode_all` into one reused output buffer.
fn time_encode<B>(iters: u64, out: &mut B, mut encode_all: impl FnMut(&mut B)) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        encode_all(out);
        black_box(&*out);
    }
    start.elapsed()
}

fn encoded(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut out = BytesMut::new();
    f(&mut out);
    out.to_vec()
}

// ---------------------------------------------------------------- cases

/// One workload in every library that speaks its version, checked to
/// encode to the same bytes.
struct Set {
    v: ProtocolVersion,
    tern: Vec<Packet>,
    r4: Vec<r4::Packet>,
    r5: Vec<r5::Packet>,
    payload: Bytes,
    mqtt_protocol: Vec<mqtt::packet::VariablePacket>,
    wire: Vec<u8>,
    /// Each packet's size on the wire.
    sizes: Vec<usize>,
}

impl Set {
    fn new(w: Workload, v: ProtocolVersion) -> Set {
        let tern = tern_packets(w, v);
        let wire = encoded(|o| tern_encode_all(&tern, v, o));
        let sizes = tern.iter().map(|p| p.encoded_len(v).unwrap()).collect();
        let (r4, r5) = match v {
            V311 => (r4_packets(w), vec![]),
            V5 => (vec![], r5_packets(w)),
        };
        let payload = w.payload();
        let mqtt_protocol = match v {
            V311 => mqtt_protocol_packets(w, &payload),
            V5 => vec![],
        };
        let set = Set {
            v,
            tern,
            r4,
            r5,
            payload,
            mqtt_protocol,
            wire,
            sizes,
        };
        set.check();
        set
    }

    /// Every library encodes the workload to tern's bytes, and every
    /// decoder reads all of it.
    fn check(&self) {
        let v = self.v;
        let theirs = encoded(|o| self.rumqttc_encode(o));
        assert!(self.wire == theirs, "rumqttc encodes {v:?} differently");
        assert_eq!(
            rumqttc_decode_all(&mut BytesMut::from(&self.wire[..]), v),
            N
        );
        assert_eq!(tern_decode_all(&mut BytesMut::from(&self.wire[..]), v), N);
        assert_eq!(tern_ref_decode_all(&self.wire, v), (N, self.wire.len()));
        if v == V311 {
            let mut out = vec![0; self.wire.len()];
            let n = mqttrs_encode_all(&self.mqttrs(), &mut out);
            assert!(
                n == out.len() && out == self.wire,
                "mqttrs encodes differently"
            );
            let mut out = Vec::new();
            mqtt_protocol_encode_all(&self.mqtt_protocol, &mut out);
            assert!(out == self.wire, "mqtt-protocol encodes differently");
            assert_eq!(mqttrs_decode_all(&self.wire, &self.sizes), self.wire.len());
            assert_eq!(mqtt_protocol_decode_all(&self.wire), N);
        }
    }

    /// mqttrs's packets borrow their payload, so they are made on demand.
    fn mqttrs(&self) -> Vec<mqttrs::Packet<'_>> {
        let w = match self.tern.get(1) {
            Some(Packet::PubAck(_)) => Workload::Mixed,
            _ => Workload::Publishes(self.payload.len()),
        };
        mqttrs_packets(w, &self.payload)
    }

    fn rumqttc_encode(&self, out: &mut BytesMut) {
        match self.v {
            V311 => r4_encode_all(&self.r4, out),
            V5 => r5_encode_all(&self.r5, out),
        }
    }

    fn decode_case(&self, mode: &Mode, name: &str, rows: &mut Vec<Row>) {
        let (v, wire) = (self.v, &self.wire[..]);
        let mut cs = vec![
            contender("tern", move |it| {
                time_in_place(it, || tern_ref_decode_all(wire, v).0)
            }),
            contender("tern owned", move |it| {
                time_consuming(wire, it, |b| tern_decode_all(b, v))
            }),
            contender("rumqttc", move |it| {
                time_consuming(wire, it, |b| rumqttc_decode_all(b, v))
            }),
        ];
        if v == V311 {
            let sizes = &self.sizes[..];
            cs.push(contender("mqttrs", move |it| {
                time_in_place(it, || mqttrs_decode_all(wire, sizes))
            }));
            cs.push(contender("mqtt-protocol", move |it| {
                time_in_place(it, || mqtt_protocol_decode_all(wire))
            }));
        }
        mode.run(name, &mut cs, rows);
    }

    fn encode_case(&self, mode: &Mode, name: &str, rows: &mut Vec<Row>) {
        let v = self.v;
        let mut cs = vec![
            contender("tern", move |it| {
                time_encode(it, &mut BytesMut::new(), |o| {
                    o.clear();
                    tern_encode_all(&self.tern, v, o)
                })
            }),
            contender("rumqttc", move |it| {
                time_encode(it, &mut BytesMut::new(), |o| {
                    o.clear();
                    self.rumqttc_encode(o)
                })
            }),
        ];
        if v == V311 {
            let mqttrs = self.mqttrs();
            let len = self.wire.len();
            cs.push(contender("mqttrs", move |it| {
                time_encode(it, &mut vec![0u8; len], |o| {
                    black_box(mqttrs_encode_all(&mqttrs, o));
                })
            }));
            cs.push(contender("mqtt-protocol", move |it| {
                time_encode(it, &mut Vec::new(), |o| {
                    o.clear();
                    mqtt_protocol_encode_all(&self.mqtt_protocol, o)
                })
            }));
        }
        mode.run(name, &mut cs, rows);
    }

    /// The read loop: `wire` arriving in 64 KiB chunks.
    fn read_loop_case(&self, mode: &Mode, name: &str, rows: &mut Vec<Row>) {
        let v = self.v;
        let chunks: Vec<&[u8]> = self.wire.chunks(CHUNK).collect();
        // How far the decoder advances after each chunk: the plain copy
        // advances by exactly these amounts.
        let mut advances = Vec::with_capacity(chunks.len());
        let mut probe = BytesMut::new();
        for chunk in &chunks {
            probe.extend_from_slice(chunk);
            let before = probe.len();
            tern_decode_all(&mut probe, v);
            advances.push(before - probe.len());
        }
        assert!(probe.is_empty());
        let chunks = &chunks[..];
        let advances = &advances[..];
        let mut cs = vec![
            contender("tern", move |it| {
                time_read_loop(chunks, it, |b| {
                    let (n, used) = tern_ref_decode_all(b, v);
                    b.advance(used);
                    n
                })
            }),
            contender("tern owned", move |it| {
                time_read_loop(chunks, it, |b| tern_decode_all(b, v))
            }),
            contender("rumqttc", move |it| {
                time_read_loop(chunks, it, |b| rumqttc_decode_all(b, v))
            }),
            contender("plain copy", move |it| {
                let mut buf = BytesMut::with_capacity(2 * CHUNK);
                let start = Instant::now();
                for _ in 0..it {
                    for (chunk, adv) in chunks.iter().zip(advances) {
                        buf.extend_from_slice(chunk);
                        black_box(&buf[..]);
                        buf.advance(*adv);
                    }
                    assert!(buf.is_empty());
                }
                start.elapsed()
            }),
        ];
        mode.run(name, &mut cs, rows);
    }
}

/// One pass of the read loop per batch: append each chunk, decode every
/// whole packet.
fn time_read_loop(
    chunks: &[&[u8]],
    iters: u64,
    mut decode_whole: impl FnMut(&mut BytesMut) -> usize,
) -> Duration {
    let mut buf = BytesMut::with_capacity(2 * CHUNK);
    let start = Instant::now();
    for _ in 0..iters {
        let mut n = 0;
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            n += decode_whole(&mut buf);
        }
        assert_eq!(n, N);
    }
    start.elapsed()
}

fn vname(v: ProtocolVersion) -> &'static str {
    match v {
        V311 => "v311",
        V5 => "v5",
    }
}

fn main() {
    let mode = Mode::from_args();
    let mut rows = Vec::new();
    for v in [V311, V5] {
        for (size, label) in [(16, "16B"), (1024, "1KiB"), (64 * 1024, "64KiB")] {
            let decode = format!("decode/{}/{label}", vname(v));
            let encode = format!("encode/{}/{label}", vname(v));
            if mode.wants(&decode) || mode.wants(&encode) {
                let set = Set::new(Workload::Publishes(size), v);
                set.decode_case(&mode, &decode, &mut rows);
                set.encode_case(&mode, &encode, &mut rows);
            }
        }
    }
    for v in [V311, V5] {
        let decode = format!("mixed/{}/decode", vname(v));
        let encode = format!("mixed/{}/encode", vname(v));
        if mode.wants(&decode) || mode.wants(&encode) {
            let set = Set::new(Workload::Mixed, v);
            set.decode_case(&mode, &decode, &mut rows);
            set.encode_case(&mode, &encode, &mut rows);
        }
    }
    for v in [V311, V5] {
        for (size, label) in [(1024, "1KiB"), (64 * 1024, "64KiB")] {
            let name = format!("read_loop/{}/{label}", vname(v));
            if mode.wants(&name) {
                let set = Set::new(Workload::Publishes(size), v);
                set.read_loop_case(&mode, &name, &mut rows);
            }
        }
    }
    if mode.bench {
        print_table(&rows);
    }
}
