//! `ConnectOptions`: where to connect and how, built from a broker URL.

use crate::codec::{MqttString, ProtocolVersion, UserProperty, Will};
use crate::session::{Authenticator, SessionConfig, SessionLostPolicy};
use crate::Error;
use bytes::Bytes;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use crate::transport::endpoint::redact_userinfo;
#[cfg(feature = "tls")]
use crate::transport::{ClientCertificate, TlsOptions, TrustAnchors};
use crate::transport::{Connector, Endpoint, HttpProxy};

/// Credentials a reconnect hook may hand back.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// User Name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
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

/// Called before each reconnect attempt; may return fresh credentials
/// (for example a new short-lived token). It runs on the connection task,
/// so it should be quick.
pub type ReconnectHook = Arc<dyn Fn(&ReconnectAttempt) -> Option<Credentials> + Send + Sync>;

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
    /// Called before each attempt. Default: none.
    pub hook: Option<ReconnectHook>,
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

/// Everything `Client::connect` needs.
///
/// ```
/// use std::time::Duration;
/// use tern_mqtt::client::ConnectOptions;
/// use tern_mqtt::codec::ProtocolVersion;
///
/// let opts = ConnectOptions::new("mqtt://broker.local:1884").unwrap()
///     .client_id("gateway-7")
///     .version(ProtocolVersion::V311)
///     .keep_alive(Duration::from_secs(30))
///     .credentials("user", "secret");
/// assert_eq!(opts.port(), 1884);
/// assert!(ConnectOptions::new("http://x").is_err());
/// ```
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
    pub(crate) endpoint: Endpoint,
    /// Extra headers on the WebSocket upgrade (values are secrets).
    pub(crate) ws_headers: Vec<(String, String)>,
    pub(crate) proxy: Option<HttpProxy>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("broker", &self.describe_broker())
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
            .finish_non_exhaustive()
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
            endpoint,
            ws_headers: Vec::new(),
            proxy: None,
        })
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

    /// Connects through `connector` instead of TCP / TLS to the URL's host
    /// (any `AsyncRead + AsyncWrite` stream: an in-memory pipe, a tunnel,
    /// QUIC). The URL still names the broker in logs.
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
    pub fn session_config_mut(&mut self) -> &mut SessionConfig {
        &mut self.session
    }

    /// Client identifier (an empty one asks the broker to assign one, v5).
    pub fn client_id(mut self, id: &str) -> Self {
        if let Ok(s) = MqttString::try_from(id) {
            self.session.client_id = s;
        }
        self
    }

    /// Protocol version (5.0 by default).
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

    /// Clean start (v5) or clean session (3.1.1).
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.session.clean_start = clean;
        self
    }

    /// Session Expiry Interval in seconds (v5).
    pub fn session_expiry(mut self, seconds: u32) -> Self {
        self.session.session_expiry_interval = seconds;
        self
    }

    /// User name and password.
    pub fn credentials(mut self, username: &str, password: impl Into<Bytes>) -> Self {
        self.session.username = MqttString::try_from(username).ok();
        self.session.password = Some(password.into());
        self
    }

    /// The will message.
    pub fn will(mut self, will: Will) -> Self {
        self.session.will = Some(will);
        self
    }

    /// How long to wait for the TCP/TLS connection and the CONNACK.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.session.connect_timeout = timeout;
        self
    }

    /// Receive Maximum (v5): QoS 1/2 messages the broker may send
    /// unacknowledged; a broker that sends more is disconnected with 0x93
    /// Receive Maximum exceeded. Default: 65,535. Beware that mosquitto
    /// 2.0.11 does not honour a value below its own in-flight window
    /// (`max_inflight_messages`, 20 by default). Has no effect in 3.1.1,
    /// where the broker cannot know it.
    pub fn receive_maximum(mut self, n: u16) -> Self {
        self.session.receive_maximum = n.max(1);
        self
    }

    /// The largest packet we accept.
    pub fn maximum_packet_size(mut self, bytes: u32) -> Self {
        self.session.maximum_packet_size = bytes.max(16);
        self
    }

    /// The highest topic alias the broker may use towards us.
    pub fn topic_alias_maximum(mut self, n: u16) -> Self {
        self.session.topic_alias_maximum = n;
        self
    }

    /// Adds a user property to the CONNECT.
    pub fn user_property(mut self, property: UserProperty) -> Self {
        self.session.user_properties.push(property);
        self
    }

    /// Enhanced authentication (v5).
    pub fn authenticator(mut self, auth: Box<dyn Authenticator>) -> Self {
        self.session.authenticator = Some(auth);
        self
    }

    /// Acknowledge QoS 1/2 messages by hand ([`Message::ack`](super::Message::ack)).
    pub fn manual_acks(mut self, manual: bool) -> Self {
        self.session.manual_acks = manual;
        self
    }

    /// What to do with in-flight publishes when the broker lost the session.
    pub fn session_lost_policy(mut self, policy: SessionLostPolicy) -> Self {
        self.session.session_lost_policy = policy;
        self
    }

    /// Reconnection settings.
    pub fn reconnect(mut self, reconnect: ReconnectOptions) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// How many publishes may wait between the handles and the connection
    /// task; `publish` waits beyond it, `try_publish` fails.
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

    /// All TLS settings at once.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Trust the CA certificates in this PEM file (instead of the system roots).
    #[cfg(feature = "tls")]
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.trust = TrustAnchors::PemFile(path.into());
        self
    }

    /// Trust the CA certificates in these PEM bytes.
    #[cfg(feature = "tls")]
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.trust = TrustAnchors::Pem(pem.into());
        self
    }

    /// Mutual TLS with a client certificate chain and key from PEM files.
    #[cfg(feature = "tls")]
    pub fn client_cert_files(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls.client_cert = Some(ClientCertificate::PemFiles {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Mutual TLS with a client certificate chain and key as PEM bytes.
    #[cfg(feature = "tls")]
    pub fn client_cert_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.tls.client_cert = Some(ClientCertificate::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self
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
