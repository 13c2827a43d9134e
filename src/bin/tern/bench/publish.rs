//! A bench publisher: the payload header, pacing by --rate, and the
//! pipelined publishes (counted as sent when their future completes: QoS 0
//! once encoded into the bounded transmit buffer the driver writes out,
//! QoS 1 on PUBACK, QoS 2 on PUBCOMP).

use super::HEADER;
use crate::pipeline::Pipeline;
use bytes::{BufMut, BytesMut};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tern_mqtt::codec::QoS;
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
}

/// Nanoseconds since the Unix epoch: comparable across processes.
pub fn wall_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Publishes per `plan` to `topic` as publisher `index`; returns how many
/// completed.
pub async fn publisher(
    client: Client,
    topic: TopicName,
    index: usize,
    plan: Plan,
    sent: Arc<AtomicU64>,
) -> Result<u64, Error> {
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
    Ok(seq)
}
