//! Codec throughput: tern-mqtt beside rumqttc's own codec, on the same bytes.
//!
//! Every case is registered twice: once in a `pkts/...` group whose
//! throughput is counted in packets (elements), once in a `bytes/...` group
//! counted in wire bytes. The `bytes/...` groups run shorter; they exist so
//! that criterion prints both units.
//!
//! Cases:
//! - `decode/{v311,v5}/{16B,1KiB,64KiB}`: 1,000 back-to-back QoS 1 PUBLISH
//!   packets in one buffer, decoded and dropped. v5 packets carry a Message
//!   Expiry Interval and two User Properties. Only the decoding is timed:
//!   the buffer is refilled outside the clock.
//! - `encode/...`: the same 1,000 packets encoded into a reused buffer.
//! - `mixed/{v311,v5}/{decode,encode}`: PUBLISH QoS 1 16 B and PUBACK
//!   alternating, with a PINGRESP after every 48 packets.
//! - `read_loop/...`: a stream of 1,000 1 KiB PUBLISH packets arrives in
//!   64 KiB chunks; each chunk is appended to one receive buffer and every
//!   whole packet is decoded and dropped. `plain_copy` appends the same
//!   chunks and advances the buffer by the same amounts without decoding,
//!   so `read_loop / plain_copy` is the decoder's cost over moving the bytes.
//!
//! Before anything is timed, both libraries' encodings are checked to be
//! byte-identical and both decoders are checked to read every packet.

// tern's side of the workloads comes from the builders the tests use.
#[path = "../tests/support/packets.rs"]
mod packets;

use bytes::{Buf, Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{black_box, BenchmarkGroup, Criterion, SamplingMode, Throughput};
use rumqttc::mqttbytes::v4 as r4;
use rumqttc::v5::mqttbytes::v5 as r5;
use std::time::{Duration, Instant};
use tern_mqtt::codec::{decode, encode, Packet, PingResp, ProtocolVersion};

/// Packets per iteration in the decode, encode and mixed cases.
const N: usize = 1_000;
/// Largest packet either decoder accepts here.
const MAX: u32 = 1 << 20;
const TOPIC: &str = "sensors/kitchen/temperature";
/// Size of the chunks the read loop receives.
const CHUNK: usize = 64 * 1024;

fn pkid(i: usize) -> u16 {
    packets::cycling_id(i).get()
}

// ---------------------------------------------------------------- tern side

fn tern_publish(i: usize, payload: &Bytes, v: ProtocolVersion) -> Packet {
    packets::sensor_publish(i, payload.clone(), v)
}

/// The mixed stream: PUBLISH 16 B and PUBACK alternating, a PINGRESP after
/// every 48 packets; `N` packets in all.
fn tern_mixed(v: ProtocolVersion) -> Vec<Packet> {
    let payload = Bytes::from(vec![b'm'; 16]);
    (0..N)
        .map(|i| {
            if i % 49 == 48 {
                Packet::PingResp(PingResp)
            } else if i % 2 == 0 {
                tern_publish(i, &payload, v)
            } else {
                packets::puback(packets::cycling_id(i))
            }
        })
        .collect()
}

fn tern_encode_all(packets: &[Packet], v: ProtocolVersion, out: &mut BytesMut) {
    for p in packets {
        encode(p, v, out).unwrap();
    }
}

/// Decodes every whole packet in `buf`, dropping them; returns the count.
fn tern_decode_all(buf: &mut BytesMut, v: ProtocolVersion) -> usize {
    let mut n = 0;
    while let Some(p) = decode(buf, v, MAX).unwrap() {
        black_box(&p);
        n += 1;
    }
    n
}

// ------------------------------------------------------------- rumqttc side

fn r4_publish(i: usize, payload: &Bytes) -> r4::Packet {
    r4::Packet::Publish(r4::Publish {
        dup: false,
        qos: rumqttc::mqttbytes::QoS::AtLeastOnce,
        retain: false,
        topic: TOPIC.to_string(),
        pkid: pkid(i),
        payload: payload.clone(),
    })
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

fn r4_mixed() -> Vec<r4::Packet> {
    let payload = Bytes::from(vec![b'm'; 16]);
    (0..N)
        .map(|i| {
            if i % 49 == 48 {
                r4::Packet::PingResp
            } else if i % 2 == 0 {
                r4_publish(i, &payload)
            } else {
                r4::Packet::PubAck(r4::PubAck::new(pkid(i)))
            }
        })
        .collect()
}

fn r5_mixed() -> Vec<r5::Packet> {
    let payload = Bytes::from(vec![b'm'; 16]);
    (0..N)
        .map(|i| {
            if i % 49 == 48 {
                r5::Packet::PingResp(r5::PingResp)
            } else if i % 2 == 0 {
                r5_publish(i, &payload)
            } else {
                r5::Packet::PubAck(r5::PubAck::new(pkid(i), None))
            }
        })
        .collect()
}

/// rumqttc's own codec (`rumqttc::mqttbytes::v4::Codec`) calls
/// `Packet::write(dst, max_outgoing_size)`; so does this.
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

// ---------------------------------------------------------------- harness

/// Time budget of one group.
#[derive(Clone, Copy)]
struct Budget {
    warm_up: Duration,
    measure: Duration,
    /// Flat sampling for cases whose untimed refill dwarfs the timed work.
    flat: bool,
}

const PKTS: Budget = Budget {
    warm_up: Duration::from_millis(500),
    measure: Duration::from_secs(2),
    flat: false,
};
const BYTES: Budget = Budget {
    warm_up: Duration::from_millis(300),
    measure: Duration::from_secs(1),
    flat: false,
};

fn group<'c>(
    c: &'c mut Criterion,
    name: &str,
    throughput: Throughput,
    budget: Budget,
) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(throughput)
        .warm_up_time(budget.warm_up)
        .measurement_time(budget.measure)
        .sample_size(20);
    if budget.flat {
        g.sampling_mode(SamplingMode::Flat).sample_size(10);
    }
    g
}

/// Runs `cases` twice: per packet and per byte.
fn both(
    c: &mut Criterion,
    name: &str,
    packets: u64,
    bytes: u64,
    budgets: (Budget, Budget),
    cases: &mut [(&str, &mut dyn FnMut(u64) -> Duration)],
) {
    for (unit, throughput, budget) in [
        ("pkts", Throughput::Elements(packets), budgets.0),
        ("bytes", Throughput::Bytes(bytes), budgets.1),
    ] {
        let mut g = group(c, &format!("{unit}/{name}"), throughput, budget);
        for (id, f) in cases.iter_mut() {
            g.bench_function(*id, |b| b.iter_custom(&mut **f));
        }
        g.finish();
    }
}

/// Times `decode_all` over a buffer holding `wire`, refilled before each
/// iteration outside the clock. The buffer is reused, so the refill neither
/// allocates nor faults pages in after the first iteration.
fn time_decode(
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
        assert!(n > 0 && buf.is_empty());
    }
    total
}

/// Times `encode_all` into one reused output buffer.
fn time_encode(iters: u64, mut encode_all: impl FnMut(&mut BytesMut)) -> Duration {
    let mut out = BytesMut::new();
    let start = Instant::now();
    for _ in 0..iters {
        out.clear();
        encode_all(&mut out);
        black_box(&out);
    }
    start.elapsed()
}

fn encoded(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut out = BytesMut::new();
    f(&mut out);
    out.to_vec()
}

/// One version's packets in both libraries, checked to encode identically.
struct Set {
    tern: Vec<Packet>,
    r4: Vec<r4::Packet>,
    r5: Vec<r5::Packet>,
    v: ProtocolVersion,
    wire: Vec<u8>,
}

impl Set {
    fn new(v: ProtocolVersion, tern: Vec<Packet>, r4: Vec<r4::Packet>, r5: Vec<r5::Packet>) -> Set {
        let wire = encoded(|o| tern_encode_all(&tern, v, o));
        let theirs = match v {
            ProtocolVersion::V311 => encoded(|o| r4_encode_all(&r4, o)),
            ProtocolVersion::V5 => encoded(|o| r5_encode_all(&r5, o)),
        };
        assert!(wire == theirs, "tern and rumqttc encode {v:?} differently");
        let set = Set {
            tern,
            r4,
            r5,
            v,
            wire,
        };
        let mut buf = BytesMut::from(&set.wire[..]);
        assert_eq!(set.decode_theirs(&mut buf), set.tern.len());
        let mut buf = BytesMut::from(&set.wire[..]);
        assert_eq!(tern_decode_all(&mut buf, v), set.tern.len());
        set
    }

    fn publishes(v: ProtocolVersion, size: usize) -> Set {
        let payload = Bytes::from(vec![b'p'; size]);
        let tern = (0..N).map(|i| tern_publish(i, &payload, v)).collect();
        let (r4, r5) = match v {
            ProtocolVersion::V311 => ((0..N).map(|i| r4_publish(i, &payload)).collect(), vec![]),
            ProtocolVersion::V5 => (vec![], (0..N).map(|i| r5_publish(i, &payload)).collect()),
        };
        Set::new(v, tern, r4, r5)
    }

    fn mixed(v: ProtocolVersion) -> Set {
        match v {
            ProtocolVersion::V311 => Set::new(v, tern_mixed(v), r4_mixed(), vec![]),
            ProtocolVersion::V5 => Set::new(v, tern_mixed(v), vec![], r5_mixed()),
        }
    }

    fn decode_theirs(&self, buf: &mut BytesMut) -> usize {
        match self.v {
            ProtocolVersion::V311 => r4_decode_all(buf),
            ProtocolVersion::V5 => r5_decode_all(buf),
        }
    }

    fn encode_theirs(&self, out: &mut BytesMut) {
        match self.v {
            ProtocolVersion::V311 => r4_encode_all(&self.r4, out),
            ProtocolVersion::V5 => r5_encode_all(&self.r5, out),
        }
    }

    fn bench_decode(&self, c: &mut Criterion, name: &str, budgets: (Budget, Budget)) {
        let (v, wire) = (self.v, &self.wire[..]);
        both(
            c,
            name,
            self.tern.len() as u64,
            wire.len() as u64,
            budgets,
            &mut [
                ("tern", &mut |it| {
                    time_decode(wire, it, |b| tern_decode_all(b, v))
                }),
                ("rumqttc", &mut |it| {
                    time_decode(wire, it, |b| self.decode_theirs(b))
                }),
            ],
        );
    }

    fn bench_encode(&self, c: &mut Criterion, name: &str, budgets: (Budget, Budget)) {
        let v = self.v;
        both(
            c,
            name,
            self.tern.len() as u64,
            self.wire.len() as u64,
            budgets,
            &mut [
                ("tern", &mut |it| {
                    time_encode(it, |o| tern_encode_all(&self.tern, v, o))
                }),
                ("rumqttc", &mut |it| {
                    time_encode(it, |o| self.encode_theirs(o))
                }),
            ],
        );
    }
}

fn vname(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::V311 => "v311",
        ProtocolVersion::V5 => "v5",
    }
}

fn publish_cases(c: &mut Criterion) {
    // 64 KiB: the timed decode is ~1,000 header parses, the untimed refill
    // a 64 MiB copy; keep the clock budget small so the run stays short.
    let big = Budget {
        warm_up: Duration::from_millis(10),
        measure: Duration::from_millis(40),
        flat: true,
    };
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        for (size, label) in [(16, "16B"), (1024, "1KiB"), (64 * 1024, "64KiB")] {
            let set = Set::publishes(v, size);
            let decode_budget = if size > 1024 {
                (big, big)
            } else {
                (PKTS, BYTES)
            };
            set.bench_decode(c, &format!("decode/{}/{label}", vname(v)), decode_budget);
            set.bench_encode(c, &format!("encode/{}/{label}", vname(v)), (PKTS, BYTES));
        }
    }
}

fn mixed_cases(c: &mut Criterion) {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let set = Set::mixed(v);
        set.bench_decode(c, &format!("mixed/{}/decode", vname(v)), (PKTS, BYTES));
        set.bench_encode(c, &format!("mixed/{}/encode", vname(v)), (PKTS, BYTES));
    }
}

/// One pass of the read loop: append each chunk, decode every whole packet.
fn read_loop(
    chunks: &[&[u8]],
    buf: &mut BytesMut,
    mut decode_whole: impl FnMut(&mut BytesMut) -> usize,
) -> usize {
    let mut n = 0;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        n += decode_whole(buf);
    }
    n
}

fn time_read_loop(
    chunks: &[&[u8]],
    iters: u64,
    expect: usize,
    mut decode_whole: impl FnMut(&mut BytesMut) -> usize,
) -> Duration {
    let mut buf = BytesMut::with_capacity(2 * CHUNK);
    let start = Instant::now();
    for _ in 0..iters {
        let n = read_loop(chunks, &mut buf, &mut decode_whole);
        assert_eq!(n, expect);
    }
    start.elapsed()
}

fn read_loop_cases(c: &mut Criterion) {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let set = Set::publishes(v, 1024);
        let chunks: Vec<&[u8]> = set.wire.chunks(CHUNK).collect();
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
        let n = set.tern.len();
        let name = format!("read_loop/{}", vname(v));
        both(
            c,
            &name,
            n as u64,
            set.wire.len() as u64,
            (PKTS, BYTES),
            &mut [
                ("tern", &mut |it| {
                    time_read_loop(&chunks, it, n, |b| tern_decode_all(b, v))
                }),
                ("rumqttc", &mut |it| {
                    time_read_loop(&chunks, it, n, |b| set.decode_theirs(b))
                }),
                ("plain_copy", &mut |it| {
                    let mut buf = BytesMut::with_capacity(2 * CHUNK);
                    let start = Instant::now();
                    for _ in 0..it {
                        for (chunk, adv) in chunks.iter().zip(&advances) {
                            buf.extend_from_slice(chunk);
                            black_box(&buf[..]);
                            buf.advance(*adv);
                        }
                        assert!(buf.is_empty());
                    }
                    start.elapsed()
                }),
            ],
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(PKTS.warm_up)
        .measurement_time(PKTS.measure)
        .configure_from_args();
    publish_cases(&mut c);
    mixed_cases(&mut c);
    read_loop_cases(&mut c);
    c.final_summary();
}
