//! PUBACK (3.4), PUBREC (3.5), PUBREL (3.6) and PUBCOMP (3.7): one shape,
//! four packet types.

use super::error::{DecodeError, EncodeError};
use super::primitives::{fail, id as id_for, u16_, u8_, Frame, PResult, Sink};
use super::properties::{put_properties, AckProperties};
use super::reason::{AckKind, ReasonCode};
use super::{PacketId, ProtocolVersion};

/// The body shared by PUBACK, PUBREC, PUBREL and PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishAck {
    /// The Packet Identifier of the PUBLISH being acknowledged.
    pub packet_id: PacketId,
    /// Reason code (v5); always Success in 3.1.1.
    pub reason_code: ReasonCode,
    /// Reason String and User Properties (v5).
    pub properties: AckProperties,
}

/// PUBACK: acknowledges a QoS 1 PUBLISH.
pub type PubAck = PublishAck;
/// PUBREC: first answer to a QoS 2 PUBLISH.
pub type PubRec = PublishAck;
/// PUBREL: releases a QoS 2 PUBLISH.
pub type PubRel = PublishAck;
/// PUBCOMP: completes a QoS 2 exchange.
pub type PubComp = PublishAck;

impl PublishAck {
    /// A successful acknowledgement with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        PublishAck {
            packet_id,
            reason_code: ReasonCode::SUCCESS,
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn read<'a>(
        frame: &Frame<'_>,
        i: &'a [u8],
        v: ProtocolVersion,
        kind: AckKind,
    ) -> PResult<'a, Self> {
        let (i, id) = u16_(i)?;
        // A PUBACK, PUBREC, PUBREL, or PUBCOMP packet MUST contain the same
        // Packet Identifier as the PUBLISH packet that was originally sent
        // [MQTT-2.2.1-5] (3.1.1: [MQTT-2.3.1-6]), and that one is never 0.
        let Some(packet_id) = PacketId::new(id) else {
            return fail(DecodeError::protocol(
                id_for(v, "MQTT-2.2.1-5", "MQTT-2.3.1-6"),
                "acknowledgement for packet identifier 0",
            ));
        };
        let mut ack = PublishAck::new(packet_id);
        if v == ProtocolVersion::V311 || i.is_empty() {
            // The Reason Code and Property Length can be omitted if the
            // Reason Code is 0x00 (Success) and there are no Properties: a
            // Remaining Length of 2 (3.4.2.1).
            return Ok((i, ack));
        }
        let (i, code) = u8_(i)?;
        ack.reason_code = ReasonCode(code);
        // The Client or Server sending the PUBACK / PUBREC / PUBREL / PUBCOMP
        // packet MUST use one of its Reason Code values [MQTT-3.4.2-1],
        // [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1].
        if !ack.reason_code.is_valid_for(kind) {
            return fail(DecodeError::protocol(
                reason_code_rule(kind),
                "reason code not valid for this acknowledgement",
            ));
        }
        if i.is_empty() {
            // If the Remaining Length is less than 4 there is no Property
            // Length and the value of 0 is used (3.4.2.2).
            return Ok((i, ack));
        }
        let (i, properties) = AckProperties::read(frame, i)?;
        ack.properties = properties;
        Ok((i, ack))
    }

    #[inline]
    pub(crate) fn write<S: Sink>(
        &self,
        s: &mut S,
        v: ProtocolVersion,
        kind: AckKind,
    ) -> Result<(), EncodeError> {
        s.put_u16(self.packet_id.get());
        match v {
            ProtocolVersion::V311 => {
                if self.reason_code != ReasonCode::SUCCESS || !self.properties.is_empty() {
                    return Err(EncodeError::NotInV311(
                        "acknowledgement reason codes and properties",
                    ));
                }
            }
            ProtocolVersion::V5 => {
                // The sender MUST use one of the packet's Reason Code values
                // [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1].
                if !self.reason_code.is_valid_for(kind) {
                    return Err(EncodeError::invalid(
                        reason_code_rule(kind),
                        "reason code not valid for this acknowledgement",
                    ));
                }
                // The short forms: drop what carries no information.
                if self.properties.is_empty() {
                    if self.reason_code != ReasonCode::SUCCESS {
                        s.put_u8(self.reason_code.0);
                    }
                } else {
                    s.put_u8(self.reason_code.0);
                    put_properties(s, &self.properties)?;
                }
            }
        }
        Ok(())
    }
}

/// The statement that lists the Reason Codes of this acknowledgement.
fn reason_code_rule(kind: AckKind) -> &'static str {
    match kind {
        AckKind::PubRec => "MQTT-3.5.2-1",
        AckKind::PubRel => "MQTT-3.6.2-1",
        AckKind::PubComp => "MQTT-3.7.2-1",
        // PUBACK; the other kinds never reach this module.
        _ => "MQTT-3.4.2-1",
    }
}
