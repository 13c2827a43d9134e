//! A bench publisher: the payload header, pacing by --rate, and the
//! pipelined publishes. QoS 1 and 2 count as sent when their future
//! completes (PUBACK, PUBCOMP). QoS 0 counts when its bytes were written to
//! the socket, counted from the socket's bytes (every PUBLISH has the same
//! size: no topic aliases on these connections); its future completes at
//! the same point for plain TCP (once the transport took the bytes), but
//! over TLS the transport is the encrypting layer, so the socket's count is
//! the one that says what left the process.

use super::subscribe::Counters;
use super::HEADER;
use crate::pipeline::Pipeline;
use bytes::{BufMut, Bytes, BytesMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tern_mqtt::codec::{ProtocolVersion, Publish, PublishProperties, QoS};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicName;
use tern_mqtt::{Client, Error};

/// What each publisher does.
#[derive(Clone)]
pub struct Plan {
    /// Messages to send, or `None` until `end`.
    pub count: Option<u64>,
    /// When to stop, with --duration.
    pub end: Option<Instant>,
    /// Messages per second (0: as fast as possible).
    pub rate: u64,
    /// QoS of the publishes.
    pub qos: QoS,
    /// Retain flag of the publishes.
    pub retain: bool,
    /// Payload size, header included.
    pub size: usize,
    /// Publishes awaiting completion at most.
    pub window: usize,
    /// When publishing starts (the rate's time base).
    pub start: Instant,
    /// The protocol version, for the PUBLISH size.
    pub version: ProtocolVersion,
}

/// Counts the QoS 0 publishes of one connection written to its socket.
#[derive(Clone)]
pub struct SocketMeter {
    written: Arc<AtomicU64>,
    baseline: u64,
    per_message: u64,
}

impl SocketMeter {
    /// A meter for PUBLISH packets of `plan` to `topic` over a socket whose
    /// written bytes are `written` (from now on); `None` when the size is
    /// unknown.
    fn new(written: Arc<AtomicU64>, topic: &TopicName, plan: &Plan) -> Option<SocketMeter> {
        let publish = Publish {
            dup: false,
            qos: plan.qos,
            retain: plan.retain,
            topic: Some(topic.clone()),
            packet_id: None,
            properties: PublishProperties::default().into(),
            payload: Bytes::from(vec![0; plan.size.max(HEADER)]),
        };
        let per_message = u64::try_from(publish.encoded_len(plan.version).ok()?).ok()?;
        let baseline = written.load(Ordering::Relaxed);
        (per_message > 0).then_some(SocketMeter {
            written,
            baseline,
            per_message,
        })
    }

    /// Publishes whose bytes have left through the socket.
    pub fn written(&self) -> u64 {
        self.written
            .load(Ordering::Relaxed)
            .saturating_sub(self.baseline)
            / self.per_message
    }

    /// Waits until `n` publishes were written (at most `limit`).
    async fn wait_written(&self, n: u64, limit: Duration) {
        let end = Instant::now() + limit;
        while self.written() < n && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Nanoseconds since the Unix epoch: comparable across processes.
pub fn wall_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Publishes per `plan` to `topic` as publisher `index`; returns how many
/// completed (for QoS 0 over a counted socket: once written to it).
pub async fn publisher(
    client: Client,
    topic: TopicName,
    index: usize,
    plan: Plan,
    counters: Arc<Counters>,
    written: Option<Arc<AtomicU64>>,
) -> Result<u64, Error> {
    let meter = written
        .filter(|_| plan.qos == QoS::AtMostOnce)
        .and_then(|w| SocketMeter::new(w, &topic, &plan));
    if let Some(m) = &meter {
        counters.add_meter(m.clone());
    }
    let sent = counters.sent.clone();
    let filler: Vec<u8> = (0..plan.size.saturating_sub(HEADER))
        .map(|i| {
            b"abcdefghijklmnopqrstuvwxyz"
                .get(i % 26)
                .copied()
                .unwrap_or(b'a')
        })
        .collect();
    let mut pipeline = Pipeline::new(client, plan.window, sent);
    let mut seq: u64 = 0;
    while plan.count.is_none_or(|n| seq < n) && plan.end.is_none_or(|end| Instant::now() < end) {
        if plan.rate > 0 {
            let offset = u128::from(seq) * 1_000_000_000 / u128::from(plan.rate);
            let target =
                plan.start + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
            if plan.end.is_some_and(|end| target >= end) {
                break;
            }
            tokio::time::sleep_until(target.into()).await;
        }
        pipeline.ready().await?;
        let mut payload = BytesMut::with_capacity(plan.size.max(HEADER));
        payload.put_u64(seq);
        payload.put_u64(wall_nanos());
        payload.put_u64(u64::try_from(index).unwrap_or(u64::MAX));
        payload.put_slice(&filler);
        let cmd =
            PublishCommand::new(topic.clone(), payload.freeze(), plan.qos).retain(plan.retain);
        pipeline.send(cmd).await?;
        seq += 1;
    }
    pipeline.finish().await?;
    if let Some(m) = &meter {
        m.wait_written(seq, Duration::from_secs(30)).await;
    }
    Ok(seq)
}
