//! Property tests of the packet codec, for MQTT 3.1.1 and MQTT 5.0.
//!
//! For every packet the strategies in `support/strategies.rs` generate:
//! 1. `decode(encode(p)) == p`;
//! 2. decoding consumes exactly the packet's bytes, leaving what follows;
//! 3. every strict prefix of the encoding gives `Ok(None)` and leaves the
//!    buffer untouched;
//! 4. `Packet::encoded_len` equals the encoded length;
//! 5. with `max_packet_size` one below the packet size, decoding fails with
//!    `PacketTooLarge` as soon as the fixed header is complete.
//!
//! And for arbitrary and for mutated bytes: the decoder never panics, leaves
//! the buffer untouched on `Ok(None)`, consumes exactly one packet on
//! `Ok(Some)`, and whatever it accepts encodes back to bytes that decode to
//! the same packet.
//!
//! Throughout, the borrowed decoder `decode_ref` gives the same verdict as
//! `decode` for the same bytes: the same packet (its PUBLISH made owned),
//! the same size, or the same error.

#[path = "support/strategies.rs"]
mod strategies;

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use tern_mqtt::codec::{
    decode, decode_ref, encode, encode_publish, DecodeError, Packet, ProtocolVersion, QoS,
};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// Large enough for every generated packet.
const NO_LIMIT: u32 = u32::MAX;

/// Largest payload in the round-trip properties: past 16 KiB, so remaining
/// lengths of one, two and three bytes all occur.
const ROUND_TRIP_PAYLOAD: usize = 20_000;

/// Smaller payloads where each case decodes every prefix of the encoding.
const PREFIX_PAYLOAD: usize = 300;

/// `n` cases, times `TERN_PROPTEST_SCALE` when that is set (for a deeper
/// run by hand: `TERN_PROPTEST_SCALE=20 cargo test --test codec_props`).
fn cases(n: u32) -> u32 {
    let scale = std::env::var("TERN_PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1);
    n.saturating_mul(scale.max(1))
}

fn encoded(p: &Packet, v: ProtocolVersion) -> Result<BytesMut, TestCaseError> {
    let mut out = BytesMut::new();
    encode(p, v, &mut out)
        .map_err(|e| TestCaseError::fail(format!("encode failed: {e} for {p:?}")))?;
    Ok(out)
}

/// Length of the fixed header at the start of a valid encoding: the first
/// byte plus the Variable Byte Integer of the remaining length.
fn fixed_header_len(bytes: &[u8]) -> usize {
    let vbi = bytes
        .iter()
        .skip(1)
        .position(|b| b & 0x80 == 0)
        .expect("a complete remaining length");
    2 + vbi
}

// ---------------------------------------------------------------------------
// The five properties of valid packets
// ---------------------------------------------------------------------------

/// Property 1: decode(encode(p)) == p, and the buffer is emptied.
/// `decode_ref` agrees with `decode` on `input`: the same packet and size,
/// nothing for an incomplete packet, or the same error.
fn check_ref_agrees(v: ProtocolVersion, input: &[u8], max: u32) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::from(input);
    let owned = decode(&mut buf, v, max);
    let borrowed = decode_ref(input, v, max).map(|r| r.map(|(p, len)| (p.to_packet(), len)));
    let consumed = input.len() - buf.len();
    prop_assert_eq!(borrowed, owned.map(|r| r.map(|p| (p, consumed))));
    Ok(())
}

fn check_round_trip(v: ProtocolVersion, p: &Packet) -> Result<(), TestCaseError> {
    let mut buf = encoded(p, v)?;
    check_ref_agrees(v, &buf, NO_LIMIT)?;
    let decoded = decode(&mut buf, v, NO_LIMIT);
    prop_assert_eq!(decoded, Ok(Some(p.clone())));
    prop_assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(())
}

/// Property 2: Decoding consumes exactly the encoded bytes: what follows (another
/// packet) is left in the buffer, intact, and decodes in its turn.
fn check_exact_consumption(
    v: ProtocolVersion,
    p: &Packet,
    next: &Packet,
) -> Result<(), TestCaseError> {
    let mut buf = encoded(p, v)?;
    let trailing = encoded(next, v)?;
    buf.extend_from_slice(&trailing);
    prop_assert_eq!(decode(&mut buf, v, NO_LIMIT), Ok(Some(p.clone())));
    prop_assert_eq!(&buf[..], &trailing[..]);
    prop_assert_eq!(decode(&mut buf, v, NO_LIMIT), Ok(Some(next.clone())));
    prop_assert!(buf.is_empty());
    Ok(())
}

/// Property 3: Every strict prefix gives Ok(None) and leaves the buffer as it was;
/// the whole encoding then gives the packet.
fn check_prefixes(v: ProtocolVersion, p: &Packet) -> Result<(), TestCaseError> {
    let bytes = encoded(p, v)?;
    let mut buf = BytesMut::with_capacity(bytes.len());
    for (cut, byte) in bytes.iter().enumerate() {
        let r = decode(&mut buf, v, NO_LIMIT);
        prop_assert!(
            matches!(r, Ok(None)),
            "prefix of {} of {} bytes gave {:?}",
            cut,
            bytes.len(),
            r
        );
        prop_assert_eq!(buf.len(), cut);
        prop_assert_eq!(&buf[..], &bytes[..cut]);
        buf.extend_from_slice(&[*byte]);
    }
    prop_assert_eq!(decode(&mut buf, v, NO_LIMIT), Ok(Some(p.clone())));
    prop_assert!(buf.is_empty());
    Ok(())
}

/// Property 4: `Packet::encoded_len` is the length `encode` writes.
fn check_encoded_len(v: ProtocolVersion, p: &Packet) -> Result<(), TestCaseError> {
    let bytes = encoded(p, v)?;
    prop_assert_eq!(p.encoded_len(v), Ok(bytes.len()));
    // `encode` appends: it must not disturb what the buffer already held.
    let mut out = BytesMut::from(&b"prefix"[..]);
    encode(p, v, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&out[..6], b"prefix");
    prop_assert_eq!(&out[6..], &bytes[..]);
    // A PUBLISH counts its own size too (for a sender's size checks), and
    // `encode_publish` writes the same bytes as `encode`.
    if let Packet::Publish(publish) = p {
        prop_assert_eq!(publish.encoded_len(v), Ok(bytes.len()));
        let mut out = BytesMut::new();
        encode_publish(publish, v, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&out[..], &bytes[..]);
    }
    Ok(())
}

/// Property 5: With a maximum one byte below the packet's size, the decoder refuses
/// the packet once the fixed header is complete, and not before; at exactly
/// the packet's size it accepts it.
fn check_too_large(v: ProtocolVersion, p: &Packet) -> Result<(), TestCaseError> {
    let bytes = encoded(p, v)?;
    let len = bytes.len();
    let header = fixed_header_len(&bytes);
    let max = u32::try_from(len - 1).expect("small packets");
    for cut in 0..header {
        let mut buf = BytesMut::from(&bytes[..cut]);
        prop_assert_eq!(decode(&mut buf, v, max), Ok(None), "cut at {}", cut);
        prop_assert_eq!(&buf[..], &bytes[..cut]);
    }
    for cut in [header, len] {
        let mut buf = BytesMut::from(&bytes[..cut]);
        prop_assert_eq!(
            decode(&mut buf, v, max),
            Err(DecodeError::PacketTooLarge { size: len, max }),
            "cut at {} of {}",
            cut,
            len
        );
    }
    let mut buf = bytes.clone();
    let exact = u32::try_from(len).expect("small packets");
    prop_assert_eq!(decode(&mut buf, v, exact), Ok(Some(p.clone())));
    Ok(())
}

// ---------------------------------------------------------------------------
// Arbitrary input
// ---------------------------------------------------------------------------

/// Decodes arbitrary bytes: no panic (the test harness would report one);
/// Ok(None) leaves the buffer untouched; Ok(Some) consumes exactly the
/// packet the fixed header announces, and the packet re-encodes to bytes
/// that decode to the same packet.
fn check_arbitrary(v: ProtocolVersion, input: &[u8]) -> Result<(), TestCaseError> {
    for max in [NO_LIMIT, 64] {
        check_ref_agrees(v, input, max)?;
        let mut buf = BytesMut::from(input);
        match decode(&mut buf, v, max) {
            Ok(None) => prop_assert_eq!(&buf[..], input, "Ok(None) must consume nothing"),
            Ok(Some(p)) => {
                let consumed = input.len() - buf.len();
                prop_assert_eq!(&buf[..], &input[consumed..]);
                prop_assert_eq!(consumed, fixed_header_len(input) + remaining_len(input));
                prop_assert!(consumed <= max as usize);
                let again = encoded(&p, v)?;
                prop_assert_eq!(p.encoded_len(v), Ok(again.len()));
                let mut again_buf = again.clone();
                prop_assert_eq!(decode(&mut again_buf, v, NO_LIMIT), Ok(Some(p.clone())));
                prop_assert!(again_buf.is_empty());
            }
            Err(e) => {
                // Every error names a rule and a reason code.
                prop_assert!(e.spec_id().is_some());
                prop_assert!(!e.reason_code().is_success());
            }
        }
    }
    Ok(())
}

/// The remaining length of a fixed header known to be complete.
fn remaining_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .skip(1)
        .take(4)
        .enumerate()
        .map(|(i, b)| usize::from(b & 0x7F) << (7 * i))
        .take(fixed_header_len(bytes) - 1)
        .sum()
}

/// Arbitrary bytes, half of them starting with a plausible fixed header.
fn arbitrary_input() -> impl Strategy<Value = Vec<u8>> {
    let raw = vec(any::<u8>(), 0..=300);
    let framed = (0u8..=15, 0u8..=15, vec(any::<u8>(), 0..=200)).prop_map(|(t, f, body)| {
        let mut v = vec![(t << 4) | f, body.len() as u8 & 0x7F];
        v.extend(body);
        v
    });
    prop_oneof![raw, framed]
}

/// A valid encoding with a few bytes overwritten, then maybe truncated.
fn mutated_encoding(v: ProtocolVersion) -> impl Strategy<Value = Vec<u8>> {
    (
        strategies::packet_with_payload(v, 64),
        vec((any::<Index>(), any::<u8>()), 1..=3),
        proptest::option::of(any::<Index>()),
    )
        .prop_map(move |(p, edits, cut)| {
            let mut bytes = encoded(&p, v).expect("valid packets encode").to_vec();
            for (at, value) in edits {
                let i = at.index(bytes.len());
                // Mostly small changes, so that lengths stay plausible.
                bytes[i] = if value < 128 {
                    bytes[i] ^ (1 << (value % 8))
                } else {
                    value
                };
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        })
}

// ---------------------------------------------------------------------------
// The properties, for each version
// ---------------------------------------------------------------------------

macro_rules! codec_properties {
    ($module:ident, $v:expr) => {
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(cases(256)))]

                #[test]
                fn round_trip(p in strategies::packet_with_payload($v, ROUND_TRIP_PAYLOAD)) {
                    check_round_trip($v, &p)?;
                }

                #[test]
                fn consumes_exactly_one_packet(
                    p in strategies::packet_with_payload($v, ROUND_TRIP_PAYLOAD),
                    next in strategies::packet_with_payload($v, 256),
                ) {
                    check_exact_consumption($v, &p, &next)?;
                }

                #[test]
                fn every_prefix_is_incomplete(
                    p in strategies::packet_with_payload($v, PREFIX_PAYLOAD),
                ) {
                    check_prefixes($v, &p)?;
                }

                #[test]
                fn encoded_len_is_exact(p in strategies::packet_with_payload($v, ROUND_TRIP_PAYLOAD)) {
                    check_encoded_len($v, &p)?;
                }

                #[test]
                fn too_large_once_fixed_header_is_read(
                    p in strategies::packet_with_payload($v, ROUND_TRIP_PAYLOAD),
                ) {
                    check_too_large($v, &p)?;
                }
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(cases(1024)))]

                #[test]
                fn arbitrary_bytes_never_panic(input in arbitrary_input()) {
                    check_arbitrary($v, &input)?;
                }

                #[test]
                fn mutated_packets_never_panic(input in mutated_encoding($v)) {
                    check_arbitrary($v, &input)?;
                }
            }
        }
    };
}

codec_properties!(v311, V311);
codec_properties!(v5, V5);

// ---------------------------------------------------------------------------
// The strategies themselves
// ---------------------------------------------------------------------------

/// Draws `n` values from `strategy` with a fixed seed.
fn sample<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("strategy yields values")
                .current()
        })
        .collect()
}

/// The strategies reach every packet type of each version, and the
/// optional fields that the properties above are meant to cover.
#[test]
fn strategies_cover_every_packet_type_and_optional_field() {
    for v in [V311, V5] {
        let packets = sample(strategies::packet_with_payload(v, ROUND_TRIP_PAYLOAD), 3000);
        let mut names: Vec<&str> = packets.iter().map(Packet::name).collect();
        names.sort_unstable();
        names.dedup();
        let expected = if v == V5 { 15 } else { 14 };
        assert_eq!(names.len(), expected, "{v:?}: {names:?}");
        for p in &packets {
            assert!(
                p.encoded_len(v).is_ok(),
                "{v:?} strategy made an unencodable {p:?}"
            );
        }
    }

    let mut seen = std::collections::BTreeSet::new();
    for p in sample(
        strategies::packet_with_payload(V5, ROUND_TRIP_PAYLOAD),
        6000,
    ) {
        let mut mark = |what: &'static str, cond: bool| {
            if cond {
                seen.insert(what);
            }
        };
        match &p {
            Packet::Connect(c) => {
                mark("connect will", c.will.is_some());
                mark(
                    "connect will properties",
                    c.will.as_ref().is_some_and(|w| {
                        w.properties.response_topic.is_some()
                            && w.properties.will_delay_interval.is_some()
                    }),
                );
                mark(
                    "connect password without user name",
                    c.password.is_some() && c.username.is_none(),
                );
                mark("connect empty client id", c.client_id.is_empty());
                mark(
                    "connect auth",
                    c.properties.authentication_method.is_some()
                        && c.properties.authentication_data.is_some(),
                );
            }
            Packet::ConnAck(c) => {
                mark("connack session present", c.session_present);
                mark("connack refused", !c.reason_code.is_success());
                mark(
                    "connack many properties",
                    c.properties.maximum_qos.is_some()
                        && c.properties.server_reference.is_some()
                        && c.properties.shared_subscription_available.is_some(),
                );
            }
            Packet::Publish(p) => {
                mark("publish alias only", p.topic.is_none());
                mark(
                    "publish alias and topic",
                    p.topic.is_some() && p.properties.topic_alias.is_some(),
                );
                mark("publish dup", p.dup);
                mark("publish qos 2", p.qos == QoS::ExactlyOnce);
                mark(
                    "publish several subscription ids",
                    p.properties.subscription_identifiers.len() > 1,
                );
                mark(
                    "publish repeated user property",
                    p.properties
                        .user_properties
                        .iter()
                        .filter(|(k, _)| k == "k")
                        .count()
                        > 1,
                );
                mark("publish payload over 16 KiB", p.payload.len() > 16_384);
                mark("publish empty payload", p.payload.is_empty());
            }
            Packet::PubAck(a) | Packet::PubRec(a) => {
                mark(
                    "puback short form",
                    a.reason_code.0 == 0 && a.properties.is_empty(),
                );
                mark("puback failure", !a.reason_code.is_success());
            }
            Packet::PubRel(a) | Packet::PubComp(a) => {
                mark("pubrel not found", a.reason_code.0 == 0x92);
            }
            Packet::Subscribe(s) => {
                mark(
                    "subscribe shared",
                    s.filters.iter().any(|(f, _)| f.share().is_some()),
                );
                mark(
                    "subscribe wildcards",
                    s.filters.iter().any(|(f, _)| f.has_wildcards()),
                );
                mark(
                    "subscribe no local",
                    s.filters.iter().any(|(_, o)| o.no_local),
                );
                mark("subscribe several", s.filters.len() > 1);
            }
            Packet::Disconnect(d) => {
                mark("disconnect properties", !d.properties.is_empty());
                mark("disconnect with will", d.reason_code.0 == 0x04);
            }
            Packet::Auth(a) => mark("auth continue", a.reason_code.0 == 0x18),
            _ => {}
        }
    }
    let wanted = [
        "connect will",
        "connect will properties",
        "connect password without user name",
        "connect empty client id",
        "connect auth",
        "connack session present",
        "connack refused",
        "connack many properties",
        "publish alias only",
        "publish alias and topic",
        "publish dup",
        "publish qos 2",
        "publish several subscription ids",
        "publish repeated user property",
        "publish payload over 16 KiB",
        "publish empty payload",
        "puback short form",
        "puback failure",
        "pubrel not found",
        "subscribe shared",
        "subscribe wildcards",
        "subscribe no local",
        "subscribe several",
        "disconnect properties",
        "disconnect with will",
        "auth continue",
    ];
    let missing: Vec<_> = wanted.iter().filter(|w| !seen.contains(*w)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}

/// No generated SUBSCRIBE sets No Local on a shared subscription, and 3.1.1
/// never carries v5-only subscription options.
#[test]
fn subscription_options_respect_the_version_and_sharing() {
    for v in [V311, V5] {
        for s in sample(strategies::subscribe(v), 500) {
            for (f, o) in &s.filters {
                assert!(!(o.no_local && f.share().is_some()), "{f:?} {o:?}");
                if v == V311 {
                    assert_eq!(*o, tern_mqtt::codec::SubscriptionOptions::qos(o.qos));
                }
            }
        }
    }
}
