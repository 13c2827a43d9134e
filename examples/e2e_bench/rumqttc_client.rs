//! The rumqttc side of the benchmark: `AsyncClient::publish_bytes` in a
//! loop into its request channel, each `EventLoop` polled in its own task.

use super::cpu::cpu_seconds;
use super::{BoxError, Config, IdleGuard, Sample, Start, PAYLOAD, RUMQTTC_CAP};
use bytes::Bytes;
use std::time::{Duration, Instant};

fn rumq_qos(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

pub(super) async fn run_rumqttc(
    cfg: &Config,
    qos: u8,
    n: u64,
    tag: &str,
) -> Result<Sample, BoxError> {
    use rumqttc::{AsyncClient, MqttOptions};
    let topic = format!("bench/{tag}");
    let opts = |id: String| {
        let mut o = MqttOptions::new(id, "127.0.0.1", cfg.port);
        o.set_keep_alive(Duration::from_secs(60));
        o.set_inflight(u16::try_from(cfg.window).unwrap_or(u16::MAX));
        o
    };
    let (sub_client, sub_loop) = AsyncClient::new(opts(format!("{tag}-sub")), RUMQTTC_CAP);
    let (pub_client, pub_loop) = AsyncClient::new(opts(format!("{tag}-pub")), RUMQTTC_CAP);
    sub_client.subscribe(&topic, rumq_qos(qos)).await?;

    let (subacked_tx, subacked_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let receiver = tokio::spawn(read(sub_loop, n, subacked_tx, done_tx));
    let (connected_tx, connected_rx) = tokio::sync::oneshot::channel::<()>();
    let pub_driver = tokio::spawn(drive_publisher(pub_loop, connected_tx));
    subacked_rx.await?;
    connected_rx.await?;

    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let start = Start::now(cfg);
    let publisher = {
        let client = pub_client.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            for _ in 0..n {
                client
                    .publish_bytes(topic.as_str(), rumq_qos(qos), false, payload.clone())
                    .await?;
            }
            Ok::<u64, rumqttc::ClientError>(n)
        })
    };
    let (got, last, cpu1) = done_rx.await?;
    let broker_cpu = start.broker_cpu(cfg);
    let sent = publisher.await??;
    let _ = pub_client.disconnect().await;
    let _ = sub_client.disconnect().await;
    pub_driver.abort();
    receiver.abort();
    Ok(start.sample(sent, got, last, cpu1, broker_cpu))
}

/// The subscriber's event loop: reports the SUBACK, counts `n` messages
/// (or stops when idle), reports them with the time of the last and the
/// process's CPU seconds then, and goes on acknowledging until aborted.
async fn read(
    mut sub_loop: rumqttc::EventLoop,
    n: u64,
    subacked_tx: tokio::sync::oneshot::Sender<()>,
    done_tx: tokio::sync::oneshot::Sender<(u64, Instant, f64)>,
) {
    use rumqttc::{Event, Packet};
    let mut subacked = Some(subacked_tx);
    let mut got = 0u64;
    let mut last = Instant::now();
    let mut idle = IdleGuard::new();
    while got < n {
        let next = tokio::select! {
            biased;
            e = sub_loop.poll() => Ok(e),
            () = idle.expired() => Err(()),
        };
        match next {
            Ok(Ok(Event::Incoming(Packet::Publish(_)))) => {
                got += 1;
                if got % 256 == 0 || got == n {
                    last = Instant::now();
                    idle.saw_message(last);
                }
            }
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                if let Some(tx) = subacked.take() {
                    let _ = tx.send(());
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                eprintln!("rumqttc subscriber: {e}");
                break;
            }
            Err(_) => break,
        }
    }
    let _ = done_tx.send((got, last, cpu_seconds()));
    // Keep acknowledging until told to stop (the runtime drops us).
    while sub_loop.poll().await.is_ok() {}
}

/// The publisher's event loop: connect first (reported), then drive it.
async fn drive_publisher(
    mut pub_loop: rumqttc::EventLoop,
    connected_tx: tokio::sync::oneshot::Sender<()>,
) {
    use rumqttc::{Event, Packet};
    let mut connected = Some(connected_tx);
    loop {
        match pub_loop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if let Some(tx) = connected.take() {
                    let _ = tx.send(());
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("rumqttc publisher: {e}");
                break;
            }
        }
    }
}
