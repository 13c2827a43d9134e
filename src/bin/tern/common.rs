//! Options shared by every subcommand: where the broker is, how to
//! connect, TLS, credentials, will; and the CLI's error type.

use clap::{ArgAction, Args};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use tern_mqtt::client::{ConnectOptions, ReconnectOptions};
use tern_mqtt::codec::{MqttString, ProtocolVersion, QoS, UserProperty, Will};
use tern_mqtt::topic::TopicName;
use tern_mqtt::{Client, Error};

/// What went wrong, and how the process should exit.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments (exit code 2).
    Usage(String),
    /// The work failed (exit code 1).
    Failed(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
        }
    }
}

/// A usage error.
pub fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// A runtime failure.
pub fn failed(msg: impl Into<String>) -> CliError {
    CliError::Failed(msg.into())
}

/// Parses a QoS of 0, 1 or 2.
pub fn parse_qos(s: &str) -> Result<QoS, String> {
    match s {
        "0" => Ok(QoS::AtMostOnce),
        "1" => Ok(QoS::AtLeastOnce),
        "2" => Ok(QoS::ExactlyOnce),
        _ => Err("QoS must be 0, 1 or 2".to_owned()),
    }
}

/// Parses a protocol version: 311 (or 3.1.1, mqttv311) or 5 (5.0, mqttv5).
pub fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    match s {
        "311" | "3.1.1" | "mqttv311" | "4" => Ok(ProtocolVersion::V311),
        "5" | "5.0" | "mqttv5" => Ok(ProtocolVersion::V5),
        _ => Err("the protocol version must be 311 or 5".to_owned()),
    }
}

/// Parses `KEY=VALUE` into a user property.
pub fn parse_user_property(s: &str) -> Result<UserProperty, String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    let k = MqttString::try_from(k).map_err(|e| format!("user property name: {e}"))?;
    let v = MqttString::try_from(v).map_err(|e| format!("user property value: {e}"))?;
    Ok((k, v))
}

/// Parses a topic name (no wildcards).
pub fn parse_topic(s: &str) -> Result<TopicName, String> {
    TopicName::new(s).map_err(|e| e.to_string())
}

/// Connection options common to every subcommand (as mosquitto_pub/sub).
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// Broker host name or IP address.
    #[arg(
        short = 'h',
        long,
        default_value = "localhost",
        help_heading = "Connection"
    )]
    pub host: String,
    /// Broker port [default: 1883, or 8883 with TLS].
    #[arg(short = 'p', long, help_heading = "Connection")]
    pub port: Option<u16>,
    /// Broker URL, `mqtt://host[:port]` or `mqtts://host[:port]` (overrides -h/-p).
    #[arg(long, help_heading = "Connection")]
    pub url: Option<String>,
    /// MQTT protocol version: 311 or 5.
    #[arg(short = 'V', long = "protocol-version", value_name = "311|5", default_value = "5",
          value_parser = parse_version, help_heading = "Connection")]
    pub version: ProtocolVersion,
    /// Client identifier [default: generated].
    #[arg(short = 'i', long = "id", help_heading = "Connection")]
    pub client_id: Option<String>,
    /// User name to authenticate with.
    #[arg(short = 'u', long, help_heading = "Connection")]
    pub username: Option<String>,
    /// Password to authenticate with (MQTT 3.1.1 also needs -u).
    #[arg(short = 'P', long, help_heading = "Connection")]
    pub password: Option<String>,
    /// Keep alive in seconds (0 turns it off).
    #[arg(
        short = 'k',
        long,
        value_name = "SECS",
        default_value_t = 60,
        help_heading = "Connection"
    )]
    pub keepalive: u16,
    /// Seconds to wait for the connection and the CONNACK.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        help_heading = "Connection"
    )]
    pub connect_timeout: u64,
    /// Use TLS (implied by --cafile, --cert, --insecure and mqtts:// URLs).
    #[arg(long, help_heading = "TLS")]
    pub tls: bool,
    /// Trust the CA certificates in this PEM file instead of the system roots.
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub cafile: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS; needs --key.
    #[arg(long, value_name = "FILE", requires = "key", help_heading = "TLS")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS; needs --cert.
    #[arg(long, value_name = "FILE", requires = "cert", help_heading = "TLS")]
    pub key: Option<PathBuf>,
    /// Do not verify the broker's certificate (insecure: for tests only).
    #[arg(long, help_heading = "TLS")]
    pub insecure: bool,
    /// Topic of the will message.
    #[arg(long, value_name = "TOPIC", value_parser = parse_topic, help_heading = "Will")]
    pub will_topic: Option<TopicName>,
    /// Payload of the will message.
    #[arg(
        long,
        value_name = "PAYLOAD",
        requires = "will_topic",
        help_heading = "Will"
    )]
    pub will_payload: Option<String>,
    /// QoS of the will message.
    #[arg(long, value_name = "QOS", value_parser = parse_qos, requires = "will_topic", help_heading = "Will")]
    pub will_qos: Option<QoS>,
    /// Retain the will message.
    #[arg(long, requires = "will_topic", help_heading = "Will")]
    pub will_retain: bool,
    /// Debug logs of the client library on stderr (or set RUST_LOG).
    #[arg(short = 'd', long)]
    pub debug: bool,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

impl ConnArgs {
    fn wants_tls(&self) -> bool {
        self.tls || self.insecure || self.cafile.is_some() || self.cert.is_some()
    }

    /// Connect options for one connection; `suffix` is appended to an
    /// explicit client id (bench connections need distinct ids).
    pub fn options(&self, reconnect: bool, suffix: &str) -> Result<ConnectOptions, CliError> {
        let url = match &self.url {
            Some(url) => url.clone(),
            None => {
                let scheme = if self.wants_tls() { "mqtts" } else { "mqtt" };
                let host = if self.host.contains(':') && !self.host.starts_with('[') {
                    format!("[{}]", self.host)
                } else {
                    self.host.clone()
                };
                match self.port {
                    Some(port) => format!("{scheme}://{host}:{port}"),
                    None => format!("{scheme}://{host}"),
                }
            }
        };
        let mut opts = ConnectOptions::new(&url).map_err(|e| usage(e.to_string()))?;
        if self.wants_tls() && !opts.is_tls() {
            return Err(usage(format!(
                "TLS options (--tls, --cafile, --cert, --insecure) need an mqtts:// URL, not {url}"
            )));
        }
        if opts.is_tls() {
            opts = self.tls_options(opts)?;
        }
        opts = opts
            .version(self.version)
            .keep_alive(Duration::from_secs(u64::from(self.keepalive)))
            .connect_timeout(Duration::from_secs(self.connect_timeout.max(1)))
            .reconnect(ReconnectOptions {
                enabled: reconnect,
                ..ReconnectOptions::default()
            });
        if let Some(id) = &self.client_id {
            let id = format!("{id}{suffix}");
            MqttString::try_from(id.as_str()).map_err(|e| usage(format!("client id: {e}")))?;
            opts = opts.client_id(&id);
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => {
                MqttString::try_from(u.as_str()).map_err(|e| usage(format!("user name: {e}")))?;
                opts = opts.credentials(u, p.clone().into_bytes());
            }
            (Some(u), None) => {
                let u = MqttString::try_from(u.as_str())
                    .map_err(|e| usage(format!("user name: {e}")))?;
                opts.session_config_mut().username = Some(u);
            }
            (None, Some(p)) => {
                if self.version == ProtocolVersion::V311 {
                    return Err(usage(
                        "MQTT 3.1.1 does not allow a password without a user name (-u)",
                    ));
                }
                opts.session_config_mut().password = Some(p.clone().into_bytes().into());
            }
            (None, None) => {}
        }
        if let Some(topic) = &self.will_topic {
            opts = opts.will(Will {
                topic: topic.clone(),
                payload: self
                    .will_payload
                    .clone()
                    .unwrap_or_default()
                    .into_bytes()
                    .into(),
                qos: self.will_qos.unwrap_or_default(),
                retain: self.will_retain,
                properties: Default::default(),
            });
        }
        Ok(opts)
    }

    #[cfg(feature = "tls")]
    fn tls_options(&self, opts: ConnectOptions) -> Result<ConnectOptions, CliError> {
        use tern_mqtt::transport::{ClientCertificate, TlsOptions, TrustAnchors};
        for path in [&self.cafile, &self.cert, &self.key].into_iter().flatten() {
            if !path.is_file() {
                return Err(usage(format!(
                    "cannot read {}: no such file",
                    path.display()
                )));
            }
        }
        if self.insecure {
            eprintln!("tern: warning: --insecure: the broker's certificate is not verified");
        }
        let trust = match &self.cafile {
            Some(path) => TrustAnchors::PemFile(path.clone()),
            None => TrustAnchors::System,
        };
        let client_cert = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(ClientCertificate::PemFiles {
                cert: cert.clone(),
                key: key.clone(),
                password: None,
            }),
            _ => None,
        };
        Ok(opts.tls(TlsOptions {
            trust,
            client_cert,
            dangerous_skip_verification: self.insecure,
            ..TlsOptions::default()
        }))
    }

    #[cfg(not(feature = "tls"))]
    fn tls_options(&self, _opts: ConnectOptions) -> Result<ConnectOptions, CliError> {
        Err(usage("this tern was built without the `tls` feature"))
    }
}

/// `host:port` of the options, for messages.
pub fn target(opts: &ConnectOptions) -> String {
    if opts.host().contains(':') {
        format!("[{}]:{}", opts.host(), opts.port())
    } else {
        format!("{}:{}", opts.host(), opts.port())
    }
}

/// An error in words, without Rust's "(os error N)" noise.
pub fn describe(e: &Error) -> String {
    match e {
        Error::Io(io) => describe_io(io),
        other => other.to_string(),
    }
}

/// An I/O error in words.
pub fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".to_owned(),
        K::ConnectionReset => "connection reset by the broker".to_owned(),
        K::TimedOut => "timed out".to_owned(),
        _ => {
            let text = e.to_string();
            let text = match text.find(" (os error") {
                Some(i) => text.get(..i).unwrap_or(&text).to_owned(),
                None => text,
            };
            let mut chars = text.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

/// Connects, or fails with "cannot connect to HOST:PORT: why".
pub async fn connect(opts: ConnectOptions) -> Result<Client, CliError> {
    let target = target(&opts);
    Client::connect(opts)
        .await
        .map_err(|e| failed(format!("cannot connect to {target}: {}", describe(&e))))
}
