//! Incoming PUBLISH packets over our Maximum Packet Size, skipped as they
//! stream in instead of buffered whole, and acknowledged so the server does
//! not send them again.

use super::event::Event;
use super::incoming::AckOut;
use super::timers::Timer;
use super::Session;
use crate::codec::{check_mqtt_str, peek_fixed_header, PacketId, ProtocolVersion, QoS, ReasonCode};
use crate::topic::TopicName;
use bytes::Buf;
use std::time::Instant;

/// An oversized PUBLISH being skipped.
#[derive(Debug)]
pub(crate) struct Skip {
    /// Bytes of it still to drop.
    left: usize,
    /// Its whole size.
    size: usize,
    topic: TopicName,
    qos: QoS,
    packet_id: Option<PacketId>,
}

/// What the front of the receive buffer is, for skipping.
pub(crate) enum SkipStart {
    /// Not an oversized PUBLISH to skip: decode as usual.
    No,
    /// One to skip, whose topic and packet id have not all arrived yet.
    NeedMore,
    /// Skipping has begun.
    Started,
}

/// The big-endian two-byte integer at the start of `b`.
fn be_u16(b: &[u8]) -> Option<u16> {
    match b {
        [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

impl Skip {
    /// Drops what `data` holds of the skipped packet; returns the rest.
    pub fn consume<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let n = self.left.min(data.len());
        self.left -= n;
        data.get(n..).unwrap_or_default()
    }
}

impl Session {
    /// Whether the front of the receive buffer is a PUBLISH over our
    /// Maximum Packet Size that should be skipped rather than fail the
    /// connection: always in 3.1.1 (where the server cannot know our
    /// maximum, and would send it again after every reconnect), and in v5
    /// once we refused one with DISCONNECT 0x95 on an earlier connection
    /// (the spec's answer, given once, so it cannot loop).
    pub(crate) fn start_skip(&mut self) -> SkipStart {
        let Ok(Some(h)) = peek_fixed_header(&self.recv, self.version()) else {
            return SkipStart::No;
        };
        let max = usize::try_from(self.config.maximum_packet_size).unwrap_or(usize::MAX);
        if !h.is_publish() || h.packet_length() <= max {
            return SkipStart::No;
        }
        if self.version() == ProtocolVersion::V5 && !self.skip_oversized {
            // If a Client receives a packet whose size exceeds its Maximum
            // Packet Size, this is a Protocol Error: the Client uses
            // DISCONNECT with Reason Code 0x95 (Packet too large)
            // [MQTT-3.1.2-24] (4.13). The decoder reports it; the next
            // connection skips such packets instead.
            self.skip_oversized = true;
            return SkipStart::No;
        }
        let qos = QoS::from_u8((h.flags >> 1) & 0b11).unwrap_or(QoS::AtMostOnce);
        let body = self.recv.get(h.header_length..).unwrap_or_default();
        let Some(topic_len) = be_u16(body).map(usize::from) else {
            return SkipStart::NeedMore;
        };
        let id_len = if qos == QoS::AtMostOnce { 0 } else { 2 };
        let head_len = 2 + topic_len + id_len;
        if head_len > h.remaining_length {
            // Inconsistent: the decoder refuses it.
            return SkipStart::No;
        }
        let Some(head) = body.get(..head_len) else {
            return SkipStart::NeedMore;
        };
        let topic = head
            .get(2..2 + topic_len)
            .and_then(|t| check_mqtt_str(t).ok())
            .and_then(|t| TopicName::new(t).ok());
        let packet_id = head
            .get(2 + topic_len..)
            .and_then(be_u16)
            .and_then(PacketId::new);
        let (Some(topic), true) = (topic, qos == QoS::AtMostOnce || packet_id.is_some()) else {
            // A topic we cannot name (empty, with a v5 alias) or no packet
            // id: fail the connection as for any oversized packet.
            return SkipStart::No;
        };
        tracing::warn!(size = h.packet_length(), %topic, "skipping an oversized PUBLISH");
        self.skip = Some(Skip {
            left: h.packet_length(),
            size: h.packet_length(),
            topic,
            qos,
            packet_id,
        });
        SkipStart::Started
    }

    /// Drops what the receive buffer holds of the packet being skipped;
    /// true once it is all gone (and then acknowledged).
    pub(crate) fn continue_skip(&mut self, now: Instant) -> bool {
        let Some(skip) = self.skip.as_mut() else {
            return true;
        };
        let n = skip.left.min(self.recv.len());
        skip.left -= n;
        self.recv.advance(n);
        if n > 0 {
            // Bytes from the server answer our PINGREQ too.
            self.timers.stop(Timer::PingResp);
        }
        if skip.left > 0 {
            return false;
        }
        self.finish_skip(now);
        true
    }

    /// The skipped packet is all consumed: acknowledge it in its place in
    /// the order [MQTT-4.6.0-2], [MQTT-4.6.0-3], and report it.
    fn finish_skip(&mut self, now: Instant) {
        let Some(skip) = self.skip.take() else {
            return;
        };
        self.suspect = None;
        // Acknowledged at once without a token, or in arrival order
        // through the engine's pending acks with one.
        let direct_ack = match (skip.qos, skip.packet_id) {
            (QoS::AtMostOnce, _) | (_, None) => None,
            (qos, Some(id)) => match self.admit(now, id, qos) {
                Some(Some(token)) => {
                    self.incoming.app_ack(token, ReasonCode::SUCCESS);
                    None
                }
                Some(None) => Some(AckOut {
                    packet_id: id,
                    qos,
                    reason_code: ReasonCode::SUCCESS,
                }),
                // A duplicate (answered) or a broken Receive Maximum.
                None => return,
            },
        };
        self.events.push_back(Event::MessageDiscarded {
            topic: skip.topic,
            qos: skip.qos,
            size: skip.size,
        });
        if let Some(ack) = direct_ack {
            self.send_ack(now, ack);
        }
        self.send_acks_due(now);
    }
}
