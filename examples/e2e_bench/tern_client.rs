//! The tern side of the benchmark, with the per-message API (a window of
//! `try_publish` futures, `Subscription::recv`) or the batch API
//! (`try_publish_batch`, `Subscription::recv_many`).

use super::cpu::cpu_seconds;
use super::{BoxError, Config, IdleGuard, Sample, Start, PAYLOAD, SUBSCRIBER_BUFFER};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Instant;
use tern_mqtt::client::Subscription;
use tern_mqtt::codec::{ProtocolVersion, QoS};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicName;
use tern_mqtt::{Client, ConnectOptions, Error};

/// Messages per `recv_many` in batch mode.
const READ_BATCH: usize = 1024;

fn tern_qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// The subscriber and the publisher connection, subscribed.
async fn connect(
    cfg: &Config,
    qos: u8,
    tag: &str,
) -> Result<(Client, Client, Subscription), BoxError> {
    let url = format!("mqtt://127.0.0.1:{}", cfg.port);
    let version = if cfg.v5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let window = u16::try_from(cfg.window).unwrap_or(u16::MAX);
    let sub_client = Client::connect(
        ConnectOptions::new(&url)?
            .client_id(&format!("{tag}-sub"))
            .version(version)
            .subscription_buffer_bytes(SUBSCRIBER_BUFFER)
            .receive_maximum(window),
    )
    .await?;
    let pub_client = Client::connect(
        ConnectOptions::new(&url)?
            .client_id(&format!("{tag}-pub"))
            .version(version)
            .publish_queue(cfg.window + 64)
            .receive_maximum(window),
    )
    .await?;
    let sub = sub_client
        .subscribe(&format!("bench/{tag}"), tern_qos(qos))
        .await?;
    Ok((sub_client, pub_client, sub))
}

/// Reads `n` messages (or until idle): one `recv` per message, or one
/// `recv_many` per `READ_BATCH`. Returns the count, the time of the last
/// and the process's CPU seconds then.
async fn read(mut sub: Subscription, n: u64, batch: bool) -> (u64, Instant, f64, Subscription) {
    let mut got = 0u64;
    let mut last = Instant::now();
    let mut idle = IdleGuard::new();
    let mut buf = Vec::with_capacity(if batch { READ_BATCH } else { 0 });
    while got < n {
        let before = got;
        if batch {
            let k = tokio::select! {
                biased;
                k = sub.recv_many(&mut buf, READ_BATCH) => k,
                () = idle.expired() => 0,
            };
            buf.clear();
            got += k as u64;
        } else {
            let next = tokio::select! {
                biased;
                m = sub.recv() => m,
                () = idle.expired() => None,
            };
            got += u64::from(next.is_some());
        }
        if got == before {
            break;
        }
        // The clock once per 256 messages (and at the last): the reader
        // should cost as little as possible beside the client.
        if got / 256 != before / 256 || got == n {
            last = Instant::now();
            idle.saw_message(last);
        }
    }
    (got, last, cpu_seconds(), sub)
}

/// Publishes `n` messages with at most `window` outstanding: one
/// `try_publish` each, or `try_publish_batch` of `batch` messages.
async fn publish(
    client: Client,
    cmd: PublishCommand,
    n: u64,
    window: usize,
    batch: Option<usize>,
) -> Result<u64, Error> {
    match batch {
        None => publish_each(client, cmd, n, window).await,
        Some(size) => publish_batches(client, cmd, n, window, size).await,
    }
}

async fn publish_each(
    client: Client,
    cmd: PublishCommand,
    n: u64,
    window: usize,
) -> Result<u64, Error> {
    let mut outstanding = VecDeque::with_capacity(window);
    for _ in 0..n {
        if outstanding.len() >= window {
            if let Some(f) = outstanding.pop_front() {
                f.await?;
            }
        }
        loop {
            match client.try_publish(cmd.clone()) {
                Ok(f) => {
                    outstanding.push_back(f);
                    break;
                }
                // A permit is released just after its reply: rare.
                Err(Error::QueueFull) => match outstanding.pop_front() {
                    Some(f) => {
                        f.await?;
                    }
                    None => tokio::task::yield_now().await,
                },
                Err(e) => return Err(e),
            }
        }
    }
    while let Some(f) = outstanding.pop_front() {
        f.await?;
    }
    Ok(n)
}

async fn publish_batches(
    client: Client,
    cmd: PublishCommand,
    n: u64,
    window: usize,
    size: usize,
) -> Result<u64, Error> {
    let size = size.clamp(1, window.max(1));
    let most = (window / size).max(1);
    let mut outstanding = VecDeque::with_capacity(most);
    let mut left = n;
    while left > 0 {
        let k = size.min(usize::try_from(left).unwrap_or(size));
        if outstanding.len() >= most {
            if let Some(f) = outstanding.pop_front() {
                check(f.await?)?;
            }
        }
        // Built fresh each time, as an application would.
        let messages = vec![cmd.clone(); k];
        match client.try_publish_batch(messages) {
            Ok(f) => outstanding.push_back(f),
            // Slots are freed just before the reply: rare.
            Err(Error::QueueFull) => {
                match outstanding.pop_front() {
                    Some(f) => check(f.await?)?,
                    None => tokio::task::yield_now().await,
                }
                continue;
            }
            Err(e) => return Err(e),
        }
        left -= k as u64;
    }
    while let Some(f) = outstanding.pop_front() {
        check(f.await?)?;
    }
    Ok(n)
}

/// The first failure of a batch, if any.
fn check(outcomes: tern_mqtt::client::BatchOutcomes) -> Result<(), Error> {
    outcomes.into_iter().try_for_each(|o| o.map(drop))
}

/// One run of tern: per message (`batch` None) or in batches.
pub(super) async fn run_tern(
    cfg: &Config,
    qos: u8,
    n: u64,
    tag: &str,
    batch: Option<usize>,
) -> Result<Sample, BoxError> {
    let (sub_client, pub_client, sub) = connect(cfg, qos, tag).await?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let receiver = tokio::spawn(async move {
        let (got, last, cpu, sub) = read(sub, n, batch.is_some()).await;
        let _ = done_tx.send((got, last, cpu));
        sub
    });
    let name = TopicName::new(&format!("bench/{tag}"))?;
    let cmd = PublishCommand::new(name, Bytes::from(vec![0x5a; PAYLOAD]), tern_qos(qos));
    let start = Start::now(cfg);
    let publisher = tokio::spawn(publish(pub_client.clone(), cmd, n, cfg.window, batch));
    let (got, last, cpu1) = done_rx.await?;
    let broker_cpu = start.broker_cpu(cfg);
    let sent = publisher.await??;
    let sub = receiver.await?;
    if sub.dropped() > 0 {
        eprintln!(
            "  tern subscriber: {} QoS 0 messages dropped (its buffer was full)",
            sub.dropped()
        );
    }
    let _ = pub_client.disconnect().await;
    let _ = sub_client.disconnect().await;
    Ok(start.sample(sent, got, last, cpu1, broker_cpu))
}
