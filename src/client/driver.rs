//! The connection task: one per client. It moves bytes between the socket
//! and the session engine, turns engine events into replies and stream
//! items, sleeps until the engine's next deadline, and reconnects.

use super::options::{ConnectOptions, ReconnectOptions};
use super::reconnect::Jitter;
use super::router::{Route, Router};
use super::{AckHandle, ConnectionEvent, Message, PublishOutcome};
use crate::codec::{
    MqttString, ProtocolVersion, ReasonCode, SubscribeProperties, SubscriptionOptions,
    UnsubscribeProperties,
};
use crate::session::{
    AckToken, CommandError, DisconnectInfo, Event, Initiator, PublishCommand, RequestId, Session,
    SubscribeResult,
};
use crate::topic::TopicFilter;
use crate::transport::{connect_tcp, Stream};
use crate::Error;
use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, OwnedSemaphorePermit};
use tracing::Instrument;

/// What a handle asks of the connection task.
pub(crate) enum Command {
    Publish {
        cmd: PublishCommand,
        reply: oneshot::Sender<Result<PublishOutcome, Error>>,
        permit: OwnedSemaphorePermit,
    },
    Subscribe {
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
        messages: mpsc::Sender<Message>,
        reply: oneshot::Sender<Result<(u64, Vec<SubscribeResult>), Error>>,
    },
    Unsubscribe {
        filters: Vec<TopicFilter>,
        reply: oneshot::Sender<Result<Vec<ReasonCode>, Error>>,
    },
    DropSubscription {
        id: u64,
    },
    CatchAll {
        reply: oneshot::Sender<mpsc::Receiver<Message>>,
    },
    Ack {
        token: AckToken,
        reason_code: ReasonCode,
    },
    Reauth {
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Disconnect {
        reason_code: ReasonCode,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Abort {
        reply: oneshot::Sender<()>,
    },
}

struct PendingSub {
    route: u64,
    reply: oneshot::Sender<Result<(u64, Vec<SubscribeResult>), Error>>,
}

struct Disconnecting {
    deadline: Instant,
    reason_code: ReasonCode,
    reply: oneshot::Sender<Result<(), Error>>,
}

/// Why a write did not finish.
enum WriteEnd {
    /// The transport failed.
    Io(std::io::Error),
    /// The peer closed the connection.
    Eof,
    /// The engine ended the connection while the write was pending.
    Abandoned,
}

/// How one connection ended.
enum Ended {
    /// Lost or refused; reconnect may follow.
    Lost,
    /// The client is closed for good.
    Closed,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Commands taken per wake-up before writing.
const COMMAND_BATCH: usize = 256;

/// Read buffer headroom of a new connection: small, so that an idle
/// connection stays cheap (it was 16 KiB of the ~37 KiB heap per idle
/// connection).
const READ_RESERVE_MIN: usize = 2 * 1024;
/// Read buffer headroom after reads that filled half of it (doubling from
/// [`READ_RESERVE_MIN`]): enough for many small packets per read.
const READ_RESERVE_MAX: usize = 16 * 1024;

pub(crate) struct Driver {
    session: Session,
    host: String,
    port: u16,
    secure: bool,
    #[cfg(feature = "tls")]
    tls: crate::transport::TlsOptions,
    reconnect: ReconnectOptions,
    offline_queue: usize,
    disconnect_timeout: Duration,
    rx: mpsc::UnboundedReceiver<Command>,
    self_tx: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<ConnectionEvent>,
    router: Router,
    next_route: u64,
    publishes: HashMap<
        RequestId,
        (
            oneshot::Sender<Result<PublishOutcome, Error>>,
            OwnedSemaphorePermit,
        ),
    >,
    subscribes: HashMap<RequestId, PendingSub>,
    internal: HashSet<RequestId>,
    unsubscribes: HashMap<RequestId, oneshot::Sender<Result<Vec<ReasonCode>, Error>>>,
    reauths: HashMap<RequestId, oneshot::Sender<Result<(), Error>>>,
    disconnecting: Option<Disconnecting>,
    disconnect_reply: Option<oneshot::Sender<Result<(), Error>>>,
    abort_reply: Option<oneshot::Sender<()>>,
    deliveries: VecDeque<(mpsc::Sender<Message>, Message)>,
    ready: Option<oneshot::Sender<Result<(), Error>>>,
    connected_once: bool,
    /// Connections the broker accepted (CONNACK with success), all told.
    accepted: u64,
    last_error: Option<Error>,
    jitter: Jitter,
    /// Whether to make the unmatched-message stream on the first unmatched
    /// message (until the application asks for it itself).
    catch_all_auto: bool,
    /// That stream's receiving end, until `Client::unmatched` takes it.
    parked_catch_all: Option<mpsc::Receiver<Message>>,
    /// Buffer size of subscription streams.
    subscription_buffer: usize,
    /// Current read buffer headroom, from [`READ_RESERVE_MIN`] up to
    /// [`READ_RESERVE_MAX`].
    read_reserve: usize,
}

impl Driver {
    pub fn new(
        options: ConnectOptions,
        rx: mpsc::UnboundedReceiver<Command>,
        self_tx: mpsc::UnboundedSender<Command>,
        events: broadcast::Sender<ConnectionEvent>,
    ) -> Self {
        let subscription_buffer = options.subscription_buffer;
        Driver {
            // This driver still re-subscribes from its own copy (resubscribe).
            session: Session::new(crate::session::SessionConfig {
                restore_subscriptions: false,
                ..options.session
            }),
            host: options.host,
            port: options.port,
            secure: options.secure,
            #[cfg(feature = "tls")]
            tls: options.tls,
            reconnect: options.reconnect,
            offline_queue: options.offline_queue,
            disconnect_timeout: options.disconnect_timeout,
            rx,
            self_tx,
            events,
            router: Router::default(),
            next_route: 0,
            publishes: HashMap::new(),
            subscribes: HashMap::new(),
            internal: HashSet::new(),
            unsubscribes: HashMap::new(),
            reauths: HashMap::new(),
            disconnecting: None,
            disconnect_reply: None,
            abort_reply: None,
            deliveries: VecDeque::new(),
            ready: None,
            connected_once: false,
            accepted: 0,
            last_error: None,
            jitter: Jitter::new(),
            read_reserve: READ_RESERVE_MIN,
            catch_all_auto: true,
            parked_catch_all: None,
            subscription_buffer,
        }
    }

    fn emit(&self, event: ConnectionEvent) {
        tracing::info!(?event, "connection event");
        let _ = self.events.send(event);
    }

    pub async fn run(mut self, ready: oneshot::Sender<Result<(), Error>>) {
        let span = tracing::info_span!("mqtt", client_id = %self.session.client_id(), broker = %format!("{}:{}", self.host, self.port));
        self.ready = Some(ready);
        self.run_inner().instrument(span).await;
    }

    async fn run_inner(&mut self) {
        let mut attempt: u32 = 0;
        loop {
            let accepted_before = self.accepted;
            match self.connect_transport().await {
                Ok(stream) => {
                    let ended = self.run_connection(stream).await;
                    if matches!(ended, Ended::Closed) || self.session.is_closed() {
                        break;
                    }
                    // The broker accepted this connection: the next loss
                    // starts a fresh backoff (and a fresh attempt count).
                    if self.accepted != accepted_before {
                        attempt = 0;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "connecting failed");
                    self.last_error = Some(e);
                }
            }
            if !self.connected_once {
                // The first connection never came up: report why and stop.
                let error = self.last_error.take().unwrap_or(Error::Closed);
                if let Some(r) = self.ready.take() {
                    let _ = r.send(Err(error));
                }
                return;
            }
            if !self.reconnect.enabled {
                break;
            }
            attempt = attempt.saturating_add(1);
            if self.reconnect.max_attempts > 0 && attempt > self.reconnect.max_attempts {
                self.emit(ConnectionEvent::GaveUp {
                    attempts: attempt - 1,
                });
                break;
            }
            let delay =
                self.jitter
                    .delay(attempt, self.reconnect.base_delay, self.reconnect.max_delay);
            self.emit(ConnectionEvent::Reconnecting { attempt, delay });
            if !self.wait_offline(delay).await {
                break;
            }
            if let Some(hook) = &self.reconnect.hook {
                if let Some(c) = hook(attempt) {
                    let cfg = self.session.config_mut();
                    cfg.username = c.username.and_then(|u| MqttString::try_from(u).ok());
                    cfg.password = c.password;
                }
            }
        }
        self.shut_down();
    }

    /// Ends for good: fails what is pending and answers a disconnect.
    fn shut_down(&mut self) {
        if !self.session.is_closed() {
            let _ = self.session.disconnect(
                now(),
                ReasonCode::NORMAL_DISCONNECTION,
                Default::default(),
            );
        }
        self.dispatch_events();
        self.emit(ConnectionEvent::Closed);
        if let Some(r) = self.disconnect_reply.take() {
            let _ = r.send(Ok(()));
        }
        if let Some(r) = self.abort_reply.take() {
            let _ = r.send(());
        }
    }

    async fn connect_transport(&mut self) -> Result<Stream, Error> {
        let timeout = self.session.config().connect_timeout;
        let host = self.host.clone();
        let port = self.port;
        let secure = self.secure;
        #[cfg(feature = "tls")]
        let tls = self.tls.clone();
        let connect = async move {
            let tcp = connect_tcp(&host, port).await?;
            if !secure {
                return Ok(Stream::Tcp(tcp));
            }
            #[cfg(feature = "tls")]
            {
                let s = crate::transport::connect_tls(tcp, &host, &tls).await?;
                Ok(Stream::Tls(Box::new(s)))
            }
            #[cfg(not(feature = "tls"))]
            {
                drop(tcp);
                Err(Error::TlsNotEnabled)
            }
        };
        tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| Error::ConnectTimeout)?
    }

    /// Waits out a reconnect delay while still taking commands. False when
    /// the client closed meanwhile.
    async fn wait_offline(&mut self, delay: Duration) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                cmd = self.rx.recv() => match cmd {
                    Some(c) => self.handle_command(c),
                    None => return false,
                },
            }
            if let Some(d) = self.disconnecting.take() {
                self.disconnect_reply = Some(d.reply);
                let _ = self
                    .session
                    .disconnect(now(), d.reason_code, Default::default());
            }
            self.dispatch_events();
            if self.session.is_closed() {
                return false;
            }
        }
    }

    fn describe(error: &std::io::Error, host: &str) -> Error {
        #[cfg(feature = "tls")]
        if let Some(t) = crate::transport::TlsError::from_io(error, host) {
            return Error::Tls(t);
        }
        let _ = host;
        Error::Io(std::io::Error::new(error.kind(), error.to_string()))
    }

    async fn run_connection(&mut self, mut stream: Stream) -> Ended {
        if self.session.handle_transport_open(now()).is_err() {
            return Ended::Closed;
        }
        // One timer for the connection, moved only when the deadline moves
        // (registering a fresh one on every pass of the loop costs CPU on
        // every message).
        let sleep = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(sleep);
        let mut armed: Option<tokio::time::Instant> = None;
        loop {
            while let Some(bytes) = self.session.poll_transmit() {
                match self.write_out(&mut stream, &bytes).await {
                    Ok(()) => {}
                    Err(end) => {
                        match end {
                            WriteEnd::Io(e) => {
                                self.last_error = Some(Self::describe(&e, &self.host))
                            }
                            WriteEnd::Eof => {
                                self.last_error =
                                    Some(Error::ConnectionClosed { reason_code: None })
                            }
                            WriteEnd::Abandoned => {}
                        }
                        self.session.handle_transport_closed(now());
                        self.dispatch_events();
                        return if self.session.is_closed() {
                            Ended::Closed
                        } else {
                            Ended::Lost
                        };
                    }
                }
            }
            self.dispatch_events();
            if let Some(reply) = self.abort_reply.take() {
                drop(stream);
                self.session.handle_transport_closed(now());
                self.abort_reply = Some(reply);
                return Ended::Closed;
            }
            if self.session.wants_close() {
                // Bounded: a peer that stopped reading must not hold us here.
                let _ = tokio::time::timeout(self.disconnect_timeout, stream.shutdown()).await;
                self.session.handle_transport_closed(now());
                self.dispatch_events();
                return if self.session.is_closed() {
                    Ended::Closed
                } else {
                    Ended::Lost
                };
            }
            if let Some(d) = &self.disconnecting {
                if self.session.is_idle() || now() >= d.deadline {
                    if let Some(d) = self.disconnecting.take() {
                        self.disconnect_reply = Some(d.reply);
                        let _ = self
                            .session
                            .disconnect(now(), d.reason_code, Default::default());
                    }
                    continue;
                }
            }
            // While a subscription is full we stop reading; the engine must
            // not take an unread PINGRESP for a dead connection meanwhile.
            self.session
                .set_reading_paused(now(), !self.deliveries.is_empty());
            let mut deadline = self.session.poll_timeout();
            if let Some(d) = &self.disconnecting {
                deadline = Some(deadline.map_or(d.deadline, |t| t.min(d.deadline)));
            }
            let sleep_until = deadline.map(tokio::time::Instant::from_std);
            if let Some(t) = sleep_until {
                if armed != Some(t) {
                    sleep.as_mut().reset(t);
                    armed = Some(t);
                }
            }
            let front = self.deliveries.front().map(|(tx, _)| tx.clone());
            let reserve = self.read_reserve;
            let recv = self.session.recv_buffer();
            if recv.capacity() - recv.len() < reserve / 4 {
                recv.reserve(reserve);
            }
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(c) => {
                        self.handle_command(c);
                        // Take what else is waiting, so one write carries it all.
                        for _ in 0..COMMAND_BATCH {
                            match self.rx.try_recv() {
                                Ok(c) => self.handle_command(c),
                                Err(_) => break,
                            }
                        }
                    }
                    // Every handle is gone: leave politely.
                    None => {
                        let (reply, _) = oneshot::channel();
                        self.disconnecting = Some(Disconnecting { deadline: now() + self.disconnect_timeout, reason_code: ReasonCode::NORMAL_DISCONNECTION, reply });
                    }
                },
                permit = async { match front { Some(tx) => tx.reserve_owned().await.ok(), None => std::future::pending().await } }, if !self.deliveries.is_empty() => {
                    if let Some(permit) = permit {
                        if let Some((_, msg)) = self.deliveries.pop_front() {
                            permit.send(msg);
                        }
                    } else {
                        // The subscription is gone: drop what was for it.
                        self.deliveries.pop_front();
                    }
                    self.flush_deliveries();
                },
                read = stream.read_buf(self.session.recv_buffer()), if self.deliveries.is_empty() => match read {
                    Ok(0) => {
                        self.last_error = Some(Error::ConnectionClosed { reason_code: None });
                        self.session.handle_transport_closed(now());
                        self.dispatch_events();
                        return Ended::Lost;
                    }
                    Ok(n) => {
                        self.grow_read_reserve(n);
                        self.session.handle_received(now());
                    }
                    Err(e) => {
                        self.last_error = Some(Self::describe(&e, &self.host));
                        self.session.handle_transport_closed(now());
                        self.dispatch_events();
                        return Ended::Lost;
                    }
                },
                _ = &mut sleep, if sleep_until.is_some() => {
                    armed = None;
                    self.session.handle_timeout(now());
                }
            }
        }
    }

    /// Writes `bytes` without stopping the engine: while a peer that has
    /// stopped reading leaves the write pending (the socket buffers are
    /// full), the engine's deadlines still fire (keep alive, then its ping
    /// timeout ends the connection) and what the peer sends is still read.
    /// Once the engine is closing, the rest of the write gets the disconnect
    /// timeout at most; `WriteEnd::Abandoned` when it gave up on the write.
    async fn write_out(&mut self, stream: &mut Stream, bytes: &[u8]) -> Result<(), WriteEnd> {
        let mut rest = bytes;
        // Fast path: the socket takes it all at once (the usual case), with
        // none of the machinery below.
        let first = std::future::poll_fn(|cx| {
            match std::pin::Pin::new(&mut *stream).poll_write(cx, rest) {
                std::task::Poll::Ready(r) => std::task::Poll::Ready(Some(r)),
                std::task::Poll::Pending => std::task::Poll::Ready(None),
            }
        })
        .await;
        match first {
            Some(Ok(0)) => return Err(WriteEnd::Io(std::io::ErrorKind::WriteZero.into())),
            Some(Ok(n)) => rest = rest.get(n..).unwrap_or_default(),
            Some(Err(e)) => return Err(WriteEnd::Io(e)),
            None => {}
        }
        let closing_deadline = tokio::time::Instant::now() + self.disconnect_timeout;
        while !rest.is_empty() {
            let closing = self.session.wants_close();
            let deadline = match self.session.poll_timeout() {
                Some(t) => Some(tokio::time::Instant::from_std(t)),
                None if closing => Some(closing_deadline),
                None => None,
            };
            let reserve = self.read_reserve;
            let recv = self.session.recv_buffer();
            if recv.capacity() - recv.len() < reserve / 4 {
                recv.reserve(reserve);
            }
            let may_read = !closing && self.deliveries.is_empty();
            self.session
                .set_reading_paused(now(), !self.deliveries.is_empty());
            let (mut reader, mut writer) = tokio::io::split(&mut *stream);
            tokio::select! {
                written = writer.write(rest) => match written {
                    Ok(0) => return Err(WriteEnd::Io(std::io::ErrorKind::WriteZero.into())),
                    Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                    Err(e) => return Err(WriteEnd::Io(e)),
                },
                read = reader.read_buf(self.session.recv_buffer()), if may_read => match read {
                    Ok(0) => return Err(WriteEnd::Eof),
                    Ok(n) => {
                        self.grow_read_reserve(n);
                        self.session.handle_received(now());
                        self.dispatch_events();
                    }
                    Err(e) => return Err(WriteEnd::Io(e)),
                },
                _ = async { match deadline { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                    if closing {
                        return Err(WriteEnd::Abandoned);
                    }
                    self.session.handle_timeout(now());
                    if self.session.wants_close() {
                        return Err(WriteEnd::Abandoned);
                    }
                }
            }
        }
        Ok(())
    }

    /// A read of `n` bytes filled half the headroom or more: double it.
    fn grow_read_reserve(&mut self, n: usize) {
        if n >= self.read_reserve / 2 {
            self.read_reserve = (self.read_reserve * 2).min(READ_RESERVE_MAX);
        }
    }

    fn handle_command(&mut self, cmd: Command) {
        let now = now();
        match cmd {
            Command::Publish { cmd, reply, permit } => {
                let connected = self.session.state() == crate::session::ConnectionState::Connected;
                if !connected && self.session.queued() >= self.offline_queue {
                    let _ = reply.send(Err(Error::OfflineQueueFull(self.session.queued())));
                    return;
                }
                match self.session.publish(now, cmd) {
                    Ok(id) => {
                        self.publishes.insert(id, (reply, permit));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Command(e)));
                    }
                }
            }
            Command::Subscribe {
                filters,
                mut properties,
                messages,
                reply,
            } => {
                self.next_route += 1;
                let route = self.next_route;
                // Tag the subscription with an identifier of our own, so
                // that messages route exactly even when filters overlap.
                if self.session.version() == ProtocolVersion::V5
                    && self.session.limits().subscription_identifiers_available
                    && properties.subscription_identifier.is_none()
                {
                    properties.subscription_identifier =
                        u32::try_from(route).ok().and_then(NonZeroU32::new);
                }
                let subscription_id = properties.subscription_identifier;
                match self.session.subscribe(now, filters.clone(), properties) {
                    Ok(id) => {
                        self.router.add(Route {
                            id: route,
                            filters,
                            tx: messages,
                            subscription_id,
                            confirmed: false,
                        });
                        self.subscribes.insert(id, PendingSub { route, reply });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Command(e)));
                    }
                }
            }
            Command::Unsubscribe { filters, reply } => {
                match self
                    .session
                    .unsubscribe(now, filters, UnsubscribeProperties::default())
                {
                    Ok(id) => {
                        self.unsubscribes.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Command(e)));
                    }
                }
            }
            Command::DropSubscription { id: 0 } => self.router.catch_all = None,
            Command::DropSubscription { id } => {
                let unused = self.router.remove(id);
                if !unused.is_empty() && !self.session.is_closed() {
                    if let Ok(req) =
                        self.session
                            .unsubscribe(now, unused, UnsubscribeProperties::default())
                    {
                        self.internal.insert(req);
                    }
                }
            }
            Command::CatchAll { reply } => {
                // Hand over the stream made for early arrivals, if there is
                // one; else a fresh one.
                self.catch_all_auto = false;
                let rx = match self.parked_catch_all.take() {
                    Some(rx) => rx,
                    None => {
                        let (tx, rx) = mpsc::channel(self.subscription_buffer);
                        self.router.catch_all = Some(tx);
                        rx
                    }
                };
                let _ = reply.send(rx);
            }
            Command::Ack { token, reason_code } => self.session.ack_with(now, token, reason_code),
            Command::Reauth { reply } => match self.session.reauthenticate(now) {
                Ok(id) => {
                    self.reauths.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(Error::Command(e)));
                }
            },
            Command::Disconnect { reason_code, reply } => {
                if self.session.is_closed() {
                    let _ = reply.send(Ok(()));
                    return;
                }
                self.disconnecting = Some(Disconnecting {
                    deadline: now + self.disconnect_timeout,
                    reason_code,
                    reply,
                });
            }
            Command::Abort { reply } => self.abort_reply = Some(reply),
        }
    }

    /// Hands waiting messages to their subscriptions without waiting.
    fn flush_deliveries(&mut self) {
        while let Some((tx, msg)) = self.deliveries.pop_front() {
            match tx.try_send(msg) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(msg)) => {
                    self.deliveries.push_front((tx, msg));
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    fn resubscribe(&mut self) {
        let routes = self.router.confirmed();
        if routes.is_empty() {
            return;
        }
        let mut n = 0;
        for (filters, subscription_identifier) in routes {
            n += filters.len();
            let properties = SubscribeProperties {
                subscription_identifier,
                ..Default::default()
            };
            match self.session.subscribe(now(), filters, properties) {
                Ok(id) => {
                    self.internal.insert(id);
                }
                Err(e) => tracing::warn!(error = %e, "resubscribing failed"),
            }
        }
        self.emit(ConnectionEvent::Resubscribed { filters: n });
    }

    fn dispatch_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Connected {
                    session_present, ..
                } => {
                    self.accepted += 1;
                    if self.connected_once {
                        self.emit(ConnectionEvent::Reconnected { session_present });
                    } else {
                        self.connected_once = true;
                        if let Some(r) = self.ready.take() {
                            let _ = r.send(Ok(()));
                        }
                        self.emit(ConnectionEvent::Connected { session_present });
                    }
                    if !session_present {
                        self.resubscribe();
                    }
                }
                Event::SubscriptionsLost { .. }
                | Event::SubscriptionsRestored { .. }
                | Event::MessageDiscarded { .. } => {}
                Event::Message(m) => self.route(m),
                Event::PublishDone { id, result } => {
                    if let Some((reply, _permit)) = self.publishes.remove(&id) {
                        let _ = reply.send(
                            result
                                .map(|acked| PublishOutcome {
                                    reason_code: acked.reason_code,
                                    properties: acked.properties,
                                })
                                .map_err(Error::Command),
                        );
                    }
                }
                Event::SubscribeDone { id, result } => self.subscribe_done(id, result),
                Event::UnsubscribeDone { id, result } => {
                    self.internal.remove(&id);
                    if let Some(reply) = self.unsubscribes.remove(&id) {
                        let _ = reply.send(result.map_err(Error::Command));
                    }
                }
                Event::ReauthDone { id, result } => {
                    if let Some(reply) = self.reauths.remove(&id) {
                        let _ = reply.send(result.map_err(Error::Command));
                    }
                }
                Event::Disconnected(info) => self.disconnected(info),
            }
        }
    }

    fn subscribe_done(
        &mut self,
        id: RequestId,
        result: Result<Vec<SubscribeResult>, CommandError>,
    ) {
        if self.internal.remove(&id) {
            if let Err(e) = result {
                tracing::warn!(error = %e, "resubscribing failed");
            }
            return;
        }
        let Some(pending) = self.subscribes.remove(&id) else {
            return;
        };
        match result {
            Ok(results) => {
                if results.iter().all(Result::is_err) {
                    self.router.remove(pending.route);
                    let reason_code = results
                        .iter()
                        .find_map(|r| r.err())
                        .unwrap_or(ReasonCode::UNSPECIFIED_ERROR);
                    let _ = pending
                        .reply
                        .send(Err(Error::Command(CommandError::Refused {
                            reason_code,
                            properties: Default::default(),
                        })));
                    return;
                }
                self.router.confirm(pending.route, &results);
                let _ = pending.reply.send(Ok((pending.route, results)));
            }
            Err(e) => {
                self.router.remove(pending.route);
                let _ = pending.reply.send(Err(Error::Command(e)));
            }
        }
    }

    fn disconnected(&mut self, info: DisconnectInfo) {
        if !self.connected_once {
            let error = match (&info.initiator, info.reason_code, &info.error) {
                (Initiator::Remote, Some(reason_code), _) => Error::ConnectionRefused {
                    reason_code,
                    reason_string: info
                        .properties
                        .reason_string
                        .as_ref()
                        .map(|s| s.to_string()),
                },
                (_, _, Some(e)) => Error::Protocol(e.clone()),
                _ => self.last_error.take().unwrap_or(Error::ConnectionClosed {
                    reason_code: info.reason_code,
                }),
            };
            self.last_error = Some(error);
            return;
        }
        match (info.initiator, info.reason_code) {
            (Initiator::Remote, Some(reason_code)) => {
                self.emit(ConnectionEvent::DisconnectedByServer {
                    reason_code,
                    reason_string: info
                        .properties
                        .reason_string
                        .as_ref()
                        .map(|s| s.to_string()),
                    server_reference: info
                        .properties
                        .server_reference
                        .as_ref()
                        .map(|s| s.to_string()),
                })
            }
            (Initiator::Local, _) => {}
            _ => {
                let reason = match (&info.error, &self.last_error) {
                    (Some(e), _) => e.to_string(),
                    (None, Some(e)) => e.to_string(),
                    (None, None) => "transport closed".to_owned(),
                };
                self.emit(ConnectionEvent::ConnectionLost { reason });
            }
        }
    }

    fn route(&mut self, m: crate::session::Message) {
        let ack = m.ack.map(|token| AckHandle {
            token,
            tx: self.self_tx.clone(),
        });
        let targets = self
            .router
            .targets(&m.topic, m.properties.subscription_identifiers.as_slice());
        let token = m.ack;
        let msg = Message {
            topic: m.topic,
            payload: m.payload,
            qos: m.qos,
            retain: m.retain,
            dup: m.dup,
            properties: m.properties,
            ack,
        };
        if targets.is_empty() {
            // The catch-all never holds up reading: nobody may be listening.
            // What it cannot take is logged and acknowledged, so it does not
            // hold a slot of our Receive Maximum for ever.
            if self.router.catch_all.is_none() && self.catch_all_auto {
                // The first unmatched message before the application asked
                // for the stream (a resumed session's backlog): make the
                // stream now and keep its receiving end for `unmatched()`.
                // Made lazily, so an idle connection does not pay for it.
                let (tx, rx) = mpsc::channel(self.subscription_buffer);
                self.router.catch_all = Some(tx);
                self.parked_catch_all = Some(rx);
            }
            let refused = match self.router.catch_all.as_ref() {
                Some(c) => c.try_send(msg).err().map(|e| match e {
                    mpsc::error::TrySendError::Full(_) => "the unmatched-message stream is full",
                    mpsc::error::TrySendError::Closed(_) => "no unmatched-message stream is open",
                }),
                None => Some("no unmatched-message stream is open"),
            };
            if let Some(why) = refused {
                if let Some(token) = token {
                    self.session.ack(now(), token);
                }
                tracing::warn!(why, "a message matching no subscription was dropped");
            }
            return;
        }
        let last = targets.len() - 1;
        let mut msg = Some(msg);
        for (i, tx) in targets.into_iter().enumerate() {
            let item = if i == last { msg.take() } else { msg.clone() };
            if let Some(item) = item {
                self.deliveries.push_back((tx, item));
            }
        }
        self.flush_deliveries();
    }
}
