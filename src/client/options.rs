//! `ConnectOptions`: where to connect and how, built from a broker URL.

use crate::codec::{MqttString, ProtocolVersion, StringError, UserProperty, Will};
use crate::session::{Authenticator, SessionConfig, SessionLostPolicy};
use crate::Error;
use bytes::Bytes;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::transport::endpoint::redact_userinfo;
#[cfg(feature = "tls")]
use crate::transport::{ClientCertificate, Password, SecretBytes, TlsOptions, TrustAnchors};
use crate::transport::{Connector, Endpoint, HttpProxy};

/// Credentials a reconnect hook may hand back. Its `Debug` shows the user
/// name but never the password.
///
/// ```
/// use tern_mqtt::Credentials;
///
/// let c = Credentials::new("gateway-7", "s3cret-token");
/// assert!(!format!("{c:?}").contains("s3cret"));
/// ```
#[derive(Clone, Default)]
pub struct Credentials {
    /// The User Name; one that is not a valid MQTT string (NUL, over
    /// 65,535 bytes) is refused: the attempt is not made.
    pub username: Option<String>,
    /// The Password, binary; over 65,535 bytes is refused likewise.
    pub password: Option<Bytes>,
}

impl Credentials {
    /// A user name and a password (a token, for example).
    pub fn new(username: &str, password: impl Into<Bytes>) -> Self {
        Credentials {
            username: Some(username.to_owned()),
            password: Some(password.into()),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the reconnect hook is told about the coming attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectAttempt {
    /// Failures since the last stable connection, from 1.
    pub attempt: u32,
    /// Set when the broker refused the credentials (0x86 Bad User Name or
    /// Password, 0x87 Not authorized, 0x8C Bad authentication method; the
    /// 3.1.1 return codes 4 and 5 map to 0x86 and 0x87): the attempt is
    /// made only if the hook returns new credentials.
    pub refused: Option<crate::codec::ReasonCode>,
}

/// A boxed, sendable future, as the reconnect hook returns.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// Called before each reconnect attempt; its future may resolve to fresh
/// credentials (for example a new short-lived JWT or SAS token fetched
/// over HTTP). The connection task awaits it while it keeps taking
/// commands (publishes queue up as they do offline), for at most the
/// connect timeout: a hook that takes longer counts as one that returned
/// `None`. Make one with [`ReconnectOptions::hook`].
pub type ReconnectHook =
    Arc<dyn Fn(ReconnectAttempt) -> BoxFuture<Option<Credentials>> + Send + Sync>;

/// Automatic reconnection: exponential backoff with equal jitter (each
/// delay is uniform between half the current ceiling and the ceiling,
/// never below 10 ms), the ceiling doubling from `base_delay` up to
/// `max_delay` with each failure.
///
/// - The failure count resets only after a connection stayed up for
///   `stable_after`, so a broker that accepts and drops at once backs the
///   client off like any failure.
/// - 0x8E Session taken over (another client with our id) stops
///   reconnecting with [`ConnectionEvent::SessionTakenOver`](super::ConnectionEvent::SessionTakenOver):
///   two instances with one id must not fight.
/// - 0x86 / 0x87 / 0x8C (credentials refused) retry only when the hook
///   returns new credentials; otherwise the client stops with
///   [`Error::ConnectionRefused`].
/// - 0x8A Banned, 0x85 Client Identifier not valid and 0x84 Unsupported
///   Protocol Version stop at once.
/// - 0x89 Server busy, 0x97 Quota exceeded and 0x9F Connection rate
///   exceeded wait at least `busy_delay`.
/// - 0x9C / 0x9D (use another server) are reported in the event; the
///   client retries the same server (following the reference is not built
///   yet).
#[derive(Clone)]
pub struct ReconnectOptions {
    /// Whether to reconnect after a connection is lost. Default: true.
    pub enabled: bool,
    /// Whether the first connection is retried under this policy too
    /// (`Client::connect` then waits until one succeeds or the policy
    /// stops). Default: false: the first failure is returned at once.
    pub retry_first_connect: bool,
    /// The first backoff ceiling. Default: 100 ms.
    pub base_delay: Duration,
    /// The largest backoff ceiling. Default: 30 s.
    pub max_delay: Duration,
    /// The shortest delay after "come back later" refusals (0x89, 0x97,
    /// 0x9F), capped at `max_delay`. Default: 5 s.
    pub busy_delay: Duration,
    /// How long a connection must stay up before the failure count
    /// resets. Default: 10 s.
    pub stable_after: Duration,
    /// Failures in a row (without a stable connection between) before
    /// giving up with [`Error::ReconnectGaveUp`]; 0 means never. Default: 0.
    pub max_attempts: u32,
    /// Called before each attempt, awaited (see [`ReconnectHook`]); set it
    /// with [`ReconnectOptions::hook`]. Default: none.
    pub hook: Option<ReconnectHook>,
}

impl ReconnectOptions {
    /// Sets the reconnect hook from an async closure.
    ///
    /// ```
    /// use tern_mqtt::{Credentials, ReconnectOptions};
    ///
    /// async fn fetch_token() -> String { "fresh-jwt".to_owned() }
    ///
    /// let reconnect = ReconnectOptions::default().hook(|attempt| async move {
    ///     // After a refusal of the credentials (0x86, 0x87, 0x8C) only new
    ///     // ones make the client try again; otherwise None keeps the old.
    ///     let _ = attempt.refused;
    ///     Some(Credentials::new("gateway-7", fetch_token().await))
    /// });
    /// assert!(reconnect.hook.is_some());
    /// ```
    pub fn hook<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(ReconnectAttempt) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Option<Credentials>> + Send + 'static,
    {
        self.hook = Some(Arc::new(move |attempt| Box::pin(hook(attempt))));
        self
    }
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        ReconnectOptions {
            enabled: true,
            retry_first_connect: false,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            busy_delay: Duration::from_secs(5),
            stable_after: Duration::from_secs(10),
            max_attempts: 0,
            hook: None,
        }
    }
}

/// What `publish` does while the client is disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OfflinePolicy {
    /// Messages queue up to the offline bound
    /// ([`ConnectOptions::offline_queue`]); beyond it `publish` fails at
    /// once with [`Error::OfflineQueueFull`]. The default.
    #[default]
    Fail,
    /// `publish` waits for room in the publish queue
    /// ([`ConnectOptions::publish_queue`]) instead of failing.
    Wait,
}

impl std::fmt::Debug for ReconnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectOptions")
            .field("enabled", &self.enabled)
            .field("retry_first_connect", &self.retry_first_connect)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("busy_delay", &self.busy_delay)
            .field("stable_after", &self.stable_after)
            .field("max_attempts", &self.max_attempts)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// Everything `Client::connect` needs, built from a broker URL with chained
/// setters; each setter states its default.
///
/// ```
/// use std::time::Duration;
/// use tern_mqtt::codec::ProtocolVersion;
/// use tern_mqtt::{ConnectOptions, Error, QoS, Will};
///
/// let opts = ConnectOptions::new("mqtt://broker.local:1884").unwrap()
///     .client_id("gateway-7")
///     .version(ProtocolVersion::V311)
///     .keep_alive(Duration::from_secs(30))
///     .credentials("user", "secret")
///     .will(Will::new("gateways/7/status", "offline", QoS::AtLeastOnce, true).unwrap());
/// assert_eq!(opts.port(), 1884);
/// assert!(opts.validate().is_ok());
/// assert!(ConnectOptions::new("http://x").is_err());
///
/// // Options are Clone: one template, several connections.
/// let second = opts.clone().client_id("gateway-8");
///
/// // A value MQTT cannot carry is refused, never replaced or dropped:
/// // the setter records it and `Client::connect` fails before any I/O.
/// let bad = second.client_id("gate\0way");
/// assert!(matches!(
///     bad.validate(),
///     Err(Error::InvalidOption { option: "client_id", .. })
/// ));
/// ```
///
/// Its `Debug` shows no password, key or authentication data.
pub struct ConnectOptions {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) secure: bool,
    #[cfg(feature = "tls")]
    pub(crate) tls: TlsOptions,
    pub(crate) session: SessionConfig,
    pub(crate) reconnect: ReconnectOptions,
    pub(crate) publish_queue: usize,
    pub(crate) offline_queue: usize,
    pub(crate) offline_policy: OfflinePolicy,
    pub(crate) subscription_budget: usize,
    pub(crate) subscription_identifiers: bool,
    pub(crate) version_fallback: bool,
    pub(crate) disconnect_timeout: Duration,
    pub(crate) connector: Option<Arc<dyn Connector>>,
    /// Further servers of a cluster, after the URL of `new`, in order.
    pub(crate) servers: Vec<String>,
    /// Further servers reached through connectors of the application's,
    /// after `servers`.
    pub(crate) server_connectors: Vec<Arc<dyn Connector>>,
    /// Whether a v5 Server Reference is followed, and how many times in a
    /// row.
    pub(crate) follow_references: bool,
    pub(crate) max_redirects: u32,
    /// The authenticator, shared by clones (see [`ConnectOptions::authenticator`]).
    pub(crate) authenticator: Option<SharedAuthenticator>,
    /// The first value a setter refused, reported by `validate` and `connect`.
    invalid: Option<(&'static str, StringError)>,
    /// Where the URL of `new` points (TCP, TLS, WebSocket, Unix socket).
    pub(crate) endpoint: Endpoint,
    /// Extra headers on the WebSocket upgrade (values are secrets).
    pub(crate) ws_headers: Vec<(String, String)>,
    pub(crate) proxy: Option<HttpProxy>,
    /// The session store's directory, its write policy and recovery.
    pub(crate) persist_dir: Option<std::path::PathBuf>,
    pub(crate) write_policy: crate::store::WritePolicy,
    pub(crate) store_recovery: crate::store::StoreRecovery,
}

/// An [`Authenticator`] that clones of one `ConnectOptions` share.
#[derive(Clone)]
pub(crate) struct SharedAuthenticator {
    method: String,
    inner: Arc<Mutex<Box<dyn Authenticator>>>,
}

impl SharedAuthenticator {
    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Authenticator>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Authenticator for SharedAuthenticator {
    fn method(&self) -> &str {
        &self.method
    }

    fn initial_data(&mut self) -> Option<Bytes> {
        self.lock().initial_data()
    }

    fn respond(&mut self, challenge: Option<&Bytes>) -> Result<Option<Bytes>, String> {
        self.lock().respond(challenge)
    }
}

impl Clone for ConnectOptions {
    fn clone(&self) -> Self {
        ConnectOptions {
            host: self.host.clone(),
            port: self.port,
            secure: self.secure,
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
            session: self.session.clone_without_authenticator(),
            reconnect: self.reconnect.clone(),
            publish_queue: self.publish_queue,
            offline_queue: self.offline_queue,
            offline_policy: self.offline_policy,
            subscription_budget: self.subscription_budget,
            subscription_identifiers: self.subscription_identifiers,
            version_fallback: self.version_fallback,
            disconnect_timeout: self.disconnect_timeout,
            connector: self.connector.clone(),
            servers: self.servers.clone(),
            server_connectors: self.server_connectors.clone(),
            follow_references: self.follow_references,
            max_redirects: self.max_redirects,
            authenticator: self.authenticator.clone(),
            invalid: self.invalid,
            endpoint: self.endpoint.clone(),
            ws_headers: self.ws_headers.clone(),
            proxy: self.proxy.clone(),
            persist_dir: self.persist_dir.clone(),
            write_policy: self.write_policy,
            store_recovery: self.store_recovery,
        }
    }
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ConnectOptions");
        d.field("broker", &self.describe_broker())
            .field(
                "ws_headers",
                &self
                    .ws_headers
                    .iter()
                    .map(|(name, _)| format!("{name}: <redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("session", &self.session)
            .field("reconnect", &self.reconnect)
            .field("publish_queue", &self.publish_queue)
            .field("offline_queue", &self.offline_queue)
            .field("offline_policy", &self.offline_policy)
            .field("subscription_budget", &self.subscription_budget)
            .field("disconnect_timeout", &self.disconnect_timeout)
            .field(
                "authenticator",
                &self.authenticator.as_ref().map(|a| a.method.as_str()),
            )
            .field("invalid", &self.invalid)
            .field("persist_to", &self.persist_dir)
            .field("write_policy", &self.write_policy)
            .field("store_recovery", &self.store_recovery);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.finish_non_exhaustive()
    }
}

/// Makes connectors for the other servers of a cluster and for Server
/// References, with the transport settings of the client's options (TLS,
/// WebSocket headers, proxy).
struct Endpoints {
    /// How a bare `host[:port]` reference is reached: the scheme of the
    /// client's URL, and its WebSocket path.
    scheme: &'static str,
    path: String,
    #[cfg(feature = "tls")]
    tls: TlsOptions,
    ws_headers: Vec<(String, String)>,
    proxy: Option<HttpProxy>,
}

impl Endpoints {
    fn for_url(&self, url: &str) -> Result<Arc<dyn Connector>, Error> {
        Ok(parse_url(url)?.connector(
            #[cfg(feature = "tls")]
            &self.tls,
            &self.ws_headers,
            self.proxy.as_ref(),
        ))
    }

    /// A v5 Server Reference: its first entry (a reference may list
    /// several, separated by spaces), as a URL, or as `host[:port]` with
    /// the scheme (and WebSocket path) of the client's URL.
    fn for_reference(&self, reference: &str) -> Result<Arc<dyn Connector>, Error> {
        let first = reference.split_whitespace().next().unwrap_or_default();
        if first.contains("://") {
            return self.for_url(first);
        }
        self.for_url(&format!("{}://{first}{}", self.scheme, self.path))
    }
}

/// A broker URL into its endpoint (see [`Endpoint`] for the forms).
fn parse_url(url: &str) -> Result<Endpoint, Error> {
    Endpoint::parse(url)
}

fn generated_client_id() -> String {
    // Random enough to avoid clashes between processes: std's RandomState
    // is seeded from the OS.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    format!("tern-{:016x}", h.finish())
}

impl ConnectOptions {
    /// Options for a broker URL, one of:
    ///
    /// - `mqtt://host[:port]`: TCP, default port 1883;
    /// - `mqtts://host[:port]`: TLS, default port 8883;
    /// - `ws://host[:port][/path]`: WebSocket, default port 80, path `/`;
    /// - `wss://host[:port][/path]`: WebSocket over TLS, default port 443,
    ///   path `/` (`wss://broker:443/mqtt`);
    /// - `unix:///path/to/socket`: a Unix domain socket (Unix only).
    ///
    /// IPv6 hosts go in brackets; credentials go in
    /// [`credentials`](Self::credentials), never in the URL. The defaults:
    /// MQTT 5.0, a generated client id, clean start, keep alive 60 s,
    /// connect timeout 30 s, reconnect on, system TLS roots, no proxy.
    pub fn new(url: &str) -> Result<Self, Error> {
        let endpoint = parse_url(url)?;
        let (secure, host, port) = (
            endpoint.is_tls(),
            endpoint.host().to_owned(),
            endpoint.port(),
        );
        let client_id =
            MqttString::try_from(generated_client_id()).map_err(|_| Error::InvalidUrl {
                url: redact_userinfo(url),
                why: "client id",
            })?;
        Ok(ConnectOptions {
            host,
            port,
            secure,
            #[cfg(feature = "tls")]
            tls: TlsOptions::default(),
            session: SessionConfig::new(client_id),
            reconnect: ReconnectOptions::default(),
            publish_queue: 1024,
            offline_queue: 1000,
            offline_policy: OfflinePolicy::Fail,
            subscription_budget: 1024 * 1024,
            subscription_identifiers: true,
            version_fallback: false,
            disconnect_timeout: Duration::from_secs(10),
            connector: None,
            servers: Vec::new(),
            server_connectors: Vec::new(),
            follow_references: false,
            max_redirects: 3,
            authenticator: None,
            invalid: None,
            endpoint,
            ws_headers: Vec::new(),
            proxy: None,
            persist_dir: None,
            write_policy: crate::store::WritePolicy::default(),
            store_recovery: crate::store::StoreRecovery::default(),
        })
    }

    /// Fails with the first value a setter refused
    /// ([`Error::InvalidOption`]); [`Client::connect`](super::Client::connect)
    /// calls it before any I/O.
    pub fn validate(&self) -> Result<(), Error> {
        match self.invalid {
            Some((option, why)) => Err(Error::InvalidOption { option, why }),
            None => Ok(()),
        }
    }

    /// Records the first refused value.
    fn refuse(&mut self, option: &'static str, why: StringError) {
        self.invalid.get_or_insert((option, why));
    }

    /// The session settings the connection task starts from, with the
    /// shared authenticator in place.
    pub(crate) fn session_config(&mut self) -> SessionConfig {
        let mut config = self.session.clone_without_authenticator();
        config.authenticator = match &self.authenticator {
            Some(a) => Some(Box::new(a.clone())),
            None => self.session.authenticator.take(),
        };
        config
    }

    /// The connector in force: the user's, or TCP / TLS from the URL.
    pub(crate) fn make_connector(&self) -> Arc<dyn Connector> {
        if let Some(c) = &self.connector {
            return Arc::clone(c);
        }
        self.endpoint.connector(
            #[cfg(feature = "tls")]
            &self.tls,
            &self.ws_headers,
            self.proxy.as_ref(),
        )
    }

    /// What a connector for another server of the cluster is made from:
    /// the same TLS settings, another URL.
    fn endpoints(&self) -> Endpoints {
        let (scheme, path) = match &self.endpoint {
            Endpoint::Tcp { tls: true, .. } => ("mqtts", String::new()),
            #[cfg(feature = "websocket")]
            Endpoint::WebSocket { tls, path, .. } => {
                (if *tls { "wss" } else { "ws" }, path.clone())
            }
            _ => ("mqtt", String::new()),
        };
        Endpoints {
            scheme,
            path,
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
            ws_headers: self.ws_headers.clone(),
            proxy: self.proxy.clone(),
        }
    }

    /// Every server of the client, in order, and the resolver of Server
    /// References when they are followed.
    pub(crate) fn make_servers(&self) -> super::cluster::Servers {
        let endpoints = self.endpoints();
        let mut list = vec![self.make_connector()];
        // Each URL was parsed when it was added.
        list.extend(
            self.servers
                .iter()
                .filter_map(|u| endpoints.for_url(u).ok()),
        );
        list.extend(self.server_connectors.iter().cloned());
        let resolve: Option<super::cluster::Resolver> = if self.follow_references {
            Some(Arc::new(move |reference: &str| {
                endpoints.for_reference(reference)
            }))
        } else {
            None
        };
        super::cluster::Servers::new(list, resolve, self.max_redirects)
    }

    /// Further servers of a cluster (any URL form of [`new`](Self::new)), tried
    /// in order after the URL of [`new`](Self::new): each reconnect attempt
    /// after a failure goes to the next server, round the list, under the
    /// reconnect policy. Every server uses these options (TLS settings,
    /// credentials, session); with a session expiry the session resumes on
    /// a node of a cluster that shares sessions. Fails on an invalid URL.
    /// Default: none.
    ///
    /// ```
    /// use tern_mqtt::ConnectOptions;
    ///
    /// let opts = ConnectOptions::new("mqtt://node-a:1883")?
    ///     .servers(&["mqtt://node-b:1883", "mqtt://node-c:1883"])?
    ///     .session_expiry(3600);
    /// # Ok::<(), tern_mqtt::Error>(())
    /// ```
    pub fn servers(mut self, urls: &[&str]) -> Result<Self, Error> {
        for url in urls {
            parse_url(url)?;
            self.servers.push((*url).to_owned());
        }
        Ok(self)
    }

    /// A further server of the cluster reached through a connector of the
    /// application's (after the URLs of [`servers`](Self::servers)).
    pub fn server_connector(mut self, connector: impl Connector) -> Self {
        self.server_connectors.push(Arc::new(connector));
        self
    }

    /// Whether to follow a v5 Server Reference: when the broker refuses the
    /// CONNECT or ends the connection with 0x9C Use another server or 0x9D
    /// Server moved and names a server, the next attempt goes there (same
    /// scheme and TLS settings; its first entry when it lists several), at
    /// most [`max_redirects`](Self::max_redirects) times in a row without
    /// an accepted connection between. Default: false: the reference is
    /// only reported, in [`ConnectionEvent::DisconnectedByServer`](super::ConnectionEvent::DisconnectedByServer)
    /// or [`ConnectionEvent::Refused`](super::ConnectionEvent::Refused).
    pub fn follow_server_references(mut self, follow: bool) -> Self {
        self.follow_references = follow;
        self
    }

    /// How many Server References are followed in a row without an
    /// accepted connection between (a loop of references ends there, and
    /// the list of servers resumes). Default: 3.
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }

    /// Where the client connects, for logs and `Debug` (no credentials).
    pub(crate) fn describe_broker(&self) -> String {
        self.make_connector().describe()
    }

    pub(crate) fn driver_settings(&self) -> super::driver::DriverSettings {
        super::driver::DriverSettings {
            offline_queue: self.offline_queue,
            offline_policy: self.offline_policy,
            disconnect_timeout: self.disconnect_timeout,
            subscription_budget: self.subscription_budget,
            manual_acks: self.session.manual_acks,
            subscription_identifiers: self.subscription_identifiers,
            version_fallback: self.version_fallback,
        }
    }

    /// Keeps the session on disk in `dir` (created if missing; the file is
    /// `session.redb`), so that nothing accepted is lost when the process
    /// dies. Default: no store; the session lives in memory only.
    ///
    /// With a store, a QoS 1/2 message is accepted only once it is durable
    /// (see [`crate::store`] for the rule and [`write_policy`](Self::write_policy)
    /// for how syncs are shared); QoS 0 messages are never stored. A
    /// client started on a store that holds a session resumes it: the
    /// stored client id and session expiry replace the configured ones,
    /// it connects with Clean Start 0, resends stored PUBLISHes (DUP=1)
    /// and PUBRELs in their original order, drops messages whose v5
    /// Message Expiry passed while it was down, continues packet ids past
    /// those still in use, and restores its subscriptions: messages for
    /// them are held in their buffers until the application subscribes
    /// to the same filters again, which re-attaches to them (see
    /// [`Client::subscribe_many`](super::Client::subscribe_many)). A
    /// publish failed with [`Error::Closed`] because the client shut down
    /// stays in the store and is sent by the next client on it. Use a
    /// session expiry above 0 (v5) or clean start off (3.1.1) so the
    /// broker keeps its side of the session too. One directory serves one
    /// client at a time: a second open in the same process fails with
    /// [`Error::Store`].
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let options = ConnectOptions::new("mqtt://localhost")?
    ///     .client_id("gateway-7")
    ///     .session_expiry(3600)
    ///     .persist_to("/var/lib/gateway/mqtt");
    /// let client = Client::connect(options).await?;
    /// client.publish("plant/line1/temp", "21.5", QoS::AtLeastOnce, false).await?;
    /// # Ok(()) }
    /// ```
    pub fn persist_to(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.persist_dir = Some(dir.into());
        self
    }

    /// How the store syncs (with [`persist_to`](Self::persist_to)).
    /// Default [`WritePolicy::GroupCommit`](crate::WritePolicy::GroupCommit)
    /// with 5 ms / 64 messages. Either way a message is accepted only once
    /// durable; the policy trades latency for syncs per message.
    pub fn write_policy(mut self, policy: crate::store::WritePolicy) -> Self {
        self.write_policy = policy;
        self
    }

    /// What a damaged store does to `connect` (with
    /// [`persist_to`](Self::persist_to)): fail with [`Error::Store`]
    /// (the default, [`StoreRecovery::Fail`](crate::StoreRecovery::Fail)),
    /// or keep the records that decode.
    pub fn store_recovery(mut self, recovery: crate::store::StoreRecovery) -> Self {
        self.store_recovery = recovery;
        self
    }

    /// Connects through `connector` instead of TCP / TLS to the URL's host
    /// (any `AsyncRead + AsyncWrite` stream: an in-memory pipe, a tunnel,
    /// QUIC). The URL still names the broker in logs. Clones of these
    /// options share the connector. Default: TCP, or TLS for `mqtts://`.
    pub fn connector(mut self, connector: impl Connector) -> Self {
        self.connector = Some(Arc::new(connector));
        self
    }

    /// Adds an HTTP header to the WebSocket upgrade request of `ws://` and
    /// `wss://` URLs (ignored for the others), for brokers that
    /// authenticate the upgrade (`Authorization: Bearer ...`, an API key).
    /// Header values never show in `Debug` or logs.
    pub fn ws_header(mut self, name: &str, value: &str) -> Self {
        self.ws_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Connects through an HTTP CONNECT proxy,
    /// `http://[user:password@]host[:port]` (default port 80; Basic auth
    /// when credentials are given). The tunnel carries `mqtt://`,
    /// `mqtts://`, `ws://` and `wss://` (TLS and the WebSocket upgrade run
    /// inside it); `unix://` ignores it. The credentials never show in
    /// `Debug`, logs or errors; a refusal is [`Error::Proxy`] with the
    /// proxy's status line.
    pub fn proxy(mut self, url: &str) -> Result<Self, Error> {
        self.proxy = Some(HttpProxy::parse(url)?);
        Ok(self)
    }

    /// The broker host (for `unix://`, the socket's path).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The broker port (0 for `unix://`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the URL asked for TLS (`mqtts://`, `wss://`).
    pub fn is_tls(&self) -> bool {
        self.secure
    }

    /// The session settings, for anything without its own method here.
    /// Values set here are not checked by [`validate`](Self::validate) (the
    /// types already are MQTT strings); an authenticator set here is not
    /// carried over by `Clone`: use [`authenticator`](Self::authenticator).
    pub fn session_config_mut(&mut self) -> &mut SessionConfig {
        &mut self.session
    }

    /// Client identifier (an empty one asks the broker to assign one, v5).
    /// One with a NUL character or over 65,535 bytes is refused: `connect`
    /// fails with [`Error::InvalidOption`]. Default: `tern-` and 16 random
    /// hex digits.
    pub fn client_id(mut self, id: &str) -> Self {
        match MqttString::try_from(id) {
            Ok(s) => self.session.client_id = s,
            Err(why) => self.refuse("client_id", why),
        }
        self
    }

    /// Protocol version. Default: 5.0.
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.session.version = version;
        self
    }

    /// Keep alive, in whole seconds: a fraction of a second rounds up (500
    /// ms is 1 s, never 0), anything over 65,535 s is 65,535 s, and zero
    /// turns keep alive off. Default: 60 s.
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        let secs = keep_alive
            .as_secs()
            .saturating_add(u64::from(keep_alive.subsec_nanos() > 0));
        self.session.keep_alive = u16::try_from(secs).unwrap_or(u16::MAX);
        self
    }

    /// Clean start (v5) or clean session (3.1.1) for the first connection.
    /// Default: true.
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.session.clean_start = clean;
        self
    }

    /// Session Expiry Interval in seconds (v5). Default: 0, the session
    /// ends with the connection.
    pub fn session_expiry(mut self, seconds: u32) -> Self {
        self.session.session_expiry_interval = seconds;
        self
    }

    /// User name and password. A user name with a NUL character or over
    /// 65,535 bytes, or a password over 65,535 bytes, is refused: `connect`
    /// fails with [`Error::InvalidOption`]. Default: none. `Debug` never
    /// shows the password.
    pub fn credentials(mut self, username: &str, password: impl Into<Bytes>) -> Self {
        match MqttString::try_from(username) {
            Ok(u) => self.session.username = Some(u),
            Err(why) => self.refuse("username", why),
        }
        let password = password.into();
        if password.len() > usize::from(u16::MAX) {
            self.refuse("password", StringError::TooLong);
        }
        self.session.password = Some(password);
        self
    }

    /// The will message (see [`Will::new`] and the [will
    /// section](super#will)). Default: none.
    pub fn will(mut self, will: Will) -> Self {
        self.session.will = Some(will);
        self
    }

    /// How long to wait for the TCP/TLS connection and the CONNACK, and for
    /// the reconnect hook. Default: 30 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.session.connect_timeout = timeout;
        self
    }

    /// Receive Maximum (v5): QoS 1/2 messages the broker may send
    /// unacknowledged; a broker that sends more is disconnected with 0x93
    /// Receive Maximum exceeded, once: on later connections of the same
    /// client its excess is tolerated (with a warning), because a broker
    /// that resends a backlog beyond it after every CONNACK would otherwise
    /// be reconnected to forever. Default: 65,535. Beware that mosquitto
    /// 2.0.11 honours a small value for the first window only, then sends
    /// two messages per acknowledgement. Has no effect in 3.1.1, where the
    /// broker cannot know it.
    pub fn receive_maximum(mut self, n: u16) -> Self {
        self.session.receive_maximum = n.max(1);
        self
    }

    /// The largest packet we accept; larger incoming messages are skipped
    /// and reported as [`ConnectionEvent::MessageTooLarge`](super::ConnectionEvent::MessageTooLarge).
    /// At least 16. Default: 1 MiB.
    pub fn maximum_packet_size(mut self, bytes: u32) -> Self {
        self.session.maximum_packet_size = bytes.max(16);
        self
    }

    /// The highest topic alias the broker may use towards us (v5); 0 turns
    /// them off. Default: 16.
    pub fn topic_alias_maximum(mut self, n: u16) -> Self {
        self.session.topic_alias_maximum = n;
        self
    }

    /// Adds a user property to the CONNECT (v5). A key or value with a NUL
    /// character or over 65,535 bytes is refused: `connect` fails with
    /// [`Error::InvalidOption`]. Default: none.
    pub fn user_property(mut self, key: &str, value: &str) -> Self {
        match crate::codec::user_property(key, value) {
            Ok(p) => self.session.user_properties.push(p),
            Err(why) => self.refuse("user_property", why),
        }
        self
    }

    /// Adds a user property already made of checked strings (v5).
    pub fn user_property_pair(mut self, property: UserProperty) -> Self {
        self.session.user_properties.push(property);
        self
    }

    /// Enhanced authentication (v5). Clones of these options share the
    /// authenticator (behind a lock): give each client its own when its
    /// exchange keeps state between challenges. Default: none.
    pub fn authenticator(mut self, auth: Box<dyn Authenticator>) -> Self {
        self.authenticator = Some(SharedAuthenticator {
            method: auth.method().to_owned(),
            inner: Arc::new(Mutex::new(auth)),
        });
        self
    }

    /// Acknowledge QoS 1/2 messages by hand ([`Message::ack`](super::Message::ack));
    /// see the [manual acks section](super#manual-acks). Default: false.
    pub fn manual_acks(mut self, manual: bool) -> Self {
        self.session.manual_acks = manual;
        self
    }

    /// What to do with in-flight publishes when the broker lost the session.
    /// Default: [`SessionLostPolicy::Resend`].
    pub fn session_lost_policy(mut self, policy: SessionLostPolicy) -> Self {
        self.session.session_lost_policy = policy;
        self
    }

    /// Reconnection settings (see the [reconnect section](super#reconnect-and-events)).
    /// Default: [`ReconnectOptions::default`], reconnect on.
    pub fn reconnect(mut self, reconnect: ReconnectOptions) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// How many publishes may be under way at once: each takes a slot when
    /// it is handed to the connection task and frees it with its outcome
    /// (QoS 0 once written, QoS 1/2 on the broker's answer; a
    /// [`Publisher`](super::Publisher)'s once the outcome is read; a batch
    /// takes one per message and frees them together). `publish` waits
    /// beyond it, `try_publish` fails with [`Error::QueueFull`](crate::Error::QueueFull).
    /// At least 1. Default: 1,024.
    pub fn publish_queue(mut self, n: usize) -> Self {
        self.publish_queue = n.max(1);
        self
    }

    /// How many publishes may wait while disconnected before new ones fail
    /// with [`Error::OfflineQueueFull`] (under [`OfflinePolicy::Fail`]).
    /// The bound in force is the smaller of this and the publish queue.
    /// Default: 1,000.
    pub fn offline_queue(mut self, n: usize) -> Self {
        self.offline_queue = n;
        self
    }

    /// What `publish` does while disconnected. Default: [`OfflinePolicy::Fail`].
    pub fn offline_policy(mut self, policy: OfflinePolicy) -> Self {
        self.offline_policy = policy;
        self
    }

    /// Each subscription's buffer (and the unmatched stream's), in bytes of
    /// decoded message size (topic, payload, properties and the message
    /// itself). A message larger than the budget still gets through an
    /// empty buffer. Default: 1 MiB, enough for a burst of thousands of
    /// small messages to one idle subscription.
    pub fn subscription_buffer_bytes(mut self, bytes: usize) -> Self {
        self.subscription_budget = bytes.max(1);
        self
    }

    /// Whether v5 subscriptions carry a Subscription Identifier, which
    /// routes each message to exactly the subscriptions it matched even
    /// when filters overlap. Default: true. Turned off, or when the broker
    /// announces Subscription Identifiers Available = 0, messages are
    /// routed by matching filters.
    pub fn subscription_identifiers(mut self, on: bool) -> Self {
        self.subscription_identifiers = on;
        self
    }

    /// When a broker refuses our MQTT 5.0 CONNECT as an unsupported
    /// protocol version (a 3.1.1-only broker), connect again at 3.1.1.
    /// Default: false: the connect fails with
    /// [`Error::ConnectionRefused`] carrying 0x84.
    pub fn version_fallback(mut self, on: bool) -> Self {
        self.version_fallback = on;
        self
    }

    /// How long `disconnect` (and dropping the last `Client`) waits for
    /// in-flight publishes, and then for the last bytes to be written.
    /// Saturates: `Duration::MAX` waits as long as it takes. Default: 10 s.
    pub fn disconnect_timeout(mut self, timeout: Duration) -> Self {
        self.disconnect_timeout = timeout;
        self
    }

    /// TLS settings, merged into those already set, field by field: each
    /// field that `tls` sets to something other than its default replaces
    /// the current value, and each field it leaves at the default keeps
    /// what an earlier setter (or an earlier `.tls()`) put there. So
    /// `.client_cert_files(..)` then `.tls(TlsOptions { alpn, ..Default::default() })`
    /// keeps the client certificate, and setters called after `.tls()`
    /// replace just their own field. `dangerous_skip_verification` is
    /// switched on by a `tls` that sets it and never off.
    ///
    /// ```
    /// use tern_mqtt::transport::TlsOptions;
    /// use tern_mqtt::ConnectOptions;
    ///
    /// let opts = ConnectOptions::new("mqtts://broker.local").unwrap()
    ///     .client_cert_files("client.crt", "client.key")
    ///     .tls(TlsOptions { alpn: vec![b"mqtt".to_vec()], ..Default::default() });
    /// assert!(opts.tls_options().client_cert.is_some());
    /// assert_eq!(opts.tls_options().alpn, vec![b"mqtt".to_vec()]);
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls.merge(tls);
        self
    }

    /// The TLS settings in force (used for `mqtts://` URLs).
    #[cfg(feature = "tls")]
    pub fn tls_options(&self) -> &TlsOptions {
        &self.tls
    }

    /// Trust the CA certificates in this PEM file instead of the system
    /// roots (default: the system roots).
    #[cfg(feature = "tls")]
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.trust = TrustAnchors::PemFile(path.into());
        self
    }

    /// Trust the CA certificate in this DER file (`.der`, `.cer`) instead
    /// of the system roots.
    #[cfg(feature = "tls")]
    pub fn ca_der_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.trust = TrustAnchors::DerFile(path.into());
        self
    }

    /// Trust the CA certificates in these PEM bytes.
    #[cfg(feature = "tls")]
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.trust = TrustAnchors::Pem(pem.into());
        self
    }

    /// Trust Mozilla's root certificates compiled into the binary instead
    /// of the system store: for edge images without a CA store (the
    /// `webpki-roots` feature).
    #[cfg(feature = "webpki-roots")]
    pub fn ca_webpki_roots(mut self) -> Self {
        self.tls.trust = TrustAnchors::WebPki;
        self
    }

    /// Mutual TLS with this client certificate, in any format of
    /// [`ClientCertificate`] (default: no client certificate).
    #[cfg(feature = "tls")]
    pub fn client_cert(mut self, cert: ClientCertificate) -> Self {
        self.tls.client_cert = Some(cert);
        self
    }

    /// Mutual TLS with a client certificate chain and key from PEM files
    /// (key: PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted).
    #[cfg(feature = "tls")]
    pub fn client_cert_files(
        self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.client_cert(ClientCertificate::PemFiles {
            cert: cert.into(),
            key: key.into(),
            password: None,
        })
    }

    /// Mutual TLS with a client certificate chain from a PEM file and an
    /// encrypted PKCS#8 key (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, as
    /// `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes) with its password.
    ///
    /// ```
    /// use tern_mqtt::ConnectOptions;
    ///
    /// let opts = ConnectOptions::new("mqtts://broker.local").unwrap()
    ///     .client_cert_files_with_password("client.crt", "client.key", "s3cret");
    /// assert!(!format!("{opts:?}").contains("s3cret"));
    /// ```
    #[cfg(feature = "tls")]
    pub fn client_cert_files_with_password(
        self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
        password: impl Into<Password>,
    ) -> Self {
        self.client_cert(ClientCertificate::PemFiles {
            cert: cert.into(),
            key: key.into(),
            password: Some(password.into()),
        })
    }

    /// Mutual TLS with a certificate and key from DER files (the key
    /// unencrypted; for an encrypted one use [`ClientCertificate::DerFiles`]
    /// with a password).
    #[cfg(feature = "tls")]
    pub fn client_cert_der_files(
        self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.client_cert(ClientCertificate::DerFiles {
            cert: cert.into(),
            key: key.into(),
            password: None,
        })
    }

    /// Mutual TLS with the key and chain in a PKCS#12 archive (`.pfx`,
    /// `.p12`) and its password.
    ///
    /// ```
    /// use tern_mqtt::ConnectOptions;
    ///
    /// let opts = ConnectOptions::new("mqtts://broker.local").unwrap()
    ///     .client_cert_pkcs12("/etc/gateway/client.pfx", "changeit");
    /// assert!(!format!("{opts:?}").contains("changeit"));
    /// ```
    #[cfg(feature = "tls")]
    pub fn client_cert_pkcs12(
        self,
        path: impl Into<std::path::PathBuf>,
        password: impl Into<Password>,
    ) -> Self {
        self.client_cert(ClientCertificate::Pkcs12File {
            path: path.into(),
            password: password.into(),
        })
    }

    /// Mutual TLS with a client certificate chain and key as PEM bytes
    /// (the key is held in a buffer wiped on drop).
    #[cfg(feature = "tls")]
    pub fn client_cert_pem(self, cert: impl Into<Vec<u8>>, key: impl Into<SecretBytes>) -> Self {
        self.client_cert(ClientCertificate::Pem {
            cert: cert.into(),
            key: key.into(),
            password: None,
        })
    }

    /// Verify the broker's certificate against this name instead of the host.
    #[cfg(feature = "tls")]
    pub fn tls_server_name(mut self, name: &str) -> Self {
        self.tls.server_name = Some(name.to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_url_error_never_echoes_credentials() {
        let err = ConnectOptions::new("mqtt://user:hunter2@broker:1883").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>@broker:1883"), "{text}");
    }

    #[test]
    fn keep_alive_rounds_up_and_saturates() {
        let ka = |d| {
            ConnectOptions::new("mqtt://h")
                .unwrap()
                .keep_alive(d)
                .session
                .keep_alive
        };
        assert_eq!(ka(Duration::from_millis(500)), 1);
        assert_eq!(ka(Duration::from_millis(1500)), 2);
        assert_eq!(ka(Duration::ZERO), 0);
        assert_eq!(ka(Duration::MAX), u16::MAX);
    }

    #[test]
    fn debug_shows_no_password() {
        let opts = ConnectOptions::new("mqtt://h")
            .unwrap()
            .credentials("u", "s3cret");
        assert!(!format!("{opts:?}").contains("s3cret"));
    }
}
