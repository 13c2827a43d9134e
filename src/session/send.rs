//! What the engine sends: encoding into the transmit buffer, the publish
//! and subscribe queues, acknowledgements, and the checks made before a
//! command is accepted.

use super::alias::AliasUse;
use super::event::{CommandError, Event, PublishAcked};
use super::incoming::AckOut;
use super::outgoing::{Inflight, Queued, Stage};
use super::subscriptions::Request;
use super::{ConnectionState, PublishCommand, Session};
use crate::codec::{
    encode, encode_publish, EncodeError, Packet, PacketId, PacketSummary, ProtocolVersion, Publish,
    PublishAck, QoS, ReasonCode, Subscribe, SubscribeProperties, SubscriptionOptions, Unsubscribe,
    PACKET_TARGET,
};
use crate::topic::TopicFilter;
use std::time::Instant;

impl Session {
    /// Encodes `packet` into the transmit buffer.
    fn try_send_publish(&mut self, now: Instant, publish: &Publish) -> Result<(), EncodeError> {
        let before = self.send.len();
        encode_publish(publish, self.config.version, &mut self.send)?;
        self.last_sent = Some(now);
        let size = self.send.len().saturating_sub(before);
        tracing::trace!(
            target: PACKET_TARGET,
            packet = "PUBLISH",
            packet_id = publish.packet_id.map(crate::codec::PacketId::get),
            size,
            "sending {}",
            PacketSummary::publish(publish, size)
        );
        Ok(())
    }

    pub(crate) fn try_send_packet(
        &mut self,
        now: Instant,
        packet: &Packet,
    ) -> Result<(), EncodeError> {
        let before = self.send.len();
        encode(packet, self.config.version, &mut self.send)?;
        self.last_sent = Some(now);
        // Never the payload, never credentials (see PacketSummary).
        let size = self.send.len().saturating_sub(before);
        tracing::trace!(
            target: PACKET_TARGET,
            packet = packet.name(),
            packet_id = packet.packet_id(),
            size,
            "sending {}",
            PacketSummary::packet(packet, size)
        );
        Ok(())
    }

    /// Encodes a packet the engine built itself, which always encodes.
    pub(crate) fn send_packet(&mut self, now: Instant, packet: &Packet) {
        if let Err(e) = self.try_send_packet(now, packet) {
            tracing::error!(error = %e, packet = packet.name(), "cannot encode a packet the engine built");
        }
    }

    /// Sends the acknowledgements now due, in arrival order. While not
    /// connected they are taken all the same and not sent: the broker
    /// sends an unacknowledged message again on the next connection.
    pub(crate) fn send_acks_due(&mut self, now: Instant) {
        while let Some((ack, copies)) = self.incoming.next_ack() {
            if self.state == ConnectionState::Connected {
                for _ in 0..copies {
                    self.send_ack(now, ack);
                }
            }
        }
    }

    pub(crate) fn send_ack(&mut self, now: Instant, ack: AckOut) {
        let mut p = PublishAck::new(ack.packet_id);
        p.reason_code = ack.reason_code;
        let packet = match ack.qos {
            QoS::ExactlyOnce => Packet::PubRec(p),
            _ => Packet::PubAck(p),
        };
        self.send_packet(now, &packet);
        if ack.qos == QoS::ExactlyOnce && !ack.reason_code.is_success() {
            self.incoming.refusal_sent(ack.packet_id);
        } else if ack.qos == QoS::ExactlyOnce {
            let packet_id = ack.packet_id.get();
            self.record(|| crate::store::StoreOp::PutIncoming { packet_id });
        }
    }

    /// Checks a publish command against the protocol and the server's limits.
    pub(crate) fn check_publish(&self, cmd: PublishCommand) -> Result<Publish, CommandError> {
        let v5_only = !cmd.properties.is_empty();
        if self.version() == ProtocolVersion::V311 && v5_only {
            return Err(CommandError::NeedsV5("publish properties"));
        }
        if cmd.properties.topic_alias.is_some() {
            return Err(CommandError::Invalid(
                "topic aliases are assigned by the engine",
            ));
        }
        if !cmd.properties.subscription_identifiers.is_empty() {
            // A PUBLISH packet sent from a Client to a Server MUST NOT contain
            // a Subscription Identifier [MQTT-3.3.4-6].
            return Err(CommandError::Invalid(
                "a client PUBLISH cannot carry subscription identifiers [MQTT-3.3.4-6]",
            ));
        }
        let publish = Publish {
            dup: false,
            qos: cmd.qos,
            retain: cmd.retain,
            topic: Some(cmd.topic),
            packet_id: None,
            properties: cmd.properties,
            payload: cmd.payload,
        };
        self.check_publish_limits(&publish)?;
        Ok(publish)
    }

    /// The checks that depend on the server's limits, which may change on
    /// every connection.
    fn check_publish_limits(&self, p: &Publish) -> Result<(), CommandError> {
        // If a Client receives a Maximum QoS from a Server, it MUST NOT send
        // PUBLISH packets at a QoS level exceeding the Maximum QoS level
        // specified [MQTT-3.2.2-11].
        if p.qos > self.limits.maximum_qos {
            return Err(CommandError::QoSNotSupported {
                requested: p.qos,
                maximum: self.limits.maximum_qos,
            });
        }
        // A Client receiving Retain Available set to 0 from the Server MUST
        // NOT send a PUBLISH packet with the RETAIN flag set to 1 [MQTT-3.2.2-14].
        if p.retain && !self.limits.retain_available {
            return Err(CommandError::RetainNotSupported);
        }
        // The Client MUST NOT send packets exceeding Maximum Packet Size to
        // the Server [MQTT-3.2.2-15]. (A packet id adds two bytes for QoS > 0.)
        let size = p.encoded_len(self.version())?;
        if size > self.max_send() {
            return Err(CommandError::PacketTooLarge {
                size,
                max: self.limits.maximum_packet_size,
            });
        }
        Ok(())
    }

    pub(crate) fn check_subscribe(
        &self,
        filters: &[(TopicFilter, SubscriptionOptions)],
        properties: &SubscribeProperties,
    ) -> Result<(), CommandError> {
        if filters.is_empty() {
            return Err(CommandError::Invalid(
                "SUBSCRIBE needs at least one filter [MQTT-3.8.3-2]",
            ));
        }
        if self.version() == ProtocolVersion::V311 {
            if !properties.is_empty() {
                return Err(CommandError::NeedsV5("subscribe properties"));
            }
            if filters
                .iter()
                .any(|(_, o)| *o != SubscriptionOptions::qos(o.qos))
            {
                return Err(CommandError::NeedsV5("subscription options other than QoS"));
            }
        }
        for (f, o) in filters {
            if o.no_local && f.share().is_some() {
                // It is a Protocol Error to set the No Local bit to 1 on a
                // Shared Subscription [MQTT-3.8.3-4].
                return Err(CommandError::Invalid(
                    "no local on a shared subscription [MQTT-3.8.3-4]",
                ));
            }
            if f.has_wildcards() && !self.limits.wildcard_subscription_available {
                return Err(CommandError::WildcardsNotSupported);
            }
            if f.share().is_some() && !self.limits.shared_subscription_available {
                return Err(CommandError::SharedNotSupported);
            }
        }
        if properties.subscription_identifier.is_some()
            && !self.limits.subscription_identifiers_available
        {
            return Err(CommandError::SubscriptionIdsNotSupported);
        }
        Ok(())
    }

    /// Sends what waits, while connected: subscription requests, then
    /// publishes in order, as far as packet ids and the server's Receive
    /// Maximum allow.
    pub(crate) fn pump(&mut self, now: Instant) {
        if self.state != ConnectionState::Connected {
            return;
        }
        self.pump_subscriptions(now);
        self.pump_publishes(now);
    }

    fn pump_subscriptions(&mut self, now: Instant) {
        while let Some(mut request) = self.subs.queue.pop_front() {
            if let Request::Restore { properties, .. } = &mut request {
                // A restoration on a server that no longer supports
                // subscription identifiers goes without its identifier.
                if !self.limits.subscription_identifiers_available {
                    properties.subscription_identifier = None;
                }
            }
            if let Request::Subscribe {
                filters,
                properties,
                ..
            }
            | Request::Restore {
                filters,
                properties,
            } = &request
            {
                if let Err(e) = self.check_subscribe(filters, properties) {
                    self.request_failed(request, e);
                    continue;
                }
            }
            let Some(id) = self.ids.allocate() else {
                self.subs.queue.push_front(request);
                return;
            };
            match self.send_request(now, &request, id) {
                None => {
                    self.subs.sent.insert(id.get(), request);
                }
                Some(e) => {
                    self.ids.release(id);
                    self.request_failed(request, e);
                }
            }
        }
    }

    /// Sends the SUBSCRIBE or UNSUBSCRIBE of `request` with packet id `id`;
    /// returns why it could not be sent.
    fn send_request(
        &mut self,
        now: Instant,
        request: &Request,
        id: PacketId,
    ) -> Option<CommandError> {
        let packet = match request {
            Request::Subscribe {
                properties,
                filters,
                ..
            }
            | Request::Restore {
                properties,
                filters,
            } => Packet::Subscribe(Subscribe {
                packet_id: id,
                properties: properties.clone(),
                filters: filters.clone(),
            }),
            Request::Unsubscribe {
                properties,
                filters,
                ..
            } => Packet::Unsubscribe(Unsubscribe {
                packet_id: id,
                properties: properties.clone(),
                filters: filters.clone(),
            }),
        };
        // The Client MUST NOT send packets exceeding Maximum Packet Size to
        // the Server [MQTT-3.2.2-15].
        match packet.encoded_len(self.version()) {
            Ok(size) if size > self.max_send() => Some(CommandError::PacketTooLarge {
                size,
                max: self.limits.maximum_packet_size,
            }),
            Ok(_) => self
                .try_send_packet(now, &packet)
                .err()
                .map(CommandError::Encode),
            Err(e) => Some(CommandError::Encode(e)),
        }
    }

    /// A subscription request that cannot be sent: the application's
    /// complete with the error; a restoration counts its filters refused,
    /// with the reason code a server would have given.
    fn request_failed(&mut self, request: Request, e: CommandError) {
        match request {
            Request::Subscribe { req, .. } => self.events.push_back(Event::SubscribeDone {
                id: req,
                result: Err(e),
            }),
            Request::Unsubscribe { req, .. } => self.events.push_back(Event::UnsubscribeDone {
                id: req,
                result: Err(e),
            }),
            Request::Restore { filters, .. } => {
                let code = match e {
                    CommandError::WildcardsNotSupported => {
                        ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
                    }
                    CommandError::SharedNotSupported => {
                        ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
                    }
                    CommandError::SubscriptionIdsNotSupported => {
                        ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED
                    }
                    CommandError::PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
                    _ => ReasonCode::UNSPECIFIED_ERROR,
                };
                self.restore_answered(filters.into_iter().map(|(f, _)| (f, code)).collect());
            }
        }
    }

    fn pump_publishes(&mut self, now: Instant) {
        while let Some(front) = self.outgoing.queue.front() {
            if self.out_of_quota(front.publish.qos) {
                return;
            }
            let Some(queued) = self.outgoing.queue.pop_front() else {
                return;
            };
            if let Some(queued) = self.send_publish_now(now, queued) {
                self.outgoing.queue.push_front(queued);
                return;
            }
        }
    }

    /// Whether a PUBLISH at `qos` must wait for send quota.
    pub(crate) fn out_of_quota(&self, qos: QoS) -> bool {
        // Each time the Client sends a PUBLISH packet at QoS > 0, it
        // decrements the send quota. If the send quota reaches zero, the
        // Client MUST NOT send any more PUBLISH packets with QoS > 0
        // [MQTT-4.9.0-2]. Later messages wait too, to keep their order.
        qos != QoS::AtMostOnce
            && self.outgoing.inflight_len() >= usize::from(self.limits.receive_maximum)
    }

    /// Sends the publish whose turn it is (or completes it with why it
    /// cannot be sent); hands it back when every packet id is in use.
    pub(crate) fn send_publish_now(&mut self, now: Instant, mut queued: Queued) -> Option<Queued> {
        let qos = queued.publish.qos;
        if let Err(e) = expire(&mut queued, now) {
            self.record_done(queued.req, qos);
            self.events.push_back(Event::PublishDone {
                id: queued.req,
                result: Err(e),
            });
            return None;
        }
        if let Err(e) = self.check_publish_limits(&queued.publish) {
            self.record_done(queued.req, qos);
            self.events.push_back(Event::PublishDone {
                id: queued.req,
                result: Err(e),
            });
            return None;
        }
        if qos == QoS::AtMostOnce {
            let result = self
                .transmit_publish(now, &mut queued.publish)
                .map(|()| PublishAcked::success());
            self.events.push_back(Event::PublishDone {
                id: queued.req,
                result: result.map_err(CommandError::Encode),
            });
            return None;
        }
        // Every id in use: it waits for one to be freed.
        let Some(id) = self.ids.allocate() else {
            return Some(queued);
        };
        self.send_inflight(now, id, queued);
        None
    }

    /// Sends a QoS 1/2 PUBLISH under packet id `id` and keeps it in flight.
    fn send_inflight(&mut self, now: Instant, id: PacketId, mut queued: Queued) {
        let qos = queued.publish.qos;
        queued.publish.packet_id = Some(id);
        if let Err(e) = self.transmit_publish(now, &mut queued.publish) {
            self.ids.release(id);
            self.record_done(queued.req, qos);
            self.events.push_back(Event::PublishDone {
                id: queued.req,
                result: Err(CommandError::Encode(e)),
            });
            return;
        }
        self.suspect.get_or_insert(queued.req);
        let stage = if qos == QoS::AtLeastOnce {
            Stage::AwaitPubAck
        } else {
            Stage::AwaitPubRec
        };
        self.record_stage(queued.req, stage, id);
        self.outgoing.insert(
            id,
            Inflight {
                req: queued.req,
                publish: queued.publish,
                stage,
            },
        );
    }

    /// Sends a PUBLISH, with a topic alias when the server allows them. The
    /// PUBLISH is left as it was (no alias), for a resend on another
    /// connection, where aliases start afresh.
    fn transmit_publish(&mut self, now: Instant, p: &mut Publish) -> Result<(), EncodeError> {
        let max = self.limits.topic_alias_maximum;
        let alias = match (&p.topic, self.version()) {
            (Some(topic), ProtocolVersion::V5) if self.config.outgoing_topic_aliases => {
                self.out_aliases.assign(topic, max)
            }
            _ => AliasUse::None,
        };
        match alias {
            AliasUse::None => self.try_send_publish(now, p),
            AliasUse::Set(a) => {
                p.properties.topic_alias = Some(a);
                let r = self.try_send_publish(now, p);
                p.properties.topic_alias = None;
                r
            }
            AliasUse::Reuse(a) => {
                let topic = p.topic.take();
                p.properties.topic_alias = Some(a);
                let r = self.try_send_publish(now, p);
                p.properties.topic_alias = None;
                p.topic = topic;
                r
            }
        }
    }
}

/// Counts the time a queued message waited against its Message Expiry
/// Interval: fails it once expired, else leaves the receiver the interval
/// that is left.
fn expire(queued: &mut Queued, now: Instant) -> Result<(), CommandError> {
    let Some(expiry) = queued.publish.properties.message_expiry_interval else {
        return Ok(());
    };
    let waited = now.saturating_duration_since(queued.queued_at).as_secs();
    let waited = u32::try_from(waited).unwrap_or(u32::MAX);
    if waited >= expiry {
        return Err(CommandError::MessageExpired);
    }
    queued.publish.properties.message_expiry_interval = Some(expiry - waited);
    Ok(())
}
