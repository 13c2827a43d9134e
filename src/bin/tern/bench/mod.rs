//! `tern bench`: publishers, subscribers and idle connections against a
//! broker, alone or together (`tern bench pub`, `tern bench sub`, `tern
//! bench conn`, `tern bench conn pub sub`); reports connect rate,
//! throughput, publish-to-receive latency, lost and duplicated messages.
//!
//! Each payload starts with a 24-byte header: the publisher's sequence
//! number, the send time (nanoseconds since the Unix epoch, so that a `sub`
//! run in another process on the same machine measures latency too) and
//! the publisher's index, all u64 big-endian. Subscribers track, per
//! publisher, which sequence numbers they have seen.

mod connect;
mod progress;
mod publish;
mod report;
mod run;
mod subscribe;
mod topic;

use crate::common::parse_qos;
use crate::conn::ConnArgs;
use clap::{Args, ValueEnum};
use tern_mqtt::codec::QoS;

pub use run::run;

/// Bytes at the start of each payload: sequence number, send time and
/// publisher index.
pub const HEADER: usize = 24;

/// What a bench run does; any combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Publishers, each on its topic (-t template).
    Pub,
    /// Subscribers to the publishers' topics (--sub-topic).
    Sub,
    /// Connections that only connect and stay (--connections).
    Conn,
}

/// Arguments of `tern bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// What to run: pub, sub, conn, or several [default: pub sub].
    #[arg(value_enum, value_name = "MODE")]
    pub modes: Vec<Mode>,
    /// Publisher connections (1 to 10,000).
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = "Load",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub publishers: u32,
    /// Subscriber connections (1 to 10,000).
    #[arg(long, value_name = "M", default_value_t = 1, help_heading = "Load",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub subscribers: u32,
    /// Idle connections of the conn mode (1 to 100,000).
    #[arg(long, value_name = "K", default_value_t = 10, help_heading = "Load",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: u32,
    /// Milliseconds between the starts of two connections (ramp-up).
    #[arg(long, value_name = "MS", default_value_t = 0, help_heading = "Load")]
    pub ramp_up: u64,
    /// Quality of service of publishes and subscriptions: 0, 1 or 2.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0", help_heading = "Load")]
    pub qos: QoS,
    /// Payload size in bytes (at least 24: the header).
    #[arg(long, value_name = "BYTES", default_value_t = 64, help_heading = "Load",
          value_parser = clap::value_parser!(u32).range(24..=100_000_000))]
    pub payload_size: u32,
    /// Messages per publisher [default: 1000 unless --duration is given].
    #[arg(long, value_name = "N", conflicts_with = "duration", help_heading = "Load",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Run for this many seconds (publish, hold connections, receive).
    #[arg(long, value_name = "SECS", help_heading = "Load",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: Option<u64>,
    /// Messages per second per publisher (0 = as fast as possible).
    #[arg(
        long,
        value_name = "MSGS_PER_SEC",
        default_value_t = 0,
        help_heading = "Load"
    )]
    pub rate: u64,
    /// Publish retained messages.
    #[arg(short = 'r', long, help_heading = "Load")]
    pub retain: bool,
    /// Publishes in flight per publisher.
    #[arg(long, value_name = "N", default_value_t = 256, help_heading = "Load",
          value_parser = clap::value_parser!(u64).range(1..=65_535))]
    pub window: u64,
    /// Publish topic template: %i client index, %c client id, %r run id.
    #[arg(
        short = 't',
        long = "topic",
        value_name = "TEMPLATE",
        default_value = "tern/bench/%r/%i",
        help_heading = "Topics"
    )]
    pub topic: String,
    /// Subscription filter template [default: the topic template with %i
    /// and %c as +].
    #[arg(long, value_name = "TEMPLATE", help_heading = "Topics")]
    pub sub_topic: Option<String>,
    /// Seconds to wait for missing messages after the last publish completed.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 5,
        help_heading = "Output"
    )]
    pub drain_timeout: u64,
    /// JSON lines: one object per second, then the summary object.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

impl BenchArgs {
    /// Whether `mode` runs (pub and sub when no mode was named).
    pub fn runs(&self, mode: Mode) -> bool {
        if self.modes.is_empty() {
            mode != Mode::Conn
        } else {
            self.modes.contains(&mode)
        }
    }
}
