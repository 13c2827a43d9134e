//! Options shared by every subcommand, grouped as mosquitto's help groups
//! them (broker, session, identity, network, output, will, TLS, MQTT 5
//! properties), and the `ConnectOptions` they make.

use crate::common::{parse_qos, parse_topic, parse_version, usage, CliError};
use crate::props::Properties;
use crate::tls::TlsArgs;
use crate::url::BrokerUrl;
use clap::{ArgAction, Args};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use tern_mqtt::client::{ConnectOptions, ReconnectOptions};
use tern_mqtt::codec::{MqttString, ProtocolVersion, QoS, Will};
use tern_mqtt::topic::TopicName;

/// Connection options common to every subcommand (as mosquitto_pub/sub).
// The field docs are clap's help text, where `[user[:pass]@]` is usage
// syntax, not an intra-doc link.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// Broker host name or IP address.
    #[arg(
        short = 'h',
        long,
        default_value = "localhost",
        help_heading = "Broker"
    )]
    pub host: String,
    /// Broker port [default: 1883, or 8883 with TLS].
    #[arg(short = 'p', long, help_heading = "Broker")]
    pub port: Option<u16>,
    /// Broker URL: mqtt(s)://[user[:pass]@]host[:port]/topic (the path is
    /// the topic, as mosquitto's -L), or ws://, wss://, unix:// as the
    /// library takes them.
    #[arg(short = 'L', long = "url", value_name = "URL",
          conflicts_with_all = ["host", "port", "unix"], help_heading = "Broker")]
    pub url: Option<String>,
    /// Connect through the Unix domain socket at PATH instead of TCP.
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "port",
        help_heading = "Broker"
    )]
    pub unix: Option<PathBuf>,
    /// MQTT protocol version: 311 or 5 [default: 311 for pub and sub, as
    /// mosquitto; 5 for bench].
    #[arg(short = 'V', long = "protocol-version", value_name = "311|5",
          value_parser = parse_version, help_heading = "Broker")]
    pub version: Option<ProtocolVersion>,
    /// User name to authenticate with.
    #[arg(short = 'u', long, help_heading = "Broker")]
    pub username: Option<String>,
    /// Password to authenticate with (MQTT 3.1.1 also needs -u).
    #[arg(short = 'P', long, help_heading = "Broker")]
    pub password: Option<String>,
    /// Keep alive in seconds (0 turns it off).
    #[arg(
        short = 'k',
        long,
        value_name = "SECS",
        default_value_t = 60,
        help_heading = "Session"
    )]
    pub keepalive: u16,
    /// Seconds to wait for the connection and the CONNACK.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        help_heading = "Session"
    )]
    pub connect_timeout: u64,
    /// Persistent session: Clean Start / Clean Session 0 (needs -i); in v5
    /// the session then never expires unless -x says otherwise.
    #[arg(short = 'c', long = "disable-clean-session", help_heading = "Session")]
    pub persistent: bool,
    /// v5 Session Expiry Interval in seconds; -1 or ∞ never expires
    /// [default: -1 with -c, else 0].
    #[arg(short = 'x', long = "session-expiry-interval", value_name = "SECS",
          allow_hyphen_values = true, value_parser = parse_expiry, help_heading = "Session")]
    pub session_expiry: Option<u32>,
    /// Keep the session on disk in DIR (created if missing): publishes
    /// accepted but not yet acknowledged, the incoming QoS 2 state and the
    /// subscriptions survive the process, and the next run with the same
    /// DIR resumes them with the stored client id. Implies -c; pub and sub
    /// only.
    #[arg(long, value_name = "DIR", help_heading = "Session")]
    pub store: Option<PathBuf>,
    /// Client identifier [default: generated].
    #[arg(short = 'i', long = "id", help_heading = "Identity")]
    pub client_id: Option<String>,
    /// Client identifier: this prefix followed by the process id.
    #[arg(
        short = 'I',
        long = "id-prefix",
        value_name = "PREFIX",
        conflicts_with = "client_id",
        help_heading = "Identity"
    )]
    pub id_prefix: Option<String>,
    /// Bind the outgoing TCP socket to this local address.
    #[arg(
        short = 'A',
        long = "bind-address",
        value_name = "ADDR",
        help_heading = "Network"
    )]
    pub bind_address: Option<IpAddr>,
    /// Disable Nagle's algorithm (tern always does: accepted for
    /// compatibility).
    #[arg(long, help_heading = "Network")]
    pub nodelay: bool,
    /// Reach the broker through an HTTP CONNECT proxy,
    /// http://[user:pass@]host[:port] (SOCKS5 is refused).
    #[arg(long, value_name = "URL", help_heading = "Network")]
    pub proxy: Option<String>,
    /// Packet trace on stderr: every packet sent and received (type, id,
    /// flags, topic, sizes, properties).
    #[arg(short = 'd', long, help_heading = "Output")]
    pub debug: bool,
    /// Do not print error messages (the exit code still tells).
    #[arg(long, help_heading = "Output")]
    pub quiet: bool,
    /// Topic of the will message.
    #[arg(long, value_name = "TOPIC", value_parser = parse_topic, help_heading = "Will")]
    pub will_topic: Option<TopicName>,
    /// Payload of the will message [default: empty].
    #[arg(
        long,
        value_name = "PAYLOAD",
        requires = "will_topic",
        help_heading = "Will"
    )]
    pub will_payload: Option<String>,
    /// QoS of the will message.
    #[arg(long, value_name = "QOS", value_parser = parse_qos, requires = "will_topic",
          help_heading = "Will")]
    pub will_qos: Option<QoS>,
    /// Retain the will message.
    #[arg(long, requires = "will_topic", help_heading = "Will")]
    pub will_retain: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// v5 property: -D COMMAND IDENTIFIER VALUE (user-property takes NAME
    /// VALUE), e.g. -D publish content-type text/plain. Commands: connect,
    /// publish, subscribe, will.
    #[arg(short = 'D', long = "property", num_args = 3..=4, action = ArgAction::Append,
          value_names = ["COMMAND", "IDENTIFIER", "VALUE"],
          help_heading = "MQTT 5 properties")]
    pub property_words: Vec<String>,
    /// The -D groups, one per occurrence (filled from the matches by
    /// `main`, as clap's derive keeps only the flat list).
    #[arg(skip)]
    pub properties: Vec<Vec<String>>,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Parses a session expiry: seconds, or -1 / ∞ / 4294967295 for never.
fn parse_expiry(s: &str) -> Result<u32, String> {
    match s {
        "-1" | "∞" => Ok(u32::MAX),
        _ => s
            .parse()
            .map_err(|_| format!("expected 0 to 4294967295, -1 or ∞, got {s:?}")),
    }
}

impl ConnArgs {
    /// The protocol version, or `default` when -V was not given.
    pub fn version_or(&self, default: ProtocolVersion) -> ProtocolVersion {
        self.version.unwrap_or(default)
    }

    /// The topic in the path of an `mqtt(s)://` -L URL.
    pub fn url_topic(&self) -> Result<Option<String>, CliError> {
        match &self.url {
            Some(url) => Ok(BrokerUrl::parse(url)?.topic),
            None => Ok(None),
        }
    }

    /// The broker URL of -L, or of -h, -p and --unix.
    pub fn broker_url(&self) -> Result<BrokerUrl, CliError> {
        match &self.url {
            Some(url) => BrokerUrl::parse(url),
            None => Ok(BrokerUrl::from_parts(
                &self.host,
                self.port,
                self.unix.as_deref(),
                self.tls.wants_tls(),
            )),
        }
    }

    /// Connect options for one connection at `version` with the connect
    /// and will properties of `props`; `suffix` is appended to an explicit
    /// client id (bench connections need distinct ids).
    pub fn options(
        &self,
        version: ProtocolVersion,
        props: &Properties,
        reconnect: bool,
        suffix: &str,
    ) -> Result<ConnectOptions, CliError> {
        self.tls.check()?;
        let url = self.broker_url()?;
        let mut opts = ConnectOptions::new(&url.broker).map_err(|e| usage(e.to_string()))?;
        if self.tls.wants_tls() && !opts.is_tls() {
            return Err(usage(format!(
                "TLS options need an mqtts:// or wss:// URL, not {}",
                url.broker
            )));
        }
        if opts.is_tls() {
            opts = self.tls.apply(opts)?;
        }
        opts = self
            .session(opts.version(version), version)?
            .reconnect(ReconnectOptions {
                enabled: reconnect,
                ..ReconnectOptions::default()
            });
        opts = self.identity(opts, suffix)?;
        opts = self.credentials(opts, version, url.username, url.password)?;
        opts = self.will(opts, props)?;
        opts = props.apply_connect(opts);
        crate::network::apply(self, opts, &url.broker)
    }

    /// Keep alive, connect timeout, clean start and session expiry.
    fn session(
        &self,
        opts: ConnectOptions,
        version: ProtocolVersion,
    ) -> Result<ConnectOptions, CliError> {
        let mut opts = opts
            .keep_alive(Duration::from_secs(u64::from(self.keepalive)))
            .connect_timeout(Duration::from_secs(self.connect_timeout.max(1)));
        // A store keeps the client id it was first used with, so it needs
        // no -i; -c alone would resume nothing without one.
        let persistent = self.persistent || self.store.is_some();
        if self.persistent && self.client_id.is_none() && self.store.is_none() {
            return Err(usage(
                "-c needs a client id (-i): a persistent session is found by its id",
            ));
        }
        if let Some(dir) = &self.store {
            opts = opts.persist_to(dir);
        }
        if self.session_expiry.is_some() && version != ProtocolVersion::V5 {
            return Err(usage("-x needs MQTT 5 (-V 5): 3.1.1 has no session expiry"));
        }
        opts = opts.clean_start(!persistent);
        // mosquitto: -x defaults to "never" with -c and to 0 without.
        let expiry = match (self.session_expiry, persistent) {
            (Some(secs), _) => secs,
            (None, true) => u32::MAX,
            (None, false) => 0,
        };
        if version == ProtocolVersion::V5 {
            opts = opts.session_expiry(expiry);
        }
        Ok(opts)
    }

    /// -i (with the bench suffix) or -I (prefix and process id).
    fn identity(&self, opts: ConnectOptions, suffix: &str) -> Result<ConnectOptions, CliError> {
        let id = match (&self.client_id, &self.id_prefix) {
            (Some(id), _) => format!("{id}{suffix}"),
            (None, Some(prefix)) => format!("{prefix}{}{suffix}", std::process::id()),
            (None, None) => return Ok(opts),
        };
        MqttString::try_from(id.as_str()).map_err(|e| usage(format!("client id: {e}")))?;
        Ok(opts.client_id(&id))
    }

    /// User name and password from -u/-P, or else from the -L URL.
    fn credentials(
        &self,
        mut opts: ConnectOptions,
        version: ProtocolVersion,
        url_user: Option<String>,
        url_pass: Option<String>,
    ) -> Result<ConnectOptions, CliError> {
        let user = self.username.clone().or(url_user);
        let pass = self.password.clone().or(url_pass);
        if let Some(u) = &user {
            MqttString::try_from(u.as_str()).map_err(|e| usage(format!("user name: {e}")))?;
        }
        match (user, pass) {
            (Some(u), Some(p)) => opts = opts.credentials(&u, p.into_bytes()),
            (Some(u), None) => {
                let u = MqttString::try_from(u.as_str())
                    .map_err(|e| usage(format!("user name: {e}")))?;
                opts.session_config_mut().username = Some(u);
            }
            (None, Some(_)) if version == ProtocolVersion::V311 => {
                return Err(usage(
                    "MQTT 3.1.1 does not allow a password without a user name (-u)",
                ));
            }
            (None, Some(p)) => opts.session_config_mut().password = Some(p.into_bytes().into()),
            (None, None) => {}
        }
        Ok(opts)
    }

    fn will(&self, opts: ConnectOptions, props: &Properties) -> Result<ConnectOptions, CliError> {
        let Some(topic) = &self.will_topic else {
            if props.has_will() {
                return Err(usage("-D will ... needs --will-topic"));
            }
            return Ok(opts);
        };
        Ok(opts.will(Will {
            topic: topic.clone(),
            payload: self
                .will_payload
                .clone()
                .unwrap_or_default()
                .into_bytes()
                .into(),
            qos: self.will_qos.unwrap_or_default(),
            retain: self.will_retain,
            properties: props.will.clone(),
        }))
    }
}
