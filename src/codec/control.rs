//! PINGREQ (3.12), PINGRESP (3.13), DISCONNECT (3.14) and AUTH (3.15).

use super::error::{DecodeError, EncodeError};
use super::primitives::{fail, u8_, Frame, PResult, Sink};
use super::properties::{put_properties, AuthProperties, DisconnectProperties};
use super::reason::{AckKind, ReasonCode};
use super::ProtocolVersion;

/// PINGREQ: keep-alive probe from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PingReq;

/// PINGRESP: the server's answer to PINGREQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PingResp;

/// DISCONNECT: the end of a connection, with a reason in v5.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Disconnect Reason Code (v5); Normal disconnection in 3.1.1.
    pub reason_code: ReasonCode,
    /// DISCONNECT properties (v5).
    pub properties: DisconnectProperties,
}

/// AUTH: a step of enhanced authentication (v5 only).
///
/// Success without properties is sent as the short form (Remaining Length
/// 0); any other AUTH carries its reason code, its properties and, as
/// 3.15.2.2.2 requires, an Authentication Method, or
/// [`encode`](super::encode) refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Authenticate Reason Code.
    pub reason_code: ReasonCode,
    /// AUTH properties (3.15.2.2): the Authentication Method, required unless
    /// this is the short Success form, Authentication Data, a Reason String and
    /// User Properties.
    pub properties: AuthProperties,
}

impl Default for ReasonCode {
    fn default() -> Self {
        ReasonCode::SUCCESS
    }
}

impl Disconnect {
    pub(crate) fn read<'a>(
        frame: &Frame<'_>,
        i: &'a [u8],
        v: ProtocolVersion,
    ) -> PResult<'a, Self> {
        let mut d = Disconnect::default();
        if v == ProtocolVersion::V311 || i.is_empty() {
            // 3.1.1 DISCONNECT has no variable header; in v5 a Remaining
            // Length of 0 means Normal disconnection and no properties (3.14.2.1).
            return Ok((i, d));
        }
        let (i, code) = u8_(i)?;
        d.reason_code = ReasonCode(code);
        // The Client or Server sending the DISCONNECT packet MUST use one of
        // the DISCONNECT Reason Code values [MQTT-3.14.2-1].
        if !d.reason_code.is_valid_for(AckKind::Disconnect) {
            return fail(DecodeError::protocol(
                "MQTT-3.14.2-1",
                "not a Disconnect Reason Code",
            ));
        }
        if i.is_empty() {
            // A Remaining Length below 2 means a Property Length of 0 (3.14.2.2).
            return Ok((i, d));
        }
        let (i, properties) = DisconnectProperties::read(frame, i)?;
        d.properties = properties;
        Ok((i, d))
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, v: ProtocolVersion) -> Result<(), EncodeError> {
        match v {
            ProtocolVersion::V311 => {
                if self.reason_code != ReasonCode::SUCCESS || !self.properties.is_empty() {
                    return Err(EncodeError::NotInV311(
                        "DISCONNECT reason codes and properties",
                    ));
                }
            }
            ProtocolVersion::V5 => {
                if !self.reason_code.is_valid_for(AckKind::Disconnect) {
                    return Err(EncodeError::invalid(
                        "MQTT-3.14.2-1",
                        "not a Disconnect Reason Code",
                    ));
                }
                // The short forms: Remaining Length 0, or 1 without properties.
                if !self.properties.is_empty() {
                    s.put_u8(self.reason_code.0);
                    put_properties(s, &self.properties)?;
                } else if self.reason_code != ReasonCode::SUCCESS {
                    s.put_u8(self.reason_code.0);
                }
            }
        }
        Ok(())
    }
}

impl Auth {
    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let mut a = Auth::default();
        if i.is_empty() {
            // The Reason Code and Property Length can be omitted if the
            // Reason Code is 0x00 (Success) and there are no Properties (3.15.2.1).
            return Ok((i, a));
        }
        let (i, code) = u8_(i)?;
        a.reason_code = ReasonCode(code);
        // The sender of the AUTH Packet MUST use one of the Authenticate
        // Reason Codes [MQTT-3.15.2-1].
        if !a.reason_code.is_valid_for(AckKind::Auth) {
            return fail(DecodeError::protocol(
                "MQTT-3.15.2-1",
                "not an Authenticate Reason Code",
            ));
        }
        if i.is_empty() {
            // The Reason Code and Property Length can be omitted if the
            // Reason Code is 0x00 (Success) and there are no Properties. In
            // this case the AUTH has a Remaining Length of 0 (3.15.2.1). That
            // is the only short form: unlike the acknowledgements, a Reason
            // Code without a Property Length (Remaining Length 1) is malformed.
            return fail(DecodeError::malformed(
                "MQTT-3.15.2.1",
                "AUTH reason code without a property length",
            ));
        }
        let (i, properties) = AuthProperties::read(frame, i)?;
        // It is a Protocol Error to omit the Authentication Method (3.15.2.2.2).
        if properties.authentication_method.is_none() {
            return fail(DecodeError::protocol(
                "MQTT-3.15.2.2.2",
                "AUTH without an Authentication Method",
            ));
        }
        a.properties = properties;
        Ok((i, a))
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, v: ProtocolVersion) -> Result<(), EncodeError> {
        if v == ProtocolVersion::V311 {
            return Err(EncodeError::NotInV311("AUTH"));
        }
        if !self.reason_code.is_valid_for(AckKind::Auth) {
            return Err(EncodeError::invalid(
                "MQTT-3.15.2-1",
                "not an Authenticate Reason Code",
            ));
        }
        // The Reason Code and Property Length can be omitted if the Reason
        // Code is 0x00 (Success) and there are no Properties (3.15.2.1): the
        // only short form. Otherwise both are written.
        if self.reason_code == ReasonCode::SUCCESS && self.properties.is_empty() {
            return Ok(());
        }
        // It is a Protocol Error to omit the Authentication Method (3.15.2.2.2).
        if self.properties.authentication_method.is_none() {
            return Err(EncodeError::invalid(
                "MQTT-3.15.2.2.2",
                "AUTH with a reason code needs an Authentication Method",
            ));
        }
        s.put_u8(self.reason_code.0);
        put_properties(s, &self.properties)
    }
}
