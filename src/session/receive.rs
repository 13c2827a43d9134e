//! What the engine does with each packet from the server.

use super::alias::AliasError;
use super::event::{
    AckToken, CommandError, Delivery, DisconnectInfo, Event, Initiator, ProtocolError, PublishAcked,
};
use super::incoming::{AckOut, Arrival};
use super::outgoing::Stage;
use super::skip::SkipStart;
use super::subscriptions::{ActiveSubscription, Request};
use super::timers::Timer;
use super::SubscribeResult;
use super::{ConnectionState, Session};
use crate::codec::{
    decode, decode_ref, is_publish, DecodeError, Disconnect, Packet, PacketId, PacketSummary,
    ProtocolVersion, Publish, PublishAck, QoS, ReasonCode, SubAck, SubscriptionOptions, UnsubAck,
    PACKET_TARGET,
};
use crate::topic::TopicFilter;
use bytes::Buf;
use std::num::NonZeroU32;
use std::time::Instant;

impl Session {
    /// Processes what [`recv_buffer`](Self::recv_buffer) holds: every whole
    /// packet in it; a partial one stays for the next read.
    pub fn handle_received(&mut self, now: Instant) {
        let now = self.tick(now);
        let max = self.config.maximum_packet_size;
        while matches!(
            self.state,
            ConnectionState::Connecting | ConnectionState::Connected
        ) {
            if self.skip.is_some() {
                if !self.continue_skip(now) {
                    return self.after_received(now);
                }
                continue;
            }
            if self.v311_connack_refusal() {
                return;
            }
            match self.start_skip() {
                SkipStart::Started => continue,
                SkipStart::NeedMore => return self.after_received(now),
                SkipStart::No => {}
            }
            match self.decode_next(max) {
                Ok(Some((packet, size))) => {
                    // Never the payload, never credentials (see PacketSummary).
                    tracing::trace!(
                        target: PACKET_TARGET,
                        packet = packet.name(),
                        packet_id = packet.packet_id(),
                        size,
                        "received {}",
                        PacketSummary::packet(&packet, size)
                    );
                    // Any packet from the server answers our PINGREQ.
                    self.timers.stop(Timer::PingResp);
                    // And shows it took what we sent before; its DISCONNECT
                    // is how it refuses it.
                    if !matches!(packet, Packet::Disconnect(_)) {
                        self.suspect = None;
                    }
                    self.on_packet(now, packet);
                }
                Ok(None) => return self.after_received(now),
                Err(e) => {
                    self.fail_connection(now, ProtocolError::Decode(e));
                    return;
                }
            }
        }
        // Not connected: bytes after the end of a connection are dropped.
        self.recv.clear();
    }

    /// Takes the next whole packet off the receive buffer, with its size.
    ///
    /// A PUBLISH is split off the buffer, so that its topic and payload
    /// share it instead of being copied (copying a small one into
    /// allocations of its own measured slower: an allocation and a free on
    /// another thread per message). Any other packet is read in place: an
    /// ack's fields are a few bytes, not worth a reference to the buffer.
    fn decode_next(&mut self, max: u32) -> Result<Option<(Packet, usize)>, DecodeError> {
        let version = self.config.version;
        if self.recv.first().is_some_and(|b| is_publish(*b)) {
            let before = self.recv.len();
            let packet = decode(&mut self.recv, version, max)?;
            return Ok(packet.map(|p| (p, before.saturating_sub(self.recv.len()))));
        }
        let Some((packet, size)) = decode_ref(&self.recv, version, max)? else {
            return Ok(None);
        };
        let packet = packet.into_packet();
        self.recv.advance(size);
        Ok(Some((packet, size)))
    }

    /// What may follow the packets just processed: a graceful disconnect
    /// whose session went idle.
    fn after_received(&mut self, now: Instant) {
        if let Err(error) = self.finish_draining(now) {
            tracing::error!(%error, "cannot encode the DISCONNECT");
        }
    }

    /// A 3.1.1-only server answers our v5 CONNECT with the 3.1.1 CONNACK
    /// `20 02 00 01` (return code 1, unacceptable protocol version), which
    /// is no valid v5 CONNACK: while connecting at v5, it is taken as a
    /// refusal with 0x84 Unsupported Protocol Version, as a v5 server would
    /// have said. True when it was one (the connection is then over).
    fn v311_connack_refusal(&mut self) -> bool {
        if self.state != ConnectionState::Connecting || self.version() != ProtocolVersion::V5 {
            return false;
        }
        // The Server MUST respond to the CONNECT Packet with a CONNACK return
        // code 0x01 (unacceptable protocol level) and then disconnect the
        // Client if the Protocol Level is not supported by the Server
        // [MQTT-3.1.2-2] (3.1.1): type 2, remaining length 2, flags, 0x01.
        if self.recv.get(..2) != Some(&[0x20, 0x02][..]) || self.recv.get(3) != Some(&0x01) {
            return false;
        }
        self.timers.stop(Timer::ConnAck);
        self.recv.clear();
        self.end_connection(DisconnectInfo {
            initiator: Initiator::Remote,
            reason_code: Some(ReasonCode::UNSUPPORTED_PROTOCOL_VERSION),
            properties: crate::codec::DisconnectProperties::default(),
            error: None,
            session_kept: self.has_session_state,
        });
        true
    }

    /// Our Receive Maximum as the server knows it: v5 only. A 3.1.1 server
    /// is never told ours, so it cannot be held to it. Once a server was
    /// disconnected with 0x93 it is not held to it on later connections
    /// either: a server that resends a backlog beyond it after every
    /// CONNACK (mosquitto 2.0.11 does) would otherwise be reconnected to
    /// forever without progress. Memory stays bounded without it: the
    /// client holds its acks when its buffers are full.
    pub(crate) fn receive_maximum_in_force(&self) -> Option<u16> {
        match self.version() {
            ProtocolVersion::V5 if !self.receive_maximum_ignored => {
                Some(self.config.receive_maximum)
            }
            _ => None,
        }
    }

    /// (v5 only.) The Server MUST NOT send more than Receive Maximum QoS 1
    /// and QoS 2 PUBLISH packets for which it has not received PUBACK,
    /// PUBCOMP, or PUBREC with a Reason Code of 128 or greater
    /// [MQTT-3.3.4-9]; if it does, the Client uses DISCONNECT with Reason
    /// Code 0x93 (Receive Maximum exceeded) (3.1.2.11.3).
    pub(crate) fn receive_maximum_exceeded(&mut self, now: Instant) {
        tracing::warn!(
            receive_maximum = self.config.receive_maximum,
            "the server exceeded our Receive Maximum: disconnecting with 0x93 once, \
             tolerating it on later connections"
        );
        self.receive_maximum_ignored = true;
        self.violation(
            now,
            "MQTT-3.3.4-9",
            "receive maximum exceeded",
            ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
        );
    }

    fn violation(
        &mut self,
        now: Instant,
        spec: &'static str,
        what: &'static str,
        reason_code: ReasonCode,
    ) {
        self.fail_connection(now, ProtocolError::violation(spec, what, reason_code));
    }

    fn on_packet(&mut self, now: Instant, packet: Packet) {
        if self.state == ConnectionState::Connecting
            && !matches!(
                packet,
                Packet::ConnAck(_) | Packet::Auth(_) | Packet::Disconnect(_)
            )
        {
            // The first packet sent from the Server to the Client MUST be a
            // CONNACK Packet [MQTT-3.2.0-1] (3.1.1); in v5 AUTH may precede it.
            self.violation(
                now,
                "MQTT-3.2.0-1",
                "a packet before CONNACK",
                ReasonCode::PROTOCOL_ERROR,
            );
            return;
        }
        match packet {
            Packet::ConnAck(ack) => self.on_connack(now, *ack),
            Packet::Publish(p) => self.on_publish(now, p),
            Packet::PubAck(ack) => self.on_puback(now, ack),
            Packet::PubRec(ack) => self.on_pubrec(now, ack),
            Packet::PubRel(ack) => self.on_pubrel(now, ack),
            Packet::PubComp(ack) => self.on_pubcomp(now, ack),
            Packet::SubAck(ack) => self.on_suback(now, ack),
            Packet::UnsubAck(ack) => self.on_unsuback(now, ack),
            Packet::PingResp(_) => {}
            Packet::Disconnect(d) => self.on_disconnect(now, d),
            Packet::Auth(a) => self.on_auth(now, a),
            Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq(_) => {
                // Packets only a client sends (Table 2-1): a protocol error from a server.
                self.violation(
                    now,
                    "MQTT-2.1.2",
                    "a client-to-server packet from the server",
                    ReasonCode::PROTOCOL_ERROR,
                );
            }
        }
    }

    fn on_publish(&mut self, now: Instant, mut p: Publish) {
        let topic = match self.in_aliases.resolve(
            p.topic.take(),
            p.properties.topic_alias,
            self.config.topic_alias_maximum,
        ) {
            Ok(Some(t)) => t,
            // A Topic Alias above our maximum, or unknown: Topic Alias invalid
            // (0x94) [MQTT-3.3.2-10], 3.3.2.3.4.
            Ok(None) | Err(AliasError::AboveMaximum) | Err(AliasError::Unknown) => {
                self.violation(
                    now,
                    "MQTT-3.3.2-10",
                    "topic alias invalid",
                    ReasonCode::TOPIC_ALIAS_INVALID,
                );
                return;
            }
        };
        // Through `get_mut`: a message without properties stays without.
        if let Some(properties) = p.properties.get_mut() {
            properties.topic_alias = None;
        }
        let ack = match (p.qos, p.packet_id) {
            (QoS::AtMostOnce, _) => None,
            (qos, Some(id)) => match self.admit(now, id, qos) {
                Some(token) => Some((id, qos, token)),
                None => return,
            },
            // The decoder refuses QoS 1/2 without a packet id.
            (_, None) => return,
        };
        let token = ack.and_then(|(_, _, t)| t);
        self.events.push_back(Event::Message(Delivery {
            topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            dup: p.dup,
            properties: p.properties,
            ack: token,
        }));
        if let Some((packet_id, qos, None)) = ack {
            // Automatic acks go out at once, so in arrival order [MQTT-4.6.0-2].
            self.send_ack(
                now,
                AckOut {
                    packet_id,
                    qos,
                    reason_code: ReasonCode::SUCCESS,
                },
            );
        }
    }

    /// Decides on an incoming QoS 1/2 PUBLISH: `Some(token)` to deliver it
    /// (a token under manual acks), `None` when it is a duplicate (answered
    /// with PUBREC when one is due) or exceeds our Receive Maximum (the
    /// connection is failed).
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        id: PacketId,
        qos: QoS,
    ) -> Option<Option<AckToken>> {
        let manual = self.config.manual_acks;
        match self
            .incoming
            .arrive(id, qos, manual, self.receive_maximum_in_force())
        {
            Arrival::Deliver(token) => Some(token),
            Arrival::Duplicate { resend_pubrec } => {
                if let Some(reason_code) = resend_pubrec {
                    self.send_ack(
                        now,
                        AckOut {
                            packet_id: id,
                            qos,
                            reason_code,
                        },
                    );
                }
                None
            }
            Arrival::ReceiveMaximumExceeded => {
                self.receive_maximum_exceeded(now);
                None
            }
        }
    }

    fn complete_publish(&mut self, id: PacketId, ack: PublishAck) {
        if let Some(entry) = self.outgoing.remove(id) {
            self.ids.release(id);
            self.record_done(entry.req, entry.publish.qos);
            let result = if ack.reason_code.is_success() {
                Ok(PublishAcked {
                    reason_code: ack.reason_code,
                    properties: ack.properties,
                    pubcomp_lost: false,
                })
            } else {
                Err(CommandError::Refused {
                    reason_code: ack.reason_code,
                    properties: ack.properties,
                })
            };
            self.events.push_back(Event::PublishDone {
                id: entry.req,
                result,
            });
        }
    }

    fn on_puback(&mut self, now: Instant, ack: PublishAck) {
        let id = ack.packet_id;
        match self.outgoing.get_mut(id).map(|e| e.stage) {
            Some(Stage::AwaitPubAck) => {
                self.complete_publish(id, ack);
                self.pump(now);
            }
            Some(_) => self.violation(
                now,
                "MQTT-4.3.2",
                "PUBACK for a QoS 2 exchange",
                ReasonCode::PROTOCOL_ERROR,
            ),
            // A PUBACK for an id we never used: nothing to complete.
            None => tracing::debug!(id = id.get(), "PUBACK for an unknown packet id ignored"),
        }
    }

    fn on_pubrec(&mut self, now: Instant, ack: PublishAck) {
        let id = ack.packet_id;
        match self.outgoing.get_mut(id) {
            Some(entry) if entry.stage == Stage::AwaitPubRec => {
                if ack.reason_code.is_success() {
                    // The sender MUST send a PUBREL packet when it receives a
                    // PUBREC packet from the receiver with a Reason Code value
                    // less than 0x80 [MQTT-4.3.3-4].
                    entry.stage = Stage::AwaitPubComp;
                    let req = entry.req;
                    self.record_stage(req, Stage::AwaitPubComp, id);
                    self.send_packet(now, &Packet::PubRel(PublishAck::new(id)));
                } else {
                    // If PUBACK or PUBREC is received containing a Reason Code
                    // of 0x80 or greater the corresponding PUBLISH packet is
                    // treated as acknowledged, and MUST NOT be retransmitted
                    // [MQTT-4.4.0-2].
                    self.complete_publish(id, ack);
                    self.pump(now);
                }
            }
            // A PUBREC again (after a resend): answer with PUBREL again.
            Some(entry) if entry.stage == Stage::AwaitPubComp => {
                self.send_packet(now, &Packet::PubRel(PublishAck::new(id)));
            }
            Some(_) => self.violation(
                now,
                "MQTT-4.3.3",
                "PUBREC for a QoS 1 exchange",
                ReasonCode::PROTOCOL_ERROR,
            ),
            None => {
                // Unknown: answer PUBREL with 0x92 (Packet Identifier not
                // found) so the server can end its side (3.6.2.1).
                let mut rel = PublishAck::new(id);
                if self.version() == ProtocolVersion::V5 {
                    rel.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                self.send_packet(now, &Packet::PubRel(rel));
            }
        }
    }

    fn on_pubrel(&mut self, now: Instant, ack: PublishAck) {
        let id = ack.packet_id;
        let mut comp = PublishAck::new(id);
        // The receiver MUST respond to a PUBREL packet by sending a PUBCOMP
        // packet containing the same Packet Identifier as the PUBREL
        // [MQTT-4.3.3-11]; for an id it does not know, with 0x92 (3.7.2.1).
        if self.incoming.release(id) {
            let packet_id = id.get();
            self.record(|| crate::store::StoreOp::RemoveIncoming { packet_id });
        } else if self.version() == ProtocolVersion::V5 {
            comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
        }
        self.send_packet(now, &Packet::PubComp(comp));
    }

    fn on_pubcomp(&mut self, now: Instant, ack: PublishAck) {
        let id = ack.packet_id;
        match self.outgoing.get_mut(id).map(|e| e.stage) {
            Some(Stage::AwaitPubComp) => {
                self.complete_publish(id, ack);
                self.pump(now);
            }
            Some(_) => self.violation(
                now,
                "MQTT-4.3.3",
                "PUBCOMP before PUBREL",
                ReasonCode::PROTOCOL_ERROR,
            ),
            None => tracing::debug!(id = id.get(), "PUBCOMP for an unknown packet id ignored"),
        }
    }

    fn on_suback(&mut self, now: Instant, ack: SubAck) {
        let id = ack.packet_id;
        let Some(request) = self.subs.sent.remove(&id.get()) else {
            tracing::debug!(id = id.get(), "SUBACK for an unknown packet id ignored");
            return;
        };
        let Some((properties, filters)) = request.subscribe_parts() else {
            // Kept, so that the lost connection queues it again and it
            // still gets its one completion.
            self.subs.sent.insert(id.get(), request);
            self.violation(
                now,
                "MQTT-2.2.1-6",
                "SUBACK for an UNSUBSCRIBE",
                ReasonCode::PROTOCOL_ERROR,
            );
            return;
        };
        if ack.reason_codes.len() != filters.len() {
            self.suback_wrong_count(now, id, request);
            return;
        }
        self.ids.release(id);
        let subscription_id = properties.subscription_identifier;
        match request {
            Request::Subscribe { req, filters, .. } => {
                let results = self.grant(filters, ack.reason_codes, subscription_id);
                self.events.push_back(Event::SubscribeDone {
                    id: req,
                    result: Ok(results),
                });
            }
            Request::Restore { filters, .. } => {
                let results = self.grant(filters.clone(), ack.reason_codes, subscription_id);
                let refused = filters
                    .into_iter()
                    .zip(results)
                    .filter_map(|((f, _), r)| r.err().map(|code| (f, code)));
                self.restore_answered(refused.collect());
            }
            Request::Unsubscribe { .. } => {}
        }
        self.pump(now);
    }

    /// The SUBACK packet sent by the Server to the Client MUST contain a
    /// Reason Code for each Topic Filter/Subscription Option pair
    /// [MQTT-3.8.4-6], in order [MQTT-3.9.3-1]. An application's SUBSCRIBE
    /// fails; a restoration is kept to be sent on the next connection.
    fn suback_wrong_count(&mut self, now: Instant, id: PacketId, request: Request) {
        match request {
            Request::Subscribe { req, .. } => {
                self.ids.release(id);
                self.events.push_back(Event::SubscribeDone {
                    id: req,
                    result: Err(CommandError::Invalid(
                        "SUBACK with the wrong number of reason codes",
                    )),
                });
            }
            other => {
                self.subs.sent.insert(id.get(), other);
            }
        }
        self.violation(
            now,
            "MQTT-3.8.4-6",
            "SUBACK with the wrong number of reason codes",
            ReasonCode::PROTOCOL_ERROR,
        );
    }

    /// Records what a SUBACK granted; returns one result per filter.
    fn grant(
        &mut self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        codes: Vec<ReasonCode>,
        subscription_id: Option<NonZeroU32>,
    ) -> Vec<SubscribeResult> {
        let mut results = Vec::with_capacity(filters.len());
        for ((filter, requested), code) in filters.into_iter().zip(codes) {
            match QoS::from_u8(code.0) {
                Some(granted) => {
                    let options = SubscriptionOptions {
                        qos: granted,
                        ..requested
                    };
                    let subscription = ActiveSubscription {
                        options,
                        subscription_id,
                        requested_qos: requested.qos,
                    };
                    self.record(|| crate::store::StoreOp::PutSubscription {
                        filter: filter.clone(),
                        subscription: subscription.clone(),
                    });
                    self.subs.active.insert(filter, subscription);
                    results.push(Ok(granted));
                }
                None => {
                    // A restoration the server refused: the subscription is gone.
                    if !self.subs.active.contains_key(&filter) {
                        self.record(|| crate::store::StoreOp::RemoveSubscription { filter });
                    }
                    results.push(Err(code))
                }
            }
        }
        results
    }

    fn on_unsuback(&mut self, now: Instant, ack: UnsubAck) {
        let id = ack.packet_id;
        let Some(request) = self.subs.sent.remove(&id.get()) else {
            tracing::debug!(id = id.get(), "UNSUBACK for an unknown packet id ignored");
            return;
        };
        let Request::Unsubscribe { req, filters, .. } = request else {
            // Kept, so that it is sent again on the next connection.
            self.subs.sent.insert(id.get(), request);
            self.violation(
                now,
                "MQTT-2.2.1-6",
                "UNSUBACK for a SUBSCRIBE",
                ReasonCode::PROTOCOL_ERROR,
            );
            return;
        };
        self.ids.release(id);
        let codes = match self.version() {
            ProtocolVersion::V311 => vec![ReasonCode::SUCCESS; filters.len()],
            ProtocolVersion::V5 => ack.reason_codes,
        };
        if codes.len() != filters.len() {
            // The UNSUBACK packet MUST contain a Reason Code for each Topic
            // Filter, in order [MQTT-3.11.3-1].
            self.events.push_back(Event::UnsubscribeDone {
                id: req,
                result: Err(CommandError::Invalid(
                    "UNSUBACK with the wrong number of reason codes",
                )),
            });
            self.violation(
                now,
                "MQTT-3.11.3-1",
                "UNSUBACK with the wrong number of reason codes",
                ReasonCode::PROTOCOL_ERROR,
            );
            return;
        }
        for (filter, code) in filters.iter().zip(&codes) {
            if code.is_success() {
                self.subs.active.remove(filter);
                self.record(|| crate::store::StoreOp::RemoveSubscription {
                    filter: filter.clone(),
                });
            }
        }
        self.events.push_back(Event::UnsubscribeDone {
            id: req,
            result: Ok(codes),
        });
        self.pump(now);
    }

    fn on_disconnect(&mut self, now: Instant, d: Disconnect) {
        if d.properties.session_expiry_interval.is_some() {
            // The Session Expiry Interval MUST NOT be sent on a DISCONNECT
            // by the Server [MQTT-3.14.2-2].
            self.violation(
                now,
                "MQTT-3.14.2-2",
                "session expiry interval on the server's DISCONNECT",
                ReasonCode::PROTOCOL_ERROR,
            );
            return;
        }
        self.end_connection(DisconnectInfo {
            initiator: Initiator::Remote,
            reason_code: Some(d.reason_code),
            properties: d.properties,
            error: None,
            session_kept: self.config.session_kept(),
        });
    }
}
