//! Opening and ending connections: CONNECT, CONNACK, enhanced
//! authentication, keep alive, and what survives a lost connection.

use super::event::{
    CommandError, DisconnectInfo, Event, Initiator, ProtocolError, PublishAcked, ServerLimits,
};
use super::outgoing::{Queued, Stage};
use super::subscriptions::{Request, Restoring};
use super::timers::{deadline, Timer};
use super::{ConnectionState, Session, SessionLostPolicy};
use crate::codec::{
    Auth, AuthProperties, ConnAck, Connect, ConnectProperties, Disconnect, DisconnectProperties,
    Packet, ProtocolVersion, PublishAck, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions,
};
use crate::topic::TopicFilter;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::num::{NonZeroU16, NonZeroU32};
use std::time::{Duration, Instant};

impl Session {
    /// A transport connection is up: the engine writes CONNECT and starts
    /// the CONNACK timer. Fails once the session was closed by
    /// [`disconnect`](Self::disconnect).
    pub fn handle_transport_open(&mut self, now: Instant) -> Result<(), CommandError> {
        let now = self.tick(now);
        if self.closed {
            return Err(CommandError::Closed);
        }
        if self.state != ConnectionState::Idle {
            self.handle_transport_closed(now);
        }
        self.recv.clear();
        self.send.clear();
        self.in_aliases.clear();
        self.out_aliases.clear();
        self.suspect = None;
        self.skip = None;
        let clean_start = match self.config.version {
            ProtocolVersion::V311 => self.config.clean_start,
            // Once a connection was accepted with a session the server keeps,
            // later connections resume it.
            ProtocolVersion::V5 if self.has_session_state => false,
            ProtocolVersion::V5 => self.config.clean_start,
        };
        self.clean_start_sent = clean_start;
        let connect = self.build_connect(clean_start);
        self.state = ConnectionState::Connecting;
        if let Err(e) = self.try_send_packet(now, &Packet::Connect(Box::new(connect))) {
            // Only an oversized field of the configuration can get here.
            self.end_connection(DisconnectInfo {
                initiator: Initiator::Local,
                reason_code: None,
                properties: DisconnectProperties::default(),
                error: Some(ProtocolError::ConnectEncode(e)),
                session_kept: self.has_session_state,
            });
            return Ok(());
        }
        self.timers
            .set(Timer::ConnAck, deadline(now, self.config.connect_timeout));
        Ok(())
    }

    fn build_connect(&mut self, clean_start: bool) -> Connect {
        let c = &mut self.config;
        let mut properties = ConnectProperties::default();
        if c.version == ProtocolVersion::V5 {
            properties.session_expiry_interval = Some(c.session_expiry_interval).filter(|s| *s > 0);
            properties.receive_maximum =
                NonZeroU16::new(c.receive_maximum).filter(|r| r.get() != u16::MAX);
            properties.maximum_packet_size = NonZeroU32::new(c.maximum_packet_size);
            properties.topic_alias_maximum = Some(c.topic_alias_maximum).filter(|t| *t > 0);
            properties.request_response_information =
                Some(true).filter(|_| c.request_response_information);
            properties.request_problem_information =
                Some(false).filter(|_| !c.request_problem_information);
            properties.user_properties = c.user_properties.clone();
            if let Some(auth) = c.authenticator.as_mut() {
                properties.authentication_method =
                    crate::codec::MqttString::try_from(auth.method()).ok();
                properties.authentication_data = auth.initial_data();
            }
        }
        Connect {
            protocol_version: c.version,
            clean_start,
            keep_alive: c.keep_alive,
            properties,
            // The server's assigned identifier, once it gave one, so that a
            // kept session can be resumed (3.2.2.3.7).
            client_id: self.client_id.clone(),
            will: c.will.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
        }
    }

    /// The transport is gone. Reports [`Event::Disconnected`] unless the
    /// engine had already ended the connection.
    pub fn handle_transport_closed(&mut self, now: Instant) {
        self.tick(now);
        match self.state {
            ConnectionState::Idle => {}
            ConnectionState::Closing => {}
            ConnectionState::Connecting | ConnectionState::Connected => {
                self.end_connection(DisconnectInfo {
                    initiator: Initiator::Transport,
                    reason_code: None,
                    properties: DisconnectProperties::default(),
                    error: None,
                    session_kept: self.config.session_kept(),
                });
            }
        }
        self.state = ConnectionState::Idle;
        self.send.clear();
        self.recv.clear();
    }

    /// Ends the connection on a protocol error: DISCONNECT with the error's
    /// reason code (v5), then close.
    pub(crate) fn fail_connection(&mut self, now: Instant, error: ProtocolError) {
        if !matches!(
            self.state,
            ConnectionState::Connecting | ConnectionState::Connected
        ) {
            return;
        }
        tracing::warn!(%error, "closing the connection on a protocol error");
        let reason_code = error.reason_code();
        // The Client SHOULD send a DISCONNECT with the reason code before
        // closing (4.13.1); before CONNACK a client may still send
        // DISCONNECT [MQTT-3.1.2-30].
        if self.version() == ProtocolVersion::V5 {
            self.send_packet(
                now,
                &Packet::Disconnect(Disconnect {
                    reason_code,
                    properties: DisconnectProperties::default(),
                }),
            );
        }
        self.end_connection(DisconnectInfo {
            initiator: Initiator::Protocol,
            reason_code: Some(reason_code),
            properties: DisconnectProperties::default(),
            error: Some(error),
            session_kept: self.config.session_kept(),
        });
    }

    /// The connection is over (the driver closes the transport): reports it
    /// and keeps exactly what the session keeps.
    pub(crate) fn end_connection(&mut self, info: DisconnectInfo) {
        self.count_strike(info.initiator);
        self.state = ConnectionState::Closing;
        self.timers.stop_all();
        self.recv.clear();
        self.skip = None;
        self.in_aliases.clear();
        self.out_aliases.clear();
        for id in self.subs.requeue_sent() {
            if let Some(id) = NonZeroU16::new(id) {
                self.ids.release(id);
            }
        }
        if let Some(req) = self.reauth.take() {
            self.events.push_back(Event::ReauthDone {
                id: req,
                result: Err(CommandError::SessionLost),
            });
        }
        self.incoming.connection_lost();
        self.has_session_state = info.session_kept;
        if !info.session_kept {
            self.incoming.clear();
            self.record(|| crate::store::StoreOp::ClearIncoming);
            if self.config.session_lost_policy == SessionLostPolicy::Fail {
                self.settle_lost_pubcomps();
                self.fail_inflight(CommandError::SessionLost);
            }
        }
        tracing::info!(initiator = ?info.initiator, reason = ?info.reason_code, "disconnected");
        self.events.push_back(Event::Disconnected(info));
        if self.draining.take().is_some() {
            // A graceful disconnect whose connection was lost: the session
            // closes now; it does not reconnect to finish.
            self.fail_all(CommandError::Closed);
        }
    }

    /// A connection ended: if the server ended it (closing the transport or
    /// sending DISCONNECT) right after a QoS 1/2 PUBLISH was the first sent
    /// since its last packet, that publish gets a strike. At
    /// [`max_publish_strikes`](super::SessionConfig::max_publish_strikes)
    /// strikes in a row it fails with [`CommandError::RejectedByServer`] and
    /// is never sent again. Any other ending (ours, our protocol error, no
    /// suspect, another suspect) breaks the run.
    fn count_strike(&mut self, initiator: Initiator) {
        let suspect = self.suspect.take();
        let by_server = matches!(initiator, Initiator::Transport | Initiator::Remote);
        let Some(req) = suspect.filter(|_| by_server) else {
            self.strikes = None;
            return;
        };
        let attempts = match self.strikes {
            Some((r, n)) if r == req => n.saturating_add(1),
            _ => 1,
        };
        self.strikes = Some((req, attempts));
        let max = self.config.max_publish_strikes;
        if max == 0 || attempts < max {
            return;
        }
        self.strikes = None;
        tracing::warn!(
            attempts,
            "the server keeps closing on a publish: giving up on it"
        );
        if let Some(publish) = self.outgoing.take_request(req) {
            if let Some(id) = publish.packet_id {
                self.ids.release(id);
            }
            self.record_done(req, publish.qos);
            self.events.push_back(Event::PublishDone {
                id: req,
                result: Err(CommandError::RejectedByServer { attempts }),
            });
        }
    }

    pub(crate) fn on_connack(&mut self, now: Instant, ack: ConnAck) {
        if self.state != ConnectionState::Connecting {
            // The Server MUST NOT send a second CONNACK: a protocol error.
            self.fail_connection(
                now,
                ProtocolError::violation(
                    "MQTT-3.2.0-1",
                    "second CONNACK",
                    ReasonCode::PROTOCOL_ERROR,
                ),
            );
            return;
        }
        self.timers.stop(Timer::ConnAck);
        let reason_code = match self.version() {
            ProtocolVersion::V311 => ReasonCode::from_v311_connack(ack.reason_code.0),
            ProtocolVersion::V5 => ack.reason_code,
        };
        if !reason_code.is_success() {
            // If a Server sends a CONNACK packet containing a Reason code of
            // 128 or greater it MUST then close the Network Connection
            // [MQTT-3.2.2-7]; the client closes too.
            self.end_connection(DisconnectInfo {
                initiator: Initiator::Remote,
                reason_code: Some(reason_code),
                properties: DisconnectProperties {
                    reason_string: ack.properties.reason_string.clone(),
                    server_reference: ack.properties.server_reference.clone(),
                    user_properties: ack.properties.user_properties.clone(),
                    session_expiry_interval: None,
                },
                error: None,
                session_kept: self.has_session_state,
            });
            return;
        }
        if let Some(error) = self.connack_violation(&ack) {
            self.fail_connection(now, error);
            return;
        }
        self.apply_limits(&ack);
        self.state = ConnectionState::Connected;
        if !ack.session_present {
            self.session_not_present(now);
        }
        self.has_session_state = self.config.session_kept();
        self.record_identity();
        self.events.push_back(Event::Connected {
            session_present: ack.session_present,
            client_id: self.client_id.to_string(),
            limits: self.limits.clone(),
            connack: Box::new(ack.clone()),
        });
        if ack.session_present {
            self.resend_inflight(now);
        }
        self.pump(now);
    }

    /// What is wrong with a successful CONNACK, if anything.
    fn connack_violation(&self, ack: &ConnAck) -> Option<ProtocolError> {
        if ack.session_present && self.clean_start_sent {
            // A server that accepted Clean Start 1 MUST set Session Present
            // to 0 [MQTT-3.2.2-2]; a client without session state that
            // receives Session Present 1 MUST close [MQTT-3.2.2-4].
            return Some(ProtocolError::violation(
                "MQTT-3.2.2-4",
                "session present after a clean start",
                ReasonCode::PROTOCOL_ERROR,
            ));
        }
        let expected_method = self.config.authenticator.as_ref().map(|a| a.method());
        if ack.properties.authentication_method.as_deref() != expected_method {
            // If the initial CONNECT packet included an Authentication Method
            // property then ... any successful CONNACK packet MUST include an
            // Authentication Method Property with the same value as in the
            // CONNECT packet [MQTT-4.12.0-5]; without one in the CONNECT, the
            // Server MUST NOT send an Authentication Method in the CONNACK
            // [MQTT-4.12.0-6].
            return Some(ProtocolError::violation(
                "MQTT-4.12.0-5",
                "CONNACK authentication method differs from the CONNECT's",
                ReasonCode::PROTOCOL_ERROR,
            ));
        }
        None
    }

    fn apply_limits(&mut self, ack: &ConnAck) {
        let p = &ack.properties;
        self.limits = ServerLimits {
            receive_maximum: p.receive_maximum.map_or(u16::MAX, NonZeroU16::get),
            maximum_qos: p.maximum_qos.unwrap_or(QoS::ExactlyOnce),
            retain_available: p.retain_available.unwrap_or(true),
            maximum_packet_size: p
                .maximum_packet_size
                .map_or(ServerLimits::default().maximum_packet_size, NonZeroU32::get),
            topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
            wildcard_subscription_available: p.wildcard_subscription_available.unwrap_or(true),
            subscription_identifiers_available: p
                .subscription_identifiers_available
                .unwrap_or(true),
            shared_subscription_available: p.shared_subscription_available.unwrap_or(true),
            // If the Server sends a Server Keep Alive on the CONNACK packet,
            // the Client MUST use this value instead of the Keep Alive value
            // the Client sent on CONNECT [MQTT-3.2.2-21].
            keep_alive: p.server_keep_alive.unwrap_or(self.config.keep_alive),
        };
        if let Some(id) = &p.assigned_client_identifier {
            self.client_id = id.clone();
        }
    }

    /// The server holds no session for us: forget what only made sense with
    /// one, and deal with in-flight publishes by the policy.
    fn session_not_present(&mut self, now: Instant) {
        // If the Client does have Session State and receives Session Present
        // set to 0 it MUST discard its Session State if it continues with the
        // Network Connection [MQTT-3.2.2-5].
        self.incoming.clear();
        self.record(|| crate::store::StoreOp::ClearIncoming);
        if self.config.restore_subscriptions {
            self.restore_subscriptions();
        } else {
            self.forget_subscriptions();
        }
        self.settle_lost_pubcomps();
        let inflight = self.outgoing.take_all();
        for entry in &inflight {
            if let Some(id) = entry.publish.packet_id {
                self.ids.release(id);
            }
        }
        match self.config.session_lost_policy {
            SessionLostPolicy::Fail => {
                for entry in inflight {
                    self.record_done(entry.req, entry.publish.qos);
                    self.events.push_back(Event::PublishDone {
                        id: entry.req,
                        result: Err(CommandError::SessionExpired),
                    });
                }
            }
            SessionLostPolicy::Resend => {
                // Back to the front of the queue, in their original order, as
                // new messages.
                for mut entry in inflight.into_iter().rev() {
                    entry.publish.dup = false;
                    entry.publish.packet_id = None;
                    let key = entry.req.0;
                    self.record(|| crate::store::StoreOp::SetStage {
                        key,
                        stage: crate::store::MessageStage::Queued,
                    });
                    self.outgoing.queue.push_front(Queued {
                        req: entry.req,
                        publish: entry.publish,
                        queued_at: now,
                    });
                }
            }
        }
    }

    /// The server lost our subscriptions, and the configuration says not to
    /// restore them: report them and forget them.
    fn forget_subscriptions(&mut self) {
        let mut subscriptions: Vec<_> = std::mem::take(&mut self.subs.active)
            .into_iter()
            .map(|(f, a)| (f, a.options))
            .collect();
        subscriptions.extend(
            self.subs
                .take_restores()
                .into_iter()
                .map(|(f, o, _)| (f, o)),
        );
        self.subs.restoring = None;
        self.record(|| crate::store::StoreOp::ClearSubscriptions);
        if !subscriptions.is_empty() {
            self.events
                .push_back(Event::SubscriptionsLost { subscriptions });
        }
    }

    /// The server lost our subscriptions: queue SUBSCRIBEs that restore
    /// them, at the front of the queue, so they go before anything queued
    /// (every SUBSCRIBE and PUBLISH) on this connection. One SUBSCRIBE per
    /// subscription identifier (the filters without one share a SUBSCRIBE),
    /// each filter with the options first asked for. A restoration cut
    /// short by an earlier lost connection is folded in: what it had not
    /// restored yet is restored now, once.
    fn restore_subscriptions(&mut self) {
        type Group = Vec<(TopicFilter, SubscriptionOptions)>;
        let mut all: BTreeMap<TopicFilter, (SubscriptionOptions, Option<NonZeroU32>)> =
            BTreeMap::new();
        for (f, o, id) in self.subs.take_restores() {
            all.insert(f, (o, id));
        }
        for (f, a) in std::mem::take(&mut self.subs.active) {
            all.insert(f, (a.requested_options(), a.subscription_id));
        }
        let earlier = self.subs.restoring.take().unwrap_or_default();
        if all.is_empty() {
            return;
        }
        let mut groups: BTreeMap<Option<NonZeroU32>, Group> = BTreeMap::new();
        for (f, (o, id)) in all {
            groups.entry(id).or_default().push((f, o));
        }
        self.subs.restoring = Some(Restoring {
            filters: earlier.refused.len() + groups.values().map(Vec::len).sum::<usize>(),
            refused: earlier.refused,
        });
        for (id, filters) in groups.into_iter().rev() {
            self.subs.queue.push_front(Request::Restore {
                properties: SubscribeProperties {
                    subscription_identifier: id,
                    ..SubscribeProperties::default()
                },
                filters,
            });
        }
    }

    /// A restoration SUBSCRIBE was answered (or could not be sent): records
    /// what was refused, and reports the restoration once all are answered.
    pub(crate) fn restore_answered(&mut self, refused: Vec<(TopicFilter, ReasonCode)>) {
        if let Some(r) = self.subs.restoring.as_mut() {
            r.refused.extend(refused);
        }
        if self.subs.restore_pending() {
            return;
        }
        if let Some(r) = self.subs.restoring.take() {
            self.events.push_back(Event::SubscriptionsRestored {
                filters: r.filters,
                refused: r.refused,
            });
        }
    }

    /// The server lost our session: QoS 2 exchanges whose PUBREC (success)
    /// arrived complete as delivered, with `pubcomp_lost`, under either
    /// policy. The server had received them; sending them again would
    /// deliver them twice.
    fn settle_lost_pubcomps(&mut self) {
        for entry in self.outgoing.take_awaiting_pubcomp() {
            if let Some(id) = entry.publish.packet_id {
                self.ids.release(id);
            }
            self.record_done(entry.req, entry.publish.qos);
            self.events.push_back(Event::PublishDone {
                id: entry.req,
                result: Ok(PublishAcked::settled_without_pubcomp()),
            });
        }
    }

    /// Session resumed: resend every unacknowledged PUBLISH (DUP=1) and
    /// PUBREL with its original packet id, in the original order, before
    /// anything new.
    ///
    /// When a Client reconnects with Clean Start set to 0 and a session is
    /// present, both the Client and Server MUST resend any unacknowledged
    /// PUBLISH packets (where QoS > 0) and PUBREL packets using their
    /// original Packet Identifiers [MQTT-4.4.0-1]; in the order in which the
    /// original PUBLISH packets were sent [MQTT-4.6.0-1].
    fn resend_inflight(&mut self, now: Instant) {
        let mut packets = Vec::with_capacity(self.outgoing.inflight_len());
        for entry in self.outgoing.iter() {
            match (entry.stage, entry.publish.packet_id) {
                (Stage::AwaitPubComp, Some(id)) => {
                    packets.push((Packet::PubRel(PublishAck::new(id)), None))
                }
                (_, Some(_)) => {
                    let mut p = entry.publish.clone();
                    // The DUP flag MUST be set to 1 by the Client or Server
                    // when it attempts to re-deliver a PUBLISH packet [MQTT-3.3.1-1].
                    p.dup = true;
                    packets.push((Packet::Publish(p), Some(entry.req)));
                }
                (_, None) => {}
            }
        }
        for (p, req) in &packets {
            self.send_packet(now, p);
            if let Some(req) = req {
                self.suspect.get_or_insert(*req);
            }
        }
    }

    /// An AUTH from the server.
    pub(crate) fn on_auth(&mut self, now: Instant, auth: Auth) {
        let Some(method) = self
            .config
            .authenticator
            .as_ref()
            .map(|a| a.method().to_owned())
        else {
            // If the Client does not include an Authentication Method in the
            // CONNECT, the Server MUST NOT send an AUTH packet [MQTT-4.12.0-6].
            self.fail_connection(
                now,
                ProtocolError::violation(
                    "MQTT-4.12.0-6",
                    "AUTH without an authentication method",
                    ReasonCode::PROTOCOL_ERROR,
                ),
            );
            return;
        };
        if auth.properties.authentication_method.as_deref() != Some(method.as_str()) {
            // All AUTH packets MUST include an Authentication Method Property
            // with the same value as in the CONNECT packet [MQTT-4.12.0-5].
            self.fail_connection(
                now,
                ProtocolError::violation(
                    "MQTT-4.12.0-5",
                    "AUTH with another authentication method",
                    ReasonCode::PROTOCOL_ERROR,
                ),
            );
            return;
        }
        let reauthenticating = self.state == ConnectionState::Connected && self.reauth.is_some();
        match auth.reason_code {
            ReasonCode::CONTINUE_AUTHENTICATION
                if self.state == ConnectionState::Connecting || reauthenticating =>
            {
                self.answer_challenge(now, &auth)
            }
            ReasonCode::SUCCESS if reauthenticating => {
                if let Some(req) = self.reauth.take() {
                    self.events.push_back(Event::ReauthDone {
                        id: req,
                        result: Ok(()),
                    });
                }
            }
            _ => self.fail_connection(
                now,
                ProtocolError::violation(
                    "MQTT-4.12.0-2",
                    "unexpected AUTH",
                    ReasonCode::PROTOCOL_ERROR,
                ),
            ),
        }
    }

    /// Answers the server's authentication challenge through the
    /// authenticator.
    fn answer_challenge(&mut self, now: Instant, auth: &Auth) {
        let answer = match self.config.authenticator.as_mut() {
            Some(a) => a.respond(auth.properties.authentication_data.as_ref()),
            None => Err("no authenticator".to_owned()),
        };
        match answer {
            // The Client responds to an AUTH packet from the Server by
            // sending a further AUTH packet. This packet MUST contain a
            // Reason Code of 0x18 (Continue authentication) [MQTT-4.12.0-3].
            Ok(data) => self.send_auth(now, ReasonCode::CONTINUE_AUTHENTICATION, data),
            Err(msg) => self.fail_connection(now, ProtocolError::Auth(msg)),
        }
    }

    pub(crate) fn send_auth(&mut self, now: Instant, reason_code: ReasonCode, data: Option<Bytes>) {
        let method = self
            .config
            .authenticator
            .as_ref()
            .and_then(|a| crate::codec::MqttString::try_from(a.method()).ok());
        let auth = Auth {
            reason_code,
            properties: AuthProperties {
                authentication_method: method,
                authentication_data: data,
                ..Default::default()
            },
        };
        let packet = Packet::Auth(auth);
        // The Client MUST NOT send packets exceeding Maximum Packet Size to
        // the Server [MQTT-3.2.2-15]. An AUTH carries nothing that may be
        // dropped, so the exchange cannot go on.
        if packet
            .encoded_len(self.version())
            .map_or(true, |n| n > self.max_send())
        {
            self.fail_connection(
                now,
                ProtocolError::Auth(
                    "the AUTH packet would exceed the server's maximum packet size".into(),
                ),
            );
            return;
        }
        self.send_packet(now, &packet);
    }

    /// The keep-alive interval in force.
    fn keep_alive(&self) -> Duration {
        Duration::from_secs(u64::from(self.limits_keep_alive()))
    }

    fn limits_keep_alive(&self) -> u16 {
        match self.state {
            ConnectionState::Connected => self.limits.keep_alive,
            _ => self.config.keep_alive,
        }
    }

    pub(crate) fn ping_timeout(&self) -> Duration {
        self.config
            .ping_timeout
            .unwrap_or_else(|| self.keep_alive())
    }

    /// When a PINGREQ is due: a keep-alive interval after the last packet we
    /// sent, while connected, with no PINGREQ outstanding. A Keep Alive of 0
    /// turns the mechanism off.
    pub(crate) fn keep_alive_deadline(&self) -> Option<Instant> {
        if self.state != ConnectionState::Connected || self.timers.is_set(Timer::PingResp) {
            return None;
        }
        let ka = self.limits_keep_alive();
        if ka == 0 {
            return None;
        }
        Some(deadline(self.last_sent?, self.keep_alive()))
    }

    /// The largest packet the server accepts.
    pub(crate) fn max_send(&self) -> usize {
        usize::try_from(self.limits.maximum_packet_size).unwrap_or(usize::MAX)
    }

    /// Fails every publish in flight. A publish failed because the
    /// session closed stays in the store, for the next process to send.
    pub(crate) fn fail_inflight(&mut self, error: CommandError) {
        let for_good = !matches!(error, CommandError::Closed);
        for entry in self.outgoing.take_all() {
            if let Some(id) = entry.publish.packet_id {
                self.ids.release(id);
            }
            if for_good {
                self.record_done(entry.req, entry.publish.qos);
            }
            self.events.push_back(Event::PublishDone {
                id: entry.req,
                result: Err(error.clone()),
            });
        }
    }

    /// Fails every pending command.
    pub(crate) fn fail_all(&mut self, error: CommandError) {
        self.fail_inflight(error.clone());
        while let Some(q) = self.outgoing.queue.pop_front() {
            self.events.push_back(Event::PublishDone {
                id: q.req,
                result: Err(error.clone()),
            });
        }
        for id in self.subs.requeue_sent() {
            if let Some(id) = NonZeroU16::new(id) {
                self.ids.release(id);
            }
        }
        self.subs.restoring = None;
        while let Some(r) = self.subs.queue.pop_front() {
            match r {
                Request::Subscribe { req, .. } => self.events.push_back(Event::SubscribeDone {
                    id: req,
                    result: Err(error.clone()),
                }),
                Request::Unsubscribe { req, .. } => self.events.push_back(Event::UnsubscribeDone {
                    id: req,
                    result: Err(error.clone()),
                }),
                // Internal: no completion event.
                Request::Restore { .. } => {}
            }
        }
        if let Some(req) = self.reauth.take() {
            self.events.push_back(Event::ReauthDone {
                id: req,
                result: Err(error),
            });
        }
    }
}
