//! `ConnectOptions`: where to connect and how, built from a broker URL.

use crate::codec::{MqttString, ProtocolVersion, UserProperty, Will};
use crate::session::{Authenticator, SessionConfig, SessionLostPolicy};
use crate::Error;
use bytes::Bytes;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "tls")]
use crate::transport::{ClientCertificate, TlsOptions, TrustAnchors};

/// Credentials a reconnect hook may hand back.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// User Name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
}

/// Called before each reconnect attempt with the attempt number (from 1);
/// may return fresh credentials.
pub type ReconnectHook = Arc<dyn Fn(u32) -> Option<Credentials> + Send + Sync>;

/// Automatic reconnection: exponential backoff with full jitter.
#[derive(Clone)]
pub struct ReconnectOptions {
    /// Whether to reconnect at all after the first connection.
    pub enabled: bool,
    /// The first backoff ceiling.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
    /// Attempts before giving up; 0 means forever.
    pub max_attempts: u32,
    /// Called before each attempt.
    pub hook: Option<ReconnectHook>,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        ReconnectOptions {
            enabled: true,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            max_attempts: 0,
            hook: None,
        }
    }
}

impl std::fmt::Debug for ReconnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectOptions")
            .field("enabled", &self.enabled)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
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
#[derive(Debug)]
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
    pub(crate) subscription_buffer: usize,
    pub(crate) disconnect_timeout: Duration,
}

fn generated_client_id() -> String {
    // Random enough to avoid clashes between processes: std's RandomState
    // is seeded from the OS.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    format!("tern-{:016x}", h.finish())
}

impl ConnectOptions {
    /// Options for `mqtt://host[:port]` (default port 1883) or
    /// `mqtts://host[:port]` (8883), with the defaults: MQTT 5.0, a generated
    /// client id, clean start, keep alive 60 s, connect timeout 30 s,
    /// reconnect on, system TLS roots.
    pub fn new(url: &str) -> Result<Self, Error> {
        let invalid = |why| Error::InvalidUrl {
            url: url.to_owned(),
            why,
        };
        let (secure, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err(invalid("the scheme must be mqtt:// or mqtts://"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') {
            return Err(invalid("only host and port are supported"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| invalid("unclosed '[' in an IPv6 host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(invalid("unexpected text after the IPv6 host")),
            };
            (h.to_owned(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse()
                .map_err(|_| invalid("the port is not a number from 1 to 65535"))?,
            None if secure => 8883,
            None => 1883,
        };
        if port == 0 {
            return Err(invalid("the port is not a number from 1 to 65535"));
        }
        let client_id =
            MqttString::try_from(generated_client_id()).map_err(|_| invalid("client id"))?;
        Ok(ConnectOptions {
            host,
            port,
            secure,
            #[cfg(feature = "tls")]
            tls: TlsOptions::default(),
            session: SessionConfig::new(client_id),
            reconnect: ReconnectOptions::default(),
            publish_queue: 1024,
            offline_queue: 10_000,
            subscription_buffer: 256,
            disconnect_timeout: Duration::from_secs(10),
        })
    }

    /// The broker host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The broker port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the URL asked for TLS.
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

    /// Keep alive (whole seconds, at most 65,535; zero turns it off).
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.session.keep_alive = u16::try_from(keep_alive.as_secs()).unwrap_or(u16::MAX);
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

    /// Receive Maximum: QoS 1/2 messages the broker may send unacknowledged.
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

    /// How many publishes may wait while disconnected before new ones fail.
    pub fn offline_queue(mut self, n: usize) -> Self {
        self.offline_queue = n;
        self
    }

    /// Messages buffered per subscription before reading from the broker pauses.
    pub fn subscription_buffer(mut self, n: usize) -> Self {
        self.subscription_buffer = n.max(1);
        self
    }

    /// How long `disconnect` waits for in-flight publishes.
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
