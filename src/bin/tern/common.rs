//! The CLI's error type, value parsers shared by the subcommands, and
//! connecting with errors in words.

use std::fmt;
use tern_mqtt::client::ConnectOptions;
use tern_mqtt::codec::{MqttString, ProtocolVersion, QoS, UserProperty};
use tern_mqtt::topic::TopicName;
use tern_mqtt::{Client, Error};

/// What went wrong, and how the process should exit.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments (exit code 2).
    Usage(String),
    /// The work failed (exit code 1).
    Failed(String),
    /// -W ran out: "Timed out", exit code 27 (mosquitto's MOSQ_ERR_TIMEOUT).
    TimedOut,
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
            CliError::TimedOut => 27,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
            CliError::TimedOut => f.write_str("Timed out"),
        }
    }
}

/// Set by --quiet: no warnings or errors on stderr.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Silences `note` (and main's error line) for --quiet.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Whether --quiet was given.
pub fn is_quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// A line on stderr, `tern: ` first, unless --quiet.
pub fn note(line: impl fmt::Display) {
    if !is_quiet() {
        eprintln!("tern: {line}");
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

/// The -W timeout ran out.
pub fn timed_out() -> CliError {
    CliError::TimedOut
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
        "31" | "3.1" | "mqttv31" => Err("refused: MQTT 3.1 is not supported (use 311 or 5)".into()),
        _ => Err("the protocol version must be 311 or 5".to_owned()),
    }
}

/// Parses seconds as a decimal number (`0.5`), as mosquitto's
/// `--repeat-delay`.
pub fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("expected seconds, got {s:?}"))?;
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("expected seconds >= 0, got {s:?}"))
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
