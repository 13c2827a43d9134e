//! The connection task: one per client. It opens byte streams through the
//! [`Connector`], moves bytes between them and the session engine, maps
//! commands onto the engine, delivers its events, and reconnects under
//! the reconnect policy. It is not a second state machine: the engine owns
//! every protocol decision and every protocol deadline.
//!
//! The connection itself is polled by hand ([`super::io`]), the way
//! quinn's `ConnectionDriver` is: after every step the driver writes
//! whatever the engine holds before it waits, so nothing the engine
//! produced while handling an event sits unsent until the next wake-up.

use super::cluster::Servers;
use super::inbox::Inbox;
use super::metrics::Metrics;
use super::options::{ConnectOptions, OfflinePolicy, ReconnectOptions};
use super::publisher::PublishReply;
use super::reconnect::{Backoff, End};
use super::router::{Router, UNMATCHED};
use super::slots::QueueSlots;
use super::{ConnectionEvent, ConnectionStatus};
use crate::codec::{ReasonCode, SubscribeProperties, SubscriptionOptions};
use crate::session::{
    AckToken, ActiveSubscription, PublishCommand, RequestId, Session, SubscribeResult,
};
use crate::topic::TopicFilter;
use crate::Error;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tracing::Instrument;

/// What a subscribe command gets back: the route id, the broker's answer
/// per filter, and the route's buffer.
pub(crate) type SubscribeReply = (u64, Vec<SubscribeResult>, Arc<Inbox>);

/// What a handle asks of the connection task.
pub(crate) enum Command {
    /// One publish, holding one slot of the publish queue that the handle
    /// took and forgot (see [`QueueSlots`]). Inline, not boxed: a box
    /// was an allocation per publish, made by the caller's thread and
    /// freed by the connection's. That makes this the largest variant
    /// (104 bytes), and the channel's first block holds 32 of them on
    /// every connection, idle or not.
    Publish {
        cmd: PublishCommand,
        reply: PublishReply,
    },
    /// A [`Client::publish_batch`](super::Client::publish_batch): the
    /// messages in order and the one reply, holding one forgotten slot
    /// per message.
    PublishBatch {
        messages: Vec<PublishCommand>,
        reply: oneshot::Sender<super::batch::BatchOutcomes>,
    },
    Subscribe {
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
        reply: oneshot::Sender<Result<SubscribeReply, Error>>,
    },
    Unsubscribe {
        filters: Vec<TopicFilter>,
        reply: oneshot::Sender<Result<Vec<ReasonCode>, Error>>,
    },
    DropSubscription {
        id: u64,
    },
    Unmatched {
        reply: oneshot::Sender<Arc<Inbox>>,
    },
    /// A `Client::messages` stream.
    Tap {
        id: u64,
        inbox: Arc<Inbox>,
    },
    Ack {
        token: AckToken,
        reason_code: ReasonCode,
    },
    /// A full buffer has room again.
    Room {
        route: u64,
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

/// Settings the driver applies itself.
#[derive(Debug, Clone)]
pub(crate) struct DriverSettings {
    pub offline_queue: usize,
    pub offline_policy: OfflinePolicy,
    pub disconnect_timeout: Duration,
    pub subscription_budget: usize,
    pub manual_acks: bool,
    pub subscription_identifiers: bool,
    pub version_fallback: bool,
}

/// A publish the engine has, and the reply its caller waits for.
pub(crate) struct PendingPublish {
    pub reply: PublishReply,
    /// Held until completion (or until a completion stream reads the
    /// outcome): the publish queue's bound. None for a message of a batch,
    /// whose slots the batch holds.
    pub permit: Option<QueueSlots>,
    pub qos: crate::codec::QoS,
    pub started: Instant,
}

/// Replies owed to handles, by the engine's request id.
#[derive(Default)]
pub(crate) struct Pending {
    pub publishes: super::pending::PendingPublishes,
    pub subscribes: HashMap<RequestId, (u64, oneshot::Sender<Result<SubscribeReply, Error>>)>,
    pub unsubscribes: HashMap<RequestId, oneshot::Sender<Result<Vec<ReasonCode>, Error>>>,
    pub reauths: HashMap<RequestId, oneshot::Sender<Result<(), Error>>>,
    pub disconnects: Vec<oneshot::Sender<Result<(), Error>>>,
    pub abort: Option<oneshot::Sender<()>>,
}

/// What happened on the current connection, for the reconnect policy.
#[derive(Debug, Default)]
pub(crate) struct ConnectionFacts {
    pub accepted_at: Option<Instant>,
    /// The broker's reason code: a refusing CONNACK or a DISCONNECT.
    pub server_reason: Option<ReasonCode>,
    /// The broker's Server Reference (CONNACK or DISCONNECT), v5.
    pub server_reference: Option<String>,
}

/// The time: the current step's while the connection loop runs one (it
/// reads the clock once per step, not once per packet: see
/// [`super::io`]), else the clock's.
pub(crate) fn now() -> Instant {
    super::io::step_time().unwrap_or_else(|| tokio::time::Instant::now().into_std())
}

pub(crate) struct Driver {
    pub(super) session: Session,
    pub(super) settings: DriverSettings,
    /// Where each attempt goes: the cluster's servers, and a followed
    /// Server Reference.
    pub(super) servers: Servers,
    /// The server of the current (or last) connection.
    pub(super) server: String,
    pub(super) reconnect: ReconnectOptions,
    pub(super) backoff: Backoff,
    pub(super) rx: mpsc::UnboundedReceiver<Command>,
    /// The publish queue's slots, which queued publishes hold as
    /// [`QueueSlots`]; closed when the driver goes, so that no handle
    /// waits for a slot a dropped command never gives back.
    pub(super) publish_slots: Arc<Semaphore>,
    pub(super) commands: mpsc::WeakUnboundedSender<Command>,
    pub(super) events: broadcast::Sender<ConnectionEvent>,
    pub(super) status: watch::Sender<ConnectionStatus>,
    pub(super) router: Router,
    pub(super) next_route: u64,
    pub(super) pending: Pending,
    /// QoS 0 publishes encoded and not yet taken by the transport.
    pub(super) awaiting_write: super::written::AwaitingWrite,
    /// Acks owed for messages that several routes hold back: how many
    /// routes still hold each.
    pub(super) ack_waits: HashMap<AckToken, usize, foldhash::fast::RandomState>,
    pub(super) ready: Option<oneshot::Sender<Result<bool, Error>>>,
    pub(super) connected_once: bool,
    /// Every `Client` handle is gone: leave, and never reconnect.
    pub(super) handles_gone: bool,
    pub(super) last_error: Option<Error>,
    pub(super) facts: ConnectionFacts,
    /// Why the client stopped for good, for what is still pending.
    pub(super) final_error: Option<Error>,
    pub(super) metrics: Metrics,
    /// The session store's thread, with [`ConnectOptions::persist_to`].
    pub(super) store: Option<super::durable::StoreWriter>,
}

impl Driver {
    pub fn new(
        mut options: ConnectOptions,
        rx: mpsc::UnboundedReceiver<Command>,
        publish_slots: Arc<Semaphore>,
        commands: mpsc::WeakUnboundedSender<Command>,
        events: broadcast::Sender<ConnectionEvent>,
        status: watch::Sender<ConnectionStatus>,
        store: Option<(super::durable::StoreWriter, crate::store::StoredSession)>,
    ) -> Self {
        let servers = options.make_servers();
        let server = servers.describe();
        let settings = options.driver_settings();
        let metrics = Metrics::new(&options.session.client_id);
        let unmatched = Inbox::new(
            UNMATCHED,
            settings.subscription_budget,
            commands.clone(),
            metrics.buffered.clone(),
        );
        let (store, stored) = store.unzip();
        let (session, restored) = Self::new_session(&mut options, stored);
        let mut driver = Driver {
            session,
            settings,
            servers,
            server,
            backoff: Backoff::new(options.reconnect.clone()),
            reconnect: options.reconnect,
            rx,
            publish_slots,
            commands,
            events,
            status,
            router: Router::new(unmatched),
            next_route: UNMATCHED,
            pending: Pending::default(),
            awaiting_write: Default::default(),
            ack_waits: HashMap::default(),
            ready: None,
            connected_once: false,
            handles_gone: false,
            last_error: None,
            facts: ConnectionFacts::default(),
            final_error: None,
            metrics,
            store,
        };
        if let Some(subscriptions) = restored {
            driver.add_dormant_routes(subscriptions);
        }
        driver
    }

    /// The engine, resumed from what a store kept (with the subscriptions
    /// it held) or new.
    fn new_session(
        options: &mut ConnectOptions,
        stored: Option<crate::store::StoredSession>,
    ) -> (Session, Option<Vec<(TopicFilter, ActiveSubscription)>>) {
        let mut session_config = options.session_config();
        // The driver acknowledges each message itself once its buffer has
        // taken it (or the application acked it), so the engine always
        // hands out ack tokens.
        session_config.manual_acks = true;
        let mut session = Session::new(session_config);
        let restored = stored.map(|stored| {
            session.set_persistent();
            let subscriptions = stored.subscriptions.clone();
            session.restore(stored, now(), std::time::SystemTime::now());
            subscriptions
        });
        (session, restored)
    }

    /// The broker's host (without the port), for TLS error messages.
    #[cfg(feature = "tls")]
    pub(super) fn broker_host(&self) -> String {
        let name = self.server.clone();
        match name.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            _ => name,
        }
    }

    pub(super) fn emit(&self, event: ConnectionEvent) {
        tracing::info!(%event, "connection event");
        let _ = self.events.send(event);
    }

    pub(super) fn set_status(&self, status: ConnectionStatus) {
        self.status.send_replace(status);
    }

    /// The connection task's future. Not an `async fn`: one would keep
    /// both its `self` argument and the local it moves into in its state
    /// (rust-lang/rust#62958), twice the driver's 2.7 KiB per connection;
    /// an `async move` block uses the captured driver in place.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub fn run(
        mut self,
        ready: oneshot::Sender<Result<bool, Error>>,
    ) -> impl std::future::Future<Output = ()> {
        async move {
            let span = tracing::info_span!("mqtt", client_id = %self.session.client_id(), broker = %self.server);
            self.ready = Some(ready);
            self.run_inner().instrument(span).await;
        }
    }

    async fn run_inner(&mut self) {
        loop {
            let end = self.connect_once().await;
            if self.is_done() {
                break;
            }
            if self.falls_back(end) {
                continue;
            }
            if !self.connected_once && !self.reconnect.retry_first_connect {
                // The first connection never came up: report why and stop.
                self.final_error = Some(self.last_error.take().unwrap_or(Error::Closed));
                break;
            }
            if self.connected_once && !self.reconnect.enabled {
                break;
            }
            let Some(delay) = self.decide(end).await else {
                break;
            };
            if !self.wait_offline(delay).await {
                break;
            }
        }
        self.shut_down().await;
    }

    /// True once the client closed for good (disconnect, abort, every
    /// handle gone).
    pub(super) fn is_done(&self) -> bool {
        self.session.is_closed()
            || self.handles_gone
            || self.pending.abort.is_some()
            || self.store_failed()
    }

    /// One connection attempt, and the connection if it came up.
    async fn connect_once(&mut self) -> End {
        self.facts = ConnectionFacts::default();
        let Some(connector) = self.servers.current() else {
            return End::Unreachable;
        };
        self.server = connector.describe();
        let timeout = self.session.config().connect_timeout;
        let attempt = async move {
            match tokio::time::timeout(timeout, connector.connect()).await {
                Ok(r) => r,
                Err(_) => Err(Error::ConnectTimeout),
            }
        };
        let stream = match self.while_offline(attempt).await {
            Some(Ok(stream)) => stream,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "connecting failed");
                self.last_error = Some(e);
                return End::Unreachable;
            }
            None => return End::Unreachable,
        };
        self.run_connection(stream).await;
        self.connection_end()
    }

    /// How the connection that just ended ended, for the policy.
    fn connection_end(&self) -> End {
        match (self.facts.accepted_at, self.facts.server_reason) {
            (Some(at), reason_code) => End::Lost {
                up: now().saturating_duration_since(at),
                reason_code,
            },
            (None, Some(code)) => End::Refused(code),
            (None, None) => End::Unreachable,
        }
    }

    /// Runs `fut` while taking commands (publishes queue up offline). None
    /// when the client closed meanwhile.
    pub(super) async fn while_offline<F: std::future::Future>(
        &mut self,
        fut: F,
    ) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            let done = std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready(out) = fut.as_mut().poll(cx) {
                    return std::task::Poll::Ready(Some(out));
                }
                let stored = self.poll_store(cx);
                match self.rx.poll_recv(cx) {
                    std::task::Poll::Ready(Some(c)) => self.handle_command(c),
                    std::task::Poll::Ready(None) => {
                        self.handles_gone = true;
                        self.all_handles_gone();
                    }
                    std::task::Poll::Pending if stored => {}
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                }
                std::task::Poll::Ready(None)
            })
            .await;
            if let Some(out) = done {
                return Some(out);
            }
            self.dispatch_events();
            self.submit_store_ops();
            self.metrics.queued.set(self.session.queued() as f64);
            if self.is_done() {
                return None;
            }
        }
    }

    /// Waits out a reconnect delay while still taking commands. False when
    /// the client closed meanwhile.
    async fn wait_offline(&mut self, delay: Duration) -> bool {
        self.while_offline(tokio::time::sleep(delay))
            .await
            .is_some()
    }

    /// Ends for good: fails what is pending, ends every stream and answers
    /// a disconnect.
    async fn shut_down(&mut self) {
        // Why the client stopped goes to what is pending first; the engine's
        // own `Closed` completions then find no reply left to take.
        let error = self.final_error.take().unwrap_or(Error::Closed);
        self.fail_pending(&error);
        if !self.session.is_closed() {
            let _ = self.session.disconnect(
                now(),
                ReasonCode::NORMAL_DISCONNECTION,
                Default::default(),
            );
        }
        self.dispatch_events();
        // Another client may open the store once this one returns.
        self.close_store().await;
        if let Some(r) = self.ready.take() {
            let _ = r.send(Err(error));
        }
        self.router.close_all();
        self.set_status(ConnectionStatus::Closed);
        self.emit(ConnectionEvent::Closed);
        for r in self.pending.disconnects.drain(..) {
            let _ = r.send(Ok(()));
        }
        if let Some(r) = self.pending.abort.take() {
            let _ = r.send(());
        }
    }

    /// Every reply still owed gets `error`.
    fn fail_pending(&mut self, error: &Error) {
        let p = &mut self.pending;
        for publish in p.publishes.drain() {
            publish.reply.send(Err(error.duplicate()), publish.permit);
        }
        for (_, (_, reply)) in p.subscribes.drain() {
            let _ = reply.send(Err(error.duplicate()));
        }
        for (_, reply) in p.unsubscribes.drain() {
            let _ = reply.send(Err(error.duplicate()));
        }
        for (_, reply) in p.reauths.drain() {
            let _ = reply.send(Err(error.duplicate()));
        }
    }
}

/// Commands still on the channel when the driver goes are dropped with
/// the slots their handles forgot: closing the queue fails every waiting
/// and later publish with [`Error::Closed`] instead of leaving it waiting.
impl Drop for Driver {
    fn drop(&mut self) {
        self.publish_slots.close();
    }
}
