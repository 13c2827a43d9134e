//! Byte-exact vectors of valid packets, written from the figures and
//! examples of MQTT 3.1.1 (OASIS Standard, 29 October 2014) and MQTT 5.0
//! (OASIS Standard, 7 March 2019).
//!
//! For each vector: `decode` gives exactly the expected struct and consumes
//! every byte, `encode` gives exactly the bytes, and `encoded_len` agrees.
//! Where a figure shows only a variable header or a payload, the rest of the
//! packet is completed with the smallest fields that make it whole, and the
//! comment says which bytes come from the figure.

use bytes::{Bytes, BytesMut};
use std::num::{NonZeroU16, NonZeroU32};
use tern_mqtt::codec::EncodeError;
use tern_mqtt::codec::{
    decode, encode, AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect,
    ConnectProperties, Disconnect, DisconnectProperties, MqttString, Packet, PingReq, PingResp,
    ProtocolVersion, PubAck, Publish, PublishAck, PublishProperties, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, SubscribeProperties, SubscriptionOptions, UnsubAck,
    Unsubscribe, UnsubscribeProperties, Will, WillProperties,
};
use tern_mqtt::topic::{TopicFilter, TopicName};

use ProtocolVersion::{V311, V5};

struct Vector {
    name: &'static str,
    version: ProtocolVersion,
    bytes: Vec<u8>,
    packet: Packet,
}

fn vector(name: &'static str, version: ProtocolVersion, bytes: Vec<u8>, packet: Packet) -> Vector {
    Vector {
        name,
        version,
        bytes,
        packet,
    }
}

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).unwrap()
}

fn topic(v: &str) -> TopicName {
    TopicName::new(v).unwrap()
}

fn filter(v: &str) -> TopicFilter {
    TopicFilter::new(v).unwrap()
}

fn id(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).unwrap()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// First byte, a one-byte Remaining Length (asserted below 128), body.
fn pkt(byte1: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    cat(&[&[byte1, body.len() as u8], body])
}

fn ack(packet_id: u16, code: u8) -> PublishAck {
    PublishAck {
        packet_id: id(packet_id),
        reason_code: ReasonCode(code),
        properties: AckProperties::default(),
    }
}

fn publish(topic_name: &str, qos: QoS, packet_id: Option<u16>, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: Some(topic(topic_name)),
        packet_id: packet_id.map(id),
        properties: PublishProperties::default().into(),
        payload: Bytes::from_static(payload),
    }
}

/// The Variable Header of 3.1.1 Figure 3.6 and 5.0 Figure 3-6 (before the
/// v5 properties): "MQTT", level, flags 0xCE, Keep Alive 10.
fn connect_header(level: u8) -> Vec<u8> {
    vec![0x00, 0x04, b'M', b'Q', b'T', b'T', level, 0xCE, 0x00, 0x0A]
}

/// The payload matching flags 0xCE: client id, will topic, will payload,
/// user name and password (5.0 puts the Will Properties before the topic).
fn connect_payload(will_props: &[u8]) -> Vec<u8> {
    cat(&[
        &[0x00, 0x03, b'c', b'i', b'd'],
        will_props,
        &[0x00, 0x03, b'w', b'/', b't'],
        &[0x00, 0x03, b'b', b'y', b'e'],
        &[0x00, 0x04, b'u', b's', b'e', b'r'],
        &[0x00, 0x02, b'p', b'w'],
    ])
}

fn connect_0xce(version: ProtocolVersion, properties: ConnectProperties) -> Connect {
    Connect {
        protocol_version: version,
        clean_start: true,
        keep_alive: 10,
        properties,
        client_id: s("cid"),
        will: Some(Will {
            topic: topic("w/t"),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: WillProperties::default(),
        }),
        username: Some(s("user")),
        password: Some(Bytes::from_static(b"pw")),
    }
}

fn vectors() -> Vec<Vector> {
    let mut t = Vec::new();

    // ---- CONNECT ----
    // 3.1.1 Figure 3.1 (fixed header 0x10) and Figure 3.6 (variable header:
    // "MQTT", level 4, flags 0xCE = user name, password, will QoS 1, will,
    // clean session; keep alive 10). Remaining length 10 + 25 = 35.
    t.push(vector(
        "3.1.1 Figure 3.6 CONNECT",
        V311,
        cat(&[&[0x10, 35], &connect_header(4), &connect_payload(&[])]),
        Packet::Connect(Box::new(connect_0xce(V311, ConnectProperties::default()))),
    ));
    // 5.0 Figure 3-6: the same flags at level 5, then Properties of length 5:
    // Session Expiry Interval (17) = 10. Empty Will Properties (one 0 byte).
    // Remaining length 10 + 6 + 26 = 42.
    t.push(vector(
        "5.0 Figure 3-6 CONNECT with Session Expiry Interval 10",
        V5,
        cat(&[
            &[0x10, 42],
            &connect_header(5),
            &[0x05, 0x11, 0x00, 0x00, 0x00, 0x0A],
            &connect_payload(&[0x00]),
        ]),
        Packet::Connect(Box::new(connect_0xce(
            V5,
            ConnectProperties {
                session_expiry_interval: Some(10),
                ..Default::default()
            },
        ))),
    ));
    // 3.1.1 3.1.3.1: a zero-byte ClientId; clean session, keep alive 0.
    t.push(vector(
        "3.1.1 3.1.3.1 CONNECT with empty client id",
        V311,
        vec![
            0x10, 12, 0x00, 0x04, b'M', b'Q', b'T', b'T', 4, 0x02, 0x00, 0x00, 0x00, 0x00,
        ],
        Packet::Connect(Box::new(Connect {
            protocol_version: V311,
            clean_start: true,
            keep_alive: 0,
            properties: ConnectProperties::default(),
            client_id: s(""),
            will: None,
            username: None,
            password: None,
        })),
    ));
    // 5.0 3.1.2.11 and 3.1.3.2: CONNECT and Will properties in the order the
    // encoder writes them; password without user name (allowed in 5.0,
    // 3.1.2.9); will retain with will QoS 2 (flags 0x40|0x20|0x10|0x04 = 0x74).
    let cp = [
        0x11, 0, 0, 0x0E, 0x10, // Session Expiry Interval 3600
        0x21, 0x00, 0x14, // Receive Maximum 20
        0x27, 0x00, 0x00, 0x10, 0x00, // Maximum Packet Size 4096
        0x22, 0x00, 0x0A, // Topic Alias Maximum 10
        0x19, 0x01, // Request Response Information 1
        0x17, 0x00, // Request Problem Information 0
        0x15, 0x00, 0x02, b'm', b'1', // Authentication Method "m1"
        0x16, 0x00, 0x01, 0xAA, // Authentication Data AA
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property k=v
    ];
    let wp = [
        0x18, 0, 0, 0, 5, // Will Delay Interval 5
        0x01, 0x01, // Payload Format Indicator 1
        0x02, 0, 0, 0, 60, // Message Expiry Interval 60
        0x03, 0x00, 0x04, b't', b'e', b'x', b't', // Content Type "text"
        0x08, 0x00, 0x03, b'r', b'/', b'1', // Response Topic "r/1"
        0x09, 0x00, 0x02, 0x01, 0x02, // Correlation Data 01 02
        0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b', // User Property a=b
    ];
    let body = cat(&[
        &[0x00, 0x04, b'M', b'Q', b'T', b'T', 5, 0x74, 0x00, 0x3C],
        &[cp.len() as u8],
        &cp,
        &[0x00, 0x01, b'c'],
        &[wp.len() as u8],
        &wp,
        &[0x00, 0x01, b'w', 0x00, 0x00],
        &[0x00, 0x03, b'p', b'w', b'd'],
    ]);
    t.push(vector(
        "5.0 3.1.2.11/3.1.3.2 CONNECT with every property",
        V5,
        pkt(0x10, &body),
        Packet::Connect(Box::new(Connect {
            protocol_version: V5,
            clean_start: false,
            keep_alive: 60,
            properties: ConnectProperties {
                session_expiry_interval: Some(3600),
                receive_maximum: Some(id(20)),
                maximum_packet_size: NonZeroU32::new(4096),
                topic_alias_maximum: Some(10),
                request_response_information: Some(true),
                request_problem_information: Some(false),
                authentication_method: Some(s("m1")),
                authentication_data: Some(Bytes::from_static(&[0xAA])),
                user_properties: vec![(s("k"), s("v"))],
            },
            client_id: s("c"),
            will: Some(Will {
                topic: topic("w"),
                payload: Bytes::new(),
                qos: QoS::ExactlyOnce,
                retain: true,
                properties: WillProperties {
                    will_delay_interval: Some(5),
                    payload_format_indicator: Some(true),
                    message_expiry_interval: Some(60),
                    content_type: Some(s("text")),
                    response_topic: Some(topic("r/1")),
                    correlation_data: Some(Bytes::from_static(&[1, 2])),
                    user_properties: vec![(s("a"), s("b"))],
                },
            }),
            username: None,
            password: Some(Bytes::from_static(b"pwd")),
        })),
    ));

    // ---- CONNACK ----
    // 3.1.1 Figures 3.8 and 3.9: 0x20, remaining length 2, flags, return code.
    t.push(vector(
        "3.1.1 Figure 3.9 CONNACK accepted",
        V311,
        vec![0x20, 0x02, 0x00, 0x00],
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: ReasonCode::SUCCESS,
            properties: ConnAckProperties::default(),
        })),
    ));
    t.push(vector(
        "3.1.1 3.2.2.2 CONNACK session present",
        V311,
        vec![0x20, 0x02, 0x01, 0x00],
        Packet::ConnAck(Box::new(ConnAck {
            session_present: true,
            reason_code: ReasonCode::SUCCESS,
            properties: ConnAckProperties::default(),
        })),
    ));
    t.push(vector(
        "3.1.1 Table 3.1 CONNACK return code 5 (not authorized)",
        V311,
        vec![0x20, 0x02, 0x00, 0x05],
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: ReasonCode(5),
            properties: ConnAckProperties::default(),
        })),
    ));
    // 5.0 Figure 3-7 and 3.2.2: flags, reason code, property length 0.
    t.push(vector(
        "5.0 3.2.2 CONNACK success, no properties",
        V5,
        vec![0x20, 0x03, 0x00, 0x00, 0x00],
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: ReasonCode::SUCCESS,
            properties: ConnAckProperties::default(),
        })),
    ));
    // 5.0 3.2.2.3: CONNACK properties in the encoder's order.
    let p = [
        0x11, 0, 0, 0, 0x78, // Session Expiry Interval 120
        0x21, 0x00, 0x0A, // Receive Maximum 10
        0x24, 0x01, // Maximum QoS 1
        0x25, 0x00, // Retain Available 0
        0x27, 0, 0, 0x04, 0x00, // Maximum Packet Size 1024
        0x12, 0x00, 0x02, b'i', b'd', // Assigned Client Identifier "id"
        0x22, 0x00, 0x05, // Topic Alias Maximum 5
        0x1F, 0x00, 0x02, b'o', b'k', // Reason String "ok"
        0x26, 0x00, 0x01, b'x', 0x00, 0x01, b'y', // User Property x=y
        0x28, 0x00, // Wildcard Subscription Available 0
        0x29, 0x01, // Subscription Identifiers Available 1
        0x2A, 0x00, // Shared Subscription Available 0
        0x13, 0x00, 0x1E, // Server Keep Alive 30
        0x1A, 0x00, 0x01, b'r', // Response Information "r"
        0x1C, 0x00, 0x01, b's', // Server Reference "s"
    ];
    t.push(vector(
        "5.0 3.2.2.3 CONNACK with properties, session present",
        V5,
        cat(&[&[0x20, (p.len() + 3) as u8, 0x01, 0x00, p.len() as u8], &p]),
        Packet::ConnAck(Box::new(ConnAck {
            session_present: true,
            reason_code: ReasonCode::SUCCESS,
            properties: ConnAckProperties {
                session_expiry_interval: Some(120),
                receive_maximum: Some(id(10)),
                maximum_qos: Some(QoS::AtLeastOnce),
                retain_available: Some(false),
                maximum_packet_size: NonZeroU32::new(1024),
                assigned_client_identifier: Some(s("id")),
                topic_alias_maximum: Some(5),
                reason_string: Some(s("ok")),
                user_properties: vec![(s("x"), s("y"))],
                wildcard_subscription_available: Some(false),
                subscription_identifiers_available: Some(true),
                shared_subscription_available: Some(false),
                server_keep_alive: Some(30),
                response_information: Some(s("r")),
                server_reference: Some(s("s")),
                authentication_method: None,
                authentication_data: None,
            },
        })),
    ));
    t.push(vector(
        "5.0 3.2.2.2 CONNACK 0x84 Unsupported Protocol Version",
        V5,
        vec![0x20, 0x03, 0x00, 0x84, 0x00],
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            properties: ConnAckProperties::default(),
        })),
    ));

    // ---- PUBLISH ----
    // 3.1.1 Figure 3.11 (Table 3.3): topic "a/b", packet identifier 10;
    // QoS 1 fixed header 0x32 (Figure 3.10), payload "hi".
    t.push(vector(
        "3.1.1 Figure 3.11 PUBLISH a/b id 10",
        V311,
        vec![
            0x32, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i',
        ],
        Packet::Publish(publish("a/b", QoS::AtLeastOnce, Some(10), b"hi")),
    ));
    // 5.0 Figure 3-9: the same, with Property Length 0 (byte 8).
    t.push(vector(
        "5.0 Figure 3-9 PUBLISH a/b id 10",
        V5,
        vec![
            0x32, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, 0x00, b'h', b'i',
        ],
        Packet::Publish(publish("a/b", QoS::AtLeastOnce, Some(10), b"hi")),
    ));
    // 3.3.1: QoS 2 with DUP and RETAIN: flags 0b1101; zero-length payload (3.3.3).
    let mut p = publish("a/b", QoS::ExactlyOnce, Some(10), b"");
    p.dup = true;
    p.retain = true;
    t.push(vector(
        "3.1.1 3.3.1 PUBLISH DUP QoS 2 RETAIN, empty payload",
        V311,
        vec![0x3D, 0x07, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A],
        Packet::Publish(p),
    ));
    // 3.1.1 Figure 1.3 / 5.0 Figure 1-1: the string "A\u{2A6D4}" is encoded
    // 00 05 41 F0 AA 9B 94; here as a QoS 0 topic with no payload.
    t.push(vector(
        "3.1.1 Figure 1.3 / 5.0 Figure 1-1 UTF-8 topic A U+2A6D4",
        V311,
        vec![0x30, 0x07, 0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94],
        Packet::Publish(publish("A\u{2A6D4}", QoS::AtMostOnce, None, b"")),
    ));
    // 5.0 3.3.2.3: PUBLISH properties in the encoder's order, two
    // Subscription Identifiers (3.3.2.3.8 allows several), 268,435,455 as a
    // four-byte Variable Byte Integer (Table 1-1).
    let p = [
        0x01, 0x01, // Payload Format Indicator 1
        0x02, 0, 0, 0, 0x0A, // Message Expiry Interval 10
        0x23, 0x00, 0x07, // Topic Alias 7
        0x08, 0x00, 0x03, b'r', b'/', b'x', // Response Topic "r/x"
        0x09, 0x00, 0x01, 0x2A, // Correlation Data 2A
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'1', // User Property k=1
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'2', // User Property k=2
        0x0B, 0x01, // Subscription Identifier 1
        0x0B, 0xFF, 0xFF, 0xFF, 0x7F, // Subscription Identifier 268,435,455
        0x03, 0x00, 0x04, b'j', b's', b'o', b'n', // Content Type "json"
    ];
    let body = cat(&[&[0x00, 0x03, b'a', b'/', b'b', p.len() as u8], &p, b"{}"]);
    t.push(vector(
        "5.0 3.3.2.3 PUBLISH QoS 0 with every property",
        V5,
        pkt(0x30, &body),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: Some(topic("a/b")),
            packet_id: None,
            properties: PublishProperties {
                payload_format_indicator: Some(true),
                message_expiry_interval: Some(10),
                topic_alias: Some(id(7)),
                response_topic: Some(topic("r/x")),
                correlation_data: Some(Bytes::from_static(&[0x2A])),
                user_properties: vec![(s("k"), s("1")), (s("k"), s("2"))],
                subscription_identifiers: vec![
                    NonZeroU32::new(1).unwrap(),
                    NonZeroU32::new(268_435_455).unwrap(),
                ],
                content_type: Some(s("json")),
            }
            .into(),
            payload: Bytes::from_static(b"{}"),
        }),
    ));
    // 5.0 3.3.2.3.4: a zero-length Topic Name with a Topic Alias.
    t.push(vector(
        "5.0 3.3.2.3.4 PUBLISH by topic alias only",
        V5,
        vec![0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, b'z'],
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: None,
            packet_id: None,
            properties: PublishProperties {
                topic_alias: Some(id(1)),
                ..Default::default()
            }
            .into(),
            payload: Bytes::from_static(b"z"),
        }),
    ));

    // ---- PUBACK, PUBREC, PUBREL, PUBCOMP ----
    // 3.1.1 Figures 3.12-3.19: fixed headers 0x40, 0x50, 0x62, 0x70,
    // remaining length 2, packet identifier (here 10).
    for (b1, name) in [
        (0x40u8, "PUBACK"),
        (0x50, "PUBREC"),
        (0x62, "PUBREL"),
        (0x70, "PUBCOMP"),
    ] {
        let a = ack(10, 0);
        let packet = match b1 {
            0x40 => Packet::PubAck(a),
            0x50 => Packet::PubRec(a),
            0x62 => Packet::PubRel(a),
            _ => Packet::PubComp(a),
        };
        t.push(vector(
            match name {
                "PUBACK" => "3.1.1 Figures 3.12/3.13 PUBACK",
                "PUBREC" => "3.1.1 Figures 3.14/3.15 PUBREC",
                "PUBREL" => "3.1.1 Figures 3.16/3.17 PUBREL",
                _ => "3.1.1 Figures 3.18/3.19 PUBCOMP",
            },
            V311,
            vec![b1, 0x02, 0x00, 0x0A],
            packet.clone(),
        ));
        // 5.0 3.4.2.1 etc.: Remaining Length 2 means Success, no properties.
        t.push(vector(
            match name {
                "PUBACK" => "5.0 3.4.2.1 PUBACK short form, remaining length 2",
                "PUBREC" => "5.0 3.5.2.1 PUBREC short form, remaining length 2",
                "PUBREL" => "5.0 3.6.2.1 PUBREL short form, remaining length 2",
                _ => "5.0 3.7.2.1 PUBCOMP short form, remaining length 2",
            },
            V5,
            vec![b1, 0x02, 0x00, 0x0A],
            packet,
        ));
    }
    // 5.0 3.4.2.2.1: Remaining Length 3, a reason code and no Property Length.
    t.push(vector(
        "5.0 3.4.2.2.1 PUBACK remaining length 3, 0x10 No matching subscribers",
        V5,
        vec![0x40, 0x03, 0x00, 0x0A, 0x10],
        Packet::PubAck(ack(10, 0x10)),
    ));
    t.push(vector(
        "5.0 3.5.2.1 PUBREC remaining length 3, 0x80 Unspecified error",
        V5,
        vec![0x50, 0x03, 0x00, 0x0A, 0x80],
        Packet::PubRec(ack(10, 0x80)),
    ));
    t.push(vector(
        "5.0 3.6.2.1 PUBREL remaining length 3, 0x92 Packet Identifier not found",
        V5,
        vec![0x62, 0x03, 0x00, 0x0A, 0x92],
        Packet::PubRel(ack(10, 0x92)),
    ));
    t.push(vector(
        "5.0 3.7.2.1 PUBCOMP remaining length 3, 0x92",
        V5,
        vec![0x70, 0x03, 0x00, 0x0A, 0x92],
        Packet::PubComp(ack(10, 0x92)),
    ));
    // 5.0 3.4.2.2: reason code, properties (Reason String, User Property).
    t.push(vector(
        "5.0 3.4.2.2 PUBACK 0x87 with Reason String and User Property",
        V5,
        vec![
            0x40, 0x0F, 0x00, 0x0A, 0x87, 0x0B, 0x1F, 0x00, 0x01, b'n', 0x26, 0x00, 0x01, b'a',
            0x00, 0x01, b'b',
        ],
        Packet::PubAck(PubAck {
            packet_id: id(10),
            reason_code: ReasonCode::NOT_AUTHORIZED,
            properties: AckProperties {
                reason_string: Some(s("n")),
                user_properties: vec![(s("a"), s("b"))],
            },
        }),
    ));

    // ---- SUBSCRIBE and SUBACK ----
    let a_b_c_d = vec![
        (filter("a/b"), SubscriptionOptions::qos(QoS::AtLeastOnce)),
        (filter("c/d"), SubscriptionOptions::qos(QoS::ExactlyOnce)),
    ];
    // 3.1.1 Figure 3.20 (0x82), Figure 3.21 (packet id 10) and Figure 3.23
    // (payload a/b QoS 1, c/d QoS 2).
    t.push(vector(
        "3.1.1 Figures 3.21/3.23 SUBSCRIBE a/b QoS 1, c/d QoS 2",
        V311,
        vec![
            0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x03, b'c', b'/',
            b'd', 0x02,
        ],
        Packet::Subscribe(Subscribe {
            packet_id: id(10),
            properties: SubscribeProperties::default(),
            filters: a_b_c_d.clone(),
        }),
    ));
    // 5.0 Figure 3-18 (0x82), Figure 3-19 (packet id 10, Property Length 0)
    // and Figure 3-21 (the same two filters).
    t.push(vector(
        "5.0 Figures 3-19/3-21 SUBSCRIBE a/b QoS 1, c/d QoS 2",
        V5,
        vec![
            0x82, 0x0F, 0x00, 0x0A, 0x00, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x03, b'c',
            b'/', b'd', 0x02,
        ],
        Packet::Subscribe(Subscribe {
            packet_id: id(10),
            properties: SubscribeProperties::default(),
            filters: a_b_c_d,
        }),
    ));
    // 5.0 Figure 3-20 and 3.8.2.1: every option bit (0b0010_1110 = retain
    // handling 2, RAP, NL, QoS 2), a $share filter without NL, a Subscription
    // Identifier of 16,384 (three VBI bytes, Table 1-1) and a User Property.
    t.push(vector(
        "5.0 Figure 3-20 SUBSCRIBE options, $share, subscription id 16384",
        V5,
        cat(&[
            &[0x82, 0x20, 0x00, 0x0B],
            &[
                0x0A, 0x0B, 0x80, 0x80, 0x01, 0x26, 0x00, 0x01, b'u', 0x00, 0x00,
            ],
            &[0x00, 0x03, b's', b'/', b'#', 0x2E],
            &[
                0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b'+', 0x19,
            ],
        ]),
        Packet::Subscribe(Subscribe {
            packet_id: id(11),
            properties: SubscribeProperties {
                subscription_identifier: NonZeroU32::new(16_384),
                user_properties: vec![(s("u"), s(""))],
            },
            filters: vec![
                (
                    filter("s/#"),
                    SubscriptionOptions {
                        qos: QoS::ExactlyOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                ),
                (
                    filter("$share/g/+"),
                    SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        no_local: false,
                        retain_as_published: true,
                        retain_handling: RetainHandling::SendAtSubscribeIfNew,
                    },
                ),
            ],
        }),
    ));
    // 3.1.1 Figure 3.24 (0x90), 3.25 (packet id) and 3.27 (return codes
    // 0, 2, 0x80).
    t.push(vector(
        "3.1.1 Figure 3.27 SUBACK 0, 2, failure",
        V311,
        vec![0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80],
        Packet::SubAck(SubAck {
            packet_id: id(10),
            properties: AckProperties::default(),
            reason_codes: vec![ReasonCode(0), ReasonCode(2), ReasonCode(0x80)],
        }),
    ));
    // 5.0 Figure 3-22/3-23 and 3.9.3: Property Length 0, then reason codes.
    t.push(vector(
        "5.0 3.9.3 SUBACK 0x01, 0x02, 0xA2",
        V5,
        vec![0x90, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x02, 0xA2],
        Packet::SubAck(SubAck {
            packet_id: id(10),
            properties: AckProperties::default(),
            reason_codes: vec![
                ReasonCode::GRANTED_QOS_1,
                ReasonCode::GRANTED_QOS_2,
                ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
            ],
        }),
    ));

    // ---- UNSUBSCRIBE and UNSUBACK ----
    // 3.1.1 Figure 3.28 (0xA2), 3.29 (packet id) and 3.30 (a/b, c/d).
    t.push(vector(
        "3.1.1 Figure 3.30 UNSUBSCRIBE a/b, c/d",
        V311,
        vec![
            0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x03, b'c', b'/', b'd',
        ],
        Packet::Unsubscribe(Unsubscribe {
            packet_id: id(10),
            properties: UnsubscribeProperties::default(),
            filters: vec![filter("a/b"), filter("c/d")],
        }),
    ));
    // 5.0 3.10.2/3.10.3: Property Length, User Property, then the filters.
    t.push(vector(
        "5.0 3.10.3 UNSUBSCRIBE with a User Property",
        V5,
        vec![
            0xA2, 0x0D, 0x00, 0x0A, 0x07, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', 0x00, 0x01,
            b'#',
        ],
        Packet::Unsubscribe(Unsubscribe {
            packet_id: id(10),
            properties: UnsubscribeProperties {
                user_properties: vec![(s("k"), s("v"))],
            },
            filters: vec![filter("#")],
        }),
    ));
    // 3.1.1 Figures 3.31/3.32: 0xB0, remaining length 2, packet id.
    t.push(vector(
        "3.1.1 Figure 3.32 UNSUBACK",
        V311,
        vec![0xB0, 0x02, 0x00, 0x0A],
        Packet::UnsubAck(UnsubAck {
            packet_id: id(10),
            properties: AckProperties::default(),
            reason_codes: vec![],
        }),
    ));
    t.push(vector(
        "5.0 3.11.3 UNSUBACK 0x00, 0x11 with a Reason String",
        V5,
        vec![
            0xB0, 0x09, 0x00, 0x0A, 0x04, 0x1F, 0x00, 0x01, b'r', 0x00, 0x11,
        ],
        Packet::UnsubAck(UnsubAck {
            packet_id: id(10),
            properties: AckProperties {
                reason_string: Some(s("r")),
                user_properties: vec![],
            },
            reason_codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
        }),
    ));

    // ---- PINGREQ, PINGRESP, DISCONNECT, AUTH ----
    for v in [V311, V5] {
        // 3.1.1 Figures 3.33, 3.34, 3.35; 5.0 3.12.1, 3.13.1, 3.14.2.1.
        t.push(vector(
            "3.1.1 Figure 3.33 / 5.0 3.12.1 PINGREQ",
            v,
            vec![0xC0, 0x00],
            Packet::PingReq(PingReq),
        ));
        t.push(vector(
            "3.1.1 Figure 3.34 / 5.0 3.13.1 PINGRESP",
            v,
            vec![0xD0, 0x00],
            Packet::PingResp(PingResp),
        ));
        t.push(vector(
            "3.1.1 Figure 3.35 / 5.0 3.14.2.1 DISCONNECT, remaining length 0",
            v,
            vec![0xE0, 0x00],
            Packet::Disconnect(Disconnect::default()),
        ));
    }
    // 5.0 3.14.2.1: Remaining Length 1, a reason code and no properties.
    t.push(vector(
        "5.0 3.14.2.1 DISCONNECT remaining length 1, 0x04 with Will",
        V5,
        vec![0xE0, 0x01, 0x04],
        Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::DISCONNECT_WITH_WILL,
            properties: DisconnectProperties::default(),
        }),
    ));
    // 5.0 Figure 3-24: reason 0, Properties of length 5: Session Expiry
    // Interval 0.
    t.push(vector(
        "5.0 Figure 3-24 DISCONNECT with Session Expiry Interval 0",
        V5,
        vec![0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00],
        Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::NORMAL_DISCONNECTION,
            properties: DisconnectProperties {
                session_expiry_interval: Some(0),
                ..Default::default()
            },
        }),
    ));
    t.push(vector(
        "5.0 3.14.2.2 DISCONNECT 0x9C with Server Reference",
        V5,
        vec![0xE0, 0x07, 0x9C, 0x05, 0x1C, 0x00, 0x02, b'h', b'2'],
        Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::USE_ANOTHER_SERVER,
            properties: DisconnectProperties {
                server_reference: Some(s("h2")),
                ..Default::default()
            },
        }),
    ));
    // 5.0 3.15.2.1: Remaining Length 0 means Success and no properties.
    t.push(vector(
        "5.0 3.15.2.1 AUTH remaining length 0",
        V5,
        vec![0xF0, 0x00],
        Packet::Auth(Auth::default()),
    ));
    // 5.0 3.15.2.2: Continue authentication with method and data.
    t.push(vector(
        "5.0 3.15.2.2 AUTH 0x18 with Authentication Method and Data",
        V5,
        vec![
            0xF0, 0x0F, 0x18, 0x0D, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', 0x16, 0x00,
            0x02, 0x01, 0x02,
        ],
        Packet::Auth(Auth {
            reason_code: ReasonCode::CONTINUE_AUTHENTICATION,
            properties: AuthProperties {
                authentication_method: Some(s("SCRAM")),
                authentication_data: Some(Bytes::from_static(&[1, 2])),
                ..Default::default()
            },
        }),
    ));
    // 5.0 3.15.2.1: Success with properties is written in full: reason code,
    // Property Length, Authentication Method.
    t.push(vector(
        "5.0 3.15.2 AUTH 0x00 with Authentication Method",
        V5,
        vec![0xF0, 0x06, 0x00, 0x04, 0x15, 0x00, 0x01, b'm'],
        Packet::Auth(Auth {
            reason_code: ReasonCode::SUCCESS,
            properties: AuthProperties {
                authentication_method: Some(s("m")),
                ..Default::default()
            },
        }),
    ));

    t
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn check(v: &Vector) -> Vec<String> {
    let mut failures = Vec::new();
    let label = format!("[{:?}] {}", v.version, v.name);
    let mut buf = BytesMut::from(&v.bytes[..]);
    match decode(&mut buf, v.version, u32::MAX) {
        Ok(Some(p)) if p == v.packet => {}
        other => failures.push(format!(
            "{label}: decode gave {other:?}\n   expected {:?}",
            v.packet
        )),
    }
    if !buf.is_empty() {
        failures.push(format!("{label}: decode left {} bytes", buf.len()));
    }
    let mut out = BytesMut::new();
    match encode(&v.packet, v.version, &mut out) {
        Ok(()) if out[..] == v.bytes[..] => {}
        Ok(()) => failures.push(format!(
            "{label}: encode gave\n   {}\n   expected\n   {}",
            hex(&out),
            hex(&v.bytes)
        )),
        Err(e) => failures.push(format!("{label}: encode failed: {e:?}")),
    }
    match v.packet.encoded_len(v.version) {
        Ok(n) if n == v.bytes.len() => {}
        other => failures.push(format!(
            "{label}: encoded_len {other:?}, expected {}",
            v.bytes.len()
        )),
    }
    failures
}

#[test]
fn spec_figures_decode_and_encode_byte_exact() {
    let vs = vectors();
    let failures: Vec<String> = vs.iter().flat_map(check).collect();
    for f in &failures {
        eprintln!("FAILED {f}");
    }
    eprintln!("{} vectors, {} failures", vs.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{} failures over {} vectors",
        failures.len(),
        vs.len()
    );
}

/// 5.0 Table 1-1 / 3.1.1 Table 2.4: the edges of each Remaining Length size,
/// carried by QoS 0 PUBLISH packets to topic "t" whose payload fills the
/// rest (topic field 3 bytes).
#[test]
fn remaining_length_table_edges() {
    let rows: &[(usize, &[u8])] = &[
        (3, &[0x03]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
    ];
    for &(remaining, header) in rows {
        let payload = Bytes::from(vec![0x5A; remaining - 3]);
        let packet = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: Some(topic("t")),
            packet_id: None,
            properties: PublishProperties::default().into(),
            payload: payload.clone(),
        });
        let bytes = cat(&[&[0x30], header, &[0x00, 0x01, b't'], &payload]);
        let v = vector(
            "Table 2.4 / Table 1-1 remaining length",
            V311,
            bytes,
            packet,
        );
        let failures = check(&v);
        assert!(
            failures.is_empty(),
            "remaining length {remaining}: {failures:?}"
        );
    }
    // 268,435,455 (FF FF FF 7F), the largest: the header alone is read and
    // the decoder waits for the body.
    let mut buf = BytesMut::from(&[0x30u8, 0xFF, 0xFF, 0xFF, 0x7F, 0x00][..]);
    assert_eq!(decode(&mut buf, V5, u32::MAX), Ok(None));
    assert_eq!(buf.len(), 6);
}

/// The decoder hands back one packet at a time and waits on a partial one.
#[test]
fn vectors_back_to_back_and_split() {
    let vs = vectors();
    for version in [V311, V5] {
        let mine: Vec<&Vector> = vs.iter().filter(|v| v.version == version).collect();
        let all: Vec<u8> = mine.iter().flat_map(|v| v.bytes.clone()).collect();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        // Feed one byte at a time: every prefix either yields packets or None.
        for b in all {
            buf.extend_from_slice(&[b]);
            while let Some(p) = decode(&mut buf, version, u32::MAX).unwrap() {
                got.push(p);
            }
        }
        assert!(buf.is_empty());
        let want: Vec<Packet> = mine.iter().map(|v| v.packet.clone()).collect();
        assert_eq!(got, want, "{version:?}");
    }
}

/// Packets the encoder must refuse, with the statement it cites.
#[test]
fn encode_refusals_cite_their_statement() {
    let auth = |code: ReasonCode, properties: AuthProperties| {
        Packet::Auth(Auth {
            reason_code: code,
            properties,
        })
    };
    let cases: Vec<(&str, ProtocolVersion, Packet, &str)> = vec![
        // 5.0 3.15.2.2.2: an AUTH that carries a reason code carries an
        // Authentication Method; the encoder never writes a reason code alone.
        (
            "AUTH 0x18 without properties",
            V5,
            auth(
                ReasonCode::CONTINUE_AUTHENTICATION,
                AuthProperties::default(),
            ),
            "MQTT-3.15.2.2.2",
        ),
        (
            "AUTH 0x19 with data but no method",
            V5,
            auth(
                ReasonCode::REAUTHENTICATE,
                AuthProperties {
                    authentication_data: Some(Bytes::from_static(b"d")),
                    ..Default::default()
                },
            ),
            "MQTT-3.15.2.2.2",
        ),
        (
            "AUTH 0x00 with a Reason String but no method",
            V5,
            auth(
                ReasonCode::SUCCESS,
                AuthProperties {
                    reason_string: Some(s("r")),
                    ..Default::default()
                },
            ),
            "MQTT-3.15.2.2.2",
        ),
        (
            "AUTH reason 0x01",
            V5,
            auth(ReasonCode(0x01), AuthProperties::default()),
            "MQTT-3.15.2-1",
        ),
        (
            "PUBACK 0x92",
            V5,
            Packet::PubAck(ack(1, 0x92)),
            "MQTT-3.4.2-1",
        ),
        (
            "PUBREC 0x92",
            V5,
            Packet::PubRec(ack(1, 0x92)),
            "MQTT-3.5.2-1",
        ),
        (
            "PUBREL 0x10",
            V5,
            Packet::PubRel(ack(1, 0x10)),
            "MQTT-3.6.2-1",
        ),
        (
            "PUBCOMP 0x80",
            V5,
            Packet::PubComp(ack(1, 0x80)),
            "MQTT-3.7.2-1",
        ),
        (
            "3.1.1 CONNACK session present with return code 5",
            V311,
            Packet::ConnAck(Box::new(ConnAck {
                session_present: true,
                reason_code: ReasonCode(5),
                properties: ConnAckProperties::default(),
            })),
            "MQTT-3.2.2-4",
        ),
        (
            "5.0 CONNACK session present with reason 0x87",
            V5,
            Packet::ConnAck(Box::new(ConnAck {
                session_present: true,
                reason_code: ReasonCode::NOT_AUTHORIZED,
                properties: ConnAckProperties::default(),
            })),
            "MQTT-3.2.2-6",
        ),
        (
            "5.0 CONNECT with Authentication Data and no Authentication Method",
            V5,
            Packet::Connect(Box::new(connect_0xce(
                V5,
                ConnectProperties {
                    authentication_data: Some(Bytes::from_static(b"token")),
                    ..ConnectProperties::default()
                },
            ))),
            "MQTT-3.1.2.11.10",
        ),
        (
            "3.1.1 SUBSCRIBE without filters",
            V311,
            Packet::Subscribe(Subscribe {
                packet_id: id(1),
                properties: SubscribeProperties::default(),
                filters: vec![],
            }),
            "MQTT-3.8.3-3",
        ),
        (
            "v5 SUBACK without reason codes",
            V5,
            Packet::SubAck(SubAck {
                packet_id: id(1),
                properties: AckProperties::default(),
                reason_codes: vec![],
            }),
            "MQTT-3.9.3",
        ),
    ];
    let mut failures = Vec::new();
    for (what, v, packet, want) in &cases {
        let mut out = BytesMut::new();
        match encode(packet, *v, &mut out) {
            Err(EncodeError::InvalidValue { spec, .. }) if spec == *want => {}
            other => failures.push(format!("{what}: {other:?}, expected {want}")),
        }
        if !out.is_empty() {
            failures.push(format!("{what}: {} bytes written on error", out.len()));
        }
        if packet.encoded_len(*v).is_ok() {
            failures.push(format!("{what}: encoded_len accepted it"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
