//! Metrics through the `metrics` facade (no exporter here: the
//! application installs one, for example `metrics-exporter-prometheus`).
//! Every metric carries a `client_id` label. Handles are registered once
//! per client, so recording costs an atomic operation, and nothing when no
//! recorder is installed.
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `tern_messages_received_total` | counter | `qos` | messages received from the broker |
//! | `tern_messages_sent_total` | counter | `qos` | publishes completed successfully |
//! | `tern_bytes_received_total` | counter | | bytes read from the transport |
//! | `tern_bytes_sent_total` | counter | | bytes written to the transport |
//! | `tern_publish_failures_total` | counter | `qos` | publishes that completed with an error |
//! | `tern_reconnects_total` | counter | `cause` | reconnect attempts scheduled: `unreachable`, `refused`, `lost`, `server_disconnect` |
//! | `tern_refusals_total` | counter | `reason_code` | connections the broker refused |
//! | `tern_messages_dropped_total` | counter | `reason` | `qos0_overflow`, `too_large`, `subscription_dropped` |
//! | `tern_inflight` | gauge | | QoS 1/2 publishes sent and not yet acknowledged |
//! | `tern_queued` | gauge | | publishes waiting to be sent |
//! | `tern_buffered_bytes` | gauge | | decoded bytes waiting in subscription buffers |
//! | `tern_publish_duration_seconds` | histogram | `qos` | from `publish` to its completion |

use crate::codec::{QoS, ReasonCode};
use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use std::time::Duration;

/// Why a message was dropped, for `tern_messages_dropped_total`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dropped {
    /// A QoS 0 message a full buffer had no room for.
    Qos0Overflow,
    /// An incoming message over our maximum packet size.
    TooLarge,
    /// Buffered or held for a subscription the application dropped.
    WithSubscription,
}

/// Why a reconnect was scheduled, for `tern_reconnects_total`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cause {
    Unreachable,
    Refused,
    Lost,
    ServerDisconnect,
}

/// One handle per QoS.
#[derive(Debug, Clone)]
struct PerQos<T> {
    q0: T,
    q1: T,
    q2: T,
}

impl<T> PerQos<T> {
    fn new(make: impl Fn(&'static str) -> T) -> Self {
        PerQos {
            q0: make("0"),
            q1: make("1"),
            q2: make("2"),
        }
    }

    fn get(&self, qos: QoS) -> &T {
        match qos {
            QoS::AtMostOnce => &self.q0,
            QoS::AtLeastOnce => &self.q1,
            QoS::ExactlyOnce => &self.q2,
        }
    }
}

/// `tern_buffered_bytes` of one client (the driver and the handles make
/// buffers, and all of them count in this one gauge).
pub(crate) fn buffered_gauge(client_id: &str) -> Gauge {
    gauge!("tern_buffered_bytes", "client_id" => client_id.to_owned())
}

/// One client's metric handles.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    client_id: String,
    received: PerQos<Counter>,
    sent: PerQos<Counter>,
    failed: PerQos<Counter>,
    latency: PerQos<Histogram>,
    bytes_in: Counter,
    bytes_out: Counter,
    dropped_qos0: Counter,
    dropped_too_large: Counter,
    dropped_with_subscription: Counter,
    reconnect_unreachable: Counter,
    reconnect_refused: Counter,
    reconnect_lost: Counter,
    reconnect_server_disconnect: Counter,
    pub inflight: Gauge,
    pub queued: Gauge,
    pub buffered: Gauge,
}

impl Metrics {
    pub fn new(client_id: &str) -> Self {
        let id = client_id.to_owned();
        let by_qos = |name: &'static str| {
            PerQos::new(|q| counter!(name, "client_id" => id.clone(), "qos" => q))
        };
        let one = |name: &'static str| counter!(name, "client_id" => id.clone());
        let dropped = |reason: &'static str| counter!("tern_messages_dropped_total", "client_id" => id.clone(), "reason" => reason);
        let reconnect = |cause: &'static str| counter!("tern_reconnects_total", "client_id" => id.clone(), "cause" => cause);
        Metrics {
            received: by_qos("tern_messages_received_total"),
            sent: by_qos("tern_messages_sent_total"),
            failed: by_qos("tern_publish_failures_total"),
            latency: PerQos::new(
                |q| histogram!("tern_publish_duration_seconds", "client_id" => id.clone(), "qos" => q),
            ),
            bytes_in: one("tern_bytes_received_total"),
            bytes_out: one("tern_bytes_sent_total"),
            dropped_qos0: dropped("qos0_overflow"),
            dropped_too_large: dropped("too_large"),
            dropped_with_subscription: dropped("subscription_dropped"),
            reconnect_unreachable: reconnect("unreachable"),
            reconnect_refused: reconnect("refused"),
            reconnect_lost: reconnect("lost"),
            reconnect_server_disconnect: reconnect("server_disconnect"),
            inflight: gauge!("tern_inflight", "client_id" => id.clone()),
            queued: gauge!("tern_queued", "client_id" => id.clone()),
            buffered: buffered_gauge(&id),
            client_id: id,
        }
    }

    pub fn received(&self, qos: QoS) {
        self.received.get(qos).increment(1);
    }

    /// A publish completed: success or failure, and how long it took.
    pub fn completed(&self, qos: QoS, ok: bool, took: Duration) {
        if ok {
            self.sent.get(qos).increment(1);
        } else {
            self.failed.get(qos).increment(1);
        }
        self.latency.get(qos).record(took.as_secs_f64());
    }

    pub fn bytes_in(&self, n: usize) {
        self.bytes_in
            .increment(u64::try_from(n).unwrap_or(u64::MAX));
    }

    pub fn bytes_out(&self, n: usize) {
        self.bytes_out
            .increment(u64::try_from(n).unwrap_or(u64::MAX));
    }

    pub fn dropped(&self, why: Dropped, n: u64) {
        let counter = match why {
            Dropped::Qos0Overflow => &self.dropped_qos0,
            Dropped::TooLarge => &self.dropped_too_large,
            Dropped::WithSubscription => &self.dropped_with_subscription,
        };
        counter.increment(n);
    }

    pub fn reconnect(&self, cause: Cause) {
        let counter = match cause {
            Cause::Unreachable => &self.reconnect_unreachable,
            Cause::Refused => &self.reconnect_refused,
            Cause::Lost => &self.reconnect_lost,
            Cause::ServerDisconnect => &self.reconnect_server_disconnect,
        };
        counter.increment(1);
    }

    /// A connection refused by the broker (registered on first use: the
    /// label is the reason code).
    pub fn refused(&self, reason_code: ReasonCode) {
        counter!(
            "tern_refusals_total",
            "client_id" => self.client_id.clone(),
            "reason_code" => format!("0x{:02X}", reason_code.0)
        )
        .increment(1);
    }
}
