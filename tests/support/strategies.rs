//! Proptest strategies for every tern-mqtt control packet of both protocol
//! versions, for use by any integration test.
//!
//! Include it from a test crate with
//!
//! ```ignore
//! #[path = "support/strategies.rs"]
//! mod strategies;
//! ```
//!
//! Every strategy yields only values that the encoder accepts for the
//! version it is given: for [`ProtocolVersion::V311`] all v5-only fields are
//! left at their defaults (no properties, success reason codes, QoS-only
//! subscription options, no AUTH), and for [`ProtocolVersion::V5`] every
//! optional field and property is populated some of the time. Reason codes
//! are drawn from the codes that are valid for their packet (Table 2-6 via
//! [`ReasonCode::is_valid_for`], and 3.1.1's return codes). Strings are
//! arbitrary Unicode without U+0000; topic names and filters are valid as
//! `tern_mqtt::topic` checks them.
// Each test crate that includes this file uses only part of it.
#![allow(dead_code)]

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use std::num::{NonZeroU16, NonZeroU32};
use tern_mqtt::codec::{
    AckKind, AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect,
    ConnectProperties, Disconnect, DisconnectProperties, MqttString, Packet, PacketId, PingReq,
    PingResp, ProtocolVersion, Publish, PublishAck, PublishProperties, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, SubscribeProperties, SubscriptionOptions, UnsubAck,
    Unsubscribe, UnsubscribeProperties, UserProperty, Will, WillProperties, VBI_MAX,
};
use tern_mqtt::topic::{TopicFilter, TopicName};

/// Default upper bound of a PUBLISH payload in [`packet`], in bytes.
pub const DEFAULT_MAX_PAYLOAD: usize = 4096;

// ---------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------

/// Either protocol version.
pub fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(ProtocolVersion::V311), Just(ProtocolVersion::V5)]
}

/// Any QoS level.
pub fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

/// A non-zero packet identifier, with the edges 1 and 65,535 weighted up.
pub fn packet_id() -> impl Strategy<Value = PacketId> {
    prop_oneof![
        1 => Just(1u16),
        1 => Just(u16::MAX),
        6 => 1..=u16::MAX,
    ]
    .prop_map(|v| NonZeroU16::new(v).expect("range excludes 0"))
}

/// Any non-zero `u16`.
pub fn non_zero_u16() -> impl Strategy<Value = NonZeroU16> {
    (1..=u16::MAX).prop_map(|v| NonZeroU16::new(v).expect("range excludes 0"))
}

/// Any non-zero `u32`.
pub fn non_zero_u32() -> impl Strategy<Value = NonZeroU32> {
    prop_oneof![Just(1u32), Just(u32::MAX), 1..=u32::MAX]
        .prop_map(|v| NonZeroU32::new(v).expect("range excludes 0"))
}

/// A subscription identifier: 1 to 268,435,455 (every VBI width).
pub fn subscription_id() -> impl Strategy<Value = NonZeroU32> {
    prop_oneof![
        Just(1u32),
        Just(127u32),
        Just(128u32),
        Just(16_383u32),
        Just(16_384u32),
        Just(VBI_MAX),
        1..=VBI_MAX,
    ]
    .prop_map(|v| NonZeroU32::new(v).expect("range excludes 0"))
}

/// Every reason code byte that Table 2-6 lists for `kind`.
pub fn valid_codes(kind: AckKind) -> Vec<ReasonCode> {
    (0..=u8::MAX)
        .map(ReasonCode)
        .filter(|c| c.is_valid_for(kind))
        .collect()
}

/// A reason code valid for `kind` in MQTT 5.0, with Success weighted up so
/// the short forms of the acknowledgements are exercised.
pub fn reason_code_v5(kind: AckKind) -> impl Strategy<Value = ReasonCode> {
    prop_oneof![1 => Just(ReasonCode::SUCCESS), 3 => select(valid_codes(kind))]
}

// ---------------------------------------------------------------------------
// Strings, binary data, topics
// ---------------------------------------------------------------------------

/// Any Unicode scalar value except U+0000.
pub fn mqtt_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range('\u{1}', '\u{7f}'),
        2 => any::<char>().prop_filter("no U+0000", |c| *c != '\0'),
    ]
}

/// A valid MQTT UTF-8 string of at most `max_chars` characters (may be empty).
pub fn mqtt_string_max(max_chars: usize) -> impl Strategy<Value = MqttString> {
    vec(mqtt_char(), 0..=max_chars).prop_map(|cs| {
        MqttString::try_from(cs.into_iter().collect::<String>()).expect("no NUL, short")
    })
}

/// A valid MQTT UTF-8 string (may be empty), usually short, sometimes long
/// enough to push a length prefix past one byte.
pub fn mqtt_string() -> BoxedStrategy<MqttString> {
    prop_oneof![
        8 => mqtt_string_max(12),
        1 => mqtt_string_max(200),
    ]
    .boxed()
}

/// Binary data of at most `max` bytes (may be empty).
pub fn binary_max(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// Binary Data for properties and passwords.
pub fn binary() -> impl Strategy<Value = Bytes> {
    binary_max(40)
}

/// A payload of at most `max` bytes: mostly small, sometimes up to `max`,
/// and, when `max` allows, sometimes past 16 KiB (three-byte remaining length).
pub fn payload(max: usize) -> BoxedStrategy<Bytes> {
    let small = binary_max(max.min(64));
    let medium = binary_max(max);
    if max > 16_500 {
        // Large payloads are a cheap pattern rather than random bytes.
        let large = (16_300..=max, any::<u8>()).prop_map(|(len, seed)| {
            Bytes::from(
                (0..len)
                    .map(|i| seed.wrapping_add((i % 251) as u8))
                    .collect::<Vec<u8>>(),
            )
        });
        prop_oneof![6 => small, 3 => medium, 1 => large].boxed()
    } else {
        prop_oneof![2 => small, 1 => medium].boxed()
    }
}

/// A character that may appear inside one topic level: anything but U+0000,
/// `/`, `+` and `#`; `$`, spaces and non-ASCII are weighted up.
fn level_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => Just('$'),
        1 => Just(' '),
        2 => mqtt_char().prop_filter("not a separator or wildcard", |c| {
            !matches!(*c, '/' | '+' | '#')
        }),
    ]
}

/// One topic level without wildcards or separators (may be empty).
fn plain_level() -> impl Strategy<Value = String> {
    vec(level_char(), 0..=8).prop_map(|cs| cs.into_iter().collect())
}

/// A valid topic name: at least one character, no wildcards; empty levels
/// and leading `$` or `/` included.
pub fn topic_name() -> BoxedStrategy<TopicName> {
    vec(plain_level(), 1..=5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter_map("topic names are not empty", |s| TopicName::new(&s).ok())
        .boxed()
}

/// The text of a non-shared topic filter: levels of `+` or plain text,
/// optionally ending in `#`.
fn filter_text() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => plain_level(), 1 => Just("+".to_string())];
    (vec(level, 0..=5), any::<bool>()).prop_map(|(mut levels, hash)| {
        if hash || levels.is_empty() {
            levels.push("#".to_string());
        }
        levels.join("/")
    })
}

/// A valid non-shared topic filter (wildcards included).
pub fn plain_topic_filter() -> BoxedStrategy<TopicFilter> {
    filter_text()
        .prop_filter_map("valid, non-shared filter", |s| {
            TopicFilter::new(&s).ok().filter(|f| f.share().is_none())
        })
        .boxed()
}

/// A valid shared subscription filter, `$share/{ShareName}/{filter}`.
pub fn shared_topic_filter() -> BoxedStrategy<TopicFilter> {
    let share_name = vec(level_char(), 1..=6).prop_map(|cs| cs.into_iter().collect::<String>());
    (share_name, filter_text())
        .prop_filter_map("valid shared filter", |(name, filter)| {
            TopicFilter::new(&format!("$share/{name}/{filter}")).ok()
        })
        .boxed()
}

/// A valid topic filter: plain or (about one time in four) shared.
pub fn topic_filter() -> BoxedStrategy<TopicFilter> {
    prop_oneof![3 => plain_topic_filter(), 1 => shared_topic_filter()].boxed()
}

// ---------------------------------------------------------------------------
// Properties (MQTT 5.0)
// ---------------------------------------------------------------------------

/// 0..=4 User Properties; keys are often repeated, as the spec allows.
pub fn user_properties() -> impl Strategy<Value = Vec<UserProperty>> {
    let key = prop_oneof![
        2 => Just(MqttString::from_static("k").expect("valid")),
        3 => mqtt_string(),
    ];
    vec((key, mqtt_string()), 0..=4)
}

/// CONNECT properties with each field present some of the time.
pub fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        option::of(any::<u32>()),
        option::of(non_zero_u16()),
        option::of(non_zero_u32()),
        option::of(any::<u16>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(mqtt_string()),
        option::of(binary()),
        user_properties(),
    )
        .prop_map(
            |(sei, rm, mps, tam, rri, rpi, method, data, user)| ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                // Data without a method is a Protocol Error (3.1.2.11.10).
                authentication_data: data.filter(|_| method.is_some()),
                authentication_method: method,
                user_properties: user,
            },
        )
}

/// Will properties with each field present some of the time.
pub fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(mqtt_string()),
        option::of(topic_name()),
        option::of(binary()),
        user_properties(),
    )
        .prop_map(|(delay, pfi, mei, ct, rt, cd, user)| WillProperties {
            will_delay_interval: delay,
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: user,
        })
}

/// CONNACK properties with each field present some of the time. Maximum
/// QoS is only ever 0 or 1: a value of 2 is not allowed on the wire.
pub fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let first = (
        option::of(any::<u32>()),
        option::of(non_zero_u16()),
        option::of(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
        option::of(any::<bool>()),
        option::of(non_zero_u32()),
        option::of(mqtt_string()),
        option::of(any::<u16>()),
        option::of(mqtt_string()),
        user_properties(),
    );
    let second = (
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<u16>()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(binary()),
    );
    (first, second).prop_map(
        |(
            (sei, rm, mq, ra, mps, aci, tam, rs, user),
            (wsa, sia, ssa, ska, ri, sr, method, data),
        )| ConnAckProperties {
            session_expiry_interval: sei,
            receive_maximum: rm,
            maximum_qos: mq,
            retain_available: ra,
            maximum_packet_size: mps,
            assigned_client_identifier: aci,
            topic_alias_maximum: tam,
            reason_string: rs,
            user_properties: user,
            wildcard_subscription_available: wsa,
            subscription_identifiers_available: sia,
            shared_subscription_available: ssa,
            server_keep_alive: ska,
            response_information: ri,
            server_reference: sr,
            authentication_method: method,
            authentication_data: data,
        },
    )
}

/// PUBLISH properties with each field present some of the time, except the
/// Topic Alias, which [`publish`] chooses together with the topic.
fn publish_properties_without_alias() -> impl Strategy<Value = PublishProperties> {
    (
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(topic_name()),
        option::of(binary()),
        user_properties(),
        vec(subscription_id(), 0..=3),
        option::of(mqtt_string()),
    )
        .prop_map(|(pfi, mei, rt, cd, user, sids, ct)| PublishProperties {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            topic_alias: None,
            response_topic: rt,
            correlation_data: cd,
            user_properties: user,
            subscription_identifiers: sids,
            content_type: ct,
        })
}

/// Reason String and User Properties, empty one time in three.
pub fn ack_properties() -> impl Strategy<Value = AckProperties> {
    let some =
        (option::of(mqtt_string()), user_properties()).prop_map(|(rs, user)| AckProperties {
            reason_string: rs,
            user_properties: user,
        });
    prop_oneof![1 => Just(AckProperties::default()), 2 => some]
}

/// SUBSCRIBE properties.
pub fn subscribe_properties() -> impl Strategy<Value = SubscribeProperties> {
    (option::of(subscription_id()), user_properties()).prop_map(|(sid, user)| SubscribeProperties {
        subscription_identifier: sid,
        user_properties: user,
    })
}

/// UNSUBSCRIBE properties.
pub fn unsubscribe_properties() -> impl Strategy<Value = UnsubscribeProperties> {
    user_properties().prop_map(|user| UnsubscribeProperties {
        user_properties: user,
    })
}

/// DISCONNECT properties, empty one time in three.
pub fn disconnect_properties() -> impl Strategy<Value = DisconnectProperties> {
    let some = (
        option::of(any::<u32>()),
        option::of(mqtt_string()),
        user_properties(),
        option::of(mqtt_string()),
    )
        .prop_map(|(sei, rs, user, sr)| DisconnectProperties {
            session_expiry_interval: sei,
            reason_string: rs,
            user_properties: user,
            server_reference: sr,
        });
    prop_oneof![1 => Just(DisconnectProperties::default()), 2 => some]
}

/// AUTH properties, empty one time in three.
pub fn auth_properties() -> impl Strategy<Value = AuthProperties> {
    // An AUTH that carries anything carries its Authentication Method
    // (3.15.2.2.2); only the empty Success short form goes without.
    let some = (
        mqtt_string(),
        option::of(binary()),
        option::of(mqtt_string()),
        user_properties(),
    )
        .prop_map(|(method, data, rs, user)| AuthProperties {
            authentication_method: Some(method),
            authentication_data: data,
            reason_string: rs,
            user_properties: user,
        });
    prop_oneof![1 => Just(AuthProperties::default()), 2 => some]
}

/// `props` in v5, the default in 3.1.1.
fn v5_only<T, S>(v: ProtocolVersion, props: S) -> BoxedStrategy<T>
where
    T: Default + Clone + std::fmt::Debug + 'static,
    S: Strategy<Value = T> + 'static,
{
    match v {
        ProtocolVersion::V5 => props.boxed(),
        ProtocolVersion::V311 => Just(T::default()).boxed(),
    }
}

// ---------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------

/// A Will Message for a CONNECT of version `v`.
pub fn will(v: ProtocolVersion) -> impl Strategy<Value = Will> {
    (
        topic_name(),
        payload(256),
        qos(),
        any::<bool>(),
        v5_only(v, will_properties()),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
}

/// CONNECT written at protocol level `v`: with and without will, user
/// name and password (a password alone only in v5).
pub fn connect(v: ProtocolVersion) -> BoxedStrategy<Connect> {
    (
        any::<bool>(),
        any::<u16>(),
        v5_only(v, connect_properties()),
        mqtt_string(),
        option::of(will(v)),
        option::of(mqtt_string()),
        option::of(binary()),
    )
        .prop_map(
            move |(clean_start, keep_alive, properties, client_id, will, username, password)| {
                // 3.1.1 [MQTT-3.1.2-22]: no password without a user name.
                let password = match v {
                    ProtocolVersion::V311 if username.is_none() => None,
                    _ => password,
                };
                // 3.1.1 [MQTT-3.1.3-7]: an empty client id needs clean session.
                let clean_start =
                    clean_start || (v == ProtocolVersion::V311 && client_id.is_empty());
                Connect {
                    protocol_version: v,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                }
            },
        )
        .boxed()
}

/// CONNACK: a Connect Reason Code of Table 2-6 (v5) or a return code 0..=5
/// (3.1.1); Session Present only with code 0.
pub fn connack(v: ProtocolVersion) -> BoxedStrategy<ConnAck> {
    let code = match v {
        ProtocolVersion::V5 => reason_code_v5(AckKind::ConnAck).boxed(),
        ProtocolVersion::V311 => prop_oneof![1 => Just(0u8), 1 => 0u8..=5]
            .prop_map(ReasonCode)
            .boxed(),
    };
    (any::<bool>(), code, v5_only(v, connack_properties()))
        .prop_map(|(sp, reason_code, properties)| ConnAck {
            session_present: sp && reason_code == ReasonCode::SUCCESS,
            reason_code,
            properties,
        })
        .boxed()
}

/// PUBLISH with a payload of at most `max_payload` bytes. QoS and packet
/// identifier agree, DUP only with QoS 1 or 2; in v5 the topic may be
/// replaced by a Topic Alias or accompanied by one.
pub fn publish(v: ProtocolVersion, max_payload: usize) -> BoxedStrategy<Publish> {
    // (topic, topic alias): topic only, topic with alias, or alias only.
    let naming = match v {
        ProtocolVersion::V311 => topic_name().prop_map(|t| (Some(t), None)).boxed(),
        ProtocolVersion::V5 => prop_oneof![
            2 => topic_name().prop_map(|t| (Some(t), None)),
            1 => (topic_name(), non_zero_u16()).prop_map(|(t, a)| (Some(t), Some(a))),
            1 => non_zero_u16().prop_map(|a| (None, Some(a))),
        ]
        .boxed(),
    };
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        packet_id(),
        naming,
        v5_only(v, publish_properties_without_alias()),
        payload(max_payload),
    )
        .prop_map(
            |(qos, dup, retain, id, (topic, alias), mut properties, payload)| {
                properties.topic_alias = alias;
                let at_most_once = qos == QoS::AtMostOnce;
                Publish {
                    dup: dup && !at_most_once,
                    qos,
                    retain,
                    topic,
                    packet_id: (!at_most_once).then_some(id),
                    properties: properties.into(),
                    payload,
                }
            },
        )
        .boxed()
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP body for `kind` (one of those four).
pub fn publish_ack(v: ProtocolVersion, kind: AckKind) -> BoxedStrategy<PublishAck> {
    match v {
        ProtocolVersion::V311 => packet_id().prop_map(PublishAck::new).boxed(),
        ProtocolVersion::V5 => (packet_id(), reason_code_v5(kind), ack_properties())
            .prop_map(|(packet_id, reason_code, properties)| PublishAck {
                packet_id,
                reason_code,
                properties,
            })
            .boxed(),
    }
}

/// Subscription options: QoS only in 3.1.1; in v5 every option, with No
/// Local never set on a shared subscription.
pub fn subscription_options(
    v: ProtocolVersion,
    shared: bool,
) -> BoxedStrategy<SubscriptionOptions> {
    match v {
        ProtocolVersion::V311 => qos().prop_map(SubscriptionOptions::qos).boxed(),
        ProtocolVersion::V5 => (
            qos(),
            any::<bool>(),
            any::<bool>(),
            prop_oneof![
                Just(RetainHandling::SendAtSubscribe),
                Just(RetainHandling::SendAtSubscribeIfNew),
                Just(RetainHandling::DoNotSend),
            ],
        )
            .prop_map(move |(qos, no_local, rap, rh)| SubscriptionOptions {
                qos,
                no_local: no_local && !shared,
                retain_as_published: rap,
                retain_handling: rh,
            })
            .boxed(),
    }
}

/// One SUBSCRIBE entry: a filter (wildcards and `$share/` included) and options.
pub fn subscription(v: ProtocolVersion) -> BoxedStrategy<(TopicFilter, SubscriptionOptions)> {
    topic_filter()
        .prop_flat_map(move |f| {
            let shared = f.share().is_some();
            (Just(f), subscription_options(v, shared))
        })
        .boxed()
}

/// SUBSCRIBE with one to six filters.
pub fn subscribe(v: ProtocolVersion) -> BoxedStrategy<Subscribe> {
    (
        packet_id(),
        v5_only(v, subscribe_properties()),
        vec(subscription(v), 1..=6),
    )
        .prop_map(|(packet_id, properties, filters)| Subscribe {
            packet_id,
            properties,
            filters,
        })
        .boxed()
}

/// SUBACK with one to eight codes valid for the version.
pub fn suback(v: ProtocolVersion) -> BoxedStrategy<SubAck> {
    let code = match v {
        ProtocolVersion::V5 => select(valid_codes(AckKind::SubAck)).boxed(),
        ProtocolVersion::V311 => select(vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::GRANTED_QOS_2,
            ReasonCode::V311_SUBACK_FAILURE,
        ])
        .boxed(),
    };
    (packet_id(), v5_only(v, ack_properties()), vec(code, 1..=8))
        .prop_map(|(packet_id, properties, reason_codes)| SubAck {
            packet_id,
            properties,
            reason_codes,
        })
        .boxed()
}

/// UNSUBSCRIBE with one to six filters.
pub fn unsubscribe(v: ProtocolVersion) -> BoxedStrategy<Unsubscribe> {
    (
        packet_id(),
        v5_only(v, unsubscribe_properties()),
        vec(topic_filter(), 1..=6),
    )
        .prop_map(|(packet_id, properties, filters)| Unsubscribe {
            packet_id,
            properties,
            filters,
        })
        .boxed()
}

/// UNSUBACK: one to eight Unsubscribe Reason Codes in v5, none in 3.1.1.
pub fn unsuback(v: ProtocolVersion) -> BoxedStrategy<UnsubAck> {
    match v {
        ProtocolVersion::V311 => packet_id()
            .prop_map(|packet_id| UnsubAck {
                packet_id,
                properties: AckProperties::default(),
                reason_codes: Vec::new(),
            })
            .boxed(),
        ProtocolVersion::V5 => (
            packet_id(),
            ack_properties(),
            vec(select(valid_codes(AckKind::UnsubAck)), 1..=8),
        )
            .prop_map(|(packet_id, properties, reason_codes)| UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
            .boxed(),
    }
}

/// DISCONNECT: a Disconnect Reason Code and properties in v5; empty in 3.1.1.
pub fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Disconnect> {
    match v {
        ProtocolVersion::V311 => Just(Disconnect::default()).boxed(),
        ProtocolVersion::V5 => (reason_code_v5(AckKind::Disconnect), disconnect_properties())
            .prop_map(|(reason_code, properties)| Disconnect {
                reason_code,
                properties,
            })
            .boxed(),
    }
}

/// AUTH (MQTT 5.0 only).
pub fn auth() -> BoxedStrategy<Auth> {
    (reason_code_v5(AckKind::Auth), auth_properties())
        .prop_map(|(reason_code, properties)| {
            if properties.authentication_method.is_none() {
                // The zero-length form: Success, no properties.
                Auth::default()
            } else {
                Auth {
                    reason_code,
                    properties,
                }
            }
        })
        .boxed()
}

/// Any packet that version `v` can carry, PUBLISH payloads of at most
/// `max_payload` bytes. Every packet type is equally likely.
pub fn packet_with_payload(v: ProtocolVersion, max_payload: usize) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(v).prop_map(|c| Packet::Connect(Box::new(c))),
        connack(v).prop_map(|c| Packet::ConnAck(Box::new(c))),
        publish(v, max_payload).prop_map(Packet::Publish),
        publish_ack(v, AckKind::PubAck).prop_map(Packet::PubAck),
        publish_ack(v, AckKind::PubRec).prop_map(Packet::PubRec),
        publish_ack(v, AckKind::PubRel).prop_map(Packet::PubRel),
        publish_ack(v, AckKind::PubComp).prop_map(Packet::PubComp),
        subscribe(v).prop_map(Packet::Subscribe),
        suback(v).prop_map(Packet::SubAck),
        unsubscribe(v).prop_map(Packet::Unsubscribe),
        unsuback(v).prop_map(Packet::UnsubAck),
        Just(Packet::PingReq(PingReq)),
        Just(Packet::PingResp(PingResp)),
        disconnect(v).prop_map(Packet::Disconnect),
    ];
    match v {
        ProtocolVersion::V311 => common.boxed(),
        ProtocolVersion::V5 => prop_oneof![
            14 => common,
            1 => auth().prop_map(Packet::Auth),
        ]
        .boxed(),
    }
}

/// Any packet that version `v` can carry, PUBLISH payloads up to
/// [`DEFAULT_MAX_PAYLOAD`] bytes.
pub fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    packet_with_payload(v, DEFAULT_MAX_PAYLOAD)
}

/// A version and a packet that it can carry.
pub fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| (Just(v), packet(v)))
}
