//! SUBSCRIBE (3.8), SUBACK (3.9), UNSUBSCRIBE (3.10) and UNSUBACK (3.11).

use super::error::{DecodeError, EncodeError};
use super::primitives::{fail, id, put_str, topic_error, u16_, u8_, Frame, PResult, Sink};
use super::properties::{
    put_properties, AckProperties, SubscribeProperties, UnsubscribeProperties,
};
use super::reason::{AckKind, ReasonCode};
use super::{PacketId, ProtocolVersion, QoS};
use crate::topic::TopicFilter;

/// Whether the server sends retained messages when a subscription is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// Send retained messages at the time of the subscribe (0).
    #[default]
    SendAtSubscribe = 0,
    /// Send them only if the subscription does not already exist (1).
    SendAtSubscribeIfNew = 1,
    /// Do not send them (2).
    DoNotSend = 2,
}

/// The Subscription Options byte (3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the server may use for this subscription.
    pub qos: QoS,
    /// v5: do not receive our own publications.
    pub no_local: bool,
    /// v5: keep the RETAIN flag as published.
    pub retain_as_published: bool,
    /// v5: when to send retained messages.
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with this QoS and every v5 option at its default.
    pub fn qos(qos: QoS) -> Self {
        SubscriptionOptions {
            qos,
            ..Default::default()
        }
    }

    fn byte(&self) -> u8 {
        (self.qos as u8)
            | (u8::from(self.no_local) << 2)
            | (u8::from(self.retain_as_published) << 3)
            | ((self.retain_handling as u8) << 4)
    }
}

/// SUBSCRIBE: ask for messages matching one or more filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet Identifier, 1 to 65,535; the spec requires one not in use by
    /// another unacknowledged packet of the client. The SUBACK carries it back.
    pub packet_id: PacketId,
    /// SUBSCRIBE properties (v5).
    pub properties: SubscribeProperties,
    /// The filters and their options, in order; at least one.
    pub filters: Vec<(TopicFilter, SubscriptionOptions)>,
}

/// SUBACK: one reason code per requested filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet Identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// Reason String and User Properties (v5).
    pub properties: AckProperties,
    /// One per filter, in the order of the SUBSCRIBE: granted QoS or failure.
    pub reason_codes: Vec<ReasonCode>,
}

/// UNSUBSCRIBE: drop one or more subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet Identifier, 1 to 65,535; the spec requires one not in use by
    /// another unacknowledged packet of the client. The UNSUBACK carries it back.
    pub packet_id: PacketId,
    /// UNSUBSCRIBE properties (v5).
    pub properties: UnsubscribeProperties,
    /// The filters, in order; at least one.
    pub filters: Vec<TopicFilter>,
}

/// UNSUBACK: in v5, one reason code per filter; in 3.1.1, none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet Identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// Reason String and User Properties (v5).
    pub properties: AckProperties,
    /// One per filter (v5); empty in 3.1.1.
    pub reason_codes: Vec<ReasonCode>,
}

fn packet_id<'a>(i: &'a [u8], spec: &'static str) -> PResult<'a, PacketId> {
    let (i, id) = u16_(i)?;
    match PacketId::new(id) {
        Some(id) => Ok((i, id)),
        None => fail(DecodeError::protocol(spec, "packet identifier 0")),
    }
}

fn filter<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, TopicFilter> {
    // The Topic Filters MUST be a UTF-8 Encoded String [MQTT-3.8.3-1]
    // (UNSUBSCRIBE: [MQTT-3.10.3-1]), at least one character long
    // [MQTT-4.7.3-1], with wildcards placed as section 4.7.1 says
    // [MQTT-4.7.1-1], [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-2], [MQTT-4.7.1-3]);
    // `topic_error` names the statement each failure breaks.
    let (i, s) = frame.string(i)?;
    match TopicFilter::from_mqtt_string(s) {
        Ok(f) => Ok((i, f)),
        Err(e) => fail(topic_error(e, frame.version, DecodeError::protocol)),
    }
}

/// A payload made of one or more items: reads them all, insisting on one.
///
/// Each item consumes at least two bytes (its length prefix), so the loop
/// always progresses, and the vector grows only as the input justifies.
fn at_least_one<'a, T>(
    mut i: &'a [u8],
    spec: &'static str,
    what: &'static str,
    mut item: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let mut out = Vec::new();
    while !i.is_empty() {
        let (rest, t) = item(i)?;
        out.push(t);
        i = rest;
    }
    if out.is_empty() {
        return fail(DecodeError::protocol(spec, what));
    }
    Ok((i, out))
}

impl Subscribe {
    pub(crate) fn read<'a>(
        frame: &Frame<'_>,
        i: &'a [u8],
        v: ProtocolVersion,
    ) -> PResult<'a, Self> {
        // Each time a Client sends a new SUBSCRIBE ... it MUST assign it a
        // non-zero Packet Identifier [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]).
        let (i, packet_id) = packet_id(i, id(v, "MQTT-2.2.1-3", "MQTT-2.3.1-1"))?;
        let (i, properties) = match v {
            ProtocolVersion::V5 => SubscribeProperties::read(frame, i)?,
            ProtocolVersion::V311 => (i, SubscribeProperties::default()),
        };
        // The Payload MUST contain at least one Topic Filter and Subscription
        // Options pair [MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3]).
        let no_filter = id(v, "MQTT-3.8.3-2", "MQTT-3.8.3-3");
        let (i, filters) = at_least_one(i, no_filter, "SUBSCRIBE without a topic filter", |i| {
            let (i, f) = filter(frame, i)?;
            let (i, o) = u8_(i)?;
            let opts = read_options(o, v)?;
            if opts.no_local && f.share().is_some() {
                // It is a Protocol Error to set the No Local bit to 1 on a
                // Shared Subscription [MQTT-3.8.3-4].
                return fail(DecodeError::protocol(
                    "MQTT-3.8.3-4",
                    "no local on a shared subscription",
                ));
            }
            Ok((i, (f, opts)))
        })?;
        Ok((
            i,
            Subscribe {
                packet_id,
                properties,
                filters,
            },
        ))
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, v: ProtocolVersion) -> Result<(), EncodeError> {
        // The Payload MUST contain at least one Topic Filter and Subscription
        // Options pair [MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3]).
        if self.filters.is_empty() {
            return Err(EncodeError::invalid(
                id(v, "MQTT-3.8.3-2", "MQTT-3.8.3-3"),
                "SUBSCRIBE without a topic filter",
            ));
        }
        s.put_u16(self.packet_id.get());
        match v {
            ProtocolVersion::V5 => put_properties(s, &self.properties)?,
            ProtocolVersion::V311 => {
                if !self.properties.is_empty() {
                    return Err(EncodeError::NotInV311("SUBSCRIBE properties"));
                }
            }
        }
        for (f, o) in &self.filters {
            if v == ProtocolVersion::V311
                && (o.no_local
                    || o.retain_as_published
                    || o.retain_handling != RetainHandling::SendAtSubscribe)
            {
                return Err(EncodeError::NotInV311(
                    "subscription options other than QoS",
                ));
            }
            if o.no_local && f.share().is_some() {
                return Err(EncodeError::invalid(
                    "MQTT-3.8.3-4",
                    "no local on a shared subscription",
                ));
            }
            put_str(s, "topic filter", f)?;
            s.put_u8(o.byte());
        }
        Ok(())
    }
}

fn read_options(o: u8, v: ProtocolVersion) -> Result<SubscriptionOptions, nom::Err<DecodeError>> {
    let reserved = match v {
        // 3.1.1: the upper 6 bits of the Requested QoS byte are reserved. The
        // Server MUST treat a SUBSCRIBE packet as malformed and close the
        // Network Connection if any of Reserved bits in the payload are
        // non-zero, or QoS is not 0,1 or 2 [MQTT-3.8.3-4] (written
        // [MQTT-3-8.3-4] in the spec).
        ProtocolVersion::V311 => 0b1111_1100,
        // The Server MUST treat a SUBSCRIBE packet as malformed if any of
        // Reserved bits in the Payload are non-zero [MQTT-3.8.3-5].
        ProtocolVersion::V5 => 0b1100_0000,
    };
    if o & reserved != 0 {
        return fail(DecodeError::malformed(
            id(v, "MQTT-3.8.3-5", "MQTT-3.8.3-4"),
            "reserved subscription option bits set",
        ));
    }
    // It is a Protocol Error if the Maximum QoS field has the value 3 (3.8.3.1);
    // 3.1.1 treats QoS 3 as malformed, with the reserved bits [MQTT-3.8.3-4].
    let Some(qos) = QoS::from_u8(o & 0b11) else {
        return fail(match v {
            ProtocolVersion::V311 => DecodeError::malformed("MQTT-3.8.3-4", "requested QoS 3"),
            ProtocolVersion::V5 => DecodeError::protocol("MQTT-3.8.3.1", "maximum QoS 3"),
        });
    };
    let retain_handling = match (o >> 4) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        // It is a Protocol Error to send a Retain Handling value of 3 (3.8.3.1).
        _ => return fail(DecodeError::protocol("MQTT-3.8.3.1", "retain handling 3")),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: o & 0b0100 != 0,
        retain_as_published: o & 0b1000 != 0,
        retain_handling,
    })
}

impl SubAck {
    pub(crate) fn read<'a>(
        frame: &Frame<'_>,
        i: &'a [u8],
        v: ProtocolVersion,
    ) -> PResult<'a, Self> {
        // A SUBACK and UNSUBACK MUST contain the Packet Identifier that was
        // used in the corresponding SUBSCRIBE and UNSUBSCRIBE packet
        // respectively [MQTT-2.2.1-6] (3.1.1: [MQTT-2.3.1-7]); never 0.
        let (i, packet_id) = packet_id(i, id(v, "MQTT-2.2.1-6", "MQTT-2.3.1-7"))?;
        let (i, properties) = match v {
            ProtocolVersion::V5 => AckProperties::read(frame, i)?,
            ProtocolVersion::V311 => (i, AckProperties::default()),
        };
        // The Payload contains a list of Reason Codes. Each Reason Code
        // corresponds to a Topic Filter in the SUBSCRIBE packet being
        // acknowledged (3.9.3); a SUBSCRIBE has at least one, so a SUBACK
        // without any answers nothing. (The statement [MQTT-3.9.3-1] is
        // about their order, so the section is cited.)
        let (i, reason_codes) =
            at_least_one(i, "MQTT-3.9.3", "SUBACK without a reason code", |i| {
                let (i, c) = u8_(i)?;
                let code = ReasonCode(c);
                // The Server sending a SUBACK packet MUST use one of the Subscribe
                // Reason Codes for each Topic Filter received [MQTT-3.9.3-2]
                // (3.1.1: return codes other than 0x00, 0x01, 0x02, 0x80 are reserved).
                let valid = match v {
                    ProtocolVersion::V5 => code.is_valid_for(AckKind::SubAck),
                    ProtocolVersion::V311 => matches!(c, 0x00 | 0x01 | 0x02 | 0x80),
                };
                if !valid {
                    return fail(DecodeError::protocol(
                        "MQTT-3.9.3-2",
                        "not a Subscribe Reason Code",
                    ));
                }
                Ok((i, code))
            })?;
        Ok((
            i,
            SubAck {
                packet_id,
                properties,
                reason_codes,
            },
        ))
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, v: ProtocolVersion) -> Result<(), EncodeError> {
        // One Reason Code per Topic Filter of the SUBSCRIBE, which has at
        // least one (3.9.3).
        if self.reason_codes.is_empty() {
            return Err(EncodeError::invalid(
                "MQTT-3.9.3",
                "SUBACK without a reason code",
            ));
        }
        s.put_u16(self.packet_id.get());
        match v {
            ProtocolVersion::V5 => {
                if self
                    .reason_codes
                    .iter()
                    .any(|c| !c.is_valid_for(AckKind::SubAck))
                {
                    return Err(EncodeError::invalid(
                        "MQTT-3.9.3-2",
                        "not a Subscribe Reason Code",
                    ));
                }
                put_properties(s, &self.properties)?
            }
            ProtocolVersion::V311 => {
                if !self.properties.is_empty() {
                    return Err(EncodeError::NotInV311("SUBACK properties"));
                }
                if self
                    .reason_codes
                    .iter()
                    .any(|c| !matches!(c.0, 0x00 | 0x01 | 0x02 | 0x80))
                {
                    return Err(EncodeError::invalid(
                        "MQTT-3.9.3-2",
                        "not a 3.1.1 SUBACK return code",
                    ));
                }
            }
        }
        for c in &self.reason_codes {
            s.put_u8(c.0);
        }
        Ok(())
    }
}

impl Unsubscribe {
    pub(crate) fn read<'a>(
        frame: &Frame<'_>,
        i: &'a [u8],
        v: ProtocolVersion,
    ) -> PResult<'a, Self> {
        // Each time a Client sends a new ... UNSUBSCRIBE ... it MUST assign
        // it a non-zero Packet Identifier [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]).
        let (i, packet_id) = packet_id(i, id(v, "MQTT-2.2.1-3", "MQTT-2.3.1-1"))?;
        let (i, properties) = match v {
            ProtocolVersion::V5 => UnsubscribeProperties::read(frame, i)?,
            ProtocolVersion::V311 => (i, UnsubscribeProperties::default()),
        };
        // The Payload of an UNSUBSCRIBE packet MUST contain at least one Topic
        // Filter [MQTT-3.10.3-2] (3.1.1: [MQTT-3.10.3-2]).
        let (i, filters) = at_least_one(
            i,
            "MQTT-3.10.3-2",
            "UNSUBSCRIBE without a topic filter",
            |i| filter(frame, i),
        )?;
        Ok((
            i,
            Unsubscribe {
                packet_id,
                properties,
                filters,
            },
        ))
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, v: ProtocolVersion) -> Result<(), EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::invalid(
                "MQTT-3.10.3-2",
                "UNSUBSCRIBE without a topic filter",
            ));
        }
        s.put_u16(self.packet_id.get());
        match v {
            ProtocolVersion::V5 => put_properties(s, &self.properties)?,
            ProtocolVersion::V311 => {
                if !self.properties.is_empty() {
                    return Err(EncodeError::NotInV311("UNSUBSCRIBE properties"));
                }
            }
        }
        for f in &self.filters {
            put_str(s, "topic filter", f)?;
        }
        Ok(())
    }
}

impl UnsubAck {
    pub(crate) fn read<'a>(
        frame: &Frame<'_>,
        i: &'a [u8],
        v: ProtocolVersion,
    ) -> PResult<'a, Self> {
        // A SUBACK and UNSUBACK MUST contain the Packet Identifier that was
        // used in the corresponding SUBSCRIBE and UNSUBSCRIBE packet
        // respectively [MQTT-2.2.1-6] (3.1.1: [MQTT-2.3.1-7]); never 0.
        let (i, packet_id) = packet_id(i, id(v, "MQTT-2.2.1-6", "MQTT-2.3.1-7"))?;
        if v == ProtocolVersion::V311 {
            // A 3.1.1 UNSUBACK has no payload: Remaining Length 2 (3.11.1).
            return Ok((
                i,
                UnsubAck {
                    packet_id,
                    properties: AckProperties::default(),
                    reason_codes: Vec::new(),
                },
            ));
        }
        let (i, properties) = AckProperties::read(frame, i)?;
        // The Payload contains a list of Reason Codes. Each Reason Code
        // corresponds to a Topic Filter in the UNSUBSCRIBE packet being
        // acknowledged (3.11.3); an UNSUBSCRIBE has at least one. (The
        // statement [MQTT-3.11.3-1] is about their order, so the section is cited.)
        let (i, reason_codes) =
            at_least_one(i, "MQTT-3.11.3", "UNSUBACK without a reason code", |i| {
                let (i, c) = u8_(i)?;
                let code = ReasonCode(c);
                // The Server sending an UNSUBACK packet MUST use one of the
                // Unsubscribe Reason Code values for each Topic Filter received [MQTT-3.11.3-2].
                if !code.is_valid_for(AckKind::UnsubAck) {
                    return fail(DecodeError::protocol(
                        "MQTT-3.11.3-2",
                        "not an Unsubscribe Reason Code",
                    ));
                }
                Ok((i, code))
            })?;
        Ok((
            i,
            UnsubAck {
                packet_id,
                properties,
                reason_codes,
            },
        ))
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, v: ProtocolVersion) -> Result<(), EncodeError> {
        s.put_u16(self.packet_id.get());
        match v {
            ProtocolVersion::V311 => {
                if !self.properties.is_empty() || !self.reason_codes.is_empty() {
                    return Err(EncodeError::NotInV311(
                        "UNSUBACK reason codes and properties",
                    ));
                }
            }
            ProtocolVersion::V5 => {
                // One Reason Code per Topic Filter of the UNSUBSCRIBE (3.11.3).
                if self.reason_codes.is_empty() {
                    return Err(EncodeError::invalid(
                        "MQTT-3.11.3",
                        "UNSUBACK without a reason code",
                    ));
                }
                if self
                    .reason_codes
                    .iter()
                    .any(|c| !c.is_valid_for(AckKind::UnsubAck))
                {
                    return Err(EncodeError::invalid(
                        "MQTT-3.11.3-2",
                        "not an Unsubscribe Reason Code",
                    ));
                }
                put_properties(s, &self.properties)?;
                for c in &self.reason_codes {
                    s.put_u8(c.0);
                }
            }
        }
        Ok(())
    }
}
