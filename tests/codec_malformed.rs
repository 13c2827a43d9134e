//! Table tests of packets the codec must refuse, for MQTT 3.1.1 and 5.0.
//!
//! Each case names the statement (or, where the spec gives the rule no ID,
//! the section) that the codec's error reports through
//! [`DecodeError::spec_id`], the version(s) it is decoded at, the bytes and
//! the expected error kind; the kind fixes the MQTT 5.0 reason code a client
//! would put in its DISCONNECT, which is asserted through
//! [`DecodeError::reason_code`] too.
//!
//! The codec labels its errors with the statement IDs of the version it
//! decodes at. Where the 3.1.1 spec numbers the same rule differently, the
//! case carries that ID in `v311_id`, and a 3.1.1 decode must report it.
//!
//! The neighbouring valid packets (a repeated User Property, a repeated
//! Subscription Identifier in PUBLISH, a v5 password without a user name, a
//! packet exactly at the maximum size) are checked at the end: they must
//! decode.

#[path = "support/packets.rs"]
mod packets;

use bytes::BytesMut;
// `pkt`: a whole packet, first byte, the remaining length computed, the body.
use packets::{raw_packet as pkt, vbi};
use tern_mqtt::codec::{decode, decode_ref, DecodeError, ProtocolVersion};

/// Versions a case is decoded at.
#[derive(Clone, Copy, Debug)]
enum Ver {
    V311,
    V5,
    Both,
}

impl Ver {
    fn versions(self) -> &'static [ProtocolVersion] {
        match self {
            Ver::V311 => &[ProtocolVersion::V311],
            Ver::V5 => &[ProtocolVersion::V5],
            Ver::Both => &[ProtocolVersion::V311, ProtocolVersion::V5],
        }
    }
}

/// The error kind expected, and through it the v5 reason code.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// `DecodeError::Malformed`, 0x81.
    Malformed,
    /// `DecodeError::Protocol`, 0x82.
    Protocol,
    /// `DecodeError::TopicAliasZero`, 0x94.
    AliasZero,
    /// `DecodeError::PacketTooLarge`, 0x95.
    TooLarge,
    /// `DecodeError::UnsupportedProtocolLevel(level)`, 0x84.
    Level(u8),
}

impl Kind {
    fn reason(self) -> u8 {
        match self {
            Kind::Malformed => 0x81,
            Kind::Protocol => 0x82,
            Kind::AliasZero => 0x94,
            Kind::TooLarge => 0x95,
            Kind::Level(_) => 0x84,
        }
    }

    fn matches(self, e: &DecodeError) -> bool {
        match (self, e) {
            (Kind::Malformed, DecodeError::Malformed { .. })
            | (Kind::Protocol, DecodeError::Protocol { .. })
            | (Kind::AliasZero, DecodeError::TopicAliasZero)
            | (Kind::TooLarge, DecodeError::PacketTooLarge { .. }) => true,
            (Kind::Level(l), DecodeError::UnsupportedProtocolLevel(got)) => l == *got,
            _ => false,
        }
    }
}

struct Case {
    /// Expected `spec_id()` (for a 3.1.1 decode too, unless `v311_id` is set).
    label: &'static str,
    /// Expected `spec_id()` of a 3.1.1 decode, where the 3.1.1 spec numbers
    /// the rule differently.
    v311_id: Option<&'static str>,
    ver: Ver,
    kind: Kind,
    bytes: Vec<u8>,
    /// max_packet_size handed to `decode`.
    max: u32,
    /// What the case is about, for the failure message.
    what: String,
}

const MAX: u32 = 1 << 20;

fn case(label: &'static str, ver: Ver, kind: Kind, what: &str, bytes: Vec<u8>) -> Case {
    Case {
        label,
        v311_id: None,
        ver,
        kind,
        bytes,
        max: MAX,
        what: what.to_owned(),
    }
}

impl Case {
    /// The label a decode at `v` must report.
    fn label_for(&self, v: ProtocolVersion) -> &'static str {
        match (v, self.v311_id) {
            (ProtocolVersion::V311, Some(id)) => id,
            _ => self.label,
        }
    }
    fn v311(mut self, id: &'static str) -> Self {
        self.v311_id = Some(id);
        self
    }
    fn max(mut self, max: u32) -> Self {
        self.max = max;
        self
    }
}

// ---- byte builders ----------------------------------------------------

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A two-byte length prefix and the bytes (UTF-8 string or binary data).
fn lp(b: &[u8]) -> Vec<u8> {
    cat(&[&(b.len() as u16).to_be_bytes(), b])
}

/// A property block: Property Length and the properties.
fn props(p: &[u8]) -> Vec<u8> {
    cat(&[&vbi(p.len()), p])
}

/// The properties of a version: none at all in 3.1.1, an empty block in 5.0.
fn no_props(v: ProtocolVersion) -> Vec<u8> {
    match v {
        ProtocolVersion::V311 => vec![],
        ProtocolVersion::V5 => vec![0],
    }
}

/// PUBLISH QoS 0 with a raw topic.
fn publish0(v: ProtocolVersion, topic: &[u8]) -> Vec<u8> {
    pkt(0x30, &cat(&[&lp(topic), &no_props(v), b"x"]))
}

/// v5 PUBLISH QoS 1, packet id 1, with the given property bytes.
fn publish_v5_props(p: &[u8]) -> Vec<u8> {
    pkt(0x32, &cat(&[&lp(b"a/b"), &[0, 1], &props(p), b"x"]))
}

/// CONNECT with name, level, flags, and a payload after keep alive (and the
/// empty v5 property block when level is 5).
fn connect_raw(name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let p: &[u8] = if level == 5 { &[0] } else { &[] };
    pkt(0x10, &cat(&[&lp(name), &[level, flags, 0, 60], p, payload]))
}

fn connect(v: ProtocolVersion, flags: u8, payload: &[u8]) -> Vec<u8> {
    connect_raw(b"MQTT", v.level(), flags, payload)
}

/// v5 CONNECT with the given CONNECT property bytes and client id "c".
fn connect_v5_props(p: &[u8]) -> Vec<u8> {
    pkt(
        0x10,
        &cat(&[&lp(b"MQTT"), &[5, 0x02, 0, 60], &props(p), &lp(b"c")]),
    )
}

/// v5 CONNACK, success, with the given property bytes.
fn connack_v5_props(p: &[u8]) -> Vec<u8> {
    pkt(0x20, &cat(&[&[0, 0], &props(p)]))
}

/// SUBSCRIBE, packet id 1, one filter with one option byte.
fn subscribe(v: ProtocolVersion, filter: &[u8], opts: u8) -> Vec<u8> {
    pkt(0x82, &cat(&[&[0, 1], &no_props(v), &lp(filter), &[opts]]))
}

fn u16p(id: u8, v: u16) -> Vec<u8> {
    cat(&[&[id], &v.to_be_bytes()])
}

fn u32p(id: u8, v: u32) -> Vec<u8> {
    cat(&[&[id], &v.to_be_bytes()])
}

fn strp(id: u8, s: &[u8]) -> Vec<u8> {
    cat(&[&[id], &lp(s)])
}

fn user(k: &[u8], v: &[u8]) -> Vec<u8> {
    cat(&[&[0x26], &lp(k), &lp(v)])
}

// ---- the table ----------------------------------------------------------

fn cases() -> Vec<Case> {
    use Kind::*;
    use ProtocolVersion::{V311, V5};
    let mut t = Vec::new();

    // == Fixed header (5.0 2.1; 3.1.1 2.2) ==
    // Reserved flags: PUBREL, SUBSCRIBE and UNSUBSCRIBE need 0b0010; every
    // other non-PUBLISH type needs 0. Each gets the other group's value.
    let names = [
        (1u8, "CONNECT"),
        (2, "CONNACK"),
        (4, "PUBACK"),
        (5, "PUBREC"),
        (6, "PUBREL"),
        (7, "PUBCOMP"),
        (8, "SUBSCRIBE"),
        (9, "SUBACK"),
        (10, "UNSUBSCRIBE"),
        (11, "UNSUBACK"),
        (12, "PINGREQ"),
        (13, "PINGRESP"),
        (14, "DISCONNECT"),
    ];
    // 3.1.1 cites its general rule MQTT-2.2.2-1 (PUBREL, SUBSCRIBE and
    // UNSUBSCRIBE also have MQTT-3.6.1-1, MQTT-3.8.1-1, MQTT-3.10.1-1).
    for (ty, name) in names {
        let (flags, v311) = match ty {
            6 | 8 | 10 => (0b0000, "MQTT-2.2.2-1"),
            _ => (0b0010, "MQTT-2.2.2-1"),
        };
        t.push(
            case(
                "MQTT-2.1.3-1",
                Ver::Both,
                Malformed,
                &format!("{name} with reserved flags {flags:04b}"),
                vec![(ty << 4) | flags, 0],
            )
            .v311(v311),
        );
        // A set bit the table never uses.
        t.push(
            case(
                "MQTT-2.1.3-1",
                Ver::Both,
                Malformed,
                &format!("{name} with reserved flag bit 3 set"),
                vec![
                    (ty << 4) | 0b1000 | if matches!(ty, 6 | 8 | 10) { 2 } else { 0 },
                    0,
                ],
            )
            .v311(v311),
        );
    }
    t.push(case(
        "MQTT-2.1.3-1",
        Ver::V5,
        Malformed,
        "AUTH with reserved flags 0001",
        vec![0xF1, 0],
    ));
    t.push(case(
        "MQTT-2.1.2",
        Ver::Both,
        Malformed,
        "packet type 0",
        vec![0x00, 0],
    ));
    t.push(case(
        "MQTT-2.1.2",
        Ver::V311,
        Malformed,
        "packet type 15 (AUTH) in 3.1.1",
        vec![0xF0, 0],
    ));
    for v in [V311, V5] {
        let mut b = publish0(v, b"a/b");
        b[0] = 0x36; // QoS bits 11
        t.push(case(
            "MQTT-3.3.1-4",
            Ver::from(v),
            Malformed,
            "PUBLISH QoS 3",
            b,
        ));
    }
    t.push(case(
        "MQTT-3.3.1-4",
        Ver::Both,
        Malformed,
        "PUBLISH QoS 3 with DUP and RETAIN, fixed header only",
        vec![0x3F],
    ));
    // Remaining Length of five bytes (1.5.5: at most four; no statement ID).
    t.push(case(
        "MQTT-1.5.5",
        Ver::Both,
        Malformed,
        "remaining length VBI of five bytes",
        vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
    ));
    t.push(case(
        "MQTT-1.5.5",
        Ver::Both,
        Malformed,
        "remaining length: 4th byte has the continuation bit",
        vec![0xC0, 0x80, 0x80, 0x80, 0x80],
    ));
    // Non-minimal Variable Byte Integers [MQTT-1.5.5-1]: refused in 3.1.1
    // too, which states no such rule but never produces them.
    t.push(case(
        "MQTT-1.5.5-1",
        Ver::Both,
        Malformed,
        "PINGREQ with remaining length 0 as 80 00",
        vec![0xC0, 0x80, 0x00],
    ));
    t.push(case(
        "MQTT-1.5.5-1",
        Ver::Both,
        Malformed,
        "PUBLISH remaining length 6 as 86 80 00",
        cat(&[&[0x30, 0x86, 0x80, 0x00], &lp(b"a/b"), b"x"]),
    ));
    t.push(case(
        "MQTT-1.5.5-1",
        Ver::Both,
        Malformed,
        "PINGRESP remaining length 0 as 80 80 80 00",
        vec![0xD0, 0x80, 0x80, 0x80, 0x00],
    ));
    t.push(case(
        "MQTT-1.5.5-1",
        Ver::V5,
        Malformed,
        "v5 PUBACK property length 0 as 80 00",
        pkt(0x40, &[0, 1, 0x10, 0x80, 0x00]),
    ));
    t.push(case(
        "MQTT-1.5.5-1",
        Ver::V5,
        Malformed,
        "v5 Subscription Identifier 1 as 81 00",
        publish_v5_props(&[0x0B, 0x81, 0x00]),
    ));
    t.push(case(
        "MQTT-1.5.5-1",
        Ver::V5,
        Malformed,
        "v5 property identifier 0x1F as 9F 00",
        pkt(
            0x40,
            &cat(&[&[0, 1, 0x10], &props(&cat(&[&[0x9F, 0x00], &lp(b"r")]))]),
        ),
    ));
    // Bytes left over inside a packet.
    t.push(case(
        "MQTT-2.1.4",
        Ver::Both,
        Malformed,
        "PINGREQ with remaining length 1",
        vec![0xC0, 0x01, 0x00],
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::Both,
        Malformed,
        "PINGRESP with remaining length 1",
        vec![0xD0, 0x01, 0x00],
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::V311,
        Malformed,
        "3.1.1 PUBACK with remaining length 3",
        vec![0x40, 0x03, 0x00, 0x01, 0x00],
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::V311,
        Malformed,
        "3.1.1 PUBREL with remaining length 3",
        vec![0x62, 0x03, 0x00, 0x01, 0x00],
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::V311,
        Malformed,
        "3.1.1 UNSUBACK with remaining length 3",
        vec![0xB0, 0x03, 0x00, 0x01, 0x00],
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::V311,
        Malformed,
        "3.1.1 CONNACK with remaining length 3",
        vec![0x20, 0x03, 0x00, 0x00, 0x00],
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::V311,
        Malformed,
        "3.1.1 DISCONNECT with remaining length 1",
        vec![0xE0, 0x01, 0x00],
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::V5,
        Malformed,
        "v5 PUBACK: a byte after the properties",
        pkt(0x40, &[0, 1, 0x00, 0x00, 0xFF]),
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::V5,
        Malformed,
        "v5 DISCONNECT: a byte after the properties",
        pkt(0xE0, &[0x00, 0x00, 0xFF]),
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::V5,
        Malformed,
        "v5 CONNACK: a byte after the properties",
        pkt(0x20, &[0, 0, 0, 0xFF]),
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::Both,
        Malformed,
        "CONNECT: a byte after the last payload field",
        connect(V311, 0x02, &cat(&[&lp(b"c"), &[0xFF]])),
    ));
    t.push(case(
        "MQTT-2.1.4",
        Ver::V5,
        Malformed,
        "v5 CONNECT: a byte after the last payload field",
        connect(V5, 0x02, &cat(&[&lp(b"c"), &[0xFF]])),
    ));
    // A field running past the end of the packet.
    t.push(case(
        "MQTT-1.5",
        Ver::Both,
        Malformed,
        "PUBACK with remaining length 1",
        vec![0x40, 0x01, 0x00],
    ));
    t.push(case(
        "MQTT-1.5",
        Ver::Both,
        Malformed,
        "PUBLISH topic length past the end",
        vec![0x30, 0x03, 0x00, 0x05, b'a'],
    ));
    t.push(case(
        "MQTT-1.5",
        Ver::Both,
        Malformed,
        "PUBLISH QoS 1 without room for the packet id",
        pkt(0x32, &cat(&[&lp(b"a"), &[0]])),
    ));
    t.push(case(
        "MQTT-1.5",
        Ver::Both,
        Malformed,
        "SUBSCRIBE filter without its option byte",
        pkt(0x82, &cat(&[&[0, 1], &lp(b"a")])),
    ));
    t.push(case(
        "MQTT-1.5",
        Ver::V5,
        Malformed,
        "v5 SUBSCRIBE: property block then a filter without options",
        pkt(0x82, &cat(&[&[0, 1, 0], &lp(b"a")])),
    ));
    t.push(case(
        "MQTT-1.5",
        Ver::Both,
        Malformed,
        "CONNECT with keep alive cut short",
        pkt(0x10, &cat(&[&lp(b"MQTT"), &[4, 0x02, 0]])),
    ));
    t.push(case(
        "MQTT-1.5",
        Ver::Both,
        Malformed,
        "SUBACK with only half a packet id",
        vec![0x90, 0x01, 0x00],
    ));
    t.push(case(
        "MQTT-1.5.5",
        Ver::V5,
        Malformed,
        "v5 PUBACK: property length VBI cut by the packet end",
        pkt(0x40, &[0, 1, 0x00, 0x80]),
    ));
    t.push(case(
        "MQTT-1.5.5",
        Ver::V5,
        Malformed,
        "v5 CONNACK without its property length",
        pkt(0x20, &[0, 0]),
    ));

    // == UTF-8 Encoded Strings (5.0 1.5.4; 3.1.1 1.5.3) ==
    for v in [V311, V5] {
        let ver = Ver::from(v);
        t.push(
            case(
                "MQTT-1.5.4-1",
                ver,
                Malformed,
                "topic: ill-formed UTF-8 (C3 28)",
                publish0(v, &[b'a', 0xC3, 0x28]),
            )
            .v311("MQTT-1.5.3-1"),
        );
        t.push(
            case(
                "MQTT-1.5.4-1",
                ver,
                Malformed,
                "topic: encoded surrogate U+D800 (ED A0 80)",
                publish0(v, &[b'a', 0xED, 0xA0, 0x80]),
            )
            .v311("MQTT-1.5.3-1"),
        );
        t.push(
            case(
                "MQTT-1.5.4-1",
                ver,
                Malformed,
                "topic: overlong NUL (C0 80)",
                publish0(v, &[0xC0, 0x80]),
            )
            .v311("MQTT-1.5.3-1"),
        );
        t.push(
            case(
                "MQTT-1.5.4-1",
                ver,
                Malformed,
                "topic: lone continuation byte 0x80",
                publish0(v, &[0x80]),
            )
            .v311("MQTT-1.5.3-1"),
        );
        t.push(
            case(
                "MQTT-1.5.4-1",
                ver,
                Malformed,
                "client id: encoded surrogate U+DFFF (ED BF BF)",
                connect(v, 0x02, &lp(&[0xED, 0xBF, 0xBF])),
            )
            .v311("MQTT-1.5.3-1"),
        );
        t.push(
            case(
                "MQTT-1.5.4-1",
                ver,
                Malformed,
                "SUBSCRIBE filter: truncated 3-byte sequence",
                subscribe(v, &[b'a', 0xE2, 0x82], 0),
            )
            .v311("MQTT-1.5.3-1"),
        );
        t.push(
            case(
                "MQTT-1.5.4-2",
                ver,
                Malformed,
                "topic holds U+0000",
                publish0(v, b"a\0b"),
            )
            .v311("MQTT-1.5.3-2"),
        );
        t.push(
            case(
                "MQTT-1.5.4-2",
                ver,
                Malformed,
                "client id holds U+0000",
                connect(v, 0x02, &lp(b"cl\0id")),
            )
            .v311("MQTT-1.5.3-2"),
        );
        t.push(
            case(
                "MQTT-1.5.4-2",
                ver,
                Malformed,
                "user name holds U+0000",
                connect(v, 0x82, &cat(&[&lp(b"c"), &lp(b"u\0")])),
            )
            .v311("MQTT-1.5.3-2"),
        );
        t.push(
            case(
                "MQTT-1.5.4-2",
                ver,
                Malformed,
                "UNSUBSCRIBE filter holds U+0000",
                pkt(0xA2, &cat(&[&[0, 1], &no_props(v), &lp(b"a/\0")])),
            )
            .v311("MQTT-1.5.3-2"),
        );
        // Binary Data whose length runs past the end.
        t.push(case(
            "MQTT-1.5",
            ver,
            Malformed,
            "password length past the end",
            connect(v, 0xC2, &cat(&[&lp(b"c"), &lp(b"u"), &[0x00, 0x09, b'p']])),
        ));
        t.push(case(
            "MQTT-1.5",
            ver,
            Malformed,
            "will payload length past the end",
            connect(
                v,
                0x06,
                &cat(&[&lp(b"c"), &no_props(v), &lp(b"w"), &[0x00, 0x05, 1, 2]]),
            ),
        ));
    }
    t.push(case(
        "MQTT-1.5.4-2",
        Ver::V5,
        Malformed,
        "user property name holds U+0000",
        publish_v5_props(&user(b"k\0", b"v")),
    ));
    t.push(case(
        "MQTT-1.5.4-2",
        Ver::V5,
        Malformed,
        "user property value holds U+0000",
        publish_v5_props(&user(b"k", b"\0")),
    ));
    t.push(case(
        "MQTT-1.5.4-1",
        Ver::V5,
        Malformed,
        "reason string: surrogate",
        pkt(
            0x40,
            &cat(&[&[0, 1, 0x80], &props(&strp(0x1F, &[0xED, 0xA0, 0x80]))]),
        ),
    ));
    t.push(case(
        "MQTT-1.5",
        Ver::V5,
        Malformed,
        "correlation data length past the property block",
        publish_v5_props(&[0x09, 0x00, 0x08, 1, 2]),
    ));
    t.push(case(
        "MQTT-1.5",
        Ver::V5,
        Malformed,
        "authentication data length past the end",
        connect_v5_props(&[0x15, 0, 1, b'm', 0x16, 0x00, 0x30]),
    ));

    // == v5 properties (2.2.2) ==
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Malformed,
        "Topic Alias in CONNACK",
        connack_v5_props(&u16p(0x23, 1)),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Malformed,
        "Session Expiry Interval in PUBLISH",
        publish_v5_props(&u32p(0x11, 10)),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Malformed,
        "Will Delay Interval in CONNECT properties",
        connect_v5_props(&u32p(0x18, 10)),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Malformed,
        "Reason String in CONNECT",
        connect_v5_props(&strp(0x1F, b"r")),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Malformed,
        "Subscription Identifier in UNSUBSCRIBE",
        pkt(0xA2, &cat(&[&[0, 1], &props(&[0x0B, 1]), &lp(b"a")])),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Malformed,
        "Topic Alias in will properties",
        connect(
            V5,
            0x06,
            &cat(&[&lp(b"c"), &props(&u16p(0x23, 1)), &lp(b"w"), &lp(b"")]),
        ),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Malformed,
        "unknown property identifier 0x7F",
        publish_v5_props(&[0x7F, 0]),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Malformed,
        "property identifier 0x00",
        connack_v5_props(&[0x00, 0]),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Malformed,
        "Server Keep Alive in DISCONNECT",
        pkt(0xE0, &cat(&[&[0x00], &props(&u16p(0x13, 5))])),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "two Message Expiry Interval in PUBLISH",
        publish_v5_props(&cat(&[&u32p(0x02, 1), &u32p(0x02, 2)])),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "two Subscription Identifier in SUBSCRIBE",
        pkt(
            0x82,
            &cat(&[&[0, 1], &props(&[0x0B, 1, 0x0B, 2]), &lp(b"a"), &[0]]),
        ),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "two Topic Alias in PUBLISH",
        publish_v5_props(&cat(&[&u16p(0x23, 1), &u16p(0x23, 1)])),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "two Reason String in PUBACK",
        pkt(
            0x40,
            &cat(&[
                &[0, 1, 0x10],
                &props(&cat(&[&strp(0x1F, b"a"), &strp(0x1F, b"b")])),
            ]),
        ),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "two Authentication Method in CONNECT",
        connect_v5_props(&cat(&[&strp(0x15, b"m"), &strp(0x15, b"m")])),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "two Session Expiry Interval in DISCONNECT",
        pkt(
            0xE0,
            &cat(&[&[0x00], &props(&cat(&[&u32p(0x11, 1), &u32p(0x11, 1)]))]),
        ),
    ));
    t.push(case(
        "MQTT-2.2.2.1",
        Ver::V5,
        Malformed,
        "PUBLISH property length larger than the packet",
        pkt(0x30, &cat(&[&lp(b"a"), &[10]])),
    ));
    t.push(case(
        "MQTT-2.2.2.1",
        Ver::V5,
        Malformed,
        "PUBACK property length larger than the packet",
        pkt(0x40, &[0, 1, 0x00, 0x05, 0x1F, 0x00]),
    ));
    t.push(case(
        "MQTT-2.2.2.1",
        Ver::V5,
        Malformed,
        "CONNECT property length larger than the packet",
        pkt(0x10, &cat(&[&lp(b"MQTT"), &[5, 2, 0, 60, 0x7F]])),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "Retain Available 2 in CONNACK",
        connack_v5_props(&[0x25, 2]),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "Maximum QoS 2 in CONNACK",
        connack_v5_props(&[0x24, 2]),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "Request Problem Information 2 in CONNECT",
        connect_v5_props(&[0x17, 2]),
    ));
    t.push(case(
        "MQTT-2.2.2.2",
        Ver::V5,
        Protocol,
        "Shared Subscription Available 0xFF in CONNACK",
        connack_v5_props(&[0x2A, 0xFF]),
    ));
    t.push(case(
        "MQTT-3.2.2.3.3",
        Ver::V5,
        Protocol,
        "Receive Maximum 0 in CONNACK",
        connack_v5_props(&u16p(0x21, 0)),
    ));
    t.push(case(
        "MQTT-3.1.2.11.3",
        Ver::V5,
        Protocol,
        "Receive Maximum 0 in CONNECT",
        connect_v5_props(&u16p(0x21, 0)),
    ));
    t.push(case(
        "MQTT-3.1.2.11.10",
        Ver::V5,
        Protocol,
        "Authentication Data without an Authentication Method in CONNECT",
        connect_v5_props(&[0x16, 0x00, 0x02, 0xAB, 0xCD]),
    ));
    t.push(case(
        "MQTT-3.2.2.3.6",
        Ver::V5,
        Protocol,
        "Maximum Packet Size 0 in CONNACK",
        connack_v5_props(&u32p(0x27, 0)),
    ));
    t.push(case(
        "MQTT-3.1.2.11.4",
        Ver::V5,
        Protocol,
        "Maximum Packet Size 0 in CONNECT",
        connect_v5_props(&u32p(0x27, 0)),
    ));
    t.push(case(
        "MQTT-3.3.2-8",
        Ver::V5,
        AliasZero,
        "Topic Alias 0 in PUBLISH",
        publish_v5_props(&u16p(0x23, 0)),
    ));
    t.push(case(
        "MQTT-3.3.2-8",
        Ver::V5,
        AliasZero,
        "Topic Alias 0 with an empty topic",
        pkt(0x30, &cat(&[&lp(b""), &props(&u16p(0x23, 0))])),
    ));
    t.push(case(
        "MQTT-3.8.2.1.2",
        Ver::V5,
        Protocol,
        "Subscription Identifier 0 in SUBSCRIBE",
        pkt(0x82, &cat(&[&[0, 1], &props(&[0x0B, 0]), &lp(b"a"), &[0]])),
    ));
    t.push(case(
        "MQTT-3.3.2.3.8",
        Ver::V5,
        Protocol,
        "Subscription Identifier 0 in PUBLISH",
        publish_v5_props(&[0x0B, 0]),
    ));
    t.push(case(
        "MQTT-3.3.2-14",
        Ver::V5,
        Protocol,
        "Response Topic with a wildcard",
        publish_v5_props(&strp(0x08, b"r/#")),
    ));

    // == Reason codes not allowed for the packet (5.0 Table 2-6) ==
    t.push(case(
        "MQTT-3.4.2-1",
        Ver::V5,
        Protocol,
        "PUBACK reason 0x92",
        pkt(0x40, &[0, 1, 0x92]),
    ));
    t.push(case(
        "MQTT-3.4.2-1",
        Ver::V5,
        Protocol,
        "PUBACK reason 0x01, with properties",
        pkt(0x40, &[0, 1, 0x01, 0x00]),
    ));
    t.push(case(
        "MQTT-3.5.2-1",
        Ver::V5,
        Protocol,
        "PUBREC reason 0x92",
        pkt(0x50, &[0, 1, 0x92]),
    ));
    t.push(case(
        "MQTT-3.6.2-1",
        Ver::V5,
        Protocol,
        "PUBREL reason 0x10",
        pkt(0x62, &[0, 1, 0x10]),
    ));
    t.push(case(
        "MQTT-3.7.2-1",
        Ver::V5,
        Protocol,
        "PUBCOMP reason 0x80, with properties",
        pkt(0x70, &[0, 1, 0x80, 0x00]),
    ));
    t.push(case(
        "MQTT-3.9.3-2",
        Ver::V311,
        Protocol,
        "3.1.1 SUBACK return code 0x03",
        pkt(0x90, &[0, 1, 0x03]),
    ));
    t.push(case(
        "MQTT-3.9.3-2",
        Ver::V5,
        Protocol,
        "v5 SUBACK reason 0x03",
        pkt(0x90, &[0, 1, 0x00, 0x03]),
    ));
    t.push(case(
        "MQTT-3.9.3-2",
        Ver::V5,
        Protocol,
        "v5 SUBACK reason 0x03 after a valid one",
        pkt(0x90, &[0, 1, 0x00, 0x01, 0x03]),
    ));
    t.push(case(
        "MQTT-3.9.3-2",
        Ver::V311,
        Protocol,
        "3.1.1 SUBACK return code 0x87 (v5-only code)",
        pkt(0x90, &[0, 1, 0x87]),
    ));
    t.push(case(
        "MQTT-3.11.3-2",
        Ver::V5,
        Protocol,
        "UNSUBACK reason 0x01",
        pkt(0xB0, &[0, 1, 0x00, 0x01]),
    ));
    t.push(case(
        "MQTT-3.14.2-1",
        Ver::V5,
        Protocol,
        "DISCONNECT reason 0x05",
        pkt(0xE0, &[0x05]),
    ));
    t.push(case(
        "MQTT-3.14.2-1",
        Ver::V5,
        Protocol,
        "DISCONNECT reason 0x84 (CONNACK-only)",
        pkt(0xE0, &[0x84, 0x00]),
    ));
    t.push(case(
        "MQTT-3.15.2-1",
        Ver::V5,
        Protocol,
        "AUTH reason 0x01",
        pkt(0xF0, &[0x01, 0x00]),
    ));
    t.push(case(
        "MQTT-3.2.2-8",
        Ver::V5,
        Protocol,
        "CONNACK reason 0x11",
        pkt(0x20, &[0, 0x11, 0]),
    ));
    t.push(case(
        "MQTT-3.2.2-8",
        Ver::V5,
        Protocol,
        "CONNACK reason 0x01 (a 3.1.1 return code)",
        pkt(0x20, &[0, 0x01, 0]),
    ));
    // Table 3.1, section 3.2.2.3 (no statement ID).
    t.push(case(
        "MQTT-3.2.2.3",
        Ver::V311,
        Protocol,
        "3.1.1 CONNACK return code 6",
        vec![0x20, 0x02, 0x00, 0x06],
    ));
    // One reason code per filter of the request (sections 3.9.3 and 3.11.3;
    // MQTT-3.9.3-1 and MQTT-3.11.3-1 are about their order).
    t.push(case(
        "MQTT-3.9.3",
        Ver::V311,
        Protocol,
        "3.1.1 SUBACK without any return code",
        pkt(0x90, &[0, 1]),
    ));
    t.push(case(
        "MQTT-3.9.3",
        Ver::V5,
        Protocol,
        "v5 SUBACK without any reason code",
        pkt(0x90, &[0, 1, 0]),
    ));
    t.push(case(
        "MQTT-3.11.3",
        Ver::V5,
        Protocol,
        "v5 UNSUBACK without any reason code",
        pkt(0xB0, &[0, 1, 0]),
    ));

    // == AUTH (5.0 3.15) ==
    // The only short form is Remaining Length 0 (3.15.2.1).
    t.push(case(
        "MQTT-3.15.2.1",
        Ver::V5,
        Malformed,
        "AUTH remaining length 1: Success without a property length",
        pkt(0xF0, &[0x00]),
    ));
    t.push(case(
        "MQTT-3.15.2.1",
        Ver::V5,
        Malformed,
        "AUTH remaining length 1: Continue authentication without a property length",
        pkt(0xF0, &[0x18]),
    ));
    // It is a Protocol Error to omit the Authentication Method (3.15.2.2.2).
    t.push(case(
        "MQTT-3.15.2.2.2",
        Ver::V5,
        Protocol,
        "AUTH 0x18 with an empty property block",
        pkt(0xF0, &[0x18, 0x00]),
    ));
    t.push(case(
        "MQTT-3.15.2.2.2",
        Ver::V5,
        Protocol,
        "AUTH 0x00 with a Reason String but no Authentication Method",
        pkt(0xF0, &cat(&[&[0x00], &props(&strp(0x1F, b"r"))])),
    ));
    t.push(case(
        "MQTT-3.15.2.2.2",
        Ver::V5,
        Protocol,
        "AUTH 0x19 with Authentication Data but no Authentication Method",
        pkt(0xF0, &cat(&[&[0x19], &props(&[0x16, 0x00, 0x01, 0xAA])])),
    ));

    // == Packet identifiers, topics, SUBSCRIBE payload ==
    for v in [V311, V5] {
        let ver = Ver::from(v);
        let np = no_props(v);
        t.push(
            case(
                "MQTT-2.2.1-3",
                ver,
                Protocol,
                "PUBLISH QoS 1 packet id 0",
                pkt(0x32, &cat(&[&lp(b"a"), &[0, 0], &np, b"x"])),
            )
            .v311("MQTT-2.3.1-1"),
        );
        t.push(
            case(
                "MQTT-2.2.1-3",
                ver,
                Protocol,
                "PUBLISH QoS 2 packet id 0",
                pkt(0x34, &cat(&[&lp(b"a"), &[0, 0], &np])),
            )
            .v311("MQTT-2.3.1-1"),
        );
        for (b1, name) in [
            (0x40u8, "PUBACK"),
            (0x50, "PUBREC"),
            (0x62, "PUBREL"),
            (0x70, "PUBCOMP"),
        ] {
            t.push(
                case(
                    "MQTT-2.2.1-5",
                    ver,
                    Protocol,
                    &format!("{name} packet id 0"),
                    vec![b1, 2, 0, 0],
                )
                .v311("MQTT-2.3.1-6"),
            );
        }
        t.push(
            case(
                "MQTT-2.2.1-3",
                ver,
                Protocol,
                "SUBSCRIBE packet id 0",
                pkt(0x82, &cat(&[&[0, 0], &np, &lp(b"a"), &[0]])),
            )
            .v311("MQTT-2.3.1-1"),
        );
        t.push(
            case(
                "MQTT-2.2.1-6",
                ver,
                Protocol,
                "SUBACK packet id 0",
                pkt(0x90, &cat(&[&[0, 0], &np, &[0]])),
            )
            .v311("MQTT-2.3.1-7"),
        );
        t.push(
            case(
                "MQTT-2.2.1-3",
                ver,
                Protocol,
                "UNSUBSCRIBE packet id 0",
                pkt(0xA2, &cat(&[&[0, 0], &np, &lp(b"a")])),
            )
            .v311("MQTT-2.3.1-1"),
        );
        let unsuback: &[u8] = match v {
            V311 => &[0, 0],
            V5 => &[0, 0, 0, 0],
        };
        t.push(
            case(
                "MQTT-2.2.1-6",
                ver,
                Protocol,
                "UNSUBACK packet id 0",
                pkt(0xB0, unsuback),
            )
            .v311("MQTT-2.3.1-7"),
        );
        t.push(case(
            "MQTT-3.3.2-2",
            ver,
            Protocol,
            "PUBLISH topic with '+'",
            publish0(v, b"a/+/b"),
        ));
        t.push(case(
            "MQTT-3.3.2-2",
            ver,
            Protocol,
            "PUBLISH topic with '#'",
            publish0(v, b"a/#"),
        ));
        t.push(case(
            "MQTT-3.3.2-2",
            ver,
            Protocol,
            "PUBLISH topic '+' inside a level",
            publish0(v, b"a+"),
        ));
        t.push(case(
            "MQTT-4.7.3-1",
            ver,
            Protocol,
            "PUBLISH with an empty topic (no alias)",
            publish0(v, b""),
        ));
        let mut dup = publish0(v, b"a");
        dup[0] = 0x38;
        t.push(case(
            "MQTT-3.3.1-2",
            ver,
            Malformed,
            "DUP on a QoS 0 PUBLISH",
            dup,
        ));
        t.push(
            case(
                "MQTT-3.8.3-2",
                ver,
                Protocol,
                "SUBSCRIBE without topic filters",
                pkt(0x82, &cat(&[&[0, 1], &np])),
            )
            .v311("MQTT-3.8.3-3"),
        );
        t.push(
            case(
                "MQTT-4.7.1-1",
                ver,
                Protocol,
                "SUBSCRIBE filter a/#/b",
                subscribe(v, b"a/#/b", 0),
            )
            .v311("MQTT-4.7.1-2"),
        );
        t.push(
            case(
                "MQTT-4.7.1-1",
                ver,
                Protocol,
                "SUBSCRIBE filter a#",
                subscribe(v, b"a#", 0),
            )
            .v311("MQTT-4.7.1-2"),
        );
        // '+' not alone in its level breaks MQTT-4.7.1-2 (3.1.1: -3); the codec cites -1.
        t.push(
            case(
                "MQTT-4.7.1-2",
                ver,
                Protocol,
                "SUBSCRIBE filter a+",
                subscribe(v, b"a+", 0),
            )
            .v311("MQTT-4.7.1-3"),
        );
        t.push(case(
            "MQTT-4.7.3-1",
            ver,
            Protocol,
            "SUBSCRIBE empty filter",
            subscribe(v, b"", 0),
        ));
        t.push(
            case(
                "MQTT-4.7.1-1",
                ver,
                Protocol,
                "SUBSCRIBE second filter a/#/b after a valid one",
                pkt(
                    0x82,
                    &cat(&[&[0, 1], &np, &lp(b"x"), &[1], &lp(b"a/#/b"), &[0]]),
                ),
            )
            .v311("MQTT-4.7.1-2"),
        );
        // QoS 3 in the options byte: 3.1.1 says malformed [MQTT-3.8.3-4]
        // (written MQTT-3-8.3-4 in the spec); 5.0 a Protocol Error (3.8.3.1).
        let qos3 = match v {
            V311 => Malformed,
            V5 => Protocol,
        };
        t.push(
            case(
                "MQTT-3.8.3.1",
                ver,
                qos3,
                "SUBSCRIBE options with QoS 3",
                subscribe(v, b"a", 0x03),
            )
            .v311("MQTT-3.8.3-4"),
        );
        t.push(case(
            "MQTT-3.10.3-2",
            ver,
            Protocol,
            "UNSUBSCRIBE without topic filters",
            pkt(0xA2, &cat(&[&[0, 1], &np])),
        ));
        t.push(
            case(
                "MQTT-4.7.1-1",
                ver,
                Protocol,
                "UNSUBSCRIBE filter a/#/b",
                pkt(0xA2, &cat(&[&[0, 1], &np, &lp(b"a/#/b")])),
            )
            .v311("MQTT-4.7.1-2"),
        );
    }
    for o in [0x04u8, 0x08, 0x10, 0x20, 0x40, 0x80] {
        t.push(case(
            "MQTT-3.8.3-4",
            Ver::V311,
            Malformed,
            &format!("3.1.1 SUBSCRIBE option byte {o:#04x} (reserved bits 2-7)"),
            subscribe(V311, b"a", o),
        ));
    }
    for o in [0x40u8, 0x80, 0xC1] {
        t.push(case(
            "MQTT-3.8.3-5",
            Ver::V5,
            Malformed,
            &format!("v5 SUBSCRIBE option byte {o:#04x} (reserved bits 6-7)"),
            subscribe(V5, b"a", o),
        ));
    }
    t.push(case(
        "MQTT-3.8.3.1",
        Ver::V5,
        Protocol,
        "v5 SUBSCRIBE retain handling 3",
        subscribe(V5, b"a", 0x30),
    ));
    t.push(case(
        "MQTT-3.8.3-4",
        Ver::V5,
        Protocol,
        "v5 no local on a $share filter",
        subscribe(V5, b"$share/g/a", 0x04),
    ));
    t.push(case(
        "MQTT-3.8.3-4",
        Ver::V311,
        Malformed,
        "3.1.1 no-local bit on a $share filter is a reserved bit",
        subscribe(V311, b"$share/g/a", 0x04),
    ));

    // == CONNECT and CONNACK (3.1, 3.2) ==
    // CONNECT is decoded at its own level, whatever version decode is given.
    t.push(case(
        "MQTT-3.1.2-1",
        Ver::Both,
        Protocol,
        "protocol name MQIsdp (MQTT 3.1)",
        connect_raw(b"MQIsdp", 3, 0x02, &lp(b"c")),
    ));
    t.push(case(
        "MQTT-3.1.2-1",
        Ver::Both,
        Protocol,
        "protocol name MQTX",
        connect_raw(b"MQTX", 4, 0x02, &lp(b"c")),
    ));
    t.push(case(
        "MQTT-3.1.2-1",
        Ver::Both,
        Protocol,
        "protocol name mqtt (lower case)",
        connect_raw(b"mqtt", 5, 0x02, &lp(b"c")),
    ));
    t.push(case(
        "MQTT-3.1.2-2",
        Ver::Both,
        Level(3),
        "protocol level 3",
        connect_raw(b"MQTT", 3, 0x02, &lp(b"c")),
    ));
    t.push(case(
        "MQTT-3.1.2-2",
        Ver::Both,
        Level(6),
        "protocol level 6",
        connect_raw(b"MQTT", 6, 0x02, &lp(b"c")),
    ));
    t.push(case(
        "MQTT-3.1.2-2",
        Ver::Both,
        Level(0),
        "protocol level 0",
        connect_raw(b"MQTT", 0, 0x02, &lp(b"c")),
    ));
    for v in [V311, V5] {
        let ver = Ver::from(v);
        t.push(case(
            "MQTT-3.1.2-3",
            ver,
            Malformed,
            "CONNECT reserved flag set",
            connect(v, 0x03, &lp(b"c")),
        ));
        t.push(case(
            "MQTT-3.1.2-11",
            ver,
            Malformed,
            "will QoS 1 without the will flag",
            connect(v, 0x0A, &lp(b"c")),
        ));
        // 3.1.1 MQTT-3.1.2-11 covers both fields; the codec cites the
        // specific MQTT-3.1.2-15 (3.1.1) and MQTT-3.1.2-13 (5.0).
        t.push(
            case(
                "MQTT-3.1.2-13",
                ver,
                Malformed,
                "will retain without the will flag",
                connect(v, 0x22, &lp(b"c")),
            )
            .v311("MQTT-3.1.2-15"),
        );
        t.push(
            case(
                "MQTT-3.1.2-12",
                ver,
                Malformed,
                "will QoS 3",
                connect(
                    v,
                    0x1E,
                    &cat(&[&lp(b"c"), &no_props(v), &lp(b"w"), &lp(b"")]),
                ),
            )
            .v311("MQTT-3.1.2-14"),
        );
        if v == ProtocolVersion::V311 {
            t.push(case(
                "MQTT-3.1.3-7",
                Ver::V311,
                Protocol,
                "3.1.1 CONNECT with an empty client id and clean session 0 (found by fuzzing)",
                connect(v, 0x00, &lp(b"")),
            ));
        }
        t.push(case(
            "MQTT-3.1.3-3",
            ver,
            Malformed,
            "CONNECT without a client id",
            connect(v, 0x02, &[]),
        ));
        t.push(case(
            "MQTT-3.1.3-3",
            ver,
            Malformed,
            "CONNECT with one byte where the client id starts",
            connect(v, 0x02, &[0x00]),
        ));
        t.push(case(
            "MQTT-1.5",
            ver,
            Malformed,
            "user name flag set, user name missing",
            connect(v, 0x82, &lp(b"c")),
        ));
        t.push(case(
            "MQTT-1.5",
            ver,
            Malformed,
            "will flag set, will topic missing",
            connect(v, 0x06, &cat(&[&lp(b"c"), &no_props(v)])),
        ));
        // The Will Topic is a Topic Name: no wildcards, not empty.
        t.push(
            case(
                "MQTT-4.7.0-1",
                ver,
                Malformed,
                "will topic with a wildcard",
                connect(
                    v,
                    0x06,
                    &cat(&[&lp(b"c"), &no_props(v), &lp(b"w/#"), &lp(b"")]),
                ),
            )
            .v311("MQTT-4.7.1-1"),
        );
        t.push(case(
            "MQTT-4.7.3-1",
            ver,
            Malformed,
            "empty will topic",
            connect(
                v,
                0x06,
                &cat(&[&lp(b"c"), &no_props(v), &lp(b""), &lp(b"")]),
            ),
        ));
        let connack_tail = no_props(v);
        for f in [0x02u8, 0x80, 0xFE] {
            t.push(
                case(
                    "MQTT-3.2.2-1",
                    ver,
                    Malformed,
                    &format!("CONNACK acknowledge flags {f:#04x}"),
                    pkt(0x20, &cat(&[&[f, 0], &connack_tail])),
                )
                .v311("MQTT-3.2.2.1"),
            );
        }
        let refused = match v {
            V311 => 0x05,
            V5 => 0x87,
        };
        t.push(
            case(
                "MQTT-3.2.2-6",
                ver,
                Protocol,
                "CONNACK session present with a refusal",
                pkt(0x20, &cat(&[&[0x01, refused], &connack_tail])),
            )
            .v311("MQTT-3.2.2-4"),
        );
    }
    t.push(case(
        "MQTT-3.1.2-22",
        Ver::V311,
        Malformed,
        "3.1.1 password without user name",
        connect(V311, 0x42, &cat(&[&lp(b"c"), &lp(b"p")])),
    ));

    // == Packet too large (judged from the fixed header alone) ==
    // Our Maximum Packet Size: the Server MUST NOT exceed it [MQTT-3.1.2-24].
    // (A 5.0 ID; 3.1.1 has no Maximum Packet Size and reports the same.)
    t.push(
        case(
            "MQTT-3.1.2-24",
            Ver::Both,
            TooLarge,
            "PUBLISH announcing 268,435,455 bytes, max 1024, header only",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F],
        )
        .max(1024),
    );
    t.push(
        case(
            "MQTT-3.1.2-24",
            Ver::Both,
            TooLarge,
            "PUBLISH announcing 2,000 bytes, max 1024, two header bytes only",
            vec![0x30, 0xD0, 0x0F],
        )
        .max(1024),
    );
    t.push(
        case(
            "MQTT-3.1.2-24",
            Ver::Both,
            TooLarge,
            "PINGREQ (2 bytes) with max 1",
            vec![0xC0, 0x00],
        )
        .max(1),
    );
    t.push(
        case(
            "MQTT-3.1.2-24",
            Ver::Both,
            TooLarge,
            "whole PUBLISH one byte over the max",
            publish0(V311, b"a/b"),
        )
        .max(7),
    );

    t
}

impl From<ProtocolVersion> for Ver {
    fn from(v: ProtocolVersion) -> Self {
        match v {
            ProtocolVersion::V311 => Ver::V311,
            ProtocolVersion::V5 => Ver::V5,
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn malformed_and_forbidden_packets_are_refused() {
    let cases = cases();
    let mut failures = Vec::new();
    let mut runs = 0;
    for c in &cases {
        for &v in c.ver.versions() {
            runs += 1;
            let mut buf = BytesMut::from(&c.bytes[..]);
            let label = c.label_for(v);
            let id = format!("[{label} {v:?}] {} ({})", c.what, hex(&c.bytes));
            // The borrowed decoder refuses the same bytes with the same error.
            let borrowed = decode_ref(&c.bytes, v, c.max).map(|r| r.map(|(_, len)| len));
            let owned = decode(&mut buf.clone(), v, c.max);
            if borrowed.as_ref().err() != owned.as_ref().err() {
                failures.push(format!(
                    "{id}: decode_ref gave {borrowed:?}, decode {owned:?}"
                ));
            }
            match decode(&mut buf, v, c.max) {
                Ok(p) => failures.push(format!("{id}: decoded as {p:?}, expected {:?}", c.kind)),
                Err(e) => {
                    if !c.kind.matches(&e) {
                        failures.push(format!("{id}: got {e:?}, expected kind {:?}", c.kind));
                    }
                    if e.spec_id() != Some(label) {
                        failures.push(format!("{id}: spec_id {:?}, expected {label}", e.spec_id()));
                    }
                    if e.reason_code().0 != c.kind.reason() {
                        failures.push(format!(
                            "{id}: reason {:?}, expected {:#04x}",
                            e.reason_code(),
                            c.kind.reason()
                        ));
                    }
                }
            }
        }
    }
    for f in &failures {
        eprintln!("FAILED {f}");
    }
    eprintln!(
        "{} cases, {} decodes, {} failures",
        cases.len(),
        runs,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} decodes failed",
        failures.len(),
        runs
    );
}

#[test]
fn every_case_is_labelled_with_an_id_or_section() {
    // A label is a statement ID (MQTT-a.b.c-n) or a section (MQTT-a.b[.c]).
    for c in cases() {
        for label in [Some(c.label), c.v311_id].into_iter().flatten() {
            let rest = label
                .strip_prefix("MQTT-")
                .unwrap_or_else(|| panic!("{}: {label}", c.what));
            assert!(
                rest.chars()
                    .all(|ch| ch.is_ascii_digit() || ch == '.' || ch == '-'),
                "{}: {label}",
                c.what
            );
        }
        assert!(!c.bytes.is_empty(), "{}: no bytes", c.what);
    }
}

#[test]
fn packet_too_large_is_judged_before_the_body_arrives() {
    // Only the fixed header of a PUBLISH announcing the largest remaining length.
    let mut buf = BytesMut::from(&[0x30u8, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    let e = decode(&mut buf, ProtocolVersion::V5, 1024).unwrap_err();
    assert_eq!(
        e,
        DecodeError::PacketTooLarge {
            size: 5 + 268_435_455,
            max: 1024
        }
    );
    assert_eq!(e.reason_code().0, 0x95);
    // Three of the four length bytes: not yet an answer either way.
    let mut partial = BytesMut::from(&[0x30u8, 0xFF, 0xFF, 0xFF][..]);
    assert_eq!(decode(&mut partial, ProtocolVersion::V5, 1024), Ok(None));
    assert_eq!(partial.len(), 4);
}

/// Valid packets next to the refused ones: each must decode, whole.
#[test]
fn neighbouring_valid_packets_decode() {
    use ProtocolVersion::{V311, V5};
    let ok: Vec<(&str, ProtocolVersion, Vec<u8>, u32)> = vec![
        (
            "two User Property with the same name in PUBLISH",
            V5,
            publish_v5_props(&cat(&[&user(b"k", b"1"), &user(b"k", b"2")])),
            MAX,
        ),
        (
            "two Subscription Identifier in PUBLISH",
            V5,
            publish_v5_props(&[0x0B, 1, 0x0B, 0x80, 0x01]),
            MAX,
        ),
        (
            "two User Property in SUBSCRIBE",
            V5,
            pkt(
                0x82,
                &cat(&[
                    &[0, 1],
                    &props(&cat(&[&user(b"a", b"b"), &user(b"a", b"b")])),
                    &lp(b"a"),
                    &[0],
                ]),
            ),
            MAX,
        ),
        (
            "v5 password without user name",
            V5,
            connect(V5, 0x42, &cat(&[&lp(b"c"), &lp(b"p")])),
            MAX,
        ),
        (
            "empty topic with Topic Alias 1",
            V5,
            pkt(0x30, &cat(&[&lp(b""), &props(&u16p(0x23, 1))])),
            MAX,
        ),
        (
            "3.1.1 $share/g/a filter, QoS 1",
            V311,
            subscribe(V311, b"$share/g/a", 0x01),
            MAX,
        ),
        (
            "v5 $share/g/a filter without no local",
            V5,
            subscribe(V5, b"$share/g/a", 0x2A),
            MAX,
        ),
        (
            "filters +, #, +/+/#, /",
            V311,
            pkt(
                0x82,
                &cat(&[
                    &[0, 1],
                    &lp(b"+"),
                    &[0],
                    &lp(b"#"),
                    &[1],
                    &lp(b"+/+/#"),
                    &[2],
                    &lp(b"/"),
                    &[0],
                ]),
            ),
            MAX,
        ),
        (
            "CONNACK code 0x87 without session present",
            V5,
            pkt(0x20, &[0x00, 0x87, 0x00]),
            MAX,
        ),
        (
            "BOM kept in a topic",
            V311,
            publish0(V311, &[0xEF, 0xBB, 0xBF, b'a']),
            MAX,
        ),
        (
            "PUBLISH exactly at max packet size",
            V311,
            publish0(V311, b"a/b"),
            8,
        ),
        (
            "will retain with will flag, will QoS 2",
            V311,
            connect(V311, 0x36, &cat(&[&lp(b"c"), &lp(b"w"), &lp(b"")])),
            MAX,
        ),
        ("empty client id", V5, connect(V5, 0x02, &lp(b"")), MAX),
        (
            "AUTH Re-authenticate with an Authentication Method",
            V5,
            pkt(0xF0, &cat(&[&[0x19], &props(&strp(0x15, b"m"))])),
            MAX,
        ),
        ("AUTH remaining length 0", V5, vec![0xF0, 0x00], MAX),
        (
            "PUBLISH remaining length 128 as 80 01 (minimal)",
            V311,
            pkt(0x30, &cat(&[&lp(b"a"), &[b'x'; 125]])),
            MAX,
        ),
    ];
    let mut failures = Vec::new();
    for (what, v, bytes, max) in &ok {
        let mut buf = BytesMut::from(&bytes[..]);
        match decode(&mut buf, *v, *max) {
            Ok(Some(_)) if buf.is_empty() => {}
            other => failures.push(format!(
                "{what} ({}): {other:?}, {} bytes left",
                hex(bytes),
                buf.len()
            )),
        }
    }
    for f in &failures {
        eprintln!("FAILED {f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} valid packets refused",
        failures.len(),
        ok.len()
    );
    // Sanity: the PUBLISH at the boundary really is 8 bytes.
    assert_eq!(publish0(V311, b"a/b").len(), 8);
}
