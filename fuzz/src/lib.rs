//! Helpers for the tern-mqtt fuzz targets.
//!
//! - [`check_decode`]: the property the `decode_v311` and `decode_v5` targets
//!   check on raw bytes (also replayed by `tests/fuzz_corpus.rs`).
//! - [`Input`]: structured input for the `roundtrip` target, from which
//!   [`Input::build`] makes a [`Packet`] out of raw fields.

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use std::num::{NonZeroU16, NonZeroU32};
use tern_mqtt::codec::*;
use tern_mqtt::topic::{TopicFilter, TopicName};

mod check;
pub use check::check_decode;

/// Raw fields of one packet, chosen by the fuzzer.
#[derive(Arbitrary, Debug)]
pub struct Input {
    /// Encode and decode at 5.0 (else 3.1.1); a CONNECT uses its own version.
    pub v5: bool,
    /// The packet.
    pub kind: Kind,
}

/// Raw user properties.
pub type RawUser = Vec<(String, String)>;

/// One packet kind with raw fields.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub enum Kind {
    Connect {
        v5: bool,
        clean_start: bool,
        keep_alive: u16,
        client_id: String,
        will: Option<RawWill>,
        username: Option<String>,
        password: Option<Vec<u8>>,
        props: RawConnectProps,
    },
    ConnAck {
        session_present: bool,
        code: u8,
        props: RawConnAckProps,
    },
    Publish {
        dup: bool,
        qos: u8,
        retain: bool,
        topic: Option<String>,
        packet_id: u16,
        props: RawPublishProps,
        payload: Vec<u8>,
    },
    /// PUBACK, PUBREC, PUBREL or PUBCOMP by `which % 4`.
    Ack {
        which: u8,
        packet_id: u16,
        code: u8,
        reason: Option<String>,
        user: RawUser,
    },
    Subscribe {
        packet_id: u16,
        subscription_id: Option<u32>,
        user: RawUser,
        /// Filter and the options byte (QoS, no local, RAP, retain handling).
        filters: Vec<(String, u8)>,
    },
    SubAck {
        packet_id: u16,
        reason: Option<String>,
        user: RawUser,
        codes: Vec<u8>,
    },
    Unsubscribe {
        packet_id: u16,
        user: RawUser,
        filters: Vec<String>,
    },
    UnsubAck {
        packet_id: u16,
        reason: Option<String>,
        user: RawUser,
        codes: Vec<u8>,
    },
    PingReq,
    PingResp,
    Disconnect {
        code: u8,
        session_expiry: Option<u32>,
        reason: Option<String>,
        user: RawUser,
        server_reference: Option<String>,
    },
    Auth {
        code: u8,
        method: Option<String>,
        data: Option<Vec<u8>>,
        reason: Option<String>,
        user: RawUser,
    },
}

/// Raw will message.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub struct RawWill {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub delay: Option<u32>,
    pub payload_format: Option<bool>,
    pub expiry: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation: Option<Vec<u8>>,
    pub user: RawUser,
}

/// Raw CONNECT properties.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub struct RawConnectProps {
    pub session_expiry: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub maximum_packet_size: Option<u32>,
    pub topic_alias_maximum: Option<u16>,
    pub request_response: Option<bool>,
    pub request_problem: Option<bool>,
    pub auth_method: Option<String>,
    pub auth_data: Option<Vec<u8>>,
    pub user: RawUser,
}

/// Raw CONNACK properties.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub struct RawConnAckProps {
    pub session_expiry: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<bool>,
    pub maximum_packet_size: Option<u32>,
    pub assigned_client_id: Option<String>,
    pub topic_alias_maximum: Option<u16>,
    pub reason: Option<String>,
    pub user: RawUser,
    pub wildcard: Option<bool>,
    pub sub_ids: Option<bool>,
    pub shared: Option<bool>,
    pub keep_alive: Option<u16>,
    pub response_information: Option<String>,
    pub server_reference: Option<String>,
    pub auth_method: Option<String>,
    pub auth_data: Option<Vec<u8>>,
}

/// Raw PUBLISH properties.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub struct RawPublishProps {
    pub payload_format: Option<bool>,
    pub expiry: Option<u32>,
    pub topic_alias: Option<u16>,
    pub response_topic: Option<String>,
    pub correlation: Option<Vec<u8>>,
    pub user: RawUser,
    pub subscription_ids: Vec<u32>,
    pub content_type: Option<String>,
}

type B<T> = Option<T>;

fn s(v: String) -> B<MqttString> {
    MqttString::try_from(v).ok()
}
fn os(v: Option<String>) -> B<Option<MqttString>> {
    v.map(s).transpose_none()
}
fn user(v: RawUser) -> B<Vec<UserProperty>> {
    v.into_iter().map(|(k, v)| Some((s(k)?, s(v)?))).collect()
}
fn topic(v: Option<String>) -> B<Option<TopicName>> {
    v.map(|t| TopicName::new(&t).ok()).transpose_none()
}
fn nz16(v: Option<u16>) -> B<Option<NonZeroU16>> {
    v.map(NonZeroU16::new).transpose_none()
}
fn nz32(v: Option<u32>) -> B<Option<NonZeroU32>> {
    v.map(NonZeroU32::new).transpose_none()
}
fn qos(v: u8) -> B<QoS> {
    QoS::from_u8(v)
}
fn bytes(v: Option<Vec<u8>>) -> Option<Bytes> {
    v.map(Bytes::from)
}

/// `Option<Option<T>>` to `Option<Option<T>>` where an absent value is fine
/// and a present but invalid one rejects the input.
trait TransposeNone<T> {
    fn transpose_none(self) -> Option<Option<T>>;
}
impl<T> TransposeNone<T> for Option<Option<T>> {
    fn transpose_none(self) -> Option<Option<T>> {
        match self {
            None => Some(None),
            Some(None) => None,
            Some(Some(t)) => Some(Some(t)),
        }
    }
}

fn ack_props(reason: Option<String>, u: RawUser) -> B<AckProperties> {
    Some(AckProperties {
        reason_string: os(reason)?,
        user_properties: user(u)?,
    })
}

impl Input {
    /// Builds the packet, or `None` when a string, topic or non-zero field
    /// fails validation (such inputs are skipped, not bugs).
    pub fn build(self) -> Option<Packet> {
        Some(match self.kind {
            Kind::Connect {
                v5,
                clean_start,
                keep_alive,
                client_id,
                will,
                username,
                password,
                props: p,
            } => Packet::Connect(Box::new(Connect {
                protocol_version: if v5 {
                    ProtocolVersion::V5
                } else {
                    ProtocolVersion::V311
                },
                clean_start,
                keep_alive,
                properties: ConnectProperties {
                    session_expiry_interval: p.session_expiry,
                    receive_maximum: nz16(p.receive_maximum)?,
                    maximum_packet_size: nz32(p.maximum_packet_size)?,
                    topic_alias_maximum: p.topic_alias_maximum,
                    request_response_information: p.request_response,
                    request_problem_information: p.request_problem,
                    authentication_method: os(p.auth_method)?,
                    authentication_data: bytes(p.auth_data),
                    user_properties: user(p.user)?,
                },
                client_id: s(client_id)?,
                will: match will {
                    None => None,
                    Some(w) => Some(Will {
                        topic: TopicName::new(&w.topic).ok()?,
                        payload: Bytes::from(w.payload),
                        qos: qos(w.qos)?,
                        retain: w.retain,
                        properties: WillProperties {
                            will_delay_interval: w.delay,
                            payload_format_indicator: w.payload_format,
                            message_expiry_interval: w.expiry,
                            content_type: os(w.content_type)?,
                            response_topic: topic(w.response_topic)?,
                            correlation_data: bytes(w.correlation),
                            user_properties: user(w.user)?,
                        },
                    }),
                },
                username: os(username)?,
                password: bytes(password),
            })),
            Kind::ConnAck {
                session_present,
                code,
                props: p,
            } => Packet::ConnAck(Box::new(ConnAck {
                session_present,
                reason_code: ReasonCode(code),
                properties: ConnAckProperties {
                    session_expiry_interval: p.session_expiry,
                    receive_maximum: nz16(p.receive_maximum)?,
                    maximum_qos: p.maximum_qos.map(qos).transpose_none()?,
                    retain_available: p.retain_available,
                    maximum_packet_size: nz32(p.maximum_packet_size)?,
                    assigned_client_identifier: os(p.assigned_client_id)?,
                    topic_alias_maximum: p.topic_alias_maximum,
                    reason_string: os(p.reason)?,
                    user_properties: user(p.user)?,
                    wildcard_subscription_available: p.wildcard,
                    subscription_identifiers_available: p.sub_ids,
                    shared_subscription_available: p.shared,
                    server_keep_alive: p.keep_alive,
                    response_information: os(p.response_information)?,
                    server_reference: os(p.server_reference)?,
                    authentication_method: os(p.auth_method)?,
                    authentication_data: bytes(p.auth_data),
                },
            })),
            Kind::Publish {
                dup,
                qos: q,
                retain,
                topic: t,
                packet_id,
                props: p,
                payload,
            } => {
                let qos = qos(q)?;
                Packet::Publish(Publish {
                    dup,
                    qos,
                    retain,
                    topic: topic(t)?,
                    packet_id: match qos {
                        QoS::AtMostOnce => None,
                        _ => Some(NonZeroU16::new(packet_id)?),
                    },
                    properties: PublishProperties {
                        payload_format_indicator: p.payload_format,
                        message_expiry_interval: p.expiry,
                        topic_alias: nz16(p.topic_alias)?,
                        response_topic: topic(p.response_topic)?,
                        correlation_data: bytes(p.correlation),
                        user_properties: user(p.user)?,
                        subscription_identifiers: p
                            .subscription_ids
                            .into_iter()
                            .map(NonZeroU32::new)
                            .collect::<Option<_>>()?,
                        content_type: os(p.content_type)?,
                    },
                    payload: Bytes::from(payload),
                })
            }
            Kind::Ack {
                which,
                packet_id,
                code,
                reason,
                user,
            } => {
                let ack = PublishAck {
                    packet_id: NonZeroU16::new(packet_id)?,
                    reason_code: ReasonCode(code),
                    properties: ack_props(reason, user)?,
                };
                match which % 4 {
                    0 => Packet::PubAck(ack),
                    1 => Packet::PubRec(ack),
                    2 => Packet::PubRel(ack),
                    _ => Packet::PubComp(ack),
                }
            }
            Kind::Subscribe {
                packet_id,
                subscription_id,
                user: u,
                filters,
            } => Packet::Subscribe(Subscribe {
                packet_id: NonZeroU16::new(packet_id)?,
                properties: SubscribeProperties {
                    subscription_identifier: nz32(subscription_id)?,
                    user_properties: user(u)?,
                },
                filters: filters
                    .into_iter()
                    .map(|(f, o)| {
                        let options = SubscriptionOptions {
                            qos: qos(o & 0b11)?,
                            no_local: o & 0b0100 != 0,
                            retain_as_published: o & 0b1000 != 0,
                            retain_handling: match (o >> 4) & 0b11 {
                                0 => RetainHandling::SendAtSubscribe,
                                1 => RetainHandling::SendAtSubscribeIfNew,
                                2 => RetainHandling::DoNotSend,
                                _ => return None,
                            },
                        };
                        Some((TopicFilter::new(&f).ok()?, options))
                    })
                    .collect::<Option<_>>()?,
            }),
            Kind::SubAck {
                packet_id,
                reason,
                user,
                codes,
            } => Packet::SubAck(SubAck {
                packet_id: NonZeroU16::new(packet_id)?,
                properties: ack_props(reason, user)?,
                reason_codes: codes.into_iter().map(ReasonCode).collect(),
            }),
            Kind::Unsubscribe {
                packet_id,
                user: u,
                filters,
            } => Packet::Unsubscribe(Unsubscribe {
                packet_id: NonZeroU16::new(packet_id)?,
                properties: UnsubscribeProperties {
                    user_properties: user(u)?,
                },
                filters: filters
                    .into_iter()
                    .map(|f| TopicFilter::new(&f).ok())
                    .collect::<Option<_>>()?,
            }),
            Kind::UnsubAck {
                packet_id,
                reason,
                user,
                codes,
            } => Packet::UnsubAck(UnsubAck {
                packet_id: NonZeroU16::new(packet_id)?,
                properties: ack_props(reason, user)?,
                reason_codes: codes.into_iter().map(ReasonCode).collect(),
            }),
            Kind::PingReq => Packet::PingReq(PingReq),
            Kind::PingResp => Packet::PingResp(PingResp),
            Kind::Disconnect {
                code,
                session_expiry,
                reason,
                user: u,
                server_reference,
            } => Packet::Disconnect(Disconnect {
                reason_code: ReasonCode(code),
                properties: DisconnectProperties {
                    session_expiry_interval: session_expiry,
                    reason_string: os(reason)?,
                    user_properties: user(u)?,
                    server_reference: os(server_reference)?,
                },
            }),
            Kind::Auth {
                code,
                method,
                data,
                reason,
                user: u,
            } => Packet::Auth(Auth {
                reason_code: ReasonCode(code),
                properties: AuthProperties {
                    authentication_method: os(method)?,
                    authentication_data: bytes(data),
                    reason_string: os(reason)?,
                    user_properties: user(u)?,
                },
            }),
        })
    }
}

/// The `roundtrip` check: a packet that encodes must decode to itself from
/// exactly its own bytes, and `encoded_len` must agree.
pub fn check_roundtrip(input: Input) {
    let v5 = input.v5;
    let Some(packet) = input.build() else { return };
    let version = match &packet {
        Packet::Connect(c) => c.protocol_version,
        _ if v5 => ProtocolVersion::V5,
        _ => ProtocolVersion::V311,
    };
    let mut wire = BytesMut::new();
    let encoded = encode(&packet, version, &mut wire);
    assert_eq!(
        encoded.is_ok(),
        packet.encoded_len(version).is_ok(),
        "encode and encoded_len disagree on {packet:?}"
    );
    if encoded.is_err() {
        assert!(wire.is_empty(), "a failed encode wrote bytes");
        return;
    }
    assert_eq!(packet.encoded_len(version).ok(), Some(wire.len()));
    let decoded = decode(&mut wire, version, u32::MAX);
    assert_eq!(decoded, Ok(Some(packet)), "roundtrip at {version:?}");
    assert!(wire.is_empty(), "bytes left over after decoding");
}
