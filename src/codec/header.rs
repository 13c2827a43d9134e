//! The fixed header (section 2.1): packet type, the flags each type must
//! carry, and the remaining length.

use super::error::DecodeError;
use super::primitives::{id, read_vbi, Vbi};
use super::ProtocolVersion;

/// Control packet types (MQTT 5.0 Table 2-1, 3.1.1 Table 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    /// The reserved flag bits this type must carry (Table 2-2), or `None`
    /// for PUBLISH, whose flags carry DUP, QoS and RETAIN.
    pub(crate) const fn fixed_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }

    /// The first byte of a packet of this type (its flags, for non-PUBLISH).
    pub(crate) const fn first_byte(self, publish_flags: u8) -> u8 {
        let flags = match self.fixed_flags() {
            Some(f) => f,
            None => publish_flags & 0x0F,
        };
        ((self as u8) << 4) | flags
    }
}

/// A parsed fixed header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedHeader {
    pub packet_type: PacketType,
    /// The low four bits of byte 1.
    pub flags: u8,
    /// Length of the fixed header itself (byte 1 plus the length's bytes).
    pub header_len: usize,
    /// The Remaining Length.
    pub remaining_len: usize,
}

impl FixedHeader {
    /// Total size of the packet.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Reads the fixed header at the start of `buf`; `Ok(None)` if `buf` does
/// not hold all of it yet.
#[inline(always)]
pub(crate) fn read_fixed_header(
    buf: &[u8],
    version: ProtocolVersion,
) -> Result<Option<FixedHeader>, DecodeError> {
    let Some((&byte1, rest)) = buf.split_first() else {
        return Ok(None);
    };
    let packet_type = packet_type(byte1 >> 4, version)?;
    let flags = byte1 & 0x0F;
    match packet_type.fixed_flags() {
        // Where a flag bit is marked as "Reserved", it is reserved for future
        // use and MUST be set to the value listed [MQTT-2.1.3-1] (3.1.1:
        // [MQTT-2.2.2-1]; if invalid flags are received, the receiver MUST
        // close the Network Connection [MQTT-2.2.2-2]).
        Some(required) if flags != required => {
            return Err(DecodeError::malformed(
                id(version, "MQTT-2.1.3-1", "MQTT-2.2.2-1"),
                "reserved fixed header flags are not as Table 2-2 lists",
            ));
        }
        Some(_) => {}
        None => {
            // A PUBLISH Packet MUST NOT have both QoS bits set to 1 [MQTT-3.3.1-4].
            if flags & 0b0110 == 0b0110 {
                return Err(DecodeError::malformed(
                    "MQTT-3.3.1-4",
                    "PUBLISH with both QoS bits set",
                ));
            }
        }
    }
    Ok(match read_vbi(rest)? {
        Vbi::Value(remaining, n) => Some(FixedHeader {
            packet_type,
            flags,
            header_len: 1 + n,
            remaining_len: usize::try_from(remaining).unwrap_or(usize::MAX),
        }),
        Vbi::Incomplete => None,
    })
}

/// What a fixed header says: enough to judge a packet before any of its
/// body is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeaderInfo {
    /// The control packet type, 1 (CONNECT) to 15 (AUTH).
    pub packet_type: u8,
    /// The low four bits of the first byte (DUP, QoS and RETAIN for PUBLISH).
    pub flags: u8,
    /// The Remaining Length: the size of the packet after its fixed header.
    pub remaining_length: usize,
    /// The size of the fixed header itself (2 to 5 bytes).
    pub header_length: usize,
}

impl FixedHeaderInfo {
    /// Whether the packet is a PUBLISH.
    pub fn is_publish(&self) -> bool {
        self.packet_type == PacketType::Publish as u8
    }

    /// The size of the whole packet, saturating.
    pub fn packet_length(&self) -> usize {
        self.header_length.saturating_add(self.remaining_length)
    }
}

/// Reads the fixed header at the start of `buf` without consuming anything.
///
/// `Ok(None)` while `buf` does not hold all of it yet. The errors are those
/// [`decode`](super::decode) would report for the same bytes: a reserved
/// packet type (15 is AUTH only in v5), reserved flags not as Table 2-2
/// lists, a PUBLISH with both QoS bits set, or a malformed Remaining Length.
///
/// ```
/// use tern_mqtt::codec::{peek_fixed_header, ProtocolVersion};
///
/// let h = peek_fixed_header(&[0x32, 0x80, 0x01], ProtocolVersion::V5).unwrap().unwrap();
/// assert_eq!((h.packet_type, h.flags, h.remaining_length, h.header_length), (3, 2, 128, 3));
/// assert_eq!(peek_fixed_header(&[0x32, 0x80], ProtocolVersion::V5).unwrap(), None);
/// ```
pub fn peek_fixed_header(
    buf: &[u8],
    version: ProtocolVersion,
) -> Result<Option<FixedHeaderInfo>, DecodeError> {
    Ok(read_fixed_header(buf, version)?.map(|h| FixedHeaderInfo {
        packet_type: h.packet_type as u8,
        flags: h.flags,
        remaining_length: h.remaining_len,
        header_length: h.header_len,
    }))
}

/// Whether a packet whose first byte is `first_byte` is a PUBLISH (its
/// type is the high four bits), before the rest of its header is read.
#[inline]
pub fn is_publish(first_byte: u8) -> bool {
    first_byte >> 4 == PacketType::Publish as u8
}

#[inline(always)]
fn packet_type(value: u8, version: ProtocolVersion) -> Result<PacketType, DecodeError> {
    Ok(match value {
        1 => PacketType::Connect,
        2 => PacketType::ConnAck,
        3 => PacketType::Publish,
        4 => PacketType::PubAck,
        5 => PacketType::PubRec,
        6 => PacketType::PubRel,
        7 => PacketType::PubComp,
        8 => PacketType::Subscribe,
        9 => PacketType::SubAck,
        10 => PacketType::Unsubscribe,
        11 => PacketType::UnsubAck,
        12 => PacketType::PingReq,
        13 => PacketType::PingResp,
        14 => PacketType::Disconnect,
        15 if version == ProtocolVersion::V5 => PacketType::Auth,
        // Type 0 is reserved in both versions, and 15 in 3.1.1 (Table 2.1).
        _ => {
            return Err(DecodeError::malformed(
                "MQTT-2.1.2",
                "reserved control packet type",
            ))
        }
    })
}
