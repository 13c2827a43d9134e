//! Heap allocations per decoded packet, counted by a global allocator that
//! wraps `System`.
//!
//! Targets: decoding a 3.1.1 PUBLISH allocates nothing (its topic and
//! payload are slices of the receive buffer); the borrowed decoder
//! `decode_ref` allocates nothing for a PUBLISH of either version, a v5 one
//! with four User Properties included, reading every property; the owned
//! `decode` of a v5 PUBLISH with a Message Expiry Interval and two User
//! Properties allocates at most once (the `Vec` of user properties). The
//! first packet split off a fresh `BytesMut` may allocate once more: `bytes`
//! moves the buffer's `Vec` into a shared header then. Run with
//! `--nocapture` to see the exact counts.
//!
//! Counting is per thread, so the test harness's parallel threads do not
//! disturb each other's numbers.

// A counting allocator needs `unsafe impl GlobalAlloc`.
#![allow(unsafe_code)]

#[path = "support/packets.rs"]
mod packets;

use bytes::{Bytes, BytesMut};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tern_mqtt::codec::{
    decode, decode_ref, encode, Packet, PacketRef, PingResp, ProtocolVersion, PubAck,
};
use tern_mqtt::codec::{user_property, PublishProperties};

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the thread-local may already be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

/// `System`, counting every allocation and reallocation on this thread.
struct Counting;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counter neither allocates nor panics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while `f` runs, and its result.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

const N: usize = 1_000;
const MAX: u32 = 1 << 20;

fn publish(i: usize, v: ProtocolVersion) -> Packet {
    packets::sensor_publish(i, Bytes::from(vec![b'p'; 16]), v)
}

fn wire(packets: &[Packet], v: ProtocolVersion) -> BytesMut {
    let mut out = BytesMut::new();
    for p in packets {
        encode(p, v, &mut out).unwrap();
    }
    out
}

/// Decodes every packet of `buf`, dropping each; returns how many there were.
fn decode_all(buf: &mut BytesMut, v: ProtocolVersion) -> usize {
    let mut n = 0;
    while let Some(p) = decode(buf, v, MAX).unwrap() {
        assert!(!matches!(p, Packet::Connect(_)));
        n += 1;
    }
    n
}

/// Allocations for decoding `N` PUBLISH packets from a fresh buffer, and
/// for the last `N - 1` after the first has shared the buffer.
fn publish_decode_counts(v: ProtocolVersion) -> (usize, usize) {
    let packets: Vec<Packet> = (0..N).map(|i| publish(i, v)).collect();
    let mut fresh = wire(&packets, v);
    let (cold, n) = allocations(|| decode_all(&mut fresh, v));
    assert_eq!(n, N);

    let mut warm = wire(&packets, v);
    let first = decode(&mut warm, v, MAX).unwrap().unwrap();
    assert_eq!(first, packets[0]);
    let (warmed, n) = allocations(|| decode_all(&mut warm, v));
    assert_eq!(n, N - 1);
    eprintln!(
        "{v:?} PUBLISH decode: {cold} allocations for {N} packets from a fresh buffer, \
         {warmed} for {} from a shared one",
        N - 1
    );
    (cold, warmed)
}

#[test]
fn v311_publish_decode_allocates_nothing() {
    let (cold, warmed) = publish_decode_counts(ProtocolVersion::V311);
    assert!(cold <= 1, "{cold} allocations for {N} packets");
    assert_eq!(warmed, 0);
}

#[test]
fn v5_publish_decode_allocates_at_most_twice_per_packet() {
    let (cold, warmed) = publish_decode_counts(ProtocolVersion::V5);
    assert!(cold <= 2 * N + 1, "{cold} allocations for {N} packets");
    // Two allocations per packet at most, over the N - 1 packets after the
    // first: the out-of-line properties and their User Property list.
    assert!(
        warmed <= 2 * (N - 1),
        "{warmed} allocations for {} packets",
        N - 1
    );
}

/// A v5 PUBLISH with every kind of PUBLISH property a server sends, four
/// User Properties among them.
fn rich_v5_publish(i: usize) -> Packet {
    let mut p = match publish(i, ProtocolVersion::V5) {
        Packet::Publish(p) => p,
        _ => unreachable!("sensor_publish builds a PUBLISH"),
    };
    p.properties = PublishProperties {
        payload_format_indicator: Some(true),
        message_expiry_interval: Some(3_600),
        content_type: Some(packets::s("application/json")),
        response_topic: Some(packets::topic("replies/kitchen")),
        correlation_data: Some(Bytes::from_static(b"req-42")),
        subscription_identifiers: vec![std::num::NonZeroU32::new(7).unwrap()],
        user_properties: ["origin", "trace-id", "unit", "site"]
            .iter()
            .map(|k| user_property(k, "value").unwrap())
            .collect(),
        ..PublishProperties::default()
    }
    .into();
    Packet::Publish(p)
}

#[test]
fn borrowed_publish_decode_allocates_nothing() {
    for (v, make) in [
        (
            ProtocolVersion::V311,
            publish as fn(usize, ProtocolVersion) -> Packet,
        ),
        (ProtocolVersion::V5, publish),
        (ProtocolVersion::V5, |i, _| rich_v5_publish(i)),
    ] {
        let packets: Vec<Packet> = (0..N).map(|i| make(i, v)).collect();
        let buf = wire(&packets, v);
        let (count, (n, users)) = allocations(|| {
            let (mut at, mut n, mut users) = (0, 0, 0);
            while let Some((p, len)) = decode_ref(&buf[at..], v, MAX).unwrap() {
                let PacketRef::Publish(p) = p else {
                    panic!("not a PUBLISH")
                };
                // Read every field, as a router would.
                let props = &p.properties;
                users += props.user_properties().count();
                std::hint::black_box((p.topic, p.payload, props.message_expiry_interval()));
                std::hint::black_box((props.content_type(), props.response_topic()));
                std::hint::black_box((props.correlation_data(), props.payload_format_indicator()));
                std::hint::black_box(props.subscription_identifiers().count());
                at += len;
                n += 1;
            }
            (n, users)
        });
        assert_eq!(n, N);
        eprintln!("{v:?} PUBLISH decode_ref: {count} allocations for {N} packets, {users} user properties read");
        assert_eq!(count, 0);
    }
}

#[test]
fn borrowed_publish_reads_what_the_owned_decoder_reads() {
    let v = ProtocolVersion::V5;
    let packet = rich_v5_publish(1);
    let buf = wire(std::slice::from_ref(&packet), v);
    let Some((PacketRef::Publish(p), len)) = decode_ref(&buf, v, MAX).unwrap() else {
        panic!("not a PUBLISH")
    };
    assert_eq!(len, buf.len());
    assert_eq!(p.properties.user_properties().count(), 4);
    assert_eq!(Packet::Publish(p.to_publish()), packet);
}

#[test]
fn ack_and_ping_decode_allocates_nothing() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let packets: Vec<Packet> = (0..N)
            .map(|i| {
                if i % 10 == 9 {
                    Packet::PingResp(PingResp)
                } else {
                    Packet::PubAck(PubAck::new(packets::cycling_id(i)))
                }
            })
            .collect();
        let mut buf = wire(&packets, v);
        assert_eq!(decode(&mut buf, v, MAX).unwrap().as_ref(), packets.first());
        let (count, n) = allocations(|| decode_all(&mut buf, v));
        assert_eq!(n, N - 1);
        eprintln!("{v:?} PUBACK/PINGRESP decode: {count} allocations for {n} packets");
        assert_eq!(count, 0);
    }
}

#[test]
fn publish_encode_into_reserved_buffer_allocates_nothing() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let packets: Vec<Packet> = (0..N).map(|i| publish(i, v)).collect();
        let len = wire(&packets, v).len();
        let mut out = BytesMut::with_capacity(len);
        let (count, ()) = allocations(|| {
            for p in &packets {
                encode(p, v, &mut out).unwrap();
            }
        });
        assert_eq!(out.len(), len);
        eprintln!("{v:?} PUBLISH encode: {count} allocations for {N} packets");
        assert_eq!(count, 0);
    }
}

#[test]
fn the_counter_counts() {
    // Guards the tests above against a counter that never moves.
    let (count, v) = allocations(|| std::hint::black_box(vec![1u8; 64]));
    assert_eq!(v.len(), 64);
    assert!(count >= 1);
}
