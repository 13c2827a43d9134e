//! The sans-IO session engine: all protocol state of one MQTT client, and
//! no I/O.
//!
//! [`Session`] never reads the clock (every input takes `now`), never
//! touches a socket and never spawns anything; it does not depend on any
//! async runtime. A driver feeds it bytes, commands and time, and carries
//! out what it asks for. The tokio client in this crate is one such driver;
//! the tests drive it on virtual time.

mod alias;
mod auth;
mod command;
mod config;
mod connection;
mod event;
mod incoming;
mod outgoing;
mod packet_id;
mod persist;
mod receive;
mod send;
mod skip;
mod subscriptions;
mod timers;

/// `now + after`, saturating instead of overflowing; the driver bounds its
/// own waits (the last bytes of a closing connection) with it too.
pub(crate) use timers::deadline;

pub use auth::Authenticator;
pub use command::PublishCommand;
pub use config::{SessionConfig, SessionLostPolicy};
pub use event::{
    AckToken, CommandError, Delivery, DisconnectInfo, Event, Initiator, ProtocolError,
    PublishAcked, RequestId, ServerLimits, SubscribeResult,
};
pub use subscriptions::ActiveSubscription;

use crate::codec::{
    Disconnect, DisconnectProperties, MqttString, Packet, ProtocolVersion, ReasonCode,
    SubscribeProperties, SubscriptionOptions, UnsubscribeProperties,
};
use crate::topic::TopicFilter;
use bytes::{Bytes, BytesMut};
use incoming::Incoming;
use outgoing::{Outgoing, Queued};
use packet_id::PacketIds;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use subscriptions::{Request, Subscriptions};
use timers::Timers;

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No transport: before the first connection and between connections.
    Idle,
    /// CONNECT sent; CONNACK (or an AUTH exchange) awaited.
    Connecting,
    /// A successful CONNACK was received and accepted; publishes and
    /// subscriptions flow.
    Connected,
    /// The connection is over: the driver sends what [`Session::poll_transmit`]
    /// still holds, then closes the transport and calls
    /// [`Session::handle_transport_closed`].
    Closing,
}

/// The protocol state of one MQTT client session, driven from outside.
///
/// # The contract
///
/// The methods fall into four groups, in the manner of quinn-proto's
/// `Connection`:
///
/// - **Inputs from the transport:** [`handle_transport_open`](Self::handle_transport_open)
///   when a connection is up (the engine writes CONNECT),
///   [`handle_data`](Self::handle_data) (or [`recv_buffer`](Self::recv_buffer)
///   then [`handle_received`](Self::handle_received)) with received bytes,
///   [`handle_transport_closed`](Self::handle_transport_closed) when it is
///   gone, and [`handle_timeout`](Self::handle_timeout) when the deadline
///   from [`poll_timeout`](Self::poll_timeout) has passed.
/// - **Commands from the application:** [`publish`](Self::publish),
///   [`subscribe`](Self::subscribe), [`unsubscribe`](Self::unsubscribe),
///   [`ack`](Self::ack), [`reauthenticate`](Self::reauthenticate),
///   [`disconnect`](Self::disconnect) (at once) and
///   [`disconnect_when_idle`](Self::disconnect_when_idle) (after what is
///   under way, within a timeout the engine keeps). A command that returns
///   `Ok(id)` gets exactly one completion event carrying `id`; one that
///   returns `Err` gets none.
/// - **What the engine does by itself across connections**, reported by
///   events that complete no command:
///   [`Event::SubscriptionsRestored`] (it subscribed again after the server
///   lost the session; see [`SessionConfig::restore_subscriptions`]),
///   [`Event::SubscriptionsLost`] (the same, when told not to restore),
///   [`Event::MessageDiscarded`] (a PUBLISH over our maximum packet size,
///   skipped as it streamed and acknowledged), and
///   [`Event::Connected`] / [`Event::Disconnected`]. A QoS 2 publish whose
///   PUBREC arrived completes with [`PublishAcked::pubcomp_lost`] when the
///   server loses the session, and a publish the server closes the
///   connection on [`SessionConfig::max_publish_strikes`] times in a row
///   fails with [`CommandError::RejectedByServer`]; neither is sent again.
/// - **Outputs:** [`poll_transmit`](Self::poll_transmit) (bytes to write),
///   [`poll_event`](Self::poll_event) (application events),
///   [`poll_timeout`](Self::poll_timeout) (the next deadline) and
///   [`wants_close`](Self::wants_close).
/// - **Durable state** (only once [`set_persistent`](Self::set_persistent)
///   was called): [`poll_store_op`](Self::poll_store_op) reports each
///   change as a [`StoreOp`](crate::store::StoreOp), to be made durable
///   before the bytes of the same step are written; [`restore`](Self::restore)
///   resumes from what a store kept. See [`crate::store`].
/// - **Getters:** [`state`](Self::state), [`limits`](Self::limits),
///   [`subscriptions`](Self::subscriptions), [`is_idle`](Self::is_idle).
///
/// After any input or command, a driver drains the outputs in this order:
/// `poll_store_op` until `None` (a persistent session), then
/// `poll_transmit` until `None` (and writes the bytes), then `poll_event`
/// until `None`, then `wants_close` (close the transport once the bytes are
/// written), then `poll_timeout` to re-arm its single timer.
///
/// Time only moves forward: every input takes `now`, and a `now` earlier
/// than one already seen is treated as the latest one seen. Every deadline
/// saturates: a configured duration too long for [`Instant`] (even
/// [`Duration::MAX`]) puts the deadline about 100 years away instead of
/// panicking.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tern_mqtt::codec::{decode, MqttString, Packet, ProtocolVersion};
/// use tern_mqtt::session::{Session, SessionConfig};
///
/// let mut session = Session::new(SessionConfig::new(MqttString::try_from("demo").unwrap()));
/// let now = Instant::now();
/// session.handle_transport_open(now).unwrap();
/// let mut wire = bytes::BytesMut::from(&session.poll_transmit().unwrap()[..]);
/// let connect = decode(&mut wire, ProtocolVersion::V5, 1 << 20).unwrap();
/// assert!(matches!(connect, Some(Packet::Connect(_))));
/// // The CONNACK must arrive within the connect timeout.
/// assert_eq!(session.poll_timeout(), Some(now + Duration::from_secs(30)));
/// ```
pub struct Session {
    config: SessionConfig,
    state: ConnectionState,
    /// Set by [`disconnect`](Self::disconnect) and
    /// [`disconnect_when_idle`](Self::disconnect_when_idle): no command is
    /// accepted and no connection is made again.
    closed: bool,
    /// A graceful disconnect waits for the session to go idle, to send
    /// DISCONNECT with this reason code.
    draining: Option<ReasonCode>,
    /// The first QoS 1/2 PUBLISH sent on this connection since the last
    /// packet received: the one to blame if the server closes now.
    suspect: Option<RequestId>,
    /// How many connections in a row the server closed with the same
    /// suspect.
    strikes: Option<(RequestId, u32)>,
    /// An oversized PUBLISH being skipped as it arrives.
    skip: Option<skip::Skip>,
    /// Whether oversized PUBLISH packets are skipped in v5: once we sent
    /// DISCONNECT 0x95 for one.
    skip_oversized: bool,
    /// Whether the server's excess over our Receive Maximum is tolerated:
    /// once we sent DISCONNECT 0x93 for it (see
    /// [`receive_maximum_in_force`](Self::receive_maximum_in_force)).
    receive_maximum_ignored: bool,
    now: Option<Instant>,
    recv: BytesMut,
    send: BytesMut,
    events: VecDeque<Event>,
    timers: Timers,
    last_sent: Option<Instant>,
    limits: ServerLimits,
    ids: PacketIds,
    outgoing: Outgoing,
    incoming: Incoming,
    in_aliases: alias::IncomingAliases,
    out_aliases: alias::OutgoingAliases,
    subs: Subscriptions,
    next_request: u64,
    /// Whether we hold session state the server should also hold.
    has_session_state: bool,
    clean_start_sent: bool,
    client_id: MqttString,
    reauth: Option<RequestId>,
    /// The driver stopped reading (its application is slow): an unread
    /// PINGRESP is no sign of a dead connection meanwhile.
    reading_paused: bool,
    /// Whether changes of durable state are reported as store ops.
    persistent: bool,
    store_ops: VecDeque<crate::store::StoreOp>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("client_id", &self.client_id)
            .field("inflight", &self.outgoing.inflight_len())
            .field("queued", &self.outgoing.queue.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session that has not connected yet.
    pub fn new(config: SessionConfig) -> Self {
        let client_id = config.client_id.clone();
        Session {
            config,
            state: ConnectionState::Idle,
            closed: false,
            draining: None,
            suspect: None,
            strikes: None,
            skip: None,
            skip_oversized: false,
            receive_maximum_ignored: false,
            now: None,
            recv: BytesMut::new(),
            send: BytesMut::new(),
            events: VecDeque::new(),
            timers: Timers::default(),
            last_sent: None,
            limits: ServerLimits::default(),
            ids: PacketIds::default(),
            outgoing: Outgoing::default(),
            incoming: Incoming::default(),
            in_aliases: alias::IncomingAliases::default(),
            out_aliases: alias::OutgoingAliases::default(),
            subs: Subscriptions::default(),
            next_request: 0,
            has_session_state: false,
            clean_start_sent: false,
            client_id,
            reauth: None,
            reading_paused: false,
            persistent: false,
            store_ops: VecDeque::new(),
        }
    }

    // ----- getters -----

    /// Where the connection stands.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The configuration the session was created with, read-only.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The configuration, to change what the next CONNECT carries (for
    /// example fresh credentials before a reconnect).
    pub fn config_mut(&mut self) -> &mut SessionConfig {
        &mut self.config
    }

    /// The protocol version.
    pub fn version(&self) -> ProtocolVersion {
        self.config.version
    }

    /// The server's limits from the last CONNACK (permissive defaults before one).
    pub fn limits(&self) -> &ServerLimits {
        &self.limits
    }

    /// The client identifier in force (the server's, if it assigned one).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The subscriptions the server granted.
    pub fn subscriptions(&self) -> &BTreeMap<TopicFilter, ActiveSubscription> {
        &self.subs.active
    }

    /// QoS 1/2 publishes sent and not yet acknowledged.
    pub fn inflight(&self) -> usize {
        self.outgoing.inflight_len()
    }

    /// Packet identifiers held by outgoing exchanges.
    pub fn packet_ids_in_use(&self) -> usize {
        self.ids.len()
    }

    /// Whether an outgoing exchange holds `id`.
    pub fn is_packet_id_in_use(&self, id: crate::codec::PacketId) -> bool {
        self.ids.is_in_use(id)
    }

    /// Incoming QoS 1/2 publishes not yet fully acknowledged (what counts
    /// against our Receive Maximum).
    pub fn incoming_unacknowledged(&self) -> usize {
        self.incoming.unacknowledged()
    }

    /// Publishes waiting to be sent.
    pub fn queued(&self) -> usize {
        self.outgoing.queue.len()
    }

    /// True when no command is pending and no exchange is in flight.
    pub fn is_idle(&self) -> bool {
        self.outgoing.is_idle() && self.subs.is_idle() && self.reauth.is_none()
    }

    /// True once [`disconnect`](Self::disconnect) or
    /// [`disconnect_when_idle`](Self::disconnect_when_idle) was called: no
    /// new command is accepted and no connection is made again.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    // ----- outputs -----

    /// Bytes to write to the transport, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.send.is_empty() {
            return None;
        }
        Some(self.send.split().freeze())
    }

    /// Moves the bytes to write, in order, onto the end of `out` (the
    /// batched form of [`poll_transmit`](Self::poll_transmit)). When `out`
    /// is empty the two buffers trade places instead of copying, so a
    /// driver that keeps one write buffer reuses both allocations: no
    /// allocation and no copy per batch of packets.
    pub fn transmit_into(&mut self, out: &mut BytesMut) {
        if self.send.is_empty() {
            return;
        }
        if out.is_empty() {
            std::mem::swap(&mut self.send, out);
        } else {
            out.extend_from_slice(&self.send);
            self.send.clear();
        }
    }

    /// Frees the receive and transmit buffers and the event queue when they
    /// are empty (a partial packet in the receive buffer stays), so that an
    /// idle connection holds no buffer; they grow again on the next use.
    pub fn release_empty_buffers(&mut self) {
        if self.recv.is_empty() {
            self.recv = BytesMut::new();
        }
        if self.send.is_empty() {
            self.send = BytesMut::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The completion of publish `id`, taken out of the events, if it is
    /// the latest one: a QoS 0 publish sent at once completes within the
    /// [`publish`](Self::publish) call that made it, and a caller may take
    /// that [`Event::PublishDone`] here rather than through
    /// [`poll_event`](Self::poll_event). `None` otherwise, and the
    /// completion comes through `poll_event` as usual.
    pub fn take_publish_done(
        &mut self,
        id: RequestId,
    ) -> Option<Result<PublishAcked, CommandError>> {
        match self.events.back() {
            Some(Event::PublishDone { id: done, .. }) if *done == id => {}
            _ => return None,
        }
        match self.events.pop_back()? {
            Event::PublishDone { result, .. } => Some(result),
            // Not reached: the back was checked just above.
            other => {
                self.events.push_back(other);
                None
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keep_alive = self.keep_alive_deadline();
        let timers = if self.reading_paused {
            // Only the timers that need no reading run while paused.
            [timers::Timer::ConnAck, timers::Timer::Disconnect]
                .into_iter()
                .filter_map(|t| self.timers.get(t))
                .min()
        } else {
            self.timers.next()
        };
        match (timers, keep_alive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when the driver should close the transport (after writing what
    /// [`poll_transmit`](Self::poll_transmit) holds).
    pub fn wants_close(&self) -> bool {
        self.state == ConnectionState::Closing
    }

    // ----- inputs -----

    /// The buffer received bytes go into; follow a read into it with
    /// [`handle_received`](Self::handle_received). Reading straight into it
    /// saves a copy.
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        &mut self.recv
    }

    /// Received bytes. While an oversized PUBLISH is being skipped (see
    /// [`Event::MessageDiscarded`]), its bytes are dropped without being
    /// copied into the receive buffer.
    pub fn handle_data(&mut self, now: Instant, data: &[u8]) {
        let mut data = data;
        if let Some(skip) = self.skip.as_mut().filter(|_| self.recv.is_empty()) {
            let before = data.len();
            data = skip.consume(data);
            if data.len() < before {
                // Bytes from the server answer our PINGREQ too.
                self.timers.stop(timers::Timer::PingResp);
            }
        }
        self.recv.extend_from_slice(data);
        self.handle_received(now);
    }

    /// The driver stopped (or resumed) reading from the transport because
    /// the application is not keeping up. While paused, a missing answer to
    /// PINGREQ cannot be told from one not yet read, so the ping timeout
    /// waits; on resume it gets a full ping timeout again.
    pub fn set_reading_paused(&mut self, now: Instant, paused: bool) {
        let now = self.tick(now);
        if self.reading_paused && !paused && self.timers.is_set(timers::Timer::PingResp) {
            self.timers.set(
                timers::Timer::PingResp,
                timers::deadline(now, self.ping_timeout()),
            );
        }
        self.reading_paused = paused;
    }

    /// Time has reached a deadline from [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.tick(now);
        let ping = self.timers.get(timers::Timer::PingResp);
        for timer in self.timers.expire(now) {
            if timer == timers::Timer::PingResp && self.reading_paused {
                // Not read yet is not missing: keep waiting.
                if let Some(at) = ping {
                    self.timers.set(timers::Timer::PingResp, at);
                }
                continue;
            }
            match timer {
                timers::Timer::ConnAck => self.fail_connection(now, ProtocolError::ConnAckTimeout),
                timers::Timer::PingResp => {
                    self.fail_connection(now, ProtocolError::KeepAliveTimeout)
                }
                timers::Timer::Disconnect => {
                    if let Err(error) = self.close_draining(now) {
                        tracing::error!(%error, "cannot encode the DISCONNECT");
                    }
                }
            }
        }
        if self.keep_alive_deadline().is_some_and(|at| at <= now) {
            // If Keep Alive is non-zero and in the absence of sending any
            // other MQTT Control Packets, the Client MUST send a PINGREQ
            // packet [MQTT-3.1.2-20].
            self.send_packet(now, &Packet::PingReq(crate::codec::PingReq));
            self.timers.set(
                timers::Timer::PingResp,
                timers::deadline(now, self.ping_timeout()),
            );
        }
    }

    // ----- commands -----

    fn next_request(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// Publishes a message. Completes with [`Event::PublishDone`]: QoS 0 once
    /// encoded for the transport, QoS 1 on PUBACK, QoS 2 on PUBCOMP. A QoS 0
    /// message sent at once has completed when this returns; its event may
    /// be taken straight away with
    /// [`take_publish_done`](Self::take_publish_done).
    ///
    /// While not connected, or while the server's Receive Maximum is
    /// reached, the message waits, in order.
    pub fn publish(
        &mut self,
        now: Instant,
        cmd: PublishCommand,
    ) -> Result<RequestId, CommandError> {
        let now = self.tick(now);
        if self.closed {
            return Err(CommandError::Closed);
        }
        let publish = self.check_publish(cmd)?;
        let req = self.next_request();
        self.record_accepted(req, &publish, now);
        let queued = Queued {
            req,
            publish,
            queued_at: now,
        };
        // Connected, nothing waiting ahead of it and quota left (the common
        // case): sent at once, as `pump` would, without a trip through the
        // queue (a publish is hundreds of bytes to move).
        if self.state == ConnectionState::Connected
            && self.outgoing.queue.is_empty()
            && self.subs.queue.is_empty()
            && !self.out_of_quota(queued.publish.qos)
        {
            if let Some(waiting) = self.send_publish_now(now, queued) {
                self.outgoing.queue.push_back(waiting);
            }
        } else {
            self.outgoing.queue.push_back(queued);
            self.pump(now);
        }
        Ok(req)
    }

    /// Subscribes to `filters`. Completes with [`Event::SubscribeDone`].
    pub fn subscribe(
        &mut self,
        now: Instant,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<RequestId, CommandError> {
        let now = self.tick(now);
        if self.closed {
            return Err(CommandError::Closed);
        }
        self.check_subscribe(&filters, &properties)?;
        let req = self.next_request();
        self.subs.queue.push_back(Request::Subscribe {
            req,
            properties,
            filters,
        });
        self.pump(now);
        Ok(req)
    }

    /// Unsubscribes from `filters`. Completes with [`Event::UnsubscribeDone`].
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
    ) -> Result<RequestId, CommandError> {
        let now = self.tick(now);
        if self.closed {
            return Err(CommandError::Closed);
        }
        if filters.is_empty() {
            return Err(CommandError::Invalid(
                "UNSUBSCRIBE needs at least one filter [MQTT-3.10.3-2]",
            ));
        }
        if self.version() == ProtocolVersion::V311 && !properties.user_properties.is_empty() {
            return Err(CommandError::NeedsV5("user properties"));
        }
        let req = self.next_request();
        self.subs.queue.push_back(Request::Unsubscribe {
            req,
            properties,
            filters,
        });
        self.pump(now);
        Ok(req)
    }

    /// Acknowledges a message delivered with an [`AckToken`] (manual acks).
    pub fn ack(&mut self, now: Instant, token: AckToken) {
        self.ack_with(now, token, ReasonCode::SUCCESS)
    }

    /// Acknowledges with a v5 reason code; 0x80 or above refuses the message.
    pub fn ack_with(&mut self, now: Instant, token: AckToken, reason_code: ReasonCode) {
        let now = self.tick(now);
        let reason_code = match self.version() {
            ProtocolVersion::V311 => ReasonCode::SUCCESS,
            ProtocolVersion::V5 => reason_code,
        };
        self.incoming.app_ack(token, reason_code);
        self.send_acks_due(now);
    }

    /// Ends the session at once: sends DISCONNECT with `reason_code` (0x00,
    /// or 0x04 to have the server publish the will; always 0x00 in 3.1.1)
    /// when connected or connecting, fails every pending command with
    /// [`CommandError::Closed`], and refuses new ones.
    ///
    /// # Errors
    ///
    /// [`CommandError::Closed`] if the session was already closed (or is
    /// closing by [`disconnect_when_idle`](Self::disconnect_when_idle));
    /// [`CommandError::Encode`] if the DISCONNECT cannot be encoded.
    ///
    /// To let in-flight publishes finish first, use
    /// [`disconnect_when_idle`](Self::disconnect_when_idle).
    pub fn disconnect(
        &mut self,
        now: Instant,
        reason_code: ReasonCode,
        properties: DisconnectProperties,
    ) -> Result<(), CommandError> {
        let now = self.tick(now);
        if self.closed {
            return Err(CommandError::Closed);
        }
        self.closed = true;
        self.close_now(now, reason_code, properties)
    }

    /// Ends the session gracefully: refuses new commands from now on (with
    /// [`CommandError::Closed`]), lets the publishes, subscription requests
    /// and re-authentication already accepted finish, and sends DISCONNECT
    /// with `reason_code` as soon as the session [`is_idle`](Self::is_idle)
    /// (which may be at once) or when `timeout` has passed, whichever comes
    /// first; [`poll_timeout`](Self::poll_timeout) reports that deadline.
    /// From then on it is [`disconnect`](Self::disconnect): what is left
    /// fails with [`CommandError::Closed`] and
    /// [`wants_close`](Self::wants_close) turns true.
    ///
    /// While not connected it closes at once. If the connection is lost
    /// before the session is idle, the session closes then (what is left
    /// fails with [`CommandError::Closed`]); it does not reconnect.
    ///
    /// # Errors
    ///
    /// As [`disconnect`](Self::disconnect).
    pub fn disconnect_when_idle(
        &mut self,
        now: Instant,
        reason_code: ReasonCode,
        timeout: Duration,
    ) -> Result<(), CommandError> {
        let now = self.tick(now);
        if self.closed {
            return Err(CommandError::Closed);
        }
        self.closed = true;
        if self.state != ConnectionState::Connected {
            return self.close_now(now, reason_code, DisconnectProperties::default());
        }
        self.draining = Some(reason_code);
        self.timers
            .set(timers::Timer::Disconnect, timers::deadline(now, timeout));
        self.finish_draining(now)
    }

    /// A graceful disconnect waits for idleness: close now if it came.
    pub(crate) fn finish_draining(&mut self, now: Instant) -> Result<(), CommandError> {
        if self.draining.is_some() && self.is_idle() {
            return self.close_draining(now);
        }
        Ok(())
    }

    /// Closes a graceful disconnect now, idle or not.
    fn close_draining(&mut self, now: Instant) -> Result<(), CommandError> {
        match self.draining.take() {
            Some(reason_code) => self.close_now(now, reason_code, DisconnectProperties::default()),
            None => Ok(()),
        }
    }

    /// Sends DISCONNECT (when connected or connecting), ends the
    /// connection, and fails what is left with [`CommandError::Closed`].
    fn close_now(
        &mut self,
        now: Instant,
        reason_code: ReasonCode,
        properties: DisconnectProperties,
    ) -> Result<(), CommandError> {
        self.draining = None;
        self.timers.stop(timers::Timer::Disconnect);
        if self.state == ConnectionState::Connected || self.state == ConnectionState::Connecting {
            let (reason_code, properties) = self.fit_disconnect(reason_code, properties);
            if let Err(e) = self.try_send_packet(
                now,
                &Packet::Disconnect(Disconnect {
                    reason_code,
                    properties,
                }),
            ) {
                return Err(CommandError::Encode(e));
            }
            self.end_connection(DisconnectInfo {
                initiator: Initiator::Local,
                reason_code: Some(reason_code),
                properties: DisconnectProperties::default(),
                error: None,
                session_kept: self.config.session_kept(),
            });
        }
        self.fail_all(CommandError::Closed);
        Ok(())
    }

    /// The reason code and properties our DISCONNECT may carry.
    fn fit_disconnect(
        &self,
        reason_code: ReasonCode,
        mut properties: DisconnectProperties,
    ) -> (ReasonCode, DisconnectProperties) {
        if self.version() == ProtocolVersion::V311 {
            return (ReasonCode::SUCCESS, DisconnectProperties::default());
        }
        // The sender MUST NOT send this Property [Reason String, User
        // Property] if it would increase the size of the DISCONNECT packet
        // beyond the Maximum Packet Size specified by the receiver
        // [MQTT-3.14.2-3], [MQTT-3.14.2-4].
        let too_large = Packet::Disconnect(Disconnect {
            reason_code,
            properties: properties.clone(),
        })
        .encoded_len(ProtocolVersion::V5)
        .map_or(true, |n| n > self.max_send());
        if too_large {
            properties.reason_string = None;
            properties.user_properties.clear();
        }
        (reason_code, properties)
    }

    /// Starts a re-authentication (v5, with an authenticator configured).
    /// Completes with [`Event::ReauthDone`].
    pub fn reauthenticate(&mut self, now: Instant) -> Result<RequestId, CommandError> {
        let now = self.tick(now);
        if self.closed {
            return Err(CommandError::Closed);
        }
        if self.version() == ProtocolVersion::V311 {
            return Err(CommandError::NeedsV5("re-authentication"));
        }
        if self.reauth.is_some() {
            return Err(CommandError::AuthInProgress);
        }
        let Some(auth) = self.config.authenticator.as_mut() else {
            return Err(CommandError::NoAuthMethod);
        };
        if self.state != ConnectionState::Connected {
            return Err(CommandError::Invalid(
                "re-authentication needs a connection",
            ));
        }
        let data = auth.initial_data();
        let req = self.next_request();
        self.reauth = Some(req);
        // If the Client supplied an Authentication Method in the CONNECT
        // packet it can initiate a re-authentication at any time after
        // receiving a CONNACK. It does this by sending an AUTH packet with a
        // Reason Code of 0x19 (Re-authentication) [MQTT-4.12.1-1].
        self.send_auth(now, ReasonCode::REAUTHENTICATE, data);
        Ok(req)
    }

    /// Records `now`, never letting time run backwards.
    fn tick(&mut self, now: Instant) -> Instant {
        let now = match self.now {
            Some(seen) if seen > now => seen,
            _ => now,
        };
        self.now = Some(now);
        now
    }
}
